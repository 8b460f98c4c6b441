//! A misbehaving plugin fails its own call with `plugin-fault` (or `denied`) within its
//! deadline; the host and the other providers carry on.

use std::time::{Duration, Instant};

use crate::support::*;

fn hostile(id: &str, mode: &str, extra: &str) -> String {
    format!(
        r#"
[[providers]]
id = "{id}"
plugin = "{plugin}"
{extra}
[providers.config]
mode = "{mode}"
"#,
        plugin = ingest_sim::artifacts::plugin("test-hostile"),
    )
}

fn start(provider: &str) -> serde_json::Value {
    serde_json::json!({"provider": provider, "direction": "pull-in", "room_id": "r", "user_id": "u"})
}

async fn fleet() -> ingest_gateway::Gateway {
    let toml = format!(
        "[runtime]\ncall_deadline_ms = 1000\nmemory_limit_bytes = 16777216\n{}{}{}{}{}{}",
        hostile("loop", "loop", ""),
        hostile("panic", "panic", ""),
        hostile("memory", "memory", ""),
        hostile("recursion", "recursion", ""),
        hostile("probe", "secret-probe", ""),
        hostile("ok", "ok", ""),
    );
    gateway(&toml).await
}

#[tokio::test]
async fn each_fault_fails_only_its_call() {
    let gw = fleet().await;
    for (provider, needle) in [
        ("loop", "deadline"),
        ("panic", "panic"),
        ("memory", "memory"),
        ("recursion", "stack"),
    ] {
        let started = Instant::now();
        let a = call(&gw, "POST", "/v1/ingests", Some(start(provider))).await;
        let elapsed = started.elapsed();
        assert_eq!(a.status, 500, "{provider}: {}", a.text);
        assert_eq!(a.json["kind"], "plugin-fault", "{provider}: {}", a.text);
        assert!(
            a.json["detail"]
                .as_str()
                .is_some_and(|d| d.contains(needle)),
            "{provider}: {}",
            a.text
        );
        assert!(
            elapsed < Duration::from_secs(5),
            "{provider} took {elapsed:?}"
        );
        // The same gateway keeps serving other providers.
        let ok = call(&gw, "POST", "/v1/ingests", Some(start("ok"))).await;
        assert_eq!(ok.status, 201, "after {provider}: {}", ok.text);
    }
}

#[tokio::test]
async fn ungranted_secret_is_refused_by_name() {
    let gw = fleet().await;
    let a = call(&gw, "POST", "/v1/ingests", Some(start("probe"))).await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert!(
        a.json["detail"]
            .as_str()
            .is_some_and(|d| d.contains("not_granted")),
        "{}",
        a.text
    );
}

#[tokio::test]
async fn oversized_session_reference_is_a_fault() {
    let gw = gateway(&hostile("huge", "huge-ref", "")).await;
    let a = call(&gw, "POST", "/v1/ingests", Some(start("huge"))).await;
    assert_eq!(a.json["kind"], "plugin-fault", "{}", a.text);
}

#[tokio::test]
async fn a_host_off_the_allowlist_is_denied() {
    let gw = gateway(
        &hostile(
            "fetch",
            "fetch",
            r#"allow_hosts = ["api.vendor.example:443"]
allow_private = true"#,
        )
        .replace(
            "mode = \"fetch\"",
            "mode = \"fetch\"\ntarget = \"http://127.0.0.1:9/steal\"",
        ),
    )
    .await;
    let a = call(&gw, "POST", "/v1/ingests", Some(start("fetch"))).await;
    assert_eq!(a.json["kind"], "denied", "{}", a.text);
    assert!(
        a.json["detail"]
            .as_str()
            .is_some_and(|d| d.contains("127.0.0.1:9")),
        "{}",
        a.text
    );
}
