//! `iop.records.v1.NoteService` over [`Notes`].

use iop_core::{EpisodeId, Error, NoteId, PatientId};
use iop_proto::records::{self as pb, note_service_server::NoteService};
use iop_proto::{micros_from_timestamp, timestamp_from_micros};
use tonic::{Request, Response, Status};

use super::{ListNotes, Note, NoteContent, NoteKind, NotePath, NoteStatus, Notes};
use iop_kit::principal;

pub struct NoteApi {
    notes: Notes,
}

impl NoteApi {
    pub fn new(notes: Notes) -> Self {
        Self { notes }
    }
}

#[tonic::async_trait]
impl NoteService for NoteApi {
    async fn create_note(
        &self,
        req: Request<pb::CreateNoteRequest>,
    ) -> Result<Response<pb::Note>, Status> {
        let who = principal(&req)?;
        let r = req.into_inner();
        let n = r.note.ok_or_else(|| Error::field("note", "is required"))?;
        let patient = PatientId::parse("note.patient_id", &n.patient_id)?;
        let kind = NoteKind::from_proto_field(n.kind, "note.kind")?;
        let content = content_from_proto(&n)?;
        let created = self
            .notes
            .create(&who, patient, kind, content, &r.request_id)
            .await?;
        Ok(Response::new(to_proto(created)))
    }

    async fn get_note(
        &self,
        req: Request<pb::GetNoteRequest>,
    ) -> Result<Response<pb::Note>, Status> {
        let who = principal(&req)?;
        let id = NoteId::parse("id", &req.get_ref().id)?;
        Ok(Response::new(to_proto(self.notes.get(&who, id).await?)))
    }

    async fn list_notes(
        &self,
        req: Request<pb::ListNotesRequest>,
    ) -> Result<Response<pb::ListNotesResponse>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let status = NoteStatus::from_proto_field(r.status, "status")?;
        let (rows, next) = self
            .notes
            .list(
                &who,
                ListNotes {
                    patient_id: &r.patient_id,
                    episode_id: &r.episode_id,
                    kind: NoteKind::from_proto_field(r.kind, "kind")?,
                    status,
                    author: &r.author,
                    from_us: r.from_time.as_ref().map(micros_from_timestamp),
                    to_us: r.to_time.as_ref().map(micros_from_timestamp),
                    page_size: r.page_size,
                    page_token: &r.page_token,
                },
            )
            .await?;
        Ok(Response::new(pb::ListNotesResponse {
            notes: rows.into_iter().map(to_proto).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }

    async fn update_note(
        &self,
        req: Request<pb::UpdateNoteRequest>,
    ) -> Result<Response<pb::Note>, Status> {
        let who = principal(&req)?;
        let r = req.into_inner();
        let n = r.note.ok_or_else(|| Error::field("note", "is required"))?;
        let id = NoteId::parse("note.id", &n.id)?;
        let paths = match r.update_mask {
            Some(mask) if !mask.paths.is_empty() => mask
                .paths
                .iter()
                .map(|p| NotePath::parse(p).map_err(|why| Error::field("update_mask", why)))
                .collect::<Result<Vec<_>, _>>()?,
            _ => NotePath::ALL.to_vec(),
        };
        let patch = content_from_proto(&n)?;
        let updated = self.notes.update(&who, id, patch, &paths, &n.etag).await?;
        Ok(Response::new(to_proto(updated)))
    }

    async fn sign_note(
        &self,
        req: Request<pb::SignNoteRequest>,
    ) -> Result<Response<pb::Note>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let id = NoteId::parse("id", &r.id)?;
        Ok(Response::new(to_proto(
            self.notes.sign(&who, id, &r.etag).await?,
        )))
    }

    async fn add_addendum(
        &self,
        req: Request<pb::AddAddendumRequest>,
    ) -> Result<Response<pb::Note>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let id = NoteId::parse("id", &r.id)?;
        let note = self.notes.add_addendum(&who, id, &r.text).await?;
        Ok(Response::new(to_proto(note)))
    }
}

fn content_from_proto(n: &pb::Note) -> Result<NoteContent, Error> {
    Ok(NoteContent {
        episode_id: match n.episode_id.as_str() {
            "" => None,
            id => Some(EpisodeId::parse("note.episode_id", id)?),
        },
        title: n.title.clone(),
        body: n.body.clone(),
        start_us: n.start_time.as_ref().map(micros_from_timestamp),
        end_us: n.end_time.as_ref().map(micros_from_timestamp),
    })
}

fn to_proto(n: Note) -> pb::Note {
    let status = n.status().to_proto();
    let duration = n.duration_minutes().unwrap_or(0);
    let etag = n.etag();
    pb::Note {
        id: n.id.to_string(),
        patient_id: n.patient_id.to_string(),
        episode_id: n.episode_id.map(|e| e.to_string()).unwrap_or_default(),
        kind: n.kind.to_proto(),
        status,
        title: n.title,
        body: n.body,
        start_time: n.start_us.map(timestamp_from_micros),
        end_time: n.end_us.map(timestamp_from_micros),
        duration_minutes: i32::try_from(duration).unwrap_or(i32::MAX),
        author: n.author,
        signed_by: n
            .signature
            .as_ref()
            .map(|s| s.by.clone())
            .unwrap_or_default(),
        sign_time: n.signature.map(|s| timestamp_from_micros(s.time_us)),
        addenda: n
            .addenda
            .into_iter()
            .map(|a| pb::Addendum {
                id: a.id.to_string(),
                author: a.author,
                text: a.text,
                create_time: Some(timestamp_from_micros(a.create_time_us)),
            })
            .collect(),
        create_time: Some(timestamp_from_micros(n.create_time_us)),
        update_time: Some(timestamp_from_micros(n.update_time_us)),
        version: n.version,
        etag,
    }
}
