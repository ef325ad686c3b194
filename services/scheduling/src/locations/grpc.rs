//! `iop.scheduling.v1.LocationService`: locations and their rooms.

use iop_core::{LocationId, RoomId};
use iop_kit::principal;
use iop_proto::scheduling::{self as pb, location_service_server::LocationService};
use iop_proto::timestamp_from_micros;
use tonic::{Request, Response, Status};

use super::{Location, Locations, NewLocation};
use crate::rooms::{NewRoom, Room, Rooms};

pub struct LocationApi {
    locations: Locations,
    rooms: Rooms,
}

impl LocationApi {
    pub fn new(locations: Locations, rooms: Rooms) -> Self {
        Self { locations, rooms }
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

    async fn create_room(
        &self,
        req: Request<pb::CreateRoomRequest>,
    ) -> Result<Response<pb::Room>, Status> {
        let who = principal(&req)?;
        let r = req.into_inner();
        let room = r.room.unwrap_or_default();
        let new = NewRoom {
            location_id: match room.location_id.as_str() {
                "" => None,
                id => Some(LocationId::parse("room.location_id", id)?),
            },
            name: room.name,
            capacity: room.capacity,
            active: room.active,
        };
        let made = self.rooms.create(&who, new, &r.request_id).await?;
        Ok(Response::new(room_to_proto(made)))
    }

    async fn get_room(
        &self,
        req: Request<pb::GetRoomRequest>,
    ) -> Result<Response<pb::Room>, Status> {
        let who = principal(&req)?;
        let id = RoomId::parse("id", &req.get_ref().id)?;
        Ok(Response::new(room_to_proto(
            self.rooms.get(&who, id).await?,
        )))
    }

    async fn list_rooms(
        &self,
        req: Request<pb::ListRoomsRequest>,
    ) -> Result<Response<pb::ListRoomsResponse>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let location = match r.location_id.as_str() {
            "" => None,
            id => Some(LocationId::parse("location_id", id)?),
        };
        let (rows, next) = self
            .rooms
            .list(&who, location, r.active_only, r.page_size, &r.page_token)
            .await?;
        Ok(Response::new(pb::ListRoomsResponse {
            rooms: rows.into_iter().map(room_to_proto).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }
}

fn room_to_proto(r: Room) -> pb::Room {
    pb::Room {
        id: r.id.to_string(),
        location_id: r.location_id.to_string(),
        name: r.name,
        capacity: r.capacity,
        active: r.active,
        create_time: Some(timestamp_from_micros(r.create_time_us)),
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
