use super::*;
use crate::testing::{Setup, clinic, fixture_db, staff};

/// Keep the `TestDatabase` as long as the `Programs`.
async fn fixture() -> (iop_db::testing::TestDatabase, Programs, Setup) {
    let (tdb, db) = fixture_db("programs").await;
    let (sites, setup) = clinic();
    (tdb, Programs::new(ProgramStore::new(db), sites), setup)
}

fn adult_sud(s: &Setup) -> NewProgram {
    NewProgram {
        name: "Adult SUD IOP".into(),
        description: "Evening and morning tracks for adults in early recovery.".into(),
        population: Some(Population::Adult),
        level_of_care: Some(LevelOfCare::IntensiveOutpatient),
        substance_use_disorder: true,
        therapies: vec![Treatment::GroupTherapy, Treatment::RelapsePrevention],
        modality: Some(Modality::Hybrid),
        expected_weeks: 12,
        weekly_minutes: 0,
        staff_clinician_ids: vec![s.dana, s.sam],
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
async fn created_once_with_the_populations_weekly_hours_and_kept_within_the_clinic() {
    let (_tdb, p, s) = fixture().await;
    let a = staff("clinic-a");
    let made = p.create(&a, adult_sud(&s), "key-1").await.unwrap();
    assert_eq!(made.weekly_minutes, 540, "ASAM 2.1 adults: 9 hours");
    assert_eq!(
        p.create(&a, adult_sud(&s), "key-1").await.unwrap(),
        made,
        "a retry"
    );
    assert_eq!(p.get(&a, made.id).await.unwrap(), made);
    let err = p.get(&staff("clinic-b"), made.id).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let mut teens = adult_sud(&s);
    teens.name = "Adolescent IOP".into();
    teens.population = Some(Population::Adolescent);
    let teens = p.create(&a, teens, "").await.unwrap();
    assert_eq!(teens.weekly_minutes, 360, "ASAM 2.1 adolescents: 6 hours");
    let (page, next) = p.list(&a, 1, "").await.unwrap();
    assert_eq!(page, vec![made.clone()]);
    let (rest, end) = p.list(&a, 1, &next.unwrap()).await.unwrap();
    assert_eq!((rest, end), (vec![teens], None));
    let err = p.create(&a, adult_sud(&s), "").await.unwrap_err();
    assert!(matches!(err, Error::AlreadyExists(_)), "same name: {err:?}");
}

#[tokio::test]
async fn a_bad_program_names_each_field_and_staff_must_be_active_clinicians() {
    let (_tdb, p, s) = fixture().await;
    let a = staff("clinic-a");
    let bad = NewProgram {
        name: " ".into(),
        therapies: vec![Treatment::Psychoeducation, Treatment::Psychoeducation],
        expected_weeks: 53,
        weekly_minutes: 30,
        staff_clinician_ids: vec![s.dana, s.dana],
        ..Default::default()
    };
    let err = p.create(&a, bad, "").await.unwrap_err();
    assert_eq!(
        fields(&err),
        [
            "program.name",
            "program.population",
            "program.level_of_care",
            "program.therapies[1]",
            "program.modality",
            "program.expected_weeks",
            "program.weekly_minutes",
            "program.staff_clinician_ids[1]",
        ]
    );
    let mut with_gone = adult_sud(&s);
    with_gone.staff_clinician_ids = vec![s.dana, s.gone];
    let err = p.create(&a, with_gone, "").await.unwrap_err();
    assert_eq!(
        fields(&err),
        ["program.staff_clinician_ids[1]"],
        "inactive: 409"
    );
    let mut unknown = adult_sud(&s);
    unknown.staff_clinician_ids = vec![ClinicianId::new()];
    let err = p.create(&a, unknown, "").await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                kind: "clinician",
                ..
            }
        ),
        "{err:?}"
    );
    // Another clinic's scheduling service knows none of these clinicians.
    let err = p
        .create(&staff("clinic-b"), adult_sud(&s), "")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                kind: "clinician",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_update_changes_what_its_mask_names_once_per_read() {
    let (_tdb, p, s) = fixture().await;
    let a = staff("clinic-a");
    let made = p.create(&a, adult_sud(&s), "").await.unwrap();
    assert_eq!(made.etag(), "1");
    let change = NewProgram {
        name: "Adult SUD IOP — evenings".into(),
        active: false,
        // Not in the mask: ignored.
        expected_weeks: 99,
        ..Default::default()
    };
    let paths = [ProgramPath::Name, ProgramPath::Active];
    let updated = p
        .update(&a, made.id, change.clone(), &paths, "1")
        .await
        .unwrap();
    assert_eq!(
        (
            updated.name.as_str(),
            updated.active,
            updated.expected_weeks,
            updated.etag()
        ),
        ("Adult SUD IOP — evenings", false, 12, "2".into())
    );
    assert_eq!(p.get(&a, made.id).await.unwrap(), updated);
    // A change made on the first read is stale now.
    let err = p
        .update(&a, made.id, change, &paths, "1")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");

    // Weekly minutes back to the population's default; an adolescent program keeps what it
    // says unless told.
    let minutes = NewProgram {
        weekly_minutes: 0,
        population: Some(Population::Adolescent),
        ..Default::default()
    };
    let teen = p
        .update(
            &a,
            made.id,
            minutes,
            &[ProgramPath::Population, ProgramPath::WeeklyMinutes],
            "",
        )
        .await
        .unwrap();
    assert_eq!(
        (teen.population, teen.weekly_minutes),
        (Population::Adolescent, 360)
    );

    // Staff added must be active; one made inactive since stays until removed.
    let mut with_gone = teen.as_new();
    with_gone.staff_clinician_ids = vec![s.dana, s.gone];
    let err = p
        .update(
            &a,
            made.id,
            with_gone,
            &[ProgramPath::StaffClinicianIds],
            "",
        )
        .await
        .unwrap_err();
    assert_eq!(fields(&err), ["program.staff_clinician_ids[1]"]);
    // A bad result names its field; another clinic does not find it.
    let bad = NewProgram {
        expected_weeks: 0,
        ..Default::default()
    };
    let err = p
        .update(&a, made.id, bad.clone(), &[ProgramPath::ExpectedWeeks], "")
        .await
        .unwrap_err();
    assert_eq!(fields(&err), ["program.expected_weeks"]);
    let err = p
        .update(&staff("clinic-b"), made.id, bad, &[ProgramPath::Active], "")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}
