//! `/v1/plans`: treatment plans, REST and JSON over `iop.records.v1.TreatmentPlanService`.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::{Extension, Json};
use http::HeaderMap;
use iop_core::Principal;
use iop_proto::records as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::problem::Problem;
use crate::rest::extract::{JsonObject, Query};
use crate::rest::text;
use crate::rest::{
    Shown, answer, date_text, etag_or_any, idempotency_key, optional_id, parse_date, parse_time,
    rfc3339, shown,
};

iop_kit::text_enum! {
    json
    pub enum PlanStatus: iop_proto::records::PlanStatus {
        Draft = "draft",
        Signed = "signed",
    }
}

iop_kit::text_enum! {
    json
    pub enum GoalProgressStatus: iop_proto::records::GoalProgressStatus {
        NotStarted = "not_started",
        InProgress = "in_progress",
        Achieved = "achieved",
        Discontinued = "discontinued",
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Intervention {
    /// e.g. "Group CBT".
    #[schema(value_type = text::Paragraph)]
    pub description: String,
    /// e.g. "3x/week".
    #[serde(default)]
    #[schema(value_type = text::Text)]
    pub frequency: String,
    #[serde(default)]
    #[schema(value_type = text::Text)]
    pub responsible: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Objective {
    /// Assigned when absent; send it back to keep it across versions.
    #[serde(default)]
    #[schema(max_length = 64)]
    pub id: String,
    /// Measurable, e.g. "Attends ≥ 90% of groups for 4 weeks".
    #[schema(value_type = text::Paragraph)]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = Date)]
    pub target_date: Option<String>,
    #[serde(default)]
    pub interventions: Vec<Intervention>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GoalProgress {
    pub status: Option<GoalProgressStatus>,
    pub note: String,
    pub recorded_by: String,
    #[schema(format = DateTime)]
    pub record_time: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Goal {
    #[serde(default)]
    #[schema(max_length = 64)]
    pub id: String,
    #[schema(value_type = text::Paragraph)]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = Date)]
    pub target_date: Option<String>,
    #[serde(default)]
    pub objectives: Vec<Objective>,
    /// Output only (ignored on writes): progress entries, oldest first.
    #[serde(default)]
    #[schema(read_only)]
    pub progress: Vec<GoalProgress>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanProblem {
    #[serde(default)]
    #[schema(max_length = 64)]
    pub id: String,
    #[schema(value_type = text::Paragraph)]
    pub description: String,
    #[serde(default)]
    pub goals: Vec<Goal>,
}

/// One version of a treatment plan.
#[derive(Debug, Serialize, ToSchema)]
pub struct TreatmentPlan {
    /// The plan's id, the same for every version.
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub patient_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid)]
    pub episode_id: Option<String>,
    pub version: i64,
    pub status: Option<PlanStatus>,
    pub problems: Vec<PlanProblem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Date)]
    pub review_due_date: Option<String>,
    /// Who opened this version.
    pub author: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub sign_time: Option<String>,
    #[schema(format = DateTime)]
    pub create_time: String,
    #[schema(format = DateTime)]
    pub update_time: String,
    pub etag: String,
}

/// A new plan: its first draft, optionally of one episode of care.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPlan {
    /// The episode it belongs to; fixed once the plan is opened.
    #[schema(format = Uuid)]
    pub episode_id: Option<String>,
    #[serde(default)]
    pub problems: Vec<PlanProblem>,
    #[schema(format = Date)]
    pub review_due_date: Option<String>,
}

/// The draft's new content (PUT replaces it whole).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanUpdate {
    #[serde(default)]
    pub problems: Vec<PlanProblem>,
    #[schema(format = Date)]
    pub review_due_date: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProgress {
    pub status: GoalProgressStatus,
    #[serde(default)]
    #[schema(value_type = text::Paragraph)]
    pub note: String,
}

crate::rest::listed! {
    PlanList { plans: TreatmentPlan } from pb::ListPlansResponse, by from_proto
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PlanParams {
    #[param(format = Uuid)]
    pub patient_id: Option<String>,
    #[param(format = Uuid)]
    pub episode_id: Option<String>,
    /// Of the latest version.
    pub status: Option<PlanStatus>,
    /// Latest version due for review on or before this date (`YYYY-MM-DD`).
    #[param(format = Date)]
    pub review_due_by: Option<String>,
    #[param(minimum = 0)]
    pub page_size: Option<i32>,
    pub page_token: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VersionParam {
    /// A version number; the latest when absent.
    #[param(minimum = 0)]
    pub version: Option<i64>,
}

/// Open a treatment plan for a patient: version 1, a draft.
#[utoipa::path(post, path = "/v1/patients/{id}/plans", tag = "plans", request_body = NewPlan,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Retrying with the same key returns the plan opened the first time")),
    responses(
        (status = 201, description = "Opened", body = TreatmentPlan, headers(("Location" = String), ("ETag" = String))),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(patient_id): Path<String>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, Problem> {
    let w: NewPlan = body.parse()?;
    let message = pb::CreatePlanRequest {
        plan: Some(pb::TreatmentPlan {
            patient_id,
            episode_id: optional_id("episode_id", w.episode_id)?,
            problems: problems_to_proto(w.problems)?,
            review_due_date: parse_date("review_due_date", w.review_due_date.as_deref())?,
            ..Default::default()
        }),
        request_id: idempotency_key(&headers)?,
    };
    crate::rest::create(&st, &who, super::CreatePlan, message, Some("patient_id")).await
}

/// Read a plan's latest version (or `version`), with each goal's progress.
#[utoipa::path(get, path = "/v1/plans/{id}", tag = "plans",
    params(VersionParam),
    responses(
        (status = 200, description = "The plan", body = TreatmentPlan, headers(("ETag" = String))),
        (status = 404, description = "No such plan (or version) in your clinic", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Query(v): Query<VersionParam>,
) -> Result<Response, Problem> {
    let message = pb::GetPlanRequest {
        id,
        version: v.version.unwrap_or(0),
    };
    answer(&st, &who, super::GetPlan, message).await
}

/// Every version of a plan, oldest first.
#[utoipa::path(get, path = "/v1/plans/{id}/versions", tag = "plans",
    responses(
        (status = 200, description = "The versions", body = PlanList),
    ),
    security(("bearer" = [])))]
pub async fn versions(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<PlanList>, Problem> {
    let list = st
        .down
        .forward(
            &who,
            super::ListPlanVersions,
            pb::ListPlanVersionsRequest { id },
        )
        .await
        .map_err(pb::TreatmentPlan::problem)?;
    Ok(Json(PlanList {
        plans: list.plans.into_iter().map(from_proto).collect(),
        next_page_token: None,
    }))
}

/// The latest version of each plan, in opening order.
#[utoipa::path(get, path = "/v1/plans", tag = "plans", params(PlanParams),
    responses(
        (status = 200, description = "A page of plans", body = PlanList),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(p): Query<PlanParams>,
) -> Result<Json<PlanList>, Problem> {
    let message = pb::ListPlansRequest {
        patient_id: p.patient_id.unwrap_or_default(),
        episode_id: p.episode_id.unwrap_or_default(),
        status: p.status.map_or(0, PlanStatus::to_proto),
        review_due_by: parse_date("review_due_by", p.review_due_by.as_deref())?,
        page_size: p.page_size.unwrap_or(0),
        page_token: p.page_token.unwrap_or_default(),
    };
    crate::rest::list(
        &st,
        &who,
        super::ListPlans,
        message,
        pb::TreatmentPlan::problem,
    )
    .await
}

/// Replace the draft version's problems and review date. A signed version is immutable
/// (409): revise the plan first.
#[utoipa::path(put, path = "/v1/plans/{id}", tag = "plans", request_body = PlanUpdate,
    params(("If-Match" = Option<String>, Header, description = "Etag from a previous read")),
    responses(
        (status = 200, description = "Updated", body = TreatmentPlan, headers(("ETag" = String))),
        (status = 409, description = "The latest version is signed, or stale etag", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn replace(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, Problem> {
    let w: PlanUpdate = body.parse()?;
    let message = pb::UpdatePlanRequest {
        plan: Some(pb::TreatmentPlan {
            id,
            etag: etag_or_any(&headers)?,
            problems: problems_to_proto(w.problems)?,
            review_due_date: parse_date("review_due_date", w.review_due_date.as_deref())?,
            ..Default::default()
        }),
    };
    answer(&st, &who, super::UpdatePlan, message).await
}

/// Sign the draft version: it needs problems with goals, measurable objectives and
/// interventions (with frequency), and a review date.
#[utoipa::path(post, path = "/v1/plans/{id}/sign", tag = "plans",
    params(("If-Match" = Option<String>, Header, description = "Etag from a previous read")),
    responses(
        (status = 200, description = "Signed", body = TreatmentPlan, headers(("ETag" = String))),
        (status = 409, description = "Already signed, stale etag, or an incomplete plan, naming what is missing", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn sign(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let message = pb::SignPlanRequest {
        id,
        etag: etag_or_any(&headers)?,
    };
    answer(&st, &who, super::SignPlan, message).await
}

/// Start the next version: a draft copied from the signed latest version.
#[utoipa::path(post, path = "/v1/plans/{id}/revisions", tag = "plans",
    responses(
        (status = 200, description = "The new draft version", body = TreatmentPlan, headers(("ETag" = String))),
        (status = 409, description = "The latest version is still a draft", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn revise(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    answer(&st, &who, super::RevisePlan, pb::RevisePlanRequest { id }).await
}

/// Record progress on a goal (appended; the last entry is its current status).
#[utoipa::path(post, path = "/v1/plans/{id}/goals/{goal_id}/progress", tag = "plans",
    request_body = NewProgress,
    params(("goal_id" = String, Path, description = "A goal of the latest version")),
    responses(
        (status = 200, description = "The plan with the progress", body = TreatmentPlan, headers(("ETag" = String))),
        (status = 400, description = "Missing or unknown status", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such plan in your clinic, or no such goal in its latest version", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn record_progress(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((id, goal_id)): Path<(String, String)>,
    body: JsonObject,
) -> Result<Response, Problem> {
    let p: NewProgress = body.parse()?;
    let message = pb::RecordGoalProgressRequest {
        id,
        goal_id,
        status: p.status.to_proto(),
        note: p.note,
    };
    answer(&st, &who, super::RecordGoalProgress, message).await
}

fn problems_to_proto(problems: Vec<PlanProblem>) -> Result<Vec<pb::PlanProblem>, Problem> {
    problems
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let goals = p
                .goals
                .into_iter()
                .enumerate()
                .map(|(j, g)| {
                    let at = format!("problems[{i}].goals[{j}]");
                    // Progress is the service's, never written here; what a client sends back
                    // from a read is ignored, but it must still be what a read looks like.
                    for (k, entry) in g.progress.iter().enumerate() {
                        let field = format!("{at}.progress[{k}].record_time");
                        parse_time(&field, Some(&entry.record_time))?;
                    }
                    let objectives = g
                        .objectives
                        .into_iter()
                        .enumerate()
                        .map(|(k, o)| {
                            Ok(pb::Objective {
                                target_date: parse_date(
                                    &format!("{at}.objectives[{k}].target_date"),
                                    o.target_date.as_deref(),
                                )?,
                                id: o.id,
                                description: o.description,
                                interventions: o
                                    .interventions
                                    .into_iter()
                                    .map(|x| pb::Intervention {
                                        description: x.description,
                                        frequency: x.frequency,
                                        responsible: x.responsible,
                                    })
                                    .collect(),
                            })
                        })
                        .collect::<Result<_, Problem>>()?;
                    Ok(pb::Goal {
                        target_date: parse_date(
                            &format!("{at}.target_date"),
                            g.target_date.as_deref(),
                        )?,
                        id: g.id,
                        description: g.description,
                        objectives,
                        progress: Vec::new(),
                    })
                })
                .collect::<Result<_, Problem>>()?;
            Ok(pb::PlanProblem {
                id: p.id,
                description: p.description,
                goals,
            })
        })
        .collect()
}

fn from_proto(p: pb::TreatmentPlan) -> TreatmentPlan {
    let signed = p.status == pb::PlanStatus::Signed as i32;
    let date = |d: Option<&iop_proto::common::Date>| d.map(|d| date_text(Some(d)));
    TreatmentPlan {
        episode_id: crate::rest::present(p.episode_id),
        status: PlanStatus::from_proto(p.status),
        problems: p
            .problems
            .into_iter()
            .map(|pr| PlanProblem {
                id: pr.id,
                description: pr.description,
                goals: pr
                    .goals
                    .into_iter()
                    .map(|g| Goal {
                        target_date: date(g.target_date.as_ref()),
                        id: g.id,
                        description: g.description,
                        objectives: g
                            .objectives
                            .into_iter()
                            .map(|o| Objective {
                                target_date: date(o.target_date.as_ref()),
                                id: o.id,
                                description: o.description,
                                interventions: o
                                    .interventions
                                    .into_iter()
                                    .map(|x| Intervention {
                                        description: x.description,
                                        frequency: x.frequency,
                                        responsible: x.responsible,
                                    })
                                    .collect(),
                            })
                            .collect(),
                        progress: g
                            .progress
                            .into_iter()
                            .map(|x| GoalProgress {
                                status: GoalProgressStatus::from_proto(x.status),
                                record_time: rfc3339(x.record_time.as_ref()),
                                note: x.note,
                                recorded_by: x.recorded_by,
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
        review_due_date: date(p.review_due_date.as_ref()),
        signed_by: signed.then_some(p.signed_by),
        sign_time: signed.then(|| rfc3339(p.sign_time.as_ref())),
        create_time: rfc3339(p.create_time.as_ref()),
        update_time: rfc3339(p.update_time.as_ref()),
        id: p.id,
        patient_id: p.patient_id,
        version: p.version,
        author: p.author,
        etag: p.etag,
    }
}

shown! { pb::TreatmentPlan => TreatmentPlan, by from_proto, at "/v1/plans", fields "plan.", versioned }
