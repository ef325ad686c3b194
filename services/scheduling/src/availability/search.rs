//! Slot search over what is kept: a location's working hours and exceptions, less what the
//! clinicians, the room and the patient hold (appointments and holds), cut into slots by
//! [`crate::slots`].

use chrono::{Duration, NaiveDate, NaiveTime};
use iop_core::{ClinicianId, Error, LocationId, PatientId, Principal, RoomId, page};
use iop_kit::violations::Violations;

use super::{Availability, working};
use crate::clinicians::AppointmentKind;
use crate::clinicians::store::ClinicianQuery;
use crate::clock;
use crate::conflicts::Resource;
use crate::interval::Span;
use crate::slots::{self, Clinician};

/// The widest search: a quarter of a year of local dates.
pub const MAX_DAYS: i64 = 92;
/// Slots start on the quarter hour.
pub const STEP_MINUTES: i64 = 15;
/// The shortest and longest slot asked for.
pub const MIN_MINUTES: i32 = 5;
pub const MAX_MINUTES: i32 = 720;
/// The most clinicians one search looks through ("any clinician who provides the kind").
pub const MAX_CLINICIANS: usize = 1000;

/// What a client looks for.
#[derive(Debug, Clone, Default)]
pub struct SlotQuery {
    pub location: Option<LocationId>,
    pub kind: Option<AppointmentKind>,
    pub clinician: Option<ClinicianId>,
    pub room: Option<RoomId>,
    pub patient: Option<PatientId>,
    /// 0: the kind's default length.
    pub length_minutes: i32,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

impl SlotQuery {
    fn check(&self) -> Result<(), Error> {
        let mut v = Violations::new("");
        if self.location.is_none() {
            v.push("location_id", "is required");
        }
        if self.kind.is_none() {
            v.push("kind", "is required");
        }
        if self.length_minutes != 0 && !(MIN_MINUTES..=MAX_MINUTES).contains(&self.length_minutes) {
            v.push(
                "length_minutes",
                "must be 5-720 (or 0 for the kind's default)",
            );
        }
        match (self.from, self.to) {
            (None, _) => v.push("from_date", "is required"),
            (_, None) => v.push("to_date", "is required"),
            (Some(from), Some(to)) if to < from => {
                v.rule("to_date", "must not be before from_date")
            }
            (Some(from), Some(to)) if (to - from).num_days() >= MAX_DAYS => {
                v.rule("to_date", "must be within 92 days of from_date")
            }
            _ => {}
        }
        v.finish()
    }
}

/// A free slot found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundSlot {
    pub start_us: i64,
    pub end_us: i64,
    pub clinician_id: ClinicianId,
    pub room_id: Option<RoomId>,
}

/// A page token's position: the last slot's start, then its clinician.
fn position(s: &FoundSlot) -> String {
    format!("{}:{}", s.start_us, s.clinician_id)
}

fn parse_position(s: &str) -> Result<(i64, ClinicianId), Error> {
    let bad = || Error::rule("page_token", "is not a token returned by this query");
    let (start, id) = s.split_once(':').ok_or_else(bad)?;
    Ok((
        start.parse().map_err(|_| bad())?,
        ClinicianId::parse("page_token", id).map_err(|_| bad())?,
    ))
}

impl Availability {
    /// Free slots, earliest first then by clinician, from now on: see [`SlotQuery`].
    pub async fn search(
        &self,
        who: &Principal,
        q: SlotQuery,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<FoundSlot>, Option<String>), Error> {
        q.check()?;
        let (Some(location_id), Some(kind), Some(from), Some(to)) =
            (q.location, q.kind, q.from, q.to)
        else {
            return Err(Error::internal("validated fields are missing"));
        };
        let size = page::page_size(page_size)?;
        let fingerprint = page::fingerprint(&["slots", &format!("{q:?}")]);
        let after = page::resume_after(page_token, fingerprint, parse_position)?;
        let tz = self.refs.zone(who, location_id).await?;
        let mut v = Violations::new("");
        if let Some(room) = q.room
            && let Some(why) = self.refs.room(who, room, location_id).await?
        {
            v.push("room_id", &why);
        }
        let clinicians = match q.clinician {
            Some(id) => {
                if let Some(why) = self.refs.clinician(who, id, Some(kind)).await? {
                    v.push("clinician_id", &why);
                }
                vec![id]
            }
            None => self
                .refs
                .clinicians
                .list(
                    &who.tenant,
                    &ClinicianQuery {
                        kind: Some(kind),
                        active_only: true,
                        after: None,
                        limit: MAX_CLINICIANS,
                    },
                )
                .await?
                .into_iter()
                .map(|c| c.id)
                .collect(),
        };
        v.finish_unmet()?;
        if let Some(patient) = q.patient {
            self.refs.patient(who, patient).await?;
        }

        // From the first local midnight to the one after the last date, and never the past.
        let midnight = NaiveTime::MIN;
        let day_after = to.succ_opt().unwrap_or(to);
        let now = chrono::Utc::now();
        let Some(window) = Span::new(
            clock::at(tz, from, midnight).max(now),
            clock::at(tz, day_after, midnight),
        ) else {
            return Ok((Vec::new(), None));
        };
        let weeks = self.store.weeks_at(&who.tenant, location_id).await?;
        let exceptions = self
            .store
            .exceptions_at(
                &who.tenant,
                location_id,
                window.start.timestamp_micros(),
                window.end.timestamp_micros(),
            )
            .await?;
        let mut resources: Vec<Resource> = clinicians
            .iter()
            .map(|c| Resource::Clinician(c.to_string()))
            .collect();
        resources.extend(q.room.map(|r| Resource::Room(r.to_string())));
        resources.extend(q.patient.map(|p| Resource::Patient(p.to_string())));
        let held = self
            .appointments
            .busy(&who.tenant, &resources, window)
            .await?;
        let busy_of = |r: &Resource| -> Vec<Span> {
            held.iter()
                .filter(|h| h.resources.contains(r))
                .map(|h| h.span)
                .collect()
        };
        // The room's and the patient's time is taken from every clinician's.
        let mut shared: Vec<Span> = Vec::new();
        if let Some(room) = q.room {
            shared.extend(busy_of(&Resource::Room(room.to_string())));
        }
        if let Some(patient) = q.patient {
            shared.extend(busy_of(&Resource::Patient(patient.to_string())));
        }
        let ids: Vec<String> = clinicians.iter().map(ToString::to_string).collect();
        let candidates: Vec<Clinician<'_>> = clinicians
            .iter()
            .zip(&ids)
            .map(|(c, id)| {
                // No weekly hours there: only extra hours, if any.
                let hours = weeks.get(c).map(Vec::as_slice).unwrap_or_default();
                let theirs: Vec<_> = exceptions
                    .iter()
                    .filter_map(|e| e.for_clinician(*c, location_id))
                    .collect();
                Clinician {
                    id,
                    working: working(tz, hours, &theirs, from, to),
                    busy: busy_of(&Resource::Clinician(id.clone())),
                }
            })
            .collect();
        let minutes = if q.length_minutes == 0 {
            self.refs.kind(who, kind).await?.default_minutes
        } else {
            i64::from(q.length_minutes)
        };
        let after_text = after.map(|(start, id)| (start, id.to_string()));
        let found = slots::search(
            &candidates,
            &slots::Search {
                window,
                length: Duration::minutes(minutes),
                step: Duration::minutes(STEP_MINUTES),
                room_busy: Some(&shared),
                after: after_text.as_ref().and_then(|(start, id)| {
                    Some((
                        chrono::DateTime::from_timestamp_micros(*start)?,
                        id.as_str(),
                    ))
                }),
                limit: size + 1,
            },
        );
        let mut rows = found
            .into_iter()
            .map(|s| {
                Ok(FoundSlot {
                    start_us: s.span.start.timestamp_micros(),
                    end_us: s.span.end.timestamp_micros(),
                    clinician_id: ClinicianId::parse("clinician_id", s.clinician)
                        .map_err(|_| Error::internal("a slot of a bad clinician id"))?,
                    room_id: q.room,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let next = page::next_page(&mut rows, size, fingerprint, position);
        Ok((rows, next))
    }
}
