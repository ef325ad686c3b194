//! Episodes of care: one IOP stay, referred → admitted → discharged, with the authorized and
//! delivered level-of-care histories, the care team and, at discharge, the aftercare plan.
//! A patient has at most one open episode (a unique index enforces it); readmission opens a
//! new one. Transport-free; `grpc` maps it onto `iop.records.v1.EpisodeService`.

pub mod grpc;
mod store;
#[cfg(test)]
mod tests;

use chrono::NaiveDate;
use iop_core::page;
use iop_core::{EpisodeId, Error, PatientId, Principal, now_micros};
use serde::{Deserialize, Serialize};

use iop_kit::dates::today;
use iop_kit::etag;
use iop_kit::idempotency::{self, Claim, Key};
use iop_kit::text;
use iop_kit::violations::Violations;
pub use store::EpisodeStore;

iop_kit::text_enum! {
    pub enum Population: iop_proto::records::Population {
        Adult = "adult",
        Adolescent = "adolescent",
    }
}

iop_kit::text_enum! {
    pub enum Status: iop_proto::records::EpisodeStatus {
        Referred = "referred",
        Admitted = "admitted",
        Discharged = "discharged",
    }
}

iop_kit::text_enum! {
    /// ASAM levels of care, plus recovery support for aftercare.
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Level: iop_proto::records::LevelOfCare {
        Outpatient = "outpatient",
        IntensiveOutpatient = "intensive_outpatient",
        PartialHospitalization = "partial_hospitalization",
        Residential = "residential",
        Inpatient = "inpatient",
        RecoverySupport = "recovery_support",
    }
}

iop_kit::text_enum! {
    pub enum LevelKind: iop_proto::records::LevelKind {
        Authorized = "authorized",
        Delivered = "delivered",
    }
}

iop_kit::text_enum! {
    pub enum DischargeReason: iop_proto::records::DischargeReason {
        Completed = "completed",
        SteppedDown = "stepped_down",
        SteppedUp = "stepped_up",
        Transferred = "transferred",
        LeftAgainstAdvice = "left_against_advice",
        Administrative = "administrative",
        NeverAdmitted = "never_admitted",
        Other = "other",
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelChange {
    pub kind: LevelKind,
    pub level: Level,
    pub effective_date: NaiveDate,
    pub reason: String,
    pub changed_by: String,
    pub change_time_us: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FollowUp {
    pub time_us: i64,
    pub with: String,
    pub purpose: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SupportContact {
    pub name: String,
    pub role: String,
    pub phone: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Aftercare {
    pub step_down_level: Option<Level>,
    #[serde(default)]
    pub support_groups: Vec<String>,
    #[serde(default)]
    pub follow_ups: Vec<FollowUp>,
    #[serde(default)]
    pub contacts: Vec<SupportContact>,
    #[serde(default)]
    pub notes: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discharge {
    pub date: NaiveDate,
    pub reason: DischargeReason,
    pub note: String,
    pub aftercare: Aftercare,
}

/// The care team: user ids (token `sub`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CareTeam {
    pub primary_clinician: String,
    pub program_director: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Episode {
    pub id: EpisodeId,
    pub patient_id: PatientId,
    pub program: String,
    pub population: Population,
    pub status: Status,
    pub referral_date: NaiveDate,
    pub admit_date: Option<NaiveDate>,
    pub team: CareTeam,
    /// Oldest first.
    pub levels: Vec<LevelChange>,
    pub discharge: Option<Discharge>,
    pub version: i64,
    pub create_time_us: i64,
    pub update_time_us: i64,
}

impl Episode {
    pub fn etag(&self) -> String {
        self.version.to_string()
    }

    /// The latest level of `kind`: the last one effective by date, then by entry order.
    pub fn current(&self, kind: LevelKind) -> Option<Level> {
        self.levels
            .iter()
            .enumerate()
            .filter(|(_, l)| l.kind == kind)
            .max_by_key(|(i, l)| (l.effective_date, *i))
            .map(|(_, l)| l.level)
    }
}

/// An episode as a client opens it.
#[derive(Debug, Clone, Default)]
pub struct NewEpisode {
    pub patient_id: Option<PatientId>,
    pub program: String,
    pub population: Option<Population>,
    pub referral_date: Option<NaiveDate>,
    pub admit_date: Option<NaiveDate>,
    pub team: CareTeam,
    pub authorized_level: Option<Level>,
    pub delivered_level: Option<Level>,
}

/// The changeable descriptive fields, as named in update masks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpisodePath {
    Program,
    Population,
    PrimaryClinician,
    ProgramDirector,
}

impl EpisodePath {
    pub const ALL: [Self; 4] = [
        Self::Program,
        Self::Population,
        Self::PrimaryClinician,
        Self::ProgramDirector,
    ];

    pub fn parse(path: &str) -> Result<Self, String> {
        match path {
            "program" => Ok(Self::Program),
            "population" => Ok(Self::Population),
            "primary_clinician" => Ok(Self::PrimaryClinician),
            "program_director" => Ok(Self::ProgramDirector),
            "status" | "admit_date" | "discharge_date" | "discharge_reason" | "aftercare" => Err(
                format!("{path} changes only through its own call (admit, discharge)"),
            ),
            "authorized_level" | "delivered_level" | "level_history" => Err(format!(
                "{path} changes only through ChangeLevelOfCare, which keeps the history"
            )),
            _ => Err(format!("{path} is not a changeable episode field")),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct EpisodePatch {
    pub program: String,
    pub population: Option<Population>,
    pub team: CareTeam,
}

#[derive(Debug, Clone)]
pub struct Admission {
    pub admit_date: Option<NaiveDate>,
    pub team: CareTeam,
}

#[derive(Debug, Clone)]
pub struct NewLevel {
    pub kind: Option<LevelKind>,
    pub level: Option<Level>,
    pub effective_date: Option<NaiveDate>,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct NewDischarge {
    pub date: Option<NaiveDate>,
    pub reason: Option<DischargeReason>,
    pub note: String,
    pub aftercare: Option<Aftercare>,
}

#[derive(Debug, Default)]
pub struct ListEpisodes<'a> {
    pub patient_id: &'a str,
    pub status: Option<Status>,
    pub program: &'a str,
    pub clinician: &'a str,
    pub admitted_from: Option<NaiveDate>,
    pub admitted_to: Option<NaiveDate>,
    pub page_size: i32,
    pub page_token: &'a str,
}

const KIND: &str = "episode";
const MAX_ITEMS: usize = 20;

#[derive(Clone)]
pub struct Episodes {
    store: EpisodeStore,
}

impl Episodes {
    pub fn new(store: EpisodeStore) -> Self {
        Self { store }
    }

    /// Opens an episode (admitted when `admit_date` is given). Refused while the patient
    /// has another open episode.
    pub async fn create(
        &self,
        who: &Principal,
        new: NewEpisode,
        request_id: &str,
    ) -> Result<Episode, Error> {
        let today = today();
        // A direct admission without a referral date was referred when admitted.
        let referral_date = new.referral_date.or(new.admit_date).unwrap_or(today);
        let mut v = Violations::new("episode.");
        if new.patient_id.is_none() {
            v.push("patient_id", "is required");
        }
        check_program(&mut v, &new.program);
        if new.population.is_none() {
            v.push("population", "is required (adult or adolescent)");
        }
        if referral_date > today {
            v.rule("referral_date", "must not be in the future");
        } else if referral_date < iop_kit::dates::EARLIEST_DATE {
            v.rule("referral_date", "must not be before 1900-01-01");
        }
        if let Some(admit) = new.admit_date {
            check_admit_date(&mut v, admit, referral_date, today);
        }
        check_team(&mut v, &new.team);
        v.finish()?;
        let (Some(patient_id), Some(population)) = (new.patient_id, new.population) else {
            return Err(Error::internal("validated fields are missing"));
        };
        let key = Key::parse(request_id, &new)?;
        let now = now_micros();
        let start = new.admit_date.unwrap_or(referral_date);
        let initial = |kind, level: Option<Level>| {
            level.map(|level| LevelChange {
                kind,
                level,
                effective_date: start,
                reason: if new.admit_date.is_some() {
                    "at admission".into()
                } else {
                    "at referral".into()
                },
                changed_by: who.subject.clone(),
                change_time_us: now,
            })
        };
        let levels = [
            initial(LevelKind::Authorized, new.authorized_level),
            initial(LevelKind::Delivered, new.delivered_level),
        ]
        .into_iter()
        .flatten()
        .collect();
        let episode = Episode {
            id: EpisodeId::new(),
            patient_id,
            program: new.program.trim().to_owned(),
            population,
            status: if new.admit_date.is_some() {
                Status::Admitted
            } else {
                Status::Referred
            },
            referral_date,
            admit_date: new.admit_date,
            team: new.team,
            levels,
            discharge: None,
            version: 1,
            create_time_us: now,
            update_time_us: now,
        };
        let claim = self
            .store
            .insert(&who.tenant, &episode, key.as_ref())
            .await?;
        if claim == Claim::New {
            tracing::info!(episode_id = %episode.id, patient_id = %patient_id,
                    status = episode.status.as_str(), "episode opened");
        }
        idempotency::answer(
            claim,
            episode,
            "open a different episode",
            |id| async move {
                let id = EpisodeId::parse("id", &id)
                    .map_err(|_| Error::internal("stored request has a bad episode id"))?;
                self.get(who, id).await
            },
        )
        .await
    }

    pub async fn get(&self, who: &Principal, id: EpisodeId) -> Result<Episode, Error> {
        self.store
            .get(&who.tenant, id)
            .await?
            .ok_or_else(|| Error::NotFound {
                kind: "episode",
                id: id.to_string(),
            })
    }

    /// Episodes in opening order, filtered.
    pub async fn list(
        &self,
        who: &Principal,
        req: ListEpisodes<'_>,
    ) -> Result<(Vec<Episode>, Option<String>), Error> {
        let size = page::page_size(req.page_size)?;
        let patient = match req.patient_id {
            "" => None,
            id => Some(PatientId::parse("patient_id", id)?),
        };
        if let (Some(from), Some(to)) = (req.admitted_from, req.admitted_to)
            && from > to
        {
            return Err(Error::rule(
                "admitted_to",
                "must not be before admitted_from",
            ));
        }
        let fingerprint = page::fingerprint(&[
            req.patient_id,
            req.status.map_or("", Status::as_str),
            req.program,
            req.clinician,
            &format!("{:?}/{:?}", req.admitted_from, req.admitted_to),
        ]);
        let after = page::resume_after(req.page_token, fingerprint, |a| {
            EpisodeId::parse("page_token", a)
        })?;
        let query = store::EpisodeQuery {
            patient_id: patient,
            status: req.status,
            program: (!req.program.is_empty()).then(|| req.program.to_owned()),
            clinician: (!req.clinician.is_empty()).then(|| req.clinician.to_owned()),
            admitted_from: req.admitted_from,
            admitted_to: req.admitted_to,
            after,
            limit: size + 1,
        };
        let mut rows = self.store.list(&who.tenant, &query).await?;
        let next = page::next_page(&mut rows, size, fingerprint, |r| r.id.to_string());
        Ok((rows, next))
    }

    /// Changes program, population or care team.
    pub async fn update(
        &self,
        who: &Principal,
        id: EpisodeId,
        patch: EpisodePatch,
        paths: &[EpisodePath],
        etag: &str,
    ) -> Result<Episode, Error> {
        self.change(who, id, etag, |e| {
            let mut v = Violations::new("episode.");
            for path in paths {
                match path {
                    EpisodePath::Program => {
                        check_program(&mut v, &patch.program);
                        e.program = patch.program.trim().to_owned();
                    }
                    EpisodePath::Population => match patch.population {
                        Some(p) => e.population = p,
                        None => v.push("population", "is required (adult or adolescent)"),
                    },
                    EpisodePath::PrimaryClinician => {
                        e.team.primary_clinician = patch.team.primary_clinician.clone()
                    }
                    EpisodePath::ProgramDirector => {
                        e.team.program_director = patch.team.program_director.clone()
                    }
                }
            }
            check_team(&mut v, &e.team);
            v.finish()?;
            Ok(None)
        })
        .await
    }

    /// REFERRED → ADMITTED on `admit_date`.
    pub async fn admit(
        &self,
        who: &Principal,
        id: EpisodeId,
        admission: Admission,
        etag: &str,
    ) -> Result<Episode, Error> {
        let today = today();
        self.change(who, id, etag, |e| {
            if e.status != Status::Referred {
                return Err(Error::FailedPrecondition(format!(
                    "episode {id} is {}; only a referred episode can be admitted",
                    e.status.as_str()
                )));
            }
            let mut v = Violations::new("");
            match admission.admit_date {
                None => v.push("admit_date", "is required"),
                Some(d) => check_admit_date(&mut v, d, e.referral_date, today),
            }
            if !admission.team.primary_clinician.is_empty() {
                e.team.primary_clinician = admission.team.primary_clinician.clone();
            }
            if !admission.team.program_director.is_empty() {
                e.team.program_director = admission.team.program_director.clone();
            }
            check_team(&mut v, &e.team);
            v.finish()?;
            e.status = Status::Admitted;
            e.admit_date = admission.admit_date;
            Ok(None)
        })
        .await
    }

    /// Appends a level of care to its history.
    pub async fn change_level(
        &self,
        who: &Principal,
        id: EpisodeId,
        new: NewLevel,
        etag: &str,
    ) -> Result<Episode, Error> {
        let now = now_micros();
        let effective_date = new.effective_date.unwrap_or_else(today);
        self.change(who, id, etag, |e| {
            let mut v = Violations::new("");
            if new.kind.is_none() {
                v.push("kind", "is required (authorized or delivered)");
            }
            if new.level.is_none() {
                v.push("level", "is required");
            }
            v.text("reason", &new.reason, text::LINE);
            v.finish()?;
            // Measured against the stored episode: FAILED_PRECONDITION.
            let mut unmet = Violations::new("");
            if effective_date < e.referral_date {
                unmet.push("effective_date", "must not be before the referral date");
            }
            unmet.finish_unmet()?;
            let (Some(kind), Some(level)) = (new.kind, new.level) else {
                return Err(Error::internal("validated fields are missing"));
            };
            let change = LevelChange {
                kind,
                level,
                effective_date,
                reason: new.reason.trim().to_owned(),
                changed_by: who.subject.clone(),
                change_time_us: now,
            };
            e.levels.push(change.clone());
            Ok(Some(change))
        })
        .await
    }

    /// Closes the episode with its reason and aftercare plan.
    pub async fn discharge(
        &self,
        who: &Principal,
        id: EpisodeId,
        new: NewDischarge,
        etag: &str,
    ) -> Result<Episode, Error> {
        let today = today();
        self.change(who, id, etag, |e| {
            let mut v = Violations::new("");
            // Measured against the stored episode: FAILED_PRECONDITION once the request itself
            // is well formed.
            let mut unmet = Violations::new("");
            match new.date {
                None => v.push("discharge_date", "is required"),
                Some(d) if d > today => v.rule("discharge_date", "must not be in the future"),
                Some(d) if d < e.admit_date.unwrap_or(e.referral_date) => unmet.push(
                    "discharge_date",
                    "must not be before the admission (or referral) date",
                ),
                Some(_) => {}
            }
            let admitted = e.status == Status::Admitted;
            match new.reason {
                None => v.push("reason", "is required"),
                Some(DischargeReason::NeverAdmitted) if admitted => unmet.push(
                    "reason",
                    "never_admitted is for episodes closed before admission",
                ),
                Some(
                    DischargeReason::Completed
                    | DischargeReason::SteppedDown
                    | DischargeReason::SteppedUp
                    | DischargeReason::LeftAgainstAdvice,
                ) if !admitted => unmet.push(
                    "reason",
                    "the patient was never admitted (use never_admitted, transferred, administrative or other)",
                ),
                Some(_) => {}
            }
            v.text("note", &new.note, text::NARRATIVE);
            let needs_plan = matches!(
                new.reason,
                Some(
                    DischargeReason::Completed
                        | DischargeReason::SteppedDown
                        | DischargeReason::SteppedUp
                        | DischargeReason::Transferred
                )
            );
            match &new.aftercare {
                None if needs_plan => v.push(
                    "aftercare",
                    "is required when the patient goes on to other care",
                ),
                Some(plan) => check_aftercare(&mut v, plan, needs_plan),
                None => {}
            }
            v.finish()?;
            unmet.finish_unmet()?;
            let (Some(date), Some(reason)) = (new.date, new.reason) else {
                return Err(Error::internal("validated fields are missing"));
            };
            e.status = Status::Discharged;
            e.discharge = Some(Discharge {
                date,
                reason,
                note: new.note.trim().to_owned(),
                aftercare: new.aftercare.clone().unwrap_or_default(),
            });
            Ok(None)
        })
        .await
    }

    /// Reads the episode, checks the etag and that it is open, applies `edit`, and writes
    /// the new version (with the level change `edit` returns, if any) unless someone else
    /// wrote first.
    async fn change(
        &self,
        who: &Principal,
        id: EpisodeId,
        etag: &str,
        edit: impl FnOnce(&mut Episode) -> Result<Option<LevelChange>, Error>,
    ) -> Result<Episode, Error> {
        let current = self.get(who, id).await?;
        etag::check(etag, &current.etag(), "episode", &id)?;
        if current.status == Status::Discharged {
            return Err(Error::FailedPrecondition(format!(
                "episode {id} is discharged and closed; readmission opens a new episode"
            )));
        }
        let mut next = current.clone();
        let level = edit(&mut next)?;
        if next == current {
            return Ok(current);
        }
        next.version += 1;
        next.update_time_us = now_micros();
        if !self
            .store
            .update(&who.tenant, &next, current.version, level.as_ref())
            .await?
        {
            return Err(etag::stale("episode", &id));
        }
        tracing::info!(episode_id = %id, version = next.version, status = next.status.as_str(), "episode changed");
        Ok(next)
    }
}

fn check_program(v: &mut Violations<'_>, program: &str) {
    v.text("program", program, text::NAME);
}

fn check_admit_date(
    v: &mut Violations<'_>,
    admit: NaiveDate,
    referral: NaiveDate,
    today: NaiveDate,
) {
    if admit > today {
        v.rule("admit_date", "must not be in the future");
    } else if admit < iop_kit::dates::EARLIEST_DATE {
        v.rule("admit_date", "must not be before 1900-01-01");
    } else if admit < referral {
        v.rule("admit_date", "must not be before the referral date");
    }
}

fn check_team(v: &mut Violations<'_>, team: &CareTeam) {
    v.text("primary_clinician", &team.primary_clinician, text::TEXT);
    v.text("program_director", &team.program_director, text::TEXT);
}

fn check_aftercare(v: &mut Violations<'_>, plan: &Aftercare, needs_level: bool) {
    if needs_level && plan.step_down_level.is_none() {
        v.push("aftercare.step_down_level", "is required");
    }
    if plan.support_groups.len() > MAX_ITEMS {
        v.push("aftercare.support_groups", "must have at most 20 entries");
    }
    for (i, g) in plan.support_groups.iter().enumerate() {
        v.text(&format!("aftercare.support_groups[{i}]"), g, text::NAME);
    }
    if plan.follow_ups.len() > MAX_ITEMS {
        v.push("aftercare.follow_ups", "must have at most 20 entries");
    }
    for (i, f) in plan.follow_ups.iter().enumerate() {
        if f.time_us <= 0 {
            v.rule(
                &format!("aftercare.follow_ups[{i}].time"),
                "must be after 1970-01-01",
            );
        }
        v.text(
            &format!("aftercare.follow_ups[{i}].with"),
            &f.with,
            text::NAME,
        );
        v.text(
            &format!("aftercare.follow_ups[{i}].purpose"),
            &f.purpose,
            text::LINE,
        );
    }
    if plan.contacts.len() > MAX_ITEMS {
        v.push("aftercare.contacts", "must have at most 20 entries");
    }
    for (i, c) in plan.contacts.iter().enumerate() {
        v.text(
            &format!("aftercare.contacts[{i}].name"),
            &c.name,
            text::NAME,
        );
        v.text(
            &format!("aftercare.contacts[{i}].role"),
            &c.role,
            text::TEXT,
        );
        // Crisis lines are often short codes (988, 741741).
        if !text::is_phone_or_short_code(&c.phone) {
            v.push(
                &format!("aftercare.contacts[{i}].phone"),
                "must be a phone number of 7-15 digits (optionally starting with +) or a 3-6 digit short code",
            );
        }
    }
    v.text("aftercare.notes", &plan.notes, text::NARRATIVE);
}
