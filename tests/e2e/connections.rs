//! Client connections are bounded in time and number: slow or silent clients are closed
//! after the configured timeouts, over HTTP/1.1 and HTTP/2; shutdown ends within its grace
//! period even with a stuck client; beyond the connection cap new clients wait their turn.

use std::time::{Duration, Instant};

use iop_gateway::ConnectionLimits;
use iop_testing::TestSystem;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Short limits for one test; the others stay long so only the one under test can fire.
fn limits(tweak: impl FnOnce(&mut ConnectionLimits)) -> ConnectionLimits {
    let mut l = ConnectionLimits {
        header_read_timeout: Duration::from_secs(60),
        body_read_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(60),
        max_connections: 0,
        shutdown_grace: Duration::from_secs(60),
        ..ConnectionLimits::default()
    };
    tweak(&mut l);
    l
}

async fn start(connections: ConnectionLimits) -> TestSystem {
    TestSystem::start_with(|c| c.connections = connections).await
}

async fn connect(sys: &TestSystem) -> TcpStream {
    TcpStream::connect(sys.base_url.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads until the server closes the connection; what it sent, and how long that took.
/// Panics if it stays open past `bound` (generous: the point is "closed", not "fast").
async fn until_closed(stream: &mut TcpStream, bound: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((started + bound).into(), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (String::from_utf8_lossy(&seen).into(), started.elapsed());
            }
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "still open after {bound:?}; received {:?}",
                String::from_utf8_lossy(&seen)
            ),
        }
    }
}

const BOUND: Duration = Duration::from_secs(5);

#[tokio::test]
async fn silent_and_idle_connections_are_closed_over_http1_and_http2() {
    let sys = start(limits(|l| l.idle_timeout = Duration::from_millis(300))).await;

    // Connects and never says anything.
    let mut silent = connect(&sys).await;
    let (_, took) = until_closed(&mut silent, BOUND).await;
    assert!(took >= Duration::from_millis(250), "{took:?}");

    // An HTTP/1.1 keep-alive connection after its request.
    let mut idle = connect(&sys).await;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let (seen, _) = until_closed(&mut idle, BOUND).await;
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");

    // An HTTP/2 connection (as gRPC clients open) that sends its preface and settings only.
    let mut h2 = connect(&sys).await;
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    until_closed(&mut h2, BOUND).await;

    // Requests keep coming on a busy connection: it is not idle.
    let res = sys.http.get(sys.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    sys.stop().await;
}

#[tokio::test]
async fn slow_headers_and_slow_bodies_are_cut_off() {
    let sys = start(limits(|l| {
        l.header_read_timeout = Duration::from_millis(300);
        l.body_read_timeout = Duration::from_millis(300);
    }))
    .await;

    // Headers one line every 100 ms: never complete.
    let mut slow = connect(&sys).await;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        .await
        .unwrap();
    let trickle = async {
        for i in 0..100 {
            if slow
                .write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let started = Instant::now();
    tokio::time::timeout(BOUND, trickle).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );

    // A body that never arrives in full: 408, and the connection is closed.
    let token = sys.token("clinic-a", &["front_desk"]);
    let mut body = connect(&sys).await;
    body.write_all(
        format!(
            "POST /v1/patients HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"given_name\""
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let (seen, _) = until_closed(&mut body, BOUND).await;
    assert!(seen.starts_with("HTTP/1.1 408"), "{seen}");
    assert!(seen.contains("did not arrive in time"), "{seen}");
    sys.stop().await;
}

#[tokio::test]
async fn shutdown_ends_within_its_grace_period_despite_a_stuck_client() {
    let sys = start(limits(|l| l.shutdown_grace = Duration::from_millis(300))).await;
    let token = sys.token("clinic-a", &["front_desk"]);
    // A request in flight, waiting for a body that never comes.
    let mut stuck = connect(&sys).await;
    stuck
        .write_all(
            format!(
                "POST /v1/patients HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n\
                 Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    tokio::time::timeout(BOUND, sys.stop())
        .await
        .expect("shutdown hung");
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
    until_closed(&mut stuck, BOUND).await;
}

#[tokio::test]
async fn beyond_the_connection_cap_new_clients_wait_their_turn() {
    let sys = start(limits(|l| l.max_connections = 4)).await;
    // Fill the cap with silent sockets (the test client's pooled connection, left from
    // polling readiness, may hold one of the four; sockets past the cap still connect, into
    // the listen backlog, and are not served).
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(connect(&sys).await);
    }
    let fresh = reqwest::Client::new();
    let waiting = tokio::spawn({
        let url = sys.url("/healthz");
        async move { fresh.get(url).send().await.map(|r| r.status().as_u16()) }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "served beyond the cap");
    held.clear();
    let status = tokio::time::timeout(BOUND, waiting)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
    sys.stop().await;
}
