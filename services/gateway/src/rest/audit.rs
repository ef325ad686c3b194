//! `/v1/audit-events`: the audit trail, for admins.

use axum::extract::State;
use axum::{Extension, Json};
use iop_core::Principal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::Query;
use crate::AppState;
use crate::audit::{StoredEvent, api};
use crate::problem::Problem;

/// One access to patient data.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEvent {
    /// Position in the hash chain.
    pub seq: i64,
    pub event_id: String,
    #[schema(format = DateTime)]
    pub time: String,
    pub issuer: String,
    pub client_id: String,
    pub subject: String,
    /// e.g. `patient.read`.
    pub action: String,
    pub resource_type: String,
    pub resource_id: String,
    pub patient_id: String,
    /// `success`, `denied` or `failed`.
    pub outcome: String,
    pub status: String,
    pub request_id: String,
    pub source_addr: String,
    pub hash: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventList {
    pub events: Vec<AuditEvent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// 1-1000, default 100.
    #[param(minimum = 0)]
    pub page_size: Option<i32>,
    pub page_token: Option<String>,
    #[param(format = Uuid)]
    pub patient_id: Option<String>,
    /// The user or system that made the calls.
    pub subject: Option<String>,
    pub client_id: Option<String>,
    /// Inclusive, RFC 3339.
    #[param(format = DateTime)]
    pub start_time: Option<String>,
    /// Exclusive, RFC 3339.
    #[param(format = DateTime)]
    pub end_time: Option<String>,
}

/// Search the audit trail of your clinic, oldest first.
#[utoipa::path(get, path = "/v1/audit-events", tag = "audit", params(AuditParams),
    responses(
        (status = 200, description = "A page of events", body = AuditEventList),
        (status = 403, description = "Not an admin, or missing AuditEvent.s scope", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(p): Query<AuditParams>,
) -> Result<Json<AuditEventList>, Problem> {
    let search = api::Search {
        page_size: p.page_size.unwrap_or(0),
        page_token: p.page_token.as_deref().unwrap_or(""),
        patient_id: p.patient_id.as_deref().unwrap_or(""),
        subject: p.subject.as_deref().unwrap_or(""),
        client_id: p.client_id.as_deref().unwrap_or(""),
        start_us: super::parse_time("start_time", p.start_time.as_deref())?,
        end_us: super::parse_time("end_time", p.end_time.as_deref())?,
    };
    let (events, next) = api::search(&st.db, &st.audit_log, &who, search)
        .await
        .map_err(|e| Problem::from_status(&tonic::Status::from(e), ""))?;
    Ok(Json(AuditEventList {
        events: events.into_iter().map(to_json).collect(),
        next_page_token: next,
    }))
}

fn to_json(s: StoredEvent) -> AuditEvent {
    let e = s.event;
    AuditEvent {
        seq: s.seq,
        event_id: s.event_id,
        time: chrono::DateTime::from_timestamp_micros(e.time_us)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
            .unwrap_or_default(),
        issuer: e.issuer,
        client_id: e.client_id,
        subject: e.subject,
        action: e.action,
        resource_type: e.resource_type,
        resource_id: e.resource_id,
        patient_id: e.patient_id,
        outcome: e.outcome.as_str().to_owned(),
        status: e.status,
        request_id: e.request_id,
        source_addr: e.source_addr,
        hash: s.hash,
    }
}
