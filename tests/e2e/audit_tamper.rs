//! Someone with write access to the gateway's database — but not its keys — rewrites,
//! truncates, deletes and appends audit events, triggers dropped and the chain re-hashed
//! with the published algorithm: `iop audit verify` (this check) finds each, naming the
//! first bad event; an untouched trail passes.

use iop_gateway::audit::{self, AuditFiles, AuditKeys, Verification};
use iop_testing::TestSystem;
use serde_json::json;
use sqlx::Row;

use crate::{ana, create};

/// One stored row, as the attacker reads it.
#[derive(Clone)]
struct Row17 {
    seq: i64,
    text: Vec<String>,
    time_us: i64,
}

/// Columns between `seq` and `prev_hash`, in hashing order (after seq and event_id).
const TEXT: [&str; 13] = [
    "event_id",
    "tenant_id",
    "issuer",
    "client_id",
    "subject",
    "action",
    "resource_type",
    "resource_id",
    "patient_id",
    "outcome",
    "status",
    "request_id",
    "source_addr",
];

async fn rows(db: &iop_db::Db) -> Vec<Row17> {
    sqlx::query(&format!(
        "SELECT seq, time_us, {} FROM audit_events ORDER BY seq",
        TEXT.join(", ")
    ))
    .fetch_all(db.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| Row17 {
        seq: r.get("seq"),
        time_us: r.get("time_us"),
        text: TEXT.iter().map(|c| r.get::<String, _>(*c)).collect(),
    })
    .collect()
}

/// The trail's first, unkeyed hash, as anyone can compute it from the published code.
fn public_hash(prev: &str, row: &Row17) -> String {
    use aws_lc_rs::digest::{SHA256, digest};
    let seq = row.seq.to_string();
    let time = row.time_us.to_string();
    let mut fields: Vec<&str> = vec![prev, &seq, &row.text[0], &time];
    fields.extend(row.text[1..].iter().map(String::as_str));
    let mut buf = String::new();
    for f in fields {
        buf.push_str(&format!("{}:{f}", f.len()));
    }
    digest(&SHA256, buf.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Replaces the whole table with `rows`, chained with the public hash from `rechain_from`
/// on (earlier rows keep their stored hashes).
async fn rewrite(
    db: &iop_db::Db,
    original: &[(Row17, String, String)],
    rows: &[Row17],
    rechain_from: i64,
) {
    sqlx::query("DELETE FROM audit_events")
        .execute(db.pool())
        .await
        .unwrap();
    let mut prev = "0".repeat(64);
    for row in rows {
        let (prev_hash, hash) = match original.iter().find(|(o, _, _)| o.seq == row.seq) {
            Some((_, p, h)) if row.seq < rechain_from => (p.clone(), h.clone()),
            _ => (prev.clone(), public_hash(&prev, row)),
        };
        let sql = format!(
            "INSERT INTO audit_events (seq, time_us, {}, prev_hash, hash) VALUES ($1, $2, {}, $16, $17)",
            TEXT.join(", "),
            (3..=15)
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut q = sqlx::query(&sql).bind(row.seq).bind(row.time_us);
        for t in &row.text {
            q = q.bind(t);
        }
        q.bind(&prev_hash)
            .bind(&hash)
            .execute(db.pool())
            .await
            .unwrap();
        prev = hash;
    }
}

#[tokio::test]
async fn tampering_with_the_trail_is_found_and_named() {
    let mut sys = TestSystem::start().await;
    let mut claims = sys.claims("clinic-a", &["admin"]);
    claims["scope"] = json!("user/*.cruds");
    let admin = sys.sign(claims);
    for _ in 0..3 {
        assert_eq!(create(&sys, &admin, &ana()).await.0, 201);
    }
    // Stopping writes a last checkpoint: six events (an attempt and an outcome each).
    sys.shut_down().await;
    let files = AuditFiles::in_data_dir(&sys.data_path());
    let keys = AuditKeys::load(&files).unwrap();
    let db = audit::open(sys.gateway_db.url()).await.unwrap();
    let check = || async { audit::verify(&db, &keys, &files.checkpoints).await.unwrap() };
    match check().await {
        Verification::Intact {
            events,
            checkpoints,
        } => {
            assert_eq!(events, 6);
            assert!(checkpoints >= 1);
        }
        broken => panic!("untouched trail: {broken:?}"),
    }

    // The guards hold until someone with database access drops them.
    let edit = "UPDATE audit_events SET subject = 'someone-else' WHERE seq = 3";
    assert!(
        sqlx::query(edit).execute(db.pool()).await.is_err(),
        "triggers refuse edits"
    );
    let guards: &[&str] = if sys.gateway_db.is_postgres() {
        &["DROP TRIGGER audit_events_no_change ON audit_events"]
    } else {
        &[
            "DROP TRIGGER audit_events_no_update",
            "DROP TRIGGER audit_events_no_delete",
        ]
    };
    for g in guards {
        sqlx::query(g).execute(db.pool()).await.unwrap();
    }
    let stored = rows(&db).await;
    let hashes: Vec<(String, String)> =
        sqlx::query("SELECT prev_hash, hash FROM audit_events ORDER BY seq")
            .fetch_all(db.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get("prev_hash"), r.get("hash")))
            .collect();
    let original: Vec<(Row17, String, String)> = stored
        .iter()
        .cloned()
        .zip(hashes)
        .map(|(r, (p, h))| (r, p, h))
        .collect();
    let broken = |v: Verification| match v {
        Verification::Broken { seq, reason } => (seq, reason),
        intact => panic!("tampering not found: {intact:?}"),
    };

    // Rewritten: event 3 names someone else, and the chain is re-hashed from there on.
    let mut changed = stored.clone();
    changed[2].text[4] = "someone-else".into();
    rewrite(&db, &original, &changed, 3).await;
    let (seq, reason) = broken(check().await);
    assert_eq!(seq, 3, "{reason}");
    assert!(reason.contains("does not match its hash"), "{reason}");

    // Truncated: the last two events are gone (the rest untouched).
    rewrite(&db, &original, &stored[..4], 99).await;
    let (seq, reason) = broken(check().await);
    assert_eq!(seq, 5, "{reason}");
    assert!(reason.contains("truncated"), "{reason}");

    // A deleted event in the middle, the rest left as it was.
    let without_3: Vec<Row17> = stored.iter().filter(|r| r.seq != 3).cloned().collect();
    rewrite(&db, &original, &without_3, 99).await;
    let (seq, reason) = broken(check().await);
    assert_eq!(seq, 3, "{reason}");
    assert!(reason.contains("missing"), "{reason}");

    // The same, renumbered and re-chained so no gap shows.
    let renumbered: Vec<Row17> = without_3
        .iter()
        .enumerate()
        .map(|(i, r)| Row17 {
            seq: i as i64 + 1,
            ..r.clone()
        })
        .collect();
    rewrite(&db, &original, &renumbered, 3).await;
    let (seq, _) = broken(check().await);
    assert_eq!(seq, 3);

    // An event appended, chained after the real head.
    let mut appended = stored.clone();
    appended.push(Row17 {
        seq: 7,
        ..stored[1].clone()
    });
    rewrite(&db, &original, &appended, 7).await;
    let (seq, reason) = broken(check().await);
    assert_eq!(seq, 7, "{reason}");

    // Everything deleted.
    rewrite(&db, &original, &[], 1).await;
    let (seq, reason) = broken(check().await);
    assert_eq!(seq, 1, "{reason}");
    assert!(reason.contains("truncated"), "{reason}");

    // Restored exactly: intact again.
    rewrite(&db, &original, &stored, 99).await;
    assert!(matches!(
        check().await,
        Verification::Intact { events: 6, .. }
    ));

    // The checkpoint file edited to claim less: its signature no longer checks.
    let text = std::fs::read_to_string(&files.checkpoints).unwrap();
    let forged = text.replacen("\"seq\":6", "\"seq\":4", 1);
    assert_ne!(forged, text);
    std::fs::write(&files.checkpoints, forged).unwrap();
    let (_, reason) = broken(check().await);
    assert!(reason.contains("signature"), "{reason}");
    db.close().await;
}
