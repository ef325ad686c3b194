//! Read → check etag → write. A client sends back the etag it read (`If-Match`, or the
//! message's `etag`); a change made since is refused rather than overwritten. The write
//! itself is conditional on the version read (`… WHERE version = $n`), so two writers that
//! both passed the check cannot both win: the second gets [`stale`] too.

use iop_core::{Error, TenantId};
use iop_db::{Arg, Db};

/// Refuses the change unless `given` is empty (no check asked for) or the current etag.
pub fn check(
    given: &str,
    current: &str,
    kind: &str,
    id: &impl std::fmt::Display,
) -> Result<(), Error> {
    if given.is_empty() || given == current {
        Ok(())
    } else {
        Err(stale(kind, id))
    }
}

/// The answer to a change made on a stale read: 409 / ABORTED, telling the client to read
/// again.
pub fn stale(kind: &str, id: &impl std::fmt::Display) -> Error {
    Error::Conflict(format!(
        "{kind} {id} was changed by someone else since you read it (etag mismatch); read it again and retry"
    ))
}

/// A row kept whole and versioned (a clinician's week of hours, a kind's settings): the
/// columns that name it within the tenant, and the rest.
pub struct Whole<'a> {
    pub table: &'a str,
    pub key: &'a [(&'a str, Arg)],
    pub fields: &'a [(&'a str, Arg)],
}

fn bind<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    args: &'q [Arg],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for arg in args {
        q = match arg {
            Arg::Text(t) => q.bind(t.as_str()),
            Arg::Int(i) => q.bind(*i),
        };
    }
    q
}

/// Replaces the row — inserting it the first time (version 0 before) — unless `etag` is set
/// and not its version (refused as [`stale`], naming `kind` and `id`), with writes on the
/// row serialized on both databases; answers its new version.
pub async fn replace(
    db: &Db,
    tenant: &TenantId,
    row: Whole<'_>,
    etag: &str,
    kind: &str,
    id: &impl std::fmt::Display,
) -> Result<i64, Error> {
    let text = |a: &Arg| match a {
        Arg::Text(t) => t.clone(),
        Arg::Int(i) => i.to_string(),
    };
    let lock: Vec<String> = row.key.iter().map(|(_, v)| text(v)).collect();
    let mut tx = db
        .begin_serialized(&format!(
            "{}/{}/{}",
            tenant.as_str(),
            row.table,
            lock.join("/")
        ))
        .await
        .map_err(Error::internal)?;
    let key_args: Vec<Arg> = std::iter::once(Arg::Text(tenant.as_str().to_owned()))
        .chain(row.key.iter().map(|(_, v)| v.clone()))
        .collect();
    let naming: String = row
        .key
        .iter()
        .enumerate()
        .map(|(i, (c, _))| format!(" AND {c} = ${}", i + 2))
        .collect();
    let current: Option<i64> = bind(
        sqlx::query(&format!(
            "SELECT version FROM {} WHERE tenant_id = $1{naming}",
            row.table
        )),
        &key_args,
    )
    .fetch_optional(tx.conn())
    .await
    .map_err(Error::internal)
    .and_then(|r: Option<sqlx::any::AnyRow>| {
        r.map(|r| sqlx::Row::try_get::<i64, _>(&r, 0).map_err(Error::internal))
            .transpose()
    })?;
    let version = current.unwrap_or(0);
    check(etag, &version.to_string(), kind, id)?;
    let mut args = key_args;
    args.extend(row.fields.iter().map(|(_, v)| v.clone()));
    args.push(Arg::Int(version + 1));
    let columns: Vec<&str> = row.fields.iter().map(|(c, _)| *c).collect();
    let sql = if current.is_some() {
        let first = row.key.len() + 2;
        let sets: Vec<String> = columns
            .iter()
            .chain(["version"].iter())
            .enumerate()
            .map(|(i, c)| format!("{c} = ${}", first + i))
            .collect();
        format!(
            "UPDATE {} SET {} WHERE tenant_id = $1{naming}",
            row.table,
            sets.join(", ")
        )
    } else {
        let all: Vec<&str> = ["tenant_id"]
            .into_iter()
            .chain(row.key.iter().map(|(c, _)| *c))
            .chain(columns.iter().copied())
            .chain(["version"])
            .collect();
        let marks: Vec<String> = (1..=all.len()).map(|i| format!("${i}")).collect();
        format!(
            "INSERT INTO {} ({}) VALUES ({})",
            row.table,
            all.join(", "),
            marks.join(", ")
        )
    };
    bind(sqlx::query(&sql), &args)
        .execute(tx.conn())
        .await
        .map_err(Error::internal)?;
    tx.commit().await.map_err(Error::internal)?;
    Ok(version + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_or_current_etag_passes_a_stale_one_is_a_conflict() {
        assert!(check("", "3", "patient", &"p1").is_ok());
        assert!(check("3", "3", "patient", &"p1").is_ok());
        let err = check("2", "3", "patient", &"p1").unwrap_err();
        assert_eq!(err.code(), iop_core::ErrorCode::Conflict);
        assert!(
            err.to_string()
                .starts_with("patient p1 was changed by someone else")
        );
    }
}
