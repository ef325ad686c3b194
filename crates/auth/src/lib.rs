//! Authentication for the IOP platform.
//!
//! - [`SigningKey`]: the gateway's own ES256 key, created on first start, that signs access
//!   tokens and is published as a JWKS.
//! - [`Verifier`]: checks bearer JWTs from the gateway itself and from trusted external
//!   issuers: asymmetric algorithms only, key chosen by `kid`, `iss`/`aud`/`exp`/`nbf` checked.
//! - [`internal`]: the signed principal the gateway forwards to services, and the tower layer
//!   with which services refuse calls that lack one.

pub mod assertion;
pub mod claims;
pub mod hex;
pub mod internal;
pub mod keys;
pub mod scope;
pub mod secrets;
pub mod verify;

pub use claims::AccessClaims;
pub use internal::{InternalKey, PRINCIPAL_HEADER, PrincipalLayer};
pub use keys::SigningKey;
pub use verify::{AuthError, ClaimNames, TrustedIssuer, Verified, Verifier};

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
