//! What scheduling asks of the records service, over gRPC with the caller's principal sealed
//! (so within the caller's clinic) and a deadline: whether a patient exists, a family
//! contact's patient and involvement, a referral's
//! patient and status, and moving a referral's intake as intake appointments are booked,
//! moved and cancelled.

use std::sync::Arc;

use iop_auth::InternalKey;
use iop_core::{ContactId, Error, PatientId, Principal, ReferralId};
use iop_kit::internal::Peer;
use iop_proto::records::{
    CancelIntakeRequest, GetContactRequest, GetPatientRequest, GetReferralRequest, ReferralStatus,
    ScheduleIntakeRequest, contact_service_client::ContactServiceClient,
    patient_service_client::PatientServiceClient, referral_service_client::ReferralServiceClient,
};
use tonic::transport::Channel;

/// A referral as scheduling needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferralState {
    pub patient_id: Option<PatientId>,
    /// Accepted or intake scheduled: an intake may be booked for it.
    pub open_for_intake: bool,
}

/// A family or support contact as scheduling needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactState {
    pub patient_id: Option<PatientId>,
    /// Involved in family sessions: the records service says so only while a consent in
    /// force names them for family involvement.
    pub involved: bool,
}

/// The records service, as scheduling asks it.
#[tonic::async_trait]
pub trait PatientCheck: Send + Sync {
    /// Whether a patient is one of the caller's clinic.
    async fn exists(&self, who: &Principal, patient: PatientId) -> Result<bool, Error>;
    /// The patient's initials ("A.L."), if a patient of the caller's clinic: all a calendar
    /// feed shows of them.
    async fn initials(&self, who: &Principal, patient: PatientId) -> Result<Option<String>, Error>;
    /// The contact, if it is one of the caller's clinic.
    async fn contact(
        &self,
        who: &Principal,
        contact: ContactId,
    ) -> Result<Option<ContactState>, Error>;
    /// The referral, if it is one of the caller's clinic.
    async fn referral(
        &self,
        who: &Principal,
        referral: ReferralId,
    ) -> Result<Option<ReferralState>, Error>;
    /// The referral's intake is at `time_us` (intake scheduled), or none is booked (accepted
    /// again).
    async fn set_intake(
        &self,
        who: &Principal,
        referral: ReferralId,
        time_us: Option<i64>,
    ) -> Result<(), Error>;
}

/// The records service's answers.
pub struct Records {
    peer: Peer,
}

impl Records {
    pub fn new(channel: Channel, key: Arc<InternalKey>) -> Self {
        Self {
            peer: Peer::new("records", channel, key),
        }
    }

    /// Not found is `None`; a referral's state or the caller not allowing a step (a backend
    /// client cannot move a referral) is the caller's to fix, naming `referral_id`; anything
    /// else the records service answers is 503, saying what was asked.
    async fn ask<T>(
        &self,
        deadline: tokio::time::Instant,
        what: &str,
        call: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<Option<T>, Error> {
        self.peer
            .ask_or(deadline, what, call, |status| {
                matches!(
                    status.code(),
                    tonic::Code::FailedPrecondition | tonic::Code::PermissionDenied
                )
                .then(|| {
                    Error::Unmet(vec![iop_core::FieldViolation {
                        field: "referral_id".into(),
                        description: format!("the records service refused: {}", status.message()),
                    }])
                })
            })
            .await
    }
}

#[tonic::async_trait]
impl PatientCheck for Records {
    async fn exists(&self, who: &Principal, patient: PatientId) -> Result<bool, Error> {
        let (request, deadline) = self.peer.seal(
            who,
            GetPatientRequest {
                id: patient.to_string(),
            },
        );
        let mut client = PatientServiceClient::new(self.peer.channel());
        let what = format!("say whether patient {patient} exists");
        Ok(self
            .ask(deadline, &what, client.get_patient(request))
            .await?
            .is_some())
    }

    async fn initials(&self, who: &Principal, patient: PatientId) -> Result<Option<String>, Error> {
        let (request, deadline) = self.peer.seal(
            who,
            GetPatientRequest {
                id: patient.to_string(),
            },
        );
        let mut client = PatientServiceClient::new(self.peer.channel());
        let what = format!("read patient {patient}");
        Ok(self
            .ask(deadline, &what, client.get_patient(request))
            .await?
            .map(|p| crate::feed::initials(&p.given_name, &p.family_name)))
    }

    async fn contact(
        &self,
        who: &Principal,
        contact: ContactId,
    ) -> Result<Option<ContactState>, Error> {
        let (request, deadline) = self.peer.seal(
            who,
            GetContactRequest {
                id: contact.to_string(),
            },
        );
        let mut client = ContactServiceClient::new(self.peer.channel());
        let what = format!("read contact {contact}");
        Ok(self
            .ask(deadline, &what, client.get_contact(request))
            .await?
            .map(|c| ContactState {
                patient_id: PatientId::parse("patient_id", &c.patient_id).ok(),
                involved: c.involved_in_family_sessions,
            }))
    }

    async fn referral(
        &self,
        who: &Principal,
        referral: ReferralId,
    ) -> Result<Option<ReferralState>, Error> {
        let (request, deadline) = self.peer.seal(
            who,
            GetReferralRequest {
                id: referral.to_string(),
            },
        );
        let mut client = ReferralServiceClient::new(self.peer.channel());
        let what = format!("read referral {referral}");
        let Some(r) = self
            .ask(deadline, &what, client.get_referral(request))
            .await?
        else {
            return Ok(None);
        };
        let open = [ReferralStatus::Accepted, ReferralStatus::IntakeScheduled]
            .map(|s| s as i32)
            .contains(&r.status);
        Ok(Some(ReferralState {
            patient_id: PatientId::parse("patient_id", &r.patient_id).ok(),
            open_for_intake: open,
        }))
    }

    async fn set_intake(
        &self,
        who: &Principal,
        referral: ReferralId,
        time_us: Option<i64>,
    ) -> Result<(), Error> {
        let mut client = ReferralServiceClient::new(self.peer.channel());
        let what = format!("move the intake of referral {referral}");
        let done = match time_us {
            Some(t) => {
                let (request, deadline) = self.peer.seal(
                    who,
                    ScheduleIntakeRequest {
                        id: referral.to_string(),
                        intake_time: Some(iop_proto::timestamp_from_micros(t)),
                        note: "intake assessment booked".into(),
                        etag: String::new(),
                    },
                );
                self.ask(deadline, &what, client.schedule_intake(request))
                    .await?
                    .is_some()
            }
            None => {
                let (request, deadline) = self.peer.seal(
                    who,
                    CancelIntakeRequest {
                        id: referral.to_string(),
                        note: "intake assessment cancelled".into(),
                        etag: String::new(),
                    },
                );
                self.ask(deadline, &what, client.cancel_intake(request))
                    .await?
                    .is_some()
            }
        };
        if done {
            Ok(())
        } else {
            Err(Error::NotFound {
                kind: "referral",
                id: referral.to_string(),
            })
        }
    }
}
