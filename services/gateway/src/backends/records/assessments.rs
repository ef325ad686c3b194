//! `/v1/patients/{id}/assessments`, `/v1/assessments/{id}` and `/v1/safety-flags`: REST and
//! JSON over `iop.records.v1.AssessmentService`.

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
use crate::rest::{Shown, answer, idempotency_key, parse_time, rfc3339, shown};

iop_kit::text_enum! {
    json
    /// The questionnaire: `phq9` (9 items, depression) or `gad7` (7 items, anxiety).
    pub enum Instrument: iop_proto::records::Instrument {
        Phq9 = "phq9",
        Gad7 = "gad7",
    }
}

iop_kit::text_enum! {
    json
    /// Published severity band of the total (`moderately_severe` is PHQ-9 only).
    pub enum Severity: iop_proto::records::Severity {
        Minimal = "minimal",
        Mild = "mild",
        Moderate = "moderate",
        ModeratelySevere = "moderately_severe",
        Severe = "severe",
    }
}

/// A scored questionnaire.
#[derive(Debug, Serialize, ToSchema)]
pub struct Assessment {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub patient_id: String,
    pub instrument: Option<Instrument>,
    /// One answer per item, 0-3, in questionnaire order.
    pub answers: Vec<i32>,
    pub total: i32,
    pub severity: Option<Severity>,
    #[schema(format = DateTime)]
    pub administered_time: String,
    /// The user or client that recorded it.
    pub recorded_by: String,
    #[schema(format = DateTime)]
    pub create_time: String,
    /// The safety flag this assessment raised (PHQ-9 item 9 above 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid)]
    pub safety_flag_id: Option<String>,
}

/// A questionnaire as answered. The total, severity and any safety flag are computed.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssessmentWrite {
    pub instrument: Instrument,
    /// One answer per item, each 0 ("not at all") to 3 ("nearly every day").
    #[schema(min_items = 7, max_items = 9)]
    #[serde(deserialize_with = "crate::rest::extract::whole_numbers")]
    pub answers: Vec<i32>,
    /// When the patient answered (RFC 3339); defaults to now.
    #[schema(format = DateTime)]
    pub administered_time: Option<String>,
}

crate::rest::listed! {
    AssessmentList { assessments: Assessment } from pb::ListAssessmentsResponse, by from_proto
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AssessmentParams {
    pub instrument: Option<Instrument>,
    /// Administered at or after this instant (RFC 3339).
    #[param(format = DateTime)]
    pub administered_after: Option<String>,
    /// Administered before this instant (RFC 3339).
    #[param(format = DateTime)]
    pub administered_before: Option<String>,
    /// 1-200, default 50.
    #[param(minimum = 0)]
    pub page_size: Option<i32>,
    pub page_token: Option<String>,
}

iop_kit::text_enum! {
    json
    pub enum FlagStatus: iop_proto::records::SafetyFlagStatus {
        Active = "active",
        Acknowledged = "acknowledged",
    }
}

/// A safety flag on a patient: active until a clinician acknowledges it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SafetyFlag {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub patient_id: String,
    #[schema(format = Uuid)]
    pub assessment_id: String,
    pub reason: String,
    #[schema(format = DateTime)]
    pub raise_time: String,
    pub status: FlagStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub acknowledge_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledge_note: Option<String>,
}

crate::rest::listed! {
    SafetyFlagList { flags: SafetyFlag } from pb::ListSafetyFlagsResponse, by flag_from_proto
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FlagParams {
    /// One patient's flags; every patient's when absent.
    #[param(format = Uuid)]
    pub patient_id: Option<String>,
    /// `active` for the worklist; both when absent.
    pub status: Option<FlagStatus>,
    /// Raised at or after this instant (RFC 3339).
    #[param(format = DateTime)]
    pub raised_after: Option<String>,
    /// Raised before this instant (RFC 3339).
    #[param(format = DateTime)]
    pub raised_before: Option<String>,
    #[param(minimum = 0)]
    pub page_size: Option<i32>,
    pub page_token: Option<String>,
}

/// What the clinician did about the flag.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Acknowledge {
    #[schema(example = "Safety plan reviewed with patient; no current intent or plan.")]
    #[schema(value_type = text::Statement)]
    pub note: String,
}

/// Record a PHQ-9 or GAD-7 for a patient. The service validates the answers, computes the
/// total and severity, and raises a safety flag when PHQ-9 item 9 is above 0.
#[utoipa::path(post, path = "/v1/patients/{id}/assessments", tag = "assessments",
    request_body = AssessmentWrite,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Retrying with the same key returns the assessment recorded the first time")),
    responses(
        (status = 201, description = "Recorded and scored", body = Assessment, headers(("Location" = String))),
        (status = 400, description = "Invalid answers, naming the item", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(patient_id): Path<String>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, Problem> {
    let write: AssessmentWrite = body.parse()?;
    let message = pb::RecordAssessmentRequest {
        assessment: Some(pb::Assessment {
            patient_id,
            instrument: write.instrument.to_proto(),
            answers: write.answers,
            administered_time: parse_time("administered_time", write.administered_time.as_deref())?
                .map(iop_proto::timestamp_from_micros),
            ..Default::default()
        }),
        request_id: idempotency_key(&headers)?,
    };
    crate::rest::create(
        &st,
        &who,
        super::RecordAssessment,
        message,
        Some("patient_id"),
    )
    .await
}

/// Read one assessment.
#[utoipa::path(get, path = "/v1/assessments/{id}", tag = "assessments",
    responses(
        (status = 200, description = "The assessment", body = Assessment),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    answer(
        &st,
        &who,
        super::GetAssessment,
        pb::GetAssessmentRequest { id },
    )
    .await
}

/// A patient's assessments, oldest administered first: the data of a trend chart.
#[utoipa::path(get, path = "/v1/patients/{id}/assessments", tag = "assessments",
    params(AssessmentParams),
    responses(
        (status = 200, description = "A page of assessments", body = AssessmentList),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(patient_id): Path<String>,
    Query(p): Query<AssessmentParams>,
) -> Result<Json<AssessmentList>, Problem> {
    let message = pb::ListAssessmentsRequest {
        patient_id,
        instrument: p.instrument.map_or(0, Instrument::to_proto),
        administered_after: parse_time("administered_after", p.administered_after.as_deref())?
            .map(iop_proto::timestamp_from_micros),
        administered_before: parse_time("administered_before", p.administered_before.as_deref())?
            .map(iop_proto::timestamp_from_micros),
        page_size: p.page_size.unwrap_or(0),
        page_token: p.page_token.unwrap_or_default(),
    };
    crate::rest::list(&st, &who, super::ListAssessments, message, |s| {
        pb::Assessment::problem(s).rename_field("patient_id", "id")
    })
    .await
}

/// Safety flags, oldest raised first. `status=active` is the clinicians' worklist.
#[utoipa::path(get, path = "/v1/safety-flags", tag = "assessments", params(FlagParams),
    responses(
        (status = 200, description = "A page of flags", body = SafetyFlagList),
    ),
    security(("bearer" = [])))]
pub async fn list_flags(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(p): Query<FlagParams>,
) -> Result<Json<SafetyFlagList>, Problem> {
    let message = pb::ListSafetyFlagsRequest {
        patient_id: p.patient_id.unwrap_or_default(),
        status: p.status.map_or(0, FlagStatus::to_proto),
        raised_after: parse_time("raised_after", p.raised_after.as_deref())?
            .map(iop_proto::timestamp_from_micros),
        raised_before: parse_time("raised_before", p.raised_before.as_deref())?
            .map(iop_proto::timestamp_from_micros),
        page_size: p.page_size.unwrap_or(0),
        page_token: p.page_token.unwrap_or_default(),
    };
    crate::rest::list(
        &st,
        &who,
        super::ListSafetyFlags,
        message,
        pb::Assessment::problem,
    )
    .await
}

/// Acknowledge a safety flag, saying what was done. Only a staff user can; the first
/// acknowledgement stands (a second one is 409).
#[utoipa::path(post, path = "/v1/safety-flags/{id}/acknowledge", tag = "assessments",
    request_body = Acknowledge,
    responses(
        (status = 200, description = "Acknowledged", body = SafetyFlag),
        (status = 400, description = "Missing note", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a clinician, or a backend client", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such flag in your clinic", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already acknowledged", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn acknowledge(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    body: JsonObject,
) -> Result<Response, Problem> {
    let ack: Acknowledge = body.parse()?;
    let message = pb::AcknowledgeSafetyFlagRequest { id, note: ack.note };
    answer(&st, &who, super::AcknowledgeSafetyFlag, message).await
}

fn from_proto(a: pb::Assessment) -> Assessment {
    Assessment {
        instrument: Instrument::from_proto(a.instrument),
        severity: Severity::from_proto(a.severity),
        administered_time: rfc3339(a.administered_time.as_ref()),
        create_time: rfc3339(a.create_time.as_ref()),
        safety_flag_id: crate::rest::present(a.safety_flag_id),
        id: a.id,
        patient_id: a.patient_id,
        answers: a.answers,
        total: a.total,
        recorded_by: a.recorded_by,
    }
}

fn flag_from_proto(f: pb::SafetyFlag) -> SafetyFlag {
    let acknowledged = f.status == pb::SafetyFlagStatus::Acknowledged as i32;
    SafetyFlag {
        status: if acknowledged {
            FlagStatus::Acknowledged
        } else {
            FlagStatus::Active
        },
        raise_time: rfc3339(f.raise_time.as_ref()),
        acknowledge_time: acknowledged.then(|| rfc3339(f.acknowledge_time.as_ref())),
        acknowledged_by: acknowledged.then_some(f.acknowledged_by),
        acknowledge_note: acknowledged.then_some(f.acknowledge_note),
        id: f.id,
        patient_id: f.patient_id,
        assessment_id: f.assessment_id,
        reason: f.reason,
    }
}

shown! { pb::Assessment => Assessment, by from_proto, at "/v1/assessments", fields "assessment." }

shown! { pb::SafetyFlag => SafetyFlag, by flag_from_proto, at "/v1/safety-flags", fields "" }
