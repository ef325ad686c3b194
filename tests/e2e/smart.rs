//! A SMART Backend Services client end to end: registered by an admin with an ES384 key, it
//! signs an assertion, gets a token and calls the API; every way to cheat is refused.

use iop_auth::SigningKey;
use iop_auth::keys::Curve;
use iop_testing::{TestSystem, unix_now};
use serde_json::{Value, json};

use crate::get;

pub(crate) fn admin_of(sys: &TestSystem, tenant: &str) -> String {
    staff_of(sys, tenant, "admin")
}

/// A program director: the role that may grant clients clinical (and referral) scopes.
pub(crate) fn director_of(sys: &TestSystem, tenant: &str) -> String {
    staff_of(sys, tenant, "program_director")
}

fn staff_of(sys: &TestSystem, tenant: &str, role: &str) -> String {
    let mut claims = sys.claims(tenant, &[role]);
    claims["scope"] = json!("user/*.cruds");
    sys.sign(claims)
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

pub(crate) async fn register(
    sys: &TestSystem,
    admin: &str,
    key: &SigningKey,
    scopes: &[&str],
) -> String {
    let res = sys
        .http
        .post(sys.url("/v1/clients"))
        .bearer_auth(admin)
        .json(&json!({ "name": "Acme EHR", "kind": "ehr", "jwks": key.jwks(), "scopes": scopes }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    body["client_id"].as_str().unwrap().to_owned()
}

pub(crate) fn assertion(
    sys: &TestSystem,
    key: &SigningKey,
    client_id: &str,
    patch: Value,
) -> String {
    let mut claims = json!({
        "iss": client_id, "sub": client_id, "aud": sys.url("/oauth2/token"),
        "exp": unix_now() + 240, "jti": uuid_like(),
    });
    claims
        .as_object_mut()
        .unwrap()
        .extend(patch.as_object().unwrap().clone());
    key.sign(&claims).unwrap()
}

/// A token for `system/Patient.rs` with a new assertion of `client_id`.
async fn fresh_token(sys: &TestSystem, key: &SigningKey, client_id: &str) -> (u16, Value) {
    token(
        sys,
        &assertion(sys, key, client_id, json!({})),
        "system/Patient.rs",
    )
    .await
}

/// Disables a client (as `admin`); the status.
async fn disable(sys: &TestSystem, admin: &str, client_id: &str) -> u16 {
    sys.http
        .patch(sys.url(&format!("/v1/clients/{client_id}")))
        .bearer_auth(admin)
        .json(&json!({ "enabled": false }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn uuid_like() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

pub(crate) async fn token(sys: &TestSystem, assertion: &str, scope: &str) -> (u16, Value) {
    let res = sys
        .http
        .post(sys.url("/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion),
            ("scope", scope),
        ])
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    if status == 200 {
        assert_eq!(res.headers()["cache-control"], "no-store");
    }
    (status, res.json().await.unwrap())
}

#[tokio::test]
async fn backend_client_gets_a_token_with_a_signed_assertion_and_cheats_are_refused() {
    let sys = TestSystem::start().await;
    let admin = admin_of(&sys, "clinic-a");
    let key = SigningKey::generate_curve(Curve::P384).unwrap();
    let client_id = register(&sys, &admin, &key, &["system/Patient.rs"]).await;

    let (_, discovery) = get(&sys, &admin, "/.well-known/smart-configuration").await;
    assert_eq!(discovery["token_endpoint"], sys.url("/oauth2/token"));

    // The happy path: only the allowed part of the requested scopes is granted.
    let good = assertion(&sys, &key, &client_id, json!({}));
    let (status, body) = token(&sys, &good, "system/Patient.rs system/Patient.cud").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["scope"], "system/Patient.rs");
    assert!(body["expires_in"].as_i64().unwrap() <= 300);
    let access = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(get(&sys, &access, "/v1/patients").await.0, 200);
    let (status, problem) = crate::create(&sys, &access, &crate::ana()).await;
    assert_eq!(status, 403, "{problem}");
    assert_eq!(
        problem["detail"],
        "missing scope system/Patient.c (to create Patient)"
    );

    // Replayed assertion.
    let (status, body) = token(&sys, &good, "system/Patient.rs").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("already used")
    );

    let cases: Vec<(&str, String, &str)> = vec![
        (
            "exp 10 minutes out",
            assertion(&sys, &key, &client_id, json!({ "exp": unix_now() + 600 })),
            "five minutes",
        ),
        (
            "expired",
            assertion(&sys, &key, &client_id, json!({ "exp": unix_now() - 600 })),
            "expired",
        ),
        (
            // RFC 7523 §3: not to be accepted before its nbf.
            "nbf ahead",
            assertion(&sys, &key, &client_id, json!({ "nbf": unix_now() + 120 })),
            "not valid yet",
        ),
        (
            "wrong aud",
            assertion(
                &sys,
                &key,
                &client_id,
                json!({ "aud": "https://elsewhere/token" }),
            ),
            "audience",
        ),
        (
            "sub differs",
            assertion(&sys, &key, &client_id, json!({ "sub": "someone" })),
            "iss/sub",
        ),
        (
            "no jti",
            assertion(&sys, &key, &client_id, json!({ "jti": null })),
            "jti",
        ),
        (
            "unknown client",
            assertion(&sys, &key, "no-such-client", json!({})),
            "unknown client",
        ),
        (
            "key not registered",
            assertion(
                &sys,
                &SigningKey::generate_curve(Curve::P384).unwrap(),
                &client_id,
                json!({}),
            ),
            "unknown signing key",
        ),
    ];
    for (case, bad, reason) in cases {
        let (status, body) = token(&sys, &bad, "system/Patient.rs").await;
        assert_eq!(status, 401, "{case}: {body}");
        assert_eq!(body["error"], "invalid_client", "{case}");
        let description = body["error_description"].as_str().unwrap();
        assert!(description.contains(reason), "{case}: {description}");
    }

    let (status, body) = token(
        &sys,
        &assertion(&sys, &key, &client_id, json!({})),
        "system/AuditEvent.rs",
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    let res = sys
        .http
        .post(sys.url("/oauth2/token"))
        .form(&[("grant_type", "password"), ("username", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );

    // Disabling the client stops new tokens at once.
    assert_eq!(disable(&sys, &admin, &client_id).await, 200);
    let (status, body) = fresh_token(&sys, &key, &client_id).await;
    assert_eq!(status, 401);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("disabled")
    );
    sys.stop().await;
}

#[tokio::test]
async fn only_admins_register_clients_and_keys_must_be_public() {
    let sys = TestSystem::start().await;
    let admin = admin_of(&sys, "clinic-a");
    let mut desk = sys.claims("clinic-a", &["front_desk"]);
    desk["scope"] = json!("user/*.cruds");
    let desk = sys.sign(desk);
    let key = SigningKey::generate().unwrap();
    let body = json!({ "name": "Portal", "kind": "front_end", "jwks": key.jwks(), "scopes": ["system/Patient.rs"] });
    let res = sys
        .http
        .post(sys.url("/v1/clients"))
        .bearer_auth(&desk)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    let mut private = key.jwks();
    private["keys"][0]["d"] = json!("c2VjcmV0");
    let bad = json!({ "name": "", "kind": "ehr", "jwks": private, "scopes": ["user/Patient.rs", "system/Patient.rs"] });
    let res = sys
        .http
        .post(sys.url("/v1/clients"))
        .bearer_auth(&admin)
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let problem: Value = res.json().await.unwrap();
    for field in ["name", "jwks", "scopes[0]"] {
        crate::assert_problem_names(&problem, 400, field);
    }

    // Another clinic cannot see or change our clients.
    let id = register(&sys, &admin, &key, &["system/Patient.rs"]).await;
    let other = admin_of(&sys, "clinic-b");
    assert_eq!(get(&sys, &other, &format!("/v1/clients/{id}")).await.0, 404);
    let (_, list) = get(&sys, &other, "/v1/clients").await;
    assert_eq!(list["clients"], json!([]));
    let (_, ours) = get(&sys, &admin, "/v1/clients").await;
    assert_eq!(ours["clients"][0]["client_id"], id.as_str());
    assert!(ours["clients"][0]["jwks"]["keys"][0].get("d").is_none());
    sys.stop().await;
}

#[tokio::test]
async fn the_client_registry_over_grpc() {
    use iop_proto::clients::client_service_client::ClientServiceClient;
    use iop_proto::clients::{
        Client, ClientKind, CreateClientRequest, ListClientsRequest, UpdateClientRequest,
    };
    let sys = TestSystem::start().await;
    let admin = director_of(&sys, "clinic-a");
    let mut grpc = ClientServiceClient::new(sys.grpc_channel().await);
    let key = SigningKey::generate_curve(Curve::P384).unwrap();
    let new = Client {
        name: "Hospital referrals".into(),
        kind: ClientKind::ReferralPartner as i32,
        jwks_json: key.jwks().to_string(),
        scopes: vec!["system/ServiceRequest.cr".into()],
        ..Default::default()
    };
    let created = grpc
        .create_client(iop_testing::with_bearer(
            CreateClientRequest {
                client: Some(new.clone()),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(created.enabled);
    let listed = grpc
        .list_clients(iop_testing::with_bearer(
            ListClientsRequest::default(),
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.clients, vec![created.clone()]);
    assert_eq!(listed.next_page_token, "");
    let status = grpc
        .list_clients(iop_testing::with_bearer(
            ListClientsRequest {
                page_size: -1,
                page_token: String::new(),
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let disabled = grpc
        .update_client(iop_testing::with_bearer(
            UpdateClientRequest {
                client: Some(Client {
                    client_id: created.client_id.clone(),
                    enabled: false,
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["enabled".into()],
                }),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!disabled.enabled);
    assert_eq!(
        disabled.name, "Hospital referrals",
        "fields outside the mask are kept"
    );

    let (status, body) = token(
        &sys,
        &assertion(&sys, &key, &created.client_id, json!({})),
        "system/ServiceRequest.c",
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("disabled")
    );

    // A referral partner never gets patient data, whatever an admin tries to allow it.
    let too_much = Client {
        scopes: vec!["system/Patient.rs".into()],
        ..new.clone()
    };
    let err = grpc
        .create_client(iop_testing::with_bearer(
            CreateClientRequest {
                client: Some(too_much),
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(
        err.message().contains("referral partner"),
        "{}",
        err.message()
    );

    let clinician = {
        let mut c = sys.claims("clinic-a", &["clinician"]);
        c["scope"] = json!("user/*.cruds");
        sys.sign(c)
    };
    let err = grpc
        .create_client(iop_testing::with_bearer(
            CreateClientRequest { client: Some(new) },
            &clinician,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    sys.stop().await;
}

#[tokio::test]
async fn registry_changes_and_token_requests_are_audited() {
    let sys = TestSystem::start().await;
    let admin = admin_of(&sys, "clinic-a");
    let mut desk = sys.claims("clinic-a", &["front_desk"]);
    desk["sub"] = json!("desk-1");
    desk["scope"] = json!("user/*.cruds");
    let desk = sys.sign(desk);
    let key = SigningKey::generate_curve(Curve::P384).unwrap();

    let id = register(&sys, &admin, &key, &["system/Patient.rs"]).await;
    let res = sys
        .http
        .post(sys.url("/v1/clients"))
        .bearer_auth(&desk)
        .json(&json!({ "name": "Rogue", "kind": "ehr", "jwks": key.jwks(), "scopes": [] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let (status, _) = fresh_token(&sys, &key, &id).await;
    assert_eq!(status, 200);
    assert_eq!(disable(&sys, &admin, &id).await, 200);
    let (status, _) = fresh_token(&sys, &key, &id).await;
    assert_eq!(status, 401);

    let (status, body) = get(&sys, &admin, "/v1/audit-events?page_size=100").await;
    assert_eq!(status, 200, "{body}");
    let seen: Vec<(&str, &str, &str, &str)> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource_type"] == "Client")
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["subject"].as_str().unwrap(),
                e["resource_id"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            // A registry change: its attempt before it is made, its outcome after.
            ("client.create", "test-user", "", "attempted"),
            ("client.create", "test-user", id.as_str(), "success"),
            ("client.create", "desk-1", "", "denied"),
            ("token.issue", id.as_str(), id.as_str(), "success"),
            ("client.update", "test-user", id.as_str(), "attempted"),
            ("client.update", "test-user", id.as_str(), "success"),
            ("token.issue", id.as_str(), id.as_str(), "denied"),
        ]
    );
    // The search by client finds the client's own calls (its token requests), nothing else.
    let (status, body) = get(&sys, &admin, &format!("/v1/audit-events?client_id={id}")).await;
    assert_eq!(status, 200, "{body}");
    let actions: Vec<&str> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["token.issue", "token.issue"]);
    sys.stop().await;
}

#[tokio::test]
async fn a_rotated_signing_key_signs_at_once_and_the_old_one_still_verifies() {
    let sys =
        TestSystem::start_with(|c| c.key_reload_every = std::time::Duration::from_millis(50)).await;
    let admin = admin_of(&sys, "clinic-a");
    let key = SigningKey::generate_curve(Curve::P384).unwrap();
    let client_id = register(&sys, &admin, &key, &["system/Patient.rs"]).await;
    let kid = |token: &str| jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    let access_token = || async {
        let (status, body) = fresh_token(&sys, &key, &client_id).await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    };
    let before = access_token().await;
    let old_kid = kid(&before);

    // `iop keys rotate` on the running system's key directory.
    let new_kid =
        iop_auth::keys::KeyRing::rotate(&iop::signing_key_path(&sys.data_dir.path().join("data")))
            .unwrap();
    assert_ne!(new_kid, old_kid);
    let mut published = Vec::new();
    for _ in 0..100 {
        let (_, jwks) = get(&sys, &admin, "/.well-known/jwks.json").await;
        published = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect();
        if published.first() == Some(&new_kid) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(published, [new_kid.clone(), old_kid.clone()]);

    // New tokens carry the new key and are accepted; tokens of the retired key still are.
    let after = access_token().await;
    assert_eq!(kid(&after), new_kid);
    assert_eq!(get(&sys, &after, "/v1/patients").await.0, 200);
    assert_eq!(get(&sys, &before, "/v1/patients").await.0, 200);
    assert_eq!(get(&sys, &admin, "/v1/clients").await.0, 200);
    sys.stop().await;
}

#[tokio::test]
async fn a_token_of_a_key_rotated_a_moment_ago_is_accepted_at_once() {
    // The periodic reload (every 10 s by default) has not run yet when the token arrives.
    let sys = TestSystem::start().await;
    let path = iop::signing_key_path(&sys.data_dir.path().join("data"));
    let old_kid = iop_auth::keys::KeyRing::load(&path)
        .unwrap()
        .current
        .kid()
        .to_owned();
    let new_kid = iop_auth::keys::KeyRing::rotate(&path).unwrap();
    // What `iop token` does right after `iop keys rotate`.
    let minted = SigningKey::load_or_create(&path).unwrap();
    assert_eq!(minted.kid(), new_kid);
    let token = minted.sign(&sys.claims("clinic-a", &["admin"])).unwrap();

    let (status, body) = get(&sys, &token, "/v1/patients").await;
    assert_eq!(status, 200, "{body}");
    let (_, jwks) = get(&sys, &token, "/.well-known/jwks.json").await;
    let published: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(published, [new_kid.as_str(), old_kid.as_str()]);

    // A key id that exists nowhere is still refused, with the reason.
    let mut forged = sys.claims("clinic-a", &["admin"]);
    forged["jti"] = json!("forged");
    let other = SigningKey::generate().unwrap();
    let (status, body) = get(&sys, &other.sign(&forged).unwrap(), "/v1/patients").await;
    assert_eq!(status, 401);
    assert!(body["detail"].as_str().unwrap().contains("key"), "{body}");
    sys.stop().await;
}

#[tokio::test]
async fn the_client_list_is_paged() {
    let sys = TestSystem::start().await;
    let admin = admin_of(&sys, "clinic-a");
    let key = SigningKey::generate().unwrap();
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(register(&sys, &admin, &key, &["system/Patient.rs"]).await);
    }
    let mut seen = Vec::new();
    let mut url = "/v1/clients?page_size=2".to_owned();
    loop {
        let (status, page) = get(&sys, &admin, &url).await;
        assert_eq!(status, 200, "{page}");
        let clients = page["clients"].as_array().unwrap();
        assert!(clients.len() <= 2);
        seen.extend(
            clients
                .iter()
                .map(|c| c["client_id"].as_str().unwrap().to_owned()),
        );
        match page["next_page_token"].as_str() {
            Some(token) => url = format!("/v1/clients?page_size=2&page_token={token}"),
            None => break,
        }
    }
    assert_eq!(seen, ids, "every client once, oldest first");

    let (status, problem) = get(&sys, &admin, "/v1/clients?page_size=-1").await;
    assert_eq!(status, 400);
    crate::assert_problem_names(&problem, 400, "page_size");
    let (status, problem) = get(&sys, &admin, "/v1/clients?page_token=bogus").await;
    assert_eq!(status, 422);
    crate::assert_problem_names(&problem, 422, "page_token");
    let (status, problem) = get(&sys, &admin, "/v1/clients?limit=2").await;
    assert_eq!(status, 400, "{problem}");
    sys.stop().await;
}

/// An RSA client key (2048 bits) as the registry stores it and a signer for assertions.
fn rsa_client(alg: &'static str) -> (Value, impl Fn(&Value) -> String) {
    use aws_lc_rs::rsa::{KeyPair, KeySize};
    use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256, RSA_PKCS1_SHA384};
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
    let public = pair.public_key();
    let jwks = json!({ "keys": [{ "kty": "RSA", "kid": "rsa-1", "alg": alg,
        "n": b64(public.modulus().big_endian_without_leading_zero()),
        "e": b64(public.exponent().big_endian_without_leading_zero()) }] });
    let sign = move |claims: &Value| {
        let header = json!({ "alg": alg, "typ": "JWT", "kid": "rsa-1" });
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let padding = if alg == "RS384" {
            &RSA_PKCS1_SHA384
        } else {
            &RSA_PKCS1_SHA256
        };
        let mut sig = vec![0; pair.public_modulus_len()];
        pair.sign(
            padding,
            &aws_lc_rs::rand::SystemRandom::new(),
            input.as_bytes(),
            &mut sig,
        )
        .unwrap();
        format!("{input}.{}", b64(&sig))
    };
    (jwks, sign)
}

#[tokio::test]
async fn rs384_rs256_and_es256_clients_get_tokens_too() {
    let sys = TestSystem::start().await;
    let admin = admin_of(&sys, "clinic-a");
    let claims_for = |client_id: &str| {
        json!({ "iss": client_id, "sub": client_id, "aud": sys.url("/oauth2/token"),
            "exp": unix_now() + 240, "jti": uuid_like() })
    };
    for alg in ["RS384", "RS256"] {
        let (jwks, sign) = rsa_client(alg);
        let res = sys
            .http
            .post(sys.url("/v1/clients"))
            .bearer_auth(&admin)
            .json(&json!({ "name": alg, "kind": "ehr", "jwks": jwks, "scopes": ["system/Patient.rs"] }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let id = res.json::<Value>().await.unwrap()["client_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (status, body) = token(&sys, &sign(&claims_for(&id)), "system/Patient.rs").await;
        assert_eq!(status, 200, "{alg}: {body}");
        let access = body["access_token"].as_str().unwrap();
        assert_eq!(get(&sys, access, "/v1/patients").await.0, 200, "{alg}");
    }
    let es256 = SigningKey::generate().unwrap();
    let id = register(&sys, &admin, &es256, &["system/Patient.rs"]).await;
    let (status, body) = fresh_token(&sys, &es256, &id).await;
    assert_eq!(status, 200, "ES256: {body}");
    sys.stop().await;
}

/// No privilege escalation through clients: an admin (no clinical rights) cannot register a
/// client that reads clinical data, nor take over such a client by giving it new keys; a
/// program director can register it; anyone managing clients may disable it; and a backend
/// client never reaches the registry, whatever its scopes.
#[tokio::test]
async fn no_one_grants_a_client_more_than_they_hold_and_clients_never_manage_clients() {
    let sys = TestSystem::start().await;
    let admin = admin_of(&sys, "clinic-a");
    let director = director_of(&sys, "clinic-a");
    let key = SigningKey::generate().unwrap();
    let ehr = |scopes: &[&str]| json!({ "name": "EHR", "kind": "ehr", "jwks": key.jwks(), "scopes": scopes });
    let post = |token: &str, body: Value| {
        sys.http
            .post(sys.url("/v1/clients"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let clinical = ["system/Patient.rs", "system/DocumentReference.rs"];
    let res = post(&admin, ehr(&clinical)).await.unwrap();
    assert_eq!(res.status(), 403);
    let problem: Value = res.json().await.unwrap();
    assert_eq!(
        problem["detail"],
        "role admin may not grant system/DocumentReference.rs: it may not read DocumentReference itself"
    );
    let res = post(&admin, ehr(&["system/*.rs"])).await.unwrap();
    assert_eq!(res.status(), 403, "a wildcard holds every resource");
    // Within the admin's own rights: demographics.
    let res = post(&admin, ehr(&["system/Patient.rs"])).await.unwrap();
    assert_eq!(res.status(), 201);

    let res = post(&director, ehr(&clinical)).await.unwrap();
    assert_eq!(res.status(), 201);
    let client: Value = res.json().await.unwrap();
    let id = client["client_id"].as_str().unwrap();
    let patch = |token: &str, body: Value| {
        sys.http
            .patch(sys.url(&format!("/v1/clients/{id}")))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let attacker = SigningKey::generate().unwrap();
    let res = patch(&admin, json!({ "jwks": attacker.jwks() }))
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        403,
        "new keys would hand over the clinical scopes"
    );
    let res = patch(&admin, json!({ "enabled": false })).await.unwrap();
    assert_eq!(res.status(), 200, "disabling takes rights away: anyone may");
    let res = patch(&director, json!({ "enabled": true })).await.unwrap();
    assert_eq!(res.status(), 200);

    // The clinical client's own token, even with every system scope asked for and granted,
    // does not reach the registry.
    let (status, body) = fresh_token(&sys, &key, id).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap();
    let mut claims = sys.claims("clinic-a", &[]);
    claims["scope"] = json!("system/*.cruds");
    claims["sub"] = json!(id);
    let wide = sys.sign(claims);
    for t in [token, wide.as_str()] {
        let res = post(t, ehr(&["system/Patient.rs"])).await.unwrap();
        assert_eq!(res.status(), 403);
        let problem: Value = res.json().await.unwrap();
        assert_eq!(
            problem["detail"],
            "backend clients may not create Client: only staff users may"
        );
        let (status, _) = get(&sys, t, "/v1/clients").await;
        assert_eq!(status, 403);
    }
    sys.stop().await;
}
