//! Tencent TRTC end to end: gateway → plugin component → simulator.

use bytes::Bytes;
use ingest_sim::server::Fault;
use ingest_sim::tencent::{CallbackEvent, SimCallback, TencentSim, TencentSimConfig};
use serde_json::{Value, json};

use crate::support::*;

async fn sim() -> TencentSim {
    trtc_sim().await
}

#[tokio::test]
async fn start_status_stop_round_trip() {
    let sim = sim().await;
    let gw = gateway(&trtc_provider("trtc", &sim.base_url(), "")).await;

    let started = call(&gw, "POST", "/v1/ingests", Some(pull_in("trtc", "42"))).await;
    assert_eq!(started.status, 201, "{}", started.text);
    let id = started.json["id"].as_str().expect("id").to_string();
    let task_id = started.json["session"]["vendor_task_id"]
        .as_str()
        .expect("task id")
        .to_string();
    assert!(
        started.json["session"]["vendor_request_id"].is_string(),
        "{}",
        started.text
    );
    let tasks = sim.tasks();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].task_id, task_id);
    assert_eq!(tasks[0].room_id, "42");
    assert_eq!(
        tasks[0].room_id_type, 1,
        "Tencent's default: the integer room 42"
    );
    assert_eq!(tasks[0].stream_url, "rtmp://media.example.com/live/source");

    let status = call(&gw, "GET", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(status.status, 200, "{}", status.text);
    assert_eq!(status.json["state"], "running");
    assert_eq!(status.json["vendor_state"], "InProgress");
    assert_eq!(status.json["provider"], "trtc");

    let stopped = call(&gw, "DELETE", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(stopped.status, 200, "{}", stopped.text);
    assert_eq!(stopped.json["state"], "stopped");

    let after = call(&gw, "GET", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(after.json["state"], "not-found", "{}", after.text);

    // Stopping twice: the vendor says the task is finished.
    let again = call(&gw, "DELETE", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(again.status, 409, "{}", again.text);
    assert_eq!(again.json["vendor_code"], "FailedOperation.TaskFinished");
}

#[tokio::test]
async fn vendor_connections_are_kept_alive_and_reused() {
    let sim = sim().await;
    let gw = gateway(&trtc_provider("trtc", &sim.base_url(), "")).await;
    for (i, room) in ["1", "2", "3"].into_iter().enumerate() {
        let started = call(&gw, "POST", "/v1/ingests", Some(pull_in("trtc", room))).await;
        assert_eq!(started.status, 201, "{}", started.text);
        assert_eq!(sim.request_count(), i + 1);
        // Every start went over the one connection the first one opened.
        assert_eq!(sim.connections_accepted(), 1, "after start {}", i + 1);
    }

    // A vendor answer that asks to close: that connection is not used again.
    sim.fail_next(ingest_sim::server::Fault::status_with_headers(
        503,
        &[("connection", "close")],
    ));
    let refused = call(&gw, "POST", "/v1/ingests", Some(pull_in("trtc", "4"))).await;
    assert!(refused.status >= 500, "{}", refused.text);
    let started = call(&gw, "POST", "/v1/ingests", Some(pull_in("trtc", "5"))).await;
    assert_eq!(started.status, 201, "{}", started.text);
    assert_eq!(sim.connections_accepted(), 2);
}

#[tokio::test]
async fn over_real_http_with_request_id() {
    let sim = sim().await;
    let gw = std::sync::Arc::new(gateway(&trtc_provider("trtc", &sim.base_url(), "")).await);
    let served = TestServer::start(gw).await;
    let addr = served.addr;

    let body = pull_in("trtc", "7").to_string();
    let started = http(addr, "POST", "/v1/ingests", Some(&body)).await;
    assert_eq!(started.status, 201, "{}", started.text);
    assert!(started.headers.contains_key("x-request-id"));
    let id = started.json["id"].as_str().expect("id").to_string();
    let status = http(addr, "GET", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(status.json["state"], "running", "{}", status.text);
    let stopped = http(addr, "DELETE", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(stopped.status, 200, "{}", stopped.text);

    let huge = "x".repeat(70 * 1024);
    let too_big = http(addr, "POST", "/v1/ingests", Some(&huge)).await;
    assert_eq!(too_big.status, 413, "{}", too_big.text);
    assert_eq!(too_big.headers["content-type"], "application/problem+json");

    served.stop().await;
}

/// Every normalized kind the plugin maps TRTC codes to, reached through a vendor error.
#[tokio::test]
async fn vendor_error_codes_map_to_normalized_kinds() {
    let sim = sim().await;
    let gw = gateway(&trtc_provider("trtc", &sim.base_url(), "")).await;
    let cases = [
        ("InvalidParameter.StreamUrl", "invalid-argument", 400, false),
        (
            "AuthFailure.SignatureFailure",
            "unauthenticated",
            502,
            false,
        ),
        (
            "AuthFailure.UnauthorizedOperation",
            "permission-denied",
            403,
            false,
        ),
        ("ResourceNotFound", "not-found", 404, false),
        ("FailedOperation.TaskExist", "already-exists", 409, false),
        (
            "FailedOperation.TaskFinished",
            "failed-precondition",
            409,
            false,
        ),
        ("RequestLimitExceeded", "rate-limited", 429, true),
        (
            "FailedOperation.RestrictedConcurrency",
            "quota-exceeded",
            429,
            false,
        ),
        ("UnsupportedRegion", "unsupported", 501, false),
        ("InternalError.InternalError", "vendor-internal", 502, true),
        ("SomethingNobodyDocumented", "vendor-internal", 502, false),
    ];
    for (code, kind, status, retryable) in cases {
        sim.fail_next(Fault::VendorError {
            code: code.to_string(),
            message: format!("simulated {code}"),
        });
        let a = call(&gw, "POST", "/v1/ingests", Some(pull_in("trtc", "1"))).await;
        assert_eq!(a.status, status, "{code}: {}", a.text);
        assert_eq!(a.json["kind"], kind, "{code}: {}", a.text);
        assert_eq!(a.json["vendor_code"], code, "{}", a.text);
        assert_eq!(a.json["vendor_message"], format!("simulated {code}"));
        assert_eq!(a.json["retryable"], retryable, "{code}: {}", a.text);
        assert_eq!(a.json["provider"], "trtc");
        assert!(
            a.json["vendor_request_id"].is_string(),
            "{code}: {}",
            a.text
        );
        assert_eq!(a.headers["content-type"], "application/problem+json");
        for field in ["type", "title", "status", "detail"] {
            assert!(!a.json[field].is_null(), "{field} missing: {}", a.text);
        }
    }
    assert!(sim.tasks().is_empty(), "no vendor error may create a task");
}

#[tokio::test]
async fn transport_faults_map_to_unavailable_and_timeout() {
    let sim = sim().await;
    let gw = gateway(&trtc_provider(
        "trtc",
        &sim.base_url(),
        "[providers.egress]\nrequest_timeout_ms = 300",
    ))
    .await;
    for (fault, kind) in [
        (Fault::Status(503), "unavailable"),
        (Fault::DropConnection, "unavailable"),
        (Fault::MalformedBody, "vendor-internal"),
        (
            Fault::Delay(std::time::Duration::from_millis(1500)),
            "timeout",
        ),
    ] {
        sim.fail_next(fault.clone());
        let a = call(&gw, "POST", "/v1/ingests", Some(pull_in("trtc", "1"))).await;
        assert_eq!(a.json["kind"], kind, "{fault:?}: {}", a.text);
    }
}

#[tokio::test]
async fn wrong_secret_is_rejected_by_the_simulator() {
    let sim = sim().await;
    let toml = trtc_provider("trtc", &sim.base_url(), "")
        .replace(TRTC_SECRET_KEY, "not-the-right-key-at-all");
    let gw = gateway(&toml).await;
    let a = call(&gw, "POST", "/v1/ingests", Some(pull_in("trtc", "1"))).await;
    assert_eq!(a.status, 502, "{}", a.text);
    assert_eq!(a.json["kind"], "unauthenticated");
    assert_eq!(a.json["vendor_code"], "AuthFailure.SignatureFailure");
    assert_eq!(sim.request_count(), 1, "the request reached the simulator");
    assert!(sim.tasks().is_empty());
}

#[tokio::test]
async fn stale_timestamp_is_rejected() {
    let sim = sim().await;
    let gw = gateway(&trtc_provider("trtc", &sim.base_url(), "")).await;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let body = ingest_gateway::StartBody::parse(pull_in("trtc", "1").to_string().as_bytes())
        .expect("body");
    let options = ingest_gateway::CallOptions {
        now_ms: Some(now_ms - 10 * 60 * 1000),
        ..Default::default()
    };
    let err = gw
        .start("trtc", body.to_request(), options)
        .await
        .expect_err("stale");
    assert_eq!(err.kind, ingest_gateway::ErrorKind::Unauthenticated);
    assert_eq!(
        err.vendor_code.as_deref(),
        Some("AuthFailure.SignatureExpire")
    );
}

#[tokio::test]
async fn invalid_input_is_refused_before_the_vendor() {
    let sim = sim().await;
    let gw = gateway(&trtc_provider("trtc", &sim.base_url(), "")).await;

    // No `options.user_sig` and no `sdk_secret_key` to generate one: both fixes are named.
    let a = call(&gw, "POST", "/v1/ingests", Some(without_user_sig("1"))).await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert!(
        a.json["detail"]
            .as_str()
            .is_some_and(|d| d.contains("options.user_sig") && d.contains("sdk_secret_key")),
        "{}",
        a.text
    );

    let mut unknown = pull_in("trtc", "1");
    unknown["colour"] = "blue".into();
    let a = call(&gw, "POST", "/v1/ingests", Some(unknown)).await;
    assert_refused(&a, 400, "colour");

    let mut bad_url = pull_in("trtc", "1");
    bad_url["stream_url"] = "not a url".into();
    let a = call(&gw, "POST", "/v1/ingests", Some(bad_url)).await;
    assert_refused(&a, 400, "stream_url");

    let mut push = pull_in("trtc", "1");
    push["direction"] = "push-out".into();
    let a = call(&gw, "POST", "/v1/ingests", Some(push)).await;
    assert_eq!(a.status, 501, "{}", a.text);
    assert_eq!(a.json["kind"], "unsupported");

    let a = call(&gw, "POST", "/v1/ingests", Some(pull_in("nope", "1"))).await;
    assert_eq!(a.status, 404);

    let a = call(&gw, "GET", "/v1/ingests/forged.handle", None).await;
    assert_eq!(a.status, 404, "{}", a.text);

    let a = call(&gw, "PUT", "/v1/ingests", None).await;
    assert_eq!(a.status, 405);
    assert_eq!(a.headers["allow"], "POST");

    assert_eq!(
        sim.request_count(),
        0,
        "no invalid request may reach the vendor"
    );
}

#[tokio::test]
async fn altered_handles_never_reach_the_vendor() {
    let sim = sim().await;
    let gw = gateway(&trtc_provider("trtc", &sim.base_url(), "")).await;
    let started = call(&gw, "POST", "/v1/ingests", Some(pull_in("trtc", "5"))).await;
    let id = started.json["id"].as_str().expect("id").to_string();
    let before = sim.request_count();
    let mut altered = id.clone().into_bytes();
    altered[3] = if altered[3] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).expect("ascii");
    let a = call(&gw, "GET", &format!("/v1/ingests/{altered}"), None).await;
    assert_eq!(a.status, 404, "{}", a.text);
    // A second gateway with another (random) key cannot open this one's handles.
    let other = gateway(&trtc_provider("trtc", &sim.base_url(), "")).await;
    let a = call(&other, "DELETE", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(a.status, 404, "{}", a.text);
    assert_eq!(sim.request_count(), before);
}

#[tokio::test]
async fn egress_outside_the_allowlist_is_denied() {
    let sim = sim().await;
    let gw = gateway(&trtc_provider(
        "trtc",
        &sim.base_url(),
        r#"allow_hosts = ["trtc.tencentcloudapi.com:443"]"#,
    ))
    .await;
    let a = call(&gw, "POST", "/v1/ingests", Some(pull_in("trtc", "1"))).await;
    assert_eq!(a.json["kind"], "denied", "{}", a.text);
    assert!(
        a.json["detail"]
            .as_str()
            .is_some_and(|d| d.contains("allowlist")),
        "{}",
        a.text
    );
    assert_eq!(sim.request_count(), 0);
}

#[tokio::test]
async fn loopback_is_refused_unless_allowed() {
    let sim = sim().await;
    let toml = edit_toml(&trtc_provider("trtc", &sim.base_url(), ""), |doc| {
        provider_table(doc, 0).insert("allow_private".into(), false.into());
    });
    let gw = gateway(&toml).await;
    let a = call(&gw, "POST", "/v1/ingests", Some(pull_in("trtc", "1"))).await;
    assert_eq!(a.json["kind"], "denied", "{}", a.text);
    assert!(
        a.json["detail"]
            .as_str()
            .is_some_and(|d| d.contains("allow_private")),
        "{}",
        a.text
    );
    assert_eq!(sim.request_count(), 0);
}

#[tokio::test]
async fn secrets_never_leave_the_host() {
    let sim = sim().await;
    let gw = gateway(&trtc_provider("trtc", &sim.base_url(), "")).await;
    let a = call(&gw, "POST", "/v1/ingests", Some(pull_in("trtc", "9"))).await;
    assert_eq!(a.status, 201, "{}", a.text);
    // On the wire the real SecretId is in the Authorization header (the host substituted it) …
    let recorded = sim.requests();
    let auth = recorded[0].header("authorization").expect("authorization");
    assert!(auth.contains(TRTC_SECRET_ID), "{auth}");
    // … and neither value is in any answer or log line (support::answer checks every answer).
    assert_no_secrets("the log", "");
    // Without the secret `callback_key` callbacks cannot be verified: the plugin says so
    // instead of accepting anything.
    let cb = call(
        &gw,
        "POST",
        "/v1/callbacks/trtc",
        Some(serde_json::json!({"x": 1})),
    )
    .await;
    assert_problem(&cb, 501, "unsupported", "callback_key");
    let metrics = gw.metrics().render();
    assert!(
        metrics.contains(r#"ingest_vendor_request_duration_seconds_count{provider="trtc"} 1"#),
        "{metrics}"
    );
    let providers = call(&gw, "GET", "/v1/providers", None).await;
    assert_eq!(
        providers.json["providers"][0]["plugin"], "tencent-trtc",
        "{}",
        providers.text
    );
}

/// A start without `room_id_type` goes to Tencent's default room type, 1 (32-bit integer):
/// room "42" is the integer room 42, never the string room "42". A room id that is not an
/// integer room is refused before any vendor request, naming the field and the fix; a string
/// room only when asked for. (Before the fix the plugin sent `RoomIdType` 0: a 201 and
/// "running" while the stream played into an empty string room.)
#[tokio::test]
async fn room_id_type_defaults_to_tencents_integer_rooms() {
    let sim = sim().await;
    let gw = gateway(&trtc_provider("trtc", &sim.base_url(), "")).await;

    let started = call(&gw, "POST", "/v1/ingests", Some(pull_in("trtc", "42"))).await;
    assert_eq!(started.status, 201, "{}", started.text);
    let sent = sim.requests()[0].body_json().expect("JSON body");
    assert_eq!(sent["RoomIdType"], 1, "{sent}");
    assert_eq!(sent["RoomId"], "42", "{sent}");
    let tasks = sim.tasks();
    assert_eq!(tasks.len(), 1);
    assert_eq!(
        (tasks[0].room_id.as_str(), tasks[0].room_id_type),
        ("42", 1)
    );

    // Not an integer room with the default type: refused here, nothing reaches the vendor.
    for room in ["room-42", "0", "4294967295", "042", "-1"] {
        let a = call(&gw, "POST", "/v1/ingests", Some(pull_in("trtc", room))).await;
        assert_eq!(a.status, 400, "{room}: {}", a.text);
        assert_eq!(a.json["kind"], "invalid-argument", "{room}: {}", a.text);
        let detail = a.json["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("`room_id`")
                && detail.contains("options.room_id_type")
                && detail.contains("1..=4294967294"),
            "{room}: {}",
            a.text
        );
    }
    assert_eq!(
        sim.request_count(),
        1,
        "no refused start reached the vendor"
    );

    // A string room when asked for: `options.room_id_type` 0. The string room "42" is another
    // room than the integer room 42, so it does not clash with the running task.
    for room in ["room-42", "42"] {
        let mut body = pull_in("trtc", room);
        body["options"]["room_id_type"] = 0.into();
        let a = call(&gw, "POST", "/v1/ingests", Some(body)).await;
        assert_eq!(a.status, 201, "{room}: {}", a.text);
    }
    let rooms: Vec<(String, u8)> = sim
        .tasks()
        .into_iter()
        .map(|t| (t.room_id, t.room_id_type))
        .collect();
    assert_eq!(
        rooms,
        [
            ("42".to_string(), 1),
            ("room-42".to_string(), 0),
            ("42".to_string(), 0)
        ]
    );
    let sent = sim.requests()[2].body_json().expect("JSON body");
    assert_eq!(sent["RoomId"], "42", "{sent}");
    assert_eq!(sent["RoomIdType"], 0, "{sent}");

    // `options.room_id_type` 1 with a string room id: refused, never switched.
    let mut body = pull_in("trtc", "room-43");
    body["options"]["room_id_type"] = 1.into();
    let a = call(&gw, "POST", "/v1/ingests", Some(body)).await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert_eq!(sim.request_count(), 3);
}

/// The operator's `room_id_type = 0` makes string rooms the provider's default; a request's
/// `options.room_id_type` still wins.
#[tokio::test]
async fn room_id_type_config_key_chooses_string_rooms() {
    let sim = sim().await;
    let toml = provider_toml(
        "trtc",
        "tencent-trtc",
        &sim.base_url(),
        "",
        &[
            ("region", "\"ap-guangzhou\""),
            ("sdk_app_id", &SDK_APP_ID.to_string()),
            ("room_id_type", "0"),
        ],
        &[
            ("secret_id", TRTC_SECRET_ID),
            ("secret_key", TRTC_SECRET_KEY),
        ],
    );
    let gw = gateway(&toml).await;
    for room in ["room-42", "42"] {
        let a = call(&gw, "POST", "/v1/ingests", Some(pull_in("trtc", room))).await;
        assert_eq!(a.status, 201, "{room}: {}", a.text);
    }
    let mut body = pull_in("trtc", "42");
    body["options"]["room_id_type"] = 1.into();
    let a = call(&gw, "POST", "/v1/ingests", Some(body)).await;
    assert_eq!(a.status, 201, "{}", a.text);
    let rooms: Vec<(String, u8)> = sim
        .tasks()
        .into_iter()
        .map(|t| (t.room_id, t.room_id_type))
        .collect();
    assert_eq!(
        rooms,
        [
            ("room-42".to_string(), 0),
            ("42".to_string(), 0),
            ("42".to_string(), 1)
        ]
    );
}

// ---- UserSig generated from `sdk_secret_key`, and stream-ingest callbacks ----

/// A simulator that verifies UserSigs with [`TRTC_SDK_SECRET_KEY`] (TLSSigAPIv2, its own
/// implementation) and signs callbacks with [`TRTC_CALLBACK_KEY`].
async fn keyed_sim() -> TencentSim {
    TencentSim::start(TencentSimConfig {
        secret_id: TRTC_SECRET_ID.to_string(),
        secret_key: TRTC_SECRET_KEY.to_string(),
        sdk_app_id: SDK_APP_ID,
        max_skew_secs: 300,
        sdk_secret_key: Some(TRTC_SDK_SECRET_KEY.to_string()),
        callback_key: TRTC_CALLBACK_KEY.to_string(),
    })
    .await
    .expect("simulator starts")
}

/// A TRTC provider with `config` lines added to the required keys and the optional `secrets`
/// added to `secret_id` and `secret_key`.
fn keyed_provider(endpoint: &str, config: &[(&str, &str)], secrets: &[(&str, &str)]) -> String {
    let app = SDK_APP_ID.to_string();
    let mut all_config = vec![("region", "\"ap-guangzhou\""), ("sdk_app_id", app.as_str())];
    all_config.extend_from_slice(config);
    let mut all_secrets = vec![
        ("secret_id", TRTC_SECRET_ID),
        ("secret_key", TRTC_SECRET_KEY),
    ];
    all_secrets.extend_from_slice(secrets);
    provider_toml(
        "trtc",
        "tencent-trtc",
        endpoint,
        "",
        &all_config,
        &all_secrets,
    )
}

/// A pull-in start on `trtc` without `options.user_sig`.
fn without_user_sig(room: &str) -> Value {
    let mut body = pull_in("trtc", room);
    body["options"] = json!({});
    body
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// Without `options.user_sig`, the plugin generates the UserSig from `sdk_secret_key` (the
/// host computes the HMAC) and the simulator verifies it with its own TLSSigAPIv2.
#[tokio::test]
async fn user_sig_is_generated_from_the_sdk_secret_key() {
    let sim = keyed_sim().await;
    let gw = gateway(&keyed_provider(
        &sim.base_url(),
        &[],
        &[("sdk_secret_key", TRTC_SDK_SECRET_KEY)],
    ))
    .await;
    let started = call(&gw, "POST", "/v1/ingests", Some(without_user_sig("42"))).await;
    assert_eq!(started.status, 201, "{}", started.text);
    assert_eq!(
        sim.user_sigs_verified(),
        1,
        "the simulator checked the UserSig"
    );
    let sent = sim.tasks()[0].user_sig.clone();
    assert_eq!(
        ingest_sim::tencent::verify_user_sig(
            &sent,
            "relay-bot",
            SDK_APP_ID,
            TRTC_SDK_SECRET_KEY,
            unix_now()
        ),
        Ok(())
    );
    let doc = ingest_sim::tencent::decode_user_sig(&sent).expect("document");
    assert_eq!(doc["TLS.identifier"], "relay-bot");
    assert_eq!(doc["TLS.sdkappid"], SDK_APP_ID);
    assert_eq!(doc["TLS.expire"], 15_552_000, "Tencent's default, 180 days");
    let made = doc["TLS.time"].as_i64().expect("TLS.time");
    assert!((made - unix_now()).abs() < 60, "the call's clock: {made}");
    // The generated ticket is the vendor's business: it is not in the client's answer.
    assert!(!started.text.contains(&sent), "{}", started.text);
    assert_no_secrets("the log", "");

    // `user_sig_expire_secs` sets the validity; out of range is refused before the vendor.
    let gw = gateway(&keyed_provider(
        &sim.base_url(),
        &[("user_sig_expire_secs", "3600")],
        &[("sdk_secret_key", TRTC_SDK_SECRET_KEY)],
    ))
    .await;
    let started = call(&gw, "POST", "/v1/ingests", Some(without_user_sig("43"))).await;
    assert_eq!(started.status, 201, "{}", started.text);
    let doc = ingest_sim::tencent::decode_user_sig(&sim.tasks()[1].user_sig).expect("document");
    assert_eq!(doc["TLS.expire"], 3600);
    let gw = gateway(&keyed_provider(
        &sim.base_url(),
        &[("user_sig_expire_secs", "5")],
        &[("sdk_secret_key", TRTC_SDK_SECRET_KEY)],
    ))
    .await;
    let a = call(&gw, "POST", "/v1/ingests", Some(without_user_sig("44"))).await;
    assert_refused(&a, 400, "user_sig_expire_secs");
    assert_eq!(sim.request_count(), 2, "the refused start never left");
}

/// A wrong `sdk_secret_key`: the simulator refuses the UserSig as Tencent does
/// (`InvalidParameter.UserSig`) and the caller gets the mapped error.
#[tokio::test]
async fn a_wrong_sdk_secret_key_is_refused_by_the_vendor() {
    let sim = keyed_sim().await;
    let gw = gateway(&keyed_provider(
        &sim.base_url(),
        &[],
        &[("sdk_secret_key", "not-the-applications-sdk-key")],
    ))
    .await;
    let a = call(&gw, "POST", "/v1/ingests", Some(without_user_sig("42"))).await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert_eq!(a.json["kind"], "invalid-argument", "{}", a.text);
    assert_eq!(
        a.json["vendor_code"], "InvalidParameter.UserSig",
        "{}",
        a.text
    );
    assert_eq!(a.json["retryable"], false);
    assert!(a.json["vendor_request_id"].is_string(), "{}", a.text);
    assert!(
        a.json["detail"]
            .as_str()
            .is_some_and(|d| d.contains("sdk_secret_key")),
        "{}",
        a.text
    );
    assert_eq!(sim.request_count(), 1, "the start reached the simulator");
    assert_eq!(sim.user_sigs_verified(), 0);
    assert!(sim.tasks().is_empty());
}

/// `options.user_sig` overrides generation: it is sent verbatim even when the provider has an
/// `sdk_secret_key`.
#[tokio::test]
async fn options_user_sig_overrides_the_generated_one() {
    let sim = keyed_sim().await;
    let gw = gateway(&keyed_provider(
        &sim.base_url(),
        &[],
        &[("sdk_secret_key", TRTC_SDK_SECRET_KEY)],
    ))
    .await;
    // A valid ticket the application made itself (here: the simulator, 10 minutes).
    let given = sim.user_sig("relay-bot", 600).expect("keyed simulator");
    let mut body = pull_in("trtc", "42");
    body["options"]["user_sig"] = given.clone().into();
    let started = call(&gw, "POST", "/v1/ingests", Some(body)).await;
    assert_eq!(started.status, 201, "{}", started.text);
    assert_eq!(sim.tasks()[0].user_sig, given, "sent verbatim");
    assert_eq!(sim.user_sigs_verified(), 1);

    // An invalid one is still the caller's choice: sent as is, and refused by the vendor.
    let a = call(&gw, "POST", "/v1/ingests", Some(pull_in("trtc", "43"))).await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert_eq!(
        a.json["vendor_code"], "InvalidParameter.UserSig",
        "{}",
        a.text
    );
    let sent = sim.requests()[1].body_json().expect("JSON body");
    assert_eq!(sent["UserSig"], "eJyrVkrNSMxSslIyNDBQ", "{sent}");
    assert_eq!(sim.user_sigs_verified(), 1);
}

/// Posts a callback with its own headers to the gateway core.
async fn post_callback(
    gw: &ingest_gateway::Gateway,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Answer {
    let headers = header_refs(headers);
    call_with(
        gw,
        "POST",
        "/v1/callbacks/trtc",
        &headers,
        Bytes::from(body),
    )
    .await
}

fn ingest_event(task_id: &str, event_type: u32, status: Option<u8>) -> CallbackEvent {
    CallbackEvent {
        event_type,
        task_id: task_id.to_string(),
        status,
    }
}

/// A gateway whose TRTC provider has both optional secrets, and one started ingest: (gateway,
/// handle, TaskId).
async fn started_with_callbacks(sim: &TencentSim) -> (ingest_gateway::Gateway, String, String) {
    let gw = gateway(&keyed_provider(
        &sim.base_url(),
        &[],
        &[
            ("sdk_secret_key", TRTC_SDK_SECRET_KEY),
            ("callback_key", TRTC_CALLBACK_KEY),
        ],
    ))
    .await;
    let started = call(&gw, "POST", "/v1/ingests", Some(without_user_sig("42"))).await;
    assert_eq!(started.status, 201, "{}", started.text);
    let id = started.json["id"].as_str().expect("id").to_string();
    let task_id = started.json["session"]["vendor_task_id"]
        .as_str()
        .expect("task id")
        .to_string();
    (gw, id, task_id)
}

/// Tencent's stream-ingest callbacks (701 status, 702 stopped), signed with the callback key,
/// become events on the handle `start` returned.
#[tokio::test]
async fn signed_callbacks_become_events_on_the_same_handle() {
    let sim = keyed_sim().await;
    let (gw, id, task_id) = started_with_callbacks(&sim).await;

    let cb = sim.signed_callback(&ingest_event(&task_id, 701, Some(0)));
    let a = post_callback(&gw, &cb.headers, cb.body).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json["provider"], "trtc");
    assert_eq!(
        a.json["id"],
        id.as_str(),
        "the callback names the started ingest"
    );
    assert_eq!(a.json["event"]["state"], "running", "{}", a.text);
    assert_eq!(a.json["event"]["vendor_event"], "EventType=701 Status=0");
    assert_eq!(a.json["event"]["vendor_task_id"], task_id.as_str());
    assert!(a.json["event"]["occurred_at_ms"].is_u64(), "{}", a.text);

    // The callback's handle opens the same ingest.
    let status = call(&gw, "GET", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(status.json["state"], "running", "{}", status.text);

    for (event_type, status, state) in [
        (701, Some(2), "starting"),
        (701, Some(1), "failed"),
        (702, None, "stopped"),
    ] {
        let cb = sim.signed_callback(&ingest_event(&task_id, event_type, status));
        let a = post_callback(&gw, &cb.headers, cb.body).await;
        assert_eq!(a.status, 200, "{event_type}/{status:?}: {}", a.text);
        assert_eq!(
            a.json["event"]["state"], state,
            "{event_type}/{status:?}: {}",
            a.text
        );
        assert_eq!(a.json["id"], id.as_str());
    }
    assert_eq!(sim.request_count(), 2, "callbacks never call the vendor");
}

/// Altered, unsigned, foreign or stale callbacks are the caller's failure (401); without the
/// secret `callback_key` the plugin says what is missing (501).
#[tokio::test]
async fn tampered_unsigned_or_stale_callbacks_are_unauthenticated() {
    let sim = keyed_sim().await;
    let (gw, _, task_id) = started_with_callbacks(&sim).await;
    let good = sim.signed_callback(&ingest_event(&task_id, 701, Some(0)));
    let set = |cb: &SimCallback, name: &str, value: Option<&str>| -> Vec<(String, String)> {
        cb.headers
            .iter()
            .filter_map(|(k, v)| match (k.eq_ignore_ascii_case(name), value) {
                (true, Some(value)) => Some((k.clone(), value.to_string())),
                (true, None) => None,
                (false, _) => Some((k.clone(), v.clone())),
            })
            .collect()
    };
    let altered = String::from_utf8(good.body.clone())
        .expect("utf-8")
        .replace("\"Status\":0", "\"Status\":1");
    assert_ne!(
        altered.as_bytes(),
        good.body.as_slice(),
        "the body was altered"
    );
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let stale = sim.callback_at(&ingest_event(&task_id, 701, Some(0)), now_ms - 3_600_000);
    let cases = [
        (
            good.headers.clone(),
            altered.into_bytes(),
            "an altered body",
        ),
        (
            set(
                &good,
                "Sign",
                Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
            ),
            good.body.clone(),
            "a forged Sign",
        ),
        (set(&good, "Sign", None), good.body.clone(), "no Sign"),
        (
            set(&good, "SdkAppId", Some("1400000001")),
            good.body.clone(),
            "another application",
        ),
        (
            stale.headers.clone(),
            stale.body.clone(),
            "an hour-old callback",
        ),
    ];
    for (headers, body, why) in cases {
        let a = post_callback(&gw, &headers, body).await;
        assert_eq!(a.status, 401, "{why}: {}", a.text);
        assert_eq!(a.json["kind"], "unauthenticated", "{why}: {}", a.text);
    }

    // Without the callback key: unsupported, naming the secret.
    let gw = gateway(&keyed_provider(
        &sim.base_url(),
        &[],
        &[("sdk_secret_key", TRTC_SDK_SECRET_KEY)],
    ))
    .await;
    let a = post_callback(&gw, &good.headers, good.body).await;
    assert_refused(&a, 501, "callback_key");
    assert_eq!(sim.request_count(), 1, "callbacks never call the vendor");
}

#[tokio::test]
async fn update_changes_the_running_task_through_update_stream_ingest() {
    let sim = sim().await;
    let gw = gateway(&trtc_provider("trtc", &sim.base_url(), "")).await;
    let started = call(&gw, "POST", "/v1/ingests", Some(pull_in("trtc", "42"))).await;
    assert_eq!(started.status, 201, "{}", started.text);
    let id = started.json["id"].as_str().expect("id").to_string();
    let path = format!("/v1/ingests/{id}");

    let updated = patch(
        &gw,
        &id,
        json!({
            "stream_url": "https://media.example.com/live/backup.flv",
            "options": {"volume": 35, "is_pause": true},
        }),
    )
    .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(
        updated.json["id"],
        id.as_str(),
        "the task id does not change"
    );
    assert!(updated.json.get("replaces").is_none(), "{}", updated.text);
    assert!(
        updated.json["vendor_request_id"].is_string(),
        "{}",
        updated.text
    );
    let task = &sim.tasks()[0];
    assert_eq!(task.stream_url, "https://media.example.com/live/backup.flv");
    assert_eq!((task.volume, task.paused), (35, true));

    // Resume only: the source and volume stay as they are.
    let resumed = patch(&gw, &id, json!({"options": {"is_pause": false}})).await;
    assert_eq!(resumed.status, 200, "{}", resumed.text);
    let task = &sim.tasks()[0];
    assert_eq!((task.volume, task.paused), (35, false));
    assert_eq!(task.stream_url, "https://media.example.com/live/backup.flv");

    // Status and stop still work on the same handle.
    let status = call(&gw, "GET", &path, None).await;
    assert_eq!(status.json["state"], "running", "{}", status.text);
    let stopped = call(&gw, "DELETE", &path, None).await;
    assert_eq!(stopped.status, 200, "{}", stopped.text);

    // The vendor no longer runs the task: it answers success with `Status: NotExist`, which
    // is the task gone, not an update done.
    let sent = sim.request_count();
    let gone = patch(&gw, &id, json!({"options": {"volume": 50}})).await;
    assert_problem(&gone, 404, "not-found", "NotExist");
    assert_eq!(
        sim.request_count(),
        sent + 1,
        "the update reached the vendor"
    );
    assert_eq!(sim.tasks()[0].volume, 35, "nothing changed");
}

/// A task whose source finished (Tencent ended it): `UpdateStreamIngest` answers success with
/// `Status: "NotExist"` (the official SDK's `UpdateStreamIngestResponse`), and the gateway
/// answers `404 not-found`, never `updated`. A TaskId Tencent never issued comes back as the
/// error code `FailedOperation.TaskNotExist`: `404` too.
#[tokio::test]
async fn update_of_a_finished_task_is_not_found() {
    let sim = sim().await;
    let gw = gateway(&trtc_provider("trtc", &sim.base_url(), "")).await;
    let started = call(&gw, "POST", "/v1/ingests", Some(pull_in("trtc", "42"))).await;
    assert_eq!(started.status, 201, "{}", started.text);
    let id = started.json["id"].as_str().expect("id").to_string();
    let task_id = sim.tasks()[0].task_id.clone();
    assert!(sim.finish_task(&task_id));

    let gone = patch(
        &gw,
        &id,
        json!({"stream_url": "https://media.example.com/live/next.flv"}),
    )
    .await;
    assert_eq!(gone.status, 404, "{}", gone.text);
    assert_eq!(gone.json["kind"], "not-found", "{}", gone.text);
    assert_eq!(gone.json["retryable"], false, "{}", gone.text);
    assert!(gone.json.get("updated").is_none(), "{}", gone.text);
    assert!(
        gone.json["vendor_request_id"].is_string(),
        "the vendor's request id is kept: {}",
        gone.text
    );
    // The simulator answered success with Status NotExist (no error code to pass on).
    assert!(
        gone.json["detail"]
            .as_str()
            .is_some_and(|d| d.contains("Status `NotExist`")),
        "{}",
        gone.text
    );
    assert!(gone.json.get("vendor_code").is_none(), "{}", gone.text);
    assert_eq!(
        sim.tasks()[0].stream_url,
        "rtmp://media.example.com/live/source"
    );
    // The status agrees.
    let status = call(&gw, "GET", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(status.json["state"], "not-found", "{}", status.text);
}

/// `Tempo` takes only Tencent's seven speeds, at start and at update: anything else is refused
/// before the vendor, naming the allowed set; an allowed one reaches the task.
#[tokio::test]
async fn tempo_outside_tencents_speeds_is_refused_before_the_vendor() {
    let sim = sim().await;
    let gw = gateway(&trtc_provider("trtc", &sim.base_url(), "")).await;
    let allowed = "0.5, 0.75, 1.0, 1.25, 1.5, 1.75 and 2.0";

    let mut body = pull_in("trtc", "42");
    body["options"]["tempo"] = json!(1.3);
    let refused = call(&gw, "POST", "/v1/ingests", Some(body.clone())).await;
    assert_invalid(&refused, "`options.tempo`");
    assert!(refused.text.contains(allowed), "{}", refused.text);
    // The refused value is named bounded: an object by its type only, a string escaped and
    // cut to 64 characters.
    let mut failures = Failures::default();
    for (bad, shown) in [
        (
            json!({"speed": "x".repeat(5000)}),
            "`options.tempo` is an object;".to_owned(),
        ),
        (
            json!(format!("\"\n{}", "x".repeat(5000))),
            format!(
                "`options.tempo` is {:?}… (5002 characters);",
                format!("\"\n{}", "x".repeat(62))
            ),
        ),
    ] {
        body["options"]["tempo"] = bad;
        let refused = call(&gw, "POST", "/v1/ingests", Some(body.clone())).await;
        failures.expect_invalid(&refused, &shown);
        assert!(!refused.text.contains(&"x".repeat(63)), "{}", refused.text);
    }
    failures.assert_none();
    assert_eq!(sim.request_count(), 0, "a refused start reached the vendor");

    body["options"]["tempo"] = json!(1.5);
    let started = call(&gw, "POST", "/v1/ingests", Some(body)).await;
    assert_eq!(started.status, 201, "{}", started.text);
    assert_eq!(
        sim.tasks()[0].tempo,
        1.5,
        "the start's Tempo reached the task"
    );
    let id = started.json["id"].as_str().expect("id").to_string();

    let sent = sim.request_count();
    let mut failures = Failures::default();
    for bad in [json!(1.3), json!(0), json!(2.5), json!("fast")] {
        let refused = patch(&gw, &id, json!({"options": {"tempo": bad}})).await;
        failures.expect_invalid(&refused, "`options.tempo`");
        assert!(refused.text.contains(allowed), "{bad}: {}", refused.text);
    }
    failures.assert_none();
    assert_eq!(
        sim.request_count(),
        sent,
        "a refused update reached the vendor"
    );
    let updated = patch(&gw, &id, json!({"options": {"tempo": 0.75}})).await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(sim.tasks()[0].tempo, 0.75);
}

#[tokio::test]
async fn update_refuses_what_it_cannot_change_before_the_vendor() {
    let sim = sim().await;
    let gw = gateway(&trtc_provider("trtc", &sim.base_url(), "")).await;
    let started = call(&gw, "POST", "/v1/ingests", Some(pull_in("trtc", "42"))).await;
    let id = started.json["id"].as_str().expect("id").to_string();
    let sent = sim.request_count();
    for (body, needle) in [
        (json!({"options": {"volum": 40}}), "`options.volum`"),
        (json!({"options": {"room_id": "43"}}), "`options.room_id`"),
        (json!({"options": {"volume": 201}}), "`options.volume`"),
        (
            json!({"stream_url": "ftp://media.example.com/a"}),
            "`stream_url`",
        ),
    ] {
        let refused = patch(&gw, &id, body.clone()).await;
        assert_eq!(refused.status, 400, "{body}: {}", refused.text);
        assert!(refused.text.contains(needle), "{body}: {}", refused.text);
    }
    assert_eq!(sim.request_count(), sent, "nothing reached the vendor");
    assert_eq!(sim.tasks()[0].volume, 100);
}

#[test]
fn call_dry_run_shows_the_signed_update_request() {
    let dir = temp_dir("trtc-update-dry-run");
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        trtc_provider("trtc", "https://trtc.tencentcloudapi.com", ""),
    )
    .expect("config");
    let input = dir.join("update.json");
    std::fs::write(
        &input,
        r#"{"session_ref": "task-7", "options": {"volume": 20}}"#,
    )
    .expect("input");
    let respond = dir.join("respond.json");
    std::fs::write(
        &respond,
        r#"{"status": 200, "headers": [], "body": "{\"Response\":{\"Status\":\"InProgress\",\"RequestId\":\"r-1\"}}"}"#,
    )
    .expect("respond");
    let (out, err, ok) = run_cli(&[
        "call",
        "--config",
        config.to_str().expect("utf-8"),
        "--provider",
        "trtc",
        "update",
        "--input",
        input.to_str().expect("utf-8"),
        "--dry-run",
        "--respond",
        respond.to_str().expect("utf-8"),
    ]);
    assert!(ok, "{out}\n{err}");
    let printed: Value = serde_json::from_str(&out).expect("JSON");
    let request = &printed["requests"][0];
    let header = |name: &str| {
        request["headers"]
            .as_array()
            .expect("headers")
            .iter()
            .find(|h| h[0].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name)))
            .map(|h| h[1].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(header("x-tc-action").as_deref(), Some("UpdateStreamIngest"));
    let body: Value = serde_json::from_str(request["body"].as_str().expect("body")).expect("JSON");
    assert_eq!(
        body,
        json!({"SdkAppId": SDK_APP_ID, "TaskId": "task-7", "Volume": 20})
    );
    assert_eq!(printed["result"]["ok"]["vendor_request_id"], "r-1");
    assert_no_secrets("call update output", &out);
}

/// With `private_map_privileges`, every start gets a PrivateMapKey generated from
/// `sdk_secret_key` for its own room (integer or string) and user; the simulator verifies it
/// with its own implementation of the permission record. `options.private_map_key` overrides.
#[tokio::test]
async fn private_map_key_is_generated_for_the_room_and_verified() {
    let sim = keyed_sim().await;
    let gw = gateway(&keyed_provider(
        &sim.base_url(),
        &[("private_map_privileges", "22")],
        &[("sdk_secret_key", TRTC_SDK_SECRET_KEY)],
    ))
    .await;
    let started = call(&gw, "POST", "/v1/ingests", Some(without_user_sig("42"))).await;
    assert_eq!(started.status, 201, "{}", started.text);
    let mut string_room = without_user_sig("lobby-7");
    string_room["options"] = json!({"room_id_type": 0});
    let started = call(&gw, "POST", "/v1/ingests", Some(string_room)).await;
    assert_eq!(started.status, 201, "{}", started.text);
    let tasks = sim.tasks();
    assert_eq!(tasks[0].private_map_privileges, Some(22), "integer room 42");
    assert_eq!(tasks[1].private_map_privileges, Some(22), "string room");

    // A ticket that is not one does not pass the simulator's check.
    let mut forged = without_user_sig("43");
    forged["options"] = json!({"private_map_key": "not-a-ticket"});
    let refused = call(&gw, "POST", "/v1/ingests", Some(forged)).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(
        refused.text.contains("PrivateMapKey") || refused.text.contains("UserSig"),
        "{}",
        refused.text
    );

    // Out of range: refused before the vendor, naming the key.
    let gw = gateway(&keyed_provider(
        &sim.base_url(),
        &[("private_map_privileges", "256")],
        &[("sdk_secret_key", TRTC_SDK_SECRET_KEY)],
    ))
    .await;
    let before = sim.request_count();
    let a = call(&gw, "POST", "/v1/ingests", Some(without_user_sig("44"))).await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert!(a.text.contains("private_map_privileges"), "{}", a.text);
    assert_eq!(sim.request_count(), before);
}
