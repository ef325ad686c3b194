//! RFC 9457 problem details: every REST error the gateway sends.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use iop_core::{ErrorCode, FieldViolation};
use serde::Serialize;
use utoipa::ToSchema;

/// An RFC 9457 problem document (`application/problem+json`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// URI naming the kind of problem, e.g. `urn:iop:problem:invalid-argument`.
    #[serde(rename = "type", serialize_with = "problem_type")]
    #[schema(value_type = String)]
    pub kind: &'static str,
    #[schema(value_type = String)]
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// Echo of the request's `X-Request-Id`, for support.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The invalid fields, when the request was malformed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
}

fn problem_type<S: serde::Serializer>(slug: &&'static str, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("urn:iop:problem:{slug}"))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProblemField {
    /// Path of the field in the request, e.g. `birth_date` or `contact.email`.
    pub field: String,
    pub detail: String,
}

impl Problem {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            kind: code.slug(),
            title: code.title(),
            status: code.http_status().as_u16(),
            detail: detail.into(),
            request_id: None,
            errors: Vec::new(),
        }
    }

    /// A 400 naming one field.
    pub fn field(field: impl Into<String>, detail: impl Into<String>) -> Self {
        let (field, detail) = (field.into(), detail.into());
        let mut p = Self::new(ErrorCode::InvalidArgument, format!("{field}: {detail}"));
        p.errors.push(ProblemField { field, detail });
        p
    }

    pub fn with_fields(mut self, violations: Vec<FieldViolation>, strip_prefix: &str) -> Self {
        self.errors = violations
            .into_iter()
            .map(|v| ProblemField {
                field: v
                    .field
                    .strip_prefix(strip_prefix)
                    .unwrap_or(&v.field)
                    .to_owned(),
                detail: v.description,
            })
            .collect();
        if !self.errors.is_empty() {
            self.detail = self
                .errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.detail))
                .collect::<Vec<_>>()
                .join("; ");
        }
        self
    }

    /// Another HTTP status than the error code's own (405, 415).
    pub fn with_status(
        mut self,
        status: StatusCode,
        slug: &'static str,
        title: &'static str,
    ) -> Self {
        self.status = status.as_u16();
        self.kind = slug;
        self.title = title;
        self
    }

    /// Renames a field the service knows by its gRPC name to what the REST caller sent.
    pub fn rename_field(mut self, from: &str, to: &str) -> Self {
        let mut renamed = false;
        for e in &mut self.errors {
            if e.field == from {
                e.field = to.to_owned();
                renamed = true;
            }
        }
        if renamed {
            self.detail = self.detail.replace(&format!("{from}:"), &format!("{to}:"));
        }
        self
    }

    /// Presents a downstream gRPC failure. Field paths lose `strip_prefix` (the request
    /// message's name) so they match the JSON body.
    pub fn from_status(status: &tonic::Status, strip_prefix: &str) -> Self {
        let code = ErrorCode::of_status(status);
        // Unavailable and timeout messages are the gateway's own and name what failed
        // (`downstream::failure`, the audit trail); only an internal error says nothing more.
        let detail = match code {
            ErrorCode::Internal => "internal error".to_owned(),
            _ => status.message().to_owned(),
        };
        Self::new(code, detail).with_fields(iop_core::error::field_violations(status), strip_prefix)
    }
}

/// The longest text a problem repeats: details and field paths may quote what the caller
/// sent (an unknown field's name, a path), which must not make the answer large.
const MAX_TEXT: usize = 500;

fn bounded(text: &mut String) {
    if text.len() > MAX_TEXT {
        let mut end = MAX_TEXT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("...");
    }
}

impl IntoResponse for Problem {
    fn into_response(mut self) -> Response {
        if self.request_id.is_none() {
            self.request_id = crate::request_id::current();
        }
        bounded(&mut self.detail);
        self.errors.truncate(50);
        for e in &mut self.errors {
            bounded(&mut e.field);
            bounded(&mut e.detail);
        }
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        // RFC 6750: a 401 says why in WWW-Authenticate too.
        let www = (status == StatusCode::UNAUTHORIZED).then(|| {
            if self.detail == iop_auth::AuthError::Missing.to_string() {
                "Bearer".to_owned()
            } else {
                format!(
                    "Bearer error=\"invalid_token\", error_description=\"{}\"",
                    self.detail.replace('"', "'")
                )
            }
        });
        let mut res = (status, Json(self)).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(Ok(v)) = www.map(|w| HeaderValue::from_str(&w)) {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        res
    }
}
