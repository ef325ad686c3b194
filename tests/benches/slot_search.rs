//! Benchmark: slot search through the scheduling service's own API (no gateway) for 50
//! clinicians who work Monday to Friday 09:00–17:00 in Los Angeles, with a year of bookings
//! (five hours a day each: ~65,000 appointments), then with ten years (~650,000) — p50/p99 of
//! a week's search across every clinician and of a four-week search for one, and the ratio
//! between the two sizes (the search reads only the window's bookings, so it should barely
//! grow).
//!
//! `cargo bench -p iop-e2e --bench slot_search`
//!
//! SQLite by default; `IOP_TEST_DATABASE_URL=postgres://…` runs it against PostgreSQL.
//! `IOP_BENCH_SEARCHES` (per figure, default 200). The bookings are written straight into
//! the service's `bookings` table (what a clinician, a room and a patient hold, the table the
//! search reads), in bulk: booking 650,000 appointments one by one would measure booking.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use std::sync::Arc;
use std::time::Instant;

use chrono::{Datelike, Duration, NaiveDate, NaiveTime, Weekday};
use hdrhistogram::Histogram;
use iop_core::{ClinicianId, Principal};
use iop_db::testing::TestDatabase;
use iop_scheduling::appointments::store::AppointmentStore;
use iop_scheduling::availability::search::SlotQuery;
use iop_scheduling::availability::store::AvailabilityStore;
use iop_scheduling::availability::{Availability, WeeklyHours};
use iop_scheduling::clinicians::{
    AppointmentKind, Clinicians, NewClinician, store::ClinicianStore,
};
use iop_scheduling::locations::{Locations, NewLocation, store::LocationStore};
use iop_scheduling::references::References;

const CLINICIANS: usize = 50;
/// Local start hours of each day's bookings: 12:00 and 15:00-17:00 stay free.
const BOOKED_HOURS: [u32; 5] = [9, 10, 11, 13, 14];
const TENANT: &str = "bench";

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bench());
}

fn principal() -> Principal {
    common::front_desk(TENANT)
}

/// Books five hours of every weekday of `weeks` weeks from `monday` for every clinician,
/// each appointment with its own room and patient: three rows of `bookings` each.
async fn fill(db: &iop_db::Db, clinicians: &[ClinicianId], monday: NaiveDate, weeks: i64) -> usize {
    let tz = chrono_tz::America::Los_Angeles;
    let mut rows = Vec::new();
    for day in (0..weeks * 7).map(|d| monday + Duration::days(d)) {
        if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            continue;
        }
        for (i, c) in clinicians.iter().enumerate() {
            for h in BOOKED_HOURS {
                let start = day
                    .and_time(NaiveTime::from_hms_opt(h, 0, 0).unwrap())
                    .and_local_timezone(tz)
                    .earliest()
                    .unwrap()
                    .timestamp_micros();
                let end = start + 3_600_000_000;
                let appointment = uuid::Uuid::now_v7();
                for resource in [
                    format!("clinician:{c}"),
                    format!("room:{}", uuid::Uuid::from_u128(i as u128 + 1)),
                    format!("patient:{}", uuid::Uuid::now_v7()),
                ] {
                    rows.push(format!(
                        "('{TENANT}', '{resource}', '{appointment}', {start}, {end}, 1)"
                    ));
                }
            }
        }
    }
    let mut tx = db.pool().begin().await.unwrap();
    for chunk in rows.chunks(2000) {
        sqlx::query(&format!(
            "INSERT INTO bookings (tenant_id, resource, appointment_id, start_us, end_us, exclusive) VALUES {}",
            chunk.join(", ")
        ))
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    rows.len() / 3
}

/// p50 and p99 in ms of `n` searches, each a random week (or four) of the first year.
async fn measure(
    availability: &Availability,
    location: iop_core::LocationId,
    one: Option<ClinicianId>,
    monday: NaiveDate,
    n: usize,
) -> (f64, f64, usize) {
    let who = principal();
    let mut latency = Histogram::<u64>::new(3).unwrap();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut found = 0;
    for _ in 0..n {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let from = monday + Duration::weeks((seed % 48) as i64);
        let to = from + Duration::days(if one.is_some() { 27 } else { 4 });
        let q = SlotQuery {
            location: Some(location),
            kind: Some(AppointmentKind::IndividualTherapy),
            clinician: one,
            length_minutes: 60,
            from: Some(from),
            to: Some(to),
            ..Default::default()
        };
        let t = Instant::now();
        let (slots, _) = availability.search(&who, q, 100, "").await.unwrap();
        latency.record(t.elapsed().as_micros() as u64).unwrap();
        found += slots.len();
    }
    (
        latency.value_at_quantile(0.5) as f64 / 1000.0,
        latency.value_at_quantile(0.99) as f64 / 1000.0,
        found / n,
    )
}

async fn bench() {
    let searches: usize = std::env::var("IOP_BENCH_SEARCHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let tdb = TestDatabase::create("slotbench").await;
    let db = iop_db::Db::connect(tdb.url(), &iop_scheduling::MIGRATIONS, &Default::default())
        .await
        .unwrap();
    let who = principal();
    let location = Locations::new(LocationStore::new(db.clone()))
        .create(
            &who,
            NewLocation {
                name: "Downtown".into(),
                time_zone: "America/Los_Angeles".into(),
                address: String::new(),
            },
            "",
        )
        .await
        .unwrap();
    let availability = Availability::new(
        AvailabilityStore::new(db.clone()),
        References::new(&db, Arc::new(common::Known)),
        AppointmentStore::new(db.clone()),
    );
    let nine_to_five: Vec<WeeklyHours> = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
    ]
    .into_iter()
    .map(|day| WeeklyHours {
        day,
        start: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
        end: NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
    })
    .collect();
    let mut clinicians = Vec::new();
    for i in 0..CLINICIANS {
        let c = Clinicians::new(ClinicianStore::new(db.clone()))
            .create(
                &who,
                NewClinician {
                    given_name: "Dr".into(),
                    family_name: format!("No. {i}"),
                    credentials: vec![],
                    npi: String::new(),
                    kinds: vec![AppointmentKind::IndividualTherapy],
                    active: true,
                    user_id: String::new(),
                },
                "",
            )
            .await
            .unwrap();
        availability
            .set_hours(&who, c.id, location.id, nine_to_five.clone(), "")
            .await
            .unwrap();
        clinicians.push(c.id);
    }
    // From the Monday after next, so no searched week has begun.
    let mut monday = chrono::Utc::now().date_naive() + Duration::days(8);
    while monday.weekday() != Weekday::Mon {
        monday = monday.succ_opt().unwrap();
    }
    println!(
        "\nslot search, {CLINICIANS} clinicians Mon-Fri 09-17 Los Angeles, {searches} searches per figure, {}",
        if tdb.is_postgres() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
    let mut p99s = Vec::new();
    let mut booked = 0;
    for (label, weeks_from, weeks) in [("a year", 0, 52), ("ten years", 52, 52 * 9)] {
        let t = Instant::now();
        booked += fill(
            &db,
            &clinicians,
            monday + Duration::weeks(weeks_from),
            weeks,
        )
        .await;
        let fill_secs = t.elapsed().as_secs_f64();
        if tdb.is_postgres() {
            sqlx::query("ANALYZE bookings")
                .execute(db.pool())
                .await
                .unwrap();
        }
        let any = measure(&availability, location.id, None, monday, searches).await;
        let one = measure(
            &availability,
            location.id,
            Some(clinicians[7]),
            monday,
            searches,
        )
        .await;
        println!(
            "{label:>9} of bookings ({booked} appointments, written in {fill_secs:.0} s):\n  \
             any of {CLINICIANS}, a week:  p50 {:>6.2} ms  p99 {:>6.2} ms  ({} slots)\n  \
             one clinician, 4 weeks: p50 {:>6.2} ms  p99 {:>6.2} ms  ({} slots)",
            any.0, any.1, any.2, one.0, one.1, one.2
        );
        p99s.push((any.1, one.1));
    }
    println!(
        "p99 growth at 10x the bookings: any {:.2}x, one {:.2}x",
        p99s[1].0 / p99s[0].0,
        p99s[1].1 / p99s[0].1
    );
}
