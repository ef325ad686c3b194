//! `calendar_feeds`: a row per feed, its secret kept only as a SHA-256 digest.

use iop_core::{ClinicianId, Error, FeedId, RoomId, TenantId};
use iop_db::{Db, Filter};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::Feed;
use iop_kit::fields::optional_id;

#[derive(Debug, Default, Clone)]
pub struct FeedQuery {
    pub clinician: Option<ClinicianId>,
    pub room: Option<RoomId>,
    pub after: Option<(i64, FeedId)>,
    pub limit: usize,
}

const COLUMNS: &str = "id, clinician_id, room_id, revoked, created_by, create_time_us, \
    revoked_by, revoke_time_us";

pub fn position(f: &Feed) -> String {
    format!("{}:{}", f.create_time_us, f.id)
}

pub fn parse_position(s: &str) -> Result<(i64, FeedId), Error> {
    let bad = || Error::rule("page_token", "is not a token returned by this query");
    let (time, id) = s.split_once(':').ok_or_else(bad)?;
    Ok((
        time.parse().map_err(|_| bad())?,
        FeedId::parse("page_token", id).map_err(|_| bad())?,
    ))
}

fn from_row(r: &AnyRow) -> Result<Feed, Error> {
    let text = |c: &str| r.try_get::<String, _>(c).map_err(Error::internal);
    let int = |c: &str| r.try_get::<i64, _>(c).map_err(Error::internal);
    let bad = |what: &str| Error::internal(format!("stored calendar feed has a bad {what}"));
    let clinician = text("clinician_id")?;
    let room = text("room_id")?;
    Ok(Feed {
        id: FeedId::parse("id", &text("id")?).map_err(|_| bad("id"))?,
        clinician_id: optional_id("clinician_id", &clinician, ClinicianId::parse)
            .map_err(|_| bad("clinician"))?,
        room_id: optional_id("room_id", &room, RoomId::parse).map_err(|_| bad("room"))?,
        revoked: int("revoked")? != 0,
        created_by: text("created_by")?,
        create_time_us: int("create_time_us")?,
        revoked_by: text("revoked_by")?,
        revoke_time_us: int("revoke_time_us")?,
    })
}

#[derive(Clone)]
pub struct FeedStore {
    db: Db,
}

impl FeedStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub async fn insert(&self, tenant: &TenantId, f: &Feed, digest: &str) -> Result<(), Error> {
        let _turn = self.db.write_turn().await;
        sqlx::query(&format!(
            "INSERT INTO calendar_feeds (tenant_id, secret_sha256, {COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(tenant.as_str())
        .bind(digest)
        .bind(f.id.to_string())
        .bind(f.clinician_id.map(|c| c.to_string()).unwrap_or_default())
        .bind(f.room_id.map(|r| r.to_string()).unwrap_or_default())
        .bind(i64::from(f.revoked))
        .bind(&f.created_by)
        .bind(f.create_time_us)
        .bind(&f.revoked_by)
        .bind(f.revoke_time_us)
        .execute(self.db.pool())
        .await
        .map_err(Error::internal)?;
        Ok(())
    }

    pub async fn get(&self, tenant: &TenantId, id: FeedId) -> Result<Option<Feed>, Error> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM calendar_feeds WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.as_str())
        .bind(id.to_string())
        .fetch_optional(self.db.pool())
        .await
        .map_err(Error::internal)?
        .map(|r| from_row(&r))
        .transpose()
    }

    /// The feed of `tenant` whose secret has this digest.
    pub async fn by_digest(&self, tenant: &TenantId, digest: &str) -> Result<Option<Feed>, Error> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM calendar_feeds WHERE tenant_id = $1 AND secret_sha256 = $2"
        ))
        .bind(tenant.as_str())
        .bind(digest)
        .fetch_optional(self.db.pool())
        .await
        .map_err(Error::internal)?
        .map(|r| from_row(&r))
        .transpose()
    }

    pub async fn list(&self, tenant: &TenantId, q: &FeedQuery) -> Result<Vec<Feed>, Error> {
        let mut f = Filter::new(
            &format!("SELECT {COLUMNS} FROM calendar_feeds WHERE"),
            tenant.as_str(),
        );
        f.and_opt(" AND clinician_id = ?", q.clinician.map(|c| c.to_string()))
            .and_opt(" AND room_id = ?", q.room.map(|r| r.to_string()));
        if let Some((time, id)) = q.after {
            f.and(
                " AND (create_time_us > ? OR (create_time_us = ? AND id > ?))",
                [time.into(), time.into(), id.to_string().into()],
            );
        }
        f.page("create_time_us, id", q.limit)
            .fetch_all(self.db.pool())
            .await
            .map_err(Error::internal)?
            .iter()
            .map(from_row)
            .collect()
    }

    pub async fn revoke(
        &self,
        tenant: &TenantId,
        id: FeedId,
        by: &str,
        time_us: i64,
    ) -> Result<(), Error> {
        let _turn = self.db.write_turn().await;
        sqlx::query(
            "UPDATE calendar_feeds SET revoked = 1, revoked_by = $1, revoke_time_us = $2 \
             WHERE tenant_id = $3 AND id = $4 AND revoked = 0",
        )
        .bind(by)
        .bind(time_us)
        .bind(tenant.as_str())
        .bind(id.to_string())
        .execute(self.db.pool())
        .await
        .map_err(Error::internal)?;
        Ok(())
    }
}
