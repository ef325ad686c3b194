//! `/v1/notes`: clinical notes, REST and JSON over `iop.records.v1.NoteService`.

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
use crate::rest::text;
use crate::rest::{
    Shown, answer, etag_or_any, idempotency_key, optional_id, parse_time, rfc3339, shown,
};

iop_kit::text_enum! {
    json
    /// `psychotherapy` notes are kept apart: only their author reads them.
    pub enum NoteKind: iop_proto::records::NoteKind {
        Intake = "intake",
        IndividualTherapy = "individual_therapy",
        FamilySession = "family_session",
        Group = "group",
        Discharge = "discharge",
        Psychotherapy = "psychotherapy",
    }
}

iop_kit::text_enum! {
    json
    pub enum NoteStatus: iop_proto::records::NoteStatus {
        Draft = "draft",
        Signed = "signed",
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Addendum {
    #[schema(format = Uuid)]
    pub id: String,
    pub author: String,
    pub text: String,
    #[schema(format = DateTime)]
    pub create_time: String,
}

/// A clinical note.
#[derive(Debug, Serialize, ToSchema)]
pub struct Note {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub patient_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid)]
    pub episode_id: Option<String>,
    pub kind: Option<NoteKind>,
    pub status: Option<NoteStatus>,
    pub title: String,
    pub body: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub start_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub end_time: Option<String>,
    /// Whole minutes from start to end (billing bands).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_minutes: Option<i32>,
    pub author: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub sign_time: Option<String>,
    pub addenda: Vec<Addendum>,
    #[schema(format = DateTime)]
    pub create_time: String,
    #[schema(format = DateTime)]
    pub update_time: String,
    pub version: i64,
    pub etag: String,
}

/// A new draft. Session notes need `start_time` and `end_time` before they can be signed.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNote {
    pub kind: NoteKind,
    #[schema(format = Uuid)]
    pub episode_id: Option<String>,
    #[serde(default)]
    #[schema(value_type = text::Text)]
    pub title: String,
    #[serde(default)]
    #[schema(value_type = text::Document)]
    pub body: String,
    #[schema(format = DateTime)]
    pub start_time: Option<String>,
    #[schema(format = DateTime)]
    pub end_time: Option<String>,
}

/// Changes to a draft; only the fields sent change (`null` clears).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteUpdate {
    #[schema(format = Uuid)]
    pub episode_id: Option<String>,
    #[schema(value_type = Option<text::Text>)]
    pub title: Option<String>,
    #[schema(value_type = Option<text::Document>)]
    pub body: Option<String>,
    #[schema(format = DateTime)]
    pub start_time: Option<String>,
    #[schema(format = DateTime)]
    pub end_time: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAddendum {
    #[schema(value_type = text::AddendumText)]
    pub text: String,
}

crate::rest::listed! {
    /// Notes without their addenda: read a note for those.
    NoteList { notes: Note } from pb::ListNotesResponse, by from_proto
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NoteParams {
    #[param(format = Uuid)]
    pub patient_id: Option<String>,
    #[param(format = Uuid)]
    pub episode_id: Option<String>,
    pub kind: Option<NoteKind>,
    pub status: Option<NoteStatus>,
    /// The author's user id.
    pub author: Option<String>,
    /// Session start (or, without one, writing time) at or after (RFC 3339).
    #[param(format = DateTime)]
    pub from_time: Option<String>,
    /// … and before.
    #[param(format = DateTime)]
    pub to_time: Option<String>,
    #[param(minimum = 0)]
    pub page_size: Option<i32>,
    pub page_token: Option<String>,
}

fn time(field: &str, value: Option<&str>) -> Result<Option<prost_types::Timestamp>, Problem> {
    Ok(parse_time(field, value)?.map(iop_proto::timestamp_from_micros))
}

/// Write a draft note about a patient; the caller is its author.
#[utoipa::path(post, path = "/v1/patients/{id}/notes", tag = "notes", request_body = NewNote,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Retrying with the same key returns the note written the first time")),
    responses(
        (status = 201, description = "Draft written", body = Note, headers(("Location" = String), ("ETag" = String))),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(patient_id): Path<String>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, Problem> {
    let new: NewNote = body.parse()?;
    let message = pb::CreateNoteRequest {
        note: Some(pb::Note {
            patient_id,
            episode_id: optional_id("episode_id", new.episode_id)?,
            kind: new.kind.to_proto(),
            title: new.title,
            body: new.body,
            start_time: time("start_time", new.start_time.as_deref())?,
            end_time: time("end_time", new.end_time.as_deref())?,
            ..Default::default()
        }),
        request_id: idempotency_key(&headers)?,
    };
    crate::rest::create(&st, &who, super::CreateNote, message, Some("patient_id")).await
}

/// Read a note with its addenda. Psychotherapy notes: their author only (403 otherwise).
#[utoipa::path(get, path = "/v1/notes/{id}", tag = "notes",
    responses(
        (status = 200, description = "The note", body = Note, headers(("ETag" = String))),
        (status = 403, description = "Missing scope or role, or another clinician's psychotherapy note", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    answer(&st, &who, super::GetNote, pb::GetNoteRequest { id }).await
}

/// List notes in writing order. Other clinicians' psychotherapy notes are left out.
#[utoipa::path(get, path = "/v1/notes", tag = "notes", params(NoteParams),
    responses(
        (status = 200, description = "A page of notes", body = NoteList),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(p): Query<NoteParams>,
) -> Result<Json<NoteList>, Problem> {
    let message = pb::ListNotesRequest {
        patient_id: p.patient_id.unwrap_or_default(),
        episode_id: p.episode_id.unwrap_or_default(),
        kind: p.kind.map_or(0, NoteKind::to_proto),
        status: p.status.map_or(0, NoteStatus::to_proto),
        author: p.author.unwrap_or_default(),
        from_time: time("from_time", p.from_time.as_deref())?,
        to_time: time("to_time", p.to_time.as_deref())?,
        page_size: p.page_size.unwrap_or(0),
        page_token: p.page_token.unwrap_or_default(),
    };
    crate::rest::list(&st, &who, super::ListNotes, message, pb::Note::problem).await
}

/// Edit a draft (its author only). A signed note is locked: 409 with the reason.
#[utoipa::path(patch, path = "/v1/notes/{id}", tag = "notes", request_body = NoteUpdate,
    params(("If-Match" = Option<String>, Header, description = "Etag from a previous read")),
    responses(
        (status = 200, description = "Updated", body = Note, headers(("ETag" = String))),
        (status = 403, description = "Not the author", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Signed (locked), or stale etag", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn update(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: JsonObject,
) -> Result<Response, Problem> {
    let (u, mask) = body.patch::<NoteUpdate>()?;
    let message = pb::UpdateNoteRequest {
        note: Some(pb::Note {
            id,
            etag: etag_or_any(&headers)?,
            episode_id: u.episode_id.unwrap_or_default(),
            title: u.title.unwrap_or_default(),
            body: u.body.unwrap_or_default(),
            start_time: time("start_time", u.start_time.as_deref())?,
            end_time: time("end_time", u.end_time.as_deref())?,
            ..Default::default()
        }),
        update_mask: Some(mask),
    };
    answer(&st, &who, super::UpdateNote, message).await
}

/// Sign (lock) a draft: its author, signed in as themselves. `If-Match` makes sure you sign
/// what you read.
#[utoipa::path(post, path = "/v1/notes/{id}/sign", tag = "notes",
    params(("If-Match" = Option<String>, Header, description = "Etag from a previous read")),
    responses(
        (status = 200, description = "Signed", body = Note, headers(("ETag" = String))),
        (status = 403, description = "Not the author", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already signed, stale etag, or the draft is not complete (an empty body, a session note without times), naming the fields", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn sign(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let message = pb::SignNoteRequest {
        id,
        etag: etag_or_any(&headers)?,
    };
    answer(&st, &who, super::SignNote, message).await
}

/// Add an addendum to a signed note; the note stays as signed.
#[utoipa::path(post, path = "/v1/notes/{id}/addenda", tag = "notes", request_body = NewAddendum,
    responses(
        (status = 200, description = "The note with its addenda", body = Note, headers(("ETag" = String))),
        (status = 400, description = "Empty text", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The note is still a draft", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn add_addendum(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    body: JsonObject,
) -> Result<Response, Problem> {
    let a: NewAddendum = body.parse()?;
    let message = pb::AddAddendumRequest { id, text: a.text };
    answer(&st, &who, super::AddAddendum, message).await
}

fn from_proto(n: pb::Note) -> Note {
    let signed = n.status == pb::NoteStatus::Signed as i32;
    Note {
        episode_id: crate::rest::present(n.episode_id),
        kind: NoteKind::from_proto(n.kind),
        status: NoteStatus::from_proto(n.status),
        start_time: n.start_time.as_ref().map(|t| rfc3339(Some(t))),
        end_time: n.end_time.as_ref().map(|t| rfc3339(Some(t))),
        duration_minutes: (n.start_time.is_some() && n.end_time.is_some())
            .then_some(n.duration_minutes),
        signed_by: signed.then_some(n.signed_by),
        sign_time: signed.then(|| rfc3339(n.sign_time.as_ref())),
        addenda: n
            .addenda
            .into_iter()
            .map(|a| Addendum {
                create_time: rfc3339(a.create_time.as_ref()),
                id: a.id,
                author: a.author,
                text: a.text,
            })
            .collect(),
        create_time: rfc3339(n.create_time.as_ref()),
        update_time: rfc3339(n.update_time.as_ref()),
        id: n.id,
        patient_id: n.patient_id,
        title: n.title,
        body: n.body,
        author: n.author,
        version: n.version,
        etag: n.etag,
    }
}

shown! { pb::Note => Note, by from_proto, at "/v1/notes", fields "note.", versioned }
