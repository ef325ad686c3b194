//! Running the `iop` binary from tests: tokens, child processes that die with the test,
//! free ports, readiness.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const IOP: &str = env!("CARGO_BIN_EXE_iop");

/// `iop token` for an admin of `tenant` with the patient scope.
pub fn token(data_dir: &Path, tenant: &str) -> std::process::Output {
    Command::new(IOP)
        .args(["token", "--data-dir"])
        .arg(data_dir)
        .args([
            "--tenant",
            tenant,
            "--role",
            "admin",
            "--scope",
            "user/Patient.cruds",
        ])
        .output()
        .unwrap()
}

/// The token of [`token`] as text.
pub fn jwt(data_dir: &Path, tenant: &str) -> String {
    let out = token(data_dir, tenant);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A child process killed when the test ends, however it ends.
pub struct Running(pub Child);

impl Running {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Sends SIGTERM and waits (bounded) for the process to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.0.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "process {pid} did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `iop serve records` on `port` with a SQLite file, optionally behind a command prefix
/// (e.g. `prlimit --fsize=…`).
pub fn serve_records(prefix: &[String], port: u16, db_file: &Path, internal_key: &Path) -> Running {
    serve_service("records", prefix, port, db_file, internal_key, &[])
}

/// `iop serve <name>` on `port` (under the `prefix` command, e.g. `prlimit …`), its SQLite
/// database in `db_file`; returns once it has created the internal key (or found it).
pub fn serve_service(
    name: &str,
    prefix: &[String],
    port: u16,
    db_file: &Path,
    internal_key: &Path,
    backends: &[String],
) -> Running {
    let (program, args) = match prefix.split_first() {
        Some((p, rest)) => (p.as_str(), rest.to_vec()),
        None => (IOP, Vec::new()),
    };
    let mut cmd = Command::new(program);
    cmd.args(args);
    if !prefix.is_empty() {
        cmd.arg(IOP);
    }
    let running = Running(
        cmd.args(["serve", name, "--listen", &format!("127.0.0.1:{port}")])
            .arg("--database-url")
            .arg(format!("sqlite://{}?mode=rwc", db_file.display()))
            .arg("--internal-key-file")
            .arg(internal_key)
            .args(backends.iter().flat_map(|b| ["--backend", b.as_str()]))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}")),
    );
    // The key is created on first start; a gateway started before would make its own.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !internal_key.exists() {
        assert!(
            Instant::now() < deadline,
            "{name} never created its internal key"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    running
}

/// `iop serve gateway` on `port`, in front of the records service on `records_port`, with
/// its keys and database in `dir`; no rate limits (tests make many calls quickly).
/// The gateway and the backends a test does not run itself: everything but records (at
/// `records_port`, the test's own), each `iop serve <name>` beside it.
pub struct Gateway {
    _gateway: Running,
    _others: Vec<Running>,
}

pub fn serve_gateway(port: u16, records_port: u16, dir: &Path, extra: &[&str]) -> Gateway {
    let mut backends = vec![format!("records=http://127.0.0.1:{records_port}")];
    let mut others = Vec::new();
    for service in iop::SERVICES.iter().filter(|s| s.name != "records") {
        let p = free_port();
        let db = dir.join(format!("{}.db", service.name));
        others.push(serve_service(
            service.name,
            &[],
            p,
            &db,
            &iop::internal_key_path(dir),
            &backends,
        ));
        backends.push(format!("{}=http://127.0.0.1:{p}", service.name));
    }
    let gateway = Running(
        Command::new(IOP)
            .args(["serve", "gateway", "--listen", &format!("127.0.0.1:{port}")])
            .args(backends.iter().flat_map(|b| ["--backend", b.as_str()]))
            .arg("--database-url")
            .arg(format!(
                "sqlite://{}?mode=rwc",
                dir.join("gateway.db").display()
            ))
            .arg("--signing-key-file")
            .arg(iop::signing_key_path(dir))
            .arg("--internal-key-file")
            .arg(iop::internal_key_path(dir))
            .args(["--rate-limit-per-minute", "0"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    Gateway {
        _gateway: gateway,
        _others: others,
    }
}

/// Polls `<base>/readyz` until it answers 200 (bounded).
pub async fn wait_ready(http: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(res) = http.get(format!("{base}/readyz")).send().await
            && res.status() == 200
        {
            return;
        }
        assert!(Instant::now() < deadline, "{base} never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Reads the banner until the gateway's address shows up, then keeps draining stdout in
/// the background so the process never writes into a closed pipe.
pub fn gateway_addr(child: &mut Child) -> String {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.trim().strip_prefix("gateway") {
                let _ = tx.send(
                    rest.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("iop up printed no gateway address")
}

/// `iop up` on a free port with its data in `data_dir` and no rate limits, and the gateway's
/// base URL.
pub fn up(data_dir: &Path, extra: &[&str]) -> (Running, String) {
    let mut child = Command::new(IOP)
        .args([
            "up",
            "--addr",
            "127.0.0.1:0",
            "--rate-limit-per-minute",
            "0",
            "--data-dir",
        ])
        .arg(data_dir)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = gateway_addr(&mut child);
    (Running(child), base)
}
