//! Sessions in the database, and the steps of a track's settling: written with the track,
//! each hold recorded, the track activated — or removed with its sessions.

use chrono::DateTime;
use iop_core::{Error, SessionId, TenantId, TrackId};
use iop_db::Db;
use iop_kit::dates::{date_text, parse_date_text};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::Session;
use crate::columns;
use crate::schedule::Planned;
use crate::tracks::Track;

#[derive(Clone)]
pub struct SessionStore {
    db: Db,
}

const COLUMNS: &str = "id, track_id, local_date, start_us, end_us, number, topic, room_id, \
    facilitator_clinician_ids, status, hold_id, create_time_us";

/// Rows a statement: well under either database's limit on bound parameters.
const ROWS: usize = 100;

impl SessionStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Writes `sessions` of `track` inside the caller's transaction (the track's create).
    pub async fn insert_in(
        conn: &mut sqlx::AnyConnection,
        tenant: &TenantId,
        track: &Track,
        sessions: &[Session],
    ) -> Result<(), Error> {
        let columns = COLUMNS.split(',').count();
        for chunk in sessions.chunks(ROWS) {
            let sql = format!(
                "INSERT INTO sessions (tenant_id, {COLUMNS}) VALUES {}",
                iop_db::value_rows(1, chunk.len(), columns)
            );
            let mut q = sqlx::query(&sql).bind(tenant.as_str());
            for s in chunk {
                q = q
                    .bind(s.id.to_string())
                    .bind(track.id.to_string())
                    .bind(date_text(s.planned.date))
                    .bind(s.planned.start.timestamp_micros())
                    .bind(s.planned.end.timestamp_micros())
                    .bind(i64::from(s.planned.number))
                    .bind(s.planned.topic.clone().unwrap_or_default())
                    .bind(track.room_id.map(|r| r.to_string()).unwrap_or_default())
                    .bind(columns::join(&track.facilitator_clinician_ids))
                    .bind("scheduled")
                    .bind(s.hold_id.clone())
                    .bind(track.create_time_us);
            }
            q.execute(&mut *conn).await.map_err(Error::internal)?;
        }
        Ok(())
    }

    /// The track's sessions by start.
    pub async fn of_track(&self, tenant: &TenantId, track: TrackId) -> Result<Vec<Session>, Error> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM sessions WHERE tenant_id = $1 AND track_id = $2 \
             ORDER BY start_us"
        ))
        .bind(tenant.as_str())
        .bind(track.to_string())
        .fetch_all(self.db.pool())
        .await
        .map_err(Error::internal)?
        .iter()
        .map(from_row)
        .collect()
    }

    pub async fn set_hold(
        &self,
        tenant: &TenantId,
        id: SessionId,
        hold: &str,
    ) -> Result<(), Error> {
        sqlx::query("UPDATE sessions SET hold_id = $3 WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id.to_string())
            .bind(hold)
            .execute(self.db.pool())
            .await
            .map_err(Error::internal)?;
        Ok(())
    }

    /// Every session holds its time: the track takes part from now on.
    pub async fn activate(&self, tenant: &TenantId, track: TrackId) -> Result<(), Error> {
        sqlx::query("UPDATE tracks SET state = 'active' WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(track.to_string())
            .execute(self.db.pool())
            .await
            .map_err(Error::internal)?;
        Ok(())
    }

    /// Removes a refused track, its sessions and the key its create was made with (a retry
    /// of that create tries afresh), all at once.
    pub async fn remove_track(&self, tenant: &TenantId, track: TrackId) -> Result<(), Error> {
        let mut tx = self.db.pool().begin().await.map_err(Error::internal)?;
        for sql in [
            "DELETE FROM sessions WHERE tenant_id = $1 AND track_id = $2",
            "DELETE FROM tracks WHERE tenant_id = $1 AND id = $2",
            "DELETE FROM create_requests WHERE tenant_id = $1 AND kind = 'track' AND resource_id = $2",
        ] {
            sqlx::query(sql)
                .bind(tenant.as_str())
                .bind(track.to_string())
                .execute(&mut *tx)
                .await
                .map_err(Error::internal)?;
        }
        tx.commit().await.map_err(Error::internal)
    }
}

fn from_row(r: &AnyRow) -> Result<Session, Error> {
    let text = |c: &str| r.try_get::<String, _>(c).map_err(Error::internal);
    let int = |c: &str| r.try_get::<i64, _>(c).map_err(Error::internal);
    let bad = |what: &str| Error::internal(format!("stored session has a bad {what}"));
    let instant = |c: &str| {
        int(c).and_then(|us| DateTime::from_timestamp_micros(us).ok_or_else(|| bad("time")))
    };
    let topic = text("topic")?;
    Ok(Session {
        id: SessionId::parse("id", &text("id")?).map_err(|_| bad("id"))?,
        track_id: TrackId::parse("id", &text("track_id")?).map_err(|_| bad("track"))?,
        planned: Planned {
            date: parse_date_text(&text("local_date")?).ok_or_else(|| bad("date"))?,
            start: instant("start_us")?,
            end: instant("end_us")?,
            number: u32::try_from(int("number")?).map_err(|_| bad("number"))?,
            topic: (!topic.is_empty()).then_some(topic),
        },
        hold_id: text("hold_id")?,
    })
}
