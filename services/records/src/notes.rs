//! Clinical notes: draft → signed → addenda. A draft is edited only by its author; signing
//! locks it for everyone (the database refuses updates of signed notes too) and records
//! signer and time; corrections afterwards are addenda, the original staying as signed.
//! Psychotherapy notes are read only by their author. Transport-free; `grpc` maps it onto
//! `iop.records.v1.NoteService`.

pub mod grpc;
mod store;
#[cfg(test)]
mod tests;

use iop_core::page;
use iop_core::{EpisodeId, Error, NoteId, PatientId, Principal, now_micros};

use iop_kit::dates::rfc3339;
use iop_kit::etag;
use iop_kit::idempotency::{self, Claim, Key};
use iop_kit::require_user;
use iop_kit::text;
use iop_kit::violations::Violations;
pub use store::NoteStore;

iop_kit::text_enum! {
    pub enum NoteKind: iop_proto::records::NoteKind {
        Intake = "intake",
        IndividualTherapy = "individual_therapy",
        FamilySession = "family_session",
        Group = "group",
        Discharge = "discharge",
        Psychotherapy = "psychotherapy",
    }
}

impl NoteKind {
    /// Session notes document minutes that are billed: they need start and end to be signed.
    pub fn is_session(self) -> bool {
        matches!(
            self,
            Self::IndividualTherapy | Self::FamilySession | Self::Group | Self::Psychotherapy
        )
    }
}

iop_kit::text_enum! {
    pub enum NoteStatus: iop_proto::records::NoteStatus {
        Draft = "draft",
        Signed = "signed",
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addendum {
    pub id: NoteId,
    pub author: String,
    pub text: String,
    pub create_time_us: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub by: String,
    pub time_us: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub id: NoteId,
    pub patient_id: PatientId,
    pub episode_id: Option<EpisodeId>,
    pub kind: NoteKind,
    pub title: String,
    pub body: String,
    pub start_us: Option<i64>,
    pub end_us: Option<i64>,
    pub author: String,
    pub signature: Option<Signature>,
    /// Oldest first.
    pub addenda: Vec<Addendum>,
    pub version: i64,
    pub create_time_us: i64,
    pub update_time_us: i64,
}

impl Note {
    pub fn status(&self) -> NoteStatus {
        if self.signature.is_some() {
            NoteStatus::Signed
        } else {
            NoteStatus::Draft
        }
    }

    pub fn etag(&self) -> String {
        self.version.to_string()
    }

    /// Whole minutes of the session, when both ends are known.
    pub fn duration_minutes(&self) -> Option<i64> {
        match (self.start_us, self.end_us) {
            (Some(s), Some(e)) if e > s => Some((e - s) / 60_000_000),
            _ => None,
        }
    }

    /// Psychotherapy notes: their author only; everything else: anyone allowed to read notes.
    fn readable_by(&self, who: &Principal) -> bool {
        self.kind != NoteKind::Psychotherapy || is_author(who, &self.author)
    }
}

/// The writable content of a note.
#[derive(Debug, Clone, Default)]
pub struct NoteContent {
    pub episode_id: Option<EpisodeId>,
    pub title: String,
    pub body: String,
    pub start_us: Option<i64>,
    pub end_us: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotePath {
    EpisodeId,
    Title,
    Body,
    StartTime,
    EndTime,
}

impl NotePath {
    pub const ALL: [Self; 5] = [
        Self::EpisodeId,
        Self::Title,
        Self::Body,
        Self::StartTime,
        Self::EndTime,
    ];

    pub fn parse(path: &str) -> Result<Self, String> {
        match path {
            "episode_id" => Ok(Self::EpisodeId),
            "title" => Ok(Self::Title),
            "body" => Ok(Self::Body),
            "start_time" => Ok(Self::StartTime),
            "end_time" => Ok(Self::EndTime),
            "kind" | "patient_id" => Err(format!("{path} cannot change; write a new note instead")),
            _ => Err(format!("{path} is not a changeable note field")),
        }
    }
}

#[derive(Debug, Default)]
pub struct ListNotes<'a> {
    pub patient_id: &'a str,
    pub episode_id: &'a str,
    pub kind: Option<NoteKind>,
    pub status: Option<NoteStatus>,
    pub author: &'a str,
    pub from_us: Option<i64>,
    pub to_us: Option<i64>,
    pub page_size: i32,
    pub page_token: &'a str,
}

const KIND: &str = "note";
const MAX_SESSION_US: i64 = 12 * 3600 * 1_000_000;
const MAX_SKEW_US: i64 = 5 * 60 * 1_000_000;

#[derive(Clone)]
pub struct Notes {
    store: NoteStore,
}

impl Notes {
    pub fn new(store: NoteStore) -> Self {
        Self { store }
    }

    /// Writes a new draft authored by the caller.
    pub async fn create(
        &self,
        who: &Principal,
        patient_id: PatientId,
        kind: Option<NoteKind>,
        content: NoteContent,
        request_id: &str,
    ) -> Result<Note, Error> {
        let mut v = Violations::new("note.");
        if kind.is_none() {
            v.push("kind", "is required");
        }
        check_content(&mut v, &content);
        v.finish()?;
        let Some(kind) = kind else {
            return Err(Error::internal("validated kind is missing"));
        };
        if kind == NoteKind::Psychotherapy {
            require_user(who, "psychotherapy notes are written by a clinician")?;
        }
        let key = Key::parse(request_id, &(patient_id, kind, &content))?;
        let now = now_micros();
        let note = Note {
            id: NoteId::new(),
            patient_id,
            episode_id: content.episode_id,
            kind,
            title: content.title,
            body: content.body,
            start_us: content.start_us,
            end_us: content.end_us,
            author: who.subject.clone(),
            signature: None,
            addenda: Vec::new(),
            version: 1,
            create_time_us: now,
            update_time_us: now,
        };
        let claim = self.store.insert(&who.tenant, &note, key.as_ref()).await?;
        if claim == Claim::New {
            tracing::info!(note_id = %note.id, kind = kind.as_str(), "note drafted");
        }
        idempotency::answer(claim, note, "write a different note", |id| async move {
            let id = NoteId::parse("id", &id)
                .map_err(|_| Error::internal("stored request has a bad note id"))?;
            self.get(who, id).await
        })
        .await
    }

    pub async fn get(&self, who: &Principal, id: NoteId) -> Result<Note, Error> {
        let note = self.find(who, id).await?;
        if !note.readable_by(who) {
            return Err(psychotherapy_denied());
        }
        Ok(note)
    }

    async fn find(&self, who: &Principal, id: NoteId) -> Result<Note, Error> {
        self.store
            .get(&who.tenant, id)
            .await?
            .ok_or_else(|| Error::NotFound {
                kind: "note",
                id: id.to_string(),
            })
    }

    /// Notes in writing order; other authors' psychotherapy notes are left out.
    pub async fn list(
        &self,
        who: &Principal,
        req: ListNotes<'_>,
    ) -> Result<(Vec<Note>, Option<String>), Error> {
        let size = page::page_size(req.page_size)?;
        let patient = match req.patient_id {
            "" => None,
            id => Some(PatientId::parse("patient_id", id)?),
        };
        let episode = match req.episode_id {
            "" => None,
            id => Some(EpisodeId::parse("episode_id", id)?),
        };
        page::time_window(req.from_us, req.to_us)?;
        let fingerprint = page::fingerprint(&[
            req.patient_id,
            req.episode_id,
            req.kind.map_or("", NoteKind::as_str),
            req.status.map_or("", NoteStatus::as_str),
            req.author,
            &format!("{:?}/{:?}", req.from_us, req.to_us),
        ]);
        let after = page::resume_after(req.page_token, fingerprint, |a| {
            NoteId::parse("page_token", a)
        })?;
        let query = store::NoteQuery {
            patient_id: patient,
            episode_id: episode,
            kind: req.kind,
            status: req.status,
            author: (!req.author.is_empty()).then(|| req.author.to_owned()),
            from_us: req.from_us,
            to_us: req.to_us,
            psychotherapy_of: who.is_user().then(|| who.subject.clone()),
            after,
            limit: size + 1,
        };
        let mut rows = self.store.list(&who.tenant, &query).await?;
        let next = page::next_page(&mut rows, size, fingerprint, |r| r.id.to_string());
        Ok((rows, next))
    }

    /// Changes a draft; only its author may.
    pub async fn update(
        &self,
        who: &Principal,
        id: NoteId,
        patch: NoteContent,
        paths: &[NotePath],
        etag: &str,
    ) -> Result<Note, Error> {
        let current = self.editable(who, id, etag, "edit").await?;
        let mut next = current.clone();
        for path in paths {
            match path {
                NotePath::EpisodeId => next.episode_id = patch.episode_id,
                NotePath::Title => next.title.clone_from(&patch.title),
                NotePath::Body => next.body.clone_from(&patch.body),
                NotePath::StartTime => next.start_us = patch.start_us,
                NotePath::EndTime => next.end_us = patch.end_us,
            }
        }
        let merged = NoteContent {
            episode_id: next.episode_id,
            title: next.title.clone(),
            body: next.body.clone(),
            start_us: next.start_us,
            end_us: next.end_us,
        };
        // Stored text met its rules when written: a broken one is this request's.
        let mut v = Violations::new("note.");
        check_text(&mut v, &merged);
        v.finish()?;
        // Times the request sends both of are its own to fix; one measured against the
        // stored other is the stored draft's rule (409).
        let mut times = Violations::new("note.");
        check_times(&mut times, &merged);
        if paths.contains(&NotePath::StartTime) && paths.contains(&NotePath::EndTime) {
            times.finish()?;
        } else {
            times.finish_unmet()?;
        }
        if next == current {
            return Ok(current);
        }
        self.save(who, next, current.version).await
    }

    /// Signs (locks) a draft: by its author, a staff user.
    pub async fn sign(&self, who: &Principal, id: NoteId, etag: &str) -> Result<Note, Error> {
        require_user(who, "a note is signed by its author")?;
        let current = self.editable(who, id, etag, "sign").await?;
        let now = now_micros();
        let mut v = Violations::new("");
        if current.body.trim().is_empty() {
            v.push("body", "is empty: there is nothing to sign");
        }
        if current.kind.is_session() {
            if current.start_us.is_none() || current.end_us.is_none() {
                v.push(
                    "start_time",
                    "and end_time are required to sign a session note (billing depends on the minutes)",
                );
            } else if current.end_us.is_some_and(|e| e > now + MAX_SKEW_US) {
                v.push("end_time", "is in the future: sign after the session");
            }
        }
        // Rules on the stored draft, not on this request: FAILED_PRECONDITION.
        v.finish_unmet()?;
        let mut next = current.clone();
        next.signature = Some(Signature {
            by: who.subject.clone(),
            time_us: now,
        });
        self.save(who, next, current.version).await
    }

    /// Adds an addendum to a signed note; the note itself stays as signed.
    pub async fn add_addendum(
        &self,
        who: &Principal,
        id: NoteId,
        text: &str,
    ) -> Result<Note, Error> {
        require_user(who, "addenda are written by a clinician")?;
        let mut note = self.get(who, id).await?;
        if note.signature.is_none() {
            return Err(Error::FailedPrecondition(format!(
                "note {id} is a draft: edit it instead of adding an addendum"
            )));
        }
        let text = text.trim();
        let mut v = Violations::new("");
        if text.is_empty() {
            v.push("text", "is required");
        }
        v.text("text", text, text::ADDENDUM);
        v.finish()?;
        let addendum = Addendum {
            id: NoteId::new(),
            author: who.subject.clone(),
            text: text.to_owned(),
            create_time_us: now_micros(),
        };
        self.store.add_addendum(&who.tenant, id, &addendum).await?;
        tracing::info!(note_id = %id, "addendum added");
        note.addenda.push(addendum);
        Ok(note)
    }

    /// The note if `who` may change it now: a draft, by its author, at `etag`.
    async fn editable(
        &self,
        who: &Principal,
        id: NoteId,
        etag: &str,
        verb: &str,
    ) -> Result<Note, Error> {
        let note = self.get(who, id).await?;
        if let Some(s) = &note.signature {
            return Err(Error::FailedPrecondition(format!(
                "note {id} was signed by {} at {} and is locked; add an addendum instead",
                s.by,
                rfc3339(s.time_us)
            )));
        }
        if !is_author(who, &note.author) {
            return Err(Error::PermissionDenied(format!(
                "only the author ({}) may {verb} this draft",
                note.author
            )));
        }
        etag::check(etag, &note.etag(), "note", &id)?;
        Ok(note)
    }

    async fn save(&self, who: &Principal, mut next: Note, expected: i64) -> Result<Note, Error> {
        next.version = expected + 1;
        next.update_time_us = now_micros();
        if !self.store.update(&who.tenant, &next, expected).await? {
            return Err(etag::stale("note", &next.id));
        }
        tracing::info!(note_id = %next.id, status = next.status().as_str(), "note saved");
        Ok(next)
    }
}

fn is_author(who: &Principal, author: &str) -> bool {
    who.is_user() && who.subject == author
}

fn psychotherapy_denied() -> Error {
    Error::PermissionDenied("psychotherapy notes are readable only by their author".into())
}

fn check_content(v: &mut Violations<'_>, c: &NoteContent) {
    check_text(v, c);
    check_times(v, c);
}

fn check_text(v: &mut Violations<'_>, c: &NoteContent) {
    v.text("title", &c.title, text::TEXT);
    v.text("body", &c.body, text::DOCUMENT);
}

/// A session's start and end: the end needs a start, comes after it, within 12 hours.
fn check_times(v: &mut Violations<'_>, c: &NoteContent) {
    match (c.start_us, c.end_us) {
        (Some(s), Some(e)) if e <= s => v.rule("end_time", "must be after start_time"),
        (Some(s), Some(e)) if e - s > MAX_SESSION_US => {
            v.rule("end_time", "must be within 12 hours of start_time")
        }
        (None, Some(_)) => v.push("start_time", "is required with end_time"),
        _ => {}
    }
}
