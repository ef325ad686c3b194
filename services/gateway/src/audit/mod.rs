//! The audit trail of every access to patient data through the gateway, allowed or denied.
//!
//! Events are written by one writer per gateway, in batches (group commit). On a SQLite file
//! the writer is a task with its own connection (`sqlite_writer`); otherwise a task on the
//! pool (`store`). Database triggers refuse UPDATE and DELETE of events.
//!
//! Tamper evidence, against someone who can write the gateway's database but does not hold
//! the key files ([`keys`]; they live outside the database):
//! - each row's hash is `HMAC-SHA256(chain key, prev_hash ‖ seq ‖ event)`: an event edited,
//!   inserted, deleted or renumbered, however the rest is re-chained, no longer checks;
//! - every 5 s while events are written, at start and at shutdown, the writer appends a
//!   checkpoint (sequence, head hash, time) signed with the Ed25519 checkpoint key to a file
//!   outside the database, and logs it ([`checkpoints`]): a trail cut short, or emptied, no
//!   longer reaches its last checkpoint.
//!
//! [`verify`] checks both and names the first bad event. What it cannot see: events removed
//! from after the last checkpoint (at most the last 5 s before a crash); tampering by whoever
//! holds the key files as well (ship the logged checkpoints to a separate log store to keep
//! evidence of those); events a compromised gateway never wrote. Events written by an earlier,
//! unkeyed version (plain SHA-256 chain) are covered by the checkpoints only.
//!
//! What is durable before what:
//! - A read is answered only after its events are durable: nothing is disclosed unaudited.
//! - A change is forwarded only after its *attempt* is durable, and its outcome follows. A
//!   change therefore never exists without its record, even if the trail fails (or the
//!   gateway dies) between the change and its outcome. Attempts still open after
//!   [`Settings::attempt_grace`] are closed by an `interrupted` event (the change may or may
//!   not have happened), at start-up and periodically.
//! - Every wait for the trail is bounded by the request's deadline: a stalled trail costs
//!   the client a 503 naming it, not a hang, and readiness ([`AuditLog::ready`]) says so.

pub mod api;
pub mod checkpoints;
pub mod keys;
mod sqlite_writer;
mod store;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use iop_core::{Error, Principal};
use iop_db::Db;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

pub use keys::{AuditFiles, AuditKeys};
pub use store::{EventQuery, StoredEvent, Verification, query, verify};

use checkpoints::Checkpointer;

/// The trail's migrations, for `iop audit verify` and the gateway.
pub use store::MIGRATIONS;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The service answered OK.
    Success,
    /// The gateway's policy refused the call.
    Denied,
    /// The call was allowed but failed (not found, invalid, unavailable…).
    Failed,
    /// A change about to be forwarded; its outcome follows as another event of the same
    /// request.
    Attempted,
    /// An attempt whose outcome was never recorded (the gateway stopped, or the trail
    /// failed, in between): the change may or may not have happened.
    Interrupted,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Denied => "denied",
            Self::Failed => "failed",
            Self::Attempted => "attempted",
            Self::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Success,
            Self::Denied,
            Self::Failed,
            Self::Attempted,
            Self::Interrupted,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

/// One access, before it is chained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub time_us: i64,
    pub tenant: String,
    pub issuer: String,
    pub client_id: String,
    pub subject: String,
    /// e.g. `patient.read`.
    pub action: String,
    pub resource_type: String,
    pub resource_id: String,
    pub patient_id: String,
    pub outcome: Outcome,
    /// gRPC status code name, e.g. `Ok`, `NotFound`, `PermissionDenied`.
    pub status: String,
    pub request_id: String,
    pub source_addr: String,
}

impl AuditEvent {
    pub fn new(
        who: &Principal,
        action: &str,
        resource_type: &str,
        outcome: Outcome,
        status: tonic::Code,
    ) -> Self {
        Self {
            time_us: iop_core::now_micros(),
            tenant: who.tenant.to_string(),
            issuer: who.issuer.clone(),
            client_id: who.client_id.clone().unwrap_or_default(),
            subject: who.subject.clone(),
            action: action.to_owned(),
            resource_type: resource_type.to_owned(),
            resource_id: String::new(),
            patient_id: String::new(),
            outcome,
            // An attempt has no status yet: the call has not been made.
            status: if outcome == Outcome::Attempted {
                String::new()
            } else {
                format!("{status:?}")
            },
            request_id: who.request_id.clone(),
            source_addr: who.source_addr.clone().unwrap_or_default(),
        }
    }
}

/// How the trail waits and when it gives up on an attempt's outcome.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How long a caller without a deadline of its own waits for its events.
    pub timeout: Duration,
    /// Age after which an attempt without an outcome is closed as `interrupted`. Longer
    /// than any request can take (its deadline) plus the time an outcome is retried.
    pub attempt_grace: Duration,
    /// How often open attempts are looked for.
    pub reconcile_every: Duration,
}

impl Settings {
    /// Settings for requests bounded by `deadline`: outcomes are retried for up to three
    /// deadlines, attempts are reconciled after six.
    pub fn for_deadline(deadline: Duration) -> Self {
        Self {
            timeout: deadline,
            attempt_grace: deadline * 6,
            reconcile_every: (deadline * 3)
                .clamp(Duration::from_millis(50), Duration::from_secs(30)),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self::for_deadline(Duration::from_secs(10))
    }
}

/// What the writer is asked to do.
enum Job {
    Append(Append),
    /// Could an append commit now? For readiness.
    Probe(oneshot::Sender<bool>),
    /// Close the attempts opened before this time (µs) with an `interrupted` event each.
    Reconcile(i64),
    /// The gateway is stopping: write a last checkpoint, then answer.
    Shutdown(oneshot::Sender<()>),
}

/// Events to append in one transaction with others.
struct Append {
    events: Vec<AuditEvent>,
    /// The events are attempts, open until an outcome resolves them.
    opens: bool,
    /// Sequence numbers of the attempts these events are the outcome of.
    resolves: Vec<i64>,
    /// Written even when its caller stopped waiting: the events record something that
    /// happened whatever the caller answered (an outcome, a refusal, a failure).
    keep: bool,
    /// The first event's sequence number once durable; `None` if it could not be written.
    ack: oneshot::Sender<Option<i64>>,
}

impl Append {
    /// Nobody waits for it any more (the request gave up at its deadline and answered 503):
    /// writing a disclosure or an attempt then would record something that did not happen.
    fn abandoned(&self) -> bool {
        !self.keep && self.ack.is_closed()
    }
}

/// Events taken into one transaction at most (more wait for the next one).
const MAX_BATCH: usize = 512;

/// Handle to the writer.
#[derive(Clone)]
pub struct AuditLog {
    /// `None` only in the benchmark baseline ([`AuditLog::off`]).
    tx: Option<mpsc::Sender<Job>>,
    settings: Settings,
}

/// An attempt made durable by [`AuditLog::attempt`]; [`AuditLog::conclude`] records its
/// outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    seqs: Vec<i64>,
}

fn unavailable() -> Error {
    Error::Unavailable("the audit trail cannot be written; retry shortly".into())
}

fn too_slow() -> Error {
    Error::Unavailable("the audit trail did not answer in time; retry shortly".into())
}

impl AuditLog {
    /// Starts the writer on `db` (a task with its own connection for a SQLite file, on the
    /// pool otherwise) and the periodic reconciliation of open attempts; both stop when
    /// every handle is dropped. Call it inside the runtime.
    ///
    /// Events are chained with `keys`; signed checkpoints go to the log and, unless `None`,
    /// are appended to `checkpoint_file`.
    pub fn start(
        db: Db,
        settings: Settings,
        keys: Arc<AuditKeys>,
        checkpoint_file: Option<PathBuf>,
    ) -> Self {
        let (tx, rx) = mpsc::channel(4096);
        let checkpointer = Checkpointer::new(checkpoint_file, keys.clone());
        match db.sqlite_file() {
            Some(file) => {
                if let Err(e) = sqlite_writer::start(db, file, keys, checkpointer, rx) {
                    // Without a writer every record() fails: requests get 503, none goes unaudited.
                    tracing::error!(error = %e, "cannot start the audit checkpointer thread");
                }
            }
            None => {
                let sink = store::PoolSink::new(db.clone(), keys);
                tokio::spawn(run(sink, rx, db, checkpointer));
            }
        }
        tokio::spawn(reconcile(tx.downgrade(), settings));
        Self {
            tx: Some(tx),
            settings,
        }
    }

    /// A trail that records nothing: the baseline `gateway_read` compares the gateway with
    /// (and unit tests that never reach the trail).
    #[cfg(any(test, feature = "bench-baseline"))]
    pub fn off() -> Self {
        Self {
            tx: None,
            settings: Settings::default(),
        }
    }

    /// The deadline of a call that has none of its own.
    pub fn deadline(&self) -> Instant {
        Instant::now() + self.settings.timeout
    }

    /// Returns once `events` are durably appended, or fails (within the trail's timeout):
    /// the caller must then not report success, since an unaudited access must not look
    /// like one that happened.
    pub async fn record(&self, events: Vec<AuditEvent>) -> Result<(), Error> {
        self.record_by(events, self.deadline()).await
    }

    /// [`Self::record`] with the caller's deadline, for a disclosure: if the events are not
    /// durable by then, they are not written at all (the caller answers 503, so the access
    /// did not happen).
    pub async fn record_by(&self, events: Vec<AuditEvent>, deadline: Instant) -> Result<(), Error> {
        self.append(events, false, false, deadline).await.map(drop)
    }

    /// [`Self::record_by`] for a refusal or a failure: the events are written even if the
    /// deadline passes first, since what they record happened regardless.
    pub async fn record_kept(
        &self,
        events: Vec<AuditEvent>,
        deadline: Instant,
    ) -> Result<(), Error> {
        self.append(events, false, true, deadline).await.map(drop)
    }

    /// Records that a change is about to be made, before it is made. Only if this succeeds
    /// may the change go ahead.
    pub async fn attempt(
        &self,
        events: Vec<AuditEvent>,
        deadline: Instant,
    ) -> Result<Attempt, Error> {
        let n = events.len() as i64;
        let first = self.append(events, true, false, deadline).await?;
        Ok(Attempt {
            seqs: first.map(|f| (f..f + n).collect()).unwrap_or_default(),
        })
    }

    /// Records the outcome of `attempt`. The change is audited by its attempt already, so a
    /// trail that cannot take the outcome by `deadline` does not fail the request (a 503
    /// would make a client retry a change that happened): the outcome is kept and written
    /// when the trail is back, for up to three deadlines; after that, reconciliation closes
    /// the attempt as `interrupted`.
    pub async fn conclude(&self, attempt: Attempt, events: Vec<AuditEvent>, deadline: Instant) {
        let Some(tx) = self.tx.clone() else { return };
        let give_up = Instant::now() + self.settings.timeout * 3;
        // Whether the first try committed: the request waits for that much (within its
        // deadline), not for the retries.
        let (first_try, tried) = oneshot::channel::<bool>();
        // Its own task, so that it goes on after the request has answered.
        tokio::spawn(async move {
            let mut first_try = Some(first_try);
            while Instant::now() < give_up {
                let (ack, acked) = oneshot::channel();
                let job = Job::Append(Append {
                    events: events.clone(),
                    opens: false,
                    resolves: attempt.seqs.clone(),
                    keep: true,
                    ack,
                });
                if tx.send(job).await.is_err() {
                    return;
                }
                let committed = tokio::time::timeout_at(give_up, acked).await;
                let ok = matches!(committed, Ok(Ok(Some(_))));
                if let Some(first) = first_try.take() {
                    let _ = first.send(ok);
                }
                match committed {
                    Ok(Ok(Some(_))) => return,
                    // The writer gave up on it: ask again, a little later.
                    Ok(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                    Err(_) => break,
                }
            }
            tracing::error!(
                "the outcome of a change could not be audited; its attempt will be closed as interrupted"
            );
        });
        if !matches!(tokio::time::timeout_at(deadline, tried).await, Ok(Ok(true))) {
            tracing::warn!("audit trail slow or failing; the outcome of a change will follow");
        }
    }

    /// Writes a last checkpoint of the trail (waiting at most `within`); call it when the
    /// gateway stops, after the last request was answered.
    pub async fn shutdown(&self, within: Duration) {
        if self.ask(Job::Shutdown, within).await.is_none() {
            tracing::warn!("the audit trail's last checkpoint was not written in time");
        }
    }

    /// Whether the trail can take a write now, answered within `within`.
    pub async fn ready(&self, within: Duration) -> bool {
        self.tx.is_none() || self.ask(Job::Probe, within).await == Some(true)
    }

    /// The writer's answer to the job `make` builds around a reply channel, within `within`.
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Job,
        within: Duration,
    ) -> Option<T> {
        let tx = self.tx.as_ref()?;
        let (ack, done) = oneshot::channel();
        let asked = async {
            tx.send(make(ack)).await.ok()?;
            done.await.ok()
        };
        tokio::time::timeout(within, asked).await.ok().flatten()
    }

    async fn append(
        &self,
        events: Vec<AuditEvent>,
        opens: bool,
        keep: bool,
        deadline: Instant,
    ) -> Result<Option<i64>, Error> {
        let Some(tx) = &self.tx else { return Ok(None) };
        let (ack, done) = oneshot::channel();
        let job = Job::Append(Append {
            events,
            opens,
            resolves: Vec::new(),
            keep,
            ack,
        });
        let written = async {
            tx.send(job).await.map_err(|_| unavailable())?;
            match done.await {
                Ok(Some(first)) => Ok(Some(first)),
                _ => Err(unavailable()),
            }
        };
        tokio::time::timeout_at(deadline, written)
            .await
            .unwrap_or_else(|_| Err(too_slow()))
    }
}

/// Asks the writer, at start and then every `reconcile_every`, to close attempts older than
/// the grace period; stops when every [`AuditLog`] is gone.
async fn reconcile(tx: mpsc::WeakSender<Job>, settings: Settings) {
    let mut tick = tokio::time::interval(settings.reconcile_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(tx) = tx.upgrade() else { return };
        let grace = i64::try_from(settings.attempt_grace.as_micros()).unwrap_or(i64::MAX);
        let before = iop_core::now_micros().saturating_sub(grace);
        if tx.send(Job::Reconcile(before)).await.is_err() {
            return;
        }
    }
}

/// How the writer retries what did not commit: for as long as the database is busy (another
/// process holds its lock; callers' deadlines bound what they wait), in short growing
/// pauses; five times for anything else.
#[derive(Default)]
struct Backoff {
    busy: u32,
    failures: u32,
}

impl Backoff {
    /// How long to pause before trying again, or `None` to give up.
    fn after(&mut self, failure: &Failure) -> Option<Duration> {
        match failure {
            Failure::Busy => {
                self.busy = (self.busy + 1).min(6);
                Some(Duration::from_millis(1 << self.busy))
            }
            Failure::Other(e) => {
                tracing::error!(error = %e, attempt = self.failures, "cannot write the audit trail");
                self.failures += 1;
                (self.failures < 5).then(|| Duration::from_millis(20 << self.failures))
            }
        }
    }
}

/// Why a write did not commit.
#[derive(Debug)]
enum Failure {
    /// Another process holds the database's write lock: wait and try again, without
    /// blocking a thread and without giving up on the batch.
    Busy,
    /// Anything else: a few more tries, then the batch fails.
    Other(String),
}

/// A backend of the writer: appends chained events, probes, reconciles.
trait Sink {
    /// The chain's head after this writer's last commit; `None` before it wrote, and after
    /// a failure until it writes again.
    fn committed(&self) -> Option<(i64, String)>;

    /// Appends `events` after the chain's head in one transaction, opening the attempts
    /// among them (`opens[i]`) and deleting the resolved ones; returns the first event's
    /// sequence number.
    async fn append(
        &mut self,
        events: &[&AuditEvent],
        opens: &[bool],
        resolves: &[i64],
    ) -> Result<i64, Failure>;

    /// Whether an append could commit now (write lock and permission), without waiting.
    async fn probe(&mut self) -> bool;

    /// Closes attempts opened before `before_us`: one `interrupted` event each, in the
    /// transaction that removes them from the open ones. Returns how many.
    async fn reconcile(&mut self, before_us: i64) -> Result<usize, Failure>;
}

/// The writer loop, the same for both backends: group commit of appends (whatever queued up
/// while the last batch was being written goes into the next transaction, so throughput
/// grows with load instead of latency), probes and reconciliation between them.
async fn run(
    mut sink: impl Sink,
    mut rx: mpsc::Receiver<Job>,
    db: Db,
    mut checkpoints: Checkpointer,
) {
    let mut held: Option<Job> = None;
    // When an append last failed for good. A store that refuses inserts (permissions, a
    // trigger) may still take the probe's lock, so for a while after such a failure the
    // trail reports itself unavailable; after that the probe decides again, so a trail that
    // recovered without traffic becomes ready again.
    let mut failed_at: Option<Instant> = None;
    // A first checkpoint of the trail as it is, saying (once, for good) where its keyed
    // chain starts; then one whenever it moved, every few seconds.
    match store::stored_head(&db).await {
        Ok(head) => {
            if checkpoints.needs_start() {
                match store::unkeyed_until(&db).await {
                    Ok(until) => checkpoints.set_start(until),
                    Err(e) => tracing::error!(error = %e, "cannot read the audit trail"),
                }
            }
            checkpoints.write(&head).await;
        }
        Err(e) => tracing::error!(error = %e, "cannot read the audit trail's head"),
    }
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let next = match held.take() {
            Some(job) => Some(job),
            None => tokio::select! {
                job = rx.recv() => job,
                _ = tick.tick() => {
                    if let Some(head) = sink.committed() {
                        checkpoints.write(&head).await;
                    }
                    continue;
                }
            },
        };
        let Some(first) = next else { break };
        match first {
            Job::Probe(ack) => {
                let failing = failed_at.is_some_and(|t| t.elapsed() < FAILURE_MEMORY);
                let _ = ack.send(!failing && sink.probe().await);
            }
            Job::Reconcile(before) => reconcile_now(&mut sink, before).await,
            Job::Shutdown(ack) => {
                if let Some(head) = sink.committed() {
                    checkpoints.write(&head).await;
                }
                let _ = ack.send(());
            }
            Job::Append(first) => {
                // Let the tasks that are ready now run first: those about to answer a
                // request queue their events too, and one commit takes them all.
                tokio::task::yield_now().await;
                let mut batch = vec![first];
                let mut count = batch[0].events.len();
                while count < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(Job::Append(a)) => {
                            count += a.events.len();
                            batch.push(a);
                        }
                        Ok(other) => {
                            held = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                match write(&mut sink, batch).await {
                    Some(true) => failed_at = None,
                    Some(false) => failed_at = Some(Instant::now()),
                    None => {}
                }
            }
        }
    }
    if let Some(head) = sink.committed() {
        checkpoints.write(&head).await;
    }
}

/// How often the writer checkpoints the trail while events are written.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(5);

/// How long a failed append makes readiness say "unavailable".
const FAILURE_MEMORY: Duration = Duration::from_secs(10);

/// Commits `batch` in one transaction and answers each of its callers, retried as
/// [`Backoff`] says. Before each try, events nobody waits for any more are dropped. A batch of several callers that fails for another reason than a
/// lock is split, so that one caller's events that the store refuses do not fail the
/// others'. Whether it committed; `None` when nothing was left to write.
async fn write(sink: &mut impl Sink, mut batch: Vec<Append>) -> Option<bool> {
    let mut backoff = Backoff::default();
    loop {
        batch.retain(|a| !a.abandoned());
        if batch.is_empty() {
            return None;
        }
        let events: Vec<&AuditEvent> = batch.iter().flat_map(|a| a.events.iter()).collect();
        let opens: Vec<bool> = batch
            .iter()
            .flat_map(|a| std::iter::repeat_n(a.opens, a.events.len()))
            .collect();
        let resolves: Vec<i64> = batch
            .iter()
            .flat_map(|a| a.resolves.iter().copied())
            .collect();
        let written = match sink.append(&events, &opens, &resolves).await {
            Ok(first) => Some(first),
            Err(Failure::Other(e)) if batch.len() > 1 => {
                tracing::warn!(error = %e, appends = batch.len(), "audit batch failed; writing its parts one by one");
                let mut all = true;
                for one in batch {
                    all &= Box::pin(write(sink, vec![one])).await != Some(false);
                }
                return Some(all);
            }
            Err(failure) => match backoff.after(&failure) {
                Some(pause) => {
                    tokio::time::sleep(pause).await;
                    continue;
                }
                None => None,
            },
        };
        let mut next = written;
        for a in batch {
            let n = a.events.len() as i64;
            let _ = a.ack.send(next);
            next = next.map(|seq| seq + n);
        }
        return Some(written.is_some());
    }
}

/// Closes the attempts opened before `before_us`, retrying like [`write`] does (the next
/// round tries again after it gives up).
async fn reconcile_now(sink: &mut impl Sink, before_us: i64) {
    let mut backoff = Backoff::default();
    loop {
        match sink.reconcile(before_us).await {
            Ok(0) => return,
            // More may be waiting beyond one batch.
            Ok(n) => tracing::warn!(
                attempts = n,
                "closed audit attempts without an outcome as interrupted"
            ),
            Err(failure) => match backoff.after(&failure) {
                Some(pause) => tokio::time::sleep(pause).await,
                None => return,
            },
        }
    }
}

/// Opens the gateway database (for the audit trail), running its migrations.
pub async fn open(url: &str) -> Result<Db, iop_db::DbError> {
    Db::connect(url, &MIGRATIONS, &iop_db::PoolConfig::default()).await
}
