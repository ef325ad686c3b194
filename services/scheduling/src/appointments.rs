//! Appointments: booked singly or as a weekly series, each occurrence checked against what
//! its clinicians, room and patient already have, so none is ever booked twice at once —
//! unless on purpose, with the reason recorded. Booked → checked in → completed, or
//! cancelled (by the patient, by the clinic, late) or a no-show; a cancelled or no-show
//! appointment's time is free again.
//!
//! The guarantee holds under concurrent clients on both databases (see [`store`]): on SQLite
//! every booking runs in the database's one write turn, so "check, then write" cannot
//! interleave; on PostgreSQL an exclusion constraint refuses two overlapping bookings of one
//! resource whatever the interleaving, and the loser is answered like any other conflict.

pub mod grpc;
pub mod store;

use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;
use iop_core::{
    AppointmentId, ClinicianId, ContactId, Error, FieldViolation, LocationId, PatientId, Principal,
    ReferralId, RoomId, SeriesId, page,
};
use iop_kit::idempotency::{self, Key};
use iop_kit::text;
use iop_kit::violations::Violations;

use crate::clinicians::AppointmentKind;
use crate::clock;
use crate::conflicts::{Conflict, Resource};
use crate::interval::Span;
use crate::recurrence::Weekly;
use crate::references::References;
use crate::sight::{self, Sight};
use store::{AppointmentQuery, AppointmentStore, Booking};

pub(crate) const KIND: &str = "appointment";

/// Clinicians one appointment may have (a family session with a co-therapist, say).
pub const MAX_CLINICIANS: usize = 4;
/// At most this many family contacts take part in one family session.
pub const MAX_FAMILY_CONTACTS: usize = 8;

/// The longest appointment.
pub const MAX_LENGTH: Duration = Duration::hours(12);

iop_kit::text_enum! {
    /// Where it happens.
    pub enum Modality: iop_proto::scheduling::Modality {
        InPerson = "in_person",
        Telehealth = "telehealth",
    }
}

iop_kit::text_enum! {
    pub enum Status: iop_proto::scheduling::AppointmentStatus {
        Booked = "booked",
        CheckedIn = "checked_in",
        Completed = "completed",
        Cancelled = "cancelled",
        NoShow = "no_show",
        Rescheduled = "rescheduled",
    }
}

impl Status {
    /// Whether it still occupies its time.
    pub fn holds_time(self) -> bool {
        matches!(self, Self::Booked | Self::CheckedIn | Self::Completed)
    }
}

iop_kit::text_enum! {
    /// Who called it off.
    pub enum CancellationKind: iop_proto::scheduling::CancellationKind {
        ByPatient = "by_patient",
        ByClinic = "by_clinic",
        Late = "late",
    }
}

iop_kit::text_enum! {
    /// Which occurrences of a series a change applies to.
    pub enum SeriesScope: iop_proto::scheduling::SeriesScope {
        This = "this",
        ThisAndFollowing = "this_and_following",
        All = "all",
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancellation {
    pub kind: CancellationKind,
    pub reason: String,
    pub by: String,
    pub time_us: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appointment {
    pub id: AppointmentId,
    pub kind: AppointmentKind,
    pub patient_id: Option<PatientId>,
    pub clinician_ids: Vec<ClinicianId>,
    pub location_id: LocationId,
    pub modality: Modality,
    pub room_id: Option<RoomId>,
    pub join_url: String,
    pub start_us: i64,
    pub end_us: i64,
    pub status: Status,
    pub series_id: Option<SeriesId>,
    pub overlap_reason: String,
    pub cancellation: Option<Cancellation>,
    pub booked_by: String,
    pub create_time_us: i64,
    pub version: i64,
    pub rescheduled_from: Option<AppointmentId>,
    pub rescheduled_to: Option<AppointmentId>,
    /// The referral an intake assessment was booked for (the records service's).
    pub referral_id: Option<ReferralId>,
    /// A family session's family contacts who take part (the records service's).
    pub family_contact_ids: Vec<ContactId>,
}

impl Appointment {
    pub fn etag(&self) -> String {
        self.version.to_string()
    }

    /// When it is.
    pub fn span(&self) -> Option<Span> {
        Span::from_micros(self.start_us, self.end_us)
    }

    /// What it occupies while it holds its time.
    pub fn resources(&self) -> Vec<Resource> {
        resources(&self.clinician_ids, self.room_id, self.patient_id)
    }
}

fn resources(
    clinicians: &[ClinicianId],
    room: Option<RoomId>,
    patient: Option<PatientId>,
) -> Vec<Resource> {
    let mut out: Vec<Resource> = clinicians
        .iter()
        .map(|c| Resource::Clinician(c.to_string()))
        .collect();
    out.extend(room.map(|r| Resource::Room(r.to_string())));
    out.extend(patient.map(|p| Resource::Patient(p.to_string())));
    out
}

/// What a client asks to book.
#[derive(Debug, Clone, Default)]
pub struct NewAppointment {
    pub kind: Option<AppointmentKind>,
    pub patient_id: Option<PatientId>,
    pub clinician_ids: Vec<ClinicianId>,
    pub location_id: Option<LocationId>,
    pub modality: Option<Modality>,
    pub room_id: Option<RoomId>,
    pub join_url: String,
    pub start_us: Option<i64>,
    pub end_us: Option<i64>,
    /// Book over conflicts on purpose, for this reason.
    pub overlap_reason: String,
    /// An RRULE of the weekly subset; empty for one appointment.
    pub recurrence: String,
    /// An intake assessment for this referral: booking, moving and cancelling it moves the
    /// referral's intake in the records service.
    pub referral_id: Option<ReferralId>,
    /// A family session's family contacts who take part: each the patient's, involved in
    /// family sessions (a consent in force naming them, which the records service checks).
    pub family_contact_ids: Vec<ContactId>,
}

impl NewAppointment {
    /// The request's own rules, before anything is read; violations name its fields under
    /// `fields`.
    fn check(&self, fields: &str) -> Result<(), Error> {
        let mut v = Violations::new(fields);
        match self.kind {
            None => v.push("kind", "is required"),
            Some(AppointmentKind::GroupHold) => v.push(
                "kind",
                "group_hold is placed by the group service as a hold, not booked",
            ),
            Some(_) => {}
        }
        if self.patient_id.is_none() {
            v.push("patient_id", "is required");
        }
        if self.clinician_ids.is_empty() {
            v.push("clinician_ids", "must name at least one clinician");
        } else if self.clinician_ids.len() > MAX_CLINICIANS {
            v.push("clinician_ids", "must name at most 4 clinicians");
        }
        v.unique("clinician_ids", &self.clinician_ids);
        if self.location_id.is_none() {
            v.push("location_id", "is required");
        }
        match self.modality {
            None => v.push("modality", "is required (in_person or telehealth)"),
            Some(Modality::InPerson) => {
                if self.room_id.is_none() {
                    v.push("room_id", "is required in person");
                }
                if !self.join_url.is_empty() {
                    v.push("join_url", "is for telehealth only");
                }
            }
            Some(Modality::Telehealth) => {
                if self.room_id.is_some() {
                    v.push("room_id", "is for in-person appointments only");
                }
                if !text::is_https_url(&self.join_url) {
                    v.push("join_url", "is required for telehealth: an https URL");
                }
            }
        }
        check_times(&mut v, self.start_us, self.end_us);
        v.text("overlap_reason", &self.overlap_reason, text::LINE);
        if !self.family_contact_ids.is_empty() && self.kind != Some(AppointmentKind::FamilySession)
        {
            v.push("family_contact_ids", "are for a family_session only");
        }
        if self.family_contact_ids.len() > MAX_FAMILY_CONTACTS {
            v.push("family_contact_ids", "must name at most 8 contacts");
        }
        v.unique("family_contact_ids", &self.family_contact_ids);
        if self.referral_id.is_some() {
            if self.kind != Some(AppointmentKind::IntakeAssessment) {
                v.push("referral_id", "is for an intake_assessment only");
            }
            if !self.recurrence.trim().is_empty() {
                v.push("referral_id", "is for one intake, not a series");
            }
        }
        v.finish()
    }
}

/// An appointment's times: both given, the end after the start, within [`MAX_LENGTH`].
fn check_times(v: &mut Violations<'_>, start_us: Option<i64>, end_us: Option<i64>) {
    let longest = MAX_LENGTH.num_microseconds().unwrap_or(i64::MAX);
    match (start_us, end_us) {
        (None, _) => v.push("start_time", "is required"),
        (_, None) => v.push("end_time", "is required"),
        (Some(s), Some(e)) if e <= s => v.rule("end_time", "must be after start_time"),
        (Some(s), Some(e)) if e - s > longest => {
            v.rule("end_time", "must be within 12 hours of start_time")
        }
        (Some(s), _) if s <= 0 => v.rule("start_time", "must be after 1970-01-01"),
        _ => {}
    }
}

/// Where a booking stands before it is written: what it would be, occurrence by occurrence.
struct Plan {
    appointments: Vec<Appointment>,
    series_id: Option<SeriesId>,
    resources: Vec<Resource>,
}

#[derive(Clone)]
pub struct Appointments {
    pub(crate) store: AppointmentStore,
    refs: References,
}

impl Appointments {
    pub fn new(store: AppointmentStore, refs: References) -> Self {
        Self { store, refs }
    }

    /// Books one appointment, or every occurrence of a weekly series. Any occurrence that
    /// would overlap what a clinician, the room or the patient has already refuses the whole
    /// booking, naming each clash ([`Error::Clashes`]) — unless `overlap_reason` says why it
    /// is booked over them on purpose.
    pub async fn book(
        &self,
        who: &Principal,
        new: NewAppointment,
        request_id: &str,
    ) -> Result<(Vec<Appointment>, Option<SeriesId>), Error> {
        self.book_as(who, new, request_id, "appointment.").await
    }

    /// [`Self::book`] for a request whose fields stand under `fields` in its caller's
    /// message (nothing for a waitlist offer accepted: `join_url`).
    pub(crate) async fn book_as(
        &self,
        who: &Principal,
        new: NewAppointment,
        request_id: &str,
        fields: &str,
    ) -> Result<(Vec<Appointment>, Option<SeriesId>), Error> {
        new.check(fields)?;
        let key = Key::parse(request_id, &new)?;
        let booked = self.place(who, &new, key, fields).await?;
        if let Some(referral) = new.referral_id {
            self.sync_intake(who, referral).await?;
        }
        Ok(booked)
    }

    /// Tells the records service when the referral's intake is: the earliest of its live
    /// intake appointments, or none (accepted again). Run after every change to one, it
    /// also repairs an earlier change whose call failed: retrying that request runs it
    /// again.
    async fn sync_intake(&self, who: &Principal, referral: ReferralId) -> Result<(), Error> {
        let live = self
            .store
            .list(
                &who.tenant,
                &AppointmentQuery {
                    referral: Some(referral),
                    limit: 1000,
                    ..Default::default()
                },
            )
            .await?
            .into_iter()
            .filter(|a| matches!(a.status, Status::Booked | Status::CheckedIn))
            .map(|a| a.start_us)
            .min();
        self.refs
            .patients
            .set_intake(who, referral, live)
            .await
            .map_err(|e| match e {
                Error::Unavailable(why) => Error::Unavailable(format!(
                    "the appointment change is saved, but the referral's intake was not moved \
                     ({why}); retry the same request to bring it up to date"
                )),
                other => other,
            })
    }

    /// Checks and writes what [`Self::book`] or [`Self::hold`] asked for.
    async fn place(
        &self,
        who: &Principal,
        new: &NewAppointment,
        key: Option<Key<'_>>,
        fields: &str,
    ) -> Result<(Vec<Appointment>, Option<SeriesId>), Error> {
        let plan = self.plan(who, new, fields).await?;
        let claim_id = plan
            .series_id
            .map(|s| s.to_string())
            .or_else(|| plan.appointments.first().map(|a| a.id.to_string()))
            .unwrap_or_default();
        let booking = Booking {
            appointments: &plan.appointments,
            resources: &plan.resources,
            exclusive: plan
                .appointments
                .first()
                .is_some_and(|a| a.overlap_reason.is_empty()),
            claim_id: &claim_id,
        };
        let claim = self.store.book(&who.tenant, &booking, key.as_ref()).await?;
        let series_id = plan.series_id;
        idempotency::answer(
            claim,
            (plan.appointments, series_id),
            "book something else",
            |id| async move { self.booked_by_claim(who, &id).await },
        )
        .await
    }

    /// Reads the request's references and lays out its occurrences.
    /// Violations name the request's fields under `fields` (`appointment.` for a booking,
    /// nothing for a hold, whose fields stand at the top of its request).
    async fn plan(
        &self,
        who: &Principal,
        new: &NewAppointment,
        fields: &str,
    ) -> Result<Plan, Error> {
        let (Some(kind), Some(location_id), Some(modality), Some(start_us), Some(end_us)) = (
            new.kind,
            new.location_id,
            new.modality,
            new.start_us,
            new.end_us,
        ) else {
            return Err(Error::internal("validated fields are missing"));
        };
        // Every reference is read side by side (each is a round trip to a database or the
        // records service), then judged in one order, so the answer is as if read in turn.
        // A hold's facilitators run a group, not an appointment kind they provide.
        let provides = (kind != AppointmentKind::GroupHold).then_some(kind);
        let room = async {
            match new.room_id {
                Some(id) => self.refs.room(who, id, location_id).await,
                None => Ok(None),
            }
        };
        let clinicians = join_all(
            new.clinician_ids
                .iter()
                .map(|id| self.refs.clinician(who, *id, provides)),
        );
        let contacts = join_all(
            new.family_contact_ids
                .iter()
                .map(|id| self.refs.family_contact(who, *id, new.patient_id)),
        );
        let referral = async {
            match new.referral_id {
                Some(id) => self.refs.referral(who, id, new.patient_id).await,
                None => Ok(None),
            }
        };
        let patient = async {
            match new.patient_id {
                Some(id) => self.refs.patient(who, id).await,
                None => Ok(()),
            }
        };
        let (tz, room, clinicians, settings, contacts, referral, patient) = tokio::join!(
            self.refs.zone(who, location_id),
            room,
            clinicians,
            self.refs.kind(who, kind),
            contacts,
            referral,
            patient,
        );
        let tz = tz?;
        let mut v = Violations::new(fields);
        if let Some(why) = room? {
            v.push("room_id", &why);
        }
        for (i, unfit) in clinicians.into_iter().enumerate() {
            if let Some(why) = unfit? {
                v.push(&format!("clinician_ids[{i}]"), &why);
            }
        }
        let offered = settings?.modalities;
        if !offered.contains(&modality) {
            let names: Vec<&str> = offered.iter().map(|m| m.as_str()).collect();
            v.push(
                "modality",
                &format!(
                    "is not offered for {} (offered: {})",
                    kind.as_str(),
                    names.join(", ")
                ),
            );
        }
        for (i, unfit) in contacts.into_iter().enumerate() {
            if let Some(why) = unfit? {
                v.push(&format!("family_contact_ids[{i}]"), &why);
            }
        }
        if let Some(why) = referral? {
            v.push("referral_id", &why);
        }
        // Stored state (a room elsewhere, a clinician who does not provide the kind, a
        // modality the clinic does not offer it in, a referral not open for intake): 409.
        v.finish_unmet()?;
        patient?;
        let first = Span::new(
            instant(&format!("{fields}start_time"), start_us)?,
            instant(&format!("{fields}end_time"), end_us)?,
        )
        .ok_or_else(|| Error::rule(format!("{fields}end_time"), "must be after start_time"))?;
        let (spans, series_id) = if new.recurrence.trim().is_empty() {
            (vec![first], None)
        } else {
            let series = Weekly::parse("recurrence", &new.recurrence, tz)?;
            let spans = series.occurrences(
                "recurrence",
                tz,
                clock::local(tz, first.start),
                first.length(),
            )?;
            (spans, Some(SeriesId::new()))
        };
        let now = iop_core::now_micros();
        let appointments = spans
            .iter()
            .map(|span| Appointment {
                id: AppointmentId::new(),
                kind,
                patient_id: new.patient_id,
                clinician_ids: new.clinician_ids.clone(),
                location_id,
                modality,
                room_id: new.room_id,
                join_url: new.join_url.trim().to_owned(),
                start_us: span.start.timestamp_micros(),
                end_us: span.end.timestamp_micros(),
                status: Status::Booked,
                series_id,
                overlap_reason: new.overlap_reason.trim().to_owned(),
                cancellation: None,
                booked_by: who.subject.clone(),
                create_time_us: now,
                version: 1,
                rescheduled_from: None,
                rescheduled_to: None,
                referral_id: new.referral_id,
                family_contact_ids: new.family_contact_ids.clone(),
            })
            .collect();
        Ok(Plan {
            appointments,
            series_id,
            resources: resources(&new.clinician_ids, new.room_id, new.patient_id),
        })
    }

    /// What an earlier booking with the same key made: its series, or its one appointment.
    async fn booked_by_claim(
        &self,
        who: &Principal,
        id: &str,
    ) -> Result<(Vec<Appointment>, Option<SeriesId>), Error> {
        if let Ok(series) = SeriesId::parse("id", id) {
            let all = self.store.series(&who.tenant, series).await?;
            if !all.is_empty() {
                return Ok((all, Some(series)));
            }
        }
        let id = AppointmentId::parse("id", id)
            .map_err(|_| Error::internal("stored request has a bad appointment id"))?;
        Ok((vec![self.get(who, id).await?], None))
    }

    pub async fn get(&self, who: &Principal, id: AppointmentId) -> Result<Appointment, Error> {
        self.store
            .get(&who.tenant, id)
            .await?
            .ok_or_else(|| Error::NotFound {
                kind: "appointment",
                id: id.to_string(),
            })
    }

    /// An appointment the caller sees ([`crate::sight`]): 403 for a clinician otherwise.
    pub async fn read(&self, who: &Principal, id: AppointmentId) -> Result<Appointment, Error> {
        let found = self.get(who, id).await?;
        match Sight::of(who, &self.refs.clinicians).await? {
            Sight::All => Ok(found),
            Sight::Of(Some(c)) if found.clinician_ids.contains(&c) => Ok(found),
            Sight::Of(Some(c)) => match found.patient_id {
                Some(p) if self.store.sees(&who.tenant, c, p).await? => Ok(found),
                _ => Err(sight::refused(&format!("appointment {id}"))),
            },
            Sight::Of(None) => Err(sight::refused(&format!("appointment {id}"))),
        }
    }

    /// Whether the caller sees `patient`'s appointments ([`crate::sight`]).
    async fn sees_patient(&self, who: &Principal, patient: PatientId) -> Result<(), Error> {
        match Sight::of(who, &self.refs.clinicians).await? {
            Sight::All => Ok(()),
            Sight::Of(Some(c)) if self.store.sees(&who.tenant, c, patient).await? => Ok(()),
            Sight::Of(_) => Err(sight::refused(&format!("patient {patient}"))),
        }
    }

    /// A page of appointments by start time, filtered; a clinician's, only those they see.
    pub async fn list(
        &self,
        who: &Principal,
        mut q: AppointmentQuery,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<Appointment>, Option<String>), Error> {
        page::time_window(q.from_us, q.to_us)?;
        let size = page::page_size(page_size)?;
        let query = page::fingerprint(&[
            "appointments",
            &format!(
                "{:?}/{:?}/{:?}/{:?}/{:?}/{:?}/{:?}",
                q.patient, q.clinician, q.room, q.series, q.from_us, q.to_us, q.status
            ),
        ]);
        q.after = page::resume_after(page_token, query, store::parse_position)?;
        q.limit = size + 1;
        match Sight::of(who, &self.refs.clinicians).await? {
            Sight::All => {}
            Sight::Of(Some(c)) => q.seen_by = Some(c),
            Sight::Of(None) => return Ok((Vec::new(), None)),
        }
        let mut rows = self.store.list(&who.tenant, &q).await?;
        let next = page::next_page(&mut rows, size, query, store::position);
        Ok((rows, next))
    }

    /// Cancels an appointment that is booked or checked in — with `scope`, also the series'
    /// later ones or all of it not yet over — and frees their time.
    pub async fn cancel(
        &self,
        who: &Principal,
        id: AppointmentId,
        kind: Option<CancellationKind>,
        reason: &str,
        etag: &str,
        scope: SeriesScope,
    ) -> Result<Vec<Appointment>, Error> {
        let mut v = Violations::new("");
        if kind.is_none() {
            v.push("kind", "is required (by_patient, by_clinic or late)");
        }
        v.text("reason", reason, text::LINE);
        v.finish()?;
        let Some(kind) = kind else {
            return Err(Error::internal("validated kind is missing"));
        };
        let current = self.read(who, id).await?;
        not_a_hold(&current)?;
        iop_kit::etag::check(etag, &current.etag(), "appointment", &id)?;
        if !matches!(current.status, Status::Booked | Status::CheckedIn) {
            return Err(Error::Unmet(vec![FieldViolation {
                field: "status".into(),
                description: format!(
                    "is {}: only a booked or checked-in appointment is cancelled",
                    current.status.as_str()
                ),
            }]));
        }
        let cancellation = Cancellation {
            kind,
            reason: reason.trim().to_owned(),
            by: who.subject.clone(),
            time_us: iop_core::now_micros(),
        };
        let cancelled = self
            .store
            .cancel(&who.tenant, &current, scope, &cancellation)
            .await?;
        if let Some(referral) = current.referral_id {
            self.sync_intake(who, referral).await?;
        }
        Ok(cancelled)
    }
}

impl Appointments {
    /// Moves an appointment on: booked → checked in → completed, or booked → no-show (which
    /// frees its time). Completing and a no-show only once it has started.
    pub async fn set_status(
        &self,
        who: &Principal,
        id: AppointmentId,
        to: Option<Status>,
        etag: &str,
    ) -> Result<Appointment, Error> {
        let to = match to {
            Some(s @ (Status::CheckedIn | Status::Completed | Status::NoShow)) => s,
            _ => {
                return Err(Error::field(
                    "status",
                    "must be checked_in, completed or no_show (cancel to cancel)",
                ));
            }
        };
        let current = self.read(who, id).await?;
        not_a_hold(&current)?;
        iop_kit::etag::check(etag, &current.etag(), "appointment", &id)?;
        let allowed = matches!(
            (current.status, to),
            (Status::Booked, Status::CheckedIn | Status::NoShow)
                | (Status::CheckedIn, Status::Completed)
        );
        let mut unmet = Violations::new("");
        if !allowed {
            unmet.push(
                "status",
                &format!(
                    "cannot go from {} to {}",
                    current.status.as_str(),
                    to.as_str()
                ),
            );
        } else if to != Status::CheckedIn && iop_core::now_micros() < current.start_us {
            unmet.push(
                "status",
                &format!("{} only once the appointment has started", to.as_str()),
            );
        }
        unmet.finish_unmet()?;
        self.store.set_status(&who.tenant, &current, to).await
    }
}

/// One ISO week's minutes of one kind (see [`crate::week`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeekMinutes {
    /// `2026-W50`.
    pub week: String,
    pub kind: AppointmentKind,
    pub scheduled: i64,
    pub completed: i64,
}

/// The most weeks one question covers.
pub const MAX_WEEKS: i64 = 53;

impl Appointments {
    /// A patient's minutes per ISO week in `location`'s time zone, by kind, for the weeks
    /// holding `from`..=`to` (local dates).
    pub async fn weeks(
        &self,
        who: &Principal,
        patient: PatientId,
        location: LocationId,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<Vec<WeekMinutes>, Error> {
        use chrono::Datelike;
        if to < from {
            return Err(Error::rule("to_date", "must not be before from_date"));
        }
        // Whole weeks: from the Monday of `from` to the Monday after `to`.
        let monday = from - Duration::days(i64::from(from.weekday().num_days_from_monday()));
        let after = to + Duration::days(7 - i64::from(to.weekday().num_days_from_monday()));
        if (after - monday).num_days() > MAX_WEEKS * 7 {
            return Err(Error::rule(
                "to_date",
                "must be at most 53 weeks after from_date",
            ));
        }
        self.refs.patient(who, patient).await?;
        self.sees_patient(who, patient).await?;
        let tz = self.refs.zone(who, location).await?;
        let midnight = chrono::NaiveTime::MIN;
        let rows = self
            .store
            .list(
                &who.tenant,
                &AppointmentQuery {
                    patient: Some(patient),
                    from_us: Some(clock::at(tz, monday, midnight).timestamp_micros()),
                    to_us: Some(clock::at(tz, after, midnight).timestamp_micros()),
                    // A day has at most 96 quarter hours: far more than any patient books.
                    limit: usize::try_from(MAX_WEEKS * 7 * 96).unwrap_or(usize::MAX),
                    ..Default::default()
                },
            )
            .await?;
        let visits = rows
            .iter()
            .filter(|a| a.status.holds_time())
            .map(|a| {
                Ok(crate::week::Visit {
                    kind: a.kind.as_str(),
                    span: a
                        .span()
                        .ok_or_else(|| Error::internal("stored appointment has an empty span"))?,
                    completed: a.status == Status::Completed,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        crate::week::minutes(tz, &visits)
            .into_iter()
            .map(|w| {
                Ok(WeekMinutes {
                    week: format!("{}-W{:02}", w.year, w.week),
                    kind: AppointmentKind::parse(w.kind)
                        .ok_or_else(|| Error::internal("a visit of an unknown kind"))?,
                    scheduled: w.scheduled,
                    completed: w.completed,
                })
            })
            .collect()
    }
}

impl Appointments {
    /// Moves a booked appointment to `start_us`..`end_us`: a new appointment takes its place
    /// (checked for clashes like a booking, its own old time not counted) and the old one
    /// stays as `rescheduled`, naming it. Of a series, `scope` moves this one, this and the
    /// following, or all booked ones not yet over, each by the same change of local
    /// wall-clock time in the location's zone (so 18:00 → 19:00 stays 19:00 across DST) and
    /// to the same length; any clash refuses them all, naming each (`occurrences[i]`, in
    /// start order). Answers the one named.
    pub async fn reschedule(
        &self,
        who: &Principal,
        id: AppointmentId,
        to: Move,
        etag: &str,
    ) -> Result<Appointment, Error> {
        let mut v = Violations::new("");
        check_times(&mut v, to.start_us, to.end_us);
        v.text("overlap_reason", &to.overlap_reason, text::LINE);
        v.finish()?;
        let (Some(start_us), Some(end_us)) = (to.start_us, to.end_us) else {
            return Err(Error::internal("validated times are missing"));
        };
        let current = self.read(who, id).await?;
        not_a_hold(&current)?;
        iop_kit::etag::check(etag, &current.etag(), "appointment", &id)?;
        if current.status != Status::Booked {
            return Err(Error::Unmet(vec![FieldViolation {
                field: "status".into(),
                description: format!(
                    "is {}: only a booked appointment is rescheduled",
                    current.status.as_str()
                ),
            }]));
        }
        // The occurrences moved with it, in start order, the one named among them.
        let now = iop_core::now_micros();
        let scope = to.scope;
        let mut occurrences = vec![current.clone()];
        if let (Some(series), SeriesScope::ThisAndFollowing | SeriesScope::All) =
            (current.series_id, scope)
        {
            occurrences = self
                .store
                .series(&who.tenant, series)
                .await?
                .into_iter()
                .filter(|a| {
                    a.id == current.id
                        || (a.status == Status::Booked
                            && match scope {
                                SeriesScope::ThisAndFollowing => a.start_us > current.start_us,
                                _ => a.end_us > now,
                            })
                })
                .collect();
        }
        let tz = self.refs.zone(who, current.location_id).await?;
        let (old, new) = (
            clock::local(tz, instant("start_time", current.start_us)?),
            clock::local(tz, instant("start_time", start_us)?),
        );
        let shift = new - old;
        let length = end_us - start_us;
        let mut moves = Vec::with_capacity(occurrences.len());
        for occurrence in occurrences {
            let start = if occurrence.id == current.id {
                start_us
            } else {
                let local = clock::local(tz, instant("start_time", occurrence.start_us)?) + shift;
                clock::at(tz, local.date(), local.time()).timestamp_micros()
            };
            let moved = Appointment {
                id: AppointmentId::new(),
                start_us: start,
                end_us: start + length,
                status: Status::Booked,
                overlap_reason: to.overlap_reason.trim().to_owned(),
                cancellation: None,
                booked_by: who.subject.clone(),
                create_time_us: now,
                version: 1,
                rescheduled_from: Some(occurrence.id),
                rescheduled_to: None,
                ..occurrence.clone()
            };
            moves.push((occurrence, moved));
        }
        let named = moves
            .iter()
            .find(|(c, _)| c.id == current.id)
            .map(|(_, m)| m.id)
            .ok_or_else(|| Error::internal("the appointment named is not among those moved"))?;
        self.store.reschedule(&who.tenant, &moves).await?;
        if let Some(referral) = current.referral_id {
            self.sync_intake(who, referral).await?;
        }
        self.get(who, named).await
    }
}

/// Where [`Appointments::reschedule`] moves an appointment: its new start and end, why it is
/// moved over clashes on purpose (empty: it is not), and which of a series' occurrences move
/// with it.
#[derive(Debug, Clone)]
pub struct Move {
    pub start_us: Option<i64>,
    pub end_us: Option<i64>,
    pub overlap_reason: String,
    pub scope: SeriesScope,
}

/// Each clash named: `occurrences[i].<what>` and when, with what it overlaps.
pub fn clashes(appointments: &[Appointment], found: &[Conflict]) -> Error {
    let violations = found
        .iter()
        .map(|c| {
            let (what, id) = match &c.resource {
                Resource::Clinician(id) => ("clinician_ids", format!("clinician {id}")),
                Resource::Room(id) => ("room_id", format!("room {id}")),
                Resource::Patient(id) => ("patient_id", format!("patient {id}")),
            };
            let when = appointments
                .get(c.occurrence)
                .map(|a| {
                    format!(
                        "{}–{}",
                        iop_kit::dates::rfc3339(a.start_us),
                        iop_kit::dates::rfc3339(a.end_us)
                    )
                })
                .unwrap_or_default();
            FieldViolation {
                field: format!("occurrences[{}].{what}", c.occurrence),
                description: format!("{when}: {id} is booked then (appointment {})", c.with),
            }
        })
        .collect();
    Error::Clashes(violations)
}

/// An instant from its microseconds since the epoch.
fn instant(field: &str, us: i64) -> Result<DateTime<Utc>, Error> {
    DateTime::from_timestamp_micros(us).ok_or_else(|| Error::field(field, "is out of range"))
}

/// At most this many facilitators hold one group session.
pub const MAX_FACILITATORS: usize = 8;

/// What another service (the group service) asks to hold for one of its sessions: the room,
/// the facilitators, or both, for a time. No patient: the session's members are the group
/// service's.
#[derive(Debug, Clone, Default)]
pub struct NewHold {
    /// The placing service's own key for the session: the same key twice is one hold.
    pub key: String,
    pub location_id: Option<LocationId>,
    pub room_id: Option<RoomId>,
    pub clinician_ids: Vec<ClinicianId>,
    pub start_us: Option<i64>,
    pub end_us: Option<i64>,
}

impl NewHold {
    fn check(&self) -> Result<(), Error> {
        let mut v = Violations::new("");
        if self.key.is_empty() {
            v.push("hold_key", "is required");
        } else if self.key.len() > 200 || !self.key.bytes().all(|b| b.is_ascii_graphic()) {
            v.push("hold_key", "must be 1-200 printable ASCII characters");
        }
        if self.location_id.is_none() {
            v.push("location_id", "is required");
        }
        if self.room_id.is_none() && self.clinician_ids.is_empty() {
            v.push(
                "room_id",
                "is required unless clinician_ids names a facilitator",
            );
        }
        if self.clinician_ids.len() > MAX_FACILITATORS {
            v.push("clinician_ids", "must name at most 8 facilitators");
        }
        v.unique("clinician_ids", &self.clinician_ids);
        check_times(&mut v, self.start_us, self.end_us);
        v.finish()
    }
}

/// Holds are placed and released by the service that owns them, never cancelled, moved or
/// checked in as appointments are.
fn not_a_hold(a: &Appointment) -> Result<(), Error> {
    if a.kind == AppointmentKind::GroupHold {
        return Err(Error::Unmet(vec![FieldViolation {
            field: "kind".into(),
            description: "is group_hold: a hold is released by the service that placed it \
                          (ReleaseHold), not changed as an appointment"
                .into(),
        }]));
    }
    Ok(())
}

impl Appointments {
    /// Holds a room and facilitators for another service's session, checked exactly like a
    /// booking (a clash refuses it, naming what it meets); the same key with the same
    /// request answers the hold already placed, with another request is refused. A room
    /// held is in person; facilitators alone, telehealth.
    pub async fn hold(&self, who: &Principal, hold: NewHold) -> Result<Appointment, Error> {
        hold.check()?;
        let new = NewAppointment {
            kind: Some(AppointmentKind::GroupHold),
            patient_id: None,
            clinician_ids: hold.clinician_ids,
            location_id: hold.location_id,
            modality: Some(if hold.room_id.is_some() {
                Modality::InPerson
            } else {
                Modality::Telehealth
            }),
            room_id: hold.room_id,
            start_us: hold.start_us,
            end_us: hold.end_us,
            ..Default::default()
        };
        // Hold keys are their own namespace beside clients' request ids.
        let scoped = format!("hold:{}", hold.key);
        let key = Key::parse(&scoped, &new).map_err(|_| Error::field("hold_key", "is invalid"))?;
        let (mut made, _) = self.place(who, &new, key, "").await.map_err(|e| match e {
            Error::Unprocessable(v) if v.iter().any(|v| v.field == "request_id") => {
                Error::rule("hold_key", "was already used for a different hold")
            }
            other => other,
        })?;
        made.pop()
            .ok_or_else(|| Error::internal("a hold placed nothing"))
    }

    /// Releases a hold: its time is free again. Releasing one already released answers it
    /// as it is, so a retry is harmless.
    pub async fn release(
        &self,
        who: &Principal,
        id: AppointmentId,
        reason: &str,
    ) -> Result<Appointment, Error> {
        let mut v = Violations::new("");
        v.text("reason", reason, text::LINE);
        v.finish()?;
        let current = self.get(who, id).await?;
        if current.kind != AppointmentKind::GroupHold {
            return Err(Error::Unmet(vec![FieldViolation {
                field: "id".into(),
                description: "is not a hold: an appointment is cancelled (CancelAppointment)"
                    .into(),
            }]));
        }
        if current.status == Status::Cancelled {
            return Ok(current);
        }
        let cancellation = Cancellation {
            kind: CancellationKind::ByClinic,
            reason: match reason.trim() {
                "" => "hold released".to_owned(),
                r => r.to_owned(),
            },
            by: who.subject.clone(),
            time_us: iop_core::now_micros(),
        };
        let mut released = self
            .store
            .cancel(&who.tenant, &current, SeriesScope::This, &cancellation)
            .await?;
        released
            .pop()
            .ok_or_else(|| Error::internal("a release released nothing"))
    }
}

#[cfg(test)]
mod tests;
