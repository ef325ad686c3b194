//! Assessment use cases against a real database: SQLite, and PostgreSQL when
//! `IOP_TEST_DATABASE_URL` is set.

use iop_core::{PatientId, Principal};
use iop_db::Db;
use iop_db::testing::TestDatabase;

use super::*;
use crate::test_support::{database, patient, staff};

struct Fixture {
    _tdb: TestDatabase,
    db: Db,
    assessments: Assessments,
}

async fn fixture() -> Fixture {
    let (tdb, db) = database("assessments").await;
    Fixture {
        _tdb: tdb,
        assessments: Assessments::new(AssessmentStore::new(db.clone())),
        db,
    }
}

impl Fixture {
    async fn patient(&self, who: &Principal) -> PatientId {
        patient(&self.db, who).await
    }
}

fn phq9(patient: PatientId, answers: [i32; 9], at_us: i64) -> NewAssessment {
    NewAssessment {
        patient_id: patient,
        instrument: Some(Instrument::Phq9),
        answers: answers.to_vec(),
        administered_us: Some(at_us),
    }
}

const DAY_US: i64 = 86_400_000_000;

fn days_ago(n: i64) -> i64 {
    now_micros() - n * DAY_US
}

#[tokio::test]
async fn scores_are_computed_and_stored() {
    let f = fixture().await;
    let who = staff("a", "dr-kim");
    let p = f.patient(&who).await;
    let a = f
        .assessments
        .record(&who, phq9(p, [2, 2, 2, 2, 2, 1, 1, 0, 0], days_ago(1)), "")
        .await
        .unwrap();
    assert_eq!((a.total, a.severity), (12, Severity::Moderate));
    assert_eq!(a.safety_flag_id, None);
    assert_eq!(a.recorded_by, "dr-kim");
    assert_eq!(f.assessments.get(&who, a.id).await.unwrap(), a);
}

#[tokio::test]
async fn item_9_raises_a_flag_until_a_clinician_acknowledges_it() {
    let f = fixture().await;
    let who = staff("a", "dr-kim");
    let p = f.patient(&who).await;
    let a = f
        .assessments
        .record(&who, phq9(p, [0, 0, 0, 0, 0, 0, 0, 0, 1], days_ago(0)), "")
        .await
        .unwrap();
    let flag_id = a.safety_flag_id.expect("item 9 > 0 raises a flag");
    let active = ListFlags {
        status: Some(FlagStatus::Active),
        ..Default::default()
    };
    let (flags, _) = f.assessments.list_flags(&who, active).await.unwrap();
    assert_eq!(flags.len(), 1);
    assert_eq!(flags[0].assessment_id, a.id);
    assert_eq!(flags[0].patient_id, p);

    // A backend client cannot acknowledge; a note is required.
    let mut system = who.clone();
    system.roles.clear();
    let err = f.assessments.acknowledge(&system, flag_id, "ok").await;
    assert!(matches!(err, Err(Error::PermissionDenied(_))), "{err:?}");
    let err = f.assessments.acknowledge(&who, flag_id, "  ").await;
    assert!(matches!(err, Err(Error::InvalidFields(_))), "{err:?}");

    let acked = f
        .assessments
        .acknowledge(&who, flag_id, "Safety plan reviewed; no intent.")
        .await
        .unwrap();
    let ack = acked.acknowledgement.unwrap();
    assert_eq!(ack.by, "dr-kim");
    assert_eq!(ack.note, "Safety plan reviewed; no intent.");
    let active = ListFlags {
        status: Some(FlagStatus::Active),
        ..Default::default()
    };
    assert!(
        f.assessments
            .list_flags(&who, active)
            .await
            .unwrap()
            .0
            .is_empty()
    );

    // The first acknowledgement stands.
    let err = f.assessments.acknowledge(&who, flag_id, "again").await;
    assert!(matches!(err, Err(Error::FailedPrecondition(_))), "{err:?}");
    // Unknown or other tenant's flags are not found.
    let err = f
        .assessments
        .acknowledge(&staff("b", "dr-kim"), flag_id, "not mine")
        .await;
    assert!(matches!(err, Err(Error::NotFound { .. })), "{err:?}");
}

#[tokio::test]
async fn history_is_in_administration_order_filtered_and_paged() {
    let f = fixture().await;
    let who = staff("a", "dr-kim");
    let p = f.patient(&who).await;
    let other = f.patient(&who).await;
    // Recorded out of order; listed by when they were answered.
    for day in [3, 10, 1, 7, 5] {
        f.assessments
            .record(&who, phq9(p, [1; 9], days_ago(day)), "")
            .await
            .unwrap();
    }
    let gad = NewAssessment {
        patient_id: p,
        instrument: Some(Instrument::Gad7),
        answers: vec![3; 7],
        administered_us: Some(days_ago(2)),
    };
    f.assessments.record(&who, gad, "").await.unwrap();
    f.assessments
        .record(&who, phq9(other, [3; 9], days_ago(1)), "")
        .await
        .unwrap();

    let patient_id = p.to_string();
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = ListAssessments {
            patient_id: &patient_id,
            page_size: 2,
            page_token: &token,
            ..Default::default()
        };
        let (page, next) = f.assessments.list(&who, page).await.unwrap();
        assert!(page.len() <= 2);
        seen.extend(page);
        match next {
            Some(t) => token = t,
            None => break,
        }
    }
    assert_eq!(seen.len(), 6, "only this patient's");
    assert!(
        seen.windows(2)
            .all(|w| w[0].administered_us <= w[1].administered_us)
    );

    let gad_only = ListAssessments {
        patient_id: &patient_id,
        instrument: Some(Instrument::Gad7),
        ..Default::default()
    };
    let (gads, _) = f.assessments.list(&who, gad_only).await.unwrap();
    assert_eq!(gads.len(), 1);
    assert_eq!((gads[0].total, gads[0].severity), (21, Severity::Severe));

    let last_week = ListAssessments {
        patient_id: &patient_id,
        after_us: Some(days_ago(6)),
        before_us: Some(days_ago(2) + 1),
        ..Default::default()
    };
    let (week, _) = f.assessments.list(&who, last_week).await.unwrap();
    assert_eq!(
        week.len(),
        3,
        "days 5 and 3 and the GAD-7 of day 2: {week:?}"
    );
}

#[tokio::test]
async fn bad_input_names_the_field() {
    let f = fixture().await;
    let who = staff("a", "dr-kim");
    let p = f.patient(&who).await;
    let fields = |e: Error| match e {
        Error::InvalidFields(v) | Error::Unprocessable(v) => {
            v.into_iter().map(|v| v.field).collect::<Vec<_>>()
        }
        other => panic!("{other:?}"),
    };
    let mut short = phq9(p, [0; 9], days_ago(0));
    short.answers.pop();
    let err = f.assessments.record(&who, short, "").await.unwrap_err();
    assert_eq!(fields(err), ["assessment.answers"]);
    let err = f
        .assessments
        .record(&who, phq9(p, [0, 0, 4, 0, 0, 0, 0, 0, -1], days_ago(0)), "")
        .await
        .unwrap_err();
    assert_eq!(
        fields(err),
        ["assessment.answers[2]", "assessment.answers[8]"]
    );
    let err = f
        .assessments
        .record(&who, phq9(p, [0; 9], now_micros() + DAY_US), "")
        .await
        .unwrap_err();
    assert_eq!(fields(err), ["assessment.administered_time"]);
    let mut none = phq9(p, [0; 9], days_ago(0));
    none.instrument = None;
    let err = f.assessments.record(&who, none, "").await.unwrap_err();
    assert_eq!(fields(err), ["assessment.instrument"]);
    let err = f
        .assessments
        .list(&who, ListAssessments::default())
        .await
        .unwrap_err();
    assert_eq!(fields(err), ["patient_id"]);
}

#[tokio::test]
async fn unknown_and_other_tenants_patients_are_not_found() {
    let f = fixture().await;
    let a = staff("a", "dr-kim");
    let b = staff("b", "dr-kim");
    let p = f.patient(&a).await;
    let err = f
        .assessments
        .record(&b, phq9(p, [0; 9], days_ago(0)), "")
        .await
        .unwrap_err();
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
    let mine = f
        .assessments
        .record(&a, phq9(p, [0; 9], days_ago(0)), "")
        .await
        .unwrap();
    assert!(matches!(
        f.assessments.get(&b, mine.id).await,
        Err(Error::NotFound { .. })
    ));
    let pid = p.to_string();
    let theirs = ListAssessments {
        patient_id: &pid,
        ..Default::default()
    };
    assert!(matches!(
        f.assessments.list(&b, theirs).await,
        Err(Error::NotFound {
            kind: "patient",
            ..
        })
    ));
    let theirs = ListFlags {
        patient_id: &pid,
        ..Default::default()
    };
    assert!(matches!(
        f.assessments.list_flags(&b, theirs).await,
        Err(Error::NotFound {
            kind: "patient",
            ..
        })
    ));
}

#[tokio::test]
async fn a_retried_record_returns_the_first_and_writes_nothing() {
    let f = fixture().await;
    let who = staff("a", "dr-kim");
    let p = f.patient(&who).await;
    let at = days_ago(1);
    let first = f
        .assessments
        .record(&who, phq9(p, [1; 9], at), "key-1")
        .await
        .unwrap();
    let again = f
        .assessments
        .record(&who, phq9(p, [1; 9], at), "key-1")
        .await
        .unwrap();
    assert_eq!(first, again);
    let err = f
        .assessments
        .record(&who, phq9(p, [2; 9], at), "key-1")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unprocessable(_)), "{err:?}");
    let pid = p.to_string();
    let list = ListAssessments {
        patient_id: &pid,
        ..Default::default()
    };
    assert_eq!(f.assessments.list(&who, list).await.unwrap().0.len(), 1);
    let flags = ListFlags::default();
    assert_eq!(
        f.assessments.list_flags(&who, flags).await.unwrap().0.len(),
        1,
        "one flag, not two"
    );
}
