use chrono::{DateTime, Utc};
use iop_core::{Error, PatientId};

use super::*;
use crate::appointments::store::AppointmentStore;
use crate::appointments::{CancellationKind, SeriesScope};
use crate::testing::{Clinic, clinic, fixture_db, staff};

fn us(t: &str) -> i64 {
    t.parse::<DateTime<Utc>>().unwrap().timestamp_micros()
}

fn hm(s: &str) -> NaiveTime {
    NaiveTime::parse_from_str(s, "%H:%M").unwrap()
}

/// 2030-01-07 is a Monday; 10:00 in Los Angeles is 18:00Z in January.
const MONDAY_TEN: &str = "2030-01-07T18:00:00Z";
const MONDAY_ELEVEN: &str = "2030-01-07T19:00:00Z";

fn waitlist(c: &Clinic) -> Waitlist {
    let refs = References::new(&c.db, c.records.clone());
    Waitlist::new(
        WaitlistStore::new(c.db.clone()),
        refs.clone(),
        Appointments::new(AppointmentStore::new(c.db.clone()), refs),
    )
}

fn visit(c: &Clinic, patient: PatientId, clinician: usize) -> NewAppointment {
    NewAppointment {
        kind: Some(AppointmentKind::IndividualTherapy),
        patient_id: Some(patient),
        clinician_ids: vec![c.clinicians[clinician]],
        location_id: Some(c.location.id),
        modality: Some(Modality::InPerson),
        room_id: Some(c.rooms[0]),
        start_us: Some(us(MONDAY_TEN)),
        end_us: Some(us(MONDAY_ELEVEN)),
        ..Default::default()
    }
}

fn waiting(c: &Clinic, patient: PatientId, wants: Preferences) -> NewEntry {
    NewEntry {
        patient_id: Some(patient),
        kind: Some(AppointmentKind::IndividualTherapy),
        location_id: Some(c.location.id),
        wants,
    }
}

async fn cancel(c: &Clinic, who: &Principal, a: &Appointment) {
    c.appointments
        .cancel(
            who,
            a.id,
            Some(CancellationKind::ByPatient),
            "",
            "",
            SeriesScope::This,
        )
        .await
        .unwrap();
}

fn fields(e: Error) -> Vec<String> {
    match e {
        Error::Unmet(v) | Error::InvalidFields(v) | Error::Unprocessable(v) => {
            v.into_iter().map(|v| v.field).collect()
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_opening_suits_an_entry_by_day_window_clinician_and_modality_in_local_time() {
    let tz = clock::zone("tz", "America/Los_Angeles").unwrap();
    let (kim, lee) = (ClinicianId::new(), ClinicianId::new());
    let room = RoomId::new();
    let location = LocationId::new();
    let opening = Opening {
        tenant: TenantId::parse("clinic-a").unwrap(),
        id: "o".into(),
        location_id: location,
        clinician_ids: vec![kim, lee],
        room_id: Some(room),
        start_us: us(MONDAY_TEN),
        end_us: us("2030-01-07T19:30:00Z"),
    };
    let entry = |wants: Preferences| Entry {
        id: WaitlistEntryId::new(),
        patient_id: PatientId::new(),
        kind: AppointmentKind::IndividualTherapy,
        location_id: location,
        wants,
        status: EntryStatus::Waiting,
        offers: vec![],
        appointment_id: None,
        withdraw_reason: String::new(),
        created_by: String::new(),
        create_time_us: 0,
    };
    let both = [Modality::InPerson, Modality::Telehealth];
    // Anything: both clinicians, in the freed room, 60 minutes from the start.
    let any = proposals(&entry(Preferences::default()), &opening, tz, 60, &both);
    assert_eq!(any.len(), 2);
    assert_eq!(
        (any[0].room_id, any[0].modality, any[0].end_us),
        (Some(room), Modality::InPerson, us(MONDAY_ELEVEN))
    );
    // Longer than the opening: nothing.
    assert!(proposals(&entry(Preferences::default()), &opening, tz, 120, &both).is_empty());
    // Monday 10:00-11:00 local fits 09:00-12:00, not 12:00-17:00 or 10:30-12:00; not Tuesdays.
    let window = |a: &str, b: &str| Preferences {
        windows: vec![Window {
            start: hm(a),
            end: hm(b),
        }],
        ..Default::default()
    };
    assert_eq!(
        proposals(&entry(window("09:00", "12:00")), &opening, tz, 60, &both).len(),
        2
    );
    assert!(proposals(&entry(window("12:00", "17:00")), &opening, tz, 60, &both).is_empty());
    assert!(proposals(&entry(window("10:30", "12:00")), &opening, tz, 60, &both).is_empty());
    let tuesdays = Preferences {
        days: vec![Weekday::Tue],
        ..Default::default()
    };
    assert!(proposals(&entry(tuesdays), &opening, tz, 60, &both).is_empty());
    // Only Lee; by video only (no room), or not at all when the clinic offers it in person only.
    let lee_by_video = Preferences {
        clinician_ids: vec![lee],
        modalities: vec![Modality::Telehealth],
        ..Default::default()
    };
    let got = proposals(&entry(lee_by_video.clone()), &opening, tz, 60, &both);
    assert_eq!(
        got.iter()
            .map(|p| (p.clinician_id, p.room_id, p.modality))
            .collect::<Vec<_>>(),
        [(lee, None, Modality::Telehealth)]
    );
    assert!(
        proposals(
            &entry(lee_by_video),
            &opening,
            tz,
            60,
            &[Modality::InPerson]
        )
        .is_empty()
    );
    // Elsewhere: nothing.
    let mut elsewhere = entry(Preferences::default());
    elsewhere.location_id = LocationId::new();
    assert!(proposals(&elsewhere, &opening, tz, 60, &both).is_empty());
    // Summer: 10:00 local is 17:00Z (PDT), still inside 09:00-12:00.
    let summer = Opening {
        start_us: us("2030-07-08T17:00:00Z"),
        end_us: us("2030-07-08T18:00:00Z"),
        ..opening
    };
    assert_eq!(
        proposals(&entry(window("09:00", "12:00")), &summer, tz, 60, &both).len(),
        2
    );
}

/// Cancel → the first entry that suits (not the one wanting Tuesdays, not the one busy then)
/// is offered the time → accepting books it; the opening is filled.
#[tokio::test]
async fn freed_time_is_offered_to_the_first_entry_it_suits_and_accepting_books_it() {
    let (_tdb, db) = fixture_db("waitlist_offer").await;
    let who = staff("clinic-a");
    let c = clinic(db, &who).await;
    let w = waitlist(&c);
    let (ana, tue, busy, bea) = (
        PatientId::new(),
        PatientId::new(),
        PatientId::new(),
        PatientId::new(),
    );
    let (booked, _) = c
        .appointments
        .book(&who, visit(&c, ana, 0), "")
        .await
        .unwrap();
    // `busy` has Lee then.
    let mut theirs = visit(&c, busy, 1);
    theirs.room_id = Some(c.rooms[1]);
    c.appointments.book(&who, theirs, "").await.unwrap();

    let tuesdays = Preferences {
        days: vec![Weekday::Tue],
        ..Default::default()
    };
    let first = w
        .create(&who, waiting(&c, tue, tuesdays), "e1")
        .await
        .unwrap();
    let second = w
        .create(&who, waiting(&c, busy, Preferences::default()), "")
        .await
        .unwrap();
    let third = w
        .create(&who, waiting(&c, bea, Preferences::default()), "")
        .await
        .unwrap();
    // A retry is the same entry.
    let again = w
        .create(
            &who,
            waiting(
                &c,
                tue,
                Preferences {
                    days: vec![Weekday::Tue],
                    ..Default::default()
                },
            ),
            "e1",
        )
        .await
        .unwrap();
    assert_eq!(again.id, first.id);
    // Nothing freed yet: no offer.
    assert_eq!(w.step(iop_core::now_micros()).await.unwrap(), 0);

    cancel(&c, &who, &booked[0]).await;
    assert_eq!(w.step(iop_core::now_micros()).await.unwrap(), 1);
    for skipped in [&first, &second] {
        let e = w.get(&who, skipped.id).await.unwrap();
        assert_eq!((e.status, e.offers.len()), (EntryStatus::Waiting, 0));
    }
    let offered = w.get(&who, third.id).await.unwrap();
    assert_eq!(offered.status, EntryStatus::Offered);
    let offer = offered.open_offer().unwrap().clone();
    assert_eq!(
        (
            offer.clinician_id,
            offer.room_id,
            offer.start_us,
            offer.end_us
        ),
        (
            c.clinicians[0],
            Some(c.rooms[0]),
            us(MONDAY_TEN),
            us(MONDAY_ELEVEN)
        )
    );
    // Two hours by default.
    let standing = offer.expire_us - offer.create_time_us;
    assert_eq!(standing, 7200 * 1_000_000);
    // Nothing more to offer.
    assert_eq!(w.step(iop_core::now_micros()).await.unwrap(), 0);

    // A link is for telehealth only; then accepted and booked.
    assert_eq!(
        fields(
            w.accept(&who, third.id, offer.id, "https://meet.example.com/x")
                .await
                .unwrap_err()
        ),
        ["join_url"]
    );
    let (entry, appointment) = w.accept(&who, third.id, offer.id, "").await.unwrap();
    assert_eq!(
        (entry.status, entry.appointment_id),
        (EntryStatus::Booked, Some(appointment.id))
    );
    assert_eq!(entry.offers[0].status, OfferStatus::Accepted);
    assert_eq!(
        (
            appointment.patient_id,
            appointment.start_us,
            appointment.room_id
        ),
        (Some(bea), us(MONDAY_TEN), Some(c.rooms[0]))
    );
    // Accepting again: the offer is no longer open.
    assert_eq!(
        fields(w.accept(&who, third.id, offer.id, "").await.unwrap_err()),
        ["offer_id"]
    );
    // Another clinic sees none of it.
    let other = staff("clinic-b");
    assert!(matches!(
        w.get(&other, third.id).await.unwrap_err(),
        Error::NotFound { .. }
    ));
}

/// Declined → the next entry; expired (a later step, or another worker after a restart) →
/// the next again; withdrawn while offered → the next; none left → the opening idles until
/// an entry arrives.
#[tokio::test]
async fn a_declined_expired_or_withdrawn_offer_passes_to_the_next_entry() {
    let (_tdb, db) = fixture_db("waitlist_pass").await;
    let who = staff("clinic-a");
    let c = clinic(db, &who).await;
    let w = waitlist(&c);
    let (booked, _) = c
        .appointments
        .book(&who, visit(&c, PatientId::new(), 0), "")
        .await
        .unwrap();
    let mut entries = Vec::new();
    for _ in 0..3 {
        entries.push(
            w.create(
                &who,
                waiting(&c, PatientId::new(), Preferences::default()),
                "",
            )
            .await
            .unwrap(),
        );
    }
    cancel(&c, &who, &booked[0]).await;
    let now = iop_core::now_micros();
    w.step(now).await.unwrap();
    let offer = w.get(&who, entries[0].id).await.unwrap().offers[0].clone();
    let declined = w.decline(&who, entries[0].id, offer.id).await.unwrap();
    assert_eq!(
        (declined.status, declined.offers[0].status),
        (EntryStatus::Waiting, OfferStatus::Declined)
    );
    w.step(now).await.unwrap();
    let second = w.get(&who, entries[1].id).await.unwrap();
    assert_eq!(second.status, EntryStatus::Offered);

    // After a restart (another worker on the same database), two hours on: expired, on to
    // the third — never back to the first, who declined this opening.
    let restarted = waitlist(&c);
    let later = now + 7201 * 1_000_000;
    assert_eq!(restarted.step(later).await.unwrap(), 1);
    let second = w.get(&who, entries[1].id).await.unwrap();
    assert_eq!(
        (second.status, second.offers[0].status),
        (EntryStatus::Waiting, OfferStatus::Expired)
    );
    let third = w.get(&who, entries[2].id).await.unwrap();
    assert_eq!(third.status, EntryStatus::Offered);
    assert_eq!(w.get(&who, entries[0].id).await.unwrap().offers.len(), 1);

    // The third withdraws while offered: nobody is left who was not offered it.
    let gone = w
        .withdraw(&who, entries[2].id, "found another program")
        .await
        .unwrap();
    assert_eq!(
        (
            gone.status,
            gone.offers[0].status,
            gone.withdraw_reason.as_str()
        ),
        (
            EntryStatus::Withdrawn,
            OfferStatus::Withdrawn,
            "found another program"
        )
    );
    assert_eq!(w.step(later).await.unwrap(), 0);
    // A new entry arrives: it is offered the idle opening.
    let late = w
        .create(
            &who,
            waiting(&c, PatientId::new(), Preferences::default()),
            "",
        )
        .await
        .unwrap();
    assert_eq!(w.step(later).await.unwrap(), 1);
    assert_eq!(
        w.get(&who, late.id).await.unwrap().status,
        EntryStatus::Offered
    );
    // Once the time has come, nothing is offered any more.
    let after_start = us(MONDAY_TEN) + 1;
    assert_eq!(w.step(after_start).await.unwrap(), 0);
    let late = w.get(&who, late.id).await.unwrap();
    assert_eq!(late.offers[0].status, OfferStatus::Expired);
    assert_eq!(late.offers[0].expire_us, later + 7200 * 1_000_000);
}

/// An offer never stands past the start of the time it offers.
#[tokio::test]
async fn an_offer_of_time_soon_expires_at_its_start() {
    let (_tdb, db) = fixture_db("waitlist_soon").await;
    let who = staff("clinic-a");
    let c = clinic(db, &who).await;
    let w = waitlist(&c);
    let start = iop_core::now_micros() + 1_800_000_000;
    let mut soon = visit(&c, PatientId::new(), 0);
    (soon.start_us, soon.end_us) = (Some(start), Some(start + 3_600_000_000));
    let (booked, _) = c.appointments.book(&who, soon, "").await.unwrap();
    let entry = w
        .create(
            &who,
            waiting(&c, PatientId::new(), Preferences::default()),
            "",
        )
        .await
        .unwrap();
    cancel(&c, &who, &booked[0]).await;
    assert_eq!(w.step(iop_core::now_micros()).await.unwrap(), 1);
    let offer = w.get(&who, entry.id).await.unwrap().offers[0].clone();
    assert_eq!((offer.start_us, offer.expire_us), (start, start));
}

/// An offer does not hold the time: booked meanwhile, accepting answers the clash and the
/// entry waits again.
#[tokio::test]
async fn an_offer_taken_meanwhile_is_refused_and_the_entry_waits_again() {
    let (_tdb, db) = fixture_db("waitlist_taken").await;
    let who = staff("clinic-a");
    let c = clinic(db, &who).await;
    let w = waitlist(&c);
    let (booked, _) = c
        .appointments
        .book(&who, visit(&c, PatientId::new(), 0), "")
        .await
        .unwrap();
    let entry = w
        .create(
            &who,
            waiting(&c, PatientId::new(), Preferences::default()),
            "",
        )
        .await
        .unwrap();
    cancel(&c, &who, &booked[0]).await;
    w.step(iop_core::now_micros()).await.unwrap();
    let offer = w.get(&who, entry.id).await.unwrap().offers[0].clone();
    c.appointments
        .book(&who, visit(&c, PatientId::new(), 0), "")
        .await
        .unwrap();
    let err = w.accept(&who, entry.id, offer.id, "").await.unwrap_err();
    assert!(matches!(err, Error::Clashes(_)), "{err:?}");
    let entry = w.get(&who, entry.id).await.unwrap();
    assert_eq!(
        (entry.status, entry.offers[0].status),
        (EntryStatus::Waiting, OfferStatus::Taken)
    );
}

#[tokio::test]
async fn a_bad_entry_is_refused_naming_each_field() {
    let (_tdb, db) = fixture_db("waitlist_bad").await;
    let who = staff("clinic-a");
    let c = clinic(db, &who).await;
    let w = waitlist(&c);
    let bad = NewEntry {
        patient_id: None,
        kind: Some(AppointmentKind::GroupHold),
        location_id: Some(c.location.id),
        wants: Preferences {
            days: vec![Weekday::Mon, Weekday::Mon],
            windows: vec![Window {
                start: hm("12:00"),
                end: hm("09:00"),
            }],
            ..Default::default()
        },
    };
    assert_eq!(
        fields(w.create(&who, bad, "").await.unwrap_err()),
        [
            "entry.patient_id",
            "entry.kind",
            "entry.days[1]",
            "entry.windows[0].end_time"
        ]
    );
    // A clinician who does not provide the kind: 409 naming them.
    let mut intake = waiting(
        &c,
        PatientId::new(),
        Preferences {
            clinician_ids: vec![c.clinicians[0]],
            ..Default::default()
        },
    );
    intake.kind = Some(AppointmentKind::IntakeAssessment);
    assert_eq!(
        fields(w.create(&who, intake, "").await.unwrap_err()),
        ["entry.clinician_ids[0]"]
    );
}

/// Workers racing over the same openings (two instances, or a step that overlaps the next)
/// make exactly one open offer per opening and per entry. On both databases.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_workers_make_one_offer_per_opening_and_per_entry() {
    let (_tdb, db) = fixture_db("waitlist_race").await;
    let who = staff("clinic-a");
    let c = clinic(db, &who).await;
    let w = waitlist(&c);
    // Three appointments freed at once (three clinicians), five entries waiting.
    let mut freed = Vec::new();
    for i in 0..3 {
        let mut a = visit(&c, PatientId::new(), i);
        a.modality = Some(Modality::Telehealth);
        a.room_id = None;
        a.join_url = "https://meet.example.com/r".into();
        freed.extend(c.appointments.book(&who, a, "").await.unwrap().0);
    }
    for _ in 0..5 {
        w.create(
            &who,
            waiting(&c, PatientId::new(), Preferences::default()),
            "",
        )
        .await
        .unwrap();
    }
    for a in &freed {
        cancel(&c, &who, a).await;
    }
    let now = iop_core::now_micros();
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let w = waitlist(&c);
        tasks.push(tokio::spawn(async move { w.step(now).await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    // Whatever interleaving, a few more steps settle every opening.
    for _ in 0..3 {
        w.step(now).await.unwrap();
    }
    let open: Vec<(String, String)> =
        sqlx::query_as("SELECT opening_id, entry_id FROM waitlist_offers WHERE status = 'open'")
            .fetch_all(c.db.pool())
            .await
            .unwrap();
    assert_eq!(open.len(), 3, "{open:?}");
    let openings: HashSet<_> = open.iter().map(|(o, _)| o).collect();
    let entries: HashSet<_> = open.iter().map(|(_, e)| e).collect();
    assert_eq!((openings.len(), entries.len()), (3, 3));
    let offered = w
        .list(
            &who,
            EntryQuery {
                status: Some(EntryStatus::Offered),
                ..Default::default()
            },
            0,
            "",
        )
        .await
        .unwrap()
        .0;
    assert_eq!(offered.len(), 3);
}
