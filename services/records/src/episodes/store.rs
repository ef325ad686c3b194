//! Episode persistence: one row per episode (its current state, versioned) and an
//! append-only row per level-of-care change.

use chrono::NaiveDate;
use iop_core::{EpisodeId, Error, PatientId, TenantId};
use iop_db::Filter;
use iop_db::{Db, is_unique_violation};
use iop_kit::dates::date_text;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{
    Aftercare, CareTeam, Discharge, DischargeReason, Episode, Level, LevelChange, LevelKind,
    Population, Status,
};
use iop_kit::idempotency::{self, Claim, Key};

#[derive(Clone)]
pub struct EpisodeStore {
    db: Db,
}

#[derive(Debug, Default)]
pub struct EpisodeQuery {
    pub patient_id: Option<PatientId>,
    pub status: Option<Status>,
    pub program: Option<String>,
    pub clinician: Option<String>,
    pub admitted_from: Option<NaiveDate>,
    pub admitted_to: Option<NaiveDate>,
    pub after: Option<EpisodeId>,
    pub limit: usize,
}

const COLUMNS: &str = "id, patient_id, program, population, status, referral_date, admit_date, \
     primary_clinician, program_director, discharge_date, discharge_reason, discharge_note, \
     aftercare, version, create_time_us, update_time_us";
const LEVEL_COLUMNS: &str =
    "episode_id, seq, kind, level, effective_date, reason, changed_by, change_time_us";

type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

impl EpisodeStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Inserts a new episode with its first levels. The patient must exist and have no
    /// other open episode.
    pub async fn insert(
        &self,
        tenant: &TenantId,
        e: &Episode,
        key: Option<&Key<'_>>,
    ) -> Result<Claim, Error> {
        crate::patients::store::require_patient(&self.db, tenant, e.patient_id).await?;
        let mut tx = iop_kit::fresh!(
            idempotency::begin_create(
                &self.db,
                tenant,
                super::KIND,
                key,
                &e.id.to_string(),
                e.create_time_us,
            )
            .await?
        );
        let sql = format!(
            "INSERT INTO episodes (tenant_id, {COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
        );
        let insert = sqlx::query(&sql);
        let inserted = bind_episode(insert, tenant, e)?
            .bind(e.create_time_us)
            .bind(e.update_time_us)
            .execute(&mut *tx)
            .await;
        match inserted {
            Ok(_) => {}
            Err(err) if is_unique_violation(&err) => {
                drop(tx);
                return Err(self.open_episode_conflict(tenant, e.patient_id).await);
            }
            Err(err) => return Err(Error::internal(err)),
        }
        for (seq, level) in e.levels.iter().enumerate() {
            insert_level(tx.transaction(), tenant, e.id, seq as i64, level).await?;
        }
        tx.commit().await.map_err(Error::internal)?;
        Ok(Claim::New)
    }

    async fn open_episode_conflict(&self, tenant: &TenantId, patient: PatientId) -> Error {
        let open = sqlx::query(
            "SELECT id FROM episodes WHERE tenant_id = $1 AND patient_id = $2 AND status <> 'discharged'",
        )
        .bind(tenant.as_str())
        .bind(patient.to_string())
        .fetch_optional(self.db.pool())
        .await;
        let id = match open {
            Ok(Some(row)) => row.try_get::<String, _>("id").unwrap_or_default(),
            Ok(None) => String::new(),
            Err(e) => return Error::internal(e),
        };
        Error::FailedPrecondition(format!(
            "patient {patient} already has an open episode {id}; discharge it before opening another"
        ))
    }

    pub async fn get(&self, tenant: &TenantId, id: EpisodeId) -> Result<Option<Episode>, Error> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM episodes WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.as_str())
        .bind(id.to_string())
        .fetch_optional(self.db.pool())
        .await
        .map_err(Error::internal)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut episodes = vec![episode_from_row(&row)?];
        self.attach_levels(tenant, &mut episodes).await?;
        Ok(episodes.pop())
    }

    pub async fn list(&self, tenant: &TenantId, q: &EpisodeQuery) -> Result<Vec<Episode>, Error> {
        let mut f = Filter::new(
            &format!("SELECT {COLUMNS} FROM episodes WHERE"),
            tenant.as_str(),
        );
        f.and_opt(" AND patient_id = ?", q.patient_id.map(|p| p.to_string()))
            .and_opt(" AND status = ?", q.status.map(Status::as_str))
            .and_opt(" AND program = ?", q.program.clone());
        if let Some(c) = &q.clinician {
            f.and(
                " AND (primary_clinician = ? OR program_director = ?)",
                [c.as_str().into(), c.as_str().into()],
            );
        }
        f.and_opt(" AND admit_date >= ?", q.admitted_from.map(date_text))
            .and_opt(" AND admit_date <= ?", q.admitted_to.map(date_text))
            .and_opt(" AND id > ?", q.after.map(|a| a.to_string()));
        let rows = f
            .page("id", q.limit)
            .fetch_all(self.db.pool())
            .await
            .map_err(Error::internal)?;
        let mut episodes = rows
            .iter()
            .map(episode_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        self.attach_levels(tenant, &mut episodes).await?;
        Ok(episodes)
    }

    /// Loads the level histories of `episodes` in one query.
    async fn attach_levels(
        &self,
        tenant: &TenantId,
        episodes: &mut [Episode],
    ) -> Result<(), Error> {
        if episodes.is_empty() {
            return Ok(());
        }
        let placeholders = (0..episodes.len())
            .map(|i| format!("${}", i + 2))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {LEVEL_COLUMNS} FROM episode_levels \
             WHERE tenant_id = $1 AND episode_id IN ({placeholders}) ORDER BY episode_id, seq"
        );
        let mut query = sqlx::query(&sql).bind(tenant.as_str());
        for e in episodes.iter() {
            query = query.bind(e.id.to_string());
        }
        let rows = query
            .fetch_all(self.db.pool())
            .await
            .map_err(Error::internal)?;
        for row in &rows {
            let episode_id: String = row.try_get("episode_id").map_err(Error::internal)?;
            let level = level_from_row(row)?;
            if let Some(e) = episodes.iter_mut().find(|e| e.id.to_string() == episode_id) {
                e.levels.push(level);
            }
        }
        Ok(())
    }

    /// Writes `e` if the stored version is still `expected_version`, appending `level` to
    /// the history in the same transaction; false when another writer got there first.
    pub async fn update(
        &self,
        tenant: &TenantId,
        e: &Episode,
        expected_version: i64,
        level: Option<&LevelChange>,
    ) -> Result<bool, Error> {
        let _turn = self.db.write_turn().await;
        let mut tx = self.db.pool().begin().await.map_err(Error::internal)?;
        let update = sqlx::query(
            "UPDATE episodes SET program = $4, population = $5, status = $6, referral_date = $7, \
             admit_date = $8, primary_clinician = $9, program_director = $10, discharge_date = $11, \
             discharge_reason = $12, discharge_note = $13, aftercare = $14, version = $15, \
             update_time_us = $16 \
             WHERE tenant_id = $1 AND id = $2 AND patient_id = $3 AND version = $17",
        );
        let done = bind_episode(update, tenant, e)?
            .bind(e.update_time_us)
            .bind(expected_version)
            .execute(&mut *tx)
            .await
            .map_err(Error::internal)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        if let Some(level) = level {
            let seq = e.levels.len() as i64 - 1;
            insert_level(&mut tx, tenant, e.id, seq, level).await?;
        }
        tx.commit().await.map_err(Error::internal)?;
        Ok(true)
    }
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Binds $1 tenant, $2 id, $3 patient and $4..$15 the episode's state (through `version`),
/// as both INSERT and UPDATE number them.
fn bind_episode<'q>(
    q: AnyQuery<'q>,
    tenant: &'q TenantId,
    e: &'q Episode,
) -> Result<AnyQuery<'q>, Error> {
    let d = e.discharge.as_ref();
    let aftercare = d
        .map(|d| serde_json::to_string(&d.aftercare))
        .transpose()
        .map_err(Error::internal)?;
    Ok(q.bind(tenant.as_str())
        .bind(e.id.to_string())
        .bind(e.patient_id.to_string())
        .bind(&e.program)
        .bind(e.population.as_str())
        .bind(e.status.as_str())
        .bind(date_text(e.referral_date))
        .bind(e.admit_date.map(date_text))
        .bind(&e.team.primary_clinician)
        .bind(&e.team.program_director)
        .bind(d.map(|d| date_text(d.date)))
        .bind(d.map(|d| d.reason.as_str()))
        .bind(d.map(|d| d.note.clone()))
        .bind(aftercare)
        .bind(e.version))
}

async fn insert_level(
    tx: &mut Tx<'_>,
    tenant: &TenantId,
    episode: EpisodeId,
    seq: i64,
    l: &LevelChange,
) -> Result<(), Error> {
    sqlx::query(&format!(
        "INSERT INTO episode_levels (tenant_id, {LEVEL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(tenant.as_str())
    .bind(episode.to_string())
    .bind(seq)
    .bind(l.kind.as_str())
    .bind(l.level.as_str())
    .bind(date_text(l.effective_date))
    .bind(&l.reason)
    .bind(&l.changed_by)
    .bind(l.change_time_us)
    .execute(&mut **tx)
    .await
    .map_err(Error::internal)?;
    Ok(())
}

fn parse_date(s: &str, what: &str) -> Result<NaiveDate, Error> {
    iop_kit::dates::parse_date_text(s).ok_or_else(|| corrupt(what))
}

fn corrupt(what: &str) -> Error {
    Error::internal(format!("stored episode has an invalid {what}"))
}

fn episode_from_row(row: &AnyRow) -> Result<Episode, Error> {
    let text = |col: &str| row.try_get::<String, _>(col).map_err(Error::internal);
    let opt = |col: &str| {
        row.try_get::<Option<String>, _>(col)
            .map_err(Error::internal)
    };
    let int = |col: &str| row.try_get::<i64, _>(col).map_err(Error::internal);
    let discharge = match (opt("discharge_date")?, opt("discharge_reason")?) {
        (Some(date), Some(reason)) => Some(Discharge {
            date: parse_date(&date, "discharge_date")?,
            reason: DischargeReason::parse(&reason).ok_or_else(|| corrupt("discharge_reason"))?,
            note: opt("discharge_note")?.unwrap_or_default(),
            aftercare: match opt("aftercare")? {
                Some(json) => {
                    serde_json::from_str::<Aftercare>(&json).map_err(|_| corrupt("aftercare"))?
                }
                None => Aftercare::default(),
            },
        }),
        _ => None,
    };
    Ok(Episode {
        id: EpisodeId::parse("id", &text("id")?).map_err(|_| corrupt("id"))?,
        patient_id: PatientId::parse("patient_id", &text("patient_id")?)
            .map_err(|_| corrupt("patient_id"))?,
        program: text("program")?,
        population: Population::parse(&text("population")?).ok_or_else(|| corrupt("population"))?,
        status: Status::parse(&text("status")?).ok_or_else(|| corrupt("status"))?,
        referral_date: parse_date(&text("referral_date")?, "referral_date")?,
        admit_date: opt("admit_date")?
            .map(|d| parse_date(&d, "admit_date"))
            .transpose()?,
        team: CareTeam {
            primary_clinician: text("primary_clinician")?,
            program_director: text("program_director")?,
        },
        levels: Vec::new(),
        discharge,
        version: int("version")?,
        create_time_us: int("create_time_us")?,
        update_time_us: int("update_time_us")?,
    })
}

fn level_from_row(row: &AnyRow) -> Result<LevelChange, Error> {
    let text = |col: &str| row.try_get::<String, _>(col).map_err(Error::internal);
    Ok(LevelChange {
        kind: LevelKind::parse(&text("kind")?).ok_or_else(|| corrupt("level kind"))?,
        level: Level::parse(&text("level")?).ok_or_else(|| corrupt("level"))?,
        effective_date: parse_date(&text("effective_date")?, "effective_date")?,
        reason: text("reason")?,
        changed_by: text("changed_by")?,
        change_time_us: row.try_get("change_time_us").map_err(Error::internal)?,
    })
}
