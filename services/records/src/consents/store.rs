//! Consent and contact persistence. Consents are never edited (a trigger refuses it) except
//! for their one revocation.

use chrono::NaiveDate;
use iop_core::{ConsentId, ContactId, Error, PatientId, TenantId};
use iop_db::Db;
use iop_db::Filter;
use iop_kit::dates::date_text;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{
    Category, Consent, ConsentStatus, Contact, ContactFields, Purpose, Relationship, Revocation,
};
use iop_kit::idempotency::{self, Claim, Key};

#[derive(Clone)]
pub struct ConsentStore {
    db: Db,
}

#[derive(Debug)]
pub struct ConsentQuery {
    pub patient_id: Option<PatientId>,
    pub recipient_id: Option<String>,
    pub status: Option<ConsentStatus>,
    pub today: NaiveDate,
    /// In force on this day.
    pub in_force_on: Option<NaiveDate>,
    pub after: Option<ConsentId>,
    pub limit: usize,
}

const CONSENT_COLUMNS: &str = "id, patient_id, recipient_id, recipient_name, categories, purposes, \
     effective_date, expiration_date, signed_date, recorded_by, create_time_us, revoked_by, \
     revoke_time_us, revoke_reason";
const CONTACT_COLUMNS: &str = "id, patient_id, name, relationship, contact, emergency_contact, \
     involved, notes, version, create_time_us, update_time_us";

impl ConsentStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub async fn insert_consent(
        &self,
        tenant: &TenantId,
        c: &Consent,
        key: Option<&Key<'_>>,
    ) -> Result<Claim, Error> {
        crate::patients::store::require_patient(&self.db, tenant, c.patient_id).await?;
        let mut tx = iop_kit::fresh!(
            idempotency::begin_create(
                &self.db,
                tenant,
                "consent",
                key,
                &c.id.to_string(),
                c.create_time_us,
            )
            .await?
        );
        sqlx::query(&format!(
            "INSERT INTO consents (tenant_id, {CONSENT_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, NULL, NULL, NULL)"
        ))
        .bind(tenant.as_str())
        .bind(c.id.to_string())
        .bind(c.patient_id.to_string())
        .bind(&c.recipient_id)
        .bind(&c.recipient_name)
        .bind(names(&c.categories, |x| x.as_str())?)
        .bind(names(&c.purposes, |x| x.as_str())?)
        .bind(date_text(c.effective))
        .bind(date_text(c.expires))
        .bind(date_text(c.signed))
        .bind(&c.recorded_by)
        .bind(c.create_time_us)
        .execute(&mut *tx)
        .await
        .map_err(Error::internal)?;
        tx.commit().await.map_err(Error::internal)?;
        Ok(Claim::New)
    }

    pub async fn get_consent(
        &self,
        tenant: &TenantId,
        id: ConsentId,
    ) -> Result<Option<Consent>, Error> {
        sqlx::query(&format!(
            "SELECT {CONSENT_COLUMNS} FROM consents WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.as_str())
        .bind(id.to_string())
        .fetch_optional(self.db.pool())
        .await
        .map_err(Error::internal)?
        .map(|r| consent_from_row(&r))
        .transpose()
    }

    /// A patient's consents (naming `recipient` when given), oldest first.
    pub async fn consents_for(
        &self,
        tenant: &TenantId,
        patient: PatientId,
        recipient: Option<&str>,
    ) -> Result<Vec<Consent>, Error> {
        let mut sql = format!(
            "SELECT {CONSENT_COLUMNS} FROM consents WHERE tenant_id = $1 AND patient_id = $2"
        );
        if recipient.is_some() {
            sql.push_str(" AND recipient_id = $3");
        }
        sql.push_str(" ORDER BY id");
        let mut q = sqlx::query(&sql)
            .bind(tenant.as_str())
            .bind(patient.to_string());
        if let Some(r) = recipient {
            q = q.bind(r.to_owned());
        }
        q.fetch_all(self.db.pool())
            .await
            .map_err(Error::internal)?
            .iter()
            .map(consent_from_row)
            .collect()
    }

    pub async fn list_consents(
        &self,
        tenant: &TenantId,
        q: &ConsentQuery,
    ) -> Result<Vec<Consent>, Error> {
        let mut f = Filter::new(
            &format!("SELECT {CONSENT_COLUMNS} FROM consents WHERE"),
            tenant.as_str(),
        );
        f.and_opt(" AND patient_id = ?", q.patient_id.map(|p| p.to_string()))
            .and_opt(" AND recipient_id = ?", q.recipient_id.clone());
        let today = date_text(q.today);
        match q.status {
            Some(ConsentStatus::Active) => f.and(
                " AND revoked_by IS NULL AND expiration_date >= ?",
                [today.into()],
            ),
            Some(ConsentStatus::Expired) => f.and(
                " AND revoked_by IS NULL AND expiration_date < ?",
                [today.into()],
            ),
            Some(ConsentStatus::Revoked) => f.push(" AND revoked_by IS NOT NULL"),
            None => &mut f,
        };
        f.and_opt(" AND id > ?", q.after.map(|a| a.to_string()));
        // Revocation takes effect on the day it is recorded (UTC), as `Consent::in_force`.
        if let Some(d) = q.in_force_on {
            let revoked_from = d
                .succ_opt()
                .and_then(|next| next.and_hms_opt(0, 0, 0))
                .map_or(i64::MAX, |t| t.and_utc().timestamp_micros());
            f.and(
                " AND effective_date <= ? AND expiration_date >= ? \
                 AND (revoked_by IS NULL OR revoke_time_us >= ?)",
                [
                    date_text(d).into(),
                    date_text(d).into(),
                    revoked_from.into(),
                ],
            );
        }
        f.page("id", q.limit)
            .fetch_all(self.db.pool())
            .await
            .map_err(Error::internal)?
            .iter()
            .map(consent_from_row)
            .collect()
    }

    /// Records the revocation; false when the consent was revoked already (or is unknown).
    pub async fn revoke(
        &self,
        tenant: &TenantId,
        id: ConsentId,
        r: &Revocation,
    ) -> Result<bool, Error> {
        let _turn = self.db.write_turn().await;
        let done = sqlx::query(
            "UPDATE consents SET revoked_by = $3, revoke_time_us = $4, revoke_reason = $5 \
             WHERE tenant_id = $1 AND id = $2 AND revoked_by IS NULL",
        )
        .bind(tenant.as_str())
        .bind(id.to_string())
        .bind(&r.by)
        .bind(r.time_us)
        .bind(&r.reason)
        .execute(self.db.pool())
        .await
        .map_err(Error::internal)?;
        Ok(done.rows_affected() == 1)
    }

    /// Inserts a contact unless the patient has `max` already.
    pub async fn insert_contact(
        &self,
        tenant: &TenantId,
        c: &Contact,
        key: Option<&Key<'_>>,
        max: usize,
    ) -> Result<Claim, Error> {
        crate::patients::store::require_patient(&self.db, tenant, c.patient_id).await?;
        let turn = self.db.write_turn().await;
        let full = || {
            Error::FailedPrecondition(format!(
                "patient {} has {max} contacts, the most a patient may have",
                c.patient_id
            ))
        };
        let postgres = self.db.backend() == iop_db::Backend::Postgres;
        // SQLite: the write turn already serializes adders, and its transactions must start
        // with a write, so count first. PostgreSQL: count inside the transaction, after
        // locking the patient's row, so two concurrent adds cannot both pass the cap.
        if !postgres && self.contacts_of(None, tenant, c.patient_id).await? >= max {
            return Err(full());
        }
        let mut tx = iop_kit::fresh!(
            idempotency::begin_create_in_turn(
                &self.db,
                turn,
                tenant,
                "contact",
                key,
                &c.id.to_string(),
                c.create_time_us,
            )
            .await?
        );
        if postgres {
            sqlx::query("SELECT id FROM patients WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
                .bind(tenant.as_str())
                .bind(c.patient_id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(Error::internal)?;
            if self
                .contacts_of(Some(tx.transaction()), tenant, c.patient_id)
                .await?
                >= max
            {
                return Err(full());
            }
        }
        let sql = format!(
            "INSERT INTO family_contacts (tenant_id, {CONTACT_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        );
        bind_contact(sqlx::query(&sql), tenant, c)?
            .bind(c.create_time_us)
            .bind(c.update_time_us)
            .execute(&mut *tx)
            .await
            .map_err(Error::internal)?;
        tx.commit().await.map_err(Error::internal)?;
        Ok(Claim::New)
    }

    /// How many contacts the patient has, in `tx` when given.
    async fn contacts_of(
        &self,
        tx: Option<&mut sqlx::Transaction<'static, sqlx::Any>>,
        tenant: &TenantId,
        patient: PatientId,
    ) -> Result<usize, Error> {
        let q = sqlx::query(
            "SELECT COUNT(*) AS n FROM family_contacts WHERE tenant_id = $1 AND patient_id = $2",
        )
        .bind(tenant.as_str())
        .bind(patient.to_string());
        let row = match tx {
            Some(tx) => q.fetch_one(&mut **tx).await,
            None => q.fetch_one(self.db.pool()).await,
        }
        .map_err(Error::internal)?;
        let n: i64 = row.try_get("n").map_err(Error::internal)?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    pub async fn get_contact(
        &self,
        tenant: &TenantId,
        id: ContactId,
    ) -> Result<Option<Contact>, Error> {
        sqlx::query(&format!(
            "SELECT {CONTACT_COLUMNS} FROM family_contacts WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.as_str())
        .bind(id.to_string())
        .fetch_optional(self.db.pool())
        .await
        .map_err(Error::internal)?
        .map(|r| contact_from_row(&r))
        .transpose()
    }

    pub async fn list_contacts(
        &self,
        tenant: &TenantId,
        patient: PatientId,
        after: Option<ContactId>,
        limit: usize,
    ) -> Result<Vec<Contact>, Error> {
        let sql = format!(
            "SELECT {CONTACT_COLUMNS} FROM family_contacts WHERE tenant_id = $1 AND patient_id = $2 \
             AND id > $3 ORDER BY id LIMIT $4"
        );
        sqlx::query(&sql)
            .bind(tenant.as_str())
            .bind(patient.to_string())
            .bind(after.map(|a| a.to_string()).unwrap_or_default())
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(self.db.pool())
            .await
            .map_err(Error::internal)?
            .iter()
            .map(contact_from_row)
            .collect()
    }

    pub async fn update_contact(
        &self,
        tenant: &TenantId,
        c: &Contact,
        expected_version: i64,
    ) -> Result<bool, Error> {
        let _turn = self.db.write_turn().await;
        let done = bind_contact(
            sqlx::query(
                "UPDATE family_contacts SET patient_id = $3, name = $4, relationship = $5, \
                 contact = $6, emergency_contact = $7, involved = $8, notes = $9, version = $10, \
                 update_time_us = $11 WHERE tenant_id = $1 AND id = $2 AND version = $12",
            ),
            tenant,
            c,
        )?
        .bind(c.update_time_us)
        .bind(expected_version)
        .execute(self.db.pool())
        .await
        .map_err(Error::internal)?;
        Ok(done.rows_affected() == 1)
    }
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Binds $1 tenant, $2 id and $3..$10 the contact (through `version`).
fn bind_contact<'q>(
    q: AnyQuery<'q>,
    tenant: &'q TenantId,
    c: &'q Contact,
) -> Result<AnyQuery<'q>, Error> {
    let f = &c.fields;
    Ok(q.bind(tenant.as_str())
        .bind(c.id.to_string())
        .bind(c.patient_id.to_string())
        .bind(&f.name)
        .bind(f.relationship.map_or("", Relationship::as_str))
        .bind(serde_json::to_string(&f.contact).map_err(Error::internal)?)
        .bind(i64::from(f.emergency_contact))
        .bind(i64::from(f.involved))
        .bind(&f.notes)
        .bind(c.version))
}

fn names<T: Copy>(items: &[T], name: impl Fn(T) -> &'static str) -> Result<String, Error> {
    serde_json::to_string(&items.iter().map(|x| name(*x)).collect::<Vec<_>>())
        .map_err(Error::internal)
}

fn parse_names<T>(json: &str, parse: fn(&str) -> Option<T>, what: &str) -> Result<Vec<T>, Error> {
    let names: Vec<String> = serde_json::from_str(json).map_err(|_| corrupt(what))?;
    names
        .iter()
        .map(|n| parse(n).ok_or_else(|| corrupt(what)))
        .collect()
}

fn parse_date(s: &str, what: &str) -> Result<NaiveDate, Error> {
    iop_kit::dates::parse_date_text(s).ok_or_else(|| corrupt(what))
}

fn corrupt(what: &str) -> Error {
    Error::internal(format!("stored consent or contact has an invalid {what}"))
}

fn consent_from_row(row: &AnyRow) -> Result<Consent, Error> {
    let text = |c: &str| row.try_get::<String, _>(c).map_err(Error::internal);
    let revoked_by: Option<String> = row.try_get("revoked_by").map_err(Error::internal)?;
    let revocation = match revoked_by {
        None => None,
        Some(by) => Some(Revocation {
            by,
            time_us: row
                .try_get::<Option<i64>, _>("revoke_time_us")
                .map_err(Error::internal)?
                .unwrap_or_default(),
            reason: row
                .try_get::<Option<String>, _>("revoke_reason")
                .map_err(Error::internal)?
                .unwrap_or_default(),
        }),
    };
    Ok(Consent {
        id: ConsentId::parse("id", &text("id")?).map_err(|_| corrupt("id"))?,
        patient_id: PatientId::parse("patient_id", &text("patient_id")?)
            .map_err(|_| corrupt("patient_id"))?,
        recipient_id: text("recipient_id")?,
        recipient_name: text("recipient_name")?,
        categories: parse_names(&text("categories")?, Category::parse, "categories")?,
        purposes: parse_names(&text("purposes")?, Purpose::parse, "purposes")?,
        effective: parse_date(&text("effective_date")?, "effective_date")?,
        expires: parse_date(&text("expiration_date")?, "expiration_date")?,
        signed: parse_date(&text("signed_date")?, "signed_date")?,
        recorded_by: text("recorded_by")?,
        create_time_us: row.try_get("create_time_us").map_err(Error::internal)?,
        revocation,
    })
}

fn contact_from_row(row: &AnyRow) -> Result<Contact, Error> {
    let text = |c: &str| row.try_get::<String, _>(c).map_err(Error::internal);
    let int = |c: &str| row.try_get::<i64, _>(c).map_err(Error::internal);
    Ok(Contact {
        id: ContactId::parse("id", &text("id")?).map_err(|_| corrupt("id"))?,
        patient_id: PatientId::parse("patient_id", &text("patient_id")?)
            .map_err(|_| corrupt("patient_id"))?,
        fields: ContactFields {
            name: text("name")?,
            relationship: Some(
                Relationship::parse(&text("relationship")?)
                    .ok_or_else(|| corrupt("relationship"))?,
            ),
            contact: serde_json::from_str(&text("contact")?).map_err(|_| corrupt("contact"))?,
            emergency_contact: int("emergency_contact")? != 0,
            involved: int("involved")? != 0,
            notes: text("notes")?,
        },
        version: int("version")?,
        create_time_us: int("create_time_us")?,
        update_time_us: int("update_time_us")?,
        involvement_consent: None,
    })
}
