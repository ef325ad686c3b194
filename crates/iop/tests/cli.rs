//! The `iop` binary as an operator uses it: `iop up`, `iop token`, signals, `--help`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;

use support::{IOP, Running, free_port, gateway_addr, token};

#[test]
fn token_prints_only_a_jwt() {
    let dir = tempfile::tempdir().unwrap();
    let out = token(dir.path(), "demo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].split('.').count(), 3);
}

#[test]
fn token_refuses_a_malformed_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let out = token(dir.path(), "Not A Slug");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tenant"));
    assert!(out.stdout.is_empty());
}

#[test]
fn every_command_has_help() {
    for args in [
        &["--help"][..],
        &["up", "--help"],
        &["token", "--help"],
        &["serve", "records", "--help"],
        &["serve", "gateway", "--help"],
    ] {
        let out = Command::new(IOP).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage"),
            "{args:?}"
        );
    }
}

#[test]
fn up_serves_the_api_with_cli_tokens_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // A token signed before a key rotation keeps working after it.
    let old_jwt = String::from_utf8(token(&data, "demo").stdout)
        .unwrap()
        .trim()
        .to_owned();
    let rotated = Command::new(IOP)
        .args(["keys", "rotate", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    assert!(String::from_utf8_lossy(&rotated.stdout).starts_with("new signing key "));
    let mut child = Command::new(IOP)
        .args(["up", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = gateway_addr(&mut child);
    let running = Running(child);

    let out = token(&data, "demo");
    let jwt = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        let res = http
            .post(format!("{base}/v1/patients"))
            .bearer_auth(&jwt)
            .json(&serde_json::json!({
                "given_name": "Ana", "family_name": "Lopez", "birth_date": "1990-02-28", "sex_at_birth": "female"
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let res = http.get(format!("{base}/v1/patients")).send().await.unwrap();
        assert_eq!(res.status(), 401);
        let res = http.get(format!("{base}/v1/patients")).bearer_auth(&old_jwt).send().await.unwrap();
        assert_eq!(res.status(), 200, "token of the retired key still verifies");
        let jwks: serde_json::Value = http
            .get(format!("{base}/.well-known/jwks.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    });
    assert!(
        data.join("records.db").exists(),
        "data lives under --data-dir"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Patient data and keys: readable by their owner only.
        for path in [
            data.clone(),
            data.join("keys"),
            data.join("records.db"),
            data.join("gateway.db"),
            data.join("keys/audit-chain.key"),
            data.join("audit-checkpoints.jsonl"),
        ] {
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{} must be private", path.display());
        }
    }

    let mut child = running;
    let pid = child.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "iop up did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "graceful shutdown exits 0, got {status}");

    // The create (its attempt and outcome) and the list with the old token were audited;
    // the chain checks out against the checkpoints.
    let verify = || {
        Command::new(IOP)
            .args(["audit", "verify", "--data-dir"])
            .arg(&data)
            .output()
            .unwrap()
    };
    let out = verify();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.starts_with("audit trail intact: 3 events, "), "{said}");

    // Someone with write access to the database (not the keys) edits an event.
    support::runtime().block_on(async {
        use sqlx::{Connection, Executor};
        sqlx::any::install_default_drivers();
        let url = iop::gateway_database_url(&data);
        let mut db = sqlx::AnyConnection::connect(&url).await.unwrap();
        db.execute("DROP TRIGGER audit_events_no_update")
            .await
            .unwrap();
        db.execute("UPDATE audit_events SET subject = 'nobody' WHERE seq = 2")
            .await
            .unwrap();
    });
    let out = verify();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("audit trail broken at event 2"), "{said}");
}

#[test]
fn one_service_per_process_deployment_works() {
    let dir = tempfile::tempdir().unwrap();
    let (records_port, gateway_port) = (free_port(), free_port());
    let records = support::serve_records(
        &[],
        records_port,
        &dir.path().join("records.db"),
        &iop::internal_key_path(dir.path()),
    );
    let gateway = support::serve_gateway(gateway_port, records_port, dir.path(), &[]);
    let base = format!("http://127.0.0.1:{gateway_port}");
    support::runtime().block_on(async {
        let http = reqwest::Client::new();
        // Both processes up, the gateway reaching records.
        support::wait_ready(&http, &base).await;
        let jwt = support::jwt(dir.path(), "clinic-z");
        let res = http
            .post(format!("{base}/v1/patients"))
            .bearer_auth(&jwt)
            .json(&serde_json::json!({
                "given_name": "Bo", "family_name": "Chen", "birth_date": "1975-05-05", "sex_at_birth": "male"
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    });
    drop(gateway);
    drop(records);
}
