//! Locations in the database: one row each, keyed by tenant and id.

use iop_core::{Error, LocationId, TenantId};
use iop_db::{Db, Filter, is_unique_violation};
use iop_kit::idempotency::{self, Claim, Key};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::Location;

#[derive(Clone)]
pub struct LocationStore {
    db: Db,
}

const COLUMNS: &str = "id, name, time_zone, address, create_time_us";

impl LocationStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub async fn insert(
        &self,
        tenant: &TenantId,
        l: &Location,
        key: Option<&Key<'_>>,
    ) -> Result<Claim, Error> {
        let mut tx = iop_kit::fresh!(
            idempotency::begin_create(
                &self.db,
                tenant,
                super::KIND,
                key,
                &l.id.to_string(),
                l.create_time_us,
            )
            .await?
        );
        sqlx::query(&format!(
            "INSERT INTO locations (tenant_id, name_key, {COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(tenant.as_str())
        .bind(l.name.to_lowercase())
        .bind(l.id.to_string())
        .bind(&l.name)
        .bind(&l.time_zone)
        .bind(&l.address)
        .bind(l.create_time_us)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::AlreadyExists(format!(
                    "location.name: this clinic already has a location named {:?}",
                    l.name
                ))
            } else {
                Error::internal(e)
            }
        })?;
        tx.commit().await.map_err(Error::internal)?;
        Ok(Claim::New)
    }

    pub async fn get(&self, tenant: &TenantId, id: LocationId) -> Result<Option<Location>, Error> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM locations WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.as_str())
        .bind(id.to_string())
        .fetch_optional(self.db.pool())
        .await
        .map_err(Error::internal)?
        .map(|r| from_row(&r))
        .transpose()
    }

    /// Up to `limit` locations after `after`, oldest first.
    pub async fn list(
        &self,
        tenant: &TenantId,
        after: Option<LocationId>,
        limit: usize,
    ) -> Result<Vec<Location>, Error> {
        let mut f = Filter::new(
            &format!("SELECT {COLUMNS} FROM locations WHERE"),
            tenant.as_str(),
        );
        f.and_opt(" AND id > ?", after.map(|a| a.to_string()));
        f.page("id", limit)
            .fetch_all(self.db.pool())
            .await
            .map_err(Error::internal)?
            .iter()
            .map(from_row)
            .collect()
    }
}

fn from_row(r: &AnyRow) -> Result<Location, Error> {
    let text = |c: &str| r.try_get::<String, _>(c).map_err(Error::internal);
    Ok(Location {
        id: LocationId::parse("id", &text("id")?)
            .map_err(|_| Error::internal("stored location has a bad id"))?,
        name: text("name")?,
        time_zone: text("time_zone")?,
        address: text("address")?,
        create_time_us: r.try_get("create_time_us").map_err(Error::internal)?,
    })
}
