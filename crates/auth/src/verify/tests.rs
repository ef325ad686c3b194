use super::*;
use crate::keys::{Grant, SigningKey};
use crate::unix_now;
use serde_json::json;

const ISS: &str = "urn:iop:gateway";
const AUD: &str = "urn:iop:api";

fn setup() -> (SigningKey, Verifier) {
    let key = SigningKey::generate().unwrap();
    let mut v = Verifier::new();
    let jwks: JwkSet = serde_json::from_value(key.jwks()).unwrap();
    v.trust_jwks(ISS, AUD, &jwks);
    (key, v)
}

fn claims(overrides: serde_json::Value) -> serde_json::Value {
    let now = unix_now();
    let mut c = json!({
        "iss": ISS, "sub": "user-1", "aud": AUD, "exp": now + 300, "nbf": now, "iat": now,
        "jti": "j1", "tenant": "clinic-a", "roles": ["clinician"], "scope": "user/Patient.rs",
    });
    for (k, val) in overrides.as_object().unwrap() {
        if val.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = val.clone();
        }
    }
    c
}

fn b64(v: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

#[test]
fn minted_token_verifies_with_its_claims() {
    let (key, v) = setup();
    let roles = vec!["front_desk".to_owned()];
    let scopes = vec!["user/Patient.cru".to_owned()];
    let token = key
        .mint(&Grant {
            issuer: ISS,
            audience: AUD,
            tenant: "clinic-a",
            subject: "alice",
            roles: &roles,
            scopes: &scopes,
            client_id: None,
            ttl_secs: 60,
        })
        .unwrap();
    let ok = v.verify(&token).unwrap();
    assert_eq!(ok.tenant, "clinic-a");
    assert_eq!(ok.subject, "alice");
    assert_eq!(ok.roles, roles);
    assert_eq!(ok.scopes, scopes);
}

#[test]
fn audience_may_be_an_array() {
    let (key, v) = setup();
    let token = key.sign(&claims(json!({ "aud": ["other", AUD] }))).unwrap();
    assert!(v.verify(&token).is_ok());
}

#[test]
fn expired_token_is_refused_but_small_skew_is_tolerated() {
    let (key, v) = setup();
    let now = unix_now();
    let expired = key.sign(&claims(json!({ "exp": now - 120 }))).unwrap();
    assert_eq!(v.verify(&expired).unwrap_err(), AuthError::Expired);
    let skewed = key.sign(&claims(json!({ "exp": now - 5 }))).unwrap();
    assert!(v.verify(&skewed).is_ok());
}

#[test]
fn token_used_before_nbf_is_refused() {
    let (key, v) = setup();
    let token = key
        .sign(&claims(json!({ "nbf": unix_now() + 600 })))
        .unwrap();
    assert_eq!(v.verify(&token).unwrap_err(), AuthError::NotYetValid);
}

#[test]
fn wrong_audience_is_refused() {
    let (key, v) = setup();
    let token = key.sign(&claims(json!({ "aud": "someone-else" }))).unwrap();
    assert_eq!(
        v.verify(&token).unwrap_err(),
        AuthError::WrongAudience(AUD.into())
    );
}

#[test]
fn unknown_issuer_is_refused() {
    let (key, v) = setup();
    let token = key
        .sign(&claims(json!({ "iss": "https://evil.example" })))
        .unwrap();
    assert!(matches!(
        v.verify(&token).unwrap_err(),
        AuthError::UntrustedIssuer(_)
    ));
}

#[test]
fn alg_none_is_refused() {
    let (_key, v) = setup();
    let token = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims(json!({})))
    );
    assert_eq!(
        v.verify(&token).unwrap_err(),
        AuthError::Algorithm("\"none\"".into())
    );
}

#[test]
fn hmac_signed_with_the_public_key_is_refused() {
    let (key, v) = setup();
    let mut header = jsonwebtoken::Header::new(Algorithm::HS256);
    header.kid = Some(key.kid().to_owned());
    let secret = serde_json::to_vec(&key.public_jwk()).unwrap();
    let token = jsonwebtoken::encode(
        &header,
        &claims(json!({})),
        &jsonwebtoken::EncodingKey::from_secret(&secret),
    )
    .unwrap();
    assert_eq!(
        v.verify(&token).unwrap_err(),
        AuthError::Algorithm("\"HS256\"".into())
    );
}

#[test]
fn unknown_kid_is_refused() {
    let (_key, v) = setup();
    let stranger = SigningKey::generate().unwrap();
    let token = stranger.sign(&claims(json!({}))).unwrap();
    assert!(matches!(
        v.verify(&token).unwrap_err(),
        AuthError::UnknownKey(_)
    ));
}

#[test]
fn forged_signature_under_a_known_kid_is_refused() {
    let (key, v) = setup();
    let stranger = SigningKey::generate().unwrap();
    let forged = stranger.sign(&claims(json!({}))).unwrap();
    let genuine = key.sign(&claims(json!({}))).unwrap();
    // Our header (our kid), the stranger's payload and signature.
    let parts: Vec<&str> = forged.split('.').collect();
    let ours: Vec<&str> = genuine.split('.').collect();
    let token = format!("{}.{}.{}", ours[0], parts[1], parts[2]);
    assert_eq!(v.verify(&token).unwrap_err(), AuthError::InvalidSignature);
}

#[test]
fn tampered_payload_is_refused() {
    let (key, v) = setup();
    let genuine = key.sign(&claims(json!({}))).unwrap();
    let parts: Vec<&str> = genuine.split('.').collect();
    let token = format!(
        "{}.{}.{}",
        parts[0],
        b64(&claims(json!({"tenant": "clinic-b"}))),
        parts[2]
    );
    assert_eq!(v.verify(&token).unwrap_err(), AuthError::InvalidSignature);
}

#[test]
fn missing_tenant_or_exp_is_refused() {
    let (key, v) = setup();
    let token = key.sign(&claims(json!({ "tenant": null }))).unwrap();
    assert_eq!(
        v.verify(&token).unwrap_err(),
        AuthError::MissingClaim("tenant".into())
    );
    let token = key.sign(&claims(json!({ "exp": null }))).unwrap();
    assert_eq!(
        v.verify(&token).unwrap_err(),
        AuthError::MissingClaim("exp".into())
    );
}

#[test]
fn garbage_is_malformed() {
    let (_key, v) = setup();
    for t in ["", "abc", "a.b", "a.b.c.d", "!!.??.##"] {
        assert!(
            matches!(v.verify(t).unwrap_err(), AuthError::Malformed(_)),
            "{t}"
        );
    }
}

#[test]
fn external_issuer_from_jwks_file_with_fixed_tenant() {
    let idp = SigningKey::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idp.json");
    std::fs::write(&path, serde_json::to_vec(&idp.jwks()).unwrap()).unwrap();
    let mut v = Verifier::new();
    v.trust_issuer(&TrustedIssuer {
        issuer: "https://sso.clinic.example".into(),
        audience: "iop".into(),
        jwks_file: Some(path),
        jwks_uri: None,
        tenant: Some("clinic-a".into()),
        claims: ClaimNames::default(),
        max_lifetime_secs: crate::verify::DEFAULT_MAX_LIFETIME_SECS,
    })
    .unwrap();
    let base = json!({ "iss": "https://sso.clinic.example", "aud": "iop", "tenant": null });
    let ok = v.verify(&idp.sign(&claims(base.clone())).unwrap()).unwrap();
    assert_eq!(ok.tenant, "clinic-a");
    let mut other = base;
    other["tenant"] = json!("clinic-b");
    assert_eq!(
        v.verify(&idp.sign(&claims(other)).unwrap()).unwrap_err(),
        AuthError::InvalidClaim("tenant")
    );
}

#[test]
fn cached_verification_never_outlives_the_cache_entry() {
    let (key, v) = setup();
    let token = key.sign(&claims(json!({}))).unwrap();
    let first = v.verify(&token).unwrap();
    assert_eq!(v.verify(&token).unwrap(), first);
    // Age every entry past its deadline: the next call must verify in full again, and a
    // token that has meanwhile become invalid (here: an issuer we no longer trust) fails.
    for (_, until) in v.cache.lock().unwrap().values_mut() {
        *until = 0;
    }
    let mut stranger = Verifier::new();
    stranger.cache = std::sync::Mutex::new(std::mem::take(&mut *v.cache.lock().unwrap()));
    assert!(matches!(
        stranger.verify(&token).unwrap_err(),
        AuthError::UntrustedIssuer(_)
    ));
}

#[test]
fn expired_token_is_not_served_from_the_cache() {
    let (key, v) = setup();
    let token = key
        .sign(&claims(json!({ "exp": unix_now() - 120 })))
        .unwrap();
    assert_eq!(v.verify(&token).unwrap_err(), AuthError::Expired);
    assert_eq!(v.verify(&token).unwrap_err(), AuthError::Expired);
    assert!(v.cache.lock().unwrap().is_empty());
}

#[test]
fn an_issuers_own_claim_names_are_honoured() {
    // A Keycloak-like SSO: roles nested, client in `azp`, tenant in `org`, scopes in `scp`.
    let idp = SigningKey::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kc.json");
    std::fs::write(&path, serde_json::to_vec(&idp.jwks()).unwrap()).unwrap();
    let mut v = Verifier::new();
    v.trust_issuer(&TrustedIssuer {
        issuer: "https://kc.example/realms/clinic".into(),
        audience: "iop".into(),
        jwks_file: Some(path),
        jwks_uri: None,
        tenant: None,
        claims: ClaimNames {
            tenant: "org".into(),
            subject: "preferred_username".into(),
            roles: "realm_access.roles".into(),
            scope: "scp".into(),
            client_id: "azp".into(),
        },
        max_lifetime_secs: crate::verify::DEFAULT_MAX_LIFETIME_SECS,
    })
    .unwrap();
    let now = unix_now();
    let token = idp
        .sign(&json!({
            "iss": "https://kc.example/realms/clinic", "aud": "iop", "exp": now + 60, "sub": "f81d4fae",
            "preferred_username": "nurse.jo", "org": "clinic-a", "azp": "clinic-portal",
            "realm_access": { "roles": ["clinician", "offline_access"] },
            "scp": ["user/Patient.rs", "openid"],
        }))
        .unwrap();
    let ok = v.verify(&token).unwrap();
    assert_eq!(ok.subject, "nurse.jo");
    assert_eq!(ok.tenant, "clinic-a");
    assert_eq!(ok.roles, ["clinician", "offline_access"]);
    assert_eq!(ok.scopes, ["user/Patient.rs", "openid"]);
    assert_eq!(ok.client_id.as_deref(), Some("clinic-portal"));

    let wrong_type = idp
        .sign(&json!({
            "iss": "https://kc.example/realms/clinic", "aud": "iop", "exp": now + 60,
            "preferred_username": "nurse.jo", "org": 42,
        }))
        .unwrap();
    assert!(matches!(
        v.verify(&wrong_type).unwrap_err(),
        AuthError::Malformed(_)
    ));
}

#[test]
fn values_from_the_token_come_back_quoted_escaped_and_short() {
    let forged = format!(
        "kid\n2026-01-01 INFO forged line \u{1b}[31m{}",
        "x".repeat(150_000)
    );
    let shown = AuthError::UnknownKey(untrusted(&forged)).to_string();
    assert!(shown.len() < 200, "{} bytes", shown.len());
    assert!(
        !shown.contains('\n') && !shown.contains('\u{1b}'),
        "{shown}"
    );
    assert!(shown.contains("\\n") && shown.ends_with("...)"), "{shown}");
    assert!(shown.is_ascii(), "{shown}");
    assert_eq!(untrusted("é\"x"), "\"\\u{e9}\\\"x\"");
}

/// RFC 7515 §4 / RFC 7519 §4: names are unique; §4.1.11: `crit` extensions must be
/// understood. Each of these is signed by a trusted key and still refused.
#[test]
fn repeated_names_and_critical_extensions_are_refused() {
    let (key, v) = setup();
    let header = |extra: &str| format!(r#"{{"alg":"ES256","kid":"{}"{extra}}}"#, key.kid());
    let body = claims(json!({})).to_string();
    assert!(v.verify(&key.sign_raw(&header(""), &body).unwrap()).is_ok());

    // The same claim twice: which tenant would count?
    let twice = body.replacen('{', r#"{"tenant":"clinic-b","#, 1);
    assert_eq!(
        v.verify(&key.sign_raw(&header(""), &twice).unwrap()),
        Err(AuthError::Malformed("payload repeats a claim name"))
    );
    let escaped = body.replacen('{', r#"{"\u0074enant":"clinic-b","#, 1);
    assert!(
        v.verify(&key.sign_raw(&header(""), &escaped).unwrap())
            .is_err()
    );
    let header_twice = header(r#","alg":"ES256""#);
    assert_eq!(
        v.verify(&key.sign_raw(&header_twice, &body).unwrap()),
        Err(AuthError::Malformed("header repeats a parameter name"))
    );
    let critical = header(r#","crit":["exp-v2"],"exp-v2":true"#);
    assert_eq!(
        v.verify(&key.sign_raw(&critical, &body).unwrap()),
        Err(AuthError::Malformed(
            "header names critical extensions (crit), which are not supported"
        ))
    );
}

#[test]
fn a_token_living_longer_than_its_issuer_allows_is_refused() {
    let (key, v) = setup();
    let now = unix_now();
    let day_and_more = claims(json!({ "iat": now, "exp": now + DEFAULT_MAX_LIFETIME_SECS + 3600 }));
    assert!(matches!(
        v.verify(&key.sign(&day_and_more).unwrap()),
        Err(AuthError::InvalidClaim(_))
    ));
    // Without `iat`, the lifetime counts from now.
    let no_iat = claims(json!({ "iat": null, "exp": now + 2 * DEFAULT_MAX_LIFETIME_SECS }));
    assert!(v.verify(&key.sign(&no_iat).unwrap()).is_err());
    let day = claims(json!({ "iat": now, "exp": now + DEFAULT_MAX_LIFETIME_SECS }));
    assert!(v.verify(&key.sign(&day).unwrap()).is_ok());
}
