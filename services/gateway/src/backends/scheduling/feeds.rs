//! `/v1/calendar-feeds`: iCalendar feeds of a clinician's or a room's schedule, REST and JSON
//! over `iop.scheduling.v1.CalendarFeedService`; and `/ical/{secret}/feed.ics`, where
//! calendar apps (which cannot send a bearer token) fetch a feed by its secret address.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json};
use iop_core::{Principal, TenantId};
use iop_proto::internal::RenderCalendarFeedRequest;
use iop_proto::internal::calendar_feed_render_service_client::CalendarFeedRenderServiceClient;
use iop_proto::scheduling as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::downstream::Touched;
use crate::problem::Problem;
use crate::rest::extract::{JsonObject, Query};
use crate::rest::{Shown, answer, optional_id, present, rfc3339, shown};

/// A calendar feed of one clinician's or one room's schedule.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarFeed {
    #[schema(format = Uuid)]
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid)]
    pub clinician_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid)]
    pub room_id: Option<String>,
    /// Only when the feed is made: the address to subscribe to in a calendar app. It is the
    /// feed's only key and is never shown again; revoke the feed if it leaks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub revoked: bool,
    pub created_by: String,
    #[schema(format = DateTime)]
    pub create_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub revoke_time: Option<String>,
}

/// A feed of exactly one of a clinician's or a room's schedule.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCalendarFeed {
    #[schema(format = Uuid)]
    pub clinician_id: Option<String>,
    #[schema(format = Uuid)]
    pub room_id: Option<String>,
}

crate::rest::listed! {
    CalendarFeedList { feeds: CalendarFeed } from pb::ListCalendarFeedsResponse, by from_proto
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FeedParams {
    #[param(format = Uuid)]
    pub clinician_id: Option<String>,
    #[param(format = Uuid)]
    pub room_id: Option<String>,
    /// 1-200, default 50.
    #[param(minimum = 0)]
    pub page_size: Option<i32>,
    pub page_token: Option<String>,
}

/// Make a calendar feed of a clinician's or a room's schedule: the answer's `url` is the
/// address to subscribe to (shown this once). A feed shows the kind of visit, the room or
/// telehealth and the patient's initials, 30 days back to 180 ahead. A clinician makes one of
/// their own schedule only (403 otherwise).
#[utoipa::path(post, path = "/v1/calendar-feeds", tag = "calendar feeds", request_body = NewCalendarFeed,
    responses(
        (status = 201, description = "Made; `url` is shown only now", body = CalendarFeed, headers(("Location" = String))),
        (status = 404, description = "No such clinician or room in your clinic", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    body: JsonObject,
) -> Result<Response, Problem> {
    let new: NewCalendarFeed = body.parse()?;
    let message = pb::CreateCalendarFeedRequest {
        feed: Some(pb::CalendarFeed {
            clinician_id: optional_id("clinician_id", new.clinician_id)?,
            room_id: optional_id("room_id", new.room_id)?,
            ..Default::default()
        }),
    };
    let made = st
        .down
        .forward(&who, super::CreateCalendarFeed, message)
        .await
        .map_err(pb::CalendarFeed::problem)?;
    let location = format!("/v1/calendar-feeds/{}", made.id);
    let url = format!("{}/ical/{}/feed.ics", st.public_url, made.secret);
    let mut body = from_proto(made);
    body.url = Some(url);
    Ok(crate::rest::created_at(&location, body, None))
}

/// Calendar feeds, oldest first (without their addresses).
#[utoipa::path(get, path = "/v1/calendar-feeds", tag = "calendar feeds", params(FeedParams),
    responses((status = 200, description = "A page of feeds", body = CalendarFeedList)),
    security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(p): Query<FeedParams>,
) -> Result<Json<CalendarFeedList>, Problem> {
    let message = pb::ListCalendarFeedsRequest {
        clinician_id: p.clinician_id.unwrap_or_default(),
        room_id: p.room_id.unwrap_or_default(),
        page_size: p.page_size.unwrap_or(0),
        page_token: p.page_token.unwrap_or_default(),
    };
    crate::rest::list(
        &st,
        &who,
        super::ListCalendarFeeds,
        message,
        pb::CalendarFeed::problem,
    )
    .await
}

/// Revoke a feed: its address stops working at once. Revoking one revoked answers it.
#[utoipa::path(post, path = "/v1/calendar-feeds/{id}/revoke", tag = "calendar feeds",
    responses((status = 200, description = "Revoked", body = CalendarFeed)),
    security(("bearer" = [])))]
pub async fn revoke(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    answer(
        &st,
        &who,
        super::RevokeCalendarFeed,
        pb::RevokeCalendarFeedRequest { id },
    )
    .await
}

/// `/ical/{secret}/feed.ics`, answered without a bearer token: the secret is the key.
pub(crate) fn public_routes() -> axum::Router<AppState> {
    axum::Router::new().route("/ical/{secret}/feed.ics", get(calendar))
}

/// The feed's calendar (`text/calendar`), or 404 for an address that is not a feed in
/// force, saying nothing more. Each patient shown is in the audit trail, under the feed.
async fn calendar(
    State(st): State<AppState>,
    Path(secret): Path<String>,
    request: axum::extract::Request,
) -> Response {
    let source = crate::auth::source_addr(request.extensions());
    if let Err(wait) = st.anonymous.check_address(source.as_deref()) {
        return crate::auth::too_many(wait);
    }
    let not_found = || {
        Problem::new(
            iop_core::ErrorCode::NotFound,
            "no calendar feed at this address (revoked, or never made)",
        )
        .into_response()
    };
    // The secret names its clinic: `<tenant>.<random>`.
    let Some(tenant) = secret
        .split_once('.')
        .and_then(|(tenant, _)| TenantId::parse(tenant).ok())
    else {
        return not_found();
    };
    let who = Principal {
        tenant,
        subject: "calendar-feed".into(),
        client_id: None,
        issuer: "urn:iop:calendar-feed".into(),
        roles: Vec::new(),
        scopes: Vec::new(),
        request_id: crate::request_id::current().unwrap_or_default(),
        source_addr: source,
    };
    let rendered = st
        .down
        .internal(
            &who,
            "scheduling",
            ("calendar_feed.read", "Endpoint"),
            RenderCalendarFeedRequest { secret },
            |channel, req| async move {
                CalendarFeedRenderServiceClient::new(channel)
                    .render_calendar_feed(req)
                    .await
            },
            |r: &iop_proto::internal::RenderedCalendarFeed| {
                if r.patient_ids.is_empty() {
                    return vec![Touched::of(&r.feed_id, "")];
                }
                r.patient_ids
                    .iter()
                    .map(|p| Touched::of(&r.feed_id, p))
                    .collect()
            },
        )
        .await;
    match rendered {
        Ok(r) => (
            [
                (http::header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
                (http::header::CACHE_CONTROL, "private, no-store"),
            ],
            r.calendar,
        )
            .into_response(),
        Err(status) if status.code() == tonic::Code::NotFound => not_found(),
        Err(status) => Problem::from_status(&status, "").into_response(),
    }
}

fn from_proto(f: pb::CalendarFeed) -> CalendarFeed {
    CalendarFeed {
        id: f.id,
        clinician_id: present(f.clinician_id),
        room_id: present(f.room_id),
        url: None,
        revoked: f.revoked,
        created_by: f.created_by,
        create_time: rfc3339(f.create_time.as_ref()),
        revoked_by: present(f.revoked_by),
        revoke_time: f.revoke_time.as_ref().map(|t| rfc3339(Some(t))),
    }
}

shown! { pb::CalendarFeed => CalendarFeed, by from_proto, at "/v1/calendar-feeds", fields "feed." }
