//! `/v1/consents`, the disclosure check and `/v1/contacts`: REST and JSON over
//! `iop.records.v1.ConsentService` and `ContactService`.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::{Extension, Json};
use http::HeaderMap;
use iop_core::Principal;
use iop_proto::records as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::patients::Contact as ContactInfo;
use crate::AppState;
use crate::problem::Problem;
use crate::rest::extract::{JsonObject, Query};
use crate::rest::text;
use crate::rest::{
    Shown, answer, date_text, etag_or_any, idempotency_key, parse_date, rfc3339, shown,
};

iop_kit::text_enum! {
    json
    /// Parts of the record a consent covers; psychotherapy notes are never among them.
    pub enum RecordCategory: iop_proto::records::RecordCategory {
        Demographics = "demographics",
        Attendance = "attendance",
        Assessments = "assessments",
        TreatmentPlans = "treatment_plans",
        ClinicalNotes = "clinical_notes",
        DischargeSummary = "discharge_summary",
        SubstanceUseTreatment = "substance_use_treatment",
    }
}

iop_kit::text_enum! {
    json
    pub enum DisclosurePurpose: iop_proto::records::DisclosurePurpose {
        Treatment = "treatment",
        Payment = "payment",
        CareCoordination = "care_coordination",
        FamilyInvolvement = "family_involvement",
        Legal = "legal",
        Research = "research",
    }
}

iop_kit::text_enum! {
    json
    /// `active` (not revoked, not past its expiration date), `revoked` or `expired`.
    pub enum ConsentStatus: iop_proto::records::ConsentStatus {
        Active = "active",
        Revoked = "revoked",
        Expired = "expired",
    }
}

iop_kit::text_enum! {
    json
    pub enum Relationship: iop_proto::records::Relationship {
        Parent = "parent",
        Guardian = "guardian",
        Spouse = "spouse",
        Partner = "partner",
        Sibling = "sibling",
        Child = "child",
        OtherRelative = "other_relative",
        Friend = "friend",
        Sponsor = "sponsor",
        Other = "other",
    }
}

/// A consent to disclose, as the patient signed it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Consent {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub patient_id: String,
    pub recipient_id: String,
    pub recipient_name: String,
    pub categories: Vec<Option<RecordCategory>>,
    pub purposes: Vec<Option<DisclosurePurpose>>,
    #[schema(format = Date)]
    pub effective_date: String,
    #[schema(format = Date)]
    pub expiration_date: String,
    #[schema(format = Date)]
    pub signed_date: String,
    pub status: Option<ConsentStatus>,
    pub recorded_by: String,
    #[schema(format = DateTime)]
    pub create_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub revoke_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoke_reason: Option<String>,
}

/// A signed consent form.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConsent {
    /// A stable id of the recipient: a contact's id, an NPI, a client id.
    #[schema(value_type = text::Name)]
    pub recipient_id: String,
    #[schema(value_type = text::Name)]
    pub recipient_name: String,
    #[schema(min_items = 1)]
    pub categories: Vec<RecordCategory>,
    #[schema(min_items = 1)]
    pub purposes: Vec<DisclosurePurpose>,
    /// Default today.
    #[schema(format = Date)]
    pub effective_date: Option<String>,
    /// Required: Part 2 consents end.
    #[schema(value_type = String, required = true, format = Date)]
    pub expiration_date: Option<String>,
    /// Default today.
    #[schema(format = Date)]
    pub signed_date: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Revoke {
    #[serde(default)]
    #[schema(value_type = text::Narrative)]
    pub reason: String,
}

crate::rest::listed! {
    ConsentList { consents: Consent } from pb::ListConsentsResponse, by consent_from_proto
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConsentParams {
    #[param(format = Uuid)]
    pub patient_id: Option<String>,
    pub recipient_id: Option<String>,
    pub status: Option<ConsentStatus>,
    /// Only consents in force on this day (`YYYY-MM-DD`).
    #[param(format = Date)]
    pub in_force_on: Option<String>,
    #[param(minimum = 0)]
    pub page_size: Option<i32>,
    pub page_token: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DisclosureParams {
    #[param(required = true)]
    pub recipient_id: Option<String>,
    #[param(required = true)]
    pub category: Option<RecordCategory>,
    #[param(required = true)]
    pub purpose: Option<DisclosurePurpose>,
    /// The day of the disclosure (`YYYY-MM-DD`); today when absent.
    #[param(format = Date)]
    pub date: Option<String>,
}

/// May this part of the record be disclosed to this recipient for this purpose?
#[derive(Debug, Serialize, ToSchema)]
pub struct DisclosureDecision {
    pub permitted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid)]
    pub consent_id: Option<String>,
    pub reason: String,
}

/// A family or support contact of a patient.
#[derive(Debug, Serialize, ToSchema)]
pub struct FamilyContact {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub patient_id: String,
    pub name: String,
    pub relationship: Option<Relationship>,
    pub contact: ContactInfo,
    pub emergency_contact: bool,
    /// Involved in family sessions, with a consent in force.
    pub involved_in_family_sessions: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid)]
    pub involvement_consent_id: Option<String>,
    pub notes: String,
    #[schema(format = DateTime)]
    pub create_time: String,
    #[schema(format = DateTime)]
    pub update_time: String,
    pub version: i64,
    pub etag: String,
}

/// A new family or support contact of the patient: `name`, `relationship` and a phone or an
/// email are required (checked together, so a refusal names every missing one).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFamilyContact {
    #[schema(value_type = text::Name, required = true)]
    pub name: Option<String>,
    #[schema(value_type = Relationship, required = true)]
    pub relationship: Option<Relationship>,
    #[schema(value_type = ContactInfo, required = true)]
    pub contact: Option<ContactInfo>,
    #[serde(default)]
    pub emergency_contact: bool,
    /// Needs a consent in force naming this contact for family involvement.
    #[serde(default)]
    pub involved_in_family_sessions: bool,
    #[schema(value_type = Option<text::Narrative>)]
    pub notes: Option<String>,
}

impl From<NewFamilyContact> for FamilyContactUpdate {
    fn from(c: NewFamilyContact) -> Self {
        Self {
            name: c.name,
            relationship: c.relationship,
            contact: c.contact,
            emergency_contact: Some(c.emergency_contact),
            involved_in_family_sessions: Some(c.involved_in_family_sessions),
            notes: c.notes,
        }
    }
}

/// The fields of a contact to change (PATCH): only those sent change.
/// `involved_in_family_sessions: true` needs a consent in force naming the contact's id for
/// `family_involvement`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FamilyContactUpdate {
    #[schema(value_type = text::Name, required = false)]
    pub name: Option<String>,
    pub relationship: Option<Relationship>,
    pub contact: Option<ContactInfo>,
    pub emergency_contact: Option<bool>,
    pub involved_in_family_sessions: Option<bool>,
    #[schema(value_type = Option<text::Narrative>)]
    pub notes: Option<String>,
}

crate::rest::listed! {
    FamilyContactList { contacts: FamilyContact } from pb::ListContactsResponse, by person_from_proto
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ContactParams {
    /// Only contacts involved in family sessions with a consent in force.
    pub involved_only: Option<bool>,
    #[param(minimum = 0)]
    pub page_size: Option<i32>,
    pub page_token: Option<String>,
}

/// Record a signed consent to disclose.
#[utoipa::path(post, path = "/v1/patients/{id}/consents", tag = "consents", request_body = NewConsent,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses(
        (status = 201, description = "Recorded", body = Consent, headers(("Location" = String))),
    ),
    security(("bearer" = [])))]
pub async fn create_consent(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(patient_id): Path<String>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, Problem> {
    let c: NewConsent = body.parse()?;
    let message = pb::CreateConsentRequest {
        consent: Some(pb::Consent {
            patient_id,
            recipient_id: c.recipient_id,
            recipient_name: c.recipient_name,
            categories: c
                .categories
                .into_iter()
                .map(RecordCategory::to_proto)
                .collect(),
            purposes: c
                .purposes
                .into_iter()
                .map(DisclosurePurpose::to_proto)
                .collect(),
            effective_date: parse_date("effective_date", c.effective_date.as_deref())?,
            expiration_date: parse_date("expiration_date", c.expiration_date.as_deref())?,
            signed_date: parse_date("signed_date", c.signed_date.as_deref())?,
            ..Default::default()
        }),
        request_id: idempotency_key(&headers)?,
    };
    crate::rest::create(&st, &who, super::CreateConsent, message, Some("patient_id")).await
}

/// Read a consent.
#[utoipa::path(get, path = "/v1/consents/{id}", tag = "consents",
    responses(
        (status = 200, description = "The consent", body = Consent),
    ),
    security(("bearer" = [])))]
pub async fn get_consent(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    answer(&st, &who, super::GetConsent, pb::GetConsentRequest { id }).await
}

/// List consents, oldest first.
#[utoipa::path(get, path = "/v1/consents", tag = "consents", params(ConsentParams),
    responses(
        (status = 200, description = "A page of consents", body = ConsentList),
    ),
    security(("bearer" = [])))]
pub async fn list_consents(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(p): Query<ConsentParams>,
) -> Result<Json<ConsentList>, Problem> {
    let message = pb::ListConsentsRequest {
        patient_id: p.patient_id.unwrap_or_default(),
        recipient_id: p.recipient_id.unwrap_or_default(),
        status: p.status.map_or(0, ConsentStatus::to_proto),
        in_force_on: parse_date("in_force_on", p.in_force_on.as_deref())?,
        page_size: p.page_size.unwrap_or(0),
        page_token: p.page_token.unwrap_or_default(),
    };
    crate::rest::list(
        &st,
        &who,
        super::ListConsents,
        message,
        pb::Consent::problem,
    )
    .await
}

/// Revoke a consent: from today it permits nothing. Revoking twice is 409.
#[utoipa::path(post, path = "/v1/consents/{id}/revoke", tag = "consents", request_body = Revoke,
    responses(
        (status = 200, description = "Revoked", body = Consent),
        (status = 409, description = "Already revoked", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn revoke_consent(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    body: JsonObject,
) -> Result<Response, Problem> {
    let r: Revoke = body.parse()?;
    let message = pb::RevokeConsentRequest {
        id,
        reason: r.reason,
    };
    answer(&st, &who, super::RevokeConsent, message).await
}

/// May `category` of this patient's record be disclosed to `recipient_id` for `purpose`?
/// Answers with the consent that permits it, or why not.
#[utoipa::path(get, path = "/v1/patients/{id}/disclosure-check", tag = "consents", params(DisclosureParams),
    responses(
        (status = 200, description = "The decision", body = DisclosureDecision),
        (status = 400, description = "Missing parameter", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn check_disclosure(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(patient_id): Path<String>,
    Query(p): Query<DisclosureParams>,
) -> Result<Json<DisclosureDecision>, Problem> {
    let message = pb::CheckDisclosureRequest {
        patient_id,
        recipient_id: p.recipient_id.unwrap_or_default(),
        category: p.category.map_or(0, RecordCategory::to_proto),
        purpose: p.purpose.map_or(0, DisclosurePurpose::to_proto),
        date: parse_date("date", p.date.as_deref())?,
    };
    let d = st
        .down
        .forward(&who, super::CheckDisclosure, message)
        .await
        .map_err(|s| pb::Consent::problem(s).rename_field("patient_id", "id"))?;
    Ok(Json(DisclosureDecision {
        permitted: d.permitted,
        consent_id: crate::rest::present(d.consent_id),
        reason: d.reason,
    }))
}

fn contact_to_proto(w: FamilyContactUpdate) -> pb::Contact {
    pb::Contact {
        name: w.name.unwrap_or_default(),
        relationship: w.relationship.map_or(0, Relationship::to_proto),
        contact: w.contact.map(super::patients::contact_to_proto),
        emergency_contact: w.emergency_contact.unwrap_or(false),
        involved_in_family_sessions: w.involved_in_family_sessions.unwrap_or(false),
        notes: w.notes.unwrap_or_default(),
        ..Default::default()
    }
}

/// Add a family or support contact to a patient.
#[utoipa::path(post, path = "/v1/patients/{id}/contacts", tag = "consents", request_body = NewFamilyContact,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses(
        (status = 201, description = "Added", body = FamilyContact, headers(("Location" = String), ("ETag" = String))),
        (status = 409, description = "Involvement without a consent, or too many contacts", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create_contact(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(patient_id): Path<String>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, Problem> {
    let w = FamilyContactUpdate::from(body.parse::<NewFamilyContact>()?);
    let message = pb::CreateContactRequest {
        contact: Some(pb::Contact {
            patient_id,
            ..contact_to_proto(w)
        }),
        request_id: idempotency_key(&headers)?,
    };
    crate::rest::create(&st, &who, super::CreateContact, message, Some("patient_id")).await
}

/// A patient's contacts in the order they were added.
#[utoipa::path(get, path = "/v1/patients/{id}/contacts", tag = "consents", params(ContactParams),
    responses(
        (status = 200, description = "A page of contacts", body = FamilyContactList),
    ),
    security(("bearer" = [])))]
pub async fn list_contacts(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(patient_id): Path<String>,
    Query(p): Query<ContactParams>,
) -> Result<Json<FamilyContactList>, Problem> {
    let message = pb::ListContactsRequest {
        patient_id,
        involved_only: p.involved_only.unwrap_or(false),
        page_size: p.page_size.unwrap_or(0),
        page_token: p.page_token.unwrap_or_default(),
    };
    crate::rest::list(&st, &who, super::ListContacts, message, |s| {
        pb::Contact::problem(s).rename_field("patient_id", "id")
    })
    .await
}

/// Read a contact.
#[utoipa::path(get, path = "/v1/contacts/{id}", tag = "consents",
    responses(
        (status = 200, description = "The contact", body = FamilyContact, headers(("ETag" = String))),
    ),
    security(("bearer" = [])))]
pub async fn get_contact(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    answer(&st, &who, super::GetContact, pb::GetContactRequest { id }).await
}

/// Change a contact; `If-Match` refuses stale writes.
#[utoipa::path(patch, path = "/v1/contacts/{id}", tag = "consents", request_body = FamilyContactUpdate,
    params(("If-Match" = Option<String>, Header, description = "Etag from a previous read")),
    responses(
        (status = 200, description = "Updated", body = FamilyContact, headers(("ETag" = String))),
        (status = 409, description = "Involvement without a consent in force, or stale etag", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn update_contact(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, Problem> {
    let (w, mask) = body.patch::<FamilyContactUpdate>()?;
    let message = pb::UpdateContactRequest {
        contact: Some(pb::Contact {
            id,
            etag: etag_or_any(&headers)?,
            ..contact_to_proto(w)
        }),
        update_mask: Some(mask),
    };
    answer(&st, &who, super::UpdateContact, message).await
}

fn consent_from_proto(c: pb::Consent) -> Consent {
    let revoked = !c.revoked_by.is_empty();
    Consent {
        categories: c
            .categories
            .iter()
            .map(|x| RecordCategory::from_proto(*x))
            .collect(),
        purposes: c
            .purposes
            .iter()
            .map(|x| DisclosurePurpose::from_proto(*x))
            .collect(),
        effective_date: date_text(c.effective_date.as_ref()),
        expiration_date: date_text(c.expiration_date.as_ref()),
        signed_date: date_text(c.signed_date.as_ref()),
        status: ConsentStatus::from_proto(c.status),
        create_time: rfc3339(c.create_time.as_ref()),
        revoke_time: revoked.then(|| rfc3339(c.revoke_time.as_ref())),
        revoked_by: revoked.then_some(c.revoked_by),
        revoke_reason: revoked.then_some(c.revoke_reason),
        id: c.id,
        patient_id: c.patient_id,
        recipient_id: c.recipient_id,
        recipient_name: c.recipient_name,
        recorded_by: c.recorded_by,
    }
}

fn person_from_proto(c: pb::Contact) -> FamilyContact {
    FamilyContact {
        relationship: Relationship::from_proto(c.relationship),
        contact: super::patients::contact_from_proto(c.contact.unwrap_or_default()),
        involvement_consent_id: crate::rest::present(c.involvement_consent_id),
        create_time: rfc3339(c.create_time.as_ref()),
        update_time: rfc3339(c.update_time.as_ref()),
        id: c.id,
        patient_id: c.patient_id,
        name: c.name,
        emergency_contact: c.emergency_contact,
        involved_in_family_sessions: c.involved_in_family_sessions,
        notes: c.notes,
        version: c.version,
        etag: c.etag,
    }
}

shown! { pb::Consent => Consent, by consent_from_proto, at "/v1/consents", fields "consent." }

shown! { pb::Contact => FamilyContact, by person_from_proto, at "/v1/contacts", fields "contact.", versioned }
