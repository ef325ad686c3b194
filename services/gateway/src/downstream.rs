//! Calls from the gateway to the services: each call carries the sealed principal and the
//! trace context, and has a deadline, so a dead service costs the client a quick 503/504
//! rather than a hang. Channels reconnect by themselves when the service comes back.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use iop_auth::{InternalKey, PRINCIPAL_HEADER};
use iop_core::Principal;

use crate::policy::{self, Denied, Operation};
use iop_proto::records::patient_service_client::PatientServiceClient;
use tonic::metadata::{MetadataKey, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

#[derive(Clone)]
pub struct Downstream {
    pub records: PatientServiceClient<Channel>,
    records_health: HealthClient<Channel>,
    key: Arc<InternalKey>,
    timeout: Duration,
}

impl Downstream {
    /// Lazily connecting clients: the gateway starts even when a service is still down.
    pub fn new(
        records_url: &str,
        key: Arc<InternalKey>,
        timeout: Duration,
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
        })
    }

    /// Wraps `message` for the service call `op` made on behalf of `principal`, if the
    /// policy allows it. Every call to a service passes here: this is where authorization
    /// is enforced, for REST and gRPC alike.
    pub fn request<T>(
        &self,
        principal: &Principal,
        op: Operation,
        message: T,
    ) -> Result<tonic::Request<T>, Denied> {
        if let Err(denied) = policy::authorize(principal, op) {
            tracing::info!(operation = ?op, subject = %principal.subject, reason = %denied, "denied");
            return Err(denied);
        }
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
        Ok(req)
    }

    /// Awaits a service call within the deadline and drops the service's own metadata.
    pub async fn call<T>(
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
