//! Programs in the database: one row each, keyed by tenant and id.

use iop_core::{ClinicianId, Error, ProgramId, TenantId};
use iop_db::{Db, Filter, is_unique_violation};
use iop_kit::idempotency::{self, Claim, Key};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{LevelOfCare, Modality, Population, Program, Treatment};
use crate::columns;

#[derive(Clone)]
pub struct ProgramStore {
    db: Db,
}

const COLUMNS: &str = "id, name, description, population, level_of_care, substance_use_disorder, \
    therapies, modality, expected_weeks, weekly_minutes, staff_clinician_ids, active, \
    create_time_us, version";

impl ProgramStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub async fn insert(
        &self,
        tenant: &TenantId,
        p: &Program,
        key: Option<&Key<'_>>,
    ) -> Result<Claim, Error> {
        let mut tx = iop_kit::fresh!(
            idempotency::begin_create(
                &self.db,
                tenant,
                super::KIND,
                key,
                &p.id.to_string(),
                p.create_time_us,
            )
            .await?
        );
        // tenant, id, the fields, create time, version.
        let sql = format!(
            "INSERT INTO programs (tenant_id, id, {FIELDS}, create_time_us, version) VALUES {}",
            iop_db::value_rows(2, 1, FIELDS.split(',').count() + 2)
        );
        bind_fields(
            sqlx::query(&sql)
                .bind(tenant.as_str())
                .bind(p.id.to_string()),
            p,
        )
        .bind(p.create_time_us)
        .bind(p.version)
        .execute(&mut *tx)
        .await
        .map_err(|e| name_taken(e, p))?;
        tx.commit().await.map_err(Error::internal)?;
        Ok(Claim::New)
    }

    /// Writes `p` over the stored program if that is still at `version`; `false` if it has
    /// changed since.
    pub async fn update(
        &self,
        tenant: &TenantId,
        p: &Program,
        version: i64,
    ) -> Result<bool, Error> {
        let fields: Vec<&str> = FIELDS.split(',').map(str::trim).collect();
        let sets: Vec<String> = fields
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c} = ${}", i + 3))
            .collect();
        let n = fields.len();
        let sql = format!(
            "UPDATE programs SET {}, version = ${} WHERE tenant_id = $1 AND id = $2 \
             AND version = ${}",
            sets.join(", "),
            n + 3,
            n + 4
        );
        let done = bind_fields(
            sqlx::query(&sql)
                .bind(tenant.as_str())
                .bind(p.id.to_string()),
            p,
        )
        .bind(p.version)
        .bind(version)
        .execute(self.db.pool())
        .await
        .map_err(|e| name_taken(e, p))?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn get(&self, tenant: &TenantId, id: ProgramId) -> Result<Option<Program>, Error> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM programs WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.as_str())
        .bind(id.to_string())
        .fetch_optional(self.db.pool())
        .await
        .map_err(Error::internal)?
        .map(|r| from_row(&r))
        .transpose()
    }

    /// Up to `limit` programs after `after` (only active ones if `active_only`), oldest
    /// first.
    pub async fn list(
        &self,
        tenant: &TenantId,
        after: Option<ProgramId>,
        active_only: bool,
        limit: usize,
    ) -> Result<Vec<Program>, Error> {
        let mut f = Filter::new(
            &format!("SELECT {COLUMNS} FROM programs WHERE"),
            tenant.as_str(),
        );
        f.and_opt(" AND id > ?", after.map(|a| a.to_string()));
        if active_only {
            f.push(" AND active = 1");
        }
        f.page("id", limit)
            .fetch_all(self.db.pool())
            .await
            .map_err(Error::internal)?
            .iter()
            .map(from_row)
            .collect()
    }
}

/// What a create writes and an update rewrites, in the order [`bind_fields`] binds them.
const FIELDS: &str = "name_key, name, description, population, level_of_care, \
    substance_use_disorder, therapies, modality, expected_weeks, weekly_minutes, \
    staff_clinician_ids, active";

/// Binds `p`'s [`FIELDS`] to `q`, after what it bound already.
fn bind_fields<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    p: &'q Program,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    q.bind(p.name.to_lowercase())
        .bind(&p.name)
        .bind(&p.description)
        .bind(p.population.as_str())
        .bind(p.level_of_care.as_str())
        .bind(i64::from(p.substance_use_disorder))
        .bind(columns::join(p.therapies.iter().map(|t| t.as_str())))
        .bind(p.modality.as_str())
        .bind(i64::from(p.expected_weeks))
        .bind(i64::from(p.weekly_minutes))
        .bind(columns::join(&p.staff_clinician_ids))
        .bind(i64::from(p.active))
}

/// A write refused by the unique name: 409 naming it; anything else is internal.
fn name_taken(e: sqlx::Error, p: &Program) -> Error {
    if is_unique_violation(&e) {
        Error::AlreadyExists(format!(
            "program.name: this clinic already has a program named {:?}",
            p.name
        ))
    } else {
        Error::internal(e)
    }
}

fn from_row(r: &AnyRow) -> Result<Program, Error> {
    let text = |c: &str| r.try_get::<String, _>(c).map_err(Error::internal);
    let int = |c: &str| r.try_get::<i64, _>(c).map_err(Error::internal);
    let bad = |what: &str| Error::internal(format!("stored program has a bad {what}"));
    Ok(Program {
        id: ProgramId::parse("id", &text("id")?).map_err(|_| bad("id"))?,
        name: text("name")?,
        description: text("description")?,
        population: Population::parse(&text("population")?).ok_or_else(|| bad("population"))?,
        level_of_care: LevelOfCare::parse(&text("level_of_care")?)
            .ok_or_else(|| bad("level of care"))?,
        substance_use_disorder: int("substance_use_disorder")? != 0,
        therapies: columns::split(&text("therapies")?, |t| Treatment::parse(t).ok_or(()))
            .map_err(|_| bad("therapy"))?,
        modality: Modality::parse(&text("modality")?).ok_or_else(|| bad("modality"))?,
        expected_weeks: i32::try_from(int("expected_weeks")?).map_err(|_| bad("length"))?,
        weekly_minutes: i32::try_from(int("weekly_minutes")?).map_err(|_| bad("minutes"))?,
        staff_clinician_ids: columns::split(&text("staff_clinician_ids")?, |s| {
            ClinicianId::parse("id", s)
        })
        .map_err(|_| bad("clinician id"))?,
        active: int("active")? != 0,
        create_time_us: int("create_time_us")?,
        version: int("version")?,
    })
}
