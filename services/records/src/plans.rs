//! Treatment plans: problems → goals → measurable objectives → interventions, in versions.
//! Only the latest version may be a draft; a signed version is immutable (the database
//! refuses to change it too) and a change is a revision: a new draft copied from the signed
//! version. Problem, goal and objective ids survive revisions, so goal progress (kept apart
//! from the versions, append-only) follows a goal. Transport-free; `grpc` maps it onto
//! `iop.records.v1.TreatmentPlanService`.

pub mod grpc;
mod store;
#[cfg(test)]
mod tests;

use std::collections::HashSet;

use chrono::NaiveDate;
use iop_core::page;
use iop_core::{EpisodeId, Error, PatientId, PlanId, Principal, now_micros};
use serde::{Deserialize, Serialize};

use iop_kit::dates::{rfc3339, today};
use iop_kit::etag;
use iop_kit::idempotency::{self, Claim, Key};
use iop_kit::require_user;
use iop_kit::text;
use iop_kit::violations::Violations;
pub use store::PlanStore;

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Intervention {
    pub description: String,
    #[serde(default)]
    pub frequency: String,
    #[serde(default)]
    pub responsible: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Objective {
    pub id: String,
    pub description: String,
    #[serde(default)]
    pub target_date: Option<NaiveDate>,
    #[serde(default)]
    pub interventions: Vec<Intervention>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Goal {
    pub id: String,
    pub description: String,
    #[serde(default)]
    pub target_date: Option<NaiveDate>,
    #[serde(default)]
    pub objectives: Vec<Objective>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Problem {
    pub id: String,
    pub description: String,
    #[serde(default)]
    pub goals: Vec<Goal>,
}

iop_kit::text_enum! {
    pub enum PlanStatus: iop_proto::records::PlanStatus {
        Draft = "draft",
        Signed = "signed",
    }
}

iop_kit::text_enum! {
    pub enum ProgressStatus: iop_proto::records::GoalProgressStatus {
        NotStarted = "not_started",
        InProgress = "in_progress",
        Achieved = "achieved",
        Discontinued = "discontinued",
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub goal_id: String,
    pub status: ProgressStatus,
    pub note: String,
    pub recorded_by: String,
    pub record_time_us: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub by: String,
    pub time_us: i64,
}

/// One version of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub id: PlanId,
    pub version: i64,
    pub patient_id: PatientId,
    pub episode_id: Option<EpisodeId>,
    pub problems: Vec<Problem>,
    pub review_due: Option<NaiveDate>,
    pub author: String,
    pub signature: Option<Signature>,
    /// Edits of this version while a draft.
    pub edits: i64,
    pub create_time_us: i64,
    pub update_time_us: i64,
    /// Every goal's progress, oldest first (filled on reads of one plan).
    pub progress: Vec<Progress>,
}

impl Plan {
    pub fn status(&self) -> PlanStatus {
        if self.signature.is_some() {
            PlanStatus::Signed
        } else {
            PlanStatus::Draft
        }
    }

    /// Names the version and its edit, so an etag never matches another version.
    pub fn etag(&self) -> String {
        format!("{}.{}", self.version, self.edits)
    }

    fn goal_ids(&self) -> impl Iterator<Item = &str> {
        self.problems
            .iter()
            .flat_map(|p| &p.goals)
            .map(|g| g.id.as_str())
    }
}

#[derive(Debug, Default)]
pub struct ListPlans<'a> {
    pub patient_id: &'a str,
    pub episode_id: &'a str,
    pub status: Option<PlanStatus>,
    pub review_due_by: Option<NaiveDate>,
    pub page_size: i32,
    pub page_token: &'a str,
}

const KIND: &str = "plan";
const MAX_ITEMS: usize = 50;

#[derive(Clone)]
pub struct Plans {
    store: PlanStore,
}

impl Plans {
    pub fn new(store: PlanStore) -> Self {
        Self { store }
    }

    /// Opens a plan as version 1, a draft.
    pub async fn create(
        &self,
        who: &Principal,
        patient_id: PatientId,
        episode_id: Option<EpisodeId>,
        mut problems: Vec<Problem>,
        review_due: Option<NaiveDate>,
        request_id: &str,
    ) -> Result<Plan, Error> {
        let key = Key::parse(request_id, &(patient_id, episode_id, &problems, review_due))?;
        assign_ids(&mut problems);
        check_content(&problems, "plan.")?;
        let now = now_micros();
        let plan = Plan {
            id: PlanId::new(),
            version: 1,
            patient_id,
            episode_id,
            problems,
            review_due,
            author: who.subject.clone(),
            signature: None,
            edits: 0,
            create_time_us: now,
            update_time_us: now,
            progress: Vec::new(),
        };
        let claim = self.store.insert(&who.tenant, &plan, key.as_ref()).await?;
        if claim == Claim::New {
            tracing::info!(plan_id = %plan.id, "treatment plan opened");
        }
        idempotency::answer(claim, plan, "open a different plan", |id| async move {
            let id = PlanId::parse("id", &id)
                .map_err(|_| Error::internal("stored request has a bad plan id"))?;
            self.get(who, id, 0).await
        })
        .await
    }

    /// Version `version` of the plan, or the latest when 0, with every goal's progress.
    pub async fn get(&self, who: &Principal, id: PlanId, version: i64) -> Result<Plan, Error> {
        if version < 0 {
            return Err(Error::field("version", "must not be negative"));
        }
        let mut plan = self
            .store
            .get(&who.tenant, id, (version > 0).then_some(version))
            .await?
            .ok_or_else(|| Error::NotFound {
                kind: "treatment plan",
                id: if version > 0 {
                    format!("{id} version {version}")
                } else {
                    id.to_string()
                },
            })?;
        plan.progress = self.store.progress(&who.tenant, id).await?;
        Ok(plan)
    }

    pub async fn versions(&self, who: &Principal, id: PlanId) -> Result<Vec<Plan>, Error> {
        let versions = self.store.versions(&who.tenant, id).await?;
        if versions.is_empty() {
            return Err(Error::NotFound {
                kind: "treatment plan",
                id: id.to_string(),
            });
        }
        Ok(versions)
    }

    /// The latest version of each plan, in plan opening order.
    pub async fn list(
        &self,
        who: &Principal,
        req: ListPlans<'_>,
    ) -> Result<(Vec<Plan>, Option<String>), Error> {
        let size = page::page_size(req.page_size)?;
        let query = store::PlanQuery {
            patient_id: match req.patient_id {
                "" => None,
                id => Some(PatientId::parse("patient_id", id)?),
            },
            episode_id: match req.episode_id {
                "" => None,
                id => Some(EpisodeId::parse("episode_id", id)?),
            },
            status: req.status,
            review_due_by: req.review_due_by,
            after: None,
            limit: size + 1,
        };
        let fingerprint = page::fingerprint(&[
            req.patient_id,
            req.episode_id,
            req.status.map_or("", PlanStatus::as_str),
            &format!("{:?}", req.review_due_by),
        ]);
        let after = page::resume_after(req.page_token, fingerprint, |a| {
            PlanId::parse("page_token", a)
        })?;
        let mut rows = self
            .store
            .list(&who.tenant, &store::PlanQuery { after, ..query })
            .await?;
        let next = page::next_page(&mut rows, size, fingerprint, |r| r.id.to_string());
        Ok((rows, next))
    }

    /// Replaces the draft's problems and review date.
    pub async fn update(
        &self,
        who: &Principal,
        id: PlanId,
        mut problems: Vec<Problem>,
        review_due: Option<NaiveDate>,
        etag: &str,
    ) -> Result<Plan, Error> {
        let current = self.draft(who, id, etag).await?;
        assign_ids(&mut problems);
        check_content(&problems, "plan.")?;
        let next = Plan {
            problems,
            review_due,
            ..current.clone()
        };
        if next == current {
            return Ok(current);
        }
        self.save(who, next).await
    }

    /// Signs the draft: it needs at least one problem, each with goals, objectives and
    /// interventions, and a review date not in the past.
    pub async fn sign(&self, who: &Principal, id: PlanId, etag: &str) -> Result<Plan, Error> {
        require_user(who, "a treatment plan is signed by a clinician")?;
        let current = self.draft(who, id, etag).await?;
        check_complete(&current, today())?;
        let next = Plan {
            signature: Some(Signature {
                by: who.subject.clone(),
                time_us: now_micros(),
            }),
            ..current
        };
        self.save(who, next).await
    }

    /// Opens the next version as a draft copied from the signed latest one.
    pub async fn revise(&self, who: &Principal, id: PlanId) -> Result<Plan, Error> {
        let latest = self.get(who, id, 0).await?;
        if latest.signature.is_none() {
            return Err(Error::FailedPrecondition(format!(
                "version {} of plan {id} is still a draft: edit it instead of revising",
                latest.version
            )));
        }
        let now = now_micros();
        let draft = Plan {
            version: latest.version + 1,
            author: who.subject.clone(),
            signature: None,
            edits: 0,
            create_time_us: now,
            update_time_us: now,
            ..latest
        };
        if !self.store.insert_version(&who.tenant, &draft).await? {
            return Err(Error::Conflict(format!(
                "plan {id} was revised by someone else at the same time; read it again"
            )));
        }
        tracing::info!(plan_id = %id, version = draft.version, "treatment plan revised");
        Ok(draft)
    }

    /// Records progress on a goal of the latest version; appended, never overwritten.
    pub async fn record_progress(
        &self,
        who: &Principal,
        id: PlanId,
        goal_id: &str,
        status: Option<ProgressStatus>,
        note: &str,
    ) -> Result<Plan, Error> {
        let mut latest = self.get(who, id, 0).await?;
        if !latest.goal_ids().any(|g| g == goal_id) {
            // The goal is a sub-resource of the latest version (`/plans/{id}/goals/{goal_id}`).
            return Err(Error::NotFound {
                kind: "goal",
                id: format!("{goal_id} of plan {id}'s latest version"),
            });
        }
        let mut v = Violations::new("");
        if status.is_none() {
            v.push(
                "status",
                "is required (not_started, in_progress, achieved or discontinued)",
            );
        }
        v.text("note", note, text::PARAGRAPH);
        v.finish()?;
        let Some(status) = status else {
            return Err(Error::internal("validated status is missing"));
        };
        let progress = Progress {
            goal_id: goal_id.to_owned(),
            status,
            note: note.trim().to_owned(),
            recorded_by: who.subject.clone(),
            record_time_us: now_micros(),
        };
        self.store.add_progress(&who.tenant, id, &progress).await?;
        latest.progress.push(progress);
        Ok(latest)
    }

    /// The latest version if it is a draft at `etag`.
    async fn draft(&self, who: &Principal, id: PlanId, etag: &str) -> Result<Plan, Error> {
        let latest = self.get(who, id, 0).await?;
        if let Some(s) = &latest.signature {
            return Err(Error::FailedPrecondition(format!(
                "version {} of plan {id} was signed by {} at {} and is immutable; revise the plan to change it",
                latest.version,
                s.by,
                rfc3339(s.time_us)
            )));
        }
        etag::check(etag, &latest.etag(), "plan", &id)?;
        Ok(latest)
    }

    async fn save(&self, who: &Principal, mut next: Plan) -> Result<Plan, Error> {
        let expected = next.edits;
        next.edits += 1;
        next.update_time_us = now_micros();
        if !self.store.update(&who.tenant, &next, expected).await? {
            return Err(etag::stale("plan", &next.id));
        }
        tracing::info!(plan_id = %next.id, version = next.version, status = next.status().as_str(), "treatment plan saved");
        Ok(next)
    }
}

/// Gives every problem, goal and objective without an id a new one.
fn assign_ids(problems: &mut [Problem]) {
    let new = || uuid::Uuid::now_v7().to_string();
    for p in problems {
        if p.id.is_empty() {
            p.id = new();
        }
        for g in &mut p.goals {
            if g.id.is_empty() {
                g.id = new();
            }
            for o in &mut g.objectives {
                if o.id.is_empty() {
                    o.id = new();
                }
            }
        }
    }
}

/// Shape rules that hold for drafts too: lengths, counts, unique ids.
fn check_content(problems: &[Problem], prefix: &str) -> Result<(), Error> {
    let mut v = Violations::new(prefix);
    let mut ids = HashSet::new();
    let mut id = |v: &mut Violations<'_>, path: &str, id: &str| {
        if id.chars().count() > 64 {
            v.push(path, "must be at most 64 characters");
        } else if !ids.insert(id.to_owned()) {
            // uniqueItems compares whole items, not one property of them: a rule beyond the
            // schema.
            v.rule(path, "is used twice in this plan");
        }
    };
    if problems.len() > MAX_ITEMS {
        v.push("problems", "must have at most 50 entries");
    }
    for (i, p) in problems.iter().enumerate() {
        let at = format!("problems[{i}]");
        id(&mut v, &format!("{at}.id"), &p.id);
        v.text(
            &format!("{at}.description"),
            &p.description,
            text::PARAGRAPH,
        );
        for (j, g) in p.goals.iter().enumerate() {
            let at = format!("{at}.goals[{j}]");
            id(&mut v, &format!("{at}.id"), &g.id);
            v.text(
                &format!("{at}.description"),
                &g.description,
                text::PARAGRAPH,
            );
            for (k, o) in g.objectives.iter().enumerate() {
                let at = format!("{at}.objectives[{k}]");
                id(&mut v, &format!("{at}.id"), &o.id);
                v.text(
                    &format!("{at}.description"),
                    &o.description,
                    text::PARAGRAPH,
                );
                for (l, x) in o.interventions.iter().enumerate() {
                    let at = format!("{at}.interventions[{l}]");
                    v.text(
                        &format!("{at}.description"),
                        &x.description,
                        text::PARAGRAPH,
                    );
                    v.text(&format!("{at}.frequency"), &x.frequency, text::TEXT);
                    v.text(&format!("{at}.responsible"), &x.responsible, text::TEXT);
                }
            }
        }
    }
    v.finish()
}

/// What a plan needs before it is signed: rules on the stored draft, so FAILED_PRECONDITION.
fn check_complete(plan: &Plan, today: NaiveDate) -> Result<(), Error> {
    let mut v = Violations::new("");
    if plan.problems.is_empty() {
        v.push("problems", "a plan needs at least one problem to be signed");
    }
    let blank = |s: &str| s.trim().is_empty();
    for (i, p) in plan.problems.iter().enumerate() {
        let at = format!("problems[{i}]");
        if blank(&p.description) {
            v.push(&format!("{at}.description"), "is required");
        }
        if p.goals.is_empty() {
            v.push(&format!("{at}.goals"), "needs at least one goal");
        }
        for (j, g) in p.goals.iter().enumerate() {
            let at = format!("{at}.goals[{j}]");
            if blank(&g.description) {
                v.push(&format!("{at}.description"), "is required");
            }
            if g.objectives.is_empty() {
                v.push(
                    &format!("{at}.objectives"),
                    "needs at least one measurable objective",
                );
            }
            for (k, o) in g.objectives.iter().enumerate() {
                let at = format!("{at}.objectives[{k}]");
                if blank(&o.description) {
                    v.push(&format!("{at}.description"), "is required");
                }
                if o.interventions.is_empty() {
                    v.push(
                        &format!("{at}.interventions"),
                        "needs at least one intervention",
                    );
                }
                for (l, x) in o.interventions.iter().enumerate() {
                    let at = format!("{at}.interventions[{l}]");
                    if blank(&x.description) {
                        v.push(&format!("{at}.description"), "is required");
                    }
                    if blank(&x.frequency) {
                        v.push(&format!("{at}.frequency"), "is required, e.g. 3x/week");
                    }
                }
            }
        }
    }
    match plan.review_due {
        None => v.push("review_due_date", "is required to sign"),
        Some(d) if d < today => v.push("review_due_date", "must not be in the past"),
        Some(_) => {}
    }
    v.finish_unmet()
}
