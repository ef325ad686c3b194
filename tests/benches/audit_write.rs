//! Benchmark: the audit writer alone — events per second and CPU per event at several
//! concurrencies, each caller waiting until its event is durable (as a request does).
//!
//! `cargo bench -p iop-e2e --bench audit_write`
//!
//! SQLite by default; `IOP_TEST_DATABASE_URL=postgres://…` runs it against PostgreSQL.
//! Knobs: `IOP_BENCH_SECS` (per phase, default 3). CPU is this process's user + system time
//! (on SQLite that includes the database; on PostgreSQL the server's own CPU is not counted).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use iop_core::{Principal, TenantId};
use iop_db::testing::TestDatabase;
use iop_gateway::audit::{self, AuditEvent, AuditLog, Outcome};

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bench());
}

async fn bench() {
    let secs = Duration::from_secs(
        std::env::var("IOP_BENCH_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3),
    );
    let db = TestDatabase::create("auditbench").await;
    let pool = audit::open(db.url()).await.unwrap();
    let keys = std::sync::Arc::new(audit::AuditKeys::generate().unwrap());
    let log = AuditLog::start(pool.clone(), audit::Settings::default(), keys, None);
    let who = Arc::new(Principal {
        tenant: TenantId::parse("bench").unwrap(),
        subject: "clinician-1".into(),
        client_id: Some("front-end".into()),
        issuer: "urn:iop:gateway".into(),
        roles: vec!["clinician".into()],
        scopes: vec![],
        request_id: "0192f1a4-7c1e-7b7a-9d1e-3f0c2b9a8e11".into(),
        source_addr: Some("127.0.0.1".into()),
    });
    println!(
        "\naudit writer, {} s per phase, {}",
        secs.as_secs(),
        if db.is_postgres() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
    for concurrency in [1usize, 8, 32, 128] {
        let start = Instant::now();
        let cpu0 = iop_testing::cpu_seconds();
        let deadline = start + secs;
        let tasks: Vec<_> = (0..concurrency)
            .map(|_| {
                let (log, who) = (log.clone(), who.clone());
                tokio::spawn(async move {
                    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        let mut e = AuditEvent::new(
                            &who,
                            "patient.read",
                            "Patient",
                            Outcome::Success,
                            tonic::Code::Ok,
                        );
                        e.patient_id = uuid::Uuid::now_v7().to_string();
                        e.resource_id = e.patient_id.clone();
                        let t = Instant::now();
                        log.record(vec![e]).await.unwrap();
                        hist.record(t.elapsed().as_micros().max(1) as u64).unwrap();
                        n += 1;
                    }
                    (hist, n)
                })
            })
            .collect();
        let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        let mut events = 0;
        for t in tasks {
            let (h, n) = t.await.unwrap();
            hist.add(h).unwrap();
            events += n;
        }
        let elapsed = start.elapsed().as_secs_f64();
        let cpu = iop_testing::cpu_seconds() - cpu0;
        println!(
            "{concurrency:>4} writers {:>9.0} events/s   {:>6.1} µs CPU/event   p50 {:>7.3} ms   p99 {:>7.3} ms",
            events as f64 / elapsed,
            cpu * 1e6 / events as f64,
            hist.value_at_quantile(0.5) as f64 / 1000.0,
            hist.value_at_quantile(0.99) as f64 / 1000.0,
        );
    }
    if let Some(file) = pool.sqlite_file() {
        let wal = std::fs::metadata(format!("{}-wal", file.display()))
            .map(|m| m.len())
            .unwrap_or(0);
        println!(
            "WAL file at the end: {:.1} MiB",
            wal as f64 / (1 << 20) as f64
        );
    }
    // The writer holds a connection until the last handle is gone.
    drop(log);
    pool.close().await;
}
