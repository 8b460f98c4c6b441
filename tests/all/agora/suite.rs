use std::path::PathBuf;

use bytes::Bytes;
use ingest_gateway::Operation;
use ingest_gateway::{CallOptions, Gateway};
use ingest_sim::agora::{AgoraSim, AgoraSimConfig, NoticeEvent, SimNotice};
use ingest_sim::server::Fault;
use serde_json::{Value, json};

use crate::support::*;

/// The compiled-artifact cache shared by this module's gateways.
fn cache_dir() -> String {
    super::cache_dir()
}

/// The TOML of provider `ag` ([`PLUGIN`]) pointed at `endpoint`, with the simulator's project
/// and credentials, `secret` as the customer secret, and the shared artifact cache.
fn toml(endpoint: &str, cfg: &AgoraSimConfig, secret: &str) -> String {
    toml_with(endpoint, cfg, secret, None)
}

/// [`toml`] with the optional secret `notification_secret` when given.
fn toml_with(
    endpoint: &str,
    cfg: &AgoraSimConfig,
    secret: &str,
    notification_secret: Option<&str>,
) -> String {
    let app_id = format!("\"{}\"", cfg.app_id);
    let mut secrets = vec![
        ("customer_id", cfg.customer_id.as_str()),
        ("customer_secret", secret),
    ];
    if let Some(n) = notification_secret {
        secrets.push(("notification_secret", n));
    }
    format!(
        "[runtime]\ncache_dir = \"{}\"\n{}",
        cache_dir(),
        provider_toml(
            "ag",
            PLUGIN,
            endpoint,
            "",
            &[("app_id", &app_id)],
            &secrets,
        )
    )
}

/// [`toml`] with extra provider config keys (`(key, TOML value)`).
fn toml_config(endpoint: &str, cfg: &AgoraSimConfig, config: &[(&str, &str)]) -> String {
    let app_id = format!("\"{}\"", cfg.app_id);
    let mut keys = vec![("app_id", app_id.as_str())];
    keys.extend_from_slice(config);
    format!(
        "[runtime]\ncache_dir = \"{}\"\n{}",
        cache_dir(),
        provider_toml(
            "ag",
            PLUGIN,
            endpoint,
            "",
            &keys,
            &[
                ("customer_id", cfg.customer_id.as_str()),
                ("customer_secret", cfg.customer_secret.as_str()),
            ],
        )
    )
}

/// A gateway for the simulator; the first call in the test binary compiles the component into
/// the cache while the others wait for it.
async fn gateway_for(sim: &AgoraSim, secret: &str) -> Gateway {
    gateway_from(toml(&sim.base_url(), sim.config(), secret)).await
}

/// A gateway for the simulator with its credentials and, when given, `notification_secret`.
async fn gateway_with_notices(sim: &AgoraSim, notification_secret: Option<&str>) -> Gateway {
    let cfg = sim.config();
    gateway_from(toml_with(
        &sim.base_url(),
        cfg,
        &cfg.customer_secret,
        notification_secret,
    ))
    .await
}

async fn gateway_from(text: String) -> Gateway {
    static WARM: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
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
            "account": "4242",
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

    // Every user id goes as an account unless uids are asked for (see
    // `user_id_goes_as_the_account_and_its_token_admits_it`).
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
        .join(format!("agora-dry-run-{PLUGIN}-{}", std::process::id()));
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
    let run = dry_run_twice(&dry_run_args(
        &config,
        "ag",
        "start",
        &input,
        Some(&respond),
    ));
    assert!(run.ok, "{}", run.stderr);
    let first = run.out;
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

// ---- update: PATCH …/players/{id}?sequence={n} ----

/// A started ingest: (handle, player id).
async fn started(gw: &Gateway, sim: &AgoraSim, room: &str, user: &str) -> (String, String) {
    let started = call(gw, "POST", "/v1/ingests", Some(start_body(room, user))).await;
    assert_eq!(started.status, 201, "{}", started.text);
    let id = started.json["id"].as_str().expect("handle").to_string();
    let player = started.json["session"]["vendor_task_id"]
        .as_str()
        .expect("player id")
        .to_string();
    assert!(sim.live().iter().any(|p| p.id == player));
    (id, player)
}

/// The `sequence` query parameter of a recorded PATCH.
fn sequence_of(path_and_query: &str) -> u64 {
    path_and_query
        .split_once("?sequence=")
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or_else(|| panic!("no sequence in {path_and_query}"))
}

#[tokio::test]
async fn update_changes_the_running_player_through_patch() {
    let sim = sim().await;
    let gw = gateway_for(&sim, &sim.config().customer_secret.clone()).await;
    let (id, player) = started(&gw, &sim, "room-u1", "31").await;
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
        "the player does not change"
    );
    assert_eq!(updated.json["updated"], true);
    assert!(updated.json.get("replaces").is_none(), "{}", updated.text);
    assert!(
        updated.json["vendor_request_id"]
            .as_str()
            .is_some_and(|r| r.starts_with("agora-sim-")),
        "{}",
        updated.text
    );
    no_agora_secrets(sim.config(), &updated.text);
    let p = sim
        .live()
        .into_iter()
        .find(|p| p.id == player)
        .expect("player");
    assert_eq!(p.stream_url(), "https://media.example.com/live/backup.flv");
    assert_eq!((p.paused(), p.volume()), (true, Some(35)));
    // What the plugin sent: only what changes, the call's clock as the sequence.
    let sent = sim.requests().last().expect("request").clone();
    assert_eq!(sent.method, "PATCH");
    assert!(
        sent.path_and_query.starts_with(&format!(
            "/na/v1/projects/{}/cloud-player/players/{player}?sequence=",
            sim.config().app_id
        )),
        "{}",
        sent.path_and_query
    );
    let first = sequence_of(&sent.path_and_query);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    assert!(
        first <= now_ms && now_ms - first < 60_000,
        "sequence {first} is the call's clock in ms"
    );
    assert_eq!(
        sent.body_json().expect("json"),
        json!({"player": {
            "streamUrl": "https://media.example.com/live/backup.flv",
            "audioOptions": {"volume": 35},
            "isPause": true,
        }})
    );

    // Resume only: the source and volume stay; a later call sends a later sequence.
    let resumed = patch(&gw, &id, json!({"options": {"is_pause": false}})).await;
    assert_eq!(resumed.status, 200, "{}", resumed.text);
    let p = sim
        .live()
        .into_iter()
        .find(|p| p.id == player)
        .expect("player");
    assert_eq!((p.paused(), p.volume()), (false, Some(35)));
    assert_eq!(p.stream_url(), "https://media.example.com/live/backup.flv");
    let second = sequence_of(&sim.requests().last().expect("request").path_and_query);
    assert!(second > first, "{second} after {first}");
    assert_eq!(p.updates.len(), 2);

    // A caller's own sequence not above the last one: Agora's order is kept, nothing changes.
    let stale = patch(
        &gw,
        &id,
        json!({"options": {"seek_position": 40, "sequence": 1}}),
    )
    .await;
    assert_eq!(stale.status, 409, "{}", stale.text);
    assert_eq!(stale.json["kind"], "failed-precondition", "{}", stale.text);
    assert_eq!(stale.json["vendor_code"], "Conflict");
    let p = sim
        .live()
        .into_iter()
        .find(|p| p.id == player)
        .expect("player");
    assert_eq!(p.updates.len(), 2);
    assert!(p.request.get("seekPosition").is_none());

    // Status and stop still work on the same handle; then the player is gone.
    assert!(sim.set_status(&player, "running"));
    let status = call(&gw, "GET", &path, None).await;
    assert_eq!(status.json["state"], "running", "{}", status.text);
    let stopped = call(&gw, "DELETE", &path, None).await;
    assert_eq!(stopped.status, 200, "{}", stopped.text);
    let gone = patch(&gw, &id, json!({"options": {"volume": 50}})).await;
    assert_eq!(gone.status, 404, "{}", gone.text);
    assert_eq!(gone.json["kind"], "not-found");
    assert_eq!(gone.json["vendor_code"], "NotFound");
}

#[tokio::test]
async fn update_refuses_what_it_cannot_change_before_the_vendor() {
    let sim = sim().await;
    let gw = gateway_for(&sim, &sim.config().customer_secret.clone()).await;
    let (id, _) = started(&gw, &sim, "room-u2", "32").await;
    let sent = sim.request_count();
    for (body, needle) in [
        (json!({"options": {"volum": 40}}), "`options.volum`"),
        (json!({"options": {"room_id": "r"}}), "`options.room_id`"),
        (
            json!({"options": {"idle_timeout": 60}}),
            "`options.idle_timeout`",
        ),
        (json!({"options": {"volume": 201}}), "`options.volume`"),
        (
            json!({"options": {"is_pause": "yes"}}),
            "`options.is_pause`",
        ),
        (
            json!({"options": {"seek_position": -1}}),
            "`options.seek_position`",
        ),
        (json!({"options": {"sequence": 7}}), "changes nothing"),
        // The host refuses this one itself.
        (json!({"options": {}}), "change something"),
        (
            json!({"stream_url": "ftp://media.example.com/a"}),
            "`stream_url`",
        ),
    ] {
        let refused = patch(&gw, &id, body.clone()).await;
        assert_eq!(refused.status, 400, "{body}: {}", refused.text);
        assert_eq!(refused.json["kind"], "invalid-argument", "{body}");
        assert!(refused.text.contains(needle), "{body}: {}", refused.text);
    }
    assert_eq!(sim.request_count(), sent, "nothing reached the vendor");
    assert!(sim.live()[0].updates.is_empty());
}

#[tokio::test]
async fn providers_list_update_and_callbacks() {
    let sim = sim().await;
    let gw = gateway_for(&sim, &sim.config().customer_secret.clone()).await;
    let providers = call(&gw, "GET", "/v1/providers", None).await;
    assert_eq!(providers.status, 200, "{}", providers.text);
    let ag = providers.json["providers"]
        .as_array()
        .expect("providers")
        .iter()
        .find(|p| p["id"] == "ag")
        .expect("ag")
        .clone();
    assert_eq!(ag["version"], "0.3.0", "{ag}");
    let ops: Vec<&str> = ag["operations"]
        .as_array()
        .expect("operations")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(ops, ["start", "stop", "status", "update", "parse-callback"]);
}

// ---- Agora Notifications (NCS) → parse-callback ----

/// The notification secret the tests configure (the simulator's).
fn notification_secret(sim: &AgoraSim) -> String {
    sim.config().notification_secret.clone()
}

/// Posts a notice to the gateway core, as Agora's notification server would.
async fn post_notice(gw: &Gateway, headers: &[(String, String)], body: Vec<u8>) -> Answer {
    call_with(
        gw,
        "POST",
        "/v1/callbacks/ag",
        &header_refs(headers),
        Bytes::from(body),
    )
    .await
}

/// `notice`'s headers with `name` set to `value` (removed for `None`).
fn with_header(notice: &SimNotice, name: &str, value: Option<&str>) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = notice
        .headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case(name))
        .cloned()
        .collect();
    if let Some(v) = value {
        headers.push((name.to_string(), v.to_string()));
    }
    headers
}

#[tokio::test]
async fn signed_notices_become_events_on_the_same_handle() {
    let sim = sim().await;
    let secret = notification_secret(&sim);
    let gw = gateway_with_notices(&sim, Some(&secret)).await;
    let (id, player) = started(&gw, &sim, "room-n1", "41").await;
    let requests = sim.request_count();

    let n = sim
        .notice(&player, &NoticeEvent::StatusChanged("running".into()))
        .expect("notice");
    let a = post_notice(&gw, &n.headers, n.body.clone()).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json["provider"], "ag");
    assert_eq!(
        a.json["id"],
        id.as_str(),
        "the notice names the started ingest"
    );
    assert_eq!(a.json["event"]["state"], "running", "{}", a.text);
    assert_eq!(
        a.json["event"]["vendor_event"],
        "eventType=4 status=running"
    );
    assert_eq!(a.json["event"]["vendor_task_id"], player.as_str());
    let sent: Value = serde_json::from_slice(&n.body).expect("json");
    assert_eq!(a.json["event"]["occurred_at_ms"], sent["payload"]["lts"]);
    assert!(
        a.json["event"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains(sent["noticeId"].as_str().expect("noticeId"))),
        "{}",
        a.text
    );
    assert!(!a.text.contains(&secret), "{}", a.text);
    assert!(!log_text().contains(&secret), "the secret is in the log");

    // The event's handle opens the same ingest.
    assert!(sim.set_status(&player, "running"));
    let status = call(&gw, "GET", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(status.json["state"], "running", "{}", status.text);

    for (event, state, vendor_event) in [
        (NoticeEvent::Created, "starting", "eventType=1"),
        (
            NoticeEvent::StatusChanged("connecting".into()),
            "starting",
            "eventType=4 status=connecting",
        ),
        (
            NoticeEvent::StatusChanged("success".into()),
            "starting",
            "eventType=4 status=success",
        ),
        (
            NoticeEvent::StatusChanged("failed".into()),
            "failed",
            "eventType=4 status=failed",
        ),
        (
            NoticeEvent::Destroyed("Delete Request".into()),
            "stopped",
            "eventType=3",
        ),
        (
            NoticeEvent::Destroyed("Stream Stopped".into()),
            "stopped",
            "eventType=3",
        ),
        (
            NoticeEvent::Destroyed("Idle Timeout".into()),
            "failed",
            "eventType=3",
        ),
        (
            NoticeEvent::Destroyed("Internal Error".into()),
            "failed",
            "eventType=3",
        ),
    ] {
        let n = sim.notice(&player, &event).expect("notice");
        let a = post_notice(&gw, &n.headers, n.body).await;
        assert_eq!(a.status, 200, "{event:?}: {}", a.text);
        assert_eq!(a.json["event"]["state"], state, "{event:?}: {}", a.text);
        assert_eq!(a.json["event"]["vendor_event"], vendor_event, "{event:?}");
        assert_eq!(a.json["id"], id.as_str(), "{event:?}");
    }
    assert_eq!(
        sim.request_count(),
        requests + 1,
        "notices never call the vendor"
    );
}

/// Unknown Media Pull event types and other products' notices verify and are answered (so
/// Agora does not retry them) as `unknown` events.
#[tokio::test]
async fn unknown_event_types_and_other_products_are_unknown_events() {
    let sim = sim().await;
    let secret = notification_secret(&sim);
    let gw = gateway_with_notices(&sim, Some(&secret)).await;
    let (id, player) = started(&gw, &sim, "room-n2", "42").await;

    let n = sim.notice(&player, &NoticeEvent::Other(9)).expect("notice");
    let a = post_notice(&gw, &n.headers, n.body).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json["event"]["state"], "unknown", "{}", a.text);
    assert_eq!(a.json["event"]["vendor_event"], "eventType=9");
    assert_eq!(
        a.json["id"],
        id.as_str(),
        "the payload still names the player"
    );

    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let rtc = sim.raw_notice(
        1,
        101,
        &json!({"channelName": "room-n2", "ts": now_ms / 1000}),
        now_ms,
    );
    let a = post_notice(&gw, &rtc.headers, rtc.body).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json["event"]["state"], "unknown", "{}", a.text);
    assert_eq!(a.json["event"]["vendor_event"], "productId=1 eventType=101");
    assert!(a.json["id"].is_null(), "{}", a.text);
}

/// Forged, altered, unsigned or stale notices are the caller's failure (401); without the
/// secret `notification_secret` the plugin says what is missing (501).
#[tokio::test]
async fn forged_altered_or_stale_notices_are_refused() {
    let sim = sim().await;
    let secret = notification_secret(&sim);
    let gw = gateway_with_notices(&sim, Some(&secret)).await;
    let (_, player) = started(&gw, &sim, "room-n3", "43").await;
    let good = sim
        .notice(&player, &NoticeEvent::StatusChanged("running".into()))
        .expect("notice");
    let altered = String::from_utf8(good.body.clone())
        .expect("utf-8")
        .replace("\"running\"", "\"failed\"");
    assert_ne!(
        altered.as_bytes(),
        good.body.as_slice(),
        "the body was altered"
    );
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let stale = sim
        .notice_at(
            &player,
            &NoticeEvent::StatusChanged("running".into()),
            now_ms - 3_600_000,
        )
        .expect("notice");
    // Signed with another secret (the V1 header left as it was).
    let (_, foreign) = ingest_sim::agora::notice_signatures("another-secret", &good.body);
    let cases = [
        (
            good.headers.clone(),
            altered.into_bytes(),
            "an altered body",
        ),
        (
            with_header(&good, "Agora-Signature-V2", Some(&foreign)),
            good.body.clone(),
            "another secret",
        ),
        (
            with_header(&good, "Agora-Signature-V2", Some(&"0".repeat(64))),
            good.body.clone(),
            "a forged signature",
        ),
        (
            with_header(&good, "Agora-Signature-V2", None),
            good.body.clone(),
            "no Agora-Signature-V2",
        ),
        (
            stale.headers.clone(),
            stale.body.clone(),
            "an hour-old notice",
        ),
    ];
    for (headers, body, why) in cases {
        let a = post_notice(&gw, &headers, body).await;
        assert_eq!(a.status, 401, "{why}: {}", a.text);
        assert_eq!(a.json["kind"], "unauthenticated", "{why}: {}", a.text);
        assert!(!a.text.contains(&secret), "{why}: {}", a.text);
    }
    let a = post_notice(&gw, &stale.headers, stale.body.clone()).await;
    assert!(
        a.json["detail"]
            .as_str()
            .is_some_and(|d| d.contains("notifyMs")),
        "{}",
        a.text
    );
    // The good one still verifies (nothing above was a lucky pass).
    let a = post_notice(&gw, &good.headers, good.body.clone()).await;
    assert_eq!(a.status, 200, "{}", a.text);

    // Without the secret: unsupported, naming it.
    let gw = gateway_with_notices(&sim, None).await;
    let a = post_notice(&gw, &good.headers, good.body).await;
    assert_refused(&a, 501, "notification_secret");
    assert!(!log_text().contains(&secret), "the secret is in the log");
}

// ---- identity: uid (Number) and account (String) are different users; player names ----

/// The App Certificate of the simulator's project in the identity tests: tokens are checked.
const APP_CERTIFICATE: &str = "0123456789abcdef0123456789abcdef";

async fn sim_with_tokens() -> AgoraSim {
    AgoraSim::start(AgoraSimConfig::for_tests().with_app_certificate(APP_CERTIFICATE))
        .await
        .expect("simulator starts")
}

/// A start for `user` in `room` with `token`, the given `options` added, no display name.
fn identity_start(room: &str, user: &str, token: &str, options: Value) -> Value {
    let mut body = json!({
        "provider": "ag",
        "direction": "pull-in",
        "room_id": room,
        "user_id": user,
        "stream_url": "rtmp://media.example.com/live/source",
        "options": {"token": token},
    });
    for (k, v) in options.as_object().expect("object") {
        body["options"][k] = v.clone();
    }
    body
}

/// Agora's `uid` (a Number) and `account` (a String) are different users: a token built for
/// the account "007" does not admit uid 7. `user_id` "007" goes as the account "007" (never
/// as uid 7), the simulator's token check admits the player, and the ingest is not failed.
#[tokio::test]
async fn user_id_goes_as_the_account_and_its_token_admits_it() {
    let sim = sim_with_tokens().await;
    let gw = gateway_for(&sim, &sim.config().customer_secret.clone()).await;
    let token = sim.token_for_account("room-id1", "007");
    let started = call(
        &gw,
        "POST",
        "/v1/ingests",
        Some(identity_start("room-id1", "007", &token, json!({}))),
    )
    .await;
    assert_eq!(started.status, 201, "{}", started.text);
    let player = &sim.players()[0];
    assert_eq!(player.account(), Some("007"), "{:?}", player.request);
    assert_eq!(player.uid(), None, "{:?}", player.request);
    assert_eq!(player.token_error, None, "the token admits the player");
    let id = started.json["id"].as_str().expect("handle").to_string();
    let status = call(&gw, "GET", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(status.json["state"], "starting", "{}", status.text);

    // Digits alone never make a uid: "42" is the account "42".
    let token = sim.token_for_account("room-id1", "42");
    let started = call(
        &gw,
        "POST",
        "/v1/ingests",
        Some(identity_start("room-id1", "42", &token, json!({}))),
    )
    .await;
    assert_eq!(started.status, 201, "{}", started.text);
    assert_eq!(sim.players()[1].account(), Some("42"));
    assert_eq!(sim.players()[1].token_error, None);
}

/// Integer uids only when asked for — `options.user_id_as = "uid"` or the provider config key
/// `user_id_as = "uid"` — and then only a canonical uid: "007" is refused before the vendor
/// (it would join as uid 7, another user than its token's), "7" goes as the Number 7.
#[tokio::test]
async fn uids_only_when_asked_for_and_only_canonical() {
    let sim = sim_with_tokens().await;
    let gw = gateway_for(&sim, &sim.config().customer_secret.clone()).await;
    let uid = json!({"user_id_as": "uid"});
    let mut failures = Failures::default();
    for user in ["007", "0", "4294967296", "+7", "7 ", "bot"] {
        let refused = call(
            &gw,
            "POST",
            "/v1/ingests",
            Some(identity_start("room-id2", user, "t", uid.clone())),
        )
        .await;
        let quoted = serde_json::to_string(user).expect("a JSON string");
        failures.expect_invalid(&refused, &format!("`user_id` {quoted} is not an Agora uid"));
    }
    failures.assert_none();
    assert_eq!(sim.request_count(), 0, "a refused start reached the vendor");

    let token = sim.token_for_uid("room-id2", 7);
    let started = call(
        &gw,
        "POST",
        "/v1/ingests",
        Some(identity_start("room-id2", "7", &token, uid.clone())),
    )
    .await;
    assert_eq!(started.status, 201, "{}", started.text);
    let sent = sim.requests()[0].body_json().expect("json body");
    assert_eq!(sent["player"]["uid"], json!(7), "{sent}");
    assert!(sent["player"].get("account").is_none(), "{sent}");
    assert_eq!(
        sim.players()[0].token_error,
        None,
        "uid 7's token admits uid 7"
    );

    // The same through the provider config; options.user_id_as = "account" overrides it.
    let gw = gateway_from(toml_config(
        &sim.base_url(),
        sim.config(),
        &[("user_id_as", "\"uid\"")],
    ))
    .await;
    let token = sim.token_for_uid("room-id3", 42);
    let started = call(
        &gw,
        "POST",
        "/v1/ingests",
        Some(identity_start("room-id3", "42", &token, json!({}))),
    )
    .await;
    assert_eq!(started.status, 201, "{}", started.text);
    assert_eq!(sim.players()[1].uid(), Some(42));
    let refused = call(
        &gw,
        "POST",
        "/v1/ingests",
        Some(identity_start("room-id3", "007", "t", json!({}))),
    )
    .await;
    assert_invalid(&refused, "the provider config key `user_id_as`");
    let token = sim.token_for_account("room-id3", "007");
    let started = call(
        &gw,
        "POST",
        "/v1/ingests",
        Some(identity_start(
            "room-id3",
            "007",
            &token,
            json!({"user_id_as": "account"}),
        )),
    )
    .await;
    assert_eq!(started.status, 201, "{}", started.text);
    assert_eq!(sim.players()[2].account(), Some("007"));
    assert_eq!(sim.players()[2].token_error, None);
}

/// The player name the plugin derives without `display_name` (plugins/agora-js README,
/// "Player names"), computed here independently: `user_id`'s first 47 characters with every
/// character outside `a-z A-Z 0-9 - _` replaced by `_`, `-`, and the FNV-1a 64 hash of
/// `room_id + "\0" + user_id` in 16 lowercase hex digits.
fn derived_name(room: &str, user: &str) -> String {
    let stem: String = user
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(47)
        .collect();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in format!("{room}\0{user}").bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{stem}-{hash:016x}")
}

/// The player `name` takes only `a-z A-Z 0-9 - _` (at most 64): an explicit `display_name`
/// outside that is refused before the vendor; without one, the user id and the channel give a
/// valid name, the same every time (so Agora's name uniqueness still stops a second player for
/// the same user in the same channel).
#[tokio::test]
async fn player_names_follow_agoras_rule() {
    let sim = sim().await;
    let gw = gateway_for(&sim, &sim.config().customer_secret.clone()).await;
    let mut failures = Failures::default();
    for name in ["relay 1", "relay.1", "relé", "", &"x".repeat(65)] {
        let mut body = identity_start("room-n1", "bot-1", "t", json!({}));
        body["display_name"] = json!(name);
        let refused = call(&gw, "POST", "/v1/ingests", Some(body)).await;
        failures.expect_invalid(&refused, "`display_name`");
        assert!(
            refused.text.contains("a-z, A-Z, 0-9"),
            "{name}: {}",
            refused.text
        );
    }
    failures.assert_none();
    assert_eq!(sim.request_count(), 0, "a refused start reached the vendor");

    let odd = "relay bot#1 (studio)";
    let started = call(
        &gw,
        "POST",
        "/v1/ingests",
        Some(identity_start("room-n1", odd, "t", json!({}))),
    )
    .await;
    assert_eq!(started.status, 201, "{}", started.text);
    let player = sim.players()[0].clone();
    assert_eq!(player.account(), Some(odd));
    let name = player.request["name"].as_str().expect("a name").to_string();
    assert!(
        (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{name}"
    );
    assert!(name.starts_with("relay_bot_1__studio_-"), "{name}");
    assert_eq!(name, derived_name("room-n1", odd));
    // The same user in the same channel again while it runs: the same name, so Agora refuses
    // a second player.
    let again = call(
        &gw,
        "POST",
        "/v1/ingests",
        Some(identity_start("room-n1", odd, "t", json!({}))),
    )
    .await;
    assert_eq!(again.status, 409, "{}", again.text);
    assert_eq!(again.json["kind"], "already-exists", "{}", again.text);
    // A user id that differs only in the replaced characters gets another name.
    let other = call(
        &gw,
        "POST",
        "/v1/ingests",
        Some(identity_start(
            "room-n1",
            "relay bot#1 [studio]",
            "t",
            json!({}),
        )),
    )
    .await;
    assert_eq!(other.status, 201, "{}", other.text);
    let other_name = sim.players()[1].request["name"].clone();
    assert_ne!(other_name, json!(name));
    // A valid user id gets the hash too (the channel is in it); a valid display_name is sent
    // as given.
    let valid = call(
        &gw,
        "POST",
        "/v1/ingests",
        Some(identity_start("room-n1", "bot-3", "t", json!({}))),
    )
    .await;
    assert_eq!(valid.status, 201, "{}", valid.text);
    let valid_name = sim.players()[2].request["name"].clone();
    assert_eq!(valid_name, json!(derived_name("room-n1", "bot-3")));
    let mut body = identity_start("room-n1", "bot-2", "t", json!({}));
    body["display_name"] = json!("Relay_2-a");
    let named = call(&gw, "POST", "/v1/ingests", Some(body)).await;
    assert_eq!(named.status, 201, "{}", named.text);
    assert_eq!(sim.players()[3].request["name"], "Relay_2-a");
}

/// Agora's player names are unique in the whole project, not per channel: the same relay user
/// (no `display_name`) starts in two channels at once — the derived names differ because the
/// channel is part of them — while a second start in the same channel is still refused.
#[tokio::test]
async fn the_same_user_starts_in_two_channels() {
    let sim = sim().await;
    let gw = gateway_for(&sim, &sim.config().customer_secret.clone()).await;
    for user in ["relay-bot", "relay bot#2"] {
        let mut names = Vec::new();
        for room in ["room-a", "room-b"] {
            let started = call(
                &gw,
                "POST",
                "/v1/ingests",
                Some(identity_start(room, user, "t", json!({}))),
            )
            .await;
            assert_eq!(started.status, 201, "{user} in {room}: {}", started.text);
            let player = sim.players().pop().expect("a player");
            assert_eq!((player.channel(), player.account()), (room, Some(user)));
            let name = player.request["name"].as_str().expect("a name").to_owned();
            assert_eq!(name, derived_name(room, user), "{user} in {room}");
            names.push(name);
        }
        assert_ne!(names[0], names[1], "{user}");
        let again = call(
            &gw,
            "POST",
            "/v1/ingests",
            Some(identity_start("room-b", user, "t", json!({}))),
        )
        .await;
        assert_eq!(again.status, 409, "{user}: {}", again.text);
        assert_eq!(again.json["kind"], "already-exists", "{}", again.text);
        assert!(
            again
                .text
                .contains("this user already has a player in this channel"),
            "{}",
            again.text
        );
    }
    assert_eq!(sim.live().len(), 4);
}

/// `user_id_as` is read the same way from the option as from the provider config: surrounding
/// whitespace trimmed, then exactly `account` or `uid`.
#[tokio::test]
async fn user_id_as_is_trimmed_in_the_option_as_in_the_config() {
    let sim = sim().await;
    let gw = gateway_for(&sim, &sim.config().customer_secret.clone()).await;
    for (given, uid) in [(" uid\t", true), ("\naccount ", false)] {
        let started = call(
            &gw,
            "POST",
            "/v1/ingests",
            Some(identity_start(
                "room-t1",
                "77",
                "t",
                json!({"user_id_as": given}),
            )),
        )
        .await;
        assert_eq!(started.status, 201, "{given:?}: {}", started.text);
        let player = sim.players().pop().expect("a player");
        assert_eq!(
            (player.uid(), player.account()),
            if uid {
                (Some(77), None)
            } else {
                (None, Some("77"))
            },
            "{given:?}"
        );
        let stop = call(
            &gw,
            "DELETE",
            &format!("/v1/ingests/{}", started.json["id"].as_str().expect("id")),
            None,
        )
        .await;
        assert!(stop.status < 300, "{}", stop.text);
    }
    let gw = gateway_from(toml_config(
        &sim.base_url(),
        sim.config(),
        &[("user_id_as", "\" uid \"")],
    ))
    .await;
    let started = call(
        &gw,
        "POST",
        "/v1/ingests",
        Some(identity_start("room-t2", "78", "t", json!({}))),
    )
    .await;
    assert_eq!(started.status, 201, "{}", started.text);
    assert_eq!(sim.players().pop().expect("a player").uid(), Some(78));
    // Case matters, and a value that is not a string is refused, in either place.
    let mut failures = Failures::default();
    for bad in [json!("UID"), json!(1), json!(["uid"])] {
        let refused = call(
            &gw,
            "POST",
            "/v1/ingests",
            Some(identity_start(
                "room-t2",
                "79",
                "t",
                json!({"user_id_as": bad}),
            )),
        )
        .await;
        failures.expect_invalid(&refused, "`options.user_id_as`");
    }
    failures.assert_none();
    let gw = gateway_from(toml_config(
        &sim.base_url(),
        sim.config(),
        &[("user_id_as", "\"Uid\"")],
    ))
    .await;
    let refused = call(
        &gw,
        "POST",
        "/v1/ingests",
        Some(identity_start("room-t2", "79", "t", json!({}))),
    )
    .await;
    assert_invalid(&refused, "the provider config key `user_id_as` is \"Uid\"");
    assert_eq!(sim.live().len(), 1, "the two option starts were stopped");
}

/// A refused caller value is repeated in the error escaped and cut: a JSON string of at most
/// 64 characters then its length, never the whole value or a raw control character.
#[tokio::test]
async fn refused_values_are_quoted_and_cut_in_errors() {
    let sim = sim().await;
    let gw = gateway_for(&sim, &sim.config().customer_secret.clone()).await;
    let long = format!("bad\n`name` {}", "z".repeat(200));
    let head: String = long.chars().take(64).collect();
    let shown = format!(
        "{}… ({} characters)",
        serde_json::to_string(&head).expect("a JSON string"),
        long.chars().count()
    );
    let mut named = identity_start("room-e1", "bot-e", "t", json!({}));
    named["display_name"] = json!(long);
    let cases = [
        (named, format!("`display_name` {shown} cannot be")),
        (
            identity_start("room-e1", &long, "t", json!({})),
            format!("`user_id` {shown} must be"),
        ),
        (
            identity_start("room-e1", &long, "t", json!({"user_id_as": "uid"})),
            format!("`user_id` {shown} is not an Agora uid"),
        ),
    ];
    let mut failures = Failures::default();
    for (body, expected) in cases {
        let refused = call(&gw, "POST", "/v1/ingests", Some(body)).await;
        failures.expect_invalid(&refused, &expected);
        let detail = refused.json["detail"].as_str().expect("detail");
        assert!(!detail.contains(&"z".repeat(60)), "{detail}");
        assert!(!detail.contains('\n'), "{detail}");
    }
    failures.assert_none();
    assert_eq!(sim.request_count(), 0, "a refused start reached the vendor");
}

/// `call start --dry-run` shows what Agora would receive: `user_id` "007" as
/// `"account": "007"`, never `"uid": 7`.
#[tokio::test]
async fn call_start_dry_run_shows_the_account() {
    let sim = sim().await;
    // Warm the cache (the CLI reads the same config, so it loads the compiled component).
    let _ = gateway_for(&sim, &sim.config().customer_secret.clone()).await;
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("agora-dry-run-account-{PLUGIN}-{}", std::process::id()));
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
    std::fs::write(
        &input,
        identity_start("room-7", "007", "007eJxTYBBa", json!({})).to_string(),
    )
    .expect("input");
    let respond = dir.join("respond.json");
    std::fs::write(
        &respond,
        json!({"status": 200, "headers": [["x-request-id", "agora-7"]],
               "body": json!({"player": {"id": "pl-7", "account": "007", "status": "connecting"}}).to_string()})
        .to_string(),
    )
    .expect("respond");
    let (out, err, ok) = run_cli(&dry_run_args(
        &config,
        "ag",
        "start",
        &input,
        Some(&respond),
    ));
    assert!(ok, "{out}\n{err}");
    let printed: Value = serde_json::from_str(&out).expect("JSON");
    let body: Value = serde_json::from_str(
        printed["requests"][0]["body"]
            .as_str()
            .expect("the request body, as text"),
    )
    .expect("a JSON body");
    assert_eq!(body["player"]["account"], "007", "{body}");
    assert!(body["player"].get("uid").is_none(), "{body}");
    // Derived from the channel and the user (no display_name).
    assert_eq!(body["player"]["name"], "007-8ad3fa813c16864f", "{body}");
    assert_eq!(
        body["player"]["name"],
        derived_name("room-7", "007"),
        "{body}"
    );
    no_agora_secrets(sim.config(), &out);
    assert_eq!(sim.request_count(), 0, "a dry run sent a request");
}
