//! `/v1/programs` and `/v1/program-catalog`: REST and JSON over
//! `iop.groups.v1.ProgramService` — the clinic's programs, and the catalog a person choosing
//! one reads.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::{Extension, Json};
use http::HeaderMap;
use iop_core::Principal;
use iop_proto::groups as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::tracks::{Track, from_proto as track_from_proto};
use crate::AppState;
use crate::backends::records::episodes::{LevelOfCare, Population};
use crate::problem::Problem;
use crate::rest::extract::{JsonObject, Query};
use crate::rest::{Shown, answer, date_text, etag_or_any, idempotency_key, rfc3339, shown, text};

iop_kit::text_enum! {
    json
    /// A therapy a program offers.
    pub enum Treatment: iop_proto::groups::Treatment {
        GroupTherapy = "group_therapy",
        IndividualTherapy = "individual_therapy",
        Psychoeducation = "psychoeducation",
        FamilyTherapy = "family_therapy",
        MindfulnessAndRelaxation = "mindfulness_and_relaxation",
        RelapsePrevention = "relapse_prevention",
        MedicationManagement = "medication_management",
        CopingSkills = "coping_skills",
    }
}

iop_kit::text_enum! {
    json
    /// How a program or a track meets; only a program is `hybrid` (some tracks in person,
    /// some by video).
    pub enum GroupModality: iop_proto::groups::GroupModality {
        InPerson = "in_person",
        Telehealth = "telehealth",
        Hybrid = "hybrid",
    }
}

/// A treatment program of the clinic.
#[derive(Debug, Serialize, ToSchema)]
pub struct Program {
    #[schema(format = Uuid)]
    pub id: String,
    pub name: String,
    pub description: String,
    pub population: Option<Population>,
    pub level_of_care: Option<LevelOfCare>,
    /// A substance use disorder program under 42 CFR Part 2.
    pub substance_use_disorder: bool,
    pub therapies: Vec<Treatment>,
    pub modality: Option<GroupModality>,
    pub expected_weeks: i32,
    /// Treatment minutes a week a patient is expected to attend.
    pub weekly_minutes: i32,
    pub staff_clinician_ids: Vec<String>,
    pub active: bool,
    #[schema(format = DateTime)]
    pub create_time: String,
    /// Send back as `If-Match` to refuse a change made since.
    pub etag: String,
}

/// A new program.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProgram {
    /// Unique within the clinic (whatever the case), e.g. "Adult SUD IOP".
    #[schema(value_type = text::Name)]
    pub name: String,
    /// What a person choosing it reads.
    #[serde(default)]
    #[schema(value_type = text::Narrative)]
    pub description: String,
    pub population: Population,
    pub level_of_care: LevelOfCare,
    /// A substance use disorder program under 42 CFR Part 2 (its patients' records leave
    /// the program only under their written consent). Default false.
    #[serde(default)]
    pub substance_use_disorder: bool,
    /// Each once.
    #[schema(min_items = 1, max_items = 8)]
    pub therapies: Vec<Treatment>,
    pub modality: GroupModality,
    /// How long a patient usually stays.
    #[schema(minimum = 1, maximum = 52)]
    #[serde(deserialize_with = "crate::rest::extract::whole_number")]
    pub expected_weeks: i32,
    /// Treatment minutes a week expected of a patient, 60-2400; leave out for the ASAM
    /// level 2.1 minimum of the population: 540 (9 hours) for adults, 360 for adolescents.
    #[schema(minimum = 60, maximum = 2400)]
    #[serde(
        default,
        deserialize_with = "crate::rest::extract::optional_whole_number"
    )]
    pub weekly_minutes: Option<i32>,
    /// Active clinicians of the clinic who staff it, each once.
    #[serde(default)]
    #[schema(max_items = 50, value_type = Vec<uuid::Uuid>)]
    pub staff_clinician_ids: Vec<String>,
    /// Default true; an inactive program is not in the catalog.
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// A change to a program: only the fields sent change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgramUpdate {
    #[schema(value_type = text::Name, required = false)]
    pub name: Option<String>,
    #[schema(value_type = Option<text::Narrative>)]
    pub description: Option<String>,
    pub population: Option<Population>,
    pub level_of_care: Option<LevelOfCare>,
    pub substance_use_disorder: Option<bool>,
    #[schema(min_items = 1, max_items = 8)]
    pub therapies: Option<Vec<Treatment>>,
    pub modality: Option<GroupModality>,
    #[schema(minimum = 1, maximum = 52)]
    #[serde(
        default,
        deserialize_with = "crate::rest::extract::optional_whole_number"
    )]
    pub expected_weeks: Option<i32>,
    /// 60-2400, or 0 for the population's default.
    #[schema(minimum = 0, maximum = 2400)]
    #[serde(
        default,
        deserialize_with = "crate::rest::extract::optional_whole_number"
    )]
    pub weekly_minutes: Option<i32>,
    /// Clinicians added must be active; those listed already stay until removed.
    #[schema(max_items = 50, value_type = Option<Vec<uuid::Uuid>>)]
    pub staff_clinician_ids: Option<Vec<String>>,
    /// An inactive program leaves the catalog.
    pub active: Option<bool>,
}

crate::rest::listed! {
    ProgramList { programs: Program } from pb::ListProgramsResponse, by from_proto
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProgramParams {
    /// 1-200, default 50.
    #[param(minimum = 0)]
    pub page_size: Option<i32>,
    pub page_token: Option<String>,
}

/// Add a program. Send an `Idempotency-Key` to make retries safe.
#[utoipa::path(post, path = "/v1/programs", tag = "programs", request_body = NewProgram,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Retrying with the same key returns the program created the first time")),
    responses(
        (status = 201, description = "Created", body = Program, headers(("Location" = String))),
        (status = 404, description = "A staff clinician is not one of the clinic's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The clinic has a program of this name, or a staff clinician is inactive", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, Problem> {
    let new: NewProgram = body.parse()?;
    let message = pb::CreateProgramRequest {
        program: Some(pb::Program {
            name: new.name,
            description: new.description,
            population: new.population.to_proto(),
            level_of_care: new.level_of_care.to_proto(),
            substance_use_disorder: new.substance_use_disorder,
            therapies: new.therapies.into_iter().map(Treatment::to_proto).collect(),
            modality: new.modality.to_proto(),
            expected_weeks: new.expected_weeks,
            weekly_minutes: new.weekly_minutes.unwrap_or(0),
            staff_clinician_ids: new.staff_clinician_ids,
            active: new.active,
            ..Default::default()
        }),
        request_id: idempotency_key(&headers)?,
    };
    crate::rest::create(&st, &who, super::CreateProgram, message, None).await
}

/// Change a program; `If-Match` refuses a change made since it was read.
#[utoipa::path(patch, path = "/v1/programs/{id}", tag = "programs", request_body = ProgramUpdate,
    params(("If-Match" = Option<String>, Header, description = "Etag from a previous read")),
    responses(
        (status = 200, description = "Updated", body = Program, headers(("ETag" = String))),
        (status = 404, description = "No such program, or an added staff clinician is not one of the clinic's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Stale etag, a name taken, or an added staff clinician inactive", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn update(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, Problem> {
    let (u, mask) = body.patch::<ProgramUpdate>()?;
    let message = pb::UpdateProgramRequest {
        program: Some(pb::Program {
            id,
            etag: etag_or_any(&headers)?,
            name: u.name.unwrap_or_default(),
            description: u.description.unwrap_or_default(),
            population: u.population.map_or(0, Population::to_proto),
            level_of_care: u.level_of_care.map_or(0, LevelOfCare::to_proto),
            substance_use_disorder: u.substance_use_disorder.unwrap_or(false),
            therapies: u
                .therapies
                .unwrap_or_default()
                .into_iter()
                .map(Treatment::to_proto)
                .collect(),
            modality: u.modality.map_or(0, GroupModality::to_proto),
            expected_weeks: u.expected_weeks.unwrap_or(0),
            weekly_minutes: u.weekly_minutes.unwrap_or(0),
            staff_clinician_ids: u.staff_clinician_ids.unwrap_or_default(),
            active: u.active.unwrap_or(false),
            ..Default::default()
        }),
        update_mask: Some(mask),
    };
    answer(&st, &who, super::UpdateProgram, message).await
}

/// Read a program.
#[utoipa::path(get, path = "/v1/programs/{id}", tag = "programs",
    responses((status = 200, description = "The program", body = Program)),
    security(("bearer" = [])))]
pub async fn get(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    answer(&st, &who, super::GetProgram, pb::GetProgramRequest { id }).await
}

/// The clinic's programs, oldest first, active or not.
#[utoipa::path(get, path = "/v1/programs", tag = "programs", params(ProgramParams),
    responses((status = 200, description = "A page of programs", body = ProgramList)),
    security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(p): Query<ProgramParams>,
) -> Result<Json<ProgramList>, Problem> {
    let message = pb::ListProgramsRequest {
        page_size: p.page_size.unwrap_or(0),
        page_token: p.page_token.unwrap_or_default(),
    };
    crate::rest::list(
        &st,
        &who,
        super::ListPrograms,
        message,
        pb::Program::problem,
    )
    .await
}

/// A clinician staffing a program, as the catalog shows them.
#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogClinician {
    #[schema(format = Uuid)]
    pub id: String,
    pub name: String,
    /// As written after a name: `LCSW`, `MD`.
    pub credentials: Vec<String>,
}

/// A track as the catalog shows it: where, and in which zone its meeting times are.
#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogTrack {
    pub track: Track,
    pub location_name: String,
    #[schema(value_type = text::TimeZone)]
    pub time_zone: String,
    /// Its next session that has not begun, within a week; absent if it does not meet in
    /// that week.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_session: Option<NextSession>,
}

/// When a track next meets, and on what.
#[derive(Debug, Serialize, ToSchema)]
pub struct NextSession {
    /// The local date, in the track's zone.
    #[schema(format = Date)]
    pub date: String,
    #[schema(format = DateTime)]
    pub start_time: String,
    #[schema(format = DateTime)]
    pub end_time: String,
    /// Its curriculum topic; absent without a curriculum.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
}

/// An active program with its staff and its active tracks.
#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogProgram {
    pub program: Program,
    pub staff: Vec<CatalogClinician>,
    /// By name.
    pub tracks: Vec<CatalogTrack>,
}

/// The catalog: active programs by name.
#[derive(Debug, Serialize, ToSchema)]
pub struct Catalog {
    pub programs: Vec<CatalogProgram>,
}

/// The clinic's active programs and tracks, as a person choosing one reads them: when each
/// track meets in its location's local time, where, who staffs the program, and each track's
/// next session with its topic. No patient data; referral partners read it with `system/PlanDefinition.rs`.
#[utoipa::path(get, path = "/v1/program-catalog", tag = "programs",
    responses((status = 200, description = "The catalog", body = Catalog)),
    security(("bearer" = [])))]
pub async fn catalog(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
) -> Result<Json<Catalog>, Problem> {
    let res = st
        .down
        .forward(&who, super::GetCatalog, pb::GetCatalogRequest {})
        .await
        .map_err(pb::Program::problem)?;
    Ok(Json(Catalog {
        programs: res
            .programs
            .into_iter()
            .map(|c| CatalogProgram {
                program: from_proto(c.program.unwrap_or_default()),
                staff: c
                    .staff
                    .into_iter()
                    .map(|s| CatalogClinician {
                        id: s.id,
                        name: s.name,
                        credentials: s.credentials,
                    })
                    .collect(),
                tracks: c
                    .tracks
                    .into_iter()
                    .map(|t| CatalogTrack {
                        track: track_from_proto(t.track.unwrap_or_default()),
                        location_name: t.location_name,
                        time_zone: t.time_zone,
                        next_session: t.next_session_date.as_ref().map(|d| NextSession {
                            date: date_text(Some(d)),
                            start_time: rfc3339(t.next_session_start.as_ref()),
                            end_time: rfc3339(t.next_session_end.as_ref()),
                            topic: crate::rest::present(t.next_session_topic.clone()),
                        }),
                    })
                    .collect(),
            })
            .collect(),
    }))
}

pub(super) fn from_proto(p: pb::Program) -> Program {
    Program {
        id: p.id,
        name: p.name,
        description: p.description,
        population: Population::from_proto(p.population),
        level_of_care: LevelOfCare::from_proto(p.level_of_care),
        substance_use_disorder: p.substance_use_disorder,
        therapies: p
            .therapies
            .into_iter()
            .filter_map(Treatment::from_proto)
            .collect(),
        modality: GroupModality::from_proto(p.modality),
        expected_weeks: p.expected_weeks,
        weekly_minutes: p.weekly_minutes,
        staff_clinician_ids: p.staff_clinician_ids,
        active: p.active,
        create_time: rfc3339(p.create_time.as_ref()),
        etag: p.etag,
    }
}

shown! { pb::Program => Program, by from_proto, at "/v1/programs", fields "program.", versioned }
