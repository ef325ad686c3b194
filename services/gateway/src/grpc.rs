//! gRPC at the gateway: the same `iop.records.v1` API, authenticated here and forwarded to
//! the records service with the caller's principal.

use iop_core::Principal;
use iop_proto::records::{self as pb, patient_service_server::PatientService};
use tonic::{Request, Response, Status};

use crate::downstream::Downstream;

type Client =
    iop_proto::records::patient_service_client::PatientServiceClient<tonic::transport::Channel>;
use crate::policy::Operation;

pub struct PatientProxy {
    down: Downstream,
}

impl PatientProxy {
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

#[tonic::async_trait]
impl PatientService for PatientProxy {
    async fn create_patient(
        &self,
        req: Request<pb::CreatePatientRequest>,
    ) -> Result<Response<pb::Patient>, Status> {
        let who = principal(&req)?;
        let send = |mut c: Client, r| async move { c.create_patient(r).await };
        self.down
            .forward(&who, Operation::CreatePatient, req.into_inner(), send)
            .await
            .map(Response::new)
    }

    async fn get_patient(
        &self,
        req: Request<pb::GetPatientRequest>,
    ) -> Result<Response<pb::Patient>, Status> {
        let who = principal(&req)?;
        let send = |mut c: Client, r| async move { c.get_patient(r).await };
        self.down
            .forward(&who, Operation::GetPatient, req.into_inner(), send)
            .await
            .map(Response::new)
    }

    async fn list_patients(
        &self,
        req: Request<pb::ListPatientsRequest>,
    ) -> Result<Response<pb::ListPatientsResponse>, Status> {
        let who = principal(&req)?;
        let send = |mut c: Client, r| async move { c.list_patients(r).await };
        self.down
            .forward(&who, Operation::ListPatients, req.into_inner(), send)
            .await
            .map(Response::new)
    }

    async fn update_patient(
        &self,
        req: Request<pb::UpdatePatientRequest>,
    ) -> Result<Response<pb::Patient>, Status> {
        let who = principal(&req)?;
        let send = |mut c: Client, r| async move { c.update_patient(r).await };
        self.down
            .forward(&who, Operation::UpdatePatient, req.into_inner(), send)
            .await
            .map(Response::new)
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
        let micros = |t: &Option<prost_types::Timestamp>| {
            t.as_ref()
                .map(|t| t.seconds * 1_000_000 + i64::from(t.nanos) / 1000)
        };
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
                    time: Some(prost_types::Timestamp {
                        seconds: e.time_us.div_euclid(1_000_000),
                        nanos: (e.time_us.rem_euclid(1_000_000) * 1000) as i32,
                    }),
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
