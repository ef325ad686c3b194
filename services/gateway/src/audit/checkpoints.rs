//! Signed checkpoints of the trail: every few seconds while events are written, at start and
//! at shutdown, the writer appends (sequence, head hash, time) signed with the checkpoint
//! key to a file outside the database, and logs it. The database's owner can neither rewrite
//! them nor make the trail end earlier than the last one without `iop audit verify` noticing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::keys::AuditKeys;

/// One line of the checkpoint file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The last event's sequence number at the time.
    pub seq: i64,
    /// Its hash: the head of the chain.
    pub head: String,
    pub time_us: i64,
    /// Events up to this sequence number were written before the chain was keyed (by an
    /// earlier version); they are checked with the unkeyed hash.
    pub unkeyed_until: i64,
    /// Ed25519 over the fields above, hex.
    pub sig: String,
}

impl Checkpoint {
    fn message(seq: i64, head: &str, time_us: i64, unkeyed_until: i64) -> Vec<u8> {
        format!("iop-audit-checkpoint/1|{seq}|{head}|{time_us}|{unkeyed_until}").into_bytes()
    }

    pub(super) fn new(keys: &AuditKeys, seq: i64, head: &str, unkeyed_until: i64) -> Self {
        let time_us = iop_core::now_micros();
        let sig = keys.sign(&Self::message(seq, head, time_us, unkeyed_until));
        Self {
            seq,
            head: head.to_owned(),
            time_us,
            unkeyed_until,
            sig,
        }
    }

    pub(super) fn signed_by(&self, keys: &AuditKeys) -> bool {
        keys.verify_signature(
            &Self::message(self.seq, &self.head, self.time_us, self.unkeyed_until),
            &self.sig,
        )
    }
}

/// The checkpoint file's lines; a line that is not a checkpoint is an error naming it.
pub fn read(path: &Path) -> std::io::Result<Vec<Result<Checkpoint, String>>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| {
                format!(
                    "line {} of {} is not a checkpoint: {e}",
                    i + 1,
                    path.display()
                )
            })
        })
        .collect())
}

/// The file's first checkpoint, if it has one.
fn first(path: &Path) -> Option<Checkpoint> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).ok()?;
    let line = std::io::BufReader::new(file).lines().next()?.ok()?;
    serde_json::from_str(&line).ok()
}

/// Writes checkpoints for the writer: only when the head moved since the last one.
pub(super) struct Checkpointer {
    file: Option<PathBuf>,
    keys: Arc<AuditKeys>,
    unkeyed_until: Option<i64>,
    last_seq: Option<i64>,
}

impl Checkpointer {
    /// `file`: where to append (`None`: the log only).
    pub(super) fn new(file: Option<PathBuf>, keys: Arc<AuditKeys>) -> Self {
        // A file already written fixes where the keyed chain starts: its first line says.
        // (Only that line is read: the file grows for as long as the trail does.)
        let unkeyed_until = file.as_deref().and_then(first).map(|c| c.unkeyed_until);
        Self {
            file,
            keys,
            unkeyed_until,
            last_seq: None,
        }
    }

    /// Whether the first checkpoint still has to say where the keyed chain starts.
    pub(super) fn needs_start(&self) -> bool {
        self.unkeyed_until.is_none()
    }

    pub(super) fn set_start(&mut self, unkeyed_until: i64) {
        self.unkeyed_until.get_or_insert(unkeyed_until);
    }

    /// Appends a checkpoint of `head` (seq, hash) unless it is the last one written.
    pub(super) async fn write(&mut self, head: &(i64, String)) {
        if self.last_seq == Some(head.0) {
            return;
        }
        let checkpoint =
            Checkpoint::new(&self.keys, head.0, &head.1, self.unkeyed_until.unwrap_or(0));
        tracing::info!(seq = checkpoint.seq, head = %checkpoint.head, sig = %checkpoint.sig, "audit checkpoint");
        if let Some(file) = self.file.clone() {
            let line = match serde_json::to_string(&checkpoint) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(error = %e, "cannot encode an audit checkpoint");
                    return;
                }
            };
            let appended = tokio::task::spawn_blocking(move || append(&file, &line)).await;
            match appended {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "cannot write the audit checkpoint file");
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, "audit checkpoint writer failed");
                    return;
                }
            }
        }
        self.last_seq = Some(head.0);
    }
}

/// Appends one line and syncs it to disk; the file is created owner-only.
fn append(path: &Path, line: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(format!("{line}\n").as_bytes())?;
    file.sync_data()
}
