//! Referral use cases against a real database (SQLite, and PostgreSQL when
//! `IOP_TEST_DATABASE_URL` is set).

use iop_core::Principal;
use iop_db::Db;
use iop_db::testing::TestDatabase;

use super::*;
use crate::episodes::EpisodeStore;
use crate::patients::store::Store;
use crate::test_support::{database, staff};

struct Fixture {
    _tdb: TestDatabase,
    _db: Db,
    referrals: Referrals,
    episodes: Episodes,
    patients: Patients,
}

async fn fixture() -> Fixture {
    let (tdb, db) = database("referrals").await;
    let patients = Patients::new(Store::new(db.clone()));
    let episodes = Episodes::new(EpisodeStore::new(db.clone()));
    Fixture {
        _tdb: tdb,
        referrals: Referrals::new(
            ReferralStore::new(db.clone()),
            patients.clone(),
            episodes.clone(),
        ),
        episodes,
        patients,
        _db: db,
    }
}

fn partner(client: &str) -> Principal {
    let mut p = staff("a", client);
    p.roles.clear();
    p.client_id = Some(client.into());
    p
}

fn details() -> Details {
    Details {
        contact: "Dr. Chen, (503) 555-0199".into(),
        patient: ReferredPatient {
            given_name: "Jordan".into(),
            family_name: "Reyes".into(),
            birth_date: NaiveDate::from_ymd_opt(1994, 8, 2),
            sex_at_birth: Sex::Male,
            phone: "+15035550142".into(),
            ..Default::default()
        },
        reason: "Opioid use disorder; stepping down from residential".into(),
        requested_program: "Adult substance-use IOP".into(),
    }
}

async fn sent(f: &Fixture, from: &Principal) -> Referral {
    f.referrals
        .create(
            from,
            "Cascade Recovery Center".into(),
            Some(Urgency::Urgent),
            details(),
            "",
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn a_referral_closes_the_loop_from_partner_to_admission() {
    let f = fixture().await;
    let cascade = partner("cascade");
    let kim = staff("a", "dr-kim");
    let r = sent(&f, &cascade).await;
    assert_eq!(
        (r.status, r.source_client.as_deref()),
        (ReferralStatus::Received, Some("cascade"))
    );

    f.referrals
        .review(&kim, r.id, "Clinically appropriate", "")
        .await
        .unwrap();
    let acceptance = Acceptance {
        open_episode: true,
        population: Some(Population::Adult),
        ..Default::default()
    };
    let accepted = f
        .referrals
        .accept(&kim, r.id, acceptance, "")
        .await
        .unwrap();
    let patient = accepted.patient_id.expect("patient created");
    let episode = accepted.episode_id.expect("episode opened");
    let p = f.patients.get(&kim, patient).await.unwrap();
    assert_eq!(
        (p.fields.given_name.as_str(), p.fields.family_name.as_str()),
        ("Jordan", "Reyes")
    );
    let e = f.episodes.get(&kim, episode).await.unwrap();
    assert_eq!(
        (e.status, e.program.as_str()),
        (EpisodeStatus::Referred, "Adult substance-use IOP")
    );

    let scheduled = f
        .referrals
        .schedule_intake(&kim, r.id, Some(now_micros() + 86_400_000_000), "", "")
        .await
        .unwrap();
    // Called off: accepted again, the time cleared; twice is harmless. Then rescheduled.
    let called_off = f
        .referrals
        .cancel_intake(&kim, r.id, "patient ill", &scheduled.etag())
        .await
        .unwrap();
    assert_eq!(
        (called_off.status, called_off.intake_time_us),
        (ReferralStatus::Accepted, None)
    );
    assert_eq!(
        f.referrals.cancel_intake(&kim, r.id, "", "").await.unwrap(),
        called_off
    );
    f.referrals
        .schedule_intake(&kim, r.id, Some(now_micros() + 86_400_000_000), "", "")
        .await
        .unwrap();
    let today = chrono::Utc::now().date_naive();
    let admitted = f
        .referrals
        .mark_admitted(&kim, r.id, Some(today), "", "")
        .await
        .unwrap();
    assert_eq!(admitted.status, ReferralStatus::Admitted);
    assert_eq!(
        f.episodes.get(&kim, episode).await.unwrap().status,
        EpisodeStatus::Admitted
    );

    // The partner sees the status, not the clinic's ids, names or notes.
    let theirs = f.referrals.get(&cascade, r.id).await.unwrap();
    assert_eq!(theirs.status, ReferralStatus::Admitted);
    assert_eq!((theirs.patient_id, theirs.episode_id), (None, None));
    let statuses: Vec<_> = theirs.history.iter().map(|h| h.status).collect();
    assert_eq!(
        statuses,
        [
            ReferralStatus::Received,
            ReferralStatus::InReview,
            ReferralStatus::Accepted,
            ReferralStatus::IntakeScheduled,
            ReferralStatus::Accepted,
            ReferralStatus::IntakeScheduled,
            ReferralStatus::Admitted
        ]
    );
    assert!(
        theirs
            .history
            .iter()
            .all(|h| h.by.is_empty() && h.note.is_empty())
    );
    let ours = f.referrals.get(&kim, r.id).await.unwrap();
    assert_eq!(ours.history[1].note, "Clinically appropriate");
}

#[tokio::test]
async fn a_partner_sees_only_its_own_referrals_and_changes_none() {
    let f = fixture().await;
    let cascade = partner("cascade");
    let other = partner("valley-er");
    let kim = staff("a", "dr-kim");
    let mine = sent(&f, &cascade).await;
    let theirs = sent(&f, &other).await;
    assert!(matches!(
        f.referrals.get(&cascade, theirs.id).await,
        Err(Error::NotFound { .. })
    ));
    let (listed, _) = f
        .referrals
        .list(&cascade, ListReferrals::default())
        .await
        .unwrap();
    assert_eq!(listed.iter().map(|r| r.id).collect::<Vec<_>>(), [mine.id]);
    let (all, _) = f
        .referrals
        .list(&kim, ListReferrals::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    let err = f
        .referrals
        .review(&cascade, mine.id, "", "")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    let err = f
        .referrals
        .decline(&cascade, mine.id, "no", "")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
}

#[tokio::test]
async fn steps_out_of_order_are_refused_and_declines_need_a_reason() {
    let f = fixture().await;
    let kim = staff("a", "dr-kim");
    let r = sent(&f, &partner("cascade")).await;
    let err = f
        .referrals
        .mark_admitted(&kim, r.id, Some(chrono::Utc::now().date_naive()), "", "")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::FailedPrecondition(_)), "{err:?}");
    let err = f
        .referrals
        .schedule_intake(&kim, r.id, Some(1), "", "")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::FailedPrecondition(_)), "{err:?}");
    let err = f.referrals.decline(&kim, r.id, " ", "").await.unwrap_err();
    assert!(matches!(err, Error::InvalidFields(_)), "{err:?}");
    let declined = f
        .referrals
        .decline(&kim, r.id, "Needs a higher level of care (residential)", "")
        .await
        .unwrap();
    assert_eq!(
        declined.decline_reason,
        "Needs a higher level of care (residential)"
    );
    let err = f.referrals.review(&kim, r.id, "", "").await.unwrap_err();
    match err {
        Error::FailedPrecondition(why) => assert!(why.contains("is declined"), "{why}"),
        other => panic!("{other:?}"),
    }
    // The partner sees the decline reason.
    let theirs = f.referrals.get(&partner("cascade"), r.id).await.unwrap();
    assert_eq!(
        theirs.history.last().unwrap().note,
        "Needs a higher level of care (residential)"
    );
    // Stale etag.
    let r2 = sent(&f, &partner("cascade")).await;
    let err = f.referrals.review(&kim, r2.id, "", "7").await.unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
}

#[tokio::test]
async fn bad_referrals_name_the_field() {
    let f = fixture().await;
    let mut d = details();
    d.patient.birth_date = None;
    d.patient.phone = "call".into();
    d.reason = String::new();
    let err = f
        .referrals
        .create(&partner("cascade"), " ".into(), None, d, "")
        .await
        .unwrap_err();
    match err {
        Error::InvalidFields(v) | Error::Unprocessable(v) => assert_eq!(
            v.into_iter().map(|v| v.field).collect::<Vec<_>>(),
            [
                "referral.referring_organization",
                "referral.urgency",
                "referral.patient.birth_date",
                "referral.patient.phone",
                "referral.reason"
            ]
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn details_that_could_not_make_a_patient_are_refused_up_front() {
    let f = fixture().await;
    let mut d = details();
    d.patient.identifiers = vec![Identifier {
        system: String::new(),
        value: "123".into(),
    }];
    d.patient.birth_date = NaiveDate::from_ymd_opt(2999, 1, 1);
    let err = f
        .referrals
        .create(
            &partner("cascade"),
            "Cascade".into(),
            Some(Urgency::Routine),
            d,
            "",
        )
        .await
        .unwrap_err();
    match err {
        Error::InvalidFields(v) | Error::Unprocessable(v) => assert_eq!(
            v.into_iter().map(|v| v.field).collect::<Vec<_>>(),
            [
                "referral.patient.birth_date",
                "referral.patient.identifiers[0].system"
            ]
        ),
        other => panic!("{other:?}"),
    }
}
