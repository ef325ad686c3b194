//! The waitlist through the gateway, with the scheduling service's own worker making the
//! offers: cancel → the first patient who waits for that time is offered it → declined over
//! gRPC, it passes to the next → left to expire, to the next again → accepted, booked.

use std::time::{Duration, Instant};

use iop_proto::scheduling::waitlist_service_client::WaitlistServiceClient;
use iop_proto::scheduling::{self as pb};
use iop_testing::{TestSystem, with_bearer};
use serde_json::{Value, json};

use crate::appointments::{clinic, staff, visit};
use crate::{assert_problem_names, create, get, post};

/// Monday 2030-01-07, 10:00-11:00 in Los Angeles.
const START: &str = "2030-01-07T18:00:00Z";
const END: &str = "2030-01-07T19:00:00Z";
/// `START` as answers write it.
const STARTED: &str = "2030-01-07T18:00:00.000000Z";

/// The entry once `ready` says so, read every 100 ms for at most 60 s (the worker looks
/// every second; an offer here stands 30 s).
async fn until(sys: &TestSystem, token: &str, id: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let began = Instant::now();
    loop {
        let (status, entry) = get(sys, token, &format!("/v1/waitlist-entries/{id}")).await;
        assert_eq!(status, 200, "{entry}");
        if ready(&entry) {
            return entry;
        }
        assert!(
            began.elapsed() < Duration::from_secs(60),
            "waited a minute for {entry}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn open_offer(entry: &Value) -> Option<&Value> {
    entry["offers"]
        .as_array()?
        .iter()
        .find(|o| o["status"] == "open")
}

#[tokio::test]
async fn freed_time_is_offered_declined_expires_and_is_accepted() {
    let sys = TestSystem::start().await;
    let director = staff(&sys, "clinic-a", "dr-director", "program_director");
    let desk = staff(&sys, "clinic-a", "desk-1", "front_desk");
    let c = clinic(&sys, &director).await;
    // Offers of individual therapy stand 30 s here.
    let res = sys
        .http
        .put(sys.url("/v1/appointment-kinds/individual_therapy"))
        .bearer_auth(&director)
        .json(&json!({
            "default_minutes": 60,
            "modalities": ["in_person", "telehealth"],
            "waitlist_offer_seconds": 30,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let settings: Value = res.json().await.unwrap();
    assert_eq!(settings["waitlist_offer_seconds"], 30, "{settings}");

    let mut patients = Vec::new();
    for name in ["Ana", "Bea", "Cy", "Dee", "Eve"] {
        let mut body = crate::ana();
        body["given_name"] = json!(name);
        let (status, p) = create(&sys, &desk, &body).await;
        assert_eq!(status, 201, "{p}");
        patients.push(p["id"].as_str().unwrap().to_owned());
    }
    let (status, booked) = post(
        &sys,
        &desk,
        "/v1/appointments",
        &visit(&c, &patients[0], START, END),
    )
    .await;
    assert_eq!(status, 201, "{booked}");
    let booked_id = booked["appointments"][0]["id"].as_str().unwrap().to_owned();

    // Bea wants Tuesday evenings only; Cy, Dee and Eve Monday mornings with Dr Kim.
    let (_, bad) = post(
        &sys,
        &desk,
        "/v1/waitlist-entries",
        &json!({
            "patient_id": patients[1],
            "kind": "individual_therapy",
            "location_id": c.location,
            "windows": [{ "start_time": "21:00", "end_time": "18:00" }],
        }),
    )
    .await;
    assert_problem_names(&bad, 422, "windows[0].end_time");
    let mut entries = Vec::new();
    for (i, patient) in patients[1..].iter().enumerate() {
        let wants = if i == 0 {
            json!({ "days": ["tuesday"], "windows": [{ "start_time": "17:00", "end_time": "21:00" }] })
        } else {
            json!({
                "days": ["monday"],
                "windows": [{ "start_time": "09:00", "end_time": "12:00" }],
                "clinician_ids": [c.clinicians[0]],
            })
        };
        let mut body = json!({
            "patient_id": patient,
            "kind": "individual_therapy",
            "location_id": c.location,
        });
        body.as_object_mut()
            .unwrap()
            .extend(wants.as_object().unwrap().clone());
        let (status, entry) = post(&sys, &desk, "/v1/waitlist-entries", &body).await;
        assert_eq!(status, 201, "{entry}");
        assert_eq!(entry["status"], "waiting");
        entries.push(entry["id"].as_str().unwrap().to_owned());
    }
    let (status, list) = get(
        &sys,
        &desk,
        &format!(
            "/v1/waitlist-entries?location_id={}&status=waiting",
            c.location
        ),
    )
    .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["entries"].as_array().unwrap().len(), 4);

    // Ana cancels: Cy (the first it suits) is offered the hour.
    let (status, cancelled) = post(
        &sys,
        &desk,
        &format!("/v1/appointments/{booked_id}/cancel"),
        &json!({ "kind": "by_patient" }),
    )
    .await;
    assert_eq!(status, 200, "{cancelled}");
    let cy = until(&sys, &desk, &entries[1], |e| e["status"] == "offered").await;
    let offer = open_offer(&cy).unwrap().clone();
    assert_eq!(
        (
            &offer["start_time"],
            &offer["clinician_id"],
            &offer["room_id"]
        ),
        (&json!(STARTED), &json!(c.clinicians[0]), &json!(c.rooms[0])),
        "{cy}"
    );
    let (_, bea) = get(&sys, &desk, &format!("/v1/waitlist-entries/{}", entries[0])).await;
    assert_eq!(bea["status"], "waiting", "{bea}");

    // Cy declines over gRPC: Dee is offered it.
    let mut grpc = WaitlistServiceClient::new(sys.grpc_channel().await);
    let declined = grpc
        .decline_waitlist_offer(with_bearer(
            pb::DeclineWaitlistOfferRequest {
                id: entries[1].clone(),
                offer_id: offer["id"].as_str().unwrap().to_owned(),
            },
            &desk,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(declined.status, pb::WaitlistStatus::Waiting as i32);
    let dee = until(&sys, &desk, &entries[2], |e| e["status"] == "offered").await;
    let dee_offer = open_offer(&dee).unwrap().clone();

    // Dee lets it expire: on to Eve, never back to Cy.
    let eve = until(&sys, &desk, &entries[3], |e| e["status"] == "offered").await;
    let (_, dee) = get(&sys, &desk, &format!("/v1/waitlist-entries/{}", entries[2])).await;
    assert_eq!(dee["offers"][0]["status"], "expired", "{dee}");
    assert_eq!(dee["status"], "waiting");
    // Accepting Dee's expired offer is refused.
    let (status, problem) = post(
        &sys,
        &desk,
        &format!("/v1/waitlist-entries/{}/accept", entries[2]),
        &json!({ "offer_id": dee_offer["id"] }),
    )
    .await;
    assert_eq!(status, 409, "{problem}");

    // Eve accepts: booked, with Dr Kim in the freed room.
    let eve_offer = open_offer(&eve).unwrap().clone();
    let (status, accepted) = post(
        &sys,
        &desk,
        &format!("/v1/waitlist-entries/{}/accept", entries[3]),
        &json!({ "offer_id": eve_offer["id"] }),
    )
    .await;
    assert_eq!(status, 200, "{accepted}");
    let appointment = &accepted["appointment"];
    assert_eq!(
        (
            &appointment["patient_id"],
            &appointment["start_time"],
            &appointment["status"]
        ),
        (&json!(patients[4]), &json!(STARTED), &json!("booked")),
        "{accepted}"
    );
    assert_eq!(accepted["entry"]["status"], "booked");
    assert_eq!(accepted["entry"]["appointment_id"], appointment["id"]);
    let (_, cy) = get(&sys, &desk, &format!("/v1/waitlist-entries/{}", entries[1])).await;
    assert_eq!(cy["offers"].as_array().unwrap().len(), 1, "{cy}");
    sys.stop().await;
}
