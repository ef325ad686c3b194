//! The gateway's HTTP server: REST and gRPC (HTTP/1.1 and HTTP/2) on one port, with every
//! wait bounded. A connection that sends its headers too slowly, its body too slowly, or no
//! request at all for a while is closed; the number of open connections is capped below the
//! process's file-descriptor limit (beyond it, new connections wait in the listen backlog);
//! shutdown lets requests finish for a grace period, then closes what is left.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use http::Request;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};

/// Timeouts and caps of client connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// From the first byte of a request to the end of its headers (HTTP/1.1).
    pub header_read_timeout: Duration,
    /// From the end of the headers to the end of the body.
    pub body_read_timeout: Duration,
    /// A connection with no request in flight for this long is closed (HTTP/1.1 keep-alive,
    /// HTTP/2, and connections that never send a complete request).
    pub idle_timeout: Duration,
    /// Open connections at most; `0` derives it from the file-descriptor limit.
    pub max_connections: usize,
    /// After shutdown is asked for, how long in-flight requests may take to finish before
    /// their connections are closed.
    pub shutdown_grace: Duration,
    /// A request's headers together at most (HTTP/1.1 head, HTTP/2 header list); larger is
    /// 431 (HTTP/1.1) or a refused stream (HTTP/2).
    pub max_header_bytes: usize,
    /// One header (name and value) at most; larger is 431.
    pub max_header_value_bytes: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 0,
            shutdown_grace: Duration::from_secs(10),
            max_header_bytes: 64 * 1024,
            max_header_value_bytes: 8 * 1024,
        }
    }
}

/// Descriptors kept free of client connections: databases, WAL files, downstream channels,
/// the listener, logs.
const RESERVED_FDS: u64 = 128;
/// Largest default connection cap, whatever the descriptor limit.
const DEFAULT_MAX_CONNECTIONS: u64 = 10_000;

impl ConnectionLimits {
    /// The connection cap in force: as configured, or three quarters of what the
    /// file-descriptor limit leaves after [`RESERVED_FDS`] (at least 16, at most 10,000).
    pub fn connection_cap(&self) -> usize {
        if self.max_connections > 0 {
            return self.max_connections;
        }
        let fds = open_files_limit().unwrap_or(1024);
        let cap = (fds.saturating_sub(RESERVED_FDS) * 3 / 4).clamp(16, DEFAULT_MAX_CONNECTIONS);
        usize::try_from(cap).unwrap_or(16)
    }
}

/// The soft limit on open files of this process (Linux `/proc/self/limits`).
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line.split_whitespace().nth(3)?;
    match soft {
        "unlimited" => Some(u64::MAX),
        n => n.parse().ok(),
    }
}

/// Serves `app` on `listener` until `shutdown` resolves. Shutdown order: stop accepting →
/// ask every connection to finish (HTTP/2 GOAWAY, HTTP/1.1 close after the current
/// response) → wait up to the grace period → close what is still open.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let cap = limits.connection_cap();
    let permits = Arc::new(Semaphore::new(cap));
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    tracing::info!(max_connections = cap, "accepting connections");
    tokio::pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {}
        // At the cap, stop accepting: new connections wait in the kernel's backlog.
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors or a connection reset before accept: not fatal; wait
                // a moment rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let app = app.clone();
        let stopping = stopping.clone();
        connections.spawn(async move {
            connection(tcp, peer, app, limits, stopping).await;
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "closing connections still open after the shutdown grace period"
        );
        connections.shutdown().await;
    }
}

/// Requests in flight on one connection and when the last one started or ended.
struct Activity {
    origin: Instant,
    in_flight: AtomicUsize,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            origin: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// How long the connection has gone without a request in flight.
    fn idle_for(&self) -> Duration {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return Duration::ZERO;
        }
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.origin.elapsed().saturating_sub(last)
    }
}

/// Counts a request in flight from when it is handed to the app until its response is.
struct InFlight(Arc<Activity>);

impl InFlight {
    /// (No time is noted here: while it is in flight the connection is not idle anyway.)
    fn start(activity: &Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        Self(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How long a connection asked to close for idleness may take to do so.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: ConnectionLimits,
    mut stopping: watch::Receiver<bool>,
) {
    // gRPC answers are several small HTTP/2 frames; with Nagle's algorithm and delayed ACKs
    // some of them would wait 40 ms.
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY");
    }
    let activity = Arc::new(Activity::new());
    let service = {
        let activity = activity.clone();
        let body_timeout = limits.body_read_timeout;
        tower::service_fn(move |req: Request<Incoming>| {
            let in_flight = InFlight::start(&activity);
            let mut req = req.map(|body| axum::body::Body::new(TimedBody::new(body, body_timeout)));
            req.extensions_mut().insert(ConnectInfo(peer));
            let mut app = app.clone();
            async move {
                let res = tower::Service::call(&mut app, req).await;
                drop(in_flight);
                res
            }
        })
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        // A memory bound (hyper needs at least 8 KiB); the exact caps a client sees are
        // `headers::capped`.
        .max_buf_size(limits.max_header_bytes.max(8 * 1024));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        // Finds peers that vanished without closing (a pulled cable, a frozen client).
        .keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10));
    let conn = builder.serve_connection(TokioIo::new(tcp), TowerToHyperService::new(service));
    tokio::pin!(conn);
    let check_every =
        (limits.idle_timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(5));
    let mut idle_check = tokio::time::interval(check_every);
    // When the connection was asked to close for idleness; and whether shutdown asked.
    let mut closing: Option<Instant> = None;
    let mut stopped = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = stopping.changed(), if !stopped => {
                // In-flight requests finish; the server's grace period bounds them.
                stopped = true;
                if closing.is_none() {
                    conn.as_mut().graceful_shutdown();
                }
            }
            _ = idle_check.tick() => match closing {
                // Nothing is in flight: a connection slow to close is simply dropped.
                Some(since) if since.elapsed() >= CLOSE_WAIT => return,
                Some(_) => {}
                None if activity.idle_for() >= limits.idle_timeout => {
                    tracing::debug!(%peer, "closing an idle connection");
                    if !stopped {
                        conn.as_mut().graceful_shutdown();
                    }
                    closing = Some(Instant::now());
                }
                None => {}
            },
        }
    }
}

/// The body did not arrive within the body read timeout.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimedOut;

/// A request body that must arrive, whole, before a deadline. The timer is armed only if
/// the body is not there when first asked for (most bodies are, or are empty), so most
/// requests never touch the timer wheel.
struct TimedBody<B> {
    inner: B,
    deadline: Instant,
    timer: Option<Pin<Box<Sleep>>>,
}

impl<B> TimedBody<B> {
    fn new(inner: B, timeout: Duration) -> Self {
        Self {
            inner,
            deadline: Instant::now() + timeout,
            timer: None,
        }
    }
}

impl<B> Body for TimedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimedOut)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Whether `err` (or what caused it) is a body that did not arrive in time.
pub fn is_body_timeout(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if e.is::<BodyTimedOut>() {
            return true;
        }
        cur = e.source();
    }
    false
}
