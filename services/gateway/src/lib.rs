//! The gateway: the only thing exposed. One port serves REST/JSON (`/v1/...`), the gRPC APIs
//! of the services, `/openapi.json`, `/healthz` and `/readyz`. It verifies the caller's JWT
//! and forwards a sealed internal principal to the services.

pub mod audit;
mod auth;
pub mod backends;
pub mod clients;
mod downstream;
mod grpc;
mod headers;
pub mod jwks;
pub mod limits;
pub mod operation;
pub mod policy;
pub mod problem;
mod request_id;
mod rest;
pub mod server;
pub mod signing;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderValue, Method, StatusCode, header};
use iop_auth::keys::KeyRing;
use iop_auth::{InternalKey, TrustedIssuer, Verifier};
use iop_core::ErrorCode;
use iop_proto::audit::audit_service_server::AuditServiceServer;
use iop_proto::clients::client_service_server::ClientServiceServer;
use tokio::net::TcpListener;
use tower::ServiceExt;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::auth::Authenticator;
use crate::downstream::Downstream;
use crate::problem::Problem;

pub use crate::downstream::{BackendError, BackendUrl};
pub use crate::limits::RateLimits;
pub use crate::rest::openapi;
pub use crate::server::ConnectionLimits;

pub struct Config {
    /// `iss` of the tokens this gateway signs.
    pub issuer: String,
    /// `aud` every token for this API must carry.
    pub audience: String,
    /// The current signing key and the retired ones that still verify.
    pub keys: Arc<KeyRing>,
    /// The current key's file, re-read every `key_reload_every` so a rotation takes effect
    /// without a restart; `None` keeps `keys` as given.
    pub key_file: Option<std::path::PathBuf>,
    pub key_reload_every: Duration,
    pub internal_key: Arc<InternalKey>,
    /// External identity providers whose tokens are accepted too.
    pub trusted_issuers: Vec<TrustedIssuer>,
    /// The gateway's own database (the audit trail): `sqlite://…` or `postgres://…`.
    pub database_url: String,
    /// gRPC URL of each backend service (`records` at `http://127.0.0.1:50051`…); every
    /// backend in [`backends::BACKENDS`] needs one.
    pub backends: Vec<BackendUrl>,
    /// Deadline of every call to a service.
    pub downstream_timeout: Duration,
    /// The gateway's public base URL (`https://api.clinic.example`); the token endpoint is
    /// `<public_url>/oauth2/token`, the `aud` client assertions must carry.
    pub public_url: String,
    /// Largest REST body accepted, in bytes.
    pub body_limit: usize,
    /// Browser origins allowed by CORS; empty disables CORS.
    pub cors_origins: Vec<String>,
    /// Request rates per client and per source address.
    pub rate_limits: RateLimits,
    /// Timeouts and caps of client connections, and the shutdown grace period.
    pub connections: ConnectionLimits,
    /// The audit trail's chain and checkpoint keys (kept outside its database).
    pub audit_keys: Arc<audit::AuditKeys>,
    /// Where signed checkpoints of the trail are appended; `None`: the log only.
    pub audit_checkpoints: Option<std::path::PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Db(#[from] iop_db::DbError),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error("trusted issuer: {0}")]
    Issuer(String),
    #[error("invalid cors origin {0:?}")]
    Cors(String),
    #[error("cannot build the reflection service")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("http server failed")]
    Io(#[from] std::io::Error),
}

#[derive(Clone)]
pub(crate) struct AppState {
    down: Downstream,
    db: iop_db::Db,
    audit_log: audit::AuditLog,
    clients: clients::Clients,
    keys: Arc<signing::SigningKeys>,
    issuer: Arc<str>,
    audience: Arc<str>,
    token_url: Arc<str>,
    /// The gateway's public base URL, without a trailing `/` (addresses handed out).
    public_url: Arc<str>,
    openapi: Arc<String>,
    /// Per source address: token requests count against it.
    anonymous: Arc<limits::Limiter>,
}

/// Who the callers are and whether their accesses are recorded.
enum Guard {
    /// Bearer tokens verified, rate limits applied, every access audited.
    On,
    /// Every caller is this principal and nothing is audited: the benchmark's baseline.
    #[cfg(feature = "bench-baseline")]
    Off(Arc<iop_core::Principal>),
}

/// The gateway, built: its HTTP application and what must be closed after serving.
pub struct App {
    pub router: Router,
    db: iop_db::Db,
    audit: audit::AuditLog,
    connections: ConnectionLimits,
}

/// Builds the whole HTTP application (REST + gRPC) for `config`.
pub async fn app(config: Config) -> Result<App, ServeError> {
    build(config, Guard::On).await
}

/// The same application with authentication and the audit trail left out: every request
/// acts as `principal` (with its own request id) and no audit event is written. Only for
/// measuring what authentication and audit cost (`cargo bench -p iop-e2e --bench
/// gateway_read`); never reachable from the `iop` binary or its configuration.
#[cfg(feature = "bench-baseline")]
pub async fn app_without_auth_and_audit(
    config: Config,
    principal: iop_core::Principal,
) -> Result<App, ServeError> {
    build(config, Guard::Off(Arc::new(principal))).await
}

async fn build(config: Config, guard: Guard) -> Result<App, ServeError> {
    let mut verifier = Verifier::new();
    let own_jwks = serde_json::from_value(config.keys.jwks())
        .map_err(|e| ServeError::Issuer(format!("own key: {e}")))?;
    verifier.trust_jwks(&config.issuer, &config.audience, &own_jwks);
    for trusted in &config.trusted_issuers {
        verifier.trust_issuer(trusted).map_err(ServeError::Issuer)?;
    }
    let keys = Arc::new(signing::SigningKeys::new(
        config.keys.clone(),
        config.key_file.clone(),
        &config.issuer,
    ));
    let anonymous = Arc::new(limits::Limiter::new(
        config.rate_limits.per_address_per_minute,
        config.rate_limits.per_address_burst,
    ));
    let auth = Arc::new(Authenticator::new(
        verifier,
        jwks::RemoteKeys::new(&config.trusted_issuers),
        keys.clone(),
        limits::Limiter::new(
            config.rate_limits.per_client_per_minute,
            config.rate_limits.per_client_burst,
        ),
        anonymous.clone(),
    ));
    tokio::spawn(sweep_rate_limits(Arc::downgrade(&auth)));
    if auth.has_remote_keys() {
        tokio::spawn(jwks::keep_fresh(Arc::downgrade(&auth)));
    }
    if keys.reloadable() {
        tokio::spawn(signing::watch(
            Arc::downgrade(&keys),
            Arc::downgrade(&auth),
            config.key_reload_every,
        ));
    }
    let db = audit::open(&config.database_url).await?;
    let db_handle = db.clone();
    let audit_log = match &guard {
        Guard::On => audit::AuditLog::start(
            db.clone(),
            audit::Settings::for_deadline(config.downstream_timeout),
            config.audit_keys.clone(),
            config.audit_checkpoints.clone(),
        ),
        #[cfg(feature = "bench-baseline")]
        Guard::Off(_) => audit::AuditLog::off(),
    };
    let down = Downstream::new(
        &config.backends,
        config.internal_key.clone(),
        config.downstream_timeout,
        audit_log.clone(),
    )?;
    let (rest_api, openapi) = rest::api();
    let state = AppState {
        down: down.clone(),
        db: db.clone(),
        audit_log: audit_log.clone(),
        clients: clients::Clients::new(db.clone(), audit_log.clone()),
        keys: keys.clone(),
        issuer: config.issuer.as_str().into(),
        audience: config.audience.as_str().into(),
        token_url: format!("{}/oauth2/token", config.public_url.trim_end_matches('/')).into(),
        public_url: config.public_url.trim_end_matches('/').into(),
        openapi: Arc::new(rest::openapi_json(&openapi)),
        anonymous,
    };

    let rest_api = rest_api.layer(DefaultBodyLimit::max(config.body_limit));
    let rest_api = match &guard {
        Guard::On => rest_api.route_layer(middleware::from_fn_with_state(auth.clone(), auth::rest)),
        #[cfg(feature = "bench-baseline")]
        Guard::Off(who) => {
            rest_api.route_layer(middleware::from_fn_with_state(who.clone(), auth::fixed))
        }
    };

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    for backend in backends::BACKENDS {
        for service in backend.services {
            health_reporter
                .set_service_status(*service, tonic_health::ServingStatus::Serving)
                .await;
        }
    }
    // Reflection lists exactly what the gateway serves: the services of its operations and
    // health, never the internal calls between our own processes.
    let (reflection, reflection_v1alpha) =
        iop_proto::reflection(&backends::served_grpc_services())?;
    // Every gRPC service takes messages up to the REST body limit, no larger.
    let limit = config.body_limit;
    let mut grpc_api = tonic::service::Routes::new(
        AuditServiceServer::new(grpc::AuditApi::new(db.clone(), audit_log.clone()))
            .max_decoding_message_size(limit),
    )
    .add_service(
        ClientServiceServer::new(grpc::ClientApi::new(state.clients.clone()))
            .max_decoding_message_size(limit),
    );
    for backend in backends::BACKENDS {
        grpc_api = (backend.add_services)(grpc_api, &down, limit);
    }
    let grpc_api = grpc_api
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_v1alpha)
        .into_axum_router();
    let grpc_api = match guard {
        Guard::On => grpc_api.layer(middleware::from_fn_with_state(auth, auth::grpc)),
        #[cfg(feature = "bench-baseline")]
        Guard::Off(who) => grpc_api.layer(middleware::from_fn_with_state(who, auth::fixed)),
    };

    let mut app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(openapi_json))
        .route("/.well-known/jwks.json", get(jwks))
        .route(
            "/.well-known/smart-configuration",
            get(rest::clients::smart_configuration),
        )
        .route(
            "/oauth2/token",
            post(rest::clients::token).layer(DefaultBodyLimit::max(64 * 1024)),
        )
        .merge(rest_api)
        .merge(backends::public_routes())
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(move |req: Request| route_grpc_or_404(grpc_api.clone(), req))
        .with_state(state);
    if !config.cors_origins.is_empty() {
        app = app.layer(cors(&config.cors_origins)?);
    }
    let caps = headers::Caps {
        per_header: config.connections.max_header_value_bytes,
        total: config.connections.max_header_bytes,
    };
    Ok(App {
        router: app.layer(middleware::from_fn_with_state(caps, request_id::middleware)),
        db: db_handle,
        audit: audit_log,
        connections: config.connections,
    })
}

/// Serves the gateway on `listener` until `shutdown` resolves.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    serve_app(app(config).await?, listener, shutdown).await
}

/// Serves an application made by [`app`] on `listener` until `shutdown` resolves.
pub async fn serve_app(
    app: App,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    tracing::info!(addr = ?listener.local_addr().ok(), "gateway listening");
    // Shutdown order: the signal stops accepting; in-flight requests finish within the
    // grace period (each one's audit events are written before its answer), connections
    // still open after it are closed; the trail's last checkpoint is written; the pool
    // closes; the caller flushes telemetry.
    let App {
        router,
        db,
        audit,
        connections,
    } = app;
    server::serve(listener, router, connections, shutdown).await;
    audit.shutdown(Duration::from_secs(5)).await;
    db.close().await;
    tracing::info!("gateway stopped");
    Ok(())
}

/// Drops idle clients' buckets now and then, until the app is gone.
async fn sweep_rate_limits(auth: std::sync::Weak<Authenticator>) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    tick.tick().await;
    loop {
        tick.tick().await;
        match auth.upgrade() {
            Some(auth) => {
                auth.limiter.sweep();
                auth.anonymous.sweep();
            }
            None => return,
        }
    }
}

async fn route_grpc_or_404(grpc_api: Router, req: Request) -> Response {
    let is_grpc = headers::is_grpc(req.headers());
    if is_grpc {
        return grpc_api
            .oneshot(req)
            .await
            .unwrap_or_else(|never| match never {});
    }
    Problem::new(
        ErrorCode::NotFound,
        format!("no route for {}", req.uri().path()),
    )
    .into_response()
}

async fn method_not_allowed(req: Request) -> Response {
    Problem::new(
        ErrorCode::InvalidArgument,
        format!("{} is not allowed here", req.method()),
    )
    .with_status(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
    )
    .into_response()
}

async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(State(st): State<AppState>) -> Response {
    // The gateway's own database (clients), its audit trail (can an event be appended now?)
    // and every service behind it.
    let database = async {
        tokio::time::timeout(Duration::from_secs(1), st.db.ping())
            .await
            .unwrap_or(false)
    };
    let (backends, database, audit) = tokio::join!(
        st.down.ready(),
        database,
        st.audit_log.ready(Duration::from_secs(1))
    );
    let ready = backends.iter().all(|(_, serving)| *serving) && database && audit;
    let mut checks = serde_json::Map::new();
    for (name, serving) in backends {
        let state = if serving { "serving" } else { "unreachable" };
        checks.insert(name.to_owned(), state.into());
    }
    checks.insert(
        "database".into(),
        (if database { "reachable" } else { "unreachable" }).into(),
    );
    checks.insert(
        "audit".into(),
        (if audit { "writable" } else { "unavailable" }).into(),
    );
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "unavailable" },
        "checks": checks,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

async fn openapi_json(State(st): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        st.openapi.as_str().to_owned(),
    )
        .into_response()
}

async fn jwks(State(st): State<AppState>) -> Response {
    (
        [
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::CONTENT_TYPE, "application/json"),
        ],
        st.keys.jwks().to_string(),
    )
        .into_response()
}

fn cors(origins: &[String]) -> Result<CorsLayer, ServeError> {
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let values = origins
            .iter()
            .map(|o| HeaderValue::from_str(o).map_err(|_| ServeError::Cors(o.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        AllowOrigin::list(values)
    };
    Ok(CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::PUT,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            http::HeaderName::from_static(request_id::HEADER),
            http::HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            http::HeaderName::from_static(request_id::HEADER),
            http::HeaderName::from_static(request_id::CORRELATION_HEADER),
        ])
        .max_age(Duration::from_secs(600)))
}
