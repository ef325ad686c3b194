//! The audit trail: every access to patient data, allowed or denied, over REST and gRPC,
//! appears exactly once; only admins read it; tampering is detected.

use iop_proto::audit::ListAuditEventsRequest;
use iop_proto::audit::audit_service_client::AuditServiceClient;
use iop_proto::records::GetPatientRequest;
use iop_proto::records::patient_service_client::PatientServiceClient;
use iop_testing::{TestSystem, with_bearer};
use serde_json::{Value, json};

use crate::{ana, create, get};

fn as_user(sys: &TestSystem, tenant: &str, sub: &str, roles: &[&str]) -> String {
    let mut claims = sys.claims(tenant, roles);
    claims["sub"] = json!(sub);
    claims["scope"] = json!("user/*.cruds");
    sys.sign(claims)
}

async fn trail(sys: &TestSystem, admin: &str, query: &str) -> Vec<Value> {
    let (status, body) = get(sys, admin, &format!("/v1/audit-events?{query}")).await;
    assert_eq!(status, 200, "{body}");
    body["events"].as_array().unwrap().clone()
}

#[tokio::test]
async fn every_patient_access_is_audited_exactly_once() {
    let sys = TestSystem::start().await;
    let admin = as_user(&sys, "clinic-a", "dr-admin", &["admin"]);
    let desk = as_user(&sys, "clinic-a", "desk-1", &["front_desk"]);
    let nobody = as_user(&sys, "clinic-a", "temp-9", &["receptionist"]);
    let outsider = as_user(&sys, "clinic-b", "spy", &["admin"]);

    let (_, a) = create(&sys, &admin, &ana()).await;
    let a = a["id"].as_str().unwrap().to_owned();
    let mut other = ana();
    other["given_name"] = json!("Zed");
    let (_, b) = create(&sys, &desk, &other).await;
    let b = b["id"].as_str().unwrap().to_owned();

    assert_eq!(get(&sys, &desk, &format!("/v1/patients/{a}")).await.0, 200);
    assert_eq!(get(&sys, &desk, "/v1/patients").await.0, 200); // returns a and b
    let res = sys
        .http
        .patch(sys.url(&format!("/v1/patients/{a}")))
        .bearer_auth(&desk)
        .json(&json!({ "pronouns": "she/her" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        get(&sys, &nobody, &format!("/v1/patients/{a}")).await.0,
        403
    );
    assert_eq!(
        get(&sys, &outsider, &format!("/v1/patients/{a}")).await.0,
        404
    );
    let mut client = PatientServiceClient::new(sys.grpc_channel().await);
    client
        .get_patient(with_bearer(GetPatientRequest { id: a.clone() }, &desk))
        .await
        .unwrap();

    let events = trail(&sys, &admin, &format!("patient_id={a}")).await;
    let seen: Vec<(&str, &str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["subject"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("patient.create", "dr-admin", "success"),
            ("patient.read", "desk-1", "success"),
            ("patient.search", "desk-1", "success"),
            // The attempt of a change, before it is made; then its outcome.
            ("patient.update", "desk-1", "attempted"),
            ("patient.update", "desk-1", "success"),
            ("patient.read", "temp-9", "denied"),
            ("patient.read", "desk-1", "success"),
        ],
        "{events:#?}"
    );
    for e in &events {
        assert_eq!(e["resource_type"], "Patient");
        assert_eq!(e["resource_id"], a.as_str());
        assert_eq!(e["source_addr"], "127.0.0.1");
        assert!(!e["request_id"].as_str().unwrap().is_empty());
        assert_eq!(e["hash"].as_str().unwrap().len(), 64);
    }
    assert_eq!(events[3]["status"], "");
    assert_eq!(events[3]["request_id"], events[4]["request_id"]);
    assert_eq!(events[5]["status"], "PermissionDenied");
    // Patient b was touched by its creation and by the list only.
    let for_b = trail(&sys, &admin, &format!("patient_id={b}")).await;
    let actions: Vec<&str> = for_b
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["patient.create", "patient.search"]);
    // The other clinic's failed attempt is in its own trail, not in clinic-a's.
    let theirs = trail(&sys, &outsider, &format!("patient_id={a}")).await;
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0]["outcome"], "failed");
    assert_eq!(theirs[0]["status"], "NotFound");

    // Filters by user and time; paging.
    let by_desk = trail(&sys, &admin, "subject=desk-1").await;
    assert!(by_desk.iter().all(|e| e["subject"] == "desk-1"));
    let future = trail(&sys, &admin, "start_time=2999-01-01T00:00:00Z").await;
    assert!(future.is_empty());
    // desk-1: create b (attempt, outcome), read a, search (a and b), update a (attempt,
    // outcome), gRPC read a.
    assert_eq!(by_desk.len(), 8, "{by_desk:#?}");
    let (_, page) = get(&sys, &admin, "/v1/audit-events?subject=desk-1&page_size=4").await;
    assert_eq!(page["events"].as_array().unwrap().len(), 4);
    let token = page["next_page_token"].as_str().unwrap();
    let (_, rest) = get(
        &sys,
        &admin,
        &format!("/v1/audit-events?subject=desk-1&page_size=4&page_token={token}"),
    )
    .await;
    assert_eq!(
        rest["events"].as_array().unwrap()[..],
        by_desk[4..],
        "{rest}"
    );
    assert!(rest.get("next_page_token").is_none());
    sys.stop().await;
}

#[tokio::test]
async fn only_admins_read_the_trail_and_denials_are_audited_too() {
    let sys = TestSystem::start().await;
    let admin = as_user(&sys, "clinic-a", "dr-admin", &["admin"]);
    let clinician = as_user(&sys, "clinic-a", "dr-who", &["clinician"]);
    create(&sys, &admin, &ana()).await;

    let (status, problem) = get(&sys, &clinician, "/v1/audit-events").await;
    assert_eq!(status, 403);
    assert_eq!(
        problem["detail"],
        "role clinician may not search AuditEvent"
    );
    let (status, problem) = get(&sys, &admin, "/v1/audit-events?start_time=yesterday").await;
    assert_eq!(status, 400);
    crate::assert_problem_names(&problem, 400, "start_time");

    let attempts = trail(&sys, &admin, "subject=dr-who").await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["action"], "auditevent.search");
    assert_eq!(attempts[0]["outcome"], "denied");

    // gRPC, same rules.
    let mut client = AuditServiceClient::new(sys.grpc_channel().await);
    let err = client
        .list_audit_events(with_bearer(ListAuditEventsRequest::default(), &clinician))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    let page = client
        .list_audit_events(with_bearer(
            ListAuditEventsRequest {
                subject: "dr-admin".into(),
                ..Default::default()
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(page.events.iter().any(|e| e.action == "patient.create"));
    sys.stop().await;
}

/// The clinical record's accesses are in the patient's trail too, each once, under its own
/// resource type and id; refused reads (a psychotherapy note, the front desk) are there as
/// well.
#[tokio::test]
async fn clinical_record_accesses_are_in_the_patients_trail_exactly_once() {
    let sys = TestSystem::start().await;
    let admin = as_user(&sys, "clinic-a", "it-1", &["admin"]);
    let kim = as_user(&sys, "clinic-a", "dr-kim", &["clinician"]);
    let lee = as_user(&sys, "clinic-a", "dr-lee", &["clinician"]);
    let desk = as_user(&sys, "clinic-a", "desk-1", &["front_desk"]);
    let (_, p) = create(&sys, &kim, &ana()).await;
    let p = p["id"].as_str().unwrap().to_owned();

    let (_, episode) = crate::post(
        &sys,
        &kim,
        &format!("/v1/patients/{p}/episodes"),
        &crate::episodes::referral(),
    )
    .await;
    let mut private = crate::notes::session_note();
    private["kind"] = json!("psychotherapy");
    let (_, note) = crate::post(&sys, &kim, &format!("/v1/patients/{p}/notes"), &private).await;
    let (_, plan) = crate::post(
        &sys,
        &kim,
        &format!("/v1/patients/{p}/plans"),
        &crate::plans::plan(),
    )
    .await;
    let note_id = note["id"].as_str().unwrap();
    assert_eq!(
        get(&sys, &kim, &format!("/v1/notes/{note_id}")).await.0,
        200
    );
    assert_eq!(
        get(&sys, &lee, &format!("/v1/notes/{note_id}")).await.0,
        403
    );
    assert_eq!(
        get(&sys, &desk, &format!("/v1/notes/{note_id}")).await.0,
        403
    );
    assert_eq!(
        get(&sys, &desk, &format!("/v1/episodes?patient_id={p}"))
            .await
            .0,
        200
    );

    let events = trail(&sys, &admin, &format!("patient_id={p}")).await;
    let seen: Vec<(&str, &str, &str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["resource_type"].as_str().unwrap(),
                e["subject"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("patient.create", "Patient", "dr-kim", "success"),
            // A change's attempt is recorded (under the patient it names) before it is
            // made, its outcome (naming what was made) after.
            ("episode.create", "EpisodeOfCare", "dr-kim", "attempted"),
            ("episode.create", "EpisodeOfCare", "dr-kim", "success"),
            ("note.create", "DocumentReference", "dr-kim", "attempted"),
            ("note.create", "DocumentReference", "dr-kim", "success"),
            ("plan.create", "CarePlan", "dr-kim", "attempted"),
            ("plan.create", "CarePlan", "dr-kim", "success"),
            ("note.read", "DocumentReference", "dr-kim", "success"),
            // Refusals are under the patient too: the records service's psychotherapy
            // rule, and the front desk's role.
            ("note.read", "DocumentReference", "dr-lee", "denied"),
            ("note.read", "DocumentReference", "desk-1", "denied"),
            ("episode.search", "EpisodeOfCare", "desk-1", "success"),
        ],
        "{events:#?}"
    );
    assert_eq!(events[2]["resource_id"], episode["id"]);
    assert_eq!(events[6]["resource_id"], plan["id"]);
    for (attempt, outcome) in [(1, 2), (3, 4), (5, 6)] {
        assert_eq!(events[attempt]["request_id"], events[outcome]["request_id"]);
        assert_eq!(events[attempt]["status"], "");
    }
    // The refused reads name the note and its patient, though the refused callers were
    // told neither.
    for (i, subject) in [(8, "dr-lee"), (9, "desk-1")] {
        assert_eq!(events[i]["resource_id"], note_id);
        assert_eq!(events[i]["patient_id"], p.as_str());
        assert_eq!(events[i]["status"], "PermissionDenied");
        let (status, problem) = get(
            &sys,
            &as_user(&sys, "clinic-a", subject, &["clinician"]),
            "/v1/audit-events",
        )
        .await;
        assert_eq!(status, 403, "{problem}");
    }
    let (_, problem) = get(&sys, &lee, &format!("/v1/notes/{note_id}")).await;
    assert!(!problem.to_string().contains(&p), "{problem}");
    sys.stop().await;
}
