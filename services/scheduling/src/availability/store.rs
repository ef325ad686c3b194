//! Working hours and exceptions in the database. A week is one row per clinician and
//! location (`monday 09:00-17:00,tuesday 09:00-12:00`), replaced whole in a transaction
//! serialized on it, so two editors cannot both pass the same etag; an exception is a row.

use std::collections::HashMap;

use chrono::NaiveTime;
use iop_core::{ClinicianId, Error, ExceptionId, LocationId, TenantId};
use iop_db::{Db, Filter};
use iop_kit::etag::Whole;
use iop_kit::idempotency::{self, Claim, Key};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Day, ExceptionKind, StoredException, Week, WeeklyHours};

#[derive(Clone)]
pub struct AvailabilityStore {
    db: Db,
}

#[derive(Debug, Default, Clone)]
pub struct ExceptionQuery {
    pub clinician: Option<ClinicianId>,
    pub location: Option<LocationId>,
    /// Ending after.
    pub from_us: Option<i64>,
    /// Starting before.
    pub to_us: Option<i64>,
    pub after: Option<(i64, ExceptionId)>,
    pub limit: usize,
}

const WEEK_COLUMNS: &str = "clinician_id, location_id, hours, version, update_time_us, updated_by";
const EXCEPTION_COLUMNS: &str = "id, kind, clinician_id, location_id, start_us, end_us, reason, \
    created_by, create_time_us";

/// A page token's position: start time, then id.
pub fn position(e: &StoredException) -> String {
    format!("{}:{}", e.start_us, e.id)
}

pub fn parse_position(s: &str) -> Result<(i64, ExceptionId), Error> {
    let bad = || Error::rule("page_token", "is not a token returned by this query");
    let (start, id) = s.split_once(':').ok_or_else(bad)?;
    Ok((
        start.parse().map_err(|_| bad())?,
        ExceptionId::parse("page_token", id).map_err(|_| bad())?,
    ))
}

fn hours_text(hours: &[WeeklyHours]) -> String {
    hours
        .iter()
        .map(|h| {
            format!(
                "{} {}-{}",
                Day::of(h.day).as_str(),
                h.start.format("%H:%M"),
                h.end.format("%H:%M")
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_hours(s: &str) -> Option<Vec<WeeklyHours>> {
    s.split(',')
        .filter(|e| !e.is_empty())
        .map(|e| {
            let (day, times) = e.split_once(' ')?;
            let (start, end) = times.split_once('-')?;
            Some(WeeklyHours {
                day: Day::parse(day)?.weekday(),
                start: NaiveTime::parse_from_str(start, "%H:%M").ok()?,
                end: NaiveTime::parse_from_str(end, "%H:%M").ok()?,
            })
        })
        .collect()
}

impl AvailabilityStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub async fn week(
        &self,
        tenant: &TenantId,
        clinician: ClinicianId,
        location: LocationId,
    ) -> Result<Option<Week>, Error> {
        sqlx::query(&format!(
            "SELECT {WEEK_COLUMNS} FROM working_hours \
             WHERE tenant_id = $1 AND clinician_id = $2 AND location_id = $3"
        ))
        .bind(tenant.as_str())
        .bind(clinician.to_string())
        .bind(location.to_string())
        .fetch_optional(self.db.pool())
        .await
        .map_err(Error::internal)?
        .map(|r| week_from_row(&r))
        .transpose()
    }

    /// Every week of hours kept at `location`, by clinician.
    pub async fn weeks_at(
        &self,
        tenant: &TenantId,
        location: LocationId,
    ) -> Result<HashMap<ClinicianId, Vec<WeeklyHours>>, Error> {
        let rows = sqlx::query(&format!(
            "SELECT {WEEK_COLUMNS} FROM working_hours WHERE tenant_id = $1 AND location_id = $2"
        ))
        .bind(tenant.as_str())
        .bind(location.to_string())
        .fetch_all(self.db.pool())
        .await
        .map_err(Error::internal)?;
        rows.iter()
            .map(|r| week_from_row(r).map(|w| (w.clinician_id, w.hours)))
            .collect()
    }

    /// Replaces the week `w` names unless `etag` is set and not the current one; answers it
    /// as kept, with its new version.
    pub async fn set_week(&self, tenant: &TenantId, w: &Week, etag: &str) -> Result<Week, Error> {
        let version = iop_kit::etag::replace(
            &self.db,
            tenant,
            Whole {
                table: "working_hours",
                key: &[
                    ("clinician_id", w.clinician_id.to_string().into()),
                    ("location_id", w.location_id.to_string().into()),
                ],
                fields: &[
                    ("hours", hours_text(&w.hours).into()),
                    ("update_time_us", w.update_time_us.into()),
                    ("updated_by", w.updated_by.as_str().into()),
                ],
            },
            etag,
            "working hours of clinician",
            &w.clinician_id,
        )
        .await?;
        Ok(Week {
            version,
            ..w.clone()
        })
    }

    pub async fn insert_exception(
        &self,
        tenant: &TenantId,
        e: &StoredException,
        key: Option<&Key<'_>>,
    ) -> Result<Claim, Error> {
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
        sqlx::query(&format!(
            "INSERT INTO availability_exceptions (tenant_id, {EXCEPTION_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(tenant.as_str())
        .bind(e.id.to_string())
        .bind(e.kind.as_str())
        .bind(e.clinician_id.map(|c| c.to_string()).unwrap_or_default())
        .bind(e.location_id.map(|l| l.to_string()).unwrap_or_default())
        .bind(e.start_us)
        .bind(e.end_us)
        .bind(&e.reason)
        .bind(&e.created_by)
        .bind(e.create_time_us)
        .execute(&mut *tx)
        .await
        .map_err(Error::internal)?;
        tx.commit().await.map_err(Error::internal)?;
        Ok(Claim::New)
    }

    pub async fn exception(
        &self,
        tenant: &TenantId,
        id: ExceptionId,
    ) -> Result<Option<StoredException>, Error> {
        sqlx::query(&format!(
            "SELECT {EXCEPTION_COLUMNS} FROM availability_exceptions \
             WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.as_str())
        .bind(id.to_string())
        .fetch_optional(self.db.pool())
        .await
        .map_err(Error::internal)?
        .map(|r| exception_from_row(&r))
        .transpose()
    }

    /// Exceptions by start time: those naming `clinician` (their own), those naming
    /// `location` (its closures, and time off or extra hours there).
    pub async fn exceptions(
        &self,
        tenant: &TenantId,
        q: &ExceptionQuery,
    ) -> Result<Vec<StoredException>, Error> {
        let mut f = Filter::new(
            &format!("SELECT {EXCEPTION_COLUMNS} FROM availability_exceptions WHERE"),
            tenant.as_str(),
        );
        f.and_opt(" AND clinician_id = ?", q.clinician.map(|c| c.to_string()))
            .and_opt(" AND location_id = ?", q.location.map(|l| l.to_string()))
            .and_opt(" AND end_us > ?", q.from_us)
            .and_opt(" AND start_us < ?", q.to_us);
        if let Some((start, id)) = q.after {
            f.and(
                " AND (start_us > ? OR (start_us = ? AND id > ?))",
                [start.into(), start.into(), id.to_string().into()],
            );
        }
        f.page("start_us, id", q.limit)
            .fetch_all(self.db.pool())
            .await
            .map_err(Error::internal)?
            .iter()
            .map(exception_from_row)
            .collect()
    }

    /// What applies at `location` over `[from_us, to_us)`: its closures, and the time off
    /// and extra hours of any clinician there or (time off) everywhere.
    pub async fn exceptions_at(
        &self,
        tenant: &TenantId,
        location: LocationId,
        from_us: i64,
        to_us: i64,
    ) -> Result<Vec<StoredException>, Error> {
        sqlx::query(&format!(
            "SELECT {EXCEPTION_COLUMNS} FROM availability_exceptions \
             WHERE tenant_id = $1 AND (location_id = $2 OR location_id = '') \
             AND end_us > $3 AND start_us < $4 ORDER BY start_us, id"
        ))
        .bind(tenant.as_str())
        .bind(location.to_string())
        .bind(from_us)
        .bind(to_us)
        .fetch_all(self.db.pool())
        .await
        .map_err(Error::internal)?
        .iter()
        .map(exception_from_row)
        .collect()
    }

    /// Whether there was one to delete.
    pub async fn delete_exception(
        &self,
        tenant: &TenantId,
        id: ExceptionId,
    ) -> Result<bool, Error> {
        let done =
            sqlx::query("DELETE FROM availability_exceptions WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.as_str())
                .bind(id.to_string())
                .execute(self.db.pool())
                .await
                .map_err(Error::internal)?;
        Ok(done.rows_affected() > 0)
    }
}

fn week_from_row(r: &AnyRow) -> Result<Week, Error> {
    let text = |c: &str| r.try_get::<String, _>(c).map_err(Error::internal);
    let int = |c: &str| r.try_get::<i64, _>(c).map_err(Error::internal);
    let bad = |what: &str| Error::internal(format!("stored working hours have a bad {what}"));
    Ok(Week {
        clinician_id: ClinicianId::parse("clinician_id", &text("clinician_id")?)
            .map_err(|_| bad("clinician"))?,
        location_id: LocationId::parse("location_id", &text("location_id")?)
            .map_err(|_| bad("location"))?,
        hours: parse_hours(&text("hours")?).ok_or_else(|| bad("week"))?,
        version: int("version")?,
        update_time_us: int("update_time_us")?,
        updated_by: text("updated_by")?,
    })
}

fn exception_from_row(r: &AnyRow) -> Result<StoredException, Error> {
    let text = |c: &str| r.try_get::<String, _>(c).map_err(Error::internal);
    let int = |c: &str| r.try_get::<i64, _>(c).map_err(Error::internal);
    let bad = |what: &str| Error::internal(format!("stored exception has a bad {what}"));
    let clinician = text("clinician_id")?;
    let location = text("location_id")?;
    Ok(StoredException {
        id: ExceptionId::parse("id", &text("id")?).map_err(|_| bad("id"))?,
        kind: ExceptionKind::parse(&text("kind")?).ok_or_else(|| bad("kind"))?,
        clinician_id: (!clinician.is_empty())
            .then(|| ClinicianId::parse("clinician_id", &clinician).map_err(|_| bad("clinician")))
            .transpose()?,
        location_id: (!location.is_empty())
            .then(|| LocationId::parse("location_id", &location).map_err(|_| bad("location")))
            .transpose()?,
        start_us: int("start_us")?,
        end_us: int("end_us")?,
        reason: text("reason")?,
        created_by: text("created_by")?,
        create_time_us: int("create_time_us")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_week_reads_back_as_written() {
        let t = |s: &str| NaiveTime::parse_from_str(s, "%H:%M").unwrap();
        let week = vec![
            WeeklyHours {
                day: chrono::Weekday::Mon,
                start: t("09:00"),
                end: t("17:00"),
            },
            WeeklyHours {
                day: chrono::Weekday::Sun,
                start: t("18:30"),
                end: t("21:00"),
            },
        ];
        let text = hours_text(&week);
        assert_eq!(text, "monday 09:00-17:00,sunday 18:30-21:00");
        assert_eq!(parse_hours(&text).unwrap(), week);
        assert_eq!(parse_hours("").unwrap(), vec![]);
        assert!(parse_hours("someday 09:00-10:00").is_none());
    }
}
