//! Assessments (PHQ-9, GAD-7) and the safety flags they raise: validation, scoring,
//! idempotent recording, per-patient history and the acknowledgement of flags.
//! Transport-free; `grpc` maps it onto `iop.records.v1.AssessmentService`.

pub mod grpc;
mod store;
#[cfg(test)]
mod tests;

use iop_core::page;
use iop_core::{AssessmentId, Error, PatientId, Principal, SafetyFlagId, now_micros};

use crate::scoring::{self, Instrument, Severity};
use iop_kit::dates::rfc3339;
use iop_kit::idempotency::{self, Claim, Key};
use iop_kit::require_user;
use iop_kit::text;
pub use store::AssessmentStore;

/// Why PHQ-9 item 9 matters, as the flag says it.
pub const ITEM9_REASON: &str =
    "PHQ-9 item 9 (thoughts of being better off dead or of self-harm) answered above 0";

/// Clock skew tolerated on `administered_time` before it counts as the future.
const MAX_SKEW_US: i64 = 5 * 60 * 1_000_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    pub id: AssessmentId,
    pub patient_id: PatientId,
    pub instrument: Instrument,
    pub answers: Vec<i32>,
    pub total: u32,
    pub severity: Severity,
    pub administered_us: i64,
    pub recorded_by: String,
    pub create_time_us: i64,
    pub safety_flag_id: Option<SafetyFlagId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafetyFlag {
    pub id: SafetyFlagId,
    pub patient_id: PatientId,
    pub assessment_id: AssessmentId,
    pub reason: String,
    pub raise_time_us: i64,
    pub acknowledgement: Option<Acknowledgement>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgement {
    pub by: String,
    pub time_us: i64,
    pub note: String,
}

/// An assessment as a client submits it.
#[derive(Debug, Clone)]
pub struct NewAssessment {
    pub patient_id: PatientId,
    pub instrument: Option<Instrument>,
    pub answers: Vec<i32>,
    pub administered_us: Option<i64>,
}

iop_kit::text_enum! {
    pub enum FlagStatus: iop_proto::records::SafetyFlagStatus {
        Active = "active",
        Acknowledged = "acknowledged",
    }
}

#[derive(Debug, Default)]
pub struct ListAssessments<'a> {
    pub patient_id: &'a str,
    pub instrument: Option<Instrument>,
    pub after_us: Option<i64>,
    pub before_us: Option<i64>,
    pub page_size: i32,
    pub page_token: &'a str,
}

#[derive(Debug, Default)]
pub struct ListFlags<'a> {
    pub patient_id: &'a str,
    pub status: Option<FlagStatus>,
    pub after_us: Option<i64>,
    pub before_us: Option<i64>,
    pub page_size: i32,
    pub page_token: &'a str,
}

const KIND: &str = "assessment";

#[derive(Clone)]
pub struct Assessments {
    store: AssessmentStore,
}

impl Assessments {
    pub fn new(store: AssessmentStore) -> Self {
        Self { store }
    }

    /// Scores and stores `new`; a PHQ-9 with item 9 above 0 raises a safety flag in the same
    /// transaction. With a `request_id`, a retry returns the first assessment.
    pub async fn record(
        &self,
        who: &Principal,
        new: NewAssessment,
        request_id: &str,
    ) -> Result<Assessment, Error> {
        let instrument = new
            .instrument
            .ok_or_else(|| Error::field("assessment.instrument", "is required (phq9 or gad7)"))?;
        let score = scoring::score(instrument, &new.answers).map_err(|e| e.under("assessment."))?;
        let now = now_micros();
        let administered_us = new.administered_us.unwrap_or(now);
        if administered_us > now + MAX_SKEW_US {
            return Err(Error::rule(
                "assessment.administered_time",
                "must not be in the future",
            ));
        }
        if administered_us <= 0 {
            return Err(Error::rule(
                "assessment.administered_time",
                "must be after 1970-01-01",
            ));
        }
        let key = Key::parse(request_id, &new)?;
        let id = AssessmentId::new();
        let flag = score.safety_flag.then(|| SafetyFlag {
            id: SafetyFlagId::new(),
            patient_id: new.patient_id,
            assessment_id: id,
            reason: ITEM9_REASON.to_owned(),
            raise_time_us: now,
            acknowledgement: None,
        });
        let assessment = Assessment {
            id,
            patient_id: new.patient_id,
            instrument,
            answers: new.answers,
            total: score.total,
            severity: score.severity,
            administered_us,
            recorded_by: who.subject.clone(),
            create_time_us: now,
            safety_flag_id: flag.as_ref().map(|f| f.id),
        };
        let claim = self
            .store
            .insert(&who.tenant, &assessment, flag.as_ref(), key.as_ref())
            .await?;
        if claim == Claim::New {
            tracing::info!(assessment_id = %id, patient_id = %assessment.patient_id,
                    safety_flag = flag.is_some(), "assessment recorded");
        }
        idempotency::answer(
            claim,
            assessment,
            "record a different assessment",
            |earlier| async move {
                let id = AssessmentId::parse("id", &earlier)
                    .map_err(|_| Error::internal("stored request has a bad assessment id"))?;
                self.get(who, id).await
            },
        )
        .await
    }

    pub async fn get(&self, who: &Principal, id: AssessmentId) -> Result<Assessment, Error> {
        self.store
            .get(&who.tenant, id)
            .await?
            .ok_or_else(|| Error::NotFound {
                kind: "assessment",
                id: id.to_string(),
            })
    }

    /// One patient's assessments, oldest administered first.
    pub async fn list(
        &self,
        who: &Principal,
        req: ListAssessments<'_>,
    ) -> Result<(Vec<Assessment>, Option<String>), Error> {
        if req.patient_id.is_empty() {
            return Err(Error::field("patient_id", "is required"));
        }
        let patient = PatientId::parse("patient_id", req.patient_id)?;
        let size = page::page_size(req.page_size)?;
        if let (Some(a), Some(b)) = (req.after_us, req.before_us)
            && a >= b
        {
            return Err(Error::rule(
                "administered_before",
                "must be later than administered_after",
            ));
        }
        let fingerprint = page::fingerprint(&[
            req.patient_id,
            req.instrument.map_or("", Instrument::as_str),
            &format!("{:?}/{:?}", req.after_us, req.before_us),
        ]);
        let after = page::resume_after(req.page_token, fingerprint, parse_position)?;
        let query = store::AssessmentQuery {
            patient_id: patient,
            instrument: req.instrument,
            after_us: req.after_us,
            before_us: req.before_us,
            position: after,
            limit: size + 1,
        };
        self.require_patient(who, patient).await?;
        let mut rows = self.store.list(&who.tenant, &query).await?;
        let next = page::next_page(&mut rows, size, fingerprint, |a| {
            format!("{}/{}", a.administered_us, a.id)
        });
        Ok((rows, next))
    }

    /// Safety flags, oldest raised first; every patient's when `patient_id` is empty.
    pub async fn list_flags(
        &self,
        who: &Principal,
        req: ListFlags<'_>,
    ) -> Result<(Vec<SafetyFlag>, Option<String>), Error> {
        let patient = match req.patient_id {
            "" => None,
            id => Some(PatientId::parse("patient_id", id)?),
        };
        if let Some(p) = patient {
            self.require_patient(who, p).await?;
        }
        let size = page::page_size(req.page_size)?;
        let status = req.status.map_or("", FlagStatus::as_str);
        let fingerprint = page::fingerprint(&[
            req.patient_id,
            status,
            &format!("{:?}/{:?}", req.after_us, req.before_us),
        ]);
        let after = page::resume_after(req.page_token, fingerprint, |a| {
            SafetyFlagId::parse("page_token", a)
        })?;
        let mut rows = self
            .store
            .list_flags(
                &who.tenant,
                store::FlagQuery {
                    patient,
                    status: req.status,
                    after_us: req.after_us,
                    before_us: req.before_us,
                    after,
                    limit: size + 1,
                },
            )
            .await?;
        let next = page::next_page(&mut rows, size, fingerprint, |f| f.id.to_string());
        Ok((rows, next))
    }

    /// Lists of an unknown patient are 404, as reading the patient would be, rather than
    /// an empty page that looks like "no assessments yet".
    async fn require_patient(&self, who: &Principal, id: PatientId) -> Result<(), Error> {
        self.store.require_patient(&who.tenant, id).await
    }

    /// Records that a clinician saw the flag and what they did; the flag stops being active.
    pub async fn acknowledge(
        &self,
        who: &Principal,
        id: SafetyFlagId,
        note: &str,
    ) -> Result<SafetyFlag, Error> {
        require_user(who, "a safety flag is acknowledged by a clinician")?;
        let note = note.trim();
        if note.is_empty() {
            return Err(Error::field(
                "note",
                "is required: say what was done about the flag",
            ));
        }
        if let Some(broken) = text::STATEMENT.check(note) {
            return Err(Error::field("note", broken));
        }
        let ack = Acknowledgement {
            by: who.subject.clone(),
            time_us: now_micros(),
            note: note.to_owned(),
        };
        if self.store.acknowledge(&who.tenant, id, &ack).await? {
            tracing::info!(safety_flag_id = %id, "safety flag acknowledged");
        }
        let flag = self
            .store
            .get_flag(&who.tenant, id)
            .await?
            .ok_or_else(|| Error::NotFound {
                kind: "safety flag",
                id: id.to_string(),
            })?;
        match &flag.acknowledgement {
            Some(a) if *a == ack => Ok(flag),
            Some(a) => Err(Error::FailedPrecondition(format!(
                "safety flag {id} was already acknowledged by {} at {}",
                a.by,
                rfc3339(a.time_us)
            ))),
            None => Err(Error::internal("acknowledged flag reads back as active")),
        }
    }
}

/// `"<administered_us>/<id>"`, the sort key of an assessment page.
fn parse_position(s: &str) -> Result<(i64, AssessmentId), ()> {
    let (time, id) = s.split_once('/').ok_or(())?;
    let time = time.parse().map_err(|_| ())?;
    let id = AssessmentId::parse("page_token", id).map_err(|_| ())?;
    Ok((time, id))
}
