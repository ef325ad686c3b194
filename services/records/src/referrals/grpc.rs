//! `iop.records.v1.ReferralService` over [`Referrals`].

use iop_core::{Error, PatientId, ReferralId};
use iop_proto::common as pbc;
use iop_proto::records::{self as pb, referral_service_server::ReferralService};
use iop_proto::{micros_from_timestamp, timestamp_from_micros};
use tonic::{Request, Response, Status};

use super::{
    Acceptance, Details, ListReferrals, Referral, ReferralStatus, Referrals, ReferredPatient,
    Urgency,
};
use crate::domain::{Identifier, Sex};
use crate::episodes::Population;
use iop_kit::dates::{date_from_proto, date_to_proto};
use iop_kit::principal;

pub struct ReferralApi {
    referrals: Referrals,
}

impl ReferralApi {
    pub fn new(referrals: Referrals) -> Self {
        Self { referrals }
    }
}

#[tonic::async_trait]
impl ReferralService for ReferralApi {
    async fn create_referral(
        &self,
        req: Request<pb::CreateReferralRequest>,
    ) -> Result<Response<pb::Referral>, Status> {
        let who = principal(&req)?;
        let r = req.into_inner();
        let referral = r
            .referral
            .ok_or_else(|| Error::field("referral", "is required"))?;
        let p = referral.patient.unwrap_or_default();
        let details = Details {
            contact: referral.referring_contact,
            patient: ReferredPatient {
                birth_date: p
                    .birth_date
                    .as_ref()
                    .map(|d| {
                        date_from_proto(d).ok_or_else(|| {
                            Error::field("referral.patient.birth_date", "is not a calendar date")
                        })
                    })
                    .transpose()?,
                sex_at_birth: Sex::from_proto_field(
                    p.sex_at_birth,
                    "referral.patient.sex_at_birth",
                )?
                .unwrap_or_default(),
                given_name: p.given_name,
                family_name: p.family_name,
                phone: p.phone,
                email: p.email,
                identifiers: p
                    .identifiers
                    .into_iter()
                    .map(|i| Identifier {
                        system: i.system,
                        value: i.value,
                    })
                    .collect(),
            },
            reason: referral.reason,
            requested_program: referral.requested_program,
        };
        let urgency = Urgency::from_proto_field(referral.urgency, "referral.urgency")?;
        let created = self
            .referrals
            .create(
                &who,
                referral.referring_organization,
                urgency,
                details,
                &r.request_id,
            )
            .await?;
        Ok(Response::new(to_proto(created)))
    }

    async fn get_referral(
        &self,
        req: Request<pb::GetReferralRequest>,
    ) -> Result<Response<pb::Referral>, Status> {
        let who = principal(&req)?;
        let id = ReferralId::parse("id", &req.get_ref().id)?;
        Ok(Response::new(to_proto(self.referrals.get(&who, id).await?)))
    }

    async fn list_referrals(
        &self,
        req: Request<pb::ListReferralsRequest>,
    ) -> Result<Response<pb::ListReferralsResponse>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let (rows, next) = self
            .referrals
            .list(
                &who,
                ListReferrals {
                    status: ReferralStatus::from_proto_field(r.status, "status")?,
                    urgency: Urgency::from_proto_field(r.urgency, "urgency")?,
                    after_us: r.received_after.as_ref().map(micros_from_timestamp),
                    before_us: r.received_before.as_ref().map(micros_from_timestamp),
                    page_size: r.page_size,
                    page_token: &r.page_token,
                },
            )
            .await?;
        Ok(Response::new(pb::ListReferralsResponse {
            referrals: rows.into_iter().map(to_proto).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }

    async fn review_referral(
        &self,
        req: Request<pb::ReviewReferralRequest>,
    ) -> Result<Response<pb::Referral>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let id = ReferralId::parse("id", &r.id)?;
        let referral = self.referrals.review(&who, id, &r.note, &r.etag).await?;
        Ok(Response::new(to_proto(referral)))
    }

    async fn accept_referral(
        &self,
        req: Request<pb::AcceptReferralRequest>,
    ) -> Result<Response<pb::Referral>, Status> {
        let who = principal(&req)?;
        let r = req.into_inner();
        let id = ReferralId::parse("id", &r.id)?;
        let acceptance = Acceptance {
            patient_id: match r.patient_id.as_str() {
                "" => None,
                p => Some(PatientId::parse("patient_id", p)?),
            },
            open_episode: r.open_episode,
            program: r.program,
            population: match pb::Population::try_from(r.population) {
                Ok(pb::Population::Unspecified) => None,
                Ok(pb::Population::Adult) => Some(Population::Adult),
                Ok(pb::Population::Adolescent) => Some(Population::Adolescent),
                Err(_) => return Err(Error::field("population", "is not a known value").into()),
            },
            note: r.note,
        };
        let referral = self.referrals.accept(&who, id, acceptance, &r.etag).await?;
        Ok(Response::new(to_proto(referral)))
    }

    async fn schedule_intake(
        &self,
        req: Request<pb::ScheduleIntakeRequest>,
    ) -> Result<Response<pb::Referral>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let id = ReferralId::parse("id", &r.id)?;
        let time = r.intake_time.as_ref().map(micros_from_timestamp);
        let referral = self
            .referrals
            .schedule_intake(&who, id, time, &r.note, &r.etag)
            .await?;
        Ok(Response::new(to_proto(referral)))
    }

    async fn cancel_intake(
        &self,
        req: Request<pb::CancelIntakeRequest>,
    ) -> Result<Response<pb::Referral>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let id = ReferralId::parse("id", &r.id)?;
        let referral = self
            .referrals
            .cancel_intake(&who, id, &r.note, &r.etag)
            .await?;
        Ok(Response::new(to_proto(referral)))
    }

    async fn mark_admitted(
        &self,
        req: Request<pb::MarkAdmittedRequest>,
    ) -> Result<Response<pb::Referral>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let id = ReferralId::parse("id", &r.id)?;
        let date = r
            .admit_date
            .as_ref()
            .map(|d| {
                date_from_proto(d)
                    .ok_or_else(|| Error::field("admit_date", "is not a calendar date"))
            })
            .transpose()?;
        let referral = self
            .referrals
            .mark_admitted(&who, id, date, &r.note, &r.etag)
            .await?;
        Ok(Response::new(to_proto(referral)))
    }

    async fn decline_referral(
        &self,
        req: Request<pb::DeclineReferralRequest>,
    ) -> Result<Response<pb::Referral>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let id = ReferralId::parse("id", &r.id)?;
        let referral = self.referrals.decline(&who, id, &r.reason, &r.etag).await?;
        Ok(Response::new(to_proto(referral)))
    }
}

fn to_proto(r: Referral) -> pb::Referral {
    let etag = r.etag();
    let p = r.details.patient;
    pb::Referral {
        id: r.id.to_string(),
        referring_organization: r.organization,
        referring_contact: r.details.contact,
        patient: Some(pb::ReferredPatient {
            given_name: p.given_name,
            family_name: p.family_name,
            birth_date: p.birth_date.map(date_to_proto),
            sex_at_birth: p.sex_at_birth.to_proto(),
            phone: p.phone,
            email: p.email,
            identifiers: p
                .identifiers
                .into_iter()
                .map(|i| pbc::Identifier {
                    system: i.system,
                    value: i.value,
                })
                .collect(),
        }),
        reason: r.details.reason,
        requested_program: r.details.requested_program,
        urgency: r.urgency.to_proto(),
        status: r.status.to_proto(),
        decline_reason: r.decline_reason,
        intake_time: r.intake_time_us.map(timestamp_from_micros),
        patient_id: r.patient_id.map(|p| p.to_string()).unwrap_or_default(),
        episode_id: r.episode_id.map(|e| e.to_string()).unwrap_or_default(),
        source_client_id: r.source_client.unwrap_or_default(),
        history: r
            .history
            .into_iter()
            .map(|h| pb::StatusChange {
                status: h.status.to_proto(),
                changed_by: h.by,
                change_time: Some(timestamp_from_micros(h.time_us)),
                note: h.note,
            })
            .collect(),
        create_time: Some(timestamp_from_micros(r.create_time_us)),
        update_time: Some(timestamp_from_micros(r.update_time_us)),
        version: r.version,
        etag,
    }
}
