//! Request ids: taken from the client's `X-Request-Id` when sane, otherwise a new UUIDv7;
//! echoed on the response, written into every log line of the request and forwarded to the
//! services inside the principal.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;

pub const HEADER: &str = "x-request-id";

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

pub async fn middleware(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    if let Ok(v) = HeaderValue::from_str(&id) {
        req.headers_mut().insert(HEADER, v.clone());
        let span = iop_telemetry::server_span(&req);
        let mut res = REQUEST_ID
            .scope(id, tracing::Instrument::instrument(next.run(req), span))
            .await;
        res.headers_mut().insert(HEADER, v);
        return res;
    }
    next.run(req).await
}
