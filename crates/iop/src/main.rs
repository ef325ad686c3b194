//! `iop`: run the IOP platform.
//!
//! - `iop` / `iop up`: every service in one process on SQLite under `./data`.
//! - `iop token`: print an access token the gateway accepts.
//! - `iop serve <service>`: one service per process, for a real deployment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use iop_auth::keys::Grant;
use iop_auth::{InternalKey, SigningKey};
use iop_gateway::RateLimits;

#[derive(Parser)]
#[command(
    name = "iop",
    version,
    about = "Backend for Intensive Outpatient Program clinics"
)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    up: UpArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Start every service in this process (the default).
    Up(UpArgs),
    /// Print a signed access token (and nothing else) to stdout.
    Token(TokenArgs),
    /// Run a single service, for deployments with one service per process.
    #[command(subcommand)]
    Serve(ServeCommand),
    /// Manage the gateway's signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Work with the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Retire the current signing key and create a new one. Running gateways sign with it
    /// within 10 s, no restart; tokens signed by the old key stay valid until they expire.
    Rotate {
        #[arg(long, env = "IOP_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
        /// The key file, when not the one in --data-dir.
        #[arg(long, env = "IOP_SIGNING_KEY_FILE")]
        signing_key_file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the audit trail: recompute its keyed hash chain and hold it against the signed
    /// checkpoints; exits non-zero, naming the first bad event, if any event was altered,
    /// inserted or removed, or the trail was cut short.
    Verify {
        /// The gateway's database (default: the SQLite file in --data-dir).
        #[arg(long, env = "IOP_GATEWAY_DATABASE_URL")]
        database_url: Option<String>,
        #[arg(long, env = "IOP_DATA_DIR", default_value = "./data")]
        data_dir: PathBuf,
        #[command(flatten)]
        audit: AuditFileArgs,
    },
}

/// Where the audit trail's keys and checkpoints are, when not in the data directory.
#[derive(Args, Clone, Default)]
struct AuditFileArgs {
    /// The audit chain's HMAC key (created if missing; default `<data>/keys/audit-chain.key`).
    #[arg(long, env = "IOP_AUDIT_CHAIN_KEY_FILE")]
    audit_chain_key_file: Option<PathBuf>,
    /// The Ed25519 key signing audit checkpoints (default `<data>/keys/audit-checkpoint.key`).
    #[arg(long, env = "IOP_AUDIT_CHECKPOINT_KEY_FILE")]
    audit_checkpoint_key_file: Option<PathBuf>,
    /// The append-only file of signed checkpoints (default `<data>/audit-checkpoints.jsonl`).
    #[arg(long, env = "IOP_AUDIT_CHECKPOINT_FILE")]
    audit_checkpoint_file: Option<PathBuf>,
}

impl AuditFileArgs {
    /// These files, each defaulting to its place beside `defaults`.
    fn files(&self, defaults: iop_gateway::audit::AuditFiles) -> iop_gateway::audit::AuditFiles {
        iop_gateway::audit::AuditFiles {
            chain_key: self
                .audit_chain_key_file
                .clone()
                .unwrap_or(defaults.chain_key),
            checkpoint_key: self
                .audit_checkpoint_key_file
                .clone()
                .unwrap_or(defaults.checkpoint_key),
            checkpoints: self
                .audit_checkpoint_file
                .clone()
                .unwrap_or(defaults.checkpoints),
        }
    }
}

#[derive(Args, Clone)]
struct CommonArgs {
    /// Directory for databases and keys.
    #[arg(long, env = "IOP_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// `iss` of the tokens the gateway signs.
    #[arg(long, env = "IOP_ISSUER", default_value = iop::DEFAULT_ISSUER)]
    issuer: String,
    /// `aud` every access token must carry.
    #[arg(long, env = "IOP_AUDIENCE", default_value = iop::DEFAULT_AUDIENCE)]
    audience: String,
}

#[derive(Args, Clone)]
struct GatewayArgs {
    /// JSON file listing external identity providers to trust:
    /// `[{"issuer": …, "audience": …, "jwks_file" | "jwks_uri": …, "tenant": …}]`.
    #[arg(long, env = "IOP_TRUSTED_ISSUERS")]
    trusted_issuers: Option<PathBuf>,
    /// Public base URL of the gateway, e.g. `https://api.clinic.example` (default:
    /// `http://<listen address>`); client assertions must name `<url>/oauth2/token`.
    #[arg(long, env = "IOP_PUBLIC_URL")]
    public_url: Option<String>,
    /// Browser origins allowed by CORS (comma-separated; `*` for any).
    #[arg(long, env = "IOP_CORS_ORIGINS", value_delimiter = ',')]
    cors_origins: Vec<String>,
    /// Deadline of each call from the gateway to a service, in milliseconds.
    #[arg(long, env = "IOP_DOWNSTREAM_TIMEOUT_MS", default_value_t = 10_000)]
    downstream_timeout_ms: u64,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "IOP_BODY_LIMIT", default_value_t = 1024 * 1024)]
    body_limit: usize,
    /// Requests per minute per client (sustained); 0 turns rate limits off.
    #[arg(long, env = "IOP_RATE_LIMIT_PER_MINUTE", default_value_t = RateLimits::default().per_client_per_minute)]
    rate_limit_per_minute: u32,
    /// Requests per client allowed in a burst.
    #[arg(long, env = "IOP_RATE_LIMIT_BURST", default_value_t = RateLimits::default().per_client_burst)]
    rate_limit_burst: u32,
    /// Requests per minute per source address without a token known good (bad or new
    /// tokens, token requests); 0 turns this limit off.
    #[arg(long, env = "IOP_ADDRESS_RATE_LIMIT_PER_MINUTE", default_value_t = RateLimits::default().per_address_per_minute)]
    address_rate_limit_per_minute: u32,
    /// Such requests per source address allowed in a burst.
    #[arg(long, env = "IOP_ADDRESS_RATE_LIMIT_BURST", default_value_t = RateLimits::default().per_address_burst)]
    address_rate_limit_burst: u32,
    /// Time a client has to send a request's headers, in milliseconds.
    #[arg(long, env = "IOP_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000)]
    header_read_timeout_ms: u64,
    /// Time a client has to send a request's body, in milliseconds.
    #[arg(long, env = "IOP_BODY_READ_TIMEOUT_MS", default_value_t = 30_000)]
    body_read_timeout_ms: u64,
    /// A connection with no request in flight for this long is closed, in milliseconds.
    #[arg(long, env = "IOP_IDLE_TIMEOUT_MS", default_value_t = 60_000)]
    idle_timeout_ms: u64,
    /// Open client connections at most (0: three quarters of the file-descriptor limit).
    #[arg(long, env = "IOP_MAX_CONNECTIONS", default_value_t = 0)]
    max_connections: usize,
    /// On shutdown, how long in-flight requests may take before connections are closed,
    /// in milliseconds.
    #[arg(long, env = "IOP_SHUTDOWN_GRACE_MS", default_value_t = 10_000)]
    shutdown_grace_ms: u64,
    /// A request's headers together at most, in bytes (REST and gRPC).
    #[arg(long, env = "IOP_MAX_HEADER_BYTES", default_value_t = 64 * 1024)]
    max_header_bytes: usize,
    /// One header at most, in bytes; larger is 431.
    #[arg(long, env = "IOP_MAX_HEADER_VALUE_BYTES", default_value_t = 8 * 1024)]
    max_header_value_bytes: usize,
}

impl GatewayArgs {
    fn rate_limits(&self) -> RateLimits {
        // `--rate-limit-per-minute 0` has always meant "no limits": it turns both off.
        if self.rate_limit_per_minute == 0 {
            return RateLimits::off();
        }
        RateLimits {
            per_client_per_minute: self.rate_limit_per_minute,
            per_client_burst: self.rate_limit_burst,
            per_address_per_minute: self.address_rate_limit_per_minute,
            per_address_burst: self.address_rate_limit_burst,
        }
    }

    fn connections(&self) -> iop_gateway::ConnectionLimits {
        iop_gateway::ConnectionLimits {
            header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
            body_read_timeout: Duration::from_millis(self.body_read_timeout_ms),
            idle_timeout: Duration::from_millis(self.idle_timeout_ms),
            max_connections: self.max_connections,
            shutdown_grace: Duration::from_millis(self.shutdown_grace_ms),
            max_header_bytes: self.max_header_bytes,
            max_header_value_bytes: self.max_header_value_bytes,
        }
    }
}

/// What every backend service is run with.
#[derive(Args)]
struct ServiceArgs {
    /// Hex secret shared with the gateway to seal the internal principal.
    #[arg(long, env = "IOP_INTERNAL_KEY_FILE")]
    internal_key_file: PathBuf,
    #[arg(long, env = "IOP_DB_MAX_CONNECTIONS", default_value_t = 16)]
    max_connections: u32,
    /// A service this one calls, as `name=url` (scheduling calls
    /// `records=http://127.0.0.1:50051`); repeat the flag, or comma-separate in the variable.
    #[arg(long = "backend", env = "IOP_BACKENDS", value_delimiter = ',')]
    backends: Vec<iop_gateway::BackendUrl>,
}

#[derive(Args, Clone)]
struct UpArgs {
    /// Address of the gateway (REST and gRPC).
    #[arg(long, env = "IOP_GATEWAY_ADDR", default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Database of the records service (default: SQLite in the data directory).
    #[arg(long, env = "IOP_RECORDS_DATABASE_URL")]
    records_database_url: Option<String>,
    /// Database of the scheduling service (default: SQLite in the data directory).
    #[arg(long, env = "IOP_SCHEDULING_DATABASE_URL")]
    scheduling_database_url: Option<String>,
    /// Database of the group-session service (default: SQLite in the data directory).
    #[arg(long, env = "IOP_GROUPS_DATABASE_URL")]
    groups_database_url: Option<String>,
    /// Database of the gateway, i.e. the audit trail (default: SQLite in the data directory).
    #[arg(long, env = "IOP_GATEWAY_DATABASE_URL")]
    gateway_database_url: Option<String>,
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    gateway: GatewayArgs,
}

#[derive(Args)]
struct TokenArgs {
    /// Tenant (clinic) the token acts for.
    #[arg(long)]
    tenant: String,
    /// Staff role: clinician, front_desk, program_director or admin (repeatable).
    #[arg(long = "role")]
    roles: Vec<String>,
    /// SMART scope such as `user/Patient.rs` (repeatable). Default: every resource, i.e.
    /// `user/*.cruds` with a role, `system/*.cruds` without; roles still limit a user.
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// Subject (user or system id).
    #[arg(long, default_value = "iop-cli")]
    subject: String,
    /// Lifetime in seconds (at most one day).
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(i64).range(1..=86_400))]
    ttl: i64,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Subcommand)]
enum ServeCommand {
    /// The patient-record service (gRPC).
    Records {
        #[arg(long, env = "IOP_RECORDS_LISTEN", default_value = "127.0.0.1:50051")]
        listen: SocketAddr,
        /// `sqlite://file.db?mode=rwc` or `postgres://user@host/db`.
        #[arg(long, env = "IOP_RECORDS_DATABASE_URL")]
        database_url: String,
        #[command(flatten)]
        service: ServiceArgs,
    },
    /// The scheduling service (gRPC).
    Scheduling {
        #[arg(long, env = "IOP_SCHEDULING_LISTEN", default_value = "127.0.0.1:50052")]
        listen: SocketAddr,
        /// `sqlite://file.db?mode=rwc` or `postgres://user@host/db`.
        #[arg(long, env = "IOP_SCHEDULING_DATABASE_URL")]
        database_url: String,
        #[command(flatten)]
        service: ServiceArgs,
    },
    /// The group-session service (gRPC).
    Groups {
        #[arg(long, env = "IOP_GROUPS_LISTEN", default_value = "127.0.0.1:50053")]
        listen: SocketAddr,
        /// `sqlite://file.db?mode=rwc` or `postgres://user@host/db`.
        #[arg(long, env = "IOP_GROUPS_DATABASE_URL")]
        database_url: String,
        #[command(flatten)]
        service: ServiceArgs,
    },
    /// The gateway (REST + gRPC, JWT auth).
    Gateway {
        #[arg(long, env = "IOP_GATEWAY_ADDR", default_value = "0.0.0.0:8080")]
        listen: SocketAddr,
        /// A backend service as `name=url`, e.g. `records=http://127.0.0.1:50051`; one per
        /// backend (repeat the flag, or comma-separate in the variable).
        #[arg(
            long = "backend",
            env = "IOP_BACKENDS",
            value_delimiter = ',',
            required = true
        )]
        backends: Vec<iop_gateway::BackendUrl>,
        /// The gateway's database (audit trail): `sqlite://…?mode=rwc` or `postgres://…`.
        #[arg(long, env = "IOP_GATEWAY_DATABASE_URL")]
        database_url: String,
        /// The gateway's ES256 key (PKCS#8 PEM; created if missing).
        #[arg(long, env = "IOP_SIGNING_KEY_FILE")]
        signing_key_file: PathBuf,
        #[arg(long, env = "IOP_INTERNAL_KEY_FILE")]
        internal_key_file: PathBuf,
        #[arg(long, env = "IOP_ISSUER", default_value = iop::DEFAULT_ISSUER)]
        issuer: String,
        #[arg(long, env = "IOP_AUDIENCE", default_value = iop::DEFAULT_AUDIENCE)]
        audience: String,
        /// Audit keys and checkpoints; by default beside the signing key (`<keys dir>/…`,
        /// checkpoints in its parent).
        #[command(flatten)]
        audit: AuditFileArgs,
        #[command(flatten)]
        gateway: Box<GatewayArgs>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    {
        let _inside = runtime.enter();
        iop::survive_file_size_limit();
    }
    match cli.command {
        Some(Command::Token(args)) => token(args),
        Some(Command::Up(args)) => runtime.block_on(up(args)),
        None => runtime.block_on(up(cli.up)),
        Some(Command::Serve(cmd)) => runtime.block_on(serve(cmd)),
        Some(Command::Keys(KeysCommand::Rotate {
            data_dir,
            signing_key_file,
        })) => {
            use std::io::Write;
            iop::create_private_dir(&data_dir)
                .with_context(|| format!("cannot create {}", data_dir.display()))?;
            let path = signing_key_file.unwrap_or_else(|| iop::signing_key_path(&data_dir));
            let kid =
                iop_auth::keys::KeyRing::rotate(&path).context("cannot rotate the signing key")?;
            let _ = writeln!(
                std::io::stdout(),
                "new signing key {kid}; running gateways sign with it within 10 s"
            );
            Ok(())
        }
        Some(Command::Audit(AuditCommand::Verify {
            database_url,
            data_dir,
            audit,
        })) => {
            let url = database_url.unwrap_or_else(|| iop::gateway_database_url(&data_dir));
            let files = audit.files(iop_gateway::audit::AuditFiles::in_data_dir(&data_dir));
            runtime.block_on(verify_audit(&url, &files))
        }
    }
}

fn token(args: TokenArgs) -> anyhow::Result<()> {
    iop_core::TenantId::parse(&args.tenant).map_err(|_| {
        anyhow::anyhow!("--tenant must be 1-64 characters of a-z, 0-9, '-' and '_'")
    })?;
    iop::create_private_dir(&args.common.data_dir)
        .with_context(|| format!("cannot create {}", args.common.data_dir.display()))?;
    let key_path = iop::signing_key_path(&args.common.data_dir);
    let key = SigningKey::load_or_create(&key_path).with_context(|| {
        format!(
            "cannot load the signing key in {}",
            args.common.data_dir.display()
        )
    })?;
    let scopes = if args.scopes.is_empty() {
        let context = if args.roles.is_empty() {
            "system"
        } else {
            "user"
        };
        vec![format!("{context}/*.cruds")]
    } else {
        args.scopes.clone()
    };
    let token = key.mint(&Grant {
        issuer: &args.common.issuer,
        audience: &args.common.audience,
        tenant: &args.tenant,
        subject: &args.subject,
        roles: &args.roles,
        scopes: &scopes,
        client_id: None,
        ttl_secs: args.ttl,
    })?;
    use std::io::Write;
    writeln!(std::io::stdout(), "{token}").context("cannot write the token to stdout")?;
    Ok(())
}

fn gateway_options(args: &GatewayArgs) -> anyhow::Result<Vec<iop_auth::TrustedIssuer>> {
    match &args.trusted_issuers {
        Some(path) => iop::read_trusted_issuers(path),
        None => Ok(Vec::new()),
    }
}

async fn up(args: UpArgs) -> anyhow::Result<()> {
    let telemetry = iop_telemetry::init("iop")?;
    let mut config = iop::SystemConfig::new(args.common.data_dir.clone(), args.addr);
    for (service, url) in [
        ("records", &args.records_database_url),
        ("scheduling", &args.scheduling_database_url),
        ("groups", &args.groups_database_url),
    ] {
        if let Some(url) = url {
            config.database_urls.insert(service.into(), url.clone());
        }
    }
    config.gateway_database_url = args.gateway_database_url.clone();
    config.issuer = args.common.issuer.clone();
    config.audience = args.common.audience.clone();
    config.trusted_issuers = gateway_options(&args.gateway)?;
    config.cors_origins = args.gateway.cors_origins.clone();
    config.public_url = args.gateway.public_url.clone();
    config.downstream_timeout = Duration::from_millis(args.gateway.downstream_timeout_ms);
    config.body_limit = args.gateway.body_limit;
    config.rate_limits = args.gateway.rate_limits();
    config.connections = args.gateway.connections();

    let stop = iop::shutdown_signal();
    let mut system = iop::start(config).await?;
    print_banner(&system, &args);
    let outcome = tokio::select! {
        () = stop => Ok(()),
        failed = system.wait_for_failure() => failed,
    };
    let stopped = system.shutdown().await;
    telemetry.shutdown();
    outcome?;
    stopped?;
    Ok(())
}

/// Tells the operator what is listening. A closed stdout (a supervisor that stopped
/// reading) must not take the platform down, so write errors are ignored.
fn print_banner(system: &iop::System, args: &UpArgs) {
    use std::io::Write;
    let gw = system.gateway_addr;
    let data = args.common.data_dir.display();
    let _ = writeln!(
        std::io::stdout(),
        "\nIOP platform is up.\n\
         \n  gateway  http://{gw}   REST /v1/…, gRPC (server reflection lists it), /openapi.json, /healthz, /readyz\
         {services}\
         \n  data     {data}\n\
         \nGet a token for the demo clinic and make a first call:\n\
         \n  export TOKEN=$(cargo run --release -q -- token --data-dir {data} --tenant demo --role admin)\
         \n  curl -s -X POST http://{gw}/v1/patients -H \"Authorization: Bearer $TOKEN\" \\\
         \n       -H 'Content-Type: application/json' \\\
         \n       -d '{{\"given_name\":\"Ana\",\"family_name\":\"Lopez\",\"birth_date\":\"1990-02-28\",\"sex_at_birth\":\"female\"}}'\
         \n  curl -s http://{gw}/v1/patients -H \"Authorization: Bearer $TOKEN\"\n\
         \nCtrl-C stops everything.\n",
        services = system
            .services
            .iter()
            .map(|(name, addr)| format!("\n  {name:<8} http://{addr} (internal gRPC)"))
            .collect::<String>(),
    );
}

/// One backend service of `iop::SERVICES`, alone.
async fn serve_alone(
    name: &'static str,
    listen: SocketAddr,
    database_url: String,
    args: ServiceArgs,
) -> anyhow::Result<()> {
    let telemetry = iop_telemetry::init(&format!("iop-{name}"))?;
    let stop = iop::shutdown_signal();
    let internal_key = Arc::new(InternalKey::load_or_create(&args.internal_key_file)?);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot bind {listen}"))?;
    let start = iop::ServiceStart {
        listener,
        database_url,
        internal_key,
        backends: args.backends,
        pool: iop_db::PoolConfig {
            max_connections: args.max_connections,
            ..Default::default()
        },
    };
    let result = iop::serve_alone(name, start, stop).await;
    telemetry.shutdown();
    Ok(result?)
}

async fn serve(cmd: ServeCommand) -> anyhow::Result<()> {
    match cmd {
        ServeCommand::Records {
            listen,
            database_url,
            service,
        } => serve_alone("records", listen, database_url, service).await,
        ServeCommand::Scheduling {
            listen,
            database_url,
            service,
        } => serve_alone("scheduling", listen, database_url, service).await,
        ServeCommand::Groups {
            listen,
            database_url,
            service,
        } => serve_alone("groups", listen, database_url, service).await,
        ServeCommand::Gateway {
            listen,
            backends,
            database_url,
            signing_key_file,
            internal_key_file,
            issuer,
            audience,
            audit,
            gateway,
        } => {
            let telemetry = iop_telemetry::init("iop-gateway")?;
            let stop = iop::shutdown_signal();
            let connections = gateway.connections();
            let rate_limits = gateway.rate_limits();
            let keys_dir = signing_key_file
                .parent()
                .map_or_else(|| PathBuf::from("."), std::path::Path::to_path_buf);
            let audit_files = audit.files(iop_gateway::audit::AuditFiles::in_keys_dir(&keys_dir));
            let audit_keys = Arc::new(iop_gateway::audit::AuditKeys::load_or_create(&audit_files)?);
            let config = iop_gateway::Config {
                issuer,
                audience,
                keys: Arc::new(iop_auth::keys::KeyRing::load_or_create(&signing_key_file)?),
                key_file: Some(signing_key_file.clone()),
                key_reload_every: iop::KEY_RELOAD_EVERY,
                internal_key: Arc::new(InternalKey::load_or_create(&internal_key_file)?),
                trusted_issuers: gateway_options(&gateway)?,
                backends,
                database_url,
                downstream_timeout: Duration::from_millis(gateway.downstream_timeout_ms),
                body_limit: gateway.body_limit,
                cors_origins: gateway.cors_origins,
                public_url: gateway
                    .public_url
                    .unwrap_or_else(|| format!("http://{listen}")),
                rate_limits,
                connections,
                audit_keys,
                audit_checkpoints: Some(audit_files.checkpoints),
            };
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot bind {listen}"))?;
            let result = iop_gateway::serve(config, listener, stop).await;
            telemetry.shutdown();
            Ok(result?)
        }
    }
}

async fn verify_audit(url: &str, files: &iop_gateway::audit::AuditFiles) -> anyhow::Result<()> {
    use std::io::Write;
    let keys = iop_gateway::audit::AuditKeys::load(files)
        .context("cannot read the audit keys (see --audit-chain-key-file)")?;
    let db = iop_gateway::audit::open(url)
        .await
        .context("cannot open the audit database")?;
    let result = iop_gateway::audit::verify(&db, &keys, &files.checkpoints)
        .await
        .context("cannot read the audit trail")?;
    db.close().await;
    match result {
        iop_gateway::audit::Verification::Intact {
            events,
            checkpoints,
        } => {
            let s = |n: usize| if n == 1 { "" } else { "s" };
            let _ = writeln!(
                std::io::stdout(),
                "audit trail intact: {events} event{}, {checkpoints} checkpoint{}",
                s(events as usize),
                s(checkpoints)
            );
            Ok(())
        }
        iop_gateway::audit::Verification::Broken { seq, reason } => {
            anyhow::bail!("audit trail broken at event {seq}: it {reason}")
        }
    }
}
