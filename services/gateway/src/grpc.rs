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

/// Implements a records-service trait on [`RecordsProxy`]: each method forwards its request
/// as the named [`Operation`] with the given generated client.
macro_rules! forward_all {
    ($service:ident, $client:ident { $($method:ident($req:ident) -> $res:ident = $op:ident;)+ }) => {
        #[tonic::async_trait]
        impl $service for RecordsProxy {
            $(
                async fn $method(&self, req: Request<pb::$req>) -> Result<Response<pb::$res>, Status> {
                    let send = |mut c: $client<Channel>, r| async move { c.$method(r).await };
                    proxy(&self.down, Operation::$op, req, send).await
                }
            )+
        }
    };
}

forward_all!(PatientService, PatientServiceClient {
    create_patient(CreatePatientRequest) -> Patient = CreatePatient;
    get_patient(GetPatientRequest) -> Patient = GetPatient;
    list_patients(ListPatientsRequest) -> ListPatientsResponse = ListPatients;
    update_patient(UpdatePatientRequest) -> Patient = UpdatePatient;
});

forward_all!(AssessmentService, AssessmentServiceClient {
    record_assessment(RecordAssessmentRequest) -> Assessment = RecordAssessment;
    get_assessment(GetAssessmentRequest) -> Assessment = GetAssessment;
    list_assessments(ListAssessmentsRequest) -> ListAssessmentsResponse = ListAssessments;
    list_safety_flags(ListSafetyFlagsRequest) -> ListSafetyFlagsResponse = ListSafetyFlags;
    acknowledge_safety_flag(AcknowledgeSafetyFlagRequest) -> SafetyFlag = AcknowledgeSafetyFlag;
});

forward_all!(EpisodeService, EpisodeServiceClient {
    create_episode(CreateEpisodeRequest) -> Episode = CreateEpisode;
    get_episode(GetEpisodeRequest) -> Episode = GetEpisode;
    list_episodes(ListEpisodesRequest) -> ListEpisodesResponse = ListEpisodes;
    update_episode(UpdateEpisodeRequest) -> Episode = UpdateEpisode;
    admit_episode(AdmitEpisodeRequest) -> Episode = AdmitEpisode;
    change_level_of_care(ChangeLevelOfCareRequest) -> Episode = ChangeLevelOfCare;
    discharge_episode(DischargeEpisodeRequest) -> Episode = DischargeEpisode;
});

forward_all!(NoteService, NoteServiceClient {
    create_note(CreateNoteRequest) -> Note = CreateNote;
    get_note(GetNoteRequest) -> Note = GetNote;
    list_notes(ListNotesRequest) -> ListNotesResponse = ListNotes;
    update_note(UpdateNoteRequest) -> Note = UpdateNote;
    sign_note(SignNoteRequest) -> Note = SignNote;
    add_addendum(AddAddendumRequest) -> Note = AddAddendum;
});

forward_all!(TreatmentPlanService, TreatmentPlanServiceClient {
    create_plan(CreatePlanRequest) -> TreatmentPlan = CreatePlan;
    get_plan(GetPlanRequest) -> TreatmentPlan = GetPlan;
    list_plans(ListPlansRequest) -> ListPlansResponse = ListPlans;
    list_plan_versions(ListPlanVersionsRequest) -> ListPlansResponse = ListPlanVersions;
    update_plan(UpdatePlanRequest) -> TreatmentPlan = UpdatePlan;
    sign_plan(SignPlanRequest) -> TreatmentPlan = SignPlan;
    revise_plan(RevisePlanRequest) -> TreatmentPlan = RevisePlan;
    record_goal_progress(RecordGoalProgressRequest) -> TreatmentPlan = RecordGoalProgress;
});

forward_all!(ConsentService, ConsentServiceClient {
    create_consent(CreateConsentRequest) -> Consent = CreateConsent;
    get_consent(GetConsentRequest) -> Consent = GetConsent;
    list_consents(ListConsentsRequest) -> ListConsentsResponse = ListConsents;
    revoke_consent(RevokeConsentRequest) -> Consent = RevokeConsent;
    check_disclosure(CheckDisclosureRequest) -> DisclosureDecision = CheckDisclosure;
});

forward_all!(ContactService, ContactServiceClient {
    create_contact(CreateContactRequest) -> Contact = CreateContact;
    get_contact(GetContactRequest) -> Contact = GetContact;
    list_contacts(ListContactsRequest) -> ListContactsResponse = ListContacts;
    update_contact(UpdateContactRequest) -> Contact = UpdateContact;
});

forward_all!(ReferralService, ReferralServiceClient {
    create_referral(CreateReferralRequest) -> Referral = CreateReferral;
    get_referral(GetReferralRequest) -> Referral = GetReferral;
    list_referrals(ListReferralsRequest) -> ListReferralsResponse = ListReferrals;
    review_referral(ReviewReferralRequest) -> Referral = ReviewReferral;
    accept_referral(AcceptReferralRequest) -> Referral = AcceptReferral;
    schedule_intake(ScheduleIntakeRequest) -> Referral = ScheduleIntake;
    mark_admitted(MarkAdmittedRequest) -> Referral = MarkAdmitted;
    decline_referral(DeclineReferralRequest) -> Referral = DeclineReferral;
});

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
