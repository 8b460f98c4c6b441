//! Broken vendors, through the simulators: every transport and protocol failure a vendor can
//! produce gives the documented normalized error (never a panic), within the provider's
//! timeouts, is counted, and leaves the gateway serving. Also the idempotency of retried
//! starts (docs/idempotency.md).
//!
//! `cargo test -p ingest-gateway-cli --test all faults:: -- --nocapture` prints each fault's kind
//! and time.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ingest_gateway::Gateway;
use ingest_sim::rongcloud::{RongCloudSim, RongCloudSimConfig};
use ingest_sim::server::{Fault, SimResponse, SimServer};
use ingest_sim::tencent::TencentSim;

use crate::support::*;

/// Egress limits of the providers under test: short, so the suite stays fast.
const CONNECT_TIMEOUT_MS: u64 = 300;
const REQUEST_TIMEOUT_MS: u64 = 500;
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// How late past its timeout a failing call may answer (a busy 2-core box).
const GRACE: Duration = Duration::from_secs(2);
const RC_APP_KEY: &str = "rc-test-app-key";

fn egress() -> String {
    format!(
        "[providers.egress]\nconnect_timeout_ms = {CONNECT_TIMEOUT_MS}\nrequest_timeout_ms = {REQUEST_TIMEOUT_MS}\nmax_response_bytes = {MAX_RESPONSE_BYTES}\n"
    )
}

fn trtc(id: &str, endpoint: &str) -> String {
    trtc_provider(id, endpoint, &egress())
}

fn rongcloud(id: &str, endpoint: &str, extra_config: &[(&str, &str)]) -> String {
    let app_key = format!("\"{RC_APP_KEY}\"");
    let mut config = vec![("app_key", app_key.as_str())];
    config.extend_from_slice(extra_config);
    provider_toml(
        id,
        "rongcloud",
        endpoint,
        &egress(),
        &config,
        &[("app_secret", RONGCLOUD_APP_SECRET)],
    )
}

async fn tencent_sim() -> TencentSim {
    trtc_sim().await
}

async fn rongcloud_sim() -> RongCloudSim {
    RongCloudSim::start(RongCloudSimConfig {
        app_key: RC_APP_KEY.to_string(),
        app_secret: RONGCLOUD_APP_SECRET.to_string(),
        max_skew_secs: 300,
    })
    .await
    .expect("rongcloud simulator")
}

fn start_body(provider: &str, room: &str) -> serde_json::Value {
    let mut body = pull_in(provider, room);
    if provider.starts_with("rc") {
        body["options"] = serde_json::json!({});
    }
    body
}

/// The value of one metric series (`name{labels}`), 0 when absent.
fn metric(gw: &Gateway, series: &str) -> f64 {
    gw.metrics()
        .render()
        .lines()
        .find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

/// One injected fault and what the API must answer.
struct Case {
    name: &'static str,
    fault: Fault,
    kind: &'static str,
    retryable: bool,
    retry_after: Option<u32>,
}

fn cases() -> Vec<Case> {
    let case = |name, fault, kind, retryable| Case {
        name,
        fault,
        kind,
        retryable,
        retry_after: None,
    };
    // A body four times the cap, shaped like the start of a JSON answer.
    let huge = SimResponse {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: format!(
            "{{\"Response\": {{\"pad\": \"{}\"}}}}",
            "x".repeat(4 * MAX_RESPONSE_BYTES)
        )
        .into_bytes(),
    };
    vec![
        case("HTTP 500", Fault::Status(500), "unavailable", true),
        case("HTTP 502", Fault::Status(502), "unavailable", true),
        case("HTTP 503", Fault::Status(503), "unavailable", true),
        Case {
            retry_after: Some(7),
            ..case(
                "HTTP 429 with Retry-After",
                Fault::status_with_headers(429, &[("retry-after", "7")]),
                "rate-limited",
                true,
            )
        },
        case(
            "malformed JSON",
            Fault::MalformedBody,
            "vendor-internal",
            false,
        ),
        case("truncated JSON", Fault::TruncatedBody, "unavailable", true),
        case("huge body", Fault::Respond(huge), "vendor-internal", false),
        case(
            "slow drip",
            Fault::SlowDrip(Duration::from_millis(100)),
            "timeout",
            true,
        ),
        case(
            "read timeout",
            Fault::Delay(Duration::from_secs(60)),
            "timeout",
            true,
        ),
        case("connection reset", Fault::Reset, "unavailable", true),
        case(
            "connection dropped",
            Fault::DropConnection,
            "unavailable",
            true,
        ),
    ]
}

/// Runs every case against `provider` (served by `sim`), then checks the gateway still
/// starts ingests on it and counted each outcome.
async fn run_cases(gw: &Gateway, provider: &str, sim: &SimServer) {
    let mut expected: std::collections::BTreeMap<&str, f64> = Default::default();
    for (i, case) in cases().into_iter().enumerate() {
        sim.fail_next(case.fault.clone());
        let started = Instant::now();
        let a = call(
            gw,
            "POST",
            "/v1/ingests",
            Some(start_body(provider, &(100 + i).to_string())),
        )
        .await;
        let elapsed = started.elapsed();
        eprintln!(
            "vendor fault `{}` on {provider}: HTTP {} {} (retryable {}) in {elapsed:?}; detail: {}",
            case.name, a.status, a.json["kind"], a.json["retryable"], a.json["detail"]
        );
        assert_eq!(a.json["kind"], case.kind, "{}: {}", case.name, a.text);
        assert_eq!(
            a.json["retryable"], case.retryable,
            "{}: {}",
            case.name, a.text
        );
        assert_eq!(
            a.headers["content-type"], "application/problem+json",
            "{}",
            case.name
        );
        if let Some(secs) = case.retry_after {
            assert_eq!(
                a.json["retry_after_secs"], secs,
                "{}: {}",
                case.name, a.text
            );
            assert_eq!(a.headers["retry-after"], secs.to_string().as_str());
        }
        assert!(
            elapsed < Duration::from_millis(REQUEST_TIMEOUT_MS) + GRACE,
            "{} took {elapsed:?}",
            case.name
        );
        *expected.entry(case.kind).or_default() += 1.0;

        // The vendor is healthy again: so is the provider.
        let ok = call(
            gw,
            "POST",
            "/v1/ingests",
            Some(start_body(provider, &(200 + i).to_string())),
        )
        .await;
        assert_eq!(ok.status, 201, "after {}: {}", case.name, ok.text);
        assert_eq!(gw.runtime().calls_in_flight(), 0);
    }
    for (kind, n) in expected {
        let series = format!(
            "ingest_requests_total{{provider=\"{provider}\",operation=\"start\",outcome=\"{kind}\"}}"
        );
        assert_eq!(metric(gw, &series), n, "{series}");
    }
    // A vendor failure is not a plugin fault: nothing counted there, the provider is healthy.
    assert!(
        !gw.metrics().render().contains(&format!(
            "ingest_plugin_faults_total{{provider=\"{provider}\""
        )),
        "a vendor fault was counted as a plugin fault"
    );
    let health = call(gw, "GET", "/readyz", None).await;
    assert_eq!(health.status, 200, "{}", health.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tencent_vendor_faults_map_to_documented_kinds() {
    let sim = tencent_sim().await;
    let gw = gateway(&trtc("trtc", &sim.base_url())).await;
    run_cases(&gw, "trtc", sim.server()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rongcloud_vendor_faults_map_to_documented_kinds() {
    let sim = rongcloud_sim().await;
    let gw = gateway(&rongcloud("rc", &sim.base_url(), &[])).await;
    run_cases(&gw, "rc", sim.server()).await;
}

/// A loopback port whose accept queue is full: further connection attempts get no answer
/// at all (the SYN is dropped), as with an unreachable host. Keep the returned values alive.
async fn port_that_accepts_nothing() -> (
    tokio::net::TcpListener,
    Vec<std::net::TcpStream>,
    SocketAddr,
) {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("bind");
    let listener = socket.listen(0).expect("listen");
    let addr = listener.local_addr().expect("addr");
    let mut fillers = Vec::new();
    for _ in 0..8 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(stream) => fillers.push(stream),
            Err(_) => return (listener, fillers, addr),
        }
    }
    panic!("the accept queue of {addr} never filled up");
}

/// Connect timeout (a port that never completes a handshake) and a refused connection (a
/// closed port): both documented transport errors, each within the connect timeout.
#[tokio::test]
async fn unreachable_vendors_time_out_or_are_unavailable() {
    let (_listener, _fillers, blackhole) = port_that_accepts_nothing().await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let toml = format!(
        "{}{}",
        trtc("blackhole", &format!("http://{blackhole}")),
        trtc("closed", &format!("http://{closed}")),
    );
    let gw = gateway(&toml).await;
    for (provider, kind) in [("blackhole", "timeout"), ("closed", "unavailable")] {
        let started = Instant::now();
        let a = call(&gw, "POST", "/v1/ingests", Some(start_body(provider, "1"))).await;
        let elapsed = started.elapsed();
        eprintln!(
            "vendor fault `{provider}`: HTTP {} {} in {elapsed:?}; detail: {}",
            a.status, a.json["kind"], a.json["detail"]
        );
        assert_eq!(a.json["kind"], kind, "{provider}: {}", a.text);
        assert_eq!(a.json["retryable"], true, "{provider}: {}", a.text);
        assert!(
            elapsed < Duration::from_millis(CONNECT_TIMEOUT_MS) + GRACE,
            "{provider} took {elapsed:?}"
        );
    }
    let detail = call(
        &gw,
        "POST",
        "/v1/ingests",
        Some(start_body("blackhole", "1")),
    )
    .await;
    assert!(
        detail.json["detail"]
            .as_str()
            .is_some_and(|d| d.contains("Timeout")),
        "the host's reason is kept: {}",
        detail.text
    );
}

/// TRTC: the plugin never retries. A start whose answer was lost (the vendor created the task,
/// the body was cut) is `unavailable` and retryable; the client's retry of the same start is
/// refused by the vendor as `FailedOperation.TaskExist` (`already-exists`), so there is still
/// exactly one task.
#[tokio::test]
async fn a_retried_trtc_start_never_makes_a_second_task() {
    let sim = tencent_sim().await;
    let gw = gateway(&trtc("trtc", &sim.base_url())).await;
    sim.fail_next(Fault::TruncatedBody);
    let first = call(&gw, "POST", "/v1/ingests", Some(start_body("trtc", "77"))).await;
    assert_eq!(first.json["kind"], "unavailable", "{}", first.text);
    assert_eq!(first.json["retryable"], true);
    assert_eq!(sim.request_count(), 1, "the plugin did not retry by itself");
    assert_eq!(sim.tasks().len(), 1, "the vendor did create the task");

    let retry = call(&gw, "POST", "/v1/ingests", Some(start_body("trtc", "77"))).await;
    assert_eq!(retry.status, 409, "{}", retry.text);
    assert_eq!(retry.json["kind"], "already-exists");
    assert_eq!(retry.json["vendor_code"], "FailedOperation.TaskExist");
    assert_eq!(sim.request_count(), 2);
    assert_eq!(sim.tasks().len(), 1, "still one task");
}

/// RongCloud: the plugin fails over to the backup host on a connection failure or a 5xx —
/// also for `start`. Here primary and backup are one simulator under two names (as the
/// vendor's two domains reach one service), and the primary's answer is cut after the vendor
/// started the player: the fail-over repeats the start, which RongCloud applies to the same
/// room and user (the stream is replaced), so there is exactly one player.
#[tokio::test]
async fn a_rongcloud_fail_over_never_makes_a_second_player() {
    let sim = rongcloud_sim().await;
    let port = sim.addr().port();
    let backup = format!("\"http://localhost:{port}\"");
    let gw = gateway(&rongcloud(
        "rc",
        &sim.base_url(),
        &[("backup_endpoint", backup.as_str())],
    ))
    .await;
    sim.fail_next(Fault::TruncatedBody);
    let a = call(&gw, "POST", "/v1/ingests", Some(start_body("rc", "idem"))).await;
    assert_eq!(a.status, 201, "{}", a.text);
    let requests = sim.requests();
    assert_eq!(requests.len(), 2, "primary, then backup");
    assert_eq!(requests[0].body, requests[1].body, "the same start, twice");
    assert_ne!(requests[0].header("nonce"), requests[1].header("nonce"));
    assert_eq!(sim.playing().len(), 1, "one player for the room and user");

    // A 5xx that the vendor answered without acting fails over the same way: still one.
    sim.fail_next(Fault::Status(503));
    let a = call(&gw, "POST", "/v1/ingests", Some(start_body("rc", "idem"))).await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(sim.playing().len(), 1);
}

/// RongCloud's fail-over repeats a `stop` too: when the primary stopped the player but its
/// answer was cut, the backup no longer knows the player. Repeating a stop is harmless — the
/// player is stopped exactly once — but the answer the client gets is the backup's (see
/// docs/idempotency.md).
#[tokio::test]
async fn a_rongcloud_fail_over_of_a_stop_stops_once() {
    let sim = rongcloud_sim().await;
    let port = sim.addr().port();
    let backup = format!("\"http://localhost:{port}\"");
    let gw = gateway(&rongcloud(
        "rc",
        &sim.base_url(),
        &[("backup_endpoint", backup.as_str())],
    ))
    .await;
    let started = call(&gw, "POST", "/v1/ingests", Some(start_body("rc", "stop"))).await;
    assert_eq!(started.status, 201, "{}", started.text);
    let id = started.json["id"].as_str().expect("id").to_string();
    sim.fail_next(Fault::TruncatedBody);
    let stopped = call(&gw, "DELETE", &format!("/v1/ingests/{id}"), None).await;
    eprintln!(
        "rongcloud stop, primary answer cut after stopping: HTTP {} {} {}",
        stopped.status, stopped.json["kind"], stopped.json["vendor_code"]
    );
    assert_eq!(
        sim.requests().len(),
        3,
        "start, stop at the primary, stop at the backup"
    );
    assert!(sim.playing().is_empty(), "the player is stopped");
}
