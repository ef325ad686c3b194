//! A track's sessions: laid out from its weekly pattern ([`crate::schedule`]) for the weeks
//! ahead when the track is created, each holding its room and facilitators in the
//! scheduling service, so no appointment, other track or hold takes them.
//!
//! A track and its sessions are written first, `pending`; then each session's hold is
//! placed, keyed by the session's id (placing it again is the same hold); then the track is
//! `active`. If any hold clashes, every hold placed is released and the track and its
//! sessions are removed: the create is refused naming each clash. A crash in between leaves
//! the track pending: a retry of the create with its key, or the worker ([`Sessions::run`])
//! a minute later, settles it the same way — no room stays held by a track that does not
//! exist, and no track is active with a session that holds nothing.

pub mod store;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Days, NaiveDate, Utc};
use iop_core::{Error, FieldViolation, Principal, TrackId};

use crate::schedule::{self, Planned};
use crate::sites::{Held, HoldRequest, Sites};
use crate::tracks::Track;
use store::SessionStore;

/// How far ahead a new track's sessions are laid out and held: four weeks.
pub const HORIZON_DAYS: u64 = 28;
/// A pending track older than this is the worker's to settle (its create has given up).
const PATIENCE_US: i64 = 60_000_000;
/// How often the worker looks.
const EVERY: Duration = Duration::from_secs(5);

/// A session of a track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: iop_core::SessionId,
    pub track_id: TrackId,
    pub planned: Planned,
    /// The scheduling service's hold; empty until placed.
    pub hold_id: String,
}

/// The local dates a new track's sessions are laid out over: from its start (or today, in
/// its zone) for [`HORIZON_DAYS`].
pub fn horizon(track: &Track, today: NaiveDate) -> (NaiveDate, NaiveDate) {
    let from = today.max(track.start_date);
    let to = from
        .checked_add_days(Days::new(HORIZON_DAYS - 1))
        .unwrap_or(from);
    (from, to)
}

/// The sessions of `track` over `from..=to`, each with a new id and no hold yet.
pub fn lay_out(track: &Track, tz: chrono_tz::Tz, from: NaiveDate, to: NaiveDate) -> Vec<Session> {
    schedule::sessions(track, tz, from, to)
        .into_iter()
        .map(|planned| Session {
            id: iop_core::SessionId::new(),
            track_id: track.id,
            planned,
            hold_id: String::new(),
        })
        .collect()
}

#[derive(Clone)]
pub struct Sessions {
    store: SessionStore,
    sites: Arc<dyn Sites>,
}

impl Sessions {
    pub fn new(store: SessionStore, sites: Arc<dyn Sites>) -> Self {
        Self { store, sites }
    }

    pub fn store(&self) -> &SessionStore {
        &self.store
    }

    /// Holds every session of the pending `track` that holds nothing yet, then makes the
    /// track active. On a clash releases every hold of the track, removes it with its
    /// sessions and answers 409 naming each clashing session (`sessions[<date>]`).
    pub async fn settle(&self, who: &Principal, track: &Track) -> Result<(), Error> {
        let sessions = self.store.of_track(&who.tenant, track.id).await?;
        let mut clashes = Vec::new();
        for s in sessions.iter().filter(|s| s.hold_id.is_empty()) {
            let request = HoldRequest {
                key: format!("group-session:{}", s.id),
                location_id: track.location_id,
                room_id: track.room_id,
                clinician_ids: track.facilitator_clinician_ids.clone(),
                start: s.planned.start,
                end: s.planned.end,
            };
            match self.sites.hold(who, &request).await? {
                Held::Placed(id) => self.store.set_hold(&who.tenant, s.id, &id).await?,
                Held::Clash(why) => clashes.push(FieldViolation {
                    field: format!("sessions[{}]", s.planned.date),
                    description: why,
                }),
            }
        }
        if clashes.is_empty() {
            return self.store.activate(&who.tenant, track.id).await;
        }
        for s in self.store.of_track(&who.tenant, track.id).await? {
            if !s.hold_id.is_empty() {
                self.sites
                    .release(
                        who,
                        &s.hold_id,
                        "the track was refused: another session clashed",
                    )
                    .await?;
            }
        }
        self.store.remove_track(&who.tenant, track.id).await?;
        Err(Error::Clashes(clashes))
    }

    /// Settles pending tracks whose create gave up, for as long as the service serves.
    pub async fn run(self, tracks: crate::tracks::store::TrackStore) {
        let mut every = tokio::time::interval(EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if let Err(e) = self.step(&tracks, iop_core::now_micros()).await {
                tracing::warn!(error = %e, "settling pending tracks failed; trying again");
            }
        }
    }

    /// One step at `now_us`: each track still pending a minute after it was created is
    /// settled (made active, or removed for a clash). Answers how many were.
    pub async fn step(
        &self,
        tracks: &crate::tracks::store::TrackStore,
        now_us: i64,
    ) -> Result<usize, Error> {
        let mut settled = 0;
        for (tenant, track) in tracks.pending(now_us - PATIENCE_US).await? {
            let who = iop_kit::principal::worker(tenant, "groups", "sessions");
            match self.settle(&who, &track).await {
                Ok(()) | Err(Error::Clashes(_)) => settled += 1,
                Err(e) => tracing::warn!(error = %e, track = %track.id, "settling a track failed"),
            }
        }
        Ok(settled)
    }
}

/// Today in `tz`.
pub fn today(tz: chrono_tz::Tz, now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&tz).date_naive()
}
