//! A program's tracks: rolling groups that meet on a weekly pattern in local time (Mondays,
//! Wednesdays and Thursdays 18:00–21:00 in the location's zone), at a location of the
//! scheduling service, in one of its rooms or by video, with default facilitators, a capacity
//! and a curriculum of topics its sessions rotate through.

pub mod grpc;
pub mod store;

use std::sync::Arc;

use chrono::{NaiveDate, NaiveTime};
use iop_core::{ClinicianId, Error, LocationId, Principal, ProgramId, RoomId, TrackId, page};
use iop_kit::idempotency::{self, Claim, Key};
use iop_kit::text;
use iop_kit::violations::Violations;

use crate::programs::Modality;
use crate::programs::store::ProgramStore;
use crate::sessions::{self, Sessions};
use crate::sites::Sites;
use store::TrackStore;

pub(crate) const KIND: &str = "track";

/// Seats of a track unless it says otherwise: twelve, the largest group many payers
/// reimburse group psychotherapy (CPT 90853) for.
pub const DEFAULT_CAPACITY: i32 = 12;
/// The most seats a track may have.
pub const MAX_CAPACITY: i32 = 30;
/// The most facilitators a track names.
pub const MAX_FACILITATORS: usize = 4;
/// The most topics of a curriculum (a year of weekly topics).
pub const MAX_TOPICS: usize = 52;

pub use iop_kit::dates::Day;

/// A day and the local times a track meets on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Meeting {
    pub day: Day,
    pub start: NaiveTime,
    pub end: NaiveTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track {
    pub id: TrackId,
    pub program_id: ProgramId,
    pub name: String,
    pub location_id: LocationId,
    pub room_id: Option<RoomId>,
    pub modality: Modality,
    /// By day of the week, Monday first.
    pub meetings: Vec<Meeting>,
    pub facilitator_clinician_ids: Vec<ClinicianId>,
    pub capacity: i32,
    pub curriculum: Vec<String>,
    pub start_date: NaiveDate,
    pub active: bool,
    pub create_time_us: i64,
}

/// What a client sends to create one.
#[derive(Debug, Clone, Default, Hash)]
pub struct NewTrack {
    pub program_id: Option<ProgramId>,
    pub name: String,
    pub location_id: Option<LocationId>,
    pub room_id: Option<RoomId>,
    pub modality: Option<Modality>,
    pub meetings: Vec<Meeting>,
    pub facilitator_clinician_ids: Vec<ClinicianId>,
    /// 0: [`DEFAULT_CAPACITY`].
    pub capacity: i32,
    pub curriculum: Vec<String>,
    pub start_date: Option<NaiveDate>,
    pub active: bool,
}

impl NewTrack {
    fn check(&self) -> Result<(), Error> {
        let mut v = Violations::new("track.");
        if self.program_id.is_none() {
            v.push("program_id", "is required");
        }
        v.text("name", &self.name, text::NAME);
        if self.location_id.is_none() {
            v.push("location_id", "is required");
        }
        match self.modality {
            None => v.push("modality", "is required"),
            Some(Modality::Hybrid) => v.push(
                "modality",
                "is in_person or telehealth for a track (a program may be hybrid)",
            ),
            Some(Modality::InPerson) if self.room_id.is_none() => {
                v.push("room_id", "is required to meet in person")
            }
            Some(Modality::Telehealth) if self.room_id.is_some() => {
                v.push("room_id", "must be empty for a telehealth track")
            }
            Some(_) => {}
        }
        if self.meetings.is_empty() || self.meetings.len() > 7 {
            v.push("meetings", "must list 1 to 7 meetings a week");
        }
        for (i, m) in self.meetings.iter().enumerate() {
            if self.meetings[..i].iter().any(|o| o.day == m.day) {
                v.push(&format!("meetings[{i}].day"), "meets once a day at most");
            }
            if m.end <= m.start {
                v.rule(
                    &format!("meetings[{i}].end_time"),
                    "must be after start_time",
                );
            }
        }
        if self.facilitator_clinician_ids.is_empty()
            || self.facilitator_clinician_ids.len() > MAX_FACILITATORS
        {
            v.push("facilitator_clinician_ids", "must list 1 to 4 clinicians");
        }
        v.unique("facilitator_clinician_ids", &self.facilitator_clinician_ids);
        if self.capacity != 0 && !(2..=MAX_CAPACITY).contains(&self.capacity) {
            v.push("capacity", "must be 2 to 30 (or 0 for 12)");
        }
        if self.curriculum.len() > MAX_TOPICS {
            v.push("curriculum", "may list at most 52 topics");
        }
        for (i, topic) in self.curriculum.iter().enumerate() {
            v.text(&format!("curriculum[{i}]"), topic, text::NAME);
        }
        if self.start_date.is_none() {
            v.push("start_date", "is required");
        }
        v.finish()
    }
}

#[derive(Clone)]
pub struct Tracks {
    store: TrackStore,
    programs: ProgramStore,
    sessions: Sessions,
    sites: Arc<dyn Sites>,
}

impl Tracks {
    pub fn new(
        store: TrackStore,
        programs: ProgramStore,
        sessions: Sessions,
        sites: Arc<dyn Sites>,
    ) -> Self {
        Self {
            store,
            programs,
            sessions,
            sites,
        }
    }

    /// Creates a track of an active program, at a location of the clinic, in an active room
    /// of that location seating its capacity (or by video), with active facilitators; its
    /// modality must be one its program offers. A reference that is not there is 404; one
    /// that cannot take part, 409 naming the field.
    pub async fn create(
        &self,
        who: &Principal,
        new: NewTrack,
        request_id: &str,
    ) -> Result<Track, Error> {
        new.check()?;
        let key = Key::parse(request_id, &new)?;
        let (Some(program_id), Some(location_id), Some(modality), Some(start_date)) = (
            new.program_id,
            new.location_id,
            new.modality,
            new.start_date,
        ) else {
            return Err(Error::internal("validated fields are missing"));
        };
        let capacity = match new.capacity {
            0 => DEFAULT_CAPACITY,
            set => set,
        };
        let sites = self.sites.as_ref();
        let room = async {
            match new.room_id {
                Some(id) => sites.room(who, id).await,
                None => Ok(None),
            }
        };
        let (program, location, room, facilitators) = tokio::join!(
            self.programs.get(&who.tenant, program_id),
            sites.location(who, location_id),
            room,
            crate::staff::read(sites, who, &new.facilitator_clinician_ids),
        );
        let program = program?.ok_or_else(|| Error::NotFound {
            kind: "program",
            id: program_id.to_string(),
        })?;
        let location = location?.ok_or_else(|| Error::NotFound {
            kind: "location",
            id: location_id.to_string(),
        })?;
        let tz = iop_kit::clock::zone("location.time_zone", &location.time_zone)?;
        let room = room?;
        let facilitators = facilitators?;
        let mut v = Violations::new("track.");
        if !program.active {
            v.push("program_id", "is inactive");
        }
        if program.modality != Modality::Hybrid && program.modality != modality {
            v.push(
                "modality",
                &format!(
                    "is not how the program meets ({})",
                    program.modality.as_str()
                ),
            );
        }
        if let Some(id) = new.room_id {
            match room {
                None => {
                    return Err(Error::NotFound {
                        kind: "room",
                        id: id.to_string(),
                    });
                }
                Some(r) if r.location_id != location_id => {
                    v.push("room_id", "is not a room of this location")
                }
                Some(r) if !r.active => v.push("room_id", "is inactive"),
                Some(r) if r.capacity < capacity => v.push(
                    "capacity",
                    &format!("is more than the room seats ({})", r.capacity),
                ),
                Some(_) => {}
            }
        }
        crate::staff::inactive(
            &mut v,
            "facilitator_clinician_ids",
            facilitators.iter().enumerate(),
        );
        v.finish_unmet()?;
        let mut meetings = new.meetings;
        meetings.sort_by_key(|m| m.day.weekday().num_days_from_monday());
        let track = Track {
            id: TrackId::new(),
            program_id,
            name: new.name.trim().to_owned(),
            location_id,
            room_id: new.room_id,
            modality,
            meetings,
            facilitator_clinician_ids: new.facilitator_clinician_ids,
            capacity,
            curriculum: new.curriculum.iter().map(|t| t.trim().to_owned()).collect(),
            start_date,
            active: new.active,
            create_time_us: iop_core::now_micros(),
        };
        // Its first weeks of sessions, written with it; then each one's room and
        // facilitators held in the scheduling service ([`crate::sessions`]).
        let (from, through) = sessions::horizon(&track, sessions::today(tz, chrono::Utc::now()));
        let laid_out = sessions::lay_out(&track, tz, from, through);
        let claim = self
            .store
            .insert(&who.tenant, &track, &laid_out, through, key.as_ref())
            .await?;
        let fresh = matches!(claim, Claim::New);
        let track =
            idempotency::answer(claim, track, "create a different track", |id| async move {
                let id = TrackId::parse("id", &id)
                    .map_err(|_| Error::internal("stored request has a bad track id"))?;
                self.get(who, id).await
            })
            .await?;
        // A new track is pending; a retry of a create that gave up half-way finishes it the
        // same way.
        if fresh || self.store.is_pending(&who.tenant, track.id).await? {
            self.sessions.settle(who, &track).await?;
        }
        Ok(track)
    }

    pub async fn get(&self, who: &Principal, id: TrackId) -> Result<Track, Error> {
        self.store
            .get(&who.tenant, id)
            .await?
            .ok_or_else(|| Error::NotFound {
                kind: "track",
                id: id.to_string(),
            })
    }

    /// The track's sessions by start.
    pub async fn sessions(
        &self,
        who: &Principal,
        id: TrackId,
    ) -> Result<Vec<sessions::Session>, Error> {
        self.get(who, id).await?;
        self.sessions.store().of_track(&who.tenant, id).await
    }

    /// A page of tracks (of one program, or all), oldest first.
    pub async fn list(
        &self,
        who: &Principal,
        program: Option<ProgramId>,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<Track>, Option<String>), Error> {
        let size = page::page_size(page_size)?;
        let query = page::fingerprint(&["tracks", &format!("{program:?}")]);
        let after = page::resume_after(page_token, query, |s| TrackId::parse("id", s))?;
        let mut rows = self
            .store
            .list(&who.tenant, program, after, false, size + 1)
            .await?;
        let next = page::next_page(&mut rows, size, query, |t| t.id.to_string());
        Ok((rows, next))
    }
}

#[cfg(test)]
mod tests;
