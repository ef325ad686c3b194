use base64::Engine as _;
use iop_auth::SigningKey;
use iop_proto::records::patient_service_client::PatientServiceClient;
use iop_proto::records::{GetPatientRequest, ListPatientsRequest};
use iop_testing::{TestSystem, unix_now, with_bearer};
use serde_json::{Value, json};

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

/// Every kind of bad token, with the words its 401 must contain.
fn bad_tokens(sys: &TestSystem) -> Vec<(&'static str, String, &'static str)> {
    let now = unix_now();
    let with = |patch: Value| {
        let mut c = sys.claims("clinic-a", &["admin"]);
        c.as_object_mut()
            .unwrap()
            .extend(patch.as_object().unwrap().clone());
        c
    };
    let stranger = SigningKey::generate().unwrap();
    let mut hs_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs_header.kid = Some(sys.key.kid().to_owned());
    let hmac = jsonwebtoken::encode(
        &hs_header,
        &with(json!({})),
        &jsonwebtoken::EncodingKey::from_secret(
            serde_json::to_string(&sys.key.public_jwk())
                .unwrap()
                .as_bytes(),
        ),
    )
    .unwrap();
    vec![
        (
            "expired",
            sys.sign(with(json!({ "exp": now - 3600, "nbf": now - 7200 }))),
            "expired",
        ),
        (
            "wrong audience",
            sys.sign(with(json!({ "aud": "https://other.example" }))),
            "audience",
        ),
        (
            "wrong issuer",
            sys.sign(with(json!({ "iss": "https://evil.example" }))),
            "issuer",
        ),
        (
            "not yet valid",
            sys.sign(with(json!({ "nbf": now + 3600 }))),
            "not valid yet",
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&json!({ "alg": "none", "typ": "JWT" })),
                b64(&with(json!({}))),
            ),
            "none",
        ),
        ("hmac with public key", hmac, "HS256"),
        (
            "unknown kid",
            stranger.sign(&with(json!({}))).unwrap(),
            "unknown signing key",
        ),
        (
            "no tenant",
            sys.sign(with(json!({ "tenant": null }))),
            "tenant",
        ),
        ("garbage", "not.a.jwt".to_owned(), "malformed"),
    ]
}

#[tokio::test]
async fn rest_refuses_every_bad_token_with_401_and_a_reason() {
    let sys = TestSystem::start().await;
    let res = sys.http.get(sys.url("/v1/patients")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["detail"], "missing bearer token");

    let res = sys
        .http
        .get(sys.url("/v1/patients"))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    for (case, token, reason) in bad_tokens(&sys) {
        let res = sys
            .http
            .get(sys.url("/v1/patients"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{case}");
        assert_eq!(
            res.headers()["content-type"],
            "application/problem+json",
            "{case}"
        );
        assert!(
            res.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("invalid_token"),
            "{case}"
        );
        let problem: Value = res.json().await.unwrap();
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.contains(reason),
            "{case}: {detail:?} lacks {reason:?}"
        );
    }
    sys.stop().await;
}

#[tokio::test]
async fn grpc_refuses_every_bad_token_with_unauthenticated() {
    let sys = TestSystem::start().await;
    let mut client = PatientServiceClient::new(sys.grpc_channel().await);
    let err = client
        .list_patients(tonic::Request::new(ListPatientsRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert_eq!(err.message(), "missing bearer token");
    for (case, token, reason) in bad_tokens(&sys) {
        let err = client
            .get_patient(with_bearer(GetPatientRequest { id: "x".into() }, &token))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unauthenticated, "{case}");
        assert!(
            err.message().contains(reason),
            "{case}: {:?}",
            err.message()
        );
    }
    // Health checks need no token.
    let mut health = tonic_health::pb::health_client::HealthClient::new(sys.grpc_channel().await);
    let res = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap();
    assert_eq!(
        res.get_ref().status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    sys.stop().await;
}

#[tokio::test]
async fn records_service_refuses_calls_that_skip_the_gateway() {
    let sys = TestSystem::start().await;
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://{}", sys.service_addr("records")))
            .unwrap()
            .connect()
            .await
            .unwrap();
    let mut client = PatientServiceClient::new(channel);
    // A perfectly good user token is not an internal principal.
    let token = sys.token("clinic-a", &["admin"]);
    let err = client
        .list_patients(with_bearer(ListPatientsRequest::default(), &token))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);

    // Nor is a principal sealed with another key.
    let forged_key = iop_auth::InternalKey::generate();
    let principal = iop_core_principal();
    let mut req = tonic::Request::new(ListPatientsRequest::default());
    req.metadata_mut().insert(
        iop_auth::PRINCIPAL_HEADER,
        forged_key.seal(&principal).parse().unwrap(),
    );
    let err = client.list_patients(req).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert!(err.message().contains("bad seal"));
    sys.stop().await;
}

fn iop_core_principal() -> iop_core::Principal {
    iop_core::Principal {
        tenant: iop_core::TenantId::parse("clinic-a").unwrap(),
        subject: "mallory".into(),
        client_id: None,
        issuer: "urn:iop:gateway".into(),
        roles: vec!["admin".into()],
        scopes: vec![],
        request_id: "r".into(),
        source_addr: None,
    }
}

#[tokio::test]
async fn tokens_of_a_trusted_external_issuer_are_accepted() {
    let idp = SigningKey::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let jwks_file = dir.path().join("sso.json");
    std::fs::write(&jwks_file, serde_json::to_vec(&idp.jwks()).unwrap()).unwrap();
    let sys = TestSystem::start_with(|c| {
        c.trusted_issuers.push(iop_auth::TrustedIssuer {
            issuer: "https://sso.clinic-a.example".into(),
            audience: "iop-clinic-a".into(),
            jwks_file: Some(jwks_file.clone()),
            jwks_uri: None,
            tenant: Some("clinic-a".into()),
            claims: Default::default(),
            max_lifetime_secs: iop_auth::verify::DEFAULT_MAX_LIFETIME_SECS,
        });
    })
    .await;
    let now = unix_now();
    let claims = json!({
        "iss": "https://sso.clinic-a.example", "aud": "iop-clinic-a", "sub": "nurse-7",
        "exp": now + 300, "nbf": now, "roles": ["clinician"], "scope": "user/Patient.cruds",
    });
    let token = idp.sign(&claims).unwrap();
    let (status, created) = crate::create(&sys, &token, &crate::ana()).await;
    assert_eq!(status, 201, "{created}");
    // The SSO's key is not good for our own issuer, and vice versa.
    let mut as_gateway = claims.clone();
    as_gateway["iss"] = json!(sys.issuer);
    as_gateway["aud"] = json!(sys.audience);
    as_gateway["tenant"] = json!("clinic-a");
    let res = sys
        .http
        .get(sys.url("/v1/patients"))
        .bearer_auth(idp.sign(&as_gateway).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    sys.stop().await;
}

/// A clinic's SSO publishing its keys at a `jwks_uri` (served here on loopback).
struct JwksServer {
    uri: String,
    jwks: std::sync::Arc<std::sync::Mutex<Value>>,
    fetches: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl JwksServer {
    async fn start(jwks: Value) -> Self {
        use std::sync::atomic::Ordering;
        let state = std::sync::Arc::new(std::sync::Mutex::new(jwks));
        let fetches = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let app = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get({
                let (state, fetches) = (state.clone(), fetches.clone());
                move || async move {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    axum::Json(state.lock().unwrap().clone())
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            uri,
            jwks: state,
            fetches,
        }
    }

    fn fetches(&self) -> usize {
        self.fetches.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[tokio::test]
async fn keys_of_an_issuer_at_a_jwks_uri_are_fetched_and_refetched_on_rotation() {
    let first = SigningKey::generate().unwrap();
    let idp = JwksServer::start(first.jwks()).await;
    let sys = TestSystem::start_with(|c| {
        c.trusted_issuers.push(iop_auth::TrustedIssuer {
            issuer: "https://sso.clinic-a.example".into(),
            audience: "iop-clinic-a".into(),
            jwks_file: None,
            jwks_uri: Some(idp.uri.clone()),
            tenant: Some("clinic-a".into()),
            claims: Default::default(),
            max_lifetime_secs: iop_auth::verify::DEFAULT_MAX_LIFETIME_SECS,
        });
    })
    .await;
    let now = unix_now();
    let claims = json!({
        "iss": "https://sso.clinic-a.example", "aud": "iop-clinic-a", "sub": "nurse-7",
        "exp": now + 300, "nbf": now, "roles": ["clinician"], "scope": "user/Patient.cruds",
    });
    let status = |token: String| {
        let req = sys.http.get(sys.url("/v1/patients")).bearer_auth(token);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    // The gateway fetched the keys when it started (give the fetch time to land).
    for _ in 0..100 {
        if idp.fetches() > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(idp.fetches(), 1);
    assert_eq!(status(first.sign(&claims).unwrap()).await, 200);
    assert_eq!(idp.fetches(), 1);

    // The IdP rotates: the first token with the new key makes the gateway fetch again.
    let second = SigningKey::generate().unwrap();
    let mut both = second.jwks();
    both["keys"]
        .as_array_mut()
        .unwrap()
        .extend(first.jwks()["keys"].as_array().unwrap().clone());
    *idp.jwks.lock().unwrap() = both;
    let fetched = idp.fetches();
    assert_eq!(status(second.sign(&claims).unwrap()).await, 200);
    assert_eq!(idp.fetches(), fetched + 1);
    assert_eq!(status(first.sign(&claims).unwrap()).await, 200);

    // Tokens naming keys that do not exist do not make the gateway hammer the IdP.
    let stranger = SigningKey::generate().unwrap();
    for _ in 0..5 {
        assert_eq!(status(stranger.sign(&claims).unwrap()).await, 401);
    }
    assert_eq!(idp.fetches(), fetched + 1);
    sys.stop().await;
}

#[test]
fn an_issuer_needs_exactly_one_key_source() {
    let issuer = |file: Option<&str>, uri: Option<&str>| iop_auth::TrustedIssuer {
        issuer: "https://sso.example".into(),
        audience: "iop".into(),
        jwks_file: file.map(Into::into),
        jwks_uri: uri.map(Into::into),
        tenant: None,
        claims: Default::default(),
        max_lifetime_secs: iop_auth::verify::DEFAULT_MAX_LIFETIME_SECS,
    };
    let mut v = iop_auth::Verifier::new();
    for (file, uri) in [
        (None, None),
        (Some("/etc/iop/sso.json"), Some("https://sso.example/jwks")),
        (None, Some("ftp://sso.example/jwks")),
    ] {
        let err = v.trust_issuer(&issuer(file, uri)).unwrap_err();
        assert!(err.contains("https://sso.example"), "{err}");
    }
    assert!(
        v.trust_issuer(&issuer(None, Some("https://sso.example/jwks")))
            .is_ok()
    );
}
