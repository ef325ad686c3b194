//! Transactions serialized on a key: the primitive that invariants concurrency could break
//! stand on (a clinician, a room or a patient booked twice; a group over capacity). Inside
//! one, "read what is there, decide, write" cannot interleave with another transaction on
//! the same key, on either database and across gateway replicas sharing PostgreSQL:
//!
//! - SQLite has one writer at a time: the process takes its write turn, and the transaction
//!   starts with `BEGIN IMMEDIATE`, so it holds the database's write lock from its first
//!   statement (a read-then-write upgrade could fail or interleave; other processes on the
//!   same file wait their turn through SQLite's own lock).
//! - PostgreSQL: `pg_advisory_xact_lock` on the key's hash, taken as the transaction's first
//!   statement and released when it ends, so transactions on other keys run in parallel.

use sqlx::{Any, Transaction};
use tokio::sync::OwnedMutexGuard;

use crate::{Backend, Db};

/// A write transaction no other transaction on the same key runs beside; dropped without
/// [`Serialized::commit`], it rolls back.
pub struct Serialized {
    tx: Transaction<'static, Any>,
    _turn: Option<OwnedMutexGuard<()>>,
}

impl Db {
    /// Begins a transaction serialized on `key` (scope it yourself: `tenant/room/…`).
    pub async fn begin_serialized(&self, key: &str) -> Result<Serialized, sqlx::Error> {
        let turn = self.write_turn().await;
        let mut tx = match self.backend() {
            Backend::Sqlite => self.pool().begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool().begin().await?,
        };
        if self.backend() == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(lock_id(key))
                .execute(&mut *tx)
                .await?;
        }
        Ok(Serialized { tx, _turn: turn })
    }
}

impl Db {
    /// Inside the transaction on `conn`, serializes it with every other transaction that
    /// locks any of `keys`: on PostgreSQL their advisory locks, taken in one order (so two
    /// transactions locking overlapping sets of keys never deadlock on them) and released
    /// when it ends. On SQLite nothing more is needed: a write transaction there holds the
    /// database's one write lock (take the write turn, as `begin_serialized` and creates do).
    pub async fn lock_keys(
        &self,
        conn: &mut sqlx::AnyConnection,
        keys: &[String],
    ) -> Result<(), sqlx::Error> {
        if self.backend() != Backend::Postgres {
            return Ok(());
        }
        let mut ids: Vec<i64> = keys.iter().map(|k| lock_id(k)).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(());
        }
        // One round trip: a select list is evaluated left to right.
        let calls: Vec<String> = (1..=ids.len())
            .map(|i| format!("pg_advisory_xact_lock(${i})"))
            .collect();
        let sql = format!("SELECT {}", calls.join(", "));
        let mut q = sqlx::query(&sql);
        for id in ids {
            q = q.bind(id);
        }
        q.execute(&mut *conn).await?;
        Ok(())
    }
}

impl Serialized {
    /// The connection to run the transaction's statements on.
    pub fn conn(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

/// The advisory lock id of a key: the first 8 bytes of its SHA-256. Keys may carry ids a
/// client chose, so a weak hash could be made to collide on purpose and serialize unrelated
/// work; with SHA-256 a collision only ever joins two keys by chance.
fn lock_id(key: &str) -> i64 {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest.as_ref()[..8]);
    i64::from_be_bytes(first)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use sqlx::migrate::Migrator;

    use crate::{Migrations, PoolConfig, testing::TestDatabase};

    use super::*;

    /// Sixteen clients book the last seats of a room with capacity three, all at once, in
    /// the "read how many there are, then insert" pattern: exactly three get in. Another room
    /// is booked at the same time, unaffected.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_read_then_write_never_exceeds_a_capacity() {
        static NONE: Migrator = Migrator::DEFAULT;
        let none = Migrations {
            sqlite: &NONE,
            postgres: &NONE,
        };
        let test_db = TestDatabase::create("serialized").await;
        let db = Db::connect(test_db.url(), &none, &PoolConfig::default())
            .await
            .unwrap();
        sqlx::query("CREATE TABLE bookings (room TEXT NOT NULL, who BIGINT NOT NULL)")
            .execute(db.pool())
            .await
            .unwrap();
        const CAPACITY: i64 = 3;
        let book = |room: &'static str, who: i64| {
            let db = db.clone();
            tokio::spawn(async move {
                let mut tx = db
                    .begin_serialized(&format!("t/room/{room}"))
                    .await
                    .unwrap();
                let taken: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM bookings WHERE room = $1")
                        .bind(room)
                        .fetch_one(tx.conn())
                        .await
                        .unwrap();
                // Give the others every chance to read the same count.
                tokio::task::yield_now().await;
                if taken >= CAPACITY {
                    return false;
                }
                sqlx::query("INSERT INTO bookings (room, who) VALUES ($1, $2)")
                    .bind(room)
                    .bind(who)
                    .execute(tx.conn())
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
                true
            })
        };
        let tasks: Vec<_> = (0..16)
            .map(|i| book(if i % 2 == 0 { "a" } else { "b" }, i))
            .collect();
        let mut admitted = 0;
        for t in tasks {
            admitted += i64::from(t.await.unwrap());
        }
        assert_eq!(admitted, 2 * CAPACITY);
        for room in ["a", "b"] {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM bookings WHERE room = $1")
                .bind(room)
                .fetch_one(db.pool())
                .await
                .unwrap();
            assert_eq!(n, CAPACITY, "room {room}");
        }
        db.close().await;
    }

    #[test]
    fn keys_get_distinct_lock_ids() {
        assert_ne!(lock_id("t/room/a"), lock_id("t/room/b"));
        assert_eq!(lock_id("t/room/a"), lock_id("t/room/a"));
    }
}
