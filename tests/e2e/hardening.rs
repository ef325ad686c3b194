//! Small rules with large consequences: what every response says about caching and types,
//! dates that cannot be right, control characters in searches, weak client keys.

use iop_proto::common::Date;
use iop_proto::records::CreatePatientRequest;
use iop_proto::records::patient_service_client::PatientServiceClient;
use iop_testing::{TestSystem, with_bearer};
use serde_json::{Value, json};

use crate::{ana, assert_problem_names, create, get, post};

#[tokio::test]
async fn responses_are_never_sniffed_and_patient_data_is_never_cached() {
    let sys = TestSystem::start().await;
    let token = sys.token("clinic-a", &["front_desk"]);
    let (_, patient) = create(&sys, &token, &ana()).await;
    let id = patient["id"].as_str().unwrap();
    for (path, authed) in [
        (format!("/v1/patients/{id}"), true),
        ("/v1/patients?name=ana".to_owned(), true),
        ("/v1/nothing-here".to_owned(), true),
        ("/v1/patients".to_owned(), false),
        ("/healthz".to_owned(), false),
    ] {
        let mut req = sys.http.get(sys.url(&path));
        if authed {
            req = req.bearer_auth(&token);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.headers()["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(res.headers()["cache-control"], "no-store", "{path}");
    }
    // Public keys say how long they may be cached.
    let res = sys
        .http
        .get(sys.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["cache-control"], "public, max-age=300");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    sys.stop().await;
}

#[tokio::test]
async fn dates_that_cannot_be_right_are_refused() {
    let sys = TestSystem::start().await;
    let mut claims = sys.claims("clinic-a", &["clinician"]);
    claims["scope"] = json!("user/*.cruds");
    let token = sys.sign(claims);
    for bad in ["+1990-02-28", "-0001-02-28", "0000-01-01", "19900-02-28"] {
        let mut body = ana();
        body["birth_date"] = json!(bad);
        let (status, problem) = create(&sys, &token, &body).await;
        assert_eq!(status, 400, "{bad}: {problem}");
        assert_problem_names(&problem, 400, "birth_date");
    }
    let mut old = ana();
    old["birth_date"] = json!("1850-01-01");
    let (_, problem) = create(&sys, &token, &old).await;
    // Well formed, against a rule the schema only describes: 422.
    assert_problem_names(&problem, 422, "birth_date");

    let (_, patient) = create(&sys, &token, &ana()).await;
    let id = patient["id"].as_str().unwrap();
    let mut episode = crate::episodes::referral();
    episode["referral_date"] = json!("1899-12-31");
    let (status, problem) = post(
        &sys,
        &token,
        &format!("/v1/patients/{id}/episodes"),
        &episode,
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_problem_names(&problem, 422, "referral_date");

    // gRPC: a year 0 birth date.
    let mut grpc = PatientServiceClient::new(sys.grpc_channel().await);
    let mut patient = crate::grpc_patients::ana();
    patient.birth_date = Some(Date {
        year: 0,
        month: 1,
        day: 1,
    });
    let refused = grpc
        .create_patient(with_bearer(
            CreatePatientRequest {
                patient: Some(patient),
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(refused.message().contains("birth_date"), "{refused:?}");
    sys.stop().await;
}

#[tokio::test]
async fn a_control_character_or_an_empty_value_in_a_search_is_refused_not_matched() {
    let sys = TestSystem::start().await;
    let token = sys.token("clinic-a", &["front_desk"]);
    create(&sys, &token, &ana()).await;
    // An empty value is neither a filter nor its absence: `?name=` is refused too, as the
    // OpenAPI document says (`minLength: 1`).
    for query in [
        "name=%00",
        "name=An%00a",
        "identifier=MRN%0A1",
        "name=",
        "page_token=",
    ] {
        let (status, problem) = get(&sys, &token, &format!("/v1/patients?{query}")).await;
        assert_eq!(status, 400, "{query}: {problem}");
        let field = query.split('=').next().unwrap();
        assert_problem_names(&problem, 400, field);
    }
    sys.stop().await;
}

#[tokio::test]
async fn a_client_key_under_2048_bits_is_refused() {
    use base64::Engine;
    let sys = TestSystem::start().await;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let mut modulus = vec![0x80u8];
    modulus.extend([0x5a; 127]);
    let weak = json!({ "keys": [{ "kty": "RSA", "kid": "weak", "alg": "RS256", "n": b64(&modulus), "e": "AQAB" }] });
    let res = sys
        .http
        .post(sys.url("/v1/clients"))
        .bearer_auth(crate::smart::admin_of(&sys, "clinic-a"))
        .json(&json!({ "name": "Old EHR", "kind": "ehr", "jwks": weak, "scopes": ["system/Patient.rs"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let problem: Value = res.json().await.unwrap();
    assert_problem_names(&problem, 400, "jwks.keys[0].n");
    assert!(
        problem["detail"].as_str().unwrap().contains("1024"),
        "{problem}"
    );
    sys.stop().await;
}

/// A body breaking hundreds of rules is a 400 naming the first of them, not a failed
/// answer: the records service's status once outgrew HTTP/2's header limit and the client
/// saw 503 "unavailable" (found by the API contract fuzzer).
#[tokio::test]
async fn a_body_breaking_hundreds_of_rules_is_a_bounded_400() {
    let sys = TestSystem::start().await;
    let mut claims = sys.claims("clinic-a", &["clinician"]);
    claims["scope"] = json!("user/*.cruds");
    let token = sys.sign(claims);
    let (_, patient) = create(&sys, &token, &ana()).await;
    let id = patient["id"].as_str().unwrap();
    let problems: Vec<Value> = (0..400)
        .map(|i| json!({ "description": format!("problem {i}\u{7}") }))
        .collect();
    let (status, problem) = post(
        &sys,
        &token,
        &format!("/v1/patients/{id}/plans"),
        &json!({ "problems": problems }),
    )
    .await;
    assert_eq!(status, 400, "{problem}");
    let errors = problem["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 20, "{problem}");
    assert!(
        errors
            .iter()
            .any(|e| e["field"] == "problems[0].description"),
        "{problem}"
    );
    sys.stop().await;
}
