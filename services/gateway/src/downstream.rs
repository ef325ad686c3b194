//! Calls from the gateway to the services: each call carries the sealed principal and the
//! trace context, and has a deadline, so a dead service costs the client a quick 503/504
//! rather than a hang. Channels reconnect by themselves when the service comes back.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use iop_auth::{InternalKey, PRINCIPAL_HEADER};
use iop_core::Principal;

use crate::audit::{AuditEvent, AuditLog, Outcome};
use crate::policy::{self, Operation};
use iop_proto::records as pb;
use iop_proto::records::assessment_service_client::AssessmentServiceClient;
use iop_proto::records::consent_service_client::ConsentServiceClient;
use iop_proto::records::contact_service_client::ContactServiceClient;
use iop_proto::records::episode_service_client::EpisodeServiceClient;
use iop_proto::records::note_service_client::NoteServiceClient;
use iop_proto::records::patient_service_client::PatientServiceClient;
use iop_proto::records::referral_service_client::ReferralServiceClient;
use iop_proto::records::treatment_plan_service_client::TreatmentPlanServiceClient;
use tonic::metadata::{MetadataKey, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

#[derive(Clone)]
pub struct Downstream {
    records: Channel,
    records_health: HealthClient<Channel>,
    key: Arc<InternalKey>,
    timeout: Duration,
    audit_log: AuditLog,
}

/// A generated gRPC client of a records-service API, made on the shared channel.
pub trait RecordsClient {
    fn on(channel: Channel) -> Self;
}

impl RecordsClient for PatientServiceClient<Channel> {
    fn on(channel: Channel) -> Self {
        Self::new(channel)
    }
}

impl RecordsClient for AssessmentServiceClient<Channel> {
    fn on(channel: Channel) -> Self {
        Self::new(channel)
    }
}

impl RecordsClient for TreatmentPlanServiceClient<Channel> {
    fn on(channel: Channel) -> Self {
        Self::new(channel)
    }
}

impl RecordsClient for ConsentServiceClient<Channel> {
    fn on(channel: Channel) -> Self {
        Self::new(channel)
    }
}

impl RecordsClient for ContactServiceClient<Channel> {
    fn on(channel: Channel) -> Self {
        Self::new(channel)
    }
}

impl RecordsClient for ReferralServiceClient<Channel> {
    fn on(channel: Channel) -> Self {
        Self::new(channel)
    }
}

impl RecordsClient for NoteServiceClient<Channel> {
    fn on(channel: Channel) -> Self {
        Self::new(channel)
    }
}

impl RecordsClient for EpisodeServiceClient<Channel> {
    fn on(channel: Channel) -> Self {
        Self::new(channel)
    }
}

/// One resource a call touched, and whose record it belongs to; each becomes an audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touched {
    pub resource_id: String,
    pub patient_id: String,
}

impl Touched {
    /// A patient itself.
    pub fn patient(id: &str) -> Self {
        Self::of(id, id)
    }

    /// A resource of a patient's record; either id may be empty when not known.
    pub fn of(resource_id: &str, patient_id: &str) -> Self {
        Self {
            resource_id: resource_id.to_owned(),
            patient_id: patient_id.to_owned(),
        }
    }
}

/// What a message is about, for the audit trail: requests say what was asked for (audited
/// when the call is denied or fails), responses what was actually disclosed or written.
pub trait Audited {
    fn touched(&self) -> Vec<Touched>;
}

impl Audited for pb::CreatePatientRequest {
    fn touched(&self) -> Vec<Touched> {
        Vec::new()
    }
}

impl Audited for pb::GetPatientRequest {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::patient(&self.id)]
    }
}

impl Audited for pb::ListPatientsRequest {
    fn touched(&self) -> Vec<Touched> {
        Vec::new()
    }
}

impl Audited for pb::UpdatePatientRequest {
    fn touched(&self) -> Vec<Touched> {
        self.patient
            .iter()
            .map(|p| Touched::patient(&p.id))
            .collect()
    }
}

impl Audited for pb::Patient {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::patient(&self.id)]
    }
}

impl Audited for pb::ListPatientsResponse {
    fn touched(&self) -> Vec<Touched> {
        self.patients
            .iter()
            .map(|p| Touched::patient(&p.id))
            .collect()
    }
}

impl Audited for pb::RecordAssessmentRequest {
    fn touched(&self) -> Vec<Touched> {
        self.assessment
            .iter()
            .map(|a| Touched::of("", &a.patient_id))
            .collect()
    }
}

impl Audited for pb::GetAssessmentRequest {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::of(&self.id, "")]
    }
}

impl Audited for pb::ListAssessmentsRequest {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::of("", &self.patient_id)]
    }
}

impl Audited for pb::Assessment {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::of(&self.id, &self.patient_id)]
    }
}

impl Audited for pb::ListAssessmentsResponse {
    fn touched(&self) -> Vec<Touched> {
        self.assessments.iter().flat_map(Audited::touched).collect()
    }
}

impl Audited for pb::ListSafetyFlagsRequest {
    fn touched(&self) -> Vec<Touched> {
        if self.patient_id.is_empty() {
            Vec::new()
        } else {
            vec![Touched::of("", &self.patient_id)]
        }
    }
}

impl Audited for pb::AcknowledgeSafetyFlagRequest {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::of(&self.id, "")]
    }
}

impl Audited for pb::SafetyFlag {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::of(&self.id, &self.patient_id)]
    }
}

impl Audited for pb::ListSafetyFlagsResponse {
    fn touched(&self) -> Vec<Touched> {
        self.flags.iter().flat_map(Audited::touched).collect()
    }
}

impl Audited for pb::CreatePlanRequest {
    fn touched(&self) -> Vec<Touched> {
        self.plan
            .iter()
            .map(|p| Touched::of("", &p.patient_id))
            .collect()
    }
}

impl Audited for pb::GetPlanRequest {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::of(&self.id, "")]
    }
}

impl Audited for pb::ListPlansRequest {
    fn touched(&self) -> Vec<Touched> {
        if self.patient_id.is_empty() {
            Vec::new()
        } else {
            vec![Touched::of("", &self.patient_id)]
        }
    }
}

impl Audited for pb::ListPlanVersionsRequest {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::of(&self.id, "")]
    }
}

impl Audited for pb::UpdatePlanRequest {
    fn touched(&self) -> Vec<Touched> {
        self.plan.iter().map(|p| Touched::of(&p.id, "")).collect()
    }
}

impl Audited for pb::SignPlanRequest {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::of(&self.id, "")]
    }
}

impl Audited for pb::RevisePlanRequest {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::of(&self.id, "")]
    }
}

impl Audited for pb::RecordGoalProgressRequest {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::of(&self.id, "")]
    }
}

impl Audited for pb::TreatmentPlan {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::of(&self.id, &self.patient_id)]
    }
}

impl Audited for pb::ListPlansResponse {
    fn touched(&self) -> Vec<Touched> {
        self.plans.iter().flat_map(Audited::touched).collect()
    }
}

impl Audited for pb::CreateConsentRequest {
    fn touched(&self) -> Vec<Touched> {
        self.consent
            .iter()
            .map(|c| Touched::of("", &c.patient_id))
            .collect()
    }
}

impl Audited for pb::GetConsentRequest {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::of(&self.id, "")]
    }
}

impl Audited for pb::ListConsentsRequest {
    fn touched(&self) -> Vec<Touched> {
        if self.patient_id.is_empty() {
            Vec::new()
        } else {
            vec![Touched::of("", &self.patient_id)]
        }
    }
}

impl Audited for pb::RevokeConsentRequest {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::of(&self.id, "")]
    }
}

impl Audited for pb::CheckDisclosureRequest {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::of("", &self.patient_id)]
    }
}

impl Audited for pb::CreateContactRequest {
    fn touched(&self) -> Vec<Touched> {
        self.contact
            .iter()
            .map(|c| Touched::of("", &c.patient_id))
            .collect()
    }
}

impl Audited for pb::GetContactRequest {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::of(&self.id, "")]
    }
}

impl Audited for pb::ListContactsRequest {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::of("", &self.patient_id)]
    }
}

impl Audited for pb::UpdateContactRequest {
    fn touched(&self) -> Vec<Touched> {
        self.contact
            .iter()
            .map(|c| Touched::of(&c.id, ""))
            .collect()
    }
}

impl Audited for pb::Consent {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::of(&self.id, &self.patient_id)]
    }
}

impl Audited for pb::Contact {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::of(&self.id, &self.patient_id)]
    }
}

impl Audited for pb::ListConsentsResponse {
    fn touched(&self) -> Vec<Touched> {
        self.consents.iter().flat_map(Audited::touched).collect()
    }
}

impl Audited for pb::ListContactsResponse {
    fn touched(&self) -> Vec<Touched> {
        self.contacts.iter().flat_map(Audited::touched).collect()
    }
}

impl Audited for pb::DisclosureDecision {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::of(&self.consent_id, &self.patient_id)]
    }
}

impl Audited for pb::GetReferralRequest {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::of(&self.id, "")]
    }
}

impl Audited for pb::ReviewReferralRequest {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::of(&self.id, "")]
    }
}

impl Audited for pb::AcceptReferralRequest {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::of(&self.id, "")]
    }
}

impl Audited for pb::ScheduleIntakeRequest {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::of(&self.id, "")]
    }
}

impl Audited for pb::MarkAdmittedRequest {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::of(&self.id, "")]
    }
}

impl Audited for pb::DeclineReferralRequest {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::of(&self.id, "")]
    }
}

impl Audited for pb::CreateReferralRequest {
    fn touched(&self) -> Vec<Touched> {
        Vec::new()
    }
}

impl Audited for pb::ListReferralsRequest {
    fn touched(&self) -> Vec<Touched> {
        Vec::new()
    }
}

/// The patient it led to, once accepted (never known to a partner's view).
impl Audited for pb::Referral {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::of(&self.id, &self.patient_id)]
    }
}

impl Audited for pb::ListReferralsResponse {
    fn touched(&self) -> Vec<Touched> {
        self.referrals.iter().flat_map(Audited::touched).collect()
    }
}

impl Audited for pb::CreateNoteRequest {
    fn touched(&self) -> Vec<Touched> {
        self.note
            .iter()
            .map(|n| Touched::of("", &n.patient_id))
            .collect()
    }
}

impl Audited for pb::GetNoteRequest {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::of(&self.id, "")]
    }
}

impl Audited for pb::ListNotesRequest {
    fn touched(&self) -> Vec<Touched> {
        if self.patient_id.is_empty() {
            Vec::new()
        } else {
            vec![Touched::of("", &self.patient_id)]
        }
    }
}

impl Audited for pb::UpdateNoteRequest {
    fn touched(&self) -> Vec<Touched> {
        self.note.iter().map(|n| Touched::of(&n.id, "")).collect()
    }
}

impl Audited for pb::SignNoteRequest {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::of(&self.id, "")]
    }
}

impl Audited for pb::AddAddendumRequest {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::of(&self.id, "")]
    }
}

impl Audited for pb::Note {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::of(&self.id, &self.patient_id)]
    }
}

impl Audited for pb::ListNotesResponse {
    fn touched(&self) -> Vec<Touched> {
        self.notes.iter().flat_map(Audited::touched).collect()
    }
}

impl Audited for pb::CreateEpisodeRequest {
    fn touched(&self) -> Vec<Touched> {
        self.episode
            .iter()
            .map(|e| Touched::of("", &e.patient_id))
            .collect()
    }
}

impl Audited for pb::GetEpisodeRequest {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::of(&self.id, "")]
    }
}

impl Audited for pb::ListEpisodesRequest {
    fn touched(&self) -> Vec<Touched> {
        if self.patient_id.is_empty() {
            Vec::new()
        } else {
            vec![Touched::of("", &self.patient_id)]
        }
    }
}

impl Audited for pb::UpdateEpisodeRequest {
    fn touched(&self) -> Vec<Touched> {
        self.episode
            .iter()
            .map(|e| Touched::of(&e.id, ""))
            .collect()
    }
}

impl Audited for pb::AdmitEpisodeRequest {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::of(&self.id, "")]
    }
}

impl Audited for pb::ChangeLevelOfCareRequest {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::of(&self.id, "")]
    }
}

impl Audited for pb::DischargeEpisodeRequest {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::of(&self.id, "")]
    }
}

impl Audited for pb::Episode {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::of(&self.id, &self.patient_id)]
    }
}

impl Audited for pb::ListEpisodesResponse {
    fn touched(&self) -> Vec<Touched> {
        self.episodes.iter().flat_map(Audited::touched).collect()
    }
}

impl Downstream {
    /// Lazily connecting clients: the gateway starts even when a service is still down.
    pub fn new(
        records_url: &str,
        key: Arc<InternalKey>,
        timeout: Duration,
        audit_log: AuditLog,
    ) -> Result<Self, tonic::transport::Error> {
        let channel = Endpoint::from_shared(records_url.to_owned())?
            .connect_timeout(Duration::from_secs(1))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true)
            .connect_lazy();
        Ok(Self {
            records: channel.clone(),
            records_health: HealthClient::new(channel),
            key,
            timeout,
            audit_log,
        })
    }

    /// Makes the service call `op` for `who`: authorizes it, seals the principal onto it,
    /// sends it with a deadline, and writes the audit trail — denied, failed or successful —
    /// before the caller may answer. Every call to a service passes here, REST and gRPC.
    pub async fn forward<C, Req, Res, Fut>(
        &self,
        who: &Principal,
        op: Operation,
        message: Req,
        send: impl FnOnce(C, tonic::Request<Req>) -> Fut,
    ) -> Result<Res, tonic::Status>
    where
        C: RecordsClient,
        Req: Audited,
        Res: Audited,
        Fut: Future<Output = Result<tonic::Response<Res>, tonic::Status>>,
    {
        let requested = message.touched();
        if let Err(denied) = policy::authorize(who, op) {
            tracing::info!(operation = ?op, subject = %who.subject, reason = %denied, "denied");
            self.audit(
                who,
                op,
                Outcome::Denied,
                tonic::Code::PermissionDenied,
                requested,
            )
            .await?;
            return Err(tonic::Status::permission_denied(denied.0));
        }
        let result = self
            .call(send(C::on(self.records.clone()), self.seal(who, message)))
            .await;
        match &result {
            Ok(res) => {
                self.audit(who, op, Outcome::Success, tonic::Code::Ok, res.touched())
                    .await?
            }
            Err(status) => {
                self.audit(who, op, Outcome::Failed, status.code(), requested)
                    .await?
            }
        }
        result
    }

    /// One event per resource touched (one without a resource when there is none), so that
    /// "who saw this patient" finds every access, list results included.
    async fn audit(
        &self,
        who: &Principal,
        op: Operation,
        outcome: Outcome,
        code: tonic::Code,
        touched: Vec<Touched>,
    ) -> Result<(), tonic::Status> {
        let (resource, _) = op.permission();
        let base = AuditEvent::new(who, op.audit_action(), resource.name(), outcome, code);
        let events = if touched.is_empty() {
            vec![base]
        } else {
            touched
                .into_iter()
                .map(|t| AuditEvent {
                    resource_id: t.resource_id,
                    patient_id: t.patient_id,
                    ..base.clone()
                })
                .collect()
        };
        self.audit_log
            .record(events)
            .await
            .map_err(tonic::Status::from)
    }

    /// The request as the service receives it: sealed principal, request id, trace context
    /// and deadline.
    fn seal<T>(&self, principal: &Principal, message: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(message);
        req.set_timeout(self.timeout);
        if let Ok(v) = MetadataValue::try_from(self.key.seal(principal)) {
            req.metadata_mut().insert(PRINCIPAL_HEADER, v);
        }
        if let Ok(v) = MetadataValue::try_from(principal.request_id.as_str()) {
            req.metadata_mut().insert("x-request-id", v);
        }
        let mut trace = http::HeaderMap::new();
        iop_telemetry::inject_context(&mut trace);
        for (name, value) in &trace {
            if let (Ok(k), Ok(v)) = (
                MetadataKey::from_bytes(name.as_str().as_bytes()),
                MetadataValue::try_from(value.as_bytes()),
            ) {
                req.metadata_mut().insert(k, v);
            }
        }
        req
    }

    /// Awaits a service call within the deadline and drops the service's own metadata.
    async fn call<T>(
        &self,
        fut: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, tonic::Status> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(result) => result.map(tonic::Response::into_inner),
            Err(_) => Err(tonic::Status::deadline_exceeded(
                "a backing service did not answer in time",
            )),
        }
    }

    /// Readiness of the records service, with a short deadline.
    pub async fn records_ready(&self) -> bool {
        let mut client = self.records_health.clone();
        let check = client.check(HealthCheckRequest {
            service: String::new(),
        });
        matches!(
            tokio::time::timeout(Duration::from_secs(1), check).await,
            Ok(Ok(res)) if res.get_ref().status == ServingStatus::Serving as i32
        )
    }
}
