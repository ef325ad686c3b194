//! Keys of trusted identity providers published at a `jwks_uri`: fetched at start, every
//! [`REFRESH_EVERY`], and when a token names a key we do not have (the IdP rotated) — at
//! most once per [`MIN_REFETCH`] per issuer, so forged key ids cannot make us hammer it.

use std::sync::Weak;
use std::time::{Duration, Instant};

use iop_auth::{TrustedIssuer, Verifier};
use jsonwebtoken::jwk::JwkSet;
use tokio::sync::Mutex;

use crate::auth::Authenticator;

pub const REFRESH_EVERY: Duration = Duration::from_secs(300);
pub const MIN_REFETCH: Duration = Duration::from_secs(10);
/// A JWKS is a few keys; anything larger is not one.
const MAX_JWKS_BYTES: usize = 1 << 20;

struct Source {
    issuer: String,
    uri: String,
    /// When a token with an unknown key id last made us fetch.
    on_demand: Mutex<Option<Instant>>,
}

pub struct RemoteKeys {
    sources: Vec<Source>,
    http: reqwest::Client,
}

impl RemoteKeys {
    /// The issuers of `trusted` that publish their keys at a `jwks_uri`; `None` when there
    /// are none (no HTTP client is built then).
    pub fn new(trusted: &[TrustedIssuer]) -> Option<Self> {
        let sources: Vec<Source> = trusted
            .iter()
            .filter_map(|t| {
                Some(Source {
                    issuer: t.issuer.clone(),
                    uri: t.jwks_uri.clone()?,
                    on_demand: Mutex::new(None),
                })
            })
            .collect();
        if sources.is_empty() {
            return None;
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Some(Self { sources, http })
    }

    /// Fetches every source; true when any keys were replaced. `on_demand` (an unknown key
    /// id) fetches a source only if its last on-demand fetch is [`MIN_REFETCH`] old;
    /// concurrent on-demand callers wait for one fetch instead of each making their own.
    pub async fn refresh(&self, verifier: &Verifier, on_demand: bool) -> bool {
        let mut any = false;
        for source in &self.sources {
            let mut last = source.on_demand.lock().await;
            if on_demand {
                if last.is_some_and(|t| t.elapsed() < MIN_REFETCH) {
                    continue;
                }
                *last = Some(Instant::now());
            }
            match self.fetch(&source.uri).await {
                Ok(jwks) => {
                    tracing::info!(issuer = %source.issuer, keys = jwks.keys.len(), "fetched jwks");
                    any |= verifier.replace_jwks(&source.issuer, &jwks);
                }
                Err(e) => {
                    tracing::warn!(issuer = %source.issuer, uri = %source.uri, error = %e, "cannot fetch jwks");
                }
            }
        }
        any
    }

    async fn fetch(&self, uri: &str) -> Result<JwkSet, String> {
        let res = self
            .http
            .get(uri)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !res.status().is_success() {
            return Err(format!("status {}", res.status()));
        }
        if res
            .content_length()
            .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
        {
            return Err("response too large".into());
        }
        let body = res.bytes().await.map_err(|e| e.to_string())?;
        if body.len() > MAX_JWKS_BYTES {
            return Err("response too large".into());
        }
        serde_json::from_slice(&body).map_err(|e| format!("not a JWKS: {e}"))
    }
}

/// Fetches at start and then every [`REFRESH_EVERY`], until the gateway is gone.
pub(crate) async fn keep_fresh(auth: Weak<Authenticator>) {
    let mut tick = tokio::time::interval(REFRESH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(auth) = auth.upgrade() else { return };
        auth.refresh_remote_keys(false).await;
    }
}
