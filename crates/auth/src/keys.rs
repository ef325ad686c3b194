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
                    std::fs::create_dir_all(parent).map_err(io)?;
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
