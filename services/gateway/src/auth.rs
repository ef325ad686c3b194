//! Authentication at the front door: every REST and gRPC call carries a bearer JWT, verified
//! here; what it proves becomes the principal forwarded to the services.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use iop_auth::{AuthError, Verifier};
use iop_core::{ErrorCode, Principal, TenantId};

use crate::jwks::RemoteKeys;
use crate::limits::{Limiter, retry_after_secs};
use crate::problem::Problem;
use crate::signing::SigningKeys;

pub struct Authenticator {
    verifier: Verifier,
    /// Issuers trusted by `jwks_uri`, if any.
    remote: Option<RemoteKeys>,
    /// The gateway's own keys, re-read when a token names a key id we do not know.
    own: Arc<SigningKeys>,
    /// Per client, for authenticated calls.
    pub limiter: Limiter,
    /// Per source address, for calls without a token known to be good.
    pub anonymous: Arc<Limiter>,
}

impl Authenticator {
    pub fn new(
        verifier: Verifier,
        remote: Option<RemoteKeys>,
        own: Arc<SigningKeys>,
        limiter: Limiter,
        anonymous: Arc<Limiter>,
    ) -> Self {
        Self {
            verifier,
            remote,
            own,
            limiter,
            anonymous,
        }
    }

    pub fn has_remote_keys(&self) -> bool {
        self.remote.is_some()
    }

    /// Re-fetches the keys of issuers trusted by `jwks_uri` (see [`RemoteKeys::refresh`]);
    /// false when there are none or nothing changed.
    pub async fn refresh_remote_keys(&self, on_demand: bool) -> bool {
        match &self.remote {
            Some(remote) => remote.refresh(&self.verifier, on_demand).await,
            None => false,
        }
    }

    /// Looks for a key id nobody knew: in our own key files, then at remote issuers.
    async fn refresh_unknown_key(&self) -> bool {
        let own = self.own.refresh_on_demand(&self.verifier).await;
        self.refresh_remote_keys(true).await || own
    }

    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// The principal behind the request's `Authorization: Bearer` token. A key id we do not
    /// know may be a key just made by `iop keys rotate` or an identity provider's new key:
    /// our key files are re-read and remote JWKS fetched again (each rate-limited), and the
    /// token is checked once more if anything changed.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        request_id: String,
        source_addr: Option<String>,
    ) -> Result<Principal, Refusal> {
        let token = bearer(headers);
        // A token verified a moment ago goes on. Anything else — no token, a bad one, a new
        // one — counts against its source address's budget before any work is done on it,
        // so floods of bad tokens cost the flooder, not the clinic.
        let cached = token.as_ref().ok().and_then(|t| self.verifier.cached(t));
        let verified = match cached {
            Some(verified) => verified,
            None => {
                self.anonymous
                    .check_address(source_addr.as_deref())
                    .map_err(Refusal::TooMany)?;
                let token = token?;
                match self.verifier.verify(token) {
                    Err(AuthError::UnknownKey(_)) if self.refresh_unknown_key().await => {
                        self.verifier.verify(token)?
                    }
                    result => result?,
                }
            }
        };
        let tenant =
            TenantId::parse(&verified.tenant).map_err(|_| AuthError::InvalidClaim("tenant"))?;
        Ok(Principal {
            tenant,
            subject: verified.subject,
            client_id: verified.client_id,
            issuer: verified.issuer,
            roles: verified.roles,
            scopes: verified.scopes,
            request_id,
            source_addr,
        })
    }
}

/// Why a request was not let in.
pub enum Refusal {
    /// No valid token: 401 with the reason.
    Auth(AuthError),
    /// Too many requests without a known-good token from this address: 429.
    TooMany(std::time::Duration),
}

impl From<AuthError> for Refusal {
    fn from(e: AuthError) -> Self {
        Self::Auth(e)
    }
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer(headers: &HeaderMap) -> Result<&str, AuthError> {
    let value = headers
        .get(http::header::AUTHORIZATION)
        .ok_or(AuthError::Missing)?
        .to_str()
        .map_err(|_| AuthError::Malformed("authorization header is not ASCII"))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Ok(token.trim()),
        _ => Err(AuthError::Malformed(
            "authorization header is not 'Bearer <token>'",
        )),
    }
}

/// The peer's IP address, as the server recorded it on the request.
pub(crate) fn source_addr(extensions: &http::Extensions) -> Option<String> {
    extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string())
}

/// REST: 401 problem+json without a valid token.
pub async fn rest(
    State(auth): State<Arc<Authenticator>>,
    mut req: Request,
    next: Next,
) -> Response {
    // Set by the request-id middleware, which wraps every route.
    let rid = crate::request_id::current().unwrap_or_default();
    let source = source_addr(req.extensions());
    let who = auth.authenticate(req.headers(), rid, source).await;
    match who {
        Ok(principal) => {
            if let Err(wait) = auth.limiter.check(&principal) {
                tracing::info!(subject = %principal.subject, "rate limited");
                return too_many(wait);
            }
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        Err(Refusal::TooMany(wait)) => {
            tracing::info!("rate limited before authentication");
            too_many(wait)
        }
        Err(Refusal::Auth(e)) => {
            tracing::info!(reason = %e, "refused unauthenticated request");
            Problem::new(ErrorCode::Unauthenticated, e.to_string()).into_response()
        }
    }
}

/// gRPC: UNAUTHENTICATED without a valid token; health and reflection stay open.
pub async fn grpc(
    State(auth): State<Arc<Authenticator>>,
    mut req: Request,
    next: Next,
) -> Response {
    if iop_auth::internal::is_public_grpc_path(req.uri().path()) {
        return next.run(req).await;
    }
    // Set by the request-id middleware, which wraps every route.
    let rid = crate::request_id::current().unwrap_or_default();
    let source = source_addr(req.extensions());
    let who = auth.authenticate(req.headers(), rid, source).await;
    match who {
        Ok(principal) => {
            if let Err(wait) = auth.limiter.check(&principal) {
                return too_many_grpc(wait);
            }
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        Err(Refusal::TooMany(wait)) => too_many_grpc(wait),
        Err(Refusal::Auth(e)) => {
            tracing::info!(reason = %e, "refused unauthenticated grpc call");
            tonic::Status::unauthenticated(e.to_string()).into_http()
        }
    }
}

/// 429 problem+json with `Retry-After`.
pub(crate) fn too_many(wait: std::time::Duration) -> Response {
    let secs = retry_after_secs(wait);
    let mut res = Problem::new(
        ErrorCode::ResourceExhausted,
        format!("rate limit exceeded; retry in {secs} s"),
    )
    .into_response();
    res.headers_mut()
        .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
    res
}

/// RESOURCE_EXHAUSTED with a `retry-after` entry.
fn too_many_grpc(wait: std::time::Duration) -> Response {
    let secs = retry_after_secs(wait);
    let mut status =
        tonic::Status::resource_exhausted(format!("rate limit exceeded; retry in {secs} s"));
    if let Ok(v) = secs.to_string().parse() {
        status.metadata_mut().insert("retry-after", v);
    }
    status.into_http()
}

/// The benchmark baseline's stand-in for [`rest`] and [`grpc`]: every request acts as the
/// given principal, with its own request id and source address.
#[cfg(feature = "bench-baseline")]
pub async fn fixed(State(who): State<Arc<Principal>>, mut req: Request, next: Next) -> Response {
    let mut principal = (*who).clone();
    principal.request_id = crate::request_id::current().unwrap_or_default();
    principal.source_addr = source_addr(req.extensions());
    req.extensions_mut().insert(principal);
    next.run(req).await
}
