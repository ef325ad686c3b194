//! gRPC at the gateway: the same `iop.records.v1` API, authenticated here and forwarded to
//! the records service with the caller's principal.

use iop_core::Principal;
use iop_proto::records::{self as pb, patient_service_server::PatientService};
use tonic::{Request, Response, Status};

use crate::downstream::Downstream;
use crate::policy::Operation;

pub struct PatientProxy {
    down: Downstream,
}

impl PatientProxy {
    pub fn new(down: Downstream) -> Self {
        Self { down }
    }

    fn forward<T>(&self, op: Operation, req: Request<T>) -> Result<Request<T>, Status> {
        let principal = req
            .extensions()
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| Status::unauthenticated("missing bearer token"))?;
        self.down
            .request(&principal, op, req.into_inner())
            .map_err(|denied| Status::permission_denied(denied.0))
    }
}

#[tonic::async_trait]
impl PatientService for PatientProxy {
    async fn create_patient(
        &self,
        req: Request<pb::CreatePatientRequest>,
    ) -> Result<Response<pb::Patient>, Status> {
        let req = self.forward(Operation::CreatePatient, req)?;
        self.down
            .call(self.down.records.clone().create_patient(req))
            .await
            .map(Response::new)
    }

    async fn get_patient(
        &self,
        req: Request<pb::GetPatientRequest>,
    ) -> Result<Response<pb::Patient>, Status> {
        let req = self.forward(Operation::GetPatient, req)?;
        self.down
            .call(self.down.records.clone().get_patient(req))
            .await
            .map(Response::new)
    }

    async fn list_patients(
        &self,
        req: Request<pb::ListPatientsRequest>,
    ) -> Result<Response<pb::ListPatientsResponse>, Status> {
        let req = self.forward(Operation::ListPatients, req)?;
        self.down
            .call(self.down.records.clone().list_patients(req))
            .await
            .map(Response::new)
    }

    async fn update_patient(
        &self,
        req: Request<pb::UpdatePatientRequest>,
    ) -> Result<Response<pb::Patient>, Status> {
        let req = self.forward(Operation::UpdatePatient, req)?;
        self.down
            .call(self.down.records.clone().update_patient(req))
            .await
            .map(Response::new)
    }
}
