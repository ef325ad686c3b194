//! `/v1/clinicians`: REST and JSON over `iop.scheduling.v1.ClinicianService`.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::{Extension, Json};
use http::HeaderMap;
use iop_core::Principal;
use iop_proto::scheduling as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::problem::Problem;
use crate::rest::extract::{JsonObject, Query};
use crate::rest::{Shown, answer, idempotency_key, rfc3339, shown, text};

iop_kit::text_enum! {
    json
    /// A licence or degree: `lcsw`, `lpc`, `lmft`, `md`, `do`, `np`, `psyd`, `phd`, `ladc`
    /// (licensed alcohol and drug counselor), `rn`.
    pub enum Credential: iop_proto::scheduling::Credential {
        Lcsw = "lcsw",
        Lpc = "lpc",
        Lmft = "lmft",
        Md = "md",
        Do = "do",
        Np = "np",
        Psyd = "psyd",
        Phd = "phd",
        Ladc = "ladc",
        Rn = "rn",
    }
}

iop_kit::text_enum! {
    json
    /// What is booked; `group_hold` is placed by the group service.
    pub enum AppointmentKind: iop_proto::scheduling::AppointmentKind {
        IntakeAssessment = "intake_assessment",
        IndividualTherapy = "individual_therapy",
        FamilySession = "family_session",
        PsychiatricEvaluation = "psychiatric_evaluation",
        MedicationManagement = "medication_management",
        CaseManagement = "case_management",
        GroupHold = "group_hold",
    }
}

/// A clinician of the clinic.
#[derive(Debug, Serialize, ToSchema)]
pub struct Clinician {
    #[schema(format = Uuid)]
    pub id: String,
    pub given_name: String,
    pub family_name: String,
    pub credentials: Vec<Credential>,
    /// National Provider Identifier; empty when none.
    pub npi: String,
    /// The kinds of appointment this clinician may provide.
    pub kinds: Vec<AppointmentKind>,
    pub active: bool,
    /// The `sub` of this clinician's tokens; empty when none.
    pub user_id: String,
    #[schema(format = DateTime)]
    pub create_time: String,
}

/// A new clinician.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClinician {
    #[schema(value_type = text::Name)]
    pub given_name: String,
    #[schema(value_type = text::Name)]
    pub family_name: String,
    #[serde(default)]
    pub credentials: Vec<Credential>,
    /// 10 digits with the CMS check digit; unique in the clinic; leave out for none.
    #[serde(default)]
    #[schema(value_type = text::Npi, example = "1234567893")]
    pub npi: String,
    /// At least one.
    #[schema(min_items = 1)]
    pub kinds: Vec<AppointmentKind>,
    /// Default true.
    #[serde(default = "yes")]
    pub active: bool,
    /// The `sub` of this clinician's tokens, so "my schedule" finds them; unique in the
    /// clinic.
    #[serde(default)]
    #[schema(value_type = text::Text)]
    pub user_id: String,
}

fn yes() -> bool {
    true
}

crate::rest::listed! {
    ClinicianList { clinicians: Clinician } from pb::ListCliniciansResponse, by from_proto
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ClinicianParams {
    /// Only those who may provide this kind.
    pub kind: Option<AppointmentKind>,
    /// Only active ones.
    pub active_only: Option<bool>,
    /// 1-200, default 50.
    #[param(minimum = 0)]
    pub page_size: Option<i32>,
    pub page_token: Option<String>,
}

/// Add a clinician. Send an `Idempotency-Key` to make retries safe.
#[utoipa::path(post, path = "/v1/clinicians", tag = "clinicians", request_body = NewClinician,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Retrying with the same key returns the clinician added the first time")),
    responses(
        (status = 201, description = "Added", body = Clinician, headers(("Location" = String))),
        (status = 409, description = "Another clinician of the clinic has this NPI or user id", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, Problem> {
    let new: NewClinician = body.parse()?;
    let message = pb::CreateClinicianRequest {
        clinician: Some(pb::Clinician {
            given_name: new.given_name,
            family_name: new.family_name,
            credentials: new
                .credentials
                .into_iter()
                .map(Credential::to_proto)
                .collect(),
            npi: new.npi,
            kinds: new
                .kinds
                .into_iter()
                .map(AppointmentKind::to_proto)
                .collect(),
            active: new.active,
            user_id: new.user_id,
            ..Default::default()
        }),
        request_id: idempotency_key(&headers)?,
    };
    crate::rest::create(&st, &who, super::CreateClinician, message, None).await
}

/// Read a clinician.
#[utoipa::path(get, path = "/v1/clinicians/{id}", tag = "clinicians",
    responses((status = 200, description = "The clinician", body = Clinician)),
    security(("bearer" = [])))]
pub async fn get(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    answer(
        &st,
        &who,
        super::GetClinician,
        pb::GetClinicianRequest { id },
    )
    .await
}

/// The clinic's clinicians, oldest first; `kind` finds who may provide it.
#[utoipa::path(get, path = "/v1/clinicians", tag = "clinicians", params(ClinicianParams),
    responses((status = 200, description = "A page of clinicians", body = ClinicianList)),
    security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(p): Query<ClinicianParams>,
) -> Result<Json<ClinicianList>, Problem> {
    let message = pb::ListCliniciansRequest {
        page_size: p.page_size.unwrap_or(0),
        page_token: p.page_token.unwrap_or_default(),
        kind: p.kind.map_or(0, AppointmentKind::to_proto),
        active_only: p.active_only.unwrap_or(false),
    };
    crate::rest::list(
        &st,
        &who,
        super::ListClinicians,
        message,
        pb::Clinician::problem,
    )
    .await
}

fn from_proto(c: pb::Clinician) -> Clinician {
    Clinician {
        id: c.id,
        given_name: c.given_name,
        family_name: c.family_name,
        credentials: c
            .credentials
            .into_iter()
            .filter_map(Credential::from_proto)
            .collect(),
        npi: c.npi,
        kinds: c
            .kinds
            .into_iter()
            .filter_map(AppointmentKind::from_proto)
            .collect(),
        active: c.active,
        user_id: c.user_id,
        create_time: rfc3339(c.create_time.as_ref()),
    }
}

shown! { pb::Clinician => Clinician, by from_proto, at "/v1/clinicians", fields "clinician." }
