//! `iop.records.v1.AssessmentService` over [`Assessments`].

use iop_core::{AssessmentId, Error, PatientId, SafetyFlagId};
use iop_proto::records::{self as pb, assessment_service_server::AssessmentService};
use iop_proto::{micros_from_timestamp, timestamp_from_micros};
use tonic::{Request, Response, Status};

use super::{
    Assessment, Assessments, FlagStatus, ListAssessments, ListFlags, NewAssessment, SafetyFlag,
};
use crate::scoring::Instrument;
use iop_kit::principal;

pub struct AssessmentApi {
    assessments: Assessments,
}

impl AssessmentApi {
    pub fn new(assessments: Assessments) -> Self {
        Self { assessments }
    }
}

#[tonic::async_trait]
impl AssessmentService for AssessmentApi {
    async fn record_assessment(
        &self,
        req: Request<pb::RecordAssessmentRequest>,
    ) -> Result<Response<pb::Assessment>, Status> {
        let who = principal(&req)?;
        let r = req.into_inner();
        let a = r
            .assessment
            .ok_or_else(|| Error::field("assessment", "is required"))?;
        let new = NewAssessment {
            patient_id: PatientId::parse("assessment.patient_id", &a.patient_id)?,
            instrument: Instrument::from_proto_field(a.instrument, "assessment.instrument")?,
            answers: a.answers,
            administered_us: a.administered_time.as_ref().map(micros_from_timestamp),
        };
        let recorded = self.assessments.record(&who, new, &r.request_id).await?;
        Ok(Response::new(to_proto(recorded)))
    }

    async fn get_assessment(
        &self,
        req: Request<pb::GetAssessmentRequest>,
    ) -> Result<Response<pb::Assessment>, Status> {
        let who = principal(&req)?;
        let id = AssessmentId::parse("id", &req.get_ref().id)?;
        Ok(Response::new(to_proto(
            self.assessments.get(&who, id).await?,
        )))
    }

    async fn list_assessments(
        &self,
        req: Request<pb::ListAssessmentsRequest>,
    ) -> Result<Response<pb::ListAssessmentsResponse>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let (rows, next) = self
            .assessments
            .list(
                &who,
                ListAssessments {
                    patient_id: &r.patient_id,
                    instrument: Instrument::from_proto_field(r.instrument, "instrument")?,
                    after_us: r.administered_after.as_ref().map(micros_from_timestamp),
                    before_us: r.administered_before.as_ref().map(micros_from_timestamp),
                    page_size: r.page_size,
                    page_token: &r.page_token,
                },
            )
            .await?;
        Ok(Response::new(pb::ListAssessmentsResponse {
            assessments: rows.into_iter().map(to_proto).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }

    async fn list_safety_flags(
        &self,
        req: Request<pb::ListSafetyFlagsRequest>,
    ) -> Result<Response<pb::ListSafetyFlagsResponse>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let status = FlagStatus::from_proto_field(r.status, "status")?;
        let (rows, next) = self
            .assessments
            .list_flags(
                &who,
                ListFlags {
                    patient_id: &r.patient_id,
                    status,
                    after_us: r.raised_after.as_ref().map(micros_from_timestamp),
                    before_us: r.raised_before.as_ref().map(micros_from_timestamp),
                    page_size: r.page_size,
                    page_token: &r.page_token,
                },
            )
            .await?;
        Ok(Response::new(pb::ListSafetyFlagsResponse {
            flags: rows.into_iter().map(flag_to_proto).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }

    async fn acknowledge_safety_flag(
        &self,
        req: Request<pb::AcknowledgeSafetyFlagRequest>,
    ) -> Result<Response<pb::SafetyFlag>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let id = SafetyFlagId::parse("id", &r.id)?;
        let flag = self.assessments.acknowledge(&who, id, &r.note).await?;
        Ok(Response::new(flag_to_proto(flag)))
    }
}

fn to_proto(a: Assessment) -> pb::Assessment {
    pb::Assessment {
        id: a.id.to_string(),
        patient_id: a.patient_id.to_string(),
        instrument: a.instrument.to_proto(),
        answers: a.answers,
        total: a.total as i32,
        severity: a.severity.to_proto(),
        administered_time: Some(timestamp_from_micros(a.administered_us)),
        recorded_by: a.recorded_by,
        create_time: Some(timestamp_from_micros(a.create_time_us)),
        safety_flag_id: a.safety_flag_id.map(|f| f.to_string()).unwrap_or_default(),
    }
}

fn flag_to_proto(f: SafetyFlag) -> pb::SafetyFlag {
    let (status, by, time, note) = match f.acknowledgement {
        None => (FlagStatus::Active, String::new(), None, String::new()),
        Some(a) => (
            FlagStatus::Acknowledged,
            a.by,
            Some(timestamp_from_micros(a.time_us)),
            a.note,
        ),
    };
    pb::SafetyFlag {
        id: f.id.to_string(),
        patient_id: f.patient_id.to_string(),
        assessment_id: f.assessment_id.to_string(),
        reason: f.reason,
        raise_time: Some(timestamp_from_micros(f.raise_time_us)),
        status: status.to_proto(),
        acknowledged_by: by,
        acknowledge_time: time,
        acknowledge_note: note,
    }
}
