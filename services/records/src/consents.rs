//! Consents to disclose (42 CFR Part 2 style) and family and support contacts.
//!
//! A consent names a recipient (by a stable id), the categories of the record and the purposes
//! it covers, and the dates it is in force; it is never edited, only revoked. Disclosure checks
//! read them. A contact is involved in family sessions only while a consent in force names it
//! for family involvement. Transport-free; `grpc` maps it onto `iop.records.v1.ConsentService`
//! and `ContactService`.

pub mod grpc;
mod store;
#[cfg(test)]
mod tests;

use chrono::NaiveDate;
use iop_core::page;
use iop_core::{ConsentId, ContactId, Error, PatientId, Principal, now_micros};

use crate::domain::{self};
use iop_kit::dates::{date_of, today};
use iop_kit::etag;
use iop_kit::idempotency::{self, Claim, Key};
use iop_kit::text;
use iop_kit::violations::Violations;
pub use store::ConsentStore;

iop_kit::text_enum! {
    pub enum Category: iop_proto::records::RecordCategory {
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
    pub enum Purpose: iop_proto::records::DisclosurePurpose {
        Treatment = "treatment",
        Payment = "payment",
        CareCoordination = "care_coordination",
        FamilyInvolvement = "family_involvement",
        Legal = "legal",
        Research = "research",
    }
}

iop_kit::text_enum! {
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

iop_kit::text_enum! {
    pub enum ConsentStatus: iop_proto::records::ConsentStatus {
        Active = "active",
        Revoked = "revoked",
        Expired = "expired",
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub by: String,
    pub time_us: i64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub id: ConsentId,
    pub patient_id: PatientId,
    pub recipient_id: String,
    pub recipient_name: String,
    pub categories: Vec<Category>,
    pub purposes: Vec<Purpose>,
    pub effective: NaiveDate,
    pub expires: NaiveDate,
    pub signed: NaiveDate,
    pub recorded_by: String,
    pub create_time_us: i64,
    pub revocation: Option<Revocation>,
}

impl Consent {
    pub fn status(&self, today: NaiveDate) -> ConsentStatus {
        if self.revocation.is_some() {
            ConsentStatus::Revoked
        } else if today > self.expires {
            ConsentStatus::Expired
        } else {
            ConsentStatus::Active
        }
    }

    fn revoke_date(&self) -> Option<NaiveDate> {
        self.revocation.as_ref().map(|r| date_of(r.time_us))
    }

    /// In force on `date`: within its dates and not revoked by then (revocation takes effect
    /// on the day it is recorded).
    pub fn in_force(&self, date: NaiveDate) -> bool {
        self.effective <= date
            && date <= self.expires
            && self.revoke_date().is_none_or(|r| date < r)
    }

    pub fn covers(&self, category: Category, purpose: Purpose) -> bool {
        self.categories.contains(&category) && self.purposes.contains(&purpose)
    }
}

/// A consent as recorded from the signed form.
#[derive(Debug, Clone, Default)]
pub struct NewConsent {
    pub patient_id: Option<PatientId>,
    pub recipient_id: String,
    pub recipient_name: String,
    pub categories: Vec<Category>,
    pub purposes: Vec<Purpose>,
    pub effective: Option<NaiveDate>,
    pub expires: Option<NaiveDate>,
    pub signed: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub permitted: bool,
    pub consent_id: Option<ConsentId>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub id: ContactId,
    pub patient_id: PatientId,
    pub fields: ContactFields,
    pub version: i64,
    pub create_time_us: i64,
    pub update_time_us: i64,
    /// The consent that allows involvement in family sessions, computed on read.
    pub involvement_consent: Option<ConsentId>,
}

impl Contact {
    pub fn etag(&self) -> String {
        self.version.to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContactFields {
    pub name: String,
    pub relationship: Option<Relationship>,
    pub contact: domain::Contact,
    pub emergency_contact: bool,
    /// As set by the care team; in effect only with a consent in force.
    pub involved: bool,
    pub notes: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactPath {
    Name,
    Relationship,
    Contact,
    EmergencyContact,
    Involved,
    Notes,
}

impl ContactPath {
    pub const ALL: [Self; 6] = [
        Self::Name,
        Self::Relationship,
        Self::Contact,
        Self::EmergencyContact,
        Self::Involved,
        Self::Notes,
    ];

    pub fn parse(path: &str) -> Result<Self, String> {
        Ok(match path {
            "name" => Self::Name,
            "relationship" => Self::Relationship,
            "contact" => Self::Contact,
            "emergency_contact" => Self::EmergencyContact,
            "involved_in_family_sessions" => Self::Involved,
            "notes" => Self::Notes,
            _ => return Err(format!("{path} is not a changeable contact field")),
        })
    }
}

#[derive(Debug, Default)]
pub struct ListConsents<'a> {
    pub patient_id: &'a str,
    pub recipient_id: &'a str,
    pub status: Option<ConsentStatus>,
    pub in_force_on: Option<NaiveDate>,
    pub page_size: i32,
    pub page_token: &'a str,
}

/// Contacts per patient; enough for any family, and it keeps their lists one page.
pub const MAX_CONTACTS: usize = 50;

#[derive(Clone)]
pub struct Consents {
    store: ConsentStore,
}

impl Consents {
    pub fn new(store: ConsentStore) -> Self {
        Self { store }
    }

    pub async fn create(
        &self,
        who: &Principal,
        new: NewConsent,
        request_id: &str,
    ) -> Result<Consent, Error> {
        let today = today();
        let effective = new.effective.unwrap_or(today);
        let signed = new.signed.unwrap_or(today);
        let mut v = Violations::new("consent.");
        if new.patient_id.is_none() {
            v.push("patient_id", "is required");
        }
        v.text("recipient_id", &new.recipient_id, text::NAME);
        v.text("recipient_name", &new.recipient_name, text::NAME);
        check_set(&mut v, "categories", &new.categories);
        check_set(&mut v, "purposes", &new.purposes);
        match new.expires {
            None => v.push(
                "expiration_date",
                "is required: a consent must say when it ends",
            ),
            Some(e) if e < effective => {
                v.rule("expiration_date", "must not be before effective_date")
            }
            Some(_) => {}
        }
        if signed > today {
            v.rule("signed_date", "must not be in the future");
        }
        v.finish()?;
        let (Some(patient_id), Some(expires)) = (new.patient_id, new.expires) else {
            return Err(Error::internal("validated fields are missing"));
        };
        let key = Key::parse(request_id, &new)?;
        let consent = Consent {
            id: ConsentId::new(),
            patient_id,
            recipient_id: new.recipient_id.trim().to_owned(),
            recipient_name: new.recipient_name.trim().to_owned(),
            categories: new.categories,
            purposes: new.purposes,
            effective,
            expires,
            signed,
            recorded_by: who.subject.clone(),
            create_time_us: now_micros(),
            revocation: None,
        };
        let claim = self
            .store
            .insert_consent(&who.tenant, &consent, key.as_ref())
            .await?;
        if claim == Claim::New {
            tracing::info!(consent_id = %consent.id, "consent recorded");
        }
        idempotency::answer(
            claim,
            consent,
            "record a different consent",
            |id| async move {
                let id = ConsentId::parse("id", &id)
                    .map_err(|_| Error::internal("stored request has a bad consent id"))?;
                self.get(who, id).await
            },
        )
        .await
    }

    pub async fn get(&self, who: &Principal, id: ConsentId) -> Result<Consent, Error> {
        self.store
            .get_consent(&who.tenant, id)
            .await?
            .ok_or_else(|| Error::NotFound {
                kind: "consent",
                id: id.to_string(),
            })
    }

    pub async fn list(
        &self,
        who: &Principal,
        req: ListConsents<'_>,
    ) -> Result<(Vec<Consent>, Option<String>), Error> {
        let size = page::page_size(req.page_size)?;
        let patient = match req.patient_id {
            "" => None,
            id => Some(PatientId::parse("patient_id", id)?),
        };
        let status = match req.status {
            None => "",
            Some(ConsentStatus::Active) => "active",
            Some(ConsentStatus::Revoked) => "revoked",
            Some(ConsentStatus::Expired) => "expired",
        };
        let fingerprint = page::fingerprint(&[
            req.patient_id,
            req.recipient_id,
            status,
            &format!("{:?}", req.in_force_on),
        ]);
        let after = page::resume_after(req.page_token, fingerprint, |a| {
            ConsentId::parse("page_token", a)
        })?;
        let query = store::ConsentQuery {
            patient_id: patient,
            recipient_id: (!req.recipient_id.is_empty()).then(|| req.recipient_id.to_owned()),
            status: req.status,
            today: today(),
            in_force_on: req.in_force_on,
            after,
            limit: size + 1,
        };
        let mut rows = self.store.list_consents(&who.tenant, &query).await?;
        let next = page::next_page(&mut rows, size, fingerprint, |c| c.id.to_string());
        Ok((rows, next))
    }

    pub async fn revoke(
        &self,
        who: &Principal,
        id: ConsentId,
        reason: &str,
    ) -> Result<Consent, Error> {
        let mut v = Violations::new("");
        v.text("reason", reason, text::NARRATIVE);
        v.finish()?;
        let revocation = Revocation {
            by: who.subject.clone(),
            time_us: now_micros(),
            reason: reason.trim().to_owned(),
        };
        let done = self.store.revoke(&who.tenant, id, &revocation).await?;
        let consent = self.get(who, id).await?;
        if !done {
            let r = consent.revocation.as_ref();
            return Err(Error::FailedPrecondition(format!(
                "consent {id} was already revoked by {} at {}",
                r.map_or("", |r| r.by.as_str()),
                r.map(|r| iop_kit::dates::rfc3339(r.time_us))
                    .unwrap_or_default()
            )));
        }
        tracing::info!(consent_id = %id, "consent revoked");
        Ok(consent)
    }

    /// May `category` of the patient's record be disclosed to `recipient_id` for `purpose`
    /// on `date` (today by default)? Names the consent that permits it, or why not.
    pub async fn check(
        &self,
        who: &Principal,
        patient_id: PatientId,
        recipient_id: &str,
        category: Option<Category>,
        purpose: Option<Purpose>,
        date: Option<NaiveDate>,
    ) -> Result<Decision, Error> {
        let mut v = Violations::new("");
        v.text("recipient_id", recipient_id, text::NAME);
        if category.is_none() {
            v.push("category", "is required");
        }
        if purpose.is_none() {
            v.push("purpose", "is required");
        }
        v.finish()?;
        let (Some(category), Some(purpose)) = (category, purpose) else {
            return Err(Error::internal("validated fields are missing"));
        };
        crate::patients::store::require_patient(self.store.db(), &who.tenant, patient_id).await?;
        let date = date.unwrap_or_else(today);
        let consents = self
            .store
            .consents_for(&who.tenant, patient_id, Some(recipient_id.trim()))
            .await?;
        Ok(decide(
            &consents,
            recipient_id.trim(),
            category,
            purpose,
            date,
        ))
    }
}

/// The decision over the consents naming one recipient.
pub fn decide(
    consents: &[Consent],
    recipient: &str,
    category: Category,
    purpose: Purpose,
    date: NaiveDate,
) -> Decision {
    if let Some(c) = consents
        .iter()
        .find(|c| c.in_force(date) && c.covers(category, purpose))
    {
        return Decision {
            permitted: true,
            consent_id: Some(c.id),
            reason: format!(
                "consent {} (signed {}) permits {} for {} until {}",
                c.id,
                c.signed,
                category.as_str(),
                purpose.as_str(),
                c.expires
            ),
        };
    }
    let why = if consents.is_empty() {
        format!("no consent names {recipient}")
    } else if let Some(c) = consents.iter().find(|c| c.covers(category, purpose)) {
        match c.revoke_date() {
            Some(r) if date >= r => format!("consent {} was revoked on {r}", c.id),
            _ if date > c.expires => format!("consent {} expired on {}", c.id, c.expires),
            _ => format!("consent {} is in force only from {}", c.id, c.effective),
        }
    } else {
        format!(
            "no consent for {recipient} covers {} for {}",
            category.as_str(),
            purpose.as_str()
        )
    };
    Decision {
        permitted: false,
        consent_id: None,
        reason: format!("not permitted: {why}"),
    }
}

#[derive(Clone)]
pub struct Contacts {
    store: ConsentStore,
}

impl Contacts {
    pub fn new(store: ConsentStore) -> Self {
        Self { store }
    }

    pub async fn create(
        &self,
        who: &Principal,
        patient_id: PatientId,
        fields: ContactFields,
        request_id: &str,
    ) -> Result<Contact, Error> {
        check_contact(&fields, "contact.")?;
        if fields.involved {
            // A new contact has no id a consent could name yet.
            return Err(Error::FailedPrecondition(
                "involvement in family sessions needs a consent naming the contact: create the contact, record the consent with its id as recipient_id, then set involved_in_family_sessions".into(),
            ));
        }
        let key = Key::parse(request_id, &(patient_id, &fields))?;
        let now = now_micros();
        let contact = Contact {
            id: ContactId::new(),
            patient_id,
            fields,
            version: 1,
            create_time_us: now,
            update_time_us: now,
            involvement_consent: None,
        };
        let claim = self
            .store
            .insert_contact(&who.tenant, &contact, key.as_ref(), MAX_CONTACTS)
            .await?;
        idempotency::answer(claim, contact, "add a different contact", |id| async move {
            let id = ContactId::parse("id", &id)
                .map_err(|_| Error::internal("stored request has a bad contact id"))?;
            self.get(who, id).await
        })
        .await
    }

    pub async fn get(&self, who: &Principal, id: ContactId) -> Result<Contact, Error> {
        let contact = self
            .store
            .get_contact(&who.tenant, id)
            .await?
            .ok_or_else(|| Error::NotFound {
                kind: "contact",
                id: id.to_string(),
            })?;
        let mut one = [contact];
        self.resolve_involvement(who, &mut one).await?;
        let [contact] = one;
        Ok(contact)
    }

    /// A patient's contacts in the order they were added; with `involved_only`, those
    /// involved in family sessions with a consent in force (pages may then run short).
    pub async fn list(
        &self,
        who: &Principal,
        patient_id: &str,
        involved_only: bool,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<Contact>, Option<String>), Error> {
        if patient_id.is_empty() {
            return Err(Error::field("patient_id", "is required"));
        }
        let patient = PatientId::parse("patient_id", patient_id)?;
        crate::patients::store::require_patient(self.store.db(), &who.tenant, patient).await?;
        let size = page::page_size(page_size)?;
        let fingerprint = page::fingerprint(&[patient_id, if involved_only { "1" } else { "" }]);
        let after = page::resume_after(page_token, fingerprint, |a| {
            ContactId::parse("page_token", a)
        })?;
        let mut rows = self
            .store
            .list_contacts(&who.tenant, patient, after, size + 1)
            .await?;
        let next = page::next_page(&mut rows, size, fingerprint, |c| c.id.to_string());
        self.resolve_involvement(who, &mut rows).await?;
        if involved_only {
            rows.retain(|c| c.involvement_consent.is_some());
        }
        Ok((rows, next))
    }

    pub async fn update(
        &self,
        who: &Principal,
        id: ContactId,
        patch: ContactFields,
        paths: &[ContactPath],
        etag: &str,
    ) -> Result<Contact, Error> {
        let current = self.get(who, id).await?;
        etag::check(etag, &current.etag(), "contact", &id)?;
        let mut fields = current.fields.clone();
        for path in paths {
            match path {
                ContactPath::Name => fields.name.clone_from(&patch.name),
                ContactPath::Relationship => fields.relationship = patch.relationship,
                ContactPath::Contact => fields.contact.clone_from(&patch.contact),
                ContactPath::EmergencyContact => fields.emergency_contact = patch.emergency_contact,
                ContactPath::Involved => fields.involved = patch.involved,
                ContactPath::Notes => fields.notes.clone_from(&patch.notes),
            }
        }
        check_contact(&fields, "contact.")?;
        if fields.involved && current.involvement_consent.is_none() {
            let consents = self
                .store
                .consents_for(&who.tenant, current.patient_id, Some(&id.to_string()))
                .await?;
            let today = today();
            let consented = consents
                .iter()
                .any(|c| c.in_force(today) && c.purposes.contains(&Purpose::FamilyInvolvement));
            if !consented {
                let why = if consents.is_empty() {
                    "no consent names it"
                } else {
                    "its consents are not in force for family_involvement today"
                };
                return Err(Error::FailedPrecondition(format!(
                    "involvement in family sessions needs a consent in force naming this contact ({id}) as recipient for family_involvement; {why}"
                )));
            }
        }
        if fields == current.fields {
            return Ok(current);
        }
        let next = Contact {
            fields,
            version: current.version + 1,
            update_time_us: now_micros(),
            ..current.clone()
        };
        if !self
            .store
            .update_contact(&who.tenant, &next, current.version)
            .await?
        {
            return Err(etag::stale("contact", &id));
        }
        self.get(who, id).await
    }

    /// Sets `involvement_consent` of involved contacts from the consents in force today.
    async fn resolve_involvement(
        &self,
        who: &Principal,
        contacts: &mut [Contact],
    ) -> Result<(), Error> {
        let Some(first) = contacts.iter().find(|c| c.fields.involved) else {
            return Ok(());
        };
        let consents = self
            .store
            .consents_for(&who.tenant, first.patient_id, None)
            .await?;
        let today = today();
        for c in contacts.iter_mut().filter(|c| c.fields.involved) {
            let id = c.id.to_string();
            c.involvement_consent = consents
                .iter()
                .find(|k| {
                    k.patient_id == c.patient_id
                        && k.recipient_id == id
                        && k.in_force(today)
                        && k.purposes.contains(&Purpose::FamilyInvolvement)
                })
                .map(|k| k.id);
        }
        Ok(())
    }
}

fn check_set<T: PartialEq>(v: &mut Violations<'_>, field: &str, items: &[T]) {
    if items.is_empty() {
        v.push(field, "must name at least one");
    }
    v.unique(field, items);
}

fn check_contact(f: &ContactFields, prefix: &str) -> Result<(), Error> {
    let mut v = Violations::new(prefix);
    v.text("name", &f.name, text::NAME);
    if f.relationship.is_none() {
        v.push("relationship", "is required");
    }
    f.contact.check(&mut v);
    if f.contact.phone.is_empty() && f.contact.email.is_empty() {
        v.push("contact", "needs a phone number or an email address");
    }
    v.text("notes", &f.notes, text::NARRATIVE);
    v.finish()
}
