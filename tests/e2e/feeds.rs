//! Calendar feeds through the gateway: the front desk makes a feed of a clinician's schedule,
//! a calendar app fetches its secret address without a token and parses it, it shows the
//! patient's initials and never their name, each fetch is in the patient's audit trail, and
//! revoking it stops it at once. A clinician makes a feed of their own schedule only.

use chrono::{Duration, Utc};
use icalendar::{Calendar, CalendarComponent, Component, EventLike};
use iop_testing::TestSystem;
use serde_json::{Value, json};

use crate::appointments::{clinic, staff, visit};
use crate::{create, get, post};

async fn fetch(sys: &TestSystem, url: &str) -> (u16, String, String) {
    let res = sys.http.get(url).send().await.unwrap();
    let status = res.status().as_u16();
    let kind = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, kind, res.text().await.unwrap())
}

#[tokio::test]
async fn a_feed_shows_initials_to_a_calendar_app_until_revoked() {
    let sys = TestSystem::start().await;
    let director = staff(&sys, "clinic-a", "dr-director", "program_director");
    let desk = staff(&sys, "clinic-a", "desk-1", "front_desk");
    let admin = staff(&sys, "clinic-a", "it-1", "admin");
    let c = clinic(&sys, &director).await;
    let (status, ana) = create(&sys, &desk, &crate::ana()).await;
    assert_eq!(status, 201, "{ana}");
    let ana = ana["id"].as_str().unwrap().to_owned();
    let start = (Utc::now() + Duration::days(2))
        .format("%Y-%m-%dT%H:00:00Z")
        .to_string();
    let end = (Utc::now() + Duration::days(2) + Duration::hours(1))
        .format("%Y-%m-%dT%H:00:00Z")
        .to_string();
    let (status, booked) = post(
        &sys,
        &desk,
        "/v1/appointments",
        &visit(&c, &ana, &start, &end),
    )
    .await;
    assert_eq!(status, 201, "{booked}");

    let (status, feed) = post(
        &sys,
        &desk,
        "/v1/calendar-feeds",
        &json!({ "clinician_id": c.clinicians[0] }),
    )
    .await;
    assert_eq!(status, 201, "{feed}");
    let url = feed["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&sys.url("/ical/clinic-a.")), "{url}");
    // Listed without its address.
    let (_, list) = get(&sys, &desk, "/v1/calendar-feeds").await;
    assert_eq!(list["feeds"].as_array().unwrap().len(), 1, "{list}");
    assert!(list["feeds"][0].get("url").is_none(), "{list}");

    // A calendar app, no token: the visit by initials only.
    let (status, kind, text) = fetch(&sys, &url).await;
    assert_eq!(
        (status, kind.as_str()),
        (200, "text/calendar; charset=utf-8"),
        "{text}"
    );
    assert!(!text.contains("Ana") && !text.contains("Lopez"), "{text}");
    let calendar: Calendar = text.parse().unwrap();
    let events: Vec<_> = calendar
        .components
        .iter()
        .filter_map(|c| match c {
            CalendarComponent::Event(e) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(events.len(), 1, "{text}");
    assert_eq!(events[0].get_summary(), Some("Individual therapy — A.L."));
    assert_eq!(events[0].get_location(), Some("Office 1"));
    assert_eq!(
        events[0].get_uid().map(str::to_owned),
        Some(format!(
            "{}@iop",
            booked["appointments"][0]["id"].as_str().unwrap()
        ))
    );
    // In Ana's audit trail, under the feed.
    let (_, trail) = get(&sys, &admin, &format!("/v1/audit-events?patient_id={ana}")).await;
    let read: Vec<&Value> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "calendar_feed.read")
        .collect();
    assert_eq!(read.len(), 1, "{trail}");
    assert_eq!(
        (&read[0]["subject"], &read[0]["resource_id"]),
        (&json!("calendar-feed"), &feed["id"]),
        "{trail}"
    );

    // Dr Lee (a clinician) may not make a feed of Dr Kim's schedule.
    let lee = staff(&sys, "clinic-a", "dr-lee", "clinician");
    let (status, problem) = post(
        &sys,
        &lee,
        "/v1/calendar-feeds",
        &json!({ "clinician_id": c.clinicians[0] }),
    )
    .await;
    assert_eq!(status, 403, "{problem}");
    // Neither or both named: 400.
    let (status, _) = post(&sys, &desk, "/v1/calendar-feeds", &json!({})).await;
    assert_eq!(status, 400);

    // Revoked: gone at once, like an address never made.
    let (status, revoked) = post(
        &sys,
        &desk,
        &format!("/v1/calendar-feeds/{}/revoke", feed["id"].as_str().unwrap()),
        &json!({}),
    )
    .await;
    assert_eq!(
        (status, &revoked["revoked"]),
        (200, &json!(true)),
        "{revoked}"
    );
    let (status, kind, _) = fetch(&sys, &url).await;
    assert_eq!((status, kind.as_str()), (404, "application/problem+json"));
    for bad in ["nope", "clinic-b.abc", "Bad.Tenant"] {
        let (status, _, _) = fetch(&sys, &sys.url(&format!("/ical/{bad}/feed.ics"))).await;
        assert_eq!(status, 404, "{bad}");
    }
    sys.stop().await;
}
