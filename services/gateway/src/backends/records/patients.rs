//! `/v1/patients`: REST and JSON over `iop.records.v1.PatientService`.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::{Extension, Json};
use http::HeaderMap;
use iop_core::Principal;
use iop_proto::common as pbc;
use iop_proto::records as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::problem::Problem;
use crate::rest::extract::{JsonObject, Query};
use crate::rest::text;
use crate::rest::{
    Shown, answer, date_text, idempotency_key, if_match, parse_date, rfc3339, shown,
};

iop_kit::text_enum! {
    json
    /// Sex assigned at birth (FHIR administrative-gender).
    pub enum Sex: iop_proto::records::Sex {
        Female = "female",
        Male = "male",
        Other = "other",
        Unknown = "unknown",
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    #[serde(default)]
    #[schema(value_type = Vec<text::Line>, max_items = 4)]
    pub lines: Vec<String>,
    #[serde(default)]
    #[schema(value_type = text::Text)]
    pub city: String,
    #[serde(default)]
    #[schema(value_type = text::Text)]
    pub region: String,
    #[serde(default)]
    #[schema(value_type = text::Code)]
    pub postal_code: String,
    /// ISO 3166-1 alpha-2, e.g. `US`.
    #[serde(default)]
    #[schema(value_type = text::Country)]
    pub country: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    #[serde(default)]
    #[schema(value_type = text::Phone)]
    pub phone: String,
    #[serde(default)]
    #[schema(value_type = text::Email)]
    pub email: String,
    #[serde(default)]
    pub address: Option<Address>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Identifier {
    /// Namespace of the value, e.g. `https://ehr.example.org/patient`; without `|`.
    #[schema(value_type = text::IdentifierSystem)]
    pub system: String,
    #[schema(value_type = text::IdentifierValue)]
    pub value: String,
}

/// A patient of the caller's clinic.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Patient {
    #[schema(format = Uuid)]
    pub id: String,
    pub given_name: String,
    pub middle_name: String,
    pub family_name: String,
    pub preferred_name: String,
    /// `YYYY-MM-DD`.
    #[schema(format = Date, example = "1990-02-28")]
    pub birth_date: String,
    pub sex_at_birth: Option<Sex>,
    pub gender_identity: String,
    pub pronouns: String,
    pub contact: Contact,
    pub mrn: Option<String>,
    pub identifiers: Vec<Identifier>,
    #[schema(format = DateTime)]
    pub create_time: String,
    #[schema(format = DateTime)]
    pub update_time: String,
    pub version: i64,
    /// Send back as `If-Match` (or `etag`) to refuse stale updates.
    pub etag: String,
}

/// A new patient of your clinic. The required fields are checked with the others, so a
/// refusal names every broken rule at once.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPatient {
    #[schema(value_type = text::Name, required = true)]
    pub given_name: Option<String>,
    #[serde(default)]
    #[schema(value_type = text::Text)]
    pub middle_name: String,
    #[schema(value_type = text::Name, required = true)]
    pub family_name: Option<String>,
    #[serde(default)]
    #[schema(value_type = text::Text)]
    pub preferred_name: String,
    /// `YYYY-MM-DD`, from 1900-01-01 to today.
    #[schema(value_type = String, required = true, format = Date, example = "1990-02-28")]
    pub birth_date: Option<String>,
    #[schema(value_type = Sex, required = true)]
    pub sex_at_birth: Option<Sex>,
    #[serde(default)]
    #[schema(value_type = text::Text)]
    pub gender_identity: String,
    #[serde(default)]
    #[schema(value_type = text::Label)]
    pub pronouns: String,
    pub contact: Option<Contact>,
    /// Medical record number, unique in your clinic: up to 64 characters without surrounding
    /// spaces; empty or absent for none.
    #[schema(value_type = Option<text::Mrn>)]
    pub mrn: Option<String>,
    /// At most 20, each `system|value` once.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub identifiers: Vec<Identifier>,
}

impl From<NewPatient> for PatientUpdate {
    fn from(p: NewPatient) -> Self {
        Self {
            given_name: p.given_name,
            middle_name: Some(p.middle_name),
            family_name: p.family_name,
            preferred_name: Some(p.preferred_name),
            birth_date: p.birth_date,
            sex_at_birth: p.sex_at_birth,
            gender_identity: Some(p.gender_identity),
            pronouns: Some(p.pronouns),
            contact: p.contact,
            mrn: p.mrn,
            identifiers: Some(p.identifiers),
            etag: None,
        }
    }
}

/// The fields of a patient to change (PATCH): only the fields sent change; `null` clears.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientUpdate {
    #[schema(value_type = text::Name, required = false)]
    pub given_name: Option<String>,
    #[schema(value_type = Option<text::Text>)]
    pub middle_name: Option<String>,
    #[schema(value_type = text::Name, required = false)]
    pub family_name: Option<String>,
    #[schema(value_type = Option<text::Text>)]
    pub preferred_name: Option<String>,
    #[schema(format = Date, example = "1990-02-28")]
    #[schema(value_type = String, required = false)]
    pub birth_date: Option<String>,
    #[schema(value_type = Sex, required = false)]
    pub sex_at_birth: Option<Sex>,
    #[schema(value_type = Option<text::Text>)]
    pub gender_identity: Option<String>,
    #[schema(value_type = Option<text::Label>)]
    pub pronouns: Option<String>,
    pub contact: Option<Contact>,
    #[schema(value_type = Option<text::Mrn>)]
    pub mrn: Option<String>,
    pub identifiers: Option<Vec<Identifier>>,
    /// PATCH only: the etag you read; a stale one gets 409.
    pub etag: Option<String>,
}

crate::rest::listed! {
    PatientList { patients: Patient } from pb::ListPatientsResponse, by |x: pb::Patient| from_proto(&x)
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// 1-200, default 50.
    #[param(minimum = 0)]
    pub page_size: Option<i32>,
    pub page_token: Option<String>,
    /// Case-insensitive part of a given, middle, family or preferred name.
    pub name: Option<String>,
    /// An MRN, or `system|value` of an external identifier.
    pub identifier: Option<String>,
}

/// Create a patient. Send an `Idempotency-Key` to make retries safe.
#[utoipa::path(post, path = "/v1/patients", tag = "patients", request_body = NewPatient,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Retrying with the same key returns the patient created the first time")),
    responses(
        (status = 201, description = "Created", body = Patient,
            headers(("Location" = String), ("ETag" = String))),
        (status = 409, description = "MRN or identifier already used", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, Problem> {
    let write = PatientUpdate::from(body.parse::<NewPatient>()?);
    let request_id = idempotency_key(&headers)?;
    let patient = to_proto(&write)?;
    let message = pb::CreatePatientRequest {
        patient: Some(patient),
        request_id,
    };
    crate::rest::create(&st, &who, super::CreatePatient, message, None).await
}

/// Read one patient.
#[utoipa::path(get, path = "/v1/patients/{id}", tag = "patients",
    responses(
        (status = 200, description = "The patient", body = Patient, headers(("ETag" = String))),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    answer(&st, &who, super::GetPatient, pb::GetPatientRequest { id }).await
}

/// List patients, oldest first, optionally filtered.
#[utoipa::path(get, path = "/v1/patients", tag = "patients", params(ListParams),
    responses(
        (status = 200, description = "A page of patients", body = PatientList),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(params): Query<ListParams>,
) -> Result<Json<PatientList>, Problem> {
    let message = pb::ListPatientsRequest {
        page_size: params.page_size.unwrap_or(0),
        page_token: params.page_token.unwrap_or_default(),
        name: params.name.unwrap_or_default(),
        identifier: params.identifier.unwrap_or_default(),
    };
    crate::rest::list(
        &st,
        &who,
        super::ListPatients,
        message,
        pb::Patient::problem,
    )
    .await
}

/// Change some fields of a patient. Send `If-Match` with the etag you read to refuse
/// overwriting someone else's change.
#[utoipa::path(patch, path = "/v1/patients/{id}", tag = "patients", request_body = PatientUpdate,
    params(("If-Match" = Option<String>, Header, description = "Etag from a previous read")),
    responses(
        (status = 200, description = "Updated", body = Patient, headers(("ETag" = String))),
        (status = 409, description = "Stale etag, or MRN/identifier already used", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn update(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, Problem> {
    let (write, mask) = body.patch::<PatientUpdate>()?;
    let etag = match if_match(&headers)? {
        Some(etag) => etag,
        None => write.etag.clone().unwrap_or_default(),
    };
    let patient = pb::Patient {
        id,
        etag,
        ..to_proto(&write)?
    };
    let message = pb::UpdatePatientRequest {
        patient: Some(patient),
        update_mask: Some(mask),
    };
    answer(&st, &who, super::UpdatePatient, message).await
}

fn to_proto(w: &PatientUpdate) -> Result<pb::Patient, Problem> {
    let birth_date = parse_date("birth_date", w.birth_date.as_deref())?;
    Ok(pb::Patient {
        given_name: w.given_name.clone().unwrap_or_default(),
        middle_name: w.middle_name.clone().unwrap_or_default(),
        family_name: w.family_name.clone().unwrap_or_default(),
        preferred_name: w.preferred_name.clone().unwrap_or_default(),
        birth_date,
        sex_at_birth: w.sex_at_birth.map_or(0, Sex::to_proto),
        gender_identity: w.gender_identity.clone().unwrap_or_default(),
        pronouns: w.pronouns.clone().unwrap_or_default(),
        contact: w.contact.clone().map(contact_to_proto),
        mrn: w.mrn.clone().unwrap_or_default(),
        identifiers: w
            .identifiers
            .iter()
            .flatten()
            .map(|i| pbc::Identifier {
                system: i.system.clone(),
                value: i.value.clone(),
            })
            .collect(),
        ..Default::default()
    })
}

/// Contact details as the records service takes them (shared with family contacts).
pub fn contact_to_proto(c: Contact) -> pbc::ContactInfo {
    pbc::ContactInfo {
        phone: c.phone,
        email: c.email,
        address: c.address.map(|a| pbc::PostalAddress {
            lines: a.lines,
            city: a.city,
            region: a.region,
            postal_code: a.postal_code,
            country: a.country,
        }),
    }
}

pub fn contact_from_proto(c: pbc::ContactInfo) -> Contact {
    Contact {
        phone: c.phone,
        email: c.email,
        address: c.address.map(|a| Address {
            lines: a.lines,
            city: a.city,
            region: a.region,
            postal_code: a.postal_code,
            country: a.country,
        }),
    }
}

fn from_proto(p: &pb::Patient) -> Patient {
    Patient {
        id: p.id.clone(),
        given_name: p.given_name.clone(),
        middle_name: p.middle_name.clone(),
        family_name: p.family_name.clone(),
        preferred_name: p.preferred_name.clone(),
        birth_date: date_text(p.birth_date.as_ref()),
        sex_at_birth: Sex::from_proto(p.sex_at_birth),
        gender_identity: p.gender_identity.clone(),
        pronouns: p.pronouns.clone(),
        contact: contact_from_proto(p.contact.clone().unwrap_or_default()),
        mrn: crate::rest::present(p.mrn.clone()),
        identifiers: p
            .identifiers
            .iter()
            .map(|i| Identifier {
                system: i.system.clone(),
                value: i.value.clone(),
            })
            .collect(),
        create_time: rfc3339(p.create_time.as_ref()),
        update_time: rfc3339(p.update_time.as_ref()),
        version: p.version,
        etag: p.etag.clone(),
    }
}

shown! { pb::Patient => Patient, by |p: pb::Patient| from_proto(&p), at "/v1/patients", fields "patient.", versioned }
