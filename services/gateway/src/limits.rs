//! Rate limits, kept in this gateway replica's memory: a token bucket per client (tenant,
//! issuer, client or subject) for authenticated calls, and one per source address for
//! everything that comes without a token already known good — bad or new tokens, token
//! requests. Over the limit, REST gets 429 with `Retry-After` and gRPC gets
//! RESOURCE_EXHAUSTED with a `retry-after` entry.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use iop_core::Principal;

/// Request rates, per minute sustained and as a burst above that; a rate of 0 turns that
/// limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Each client (tenant, issuer, client or user), authenticated calls.
    pub per_client_per_minute: u32,
    pub per_client_burst: u32,
    /// Each source address, for calls without a token known to be good and token requests.
    pub per_address_per_minute: u32,
    pub per_address_burst: u32,
}

impl Default for RateLimits {
    /// 100/s per client with bursts of 200; 10/s per address with bursts of 100.
    fn default() -> Self {
        Self {
            per_client_per_minute: 6000,
            per_client_burst: 200,
            per_address_per_minute: 600,
            per_address_burst: 100,
        }
    }
}

impl RateLimits {
    /// No limits at all (benchmarks).
    pub fn off() -> Self {
        Self {
            per_client_per_minute: 0,
            per_client_burst: 0,
            per_address_per_minute: 0,
            per_address_burst: 0,
        }
    }
}

pub struct Limiter {
    inner: Option<DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
}

impl Limiter {
    /// `per_minute` sustained, bursts up to `burst`; `per_minute == 0` turns limits off.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        let inner = NonZeroU32::new(per_minute).map(|rate| {
            let quota = Quota::per_minute(rate).allow_burst(NonZeroU32::new(burst).unwrap_or(rate));
            RateLimiter::keyed(quota)
        });
        Self {
            inner,
            clock: DefaultClock::default(),
        }
    }

    /// `Err(wait)` when `who` has to slow down.
    pub fn check(&self, who: &Principal) -> Result<(), Duration> {
        let client = who.client_id.as_deref().unwrap_or(&who.subject);
        self.check_key(format!(
            "{}\u{1f}{}\u{1f}{}",
            who.tenant, who.issuer, client
        ))
    }

    /// `Err(wait)` when the source address `addr` (unknown: one shared bucket) has to slow
    /// down.
    pub fn check_address(&self, addr: Option<&str>) -> Result<(), Duration> {
        self.check_key(format!("addr\u{1f}{}", addr.unwrap_or("unknown")))
    }

    fn check_key(&self, key: String) -> Result<(), Duration> {
        let Some(limiter) = &self.inner else {
            return Ok(());
        };
        limiter
            .check_key(&key)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Forgets clients idle long enough to be back at a full bucket.
    pub fn sweep(&self) {
        if let Some(limiter) = &self.inner {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// Whole seconds to announce in `Retry-After` (at least one).
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0).max(u64::from(wait.as_secs() == 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use iop_core::TenantId;

    fn who(subject: &str) -> Principal {
        Principal {
            tenant: TenantId::parse("t").unwrap(),
            subject: subject.into(),
            client_id: None,
            issuer: "i".into(),
            roles: vec![],
            scopes: vec![],
            request_id: "r".into(),
            source_addr: None,
        }
    }

    #[test]
    fn each_client_has_its_own_bucket() {
        let limiter = Limiter::new(1, 2);
        assert!(limiter.check(&who("a")).is_ok());
        assert!(limiter.check(&who("a")).is_ok());
        let wait = limiter.check(&who("a")).unwrap_err();
        assert!(wait > Duration::from_secs(1));
        assert!(limiter.check(&who("b")).is_ok());
    }

    #[test]
    fn zero_turns_limits_off() {
        let limiter = Limiter::new(0, 0);
        for _ in 0..1000 {
            assert!(limiter.check(&who("a")).is_ok());
        }
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
    }
}
