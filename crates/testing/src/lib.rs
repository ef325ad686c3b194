//! The whole system for a test: every service and the gateway on port 0, a fresh database
//! each (SQLite, or PostgreSQL when `IOP_TEST_DATABASE_URL` is set), keys in a temporary directory, and
//! helpers to mint good and deliberately bad tokens.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use iop_auth::SigningKey;
use iop_db::testing::TestDatabase;
use serde_json::{Value, json};

pub use iop_db::testing::TEST_DATABASE_ENV;

pub struct TestSystem {
    system: Option<iop::System>,
    /// `http://127.0.0.1:port` of the gateway.
    pub base_url: String,
    pub http: reqwest::Client,
    /// The gateway's signing key, to mint tokens.
    pub key: SigningKey,
    pub issuer: String,
    pub audience: String,
    pub data_dir: tempfile::TempDir,
    /// Each service's database, by service name.
    databases: Vec<(&'static str, TestDatabase)>,
    /// The gateway's database (audit trail).
    pub gateway_db: TestDatabase,
}

impl TestSystem {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts with a config adjusted by `tweak` (trusted issuers, CORS, limits…).
    pub async fn start_with(tweak: impl FnOnce(&mut iop::SystemConfig)) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let mut databases = Vec::new();
        let mut config =
            iop::SystemConfig::new(data_dir.path().join("data"), ([127, 0, 0, 1], 0).into());
        for service in iop::SERVICES {
            let db = TestDatabase::create(service.name).await;
            config
                .database_urls
                .insert(service.name.to_owned(), db.url().to_owned());
            databases.push((service.name, db));
        }
        let gateway_db = TestDatabase::create("gateway").await;
        config.gateway_database_url = Some(gateway_db.url().to_owned());
        tweak(&mut config);
        let (issuer, audience) = (config.issuer.clone(), config.audience.clone());
        let system = iop::start(config).await.expect("system starts");
        let key = SigningKey::load_or_create(&iop::signing_key_path(&data_dir.path().join("data")))
            .unwrap();
        let base_url = format!("http://{}", system.gateway_addr);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let sys = Self {
            system: Some(system),
            base_url,
            http,
            key,
            issuer,
            audience,
            data_dir,
            databases,
            gateway_db,
        };
        sys.wait_ready().await;
        sys
    }

    /// Polls `/readyz` until the gateway and the services answer (bounded).
    async fn wait_ready(&self) {
        for _ in 0..500 {
            if let Ok(res) = self.http.get(self.url("/readyz")).send().await
                && res.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("system did not become ready");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The database of the service `name`, for tests that lock it or look inside.
    pub fn database_url(&self, name: &str) -> &str {
        self.databases
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, db)| db.url())
            .unwrap_or_else(|| panic!("no service {name}"))
    }

    /// Where the service `name` listens.
    pub fn service_addr(&self, name: &str) -> std::net::SocketAddr {
        let system = self.system.as_ref().unwrap();
        system
            .service_addr(name)
            .unwrap_or_else(|| panic!("no service {name}"))
    }

    /// A valid token for `tenant` with `roles`.
    pub fn token(&self, tenant: &str, roles: &[&str]) -> String {
        self.sign(self.claims(tenant, roles))
    }

    /// Claims of a valid token, to alter for negative tests.
    pub fn claims(&self, tenant: &str, roles: &[&str]) -> Value {
        let now = unix_now();
        json!({
            "iss": self.issuer,
            "sub": "test-user",
            "aud": self.audience,
            "exp": now + 300,
            "nbf": now,
            "iat": now,
            "jti": uuid::Uuid::new_v4().to_string(),
            "tenant": tenant,
            "roles": roles,
            "scope": "user/Patient.cruds",
        })
    }

    pub fn sign(&self, claims: Value) -> String {
        self.key.sign(&claims).unwrap()
    }

    /// A gRPC channel to the gateway.
    pub async fn grpc_channel(&self) -> tonic::transport::Channel {
        tonic::transport::Endpoint::from_shared(self.base_url.clone())
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// Stops every service gracefully and checks they stopped without error.
    pub async fn stop(mut self) {
        self.shut_down().await;
    }

    /// Stops the services but keeps their databases and data directory, for tests that look
    /// at what was left behind.
    pub async fn shut_down(&mut self) {
        if let Some(system) = self.system.take() {
            system.shutdown().await.expect("clean shutdown");
        }
    }

    /// The data directory the system runs on (keys, checkpoints, SQLite files).
    pub fn data_path(&self) -> std::path::PathBuf {
        self.data_dir.path().join("data")
    }
}

pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Adds a bearer token to a gRPC request.
pub fn with_bearer<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    req
}

/// User + system CPU time of this process so far, in seconds (Linux, 100 ticks a second;
/// NaN elsewhere). Benchmarks divide it by requests: steadier than requests/s on a shared
/// machine.
pub fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (ticks(11) + ticks(12)) / 100.0
}
