//! Metrics, health and readiness, the failure policy, and the problem+json shape of every
//! error path.

use std::collections::HashMap;

use crate::support::*;

fn hostile(id: &str, mode: &str, failure: &str) -> String {
    format!(
        "[[providers]]\nid = \"{id}\"\nplugin = \"{}\"\n{failure}\n[providers.config]\nmode = \"{mode}\"\n",
        ingest_sim::artifacts::plugin("test-hostile")
    )
}

fn start(provider: &str) -> serde_json::Value {
    serde_json::json!({"provider": provider, "direction": "pull-in", "room_id": "r", "user_id": "u"})
}

/// Parses the Prometheus text exposition into `name{labels}` → value.
fn parse_metrics(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (series, value) = l
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("malformed line {l:?}"));
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {l:?}"));
            (series.to_string(), value)
        })
        .collect()
}

#[tokio::test]
async fn metrics_count_calls_faults_and_health() {
    let toml = format!(
        "{}{}",
        hostile("ok", "ok", ""),
        hostile("bad", "panic", "[providers.failure]\nunhealthy_after = 2")
    );
    let gw = gateway(&toml).await;
    for _ in 0..3 {
        assert_eq!(
            call(&gw, "POST", "/v1/ingests", Some(start("ok")))
                .await
                .status,
            201
        );
    }
    for _ in 0..2 {
        let a = call(&gw, "POST", "/v1/ingests", Some(start("bad"))).await;
        assert_eq!(a.json["kind"], "plugin-fault", "{}", a.text);
    }
    // Unhealthy now: the next call fails fast without running the plugin.
    let fast = call(&gw, "POST", "/v1/ingests", Some(start("bad"))).await;
    assert_refused(&fast, 503, "unhealthy");

    let ready = call(&gw, "GET", "/readyz", None).await;
    assert_eq!(ready.status, 503, "{}", ready.text);
    assert_eq!(ready.json["providers"]["bad"], "unhealthy");
    assert_eq!(ready.json["providers"]["ok"], "ok");
    assert_eq!(call(&gw, "GET", "/healthz", None).await.status, 200);

    let req = http::Request::get("/metrics")
        .body(bytes::Bytes::new())
        .expect("request");
    let resp = ingest_gateway::handle(&gw, req).await;
    assert_eq!(resp.status(), 200);
    let text = String::from_utf8_lossy(resp.body()).into_owned();
    let m = parse_metrics(&text);
    let get = |k: &str| {
        m.get(k)
            .copied()
            .unwrap_or_else(|| panic!("no series {k} in:\n{text}"))
    };
    assert_eq!(
        get(r#"ingest_requests_total{provider="ok",operation="start",outcome="ok"}"#),
        3.0
    );
    assert_eq!(
        get(r#"ingest_requests_total{provider="bad",operation="start",outcome="plugin-fault"}"#),
        2.0
    );
    assert_eq!(
        get(r#"ingest_requests_total{provider="bad",operation="start",outcome="unhealthy"}"#),
        1.0
    );
    assert_eq!(
        get(r#"ingest_plugin_faults_total{provider="bad",fault="panic"}"#),
        2.0
    );
    assert_eq!(get(r#"ingest_provider_healthy{provider="bad"}"#), 0.0);
    assert_eq!(get(r#"ingest_provider_healthy{provider="ok"}"#), 1.0);
    assert_eq!(
        get(r#"ingest_request_duration_seconds_count{provider="ok",operation="start"}"#),
        3.0
    );
    assert!(get(r#"ingest_plugin_instantiate_seconds_count{provider="ok"}"#) >= 3.0);
    assert_eq!(
        get(r#"ingest_plugin_compiles_total{source="compiled"}"#),
        1.0
    );
    assert_eq!(get("ingest_plugin_versions_loaded"), 1.0);
    // Families with series are exposed with their help text, in the classic format under
    // their samples' names (vendor latency is checked in tencent.rs, swaps in hotswap.rs).
    for family in [
        "ingest_requests_total",
        "ingest_request_duration_seconds",
        "ingest_plugin_instantiate_seconds",
        "ingest_plugin_faults_total",
        "ingest_plugin_versions_loaded",
        "ingest_plugin_compiles_total",
        "ingest_provider_healthy",
    ] {
        assert!(
            text.contains(&format!("# HELP {family} ")),
            "{family} is not exposed"
        );
    }
}

#[tokio::test]
async fn an_unhealthy_provider_gets_one_trial_per_backoff_on_the_gateway_clock() {
    let clock = ingest_gateway::ManualClock::new(1_700_000_000_000);
    let toml = hostile("bad", "panic", "[providers.failure]\nunhealthy_after = 1");
    let gw = gateway_with_clock(&toml, clock.clone()).await;
    let status_and_detail = |a: &Answer| {
        (
            a.status,
            a.json["detail"].as_str().unwrap_or("").to_string(),
        )
    };

    let first = call(&gw, "POST", "/v1/ingests", Some(start("bad"))).await;
    assert_eq!(first.json["kind"], "plugin-fault", "{}", first.text);
    // Open: refused at once, the trial 1 s away on the gateway's clock.
    let (status, detail) =
        status_and_detail(&call(&gw, "POST", "/v1/ingests", Some(start("bad"))).await);
    assert_eq!(status, 503);
    assert!(detail.contains("next trial in 1000 ms"), "{detail}");

    // At the trial time one call runs the plugin again (and faults again)…
    clock.advance(std::time::Duration::from_secs(1));
    let trial = call(&gw, "POST", "/v1/ingests", Some(start("bad"))).await;
    assert_eq!(trial.json["kind"], "plugin-fault", "{}", trial.text);
    // …and the failed trial doubles the wait.
    let (status, detail) =
        status_and_detail(&call(&gw, "POST", "/v1/ingests", Some(start("bad"))).await);
    assert_eq!(status, 503);
    assert!(detail.contains("next trial in 2000 ms"), "{detail}");
    assert_eq!(call(&gw, "GET", "/readyz", None).await.status, 503);
}

#[tokio::test]
async fn failing_open_answers_the_configured_body() {
    let gw = gateway(&hostile(
        "soft",
        "panic",
        "[providers.failure]\nmode = \"open\"\nopen_status = 202\nopen_body = '{\"degraded\": true, \"retry\": \"later\"}'",
    ))
    .await;
    let a = call(&gw, "POST", "/v1/ingests", Some(start("soft"))).await;
    assert_eq!(a.status, 202, "{}", a.text);
    assert_eq!(a.json["degraded"], true);
    assert_eq!(a.headers["x-ingest-degraded"], "true");
    // The core decided it: an embedder's typed call gets the same answer on its error.
    let body =
        ingest_gateway::StartBody::parse(start("soft").to_string().as_bytes()).expect("body");
    let e = gw
        .start(
            "soft",
            body.to_request(),
            ingest_gateway::CallOptions::default(),
        )
        .await
        .expect_err("the plugin panics");
    assert_eq!(e.source, ingest_gateway::ErrorSource::Plugin);
    let degraded = e.degraded.expect("a degraded answer on the error");
    assert_eq!(degraded.status, 202);
    assert!(
        degraded.body.contains("\"retry\": \"later\""),
        "{}",
        degraded.body
    );
}

/// Failing open is for the plugin's failures only: the caller's own error (an unknown
/// provider, a bad body) is answered as an error.
#[tokio::test]
async fn failing_open_never_hides_the_callers_error() {
    let gw = gateway(&hostile(
        "soft",
        "panic",
        "[providers.failure]\nmode = \"open\"\nopen_status = 202\nopen_body = '{\"degraded\": true}'",
    ))
    .await;
    let mut bad = start("soft");
    bad["direction"] = "sideways".into();
    let a = call(&gw, "POST", "/v1/ingests", Some(bad)).await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert!(!a.headers.contains_key("x-ingest-degraded"));
    let a = call(&gw, "GET", "/v1/ingests/not-a-handle", None).await;
    assert_eq!(a.status / 100, 4, "{}", a.text);
    assert!(!a.headers.contains_key("x-ingest-degraded"));
}

#[tokio::test]
async fn every_error_path_is_complete_problem_json() {
    let toml = format!("{}{}", hostile("bad", "panic", ""), hostile("ok", "ok", ""));
    let gw = gateway(&toml).await;
    let big = "x".repeat(70 * 1024);
    let cases: Vec<(&str, &str, Option<serde_json::Value>, u16)> = vec![
        (
            "POST",
            "/v1/ingests",
            Some(serde_json::json!({"provider": "ok"})),
            400,
        ),
        (
            "POST",
            "/v1/ingests",
            Some(serde_json::json!({"nope": 1})),
            400,
        ),
        (
            "POST",
            "/v1/ingests",
            Some(serde_json::Value::String(big)),
            413,
        ),
        ("GET", "/v1/ingests/not-a-handle", None, 404),
        ("GET", "/v2/anything", None, 404),
        ("PATCH", "/v1/ingests", None, 405),
        ("POST", "/v1/ingests", Some(start("bad")), 500),
        ("POST", "/v1/callbacks/ok", Some(serde_json::json!({})), 501),
    ];
    for (method, path, body, status) in cases {
        let a = call(&gw, method, path, body).await;
        assert_eq!(a.status, status, "{method} {path}: {}", a.text);
        assert_eq!(
            a.headers["content-type"], "application/problem+json",
            "{method} {path}"
        );
        for field in ["type", "title", "status", "detail", "kind", "retryable"] {
            assert!(
                !a.json[field].is_null(),
                "{method} {path}: `{field}` missing in {}",
                a.text
            );
        }
        assert_eq!(a.json["status"], status, "{method} {path}");
    }
}

#[tokio::test]
async fn log_lines_name_the_request_provider_and_plugin_version() {
    let gw = gateway(&hostile("logged", "ok", "")).await;
    let req = http::Request::post("/v1/ingests")
        .header("x-request-id", "obs-request-4711")
        .body(bytes::Bytes::from(start("logged").to_string()))
        .expect("request");
    let resp = ingest_gateway::handle(&gw, req).await;
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers()["x-request-id"], "obs-request-4711");
    let log = log_text();
    let line = log
        .lines()
        .find(|l| l.contains("obs-request-4711") && l.contains("call ok"))
        .unwrap_or_else(|| panic!("no `call ok` line for the request in:\n{log}"));
    assert!(line.contains("provider=logged"), "{line}");
    assert!(line.contains("plugin=test-hostile@0.1.0+"), "{line}");
}

/// `GET /metrics` over a real socket in both formats: without `Accept` (curl, promtool) the
/// classic text format, which Prometheus's own linter (`promtool check metrics`, Debian
/// package `prometheus`, installed by scripts/test) accepts; with Prometheus's `Accept`,
/// OpenMetrics with its own content type and `# EOF`.
#[tokio::test]
async fn metrics_are_served_in_the_format_their_content_type_names() {
    let gw = gateway(&hostile("ok", "ok", "")).await;
    for _ in 0..3 {
        assert_eq!(
            call(&gw, "POST", "/v1/ingests", Some(start("ok")))
                .await
                .status,
            201
        );
    }
    let served = TestServer::start(std::sync::Arc::new(gw)).await;
    let addr = served.addr;

    let classic = http(addr, "GET", "/metrics", None).await;
    assert_eq!(
        classic.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(
        classic
            .text
            .contains("# TYPE ingest_requests_total counter"),
        "{}",
        classic.text
    );
    let lint = promtool_check_metrics(&classic.text);
    assert!(
        lint.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );

    let prometheus_accept =
        "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    let open = http_with(
        addr,
        "GET",
        "/metrics",
        &[("accept", prometheus_accept)],
        None,
    )
    .await;
    assert_eq!(
        open.headers["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(open.text.ends_with("# EOF\n"), "{}", open.text);
    assert!(
        open.text.contains("# TYPE ingest_requests counter"),
        "{}",
        open.text
    );

    served.stop().await;
}

/// Runs `promtool check metrics` on `text` (its stdin).
fn promtool_check_metrics(text: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool runs (Debian package `prometheus`; scripts/test installs it)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write the scrape");
    child.wait_with_output().expect("promtool ends")
}
