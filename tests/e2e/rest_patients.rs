use iop_testing::TestSystem;
use serde_json::{Value, json};

use crate::{ana, assert_problem_names, create, get};

#[tokio::test]
async fn create_get_list_update_over_rest() {
    let sys = TestSystem::start().await;
    let token = sys.token("clinic-a", &["front_desk"]);

    let mut body = ana();
    body["preferred_name"] = json!("Annie");
    body["mrn"] = json!("MRN-001");
    body["identifiers"] = json!([{ "system": "https://ehr.example.org/patient", "value": "E-77" }]);
    body["contact"] = json!({ "email": "ana@example.org", "phone": "+1 503 555 0100",
        "address": { "lines": ["1 Main St"], "city": "Portland", "region": "OR", "postal_code": "97201", "country": "US" } });
    let res = sys
        .http
        .post(sys.url("/v1/patients"))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(res.headers()["etag"], "\"1\"");
    assert!(res.headers().contains_key("x-request-id"));
    let created: Value = res.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/v1/patients/{id}"));
    assert_eq!(created["preferred_name"], "Annie");
    assert_eq!(created["contact"]["address"]["city"], "Portland");
    assert_eq!(created["version"], 1);
    assert!(created["create_time"].as_str().unwrap().ends_with('Z'));

    let (status, fetched) = get(&sys, &token, &location).await;
    assert_eq!(status, 200);
    assert_eq!(fetched, created);

    let (status, list) = get(&sys, &token, "/v1/patients?name=ann").await;
    assert_eq!(status, 200);
    assert_eq!(list["patients"].as_array().unwrap().len(), 1);
    let (_, by_ehr) = get(
        &sys,
        &token,
        "/v1/patients?identifier=https://ehr.example.org/patient%7CE-77",
    )
    .await;
    assert_eq!(by_ehr["patients"][0]["id"], id.as_str());
    let (_, by_mrn) = get(&sys, &token, "/v1/patients?identifier=MRN-001").await;
    assert_eq!(by_mrn["patients"][0]["id"], id.as_str());
    let (_, none) = get(&sys, &token, "/v1/patients?name=zzz").await;
    assert_eq!(none["patients"], json!([]));

    let res = sys
        .http
        .patch(sys.url(&location))
        .bearer_auth(&token)
        .header("If-Match", "\"1\"")
        .json(&json!({ "preferred_name": "Ani", "pronouns": "she/her" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["etag"], "\"2\"");
    let updated: Value = res.json().await.unwrap();
    assert_eq!(updated["preferred_name"], "Ani");
    assert_eq!(updated["pronouns"], "she/her");
    assert_eq!(updated["family_name"], "Lopez", "fields not sent are kept");
    assert_eq!(updated["mrn"], "MRN-001");
    assert_eq!(updated["version"], 2);

    // A field sent as null is cleared.
    let res = sys
        .http
        .patch(sys.url(&location))
        .bearer_auth(&token)
        .json(&json!({ "mrn": null, "etag": "2" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["mrn"], Value::Null);
    sys.stop().await;
}

#[tokio::test]
async fn stale_update_is_409_and_changes_nothing() {
    let sys = TestSystem::start().await;
    let token = sys.token("clinic-a", &["front_desk"]);
    let (_, p) = create(&sys, &token, &ana()).await;
    let path = format!("/v1/patients/{}", p["id"].as_str().unwrap());
    let first = sys
        .http
        .patch(sys.url(&path))
        .bearer_auth(&token)
        .header("If-Match", "\"1\"")
        .json(&json!({ "preferred_name": "First" }))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    let stale = sys
        .http
        .patch(sys.url(&path))
        .bearer_auth(&token)
        .header("If-Match", "\"1\"")
        .json(&json!({ "preferred_name": "Second" }))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 409);
    assert_eq!(stale.headers()["content-type"], "application/problem+json");
    let problem: Value = stale.json().await.unwrap();
    assert_eq!(problem["type"], "urn:iop:problem:conflict");
    assert!(problem["detail"].as_str().unwrap().contains("etag"));
    let (_, now) = get(&sys, &token, &path).await;
    assert_eq!(now["preferred_name"], "First");
    sys.stop().await;
}

#[tokio::test]
async fn concurrent_patches_of_one_version_have_one_winner() {
    let sys = TestSystem::start().await;
    let token = sys.token("clinic-a", &["front_desk"]);
    let (_, p) = create(&sys, &token, &ana()).await;
    let url = sys.url(&format!("/v1/patients/{}", p["id"].as_str().unwrap()));
    let attempts = (0..12).map(|i| {
        let req = sys
            .http
            .patch(&url)
            .bearer_auth(&token)
            .header("If-Match", "\"1\"")
            .json(&json!({ "preferred_name": format!("writer {i}") }));
        async move { req.send().await.unwrap().status().as_u16() }
    });
    let statuses = futures::future::join_all(attempts).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 409),
        "{statuses:?}"
    );
    sys.stop().await;
}

#[tokio::test]
async fn another_tenant_sees_404_and_an_empty_list() {
    let sys = TestSystem::start().await;
    let a = sys.token("clinic-a", &["clinician"]);
    let b = sys.token("clinic-b", &["clinician"]);
    let (_, p) = create(&sys, &a, &ana()).await;
    let path = format!("/v1/patients/{}", p["id"].as_str().unwrap());

    let (status, problem) = get(&sys, &b, &path).await;
    assert_eq!(status, 404);
    assert_eq!(problem["type"], "urn:iop:problem:not-found");
    let (_, list) = get(&sys, &b, "/v1/patients").await;
    assert_eq!(list["patients"], json!([]));
    let res = sys
        .http
        .patch(sys.url(&path))
        .bearer_auth(&b)
        .json(&json!({ "preferred_name": "hijack" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let (_, still) = get(&sys, &a, &path).await;
    assert_eq!(still["preferred_name"], "");
    sys.stop().await;
}

#[tokio::test]
async fn list_pages_with_next_page_token() {
    let sys = TestSystem::start().await;
    let token = sys.token("clinic-a", &["front_desk"]);
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut body = ana();
        body["given_name"] = json!(format!("Pat{i}"));
        let (status, p) = create(&sys, &token, &body).await;
        assert_eq!(status, 201);
        ids.push(p["id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut path = "/v1/patients?page_size=2".to_owned();
    loop {
        let (status, page) = get(&sys, &token, &path).await;
        assert_eq!(status, 200, "{page}");
        let items = page["patients"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|p| p["id"].as_str().unwrap().to_owned()));
        match page["next_page_token"].as_str() {
            Some(t) => path = format!("/v1/patients?page_size=2&page_token={t}"),
            None => break,
        }
    }
    assert_eq!(seen, ids);

    // A token from one query is refused for another.
    let (_, page) = get(&sys, &token, "/v1/patients?page_size=2").await;
    let t = page["next_page_token"].as_str().unwrap();
    let (status, problem) = get(
        &sys,
        &token,
        &format!("/v1/patients?page_size=2&name=pat&page_token={t}"),
    )
    .await;
    assert_eq!(status, 422);
    assert_problem_names(&problem, 422, "page_token");
    sys.stop().await;
}

#[tokio::test]
async fn malformed_json_and_invalid_fields_are_400_problems_naming_the_field() {
    let sys = TestSystem::start().await;
    let token = sys.token("clinic-a", &["front_desk"]);

    let res = sys
        .http
        .post(sys.url("/v1/patients"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"given_name\": \"Ana\",")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let problem: Value = res.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("not valid JSON"),
        "{problem}"
    );

    let res = sys
        .http
        .post(sys.url("/v1/patients"))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);

    let cases: &[(Value, &str)] = &[
        (json!({ "given_nme": "Ana" }), "given_nme"),
        (json!({ "given_name": 7 }), "given_name"),
        (json!({ "birth_date": "28/02/1990" }), "birth_date"),
        (json!({ "sex_at_birth": "f" }), "sex_at_birth"),
        (json!({ "contact": { "fax": "1" } }), "contact.fax"),
        (
            json!({ "id": "01a21c5a-01eb-73d2-ba00-2537c04059a2" }),
            "id",
        ),
    ];
    for (patch, field) in cases {
        let mut body = ana();
        body.as_object_mut()
            .unwrap()
            .extend(patch.as_object().unwrap().clone());
        let (status, problem) = create(&sys, &token, &body).await;
        assert_eq!(status, 400, "{patch}: {problem}");
        assert_problem_names(&problem, 400, field);
    }

    // Domain rules: every violation is reported at once.
    let (status, problem) = create(
        &sys,
        &token,
        &json!({ "given_name": "", "birth_date": "2999-01-01", "contact": { "email": "not-an-email" } }),
    )
    .await;
    assert_eq!(status, 400);
    for field in [
        "given_name",
        "family_name",
        "birth_date",
        "sex_at_birth",
        "contact.email",
    ] {
        assert_problem_names(&problem, 400, field);
    }

    let (status, problem) = get(&sys, &token, "/v1/patients/not-a-uuid").await;
    assert_eq!(status, 400);
    assert_problem_names(&problem, 400, "id");
    let (status, problem) = get(&sys, &token, "/v1/patients?page_size=lots").await;
    assert_eq!(status, 400);
    assert_problem_names(&problem, 400, "page_size");
    let (status, problem) = get(&sys, &token, "/v1/patients?nmae=smith").await;
    assert_eq!(status, 400);
    assert_problem_names(&problem, 400, "nmae");
    sys.stop().await;
}

#[tokio::test]
async fn duplicate_mrn_is_409_and_creates_nothing() {
    let sys = TestSystem::start().await;
    let token = sys.token("clinic-a", &["front_desk"]);
    let mut body = ana();
    body["mrn"] = json!("MRN-9");
    assert_eq!(create(&sys, &token, &body).await.0, 201);
    body["given_name"] = json!("Other");
    let (status, problem) = create(&sys, &token, &body).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["type"], "urn:iop:problem:already-exists");
    let (_, list) = get(&sys, &token, "/v1/patients").await;
    assert_eq!(list["patients"].as_array().unwrap().len(), 1);
    // Another clinic may reuse the number.
    let other = sys.token("clinic-b", &["front_desk"]);
    assert_eq!(create(&sys, &other, &body).await.0, 201);
    sys.stop().await;
}

#[tokio::test]
async fn retried_creates_with_an_idempotency_key_make_one_patient() {
    let sys = TestSystem::start().await;
    let token = sys.token("clinic-a", &["front_desk"]);
    let send = |body: Value, key: &'static str| {
        sys.http
            .post(sys.url("/v1/patients"))
            .bearer_auth(&token)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    // A client that times out and retries, several times at once.
    let attempts = (0..8).map(|_| async { send(ana(), "intake-42").await.unwrap() });
    let mut ids = Vec::new();
    for res in futures::future::join_all(attempts).await {
        assert_eq!(res.status(), 201);
        ids.push(
            res.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let (_, list) = get(&sys, &token, "/v1/patients").await;
    assert_eq!(list["patients"].as_array().unwrap().len(), 1);

    // The same key for another patient is a client bug, named as such.
    let mut other = ana();
    other["given_name"] = json!("Bea");
    let res = send(other, "intake-42").await.unwrap();
    assert_eq!(res.status(), 422);
    assert_problem_names(&res.json().await.unwrap(), 422, "Idempotency-Key");
    // Without a key, each POST is a new patient.
    assert_eq!(create(&sys, &token, &ana()).await.0, 201);
    let (_, list) = get(&sys, &token, "/v1/patients").await;
    assert_eq!(list["patients"].as_array().unwrap().len(), 2);
    sys.stop().await;
}

/// Every create answers 201 with a `Location` that reads back what it created, and the same
/// `ETag` when the resource is versioned.
#[tokio::test]
async fn every_create_has_a_location_that_reads_it_back() {
    use crate::assessments::{patient, phq9, user};
    let sys = TestSystem::start().await;
    let kim = user(&sys, "dr-kim", &["clinician"]);
    let p = patient(&sys, &kim).await;
    let creates: [(String, Value, bool); 7] = [
        (
            format!("/v1/patients/{p}/notes"),
            crate::notes::session_note(),
            true,
        ),
        (
            format!("/v1/patients/{p}/plans"),
            crate::plans::plan(),
            true,
        ),
        (
            format!("/v1/patients/{p}/episodes"),
            crate::episodes::referral(),
            true,
        ),
        (
            format!("/v1/patients/{p}/consents"),
            crate::consents::to_clinic(),
            false,
        ),
        (
            format!("/v1/patients/{p}/contacts"),
            crate::consents::mother(),
            true,
        ),
        (format!("/v1/patients/{p}/assessments"), phq9(0), false),
        (
            "/v1/referrals".to_owned(),
            crate::referrals::referral(),
            true,
        ),
    ];
    for (path, body, versioned) in creates {
        let res = sys
            .http
            .post(sys.url(&path))
            .bearer_auth(&kim)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "{path}");
        let location = res.headers()["location"].to_str().unwrap().to_owned();
        let etag = res
            .headers()
            .get("etag")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(etag.is_some(), versioned, "{path}: {etag:?}");
        let created: Value = res.json().await.unwrap();
        assert!(
            location.ends_with(created["id"].as_str().unwrap()),
            "{location}"
        );
        let read = sys
            .http
            .get(sys.url(&location))
            .bearer_auth(&kim)
            .send()
            .await
            .unwrap();
        assert_eq!(read.status(), 200, "{location}");
        let read_etag = read
            .headers()
            .get("etag")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(read_etag, etag, "{location}");
        assert_eq!(read.json::<Value>().await.unwrap()["id"], created["id"]);
    }
    sys.stop().await;
}
