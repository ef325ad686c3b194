use iop_proto::common::Date;
use iop_proto::records::patient_service_client::PatientServiceClient;
use iop_proto::records::{
    CreatePatientRequest, GetPatientRequest, ListPatientsRequest, Patient, Sex,
    UpdatePatientRequest,
};
use iop_testing::{TestSystem, with_bearer};
use tonic::Code;

pub(crate) fn ana() -> Patient {
    Patient {
        given_name: "Ana".into(),
        family_name: "Lopez".into(),
        birth_date: Some(Date {
            year: 1990,
            month: 2,
            day: 28,
        }),
        sex_at_birth: Sex::Female as i32,
        mrn: "MRN-1".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn create_get_list_update_over_grpc() {
    let sys = TestSystem::start().await;
    let token = sys.token("clinic-a", &["front_desk"]);
    let mut client = PatientServiceClient::new(sys.grpc_channel().await);

    let created = client
        .create_patient(with_bearer(
            CreatePatientRequest {
                patient: Some(ana()),
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!created.id.is_empty());
    assert_eq!(created.version, 1);
    assert!(created.create_time.is_some());

    let fetched = client
        .get_patient(with_bearer(
            GetPatientRequest {
                id: created.id.clone(),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fetched, created);

    let list = client
        .list_patients(with_bearer(
            ListPatientsRequest {
                name: "LOP".into(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.patients, vec![created.clone()]);
    assert!(list.next_page_token.is_empty());

    let update = UpdatePatientRequest {
        patient: Some(Patient {
            id: created.id.clone(),
            etag: created.etag.clone(),
            preferred_name: "Ani".into(),
            given_name: "ignored: not in the mask".into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["preferred_name".into()],
        }),
    };
    let updated = client
        .update_patient(with_bearer(update.clone(), &token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.preferred_name, "Ani");
    assert_eq!(updated.given_name, "Ana");
    assert_eq!(updated.version, 2);

    // The same etag again is stale now.
    let err = client
        .update_patient(with_bearer(update, &token))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);

    // Output-only and unknown paths are refused.
    let bad_mask = UpdatePatientRequest {
        patient: Some(Patient {
            id: created.id.clone(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["version".into()],
        }),
    };
    let err = client
        .update_patient(with_bearer(bad_mask, &token))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("update_mask"), "{}", err.message());
    sys.stop().await;
}

#[tokio::test]
async fn other_tenant_gets_not_found_over_grpc() {
    let sys = TestSystem::start().await;
    let mut client = PatientServiceClient::new(sys.grpc_channel().await);
    let a = sys.token("clinic-a", &["clinician"]);
    let b = sys.token("clinic-b", &["clinician"]);
    let created = client
        .create_patient(with_bearer(
            CreatePatientRequest {
                patient: Some(ana()),
                ..Default::default()
            },
            &a,
        ))
        .await
        .unwrap()
        .into_inner();
    let err = client
        .get_patient(with_bearer(
            GetPatientRequest {
                id: created.id.clone(),
            },
            &b,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let list = client
        .list_patients(with_bearer(ListPatientsRequest::default(), &b))
        .await
        .unwrap()
        .into_inner();
    assert!(list.patients.is_empty());
    sys.stop().await;
}

#[tokio::test]
async fn invalid_fields_are_invalid_argument_with_field_details() {
    let sys = TestSystem::start().await;
    let token = sys.token("clinic-a", &["front_desk"]);
    let mut client = PatientServiceClient::new(sys.grpc_channel().await);
    let bad = Patient {
        birth_date: Some(Date {
            year: 1990,
            month: 2,
            day: 30,
        }),
        ..ana()
    };
    let err = client
        .create_patient(with_bearer(
            CreatePatientRequest {
                patient: Some(bad),
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let fields: Vec<String> = iop_core::error::field_violations(&err)
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, vec!["patient.birth_date"]);

    let err = client
        .create_patient(with_bearer(CreatePatientRequest::default(), &token))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("patient:"));
    sys.stop().await;
}

#[tokio::test]
async fn create_with_a_request_id_is_idempotent_over_grpc() {
    let sys = TestSystem::start().await;
    let token = sys.token("clinic-a", &["front_desk"]);
    let mut client = PatientServiceClient::new(sys.grpc_channel().await);
    let req = CreatePatientRequest {
        patient: Some(ana()),
        request_id: "ehr-msg-001".into(),
    };
    let first = client
        .create_patient(with_bearer(req.clone(), &token))
        .await
        .unwrap()
        .into_inner();
    let again = client
        .create_patient(with_bearer(req, &token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first, again);
    let different = CreatePatientRequest {
        patient: Some(Patient {
            given_name: "Someone else".into(),
            mrn: String::new(),
            ..ana()
        }),
        request_id: "ehr-msg-001".into(),
    };
    let err = client
        .create_patient(with_bearer(different, &token))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().starts_with("request_id:"),
        "{}",
        err.message()
    );
    sys.stop().await;
}
