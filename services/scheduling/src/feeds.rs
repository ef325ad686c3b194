//! Calendar feeds of a clinician's or a room's schedule, reached by a secret URL: calendar
//! apps subscribe by URL and cannot send a bearer token. A secret is
//! `<clinic>.<256 random bits>`; only its SHA-256 is kept, it is shown once, and revoking the
//! feed stops it at once. What a feed shows is rendered by [`crate::feed`]: the kind of visit,
//! the room or telehealth, the patient's initials (asked of the records service) — from 30
//! days back to 180 days ahead.

pub mod grpc;
pub mod store;

use std::collections::{HashMap, HashSet};

use futures::{StreamExt, TryStreamExt, stream};

use chrono::DateTime;
use iop_core::{ClinicianId, Error, FeedId, PatientId, Principal, RoomId, page};
use iop_kit::violations::Violations;

use crate::appointments::store::{AppointmentQuery, AppointmentStore};
use crate::feed;
use crate::references::References;
use crate::sight::Sight;
use store::{FeedQuery, FeedStore};

pub(crate) const KIND: &str = "calendar feed";

/// What a feed shows: this far back and ahead of now.
pub const DAYS_BACK: i64 = 30;
pub const DAYS_AHEAD: i64 = 180;
/// The most appointments one feed shows.
pub const MAX_EVENTS: usize = 5000;
/// Patients' initials asked of the records service at once.
const LOOKUPS: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feed {
    pub id: FeedId,
    pub clinician_id: Option<ClinicianId>,
    pub room_id: Option<RoomId>,
    pub revoked: bool,
    pub created_by: String,
    pub create_time_us: i64,
    pub revoked_by: String,
    pub revoke_time_us: i64,
}

/// What the gateway discloses when a calendar app fetches a feed.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub feed_id: FeedId,
    pub calendar: String,
    pub patient_ids: Vec<PatientId>,
}

#[derive(Clone)]
pub struct Feeds {
    store: FeedStore,
    refs: References,
    appointments: AppointmentStore,
}

fn missing(id: FeedId) -> Error {
    Error::NotFound {
        kind: KIND,
        id: id.to_string(),
    }
}

impl Feeds {
    pub fn new(store: FeedStore, refs: References, appointments: AppointmentStore) -> Self {
        Self {
            store,
            refs,
            appointments,
        }
    }

    /// Makes a feed of one clinician's or one room's schedule; answers it with its secret,
    /// which is never shown again. A clinician (without a role that keeps the clinic's
    /// schedules) makes one of their own schedule only.
    pub async fn create(
        &self,
        who: &Principal,
        clinician: Option<ClinicianId>,
        room: Option<RoomId>,
    ) -> Result<(Feed, String), Error> {
        let mut v = Violations::new("feed.");
        if clinician.is_some() == room.is_some() {
            v.push("clinician_id", "name a clinician or a room: exactly one");
        }
        v.finish()?;
        self.refs.exist(who, clinician, None).await?;
        if let Some(id) = room {
            self.refs
                .rooms
                .get(&who.tenant, id)
                .await?
                .ok_or_else(|| Error::NotFound {
                    kind: "room",
                    id: id.to_string(),
                })?;
        }
        self.allowed(who, clinician).await?;
        let secret = iop_auth::secrets::new_secret(&format!("{}.", who.tenant.as_str()));
        let made = Feed {
            id: FeedId::new(),
            clinician_id: clinician,
            room_id: room,
            revoked: false,
            created_by: who.subject.clone(),
            create_time_us: iop_core::now_micros(),
            revoked_by: String::new(),
            revoke_time_us: 0,
        };
        self.store
            .insert(&who.tenant, &made, &iop_auth::secrets::digest(&secret))
            .await?;
        Ok((made, secret))
    }

    /// A page of feeds, oldest first.
    pub async fn list(
        &self,
        who: &Principal,
        mut q: FeedQuery,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<Feed>, Option<String>), Error> {
        let size = page::page_size(page_size)?;
        let query = page::fingerprint(&["feeds", &format!("{:?}/{:?}", q.clinician, q.room)]);
        q.after = page::resume_after(page_token, query, store::parse_position)?;
        q.limit = size + 1;
        let mut rows = self.store.list(&who.tenant, &q).await?;
        let next = page::next_page(&mut rows, size, query, store::position);
        Ok((rows, next))
    }

    /// Revokes a feed: its URL stops working at once.
    pub async fn revoke(&self, who: &Principal, id: FeedId) -> Result<Feed, Error> {
        let feed = self
            .store
            .get(&who.tenant, id)
            .await?
            .ok_or_else(|| missing(id))?;
        self.allowed(who, feed.clinician_id).await?;
        if !feed.revoked {
            self.store
                .revoke(&who.tenant, id, &who.subject, iop_core::now_micros())
                .await?;
        }
        self.store
            .get(&who.tenant, id)
            .await?
            .ok_or_else(|| missing(id))
    }

    /// Whether `who` may make or revoke a feed of `clinician`'s schedule (`None`: a room's):
    /// whoever sees the whole schedule ([`Sight`]), a clinician only of their own — another's
    /// shows patients who are not theirs.
    async fn allowed(&self, who: &Principal, clinician: Option<ClinicianId>) -> Result<(), Error> {
        match Sight::of(who, &self.refs.clinicians).await? {
            Sight::All => Ok(()),
            Sight::Of(Some(own)) if clinician == Some(own) => Ok(()),
            Sight::Of(_) => Err(Error::PermissionDenied(
                "a clinician makes and revokes calendar feeds of their own schedule only".into(),
            )),
        }
    }

    /// The calendar of the feed in force whose secret is `secret`, in `who`'s clinic (the one
    /// the secret names): NOT_FOUND otherwise, saying nothing more.
    pub async fn render(&self, who: &Principal, secret: &str) -> Result<Rendered, Error> {
        let unknown = || Error::NotFound {
            kind: KIND,
            id: "of this address".into(),
        };
        let feed = self
            .store
            .by_digest(&who.tenant, &iop_auth::secrets::digest(secret))
            .await?
            .filter(|f| !f.revoked)
            .ok_or_else(unknown)?;
        let now = iop_core::now_micros();
        let day = 86_400_000_000;
        let rows = self
            .appointments
            .list(
                &who.tenant,
                &AppointmentQuery {
                    clinician: feed.clinician_id,
                    room: feed.room_id,
                    from_us: Some(now - DAYS_BACK * day),
                    to_us: Some(now + DAYS_AHEAD * day),
                    limit: MAX_EVENTS,
                    ..Default::default()
                },
            )
            .await?;
        let name = match (feed.clinician_id, feed.room_id) {
            (Some(id), _) => self
                .refs
                .clinicians
                .get(&who.tenant, id)
                .await?
                .map(|c| format!("{} {} — schedule", c.given_name, c.family_name)),
            (_, Some(id)) => self
                .refs
                .rooms
                .get(&who.tenant, id)
                .await?
                .map(|r| format!("{} — schedule", r.name)),
            _ => None,
        }
        .unwrap_or_else(|| "Schedule".into());
        // Each room and patient once; patients' initials asked of the records service a few
        // at a time rather than one after another.
        let mut rooms: HashMap<RoomId, String> = HashMap::new();
        for id in rows
            .iter()
            .filter_map(|a| a.room_id)
            .collect::<HashSet<_>>()
        {
            if let Some(room) = self.refs.rooms.get(&who.tenant, id).await? {
                rooms.insert(id, room.name);
            }
        }
        let patients: HashSet<PatientId> = rows.iter().filter_map(|a| a.patient_id).collect();
        let initials: HashMap<PatientId, Option<String>> =
            stream::iter(patients)
                .map(|id| async move {
                    Ok::<_, Error>((id, self.refs.patients.initials(who, id).await?))
                })
                .buffer_unordered(LOOKUPS)
                .try_collect()
                .await?;
        let entries: Vec<feed::Entry> = rows
            .iter()
            .filter_map(|a| {
                let span = a.span()?;
                Some(feed::Entry {
                    id: a.id.to_string(),
                    kind: feed::label(a.kind.as_str()),
                    span,
                    room: a.room_id.and_then(|r| rooms.get(&r).cloned()),
                    patient_initials: a
                        .patient_id
                        .and_then(|p| initials.get(&p).cloned().flatten()),
                    cancelled: !a.status.holds_time(),
                    updated: DateTime::from_timestamp_micros(a.create_time_us)
                        .unwrap_or(span.start),
                    revision: u32::try_from(a.version).unwrap_or(u32::MAX),
                })
            })
            .collect();
        Ok(Rendered {
            feed_id: feed.id,
            calendar: feed::render(&name, &entries),
            patient_ids: initials.into_keys().collect(),
        })
    }
}

#[cfg(test)]
mod tests;
