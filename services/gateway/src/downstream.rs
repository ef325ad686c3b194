//! Calls from the gateway to the services: each call carries the sealed principal and the
//! trace context, and has a deadline, so a dead service costs the client a quick 503/504
//! rather than a hang. Channels reconnect by themselves when the service comes back.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use iop_auth::{InternalKey, PRINCIPAL_HEADER};
use iop_core::Principal;

use crate::audit::{AuditEvent, AuditLog, Outcome};
use crate::policy::{self, Operation};
use iop_proto::records as pb;
use iop_proto::records::patient_service_client::PatientServiceClient;
use tonic::metadata::{MetadataKey, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

#[derive(Clone)]
pub struct Downstream {
    records: PatientServiceClient<Channel>,
    records_health: HealthClient<Channel>,
    key: Arc<InternalKey>,
    timeout: Duration,
    audit_log: AuditLog,
}

/// Which patients a message is about, for the audit trail.
pub trait Audited {
    fn patient_ids(&self) -> Vec<String>;
}

impl Audited for pb::CreatePatientRequest {
    fn patient_ids(&self) -> Vec<String> {
        Vec::new()
    }
}

impl Audited for pb::GetPatientRequest {
    fn patient_ids(&self) -> Vec<String> {
        vec![self.id.clone()]
    }
}

impl Audited for pb::ListPatientsRequest {
    fn patient_ids(&self) -> Vec<String> {
        Vec::new()
    }
}

impl Audited for pb::UpdatePatientRequest {
    fn patient_ids(&self) -> Vec<String> {
        self.patient.iter().map(|p| p.id.clone()).collect()
    }
}

impl Audited for pb::Patient {
    fn patient_ids(&self) -> Vec<String> {
        vec![self.id.clone()]
    }
}

impl Audited for pb::ListPatientsResponse {
    fn patient_ids(&self) -> Vec<String> {
        self.patients.iter().map(|p| p.id.clone()).collect()
    }
}

impl Downstream {
    /// Lazily connecting clients: the gateway starts even when a service is still down.
    pub fn new(
        records_url: &str,
        key: Arc<InternalKey>,
        timeout: Duration,
        audit_log: AuditLog,
    ) -> Result<Self, tonic::transport::Error> {
        let channel = Endpoint::from_shared(records_url.to_owned())?
            .connect_timeout(Duration::from_secs(1))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true)
            .connect_lazy();
        Ok(Self {
            records: PatientServiceClient::new(channel.clone()),
            records_health: HealthClient::new(channel),
            key,
            timeout,
            audit_log,
        })
    }

    /// Makes the service call `op` for `who`: authorizes it, seals the principal onto it,
    /// sends it with a deadline, and writes the audit trail — denied, failed or successful —
    /// before the caller may answer. Every call to a service passes here, REST and gRPC.
    pub async fn forward<Req, Res, Fut>(
        &self,
        who: &Principal,
        op: Operation,
        message: Req,
        send: impl FnOnce(PatientServiceClient<Channel>, tonic::Request<Req>) -> Fut,
    ) -> Result<Res, tonic::Status>
    where
        Req: Audited,
        Res: Audited,
        Fut: Future<Output = Result<tonic::Response<Res>, tonic::Status>>,
    {
        let requested = message.patient_ids();
        if let Err(denied) = policy::authorize(who, op) {
            tracing::info!(operation = ?op, subject = %who.subject, reason = %denied, "denied");
            self.audit(
                who,
                op,
                Outcome::Denied,
                tonic::Code::PermissionDenied,
                requested,
            )
            .await?;
            return Err(tonic::Status::permission_denied(denied.0));
        }
        let result = self
            .call(send(self.records.clone(), self.seal(who, message)))
            .await;
        match &result {
            Ok(res) => {
                self.audit(
                    who,
                    op,
                    Outcome::Success,
                    tonic::Code::Ok,
                    res.patient_ids(),
                )
                .await?
            }
            Err(status) => {
                self.audit(who, op, Outcome::Failed, status.code(), requested)
                    .await?
            }
        }
        result
    }

    /// One event per patient touched (one without a patient when there is none), so that
    /// "who saw this patient" finds every access, list results included.
    async fn audit(
        &self,
        who: &Principal,
        op: Operation,
        outcome: Outcome,
        code: tonic::Code,
        patients: Vec<String>,
    ) -> Result<(), tonic::Status> {
        let (resource, _) = op.permission();
        let base = AuditEvent::new(who, op.audit_action(), resource.name(), outcome, code);
        let events = if patients.is_empty() {
            vec![base]
        } else {
            patients
                .into_iter()
                .map(|id| AuditEvent {
                    resource_id: id.clone(),
                    patient_id: id,
                    ..base.clone()
                })
                .collect()
        };
        self.audit_log
            .record(events)
            .await
            .map_err(tonic::Status::from)
    }

    /// The request as the service receives it: sealed principal, request id, trace context
    /// and deadline.
    fn seal<T>(&self, principal: &Principal, message: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(message);
        req.set_timeout(self.timeout);
        if let Ok(v) = MetadataValue::try_from(self.key.seal(principal)) {
            req.metadata_mut().insert(PRINCIPAL_HEADER, v);
        }
        if let Ok(v) = MetadataValue::try_from(principal.request_id.as_str()) {
            req.metadata_mut().insert("x-request-id", v);
        }
        let mut trace = http::HeaderMap::new();
        iop_telemetry::inject_context(&mut trace);
        for (name, value) in &trace {
            if let (Ok(k), Ok(v)) = (
                MetadataKey::from_bytes(name.as_str().as_bytes()),
                MetadataValue::try_from(value.as_bytes()),
            ) {
                req.metadata_mut().insert(k, v);
            }
        }
        req
    }

    /// Awaits a service call within the deadline and drops the service's own metadata.
    async fn call<T>(
        &self,
        fut: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, tonic::Status> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(result) => result.map(tonic::Response::into_inner),
            Err(_) => Err(tonic::Status::deadline_exceeded(
                "a backing service did not answer in time",
            )),
        }
    }

    /// Readiness of the records service, with a short deadline.
    pub async fn records_ready(&self) -> bool {
        let mut client = self.records_health.clone();
        let check = client.check(HealthCheckRequest {
            service: String::new(),
        });
        matches!(
            tokio::time::timeout(Duration::from_secs(1), check).await,
            Ok(Ok(res)) if res.get_ref().status == ServingStatus::Serving as i32
        )
    }
}
