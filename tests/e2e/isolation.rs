//! Tenant isolation, route by route: every operation in the OpenAPI document, called with a
//! token of clinic A against the resources of clinic B, sees none of B's data.

use iop_testing::TestSystem;
use serde_json::json;

use crate::{ana, create, get};

#[tokio::test]
async fn no_route_in_the_openapi_document_leaks_another_tenants_data() {
    let sys = TestSystem::start().await;
    let admin = |tenant: &str| {
        // Every role at once, so that no route is refused before it could leak.
        let mut claims = sys.claims(tenant, &["admin", "clinician"]);
        claims["scope"] = json!("user/*.cruds");
        sys.sign(claims)
    };
    let (admin_a, admin_b) = (admin("clinic-a"), admin("clinic-b"));

    // Clinic B's data, with values that would be recognisable anywhere.
    let mut secret = ana();
    secret["given_name"] = json!("Bsecret");
    secret["mrn"] = json!("B-MRN-1");
    secret["identifiers"] = json!([{ "system": "b-ehr", "value": "B-EHR-1" }]);
    let (status, b_patient) = create(&sys, &admin_b, &secret).await;
    assert_eq!(status, 201);
    let b_id = b_patient["id"].as_str().unwrap().to_owned();
    let key = iop_auth::SigningKey::generate().unwrap();
    let res = sys
        .http
        .post(sys.url("/v1/clients"))
        .bearer_auth(&admin_b)
        .json(&json!({ "name": "Bsecret-client", "kind": "ehr", "jwks": key.jwks(), "scopes": ["system/Patient.rs"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let b_client: serde_json::Value = res.json().await.unwrap();
    let b_client_id = b_client["client_id"].as_str().unwrap().to_owned();
    let (status, b_assessment) = crate::post(
        &sys,
        &admin_b,
        &format!("/v1/patients/{b_id}/assessments"),
        &crate::assessments::phq9(2),
    )
    .await;
    assert_eq!(status, 201, "{b_assessment}");
    let b_assessment_id = b_assessment["id"].as_str().unwrap().to_owned();
    let b_flag_id = b_assessment["safety_flag_id"].as_str().unwrap().to_owned();
    let (status, b_episode) = crate::post(
        &sys,
        &admin_b,
        &format!("/v1/patients/{b_id}/episodes"),
        &crate::episodes::referral(),
    )
    .await;
    assert_eq!(status, 201, "{b_episode}");
    let b_episode_id = b_episode["id"].as_str().unwrap().to_owned();
    let (status, b_note) = crate::post(
        &sys,
        &admin_b,
        &format!("/v1/patients/{b_id}/notes"),
        &crate::notes::session_note(),
    )
    .await;
    assert_eq!(status, 201, "{b_note}");
    let b_note_id = b_note["id"].as_str().unwrap().to_owned();
    let (status, b_plan) = crate::post(
        &sys,
        &admin_b,
        &format!("/v1/patients/{b_id}/plans"),
        &crate::plans::plan(),
    )
    .await;
    assert_eq!(status, 201, "{b_plan}");
    let b_plan_id = b_plan["id"].as_str().unwrap().to_owned();
    let (status, b_consent) = crate::post(
        &sys,
        &admin_b,
        &format!("/v1/patients/{b_id}/consents"),
        &crate::consents::to_clinic(),
    )
    .await;
    assert_eq!(status, 201, "{b_consent}");
    let b_consent_id = b_consent["id"].as_str().unwrap().to_owned();
    let (status, b_contact) = crate::post(
        &sys,
        &admin_b,
        &format!("/v1/patients/{b_id}/contacts"),
        &crate::consents::mother(),
    )
    .await;
    assert_eq!(status, 201, "{b_contact}");
    let b_contact_id = b_contact["id"].as_str().unwrap().to_owned();
    let mut b_referral = crate::referrals::referral();
    b_referral["patient"]["given_name"] = json!("Bsecret");
    let (status, b_referral) = crate::post(&sys, &admin_b, "/v1/referrals", &b_referral).await;
    assert_eq!(status, 201, "{b_referral}");
    let b_referral_id = b_referral["id"].as_str().unwrap().to_owned();
    // A's own data, so that lists have something to show.
    let b_clinic = crate::appointments::clinic(&sys, &admin_b).await;
    let (status, b_booked) = crate::post(
        &sys,
        &admin_b,
        "/v1/appointments",
        &crate::appointments::visit(
            &b_clinic,
            &b_id,
            "2026-12-07T17:00:00Z",
            "2026-12-07T18:00:00Z",
        ),
    )
    .await;
    assert_eq!(status, 201, "{b_booked}");
    let b_appointment_id = b_booked["appointments"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = sys
        .http
        .put(sys.url(&format!(
            "/v1/clinicians/{}/working-hours/{}",
            b_clinic.clinicians[0], b_clinic.location
        )))
        .bearer_auth(&admin_b)
        .json(
            &json!({ "hours": [{ "day": "monday", "start_time": "09:00", "end_time": "17:00" }] }),
        )
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 200);
    let (status, b_exception) = crate::post(
        &sys,
        &admin_b,
        "/v1/availability-exceptions",
        &json!({
            "kind": "time_off",
            "clinician_id": b_clinic.clinicians[0],
            "start_time": "2030-01-07T17:00:00Z",
            "end_time": "2030-01-08T01:00:00Z",
            "reason": "Bsecret leave",
        }),
    )
    .await;
    assert_eq!(status, 201, "{b_exception}");
    let b_exception_id = b_exception["id"].as_str().unwrap().to_owned();
    let b_waiting = json!({
        "patient_id": b_id,
        "kind": "individual_therapy",
        "location_id": b_clinic.location,
    });
    let (status, b_entry) = crate::post(&sys, &admin_b, "/v1/waitlist-entries", &b_waiting).await;
    assert_eq!(status, 201, "{b_entry}");
    let b_entry_id = b_entry["id"].as_str().unwrap().to_owned();
    let b_feed_body = json!({ "clinician_id": b_clinic.clinicians[0] });
    let (status, b_feed) = crate::post(&sys, &admin_b, "/v1/calendar-feeds", &b_feed_body).await;
    assert_eq!(status, 201, "{b_feed}");
    let b_feed_id = b_feed["id"].as_str().unwrap().to_owned();
    let mut b_program_body = crate::programs::adult_sud(&b_clinic.clinicians);
    b_program_body["name"] = json!("Bsecret program");
    let (status, b_program) = crate::post(&sys, &admin_b, "/v1/programs", &b_program_body).await;
    assert_eq!(status, 201, "{b_program}");
    let b_program_id = b_program["id"].as_str().unwrap().to_owned();
    let mut b_track_body = crate::programs::evenings(
        &b_program_id,
        &b_clinic.location,
        &b_clinic.rooms[0],
        &b_clinic.clinicians[0],
    );
    b_track_body["name"] = json!("Bsecret evenings");
    b_track_body["capacity"] = json!(3);
    let (status, b_track) = crate::post(&sys, &admin_b, "/v1/tracks", &b_track_body).await;
    assert_eq!(status, 201, "{b_track}");
    let b_track_id = b_track["id"].as_str().unwrap().to_owned();
    let (_, a_patient) = create(&sys, &admin_a, &ana()).await;
    let a_id = a_patient["id"].as_str().unwrap();
    let (status, _) = crate::post(
        &sys,
        &admin_a,
        &format!("/v1/patients/{a_id}/assessments"),
        &crate::assessments::phq9(1),
    )
    .await;
    assert_eq!(status, 201);
    let b_ids = [
        b_id.as_str(),
        &b_client_id,
        &b_assessment_id,
        &b_flag_id,
        &b_episode_id,
        &b_note_id,
        &b_plan_id,
        &b_consent_id,
        &b_contact_id,
        &b_referral_id,
        &b_clinic.location,
        &b_clinic.rooms[0],
        &b_clinic.clinicians[0],
        &b_appointment_id,
        &b_exception_id,
        &b_entry_id,
        &b_feed_id,
        b_feed["url"].as_str().unwrap(),
        &b_program_id,
        &b_track_id,
        key.kid(),
    ];
    let b_texts = ["Bsecret", "B-MRN-1", "B-EHR-1"];

    let (_, doc) = get(&sys, &admin_a, "/openapi.json").await;
    let paths = doc["paths"].as_object().unwrap();
    let mut calls = 0;
    for (template, ops) in paths {
        let id = if template.starts_with("/v1/clients") {
            &b_client_id
        } else if template.starts_with("/v1/assessments") {
            &b_assessment_id
        } else if template.starts_with("/v1/safety-flags") {
            &b_flag_id
        } else if template.starts_with("/v1/episodes") {
            &b_episode_id
        } else if template.starts_with("/v1/notes") {
            &b_note_id
        } else if template.starts_with("/v1/plans") {
            &b_plan_id
        } else if template.starts_with("/v1/consents") {
            &b_consent_id
        } else if template.starts_with("/v1/contacts") {
            &b_contact_id
        } else if template.starts_with("/v1/referrals") {
            &b_referral_id
        } else if template.starts_with("/v1/locations") {
            &b_clinic.location
        } else if template.starts_with("/v1/rooms") {
            &b_clinic.rooms[0]
        } else if template.starts_with("/v1/clinicians") {
            &b_clinic.clinicians[0]
        } else if template.starts_with("/v1/appointments") || template.starts_with("/v1/holds") {
            &b_appointment_id
        } else if template.starts_with("/v1/availability-exceptions") {
            &b_exception_id
        } else if template.starts_with("/v1/waitlist-entries") {
            &b_entry_id
        } else if template.starts_with("/v1/calendar-feeds") {
            &b_feed_id
        } else if template.starts_with("/v1/programs") {
            &b_program_id
        } else if template.starts_with("/v1/tracks") {
            &b_track_id
        } else {
            &b_id
        };
        let path = template
            .replace("{id}", id)
            .replace("{clinician_id}", &b_clinic.clinicians[0])
            .replace("{location_id}", &b_clinic.location)
            .replace("{kind}", "family_session");
        for method in ops.as_object().unwrap().keys() {
            let mut req = match method.as_str() {
                "get" => sys.http.get(sys.url(&path)),
                "post" if template.ends_with("/assessments") => sys
                    .http
                    .post(sys.url(&path))
                    .json(&crate::assessments::phq9(1)),
                "post" if template.ends_with("/episodes") => sys
                    .http
                    .post(sys.url(&path))
                    .json(&crate::episodes::referral()),
                "post" if template.ends_with("/admit") => sys
                    .http
                    .post(sys.url(&path))
                    .json(&json!({ "admit_date": crate::episodes::day(0) })),
                "post" if template.ends_with("/levels") => sys
                    .http
                    .post(sys.url(&path))
                    .json(&json!({ "kind": "delivered", "level": "residential" })),
                "post" if template.ends_with("/discharge") => sys.http.post(sys.url(&path)).json(
                    &json!({ "discharge_date": crate::episodes::day(0), "reason": "administrative" }),
                ),
                "post" if template == "/v1/referrals" => sys
                    .http
                    .post(sys.url(&path))
                    .json(&crate::referrals::referral()),
                "post" if template.starts_with("/v1/referrals/") => {
                    let body = match template.rsplit('/').next() {
                        Some("accept") => json!({}),
                        Some("intake") => json!({ "intake_time": "2030-01-06T15:00:00Z" }),
                        Some("admit") => json!({ "admit_date": crate::episodes::day(0) }),
                        Some("decline") => json!({ "reason": "Hijacked" }),
                        _ => json!({ "note": "Hijacked" }),
                    };
                    sys.http.post(sys.url(&path)).json(&body)
                }
                "post" if template.ends_with("/consents") => sys
                    .http
                    .post(sys.url(&path))
                    .json(&crate::consents::to_clinic()),
                "post" if template.ends_with("/contacts") => sys
                    .http
                    .post(sys.url(&path))
                    .json(&crate::consents::mother()),
                "post" if template.ends_with("/release") => {
                    sys.http.post(sys.url(&path)).json(&json!({}))
                }
                "post" if template == "/v1/holds" => {
                    sys.http.post(sys.url(&path)).json(&json!({
                        "hold_key": "session-1",
                        "location_id": b_clinic.location,
                        "room_id": b_clinic.rooms[0],
                        "start_time": "2030-01-07T17:00:00Z",
                        "end_time": "2030-01-07T20:00:00Z",
                    }))
                }
                "post" if template == "/v1/calendar-feeds" => {
                    sys.http.post(sys.url(&path)).json(&b_feed_body)
                }
                "post" if template.ends_with("/revoke") && template.contains("calendar") => {
                    sys.http.post(sys.url(&path)).json(&json!({}))
                }
                "post" if template == "/v1/programs" => {
                    sys.http.post(sys.url(&path)).json(&b_program_body)
                }
                "post" if template == "/v1/tracks" => {
                    sys.http.post(sys.url(&path)).json(&b_track_body)
                }
                "post" if template == "/v1/waitlist-entries" => {
                    sys.http.post(sys.url(&path)).json(&b_waiting)
                }
                "post" if template.ends_with("/withdraw") => sys
                    .http
                    .post(sys.url(&path))
                    .json(&json!({ "reason": "Hijacked" })),
                "post" if template.ends_with("/accept") || template.ends_with("/decline") => sys
                    .http
                    .post(sys.url(&path))
                    .json(&json!({ "offer_id": b_entry_id })),
                "post" if template.ends_with("/revoke") => {
                    sys.http.post(sys.url(&path)).json(&json!({}))
                }
                "post" if template.ends_with("/plans") => {
                    sys.http.post(sys.url(&path)).json(&crate::plans::plan())
                }
                "post" if template.ends_with("/progress") => sys
                    .http
                    .post(sys.url(&path))
                    .json(&json!({ "status": "achieved" })),
                "post" if template.ends_with("/revisions") => sys.http.post(sys.url(&path)),
                "post" if template.ends_with("/notes") => sys
                    .http
                    .post(sys.url(&path))
                    .json(&crate::notes::session_note()),
                "post" if template.ends_with("/addenda") => sys
                    .http
                    .post(sys.url(&path))
                    .json(&json!({ "text": "Hijacked" })),
                "post" if template.ends_with("/sign") => sys.http.post(sys.url(&path)),
                "post" if template.ends_with("/reschedule") => {
                    sys.http.post(sys.url(&path)).json(&json!({
                        "start_time": "2026-12-08T17:00:00Z",
                        "end_time": "2026-12-08T18:00:00Z",
                    }))
                }
                "post" if template.ends_with("/status") => sys
                    .http
                    .post(sys.url(&path))
                    .json(&json!({ "status": "checked_in" })),
                "post" if template.ends_with("/cancel") => sys
                    .http
                    .post(sys.url(&path))
                    .json(&json!({ "kind": "by_clinic" })),
                "post" if template.ends_with("/acknowledge") => sys
                    .http
                    .post(sys.url(&path))
                    .json(&json!({ "note": "not mine" })),
                "post" => sys.http.post(sys.url(&path)).json(&ana()),
                "patch" if template.starts_with("/v1/clients") => sys
                    .http
                    .patch(sys.url(&path))
                    .json(&json!({ "name": "Hijacked", "enabled": false })),
                "patch" if template.starts_with("/v1/contacts") => sys
                    .http
                    .patch(sys.url(&path))
                    .json(&json!({ "name": "Hijacked" })),
                "patch" if template.starts_with("/v1/notes") => sys
                    .http
                    .patch(sys.url(&path))
                    .json(&json!({ "body": "Hijacked" })),
                "patch" if template.starts_with("/v1/programs") => sys
                    .http
                    .patch(sys.url(&path))
                    .json(&json!({ "name": "Hijacked" })),
                "patch" if template.starts_with("/v1/episodes") => sys
                    .http
                    .patch(sys.url(&path))
                    .json(&json!({ "program": "Hijacked" })),
                "patch" => sys
                    .http
                    .patch(sys.url(&path))
                    .json(&json!({ "given_name": "Hijacked" })),
                "put" if template.starts_with("/v1/plans") => {
                    sys.http.put(sys.url(&path)).json(&json!({ "problems": [] }))
                }
                "put" if template.starts_with("/v1/appointment-kinds/") => sys
                    .http
                    .put(sys.url(&path))
                    .json(&json!({ "default_minutes": 50, "modalities": ["in_person"] })),
                "put" if template.contains("/working-hours/") => {
                    sys.http.put(sys.url(&path)).json(&json!({ "hours": [] }))
                }
                "put" => sys.http.put(sys.url(&path)).json(&json!({})),
                "delete" => sys.http.delete(sys.url(&path)),
                other => panic!("untested method {other} on {template}: add it here"),
            };
            req = req.bearer_auth(&admin_a);
            // Filters that would find B's data if tenants were mixed.
            // Other lists are walked unfiltered: all of A's, none of B's.
            if method == "get" && template == "/v1/patients" {
                req = req.query(&[("name", "Bsecret")]);
            } else if method == "get" && template.ends_with("/disclosure-check") {
                req = req.query(&[
                    ("recipient_id", "npi:1234567893"),
                    ("category", "attendance"),
                    ("purpose", "care_coordination"),
                ]);
            } else if method == "get" && template.ends_with("/weeks") {
                req = req.query(&[
                    ("location_id", b_clinic.location.as_str()),
                    ("from_date", "2026-12-07"),
                    ("to_date", "2026-12-13"),
                ]);
            } else if method == "get" && template == "/v1/slots" {
                req = req.query(&[
                    ("location_id", b_clinic.location.as_str()),
                    ("kind", "individual_therapy"),
                    ("from_date", "2030-01-07"),
                    ("to_date", "2030-01-13"),
                ]);
            } else if method == "get" && template == "/v1/availability-exceptions" {
                req = req.query(&[("clinician_id", b_clinic.clinicians[0].as_str())]);
            } else if method == "get" && template == "/v1/audit-events" {
                req = req.query(&[("patient_id", &b_id)]);
            }
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            let body = res.text().await.unwrap();
            // The id the caller sent may be echoed back ("patient … not found", A's own audit
            // events of its attempts); nothing else of B's may appear.
            let echoed: &str = if template.contains("audit") {
                &b_id
            } else if template.contains("{id}") {
                id
            } else if template.contains("{clinician_id}") {
                &b_clinic.clinicians[0]
            } else if template == "/v1/slots"
                || template == "/v1/holds"
                || (template == "/v1/waitlist-entries" && method == "post")
            {
                &b_clinic.location
            } else if (template == "/v1/calendar-feeds" || template == "/v1/programs")
                && method == "post"
            {
                &b_clinic.clinicians[0]
            } else if template == "/v1/tracks" && method == "post" {
                &b_program_id
            } else {
                ""
            };
            for marker in b_ids.iter().filter(|m| **m != echoed).chain(&b_texts) {
                assert!(
                    !body.contains(marker),
                    "{method} {template} leaked {marker}: {status} {body}"
                );
            }
            if template.contains("id}")
                || template == "/v1/slots"
                || template == "/v1/holds"
                || (template == "/v1/waitlist-entries" && method == "post")
                || (template == "/v1/calendar-feeds" && method == "post")
                || (template == "/v1/programs" && method == "post")
                || (template == "/v1/tracks" && method == "post")
            {
                assert_eq!(
                    status, 404,
                    "{method} {template} must not find B's resource"
                );
            }
            calls += 1;
        }
    }
    assert!(calls >= 52, "walked only {calls} operations");

    // And B's patient is untouched.
    let (_, still) = get(&sys, &admin_b, &format!("/v1/patients/{b_id}")).await;
    assert_eq!(still["given_name"], "Bsecret");
    assert_eq!(still["version"], 1);
    let (_, referral) = get(&sys, &admin_b, &format!("/v1/referrals/{b_referral_id}")).await;
    assert_eq!(referral["status"], "received", "{referral}");
    let (_, consent) = get(&sys, &admin_b, &format!("/v1/consents/{b_consent_id}")).await;
    assert_eq!(consent["status"], "active", "{consent}");
    let (_, contact) = get(&sys, &admin_b, &format!("/v1/contacts/{b_contact_id}")).await;
    assert_eq!(contact["name"], "Maria Lopez", "{contact}");
    let (_, plan) = get(&sys, &admin_b, &format!("/v1/plans/{b_plan_id}")).await;
    assert_eq!(plan["etag"], "1.0", "{plan}");
    assert_eq!(plan["problems"][0]["goals"][0]["progress"], json!([]));
    let (_, note) = get(&sys, &admin_b, &format!("/v1/notes/{b_note_id}")).await;
    assert_eq!(
        (note["version"].as_i64(), note["status"].as_str()),
        (Some(1), Some("draft")),
        "{note}"
    );
    let (_, episode) = get(&sys, &admin_b, &format!("/v1/episodes/{b_episode_id}")).await;
    assert_eq!(episode["version"], 1, "{episode}");
    assert_eq!(episode["status"], "referred");
    let (status, exception) = get(
        &sys,
        &admin_b,
        &format!("/v1/availability-exceptions/{b_exception_id}"),
    )
    .await;
    assert_eq!(status, 200, "{exception}");
    let feed = sys.http.get(b_feed["url"].as_str().unwrap()).send().await;
    assert_eq!(feed.unwrap().status().as_u16(), 200, "B's feed still works");
    let (_, entry) = get(
        &sys,
        &admin_b,
        &format!("/v1/waitlist-entries/{b_entry_id}"),
    )
    .await;
    assert_eq!(
        (entry["status"].as_str(), entry.get("withdraw_reason")),
        (Some("waiting"), None),
        "{entry}"
    );
    let (_, hours) = get(
        &sys,
        &admin_b,
        &format!(
            "/v1/clinicians/{}/working-hours/{}",
            b_clinic.clinicians[0], b_clinic.location
        ),
    )
    .await;
    assert_eq!(hours["hours"].as_array().map(Vec::len), Some(1), "{hours}");
    // A's settings of a kind are A's.
    let (_, kinds) = get(&sys, &admin_b, "/v1/appointment-kinds").await;
    let family = kinds["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kind"] == "family_session")
        .unwrap();
    assert_eq!(family["etag"], "0", "{family}");
    let (_, client) = get(&sys, &admin_b, &format!("/v1/clients/{b_client_id}")).await;
    assert_eq!(client["enabled"], true);
    assert_eq!(client["name"], "Bsecret-client");
    sys.stop().await;
}
