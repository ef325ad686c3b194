//! `iop.scheduling.v1.ClinicianService`.

use iop_core::ClinicianId;
use iop_kit::principal;
use iop_proto::scheduling::{self as pb, clinician_service_server::ClinicianService};
use iop_proto::timestamp_from_micros;
use tonic::{Request, Response, Status};

use super::{AppointmentKind, Clinician, Clinicians, Credential, NewClinician};

pub struct ClinicianApi {
    clinicians: Clinicians,
}

impl ClinicianApi {
    pub fn new(clinicians: Clinicians) -> Self {
        Self { clinicians }
    }
}

#[tonic::async_trait]
impl ClinicianService for ClinicianApi {
    async fn create_clinician(
        &self,
        req: Request<pb::CreateClinicianRequest>,
    ) -> Result<Response<pb::Clinician>, Status> {
        let who = principal(&req)?;
        let r = req.into_inner();
        let c = r.clinician.unwrap_or_default();
        let new = NewClinician {
            credentials: iop_kit::enums::each(
                &c.credentials,
                "clinician.credentials",
                Credential::from_proto_field,
            )?,
            kinds: iop_kit::enums::each(
                &c.kinds,
                "clinician.kinds",
                AppointmentKind::from_proto_field,
            )?,
            given_name: c.given_name,
            family_name: c.family_name,
            npi: c.npi,
            active: c.active,
            user_id: c.user_id,
        };
        let made = self.clinicians.create(&who, new, &r.request_id).await?;
        Ok(Response::new(to_proto(made)))
    }

    async fn get_clinician(
        &self,
        req: Request<pb::GetClinicianRequest>,
    ) -> Result<Response<pb::Clinician>, Status> {
        let who = principal(&req)?;
        let id = ClinicianId::parse("id", &req.get_ref().id)?;
        Ok(Response::new(to_proto(
            self.clinicians.get(&who, id).await?,
        )))
    }

    async fn list_clinicians(
        &self,
        req: Request<pb::ListCliniciansRequest>,
    ) -> Result<Response<pb::ListCliniciansResponse>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let kind = AppointmentKind::from_proto_field(r.kind, "kind")?;
        let (rows, next) = self
            .clinicians
            .list(&who, kind, r.active_only, r.page_size, &r.page_token)
            .await?;
        Ok(Response::new(pb::ListCliniciansResponse {
            clinicians: rows.into_iter().map(to_proto).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }
}

fn to_proto(c: Clinician) -> pb::Clinician {
    pb::Clinician {
        id: c.id.to_string(),
        given_name: c.given_name,
        family_name: c.family_name,
        credentials: c.credentials.iter().map(|x| x.to_proto()).collect(),
        npi: c.npi,
        kinds: c.kinds.iter().map(|x| x.to_proto()).collect(),
        active: c.active,
        user_id: c.user_id,
        create_time: Some(timestamp_from_micros(c.create_time_us)),
    }
}
