//! Referrals from partner systems: received → in review → accepted (→ intake scheduled →
//! admitted) or declined with a reason. Accepting can create the patient from the details
//! sent and open the episode of care. Status changes are made by staff users; a backend
//! client sees only the referrals it sent, without the clinic's internal ids and notes (the
//! closed loop). Transport-free; `grpc` maps it onto `iop.records.v1.ReferralService`.

pub mod grpc;
mod store;
#[cfg(test)]
mod tests;

use chrono::NaiveDate;
use iop_core::page;
use iop_core::{EpisodeId, Error, PatientId, Principal, ReferralId, now_micros};
use serde::{Deserialize, Serialize};

use crate::domain::{Contact, Identifier, PatientFields, Sex};
use crate::episodes::{
    Admission, CareTeam, Episodes, NewEpisode, Population, Status as EpisodeStatus,
};
use crate::patients::Patients;
use iop_kit::dates::date_of;
use iop_kit::etag;
use iop_kit::idempotency::{self, Claim, Key};
use iop_kit::require_user;
use iop_kit::text;
use iop_kit::violations::Violations;
pub use store::ReferralStore;

iop_kit::text_enum! {
    pub enum Urgency: iop_proto::records::Urgency {
        Routine = "routine",
        Urgent = "urgent",
        Emergent = "emergent",
    }
}

iop_kit::text_enum! {
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum ReferralStatus: iop_proto::records::ReferralStatus {
        Received = "received",
        InReview = "in_review",
        Accepted = "accepted",
        IntakeScheduled = "intake_scheduled",
        Admitted = "admitted",
        Declined = "declined",
    }
}

/// The patient as the referring organization described them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReferredPatient {
    pub given_name: String,
    pub family_name: String,
    pub birth_date: Option<NaiveDate>,
    #[serde(default)]
    pub sex_at_birth: Sex,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub identifiers: Vec<Identifier>,
}

/// What the referring organization sent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Details {
    pub contact: String,
    pub patient: ReferredPatient,
    pub reason: String,
    pub requested_program: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    pub status: ReferralStatus,
    pub by: String,
    pub time_us: i64,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referral {
    pub id: ReferralId,
    pub organization: String,
    pub urgency: Urgency,
    pub details: Details,
    pub status: ReferralStatus,
    pub decline_reason: String,
    pub intake_time_us: Option<i64>,
    pub patient_id: Option<PatientId>,
    pub episode_id: Option<EpisodeId>,
    /// The backend client that sent it; `None` when staff entered it.
    pub source_client: Option<String>,
    pub history: Vec<StatusChange>,
    pub version: i64,
    pub create_time_us: i64,
    pub update_time_us: i64,
}

impl Referral {
    pub fn etag(&self) -> String {
        self.version.to_string()
    }

    /// What a backend client may see of it: its own submission and the status, not the
    /// clinic's internal ids, staff names or notes (the decline reason excepted).
    fn partner_view(mut self) -> Self {
        self.patient_id = None;
        self.episode_id = None;
        for change in &mut self.history {
            change.by.clear();
            if change.status != ReferralStatus::Declined {
                change.note.clear();
            }
        }
        self
    }
}

/// The caller as a referral source: backend clients are partners, staff users are not.
fn source_of(who: &Principal) -> Option<String> {
    (!who.is_user()).then(|| who.client_id.clone().unwrap_or_else(|| who.subject.clone()))
}

#[derive(Debug, Default)]
pub struct ListReferrals<'a> {
    pub status: Option<ReferralStatus>,
    pub urgency: Option<Urgency>,
    pub after_us: Option<i64>,
    pub before_us: Option<i64>,
    pub page_size: i32,
    pub page_token: &'a str,
}

/// How an accepted referral joins the record.
#[derive(Debug, Clone, Default)]
pub struct Acceptance {
    pub patient_id: Option<PatientId>,
    pub open_episode: bool,
    pub program: String,
    pub population: Option<Population>,
    pub note: String,
}

const KIND: &str = "referral";

#[derive(Clone)]
pub struct Referrals {
    store: ReferralStore,
    patients: Patients,
    episodes: Episodes,
}

impl Referrals {
    pub fn new(store: ReferralStore, patients: Patients, episodes: Episodes) -> Self {
        Self {
            store,
            patients,
            episodes,
        }
    }

    pub async fn create(
        &self,
        who: &Principal,
        organization: String,
        urgency: Option<Urgency>,
        details: Details,
        request_id: &str,
    ) -> Result<Referral, Error> {
        let mut v = Violations::new("referral.");
        v.text("referring_organization", &organization, text::NAME);
        v.text("referring_contact", &details.contact, text::TEXT);
        if urgency.is_none() {
            v.push("urgency", "is required (routine, urgent or emergent)");
        }
        // The details must make a valid patient, so that accepting can always create one.
        if let Err(Error::InvalidFields(list)) =
            patient_fields(&details.patient).validate("", iop_kit::dates::today())
        {
            for f in list {
                let field = f.field.strip_prefix("contact.").unwrap_or(&f.field);
                v.push(&format!("patient.{field}"), &f.description);
            }
        }
        v.text("reason", &details.reason, text::STATEMENT);
        v.text("requested_program", &details.requested_program, text::TEXT);
        v.finish()?;
        let Some(urgency) = urgency else {
            return Err(Error::internal("validated urgency is missing"));
        };
        let key = Key::parse(request_id, &(&organization, urgency, &details))?;
        let now = now_micros();
        let referral = Referral {
            id: ReferralId::new(),
            organization: organization.trim().to_owned(),
            urgency,
            details,
            status: ReferralStatus::Received,
            decline_reason: String::new(),
            intake_time_us: None,
            patient_id: None,
            episode_id: None,
            source_client: source_of(who),
            history: vec![StatusChange {
                status: ReferralStatus::Received,
                by: who.subject.clone(),
                time_us: now,
                note: String::new(),
            }],
            version: 1,
            create_time_us: now,
            update_time_us: now,
        };
        let claim = self
            .store
            .insert(&who.tenant, &referral, key.as_ref())
            .await?;
        if claim == Claim::New {
            tracing::info!(referral_id = %referral.id, urgency = urgency.as_str(), "referral received");
        }
        idempotency::answer(
            claim,
            self.view(who, referral),
            "send a different referral",
            |id| async move {
                let id = ReferralId::parse("id", &id)
                    .map_err(|_| Error::internal("stored request has a bad referral id"))?;
                self.get(who, id).await
            },
        )
        .await
    }

    /// A referral; a backend client only finds the ones it sent.
    pub async fn get(&self, who: &Principal, id: ReferralId) -> Result<Referral, Error> {
        let referral = self.find(who, id).await?;
        Ok(self.view(who, referral))
    }

    async fn find(&self, who: &Principal, id: ReferralId) -> Result<Referral, Error> {
        self.store
            .get(&who.tenant, id)
            .await?
            .filter(|r| match source_of(who) {
                Some(source) => r.source_client.as_deref() == Some(source.as_str()),
                None => true,
            })
            .ok_or_else(|| Error::NotFound {
                kind: "referral",
                id: id.to_string(),
            })
    }

    fn view(&self, who: &Principal, r: Referral) -> Referral {
        if who.is_user() { r } else { r.partner_view() }
    }

    /// Referrals oldest first; a backend client's own only.
    pub async fn list(
        &self,
        who: &Principal,
        req: ListReferrals<'_>,
    ) -> Result<(Vec<Referral>, Option<String>), Error> {
        let size = page::page_size(req.page_size)?;
        let fingerprint = page::fingerprint(&[
            req.status.map_or("", ReferralStatus::as_str),
            req.urgency.map_or("", Urgency::as_str),
            &format!("{:?}/{:?}", req.after_us, req.before_us),
        ]);
        let after = page::resume_after(req.page_token, fingerprint, |a| {
            ReferralId::parse("page_token", a)
        })?;
        let query = store::ReferralQuery {
            source_client: source_of(who),
            status: req.status,
            urgency: req.urgency,
            after_us: req.after_us,
            before_us: req.before_us,
            after,
            limit: size + 1,
        };
        let mut rows = self.store.list(&who.tenant, &query).await?;
        let next = page::next_page(&mut rows, size, fingerprint, |r| r.id.to_string());
        Ok((rows.into_iter().map(|r| self.view(who, r)).collect(), next))
    }

    pub async fn review(
        &self,
        who: &Principal,
        id: ReferralId,
        note: &str,
        etag: &str,
    ) -> Result<Referral, Error> {
        let current = self.staff_change(who, id, etag).await?;
        self.transition(
            who,
            current,
            &[ReferralStatus::Received],
            ReferralStatus::InReview,
            note,
            |_| Ok(()),
        )
        .await
    }

    /// Accepts: links or creates the patient and, when asked, opens the episode. A retry
    /// finds the patient and episode the first attempt made.
    pub async fn accept(
        &self,
        who: &Principal,
        id: ReferralId,
        acceptance: Acceptance,
        etag: &str,
    ) -> Result<Referral, Error> {
        let current = self.staff_change(who, id, etag).await?;
        require_status(
            &current,
            &[ReferralStatus::Received, ReferralStatus::InReview],
            "accepted",
        )?;
        let mut v = Violations::new("");
        // Checked before a patient or an episode is made for the referral.
        v.text("program", &acceptance.program, text::TEXT);
        v.text("note", &acceptance.note, text::NARRATIVE);
        v.finish()?;
        if acceptance.open_episode && acceptance.population.is_none() {
            return Err(Error::field(
                "population",
                "is required to open the episode (adult or adolescent)",
            ));
        }
        let patient_id = match acceptance.patient_id {
            Some(p) => self.patients.get(who, p).await?.id,
            None => {
                let fields = patient_fields(&current.details.patient);
                self.patients
                    .create(who, fields, &format!("referral-{id}-patient"))
                    .await
                    .map_err(|e| e.under("referral."))?
                    .id
            }
        };
        let episode_id = if acceptance.open_episode {
            let program = if acceptance.program.trim().is_empty() {
                current.details.requested_program.clone()
            } else {
                acceptance.program.clone()
            };
            if program.trim().is_empty() {
                // The default comes from the stored referral, which names no program.
                return Err(Error::Unmet(vec![iop_core::FieldViolation {
                    field: "program".into(),
                    description: "is required: the referral requests no program".into(),
                }]));
            }
            let episode = NewEpisode {
                patient_id: Some(patient_id),
                program,
                population: acceptance.population,
                referral_date: Some(date_of(current.create_time_us)),
                ..Default::default()
            };
            Some(
                self.episodes
                    .create(who, episode, &format!("referral-{id}-episode"))
                    .await?
                    .id,
            )
        } else {
            None
        };
        self.transition(
            who,
            current,
            &[ReferralStatus::Received, ReferralStatus::InReview],
            ReferralStatus::Accepted,
            &acceptance.note,
            |r| {
                r.patient_id = Some(patient_id);
                r.episode_id = episode_id;
                Ok(())
            },
        )
        .await
    }

    pub async fn schedule_intake(
        &self,
        who: &Principal,
        id: ReferralId,
        intake_time_us: Option<i64>,
        note: &str,
        etag: &str,
    ) -> Result<Referral, Error> {
        let Some(time) = intake_time_us else {
            return Err(Error::field("intake_time", "is required"));
        };
        if time <= 0 {
            return Err(Error::rule("intake_time", "must be after 1970-01-01"));
        }
        let current = self.staff_change(who, id, etag).await?;
        self.transition(
            who,
            current,
            &[ReferralStatus::Accepted, ReferralStatus::IntakeScheduled],
            ReferralStatus::IntakeScheduled,
            note,
            |r| {
                r.intake_time_us = Some(time);
                Ok(())
            },
        )
        .await
    }

    /// The intake called off: back to accepted, its time cleared. An accepted referral is
    /// answered as it is (a retry, or an intake never scheduled here).
    pub async fn cancel_intake(
        &self,
        who: &Principal,
        id: ReferralId,
        note: &str,
        etag: &str,
    ) -> Result<Referral, Error> {
        let current = self.staff_change(who, id, etag).await?;
        if current.status == ReferralStatus::Accepted {
            return Ok(current);
        }
        self.transition(
            who,
            current,
            &[ReferralStatus::IntakeScheduled],
            ReferralStatus::Accepted,
            note,
            |r| {
                r.intake_time_us = None;
                Ok(())
            },
        )
        .await
    }

    /// Admitted: the referral's episode, still referred, is admitted on `admit_date` too.
    pub async fn mark_admitted(
        &self,
        who: &Principal,
        id: ReferralId,
        admit_date: Option<NaiveDate>,
        note: &str,
        etag: &str,
    ) -> Result<Referral, Error> {
        let Some(admit_date) = admit_date else {
            return Err(Error::field("admit_date", "is required"));
        };
        let current = self.staff_change(who, id, etag).await?;
        let from = [ReferralStatus::Accepted, ReferralStatus::IntakeScheduled];
        require_status(&current, &from, "admitted")?;
        if let Some(episode) = current.episode_id {
            let e = self.episodes.get(who, episode).await?;
            if e.status == EpisodeStatus::Referred {
                let admission = Admission {
                    admit_date: Some(admit_date),
                    team: CareTeam::default(),
                };
                self.episodes.admit(who, episode, admission, "").await?;
            }
        }
        self.transition(who, current, &from, ReferralStatus::Admitted, note, |_| {
            Ok(())
        })
        .await
    }

    pub async fn decline(
        &self,
        who: &Principal,
        id: ReferralId,
        reason: &str,
        etag: &str,
    ) -> Result<Referral, Error> {
        if reason.trim().is_empty() {
            return Err(Error::field(
                "reason",
                "is required: the referring organization is told why",
            ));
        }
        let from = [
            ReferralStatus::Received,
            ReferralStatus::InReview,
            ReferralStatus::Accepted,
            ReferralStatus::IntakeScheduled,
        ];
        let current = self.staff_change(who, id, etag).await?;
        self.transition(who, current, &from, ReferralStatus::Declined, reason, |r| {
            r.decline_reason = reason.trim().to_owned();
            Ok(())
        })
        .await
    }

    /// The referral as a staff user may change it: read, at `etag`.
    async fn staff_change(
        &self,
        who: &Principal,
        id: ReferralId,
        etag: &str,
    ) -> Result<Referral, Error> {
        require_user(who, "referral status is changed by clinic staff")?;
        let current = self.find(who, id).await?;
        etag::check(etag, &current.etag(), "referral", &id)?;
        Ok(current)
    }

    /// Moves `current` (read by [`Self::staff_change`]) to `to` after `edit`.
    async fn transition(
        &self,
        who: &Principal,
        current: Referral,
        from: &[ReferralStatus],
        to: ReferralStatus,
        note: &str,
        edit: impl FnOnce(&mut Referral) -> Result<(), Error>,
    ) -> Result<Referral, Error> {
        let mut v = Violations::new("");
        v.text("note", note, text::NARRATIVE);
        v.finish()?;
        let id = current.id;
        require_status(&current, from, to.as_str())?;
        let now = now_micros();
        let mut next = current.clone();
        edit(&mut next)?;
        next.status = to;
        next.history.push(StatusChange {
            status: to,
            by: who.subject.clone(),
            time_us: now,
            note: note.trim().to_owned(),
        });
        next.version += 1;
        next.update_time_us = now;
        if !self
            .store
            .update(&who.tenant, &next, current.version)
            .await?
        {
            return Err(etag::stale("referral", &id));
        }
        tracing::info!(referral_id = %id, status = to.as_str(), "referral changed");
        Ok(next)
    }
}

fn require_status(r: &Referral, from: &[ReferralStatus], to: &str) -> Result<(), Error> {
    if from.contains(&r.status) {
        Ok(())
    } else {
        Err(Error::FailedPrecondition(format!(
            "referral {} is {}; it cannot become {to}",
            r.id,
            r.status.as_str()
        )))
    }
}

fn patient_fields(p: &ReferredPatient) -> PatientFields {
    PatientFields {
        given_name: p.given_name.clone(),
        family_name: p.family_name.clone(),
        birth_date: p.birth_date,
        sex_at_birth: match p.sex_at_birth {
            Sex::Unspecified => Sex::Unknown,
            other => other,
        },
        contact: Contact {
            phone: p.phone.clone(),
            email: p.email.clone(),
            address: None,
        },
        identifiers: p.identifiers.clone(),
        ..Default::default()
    }
}
