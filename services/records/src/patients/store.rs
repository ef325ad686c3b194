//! Patient persistence. Every query is scoped by the tenant of the caller's principal.

use iop_core::{Error, PatientId, TenantId};
use iop_db::Filter;
use iop_db::{Db, is_unique_violation};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::domain::{Contact, Identifier, Patient, PatientFields, Sex};
use iop_kit::idempotency::{self, Claim, Key};

#[derive(Clone)]
pub struct Store {
    db: Db,
}

/// Filters of a patient list.
#[derive(Debug, Default, Clone)]
pub struct ListQuery {
    /// LIKE pattern over the lower-cased names (see `domain::name_pattern`).
    pub name_pattern: Option<String>,
    pub identifier: Option<IdentifierFilter>,
}

#[derive(Debug, Clone)]
pub enum IdentifierFilter {
    Mrn(String),
    System { system: String, value: String },
}

const COLUMNS: &str = "id, given_name, middle_name, family_name, preferred_name, birth_date, sex_at_birth, \
     gender_identity, pronouns, contact, mrn, identifiers, version, create_time_us, update_time_us";

impl Store {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Inserts `p`. With an idempotency key, the key is claimed in the same transaction;
    /// if it was claimed before, nothing is written and the earlier outcome is returned.
    pub async fn insert(
        &self,
        tenant: &TenantId,
        p: &Patient,
        request: Option<&Key<'_>>,
    ) -> Result<Claim, Error> {
        let mut tx = iop_kit::fresh!(
            idempotency::begin_create(
                &self.db,
                tenant,
                "patient",
                request,
                &p.id.to_string(),
                p.create_time_us,
            )
            .await?
        );
        let insert = sqlx::query(
            "INSERT INTO patients (tenant_id, id, given_name, middle_name, family_name, preferred_name, \
             birth_date, sex_at_birth, gender_identity, pronouns, contact, mrn, identifiers, search_name, \
             version, create_time_us, update_time_us) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        );
        bind_row(insert, tenant, p)?
            .bind(p.version)
            .bind(p.create_time_us)
            .bind(p.update_time_us)
            .execute(&mut *tx)
            .await
            .map_err(unique_as_conflict)?;
        insert_identifiers(tx.transaction(), tenant, p).await?;
        tx.commit().await.map_err(Error::internal)?;
        Ok(Claim::New)
    }

    pub async fn get(&self, tenant: &TenantId, id: PatientId) -> Result<Option<Patient>, Error> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM patients WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.as_str())
        .bind(id.to_string())
        .fetch_optional(self.db.pool())
        .await
        .map_err(Error::internal)?;
        row.map(|r| patient_from_row(&r)).transpose()
    }

    /// Up to `limit` patients in id (creation) order, after `after` when given.
    pub async fn list(
        &self,
        tenant: &TenantId,
        query: &ListQuery,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Patient>, Error> {
        let mut f = Filter::new(
            &format!("SELECT {COLUMNS} FROM patients WHERE"),
            tenant.as_str(),
        );
        f.and_opt(" AND id > ?", after).and_opt(
            " AND search_name LIKE ? ESCAPE '\\'",
            query.name_pattern.clone(),
        );
        match &query.identifier {
            Some(IdentifierFilter::Mrn(m)) => {
                f.and(" AND mrn = ?", [m.as_str().into()]);
            }
            Some(IdentifierFilter::System { system, value }) => {
                f.and(
                    " AND id IN (SELECT patient_id FROM patient_identifiers \
                     WHERE tenant_id = $1 AND system = ? AND value = ?)",
                    [system.as_str().into(), value.as_str().into()],
                );
            }
            None => {}
        }
        f.page("id", limit)
            .fetch_all(self.db.pool())
            .await
            .map_err(Error::internal)?
            .iter()
            .map(patient_from_row)
            .collect()
    }

    /// Writes `p` if the stored version is still `expected_version`; returns false when
    /// another writer got there first (or the patient is gone).
    pub async fn update(
        &self,
        tenant: &TenantId,
        p: &Patient,
        expected_version: i64,
    ) -> Result<bool, Error> {
        let _turn = self.db.write_turn().await;
        let mut tx = self.db.pool().begin().await.map_err(Error::internal)?;
        let update = sqlx::query(
            "UPDATE patients SET given_name = $3, middle_name = $4, family_name = $5, preferred_name = $6, \
             birth_date = $7, sex_at_birth = $8, gender_identity = $9, pronouns = $10, contact = $11, \
             mrn = $12, identifiers = $13, search_name = $14, version = $15, update_time_us = $16 \
             WHERE tenant_id = $1 AND id = $2 AND version = $17",
        );
        let done = bind_row(update, tenant, p)?
            .bind(p.version)
            .bind(p.update_time_us)
            .bind(expected_version)
            .execute(&mut *tx)
            .await
            .map_err(unique_as_conflict)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM patient_identifiers WHERE tenant_id = $1 AND patient_id = $2")
            .bind(tenant.as_str())
            .bind(p.id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(Error::internal)?;
        insert_identifiers(&mut tx, tenant, p).await?;
        tx.commit().await.map_err(Error::internal)?;
        Ok(true)
    }
}

/// NOT_FOUND unless `patient` is a patient of `tenant`. Check it before
/// `idempotency::begin_create`, not inside the transaction: patients are never deleted, and a write
/// transaction that starts with a read fails at once on SQLite (SQLITE_BUSY, no busy wait)
/// when an earlier transaction's rollback is still pending on another connection.
pub async fn require_patient(db: &Db, tenant: &TenantId, patient: PatientId) -> Result<(), Error> {
    let found = sqlx::query("SELECT 1 FROM patients WHERE tenant_id = $1 AND id = $2")
        .bind(tenant.as_str())
        .bind(patient.to_string())
        .fetch_optional(db.pool())
        .await
        .map_err(Error::internal)?;
    match found {
        Some(_) => Ok(()),
        None => Err(Error::NotFound {
            kind: "patient",
            id: patient.to_string(),
        }),
    }
}

/// A field error on `field` unless `episode` (when given) is an episode of `patient`.
pub async fn require_episode_of(
    db: &Db,
    tenant: &TenantId,
    episode: Option<iop_core::EpisodeId>,
    patient: PatientId,
    field: &str,
) -> Result<(), Error> {
    let Some(episode) = episode else {
        return Ok(());
    };
    let found =
        sqlx::query("SELECT 1 FROM episodes WHERE tenant_id = $1 AND id = $2 AND patient_id = $3")
            .bind(tenant.as_str())
            .bind(episode.to_string())
            .bind(patient.to_string())
            .fetch_optional(db.pool())
            .await
            .map_err(Error::internal)?;
    match found {
        Some(_) => Ok(()),
        // The request is well formed; the record has no such episode of this patient.
        None => Err(Error::Unmet(vec![iop_core::FieldViolation {
            field: field.to_owned(),
            description: "is not an episode of this patient".into(),
        }])),
    }
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Binds $1 tenant, $2 id and $3..$14 the patient's fields, as both INSERT and UPDATE
/// number them.
fn bind_row<'q>(
    q: AnyQuery<'q>,
    tenant: &'q TenantId,
    p: &'q Patient,
) -> Result<AnyQuery<'q>, Error> {
    let f = &p.fields;
    Ok(q.bind(tenant.as_str())
        .bind(p.id.to_string())
        .bind(&f.given_name)
        .bind(&f.middle_name)
        .bind(&f.family_name)
        .bind(&f.preferred_name)
        .bind(birth_date_text(f))
        .bind(f.sex_at_birth.as_str())
        .bind(&f.gender_identity)
        .bind(&f.pronouns)
        .bind(json(&f.contact)?)
        .bind(f.mrn.clone())
        .bind(json(&f.identifiers)?)
        .bind(f.search_name()))
}

async fn insert_identifiers(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: &TenantId,
    p: &Patient,
) -> Result<(), Error> {
    for id in &p.fields.identifiers {
        sqlx::query("INSERT INTO patient_identifiers (tenant_id, system, value, patient_id) VALUES ($1, $2, $3, $4)")
            .bind(tenant.as_str())
            .bind(&id.system)
            .bind(&id.value)
            .bind(p.id.to_string())
            .execute(&mut **tx)
            .await
            .map_err(unique_as_conflict)?;
    }
    Ok(())
}

/// Unique violations are the client's business (a duplicate MRN or identifier); anything
/// else is ours.
fn unique_as_conflict(err: sqlx::Error) -> Error {
    if is_unique_violation(&err) {
        let text = err.to_string();
        if text.contains("mrn") {
            Error::AlreadyExists("mrn: another patient of this clinic has this MRN".into())
        } else {
            Error::AlreadyExists(
                "identifiers: another patient of this clinic has one of these identifiers".into(),
            )
        }
    } else {
        Error::internal(err)
    }
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(Error::internal)
}

fn birth_date_text(f: &PatientFields) -> String {
    f.birth_date
        .map(iop_kit::dates::date_text)
        .unwrap_or_default()
}

fn patient_from_row(row: &AnyRow) -> Result<Patient, Error> {
    let text = |col: &str| row.try_get::<String, _>(col).map_err(Error::internal);
    let corrupt = |what: &str| Error::internal(format!("stored patient has an invalid {what}"));
    let id = PatientId::parse("id", &text("id")?).map_err(|_| corrupt("id"))?;
    let birth_date = iop_kit::dates::parse_date_text(&text("birth_date")?)
        .ok_or_else(|| corrupt("birth_date"))?;
    let contact: Contact =
        serde_json::from_str(&text("contact")?).map_err(|_| corrupt("contact"))?;
    let identifiers: Vec<Identifier> =
        serde_json::from_str(&text("identifiers")?).map_err(|_| corrupt("identifiers"))?;
    Ok(Patient {
        id,
        fields: PatientFields {
            given_name: text("given_name")?,
            middle_name: text("middle_name")?,
            family_name: text("family_name")?,
            preferred_name: text("preferred_name")?,
            birth_date: Some(birth_date),
            sex_at_birth: Sex::parse(&text("sex_at_birth")?)
                .ok_or_else(|| corrupt("sex_at_birth"))?,
            gender_identity: text("gender_identity")?,
            pronouns: text("pronouns")?,
            contact,
            mrn: row
                .try_get::<Option<String>, _>("mrn")
                .map_err(Error::internal)?,
            identifiers,
        },
        version: row.try_get("version").map_err(Error::internal)?,
        create_time_us: row.try_get("create_time_us").map_err(Error::internal)?,
        update_time_us: row.try_get("update_time_us").map_err(Error::internal)?,
    })
}

#[cfg(test)]
mod tests;
