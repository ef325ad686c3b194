//! Note use cases against a real database: SQLite, and PostgreSQL when
//! `IOP_TEST_DATABASE_URL` is set.

use iop_core::{PatientId, Principal};
use iop_db::Db;
use iop_db::testing::TestDatabase;

use super::*;
use crate::test_support::{database, patient, staff};

struct Fixture {
    _tdb: TestDatabase,
    db: Db,
    notes: Notes,
}

async fn fixture() -> Fixture {
    let (tdb, db) = database("notes").await;
    Fixture {
        _tdb: tdb,
        notes: Notes::new(NoteStore::new(db.clone())),
        db,
    }
}

const MINUTE_US: i64 = 60_000_000;

/// A 53-minute session that ended an hour ago.
fn session(body: &str) -> NoteContent {
    let end = now_micros() - 60 * MINUTE_US;
    NoteContent {
        episode_id: None,
        title: "Week 3".into(),
        body: body.into(),
        start_us: Some(end - 53 * MINUTE_US),
        end_us: Some(end),
    }
}

impl Fixture {
    async fn draft(&self, who: &Principal, p: PatientId, kind: NoteKind) -> Note {
        self.notes
            .create(
                who,
                p,
                Some(kind),
                session("Discussed triggers.\nPracticed urge surfing."),
                "",
            )
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn a_signed_note_is_locked_and_corrected_by_addenda() {
    let f = fixture().await;
    let kim = staff("a", "dr-kim");
    let p = patient(&f.db, &kim).await;
    let note = f.draft(&kim, p, NoteKind::IndividualTherapy).await;
    assert_eq!(
        (note.status(), note.duration_minutes()),
        (NoteStatus::Draft, Some(53))
    );

    let mut patch = session("Discussed triggers and sleep.");
    patch.title = "Week 3, individual".into();
    let edited = f
        .notes
        .update(
            &kim,
            note.id,
            patch,
            &[NotePath::Body, NotePath::Title],
            &note.etag(),
        )
        .await
        .unwrap();
    assert_eq!(edited.body, "Discussed triggers and sleep.");
    assert_eq!(edited.version, 2);

    let signed = f.notes.sign(&kim, note.id, &edited.etag()).await.unwrap();
    let signature = signed.signature.clone().unwrap();
    assert_eq!(signature.by, "dr-kim");

    // Nobody edits or re-signs a signed note, the author included.
    let err = f
        .notes
        .update(&kim, note.id, session("rewrite"), &[NotePath::Body], "")
        .await
        .unwrap_err();
    match err {
        Error::FailedPrecondition(why) => assert!(why.contains("signed by dr-kim"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        f.notes.sign(&kim, note.id, "").await,
        Err(Error::FailedPrecondition(_))
    ));

    let lee = staff("a", "dr-lee");
    let with = f
        .notes
        .add_addendum(
            &lee,
            note.id,
            "Patient called: sleep improved since session.",
        )
        .await
        .unwrap();
    assert_eq!(with.addenda.len(), 1);
    assert_eq!(with.addenda[0].author, "dr-lee");
    assert_eq!(with.body, signed.body, "the original stays as signed");
    assert_eq!(with.signature, Some(signature));
}

#[tokio::test]
async fn the_database_itself_refuses_to_change_a_signed_note() {
    let f = fixture().await;
    let kim = staff("a", "dr-kim");
    let p = patient(&f.db, &kim).await;
    let note = f.draft(&kim, p, NoteKind::Intake).await;
    f.notes.sign(&kim, note.id, "").await.unwrap();
    let tampered = sqlx::query("UPDATE notes SET body = 'edited behind the app' WHERE id = $1")
        .bind(note.id.to_string())
        .execute(f.db.pool())
        .await;
    assert!(tampered.is_err(), "trigger must refuse");
    let deleted = sqlx::query("DELETE FROM notes WHERE id = $1")
        .bind(note.id.to_string())
        .execute(f.db.pool())
        .await;
    assert!(deleted.is_err(), "notes are never deleted");
    let still = f.notes.get(&kim, note.id).await.unwrap();
    assert_eq!(still.body, note.body);
}

#[tokio::test]
async fn only_the_author_edits_and_signs_drafts() {
    let f = fixture().await;
    let kim = staff("a", "dr-kim");
    let lee = staff("a", "dr-lee");
    let p = patient(&f.db, &kim).await;
    let note = f.draft(&kim, p, NoteKind::FamilySession).await;
    let err = f
        .notes
        .update(&lee, note.id, session("mine now"), &[NotePath::Body], "")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    assert!(matches!(
        f.notes.sign(&lee, note.id, "").await,
        Err(Error::PermissionDenied(_))
    ));
    let mut system = kim.clone();
    system.roles.clear();
    assert!(matches!(
        f.notes.sign(&system, note.id, "").await,
        Err(Error::PermissionDenied(_))
    ));
    // Stale etag.
    let err = f.notes.sign(&kim, note.id, "7").await.unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    // An addendum needs a signed note.
    assert!(matches!(
        f.notes.add_addendum(&kim, note.id, "early").await,
        Err(Error::FailedPrecondition(_))
    ));
}

#[tokio::test]
async fn psychotherapy_notes_are_for_their_author_only() {
    let f = fixture().await;
    let kim = staff("a", "dr-kim");
    let lee = staff("a", "dr-lee");
    let p = patient(&f.db, &kim).await;
    let private = f.draft(&kim, p, NoteKind::Psychotherapy).await;
    let shared = f.draft(&kim, p, NoteKind::IndividualTherapy).await;

    assert_eq!(f.notes.get(&kim, private.id).await.unwrap().id, private.id);
    let err = f.notes.get(&lee, private.id).await.unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    let pid = p.to_string();
    let list = |who: &Principal| {
        let pid = pid.clone();
        let notes = f.notes.clone();
        let who = who.clone();
        async move {
            let q = ListNotes {
                patient_id: &pid,
                ..Default::default()
            };
            notes
                .list(&who, q)
                .await
                .unwrap()
                .0
                .into_iter()
                .map(|n| n.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list(&kim).await, [private.id, shared.id]);
    assert_eq!(list(&lee).await, [shared.id]);
    let mut system = kim.clone();
    system.roles.clear();
    assert_eq!(
        list(&system).await,
        [shared.id],
        "not even for its author's client id"
    );
    assert!(matches!(
        f.notes.get(&system, private.id).await,
        Err(Error::PermissionDenied(_))
    ));
    // A backend client cannot write one either.
    let err = f
        .notes
        .create(&system, p, Some(NoteKind::Psychotherapy), session("x"), "")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
}

#[tokio::test]
async fn session_times_are_required_to_sign_and_checked() {
    let f = fixture().await;
    let kim = staff("a", "dr-kim");
    let p = patient(&f.db, &kim).await;
    let mut untimed = session("Group: relapse prevention.");
    untimed.start_us = None;
    untimed.end_us = None;
    let note = f
        .notes
        .create(&kim, p, Some(NoteKind::Group), untimed, "")
        .await
        .unwrap();
    let err = f.notes.sign(&kim, note.id, "").await.unwrap_err();
    match err {
        Error::Unmet(v) => assert_eq!(v[0].field, "start_time"),
        other => panic!("{other:?}"),
    }
    let mut backwards = session("x");
    backwards.end_us = backwards.start_us.map(|s| s - MINUTE_US);
    let err = f
        .notes
        .create(&kim, p, Some(NoteKind::Group), backwards, "")
        .await
        .unwrap_err();
    match err {
        Error::InvalidFields(v) | Error::Unprocessable(v) => {
            assert_eq!(v[0].field, "note.end_time")
        }
        other => panic!("{other:?}"),
    }
    // Intake notes need no times.
    let mut intake = session("Intake assessment.");
    intake.start_us = None;
    intake.end_us = None;
    let n = f
        .notes
        .create(&kim, p, Some(NoteKind::Intake), intake, "")
        .await
        .unwrap();
    f.notes.sign(&kim, n.id, "").await.unwrap();
}
