//! Working hours (`/v1/clinicians/{clinician_id}/working-hours/{location_id}`), exceptions
//! (`/v1/availability-exceptions`) and slot search (`/v1/slots`), REST and JSON over
//! `iop.scheduling.v1.AvailabilityService`.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::{Extension, Json};
use http::HeaderMap;
use iop_core::Principal;
use iop_proto::scheduling as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::clinicians::AppointmentKind;
use crate::AppState;
use crate::problem::Problem;
use crate::rest::extract::{JsonObject, Query};
use crate::rest::{
    Shown, answer, etag_or_any, idempotency_key, optional_id, parse_date, parse_time, present,
    rfc3339, shown, text,
};

iop_kit::text_enum! {
    json
    /// A day of the week.
    pub enum Day: iop_proto::scheduling::DayOfWeek {
        Monday = "monday",
        Tuesday = "tuesday",
        Wednesday = "wednesday",
        Thursday = "thursday",
        Friday = "friday",
        Saturday = "saturday",
        Sunday = "sunday",
    }
}

iop_kit::text_enum! {
    json
    /// `time_off`: a clinician not working (everywhere, or at `location_id`), or without a
    /// clinician the location closed for everyone (a holiday). `extra_hours`: a clinician
    /// working beyond the weekly hours at `location_id`.
    pub enum ExceptionKind: iop_proto::scheduling::ExceptionKind {
        TimeOff = "time_off",
        ExtraHours = "extra_hours",
    }
}

/// Hours on one day of the week, in the location's local time all year round. On the days
/// clocks change, a time the clock skips is read as the same distance past the change
/// (02:30 → 03:30), and a time it shows twice is the first of the two.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WeeklyHours {
    pub day: Day,
    /// `HH:MM`, 24-hour.
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$", example = "09:00")]
    pub start_time: String,
    /// `HH:MM`, after `start_time` (no shift past midnight).
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$", example = "17:00")]
    pub end_time: String,
}

/// A clinician's weekly hours at a location.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkingHours {
    #[schema(format = Uuid)]
    pub clinician_id: String,
    #[schema(format = Uuid)]
    pub location_id: String,
    /// By day, then start; empty when never set.
    pub hours: Vec<WeeklyHours>,
    /// Send back as `If-Match` to refuse stale changes (`0` before the first).
    pub etag: String,
    /// Absent when never set.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub update_time: Option<String>,
    /// Who set them (their token's `sub`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
}

/// A whole week of hours, replacing what was there.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WeekOfHours {
    /// At most 14 entries; two on the same day must not overlap. Empty: not working there.
    #[schema(max_items = 14)]
    pub hours: Vec<WeeklyHours>,
}

/// Time off, a closure, or extra hours.
#[derive(Debug, Serialize, ToSchema)]
pub struct AvailabilityException {
    #[schema(format = Uuid)]
    pub id: String,
    pub kind: Option<ExceptionKind>,
    /// Whose; absent for a closure of the location.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid)]
    pub clinician_id: Option<String>,
    /// Where; absent for a clinician's time off everywhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid)]
    pub location_id: Option<String>,
    #[schema(format = DateTime)]
    pub start_time: String,
    #[schema(format = DateTime)]
    pub end_time: String,
    pub reason: String,
    /// Who added it (their token's `sub`).
    pub created_by: String,
    #[schema(format = DateTime)]
    pub create_time: String,
}

/// A new exception. Time off names a clinician, a location, or both; extra hours both.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAvailabilityException {
    pub kind: ExceptionKind,
    #[schema(format = Uuid)]
    pub clinician_id: Option<String>,
    #[schema(format = Uuid)]
    pub location_id: Option<String>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub start_time: String,
    /// After `start_time`, within 366 days of it.
    #[schema(format = DateTime)]
    pub end_time: String,
    #[serde(default)]
    #[schema(value_type = text::Line)]
    pub reason: String,
}

crate::rest::listed! {
    AvailabilityExceptionList { exceptions: AvailabilityException }
        from pb::ListAvailabilityExceptionsResponse, by exception_from_proto
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExceptionParams {
    /// Only this clinician's own.
    #[param(format = Uuid)]
    pub clinician_id: Option<String>,
    /// Only those naming this location (its closures, time off and extra hours there).
    #[param(format = Uuid)]
    pub location_id: Option<String>,
    /// Ending after (RFC 3339).
    #[param(format = DateTime)]
    pub from_time: Option<String>,
    /// Starting before (RFC 3339).
    #[param(format = DateTime)]
    pub to_time: Option<String>,
    /// 1-200, default 50.
    #[param(minimum = 0)]
    pub page_size: Option<i32>,
    pub page_token: Option<String>,
}

/// A free time.
#[derive(Debug, Serialize, ToSchema)]
pub struct Slot {
    /// On the quarter hour.
    #[schema(format = DateTime)]
    pub start_time: String,
    #[schema(format = DateTime)]
    pub end_time: String,
    #[schema(format = Uuid)]
    pub clinician_id: String,
    /// The room asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid)]
    pub room_id: Option<String>,
}

crate::rest::listed! {
    /// Earliest first, then by clinician id.
    SlotList { slots: Slot } from pb::SearchSlotsResponse, by slot_from_proto
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SlotParams {
    /// Where: its time zone reads the dates and the working hours.
    #[param(format = Uuid)]
    pub location_id: String,
    /// What is to be booked: only clinicians who provide it.
    pub kind: AppointmentKind,
    /// One clinician; leave out for any active clinician who provides the kind.
    #[param(format = Uuid)]
    pub clinician_id: Option<String>,
    /// A room of the location that must be free too.
    #[param(format = Uuid)]
    pub room_id: Option<String>,
    /// A patient who must be free too.
    #[param(format = Uuid)]
    pub patient_id: Option<String>,
    /// Default: the kind's (intake assessment 90, therapy and psychiatric evaluation 60,
    /// medication and case management 30).
    #[param(minimum = 5, maximum = 720)]
    pub length_minutes: Option<i32>,
    /// Local dates at the location (`YYYY-MM-DD`), at most 92 days apart; slots already
    /// begun are left out.
    #[param(format = Date)]
    pub from_date: String,
    #[param(format = Date)]
    pub to_date: String,
    /// 1-200, default 50.
    #[param(minimum = 0)]
    pub page_size: Option<i32>,
    pub page_token: Option<String>,
}

/// A clinician's weekly hours at a location (an empty week, etag `0`, when never set).
#[utoipa::path(get, path = "/v1/clinicians/{clinician_id}/working-hours/{location_id}",
    tag = "availability",
    responses(
        (status = 200, description = "The week", body = WorkingHours, headers(("ETag" = String))),
        (status = 404, description = "No such clinician or location in your clinic", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_hours(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((clinician_id, location_id)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let message = pb::GetWorkingHoursRequest {
        clinician_id,
        location_id,
    };
    answer(&st, &who, super::GetWorkingHours, message).await
}

/// Set a clinician's weekly hours at a location, replacing the week. Booked appointments
/// stay as they are. `If-Match` refuses a stale read (409).
#[utoipa::path(put, path = "/v1/clinicians/{clinician_id}/working-hours/{location_id}",
    tag = "availability", request_body = WeekOfHours,
    params(("If-Match" = Option<String>, Header, description = "Etag from a previous read")),
    responses(
        (status = 200, description = "The week as kept", body = WorkingHours, headers(("ETag" = String))),
        (status = 404, description = "No such clinician or location in your clinic", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A stale etag", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn set_hours(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((clinician_id, location_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, Problem> {
    let week: WeekOfHours = body.parse()?;
    let message = pb::SetWorkingHoursRequest {
        working_hours: Some(pb::WorkingHours {
            clinician_id,
            location_id,
            hours: week
                .hours
                .into_iter()
                .map(|h| pb::WeeklyHours {
                    day: h.day.to_proto(),
                    start_time: h.start_time,
                    end_time: h.end_time,
                })
                .collect(),
            etag: etag_or_any(&headers)?,
            ..Default::default()
        }),
    };
    answer(&st, &who, super::SetWorkingHours, message).await
}

/// Add time off, a closure of a location, or extra hours. Send an `Idempotency-Key` to make
/// retries safe.
#[utoipa::path(post, path = "/v1/availability-exceptions", tag = "availability",
    request_body = NewAvailabilityException,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Retrying with the same key returns the exception added the first time")),
    responses(
        (status = 201, description = "Added", body = AvailabilityException, headers(("Location" = String))),
        (status = 404, description = "No such clinician or location in your clinic", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create_exception(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, Problem> {
    let new: NewAvailabilityException = body.parse()?;
    let time = |field: &str, v: &str| -> Result<_, Problem> {
        Ok(parse_time(field, Some(v))?.map(iop_proto::timestamp_from_micros))
    };
    let message = pb::CreateAvailabilityExceptionRequest {
        exception: Some(pb::AvailabilityException {
            kind: new.kind.to_proto(),
            clinician_id: optional_id("clinician_id", new.clinician_id)?,
            location_id: optional_id("location_id", new.location_id)?,
            start_time: time("start_time", &new.start_time)?,
            end_time: time("end_time", &new.end_time)?,
            reason: new.reason,
            ..Default::default()
        }),
        request_id: idempotency_key(&headers)?,
    };
    crate::rest::create(&st, &who, super::CreateAvailabilityException, message, None).await
}

/// Exceptions by start time.
#[utoipa::path(get, path = "/v1/availability-exceptions", tag = "availability",
    params(ExceptionParams),
    responses((status = 200, description = "A page of exceptions", body = AvailabilityExceptionList)),
    security(("bearer" = [])))]
pub async fn list_exceptions(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(p): Query<ExceptionParams>,
) -> Result<Json<AvailabilityExceptionList>, Problem> {
    let time = |field: &str, v: Option<String>| -> Result<_, Problem> {
        Ok(parse_time(field, v.as_deref())?.map(iop_proto::timestamp_from_micros))
    };
    let message = pb::ListAvailabilityExceptionsRequest {
        clinician_id: p.clinician_id.unwrap_or_default(),
        location_id: p.location_id.unwrap_or_default(),
        from_time: time("from_time", p.from_time)?,
        to_time: time("to_time", p.to_time)?,
        page_size: p.page_size.unwrap_or(0),
        page_token: p.page_token.unwrap_or_default(),
    };
    crate::rest::list(
        &st,
        &who,
        super::ListAvailabilityExceptions,
        message,
        pb::AvailabilityException::problem,
    )
    .await
}

/// One exception.
#[utoipa::path(get, path = "/v1/availability-exceptions/{id}", tag = "availability",
    responses((status = 200, description = "The exception", body = AvailabilityException)),
    security(("bearer" = [])))]
pub async fn get_exception(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let message = pb::GetAvailabilityExceptionRequest { id };
    answer(&st, &who, super::GetAvailabilityException, message).await
}

/// Withdraw an exception; answers it as it was.
#[utoipa::path(delete, path = "/v1/availability-exceptions/{id}", tag = "availability",
    responses((status = 200, description = "Withdrawn", body = AvailabilityException)),
    security(("bearer" = [])))]
pub async fn delete_exception(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let message = pb::DeleteAvailabilityExceptionRequest { id };
    answer(&st, &who, super::DeleteAvailabilityException, message).await
}

/// Free slots of a length at a location: for one clinician, or any active clinician who
/// provides the kind; with a room and a patient free too when named. Working hours and
/// exceptions less appointments and holds, earliest first, then by clinician.
#[utoipa::path(get, path = "/v1/slots", tag = "availability", params(SlotParams),
    responses(
        (status = 200, description = "A page of free slots", body = SlotList),
        (status = 404, description = "No such location, clinician, room or patient in your clinic", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The clinician does not provide the kind or is inactive, or the room is elsewhere or inactive", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn search_slots(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(p): Query<SlotParams>,
) -> Result<Json<SlotList>, Problem> {
    let message = pb::SearchSlotsRequest {
        location_id: p.location_id,
        kind: p.kind.to_proto(),
        clinician_id: p.clinician_id.unwrap_or_default(),
        room_id: p.room_id.unwrap_or_default(),
        patient_id: p.patient_id.unwrap_or_default(),
        length_minutes: p.length_minutes.unwrap_or(0),
        from_date: parse_date("from_date", Some(&p.from_date))?,
        to_date: parse_date("to_date", Some(&p.to_date))?,
        page_size: p.page_size.unwrap_or(0),
        page_token: p.page_token.unwrap_or_default(),
    };
    crate::rest::list(&st, &who, super::SearchSlots, message, |s| {
        Problem::from_status(&s, "")
    })
    .await
}

fn week_from_proto(w: pb::WorkingHours) -> WorkingHours {
    WorkingHours {
        clinician_id: w.clinician_id,
        location_id: w.location_id,
        hours: w
            .hours
            .into_iter()
            .filter_map(|h| {
                Some(WeeklyHours {
                    day: Day::from_proto(h.day)?,
                    start_time: h.start_time,
                    end_time: h.end_time,
                })
            })
            .collect(),
        etag: w.etag,
        update_time: w.update_time.as_ref().map(|t| rfc3339(Some(t))),
        updated_by: present(w.updated_by),
    }
}

/// Where a week lives is its clinician's and location's pair, not an id of its own.
impl Shown for pb::WorkingHours {
    type Json = WorkingHours;
    const COLLECTION: &'static str = "/v1/clinicians";
    const FIELDS: &'static str = "working_hours.";
    fn id(&self) -> &str {
        &self.clinician_id
    }
    fn etag(&self) -> Option<&str> {
        Some(&self.etag)
    }
    fn json(self) -> WorkingHours {
        week_from_proto(self)
    }
}

fn exception_from_proto(e: pb::AvailabilityException) -> AvailabilityException {
    AvailabilityException {
        id: e.id,
        kind: ExceptionKind::from_proto(e.kind),
        clinician_id: present(e.clinician_id),
        location_id: present(e.location_id),
        start_time: rfc3339(e.start_time.as_ref()),
        end_time: rfc3339(e.end_time.as_ref()),
        reason: e.reason,
        created_by: e.created_by,
        create_time: rfc3339(e.create_time.as_ref()),
    }
}

shown! { pb::AvailabilityException => AvailabilityException, by exception_from_proto,
at "/v1/availability-exceptions", fields "exception." }

fn slot_from_proto(s: pb::Slot) -> Slot {
    Slot {
        start_time: rfc3339(s.start_time.as_ref()),
        end_time: rfc3339(s.end_time.as_ref()),
        clinician_id: s.clinician_id,
        room_id: present(s.room_id),
    }
}
