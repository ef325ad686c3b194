//! The edge of every request and response. Request ids: every request gets a new UUIDv7 from the gateway — unique, so the audit
//! trail and the logs can rely on it — echoed as `X-Request-Id`, written into every log line
//! of the request and forwarded to the services inside the principal. An `X-Request-Id` the
//! client sent (when sane) is its own correlation id: kept beside ours in the log and echoed
//! back as `X-Correlation-Id`, never taken as ours (two clients may send the same one).
//! Requests with oversized headers are refused here (see [`crate::headers`]), and every
//! response gets the headers of [`protect`].

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderName, HeaderValue};

use crate::headers::Caps;

pub const HEADER: &str = "x-request-id";
pub const CORRELATION_HEADER: &str = "x-correlation-id";

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being handled, if any.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

fn acceptable(v: &str) -> bool {
    !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic())
}

/// The edge: the request's id, its headers' caps, and what every response says.
pub async fn middleware(State(caps): State<Caps>, mut req: Request, next: Next) -> Response {
    let theirs = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .and_then(|v| HeaderValue::from_str(v).ok());
    let id = uuid::Uuid::now_v7().to_string();
    let Ok(ours) = HeaderValue::from_str(&id) else {
        let mut res = next.run(req).await;
        protect(res.headers_mut());
        return res;
    };
    req.headers_mut().insert(HEADER, ours.clone());
    let span = iop_telemetry::server_span(&req);
    if let Some(c) = theirs.as_ref().and_then(|v| v.to_str().ok()) {
        span.record("correlation_id", c);
    }
    let answer = async move {
        match crate::headers::refuse(req.headers(), caps) {
            Some(refused) => refused,
            None => next.run(req).await,
        }
    };
    let mut res = REQUEST_ID
        .scope(id, tracing::Instrument::instrument(answer, span))
        .await;
    res.headers_mut().insert(HEADER, ours);
    if let Some(theirs) = theirs {
        res.headers_mut()
            .insert(HeaderName::from_static(CORRELATION_HEADER), theirs);
    }
    protect(res.headers_mut());
    res
}

/// What every response says about itself: never sniff a type other than the one stated;
/// and, unless it says otherwise (the public JWKS may be cached), store nothing — patient
/// data must not linger in browser or proxy caches (HIPAA §164.312(a)(1) access control).
fn protect(headers: &mut http::HeaderMap) {
    headers.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers
        .entry(http::header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
}
