//! Consent and contact use cases against a real database (SQLite, and PostgreSQL when
//! `IOP_TEST_DATABASE_URL` is set), and the disclosure decision on its own.

use chrono::Days;
use iop_core::{PatientId, Principal};
use iop_db::Db;
use iop_db::testing::TestDatabase;

use super::*;
use crate::test_support::{database, patient, staff};

struct Fixture {
    _tdb: TestDatabase,
    db: Db,
    consents: Consents,
    contacts: Contacts,
}

async fn fixture() -> Fixture {
    let (tdb, db) = database("consents").await;
    let store = ConsentStore::new(db.clone());
    Fixture {
        _tdb: tdb,
        consents: Consents::new(store.clone()),
        contacts: Contacts::new(store),
        db,
    }
}

fn day(offset: i64) -> NaiveDate {
    if offset >= 0 {
        today() + Days::new(offset as u64)
    } else {
        today() - Days::new(offset.unsigned_abs())
    }
}

fn to_clinic(patient: PatientId) -> NewConsent {
    NewConsent {
        patient_id: Some(patient),
        recipient_id: "npi:1234567893".into(),
        recipient_name: "Riverside Outpatient Clinic".into(),
        categories: vec![Category::Attendance, Category::DischargeSummary],
        purposes: vec![Purpose::CareCoordination],
        effective: Some(day(-10)),
        expires: Some(day(180)),
        signed: Some(day(-10)),
    }
}

fn mother() -> ContactFields {
    ContactFields {
        name: "Maria Lopez".into(),
        relationship: Some(Relationship::Parent),
        contact: crate::domain::Contact {
            phone: "+15035550100".into(),
            ..Default::default()
        },
        emergency_contact: true,
        involved: false,
        notes: String::new(),
    }
}

async fn check(
    f: &Fixture,
    who: &Principal,
    p: PatientId,
    to: &str,
    c: Category,
    date: Option<NaiveDate>,
) -> Decision {
    f.consents
        .check(who, p, to, Some(c), Some(Purpose::CareCoordination), date)
        .await
        .unwrap()
}

#[tokio::test]
async fn disclosure_follows_the_consents_in_force() {
    let f = fixture().await;
    let kim = staff("a", "dr-kim");
    let p = patient(&f.db, &kim).await;
    let consent = f.consents.create(&kim, to_clinic(p), "").await.unwrap();
    assert_eq!(consent.status(today()), ConsentStatus::Active);

    let yes = check(&f, &kim, p, "npi:1234567893", Category::Attendance, None).await;
    assert!(yes.permitted, "{yes:?}");
    assert_eq!(yes.consent_id, Some(consent.id));
    let notes = check(&f, &kim, p, "npi:1234567893", Category::ClinicalNotes, None).await;
    assert!(!notes.permitted);
    assert!(
        notes.reason.contains("covers clinical_notes"),
        "{}",
        notes.reason
    );
    let stranger = check(&f, &kim, p, "npi:999", Category::Attendance, None).await;
    assert_eq!(stranger.reason, "not permitted: no consent names npi:999");
    let later = check(
        &f,
        &kim,
        p,
        "npi:1234567893",
        Category::Attendance,
        Some(day(181)),
    )
    .await;
    assert!(later.reason.contains("expired"), "{}", later.reason);

    let revoked = f
        .consents
        .revoke(&kim, consent.id, "Patient withdrew consent by phone")
        .await
        .unwrap();
    assert_eq!(revoked.status(today()), ConsentStatus::Revoked);
    let after = check(&f, &kim, p, "npi:1234567893", Category::Attendance, None).await;
    assert!(!after.permitted);
    assert!(after.reason.contains("revoked"), "{}", after.reason);
    let before = check(
        &f,
        &kim,
        p,
        "npi:1234567893",
        Category::Attendance,
        Some(day(-1)),
    )
    .await;
    assert!(before.permitted, "yesterday's disclosure was covered");
    let err = f
        .consents
        .revoke(&kim, consent.id, "again")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::FailedPrecondition(_)), "{err:?}");

    // What the patient signed cannot be edited, even behind the service's back.
    let edited =
        sqlx::query("UPDATE consents SET categories = '[\"clinical_notes\"]' WHERE id = $1")
            .bind(consent.id.to_string())
            .execute(f.db.pool())
            .await;
    assert!(edited.is_err());

    // Other tenants see nothing.
    let spy = staff("b", "spy");
    assert!(matches!(
        f.consents.get(&spy, consent.id).await,
        Err(Error::NotFound { .. })
    ));
    let err = f
        .consents
        .check(
            &spy,
            p,
            "npi:1234567893",
            Some(Category::Attendance),
            Some(Purpose::CareCoordination),
            None,
        )
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
}

#[tokio::test]
async fn family_involvement_needs_a_consent_naming_the_contact() {
    let f = fixture().await;
    let kim = staff("a", "dr-kim");
    let p = patient(&f.db, &kim).await;
    let mom = f.contacts.create(&kim, p, mother(), "").await.unwrap();

    let involve = ContactFields {
        involved: true,
        ..mother()
    };
    let err = f
        .contacts
        .update(&kim, mom.id, involve.clone(), &[ContactPath::Involved], "")
        .await
        .unwrap_err();
    match err {
        Error::FailedPrecondition(why) => assert!(why.contains("no consent names it"), "{why}"),
        other => panic!("{other:?}"),
    }

    let consent = f
        .consents
        .create(
            &kim,
            NewConsent {
                recipient_id: mom.id.to_string(),
                recipient_name: "Maria Lopez (mother)".into(),
                categories: vec![Category::Attendance, Category::TreatmentPlans],
                purposes: vec![Purpose::FamilyInvolvement],
                ..to_clinic(p)
            },
            "",
        )
        .await
        .unwrap();
    let mom = f
        .contacts
        .update(&kim, mom.id, involve, &[ContactPath::Involved], &mom.etag())
        .await
        .unwrap();
    assert_eq!(mom.involvement_consent, Some(consent.id));
    let pid = p.to_string();
    let (involved, _) = f.contacts.list(&kim, &pid, true, 0, "").await.unwrap();
    assert_eq!(involved.len(), 1);

    // Revoking the consent ends the involvement.
    f.consents.revoke(&kim, consent.id, "").await.unwrap();
    let mom = f.contacts.get(&kim, mom.id).await.unwrap();
    assert_eq!(mom.involvement_consent, None);
    let (involved, _) = f.contacts.list(&kim, &pid, true, 0, "").await.unwrap();
    assert!(involved.is_empty());
    let (all, _) = f.contacts.list(&kim, &pid, false, 0, "").await.unwrap();
    assert_eq!(all.len(), 1);
}

#[tokio::test]
async fn bad_consents_and_contacts_name_the_field() {
    let f = fixture().await;
    let kim = staff("a", "dr-kim");
    let p = patient(&f.db, &kim).await;
    let fields = |e: Error| match e {
        Error::InvalidFields(v) => v.into_iter().map(|v| v.field).collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    let err = f
        .consents
        .create(
            &kim,
            NewConsent {
                expires: None,
                categories: vec![Category::Attendance, Category::Attendance],
                purposes: vec![],
                ..to_clinic(p)
            },
            "",
        )
        .await
        .unwrap_err();
    assert_eq!(
        fields(err),
        [
            "consent.categories[1]",
            "consent.purposes",
            "consent.expiration_date"
        ]
    );
    let err = f
        .contacts
        .create(
            &kim,
            p,
            ContactFields {
                relationship: None,
                contact: Default::default(),
                ..mother()
            },
            "",
        )
        .await
        .unwrap_err();
    assert_eq!(fields(err), ["contact.relationship", "contact.contact"]);
    let err = f
        .contacts
        .create(
            &kim,
            p,
            ContactFields {
                involved: true,
                ..mother()
            },
            "",
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::FailedPrecondition(_)), "{err:?}");
}

#[test]
fn a_consent_is_in_force_between_its_dates_until_revoked() {
    let base = Consent {
        id: ConsentId::new(),
        patient_id: PatientId::new(),
        recipient_id: "r".into(),
        recipient_name: "R".into(),
        categories: vec![Category::Assessments],
        purposes: vec![Purpose::Treatment],
        effective: NaiveDate::from_ymd_opt(2026, 1, 10).unwrap(),
        expires: NaiveDate::from_ymd_opt(2026, 6, 30).unwrap(),
        signed: NaiveDate::from_ymd_opt(2026, 1, 9).unwrap(),
        recorded_by: "k".into(),
        create_time_us: 0,
        revocation: None,
    };
    let d = |m, d| NaiveDate::from_ymd_opt(2026, m, d).unwrap();
    assert!(!base.in_force(d(1, 9)));
    assert!(base.in_force(d(1, 10)));
    assert!(base.in_force(d(6, 30)), "through the expiration date");
    assert!(!base.in_force(d(7, 1)));
    let revoked = Consent {
        revocation: Some(Revocation {
            by: "k".into(),
            // 2026-03-01T12:00:00Z
            time_us: 1_772_366_400_000_000,
            reason: String::new(),
        }),
        ..base.clone()
    };
    assert!(revoked.in_force(d(2, 28)));
    assert!(!revoked.in_force(d(3, 1)), "from the day of revocation");
    let too_early = decide(
        std::slice::from_ref(&base),
        "r",
        Category::Assessments,
        Purpose::Treatment,
        d(1, 1),
    );
    assert!(
        too_early.reason.contains("in force only from 2026-01-10"),
        "{}",
        too_early.reason
    );
    let wrong = decide(&[base], "r", Category::Assessments, Purpose::Legal, d(2, 1));
    assert_eq!(
        wrong.reason,
        "not permitted: no consent for r covers assessments for legal"
    );
}

#[tokio::test]
async fn concurrent_adds_never_pass_the_contact_cap() {
    let f = fixture().await;
    let kim = staff("a", "dr-kim");
    let p = patient(&f.db, &kim).await;
    for _ in 0..MAX_CONTACTS - 2 {
        f.contacts.create(&kim, p, mother(), "").await.unwrap();
    }
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (contacts, kim) = (f.contacts.clone(), kim.clone());
        tasks.push(tokio::spawn(async move {
            contacts.create(&kim, p, mother(), "").await
        }));
    }
    let mut added = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => added += 1,
            Err(Error::FailedPrecondition(why)) => assert!(why.contains("the most"), "{why}"),
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(added, 2);
    let pid = p.to_string();
    let (all, _) = f.contacts.list(&kim, &pid, false, 200, "").await.unwrap();
    assert_eq!(all.len(), MAX_CONTACTS);
}
