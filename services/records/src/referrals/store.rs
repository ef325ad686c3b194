//! Referral persistence: one versioned row per referral, with what was sent and the status
//! history as JSON.

use iop_core::{EpisodeId, Error, PatientId, ReferralId, TenantId};
use iop_db::Db;
use iop_db::Filter;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Referral, ReferralStatus, Urgency};
use iop_kit::idempotency::{self, Claim, Key};

#[derive(Clone)]
pub struct ReferralStore {
    db: Db,
}

#[derive(Debug, Default)]
pub struct ReferralQuery {
    /// Only the referrals this client sent.
    pub source_client: Option<String>,
    pub status: Option<ReferralStatus>,
    pub urgency: Option<Urgency>,
    pub after_us: Option<i64>,
    pub before_us: Option<i64>,
    pub after: Option<ReferralId>,
    pub limit: usize,
}

const COLUMNS: &str = "id, source_client, organization, urgency, status, details, history, \
     decline_reason, intake_time_us, patient_id, episode_id, version, create_time_us, update_time_us";

impl ReferralStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub async fn insert(
        &self,
        tenant: &TenantId,
        r: &Referral,
        key: Option<&Key<'_>>,
    ) -> Result<Claim, Error> {
        let mut tx = iop_kit::fresh!(
            idempotency::begin_create(
                &self.db,
                tenant,
                super::KIND,
                key,
                &r.id.to_string(),
                r.create_time_us,
            )
            .await?
        );
        let sql = format!(
            "INSERT INTO referrals (tenant_id, {COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        );
        bind(sqlx::query(&sql), tenant, r)?
            .bind(r.create_time_us)
            .bind(r.update_time_us)
            .execute(&mut *tx)
            .await
            .map_err(Error::internal)?;
        tx.commit().await.map_err(Error::internal)?;
        Ok(Claim::New)
    }

    pub async fn get(&self, tenant: &TenantId, id: ReferralId) -> Result<Option<Referral>, Error> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM referrals WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.as_str())
        .bind(id.to_string())
        .fetch_optional(self.db.pool())
        .await
        .map_err(Error::internal)?
        .map(|r| from_row(&r))
        .transpose()
    }

    pub async fn list(&self, tenant: &TenantId, q: &ReferralQuery) -> Result<Vec<Referral>, Error> {
        let mut f = Filter::new(
            &format!("SELECT {COLUMNS} FROM referrals WHERE"),
            tenant.as_str(),
        );
        f.and_opt(" AND source_client = ?", q.source_client.clone())
            .and_opt(" AND status = ?", q.status.map(ReferralStatus::as_str))
            .and_opt(" AND urgency = ?", q.urgency.map(Urgency::as_str))
            .and_opt(" AND id > ?", q.after.map(|a| a.to_string()))
            .and_opt(" AND create_time_us >= ?", q.after_us)
            .and_opt(" AND create_time_us < ?", q.before_us);
        f.page("id", q.limit)
            .fetch_all(self.db.pool())
            .await
            .map_err(Error::internal)?
            .iter()
            .map(from_row)
            .collect()
    }

    /// Writes `r` if the stored version is still `expected_version`.
    pub async fn update(
        &self,
        tenant: &TenantId,
        r: &Referral,
        expected_version: i64,
    ) -> Result<bool, Error> {
        let _turn = self.db.write_turn().await;
        let done = bind(
            sqlx::query(
                "UPDATE referrals SET source_client = $3, organization = $4, urgency = $5, \
                 status = $6, details = $7, history = $8, decline_reason = $9, intake_time_us = $10, \
                 patient_id = $11, episode_id = $12, version = $13, update_time_us = $14 \
                 WHERE tenant_id = $1 AND id = $2 AND version = $15",
            ),
            tenant,
            r,
        )?
        .bind(r.update_time_us)
        .bind(expected_version)
        .execute(self.db.pool())
        .await
        .map_err(Error::internal)?;
        Ok(done.rows_affected() == 1)
    }
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Binds $1 tenant, $2 id and $3..$13 the referral (through `version`).
fn bind<'q>(q: AnyQuery<'q>, tenant: &'q TenantId, r: &'q Referral) -> Result<AnyQuery<'q>, Error> {
    Ok(q.bind(tenant.as_str())
        .bind(r.id.to_string())
        .bind(r.source_client.clone())
        .bind(&r.organization)
        .bind(r.urgency.as_str())
        .bind(r.status.as_str())
        .bind(serde_json::to_string(&r.details).map_err(Error::internal)?)
        .bind(serde_json::to_string(&r.history).map_err(Error::internal)?)
        .bind(&r.decline_reason)
        .bind(r.intake_time_us)
        .bind(r.patient_id.map(|p| p.to_string()))
        .bind(r.episode_id.map(|e| e.to_string()))
        .bind(r.version))
}

fn corrupt(what: &str) -> Error {
    Error::internal(format!("stored referral has an invalid {what}"))
}

fn from_row(row: &AnyRow) -> Result<Referral, Error> {
    let text = |c: &str| row.try_get::<String, _>(c).map_err(Error::internal);
    let opt = |c: &str| row.try_get::<Option<String>, _>(c).map_err(Error::internal);
    let int = |c: &str| row.try_get::<i64, _>(c).map_err(Error::internal);
    Ok(Referral {
        id: ReferralId::parse("id", &text("id")?).map_err(|_| corrupt("id"))?,
        organization: text("organization")?,
        urgency: Urgency::parse(&text("urgency")?).ok_or_else(|| corrupt("urgency"))?,
        details: serde_json::from_str(&text("details")?).map_err(|_| corrupt("details"))?,
        status: ReferralStatus::parse(&text("status")?).ok_or_else(|| corrupt("status"))?,
        decline_reason: text("decline_reason")?,
        intake_time_us: row
            .try_get::<Option<i64>, _>("intake_time_us")
            .map_err(Error::internal)?,
        patient_id: opt("patient_id")?
            .map(|p| PatientId::parse("patient_id", &p).map_err(|_| corrupt("patient_id")))
            .transpose()?,
        episode_id: opt("episode_id")?
            .map(|e| EpisodeId::parse("episode_id", &e).map_err(|_| corrupt("episode_id")))
            .transpose()?,
        source_client: opt("source_client")?,
        history: serde_json::from_str(&text("history")?).map_err(|_| corrupt("history"))?,
        version: int("version")?,
        create_time_us: int("create_time_us")?,
        update_time_us: int("update_time_us")?,
    })
}
