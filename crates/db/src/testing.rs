//! A fresh database per test. SQLite by default; set `IOP_TEST_DATABASE_URL` to a
//! PostgreSQL server URL (e.g. `postgres://postgres@127.0.0.1:5432/test`) to run the same
//! tests there: each test then gets its own database, dropped when the test ends.

use sqlx::{Connection, Executor, PgConnection};

/// Environment variable naming the PostgreSQL server for tests.
pub const TEST_DATABASE_ENV: &str = "IOP_TEST_DATABASE_URL";

pub struct TestDatabase {
    url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    /// Creates an empty database for one test.
    pub async fn create(label: &str) -> Self {
        match std::env::var(TEST_DATABASE_ENV) {
            Ok(admin_url) if !admin_url.is_empty() => {
                let name = format!("iop_t_{}_{}", label, uuid::Uuid::new_v4().simple());
                let mut conn = PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
                    panic!("cannot reach {TEST_DATABASE_ENV}={admin_url}: {e}")
                });
                conn.execute(format!("CREATE DATABASE \"{name}\"").as_str())
                    .await
                    .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
                let _ = conn.close().await;
                let url = replace_database(&admin_url, &name);
                Self {
                    url,
                    cleanup: Cleanup::Postgres { admin_url, name },
                }
            }
            _ => {
                let dir =
                    tempfile::tempdir().unwrap_or_else(|e| panic!("cannot create temp dir: {e}"));
                let url = crate::sqlite_file_url(&dir.path().join(format!("{label}.db")));
                Self {
                    url,
                    cleanup: Cleanup::Sqlite(dir),
                }
            }
        }
    }

    /// A fresh database for one test with `migrations` run, and a pool on it; keep the
    /// `TestDatabase` as long as the `Db`.
    pub async fn migrated(label: &str, migrations: &crate::Migrations) -> (Self, crate::Db) {
        let tdb = Self::create(label).await;
        let db = crate::Db::connect(tdb.url(), migrations, &Default::default())
            .await
            .unwrap_or_else(|e| panic!("cannot open the test database of {label}: {e}"));
        (tdb, db)
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.cleanup, Cleanup::Postgres { .. })
    }

    /// The PostgreSQL database's name and the server's admin URL (a superuser), for tests
    /// that change ownership or privileges; `None` on SQLite.
    pub fn postgres_admin(&self) -> Option<(&str, &str)> {
        match &self.cleanup {
            Cleanup::Postgres { admin_url, name } => Some((name, admin_url)),
            Cleanup::Sqlite(_) => None,
        }
    }

    /// This database's URL as another PostgreSQL user (trust authentication); `None` on
    /// SQLite.
    pub fn url_as(&self, user: &str) -> Option<String> {
        self.postgres_admin()?;
        let (scheme, rest) = self.url.split_once("://")?;
        let host = rest.split_once('@').map_or(rest, |(_, host)| host);
        Some(format!("{scheme}://{user}@{host}"))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Cleanup::Postgres { admin_url, name } = &self.cleanup {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs outside any runtime guarantee: use a thread with its own runtime.
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async move {
                    if let Ok(mut conn) = PgConnection::connect(&admin_url).await {
                        let _ = conn
                            .execute(
                                format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str(),
                            )
                            .await;
                        let _ = conn.close().await;
                    }
                });
            })
            .join();
        }
    }
}

/// Swaps the database name in a PostgreSQL URL, keeping host, user and parameters.
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[scheme_end..].find('/').map(|i| i + scheme_end);
    let host = match path_start {
        Some(i) => &base[..i],
        None => base,
    };
    match query {
        Some(q) => format!("{host}/{name}?{q}"),
        None => format!("{host}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::replace_database;

    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            replace_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            replace_database("postgres://127.0.0.1?sslmode=disable", "x"),
            "postgres://127.0.0.1/x?sslmode=disable"
        );
    }
}
