//! `waitlist_entries`, `waitlist_openings` and `waitlist_offers`. Every change of an offer
//! moves its entry and its opening in the same transaction (on SQLite in the database's one
//! write turn), each guarded by the state it expects, so two actors — a worker and a
//! client, or two workers — never both succeed; unique indexes allow one open offer per
//! opening and per entry.

use std::collections::HashSet;

use chrono::NaiveTime;
use iop_core::{
    AppointmentId, ClinicianId, Error, LocationId, PatientId, RoomId, TenantId, WaitlistEntryId,
    WaitlistOfferId,
};
use iop_db::{Db, Filter, is_unique_violation};
use iop_kit::idempotency::{self, Claim, Key};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Entry, EntryStatus, Offer, OfferStatus, Preferences, Window};
use crate::appointments::Modality;
use crate::availability::Day;
use crate::clinicians::AppointmentKind;
use iop_kit::fields::optional_id;

/// Time freed that a waitlist entry may be offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opening {
    pub tenant: TenantId,
    pub id: String,
    pub location_id: LocationId,
    pub clinician_ids: Vec<ClinicianId>,
    pub room_id: Option<RoomId>,
    pub start_us: i64,
    pub end_us: i64,
}

#[derive(Debug, Default, Clone)]
pub struct EntryQuery {
    pub patient: Option<PatientId>,
    pub location: Option<LocationId>,
    pub kind: Option<AppointmentKind>,
    pub status: Option<EntryStatus>,
    pub after: Option<(i64, WaitlistEntryId)>,
    pub limit: usize,
}

const ENTRY_COLUMNS: &str = "id, patient_id, kind, location_id, clinician_ids, days, windows, \
    modalities, status, appointment_id, withdraw_reason, created_by, create_time_us";
const OFFER_COLUMNS: &str = "id, opening_id, clinician_id, room_id, modality, start_us, end_us, \
    expire_us, status, create_time_us";
const OPENING_COLUMNS: &str =
    "tenant_id, id, location_id, clinician_ids, room_id, start_us, end_us";

pub fn position(e: &Entry) -> String {
    format!("{}:{}", e.create_time_us, e.id)
}

pub fn parse_position(s: &str) -> Result<(i64, WaitlistEntryId), Error> {
    let bad = || Error::rule("page_token", "is not a token returned by this query");
    let (time, id) = s.split_once(':').ok_or_else(bad)?;
    Ok((
        time.parse().map_err(|_| bad())?,
        WaitlistEntryId::parse("page_token", id).map_err(|_| bad())?,
    ))
}

/// Records the freed time of appointment `id` as an opening, if it is still to come: run in
/// the transaction that frees it.
pub async fn opened(
    conn: &mut sqlx::AnyConnection,
    tenant: &TenantId,
    id: &str,
    now: i64,
) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO waitlist_openings (tenant_id, id, appointment_id, location_id, \
         clinician_ids, room_id, start_us, end_us, state, create_time_us) \
         SELECT tenant_id, $1, id, location_id, clinician_ids, room_id, start_us, end_us, \
         'pending', $2 FROM appointments WHERE tenant_id = $3 AND id = $4 AND start_us > $5",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(now)
    .bind(tenant.as_str())
    .bind(id)
    .bind(now)
    .execute(conn)
    .await
    .map_err(Error::internal)?;
    Ok(())
}

/// Openings at `location` that no entry suited are looked at again: an entry arrived or
/// waits again.
async fn rearm(
    conn: &mut sqlx::AnyConnection,
    tenant: &TenantId,
    location: LocationId,
) -> Result<(), Error> {
    sqlx::query(
        "UPDATE waitlist_openings SET state = 'pending' \
         WHERE tenant_id = $1 AND location_id = $2 AND state = 'idle'",
    )
    .bind(tenant.as_str())
    .bind(location.to_string())
    .execute(conn)
    .await
    .map_err(Error::internal)?;
    Ok(())
}

fn list_text(items: impl IntoIterator<Item = String>) -> String {
    items.into_iter().collect::<Vec<_>>().join(",")
}

fn parts(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').filter(|p| !p.is_empty())
}

fn entry_from_row(r: &AnyRow) -> Result<Entry, Error> {
    let text = |c: &str| r.try_get::<String, _>(c).map_err(Error::internal);
    let bad = |what: &str| Error::internal(format!("stored waitlist entry has a bad {what}"));
    let clock = |s: &str| NaiveTime::parse_from_str(s, "%H:%M").ok();
    let appointment = text("appointment_id")?;
    Ok(Entry {
        id: WaitlistEntryId::parse("id", &text("id")?).map_err(|_| bad("id"))?,
        patient_id: PatientId::parse("patient_id", &text("patient_id")?)
            .map_err(|_| bad("patient"))?,
        kind: AppointmentKind::parse(&text("kind")?).ok_or_else(|| bad("kind"))?,
        location_id: LocationId::parse("location_id", &text("location_id")?)
            .map_err(|_| bad("location"))?,
        wants: Preferences {
            clinician_ids: parts(&text("clinician_ids")?)
                .map(|c| ClinicianId::parse("clinician_ids", c).map_err(|_| bad("clinician")))
                .collect::<Result<_, _>>()?,
            days: parts(&text("days")?)
                .map(|d| Day::parse(d).map(Day::weekday).ok_or_else(|| bad("day")))
                .collect::<Result<_, _>>()?,
            windows: parts(&text("windows")?)
                .map(|w| {
                    let (a, b) = w.split_once('-')?;
                    Some(Window {
                        start: clock(a)?,
                        end: clock(b)?,
                    })
                })
                .map(|w| w.ok_or_else(|| bad("window")))
                .collect::<Result<_, _>>()?,
            modalities: parts(&text("modalities")?)
                .map(|m| Modality::parse(m).ok_or_else(|| bad("modality")))
                .collect::<Result<_, _>>()?,
        },
        status: EntryStatus::parse(&text("status")?).ok_or_else(|| bad("status"))?,
        offers: Vec::new(),
        appointment_id: optional_id("appointment_id", &appointment, AppointmentId::parse)
            .map_err(|_| bad("appointment"))?,
        withdraw_reason: text("withdraw_reason")?,
        created_by: text("created_by")?,
        create_time_us: r.try_get("create_time_us").map_err(Error::internal)?,
    })
}

fn offer_from_row(r: &AnyRow) -> Result<Offer, Error> {
    let text = |c: &str| r.try_get::<String, _>(c).map_err(Error::internal);
    let int = |c: &str| r.try_get::<i64, _>(c).map_err(Error::internal);
    let bad = |what: &str| Error::internal(format!("stored waitlist offer has a bad {what}"));
    let room = text("room_id")?;
    Ok(Offer {
        id: WaitlistOfferId::parse("id", &text("id")?).map_err(|_| bad("id"))?,
        opening_id: text("opening_id")?,
        clinician_id: ClinicianId::parse("clinician_id", &text("clinician_id")?)
            .map_err(|_| bad("clinician"))?,
        room_id: optional_id("room_id", &room, RoomId::parse).map_err(|_| bad("room"))?,
        modality: Modality::parse(&text("modality")?).ok_or_else(|| bad("modality"))?,
        start_us: int("start_us")?,
        end_us: int("end_us")?,
        expire_us: int("expire_us")?,
        status: OfferStatus::parse(&text("status")?).ok_or_else(|| bad("status"))?,
        create_time_us: int("create_time_us")?,
    })
}

fn opening_from_row(r: &AnyRow) -> Result<Opening, Error> {
    let text = |c: &str| r.try_get::<String, _>(c).map_err(Error::internal);
    let bad = |what: &str| Error::internal(format!("stored waitlist opening has a bad {what}"));
    let room = text("room_id")?;
    Ok(Opening {
        tenant: TenantId::parse(&text("tenant_id")?).map_err(|_| bad("tenant"))?,
        id: text("id")?,
        location_id: LocationId::parse("location_id", &text("location_id")?)
            .map_err(|_| bad("location"))?,
        clinician_ids: parts(&text("clinician_ids")?)
            .map(|c| ClinicianId::parse("clinician_ids", c).map_err(|_| bad("clinician")))
            .collect::<Result<_, _>>()?,
        room_id: optional_id("room_id", &room, RoomId::parse).map_err(|_| bad("room"))?,
        start_us: r.try_get("start_us").map_err(Error::internal)?,
        end_us: r.try_get("end_us").map_err(Error::internal)?,
    })
}

#[derive(Clone)]
pub struct WaitlistStore {
    db: Db,
}

impl WaitlistStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    pub async fn insert(
        &self,
        tenant: &TenantId,
        e: &Entry,
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
        let w = &e.wants;
        sqlx::query(&format!(
            "INSERT INTO waitlist_entries (tenant_id, {ENTRY_COLUMNS}, version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 1)"
        ))
        .bind(tenant.as_str())
        .bind(e.id.to_string())
        .bind(e.patient_id.to_string())
        .bind(e.kind.as_str())
        .bind(e.location_id.to_string())
        .bind(list_text(w.clinician_ids.iter().map(ToString::to_string)))
        .bind(list_text(
            w.days.iter().map(|d| Day::of(*d).as_str().to_owned()),
        ))
        .bind(list_text(w.windows.iter().map(|w| {
            format!("{}-{}", w.start.format("%H:%M"), w.end.format("%H:%M"))
        })))
        .bind(list_text(
            w.modalities.iter().map(|m| m.as_str().to_owned()),
        ))
        .bind(e.status.as_str())
        .bind("")
        .bind("")
        .bind(&e.created_by)
        .bind(e.create_time_us)
        .execute(&mut *tx)
        .await
        .map_err(Error::internal)?;
        rearm(&mut tx, tenant, e.location_id).await?;
        tx.commit().await.map_err(Error::internal)?;
        Ok(Claim::New)
    }

    /// An entry with its latest offers.
    pub async fn entry(
        &self,
        tenant: &TenantId,
        id: WaitlistEntryId,
    ) -> Result<Option<Entry>, Error> {
        let row = sqlx::query(&format!(
            "SELECT {ENTRY_COLUMNS} FROM waitlist_entries WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.as_str())
        .bind(id.to_string())
        .fetch_optional(self.db.pool())
        .await
        .map_err(Error::internal)?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(self
            .with_offers(tenant, vec![entry_from_row(&row)?])
            .await?
            .pop())
    }

    /// `entries` with their latest offers ([`super::OFFERS_SHOWN`] each), read in one query.
    async fn with_offers(
        &self,
        tenant: &TenantId,
        mut entries: Vec<Entry>,
    ) -> Result<Vec<Entry>, Error> {
        if entries.is_empty() {
            return Ok(entries);
        }
        let mut f = Filter::new(
            &format!(
                "SELECT * FROM (SELECT entry_id, {OFFER_COLUMNS}, ROW_NUMBER() OVER \
                 (PARTITION BY entry_id ORDER BY create_time_us DESC, id DESC) AS nth \
                 FROM waitlist_offers WHERE"
            ),
            tenant.as_str(),
        );
        let marks = vec!["?"; entries.len()].join(", ");
        f.and(
            &format!(" AND entry_id IN ({marks})"),
            entries.iter().map(|e| e.id.to_string().into()),
        )
        .push(&format!(") latest WHERE nth <= {}", super::OFFERS_SHOWN));
        let rows = f
            .page(
                "entry_id, create_time_us DESC, id DESC",
                entries.len() * super::OFFERS_SHOWN,
            )
            .fetch_all(self.db.pool())
            .await
            .map_err(Error::internal)?;
        for r in &rows {
            let entry: String = r.try_get("entry_id").map_err(Error::internal)?;
            let offer = offer_from_row(r)?;
            if let Some(e) = entries.iter_mut().find(|e| e.id.to_string() == entry) {
                e.offers.push(offer);
            }
        }
        Ok(entries)
    }

    /// Entries oldest first, each with its latest offers.
    pub async fn entries(&self, tenant: &TenantId, q: &EntryQuery) -> Result<Vec<Entry>, Error> {
        let mut f = Filter::new(
            &format!("SELECT {ENTRY_COLUMNS} FROM waitlist_entries WHERE"),
            tenant.as_str(),
        );
        f.and_opt(" AND patient_id = ?", q.patient.map(|p| p.to_string()))
            .and_opt(" AND location_id = ?", q.location.map(|l| l.to_string()))
            .and_opt(" AND kind = ?", q.kind.map(|k| k.as_str().to_owned()))
            .and_opt(" AND status = ?", q.status.map(|s| s.as_str().to_owned()));
        if let Some((time, id)) = q.after {
            f.and(
                " AND (create_time_us > ? OR (create_time_us = ? AND id > ?))",
                [time.into(), time.into(), id.to_string().into()],
            );
        }
        let rows = f
            .page("create_time_us, id", q.limit)
            .fetch_all(self.db.pool())
            .await
            .map_err(Error::internal)?;
        let entries = rows.iter().map(entry_from_row).collect::<Result<_, _>>()?;
        self.with_offers(tenant, entries).await
    }

    /// The entries waiting at `location`, oldest first (without their offers).
    pub async fn waiting(
        &self,
        tenant: &TenantId,
        location: LocationId,
        limit: usize,
    ) -> Result<Vec<Entry>, Error> {
        sqlx::query(&format!(
            "SELECT {ENTRY_COLUMNS} FROM waitlist_entries WHERE tenant_id = $1 \
             AND location_id = $2 AND status = 'waiting' ORDER BY create_time_us, id LIMIT {limit}"
        ))
        .bind(tenant.as_str())
        .bind(location.to_string())
        .fetch_all(self.db.pool())
        .await
        .map_err(Error::internal)?
        .iter()
        .map(entry_from_row)
        .collect()
    }

    /// Takes `e` off the list; an open offer of it is withdrawn and its opening passes on.
    /// False when `e` changed meanwhile.
    pub async fn withdraw(
        &self,
        tenant: &TenantId,
        e: &Entry,
        reason: &str,
    ) -> Result<bool, Error> {
        let _turn = self.db.write_turn().await;
        let mut tx = self.db.pool().begin().await.map_err(Error::internal)?;
        let done = sqlx::query(
            "UPDATE waitlist_entries SET status = 'withdrawn', withdraw_reason = $1, \
             version = version + 1 WHERE tenant_id = $2 AND id = $3 AND status = $4",
        )
        .bind(reason)
        .bind(tenant.as_str())
        .bind(e.id.to_string())
        .bind(e.status.as_str())
        .execute(&mut *tx)
        .await
        .map_err(Error::internal)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        if let Some(offer) = e.open_offer() {
            end_offer(&mut tx, tenant, offer, OfferStatus::Withdrawn).await?;
            reopen(&mut tx, tenant, &offer.opening_id).await?;
        }
        tx.commit().await.map_err(Error::internal)?;
        Ok(true)
    }

    /// Ends `offer` as `status` (declined, expired, taken): the entry waits again and the
    /// opening passes on. False when the offer was no longer open.
    pub async fn pass(
        &self,
        tenant: &TenantId,
        entry: WaitlistEntryId,
        offer: &Offer,
        status: OfferStatus,
    ) -> Result<bool, Error> {
        let _turn = self.db.write_turn().await;
        let mut tx = self.db.pool().begin().await.map_err(Error::internal)?;
        if !end_offer(&mut tx, tenant, offer, status).await? {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE waitlist_entries SET status = 'waiting', version = version + 1 \
             WHERE tenant_id = $1 AND id = $2 AND status = 'offered'",
        )
        .bind(tenant.as_str())
        .bind(entry.to_string())
        .execute(&mut *tx)
        .await
        .map_err(Error::internal)?;
        reopen(&mut tx, tenant, &offer.opening_id).await?;
        let location: String = sqlx::query_scalar(
            "SELECT location_id FROM waitlist_openings WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.as_str())
        .bind(&offer.opening_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(Error::internal)?;
        let location = LocationId::parse("location_id", &location)
            .map_err(|_| Error::internal("stored waitlist opening has a bad location"))?;
        rearm(&mut tx, tenant, location).await?;
        tx.commit().await.map_err(Error::internal)?;
        Ok(true)
    }

    /// The offer booked `appointment`: the entry is booked, the opening filled.
    pub async fn accepted(
        &self,
        tenant: &TenantId,
        e: &Entry,
        offer: &Offer,
        appointment: AppointmentId,
    ) -> Result<(), Error> {
        let _turn = self.db.write_turn().await;
        let mut tx = self.db.pool().begin().await.map_err(Error::internal)?;
        // Whatever became of the offer meanwhile (it expired while the booking was made,
        // say), the patient is booked.
        sqlx::query(
            "UPDATE waitlist_offers SET status = 'accepted' WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.as_str())
        .bind(offer.id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(Error::internal)?;
        sqlx::query(
            "UPDATE waitlist_entries SET status = 'booked', appointment_id = $1, \
             version = version + 1 WHERE tenant_id = $2 AND id = $3",
        )
        .bind(appointment.to_string())
        .bind(tenant.as_str())
        .bind(e.id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(Error::internal)?;
        sqlx::query(
            "UPDATE waitlist_openings SET state = 'filled' WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.as_str())
        .bind(&offer.opening_id)
        .execute(&mut *tx)
        .await
        .map_err(Error::internal)?;
        tx.commit().await.map_err(Error::internal)?;
        Ok(())
    }

    /// Openings not yet offered or idle whose start passed are over.
    pub async fn lapse(&self, now: i64) -> Result<(), Error> {
        let _turn = self.db.write_turn().await;
        sqlx::query(
            "UPDATE waitlist_openings SET state = 'lapsed' \
             WHERE state IN ('pending', 'idle') AND start_us <= $1",
        )
        .bind(now)
        .execute(self.db.pool())
        .await
        .map_err(Error::internal)?;
        Ok(())
    }

    /// Open offers whose time is up, in every clinic, soonest first.
    pub async fn due(
        &self,
        now: i64,
        limit: usize,
    ) -> Result<Vec<(TenantId, WaitlistEntryId, Offer)>, Error> {
        let rows = sqlx::query(&format!(
            "SELECT tenant_id, entry_id, {OFFER_COLUMNS} FROM waitlist_offers \
             WHERE status = 'open' AND expire_us <= $1 ORDER BY expire_us LIMIT {limit}"
        ))
        .bind(now)
        .fetch_all(self.db.pool())
        .await
        .map_err(Error::internal)?;
        rows.iter()
            .map(|r| {
                let text = |c: &str| r.try_get::<String, _>(c).map_err(Error::internal);
                let bad = || Error::internal("stored waitlist offer has a bad entry or clinic");
                Ok((
                    TenantId::parse(&text("tenant_id")?).map_err(|_| bad())?,
                    WaitlistEntryId::parse("entry_id", &text("entry_id")?).map_err(|_| bad())?,
                    offer_from_row(r)?,
                ))
            })
            .collect()
    }

    /// Openings to be offered, in every clinic, soonest first.
    pub async fn pending(&self, now: i64, limit: usize) -> Result<Vec<Opening>, Error> {
        sqlx::query(&format!(
            "SELECT {OPENING_COLUMNS} FROM waitlist_openings \
             WHERE state = 'pending' AND start_us > $1 ORDER BY start_us, id LIMIT {limit}"
        ))
        .bind(now)
        .fetch_all(self.db.pool())
        .await
        .map_err(Error::internal)?
        .iter()
        .map(opening_from_row)
        .collect()
    }

    /// A pending opening no entry suits now idles until one arrives or waits again.
    pub async fn idle(&self, o: &Opening) -> Result<(), Error> {
        let _turn = self.db.write_turn().await;
        sqlx::query(
            "UPDATE waitlist_openings SET state = 'idle' \
             WHERE tenant_id = $1 AND id = $2 AND state = 'pending'",
        )
        .bind(o.tenant.as_str())
        .bind(&o.id)
        .execute(self.db.pool())
        .await
        .map_err(Error::internal)?;
        Ok(())
    }

    /// The entries `o` was offered to already.
    pub async fn tried(&self, o: &Opening) -> Result<HashSet<WaitlistEntryId>, Error> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT entry_id FROM waitlist_offers WHERE tenant_id = $1 AND opening_id = $2",
        )
        .bind(o.tenant.as_str())
        .bind(&o.id)
        .fetch_all(self.db.pool())
        .await
        .map_err(Error::internal)?;
        ids.iter()
            .map(|id| {
                WaitlistEntryId::parse("entry_id", id)
                    .map_err(|_| Error::internal("stored waitlist offer has a bad entry id"))
            })
            .collect()
    }

    /// Makes `offer` of `o` to `e`, if both still stand as read: false when another worker or
    /// a client moved first.
    pub async fn make(&self, o: &Opening, e: &Entry, offer: &Offer) -> Result<bool, Error> {
        let _turn = self.db.write_turn().await;
        let mut tx = self.db.pool().begin().await.map_err(Error::internal)?;
        let tenant = o.tenant.as_str();
        let inserted = sqlx::query(&format!(
            "INSERT INTO waitlist_offers (tenant_id, entry_id, {OFFER_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(tenant)
        .bind(e.id.to_string())
        .bind(offer.id.to_string())
        .bind(&offer.opening_id)
        .bind(offer.clinician_id.to_string())
        .bind(offer.room_id.map(|r| r.to_string()).unwrap_or_default())
        .bind(offer.modality.as_str())
        .bind(offer.start_us)
        .bind(offer.end_us)
        .bind(offer.expire_us)
        .bind(offer.status.as_str())
        .bind(offer.create_time_us)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Ok(false),
            Err(e) => return Err(Error::internal(e)),
        }
        let entry = sqlx::query(
            "UPDATE waitlist_entries SET status = 'offered', version = version + 1 \
             WHERE tenant_id = $1 AND id = $2 AND status = 'waiting'",
        )
        .bind(tenant)
        .bind(e.id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(Error::internal)?;
        let opening = sqlx::query(
            "UPDATE waitlist_openings SET state = 'offered' \
             WHERE tenant_id = $1 AND id = $2 AND state = 'pending'",
        )
        .bind(tenant)
        .bind(&o.id)
        .execute(&mut *tx)
        .await
        .map_err(Error::internal)?;
        if entry.rows_affected() != 1 || opening.rows_affected() != 1 {
            return Ok(false);
        }
        tx.commit().await.map_err(Error::internal)?;
        Ok(true)
    }
}

/// Ends an open offer as `status`; false when it was not open.
async fn end_offer(
    conn: &mut sqlx::AnyConnection,
    tenant: &TenantId,
    offer: &Offer,
    status: OfferStatus,
) -> Result<bool, Error> {
    let done = sqlx::query(
        "UPDATE waitlist_offers SET status = $1 \
         WHERE tenant_id = $2 AND id = $3 AND status = 'open'",
    )
    .bind(status.as_str())
    .bind(tenant.as_str())
    .bind(offer.id.to_string())
    .execute(conn)
    .await
    .map_err(Error::internal)?;
    Ok(done.rows_affected() == 1)
}

/// An opening whose offer ended is offered on.
async fn reopen(
    conn: &mut sqlx::AnyConnection,
    tenant: &TenantId,
    opening: &str,
) -> Result<(), Error> {
    sqlx::query(
        "UPDATE waitlist_openings SET state = 'pending' \
         WHERE tenant_id = $1 AND id = $2 AND state = 'offered'",
    )
    .bind(tenant.as_str())
    .bind(opening)
    .execute(conn)
    .await
    .map_err(Error::internal)?;
    Ok(())
}
