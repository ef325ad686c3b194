//! Appointments through the gateway: a series refused naming its one clashing occurrence,
//! the records service asked whether the patient exists, cancelling freeing the time, gRPC
//! alike, and every read in the patient's audit trail exactly once.

use iop_proto::scheduling::appointment_service_client::AppointmentServiceClient;
use iop_proto::scheduling::{self as pb};
use iop_testing::{TestSystem, with_bearer};
use serde_json::{Value, json};

use crate::{ana, assert_problem_names, create, get, post};

pub fn staff(sys: &TestSystem, tenant: &str, sub: &str, role: &str) -> String {
    let mut claims = sys.claims(tenant, &[role]);
    claims["sub"] = json!(sub);
    claims["scope"] = json!("user/*.cruds");
    sys.sign(claims)
}

/// A clinic's scheduling set up by its director: a location in Los Angeles, two rooms, two
/// clinicians who provide individual therapy.
pub struct Clinic {
    pub location: String,
    pub rooms: [String; 2],
    pub clinicians: [String; 2],
}

pub async fn clinic(sys: &TestSystem, director: &str) -> Clinic {
    let id = |v: &Value| v["id"].as_str().unwrap().to_owned();
    let (status, location) = post(
        sys,
        director,
        "/v1/locations",
        &json!({ "name": "Downtown", "time_zone": "America/Los_Angeles" }),
    )
    .await;
    assert_eq!(status, 201, "{location}");
    let mut rooms = Vec::new();
    for name in ["Office 1", "Office 2"] {
        let body = json!({ "location_id": id(&location), "name": name, "capacity": 3 });
        let (status, room) = post(sys, director, "/v1/rooms", &body).await;
        assert_eq!(status, 201, "{room}");
        rooms.push(id(&room));
    }
    let mut clinicians = Vec::new();
    // Dr Kim and Dr Lee sign in as `dr-kim` and `dr-lee`.
    for name in ["Kim", "Lee"] {
        let body = json!({
            "given_name": "Dr",
            "family_name": name,
            "kinds": ["individual_therapy", "family_session"],
            "user_id": format!("dr-{}", name.to_lowercase()),
        });
        let (status, c) = post(sys, director, "/v1/clinicians", &body).await;
        assert_eq!(status, 201, "{c}");
        clinicians.push(id(&c));
    }
    Clinic {
        location: id(&location),
        rooms: [rooms[0].clone(), rooms[1].clone()],
        clinicians: [clinicians[0].clone(), clinicians[1].clone()],
    }
}

/// An hour of individual therapy in a room.
pub fn visit(c: &Clinic, patient: &str, start: &str, end: &str) -> Value {
    json!({
        "kind": "individual_therapy",
        "patient_id": patient,
        "clinician_ids": [c.clinicians[0]],
        "location_id": c.location,
        "modality": "in_person",
        "room_id": c.rooms[0],
        "start_time": start,
        "end_time": end,
    })
}

#[tokio::test]
async fn a_series_with_one_clash_is_refused_naming_it_and_cancelling_frees_the_time() {
    let sys = TestSystem::start().await;
    let director = staff(&sys, "clinic-a", "dr-director", "program_director");
    let desk = staff(&sys, "clinic-a", "desk-1", "front_desk");
    let admin = staff(&sys, "clinic-a", "it-1", "admin");
    let c = clinic(&sys, &director).await;
    let (_, ana) = create(&sys, &desk, &ana()).await;
    let ana = ana["id"].as_str().unwrap().to_owned();
    let mut bea = crate::ana();
    bea["given_name"] = json!("Bea");
    let (_, bea) = create(&sys, &desk, &bea).await;
    let bea = bea["id"].as_str().unwrap().to_owned();

    // Bea has Dr Kim on Wednesday 2026-12-09, 18:30 Los Angeles time.
    let res = sys
        .http
        .post(sys.url("/v1/appointments"))
        .bearer_auth(&desk)
        .header("Idempotency-Key", "bea-wed")
        .json(&visit(
            &c,
            &bea,
            "2026-12-10T02:30:00Z",
            "2026-12-10T03:30:00Z",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let booked: Value = res.json().await.unwrap();
    let wed = booked["appointments"][0].clone();
    assert_eq!(
        location,
        format!("/v1/appointments/{}", wed["id"].as_str().unwrap())
    );
    assert_eq!(wed["status"], "booked");
    assert_eq!(wed["booked_by"], "desk-1");

    // Ana: Mondays and Wednesdays 18:00-19:00 from 2026-12-07, six times, with Dr Kim in
    // the other room. The second occurrence (Wednesday) clashes on Dr Kim: only it is named.
    let mut series = visit(&c, &ana, "2026-12-08T02:00:00Z", "2026-12-08T03:00:00Z");
    series["room_id"] = json!(c.rooms[1]);
    series["recurrence"] = json!("FREQ=WEEKLY;BYDAY=MO,WE;COUNT=6");
    let (status, problem) = post(&sys, &desk, "/v1/appointments", &series).await;
    assert_eq!(status, 409, "{problem}");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["occurrences[1].clinician_ids"], "{problem}");
    assert!(
        problem["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains(wed["id"].as_str().unwrap()),
        "{problem}"
    );

    // Cancelled by the patient, the Wednesday is free and the whole series books.
    let wed_id = wed["id"].as_str().unwrap();
    let res = sys
        .http
        .post(sys.url(&format!("/v1/appointments/{wed_id}/cancel")))
        .bearer_auth(&desk)
        .header("If-Match", format!("\"{}\"", wed["etag"].as_str().unwrap()))
        .json(&json!({ "kind": "by_patient", "reason": "work shift" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cancelled: Value = res.json().await.unwrap();
    assert_eq!(cancelled["appointments"][0]["status"], "cancelled");
    assert_eq!(cancelled["appointments"][0]["cancellation"]["by"], "desk-1");
    let (status, made) = post(&sys, &desk, "/v1/appointments", &series).await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["appointments"].as_array().unwrap().len(), 6);
    let series_id = made["series_id"].as_str().unwrap();
    let (_, listed) = get(
        &sys,
        &desk,
        &format!("/v1/appointments?series_id={series_id}&page_size=4"),
    )
    .await;
    assert_eq!(listed["appointments"].as_array().unwrap().len(), 4);
    assert!(listed["next_page_token"].is_string());

    // The first Monday moves to Tuesday 18:00: a new appointment takes its place, the old
    // one says where it went.
    let monday = made["appointments"][0].clone();
    let res = sys
        .http
        .post(sys.url(&format!(
            "/v1/appointments/{}/reschedule",
            monday["id"].as_str().unwrap()
        )))
        .bearer_auth(&desk)
        .header(
            "If-Match",
            format!("\"{}\"", monday["etag"].as_str().unwrap()),
        )
        .json(&json!({ "start_time": "2026-12-09T02:00:00Z", "end_time": "2026-12-09T03:00:00Z" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let tuesday: Value = res.json().await.unwrap();
    assert_eq!(tuesday["rescheduled_from"], monday["id"]);
    let (_, was) = get(
        &sys,
        &desk,
        &format!("/v1/appointments/{}", monday["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(was["status"], "rescheduled");
    assert_eq!(was["rescheduled_to"], tuesday["id"]);

    // Ana's weeks in Los Angeles time: two hours in each of the three weeks of the series.
    let (status, weeks) = get(
        &sys,
        &desk,
        &format!(
            "/v1/patients/{ana}/weeks?location_id={}&from_date=2026-12-07&to_date=2026-12-27",
            c.location
        ),
    )
    .await;
    assert_eq!(status, 200, "{weeks}");
    assert_eq!(
        weeks["weeks"],
        json!([
            { "week": "2026-W50", "kind": "individual_therapy", "scheduled_minutes": 120, "completed_minutes": 0 },
            { "week": "2026-W51", "kind": "individual_therapy", "scheduled_minutes": 120, "completed_minutes": 0 },
            { "week": "2026-W52", "kind": "individual_therapy", "scheduled_minutes": 120, "completed_minutes": 0 },
        ])
    );

    // The records service is asked: a patient it does not have is 404.
    let nobody = "01a2303d-0000-7000-8000-000000000000";
    let (status, problem) = post(
        &sys,
        &desk,
        "/v1/appointments",
        &visit(&c, nobody, "2026-12-14T17:00:00Z", "2026-12-14T18:00:00Z"),
    )
    .await;
    assert_eq!(status, 404, "{problem}");
    // Telehealth needs its link, and no room.
    let mut video = visit(&c, &ana, "2026-12-15T17:00:00Z", "2026-12-15T18:00:00Z");
    video["modality"] = json!("telehealth");
    let (status, problem) = post(&sys, &desk, "/v1/appointments", &video).await;
    assert_eq!(status, 400, "{problem}");
    assert_problem_names(&problem, 400, "join_url");

    // Reads are in the patient's trail, each once.
    let first = made["appointments"][1]["id"].as_str().unwrap();
    assert_eq!(
        get(&sys, &desk, &format!("/v1/appointments/{first}"))
            .await
            .0,
        200
    );
    let (status, trail) = get(&sys, &admin, &format!("/v1/audit-events?patient_id={ana}")).await;
    assert_eq!(status, 200, "{trail}");
    let reads: Vec<&Value> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "appointment.read" && e["resource_id"] == first)
        .collect();
    assert_eq!(reads.len(), 1, "{trail}");
    assert_eq!(reads[0]["resource_type"], "Appointment");
    // Another clinic finds none of it.
    let outsider = staff(&sys, "clinic-b", "desk-9", "front_desk");
    assert_eq!(
        get(&sys, &outsider, &format!("/v1/appointments/{first}"))
            .await
            .0,
        404
    );
    sys.stop().await;
}

#[tokio::test]
async fn booking_over_grpc_names_clashes_in_the_status() {
    let sys = TestSystem::start().await;
    let director = staff(&sys, "clinic-a", "dr-director", "program_director");
    let c = clinic(&sys, &director).await;
    let (_, patient) = create(&sys, &director, &ana()).await;
    let patient = patient["id"].as_str().unwrap().to_owned();
    let mut client = AppointmentServiceClient::new(sys.grpc_channel().await);
    let request = |start: i64| pb::BookAppointmentRequest {
        appointment: Some(pb::Appointment {
            kind: pb::AppointmentKind::IndividualTherapy as i32,
            patient_id: patient.clone(),
            clinician_ids: vec![c.clinicians[1].clone()],
            location_id: c.location.clone(),
            modality: pb::Modality::Telehealth as i32,
            join_url: "https://meet.example.com/r/1".into(),
            start_time: Some(prost_types::Timestamp {
                seconds: start,
                nanos: 0,
            }),
            end_time: Some(prost_types::Timestamp {
                seconds: start + 3600,
                nanos: 0,
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    // 2026-12-07T17:00:00Z
    let booked = client
        .book_appointment(with_bearer(request(1_796_662_800), &director))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(booked.appointments.len(), 1);
    let err = client
        .book_appointment(with_bearer(request(1_796_662_800 + 1800), &director))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Aborted, "{err:?}");
    let violations = iop_core::error::field_violations(&err);
    // The clinician and the patient both.
    assert_eq!(
        violations
            .iter()
            .map(|v| v.field.as_str())
            .collect::<Vec<_>>(),
        ["occurrences[0].clinician_ids", "occurrences[0].patient_id"]
    );
    sys.stop().await;
}

/// The group service's holds, as it places them over gRPC: placed once per key, refusing a
/// visit in the held room, released through REST, after which the visit books.
#[tokio::test]
async fn a_hold_keeps_the_room_until_released() {
    let sys = TestSystem::start().await;
    let director = staff(&sys, "clinic-a", "dr-director", "program_director");
    let c = clinic(&sys, &director).await;
    let (_, patient) = create(&sys, &director, &ana()).await;
    let patient = patient["id"].as_str().unwrap().to_owned();
    let mut client = AppointmentServiceClient::new(sys.grpc_channel().await);
    let at = |seconds| Some(prost_types::Timestamp { seconds, nanos: 0 });
    // 2030-01-08T02:00:00Z, three hours: an evening group.
    let request = pb::PlaceHoldRequest {
        hold_key: "group-session-1".into(),
        location_id: c.location.clone(),
        room_id: c.rooms[0].clone(),
        clinician_ids: vec![c.clinicians[1].clone()],
        start_time: at(1_894_068_000),
        end_time: at(1_894_068_000 + 3 * 3600),
    };
    let held = client
        .place_hold(with_bearer(request.clone(), &director))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(held.kind, pb::AppointmentKind::GroupHold as i32);
    let again = client
        .place_hold(with_bearer(request, &director))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.id, held.id);
    let visit = visit(&c, &patient, "2030-01-08T03:00:00Z", "2030-01-08T04:00:00Z");
    let (status, body) = post(&sys, &director, "/v1/appointments", &visit).await;
    assert_problem_names(&body, 409, "occurrences[0].room_id");
    assert_eq!(status, 409);
    let (status, released) = post(
        &sys,
        &director,
        &format!("/v1/holds/{}/release", held.id),
        &json!({ "reason": "group moved online" }),
    )
    .await;
    assert_eq!(
        (status, released["status"].as_str()),
        (200, Some("cancelled")),
        "{released}"
    );
    let (status, body) = post(&sys, &director, "/v1/appointments", &visit).await;
    assert_eq!(status, 201, "{body}");
    sys.stop().await;
}

/// Those who run the clinic set how a kind is offered; the front desk cannot; a booking in a
/// modality the clinic does not offer the kind in is refused, naming it.
#[tokio::test]
async fn a_kind_offered_in_person_only_refuses_a_video_booking() {
    let sys = TestSystem::start().await;
    let director = staff(&sys, "clinic-a", "dr-director", "program_director");
    let desk = staff(&sys, "clinic-a", "desk-1", "front_desk");
    let c = clinic(&sys, &director).await;
    let (_, patient) = create(&sys, &director, &ana()).await;
    let patient = patient["id"].as_str().unwrap().to_owned();
    let put = |token: &str| {
        sys.http
            .put(sys.url("/v1/appointment-kinds/family_session"))
            .bearer_auth(token)
            .header("if-match", "\"0\"")
            .json(&json!({ "default_minutes": 50, "modalities": ["in_person"], "billing_code": "90847" }))
            .send()
    };
    assert_eq!(put(&desk).await.unwrap().status().as_u16(), 403);
    let res = put(&director).await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let set: Value = res.json().await.unwrap();
    assert_eq!(
        (set["etag"].as_str(), set["billing_code"].as_str()),
        (Some("1"), Some("90847"))
    );
    let (status, all) = get(&sys, &desk, "/v1/appointment-kinds").await;
    assert_eq!(status, 200);
    assert!(all["kinds"].as_array().unwrap().contains(&set), "{all}");

    let mut video = visit(&c, &patient, "2030-01-08T17:00:00Z", "2030-01-08T18:00:00Z");
    video["kind"] = json!("family_session");
    video["modality"] = json!("telehealth");
    video["room_id"] = Value::Null;
    video["join_url"] = json!("https://meet.example.com/r/1");
    let (_, body) = post(&sys, &desk, "/v1/appointments", &video).await;
    assert_problem_names(&body, 409, "modality");
    sys.stop().await;
}

/// Intake from a referral, across both services: the front desk accepts a referral (the
/// patient is created from it), books the intake assessment for it, and the referral is
/// intake scheduled at that time; cancelling the intake makes it accepted again.
#[tokio::test]
async fn booking_an_intake_for_a_referral_schedules_it_there_and_cancelling_says_so() {
    let sys = TestSystem::start().await;
    let director = staff(&sys, "clinic-a", "dr-director", "program_director");
    let desk = staff(&sys, "clinic-a", "desk-1", "front_desk");
    let c = clinic(&sys, &director).await;
    let (status, intaker) = post(
        &sys,
        &director,
        "/v1/clinicians",
        &json!({ "given_name": "Sam", "family_name": "Intake", "kinds": ["intake_assessment"] }),
    )
    .await;
    assert_eq!(status, 201, "{intaker}");
    let (_, r) = post(&sys, &desk, "/v1/referrals", &crate::referrals::referral()).await;
    let referral = r["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/referrals/{referral}");
    let intake = |patient: &str| {
        json!({
            "kind": "intake_assessment",
            "patient_id": patient,
            "referral_id": referral,
            "clinician_ids": [intaker["id"]],
            "location_id": c.location,
            "modality": "in_person",
            "room_id": c.rooms[0],
            "start_time": "2030-01-08T17:00:00Z",
            "end_time": "2030-01-08T18:30:00Z",
        })
    };
    // Not accepted yet (and no patient yet): refused, nothing booked.
    let (_, someone) = create(&sys, &desk, &ana()).await;
    let (_, body) = post(
        &sys,
        &desk,
        "/v1/appointments",
        &intake(someone["id"].as_str().unwrap()),
    )
    .await;
    assert_problem_names(&body, 409, "referral_id");
    let (status, accepted) = post(&sys, &desk, &format!("{path}/accept"), &json!({})).await;
    assert_eq!(status, 200, "{accepted}");
    let patient = accepted["patient_id"].as_str().unwrap().to_owned();

    let (status, booked) = post(&sys, &desk, "/v1/appointments", &intake(&patient)).await;
    assert_eq!(status, 201, "{booked}");
    let appointment = &booked["appointments"][0];
    assert_eq!(appointment["referral_id"].as_str(), Some(referral.as_str()));
    let (_, r) = get(&sys, &desk, &path).await;
    assert_eq!(r["status"], "intake_scheduled", "{r}");
    let at: chrono::DateTime<chrono::Utc> = r["intake_time"].as_str().unwrap().parse().unwrap();
    assert_eq!(at.to_rfc3339(), "2030-01-08T17:00:00+00:00");

    let (status, cancelled) = post(
        &sys,
        &desk,
        &format!(
            "/v1/appointments/{}/cancel",
            appointment["id"].as_str().unwrap()
        ),
        &json!({ "kind": "by_patient", "reason": "not ready" }),
    )
    .await;
    assert_eq!(status, 200, "{cancelled}");
    let (_, r) = get(&sys, &desk, &path).await;
    assert_eq!(r["status"], "accepted", "{r}");
    assert!(r.get("intake_time").is_none_or(Value::is_null), "{r}");
    sys.stop().await;
}

/// A family session with the patient's mother: refused while no consent names her for family
/// involvement (records' rule, asked over gRPC), booked once one does.
#[tokio::test]
async fn a_family_session_takes_a_contact_once_a_consent_involves_them() {
    use crate::consents::{mother, patch};
    let sys = TestSystem::start().await;
    let director = staff(&sys, "clinic-a", "dr-director", "program_director");
    let c = clinic(&sys, &director).await;
    let (_, patient) = create(&sys, &director, &ana()).await;
    let patient = patient["id"].as_str().unwrap().to_owned();
    let (status, mom) = post(
        &sys,
        &director,
        &format!("/v1/patients/{patient}/contacts"),
        &mother(),
    )
    .await;
    assert_eq!(status, 201, "{mom}");
    let mom = mom["id"].as_str().unwrap().to_owned();
    let mut session = visit(&c, &patient, "2030-01-08T17:00:00Z", "2030-01-08T18:00:00Z");
    session["kind"] = json!("family_session");
    session["family_contact_ids"] = json!([mom]);
    let (_, body) = post(&sys, &director, "/v1/appointments", &session).await;
    assert_problem_names(&body, 409, "family_contact_ids[0]");

    let consent = json!({
        "recipient_id": mom,
        "recipient_name": "Maria Lopez (mother)",
        "categories": ["attendance"],
        "purposes": ["family_involvement"],
        "expiration_date": "2099-12-31",
    });
    let (status, consent) = post(
        &sys,
        &director,
        &format!("/v1/patients/{patient}/consents"),
        &consent,
    )
    .await;
    assert_eq!(status, 201, "{consent}");
    let (status, involved) = patch(
        &sys,
        &director,
        &format!("/v1/contacts/{mom}"),
        &json!({ "involved_in_family_sessions": true }),
    )
    .await;
    assert_eq!(status, 200, "{involved}");
    let (status, booked) = post(&sys, &director, "/v1/appointments", &session).await;
    assert_eq!(status, 201, "{booked}");
    assert_eq!(
        booked["appointments"][0]["family_contact_ids"],
        json!([mom])
    );
    sys.stop().await;
}

/// Through the gateway: Dr Kim (a clinician signed in as `dr-kim`) sees her own schedule
/// and her patient Ana's appointment with Dr Lee, not Bea's with Dr Lee (403 by id, left out
/// of lists); the front desk sees every one; a backend client with `system/Appointment.rs`
/// sees every one; a clinician linked to no clinician sees none.
#[tokio::test]
async fn a_clinician_sees_their_own_schedule_and_their_patients() {
    let sys = TestSystem::start().await;
    let director = staff(&sys, "clinic-a", "dr-director", "program_director");
    let desk = staff(&sys, "clinic-a", "desk-1", "front_desk");
    let kim = staff(&sys, "clinic-a", "dr-kim", "clinician");
    let stranger = staff(&sys, "clinic-a", "dr-locum", "clinician");
    let c = clinic(&sys, &director).await;
    let mut ids = Vec::new();
    let mut patients = Vec::new();
    for name in ["Ana", "Bea"] {
        let mut body = crate::ana();
        body["given_name"] = json!(name);
        let (_, p) = create(&sys, &desk, &body).await;
        patients.push(p["id"].as_str().unwrap().to_owned());
    }
    for (patient, clinician, start, end) in [
        (0, 0, "2030-01-07T17:00:00Z", "2030-01-07T18:00:00Z"),
        (0, 1, "2030-01-08T17:00:00Z", "2030-01-08T18:00:00Z"),
        (1, 1, "2030-01-09T17:00:00Z", "2030-01-09T18:00:00Z"),
    ] {
        let mut body = visit(&c, &patients[patient], start, end);
        body["clinician_ids"] = json!([c.clinicians[clinician]]);
        let (status, booked) = post(&sys, &desk, "/v1/appointments", &body).await;
        assert_eq!(status, 201, "{booked}");
        ids.push(booked["appointments"][0]["id"].as_str().unwrap().to_owned());
    }
    let listed = |token: String| {
        let sys = &sys;
        async move {
            let (status, page) = get(sys, &token, "/v1/appointments").await;
            assert_eq!(status, 200, "{page}");
            page["appointments"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed(kim.clone()).await, ids[..2]);
    assert_eq!(listed(desk.clone()).await, ids);
    assert!(listed(stranger.clone()).await.is_empty());
    let mut ehr = sys.claims("clinic-a", &[]);
    ehr["scope"] = json!("system/Appointment.rs");
    assert_eq!(listed(sys.sign(ehr)).await, ids);
    let (status, _) = get(&sys, &kim, &format!("/v1/appointments/{}", ids[1])).await;
    assert_eq!(status, 200);
    let (status, problem) = get(&sys, &kim, &format!("/v1/appointments/{}", ids[2])).await;
    assert_eq!(status, 403, "{problem}");
    let (status, _) = get(
        &sys,
        &kim,
        &format!(
            "/v1/patients/{}/weeks?location_id={}&from_date=2030-01-07&to_date=2030-01-13",
            patients[1], c.location
        ),
    )
    .await;
    assert_eq!(status, 403);
    sys.stop().await;
}

/// A weekly series moved whole through REST (`scope: all`): each occurrence an hour later in
/// local time, the old ones kept as `rescheduled`.
#[tokio::test]
async fn a_whole_series_moves_an_hour_later() {
    let sys = TestSystem::start().await;
    let director = staff(&sys, "clinic-a", "dr-director", "program_director");
    let desk = staff(&sys, "clinic-a", "desk-1", "front_desk");
    let c = clinic(&sys, &director).await;
    let (_, ana) = create(&sys, &desk, &ana()).await;
    let mut series = visit(
        &c,
        ana["id"].as_str().unwrap(),
        "2030-01-08T02:00:00Z",
        "2030-01-08T03:00:00Z",
    );
    series["recurrence"] = json!("FREQ=WEEKLY;BYDAY=MO;COUNT=3");
    let (status, booked) = post(&sys, &desk, "/v1/appointments", &series).await;
    assert_eq!(status, 201, "{booked}");
    let first = booked["appointments"][0]["id"].as_str().unwrap();
    let series_id = booked["series_id"].as_str().unwrap();
    let (status, moved) = post(
        &sys,
        &desk,
        &format!("/v1/appointments/{first}/reschedule"),
        &json!({
            "start_time": "2030-01-08T03:00:00Z",
            "end_time": "2030-01-08T04:00:00Z",
            "scope": "all",
        }),
    )
    .await;
    assert_eq!(status, 201, "{moved}");
    let (_, page) = get(
        &sys,
        &desk,
        &format!("/v1/appointments?series_id={series_id}&status=booked"),
    )
    .await;
    let starts: Vec<&str> = page["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["start_time"].as_str().unwrap())
        .collect();
    assert_eq!(
        starts,
        [
            "2030-01-08T03:00:00.000000Z",
            "2030-01-15T03:00:00.000000Z",
            "2030-01-22T03:00:00.000000Z"
        ],
        "{page}"
    );
    sys.stop().await;
}

/// Booking over a clash on purpose is refused without a reason and, with one, kept on the
/// appointment and recorded in the audit trail as its own action.
#[tokio::test]
async fn a_deliberate_double_booking_is_audited_as_one() {
    let sys = TestSystem::start().await;
    let director = staff(&sys, "clinic-a", "dr-director", "program_director");
    let desk = staff(&sys, "clinic-a", "desk-1", "front_desk");
    let admin = staff(&sys, "clinic-a", "it-1", "admin");
    let c = clinic(&sys, &director).await;
    let mut ids = Vec::new();
    for name in ["Ana", "Bea"] {
        let mut body = ana();
        body["given_name"] = json!(name);
        let (_, p) = create(&sys, &desk, &body).await;
        ids.push(p["id"].as_str().unwrap().to_owned());
    }
    let (start, end) = ("2030-02-04T17:00:00Z", "2030-02-04T18:00:00Z");
    let (status, _) = post(
        &sys,
        &desk,
        "/v1/appointments",
        &visit(&c, &ids[0], start, end),
    )
    .await;
    assert_eq!(status, 201);
    let mut over = visit(&c, &ids[1], start, end);
    let (status, _) = post(&sys, &desk, "/v1/appointments", &over).await;
    assert_eq!(status, 409);
    over["overlap_reason"] = json!("co-facilitated crisis session");
    let (status, booked) = post(&sys, &desk, "/v1/appointments", &over).await;
    assert_eq!(status, 201, "{booked}");
    assert_eq!(
        booked["appointments"][0]["overlap_reason"],
        "co-facilitated crisis session"
    );
    let (_, trail) = get(
        &sys,
        &admin,
        &format!("/v1/audit-events?patient_id={}", ids[1]),
    )
    .await;
    let actions: Vec<(&str, &str)> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("appointment."))
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        actions.contains(&("appointment.book_over", "success"))
            && actions.contains(&("appointment.book", "failed")),
        "{trail}"
    );
    sys.stop().await;
}
