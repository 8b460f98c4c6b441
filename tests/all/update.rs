//! `PATCH /v1/ingests/{id}` and the optional `updater` interface (contract 0.2.1), independent
//! of any vendor: a new handle when the plugin changes its session reference, the host's
//! bounds on the result, the body checks, `501` where the provider cannot update, and a
//! component built against contract 0.2.0 (no updater export) still loading and serving.

use serde_json::json;

use crate::support::*;

/// A provider running the test guest `plugin` with `mode` (no vendor behind it).
fn provider(id: &str, plugin: &str, mode: Option<&str>) -> String {
    let mut out = format!(
        "\n[[providers]]\nid = \"{id}\"\nplugin = \"{}\"\n",
        ingest_sim::artifacts::plugin(plugin)
    );
    if let Some(mode) = mode {
        out.push_str(&format!("[providers.config]\nmode = \"{mode}\"\n"));
    }
    out
}

async fn started(gw: &ingest_gateway::Gateway, provider: &str) -> String {
    let started = call(gw, "POST", "/v1/ingests", Some(pull_in(provider, "room-1"))).await;
    assert_eq!(started.status, 201, "{}", started.text);
    started.json["id"].as_str().expect("id").to_string()
}

#[tokio::test]
async fn a_new_session_reference_gets_a_new_handle() {
    let gw = gateway(&provider("p", "test-hostile", Some("ok"))).await;
    let old = started(&gw, "p").await;

    let updated = patch(
        &gw,
        &old,
        json!({"stream_url": "rtmp://media.example.com/live/b"}),
    )
    .await;
    assert_eq!(updated.status, 200, "{}", updated.text);
    assert_eq!(updated.json["replaces"], old.as_str(), "{}", updated.text);
    assert_eq!(updated.json["provider"], "p");
    let new = updated.json["id"].as_str().expect("id");
    assert_ne!(new, old);
    assert!(updated.headers.contains_key("x-ingest-plugin"));

    // The guest's status echoes the session reference it is called with.
    let status = call(&gw, "GET", &format!("/v1/ingests/{new}"), None).await;
    assert_eq!(status.status, 200, "{}", status.text);
    assert_eq!(
        status.json["vendor_state"], "ok+rtmp://media.example.com/live/b",
        "{}",
        status.text
    );
    let before = call(&gw, "GET", &format!("/v1/ingests/{old}"), None).await;
    assert_eq!(before.json["vendor_state"], "ok", "{}", before.text);
}

#[tokio::test]
async fn an_oversized_updated_reference_is_a_plugin_fault() {
    let gw = gateway(&provider("p", "test-hostile", Some("ok"))).await;
    let id = started(&gw, "p").await;
    let answer = patch(&gw, &id, json!({"options": {"huge-ref": true}})).await;
    assert_eq!(answer.status, 500, "{}", answer.text);
    assert_eq!(answer.json["kind"], "plugin-fault", "{}", answer.text);
    assert!(
        answer.text.contains("updated session reference"),
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn bodies_that_change_nothing_or_are_malformed_are_refused() {
    let gw = gateway(&provider("p", "test-hostile", Some("ok"))).await;
    let id = started(&gw, "p").await;
    let path = format!("/v1/ingests/{id}");
    for (body, needle) in [
        ("{}", "must change something"),
        (r#"{"options": {}}"#, "must change something"),
        (r#"{"stream_url": "not a url"}"#, "`stream_url`"),
        (r#"{"room_id": "9"}"#, "unknown field `room_id`"),
        ("[1]", "invalid update request body"),
        ("", "invalid update request body"),
    ] {
        let answer = call_with(
            &gw,
            "PATCH",
            &path,
            &[("content-type", "application/json")],
            bytes::Bytes::from(body),
        )
        .await;
        assert_eq!(answer.status, 400, "{body}: {}", answer.text);
        assert!(answer.text.contains(needle), "{body}: {}", answer.text);
        assert_eq!(
            answer.headers["content-type"], "application/problem+json",
            "{body}"
        );
    }
    let forged = patch(
        &gw,
        "forged",
        json!({"stream_url": "rtmp://media.example.com/live/b"}),
    )
    .await;
    assert_eq!(forged.status, 404, "{}", forged.text);
    let wrong = call(&gw, "POST", &path, Some(json!({}))).await;
    assert_eq!(wrong.status, 405, "{}", wrong.text);
    assert_eq!(wrong.headers["allow"], "GET, PATCH, DELETE");
}

#[tokio::test]
async fn a_contract_0_2_0_component_loads_serves_and_answers_update_with_501() {
    let gw = gateway(&provider("old", "test-contract-0-2-0", None)).await;
    let id = started(&gw, "old").await;
    let status = call(&gw, "GET", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(status.status, 200, "{}", status.text);
    assert_eq!(
        status.json["vendor_state"], "room-1/relay-bot",
        "{}",
        status.text
    );

    // It lists the then-reserved `update`, but has no updater export: not offered, and a
    // PATCH is 501 naming the provider and the fix, without calling the plugin.
    let listed = call(&gw, "GET", "/v1/providers", None).await;
    let ops = &listed.json["providers"][0]["operations"];
    assert_eq!(ops, &json!(["start", "stop", "status"]), "{}", listed.text);
    let answer = patch(
        &gw,
        &id,
        json!({"stream_url": "rtmp://media.example.com/live/b"}),
    )
    .await;
    assert_eq!(answer.status, 501, "{}", answer.text);
    assert_eq!(answer.json["kind"], "unsupported");
    assert_eq!(answer.json["provider"], "old");
    assert!(
        answer
            .text
            .contains("does not export ingest:provider/updater"),
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn a_provider_without_update_answers_501_naming_it() {
    // RongCloud's plugin exports the updater (every SDK plugin does) but does not list it.
    let dir = temp_dir("update-unsupported");
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        provider_toml(
            "rc",
            "rongcloud",
            "https://api.rong-api.com",
            "",
            &[("app_key", "\"k\"")],
            &[("app_secret", "s")],
        ),
    )
    .expect("config");
    let input = dir.join("update.json");
    std::fs::write(&input, r#"{"session_ref": "r", "options": {"volume": 1}}"#).expect("input");
    let (out, err, _) = run_cli(&[
        "call",
        "--config",
        config.to_str().expect("utf-8"),
        "--provider",
        "rc",
        "update",
        "--input",
        input.to_str().expect("utf-8"),
        "--dry-run",
    ]);
    let printed: serde_json::Value = serde_json::from_str(&out).expect(&err);
    let problem = &printed["result"]["error"];
    assert_eq!(problem["status"], 501, "{out}");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("provider `rc` (rongcloud) does not support `update`")),
        "{out}"
    );
    assert_eq!(printed["requests"], json!([]), "nothing was sent: {out}");
}
