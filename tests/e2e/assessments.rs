//! PHQ-9 / GAD-7 through the gateway: scoring, safety flags and their acknowledgement,
//! history for trend charts, bad answers, idempotent retries, the role rules, audit.

use iop_proto::records::assessment_service_client::AssessmentServiceClient;
use iop_proto::records::{self as pb};
use iop_testing::{TestSystem, with_bearer};
use serde_json::{Value, json};

use crate::{ana, assert_problem_names, create, get, post};

pub fn user(sys: &TestSystem, sub: &str, roles: &[&str]) -> String {
    let mut claims = sys.claims("clinic-a", roles);
    claims["sub"] = json!(sub);
    claims["scope"] = json!("user/*.cruds");
    sys.sign(claims)
}

pub async fn patient(sys: &TestSystem, token: &str) -> String {
    let (status, p) = create(sys, token, &ana()).await;
    assert_eq!(status, 201, "{p}");
    p["id"].as_str().unwrap().to_owned()
}

/// A PHQ-9 with item 9 answered `item9`.
pub fn phq9(item9: i32) -> Value {
    json!({ "instrument": "phq9", "answers": [1, 1, 2, 1, 0, 1, 0, 1, item9] })
}

#[tokio::test]
async fn item_9_raises_a_flag_clinicians_see_until_one_acknowledges_it() {
    let sys = TestSystem::start().await;
    let clinician = user(&sys, "dr-kim", &["clinician"]);
    let director = user(&sys, "dr-lee", &["program_director"]);
    let p = patient(&sys, &clinician).await;

    let (status, a) = post(
        &sys,
        &clinician,
        &format!("/v1/patients/{p}/assessments"),
        &phq9(2),
    )
    .await;
    assert_eq!(status, 201, "{a}");
    assert_eq!(a["total"], 9);
    assert_eq!(a["severity"], "mild");
    assert_eq!(a["recorded_by"], "dr-kim");
    assert_eq!(a["patient_id"], p.as_str());
    let flag_id = a["safety_flag_id"]
        .as_str()
        .expect("item 9 > 0 flags")
        .to_owned();

    // The worklist of every clinician shows it.
    let (status, flags) = get(&sys, &director, "/v1/safety-flags?status=active").await;
    assert_eq!(status, 200, "{flags}");
    let flags = flags["flags"].as_array().unwrap();
    assert_eq!(flags.len(), 1);
    assert_eq!(flags[0]["id"], flag_id.as_str());
    assert_eq!(flags[0]["patient_id"], p.as_str());
    assert_eq!(flags[0]["assessment_id"], a["id"]);
    assert_eq!(flags[0]["status"], "active");

    let ack = format!("/v1/safety-flags/{flag_id}/acknowledge");
    let (status, problem) = post(&sys, &director, &ack, &json!({ "note": " " })).await;
    assert_problem_names(&problem, 400, "note");
    assert_eq!(status, 400);
    let note = json!({ "note": "Safety plan reviewed with patient; no current intent." });
    let (status, flag) = post(&sys, &director, &ack, &note).await;
    assert_eq!(status, 200, "{flag}");
    assert_eq!(flag["status"], "acknowledged");
    assert_eq!(flag["acknowledged_by"], "dr-lee");
    assert_eq!(flag["acknowledge_note"], note["note"]);

    let (_, active) = get(&sys, &clinician, "/v1/safety-flags?status=active").await;
    assert_eq!(active["flags"], json!([]));
    let (_, history) = get(
        &sys,
        &clinician,
        &format!("/v1/safety-flags?patient_id={p}"),
    )
    .await;
    assert_eq!(history["flags"][0]["status"], "acknowledged");
    // By when they were raised.
    let (_, earlier) = get(
        &sys,
        &clinician,
        "/v1/safety-flags?raised_before=2026-01-01T00:00:00Z",
    )
    .await;
    assert_eq!(earlier["flags"], json!([]));
    let (_, since) = get(
        &sys,
        &clinician,
        "/v1/safety-flags?raised_after=2026-01-01T00:00:00Z",
    )
    .await;
    assert_eq!(since["flags"].as_array().unwrap().len(), 1);

    // The first acknowledgement stands.
    let (status, problem) = post(&sys, &clinician, &ack, &json!({ "note": "me too" })).await;
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("already acknowledged by dr-lee"),
        "{problem}"
    );

    // No flag without item 9.
    let (_, calm) = post(
        &sys,
        &clinician,
        &format!("/v1/patients/{p}/assessments"),
        &phq9(0),
    )
    .await;
    assert!(calm.get("safety_flag_id").is_none(), "{calm}");
    sys.stop().await;
}

#[tokio::test]
async fn history_is_oldest_first_filterable_and_paged() {
    let sys = TestSystem::start().await;
    let clinician = user(&sys, "dr-kim", &["clinician"]);
    let p = patient(&sys, &clinician).await;
    let path = format!("/v1/patients/{p}/assessments");
    // Weekly PHQ-9s recorded late and out of order, improving over time, and one GAD-7.
    for (day, level) in [(15, 3), (1, 0), (8, 2), (22, 3)] {
        let mut body = json!({ "instrument": "phq9", "answers": vec![level; 9] });
        body["answers"][8] = json!(0);
        body["administered_time"] = json!(format!("2026-10-{day:02}T10:00:00Z"));
        assert_eq!(post(&sys, &clinician, &path, &body).await.0, 201);
    }
    let gad = json!({ "instrument": "gad7", "answers": [2, 2, 2, 1, 1, 1, 1],
        "administered_time": "2026-10-08T10:30:00Z" });
    let (_, g) = post(&sys, &clinician, &path, &gad).await;
    assert_eq!(
        (g["total"].as_i64(), g["severity"].as_str()),
        (Some(10), Some("moderate"))
    );

    let (status, page) = get(
        &sys,
        &clinician,
        &format!("{path}?instrument=phq9&page_size=3"),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let totals: Vec<i64> = page["assessments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["total"].as_i64().unwrap())
        .collect();
    assert_eq!(totals, [0, 16, 24], "oldest first");
    let token = page["next_page_token"].as_str().unwrap();
    let (_, rest) = get(
        &sys,
        &clinician,
        &format!("{path}?instrument=phq9&page_size=3&page_token={token}"),
    )
    .await;
    assert_eq!(rest["assessments"][0]["total"], 24);
    assert!(rest.get("next_page_token").is_none());
    assert_eq!(
        rest["assessments"][0]["administered_time"],
        "2026-10-22T10:00:00.000000Z"
    );

    let (_, window) = get(
        &sys,
        &clinician,
        &format!("{path}?administered_after=2026-10-08T00:00:00Z&administered_before=2026-10-16T00:00:00Z"),
    )
    .await;
    let instruments: Vec<&str> = window["assessments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["instrument"].as_str().unwrap())
        .collect();
    assert_eq!(instruments, ["phq9", "gad7", "phq9"]);

    // A token from another filter is refused, naming the parameter.
    let (status, problem) = get(&sys, &clinician, &format!("{path}?page_token={token}")).await;
    assert_eq!(status, 422);
    assert_problem_names(&problem, 422, "page_token");
    sys.stop().await;
}

#[tokio::test]
async fn bad_answers_are_refused_naming_the_item() {
    let sys = TestSystem::start().await;
    let clinician = user(&sys, "dr-kim", &["clinician"]);
    let p = patient(&sys, &clinician).await;
    let path = format!("/v1/patients/{p}/assessments");

    let (status, problem) = post(
        &sys,
        &clinician,
        &path,
        &json!({ "instrument": "gad7", "answers": [1, 1, 1] }),
    )
    .await;
    assert_eq!(status, 400);
    assert_problem_names(&problem, 400, "answers");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("GAD-7 has 7 items"),
        "{problem}"
    );

    let (_, problem) = post(
        &sys,
        &clinician,
        &path,
        &json!({ "instrument": "phq9", "answers": [0, 0, 0, 7, 0, 0, 0, 0, -1] }),
    )
    .await;
    assert_problem_names(&problem, 400, "answers[3]");
    assert_problem_names(&problem, 400, "answers[8]");

    let (_, problem) = post(
        &sys,
        &clinician,
        &path,
        &json!({ "instrument": "beck", "answers": [] }),
    )
    .await;
    assert_problem_names(&problem, 400, "instrument");
    let (_, problem) = post(
        &sys,
        &clinician,
        &path,
        &json!({ "answers": [0, 0, 0, 0, 0, 0, 0] }),
    )
    .await;
    assert_problem_names(&problem, 400, "instrument");
    let mut future = phq9(0);
    future["administered_time"] = json!("2099-01-01T00:00:00Z");
    let (_, problem) = post(&sys, &clinician, &path, &future).await;
    // Well formed, against a rule relative to today: 422 (a garbled time breaks the schema).
    assert_problem_names(&problem, 422, "administered_time");
    let mut garbled = phq9(0);
    garbled["administered_time"] = json!("yesterday");
    let (_, problem) = post(&sys, &clinician, &path, &garbled).await;
    assert_problem_names(&problem, 400, "administered_time");

    let (status, problem) = post(
        &sys,
        &clinician,
        "/v1/patients/not-a-uuid/assessments",
        &phq9(0),
    )
    .await;
    assert_problem_names(&problem, 400, "id");
    assert_eq!(status, 400);
    let unknown = uuid::Uuid::now_v7();
    let (status, _) = post(
        &sys,
        &clinician,
        &format!("/v1/patients/{unknown}/assessments"),
        &phq9(0),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = get(
        &sys,
        &clinician,
        &format!("/v1/patients/{unknown}/assessments"),
    )
    .await;
    assert_eq!(status, 404);

    // Nothing was stored by any of these.
    let (_, list) = get(&sys, &clinician, &path).await;
    assert_eq!(list["assessments"], json!([]));
    sys.stop().await;
}

#[tokio::test]
async fn a_retried_post_returns_the_first_assessment_and_one_flag() {
    let sys = TestSystem::start().await;
    let clinician = user(&sys, "dr-kim", &["clinician"]);
    let p = patient(&sys, &clinician).await;
    let path = format!("/v1/patients/{p}/assessments");
    let send = |body: Value| {
        sys.http
            .post(sys.url(&path))
            .bearer_auth(&clinician)
            .header("Idempotency-Key", "tablet-7f3a")
            .json(&body)
            .send()
    };
    let mut body = phq9(1);
    body["administered_time"] = json!("2026-11-20T09:00:00Z");
    let first: Value = send(body.clone()).await.unwrap().json().await.unwrap();
    let again = send(body).await.unwrap();
    assert_eq!(again.status(), 201);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    let other = send(phq9(3)).await.unwrap();
    assert_eq!(other.status(), 422);
    let problem: Value = other.json().await.unwrap();
    assert_problem_names(&problem, 422, "Idempotency-Key");

    let (_, list) = get(&sys, &clinician, &path).await;
    assert_eq!(list["assessments"].as_array().unwrap().len(), 1);
    let (_, flags) = get(&sys, &clinician, "/v1/safety-flags").await;
    assert_eq!(flags["flags"].as_array().unwrap().len(), 1);
    sys.stop().await;
}

#[tokio::test]
async fn grpc_clients_record_and_read_assessments_through_the_gateway() {
    let sys = TestSystem::start().await;
    let clinician = user(&sys, "dr-kim", &["clinician"]);
    let p = patient(&sys, &clinician).await;
    let mut client = AssessmentServiceClient::new(sys.grpc_channel().await);
    let recorded = client
        .record_assessment(with_bearer(
            pb::RecordAssessmentRequest {
                assessment: Some(pb::Assessment {
                    patient_id: p.clone(),
                    instrument: pb::Instrument::Gad7 as i32,
                    answers: vec![3, 3, 3, 2, 2, 2, 1],
                    ..Default::default()
                }),
                request_id: String::new(),
            },
            &clinician,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(recorded.total, 16);
    assert_eq!(recorded.severity, pb::Severity::Severe as i32);
    let listed = client
        .list_assessments(with_bearer(
            pb::ListAssessmentsRequest {
                patient_id: p.clone(),
                ..Default::default()
            },
            &clinician,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.assessments, std::slice::from_ref(&recorded));

    let err = client
        .record_assessment(with_bearer(
            pb::RecordAssessmentRequest {
                assessment: Some(pb::Assessment {
                    patient_id: p,
                    instrument: pb::Instrument::Phq9 as i32,
                    answers: vec![0; 8],
                    ..Default::default()
                }),
                request_id: String::new(),
            },
            &clinician,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    let fields = iop_core::error::field_violations(&err);
    assert_eq!(fields[0].field, "assessment.answers");

    // The front desk never reads assessments.
    let desk = user(&sys, "desk-1", &["front_desk"]);
    let err = client
        .get_assessment(with_bearer(
            pb::GetAssessmentRequest { id: recorded.id },
            &desk,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    assert_eq!(
        err.message(),
        "role front_desk may not read QuestionnaireResponse"
    );
    sys.stop().await;
}

#[tokio::test]
async fn backend_clients_record_but_only_staff_acknowledge() {
    let sys = TestSystem::start().await;
    let clinician = user(&sys, "dr-kim", &["clinician"]);
    let p = patient(&sys, &clinician).await;
    let mut claims = sys.claims("clinic-a", &[]);
    claims["scope"] = json!("system/QuestionnaireResponse.crs system/Flag.rus");
    let ehr = sys.sign(claims);
    let (status, a) = post(
        &sys,
        &ehr,
        &format!("/v1/patients/{p}/assessments"),
        &phq9(1),
    )
    .await;
    assert_eq!(status, 201, "{a}");
    let flag = a["safety_flag_id"].as_str().unwrap();
    let (status, problem) = post(
        &sys,
        &ehr,
        &format!("/v1/safety-flags/{flag}/acknowledge"),
        &json!({ "note": "auto" }),
    )
    .await;
    assert_eq!(status, 403, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("clinician"),
        "{problem}"
    );
    sys.stop().await;
}

#[tokio::test]
async fn assessment_access_is_audited_under_the_patient() {
    let sys = TestSystem::start().await;
    let clinician = user(&sys, "dr-kim", &["clinician"]);
    let desk = user(&sys, "desk-1", &["front_desk"]);
    let admin = user(&sys, "it-1", &["admin"]);
    let p = patient(&sys, &clinician).await;
    let (_, a) = post(
        &sys,
        &clinician,
        &format!("/v1/patients/{p}/assessments"),
        &phq9(1),
    )
    .await;
    let id = a["id"].as_str().unwrap();
    assert_eq!(
        get(&sys, &clinician, &format!("/v1/assessments/{id}"))
            .await
            .0,
        200
    );
    assert_eq!(
        get(&sys, &desk, &format!("/v1/assessments/{id}")).await.0,
        403
    );
    assert_eq!(get(&sys, &clinician, "/v1/safety-flags").await.0, 200);

    let (_, trail) = get(&sys, &admin, &format!("/v1/audit-events?patient_id={p}")).await;
    let seen: Vec<(String, String, String)> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource_type"] != "Patient")
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["subject"].as_str().unwrap().to_owned(),
                e["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expect = |action: &str, who: &str, outcome: &str| {
        (action.to_owned(), who.to_owned(), outcome.to_owned())
    };
    assert_eq!(
        seen,
        [
            // A change's attempt is recorded before it is made, its outcome after.
            expect("assessment.create", "dr-kim", "attempted"),
            expect("assessment.create", "dr-kim", "success"),
            expect("assessment.read", "dr-kim", "success"),
            // The front desk's refused read is under the patient too.
            expect("assessment.read", "desk-1", "denied"),
            expect("safetyflag.search", "dr-kim", "success"),
        ],
        "{trail}"
    );
    // The denied read names the assessment and its patient (which the caller was not told).
    let (_, denied) = get(&sys, &admin, "/v1/audit-events?subject=desk-1").await;
    let denied = &denied["events"].as_array().unwrap()[0];
    assert_eq!(denied["outcome"], "denied");
    assert_eq!(denied["resource_id"], id);
    assert_eq!(denied["resource_type"], "QuestionnaireResponse");
    sys.stop().await;
}
