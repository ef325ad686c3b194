//! Note persistence: one row per note (versioned while a draft; the database refuses to
//! change it once signed) and append-only addenda.

use iop_core::{EpisodeId, Error, NoteId, PatientId, TenantId};
use iop_db::Db;
use iop_db::Filter;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Addendum, Note, NoteKind, NoteStatus, Signature};
use iop_kit::idempotency::{self, Claim, Key};

#[derive(Clone)]
pub struct NoteStore {
    db: Db,
}

#[derive(Debug, Default)]
pub struct NoteQuery {
    pub patient_id: Option<PatientId>,
    pub episode_id: Option<EpisodeId>,
    pub kind: Option<NoteKind>,
    pub status: Option<NoteStatus>,
    pub author: Option<String>,
    pub from_us: Option<i64>,
    pub to_us: Option<i64>,
    /// Psychotherapy notes of this author only; none without one.
    pub psychotherapy_of: Option<String>,
    pub after: Option<NoteId>,
    pub limit: usize,
}

const COLUMNS: &str = "id, patient_id, episode_id, kind, status, title, body, start_us, end_us, \
     author, signed_by, sign_time_us, version, create_time_us, update_time_us";

impl NoteStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Inserts a new draft. The patient must exist, and the episode, when named, must be
    /// one of the patient's.
    pub async fn insert(
        &self,
        tenant: &TenantId,
        n: &Note,
        key: Option<&Key<'_>>,
    ) -> Result<Claim, Error> {
        crate::patients::store::require_patient(&self.db, tenant, n.patient_id).await?;
        crate::patients::store::require_episode_of(
            &self.db,
            tenant,
            n.episode_id,
            n.patient_id,
            "note.episode_id",
        )
        .await?;
        let mut tx = iop_kit::fresh!(
            idempotency::begin_create(
                &self.db,
                tenant,
                super::KIND,
                key,
                &n.id.to_string(),
                n.create_time_us,
            )
            .await?
        );
        let sql = format!(
            "INSERT INTO notes (tenant_id, {COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
        );
        bind_note(sqlx::query(&sql), tenant, n)
            .bind(n.version)
            .bind(n.create_time_us)
            .bind(n.update_time_us)
            .execute(&mut *tx)
            .await
            .map_err(Error::internal)?;
        tx.commit().await.map_err(Error::internal)?;
        Ok(Claim::New)
    }

    pub async fn get(&self, tenant: &TenantId, id: NoteId) -> Result<Option<Note>, Error> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM notes WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.as_str())
        .bind(id.to_string())
        .fetch_optional(self.db.pool())
        .await
        .map_err(Error::internal)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut note = note_from_row(&row)?;
        let addenda = sqlx::query(
            "SELECT id, author, text, create_time_us FROM note_addenda \
             WHERE tenant_id = $1 AND note_id = $2 ORDER BY id",
        )
        .bind(tenant.as_str())
        .bind(id.to_string())
        .fetch_all(self.db.pool())
        .await
        .map_err(Error::internal)?;
        note.addenda = addenda
            .iter()
            .map(addendum_from_row)
            .collect::<Result<_, _>>()?;
        Ok(Some(note))
    }

    /// Notes without their addenda (read one note for those), in id order.
    pub async fn list(&self, tenant: &TenantId, q: &NoteQuery) -> Result<Vec<Note>, Error> {
        let mut f = Filter::new(
            &format!("SELECT {COLUMNS} FROM notes WHERE"),
            tenant.as_str(),
        );
        f.and_opt(" AND patient_id = ?", q.patient_id.map(|p| p.to_string()))
            .and_opt(" AND episode_id = ?", q.episode_id.map(|e| e.to_string()))
            .and_opt(" AND kind = ?", q.kind.map(NoteKind::as_str))
            .and_opt(" AND status = ?", q.status.map(NoteStatus::as_str))
            .and_opt(" AND author = ?", q.author.clone());
        match &q.psychotherapy_of {
            Some(author) => f.and(
                " AND (kind <> 'psychotherapy' OR author = ?)",
                [author.as_str().into()],
            ),
            None => f.push(" AND kind <> 'psychotherapy'"),
        };
        // A note's time is its session start, or its writing when it has none.
        f.and_opt(" AND id > ?", q.after.map(|a| a.to_string()))
            .and_opt(" AND COALESCE(start_us, create_time_us) >= ?", q.from_us)
            .and_opt(" AND COALESCE(start_us, create_time_us) < ?", q.to_us);
        f.page("id", q.limit)
            .fetch_all(self.db.pool())
            .await
            .map_err(Error::internal)?
            .iter()
            .map(note_from_row)
            .collect()
    }

    /// Writes `n` if the stored version is still `expected_version` and the note is still a
    /// draft; false otherwise.
    pub async fn update(
        &self,
        tenant: &TenantId,
        n: &Note,
        expected_version: i64,
    ) -> Result<bool, Error> {
        if n.episode_id.is_some() {
            crate::patients::store::require_episode_of(
                &self.db,
                tenant,
                n.episode_id,
                n.patient_id,
                "note.episode_id",
            )
            .await?;
        }
        let _turn = self.db.write_turn().await;
        let done = bind_note(
            sqlx::query(
                "UPDATE notes SET patient_id = $3, episode_id = $4, kind = $5, status = $6, \
                 title = $7, body = $8, start_us = $9, end_us = $10, author = $11, signed_by = $12, \
                 sign_time_us = $13, version = $14, update_time_us = $15 \
                 WHERE tenant_id = $1 AND id = $2 AND version = $16 AND status = 'draft'",
            ),
            tenant,
            n,
        )
        .bind(n.version)
        .bind(n.update_time_us)
        .bind(expected_version)
        .execute(self.db.pool())
        .await
        .map_err(Error::internal)?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn add_addendum(
        &self,
        tenant: &TenantId,
        note: NoteId,
        a: &Addendum,
    ) -> Result<(), Error> {
        let _turn = self.db.write_turn().await;
        sqlx::query(
            "INSERT INTO note_addenda (tenant_id, note_id, id, author, text, create_time_us) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(tenant.as_str())
        .bind(note.to_string())
        .bind(a.id.to_string())
        .bind(&a.author)
        .bind(&a.text)
        .bind(a.create_time_us)
        .execute(self.db.pool())
        .await
        .map_err(Error::internal)?;
        Ok(())
    }
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Binds $1 tenant, $2 id and $3..$13 the note (through `sign_time_us`), as both INSERT
/// and UPDATE number them.
fn bind_note<'q>(q: AnyQuery<'q>, tenant: &'q TenantId, n: &'q Note) -> AnyQuery<'q> {
    q.bind(tenant.as_str())
        .bind(n.id.to_string())
        .bind(n.patient_id.to_string())
        .bind(n.episode_id.map(|e| e.to_string()))
        .bind(n.kind.as_str())
        .bind(n.status().as_str())
        .bind(&n.title)
        .bind(&n.body)
        .bind(n.start_us)
        .bind(n.end_us)
        .bind(&n.author)
        .bind(n.signature.as_ref().map(|s| s.by.clone()))
        .bind(n.signature.as_ref().map(|s| s.time_us))
}

fn corrupt(what: &str) -> Error {
    Error::internal(format!("stored note has an invalid {what}"))
}

fn note_from_row(row: &AnyRow) -> Result<Note, Error> {
    let text = |col: &str| row.try_get::<String, _>(col).map_err(Error::internal);
    let opt_text = |col: &str| {
        row.try_get::<Option<String>, _>(col)
            .map_err(Error::internal)
    };
    let opt_int = |col: &str| row.try_get::<Option<i64>, _>(col).map_err(Error::internal);
    let int = |col: &str| row.try_get::<i64, _>(col).map_err(Error::internal);
    let signature = match (opt_text("signed_by")?, opt_int("sign_time_us")?) {
        (Some(by), Some(time_us)) => Some(Signature { by, time_us }),
        _ => None,
    };
    Ok(Note {
        id: NoteId::parse("id", &text("id")?).map_err(|_| corrupt("id"))?,
        patient_id: PatientId::parse("patient_id", &text("patient_id")?)
            .map_err(|_| corrupt("patient_id"))?,
        episode_id: opt_text("episode_id")?
            .map(|e| EpisodeId::parse("episode_id", &e).map_err(|_| corrupt("episode_id")))
            .transpose()?,
        kind: NoteKind::parse(&text("kind")?).ok_or_else(|| corrupt("kind"))?,
        title: text("title")?,
        body: text("body")?,
        start_us: opt_int("start_us")?,
        end_us: opt_int("end_us")?,
        author: text("author")?,
        signature,
        addenda: Vec::new(),
        version: int("version")?,
        create_time_us: int("create_time_us")?,
        update_time_us: int("update_time_us")?,
    })
}

fn addendum_from_row(row: &AnyRow) -> Result<Addendum, Error> {
    Ok(Addendum {
        id: NoteId::parse(
            "id",
            &row.try_get::<String, _>("id").map_err(Error::internal)?,
        )
        .map_err(|_| corrupt("addendum id"))?,
        author: row.try_get("author").map_err(Error::internal)?,
        text: row.try_get("text").map_err(Error::internal)?,
        create_time_us: row.try_get("create_time_us").map_err(Error::internal)?,
    })
}
