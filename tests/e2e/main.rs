//! End-to-end tests: the whole system on port 0, called over REST and gRPC through the
//! gateway as a client would. Run against SQLite by default and against PostgreSQL when
//! `IOP_TEST_DATABASE_URL` is set.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod abuse;
mod appointments;
mod assessments;
mod audit;
mod audit_faults;
mod audit_tamper;
mod auth;
mod authorization;
mod availability;
mod connections;
mod consents;
mod episodes;
mod feeds;
mod grpc_patients;
mod hardening;
mod isolation;
mod locations;
mod notes;
mod operations;
mod plans;
mod programs;
mod referrals;
mod rest_patients;
mod smart;
mod waitlist;

use iop_testing::TestSystem;
use serde_json::{Value, json};

/// A minimal valid patient body.
pub fn ana() -> Value {
    json!({
        "given_name": "Ana",
        "family_name": "Lopez",
        "birth_date": "1990-02-28",
        "sex_at_birth": "female",
    })
}

/// POSTs a patient as `token` and returns (status, body).
pub async fn create(sys: &TestSystem, token: &str, body: &Value) -> (u16, Value) {
    post(sys, token, "/v1/patients", body).await
}

/// POSTs `body` to `path` as `token` and returns (status, body).
pub async fn post(sys: &TestSystem, token: &str, path: &str, body: &Value) -> (u16, Value) {
    let res = sys
        .http
        .post(sys.url(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

pub async fn get(sys: &TestSystem, token: &str, path: &str) -> (u16, Value) {
    let res = sys
        .http
        .get(sys.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Asserts an RFC 9457 problem with `status` whose `errors` name `field`.
pub fn assert_problem_names(body: &Value, status: u16, field: &str) {
    assert_eq!(body["status"], status, "{body}");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {body}"))
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&field), "{field} not in {fields:?}: {body}");
}
