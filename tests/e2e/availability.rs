//! Availability through the gateway: the director sets weekly hours (If-Match refusing a
//! stale change) and time off, the front desk pages through the free slots that leaves
//! across clinicians, and gRPC answers the same slots.

use chrono::{Datelike, Duration, NaiveDate, Utc, Weekday};
use iop_proto::scheduling::availability_service_client::AvailabilityServiceClient;
use iop_proto::scheduling::{self as pb};
use iop_testing::{TestSystem, with_bearer};
use serde_json::{Value, json};

use crate::appointments::{clinic, staff};
use crate::{assert_problem_names, get, post};

/// A Monday at least two weeks ahead, so no slot of it has passed.
fn monday() -> NaiveDate {
    let mut d = Utc::now().date_naive() + Duration::days(14);
    while d.weekday() != Weekday::Mon {
        d = d.succ_opt().unwrap();
    }
    d
}

async fn put(sys: &TestSystem, token: &str, path: &str, etag: &str, body: &Value) -> (u16, Value) {
    let res = sys
        .http
        .put(sys.url(path))
        .bearer_auth(token)
        .header("if-match", format!("\"{etag}\""))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_front_desk_pages_through_free_slots_across_clinicians() {
    let sys = TestSystem::start().await;
    let director = staff(&sys, "clinic-a", "dr-director", "program_director");
    let desk = staff(&sys, "clinic-a", "desk-1", "front_desk");
    let clinician = staff(&sys, "clinic-a", "dr-kim", "clinician");
    let c = clinic(&sys, &director).await;
    let mornings =
        json!({ "hours": [{ "day": "monday", "start_time": "09:00", "end_time": "12:00" }] });
    for id in &c.clinicians {
        let path = format!("/v1/clinicians/{id}/working-hours/{}", c.location);
        let (status, week) = put(&sys, &director, &path, "0", &mornings).await;
        assert_eq!(status, 200, "{week}");
        assert_eq!(
            (week["etag"].as_str(), week["updated_by"].as_str()),
            (Some("1"), Some("dr-director"))
        );
    }
    let kims = format!(
        "/v1/clinicians/{}/working-hours/{}",
        c.clinicians[0], c.location
    );
    // Read before the second change: refused, naming nothing changed.
    let (status, body) = put(&sys, &director, &kims, "0", &mornings).await;
    assert_eq!(status, 409, "{body}");
    // A time that is not HH:MM is named.
    let bad = json!({ "hours": [{ "day": "monday", "start_time": "9am", "end_time": "12:00" }] });
    let (status, body) = put(&sys, &director, &kims, "", &bad).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("start_time"), "{body}");
    // Clinicians read hours but do not set them.
    let (status, _) = put(&sys, &clinician, &kims, "", &mornings).await;
    assert_eq!(status, 403);
    let (status, week) = get(&sys, &clinician, &kims).await;
    assert_eq!(status, 200);
    assert_eq!(week["hours"], mornings["hours"]);

    // Lee is off from 11:00 that Monday.
    let day = monday();
    let at = |h: u32| {
        day.and_hms_opt(h, 0, 0)
            .unwrap()
            .and_local_timezone(chrono_tz::America::Los_Angeles)
            .unwrap()
            .with_timezone(&Utc)
    };
    let (status, off) = post(
        &sys,
        &director,
        "/v1/availability-exceptions",
        &json!({
            "kind": "time_off",
            "clinician_id": c.clinicians[1],
            "start_time": at(11).to_rfc3339(),
            "end_time": at(12).to_rfc3339(),
            "reason": "dentist",
        }),
    )
    .await;
    assert_eq!(status, 201, "{off}");
    let (status, again) = get(
        &sys,
        &desk,
        &format!(
            "/v1/availability-exceptions/{}",
            off["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!((status, &again), (200, &off));
    // Extra hours without a location are refused by the published schema's rule.
    let (status, body) = post(
        &sys,
        &director,
        "/v1/availability-exceptions",
        &json!({
            "kind": "extra_hours",
            "clinician_id": c.clinicians[1],
            "start_time": at(13).to_rfc3339(),
            "end_time": at(14).to_rfc3339(),
        }),
    )
    .await;
    assert_problem_names(&body, 400, "location_id");
    assert_eq!(status, 400);

    // Kim 9-12 and Lee 9-11, hour slots on the quarter hour: 9 + 5, five at a time.
    let query = format!(
        "/v1/slots?location_id={}&kind=individual_therapy&from_date={day}&to_date={day}&length_minutes=60&page_size=5",
        c.location
    );
    let mut rest = Vec::new();
    let mut next = String::new();
    loop {
        let path = if next.is_empty() {
            query.clone()
        } else {
            format!("{query}&page_token={next}")
        };
        let (status, page) = get(&sys, &desk, &path).await;
        assert_eq!(status, 200, "{page}");
        rest.extend(page["slots"].as_array().unwrap().iter().cloned());
        match page["next_page_token"].as_str() {
            Some(t) if !t.is_empty() => next = t.to_owned(),
            _ => break,
        }
    }
    assert_eq!(rest.len(), 14);
    let first: chrono::DateTime<Utc> = rest[0]["start_time"].as_str().unwrap().parse().unwrap();
    assert_eq!(first, at(9));
    let lees = rest
        .iter()
        .filter(|s| s["clinician_id"] == c.clinicians[1].as_str())
        .count();
    assert_eq!(lees, 5);
    let (status, body) = get(
        &sys,
        &desk,
        &format!(
            "/v1/slots?location_id={}&kind=individual_therapy&to_date={day}",
            c.location
        ),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("from_date"), "{body}");

    // gRPC: the same slots.
    let mut client = AvailabilityServiceClient::new(sys.grpc_channel().await);
    let date = |d: NaiveDate| iop_proto::common::Date {
        year: d.year(),
        month: d.month() as i32,
        day: d.day() as i32,
    };
    let found = client
        .search_slots(with_bearer(
            pb::SearchSlotsRequest {
                location_id: c.location.clone(),
                kind: pb::AppointmentKind::IndividualTherapy as i32,
                length_minutes: 60,
                from_date: Some(date(day)),
                to_date: Some(date(day)),
                page_size: 100,
                ..Default::default()
            },
            &desk,
        ))
        .await
        .unwrap()
        .into_inner();
    let starts: Vec<i64> = found
        .slots
        .iter()
        .map(|s| s.start_time.unwrap().seconds)
        .collect();
    let rest_starts: Vec<i64> = rest
        .iter()
        .map(|s| {
            s["start_time"]
                .as_str()
                .unwrap()
                .parse::<chrono::DateTime<Utc>>()
                .unwrap()
                .timestamp()
        })
        .collect();
    assert_eq!(starts, rest_starts);
    sys.stop().await;
}
