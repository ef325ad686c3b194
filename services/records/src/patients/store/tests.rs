//! Store tests; they run against SQLite, and against PostgreSQL when
//! `IOP_TEST_DATABASE_URL` is set (see `iop_db::testing`).

use std::sync::Arc;

use chrono::NaiveDate;
use iop_db::testing::TestDatabase;

use super::*;
use crate::domain::{Identifier, Sex};
use iop_kit::idempotency::Claim;

async fn store() -> (TestDatabase, Store) {
    let tdb = TestDatabase::create("records").await;
    let db = Db::connect(tdb.url(), &crate::MIGRATIONS, &Default::default())
        .await
        .unwrap();
    (tdb, Store::new(db))
}

fn tenant(s: &str) -> TenantId {
    TenantId::parse(s).unwrap()
}

fn patient(given: &str, family: &str) -> Patient {
    Patient {
        id: PatientId::new(),
        fields: PatientFields {
            given_name: given.into(),
            family_name: family.into(),
            birth_date: NaiveDate::from_ymd_opt(1985, 6, 1),
            sex_at_birth: Sex::Male,
            ..Default::default()
        },
        version: 1,
        create_time_us: 1,
        update_time_us: 1,
    }
}

#[tokio::test]
async fn insert_then_get_round_trips_and_other_tenant_sees_nothing() {
    let (_tdb, s) = store().await;
    let mut p = patient("Jo", "Doe");
    p.fields.mrn = Some("MRN-1".into());
    p.fields.contact.email = "jo@example.org".into();
    p.fields.identifiers = vec![Identifier {
        system: "urn:ehr".into(),
        value: "42".into(),
    }];
    s.insert(&tenant("a"), &p, None).await.unwrap();
    assert_eq!(s.get(&tenant("a"), p.id).await.unwrap(), Some(p.clone()));
    assert_eq!(s.get(&tenant("b"), p.id).await.unwrap(), None);
}

#[tokio::test]
async fn list_pages_in_creation_order_and_filters() {
    let (_tdb, s) = store().await;
    let t = tenant("a");
    let mut ids = Vec::new();
    for (i, name) in ["Smith", "Smithers", "Jones", "Blacksmith", "Ng"]
        .iter()
        .enumerate()
    {
        let mut p = patient("Pat", name);
        p.fields.mrn = Some(format!("M{i}"));
        p.fields.identifiers = vec![Identifier {
            system: "ehr".into(),
            value: format!("e{i}"),
        }];
        s.insert(&t, &p, None).await.unwrap();
        ids.push(p.id);
    }
    s.insert(&tenant("b"), &patient("Pat", "Smith"), None)
        .await
        .unwrap();

    let first = s.list(&t, &ListQuery::default(), None, 2).await.unwrap();
    assert_eq!(first.iter().map(|p| p.id).collect::<Vec<_>>(), ids[..2]);
    let after = first[1].id.to_string();
    let rest = s
        .list(&t, &ListQuery::default(), Some(&after), 10)
        .await
        .unwrap();
    assert_eq!(rest.iter().map(|p| p.id).collect::<Vec<_>>(), ids[2..]);

    let by_name = ListQuery {
        name_pattern: Some(crate::domain::name_pattern("SMITH")),
        identifier: None,
    };
    let found = s.list(&t, &by_name, None, 10).await.unwrap();
    assert_eq!(
        found.len(),
        3,
        "Smith, Smithers, Blacksmith of tenant a only"
    );

    let by_mrn = ListQuery {
        name_pattern: None,
        identifier: Some(IdentifierFilter::Mrn("M2".into())),
    };
    assert_eq!(s.list(&t, &by_mrn, None, 10).await.unwrap()[0].id, ids[2]);
    let by_ehr = ListQuery {
        name_pattern: None,
        identifier: Some(IdentifierFilter::System {
            system: "ehr".into(),
            value: "e4".into(),
        }),
    };
    let found = s.list(&t, &by_ehr, None, 10).await.unwrap();
    assert_eq!(found.iter().map(|p| p.id).collect::<Vec<_>>(), vec![ids[4]]);
}

#[tokio::test]
async fn duplicate_mrn_or_identifier_is_refused_without_half_writes() {
    let (_tdb, s) = store().await;
    let t = tenant("a");
    let mut first = patient("A", "One");
    first.fields.mrn = Some("MRN-1".into());
    first.fields.identifiers = vec![Identifier {
        system: "ehr".into(),
        value: "1".into(),
    }];
    s.insert(&t, &first, None).await.unwrap();

    let mut same_mrn = patient("B", "Two");
    same_mrn.fields.mrn = Some("MRN-1".into());
    assert!(
        matches!(s.insert(&t, &same_mrn, None).await, Err(Error::AlreadyExists(m)) if m.starts_with("mrn"))
    );

    let mut same_ehr_id = patient("C", "Three");
    same_ehr_id.fields.identifiers = vec![Identifier {
        system: "ehr".into(),
        value: "1".into(),
    }];
    assert!(
        matches!(s.insert(&t, &same_ehr_id, None).await, Err(Error::AlreadyExists(m)) if m.starts_with("identifiers"))
    );
    assert_eq!(
        s.get(&t, same_ehr_id.id).await.unwrap(),
        None,
        "the patient row was rolled back"
    );

    // Another clinic may use the same numbers.
    s.insert(&tenant("b"), &same_mrn, None).await.unwrap();
}

#[tokio::test]
async fn stale_update_is_refused() {
    let (_tdb, s) = store().await;
    let t = tenant("a");
    let p = patient("A", "One");
    s.insert(&t, &p, None).await.unwrap();
    let mut v2 = p.clone();
    v2.version = 2;
    v2.fields.preferred_name = "Al".into();
    assert!(s.update(&t, &v2, 1).await.unwrap());
    let mut stale = p.clone();
    stale.version = 2;
    stale.fields.preferred_name = "Ally".into();
    assert!(!s.update(&t, &stale, 1).await.unwrap());
    assert_eq!(
        s.get(&t, p.id)
            .await
            .unwrap()
            .unwrap()
            .fields
            .preferred_name,
        "Al"
    );
    assert!(
        !s.update(&tenant("b"), &v2, 2).await.unwrap(),
        "other tenant cannot write"
    );
}

#[tokio::test]
async fn concurrent_updates_of_one_version_have_exactly_one_winner() {
    let (_tdb, s) = store().await;
    let t = tenant("a");
    let p = patient("A", "One");
    s.insert(&t, &p, None).await.unwrap();
    let s = Arc::new(s);
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (s, t, mut next) = (s.clone(), t.clone(), p.clone());
        tasks.push(tokio::spawn(async move {
            next.version = 2;
            next.fields.preferred_name = format!("writer {i}");
            s.update(&t, &next, 1).await.unwrap()
        }));
    }
    let mut winners = 0;
    for task in tasks {
        winners += usize::from(task.await.unwrap());
    }
    assert_eq!(winners, 1);
    assert_eq!(s.get(&t, p.id).await.unwrap().unwrap().version, 2);
}

#[tokio::test]
async fn name_search_treats_wildcards_literally() {
    let (_tdb, s) = store().await;
    let t = tenant("a");
    let literal = patient("Sam", "Mc_Donald");
    s.insert(&t, &literal, None).await.unwrap();
    s.insert(&t, &patient("Sam", "McXDonald"), None)
        .await
        .unwrap();
    s.insert(&t, &patient("Sam", "100% Smith"), None)
        .await
        .unwrap();
    let query = |term: &str| ListQuery {
        name_pattern: Some(crate::domain::name_pattern(term)),
        identifier: None,
    };
    let found = s.list(&t, &query("c_d"), None, 10).await.unwrap();
    assert_eq!(
        found.iter().map(|p| p.id).collect::<Vec<_>>(),
        vec![literal.id]
    );
    assert_eq!(s.list(&t, &query("0%"), None, 10).await.unwrap().len(), 1);
    assert_eq!(s.list(&t, &query("%"), None, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn idempotency_key_returns_the_first_patient_and_refuses_reuse() {
    let (_tdb, s) = store().await;
    let t = tenant("a");
    let first = patient("A", "One");
    let req = Key {
        key: "k-1",
        fingerprint: 42,
    };
    assert_eq!(s.insert(&t, &first, Some(&req)).await.unwrap(), Claim::New);
    let retry = patient("A", "One");
    assert_eq!(
        s.insert(&t, &retry, Some(&req)).await.unwrap(),
        Claim::Earlier(first.id.to_string())
    );
    assert_eq!(
        s.get(&t, retry.id).await.unwrap(),
        None,
        "the retry wrote nothing"
    );
    let other = Key {
        key: "k-1",
        fingerprint: 7,
    };
    assert_eq!(
        s.insert(&t, &patient("B", "Two"), Some(&other))
            .await
            .unwrap(),
        Claim::Reused
    );
    // Keys are per tenant.
    assert_eq!(
        s.insert(&tenant("b"), &patient("A", "One"), Some(&req))
            .await
            .unwrap(),
        Claim::New
    );
}

#[tokio::test]
async fn concurrent_creates_with_one_key_make_one_patient() {
    let (_tdb, s) = store().await;
    let s = Arc::new(s);
    let t = tenant("a");
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let (s, t) = (s.clone(), t.clone());
        tasks.push(tokio::spawn(async move {
            let p = patient("A", "One");
            let req = Key {
                key: "same",
                fingerprint: 1,
            };
            match s.insert(&t, &p, Some(&req)).await.unwrap() {
                Claim::New => p.id,
                Claim::Earlier(id) => PatientId::parse("id", &id).unwrap(),
                Claim::Reused => panic!("same fingerprint"),
            }
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(
        s.list(&t, &ListQuery::default(), None, 50)
            .await
            .unwrap()
            .len(),
        1
    );
}
