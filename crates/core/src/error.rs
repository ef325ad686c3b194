//! One error type for the services and one code enum that knows both its gRPC code and its
//! HTTP status, so the gateway never has to guess how to present a failure.

use http::StatusCode;
use serde::Serialize;
use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt};

/// What went wrong, independent of the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    InvalidArgument,
    /// Well formed by the published schema, but against a rule JSON Schema cannot state (a
    /// date relative to today, two fields in order, a page token this listing did not hand
    /// out): INVALID_ARGUMENT marked [`UNPROCESSABLE_REASON`] over gRPC, 422 over REST
    /// (RFC 9110 §15.5.21: the syntax is correct, the instructions cannot be processed). A
    /// client that checks requests against the OpenAPI document can tell a 400 (its request
    /// breaks the contract) from a 422 (a rule the contract describes in prose).
    Unprocessable,
    Unauthenticated,
    PermissionDenied,
    NotFound,
    AlreadyExists,
    /// A write lost a race: a stale etag or version.
    Conflict,
    FailedPrecondition,
    PayloadTooLarge,
    ResourceExhausted,
    Cancelled,
    DeadlineExceeded,
    Unavailable,
    Unimplemented,
    Internal,
}

impl ErrorCode {
    pub fn grpc_code(self) -> Code {
        match self {
            Self::InvalidArgument | Self::Unprocessable => Code::InvalidArgument,
            Self::Unauthenticated => Code::Unauthenticated,
            Self::PermissionDenied => Code::PermissionDenied,
            Self::NotFound => Code::NotFound,
            Self::AlreadyExists => Code::AlreadyExists,
            Self::Conflict => Code::Aborted,
            Self::FailedPrecondition => Code::FailedPrecondition,
            Self::PayloadTooLarge => Code::OutOfRange,
            Self::ResourceExhausted => Code::ResourceExhausted,
            Self::Cancelled => Code::Cancelled,
            Self::DeadlineExceeded => Code::DeadlineExceeded,
            Self::Unavailable => Code::Unavailable,
            Self::Unimplemented => Code::Unimplemented,
            Self::Internal => Code::Internal,
        }
    }

    pub fn http_status(self) -> StatusCode {
        match self {
            Self::InvalidArgument => StatusCode::BAD_REQUEST,
            Self::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::PermissionDenied => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::AlreadyExists | Self::Conflict | Self::FailedPrecondition => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
            // 499 is nginx's "client closed request"; nobody reads it but the logs.
            Self::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            Self::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unimplemented => StatusCode::NOT_IMPLEMENTED,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// How a downstream gRPC failure is presented. Codes a service never sends on purpose
    /// (Unknown, DataLoss) are internal errors.
    pub fn from_grpc(code: Code) -> Self {
        match code {
            Code::InvalidArgument => Self::InvalidArgument,
            Code::Unauthenticated => Self::Unauthenticated,
            Code::PermissionDenied => Self::PermissionDenied,
            Code::NotFound => Self::NotFound,
            Code::AlreadyExists => Self::AlreadyExists,
            Code::Aborted => Self::Conflict,
            Code::FailedPrecondition => Self::FailedPrecondition,
            Code::OutOfRange => Self::PayloadTooLarge,
            Code::ResourceExhausted => Self::ResourceExhausted,
            Code::Cancelled => Self::Cancelled,
            Code::DeadlineExceeded => Self::DeadlineExceeded,
            Code::Unavailable => Self::Unavailable,
            Code::Unimplemented => Self::Unimplemented,
            Code::Ok | Code::Unknown | Code::Internal | Code::DataLoss => Self::Internal,
        }
    }

    /// The code of a status a service sent: [`Self::from_grpc`], except that an
    /// INVALID_ARGUMENT carrying a google.rpc.ErrorInfo with [`UNPROCESSABLE_REASON`] is
    /// [`Self::Unprocessable`].
    pub fn of_status(status: &tonic::Status) -> Self {
        let code = Self::from_grpc(status.code());
        let unprocessable = code == Self::InvalidArgument
            && status.get_details_error_info().is_some_and(|info| {
                info.reason == UNPROCESSABLE_REASON && info.domain == ERROR_DOMAIN
            });
        if unprocessable {
            Self::Unprocessable
        } else {
            code
        }
    }

    /// Short slug used in problem+json `type` URIs.
    pub fn slug(self) -> &'static str {
        match self {
            Self::InvalidArgument => "invalid-argument",
            Self::Unprocessable => "unprocessable",
            Self::Unauthenticated => "unauthenticated",
            Self::PermissionDenied => "permission-denied",
            Self::NotFound => "not-found",
            Self::AlreadyExists => "already-exists",
            Self::Conflict => "conflict",
            Self::FailedPrecondition => "failed-precondition",
            Self::PayloadTooLarge => "payload-too-large",
            Self::ResourceExhausted => "resource-exhausted",
            Self::Cancelled => "cancelled",
            Self::DeadlineExceeded => "deadline-exceeded",
            Self::Unavailable => "unavailable",
            Self::Unimplemented => "unimplemented",
            Self::Internal => "internal",
        }
    }

    /// Human title for problem+json.
    pub fn title(self) -> &'static str {
        match self {
            Self::InvalidArgument => "Invalid request",
            Self::Unprocessable => "Unprocessable request",
            Self::Unauthenticated => "Authentication required",
            Self::PermissionDenied => "Permission denied",
            Self::NotFound => "Not found",
            Self::AlreadyExists => "Already exists",
            Self::Conflict => "Conflict",
            Self::FailedPrecondition => "Failed precondition",
            Self::PayloadTooLarge => "Payload too large",
            Self::ResourceExhausted => "Too many requests",
            Self::Cancelled => "Request cancelled",
            Self::DeadlineExceeded => "Upstream timeout",
            Self::Unavailable => "Service unavailable",
            Self::Unimplemented => "Not implemented",
            Self::Internal => "Internal error",
        }
    }
}

/// One invalid field of a request, named by its path (`patient.birth_date`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}", .0.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; "))]
    InvalidFields(Vec<FieldViolation>),
    /// The request is well formed, but the stored resource does not meet a rule of the action
    /// (a note with no body cannot be signed; a discharge date before the stored admission):
    /// FAILED_PRECONDITION / 409, naming the fields (google.rpc.PreconditionFailure).
    #[error("{}", .0.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; "))]
    Unmet(Vec<FieldViolation>),
    /// The request is well formed by the published schema but breaks a rule the schema can
    /// only describe (see [`ErrorCode::Unprocessable`]).
    #[error("{}", .0.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; "))]
    Unprocessable(Vec<FieldViolation>),
    /// What the request would book overlaps what is booked already (a clinician, a room, a
    /// patient): ABORTED / 409, one google.rpc.PreconditionFailure violation per clash, its
    /// subject the occurrence and what it would take (`occurrences[3].room_id`).
    #[error("{}", .0.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; "))]
    Clashes(Vec<FieldViolation>),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// A single invalid field.
    pub fn field(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::InvalidFields(vec![FieldViolation {
            field: field.into(),
            description: description.into(),
        }])
    }

    /// A single field breaking a rule beyond the published schema ([`Error::Unprocessable`]).
    pub fn rule(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::Unprocessable(vec![FieldViolation {
            field: field.into(),
            description: description.into(),
        }])
    }

    /// The same error with every field path put under `prefix` (e.g. `assessment.`), for
    /// rules checked on a part of a request.
    pub fn under(self, prefix: &str) -> Self {
        let under = |list: Vec<FieldViolation>| {
            list.into_iter()
                .map(|v| FieldViolation {
                    field: format!("{prefix}{}", v.field),
                    ..v
                })
                .collect()
        };
        match self {
            Self::InvalidFields(list) => Self::InvalidFields(under(list)),
            Self::Unprocessable(list) => Self::Unprocessable(under(list)),
            other => other,
        }
    }

    /// A failure the caller cannot fix. When the cause is a database that is unreachable,
    /// busy, full or failing I/O, it is `Unavailable` instead (503 / UNAVAILABLE, "retry
    /// shortly"): nothing is wrong with the request, and a retry may well succeed.
    pub fn internal(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        let err = err.into();
        if err
            .downcast_ref::<sqlx::Error>()
            .is_some_and(database_unavailable)
        {
            // Handled here for good: the response names no cause.
            tracing::warn!(error = %chain(&*err), "database unavailable");
            return Self::Unavailable("the database is unavailable; retry shortly".into());
        }
        Self::Internal(err)
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidFields(_) | Self::InvalidArgument(_) => ErrorCode::InvalidArgument,
            Self::Unprocessable(_) => ErrorCode::Unprocessable,
            Self::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Self::PermissionDenied(_) => ErrorCode::PermissionDenied,
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::AlreadyExists(_) => ErrorCode::AlreadyExists,
            Self::Conflict(_) | Self::Clashes(_) => ErrorCode::Conflict,
            Self::FailedPrecondition(_) | Self::Unmet(_) => ErrorCode::FailedPrecondition,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }
}

/// At most this many field violations travel in a status (message and details): enough to
/// fix a request, and the trailers stay far below HTTP/2's header-list limit. A body with
/// hundreds of broken fields once made the answer itself break the connection (the client
/// saw "unavailable" instead of 400).
pub const MAX_REPORTED_VIOLATIONS: usize = 20;

impl From<Error> for tonic::Status {
    fn from(err: Error) -> Self {
        let kind = err.code();
        let code = kind.grpc_code();
        match err {
            Error::InvalidFields(violations)
            | Error::Unprocessable(violations)
            | Error::Unmet(violations)
            | Error::Clashes(violations) => {
                let unmet = matches!(code, tonic::Code::FailedPrecondition | tonic::Code::Aborted);
                let (message, violations) = bounded_violations(violations);
                let mut details = ErrorDetails::new();
                for v in violations {
                    if unmet {
                        details.add_precondition_failure_violation(
                            PRECONDITION_TYPE,
                            v.field,
                            v.description,
                        );
                    } else {
                        details.add_bad_request_violation(v.field, v.description);
                    }
                }
                if kind == ErrorCode::Unprocessable {
                    details.set_error_info(
                        UNPROCESSABLE_REASON,
                        ERROR_DOMAIN,
                        std::collections::HashMap::new(),
                    );
                }
                tonic::Status::with_error_details(code, message, details)
            }
            Error::Internal(source) => {
                // The one place an internal failure is finally handled: log the chain, keep
                // it (and any PHI it might carry) out of the response.
                tracing_chain(&*source);
                tonic::Status::internal("internal error")
            }
            other => tonic::Status::new(code, other.to_string()),
        }
    }
}

/// The google.rpc.ErrorInfo reason of an INVALID_ARGUMENT that breaks a rule beyond the
/// published schema ([`ErrorCode::Unprocessable`]).
pub const UNPROCESSABLE_REASON: &str = "RULE_BEYOND_SCHEMA";

/// The google.rpc.ErrorInfo domain of our services' errors.
pub const ERROR_DOMAIN: &str = "iop";

/// The `type` of every google.rpc.PreconditionFailure violation we send: its subject is the
/// field whose stored or requested value does not meet the rule.
pub const PRECONDITION_TYPE: &str = "FIELD";

/// The first [`MAX_REPORTED_VIOLATIONS`] and a message that says how many more there were.
fn bounded_violations(mut violations: Vec<FieldViolation>) -> (String, Vec<FieldViolation>) {
    let more = violations.len().saturating_sub(MAX_REPORTED_VIOLATIONS);
    violations.truncate(MAX_REPORTED_VIOLATIONS);
    let mut message = Error::InvalidFields(violations.clone()).to_string();
    if more > 0 {
        message.push_str(&format!("; and {more} more"));
    }
    (message, violations)
}

fn tracing_chain(err: &(dyn std::error::Error + 'static)) {
    tracing::error!(error = %chain(err), "internal error");
}

fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut chain = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        chain.push_str(": ");
        chain.push_str(&e.to_string());
        cur = e.source();
    }
    chain
}

/// Whether a database error says "not now" rather than "never": the database cannot be
/// reached, is locked or busy, is out of space or memory, or failed I/O (SQLite result codes,
/// <https://sqlite.org/rescode.html>; PostgreSQL SQLSTATE classes 08, 53, 57P, and the
/// retryable 40001 / 40P01 / 55P03 / 57014 / 25006).
pub fn database_unavailable(err: &sqlx::Error) -> bool {
    use sqlx::Error as E;
    match err {
        E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed | E::Io(_) | E::Tls(_) => true,
        E::Database(db) => {
            if let Some(sqlite) = db.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
                let primary = sqlx::error::DatabaseError::code(sqlite)
                    .and_then(|c| c.parse::<i32>().ok())
                    .map_or(0, |c| c & 0xff);
                // BUSY, LOCKED, NOMEM, READONLY, IOERR, FULL, CANTOPEN, PROTOCOL
                matches!(primary, 5 | 6 | 7 | 8 | 10 | 13 | 14 | 15)
            } else if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                let state = pg.code();
                ["08", "53", "57P"].iter().any(|p| state.starts_with(p))
                    || ["40001", "40P01", "55P03", "57014", "25006"].contains(&state)
            } else {
                false
            }
        }
        _ => false,
    }
}

/// Field violations carried by a gRPC status (google.rpc.BadRequest, or the subjects of a
/// google.rpc.PreconditionFailure), for the gateway.
pub fn field_violations(status: &tonic::Status) -> Vec<FieldViolation> {
    if let Some(failure) = status.get_details_precondition_failure() {
        return failure
            .violations
            .into_iter()
            .map(|v| FieldViolation {
                field: v.subject,
                description: v.description,
            })
            .collect();
    }
    status
        .get_details_bad_request()
        .map(|br| {
            br.field_violations
                .into_iter()
                .map(|v| FieldViolation {
                    field: v.field,
                    description: v.description,
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_grpc_code_round_trips_through_error_code() {
        for code in [
            ErrorCode::InvalidArgument,
            ErrorCode::Unauthenticated,
            ErrorCode::PermissionDenied,
            ErrorCode::NotFound,
            ErrorCode::AlreadyExists,
            ErrorCode::Conflict,
            ErrorCode::FailedPrecondition,
            ErrorCode::PayloadTooLarge,
            ErrorCode::ResourceExhausted,
            ErrorCode::Cancelled,
            ErrorCode::DeadlineExceeded,
            ErrorCode::Unavailable,
            ErrorCode::Unimplemented,
            ErrorCode::Internal,
        ] {
            assert_eq!(ErrorCode::from_grpc(code.grpc_code()), code);
        }
    }

    #[test]
    fn a_rule_beyond_the_schema_is_invalid_argument_over_grpc_and_422_over_rest() {
        let status: tonic::Status = Error::rule("to_time", "must be later than from_time").into();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(ErrorCode::of_status(&status), ErrorCode::Unprocessable);
        assert_eq!(
            ErrorCode::of_status(&status).http_status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(field_violations(&status)[0].field, "to_time");
        // A plain malformed field stays 400.
        let status: tonic::Status = Error::field("to_time", "is not a timestamp").into();
        assert_eq!(ErrorCode::of_status(&status), ErrorCode::InvalidArgument);
    }

    #[test]
    fn stale_write_is_aborted_and_409() {
        let err = Error::Conflict("stale".into());
        assert_eq!(err.code().grpc_code(), Code::Aborted);
        assert_eq!(err.code().http_status(), StatusCode::CONFLICT);
    }

    #[test]
    fn a_request_with_hundreds_of_broken_fields_gets_a_bounded_status() {
        let many = (0..1000)
            .map(|i| FieldViolation {
                field: format!("problems[{i}].goals[0].description"),
                description: "must not contain control characters".into(),
            })
            .collect();
        let status = tonic::Status::from(Error::InvalidFields(many));
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(
            status.message().ends_with("; and 980 more"),
            "{}",
            status.message()
        );
        assert!(status.message().len() < 2000);
        let details = status.get_details_bad_request().unwrap();
        assert_eq!(details.field_violations.len(), MAX_REPORTED_VIOLATIONS);
        assert_eq!(
            details.field_violations[0].field,
            "problems[0].goals[0].description"
        );
    }

    #[test]
    fn field_violations_survive_the_grpc_status() {
        let status: tonic::Status =
            Error::field("patient.birth_date", "must not be in the future").into();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().contains("patient.birth_date"));
        let v = field_violations(&status);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].field, "patient.birth_date");
    }

    #[test]
    fn unmet_rules_of_stored_state_are_a_failed_precondition_naming_the_fields() {
        let status: tonic::Status = Error::Unmet(vec![FieldViolation {
            field: "body".into(),
            description: "is empty: there is nothing to sign".into(),
        }])
        .into();
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(status.message(), "body: is empty: there is nothing to sign");
        assert!(status.get_details_bad_request().is_none());
        let v = field_violations(&status);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].field, "body");
        assert_eq!(
            ErrorCode::from_grpc(status.code()).http_status(),
            StatusCode::CONFLICT
        );
    }

    #[test]
    fn an_unreachable_or_failing_database_is_unavailable_not_internal() {
        let busy = Error::internal(sqlx::Error::PoolTimedOut);
        assert_eq!(busy.code(), ErrorCode::Unavailable);
        assert_eq!(busy.code().http_status(), StatusCode::SERVICE_UNAVAILABLE);
        let io = Error::internal(sqlx::Error::Io(std::io::Error::other("disk")));
        assert_eq!(io.code(), ErrorCode::Unavailable);
        assert!(!io.to_string().contains("disk"), "{io}");
        // A bug stays a bug.
        assert_eq!(
            Error::internal(sqlx::Error::RowNotFound).code(),
            ErrorCode::Internal
        );
        assert_eq!(Error::internal("broken").code(), ErrorCode::Internal);
    }

    #[test]
    fn internal_errors_do_not_leak_their_cause() {
        let status: tonic::Status = Error::internal("db password is hunter2").into();
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("hunter2"));
    }
}
