//! gRPC at the gateway: the same `iop.records.v1` API, authenticated here and forwarded to
//! the records service with the caller's principal.

use std::future::Future;

use iop_core::Principal;
use iop_proto::records::assessment_service_client::AssessmentServiceClient;
use iop_proto::records::assessment_service_server::AssessmentService;
use iop_proto::records::consent_service_client::ConsentServiceClient;
use iop_proto::records::consent_service_server::ConsentService;
use iop_proto::records::contact_service_client::ContactServiceClient;
use iop_proto::records::contact_service_server::ContactService;
use iop_proto::records::episode_service_client::EpisodeServiceClient;
use iop_proto::records::episode_service_server::EpisodeService;
use iop_proto::records::note_service_client::NoteServiceClient;
use iop_proto::records::note_service_server::NoteService;
use iop_proto::records::patient_service_client::PatientServiceClient;
use iop_proto::records::referral_service_client::ReferralServiceClient;
use iop_proto::records::referral_service_server::ReferralService;
use iop_proto::records::treatment_plan_service_client::TreatmentPlanServiceClient;
use iop_proto::records::treatment_plan_service_server::TreatmentPlanService;
use iop_proto::records::{self as pb, patient_service_server::PatientService};
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::downstream::{Audited, Downstream, RecordsClient};
use crate::policy::Operation;

/// `iop.records.v1` as the gateway serves it: every method forwarded with the caller's
/// principal through [`Downstream::forward`].
pub struct RecordsProxy {
    down: Downstream,
}

impl RecordsProxy {
    pub fn new(down: Downstream) -> Self {
        Self { down }
    }
}

fn principal<T>(req: &Request<T>) -> Result<Principal, Status> {
    req.extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("missing bearer token"))
}

async fn proxy<C, Req, Res, Fut>(
    down: &Downstream,
    op: Operation,
    req: Request<Req>,
    send: impl FnOnce(C, Request<Req>) -> Fut,
) -> Result<Response<Res>, Status>
where
    C: RecordsClient,
    Req: Audited,
    Res: Audited,
    Fut: Future<Output = Result<Response<Res>, Status>>,
{
    let who = principal(&req)?;
    down.forward(&who, op, req.into_inner(), send)
        .await
        .map(Response::new)
}

#[tonic::async_trait]
impl PatientService for RecordsProxy {
    async fn create_patient(
        &self,
        req: Request<pb::CreatePatientRequest>,
    ) -> Result<Response<pb::Patient>, Status> {
        let send =
            |mut c: PatientServiceClient<Channel>, r| async move { c.create_patient(r).await };
        proxy(&self.down, Operation::CreatePatient, req, send).await
    }

    async fn get_patient(
        &self,
        req: Request<pb::GetPatientRequest>,
    ) -> Result<Response<pb::Patient>, Status> {
        let send = |mut c: PatientServiceClient<Channel>, r| async move { c.get_patient(r).await };
        proxy(&self.down, Operation::GetPatient, req, send).await
    }

    async fn list_patients(
        &self,
        req: Request<pb::ListPatientsRequest>,
    ) -> Result<Response<pb::ListPatientsResponse>, Status> {
        let send =
            |mut c: PatientServiceClient<Channel>, r| async move { c.list_patients(r).await };
        proxy(&self.down, Operation::ListPatients, req, send).await
    }

    async fn update_patient(
        &self,
        req: Request<pb::UpdatePatientRequest>,
    ) -> Result<Response<pb::Patient>, Status> {
        let send =
            |mut c: PatientServiceClient<Channel>, r| async move { c.update_patient(r).await };
        proxy(&self.down, Operation::UpdatePatient, req, send).await
    }
}

#[tonic::async_trait]
impl AssessmentService for RecordsProxy {
    async fn record_assessment(
        &self,
        req: Request<pb::RecordAssessmentRequest>,
    ) -> Result<Response<pb::Assessment>, Status> {
        let send = |mut c: AssessmentServiceClient<Channel>, r| async move {
            c.record_assessment(r).await
        };
        proxy(&self.down, Operation::RecordAssessment, req, send).await
    }

    async fn get_assessment(
        &self,
        req: Request<pb::GetAssessmentRequest>,
    ) -> Result<Response<pb::Assessment>, Status> {
        let send =
            |mut c: AssessmentServiceClient<Channel>, r| async move { c.get_assessment(r).await };
        proxy(&self.down, Operation::GetAssessment, req, send).await
    }

    async fn list_assessments(
        &self,
        req: Request<pb::ListAssessmentsRequest>,
    ) -> Result<Response<pb::ListAssessmentsResponse>, Status> {
        let send =
            |mut c: AssessmentServiceClient<Channel>, r| async move { c.list_assessments(r).await };
        proxy(&self.down, Operation::ListAssessments, req, send).await
    }

    async fn list_safety_flags(
        &self,
        req: Request<pb::ListSafetyFlagsRequest>,
    ) -> Result<Response<pb::ListSafetyFlagsResponse>, Status> {
        let send = |mut c: AssessmentServiceClient<Channel>, r| async move {
            c.list_safety_flags(r).await
        };
        proxy(&self.down, Operation::ListSafetyFlags, req, send).await
    }

    async fn acknowledge_safety_flag(
        &self,
        req: Request<pb::AcknowledgeSafetyFlagRequest>,
    ) -> Result<Response<pb::SafetyFlag>, Status> {
        let send = |mut c: AssessmentServiceClient<Channel>, r| async move {
            c.acknowledge_safety_flag(r).await
        };
        proxy(&self.down, Operation::AcknowledgeSafetyFlag, req, send).await
    }
}

#[tonic::async_trait]
impl EpisodeService for RecordsProxy {
    async fn create_episode(
        &self,
        req: Request<pb::CreateEpisodeRequest>,
    ) -> Result<Response<pb::Episode>, Status> {
        let send =
            |mut c: EpisodeServiceClient<Channel>, r| async move { c.create_episode(r).await };
        proxy(&self.down, Operation::CreateEpisode, req, send).await
    }

    async fn get_episode(
        &self,
        req: Request<pb::GetEpisodeRequest>,
    ) -> Result<Response<pb::Episode>, Status> {
        let send = |mut c: EpisodeServiceClient<Channel>, r| async move { c.get_episode(r).await };
        proxy(&self.down, Operation::GetEpisode, req, send).await
    }

    async fn list_episodes(
        &self,
        req: Request<pb::ListEpisodesRequest>,
    ) -> Result<Response<pb::ListEpisodesResponse>, Status> {
        let send =
            |mut c: EpisodeServiceClient<Channel>, r| async move { c.list_episodes(r).await };
        proxy(&self.down, Operation::ListEpisodes, req, send).await
    }

    async fn update_episode(
        &self,
        req: Request<pb::UpdateEpisodeRequest>,
    ) -> Result<Response<pb::Episode>, Status> {
        let send =
            |mut c: EpisodeServiceClient<Channel>, r| async move { c.update_episode(r).await };
        proxy(&self.down, Operation::UpdateEpisode, req, send).await
    }

    async fn admit_episode(
        &self,
        req: Request<pb::AdmitEpisodeRequest>,
    ) -> Result<Response<pb::Episode>, Status> {
        let send =
            |mut c: EpisodeServiceClient<Channel>, r| async move { c.admit_episode(r).await };
        proxy(&self.down, Operation::AdmitEpisode, req, send).await
    }

    async fn change_level_of_care(
        &self,
        req: Request<pb::ChangeLevelOfCareRequest>,
    ) -> Result<Response<pb::Episode>, Status> {
        let send = |mut c: EpisodeServiceClient<Channel>, r| async move {
            c.change_level_of_care(r).await
        };
        proxy(&self.down, Operation::ChangeLevelOfCare, req, send).await
    }

    async fn discharge_episode(
        &self,
        req: Request<pb::DischargeEpisodeRequest>,
    ) -> Result<Response<pb::Episode>, Status> {
        let send =
            |mut c: EpisodeServiceClient<Channel>, r| async move { c.discharge_episode(r).await };
        proxy(&self.down, Operation::DischargeEpisode, req, send).await
    }
}

#[tonic::async_trait]
impl NoteService for RecordsProxy {
    async fn create_note(
        &self,
        req: Request<pb::CreateNoteRequest>,
    ) -> Result<Response<pb::Note>, Status> {
        let send = |mut c: NoteServiceClient<Channel>, r| async move { c.create_note(r).await };
        proxy(&self.down, Operation::CreateNote, req, send).await
    }

    async fn get_note(
        &self,
        req: Request<pb::GetNoteRequest>,
    ) -> Result<Response<pb::Note>, Status> {
        let send = |mut c: NoteServiceClient<Channel>, r| async move { c.get_note(r).await };
        proxy(&self.down, Operation::GetNote, req, send).await
    }

    async fn list_notes(
        &self,
        req: Request<pb::ListNotesRequest>,
    ) -> Result<Response<pb::ListNotesResponse>, Status> {
        let send = |mut c: NoteServiceClient<Channel>, r| async move { c.list_notes(r).await };
        proxy(&self.down, Operation::ListNotes, req, send).await
    }

    async fn update_note(
        &self,
        req: Request<pb::UpdateNoteRequest>,
    ) -> Result<Response<pb::Note>, Status> {
        let send = |mut c: NoteServiceClient<Channel>, r| async move { c.update_note(r).await };
        proxy(&self.down, Operation::UpdateNote, req, send).await
    }

    async fn sign_note(
        &self,
        req: Request<pb::SignNoteRequest>,
    ) -> Result<Response<pb::Note>, Status> {
        let send = |mut c: NoteServiceClient<Channel>, r| async move { c.sign_note(r).await };
        proxy(&self.down, Operation::SignNote, req, send).await
    }

    async fn add_addendum(
        &self,
        req: Request<pb::AddAddendumRequest>,
    ) -> Result<Response<pb::Note>, Status> {
        let send = |mut c: NoteServiceClient<Channel>, r| async move { c.add_addendum(r).await };
        proxy(&self.down, Operation::AddAddendum, req, send).await
    }
}

#[tonic::async_trait]
impl TreatmentPlanService for RecordsProxy {
    async fn create_plan(
        &self,
        req: Request<pb::CreatePlanRequest>,
    ) -> Result<Response<pb::TreatmentPlan>, Status> {
        let send =
            |mut c: TreatmentPlanServiceClient<Channel>, r| async move { c.create_plan(r).await };
        proxy(&self.down, Operation::CreatePlan, req, send).await
    }

    async fn get_plan(
        &self,
        req: Request<pb::GetPlanRequest>,
    ) -> Result<Response<pb::TreatmentPlan>, Status> {
        let send =
            |mut c: TreatmentPlanServiceClient<Channel>, r| async move { c.get_plan(r).await };
        proxy(&self.down, Operation::GetPlan, req, send).await
    }

    async fn list_plans(
        &self,
        req: Request<pb::ListPlansRequest>,
    ) -> Result<Response<pb::ListPlansResponse>, Status> {
        let send =
            |mut c: TreatmentPlanServiceClient<Channel>, r| async move { c.list_plans(r).await };
        proxy(&self.down, Operation::ListPlans, req, send).await
    }

    async fn list_plan_versions(
        &self,
        req: Request<pb::ListPlanVersionsRequest>,
    ) -> Result<Response<pb::ListPlansResponse>, Status> {
        let send = |mut c: TreatmentPlanServiceClient<Channel>, r| async move {
            c.list_plan_versions(r).await
        };
        proxy(&self.down, Operation::ListPlanVersions, req, send).await
    }

    async fn update_plan(
        &self,
        req: Request<pb::UpdatePlanRequest>,
    ) -> Result<Response<pb::TreatmentPlan>, Status> {
        let send =
            |mut c: TreatmentPlanServiceClient<Channel>, r| async move { c.update_plan(r).await };
        proxy(&self.down, Operation::UpdatePlan, req, send).await
    }

    async fn sign_plan(
        &self,
        req: Request<pb::SignPlanRequest>,
    ) -> Result<Response<pb::TreatmentPlan>, Status> {
        let send =
            |mut c: TreatmentPlanServiceClient<Channel>, r| async move { c.sign_plan(r).await };
        proxy(&self.down, Operation::SignPlan, req, send).await
    }

    async fn revise_plan(
        &self,
        req: Request<pb::RevisePlanRequest>,
    ) -> Result<Response<pb::TreatmentPlan>, Status> {
        let send =
            |mut c: TreatmentPlanServiceClient<Channel>, r| async move { c.revise_plan(r).await };
        proxy(&self.down, Operation::RevisePlan, req, send).await
    }

    async fn record_goal_progress(
        &self,
        req: Request<pb::RecordGoalProgressRequest>,
    ) -> Result<Response<pb::TreatmentPlan>, Status> {
        let send = |mut c: TreatmentPlanServiceClient<Channel>, r| async move {
            c.record_goal_progress(r).await
        };
        proxy(&self.down, Operation::RecordGoalProgress, req, send).await
    }
}

#[tonic::async_trait]
impl ConsentService for RecordsProxy {
    async fn create_consent(
        &self,
        req: Request<pb::CreateConsentRequest>,
    ) -> Result<Response<pb::Consent>, Status> {
        let send =
            |mut c: ConsentServiceClient<Channel>, r| async move { c.create_consent(r).await };
        proxy(&self.down, Operation::CreateConsent, req, send).await
    }

    async fn get_consent(
        &self,
        req: Request<pb::GetConsentRequest>,
    ) -> Result<Response<pb::Consent>, Status> {
        let send = |mut c: ConsentServiceClient<Channel>, r| async move { c.get_consent(r).await };
        proxy(&self.down, Operation::GetConsent, req, send).await
    }

    async fn list_consents(
        &self,
        req: Request<pb::ListConsentsRequest>,
    ) -> Result<Response<pb::ListConsentsResponse>, Status> {
        let send =
            |mut c: ConsentServiceClient<Channel>, r| async move { c.list_consents(r).await };
        proxy(&self.down, Operation::ListConsents, req, send).await
    }

    async fn revoke_consent(
        &self,
        req: Request<pb::RevokeConsentRequest>,
    ) -> Result<Response<pb::Consent>, Status> {
        let send =
            |mut c: ConsentServiceClient<Channel>, r| async move { c.revoke_consent(r).await };
        proxy(&self.down, Operation::RevokeConsent, req, send).await
    }

    async fn check_disclosure(
        &self,
        req: Request<pb::CheckDisclosureRequest>,
    ) -> Result<Response<pb::DisclosureDecision>, Status> {
        let send =
            |mut c: ConsentServiceClient<Channel>, r| async move { c.check_disclosure(r).await };
        proxy(&self.down, Operation::CheckDisclosure, req, send).await
    }
}

#[tonic::async_trait]
impl ContactService for RecordsProxy {
    async fn create_contact(
        &self,
        req: Request<pb::CreateContactRequest>,
    ) -> Result<Response<pb::Contact>, Status> {
        let send =
            |mut c: ContactServiceClient<Channel>, r| async move { c.create_contact(r).await };
        proxy(&self.down, Operation::CreateContact, req, send).await
    }

    async fn get_contact(
        &self,
        req: Request<pb::GetContactRequest>,
    ) -> Result<Response<pb::Contact>, Status> {
        let send = |mut c: ContactServiceClient<Channel>, r| async move { c.get_contact(r).await };
        proxy(&self.down, Operation::GetContact, req, send).await
    }

    async fn list_contacts(
        &self,
        req: Request<pb::ListContactsRequest>,
    ) -> Result<Response<pb::ListContactsResponse>, Status> {
        let send =
            |mut c: ContactServiceClient<Channel>, r| async move { c.list_contacts(r).await };
        proxy(&self.down, Operation::ListContacts, req, send).await
    }

    async fn update_contact(
        &self,
        req: Request<pb::UpdateContactRequest>,
    ) -> Result<Response<pb::Contact>, Status> {
        let send =
            |mut c: ContactServiceClient<Channel>, r| async move { c.update_contact(r).await };
        proxy(&self.down, Operation::UpdateContact, req, send).await
    }
}

#[tonic::async_trait]
impl ReferralService for RecordsProxy {
    async fn create_referral(
        &self,
        req: Request<pb::CreateReferralRequest>,
    ) -> Result<Response<pb::Referral>, Status> {
        let send =
            |mut c: ReferralServiceClient<Channel>, r| async move { c.create_referral(r).await };
        proxy(&self.down, Operation::CreateReferral, req, send).await
    }

    async fn get_referral(
        &self,
        req: Request<pb::GetReferralRequest>,
    ) -> Result<Response<pb::Referral>, Status> {
        let send =
            |mut c: ReferralServiceClient<Channel>, r| async move { c.get_referral(r).await };
        proxy(&self.down, Operation::GetReferral, req, send).await
    }

    async fn list_referrals(
        &self,
        req: Request<pb::ListReferralsRequest>,
    ) -> Result<Response<pb::ListReferralsResponse>, Status> {
        let send =
            |mut c: ReferralServiceClient<Channel>, r| async move { c.list_referrals(r).await };
        proxy(&self.down, Operation::ListReferrals, req, send).await
    }

    async fn review_referral(
        &self,
        req: Request<pb::ReviewReferralRequest>,
    ) -> Result<Response<pb::Referral>, Status> {
        let send =
            |mut c: ReferralServiceClient<Channel>, r| async move { c.review_referral(r).await };
        proxy(&self.down, Operation::ReviewReferral, req, send).await
    }

    async fn accept_referral(
        &self,
        req: Request<pb::AcceptReferralRequest>,
    ) -> Result<Response<pb::Referral>, Status> {
        let send =
            |mut c: ReferralServiceClient<Channel>, r| async move { c.accept_referral(r).await };
        proxy(&self.down, Operation::AcceptReferral, req, send).await
    }

    async fn schedule_intake(
        &self,
        req: Request<pb::ScheduleIntakeRequest>,
    ) -> Result<Response<pb::Referral>, Status> {
        let send =
            |mut c: ReferralServiceClient<Channel>, r| async move { c.schedule_intake(r).await };
        proxy(&self.down, Operation::ScheduleIntake, req, send).await
    }

    async fn mark_admitted(
        &self,
        req: Request<pb::MarkAdmittedRequest>,
    ) -> Result<Response<pb::Referral>, Status> {
        let send =
            |mut c: ReferralServiceClient<Channel>, r| async move { c.mark_admitted(r).await };
        proxy(&self.down, Operation::MarkAdmitted, req, send).await
    }

    async fn decline_referral(
        &self,
        req: Request<pb::DeclineReferralRequest>,
    ) -> Result<Response<pb::Referral>, Status> {
        let send =
            |mut c: ReferralServiceClient<Channel>, r| async move { c.decline_referral(r).await };
        proxy(&self.down, Operation::DeclineReferral, req, send).await
    }
}

/// `iop.audit.v1.AuditService`, served by the gateway itself (it owns the trail).
pub struct AuditApi {
    db: iop_db::Db,
    log: crate::audit::AuditLog,
}

impl AuditApi {
    pub fn new(db: iop_db::Db, log: crate::audit::AuditLog) -> Self {
        Self { db, log }
    }
}

#[tonic::async_trait]
impl iop_proto::audit::audit_service_server::AuditService for AuditApi {
    async fn list_audit_events(
        &self,
        req: Request<iop_proto::audit::ListAuditEventsRequest>,
    ) -> Result<Response<iop_proto::audit::ListAuditEventsResponse>, Status> {
        use iop_proto::audit as pba;
        let who = principal(&req)?;
        let r = req.into_inner();
        let micros =
            |t: &Option<prost_types::Timestamp>| t.as_ref().map(iop_proto::micros_from_timestamp);
        let search = crate::audit::api::Search {
            page_size: r.page_size,
            page_token: &r.page_token,
            patient_id: &r.patient_id,
            subject: &r.subject,
            client_id: &r.client_id,
            start_us: micros(&r.start_time),
            end_us: micros(&r.end_time),
        };
        let (events, next) = crate::audit::api::search(&self.db, &self.log, &who, search).await?;
        let events = events
            .into_iter()
            .map(|s| {
                let e = s.event;
                pba::AuditEvent {
                    seq: s.seq,
                    event_id: s.event_id,
                    time: Some(iop_proto::timestamp_from_micros(e.time_us)),
                    issuer: e.issuer,
                    client_id: e.client_id,
                    subject: e.subject,
                    action: e.action,
                    resource_type: e.resource_type,
                    resource_id: e.resource_id,
                    patient_id: e.patient_id,
                    outcome: e.outcome.as_str().to_owned(),
                    status: e.status,
                    request_id: e.request_id,
                    source_addr: e.source_addr,
                    hash: s.hash,
                }
            })
            .collect();
        Ok(Response::new(pba::ListAuditEventsResponse {
            events,
            next_page_token: next.unwrap_or_default(),
        }))
    }
}

/// `iop.clients.v1.ClientService`: the client registry, served by the gateway (it issues
/// the tokens).
pub struct ClientApi {
    clients: crate::clients::Clients,
}

impl ClientApi {
    pub fn new(clients: crate::clients::Clients) -> Self {
        Self { clients }
    }
}

fn client_to_proto(c: crate::clients::Client) -> iop_proto::clients::Client {
    use crate::clients::ClientKind;
    use iop_proto::clients as pbc;
    pbc::Client {
        client_id: c.client_id,
        name: c.name,
        kind: match c.kind {
            ClientKind::Ehr => pbc::ClientKind::Ehr,
            ClientKind::FrontEnd => pbc::ClientKind::FrontEnd,
            ClientKind::ReferralPartner => pbc::ClientKind::ReferralPartner,
        } as i32,
        jwks_json: c.jwks.to_string(),
        scopes: c.scopes,
        enabled: c.enabled,
        version: c.version,
        create_time: Some(iop_proto::timestamp_from_micros(c.create_time_us)),
        update_time: Some(iop_proto::timestamp_from_micros(c.update_time_us)),
    }
}

fn jwks_from_proto(json: &str) -> Result<serde_json::Value, Status> {
    serde_json::from_str(json).map_err(|_| {
        Status::from(iop_core::Error::field(
            "client.jwks_json",
            "must be a JWKS JSON document",
        ))
    })
}

#[tonic::async_trait]
impl iop_proto::clients::client_service_server::ClientService for ClientApi {
    async fn create_client(
        &self,
        req: Request<iop_proto::clients::CreateClientRequest>,
    ) -> Result<Response<iop_proto::clients::Client>, Status> {
        use crate::clients::ClientKind;
        use iop_proto::clients::ClientKind as Pb;
        let who = principal(&req)?;
        let c = req
            .into_inner()
            .client
            .ok_or_else(|| Status::from(iop_core::Error::field("client", "is required")))?;
        let kind = match Pb::try_from(c.kind) {
            Ok(Pb::Ehr) => ClientKind::Ehr,
            Ok(Pb::FrontEnd) => ClientKind::FrontEnd,
            Ok(Pb::ReferralPartner) => ClientKind::ReferralPartner,
            Ok(Pb::Unspecified) | Err(_) => {
                return Err(iop_core::Error::field(
                    "client.kind",
                    "must be ehr, front_end or referral_partner",
                )
                .into());
            }
        };
        let jwks = jwks_from_proto(&c.jwks_json)?;
        let created = self
            .clients
            .create(&who, c.name, kind, jwks, c.scopes)
            .await?;
        Ok(Response::new(client_to_proto(created)))
    }

    async fn get_client(
        &self,
        req: Request<iop_proto::clients::GetClientRequest>,
    ) -> Result<Response<iop_proto::clients::Client>, Status> {
        let who = principal(&req)?;
        let c = self.clients.get(&who, &req.get_ref().client_id).await?;
        Ok(Response::new(client_to_proto(c)))
    }

    async fn list_clients(
        &self,
        req: Request<iop_proto::clients::ListClientsRequest>,
    ) -> Result<Response<iop_proto::clients::ListClientsResponse>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let (clients, next) = self.clients.list(&who, r.page_size, &r.page_token).await?;
        Ok(Response::new(iop_proto::clients::ListClientsResponse {
            clients: clients.into_iter().map(client_to_proto).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }

    async fn update_client(
        &self,
        req: Request<iop_proto::clients::UpdateClientRequest>,
    ) -> Result<Response<iop_proto::clients::Client>, Status> {
        let who = principal(&req)?;
        let r = req.into_inner();
        let c = r
            .client
            .ok_or_else(|| Status::from(iop_core::Error::field("client", "is required")))?;
        let paths = r.update_mask.map(|m| m.paths).unwrap_or_default();
        if paths.is_empty() {
            return Err(
                iop_core::Error::field("update_mask", "must name the fields to change").into(),
            );
        }
        let mut changes = crate::clients::ClientChanges::default();
        for path in &paths {
            match path.as_str() {
                "name" => changes.name = Some(c.name.clone()),
                "jwks_json" => changes.jwks = Some(jwks_from_proto(&c.jwks_json)?),
                "scopes" => changes.scopes = Some(c.scopes.clone()),
                "enabled" => changes.enabled = Some(c.enabled),
                other => {
                    return Err(iop_core::Error::field(
                        "update_mask",
                        format!("{other} cannot be changed"),
                    )
                    .into());
                }
            }
        }
        let updated = self.clients.update(&who, &c.client_id, changes).await?;
        Ok(Response::new(client_to_proto(updated)))
    }
}
