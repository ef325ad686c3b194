//! SQL of the audit trail.

use std::path::Path;
use std::sync::Arc;

use iop_db::{Backend, Db, Migrations, is_unique_violation};
use sqlx::Row;
use sqlx::migrate::Migrator;

use super::checkpoints;
use super::keys::{self, AuditKeys};
use super::{AuditEvent, Failure, Outcome, Sink};

static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");
pub static MIGRATIONS: Migrations = Migrations {
    sqlite: &SQLITE,
    postgres: &POSTGRES,
};

/// The first `prev_hash` of the chain.
pub(super) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub seq: i64,
    pub event_id: String,
    pub event: AuditEvent,
    pub prev_hash: String,
    pub hash: String,
}

/// A row's link as hashed: the previous hash and every field, length-prefixed so no choice
/// of field contents can collide with another split.
fn canonical(prev_hash: &str, seq: i64, event_id: &str, e: &AuditEvent) -> String {
    let fields = [
        prev_hash,
        &seq.to_string(),
        event_id,
        &e.time_us.to_string(),
        &e.tenant,
        &e.issuer,
        &e.client_id,
        &e.subject,
        &e.action,
        &e.resource_type,
        &e.resource_id,
        &e.patient_id,
        e.outcome.as_str(),
        &e.status,
        &e.request_id,
        &e.source_addr,
    ];
    let mut buf = String::new();
    for f in fields {
        buf.push_str(&f.len().to_string());
        buf.push(':');
        buf.push_str(f);
    }
    buf
}

/// The hash of a row: HMAC-SHA256 with the chain key.
pub(super) fn chain_hash(
    keys: &AuditKeys,
    prev_hash: &str,
    seq: i64,
    event_id: &str,
    e: &AuditEvent,
) -> String {
    keys.mac(canonical(prev_hash, seq, event_id, e).as_bytes())
}

/// The hash of a row written before the chain was keyed: plain SHA-256.
pub(super) fn unkeyed_hash(prev_hash: &str, seq: i64, event_id: &str, e: &AuditEvent) -> String {
    keys::sha256(canonical(prev_hash, seq, event_id, e).as_bytes())
}

/// The last link of the chain as this writer knows it; `None` means "read it".
pub(super) type Head = Option<(i64, String)>;

/// `events` chained after `head`: their rows' (seq, event_id, prev_hash, hash), and the new
/// head.
pub(super) fn chain(
    keys: &AuditKeys,
    head: (i64, String),
    events: &[&AuditEvent],
) -> (Vec<Chained>, (i64, String)) {
    let (mut seq, mut prev) = head;
    let mut rows = Vec::with_capacity(events.len());
    for e in events {
        seq += 1;
        let event_id = uuid::Uuid::now_v7().to_string();
        let hash = chain_hash(keys, &prev, seq, &event_id, e);
        rows.push((
            seq,
            event_id,
            std::mem::replace(&mut prev, hash.clone()),
            hash,
        ));
    }
    (rows, (seq, prev))
}

/// The `interrupted` event closing an attempt: who tried what, as the attempt says, now.
pub(super) fn interrupted(attempt: &AuditEvent) -> AuditEvent {
    AuditEvent {
        time_us: iop_core::now_micros(),
        outcome: Outcome::Interrupted,
        status: format!("{:?}", tonic::Code::Unknown),
        ..attempt.clone()
    }
}

/// Open attempts claimed by one reconciliation at most.
pub(super) const RECONCILE_BATCH: usize = 100;

/// The writer on a connection pool: PostgreSQL (several gateway replicas may share the
/// database), or SQLite in memory.
pub(super) struct PoolSink {
    db: Db,
    keys: Arc<AuditKeys>,
    /// The writer keeps one connection: its statements stay prepared.
    conn: Option<sqlx::pool::PoolConnection<sqlx::Any>>,
    head: Head,
}

impl PoolSink {
    pub(super) fn new(db: Db, keys: Arc<AuditKeys>) -> Self {
        Self {
            db,
            keys,
            conn: None,
            head: None,
        }
    }

    async fn conn(&mut self) -> Result<&mut sqlx::AnyConnection, Failure> {
        if self.conn.is_none() {
            let mut c = self
                .db
                .pool()
                .acquire()
                .await
                .map_err(|e| Failure::Other(e.to_string()))?;
            if self.db.backend() == Backend::Postgres {
                // Wait for a lock held by someone else in short rounds (`Failure::Busy`), so
                // that between rounds the writer drops events nobody waits for any more.
                sqlx::query("SET lock_timeout = '100ms'")
                    .execute(&mut *c)
                    .await
                    .map_err(|e| Failure::Other(e.to_string()))?;
            }
            self.conn = Some(c);
        }
        match self.conn.as_mut() {
            Some(c) => Ok(&mut **c),
            None => Err(Failure::Other("no connection".into())),
        }
    }

    /// A lock held by someone else is worth waiting for; after anything else the connection
    /// and the head are suspect: start over with fresh ones.
    fn failed(&mut self, err: sqlx::Error) -> Failure {
        self.head = None;
        if matches!(&err, sqlx::Error::Database(db) if db.code().as_deref() == Some("55P03")) {
            Failure::Busy
        } else {
            self.conn = None;
            Failure::Other(err.to_string())
        }
    }
}

impl Sink for PoolSink {
    fn committed(&self) -> Option<(i64, String)> {
        self.head.clone()
    }

    async fn append(
        &mut self,
        events: &[&AuditEvent],
        opens: &[bool],
        resolves: &[i64],
    ) -> Result<i64, Failure> {
        let (db, keys) = (self.db.clone(), self.keys.clone());
        let mut head = self.head.take();
        let conn = self.conn().await?;
        match append(&db, &keys, conn, &mut head, events, opens, resolves).await {
            Ok(first) => {
                self.head = head;
                Ok(first)
            }
            Err(e) => Err(self.failed(e)),
        }
    }

    async fn probe(&mut self) -> bool {
        let backend = self.db.backend();
        let Ok(conn) = self.conn().await else {
            return false;
        };
        let probed = async {
            use sqlx::Connection;
            if backend == Backend::Sqlite {
                return sqlx::query("SELECT 1")
                    .execute(&mut *conn)
                    .await
                    .map(|_| true);
            }
            // Takes the lock an INSERT needs, without waiting for it, and asks whether we
            // may insert at all; changes nothing.
            let mut tx = conn.begin().await?;
            sqlx::query("LOCK TABLE audit_events IN ROW EXCLUSIVE MODE NOWAIT")
                .execute(&mut *tx)
                .await?;
            let allowed: bool =
                sqlx::query_scalar("SELECT has_table_privilege('audit_events', 'INSERT')")
                    .fetch_one(&mut *tx)
                    .await?;
            tx.rollback().await?;
            Ok(allowed)
        };
        match probed.await {
            Ok(ok) => ok,
            Err(e) => {
                tracing::warn!(error = %e, "audit trail not writable");
                let _ = self.failed(e);
                false
            }
        }
    }

    async fn reconcile(&mut self, before_us: i64) -> Result<usize, Failure> {
        let (db, keys) = (self.db.clone(), self.keys.clone());
        let mut head = self.head.take();
        let conn = self.conn().await?;
        match reconcile(&db, &keys, conn, &mut head, before_us).await {
            Ok(n) => {
                self.head = head;
                Ok(n)
            }
            Err(e) => Err(self.failed(e)),
        }
    }
}

/// The chain's last link as stored.
async fn read_head(conn: &mut sqlx::AnyConnection) -> Result<(i64, String), sqlx::Error> {
    let row = sqlx::query("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(row) => Ok((row.try_get("seq")?, row.try_get("hash")?)),
        None => Ok((0, GENESIS.to_owned())),
    }
}

/// Appends `events` after the head, atomically: one multi-row INSERT when that is all, one
/// transaction with the open attempts' bookkeeping otherwise. The head is kept in memory
/// between batches; another gateway replica appending at the same moment makes one of the
/// two hit the primary key, and that one re-reads the head and tries again. Returns the
/// first event's sequence number.
async fn append(
    db: &Db,
    keys: &AuditKeys,
    conn: &mut sqlx::AnyConnection,
    head: &mut Head,
    events: &[&AuditEvent],
    opens: &[bool],
    resolves: &[i64],
) -> Result<i64, sqlx::Error> {
    use sqlx::Connection;
    loop {
        let _turn = db.write_turn().await;
        let start = match head.take() {
            Some(h) => h,
            None => read_head(conn).await?,
        };
        let first = start.0 + 1;
        let (rows, new_head) = chain(keys, start, events);
        // Rows go in chunks of at most CHUNK, each chunk one multi-row INSERT whose text
        // depends only on its length, so every statement is prepared once and cached.
        let chunks: Vec<_> = rows.chunks(CHUNK).zip(events.chunks(CHUNK)).collect();
        let bookkeeping = opens.contains(&true) || !resolves.is_empty();
        let written = async {
            if let ([(rows, events)], false) = (&chunks[..], bookkeeping) {
                return insert_chunk(db.backend(), rows, events)
                    .execute(&mut *conn)
                    .await
                    .map(drop);
            }
            let mut tx = conn.begin().await?;
            for (rows, events) in &chunks {
                insert_chunk(db.backend(), rows, events)
                    .execute(&mut *tx)
                    .await?;
            }
            for ((seq, ..), e) in rows
                .iter()
                .zip(events)
                .zip(opens)
                .filter(|(_, o)| **o)
                .map(|(r, _)| r)
            {
                sqlx::query("INSERT INTO audit_open_attempts (seq, time_us) VALUES ($1, $2)")
                    .bind(*seq)
                    .bind(e.time_us)
                    .execute(&mut *tx)
                    .await?;
            }
            for seq in resolves {
                sqlx::query("DELETE FROM audit_open_attempts WHERE seq = $1")
                    .bind(*seq)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        };
        match written.await {
            Ok(()) => {
                *head = Some(new_head);
                return Ok(first);
            }
            // Another replica took these sequence numbers: read the new head, rechain.
            Err(err) if is_unique_violation(&err) && db.backend() == Backend::Postgres => continue,
            Err(err) => return Err(err),
        }
    }
}

/// Closes up to [`RECONCILE_BATCH`] attempts opened before `before_us`, in one transaction
/// that claims them (replicas reconciling at once each claim different ones) and appends
/// their `interrupted` events.
async fn reconcile(
    db: &Db,
    keys: &AuditKeys,
    conn: &mut sqlx::AnyConnection,
    head: &mut Head,
    before_us: i64,
) -> Result<usize, sqlx::Error> {
    use sqlx::Connection;
    loop {
        let _turn = db.write_turn().await;
        let mut tx = conn.begin().await?;
        let claimed: Vec<i64> = sqlx::query_scalar(&format!(
            "DELETE FROM audit_open_attempts WHERE seq IN (SELECT seq FROM audit_open_attempts \
             WHERE time_us < $1 ORDER BY seq LIMIT {RECONCILE_BATCH}) RETURNING seq"
        ))
        .bind(before_us)
        .fetch_all(&mut *tx)
        .await?;
        if claimed.is_empty() {
            tx.rollback().await?;
            return Ok(0);
        }
        // Sequence numbers are integers we just read: safe to put in the statement.
        let list = claimed
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let attempts = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM audit_events WHERE seq IN ({list}) ORDER BY seq"
        ))
        .fetch_all(&mut *tx)
        .await?;
        let closing: Vec<AuditEvent> = attempts
            .iter()
            .map(|row| event_from_row(row).map(|e| interrupted(&e.event)))
            .collect::<Result<_, _>>()?;
        let closing: Vec<&AuditEvent> = closing.iter().collect();
        let start = match head.take() {
            Some(h) => h,
            None => read_head(&mut tx).await?,
        };
        let (rows, new_head) = chain(keys, start, &closing);
        let mut inserted = Ok(());
        for (rows, events) in rows.chunks(CHUNK).zip(closing.chunks(CHUNK)) {
            inserted = insert_chunk(db.backend(), rows, events)
                .execute(&mut *tx)
                .await
                .map(drop);
            if inserted.is_err() {
                break;
            }
        }
        match inserted {
            Ok(()) => {
                tx.commit().await?;
                *head = Some(new_head);
                return Ok(closing.len());
            }
            Err(err) if is_unique_violation(&err) && db.backend() == Backend::Postgres => {
                drop(tx);
                continue;
            }
            Err(err) => return Err(err),
        }
    }
}

pub(super) type Chained = (i64, String, String, String);

/// The INSERT of one chunk of chained rows.
pub(super) fn insert_chunk<'q>(
    backend: Backend,
    rows: &'q [Chained],
    events: &'q [&'q AuditEvent],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    let mut q = sqlx::query(insert_sql(backend, rows.len()));
    for ((seq, event_id, prev_hash, hash), e) in rows.iter().zip(events) {
        q = q
            .bind(*seq)
            .bind(event_id)
            .bind(e.time_us)
            .bind(&e.tenant)
            .bind(&e.issuer)
            .bind(&e.client_id)
            .bind(&e.subject)
            .bind(&e.action)
            .bind(&e.resource_type)
            .bind(&e.resource_id)
            .bind(&e.patient_id)
            .bind(e.outcome.as_str())
            .bind(&e.status)
            .bind(&e.request_id)
            .bind(&e.source_addr)
            .bind(prev_hash)
            .bind(hash);
    }
    q
}

/// Columns of `audit_events`.
const COLS: usize = 17;
/// Rows per INSERT statement.
const CHUNK: usize = 16;

/// `INSERT … VALUES (…), (…)` for `rows` rows (1..=CHUNK), built once per length. SQLite
/// gets anonymous `?` parameters: it resolves a named one (`$n`) by walking the statement's
/// list of names, which made binding a 272-parameter chunk quadratic.
fn insert_sql(backend: Backend, rows: usize) -> &'static str {
    type Texts = [Vec<String>; 2];
    static CACHE: std::sync::OnceLock<Texts> = std::sync::OnceLock::new();
    let build = |numbered: bool| -> Vec<String> {
        (0..=CHUNK)
            .map(|n| {
                let mut sql = String::from(
                    "INSERT INTO audit_events (seq, event_id, time_us, tenant_id, issuer, client_id, subject, \
                     action, resource_type, resource_id, patient_id, outcome, status, request_id, source_addr, \
                     prev_hash, hash) VALUES ",
                );
                for i in 0..n {
                    sql.push_str(if i == 0 { "(" } else { ", (" });
                    let params: Vec<String> = (1..=COLS)
                        .map(|c| if numbered { format!("${}", i * COLS + c) } else { "?".to_owned() })
                        .collect();
                    sql.push_str(&params.join(", "));
                    sql.push(')');
                }
                sql
            })
            .collect()
    };
    let [sqlite, postgres] = CACHE.get_or_init(|| [build(false), build(true)]);
    let texts = match backend {
        Backend::Sqlite => sqlite,
        Backend::Postgres => postgres,
    };
    texts[rows.min(CHUNK)].as_str()
}

pub(super) fn event_from_row(row: &sqlx::any::AnyRow) -> Result<StoredEvent, sqlx::Error> {
    let outcome: String = row.try_get("outcome")?;
    Ok(StoredEvent {
        seq: row.try_get("seq")?,
        event_id: row.try_get("event_id")?,
        event: AuditEvent {
            time_us: row.try_get("time_us")?,
            tenant: row.try_get("tenant_id")?,
            issuer: row.try_get("issuer")?,
            client_id: row.try_get("client_id")?,
            subject: row.try_get("subject")?,
            action: row.try_get("action")?,
            resource_type: row.try_get("resource_type")?,
            resource_id: row.try_get("resource_id")?,
            patient_id: row.try_get("patient_id")?,
            // An outcome this version does not know is shown as a failure, never as success.
            outcome: Outcome::parse(&outcome).unwrap_or(Outcome::Failed),
            status: row.try_get("status")?,
            request_id: row.try_get("request_id")?,
            source_addr: row.try_get("source_addr")?,
        },
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

pub(super) const COLUMNS: &str = "seq, event_id, time_us, tenant_id, issuer, client_id, subject, action, resource_type, \
     resource_id, patient_id, outcome, status, request_id, source_addr, prev_hash, hash";

/// What `iop audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    Intact {
        events: i64,
        checkpoints: usize,
    },
    /// The first event that does not check out, and what is wrong with it.
    Broken {
        seq: i64,
        reason: String,
    },
}

/// Checks the whole trail: walks the chain in order recomputing every keyed hash (edits,
/// insertions, deletions and re-chaining without the key), then holds it against the
/// signed checkpoints in `checkpoint_file` (truncation, deletion of everything, re-chaining
/// with a stolen key before the last checkpoint). Reports the earliest bad event.
pub async fn verify(
    db: &Db,
    keys: &AuditKeys,
    checkpoint_file: &Path,
) -> Result<Verification, sqlx::Error> {
    let checkpoints = match checkpoints::read(checkpoint_file) {
        Ok(lines) => lines,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(sqlx::Error::Io(e)),
    };
    let mut findings: Vec<(i64, String)> = Vec::new();
    let mut anchors = std::collections::BTreeMap::new();
    // Where the keyed chain starts, as the first genuine checkpoint says.
    let mut unkeyed_until = None;
    for line in &checkpoints {
        match line {
            Ok(c) if c.signed_by(keys) => {
                unkeyed_until.get_or_insert(c.unkeyed_until);
                anchors.entry(c.seq).or_insert_with(|| c.clone());
            }
            Ok(c) => findings.push((
                c.seq.max(1),
                "is named by a checkpoint whose signature does not verify: the checkpoint file was altered"
                    .to_owned(),
            )),
            Err(e) => findings.push((1, format!("cannot be vouched for: {e}"))),
        }
    }
    let unkeyed_until = unkeyed_until.unwrap_or(0);

    let mut prev = GENESIS.to_owned();
    let mut expected_seq = 1;
    let mut chain_broken = false;
    'walk: loop {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT 1000"
        ))
        .bind(expected_seq)
        .fetch_all(db.pool())
        .await?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            let e = event_from_row(row)?;
            let broken = |reason: &str| (expected_seq, reason.to_owned());
            let finding = if e.seq != expected_seq {
                Some(broken(
                    "is missing: the rows after it were deleted or renumbered",
                ))
            } else if e.prev_hash != prev {
                Some(broken(
                    "does not link to the event before it: an event was inserted or removed",
                ))
            } else {
                let hash = if e.seq <= unkeyed_until {
                    unkeyed_hash(&prev, e.seq, &e.event_id, &e.event)
                } else {
                    chain_hash(keys, &prev, e.seq, &e.event_id, &e.event)
                };
                (hash != e.hash).then(|| {
                    broken(
                        "does not match its hash: it was altered, or written without the chain key",
                    )
                })
            };
            if let Some(f) = finding {
                findings.push(f);
                chain_broken = true;
                break 'walk;
            }
            if let Some(c) = anchors.get(&e.seq)
                && c.head != e.hash
            {
                findings.push((
                    e.seq,
                    format!(
                        "differs from the checkpoint of {}: the trail was re-chained",
                        c.time_us
                    ),
                ));
            }
            prev = e.hash;
            expected_seq += 1;
        }
    }
    let events = expected_seq - 1;
    if !chain_broken
        && let Some((&last, c)) = anchors.iter().next_back()
        && last > events
    {
        findings.push((
            events + 1,
            format!(
                "is missing, and so is every event up to {last}: the trail ends at {events} but was checkpointed at {last} ({}): it was truncated",
                c.time_us
            ),
        ));
    }
    if checkpoints.is_empty() && events > 0 {
        findings.push((
            1,
            format!(
                "cannot be vouched for: there is no checkpoint file at {}, so removed events would go unnoticed",
                checkpoint_file.display()
            ),
        ));
    }
    Ok(match findings.into_iter().min_by_key(|(seq, _)| *seq) {
        Some((seq, reason)) => Verification::Broken { seq, reason },
        None => Verification::Intact {
            events,
            checkpoints: anchors.len(),
        },
    })
}

/// The chain's head as stored, or the genesis.
pub(super) async fn stored_head(db: &Db) -> Result<(i64, String), sqlx::Error> {
    read_head(&mut *db.pool().acquire().await?).await
}

/// The last event written before the chain was keyed (0 if none): the trail's unkeyed
/// events all come before its keyed ones, so a binary search over "does this row check with
/// the unkeyed hash" finds the boundary in a few reads. Used once, when a gateway writes its
/// first checkpoint.
pub(super) async fn unkeyed_until(db: &Db) -> Result<i64, sqlx::Error> {
    let unkeyed = |seq: i64| async move {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM audit_events WHERE seq = $1"
        ))
        .bind(seq)
        .fetch_optional(db.pool())
        .await?;
        Ok::<_, sqlx::Error>(match row {
            Some(row) => {
                let e = event_from_row(&row)?;
                unkeyed_hash(&e.prev_hash, e.seq, &e.event_id, &e.event) == e.hash
            }
            None => false,
        })
    };
    let (head, _) = stored_head(db).await?;
    if head == 0 || !unkeyed(1).await? {
        return Ok(0);
    }
    // Invariant: `low` is unkeyed, everything above `high` is keyed.
    let (mut low, mut high) = (1, head);
    while low < high {
        let mid = low + (high - low + 1) / 2;
        if unkeyed(mid).await? {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    Ok(low)
}

/// Filters of an audit query; the tenant always comes from the caller.
#[derive(Debug, Default, Clone)]
pub struct EventQuery {
    pub patient_id: Option<String>,
    pub subject: Option<String>,
    pub client_id: Option<String>,
    pub from_us: Option<i64>,
    pub to_us: Option<i64>,
    /// Only events after this sequence number (paging).
    pub after_seq: Option<i64>,
}

/// Events of `tenant` matching `q`, oldest first.
pub async fn query(
    db: &Db,
    tenant: &str,
    q: &EventQuery,
    limit: usize,
) -> Result<Vec<StoredEvent>, sqlx::Error> {
    let mut sql = format!("SELECT {COLUMNS} FROM audit_events WHERE tenant_id = $1");
    let mut n = 1;
    let mut clause = |sql: &mut String, cond: &str| {
        n += 1;
        sql.push_str(&format!(" AND {cond} ${n}"));
    };
    // `<> ''` lets the partial indexes on patient and client serve these filters.
    if q.patient_id.is_some() {
        clause(&mut sql, "patient_id <> '' AND patient_id =");
    }
    if q.subject.is_some() {
        clause(&mut sql, "subject =");
    }
    if q.client_id.is_some() {
        clause(&mut sql, "client_id <> '' AND client_id =");
    }
    if q.from_us.is_some() {
        clause(&mut sql, "time_us >=");
    }
    if q.to_us.is_some() {
        clause(&mut sql, "time_us <");
    }
    if q.after_seq.is_some() {
        clause(&mut sql, "seq >");
    }
    sql.push_str(&format!(" ORDER BY seq LIMIT {}", limit.min(1000)));
    let mut query = sqlx::query(&sql).bind(tenant);
    for v in [&q.patient_id, &q.subject, &q.client_id]
        .into_iter()
        .flatten()
    {
        query = query.bind(v);
    }
    for v in [q.from_us, q.to_us, q.after_seq].into_iter().flatten() {
        query = query.bind(v);
    }
    let rows = query.fetch_all(db.pool()).await?;
    rows.iter().map(event_from_row).collect()
}
