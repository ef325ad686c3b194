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
use iop_proto::internal::GetResourceOwnerRequest;
use iop_proto::internal::resource_owner_service_client::ResourceOwnerServiceClient;
use iop_proto::records as pb;
use iop_proto::records::assessment_service_client::AssessmentServiceClient;
use iop_proto::records::consent_service_client::ConsentServiceClient;
use iop_proto::records::contact_service_client::ContactServiceClient;
use iop_proto::records::episode_service_client::EpisodeServiceClient;
use iop_proto::records::note_service_client::NoteServiceClient;
use iop_proto::records::patient_service_client::PatientServiceClient;
use iop_proto::records::referral_service_client::ReferralServiceClient;
use iop_proto::records::treatment_plan_service_client::TreatmentPlanServiceClient;
use tokio::time::Instant;
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

/// The name clients see when the records service fails.
const RECORDS: &str = "records";

/// The only message our services put on INTERNAL (see `iop_core::Error`); an INTERNAL with
/// any other text was made by the transport on our side of the call.
const SERVICE_INTERNAL: &str = "internal error";

fn too_slow(service: &str) -> tonic::Status {
    tonic::Status::deadline_exceeded(format!("the {service} service did not answer in time"))
}

/// What a failed call to `service` tells the client: what happened, and to whom. Our
/// services answer only with the codes of `iop_core::Error`; anything else is the
/// transport's. The service's own timer answers CANCELLED ("Timeout expired") when the
/// deadline we sent passes, just as ours fires DEADLINE_EXCEEDED: both mean "too slow" (504),
/// never "cancelled" (499). A connection that failed, was refused or reset, or an HTTP/2
/// error (a frozen peer makes the client library give up with ENHANCE_YOUR_CALM, which it
/// reports as RESOURCE_EXHAUSTED) means the service is unavailable (503), never "too many
/// requests" (429).
fn failure(service: &str, status: tonic::Status) -> tonic::Status {
    use tonic::Code;
    let transport = match status.code() {
        Code::Cancelled | Code::DeadlineExceeded => return too_slow(service),
        Code::Unavailable | Code::Unknown | Code::ResourceExhausted | Code::DataLoss => true,
        Code::Internal => status.message() != SERVICE_INTERNAL,
        Code::Ok
        | Code::InvalidArgument
        | Code::NotFound
        | Code::AlreadyExists
        | Code::PermissionDenied
        | Code::FailedPrecondition
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unimplemented
        | Code::Unauthenticated => false,
    };
    if !transport {
        return status;
    }
    tracing::warn!(service, code = ?status.code(), error = %status.message(), "downstream call failed");
    tonic::Status::unavailable(format!(
        "the {service} service is unavailable; retry shortly"
    ))
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

/// `Audited` for the common shapes of records messages.
macro_rules! audited {
    // Requests about the resource `id` (its patient is known once the service answers).
    (by_id: $($t:ident),+) => {
        $(impl Audited for pb::$t {
            fn touched(&self) -> Vec<Touched> {
                vec![Touched::of(&self.id, "")]
            }
        })+
    };
    // Resources: their own id under their patient.
    (resource: $($t:ident),+) => {
        $(impl Audited for pb::$t {
            fn touched(&self) -> Vec<Touched> {
                vec![Touched::of(&self.id, &self.patient_id)]
            }
        })+
    };
    // Requests about one patient's record.
    (patient: $($t:ident),+) => {
        $(impl Audited for pb::$t {
            fn touched(&self) -> Vec<Touched> {
                vec![Touched::of("", &self.patient_id)]
            }
        })+
    };
    // Lists that may be filtered to one patient.
    (patient_filter: $($t:ident),+) => {
        $(impl Audited for pb::$t {
            fn touched(&self) -> Vec<Touched> {
                if self.patient_id.is_empty() {
                    Vec::new()
                } else {
                    vec![Touched::of("", &self.patient_id)]
                }
            }
        })+
    };
    // Requests that name no patient (yet).
    (nothing: $($t:ident),+) => {
        $(impl Audited for pb::$t {
            fn touched(&self) -> Vec<Touched> {
                Vec::new()
            }
        })+
    };
    // List responses: every resource returned.
    (list: $($t:ident . $f:ident),+) => {
        $(impl Audited for pb::$t {
            fn touched(&self) -> Vec<Touched> {
                self.$f.iter().flat_map(Audited::touched).collect()
            }
        })+
    };
    // Create requests: the patient of the resource in field `$f`.
    (creates: $($t:ident . $f:ident),+) => {
        $(impl Audited for pb::$t {
            fn touched(&self) -> Vec<Touched> {
                self.$f.iter().map(|r| Touched::of("", &r.patient_id)).collect()
            }
        })+
    };
    // Update requests: the resource in field `$f`, by id.
    (updates: $($t:ident . $f:ident),+) => {
        $(impl Audited for pb::$t {
            fn touched(&self) -> Vec<Touched> {
                self.$f.iter().map(|r| Touched::of(&r.id, "")).collect()
            }
        })+
    };
}

audited!(by_id:
    GetAssessmentRequest,
    AcknowledgeSafetyFlagRequest,
    GetPlanRequest,
    ListPlanVersionsRequest,
    SignPlanRequest,
    RevisePlanRequest,
    RecordGoalProgressRequest,
    GetConsentRequest,
    RevokeConsentRequest,
    GetContactRequest,
    GetReferralRequest,
    ReviewReferralRequest,
    AcceptReferralRequest,
    ScheduleIntakeRequest,
    MarkAdmittedRequest,
    DeclineReferralRequest,
    GetNoteRequest,
    SignNoteRequest,
    AddAddendumRequest,
    GetEpisodeRequest,
    AdmitEpisodeRequest,
    ChangeLevelOfCareRequest,
    DischargeEpisodeRequest
);
audited!(resource:
    Assessment,
    SafetyFlag,
    TreatmentPlan,
    Consent,
    Contact,
    Referral,
    Note,
    Episode
);
audited!(patient:
    ListAssessmentsRequest,
    CheckDisclosureRequest,
    ListContactsRequest
);
audited!(patient_filter:
    ListSafetyFlagsRequest,
    ListPlansRequest,
    ListConsentsRequest,
    ListNotesRequest,
    ListEpisodesRequest
);
audited!(nothing:
    CreatePatientRequest,
    ListPatientsRequest,
    CreateReferralRequest,
    ListReferralsRequest
);
audited!(list:
    ListAssessmentsResponse.assessments,
    ListSafetyFlagsResponse.flags,
    ListPlansResponse.plans,
    ListConsentsResponse.consents,
    ListContactsResponse.contacts,
    ListReferralsResponse.referrals,
    ListNotesResponse.notes,
    ListEpisodesResponse.episodes
);
audited!(creates:
    RecordAssessmentRequest.assessment,
    CreatePlanRequest.plan,
    CreateConsentRequest.consent,
    CreateContactRequest.contact,
    CreateNoteRequest.note,
    CreateEpisodeRequest.episode
);
audited!(updates:
    UpdatePlanRequest.plan,
    UpdateNoteRequest.note,
    UpdateContactRequest.contact,
    UpdateEpisodeRequest.episode
);

impl Audited for pb::GetPatientRequest {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::patient(&self.id)]
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

impl Audited for pb::DisclosureDecision {
    fn touched(&self) -> Vec<Touched> {
        vec![Touched::of(&self.consent_id, &self.patient_id)]
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
    /// sends it, and writes the audit trail — denied, failed or successful — before the
    /// caller may answer. A change is forwarded only once its attempt is in the trail, so no
    /// change ever exists unaudited (see [`crate::audit`]). The whole call, audit writes
    /// included, is bounded by one deadline. Every call to a service passes here, REST and
    /// gRPC.
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
        let deadline = Instant::now() + self.timeout;
        let requested = message.touched();
        if let Err(denied) = policy::authorize(who, op) {
            tracing::info!(operation = ?op, subject = %who.subject, reason = %denied, "denied");
            let requested = self.with_owners(who, op, requested, deadline).await;
            let events = self.events(
                who,
                op,
                Outcome::Denied,
                tonic::Code::PermissionDenied,
                requested,
            );
            self.audit_log.record_kept(events, deadline).await?;
            return Err(tonic::Status::permission_denied(denied.0));
        }
        let attempt = if op.changes() {
            let events = self.events(
                who,
                op,
                Outcome::Attempted,
                tonic::Code::Ok,
                requested.clone(),
            );
            Some(self.audit_log.attempt(events, deadline).await?)
        } else {
            None
        };
        let result = self
            .call(
                deadline,
                send(
                    C::on(self.records.clone()),
                    self.seal(who, message, deadline),
                ),
            )
            .await;
        let events = match &result {
            Ok(res) => self.events(who, op, Outcome::Success, tonic::Code::Ok, res.touched()),
            // The service's own rules refused it (another clinician's psychotherapy note…).
            Err(status) if status.code() == tonic::Code::PermissionDenied => {
                let requested = self.with_owners(who, op, requested, deadline).await;
                self.events(who, op, Outcome::Denied, status.code(), requested)
            }
            Err(status) => self.events(who, op, Outcome::Failed, status.code(), requested),
        };
        match (attempt, &result) {
            // The change is audited by its attempt; its outcome follows even if the trail
            // is slow now, and the client learns what happened to its change.
            (Some(attempt), _) => self.audit_log.conclude(attempt, events, deadline).await,
            // Nothing is disclosed before its record is durable.
            (None, Ok(_)) => self.audit_log.record_by(events, deadline).await?,
            // Nothing was disclosed; the failure is recorded even if late. A call that ran
            // out of time is answered as such, not as an audit failure.
            (None, Err(_)) => {
                let recorded = self.audit_log.record_kept(events, deadline).await;
                if Instant::now() < deadline {
                    recorded?;
                }
            }
        }
        result
    }

    /// `touched` with the patient of each resource named only by id filled in, asked of the
    /// service that holds it (within the caller's tenant, within the deadline): a refused
    /// access is recorded under the patient it concerned, though the caller learns nothing.
    async fn with_owners(
        &self,
        who: &Principal,
        op: Operation,
        mut touched: Vec<Touched>,
        deadline: Instant,
    ) -> Vec<Touched> {
        let resource_type = op.permission().0.name();
        for t in touched
            .iter_mut()
            .filter(|t| !t.resource_id.is_empty() && t.patient_id.is_empty())
        {
            let message = GetResourceOwnerRequest {
                resource_type: resource_type.to_owned(),
                id: t.resource_id.clone(),
            };
            let mut client = ResourceOwnerServiceClient::new(self.records.clone());
            let asked = client.get_resource_owner(self.seal(who, message, deadline));
            if let Ok(Ok(owner)) = tokio::time::timeout_at(deadline, asked).await {
                t.patient_id = owner.into_inner().patient_id;
            }
        }
        touched
    }

    /// One event per resource touched (one without a resource when there is none), so that
    /// "who saw this patient" finds every access, list results included.
    fn events(
        &self,
        who: &Principal,
        op: Operation,
        outcome: Outcome,
        code: tonic::Code,
        touched: Vec<Touched>,
    ) -> Vec<AuditEvent> {
        let (resource, _) = op.permission();
        let base = AuditEvent::new(who, op.audit_action(), resource.name(), outcome, code);
        if touched.is_empty() {
            return vec![base];
        }
        touched
            .into_iter()
            .map(|t| AuditEvent {
                resource_id: t.resource_id,
                patient_id: t.patient_id,
                ..base.clone()
            })
            .collect()
    }

    /// The request as the service receives it: sealed principal, request id, trace context
    /// and deadline.
    fn seal<T>(&self, principal: &Principal, message: T, deadline: Instant) -> tonic::Request<T> {
        let mut req = tonic::Request::new(message);
        req.set_timeout(deadline.saturating_duration_since(Instant::now()));
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
        deadline: Instant,
        fut: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, tonic::Status> {
        match tokio::time::timeout_at(deadline, fut).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(failure(RECORDS, status)),
            Err(_) => Err(too_slow(RECORDS)),
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
