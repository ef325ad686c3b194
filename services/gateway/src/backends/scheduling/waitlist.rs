//! `/v1/waitlist-entries`: patients waiting for a kind of appointment, and the offers of
//! freed time the scheduling service makes them, REST and JSON over
//! `iop.scheduling.v1.WaitlistService`.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::{Extension, Json};
use http::HeaderMap;
use iop_core::Principal;
use iop_proto::scheduling as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::appointments::{Appointment, Modality};
use super::availability::Day;
use super::clinicians::AppointmentKind;
use crate::AppState;
use crate::problem::Problem;
use crate::rest::extract::{JsonObject, Query};
use crate::rest::{Shown, answer, idempotency_key, present, rfc3339, shown, text};

iop_kit::text_enum! {
    json
    /// `waiting` → `offered` (an offer stands) → `booked`; or back to `waiting` when the
    /// offer is declined, expires or its time is taken; `withdrawn` off the list.
    pub enum WaitlistStatus: iop_proto::scheduling::WaitlistStatus {
        Waiting = "waiting",
        Offered = "offered",
        Booked = "booked",
        Withdrawn = "withdrawn",
    }
}

iop_kit::text_enum! {
    json
    /// `open` until `expire_time`; then `accepted`, `declined`, `expired`, `taken` (booked by
    /// someone else first) or `withdrawn` (the entry was).
    pub enum OfferStatus: iop_proto::scheduling::OfferStatus {
        Open = "open",
        Accepted = "accepted",
        Declined = "declined",
        Expired = "expired",
        Taken = "taken",
        Withdrawn = "withdrawn",
    }
}

/// Local times of a day at the location.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeWindow {
    /// `HH:MM`, 24-hour.
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$", example = "17:00")]
    pub start_time: String,
    /// `HH:MM`, after `start_time`.
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$", example = "21:00")]
    pub end_time: String,
}

/// Freed time offered to a waiting patient.
#[derive(Debug, Serialize, ToSchema)]
pub struct WaitlistOffer {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub clinician_id: String,
    /// In person: the room that was freed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid)]
    pub room_id: Option<String>,
    pub modality: Option<Modality>,
    #[schema(format = DateTime)]
    pub start_time: String,
    #[schema(format = DateTime)]
    pub end_time: String,
    /// Until then it may be accepted.
    #[schema(format = DateTime)]
    pub expire_time: String,
    pub status: Option<OfferStatus>,
    #[schema(format = DateTime)]
    pub create_time: String,
}

/// A patient waiting for a kind of appointment at a location.
#[derive(Debug, Serialize, ToSchema)]
pub struct WaitlistEntry {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub patient_id: String,
    pub kind: Option<AppointmentKind>,
    #[schema(format = Uuid)]
    pub location_id: String,
    /// Preferred clinicians; empty for any who provides the kind.
    #[schema(value_type = Vec<uuid::Uuid>)]
    pub clinician_ids: Vec<String>,
    /// Days that suit; empty for any.
    pub days: Vec<Day>,
    /// Local times that suit; empty for any.
    pub windows: Vec<TimeWindow>,
    /// Modalities the patient takes; empty for either.
    pub modalities: Vec<Modality>,
    pub status: Option<WaitlistStatus>,
    /// The offers made, latest first (at most 20).
    pub offers: Vec<WaitlistOffer>,
    /// The appointment an accepted offer booked.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid)]
    pub appointment_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub withdraw_reason: Option<String>,
    /// Who put the patient on the list (their token's `sub`).
    pub created_by: String,
    #[schema(format = DateTime)]
    pub create_time: String,
}

/// Put a patient on the waitlist.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWaitlistEntry {
    /// A patient of the clinic.
    #[schema(format = Uuid)]
    pub patient_id: String,
    /// Any kind but `group_hold`; offers are its default length.
    pub kind: AppointmentKind,
    #[schema(format = Uuid)]
    pub location_id: String,
    /// At most 8 preferred clinicians, each providing the kind; leave out for any.
    #[serde(default)]
    #[schema(max_items = 8, value_type = Vec<uuid::Uuid>)]
    pub clinician_ids: Vec<String>,
    /// Days that suit; leave out for any.
    #[serde(default)]
    #[schema(max_items = 7)]
    pub days: Vec<Day>,
    /// At most 7 local time windows; an offer lies wholly inside one. Leave out for any time.
    #[serde(default)]
    #[schema(max_items = 7)]
    pub windows: Vec<TimeWindow>,
    /// The modalities the patient takes; leave out for either.
    #[serde(default)]
    #[schema(max_items = 2)]
    pub modalities: Vec<Modality>,
}

crate::rest::listed! {
    WaitlistEntryList { entries: WaitlistEntry } from pb::ListWaitlistEntriesResponse, by from_proto
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WaitlistParams {
    #[param(format = Uuid)]
    pub patient_id: Option<String>,
    #[param(format = Uuid)]
    pub location_id: Option<String>,
    pub kind: Option<AppointmentKind>,
    pub status: Option<WaitlistStatus>,
    /// 1-200, default 50.
    #[param(minimum = 0)]
    pub page_size: Option<i32>,
    pub page_token: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawRequest {
    #[serde(default)]
    #[schema(value_type = text::Line)]
    pub reason: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferAnswer {
    /// The entry's open offer.
    #[schema(format = Uuid)]
    pub offer_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferAcceptance {
    /// The entry's open offer.
    #[schema(format = Uuid)]
    pub offer_id: String,
    /// Required for a telehealth offer: the link the patient joins by.
    #[serde(default)]
    #[schema(value_type = text::HttpsUrl)]
    pub join_url: String,
}

/// What accepting booked.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    pub entry: WaitlistEntry,
    pub appointment: Appointment,
}

/// Put a patient on the waitlist for a kind of appointment. When time that suits frees up
/// (a cancellation, a no-show, a reschedule, a released hold), the service offers it to the
/// first entry it suits whose patient is free then; the offer stands for the kind's
/// `waitlist_offer_seconds`. Send an `Idempotency-Key` to make retries safe.
#[utoipa::path(post, path = "/v1/waitlist-entries", tag = "waitlist", request_body = NewWaitlistEntry,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Retrying with the same key returns the entry made the first time")),
    responses(
        (status = 201, description = "On the list", body = WaitlistEntry, headers(("Location" = String))),
        (status = 404, description = "No such patient, location or clinician in your clinic", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A clinician does not provide the kind or is inactive, or no modality asked for is offered", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, Problem> {
    let new: NewWaitlistEntry = body.parse()?;
    let message = pb::CreateWaitlistEntryRequest {
        entry: Some(pb::WaitlistEntry {
            patient_id: new.patient_id,
            kind: new.kind.to_proto(),
            location_id: new.location_id,
            clinician_ids: new.clinician_ids,
            days: new.days.into_iter().map(Day::to_proto).collect(),
            windows: new
                .windows
                .into_iter()
                .map(|w| pb::TimeWindow {
                    start_time: w.start_time,
                    end_time: w.end_time,
                })
                .collect(),
            modalities: new.modalities.into_iter().map(Modality::to_proto).collect(),
            ..Default::default()
        }),
        request_id: idempotency_key(&headers)?,
    };
    crate::rest::create(&st, &who, super::CreateWaitlistEntry, message, None).await
}

/// A waitlist entry with its offers.
#[utoipa::path(get, path = "/v1/waitlist-entries/{id}", tag = "waitlist",
    responses((status = 200, description = "The entry", body = WaitlistEntry)),
    security(("bearer" = [])))]
pub async fn get(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    answer(
        &st,
        &who,
        super::GetWaitlistEntry,
        pb::GetWaitlistEntryRequest { id },
    )
    .await
}

/// Waitlist entries, oldest first (the order offers go in).
#[utoipa::path(get, path = "/v1/waitlist-entries", tag = "waitlist", params(WaitlistParams),
    responses((status = 200, description = "A page of entries", body = WaitlistEntryList)),
    security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(p): Query<WaitlistParams>,
) -> Result<Json<WaitlistEntryList>, Problem> {
    let message = pb::ListWaitlistEntriesRequest {
        patient_id: p.patient_id.unwrap_or_default(),
        location_id: p.location_id.unwrap_or_default(),
        kind: p.kind.map_or(0, AppointmentKind::to_proto),
        status: p.status.map_or(0, WaitlistStatus::to_proto),
        page_size: p.page_size.unwrap_or(0),
        page_token: p.page_token.unwrap_or_default(),
    };
    crate::rest::list(
        &st,
        &who,
        super::ListWaitlistEntries,
        message,
        pb::WaitlistEntry::problem,
    )
    .await
}

/// Take a patient off the waitlist; an offer standing passes to the next entry.
#[utoipa::path(post, path = "/v1/waitlist-entries/{id}/withdraw", tag = "waitlist",
    request_body = WithdrawRequest,
    responses(
        (status = 200, description = "Withdrawn", body = WaitlistEntry),
        (status = 409, description = "Already booked", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn withdraw(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    body: JsonObject,
) -> Result<Response, Problem> {
    let r: WithdrawRequest = body.parse()?;
    let message = pb::WithdrawWaitlistEntryRequest {
        id,
        reason: r.reason,
    };
    answer(&st, &who, super::WithdrawWaitlistEntry, message).await
}

/// Accept the entry's open offer: it is booked for the patient like any appointment. When
/// the time was booked by someone else meanwhile, 409 names the clash, the offer is `taken`
/// and the entry waits again.
#[utoipa::path(post, path = "/v1/waitlist-entries/{id}/accept", tag = "waitlist",
    request_body = OfferAcceptance,
    responses(
        (status = 200, description = "Booked", body = Accepted),
        (status = 404, description = "No such entry or offer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The offer is no longer open, or its time was taken", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn accept(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    body: JsonObject,
) -> Result<Json<Accepted>, Problem> {
    let r: OfferAcceptance = body.parse()?;
    let message = pb::AcceptWaitlistOfferRequest {
        id,
        offer_id: r.offer_id,
        join_url: r.join_url,
    };
    let done = st
        .down
        .forward(&who, super::AcceptWaitlistOffer, message)
        .await
        .map_err(|s| Problem::from_status(&s, ""))?;
    let (Some(entry), Some(appointment)) = (done.entry, done.appointment) else {
        return Err(Problem::from_status(
            &tonic::Status::internal("an accepted offer came back without its booking"),
            "",
        ));
    };
    Ok(Json(Accepted {
        entry: from_proto(entry),
        appointment: super::appointments::from_proto(appointment),
    }))
}

/// Turn the entry's open offer down: it passes to the next entry, and this one waits for
/// the next opening.
#[utoipa::path(post, path = "/v1/waitlist-entries/{id}/decline", tag = "waitlist",
    request_body = OfferAnswer,
    responses(
        (status = 200, description = "Declined; waiting again", body = WaitlistEntry),
        (status = 404, description = "No such entry or offer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The offer is no longer open", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn decline(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    body: JsonObject,
) -> Result<Response, Problem> {
    let r: OfferAnswer = body.parse()?;
    let message = pb::DeclineWaitlistOfferRequest {
        id,
        offer_id: r.offer_id,
    };
    answer(&st, &who, super::DeclineWaitlistOffer, message).await
}

fn offer_from_proto(o: pb::WaitlistOffer) -> WaitlistOffer {
    WaitlistOffer {
        id: o.id,
        clinician_id: o.clinician_id,
        room_id: present(o.room_id),
        modality: Modality::from_proto(o.modality),
        start_time: rfc3339(o.start_time.as_ref()),
        end_time: rfc3339(o.end_time.as_ref()),
        expire_time: rfc3339(o.expire_time.as_ref()),
        status: OfferStatus::from_proto(o.status),
        create_time: rfc3339(o.create_time.as_ref()),
    }
}

fn from_proto(e: pb::WaitlistEntry) -> WaitlistEntry {
    WaitlistEntry {
        id: e.id,
        patient_id: e.patient_id,
        kind: AppointmentKind::from_proto(e.kind),
        location_id: e.location_id,
        clinician_ids: e.clinician_ids,
        days: e.days.into_iter().filter_map(Day::from_proto).collect(),
        windows: e
            .windows
            .into_iter()
            .map(|w| TimeWindow {
                start_time: w.start_time,
                end_time: w.end_time,
            })
            .collect(),
        modalities: e
            .modalities
            .into_iter()
            .filter_map(Modality::from_proto)
            .collect(),
        status: WaitlistStatus::from_proto(e.status),
        offers: e.offers.into_iter().map(offer_from_proto).collect(),
        appointment_id: present(e.appointment_id),
        withdraw_reason: present(e.withdraw_reason),
        created_by: e.created_by,
        create_time: rfc3339(e.create_time.as_ref()),
    }
}

shown! { pb::WaitlistEntry => WaitlistEntry, by from_proto, at "/v1/waitlist-entries", fields "entry." }
