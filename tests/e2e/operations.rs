use std::time::{Duration, Instant};

use iop_testing::TestSystem;
use serde_json::Value;

#[tokio::test]
async fn health_readiness_and_openapi_are_served_without_a_token() {
    let sys = TestSystem::start().await;
    let health: Value = sys
        .http
        .get(sys.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let ready = sys.http.get(sys.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let checks: Value = ready.json().await.unwrap();
    assert_eq!(checks["checks"]["records"], "serving");
    assert_eq!(checks["checks"]["database"], "reachable");

    let doc: Value = sys
        .http
        .get(sys.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in ["/v1/patients", "/v1/patients/{id}"] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["paths"]["/v1/patients/{id}"]["patch"].is_object());
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    let jwks: Value = sys
        .http
        .get(sys.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kid"], sys.key.kid());
    assert!(
        jwks["keys"][0].get("d").is_none(),
        "private part must never be published"
    );

    let res = sys
        .http
        .get(sys.url("/v1/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let res = sys
        .http
        .delete(sys.url("/v1/patients"))
        .bearer_auth(sys.token("clinic-a", &["admin"]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    sys.stop().await;
}

#[tokio::test]
async fn request_ids_are_the_gateways_own_and_oversized_bodies_are_413() {
    let sys = TestSystem::start_with(|c| c.body_limit = 4096).await;
    let token = sys.token("clinic-a", &["front_desk"]);
    let res = sys
        .http
        .get(sys.url("/v1/patients"))
        .bearer_auth(&token)
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    // The gateway's own id is unique whatever clients send; theirs comes back beside it.
    assert_eq!(res.headers()["x-correlation-id"], "trace-me-123");
    let ours = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(ours, "trace-me-123");
    assert!(uuid::Uuid::parse_str(&ours).is_ok(), "{ours}");

    let mut body = crate::ana();
    body["preferred_name"] = Value::String("x".repeat(10_000));
    let res = sys
        .http
        .post(sys.url("/v1/patients"))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["type"], "urn:iop:problem:payload-too-large");
    sys.stop().await;
}

#[tokio::test]
async fn dead_records_service_makes_the_gateway_answer_503_quickly() {
    // A gateway whose records service is not running: a port we bound and released.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let keys = std::sync::Arc::new(iop_auth::keys::KeyRing {
        current: iop_auth::SigningKey::generate().unwrap(),
        retired: vec![],
    });
    let config = iop_gateway::Config {
        issuer: iop::DEFAULT_ISSUER.into(),
        audience: iop::DEFAULT_AUDIENCE.into(),
        keys: keys.clone(),
        key_file: None,
        key_reload_every: iop::KEY_RELOAD_EVERY,
        internal_key: std::sync::Arc::new(iop_auth::InternalKey::generate()),
        trusted_issuers: vec![],
        // Every backend on the dead port: none is running.
        backends: iop_gateway::backends::BACKENDS
            .iter()
            .map(|b| iop_gateway::BackendUrl {
                name: b.name.into(),
                url: format!("http://127.0.0.1:{port}"),
            })
            .collect(),
        database_url: iop::gateway_database_url(dir.path()),
        downstream_timeout: Duration::from_secs(60),
        body_limit: 1 << 20,
        cors_origins: vec![],
        public_url: "http://127.0.0.1".into(),
        rate_limits: iop_gateway::RateLimits::off(),
        connections: iop_gateway::ConnectionLimits::default(),
        audit_keys: std::sync::Arc::new(iop_gateway::audit::AuditKeys::generate().unwrap()),
        audit_checkpoints: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(iop_gateway::serve(config, listener, async {
        let _ = rx.await;
    }));
    let http = reqwest::Client::new();
    let ready = http
        .get(format!("http://{addr}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);

    let roles = vec!["admin".to_owned()];
    let scopes = vec!["user/*.cruds".to_owned()];
    let token = keys
        .current
        .mint(&iop_auth::keys::Grant {
            issuer: iop::DEFAULT_ISSUER,
            audience: iop::DEFAULT_AUDIENCE,
            tenant: "clinic-a",
            subject: "u",
            roles: &roles,
            scopes: &scopes,
            client_id: None,
            ttl_secs: 60,
        })
        .unwrap();
    let started = Instant::now();
    let res = http
        .get(format!("http://{addr}/v1/patients"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["type"], "urn:iop:problem:unavailable");
    assert_eq!(
        problem["detail"], "the records service is unavailable; retry shortly",
        "names what failed, and no internal address"
    );
    // Generous bound: the point is "not the 60 s deadline", not a benchmark.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    drop(dir);
    let _ = tx.send(());
    server.await.unwrap().unwrap();
}

/// Holds the records database's write lock (SQLite) or an exclusive lock on `patients`
/// (PostgreSQL) until dropped: creates wait behind it for as long as it is held.
pub async fn lock_patients(url: &str) -> sqlx::AnyConnection {
    use sqlx::{Connection, Executor};
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    if url.starts_with("sqlite:") {
        conn.execute("BEGIN IMMEDIATE").await.unwrap();
    } else {
        conn.execute("BEGIN").await.unwrap();
        conn.execute("LOCK TABLE patients IN ACCESS EXCLUSIVE MODE")
            .await
            .unwrap();
    }
    conn
}

#[tokio::test]
async fn a_service_slower_than_the_deadline_is_504_and_deadline_exceeded() {
    use iop_proto::records::CreatePatientRequest;
    use iop_proto::records::patient_service_client::PatientServiceClient;
    let sys = TestSystem::start_with(|c| c.downstream_timeout = Duration::from_millis(300)).await;
    let token = sys.token("clinic-a", &["front_desk"]);
    let lock = lock_patients(sys.database_url("records")).await;

    let started = Instant::now();
    let (status, problem) = crate::create(&sys, &token, &crate::ana()).await;
    assert_eq!(status, 504, "{problem}");
    assert_eq!(problem["type"], "urn:iop:problem:deadline-exceeded");
    assert_eq!(
        problem["detail"],
        "the records service did not answer in time"
    );
    assert!(started.elapsed() < Duration::from_secs(3));

    let mut client = PatientServiceClient::new(sys.grpc_channel().await);
    let refused = client
        .create_patient(iop_testing::with_bearer(
            CreatePatientRequest {
                patient: Some(crate::grpc_patients::ana()),
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::DeadlineExceeded, "{refused:?}");
    assert!(refused.message().contains("records service"));
    drop(lock);
    sys.stop().await;
}

#[tokio::test]
async fn clients_over_their_rate_get_429_with_retry_after() {
    let sys = TestSystem::start_with(|c| {
        c.rate_limits.per_client_per_minute = 1;
        c.rate_limits.per_client_burst = 2;
    })
    .await;
    let busy = sys.token("clinic-a", &["front_desk"]);
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let res = sys
            .http
            .get(sys.url("/v1/patients"))
            .bearer_auth(&busy)
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
        if res.status() == 429 {
            let secs: u64 = res.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=60).contains(&secs), "{secs}");
            let problem: Value = res.json().await.unwrap();
            assert_eq!(problem["type"], "urn:iop:problem:resource-exhausted");
        }
    }
    assert_eq!(statuses, [200, 200, 429]);

    // Another user of the same clinic has a bucket of their own.
    let mut claims = sys.claims("clinic-a", &["front_desk"]);
    claims["sub"] = serde_json::json!("someone-else");
    let other = sys.sign(claims);
    let res = sys
        .http
        .get(sys.url("/v1/patients"))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // gRPC shares the bucket.
    let mut client = iop_proto::records::patient_service_client::PatientServiceClient::new(
        sys.grpc_channel().await,
    );
    let err = client
        .list_patients(iop_testing::with_bearer(
            iop_proto::records::ListPatientsRequest::default(),
            &busy,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::ResourceExhausted);
    assert!(err.metadata().get("retry-after").is_some());
    sys.stop().await;
}

#[tokio::test]
async fn cors_lets_configured_front_ends_in_and_no_one_else() {
    let sys =
        TestSystem::start_with(|c| c.cors_origins = vec!["https://app.clinic.example".into()])
            .await;
    let preflight = |origin: &'static str| {
        sys.http
            .request(reqwest::Method::OPTIONS, sys.url("/v1/patients"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization, content-type, idempotency-key",
            )
            .send()
    };
    let ok = preflight("https://app.clinic.example").await.unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://app.clinic.example"
    );
    let allowed_headers = ok.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        allowed_headers.contains("idempotency-key"),
        "{allowed_headers}"
    );
    let other = preflight("https://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    // A real request from the front end sees the headers it needs.
    let res = sys
        .http
        .get(sys.url("/v1/patients"))
        .header("Origin", "https://app.clinic.example")
        .bearer_auth(sys.token("clinic-a", &["front_desk"]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://app.clinic.example"
    );
    assert!(
        res.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("x-request-id")
    );
    sys.stop().await;
}

/// The services a reflection client finds at `channel`, asking in protocol v1 and v1alpha
/// (which many tools still speak only); both must say the same.
async fn reflected(channel: tonic::transport::Channel) -> Vec<String> {
    use tonic_reflection::pb::{v1, v1alpha};
    let ask = v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut client = v1::server_reflection_client::ServerReflectionClient::new(channel.clone());
    let answer = client
        .server_reflection_info(futures::stream::iter([ask]))
        .await
        .unwrap()
        .into_inner()
        .message()
        .await
        .unwrap()
        .unwrap();
    let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        answer.message_response
    else {
        panic!("not a service list: {answer:?}");
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();

    let ask = v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    };
    let mut client = v1alpha::server_reflection_client::ServerReflectionClient::new(channel);
    let answer = client
        .server_reflection_info(futures::stream::iter([ask]))
        .await
        .unwrap()
        .into_inner()
        .message()
        .await
        .unwrap()
        .unwrap();
    let Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        answer.message_response
    else {
        panic!("not a service list: {answer:?}");
    };
    let mut alpha: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    alpha.sort();
    assert_eq!(alpha, names, "v1alpha and v1 disagree");
    names
}

/// gRPC reflection lists exactly what each server serves, in v1 and v1alpha: the gateway
/// its client-facing services, never the internal calls between our own processes, which it
/// does not route either; the records service its own.
#[tokio::test]
async fn reflection_lists_what_the_gateway_serves_and_nothing_internal() {
    let sys = TestSystem::start().await;
    let names = reflected(sys.grpc_channel().await).await;
    for served in [
        "iop.records.v1.PatientService",
        "iop.records.v1.NoteService",
        "iop.audit.v1.AuditService",
        "iop.clients.v1.ClientService",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == served),
            "{served} missing: {names:?}"
        );
    }
    assert!(
        !names.iter().any(|n| n.starts_with("iop.internal.")),
        "{names:?}"
    );

    let records =
        tonic::transport::Endpoint::from_shared(format!("http://{}", sys.service_addr("records")))
            .unwrap()
            .connect()
            .await
            .unwrap();
    let names = reflected(records).await;
    assert!(names.iter().any(|n| n == "iop.records.v1.PatientService"));
    assert!(
        names
            .iter()
            .any(|n| n == "iop.internal.v1.ResourceOwnerService")
    );
    assert!(
        !names.iter().any(|n| n.starts_with("iop.audit.")),
        "{names:?}"
    );

    // Nor is it routed, even with a valid token.
    let token = sys.token("clinic-a", &["admin"]);
    let mut grpc = tonic::client::Grpc::new(sys.grpc_channel().await);
    grpc.ready().await.unwrap();
    let err = grpc
        .unary(
            iop_testing::with_bearer((), &token),
            http::uri::PathAndQuery::from_static(
                "/iop.internal.v1.ResourceOwnerService/GetResourceOwner",
            ),
            tonic_prost::ProstCodec::<(), ()>::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented, "{err:?}");
    sys.stop().await;
}
