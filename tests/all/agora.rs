//! Agora Media Pull through its two plugins — JavaScript (`plugins/agora-js`, componentize-js)
//! and Python (`plugins/agora-py`, componentize-py) — and the real host, against the Agora
//! simulator. The same suite (`agora/suite.rs`) runs once per plugin (`agora::js::…`,
//! `agora::py::…`), and the two must send the same vendor requests byte for byte.
//!
//! The components embed a language runtime and take seconds to compile, so every gateway here
//! shares one artifact cache: the first test of each plugin compiles it (once, the others
//! wait), the rest load it in milliseconds. The components are built by
//! scripts/build-js-plugins and scripts/build-py-plugins.

use std::path::PathBuf;

use ingest_gateway::{
    CallOptions, CannedResponse, EgressMode, Gateway, Operation, StartBody, UpdateBody, types,
};
use serde_json::{Value, json};

use crate::support::*;

/// The compiled-artifact cache shared by this module's gateways.
fn cache_dir() -> String {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("agora-cache")
        .to_string_lossy()
        .into_owned()
}

/// The suite against the JavaScript plugin.
mod js {
    /// The plugin under test.
    const PLUGIN: &str = "agora-js";
    include!("agora/suite.rs");
}

/// The suite against the Python plugin.
mod py {
    /// The plugin under test.
    const PLUGIN: &str = "agora-py";
    include!("agora/suite.rs");
}

/// Both plugins keep their session references within the contract's one bound: each declares
/// the value the host enforces and the Rust SDK checks (`ingest-contract`), so a change to the
/// bound that forgets a copy fails here.
#[test]
fn session_reference_bound_is_the_contracts() {
    for (file, prefix, end) in [
        ("agora-js/src/plugin.js", "const MAX_SESSION_REF = ", ";"),
        ("agora-py/app.py", "MAX_SESSION_REF = ", ""),
    ] {
        let path = format!("{}/../plugins/{file}", env!("CARGO_MANIFEST_DIR"));
        let source = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let declared: Vec<usize> = source
            .lines()
            .filter_map(|line| line.strip_prefix(prefix))
            .map(|rest| {
                rest.trim_end_matches(end)
                    .trim()
                    .parse()
                    .expect("a decimal bound")
            })
            .collect();
        assert_eq!(
            declared,
            vec![ingest_contract::MAX_SESSION_REF_BYTES],
            "{file} must declare `{prefix}{}{end}` once",
            ingest_contract::MAX_SESSION_REF_BYTES
        );
    }
}

/// A gateway with both plugins as providers `js` and `py`, configured alike (`config`: extra
/// provider config keys).
async fn both(config: &[(&str, &str)]) -> Gateway {
    let mut keys = vec![("app_id", "\"kitagoraapp01\"")];
    keys.extend_from_slice(config);
    let secrets = [
        ("customer_id", "fake-customer-id"),
        ("customer_secret", "fake-customer-secret"),
        ("notification_secret", "fake-notification-secret"),
    ];
    let mut text = format!("[runtime]\ncache_dir = \"{}\"\n", cache_dir());
    for (id, plugin) in [("js", "agora-js"), ("py", "agora-py")] {
        // An endpoint with what WHATWG serialization rewrites: case, the default port.
        text.push_str(&provider_toml(
            id,
            plugin,
            "https://API.Agora.IO:443/",
            "",
            &keys,
            &secrets,
        ));
    }
    gateway(&text).await
}

/// The start inputs the dry-run comparison sends: what the plugins build differently in
/// each language if they are not careful (derived names from characters outside the BMP,
/// numbers JSON writes in several ways, key order, string digits, URL encoding).
fn starts() -> Vec<Value> {
    let base = |user: &str, options: Value| {
        json!({"direction": "pull-in", "room_id": "room 1 (a|b)", "user_id": user,
               "stream_url": "  RTMP://media.example.com/live/ä?x=1 ", "options": options})
    };
    vec![
        base("relay-bot", json!({})),
        base("relay bot#1 ~{x}", json!({"idle_timeout": 600.0})),
        base(
            "relay bot#1 😀 ünï",
            json!({"token": "007eJxTYBBa", "idle_timeout": "30"}),
        ),
        base(
            "4242",
            json!({"user_id_as": " uid ", "play_ts": 5.0, "repeat_time": -1}),
        ),
        base(
            "x",
            json!({"audio_options": {"b": 1, "2": 2.5, "a": [1.0, 1e21, 1e-7, 0.000001], "10": null},
                   "video_options": {"k": "\u{2028}\t\"q\""}}),
        ),
        json!({"direction": "pull-in", "room_id": "r", "user_id": "u", "display_name": "Named_1",
               "stream_url": "https://m.example.com/a.flv"}),
    ]
}

/// The other operations: (operation, its input as the CLI reads it).
fn others() -> Vec<(&'static str, Value)> {
    let session = json!({"id": "pl/1 ä", "channel": "room 1 (a|b) ü"}).to_string();
    vec![
        ("stop", json!({"session_ref": session})),
        ("status", json!({"session_ref": session})),
        (
            "update",
            json!({"session_ref": session, "stream_url": " https://m.example.com/b.flv ",
                   "options": {"volume": 40, "is_pause": false, "seek_position": 12.0,
                               "audio_options": {"volume": 40.0, "z": 1}}}),
        ),
        (
            "update",
            json!({"session_ref": session, "options": {"sequence": "17", "is_pause": true}}),
        ),
    ]
}

/// The operation `op` with `input` as the API reads it (start and update: the API's bodies,
/// `provider` filled in; update, stop and status: a `session_ref`).
fn operation_from_json(op: &str, input: &Value) -> Option<Operation> {
    let session_ref = || input["session_ref"].as_str().map(str::to_string);
    Some(match op {
        "start" => {
            let mut body = input.clone();
            body["provider"] = "js".into();
            Operation::Start(
                StartBody::parse(body.to_string().as_bytes())
                    .ok()?
                    .to_request(),
            )
        }
        "stop" => Operation::Stop(types::StopRequest {
            session_ref: session_ref()?,
        }),
        "status" => Operation::Status(types::StatusRequest {
            session_ref: session_ref()?,
        }),
        "update" => {
            let mut body = input.clone();
            body.as_object_mut()?.remove("session_ref");
            let body = UpdateBody::parse(body.to_string().as_bytes()).ok()?;
            Operation::Update(types::UpdateRequest {
                session_ref: session_ref()?,
                options_json: body.options_json(),
                stream_url: body.stream_url,
            })
        }
        _ => return None,
    })
}

/// The vendor requests one dry-run call makes, and its result (an error by kind only: the
/// messages name the plugin).
async fn dry_run(gw: &Gateway, id: &str, operation: Operation) -> (Vec<Value>, Value) {
    let provider = gw.provider(id).expect("provider").clone();
    let canned = CannedResponse {
        status: 200,
        headers: vec![("x-request-id".into(), "agora-1".into())],
        body: json!({"player": {"id": "pl-1", "status": "running"},
                     "players": [{"id": "pl/1 ä", "status": "running", "name": 7.0}]})
        .to_string(),
    };
    let options = CallOptions {
        now_ms: Some(1_700_000_000_000),
        nonce: Some("n0nce".into()),
        request_id: Some("req-1".into()),
        mode: EgressMode::DryRun(Some(canned)),
        ..CallOptions::default()
    };
    let (result, report) = gw.call(&provider, operation, options).await;
    let requests = report
        .requests
        .iter()
        .map(|r| serde_json::to_value(r).expect("json"))
        .collect();
    let result = match result {
        Ok(outcome) => json!({"ok": format!("{outcome:?}")}),
        Err(e) => json!({"error": e.kind.as_str()}),
    };
    (requests, result)
}

#[tokio::test]
async fn python_and_javascript_dry_runs_are_byte_identical() {
    // (config, requests that must reach the vendor: with uids, the starts whose user is not
    // one are refused before any request, alike).
    for (config, at_least) in [
        (vec![], 9),
        (vec![("region", "\" eu \""), ("user_id_as", "\"uid\"")], 5),
    ] {
        let gw = both(&config).await;
        let mut inputs: Vec<(&str, Value)> = starts().into_iter().map(|s| ("start", s)).collect();
        inputs.extend(others());
        let mut compared = 0;
        for (op, input) in inputs {
            let operation = || operation_from_json(op, &input).expect("an operation");
            let (js_requests, js_result) = dry_run(&gw, "js", operation()).await;
            let (py_requests, py_result) = dry_run(&gw, "py", operation()).await;
            assert_eq!(
                py_requests, js_requests,
                "{op} {input}: the Python plugin's requests differ"
            );
            assert_eq!(py_result, js_result, "{op} {input}: the results differ");
            compared += js_requests.len();
        }
        eprintln!("{config:?}: {compared} vendor requests compared, identical");
        assert!(
            compared >= at_least,
            "too few inputs reached the vendor: {compared}"
        );
    }
}

/// Errors before any request are the same kind in both, for inputs each language reads its
/// own way (a `5.5` where an integer belongs, a string of digits past 2^53, a boolean).
#[tokio::test]
async fn python_and_javascript_refuse_the_same_inputs() {
    let gw = both(&[]).await;
    let start = |options: Value| {
        json!({"direction": "pull-in", "room_id": "r", "user_id": "u",
               "stream_url": "rtmp://m.example.com/a", "options": options})
    };
    let mut refused = 0;
    for options in [
        json!({"idle_timeout": 5.5}),
        json!({"play_ts": "99999999999999999999"}),
        json!({"idle_timeout": true}),
        json!({"repeat_time": 0}),
        json!({"user_id_as": "UID"}),
        json!({"audio_options": [1]}),
    ] {
        let input = start(options.clone());
        let op = || operation_from_json("start", &input).expect("an operation");
        let (js_requests, js_result) = dry_run(&gw, "js", op()).await;
        let (py_requests, py_result) = dry_run(&gw, "py", op()).await;
        assert_eq!(py_result, js_result, "{options}");
        assert_eq!(py_requests, js_requests, "{options}");
        refused += usize::from(js_result.get("error").is_some());
    }
    assert_eq!(refused, 6, "every input above is refused");
}
