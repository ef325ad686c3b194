//! Rooms in the database: one row each, keyed by tenant and id.

use iop_core::{Error, LocationId, RoomId, TenantId};
use iop_db::{Db, Filter, is_unique_violation};
use iop_kit::idempotency::{self, Claim, Key};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::Room;

#[derive(Clone)]
pub struct RoomStore {
    db: Db,
}

#[derive(Debug, Default)]
pub struct RoomQuery {
    pub location: Option<LocationId>,
    pub active_only: bool,
    pub after: Option<RoomId>,
    pub limit: usize,
}

const COLUMNS: &str = "id, location_id, name, capacity, active, create_time_us";

impl RoomStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Stores a room of an existing location of the clinic (404 naming it otherwise).
    pub async fn insert(
        &self,
        tenant: &TenantId,
        room: &Room,
        key: Option<&Key<'_>>,
    ) -> Result<Claim, Error> {
        let mut tx = iop_kit::fresh!(
            idempotency::begin_create(
                &self.db,
                tenant,
                super::KIND,
                key,
                &room.id.to_string(),
                room.create_time_us,
            )
            .await?
        );
        let location = sqlx::query("SELECT 1 FROM locations WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(room.location_id.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(Error::internal)?;
        if location.is_none() {
            return Err(Error::NotFound {
                kind: "location",
                id: room.location_id.to_string(),
            });
        }
        sqlx::query(&format!(
            "INSERT INTO rooms (tenant_id, name_key, {COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(tenant.as_str())
        .bind(room.name.to_lowercase())
        .bind(room.id.to_string())
        .bind(room.location_id.to_string())
        .bind(&room.name)
        .bind(i64::from(room.capacity))
        .bind(i64::from(room.active))
        .bind(room.create_time_us)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::AlreadyExists(format!(
                    "room.name: this location already has a room named {:?}",
                    room.name
                ))
            } else {
                Error::internal(e)
            }
        })?;
        tx.commit().await.map_err(Error::internal)?;
        Ok(Claim::New)
    }

    pub async fn get(&self, tenant: &TenantId, id: RoomId) -> Result<Option<Room>, Error> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM rooms WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.as_str())
        .bind(id.to_string())
        .fetch_optional(self.db.pool())
        .await
        .map_err(Error::internal)?
        .map(|r| from_row(&r))
        .transpose()
    }

    pub async fn list(&self, tenant: &TenantId, q: &RoomQuery) -> Result<Vec<Room>, Error> {
        let mut f = Filter::new(
            &format!("SELECT {COLUMNS} FROM rooms WHERE"),
            tenant.as_str(),
        );
        f.and_opt(" AND location_id = ?", q.location.map(|l| l.to_string()))
            .and_opt(" AND active = ?", q.active_only.then_some(1i64))
            .and_opt(" AND id > ?", q.after.map(|a| a.to_string()));
        f.page("id", q.limit)
            .fetch_all(self.db.pool())
            .await
            .map_err(Error::internal)?
            .iter()
            .map(from_row)
            .collect()
    }
}

fn from_row(r: &AnyRow) -> Result<Room, Error> {
    let text = |c: &str| r.try_get::<String, _>(c).map_err(Error::internal);
    let bad = |what: &str| Error::internal(format!("stored room has a bad {what}"));
    Ok(Room {
        id: RoomId::parse("id", &text("id")?).map_err(|_| bad("id"))?,
        location_id: LocationId::parse("location_id", &text("location_id")?)
            .map_err(|_| bad("location id"))?,
        name: text("name")?,
        capacity: i32::try_from(r.try_get::<i64, _>("capacity").map_err(Error::internal)?)
            .map_err(|_| bad("capacity"))?,
        active: r.try_get::<i64, _>("active").map_err(Error::internal)? != 0,
        create_time_us: r.try_get("create_time_us").map_err(Error::internal)?,
    })
}
