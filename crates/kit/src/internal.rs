//! Calls between our own processes: the gateway to a service, and one service to another
//! (scheduling asking records whether a patient exists). Every call carries the caller's
//! principal sealed with the internal key (the callee trusts nothing else), the request id,
//! the W3C trace context, and the caller's deadline as `grpc-timeout`, so the callee gives
//! up when the caller has.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use iop_auth::{InternalKey, PRINCIPAL_HEADER};
use iop_core::{Error, Principal};
use tokio::time::Instant;
use tonic::metadata::{MetadataKey, MetadataValue};
use tonic::transport::{Channel, Endpoint};

/// Where a backend service listens: `records` at `http://127.0.0.1:50051`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendUrl {
    pub name: String,
    pub url: String,
}

impl std::str::FromStr for BackendUrl {
    type Err = String;

    /// `name=url`, as `--backend` takes it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, url) = s.split_once('=').ok_or_else(|| {
            format!("{s:?} is not name=url (e.g. records=http://127.0.0.1:50051)")
        })?;
        Ok(Self {
            name: name.trim().to_owned(),
            url: url.trim().to_owned(),
        })
    }
}

/// A lazily connecting channel to the service at `url` (`http://127.0.0.1:50051`): the
/// caller starts even when the service is still down, and the channel reconnects by itself
/// when it comes back.
pub fn channel(url: &str) -> Result<Channel, tonic::transport::Error> {
    Ok(Endpoint::from_shared(url.to_owned())?
        .connect_timeout(Duration::from_secs(1))
        // An HTTP/2 request is several small frames; with Nagle's algorithm and delayed
        // ACKs some of them would wait 40 ms.
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true)
        .connect_lazy())
}

/// `message` as the callee receives it: the sealed principal, request id, trace context and
/// the time left until `deadline`.
pub fn seal<T>(
    key: &InternalKey,
    principal: &Principal,
    message: T,
    deadline: Instant,
) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    req.set_timeout(deadline.saturating_duration_since(Instant::now()));
    if let Ok(v) = MetadataValue::try_from(key.seal(principal)) {
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

/// Another of our services as one service calls it: every request sealed with the caller's
/// principal and a deadline, and every answer read one way.
#[derive(Clone)]
pub struct Peer {
    /// As errors name it: `records`, `scheduling`.
    name: &'static str,
    channel: Channel,
    key: Arc<InternalKey>,
    patience: Duration,
}

impl Peer {
    /// How long a request waits for the other service unless told otherwise.
    pub const PATIENCE: Duration = Duration::from_secs(5);

    pub fn new(name: &'static str, channel: Channel, key: Arc<InternalKey>) -> Self {
        Self {
            name,
            channel,
            key,
            patience: Self::PATIENCE,
        }
    }

    /// The channel to build the generated client on.
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// `message` sealed for `who`, and the deadline it carries.
    pub fn seal<T>(&self, who: &Principal, message: T) -> (tonic::Request<T>, Instant) {
        let deadline = Instant::now() + self.patience;
        (seal(&self.key, who, message, deadline), deadline)
    }

    /// The answer to `call` by `deadline`: not found is `None`; any other refusal, or no
    /// answer in time, is 503 saying what was asked (`what`: "read room …").
    pub async fn ask<T>(
        &self,
        deadline: Instant,
        what: &str,
        call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<Option<T>, Error> {
        self.ask_or(deadline, what, call, |_| None).await
    }

    /// As [`Self::ask`], but a refusal `own` turns into an error is the caller's to answer
    /// (a step the other service's state does not allow: the caller's client to fix).
    pub async fn ask_or<T>(
        &self,
        deadline: Instant,
        what: &str,
        call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
        own: impl FnOnce(&tonic::Status) -> Option<Error>,
    ) -> Result<Option<T>, Error> {
        match tokio::time::timeout_at(deadline, call).await {
            Ok(Ok(res)) => Ok(Some(res.into_inner())),
            Ok(Err(status)) if status.code() == tonic::Code::NotFound => Ok(None),
            Ok(Err(status)) => Err(own(&status).unwrap_or_else(|| {
                Error::Unavailable(format!(
                    "the {} service could not {what}: {}",
                    self.name,
                    status.message()
                ))
            })),
            Err(_) => Err(Error::Unavailable(format!(
                "the {} service did not {what} in time; retry shortly",
                self.name
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iop_core::TenantId;

    #[test]
    fn a_sealed_request_carries_the_principal_request_id_and_deadline() {
        let key = InternalKey::generate();
        let who = Principal {
            tenant: TenantId::parse("clinic-a").unwrap(),
            subject: "dr-kim".into(),
            client_id: None,
            issuer: "urn:iop:gateway".into(),
            roles: vec!["clinician".into()],
            scopes: vec![],
            request_id: "req-1".into(),
            source_addr: None,
        };
        let req = seal(&key, &who, (), Instant::now() + Duration::from_secs(2));
        let sealed = req
            .metadata()
            .get(PRINCIPAL_HEADER)
            .unwrap()
            .to_str()
            .unwrap();
        let opened = key.open(sealed).unwrap();
        assert_eq!(
            (opened.subject.as_str(), opened.tenant.as_str()),
            ("dr-kim", "clinic-a")
        );
        assert_eq!(req.metadata().get("x-request-id").unwrap(), "req-1");
        let timeout = req
            .metadata()
            .get("grpc-timeout")
            .unwrap()
            .to_str()
            .unwrap();
        assert!(
            timeout.ends_with('m') || timeout.ends_with('u'),
            "{timeout}"
        );
    }
}
