//! Jocloud Thunder relayed live broadcasting end to end: gateway → `jocloud-thunder`
//! component → simulator, and the byte-identical dry run.

use base64::Engine as _;
use ingest_sim::jocloud::{JocloudSim, JocloudSimConfig, RelayState};
use ingest_sim::server::Fault;
use serde_json::{Value, json};

use crate::support::*;

const APP_ID: u64 = 1_500_000_009;

async fn sim() -> JocloudSim {
    JocloudSim::start(JocloudSimConfig {
        app_id: APP_ID,
        restful_id: JOCLOUD_RESTFUL_ID.to_string(),
        restful_secret: JOCLOUD_RESTFUL_SECRET.to_string(),
    })
    .await
    .expect("simulator starts")
}

fn provider(endpoint: &str, extra: &str, extra_config: &[(&str, &str)]) -> String {
    let app_id = APP_ID.to_string();
    let mut config = vec![("app_id", app_id.as_str())];
    config.extend_from_slice(extra_config);
    provider_toml(
        "jo",
        "jocloud-thunder",
        endpoint,
        extra,
        &config,
        &[
            ("restful_id", JOCLOUD_RESTFUL_ID),
            ("restful_secret", JOCLOUD_RESTFUL_SECRET),
        ],
    )
}

fn push_out(room: &str, options: Value) -> Value {
    json!({
        "provider": "jo",
        "direction": "push-out",
        "room_id": room,
        "user_id": "alice",
        "stream_url": "rtmp://cdn.example.com/live/room",
        "options": options,
    })
}

/// `Basic base64(id:secret)`, computed independently of the host.
fn expected_token() -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{JOCLOUD_RESTFUL_ID}:{JOCLOUD_RESTFUL_SECRET}"))
    )
}

#[tokio::test]
async fn source_relay_start_and_stop() {
    let sim = sim().await;
    let gw = gateway(&provider(&sim.base_url(), "", &[])).await;
    let started = call(
        &gw,
        "POST",
        "/v1/ingests",
        Some(push_out("room-42", json!({}))),
    )
    .await;
    assert_eq!(started.status, 201, "{}", started.text);
    let id = started.json["id"].as_str().expect("id").to_string();
    assert!(started.json["session"]["vendor_task_id"].is_null());
    let trace_id = started.json["session"]["vendor_request_id"]
        .as_str()
        .expect("traceId")
        .to_string();

    let relays = sim.running();
    assert_eq!(relays.len(), 1);
    assert_eq!(relays[0].roomid, "room-42");
    assert_eq!(relays[0].uid.as_deref(), Some("alice"));
    assert_eq!(relays[0].streamtype, 2);
    assert_eq!(relays[0].destinations, ["rtmp://cdn.example.com/live/room"]);
    assert_eq!(relays[0].trace_id, trace_id);

    // On the wire: the documented path, the Basic credential in `token` (substituted by the host).
    let req = &sim.requests()[0];
    assert_eq!(req.method, "POST");
    assert_eq!(
        req.path_and_query,
        format!("/app/{APP_ID}/v2/rtmpforward/startrtmp?traceId={trace_id}")
    );
    assert_eq!(req.header("token"), Some(expected_token().as_str()));
    assert_eq!(
        req.header("content-type"),
        Some("application/json;charset=utf-8")
    );
    assert!(req.header("authorization").is_none());
    assert_eq!(
        req.body_json(),
        Some(json!({"appid": APP_ID, "roomid": "room-42",
                    "rtmpurl": "rtmp://cdn.example.com/live/room", "streamtype": 2, "uid": "alice"}))
    );

    let status = call(&gw, "GET", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(status.status, 501, "{}", status.text);
    assert_eq!(status.json["kind"], "unsupported");

    let stopped = call(&gw, "DELETE", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(stopped.status, 200, "{}", stopped.text);
    assert_eq!(sim.relays()[0].state, RelayState::Stopped);
    assert_eq!(
        sim.requests()[1].body_json(),
        Some(json!({"appid": APP_ID, "roomid": "room-42", "uid": "alice"}))
    );
    // Stopping again: Jocloud knows no such running relay (404 → invalid-argument, per spec).
    let again = call(&gw, "DELETE", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(again.status, 400, "{}", again.text);
    assert_eq!(again.json["vendor_code"], "404");
    assert_no_secrets("the log", "");
}

#[tokio::test]
async fn mixed_relay_to_several_destinations() {
    let sim = sim().await;
    let gw = gateway(&provider(
        &sim.base_url(),
        "",
        &[("path_prefix", "\"v1/recordoss\"")],
    ))
    .await;
    let options = json!({
        "template_id": 2,
        "mix_output": {"width": 720, "height": 1280},
        "task_id": "mix-7",
        "destinations": ["rtmps://cdn2.example.com/live/b", "rtmp://cdn3.example.com/live/c"],
    });
    let started = call(
        &gw,
        "POST",
        "/v1/ingests",
        Some(push_out("room-9", options)),
    )
    .await;
    assert_eq!(started.status, 201, "{}", started.text);
    assert_eq!(started.json["session"]["vendor_task_id"], "mix-7");
    let r = &sim.running()[0];
    assert_eq!(
        (r.streamtype, r.taskid.as_deref(), r.templateid),
        (1, Some("mix-7"), Some(2))
    );
    assert_eq!(r.destinations.len(), 3);
    assert!(
        sim.requests()[0]
            .path_and_query
            .contains("/v1/recordoss/startrtmp?")
    );

    let id = started.json["id"].as_str().expect("id");
    let stopped = call(&gw, "DELETE", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(stopped.status, 200, "{}", stopped.text);
    assert_eq!(
        sim.requests()[1].body_json(),
        Some(json!({"appid": APP_ID, "roomid": "room-9", "taskid": "mix-7"}))
    );
}

/// The spec's status rule (there are no documented codes), reached through vendor errors.
#[tokio::test]
async fn vendor_error_statuses_map_to_normalized_kinds() {
    let sim = sim().await;
    let gw = gateway(&provider(&sim.base_url(), "", &[])).await;
    let cases = [
        ("401", "unauthenticated", 502, false),
        ("403", "unauthenticated", 502, false),
        ("400", "invalid-argument", 400, false),
        ("404", "invalid-argument", 400, false),
        ("409", "invalid-argument", 400, false),
        ("429", "rate-limited", 429, true),
        ("500", "unavailable", 503, true),
        ("503", "unavailable", 503, true),
    ];
    for (code, kind, status, retryable) in cases {
        sim.fail_next(Fault::VendorError {
            code: code.to_string(),
            message: format!("simulated {code}"),
        });
        let a = call(&gw, "POST", "/v1/ingests", Some(push_out("r", json!({})))).await;
        assert_eq!(a.status, status, "{code}: {}", a.text);
        assert_eq!(a.json["kind"], kind, "{code}: {}", a.text);
        assert_eq!(a.json["vendor_code"], code, "{}", a.text);
        assert_eq!(a.json["vendor_message"], format!("simulated {code}"));
        assert_eq!(a.json["retryable"], retryable, "{code}: {}", a.text);
        assert!(
            a.json["vendor_request_id"].is_string(),
            "{code}: {}",
            a.text
        );
        assert_eq!(a.headers["content-type"], "application/problem+json");
    }
    assert!(sim.relays().is_empty());
}

/// Jocloud answers errors with HTTP 200 and a non-zero `code` (the vendor spec): such an answer
/// is an error with the vendor's code and message — in start and in stop — never a success.
#[tokio::test]
async fn a_200_answer_with_a_nonzero_code_is_an_error() {
    let sim = sim().await;
    let gw = gateway(&provider(&sim.base_url(), "", &[])).await;

    // A code Jocloud publishes no meaning for: vendor-internal, code and message kept.
    sim.fail_next(Fault::VendorError {
        code: "20001".to_string(),
        message: "rtmpurl is already used by another task".to_string(),
    });
    let a = call(
        &gw,
        "POST",
        "/v1/ingests",
        Some(push_out("room-7", json!({}))),
    )
    .await;
    assert_eq!(a.status, 502, "{}", a.text);
    assert_eq!(a.json["kind"], "vendor-internal", "{}", a.text);
    assert_eq!(a.json["vendor_code"], "20001", "{}", a.text);
    assert_eq!(
        a.json["vendor_message"], "rtmpurl is already used by another task",
        "{}",
        a.text
    );
    assert_eq!(a.json["retryable"], false, "{}", a.text);
    assert_eq!(a.json["provider"], "jo");
    assert!(a.json["vendor_request_id"].is_string(), "{}", a.text);
    assert!(
        a.json["detail"]
            .as_str()
            .is_some_and(|d| d.contains("HTTP 200") && d.contains("20001")),
        "{}",
        a.text
    );
    assert_eq!(a.headers["content-type"], "application/problem+json");
    assert_eq!(sim.request_count(), 1, "the request reached the simulator");

    // A code that is an HTTP status takes that status's kind, though the answer is a 200.
    let cases = [
        (json!(401), "401", "unauthenticated", 502, false),
        (json!("403"), "403", "unauthenticated", 502, false),
        (json!(400), "400", "invalid-argument", 400, false),
        (json!(503), "503", "unavailable", 503, true),
        (json!(-1), "-1", "vendor-internal", 502, false),
    ];
    for (code, text, kind, status, retryable) in cases {
        sim.fail_next(Fault::Respond(ingest_sim::server::SimResponse::json(
            200,
            &json!({"code": code, "message": format!("simulated {text}")}),
        )));
        let a = call(
            &gw,
            "POST",
            "/v1/ingests",
            Some(push_out("room-7", json!({}))),
        )
        .await;
        assert_eq!(a.status, status, "{text}: {}", a.text);
        assert_eq!(a.json["kind"], kind, "{text}: {}", a.text);
        assert_eq!(a.json["vendor_code"], text, "{}", a.text);
        assert_eq!(a.json["vendor_message"], format!("simulated {text}"));
        assert_eq!(a.json["retryable"], retryable, "{text}: {}", a.text);
    }
    assert!(sim.relays().is_empty(), "no failed start made a relay");

    // Stop: a 200 with a non-zero code is not "stopped"; the relay is still running, and a
    // later stop that the vendor accepts stops it.
    let started = call(
        &gw,
        "POST",
        "/v1/ingests",
        Some(push_out("room-7", json!({}))),
    )
    .await;
    assert_eq!(started.status, 201, "{}", started.text);
    let id = started.json["id"].as_str().expect("id").to_string();
    sim.fail_next(Fault::VendorError {
        code: "20002".to_string(),
        message: "stop failed".to_string(),
    });
    let refused = call(&gw, "DELETE", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(refused.status, 502, "{}", refused.text);
    assert_eq!(refused.json["kind"], "vendor-internal", "{}", refused.text);
    assert_eq!(refused.json["vendor_code"], "20002", "{}", refused.text);
    assert_eq!(refused.json["vendor_message"], "stop failed");
    assert_eq!(sim.running().len(), 1, "the relay is still running");
    let stopped = call(&gw, "DELETE", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(stopped.status, 200, "{}", stopped.text);
    assert_eq!(stopped.json["state"], "stopped", "{}", stopped.text);
    assert!(sim.running().is_empty());
}

#[tokio::test]
async fn wrong_credentials_and_application_are_refused() {
    let sim = sim().await;
    let toml = provider(&sim.base_url(), "", &[])
        .replace(JOCLOUD_RESTFUL_SECRET, "not-the-restful-secret");
    let gw = gateway(&toml).await;
    let a = call(&gw, "POST", "/v1/ingests", Some(push_out("r", json!({})))).await;
    assert_eq!(a.status, 502, "{}", a.text);
    assert_eq!(a.json["kind"], "unauthenticated");
    assert_eq!(a.json["vendor_code"], "401");
    assert_eq!(sim.request_count(), 1, "the request reached the simulator");

    let toml = provider(&sim.base_url(), "", &[]).replace(&APP_ID.to_string(), "1500000077");
    let gw = gateway(&toml).await;
    let a = call(&gw, "POST", "/v1/ingests", Some(push_out("r", json!({})))).await;
    assert_eq!(a.json["kind"], "unauthenticated", "{}", a.text);
    assert_eq!(a.json["vendor_code"], "403");
    assert!(sim.relays().is_empty());
}

#[tokio::test]
async fn invalid_input_is_refused_before_the_vendor() {
    let sim = sim().await;
    let gw = gateway(&provider(&sim.base_url(), "", &[])).await;
    let six: Vec<String> = (1..=5)
        .map(|i| format!("rtmp://cdn.example.com/x/{i}"))
        .collect();
    let mut no_url = push_out("r", json!({}));
    no_url["stream_url"] = Value::Null;
    let mut https = push_out("r", json!({}));
    https["stream_url"] = json!("https://cdn.example.com/live");
    let cases = [
        (no_url, "stream_url"),
        (https, "stream_url"),
        (push_out("r", json!({"destinations": six})), "at most 5"),
        (
            push_out("r", json!({"destinations": ["srt://x/y"]})),
            "options.destinations[0]",
        ),
        (
            push_out(
                "r",
                json!({"destinations": ["rtmp://cdn.example.com/live/room"]}),
            ),
            "repeats",
        ),
        // Scheme and host compare case-insensitively: the same CDN address twice.
        (
            push_out(
                "r",
                json!({"destinations": ["RTMP://CDN.Example.com/live/room"]}),
            ),
            "repeats a destination",
        ),
        (
            push_out("r", json!({"template_id": 9, "mix_output": {}})),
            "options.template_id",
        ),
        (
            push_out("r", json!({"template_id": 1})),
            "options.mix_output",
        ),
        (push_out("r", json!({"task_id": "t"})), "options.task_id"),
    ];
    let mut failures = Failures::default();
    for (body, needle) in cases {
        let a = call(&gw, "POST", "/v1/ingests", Some(body)).await;
        failures.expect_invalid(&a, needle);
    }
    failures.assert_none();
    let mut pull = push_out("r", json!({}));
    pull["direction"] = json!("pull-in");
    let a = call(&gw, "POST", "/v1/ingests", Some(pull)).await;
    assert_eq!(
        (a.status, a.json["kind"].as_str()),
        (501, Some("unsupported"))
    );
    let mut audio = push_out("r", json!({}));
    audio["media"] = json!("audio-only");
    let a = call(&gw, "POST", "/v1/ingests", Some(audio)).await;
    assert_eq!(
        (a.status, a.json["kind"].as_str()),
        (501, Some("unsupported")),
        "{}",
        a.text
    );
    let cb = call(&gw, "POST", "/v1/callbacks/jo", Some(json!({"x": 1}))).await;
    assert_eq!(cb.status, 501, "{}", cb.text);
    assert_eq!(cb.json["kind"], "unsupported");
    assert_eq!(
        sim.request_count(),
        0,
        "no invalid request may reach the vendor"
    );
}

#[tokio::test]
async fn transport_faults() {
    let sim = sim().await;
    let gw = gateway(&provider(
        &sim.base_url(),
        "[providers.egress]\nrequest_timeout_ms = 300",
        &[],
    ))
    .await;
    for (fault, kind) in [
        (Fault::Status(502), "unavailable"),
        (Fault::DropConnection, "unavailable"),
        (Fault::MalformedBody, "vendor-internal"),
        (
            Fault::Delay(std::time::Duration::from_millis(1500)),
            "timeout",
        ),
    ] {
        sim.fail_next(fault.clone());
        let a = call(&gw, "POST", "/v1/ingests", Some(push_out("r", json!({})))).await;
        assert_eq!(a.json["kind"], kind, "{fault:?}: {}", a.text);
    }
}

#[test]
fn dry_run_is_byte_identical_and_never_shows_the_credential() {
    let dir = std::env::temp_dir().join(format!(
        "ingest-gateway-test-jocloud-dry-run-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("gateway.toml");
    std::fs::write(&config, provider("http://127.0.0.1:9105", "", &[])).expect("config");
    let input = dir.join("start.json");
    std::fs::write(
        &input,
        push_out(
            "42",
            json!({"destinations": ["rtmp://cdn2.example.com/live/b"]}),
        )
        .to_string(),
    )
    .expect("input");
    let respond = dir.join("respond.json");
    std::fs::write(
        &respond,
        r#"{"status": 200, "headers": [["content-type", "application/json"]], "body": "{\"code\":0,\"msg\":\"success\"}"}"#,
    )
    .expect("respond");
    let args = dry_run_args(&config, "jo", "start", &input, Some(&respond));
    let run = dry_run_twice(&args);
    assert!(run.ok, "{}", run.stderr);
    let encoded = expected_token();
    for text in [&run.out, &run.stderr] {
        assert!(!text.contains(&encoded[6..]), "the Basic credential leaked");
    }
    let first = run.out;
    let out: Value = serde_json::from_str(&first).expect("json");
    let req = &out["requests"][0];
    assert_eq!(req["method"], "POST");
    assert_eq!(
        req["url"],
        format!("http://127.0.0.1:9105/app/{APP_ID}/v2/rtmpforward/startrtmp?traceId=call-n0nce")
    );
    let headers: Vec<(String, String)> =
        serde_json::from_value(req["headers"].clone()).expect("headers");
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    let token = get("token").expect("token");
    assert!(token.starts_with("Basic {{secret:"), "{token}");
    assert_eq!(
        get("content-type").as_deref(),
        Some("application/json;charset=utf-8")
    );
    assert_eq!(
        req["body"],
        format!(
            r#"{{"appid":{APP_ID},"roomid":"42","rtmpurl":"rtmp://cdn.example.com/live/room,rtmp://cdn2.example.com/live/b","streamtype":2,"uid":"alice"}}"#
        )
    );
    assert_eq!(
        out["result"]["ok"]["session_ref"],
        r#"{"roomid":"42","uid":"alice"}"#
    );
    assert_eq!(out["result"]["ok"]["vendor_request_id"], "call-n0nce");
}

// ---------------------------------------------------------------- update

/// Starts `body` and returns the handle.
async fn started(gw: &ingest_gateway::Gateway, body: Value) -> String {
    let started = call(gw, "POST", "/v1/ingests", Some(body)).await;
    assert_eq!(started.status, 201, "{}", started.text);
    started.json["id"].as_str().expect("id").to_string()
}

/// An update of a mixed relay is `startrtmp` again for the same task with the whole new
/// configuration: Jocloud changes the running task in place, and the handle stays.
#[tokio::test]
async fn update_changes_a_mixed_relays_destinations_and_layout_in_place() {
    let sim = sim().await;
    let gw = gateway(&provider(&sim.base_url(), "", &[])).await;
    let id = started(
        &gw,
        push_out(
            "room-9",
            json!({
                "template_id": 2,
                "mix_output": {"width": 720, "height": 1280},
                "task_id": "mix-7",
                "destinations": ["rtmps://cdn2.example.com/live/b"],
            }),
        ),
    )
    .await;

    let updated = patch(
        &gw,
        &id,
        json!({
            "stream_url": "rtmp://cdn.example.com/live/next",
            "options": {
                "destinations": ["rtmps://cdn2.example.com/live/b", "rtmp://cdn3.example.com/live/c"],
                "template_id": 4,
                "mix_output": {"width": 1280, "height": 720},
            },
        }),
    )
    .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(updated.json["id"], id.as_str(), "the handle stays");
    assert!(updated.json.get("replaces").is_none(), "{}", updated.text);
    assert_eq!(updated.json["provider"], "jo");
    assert_eq!(updated.json["updated"], true);
    let trace_id = updated.json["vendor_request_id"]
        .as_str()
        .expect("traceId")
        .to_string();

    // The simulator changed the running task: no second relay.
    let relays = sim.relays();
    assert_eq!(relays.len(), 1, "{relays:?}");
    let r = &relays[0];
    assert_eq!(r.state, RelayState::Running);
    assert_eq!(
        (r.taskid.as_deref(), r.streamtype, r.templateid),
        (Some("mix-7"), 1, Some(4))
    );
    assert_eq!(
        r.destinations,
        [
            "rtmp://cdn.example.com/live/next",
            "rtmps://cdn2.example.com/live/b",
            "rtmp://cdn3.example.com/live/c"
        ]
    );
    assert_eq!(
        r.mixconfig,
        Some(json!({"output": {"width": 1280, "height": 720}, "templateid": 4}))
    );
    assert_eq!(r.update_trace_ids, std::slice::from_ref(&trace_id));

    // On the wire: the documented startrtmp, signed like a start.
    let req = &sim.requests()[1];
    assert_eq!(
        req.path_and_query,
        format!("/app/{APP_ID}/v2/rtmpforward/startrtmp?traceId={trace_id}")
    );
    assert_eq!(req.header("token"), Some(expected_token().as_str()));
    assert_eq!(
        req.body_json(),
        Some(json!({
            "appid": APP_ID, "roomid": "room-9",
            "rtmpurl": "rtmp://cdn.example.com/live/next,rtmps://cdn2.example.com/live/b,rtmp://cdn3.example.com/live/c",
            "streamtype": 1, "taskid": "mix-7",
            "mixconfig": {"output": {"width": 1280, "height": 720}, "templateid": 4},
        }))
    );

    // The same handle still stops the relay (status stays unsupported: no query API).
    let status = call(&gw, "GET", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(status.status, 501, "{}", status.text);
    let stopped = call(&gw, "DELETE", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(stopped.status, 200, "{}", stopped.text);
    assert_eq!(sim.relays()[0].state, RelayState::Stopped);
    assert_eq!(
        sim.requests()[2].body_json(),
        Some(json!({"appid": APP_ID, "roomid": "room-9", "taskid": "mix-7"}))
    );
    assert_no_secrets("the log", "");
}

/// A source relay's update over the HTTP API: new destinations for the same uid.
#[tokio::test]
async fn update_changes_a_source_relays_destinations_over_http() {
    let sim = sim().await;
    let gw = std::sync::Arc::new(gateway(&provider(&sim.base_url(), "", &[])).await);
    let served = TestServer::start(gw.clone()).await;
    let start = push_out("room-42", json!({})).to_string();
    let started = http(served.addr, "POST", "/v1/ingests", Some(&start)).await;
    assert_eq!(started.status, 201, "{}", started.text);
    let id = started.json["id"].as_str().expect("id").to_string();

    let body = json!({"options": {"destinations": ["rtmp://cdn.example.com/live/a", "rtmp://cdn.example.com/live/b"]}});
    let updated = http(
        served.addr,
        "PATCH",
        &format!("/v1/ingests/{id}"),
        Some(&body.to_string()),
    )
    .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(updated.json["id"], id.as_str());
    let r = &sim.relays()[0];
    assert_eq!(sim.relays().len(), 1);
    assert_eq!(
        (r.uid.as_deref(), r.updates, r.state),
        (Some("alice"), 1, RelayState::Running)
    );
    assert_eq!(
        r.destinations,
        [
            "rtmp://cdn.example.com/live/a",
            "rtmp://cdn.example.com/live/b"
        ]
    );
    assert_eq!(
        sim.requests()[1].body_json(),
        Some(json!({"appid": APP_ID, "roomid": "room-42",
                    "rtmpurl": "rtmp://cdn.example.com/live/a,rtmp://cdn.example.com/live/b",
                    "streamtype": 2, "uid": "alice"}))
    );
    let stopped = http(served.addr, "DELETE", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(stopped.status, 200, "{}", stopped.text);
    assert!(sim.running().is_empty());
    served.stop().await;
}

/// What an update cannot change, or leaves out, is refused before Jocloud is called.
#[tokio::test]
async fn update_refuses_what_it_cannot_change_before_the_vendor() {
    let sim = sim().await;
    let gw = gateway(&provider(&sim.base_url(), "", &[])).await;
    let source = started(&gw, push_out("room-1", json!({}))).await;
    let mut mixed = push_out("room-2", json!({"template_id": 1, "mix_output": {}}));
    mixed["stream_url"] = json!("rtmp://cdn.example.com/live/mixed");
    let mixed = started(&gw, mixed).await;
    let url = "rtmp://cdn.example.com/live/other";
    let cases = [
        // Keys an update does not read: named, with the ones it does.
        (
            &source,
            json!({"stream_url": url, "options": {"task_id": "t"}}),
            "`options.task_id`",
        ),
        (
            &source,
            json!({"stream_url": url, "options": {"template_id": 3}}),
            "`options.template_id`",
        ),
        (
            &mixed,
            json!({"stream_url": url, "options": {"task_id": "t", "template_id": 3, "mix_output": {}}}),
            "`options.task_id`",
        ),
        (
            &mixed,
            json!({"stream_url": url, "options": {"tempalte_id": 3}}),
            "`options.tempalte_id`",
        ),
        // An update that changes nothing.
        (
            &source,
            json!({"options": {"destinations": null}}),
            "must change something",
        ),
        // startrtmp replaces the whole configuration: what it needs must be repeated.
        (&mixed, json!({"stream_url": url}), "`options.mix_output`"),
        (
            &mixed,
            json!({"options": {"template_id": 3, "mix_output": {}}}),
            "`options.destinations`",
        ),
        // The start's own checks.
        (
            &source,
            json!({"stream_url": "https://cdn.example.com/live"}),
            "`stream_url`",
        ),
        (
            &mixed,
            json!({"stream_url": url, "options": {"template_id": 7, "mix_output": {}}}),
            "`options.template_id`",
        ),
    ];
    let mut failures = Failures::default();
    for (id, body, needle) in cases {
        let a = patch(&gw, id, body.clone()).await;
        failures.expect_invalid(&a, needle);
    }
    failures.assert_none();
    let a = patch(
        &gw,
        &source,
        json!({"stream_url": url, "options": {"task_id": "t"}}),
    )
    .await;
    assert!(
        a.json["detail"]
            .as_str()
            .is_some_and(|d| d.contains("it can change: destinations")),
        "{}",
        a.text
    );
    assert_eq!(
        sim.request_count(),
        2,
        "only the two starts reached the vendor"
    );
    assert!(sim.relays().iter().all(|r| r.updates == 0));
}

/// Jocloud's refusal of an update is mapped like a start's, and the relay keeps its old
/// configuration.
#[tokio::test]
async fn update_errors_are_mapped_and_change_nothing() {
    let sim = sim().await;
    let gw = gateway(&provider(&sim.base_url(), "", &[])).await;
    let alice = started(&gw, push_out("room-1", json!({}))).await;
    let mut bob = push_out("room-1", json!({}));
    bob["user_id"] = json!("bob");
    bob["stream_url"] = json!("rtmp://cdn.example.com/live/bob");
    started(&gw, bob).await;

    // Bob's destination is in use by his relay: Jocloud refuses (HTTP 409 → invalid-argument).
    let a = patch(
        &gw,
        &alice,
        json!({"stream_url": "rtmp://cdn.example.com/live/bob"}),
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert_eq!(a.json["kind"], "invalid-argument", "{}", a.text);
    assert_eq!(a.json["vendor_code"], "409", "{}", a.text);
    assert!(a.json["vendor_request_id"].is_string(), "{}", a.text);

    // A code in a 200 body is an error too.
    sim.fail_next(Fault::VendorError {
        code: "20001".to_string(),
        message: "update refused".to_string(),
    });
    let a = patch(
        &gw,
        &alice,
        json!({"stream_url": "rtmp://cdn.example.com/live/new"}),
    )
    .await;
    assert_eq!(a.status, 502, "{}", a.text);
    assert_eq!(a.json["kind"], "vendor-internal", "{}", a.text);
    assert_eq!(a.json["vendor_code"], "20001");
    assert_eq!(a.json["vendor_message"], "update refused");

    let relays = sim.relays();
    assert_eq!(relays.len(), 2);
    assert_eq!(relays[0].destinations, ["rtmp://cdn.example.com/live/room"]);
    assert_eq!(relays[0].updates, 0);
}

/// Jocloud has no query API and `startrtmp` for a task that is not running starts it, so an
/// update of a relay that has been stopped runs it again with the new configuration (the
/// documented choice, see the plugin's README): the stopped relay stays stopped at the vendor
/// and a new one runs, which the same handle stops.
#[tokio::test]
async fn update_of_a_stopped_relay_runs_it_again() {
    let sim = sim().await;
    let gw = gateway(&provider(&sim.base_url(), "", &[])).await;
    let id = started(&gw, push_out("room-5", json!({}))).await;
    let stopped = call(&gw, "DELETE", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(stopped.status, 200, "{}", stopped.text);

    let updated = patch(
        &gw,
        &id,
        json!({"stream_url": "rtmp://cdn.example.com/live/again"}),
    )
    .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    let relays = sim.relays();
    assert_eq!(relays.len(), 2, "{relays:?}");
    assert_eq!(
        (relays[0].state, relays[0].updates),
        (RelayState::Stopped, 0)
    );
    assert_eq!(relays[1].state, RelayState::Running);
    assert_eq!(relays[1].uid.as_deref(), Some("alice"));
    assert_eq!(
        relays[1].destinations,
        ["rtmp://cdn.example.com/live/again"]
    );
    assert_eq!(
        Some(relays[1].trace_id.as_str()),
        updated.json["vendor_request_id"].as_str()
    );
    let stopped = call(&gw, "DELETE", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(stopped.status, 200, "{}", stopped.text);
    assert!(sim.running().is_empty());
}

/// A blank `stream_url` is refused the same way on every path (HTTP start and update, and the
/// embedded `Gateway::start` / `Gateway::update`), before the plugin: the Jocloud plugin used to
/// read a blank one as absent and push to `options.destinations` alone.
#[tokio::test]
async fn a_blank_stream_url_is_refused_on_every_path() {
    let sim = sim().await;
    let gw = gateway(&provider(&sim.base_url(), "", &[])).await;
    let mut blank = push_out(
        "r",
        json!({"destinations": ["rtmp://cdn.example.com/live/b"]}),
    );
    blank["stream_url"] = json!(" ");
    let a = call(&gw, "POST", "/v1/ingests", Some(blank)).await;
    assert_invalid(&a, "`stream_url` is blank");

    let body = ingest_gateway::StartBody::parse(
        push_out(
            "r",
            json!({"destinations": ["rtmp://cdn.example.com/live/b"]}),
        )
        .to_string()
        .as_bytes(),
    )
    .expect("body");
    let mut request = body.to_request();
    request.stream_url = Some(String::new());
    let e = gw
        .start("jo", request, Default::default())
        .await
        .expect_err("blank stream_url");
    assert_eq!(e.kind, ingest_gateway::ErrorKind::InvalidArgument);
    assert!(e.detail.contains("`stream_url` is blank"), "{}", e.detail);

    // An update: PATCH and the embedded call.
    let a = call(&gw, "POST", "/v1/ingests", Some(push_out("r", json!({})))).await;
    assert_eq!(a.status, 201, "{}", a.text);
    let id = a.json["id"].as_str().expect("id").to_string();
    let before = sim.request_count();
    let a = patch(
        &gw,
        &id,
        json!({"stream_url": "", "options": {"destinations": ["rtmp://cdn.example.com/live/c"]}}),
    )
    .await;
    assert_invalid(&a, "`stream_url` is blank");
    let e = gw
        .update(&id, Some("\t".into()), "{}".into(), Default::default())
        .await
        .expect_err("blank stream_url");
    assert_eq!(e.kind, ingest_gateway::ErrorKind::InvalidArgument);
    assert_eq!(sim.request_count(), before, "nothing reached the vendor");
}
