//! Serving a service: its gRPC services behind the principal layer (only calls the gateway
//! or another of our services sealed get through), traced, with `grpc.health.v1` following
//! the database, reflection listing exactly what is served, TCP_NODELAY, and a graceful
//! shutdown that drains in-flight calls before the pool closes.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use iop_auth::{InternalKey, PrincipalLayer};
use iop_db::Db;
use tokio::net::TcpListener;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::service::RoutesBuilder;
use tonic_health::ServingStatus;
use tower_http::trace::TraceLayer;

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("cannot build the reflection service")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("grpc server failed")]
    Transport(#[from] tonic::transport::Error),
    #[error("no URL for the {0} service: pass --backend {0}=<url>")]
    MissingBackend(&'static str),
    #[error("invalid URL for the {0} service")]
    BackendUrl(&'static str, #[source] tonic::transport::Error),
}

/// A service being put together: `Host::new(…).serve(…).serve(…).run(…)`.
/// What every service is started with: its database, the pool's bounds, the key the
/// gateway seals principals with, and where the services it calls listen.
pub struct ServiceConfig {
    /// `sqlite://path?mode=rwc` or `postgres://…`.
    pub database_url: String,
    pub pool: iop_db::PoolConfig,
    /// Opens the principal the gateway seals onto every call (and seals this service's own
    /// calls to another).
    pub internal_key: Arc<InternalKey>,
    /// The services it calls (`records=http://…`).
    pub backends: Vec<crate::internal::BackendUrl>,
}

impl ServiceConfig {
    /// A lazily connecting channel to the backend `name`.
    pub fn backend(&self, name: &'static str) -> Result<tonic::transport::Channel, HostError> {
        let url = self
            .backends
            .iter()
            .find(|b| b.name == name)
            .ok_or(HostError::MissingBackend(name))?;
        crate::internal::channel(&url.url).map_err(|e| HostError::BackendUrl(name, e))
    }
}

/// Why a service stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Db(#[from] iop_db::DbError),
    #[error(transparent)]
    Host(#[from] HostError),
}

pub struct Host {
    name: &'static str,
    db: Db,
    key: Arc<InternalKey>,
    routes: RoutesBuilder,
    /// What clients call through the gateway: health-reported and reflected.
    public: Vec<&'static str>,
    /// What only our own processes call (`iop.internal.v1`): reflected, not health-reported.
    internal: Vec<&'static str>,
}

impl Host {
    /// `name` is for logs; `db` is the service's database (health follows it, it is closed
    /// after the last call); `key` opens the principal callers seal.
    pub fn new(name: &'static str, db: Db, key: Arc<InternalKey>) -> Self {
        Self {
            name,
            db,
            key,
            routes: RoutesBuilder::default(),
            public: Vec::new(),
            internal: Vec::new(),
        }
    }

    /// Adds a gRPC service. One of `iop.internal.v1` (calls between our own processes) is
    /// reflected but not health-reported; any other is what clients call through the
    /// gateway.
    pub fn serve<S>(mut self, service: S) -> Self
    where
        S: tower::Service<http::Request<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        if S::NAME.starts_with("iop.internal.") {
            self.internal.push(S::NAME);
        } else {
            self.public.push(S::NAME);
        }
        self.routes.add_service(service);
        self
    }

    /// Serves on `listener` until `shutdown` resolves, then drains the calls in flight and
    /// closes the database.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), HostError> {
        let Self {
            name,
            db,
            key,
            mut routes,
            public,
            internal,
        } = self;
        let (reporter, health) = tonic_health::server::health_reporter();
        for service in &public {
            reporter
                .set_service_status(*service, ServingStatus::Serving)
                .await;
        }
        let watcher = tokio::spawn(watch_database(db.clone(), reporter, public.clone()));
        let reflected: Vec<&str> = public.iter().chain(&internal).copied().collect();
        let (reflection, reflection_v1alpha) = iop_proto::reflection(&reflected)?;
        routes
            .add_service(health)
            .add_service(reflection)
            .add_service(reflection_v1alpha);

        tracing::info!(service = name, addr = ?listener.local_addr().ok(), "listening");
        let result = tonic::transport::Server::builder()
            .layer(TraceLayer::new_for_grpc().make_span_with(iop_telemetry::server_span))
            .layer(PrincipalLayer::new(key))
            .add_routes(routes.routes())
            // TCP_NODELAY: an HTTP/2 response is several small frames; with Nagle's
            // algorithm and delayed ACKs some of them would wait 40 ms.
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                shutdown,
            )
            .await;
        watcher.abort();
        db.close().await;
        tracing::info!(service = name, "stopped");
        result.map_err(HostError::from)
    }
}

/// Health follows the database: a load balancer (and the gateway's `/readyz`) stops
/// sending traffic while it is unreachable, and resumes when it is back.
async fn watch_database(
    db: Db,
    reporter: tonic_health::server::HealthReporter,
    services: Vec<&'static str>,
) {
    let mut last = true;
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        let up = db.ping().await;
        if up != last {
            let status = if up {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            reporter.set_service_status("", status).await;
            for service in &services {
                reporter.set_service_status(*service, status).await;
            }
            if up {
                tracing::info!("database reachable again");
            } else {
                tracing::warn!("database unreachable; reporting not serving");
            }
            last = up;
        }
    }
}
