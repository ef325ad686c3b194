//! The program catalog through the gateway: programs and their tracks set up by a director,
//! checked against the scheduling service's locations, rooms and clinicians over gRPC, and
//! read as a catalog by staff (REST and gRPC) and by a referral partner's backend client.

use chrono::{Datelike, NaiveDate, NaiveTime, Weekday};
use iop_proto::groups::program_service_client::ProgramServiceClient;
use iop_proto::groups::{self as pb};
use iop_testing::{TestSystem, with_bearer};
use serde_json::{Value, json};

use crate::appointments::{clinic, staff};
use crate::{assert_problem_names, get, post};

pub fn adult_sud(staff: &[String]) -> Value {
    json!({
        "name": "Adult SUD IOP",
        "description": "Three evenings a week for adults in early recovery.",
        "population": "adult",
        "level_of_care": "intensive_outpatient",
        "substance_use_disorder": true,
        "therapies": ["group_therapy", "relapse_prevention", "mindfulness_and_relaxation"],
        "modality": "hybrid",
        "expected_weeks": 12,
        "staff_clinician_ids": staff,
    })
}

pub fn evenings(program: &str, location: &str, room: &str, clinician: &str) -> Value {
    json!({
        "program_id": program,
        "name": "Evenings",
        "location_id": location,
        "room_id": room,
        "modality": "in_person",
        "meetings": [
            { "day": "thursday", "start_time": "18:00", "end_time": "21:00" },
            { "day": "monday", "start_time": "18:00", "end_time": "21:00" },
            { "day": "wednesday", "start_time": "18:00", "end_time": "21:00" },
        ],
        "facilitator_clinician_ids": [clinician],
        "curriculum": ["Coping skills", "Relapse prevention", "Family group"],
        "start_date": "2026-01-05",
    })
}

#[tokio::test]
async fn a_director_sets_up_programs_and_tracks_that_the_catalog_shows() {
    let sys = TestSystem::start().await;
    let director = staff(&sys, "clinic-a", "dr-director", "program_director");
    let desk = staff(&sys, "clinic-a", "desk", "front_desk");
    let c = clinic(&sys, &director).await;
    let (status, group_room) = post(
        &sys,
        &director,
        "/v1/rooms",
        &json!({ "location_id": c.location, "name": "Group room", "capacity": 12 }),
    )
    .await;
    assert_eq!(status, 201, "{group_room}");
    let group_room = group_room["id"].as_str().unwrap().to_owned();

    // A program, once per key; the ASAM 2.1 adult default of 9 hours a week.
    let body = adult_sud(&c.clinicians);
    let res = sys
        .http
        .post(sys.url("/v1/programs"))
        .bearer_auth(&director)
        .header("Idempotency-Key", "prog-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let program: Value = res.json().await.unwrap();
    assert_eq!(program["weekly_minutes"], 540, "{program}");
    let pid = program["id"].as_str().unwrap().to_owned();
    let again: Value = sys
        .http
        .post(sys.url("/v1/programs"))
        .bearer_auth(&director)
        .header("Idempotency-Key", "prog-1")
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["id"], program["id"]);
    // The front desk reads programs but does not make them; a staff id the scheduling
    // service does not know is 404.
    let (status, _) = post(&sys, &desk, "/v1/programs", &body).await;
    assert_eq!(status, 403);
    let (status, read) = get(&sys, &desk, &format!("/v1/programs/{pid}")).await;
    assert_eq!((status, &read["name"]), (200, &json!("Adult SUD IOP")));
    let mut unknown = adult_sud(&[uuid::Uuid::now_v7().to_string()]);
    unknown["name"] = json!("Other");
    let (status, problem) = post(&sys, &director, "/v1/programs", &unknown).await;
    assert_eq!(status, 404, "{problem}");

    // A change with the etag read; the same etag again is stale.
    let res = sys
        .http
        .patch(sys.url(&format!("/v1/programs/{pid}")))
        .bearer_auth(&director)
        .header("If-Match", "1")
        .json(&json!({ "description": "Evenings and a morning track by video." }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (
            res.status().as_u16(),
            res.headers()["etag"].to_str().unwrap()
        ),
        (200, "\"2\"")
    );
    let res = sys
        .http
        .patch(sys.url(&format!("/v1/programs/{pid}")))
        .bearer_auth(&director)
        .header("If-Match", "1")
        .json(&json!({ "active": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);

    // An evening track in the group room; a room seating 3 cannot take 12; a track by video.
    let track = evenings(&pid, &c.location, &group_room, &c.clinicians[0]);
    let (status, made) = post(&sys, &director, "/v1/tracks", &track).await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["capacity"], 12);
    assert_eq!(made["meetings"][0]["day"], "monday");
    let mut small = evenings(&pid, &c.location, &c.rooms[0], &c.clinicians[0]);
    small["name"] = json!("Small");
    let (_, problem) = post(&sys, &director, "/v1/tracks", &small).await;
    assert_problem_names(&problem, 409, "capacity");
    let mut video = evenings(&pid, &c.location, &group_room, &c.clinicians[1]);
    video["name"] = json!("Mornings by video");
    video["modality"] = json!("telehealth");
    video.as_object_mut().unwrap().remove("room_id");
    video["meetings"] = json!([{ "day": "tuesday", "start_time": "09:00", "end_time": "12:00" }]);
    video["capacity"] = json!(8);
    let (status, video) = post(&sys, &director, "/v1/tracks", &video).await;
    assert_eq!(status, 201, "{video}");
    // The evening track's first four weeks are held in scheduling: each session's hold is an
    // appointment of kind group_hold of the group room. A second track in that room at the
    // same times is refused, naming each session that clashes.
    let track_id = made["id"].as_str().unwrap();
    let (status, sessions) = get(&sys, &desk, &format!("/v1/tracks/{track_id}/sessions")).await;
    assert_eq!(status, 200, "{sessions}");
    let sessions = sessions["sessions"].as_array().unwrap().clone();
    assert!((11..=13).contains(&sessions.len()), "{}", sessions.len());
    let hold = sessions[0]["hold_id"].as_str().unwrap();
    let (status, held) = get(&sys, &director, &format!("/v1/appointments/{hold}")).await;
    assert_eq!(status, 200, "{held}");
    assert_eq!(
        (&held["kind"], &held["room_id"]),
        (&json!("group_hold"), &json!(group_room))
    );
    assert_eq!(held["start_time"], sessions[0]["start_time"]);
    let mut same_room = evenings(&pid, &c.location, &group_room, &c.clinicians[1]);
    same_room["name"] = json!("Evenings 2");
    let (status, problem) = post(&sys, &director, "/v1/tracks", &same_room).await;
    assert_eq!(status, 409, "{problem}");
    let clashing: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(clashing.len(), sessions.len(), "{problem}");
    assert_eq!(
        clashing[0],
        format!("sessions[{}]", sessions[0]["date"].as_str().unwrap())
    );
    let detail = problem["errors"][0]["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("room {group_room} is booked then"))
            && !detail.contains("occurrences["),
        "{detail}"
    );
    let (_, tracks) = get(&sys, &desk, &format!("/v1/tracks?program_id={pid}")).await;
    assert_eq!(
        tracks["tracks"].as_array().unwrap().len(),
        2,
        "the refused one is gone"
    );

    let (_, problem) = post(
        &sys,
        &director,
        "/v1/tracks",
        &json!({ "program_id": pid, "name": "Bad", "location_id": c.location, "modality": "hybrid",
                 "meetings": [], "facilitator_clinician_ids": [], "start_date": "2026-01-05" }),
    )
    .await;
    assert_problem_names(&problem, 400, "modality");

    // The catalog: the program with its staff as people read them, its tracks by name with
    // their place, zone and next session.
    let (status, catalog) = get(&sys, &desk, "/v1/program-catalog").await;
    assert_eq!(status, 200, "{catalog}");
    let entry = &catalog["programs"][0];
    assert_eq!(entry["program"]["id"], json!(pid));
    let names: Vec<&str> = entry["staff"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Dr Kim", "Dr Lee"]);
    let tracks = entry["tracks"].as_array().unwrap();
    let track_names: Vec<&str> = tracks
        .iter()
        .map(|t| t["track"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(track_names, ["Evenings", "Mornings by video"]);
    assert_eq!(tracks[0]["location_name"], "Downtown");
    assert_eq!(tracks[0]["time_zone"], "America/Los_Angeles");
    // Its next session: a meeting day, 18:00–21:00 on the Los Angeles wall clock, not begun,
    // within a week, on a topic of the curriculum.
    let next = &tracks[0]["next_session"];
    let day = NaiveDate::parse_from_str(next["date"].as_str().unwrap(), "%Y-%m-%d").unwrap();
    assert!(
        [Weekday::Mon, Weekday::Wed, Weekday::Thu].contains(&day.weekday()),
        "{next}"
    );
    let at = |field: &str| {
        chrono::DateTime::parse_from_rfc3339(next[field].as_str().unwrap())
            .unwrap()
            .with_timezone(&chrono_tz::America::Los_Angeles)
    };
    let (start, end) = (at("start_time"), at("end_time"));
    assert_eq!(
        (start.date_naive(), start.time()),
        (day, NaiveTime::from_hms_opt(18, 0, 0).unwrap())
    );
    assert_eq!(end - start, chrono::Duration::hours(3));
    let now = chrono::Utc::now();
    assert!(
        start > now && start < now + chrono::Duration::days(8),
        "{next}"
    );
    assert!(
        ["Coping skills", "Relapse prevention", "Family group"]
            .contains(&next["topic"].as_str().unwrap()),
        "{next}"
    );

    // A referral partner's backend client reads the catalog with its scope, nothing else;
    // another clinic's catalog is empty.
    let mut partner = sys.claims("clinic-a", &[]);
    partner["scope"] = json!("system/PlanDefinition.rs");
    let partner = sys.sign(partner);
    let (status, theirs) = get(&sys, &partner, "/v1/program-catalog").await;
    assert_eq!((status, &theirs), (200, &catalog));
    let (status, _) = get(&sys, &partner, "/v1/patients").await;
    assert_eq!(status, 403);
    let other = staff(&sys, "clinic-b", "other", "program_director");
    let (_, empty) = get(&sys, &other, "/v1/program-catalog").await;
    assert_eq!(empty["programs"], json!([]));

    // The same over gRPC through the gateway.
    let mut grpc = ProgramServiceClient::new(sys.grpc_channel().await);
    let page = grpc
        .list_tracks(with_bearer(
            pb::ListTracksRequest {
                program_id: pid.clone(),
                ..Default::default()
            },
            &desk,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.tracks.len(), 2);
    let over_grpc = grpc
        .get_catalog(with_bearer(pb::GetCatalogRequest {}, &desk))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        over_grpc.programs[0].tracks[0].time_zone,
        "America/Los_Angeles"
    );
    sys.stop().await;
}
