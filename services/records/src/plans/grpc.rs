//! `iop.records.v1.TreatmentPlanService` over [`Plans`].

use iop_core::{EpisodeId, Error, PatientId, PlanId};
use iop_proto::records::{self as pb, treatment_plan_service_server::TreatmentPlanService};
use iop_proto::timestamp_from_micros;
use tonic::{Request, Response, Status};

use super::{
    Goal, Intervention, ListPlans, Objective, Plan, PlanStatus, Plans, Problem, ProgressStatus,
};
use iop_kit::dates::{date_from_proto, date_to_proto};
use iop_kit::principal;

pub struct PlanApi {
    plans: Plans,
}

impl PlanApi {
    pub fn new(plans: Plans) -> Self {
        Self { plans }
    }
}

#[tonic::async_trait]
impl TreatmentPlanService for PlanApi {
    async fn create_plan(
        &self,
        req: Request<pb::CreatePlanRequest>,
    ) -> Result<Response<pb::TreatmentPlan>, Status> {
        let who = principal(&req)?;
        let r = req.into_inner();
        let p = r.plan.ok_or_else(|| Error::field("plan", "is required"))?;
        let patient = PatientId::parse("plan.patient_id", &p.patient_id)?;
        let episode = episode(&p.episode_id)?;
        let review_due = review_due(&p)?;
        let problems = problems_from_proto(p.problems)?;
        let plan = self
            .plans
            .create(&who, patient, episode, problems, review_due, &r.request_id)
            .await?;
        Ok(Response::new(to_proto(plan)))
    }

    async fn get_plan(
        &self,
        req: Request<pb::GetPlanRequest>,
    ) -> Result<Response<pb::TreatmentPlan>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let id = PlanId::parse("id", &r.id)?;
        Ok(Response::new(to_proto(
            self.plans.get(&who, id, r.version).await?,
        )))
    }

    async fn list_plans(
        &self,
        req: Request<pb::ListPlansRequest>,
    ) -> Result<Response<pb::ListPlansResponse>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let status = PlanStatus::from_proto_field(r.status, "status")?;
        let review_due_by = r
            .review_due_by
            .as_ref()
            .map(|d| {
                date_from_proto(d)
                    .ok_or_else(|| Error::field("review_due_by", "is not a calendar date"))
            })
            .transpose()?;
        let (plans, next) = self
            .plans
            .list(
                &who,
                ListPlans {
                    patient_id: &r.patient_id,
                    episode_id: &r.episode_id,
                    status,
                    review_due_by,
                    page_size: r.page_size,
                    page_token: &r.page_token,
                },
            )
            .await?;
        Ok(Response::new(pb::ListPlansResponse {
            plans: plans.into_iter().map(to_proto).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }

    async fn list_plan_versions(
        &self,
        req: Request<pb::ListPlanVersionsRequest>,
    ) -> Result<Response<pb::ListPlansResponse>, Status> {
        let who = principal(&req)?;
        let id = PlanId::parse("id", &req.get_ref().id)?;
        let versions = self.plans.versions(&who, id).await?;
        Ok(Response::new(pb::ListPlansResponse {
            plans: versions.into_iter().map(to_proto).collect(),
            next_page_token: String::new(),
        }))
    }

    async fn update_plan(
        &self,
        req: Request<pb::UpdatePlanRequest>,
    ) -> Result<Response<pb::TreatmentPlan>, Status> {
        let who = principal(&req)?;
        let p = req
            .into_inner()
            .plan
            .ok_or_else(|| Error::field("plan", "is required"))?;
        let id = PlanId::parse("plan.id", &p.id)?;
        let review_due = review_due(&p)?;
        let etag = p.etag.clone();
        let problems = problems_from_proto(p.problems)?;
        let plan = self
            .plans
            .update(&who, id, problems, review_due, &etag)
            .await?;
        Ok(Response::new(to_proto(plan)))
    }

    async fn sign_plan(
        &self,
        req: Request<pb::SignPlanRequest>,
    ) -> Result<Response<pb::TreatmentPlan>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let id = PlanId::parse("id", &r.id)?;
        Ok(Response::new(to_proto(
            self.plans.sign(&who, id, &r.etag).await?,
        )))
    }

    async fn revise_plan(
        &self,
        req: Request<pb::RevisePlanRequest>,
    ) -> Result<Response<pb::TreatmentPlan>, Status> {
        let who = principal(&req)?;
        let id = PlanId::parse("id", &req.get_ref().id)?;
        Ok(Response::new(to_proto(self.plans.revise(&who, id).await?)))
    }

    async fn record_goal_progress(
        &self,
        req: Request<pb::RecordGoalProgressRequest>,
    ) -> Result<Response<pb::TreatmentPlan>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let id = PlanId::parse("id", &r.id)?;
        let status = ProgressStatus::from_proto_field(r.status, "status")?;
        let plan = self
            .plans
            .record_progress(&who, id, &r.goal_id, status, &r.note)
            .await?;
        Ok(Response::new(to_proto(plan)))
    }
}

fn episode(id: &str) -> Result<Option<EpisodeId>, Error> {
    match id {
        "" => Ok(None),
        id => Ok(Some(EpisodeId::parse("plan.episode_id", id)?)),
    }
}

fn review_due(p: &pb::TreatmentPlan) -> Result<Option<chrono::NaiveDate>, Error> {
    p.review_due_date
        .as_ref()
        .map(|d| {
            date_from_proto(d)
                .ok_or_else(|| Error::field("plan.review_due_date", "is not a calendar date"))
        })
        .transpose()
}

fn problems_from_proto(problems: Vec<pb::PlanProblem>) -> Result<Vec<Problem>, Error> {
    let date = |d: Option<&iop_proto::common::Date>, field: String| {
        d.map(|d| date_from_proto(d).ok_or_else(|| Error::field(field, "is not a calendar date")))
            .transpose()
    };
    problems
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            Ok(Problem {
                id: p.id,
                description: p.description,
                goals: p
                    .goals
                    .into_iter()
                    .enumerate()
                    .map(|(j, g)| {
                        let at = format!("plan.problems[{i}].goals[{j}]");
                        Ok(Goal {
                            id: g.id,
                            description: g.description,
                            target_date: date(g.target_date.as_ref(), format!("{at}.target_date"))?,
                            objectives: g
                                .objectives
                                .into_iter()
                                .enumerate()
                                .map(|(k, o)| {
                                    Ok(Objective {
                                        id: o.id,
                                        description: o.description,
                                        target_date: date(
                                            o.target_date.as_ref(),
                                            format!("{at}.objectives[{k}].target_date"),
                                        )?,
                                        interventions: o
                                            .interventions
                                            .into_iter()
                                            .map(|x| Intervention {
                                                description: x.description,
                                                frequency: x.frequency,
                                                responsible: x.responsible,
                                            })
                                            .collect(),
                                    })
                                })
                                .collect::<Result<_, Error>>()?,
                        })
                    })
                    .collect::<Result<_, Error>>()?,
            })
        })
        .collect()
}

fn to_proto(p: Plan) -> pb::TreatmentPlan {
    let status = p.status().to_proto();
    let etag = p.etag();
    let progress = p.progress;
    pb::TreatmentPlan {
        id: p.id.to_string(),
        patient_id: p.patient_id.to_string(),
        episode_id: p.episode_id.map(|e| e.to_string()).unwrap_or_default(),
        version: p.version,
        status,
        problems: p
            .problems
            .into_iter()
            .map(|pr| pb::PlanProblem {
                id: pr.id,
                description: pr.description,
                goals: pr
                    .goals
                    .into_iter()
                    .map(|g| pb::Goal {
                        progress: progress
                            .iter()
                            .filter(|x| x.goal_id == g.id)
                            .map(|x| pb::GoalProgress {
                                status: x.status.to_proto(),
                                note: x.note.clone(),
                                recorded_by: x.recorded_by.clone(),
                                record_time: Some(timestamp_from_micros(x.record_time_us)),
                            })
                            .collect(),
                        id: g.id,
                        description: g.description,
                        target_date: g.target_date.map(date_to_proto),
                        objectives: g
                            .objectives
                            .into_iter()
                            .map(|o| pb::Objective {
                                id: o.id,
                                description: o.description,
                                target_date: o.target_date.map(date_to_proto),
                                interventions: o
                                    .interventions
                                    .into_iter()
                                    .map(|x| pb::Intervention {
                                        description: x.description,
                                        frequency: x.frequency,
                                        responsible: x.responsible,
                                    })
                                    .collect(),
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect(),
        review_due_date: p.review_due.map(date_to_proto),
        author: p.author,
        signed_by: p
            .signature
            .as_ref()
            .map(|s| s.by.clone())
            .unwrap_or_default(),
        sign_time: p.signature.map(|s| timestamp_from_micros(s.time_us)),
        create_time: Some(timestamp_from_micros(p.create_time_us)),
        update_time: Some(timestamp_from_micros(p.update_time_us)),
        etag,
    }
}
