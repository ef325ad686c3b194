//! The gateway's signing key: ES256 (P-256), stored as a PKCS#8 PEM file, identified by its
//! RFC 7638 JWK thumbprint.

use std::path::Path;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use crate::claims::{AccessClaims, Audience};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read or write key file {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("key file {0} is not a PKCS#8 P-256 private key")]
    Invalid(String),
    #[error("cannot generate a key")]
    Generate,
    #[error("cannot sign token")]
    Sign(#[source] jsonwebtoken::errors::Error),
}

/// The elliptic curves we sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
}

impl Curve {
    fn signing(self) -> &'static aws_lc_rs::signature::EcdsaSigningAlgorithm {
        match self {
            Self::P256 => &ECDSA_P256_SHA256_FIXED_SIGNING,
            Self::P384 => &aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        }
    }

    fn coordinate_len(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::P256 => "P-256",
            Self::P384 => "P-384",
        }
    }

    pub fn algorithm(self) -> Algorithm {
        match self {
            Self::P256 => Algorithm::ES256,
            Self::P384 => Algorithm::ES384,
        }
    }
}

pub struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    curve: Curve,
    x: String,
    y: String,
}

impl SigningKey {
    /// A new ES256 (P-256) key: what the gateway signs with.
    pub fn generate() -> Result<Self, KeyError> {
        Self::generate_curve(Curve::P256)
    }

    /// A new key on `curve` (ES384 is what many SMART backend clients use).
    pub fn generate_curve(curve: Curve) -> Result<Self, KeyError> {
        let doc = EcdsaKeyPair::generate_pkcs8(curve.signing(), &SystemRandom::new())
            .map_err(|_| KeyError::Generate)?;
        Self::from_pkcs8(doc.as_ref()).ok_or(KeyError::Generate)
    }

    fn from_pkcs8(der: &[u8]) -> Option<Self> {
        let (curve, pair) = [Curve::P256, Curve::P384].into_iter().find_map(|c| {
            EcdsaKeyPair::from_pkcs8(c.signing(), der)
                .ok()
                .map(|p| (c, p))
        })?;
        let point = pair.public_key().as_ref();
        // Uncompressed SEC1 point: 0x04 || X || Y.
        let n = curve.coordinate_len();
        if point.len() != 1 + 2 * n || point[0] != 4 {
            return None;
        }
        let x = URL_SAFE_NO_PAD.encode(&point[1..=n]);
        let y = URL_SAFE_NO_PAD.encode(&point[n + 1..]);
        let crv = curve.name();
        // RFC 7638: the thumbprint hashes the required members in lexicographic order.
        let canonical = format!(r#"{{"crv":"{crv}","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            canonical.as_bytes(),
        ));
        Some(Self {
            kid,
            encoding: EncodingKey::from_ec_der(der),
            curve,
            x,
            y,
        })
    }

    /// Loads the key at `path`, creating it (mode 0600) when the file does not exist yet.
    pub fn load_or_create(path: &Path) -> Result<Self, KeyError> {
        let io = |source| KeyError::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(pem) => {
                Self::from_pem(&pem).ok_or_else(|| KeyError::Invalid(path.display().to_string()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let doc = EcdsaKeyPair::generate_pkcs8(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    &SystemRandom::new(),
                )
                .map_err(|_| KeyError::Generate)?;
                if let Some(parent) = path.parent() {
                    create_private_dir(parent).map_err(io)?;
                }
                match write_private(path, to_pem(doc.as_ref()).as_bytes()) {
                    Ok(()) => Self::from_pkcs8(doc.as_ref()).ok_or(KeyError::Generate),
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

    pub fn from_pem(pem: &str) -> Option<Self> {
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = STANDARD.decode(body.trim()).ok()?;
        Self::from_pkcs8(&der)
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half as a JWK (`use: sig`, `alg` ES256 or ES384).
    pub fn public_jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "EC",
            "crv": self.curve.name(),
            "x": self.x,
            "y": self.y,
            "kid": self.kid,
            "use": "sig",
            "alg": format!("{:?}", self.curve.algorithm()),
        })
    }

    /// A JWKS document with this key.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": [self.public_jwk()] })
    }

    /// Signs any claims with this key (`kid` set in the header).
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, KeyError> {
        let mut header = Header::new(self.curve.algorithm());
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(KeyError::Sign)
    }

    /// Signs the exact JSON texts given as header and payload (the header's `kid` and `alg`
    /// are whatever it says): for tests of what no well-behaved signer produces, such as a
    /// repeated claim name.
    pub fn sign_raw(&self, header_json: &str, payload_json: &str) -> Result<String, KeyError> {
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header_json),
            URL_SAFE_NO_PAD.encode(payload_json)
        );
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), &self.encoding, self.curve.algorithm())
                .map_err(KeyError::Sign)?;
        Ok(format!("{message}.{signature}"))
    }

    /// Mints an access token for `tenant`/`subject` valid for `ttl_secs`.
    pub fn mint(&self, grant: &Grant<'_>) -> Result<String, KeyError> {
        let now = crate::unix_now();
        self.sign(&AccessClaims {
            iss: grant.issuer.to_owned(),
            sub: grant.subject.to_owned(),
            aud: Audience::One(grant.audience.to_owned()),
            exp: now + grant.ttl_secs,
            nbf: Some(now),
            iat: Some(now),
            jti: Some(uuid::Uuid::now_v7().to_string()),
            tenant: Some(grant.tenant.to_owned()),
            roles: grant.roles.to_vec(),
            scope: grant.scopes.join(" "),
            client_id: grant.client_id.map(str::to_owned),
        })
    }
}

/// What an access token grants.
pub struct Grant<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    pub tenant: &'a str,
    pub subject: &'a str,
    pub roles: &'a [String],
    pub scopes: &'a [String],
    pub client_id: Option<&'a str>,
    pub ttl_secs: i64,
}

fn to_pem(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(chunk));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    pem
}

/// Creates a directory (and missing parents) readable by its owner only: it holds keys or
/// patient data. An existing directory is left as it is.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Writes a secret file readable by its owner only, atomically and never over an existing
/// file (`AlreadyExists` then): two processes starting at once cannot both create one, nor
/// read a half-written one.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&tmp).and_then(|mut file| {
        file.write_all(contents)?;
        file.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    linked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_created_once_and_reloaded_with_the_same_kid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/signing.pem");
        let first = SigningKey::load_or_create(&path).unwrap();
        let again = SigningKey::load_or_create(&path).unwrap();
        assert_eq!(first.kid(), again.kid());
        assert_eq!(first.public_jwk(), again.public_jwk());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(
                mode & 0o077,
                0,
                "private key must not be group/world readable"
            );
        }
    }

    #[test]
    fn es384_keys_sign_with_es384() {
        let key = SigningKey::generate_curve(Curve::P384).unwrap();
        assert_eq!(key.public_jwk()["alg"], "ES384");
        assert_eq!(key.public_jwk()["crv"], "P-384");
        let token = key.sign(&serde_json::json!({ "a": 1 })).unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&token).unwrap().alg,
            Algorithm::ES384
        );
    }

    #[test]
    fn garbage_key_file_is_an_error_not_a_new_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing.pem");
        std::fs::write(&path, "not a key").unwrap();
        assert!(matches!(
            SigningKey::load_or_create(&path),
            Err(KeyError::Invalid(_))
        ));
    }
}

/// The gateway's keys: the current one signs; retired ones (kept in `retired/` beside it)
/// still verify the tokens they signed until those expire, so rotation logs no one out.
pub struct KeyRing {
    pub current: SigningKey,
    pub retired: Vec<SigningKey>,
}

/// Retired keys older than this are deleted on rotation: longer than any token we sign lives.
pub const RETIRED_KEY_LIFETIME_SECS: u64 = 2 * 24 * 3600;

impl KeyRing {
    fn retired_dir(current: &Path) -> std::path::PathBuf {
        current.parent().unwrap_or(Path::new(".")).join("retired")
    }

    /// Loads the current key (creating it if missing) and every retired key.
    pub fn load_or_create(current: &Path) -> Result<Self, KeyError> {
        let key = SigningKey::load_or_create(current)?;
        Self::with_retired(current, key)
    }

    /// Loads the current key and every retired key; a missing current key is an error (a
    /// running gateway re-reading the ring must not create one in the middle of a rotation).
    pub fn load(current: &Path) -> Result<Self, KeyError> {
        let pem = std::fs::read_to_string(current).map_err(|source| KeyError::Io {
            path: current.display().to_string(),
            source,
        })?;
        let key = SigningKey::from_pem(&pem)
            .ok_or_else(|| KeyError::Invalid(current.display().to_string()))?;
        Self::with_retired(current, key)
    }

    /// Key ids, current first: two rings with the same ids hold the same keys.
    pub fn kids(&self) -> Vec<&str> {
        std::iter::once(&self.current)
            .chain(&self.retired)
            .map(SigningKey::kid)
            .collect()
    }

    fn with_retired(current: &Path, key: SigningKey) -> Result<Self, KeyError> {
        let mut retired = Vec::new();
        let dir = Self::retired_dir(current);
        if let Ok(entries) = std::fs::read_dir(&dir) {
            let mut paths: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
            paths.sort();
            for path in paths
                .into_iter()
                .filter(|p| p.extension().is_some_and(|e| e == "pem"))
            {
                let pem = std::fs::read_to_string(&path).map_err(|source| KeyError::Io {
                    path: path.display().to_string(),
                    source,
                })?;
                retired.push(
                    SigningKey::from_pem(&pem)
                        .ok_or_else(|| KeyError::Invalid(path.display().to_string()))?,
                );
            }
        }
        Ok(Self {
            current: key,
            retired,
        })
    }

    /// A JWKS with every key that may still verify a token: current first.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<_> = std::iter::once(&self.current)
            .chain(&self.retired)
            .map(SigningKey::public_jwk)
            .collect();
        serde_json::json!({ "keys": keys })
    }

    /// Retires the current key and makes a new one; forgets keys retired long ago. Running
    /// gateways pick the new key up when they next re-read the ring. Returns the new key id.
    pub fn rotate(current: &Path) -> Result<String, KeyError> {
        let io = |path: &Path, source| KeyError::Io {
            path: path.display().to_string(),
            source,
        };
        let old = SigningKey::load_or_create(current)?;
        let dir = Self::retired_dir(current);
        create_private_dir(&dir).map_err(|e| io(&dir, e))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let target = dir.join(format!("{now}-{}.pem", old.kid()));
        std::fs::rename(current, &target).map_err(|e| io(current, e))?;
        let new = SigningKey::load_or_create(current)?;
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for path in entries.filter_map(Result::ok).map(|e| e.path()) {
                let retired_at = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.split('-').next())
                    .and_then(|t| t.parse::<u64>().ok());
                if retired_at.is_some_and(|t| t + RETIRED_KEY_LIFETIME_SECS < now) {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        Ok(new.kid().to_owned())
    }
}

#[cfg(test)]
mod ring_tests {
    use super::*;

    #[test]
    fn rotation_keeps_the_old_key_for_verification() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/gateway-signing.pem");
        let first = KeyRing::load_or_create(&path).unwrap();
        let old_kid = first.current.kid().to_owned();
        let new_kid = KeyRing::rotate(&path).unwrap();
        assert_ne!(new_kid, old_kid);
        let ring = KeyRing::load_or_create(&path).unwrap();
        assert_eq!(ring.current.kid(), new_kid);
        assert_eq!(
            ring.retired
                .iter()
                .map(|k| k.kid().to_owned())
                .collect::<Vec<_>>(),
            std::slice::from_ref(&old_kid)
        );
        let kids: Vec<_> = ring.jwks()["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].clone())
            .collect();
        assert_eq!(
            kids,
            [serde_json::json!(new_kid), serde_json::json!(old_kid)]
        );
        // What a running gateway re-reads: the same ring, and never a key of its own making.
        assert_eq!(
            KeyRing::load(&path).unwrap().kids(),
            [new_kid.as_str(), old_kid.as_str()]
        );
        std::fs::remove_file(&path).unwrap();
        assert!(KeyRing::load(&path).is_err());
        assert!(!path.exists());
    }
}
