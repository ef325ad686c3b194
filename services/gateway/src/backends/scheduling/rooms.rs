//! `/v1/rooms`: rooms of the clinic's locations, REST and JSON over
//! `iop.scheduling.v1.LocationService`.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::{Extension, Json};
use http::HeaderMap;
use iop_core::Principal;
use iop_proto::scheduling as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::problem::Problem;
use crate::rest::extract::{JsonObject, Query};
use crate::rest::{Shown, answer, idempotency_key, rfc3339, shown, text};

/// A room of a location.
#[derive(Debug, Serialize, ToSchema)]
pub struct Room {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub location_id: String,
    pub name: String,
    /// How many people it seats.
    pub capacity: i32,
    /// An inactive room takes no new bookings.
    pub active: bool,
    #[schema(format = DateTime)]
    pub create_time: String,
}

/// A new room.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRoom {
    /// A location of the clinic.
    #[schema(format = Uuid)]
    pub location_id: String,
    /// Unique within its location (whatever the case).
    #[schema(value_type = text::Name)]
    pub name: String,
    /// How many people it seats.
    #[serde(deserialize_with = "crate::rest::extract::whole_number")]
    #[schema(minimum = 1, maximum = 500)]
    pub capacity: i32,
    /// Default true.
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

crate::rest::listed! {
    RoomList { rooms: Room } from pb::ListRoomsResponse, by from_proto
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RoomParams {
    /// Only this location's rooms.
    #[param(format = Uuid)]
    pub location_id: Option<String>,
    /// Only active ones.
    pub active_only: Option<bool>,
    /// 1-200, default 50.
    #[param(minimum = 0)]
    pub page_size: Option<i32>,
    pub page_token: Option<String>,
}

/// Add a room to a location. Send an `Idempotency-Key` to make retries safe.
#[utoipa::path(post, path = "/v1/rooms", tag = "rooms", request_body = NewRoom,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Retrying with the same key returns the room created the first time")),
    responses(
        (status = 201, description = "Created", body = Room, headers(("Location" = String))),
        (status = 404, description = "No such location in your clinic", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The location already has a room of this name", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, Problem> {
    let new: NewRoom = body.parse()?;
    let message = pb::CreateRoomRequest {
        room: Some(pb::Room {
            location_id: new.location_id,
            name: new.name,
            capacity: new.capacity,
            active: new.active,
            ..Default::default()
        }),
        request_id: idempotency_key(&headers)?,
    };
    crate::rest::create(&st, &who, super::CreateRoom, message, None).await
}

/// Read a room.
#[utoipa::path(get, path = "/v1/rooms/{id}", tag = "rooms",
    responses((status = 200, description = "The room", body = Room)),
    security(("bearer" = [])))]
pub async fn get(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    answer(&st, &who, super::GetRoom, pb::GetRoomRequest { id }).await
}

/// The clinic's rooms, oldest first.
#[utoipa::path(get, path = "/v1/rooms", tag = "rooms", params(RoomParams),
    responses((status = 200, description = "A page of rooms", body = RoomList)),
    security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(p): Query<RoomParams>,
) -> Result<Json<RoomList>, Problem> {
    let message = pb::ListRoomsRequest {
        location_id: p.location_id.unwrap_or_default(),
        active_only: p.active_only.unwrap_or(false),
        page_size: p.page_size.unwrap_or(0),
        page_token: p.page_token.unwrap_or_default(),
    };
    crate::rest::list(&st, &who, super::ListRooms, message, pb::Room::problem).await
}

fn from_proto(r: pb::Room) -> Room {
    Room {
        id: r.id,
        location_id: r.location_id,
        name: r.name,
        capacity: r.capacity,
        active: r.active,
        create_time: rfc3339(r.create_time.as_ref()),
    }
}

shown! { pb::Room => Room, by from_proto, at "/v1/rooms", fields "room." }
