//! Refused token requests, audited without letting a client that keeps failing grow the
//! trail without bound: per client, the first few refusals of a minute are recorded one by
//! one; the rest are counted, and one summary event records how many there were.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::audit::AuditEvent;

/// Refusals recorded one by one per client and window.
pub const INDIVIDUAL: u32 = 5;
/// The window.
pub const WINDOW: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct Refusals {
    windows: Mutex<HashMap<String, Window>>,
}

struct Window {
    started: Instant,
    recorded: u32,
    suppressed: u32,
    /// The latest suppressed refusal: what the summary says, with a count.
    last: Option<AuditEvent>,
}

impl Window {
    fn summary(&mut self) -> Option<AuditEvent> {
        let mut last = self.last.take()?;
        last.status = format!(
            "{} (and {} more refused within {} s, not recorded one by one)",
            last.status,
            self.suppressed - 1,
            WINDOW.as_secs()
        );
        Some(last)
    }
}

impl Refusals {
    /// The events to record for this refusal of `client`: itself while the client has had
    /// few of late, nothing while it has had many (counted instead), and the summary of the
    /// last window when a new one starts.
    pub fn admit(&self, client: &str, refusal: AuditEvent) -> Vec<AuditEvent> {
        let Ok(mut windows) = self.windows.lock() else {
            return vec![refusal];
        };
        let now = Instant::now();
        let window = windows.entry(client.to_owned()).or_insert(Window {
            started: now,
            recorded: 0,
            suppressed: 0,
            last: None,
        });
        let mut events = Vec::new();
        if now.duration_since(window.started) >= WINDOW {
            events.extend(window.summary());
            *window = Window {
                started: now,
                recorded: 0,
                suppressed: 0,
                last: None,
            };
        }
        if window.recorded < INDIVIDUAL {
            window.recorded += 1;
            events.push(refusal);
        } else {
            window.suppressed += 1;
            window.last = Some(refusal);
        }
        events
    }

    /// Summaries of the windows that ended, which are then forgotten: call it every
    /// [`WINDOW`] so that counts are recorded even when the client goes quiet.
    pub fn flush(&self) -> Vec<AuditEvent> {
        let Ok(mut windows) = self.windows.lock() else {
            return Vec::new();
        };
        let mut events = Vec::new();
        windows.retain(|_, w| {
            if w.started.elapsed() < WINDOW {
                return true;
            }
            events.extend(w.summary());
            false
        });
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Outcome;

    fn refusal(i: u32) -> AuditEvent {
        let who = iop_core::Principal {
            tenant: iop_core::TenantId::parse("t").unwrap(),
            subject: "c".into(),
            client_id: Some("c".into()),
            issuer: "c".into(),
            roles: vec![],
            scopes: vec![],
            request_id: format!("r{i}"),
            source_addr: None,
        };
        let mut e = AuditEvent::new(
            &who,
            "token.issue",
            "Client",
            Outcome::Denied,
            tonic::Code::Ok,
        );
        e.status = "invalid_client".into();
        e
    }

    #[test]
    fn a_flood_of_refusals_is_a_few_events_and_a_count() {
        let refusals = Refusals::default();
        let recorded: usize = (0..1000)
            .map(|i| refusals.admit("c", refusal(i)).len())
            .sum();
        assert_eq!(recorded, INDIVIDUAL as usize);
        // Another client has its own window.
        assert_eq!(refusals.admit("d", refusal(0)).len(), 1);
        // The window has not ended: nothing to flush yet.
        assert!(refusals.flush().is_empty());
        if let Ok(mut w) = refusals.windows.lock() {
            for window in w.values_mut() {
                window.started -= WINDOW;
            }
        }
        let summaries = refusals.flush();
        assert_eq!(summaries.len(), 1);
        assert_eq!(
            summaries[0].status,
            "invalid_client (and 994 more refused within 60 s, not recorded one by one)"
        );
        assert_eq!(summaries[0].request_id, "r999");
    }
}
