//! Callbacks become normalized events: delivered to the tenant's webhook (signed, retried)
//! and streamed to `GET /v1/events` listeners.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use ingest_sim::rongcloud::{CallbackEvent, RongCloudSim, RongCloudSimConfig};
use ingest_sim::server::{Fault, Recorded, SimResponse, SimServer, VendorHandler};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

const APP_KEY: &str = "rc-events-app-key";
const KEY_A: &str = "events-tenant-a-api-key-000000000";
const KEY_B: &str = "events-tenant-b-api-key-111111111";
const WEBHOOK_SECRET: &str = "webhook-secret-for-tenant-a-42";

/// A webhook receiver: records every delivery and answers 200.
struct Receiver;

impl VendorHandler for Receiver {
    fn handle(&self, _request: &Recorded) -> SimResponse {
        SimResponse::json(200, &serde_json::json!({"ok": true}))
    }
    fn vendor_error(&self, _request: &Recorded, code: &str, _message: &str) -> SimResponse {
        SimResponse::text(500, code.to_string())
    }
}

fn config(sim: &RongCloudSim, webhook: &str) -> String {
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
max_attempts = 4
[[tenants]]
id = "b"
api_key_sha256 = "{b}"
providers = ["rc"]
"#,
        provider = provider_toml(
            "rc",
            "rongcloud",
            &sim.base_url(),
            "",
            &[("app_key", &format!("\"{APP_KEY}\""))],
            &[("app_secret", RONGCLOUD_APP_SECRET)],
        ),
        a = sha256_hex(KEY_A),
        b = sha256_hex(KEY_B),
    )
}

async fn sim() -> RongCloudSim {
    RongCloudSim::start(RongCloudSimConfig {
        app_key: APP_KEY.to_string(),
        app_secret: RONGCLOUD_APP_SECRET.to_string(),
        max_skew_secs: 300,
    })
    .await
    .expect("simulator")
}

fn callback_event() -> CallbackEvent {
    CallbackEvent {
        room_id: "room-9".to_string(),
        user_id: "relay-bot".to_string(),
        kind: 5,
        code: 61017,
        rtmp_url: "rtmp://media.example.com/live/source".to_string(),
        video_resolution: None,
    }
}

async fn post_callback(gw: &ingest_gateway::Gateway, path: &str, sim: &RongCloudSim) -> Answer {
    let cb = sim.signed_callback(&callback_event());
    call_with(
        gw,
        "POST",
        path,
        &header_refs(&cb.headers),
        Bytes::from(cb.body),
    )
    .await
}

#[tokio::test]
async fn a_verified_callback_is_delivered_to_the_tenant_webhook_signed_and_retried() {
    let sim = sim().await;
    let receiver = SimServer::start(Arc::new(Receiver))
        .await
        .expect("receiver");
    receiver.fail_next(Fault::Status(503)); // the first attempt fails: the gateway retries
    let url = format!("{}/hooks/ingest", receiver.base_url());
    let gw = gateway(&config(&sim, &url)).await;

    // Tenants receive callbacks on their own path; an unknown tenant's path is refused.
    let a = post_callback(&gw, "/v1/callbacks/rc/a", &sim).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json["event"]["state"], "running");
    let unknown = post_callback(&gw, "/v1/callbacks/rc/nobody", &sim).await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);

    // Wait (bounded) for the delivery: one refused attempt, then one accepted.
    let mut deliveries = Vec::new();
    for _ in 0..200 {
        deliveries = receiver.requests();
        if deliveries.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        deliveries.len(),
        2,
        "one failed attempt, then a retry: {deliveries:?}"
    );
    let d = &deliveries[1];
    assert_eq!(d.path_and_query, "/hooks/ingest");
    let signature = d.header("ingest-signature").expect("signature header");
    let (t, v1) = signature
        .strip_prefix("t=")
        .and_then(|s| s.split_once(",v1="))
        .expect("t=…,v1=…");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).expect("key");
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(&d.body);
    assert_eq!(
        hex::encode(mac.finalize().into_bytes()),
        v1,
        "webhook signature does not verify"
    );
    let body: serde_json::Value = serde_json::from_slice(&d.body).expect("json");
    assert_eq!(body["tenant"], "a");
    assert_eq!(body["provider"], "rc");
    assert_eq!(body["event"]["state"], "running");
    assert_eq!(d.header("ingest-event-id"), body["id"].as_str());
    let metrics = gw.metrics().render();
    assert!(
        metrics.contains(r#"ingest_events_total{provider="rc",delivery="webhook_ok"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn events_stream_to_the_tenants_listeners() {
    let sim = sim().await;
    let gw = Arc::new(gateway(&config(&sim, "http://127.0.0.1:9/unused")).await);
    let served = Served::start(gw.clone()).await;
    let addr = served.addr;

    async fn open(addr: std::net::SocketAddr, key: &str) -> tokio::net::TcpStream {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.write_all(
            format!("GET /v1/events HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {key}\r\n\r\n")
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
    let mut a = open(addr, KEY_A).await;
    let mut b = open(addr, KEY_B).await;
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
    // Tenant b's listener does not see tenant a's event.
    let other = read_until(&mut b, "event: ingest", Duration::from_millis(300)).await;
    assert!(!other.contains("event: ingest"), "{other}");

    // Without a key the stream is refused.
    let mut anon = tokio::net::TcpStream::connect(addr).await.expect("connect");
    anon.write_all(b"GET /v1/events HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("write");
    let refused = read_until(&mut anon, "\r\n\r\n", Duration::from_secs(5)).await;
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
}
