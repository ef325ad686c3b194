//! Faults an operator meets, on the real binaries: a disk that fills up, SIGTERM under load.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

mod support;

use support::{Running, free_port};

const PATIENT: &str = r#"{"given_name":"Ana","family_name":"Lopez","birth_date":"1990-02-28","sex_at_birth":"female"}"#;

/// Creates one patient; the id when the gateway acknowledged it (201), else the status.
async fn create(http: &reqwest::Client, base: &str, jwt: &str) -> Result<String, u16> {
    let res = http
        .post(format!("{base}/v1/patients"))
        .bearer_auth(jwt)
        .header("content-type", "application/json")
        .body(PATIENT)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.unwrap();
    match status {
        201 => Ok(body["id"].as_str().unwrap().to_owned()),
        other => Err(other),
    }
}

async fn read_status(http: &reqwest::Client, base: &str, jwt: &str, id: &str) -> u16 {
    http.get(format!("{base}/v1/patients/{id}"))
        .bearer_auth(jwt)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The records database runs out of room mid-load, then room is made and the service is
/// restarted: every create that was answered 201 is still there, failures were 503 (not
/// 500), and once there is room again every create succeeds.
///
/// The full disk is a file-size limit on the records process (`prlimit --fsize`, no root
/// needed): SQLite's writes past it fail with EFBIG, an I/O error on commit, which is the
/// fault a full disk (ENOSPC, SQLITE_FULL) causes too. Raising the limit of the running
/// process is "freeing space". SQLite only: PostgreSQL's side of the same rule is iop-db's
/// `a_connection_left_inside_a_transaction_never_serves_again`.
#[test]
fn a_full_disk_loses_no_acknowledged_write() {
    if std::env::var(iop_db::testing::TEST_DATABASE_ENV).is_ok_and(|v| !v.is_empty()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (records_port, gateway_port) = (free_port(), free_port());
    let db_file = dir.path().join("records.db");
    let key = iop::internal_key_path(dir.path());
    let base = format!("http://127.0.0.1:{gateway_port}");
    let jwt = support::jwt(dir.path(), "clinic-a");
    let http = reqwest::Client::new();
    let rt = support::runtime();

    // The schema first, with room to spare.
    let mut records = support::serve_records(&[], records_port, &db_file, &key);
    let _gateway = support::serve_gateway(gateway_port, records_port, dir.path(), &[]);
    rt.block_on(support::wait_ready(&http, &base));
    assert!(records.terminate().success());

    // Then ~100 KiB of room: a few dozen creates fill it.
    let limit = std::fs::metadata(&db_file).unwrap().len() + 100 * 1024;
    let prlimit = vec![
        "prlimit".to_owned(),
        format!("--fsize={limit}:unlimited"),
        "--".to_owned(),
    ];
    let mut records = support::serve_records(&prlimit, records_port, &db_file, &key);
    let mut acknowledged = Vec::new();
    rt.block_on(async {
        support::wait_ready(&http, &base).await;
        let mut refused = Vec::new();
        for _ in 0..150 {
            match create(&http, &base, &jwt).await {
                Ok(id) => acknowledged.push(id),
                Err(status) => refused.push(status),
            }
        }
        assert!(!refused.is_empty(), "the disk never filled up");
        assert!(
            refused.iter().all(|s| *s == 503),
            "a full disk is 503: {refused:?}"
        );
    });

    // Room again.
    let raised = Command::new("prlimit")
        .args([
            "--pid",
            &records.pid().to_string(),
            "--fsize=unlimited:unlimited",
        ])
        .status()
        .unwrap();
    assert!(raised.success());
    rt.block_on(async {
        for _ in 0..40 {
            let created = create(&http, &base, &jwt).await;
            assert!(
                created.is_ok(),
                "with room again every create succeeds: {created:?}"
            );
            acknowledged.push(created.unwrap());
        }
        for id in &acknowledged {
            for _ in 0..2 {
                assert_eq!(read_status(&http, &base, &jwt, id).await, 200, "{id}");
            }
        }
    });

    // What was acknowledged survives a restart.
    assert!(records.terminate().success());
    drop(records);
    let _records: Running = support::serve_records(&[], records_port, &db_file, &key);
    rt.block_on(async {
        support::wait_ready(&http, &base).await;
        for id in &acknowledged {
            assert_eq!(read_status(&http, &base, &jwt, id).await, 200, "{id} lost");
        }
    });
}

/// SIGTERM while clients keep calling: the gateway stops taking connections and finishes what
/// it has while the services behind it still answer; no request is answered 503 (or any 5xx).
/// A client may see its connection refused or closed once the gateway stopped accepting.
#[test]
fn sigterm_under_load_answers_no_request_with_503() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let jwt = support::jwt(&data, "clinic-a");
    let (mut iop, base) = support::up(&data, &[]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..16)
        .map(|i| {
            let (base, jwt, stop) = (base.clone(), jwt.clone(), stop.clone());
            rt.spawn(async move {
                let http = reqwest::Client::new();
                let mut statuses = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let req = if i % 2 == 0 {
                        http.post(format!("{base}/v1/patients"))
                            .header("content-type", "application/json")
                            .body(PATIENT)
                    } else {
                        http.get(format!("{base}/v1/patients?page_size=5"))
                    };
                    match req.bearer_auth(&jwt).send().await {
                        Ok(res) => statuses.push(res.status().as_u16()),
                        // Refused or closed: the gateway is no longer accepting.
                        Err(_) => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
                    }
                }
                statuses
            })
        })
        .collect();
    rt.block_on(async {
        let http = reqwest::Client::new();
        support::wait_ready(&http, &base).await;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    });
    let exit = iop.terminate();
    stop.store(true, Ordering::Relaxed);
    let statuses: Vec<u16> = rt.block_on(async {
        let mut all = Vec::new();
        for c in clients {
            all.extend(c.await.unwrap());
        }
        all
    });
    assert!(exit.success(), "graceful shutdown exits 0, got {exit}");
    let ok = statuses.iter().filter(|s| (200..300).contains(*s)).count();
    let failed: Vec<_> = statuses.iter().filter(|s| **s >= 500).collect();
    assert!(ok > 0, "the load ran");
    assert!(
        failed.is_empty(),
        "{} of {} answered 5xx: {failed:?}",
        failed.len(),
        statuses.len()
    );
}

/// A records service that is alive but frozen (SIGSTOP): calls through the gateway end at the
/// deadline with 504 naming the service, never 499 or 429; readiness says so; when the
/// service thaws, calls succeed again.
#[test]
fn a_frozen_service_is_a_timeout_not_a_cancellation() {
    let dir = tempfile::tempdir().unwrap();
    let (records_port, gateway_port) = (free_port(), free_port());
    let key = iop::internal_key_path(dir.path());
    let records = support::serve_records(&[], records_port, &dir.path().join("records.db"), &key);
    let _gateway = support::serve_gateway(
        gateway_port,
        records_port,
        dir.path(),
        &["--downstream-timeout-ms", "400"],
    );
    let base = format!("http://127.0.0.1:{gateway_port}");
    let jwt = support::jwt(dir.path(), "clinic-a");
    let http = reqwest::Client::new();
    let rt = support::runtime();
    rt.block_on(async {
        support::wait_ready(&http, &base).await;
        assert!(create(&http, &base, &jwt).await.is_ok());
    });
    let signal = |sig: &str| {
        let pid = records.pid().to_string();
        assert!(
            Command::new("kill")
                .args([sig, &pid])
                .status()
                .unwrap()
                .success()
        );
    };
    signal("-STOP");
    rt.block_on(async {
        // Concurrent calls, so the client library sees many streams time out at once.
        let calls = (0..24).map(|i| {
            let (http, base, jwt) = (&http, &base, &jwt);
            async move {
                let req = if i % 2 == 0 {
                    http.post(format!("{base}/v1/patients"))
                        .header("content-type", "application/json")
                        .body(PATIENT)
                } else {
                    http.get(format!("{base}/v1/patients"))
                };
                let started = std::time::Instant::now();
                let res = req.bearer_auth(jwt).send().await.unwrap();
                let status = res.status().as_u16();
                let body: serde_json::Value = res.json().await.unwrap();
                (status, body, started.elapsed())
            }
        });
        for (status, body, took) in futures::future::join_all(calls).await {
            assert!(status == 504 || status == 503, "{status} {body}");
            assert!(
                body["detail"].as_str().unwrap().contains("records service"),
                "{body}"
            );
            assert!(took < std::time::Duration::from_secs(5), "{took:?}");
        }
        let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), 503);
    });
    signal("-CONT");
    rt.block_on(async {
        support::wait_ready(&http, &base).await;
        assert!(create(&http, &base, &jwt).await.is_ok());
    });
}

/// `kill -9` while clients create patients: some creates were committed but never answered.
/// After a restart, every stored patient is accounted for in the audit trail — by its
/// `success` event, or by an attempt that the restarted gateway closed as `interrupted` —
/// and the trail's chain is intact.
#[test]
fn kill_9_under_load_leaves_no_change_unaudited() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let jwt = support::jwt(&data, "clinic-a");
    // A short deadline: open attempts are closed six deadlines after they were made.
    let timeout = ["--downstream-timeout-ms", "200"];
    let (mut iop, base) = support::up(&data, &timeout);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (base, jwt, stop) = (base.clone(), jwt.clone(), stop.clone());
            rt.spawn(async move {
                let http = reqwest::Client::new();
                while !stop.load(Ordering::Relaxed) {
                    // Refused or cut off once the process is gone.
                    let sent = http
                        .post(format!("{base}/v1/patients"))
                        .bearer_auth(&jwt)
                        .header("content-type", "application/json")
                        .body(PATIENT)
                        .send()
                        .await;
                    if sent.is_err() {
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    }
                }
            })
        })
        .collect();
    rt.block_on(async {
        support::wait_ready(&reqwest::Client::new(), &base).await;
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    });
    iop.0.kill().unwrap();
    iop.0.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    rt.block_on(async {
        for c in clients {
            c.await.unwrap();
        }
    });
    drop(iop);

    let (_iop, base) = support::up(&data, &timeout);
    let sqlite = |file: &str| iop_db::sqlite_file_url(&data.join(file));
    rt.block_on(async {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        support::wait_ready(&reqwest::Client::new(), &base).await;
        let mut gateway = sqlx::AnyConnection::connect(&sqlite("gateway.db")).await.unwrap();
        let mut records = sqlx::AnyConnection::connect(&sqlite("records.db")).await.unwrap();
        let count = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql);
        // Wait (bounded) until no attempt is left open.
        for _ in 0..200 {
            let open = count("SELECT COUNT(*) FROM audit_open_attempts")
                .fetch_one(&mut gateway)
                .await
                .unwrap();
            if open == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let stored: Vec<String> = sqlx::query_scalar("SELECT id FROM patients")
            .fetch_all(&mut records)
            .await
            .unwrap();
        let succeeded: Vec<String> = sqlx::query_scalar(
            "SELECT resource_id FROM audit_events WHERE action = 'patient.create' AND outcome = 'success'",
        )
        .fetch_all(&mut gateway)
        .await
        .unwrap();
        let interrupted = count(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'patient.create' AND outcome = 'interrupted'",
        )
        .fetch_one(&mut gateway)
        .await
        .unwrap();
        let open = count("SELECT COUNT(*) FROM audit_open_attempts")
            .fetch_one(&mut gateway)
            .await
            .unwrap();
        assert_eq!(open, 0, "every attempt has an outcome");
        assert!(stored.len() > 10, "the load ran: {} patients", stored.len());
        let unaccounted = stored.iter().filter(|id| !succeeded.contains(id)).count();
        assert!(
            unaccounted as i64 <= interrupted,
            "{unaccounted} stored patients without a success event, {interrupted} interrupted attempts"
        );
    });
    drop(_iop);
    let verified = Command::new(support::IOP)
        .args(["audit", "verify", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
}
