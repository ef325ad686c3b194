//! The audit trail of every access to patient data through the gateway, allowed or denied.
//!
//! Events are written by one writer per gateway, in batches (group commit), and a request
//! is answered only after its events are durable. On a SQLite file the writer is a task with
//! its own connection (`sqlite_writer`); otherwise a task on the pool. Rows carry a hash chain:
//! `hash = SHA-256(prev_hash ‖ seq ‖ event)`, so [`verify`] finds an edited, inserted or
//! deleted row; database triggers refuse UPDATE and DELETE in the first place.

pub mod api;
mod sqlite_writer;
mod store;
#[cfg(test)]
mod tests;

use std::time::Duration;

use iop_core::{Error, Principal};
use iop_db::Db;
use tokio::sync::{mpsc, oneshot};

pub use store::{EventQuery, StoredEvent, Verification, query, verify};

/// The trail's migrations, for `iop audit verify` and the gateway.
pub use store::MIGRATIONS;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The service answered OK.
    Success,
    /// The gateway's policy refused the call.
    Denied,
    /// The call was allowed but failed (not found, invalid, unavailable…).
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Denied => "denied",
            Self::Failed => "failed",
        }
    }
}

/// One access, before it is chained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub time_us: i64,
    pub tenant: String,
    pub issuer: String,
    pub client_id: String,
    pub subject: String,
    /// e.g. `patient.read`.
    pub action: String,
    pub resource_type: String,
    pub resource_id: String,
    pub patient_id: String,
    pub outcome: Outcome,
    /// gRPC status code name, e.g. `Ok`, `NotFound`, `PermissionDenied`.
    pub status: String,
    pub request_id: String,
    pub source_addr: String,
}

impl AuditEvent {
    pub fn new(
        who: &Principal,
        action: &str,
        resource_type: &str,
        outcome: Outcome,
        status: tonic::Code,
    ) -> Self {
        Self {
            time_us: iop_core::now_micros(),
            tenant: who.tenant.to_string(),
            issuer: who.issuer.clone(),
            client_id: who.client_id.clone().unwrap_or_default(),
            subject: who.subject.clone(),
            action: action.to_owned(),
            resource_type: resource_type.to_owned(),
            resource_id: String::new(),
            patient_id: String::new(),
            outcome,
            status: format!("{status:?}"),
            request_id: who.request_id.clone(),
            source_addr: who.source_addr.clone().unwrap_or_default(),
        }
    }
}

type Batch = (Vec<AuditEvent>, oneshot::Sender<bool>);

/// Events taken into one transaction at most (more wait for the next one).
const MAX_BATCH: usize = 512;

/// Handle to the writer.
#[derive(Clone)]
pub struct AuditLog {
    /// `None` only in the benchmark baseline ([`AuditLog::off`]).
    tx: Option<mpsc::Sender<Batch>>,
}

impl AuditLog {
    /// Starts the writer on `db` (a task with its own connection for a SQLite file, on the
    /// pool otherwise); it stops when every handle is dropped. Call it inside the runtime.
    pub fn start(db: Db) -> Self {
        let (tx, rx) = mpsc::channel(4096);
        match db.sqlite_file() {
            Some(file) => {
                if let Err(e) = sqlite_writer::start(db, file, rx) {
                    // Without a writer every record() fails: requests get 503, none goes unaudited.
                    tracing::error!(error = %e, "cannot start the audit checkpointer thread");
                }
            }
            None => {
                tokio::spawn(run_writer(db, rx));
            }
        }
        Self { tx: Some(tx) }
    }

    /// A trail that records nothing: the baseline `gateway_read` compares the gateway with.
    #[cfg(feature = "bench-baseline")]
    pub fn off() -> Self {
        Self { tx: None }
    }

    /// Returns once `events` are durably appended, or fails: the caller must then not
    /// report success, since an unaudited access must not look like one that happened.
    pub async fn record(&self, events: Vec<AuditEvent>) -> Result<(), Error> {
        let (ack, done) = oneshot::channel();
        let unavailable =
            || Error::Unavailable("the audit trail cannot be written; retry shortly".into());
        let Some(tx) = &self.tx else { return Ok(()) };
        tx.send((events, ack)).await.map_err(|_| unavailable())?;
        match done.await {
            Ok(true) => Ok(()),
            _ => Err(unavailable()),
        }
    }
}

/// Group commit: whatever queued up while the last batch was being written goes into the
/// next transaction, so throughput grows with load instead of latency.
fn collect(first: Batch, rx: &mut mpsc::Receiver<Batch>) -> Vec<Batch> {
    let mut count = first.0.len();
    let mut batches = vec![first];
    while count < MAX_BATCH {
        match rx.try_recv() {
            Ok(b) => {
                count += b.0.len();
                batches.push(b);
            }
            Err(_) => break,
        }
    }
    batches
}

/// The writer on a connection pool (PostgreSQL, or SQLite in memory).
async fn run_writer(db: Db, mut rx: mpsc::Receiver<Batch>) {
    let mut head: store::Head = None;
    let mut conn: Option<sqlx::pool::PoolConnection<sqlx::Any>> = None;
    while let Some(first) = rx.recv().await {
        let batches = collect(first, &mut rx);
        let events: Vec<&AuditEvent> = batches.iter().flat_map(|(e, _)| e.iter()).collect();
        let mut ok = false;
        for attempt in 0..5u32 {
            // The writer keeps one connection: its statements stay prepared.
            if conn.is_none() {
                conn = db
                    .pool()
                    .acquire()
                    .await
                    .map_err(|e| tracing::error!(error = %e, "audit writer cannot connect"))
                    .ok();
            }
            let Some(c) = conn.as_mut() else {
                tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
                continue;
            };
            match store::append(&db, c, &mut head, &events).await {
                Ok(()) => {
                    ok = true;
                    break;
                }
                Err(e) => {
                    conn = None;
                    head = None;
                    tracing::error!(error = %e, attempt, "cannot append audit events");
                    tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
                }
            }
        }
        for (_, ack) in batches {
            let _ = ack.send(ok);
        }
    }
}

/// Opens the gateway database (for the audit trail), running its migrations.
pub async fn open(url: &str) -> Result<Db, iop_db::DbError> {
    Db::connect(url, &MIGRATIONS, &iop_db::PoolConfig::default()).await
}
