//! Idempotency keys of create calls (the REST `Idempotency-Key` header, `request_id` in
//! gRPC): a retry with the same key and the same request returns what the first call
//! created; the same key with a different request is refused.

use iop_core::{Error, TenantId, page};
use iop_db::{Db, is_unique_violation};
use sqlx::Row;

/// The shape of a key, as a pattern for API documents: up to 255 printable ASCII characters
/// (none: empty). [`Key::parse`] checks the same.
pub const KEY_PATTERN: &str = "^[!-~]{0,255}$";

/// A client's key and a fingerprint of the request it came with.
#[derive(Debug, Clone)]
pub struct Key<'a> {
    pub key: &'a str,
    pub fingerprint: i64,
}

impl<'a> Key<'a> {
    /// `None` without a key. `request` is fingerprinted through its `Debug` form, which
    /// covers every field and is stable across processes (unlike std's hasher).
    pub fn parse(
        request_id: &'a str,
        request: &impl std::fmt::Debug,
    ) -> Result<Option<Self>, Error> {
        if request_id.is_empty() {
            return Ok(None);
        }
        if request_id.len() > 255 || !request_id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::field(
                "request_id",
                "must be 1-255 printable ASCII characters",
            ));
        }
        Ok(Some(Self {
            key: request_id,
            fingerprint: page::fingerprint(&[&format!("{request:?}")]) as i64,
        }))
    }
}

/// The outcome of claiming a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// First use: go on and create.
    New,
    /// Used before for the same request, which created this resource id.
    Earlier(String),
    /// Used before for a different request.
    Reused,
}

/// What a create answers for its claim: `made` when new; when the key was used before for
/// the same request, what that call made (read by `earlier` from its id); a key used for a
/// different request is refused, naming `request_id` ("was already used to {refused}", e.g.
/// "open a different episode") as unprocessable: the request is well formed, the key's earlier
/// use is what refuses it (draft-ietf-httpapi-idempotency-key-header §2.7: 422 for a key
/// reused with another payload).
pub async fn answer<T, F, Fut>(claim: Claim, made: T, refused: &str, earlier: F) -> Result<T, Error>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    match claim {
        Claim::New => Ok(made),
        Claim::Earlier(id) => earlier(id).await,
        Claim::Reused => Err(Error::rule(
            "request_id",
            format!("was already used to {refused}"),
        )),
    }
}

/// Claims `key` for `kind` inside `tx`, recording `resource_id` as what it creates. On a
/// key already claimed the transaction is spent; the caller drops it and returns what
/// [`earlier`] reports.
pub async fn claim(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: &TenantId,
    kind: &str,
    key: &Key<'_>,
    resource_id: &str,
    now_us: i64,
) -> Result<bool, Error> {
    let claimed = sqlx::query(
        "INSERT INTO create_requests (tenant_id, kind, request_id, fingerprint, resource_id, create_time_us) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(tenant.as_str())
    .bind(kind)
    .bind(key.key)
    .bind(key.fingerprint)
    .bind(resource_id)
    .bind(now_us)
    .execute(&mut **tx)
    .await;
    match claimed {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(Error::internal(e)),
    }
}

/// What the first use of a claimed key created.
pub async fn earlier(
    db: &Db,
    tenant: &TenantId,
    kind: &str,
    key: &Key<'_>,
) -> Result<Claim, Error> {
    let row = sqlx::query(
        "SELECT fingerprint, resource_id FROM create_requests \
         WHERE tenant_id = $1 AND kind = $2 AND request_id = $3",
    )
    .bind(tenant.as_str())
    .bind(kind)
    .bind(key.key)
    .fetch_one(db.pool())
    .await
    .map_err(Error::internal)?;
    let fingerprint: i64 = row.try_get("fingerprint").map_err(Error::internal)?;
    if fingerprint != key.fingerprint {
        return Ok(Claim::Reused);
    }
    Ok(Claim::Earlier(
        row.try_get("resource_id").map_err(Error::internal)?,
    ))
}

/// The fresh transaction of a [`Started`] create, or — its key was used before — `return
/// Ok(claim)` from the calling function:
/// `let mut tx = iop_kit::fresh!(idempotency::begin_create(…).await?);`
#[macro_export]
macro_rules! fresh {
    ($started:expr) => {
        match $started {
            $crate::idempotency::Started::Fresh(tx) => tx,
            $crate::idempotency::Started::Done(claim) => return Ok(claim),
        }
    };
}

/// How a create transaction started: fresh, or the key was used before.
pub enum Started {
    Fresh(Creating),
    Done(Claim),
}

/// The transaction of a create, holding the database's write turn (SQLite's one writer at a
/// time) until it commits or is dropped. Queries run on it as on the transaction
/// (`.execute(&mut *tx)`).
pub struct Creating {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Creating {
    /// The transaction itself, for code written against one.
    pub fn transaction(&mut self) -> &mut sqlx::Transaction<'static, sqlx::Any> {
        &mut self.tx
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl std::ops::Deref for Creating {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &sqlx::AnyConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for Creating {
    fn deref_mut(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }
}

/// Takes the database's write turn and begins the transaction that creates `resource_id`,
/// claiming `key` (if any) in it first.
pub async fn begin_create(
    db: &Db,
    tenant: &TenantId,
    kind: &str,
    key: Option<&Key<'_>>,
    resource_id: &str,
    now_us: i64,
) -> Result<Started, Error> {
    begin_create_in_turn(
        db,
        db.write_turn().await,
        tenant,
        kind,
        key,
        resource_id,
        now_us,
    )
    .await
}

/// As [`begin_create`], for a caller that took the write turn earlier (to check a cap
/// before creating, say).
pub async fn begin_create_in_turn(
    db: &Db,
    turn: Option<tokio::sync::OwnedMutexGuard<()>>,
    tenant: &TenantId,
    kind: &str,
    key: Option<&Key<'_>>,
    resource_id: &str,
    now_us: i64,
) -> Result<Started, Error> {
    let mut tx = db.pool().begin().await.map_err(Error::internal)?;
    if let Some(key) = key
        && !claim(&mut tx, tenant, kind, key, resource_id, now_us).await?
    {
        drop(tx);
        drop(turn);
        return Ok(Started::Done(earlier(db, tenant, kind, key).await?));
    }
    Ok(Started::Fresh(Creating { tx, _turn: turn }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `KEY_PATTERN` (printable ASCII `!`..`~`, at most 255) says what `Key::parse` takes.
    #[test]
    fn the_documented_pattern_is_what_parse_takes() {
        assert!(KEY_PATTERN.contains("[!-~]{0,255}"));
        assert!(Key::parse("", &1).unwrap().is_none());
        assert!(Key::parse("!~az09", &1).unwrap().is_some());
        assert!(Key::parse(&"k".repeat(255), &1).unwrap().is_some());
        for bad in ["a b".to_owned(), "é".to_owned(), "k".repeat(256)] {
            assert!(Key::parse(&bad, &1).is_err(), "{bad}");
        }
    }
}
