//! Hours, exceptions and slot search as kept, on this service's database (SQLite, or
//! PostgreSQL when `IOP_TEST_DATABASE_URL` says so).

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc, Weekday};
use iop_core::{ClinicianId, Error, PatientId};

use super::search::{FoundSlot, SlotQuery};
use super::*;
use crate::appointments::{Modality, NewAppointment};
use crate::clinicians::AppointmentKind;
use crate::testing::{Clinic, clinic, fixture_db, staff};

fn hm(s: &str) -> NaiveTime {
    NaiveTime::parse_from_str(s, "%H:%M").unwrap()
}

fn mornings(day: Weekday) -> Vec<WeeklyHours> {
    vec![WeeklyHours {
        day,
        start: hm("09:00"),
        end: hm("12:00"),
    }]
}

/// A Monday at least two weeks ahead, so the search window is never clipped by now.
fn monday() -> NaiveDate {
    let mut d = Utc::now().date_naive() + Duration::days(14);
    while d.weekday() != Weekday::Mon {
        d = d.succ_opt().unwrap();
    }
    d
}

/// `time` on `date` at the clinic's location (Los Angeles).
fn at(c: &Clinic, date: NaiveDate, time: &str) -> DateTime<Utc> {
    let tz = clock::zone("time_zone", &c.location.time_zone).unwrap();
    clock::at(tz, date, hm(time))
}

fn us(c: &Clinic, date: NaiveDate, time: &str) -> i64 {
    at(c, date, time).timestamp_micros()
}

fn query(c: &Clinic, date: NaiveDate) -> SlotQuery {
    SlotQuery {
        location: Some(c.location.id),
        kind: Some(AppointmentKind::IndividualTherapy),
        length_minutes: 60,
        from: Some(date),
        to: Some(date),
        ..Default::default()
    }
}

/// The slots as (clinician index in the clinic, local start time).
fn shown(c: &Clinic, date: NaiveDate, slots: &[FoundSlot]) -> Vec<(usize, String)> {
    slots
        .iter()
        .map(|s| {
            let who = c
                .clinicians
                .iter()
                .position(|id| *id == s.clinician_id)
                .unwrap();
            let start = DateTime::from_timestamp_micros(s.start_us).unwrap();
            let local = (0..24 * 4)
                .map(|q| NaiveTime::MIN + Duration::minutes(15 * q))
                .find(|t| at(c, date, &t.format("%H:%M").to_string()) == start)
                .unwrap();
            assert_eq!(s.end_us - s.start_us, 3_600_000_000);
            (who, local.format("%H:%M").to_string())
        })
        .collect()
}

fn starts(who: usize, times: &[&str]) -> Vec<(usize, String)> {
    times.iter().map(|t| (who, (*t).to_owned())).collect()
}

fn exception(
    kind: ExceptionKind,
    clinician: Option<ClinicianId>,
    location: Option<LocationId>,
    span: (i64, i64),
) -> NewException {
    NewException {
        kind: Some(kind),
        clinician_id: clinician,
        location_id: location,
        start_us: Some(span.0),
        end_us: Some(span.1),
        reason: "test".into(),
    }
}

#[tokio::test]
async fn weekly_hours_are_replaced_whole_and_refuse_stale_changes() {
    let (_tdb, db) = fixture_db("availability_hours").await;
    let who = staff("clinic-a");
    let c = clinic(db, &who).await;
    let (kim, here) = (c.clinicians[0], c.location.id);
    let never = c.availability.hours(&who, kim, here).await.unwrap();
    assert!(never.hours.is_empty());
    assert_eq!(never.etag(), "0");

    let set = c
        .availability
        .set_hours(&who, kim, here, mornings(Weekday::Tue), "0")
        .await
        .unwrap();
    assert_eq!(
        (set.etag().as_str(), set.updated_by.as_str()),
        ("1", "front-desk")
    );
    // Kept sorted by day, then start.
    let mut week = mornings(Weekday::Fri);
    week.extend(mornings(Weekday::Mon));
    let set = c
        .availability
        .set_hours(&who, kim, here, week, &set.etag())
        .await
        .unwrap();
    assert_eq!(
        set.hours.iter().map(|h| h.day).collect::<Vec<_>>(),
        [Weekday::Mon, Weekday::Fri]
    );
    assert_eq!(c.availability.hours(&who, kim, here).await.unwrap(), set);

    // Someone else changed them since "1" was read.
    let err = c
        .availability
        .set_hours(&who, kim, here, vec![], "1")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    // Overlapping hours name the entry; nothing is written.
    let mut twice = mornings(Weekday::Mon);
    twice.push(WeeklyHours {
        day: Weekday::Mon,
        start: hm("11:00"),
        end: hm("13:00"),
    });
    let err = c
        .availability
        .set_hours(&who, kim, here, twice, "")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("working_hours.hours[1]"), "{err}");
    assert_eq!(c.availability.hours(&who, kim, here).await.unwrap(), set);
    // Another clinic's clinician does not exist here.
    let other = staff("clinic-b");
    let err = c.availability.hours(&other, kim, here).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn exceptions_are_added_once_listed_in_pages_and_withdrawn() {
    let (_tdb, db) = fixture_db("availability_exceptions").await;
    let who = staff("clinic-a");
    let c = clinic(db, &who).await;
    let day = monday();
    let (kim, here) = (c.clinicians[0], c.location.id);
    let off = exception(
        ExceptionKind::TimeOff,
        Some(kim),
        None,
        (us(&c, day, "09:00"), us(&c, day, "12:00")),
    );
    let made = c
        .availability
        .create_exception(&who, off.clone(), "req-1")
        .await
        .unwrap();
    // A retry is the same exception; the key with another body is refused.
    let again = c
        .availability
        .create_exception(&who, off.clone(), "req-1")
        .await
        .unwrap();
    assert_eq!(again, made);
    let mut other = off.clone();
    other.reason = "another".into();
    assert!(
        c.availability
            .create_exception(&who, other, "req-1")
            .await
            .is_err()
    );
    // Extra hours are a clinician's at a location.
    let err = c
        .availability
        .create_exception(
            &who,
            exception(
                ExceptionKind::ExtraHours,
                Some(kim),
                None,
                (us(&c, day, "13:00"), us(&c, day, "15:00")),
            ),
            "",
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("location_id"), "{err}");
    // A closure of the location (a holiday), then Lee's extra hours.
    let closure = exception(
        ExceptionKind::TimeOff,
        None,
        Some(here),
        (
            us(&c, day + Duration::days(7), "00:00"),
            us(&c, day + Duration::days(8), "00:00"),
        ),
    );
    let closed = c
        .availability
        .create_exception(&who, closure, "")
        .await
        .unwrap();
    let extra = exception(
        ExceptionKind::ExtraHours,
        Some(c.clinicians[1]),
        Some(here),
        (us(&c, day, "18:00"), us(&c, day, "20:00")),
    );
    let lee = c
        .availability
        .create_exception(&who, extra, "")
        .await
        .unwrap();

    // By start time, two at a time.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let (page, next) = c
            .availability
            .exceptions(&who, ExceptionQuery::default(), 2, &token)
            .await
            .unwrap();
        seen.extend(page.into_iter().map(|e| e.id));
        match next {
            Some(t) => token = t,
            None => break,
        }
    }
    assert_eq!(seen, [made.id, lee.id, closed.id]);
    // Kim's own, and what names the location.
    let kims = ExceptionQuery {
        clinician: Some(kim),
        ..Default::default()
    };
    let (page, _) = c.availability.exceptions(&who, kims, 0, "").await.unwrap();
    assert_eq!(page, std::slice::from_ref(&made));
    let here_q = ExceptionQuery {
        location: Some(here),
        ..Default::default()
    };
    let (page, _) = c
        .availability
        .exceptions(&who, here_q, 0, "")
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|e| e.id).collect::<Vec<_>>(),
        [lee.id, closed.id]
    );

    // Withdrawn: answered as it was, then gone; another clinic never sees it.
    let err = c
        .availability
        .delete_exception(&staff("clinic-b"), made.id)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert_eq!(
        c.availability
            .delete_exception(&who, made.id)
            .await
            .unwrap(),
        made
    );
    let err = c.availability.exception(&who, made.id).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn slots_are_working_time_less_time_off_closures_and_bookings_earliest_first() {
    let (_tdb, db) = fixture_db("availability_slots").await;
    let who = staff("clinic-a");
    let c = clinic(db, &who).await;
    let day = monday();
    let here = c.location.id;
    let [kim, lee, ortiz] = c.clinicians;
    for id in [kim, lee] {
        c.availability
            .set_hours(&who, id, here, mornings(Weekday::Mon), "")
            .await
            .unwrap();
    }
    let search = |q: SlotQuery| {
        let a = c.availability.clone();
        let who = who.clone();
        async move { a.search(&who, q, 200, "").await.unwrap().0 }
    };
    let hour_starts = [
        "09:00", "09:15", "09:30", "09:45", "10:00", "10:15", "10:30", "10:45", "11:00",
    ];
    // Both mornings, interleaved by start (then clinician id); Ortiz has no hours.
    let all = search(query(&c, day)).await;
    assert_eq!(all.len(), 18);
    let (first, second) = if kim.to_string() < lee.to_string() {
        (0, 1)
    } else {
        (1, 0)
    };
    assert_eq!(
        shown(&c, day, &all[..2]),
        [(first, "09:00".into()), (second, "09:00".into())]
    );

    // Kim booked 9-10 with Ana in Office 1; Lee off from 11.
    let ana = PatientId::new();
    let (booked, _) = c
        .appointments
        .book(
            &who,
            NewAppointment {
                kind: Some(AppointmentKind::IndividualTherapy),
                patient_id: Some(ana),
                clinician_ids: vec![kim],
                location_id: Some(here),
                modality: Some(Modality::InPerson),
                room_id: Some(c.rooms[0]),
                start_us: Some(us(&c, day, "09:00")),
                end_us: Some(us(&c, day, "10:00")),
                ..Default::default()
            },
            "",
        )
        .await
        .unwrap();
    c.availability
        .create_exception(
            &who,
            exception(
                ExceptionKind::TimeOff,
                Some(lee),
                None,
                (us(&c, day, "11:00"), us(&c, day, "12:00")),
            ),
            "",
        )
        .await
        .unwrap();
    let only = |who: ClinicianId| SlotQuery {
        clinician: Some(who),
        ..query(&c, day)
    };
    assert_eq!(
        shown(&c, day, &search(only(kim)).await),
        starts(0, &hour_starts[4..])
    );
    assert_eq!(
        shown(&c, day, &search(only(lee)).await),
        starts(1, &hour_starts[..5])
    );
    // With Ana, or in Office 1: nothing that overlaps 9-10, whoever the clinician.
    let with_ana = SlotQuery {
        patient: Some(ana),
        clinician: Some(lee),
        ..query(&c, day)
    };
    assert_eq!(
        shown(&c, day, &search(with_ana).await),
        starts(1, &["10:00"])
    );
    let in_office = SlotQuery {
        room: Some(c.rooms[0]),
        clinician: Some(lee),
        ..query(&c, day)
    };
    assert_eq!(
        shown(&c, day, &search(in_office).await),
        starts(1, &["10:00"])
    );
    // Cancelled, 9-10 is Kim's again (the kind's default length: an hour).
    c.appointments
        .cancel(
            &who,
            booked[0].id,
            Some(crate::appointments::CancellationKind::ByClinic),
            "clinician ill",
            "",
            crate::appointments::SeriesScope::This,
        )
        .await
        .unwrap();
    let default_length = SlotQuery {
        length_minutes: 0,
        ..only(kim)
    };
    assert_eq!(
        shown(&c, day, &search(default_length).await),
        starts(0, &hour_starts)
    );

    // Ortiz's extra evening hours there make him findable.
    c.availability
        .create_exception(
            &who,
            exception(
                ExceptionKind::ExtraHours,
                Some(ortiz),
                Some(here),
                (us(&c, day, "18:00"), us(&c, day, "19:30")),
            ),
            "",
        )
        .await
        .unwrap();
    assert_eq!(
        shown(&c, day, &search(only(ortiz)).await),
        starts(2, &["18:00", "18:15", "18:30"])
    );

    // Paged three at a time, the pages are the whole answer in order.
    let whole = search(query(&c, day)).await;
    let mut paged = Vec::new();
    let mut token = String::new();
    loop {
        let (page, next) = c
            .availability
            .search(&who, query(&c, day), 3, &token)
            .await
            .unwrap();
        assert!(page.len() <= 3);
        paged.extend(page);
        match next {
            Some(t) => token = t,
            None => break,
        }
    }
    assert_eq!(paged, whole);
    // A token is for the query it came from.
    let (_, next) = c
        .availability
        .search(&who, query(&c, day), 3, "")
        .await
        .unwrap();
    assert!(
        c.availability
            .search(&who, only(kim), 3, &next.unwrap())
            .await
            .is_err()
    );

    // The location closed that day: nobody.
    c.availability
        .create_exception(
            &who,
            exception(
                ExceptionKind::TimeOff,
                None,
                Some(here),
                (
                    us(&c, day, "00:00"),
                    us(&c, day + Duration::days(1), "00:00"),
                ),
            ),
            "",
        )
        .await
        .unwrap();
    assert!(search(query(&c, day)).await.is_empty());
}

#[tokio::test]
async fn a_search_that_cannot_be_answered_says_why() {
    let (_tdb, db) = fixture_db("availability_refusals").await;
    let who = staff("clinic-a");
    let c = clinic(db, &who).await;
    let day = monday();
    let fields = |e: Error| match e {
        Error::InvalidFields(v) | Error::Unprocessable(v) | Error::Unmet(v) => {
            v.into_iter().map(|v| v.field).collect::<Vec<_>>()
        }
        other => panic!("{other:?}"),
    };
    let refused = |q: SlotQuery| {
        let a = c.availability.clone();
        let who = who.clone();
        async move { a.search(&who, q, 0, "").await.unwrap_err() }
    };
    let no_dates = SlotQuery {
        from: None,
        ..query(&c, day)
    };
    assert_eq!(fields(refused(no_dates).await), ["from_date"]);
    let too_wide = SlotQuery {
        to: Some(day + Duration::days(92)),
        ..query(&c, day)
    };
    assert_eq!(fields(refused(too_wide).await), ["to_date"]);
    let too_short = SlotQuery {
        length_minutes: 4,
        ..query(&c, day)
    };
    assert_eq!(fields(refused(too_short).await), ["length_minutes"]);
    // Ortiz provides no medication management.
    let not_theirs = SlotQuery {
        kind: Some(AppointmentKind::MedicationManagement),
        clinician: Some(c.clinicians[2]),
        ..query(&c, day)
    };
    assert_eq!(fields(refused(not_theirs).await), ["clinician_id"]);
    // An unknown patient, and another clinic's location.
    let nobody = SlotQuery {
        patient: Some(PatientId::parse("p", "00000000-0000-0000-0000-000000000000").unwrap()),
        ..query(&c, day)
    };
    assert!(matches!(
        refused(nobody).await,
        Error::NotFound {
            kind: "patient",
            ..
        }
    ));
    let err = c
        .availability
        .search(&staff("clinic-b"), query(&c, day), 0, "")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                kind: "location",
                ..
            }
        ),
        "{err:?}"
    );
    // Nobody provides medication management: no slots, not an error.
    let none_provide = SlotQuery {
        kind: Some(AppointmentKind::MedicationManagement),
        ..query(&c, day)
    };
    assert!(
        c.availability
            .search(&who, none_provide, 0, "")
            .await
            .unwrap()
            .0
            .is_empty()
    );
}
