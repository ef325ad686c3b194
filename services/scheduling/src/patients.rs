//! Whether a patient exists: the records service knows, asked over gRPC with the caller's
//! principal sealed (so within the caller's clinic) and a deadline.

use std::sync::Arc;
use std::time::Duration;

use iop_auth::InternalKey;
use iop_core::{Error, PatientId, Principal};
use iop_proto::records::{GetPatientRequest, patient_service_client::PatientServiceClient};
use tonic::transport::Channel;

/// How long a booking waits for the records service.
const DEADLINE: Duration = Duration::from_secs(5);

/// Whether a patient is one of the caller's clinic.
#[tonic::async_trait]
pub trait PatientCheck: Send + Sync {
    async fn exists(&self, who: &Principal, patient: PatientId) -> Result<bool, Error>;
}

/// The records service's answer.
pub struct Records {
    channel: Channel,
    key: Arc<InternalKey>,
}

impl Records {
    pub fn new(channel: Channel, key: Arc<InternalKey>) -> Self {
        Self { channel, key }
    }
}

#[tonic::async_trait]
impl PatientCheck for Records {
    async fn exists(&self, who: &Principal, patient: PatientId) -> Result<bool, Error> {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        let request = iop_kit::internal::seal(
            &self.key,
            who,
            GetPatientRequest {
                id: patient.to_string(),
            },
            deadline,
        );
        let mut client = PatientServiceClient::new(self.channel.clone());
        match tokio::time::timeout_at(deadline, client.get_patient(request)).await {
            Ok(Ok(_)) => Ok(true),
            Ok(Err(status)) if status.code() == tonic::Code::NotFound => Ok(false),
            Ok(Err(status)) => Err(Error::Unavailable(format!(
                "the records service could not say whether patient {patient} exists: {}",
                status.message()
            ))),
            Err(_) => Err(Error::Unavailable(
                "the records service did not answer in time; retry shortly".into(),
            )),
        }
    }
}
