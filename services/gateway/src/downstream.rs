//! Calls from the gateway to the services: each call carries the sealed principal and the
//! trace context, and has a deadline, so a dead service costs the client a quick 503/504
//! rather than a hang. Channels reconnect by themselves when the service comes back.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use iop_auth::InternalKey;
use iop_core::Principal;

use crate::audit::{AuditEvent, AuditLog, Outcome};
use crate::backends;
use crate::operation::{Call, Operation};
use crate::policy;
use iop_proto::internal::GetResourceOwnerRequest;
use iop_proto::internal::resource_owner_service_client::ResourceOwnerServiceClient;
use tokio::time::Instant;
use tonic::transport::Channel;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

pub use iop_kit::internal::BackendUrl;

/// Why the backends cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("unknown backend {0:?} (the gateway knows {1})")]
    Unknown(String, String),
    #[error("no URL for backend {0:?}: pass --backend {0}=<url>")]
    Missing(&'static str),
    #[error("backend {0:?} is given twice")]
    Twice(String),
    #[error("invalid URL for backend {0:?}")]
    Url(String, #[source] tonic::transport::Error),
}

/// One lazily connecting channel per backend service.
#[derive(Clone)]
struct Channels(Arc<HashMap<&'static str, Channel>>);

#[derive(Clone)]
pub struct Downstream {
    channels: Channels,
    key: Arc<InternalKey>,
    timeout: Duration,
    audit_log: AuditLog,
}

/// The only message our services put on INTERNAL (see `iop_core::Error`); an INTERNAL with
/// any other text was made by the transport on our side of the call.
const SERVICE_INTERNAL: &str = "internal error";

fn too_slow(service: &str) -> tonic::Status {
    tonic::Status::deadline_exceeded(format!("the {service} service did not answer in time"))
}

/// What a failed call to `service` tells the client: what happened, and to whom. Our
/// services answer only with the codes of `iop_core::Error`; anything else is the
/// transport's. The service's own timer answers CANCELLED ("Timeout expired") when the
/// deadline we sent passes, just as ours fires DEADLINE_EXCEEDED: both mean "too slow" (504),
/// never "cancelled" (499). A connection that failed, was refused or reset, or an HTTP/2
/// error (a frozen peer makes the client library give up with ENHANCE_YOUR_CALM, which it
/// reports as RESOURCE_EXHAUSTED) means the service is unavailable (503), never "too many
/// requests" (429).
fn failure(service: &str, status: tonic::Status) -> tonic::Status {
    use tonic::Code;
    let transport = match status.code() {
        Code::Cancelled | Code::DeadlineExceeded => return too_slow(service),
        Code::Unavailable | Code::Unknown | Code::ResourceExhausted | Code::DataLoss => true,
        Code::Internal => status.message() != SERVICE_INTERNAL,
        Code::Ok
        | Code::InvalidArgument
        | Code::NotFound
        | Code::AlreadyExists
        | Code::PermissionDenied
        | Code::FailedPrecondition
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unimplemented
        | Code::Unauthenticated => false,
    };
    if !transport {
        return status;
    }
    tracing::warn!(service, code = ?status.code(), error = %status.message(), "downstream call failed");
    tonic::Status::unavailable(format!(
        "the {service} service is unavailable; retry shortly"
    ))
}

/// One resource a call touched, and whose record it belongs to; each becomes an audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touched {
    pub resource_id: String,
    pub patient_id: String,
}

impl Touched {
    /// A patient itself.
    pub fn patient(id: &str) -> Self {
        Self::of(id, id)
    }

    /// A resource of a patient's record; either id may be empty when not known.
    pub fn of(resource_id: &str, patient_id: &str) -> Self {
        Self {
            resource_id: resource_id.to_owned(),
            patient_id: patient_id.to_owned(),
        }
    }
}

impl Downstream {
    /// Lazily connecting channels, one per backend in `urls`: the gateway starts even when
    /// a service is still down. Every backend the gateway declares operations for needs a
    /// URL.
    pub fn new(
        urls: &[BackendUrl],
        key: Arc<InternalKey>,
        timeout: Duration,
        audit_log: AuditLog,
    ) -> Result<Self, BackendError> {
        let mut channels = HashMap::new();
        for u in urls {
            let Some(backend) = backends::backend(&u.name) else {
                let known: Vec<&str> = backends::BACKENDS.iter().map(|b| b.name).collect();
                return Err(BackendError::Unknown(u.name.clone(), known.join(", ")));
            };
            let channel = iop_kit::internal::channel(&u.url)
                .map_err(|e| BackendError::Url(u.name.clone(), e))?;
            if channels.insert(backend.name, channel).is_some() {
                return Err(BackendError::Twice(u.name.clone()));
            }
        }
        if let Some(missing) = backends::BACKENDS
            .iter()
            .find(|b| !channels.contains_key(b.name))
        {
            return Err(BackendError::Missing(missing.name));
        }
        Ok(Self {
            channels: Channels(Arc::new(channels)),
            key,
            timeout,
            audit_log,
        })
    }

    fn channel(&self, backend: &str) -> Channel {
        // Every declared backend has a channel: `new` refuses to start otherwise.
        self.channels.0[backend].clone()
    }

    /// A gRPC call as the gateway serves it: [`Self::forward`] with the caller's principal.
    pub async fn forward_grpc<C: Call>(
        &self,
        op: C,
        req: tonic::Request<C::Req>,
    ) -> Result<tonic::Response<C::Res>, tonic::Status> {
        let who = crate::grpc::principal(&req)?;
        self.forward(&who, op, req.into_inner())
            .await
            .map(tonic::Response::new)
    }

    /// Makes the service call `op` for `who`: authorizes it, seals the principal onto it,
    /// sends it, and writes the audit trail — denied, failed or successful — before the
    /// caller may answer. A change is forwarded only once its attempt is in the trail, so no
    /// change ever exists unaudited (see [`crate::audit`]). The whole call, audit writes
    /// included, is bounded by one deadline. Every call to a service passes here, REST and
    /// gRPC.
    pub async fn forward<C: Call>(
        &self,
        who: &Principal,
        _op: C,
        message: C::Req,
    ) -> Result<C::Res, tonic::Status> {
        let op = C::OP;
        // The action and resource type the trail records.
        let audited = (C::audit_action(&message), op.resource.name());
        let deadline = Instant::now() + self.timeout;
        let requested = C::asks(&message);
        if let Err(denied) = policy::authorize(who, op) {
            tracing::info!(operation = op.grpc_path, subject = %who.subject, reason = %denied, "denied");
            let requested = self.with_owners(who, op, requested, deadline).await;
            let code = tonic::Code::PermissionDenied;
            let events = events(who, audited, Outcome::Denied, code, requested);
            self.audit_log.record_kept(events, deadline).await?;
            return Err(tonic::Status::permission_denied(denied.0));
        }
        let attempt = if op.changes() {
            let events = events(
                who,
                audited,
                Outcome::Attempted,
                tonic::Code::Ok,
                requested.clone(),
            );
            Some(self.audit_log.attempt(events, deadline).await?)
        } else {
            None
        };
        let sent = C::send(self.channel(op.backend), self.seal(who, message, deadline));
        let result = self.call(op.backend, deadline, sent).await;
        let events = match &result {
            Ok(res) => events(
                who,
                audited,
                Outcome::Success,
                tonic::Code::Ok,
                C::gives(res),
            ),
            // The service's own rules refused it (another clinician's psychotherapy note…).
            Err(status) if status.code() == tonic::Code::PermissionDenied => {
                let requested = self.with_owners(who, op, requested, deadline).await;
                events(who, audited, Outcome::Denied, status.code(), requested)
            }
            Err(status) => events(who, audited, Outcome::Failed, status.code(), requested),
        };
        match attempt {
            // The change is audited by its attempt; its outcome follows even if the trail
            // is slow now, and the client learns what happened to its change.
            Some(attempt) => self.audit_log.conclude(attempt, events, deadline).await,
            None => self.record_read(events, result.is_ok(), deadline).await?,
        }
        result
    }

    /// Records the events of a call that changed nothing: nothing is disclosed before its
    /// record is durable; a failure (nothing disclosed) is recorded even if late, and a call
    /// that ran out of time is answered as such, not as an audit failure.
    async fn record_read(
        &self,
        events: Vec<AuditEvent>,
        disclosed: bool,
        deadline: Instant,
    ) -> Result<(), iop_core::Error> {
        if disclosed {
            return self.audit_log.record_by(events, deadline).await;
        }
        let recorded = self.audit_log.record_kept(events, deadline).await;
        if Instant::now() < deadline {
            recorded?;
        }
        Ok(())
    }

    /// Calls an internal method of `backend` (not one of the operations clients call) for a
    /// caller the gateway vouches for without a bearer token — a calendar app fetching a
    /// feed by its secret URL — sealed and bounded like [`Self::forward`], and audited as
    /// `audited` (action, resource type) like a read: each resource and patient `touched`
    /// names, or the failure, in the trail before the caller may answer.
    pub async fn internal<T, R, Fut>(
        &self,
        who: &Principal,
        backend: &'static str,
        audited: (&str, &str),
        message: T,
        call: impl FnOnce(Channel, tonic::Request<T>) -> Fut,
        touched: impl Fn(&R) -> Vec<Touched>,
    ) -> Result<R, tonic::Status>
    where
        Fut: Future<Output = Result<tonic::Response<R>, tonic::Status>>,
    {
        let deadline = Instant::now() + self.timeout;
        let sent = call(self.channel(backend), self.seal(who, message, deadline));
        let result = self.call(backend, deadline, sent).await;
        let events = match &result {
            Ok(res) => events(
                who,
                audited,
                Outcome::Success,
                tonic::Code::Ok,
                touched(res),
            ),
            Err(status) => events(who, audited, Outcome::Failed, status.code(), Vec::new()),
        };
        self.record_read(events, result.is_ok(), deadline).await?;
        result
    }

    /// `touched` with the patient of each resource named only by id filled in, asked of the
    /// service that holds it (within the caller's tenant, within the deadline): a refused
    /// access is recorded under the patient it concerned, though the caller learns nothing.
    async fn with_owners(
        &self,
        who: &Principal,
        op: &Operation,
        mut touched: Vec<Touched>,
        deadline: Instant,
    ) -> Vec<Touched> {
        // A resource of no patient's record (a location, a clinician) has no owner to ask
        // for, and its service keeps no owner index.
        if op.data == crate::operation::Data::None {
            return touched;
        }
        let resource_type = op.resource.name();
        for t in touched
            .iter_mut()
            .filter(|t| !t.resource_id.is_empty() && t.patient_id.is_empty())
        {
            let message = GetResourceOwnerRequest {
                resource_type: resource_type.to_owned(),
                id: t.resource_id.clone(),
            };
            let mut client = ResourceOwnerServiceClient::new(self.channel(op.backend));
            let asked = client.get_resource_owner(self.seal(who, message, deadline));
            if let Ok(Ok(owner)) = tokio::time::timeout_at(deadline, asked).await {
                t.patient_id = owner.into_inner().patient_id;
            }
        }
        touched
    }

    /// The request as the service receives it: sealed principal, request id, trace context
    /// and deadline.
    fn seal<T>(&self, principal: &Principal, message: T, deadline: Instant) -> tonic::Request<T> {
        iop_kit::internal::seal(&self.key, principal, message, deadline)
    }

    /// Awaits a service call within the deadline and drops the service's own metadata.
    async fn call<T>(
        &self,
        backend: &str,
        deadline: Instant,
        fut: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, tonic::Status> {
        match tokio::time::timeout_at(deadline, fut).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(failure(backend, status)),
            Err(_) => Err(too_slow(backend)),
        }
    }

    /// Whether each backend is serving, asked with a short deadline, by name.
    pub async fn ready(&self) -> Vec<(&'static str, bool)> {
        let mut checks = tokio::task::JoinSet::new();
        for (name, channel) in self.channels.0.iter() {
            let (name, mut client) = (*name, HealthClient::new(channel.clone()));
            checks.spawn(async move {
                let check = client.check(HealthCheckRequest {
                    service: String::new(),
                });
                let serving = matches!(
                    tokio::time::timeout(Duration::from_secs(1), check).await,
                    Ok(Ok(res)) if res.get_ref().status == ServingStatus::Serving as i32
                );
                (name, serving)
            });
        }
        let mut ready: Vec<_> = checks.join_all().await;
        ready.sort_unstable();
        ready
    }
}

/// One event per resource touched (one without a resource when there is none), so that
/// "who saw this patient" finds every access, list results included.
fn events(
    who: &Principal,
    (action, resource_type): (&str, &str),
    outcome: Outcome,
    code: tonic::Code,
    touched: Vec<Touched>,
) -> Vec<AuditEvent> {
    let base = AuditEvent::new(who, action, resource_type, outcome, code);
    if touched.is_empty() {
        return vec![base];
    }
    touched
        .into_iter()
        .map(|t| AuditEvent {
            resource_id: t.resource_id,
            patient_id: t.patient_id,
            ..base.clone()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(list: &[&str]) -> Vec<BackendUrl> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn start(list: &[&str]) -> Result<Downstream, BackendError> {
        let key = Arc::new(InternalKey::generate());
        Downstream::new(&urls(list), key, Duration::from_secs(1), AuditLog::off())
    }

    /// Every backend the gateway forwards to needs exactly one URL; a name it does not
    /// know is a typo, refused at start-up rather than ignored.
    #[tokio::test]
    async fn every_backend_needs_exactly_one_url() {
        const OTHERS: [&str; 2] = ["scheduling=http://127.0.0.1:3", "groups=http://127.0.0.1:4"];
        let with = |first: &[&'static str]| [first, &OTHERS[..]].concat();
        assert!(start(&with(&["records=http://127.0.0.1:1"])).is_ok());
        assert!(matches!(start(&[]), Err(BackendError::Missing("records"))));
        assert!(matches!(
            start(&["records=http://127.0.0.1:1", OTHERS[1]]),
            Err(BackendError::Missing("scheduling"))
        ));
        let err = start(&with(&[
            "records=http://127.0.0.1:1",
            "recrods=http://127.0.0.1:2",
        ]));
        assert!(matches!(err, Err(BackendError::Unknown(name, _)) if name == "recrods"));
        let err = start(&with(&[
            "records=http://127.0.0.1:1",
            "records=http://127.0.0.1:2",
        ]));
        assert!(matches!(err, Err(BackendError::Twice(_))));
        assert!(matches!(
            start(&with(&["records=not a url"])),
            Err(BackendError::Url(..))
        ));
        assert!("records".parse::<BackendUrl>().is_err());
    }
}
