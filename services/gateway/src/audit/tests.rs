//! The writer on the test backend (a SQLite file: the writer task with its own connection;
//! PostgreSQL: the pool task): every acknowledged event is stored once, in one unbroken chain.

use iop_core::{Principal, TenantId};
use iop_db::testing::TestDatabase;

use super::*;

fn event(patient: &str) -> AuditEvent {
    let who = Principal {
        tenant: TenantId::parse("clinic-a").unwrap(),
        subject: "dr-who".into(),
        client_id: None,
        issuer: "urn:iop:gateway".into(),
        roles: vec!["clinician".into()],
        scopes: vec![],
        request_id: "req-1".into(),
        source_addr: Some("127.0.0.1".into()),
    };
    let mut e = AuditEvent::new(
        &who,
        "patient.read",
        "Patient",
        Outcome::Success,
        tonic::Code::Ok,
    );
    e.patient_id = patient.to_owned();
    e.resource_id = patient.to_owned();
    e
}

async fn count(db: &Db, patient: &str) -> usize {
    let q = EventQuery {
        patient_id: Some(patient.to_owned()),
        ..EventQuery::default()
    };
    query(db, "clinic-a", &q, 1000).await.unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_records_are_each_stored_once_in_one_chain() {
    let test_db = TestDatabase::create("audit").await;
    let db = open(test_db.url()).await.unwrap();
    let log = AuditLog::start(db.clone());
    let tasks: Vec<_> = (0..40)
        .map(|t| {
            let log = log.clone();
            tokio::spawn(async move {
                for i in 0..10 {
                    // Single events and multi-event records (a list result) interleave.
                    let events = (0..1 + i % 3).map(|_| event(&format!("p{t}"))).collect();
                    log.record(events).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    // 10 records per task of 1, 2, 3, 1, 2, 3, 1, 2, 3, 1 events.
    assert_eq!(count(&db, "p7").await, 19);
    assert_eq!(
        verify(&db).await.unwrap(),
        Verification::Intact { events: 40 * 19 }
    );

    // A new writer (a restarted gateway) continues the same chain.
    drop(log);
    let log = AuditLog::start(db.clone());
    log.record(vec![event("after-restart")]).await.unwrap();
    assert_eq!(count(&db, "after-restart").await, 1);
    assert_eq!(
        verify(&db).await.unwrap(),
        Verification::Intact {
            events: 40 * 19 + 1
        }
    );
    drop(log);
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_takes_turns_with_other_writers_of_the_database() {
    let test_db = TestDatabase::create("audit").await;
    let db = open(test_db.url()).await.unwrap();
    let log = AuditLog::start(db.clone());
    // Another writer of the gateway's database (the token endpoint's jti table) holds a
    // transaction open; on SQLite the audit writer waits for it rather than failing.
    let turn = db.write_turn().await;
    let mut tx = db.pool().begin().await.unwrap();
    sqlx::query("INSERT INTO used_assertions (client_id, jti, expires_us) VALUES ('c', 'j', 0)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let pending = tokio::spawn({
        let log = log.clone();
        async move { log.record(vec![event("waiting")]).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    if db.backend() == iop_db::Backend::Sqlite {
        assert!(!pending.is_finished(), "the audit write must wait its turn");
    }
    tx.commit().await.unwrap();
    drop(turn);
    pending.await.unwrap().unwrap();
    assert_eq!(count(&db, "waiting").await, 1);
    drop(log);
    db.close().await;
}
