//! Referrals end to end with a real referral partner: a registered `referral_partner` client
//! gets a SMART token, sends referrals and follows their status (closed loop), sees nothing
//! else; clinic staff review, accept (creating patient and episode), schedule intake, admit.

use iop_auth::SigningKey;
use iop_testing::TestSystem;
use serde_json::{Value, json};

use crate::assessments::user;
use crate::episodes::day;
use crate::smart::{assertion, director_of, token};
use crate::{assert_problem_names, get, post};

pub fn referral() -> Value {
    json!({
        "referring_organization": "Cascade Recovery Center",
        "referring_contact": "Dr. Chen, +1 503 555 0199",
        "patient": { "given_name": "Jordan", "family_name": "Reyes", "birth_date": "1994-08-02", "sex_at_birth": "male", "phone": "+15035550142" },
        "reason": "Opioid use disorder; stepping down from residential",
        "requested_program": "Adult substance-use IOP",
        "urgency": "urgent",
    })
}

/// Registers a referral partner and returns a token of it with `scope`.
async fn partner(sys: &TestSystem, name: &str, scope: &str) -> String {
    let key = SigningKey::generate().unwrap();
    let res = sys
        .http
        .post(sys.url("/v1/clients"))
        .bearer_auth(director_of(sys, "clinic-a"))
        .json(&json!({ "name": name, "kind": "referral_partner", "jwks": key.jwks(), "scopes": ["system/ServiceRequest.crs"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let client: Value = res.json().await.unwrap();
    let id = client["client_id"].as_str().unwrap();
    let (status, body) = token(sys, &assertion(sys, &key, id, json!({})), scope).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_partner_follows_its_referral_from_received_to_admitted() {
    let sys = TestSystem::start().await;
    let cascade = partner(&sys, "Cascade Recovery", "system/ServiceRequest.crs").await;
    let desk = user(&sys, "intake-1", &["front_desk"]);
    let kim = user(&sys, "dr-kim", &["clinician"]);

    let (status, r) = post(&sys, &cascade, "/v1/referrals", &referral()).await;
    assert_eq!(status, 201, "{r}");
    assert_eq!(r["status"], "received");
    let id = r["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/referrals/{id}");

    // The partner cannot move it, nor read anything but referrals.
    let (status, problem) = post(&sys, &cascade, &format!("{path}/accept"), &json!({})).await;
    assert_eq!(status, 403, "{problem}");
    assert_eq!(
        problem["detail"],
        "missing scope system/ServiceRequest.u (to update ServiceRequest)"
    );
    assert_eq!(get(&sys, &cascade, "/v1/patients").await.0, 403);

    assert_eq!(
        post(
            &sys,
            &desk,
            &format!("{path}/review"),
            &json!({ "note": "Insurance verified" })
        )
        .await
        .0,
        200
    );
    let (status, accepted) = post(
        &sys,
        &desk,
        &format!("{path}/accept"),
        &json!({ "open_episode": true, "population": "adult", "note": "Fits adult SUD IOP" }),
    )
    .await;
    assert_eq!(status, 200, "{accepted}");
    let patient = accepted["patient_id"].as_str().unwrap().to_owned();
    let episode = accepted["episode_id"].as_str().unwrap().to_owned();
    let (_, p) = get(&sys, &kim, &format!("/v1/patients/{patient}")).await;
    assert_eq!(
        (p["given_name"].as_str(), p["birth_date"].as_str()),
        (Some("Jordan"), Some("1994-08-02"))
    );
    let (_, e) = get(&sys, &kim, &format!("/v1/episodes/{episode}")).await;
    assert_eq!(
        (e["status"].as_str(), e["program"].as_str()),
        (Some("referred"), Some("Adult substance-use IOP"))
    );

    let intake = json!({ "intake_time": "2030-01-06T15:00:00Z" });
    assert_eq!(
        post(&sys, &desk, &format!("{path}/intake"), &intake)
            .await
            .0,
        200
    );
    let (status, admitted) = post(
        &sys,
        &kim,
        &format!("{path}/admit"),
        &json!({ "admit_date": day(0) }),
    )
    .await;
    assert_eq!(status, 200, "{admitted}");
    let (_, e) = get(&sys, &kim, &format!("/v1/episodes/{episode}")).await;
    assert_eq!(
        e["status"], "admitted",
        "the episode is admitted with the referral"
    );

    // The closed loop: the partner sees where its referral stands, not the clinic's ids,
    // staff or notes.
    let (status, theirs) = get(&sys, &cascade, &path).await;
    assert_eq!(status, 200, "{theirs}");
    assert_eq!(theirs["status"], "admitted");
    assert_eq!(theirs["intake_time"], "2030-01-06T15:00:00.000000Z");
    assert!(
        theirs.get("patient_id").is_none() && theirs.get("episode_id").is_none(),
        "{theirs}"
    );
    let text = theirs.to_string();
    for hidden in ["intake-1", "dr-kim", "Insurance verified", patient.as_str()] {
        assert!(!text.contains(hidden), "{hidden} leaked: {text}");
    }
    let statuses: Vec<&str> = theirs["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "received",
            "in_review",
            "accepted",
            "intake_scheduled",
            "admitted"
        ]
    );
    sys.stop().await;
}

#[tokio::test]
async fn partners_see_only_their_own_referrals() {
    let sys = TestSystem::start().await;
    let cascade = partner(&sys, "Cascade Recovery", "system/ServiceRequest.crs").await;
    let valley = partner(&sys, "Valley ER", "system/ServiceRequest.crs").await;
    let desk = user(&sys, "intake-1", &["front_desk"]);
    let (_, mine) = post(&sys, &cascade, "/v1/referrals", &referral()).await;
    let mut other = referral();
    other["patient"]["given_name"] = json!("Casey");
    let (_, theirs) = post(&sys, &valley, "/v1/referrals", &other).await;

    let (status, _) = get(
        &sys,
        &cascade,
        &format!("/v1/referrals/{}", theirs["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(
        status, 404,
        "another partner's referral does not exist for it"
    );
    let (_, list) = get(&sys, &cascade, "/v1/referrals").await;
    let ids: Vec<&str> = list["referrals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [mine["id"].as_str().unwrap()]);
    assert!(!list.to_string().contains("Casey"));
    let (_, all) = get(&sys, &desk, "/v1/referrals?status=received").await;
    assert_eq!(
        all["referrals"].as_array().unwrap().len(),
        2,
        "staff see every referral"
    );

    // A decline reaches the partner with its reason.
    let decline = json!({ "reason": "Needs a higher level of care (residential)" });
    let path = format!("/v1/referrals/{}", mine["id"].as_str().unwrap());
    assert_eq!(
        post(&sys, &desk, &format!("{path}/decline"), &decline)
            .await
            .0,
        200
    );
    let (_, seen) = get(&sys, &cascade, &path).await;
    assert_eq!(seen["status"], "declined");
    assert_eq!(
        seen["decline_reason"],
        "Needs a higher level of care (residential)"
    );
    let (status, problem) = post(&sys, &desk, &format!("{path}/review"), &json!({})).await;
    assert_eq!(status, 409, "{problem}");
    sys.stop().await;
}

#[tokio::test]
async fn bad_referrals_name_the_field() {
    let sys = TestSystem::start().await;
    let cascade = partner(&sys, "Cascade Recovery", "system/ServiceRequest.crs").await;
    let mut bad = referral();
    bad["patient"]["birth_date"] = json!("02/08/1994");
    let (_, problem) = post(&sys, &cascade, "/v1/referrals", &bad).await;
    assert_problem_names(&problem, 400, "patient.birth_date");
    let mut bad = referral();
    bad["urgency"] = json!("asap");
    let (_, problem) = post(&sys, &cascade, "/v1/referrals", &bad).await;
    assert_problem_names(&problem, 400, "urgency");
    let mut bad = referral();
    bad["reason"] = json!("");
    bad["patient"]["phone"] = json!("call");
    let (_, problem) = post(&sys, &cascade, "/v1/referrals", &bad).await;
    assert_problem_names(&problem, 400, "reason");
    assert_problem_names(&problem, 400, "patient.phone");
    let (_, list) = get(&sys, &cascade, "/v1/referrals").await;
    assert_eq!(list["referrals"], json!([]));
    sys.stop().await;
}
