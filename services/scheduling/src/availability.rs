//! When a clinician works: weekly hours in the location's local time ("Mondays 9:00–17:00
//! America/Los_Angeles", the same wall-clock hours all year), plus exceptions — time off,
//! closures of a location (holidays), extra hours — as spans of time. [`working`] turns them
//! into the instants worked; [`Availability`] keeps them and searches free slots
//! ([`search`]).

pub mod grpc;
pub mod search;
pub mod store;

use chrono::{Datelike, NaiveDate, NaiveTime, Weekday};
use chrono_tz::Tz;
use iop_core::{ClinicianId, Error, ExceptionId, LocationId, Principal, page};
use iop_kit::idempotency::{self, Key};
use iop_kit::text;
use iop_kit::violations::Violations;

use crate::appointments::store::AppointmentStore;
use crate::clock;
use crate::interval::{self, Span};
use crate::references::References;
use store::{AvailabilityStore, ExceptionQuery};

pub(crate) const KIND: &str = "availability exception";

pub use iop_kit::dates::Day;

/// Hours on one weekday, local time; `end` after `start` (no shift past midnight).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeeklyHours {
    pub day: Weekday,
    pub start: NaiveTime,
    pub end: NaiveTime,
}

iop_kit::text_enum! {
    /// Time off (a clinician's, or a location closed for everyone), or extra hours.
    pub enum ExceptionKind: iop_proto::scheduling::ExceptionKind {
        TimeOff = "time_off",
        ExtraHours = "extra_hours",
    }
}

/// An exception as [`working`] reads it: already narrowed to one clinician and location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exception {
    pub kind: ExceptionKind,
    pub span: Span,
}

/// At most this many weekly entries (two shifts a day, every day).
pub const MAX_WEEKLY_HOURS: usize = 14;

/// The rules of a week of hours, each violation under `field[i]`.
pub fn check(field: &str, hours: &[WeeklyHours]) -> Result<(), Error> {
    let mut v = Violations::new("");
    if hours.len() > MAX_WEEKLY_HOURS {
        v.push(
            field,
            &format!("must have at most {MAX_WEEKLY_HOURS} entries"),
        );
    }
    for (i, h) in hours.iter().enumerate() {
        if h.end <= h.start {
            v.rule(
                &format!("{field}[{i}].end_time"),
                "must be after start_time",
            );
        }
        let overlaps = hours[..i]
            .iter()
            .any(|o| o.day == h.day && o.start < h.end && h.start < o.end);
        if overlaps {
            v.rule(&format!("{field}[{i}]"), "overlaps other hours that day");
        }
    }
    v.finish()
}

/// The time the clinician works on the local dates `from..=to`, as instants, sorted and
/// merged: weekly hours (each placed by [`clock`], so a DST change day keeps its wall-clock
/// hours), plus extra hours, less time off.
pub fn working(
    tz: Tz,
    hours: &[WeeklyHours],
    exceptions: &[Exception],
    from: NaiveDate,
    to: NaiveDate,
) -> Vec<Span> {
    let mut spans = Vec::new();
    for date in from.iter_days().take_while(|d| *d <= to) {
        for h in hours.iter().filter(|h| h.day == date.weekday()) {
            if let Some(s) = Span::new(clock::at(tz, date, h.start), clock::at(tz, date, h.end)) {
                spans.push(s);
            }
        }
    }
    let window = Span::new(
        clock::at(tz, from, NaiveTime::MIN),
        clock::at(tz, to.succ_opt().unwrap_or(to), NaiveTime::MIN),
    );
    let clip = |s: &Span| window.and_then(|w| Span::new(s.start.max(w.start), s.end.min(w.end)));
    spans.extend(
        exceptions
            .iter()
            .filter(|e| e.kind == ExceptionKind::ExtraHours)
            .filter_map(|e| clip(&e.span)),
    );
    let off = interval::union(
        exceptions
            .iter()
            .filter(|e| e.kind == ExceptionKind::TimeOff)
            .map(|e| e.span)
            .collect(),
    );
    interval::subtract(&interval::union(spans), &off)
}

/// A clinician's weekly hours at a location, as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Week {
    pub clinician_id: ClinicianId,
    pub location_id: LocationId,
    pub hours: Vec<WeeklyHours>,
    /// 0 when never set.
    pub version: i64,
    pub update_time_us: i64,
    pub updated_by: String,
}

impl Week {
    pub fn etag(&self) -> String {
        self.version.to_string()
    }
}

/// An exception as kept: whose (none: a closure of the location), where (none: a
/// clinician's time off everywhere), when and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredException {
    pub id: ExceptionId,
    pub kind: ExceptionKind,
    pub clinician_id: Option<ClinicianId>,
    pub location_id: Option<LocationId>,
    pub start_us: i64,
    pub end_us: i64,
    pub reason: String,
    pub created_by: String,
    pub create_time_us: i64,
}

impl StoredException {
    /// As [`working`] reads it for `clinician` at `location`, if it applies there.
    pub fn for_clinician(&self, clinician: ClinicianId, location: LocationId) -> Option<Exception> {
        let whose = self.clinician_id.is_none_or(|c| c == clinician);
        let where_ = self.location_id.is_none_or(|l| l == location);
        let span = Span::from_micros(self.start_us, self.end_us)?;
        (whose && where_).then_some(Exception {
            kind: self.kind,
            span,
        })
    }
}

/// What a client sends to add an exception.
#[derive(Debug, Clone, Default)]
pub struct NewException {
    pub kind: Option<ExceptionKind>,
    pub clinician_id: Option<ClinicianId>,
    pub location_id: Option<LocationId>,
    pub start_us: Option<i64>,
    pub end_us: Option<i64>,
    pub reason: String,
}

/// The longest exception: a year of leave.
pub const MAX_EXCEPTION_DAYS: i64 = 366;

impl NewException {
    fn check(&self) -> Result<(), Error> {
        let mut v = Violations::new("exception.");
        match self.kind {
            None => v.push("kind", "is required (time_off or extra_hours)"),
            Some(ExceptionKind::TimeOff) => {
                if self.clinician_id.is_none() && self.location_id.is_none() {
                    v.push(
                        "clinician_id",
                        "is required unless location_id names a location closed for everyone",
                    );
                }
            }
            Some(ExceptionKind::ExtraHours) => {
                if self.clinician_id.is_none() {
                    v.push("clinician_id", "is required for extra hours");
                }
                if self.location_id.is_none() {
                    v.push("location_id", "is required for extra hours");
                }
            }
        }
        let longest = chrono::Duration::days(MAX_EXCEPTION_DAYS)
            .num_microseconds()
            .unwrap_or(i64::MAX);
        match (self.start_us, self.end_us) {
            (None, _) => v.push("start_time", "is required"),
            (_, None) => v.push("end_time", "is required"),
            (Some(s), Some(e)) if e <= s => v.rule("end_time", "must be after start_time"),
            (Some(s), Some(e)) if e - s > longest => {
                v.rule("end_time", "must be within 366 days of start_time")
            }
            (Some(s), _) if s <= 0 => v.rule("start_time", "must be after 1970-01-01"),
            _ => {}
        }
        v.text("reason", &self.reason, text::LINE);
        v.finish()
    }
}

/// Keeps working hours and exceptions, and searches the free slots they leave.
#[derive(Clone)]
pub struct Availability {
    store: AvailabilityStore,
    refs: References,
    appointments: AppointmentStore,
}

impl Availability {
    pub fn new(store: AvailabilityStore, refs: References, appointments: AppointmentStore) -> Self {
        Self {
            store,
            refs,
            appointments,
        }
    }

    /// A clinician's weekly hours at a location: an empty week (etag `0`) when never set.
    pub async fn hours(
        &self,
        who: &Principal,
        clinician: ClinicianId,
        location: LocationId,
    ) -> Result<Week, Error> {
        self.refs
            .exist(who, Some(clinician), Some(location))
            .await?;
        Ok(self
            .store
            .week(&who.tenant, clinician, location)
            .await?
            .unwrap_or(Week {
                clinician_id: clinician,
                location_id: location,
                hours: Vec::new(),
                version: 0,
                update_time_us: 0,
                updated_by: String::new(),
            }))
    }

    /// Replaces a clinician's weekly hours at a location; `etag`, when not empty, must be the
    /// current one (409 otherwise).
    pub async fn set_hours(
        &self,
        who: &Principal,
        clinician: ClinicianId,
        location: LocationId,
        hours: Vec<WeeklyHours>,
        etag: &str,
    ) -> Result<Week, Error> {
        check("working_hours.hours", &hours)?;
        self.refs
            .exist(who, Some(clinician), Some(location))
            .await?;
        let mut hours = hours;
        hours.sort_by_key(|h| (h.day.num_days_from_monday(), h.start));
        self.store
            .set_week(
                &who.tenant,
                &Week {
                    clinician_id: clinician,
                    location_id: location,
                    hours,
                    version: 0,
                    update_time_us: iop_core::now_micros(),
                    updated_by: who.subject.clone(),
                },
                etag,
            )
            .await
    }

    /// Adds time off, a closure or extra hours.
    pub async fn create_exception(
        &self,
        who: &Principal,
        new: NewException,
        request_id: &str,
    ) -> Result<StoredException, Error> {
        new.check()?;
        let key = Key::parse(request_id, &new)?;
        self.refs
            .exist(who, new.clinician_id, new.location_id)
            .await?;
        let (Some(kind), Some(start_us), Some(end_us)) = (new.kind, new.start_us, new.end_us)
        else {
            return Err(Error::internal("validated fields are missing"));
        };
        let made = StoredException {
            id: ExceptionId::new(),
            kind,
            clinician_id: new.clinician_id,
            location_id: new.location_id,
            start_us,
            end_us,
            reason: new.reason.trim().to_owned(),
            created_by: who.subject.clone(),
            create_time_us: iop_core::now_micros(),
        };
        let claim = self
            .store
            .insert_exception(&who.tenant, &made, key.as_ref())
            .await?;
        idempotency::answer(claim, made, "add a different exception", |id| async move {
            let id = ExceptionId::parse("id", &id)
                .map_err(|_| Error::internal("stored request has a bad exception id"))?;
            self.exception(who, id).await
        })
        .await
    }

    pub async fn exception(
        &self,
        who: &Principal,
        id: ExceptionId,
    ) -> Result<StoredException, Error> {
        self.store
            .exception(&who.tenant, id)
            .await?
            .ok_or_else(|| Error::NotFound {
                kind: "availability exception",
                id: id.to_string(),
            })
    }

    /// A page of exceptions by start time.
    pub async fn exceptions(
        &self,
        who: &Principal,
        mut q: ExceptionQuery,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<StoredException>, Option<String>), Error> {
        page::time_window(q.from_us, q.to_us)?;
        let size = page::page_size(page_size)?;
        let query = page::fingerprint(&[
            "exceptions",
            &format!(
                "{:?}/{:?}/{:?}/{:?}",
                q.clinician, q.location, q.from_us, q.to_us
            ),
        ]);
        q.after = page::resume_after(page_token, query, store::parse_position)?;
        q.limit = size + 1;
        let mut rows = self.store.exceptions(&who.tenant, &q).await?;
        let next = page::next_page(&mut rows, size, query, store::position);
        Ok((rows, next))
    }

    /// Withdraws an exception, answering it as it was.
    pub async fn delete_exception(
        &self,
        who: &Principal,
        id: ExceptionId,
    ) -> Result<StoredException, Error> {
        let gone = self.exception(who, id).await?;
        if !self.store.delete_exception(&who.tenant, id).await? {
            // Withdrawn by someone else between the read and the delete.
            return Err(Error::NotFound {
                kind: "availability exception",
                id: id.to_string(),
            });
        }
        Ok(gone)
    }
}

#[cfg(test)]
mod service_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Duration, Utc};

    fn la() -> Tz {
        clock::zone("time_zone", "America/Los_Angeles").unwrap()
    }

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn hm(s: &str) -> NaiveTime {
        NaiveTime::parse_from_str(s, "%H:%M").unwrap()
    }

    fn hours(day: Weekday, a: &str, b: &str) -> WeeklyHours {
        WeeklyHours {
            day,
            start: hm(a),
            end: hm(b),
        }
    }

    #[test]
    fn mondays_nine_to_five_stay_local_across_both_changes() {
        let week = [hours(Weekday::Mon, "09:00", "17:00")];
        let spring = working(la(), &week, &[], d("2026-03-02"), d("2026-03-09"));
        assert_eq!(
            spring,
            [
                Span::new(t("2026-03-02T17:00:00Z"), t("2026-03-03T01:00:00Z")).unwrap(),
                Span::new(t("2026-03-09T16:00:00Z"), t("2026-03-10T00:00:00Z")).unwrap(),
            ]
        );
        let fall = working(la(), &week, &[], d("2026-10-26"), d("2026-11-02"));
        assert_eq!(fall[0].start, t("2026-10-26T16:00:00Z"));
        assert_eq!(fall[1].start, t("2026-11-02T17:00:00Z"));
        assert!(fall.iter().all(|s| s.length() == Duration::hours(8)));
    }

    #[test]
    fn change_days_are_as_long_as_the_clock_says() {
        // Sunday 01:00-04:00 local: 2 real hours when the clock springs forward, 4 when it
        // falls back.
        let week = [hours(Weekday::Sun, "01:00", "04:00")];
        let spring = working(la(), &week, &[], d("2026-03-08"), d("2026-03-08"));
        assert_eq!(spring[0].length(), Duration::hours(2));
        let fall = working(la(), &week, &[], d("2026-11-01"), d("2026-11-01"));
        assert_eq!(fall[0].length(), Duration::hours(4));
        // Hours wholly inside the skipped hour move forward with it (see `clock`), and hours
        // from the start of the skipped hour to its end are none.
        let gap = [hours(Weekday::Sun, "02:00", "02:45")];
        assert_eq!(
            working(la(), &gap, &[], d("2026-03-08"), d("2026-03-08")),
            [Span::new(t("2026-03-08T10:00:00Z"), t("2026-03-08T10:45:00Z")).unwrap()]
        );
        let whole = [hours(Weekday::Sun, "02:00", "03:00")];
        assert!(working(la(), &whole, &[], d("2026-03-08"), d("2026-03-08")).is_empty());
    }

    #[test]
    fn time_off_and_extra_hours_apply() {
        let week = [
            hours(Weekday::Mon, "09:00", "17:00"),
            hours(Weekday::Tue, "09:00", "12:00"),
        ];
        let exceptions = [
            // Monday afternoon off (13:00-17:00 PST = 21:00-01:00Z).
            Exception {
                kind: ExceptionKind::TimeOff,
                span: Span::new(t("2026-12-07T21:00:00Z"), t("2026-12-08T01:00:00Z")).unwrap(),
            },
            // Tuesday evening group 18:00-20:00 PST.
            Exception {
                kind: ExceptionKind::ExtraHours,
                span: Span::new(t("2026-12-09T02:00:00Z"), t("2026-12-09T04:00:00Z")).unwrap(),
            },
        ];
        let got = working(la(), &week, &exceptions, d("2026-12-07"), d("2026-12-08"));
        assert_eq!(
            got,
            [
                Span::new(t("2026-12-07T17:00:00Z"), t("2026-12-07T21:00:00Z")).unwrap(),
                Span::new(t("2026-12-08T17:00:00Z"), t("2026-12-08T20:00:00Z")).unwrap(),
                Span::new(t("2026-12-09T02:00:00Z"), t("2026-12-09T04:00:00Z")).unwrap(),
            ]
        );
    }

    #[test]
    fn a_week_of_hours_is_checked() {
        let bad = [
            hours(Weekday::Mon, "09:00", "08:00"),
            hours(Weekday::Tue, "09:00", "12:00"),
            hours(Weekday::Tue, "11:00", "13:00"),
        ];
        let err = check("hours", &bad).unwrap_err().to_string();
        assert!(
            err.contains("hours[0].end") && err.contains("hours[2]"),
            "{err}"
        );
        assert!(check("hours", &bad[1..2]).is_ok());
    }
}
