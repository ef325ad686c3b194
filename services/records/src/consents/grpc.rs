//! `iop.records.v1.ConsentService` and `ContactService` over [`Consents`] and [`Contacts`].

use iop_core::{ConsentId, ContactId, Error, PatientId};
use iop_proto::records::contact_service_server::ContactService;
use iop_proto::records::{self as pb, consent_service_server::ConsentService};
use iop_proto::timestamp_from_micros;
use tonic::{Request, Response, Status};

use super::{
    Category, Consent, ConsentStatus, Consents, Contact, ContactFields, ContactPath, Contacts,
    ListConsents, NewConsent, Purpose, Relationship,
};
use crate::grpc::{contact_from_proto, contact_to_proto};
use iop_kit::dates::{date_from_proto, date_to_proto};
use iop_kit::principal;

pub struct ConsentApi {
    consents: Consents,
    contacts: Contacts,
}

impl ConsentApi {
    pub fn new(consents: Consents, contacts: Contacts) -> Self {
        Self { consents, contacts }
    }
}

fn date(
    d: Option<&iop_proto::common::Date>,
    field: &str,
) -> Result<Option<chrono::NaiveDate>, Error> {
    d.map(|d| date_from_proto(d).ok_or_else(|| Error::field(field, "is not a calendar date")))
        .transpose()
}

#[tonic::async_trait]
impl ConsentService for ConsentApi {
    async fn create_consent(
        &self,
        req: Request<pb::CreateConsentRequest>,
    ) -> Result<Response<pb::Consent>, Status> {
        let who = principal(&req)?;
        let r = req.into_inner();
        let c = r
            .consent
            .ok_or_else(|| Error::field("consent", "is required"))?;
        let new = NewConsent {
            patient_id: match c.patient_id.as_str() {
                "" => None,
                id => Some(PatientId::parse("consent.patient_id", id)?),
            },
            recipient_id: c.recipient_id,
            recipient_name: c.recipient_name,
            categories: iop_kit::enums::each(
                &c.categories,
                "consent.categories",
                Category::from_proto_field,
            )?,
            purposes: iop_kit::enums::each(
                &c.purposes,
                "consent.purposes",
                Purpose::from_proto_field,
            )?,
            effective: date(c.effective_date.as_ref(), "consent.effective_date")?,
            expires: date(c.expiration_date.as_ref(), "consent.expiration_date")?,
            signed: date(c.signed_date.as_ref(), "consent.signed_date")?,
        };
        let created = self.consents.create(&who, new, &r.request_id).await?;
        Ok(Response::new(consent_to_proto(created)))
    }

    async fn get_consent(
        &self,
        req: Request<pb::GetConsentRequest>,
    ) -> Result<Response<pb::Consent>, Status> {
        let who = principal(&req)?;
        let id = ConsentId::parse("id", &req.get_ref().id)?;
        Ok(Response::new(consent_to_proto(
            self.consents.get(&who, id).await?,
        )))
    }

    async fn list_consents(
        &self,
        req: Request<pb::ListConsentsRequest>,
    ) -> Result<Response<pb::ListConsentsResponse>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let (rows, next) = self
            .consents
            .list(
                &who,
                ListConsents {
                    patient_id: &r.patient_id,
                    recipient_id: &r.recipient_id,
                    status: ConsentStatus::from_proto_field(r.status, "status")?,
                    in_force_on: date(r.in_force_on.as_ref(), "in_force_on")?,
                    page_size: r.page_size,
                    page_token: &r.page_token,
                },
            )
            .await?;
        Ok(Response::new(pb::ListConsentsResponse {
            consents: rows.into_iter().map(consent_to_proto).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }

    async fn revoke_consent(
        &self,
        req: Request<pb::RevokeConsentRequest>,
    ) -> Result<Response<pb::Consent>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let id = ConsentId::parse("id", &r.id)?;
        Ok(Response::new(consent_to_proto(
            self.consents.revoke(&who, id, &r.reason).await?,
        )))
    }

    async fn check_disclosure(
        &self,
        req: Request<pb::CheckDisclosureRequest>,
    ) -> Result<Response<pb::DisclosureDecision>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let patient = PatientId::parse("patient_id", &r.patient_id)?;
        let decision = self
            .consents
            .check(
                &who,
                patient,
                &r.recipient_id,
                Category::from_proto_field(r.category, "category")?,
                Purpose::from_proto_field(r.purpose, "purpose")?,
                date(r.date.as_ref(), "date")?,
            )
            .await?;
        Ok(Response::new(pb::DisclosureDecision {
            permitted: decision.permitted,
            consent_id: decision
                .consent_id
                .map(|c| c.to_string())
                .unwrap_or_default(),
            reason: decision.reason,
            patient_id: patient.to_string(),
        }))
    }
}

#[tonic::async_trait]
impl ContactService for ConsentApi {
    async fn create_contact(
        &self,
        req: Request<pb::CreateContactRequest>,
    ) -> Result<Response<pb::Contact>, Status> {
        let who = principal(&req)?;
        let r = req.into_inner();
        let c = r
            .contact
            .ok_or_else(|| Error::field("contact", "is required"))?;
        let patient = PatientId::parse("contact.patient_id", &c.patient_id)?;
        let fields = fields_from_proto(&c)?;
        let created = self
            .contacts
            .create(&who, patient, fields, &r.request_id)
            .await?;
        Ok(Response::new(person_to_proto(created)))
    }

    async fn get_contact(
        &self,
        req: Request<pb::GetContactRequest>,
    ) -> Result<Response<pb::Contact>, Status> {
        let who = principal(&req)?;
        let id = ContactId::parse("id", &req.get_ref().id)?;
        Ok(Response::new(person_to_proto(
            self.contacts.get(&who, id).await?,
        )))
    }

    async fn list_contacts(
        &self,
        req: Request<pb::ListContactsRequest>,
    ) -> Result<Response<pb::ListContactsResponse>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let (rows, next) = self
            .contacts
            .list(
                &who,
                &r.patient_id,
                r.involved_only,
                r.page_size,
                &r.page_token,
            )
            .await?;
        Ok(Response::new(pb::ListContactsResponse {
            contacts: rows.into_iter().map(person_to_proto).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }

    async fn update_contact(
        &self,
        req: Request<pb::UpdateContactRequest>,
    ) -> Result<Response<pb::Contact>, Status> {
        let who = principal(&req)?;
        let r = req.into_inner();
        let c = r
            .contact
            .ok_or_else(|| Error::field("contact", "is required"))?;
        let id = ContactId::parse("contact.id", &c.id)?;
        let paths = match r.update_mask {
            Some(mask) if !mask.paths.is_empty() => mask
                .paths
                .iter()
                .map(|p| ContactPath::parse(p).map_err(|why| Error::field("update_mask", why)))
                .collect::<Result<Vec<_>, _>>()?,
            _ => ContactPath::ALL.to_vec(),
        };
        let mut patch = fields_from_proto(&c)?;
        if !paths.contains(&ContactPath::Relationship) {
            patch.relationship = None;
        }
        let updated = self
            .contacts
            .update(&who, id, patch, &paths, &c.etag)
            .await?;
        Ok(Response::new(person_to_proto(updated)))
    }
}

fn fields_from_proto(c: &pb::Contact) -> Result<ContactFields, Error> {
    Ok(ContactFields {
        name: c.name.clone(),
        relationship: Relationship::from_proto_field(c.relationship, "contact.relationship")?,
        contact: contact_from_proto(c.contact.as_ref()),
        emergency_contact: c.emergency_contact,
        involved: c.involved_in_family_sessions,
        notes: c.notes.clone(),
    })
}

fn consent_to_proto(c: Consent) -> pb::Consent {
    let status = c.status(iop_kit::dates::today()).to_proto();
    let (revoked_by, revoke_time, revoke_reason) = match c.revocation {
        None => (String::new(), None, String::new()),
        Some(r) => (r.by, Some(timestamp_from_micros(r.time_us)), r.reason),
    };
    pb::Consent {
        id: c.id.to_string(),
        patient_id: c.patient_id.to_string(),
        recipient_id: c.recipient_id,
        recipient_name: c.recipient_name,
        categories: c.categories.iter().map(|x| x.to_proto()).collect(),
        purposes: c.purposes.iter().map(|x| x.to_proto()).collect(),
        effective_date: Some(date_to_proto(c.effective)),
        expiration_date: Some(date_to_proto(c.expires)),
        signed_date: Some(date_to_proto(c.signed)),
        status,
        recorded_by: c.recorded_by,
        create_time: Some(timestamp_from_micros(c.create_time_us)),
        revoked_by,
        revoke_time,
        revoke_reason,
    }
}

fn person_to_proto(c: Contact) -> pb::Contact {
    let etag = c.etag();
    let f = c.fields;
    pb::Contact {
        id: c.id.to_string(),
        patient_id: c.patient_id.to_string(),
        name: f.name,
        relationship: f.relationship.map_or(0, |r| r.to_proto()),
        contact: Some(contact_to_proto(&f.contact)),
        emergency_contact: f.emergency_contact,
        involved_in_family_sessions: c.involvement_consent.is_some(),
        involvement_consent_id: c
            .involvement_consent
            .map(|k| k.to_string())
            .unwrap_or_default(),
        notes: f.notes,
        create_time: Some(timestamp_from_micros(c.create_time_us)),
        update_time: Some(timestamp_from_micros(c.update_time_us)),
        version: c.version,
        etag,
    }
}
