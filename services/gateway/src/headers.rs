//! Caps on request headers, the rule a client sees: one header past the per-header cap, or
//! all together past the total, is 431 naming it (gRPC: RESOURCE_EXHAUSTED). hyper bounds
//! the memory a request head takes, but only loosely on keep-alive connections.

use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use iop_core::ErrorCode;

use crate::problem::Problem;

/// The caps, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub per_header: usize,
    pub total: usize,
}

/// The answer to a request whose headers are past `caps`; `None` when they are within.
pub fn refuse(headers: &HeaderMap, caps: Caps) -> Option<Response> {
    let detail = oversized(headers, caps)?;
    if is_grpc(headers) {
        return Some(tonic::Status::resource_exhausted(detail).into_http());
    }
    let problem = Problem::new(ErrorCode::InvalidArgument, detail).with_status(
        http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "header-too-large",
        "Request header fields too large",
    );
    Some(problem.into_response())
}

/// Whether a request is a gRPC call.
pub fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// What is too large about `headers`, if anything (a header's name is cut short in the
/// answer: it is the client's).
fn oversized(headers: &HeaderMap, caps: Caps) -> Option<String> {
    let mut total = 0;
    for (name, value) in headers {
        let size = name.as_str().len() + value.len();
        if size > caps.per_header {
            return Some(format!(
                "header {} is larger than {} bytes",
                iop_auth::verify::untrusted(name.as_str()),
                caps.per_header
            ));
        }
        total += size;
    }
    (total > caps.total)
        .then(|| format!("the headers together are larger than {} bytes", caps.total))
}
