//! Database setup shared by the services. Each service owns its own database: a SQLite file
//! by default (embedded, zero setup) or PostgreSQL by URL in production. Migrations are kept
//! per service and per backend and run at start-up.

use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Connection, Executor};
use tokio::sync::{Mutex, OwnedMutexGuard};

mod filter;
mod serialized;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use filter::{Arg, Filter, value_rows};
pub use serialized::Serialized;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A service's migrations for both backends (`sqlx::migrate!` of each folder).
pub struct Migrations {
    pub sqlite: &'static Migrator,
    pub postgres: &'static Migrator,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported database url (expected sqlite:… or postgres://…)")]
    UnsupportedUrl,
    #[error("cannot connect to the database")]
    Connect(#[source] sqlx::Error),
    #[error("cannot migrate the database")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

/// A pooled PostgreSQL connection idle this long is pinged before it is handed out: a
/// server restart or an idle timeout in between may have closed it.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

/// Set on every SQLite connection, including ones opened outside sqlx (the audit writer):
/// WAL lets readers run beside the writer; NORMAL syncs at checkpoints, not per commit (a
/// crashed process loses nothing); busy_timeout waits out another connection's lock instead
/// of failing at once.
pub const SQLITE_PRAGMAS: &[&str] = &[
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 5000",
];

/// Pool settings; the defaults suit one service replica.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// A connection pool plus what the stores need to know about the backend.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// SQLite allows one writer at a time; taking turns in-process avoids SQLITE_BUSY on
    /// lock upgrades. PostgreSQL needs no such lock.
    sqlite_writer: Option<Arc<Mutex<()>>>,
    url: Arc<str>,
}

impl Db {
    /// Connects, applies the SQLite pragmas, and runs the service's migrations.
    pub async fn connect(
        url: &str,
        migrations: &Migrations,
        config: &PoolConfig,
    ) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(DbError::UnsupportedUrl);
        };
        // A URL that asks for the file to be created (`mode=rwc`) gets it owner-only.
        if backend == Backend::Sqlite
            && url.contains("mode=rwc")
            && let Some(file) = sqlite_file_of(url)
        {
            create_private_file(&file).map_err(|e| DbError::Connect(sqlx::Error::Io(e)))?;
        }
        let options: AnyConnectOptions = url.parse().map_err(DbError::Connect)?;
        let pool = AnyPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(config.acquire_timeout)
            // A SQLite connection is a file handle that cannot go stale. A PostgreSQL one can
            // (server restart, idle timeout), but pinging it on every acquire doubles the
            // round trips of a short read: it is pinged when it sat idle long enough to have
            // gone stale unnoticed (sqlx's documented pattern for `before_acquire`).
            .test_before_acquire(false)
            .before_acquire(move |conn, meta| {
                Box::pin(async move {
                    if backend == Backend::Postgres && meta.idle_for >= STALE_AFTER {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .after_release(|conn, _meta| Box::pin(release_clean(conn)))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        for pragma in SQLITE_PRAGMAS {
                            conn.execute(*pragma).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(DbError::Connect)?;
        let migrator = match backend {
            Backend::Sqlite => migrations.sqlite,
            Backend::Postgres => migrations.postgres,
        };
        migrator.run(&pool).await.map_err(DbError::Migrate)?;
        tracing::info!(backend = ?backend, "database ready");
        Ok(Self {
            pool,
            backend,
            sqlite_writer: (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(()))),
            url: url.into(),
        })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Hold the returned guard across a write transaction. On SQLite, start the
    /// transaction with a write: a transaction that reads first and then writes gets
    /// SQLITE_BUSY at once (without the busy wait) while an earlier transaction, dropped on
    /// an error path, still awaits its rollback on another connection.
    pub async fn write_turn(&self) -> Option<OwnedMutexGuard<()>> {
        match &self.sqlite_writer {
            Some(lock) => Some(lock.clone().lock_owned().await),
            None => None,
        }
    }

    /// The file of a SQLite database, for code that opens its own connection to it; `None`
    /// for PostgreSQL and in-memory SQLite.
    pub fn sqlite_file(&self) -> Option<std::path::PathBuf> {
        match self.backend {
            Backend::Sqlite => sqlite_file_of(&self.url),
            Backend::Postgres => None,
        }
    }

    /// Readiness: can we still talk to the database?
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Waits for in-flight queries and closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Whether a connection handed back to the pool may serve the next caller: only outside any
/// transaction. A transaction that failed to commit *and* to roll back (a full disk, an I/O
/// error: SQLite may already have rolled it back itself, and then ROLLBACK fails too) leaves
/// sqlx counting one transaction open. Its next `begin` would become a SAVEPOINT inside that
/// transaction, which never commits: writes would be answered as done, seen only by that
/// connection, and lost on restart. Such a connection is closed instead (closing rolls back
/// whatever it still holds) and the pool opens a fresh one.
async fn release_clean(conn: &mut sqlx::AnyConnection) -> Result<bool, sqlx::Error> {
    if !conn.is_in_transaction() {
        return Ok(true);
    }
    // A transaction dropped without commit queues its rollback; run it, then look again.
    conn.ping().await?;
    if conn.is_in_transaction() {
        tracing::warn!("closing a database connection left inside a failed transaction");
        return Ok(false);
    }
    Ok(true)
}

/// Creates an empty SQLite file readable by its owner only, unless it exists: it will hold
/// patient data, and SQLite gives its WAL and shared-memory files the same mode.
fn create_private_file(path: &std::path::Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// The URL of a SQLite file, created when missing.
pub fn sqlite_file_url(path: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// The file a `sqlite:` URL names; `None` for an in-memory database.
fn sqlite_file_of(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let memory = path.is_empty() || path == ":memory:" || query.contains("mode=memory");
    (!memory).then(|| std::path::PathBuf::from(path))
}

/// True when the error is a unique-constraint violation (on either backend).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_file_of_reads_the_path_and_refuses_memory() {
        let file = |u: &str| sqlite_file_of(u).map(|p| p.display().to_string());
        assert_eq!(
            file("sqlite:///var/lib/iop/gw.db?mode=rwc").as_deref(),
            Some("/var/lib/iop/gw.db")
        );
        assert_eq!(file("sqlite://data/gw.db").as_deref(), Some("data/gw.db"));
        assert_eq!(file("sqlite:gw.db").as_deref(), Some("gw.db"));
        assert_eq!(
            file(&sqlite_file_url(std::path::Path::new("/tmp/x.db"))).as_deref(),
            Some("/tmp/x.db")
        );
        assert_eq!(file("sqlite::memory:"), None);
        assert_eq!(file("sqlite://"), None);
        assert_eq!(file("sqlite://shared?mode=memory&cache=shared"), None);
        assert_eq!(file("postgres://localhost/x"), None);
    }

    /// What a failed COMMIT followed by a failed ROLLBACK leaves behind (a full disk, an I/O
    /// error): a connection that is still inside a transaction when it goes back to the pool.
    /// Without the check on release, the next transaction on it was a savepoint inside the old
    /// one: answered as committed, seen only by that connection, gone after a restart.
    #[tokio::test]
    async fn a_connection_left_inside_a_transaction_never_serves_again() {
        static NONE: Migrator = Migrator::DEFAULT;
        let none = Migrations {
            sqlite: &NONE,
            postgres: &NONE,
        };
        let test_db = testing::TestDatabase::create("release").await;
        let one = PoolConfig {
            max_connections: 1,
            ..PoolConfig::default()
        };
        let db = Db::connect(test_db.url(), &none, &one).await.unwrap();
        sqlx::query("CREATE TABLE t (v BIGINT NOT NULL)")
            .execute(db.pool())
            .await
            .unwrap();

        let mut conn = db.pool().acquire().await.unwrap();
        let mut stuck = conn.begin().await.unwrap();
        sqlx::query("INSERT INTO t (v) VALUES (1)")
            .execute(&mut *stuck)
            .await
            .unwrap();
        // The transaction's end never reaches the connection.
        std::mem::forget(stuck);
        drop(conn);

        // The only connection of the pool serves the next write, which must really commit.
        let mut tx = db.pool().begin().await.unwrap();
        sqlx::query("INSERT INTO t (v) VALUES (2)")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();

        let other = Db::connect(test_db.url(), &none, &one).await.unwrap();
        let seen: Vec<i64> = sqlx::query_scalar("SELECT v FROM t ORDER BY v")
            .fetch_all(other.pool())
            .await
            .unwrap();
        assert_eq!(seen, [2], "the stuck write is gone, the next one committed");
        other.close().await;
        db.close().await;
    }
}
