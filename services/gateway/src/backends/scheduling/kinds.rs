//! `/v1/appointment-kinds`: how the clinic offers each kind of appointment, REST and JSON
//! over `iop.scheduling.v1.AppointmentKindService`.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::{Extension, Json};
use http::HeaderMap;
use iop_core::Principal;
use iop_proto::scheduling as pb;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::appointments::Modality;
use super::clinicians::AppointmentKind;
use crate::AppState;
use crate::problem::Problem;
use crate::rest::extract::JsonObject;
use crate::rest::{Shown, answer, etag_or_any, present, rfc3339};

/// One kind of appointment as the clinic offers it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppointmentKindSettings {
    pub kind: Option<AppointmentKind>,
    /// What slot search looks for when no length is asked.
    pub default_minutes: i32,
    /// Booking it in another modality is refused (409).
    pub modalities: Vec<Modality>,
    /// A CPT or HCPCS Level II code; empty when none.
    pub billing_code: String,
    /// How long a waitlist offer of this kind stands before it passes to the next patient.
    pub waitlist_offer_seconds: i32,
    /// Send back as `If-Match` to refuse stale changes (`0` while the defaults stand).
    pub etag: String,
    /// Absent while the defaults stand.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub update_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
}

fn from_proto(s: pb::AppointmentKindSettings) -> AppointmentKindSettings {
    AppointmentKindSettings {
        kind: AppointmentKind::from_proto(s.kind),
        default_minutes: s.default_minutes,
        modalities: s
            .modalities
            .into_iter()
            .filter_map(Modality::from_proto)
            .collect(),
        billing_code: s.billing_code,
        waitlist_offer_seconds: s.waitlist_offer_seconds,
        etag: s.etag,
        update_time: s.update_time.as_ref().map(|t| rfc3339(Some(t))),
        updated_by: present(s.updated_by),
    }
}

impl Shown for pb::AppointmentKindSettings {
    type Json = AppointmentKindSettings;
    const COLLECTION: &'static str = "/v1/appointment-kinds";
    const FIELDS: &'static str = "settings.";
    fn id(&self) -> &str {
        ""
    }
    fn etag(&self) -> Option<&str> {
        Some(&self.etag)
    }
    fn json(self) -> AppointmentKindSettings {
        from_proto(self)
    }
}

/// Every kind of appointment.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppointmentKindList {
    pub kinds: Vec<AppointmentKindSettings>,
}

/// A kind's new settings, replacing what was there.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppointmentKindUpdate {
    #[schema(minimum = 5, maximum = 720)]
    #[serde(deserialize_with = "crate::rest::extract::whole_number")]
    pub default_minutes: i32,
    #[schema(min_items = 1, max_items = 2)]
    pub modalities: Vec<Modality>,
    /// A CPT or HCPCS Level II code (`90837`, `H0015`); empty for none.
    #[serde(default)]
    #[schema(pattern = "^([0-9A-Z]{5})?$")]
    pub billing_code: String,
    /// 30-604800 (a week): how long a waitlist offer of this kind stands before it passes
    /// to the next patient waiting; leave out for two hours.
    #[schema(minimum = 30, maximum = 604800)]
    #[serde(
        default,
        deserialize_with = "crate::rest::extract::optional_whole_number"
    )]
    pub waitlist_offer_seconds: Option<i32>,
}

/// Every kind of appointment with the clinic's settings (or the defaults: its usual length,
/// in person and by video, no billing code).
#[utoipa::path(get, path = "/v1/appointment-kinds", tag = "appointment kinds",
    responses((status = 200, description = "Every kind", body = AppointmentKindList)),
    security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Json<AppointmentKindList>, Problem> {
    let res = st
        .down
        .forward(
            &who,
            super::ListAppointmentKinds,
            pb::ListAppointmentKindsRequest {},
        )
        .await
        .map_err(pb::AppointmentKindSettings::problem)?;
    Ok(Json(AppointmentKindList {
        kinds: res.kinds.into_iter().map(from_proto).collect(),
    }))
}

/// Set how the clinic offers a kind. Appointments already booked stay as they are.
/// `If-Match` refuses a stale read (409).
#[utoipa::path(put, path = "/v1/appointment-kinds/{kind}", tag = "appointment kinds",
    request_body = AppointmentKindUpdate,
    params(
        ("kind" = AppointmentKind, Path, description = "The kind"),
        ("If-Match" = Option<String>, Header, description = "Etag from a previous read"),
    ),
    responses(
        (status = 200, description = "As kept", body = AppointmentKindSettings, headers(("ETag" = String))),
        (status = 409, description = "A stale etag", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn update(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, Problem> {
    let kind = AppointmentKind::parse(&kind)
        .ok_or_else(|| Problem::field("kind", "is not an appointment kind"))?;
    let u: AppointmentKindUpdate = body.parse()?;
    // 0 asks the service for the default: here, leaving it out does.
    if u.waitlist_offer_seconds == Some(0) {
        return Err(Problem::field(
            "waitlist_offer_seconds",
            "must be 30-604800 (leave out for two hours)",
        ));
    }
    let message = pb::UpdateAppointmentKindRequest {
        settings: Some(pb::AppointmentKindSettings {
            kind: kind.to_proto(),
            default_minutes: u.default_minutes,
            modalities: u.modalities.into_iter().map(Modality::to_proto).collect(),
            billing_code: u.billing_code,
            waitlist_offer_seconds: u.waitlist_offer_seconds.unwrap_or(0),
            ..Default::default()
        }),
        etag: etag_or_any(&headers)?,
    };
    answer(&st, &who, super::UpdateAppointmentKind, message).await
}
