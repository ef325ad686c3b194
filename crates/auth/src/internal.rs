//! The internal principal: who the gateway says is calling, sealed with an HMAC key shared
//! by the gateway and the services, with a short expiry. Services trust nothing else: a
//! call without a valid seal is refused before it reaches a handler.
//!
//! Why HMAC and not a signed JWT: it is verified on every internal call, costs about a
//! microsecond, and the key never leaves the deployment.

use std::path::Path;
use std::sync::Arc;
use std::task::{Context, Poll};

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::future::{Either, Ready, ready};
use iop_core::Principal;
use serde::{Deserialize, Serialize};

/// gRPC metadata key carrying the sealed principal.
pub const PRINCIPAL_HEADER: &str = "x-iop-principal";
/// How long a sealed principal stays valid: one request and its retries.
const SEAL_TTL_SECS: i64 = 300;

#[derive(Debug, thiserror::Error)]
pub enum InternalKeyError {
    #[error("cannot read or write {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} must hold at least 32 bytes of hex")]
    Invalid(String),
}

pub struct InternalKey {
    key: hmac::Key,
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    #[serde(rename = "p")]
    principal: Principal,
    #[serde(rename = "e")]
    exp: i64,
}

impl InternalKey {
    pub fn from_secret(secret: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    pub fn generate() -> Self {
        let mut secret = [0u8; 32];
        // The system RNG failing leaves us unable to do anything safely anyway.
        let _ = aws_lc_rs::rand::fill(&mut secret);
        Self::from_secret(&secret)
    }

    /// Loads the hex secret at `path`, creating it (mode 0600) when missing.
    pub fn load_or_create(path: &Path) -> Result<Self, InternalKeyError> {
        let io = |source| InternalKeyError::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let secret = crate::hex::decode(text.trim()).filter(|s| s.len() >= 32);
                secret
                    .map(|s| Self::from_secret(&s))
                    .ok_or_else(|| InternalKeyError::Invalid(path.display().to_string()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut secret = [0u8; 32];
                let _ = aws_lc_rs::rand::fill(&mut secret);
                if let Some(parent) = path.parent() {
                    crate::keys::create_private_dir(parent).map_err(io)?;
                }
                let hex = crate::hex::encode(&secret);
                match crate::keys::write_private(path, hex.as_bytes()) {
                    Ok(()) => Ok(Self::from_secret(&secret)),
                    // Another process created it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        Self::load_or_create(path)
                    }
                    Err(e) => Err(io(e)),
                }
            }
            Err(e) => Err(io(e)),
        }
    }

    pub fn seal(&self, principal: &Principal) -> String {
        let body = Sealed {
            principal: principal.clone(),
            exp: crate::unix_now() + SEAL_TTL_SECS,
        };
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&body).unwrap_or_default());
        let tag = hmac::sign(&self.key, payload.as_bytes());
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    pub fn open(&self, sealed: &str) -> Result<Principal, &'static str> {
        let (payload, tag) = sealed
            .split_once('.')
            .ok_or("malformed internal principal")?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| "malformed internal principal")?;
        hmac::verify(&self.key, payload.as_bytes(), &tag)
            .map_err(|_| "internal principal has a bad seal")?;
        let bytes = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| "malformed internal principal")?;
        let body: Sealed =
            serde_json::from_slice(&bytes).map_err(|_| "malformed internal principal")?;
        if body.exp < crate::unix_now() {
            return Err("internal principal has expired");
        }
        Ok(body.principal)
    }
}

/// Tower layer for service gRPC servers: opens the sealed principal into the request's
/// extensions, answers UNAUTHENTICATED without one, and lets health checks and reflection
/// through.
#[derive(Clone)]
pub struct PrincipalLayer {
    key: Arc<InternalKey>,
}

impl PrincipalLayer {
    pub fn new(key: Arc<InternalKey>) -> Self {
        Self { key }
    }
}

impl<S> tower::Layer<S> for PrincipalLayer {
    type Service = RequirePrincipal<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequirePrincipal {
            inner,
            key: self.key.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RequirePrincipal<S> {
    inner: S,
    key: Arc<InternalKey>,
}

/// Paths that need no principal: load balancers and tooling call them.
pub fn is_public_grpc_path(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.") || path.starts_with("/grpc.reflection.")
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for RequirePrincipal<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    ResBody: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<S::Response, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<ReqBody>) -> Self::Future {
        if is_public_grpc_path(req.uri().path()) {
            return Either::Left(self.inner.call(req));
        }
        let opened = match req.headers().get(PRINCIPAL_HEADER).map(|v| v.to_str()) {
            Some(Ok(v)) => self.key.open(v),
            Some(Err(_)) => Err("malformed internal principal"),
            None => Err("missing internal principal: call through the gateway"),
        };
        match opened {
            Ok(principal) => {
                req.extensions_mut().insert(principal);
                Either::Left(self.inner.call(req))
            }
            Err(reason) => {
                tracing::warn!(
                    path = req.uri().path(),
                    reason,
                    "refused call without a valid principal"
                );
                Either::Right(ready(
                    Ok(tonic::Status::unauthenticated(reason).into_http()),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iop_core::TenantId;

    fn principal() -> Principal {
        Principal {
            tenant: TenantId::parse("clinic-a").unwrap(),
            subject: "alice".into(),
            client_id: None,
            issuer: "urn:iop:gateway".into(),
            roles: vec!["clinician".into()],
            scopes: vec![],
            request_id: "r1".into(),
            source_addr: None,
        }
    }

    #[test]
    fn sealed_principal_opens_with_the_same_key_only() {
        let key = InternalKey::generate();
        let sealed = key.seal(&principal());
        assert_eq!(key.open(&sealed).unwrap(), principal());
        assert!(InternalKey::generate().open(&sealed).is_err());
    }

    #[test]
    fn tampered_principal_is_refused() {
        let key = InternalKey::generate();
        let sealed = key.seal(&principal());
        let (_, tag) = sealed.split_once('.').unwrap();
        let mut other = principal();
        other.tenant = TenantId::parse("clinic-b").unwrap();
        let forged_body = Sealed {
            principal: other,
            exp: crate::unix_now() + 60,
        };
        let forged = format!(
            "{}.{tag}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged_body).unwrap())
        );
        assert_eq!(
            key.open(&forged).unwrap_err(),
            "internal principal has a bad seal"
        );
    }

    #[test]
    fn secret_file_is_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("internal.key");
        let a = InternalKey::load_or_create(&path).unwrap();
        let b = InternalKey::load_or_create(&path).unwrap();
        assert!(b.open(&a.seal(&principal())).is_ok());
    }
}
