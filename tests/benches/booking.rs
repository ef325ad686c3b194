//! Benchmark: conflict-checked bookings through the scheduling service's own API (no
//! gateway), many clients at once, on SQLite or PostgreSQL — bookings/s, latency, CPU per
//! booking — and afterwards a self-join over what is stored: double bookings must be 0.
//!
//! `cargo bench -p iop-e2e --bench booking`
//!
//! SQLite by default; `IOP_TEST_DATABASE_URL=postgres://…` runs it against PostgreSQL.
//! Knobs: `IOP_BENCH_SECS` (per phase, default 3). Each client books an hour at a random
//! hour of the coming year for one of 8 clinicians and rooms (so clients contend, and the
//! calendar fills and starts to refuse), each booking for a new patient. Whether a patient
//! exists is the records service's answer in the running system; here every one does.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use iop_core::{Error, PatientId};
use iop_db::testing::TestDatabase;
use iop_scheduling::appointments::{
    Appointments, Modality, NewAppointment, store::AppointmentStore,
};
use iop_scheduling::clinicians::{
    AppointmentKind, Clinicians, NewClinician, store::ClinicianStore,
};
use iop_scheduling::locations::{Locations, NewLocation, store::LocationStore};
use iop_scheduling::references::References;
use iop_scheduling::rooms::{NewRoom, Rooms, store::RoomStore};

const RESOURCES: usize = 8;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bench());
}

async fn bench() {
    let secs = Duration::from_secs(
        std::env::var("IOP_BENCH_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3),
    );
    let tdb = TestDatabase::create("bookingbench").await;
    let db = iop_db::Db::connect(tdb.url(), &iop_scheduling::MIGRATIONS, &Default::default())
        .await
        .unwrap();
    let who = common::front_desk("bench");
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
    let (mut rooms, mut clinicians) = (Vec::new(), Vec::new());
    for i in 0..RESOURCES {
        let room = Rooms::new(RoomStore::new(db.clone()))
            .create(
                &who,
                NewRoom {
                    location_id: Some(location.id),
                    name: format!("Office {i}"),
                    capacity: 2,
                    active: true,
                },
                "",
            )
            .await
            .unwrap();
        rooms.push(room.id);
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
        clinicians.push(c.id);
    }
    let appointments = Arc::new(Appointments::new(
        AppointmentStore::new(db.clone()),
        References::new(&db, Arc::new(common::Known)),
    ));
    println!(
        "\nconflict-checked bookings, {} s per phase, {}, {RESOURCES} clinicians and rooms",
        secs.as_secs(),
        if tdb.is_postgres() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
    // From the next whole hour on, for a year.
    let hour = 3_600_000_000i64;
    let base = (iop_core::now_micros() / hour + 1) * hour;
    for clients in [1usize, 8, 32] {
        let start = Instant::now();
        let cpu0 = iop_testing::cpu_seconds();
        let mut tasks = Vec::new();
        for k in 0..clients {
            let (appointments, who) = (appointments.clone(), who.clone());
            let (rooms, clinicians) = (rooms.clone(), clinicians.clone());
            let location = location.id;
            tasks.push(tokio::spawn(async move {
                let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ ((k as u64 + 1) * 0x1000_0000_01B3);
                let mut next = move || {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed
                };
                let mut latency = Histogram::<u64>::new(3).unwrap();
                let (mut booked, mut refused) = (0u64, 0u64);
                while start.elapsed() < secs {
                    let r = (next() % RESOURCES as u64) as usize;
                    let at = base + (next() % (365 * 24)) as i64 * hour;
                    let new = NewAppointment {
                        kind: Some(AppointmentKind::IndividualTherapy),
                        patient_id: Some(PatientId::new()),
                        clinician_ids: vec![clinicians[r]],
                        location_id: Some(location),
                        modality: Some(Modality::InPerson),
                        room_id: Some(rooms[r]),
                        start_us: Some(at),
                        end_us: Some(at + hour),
                        ..Default::default()
                    };
                    let t = Instant::now();
                    match appointments.book(&who, new, "").await {
                        Ok(_) => booked += 1,
                        Err(Error::Clashes(_)) => refused += 1,
                        Err(other) => panic!("a booking failed: {other:?}"),
                    }
                    latency.record(t.elapsed().as_micros() as u64).unwrap();
                }
                (booked, refused, latency)
            }));
        }
        let (mut booked, mut refused) = (0u64, 0u64);
        let mut latency = Histogram::<u64>::new(3).unwrap();
        for t in tasks {
            let (b, r, h) = t.await.unwrap();
            booked += b;
            refused += r;
            latency.add(h).unwrap();
        }
        let elapsed = start.elapsed().as_secs_f64();
        let cpu = iop_testing::cpu_seconds() - cpu0;
        let attempts = booked + refused;
        println!(
            "{clients:>3} clients: {:>6.0} checked bookings/s ({:>6.0} booked, {:>5.0} refused as clashes)   p50 {:>6.2} ms   p99 {:>6.2} ms   CPU {:>5.0} µs/booking",
            attempts as f64 / elapsed,
            booked as f64 / elapsed,
            refused as f64 / elapsed,
            latency.value_at_quantile(0.5) as f64 / 1000.0,
            latency.value_at_quantile(0.99) as f64 / 1000.0,
            cpu * 1e6 / attempts.max(1) as f64,
        );
    }
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM appointments")
        .fetch_one(db.pool())
        .await
        .unwrap();
    let double: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM bookings a JOIN bookings b \
         ON a.tenant_id = b.tenant_id AND a.resource = b.resource \
         AND a.appointment_id < b.appointment_id \
         AND a.start_us < b.end_us AND b.start_us < a.end_us",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    println!("{stored} appointments stored; double bookings (self-join over bookings): {double}");
    assert_eq!(double, 0, "a resource was booked twice");
}
