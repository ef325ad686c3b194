//! Episode use cases against a real database: SQLite, and PostgreSQL when
//! `IOP_TEST_DATABASE_URL` is set.

use std::sync::Arc;

use chrono::{Days, NaiveDate};
use iop_core::{PatientId, Principal};
use iop_db::Db;
use iop_db::testing::TestDatabase;

use super::*;
use crate::test_support::{database, patient, staff};

struct Fixture {
    _tdb: TestDatabase,
    db: Db,
    episodes: Episodes,
}

async fn fixture() -> Fixture {
    let (tdb, db) = database("episodes").await;
    Fixture {
        _tdb: tdb,
        episodes: Episodes::new(EpisodeStore::new(db.clone())),
        db,
    }
}

impl Fixture {
    async fn patient(&self, who: &Principal) -> PatientId {
        patient(&self.db, who).await
    }
}

fn days_ago(n: u64) -> NaiveDate {
    today().checked_sub_days(Days::new(n)).unwrap()
}

fn referral(patient: PatientId) -> NewEpisode {
    NewEpisode {
        patient_id: Some(patient),
        program: "Adolescent mental-health IOP".into(),
        population: Some(Population::Adolescent),
        referral_date: Some(days_ago(30)),
        authorized_level: Some(Level::IntensiveOutpatient),
        ..Default::default()
    }
}

fn aftercare() -> Aftercare {
    Aftercare {
        step_down_level: Some(Level::Outpatient),
        support_groups: vec!["Teen SMART Recovery, Thursdays".into()],
        follow_ups: vec![FollowUp {
            time_us: now_micros() + 7 * 86_400_000_000,
            with: "Dr. Patel, Riverside Outpatient".into(),
            purpose: "medication review".into(),
        }],
        contacts: vec![SupportContact {
            name: "988 Suicide & Crisis Lifeline".into(),
            role: "crisis line".into(),
            phone: "988".into(),
        }],
        notes: String::new(),
    }
}

fn fields(e: Error) -> Vec<String> {
    match e {
        Error::InvalidFields(v) | Error::Unprocessable(v) | Error::Unmet(v) => {
            v.into_iter().map(|v| v.field).collect()
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn an_episode_runs_from_referral_to_discharge_and_readmission_opens_another() {
    let f = fixture().await;
    let who = staff("a", "dr-kim");
    let p = f.patient(&who).await;

    let e = f.episodes.create(&who, referral(p), "").await.unwrap();
    assert_eq!(e.status, Status::Referred);
    assert_eq!(
        e.current(LevelKind::Authorized),
        Some(Level::IntensiveOutpatient)
    );
    assert_eq!(e.current(LevelKind::Delivered), None);

    let admission = Admission {
        admit_date: Some(days_ago(25)),
        team: CareTeam {
            primary_clinician: "dr-kim".into(),
            program_director: "dr-lee".into(),
        },
    };
    let e = f
        .episodes
        .admit(&who, e.id, admission, &e.etag())
        .await
        .unwrap();
    assert_eq!(
        (e.status, e.admit_date, e.version),
        (Status::Admitted, Some(days_ago(25)), 2)
    );

    // The payer steps authorization up, then the program delivers PHP; both histories stay.
    for (kind, level, day) in [
        (LevelKind::Delivered, Level::IntensiveOutpatient, 25),
        (LevelKind::Authorized, Level::PartialHospitalization, 10),
        (LevelKind::Delivered, Level::PartialHospitalization, 9),
    ] {
        let new = NewLevel {
            kind: Some(kind),
            level: Some(level),
            effective_date: Some(days_ago(day)),
            reason: "worsening symptoms".into(),
        };
        f.episodes.change_level(&who, e.id, new, "").await.unwrap();
    }
    let e = f.episodes.get(&who, e.id).await.unwrap();
    assert_eq!(e.levels.len(), 4, "{:?}", e.levels);
    assert_eq!(e.levels[0].level, Level::IntensiveOutpatient);
    assert_eq!(
        e.current(LevelKind::Authorized),
        Some(Level::PartialHospitalization)
    );
    assert_eq!(
        e.current(LevelKind::Delivered),
        Some(Level::PartialHospitalization)
    );

    let plan = aftercare();
    let discharge = NewDischarge {
        date: Some(days_ago(1)),
        reason: Some(DischargeReason::SteppedDown),
        note: "Met goals; stepping down to weekly outpatient.".into(),
        aftercare: Some(plan.clone()),
    };
    let closed = f
        .episodes
        .discharge(&who, e.id, discharge, &e.etag())
        .await
        .unwrap();
    assert_eq!(closed.status, Status::Discharged);
    assert_eq!(closed.discharge.as_ref().unwrap().aftercare, plan);
    assert_eq!(f.episodes.get(&who, e.id).await.unwrap(), closed);

    // Closed means closed, for every kind of change.
    let again = NewLevel {
        kind: Some(LevelKind::Delivered),
        level: Some(Level::Outpatient),
        effective_date: None,
        reason: String::new(),
    };
    let err = f
        .episodes
        .change_level(&who, e.id, again, "")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::FailedPrecondition(_)), "{err:?}");
    let patch = EpisodePatch {
        program: "Renamed".into(),
        ..Default::default()
    };
    let err = f
        .episodes
        .update(&who, e.id, patch, &[EpisodePath::Program], "")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::FailedPrecondition(_)), "{err:?}");

    // Readmission is a new episode; the record keeps both.
    let mut readmit = referral(p);
    readmit.referral_date = Some(today());
    readmit.admit_date = Some(today());
    let second = f.episodes.create(&who, readmit, "").await.unwrap();
    assert_eq!(second.status, Status::Admitted);
    let pid = p.to_string();
    let list = ListEpisodes {
        patient_id: &pid,
        ..Default::default()
    };
    let (both, _) = f.episodes.list(&who, list).await.unwrap();
    assert_eq!(
        both.iter().map(|e| e.id).collect::<Vec<_>>(),
        [e.id, second.id]
    );
    assert_eq!(both[0].levels.len(), 4, "histories come with lists too");
}

#[tokio::test]
async fn a_patient_has_at_most_one_open_episode_even_under_races() {
    let f = fixture().await;
    let who = staff("a", "dr-kim");
    let p = f.patient(&who).await;
    let episodes = Arc::new(f.episodes.clone());
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (episodes, who) = (episodes.clone(), who.clone());
        tasks.push(tokio::spawn(async move {
            episodes.create(&who, referral(p), "").await
        }));
    }
    let mut opened = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => opened += 1,
            Err(Error::FailedPrecondition(why)) => {
                assert!(why.contains("already has an open episode"), "{why}")
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(opened, 1);
}

#[tokio::test]
async fn dates_and_reasons_are_checked_with_the_field_named() {
    let f = fixture().await;
    let who = staff("a", "dr-kim");
    let p = f.patient(&who).await;

    let mut bad = referral(p);
    bad.program = " ".into();
    bad.population = None;
    bad.admit_date = Some(days_ago(40));
    let err = f.episodes.create(&who, bad, "").await.unwrap_err();
    assert_eq!(
        fields(err),
        [
            "episode.program",
            "episode.population",
            "episode.admit_date"
        ]
    );
    let mut future = referral(p);
    future.referral_date = Some(today() + Days::new(3));
    let err = f.episodes.create(&who, future, "").await.unwrap_err();
    assert_eq!(fields(err), ["episode.referral_date"]);

    let e = f.episodes.create(&who, referral(p), "").await.unwrap();
    // Not admitted: clinical discharge reasons are refused, never_admitted is fine.
    let completed = NewDischarge {
        date: Some(days_ago(1)),
        reason: Some(DischargeReason::Completed),
        note: String::new(),
        aftercare: Some(aftercare()),
    };
    let err = f
        .episodes
        .discharge(&who, e.id, completed, "")
        .await
        .unwrap_err();
    assert_eq!(fields(err), ["reason"]);

    let admission = Admission {
        admit_date: Some(days_ago(20)),
        team: CareTeam::default(),
    };
    let e = f
        .episodes
        .admit(&who, e.id, admission.clone(), "")
        .await
        .unwrap();
    let err = f
        .episodes
        .admit(&who, e.id, admission, "")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::FailedPrecondition(_)), "{err:?}");

    let mut plan = aftercare();
    plan.step_down_level = None;
    plan.contacts[0].phone = "call me".into();
    let early = NewDischarge {
        date: Some(days_ago(21)),
        reason: Some(DischargeReason::SteppedDown),
        note: String::new(),
        aftercare: Some(plan),
    };
    let err = f
        .episodes
        .discharge(&who, e.id, early.clone(), "")
        .await
        .unwrap_err();
    // The request's own faults first (400); then what conflicts with the stored episode (409).
    assert!(matches!(err, Error::InvalidFields(_)), "{err:?}");
    assert_eq!(
        fields(err),
        ["aftercare.step_down_level", "aftercare.contacts[0].phone"]
    );
    let early = NewDischarge {
        aftercare: Some(aftercare()),
        ..early
    };
    let err = f
        .episodes
        .discharge(&who, e.id, early, "")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unmet(_)), "{err:?}");
    assert_eq!(fields(err), ["discharge_date",]);
    let no_plan = NewDischarge {
        date: Some(days_ago(1)),
        reason: Some(DischargeReason::Completed),
        note: String::new(),
        aftercare: None,
    };
    let err = f
        .episodes
        .discharge(&who, e.id, no_plan, "")
        .await
        .unwrap_err();
    assert_eq!(fields(err), ["aftercare"]);
    // Leaving against advice needs no plan.
    let ama = NewDischarge {
        date: Some(days_ago(1)),
        reason: Some(DischargeReason::LeftAgainstAdvice),
        note: "Stopped attending; outreach attempted twice.".into(),
        aftercare: None,
    };
    let closed = f.episodes.discharge(&who, e.id, ama, "").await.unwrap();
    assert_eq!(closed.status, Status::Discharged);
}

#[tokio::test]
async fn stale_etags_are_refused_and_other_tenants_see_nothing() {
    let f = fixture().await;
    let who = staff("a", "dr-kim");
    let p = f.patient(&who).await;
    let e = f.episodes.create(&who, referral(p), "").await.unwrap();
    let patch = EpisodePatch {
        team: CareTeam {
            primary_clinician: "dr-new".into(),
            program_director: String::new(),
        },
        ..Default::default()
    };
    let changed = f
        .episodes
        .update(
            &who,
            e.id,
            patch.clone(),
            &[EpisodePath::PrimaryClinician],
            &e.etag(),
        )
        .await
        .unwrap();
    assert_eq!(changed.team.primary_clinician, "dr-new");
    let err = f
        .episodes
        .update(
            &who,
            e.id,
            patch,
            &[EpisodePath::PrimaryClinician],
            &e.etag(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");

    let other = staff("b", "spy");
    assert!(matches!(
        f.episodes.get(&other, e.id).await,
        Err(Error::NotFound { .. })
    ));
    let err = f
        .episodes
        .create(&other, referral(p), "")
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
    let (theirs, _) = f
        .episodes
        .list(&other, ListEpisodes::default())
        .await
        .unwrap();
    assert!(theirs.is_empty());
}

#[tokio::test]
async fn lists_filter_by_status_clinician_and_admission_dates() {
    let f = fixture().await;
    let who = staff("a", "dr-kim");
    let mut ids = Vec::new();
    for day in [20, 10, 5] {
        let p = f.patient(&who).await;
        let mut new = referral(p);
        new.admit_date = Some(days_ago(day));
        new.team.primary_clinician = if day == 10 { "dr-lee" } else { "dr-kim" }.into();
        ids.push(f.episodes.create(&who, new, "").await.unwrap().id);
    }
    let referred = f.patient(&who).await;
    f.episodes
        .create(&who, referral(referred), "")
        .await
        .unwrap();

    let (admitted, _) = f
        .episodes
        .list(
            &who,
            ListEpisodes {
                status: Some(Status::Admitted),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(admitted.len(), 3);
    let (mine, _) = f
        .episodes
        .list(
            &who,
            ListEpisodes {
                clinician: "dr-kim",
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        mine.iter().map(|e| e.id).collect::<Vec<_>>(),
        [ids[0], ids[2]]
    );
    let (recent, _) = f
        .episodes
        .list(
            &who,
            ListEpisodes {
                admitted_from: Some(days_ago(12)),
                admitted_to: Some(days_ago(5)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        recent.iter().map(|e| e.id).collect::<Vec<_>>(),
        [ids[1], ids[2]]
    );
    let (first, next) = f
        .episodes
        .list(
            &who,
            ListEpisodes {
                page_size: 3,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(first.len(), 3);
    let token = next.unwrap();
    let (rest, next) = f
        .episodes
        .list(
            &who,
            ListEpisodes {
                page_size: 3,
                page_token: &token,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((rest.len(), next), (1, None));
}

#[tokio::test]
async fn a_retried_create_returns_the_first_episode() {
    let f = fixture().await;
    let who = staff("a", "dr-kim");
    let p = f.patient(&who).await;
    let first = f
        .episodes
        .create(&who, referral(p), "ref-42")
        .await
        .unwrap();
    let again = f
        .episodes
        .create(&who, referral(p), "ref-42")
        .await
        .unwrap();
    assert_eq!(first, again);
    let mut other = referral(p);
    other.program = "Adult substance-use IOP".into();
    let err = f.episodes.create(&who, other, "ref-42").await.unwrap_err();
    assert_eq!(fields(err), ["request_id"]);
}

#[tokio::test]
async fn a_direct_admission_needs_no_referral_date() {
    let f = fixture().await;
    let who = staff("a", "dr-kim");
    let p = f.patient(&who).await;
    let new = NewEpisode {
        referral_date: None,
        admit_date: Some(days_ago(7)),
        ..referral(p)
    };
    let e = f.episodes.create(&who, new, "").await.unwrap();
    assert_eq!(
        (e.status, e.referral_date, e.admit_date),
        (Status::Admitted, days_ago(7), Some(days_ago(7)))
    );
}
