//! Clinicians in the database: one row each; credentials and kinds as comma-separated codes.

use iop_core::{ClinicianId, Error, TenantId};
use iop_db::{Db, Filter, is_unique_violation};
use iop_kit::idempotency::{self, Claim, Key};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{AppointmentKind, Clinician, Credential};

#[derive(Clone)]
pub struct ClinicianStore {
    db: Db,
}

#[derive(Debug, Default)]
pub struct ClinicianQuery {
    pub kind: Option<AppointmentKind>,
    pub active_only: bool,
    pub after: Option<ClinicianId>,
    pub limit: usize,
}

const COLUMNS: &str =
    "id, given_name, family_name, credentials, npi, kinds, active, user_id, create_time_us";

/// `,a,b,`: every code between commas, so `LIKE '%,b,%'` finds one.
fn codes<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let joined: Vec<&str> = items.collect();
    format!(",{},", joined.join(","))
}

impl ClinicianStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub async fn insert(
        &self,
        tenant: &TenantId,
        c: &Clinician,
        key: Option<&Key<'_>>,
    ) -> Result<Claim, Error> {
        let mut tx = iop_kit::fresh!(
            idempotency::begin_create(
                &self.db,
                tenant,
                super::KIND,
                key,
                &c.id.to_string(),
                c.create_time_us,
            )
            .await?
        );
        sqlx::query(&format!(
            "INSERT INTO clinicians (tenant_id, {COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(tenant.as_str())
        .bind(c.id.to_string())
        .bind(&c.given_name)
        .bind(&c.family_name)
        .bind(codes(c.credentials.iter().map(|x| x.as_str())))
        .bind(&c.npi)
        .bind(codes(c.kinds.iter().map(|x| x.as_str())))
        .bind(i64::from(c.active))
        .bind(&c.user_id)
        .bind(c.create_time_us)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::AlreadyExists(
                    "clinician: another clinician of this clinic has this NPI or user id".into(),
                )
            } else {
                Error::internal(e)
            }
        })?;
        tx.commit().await.map_err(Error::internal)?;
        Ok(Claim::New)
    }

    pub async fn get(
        &self,
        tenant: &TenantId,
        id: ClinicianId,
    ) -> Result<Option<Clinician>, Error> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM clinicians WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.as_str())
        .bind(id.to_string())
        .fetch_optional(self.db.pool())
        .await
        .map_err(Error::internal)?
        .map(|r| from_row(&r))
        .transpose()
    }

    /// The clinician whose tokens' `sub` is `user`.
    pub async fn by_user(&self, tenant: &TenantId, user: &str) -> Result<Option<Clinician>, Error> {
        if user.is_empty() {
            return Ok(None);
        }
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM clinicians WHERE tenant_id = $1 AND user_id = $2"
        ))
        .bind(tenant.as_str())
        .bind(user)
        .fetch_optional(self.db.pool())
        .await
        .map_err(Error::internal)?
        .map(|r| from_row(&r))
        .transpose()
    }

    pub async fn list(
        &self,
        tenant: &TenantId,
        q: &ClinicianQuery,
    ) -> Result<Vec<Clinician>, Error> {
        let mut f = Filter::new(
            &format!("SELECT {COLUMNS} FROM clinicians WHERE"),
            tenant.as_str(),
        );
        f.and_opt(
            " AND kinds LIKE ?",
            q.kind.map(|k| format!("%,{},%", k.as_str())),
        )
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

fn from_row(r: &AnyRow) -> Result<Clinician, Error> {
    let text = |c: &str| r.try_get::<String, _>(c).map_err(Error::internal);
    let bad = |what: &str| Error::internal(format!("stored clinician has a bad {what}"));
    let list = |c: &str| -> Result<Vec<String>, Error> {
        Ok(text(c)?
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect())
    };
    Ok(Clinician {
        id: ClinicianId::parse("id", &text("id")?).map_err(|_| bad("id"))?,
        given_name: text("given_name")?,
        family_name: text("family_name")?,
        credentials: list("credentials")?
            .iter()
            .map(|s| Credential::parse(s).ok_or_else(|| bad("credential")))
            .collect::<Result<_, _>>()?,
        npi: text("npi")?,
        kinds: list("kinds")?
            .iter()
            .map(|s| AppointmentKind::parse(s).ok_or_else(|| bad("kind")))
            .collect::<Result<_, _>>()?,
        active: r.try_get::<i64, _>("active").map_err(Error::internal)? != 0,
        user_id: text("user_id")?,
        create_time_us: r.try_get("create_time_us").map_err(Error::internal)?,
    })
}
