//! Tencent TRTC end to end: gateway → plugin component → simulator.

use ingest_sim::server::Fault;
use ingest_sim::tencent::{TencentSim, TencentSimConfig};

use crate::support::*;

async fn sim() -> TencentSim {
    TencentSim::start(TencentSimConfig {
        secret_id: TRTC_SECRET_ID.to_string(),
        secret_key: TRTC_SECRET_KEY.to_string(),
        sdk_app_id: SDK_APP_ID,
        max_skew_secs: 300,
    })
    .await
    .expect("simulator starts")
}

#[tokio::test]
async fn start_status_stop_round_trip() {
    let sim = sim().await;
    let gw = gateway(&trtc_provider("trtc", &sim.base_url(), "")).await;

    let started = call(&gw, "POST", "/v1/ingests", Some(pull_in("trtc", "room-42"))).await;
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
    assert_eq!(tasks[0].room_id, "room-42");
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
    for (i, room) in ["r1", "r2", "r3"].into_iter().enumerate() {
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
    let refused = call(&gw, "POST", "/v1/ingests", Some(pull_in("trtc", "r4"))).await;
    assert!(refused.status >= 500, "{}", refused.text);
    let started = call(&gw, "POST", "/v1/ingests", Some(pull_in("trtc", "r5"))).await;
    assert_eq!(started.status, 201, "{}", started.text);
    assert_eq!(sim.connections_accepted(), 2);
}

#[tokio::test]
async fn over_real_http_with_request_id() {
    let sim = sim().await;
    let gw = std::sync::Arc::new(gateway(&trtc_provider("trtc", &sim.base_url(), "")).await);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(ingest_gateway::server::serve(gw, listener, async {
        let _ = stop_rx.await;
    }));

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

    let _ = stop_tx.send(());
    server
        .await
        .expect("server task")
        .expect("server ends cleanly");
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
    let body = ingest_gateway::api::StartBody::parse(pull_in("trtc", "1").to_string().as_bytes())
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

    let mut no_sig = pull_in("trtc", "1");
    no_sig["options"] = serde_json::json!({});
    let a = call(&gw, "POST", "/v1/ingests", Some(no_sig)).await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert!(
        a.json["detail"]
            .as_str()
            .is_some_and(|d| d.contains("user_sig")),
        "{}",
        a.text
    );

    let mut unknown = pull_in("trtc", "1");
    unknown["colour"] = "blue".into();
    let a = call(&gw, "POST", "/v1/ingests", Some(unknown)).await;
    assert_eq!(a.status, 400);
    assert!(
        a.json["detail"]
            .as_str()
            .is_some_and(|d| d.contains("colour")),
        "{}",
        a.text
    );

    let mut bad_url = pull_in("trtc", "1");
    bad_url["stream_url"] = "not a url".into();
    let a = call(&gw, "POST", "/v1/ingests", Some(bad_url)).await;
    assert_eq!(a.status, 400);
    assert!(
        a.json["detail"]
            .as_str()
            .is_some_and(|d| d.contains("stream_url")),
        "{}",
        a.text
    );

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
    let toml = trtc_provider("trtc", &sim.base_url(), "")
        .replace("allow_private = true", "allow_private = false");
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
    // TRTC publishes no callback spec: the plugin says so instead of accepting anything.
    let cb = call(
        &gw,
        "POST",
        "/v1/callbacks/trtc",
        Some(serde_json::json!({"x": 1})),
    )
    .await;
    assert_eq!(cb.status, 501, "{}", cb.text);
    assert_eq!(cb.json["kind"], "unsupported");
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
