//! Callbacks become normalized events: committed to the outbox before the callback is
//! answered, delivered to the tenant's webhook per Standard Webhooks (retried on the
//! schedule, in order per ingest, once per callback however often the vendor repeats it),
//! listed and redelivered through the API, and streamed to `GET /v1/events` listeners.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use ingest_sim::rongcloud::{CallbackEvent, RongCloudSim, RongCloudSimConfig};
use ingest_sim::server::{Fault, Recorded, SimResponse, SimServer, VendorHandler};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

pub const APP_KEY: &str = "rc-events-app-key";
const KEY_A: &str = "events-tenant-a-api-key-000000000";
const KEY_B: &str = "events-tenant-b-api-key-111111111";
/// Tenant a's Standard Webhooks secret (`whsec_` + base64 of 24 bytes).
pub const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A webhook receiver: the server records every attempt; this keeps the ones it took.
/// With `fail_every_other` it refuses every second attempt (503); while `down`, every one.
#[derive(Default)]
pub struct Receiver {
    fail_every_other: bool,
    seen: AtomicUsize,
    /// Refuses everything (503) while set: a receiver that is down.
    pub down: std::sync::atomic::AtomicBool,
    taken: std::sync::Mutex<Vec<Recorded>>,
}

impl Receiver {
    /// The attempts it answered 2xx, in arrival order.
    pub fn taken(&self) -> Vec<Recorded> {
        self.taken.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl VendorHandler for Receiver {
    fn handle(&self, request: &Recorded) -> SimResponse {
        let n = self.seen.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) || (self.fail_every_other && n.is_multiple_of(2)) {
            return SimResponse::text(503, "try again".to_string());
        }
        self.taken
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(request.clone());
        SimResponse::json(200, &serde_json::json!({"ok": true}))
    }
    fn vendor_error(&self, _request: &Recorded, code: &str, _message: &str) -> SimResponse {
        SimResponse::text(500, code.to_string())
    }
}

/// Verifies a delivery with the Standard Webhooks library (not the gateway's own signing
/// code); returns its `webhook-id`.
pub fn verify(delivery: &Recorded) -> String {
    let mut headers = http::HeaderMap::new();
    for (k, v) in &delivery.headers {
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            http::HeaderValue::from_str(v),
        ) {
            headers.append(k, v);
        }
    }
    let wh = standardwebhooks::Webhook::new(WEBHOOK_SECRET).expect("secret");
    wh.verify(&delivery.body, &headers)
        .unwrap_or_else(|e| panic!("delivery does not verify ({e:?}): {delivery:?}"));
    delivery
        .header("webhook-id")
        .expect("webhook-id")
        .to_string()
}

/// The deliveries the receiver took (answered 2xx): every other one when it fails every
/// other attempt, else all.
fn accepted(receiver: &SimServer, fail_every_other: bool) -> Vec<Recorded> {
    receiver
        .requests()
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !fail_every_other || !i.is_multiple_of(2))
        .map(|(_, r)| r)
        .collect()
}

/// Waits (bounded) until `receiver` has at least `n` requests.
pub async fn await_requests(receiver: &SimServer, n: usize, within: Duration) -> Vec<Recorded> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let got = receiver.requests();
        if got.len() >= n || tokio::time::Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs a case once on each store: a SQLite file and a fresh PostgreSQL database (the same
/// suite for both back-ends).
macro_rules! on_both_stores {
    ($case:ident) => {
        mod $case {
            #[tokio::test]
            async fn sqlite() {
                super::$case(super::sqlite_store(stringify!($case))).await
            }
            #[tokio::test]
            async fn postgres() {
                super::$case(crate::outbox::fresh_database("events").await).await
            }
        }
    };
}

/// A new SQLite file store for `name`.
fn sqlite_store(name: &str) -> String {
    let dir = temp_dir(&format!("events-{name}"));
    for f in ["events.sqlite", "events.sqlite-wal", "events.sqlite-shm"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    format!("sqlite://{}", dir.join("events.sqlite").display())
}

fn config(sim: &RongCloudSim, webhook: &str, events: &str) -> String {
    config_on(sim, webhook, "sqlite::memory:", events)
}

fn config_on(sim: &RongCloudSim, webhook: &str, store: &str, events: &str) -> String {
    format!(
        r#"[gateway]
auth = "tenants"
{provider}
[[tenants]]
id = "a"
api_key_sha256 = "{a}"
providers = ["rc"]
[tenants.webhook]
url = "{webhook}"
secret = {{ value = "{WEBHOOK_SECRET}" }}
[[tenants]]
id = "b"
api_key_sha256 = "{b}"
providers = ["rc"]
[events]
store = "{store}"
{events}
"#,
        provider = rc_provider(sim),
        a = sha256_hex(KEY_A),
        b = sha256_hex(KEY_B),
    )
}

/// Provider `rc`: the RongCloud plugin in front of `sim`.
pub fn rc_provider(sim: &RongCloudSim) -> String {
    provider_toml(
        "rc",
        "rongcloud",
        &sim.base_url(),
        "",
        &[("app_key", &format!("\"{APP_KEY}\""))],
        &[("app_secret", RONGCLOUD_APP_SECRET)],
    )
}

pub async fn sim() -> RongCloudSim {
    RongCloudSim::start(RongCloudSimConfig {
        app_key: APP_KEY.to_string(),
        app_secret: RONGCLOUD_APP_SECRET.to_string(),
        max_skew_secs: 300,
    })
    .await
    .expect("simulator")
}

/// A RongCloud callback about `room`'s relay (`code` varies the body).
pub fn callback_event(room: &str, code: i64) -> CallbackEvent {
    CallbackEvent {
        room_id: room.to_string(),
        user_id: "relay-bot".to_string(),
        kind: 5,
        code,
        rtmp_url: "rtmp://media.example.com/live/source".to_string(),
        video_resolution: None,
    }
}

async fn post(
    gw: &ingest_gateway::Gateway,
    path: &str,
    cb: &ingest_sim::rongcloud::SimCallback,
) -> Answer {
    call_with(
        gw,
        "POST",
        path,
        &header_refs(&cb.headers),
        Bytes::from(cb.body.clone()),
    )
    .await
}

async fn post_callback(gw: &ingest_gateway::Gateway, path: &str, sim: &RongCloudSim) -> Answer {
    post(
        gw,
        path,
        &sim.signed_callback(&callback_event("room-9", 61017)),
    )
    .await
}

/// `GET path` as `key` every 20 ms until `done` holds or `tries` answers were read; the last.
async fn get_until(
    gw: &ingest_gateway::Gateway,
    path: &str,
    key: &str,
    tries: usize,
    done: impl Fn(&Answer) -> bool,
) -> Answer {
    let mut answer = Answer::default();
    for _ in 0..tries {
        answer = get(gw, path, key).await;
        if done(&answer) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    answer
}

async fn get(gw: &ingest_gateway::Gateway, path: &str, key: &str) -> Answer {
    let auth = format!("Bearer {key}");
    call_with(gw, "GET", path, &[("authorization", &auth)], Bytes::new()).await
}

on_both_stores!(a_verified_callback_is_stored_then_delivered_per_standard_webhooks_and_retried);
async fn a_verified_callback_is_stored_then_delivered_per_standard_webhooks_and_retried(
    store: String,
) {
    let sim = sim().await;
    let receiver = SimServer::start(Arc::new(Receiver::default()))
        .await
        .expect("receiver");
    receiver.fail_next(Fault::Status(503)); // the first attempt fails: the gateway retries
    let url = format!("{}/hooks/ingest", receiver.base_url());
    let gw = gateway(&config_on(
        &sim,
        &url,
        &store,
        "retry_schedule_secs = [0, 1, 1]",
    ))
    .await;

    // Tenants receive callbacks on their own path; an unknown tenant's path is refused.
    let a = post_callback(&gw, "/v1/callbacks/rc/a", &sim).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json["event"]["state"], "running");
    assert_eq!(a.json["duplicate"], false);
    let event_id = a.json["event_id"].as_str().expect("event_id").to_string();
    assert!(event_id.starts_with("evt_"), "{event_id}");
    let unknown = post_callback(&gw, "/v1/callbacks/rc/nobody", &sim).await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);

    // One refused attempt, then one accepted a second later (the schedule's second wait).
    let deliveries = await_requests(&receiver, 2, Duration::from_secs(10)).await;
    assert_eq!(
        deliveries.len(),
        2,
        "one failed attempt, then a retry: {deliveries:?}"
    );
    for d in &deliveries {
        assert_eq!(d.path_and_query, "/hooks/ingest");
        assert_eq!(
            verify(d),
            event_id,
            "webhook-id is the event id on every attempt"
        );
        assert!(
            d.header("ingest-signature").is_none(),
            "the old header is gone"
        );
    }
    let body: serde_json::Value = serde_json::from_slice(&deliveries[1].body).expect("json");
    assert_eq!(body["id"], event_id.as_str());
    assert_eq!(body["tenant"], "a");
    assert_eq!(body["provider"], "rc");
    assert_eq!(body["event"]["state"], "running");
    assert_eq!(
        deliveries[0].body, deliveries[1].body,
        "the same bytes every attempt"
    );

    // The API lists it as delivered after two attempts.
    let listed = get_until(&gw, "/v1/webhook/events", KEY_A, 100, |a| {
        a.json["events"][0]["state"] == "delivered"
    })
    .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(
        listed.json["events"][0]["id"],
        event_id.as_str(),
        "{}",
        listed.text
    );
    assert_eq!(
        listed.json["events"][0]["state"], "delivered",
        "{}",
        listed.text
    );
    assert_eq!(listed.json["events"][0]["attempts"], 2, "{}", listed.text);
    // Tenant b sees none of tenant a's events.
    let other = get(&gw, "/v1/webhook/events", KEY_B).await;
    assert_eq!(
        other.json["events"],
        serde_json::json!([]),
        "{}",
        other.text
    );

    let metrics = gw.metrics().render();
    for line in [
        r#"ingest_events_total{provider="rc",delivery="stored"} 1"#,
        r#"ingest_events_total{provider="rc",delivery="webhook_retry"} 1"#,
        r#"ingest_events_total{provider="rc",delivery="webhook_ok"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
}

on_both_stores!(a_repeated_callback_is_one_event_and_one_ingests_events_arrive_in_order);
async fn a_repeated_callback_is_one_event_and_one_ingests_events_arrive_in_order(store: String) {
    let sim = sim().await;
    let receiver = SimServer::start(Arc::new(Receiver {
        fail_every_other: true,
        ..Receiver::default()
    }))
    .await
    .expect("receiver");
    let url = format!("{}/hooks", receiver.base_url());
    let gw = gateway(&config_on(
        &sim,
        &url,
        &store,
        "retry_schedule_secs = [0, 0, 0, 0]",
    ))
    .await;

    // The same signed callback twice (a vendor's retry): one event, the same id both times.
    let cb = sim.signed_callback(&callback_event("room-1", 61017));
    let first = post(&gw, "/v1/callbacks/rc/a", &cb).await;
    let again = post(&gw, "/v1/callbacks/rc/a", &cb).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.json["duplicate"], true, "{}", again.text);
    assert_eq!(first.json["event_id"], again.json["event_id"]);

    // Eight more callbacks of the same ingest (room-1), each a different body.
    let mut ids = vec![first.json["event_id"].as_str().expect("id").to_string()];
    for code in 1..=8 {
        let a = post(
            &gw,
            "/v1/callbacks/rc/a",
            &sim.signed_callback(&callback_event("room-1", 61017 + code)),
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.text);
        assert_eq!(a.json["id"], first.json["id"], "the same ingest");
        ids.push(a.json["event_id"].as_str().expect("id").to_string());
    }

    // Every other attempt fails: each event takes two attempts, and none overtakes another.
    let all = await_requests(&receiver, 2 * ids.len(), Duration::from_secs(20)).await;
    assert_eq!(all.len(), 2 * ids.len(), "two attempts per event, no more");
    let delivered: Vec<String> = accepted(&receiver, true).iter().map(verify).collect();
    assert_eq!(
        delivered, ids,
        "delivered once each, in the order they happened"
    );
    let attempted: Vec<String> = all.iter().map(verify).collect();
    for pair in attempted.chunks(2) {
        assert_eq!(
            pair[0], pair[1],
            "an event is retried before the next is tried: {attempted:?}"
        );
    }

    // The ingest's history: every event, oldest first.
    let ingest = first.json["id"].as_str().expect("handle");
    let history = get(&gw, &format!("/v1/ingests/{ingest}/events"), KEY_A).await;
    assert_eq!(history.status, 200, "{}", history.text);
    let listed: Vec<&str> = history.json["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["id"].as_str().expect("id"))
        .collect();
    assert_eq!(listed, ids.iter().map(String::as_str).collect::<Vec<_>>());
    // Another tenant cannot read it.
    let foreign = get(&gw, &format!("/v1/ingests/{ingest}/events"), KEY_B).await;
    assert_eq!(foreign.status, 404, "{}", foreign.text);
}

on_both_stores!(a_failing_endpoint_is_marked_its_events_kept_and_redelivered_on_request);
async fn a_failing_endpoint_is_marked_its_events_kept_and_redelivered_on_request(store: String) {
    let sim = sim().await;
    let receiver = SimServer::start(Arc::new(Receiver::default()))
        .await
        .expect("receiver");
    receiver.fail_always(Some(Fault::Status(500)));
    let url = format!("{}/hooks", receiver.base_url());
    let gw = gateway(&config_on(
        &sim,
        &url,
        &store,
        "retry_schedule_secs = [0, 0]\nfailing_after = 2",
    ))
    .await;
    let a = post_callback(&gw, "/v1/callbacks/rc/a", &sim).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let id = a.json["event_id"].as_str().expect("id").to_string();

    // Two attempts, both refused: the event is failed, the endpoint failing.
    let failed = get_until(&gw, "/v1/webhook/events?state=failed", KEY_A, 200, |a| {
        a.json["events"].as_array().is_some_and(|e| !e.is_empty())
    })
    .await;
    assert_eq!(
        failed.json["events"][0]["id"],
        id.as_str(),
        "{}",
        failed.text
    );
    assert_eq!(failed.json["events"][0]["attempts"], 2, "{}", failed.text);
    assert!(
        failed.json["events"][0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("500")),
        "{}",
        failed.text
    );
    let endpoint = get(&gw, "/v1/webhook", KEY_A).await;
    assert_eq!(endpoint.status, 200, "{}", endpoint.text);
    assert_eq!(endpoint.json["failing"], true, "{}", endpoint.text);
    assert_eq!(
        endpoint.json["consecutive_failures"], 2,
        "{}",
        endpoint.text
    );
    let mut metrics = String::new();
    for _ in 0..200 {
        metrics = gw.metrics().render();
        if metrics.contains(r#"ingest_webhook_endpoint_failing{tenant="a"} 1"#) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        metrics.contains(r#"ingest_webhook_endpoint_failing{tenant="a"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"delivery="webhook_failed"} 1"#),
        "{metrics}"
    );

    // Bad filters are refused with the reason.
    let bad = get(&gw, "/v1/webhook/events?state=lost", KEY_A).await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    // Redelivering: unknown id 404; the failed event is queued and, the receiver fixed, taken.
    let auth = format!("Bearer {KEY_A}");
    let missing = call_with(
        &gw,
        "POST",
        "/v1/webhook/events/evt_nope/redeliver",
        &[("authorization", &auth)],
        Bytes::new(),
    )
    .await;
    assert_eq!(missing.status, 404, "{}", missing.text);
    receiver.clear_faults();
    let again = call_with(
        &gw,
        "POST",
        &format!("/v1/webhook/events/{id}/redeliver"),
        &[("authorization", &auth)],
        Bytes::new(),
    )
    .await;
    assert_eq!(again.status, 202, "{}", again.text);
    let deliveries = await_requests(&receiver, 3, Duration::from_secs(10)).await;
    assert_eq!(deliveries.len(), 3, "{deliveries:?}");
    assert_eq!(verify(&deliveries[2]), id);
    let endpoint = get_until(&gw, "/v1/webhook", KEY_A, 200, |a| {
        a.json["failing"] == false
    })
    .await;
    assert_eq!(
        endpoint.json["failing"], false,
        "recovered: {}",
        endpoint.text
    );
    // Tenant b has no webhook: its endpoint is 404 and nothing can be redelivered.
    let none = get(&gw, "/v1/webhook", KEY_B).await;
    assert_eq!(none.status, 404, "{}", none.text);
}

#[tokio::test]
async fn a_secret_not_in_the_whsec_form_is_refused_at_start() {
    let sim = sim().await;
    let toml = config(&sim, "http://127.0.0.1:9/", "")
        .replace(WEBHOOK_SECRET, "plain-old-secret-1234567890");
    let config = ingest_gateway::Config::parse(&toml).expect("parses");
    let err = match ingest_gateway::Gateway::from_config(config).await {
        Ok(_) => panic!("a plain secret must be refused"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("whsec_") && err.contains("tenant `a`"),
        "{err}"
    );
    assert!(
        !err.contains("plain-old-secret"),
        "the value is never echoed: {err}"
    );
}

/// Opens `GET /v1/events` on `addr` with tenant `key`, resuming after `last` when given.
pub async fn open_stream(
    addr: std::net::SocketAddr,
    key: &str,
    last: Option<&str>,
) -> tokio::net::TcpStream {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let resume = last
        .map(|l| format!("last-event-id: {l}\r\n"))
        .unwrap_or_default();
    s.write_all(
        format!(
            "GET /v1/events HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {key}\r\n{resume}\r\n"
        )
        .as_bytes(),
    )
    .await
    .expect("write");
    s
}

async fn read_until(s: &mut tokio::net::TcpStream, needle: &str, within: Duration) -> String {
    let mut buf = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    while !String::from_utf8_lossy(&buf).contains(needle) {
        let mut chunk = [0u8; 4096];
        match tokio::time::timeout_at(deadline, s.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// Reads until `n` events arrived (or `within` passed); a moment more shows any extra.
async fn read_events(s: &mut tokio::net::TcpStream, n: usize, within: Duration) -> String {
    let mut buf = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    let mut settle = None;
    loop {
        let count = sse_ids(&String::from_utf8_lossy(&buf)).len();
        let until = match settle {
            Some(t) => t,
            None if count >= n => {
                let t = tokio::time::Instant::now() + Duration::from_millis(300);
                settle = Some(t);
                t
            }
            None => deadline,
        };
        let mut chunk = [0u8; 4096];
        match tokio::time::timeout_at(until, s.read(&mut chunk)).await {
            Ok(Ok(k)) if k > 0 => buf.extend_from_slice(&chunk[..k]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// The SSE `id:` values in `text`.
pub fn sse_ids(text: &str) -> Vec<i64> {
    text.lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .filter_map(|n| n.trim().parse().ok())
        .collect()
}

on_both_stores!(events_stream_to_the_tenants_listeners_and_resume_after_last_event_id);
async fn events_stream_to_the_tenants_listeners_and_resume_after_last_event_id(store: String) {
    let sim = sim().await;
    let gw = Arc::new(gateway(&config_on(&sim, "http://127.0.0.1:9/unused", &store, "")).await);
    let served = TestServer::start(gw.clone()).await;
    let addr = served.addr;

    let mut a = open_stream(addr, KEY_A, None).await;
    let mut b = open_stream(addr, KEY_B, None).await;
    let head = read_until(&mut a, "event stream", Duration::from_secs(5)).await;
    assert!(head.contains("text/event-stream"), "{head}");
    let _ = read_until(&mut b, "event stream", Duration::from_secs(5)).await;

    let posted = post_callback(&gw, "/v1/callbacks/rc/a", &sim).await;
    assert_eq!(posted.status, 200, "{}", posted.text);
    let got = read_until(&mut a, "\n\n", Duration::from_secs(5)).await;
    assert!(
        got.contains("event: ingest") && got.contains(r#""state":"running""#),
        "{got}"
    );
    let first = *sse_ids(&got).first().expect("an id");
    // Tenant b's listener does not see tenant a's event.
    let other = read_until(&mut b, "event: ingest", Duration::from_millis(300)).await;
    assert!(!other.contains("event: ingest"), "{other}");

    // The listener goes away; three events happen; it comes back with Last-Event-ID and
    // gets exactly those three, then new ones live.
    drop(a);
    for code in 1..=3 {
        let p = post(
            &gw,
            "/v1/callbacks/rc/a",
            &sim.signed_callback(&callback_event("room-2", 61017 + code)),
        )
        .await;
        assert_eq!(p.status, 200, "{}", p.text);
    }
    let mut resumed = open_stream(addr, KEY_A, Some(&first.to_string())).await;
    let text = read_events(&mut resumed, 3, Duration::from_secs(5)).await;
    let ids = sse_ids(&text);
    assert_eq!(ids.len(), 3, "exactly the missed events: {text}");
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]) && ids[0] > first,
        "{ids:?}"
    );
    let p = post(
        &gw,
        "/v1/callbacks/rc/a",
        &sim.signed_callback(&callback_event("room-2", 61099)),
    )
    .await;
    assert_eq!(p.status, 200, "{}", p.text);
    let live = read_events(&mut resumed, 1, Duration::from_secs(5)).await;
    assert_eq!(sse_ids(&live).len(), 1, "{live}");

    // A malformed Last-Event-ID is refused; without a key the stream is refused.
    let mut bad = open_stream(addr, KEY_A, Some("yesterday")).await;
    let refused = read_until(&mut bad, "\r\n\r\n", Duration::from_secs(5)).await;
    assert!(refused.starts_with("HTTP/1.1 400"), "{refused}");
    let mut anon = tokio::net::TcpStream::connect(addr).await.expect("connect");
    anon.write_all(b"GET /v1/events HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("write");
    let refused = read_until(&mut anon, "\r\n\r\n", Duration::from_secs(5)).await;
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
}
