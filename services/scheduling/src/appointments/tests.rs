use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use iop_core::{Error, PatientId, ReferralId};

use super::*;
use crate::testing::{Clinic, clinic, fixture_db, staff};

fn us(t: &str) -> i64 {
    t.parse::<DateTime<Utc>>().unwrap().timestamp_micros()
}

fn visit(c: &Clinic, patient: PatientId, start: &str, end: &str) -> NewAppointment {
    NewAppointment {
        kind: Some(AppointmentKind::IndividualTherapy),
        patient_id: Some(patient),
        clinician_ids: vec![c.clinicians[0]],
        location_id: Some(c.location.id),
        modality: Some(Modality::InPerson),
        room_id: Some(c.rooms[0]),
        start_us: Some(us(start)),
        end_us: Some(us(end)),
        ..Default::default()
    }
}

/// Two live bookings of one resource at once, counted by a self-join over what is stored.
async fn overlaps(db: &iop_db::Db) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM bookings a JOIN bookings b \
         ON a.tenant_id = b.tenant_id AND a.resource = b.resource \
         AND a.appointment_id < b.appointment_id \
         AND a.start_us < b.end_us AND b.start_us < a.end_us",
    )
    .fetch_one(db.pool())
    .await
    .unwrap()
}

/// The fields a refusal names (400 or 409).
fn fields(e: Error) -> Vec<String> {
    match e {
        Error::Unmet(v) | Error::InvalidFields(v) => v.into_iter().map(|v| v.field).collect(),
        other => panic!("{other:?}"),
    }
}

fn clash_fields(e: Error) -> Vec<String> {
    match e {
        Error::Clashes(v) => v.into_iter().map(|v| v.field).collect(),
        other => panic!("not a clash: {other:?}"),
    }
}

#[tokio::test]
async fn no_clinician_room_or_patient_is_booked_twice_and_cancelling_frees_the_time() {
    let (_tdb, db) = fixture_db("appointments").await;
    let who = staff("clinic-a");
    let c = clinic(db, &who).await;
    let (ana, bea) = (PatientId::new(), PatientId::new());
    let (made, series) = c
        .appointments
        .book(
            &who,
            visit(&c, ana, "2026-12-07T17:00:00Z", "2026-12-07T18:00:00Z"),
            "k1",
        )
        .await
        .unwrap();
    assert!(series.is_none());
    let first = made[0].clone();
    assert_eq!(first.status, Status::Booked);
    // A retry is the same booking.
    let (again, _) = c
        .appointments
        .book(
            &who,
            visit(&c, ana, "2026-12-07T17:00:00Z", "2026-12-07T18:00:00Z"),
            "k1",
        )
        .await
        .unwrap();
    assert_eq!(again, made);

    // Another patient with the same clinician and room, overlapping: both named.
    let err = c
        .appointments
        .book(
            &who,
            visit(&c, bea, "2026-12-07T17:30:00Z", "2026-12-07T18:30:00Z"),
            "",
        )
        .await
        .unwrap_err();
    assert_eq!(
        clash_fields(err),
        ["occurrences[0].clinician_ids", "occurrences[0].room_id"]
    );
    // The same patient with someone else elsewhere: the patient is named.
    let mut elsewhere = visit(&c, ana, "2026-12-07T17:30:00Z", "2026-12-07T18:30:00Z");
    elsewhere.clinician_ids = vec![c.clinicians[1]];
    elsewhere.room_id = Some(c.rooms[1]);
    let err = c
        .appointments
        .book(&who, elsewhere.clone(), "")
        .await
        .unwrap_err();
    assert_eq!(clash_fields(err), ["occurrences[0].patient_id"]);
    // Back to back is not an overlap.
    c.appointments
        .book(
            &who,
            visit(&c, bea, "2026-12-07T18:00:00Z", "2026-12-07T19:00:00Z"),
            "",
        )
        .await
        .unwrap();
    // On purpose, with a reason: booked, and the reason kept.
    elsewhere.overlap_reason = "crisis session, family asked to join".into();
    let (over, _) = c.appointments.book(&who, elsewhere, "").await.unwrap();
    assert_eq!(
        over[0].overlap_reason,
        "crisis session, family asked to join"
    );

    // Cancelled, the time is free for someone else.
    let cancelled = c
        .appointments
        .cancel(
            &who,
            first.id,
            Some(CancellationKind::ByPatient),
            "car trouble",
            &first.etag(),
            SeriesScope::This,
        )
        .await
        .unwrap();
    assert_eq!(cancelled[0].status, Status::Cancelled);
    let cancellation = cancelled[0].cancellation.clone().unwrap();
    assert_eq!(
        (cancellation.kind, cancellation.by.as_str()),
        (CancellationKind::ByPatient, "front-desk")
    );
    let mut other = visit(&c, bea, "2026-12-07T17:00:00Z", "2026-12-07T17:50:00Z");
    other.clinician_ids = vec![c.clinicians[0]];
    // Bea's own 18:00 visit does not overlap 17:00-17:50.
    c.appointments.book(&who, other, "").await.unwrap();
    // A stale etag, or cancelling twice, is refused.
    let err = c
        .appointments
        .cancel(
            &who,
            first.id,
            Some(CancellationKind::ByClinic),
            "",
            "1",
            SeriesScope::This,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), iop_core::ErrorCode::Conflict, "{err:?}");
    let err = c
        .appointments
        .cancel(
            &who,
            first.id,
            Some(CancellationKind::ByClinic),
            "",
            "",
            SeriesScope::This,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unmet(_)), "{err:?}");
    // Another clinic sees none of it.
    let err = c
        .appointments
        .get(&staff("clinic-b"), first.id)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn a_series_is_checked_occurrence_by_occurrence_and_keeps_its_local_time() {
    let (_tdb, db) = fixture_db("appointment_series").await;
    let who = staff("clinic-a");
    let c = clinic(db, &who).await;
    let (ana, bea) = (PatientId::new(), PatientId::new());
    // Bea already has the clinician on Wednesday 2026-10-28 at 18:30 Los Angeles time.
    c.appointments
        .book(
            &who,
            visit(&c, bea, "2026-10-29T01:30:00Z", "2026-10-29T02:30:00Z"),
            "",
        )
        .await
        .unwrap();
    // Mondays and Wednesdays 18:00-19:00 Los Angeles time, six times from Monday 10-26:
    // the third (10-28) clashes, and only it is named.
    let mut series = visit(&c, ana, "2026-10-27T01:00:00Z", "2026-10-27T02:00:00Z");
    series.room_id = Some(c.rooms[1]);
    series.recurrence = "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=6".into();
    let err = c
        .appointments
        .book(&who, series.clone(), "")
        .await
        .unwrap_err();
    assert_eq!(clash_fields(err), ["occurrences[1].clinician_ids"]);
    // With another clinician the whole series books; 18:00 stays 18:00 local across the
    // change on 2026-11-01 (PDT → PST: 01:00Z, then 02:00Z).
    series.clinician_ids = vec![c.clinicians[1]];
    let (made, series_id) = c.appointments.book(&who, series, "").await.unwrap();
    assert!(series_id.is_some());
    let tz: chrono_tz::Tz = "America/Los_Angeles".parse().unwrap();
    let starts: Vec<(NaiveDate, NaiveTime)> = made
        .iter()
        .map(|a| {
            let local = DateTime::from_timestamp_micros(a.start_us)
                .unwrap()
                .with_timezone(&tz);
            (local.date_naive(), local.time())
        })
        .collect();
    let six = NaiveTime::from_hms_opt(18, 0, 0).unwrap();
    let days = [
        "2026-10-26",
        "2026-10-28",
        "2026-11-02",
        "2026-11-04",
        "2026-11-09",
        "2026-11-11",
    ];
    assert_eq!(
        starts,
        days.iter()
            .map(|d| (d.parse::<NaiveDate>().unwrap(), six))
            .collect::<Vec<_>>()
    );
    assert_eq!(made[0].start_us, us("2026-10-27T01:00:00Z"));
    assert_eq!(made[2].start_us, us("2026-11-03T02:00:00Z"));

    // Cancel the fourth and those after it: the first three stay, the time of the rest is
    // free for another patient.
    let cancelled = c
        .appointments
        .cancel(
            &who,
            made[3].id,
            Some(CancellationKind::ByClinic),
            "clinician on leave",
            "",
            SeriesScope::ThisAndFollowing,
        )
        .await
        .unwrap();
    assert_eq!(
        cancelled.iter().map(|a| a.id).collect::<Vec<_>>(),
        made[3..].iter().map(|a| a.id).collect::<Vec<_>>()
    );
    let (rest, _) = c
        .appointments
        .list(
            &who,
            store::AppointmentQuery {
                series: series_id,
                status: Some(Status::Booked),
                ..Default::default()
            },
            0,
            "",
        )
        .await
        .unwrap();
    assert_eq!(rest.len(), 3);
    let mut later = visit(&c, bea, "2026-11-05T02:00:00Z", "2026-11-05T03:00:00Z");
    later.clinician_ids = vec![c.clinicians[1]];
    later.room_id = Some(c.rooms[1]);
    c.appointments.book(&who, later, "").await.unwrap();
}

#[tokio::test]
async fn what_a_booking_names_must_exist_fit_and_be_well_formed() {
    let (_tdb, db) = fixture_db("appointment_rules").await;
    let who = staff("clinic-a");
    let c = clinic(db, &who).await;
    let ana = PatientId::new();
    let base = || visit(&c, ana, "2026-12-07T17:00:00Z", "2026-12-07T18:00:00Z");
    let mut family = base();
    family.kind = Some(AppointmentKind::PsychiatricEvaluation);
    let err = c.appointments.book(&who, family, "").await.unwrap_err();
    assert!(
        err.to_string()
            .contains("does not provide psychiatric_evaluation"),
        "{err}"
    );
    let mut video = base();
    video.modality = Some(Modality::Telehealth);
    let err = c
        .appointments
        .book(&who, video.clone(), "")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("room_id") && err.contains("join_url"), "{err}");
    video.room_id = None;
    video.join_url = "https://meet.example.com/r/7".into();
    c.appointments.book(&who, video, "").await.unwrap();
    let mut backwards = base();
    backwards.end_us = backwards.start_us;
    let err = c.appointments.book(&who, backwards, "").await.unwrap_err();
    assert!(matches!(err, Error::Unprocessable(_)), "{err:?}");
    let mut nobody = base();
    nobody.patient_id =
        Some(PatientId::parse("p", "00000000-0000-0000-0000-000000000000").unwrap());
    let err = c.appointments.book(&who, nobody, "").await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                kind: "patient",
                ..
            }
        ),
        "{err:?}"
    );
    let mut weird = base();
    weird.recurrence = "FREQ=DAILY;COUNT=3".into();
    let err = c.appointments.book(&who, weird, "").await.unwrap_err();
    assert!(err.to_string().contains("recurrence"), "{err}");
}

/// Many clients book at once: overlapping times for the same clinician, room and patient,
/// singles and series. Afterwards no two live bookings of one resource overlap (a self-join
/// over what is stored), every loser was told what it clashed with, and nothing failed
/// otherwise. On SQLite and, with `IOP_TEST_DATABASE_URL`, on PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_bookings_never_double_book() {
    let (_tdb, db) = fixture_db("appointment_race").await;
    let who = staff("clinic-a");
    let c = clinic(db.clone(), &who).await;
    let patient = PatientId::new();
    let c = std::sync::Arc::new(c);
    let mut tasks = Vec::new();
    for i in 0..32u32 {
        let c = c.clone();
        let who = who.clone();
        tasks.push(tokio::spawn(async move {
            // Starts 15 minutes apart on Monday 2026-12-07 (17:00Z on), each an hour long:
            // every one overlaps its neighbours. Every fourth is a weekly series of 4.
            let start = us("2026-12-07T17:00:00Z") + i64::from(i % 8) * 15 * 60_000_000;
            let mut new = NewAppointment {
                kind: Some(AppointmentKind::IndividualTherapy),
                // Half of them the same patient; all the same clinician; rooms alternate.
                patient_id: Some(if i % 2 == 0 {
                    patient
                } else {
                    PatientId::new()
                }),
                clinician_ids: vec![c.clinicians[(i as usize / 8) % 2]],
                location_id: Some(c.location.id),
                modality: Some(Modality::InPerson),
                room_id: Some(c.rooms[i as usize % 2]),
                start_us: Some(start),
                end_us: Some(start + 3_600_000_000),
                ..Default::default()
            };
            if i % 4 == 0 {
                new.recurrence = "FREQ=WEEKLY;BYDAY=MO;COUNT=4".into();
            }
            c.appointments.book(&who, new, "").await
        }));
    }
    let mut booked = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => booked += 1,
            Err(Error::Clashes(v)) => assert!(!v.is_empty()),
            Err(other) => panic!("a booking failed otherwise: {other:?}"),
        }
    }
    assert!(booked >= 2, "{booked}");
    assert_eq!(overlaps(&c.db).await, 0);
}

/// On PostgreSQL the database itself refuses an overlapping exclusive booking of the same
/// resource, whatever wrote it (SQLSTATE 23P01); one booked over on purpose is let in.
#[tokio::test]
async fn postgres_refuses_overlapping_bookings_itself() {
    let (_tdb, db) = fixture_db("appointment_constraint").await;
    if db.backend() != iop_db::Backend::Postgres {
        return;
    }
    let insert = |id: &'static str, start: i64, exclusive: i64| {
        sqlx::query(
            "INSERT INTO bookings (tenant_id, resource, appointment_id, start_us, end_us, exclusive) \
             VALUES ('t', 'room:r1', $1, $2, $3, $4)",
        )
        .bind(id)
        .bind(start)
        .bind(start + 100)
        .bind(exclusive)
    };
    insert("a", 0, 1).execute(db.pool()).await.unwrap();
    let err = insert("b", 50, 1).execute(db.pool()).await.unwrap_err();
    assert!(store::is_exclusion_violation(&err), "{err}");
    insert("c", 100, 1).execute(db.pool()).await.unwrap();
    insert("d", 50, 0).execute(db.pool()).await.unwrap();
}

#[tokio::test]
async fn a_visit_is_checked_in_then_completed_and_a_no_show_frees_its_time() {
    let (_tdb, db) = fixture_db("appointment_status").await;
    let who = staff("clinic-a");
    let c = clinic(db, &who).await;
    let hour = 3_600_000_000i64;
    let at = |start: i64| {
        let mut v = visit(
            &c,
            PatientId::new(),
            "2026-01-01T00:00:00Z",
            "2026-01-01T01:00:00Z",
        );
        v.start_us = Some(start);
        v.end_us = Some(start + hour);
        v
    };
    let now = iop_core::now_micros();
    let (started, _) = c
        .appointments
        .book(&who, at(now - 2 * hour), "")
        .await
        .unwrap();
    let visit_id = started[0].id;
    // Not completed before it is checked in; then checked in and completed.
    let err = c
        .appointments
        .set_status(&who, visit_id, Some(Status::Completed), "")
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot go from booked to completed"),
        "{err}"
    );
    let a = c
        .appointments
        .set_status(&who, visit_id, Some(Status::CheckedIn), &started[0].etag())
        .await
        .unwrap();
    let a = c
        .appointments
        .set_status(&who, visit_id, Some(Status::Completed), &a.etag())
        .await
        .unwrap();
    assert_eq!(a.status, Status::Completed);
    // The patient's week counts it as scheduled and completed.
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::America::Los_Angeles)
        .date_naive();
    let weeks = c
        .appointments
        .weeks(
            &who,
            a.patient_id.unwrap(),
            c.location.id,
            today - chrono::Duration::days(1),
            today + chrono::Duration::days(1),
        )
        .await
        .unwrap();
    let (scheduled, completed) = weeks
        .iter()
        .fold((0, 0), |(s, d), w| (s + w.scheduled, d + w.completed));
    assert_eq!((scheduled, completed), (60, 60), "{weeks:?}");
    // A stale etag is refused.
    let err = c
        .appointments
        .set_status(&who, visit_id, Some(Status::NoShow), &started[0].etag())
        .await
        .unwrap_err();
    assert_eq!(err.code(), iop_core::ErrorCode::Conflict, "{err:?}");

    // A visit tomorrow cannot be a no-show yet.
    let (tomorrow, _) = c
        .appointments
        .book(&who, at(now + 24 * hour), "")
        .await
        .unwrap();
    let err = c
        .appointments
        .set_status(&who, tomorrow[0].id, Some(Status::NoShow), "")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unmet(_)), "{err:?}");
    // A no-show an hour ago frees the clinician and the room for the rest of the hour.
    let (missed, _) = c
        .appointments
        .book(&who, at(now - hour / 2), "")
        .await
        .unwrap();
    let err = c
        .appointments
        .book(&who, at(now - hour / 4), "")
        .await
        .unwrap_err();
    assert_eq!(
        clash_fields(err),
        ["occurrences[0].clinician_ids", "occurrences[0].room_id"]
    );
    c.appointments
        .set_status(&who, missed[0].id, Some(Status::NoShow), "")
        .await
        .unwrap();
    c.appointments
        .book(&who, at(now - hour / 4), "")
        .await
        .unwrap();
}

#[tokio::test]
async fn rescheduling_moves_the_visit_and_keeps_where_it_was() {
    let (_tdb, db) = fixture_db("appointment_reschedule").await;
    let who = staff("clinic-a");
    let c = clinic(db, &who).await;
    let (ana, bea) = (PatientId::new(), PatientId::new());
    let (first, _) = c
        .appointments
        .book(
            &who,
            visit(&c, ana, "2026-12-07T17:00:00Z", "2026-12-07T18:00:00Z"),
            "",
        )
        .await
        .unwrap();
    let (other, _) = c
        .appointments
        .book(
            &who,
            visit(&c, bea, "2026-12-08T17:00:00Z", "2026-12-08T18:00:00Z"),
            "",
        )
        .await
        .unwrap();
    let old = &first[0];
    // Onto Bea's hour with the same clinician and room: refused, naming both, and nothing moved.
    let err = c
        .appointments
        .reschedule(
            &who,
            old.id,
            Move {
                start_us: Some(us("2026-12-08T17:30:00Z")),
                end_us: Some(us("2026-12-08T18:30:00Z")),
                overlap_reason: String::new(),
                scope: SeriesScope::This,
            },
            "",
        )
        .await
        .unwrap_err();
    assert_eq!(
        clash_fields(err),
        ["occurrences[0].clinician_ids", "occurrences[0].room_id"]
    );
    assert_eq!(c.appointments.get(&who, old.id).await.unwrap(), *old);
    // Half an hour later than it was: its own old time does not count against it.
    let moved = c
        .appointments
        .reschedule(
            &who,
            old.id,
            Move {
                start_us: Some(us("2026-12-07T17:30:00Z")),
                end_us: Some(us("2026-12-07T18:30:00Z")),
                overlap_reason: String::new(),
                scope: SeriesScope::This,
            },
            &old.etag(),
        )
        .await
        .unwrap();
    assert_eq!(moved.rescheduled_from, Some(old.id));
    assert_eq!(moved.status, Status::Booked);
    let was = c.appointments.get(&who, old.id).await.unwrap();
    assert_eq!(was.status, Status::Rescheduled);
    assert_eq!(was.rescheduled_to, Some(moved.id));
    // The old time is free; the old one cannot be moved again; a stale etag is refused.
    c.appointments
        .book(
            &who,
            visit(&c, bea, "2026-12-07T16:30:00Z", "2026-12-07T17:30:00Z"),
            "",
        )
        .await
        .unwrap();
    let err = c
        .appointments
        .reschedule(
            &who,
            old.id,
            Move {
                start_us: Some(us("2026-12-09T17:00:00Z")),
                end_us: Some(us("2026-12-09T18:00:00Z")),
                overlap_reason: String::new(),
                scope: SeriesScope::This,
            },
            "",
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unmet(_)), "{err:?}");
    let err = c
        .appointments
        .reschedule(
            &who,
            other[0].id,
            Move {
                start_us: Some(us("2026-12-09T17:00:00Z")),
                end_us: Some(us("2026-12-09T18:00:00Z")),
                overlap_reason: String::new(),
                scope: SeriesScope::This,
            },
            "0",
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), iop_core::ErrorCode::Conflict, "{err:?}");
}

fn hold(c: &Clinic, key: &str, start: &str, end: &str) -> NewHold {
    NewHold {
        key: key.into(),
        location_id: Some(c.location.id),
        room_id: Some(c.rooms[0]),
        clinician_ids: vec![c.clinicians[2]],
        start_us: Some(us(start)),
        end_us: Some(us(end)),
    }
}

#[tokio::test]
async fn a_hold_is_checked_like_a_booking_placed_once_and_released() {
    let (_tdb, db) = fixture_db("holds").await;
    let who = staff("clinic-a");
    let c = clinic(db, &who).await;
    let evening = hold(
        &c,
        "session-1",
        "2026-12-08T02:00:00Z",
        "2026-12-08T05:00:00Z",
    );
    let held = c.appointments.hold(&who, evening.clone()).await.unwrap();
    assert_eq!(
        (held.kind, held.patient_id, held.status, held.modality),
        (
            AppointmentKind::GroupHold,
            None,
            Status::Booked,
            Modality::InPerson
        )
    );
    // The same key and request: the same hold. The same key for another time: refused.
    assert_eq!(
        c.appointments.hold(&who, evening.clone()).await.unwrap(),
        held
    );
    let mut moved = evening.clone();
    moved.start_us = Some(us("2026-12-09T02:00:00Z"));
    moved.end_us = Some(us("2026-12-09T05:00:00Z"));
    let err = c.appointments.hold(&who, moved).await.unwrap_err();
    assert!(err.to_string().contains("hold_key"), "{err}");
    // The room and the facilitator are taken: a visit there, or another hold, clashes.
    let mut visit_there = visit(
        &c,
        PatientId::new(),
        "2026-12-08T03:00:00Z",
        "2026-12-08T04:00:00Z",
    );
    visit_there.clinician_ids = vec![c.clinicians[1]];
    let err = c
        .appointments
        .book(&who, visit_there.clone(), "")
        .await
        .unwrap_err();
    assert_eq!(clash_fields(err), ["occurrences[0].room_id"]);
    let mut facilitator_only = hold(
        &c,
        "session-2",
        "2026-12-08T04:00:00Z",
        "2026-12-08T06:00:00Z",
    );
    facilitator_only.room_id = None;
    let err = c
        .appointments
        .hold(&who, facilitator_only)
        .await
        .unwrap_err();
    assert_eq!(clash_fields(err), ["occurrences[0].clinician_ids"]);
    // A hold is not cancelled as an appointment; an appointment is not released.
    let err = c
        .appointments
        .cancel(
            &who,
            held.id,
            Some(CancellationKind::ByClinic),
            "",
            "",
            SeriesScope::This,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Unmet(v) if v[0].field == "kind"),
        "{err:?}"
    );
    let (booked, _) = c
        .appointments
        .book(
            &who,
            visit(
                &c,
                PatientId::new(),
                "2026-12-09T17:00:00Z",
                "2026-12-09T18:00:00Z",
            ),
            "",
        )
        .await
        .unwrap();
    let err = c
        .appointments
        .release(&who, booked[0].id, "")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Unmet(v) if v[0].field == "id"),
        "{err:?}"
    );
    // Released (twice is harmless), the room is free.
    let released = c
        .appointments
        .release(&who, held.id, "session cancelled")
        .await
        .unwrap();
    assert_eq!(released.status, Status::Cancelled);
    assert_eq!(
        released.cancellation.as_ref().map(|c| c.reason.as_str()),
        Some("session cancelled")
    );
    assert_eq!(
        c.appointments.release(&who, held.id, "").await.unwrap(),
        released
    );
    c.appointments.book(&who, visit_there, "").await.unwrap();
    // Nothing to hold.
    let mut nothing = hold(
        &c,
        "session-3",
        "2026-12-10T02:00:00Z",
        "2026-12-10T05:00:00Z",
    );
    nothing.room_id = None;
    nothing.clinician_ids.clear();
    let err = c.appointments.hold(&who, nothing).await.unwrap_err();
    assert!(err.to_string().contains("room_id"), "{err}");
}

/// The group service retries and races: the same key placed at once is one hold, and of
/// different sessions wanting one room at once exactly one gets it. On both databases.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_holds_are_one_per_key_and_one_per_room() {
    let (_tdb, db) = fixture_db("hold_race").await;
    let who = staff("clinic-a");
    let c = std::sync::Arc::new(clinic(db, &who).await);
    let mut tasks = Vec::new();
    for i in 0..16u32 {
        let (c, who) = (c.clone(), who.clone());
        tasks.push(tokio::spawn(async move {
            // Half the same session retried; half other sessions an hour later, overlapping.
            let (key, start, end) = if i % 2 == 0 {
                (
                    "same".to_owned(),
                    "2026-12-08T02:00:00Z",
                    "2026-12-08T05:00:00Z",
                )
            } else {
                (
                    format!("other-{i}"),
                    "2026-12-08T03:00:00Z",
                    "2026-12-08T06:00:00Z",
                )
            };
            let mut h = hold(&c, &key, start, end);
            h.clinician_ids.clear();
            (i % 2 == 0, c.appointments.hold(&who, h).await)
        }));
    }
    let (mut same_ids, mut others_held) = (std::collections::HashSet::new(), 0);
    for t in tasks {
        match t.await.unwrap() {
            (true, Ok(h)) => {
                same_ids.insert(h.id);
            }
            (false, Ok(_)) => others_held += 1,
            (_, Err(Error::Clashes(v))) => assert!(!v.is_empty()),
            (_, Err(other)) => panic!("a hold failed otherwise: {other:?}"),
        }
    }
    // One room, overlapping times: the retried session or one other, never both.
    assert!(same_ids.len() <= 1, "{same_ids:?}");
    assert_eq!(
        same_ids.len() + others_held,
        1,
        "{same_ids:?} {others_held}"
    );
    assert_eq!(overlaps(&c.db).await, 0);
}

/// An intake for a referral: refused unless the referral is the patient's and accepted; once
/// booked, moved and cancelled, the records service is told the intake's time each time —
/// the earliest live intake, or none.
#[tokio::test]
async fn an_intake_for_a_referral_moves_its_intake_in_records() {
    use crate::patients::ReferralState;
    let (_tdb, db) = fixture_db("intakes").await;
    let who = staff("clinic-a");
    let c = clinic(db, &who).await;
    let (ana, bea) = (PatientId::new(), PatientId::new());
    let (referral, received) = (ReferralId::new(), ReferralId::new());
    c.records.referrals.lock().unwrap().extend([
        (
            referral,
            ReferralState {
                patient_id: Some(ana),
                open_for_intake: true,
            },
        ),
        (
            received,
            ReferralState {
                patient_id: Some(ana),
                open_for_intake: false,
            },
        ),
    ]);
    let intake = |patient, referral, start: &str, end: &str| NewAppointment {
        kind: Some(AppointmentKind::IntakeAssessment),
        referral_id: Some(referral),
        clinician_ids: vec![c.clinicians[2]],
        ..visit(&c, patient, start, end)
    };
    // Ortiz does not do intakes: let him.
    let ortiz = crate::clinicians::store::ClinicianStore::new(c.db.clone());
    let mut o = ortiz
        .get(&who.tenant, c.clinicians[2])
        .await
        .unwrap()
        .unwrap();
    o.kinds.push(AppointmentKind::IntakeAssessment);
    sqlx::query("UPDATE clinicians SET kinds = $1 WHERE id = $2")
        .bind(
            o.kinds
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(","),
        )
        .bind(o.id.to_string())
        .execute(c.db.pool())
        .await
        .unwrap();

    // Another patient's referral, one not accepted, one that is not there, the wrong kind.
    let err = c
        .appointments
        .book(
            &who,
            intake(
                bea,
                referral,
                "2026-12-07T17:00:00Z",
                "2026-12-07T18:30:00Z",
            ),
            "",
        )
        .await
        .unwrap_err();
    assert_eq!(fields(err), ["appointment.referral_id"]);
    let err = c
        .appointments
        .book(
            &who,
            intake(
                ana,
                received,
                "2026-12-07T17:00:00Z",
                "2026-12-07T18:30:00Z",
            ),
            "",
        )
        .await
        .unwrap_err();
    assert_eq!(fields(err), ["appointment.referral_id"]);
    let err = c
        .appointments
        .book(
            &who,
            intake(
                ana,
                ReferralId::new(),
                "2026-12-07T17:00:00Z",
                "2026-12-07T18:30:00Z",
            ),
            "",
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                kind: "referral",
                ..
            }
        ),
        "{err:?}"
    );
    let therapy = NewAppointment {
        kind: Some(AppointmentKind::IndividualTherapy),
        ..intake(
            ana,
            referral,
            "2026-12-07T17:00:00Z",
            "2026-12-07T18:00:00Z",
        )
    };
    assert_eq!(
        fields(c.appointments.book(&who, therapy, "").await.unwrap_err()),
        ["appointment.referral_id"]
    );
    // A backend client cannot move a referral in records: refused before booking.
    let mut ehr = who.clone();
    ehr.client_id = Some("ehr".into());
    ehr.roles.clear();
    let err = c
        .appointments
        .book(
            &ehr,
            intake(
                ana,
                referral,
                "2026-12-07T17:00:00Z",
                "2026-12-07T18:30:00Z",
            ),
            "",
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    assert!(c.records.intakes.lock().unwrap().is_empty());

    // Booked: records hears the time; moved: the new time; cancelled: none.
    let (made, _) = c
        .appointments
        .book(
            &who,
            intake(
                ana,
                referral,
                "2026-12-07T17:00:00Z",
                "2026-12-07T18:30:00Z",
            ),
            "",
        )
        .await
        .unwrap();
    assert_eq!(made[0].referral_id, Some(referral));
    let told = |c: &Clinic| c.records.intakes.lock().unwrap().get(&referral).copied();
    assert_eq!(told(&c), Some(Some(us("2026-12-07T17:00:00Z"))));
    let moved = c
        .appointments
        .reschedule(
            &who,
            made[0].id,
            Move {
                start_us: Some(us("2026-12-09T17:00:00Z")),
                end_us: Some(us("2026-12-09T18:30:00Z")),
                overlap_reason: String::new(),
                scope: SeriesScope::This,
            },
            "",
        )
        .await
        .unwrap();
    assert_eq!(moved.referral_id, Some(referral));
    assert_eq!(told(&c), Some(Some(us("2026-12-09T17:00:00Z"))));
    c.appointments
        .cancel(
            &who,
            moved.id,
            Some(CancellationKind::ByPatient),
            "",
            "",
            SeriesScope::This,
        )
        .await
        .unwrap();
    assert_eq!(told(&c), Some(None));
}

/// A family session names the patient's family contacts who take part: each must be the
/// patient's and involved in family sessions (the records service says so only while a
/// consent in force names them for family involvement).
#[tokio::test]
async fn a_family_session_takes_only_the_patients_involved_contacts() {
    use crate::patients::ContactState;
    use iop_core::ContactId;
    let (_tdb, db) = fixture_db("family").await;
    let who = staff("clinic-a");
    let c = clinic(db, &who).await;
    let (ana, bea) = (PatientId::new(), PatientId::new());
    let (mother, uncle, bea_sister) = (ContactId::new(), ContactId::new(), ContactId::new());
    c.records.contacts.lock().unwrap().extend([
        (
            mother,
            ContactState {
                patient_id: Some(ana),
                involved: true,
            },
        ),
        (
            uncle,
            ContactState {
                patient_id: Some(ana),
                involved: false,
            },
        ),
        (
            bea_sister,
            ContactState {
                patient_id: Some(bea),
                involved: true,
            },
        ),
    ]);
    let family = |contacts: Vec<ContactId>| NewAppointment {
        kind: Some(AppointmentKind::FamilySession),
        family_contact_ids: contacts,
        ..visit(&c, ana, "2026-12-07T17:00:00Z", "2026-12-07T18:00:00Z")
    };
    let err = c
        .appointments
        .book(&who, family(vec![mother, uncle, bea_sister]), "")
        .await
        .unwrap_err();
    assert_eq!(
        fields(err),
        [
            "appointment.family_contact_ids[1]",
            "appointment.family_contact_ids[2]"
        ]
    );
    let err = c
        .appointments
        .book(&who, family(vec![ContactId::new()]), "")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                kind: "contact",
                ..
            }
        ),
        "{err:?}"
    );
    let therapy = NewAppointment {
        kind: Some(AppointmentKind::IndividualTherapy),
        ..family(vec![mother])
    };
    assert_eq!(
        fields(c.appointments.book(&who, therapy, "").await.unwrap_err()),
        ["appointment.family_contact_ids"]
    );
    let (made, _) = c
        .appointments
        .book(&who, family(vec![mother]), "")
        .await
        .unwrap();
    assert_eq!(made[0].family_contact_ids, [mother]);
    assert_eq!(c.appointments.get(&who, made[0].id).await.unwrap(), made[0]);
}

/// A clinician signed in as themselves sees their own schedule and their patients' (also
/// their patients' appointments with others), nothing else; the front desk and backend
/// clients see all; a clinician user linked to no clinician sees none.
#[tokio::test]
async fn a_clinician_sees_their_own_schedule_and_their_patients() {
    let (_tdb, db) = fixture_db("sight").await;
    let desk = staff("clinic-a");
    let c = clinic(db, &desk).await;
    sqlx::query("UPDATE clinicians SET user_id = 'kim' WHERE id = $1")
        .bind(c.clinicians[0].to_string())
        .execute(c.db.pool())
        .await
        .unwrap();
    let as_user = |sub: &str, role: &str| Principal {
        subject: sub.into(),
        roles: vec![role.into()],
        ..staff("clinic-a")
    };
    let (kim, stranger) = (as_user("kim", "clinician"), as_user("nobody", "clinician"));
    let system = Principal {
        roles: vec![],
        ..staff("clinic-a")
    };
    let (ana, bea) = (PatientId::new(), PatientId::new());
    let with = |patient, clinician: usize, start: &str, end: &str| {
        let mut a = visit(&c, patient, start, end);
        a.clinician_ids = vec![c.clinicians[clinician]];
        a
    };
    let kims = with(ana, 0, "2030-01-07T17:00:00Z", "2030-01-07T18:00:00Z");
    let anas_with_lee = with(ana, 1, "2030-01-08T17:00:00Z", "2030-01-08T18:00:00Z");
    let beas_with_lee = with(bea, 1, "2030-01-09T17:00:00Z", "2030-01-09T18:00:00Z");
    let mut ids = Vec::new();
    for a in [kims, anas_with_lee, beas_with_lee] {
        ids.push(c.appointments.book(&desk, a, "").await.unwrap().0[0].id);
    }
    let seen = |who: Principal| {
        let appointments = c.appointments.clone();
        async move {
            let (rows, _) = appointments
                .list(&who, AppointmentQuery::default(), 0, "")
                .await
                .unwrap();
            rows.into_iter().map(|a| a.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(seen(kim.clone()).await, ids[..2]);
    assert_eq!(seen(desk.clone()).await, ids);
    assert_eq!(seen(system.clone()).await, ids);
    assert!(seen(stranger.clone()).await.is_empty());
    assert!(c.appointments.read(&kim, ids[1]).await.is_ok());
    for (who, id) in [(&kim, ids[2]), (&stranger, ids[0])] {
        let err = c.appointments.read(who, id).await.unwrap_err();
        assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    }
    // Nor cancel what they do not see; nor read a stranger's weeks.
    let err = c
        .appointments
        .cancel(
            &kim,
            ids[2],
            Some(CancellationKind::ByClinic),
            "",
            "",
            SeriesScope::This,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    let day = |s: &str| s.parse::<NaiveDate>().unwrap();
    let weeks = |who: Principal, p: PatientId| {
        let appointments = c.appointments.clone();
        let location = c.location.id;
        async move {
            appointments
                .weeks(&who, p, location, day("2030-01-07"), day("2030-01-13"))
                .await
        }
    };
    assert!(weeks(kim.clone(), ana).await.is_ok());
    assert!(matches!(
        weeks(kim, bea).await.unwrap_err(),
        Error::PermissionDenied(_)
    ));
    assert!(weeks(desk, bea).await.is_ok());
}

/// Moving a series' occurrence with `this_and_following` moves the later ones by the same
/// change of local time across the DST change (18:00 → 19:00 stays 19:00 local), all or none:
/// a clash on any refuses every one, naming it.
#[tokio::test]
async fn this_and_following_occurrences_move_alike_across_dst_or_not_at_all() {
    let (_tdb, db) = fixture_db("series_move").await;
    let who = staff("clinic-a");
    let c = clinic(db, &who).await;
    let tz = clock::zone("tz", "America/Los_Angeles").unwrap();
    let local = |us: i64| clock::local(tz, DateTime::from_timestamp_micros(us).unwrap());
    // Mondays 18:00-19:00 Los Angeles from 2030-03-04, six times; clocks change 2030-03-10.
    let mut series = visit(
        &c,
        PatientId::new(),
        "2030-03-05T02:00:00Z",
        "2030-03-05T03:00:00Z",
    );
    series.recurrence = "FREQ=WEEKLY;BYDAY=MO;COUNT=6".into();
    let (made, Some(series_id)) = c.appointments.book(&who, series, "").await.unwrap() else {
        panic!("not a series");
    };
    // Bea has Dr Kim on 2030-03-25 at 19:00 local, in the other room.
    let mut bea = visit(
        &c,
        PatientId::new(),
        "2030-03-26T02:00:00Z",
        "2030-03-26T03:00:00Z",
    );
    bea.room_id = Some(c.rooms[1]);
    let (beas, _) = c.appointments.book(&who, bea, "").await.unwrap();

    // From the second (2030-03-11, 18:00 PDT = 01:00Z) to 19:00: the fourth clashes.
    let move_second = |etag: String| {
        let appointments = c.appointments.clone();
        let who = who.clone();
        let id = made[1].id;
        async move {
            appointments
                .reschedule(
                    &who,
                    id,
                    Move {
                        start_us: Some(us("2030-03-12T02:00:00Z")),
                        end_us: Some(us("2030-03-12T03:00:00Z")),
                        overlap_reason: String::new(),
                        scope: SeriesScope::ThisAndFollowing,
                    },
                    &etag,
                )
                .await
        }
    };
    let err = move_second(made[1].etag()).await.unwrap_err();
    assert_eq!(clash_fields(err), ["occurrences[2].clinician_ids"]);
    let untouched = c
        .appointments
        .store
        .series(&who.tenant, series_id)
        .await
        .unwrap();
    assert!(untouched.iter().all(|a| a.status == Status::Booked));
    assert_eq!(untouched.len(), 6);

    cancel_one(&c, &who, &beas[0]).await;
    let moved = move_second(made[1].etag()).await.unwrap();
    assert_eq!(moved.rescheduled_from, Some(made[1].id));
    let after = c
        .appointments
        .store
        .series(&who.tenant, series_id)
        .await
        .unwrap();
    let booked: Vec<_> = after
        .iter()
        .filter(|a| a.status == Status::Booked)
        .collect();
    assert_eq!(booked.len(), 6);
    let hours: Vec<u32> = booked
        .iter()
        .map(|a| chrono::Timelike::hour(&local(a.start_us)))
        .collect();
    assert_eq!(hours, [18, 19, 19, 19, 19, 19]);
    assert!(
        booked
            .iter()
            .all(|a| a.end_us - a.start_us == 3_600_000_000)
    );
    assert_eq!(
        after
            .iter()
            .filter(|a| a.status == Status::Rescheduled)
            .count(),
        5
    );
}

async fn cancel_one(c: &Clinic, who: &Principal, a: &Appointment) {
    c.appointments
        .cancel(
            who,
            a.id,
            Some(CancellationKind::ByClinic),
            "",
            "",
            SeriesScope::This,
        )
        .await
        .unwrap();
}
