//! The gateway's signing keys, re-read from disk while it runs: after `iop keys rotate`
//! the new key signs and is published, and the retired ones keep verifying, without a
//! restart. Replicas sharing the key directory converge within one reload interval.

use std::path::PathBuf;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use iop_auth::keys::KeyRing;
use jsonwebtoken::jwk::JwkSet;

use crate::auth::Authenticator;

pub struct SigningKeys {
    ring: RwLock<Arc<KeyRing>>,
    /// The current key's file; `None` keeps the ring given at start.
    file: Option<PathBuf>,
}

impl SigningKeys {
    pub fn new(ring: Arc<KeyRing>, file: Option<PathBuf>) -> Self {
        Self {
            ring: RwLock::new(ring),
            file,
        }
    }

    /// The ring as last read: its current key signs, all of its keys verify.
    pub fn ring(&self) -> Arc<KeyRing> {
        match self.ring.read() {
            Ok(ring) => ring.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Re-reads the key files; returns the ring when it changed. A missing or unreadable
    /// current key (a rotation under way) keeps the ring as it is.
    fn reload(&self) -> Option<Arc<KeyRing>> {
        let file = self.file.as_ref()?;
        let fresh = match KeyRing::load(file) {
            Ok(ring) => ring,
            Err(e) => {
                tracing::debug!(error = %e, "signing keys not re-read this time");
                return None;
            }
        };
        if fresh.kids() == self.ring().kids() {
            return None;
        }
        let fresh = Arc::new(fresh);
        match self.ring.write() {
            Ok(mut ring) => *ring = fresh.clone(),
            Err(poisoned) => *poisoned.into_inner() = fresh.clone(),
        }
        Some(fresh)
    }
}

/// Re-reads the keys every `every` and hands the new public keys to the verifier, until the
/// gateway is gone.
pub(crate) async fn watch(
    keys: Weak<SigningKeys>,
    auth: Weak<Authenticator>,
    issuer: String,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let (Some(keys), Some(auth)) = (keys.upgrade(), auth.upgrade()) else {
            return;
        };
        let Some(ring) = keys.reload() else { continue };
        match serde_json::from_value::<JwkSet>(ring.jwks()) {
            Ok(jwks) => {
                auth.verifier().replace_jwks(&issuer, &jwks);
                tracing::info!(
                    kid = ring.current.kid(),
                    retired = ring.retired.len(),
                    "signing keys reloaded"
                );
            }
            Err(e) => tracing::error!(error = %e, "reloaded signing keys do not form a JWKS"),
        }
    }
}
