//! SMART Backend Services client assertions (RFC 7523 `private_key_jwt`): a backend client
//! proves who it is with a short-lived JWT signed by a key it registered with us.

use jsonwebtoken::Validation;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use serde::Deserialize;

use crate::verify::{AuthError, load_keys, read_header, read_payload};

/// The furthest ahead an assertion's `exp` may be (SMART: five minutes).
pub const MAX_ASSERTION_LIFETIME_SECS: i64 = 300;

#[derive(Debug, Clone, Deserialize)]
pub struct AssertionClaims {
    pub iss: String,
    pub sub: String,
    pub exp: i64,
    pub jti: String,
}

/// The client an assertion claims to come from (`iss`), read before anything is verified,
/// to find its registered keys.
pub fn claimed_client(assertion: &str) -> Result<String, AuthError> {
    #[derive(Deserialize)]
    struct Peek {
        iss: Option<String>,
    }
    let payload = assertion
        .split('.')
        .nth(1)
        .ok_or(AuthError::Malformed("not a compact JWS"))?;
    let peek: Peek = read_payload(payload)?;
    peek.iss
        .filter(|i| !i.is_empty())
        .ok_or_else(|| AuthError::MissingClaim("iss".into()))
}

/// Verifies `assertion` as coming from `client_id`, signed by one of `jwks`, for
/// `audience` (our token URL), expiring within five minutes and carrying a `jti`.
pub fn verify_assertion(
    assertion: &str,
    jwks: &JwkSet,
    client_id: &str,
    audience: &str,
) -> Result<AssertionClaims, AuthError> {
    let header_b64 = assertion
        .split('.')
        .next()
        .ok_or(AuthError::Malformed("not a compact JWS"))?;
    let (alg, kid, alg_name) = read_header(header_b64)?;
    let keys = load_keys(jwks);
    let key = keys
        .get(&kid)
        .ok_or_else(|| AuthError::UnknownKey(crate::verify::untrusted(&kid)))?;
    key.fits(alg, &kid, &alg_name)?;
    let mut validation = Validation::new(alg);
    validation.leeway = crate::verify::LEEWAY_SECS;
    // RFC 7523 §3: an assertion not yet valid (`nbf` ahead) is refused.
    validation.validate_nbf = true;
    validation.set_issuer(&[client_id]);
    validation.set_audience(&[audience]);
    validation.sub = Some(client_id.to_owned());
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<AssertionClaims>(assertion, &key.decoding, &validation)
        .map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => AuthError::Expired,
            ErrorKind::ImmatureSignature => AuthError::NotYetValid,
            ErrorKind::InvalidAudience => AuthError::WrongAudience(audience.to_owned()),
            ErrorKind::InvalidIssuer | ErrorKind::InvalidSubject => {
                AuthError::InvalidClaim("iss/sub")
            }
            ErrorKind::MissingRequiredClaim(c) => AuthError::MissingClaim(c.clone()),
            ErrorKind::Json(_) => {
                AuthError::Malformed("assertion claims lack jti or have the wrong types")
            }
            _ => AuthError::InvalidSignature,
        })?
        .claims;
    if claims.exp
        > crate::unix_now() + MAX_ASSERTION_LIFETIME_SECS + crate::verify::LEEWAY_SECS as i64
    {
        return Err(AuthError::InvalidClaim(
            "exp (more than five minutes ahead)",
        ));
    }
    if claims.jti.is_empty() {
        return Err(AuthError::MissingClaim("jti".into()));
    }
    Ok(claims)
}
