//! Clinical notes through the gateway: draft → signed (locked for everyone, 409 with the
//! reason) → addenda; author-only drafts; psychotherapy notes for their author only; session
//! minutes; gRPC.

use iop_proto::records::note_service_client::NoteServiceClient;
use iop_proto::records::{self as pb};
use iop_testing::{TestSystem, with_bearer};
use serde_json::{Value, json};

use crate::assessments::{patient, user};
use crate::{assert_problem_names, get, post};

/// A 53-minute individual session on 2026-11-02.
pub fn session_note() -> Value {
    json!({
        "kind": "individual_therapy",
        "title": "Week 3",
        "body": "Discussed triggers.\nPracticed urge surfing.",
        "start_time": "2026-11-02T15:00:00Z",
        "end_time": "2026-11-02T15:53:30Z",
    })
}

async fn patch(
    sys: &TestSystem,
    token: &str,
    path: &str,
    etag: Option<&str>,
    body: &Value,
) -> (u16, Value) {
    let mut req = sys.http.patch(sys.url(path)).bearer_auth(token).json(body);
    if let Some(etag) = etag {
        req = req.header("If-Match", format!("\"{etag}\""));
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_signed_note_is_locked_and_corrected_by_addenda() {
    let sys = TestSystem::start().await;
    let kim = user(&sys, "dr-kim", &["clinician"]);
    let lee = user(&sys, "dr-lee", &["program_director"]);
    let p = patient(&sys, &kim).await;

    let (status, n) = post(
        &sys,
        &kim,
        &format!("/v1/patients/{p}/notes"),
        &session_note(),
    )
    .await;
    assert_eq!(status, 201, "{n}");
    assert_eq!(
        (n["status"].as_str(), n["author"].as_str()),
        (Some("draft"), Some("dr-kim"))
    );
    assert_eq!(n["duration_minutes"], 53);
    let id = n["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/notes/{id}");

    // Only the author edits a draft.
    let (status, problem) = patch(&sys, &lee, &path, None, &json!({ "body": "mine" })).await;
    assert_eq!(status, 403, "{problem}");
    let (status, n) = patch(
        &sys,
        &kim,
        &path,
        Some("1"),
        &json!({ "body": "Discussed triggers and sleep." }),
    )
    .await;
    assert_eq!(status, 200, "{n}");
    assert_eq!(n["version"], 2);

    // Signing: the author, at the version read.
    let sign = format!("{path}/sign");
    let stale = sys
        .http
        .post(sys.url(&sign))
        .bearer_auth(&kim)
        .header("If-Match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 409);
    let (status, problem) = post(&sys, &lee, &sign, &json!({})).await;
    assert_eq!(status, 403, "{problem}");
    let (status, signed) = post(&sys, &kim, &sign, &json!({})).await;
    assert_eq!(status, 200, "{signed}");
    assert_eq!(signed["status"], "signed");
    assert_eq!(signed["signed_by"], "dr-kim");
    assert!(signed["sign_time"].as_str().unwrap().starts_with("20"));

    // Locked for everyone, the author included, with the reason.
    for who in [&kim, &lee] {
        let (status, problem) =
            patch(&sys, who, &path, None, &json!({ "body": "rewritten" })).await;
        assert_eq!(status, 409, "{problem}");
        assert_eq!(problem["type"], "urn:iop:problem:failed-precondition");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("signed by dr-kim"),
            "{problem}"
        );
    }
    let (status, _) = post(&sys, &kim, &sign, &json!({})).await;
    assert_eq!(status, 409, "signed once");

    let (status, n) = post(
        &sys,
        &lee,
        &format!("{path}/addenda"),
        &json!({ "text": "Patient called: sleeping better." }),
    )
    .await;
    assert_eq!(status, 200, "{n}");
    let (_, n) = get(&sys, &kim, &path).await;
    assert_eq!(
        n["body"], "Discussed triggers and sleep.",
        "the original stays"
    );
    assert_eq!(n["addenda"][0]["author"], "dr-lee");
    assert_eq!(n["addenda"][0]["text"], "Patient called: sleeping better.");
    assert_eq!(n["signed_by"], "dr-kim");
    sys.stop().await;
}

#[tokio::test]
async fn psychotherapy_notes_are_read_only_by_their_author() {
    let sys = TestSystem::start().await;
    let kim = user(&sys, "dr-kim", &["clinician"]);
    let lee = user(&sys, "dr-lee", &["clinician"]);
    let director = user(&sys, "dr-boss", &["program_director"]);
    let p = patient(&sys, &kim).await;
    let mut private = session_note();
    private["kind"] = json!("psychotherapy");
    private["body"] = json!("Process notes: transference themes.");
    let (_, private) = post(&sys, &kim, &format!("/v1/patients/{p}/notes"), &private).await;
    let private_id = private["id"].as_str().unwrap();
    let (_, shared) = post(
        &sys,
        &kim,
        &format!("/v1/patients/{p}/notes"),
        &session_note(),
    )
    .await;

    assert_eq!(
        get(&sys, &kim, &format!("/v1/notes/{private_id}")).await.0,
        200
    );
    for other in [&lee, &director] {
        let (status, problem) = get(&sys, other, &format!("/v1/notes/{private_id}")).await;
        assert_eq!(status, 403, "{problem}");
        assert_eq!(
            problem["detail"],
            "psychotherapy notes are readable only by their author"
        );
        let (_, list) = get(&sys, other, &format!("/v1/notes?patient_id={p}")).await;
        let ids: Vec<&str> = list["notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [shared["id"].as_str().unwrap()], "left out of lists");
        assert!(!list.to_string().contains("transference"));
    }
    let (_, mine) = get(
        &sys,
        &kim,
        &format!("/v1/notes?patient_id={p}&kind=psychotherapy"),
    )
    .await;
    assert_eq!(mine["notes"].as_array().unwrap().len(), 1);
    sys.stop().await;
}

#[tokio::test]
async fn session_notes_need_their_minutes_to_be_signed() {
    let sys = TestSystem::start().await;
    let kim = user(&sys, "dr-kim", &["clinician"]);
    let p = patient(&sys, &kim).await;
    let untimed = json!({ "kind": "group", "body": "Relapse prevention group: identified high-risk situations." });
    let (_, n) = post(&sys, &kim, &format!("/v1/patients/{p}/notes"), &untimed).await;
    let id = n["id"].as_str().unwrap();
    assert!(n.get("duration_minutes").is_none());
    let (status, problem) = post(&sys, &kim, &format!("/v1/notes/{id}/sign"), &json!({})).await;
    // A rule on the stored draft, not on the (empty) request: 409, naming the fields.
    assert_eq!(status, 409);
    assert_problem_names(&problem, 409, "start_time");

    let mut backwards = session_note();
    backwards["end_time"] = json!("2026-11-02T14:00:00Z");
    let (_, problem) = post(&sys, &kim, &format!("/v1/patients/{p}/notes"), &backwards).await;
    assert_problem_names(&problem, 422, "end_time");
    let mut bad = session_note();
    bad["kind"] = json!("soap");
    let (_, problem) = post(&sys, &kim, &format!("/v1/patients/{p}/notes"), &bad).await;
    assert_problem_names(&problem, 400, "kind");
    let mut elsewhere = session_note();
    elsewhere["episode_id"] = json!(uuid::Uuid::now_v7().to_string());
    let (_, problem) = post(&sys, &kim, &format!("/v1/patients/{p}/notes"), &elsewhere).await;
    // Well formed, but the record has no such episode of this patient.
    assert_problem_names(&problem, 409, "episode_id");
    let (status, problem) = post(
        &sys,
        &kim,
        &format!("/v1/notes/{id}/addenda"),
        &json!({ "text": "x" }),
    )
    .await;
    assert_eq!(status, 409, "addenda are for signed notes: {problem}");
    sys.stop().await;
}

#[tokio::test]
async fn grpc_clients_cannot_edit_a_signed_note_either() {
    let sys = TestSystem::start().await;
    let kim = user(&sys, "dr-kim", &["clinician"]);
    let p = patient(&sys, &kim).await;
    let mut client = NoteServiceClient::new(sys.grpc_channel().await);
    let n = client
        .create_note(with_bearer(
            pb::CreateNoteRequest {
                note: Some(pb::Note {
                    patient_id: p,
                    kind: pb::NoteKind::Intake as i32,
                    body: "Intake: history, risk screen, goals.".into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
            &kim,
        ))
        .await
        .unwrap()
        .into_inner();
    let signed = client
        .sign_note(with_bearer(
            pb::SignNoteRequest {
                id: n.id.clone(),
                etag: n.etag,
            },
            &kim,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(signed.status, pb::NoteStatus::Signed as i32);
    let err = client
        .update_note(with_bearer(
            pb::UpdateNoteRequest {
                note: Some(pb::Note {
                    id: n.id,
                    body: "changed".into(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["body".into()],
                }),
            },
            &kim,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    assert!(err.message().contains("locked"), "{}", err.message());
    sys.stop().await;
}
