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
    loaded: RwLock<Loaded>,
    /// The current key's file; `None` keeps the ring given at start.
    file: Option<PathBuf>,
}

/// A ring and its public JWKS as JSON text, made once per ring: `/.well-known/jwks.json`
/// is public and is served as is.
#[derive(Clone)]
struct Loaded {
    ring: Arc<KeyRing>,
    jwks: Arc<str>,
}

impl Loaded {
    fn new(ring: Arc<KeyRing>) -> Self {
        let jwks = ring.jwks().to_string().into();
        Self { ring, jwks }
    }
}

impl SigningKeys {
    pub fn new(ring: Arc<KeyRing>, file: Option<PathBuf>) -> Self {
        Self {
            loaded: RwLock::new(Loaded::new(ring)),
            file,
        }
    }

    fn loaded(&self) -> Loaded {
        match self.loaded.read() {
            Ok(l) => l.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The ring as last read: its current key signs, all of its keys verify.
    pub fn ring(&self) -> Arc<KeyRing> {
        self.loaded().ring
    }

    /// The public keys of [`Self::ring`], current first, as JSON.
    pub fn jwks(&self) -> Arc<str> {
        self.loaded().jwks
    }

    /// Re-reads the key files; returns the new public keys when the ring changed. A missing
    /// or unreadable current key (a rotation under way) keeps the ring as it is.
    fn reload(&self) -> Option<Loaded> {
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
        let fresh = Loaded::new(Arc::new(fresh));
        match self.loaded.write() {
            Ok(mut l) => *l = fresh.clone(),
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
        let Some(fresh) = keys.reload() else { continue };
        match serde_json::from_str::<JwkSet>(&fresh.jwks) {
            Ok(jwks) => {
                auth.verifier().replace_jwks(&issuer, &jwks);
                tracing::info!(
                    kid = fresh.ring.current.kid(),
                    retired = fresh.ring.retired.len(),
                    "signing keys reloaded"
                );
            }
            Err(e) => tracing::error!(error = %e, "reloaded signing keys do not form a JWKS"),
        }
    }
}
