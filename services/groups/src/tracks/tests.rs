use super::*;
use crate::programs::store::ProgramStore;
use crate::programs::{LevelOfCare, NewProgram, Population, Program, Programs, Treatment};
use crate::testing::{Setup, clinic, fixture_db, staff};

struct Fixture {
    _tdb: iop_db::testing::TestDatabase,
    tracks: Tracks,
    programs: Programs,
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
            sites.clone(),
        ),
        programs: Programs::new(ProgramStore::new(db), sites),
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
    let video = f.tracks.create(&a, video, "").await.unwrap();
    assert_eq!(video.capacity, DEFAULT_CAPACITY);
    let other = program(&f, "Alumni", Modality::Hybrid).await;
    let mut alumni = evenings(&f, other.id);
    alumni.name = "Evenings".into();
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
