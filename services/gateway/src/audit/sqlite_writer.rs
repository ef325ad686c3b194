//! The audit writer for SQLite: a task of its own with its own connection, writing inline.
//!
//! Through sqlx every statement is a message to a per-connection worker thread and back, and
//! a writer thread of our own (the earlier design) still cost two thread wake-ups per batch:
//! request → writer thread → request, each a context switch that on a busy machine waits to
//! be scheduled. As a task on the runtime, the hand-offs stay in the runtime's run queues.
//! Its statements run inline on a worker: a batch is a few rows with no fsync (WAL,
//! `synchronous = NORMAL`), tens of microseconds, so the worker is held about as long as by
//! any request's own work; [`MAX_BATCH`](super::MAX_BATCH) bounds the longest hold.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use iop_db::Db;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior, params};
use tokio::sync::mpsc;

use super::checkpoints::Checkpointer;
use super::keys::AuditKeys;
use super::store::{self, GENESIS, Head, RECONCILE_BATCH};
use super::{AuditEvent, Failure, Job, Outcome, Sink};

const INSERT: &str = "INSERT INTO audit_events (seq, event_id, time_us, tenant_id, issuer, client_id, \
     subject, action, resource_type, resource_id, patient_id, outcome, status, request_id, source_addr, \
     prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)";

/// Starts the writer task on the (already migrated) database file of `db`, and the thread
/// that checkpoints beside it.
pub(super) fn start(
    db: Db,
    file: PathBuf,
    keys: Arc<AuditKeys>,
    checkpointer: Checkpointer,
    rx: mpsc::Receiver<Job>,
) -> std::io::Result<()> {
    let (alive, writer_gone) = std::sync::mpsc::channel::<()>();
    let wal_long = Arc::new(AtomicBool::new(false));
    let (ckpt_file, ckpt_flag) = (file.clone(), wal_long.clone());
    let sink = FileSink {
        db: db.clone(),
        file,
        keys,
        conn: None,
        head: None,
        wal_long,
    };
    tokio::spawn(async move {
        super::run(sink, rx, db, checkpointer).await;
        drop(alive);
    });
    std::thread::Builder::new()
        .name("iop-audit-ckpt".into())
        .spawn(move || checkpoint(&ckpt_file, &writer_gone, &ckpt_flag))
        .map(drop)
}

/// WAL length (frames) past which the writer finishes a checkpoint itself, so the WAL
/// starts over instead of growing.
const WAL_LIMIT_FRAMES: i64 = 8_192;
/// How often WAL frames are copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// Copies the WAL back into the database file beside the writer, so the writer never stops
/// for the bulk of it (SQLite would otherwise checkpoint, fsync included, inside the commit
/// that crosses 1,000 frames, and every request waiting on that batch would wait for the
/// disk too). A passive checkpoint never blocks the writer, but under unbroken load it
/// rarely ends with the whole WAL copied, and only then can the WAL start over; past
/// [`WAL_LIMIT_FRAMES`] it asks the writer to finish one between two of its transactions,
/// where little is left to copy and nothing is appended meanwhile.
fn checkpoint(file: &Path, writer_gone: &std::sync::mpsc::Receiver<()>, wal_long: &AtomicBool) {
    let mut conn: Option<Connection> = None;
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
        writer_gone.recv_timeout(CHECKPOINT_EVERY)
    {
        if conn.is_none() {
            conn = open(file)
                .map_err(
                    |e| tracing::warn!(error = %e, "audit checkpointer cannot open the database"),
                )
                .ok();
        }
        let Some(c) = conn.as_ref() else { continue };
        match passive_checkpoint(c) {
            Ok((_, log)) => {
                if log > WAL_LIMIT_FRAMES {
                    wal_long.store(true, Ordering::Relaxed);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "audit checkpoint failed");
                conn = None;
            }
        }
    }
}

/// A checkpoint that never waits. Returns whether another checkpoint was in the way, and
/// the WAL's length in frames.
fn passive_checkpoint(conn: &Connection) -> rusqlite::Result<(bool, i64)> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get::<_, i64>(0)? != 0, r.get::<_, i64>(1)?))
    })
}

/// The writer's own connection to the gateway's SQLite file.
struct FileSink {
    db: Db,
    file: PathBuf,
    keys: Arc<AuditKeys>,
    conn: Option<Connection>,
    head: Head,
    /// Set by the checkpointer when the WAL grew long.
    wal_long: Arc<AtomicBool>,
}

impl FileSink {
    fn conn(&mut self) -> Result<&mut Connection, Failure> {
        if self.conn.is_none() {
            self.conn = Some(open(&self.file).map_err(|e| Failure::Other(e.to_string()))?);
        }
        self.conn
            .as_mut()
            .ok_or_else(|| Failure::Other("no connection".into()))
    }

    /// Another process holding the write lock is worth waiting for (without blocking a
    /// thread: the connection's busy timeout is 0); after anything else the connection and
    /// the head are suspect, and are opened and read afresh.
    fn failed(&mut self, err: rusqlite::Error) -> Failure {
        self.head = None;
        match err.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Failure::Busy,
            _ => {
                self.conn = None;
                Failure::Other(err.to_string())
            }
        }
    }
}

impl Sink for FileSink {
    fn committed(&self) -> Option<(i64, String)> {
        self.head.clone()
    }

    async fn append(
        &mut self,
        events: &[&AuditEvent],
        opens: &[bool],
        resolves: &[i64],
    ) -> Result<i64, Failure> {
        // Take turns with the gateway's other writers on this file (sqlx connections).
        let turn = self.db.write_turn().await;
        let mut head = self.head.take();
        let (wal_long, keys) = (self.wal_long.clone(), self.keys.clone());
        let conn = self.conn()?;
        let written = append(conn, &keys, &mut head, events, opens, resolves);
        if written.is_ok() && wal_long.swap(false, Ordering::Relaxed) {
            // Between our own transactions: the checkpoint can copy the whole WAL, and
            // the next transaction starts it over. Busy (the checkpointer is at work)
            // or failed just means next time.
            if !matches!(passive_checkpoint(conn), Ok((false, _))) {
                wal_long.store(true, Ordering::Relaxed);
            }
        }
        drop(turn);
        match written {
            Ok(first) => {
                self.head = head;
                Ok(first)
            }
            Err(e) => Err(self.failed(e)),
        }
    }

    async fn probe(&mut self) -> bool {
        let _turn = self.db.write_turn().await;
        let probed = self.conn().map_err(|_| ()).and_then(|c| {
            c.execute_batch("BEGIN IMMEDIATE; ROLLBACK;").map_err(|e| {
                tracing::warn!(error = %e, "audit trail not writable");
            })
        });
        probed.is_ok()
    }

    async fn reconcile(&mut self, before_us: i64) -> Result<usize, Failure> {
        let _turn = self.db.write_turn().await;
        let mut head = self.head.take();
        let keys = self.keys.clone();
        let conn = self.conn()?;
        match reconcile(conn, &keys, &mut head, before_us) {
            Ok(n) => {
                self.head = head;
                Ok(n)
            }
            Err(e) => Err(self.failed(e)),
        }
    }
}

fn open(file: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        file,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // As every other connection of ours; then checkpoints are the checkpointer thread's job
    // (see `checkpoint`), and a WAL that grew under load is cut back to 64 MiB.
    for pragma in iop_db::SQLITE_PRAGMAS {
        conn.execute_batch(pragma)?;
    }
    // Never wait for a lock inside SQLite: that would block a runtime worker thread for as
    // long as another process holds it. The writer waits asynchronously instead (`Busy`).
    conn.execute_batch(
        "PRAGMA busy_timeout = 0; PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 67108864;",
    )?;
    Ok(conn)
}

/// The head as stored, inside the writer's transaction.
fn read_head(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<(i64, String)> {
    Ok(tx
        .query_row(
            "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .unwrap_or_else(|| (0, GENESIS.to_owned())))
}

/// Inserts chained rows inside `tx`.
fn insert(
    tx: &rusqlite::Transaction<'_>,
    rows: &[store::Chained],
    events: &[&AuditEvent],
) -> rusqlite::Result<()> {
    let mut insert = tx.prepare_cached(INSERT)?;
    for ((seq, event_id, prev, hash), e) in rows.iter().zip(events) {
        insert.execute(params![
            seq,
            event_id,
            e.time_us,
            e.tenant,
            e.issuer,
            e.client_id,
            e.subject,
            e.action,
            e.resource_type,
            e.resource_id,
            e.patient_id,
            e.outcome.as_str(),
            e.status,
            e.request_id,
            e.source_addr,
            prev,
            hash,
        ])?;
    }
    Ok(())
}

/// Chains `events` after the head and commits them in one transaction, with the open
/// attempts among them and without the resolved ones; returns the first sequence number.
fn append(
    conn: &mut Connection,
    keys: &AuditKeys,
    head: &mut Head,
    events: &[&AuditEvent],
    opens: &[bool],
    resolves: &[i64],
) -> rusqlite::Result<i64> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let start = match head.take() {
        Some(h) => h,
        None => read_head(&tx)?,
    };
    let first = start.0 + 1;
    let (rows, new_head) = store::chain(keys, start, events);
    insert(&tx, &rows, events)?;
    {
        let mut open =
            tx.prepare_cached("INSERT INTO audit_open_attempts (seq, time_us) VALUES (?1, ?2)")?;
        for ((row, e), _) in rows.iter().zip(events).zip(opens).filter(|(_, o)| **o) {
            open.execute(params![row.0, e.time_us])?;
        }
        let mut close = tx.prepare_cached("DELETE FROM audit_open_attempts WHERE seq = ?1")?;
        for seq in resolves {
            close.execute(params![seq])?;
        }
    }
    tx.commit()?;
    *head = Some(new_head);
    Ok(first)
}

/// Closes up to [`RECONCILE_BATCH`] attempts opened before `before_us` with an
/// `interrupted` event each, in one transaction.
fn reconcile(
    conn: &mut Connection,
    keys: &AuditKeys,
    head: &mut Head,
    before_us: i64,
) -> rusqlite::Result<usize> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let claimed: Vec<i64> = {
        let mut claim = tx.prepare_cached(&format!(
            "DELETE FROM audit_open_attempts WHERE seq IN (SELECT seq FROM audit_open_attempts \
             WHERE time_us < ?1 ORDER BY seq LIMIT {RECONCILE_BATCH}) RETURNING seq"
        ))?;
        claim
            .query_map(params![before_us], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?
    };
    if claimed.is_empty() {
        return Ok(0);
    }
    let closing: Vec<AuditEvent> = {
        let mut read = tx.prepare_cached(&format!(
            "SELECT {} FROM audit_events WHERE seq = ?1",
            store::COLUMNS
        ))?;
        let mut closing = Vec::with_capacity(claimed.len());
        for seq in &claimed {
            let attempt = read.query_row(params![seq], event_of_row)?;
            closing.push(store::interrupted(&attempt));
        }
        closing
    };
    let closing: Vec<&AuditEvent> = closing.iter().collect();
    let start = match head.take() {
        Some(h) => h,
        None => read_head(&tx)?,
    };
    let (rows, new_head) = store::chain(keys, start, &closing);
    insert(&tx, &rows, &closing)?;
    tx.commit()?;
    *head = Some(new_head);
    Ok(closing.len())
}

/// An event as [`store::COLUMNS`] lists it.
fn event_of_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditEvent> {
    let outcome: String = r.get(11)?;
    Ok(AuditEvent {
        time_us: r.get(2)?,
        tenant: r.get(3)?,
        issuer: r.get(4)?,
        client_id: r.get(5)?,
        subject: r.get(6)?,
        action: r.get(7)?,
        resource_type: r.get(8)?,
        resource_id: r.get(9)?,
        patient_id: r.get(10)?,
        outcome: Outcome::parse(&outcome).unwrap_or(Outcome::Failed),
        status: r.get(12)?,
        request_id: r.get(13)?,
        source_addr: r.get(14)?,
    })
}
