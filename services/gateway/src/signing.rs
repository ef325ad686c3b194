//! The gateway's signing keys, re-read from disk while it runs: after `iop keys rotate`
//! the new key signs and is published, and the retired ones keep verifying, without a
//! restart. Replicas sharing the key directory converge within one reload interval.

use std::path::PathBuf;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use iop_auth::Verifier;
use iop_auth::keys::KeyRing;
use jsonwebtoken::jwk::JwkSet;

use crate::auth::Authenticator;

/// Least time between two re-reads caused by tokens naming a key id we do not know, so
/// forged key ids cannot make us read the key files on every request.
pub const MIN_ON_DEMAND_RELOAD: Duration = Duration::from_secs(1);

pub struct SigningKeys {
    loaded: RwLock<Loaded>,
    /// The current key's file; `None` keeps the ring given at start.
    file: Option<PathBuf>,
    /// `iss` of our tokens: the verifier's entry whose keys these are.
    issuer: String,
    /// When a token with an unknown key id last made us re-read the files.
    on_demand: tokio::sync::Mutex<Option<Instant>>,
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
    pub fn new(ring: Arc<KeyRing>, file: Option<PathBuf>, issuer: &str) -> Self {
        Self {
            loaded: RwLock::new(Loaded::new(ring)),
            file,
            issuer: issuer.to_owned(),
            on_demand: tokio::sync::Mutex::new(None),
        }
    }

    /// Whether the keys are re-read from a file at all.
    pub fn reloadable(&self) -> bool {
        self.file.is_some()
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

impl SigningKeys {
    /// Re-reads the key files and, when the ring changed, hands its public keys to
    /// `verifier`; true when it did.
    pub(crate) fn refresh(&self, verifier: &Verifier) -> bool {
        let Some(fresh) = self.reload() else {
            return false;
        };
        match serde_json::from_str::<JwkSet>(&fresh.jwks) {
            Ok(jwks) => {
                verifier.replace_jwks(&self.issuer, &jwks);
                tracing::info!(
                    kid = fresh.ring.current.kid(),
                    retired = fresh.ring.retired.len(),
                    "signing keys reloaded"
                );
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "reloaded signing keys do not form a JWKS");
                false
            }
        }
    }

    /// [`Self::refresh`] for a token that names a key id we do not know: `iop keys rotate`
    /// may have just made it, and a token minted with it must verify at once rather than
    /// after the next periodic reload. At most once per [`MIN_ON_DEMAND_RELOAD`];
    /// concurrent callers wait for one re-read instead of each making their own.
    pub(crate) async fn refresh_on_demand(&self, verifier: &Verifier) -> bool {
        if !self.reloadable() {
            return false;
        }
        let mut last = self.on_demand.lock().await;
        if last.is_some_and(|t| t.elapsed() < MIN_ON_DEMAND_RELOAD) {
            return false;
        }
        *last = Some(Instant::now());
        self.refresh(verifier)
    }
}

/// Re-reads the keys every `every` and hands the new public keys to the verifier, until the
/// gateway is gone.
pub(crate) async fn watch(keys: Weak<SigningKeys>, auth: Weak<Authenticator>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let (Some(keys), Some(auth)) = (keys.upgrade(), auth.upgrade()) else {
            return;
        };
        keys.refresh(auth.verifier());
    }
}
