//! The whole platform in one process: every service on its own loopback port, talking real
//! gRPC to the others, behind the gateway. Used by `iop up`, the end-to-end tests and the
//! benchmarks.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use iop_auth::keys::KeyRing;
use iop_auth::{InternalKey, TrustedIssuer};
use iop_db::PoolConfig;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

pub const DEFAULT_ISSUER: &str = "urn:iop:gateway";
pub const DEFAULT_AUDIENCE: &str = "urn:iop:api";

/// Where the gateway's key files live inside a data directory.
pub fn signing_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("keys").join("gateway-signing.pem")
}

/// The gateway's default SQLite database (the audit trail) in a data directory.
pub fn gateway_database_url(data_dir: &Path) -> String {
    iop_db::sqlite_file_url(&data_dir.join("gateway.db"))
}

pub fn internal_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("keys").join("internal.key")
}

#[derive(Debug, Clone)]
pub struct SystemConfig {
    pub data_dir: PathBuf,
    pub gateway_addr: SocketAddr,
    /// Each service's database by service name (`records` → `postgres://…`); a service not
    /// listed gets a SQLite file `<name>.db` in the data directory.
    pub database_urls: std::collections::BTreeMap<String, String>,
    /// The gateway's database (audit trail); defaults to a SQLite file in the data directory.
    pub gateway_database_url: Option<String>,
    pub issuer: String,
    pub audience: String,
    pub trusted_issuers: Vec<TrustedIssuer>,
    pub cors_origins: Vec<String>,
    /// Public base URL of the gateway; defaults to `http://<gateway address>`.
    pub public_url: Option<String>,
    pub downstream_timeout: Duration,
    /// How often the gateway re-reads its signing keys.
    pub key_reload_every: Duration,
    pub body_limit: usize,
    /// Request rates per client and per source address.
    pub rate_limits: iop_gateway::RateLimits,
    /// Timeouts and caps of the gateway's client connections, and its shutdown grace.
    pub connections: iop_gateway::ConnectionLimits,
}

impl SystemConfig {
    pub fn new(data_dir: PathBuf, gateway_addr: SocketAddr) -> Self {
        Self {
            data_dir,
            gateway_addr,
            database_urls: Default::default(),
            gateway_database_url: None,
            issuer: DEFAULT_ISSUER.into(),
            audience: DEFAULT_AUDIENCE.into(),
            trusted_issuers: Vec::new(),
            cors_origins: Vec::new(),
            public_url: None,
            downstream_timeout: Duration::from_secs(10),
            key_reload_every: KEY_RELOAD_EVERY,
            body_limit: 1024 * 1024,
            rate_limits: iop_gateway::RateLimits::default(),
            connections: iop_gateway::ConnectionLimits::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create data directory {0}")]
    DataDir(String, #[source] std::io::Error),
    #[error("cannot bind {0}")]
    Bind(SocketAddr, #[source] std::io::Error),
    #[error(transparent)]
    SigningKey(#[from] iop_auth::keys::KeyError),
    #[error(transparent)]
    InternalKey(#[from] iop_auth::internal::InternalKeyError),
    #[error(transparent)]
    AuditKeys(#[from] iop_gateway::audit::keys::KeyError),
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0} service: {1}")]
    Service(
        &'static str,
        #[source] Box<dyn std::error::Error + Send + Sync>,
    ),
    #[error("gateway: {0}")]
    Gateway(#[from] iop_gateway::ServeError),
    #[error("a service task panicked")]
    Panicked,
}

/// A running platform; stop it with [`System::shutdown`].
pub struct System {
    pub gateway_addr: SocketAddr,
    /// Where each backend service listens (loopback), in start order.
    pub services: Vec<(&'static str, SocketAddr)>,
    /// In start order: a service starts after those it calls, and stops after them.
    stages: Vec<Stage>,
    /// Each stage reports here when it ends, however it ends.
    ended: mpsc::UnboundedReceiver<(&'static str, Result<(), RunError>)>,
}

/// One service of the platform as it runs.
struct Stage {
    name: &'static str,
    stop: watch::Sender<bool>,
    done: watch::Receiver<bool>,
}

/// Starts the stages in order, each with its own stop signal.
struct Launcher {
    stages: Vec<Stage>,
    ended: mpsc::UnboundedSender<(&'static str, Result<(), RunError>)>,
}

impl Launcher {
    /// Runs `serve(shutdown)`, where `shutdown` resolves when this stage is told to stop.
    fn start<F, Fut>(&mut self, name: &'static str, serve: F)
    where
        F: FnOnce(Shutdown) -> Fut,
        Fut: Future<Output = Result<(), RunError>> + Send + 'static,
    {
        let (stop, mut stopped) = watch::channel(false);
        let (done_tx, done) = watch::channel(false);
        let shutdown = Box::pin(async move {
            let _ = stopped.wait_for(|s| *s).await;
        });
        let running = tokio::spawn(serve(shutdown));
        let ended = self.ended.clone();
        tokio::spawn(async move {
            let result = running.await.unwrap_or(Err(RunError::Panicked));
            let _ = done_tx.send(true);
            let _ = ended.send((name, result));
        });
        self.stages.push(Stage { name, stop, done });
    }
}

/// What a backend service is given to start.
pub struct ServiceStart {
    pub listener: TcpListener,
    pub database_url: String,
    pub internal_key: Arc<InternalKey>,
    /// The services it calls, started before it.
    pub backends: Vec<iop_gateway::BackendUrl>,
    pub pool: PoolConfig,
}

type Shutdown = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;
type Serving = std::pin::Pin<Box<dyn Future<Output = Result<(), RunError>> + Send>>;

/// A backend service of the platform, as the launcher runs it.
pub struct Service {
    pub name: &'static str,
    /// The services it calls: they start before it and stop after it.
    pub needs: &'static [&'static str],
    serve: fn(ServiceStart, Shutdown) -> Serving,
}

/// Every backend service, each after the services it needs; the gateway starts after all of
/// them. Adding a service: a line here (and its folder in the gateway's `backends/`).
pub const SERVICES: &[Service] = &[
    Service {
        name: "records",
        needs: &[],
        serve: |start, shutdown| {
            Box::pin(async move {
                let config = iop_records::Config {
                    database_url: start.database_url,
                    pool: start.pool,
                    internal_key: start.internal_key,
                    backends: start.backends,
                };
                iop_records::serve(config, start.listener, shutdown)
                    .await
                    .map_err(|e| RunError::Service("records", Box::new(e)))
            })
        },
    },
    Service {
        name: "scheduling",
        // Whether a patient exists; an intake's referral.
        needs: &["records"],
        serve: |start, shutdown| {
            Box::pin(async move {
                let config = iop_scheduling::Config {
                    database_url: start.database_url,
                    pool: start.pool,
                    internal_key: start.internal_key,
                    backends: start.backends,
                };
                iop_scheduling::serve(config, start.listener, shutdown)
                    .await
                    .map_err(|e| RunError::Service("scheduling", Box::new(e)))
            })
        },
    },
    Service {
        name: "groups",
        // Locations, rooms and clinicians of tracks.
        needs: &["scheduling"],
        serve: |start, shutdown| {
            Box::pin(async move {
                let config = iop_groups::Config {
                    database_url: start.database_url,
                    pool: start.pool,
                    internal_key: start.internal_key,
                    backends: start.backends,
                };
                iop_groups::serve(config, start.listener, shutdown)
                    .await
                    .map_err(|e| RunError::Service("groups", Box::new(e)))
            })
        },
    },
];

/// Runs the service `name` of [`SERVICES`] alone (`iop serve <name>`) until `shutdown`.
pub async fn serve_alone(
    name: &str,
    start: ServiceStart,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let service = SERVICES
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| RunError::Service("iop", format!("no service named {name}").into()))?;
    (service.serve)(start, Box::pin(shutdown)).await
}

/// How often a running gateway re-reads its signing keys (see `iop keys rotate`).
pub const KEY_RELOAD_EVERY: Duration = Duration::from_secs(10);

/// Starts every service in [`SERVICES`], then the gateway. Keys are created in the data directory on first start.
pub async fn start(config: SystemConfig) -> Result<System, StartError> {
    create_private_dir(&config.data_dir)
        .map_err(|e| StartError::DataDir(config.data_dir.display().to_string(), e))?;
    let keys = Arc::new(KeyRing::load_or_create(&signing_key_path(
        &config.data_dir,
    ))?);
    let internal_key = Arc::new(InternalKey::load_or_create(&internal_key_path(
        &config.data_dir,
    ))?);
    let audit_files = iop_gateway::audit::AuditFiles::in_data_dir(&config.data_dir);
    let audit_keys = Arc::new(iop_gateway::audit::AuditKeys::load_or_create(&audit_files)?);

    let gateway_listener = TcpListener::bind(config.gateway_addr)
        .await
        .map_err(|e| StartError::Bind(config.gateway_addr, e))?;
    let gateway_addr = gateway_listener
        .local_addr()
        .map_err(|e| StartError::Bind(config.gateway_addr, e))?;

    let (ended_tx, ended) = mpsc::unbounded_channel();
    let mut launcher = Launcher {
        stages: Vec::new(),
        ended: ended_tx,
    };
    let mut services = Vec::new();
    let mut urls = Vec::new();
    for service in SERVICES {
        let bind: SocketAddr = ([127, 0, 0, 1], 0).into();
        let listener = TcpListener::bind(bind)
            .await
            .map_err(|e| StartError::Bind(bind, e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| StartError::Bind(bind, e))?;
        let database_url = config
            .database_urls
            .get(service.name)
            .cloned()
            .unwrap_or_else(|| {
                iop_db::sqlite_file_url(&config.data_dir.join(format!("{}.db", service.name)))
            });
        let start = ServiceStart {
            listener,
            database_url,
            internal_key: internal_key.clone(),
            pool: PoolConfig::default(),
            backends: urls
                .iter()
                .filter(|u: &&iop_gateway::BackendUrl| service.needs.contains(&u.name.as_str()))
                .cloned()
                .collect(),
        };
        let serve = service.serve;
        launcher.start(service.name, move |shutdown| serve(start, shutdown));
        services.push((service.name, addr));
        urls.push(iop_gateway::BackendUrl {
            name: service.name.to_owned(),
            url: format!("http://{addr}"),
        });
    }
    let gateway_config = iop_gateway::Config {
        issuer: config.issuer,
        audience: config.audience,
        keys,
        key_file: Some(signing_key_path(&config.data_dir)),
        key_reload_every: config.key_reload_every,
        internal_key,
        trusted_issuers: config.trusted_issuers,
        database_url: config
            .gateway_database_url
            .clone()
            .unwrap_or_else(|| gateway_database_url(&config.data_dir)),
        backends: urls,
        downstream_timeout: config.downstream_timeout,
        body_limit: config.body_limit,
        cors_origins: config.cors_origins,
        public_url: config
            .public_url
            .unwrap_or_else(|| format!("http://{gateway_addr}")),
        rate_limits: config.rate_limits,
        connections: config.connections,
        audit_keys,
        audit_checkpoints: Some(audit_files.checkpoints),
    };
    launcher.start("gateway", |shutdown| async move {
        Ok(iop_gateway::serve(gateway_config, gateway_listener, shutdown).await?)
    });
    Ok(System {
        gateway_addr,
        services,
        stages: launcher.stages,
        ended,
    })
}

impl System {
    /// Where the backend service `name` listens.
    pub fn service_addr(&self, name: &str) -> Option<SocketAddr> {
        self.services
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, addr)| *addr)
    }

    /// Resolves when any service stops by itself (an error), so `iop up` can exit.
    pub async fn wait_for_failure(&mut self) -> Result<(), RunError> {
        match self.ended.recv().await {
            Some((name, result)) => {
                if let Err(e) = &result {
                    tracing::error!(service = name, error = %e, "service stopped");
                }
                result
            }
            None => Ok(()),
        }
    }

    /// Stops the services in the reverse of their start order, each only after the ones that
    /// call it are gone: the gateway stops accepting and finishes its in-flight requests
    /// while the services behind it still answer them; then the services drain and close
    /// their databases.
    pub async fn shutdown(self) -> Result<(), RunError> {
        let mut ended = self.ended;
        for stage in self.stages.iter().rev() {
            tracing::info!(service = stage.name, "stopping");
            let _ = stage.stop.send(true);
            let mut done = stage.done.clone();
            let _ = done.wait_for(|d| *d).await;
        }
        drop(self.stages);
        let mut first_error = Ok(());
        while let Some((_, result)) = ended.recv().await {
            if first_error.is_ok() {
                first_error = result;
            }
        }
        first_error
    }
}

/// Creates the data directory readable by its owner only: it holds patient data and keys.
pub use iop_auth::keys::create_private_dir;

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed by this call, not on first
/// poll, so a signal that arrives while the system is still starting is not lost.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let (mut int, mut term) = signals;
            let int = async {
                match int.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            let term = async {
                match term.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = int => {},
                _ = term => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutdown requested");
    }
}

/// Makes a file-size limit (`ulimit -f`, `RLIMIT_FSIZE`) reached by a database write an I/O
/// error that SQLite reports and the service answers with 503, instead of SIGXFSZ, whose
/// default action kills the process with every in-flight request. Call inside the runtime,
/// before any database is opened; the handler stays installed for the life of the process.
pub fn survive_file_size_limit() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Err(e) = signal(SignalKind::from_raw(libc::SIGXFSZ)) {
            tracing::warn!(error = %e, "cannot handle SIGXFSZ; a file-size limit would kill the process");
        }
    }
}

/// Reads a JSON file listing trusted issuers (`[{issuer, audience, jwks_file | jwks_uri, tenant?}]`).
pub fn read_trusted_issuers(path: &Path) -> anyhow::Result<Vec<TrustedIssuer>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read trusted issuers file {}: {e}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{} is not a list of trusted issuers: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::SERVICES;

    /// Each service starts after the services it needs, and the gateway has a service for
    /// every backend it forwards to.
    #[test]
    fn services_start_in_dependency_order_and_cover_every_backend() {
        for (i, service) in SERVICES.iter().enumerate() {
            for need in service.needs {
                assert!(
                    SERVICES[..i].iter().any(|s| s.name == *need),
                    "{} needs {need}, which does not start before it",
                    service.name
                );
            }
        }
        for backend in iop_gateway::backends::BACKENDS {
            assert!(
                SERVICES.iter().any(|s| s.name == backend.name),
                "the gateway forwards to {}, which the launcher does not start",
                backend.name
            );
        }
    }
}
