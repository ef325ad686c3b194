//! `iop.scheduling.v1.LocationService`.

use iop_core::LocationId;
use iop_kit::principal;
use iop_proto::scheduling::{self as pb, location_service_server::LocationService};
use iop_proto::timestamp_from_micros;
use tonic::{Request, Response, Status};

use super::{Location, Locations, NewLocation};

pub struct LocationApi {
    locations: Locations,
}

impl LocationApi {
    pub fn new(locations: Locations) -> Self {
        Self { locations }
    }
}

#[tonic::async_trait]
impl LocationService for LocationApi {
    async fn create_location(
        &self,
        req: Request<pb::CreateLocationRequest>,
    ) -> Result<Response<pb::Location>, Status> {
        let who = principal(&req)?;
        let r = req.into_inner();
        let l = r.location.unwrap_or_default();
        let new = NewLocation {
            name: l.name,
            time_zone: l.time_zone,
            address: l.address,
        };
        let made = self.locations.create(&who, new, &r.request_id).await?;
        Ok(Response::new(to_proto(made)))
    }

    async fn get_location(
        &self,
        req: Request<pb::GetLocationRequest>,
    ) -> Result<Response<pb::Location>, Status> {
        let who = principal(&req)?;
        let id = LocationId::parse("id", &req.get_ref().id)?;
        Ok(Response::new(to_proto(self.locations.get(&who, id).await?)))
    }

    async fn list_locations(
        &self,
        req: Request<pb::ListLocationsRequest>,
    ) -> Result<Response<pb::ListLocationsResponse>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let (rows, next) = self
            .locations
            .list(&who, r.page_size, &r.page_token)
            .await?;
        Ok(Response::new(pb::ListLocationsResponse {
            locations: rows.into_iter().map(to_proto).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }
}

fn to_proto(l: Location) -> pb::Location {
    pb::Location {
        id: l.id.to_string(),
        name: l.name,
        time_zone: l.time_zone,
        address: l.address,
        create_time: Some(timestamp_from_micros(l.create_time_us)),
    }
}
