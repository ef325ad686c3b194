//! Traffic without a valid token is bounded: per source address for bad or new tokens and
//! token requests, by header size, by message size; what a caller sent is never echoed back
//! or logged unbounded; refused token requests do not grow the audit trail without bound.

use iop_auth::SigningKey;
use iop_proto::records::CreatePatientRequest;
use iop_proto::records::patient_service_client::PatientServiceClient;
use iop_testing::{TestSystem, with_bearer};
use serde_json::{Value, json};

use crate::get;
use crate::smart::{admin_of, assertion, register, token};

/// A gateway allowing each source address 5 requests without a known-good token at once.
async fn strict() -> TestSystem {
    TestSystem::start_with(|c| {
        c.rate_limits.per_address_per_minute = 60;
        c.rate_limits.per_address_burst = 5;
    })
    .await
}

#[tokio::test]
async fn bad_tokens_from_one_address_are_slowed_down_and_good_ones_go_on() {
    let sys = strict().await;
    let good = sys.token("clinic-a", &["front_desk"]);
    // A known-good token: verified once (that counts), cached after.
    assert_eq!(get(&sys, &good, "/v1/patients").await.0, 200);
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(get(&sys, "not-a-token", "/v1/patients").await.0);
    }
    assert_eq!(&statuses[..4], [401; 4], "{statuses:?}");
    assert!(statuses[4..].iter().all(|s| *s == 429), "{statuses:?}");
    let res = sys.http.get(sys.url("/v1/patients")).send().await.unwrap();
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    // gRPC, same budget.
    let mut grpc = PatientServiceClient::new(sys.grpc_channel().await);
    let refused = grpc
        .create_patient(with_bearer(CreatePatientRequest::default(), "bad"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
    assert!(refused.metadata().contains_key("retry-after"));
    // The clinic's own users, with tokens already known good, are not held up.
    assert_eq!(get(&sys, &good, "/v1/patients").await.0, 200);
    sys.stop().await;
}

#[tokio::test]
async fn token_requests_are_limited_per_address_and_repeated_refusals_are_summarised() {
    let sys = TestSystem::start().await;
    let key = SigningKey::generate().unwrap();
    let id = register(
        &sys,
        &admin_of(&sys, "clinic-a"),
        &key,
        &["system/Patient.rs"],
    )
    .await;
    let forged = SigningKey::generate().unwrap();
    let mut statuses = Vec::new();
    for _ in 0..30 {
        let (status, _) = token(
            &sys,
            &assertion(&sys, &forged, &id, json!({})),
            "system/Patient.rs",
        )
        .await;
        statuses.push(status);
    }
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    // Thirty refusals, five events: the rest are counted into one summary when the minute ends.
    let (_, trail) = get(
        &sys,
        &admin_of(&sys, "clinic-a"),
        &format!("/v1/audit-events?client_id={id}"),
    )
    .await;
    let refused = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "token.issue" && e["outcome"] == "denied")
        .count();
    assert_eq!(refused, 5, "{trail}");
    sys.stop().await;

    let sys = strict().await;
    let mut last = (0, Value::Null);
    for _ in 0..8 {
        last = token(&sys, "garbage", "system/Patient.rs").await;
    }
    assert_eq!(last.0, 429, "{}", last.1);
    assert_eq!(last.1["error"], "slow_down");
    sys.stop().await;
}

#[tokio::test]
async fn what_a_caller_sent_is_never_echoed_unbounded() {
    let sys = TestSystem::start().await;
    // A token whose header carries a 5 KB key id (within the header cap) with a forged log
    // line in it.
    let header = json!({ "alg": "ES256", "kid": format!("k\nINFO forged{}", "x".repeat(5_000)) });
    let b64 = |v: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let jwt = format!(
        "{}.{}.c2ln",
        b64(&header),
        b64(&sys.claims("clinic-a", &["admin"]))
    );
    let res = sys
        .http
        .get(sys.url("/v1/patients"))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let www = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(www.len() < 300, "{} bytes", www.len());
    assert!(!www.contains('\n'));
    let body = res.text().await.unwrap();
    assert!(body.len() < 1000, "{} bytes", body.len());
    // 150 KB of it is past the header cap: refused without a word of it.
    let header = json!({ "alg": "ES256", "kid": "x".repeat(150_000) });
    let jwt = format!("{}.{}.c2ln", b64(&header), b64(&json!({})));
    let res = sys
        .http
        .get(sys.url("/v1/patients"))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 431);
    assert!(res.text().await.unwrap().len() < 1000);
    sys.stop().await;
}

#[tokio::test]
async fn oversized_headers_and_messages_are_refused() {
    let sys = TestSystem::start().await;
    let token = sys.token("clinic-a", &["front_desk"]);
    // One header past 8 KiB.
    let res = sys
        .http
        .get(sys.url("/v1/patients"))
        .bearer_auth(&token)
        .header("x-padding", "p".repeat(9 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 431);
    let problem: Value = res.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("x-padding"),
        "{problem}"
    );
    // Headers together past 64 KiB, each small.
    let mut req = sys.http.get(sys.url("/v1/patients")).bearer_auth(&token);
    for i in 0..20 {
        req = req.header(format!("x-padding-{i}"), "p".repeat(4 * 1024));
    }
    match req.send().await {
        Ok(res) => assert_eq!(res.status(), 431),
        // The server may close the connection once the head is past its buffer.
        Err(e) => assert!(e.is_request() || e.is_connect(), "{e}"),
    }
    // gRPC: one metadata entry past 8 KiB.
    let mut grpc = PatientServiceClient::new(sys.grpc_channel().await);
    let mut padded = with_bearer(iop_proto::records::ListPatientsRequest::default(), &token);
    padded
        .metadata_mut()
        .insert("x-padding", "p".repeat(9 * 1024).parse().unwrap());
    let refused = grpc.list_patients(padded).await.unwrap_err();
    assert_eq!(
        refused.code(),
        tonic::Code::ResourceExhausted,
        "{refused:?}"
    );
    assert!(refused.message().contains("x-padding"), "{refused:?}");
    // gRPC: a message past the body limit (1 MiB).
    let mut patient = crate::grpc_patients::ana();
    patient.given_name = "a".repeat(2 * 1024 * 1024);
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
    assert!(
        matches!(
            refused.code(),
            tonic::Code::OutOfRange | tonic::Code::ResourceExhausted
        ),
        "{refused:?}"
    );
    // Ordinary calls go on.
    assert_eq!(get(&sys, &token, "/v1/patients").await.0, 200);
    sys.stop().await;
}

#[tokio::test]
async fn problems_quote_what_was_sent_only_briefly() {
    let sys = TestSystem::start().await;
    let token = sys.token("clinic-a", &["front_desk"]);
    // An unknown field whose name is 200 KB long, and a long unknown path.
    let mut body = crate::ana();
    body[&"f".repeat(200_000)] = json!(1);
    let (status, problem) = crate::create(&sys, &token, &body).await;
    assert_eq!(status, 400);
    assert!(
        problem.to_string().len() < 3_000,
        "{} bytes",
        problem.to_string().len()
    );
    let (status, problem) = get(&sys, &token, &format!("/v1/{}", "p".repeat(20_000))).await;
    assert_eq!(status, 404);
    assert!(problem.to_string().len() < 3_000);
    sys.stop().await;
}
