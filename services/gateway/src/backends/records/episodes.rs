//! `/v1/episodes`: episodes of care, REST and JSON over `iop.records.v1.EpisodeService`.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::{Extension, Json};
use http::HeaderMap;
use iop_core::Principal;
use iop_proto::records as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::problem::Problem;
use crate::rest::extract::{JsonObject, Query};
use crate::rest::shown;
use crate::rest::text;
use crate::rest::{
    Shown, answer, date_text, etag_or_any, idempotency_key, parse_date, parse_time, rfc3339,
};

iop_kit::text_enum! {
    json
    /// Decides the weekly hour thresholds of the program.
    pub enum Population: iop_proto::records::Population {
        Adult = "adult",
        Adolescent = "adolescent",
    }
}

iop_kit::text_enum! {
    json
    pub enum EpisodeStatus: iop_proto::records::EpisodeStatus {
        Referred = "referred",
        Admitted = "admitted",
        Discharged = "discharged",
    }
}

iop_kit::text_enum! {
    json
    /// ASAM levels of care (`outpatient` 1, `intensive_outpatient` 2.1,
    /// `partial_hospitalization` 2.5, `residential` 3.x, `inpatient` 4) and
    /// `recovery_support` for aftercare.
    pub enum LevelOfCare: iop_proto::records::LevelOfCare {
        Outpatient = "outpatient",
        IntensiveOutpatient = "intensive_outpatient",
        PartialHospitalization = "partial_hospitalization",
        Residential = "residential",
        Inpatient = "inpatient",
        RecoverySupport = "recovery_support",
    }
}

iop_kit::text_enum! {
    json
    /// `authorized` by the payer, or `delivered` by the program.
    pub enum LevelKind: iop_proto::records::LevelKind {
        Authorized = "authorized",
        Delivered = "delivered",
    }
}

iop_kit::text_enum! {
    json
    pub enum DischargeReason: iop_proto::records::DischargeReason {
        Completed = "completed",
        SteppedDown = "stepped_down",
        SteppedUp = "stepped_up",
        Transferred = "transferred",
        LeftAgainstAdvice = "left_against_advice",
        Administrative = "administrative",
        NeverAdmitted = "never_admitted",
        Other = "other",
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LevelChange {
    pub kind: Option<LevelKind>,
    pub level: Option<LevelOfCare>,
    #[schema(format = Date)]
    pub effective_date: String,
    pub reason: String,
    pub changed_by: String,
    #[schema(format = DateTime)]
    pub change_time: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowUp {
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub time: String,
    /// With whom or where, e.g. "Dr. Patel, Riverside Outpatient".
    #[schema(value_type = text::Name)]
    pub with: String,
    #[serde(default)]
    #[schema(value_type = text::Line)]
    pub purpose: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SupportContact {
    #[schema(value_type = text::Name)]
    pub name: String,
    /// e.g. "sponsor", "crisis line".
    #[serde(default)]
    #[schema(value_type = text::Text)]
    pub role: String,
    #[schema(value_type = text::PhoneOrShortCode)]
    pub phone: String,
}

/// Where the patient goes after the program, and who to call.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Aftercare {
    pub step_down_level: Option<LevelOfCare>,
    #[serde(default)]
    #[schema(value_type = Vec<text::Name>)]
    pub support_groups: Vec<String>,
    #[serde(default)]
    pub follow_ups: Vec<FollowUp>,
    #[serde(default)]
    pub contacts: Vec<SupportContact>,
    #[serde(default)]
    #[schema(value_type = text::Narrative)]
    pub notes: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Discharge {
    #[schema(format = Date)]
    pub date: String,
    pub reason: Option<DischargeReason>,
    pub note: String,
    pub aftercare: Aftercare,
}

/// One IOP stay of a patient.
#[derive(Debug, Serialize, ToSchema)]
pub struct Episode {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub patient_id: String,
    pub program: String,
    pub population: Option<Population>,
    pub status: Option<EpisodeStatus>,
    #[schema(format = Date)]
    pub referral_date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Date)]
    pub admit_date: Option<String>,
    pub primary_clinician: String,
    pub program_director: String,
    /// The latest authorized level (payer).
    pub authorized_level: Option<LevelOfCare>,
    /// The latest delivered level.
    pub delivered_level: Option<LevelOfCare>,
    /// Every level change, oldest first.
    pub level_history: Vec<LevelChange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discharge: Option<Discharge>,
    #[schema(format = DateTime)]
    pub create_time: String,
    #[schema(format = DateTime)]
    pub update_time: String,
    pub version: i64,
    pub etag: String,
}

/// Opens an episode: referred, or admitted at once when `admit_date` is given.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEpisode {
    #[schema(example = "Adolescent mental-health IOP")]
    #[schema(value_type = text::Name)]
    pub program: String,
    pub population: Population,
    /// Default today.
    #[schema(format = Date)]
    pub referral_date: Option<String>,
    #[schema(format = Date)]
    pub admit_date: Option<String>,
    #[serde(default)]
    #[schema(value_type = text::Text)]
    pub primary_clinician: String,
    #[serde(default)]
    #[schema(value_type = text::Text)]
    pub program_director: String,
    pub authorized_level: Option<LevelOfCare>,
    pub delivered_level: Option<LevelOfCare>,
}

/// Program, population or care team; only the fields sent change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EpisodeUpdate {
    #[schema(value_type = text::Name, required = false)]
    pub program: Option<String>,
    /// Not null: an episode always has its population.
    #[schema(value_type = Population, required = false)]
    pub population: Option<Population>,
    #[schema(value_type = Option<text::Text>)]
    pub primary_clinician: Option<String>,
    #[schema(value_type = Option<text::Text>)]
    pub program_director: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Admit {
    #[schema(format = Date)]
    pub admit_date: String,
    /// Replaces the care team's when sent.
    #[schema(value_type = Option<text::Text>)]
    pub primary_clinician: Option<String>,
    #[schema(value_type = Option<text::Text>)]
    pub program_director: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLevel {
    pub kind: LevelKind,
    pub level: LevelOfCare,
    /// Default today.
    #[schema(format = Date)]
    pub effective_date: Option<String>,
    #[serde(default)]
    #[schema(value_type = text::Line)]
    pub reason: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DischargeRequest {
    #[schema(format = Date)]
    pub discharge_date: String,
    pub reason: DischargeReason,
    #[serde(default)]
    #[schema(value_type = text::Narrative)]
    pub note: String,
    /// Required when the patient goes on to other care (completed, stepped down or up,
    /// transferred), with at least `step_down_level`.
    pub aftercare: Option<Aftercare>,
}

crate::rest::listed! {
    EpisodeList { episodes: Episode } from pb::ListEpisodesResponse, by from_proto
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EpisodeParams {
    #[param(format = Uuid)]
    pub patient_id: Option<String>,
    pub status: Option<EpisodeStatus>,
    /// Exact program name.
    pub program: Option<String>,
    /// Episodes whose primary clinician or program director is this user.
    pub clinician: Option<String>,
    /// Admitted on or after (`YYYY-MM-DD`).
    #[param(format = Date)]
    pub admitted_from: Option<String>,
    /// Admitted on or before (`YYYY-MM-DD`).
    #[param(format = Date)]
    pub admitted_to: Option<String>,
    #[param(minimum = 0)]
    pub page_size: Option<i32>,
    pub page_token: Option<String>,
}

/// Open an episode of care for a patient. Refused (409) while the patient has another open
/// (referred or admitted) episode.
#[utoipa::path(post, path = "/v1/patients/{id}/episodes", tag = "episodes", request_body = NewEpisode,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Retrying with the same key returns the episode opened the first time")),
    responses(
        (status = 201, description = "Opened", body = Episode, headers(("Location" = String), ("ETag" = String))),
        (status = 409, description = "The patient has an open episode", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(patient_id): Path<String>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, Problem> {
    let new: NewEpisode = body.parse()?;
    let message = pb::CreateEpisodeRequest {
        episode: Some(pb::Episode {
            patient_id,
            program: new.program,
            population: new.population.to_proto(),
            referral_date: parse_date("referral_date", new.referral_date.as_deref())?,
            admit_date: parse_date("admit_date", new.admit_date.as_deref())?,
            primary_clinician: new.primary_clinician,
            program_director: new.program_director,
            authorized_level: new.authorized_level.map_or(0, LevelOfCare::to_proto),
            delivered_level: new.delivered_level.map_or(0, LevelOfCare::to_proto),
            ..Default::default()
        }),
        request_id: idempotency_key(&headers)?,
    };
    crate::rest::create(&st, &who, super::CreateEpisode, message, Some("patient_id")).await
}

/// Read an episode with its level-of-care history.
#[utoipa::path(get, path = "/v1/episodes/{id}", tag = "episodes",
    responses(
        (status = 200, description = "The episode", body = Episode, headers(("ETag" = String))),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    answer(&st, &who, super::GetEpisode, pb::GetEpisodeRequest { id }).await
}

/// List episodes in opening order: a patient's history, a clinician's caseload, everyone
/// admitted in a date range.
#[utoipa::path(get, path = "/v1/episodes", tag = "episodes", params(EpisodeParams),
    responses(
        (status = 200, description = "A page of episodes", body = EpisodeList),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(p): Query<EpisodeParams>,
) -> Result<Json<EpisodeList>, Problem> {
    let message = pb::ListEpisodesRequest {
        patient_id: p.patient_id.unwrap_or_default(),
        status: p.status.map_or(0, EpisodeStatus::to_proto),
        program: p.program.unwrap_or_default(),
        clinician: p.clinician.unwrap_or_default(),
        admitted_from: parse_date("admitted_from", p.admitted_from.as_deref())?,
        admitted_to: parse_date("admitted_to", p.admitted_to.as_deref())?,
        page_size: p.page_size.unwrap_or(0),
        page_token: p.page_token.unwrap_or_default(),
    };
    crate::rest::list(
        &st,
        &who,
        super::ListEpisodes,
        message,
        pb::Episode::problem,
    )
    .await
}

/// Change program, population or care team. `If-Match` refuses stale writes (409).
#[utoipa::path(patch, path = "/v1/episodes/{id}", tag = "episodes", request_body = EpisodeUpdate,
    params(("If-Match" = Option<String>, Header, description = "Etag from a previous read")),
    responses(
        (status = 200, description = "Updated", body = Episode, headers(("ETag" = String))),
        (status = 409, description = "Stale etag, or the episode is discharged", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn update(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, Problem> {
    let (u, mask) = body.patch::<EpisodeUpdate>()?;
    let message = pb::UpdateEpisodeRequest {
        episode: Some(pb::Episode {
            id,
            etag: etag_or_any(&headers)?,
            program: u.program.unwrap_or_default(),
            population: u.population.map_or(0, Population::to_proto),
            primary_clinician: u.primary_clinician.unwrap_or_default(),
            program_director: u.program_director.unwrap_or_default(),
            ..Default::default()
        }),
        update_mask: Some(mask),
    };
    answer(&st, &who, super::UpdateEpisode, message).await
}

/// Admit a referred patient.
#[utoipa::path(post, path = "/v1/episodes/{id}/admit", tag = "episodes", request_body = Admit,
    params(("If-Match" = Option<String>, Header, description = "Etag from a previous read")),
    responses(
        (status = 200, description = "Admitted", body = Episode, headers(("ETag" = String))),
        (status = 400, description = "Invalid date", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not a referred episode, or stale etag", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn admit(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, Problem> {
    let a: Admit = body.parse()?;
    let message = pb::AdmitEpisodeRequest {
        id,
        admit_date: parse_date("admit_date", Some(&a.admit_date))?,
        primary_clinician: a.primary_clinician.unwrap_or_default(),
        program_director: a.program_director.unwrap_or_default(),
        etag: etag_or_any(&headers)?,
    };
    answer(&st, &who, super::AdmitEpisode, message).await
}

/// Record a change of the authorized or delivered level of care. The history keeps every
/// change; the episode shows the latest of each.
#[utoipa::path(post, path = "/v1/episodes/{id}/levels", tag = "episodes", request_body = NewLevel,
    params(("If-Match" = Option<String>, Header, description = "Etag from a previous read")),
    responses(
        (status = 200, description = "Recorded", body = Episode, headers(("ETag" = String))),
        (status = 409, description = "Discharged episode, or stale etag", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn change_level(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, Problem> {
    let l: NewLevel = body.parse()?;
    let message = pb::ChangeLevelOfCareRequest {
        id,
        kind: l.kind.to_proto(),
        level: l.level.to_proto(),
        effective_date: parse_date("effective_date", l.effective_date.as_deref())?,
        reason: l.reason,
        etag: etag_or_any(&headers)?,
    };
    answer(&st, &who, super::ChangeLevelOfCare, message).await
}

/// Discharge: closes the episode with its reason and the aftercare plan. A discharged
/// episode changes no more (409); readmission opens a new one.
#[utoipa::path(post, path = "/v1/episodes/{id}/discharge", tag = "episodes", request_body = DischargeRequest,
    params(("If-Match" = Option<String>, Header, description = "Etag from a previous read")),
    responses(
        (status = 200, description = "Discharged", body = Episode, headers(("ETag" = String))),
        (status = 409, description = "Already discharged, stale etag, or a date or reason the episode does not allow (before its admission; never_admitted after admission)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn discharge(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, Problem> {
    let d: DischargeRequest = body.parse()?;
    let message = pb::DischargeEpisodeRequest {
        id,
        discharge_date: parse_date("discharge_date", Some(&d.discharge_date))?,
        reason: d.reason.to_proto(),
        note: d.note,
        aftercare: d.aftercare.map(aftercare_to_proto).transpose()?,
        etag: etag_or_any(&headers)?,
    };
    answer(&st, &who, super::DischargeEpisode, message).await
}

fn aftercare_to_proto(a: Aftercare) -> Result<pb::AftercarePlan, Problem> {
    let follow_ups = a
        .follow_ups
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            let field = format!("aftercare.follow_ups[{i}].time");
            Ok(pb::FollowUp {
                time: parse_time(&field, Some(&f.time))?.map(iop_proto::timestamp_from_micros),
                with: f.with,
                purpose: f.purpose,
            })
        })
        .collect::<Result<_, Problem>>()?;
    Ok(pb::AftercarePlan {
        step_down_level: a.step_down_level.map_or(0, LevelOfCare::to_proto),
        support_groups: a.support_groups,
        follow_ups,
        contacts: a
            .contacts
            .into_iter()
            .map(|c| pb::SupportContact {
                name: c.name,
                role: c.role,
                phone: c.phone,
            })
            .collect(),
        notes: a.notes,
    })
}

fn from_proto(e: pb::Episode) -> Episode {
    let discharged = e.status == pb::EpisodeStatus::Discharged as i32;
    let discharge = discharged.then(|| {
        let a = e.aftercare.clone().unwrap_or_default();
        Discharge {
            date: date_text(e.discharge_date.as_ref()),
            reason: DischargeReason::from_proto(e.discharge_reason),
            note: e.discharge_note.clone(),
            aftercare: Aftercare {
                step_down_level: LevelOfCare::from_proto(a.step_down_level),
                support_groups: a.support_groups,
                follow_ups: a
                    .follow_ups
                    .into_iter()
                    .map(|f| FollowUp {
                        time: rfc3339(f.time.as_ref()),
                        with: f.with,
                        purpose: f.purpose,
                    })
                    .collect(),
                contacts: a
                    .contacts
                    .into_iter()
                    .map(|c| SupportContact {
                        name: c.name,
                        role: c.role,
                        phone: c.phone,
                    })
                    .collect(),
                notes: a.notes,
            },
        }
    });
    Episode {
        population: Population::from_proto(e.population),
        status: EpisodeStatus::from_proto(e.status),
        referral_date: date_text(e.referral_date.as_ref()),
        admit_date: e.admit_date.as_ref().map(|d| date_text(Some(d))),
        authorized_level: LevelOfCare::from_proto(e.authorized_level),
        delivered_level: LevelOfCare::from_proto(e.delivered_level),
        level_history: e
            .level_history
            .into_iter()
            .map(|l| LevelChange {
                kind: LevelKind::from_proto(l.kind),
                level: LevelOfCare::from_proto(l.level),
                effective_date: date_text(l.effective_date.as_ref()),
                reason: l.reason,
                changed_by: l.changed_by,
                change_time: rfc3339(l.change_time.as_ref()),
            })
            .collect(),
        discharge,
        create_time: rfc3339(e.create_time.as_ref()),
        update_time: rfc3339(e.update_time.as_ref()),
        id: e.id,
        patient_id: e.patient_id,
        program: e.program,
        primary_clinician: e.primary_clinician,
        program_director: e.program_director,
        version: e.version,
        etag: e.etag,
    }
}

shown! { pb::Episode => Episode, by from_proto, at "/v1/episodes", fields "episode.", versioned }
