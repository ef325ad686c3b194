//! `iop.scheduling.v1.AppointmentKindService`.

use iop_kit::principal;
use iop_proto::scheduling::{self as pb, appointment_kind_service_server::AppointmentKindService};
use iop_proto::timestamp_from_micros;
use tonic::{Request, Response, Status};

use super::{KindSettings, KindUpdate, Kinds};
use crate::appointments::Modality;
use crate::clinicians::AppointmentKind;

pub struct KindApi {
    kinds: Kinds,
}

impl KindApi {
    pub fn new(kinds: Kinds) -> Self {
        Self { kinds }
    }
}

fn to_proto(s: KindSettings) -> pb::AppointmentKindSettings {
    pb::AppointmentKindSettings {
        kind: s.kind.to_proto(),
        default_minutes: i32::try_from(s.default_minutes).unwrap_or(i32::MAX),
        modalities: s.modalities.iter().map(|m| m.to_proto()).collect(),
        billing_code: s.billing_code.clone(),
        waitlist_offer_seconds: i32::try_from(s.waitlist_offer_seconds).unwrap_or(i32::MAX),
        etag: s.etag(),
        update_time: (s.version > 0).then(|| timestamp_from_micros(s.update_time_us)),
        updated_by: s.updated_by,
    }
}

#[tonic::async_trait]
impl AppointmentKindService for KindApi {
    async fn list_appointment_kinds(
        &self,
        req: Request<pb::ListAppointmentKindsRequest>,
    ) -> Result<Response<pb::ListAppointmentKindsResponse>, Status> {
        let who = principal(&req)?;
        let kinds = self.kinds.list(&who).await?;
        Ok(Response::new(pb::ListAppointmentKindsResponse {
            kinds: kinds.into_iter().map(to_proto).collect(),
        }))
    }

    async fn update_appointment_kind(
        &self,
        req: Request<pb::UpdateAppointmentKindRequest>,
    ) -> Result<Response<pb::AppointmentKindSettings>, Status> {
        let who = principal(&req)?;
        let r = req.into_inner();
        let s = r.settings.unwrap_or_default();
        let update = KindUpdate {
            kind: AppointmentKind::from_proto_field(s.kind, "settings.kind")?,
            default_minutes: i64::from(s.default_minutes),
            modalities: s
                .modalities
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let field = format!("settings.modalities[{i}]");
                    Modality::from_proto_field(*m, &field)?
                        .ok_or_else(|| iop_core::Error::field(field, "is required"))
                })
                .collect::<Result<_, _>>()?,
            billing_code: s.billing_code,
            waitlist_offer_seconds: i64::from(s.waitlist_offer_seconds),
        };
        Ok(Response::new(to_proto(
            self.kinds.update(&who, update, &r.etag).await?,
        )))
    }
}
