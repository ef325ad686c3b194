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
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use tokio::sync::mpsc;

use super::store::{self, GENESIS, Head};
use super::{AuditEvent, Batch, collect};

const INSERT: &str = "INSERT INTO audit_events (seq, event_id, time_us, tenant_id, issuer, client_id, \
     subject, action, resource_type, resource_id, patient_id, outcome, status, request_id, source_addr, \
     prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)";

/// Starts the writer task on the (already migrated) database file of `db`, and the thread
/// that checkpoints beside it.
pub(super) fn start(db: Db, file: PathBuf, rx: mpsc::Receiver<Batch>) -> std::io::Result<()> {
    let (alive, writer_gone) = std::sync::mpsc::channel::<()>();
    let wal_long = Arc::new(AtomicBool::new(false));
    let (ckpt_file, ckpt_flag) = (file.clone(), wal_long.clone());
    tokio::spawn(async move {
        run(&db, &file, rx, &wal_long).await;
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

async fn run(db: &Db, file: &Path, mut rx: mpsc::Receiver<Batch>, wal_long: &AtomicBool) {
    let mut conn: Option<Connection> = None;
    let mut head: Head = None;
    while let Some(first) = rx.recv().await {
        // Let the tasks that are ready now run first: those about to answer a request queue
        // their events too, and one commit takes them all.
        tokio::task::yield_now().await;
        let batches = collect(first, &mut rx);
        let events: Vec<&AuditEvent> = batches.iter().flat_map(|(e, _)| e.iter()).collect();
        let mut ok = false;
        for attempt in 0..5u32 {
            if conn.is_none() {
                conn = open(file)
                    .map_err(
                        |e| tracing::error!(error = %e, "audit writer cannot open the database"),
                    )
                    .ok();
            }
            let Some(c) = conn.as_mut() else {
                tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
                continue;
            };
            // Take turns with the gateway's other writers on this file (sqlx connections).
            let turn = db.write_turn().await;
            let written = append(c, &mut head, &events);
            if written.is_ok() && wal_long.swap(false, Ordering::Relaxed) {
                // Between our own transactions: the checkpoint can copy the whole WAL, and
                // the next transaction starts it over. Busy (the checkpointer is at work)
                // or failed just means next time.
                if !matches!(passive_checkpoint(c), Ok((false, _))) {
                    wal_long.store(true, Ordering::Relaxed);
                }
            }
            drop(turn);
            match written {
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
    conn.execute_batch("PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 67108864;")?;
    Ok(conn)
}

/// Chains `events` after the head and commits them in one transaction.
fn append(conn: &mut Connection, head: &mut Head, events: &[&AuditEvent]) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let (mut seq, mut prev) = match head.take() {
        Some(h) => h,
        None => tx
            .query_row(
                "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .unwrap_or_else(|| (0, GENESIS.to_owned())),
    };
    {
        let mut insert = tx.prepare_cached(INSERT)?;
        for e in events {
            seq += 1;
            let event_id = uuid::Uuid::now_v7().to_string();
            let hash = store::chain_hash(&prev, seq, &event_id, e);
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
            prev = hash;
        }
    }
    tx.commit()?;
    *head = Some((seq, prev));
    Ok(())
}
