//! Client connections through real sockets (`[connections]`): slow clients are cut off,
//! idle keep-alive connections close, oversized heads are refused, the connection limit
//! pushes back, and SIGTERM drains the real binary.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

/// A gateway with the `ok` test plugin and `[connections]` from `connections`, served on a
/// loopback port until the returned [`TestServer`] is dropped.
async fn serve(connections: &str) -> (SocketAddr, TestServer) {
    let toml = format!(
        "[connections]\n{connections}\n[[providers]]\nid = \"ok\"\nplugin = \"{}\"\n[providers.config]\nmode = \"ok\"\n",
        ingest_sim::artifacts::plugin("test-hostile")
    );
    let served = TestServer::start(Arc::new(gateway(&toml).await)).await;
    (served.addr, served)
}

/// Reads until the peer closes the connection (or `limit` passes): when it closed.
async fn closed_at(mut stream: TcpStream, limit: Duration) -> Option<Instant> {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(Instant::now()),
            Ok(Ok(_)) => {}
            Err(_) => return None,
        }
    }
}

/// Sends `raw` on a new connection and returns the whole answer (the server closes after it
/// or within `limit`).
async fn exchange(addr: SocketAddr, raw: &[u8], limit: Duration) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(raw).await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(limit, stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// Slowloris: connections that each send half a request head are all closed once the header
/// timeout passes, counted from their first byte; normal requests are served meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_heads_are_cut_off_at_the_header_timeout_while_others_are_served() {
    const HEADER_MS: u64 = 400;
    let (addr, _served) = serve(&format!(
        "header_timeout_ms = {HEADER_MS}\nidle_timeout_ms = 30000"
    ))
    .await;
    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Slow: ")
            .await
            .expect("half a head");
        slow.push((Instant::now(), s));
    }
    let watchers: Vec<_> = slow
        .into_iter()
        .map(|(sent, s)| {
            tokio::spawn(async move { (sent, closed_at(s, Duration::from_secs(5)).await) })
        })
        .collect();
    // Normal requests while the slow ones hold their connections.
    for _ in 0..20 {
        let ok = http(addr, "GET", "/healthz", None).await;
        assert_eq!(ok.status, 200, "{}", ok.text);
    }
    for w in watchers {
        let (sent, closed) = w.await.expect("watcher");
        let closed = closed.expect("a half-sent head was never cut off");
        let after = closed - sent;
        assert!(
            after >= Duration::from_millis(HEADER_MS - 50),
            "closed after {after:?}, before the header timeout"
        );
        assert!(
            after <= Duration::from_millis(HEADER_MS + 1500),
            "closed only after {after:?}"
        );
    }
}

/// A keep-alive connection is closed after the idle timeout without a request, not before;
/// a request in flight is not cut off by it.
#[tokio::test]
async fn idle_keep_alive_connections_close_after_the_idle_timeout() {
    let (addr, _served) = serve("header_timeout_ms = 5000\nidle_timeout_ms = 500").await;
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
        .await
        .expect("request");
    let mut buf = vec![0u8; 8192];
    let n = s.read(&mut buf).await.expect("answer");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let answered = Instant::now();
    let closed = closed_at(s, Duration::from_secs(5))
        .await
        .expect("an idle connection was never closed");
    let idle = closed - answered;
    assert!(
        idle >= Duration::from_millis(450),
        "closed after {idle:?} idle"
    );
    assert!(
        idle <= Duration::from_millis(2000),
        "closed after {idle:?} idle"
    );
}

/// An event stream is a request in flight for as long as it lasts: the idle timeout does not
/// cut it.
#[tokio::test]
async fn an_event_stream_outlives_the_idle_timeout() {
    let (addr, _served) = serve("header_timeout_ms = 5000\nidle_timeout_ms = 300").await;
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /v1/events HTTP/1.1\r\nHost: gateway\r\n\r\n")
        .await
        .expect("request");
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).await.expect("answer");
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    assert_eq!(
        closed_at(s, Duration::from_millis(1000)).await,
        None,
        "the event stream was closed by the idle timeout"
    );
}

/// A head over `max_header_bytes` is answered 431; a body that stalls is answered 408.
#[tokio::test]
async fn oversized_heads_and_stalled_bodies_are_refused() {
    let (addr, _served) =
        serve("header_timeout_ms = 400\nidle_timeout_ms = 30000\nmax_header_bytes = 8192").await;
    let big = format!(
        "GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let answer = exchange(addr, big.as_bytes(), Duration::from_secs(3)).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");

    let stalled = b"POST /v1/ingests HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"provider\"";
    let t0 = Instant::now();
    let answer = exchange(addr, stalled, Duration::from_secs(3)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("header_timeout_ms"), "{answer}");
    assert!(
        t0.elapsed() >= Duration::from_millis(350),
        "{:?}",
        t0.elapsed()
    );
}

/// At `max_connections` the listener stops accepting: a new client waits (in the kernel's
/// backlog) until an open connection closes, then is served.
#[tokio::test]
async fn at_the_connection_limit_new_clients_wait_for_a_free_slot() {
    let (addr, _served) =
        serve("header_timeout_ms = 5000\nidle_timeout_ms = 30000\nmax_connections = 2").await;
    let held: Vec<TcpStream> = futures_connect(addr, 2).await;
    // Let the gateway accept both.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let waiting = tokio::spawn(async move {
        let t0 = Instant::now();
        let ok = http(addr, "GET", "/healthz", None).await;
        (ok.status, t0.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "served past the connection limit");
    drop(held);
    let (status, waited) = waiting.await.expect("client");
    assert_eq!(status, 200);
    assert!(waited >= Duration::from_millis(450), "{waited:?}");
}

async fn futures_connect(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(TcpStream::connect(addr).await.expect("connect"));
    }
    out
}

/// SIGTERM to the real binary under load: `/readyz` answers 503 from the signal on (while
/// the listener still accepts, `drain_delay_ms`), then the listener closes, every request
/// accepted before the signal gets its answer, and the process exits 0 before the drain
/// deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_requests_in_flight_and_exits_zero() {
    let sim = trtc_sim().await;
    sim.server()
        .fail_always(Some(ingest_sim::server::Fault::Delay(
            Duration::from_millis(1500),
        )));
    let dir = temp_dir("sigterm");
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[gateway]\nlisten = \"127.0.0.1:0\"\nauth = \"off\"\n[runtime]\n[connections]\ndrain_delay_ms = 600\ndrain_timeout_ms = 10000\n{}",
            trtc_provider("trtc", &sim.base_url(), QUOTA_OFF)
        ),
    )
    .expect("config");
    let (mut child, addr) = spawn_serve(&config);
    assert_eq!(http(addr, "GET", "/readyz", None).await.status, 200);

    // Five starts in flight (the vendor takes 1.5 s), then the signal.
    let in_flight: Vec<_> = (0..5)
        .map(|i| {
            tokio::spawn(async move {
                let body = pull_in("trtc", &(500 + i).to_string()).to_string();
                http(addr, "POST", "/v1/ingests", Some(&body)).await.status
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let signalled = Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ready = http(addr, "GET", "/readyz", None).await;
    assert_eq!(ready.status, 503, "{}", ready.text);
    assert_eq!(ready.json["draining"], true, "{}", ready.text);
    // After the drain delay the listener is closed.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "still accepting after the drain delay"
    );
    for call in in_flight {
        assert_eq!(
            call.await.expect("client"),
            201,
            "a request in flight was cut"
        );
    }
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(signalled.elapsed() < Duration::from_secs(10));
    assert_eq!(sim.tasks().len(), 5);
}
