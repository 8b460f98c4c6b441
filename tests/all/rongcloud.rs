//! RongCloud Cloud Player end to end: gateway → `rongcloud` component → simulator, including
//! fail-over to a backup host, status callbacks, and the byte-identical dry run.

use bytes::Bytes;
use ingest_sim::rongcloud::{
    CallbackEvent, PlayerState, RongCloudSim, RongCloudSimConfig, SimCallback,
};
use ingest_sim::server::Fault;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};

use crate::support::*;

const APP_KEY: &str = "rc-test-app-key";

async fn sim() -> RongCloudSim {
    RongCloudSim::start(RongCloudSimConfig {
        app_key: APP_KEY.to_string(),
        app_secret: RONGCLOUD_APP_SECRET.to_string(),
        max_skew_secs: 300,
    })
    .await
    .expect("simulator starts")
}

/// The provider's TOML: `rc` pointed at `endpoint`, with extra config lines (TOML literals).
fn provider(endpoint: &str, extra_config: &[(&str, &str)]) -> String {
    let app_key = format!("\"{APP_KEY}\"");
    let mut config = vec![("app_key", app_key.as_str())];
    config.extend_from_slice(extra_config);
    provider_toml(
        "rc",
        "rongcloud",
        endpoint,
        "",
        &config,
        &[("app_secret", RONGCLOUD_APP_SECRET)],
    )
}

fn start_body(room: &str) -> Value {
    json!({
        "provider": "rc",
        "direction": "pull-in",
        "room_id": room,
        "user_id": "relay-bot",
        "display_name": "Relay Bot",
        "stream_url": "rtmp://media.example.com/live/source",
        "media": "audio-only",
        "callback_url": "https://app.example.com/rc-callbacks",
        "options": {"room_type": "live"},
    })
}

/// `hex(SHA1(secret ‖ nonce ‖ timestamp))`, computed independently of the plugin.
fn signature(nonce: &str, timestamp: &str) -> String {
    hex::encode(Sha1::digest(
        format!("{RONGCLOUD_APP_SECRET}{nonce}{timestamp}").as_bytes(),
    ))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

#[tokio::test]
async fn start_then_stop_with_signed_headers() {
    let sim = sim().await;
    let gw = gateway(&provider(&sim.base_url(), &[])).await;

    let started = call(&gw, "POST", "/v1/ingests", Some(start_body("room-42"))).await;
    assert_eq!(started.status, 201, "{}", started.text);
    let id = started.json["id"].as_str().expect("id").to_string();
    assert!(started.json["session"]["vendor_task_id"].is_null());
    let request_id = started.json["session"]["vendor_request_id"]
        .as_str()
        .expect("the X-Request-ID sent")
        .to_string();

    let players = sim.playing();
    assert_eq!(players.len(), 1);
    let p = &players[0];
    assert_eq!(
        (p.room_id.as_str(), p.user_id.as_str()),
        ("room-42", "relay-bot")
    );
    assert_eq!(p.user_name.as_deref(), Some("Relay Bot"));
    assert_eq!((p.media_type, p.room_type), (1, 2));
    assert_eq!(p.rtmp_url, "rtmp://media.example.com/live/source");
    assert_eq!(
        p.callback_url.as_deref(),
        Some("https://app.example.com/rc-callbacks")
    );

    // The wire request, checked against the spec.
    let req = &sim.requests()[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path_and_query, "/v2/rtc/cloudplayer/start");
    let h = |n: &str| req.header(n).expect(n).to_string();
    assert_eq!(h("app-key"), APP_KEY);
    assert_eq!(h("room-id"), "room-42");
    assert_eq!(h("content-type"), "application/json");
    assert!(h("nonce").len() <= 18, "{}", h("nonce"));
    let ts: u64 = h("timestamp").parse().expect("seconds");
    assert!(
        ts.abs_diff(unix_now()) < 60,
        "Timestamp is in seconds: {ts}"
    );
    assert_eq!(h("signature"), signature(&h("nonce"), &h("timestamp")));
    assert_eq!(h("x-request-id"), request_id);
    assert!(request_id.len() <= 36);
    assert_eq!(
        req.body_json(),
        Some(
            json!({"user_id": "relay-bot", "user_name": "Relay Bot", "media_type": 1,
                    "room_type": 2, "rtmp_url": "rtmp://media.example.com/live/source",
                    "callback_url": "https://app.example.com/rc-callbacks"})
        )
    );

    // No query API: the gateway says status is not supported.
    let status = call(&gw, "GET", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(status.status, 501, "{}", status.text);
    assert_eq!(status.json["kind"], "unsupported");

    let stopped = call(&gw, "DELETE", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(stopped.status, 200, "{}", stopped.text);
    assert_eq!(sim.players()[0].state, PlayerState::Stopped);
    let stop_req = &sim.requests()[1];
    assert_eq!(stop_req.path_and_query, "/v2/rtc/cloudplayer/stop");
    assert_eq!(stop_req.header("room-id"), Some("room-42"));
    assert_eq!(stop_req.body_json(), Some(json!({"user_id": "relay-bot"})));

    // Stopping again: RongCloud has no such player.
    let again = call(&gw, "DELETE", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(again.status, 400, "{}", again.text);
    assert_eq!(again.json["kind"], "invalid-argument");
    assert_eq!(again.json["vendor_code"], "61012");
    assert_no_secrets("the log", "");
}

/// Every documented code, reached through a vendor error, with its normalized kind.
#[tokio::test]
async fn vendor_error_codes_map_to_normalized_kinds() {
    let sim = sim().await;
    let gw = gateway(&provider(&sim.base_url(), &[])).await;
    let cases = [
        ("61000", "unsupported", 501, false),
        ("61010", "invalid-argument", 400, false),
        ("61011", "invalid-argument", 400, false),
        ("61012", "invalid-argument", 400, false),
        ("61013", "unavailable", 503, true),
        ("61014", "unavailable", 503, true),
        ("61015", "vendor-internal", 502, true),
        ("61017", "vendor-internal", 502, false),
        ("61101", "invalid-argument", 400, false),
        ("61102", "unavailable", 503, true),
        ("61103", "unavailable", 503, true),
        ("20001", "vendor-internal", 502, false),
    ];
    for (code, kind, status, retryable) in cases {
        sim.fail_next(Fault::VendorError {
            code: code.to_string(),
            message: format!("simulated {code}"),
        });
        let a = call(&gw, "POST", "/v1/ingests", Some(start_body("r1"))).await;
        assert_eq!(a.status, status, "{code}: {}", a.text);
        assert_eq!(a.json["kind"], kind, "{code}: {}", a.text);
        assert_eq!(a.json["vendor_code"], code, "{}", a.text);
        assert_eq!(a.json["vendor_message"], format!("simulated {code}"));
        assert_eq!(a.json["retryable"], retryable, "{code}: {}", a.text);
        assert_eq!(a.json["provider"], "rc");
        assert!(
            a.json["vendor_request_id"].is_string(),
            "{code}: {}",
            a.text
        );
        assert_eq!(a.headers["content-type"], "application/problem+json");
    }
    assert!(
        sim.players().is_empty(),
        "no vendor error may start a player"
    );
}

#[tokio::test]
async fn wrong_secret_and_stale_time_get_http_401() {
    let sim = sim().await;
    let toml = provider(&sim.base_url(), &[]).replace(RONGCLOUD_APP_SECRET, "not-the-app-secret");
    let gw = gateway(&toml).await;
    let a = call(&gw, "POST", "/v1/ingests", Some(start_body("r1"))).await;
    assert_eq!(a.status, 502, "{}", a.text);
    assert_eq!(a.json["kind"], "unauthenticated");
    assert_eq!(a.json["vendor_code"], "401");
    assert_eq!(a.json["retryable"], false);
    assert_eq!(sim.request_count(), 1, "the request reached the simulator");

    let gw = gateway(&provider(&sim.base_url(), &[])).await;
    let body =
        ingest_gateway::StartBody::parse(start_body("r1").to_string().as_bytes()).expect("body");
    let options = ingest_gateway::CallOptions {
        now_ms: Some((unix_now() - 600) * 1000),
        ..Default::default()
    };
    let err = gw
        .start("rc", body.to_request(), options)
        .await
        .expect_err("stale");
    assert_eq!(err.kind, ingest_gateway::ErrorKind::Unauthenticated);
    assert_eq!(err.vendor_code.as_deref(), Some("401"));
    assert!(sim.players().is_empty());
}

#[tokio::test]
async fn invalid_input_is_refused_before_the_vendor() {
    let sim = sim().await;
    let gw = gateway(&provider(&sim.base_url(), &[])).await;
    let with = |key: &str, value: Value| {
        let mut b = start_body("r1");
        b[key] = value;
        b
    };
    let cases = [
        (with("stream_url", Value::Null), "stream_url"),
        (
            with("stream_url", json!("srt://media.example.com/x")),
            "stream_url",
        ),
        (with("room_id", json!("room 42")), "room_id"),
        (
            with("callback_url", json!("ftp://app.example.com/cb")),
            "callback_url",
        ),
        (
            with("options", json!({"room_type": "meeting"})),
            "options.room_type",
        ),
        (
            with("options", json!({"rtsp_transport": "quic"})),
            "options.rtsp_transport",
        ),
        // The start body's source is rtmp://: RongCloud reads rtsp_transport only for rtsp://.
        (
            with("options", json!({"rtsp_transport": "tcp"})),
            "options.rtsp_transport` applies only to an rtsp:// source",
        ),
    ];
    let mut failures = Failures::default();
    for (body, field) in cases {
        let a = call(&gw, "POST", "/v1/ingests", Some(body)).await;
        failures.expect_invalid(&a, field);
    }
    failures.assert_none();
    let a = call(
        &gw,
        "POST",
        "/v1/ingests",
        Some(with("direction", json!("push-out"))),
    )
    .await;
    assert_eq!(a.status, 501, "{}", a.text);
    assert_eq!(a.json["kind"], "unsupported");
    assert_eq!(
        sim.request_count(),
        0,
        "no invalid request may reach the vendor"
    );
}

#[tokio::test]
async fn transport_faults_without_a_backup() {
    let sim = sim().await;
    let toml = provider(&sim.base_url(), &[]).replace(
        "allow_private = true\n",
        "allow_private = true\n[providers.egress]\nrequest_timeout_ms = 300\n",
    );
    let gw = gateway(&toml).await;
    for (fault, kind) in [
        (Fault::Status(503), "unavailable"),
        (Fault::DropConnection, "unavailable"),
        (Fault::MalformedBody, "vendor-internal"),
        (
            Fault::Delay(std::time::Duration::from_millis(1500)),
            "timeout",
        ),
    ] {
        let before = sim.request_count();
        sim.fail_next(fault.clone());
        let a = call(&gw, "POST", "/v1/ingests", Some(start_body("r1"))).await;
        assert_eq!(a.json["kind"], kind, "{fault:?}: {}", a.text);
        assert_eq!(sim.request_count(), before + 1, "one host, no fail-over");
    }
}

#[tokio::test]
async fn fails_over_to_the_backup_endpoint() {
    let primary = sim().await;
    let backup = sim().await;
    let backup_url = format!("\"{}\"", backup.base_url());
    let gw = gateway(&provider(
        &primary.base_url(),
        &[("backup_endpoint", backup_url.as_str())],
    ))
    .await;

    // The primary answers 5xx: the backup serves the start.
    primary.fail_next(Fault::Status(503));
    let a = call(&gw, "POST", "/v1/ingests", Some(start_body("r1"))).await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!((primary.request_count(), backup.request_count()), (1, 1));
    assert_eq!(backup.playing().len(), 1);
    // Each attempt is signed on its own, with its own nonce.
    let (p, b) = (&primary.requests()[0], &backup.requests()[0]);
    assert_ne!(p.header("nonce"), b.header("nonce"));
    assert_eq!(p.body, b.body);

    // The primary drops the connection: fail over again.
    primary.fail_next(Fault::DropConnection);
    let a = call(&gw, "POST", "/v1/ingests", Some(start_body("r2"))).await;
    assert_eq!(a.status, 201, "{}", a.text);

    // A vendor error is an answer, not an outage: no fail-over.
    primary.fail_next(Fault::VendorError {
        code: "61012".into(),
        message: "bad field".into(),
    });
    let a = call(&gw, "POST", "/v1/ingests", Some(start_body("r3"))).await;
    assert_eq!(a.json["kind"], "invalid-argument", "{}", a.text);
    assert_eq!(backup.request_count(), 2);

    // Both down: the backup's answer is reported.
    primary.fail_next(Fault::Status(502));
    backup.fail_next(Fault::Status(503));
    let a = call(&gw, "POST", "/v1/ingests", Some(start_body("r4"))).await;
    assert_eq!(a.status, 503, "{}", a.text);
    assert_eq!(a.json["kind"], "unavailable");
    assert_eq!(backup.request_count(), 3);
}

#[tokio::test]
async fn fails_over_when_the_primary_port_is_closed() {
    let backup = sim().await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let backup_url = format!("\"{}\"", backup.base_url());
    let gw = gateway(&provider(
        &format!("http://{closed}"),
        &[("backup_endpoint", backup_url.as_str())],
    ))
    .await;
    let started = call(&gw, "POST", "/v1/ingests", Some(start_body("r1"))).await;
    assert_eq!(started.status, 201, "{}", started.text);
    let id = started.json["id"].as_str().expect("id").to_string();
    let stopped = call(&gw, "DELETE", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(stopped.status, 200, "{}", stopped.text);
    assert_eq!(backup.request_count(), 2);
    assert_eq!(backup.players()[0].state, PlayerState::Stopped);
}

/// Posts a callback with its own headers to the gateway core.
async fn post_callback(
    gw: &ingest_gateway::Gateway,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Answer {
    post_callback_to(gw, "/v1/callbacks/rc", headers, body).await
}

/// Posts a callback to `uri` (the callback path, with a query string when the callback is
/// query-signed: the gateway hands the plugin everything after the `?`).
async fn post_callback_to(
    gw: &ingest_gateway::Gateway,
    uri: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Answer {
    call_with(gw, "POST", uri, &header_refs(headers), Bytes::from(body)).await
}

fn event(room: &str, kind: u8, code: i64) -> CallbackEvent {
    CallbackEvent {
        room_id: room.to_string(),
        user_id: "relay-bot".to_string(),
        kind,
        code,
        rtmp_url: "rtmp://media.example.com/live/source".to_string(),
        video_resolution: Some("1920X1080".to_string()),
    }
}

#[tokio::test]
async fn signed_callbacks_become_events_on_the_same_handle() {
    let sim = sim().await;
    let gw = gateway(&provider(&sim.base_url(), &[])).await;
    let started = call(&gw, "POST", "/v1/ingests", Some(start_body("room-7"))).await;
    let id = started.json["id"].as_str().expect("id").to_string();

    let cb = sim.signed_callback(&event("room-7", 5, 61017));
    let a = post_callback(&gw, &cb.headers, cb.body.clone()).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json["provider"], "rc");
    assert_eq!(
        a.json["id"],
        id.as_str(),
        "the callback names the started ingest"
    );
    assert_eq!(a.json["event"]["state"], "running");
    assert_eq!(a.json["event"]["vendor_event"], "type=5 code=61017");
    assert!(a.json["event"]["occurred_at_ms"].is_u64(), "{}", a.text);
    assert!(
        a.json["event"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("1920X1080")),
        "{}",
        a.text
    );

    for (kind, code, state) in [
        (1, 10000, "starting"),
        (4, 61102, "starting"),
        (3, 61101, "failed"),
        (2, 10000, "stopped"),
    ] {
        let cb = sim.signed_callback(&event("room-7", kind, code));
        let a = post_callback(&gw, &cb.headers, cb.body).await;
        assert_eq!(a.json["event"]["state"], state, "{kind}/{code}: {}", a.text);
    }

    // RC-prefixed header names verify too.
    let cb = sim.signed_callback(&event("room-7", 5, 10000));
    let renamed: Vec<(String, String)> = cb
        .headers
        .iter()
        .map(|(k, v)| {
            let k = match k.as_str() {
                "appKey" => "RC-App-Key".to_string(),
                "nonce" | "timestamp" | "signature" => format!("RC-{k}"),
                other => other.to_string(),
            };
            (k, v.clone())
        })
        .collect();
    let a = post_callback(&gw, &renamed, cb.body).await;
    assert_eq!(a.status, 200, "{}", a.text);

    // The handle from the callback stops the ingest.
    let stopped = call(&gw, "DELETE", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(stopped.status, 200, "{}", stopped.text);
}

#[tokio::test]
async fn tampered_unsigned_or_stale_callbacks_are_unauthenticated() {
    let sim = sim().await;
    let gw = gateway(&provider(&sim.base_url(), &[])).await;
    let good = sim.signed_callback(&event("room-7", 5, 61017));
    let set = |cb: &SimCallback, name: &str, value: &str| -> Vec<(String, String)> {
        cb.headers
            .iter()
            .map(|(k, v)| {
                if k.eq_ignore_ascii_case(name) {
                    (k.clone(), value.to_string())
                } else {
                    (k.clone(), v.clone())
                }
            })
            .collect()
    };
    let unsigned: Vec<(String, String)> = vec![("content-type".into(), "application/json".into())];
    let stale = sim.callback_at(
        &event("room-7", 5, 61017),
        (unix_now() - 3600) * 1000,
        "old",
    );
    let cases = [
        (set(&good, "nonce", "another-nonce"), "a changed nonce"),
        (
            set(&good, "signature", &"0".repeat(40)),
            "a forged signature",
        ),
        (set(&good, "appKey", "someone-elses-app"), "another App Key"),
        (unsigned, "no signature headers"),
        (stale.headers.clone(), "an hour-old timestamp"),
    ];
    for (headers, why) in cases {
        let a = post_callback(&gw, &headers, good.body.clone()).await;
        // The caller (not a vendor) failed authentication: 401.
        assert_eq!(a.status, 401, "{why}: {}", a.text);
        assert_eq!(a.json["kind"], "unauthenticated", "{why}: {}", a.text);
    }
    // A good signature still needs a body RongCloud would send.
    let a = post_callback(&gw, &good.headers, b"not json".to_vec()).await;
    assert_eq!(a.json["kind"], "invalid-argument", "{}", a.text);

    // With verification turned off, an unsigned callback is accepted.
    let gw = gateway(&provider(&sim.base_url(), &[("verify_callbacks", "false")])).await;
    let a = post_callback(
        &gw,
        &[("content-type".into(), "application/json".into())],
        good.body,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(sim.request_count(), 0, "callbacks never call the vendor");
}

/// `query` with parameter `name`'s value replaced by `value` (already encoded), or the
/// parameter removed when `value` is `None`.
fn set_param(query: &str, name: &str, value: Option<&str>) -> String {
    query
        .split('&')
        .filter_map(|pair| match pair.split_once('=') {
            Some((k, _)) if k == name => value.map(|v| format!("{k}={v}")),
            _ => Some(pair.to_string()),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[tokio::test]
async fn query_signed_callbacks_become_events_on_the_same_handle() {
    let sim = sim().await;
    let gw = gateway(&provider(&sim.base_url(), &[])).await;
    let started = call(&gw, "POST", "/v1/ingests", Some(start_body("room-7"))).await;
    assert_eq!(started.status, 201, "{}", started.text);
    let id = started.json["id"].as_str().expect("id").to_string();

    // RongCloud's IM-callback form: appKey, nonce, signTimestamp, signature in the URL's query,
    // no signature headers.
    let cb = sim.query_signed_callback(&event("room-7", 5, 61017));
    assert!(
        cb.query.contains("&signTimestamp=") && cb.query.contains("&signature="),
        "{}",
        cb.query
    );
    assert!(
        !cb.headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("signature")),
        "query-signed: no signature header"
    );
    let a = post_callback_to(
        &gw,
        &cb.url("/v1/callbacks/rc"),
        &cb.headers,
        cb.body.clone(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json["provider"], "rc");
    assert_eq!(
        a.json["id"],
        id.as_str(),
        "the callback names the started ingest"
    );
    assert_eq!(a.json["event"]["state"], "running");
    assert_eq!(a.json["event"]["vendor_event"], "type=5 code=61017");

    // A nonce that needs percent-encoding: signed over the decoded text, verified so.
    let cb = sim.query_callback_at(&event("room-7", 1, 10000), unix_now() * 1000, "n 1/é+&=");
    assert!(
        cb.query.contains("nonce=n%201%2F%C3%A9%2B%26%3D&"),
        "{}",
        cb.query
    );
    let a = post_callback_to(&gw, &cb.url("/v1/callbacks/rc"), &cb.headers, cb.body).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json["event"]["state"], "starting");

    // A query built here with this file's own signer (seconds, like the header form allows).
    let ts = unix_now().to_string();
    let query = format!(
        "appKey={APP_KEY}&nonce=own&signTimestamp={ts}&signature={}",
        signature("own", &ts)
    );
    let body = sim.query_signed_callback(&event("room-7", 2, 10000)).body;
    let a = post_callback_to(
        &gw,
        &format!("/v1/callbacks/rc?{query}"),
        &[("content-type".into(), "application/json".into())],
        body,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json["event"]["state"], "stopped");

    // Both forms present: the headers decide, the query is not consulted.
    let header_signed = sim.signed_callback(&event("room-7", 5, 10000));
    let forged_query = set_param(
        &sim.query_signed_callback(&event("room-7", 5, 10000)).query,
        "signature",
        Some(&"0".repeat(40)),
    );
    let a = post_callback_to(
        &gw,
        &format!("/v1/callbacks/rc?{forged_query}"),
        &header_signed.headers,
        header_signed.body.clone(),
    )
    .await;
    assert_eq!(a.status, 200, "good headers, forged query: {}", a.text);
    let forged_headers: Vec<(String, String)> = header_signed
        .headers
        .iter()
        .map(|(k, v)| {
            if k == "signature" {
                (k.clone(), "0".repeat(40))
            } else {
                (k.clone(), v.clone())
            }
        })
        .collect();
    let good_query = sim.query_signed_callback(&event("room-7", 5, 10000));
    let a = post_callback_to(
        &gw,
        &good_query.url("/v1/callbacks/rc"),
        &forged_headers,
        header_signed.body,
    )
    .await;
    assert_eq!(a.status, 401, "forged headers, good query: {}", a.text);

    let stopped = call(&gw, "DELETE", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(stopped.status, 200, "{}", stopped.text);
}

#[tokio::test]
async fn tampered_or_stale_query_signatures_are_unauthenticated() {
    let sim = sim().await;
    let gw = gateway(&provider(&sim.base_url(), &[])).await;
    let good = sim.query_signed_callback(&event("room-7", 5, 61017));
    let stale = sim.query_callback_at(
        &event("room-7", 5, 61017),
        (unix_now() - 3600) * 1000,
        "old",
    );
    let cases = [
        (
            set_param(&good.query, "nonce", Some("another-nonce")),
            "a changed nonce",
        ),
        (
            set_param(&good.query, "signature", Some(&"0".repeat(40))),
            "a forged signature",
        ),
        (
            set_param(&good.query, "appKey", Some("someone-elses-app")),
            "another App Key",
        ),
        (stale.query.clone(), "an hour-old signTimestamp"),
        (set_param(&good.query, "signature", None), "no signature"),
        (set_param(&good.query, "nonce", None), "no nonce"),
        (
            set_param(&good.query, "signTimestamp", None),
            "no signTimestamp",
        ),
        (
            good.query.replace("signTimestamp=", "timestamp="),
            "the header's name instead of signTimestamp",
        ),
    ];
    for (query, why) in cases {
        assert_ne!(query, good.query, "{why}: the case changes the query");
        let a = post_callback_to(
            &gw,
            &format!("/v1/callbacks/rc?{query}"),
            &good.headers,
            good.body.clone(),
        )
        .await;
        assert_eq!(a.status, 401, "{why}: {}", a.text);
        assert_eq!(a.json["kind"], "unauthenticated", "{why}: {}", a.text);
    }
    // The untouched one still verifies (so the cases above failed for their change alone).
    let a = post_callback_to(
        &gw,
        &good.url("/v1/callbacks/rc"),
        &good.headers,
        good.body.clone(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);

    // With verification turned off, a forged query signature is not checked.
    let gw = gateway(&provider(&sim.base_url(), &[("verify_callbacks", "false")])).await;
    let forged = set_param(&good.query, "signature", Some(&"0".repeat(40)));
    let a = post_callback_to(
        &gw,
        &format!("/v1/callbacks/rc?{forged}"),
        &good.headers,
        good.body,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(sim.request_count(), 0, "callbacks never call the vendor");
}

fn header_of(req: &Value, name: &str) -> Option<String> {
    let headers: Vec<(String, String)> =
        serde_json::from_value(req["headers"].clone()).expect("headers");
    headers
        .into_iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

#[test]
fn dry_run_is_byte_identical_and_signed_as_documented() {
    let dir = temp_dir("rongcloud-dry-run");
    let config = dir.join("gateway.toml");
    std::fs::write(&config, provider("http://127.0.0.1:9102", &[])).expect("config");
    let input = dir.join("start.json");
    let mut body = start_body("42");
    body.as_object_mut().expect("object").remove("provider");
    std::fs::write(&input, body.to_string()).expect("input");
    let respond = dir.join("respond.json");
    std::fs::write(
        &respond,
        r#"{"status": 200, "headers": [["content-type", "application/json"]], "body": "{\"code\":10000}"}"#,
    )
    .expect("respond");
    let config_s = config.to_str().expect("utf8");
    let input_s = input.to_str().expect("utf8");
    let respond_s = respond.to_str().expect("utf8");
    let args = [
        "call",
        "--config",
        config_s,
        "--provider",
        "rc",
        "start",
        "--input",
        input_s,
        "--now",
        "1700000000",
        "--nonce",
        "n0nce",
        "--dry-run",
        "--respond",
        respond_s,
    ];
    let run = dry_run_twice(&args);
    assert!(run.ok, "{}", run.stderr);
    let first = run.out;

    let out: Value = serde_json::from_str(&first).expect("json");
    let requests = out["requests"].as_array().expect("requests");
    assert_eq!(requests.len(), 1, "a success needs no fail-over");
    let req = &requests[0];
    assert_eq!(req["method"], "POST");
    assert_eq!(req["url"], "http://127.0.0.1:9102/v2/rtc/cloudplayer/start");
    let h = |n: &str| header_of(req, n).unwrap_or_else(|| panic!("header {n}"));
    assert_eq!(h("app-key"), APP_KEY);
    assert_eq!(h("nonce"), "n0nce");
    assert_eq!(h("timestamp"), "1700000000");
    assert_eq!(h("signature"), signature("n0nce", "1700000000"));
    assert_eq!(h("room-id"), "42");
    assert_eq!(h("content-type"), "application/json");
    assert_eq!(h("x-request-id"), "call-n0nce");
    assert_eq!(
        req["body"],
        r#"{"user_id":"relay-bot","user_name":"Relay Bot","media_type":1,"room_type":2,"rtmp_url":"rtmp://media.example.com/live/source","callback_url":"https://app.example.com/rc-callbacks"}"#
    );
    assert_eq!(
        out["result"]["ok"]["session_ref"],
        r#"{"room_id":"42","user_id":"relay-bot"}"#
    );
    assert_eq!(out["result"]["ok"]["vendor_request_id"], "call-n0nce");

    // Another time changes the timestamp and the signature, nothing else.
    let mut later = args;
    later[9] = "1700000001";
    let (third, _, _) = run_cli(&later);
    let out3: Value = serde_json::from_str(&third).expect("json");
    assert_eq!(
        header_of(&out3["requests"][0], "signature"),
        Some(signature("n0nce", "1700000001"))
    );
    assert_eq!(out3["requests"][0]["body"], req["body"]);

    // Status: the plugin explains that RongCloud reports state by callback.
    let status_input = dir.join("status.json");
    std::fs::write(
        &status_input,
        r#"{"session_ref":"{\"room_id\":\"42\",\"user_id\":\"relay-bot\"}"}"#,
    )
    .expect("status input");
    let (out, stderr, _) = run_cli(&[
        "call",
        "--config",
        config_s,
        "--provider",
        "rc",
        "status",
        "--input",
        status_input.to_str().expect("utf8"),
        "--now",
        "1700000000",
        "--nonce",
        "n0nce",
        "--dry-run",
    ]);
    let out: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{stderr}"));
    assert_eq!(out["result"]["error"]["kind"], "unsupported", "{out}");
    assert!(
        out["result"]["error"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("callback")),
        "{out}"
    );
    assert_eq!(out["requests"].as_array().map(Vec::len), Some(0));
}

#[test]
fn dry_run_without_an_answer_shows_the_fail_over() {
    let dir = temp_dir("rongcloud-dry-run-failover");
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        provider(
            "http://127.0.0.1:9102",
            &[("backup_endpoint", "\"http://127.0.0.1:9112\"")],
        ),
    )
    .expect("config");
    let input = dir.join("stop.json");
    std::fs::write(
        &input,
        r#"{"session_ref":"{\"room_id\":\"42\",\"user_id\":\"relay-bot\"}"}"#,
    )
    .expect("input");
    let args = dry_run_args(&config, "rc", "stop", &input, None);
    let run = dry_run_twice(&args);
    let out: Value = serde_json::from_str(&run.out).unwrap_or_else(|_| panic!("{}", run.stderr));
    let requests = out["requests"].as_array().expect("requests");
    assert_eq!(requests.len(), 2, "primary, then backup: {out}");
    assert_eq!(
        requests[0]["url"],
        "http://127.0.0.1:9102/v2/rtc/cloudplayer/stop"
    );
    assert_eq!(
        requests[1]["url"],
        "http://127.0.0.1:9112/v2/rtc/cloudplayer/stop"
    );
    assert_eq!(header_of(&requests[0], "nonce").as_deref(), Some("n0nce"));
    assert_eq!(header_of(&requests[1], "nonce").as_deref(), Some("n0nce-2"));
    assert_eq!(
        header_of(&requests[1], "signature"),
        Some(signature("n0nce-2", "1700000000"))
    );
    assert_eq!(requests[1]["body"], r#"{"user_id":"relay-bot"}"#);
    assert_eq!(out["result"]["error"]["kind"], "unavailable", "{out}");
}
