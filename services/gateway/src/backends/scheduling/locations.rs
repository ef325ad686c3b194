//! `/v1/locations`: the clinic's sites, REST and JSON over `iop.scheduling.v1.LocationService`.

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

/// A site of the clinic.
#[derive(Debug, Serialize, ToSchema)]
pub struct Location {
    #[schema(format = Uuid)]
    pub id: String,
    pub name: String,
    /// Working hours, series and weeks of this location are read in it.
    #[schema(value_type = text::TimeZone)]
    pub time_zone: String,
    pub address: String,
    #[schema(format = DateTime)]
    pub create_time: String,
}

/// A new site.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLocation {
    /// Unique within the clinic (whatever the case).
    #[schema(value_type = text::Name)]
    pub name: String,
    /// IANA time zone, e.g. `America/Los_Angeles`.
    #[schema(value_type = text::TimeZone, example = "America/Los_Angeles")]
    pub time_zone: String,
    #[serde(default)]
    #[schema(value_type = text::Line)]
    pub address: String,
}

crate::rest::listed! {
    LocationList { locations: Location } from pb::ListLocationsResponse, by from_proto
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LocationParams {
    /// 1-200, default 50.
    #[param(minimum = 0)]
    pub page_size: Option<i32>,
    pub page_token: Option<String>,
}

/// Add a site. Send an `Idempotency-Key` to make retries safe.
#[utoipa::path(post, path = "/v1/locations", tag = "locations", request_body = NewLocation,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Retrying with the same key returns the location created the first time")),
    responses(
        (status = 201, description = "Created", body = Location, headers(("Location" = String))),
        (status = 409, description = "The clinic already has a location of this name", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, Problem> {
    let new: NewLocation = body.parse()?;
    let message = pb::CreateLocationRequest {
        location: Some(pb::Location {
            name: new.name,
            time_zone: new.time_zone,
            address: new.address,
            ..Default::default()
        }),
        request_id: idempotency_key(&headers)?,
    };
    crate::rest::create(&st, &who, super::CreateLocation, message, None).await
}

/// Read a site.
#[utoipa::path(get, path = "/v1/locations/{id}", tag = "locations",
    responses((status = 200, description = "The location", body = Location)),
    security(("bearer" = [])))]
pub async fn get(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    answer(&st, &who, super::GetLocation, pb::GetLocationRequest { id }).await
}

/// The clinic's sites, oldest first.
#[utoipa::path(get, path = "/v1/locations", tag = "locations", params(LocationParams),
    responses((status = 200, description = "A page of locations", body = LocationList)),
    security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(p): Query<LocationParams>,
) -> Result<Json<LocationList>, Problem> {
    let message = pb::ListLocationsRequest {
        page_size: p.page_size.unwrap_or(0),
        page_token: p.page_token.unwrap_or_default(),
    };
    crate::rest::list(
        &st,
        &who,
        super::ListLocations,
        message,
        pb::Location::problem,
    )
    .await
}

fn from_proto(l: pb::Location) -> Location {
    Location {
        id: l.id,
        name: l.name,
        time_zone: l.time_zone,
        address: l.address,
        create_time: rfc3339(l.create_time.as_ref()),
    }
}

shown! { pb::Location => Location, by from_proto, at "/v1/locations", fields "location." }
