//! The waitlist: patients waiting for a kind of appointment at a location, with what suits
//! them (preferred clinicians, days, local times, modality). Time freed by a cancellation,
//! a no-show, a reschedule or a released hold becomes an *opening*, written in the same
//! transaction that freed it ([`store::opened`]). A worker in this service ([`Waitlist::run`])
//! offers each opening to the first entry, oldest first, that it suits and whose patient is
//! free then; the offer stands for the kind's `waitlist_offer_seconds`, never past the
//! opening's start. Accepting books the appointment as the front desk would (every rule of
//! a booking applies); a declined or expired offer passes the opening to the next entry that
//! suits and was not offered it yet. Everything is kept in the database, so a restart picks
//! up where it stood, and two workers (two instances on one PostgreSQL) cannot make two open
//! offers of one opening or to one entry: unique indexes refuse the second.
//!
//! An offer does not hold the time: the front desk may still book it, and accepting then
//! answers the conflict, the offer `taken` and the entry waiting again. An opening is offered
//! once, from its start, for the kind's default length; a longer one is not split.

pub mod grpc;
pub mod store;

use std::collections::{HashMap, HashSet};

use chrono::{Datelike, NaiveTime, Weekday};
use chrono_tz::Tz;
use iop_core::{
    AppointmentId, ClinicianId, Error, FieldViolation, LocationId, PatientId, Principal, RoomId,
    TenantId, WaitlistEntryId, WaitlistOfferId, page,
};
use iop_kit::idempotency::{self, Key};
use iop_kit::text;
use iop_kit::violations::Violations;

use crate::appointments::{Appointment, Appointments, Modality, NewAppointment};
use crate::clinicians::AppointmentKind;
use crate::clock;
use crate::conflicts::Resource;
use crate::interval::Span;
use crate::references::References;
use store::{EntryQuery, Opening, WaitlistStore};

pub(crate) const KIND: &str = "waitlist entry";

/// Preferred clinicians one entry may name.
pub const MAX_CLINICIANS: usize = 8;
/// Time windows one entry may name.
pub const MAX_WINDOWS: usize = 7;
/// The offers an entry shows, latest first.
pub const OFFERS_SHOWN: usize = 20;
/// What one step of the worker looks at: openings, due offers, entries per opening.
const BATCH: usize = 100;
const QUEUE: usize = 500;

iop_kit::text_enum! {
    pub enum EntryStatus: iop_proto::scheduling::WaitlistStatus {
        Waiting = "waiting",
        Offered = "offered",
        Booked = "booked",
        Withdrawn = "withdrawn",
    }
}

iop_kit::text_enum! {
    pub enum OfferStatus: iop_proto::scheduling::OfferStatus {
        Open = "open",
        Accepted = "accepted",
        Declined = "declined",
        Expired = "expired",
        Taken = "taken",
        Withdrawn = "withdrawn",
    }
}

/// Local times of day that suit, at the location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

/// What suits the patient: empty lists mean any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preferences {
    pub clinician_ids: Vec<ClinicianId>,
    pub days: Vec<Weekday>,
    pub windows: Vec<Window>,
    pub modalities: Vec<Modality>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub id: WaitlistOfferId,
    pub opening_id: String,
    pub clinician_id: ClinicianId,
    pub room_id: Option<RoomId>,
    pub modality: Modality,
    pub start_us: i64,
    pub end_us: i64,
    pub expire_us: i64,
    pub status: OfferStatus,
    pub create_time_us: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: WaitlistEntryId,
    pub patient_id: PatientId,
    pub kind: AppointmentKind,
    pub location_id: LocationId,
    pub wants: Preferences,
    pub status: EntryStatus,
    /// Latest first, at most [`OFFERS_SHOWN`].
    pub offers: Vec<Offer>,
    pub appointment_id: Option<AppointmentId>,
    pub withdraw_reason: String,
    pub created_by: String,
    pub create_time_us: i64,
}

impl Entry {
    /// The offer standing now, if any.
    pub fn open_offer(&self) -> Option<&Offer> {
        self.offers.iter().find(|o| o.status == OfferStatus::Open)
    }
}

/// What a client sends to put a patient on the list.
#[derive(Debug, Clone, Default)]
pub struct NewEntry {
    pub patient_id: Option<PatientId>,
    pub kind: Option<AppointmentKind>,
    pub location_id: Option<LocationId>,
    pub wants: Preferences,
}

impl NewEntry {
    fn check(&self) -> Result<(), Error> {
        let mut v = Violations::new("entry.");
        if self.patient_id.is_none() {
            v.push("patient_id", "is required");
        }
        match self.kind {
            None => v.push("kind", "is required"),
            Some(AppointmentKind::GroupHold) => v.push(
                "kind",
                "group_hold is placed by the group service, not waited for",
            ),
            Some(_) => {}
        }
        if self.location_id.is_none() {
            v.push("location_id", "is required");
        }
        let w = &self.wants;
        if w.clinician_ids.len() > MAX_CLINICIANS {
            v.push("clinician_ids", "must name at most 8 clinicians");
        }
        v.unique("clinician_ids", &w.clinician_ids);
        v.unique("days", &w.days);
        v.unique("modalities", &w.modalities);
        if w.windows.len() > MAX_WINDOWS {
            v.push("windows", "must name at most 7 windows");
        }
        for (i, window) in w.windows.iter().enumerate() {
            if window.end <= window.start {
                v.rule(
                    &format!("windows[{i}].end_time"),
                    "must be after start_time",
                );
            }
        }
        v.finish()
    }
}

/// A time an opening could be offered as to one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    pub clinician_id: ClinicianId,
    pub room_id: Option<RoomId>,
    pub modality: Modality,
    pub start_us: i64,
    pub end_us: i64,
}

/// How `opening` could be offered to `entry`, one proposal per clinician it suits, in the
/// opening's order: from its start for `minutes`, wholly inside it, on a day and inside a
/// window of `entry`'s in the location's zone `tz`, in a modality both the entry takes and
/// the clinic offers (`offered`) — in person only in the room the opening freed. Whether the
/// clinician provides the kind and who is free then is read by the caller.
pub fn proposals(
    entry: &Entry,
    opening: &Opening,
    tz: Tz,
    minutes: i64,
    offered: &[Modality],
) -> Vec<Proposal> {
    let start_us = opening.start_us;
    let end_us = start_us.saturating_add(minutes.saturating_mul(60_000_000));
    if end_us > opening.end_us || entry.location_id != opening.location_id {
        return Vec::new();
    }
    let Some(span) = Span::from_micros(start_us, end_us) else {
        return Vec::new();
    };
    let (from, to) = (clock::local(tz, span.start), clock::local(tz, span.end));
    let w = &entry.wants;
    if !w.days.is_empty() && !w.days.contains(&from.weekday()) {
        return Vec::new();
    }
    let inside =
        |win: &Window| from.date() == to.date() && win.start <= from.time() && to.time() <= win.end;
    if !w.windows.is_empty() && !w.windows.iter().any(inside) {
        return Vec::new();
    }
    let takes = |m: Modality| {
        (w.modalities.is_empty() || w.modalities.contains(&m)) && offered.contains(&m)
    };
    let (modality, room_id) = match opening.room_id {
        Some(room) if takes(Modality::InPerson) => (Modality::InPerson, Some(room)),
        _ if takes(Modality::Telehealth) => (Modality::Telehealth, None),
        _ => return Vec::new(),
    };
    opening
        .clinician_ids
        .iter()
        .filter(|c| w.clinician_ids.is_empty() || w.clinician_ids.contains(c))
        .map(|c| Proposal {
            clinician_id: *c,
            room_id,
            modality,
            start_us,
            end_us,
        })
        .collect()
}

/// Keeps the list, and offers freed time to it.
#[derive(Clone)]
pub struct Waitlist {
    store: WaitlistStore,
    refs: References,
    appointments: Appointments,
}

/// Who the worker acts as in a clinic: the service itself, not a person.
fn worker(tenant: TenantId) -> Principal {
    iop_kit::principal::worker(tenant, "scheduling", "waitlist")
}

impl Waitlist {
    pub fn new(store: WaitlistStore, refs: References, appointments: Appointments) -> Self {
        Self {
            store,
            refs,
            appointments,
        }
    }

    /// Puts a patient on the list: the patient (asked of the records service), location and
    /// preferred clinicians must exist; each preferred clinician must provide the kind.
    pub async fn create(
        &self,
        who: &Principal,
        new: NewEntry,
        request_id: &str,
    ) -> Result<Entry, Error> {
        new.check()?;
        let key = Key::parse(request_id, &new)?;
        let (Some(patient_id), Some(kind), Some(location_id)) =
            (new.patient_id, new.kind, new.location_id)
        else {
            return Err(Error::internal("validated fields are missing"));
        };
        self.refs.exist(who, None, Some(location_id)).await?;
        let mut v = Violations::new("entry.");
        for (i, id) in new.wants.clinician_ids.iter().enumerate() {
            if let Some(why) = self.refs.clinician(who, *id, Some(kind)).await? {
                v.push(&format!("clinician_ids[{i}]"), &why);
            }
        }
        let offered = self.refs.kind(who, kind).await?.modalities;
        if !new.wants.modalities.is_empty()
            && !new.wants.modalities.iter().any(|m| offered.contains(m))
        {
            v.push(
                "modalities",
                &format!("none is offered for {}", kind.as_str()),
            );
        }
        v.finish_unmet()?;
        self.refs.patient(who, patient_id).await?;
        let mut wants = new.wants;
        wants.windows.sort_by_key(|w| (w.start, w.end));
        let made = Entry {
            id: WaitlistEntryId::new(),
            patient_id,
            kind,
            location_id,
            wants,
            status: EntryStatus::Waiting,
            offers: Vec::new(),
            appointment_id: None,
            withdraw_reason: String::new(),
            created_by: who.subject.clone(),
            create_time_us: iop_core::now_micros(),
        };
        let claim = self.store.insert(&who.tenant, &made, key.as_ref()).await?;
        idempotency::answer(claim, made, "add a different entry", |id| async move {
            let id = WaitlistEntryId::parse("id", &id)
                .map_err(|_| Error::internal("stored request has a bad entry id"))?;
            self.get(who, id).await
        })
        .await
    }

    pub async fn get(&self, who: &Principal, id: WaitlistEntryId) -> Result<Entry, Error> {
        self.store
            .entry(&who.tenant, id)
            .await?
            .ok_or_else(|| Error::NotFound {
                kind: KIND,
                id: id.to_string(),
            })
    }

    /// A page of entries, oldest first.
    pub async fn list(
        &self,
        who: &Principal,
        mut q: EntryQuery,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<Entry>, Option<String>), Error> {
        let size = page::page_size(page_size)?;
        let query = page::fingerprint(&[
            "waitlist",
            &format!(
                "{:?}/{:?}/{:?}/{:?}",
                q.patient, q.location, q.kind, q.status
            ),
        ]);
        q.after = page::resume_after(page_token, query, store::parse_position)?;
        q.limit = size + 1;
        let mut rows = self.store.entries(&who.tenant, &q).await?;
        let next = page::next_page(&mut rows, size, query, store::position);
        Ok((rows, next))
    }

    /// Takes an entry off the list; an offer standing passes on. Withdrawing one already
    /// withdrawn answers it as it is.
    pub async fn withdraw(
        &self,
        who: &Principal,
        id: WaitlistEntryId,
        reason: &str,
    ) -> Result<Entry, Error> {
        let mut v = Violations::new("");
        v.text("reason", reason, text::LINE);
        v.finish()?;
        let entry = self.get(who, id).await?;
        match entry.status {
            EntryStatus::Withdrawn => return Ok(entry),
            EntryStatus::Booked => {
                return Err(unmet(
                    "status",
                    "is booked: cancel the appointment it booked instead",
                ));
            }
            EntryStatus::Waiting | EntryStatus::Offered => {}
        }
        if !self
            .store
            .withdraw(&who.tenant, &entry, reason.trim())
            .await?
        {
            return Err(changed(id));
        }
        self.get(who, id).await
    }

    /// The entry's open offer `offer`, or why it is not one to act on.
    fn standing(entry: &Entry, offer: WaitlistOfferId) -> Result<Offer, Error> {
        let found = entry
            .offers
            .iter()
            .find(|o| o.id == offer)
            .ok_or_else(|| Error::NotFound {
                kind: "waitlist offer",
                id: offer.to_string(),
            })?;
        if found.status != OfferStatus::Open {
            return Err(unmet(
                "offer_id",
                &format!(
                    "is {}: only an open offer is answered",
                    found.status.as_str()
                ),
            ));
        }
        if found.expire_us <= iop_core::now_micros() {
            return Err(unmet("offer_id", "has expired"));
        }
        Ok(found.clone())
    }

    /// Books the entry's open offer for its patient, checked like any booking. When the time
    /// was taken meanwhile, the offer is `taken`, the entry waits again, and the answer is
    /// the conflict.
    pub async fn accept(
        &self,
        who: &Principal,
        id: WaitlistEntryId,
        offer_id: WaitlistOfferId,
        join_url: &str,
    ) -> Result<(Entry, Appointment), Error> {
        let entry = self.get(who, id).await?;
        let offer = Self::standing(&entry, offer_id)?;
        let new = NewAppointment {
            kind: Some(entry.kind),
            patient_id: Some(entry.patient_id),
            clinician_ids: vec![offer.clinician_id],
            location_id: Some(entry.location_id),
            modality: Some(offer.modality),
            room_id: offer.room_id,
            join_url: join_url.to_owned(),
            start_us: Some(offer.start_us),
            end_us: Some(offer.end_us),
            ..Default::default()
        };
        // Keyed by the offer: a retry after a failure past the booking finds it booked. Its
        // rules are a booking's, naming the request's own fields (`join_url`).
        let key = format!("waitlist-offer:{}", offer.id);
        match self.appointments.book_as(who, new, &key, "").await {
            Ok((mut booked, _)) => {
                let appointment = booked
                    .pop()
                    .ok_or_else(|| Error::internal("an accepted offer booked nothing"))?;
                self.store
                    .accepted(&who.tenant, &entry, &offer, appointment.id)
                    .await?;
                Ok((self.get(who, id).await?, appointment))
            }
            // Booked by someone else meanwhile, or a clinician or room no longer able to take
            // part: the offer cannot be kept.
            Err(e @ (Error::Clashes(_) | Error::Conflict(_) | Error::Unmet(_))) => {
                self.store
                    .pass(&who.tenant, entry.id, &offer, OfferStatus::Taken)
                    .await?;
                Err(e)
            }
            Err(other) => Err(other),
        }
    }

    /// Turns the entry's open offer down: it passes to the next entry, and this one waits.
    pub async fn decline(
        &self,
        who: &Principal,
        id: WaitlistEntryId,
        offer_id: WaitlistOfferId,
    ) -> Result<Entry, Error> {
        let entry = self.get(who, id).await?;
        let offer = Self::standing(&entry, offer_id)?;
        if !self
            .store
            .pass(&who.tenant, entry.id, &offer, OfferStatus::Declined)
            .await?
        {
            return Err(changed(id));
        }
        self.get(who, id).await
    }
}

fn unmet(field: &str, description: &str) -> Error {
    Error::Unmet(vec![FieldViolation {
        field: field.into(),
        description: description.into(),
    }])
}

fn changed(id: WaitlistEntryId) -> Error {
    Error::Conflict(format!(
        "waitlist entry {id} changed meanwhile (an offer came or went); read it and retry"
    ))
}

/// How often the worker looks for due work.
pub const EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl Waitlist {
    /// Offers freed time and expires offers until the task is dropped, a step every
    /// [`EVERY`]. A failed step is logged and tried again at the next.
    pub async fn run(self) {
        let mut every = tokio::time::interval(EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if let Err(e) = self.step(iop_core::now_micros()).await {
                tracing::warn!(error = %e, "waitlist step failed; trying again");
            }
        }
    }

    /// One step at `now`: openings whose start passed lapse, offers due expire (their
    /// openings pass on), and each opening waiting to be offered is offered to the first
    /// entry it suits. Returns the offers made.
    pub async fn step(&self, now: i64) -> Result<usize, Error> {
        self.store.lapse(now).await?;
        for (tenant, entry, offer) in self.store.due(now, BATCH).await? {
            self.store
                .pass(&tenant, entry, &offer, OfferStatus::Expired)
                .await?;
        }
        let mut made = 0;
        for opening in self.store.pending(now, BATCH).await? {
            if self.offer(&opening, now).await? {
                made += 1;
            }
        }
        Ok(made)
    }

    /// Offers `opening` to the first waiting entry it suits, not offered it before, whose
    /// clinician, room and patient are free then; none: the opening idles until an entry
    /// arrives or waits again.
    async fn offer(&self, opening: &Opening, now: i64) -> Result<bool, Error> {
        let who = worker(opening.tenant.clone());
        let tz = self.refs.zone(&who, opening.location_id).await?;
        let tried = self.store.tried(opening).await?;
        let queue: Vec<Entry> = self
            .store
            .waiting(&opening.tenant, opening.location_id, QUEUE)
            .await?
            .into_iter()
            .filter(|e| !tried.contains(&e.id))
            .collect();
        // What the matching reads once: the opening's clinicians, each waiting kind's settings.
        let mut clinicians = HashMap::new();
        for id in &opening.clinician_ids {
            if let Some(c) = self.refs.clinicians.get(&opening.tenant, *id).await? {
                clinicians.insert(*id, c);
            }
        }
        let mut kinds = HashMap::new();
        for kind in queue.iter().map(|e| e.kind).collect::<HashSet<_>>() {
            kinds.insert(kind, self.refs.kind(&who, kind).await?);
        }
        for entry in &queue {
            let settings = &kinds[&entry.kind];
            let provides = |c: &ClinicianId| {
                clinicians
                    .get(c)
                    .is_some_and(|c| c.active && c.kinds.contains(&entry.kind))
            };
            let suits = proposals(
                entry,
                opening,
                tz,
                settings.default_minutes,
                &settings.modalities,
            );
            for p in suits.into_iter().filter(|p| provides(&p.clinician_id)) {
                if !self.is_free(&opening.tenant, entry.patient_id, &p).await? {
                    continue;
                }
                let offer = Offer {
                    id: WaitlistOfferId::new(),
                    opening_id: opening.id.clone(),
                    clinician_id: p.clinician_id,
                    room_id: p.room_id,
                    modality: p.modality,
                    start_us: p.start_us,
                    end_us: p.end_us,
                    expire_us: now
                        .saturating_add(settings.waitlist_offer_seconds.saturating_mul(1_000_000))
                        .min(opening.start_us),
                    status: OfferStatus::Open,
                    create_time_us: now,
                };
                // False: another worker, or a client, moved first; read again next step.
                let made = self.store.make(opening, entry, &offer).await?;
                if made {
                    tracing::info!(
                        tenant = %opening.tenant, entry = %entry.id, offer = %offer.id,
                        "waitlist offer made"
                    );
                }
                return Ok(made);
            }
        }
        self.store.idle(opening).await?;
        Ok(false)
    }

    /// Whether the proposal's clinician, room and the patient hold nothing then.
    async fn is_free(
        &self,
        tenant: &TenantId,
        patient: PatientId,
        p: &Proposal,
    ) -> Result<bool, Error> {
        let Some(span) = Span::from_micros(p.start_us, p.end_us) else {
            return Ok(false);
        };
        let mut resources = vec![
            Resource::Clinician(p.clinician_id.to_string()),
            Resource::Patient(patient.to_string()),
        ];
        resources.extend(p.room_id.map(|r| Resource::Room(r.to_string())));
        Ok(self
            .appointments
            .store
            .busy(tenant, &resources, span)
            .await?
            .is_empty())
    }
}

#[cfg(test)]
mod tests;
