//! Tracks in the database: one row each, keyed by tenant and id; meetings as
//! `monday 18:00-21:00` entries between commas, the curriculum one topic per line.

use chrono::{NaiveDate, NaiveTime};
use iop_core::{ClinicianId, Error, LocationId, ProgramId, RoomId, TenantId, TrackId};
use iop_db::{Db, Filter, is_unique_violation};
use iop_kit::dates::{date_text, parse_date_text};
use iop_kit::idempotency::{self, Claim, Key};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Day, Meeting, Track};
use crate::columns;
use crate::programs::Modality;
use crate::sessions::Session;
use crate::sessions::store::SessionStore;

#[derive(Clone)]
pub struct TrackStore {
    db: Db,
}

const COLUMNS: &str = "id, program_id, name, location_id, room_id, modality, meetings, \
    facilitator_clinician_ids, capacity, curriculum, start_date, active, create_time_us";

impl TrackStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Writes the track, pending, with its first `sessions` (laid out through
    /// `generated_through`), all at once.
    pub async fn insert(
        &self,
        tenant: &TenantId,
        t: &Track,
        sessions: &[Session],
        generated_through: NaiveDate,
        key: Option<&Key<'_>>,
    ) -> Result<Claim, Error> {
        let mut tx = iop_kit::fresh!(
            idempotency::begin_create(
                &self.db,
                tenant,
                super::KIND,
                key,
                &t.id.to_string(),
                t.create_time_us,
            )
            .await?
        );
        sqlx::query(&format!(
            "INSERT INTO tracks (tenant_id, name_key, {COLUMNS}, state, generated_through) VALUES {}",
            iop_db::value_rows(2, 1, COLUMNS.split(',').count() + 2)
        ))
        .bind(tenant.as_str())
        .bind(t.name.to_lowercase())
        .bind(t.id.to_string())
        .bind(t.program_id.to_string())
        .bind(&t.name)
        .bind(t.location_id.to_string())
        .bind(t.room_id.map(|r| r.to_string()).unwrap_or_default())
        .bind(t.modality.as_str())
        .bind(columns::join(t.meetings.iter().map(meeting_text)))
        .bind(columns::join(&t.facilitator_clinician_ids))
        .bind(i64::from(t.capacity))
        .bind(columns::join_lines(&t.curriculum))
        .bind(date_text(t.start_date))
        .bind(i64::from(t.active))
        .bind(t.create_time_us)
        .bind("pending")
        .bind(date_text(generated_through))
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::AlreadyExists(format!(
                    "track.name: this program already has a track named {:?}",
                    t.name
                ))
            } else {
                Error::internal(e)
            }
        })?;
        SessionStore::insert_in(&mut tx, tenant, t, sessions).await?;
        tx.commit().await.map_err(Error::internal)?;
        Ok(Claim::New)
    }

    /// Whether the track is still pending (its sessions' holds not all placed).
    pub async fn is_pending(&self, tenant: &TenantId, id: TrackId) -> Result<bool, Error> {
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM tracks WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.as_str())
                .bind(id.to_string())
                .fetch_optional(self.db.pool())
                .await
                .map_err(Error::internal)?;
        Ok(state.as_deref() == Some("pending"))
    }

    /// Tracks of every clinic still pending that were created before `before_us`, oldest
    /// first, a batch at a time.
    pub async fn pending(&self, before_us: i64) -> Result<Vec<(TenantId, Track)>, Error> {
        let rows = sqlx::query(&format!(
            "SELECT tenant_id, {COLUMNS} FROM tracks WHERE state = 'pending' \
             AND create_time_us < $1 ORDER BY create_time_us LIMIT 50"
        ))
        .bind(before_us)
        .fetch_all(self.db.pool())
        .await
        .map_err(Error::internal)?;
        rows.iter()
            .map(|r| {
                let tenant: String = r.try_get("tenant_id").map_err(Error::internal)?;
                let tenant = TenantId::parse(&tenant)
                    .map_err(|_| Error::internal("stored track has a bad tenant"))?;
                Ok((tenant, from_row(r)?))
            })
            .collect()
    }

    pub async fn get(&self, tenant: &TenantId, id: TrackId) -> Result<Option<Track>, Error> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM tracks WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.as_str())
        .bind(id.to_string())
        .fetch_optional(self.db.pool())
        .await
        .map_err(Error::internal)?
        .map(|r| from_row(&r))
        .transpose()
    }

    /// Up to `limit` tracks after `after` (of `program` if set, only active ones if
    /// `active_only`), oldest first.
    pub async fn list(
        &self,
        tenant: &TenantId,
        program: Option<ProgramId>,
        after: Option<TrackId>,
        active_only: bool,
        limit: usize,
    ) -> Result<Vec<Track>, Error> {
        let mut f = Filter::new(
            &format!("SELECT {COLUMNS} FROM tracks WHERE"),
            tenant.as_str(),
        );
        f.and_opt(" AND program_id = ?", program.map(|p| p.to_string()))
            .and_opt(" AND id > ?", after.map(|a| a.to_string()));
        if active_only {
            f.push(" AND active = 1 AND state = 'active'");
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

fn meeting_text(m: &Meeting) -> String {
    format!(
        "{} {}-{}",
        m.day.as_str(),
        m.start.format("%H:%M"),
        m.end.format("%H:%M")
    )
}

fn parse_meeting(s: &str) -> Result<Meeting, ()> {
    let (day, times) = s.split_once(' ').ok_or(())?;
    let (start, end) = times.split_once('-').ok_or(())?;
    let time = |t: &str| NaiveTime::parse_from_str(t, "%H:%M").map_err(|_| ());
    Ok(Meeting {
        day: Day::parse(day).ok_or(())?,
        start: time(start)?,
        end: time(end)?,
    })
}

fn from_row(r: &AnyRow) -> Result<Track, Error> {
    let text = |c: &str| r.try_get::<String, _>(c).map_err(Error::internal);
    let int = |c: &str| r.try_get::<i64, _>(c).map_err(Error::internal);
    let bad = |what: &str| Error::internal(format!("stored track has a bad {what}"));
    Ok(Track {
        id: TrackId::parse("id", &text("id")?).map_err(|_| bad("id"))?,
        program_id: ProgramId::parse("id", &text("program_id")?).map_err(|_| bad("program"))?,
        name: text("name")?,
        location_id: LocationId::parse("id", &text("location_id")?).map_err(|_| bad("location"))?,
        room_id: iop_kit::fields::optional_id("room_id", &text("room_id")?, RoomId::parse)
            .map_err(|_| bad("room"))?,
        modality: Modality::parse(&text("modality")?).ok_or_else(|| bad("modality"))?,
        meetings: columns::split(&text("meetings")?, parse_meeting).map_err(|_| bad("meeting"))?,
        facilitator_clinician_ids: columns::split(&text("facilitator_clinician_ids")?, |s| {
            ClinicianId::parse("id", s)
        })
        .map_err(|_| bad("facilitator"))?,
        capacity: i32::try_from(int("capacity")?).map_err(|_| bad("capacity"))?,
        curriculum: columns::split_lines(&text("curriculum")?),
        start_date: parse_date_text(&text("start_date")?).ok_or_else(|| bad("start date"))?,
        active: int("active")? != 0,
        create_time_us: int("create_time_us")?,
    })
}
