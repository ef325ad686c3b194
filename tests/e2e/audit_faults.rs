//! The audit trail failing under the gateway: a change never exists without its record, a
//! stalled trail costs a quick 503 naming it (never a hang), and readiness reports it.

use std::time::{Duration, Instant};

use iop_proto::records::patient_service_client::PatientServiceClient;
use iop_proto::records::{CreatePatientRequest, ListPatientsRequest};
use iop_testing::{TestSystem, with_bearer};
use serde_json::{Value, json};
use sqlx::{Connection, Executor};

use crate::{ana, create, get};

fn admin(sys: &TestSystem) -> String {
    let mut claims = sys.claims("clinic-a", &["admin"]);
    claims["scope"] = json!("user/*.cruds");
    sys.sign(claims)
}

async fn connect(url: &str) -> sqlx::AnyConnection {
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(url).await.unwrap()
}

/// Makes the trail refuse new events — every one, or only those with `outcome` — with a
/// trigger, the way a store that lost its insert permission or its disk refuses them.
async fn refuse_inserts(sys: &TestSystem, only_outcome: Option<&str>) {
    let mut db = connect(sys.gateway_db.url()).await;
    if sys.gateway_db.is_postgres() {
        let when = only_outcome.map_or(String::new(), |o| format!("WHEN (NEW.outcome = '{o}')"));
        db.execute(
            "CREATE OR REPLACE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'the audit store refuses inserts'; END $$",
        )
        .await
        .unwrap();
        db.execute(
            format!(
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events FOR EACH ROW {when} \
                 EXECUTE FUNCTION refuse_audit()"
            )
            .as_str(),
        )
        .await
        .unwrap();
    } else {
        let when = only_outcome.map_or(String::new(), |o| format!("WHEN NEW.outcome = '{o}'"));
        db.execute(
            format!(
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events {when} \
                 BEGIN SELECT RAISE(ABORT, 'the audit store refuses inserts'); END"
            )
            .as_str(),
        )
        .await
        .unwrap();
    }
}

async fn accept_inserts(sys: &TestSystem) {
    let mut db = connect(sys.gateway_db.url()).await;
    let drop = if sys.gateway_db.is_postgres() {
        "DROP TRIGGER refuse_audit ON audit_events"
    } else {
        "DROP TRIGGER refuse_audit"
    };
    db.execute(drop).await.unwrap();
}

async fn patients_stored(sys: &TestSystem) -> Vec<String> {
    let mut db = connect(sys.database_url("records")).await;
    sqlx::query_scalar("SELECT id FROM patients ORDER BY id")
        .fetch_all(&mut db)
        .await
        .unwrap()
}

async fn ready(sys: &TestSystem) -> (u16, Value) {
    let res = sys.http.get(sys.url("/readyz")).send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

async fn wait_until_ready(sys: &TestSystem) {
    for _ in 0..200 {
        if ready(sys).await.0 == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never ready again: {:?}", ready(sys).await);
}

/// The trail refuses inserts: no change is made at all (each is refused 503 naming the
/// trail, before it reaches the service), so a client that retries duplicates nothing.
/// When only outcomes are refused (the trail fails between a change and its outcome), the
/// change stands, is answered as made, and its outcome is recorded once the trail is back.
#[tokio::test]
async fn no_change_exists_without_its_audit_record() {
    let sys = TestSystem::start().await;
    let admin = admin(&sys);
    let mut grpc = PatientServiceClient::new(sys.grpc_channel().await);

    refuse_inserts(&sys, None).await;
    for _ in 0..3 {
        let (status, problem) = create(&sys, &admin, &ana()).await;
        assert_eq!(status, 503, "{problem}");
        assert_eq!(
            problem["detail"],
            "the audit trail cannot be written; retry shortly"
        );
    }
    let refused = grpc
        .create_patient(with_bearer(
            CreatePatientRequest {
                patient: Some(crate::grpc_patients::ana()),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable);
    assert!(refused.message().contains("audit trail"), "{refused:?}");
    assert_eq!(ready(&sys).await.1["checks"]["audit"], "unavailable");
    assert!(
        patients_stored(&sys).await.is_empty(),
        "nothing was changed"
    );
    accept_inserts(&sys).await;

    // Outcomes refused: the attempt is in the trail, the change is made and answered.
    refuse_inserts(&sys, Some("success")).await;
    let mut made = Vec::new();
    for _ in 0..3 {
        let (status, patient) = create(&sys, &admin, &ana()).await;
        assert_eq!(status, 201, "{patient}");
        made.push(patient["id"].as_str().unwrap().to_owned());
    }
    // A read is not answered while its disclosure cannot be recorded.
    let (status, problem) = get(&sys, &admin, &format!("/v1/patients/{}", made[0])).await;
    assert_eq!(status, 503, "{problem}");
    accept_inserts(&sys).await;

    // Every stored patient has its attempt and, once the trail is back, its outcome.
    made.sort();
    assert_eq!(patients_stored(&sys).await, made);
    for id in &made {
        let mut outcomes = Vec::new();
        for _ in 0..200 {
            let (status, trail) =
                get(&sys, &admin, &format!("/v1/audit-events?patient_id={id}")).await;
            assert_eq!(status, 200, "{trail}");
            outcomes = trail["events"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["action"] == "patient.create")
                .map(|e| e["outcome"].as_str().unwrap().to_owned())
                .collect();
            if !outcomes.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(outcomes, ["success"], "{id}");
    }
    let (_, trail) = get(&sys, &admin, "/v1/audit-events?page_size=1000").await;
    let attempts = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "patient.create" && e["outcome"] == "attempted")
        .count();
    assert_eq!(attempts, 3, "the refused creates left no attempt: {trail}");
    sys.stop().await;
}

/// Another process locks the audit table: every request still ends within its deadline,
/// 503 naming the trail, REST and gRPC; readiness says the trail is unavailable; no change
/// gets through; once the lock is gone all is well.
#[tokio::test]
async fn a_locked_audit_trail_answers_within_the_deadline_and_is_not_ready() {
    let sys = TestSystem::start_with(|c| c.downstream_timeout = Duration::from_millis(500)).await;
    let admin = admin(&sys);
    let (status, _) = create(&sys, &admin, &ana()).await;
    assert_eq!(status, 201);

    let mut lock = connect(sys.gateway_db.url()).await;
    if sys.gateway_db.is_postgres() {
        lock.execute("BEGIN").await.unwrap();
        lock.execute("LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE")
            .await
            .unwrap();
    } else {
        lock.execute("BEGIN IMMEDIATE").await.unwrap();
    }

    let started = Instant::now();
    let (status, problem) = get(&sys, &admin, "/v1/patients").await;
    assert_eq!(status, 503, "{problem}");
    assert_eq!(
        problem["detail"],
        "the audit trail did not answer in time; retry shortly"
    );
    let (status, _) = create(&sys, &admin, &ana()).await;
    assert_eq!(status, 503);
    let mut grpc = PatientServiceClient::new(sys.grpc_channel().await);
    let refused = grpc
        .list_patients(with_bearer(ListPatientsRequest::default(), &admin))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable);
    assert!(refused.message().contains("audit trail"), "{refused:?}");
    // Three calls of a 500 ms deadline each; generous against a slow machine, far from the
    // minutes a lock may be held.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let (status, body) = ready(&sys).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["checks"]["audit"], "unavailable");

    lock.execute("ROLLBACK").await.unwrap();
    drop(lock);
    wait_until_ready(&sys).await;
    assert_eq!(
        patients_stored(&sys).await.len(),
        1,
        "no change got through"
    );
    let (status, _) = create(&sys, &admin, &ana()).await;
    assert_eq!(status, 201);
    sys.stop().await;
}
