//! Benchmark: authenticated `GET /v1/patients/{id}` through the gateway versus the same read
//! through the same gateway with authentication and audit off (built with the `iop-gateway`
//! feature `bench-baseline`), through a bare REST → gRPC proxy, and made directly against
//! the records service, in one run on one machine.
//!
//! `cargo bench -p iop-e2e --bench gateway_read`
//!
//! Knobs: `IOP_BENCH_SECS` (per phase, default 5), `IOP_BENCH_CONCURRENCY` (default 32),
//! `IOP_BENCH_RATE` (open loop, default 5000/s), `IOP_BENCH_ROUNDS` (on/off rounds, default 8).
//! The load generator shares the machine (and the tokio runtime) with the servers, so the
//! figures are a floor for what a dedicated gateway host would do.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use iop_proto::records::GetPatientRequest;
use iop_proto::records::patient_service_client::PatientServiceClient;
use iop_testing::{TestSystem, with_bearer};
use serde_json::json;

struct Stats {
    requests: u64,
    errors: u64,
    elapsed: Duration,
    hist: Histogram<u64>,
}

impl Stats {
    fn print(&self, name: &str) {
        let q = |p: f64| self.hist.value_at_quantile(p) as f64 / 1000.0;
        println!(
            "{name:<34} {:>9.0} req/s   p50 {:>6.3} ms   p99 {:>6.3} ms   errors {}",
            self.requests as f64 / self.elapsed.as_secs_f64(),
            q(0.50),
            q(0.99),
            self.errors
        );
    }
}

/// Closed loop: `concurrency` workers call `op` back to back for `secs`.
async fn run<F, Fut>(concurrency: usize, secs: Duration, op: F) -> Stats
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let op = Arc::new(op);
    let start = Instant::now();
    let deadline = start + secs;
    let workers: Vec<_> = (0..concurrency)
        .map(|w| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
                let (mut n, mut errors) = (0u64, 0u64);
                let mut i = w;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let ok = op(i).await;
                    hist.record(t.elapsed().as_micros() as u64).unwrap();
                    n += 1;
                    errors += u64::from(!ok);
                    i += concurrency;
                }
                (hist, n, errors)
            })
        })
        .collect();
    let mut stats = Stats {
        requests: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        hist: Histogram::new_with_bounds(1, 60_000_000, 3).unwrap(),
    };
    for w in workers {
        let (h, n, e) = w.await.unwrap();
        stats.hist.add(h).unwrap();
        stats.requests += n;
        stats.errors += e;
    }
    stats.elapsed = start.elapsed();
    stats
}

/// Open loop: starts `rate` calls per second for `secs`, whatever the latency, so a slow
/// answer does not slow the offered load (closed loops hide queueing that way).
async fn run_open<F, Fut>(rate: u64, secs: Duration, op: F) -> Stats
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    let mut stats = Stats {
        requests: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        hist: Histogram::new_with_bounds(1, 60_000_000, 3).unwrap(),
    };
    let record = |done: Result<(u64, bool), tokio::task::JoinError>, stats: &mut Stats| {
        let (micros, ok) = done.unwrap();
        stats.hist.record(micros.max(1)).unwrap();
        stats.requests += 1;
        stats.errors += u64::from(!ok);
    };
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    let start = Instant::now();
    let mut calls = tokio::task::JoinSet::new();
    let mut i = 0;
    while start.elapsed() < secs {
        tick.tick().await;
        while let Some(done) = calls.try_join_next() {
            record(done, &mut stats);
        }
        // More in flight than this means the server is not keeping up; not sending the rest
        // (counted as errors) keeps the load generator within its file descriptors.
        if calls.len() >= MAX_IN_FLIGHT {
            stats.errors += 1;
            continue;
        }
        let fut = op(i);
        calls.spawn(async move {
            let t = Instant::now();
            let ok = fut.await;
            (t.elapsed().as_micros() as u64, ok)
        });
        i += 1;
    }
    while let Some(done) = calls.join_next().await {
        record(done, &mut stats);
    }
    stats.elapsed = start.elapsed();
    stats
}

/// Open-loop calls in flight at most; beyond, calls are not sent and count as errors.
const MAX_IN_FLIGHT: usize = 512;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bench());
}

async fn bench() {
    let secs = Duration::from_secs(env_or("IOP_BENCH_SECS", 5));
    let concurrency = env_or("IOP_BENCH_CONCURRENCY", 32) as usize;
    // One token hammers the gateway: the per-client rate limit would measure itself.
    let sys = TestSystem::start_with(|c| c.rate_limits = iop_gateway::RateLimits::off()).await;
    let token = sys.token("bench", &["clinician"]);

    let mut ids = Vec::new();
    for i in 0..200 {
        let res = sys
            .http
            .post(sys.url("/v1/patients"))
            .bearer_auth(&token)
            .json(&json!({
                "given_name": format!("Pat{i}"), "family_name": "Bench", "birth_date": "1980-01-01",
                "sex_at_birth": "unknown", "contact": { "email": format!("p{i}@example.org") },
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        ids.push(
            res.json::<serde_json::Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let ids = Arc::new(ids);

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let rest = get_patient(&http, &ids, sys.base_url.clone(), Some(token.clone()));
    let gw_grpc = {
        let client = PatientServiceClient::new(sys.grpc_channel().await);
        let (ids, token) = (ids.clone(), token.clone());
        move |i: usize| {
            let mut c = client.clone();
            let req = with_bearer(
                GetPatientRequest {
                    id: ids[i % ids.len()].clone(),
                },
                &token,
            );
            async move { c.get_patient(req).await.is_ok() }
        }
    };
    let direct = {
        let channel = tonic::transport::Endpoint::from_shared(format!(
            "http://{}",
            sys.service_addr("records")
        ))
        .unwrap()
        .connect()
        .await
        .unwrap();
        let client = PatientServiceClient::new(channel);
        let key = iop_auth::InternalKey::load_or_create(&iop::internal_key_path(
            &sys.data_dir.path().join("data"),
        ))
        .unwrap();
        let sealed: tonic::metadata::MetadataValue<_> = key
            .seal(&iop_core::Principal {
                tenant: iop_core::TenantId::parse("bench").unwrap(),
                subject: "test-user".into(),
                client_id: None,
                issuer: iop::DEFAULT_ISSUER.into(),
                roles: vec!["clinician".into()],
                scopes: vec![],
                request_id: "bench".into(),
                source_addr: None,
            })
            .parse()
            .unwrap();
        let ids = ids.clone();
        move |i: usize| {
            let mut c = client.clone();
            let mut req = tonic::Request::new(GetPatientRequest {
                id: ids[i % ids.len()].clone(),
            });
            req.metadata_mut()
                .insert(iop_auth::PRINCIPAL_HEADER, sealed.clone());
            async move { c.get_patient(req).await.is_ok() }
        }
    };

    // The same gateway with authentication and the audit trail left out (feature
    // `bench-baseline`): the gap to it is what those two cost.
    let off_base = gateway_without_auth_and_audit(&sys).await;
    let off_op = get_patient(&http, &ids, off_base, None);
    // The same REST read through a bare proxy: no JWT check, no audit, no rate limit, no
    // request-id middleware, no policy, only this one route. The gap to it is what the whole
    // gateway costs.
    let bare_base = bare_proxy(
        sys.service_addr("records"),
        &sys.data_dir.path().join("data"),
    )
    .await;
    let bare_op = get_patient(&http, &ids, bare_base, None);

    println!(
        "\nGET patient by id, {} s per phase, SQLite, 2-core machine shared with the load generator",
        secs.as_secs()
    );
    // Warm-up: connections, caches, SQLite pages.
    let _ = run(concurrency, Duration::from_secs(1), rest.clone()).await;
    let _ = run(concurrency, Duration::from_secs(1), direct.clone()).await;

    println!("\nthroughput, {concurrency} concurrent clients:");
    let rest_load = run(concurrency, secs, rest.clone()).await;
    rest_load.print("gateway REST GET /v1/patients/{id}");
    let grpc_load = run(concurrency, secs, gw_grpc.clone()).await;
    grpc_load.print("gateway gRPC GetPatient");
    let direct_load = run(concurrency, secs, direct.clone()).await;
    direct_load.print("records gRPC GetPatient (direct)");
    let off_load = run(concurrency, secs, off_op.clone()).await;
    off_load.print("gateway REST, auth + audit off");
    let bare_load = run(concurrency, secs, bare_op.clone()).await;
    bare_load.print("bare proxy REST (no auth, no audit)");

    println!("\nlatency, 1 client:");
    let rest_one = run(1, secs, rest.clone()).await;
    rest_one.print("gateway REST GET /v1/patients/{id}");
    let grpc_one = run(1, secs, gw_grpc).await;
    grpc_one.print("gateway gRPC GetPatient");
    let direct_one = run(1, secs, direct).await;
    direct_one.print("records gRPC GetPatient (direct)");
    let off_one = run(1, secs, off_op.clone()).await;
    off_one.print("gateway REST, auth + audit off");
    let bare_one = run(1, secs, bare_op.clone()).await;
    bare_one.print("bare proxy REST (no auth, no audit)");

    let added = |a: &Stats, b: &Stats| {
        (a.hist.value_at_quantile(0.5) as f64 - b.hist.value_at_quantile(0.5) as f64) / 1000.0
    };
    println!(
        "\ngateway adds at p50 (1 client): REST {:.3} ms, gRPC {:.3} ms",
        added(&rest_one, &direct_one),
        added(&grpc_one, &direct_one)
    );
    let rate = env_or("IOP_BENCH_RATE", 5000);
    println!("\nopen loop, {rate} requests/s offered:");
    let rest_open = run_open(rate, secs, rest.clone()).await;
    rest_open.print("gateway REST GET /v1/patients/{id}");
    let bare_open = run_open(rate, secs, bare_op.clone()).await;
    bare_open.print("bare proxy REST (no auth, no audit)");

    // On vs off in alternating short rounds: neighbours on a shared machine come and go,
    // and long phases one after the other would measure them as much as the gateway.
    let rounds = env_or("IOP_BENCH_ROUNDS", 8);
    let round = Duration::from_secs(2);
    // CPU per request (whole process: load generator, gateway, records, SQLite) is steadier
    // than requests/s when neighbours take cores away.
    let (mut on, mut off, mut bare) = (Phase::default(), Phase::default(), Phase::default());
    for _ in 0..rounds {
        on.round(run_timed(concurrency, round, rest.clone()).await);
        off.round(run_timed(concurrency, round, off_op.clone()).await);
        bare.round(run_timed(concurrency, round, bare_op.clone()).await);
    }
    println!(
        "\n{rounds} alternating rounds of {} s, {concurrency} clients:",
        round.as_secs()
    );
    println!(
        "auth + audit on vs off: {:.0} vs {:.0} req/s = {:.2} (rounds {}); adds {:.3} ms at p50 (1 client)",
        on.rps(),
        off.rps(),
        on.rps() / off.rps(),
        on.ratios(&off),
        added(&rest_one, &off_one)
    );
    println!(
        "gateway vs bare proxy: on {:.2}, off {:.2} of the bare proxy's {:.0} req/s",
        on.rps() / bare.rps(),
        off.rps() / bare.rps(),
        bare.rps()
    );
    println!(
        "CPU per request (whole process): on {:.0} µs, off {:.0} µs, bare proxy {:.0} µs",
        on.cpu_us(),
        off.cpu_us(),
        bare.cpu_us()
    );
    sys.stop().await;
}

type Pending = std::pin::Pin<Box<dyn Future<Output = bool> + Send>>;

/// `GET {base}/v1/patients/{id}` for the `i`-th id, with a bearer token when given: true on
/// a 200 with its body read.
fn get_patient(
    http: &reqwest::Client,
    ids: &Arc<Vec<String>>,
    base: String,
    token: Option<String>,
) -> impl Fn(usize) -> Pending + Clone + Send + Sync + 'static {
    let (http, ids) = (http.clone(), ids.clone());
    move |i| {
        let mut req = http.get(format!("{base}/v1/patients/{}", ids[i % ids.len()]));
        if let Some(token) = &token {
            req = req.bearer_auth(token);
        }
        Box::pin(async move {
            match req.send().await {
                Ok(r) => r.status() == 200 && r.bytes().await.is_ok(),
                Err(_) => false,
            }
        })
    }
}

/// [`run`], with the process CPU time it took.
async fn run_timed<F, Fut>(concurrency: usize, secs: Duration, op: F) -> (Stats, f64)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let t = iop_testing::cpu_seconds();
    let stats = run(concurrency, secs, op).await;
    (stats, iop_testing::cpu_seconds() - t)
}

/// One side of the alternating comparison, summed over its rounds.
#[derive(Default)]
struct Phase {
    requests: u64,
    seconds: f64,
    cpu: f64,
    each: Vec<f64>,
}

impl Phase {
    fn round(&mut self, (s, cpu): (Stats, f64)) {
        self.cpu += cpu;
        self.requests += s.requests;
        self.seconds += s.elapsed.as_secs_f64();
        self.each.push(s.requests as f64 / s.elapsed.as_secs_f64());
    }

    fn rps(&self) -> f64 {
        self.requests as f64 / self.seconds.max(f64::EPSILON)
    }

    fn cpu_us(&self) -> f64 {
        self.cpu * 1e6 / self.requests.max(1) as f64
    }

    /// The lowest and highest ratio of a round to `other`'s round next to it.
    fn ratios(&self, other: &Phase) -> String {
        let mut r: Vec<f64> = self
            .each
            .iter()
            .zip(&other.each)
            .map(|(a, b)| a / b)
            .collect();
        r.sort_by(f64::total_cmp);
        match (r.first(), r.last()) {
            (Some(lo), Some(hi)) => format!("{lo:.2}–{hi:.2}"),
            _ => "none".into(),
        }
    }
}

/// The gateway as the system runs it, on the same records service and keys, but built with
/// `app_without_auth_and_audit`: no token verification, no rate limit, no audit trail.
async fn gateway_without_auth_and_audit(sys: &TestSystem) -> String {
    let data = sys.data_dir.path().join("data");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = iop_gateway::Config {
        issuer: iop::DEFAULT_ISSUER.into(),
        audience: iop::DEFAULT_AUDIENCE.into(),
        keys: Arc::new(
            iop_auth::keys::KeyRing::load_or_create(&iop::signing_key_path(&data)).unwrap(),
        ),
        key_file: None,
        key_reload_every: iop::KEY_RELOAD_EVERY,
        internal_key: Arc::new(
            iop_auth::InternalKey::load_or_create(&iop::internal_key_path(&data)).unwrap(),
        ),
        trusted_issuers: Vec::new(),
        database_url: iop_db::sqlite_file_url(&sys.data_dir.path().join("baseline-gateway.db")),
        backends: iop::SERVICES
            .iter()
            .map(|s| iop_gateway::BackendUrl {
                name: s.name.into(),
                url: format!("http://{}", sys.service_addr(s.name)),
            })
            .collect(),
        downstream_timeout: Duration::from_secs(10),
        public_url: format!("http://{addr}"),
        body_limit: 1024 * 1024,
        cors_origins: Vec::new(),
        rate_limits: iop_gateway::RateLimits::off(),
        connections: iop_gateway::ConnectionLimits::default(),
        audit_keys: Arc::new(iop_gateway::audit::AuditKeys::generate().unwrap()),
        audit_checkpoints: None,
    };
    let who = iop_core::Principal {
        tenant: iop_core::TenantId::parse("bench").unwrap(),
        subject: "test-user".into(),
        client_id: None,
        issuer: iop::DEFAULT_ISSUER.into(),
        roles: vec!["clinician".into()],
        scopes: vec!["user/Patient.cruds".into()],
        request_id: String::new(),
        source_addr: None,
    };
    let app = iop_gateway::app_without_auth_and_audit(config, who)
        .await
        .unwrap();
    tokio::spawn(iop_gateway::serve_app(
        app,
        listener,
        std::future::pending(),
    ));
    format!("http://{addr}")
}

/// A minimal REST → gRPC forwarder for one read, with a fixed principal: the gateway's job
/// without its security layers, for comparison only.
async fn bare_proxy(records: std::net::SocketAddr, data_dir: &std::path::Path) -> String {
    use axum::extract::Path;
    let key = iop_auth::InternalKey::load_or_create(&iop::internal_key_path(data_dir)).unwrap();
    let sealed = key.seal(&iop_core::Principal {
        tenant: iop_core::TenantId::parse("bench").unwrap(),
        subject: "test-user".into(),
        client_id: None,
        issuer: iop::DEFAULT_ISSUER.into(),
        roles: vec!["clinician".into()],
        scopes: vec![],
        request_id: "bench".into(),
        source_addr: None,
    });
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{records}"))
        .unwrap()
        .connect_lazy();
    let client = PatientServiceClient::new(channel);
    let app = axum::Router::new().route(
        "/v1/patients/{id}",
        axum::routing::get(move |Path(id): Path<String>| {
            let (mut client, sealed) = (client.clone(), sealed.clone());
            async move {
                let mut req = tonic::Request::new(GetPatientRequest { id });
                req.metadata_mut().insert(iop_auth::PRINCIPAL_HEADER, sealed.parse().unwrap());
                let p = client.get_patient(req).await.unwrap().into_inner();
                axum::Json(json!({
                    "id": p.id, "given_name": p.given_name, "middle_name": p.middle_name,
                    "family_name": p.family_name, "preferred_name": p.preferred_name,
                    "birth_date": p.birth_date.map(|d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)),
                    "sex_at_birth": p.sex_at_birth, "gender_identity": p.gender_identity, "pronouns": p.pronouns,
                    "contact": p.contact.map(|c| json!({ "phone": c.phone, "email": c.email })),
                    "mrn": p.mrn, "version": p.version, "etag": p.etag,
                }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}
