//! `iop.records.v1.PatientService`: maps its messages onto the use cases and back.

use iop_core::{Error, PatientId};
use iop_kit::dates::{date_from_proto, date_to_proto};
use iop_kit::principal;
use iop_proto::common as pbc;
use iop_proto::records::{self as pb, patient_service_server::PatientService};
use tonic::{Request, Response, Status};

use crate::domain::{Identifier, Patient, PatientFields, PatientPath, Sex};
use crate::grpc::{contact_from_proto, contact_to_proto};
use crate::patients::{ListRequest, Patients};

pub struct PatientApi {
    patients: Patients,
}

impl PatientApi {
    pub fn new(patients: Patients) -> Self {
        Self { patients }
    }
}

#[tonic::async_trait]
impl PatientService for PatientApi {
    async fn create_patient(
        &self,
        req: Request<pb::CreatePatientRequest>,
    ) -> Result<Response<pb::Patient>, Status> {
        let who = principal(&req)?;
        let r = req.into_inner();
        let patient = r
            .patient
            .ok_or_else(|| Error::field("patient", "is required"))?;
        let fields = fields_from_proto(&patient, &PatientPath::ALL)?;
        let created = self.patients.create(&who, fields, &r.request_id).await?;
        Ok(Response::new(to_proto(&created)))
    }

    async fn get_patient(
        &self,
        req: Request<pb::GetPatientRequest>,
    ) -> Result<Response<pb::Patient>, Status> {
        let who = principal(&req)?;
        let id = PatientId::parse("id", &req.get_ref().id)?;
        let patient = self.patients.get(&who, id).await?;
        Ok(Response::new(to_proto(&patient)))
    }

    async fn list_patients(
        &self,
        req: Request<pb::ListPatientsRequest>,
    ) -> Result<Response<pb::ListPatientsResponse>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let (patients, next) = self
            .patients
            .list(
                &who,
                ListRequest {
                    page_size: r.page_size,
                    page_token: &r.page_token,
                    name: &r.name,
                    identifier: &r.identifier,
                },
            )
            .await?;
        Ok(Response::new(pb::ListPatientsResponse {
            patients: patients.iter().map(to_proto).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }

    async fn update_patient(
        &self,
        req: Request<pb::UpdatePatientRequest>,
    ) -> Result<Response<pb::Patient>, Status> {
        let who = principal(&req)?;
        let r = req.into_inner();
        let patient = r
            .patient
            .ok_or_else(|| Error::field("patient", "is required"))?;
        let id = PatientId::parse("patient.id", &patient.id)?;
        let paths = match r.update_mask {
            Some(mask) if !mask.paths.is_empty() => mask
                .paths
                .iter()
                .map(|p| {
                    PatientPath::parse(p).map_err(|reason| Error::field("update_mask", reason))
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => PatientPath::ALL.to_vec(),
        };
        let patch = fields_from_proto(&patient, &paths)?;
        let etag = (!patient.etag.is_empty()).then_some(patient.etag.as_str());
        let updated = self.patients.update(&who, id, patch, &paths, etag).await?;
        Ok(Response::new(to_proto(&updated)))
    }
}

/// Converts the fields named by `paths`; the rest stay at their defaults.
fn fields_from_proto(p: &pb::Patient, paths: &[PatientPath]) -> Result<PatientFields, Error> {
    let mut f = PatientFields::default();
    for path in paths {
        match path {
            PatientPath::GivenName => f.given_name.clone_from(&p.given_name),
            PatientPath::MiddleName => f.middle_name.clone_from(&p.middle_name),
            PatientPath::FamilyName => f.family_name.clone_from(&p.family_name),
            PatientPath::PreferredName => f.preferred_name.clone_from(&p.preferred_name),
            PatientPath::BirthDate => {
                f.birth_date = match &p.birth_date {
                    None => None,
                    Some(d) => Some(date_from_proto(d).ok_or_else(|| {
                        Error::field("patient.birth_date", "is not a calendar date")
                    })?),
                }
            }
            PatientPath::SexAtBirth => {
                f.sex_at_birth = Sex::from_proto_field(p.sex_at_birth, "patient.sex_at_birth")?
                    .unwrap_or_default()
            }
            PatientPath::GenderIdentity => f.gender_identity.clone_from(&p.gender_identity),
            PatientPath::Pronouns => f.pronouns.clone_from(&p.pronouns),
            PatientPath::Contact => f.contact = contact_from_proto(p.contact.as_ref()),
            PatientPath::Mrn => f.mrn = (!p.mrn.is_empty()).then(|| p.mrn.clone()),
            PatientPath::Identifiers => {
                f.identifiers = p
                    .identifiers
                    .iter()
                    .map(|i| Identifier {
                        system: i.system.clone(),
                        value: i.value.clone(),
                    })
                    .collect()
            }
        }
    }
    Ok(f)
}

fn to_proto(p: &Patient) -> pb::Patient {
    let f = &p.fields;
    pb::Patient {
        id: p.id.to_string(),
        given_name: f.given_name.clone(),
        middle_name: f.middle_name.clone(),
        family_name: f.family_name.clone(),
        preferred_name: f.preferred_name.clone(),
        birth_date: f.birth_date.map(date_to_proto),
        sex_at_birth: f.sex_at_birth.to_proto(),
        gender_identity: f.gender_identity.clone(),
        pronouns: f.pronouns.clone(),
        contact: Some(contact_to_proto(&f.contact)),
        mrn: f.mrn.clone().unwrap_or_default(),
        identifiers: f
            .identifiers
            .iter()
            .map(|i| pbc::Identifier {
                system: i.system.clone(),
                value: i.value.clone(),
            })
            .collect(),
        create_time: Some(iop_proto::timestamp_from_micros(p.create_time_us)),
        update_time: Some(iop_proto::timestamp_from_micros(p.update_time_us)),
        version: p.version,
        etag: p.etag(),
    }
}
