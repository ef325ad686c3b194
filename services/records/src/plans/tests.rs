//! Treatment-plan use cases against a real database: SQLite, and PostgreSQL when
//! `IOP_TEST_DATABASE_URL` is set.

use chrono::Days;
use iop_core::{PatientId, Principal};
use iop_db::Db;
use iop_db::testing::TestDatabase;

use super::*;
use crate::test_support::{database, patient, staff};

struct Fixture {
    _tdb: TestDatabase,
    db: Db,
    plans: Plans,
}

async fn fixture() -> Fixture {
    let (tdb, db) = database("plans").await;
    Fixture {
        _tdb: tdb,
        plans: Plans::new(PlanStore::new(db.clone())),
        db,
    }
}

fn in_days(n: u64) -> NaiveDate {
    today().checked_add_days(Days::new(n)).unwrap()
}

/// One problem → goal → objective → intervention, complete enough to sign.
fn content() -> Vec<Problem> {
    vec![Problem {
        id: String::new(),
        description: "Alcohol use disorder, moderate".into(),
        goals: vec![Goal {
            id: String::new(),
            description: "Sustain abstinence".into(),
            target_date: Some(in_days(60)),
            objectives: vec![Objective {
                id: String::new(),
                description: "Negative breathalyzer at every session for 4 weeks".into(),
                target_date: Some(in_days(28)),
                interventions: vec![Intervention {
                    description: "Group CBT for relapse prevention".into(),
                    frequency: "3x/week".into(),
                    responsible: "primary clinician".into(),
                }],
            }],
        }],
    }]
}

fn fields(e: Error) -> Vec<String> {
    match e {
        Error::InvalidFields(v) | Error::Unprocessable(v) | Error::Unmet(v) => {
            v.into_iter().map(|v| v.field).collect()
        }
        other => panic!("unexpected {other:?}"),
    }
}

async fn opened(f: &Fixture, who: &Principal) -> (PatientId, Plan) {
    let p = patient(&f.db, who).await;
    let plan = f
        .plans
        .create(who, p, None, content(), Some(in_days(30)), "")
        .await
        .unwrap();
    (p, plan)
}

#[tokio::test]
async fn signed_versions_are_immutable_and_revisions_make_new_ones() {
    let f = fixture().await;
    let kim = staff("a", "dr-kim");
    let (_, v1) = opened(&f, &kim).await;
    assert_eq!((v1.version, v1.status()), (1, PlanStatus::Draft));
    let goal_id = v1.problems[0].goals[0].id.clone();
    assert!(!goal_id.is_empty(), "ids are assigned");

    let mut edited = v1.problems.clone();
    edited[0].goals[0].description = "Sustain abstinence from alcohol".into();
    let v1 = f
        .plans
        .update(&kim, v1.id, edited, v1.review_due, &v1.etag())
        .await
        .unwrap();
    assert_eq!(v1.etag(), "1.1");
    let signed = f.plans.sign(&kim, v1.id, &v1.etag()).await.unwrap();
    assert_eq!(signed.signature.as_ref().unwrap().by, "dr-kim");

    let err = f
        .plans
        .update(&kim, v1.id, content(), None, "")
        .await
        .unwrap_err();
    match err {
        Error::FailedPrecondition(why) => assert!(why.contains("immutable"), "{why}"),
        other => panic!("{other:?}"),
    }
    let tampered = sqlx::query("UPDATE treatment_plans SET content = '[]' WHERE id = $1")
        .bind(v1.id.to_string())
        .execute(f.db.pool())
        .await;
    assert!(tampered.is_err(), "the database refuses too");

    let v2 = f.plans.revise(&kim, v1.id).await.unwrap();
    assert_eq!((v2.version, v2.status()), (2, PlanStatus::Draft));
    assert_eq!(
        v2.problems, signed.problems,
        "copied from the signed version"
    );
    let mut more = v2.problems.clone();
    more[0].goals[0].objectives[0]
        .interventions
        .push(Intervention {
            description: "Naltrexone management".into(),
            frequency: "weekly".into(),
            responsible: "psychiatrist".into(),
        });
    let v2 = f
        .plans
        .update(&kim, v1.id, more, Some(in_days(60)), &v2.etag())
        .await
        .unwrap();
    f.plans.sign(&kim, v1.id, "").await.unwrap();

    let versions = f.plans.versions(&kim, v1.id).await.unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(
        versions[0].problems, signed.problems,
        "version 1 is as signed"
    );
    assert_eq!(versions[1].problems, v2.problems);
    assert_eq!(
        versions[1].problems[0].goals[0].id, goal_id,
        "goals keep their ids"
    );
    let first = f.plans.get(&kim, v1.id, 1).await.unwrap();
    assert_eq!(first.review_due, Some(in_days(30)));
    assert!(matches!(
        f.plans.get(&kim, v1.id, 3).await,
        Err(Error::NotFound { .. })
    ));
    // Revising a draft is refused: edit it instead.
    f.plans.revise(&kim, v1.id).await.unwrap();
    assert!(matches!(
        f.plans.revise(&kim, v1.id).await,
        Err(Error::FailedPrecondition(_))
    ));
}

#[tokio::test]
async fn signing_needs_a_complete_plan() {
    let f = fixture().await;
    let kim = staff("a", "dr-kim");
    let p = patient(&f.db, &kim).await;
    let mut thin = content();
    thin[0].goals[0].objectives[0].interventions[0].frequency = String::new();
    thin.push(Problem {
        id: String::new(),
        description: "Insomnia".into(),
        goals: vec![],
    });
    let plan = f.plans.create(&kim, p, None, thin, None, "").await.unwrap();
    let err = f.plans.sign(&kim, plan.id, "").await.unwrap_err();
    assert!(
        matches!(err, Error::Unmet(_)),
        "a rule on the stored draft: {err:?}"
    );
    assert_eq!(
        fields(err),
        [
            "problems[0].goals[0].objectives[0].interventions[0].frequency",
            "problems[1].goals",
            "review_due_date"
        ]
    );
    let mut system = kim.clone();
    system.roles.clear();
    assert!(matches!(
        f.plans.sign(&system, plan.id, "").await,
        Err(Error::PermissionDenied(_))
    ));
    let mut twice = content();
    twice.push(twice[0].clone());
    twice[0].id = "p1".into();
    twice[1].id = "p1".into();
    let err = f
        .plans
        .create(&kim, p, None, twice, None, "")
        .await
        .unwrap_err();
    assert!(fields(err).contains(&"plan.problems[1].id".to_owned()));
}

#[tokio::test]
async fn goal_progress_is_appended_and_follows_the_goal_through_revisions() {
    let f = fixture().await;
    let kim = staff("a", "dr-kim");
    let (_, plan) = opened(&f, &kim).await;
    let goal = plan.problems[0].goals[0].id.clone();
    f.plans.sign(&kim, plan.id, "").await.unwrap();
    f.plans
        .record_progress(
            &kim,
            plan.id,
            &goal,
            Some(ProgressStatus::InProgress),
            "2 weeks sober",
        )
        .await
        .unwrap();
    f.plans.revise(&kim, plan.id).await.unwrap();
    let after = f
        .plans
        .record_progress(
            &kim,
            plan.id,
            &goal,
            Some(ProgressStatus::Achieved),
            "30 days",
        )
        .await
        .unwrap();
    let statuses: Vec<_> = after.progress.iter().map(|p| p.status).collect();
    assert_eq!(
        statuses,
        [ProgressStatus::InProgress, ProgressStatus::Achieved]
    );
    assert_eq!(after.version, 2);
    let err = f
        .plans
        .record_progress(&kim, plan.id, "no-such-goal", None, "")
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound { kind: "goal", .. }),
        "{err:?}"
    );
    let err = f
        .plans
        .record_progress(&kim, plan.id, &goal, None, "")
        .await
        .unwrap_err();
    assert_eq!(fields(err), ["status"]);
}

#[tokio::test]
async fn lists_show_each_plans_latest_version() {
    let f = fixture().await;
    let kim = staff("a", "dr-kim");
    let (p, first) = opened(&f, &kim).await;
    f.plans.sign(&kim, first.id, "").await.unwrap();
    f.plans.revise(&kim, first.id).await.unwrap();
    let second = f
        .plans
        .create(&kim, p, None, content(), Some(in_days(90)), "")
        .await
        .unwrap();
    let pid = p.to_string();
    let (all, _) = f
        .plans
        .list(
            &kim,
            ListPlans {
                patient_id: &pid,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|p| (p.id, p.version)).collect::<Vec<_>>(),
        [(first.id, 2), (second.id, 1)]
    );
    let (due, _) = f
        .plans
        .list(
            &kim,
            ListPlans {
                review_due_by: Some(in_days(45)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(due.iter().map(|p| p.id).collect::<Vec<_>>(), [first.id]);
    let other = staff("b", "spy");
    assert!(matches!(
        f.plans.get(&other, first.id, 0).await,
        Err(Error::NotFound { .. })
    ));
    let (theirs, _) = f.plans.list(&other, ListPlans::default()).await.unwrap();
    assert!(theirs.is_empty());
}
