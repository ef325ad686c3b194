//! The clinic's locations through the gateway: the scheduling service's first resource,
//! over REST and gRPC, by role, within the clinic.

use iop_proto::scheduling::location_service_client::LocationServiceClient;
use iop_proto::scheduling::{self as pb};
use iop_testing::{TestSystem, with_bearer};
use serde_json::{Value, json};

use crate::{assert_problem_names, get, post};

/// A staff user of `tenant` with `role`, granted every resource type by scope (the role
/// decides).
fn staff(sys: &TestSystem, tenant: &str, role: &str) -> String {
    let mut claims = sys.claims(tenant, &[role]);
    claims["scope"] = json!("user/*.cruds");
    sys.sign(claims)
}

fn downtown() -> Value {
    json!({ "name": "Downtown clinic", "time_zone": "America/Los_Angeles", "address": "100 Main St, Portland, OR" })
}

#[tokio::test]
async fn directors_set_up_locations_staff_see_them_other_clinics_do_not() {
    let sys = TestSystem::start().await;
    let director = staff(&sys, "clinic-a", "program_director");
    let desk = staff(&sys, "clinic-a", "front_desk");

    let res = sys
        .http
        .post(sys.url("/v1/locations"))
        .bearer_auth(&director)
        .header("Idempotency-Key", "site-1")
        .json(&downtown())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let made: Value = res.json().await.unwrap();
    assert_eq!(
        location,
        format!("/v1/locations/{}", made["id"].as_str().unwrap())
    );
    assert_eq!(made["time_zone"], "America/Los_Angeles");

    // A retry is the same location; another of the same name (any case) is a conflict.
    let again: Value = sys
        .http
        .post(sys.url("/v1/locations"))
        .bearer_auth(&director)
        .header("Idempotency-Key", "site-1")
        .json(&downtown())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["id"], made["id"]);
    let mut same = downtown();
    same["name"] = json!("DOWNTOWN CLINIC");
    let (status, problem) = post(&sys, &director, "/v1/locations", &same).await;
    assert_eq!(status, 409, "{problem}");

    // Bad fields are named; a made-up zone is not one.
    let (_, problem) = post(
        &sys,
        &director,
        "/v1/locations",
        &json!({ "name": " ", "time_zone": "Pacific" }),
    )
    .await;
    assert_problem_names(&problem, 400, "name");
    assert_problem_names(&problem, 400, "time_zone");

    // The front desk reads and lists, but does not create.
    let (status, read) = get(&sys, &desk, &location).await;
    assert_eq!((status, &read["name"]), (200, &json!("Downtown clinic")));
    let (status, page) = get(&sys, &desk, "/v1/locations").await;
    assert_eq!(status, 200);
    assert_eq!(page["locations"].as_array().unwrap().len(), 1);
    let (status, _) = post(&sys, &desk, "/v1/locations", &downtown()).await;
    assert_eq!(status, 403);

    // Another clinic finds nothing.
    let other = staff(&sys, "clinic-b", "program_director");
    assert_eq!(get(&sys, &other, &location).await.0, 404);
    let (_, page) = get(&sys, &other, "/v1/locations").await;
    assert!(page["locations"].as_array().unwrap().is_empty());

    // The same over gRPC, through the gateway.
    let mut client = LocationServiceClient::new(sys.grpc_channel().await);
    let listed = client
        .list_locations(with_bearer(pb::ListLocationsRequest::default(), &desk))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.locations[0].id, made["id"].as_str().unwrap());
    let err = client
        .create_location(with_bearer(pb::CreateLocationRequest::default(), &desk))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    sys.stop().await;
}

#[tokio::test]
async fn clinicians_are_found_by_the_kinds_they_provide() {
    let sys = TestSystem::start().await;
    let director = staff(&sys, "clinic-a", "program_director");
    let desk = staff(&sys, "clinic-a", "front_desk");
    let kim = json!({
        "given_name": "Dana", "family_name": "Kim", "credentials": ["lcsw"],
        "npi": "1234567893", "kinds": ["individual_therapy", "family_session"], "user_id": "dr-kim",
    });
    let (status, made) = post(&sys, &director, "/v1/clinicians", &kim).await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["active"], true);
    assert_eq!(
        made["kinds"],
        json!(["individual_therapy", "family_session"])
    );
    // The same NPI twice is a conflict; a bad check digit is named.
    assert_eq!(post(&sys, &director, "/v1/clinicians", &kim).await.0, 409);
    let mut bad = kim.clone();
    bad["npi"] = json!("1234567890");
    bad["user_id"] = json!("someone-else");
    let (_, problem) = post(&sys, &director, "/v1/clinicians", &bad).await;
    assert_problem_names(&problem, 400, "npi");
    let patel = json!({
        "given_name": "Sam", "family_name": "Patel", "credentials": ["md"],
        "kinds": ["psychiatric_evaluation", "medication_management"],
    });
    assert_eq!(post(&sys, &director, "/v1/clinicians", &patel).await.0, 201);

    let (status, family) = get(&sys, &desk, "/v1/clinicians?kind=family_session").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = family["clinicians"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["family_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Kim"]);
    let (_, read) = get(
        &sys,
        &desk,
        &format!("/v1/clinicians/{}", made["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(read["npi"], "1234567893");
    assert_eq!(post(&sys, &desk, "/v1/clinicians", &patel).await.0, 403);
    let other = staff(&sys, "clinic-b", "program_director");
    let (_, none) = get(&sys, &other, "/v1/clinicians").await;
    assert!(none["clinicians"].as_array().unwrap().is_empty());
    sys.stop().await;
}
