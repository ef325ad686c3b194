//! The REST/JSON API and its OpenAPI 3.1 document, generated from the handlers.

pub mod assessments;
pub mod audit;
pub mod clients;
pub mod extract;
pub mod patients;

use crate::problem::Problem;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "IOP Platform API",
        description = "Scheduling, patient records and group sessions for Intensive Outpatient Programs. \
            Every call needs `Authorization: Bearer <JWT>`; errors are RFC 9457 problem+json.",
    ),
    paths(patients::create, patients::get, patients::list, patients::update,
        assessments::create, assessments::get, assessments::list, assessments::list_flags,
        assessments::acknowledge, audit::list,
        clients::create, clients::get, clients::list, clients::update, clients::token),
    components(schemas(
        patients::Patient,
        patients::PatientWrite,
        patients::PatientList,
        patients::Sex,
        patients::Contact,
        patients::Address,
        patients::Identifier,
        assessments::Instrument,
        assessments::Severity,
        assessments::Assessment,
        assessments::AssessmentWrite,
        assessments::AssessmentList,
        assessments::FlagStatus,
        assessments::SafetyFlag,
        assessments::SafetyFlagList,
        assessments::Acknowledge,
        audit::AuditEvent,
        audit::AuditEventList,
        clients::RegisteredClient,
        clients::NewClient,
        clients::ClientUpdate,
        clients::ClientList,
        clients::OAuthErrorBody,
        crate::clients::ClientKind,
        crate::clients::TokenResponse,
        crate::problem::Problem,
        crate::problem::ProblemField,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "patients", description = "Patients of your clinic"),
        (name = "assessments", description = "PHQ-9 and GAD-7 scores and the safety flags they raise"),
        (name = "audit", description = "Who accessed which patient's data (admins)"),
        (name = "clients", description = "Backend clients registered by your clinic (admins)"),
        (name = "oauth", description = "SMART Backend Services tokens"),
    ),
)]
pub struct ApiDoc;

/// The header that makes a creating POST safe to retry.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// The `Idempotency-Key` header, or empty without one; the services check its shape.
pub fn idempotency_key(headers: &http::HeaderMap) -> Result<String, Problem> {
    match headers.get(IDEMPOTENCY_KEY).map(|v| v.to_str()) {
        None => Ok(String::new()),
        Some(Ok(key)) => Ok(key.to_owned()),
        Some(Err(_)) => Err(Problem::field(IDEMPOTENCY_KEY, "must be printable ASCII")),
    }
}

/// A protobuf instant as RFC 3339 UTC with microseconds; empty when absent.
pub fn rfc3339(ts: Option<&prost_types::Timestamp>) -> String {
    ts.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .unwrap_or_default()
}

/// Microseconds since the epoch of an RFC 3339 query or body value named `field`.
pub fn parse_time(field: &str, value: Option<&str>) -> Result<Option<i64>, Problem> {
    value
        .map(|s| {
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| t.timestamp_micros())
                .map_err(|_| {
                    Problem::field(field, "must be an RFC 3339 time, e.g. 2026-11-27T09:00:00Z")
                })
        })
        .transpose()
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}
