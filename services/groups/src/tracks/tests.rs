use super::*;
use crate::programs::store::ProgramStore;
use crate::programs::{LevelOfCare, NewProgram, Population, Program, Programs, Treatment};
use crate::sessions;
use crate::testing::{Setup, clinic, fixture_db, staff};
use chrono::{Datelike, Utc};

struct Fixture {
    _tdb: iop_db::testing::TestDatabase,
    tracks: Tracks,
    programs: Programs,
    store: TrackStore,
    sessions: crate::sessions::store::SessionStore,
    clinic: std::sync::Arc<crate::testing::Clinic>,
    s: Setup,
}

async fn fixture() -> Fixture {
    let (tdb, db) = fixture_db("tracks").await;
    let (sites, s) = clinic();
    Fixture {
        _tdb: tdb,
        tracks: Tracks::new(
            TrackStore::new(db.clone()),
            ProgramStore::new(db.clone()),
            crate::sessions::Sessions::new(
                crate::sessions::store::SessionStore::new(db.clone()),
                sites.clone(),
            ),
            sites.clone(),
        ),
        programs: Programs::new(ProgramStore::new(db.clone()), sites.clone()),
        store: TrackStore::new(db.clone()),
        sessions: crate::sessions::store::SessionStore::new(db),
        clinic: sites,
        s,
    }
}

async fn program(f: &Fixture, name: &str, modality: Modality) -> Program {
    f.programs
        .create(
            &staff("clinic-a"),
            NewProgram {
                name: name.into(),
                population: Some(Population::Adult),
                level_of_care: Some(LevelOfCare::IntensiveOutpatient),
                therapies: vec![Treatment::GroupTherapy],
                modality: Some(modality),
                expected_weeks: 12,
                staff_clinician_ids: vec![f.s.dana],
                active: true,
                ..Default::default()
            },
            "",
        )
        .await
        .unwrap()
}

fn hm(s: &str) -> NaiveTime {
    NaiveTime::parse_from_str(s, "%H:%M").unwrap()
}

fn evenings(f: &Fixture, program: ProgramId) -> NewTrack {
    NewTrack {
        program_id: Some(program),
        name: "Evenings".into(),
        location_id: Some(f.s.location),
        room_id: Some(f.s.room),
        modality: Some(Modality::InPerson),
        meetings: [Day::Thursday, Day::Monday, Day::Wednesday]
            .map(|day| Meeting {
                day,
                start: hm("18:00"),
                end: hm("21:00"),
            })
            .to_vec(),
        facilitator_clinician_ids: vec![f.s.dana, f.s.sam],
        capacity: 10,
        curriculum: vec!["Coping skills".into(), "Relapse prevention".into()],
        start_date: NaiveDate::from_ymd_opt(2026, 1, 5),
        active: true,
    }
}

fn fields(e: &Error) -> Vec<String> {
    match e {
        Error::InvalidFields(v) | Error::Unmet(v) | Error::Unprocessable(v) => {
            v.iter().map(|f| f.field.clone()).collect()
        }
        other => panic!("not a field error: {other:?}"),
    }
}

#[tokio::test]
async fn a_track_is_created_once_with_its_meetings_in_week_order_and_listed_by_program() {
    let f = fixture().await;
    let a = staff("clinic-a");
    let p = program(&f, "Adult SUD IOP", Modality::Hybrid).await;
    let made = f.tracks.create(&a, evenings(&f, p.id), "k").await.unwrap();
    assert_eq!(
        made.meetings.iter().map(|m| m.day).collect::<Vec<_>>(),
        [Day::Monday, Day::Wednesday, Day::Thursday]
    );
    assert_eq!(
        f.tracks.create(&a, evenings(&f, p.id), "k").await.unwrap(),
        made,
        "a retry"
    );
    assert_eq!(f.tracks.get(&a, made.id).await.unwrap(), made);
    let mut video = evenings(&f, p.id);
    video.name = "Mornings by video".into();
    video.modality = Some(Modality::Telehealth);
    video.room_id = None;
    video.capacity = 0;
    video.meetings = vec![Meeting {
        day: Day::Tuesday,
        start: hm("09:00"),
        end: hm("12:00"),
    }];
    let video = f.tracks.create(&a, video, "").await.unwrap();
    assert_eq!(video.capacity, DEFAULT_CAPACITY);
    let other = program(&f, "Alumni", Modality::Hybrid).await;
    let mut alumni = evenings(&f, other.id);
    alumni.name = "Evenings".into();
    alumni.meetings = vec![Meeting {
        day: Day::Friday,
        start: hm("18:00"),
        end: hm("20:00"),
    }];
    let alumni = f.tracks.create(&a, alumni, "").await.unwrap();
    let (of_p, _) = f.tracks.list(&a, Some(p.id), 10, "").await.unwrap();
    assert_eq!(of_p, vec![made.clone(), video]);
    let (all, _) = f.tracks.list(&a, None, 10, "").await.unwrap();
    assert_eq!(all.len(), 3);
    assert!(all.contains(&alumni));
    let err = f
        .tracks
        .create(&a, evenings(&f, p.id), "")
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::AlreadyExists(_)),
        "same name in a program: {err:?}"
    );
    let err = f.tracks.get(&staff("clinic-b"), made.id).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn a_bad_track_names_each_field() {
    let f = fixture().await;
    let a = staff("clinic-a");
    let p = program(&f, "Adult SUD IOP", Modality::Hybrid).await;
    let mut bad = evenings(&f, p.id);
    bad.modality = Some(Modality::Hybrid);
    bad.meetings.push(Meeting {
        day: Day::Monday,
        start: hm("09:00"),
        end: hm("08:00"),
    });
    bad.facilitator_clinician_ids = vec![];
    bad.capacity = 1;
    bad.curriculum = vec!["".into()];
    bad.start_date = None;
    let err = f.tracks.create(&a, bad, "").await.unwrap_err();
    assert_eq!(
        fields(&err),
        [
            "track.modality",
            "track.meetings[3].day",
            "track.meetings[3].end_time",
            "track.facilitator_clinician_ids",
            "track.capacity",
            "track.curriculum[0]",
            "track.start_date",
        ]
    );
    let mut video_in_a_room = evenings(&f, p.id);
    video_in_a_room.modality = Some(Modality::Telehealth);
    let err = f.tracks.create(&a, video_in_a_room, "").await.unwrap_err();
    assert_eq!(fields(&err), ["track.room_id"]);
}

#[tokio::test]
async fn what_a_track_names_must_be_there_and_able_to_take_part() {
    let f = fixture().await;
    let a = staff("clinic-a");
    let in_person = program(&f, "Adult SUD IOP", Modality::InPerson).await;
    // Too many for the room, by video in an in-person program, an inactive facilitator.
    let mut t = evenings(&f, in_person.id);
    t.capacity = 12;
    t.facilitator_clinician_ids = vec![f.s.dana, f.s.gone];
    let err = f.tracks.create(&a, t, "").await.unwrap_err();
    assert!(matches!(err, Error::Unmet(_)), "{err:?}");
    assert_eq!(
        fields(&err),
        ["track.capacity", "track.facilitator_clinician_ids[1]"]
    );
    let mut video = evenings(&f, in_person.id);
    video.modality = Some(Modality::Telehealth);
    video.room_id = None;
    let err = f.tracks.create(&a, video, "").await.unwrap_err();
    assert_eq!(fields(&err), ["track.modality"]);
    for (what, change) in [
        (
            "program",
            Box::new(|t: &mut NewTrack| t.program_id = Some(ProgramId::new()))
                as Box<dyn Fn(&mut NewTrack)>,
        ),
        (
            "location",
            Box::new(|t: &mut NewTrack| t.location_id = Some(LocationId::new())),
        ),
        (
            "room",
            Box::new(|t: &mut NewTrack| t.room_id = Some(RoomId::new())),
        ),
        (
            "clinician",
            Box::new(|t: &mut NewTrack| t.facilitator_clinician_ids = vec![ClinicianId::new()]),
        ),
    ] {
        let mut t = evenings(&f, in_person.id);
        change(&mut t);
        let err = f.tracks.create(&a, t, "").await.unwrap_err();
        assert!(
            matches!(&err, Error::NotFound { kind, .. } if *kind == what),
            "{what}: {err:?}"
        );
    }
}

/// A new track's first four weeks of sessions are stored, each holding its room and
/// facilitators; the topics rotate from the first meeting.
#[tokio::test]
async fn a_new_track_holds_each_session_of_its_first_weeks() {
    let f = fixture().await;
    let a = staff("clinic-a");
    let p = program(&f, "Adult SUD IOP", Modality::Hybrid).await;
    let made = f.tracks.create(&a, evenings(&f, p.id), "k").await.unwrap();
    let sessions = f.sessions.of_track(&a.tenant, made.id).await.unwrap();
    // Three meetings a week for four weeks.
    assert!((11..=13).contains(&sessions.len()), "{}", sessions.len());
    assert!(sessions.iter().all(|s| !s.hold_id.is_empty()));
    assert!(!f.store.is_pending(&a.tenant, made.id).await.unwrap());
    let holds = f.clinic.holds.lock().unwrap().clone();
    assert_eq!(holds.len(), sessions.len());
    for s in &sessions {
        let h = &holds[&format!("group-session:{}", s.id)];
        assert_eq!(h.id, s.hold_id);
        assert_eq!(h.request.room_id, Some(f.s.room));
        assert_eq!(h.request.clinician_ids, vec![f.s.dana, f.s.sam]);
        assert_eq!(
            (h.request.start, h.request.end),
            (s.planned.start, s.planned.end)
        );
    }
    assert!(
        sessions[0].planned.date >= sessions::today(chrono_tz::America::Los_Angeles, Utc::now())
    );
    assert!(sessions.iter().all(|s| {
        [
            chrono::Weekday::Mon,
            chrono::Weekday::Wed,
            chrono::Weekday::Thu,
        ]
        .contains(&s.planned.date.weekday())
    }));
    // Numbered from the track's first meeting (5 January), so not from 1.
    assert!(
        sessions[0].planned.number > 100,
        "{}",
        sessions[0].planned.number
    );
}

/// A track one of whose sessions meets the room booked otherwise is refused naming that
/// session; every hold it placed is released and nothing of it stays.
#[tokio::test]
async fn a_track_that_clashes_is_refused_and_leaves_nothing_held() {
    let f = fixture().await;
    let a = staff("clinic-a");
    let p = program(&f, "Adult SUD IOP", Modality::Hybrid).await;
    // The room is booked the third session's evening.
    let tz = chrono_tz::America::Los_Angeles;
    let probe = Track {
        id: TrackId::new(),
        program_id: p.id,
        name: "probe".into(),
        location_id: f.s.location,
        room_id: Some(f.s.room),
        modality: Modality::InPerson,
        meetings: evenings(&f, p.id).meetings,
        facilitator_clinician_ids: vec![],
        capacity: 10,
        curriculum: vec![],
        start_date: NaiveDate::from_ymd_opt(2026, 1, 5).unwrap(),
        active: true,
        create_time_us: 0,
    };
    let (from, to) = sessions::horizon(&probe, sessions::today(tz, Utc::now()));
    let third = crate::schedule::sessions(&probe, tz, from, to)[2].clone();
    f.clinic
        .booked
        .lock()
        .unwrap()
        .push((f.s.room, third.start, third.end));
    let err = f
        .tracks
        .create(&a, evenings(&f, p.id), "k")
        .await
        .unwrap_err();
    match &err {
        Error::Clashes(v) => {
            assert_eq!(v.len(), 1, "{v:?}");
            assert_eq!(v[0].field, format!("sessions[{}]", third.date));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        f.clinic.holds.lock().unwrap().is_empty(),
        "every hold released"
    );
    assert!(!f.clinic.released.lock().unwrap().is_empty());
    let (left, _) = f.tracks.list(&a, Some(p.id), 10, "").await.unwrap();
    assert!(left.is_empty(), "no track stays");
    // With the room free again the same request (and key) makes the track.
    f.clinic.booked.lock().unwrap().clear();
    let made = f.tracks.create(&a, evenings(&f, p.id), "k").await.unwrap();
    assert!(!f.store.is_pending(&a.tenant, made.id).await.unwrap());
}

/// The scheduling service stops answering half-way: the create fails, the track stays
/// pending (out of the catalog); a retry with its key finishes it, each session held once.
#[tokio::test]
async fn a_create_that_gave_up_half_way_is_finished_by_its_retry() {
    let f = fixture().await;
    let a = staff("clinic-a");
    let p = program(&f, "Adult SUD IOP", Modality::Hybrid).await;
    *f.clinic.answers_left.lock().unwrap() = Some(4);
    let err = f
        .tracks
        .create(&a, evenings(&f, p.id), "k")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable(_)), "{err:?}");
    let (listed, _) = f.tracks.list(&a, Some(p.id), 10, "").await.unwrap();
    let pending = listed[0].id;
    assert!(f.store.is_pending(&a.tenant, pending).await.unwrap());
    assert_eq!(f.clinic.holds.lock().unwrap().len(), 4);
    let active = f
        .store
        .list(&a.tenant, Some(p.id), None, true, 10)
        .await
        .unwrap();
    assert!(active.is_empty(), "a pending track is not offered");
    *f.clinic.answers_left.lock().unwrap() = None;
    let made = f.tracks.create(&a, evenings(&f, p.id), "k").await.unwrap();
    assert_eq!(made.id, pending);
    assert!(!f.store.is_pending(&a.tenant, made.id).await.unwrap());
    let sessions = f.sessions.of_track(&a.tenant, made.id).await.unwrap();
    assert!(sessions.iter().all(|s| !s.hold_id.is_empty()));
    assert_eq!(
        f.clinic.holds.lock().unwrap().len(),
        sessions.len(),
        "each held once"
    );
}

/// A create that gave up half-way and was never retried is settled by the worker once it
/// has waited a minute, not before.
#[tokio::test]
async fn the_worker_settles_a_track_its_create_left_pending() {
    let f = fixture().await;
    let a = staff("clinic-a");
    let p = program(&f, "Adult SUD IOP", Modality::Hybrid).await;
    *f.clinic.answers_left.lock().unwrap() = Some(2);
    let err = f
        .tracks
        .create(&a, evenings(&f, p.id), "")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable(_)), "{err:?}");
    *f.clinic.answers_left.lock().unwrap() = None;
    let (listed, _) = f.tracks.list(&a, Some(p.id), 10, "").await.unwrap();
    let id = listed[0].id;
    let worker = crate::sessions::Sessions::new(f.sessions.clone(), f.clinic.clone());
    let now = iop_core::now_micros();
    assert_eq!(
        worker.step(&f.store, now).await.unwrap(),
        0,
        "its create may still be at it"
    );
    assert!(f.store.is_pending(&a.tenant, id).await.unwrap());
    assert_eq!(worker.step(&f.store, now + 61_000_000).await.unwrap(), 1);
    assert!(!f.store.is_pending(&a.tenant, id).await.unwrap());
    let sessions = f.sessions.of_track(&a.tenant, id).await.unwrap();
    assert!(sessions.iter().all(|s| !s.hold_id.is_empty()));
    assert_eq!(f.clinic.holds.lock().unwrap().len(), sessions.len());
}
