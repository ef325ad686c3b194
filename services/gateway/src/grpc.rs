//! The gRPC APIs the gateway answers itself: the audit trail and the client registry. The
//! services behind it are served by their backends' declarations (see `backends/`).

use iop_core::Principal;
use tonic::{Request, Response, Status};

/// The caller the auth layer verified (every gRPC call at the gateway passes it).
pub(crate) fn principal<T>(req: &Request<T>) -> Result<Principal, Status> {
    req.extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("missing bearer token"))
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
    use iop_proto::clients as pbc;
    pbc::Client {
        client_id: c.client_id,
        name: c.name,
        kind: c.kind.to_proto(),
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
        let who = principal(&req)?;
        let c = req
            .into_inner()
            .client
            .ok_or_else(|| Status::from(iop_core::Error::field("client", "is required")))?;
        let kind = ClientKind::from_proto(c.kind).ok_or_else(|| {
            iop_core::Error::field("client.kind", "must be ehr, front_end or referral_partner")
        })?;
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
