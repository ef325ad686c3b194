//! `/v1/referrals`: referrals from partners and their closed loop, REST and JSON over
//! `iop.records.v1.ReferralService`.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::{Extension, Json};
use http::HeaderMap;
use iop_core::Principal;
use iop_proto::common as pbc;
use iop_proto::records as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::episodes::Population;
use super::patients::{Identifier, Sex};
use crate::AppState;
use crate::problem::Problem;
use crate::rest::extract::{JsonObject, Query};
use crate::rest::shown;
use crate::rest::text;
use crate::rest::{
    Shown, answer, date_text, etag_or_any, idempotency_key, parse_date, parse_time, rfc3339,
};

iop_kit::text_enum! {
    json
    pub enum Urgency: iop_proto::records::Urgency {
        Routine = "routine",
        Urgent = "urgent",
        Emergent = "emergent",
    }
}

iop_kit::text_enum! {
    json
    pub enum ReferralStatus: iop_proto::records::ReferralStatus {
        Received = "received",
        InReview = "in_review",
        Accepted = "accepted",
        IntakeScheduled = "intake_scheduled",
        Admitted = "admitted",
        Declined = "declined",
    }
}

/// The patient as the referring organization describes them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferredPatient {
    #[schema(value_type = text::Name)]
    pub given_name: String,
    #[schema(value_type = text::Name)]
    pub family_name: String,
    #[schema(value_type = String, required = true, format = Date)]
    pub birth_date: Option<String>,
    pub sex_at_birth: Option<Sex>,
    #[serde(default)]
    #[schema(value_type = text::Phone)]
    pub phone: String,
    #[serde(default)]
    #[schema(value_type = text::Email)]
    pub email: String,
    #[serde(default)]
    pub identifiers: Vec<Identifier>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusChange {
    pub status: Option<ReferralStatus>,
    /// Not shown to referral partners.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub changed_by: String,
    #[schema(format = DateTime)]
    pub change_time: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// A referral and where it stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct Referral {
    #[schema(format = Uuid)]
    pub id: String,
    pub referring_organization: String,
    pub referring_contact: String,
    pub patient: ReferredPatient,
    pub reason: String,
    pub requested_program: String,
    pub urgency: Option<Urgency>,
    pub status: Option<ReferralStatus>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub decline_reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub intake_time: Option<String>,
    /// The patient and episode it led to (not shown to referral partners).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid)]
    pub patient_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid)]
    pub episode_id: Option<String>,
    /// The backend client that sent it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_client_id: Option<String>,
    pub history: Vec<StatusChange>,
    #[schema(format = DateTime)]
    pub create_time: String,
    #[schema(format = DateTime)]
    pub update_time: String,
    pub version: i64,
    pub etag: String,
}

/// A referral as a partner sends it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReferral {
    #[schema(value_type = text::Name)]
    pub referring_organization: String,
    #[serde(default)]
    #[schema(value_type = text::Text)]
    pub referring_contact: String,
    pub patient: ReferredPatient,
    #[schema(value_type = text::Statement)]
    pub reason: String,
    #[serde(default)]
    #[schema(value_type = text::Text)]
    pub requested_program: String,
    pub urgency: Urgency,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferralNote {
    #[serde(default)]
    #[schema(value_type = text::Narrative)]
    pub note: String,
}

/// How the referral joins the record.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Accept {
    /// An existing patient; absent creates one from the referral's patient details.
    #[schema(format = Uuid)]
    pub patient_id: Option<String>,
    /// Open the episode of care (referred) too; needs `population`.
    #[serde(default)]
    pub open_episode: bool,
    /// The episode's program; default the requested one.
    #[schema(value_type = Option<text::Text>)]
    pub program: Option<String>,
    pub population: Option<Population>,
    #[serde(default)]
    #[schema(value_type = text::Narrative)]
    pub note: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Intake {
    #[schema(format = DateTime)]
    pub intake_time: String,
    #[serde(default)]
    #[schema(value_type = text::Narrative)]
    pub note: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Admitted {
    #[schema(format = Date)]
    pub admit_date: String,
    #[serde(default)]
    #[schema(value_type = text::Narrative)]
    pub note: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decline {
    /// The referring partner sees it.
    #[schema(value_type = text::Statement)]
    pub reason: String,
}

crate::rest::listed! {
    ReferralList { referrals: Referral } from pb::ListReferralsResponse, by from_proto
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReferralParams {
    pub status: Option<ReferralStatus>,
    pub urgency: Option<Urgency>,
    /// Received at or after (RFC 3339).
    #[param(format = DateTime)]
    pub received_after: Option<String>,
    #[param(format = DateTime)]
    pub received_before: Option<String>,
    #[param(minimum = 0)]
    pub page_size: Option<i32>,
    pub page_token: Option<String>,
}

/// Send a referral (partners) or enter one (staff). It starts as `received`.
#[utoipa::path(post, path = "/v1/referrals", tag = "referrals", request_body = NewReferral,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses(
        (status = 201, description = "Received", body = Referral, headers(("Location" = String), ("ETag" = String))),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, Problem> {
    let r: NewReferral = body.parse()?;
    let p = r.patient;
    let message = pb::CreateReferralRequest {
        referral: Some(pb::Referral {
            referring_organization: r.referring_organization,
            referring_contact: r.referring_contact,
            patient: Some(pb::ReferredPatient {
                birth_date: parse_date("patient.birth_date", p.birth_date.as_deref())?,
                sex_at_birth: p.sex_at_birth.map_or(0, Sex::to_proto),
                given_name: p.given_name,
                family_name: p.family_name,
                phone: p.phone,
                email: p.email,
                identifiers: p
                    .identifiers
                    .into_iter()
                    .map(|i| pbc::Identifier {
                        system: i.system,
                        value: i.value,
                    })
                    .collect(),
            }),
            reason: r.reason,
            requested_program: r.requested_program,
            urgency: r.urgency.to_proto(),
            ..Default::default()
        }),
        request_id: idempotency_key(&headers)?,
    };
    crate::rest::create(&st, &who, super::CreateReferral, message, None).await
}

/// Read a referral. A partner finds only the ones it sent.
#[utoipa::path(get, path = "/v1/referrals/{id}", tag = "referrals",
    responses(
        (status = 200, description = "The referral", body = Referral, headers(("ETag" = String))),
        (status = 404, description = "No such referral (of yours)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    answer(&st, &who, super::GetReferral, pb::GetReferralRequest { id }).await
}

/// Referrals oldest first; a partner's own only.
#[utoipa::path(get, path = "/v1/referrals", tag = "referrals", params(ReferralParams),
    responses(
        (status = 200, description = "A page of referrals", body = ReferralList),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(p): Query<ReferralParams>,
) -> Result<Json<ReferralList>, Problem> {
    let time = |field, v: Option<&str>| -> Result<_, Problem> {
        Ok(parse_time(field, v)?.map(iop_proto::timestamp_from_micros))
    };
    let message = pb::ListReferralsRequest {
        status: p.status.map_or(0, ReferralStatus::to_proto),
        urgency: p.urgency.map_or(0, Urgency::to_proto),
        received_after: time("received_after", p.received_after.as_deref())?,
        received_before: time("received_before", p.received_before.as_deref())?,
        page_size: p.page_size.unwrap_or(0),
        page_token: p.page_token.unwrap_or_default(),
    };
    crate::rest::list(
        &st,
        &who,
        super::ListReferrals,
        message,
        pb::Referral::problem,
    )
    .await
}

/// Start reviewing a received referral.
#[utoipa::path(post, path = "/v1/referrals/{id}/review", tag = "referrals", request_body = ReferralNote,
    params(("If-Match" = Option<String>, Header, description = "Etag from a previous read")),
    responses(
        (status = 200, description = "In review", body = Referral),
        (status = 403, description = "Not staff", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not in a state to review, or stale etag", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn review(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, Problem> {
    let n: ReferralNote = body.parse()?;
    let message = pb::ReviewReferralRequest {
        id,
        note: n.note,
        etag: etag_or_any(&headers)?,
    };
    answer(&st, &who, super::ReviewReferral, message).await
}

/// Accept: link an existing patient or create one from the details sent, and optionally
/// open the episode of care. Safe to retry.
#[utoipa::path(post, path = "/v1/referrals/{id}/accept", tag = "referrals", request_body = Accept,
    params(("If-Match" = Option<String>, Header, description = "Etag from a previous read")),
    responses(
        (status = 200, description = "Accepted", body = Referral),
        (status = 400, description = "Incomplete patient details or missing population", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not in a state to accept, the patient has an open episode, or stale etag", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn accept(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, Problem> {
    let a: Accept = body.parse()?;
    let message = pb::AcceptReferralRequest {
        id,
        patient_id: crate::rest::optional_id("patient_id", a.patient_id)?,
        open_episode: a.open_episode,
        program: a.program.unwrap_or_default(),
        population: a.population.map_or(0, Population::to_proto),
        note: a.note,
        etag: etag_or_any(&headers)?,
    };
    answer(&st, &who, super::AcceptReferral, message).await
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntakeCancellation {
    #[serde(default)]
    #[schema(value_type = text::Narrative)]
    pub note: String,
}

/// Call off a scheduled intake: the referral is accepted again, its intake time cleared (an
/// accepted one is answered as it is). Cancelling an intake appointment booked for the
/// referral does this itself.
#[utoipa::path(post, path = "/v1/referrals/{id}/intake-cancellation", tag = "referrals", request_body = IntakeCancellation,
    params(("If-Match" = Option<String>, Header, description = "Etag from a previous read")),
    responses(
        (status = 200, description = "Accepted again", body = Referral),
        (status = 409, description = "Neither intake scheduled nor accepted, or stale etag", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn cancel_intake(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, Problem> {
    let c: IntakeCancellation = body.parse()?;
    let message = pb::CancelIntakeRequest {
        id,
        note: c.note,
        etag: etag_or_any(&headers)?,
    };
    answer(&st, &who, super::CancelIntake, message).await
}

/// Schedule (or move) the intake of an accepted referral.
#[utoipa::path(post, path = "/v1/referrals/{id}/intake", tag = "referrals", request_body = Intake,
    params(("If-Match" = Option<String>, Header, description = "Etag from a previous read")),
    responses(
        (status = 200, description = "Intake scheduled", body = Referral),
        (status = 409, description = "Not accepted, or stale etag", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn schedule_intake(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, Problem> {
    let i: Intake = body.parse()?;
    let message = pb::ScheduleIntakeRequest {
        id,
        intake_time: parse_time("intake_time", Some(&i.intake_time))?
            .map(iop_proto::timestamp_from_micros),
        note: i.note,
        etag: etag_or_any(&headers)?,
    };
    answer(&st, &who, super::ScheduleIntake, message).await
}

/// Mark the referred patient admitted; the referral's episode is admitted too.
#[utoipa::path(post, path = "/v1/referrals/{id}/admit", tag = "referrals", request_body = Admitted,
    params(("If-Match" = Option<String>, Header, description = "Etag from a previous read")),
    responses(
        (status = 200, description = "Admitted", body = Referral),
        (status = 409, description = "Not accepted, or stale etag", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn admit(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, Problem> {
    let a: Admitted = body.parse()?;
    let message = pb::MarkAdmittedRequest {
        id,
        admit_date: parse_date("admit_date", Some(&a.admit_date))?,
        note: a.note,
        etag: etag_or_any(&headers)?,
    };
    answer(&st, &who, super::MarkAdmitted, message).await
}

/// Decline with a reason the partner will see.
#[utoipa::path(post, path = "/v1/referrals/{id}/decline", tag = "referrals", request_body = Decline,
    params(("If-Match" = Option<String>, Header, description = "Etag from a previous read")),
    responses(
        (status = 200, description = "Declined", body = Referral),
        (status = 400, description = "No reason", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already admitted or declined, or stale etag", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn decline(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, Problem> {
    let d: Decline = body.parse()?;
    let message = pb::DeclineReferralRequest {
        id,
        reason: d.reason,
        etag: etag_or_any(&headers)?,
    };
    answer(&st, &who, super::DeclineReferral, message).await
}

fn from_proto(r: pb::Referral) -> Referral {
    let p = r.patient.unwrap_or_default();
    Referral {
        patient: ReferredPatient {
            birth_date: p.birth_date.as_ref().map(|d| date_text(Some(d))),
            sex_at_birth: Sex::from_proto(p.sex_at_birth),
            given_name: p.given_name,
            family_name: p.family_name,
            phone: p.phone,
            email: p.email,
            identifiers: p
                .identifiers
                .into_iter()
                .map(|i| Identifier {
                    system: i.system,
                    value: i.value,
                })
                .collect(),
        },
        urgency: Urgency::from_proto(r.urgency),
        status: ReferralStatus::from_proto(r.status),
        intake_time: r.intake_time.as_ref().map(|t| rfc3339(Some(t))),
        patient_id: crate::rest::present(r.patient_id),
        episode_id: crate::rest::present(r.episode_id),
        source_client_id: crate::rest::present(r.source_client_id),
        history: r
            .history
            .into_iter()
            .map(|h| StatusChange {
                status: ReferralStatus::from_proto(h.status),
                change_time: rfc3339(h.change_time.as_ref()),
                changed_by: h.changed_by,
                note: h.note,
            })
            .collect(),
        create_time: rfc3339(r.create_time.as_ref()),
        update_time: rfc3339(r.update_time.as_ref()),
        id: r.id,
        referring_organization: r.referring_organization,
        referring_contact: r.referring_contact,
        reason: r.reason,
        requested_program: r.requested_program,
        decline_reason: r.decline_reason,
        version: r.version,
        etag: r.etag,
    }
}

shown! { pb::Referral => Referral, by from_proto, at "/v1/referrals", fields "referral.", versioned }
