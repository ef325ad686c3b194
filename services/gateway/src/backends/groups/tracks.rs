//! `/v1/tracks`: REST and JSON over the tracks of `iop.groups.v1.ProgramService` — a
//! program's rolling groups and the weekly local times they meet.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::{Extension, Json};
use http::HeaderMap;
use iop_core::Principal;
use iop_proto::groups as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::programs::GroupModality;
use crate::AppState;
use crate::backends::scheduling::availability::Day;
use crate::problem::Problem;
use crate::rest::extract::{JsonObject, Query};
use crate::rest::{
    Shown, answer, date_text, idempotency_key, optional_id, parse_date, rfc3339, shown, text,
};

/// A day and the local times a track meets on it, in its location's zone all year round.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Meeting {
    pub day: Day,
    /// `HH:MM`, 24-hour.
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$", example = "18:00")]
    pub start_time: String,
    /// `HH:MM`, after `start_time` on the same day.
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$", example = "21:00")]
    pub end_time: String,
}

/// A track of a program: a rolling group meeting on a weekly pattern.
#[derive(Debug, Serialize, ToSchema)]
pub struct Track {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub program_id: String,
    pub name: String,
    #[schema(format = Uuid)]
    pub location_id: String,
    /// Absent for a telehealth track.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid)]
    pub room_id: Option<String>,
    pub modality: Option<GroupModality>,
    /// By day of the week, Monday first.
    pub meetings: Vec<Meeting>,
    pub facilitator_clinician_ids: Vec<String>,
    pub capacity: i32,
    /// The topics its sessions rotate through, in order.
    pub curriculum: Vec<String>,
    #[schema(format = Date)]
    pub start_date: String,
    pub active: bool,
    #[schema(format = DateTime)]
    pub create_time: String,
}

/// A new track.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTrack {
    /// An active program of the clinic, meeting as this track does (or hybrid).
    #[schema(format = Uuid)]
    pub program_id: String,
    /// Unique within its program (whatever the case), e.g. "Evenings".
    #[schema(value_type = text::Name)]
    pub name: String,
    /// A location of the scheduling service: its zone reads `meetings`.
    #[schema(format = Uuid)]
    pub location_id: String,
    /// In person: an active room of the location seating `capacity`. Telehealth: leave out.
    #[schema(format = Uuid)]
    pub room_id: Option<String>,
    /// `in_person` or `telehealth` (only a program is hybrid).
    pub modality: GroupModality,
    /// 1-7, one a day at most.
    #[schema(min_items = 1, max_items = 7)]
    pub meetings: Vec<Meeting>,
    /// 1-4 active clinicians of the clinic, each once.
    #[schema(min_items = 1, max_items = 4, value_type = Vec<uuid::Uuid>)]
    pub facilitator_clinician_ids: Vec<String>,
    /// Seats, 2-30; leave out for 12, the largest group many payers reimburse group
    /// psychotherapy (CPT 90853) for. At most the room's capacity.
    #[schema(minimum = 2, maximum = 30)]
    #[serde(
        default,
        deserialize_with = "crate::rest::extract::optional_whole_number"
    )]
    pub capacity: Option<i32>,
    /// Topics its sessions rotate through, in order.
    #[serde(default)]
    #[schema(max_items = 52, value_type = Vec<text::Name>)]
    pub curriculum: Vec<String>,
    /// The first day it meets.
    #[schema(format = Date)]
    pub start_date: String,
    /// Default true; an inactive track is not in the catalog.
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// A session of a track.
#[derive(Debug, Serialize, ToSchema)]
pub struct Session {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub track_id: String,
    /// The local date it meets on, in the track's zone.
    #[schema(format = Date)]
    pub date: String,
    #[schema(format = DateTime)]
    pub start_time: String,
    #[schema(format = DateTime)]
    pub end_time: String,
    /// 1 for the track's first meeting, counting every meeting day since.
    pub number: i32,
    /// Its curriculum topic; absent without a curriculum.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// The scheduling service's hold of its room and facilitators; absent while the track
    /// is still being set up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_id: Option<String>,
}

/// A track's sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    /// By start.
    pub sessions: Vec<Session>,
}

crate::rest::listed! {
    TrackList { tracks: Track } from pb::ListTracksResponse, by from_proto
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TrackParams {
    /// Only this program's tracks.
    #[param(format = Uuid)]
    pub program_id: Option<String>,
    /// 1-200, default 50.
    #[param(minimum = 0)]
    pub page_size: Option<i32>,
    pub page_token: Option<String>,
}

/// Add a track to a program. Send an `Idempotency-Key` to make retries safe.
#[utoipa::path(post, path = "/v1/tracks", tag = "tracks", request_body = NewTrack,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Retrying with the same key returns the track created the first time")),
    responses(
        (status = 201, description = "Created", body = Track, headers(("Location" = String))),
        (status = 404, description = "The program, location, room or a facilitator is not one of the clinic's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The program has a track of this name; something named cannot take part (an inactive program, room or facilitator, a room elsewhere or too small, a modality the program does not meet in); or a session of its first four weeks clashes with what its room or a facilitator has then (`sessions[<date>]` names each)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, Problem> {
    let new: NewTrack = body.parse()?;
    let message = pb::CreateTrackRequest {
        track: Some(pb::Track {
            program_id: new.program_id,
            name: new.name,
            location_id: new.location_id,
            room_id: optional_id("room_id", new.room_id)?,
            modality: new.modality.to_proto(),
            meetings: new
                .meetings
                .into_iter()
                .map(|m| pb::Meeting {
                    day: m.day.to_proto(),
                    start_time: m.start_time,
                    end_time: m.end_time,
                })
                .collect(),
            facilitator_clinician_ids: new.facilitator_clinician_ids,
            capacity: new.capacity.unwrap_or(0),
            curriculum: new.curriculum,
            start_date: parse_date("start_date", Some(&new.start_date))?,
            active: new.active,
            ..Default::default()
        }),
        request_id: idempotency_key(&headers)?,
    };
    crate::rest::create(&st, &who, super::CreateTrack, message, None).await
}

/// A track's sessions by start: its first four weeks are laid out when it is created, each
/// holding its room and facilitators in the scheduling service.
#[utoipa::path(get, path = "/v1/tracks/{id}/sessions", tag = "tracks",
    responses((status = 200, description = "The track's sessions", body = SessionList)),
    security(("bearer" = [])))]
pub async fn sessions(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<SessionList>, Problem> {
    let res = st
        .down
        .forward(
            &who,
            super::ListSessions,
            pb::ListSessionsRequest { track_id: id },
        )
        .await
        .map_err(pb::Track::problem)?;
    Ok(Json(SessionList {
        sessions: res
            .sessions
            .into_iter()
            .map(|s| Session {
                id: s.id,
                track_id: s.track_id,
                date: date_text(s.date.as_ref()),
                start_time: rfc3339(s.start_time.as_ref()),
                end_time: rfc3339(s.end_time.as_ref()),
                number: s.number,
                topic: crate::rest::present(s.topic),
                hold_id: crate::rest::present(s.hold_id),
            })
            .collect(),
    }))
}

/// Read a track.
#[utoipa::path(get, path = "/v1/tracks/{id}", tag = "tracks",
    responses((status = 200, description = "The track", body = Track)),
    security(("bearer" = [])))]
pub async fn get(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    answer(&st, &who, super::GetTrack, pb::GetTrackRequest { id }).await
}

/// The clinic's tracks (of one program with `program_id`), oldest first, active or not.
#[utoipa::path(get, path = "/v1/tracks", tag = "tracks", params(TrackParams),
    responses((status = 200, description = "A page of tracks", body = TrackList)),
    security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(p): Query<TrackParams>,
) -> Result<Json<TrackList>, Problem> {
    let message = pb::ListTracksRequest {
        program_id: p.program_id.unwrap_or_default(),
        page_size: p.page_size.unwrap_or(0),
        page_token: p.page_token.unwrap_or_default(),
    };
    crate::rest::list(&st, &who, super::ListTracks, message, pb::Track::problem).await
}

pub(super) fn from_proto(t: pb::Track) -> Track {
    Track {
        id: t.id,
        program_id: t.program_id,
        name: t.name,
        location_id: t.location_id,
        room_id: crate::rest::present(t.room_id),
        modality: GroupModality::from_proto(t.modality),
        meetings: t
            .meetings
            .into_iter()
            .filter_map(|m| {
                Some(Meeting {
                    day: Day::from_proto(m.day)?,
                    start_time: m.start_time,
                    end_time: m.end_time,
                })
            })
            .collect(),
        facilitator_clinician_ids: t.facilitator_clinician_ids,
        capacity: t.capacity,
        curriculum: t.curriculum,
        start_date: date_text(t.start_date.as_ref()),
        active: t.active,
        create_time: rfc3339(t.create_time.as_ref()),
    }
}

shown! { pb::Track => Track, by from_proto, at "/v1/tracks", fields "track." }
