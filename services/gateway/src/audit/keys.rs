//! The audit trail's keys, kept outside the database: whoever can write the database but does
//! not hold these cannot forge events or checkpoints.
//!
//! - The **chain key** (HMAC-SHA256) makes each event's hash a keyed MAC of the previous
//!   hash and the event: a row edited, inserted or re-chained without the key does not check.
//! - The **checkpoint key** (Ed25519) signs checkpoints — (sequence, head hash, time) — that
//!   the writer appends to a file outside the database: a trail cut short, or deleted whole,
//!   no longer reaches the last checkpoint.

use std::path::{Path, PathBuf};

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use aws_lc_rs::{digest, hmac};
use iop_auth::hex::{decode as unhex, encode as hex};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read or write {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} does not hold a usable key")]
    Invalid(String),
}

/// The keys of one gateway's trail.
pub struct AuditKeys {
    chain: hmac::Key,
    checkpoint: Ed25519KeyPair,
}

/// Where the keys and the checkpoint file live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFiles {
    pub chain_key: PathBuf,
    pub checkpoint_key: PathBuf,
    /// Append-only: one signed checkpoint per line.
    pub checkpoints: PathBuf,
}

impl AuditFiles {
    /// The default places: keys in `<data>/keys/`, checkpoints in `<data>/`.
    pub fn in_data_dir(data_dir: &Path) -> Self {
        Self::in_keys_dir(&data_dir.join("keys"))
    }

    /// Keys in `keys_dir`, checkpoints in its parent (the data directory's layout).
    pub fn in_keys_dir(keys_dir: &Path) -> Self {
        let data_dir = keys_dir.parent().unwrap_or(keys_dir);
        Self {
            chain_key: keys_dir.join("audit-chain.key"),
            checkpoint_key: keys_dir.join("audit-checkpoint.key"),
            checkpoints: data_dir.join("audit-checkpoints.jsonl"),
        }
    }
}

impl AuditKeys {
    /// Fresh keys, for tests.
    pub fn generate() -> Result<Self, KeyError> {
        let mut secret = [0u8; 32];
        aws_lc_rs::rand::fill(&mut secret).map_err(|_| KeyError::Invalid("rng".into()))?;
        let checkpoint = Ed25519KeyPair::generate().map_err(|_| KeyError::Invalid("rng".into()))?;
        Ok(Self {
            chain: hmac::Key::new(hmac::HMAC_SHA256, &secret),
            checkpoint,
        })
    }

    /// Loads the keys from `files`, creating them (mode 0600) on first start.
    pub fn load_or_create(files: &AuditFiles) -> Result<Self, KeyError> {
        Self::read(files, true)
    }

    /// Loads existing keys (for `iop audit verify`, which must not make new ones).
    pub fn load(files: &AuditFiles) -> Result<Self, KeyError> {
        Self::read(files, false)
    }

    fn read(files: &AuditFiles, create: bool) -> Result<Self, KeyError> {
        let secret = load_or_create(&files.chain_key, create, || {
            let mut secret = [0u8; 32];
            aws_lc_rs::rand::fill(&mut secret).map(|()| secret.to_vec())
        })?;
        let pkcs8 = load_or_create(&files.checkpoint_key, create, || {
            Ed25519KeyPair::generate()
                .and_then(|k| k.to_pkcs8())
                .map(|doc| doc.as_ref().to_vec())
        })?;
        let checkpoint = Ed25519KeyPair::from_pkcs8(&pkcs8)
            .map_err(|_| KeyError::Invalid(files.checkpoint_key.display().to_string()))?;
        if secret.len() < 32 {
            return Err(KeyError::Invalid(files.chain_key.display().to_string()));
        }
        Ok(Self {
            chain: hmac::Key::new(hmac::HMAC_SHA256, &secret),
            checkpoint,
        })
    }

    /// The keyed hash of a chain link's canonical bytes.
    pub(super) fn mac(&self, bytes: &[u8]) -> String {
        hex(hmac::sign(&self.chain, bytes).as_ref())
    }

    pub(super) fn sign(&self, message: &[u8]) -> String {
        hex(self.checkpoint.sign(message).as_ref())
    }

    pub(super) fn verify_signature(&self, message: &[u8], signature_hex: &str) -> bool {
        let Some(signature) = unhex(signature_hex) else {
            return false;
        };
        UnparsedPublicKey::new(&ED25519, self.checkpoint.public_key().as_ref())
            .verify(message, &signature)
            .is_ok()
    }
}

/// The unkeyed hash of the trail's first version, for events written before the chain was
/// keyed.
pub(super) fn sha256(bytes: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, bytes).as_ref())
}

/// The hex bytes in `path`; when it does not exist and `create`, new ones from `make`.
fn load_or_create(
    path: &Path,
    create: bool,
    make: impl FnOnce() -> Result<Vec<u8>, aws_lc_rs::error::Unspecified>,
) -> Result<Vec<u8>, KeyError> {
    let io = |source| KeyError::Io {
        path: path.display().to_string(),
        source,
    };
    let read = || match std::fs::read_to_string(path) {
        Ok(text) => {
            Some(unhex(text.trim()).ok_or_else(|| KeyError::Invalid(path.display().to_string())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => Some(Err(io(e))),
    };
    if let Some(found) = read() {
        return found;
    }
    if !create {
        return Err(io(std::io::ErrorKind::NotFound.into()));
    }
    let bytes = make().map_err(|_| KeyError::Invalid(path.display().to_string()))?;
    if let Some(parent) = path.parent() {
        iop_auth::keys::create_private_dir(parent).map_err(io)?;
    }
    match iop_auth::keys::write_private(path, format!("{}\n", hex(&bytes)).as_bytes()) {
        Ok(()) => Ok(bytes),
        // Another process made it a moment ago: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read().unwrap_or(Err(io(e))),
        Err(e) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let files = AuditFiles::in_data_dir(dir.path());
        let first = AuditKeys::load_or_create(&files).unwrap();
        let again = AuditKeys::load_or_create(&files).unwrap();
        assert_eq!(first.mac(b"x"), again.mac(b"x"));
        let signature = first.sign(b"checkpoint");
        assert!(again.verify_signature(b"checkpoint", &signature));
        assert!(!again.verify_signature(b"checkpoint!", &signature));
        assert_ne!(first.mac(b"x"), sha256(b"x"));
        #[cfg(unix)]
        for file in [&files.chain_key, &files.checkpoint_key] {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(file).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{}", file.display());
        }
    }
}
