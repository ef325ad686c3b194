//! Assessment and safety-flag persistence, scoped by tenant like every query here.

use iop_core::{AssessmentId, Error, PatientId, SafetyFlagId, TenantId};
use iop_db::Db;
use iop_db::Filter;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Acknowledgement, Assessment, FlagStatus, SafetyFlag};
use crate::scoring::{Instrument, Severity};
use iop_kit::idempotency::{self, Claim, Key};

#[derive(Clone)]
pub struct AssessmentStore {
    db: Db,
}

/// A page of one patient's assessments, in (administered, id) order.
#[derive(Debug)]
pub struct AssessmentQuery {
    pub patient_id: PatientId,
    pub instrument: Option<Instrument>,
    pub after_us: Option<i64>,
    pub before_us: Option<i64>,
    /// The sort key of the last row of the previous page.
    pub position: Option<(i64, AssessmentId)>,
    pub limit: usize,
}

/// A page of safety flags, in id (= raise) order.
#[derive(Debug)]
pub struct FlagQuery {
    pub patient: Option<PatientId>,
    pub status: Option<FlagStatus>,
    pub after_us: Option<i64>,
    pub before_us: Option<i64>,
    pub after: Option<SafetyFlagId>,
    pub limit: usize,
}

const COLUMNS: &str = "id, patient_id, instrument, answers, total, severity, administered_us, \
     recorded_by, create_time_us, safety_flag_id";
const FLAG_COLUMNS: &str = "id, patient_id, assessment_id, reason, raise_time_us, \
     acknowledged_by, acknowledge_time_us, acknowledge_note";

impl AssessmentStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Inserts `a` and the flag it raised in one transaction, after claiming `key`. The
    /// patient must exist in `tenant`.
    pub async fn insert(
        &self,
        tenant: &TenantId,
        a: &Assessment,
        flag: Option<&SafetyFlag>,
        key: Option<&Key<'_>>,
    ) -> Result<Claim, Error> {
        crate::patients::store::require_patient(&self.db, tenant, a.patient_id).await?;
        let mut tx = iop_kit::fresh!(
            idempotency::begin_create(
                &self.db,
                tenant,
                super::KIND,
                key,
                &a.id.to_string(),
                a.create_time_us,
            )
            .await?
        );
        sqlx::query(&format!(
            "INSERT INTO assessments (tenant_id, {COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(tenant.as_str())
        .bind(a.id.to_string())
        .bind(a.patient_id.to_string())
        .bind(a.instrument.as_str())
        .bind(serde_json::to_string(&a.answers).map_err(Error::internal)?)
        .bind(i64::from(a.total))
        .bind(a.severity.as_str())
        .bind(a.administered_us)
        .bind(&a.recorded_by)
        .bind(a.create_time_us)
        .bind(a.safety_flag_id.map(|f| f.to_string()))
        .execute(&mut *tx)
        .await
        .map_err(Error::internal)?;
        if let Some(f) = flag {
            sqlx::query(&format!(
                "INSERT INTO safety_flags (tenant_id, {FLAG_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL, NULL)"
            ))
            .bind(tenant.as_str())
            .bind(f.id.to_string())
            .bind(f.patient_id.to_string())
            .bind(f.assessment_id.to_string())
            .bind(&f.reason)
            .bind(f.raise_time_us)
            .execute(&mut *tx)
            .await
            .map_err(Error::internal)?;
        }
        tx.commit().await.map_err(Error::internal)?;
        Ok(Claim::New)
    }

    /// NOT_FOUND unless `id` is a patient of `tenant`.
    pub async fn require_patient(&self, tenant: &TenantId, id: PatientId) -> Result<(), Error> {
        crate::patients::store::require_patient(&self.db, tenant, id).await
    }

    pub async fn get(
        &self,
        tenant: &TenantId,
        id: AssessmentId,
    ) -> Result<Option<Assessment>, Error> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM assessments WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.as_str())
        .bind(id.to_string())
        .fetch_optional(self.db.pool())
        .await
        .map_err(Error::internal)?
        .map(|r| assessment_from_row(&r))
        .transpose()
    }

    pub async fn list(
        &self,
        tenant: &TenantId,
        q: &AssessmentQuery,
    ) -> Result<Vec<Assessment>, Error> {
        let mut f = Filter::new(
            &format!("SELECT {COLUMNS} FROM assessments WHERE"),
            tenant.as_str(),
        );
        f.and(" AND patient_id = ?", [q.patient_id.to_string().into()])
            .and_opt(" AND instrument = ?", q.instrument.map(Instrument::as_str))
            .and_opt(" AND administered_us >= ?", q.after_us)
            .and_opt(" AND administered_us < ?", q.before_us);
        if let Some((t, id)) = q.position {
            f.and(
                " AND (administered_us > ? OR (administered_us = ? AND id > ?))",
                [t.into(), t.into(), id.to_string().into()],
            );
        }
        f.page("administered_us, id", q.limit)
            .fetch_all(self.db.pool())
            .await
            .map_err(Error::internal)?
            .iter()
            .map(assessment_from_row)
            .collect()
    }

    pub async fn get_flag(
        &self,
        tenant: &TenantId,
        id: SafetyFlagId,
    ) -> Result<Option<SafetyFlag>, Error> {
        sqlx::query(&format!(
            "SELECT {FLAG_COLUMNS} FROM safety_flags WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.as_str())
        .bind(id.to_string())
        .fetch_optional(self.db.pool())
        .await
        .map_err(Error::internal)?
        .map(|r| flag_from_row(&r))
        .transpose()
    }

    /// Flags in id (= raise) order after `after`.
    pub async fn list_flags(
        &self,
        tenant: &TenantId,
        q: FlagQuery,
    ) -> Result<Vec<SafetyFlag>, Error> {
        let mut f = Filter::new(
            &format!("SELECT {FLAG_COLUMNS} FROM safety_flags WHERE"),
            tenant.as_str(),
        );
        f.and_opt(" AND patient_id = ?", q.patient.map(|p| p.to_string()));
        match q.status {
            Some(FlagStatus::Active) => f.push(" AND acknowledged_by IS NULL"),
            Some(FlagStatus::Acknowledged) => f.push(" AND acknowledged_by IS NOT NULL"),
            None => &mut f,
        };
        f.and_opt(" AND id > ?", q.after.map(|a| a.to_string()))
            .and_opt(" AND raise_time_us >= ?", q.after_us)
            .and_opt(" AND raise_time_us < ?", q.before_us);
        f.page("id", q.limit)
            .fetch_all(self.db.pool())
            .await
            .map_err(Error::internal)?
            .iter()
            .map(flag_from_row)
            .collect()
    }

    /// Acknowledges an active flag; false when it is unknown or was acknowledged already.
    pub async fn acknowledge(
        &self,
        tenant: &TenantId,
        id: SafetyFlagId,
        ack: &Acknowledgement,
    ) -> Result<bool, Error> {
        let _turn = self.db.write_turn().await;
        let done = sqlx::query(
            "UPDATE safety_flags SET acknowledged_by = $3, acknowledge_time_us = $4, acknowledge_note = $5 \
             WHERE tenant_id = $1 AND id = $2 AND acknowledged_by IS NULL",
        )
        .bind(tenant.as_str())
        .bind(id.to_string())
        .bind(&ack.by)
        .bind(ack.time_us)
        .bind(&ack.note)
        .execute(self.db.pool())
        .await
        .map_err(Error::internal)?;
        Ok(done.rows_affected() == 1)
    }
}

fn corrupt(what: &str) -> Error {
    Error::internal(format!("stored assessment data has an invalid {what}"))
}

fn assessment_from_row(row: &AnyRow) -> Result<Assessment, Error> {
    let text = |col: &str| row.try_get::<String, _>(col).map_err(Error::internal);
    let int = |col: &str| row.try_get::<i64, _>(col).map_err(Error::internal);
    let instrument =
        Instrument::parse(&text("instrument")?).ok_or_else(|| corrupt("instrument"))?;
    Ok(Assessment {
        id: AssessmentId::parse("id", &text("id")?).map_err(|_| corrupt("id"))?,
        patient_id: PatientId::parse("patient_id", &text("patient_id")?)
            .map_err(|_| corrupt("patient_id"))?,
        instrument,
        answers: serde_json::from_str(&text("answers")?).map_err(|_| corrupt("answers"))?,
        total: u32::try_from(int("total")?).map_err(|_| corrupt("total"))?,
        severity: Severity::parse(&text("severity")?).ok_or_else(|| corrupt("severity"))?,
        administered_us: int("administered_us")?,
        recorded_by: text("recorded_by")?,
        create_time_us: int("create_time_us")?,
        safety_flag_id: row
            .try_get::<Option<String>, _>("safety_flag_id")
            .map_err(Error::internal)?
            .map(|s| SafetyFlagId::parse("safety_flag_id", &s).map_err(|_| corrupt("flag id")))
            .transpose()?,
    })
}

fn flag_from_row(row: &AnyRow) -> Result<SafetyFlag, Error> {
    let text = |col: &str| row.try_get::<String, _>(col).map_err(Error::internal);
    let by: Option<String> = row.try_get("acknowledged_by").map_err(Error::internal)?;
    let acknowledgement = match by {
        None => None,
        Some(by) => Some(Acknowledgement {
            by,
            time_us: row
                .try_get::<Option<i64>, _>("acknowledge_time_us")
                .map_err(Error::internal)?
                .unwrap_or_default(),
            note: row
                .try_get::<Option<String>, _>("acknowledge_note")
                .map_err(Error::internal)?
                .unwrap_or_default(),
        }),
    };
    Ok(SafetyFlag {
        id: SafetyFlagId::parse("id", &text("id")?).map_err(|_| corrupt("flag id"))?,
        patient_id: PatientId::parse("patient_id", &text("patient_id")?)
            .map_err(|_| corrupt("patient_id"))?,
        assessment_id: AssessmentId::parse("assessment_id", &text("assessment_id")?)
            .map_err(|_| corrupt("assessment_id"))?,
        reason: text("reason")?,
        raise_time_us: row.try_get("raise_time_us").map_err(Error::internal)?,
        acknowledgement,
    })
}
