//! Consents and family contacts through the gateway: the disclosure check follows consents
//! in force and their revocation; family involvement needs a consent naming the contact.

use iop_testing::TestSystem;
use serde_json::{Value, json};

use crate::assessments::{patient, user};
use crate::episodes::day;
use crate::{assert_problem_names, get, post};

/// A consent for Riverside Outpatient Clinic to receive attendance and the discharge summary
/// for care coordination, for a year.
pub fn to_clinic() -> Value {
    json!({
        "recipient_id": "npi:1234567893",
        "recipient_name": "Riverside Outpatient Clinic",
        "categories": ["attendance", "discharge_summary"],
        "purposes": ["care_coordination"],
        "effective_date": day(10),
        "expiration_date": "2099-12-31",
    })
}

pub fn mother() -> Value {
    json!({
        "name": "Maria Lopez",
        "relationship": "parent",
        "contact": { "phone": "+1 503 555 0100" },
        "emergency_contact": true,
    })
}

pub async fn patch(sys: &TestSystem, token: &str, path: &str, body: &Value) -> (u16, Value) {
    let res = sys
        .http
        .patch(sys.url(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_disclosure_check_follows_consents_and_their_revocation() {
    let sys = TestSystem::start().await;
    let desk = user(&sys, "desk-1", &["front_desk"]);
    let kim = user(&sys, "dr-kim", &["clinician"]);
    let p = patient(&sys, &kim).await;

    let (status, consent) = post(
        &sys,
        &desk,
        &format!("/v1/patients/{p}/consents"),
        &to_clinic(),
    )
    .await;
    assert_eq!(status, 201, "{consent}");
    assert_eq!(consent["status"], "active");
    let id = consent["id"].as_str().unwrap().to_owned();

    let check = |category: &str| {
        format!(
            "/v1/patients/{p}/disclosure-check?recipient_id=npi:1234567893&category={category}&purpose=care_coordination"
        )
    };
    let (status, yes) = get(&sys, &kim, &check("attendance")).await;
    assert_eq!(status, 200, "{yes}");
    assert_eq!(yes["permitted"], true);
    assert_eq!(yes["consent_id"], id.as_str());
    let (_, no) = get(&sys, &kim, &check("clinical_notes")).await;
    assert_eq!(no["permitted"], false);
    assert!(
        no["reason"].as_str().unwrap().contains("clinical_notes"),
        "{no}"
    );
    let (_, other) = get(&sys, &kim, &format!("/v1/patients/{p}/disclosure-check?recipient_id=npi:999&category=attendance&purpose=care_coordination")).await;
    assert_eq!(other["reason"], "not permitted: no consent names npi:999");
    let (status, problem) = get(
        &sys,
        &kim,
        &format!("/v1/patients/{p}/disclosure-check?recipient_id=npi:1&category=attendance"),
    )
    .await;
    assert_eq!(status, 400);
    assert_problem_names(&problem, 400, "purpose");

    let (status, revoked) = post(
        &sys,
        &desk,
        &format!("/v1/consents/{id}/revoke"),
        &json!({ "reason": "Patient withdrew consent in writing" }),
    )
    .await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(revoked["revoked_by"], "desk-1");
    let (_, after) = get(&sys, &kim, &check("attendance")).await;
    assert_eq!(after["permitted"], false);
    assert!(
        after["reason"].as_str().unwrap().contains("revoked"),
        "{after}"
    );
    let (status, _) = post(
        &sys,
        &desk,
        &format!("/v1/consents/{id}/revoke"),
        &json!({}),
    )
    .await;
    assert_eq!(status, 409);

    let (_, list) = get(
        &sys,
        &kim,
        &format!("/v1/consents?patient_id={p}&status=revoked"),
    )
    .await;
    assert_eq!(list["consents"].as_array().unwrap().len(), 1);
    let (_, active) = get(
        &sys,
        &kim,
        &format!("/v1/consents?patient_id={p}&status=active"),
    )
    .await;
    assert_eq!(active["consents"], json!([]));
    // In force yesterday (revoked today), not today, nor before it took effect.
    let on = |d: String| format!("/v1/consents?patient_id={p}&in_force_on={d}");
    let (_, yesterday) = get(&sys, &kim, &on(day(1))).await;
    assert_eq!(
        yesterday["consents"].as_array().unwrap().len(),
        1,
        "{yesterday}"
    );
    let (_, today) = get(&sys, &kim, &on(day(0))).await;
    assert_eq!(today["consents"], json!([]));
    let (_, before) = get(&sys, &kim, &on(day(11))).await;
    assert_eq!(before["consents"], json!([]), "not yet effective");
    sys.stop().await;
}

#[tokio::test]
async fn family_involvement_is_consent_gated() {
    let sys = TestSystem::start().await;
    let kim = user(&sys, "dr-kim", &["clinician"]);
    let p = patient(&sys, &kim).await;
    let (status, mom) = post(&sys, &kim, &format!("/v1/patients/{p}/contacts"), &mother()).await;
    assert_eq!(status, 201, "{mom}");
    assert_eq!(mom["involved_in_family_sessions"], false);
    let mom_id = mom["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/contacts/{mom_id}");

    let (status, problem) = patch(
        &sys,
        &kim,
        &path,
        &json!({ "involved_in_family_sessions": true }),
    )
    .await;
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("consent"),
        "{problem}"
    );

    let consent = json!({
        "recipient_id": mom_id,
        "recipient_name": "Maria Lopez (mother)",
        "categories": ["attendance", "treatment_plans"],
        "purposes": ["family_involvement"],
        "expiration_date": "2099-12-31",
    });
    let (status, consent) = post(&sys, &kim, &format!("/v1/patients/{p}/consents"), &consent).await;
    assert_eq!(status, 201, "{consent}");
    let (status, mom) = patch(
        &sys,
        &kim,
        &path,
        &json!({ "involved_in_family_sessions": true }),
    )
    .await;
    assert_eq!(status, 200, "{mom}");
    assert_eq!(mom["involved_in_family_sessions"], true);
    assert_eq!(mom["involvement_consent_id"], consent["id"]);
    let (_, involved) = get(
        &sys,
        &kim,
        &format!("/v1/patients/{p}/contacts?involved_only=true"),
    )
    .await;
    assert_eq!(involved["contacts"].as_array().unwrap().len(), 1);

    let consent_id = consent["id"].as_str().unwrap();
    assert_eq!(
        post(
            &sys,
            &kim,
            &format!("/v1/consents/{consent_id}/revoke"),
            &json!({})
        )
        .await
        .0,
        200
    );
    let (_, mom) = get(&sys, &kim, &path).await;
    assert_eq!(
        mom["involved_in_family_sessions"], false,
        "revocation ends involvement"
    );
    let (_, involved) = get(
        &sys,
        &kim,
        &format!("/v1/patients/{p}/contacts?involved_only=true"),
    )
    .await;
    assert_eq!(involved["contacts"], json!([]));
    sys.stop().await;
}

#[tokio::test]
async fn bad_consents_and_contacts_name_the_field() {
    let sys = TestSystem::start().await;
    let kim = user(&sys, "dr-kim", &["clinician"]);
    let p = patient(&sys, &kim).await;
    let path = format!("/v1/patients/{p}/consents");
    let mut open_ended = to_clinic();
    open_ended
        .as_object_mut()
        .unwrap()
        .remove("expiration_date");
    let (_, problem) = post(&sys, &kim, &path, &open_ended).await;
    assert_problem_names(&problem, 400, "expiration_date");
    let mut psychotherapy = to_clinic();
    psychotherapy["categories"] = json!(["psychotherapy_notes"]);
    let (_, problem) = post(&sys, &kim, &path, &psychotherapy).await;
    assert_problem_names(&problem, 400, "categories[0]");
    let mut backwards = to_clinic();
    backwards["expiration_date"] = json!("2000-01-01");
    let (_, problem) = post(&sys, &kim, &path, &backwards).await;
    assert_problem_names(&problem, 422, "expiration_date");
    let mut unreachable = mother();
    unreachable["contact"] = json!({});
    let (_, problem) = post(
        &sys,
        &kim,
        &format!("/v1/patients/{p}/contacts"),
        &unreachable,
    )
    .await;
    assert_problem_names(&problem, 400, "contact");
    let (_, list) = get(&sys, &kim, &format!("/v1/consents?patient_id={p}")).await;
    assert_eq!(list["consents"], json!([]), "nothing half-written");
    sys.stop().await;
}
