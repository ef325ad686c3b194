//! The patient use cases: validation, optimistic concurrency, paging. Transport-free.

pub mod grpc;
pub(crate) mod store;

use iop_core::page::{self, Cursor};
use iop_core::{Error, PatientId, Principal, now_micros};
use iop_kit::dates::today;
use iop_kit::etag;
use iop_kit::idempotency::{self, Claim, Key};

use crate::domain::{self, Patient, PatientFields, PatientPath};
use store::{IdentifierFilter, ListQuery, Store};

#[derive(Clone)]
pub struct Patients {
    store: Store,
}

/// A list request as the client sent it.
#[derive(Debug, Default)]
pub struct ListRequest<'a> {
    pub page_size: i32,
    pub page_token: &'a str,
    pub name: &'a str,
    pub identifier: &'a str,
}

impl Patients {
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Creates a patient. With an idempotency key (`request_id`), a retry of the same
    /// request returns the patient created the first time.
    pub async fn create(
        &self,
        who: &Principal,
        fields: PatientFields,
        request_id: &str,
    ) -> Result<Patient, Error> {
        fields.validate("patient.", today())?;
        let request = Key::parse(request_id, &fields)?;
        let now = now_micros();
        let patient = Patient {
            id: PatientId::new(),
            fields,
            version: 1,
            create_time_us: now,
            update_time_us: now,
        };
        let claim = self
            .store
            .insert(&who.tenant, &patient, request.as_ref())
            .await?;
        if claim == Claim::New {
            tracing::info!(patient_id = %patient.id, tenant = %who.tenant, "patient created");
        }
        idempotency::answer(
            claim,
            patient,
            "create a different patient",
            |id| async move {
                tracing::info!(patient_id = %id, "create retried: returning the earlier patient");
                let id = PatientId::parse("id", &id)
                    .map_err(|_| Error::internal("stored request has a bad patient id"))?;
                self.get(who, id).await
            },
        )
        .await
    }

    pub async fn get(&self, who: &Principal, id: PatientId) -> Result<Patient, Error> {
        self.store
            .get(&who.tenant, id)
            .await?
            .ok_or_else(|| Error::NotFound {
                kind: "patient",
                id: id.to_string(),
            })
    }

    pub async fn list(
        &self,
        who: &Principal,
        req: ListRequest<'_>,
    ) -> Result<(Vec<Patient>, Option<String>), Error> {
        let size = page::page_size(req.page_size)?;
        let name = req.name.trim();
        let identifier = req.identifier.trim();
        let query = ListQuery {
            name_pattern: (!name.is_empty()).then(|| domain::name_pattern(name)),
            identifier: match identifier.split_once('|') {
                _ if identifier.is_empty() => None,
                Some((system, value)) if !system.is_empty() && !value.is_empty() => {
                    Some(IdentifierFilter::System {
                        system: system.to_owned(),
                        value: value.to_owned(),
                    })
                }
                Some(_) => {
                    return Err(Error::field("identifier", "must be an MRN or system|value"));
                }
                None => Some(IdentifierFilter::Mrn(identifier.to_owned())),
            },
        };
        let fingerprint = page::fingerprint(&[name, identifier]);
        let cursor = Cursor::decode(req.page_token, fingerprint)?;
        // One extra row tells whether another page exists.
        let mut rows = self
            .store
            .list(
                &who.tenant,
                &query,
                cursor.as_ref().map(|c| c.after.as_str()),
                size + 1,
            )
            .await?;
        let next = page::next_page(&mut rows, size, fingerprint, |r| r.id.to_string());
        Ok((rows, next))
    }

    /// Applies `patch` at `paths`; a non-empty `etag` must match the stored one.
    pub async fn update(
        &self,
        who: &Principal,
        id: PatientId,
        patch: PatientFields,
        paths: &[PatientPath],
        etag: Option<&str>,
    ) -> Result<Patient, Error> {
        let current = self.get(who, id).await?;
        etag::check(etag.unwrap_or_default(), &current.etag(), "patient", &id)?;
        let mut fields = current.fields.clone();
        for path in paths {
            path.apply(&mut fields, &patch);
        }
        fields.validate("patient.", today())?;
        if fields == current.fields {
            return Ok(current);
        }
        let updated = Patient {
            fields,
            version: current.version + 1,
            update_time_us: now_micros(),
            ..current
        };
        if !self
            .store
            .update(&who.tenant, &updated, current.version)
            .await?
        {
            return Err(etag::stale("patient", &id));
        }
        tracing::info!(patient_id = %id, version = updated.version, "patient updated");
        Ok(updated)
    }
}
