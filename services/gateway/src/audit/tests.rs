//! The writer on the test backend (a SQLite file: the writer task with its own connection;
//! PostgreSQL: the pool task): every acknowledged event is stored once, in one unbroken chain.

use iop_core::{Principal, TenantId};
use iop_db::testing::TestDatabase;

use super::*;

/// A trail's keys and checkpoint file, as a gateway's data directory holds them.
struct Keys {
    _dir: tempfile::TempDir,
    keys: Arc<AuditKeys>,
    checkpoints: PathBuf,
}

impl Keys {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let files = AuditFiles::in_data_dir(dir.path());
        Self {
            keys: Arc::new(AuditKeys::load_or_create(&files).unwrap()),
            checkpoints: files.checkpoints,
            _dir: dir,
        }
    }

    fn start(&self, db: &Db, settings: Settings) -> AuditLog {
        AuditLog::start(
            db.clone(),
            settings,
            self.keys.clone(),
            Some(self.checkpoints.clone()),
        )
    }

    /// The number of events, if the trail verifies.
    async fn verify(&self, db: &Db) -> Result<i64, (i64, String)> {
        match verify(db, &self.keys, &self.checkpoints).await.unwrap() {
            Verification::Intact { events, .. } => Ok(events),
            Verification::Broken { seq, reason } => Err((seq, reason)),
        }
    }
}

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
    let trail = Keys::new();
    let log = trail.start(&db, Settings::default());
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
    assert_eq!(trail.verify(&db).await, Ok(40 * 19));

    // A new writer (a restarted gateway) continues the same chain.
    drop(log);
    let log = trail.start(&db, Settings::default());
    log.record(vec![event("after-restart")]).await.unwrap();
    assert_eq!(count(&db, "after-restart").await, 1);
    assert_eq!(trail.verify(&db).await, Ok(40 * 19 + 1));
    drop(log);
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_takes_turns_with_other_writers_of_the_database() {
    let test_db = TestDatabase::create("audit").await;
    let db = open(test_db.url()).await.unwrap();
    let trail = Keys::new();
    let log = trail.start(&db, Settings::default());
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

async fn open_attempts(db: &Db) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_open_attempts")
        .fetch_one(db.pool())
        .await
        .unwrap()
}

async fn outcomes(db: &Db, patient: &str) -> Vec<String> {
    let q = EventQuery {
        patient_id: Some(patient.to_owned()),
        ..EventQuery::default()
    };
    query(db, "clinic-a", &q, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event.outcome.as_str().to_owned())
        .collect()
}

fn attempted(patient: &str) -> AuditEvent {
    AuditEvent {
        outcome: Outcome::Attempted,
        status: String::new(),
        action: "patient.update".into(),
        ..event(patient)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_stays_open_until_its_outcome_and_a_lost_one_is_closed_as_interrupted() {
    let test_db = TestDatabase::create("audit").await;
    let db = open(test_db.url()).await.unwrap();
    let trail = Keys::new();
    let deadline = || tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    let log = trail.start(&db, Settings::default());

    let attempt = log
        .attempt(vec![attempted("p1")], deadline())
        .await
        .unwrap();
    assert_eq!(open_attempts(&db).await, 1);
    log.conclude(attempt, vec![event("p1")], deadline()).await;
    assert_eq!(open_attempts(&db).await, 0);
    assert_eq!(outcomes(&db, "p1").await, ["attempted", "success"]);

    // The gateway dies between a change and its outcome (kill -9): the attempt stays open.
    let lost = log
        .attempt(vec![attempted("p2")], deadline())
        .await
        .unwrap();
    drop(lost);
    drop(log);
    assert_eq!(open_attempts(&db).await, 1);

    // The next gateway closes it once it is older than the grace period, exactly once.
    let quick = Settings {
        attempt_grace: std::time::Duration::from_millis(50),
        reconcile_every: std::time::Duration::from_millis(20),
        ..Settings::default()
    };
    let log = trail.start(&db, quick);
    for _ in 0..250 {
        if open_attempts(&db).await == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(open_attempts(&db).await, 0);
    assert_eq!(outcomes(&db, "p2").await, ["attempted", "interrupted"]);
    let q = EventQuery {
        patient_id: Some("p2".into()),
        ..EventQuery::default()
    };
    let closed = query(&db, "clinic-a", &q, 10).await.unwrap();
    assert_eq!(closed[1].event.status, "Unknown");
    assert_eq!(closed[1].event.action, "patient.update");
    assert_eq!(closed[1].event.request_id, closed[0].event.request_id);
    assert_eq!(trail.verify(&db).await, Ok(4));
    drop(log);
    db.close().await;
}

/// Another process holds the trail's write lock: writers wait without blocking a thread,
/// callers give up at their deadline (and their events are not written later as if the
/// access had happened), readiness says no; once the lock is gone, all is well again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_trail_fails_within_the_deadline_and_is_not_ready() {
    use sqlx::{Connection, Executor};
    let test_db = TestDatabase::create("audit").await;
    let db = open(test_db.url()).await.unwrap();
    let trail = Keys::new();
    let log = trail.start(&db, Settings::default());
    log.record(vec![event("before")]).await.unwrap();
    assert!(log.ready(std::time::Duration::from_secs(1)).await);

    let mut locker = sqlx::AnyConnection::connect(test_db.url()).await.unwrap();
    if test_db.is_postgres() {
        locker.execute("BEGIN").await.unwrap();
        locker
            .execute("LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE")
            .await
            .unwrap();
    } else {
        locker.execute("BEGIN IMMEDIATE").await.unwrap();
    }
    let started = std::time::Instant::now();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(300);
    let refused = log.record_by(vec![event("during")], deadline).await;
    assert!(refused.is_err());
    assert!(refused.unwrap_err().to_string().contains("audit trail"));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(!log.ready(std::time::Duration::from_millis(500)).await);

    locker.execute("ROLLBACK").await.unwrap();
    drop(locker);
    for _ in 0..100 {
        if log.ready(std::time::Duration::from_secs(1)).await {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(log.ready(std::time::Duration::from_secs(1)).await);
    log.record(vec![event("after")]).await.unwrap();
    assert_eq!(
        count(&db, "during").await,
        0,
        "the refused read left no event"
    );
    assert_eq!(count(&db, "after").await, 1);
    assert_eq!(trail.verify(&db).await, Ok(2));
    drop(log);
    db.close().await;
}

/// PostgreSQL: the gateway's database user loses its INSERT permission on the trail. Every
/// write is refused with the trail named, readiness says unavailable, and writes resume
/// once the permission is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trail_without_insert_permission_refuses_and_is_not_ready() {
    use sqlx::{Connection, Executor};
    let test_db = TestDatabase::create("audit").await;
    let Some((name, admin_url)) = test_db.postgres_admin() else {
        return;
    };
    const ROLE: &str = "iop_audit_writer_test";
    let mut admin = sqlx::PgConnection::connect(admin_url).await.unwrap();
    // Roles are per server and tests run in parallel: another test may have made it.
    let _ = admin
        .execute(format!("CREATE ROLE {ROLE} LOGIN").as_str())
        .await;
    admin
        .execute(format!("ALTER DATABASE \"{name}\" OWNER TO {ROLE}").as_str())
        .await
        .unwrap();
    let db = open(&test_db.url_as(ROLE).unwrap()).await.unwrap();
    let trail = Keys::new();
    let log = trail.start(&db, Settings::default());
    log.record(vec![event("before")]).await.unwrap();
    assert!(log.ready(std::time::Duration::from_secs(1)).await);

    let mut superuser = sqlx::AnyConnection::connect(test_db.url()).await.unwrap();
    superuser
        .execute(format!("REVOKE INSERT ON audit_events FROM {ROLE}").as_str())
        .await
        .unwrap();
    let refused = log.record(vec![event("during")]).await.unwrap_err();
    assert_eq!(
        refused.to_string(),
        "the audit trail cannot be written; retry shortly"
    );
    assert!(!log.ready(std::time::Duration::from_secs(1)).await);

    superuser
        .execute(format!("GRANT INSERT ON audit_events TO {ROLE}").as_str())
        .await
        .unwrap();
    log.record(vec![event("after")]).await.unwrap();
    assert!(log.ready(std::time::Duration::from_secs(1)).await);
    assert_eq!(count(&db, "during").await, 0);
    assert_eq!(trail.verify(&db).await, Ok(2));
    drop(log);
    db.close().await;
}

/// A trail begun by an earlier version (unkeyed SHA-256 chain) goes on keyed: the first
/// checkpoint says where, and the whole trail verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unkeyed_trail_from_before_goes_on_keyed() {
    let test_db = TestDatabase::create("audit").await;
    let db = open(test_db.url()).await.unwrap();
    let trail = Keys::new();
    let old = [event("old"), event("old"), event("old")];
    let mut prev = store::GENESIS.to_owned();
    let mut rows = Vec::new();
    for (e, seq) in old.iter().zip(1..) {
        let id = format!("old-{seq}");
        let hash = store::unkeyed_hash(&prev, seq, &id, e);
        rows.push((seq, id, std::mem::replace(&mut prev, hash.clone()), hash));
    }
    let events: Vec<&AuditEvent> = old.iter().collect();
    store::insert_chunk(db.backend(), &rows, &events)
        .execute(db.pool())
        .await
        .unwrap();
    assert_eq!(store::unkeyed_until(&db).await.unwrap(), 3);
    let log = trail.start(&db, Settings::default());
    log.record(vec![event("new"), event("new")]).await.unwrap();
    log.shutdown(std::time::Duration::from_secs(5)).await;
    assert_eq!(store::unkeyed_until(&db).await.unwrap(), 3);
    assert_eq!(trail.verify(&db).await, Ok(5));
    let first = checkpoints::read(&trail.checkpoints)
        .unwrap()
        .remove(0)
        .unwrap();
    assert_eq!((first.seq, first.unkeyed_until), (3, 3));
    drop(log);
    db.close().await;
}
