//! Treatment plans through the gateway: drafts, signing (then immutable: 409 with the
//! reason), revisions as new versions, version history, goal progress; gRPC.

use iop_proto::records::treatment_plan_service_client::TreatmentPlanServiceClient;
use iop_proto::records::{self as pb};
use iop_testing::{TestSystem, with_bearer};
use serde_json::{Value, json};

use crate::assessments::{patient, user};
use crate::episodes::day;
use crate::{assert_problem_names, get, post};

/// A first draft: one problem, goal, objective and intervention; no review date yet.
pub fn plan() -> Value {
    json!({
        "problems": [{
            "description": "Alcohol use disorder, moderate: daily drinking, two failed quit attempts",
            "goals": [{
                "description": "Sustain abstinence",
                "target_date": "2030-03-01",
                "objectives": [{
                    "description": "Negative breathalyzer at every session for 4 weeks",
                    "interventions": [{ "description": "Group CBT for relapse prevention", "frequency": "3x/week", "responsible": "primary clinician" }],
                }],
            }],
        }],
    })
}

async fn put(
    sys: &TestSystem,
    token: &str,
    path: &str,
    etag: Option<&str>,
    body: &Value,
) -> (u16, Value) {
    let mut req = sys.http.put(sys.url(path)).bearer_auth(token).json(body);
    if let Some(etag) = etag {
        req = req.header("If-Match", format!("\"{etag}\""));
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_plan_is_signed_then_revised_into_a_new_version() {
    let sys = TestSystem::start().await;
    let kim = user(&sys, "dr-kim", &["clinician"]);
    let lee = user(&sys, "dr-lee", &["program_director"]);
    let p = patient(&sys, &kim).await;

    let (status, v1) = post(&sys, &kim, &format!("/v1/patients/{p}/plans"), &plan()).await;
    assert_eq!(status, 201, "{v1}");
    assert_eq!(
        (v1["version"].as_i64(), v1["status"].as_str()),
        (Some(1), Some("draft"))
    );
    let id = v1["id"].as_str().unwrap().to_owned();
    let goal = v1["problems"][0]["goals"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!goal.is_empty());
    let path = format!("/v1/plans/{id}");

    // Not signable without a review date; the refusal names it.
    let (status, problem) = post(&sys, &kim, &format!("{path}/sign"), &json!({})).await;
    assert_eq!(status, 409);
    assert_problem_names(&problem, 409, "review_due_date");

    // Edit the draft by sending back what was read, plus a review date.
    let mut draft = json!({ "problems": v1["problems"].clone(), "review_due_date": day(0) });
    draft["problems"][0]["goals"][0]["description"] = json!("Sustain abstinence from alcohol");
    let (status, edited) = put(
        &sys,
        &kim,
        &path,
        Some(v1["etag"].as_str().unwrap()),
        &draft,
    )
    .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(
        edited["problems"][0]["goals"][0]["id"],
        goal.as_str(),
        "ids kept"
    );
    let (status, _) = put(
        &sys,
        &kim,
        &path,
        Some(v1["etag"].as_str().unwrap()),
        &draft,
    )
    .await;
    assert_eq!(status, 409, "stale etag");

    let (status, signed) = post(&sys, &lee, &format!("{path}/sign"), &json!({})).await;
    assert_eq!(status, 200, "{signed}");
    assert_eq!(signed["signed_by"], "dr-lee");

    // Signed: nobody edits it.
    let (status, problem) = put(&sys, &kim, &path, None, &draft).await;
    assert_eq!(status, 409, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("immutable"),
        "{problem}"
    );

    // Progress is recorded against the goal, whatever the version.
    let progress = format!("{path}/goals/{goal}/progress");
    let (status, _) = post(
        &sys,
        &kim,
        &progress,
        &json!({ "status": "in_progress", "note": "14 days sober" }),
    )
    .await;
    assert_eq!(status, 200);

    // A change is a revision: version 2, a draft copied from version 1.
    let (status, v2) = post(&sys, &kim, &format!("{path}/revisions"), &json!({})).await;
    assert_eq!(status, 200, "{v2}");
    assert_eq!(
        (v2["version"].as_i64(), v2["status"].as_str()),
        (Some(2), Some("draft"))
    );
    let mut next = json!({ "problems": v2["problems"].clone(), "review_due_date": day(0) });
    next["problems"][0]["goals"][0]["objectives"][0]["interventions"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "description": "Naltrexone management", "frequency": "weekly" }));
    let (status, _) = put(&sys, &kim, &path, None, &next).await;
    assert_eq!(status, 200);
    let (status, _) = post(&sys, &kim, &format!("{path}/sign"), &json!({})).await;
    assert_eq!(status, 200);
    let (_, _) = post(
        &sys,
        &kim,
        &progress,
        &json!({ "status": "achieved", "note": "30 days" }),
    )
    .await;

    let (_, latest) = get(&sys, &kim, &path).await;
    assert_eq!(latest["version"], 2);
    let history: Vec<&str> = latest["problems"][0]["goals"][0]["progress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["status"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["in_progress", "achieved"]);
    let (_, first) = get(&sys, &kim, &format!("{path}?version=1")).await;
    assert_eq!(
        first["problems"][0]["goals"][0]["objectives"][0]["interventions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(first["signed_by"], "dr-lee");
    let (_, versions) = get(&sys, &kim, &format!("{path}/versions")).await;
    let numbers: Vec<i64> = versions["plans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 2]);
    let (_, listed) = get(
        &sys,
        &kim,
        &format!("/v1/plans?patient_id={p}&status=signed"),
    )
    .await;
    assert_eq!(
        listed["plans"].as_array().unwrap().len(),
        1,
        "one plan, its latest version"
    );
    assert_eq!(listed["plans"][0]["version"], 2);

    let (status, problem) = post(
        &sys,
        &kim,
        &format!("{path}/goals/nope/progress"),
        &json!({ "status": "achieved" }),
    )
    .await;
    assert_eq!(status, 404, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("goal nope"),
        "{problem}"
    );
    sys.stop().await;
}

#[tokio::test]
async fn incomplete_plans_name_what_is_missing() {
    let sys = TestSystem::start().await;
    let kim = user(&sys, "dr-kim", &["clinician"]);
    let p = patient(&sys, &kim).await;
    let mut thin = plan();
    thin["review_due_date"] = json!(day(0));
    thin["problems"][0]["goals"][0]["objectives"][0]["interventions"][0]["frequency"] = json!("");
    thin["problems"][0]["goals"][0]["target_date"] = json!("March");
    let (_, problem) = post(&sys, &kim, &format!("/v1/patients/{p}/plans"), &thin).await;
    assert_problem_names(&problem, 400, "problems[0].goals[0].target_date");
    thin["problems"][0]["goals"][0]["target_date"] = json!("2030-03-01");
    let mut unlinked = thin.clone();
    unlinked["episode_id"] = json!("");
    let (_, problem) = post(&sys, &kim, &format!("/v1/patients/{p}/plans"), &unlinked).await;
    assert_problem_names(&problem, 400, "episode_id");
    // Progress is output only and ignored on writes, but must look like what a read gives.
    thin["problems"][0]["goals"][0]["progress"] =
        json!([{ "status": null, "note": "", "recorded_by": "x", "record_time": "" }]);
    let (_, problem) = post(&sys, &kim, &format!("/v1/patients/{p}/plans"), &thin).await;
    assert_problem_names(
        &problem,
        400,
        "problems[0].goals[0].progress[0].record_time",
    );
    thin["problems"][0]["goals"][0]["progress"][0]["record_time"] = json!("2026-11-02T09:00:00Z");
    let (status, created) = post(&sys, &kim, &format!("/v1/patients/{p}/plans"), &thin).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let (_, problem) = post(&sys, &kim, &format!("/v1/plans/{id}/sign"), &json!({})).await;
    assert_problem_names(
        &problem,
        409,
        "problems[0].goals[0].objectives[0].interventions[0].frequency",
    );
    let (status, problem) =
        post(&sys, &kim, &format!("/v1/plans/{id}/revisions"), &json!({})).await;
    assert_eq!(status, 409, "a draft is edited, not revised: {problem}");
    sys.stop().await;
}

#[tokio::test]
async fn grpc_clients_cannot_change_a_signed_version() {
    let sys = TestSystem::start().await;
    let kim = user(&sys, "dr-kim", &["clinician"]);
    let p = patient(&sys, &kim).await;
    let mut body = plan();
    body["review_due_date"] = json!(day(0));
    let (_, created) = post(&sys, &kim, &format!("/v1/patients/{p}/plans"), &body).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        post(&sys, &kim, &format!("/v1/plans/{id}/sign"), &json!({}))
            .await
            .0,
        200
    );
    let mut client = TreatmentPlanServiceClient::new(sys.grpc_channel().await);
    let err = client
        .update_plan(with_bearer(
            pb::UpdatePlanRequest {
                plan: Some(pb::TreatmentPlan {
                    id: id.clone(),
                    ..Default::default()
                }),
            },
            &kim,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    let v1 = client
        .get_plan(with_bearer(pb::GetPlanRequest { id, version: 1 }, &kim))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(v1.status, pb::PlanStatus::Signed as i32);
    assert_eq!(v1.problems.len(), 1);
    sys.stop().await;
}
