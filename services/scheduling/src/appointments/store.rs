//! Appointments in the database: a row each, and a `bookings` row for each resource a live
//! one occupies. A booking is written in one transaction with its idempotency claim:
//!
//! - on SQLite the transaction holds the database's one write turn from its first statement
//!   (`iop_kit::idempotency::begin_create`), so the overlap check and the insert cannot
//!   interleave with another booking;
//! - on PostgreSQL a booking first takes the advisory locks of what it will occupy (its
//!   clinicians, room and patient, in one order), so bookings sharing any of them take
//!   turns and bookings of other resources run side by side; and the `bookings_no_overlap`
//!   exclusion constraint refuses an overlapping exclusive booking of the same resource at
//!   insert whatever wrote it (SQLSTATE 23P01), the database's own guarantee beneath ours.

use iop_core::{
    AppointmentId, ClinicianId, ContactId, Error, LocationId, PatientId, ReferralId, RoomId,
    SeriesId, TenantId,
};
use iop_db::{Db, Filter};
use iop_kit::idempotency::{self, Claim, Key};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{
    Appointment, Cancellation, CancellationKind, MAX_LENGTH, Modality, SeriesScope, Status, clashes,
};
use crate::clinicians::AppointmentKind;
use crate::conflicts::{Booked, Conflict, Held, Resource};
use crate::interval::Span;

#[derive(Clone)]
pub struct AppointmentStore {
    db: Db,
}

/// What one booking writes.
pub struct Booking<'a> {
    pub appointments: &'a [Appointment],
    pub resources: &'a [Resource],
    /// False when booked over conflicts on purpose: not checked, and not in the constraint.
    pub exclusive: bool,
    /// The id its idempotency key records (the series', or the one appointment's).
    pub claim_id: &'a str,
}

#[derive(Debug, Default, Clone)]
pub struct AppointmentQuery {
    pub patient: Option<PatientId>,
    pub clinician: Option<ClinicianId>,
    pub room: Option<RoomId>,
    pub series: Option<SeriesId>,
    pub referral: Option<ReferralId>,
    pub from_us: Option<i64>,
    pub to_us: Option<i64>,
    pub status: Option<Status>,
    /// Only those this clinician sees: theirs and their patients' ([`crate::sight`]).
    pub seen_by: Option<ClinicianId>,
    pub after: Option<(i64, AppointmentId)>,
    pub limit: usize,
}

const COLUMNS: &str = "id, kind, patient_id, clinician_ids, location_id, modality, room_id, \
    join_url, start_us, end_us, status, series_id, overlap_reason, cancel_kind, cancel_reason, \
    cancelled_by, cancel_time_us, booked_by, create_time_us, version, rescheduled_from, \
    rescheduled_to, referral_id, family_contact_ids";

/// A resource as the `bookings` table names it.
pub fn resource_key(r: &Resource) -> String {
    match r {
        Resource::Clinician(id) => format!("clinician:{id}"),
        Resource::Room(id) => format!("room:{id}"),
        Resource::Patient(id) => format!("patient:{id}"),
    }
}

fn resource_of(key: &str) -> Option<Resource> {
    let (kind, id) = key.split_once(':')?;
    let id = id.to_owned();
    match kind {
        "clinician" => Some(Resource::Clinician(id)),
        "room" => Some(Resource::Room(id)),
        "patient" => Some(Resource::Patient(id)),
        _ => None,
    }
}

/// A page token's position: start time, then id.
pub fn position(a: &Appointment) -> String {
    format!("{}:{}", a.start_us, a.id)
}

pub fn parse_position(s: &str) -> Result<(i64, AppointmentId), Error> {
    let bad = || Error::rule("page_token", "is not a token returned by this query");
    let (start, id) = s.split_once(':').ok_or_else(bad)?;
    Ok((
        start.parse().map_err(|_| bad())?,
        AppointmentId::parse("page_token", id).map_err(|_| bad())?,
    ))
}

pub(crate) fn is_exclusion_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("23P01"))
}

/// PostgreSQL aborted the transaction to break a deadlock (40P01).
fn is_deadlock(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("40P01"))
}

/// Why one try at a booking failed: a deadlock the database broke (try again), or an answer.
enum Retry {
    Deadlock,
    No(Error),
}

/// A failed statement: a deadlock the database broke is tried again; anything else is an
/// internal error.
fn retry(e: sqlx::Error) -> Retry {
    if is_deadlock(&e) {
        Retry::Deadlock
    } else {
        Retry::No(Error::internal(e))
    }
}

impl From<Error> for Retry {
    fn from(e: Error) -> Self {
        Self::No(e)
    }
}

impl AppointmentStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Writes a booking unless any of its occurrences overlaps what its resources already
    /// hold (then [`Error::Clashes`] names every one).
    pub async fn book(
        &self,
        tenant: &TenantId,
        b: &Booking<'_>,
        key: Option<&Key<'_>>,
    ) -> Result<Claim, Error> {
        // Bookings rows go in in one global order, but two bookings waiting on each other's
        // rows of one resource (long or many occurrences) can still deadlock on PostgreSQL;
        // the database then aborts one, which starts over.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.book_once(tenant, b, key).await {
                Err(Retry::Deadlock) if attempt < 5 => continue,
                Err(Retry::Deadlock) => {
                    return Err(Error::Unavailable(
                        "the schedule is busy with other bookings of the same time; retry".into(),
                    ));
                }
                Err(Retry::No(e)) => return Err(e),
                Ok(claim) => return Ok(claim),
            }
        }
    }

    async fn book_once(
        &self,
        tenant: &TenantId,
        b: &Booking<'_>,
        key: Option<&Key<'_>>,
    ) -> Result<Claim, Retry> {
        let now = b.appointments.first().map_or(0, |a| a.create_time_us);
        let mut tx = iop_kit::fresh!(
            idempotency::begin_create(&self.db, tenant, super::KIND, key, b.claim_id, now).await?
        );
        self.place(&mut tx, tenant, b).await?;
        tx.commit().await.map_err(retry)?;
        Ok(Claim::New)
    }

    /// What `resources` hold over `window`: live appointments and holds, one entry per
    /// resource and booking.
    pub async fn busy(
        &self,
        tenant: &TenantId,
        resources: &[Resource],
        window: Span,
    ) -> Result<Vec<Held>, Error> {
        let mut conn = self.db.pool().acquire().await.map_err(Error::internal)?;
        held(
            &mut conn,
            tenant,
            resources,
            window.start.timestamp_micros(),
            window.end.timestamp_micros(),
        )
        .await
    }

    pub async fn get(
        &self,
        tenant: &TenantId,
        id: AppointmentId,
    ) -> Result<Option<Appointment>, Error> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM appointments WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.as_str())
        .bind(id.to_string())
        .fetch_optional(self.db.pool())
        .await
        .map_err(Error::internal)?
        .map(|r| from_row(&r))
        .transpose()
    }

    /// Every occurrence of a series, by start time.
    pub async fn series(
        &self,
        tenant: &TenantId,
        series: SeriesId,
    ) -> Result<Vec<Appointment>, Error> {
        self.list(
            tenant,
            &AppointmentQuery {
                series: Some(series),
                limit: crate::recurrence::MAX_OCCURRENCES + 1,
                ..Default::default()
            },
        )
        .await
    }

    pub async fn list(
        &self,
        tenant: &TenantId,
        q: &AppointmentQuery,
    ) -> Result<Vec<Appointment>, Error> {
        let mut f = Filter::new(
            &format!("SELECT {COLUMNS} FROM appointments WHERE"),
            tenant.as_str(),
        );
        f.and_opt(" AND patient_id = ?", q.patient.map(|p| p.to_string()))
            .and_opt(
                " AND clinician_ids LIKE ?",
                q.clinician.map(|c| format!("%,{c},%")),
            )
            .and_opt(" AND room_id = ?", q.room.map(|r| r.to_string()))
            .and_opt(" AND series_id = ?", q.series.map(|s| s.to_string()))
            .and_opt(" AND referral_id = ?", q.referral.map(|r| r.to_string()))
            .and_opt(" AND start_us >= ?", q.from_us)
            .and_opt(" AND start_us < ?", q.to_us)
            .and_opt(" AND status = ?", q.status.map(Status::as_str));
        if let Some(c) = q.seen_by {
            let theirs = format!("%,{c},%");
            f.and(
                " AND (clinician_ids LIKE ? OR patient_id IN (SELECT patient_id FROM \
                 appointments WHERE tenant_id = ? AND clinician_ids LIKE ? AND patient_id <> ''))",
                [
                    theirs.clone().into(),
                    tenant.as_str().to_owned().into(),
                    theirs.into(),
                ],
            );
        }
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
            .map(from_row)
            .collect()
    }

    /// Whether `patient` has an appointment (of any status) with `clinician`.
    pub async fn sees(
        &self,
        tenant: &TenantId,
        clinician: ClinicianId,
        patient: PatientId,
    ) -> Result<bool, Error> {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT id FROM appointments WHERE tenant_id = $1 AND patient_id = $2 \
             AND clinician_ids LIKE $3 LIMIT 1",
        )
        .bind(tenant.as_str())
        .bind(patient.to_string())
        .bind(format!("%,{clinician},%"))
        .fetch_optional(self.db.pool())
        .await
        .map_err(Error::internal)?;
        Ok(found.is_some())
    }

    /// Puts each `moved` in the place of its `current` (each read, the first with its etag
    /// checked; all of one patient, clinicians and room: one appointment or occurrences of a
    /// series), in one transaction: each `current` becomes `rescheduled` naming its
    /// replacement and frees its time, then the replacements are checked and booked like a
    /// series, any clash refusing them all.
    pub async fn reschedule(
        &self,
        tenant: &TenantId,
        moves: &[(Appointment, Appointment)],
    ) -> Result<(), Error> {
        let Some((first, _)) = moves.first() else {
            return Ok(());
        };
        let _turn = self.db.write_turn().await;
        let mut tx = self.db.pool().begin().await.map_err(Error::internal)?;
        for (current, moved) in moves {
            let done = sqlx::query(
                "UPDATE appointments SET status = $1, rescheduled_to = $2, version = version + 1 \
                 WHERE tenant_id = $3 AND id = $4 AND version = $5 AND status = 'booked'",
            )
            .bind(Status::Rescheduled.as_str())
            .bind(moved.id.to_string())
            .bind(tenant.as_str())
            .bind(current.id.to_string())
            .bind(current.version)
            .execute(&mut *tx)
            .await
            .map_err(Error::internal)?;
            if done.rows_affected() != 1 {
                return Err(iop_kit::etag::stale("appointment", &current.id));
            }
        }
        let old: Vec<String> = moves.iter().map(|(c, _)| c.id.to_string()).collect();
        free(&mut tx, tenant, &old).await?;
        let moved: Vec<Appointment> = moves.iter().map(|(_, m)| m.clone()).collect();
        let resources = first.resources();
        let b = Booking {
            appointments: &moved,
            resources: &resources,
            exclusive: moved[0].overlap_reason.is_empty(),
            claim_id: "",
        };
        self.place(&mut tx, tenant, &b).await.map_err(|r| match r {
            Retry::No(e) => e,
            Retry::Deadlock => Error::Unavailable(
                "the schedule is busy with other bookings of the same time; retry".into(),
            ),
        })?;
        tx.commit().await.map_err(Error::internal)?;
        Ok(())
    }

    /// Books `b` inside `conn`'s transaction: locks what it will occupy (bookings of the same
    /// clinician, room or patient take turns from here to commit, so the check sees every one
    /// before it), refuses any clash, and writes it.
    async fn place(
        &self,
        conn: &mut sqlx::AnyConnection,
        tenant: &TenantId,
        b: &Booking<'_>,
    ) -> Result<(), Retry> {
        let keys: Vec<String> = b
            .resources
            .iter()
            .map(|r| format!("{tenant}/booking/{}", resource_key(r)))
            .collect();
        self.db.lock_keys(conn, &keys).await.map_err(retry)?;
        if b.exclusive {
            let found = overlaps(conn, tenant, b).await?;
            if !found.is_empty() {
                return Err(clashes(b.appointments, &found).into());
            }
        }
        write(conn, tenant, b).await.map_err(|e| {
            if is_exclusion_violation(&e) {
                // Only a writer that took no lock can get here: the database refused it.
                Error::Conflict("another booking took this time meanwhile; read and retry".into())
                    .into()
            } else {
                retry(e)
            }
        })
    }

    /// Moves `current` (read with its etag checked) to `to`; a no-show's time is freed.
    pub async fn set_status(
        &self,
        tenant: &TenantId,
        current: &Appointment,
        to: Status,
    ) -> Result<Appointment, Error> {
        let _turn = self.db.write_turn().await;
        let mut tx = self.db.pool().begin().await.map_err(Error::internal)?;
        let done = sqlx::query(
            "UPDATE appointments SET status = $1, version = version + 1 \
             WHERE tenant_id = $2 AND id = $3 AND version = $4",
        )
        .bind(to.as_str())
        .bind(tenant.as_str())
        .bind(current.id.to_string())
        .bind(current.version)
        .execute(&mut *tx)
        .await
        .map_err(Error::internal)?;
        if done.rows_affected() != 1 {
            return Err(iop_kit::etag::stale("appointment", &current.id));
        }
        if !to.holds_time() {
            free(&mut tx, tenant, &[current.id.to_string()]).await?;
        }
        tx.commit().await.map_err(Error::internal)?;
        self.get(tenant, current.id)
            .await?
            .ok_or_else(|| Error::internal("an appointment vanished while its status changed"))
    }

    /// Cancels `current` (read with its etag checked) and, by `scope`, the series' later or
    /// other live occurrences; their bookings go, so their time is free.
    pub async fn cancel(
        &self,
        tenant: &TenantId,
        current: &Appointment,
        scope: SeriesScope,
        c: &Cancellation,
    ) -> Result<Vec<Appointment>, Error> {
        let _turn = self.db.write_turn().await;
        let mut tx = self.db.pool().begin().await.map_err(Error::internal)?;
        // The one named, only if unchanged since its etag was checked.
        let done = sqlx::query(
            "UPDATE appointments SET status = $1, cancel_kind = $2, cancel_reason = $3, \
             cancelled_by = $4, cancel_time_us = $5, version = version + 1 \
             WHERE tenant_id = $6 AND id = $7 AND version = $8",
        )
        .bind(Status::Cancelled.as_str())
        .bind(c.kind.as_str())
        .bind(&c.reason)
        .bind(&c.by)
        .bind(c.time_us)
        .bind(tenant.as_str())
        .bind(current.id.to_string())
        .bind(current.version)
        .execute(&mut *tx)
        .await
        .map_err(Error::internal)?;
        if done.rows_affected() != 1 {
            return Err(iop_kit::etag::stale("appointment", &current.id));
        }
        let mut ids = vec![current.id.to_string()];
        if let (Some(series), SeriesScope::ThisAndFollowing | SeriesScope::All) =
            (current.series_id, scope)
        {
            // This and the later ones; or all not yet over (what is past stays as it was).
            let (from, ends_after) = match scope {
                SeriesScope::ThisAndFollowing => (current.start_us, i64::MIN),
                _ => (i64::MIN, c.time_us),
            };
            let others: Vec<String> = sqlx::query_scalar(
                "SELECT id FROM appointments WHERE tenant_id = $1 AND series_id = $2 \
                 AND start_us >= $3 AND id <> $4 AND status IN ('booked', 'checked_in') \
                 AND end_us > $5",
            )
            .bind(tenant.as_str())
            .bind(series.to_string())
            .bind(from)
            .bind(current.id.to_string())
            .bind(ends_after)
            .fetch_all(&mut *tx)
            .await
            .map_err(Error::internal)?;
            for id in &others {
                sqlx::query(
                    "UPDATE appointments SET status = $1, cancel_kind = $2, cancel_reason = $3, \
                     cancelled_by = $4, cancel_time_us = $5, version = version + 1 \
                     WHERE tenant_id = $6 AND id = $7",
                )
                .bind(Status::Cancelled.as_str())
                .bind(c.kind.as_str())
                .bind(&c.reason)
                .bind(&c.by)
                .bind(c.time_us)
                .bind(tenant.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(Error::internal)?;
            }
            ids.extend(others);
        }
        free(&mut tx, tenant, &ids).await?;
        tx.commit().await.map_err(Error::internal)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let id = AppointmentId::parse("id", &id)
                .map_err(|_| Error::internal("stored appointment has a bad id"))?;
            out.extend(self.get(tenant, id).await?);
        }
        out.sort_by_key(|a| (a.start_us, a.id));
        Ok(out)
    }
}

/// Frees the time of appointments no longer holding it (cancelled, a no-show, rescheduled),
/// and records what is still to come as an opening for the waitlist
/// ([`crate::waitlist`]) in the same transaction, so no freed time is lost to a crash.
async fn free(
    conn: &mut sqlx::AnyConnection,
    tenant: &TenantId,
    ids: &[String],
) -> Result<(), Error> {
    let now = iop_core::now_micros();
    for id in ids {
        sqlx::query("DELETE FROM bookings WHERE tenant_id = $1 AND appointment_id = $2")
            .bind(tenant.as_str())
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(Error::internal)?;
        crate::waitlist::store::opened(&mut *conn, tenant, id, now).await?;
    }
    Ok(())
}

/// Every clash of an occurrence of `b` with what is booked already.
async fn overlaps(
    conn: &mut sqlx::AnyConnection,
    tenant: &TenantId,
    b: &Booking<'_>,
) -> Result<Vec<Conflict>, Error> {
    let (Some(first), Some(last)) = (b.appointments.first(), b.appointments.last()) else {
        return Ok(Vec::new());
    };
    let min_start = b
        .appointments
        .iter()
        .map(|a| a.start_us)
        .min()
        .unwrap_or(first.start_us);
    let max_end = b
        .appointments
        .iter()
        .map(|a| a.end_us)
        .max()
        .unwrap_or(last.end_us);
    let held = held(conn, tenant, b.resources, min_start, max_end).await?;
    let proposed = b
        .appointments
        .iter()
        .map(|a| {
            Span::new(
                super::instant("start", a.start_us)?,
                super::instant("end", a.end_us)?,
            )
            .ok_or_else(|| Error::internal("an occurrence has an empty span"))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(Booked::new(&held).conflicts(b.resources, &proposed))
}

/// What `resources` hold over `[from_us, to_us)`: every booking row overlapping it, whether
/// booked exclusively or over a conflict on purpose.
async fn held(
    conn: &mut sqlx::AnyConnection,
    tenant: &TenantId,
    resources: &[Resource],
    from_us: i64,
    to_us: i64,
) -> Result<Vec<Held>, Error> {
    if resources.is_empty() {
        return Ok(Vec::new());
    }
    let longest = MAX_LENGTH.num_microseconds().unwrap_or(i64::MAX);
    let keys: Vec<String> = resources.iter().map(resource_key).collect();
    let mut f = Filter::new(
        "SELECT resource, appointment_id, start_us, end_us FROM bookings WHERE",
        tenant.as_str(),
    );
    let marks = vec!["?"; keys.len()].join(", ");
    f.and(
        &format!(" AND resource IN ({marks})"),
        keys.iter().map(|k| k.clone().into()),
    );
    // A booking lasts at most MAX_LENGTH: the index range on start stays tight.
    f.and(
        " AND start_us > ?",
        [from_us.saturating_sub(longest).into()],
    )
    .and(" AND start_us < ?", [to_us.into()])
    .and(" AND end_us > ?", [from_us.into()]);
    let rows = f
        .page("start_us", usize::MAX >> 1)
        .fetch_all(&mut *conn)
        .await
        .map_err(Error::internal)?;
    let mut held = Vec::with_capacity(rows.len());
    for r in &rows {
        let text = |c: &str| r.try_get::<String, _>(c).map_err(Error::internal);
        let us = |c: &str| r.try_get::<i64, _>(c).map_err(Error::internal);
        let resource = resource_of(&text("resource")?)
            .ok_or_else(|| Error::internal("stored booking has a bad resource"))?;
        let span = Span::new(
            super::instant("start", us("start_us")?)?,
            super::instant("end", us("end_us")?)?,
        )
        .ok_or_else(|| Error::internal("stored booking has an empty span"))?;
        held.push(Held {
            id: text("appointment_id")?,
            resources: vec![resource],
            span,
        });
    }
    Ok(held)
}

async fn write(
    conn: &mut sqlx::AnyConnection,
    tenant: &TenantId,
    b: &Booking<'_>,
) -> Result<(), sqlx::Error> {
    // Many rows a statement (a series has up to 260 occurrences × 6 resources): well under
    // either database's limit on bound parameters.
    const ROWS: usize = 100;
    let columns = COLUMNS.split(',').count();
    for chunk in b.appointments.chunks(ROWS) {
        let sql = format!(
            "INSERT INTO appointments (tenant_id, {COLUMNS}) VALUES {}",
            iop_db::value_rows(1, chunk.len(), columns)
        );
        let mut q = sqlx::query(&sql).bind(tenant.as_str());
        for a in chunk {
            let cancel = a.cancellation.as_ref();
            q = q
                .bind(a.id.to_string())
                .bind(a.kind.as_str())
                .bind(a.patient_id.map(|p| p.to_string()).unwrap_or_default())
                .bind(ids_text(&a.clinician_ids))
                .bind(a.location_id.to_string())
                .bind(a.modality.as_str())
                .bind(a.room_id.map(|r| r.to_string()).unwrap_or_default())
                .bind(a.join_url.clone())
                .bind(a.start_us)
                .bind(a.end_us)
                .bind(a.status.as_str())
                .bind(a.series_id.map(|s| s.to_string()).unwrap_or_default())
                .bind(a.overlap_reason.clone())
                .bind(cancel.map_or("", |c| c.kind.as_str()))
                .bind(cancel.map(|c| c.reason.clone()).unwrap_or_default())
                .bind(cancel.map(|c| c.by.clone()).unwrap_or_default())
                .bind(cancel.map_or(0, |c| c.time_us))
                .bind(a.booked_by.clone())
                .bind(a.create_time_us)
                .bind(a.version)
                .bind(
                    a.rescheduled_from
                        .map(|r| r.to_string())
                        .unwrap_or_default(),
                )
                .bind(a.rescheduled_to.map(|r| r.to_string()).unwrap_or_default())
                .bind(a.referral_id.map(|r| r.to_string()).unwrap_or_default())
                .bind(ids_text(&a.family_contact_ids));
        }
        q.execute(&mut *conn).await?;
    }
    // By resource, then time: every booking takes the rows it may wait on in one order.
    let mut rows: Vec<(String, i64, &Appointment)> = b
        .appointments
        .iter()
        .flat_map(|a| {
            b.resources
                .iter()
                .map(move |r| (resource_key(r), a.start_us, a))
        })
        .collect();
    rows.sort_by(|x, y| (&x.0, x.1).cmp(&(&y.0, y.1)));
    for chunk in rows.chunks(ROWS) {
        let sql = format!(
            "INSERT INTO bookings (tenant_id, resource, appointment_id, start_us, end_us, exclusive) VALUES {}",
            iop_db::value_rows(1, chunk.len(), 5)
        );
        let mut q = sqlx::query(&sql).bind(tenant.as_str());
        for (resource, _, a) in chunk {
            q = q
                .bind(resource.clone())
                .bind(a.id.to_string())
                .bind(a.start_us)
                .bind(a.end_us)
                .bind(i64::from(b.exclusive));
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// `,a,b,`: every id between commas, so `LIKE '%,b,%'` finds one.
fn ids_text(ids: &[impl ToString]) -> String {
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    format!(",{},", ids.join(","))
}

fn from_row(r: &AnyRow) -> Result<Appointment, Error> {
    let text = |c: &str| r.try_get::<String, _>(c).map_err(Error::internal);
    let int = |c: &str| r.try_get::<i64, _>(c).map_err(Error::internal);
    let bad = |what: &str| Error::internal(format!("stored appointment has a bad {what}"));
    let optional = |c: &str| -> Result<Option<String>, Error> {
        let t = text(c)?;
        Ok((!t.is_empty()).then_some(t))
    };
    let cancel_kind = text("cancel_kind")?;
    let cancellation = if cancel_kind.is_empty() {
        None
    } else {
        Some(Cancellation {
            kind: CancellationKind::parse(&cancel_kind).ok_or_else(|| bad("cancellation"))?,
            reason: text("cancel_reason")?,
            by: text("cancelled_by")?,
            time_us: int("cancel_time_us")?,
        })
    };
    Ok(Appointment {
        id: AppointmentId::parse("id", &text("id")?).map_err(|_| bad("id"))?,
        kind: AppointmentKind::parse(&text("kind")?).ok_or_else(|| bad("kind"))?,
        patient_id: optional("patient_id")?
            .map(|p| PatientId::parse("patient_id", &p).map_err(|_| bad("patient")))
            .transpose()?,
        clinician_ids: text("clinician_ids")?
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|c| ClinicianId::parse("clinician_ids", c).map_err(|_| bad("clinician")))
            .collect::<Result<_, _>>()?,
        location_id: LocationId::parse("location_id", &text("location_id")?)
            .map_err(|_| bad("location"))?,
        modality: Modality::parse(&text("modality")?).ok_or_else(|| bad("modality"))?,
        room_id: optional("room_id")?
            .map(|p| RoomId::parse("room_id", &p).map_err(|_| bad("room")))
            .transpose()?,
        join_url: text("join_url")?,
        start_us: int("start_us")?,
        end_us: int("end_us")?,
        status: Status::parse(&text("status")?).ok_or_else(|| bad("status"))?,
        series_id: optional("series_id")?
            .map(|p| SeriesId::parse("series_id", &p).map_err(|_| bad("series")))
            .transpose()?,
        overlap_reason: text("overlap_reason")?,
        cancellation,
        booked_by: text("booked_by")?,
        create_time_us: int("create_time_us")?,
        version: int("version")?,
        rescheduled_from: optional("rescheduled_from")?
            .map(|p| AppointmentId::parse("rescheduled_from", &p).map_err(|_| bad("reschedule")))
            .transpose()?,
        rescheduled_to: optional("rescheduled_to")?
            .map(|p| AppointmentId::parse("rescheduled_to", &p).map_err(|_| bad("reschedule")))
            .transpose()?,
        referral_id: optional("referral_id")?
            .map(|p| ReferralId::parse("referral_id", &p).map_err(|_| bad("referral")))
            .transpose()?,
        family_contact_ids: text("family_contact_ids")?
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|c| ContactId::parse("family_contact_ids", c).map_err(|_| bad("contact")))
            .collect::<Result<_, _>>()?,
    })
}
