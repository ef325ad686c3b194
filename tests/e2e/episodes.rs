//! Episodes of care through the gateway: referral → admission → level changes → discharge
//! with aftercare → readmission as a new episode; one open episode per patient; closed
//! episodes stay closed; validation naming fields; gRPC.

use iop_proto::records::episode_service_client::EpisodeServiceClient;
use iop_proto::records::{self as pb};
use iop_testing::{TestSystem, with_bearer};
use serde_json::{Value, json};

use crate::assessments::{patient, user};
use crate::{assert_problem_names, get, post};

/// `n` days ago as `YYYY-MM-DD`, in UTC like the service.
pub fn day(n_ago: u64) -> String {
    (chrono::Utc::now().date_naive() - chrono::Days::new(n_ago))
        .format("%Y-%m-%d")
        .to_string()
}

/// A referral to the adolescent program, authorized for IOP.
pub fn referral() -> Value {
    json!({
        "program": "Adolescent mental-health IOP",
        "population": "adolescent",
        "referral_date": day(30),
        "authorized_level": "intensive_outpatient",
    })
}

pub fn aftercare() -> Value {
    json!({
        "step_down_level": "outpatient",
        "support_groups": ["Teen SMART Recovery, Thursdays"],
        "follow_ups": [{ "time": "2030-01-07T16:00:00Z", "with": "Dr. Patel, Riverside Outpatient", "purpose": "medication review" }],
        "contacts": [{ "name": "988 Suicide & Crisis Lifeline", "role": "crisis line", "phone": "988" }],
    })
}

async fn send(
    sys: &TestSystem,
    token: &str,
    method: reqwest::Method,
    path: &str,
    etag: Option<&str>,
    body: &Value,
) -> (u16, Value, String) {
    let mut req = sys
        .http
        .request(method, sys.url(path))
        .bearer_auth(token)
        .json(body);
    if let Some(etag) = etag {
        req = req.header("If-Match", format!("\"{etag}\""));
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let etag = res
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().trim_matches('"').to_owned())
        .unwrap_or_default();
    (status, res.json().await.unwrap_or(Value::Null), etag)
}

#[tokio::test]
async fn an_episode_from_referral_to_discharge_and_readmission() {
    let sys = TestSystem::start().await;
    let kim = user(&sys, "dr-kim", &["clinician"]);
    let lee = user(&sys, "dr-lee", &["program_director"]);
    let p = patient(&sys, &kim).await;
    let post_m = reqwest::Method::POST;

    let (status, e, etag) = send(
        &sys,
        &kim,
        post_m.clone(),
        &format!("/v1/patients/{p}/episodes"),
        None,
        &referral(),
    )
    .await;
    assert_eq!(status, 201, "{e}");
    assert_eq!(e["status"], "referred");
    assert_eq!(e["authorized_level"], "intensive_outpatient");
    assert!(e.get("admit_date").is_none());
    let id = e["id"].as_str().unwrap().to_owned();
    assert_eq!(etag, "1");

    // A second open episode for the same patient is refused.
    let (status, problem, _) = send(
        &sys,
        &kim,
        post_m.clone(),
        &format!("/v1/patients/{p}/episodes"),
        None,
        &referral(),
    )
    .await;
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains(&id),
        "names the open episode: {problem}"
    );

    let admit = json!({ "admit_date": day(25), "primary_clinician": "dr-kim", "program_director": "dr-lee" });
    let (status, e, etag) = send(
        &sys,
        &lee,
        post_m.clone(),
        &format!("/v1/episodes/{id}/admit"),
        Some(&etag),
        &admit,
    )
    .await;
    assert_eq!(status, 200, "{e}");
    assert_eq!(
        (e["status"].as_str(), e["admit_date"].as_str()),
        (Some("admitted"), Some(day(25).as_str()))
    );

    // Payer steps up, the program follows; both histories are kept.
    for (kind, level, ago) in [
        ("delivered", "intensive_outpatient", 25),
        ("authorized", "partial_hospitalization", 10),
        ("delivered", "partial_hospitalization", 9),
    ] {
        let body = json!({ "kind": kind, "level": level, "effective_date": day(ago), "reason": "worsening symptoms" });
        let (status, e, _) = send(
            &sys,
            &kim,
            post_m.clone(),
            &format!("/v1/episodes/{id}/levels"),
            None,
            &body,
        )
        .await;
        assert_eq!(status, 200, "{e}");
    }
    let (status, e) = get(&sys, &kim, &format!("/v1/episodes/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(e["authorized_level"], "partial_hospitalization");
    assert_eq!(e["delivered_level"], "partial_hospitalization");
    let history = e["level_history"].as_array().unwrap();
    assert_eq!(history.len(), 4);
    assert_eq!(history[0]["level"], "intensive_outpatient");
    assert_eq!(history[0]["kind"], "authorized");
    assert_eq!(history[3]["changed_by"], "dr-kim");

    // A stale etag is refused.
    let (status, _, _) = send(
        &sys,
        &kim,
        reqwest::Method::PATCH,
        &format!("/v1/episodes/{id}"),
        Some(&etag),
        &json!({ "primary_clinician": "dr-new" }),
    )
    .await;
    assert_eq!(status, 409);

    let discharge = json!({
        "discharge_date": day(1),
        "reason": "stepped_down",
        "note": "Met treatment goals; stepping down to weekly outpatient.",
        "aftercare": aftercare(),
    });
    let (status, e, _) = send(
        &sys,
        &lee,
        post_m.clone(),
        &format!("/v1/episodes/{id}/discharge"),
        None,
        &discharge,
    )
    .await;
    assert_eq!(status, 200, "{e}");
    assert_eq!(e["status"], "discharged");
    assert_eq!(e["discharge"]["reason"], "stepped_down");
    assert_eq!(e["discharge"]["aftercare"]["contacts"][0]["phone"], "988");
    assert_eq!(
        e["discharge"]["aftercare"]["follow_ups"][0]["time"],
        "2030-01-07T16:00:00.000000Z"
    );

    // Closed: no more changes, with the reason.
    let (status, problem, _) = send(
        &sys,
        &kim,
        post_m.clone(),
        &format!("/v1/episodes/{id}/levels"),
        None,
        &json!({ "kind": "delivered", "level": "outpatient" }),
    )
    .await;
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("discharged"),
        "{problem}"
    );
    assert_eq!(problem["type"], "urn:iop:problem:failed-precondition");

    // Readmission opens a new episode; the record keeps both.
    let mut again = referral();
    again["referral_date"] = json!(day(0));
    again["admit_date"] = json!(day(0));
    let (status, second, _) = send(
        &sys,
        &kim,
        post_m,
        &format!("/v1/patients/{p}/episodes"),
        None,
        &again,
    )
    .await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(second["status"], "admitted");
    let (_, list) = get(&sys, &kim, &format!("/v1/episodes?patient_id={p}")).await;
    let statuses: Vec<&str> = list["episodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["discharged", "admitted"]);
    let (_, admitted) = get(&sys, &kim, "/v1/episodes?status=admitted&clinician=dr-kim").await;
    assert_eq!(
        admitted["episodes"],
        json!([]),
        "the new episode has no care team yet"
    );
    sys.stop().await;
}

#[tokio::test]
async fn invalid_episodes_and_discharges_name_the_field() {
    let sys = TestSystem::start().await;
    let kim = user(&sys, "dr-kim", &["clinician"]);
    let p = patient(&sys, &kim).await;
    let path = format!("/v1/patients/{p}/episodes");

    let mut bad = referral();
    bad["referral_date"] = json!("30/10/2026");
    let (_, problem) = post(&sys, &kim, &path, &bad).await;
    assert_problem_names(&problem, 400, "referral_date");
    let mut bad = referral();
    bad["population"] = json!("senior");
    let (_, problem) = post(&sys, &kim, &path, &bad).await;
    assert_problem_names(&problem, 400, "population");
    let mut bad = referral();
    bad["program"] = json!("");
    bad["admit_date"] = json!(day(40));
    let (_, problem) = post(&sys, &kim, &path, &bad).await;
    assert_problem_names(&problem, 400, "program");
    assert_problem_names(&problem, 400, "admit_date");

    let mut admitted = referral();
    admitted["admit_date"] = json!(day(20));
    let (status, e) = post(&sys, &kim, &path, &admitted).await;
    assert_eq!(status, 201, "{e}");
    let id = e["id"].as_str().unwrap();
    let discharge = format!("/v1/episodes/{id}/discharge");
    let (_, problem) = post(
        &sys,
        &kim,
        &discharge,
        &json!({ "discharge_date": day(1), "reason": "completed" }),
    )
    .await;
    assert_problem_names(&problem, 400, "aftercare");
    // Well formed, but before the stored admission: the request conflicts with the episode.
    let (_, problem) = post(
        &sys,
        &kim,
        &discharge,
        &json!({ "discharge_date": day(21), "reason": "completed", "aftercare": aftercare() }),
    )
    .await;
    assert_problem_names(&problem, 409, "discharge_date");
    let mut plan = aftercare();
    plan["contacts"][0]["phone"] = json!("call me");
    plan["follow_ups"][0]["time"] = json!("next week");
    let (_, problem) = post(
        &sys,
        &kim,
        &discharge,
        &json!({ "discharge_date": day(1), "reason": "completed", "aftercare": plan }),
    )
    .await;
    assert_problem_names(&problem, 400, "aftercare.follow_ups[0].time");
    plan["follow_ups"][0]["time"] = json!("2030-01-07T16:00:00Z");
    let (_, problem) = post(
        &sys,
        &kim,
        &discharge,
        &json!({ "discharge_date": day(1), "reason": "completed", "aftercare": plan }),
    )
    .await;
    assert_problem_names(&problem, 400, "aftercare.contacts[0].phone");
    let (_, problem) = post(
        &sys,
        &kim,
        &format!("/v1/episodes/{id}/levels"),
        &json!({ "kind": "delivered", "level": "ASAM 2.1" }),
    )
    .await;
    assert_problem_names(&problem, 400, "level");
    let (status, _) = post(
        &sys,
        &kim,
        &format!("/v1/episodes/{id}/admit"),
        &json!({ "admit_date": day(1) }),
    )
    .await;
    assert_eq!(status, 409, "already admitted");

    // Nothing was half-written by the refusals.
    let (_, e) = get(&sys, &kim, &format!("/v1/episodes/{id}")).await;
    assert_eq!(
        (e["status"].as_str(), e["version"].as_i64()),
        (Some("admitted"), Some(1))
    );
    sys.stop().await;
}

#[tokio::test]
async fn grpc_clients_run_episodes_through_the_gateway() {
    let sys = TestSystem::start().await;
    let kim = user(&sys, "dr-kim", &["clinician"]);
    let p = patient(&sys, &kim).await;
    let mut client = EpisodeServiceClient::new(sys.grpc_channel().await);
    let e = client
        .create_episode(with_bearer(
            pb::CreateEpisodeRequest {
                episode: Some(pb::Episode {
                    patient_id: p.clone(),
                    program: "Adult substance-use IOP".into(),
                    population: pb::Population::Adult as i32,
                    delivered_level: pb::LevelOfCare::IntensiveOutpatient as i32,
                    ..Default::default()
                }),
                request_id: "grpc-1".into(),
            },
            &kim,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(e.status, pb::EpisodeStatus::Referred as i32);
    let discharged = client
        .discharge_episode(with_bearer(
            pb::DischargeEpisodeRequest {
                id: e.id.clone(),
                discharge_date: e.referral_date,
                reason: pb::DischargeReason::NeverAdmitted as i32,
                note: "Did not attend intake; three outreach attempts.".into(),
                ..Default::default()
            },
            &kim,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(discharged.status, pb::EpisodeStatus::Discharged as i32);
    let err = client
        .admit_episode(with_bearer(
            pb::AdmitEpisodeRequest {
                id: e.id.clone(),
                ..Default::default()
            },
            &kim,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    let listed = client
        .list_episodes(with_bearer(
            pb::ListEpisodesRequest {
                patient_id: p,
                status: pb::EpisodeStatus::Discharged as i32,
                ..Default::default()
            },
            &kim,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.episodes, [discharged]);
    sys.stop().await;
}
