//! Treatment-plan persistence: one row per version (the database refuses to change a signed
//! one) and append-only goal progress.

use chrono::NaiveDate;
use iop_core::{EpisodeId, Error, PatientId, PlanId, TenantId};
use iop_db::Filter;
use iop_db::{Db, is_unique_violation};
use iop_kit::dates::date_text;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Plan, PlanStatus, Progress, ProgressStatus, Signature};
use iop_kit::idempotency::{self, Claim, Key};

#[derive(Clone)]
pub struct PlanStore {
    db: Db,
}

#[derive(Debug, Default)]
pub struct PlanQuery {
    pub patient_id: Option<PatientId>,
    pub episode_id: Option<EpisodeId>,
    pub status: Option<PlanStatus>,
    pub review_due_by: Option<NaiveDate>,
    pub after: Option<PlanId>,
    pub limit: usize,
}

const COLUMNS: &str = "id, version, patient_id, episode_id, status, content, review_due_date, \
     author, signed_by, sign_time_us, edits, create_time_us, update_time_us";

/// Rows that are the latest version of their plan.
const LATEST: &str = "version = (SELECT MAX(l.version) FROM treatment_plans l \
     WHERE l.tenant_id = treatment_plans.tenant_id AND l.id = treatment_plans.id)";

impl PlanStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Inserts version 1 of a new plan.
    pub async fn insert(
        &self,
        tenant: &TenantId,
        p: &Plan,
        key: Option<&Key<'_>>,
    ) -> Result<Claim, Error> {
        crate::patients::store::require_patient(&self.db, tenant, p.patient_id).await?;
        crate::patients::store::require_episode_of(
            &self.db,
            tenant,
            p.episode_id,
            p.patient_id,
            "plan.episode_id",
        )
        .await?;
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
        let sql = insert_sql();
        bind_plan(sqlx::query(&sql), tenant, p)?
            .execute(&mut *tx)
            .await
            .map_err(Error::internal)?;
        tx.commit().await.map_err(Error::internal)?;
        Ok(Claim::New)
    }

    /// Inserts the next version; false when that version exists already (a concurrent
    /// revision won).
    pub async fn insert_version(&self, tenant: &TenantId, p: &Plan) -> Result<bool, Error> {
        let _turn = self.db.write_turn().await;
        let sql = insert_sql();
        match bind_plan(sqlx::query(&sql), tenant, p)?
            .execute(self.db.pool())
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(Error::internal(e)),
        }
    }

    pub async fn get(
        &self,
        tenant: &TenantId,
        id: PlanId,
        version: Option<i64>,
    ) -> Result<Option<Plan>, Error> {
        let row = match version {
            Some(v) => sqlx::query(&format!(
                "SELECT {COLUMNS} FROM treatment_plans WHERE tenant_id = $1 AND id = $2 AND version = $3"
            ))
            .bind(tenant.as_str())
            .bind(id.to_string())
            .bind(v)
            .fetch_optional(self.db.pool())
            .await,
            None => sqlx::query(&format!(
                "SELECT {COLUMNS} FROM treatment_plans WHERE tenant_id = $1 AND id = $2 \
                 ORDER BY version DESC LIMIT 1"
            ))
            .bind(tenant.as_str())
            .bind(id.to_string())
            .fetch_optional(self.db.pool())
            .await,
        }
        .map_err(Error::internal)?;
        row.map(|r| plan_from_row(&r)).transpose()
    }

    pub async fn versions(&self, tenant: &TenantId, id: PlanId) -> Result<Vec<Plan>, Error> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM treatment_plans WHERE tenant_id = $1 AND id = $2 ORDER BY version"
        ))
        .bind(tenant.as_str())
        .bind(id.to_string())
        .fetch_all(self.db.pool())
        .await
        .map_err(Error::internal)?
        .iter()
        .map(plan_from_row)
        .collect()
    }

    /// The latest version of each plan matching `q`, in plan id order.
    pub async fn list(&self, tenant: &TenantId, q: &PlanQuery) -> Result<Vec<Plan>, Error> {
        let mut f = Filter::new(
            &format!("SELECT {COLUMNS} FROM treatment_plans WHERE"),
            tenant.as_str(),
        );
        f.push(&format!(" AND {LATEST}"))
            .and_opt(" AND patient_id = ?", q.patient_id.map(|p| p.to_string()))
            .and_opt(" AND episode_id = ?", q.episode_id.map(|e| e.to_string()))
            .and_opt(" AND status = ?", q.status.map(PlanStatus::as_str))
            .and_opt(" AND review_due_date <= ?", q.review_due_by.map(date_text))
            .and_opt(" AND id > ?", q.after.map(|a| a.to_string()));
        f.page("id", q.limit)
            .fetch_all(self.db.pool())
            .await
            .map_err(Error::internal)?
            .iter()
            .map(plan_from_row)
            .collect()
    }

    /// Writes a draft version if it is still at `expected_edits`; false otherwise.
    pub async fn update(
        &self,
        tenant: &TenantId,
        p: &Plan,
        expected_edits: i64,
    ) -> Result<bool, Error> {
        let _turn = self.db.write_turn().await;
        let done = sqlx::query(
            "UPDATE treatment_plans SET status = $4, content = $5, review_due_date = $6, \
             signed_by = $7, sign_time_us = $8, edits = $9, update_time_us = $10 \
             WHERE tenant_id = $1 AND id = $2 AND version = $3 AND edits = $11 AND status = 'draft'",
        )
        .bind(tenant.as_str())
        .bind(p.id.to_string())
        .bind(p.version)
        .bind(p.status().as_str())
        .bind(serde_json::to_string(&p.problems).map_err(Error::internal)?)
        .bind(p.review_due.map(date_text))
        .bind(p.signature.as_ref().map(|s| s.by.clone()))
        .bind(p.signature.as_ref().map(|s| s.time_us))
        .bind(p.edits)
        .bind(p.update_time_us)
        .bind(expected_edits)
        .execute(self.db.pool())
        .await
        .map_err(Error::internal)?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn progress(&self, tenant: &TenantId, plan: PlanId) -> Result<Vec<Progress>, Error> {
        let rows = sqlx::query(
            "SELECT goal_id, status, note, recorded_by, record_time_us FROM goal_progress \
             WHERE tenant_id = $1 AND plan_id = $2 ORDER BY id",
        )
        .bind(tenant.as_str())
        .bind(plan.to_string())
        .fetch_all(self.db.pool())
        .await
        .map_err(Error::internal)?;
        rows.iter()
            .map(|r| {
                let text = |c: &str| r.try_get::<String, _>(c).map_err(Error::internal);
                Ok(Progress {
                    goal_id: text("goal_id")?,
                    status: ProgressStatus::parse(&text("status")?)
                        .ok_or_else(|| corrupt("progress status"))?,
                    note: text("note")?,
                    recorded_by: text("recorded_by")?,
                    record_time_us: r.try_get("record_time_us").map_err(Error::internal)?,
                })
            })
            .collect()
    }

    pub async fn add_progress(
        &self,
        tenant: &TenantId,
        plan: PlanId,
        p: &Progress,
    ) -> Result<(), Error> {
        let _turn = self.db.write_turn().await;
        sqlx::query(
            "INSERT INTO goal_progress (tenant_id, plan_id, id, goal_id, status, note, recorded_by, record_time_us) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(tenant.as_str())
        .bind(plan.to_string())
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(&p.goal_id)
        .bind(p.status.as_str())
        .bind(&p.note)
        .bind(&p.recorded_by)
        .bind(p.record_time_us)
        .execute(self.db.pool())
        .await
        .map_err(Error::internal)?;
        Ok(())
    }
}

fn insert_sql() -> String {
    format!(
        "INSERT INTO treatment_plans (tenant_id, {COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    )
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

fn bind_plan<'q>(
    q: AnyQuery<'q>,
    tenant: &'q TenantId,
    p: &'q Plan,
) -> Result<AnyQuery<'q>, Error> {
    Ok(q.bind(tenant.as_str())
        .bind(p.id.to_string())
        .bind(p.version)
        .bind(p.patient_id.to_string())
        .bind(p.episode_id.map(|e| e.to_string()))
        .bind(p.status().as_str())
        .bind(serde_json::to_string(&p.problems).map_err(Error::internal)?)
        .bind(p.review_due.map(date_text))
        .bind(&p.author)
        .bind(p.signature.as_ref().map(|s| s.by.clone()))
        .bind(p.signature.as_ref().map(|s| s.time_us))
        .bind(p.edits)
        .bind(p.create_time_us)
        .bind(p.update_time_us))
}

fn corrupt(what: &str) -> Error {
    Error::internal(format!("stored treatment plan has an invalid {what}"))
}

fn plan_from_row(row: &AnyRow) -> Result<Plan, Error> {
    let text = |c: &str| row.try_get::<String, _>(c).map_err(Error::internal);
    let opt_text = |c: &str| row.try_get::<Option<String>, _>(c).map_err(Error::internal);
    let int = |c: &str| row.try_get::<i64, _>(c).map_err(Error::internal);
    let signature = match (
        opt_text("signed_by")?,
        row.try_get::<Option<i64>, _>("sign_time_us")
            .map_err(Error::internal)?,
    ) {
        (Some(by), Some(time_us)) => Some(Signature { by, time_us }),
        _ => None,
    };
    Ok(Plan {
        id: PlanId::parse("id", &text("id")?).map_err(|_| corrupt("id"))?,
        version: int("version")?,
        patient_id: PatientId::parse("patient_id", &text("patient_id")?)
            .map_err(|_| corrupt("patient_id"))?,
        episode_id: opt_text("episode_id")?
            .map(|e| EpisodeId::parse("episode_id", &e).map_err(|_| corrupt("episode_id")))
            .transpose()?,
        problems: serde_json::from_str(&text("content")?).map_err(|_| corrupt("content"))?,
        review_due: opt_text("review_due_date")?
            .map(|d| iop_kit::dates::parse_date_text(&d).ok_or_else(|| corrupt("review date")))
            .transpose()?,
        author: text("author")?,
        signature,
        edits: int("edits")?,
        create_time_us: int("create_time_us")?,
        update_time_us: int("update_time_us")?,
        progress: Vec::new(),
    })
}
