//! ZEGO end to end: gateway → zego-dispatch / zego-cloud-player components → the ZEGO
//! simulator (one server for both APIs).

use std::collections::BTreeMap;

use ingest_sim::server::Fault;
use ingest_sim::zego::{CallbackShape, ZegoSim, ZegoSimConfig};
use md5::{Digest, Md5};
use sha2::Sha256;

use crate::support::*;

const APP_ID: u32 = 1_234_567_890;

fn dispatch_provider(id: &str, endpoint: &str, config: &[(&str, &str)]) -> String {
    let app = APP_ID.to_string();
    let mut all = vec![("app_id", app.as_str())];
    all.extend_from_slice(config);
    provider_toml(
        id,
        "zego-dispatch",
        endpoint,
        "",
        &all,
        &[("server_secret", ZEGO_SERVER_SECRET)],
    )
}

fn player_provider(id: &str, endpoint: &str, extra: &str, with_callback_secret: bool) -> String {
    let app = APP_ID.to_string();
    let mut secrets = vec![("server_secret", ZEGO_SERVER_SECRET)];
    if with_callback_secret {
        secrets.push(("callback_secret", ZEGO_CALLBACK_SECRET));
    }
    provider_toml(
        id,
        "zego-cloud-player",
        endpoint,
        extra,
        &[("app_id", app.as_str())],
        &secrets,
    )
}

async fn sim() -> ZegoSim {
    ZegoSim::start(ZegoSimConfig {
        app_id: APP_ID,
        server_secret: ZEGO_SERVER_SECRET.to_string(),
        callback_secret: ZEGO_CALLBACK_SECRET.to_string(),
        max_skew_secs: 600,
        initial_player_status: 1,
    })
    .await
    .expect("simulator starts")
}

fn dispatch_body(provider: &str, direction: &str, options: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "provider": provider,
        "direction": direction,
        "room_id": "room-1",
        "user_id": "encoder",
        "options": options,
    })
}

fn pull_in_body(provider: &str) -> serde_json::Value {
    serde_json::json!({
        "provider": provider,
        "direction": "pull-in",
        "room_id": "room-1",
        "user_id": "relay",
        "display_name": "Background music",
        "stream_url": "https://media.example.com/live/source.m3u8",
        "options": { "stream_id": "bgm_1" },
    })
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn query_params(path_and_query: &str) -> BTreeMap<String, String> {
    let query = path_and_query.split_once('?').map_or("", |(_, q)| q);
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// ZEGO's signature, recomputed independently.
fn zego_signature(nonce: &str, timestamp: &str) -> String {
    hex::encode(Md5::digest(
        format!("{APP_ID}{nonce}{ZEGO_SERVER_SECRET}{timestamp}").as_bytes(),
    ))
}

fn assert_signed(path_and_query: &str) {
    let q = query_params(path_and_query);
    assert_eq!(q["AppId"], APP_ID.to_string());
    assert_eq!(q["SignatureVersion"], "2.0");
    let nonce = &q["SignatureNonce"];
    assert_eq!(nonce.len(), 16);
    assert!(nonce.bytes().all(|b| b.is_ascii_hexdigit()), "{nonce}");
    assert_eq!(q["Signature"], zego_signature(nonce, &q["Timestamp"]));
}

// ---------------------------------------------------------------- RTMP dispatch

#[tokio::test]
async fn dispatch_issues_publish_and_play_nodes() {
    let sim = sim().await;
    let gw = gateway(&dispatch_provider("zd", &sim.base_url(), &[])).await;

    let before = now_secs();
    let push = dispatch_body(
        "zd",
        "push-in",
        serde_json::json!({"stream_id": "cam_1", "client_ip": "198.51.100.7"}),
    );
    let started = call(&gw, "POST", "/v1/ingests", Some(push)).await;
    assert_eq!(started.status, 201, "{}", started.text);
    let session = &started.json["session"];
    assert_eq!(session["issued_urls"][0]["purpose"], "publish");
    assert_eq!(
        session["issued_urls"][0]["url"],
        format!("rtmp://203.0.113.10:1935/{APP_ID}/cam_1")
    );
    let expires_at = session["expires_at"].as_u64().expect("expires_at");
    assert!((before + 7200..=now_secs() + 7200).contains(&expires_at));
    assert!(session["vendor_request_id"].is_string());
    let dispatched = sim.dispatches();
    assert_eq!(dispatched[0].kind, "push");
    assert_eq!(
        dispatched[0].client_ip.map(|ip| ip.to_string()).as_deref(),
        Some("198.51.100.7")
    );
    assert_eq!(dispatched[0].is_test, None);
    let sequence = u64::try_from(dispatched[0].sequence).expect("positive");
    assert!(
        (before * 1000..=now_secs() * 1000 + 999).contains(&sequence),
        "ms timestamp"
    );
    let recorded = &sim.requests()[0];
    assert_eq!(recorded.method, "GET");
    assert_signed(&recorded.path_and_query);
    let id = started.json["id"].as_str().expect("id").to_string();

    let pull = dispatch_body("zd", "pull-out", serde_json::json!({"stream_id": "cam_1"}));
    let started = call(&gw, "POST", "/v1/ingests", Some(pull)).await;
    assert_eq!(started.status, 201, "{}", started.text);
    assert_eq!(started.json["session"]["issued_urls"][0]["purpose"], "play");
    assert_eq!(sim.dispatches()[1].kind, "pull");
    // Every request had its own nonce.
    let nonces: Vec<String> = sim
        .requests()
        .iter()
        .map(|r| query_params(&r.path_and_query)["SignatureNonce"].clone())
        .collect();
    assert_ne!(nonces[0], nonces[1]);

    // Neither stop nor status exists for a dispatched node.
    let count = sim.request_count();
    for method in ["GET", "DELETE"] {
        let a = call(&gw, method, &format!("/v1/ingests/{id}"), None).await;
        assert_eq!(a.status, 501, "{method}: {}", a.text);
        assert_eq!(a.json["kind"], "unsupported");
    }
    assert_eq!(sim.request_count(), count);
    assert_no_secrets("the log", "");
}

#[tokio::test]
async fn dispatch_test_environment_needs_the_prefix() {
    let sim = sim().await;
    let gw = gateway(&dispatch_provider(
        "zd",
        &sim.base_url(),
        &[("is_test", "true")],
    ))
    .await;
    let a = call(
        &gw,
        "POST",
        "/v1/ingests",
        Some(dispatch_body(
            "zd",
            "push-in",
            serde_json::json!({"stream_id": "cam"}),
        )),
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert!(
        a.json["detail"]
            .as_str()
            .is_some_and(|d| d.contains("zegotest-1234567890-"))
    );
    assert_eq!(sim.request_count(), 0);

    let ok = dispatch_body(
        "zd",
        "push-in",
        serde_json::json!({"stream_id": "zegotest-1234567890-cam"}),
    );
    let a = call(&gw, "POST", "/v1/ingests", Some(ok)).await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(sim.dispatches()[0].is_test, Some(true));
    assert_eq!(
        query_params(&sim.requests()[0].path_and_query)["IsTest"],
        "true"
    );
}

#[tokio::test]
async fn dispatch_vendor_codes_map_to_normalized_kinds() {
    let sim = sim().await;
    let gw = gateway(&dispatch_provider("zd", &sim.base_url(), &[])).await;
    let cases = [
        ("1010", "rate-limited", 429, true),
        ("30002", "rate-limited", 429, true),
        ("1001", "unavailable", 503, true),
        ("1002", "unavailable", 503, true),
        ("1003", "unavailable", 503, true),
        ("1005", "failed-precondition", 409, false),
        ("1006", "invalid-argument", 400, false),
        ("30003", "vendor-internal", 502, true),
        ("30004", "invalid-argument", 400, false),
        ("30005", "unauthenticated", 502, false),
        ("30009", "invalid-argument", 400, false),
        ("30010", "invalid-argument", 400, false),
        ("30011", "invalid-argument", 400, false),
        ("100000004", "unauthenticated", 502, false),
        ("100000005", "unauthenticated", 502, false),
        ("424242", "vendor-internal", 502, false),
    ];
    for (code, kind, status, retryable) in cases {
        sim.fail_next(Fault::VendorError {
            code: code.to_string(),
            message: format!("simulated {code}"),
        });
        let body = dispatch_body("zd", "push-in", serde_json::json!({"stream_id": "s"}));
        let a = call(&gw, "POST", "/v1/ingests", Some(body)).await;
        assert_eq!(a.status, status, "{code}: {}", a.text);
        assert_eq!(a.json["kind"], kind, "{code}: {}", a.text);
        assert_eq!(a.json["vendor_code"], code);
        assert_eq!(a.json["vendor_message"], format!("simulated {code}"));
        assert_eq!(a.json["retryable"], retryable, "{code}");
        assert!(
            a.json["vendor_request_id"].is_string(),
            "{code}: {}",
            a.text
        );
    }
    assert!(sim.dispatches().is_empty());
}

#[tokio::test]
async fn wrong_secret_and_stale_clock_are_rejected_by_the_simulator() {
    let sim = sim().await;
    let toml = dispatch_provider("zd", &sim.base_url(), &[])
        .replace(ZEGO_SERVER_SECRET, "not-the-zego-server-secret");
    let gw = gateway(&toml).await;
    let body = dispatch_body("zd", "push-in", serde_json::json!({"stream_id": "s"}));
    let a = call(&gw, "POST", "/v1/ingests", Some(body.clone())).await;
    assert_eq!(a.status, 502, "{}", a.text);
    assert_eq!(a.json["kind"], "unauthenticated");
    assert_eq!(a.json["vendor_code"], "100000005");

    let gw = gateway(&dispatch_provider("zd", &sim.base_url(), &[])).await;
    let start = ingest_gateway::StartBody::parse(body.to_string().as_bytes()).expect("body");
    let stale = ingest_gateway::CallOptions {
        now_ms: Some((now_secs() - 15 * 60) * 1000),
        ..Default::default()
    };
    let err = gw
        .start("zd", start.to_request(), stale)
        .await
        .expect_err("stale");
    assert_eq!(err.kind, ingest_gateway::ErrorKind::Unauthenticated);
    assert_eq!(err.vendor_code.as_deref(), Some("100000004"));
    assert_eq!(sim.request_count(), 2);
    assert!(sim.dispatches().is_empty());
}

#[tokio::test]
async fn dispatch_input_is_checked_before_the_vendor() {
    let sim = sim().await;
    let gw = gateway(&dispatch_provider("zd", &sim.base_url(), &[])).await;
    let cases = [
        (
            dispatch_body("zd", "push-in", serde_json::json!({})),
            "options.stream_id",
        ),
        (
            dispatch_body("zd", "push-in", serde_json::json!({"stream_id": "a.b"})),
            "options.stream_id",
        ),
        (
            dispatch_body(
                "zd",
                "pull-out",
                serde_json::json!({"stream_id": "s", "client_ip": "2001:db8::1"}),
            ),
            "options.client_ip",
        ),
        (
            {
                let mut b = dispatch_body("zd", "push-in", serde_json::json!({"stream_id": "s"}));
                b["stream_url"] = "rtmp://x.example/live/s".into();
                b
            },
            "stream_url",
        ),
        (
            {
                let mut b = dispatch_body("zd", "push-in", serde_json::json!({"stream_id": "s"}));
                b["expires_in_secs"] = 7201.into();
                b
            },
            "expires_in_secs",
        ),
    ];
    for (body, field) in cases {
        let a = call(&gw, "POST", "/v1/ingests", Some(body)).await;
        assert_refused(&a, 400, &format!("`{field}`"));
    }
    let mut pull_in = dispatch_body("zd", "pull-in", serde_json::json!({"stream_id": "s"}));
    pull_in["stream_url"] = "rtmp://x.example/live/s".into();
    let a = call(&gw, "POST", "/v1/ingests", Some(pull_in)).await;
    assert_eq!(
        (a.status, a.json["kind"].as_str()),
        (501, Some("unsupported"))
    );
    assert_eq!(sim.request_count(), 0);
}

#[tokio::test]
async fn transport_faults() {
    let sim = sim().await;
    let toml = dispatch_provider("zd", &sim.base_url(), &[]).replace(
        "allow_private = true",
        "allow_private = true\n[providers.egress]\nrequest_timeout_ms = 300",
    );
    let gw = gateway(&toml).await;
    for (fault, kind) in [
        (Fault::Status(503), "unavailable"),
        (Fault::Status(429), "rate-limited"),
        (Fault::DropConnection, "unavailable"),
        (Fault::MalformedBody, "vendor-internal"),
        (
            Fault::Delay(std::time::Duration::from_millis(1500)),
            "timeout",
        ),
    ] {
        sim.fail_next(fault.clone());
        let body = dispatch_body("zd", "push-in", serde_json::json!({"stream_id": "s"}));
        let a = call(&gw, "POST", "/v1/ingests", Some(body)).await;
        assert_eq!(a.json["kind"], kind, "{fault:?}: {}", a.text);
    }
}

// ---------------------------------------------------------------- Cloud Player

#[tokio::test]
async fn cloud_player_start_status_stop() {
    let sim = sim().await;
    let gw = gateway(&player_provider("zp", &sim.base_url(), "", true)).await;

    let started = call(&gw, "POST", "/v1/ingests", Some(pull_in_body("zp"))).await;
    assert_eq!(started.status, 201, "{}", started.text);
    let players = sim.players();
    assert_eq!(players.len(), 1);
    let player = &players[0];
    assert_eq!(
        started.json["session"]["vendor_task_id"],
        player.player_id.as_str()
    );
    assert_eq!(player.room_id, "room-1");
    assert_eq!(player.stream_id, "bgm_1");
    assert_eq!(player.player_name.as_deref(), Some("Background music"));
    assert_eq!(
        player.stream_url,
        "https://media.example.com/live/source.m3u8"
    );
    let recorded = &sim.requests()[0];
    assert_eq!(recorded.method, "POST");
    assert_eq!(
        query_params(&recorded.path_and_query)["Action"],
        "CreatePlayer"
    );
    assert_signed(&recorded.path_and_query);
    let id = started.json["id"].as_str().expect("id").to_string();

    let status = call(&gw, "GET", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(status.status, 200, "{}", status.text);
    assert_eq!(status.json["state"], "starting");
    assert_eq!(status.json["vendor_state"], "1");

    for (vendor, state) in [
        (4, "running"),
        (5, "running"),
        (6, "failed"),
        (7, "stopped"),
    ] {
        assert!(sim.set_player_status(&player.player_id, vendor));
        let status = call(&gw, "GET", &format!("/v1/ingests/{id}"), None).await;
        assert_eq!(status.json["state"], state, "{vendor}: {}", status.text);
    }
    assert!(sim.set_player_status(&player.player_id, 4));

    let stopped = call(&gw, "DELETE", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(stopped.status, 200, "{}", stopped.text);
    assert!(stopped.json["vendor_request_id"].is_string());
    let status = call(&gw, "GET", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(status.json["state"], "stopped", "{}", status.text);
    assert_eq!(status.json["vendor_state"], "8");
    assert!(
        status.json["detail"]
            .as_str()
            .is_some_and(|d| d.contains("DeletePlayer"))
    );

    // Deleting twice: ZEGO refuses with its invalid-parameter code.
    let again = call(&gw, "DELETE", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(again.status, 400, "{}", again.text);
    assert_eq!(again.json["vendor_code"], "350006003");
    assert_no_secrets("the log", "");
}

#[tokio::test]
async fn cloud_player_callbacks_are_verified() {
    let sim = sim().await;
    let gw = gateway(&player_provider("zp", &sim.base_url(), "", true)).await;
    let started = call(&gw, "POST", "/v1/ingests", Some(pull_in_body("zp"))).await;
    let player_id = sim.players()[0].player_id.clone();
    assert!(sim.set_player_status(&player_id, 4));

    let cb = sim.callback(&player_id, 3).expect("callback");
    let a = call(&gw, "POST", "/v1/callbacks/zp", Some(cb.json.clone())).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json["event"]["state"], "running", "{}", a.text);
    assert_eq!(a.json["event"]["vendor_event"], "3");
    assert_eq!(a.json["event"]["vendor_task_id"], player_id.as_str());
    assert!(a.json["event"]["occurred_at_ms"].is_u64());
    // The callback's handle opens the same ingest as start's.
    let cb_id = a.json["id"].as_str().expect("handle");
    let status = call(&gw, "GET", &format!("/v1/ingests/{cb_id}"), None).await;
    assert_eq!(status.json["state"], "running", "{}", status.text);
    assert_eq!(
        started.json["session"]["vendor_task_id"],
        player_id.as_str()
    );

    let destroyed = {
        assert!(sim.set_player_status(&player_id, 8));
        sim.callback(&player_id, 2).expect("callback")
    };
    let a = call(&gw, "POST", "/v1/callbacks/zp", Some(destroyed.json)).await;
    assert_eq!(a.json["event"]["state"], "stopped", "{}", a.text);

    // Tampering with a signed field, a forged signature, another project: refused.
    let mut tampered = cb.json.clone();
    let ts: u64 = tampered["Timestamp"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("Timestamp, a string as published");
    tampered["Timestamp"] = (ts + 1).to_string().into();
    let mut forged = cb.json.clone();
    let sig = forged["Signature"].as_str().expect("sig").to_string();
    let flipped = if sig.starts_with('0') { "1" } else { "0" };
    forged["Signature"] = format!("{flipped}{}", &sig[1..]).into();
    let mut other_app = cb.json.clone();
    other_app["AppID"] = 42.into();
    let mut unsigned = cb.json.clone();
    unsigned
        .as_object_mut()
        .expect("object")
        .remove("Signature");
    for body in [tampered, forged, other_app, unsigned] {
        let a = call(&gw, "POST", "/v1/callbacks/zp", Some(body.clone())).await;
        assert_eq!(a.json["kind"], "unauthenticated", "{body}: {}", a.text);
        assert!(a.status >= 400);
    }
    let a = call(
        &gw,
        "POST",
        "/v1/callbacks/zp",
        Some(serde_json::json!([1])),
    )
    .await;
    assert_eq!(a.json["kind"], "invalid-argument", "{}", a.text);

    // Without a callback secret, the plugin says what is missing.
    let gw = gateway(&player_provider("zp", &sim.base_url(), "", false)).await;
    let a = call(&gw, "POST", "/v1/callbacks/zp", Some(cb.json)).await;
    assert_refused(&a, 501, "callback_secret");
}

/// Callbacks as `Callback/callback.mdx` publishes them (`Detail` a JSON object, `Timestamp`
/// a string): a creation's `Detail` carries the source URL, which never reaches the event; an
/// exception (EventType 4) is `unknown`, not `failed`. The older URL-encoded shape still
/// verifies.
#[tokio::test]
async fn cloud_player_callbacks_in_the_published_shape() {
    let sim = sim().await;
    let gw = gateway(&player_provider("zp", &sim.base_url(), "", true)).await;
    let mut body = pull_in_body("zp");
    body["stream_url"] = "https://media.example.com/live/source.m3u8?token=s3cret-src-token".into();
    let started = call(&gw, "POST", "/v1/ingests", Some(body)).await;
    assert_eq!(started.status, 201, "{}", started.text);
    let player_id = sim.players()[0].player_id.clone();
    let create_time = sim.players()[0].create_time;

    let created = sim.callback(&player_id, 1).expect("callback");
    assert!(created.json["Detail"].is_object());
    assert!(created.json["Timestamp"].is_string());
    assert_eq!(
        created.json["Detail"]["StreamUrl"],
        "https://media.example.com/live/source.m3u8?token=s3cret-src-token"
    );
    let a = call(&gw, "POST", "/v1/callbacks/zp", Some(created.json)).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json["event"]["state"], "starting", "{}", a.text);
    assert_eq!(a.json["event"]["vendor_event"], "1");
    let detail: serde_json::Value =
        serde_json::from_str(a.json["event"]["detail"].as_str().expect("detail")).expect("JSON");
    assert_eq!(
        detail,
        serde_json::json!({"CreateTime": create_time, "PlayTime": create_time, "MaxIdleTime": 300})
    );
    for leak in ["s3cret-src-token", "media.example.com", "StreamUrl"] {
        assert!(!a.text.contains(leak), "{leak}: {}", a.text);
    }

    // An exception the player retries by itself: unknown, with its code.
    assert!(sim.set_player_status(&player_id, 4));
    let a = call(
        &gw,
        "POST",
        "/v1/callbacks/zp",
        Some(sim.callback(&player_id, 4).expect("callback").json),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json["event"]["state"], "unknown", "{}", a.text);
    assert_eq!(a.json["event"]["detail"], r#"{"Code":-7,"PlayIndex":0}"#);

    // A status change in either shape.
    for shape in [CallbackShape::Published, CallbackShape::UrlEncoded] {
        let cb = sim.callback_as(&player_id, 3, shape).expect("callback");
        let a = call(&gw, "POST", "/v1/callbacks/zp", Some(cb.json)).await;
        assert_eq!(a.status, 200, "{shape:?}: {}", a.text);
        assert_eq!(a.json["event"]["state"], "running", "{shape:?}: {}", a.text);
        assert_eq!(a.json["event"]["detail"], r#"{"PlayIndex":0,"Status":4}"#);
    }
    let cb = sim
        .callback_as(&player_id, 1, CallbackShape::UrlEncoded)
        .expect("callback");
    let a = call(&gw, "POST", "/v1/callbacks/zp", Some(cb.json)).await;
    assert_eq!(a.json["event"]["state"], "starting", "{}", a.text);
    assert!(!a.text.contains("s3cret-src-token"), "{}", a.text);
    assert_no_secrets("the log", "");
}

#[tokio::test]
async fn cloud_player_vendor_codes_map_to_normalized_kinds() {
    let sim = sim().await;
    let gw = gateway(&player_provider("zp", &sim.base_url(), "", true)).await;
    let cases = [
        ("100000004", "unauthenticated", 502, false),
        ("100000005", "unauthenticated", 502, false),
        ("350006001", "rate-limited", 429, true),
        ("350006002", "unauthenticated", 502, false),
        ("350006003", "invalid-argument", 400, false),
        ("350006006", "permission-denied", 403, false),
        ("350006007", "quota-exceeded", 429, false),
        ("350006008", "already-exists", 409, false),
        ("350006009", "failed-precondition", 409, true),
        ("350010000", "vendor-internal", 502, true),
        ("350099999", "vendor-internal", 502, false),
    ];
    for (code, kind, status, retryable) in cases {
        sim.fail_next(Fault::VendorError {
            code: code.to_string(),
            message: format!("simulated {code}"),
        });
        let a = call(&gw, "POST", "/v1/ingests", Some(pull_in_body("zp"))).await;
        assert_eq!(a.status, status, "{code}: {}", a.text);
        assert_eq!(a.json["kind"], kind, "{code}: {}", a.text);
        assert_eq!(a.json["vendor_code"], code);
        assert_eq!(a.json["retryable"], retryable, "{code}");
        assert!(a.json["vendor_request_id"].is_string());
    }
    assert!(sim.players().is_empty());

    // A wrong server secret reaches the simulator and is refused there.
    let toml = player_provider("zp", &sim.base_url(), "", true)
        .replace(ZEGO_SERVER_SECRET, "not-the-zego-server-secret");
    let gw = gateway(&toml).await;
    let a = call(&gw, "POST", "/v1/ingests", Some(pull_in_body("zp"))).await;
    assert_eq!(a.json["vendor_code"], "100000005", "{}", a.text);
}

/// ZEGO's published limits (one AppID runs at most 50 players; one running player per
/// PlayerName), reached at the simulator: the codes come back as their kinds, not
/// `vendor-internal`.
#[tokio::test]
async fn cloud_player_limits_reached_at_zego_map_to_their_kinds() {
    let sim = sim().await;
    let gw = gateway(&player_provider("zp", &sim.base_url(), "", true)).await;
    let started = call(&gw, "POST", "/v1/ingests", Some(pull_in_body("zp"))).await;
    assert_eq!(started.status, 201, "{}", started.text);

    // The same display_name (PlayerName) while the first player runs: 350006008.
    let mut same_name = pull_in_body("zp");
    same_name["options"] = serde_json::json!({});
    let a = call(&gw, "POST", "/v1/ingests", Some(same_name.clone())).await;
    assert_eq!(a.status, 409, "{}", a.text);
    assert_eq!(a.json["kind"], "already-exists", "{}", a.text);
    assert_eq!(a.json["vendor_code"], "350006008");
    assert_eq!(a.json["retryable"], false);
    assert!(
        a.json["detail"]
            .as_str()
            .is_some_and(|d| d.contains("PlayerName")),
        "{}",
        a.text
    );

    // Fill the AppID's 50 players, then one more: 350006007.
    let mut anonymous = pull_in_body("zp");
    anonymous
        .as_object_mut()
        .expect("object")
        .remove("display_name");
    anonymous["options"] = serde_json::json!({});
    while sim.players().iter().filter(|p| p.status != 8).count()
        < ingest_sim::zego::MAX_RUNNING_PLAYERS
    {
        let a = call(&gw, "POST", "/v1/ingests", Some(anonymous.clone())).await;
        assert_eq!(a.status, 201, "{}", a.text);
    }
    let a = call(&gw, "POST", "/v1/ingests", Some(anonymous)).await;
    assert_eq!(a.status, 429, "{}", a.text);
    assert_eq!(a.json["kind"], "quota-exceeded", "{}", a.text);
    assert_eq!(a.json["vendor_code"], "350006007");
    assert_eq!(a.json["retryable"], false);
    assert!(a.json["vendor_request_id"].is_string());

    // Stopping a player still being created: 350006009, retryable.
    let id = started.json["id"].as_str().expect("id");
    let a = call(&gw, "DELETE", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(a.status, 409, "{}", a.text);
    assert_eq!(a.json["kind"], "failed-precondition", "{}", a.text);
    assert_eq!(a.json["vendor_code"], "350006009");
    assert_eq!(a.json["retryable"], true);
}

#[tokio::test]
async fn cloud_player_input_is_checked_before_the_vendor() {
    let sim = sim().await;
    let gw = gateway(&player_provider("zp", &sim.base_url(), "", true)).await;
    let with = |key: &str, value: serde_json::Value| {
        let mut body = pull_in_body("zp");
        body[key] = value;
        body
    };
    let with_option = |key: &str, value: serde_json::Value| {
        let mut body = pull_in_body("zp");
        body["options"][key] = value;
        body
    };
    let mut no_url = pull_in_body("zp");
    no_url.as_object_mut().expect("object").remove("stream_url");
    let mut failures = Failures::default();
    for (body, needle) in [
        (no_url, "`stream_url` is required"),
        (
            with("stream_url", "srt://media.example.com/live".into()),
            "`stream_url` uses srt://",
        ),
        // ZEGO's cloud player pulls HTTP/HTTPS only.
        (
            with("stream_url", "rtmp://media.example.com/live/a".into()),
            "`stream_url` uses rtmp://",
        ),
        (
            with("stream_url", "rtmps://media.example.com/live/a".into()),
            "`stream_url` uses rtmps://",
        ),
        (
            with_option(
                "backup_stream_url",
                "rtmp://media.example.com/live/b".into(),
            ),
            "`options.backup_stream_url` uses rtmp://",
        ),
        (
            with(
                "stream_url",
                format!("https://media.example.com/{}", "a".repeat(1010)).into(),
            ),
            "at most 1024 bytes",
        ),
        (
            with_option("stream_id", "a b".into()),
            "`options.stream_id`",
        ),
        (
            with_option("video_options", "hd".into()),
            "`options.video_options`",
        ),
        (
            with_option("video_options", serde_json::json!({"Width": 4000})),
            "`options.video_options.Width`",
        ),
        // CreatePlayer's published bounds.
        (
            with("display_name", "n".repeat(65).into()),
            "`display_name` (sent as PlayerName) must be 1 to 64 bytes",
        ),
        (
            with_option("max_idle_time", 4.into()),
            "`options.max_idle_time` is 4; it must be between 5 and 3000",
        ),
        (
            with_option("max_idle_time", 3001.into()),
            "`options.max_idle_time` is 3001",
        ),
        (
            with_option("room_user_update", "yes".into()),
            "`options.room_user_update`",
        ),
        (
            with_option("room_user_update", 2.into()),
            "`options.room_user_update`",
        ),
        (with_option("play_time", 1.into()), "`options.play_time`"),
        // A day before the gateway's clock is ZEGO's edge measured from CreateTime, which
        // comes later: the plugin keeps a minute inside it.
        (
            with_option("play_time", (now_secs() - 86_400).into()),
            "`options.play_time`",
        ),
        (
            with_option("stream_id", "s".repeat(5000).into()),
            "(5000 bytes)",
        ),
        (
            with_option("repeat_times", 0.into()),
            "`options.repeat_times`",
        ),
        (
            with_option("delay_destroy_seconds", 3601.into()),
            "`options.delay_destroy_seconds`",
        ),
    ] {
        let a = call(&gw, "POST", "/v1/ingests", Some(body.clone())).await;
        failures.expect_invalid(&a, needle);
    }
    failures.assert_none();
    let mut push = pull_in_body("zp");
    push["direction"] = "push-in".into();
    let a = call(&gw, "POST", "/v1/ingests", Some(push)).await;
    assert_eq!(a.status, 501, "{}", a.text);
    assert_eq!(sim.request_count(), 0, "nothing reached ZEGO");

    // At the bounds, and RoomUserUpdate sent as ZEGO's number whatever the caller gave.
    let mut body = with("display_name", "n".repeat(64).into());
    body["options"] = serde_json::json!({
        "max_idle_time": 3000, "room_user_update": true, "repeat_times": -1, "seek_to": 30,
    });
    let a = call(&gw, "POST", "/v1/ingests", Some(body)).await;
    assert_eq!(a.status, 201, "{}", a.text);
    let p = &sim.players()[0];
    assert_eq!(p.create_body["RoomUserUpdate"], 1);
    assert_eq!(
        (p.max_idle_time, p.room_user_update, p.repeat_times),
        (3000, 1, -1)
    );
    assert_eq!(p.seek_to, Some(30.0));
}

// ---------------------------------------------------------------- dry runs

/// Runs `start` twice with a fixed time and nonce; returns the parsed output.
fn dry_run_start(
    name: &str,
    toml: &str,
    provider: &str,
    body: &serde_json::Value,
    respond: &str,
) -> serde_json::Value {
    let dir = std::env::temp_dir().join(format!(
        "ingest-gateway-test-zego-{name}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("gateway.toml");
    std::fs::write(&config, toml).expect("config");
    let input = dir.join("start.json");
    std::fs::write(&input, body.to_string()).expect("input");
    let respond_path = dir.join("respond.json");
    std::fs::write(
        &respond_path,
        serde_json::json!({"status": 200, "headers": [["content-type", "application/json"]], "body": respond})
            .to_string(),
    )
    .expect("respond");
    let args = dry_run_args(&config, provider, "start", &input, Some(&respond_path));
    let run = dry_run_twice(&args);
    assert!(run.ok, "{}", run.stderr);
    let first = run.out;
    serde_json::from_str(&first).expect("json")
}

/// `SignatureNonce` for the call nonce `n0nce`: the first 16 hex characters of its SHA-256.
fn expected_nonce() -> String {
    hex::encode(Sha256::digest(b"n0nce"))[..16].to_string()
}

#[test]
fn dispatch_dry_run_is_byte_identical_and_signed_as_documented() {
    let toml = dispatch_provider("zd", "http://127.0.0.1:9104", &[]);
    let body = dispatch_body(
        "zd",
        "push-in",
        serde_json::json!({"stream_id": "cam_1", "client_ip": "198.51.100.7"}),
    );
    let out = dry_run_start(
        "dispatch",
        &toml,
        "zd",
        &body,
        r#"{"Code":0,"Message":"ok","RequestId":"req-9","Data":["rtmp://203.0.113.10:1935/1234567890/cam_1"]}"#,
    );
    let req = &out["requests"][0];
    assert_eq!(req["method"], "GET");
    let nonce = expected_nonce();
    let signature = zego_signature(&nonce, "1700000000");
    assert_eq!(
        req["url"],
        format!(
            "http://127.0.0.1:9104/?Action=RTMPDispatchV2&StreamId=cam_1&Sequence=1700000000000\
             &Type=push&ClientIP=198.51.100.7&AppId=1234567890&SignatureNonce={nonce}\
             &Timestamp=1700000000&SignatureVersion=2.0&Signature={signature}"
        )
    );
    let ok = &out["result"]["ok"];
    assert_eq!(ok["session_ref"], "push:cam_1");
    assert_eq!(ok["issued_urls"][0]["purpose"], "publish");
    assert_eq!(ok["expires_at"], 1_700_007_200u64);
    assert_eq!(ok["vendor_request_id"], "req-9");
}

#[test]
fn cloud_player_dry_run_is_byte_identical_and_signed_as_documented() {
    let toml = player_provider("zp", "http://127.0.0.1:9104", "", true);
    let out = dry_run_start(
        "player",
        &toml,
        "zp",
        &pull_in_body("zp"),
        r#"{"Code":0,"Message":"ok","RequestId":"req-7","Data":{"PlayerId":"cp-42"}}"#,
    );
    let req = &out["requests"][0];
    assert_eq!(req["method"], "POST");
    let nonce = expected_nonce();
    let signature = zego_signature(&nonce, "1700000000");
    assert_eq!(
        req["url"],
        format!(
            "http://127.0.0.1:9104/?Action=CreatePlayer&AppId=1234567890&SignatureNonce={nonce}\
             &Timestamp=1700000000&SignatureVersion=2.0&Signature={signature}"
        )
    );
    assert_eq!(
        req["body"],
        r#"{"PlayerName":"Background music","RoomId":"room-1","StreamId":"bgm_1","StreamUrl":"https://media.example.com/live/source.m3u8"}"#
    );
    let ok = &out["result"]["ok"];
    assert_eq!(ok["session_ref"], "cp-42");
    assert_eq!(ok["vendor_task_id"], "cp-42");
    assert_eq!(ok["vendor_request_id"], "req-7");
}

// ---------------------------------------------------------------- cloud player update

/// A started player, moved to 4 (playing) at the simulator: the gateway handle and the
/// PlayerId.
async fn playing(gw: &ingest_gateway::Gateway, sim: &ZegoSim) -> (String, String) {
    let started = call(gw, "POST", "/v1/ingests", Some(pull_in_body("zp"))).await;
    assert_eq!(started.status, 201, "{}", started.text);
    let id = started.json["id"].as_str().expect("id").to_string();
    let player_id = started.json["session"]["vendor_task_id"]
        .as_str()
        .expect("PlayerId")
        .to_string();
    assert!(sim.set_player_status(&player_id, 4));
    (id, player_id)
}

fn now_ms() -> i64 {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis();
    i64::try_from(ms).expect("ms")
}

/// `UpdatePlayer` bodies the simulator received, in order.
fn update_bodies(sim: &ZegoSim) -> Vec<serde_json::Value> {
    sim.requests()
        .iter()
        .filter(|r| query_params(&r.path_and_query)["Action"] == "UpdatePlayer")
        .map(|r| r.body_json().expect("JSON body"))
        .collect()
}

/// The call's options with the clock pinned at `ms` (Unix milliseconds).
fn at_ms(ms: i64) -> ingest_gateway::CallOptions {
    ingest_gateway::CallOptions {
        now_ms: Some(u64::try_from(ms).expect("ms")),
        ..Default::default()
    }
}

/// `Sequence` values of the UpdatePlayers the simulator received, in order.
fn sequences(sim: &ZegoSim) -> Vec<i64> {
    update_bodies(sim)
        .iter()
        .map(|b| b["Sequence"].as_i64().expect("a numeric Sequence"))
        .collect()
}

/// ZEGO requires a `Sequence` that increases for every update of the same player: by default
/// the call's clock in milliseconds × 16 (plus 1 for a split update's second request);
/// `options.sequence` overrides it, and ZEGO refuses one that does not increase.
#[tokio::test]
async fn cloud_player_update_sends_an_increasing_sequence() {
    let sim = sim().await;
    let gw = gateway(&player_provider("zp", &sim.base_url(), "", true)).await;
    let (id, player_id) = playing(&gw, &sim).await;

    // Two updates a millisecond apart (the clock pinned, a second ago): no sleep needed.
    let t = now_ms() - 1000;
    for (ms, seek) in [(t, r#"{"seek_to":10}"#), (t + 1, r#"{"seek_to":20}"#)] {
        gw.update(&id, None, seek.to_string(), at_ms(ms))
            .await
            .expect("accepted");
    }
    assert_eq!(sequences(&sim), [t * 16, (t + 1) * 16]);
    // On the gateway's own clock.
    let before = now_ms();
    let a = patch(&gw, &id, serde_json::json!({"options": {"seek_to": 25}})).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let after = now_ms();
    let sent = sequences(&sim);
    assert_eq!(sent.len(), 3);
    assert!(
        (before * 16..=after * 16).contains(&sent[2]),
        "the call's clock in ms × 16: {sent:?}"
    );
    let p = sim.player(&player_id).expect("player");
    assert_eq!(p.sequence, Some(sent[2]));
    assert_eq!(p.seek_to, Some(25.0));

    // The caller's sequence wins; one that does not increase is ZEGO's refusal (the player
    // is running, so it stands as invalid-argument).
    let a = patch(
        &gw,
        &id,
        serde_json::json!({"options": {"seek_to": 30, "sequence": sent[2] + 1000}}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(
        sim.player(&player_id).expect("player").sequence,
        Some(sent[2] + 1000)
    );
    let a = patch(
        &gw,
        &id,
        serde_json::json!({"options": {"seek_to": 40, "sequence": 5}}),
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert_eq!(a.json["vendor_code"], "350006003", "{}", a.text);
    assert!(
        a.json["vendor_message"]
            .as_str()
            .is_some_and(|m| m.contains("Sequence 5")),
        "{}",
        a.text
    );
    assert_eq!(sim.player(&player_id).expect("player").seek_to, Some(30.0));
    let a = patch(
        &gw,
        &id,
        serde_json::json!({"options": {"sequence": 0, "seek_to": 1}}),
    )
    .await;
    assert_invalid(&a, "`options.sequence`");
}

/// A split update (a new source with other changes: two UpdatePlayers) at T, then an update
/// at T + 1 ms: ZEGO accepts both. (With the clock in ms as the Sequence, the split one sent T
/// and T + 1, and the next one repeated T + 1, which ZEGO refuses or ignores.)
#[tokio::test]
async fn cloud_player_update_a_millisecond_after_a_split_one_is_accepted() {
    let sim = sim().await;
    let gw = gateway(&player_provider("zp", &sim.base_url(), "", true)).await;
    let (id, player_id) = playing(&gw, &sim).await;
    let t = now_ms() - 1000;
    gw.update(
        &id,
        Some("https://media.example.com/live/next.flv".to_string()),
        r#"{"is_pause":true}"#.to_string(),
        at_ms(t),
    )
    .await
    .expect("the split update");
    gw.update(&id, None, r#"{"seek_to":42}"#.to_string(), at_ms(t + 1))
        .await
        .expect("an update a millisecond later");
    assert_eq!(sequences(&sim), [t * 16, t * 16 + 1, (t + 1) * 16]);
    let p = sim.player(&player_id).expect("player");
    assert_eq!(p.stream_url, "https://media.example.com/live/next.flv");
    assert_eq!(
        (p.status, p.seek_to),
        (5, Some(42.0)),
        "paused, then sought"
    );
    assert_eq!(p.sequence, Some((t + 1) * 16));
}

/// ZEGO ignores every other field of an UpdatePlayer that carries a source. A new source with
/// other changes is two requests — the source, then the rest with the next Sequence — so
/// everything is applied and nothing is silently dropped; the PlayerId, and so the handle,
/// stays.
#[tokio::test]
async fn cloud_player_update_changes_the_source_and_the_rest() {
    let sim = sim().await;
    let gw = gateway(&player_provider("zp", &sim.base_url(), "", true)).await;
    let (id, player_id) = playing(&gw, &sim).await;

    let updated = patch(
        &gw,
        &id,
        serde_json::json!({
            "stream_url": "https://media.example.com/live/next.flv",
            "options": {
                "backup_stream_url": "https://backup.example.com/live/next.m3u8",
                "video_options": {"Width": 1280, "Height": 720},
                "is_pause": true,
                "seek_to": 90,
                "repeat_times": 3,
            },
        }),
    )
    .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(updated.json["id"], id.as_str(), "the handle stays");
    assert!(updated.json.get("replaces").is_none(), "{}", updated.text);
    assert_eq!(updated.json["provider"], "zp");
    assert_eq!(updated.json["updated"], true);
    assert!(
        updated.json["vendor_request_id"].is_string(),
        "{}",
        updated.text
    );

    // The simulator applied every change to the same player and ignored nothing.
    let players = sim.players();
    assert_eq!(players.len(), 1);
    let p = &players[0];
    assert_eq!(p.player_id, player_id);
    assert_eq!(p.stream_url, "https://media.example.com/live/next.flv");
    assert_eq!(
        p.backup_stream_url.as_deref(),
        Some("https://backup.example.com/live/next.m3u8")
    );
    assert_eq!(
        p.video_options,
        Some(serde_json::json!({"Width": 1280, "Height": 720}))
    );
    assert_eq!(p.status, 5, "paused");
    assert_eq!((p.seek_to, p.repeat_times), (Some(90.0), 3));
    assert_eq!(p.update_ignored, vec![Vec::<String>::new(), Vec::new()]);

    // On the wire: two signed UpdatePlayers, the source first.
    let bodies = update_bodies(&sim);
    let sequence = bodies[0]["Sequence"].as_i64().expect("Sequence");
    assert_eq!(
        bodies,
        vec![
            serde_json::json!({
                "PlayerId": player_id,
                "Sequence": sequence,
                "StreamUrl": "https://media.example.com/live/next.flv",
            }),
            serde_json::json!({
                "PlayerId": player_id,
                "Sequence": sequence + 1,
                "BackupStreamUrl": "https://backup.example.com/live/next.m3u8",
                "VideoOptions": {"Width": 1280, "Height": 720},
                "IsPause": 1,
                "SeekTo": 90,
                "RepeatTimes": 3,
            }),
        ]
    );
    for r in sim.requests().iter().skip(1) {
        assert_eq!(r.method, "POST");
        assert_signed(&r.path_and_query);
    }

    // Options alone are one request; resuming and a new volume.
    let updated = patch(
        &gw,
        &id,
        serde_json::json!({"options": {"is_pause": false, "audio_options": {"Volume": 150}}}),
    )
    .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(update_bodies(&sim).len(), 3);
    let p = sim.player(&player_id).expect("player");
    assert_eq!(p.audio_options, Some(serde_json::json!({"Volume": 150})));
    assert_eq!(p.status, 4, "playing again");
    assert_eq!(p.stream_url, "https://media.example.com/live/next.flv");

    // Status and stop still work with the same handle.
    let status = call(&gw, "GET", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(status.status, 200, "{}", status.text);
    assert_eq!(status.json["state"], "running", "{}", status.text);
    let stopped = call(&gw, "DELETE", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(stopped.status, 200, "{}", stopped.text);
    assert_eq!(sim.player(&player_id).expect("player").status, 8);
    assert_no_secrets("the log", "");
}

/// When the second request of a split update fails, the answer says that the source was
/// changed and the rest was not.
#[tokio::test]
async fn cloud_player_update_says_when_only_the_source_changed() {
    let sim = sim().await;
    let gw = gateway(&player_provider("zp", &sim.base_url(), "", true)).await;
    let (id, player_id) = playing(&gw, &sim).await;
    // The first UpdatePlayer passes (a zero delay), the second is refused.
    sim.fail_next(Fault::Delay(std::time::Duration::ZERO));
    sim.fail_next(Fault::VendorError {
        code: "350006001".to_string(),
        message: "too many requests".to_string(),
    });
    let a = patch(
        &gw,
        &id,
        serde_json::json!({
            "stream_url": "https://media.example.com/live/next.flv",
            "options": {"is_pause": true},
        }),
    )
    .await;
    assert_eq!(a.status, 429, "{}", a.text);
    assert_eq!(a.json["kind"], "rate-limited", "{}", a.text);
    assert_eq!(a.json["vendor_code"], "350006001");
    // Repeating the whole PATCH would load the source again: not retryable.
    assert_eq!(a.json["retryable"], false, "{}", a.text);
    let detail = a.json["detail"].as_str().expect("detail");
    for needle in [
        "applied only in part",
        "ZEGO changed the source",
        "(IsPause)",
        "not applied",
        "do not repeat this update",
    ] {
        assert!(detail.contains(needle), "{needle}: {detail}");
    }
    let p = sim.player(&player_id).expect("player");
    assert_eq!(p.stream_url, "https://media.example.com/live/next.flv");
    assert_eq!(p.status, 4, "not paused");
    assert_eq!(update_bodies(&sim).len(), 2);
}

/// Sources are HTTP/HTTPS only, and what an update cannot change is refused, before ZEGO is
/// called.
#[tokio::test]
async fn cloud_player_update_refuses_what_it_cannot_change() {
    let sim = sim().await;
    let gw = gateway(&player_provider("zp", &sim.base_url(), "", true)).await;
    let started = call(&gw, "POST", "/v1/ingests", Some(pull_in_body("zp"))).await;
    let id = started.json["id"].as_str().expect("id").to_string();
    let mut failures = Failures::default();
    for (body, needle) in [
        (
            serde_json::json!({"stream_url": "rtmp://media.example.com/b"}),
            "`stream_url` uses rtmp://",
        ),
        (
            serde_json::json!({"stream_url": "rtmps://media.example.com/b", "options": {"seek_to": 3}}),
            "`stream_url` uses rtmps://",
        ),
        (
            serde_json::json!({"options": {"stream_url_list": ["https://a.example/1.mp4", "rtmp://a.example/2"]}}),
            "`options.stream_url_list[1]` uses rtmp://",
        ),
        (
            serde_json::json!({"stream_url": "https://a.example/1.mp4", "options": {"stream_url_list": ["https://a.example/2.mp4"]}}),
            "not both",
        ),
        (
            serde_json::json!({"stream_url": "https://media.example.com/b", "options": {"stream_id": "other"}}),
            "`options.stream_id`",
        ),
        (
            serde_json::json!({"options": {"max_idle_time": 30}}),
            "`options.max_idle_time`",
        ),
        (
            serde_json::json!({"options": {"vidoe_options": {}}}),
            "`options.vidoe_options`",
        ),
        (
            serde_json::json!({"options": {"video_options": {"Fps": 30}}}),
            "`options.video_options.Fps`",
        ),
        (
            serde_json::json!({"options": {"is_pause": "yes"}}),
            "`options.is_pause`",
        ),
        (
            serde_json::json!({"options": {"repeat_times": 0}}),
            "`options.repeat_times`",
        ),
        (
            serde_json::json!({"options": {"video_options": null}}),
            "must change something",
        ),
        (
            serde_json::json!({"options": {"sequence": 7}}),
            "must change something",
        ),
        (
            serde_json::json!({"options": {"backup_stream_url": "srt://x"}}),
            "`options.backup_stream_url`",
        ),
    ] {
        let a = patch(&gw, &id, body.clone()).await;
        failures.expect_invalid(&a, needle);
    }
    failures.assert_none();
    let a = patch(
        &gw,
        &id,
        serde_json::json!({"options": {"stream_id": "other"}}),
    )
    .await;
    assert!(
        a.json["detail"].as_str().is_some_and(|d| d.contains(
            "it can change: stream_url_list, backup_stream_url, video_options, audio_options, \
             is_pause, seek_to, repeat_times, sequence"
        )),
        "{}",
        a.text
    );
    assert_eq!(sim.request_count(), 1, "only the start reached ZEGO");
    assert!(sim.players()[0].update_bodies.is_empty());
}

/// ZEGO refuses an update of a player that has ended or that it no longer knows with its
/// invalid-parameter code; one DescribePlayers tells which, and the update answers
/// failed-precondition or not-found with ZEGO's code kept.
#[tokio::test]
async fn cloud_player_update_of_an_ended_or_forgotten_player() {
    let sim = sim().await;
    let gw = gateway(&player_provider("zp", &sim.base_url(), "", true)).await;
    let (id, player_id) = playing(&gw, &sim).await;
    let change = serde_json::json!({"stream_url": "https://media.example.com/live/next.flv"});

    let stopped = call(&gw, "DELETE", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(stopped.status, 200, "{}", stopped.text);
    sim.clear_requests();
    let a = patch(&gw, &id, change.clone()).await;
    assert_eq!(a.status, 409, "{}", a.text);
    assert_eq!(a.json["kind"], "failed-precondition", "{}", a.text);
    assert_eq!(a.json["vendor_code"], "350006003", "{}", a.text);
    assert_eq!(a.json["retryable"], false);
    assert!(
        a.json["detail"]
            .as_str()
            .is_some_and(|d| d.contains("Status 8") && d.contains("DeletePlayer")),
        "{}",
        a.text
    );
    let actions: Vec<String> = sim
        .requests()
        .iter()
        .map(|r| query_params(&r.path_and_query)["Action"].clone())
        .collect();
    assert_eq!(actions, ["UpdatePlayer", "DescribePlayers"]);
    for r in sim.requests() {
        assert_signed(&r.path_and_query);
    }

    assert!(sim.forget_player(&player_id));
    let a = patch(&gw, &id, change.clone()).await;
    assert_eq!(a.status, 404, "{}", a.text);
    assert_eq!(a.json["kind"], "not-found", "{}", a.text);
    assert_eq!(a.json["vendor_code"], "350006003", "{}", a.text);
    assert!(a.json["vendor_request_id"].is_string(), "{}", a.text);
    assert!(sim.players().is_empty(), "no update created a player");

    // A refusal that is not about the player (rate limit) is not followed by DescribePlayers.
    let (id, _) = playing(&gw, &sim).await;
    sim.clear_requests();
    sim.fail_next(Fault::VendorError {
        code: "350006001".to_string(),
        message: "too many requests".to_string(),
    });
    let a = patch(&gw, &id, change).await;
    assert_eq!(a.status, 429, "{}", a.text);
    assert_eq!(a.json["kind"], "rate-limited", "{}", a.text);
    assert_eq!(sim.request_count(), 1);
}

/// `call update --dry-run` prints the signed UpdatePlayer requests with their `Sequence`: the
/// call's clock in milliseconds × 16, and the next one for the second request of a split
/// update.
#[test]
fn call_update_dry_run_shows_the_sequence() {
    let dir = temp_dir("zego-update-dry-run");
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        player_provider("zp", "http://127.0.0.1:9104", "", true),
    )
    .expect("config");
    let input = dir.join("update.json");
    std::fs::write(
        &input,
        r#"{"session_ref": "cp-7", "stream_url": "https://media.example.com/next.mp4", "options": {"is_pause": true}}"#,
    )
    .expect("input");
    let respond = dir.join("respond.json");
    std::fs::write(
        &respond,
        r#"{"status": 200, "headers": [["content-type", "application/json"]], "body": "{\"Code\":0,\"Message\":\"succeed\",\"RequestId\":\"r-1\"}"}"#,
    )
    .expect("respond");
    let args = dry_run_args(&config, "zp", "update", &input, Some(&respond));
    let run = dry_run_twice(&args);
    assert!(run.ok, "{}\n{}", run.out, run.stderr);
    let out = run.out;
    let printed: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let bodies: Vec<serde_json::Value> = printed["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .map(|r| {
            assert!(
                r["url"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("http://127.0.0.1:9104/?Action=UpdatePlayer&")),
                "{r}"
            );
            serde_json::from_str(r["body"].as_str().expect("body")).expect("JSON body")
        })
        .collect();
    assert_eq!(
        bodies,
        vec![
            serde_json::json!({"PlayerId": "cp-7", "Sequence": 27_200_000_000_000u64, "StreamUrl": "https://media.example.com/next.mp4"}),
            serde_json::json!({"PlayerId": "cp-7", "Sequence": 27_200_000_000_001u64, "IsPause": 1}),
        ]
    );
    assert_eq!(printed["result"]["ok"]["vendor_request_id"], "r-1");
    assert_no_secrets("call update output", &out);
}
