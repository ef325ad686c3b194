//! Bearer-token verification. Only asymmetric algorithms are accepted; the key is chosen by
//! the token's issuer and `kid`; `iss`, `aud`, `exp` and (when present) `nbf` are checked
//! with a small leeway. Every refusal says why, for the 401 the caller gets.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// Allowed clock skew between us and the issuer.
pub const LEEWAY_SECS: u64 = 30;
/// An unknown `kid` reloads a JWKS file at most this often.
const RELOAD_INTERVAL: Duration = Duration::from_secs(30);
/// A verified token is remembered this long at most (and never past its `exp`), so that a
/// client reusing its token does not pay for a signature check on every call. A key removed
/// from a JWKS stops working for cached tokens within this time.
const CACHE_TTL_SECS: i64 = 60;
const CACHE_CAPACITY: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    // Values the caller sent arrive here through `untrusted` (quoted, escaped, cut short).
    #[error("algorithm {0} is not accepted: only RS*, PS*, ES256, ES384 and EdDSA are")]
    Algorithm(String),
    #[error("token header has no key id (kid)")]
    MissingKid,
    #[error("issuer {0} is not trusted")]
    UntrustedIssuer(String),
    #[error("unknown signing key (kid {0})")]
    UnknownKey(String),
    #[error("key {0} does not match algorithm {1}")]
    KeyMismatch(String, String),
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet (nbf)")]
    NotYetValid,
    #[error("token audience is not {0:?}")]
    WrongAudience(String),
    #[error("token signature is invalid")]
    InvalidSignature,
    #[error("token lacks the {0} claim")]
    MissingClaim(String),
    #[error("token claim {0} is invalid")]
    InvalidClaim(&'static str),
}

/// An issuer whose tokens the gateway accepts.
#[derive(Debug, Clone, Deserialize)]
pub struct TrustedIssuer {
    /// Exact `iss` value.
    pub issuer: String,
    /// `aud` the token must carry.
    pub audience: String,
    /// JWKS file with the issuer's public keys; re-read when an unknown `kid` shows up.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// Or the issuer's `jwks_uri` (https): fetched by the gateway at start, every few
    /// minutes, and when an unknown `kid` shows up. Exactly one of the two is set.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// When set, every token of this issuer acts for this tenant (a clinic's own SSO);
    /// a token claiming another tenant is refused.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Where this issuer puts what we need, when not in our claim names.
    #[serde(default)]
    pub claims: ClaimNames,
    /// The longest a token of this issuer may live, from `iat` (or now) to `exp`, in
    /// seconds; longer-lived tokens are refused. Default one day.
    #[serde(default = "default_max_lifetime")]
    pub max_lifetime_secs: i64,
}

/// A day: the longest an access token of any issuer may live unless configured otherwise.
pub const DEFAULT_MAX_LIFETIME_SECS: i64 = 86_400;

fn default_max_lifetime() -> i64 {
    DEFAULT_MAX_LIFETIME_SECS
}

/// Names of the claims carrying tenant, user, roles, scopes and client. A dotted name
/// reaches into objects (`realm_access.roles` for Keycloak). Roles and scopes may be an
/// array or a space-separated string.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClaimNames {
    pub tenant: String,
    pub subject: String,
    pub roles: String,
    pub scope: String,
    pub client_id: String,
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self {
            tenant: "tenant".into(),
            subject: "sub".into(),
            roles: "roles".into(),
            scope: "scope".into(),
            client_id: "client_id".into(),
        }
    }
}

impl ClaimNames {
    fn lookup<'a>(claims: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
        name.split('.').try_fold(claims, |v, key| v.get(key))
    }

    fn string(claims: &serde_json::Value, name: &str) -> Result<Option<String>, AuthError> {
        match Self::lookup(claims, name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(AuthError::Malformed(
                "a claim does not have the expected type",
            )),
        }
    }

    fn list(claims: &serde_json::Value, name: &str) -> Result<Vec<String>, AuthError> {
        match Self::lookup(claims, name) {
            None | Some(serde_json::Value::Null) => Ok(Vec::new()),
            Some(serde_json::Value::String(s)) => {
                Ok(s.split_whitespace().map(str::to_owned).collect())
            }
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or(AuthError::Malformed(
                    "a claim does not have the expected type",
                )),
            Some(_) => Err(AuthError::Malformed(
                "a claim does not have the expected type",
            )),
        }
    }
}

pub(crate) struct Key {
    pub(crate) decoding: DecodingKey,
    /// `alg` pinned by the JWK, if any.
    pub(crate) alg: Option<Algorithm>,
    pub(crate) family: Family,
}

impl Key {
    /// A token may only use the algorithm its key is for: the JWK's `alg` when pinned, and
    /// always the key's own family (no HMAC over an RSA modulus, no ES384 on a P-256 key).
    pub(crate) fn fits(&self, alg: Algorithm, kid: &str, alg_name: &str) -> Result<(), AuthError> {
        if self.alg.is_some_and(|a| a != alg) || self.family != family_of(alg) {
            return Err(AuthError::KeyMismatch(untrusted(kid), untrusted(alg_name)));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Rsa,
    Ec(&'static str),
    Okp,
}

struct Issuer {
    audience: String,
    max_lifetime_secs: i64,
    tenant: Option<String>,
    claims: ClaimNames,
    keys: RwLock<HashMap<String, std::sync::Arc<Key>>>,
    source: Option<PathBuf>,
    last_reload: Mutex<Instant>,
}

/// Verifies bearer tokens against the configured issuers.
pub struct Verifier {
    issuers: HashMap<String, Issuer>,
    cache: Mutex<HashMap<[u8; 32], (Verified, i64)>>,
}

/// What a verified token proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub issuer: String,
    pub subject: String,
    pub tenant: String,
    pub roles: Vec<String>,
    pub scopes: Vec<String>,
    pub client_id: Option<String>,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
}

impl Verifier {
    pub fn new() -> Self {
        Self {
            issuers: HashMap::new(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Trusts `issuer` with the keys of an in-memory JWKS (the gateway's own keys).
    pub fn trust_jwks(&mut self, issuer: &str, audience: &str, jwks: &JwkSet) {
        self.issuers.insert(
            issuer.to_owned(),
            Issuer {
                audience: audience.to_owned(),
                max_lifetime_secs: DEFAULT_MAX_LIFETIME_SECS,
                tenant: None,
                claims: ClaimNames::default(),
                keys: RwLock::new(load_keys(jwks)),
                source: None,
                last_reload: Mutex::new(Instant::now()),
            },
        );
    }

    /// Replaces the keys of an issuer trusted with [`Self::trust_jwks`] (the gateway's own,
    /// after a rotation). Tokens already verified stay cached until their cache entry ends.
    pub fn replace_jwks(&self, issuer: &str, jwks: &JwkSet) -> bool {
        let Some(trusted) = self.issuers.get(issuer) else {
            return false;
        };
        match trusted.keys.write() {
            Ok(mut keys) => {
                *keys = load_keys(jwks);
                true
            }
            Err(_) => false,
        }
    }

    /// Trusts an external issuer whose keys live in a JWKS file, or at a `jwks_uri` (its
    /// keys then arrive through [`Self::replace_jwks`]; until they do, none verify).
    pub fn trust_issuer(&mut self, trusted: &TrustedIssuer) -> Result<(), String> {
        let jwks = match (&trusted.jwks_file, &trusted.jwks_uri) {
            (Some(file), None) => read_jwks(file)?,
            (None, Some(uri)) if uri.starts_with("https://") || uri.starts_with("http://") => {
                JwkSet { keys: Vec::new() }
            }
            (None, Some(uri)) => {
                return Err(format!(
                    "{}: jwks_uri {uri} is not an http(s) URL",
                    trusted.issuer
                ));
            }
            _ => {
                return Err(format!(
                    "{}: set exactly one of jwks_file and jwks_uri",
                    trusted.issuer
                ));
            }
        };
        self.issuers.insert(
            trusted.issuer.clone(),
            Issuer {
                audience: trusted.audience.clone(),
                max_lifetime_secs: trusted.max_lifetime_secs,
                tenant: trusted.tenant.clone(),
                claims: trusted.claims.clone(),
                keys: RwLock::new(load_keys(&jwks)),
                source: trusted.jwks_file.clone(),
                last_reload: Mutex::new(Instant::now()),
            },
        );
        Ok(())
    }

    /// What `token` proved when it was verified a moment ago, if it was and is still good:
    /// that costs a hash, not a signature check. Callers limit the rate of everything else.
    pub fn cached(&self, token: &str) -> Option<Verified> {
        let now = crate::unix_now();
        let cache = self.cache.lock().ok()?;
        cache
            .get(&fingerprint(token))
            .filter(|(_, until)| now < *until)
            .map(|(verified, _)| verified.clone())
    }

    /// Verifies a compact JWS and returns its claims.
    pub fn verify(&self, token: &str) -> Result<Verified, AuthError> {
        let fingerprint = fingerprint(token);
        let now = crate::unix_now();
        if let Ok(cache) = self.cache.lock()
            && let Some((verified, until)) = cache.get(&fingerprint)
            && now < *until
        {
            return Ok(verified.clone());
        }
        let verified = self.verify_uncached(token)?;
        let until = verified.exp.min(now + CACHE_TTL_SECS);
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_CAPACITY {
                cache.retain(|_, (_, u)| now < *u);
                if cache.len() >= CACHE_CAPACITY {
                    cache.clear();
                }
            }
            cache.insert(fingerprint, (verified.clone(), until));
        }
        Ok(verified)
    }

    fn verify_uncached(&self, token: &str) -> Result<Verified, AuthError> {
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(_sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::Malformed(
                "not a compact JWS (header.payload.signature)",
            ));
        };

        let (alg, kid, alg_name) = read_header(header_b64)?;
        let peek: PeekClaims = read_payload(payload_b64)?;
        let iss = peek
            .iss
            .ok_or_else(|| AuthError::MissingClaim("iss".into()))?;
        let issuer = self
            .issuers
            .get(&iss)
            .ok_or_else(|| AuthError::UntrustedIssuer(untrusted(&iss)))?;
        let key = issuer
            .key(&kid)
            .ok_or_else(|| AuthError::UnknownKey(untrusted(&kid)))?;
        key.fits(alg, &kid, &alg_name)?;

        let mut validation = Validation::new(alg);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&iss]);
        validation.set_audience(&[&issuer.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);

        let data = jsonwebtoken::decode::<serde_json::Value>(token, &key.decoding, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::ImmatureSignature => AuthError::NotYetValid,
                ErrorKind::InvalidAudience => AuthError::WrongAudience(issuer.audience.clone()),
                ErrorKind::InvalidIssuer => AuthError::UntrustedIssuer(untrusted(&iss)),
                ErrorKind::MissingRequiredClaim(c) => AuthError::MissingClaim(c.clone()),
                ErrorKind::InvalidSignature => AuthError::InvalidSignature,
                ErrorKind::Json(_) => AuthError::Malformed("claims do not have the expected types"),
                _ => AuthError::InvalidSignature,
            })?;
        let claims = data.claims;
        let exp = claims
            .get("exp")
            .and_then(serde_json::Value::as_i64)
            .ok_or(AuthError::InvalidClaim("exp"))?;
        let born = claims
            .get("iat")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or_else(crate::unix_now);
        if exp - born > issuer.max_lifetime_secs + LEEWAY_SECS as i64 {
            return Err(AuthError::InvalidClaim(
                "exp (the token lives longer than its issuer's tokens may)",
            ));
        }
        let names = &issuer.claims;
        let claimed_tenant = ClaimNames::string(&claims, &names.tenant)?;
        let tenant = match (&issuer.tenant, claimed_tenant) {
            (Some(fixed), Some(claimed)) if *fixed != claimed => {
                return Err(AuthError::InvalidClaim("tenant"));
            }
            (Some(fixed), _) => fixed.clone(),
            (None, Some(claimed)) => claimed,
            (None, None) => return Err(AuthError::MissingClaim(names.tenant.clone())),
        };
        let subject = ClaimNames::string(&claims, &names.subject)?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| AuthError::MissingClaim(names.subject.clone()))?;
        Ok(Verified {
            issuer: iss,
            subject,
            tenant,
            roles: ClaimNames::list(&claims, &names.roles)?,
            scopes: ClaimNames::list(&claims, &names.scope)?,
            client_id: ClaimNames::string(&claims, &names.client_id)?,
            exp,
        })
    }
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new()
    }
}

impl Issuer {
    fn key(&self, kid: &str) -> Option<std::sync::Arc<Key>> {
        if let Some(k) = self.keys.read().ok()?.get(kid) {
            return Some(k.clone());
        }
        // Keys rotate: an unknown kid may be a new key. Re-read the file, but not on every
        // request a forger sends.
        let path = self.source.as_ref()?;
        {
            let mut last = self.last_reload.lock().ok()?;
            if last.elapsed() < RELOAD_INTERVAL {
                return None;
            }
            *last = Instant::now();
        }
        match read_jwks(path) {
            Ok(jwks) => {
                let keys = load_keys(&jwks);
                let found = keys.get(kid).cloned();
                if let Ok(mut guard) = self.keys.write() {
                    *guard = keys;
                }
                found
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot reload jwks");
                None
            }
        }
    }
}

/// The algorithm, key id and algorithm name of a JWS header, read by us before any key is
/// touched: `none` and HMAC get a precise refusal, and a key id is required.
pub(crate) fn read_header(header_b64: &str) -> Result<(Algorithm, String, String), AuthError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(header_b64)
        .map_err(|_| AuthError::Malformed("header is not base64url JSON"))?;
    // RFC 7515 §4: parameter names unique; we refuse rather than guess which one counts.
    if has_duplicate_names(&bytes) {
        return Err(AuthError::Malformed("header repeats a parameter name"));
    }
    let raw: RawHeader = serde_json::from_slice(&bytes)
        .map_err(|_| AuthError::Malformed("header is not base64url JSON"))?;
    // RFC 7515 §4.1.11: extensions named in `crit` must be understood; we support none.
    if raw.crit.is_some() {
        return Err(AuthError::Malformed(
            "header names critical extensions (crit), which are not supported",
        ));
    }
    let alg = asymmetric_alg(&raw.alg)?;
    let kid = raw
        .kid
        .filter(|k| !k.is_empty())
        .ok_or(AuthError::MissingKid)?;
    Ok((alg, kid, raw.alg))
}

#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

/// The payload of a JWS as `T`, refused when it repeats a claim name (RFC 7519 §4).
pub(crate) fn read_payload<T: for<'de> Deserialize<'de>>(
    payload_b64: &str,
) -> Result<T, AuthError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| AuthError::Malformed("payload is not base64url JSON"))?;
    if has_duplicate_names(&bytes) {
        return Err(AuthError::Malformed("payload repeats a claim name"));
    }
    serde_json::from_slice(&bytes)
        .map_err(|_| AuthError::Malformed("payload is not base64url JSON"))
}

/// Whether a JSON object repeats a member name at its top level (after unescaping, so
/// `"a"` and `"\u0061"` are the same name).
fn has_duplicate_names(json: &[u8]) -> bool {
    use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
    struct Names;
    impl<'de> Visitor<'de> for Names {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
            let mut seen = std::collections::HashSet::new();
            let mut repeated = false;
            while let Some(name) = map.next_key::<String>()? {
                repeated |= !seen.insert(name);
                map.next_value::<IgnoredAny>()?;
            }
            Ok(repeated)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(json);
    // Not an object at all: the real parse says what is wrong with it.
    de.deserialize_map(Names).unwrap_or(false)
}

#[derive(Deserialize)]
struct PeekClaims {
    #[serde(default)]
    iss: Option<String>,
}

/// The cache key of a token.
fn fingerprint(token: &str) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let mut fingerprint = [0u8; 32];
    fingerprint.copy_from_slice(digest.as_ref());
    fingerprint
}

/// A value the caller sent (a key id, an algorithm, an issuer), fit to be shown back in an
/// error, a `WWW-Authenticate` header or a log line: quoted, in ASCII with everything else
/// escaped (control characters, quotes, non-ASCII), and cut to 64 characters, so it can
/// neither forge a log line nor make a reply large.
pub fn untrusted(value: &str) -> String {
    const MAX: usize = 64;
    let cut: String = value
        .chars()
        .take(MAX)
        .flat_map(char::escape_default)
        .collect();
    let more = if value.chars().nth(MAX).is_some() {
        "..."
    } else {
        ""
    };
    format!("\"{cut}\"{more}")
}

/// The algorithms we accept, by JOSE name; anything else (`none`, HS*) is refused.
fn asymmetric_alg(name: &str) -> Result<Algorithm, AuthError> {
    Ok(match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        other => return Err(AuthError::Algorithm(untrusted(other))),
    })
}

pub(crate) fn family_of(alg: Algorithm) -> Family {
    match alg {
        Algorithm::ES256 => Family::Ec("P-256"),
        Algorithm::ES384 => Family::Ec("P-384"),
        Algorithm::EdDSA => Family::Okp,
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => Family::Rsa,
        // Symmetric algorithms never reach this point (refused by name above); give them a
        // family no public key has.
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => Family::Okp,
    }
}

fn read_jwks(path: &PathBuf) -> Result<JwkSet, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not a JWKS: {e}", path.display()))
}

/// Public keys by kid. Symmetric keys (`kty: oct`) and keys without a kid are ignored.
pub(crate) fn load_keys(jwks: &JwkSet) -> HashMap<String, std::sync::Arc<Key>> {
    jwks.keys
        .iter()
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            let family = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => Family::Rsa,
                AlgorithmParameters::EllipticCurve(p) => Family::Ec(match p.curve {
                    jsonwebtoken::jwk::EllipticCurve::P256 => "P-256",
                    jsonwebtoken::jwk::EllipticCurve::P384 => "P-384",
                    _ => return None,
                }),
                AlgorithmParameters::OctetKeyPair(_) => Family::Okp,
                AlgorithmParameters::OctetKey(_) => return None,
            };
            let decoding = DecodingKey::from_jwk(jwk).ok()?;
            Some((
                kid,
                std::sync::Arc::new(Key {
                    decoding,
                    alg: jwk_alg(jwk),
                    family,
                }),
            ))
        })
        .collect()
}

fn jwk_alg(jwk: &Jwk) -> Option<Algorithm> {
    let name = serde_json::to_value(jwk.common.key_algorithm?).ok()?;
    name.as_str()?.parse().ok()
}

#[cfg(test)]
mod tests;
