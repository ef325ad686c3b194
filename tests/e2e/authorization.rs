//! The role and scope rules of `services/gateway/src/policy.rs`, exercised through the gateway
//! for every role against every operation, over REST and gRPC.

use iop_proto::records::patient_service_client::PatientServiceClient;
use iop_proto::records::{GetPatientRequest, ListPatientsRequest};
use iop_testing::{TestSystem, with_bearer};
use serde_json::{Value, json};

use crate::{ana, create};

/// Expected outcome per role for (create, read, search, update) on Patient.
const MATRIX: &[(&str, [bool; 4])] = &[
    ("admin", [true, true, true, true]),
    ("program_director", [true, true, true, true]),
    ("clinician", [true, true, true, true]),
    ("front_desk", [true, true, true, true]),
    ("receptionist", [false, false, false, false]),
];

/// Each operation of a matrix row: the success status `want[i]` where the role is allowed,
/// 403 where not.
fn assert_row<const N: usize>(role: &str, got: &[u16; N], want: [u16; N], allowed: &[bool; N]) {
    for i in 0..N {
        let expected = if allowed[i] { want[i] } else { 403 };
        assert_eq!(got[i], expected, "role {role}, operation {i}: {got:?}");
    }
}

fn token(sys: &TestSystem, roles: &[&str], scope: &str) -> String {
    let mut claims = sys.claims("clinic-a", roles);
    claims["scope"] = json!(scope);
    sys.sign(claims)
}

async fn attempt_all(sys: &TestSystem, token: &str, existing: &str) -> [u16; 4] {
    let created = create(sys, token, &ana()).await.0;
    let read = crate::get(sys, token, &format!("/v1/patients/{existing}"))
        .await
        .0;
    let search = crate::get(sys, token, "/v1/patients").await.0;
    let update = sys
        .http
        .patch(sys.url(&format!("/v1/patients/{existing}")))
        .bearer_auth(token)
        .json(&json!({ "pronouns": "they/them" }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    [created, read, search, update]
}

#[tokio::test]
async fn each_role_gets_exactly_what_the_matrix_allows() {
    let sys = TestSystem::start().await;
    let (_, p) = create(&sys, &sys.token("clinic-a", &["admin"]), &ana()).await;
    let id = p["id"].as_str().unwrap().to_owned();
    for (role, allowed) in MATRIX {
        let t = token(&sys, &[role], "user/*.cruds");
        let got = attempt_all(&sys, &t, &id).await;
        assert_row(role, &got, [201, 200, 200, 200], allowed);
    }
    sys.stop().await;
}

#[tokio::test]
async fn missing_scope_is_403_naming_the_scope() {
    let sys = TestSystem::start().await;
    let (_, p) = create(&sys, &sys.token("clinic-a", &["admin"]), &ana()).await;
    let id = p["id"].as_str().unwrap().to_owned();
    let read_only = token(&sys, &["admin"], "user/Patient.rs");
    let got = attempt_all(&sys, &read_only, &id).await;
    assert_eq!(got, [403, 200, 200, 403]);

    let (status, problem) = create(&sys, &read_only, &ana()).await;
    assert_eq!(status, 403);
    assert_eq!(problem["type"], "urn:iop:problem:permission-denied");
    assert_eq!(
        problem["detail"],
        "missing scope user/Patient.c (to create Patient)"
    );

    // A system scope does not serve a user token, and the other way round.
    let wrong_context = token(&sys, &["admin"], "system/*.cruds");
    assert_eq!(attempt_all(&sys, &wrong_context, &id).await, [403; 4]);
    let system_client = token(&sys, &[], "system/Patient.rs");
    assert_eq!(
        attempt_all(&sys, &system_client, &id).await,
        [403, 200, 200, 403]
    );
    // Nothing changed while being refused.
    let (_, after) = crate::get(
        &sys,
        &sys.token("clinic-a", &["admin"]),
        &format!("/v1/patients/{id}"),
    )
    .await;
    assert_eq!(after["version"], 1);
    let (_, list) = crate::get(&sys, &sys.token("clinic-a", &["admin"]), "/v1/patients").await;
    assert_eq!(list["patients"].as_array().map(Vec::len), Some(1), "{list}");
    sys.stop().await;
}

#[tokio::test]
async fn grpc_denials_are_permission_denied_with_the_reason() {
    let sys = TestSystem::start().await;
    let mut client = PatientServiceClient::new(sys.grpc_channel().await);
    let no_role = token(&sys, &["receptionist"], "user/*.cruds");
    let err = client
        .list_patients(with_bearer(ListPatientsRequest::default(), &no_role))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    assert_eq!(err.message(), "role receptionist may not search Patient");

    let search_only = token(&sys, &["clinician"], "user/Patient.s");
    let err = client
        .get_patient(with_bearer(
            GetPatientRequest { id: "x".into() },
            &search_only,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    assert!(err.message().starts_with("missing scope user/Patient.r"));
    let ok = client
        .list_patients(with_bearer(ListPatientsRequest::default(), &search_only))
        .await
        .unwrap();
    let _: Value = json!(ok.get_ref().patients.len());
    sys.stop().await;
}

/// Roles against the admin resources: the audit trail and the client registry. Expected
/// outcome per role for (audit search, client create, client search, client read, client
/// update).
const ADMIN_MATRIX: &[(&str, [bool; 5])] = &[
    ("admin", [true; 5]),
    // Directors manage clients too (and alone may grant clinical scopes), but do not read
    // the audit trail.
    ("program_director", [false, true, true, true, true]),
    ("clinician", [false; 5]),
    ("front_desk", [false; 5]),
];

#[tokio::test]
async fn only_admins_read_the_trail_and_admins_and_directors_manage_clients() {
    let sys = TestSystem::start().await;
    let admin = token(&sys, &["admin"], "user/*.cruds");
    let key = iop_auth::SigningKey::generate().unwrap();
    let new_client = json!({ "name": "EHR", "kind": "ehr", "jwks": key.jwks(), "scopes": ["system/Patient.rs"] });
    let res = sys
        .http
        .post(sys.url("/v1/clients"))
        .bearer_auth(&admin)
        .json(&new_client)
        .send()
        .await
        .unwrap();
    let client: Value = res.json().await.unwrap();
    let client_id = client["client_id"].as_str().unwrap().to_owned();

    for (role, allowed) in ADMIN_MATRIX {
        let t = token(&sys, &[role], "user/*.cruds");
        let status = |res: reqwest::Response| res.status().as_u16();
        let got = [
            status(
                sys.http
                    .get(sys.url("/v1/audit-events"))
                    .bearer_auth(&t)
                    .send()
                    .await
                    .unwrap(),
            ),
            status(
                sys.http
                    .post(sys.url("/v1/clients"))
                    .bearer_auth(&t)
                    .json(&new_client)
                    .send()
                    .await
                    .unwrap(),
            ),
            status(
                sys.http
                    .get(sys.url("/v1/clients"))
                    .bearer_auth(&t)
                    .send()
                    .await
                    .unwrap(),
            ),
            status(
                sys.http
                    .get(sys.url(&format!("/v1/clients/{client_id}")))
                    .bearer_auth(&t)
                    .send()
                    .await
                    .unwrap(),
            ),
            status(
                sys.http
                    .patch(sys.url(&format!("/v1/clients/{client_id}")))
                    .bearer_auth(&t)
                    .json(&json!({ "name": "EHR 2" }))
                    .send()
                    .await
                    .unwrap(),
            ),
        ];
        assert_row(role, &got, [200, 201, 200, 200, 200], allowed);
    }
    sys.stop().await;
}

/// Roles against the clinical resources of the assessment service. Expected outcome per role
/// for (record, read, history, flag worklist, acknowledge).
const CLINICAL_MATRIX: &[(&str, [bool; 5])] = &[
    ("admin", [false; 5]),
    ("program_director", [true; 5]),
    ("clinician", [true; 5]),
    ("front_desk", [false; 5]),
    ("receptionist", [false; 5]),
];

#[tokio::test]
async fn only_the_care_team_reaches_assessments_and_safety_flags() {
    use crate::assessments::{patient, phq9, user};
    use crate::post;
    let sys = TestSystem::start().await;
    let clinician = user(&sys, "dr-kim", &["clinician"]);
    let p = patient(&sys, &clinician).await;
    let record = format!("/v1/patients/{p}/assessments");
    for (role, allowed) in CLINICAL_MATRIX {
        // A fresh flag for each role, so that an allowed acknowledgement is a first one.
        let (_, a) = post(&sys, &clinician, &record, &phq9(1)).await;
        let (id, flag) = (
            a["id"].as_str().unwrap(),
            a["safety_flag_id"].as_str().unwrap(),
        );
        let t = token(&sys, &[role], "user/*.cruds");
        let got = [
            post(&sys, &t, &record, &phq9(0)).await.0,
            crate::get(&sys, &t, &format!("/v1/assessments/{id}"))
                .await
                .0,
            crate::get(&sys, &t, &record).await.0,
            crate::get(&sys, &t, "/v1/safety-flags?status=active")
                .await
                .0,
            post(
                &sys,
                &t,
                &format!("/v1/safety-flags/{flag}/acknowledge"),
                &json!({ "note": "seen" }),
            )
            .await
            .0,
        ];
        assert_row(role, &got, [201, 200, 200, 200, 200], allowed);
    }
    // Scopes narrow what a role allows: read-only assessment scopes cannot record.
    let read_only = token(&sys, &["clinician"], "user/QuestionnaireResponse.rs");
    let (status, problem) = post(&sys, &read_only, &record, &phq9(0)).await;
    assert_eq!(status, 403);
    assert_eq!(
        problem["detail"],
        "missing scope user/QuestionnaireResponse.c (to create QuestionnaireResponse)"
    );
    sys.stop().await;
}

/// Roles against episodes of care. Expected outcome per role for (open, read, list,
/// update care team, record a level).
const EPISODE_MATRIX: &[(&str, [bool; 5])] = &[
    ("admin", [false; 5]),
    ("program_director", [true; 5]),
    ("clinician", [true; 5]),
    ("front_desk", [false, true, true, false, false]),
    ("receptionist", [false; 5]),
];

#[tokio::test]
async fn the_front_desk_sees_episodes_and_only_the_care_team_changes_them() {
    use crate::assessments::{patient, user};
    use crate::episodes::referral;
    use crate::post;
    let sys = TestSystem::start().await;
    let clinician = user(&sys, "dr-kim", &["clinician"]);
    let existing = patient(&sys, &clinician).await;
    let (status, e) = post(
        &sys,
        &clinician,
        &format!("/v1/patients/{existing}/episodes"),
        &referral(),
    )
    .await;
    assert_eq!(status, 201, "{e}");
    let id = e["id"].as_str().unwrap();
    for (role, allowed) in EPISODE_MATRIX {
        // A patient without an episode, so that an allowed open succeeds.
        let fresh = patient(&sys, &clinician).await;
        let t = token(&sys, &[role], "user/*.cruds");
        let got = [
            post(
                &sys,
                &t,
                &format!("/v1/patients/{fresh}/episodes"),
                &referral(),
            )
            .await
            .0,
            crate::get(&sys, &t, &format!("/v1/episodes/{id}")).await.0,
            crate::get(&sys, &t, "/v1/episodes?status=referred").await.0,
            sys.http
                .patch(sys.url(&format!("/v1/episodes/{id}")))
                .bearer_auth(&t)
                .json(&json!({ "primary_clinician": format!("{role}-pick") }))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
            post(
                &sys,
                &t,
                &format!("/v1/episodes/{id}/levels"),
                &json!({ "kind": "authorized", "level": "intensive_outpatient" }),
            )
            .await
            .0,
        ];
        assert_row(role, &got, [201, 200, 200, 200, 200], allowed);
    }
    sys.stop().await;
}

/// Roles against clinical notes. Expected outcome per role for (write a draft, read, list,
/// sign one's own draft, add an addendum to a signed note).
const NOTE_MATRIX: &[(&str, [bool; 5])] = &[
    ("admin", [false; 5]),
    ("program_director", [true; 5]),
    ("clinician", [true; 5]),
    ("front_desk", [false; 5]),
    ("receptionist", [false; 5]),
];

#[tokio::test]
async fn the_front_desk_never_reads_clinical_notes() {
    use crate::assessments::{patient, user};
    use crate::notes::session_note;
    use crate::post;
    let sys = TestSystem::start().await;
    let clinician = user(&sys, "dr-kim", &["clinician"]);
    let p = patient(&sys, &clinician).await;
    let notes = format!("/v1/patients/{p}/notes");
    let (_, signed) = post(&sys, &clinician, &notes, &session_note()).await;
    let signed_id = signed["id"].as_str().unwrap().to_owned();
    assert_eq!(
        post(
            &sys,
            &clinician,
            &format!("/v1/notes/{signed_id}/sign"),
            &json!({})
        )
        .await
        .0,
        200
    );
    for (role, allowed) in NOTE_MATRIX {
        let t = user(&sys, &format!("{role}-1"), &[role]);
        let (created, draft) = post(&sys, &t, &notes, &session_note()).await;
        let sign = match draft["id"].as_str() {
            Some(id) => {
                post(&sys, &t, &format!("/v1/notes/{id}/sign"), &json!({}))
                    .await
                    .0
            }
            None => 403,
        };
        let got = [
            created,
            crate::get(&sys, &t, &format!("/v1/notes/{signed_id}"))
                .await
                .0,
            crate::get(&sys, &t, &format!("/v1/notes?patient_id={p}"))
                .await
                .0,
            sign,
            post(
                &sys,
                &t,
                &format!("/v1/notes/{signed_id}/addenda"),
                &json!({ "text": "seen" }),
            )
            .await
            .0,
        ];
        assert_row(role, &got, [201, 200, 200, 200, 200], allowed);
    }
    sys.stop().await;
}

/// Roles against treatment plans. Expected outcome per role for (open, read, list, edit the
/// draft, record goal progress).
const PLAN_MATRIX: &[(&str, [bool; 5])] = &[
    ("admin", [false; 5]),
    ("program_director", [true; 5]),
    ("clinician", [true; 5]),
    ("front_desk", [false; 5]),
    ("receptionist", [false; 5]),
];

#[tokio::test]
async fn only_the_care_team_reaches_treatment_plans() {
    use crate::assessments::{patient, user};
    use crate::plans::plan;
    use crate::post;
    let sys = TestSystem::start().await;
    let clinician = user(&sys, "dr-kim", &["clinician"]);
    let p = patient(&sys, &clinician).await;
    let (_, existing) = post(
        &sys,
        &clinician,
        &format!("/v1/patients/{p}/plans"),
        &plan(),
    )
    .await;
    let id = existing["id"].as_str().unwrap().to_owned();
    let goal = existing["problems"][0]["goals"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (role, allowed) in PLAN_MATRIX {
        let t = token(&sys, &[role], "user/*.cruds");
        let got = [
            post(&sys, &t, &format!("/v1/patients/{p}/plans"), &plan())
                .await
                .0,
            crate::get(&sys, &t, &format!("/v1/plans/{id}")).await.0,
            crate::get(&sys, &t, &format!("/v1/plans?patient_id={p}"))
                .await
                .0,
            sys.http
                .put(sys.url(&format!("/v1/plans/{id}")))
                .bearer_auth(&t)
                // The same goals (ids), so that progress can still be recorded on them.
                .json(&json!({ "problems": existing["problems"] }))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
            post(
                &sys,
                &t,
                &format!("/v1/plans/{id}/goals/{goal}/progress"),
                &json!({ "status": "in_progress" }),
            )
            .await
            .0,
        ];
        assert_row(role, &got, [201, 200, 200, 200, 200], allowed);
    }
    sys.stop().await;
}

/// Roles against consents and family contacts. Expected outcome per role for (record a
/// consent, read it, check a disclosure, add a contact, list contacts).
const CONSENT_MATRIX: &[(&str, [bool; 5])] = &[
    ("admin", [false; 5]),
    ("program_director", [true; 5]),
    ("clinician", [true; 5]),
    ("front_desk", [true; 5]),
    ("receptionist", [false; 5]),
];

#[tokio::test]
async fn the_front_desk_handles_consent_forms_and_contacts() {
    use crate::assessments::{patient, user};
    use crate::consents::{mother, to_clinic};
    use crate::post;
    let sys = TestSystem::start().await;
    let clinician = user(&sys, "dr-kim", &["clinician"]);
    let p = patient(&sys, &clinician).await;
    let (_, existing) = post(
        &sys,
        &clinician,
        &format!("/v1/patients/{p}/consents"),
        &to_clinic(),
    )
    .await;
    let id = existing["id"].as_str().unwrap().to_owned();
    for (role, allowed) in CONSENT_MATRIX {
        let t = token(&sys, &[role], "user/*.cruds");
        let got = [
            post(&sys, &t, &format!("/v1/patients/{p}/consents"), &to_clinic()).await.0,
            crate::get(&sys, &t, &format!("/v1/consents/{id}")).await.0,
            crate::get(
                &sys,
                &t,
                &format!("/v1/patients/{p}/disclosure-check?recipient_id=x&category=attendance&purpose=treatment"),
            )
            .await
            .0,
            post(&sys, &t, &format!("/v1/patients/{p}/contacts"), &mother()).await.0,
            crate::get(&sys, &t, &format!("/v1/patients/{p}/contacts")).await.0,
        ];
        assert_row(role, &got, [201, 200, 200, 201, 200], allowed);
    }
    sys.stop().await;
}

/// Roles against referrals. Expected outcome per role for (enter, read, list, review,
/// decline).
const REFERRAL_MATRIX: &[(&str, [bool; 5])] = &[
    ("admin", [false; 5]),
    ("program_director", [true; 5]),
    ("clinician", [true; 5]),
    ("front_desk", [true; 5]),
    ("receptionist", [false; 5]),
];

#[tokio::test]
async fn intake_staff_and_the_care_team_work_referrals() {
    use crate::post;
    use crate::referrals::referral;
    let sys = TestSystem::start().await;
    let desk = token(&sys, &["front_desk"], "user/*.cruds");
    for (role, allowed) in REFERRAL_MATRIX {
        let (_, r) = post(&sys, &desk, "/v1/referrals", &referral()).await;
        let (_, r2) = post(&sys, &desk, "/v1/referrals", &referral()).await;
        let (id, id2) = (r["id"].as_str().unwrap(), r2["id"].as_str().unwrap());
        let t = token(&sys, &[role], "user/*.cruds");
        let got = [
            post(&sys, &t, "/v1/referrals", &referral()).await.0,
            crate::get(&sys, &t, &format!("/v1/referrals/{id}")).await.0,
            crate::get(&sys, &t, "/v1/referrals").await.0,
            post(&sys, &t, &format!("/v1/referrals/{id}/review"), &json!({}))
                .await
                .0,
            post(
                &sys,
                &t,
                &format!("/v1/referrals/{id2}/decline"),
                &json!({ "reason": "full" }),
            )
            .await
            .0,
        ];
        assert_row(role, &got, [201, 200, 200, 200, 200], allowed);
    }
    sys.stop().await;
}

/// Every records method the gateway serves over gRPC is authorized as its own operation: a
/// token with no usable scope is refused naming exactly the scope of that operation.
#[tokio::test]
async fn every_grpc_method_is_checked_as_its_own_operation() {
    let sys = TestSystem::start().await;
    let t = token(&sys, &["clinician"], "user/Nothing.r");
    let mut grpc = tonic::client::Grpc::new(sys.grpc_channel().await);
    let mut checked = 0;
    for op in iop_gateway::backends::operations() {
        let path = op.grpc_path;
        if op.backend == "gateway" {
            continue;
        }
        grpc.ready().await.unwrap();
        let codec = tonic_prost::ProstCodec::<(), ()>::default();
        let err = grpc
            .unary(
                with_bearer((), &t),
                http::uri::PathAndQuery::from_static(path),
                codec,
            )
            .await
            .unwrap_err();
        let (resource, action) = op.permission();
        assert_eq!(err.code(), tonic::Code::PermissionDenied, "{path}: {err:?}");
        assert!(
            err.message().starts_with(&format!(
                "missing scope user/{}.{}",
                resource.name(),
                action.letter()
            )),
            "{path}: {}",
            err.message()
        );
        checked += 1;
    }
    assert_eq!(checked, 93);
    sys.stop().await;
}

/// The scheduling side of the matrix, through the gateway, each role against one operation
/// of each scheduling resource: sites (directors, admins), clinicians (all staff read),
/// appointments and the waitlist (all staff), working hours (those who keep schedules), slot
/// search (all), appointment kinds (directors, admins), calendar feeds (all staff make and
/// list; a room's only those who keep schedules — the service's rule); an unknown role
/// nothing.
#[tokio::test]
async fn each_role_gets_exactly_what_the_scheduling_matrix_allows() {
    let sys = TestSystem::start().await;
    let director = crate::appointments::staff(&sys, "clinic-a", "dr-director", "program_director");
    let c = crate::appointments::clinic(&sys, &director).await;
    let (_, p) = create(&sys, &director, &ana()).await;
    let patient = p["id"].as_str().unwrap().to_owned();
    // create location, list clinicians, book, list appointments, set hours, search slots,
    // set a kind, join the waitlist, a room's feed, list feeds
    let matrix: &[(&str, [bool; 10])] = &[
        (
            "admin",
            [true, true, true, true, true, true, true, true, true, true],
        ),
        (
            "program_director",
            [true, true, true, true, true, true, true, true, true, true],
        ),
        (
            "clinician",
            [
                false, true, true, true, false, true, false, true, false, true,
            ],
        ),
        (
            "front_desk",
            [false, true, true, true, true, true, false, true, true, true],
        ),
        ("receptionist", [false; 10]),
    ];
    for (i, (role, allowed)) in matrix.iter().enumerate() {
        let t = crate::appointments::staff(&sys, "clinic-a", &format!("user-{role}"), role);
        let hour = 14 + i;
        let mut booking = crate::appointments::visit(
            &c,
            &patient,
            &format!("2030-03-04T{hour}:00:00Z"),
            &format!("2030-03-04T{hour}:30:00Z"),
        );
        booking["room_id"] = json!(c.rooms[i % 2]);
        let put = |path: String, body: Value| {
            let req = sys.http.put(sys.url(&path)).bearer_auth(&t).json(&body);
            async move { req.send().await.unwrap().status().as_u16() }
        };
        let got = [
            crate::post(
                &sys,
                &t,
                "/v1/locations",
                &json!({ "name": format!("Site {role}"), "time_zone": "America/Denver" }),
            )
            .await
            .0,
            crate::get(&sys, &t, "/v1/clinicians").await.0,
            crate::post(&sys, &t, "/v1/appointments", &booking).await.0,
            crate::get(&sys, &t, "/v1/appointments").await.0,
            put(
                format!(
                    "/v1/clinicians/{}/working-hours/{}",
                    c.clinicians[1], c.location
                ),
                json!({ "hours": [{ "day": "monday", "start_time": "09:00", "end_time": "17:00" }] }),
            )
            .await,
            crate::get(
                &sys,
                &t,
                &format!(
                    "/v1/slots?location_id={}&kind=individual_therapy&from_date=2030-03-04&to_date=2030-03-05",
                    c.location
                ),
            )
            .await
            .0,
            put(
                "/v1/appointment-kinds/case_management".into(),
                json!({ "default_minutes": 45, "modalities": ["telehealth"] }),
            )
            .await,
            crate::post(
                &sys,
                &t,
                "/v1/waitlist-entries",
                &json!({ "patient_id": patient, "kind": "individual_therapy", "location_id": c.location }),
            )
            .await
            .0,
            crate::post(&sys, &t, "/v1/calendar-feeds", &json!({ "room_id": c.rooms[0] }))
                .await
                .0,
            crate::get(&sys, &t, "/v1/calendar-feeds").await.0,
        ];
        assert_row(
            role,
            &got,
            [201, 200, 201, 200, 200, 200, 200, 201, 201, 200],
            allowed,
        );
    }
    sys.stop().await;
}

/// The group side of the matrix: programs and tracks are set up by directors and admins;
/// every staff role reads them and the catalog; an unknown role nothing.
#[tokio::test]
async fn each_role_gets_exactly_what_the_groups_matrix_allows() {
    let sys = TestSystem::start().await;
    let director = crate::appointments::staff(&sys, "clinic-a", "dr-director", "program_director");
    let c = crate::appointments::clinic(&sys, &director).await;
    let (status, program) = crate::post(
        &sys,
        &director,
        "/v1/programs",
        &crate::programs::adult_sud(&c.clinicians),
    )
    .await;
    assert_eq!(status, 201, "{program}");
    let pid = program["id"].as_str().unwrap().to_owned();
    // create a program, read one, list tracks, read the catalog
    let matrix: &[(&str, [bool; 4])] = &[
        ("admin", [true; 4]),
        ("program_director", [true; 4]),
        ("clinician", [false, true, true, true]),
        ("front_desk", [false, true, true, true]),
        ("receptionist", [false; 4]),
    ];
    for (role, allowed) in matrix {
        let t = crate::appointments::staff(&sys, "clinic-a", &format!("user-{role}"), role);
        let mut body = crate::programs::adult_sud(&c.clinicians);
        body["name"] = json!(format!("Program of {role}"));
        let got = [
            crate::post(&sys, &t, "/v1/programs", &body).await.0,
            crate::get(&sys, &t, &format!("/v1/programs/{pid}")).await.0,
            crate::get(&sys, &t, &format!("/v1/tracks?program_id={pid}"))
                .await
                .0,
            crate::get(&sys, &t, "/v1/program-catalog").await.0,
        ];
        assert_row(role, &got, [201, 200, 200, 200], allowed);
    }
    sys.stop().await;
}
