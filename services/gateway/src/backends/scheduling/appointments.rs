//! `/v1/appointments`: booking (one, or a weekly series), reading, listing and cancelling,
//! REST and JSON over `iop.scheduling.v1.AppointmentService`.

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
    Shown, answer, etag_or_any, idempotency_key, optional_id, parse_time, present, rfc3339, shown,
    text,
};

iop_kit::text_enum! {
    json
    /// `in_person` (in a room) or `telehealth` (by a join link).
    pub enum Modality: iop_proto::scheduling::Modality {
        InPerson = "in_person",
        Telehealth = "telehealth",
    }
}

iop_kit::text_enum! {
    json
    /// `booked` → `checked_in` → `completed`; or `cancelled`, `no_show`, or `rescheduled`
    /// (another appointment took its place).
    pub enum AppointmentStatus: iop_proto::scheduling::AppointmentStatus {
        Booked = "booked",
        CheckedIn = "checked_in",
        Completed = "completed",
        Cancelled = "cancelled",
        NoShow = "no_show",
        Rescheduled = "rescheduled",
    }
}

iop_kit::text_enum! {
    json
    /// `by_patient`, `by_clinic`, or `late` (by the patient, inside the notice period).
    pub enum CancellationKind: iop_proto::scheduling::CancellationKind {
        ByPatient = "by_patient",
        ByClinic = "by_clinic",
        Late = "late",
    }
}

iop_kit::text_enum! {
    json
    /// Of a series: `this` occurrence, `this_and_following`, or `all` not yet over.
    pub enum SeriesScope: iop_proto::scheduling::SeriesScope {
        This = "this",
        ThisAndFollowing = "this_and_following",
        All = "all",
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Cancellation {
    pub kind: Option<CancellationKind>,
    pub reason: String,
    /// Who cancelled it (their token's `sub`).
    pub by: String,
    #[schema(format = DateTime)]
    pub time: String,
}

/// An appointment (one occurrence, when of a series).
#[derive(Debug, Serialize, ToSchema)]
pub struct Appointment {
    #[schema(format = Uuid)]
    pub id: String,
    pub kind: Option<AppointmentKind>,
    /// Absent only for a group session's hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid)]
    pub patient_id: Option<String>,
    pub clinician_ids: Vec<String>,
    #[schema(format = Uuid)]
    pub location_id: String,
    pub modality: Option<Modality>,
    /// In person: the room.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid)]
    pub room_id: Option<String>,
    /// Telehealth: the link the patient joins by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub join_url: Option<String>,
    #[schema(format = DateTime)]
    pub start_time: String,
    #[schema(format = DateTime)]
    pub end_time: String,
    pub status: Option<AppointmentStatus>,
    /// The series it is an occurrence of.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid)]
    pub series_id: Option<String>,
    /// Why it was booked over a conflict on purpose.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overlap_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancellation: Option<Cancellation>,
    /// Who booked it (their token's `sub`).
    pub booked_by: String,
    #[schema(format = DateTime)]
    pub create_time: String,
    /// Send back as `If-Match` to refuse stale changes.
    pub etag: String,
    /// The appointment this one was rescheduled from.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid)]
    pub rescheduled_from: Option<String>,
    /// The appointment that took this one's place.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid)]
    pub rescheduled_to: Option<String>,
    /// The referral an intake assessment was booked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid)]
    pub referral_id: Option<String>,
    /// A family session's family contacts who take part.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<uuid::Uuid>)]
    pub family_contact_ids: Vec<String>,
}

/// What to book: one appointment, or with `recurrence` a weekly series whose first
/// occurrence is `start_time`–`end_time`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAppointment {
    pub kind: AppointmentKind,
    /// A patient of the clinic.
    #[schema(format = Uuid)]
    pub patient_id: String,
    /// 1-4 clinicians of the clinic who provide this kind.
    #[schema(min_items = 1, max_items = 4)]
    #[schema(value_type = Vec<uuid::Uuid>)]
    pub clinician_ids: Vec<String>,
    #[schema(format = Uuid)]
    pub location_id: String,
    pub modality: Modality,
    /// Required in person: a room of the location.
    #[schema(format = Uuid)]
    pub room_id: Option<String>,
    /// Required for telehealth.
    #[serde(default)]
    #[schema(value_type = text::HttpsUrl)]
    pub join_url: String,
    /// RFC 3339. Ends after it starts, within 12 hours.
    #[schema(format = DateTime)]
    pub start_time: String,
    #[schema(format = DateTime)]
    pub end_time: String,
    /// An RFC 5545 RRULE of the weekly subset, read in the location's time zone:
    /// `FREQ=WEEKLY;BYDAY=MO,WE;COUNT=12` (`INTERVAL`, `COUNT` or `UNTIL`; at most 260
    /// occurrences). Leave out for one appointment.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub recurrence: String,
    /// Book over conflicts on purpose, saying why (kept on the appointment).
    #[serde(default)]
    #[schema(value_type = text::Line)]
    pub overlap_reason: String,
    /// An `intake_assessment` for this accepted referral of the patient: the referral moves
    /// to `intake_scheduled` at its time, and back to `accepted` when it is cancelled.
    #[schema(format = Uuid)]
    pub referral_id: Option<String>,
    /// A `family_session`'s family contacts who take part (at most 8): each the patient's
    /// and involved in family sessions, which needs a consent in force naming them for
    /// family involvement (409 naming the contact otherwise).
    #[serde(default)]
    #[schema(max_items = 8, value_type = Vec<uuid::Uuid>)]
    pub family_contact_ids: Vec<String>,
}

/// What was booked.
#[derive(Debug, Serialize, ToSchema)]
pub struct Booked {
    /// Earliest first.
    pub appointments: Vec<Appointment>,
    /// Set for a series.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid)]
    pub series_id: Option<String>,
}

crate::rest::listed! {
    AppointmentList { appointments: Appointment } from pb::ListAppointmentsResponse, by from_proto
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AppointmentParams {
    #[param(format = Uuid)]
    pub patient_id: Option<String>,
    #[param(format = Uuid)]
    pub clinician_id: Option<String>,
    #[param(format = Uuid)]
    pub room_id: Option<String>,
    #[param(format = Uuid)]
    pub series_id: Option<String>,
    /// Starting at or after (RFC 3339).
    #[param(format = DateTime)]
    pub from_time: Option<String>,
    /// Starting before (RFC 3339).
    #[param(format = DateTime)]
    pub to_time: Option<String>,
    pub status: Option<AppointmentStatus>,
    /// 1-200, default 50.
    #[param(minimum = 0)]
    pub page_size: Option<i32>,
    pub page_token: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    pub kind: CancellationKind,
    #[serde(default)]
    #[schema(value_type = text::Line)]
    pub reason: String,
    /// Of a series; default `this`.
    pub scope: Option<SeriesScope>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Cancelled {
    /// By start time.
    pub appointments: Vec<Appointment>,
}

/// Book an appointment, or a weekly series. Every occurrence is checked against what its
/// clinicians, room and patient have: any overlap refuses the whole booking with 409, each
/// clash named (`occurrences[2].room_id`) — unless `overlap_reason` books over it on purpose.
#[utoipa::path(post, path = "/v1/appointments", tag = "appointments", request_body = NewAppointment,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Retrying with the same key returns what the first call booked")),
    responses(
        (status = 201, description = "Booked; `Location` is the first appointment", body = Booked, headers(("Location" = String))),
        (status = 404, description = "No such patient, location, room or clinician in your clinic", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "An occurrence clashes (each named), or a clinician does not provide the kind, a room is elsewhere or inactive", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn book(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, Problem> {
    let new: NewAppointment = body.parse()?;
    let message = pb::BookAppointmentRequest {
        appointment: Some(pb::Appointment {
            kind: new.kind.to_proto(),
            patient_id: new.patient_id,
            clinician_ids: new.clinician_ids,
            location_id: new.location_id,
            modality: new.modality.to_proto(),
            room_id: optional_id("room_id", new.room_id)?,
            join_url: new.join_url,
            start_time: parse_time("start_time", Some(&new.start_time))?
                .map(iop_proto::timestamp_from_micros),
            end_time: parse_time("end_time", Some(&new.end_time))?
                .map(iop_proto::timestamp_from_micros),
            overlap_reason: new.overlap_reason,
            referral_id: optional_id("referral_id", new.referral_id)?,
            family_contact_ids: new.family_contact_ids,
            ..Default::default()
        }),
        recurrence: new.recurrence,
        request_id: idempotency_key(&headers)?,
    };
    let booked = st
        .down
        .forward(&who, super::BookAppointment, message)
        .await
        .map_err(|s| {
            pb::Appointment::problem(s).rename_field("request_id", crate::rest::IDEMPOTENCY_KEY)
        })?;
    let location = booked
        .appointments
        .first()
        .map(|a| format!("/v1/appointments/{}", a.id))
        .unwrap_or_default();
    let body = Booked {
        appointments: booked.appointments.into_iter().map(from_proto).collect(),
        series_id: present(booked.series_id),
    };
    Ok(crate::rest::created_at(&location, body, None))
}

/// Read an appointment.
#[utoipa::path(get, path = "/v1/appointments/{id}", tag = "appointments",
    responses((status = 200, description = "The appointment", body = Appointment, headers(("ETag" = String)))),
    security(("bearer" = [])))]
pub async fn get(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    answer(
        &st,
        &who,
        super::GetAppointment,
        pb::GetAppointmentRequest { id },
    )
    .await
}

/// Appointments by start time: a patient's, a clinician's or a room's, a series, a window.
#[utoipa::path(get, path = "/v1/appointments", tag = "appointments", params(AppointmentParams),
    responses((status = 200, description = "A page of appointments", body = AppointmentList)),
    security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(p): Query<AppointmentParams>,
) -> Result<Json<AppointmentList>, Problem> {
    let time = |field: &str, v: Option<String>| -> Result<_, Problem> {
        Ok(parse_time(field, v.as_deref())?.map(iop_proto::timestamp_from_micros))
    };
    let message = pb::ListAppointmentsRequest {
        patient_id: p.patient_id.unwrap_or_default(),
        clinician_id: p.clinician_id.unwrap_or_default(),
        room_id: p.room_id.unwrap_or_default(),
        series_id: p.series_id.unwrap_or_default(),
        from_time: time("from_time", p.from_time)?,
        to_time: time("to_time", p.to_time)?,
        status: p.status.map_or(0, AppointmentStatus::to_proto),
        page_size: p.page_size.unwrap_or(0),
        page_token: p.page_token.unwrap_or_default(),
    };
    crate::rest::list(
        &st,
        &who,
        super::ListAppointments,
        message,
        pb::Appointment::problem,
    )
    .await
}

/// Cancel a booked or checked-in appointment — with `scope`, also the series' later ones or
/// all of it not yet over. Their time is free again. `If-Match` refuses a stale read (409).
#[utoipa::path(post, path = "/v1/appointments/{id}/cancel", tag = "appointments", request_body = CancelRequest,
    params(("If-Match" = Option<String>, Header, description = "Etag from a previous read")),
    responses(
        (status = 200, description = "What was cancelled", body = Cancelled),
        (status = 409, description = "Already cancelled, completed or a no-show; or a stale etag", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn cancel(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Json<Cancelled>, Problem> {
    let c: CancelRequest = body.parse()?;
    let message = pb::CancelAppointmentRequest {
        id,
        kind: c.kind.to_proto(),
        reason: c.reason,
        etag: etag_or_any(&headers)?,
        scope: c.scope.map_or(0, SeriesScope::to_proto),
    };
    let done = st
        .down
        .forward(&who, super::CancelAppointment, message)
        .await
        .map_err(pb::Appointment::problem)?;
    Ok(Json(Cancelled {
        appointments: done.appointments.into_iter().map(from_proto).collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppointmentStatusChange {
    /// `checked_in` (from booked), `completed` (from checked in), or `no_show` (from booked;
    /// frees the time). Completed and no-show only once it has started.
    pub status: AppointmentStatus,
}

/// Check a patient in, complete the visit, or record a no-show. `If-Match` refuses a stale
/// read (409).
#[utoipa::path(post, path = "/v1/appointments/{id}/status", tag = "appointments", request_body = AppointmentStatusChange,
    params(("If-Match" = Option<String>, Header, description = "Etag from a previous read")),
    responses(
        (status = 200, description = "The appointment", body = Appointment, headers(("ETag" = String))),
        (status = 409, description = "Not a move its status allows (naming it), not started yet, or a stale etag", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn set_status(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, Problem> {
    let change: AppointmentStatusChange = body.parse()?;
    let message = pb::SetAppointmentStatusRequest {
        id,
        status: change.status.to_proto(),
        etag: etag_or_any(&headers)?,
    };
    answer(&st, &who, super::SetAppointmentStatus, message).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WeekParams {
    /// Whose time zone the weeks are read in.
    #[param(format = Uuid)]
    pub location_id: String,
    /// The weeks holding these local dates (`YYYY-MM-DD`), at most 53 weeks apart.
    #[param(format = Date)]
    pub from_date: String,
    #[param(format = Date)]
    pub to_date: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WeekMinutes {
    /// ISO 8601 week, e.g. `2026-W50`.
    pub week: String,
    pub kind: Option<AppointmentKind>,
    /// Every appointment that counts (booked, checked in, completed).
    pub scheduled_minutes: i32,
    pub completed_minutes: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PatientWeeks {
    #[schema(format = Uuid)]
    pub patient_id: String,
    /// By week, then kind; weeks without appointments are left out.
    pub weeks: Vec<WeekMinutes>,
}

/// A patient's scheduled and completed minutes per ISO week in a location's time zone, by
/// kind: what the IOP hour rules count. Cancelled and no-show appointments do not count.
#[utoipa::path(get, path = "/v1/patients/{id}/weeks", tag = "appointments", params(WeekParams),
    responses((status = 200, description = "Minutes by week and kind", body = PatientWeeks)),
    security(("bearer" = [])))]
pub async fn weeks(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(patient_id): Path<String>,
    Query(p): Query<WeekParams>,
) -> Result<Json<PatientWeeks>, Problem> {
    let message = pb::GetPatientWeeksRequest {
        patient_id,
        location_id: p.location_id,
        from_date: crate::rest::parse_date("from_date", Some(&p.from_date))?,
        to_date: crate::rest::parse_date("to_date", Some(&p.to_date))?,
    };
    let weeks = st
        .down
        .forward(&who, super::GetPatientWeeks, message)
        .await
        .map_err(|s| Problem::from_status(&s, "").rename_field("patient_id", "id"))?;
    Ok(Json(PatientWeeks {
        patient_id: weeks.patient_id,
        weeks: weeks
            .weeks
            .into_iter()
            .map(|w| WeekMinutes {
                week: w.week,
                kind: AppointmentKind::from_proto(w.kind),
                scheduled_minutes: w.scheduled_minutes,
                completed_minutes: w.completed_minutes,
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reschedule {
    /// RFC 3339. Ends after it starts, within 12 hours.
    #[schema(format = DateTime)]
    pub start_time: String,
    #[schema(format = DateTime)]
    pub end_time: String,
    /// Move it over a clash on purpose, saying why.
    #[serde(default)]
    #[schema(value_type = text::Line)]
    pub overlap_reason: String,
    /// Of a series; default `this`. `this_and_following` or `all` (booked ones not yet
    /// over) move by the same change of local time and to the same length.
    pub scope: Option<SeriesScope>,
}

/// Move a booked appointment to another time. A new appointment takes its place (checked
/// for clashes like a booking: 409 naming them); the old one stays, `rescheduled`, naming it.
/// Of a series, `scope` moves this and the following or all booked ones alike (each by the
/// same change of local time), all or none.
#[utoipa::path(post, path = "/v1/appointments/{id}/reschedule", tag = "appointments", request_body = Reschedule,
    params(("If-Match" = Option<String>, Header, description = "Etag from a previous read")),
    responses(
        (status = 201, description = "The appointment that took its place", body = Appointment, headers(("Location" = String), ("ETag" = String))),
        (status = 409, description = "A clash (each named), not booked (naming its status), or a stale etag", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn reschedule(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, Problem> {
    let r: Reschedule = body.parse()?;
    let message = pb::RescheduleAppointmentRequest {
        id,
        start_time: parse_time("start_time", Some(&r.start_time))?
            .map(iop_proto::timestamp_from_micros),
        end_time: parse_time("end_time", Some(&r.end_time))?.map(iop_proto::timestamp_from_micros),
        etag: etag_or_any(&headers)?,
        overlap_reason: r.overlap_reason,
        scope: r.scope.map_or(0, SeriesScope::to_proto),
    };
    crate::rest::create(&st, &who, super::RescheduleAppointment, message, None).await
}

/// A booking over clashes on purpose is its own action in the audit trail (its reason is kept
/// on the appointment), so a review of deliberate double bookings finds each one.
pub(super) fn booked_over(m: &pb::BookAppointmentRequest) -> Option<&'static str> {
    m.appointment
        .as_ref()
        .filter(|a| !a.overlap_reason.trim().is_empty())
        .map(|_| "appointment.book_over")
}

/// As [`booked_over`], for a move over clashes.
pub(super) fn moved_over(m: &pb::RescheduleAppointmentRequest) -> Option<&'static str> {
    (!m.overlap_reason.trim().is_empty()).then_some("appointment.reschedule_over")
}

pub(super) fn from_proto(a: pb::Appointment) -> Appointment {
    Appointment {
        id: a.id,
        kind: AppointmentKind::from_proto(a.kind),
        patient_id: present(a.patient_id),
        clinician_ids: a.clinician_ids,
        location_id: a.location_id,
        modality: Modality::from_proto(a.modality),
        room_id: present(a.room_id),
        join_url: present(a.join_url),
        start_time: rfc3339(a.start_time.as_ref()),
        end_time: rfc3339(a.end_time.as_ref()),
        status: AppointmentStatus::from_proto(a.status),
        series_id: present(a.series_id),
        overlap_reason: present(a.overlap_reason),
        cancellation: a.cancellation.map(|c| Cancellation {
            kind: CancellationKind::from_proto(c.kind),
            reason: c.reason,
            by: c.by,
            time: rfc3339(c.time.as_ref()),
        }),
        booked_by: a.booked_by,
        create_time: rfc3339(a.create_time.as_ref()),
        etag: a.etag,
        rescheduled_from: present(a.rescheduled_from),
        rescheduled_to: present(a.rescheduled_to),
        referral_id: present(a.referral_id),
        family_contact_ids: a.family_contact_ids,
    }
}

shown! { pb::Appointment => Appointment, by from_proto, at "/v1/appointments", fields "appointment.", versioned }

/// A room and facilitators held for a group session.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewHold {
    /// The placing service's own key for the session: the same key with the same request is
    /// the same hold.
    #[schema(min_length = 1, max_length = 200, pattern = "^[!-~]{1,200}$")]
    pub hold_key: String,
    #[schema(format = Uuid)]
    pub location_id: String,
    /// The room held (in person); leave out for a session by video.
    #[schema(format = Uuid)]
    pub room_id: Option<String>,
    /// The facilitators held, at most 8: any active clinicians of the clinic.
    #[serde(default)]
    #[schema(max_items = 8, value_type = Vec<uuid::Uuid>)]
    pub clinician_ids: Vec<String>,
    /// RFC 3339. Ends after it starts, within 12 hours.
    #[schema(format = DateTime)]
    pub start_time: String,
    #[schema(format = DateTime)]
    pub end_time: String,
}

/// Hold a room and facilitators for a group session (the group service does this over
/// gRPC): an appointment of kind `group_hold` without a patient, checked like a booking.
#[utoipa::path(post, path = "/v1/holds", tag = "appointments", request_body = NewHold,
    responses(
        (status = 201, description = "The hold (or the one already placed with this key)", body = Appointment, headers(("Location" = String), ("ETag" = String))),
        (status = 404, description = "No such location, room or clinician in your clinic", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A clash (each named), a room elsewhere or inactive, an inactive clinician", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn place_hold(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    body: JsonObject,
) -> Result<Response, Problem> {
    let h: NewHold = body.parse()?;
    let message = pb::PlaceHoldRequest {
        hold_key: h.hold_key,
        location_id: h.location_id,
        room_id: h.room_id.unwrap_or_default(),
        clinician_ids: h.clinician_ids,
        start_time: parse_time("start_time", Some(&h.start_time))?
            .map(iop_proto::timestamp_from_micros),
        end_time: parse_time("end_time", Some(&h.end_time))?.map(iop_proto::timestamp_from_micros),
    };
    crate::rest::create(&st, &who, super::PlaceHold, message, None).await
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldRelease {
    #[serde(default)]
    #[schema(value_type = text::Line)]
    pub reason: String,
}

/// Release a hold: its time is free again. A hold already released is answered as it is.
#[utoipa::path(post, path = "/v1/holds/{id}/release", tag = "appointments", request_body = HoldRelease,
    responses(
        (status = 200, description = "The hold, released", body = Appointment, headers(("ETag" = String))),
        (status = 409, description = "Not a hold (an appointment is cancelled)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn release_hold(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    body: JsonObject,
) -> Result<Response, Problem> {
    let r: HoldRelease = body.parse()?;
    let message = pb::ReleaseHoldRequest {
        id,
        reason: r.reason,
    };
    answer(&st, &who, super::ReleaseHold, message).await
}
