//! Agora Media Pull through the JavaScript plugin (`plugins/agora-js`, componentize-js) and the
//! real host, against the Agora simulator.
//!
//! The component embeds a JS engine and takes tens of seconds to compile, so every gateway here
//! shares one artifact cache: the first test compiles it (once, the others wait), the rest load
//! it in milliseconds. The component itself is built by scripts/build-js-plugins.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ingest_gateway::{CallOptions, Gateway};
use ingest_gateway::{CannedResponse, EgressMode};
use ingest_gateway::{Operation, Outcome};
use ingest_sim::agora::{AgoraSim, AgoraSimConfig};
use ingest_sim::server::Fault;
use serde_json::{Value, json};

use crate::support::*;

/// The compiled-artifact cache shared by this module's gateways.
fn cache_dir() -> String {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("agora-js-cache")
        .to_string_lossy()
        .into_owned()
}

/// The TOML of provider `ag` (agora-js) pointed at `endpoint`, with the simulator's project
/// and credentials, `secret` as the customer secret, and the shared artifact cache.
fn toml(endpoint: &str, cfg: &AgoraSimConfig, secret: &str) -> String {
    let app_id = format!("\"{}\"", cfg.app_id);
    format!(
        "[runtime]\ncache_dir = \"{}\"\n{}",
        cache_dir(),
        provider_toml(
            "ag",
            "agora-js",
            endpoint,
            "",
            &[("app_id", &app_id)],
            &[
                ("customer_id", &cfg.customer_id),
                ("customer_secret", secret)
            ],
        )
    )
}

/// A gateway for the simulator; the first call in the test binary compiles the component into
/// the cache while the others wait for it.
async fn gateway_for(sim: &AgoraSim, secret: &str) -> Gateway {
    static WARM: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let text = toml(&sim.base_url(), sim.config(), secret);
    WARM.get_or_init(|| async {
        let _ = gateway(&text).await;
    })
    .await;
    gateway(&text).await
}

async fn sim() -> AgoraSim {
    AgoraSim::start(AgoraSimConfig::for_tests())
        .await
        .expect("simulator starts")
}

fn start_body(room: &str, user: &str) -> Value {
    json!({
        "provider": "ag",
        "direction": "pull-in",
        "room_id": room,
        "user_id": user,
        "display_name": format!("relay-{user}"),
        "stream_url": "rtmp://media.example.com/live/source",
        "options": {"token": "007eJxTYBBaRTC", "idle_timeout": 120, "repeat_time": -1,
                    "video_options": {"width": 1280, "height": 720}},
    })
}

/// Asserts that none of the simulator's secret values shows in `text`.
fn no_agora_secrets(cfg: &AgoraSimConfig, text: &str) {
    assert!(
        !text.contains(&cfg.customer_secret),
        "secret leaked: {text}"
    );
    assert!(
        !text.contains(&cfg.customer_id),
        "customer id leaked: {text}"
    );
    let log = log_text();
    assert!(!log.contains(&cfg.customer_secret), "secret in the log");
}

#[tokio::test]
async fn start_status_stop_against_the_simulator() {
    let sim = sim().await;
    let gw = gateway_for(&sim, &sim.config().customer_secret.clone()).await;

    let started = call(
        &gw,
        "POST",
        "/v1/ingests",
        Some(start_body("room-1", "4242")),
    )
    .await;
    assert_eq!(started.status, 201, "{}", started.text);
    no_agora_secrets(sim.config(), &started.text);
    let players = sim.live();
    assert_eq!(players.len(), 1);
    let player = &players[0];
    assert_eq!(
        started.json["session"]["vendor_task_id"],
        player.id.as_str()
    );
    // What the plugin sent, as the simulator received it (the simulator checked Basic auth).
    let sent = &sim.requests()[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(
        sent.path_and_query,
        format!(
            "/na/v1/projects/{}/cloud-player/players",
            sim.config().app_id
        )
    );
    assert!(
        sent.header("authorization")
            .is_some_and(|a| a.starts_with("Basic "))
    );
    assert!(sent.header("x-request-id").is_some());
    assert_eq!(
        sent.body_json().expect("json body"),
        json!({"player": {
            "streamUrl": "rtmp://media.example.com/live/source",
            "channelName": "room-1",
            "token": "007eJxTYBBaRTC",
            "uid": 4242,
            "idleTimeout": 120,
            "name": "relay-4242",
            "repeatTime": -1,
            "videoOptions": {"width": 1280, "height": 720},
        }})
    );
    // The vendor request id is the simulator's own X-Request-ID.
    assert!(
        started.json["session"]["vendor_request_id"]
            .as_str()
            .is_some_and(|r| r.starts_with("agora-sim-")),
        "{}",
        started.text
    );

    let id = started.json["id"].as_str().expect("handle").to_string();
    let status = call(&gw, "GET", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(status.status, 200, "{}", status.text);
    assert_eq!(status.json["state"], "starting");
    assert_eq!(status.json["vendor_state"], "connecting");
    assert!(sim.set_status(&player.id, "running"));
    let status = call(&gw, "GET", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(status.json["state"], "running", "{}", status.text);
    let filter = &sim.requests()[2].path_and_query;
    assert!(
        filter.ends_with("?filter=channelName%20eq%20room-1"),
        "{filter}"
    );

    // A user id that is not a 32-bit number goes as an account.
    let other = call(
        &gw,
        "POST",
        "/v1/ingests",
        Some(start_body("room-1", "bot-α")),
    )
    .await;
    assert_eq!(
        other.status, 400,
        "Agora allows no such character: {}",
        other.text
    );
    let other = call(
        &gw,
        "POST",
        "/v1/ingests",
        Some(start_body("room-1", "bot-7")),
    )
    .await;
    assert_eq!(other.status, 201, "{}", other.text);
    assert_eq!(sim.live()[1].request["account"], "bot-7");

    let stopped = call(&gw, "DELETE", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(stopped.status, 200, "{}", stopped.text);
    assert_eq!(sim.live().len(), 1);
    let status = call(&gw, "GET", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(status.json["state"], "not-found", "{}", status.text);
    // Stopping again: Agora no longer knows the player.
    let again = call(&gw, "DELETE", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(again.status, 404, "{}", again.text);
    assert_eq!(again.json["kind"], "not-found");
}

#[tokio::test]
async fn vendor_errors_map_to_kinds() {
    let sim = sim().await;
    let gw = gateway_for(&sim, &sim.config().customer_secret.clone()).await;
    let start = || call(&gw, "POST", "/v1/ingests", Some(start_body("room-2", "7")));

    let first = start().await;
    assert_eq!(first.status, 201, "{}", first.text);
    // The same player name again: Agora's conflict.
    let dup = start().await;
    assert_eq!(
        (dup.status, dup.json["kind"].as_str()),
        (409, Some("already-exists")),
        "{}",
        dup.text
    );
    assert_eq!(dup.json["vendor_code"], "Conflict");

    let cases: [(Fault, u16, &str, bool); 4] = [
        (Fault::Status(503), 503, "unavailable", true),
        (
            Fault::status_with_headers(429, &[("retry-after", "7")]),
            429,
            "rate-limited",
            true,
        ),
        (
            Fault::VendorError {
                code: "403".into(),
                message: "Media Pull is not enabled".into(),
            },
            403,
            "permission-denied",
            false,
        ),
        (Fault::MalformedBody, 502, "vendor-internal", false),
    ];
    for (fault, status, kind, retryable) in cases {
        sim.fail_next(fault.clone());
        let body = start_body("room-3", &format!("{status}"));
        let answer = call(&gw, "POST", "/v1/ingests", Some(body)).await;
        assert_eq!(answer.status, status, "{fault:?}: {}", answer.text);
        assert_eq!(answer.json["kind"], kind, "{fault:?}: {}", answer.text);
        assert_eq!(
            answer.json["retryable"], retryable,
            "{fault:?}: {}",
            answer.text
        );
    }
    // Retry-After is kept.
    sim.fail_next(Fault::status_with_headers(429, &[("retry-after", "7")]));
    let limited = call(&gw, "POST", "/v1/ingests", Some(start_body("room-3", "8"))).await;
    assert_eq!(limited.json["retry_after_secs"], 7, "{}", limited.text);
    assert_eq!(
        limited.headers.get("retry-after").map(|v| v.as_bytes()),
        Some(&b"7"[..])
    );
}

#[tokio::test]
async fn a_wrong_secret_is_unauthenticated_and_never_shown() {
    let sim = sim().await;
    let gw = gateway_for(&sim, "not-the-customer-secret").await;
    let answer = call(&gw, "POST", "/v1/ingests", Some(start_body("room-4", "9"))).await;
    assert_eq!(answer.status, 502, "{}", answer.text);
    assert_eq!(answer.json["kind"], "unauthenticated");
    assert_eq!(answer.json["vendor_code"], "Unauthorized");
    assert_eq!(
        answer.json["vendor_message"],
        "Invalid authentication credentials"
    );
    assert!(
        answer.json["detail"]
            .as_str()
            .is_some_and(|d| d.contains("customer_secret"))
    );
    assert!(!answer.text.contains("not-the-customer-secret"));
    no_agora_secrets(sim.config(), &answer.text);
    // The simulator decoded a Basic credential carrying the wrong secret.
    let auth = sim.requests()[0]
        .header("authorization")
        .expect("authorization")
        .to_string();
    assert!(
        !auth.contains("{{"),
        "the placeholder was substituted: {auth}"
    );
    assert!(sim.live().is_empty());
}

#[tokio::test]
async fn requests_are_validated_before_any_vendor_call() {
    let sim = sim().await;
    let gw = gateway_for(&sim, &sim.config().customer_secret.clone()).await;
    let cases: [(Value, u16, &str); 7] = [
        (
            json!({"stream_url": "ftp://media.example.com/a"}),
            400,
            "stream_url",
        ),
        (json!({"stream_url": null}), 400, "stream_url"),
        (json!({"direction": "push-out"}), 501, "direction"),
        (json!({"media": "audio-only"}), 501, "media"),
        (json!({"room_id": "room/with/slashes"}), 400, "room_id"),
        (
            json!({"options": {"idle_timeout": 0}}),
            400,
            "options.idle_timeout",
        ),
        (
            json!({"options": {"video_options": [1]}}),
            400,
            "options.video_options",
        ),
    ];
    for (patch, status, field) in cases {
        let mut body = start_body("room-5", "10");
        for (k, v) in patch.as_object().expect("object") {
            if v.is_null() {
                body.as_object_mut().expect("object").remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        let answer = call(&gw, "POST", "/v1/ingests", Some(body)).await;
        assert_eq!(answer.status, status, "{patch}: {}", answer.text);
        assert!(
            answer.json["detail"]
                .as_str()
                .is_some_and(|d| d.contains(field)),
            "{patch}: {}",
            answer.text
        );
    }
    assert_eq!(
        sim.request_count(),
        0,
        "a refused request reached the vendor"
    );
    // A session reference the plugin did not make is refused without a request too.
    let provider = gw.provider("ag").expect("provider").clone();
    let (result, report) = gw
        .call(
            &provider,
            Operation::Stop(ingest_gateway::types::StopRequest {
                session_ref: "not json".into(),
            }),
            CallOptions::default(),
        )
        .await;
    assert_eq!(
        result.expect_err("refused").kind.as_str(),
        "invalid-argument"
    );
    assert!(report.requests.is_empty());
}

#[tokio::test]
async fn dry_run_output_is_identical_twice() {
    let sim = sim().await;
    // Warm the cache (the CLI reads the same config, so it loads the compiled component).
    let _ = gateway_for(&sim, &sim.config().customer_secret.clone()).await;
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("agora-dry-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        toml(
            "https://api.agora.io",
            sim.config(),
            &sim.config().customer_secret,
        ),
    )
    .expect("config");
    let input = dir.join("start.json");
    std::fs::write(&input, start_body("room-6", "11").to_string()).expect("input");
    let respond = dir.join("respond.json");
    std::fs::write(
        &respond,
        json!({"status": 200, "headers": [["x-request-id", "agora-1"]],
               "body": json!({"player": {"id": "pl-6", "status": "connecting"}}).to_string()})
        .to_string(),
    )
    .expect("respond");
    let run = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ingest-gateway"))
            .args(["call", "--config"])
            .arg(&config)
            .args(["--provider", "ag", "start", "--input"])
            .arg(&input)
            .args([
                "--now",
                "1700000000",
                "--nonce",
                "n0nce",
                "--dry-run",
                "--respond",
            ])
            .arg(&respond)
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let (first, second) = (run(), run());
    assert_eq!(first, second, "dry-run output differs between runs");
    no_agora_secrets(sim.config(), &first);
    let out: Value = serde_json::from_str(&first).expect("json");
    let req = &out["requests"][0];
    assert_eq!(
        req["url"],
        format!(
            "https://api.agora.io/na/v1/projects/{}/cloud-player/players",
            sim.config().app_id
        )
    );
    let headers = req["headers"].to_string();
    assert!(
        headers
            .contains(r#"["authorization","Basic {{secret:basic:customer_id+customer_secret}}"]"#),
        "{headers}"
    );
    assert!(
        headers.contains(r#"["x-request-id","call-n0nce"]"#),
        "{headers}"
    );
    assert_eq!(
        out["result"]["ok"]["session_ref"],
        r#"{"id":"pl-6","channel":"room-6"}"#
    );
    assert_eq!(sim.request_count(), 0, "a dry run sent a request");
}

/// Cold compile and per-call time of the JavaScript plugin next to a Rust plugin's:
/// `cargo test -p ingest-gateway --test all agora::measure -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a measurement, not a check: prints timings"]
async fn measure_compile_and_call_times_js_vs_rust() {
    init();
    let runtime =
        ingest_gateway::Runtime::new(ingest_gateway::RuntimeConfig::default()).expect("runtime");
    for plugin in ["tencent-trtc", "agora-js"] {
        let bytes = std::fs::read(ingest_sim::artifacts::plugin(plugin)).expect("component");
        let t = Instant::now();
        let loaded = runtime.load(plugin, &bytes);
        let compile = t.elapsed();
        assert!(loaded.is_ok(), "{plugin}: {loaded:?}");
        println!(
            "{plugin:>13}: component {:>6.1} KiB, cold compile {:>7.2} s",
            bytes.len() as f64 / 1024.0,
            compile.as_secs_f64()
        );
    }
    // Per call: a dry-run start answered by a canned success, through the whole host
    // (fresh instance per call, signing, egress recording), warm cache.
    let sim = sim().await;
    let ag = gateway_for(&sim, &sim.config().customer_secret.clone()).await;
    let trtc = gateway(&trtc_provider("trtc", "http://127.0.0.1:9101", "")).await;
    let runs: [(&Gateway, &str, Value, &str); 2] = [
        (
            &trtc,
            "trtc",
            pull_in("trtc", "42"),
            r#"{"Response": {"TaskId": "t-1", "RequestId": "r-1"}}"#,
        ),
        (
            &ag,
            "ag",
            start_body("room-m", "12"),
            r#"{"player": {"id": "pl-1", "status": "connecting"}}"#,
        ),
    ];
    const N: u32 = 200;
    for (gw, id, body, answer) in runs {
        let provider = gw.provider(id).expect("provider").clone();
        let request = ingest_gateway::StartBody::parse(body.to_string().as_bytes())
            .expect("body")
            .to_request();
        let mut total = Duration::ZERO;
        let mut instantiate = Duration::ZERO;
        for i in 0..=N {
            let options = CallOptions {
                now_ms: Some(1_700_000_000_000),
                nonce: Some(format!("n{i}")),
                mode: EgressMode::DryRun(Some(CannedResponse {
                    status: 200,
                    headers: Vec::new(),
                    body: answer.to_string(),
                })),
                ..CallOptions::default()
            };
            let t = Instant::now();
            let (result, report) = gw
                .call(&provider, Operation::Start(request.clone()), options)
                .await;
            assert!(
                matches!(result, Ok(Outcome::Started(_))),
                "{id}: {result:?}"
            );
            if i > 0 {
                // The first call warms up; it is not counted.
                total += t.elapsed();
                instantiate += report.instantiate.unwrap_or_default();
            }
        }
        println!(
            "{id:>13}: per start call {:>7.3} ms (instantiation {:.3} ms), mean of {N}",
            total.as_secs_f64() * 1000.0 / f64::from(N),
            instantiate.as_secs_f64() * 1000.0 / f64::from(N)
        );
    }
}
