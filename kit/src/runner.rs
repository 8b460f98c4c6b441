//! `plugin test`: runs conformance cases through the real host.
//!
//! Each case gets a gateway of its own, configured from the case (one provider, `under-test`,
//! using the component under test), and one call in dry-run mode: the host records every
//! vendor request exactly as it would go on the wire (placeholders shown as
//! `{{secret:NAME}}`) and answers the n-th with the case's n-th response
//! ([`EgressMode::DryRunSequence`]). The component is compiled once per run: later cases load
//! it from an artifact cache.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tracing::instrument::WithSubscriber as _;

use super::case::{self, Case, CaseError, Defaults, LoadedCase};
use super::matcher::{self, Diff, Mode, Vars};
use ingest_gateway::json::{event_json, operation_name, session_json, status_json};
use ingest_gateway::{
    ApiError, CallOptions, Config, EgressMode, Gateway, Operation, Outcome, Provider,
    RecordedRequest, StartBody, UpdateBody, types,
};
use std::sync::Arc;

/// The provider id cases run under.
pub const PROVIDER_ID: &str = "under-test";

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// A defaults file (`--config`).
    pub defaults: Option<PathBuf>,
    /// A persistent artifact cache (`--cache-dir`).
    pub cache_dir: Option<PathBuf>,
    /// Only cases whose name contains this.
    pub filter: Option<String>,
    /// Hide the host's log lines.
    pub quiet: bool,
    /// The runtime settings the cases run under ([`crate::kit_runtime`]: the defaults, or a
    /// gateway config file's `[runtime]`, with the kit's small pool and lenient step budget).
    pub runtime: ingest_gateway::RuntimeConfig,
}

/// How one case ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Everything matched.
    Pass,
    /// The plugin did something else than the case expects.
    Fail,
    /// The case could not run (unreadable, or the host refused its config).
    Error(String),
}

/// One case's outcome.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// The case's name.
    pub name: String,
    /// Its file.
    pub path: PathBuf,
    /// Its operation, when it could be read.
    pub operation: Option<types::Operation>,
    /// The verdict.
    pub verdict: Verdict,
    /// Every difference (empty unless `Fail`).
    pub diffs: Vec<Diff>,
    /// What the plugin did, in the case format.
    pub actual: Option<serde_json::Value>,
    /// The plugin's log lines.
    pub plugin_logs: Vec<String>,
    /// Time for the case (gateway set-up and the call).
    pub elapsed: Duration,
}

/// A whole run.
#[derive(Debug)]
pub struct TestReport {
    /// The component tested.
    pub plugin: PathBuf,
    /// `name version` of the plugin, from its describe.
    pub plugin_label: Option<String>,
    /// Where the cases came from.
    pub cases: PathBuf,
    /// Each case, in order.
    pub results: Vec<CaseResult>,
}

impl TestReport {
    /// Whether every case passed (and there was at least one).
    pub fn passed(&self) -> bool {
        !self.results.is_empty() && self.results.iter().all(|r| r.verdict == Verdict::Pass)
    }

    /// Counts: passed, failed (errors included).
    pub fn counts(&self) -> (usize, usize) {
        let passed = self
            .results
            .iter()
            .filter(|r| r.verdict == Verdict::Pass)
            .count();
        (passed, self.results.len() - passed)
    }

    /// The table, then a section per failed case, then the totals; with `show_actual`, what
    /// each case's plugin did, in the case format.
    pub fn render(&self, show_actual: bool) -> String {
        let mut out = format!(
            "plugin test: {}{} — {} case(s) from {}\n\n",
            self.plugin.display(),
            self.plugin_label
                .as_ref()
                .map(|l| format!(" ({l})"))
                .unwrap_or_default(),
            self.results.len(),
            self.cases.display()
        );
        let width = self
            .results
            .iter()
            .map(|r| r.name.chars().count())
            .max()
            .unwrap_or(4)
            .max(4);
        out.push_str(&format!(
            "  {:<6} {:<width$}  {:<14} {:>8}\n",
            "result", "case", "operation", "time"
        ));
        for r in &self.results {
            let (verdict, note) = match &r.verdict {
                Verdict::Pass => ("pass", String::new()),
                Verdict::Fail => ("FAIL", format!("  {} difference(s)", r.diffs.len())),
                Verdict::Error(e) => ("ERROR", format!("  {}", first_line(e))),
            };
            out.push_str(&format!(
                "  {:<6} {:<width$}  {:<14} {:>5} ms{note}\n",
                verdict,
                r.name,
                r.operation.map_or("-", operation_name),
                r.elapsed.as_millis(),
            ));
        }
        for r in self.results.iter().filter(|r| r.verdict != Verdict::Pass) {
            out.push_str(&format!("\n{} — {}\n", r.name, r.path.display()));
            if let Verdict::Error(e) = &r.verdict {
                out.push_str(&format!("  error: {e}\n"));
            }
            for d in &r.diffs {
                out.push_str(&d.render());
            }
            if !r.plugin_logs.is_empty() {
                out.push_str("  plugin log:\n");
                for line in &r.plugin_logs {
                    out.push_str(&format!("      {line}\n"));
                }
            }
        }
        if show_actual {
            for r in &self.results {
                if let Some(actual) = &r.actual {
                    out.push_str(&format!(
                        "\nwhat the plugin did in `{}`:\n{}\n",
                        r.name,
                        serde_json::to_string_pretty(actual).unwrap_or_default()
                    ));
                }
            }
        }
        let (passed, failed) = self.counts();
        out.push_str(&format!("\n{passed} passed, {failed} failed\n"));
        out
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

/// Runs the cases in `cases` (a directory or one file) against the component at `plugin`.
/// `Err` for a usage problem (no such component, no cases, unreadable defaults).
pub async fn run(plugin: &Path, cases: &Path, options: &RunOptions) -> anyhow::Result<TestReport> {
    if !plugin.is_file() {
        anyhow::bail!("no component at {}", plugin.display());
    }
    let plugin = std::path::absolute(plugin)?;
    let defaults: Defaults = match &options.defaults {
        Some(path) => {
            case::parse_file(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => Defaults::default(),
    };
    let loaded: Vec<LoadedCase> = case::load(cases)?
        .into_iter()
        .filter(|c| {
            options
                .filter
                .as_ref()
                .is_none_or(|f| c.name.contains(f.as_str()))
        })
        .collect();
    let scratch;
    let cache_dir = match &options.cache_dir {
        Some(dir) => std::path::absolute(dir)?,
        None => {
            scratch = super::TempDir::new("plugin-test")?;
            scratch.path().to_path_buf()
        }
    };
    let mut report = TestReport {
        plugin: plugin.clone(),
        plugin_label: None,
        cases: cases.to_path_buf(),
        results: Vec::new(),
    };
    for loaded in loaded {
        let started = Instant::now();
        let mut result = CaseResult {
            name: loaded.name.clone(),
            path: loaded.path.clone(),
            operation: None,
            verdict: Verdict::Pass,
            diffs: Vec::new(),
            actual: None,
            plugin_logs: Vec::new(),
            elapsed: Duration::ZERO,
        };
        match loaded.case {
            Err(e) => result.verdict = Verdict::Error(e.to_string()),
            Ok(case) => {
                result.operation = Some(case.operation);
                let run = run_case(
                    &plugin,
                    &cache_dir,
                    &options.runtime,
                    &case,
                    &defaults,
                    &mut result,
                );
                let label = if options.quiet {
                    run.with_subscriber(tracing::subscriber::NoSubscriber::default())
                        .await
                } else {
                    run.await
                };
                if report.plugin_label.is_none() {
                    report.plugin_label = label;
                }
            }
        }
        result.elapsed = started.elapsed();
        report.results.push(result);
    }
    Ok(report)
}

/// The gateway config for one case: one provider using the component, the case's endpoint,
/// config and secrets; `runtime` ([`crate::kit_runtime`]) with the run's artifact cache;
/// events in memory.
pub fn case_config(
    plugin: &Path,
    cache_dir: &Path,
    runtime: &ingest_gateway::RuntimeConfig,
    case: &Case,
    defaults: &Defaults,
) -> Result<Config, CaseError> {
    let mut config =
        Config::parse(&config_toml(plugin, case, defaults)?).map_err(CaseError::Config)?;
    config.runtime = ingest_gateway::RuntimeConfig {
        cache_dir: Some(cache_dir.to_path_buf()),
        ..runtime.clone()
    };
    config.events.store = Some(ingest_gateway::config::MEMORY_EVENTS_STORE.to_string());
    Ok(config)
}

/// The TOML of [`case_config`] before its runtime: auth off and the one provider.
fn config_toml(plugin: &Path, case: &Case, defaults: &Defaults) -> Result<String, CaseError> {
    use toml::{Table, Value};
    let mut provider = Table::new();
    provider.insert("id".into(), Value::String(PROVIDER_ID.into()));
    provider.insert(
        "plugin".into(),
        Value::String(plugin.to_string_lossy().into_owned()),
    );
    if let Some(endpoint) = case.endpoint.as_ref().or(defaults.endpoint.as_ref()) {
        provider.insert("endpoint".into(), Value::String(endpoint.clone()));
    }
    let mut config = Table::new();
    for (key, value) in defaults.config.iter().chain(&case.config) {
        let v = Value::try_from(value)
            .map_err(|e| CaseError::Field(format!("config key `{key}`: {e} (TOML has no null)")))?;
        config.insert(key.clone(), v);
    }
    provider.insert("config".into(), Value::Table(config));
    let mut secrets = Table::new();
    for (name, value) in defaults.secrets.iter().chain(&case.secrets) {
        let mut source = Table::new();
        source.insert("value".into(), Value::String(value.clone()));
        secrets.insert(name.clone(), Value::Table(source));
    }
    provider.insert("secrets".into(), Value::Table(secrets));

    let mut gateway = Table::new();
    gateway.insert("auth".into(), Value::String("off".into()));
    let mut root = Table::new();
    root.insert("gateway".into(), Value::Table(gateway));
    root.insert(
        "providers".into(),
        Value::Array(vec![Value::Table(provider)]),
    );
    Ok(toml::to_string(&root)?)
}

/// The operation a case's input describes, or the API error the input itself earns (as the
/// HTTP API would answer it, before any plugin call).
pub fn operation(case: &Case) -> Result<Result<Operation, ApiError>, CaseError> {
    operation_of(case.operation, &case.input, PROVIDER_ID)
}

/// The operation an input describes, as `ingest-gateway call` and cases take it: start, the
/// API's start body (`provider` may be left out: `provider` is used); stop and status,
/// `{"session_ref": "…"}`; update, the API's update body plus `session_ref`; parse-callback,
/// `{"headers", "query", "body"}`. An input the HTTP API would refuse is the inner error.
pub fn operation_of(
    kind: types::Operation,
    input: &serde_json::Value,
    provider: &str,
) -> Result<Result<Operation, ApiError>, CaseError> {
    let session_ref = || {
        input
            .get("session_ref")
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .ok_or_else(|| CaseError::Field("`input` must have \"session_ref\": \"…\"".into()))
    };
    match kind {
        types::Operation::Start => {
            let mut value = input.clone();
            let Some(map) = value.as_object_mut() else {
                return Err(CaseError::Field(
                    "`input` of a start must be the API's start body (an object)".into(),
                ));
            };
            map.entry("provider").or_insert_with(|| provider.into());
            Ok(StartBody::parse(value.to_string().as_bytes())
                .map(|body| Operation::Start(body.to_request())))
        }
        types::Operation::Stop | types::Operation::Status => {
            let only_ref = input
                .as_object()
                .is_some_and(|m| m.keys().all(|k| k == "session_ref"));
            if !only_ref {
                return Err(CaseError::Field(
                    "`input` must be {\"session_ref\": \"…\"} and nothing else".into(),
                ));
            }
            let session_ref = session_ref()?;
            Ok(Ok(if kind == types::Operation::Stop {
                Operation::Stop(types::StopRequest { session_ref })
            } else {
                Operation::Status(types::StatusRequest { session_ref })
            }))
        }
        types::Operation::Update => {
            let session_ref = session_ref()?;
            let mut body = input.clone();
            if let Some(map) = body.as_object_mut() {
                map.remove("session_ref");
            }
            Ok(UpdateBody::parse(body.to_string().as_bytes()).map(|body| {
                Operation::Update(types::UpdateRequest {
                    session_ref,
                    options_json: body.options_json(),
                    stream_url: body.stream_url,
                })
            }))
        }
        types::Operation::ParseCallback => {
            let headers = match input.get("headers") {
                None => Vec::new(),
                Some(h) => serde_json::from_value::<case::Headers>(h.clone())
                    .map_err(|e| CaseError::Field(format!("`input.headers`: {e}")))?
                    .pairs(),
            };
            let query = input
                .get("query")
                .and_then(|q| q.as_str())
                .unwrap_or_default()
                .to_string();
            let body = case::body_text(input.get("body")).into_bytes();
            Ok(Ok(Operation::ParseCallback(types::CallbackRequest {
                headers,
                query,
                body,
            })))
        }
    }
}

/// The result as `ingest-gateway call` prints it: `{"ok": …}` or `{"error": problem}`.
pub fn result_json(result: &Result<Outcome, ApiError>) -> serde_json::Value {
    match result {
        Ok(Outcome::Started(s)) => {
            let mut v = session_json(s);
            v["session_ref"] = s.session_ref.clone().into();
            serde_json::json!({ "ok": v })
        }
        Ok(Outcome::Status(s)) => serde_json::json!({ "ok": status_json(s) }),
        Ok(Outcome::Stopped(s)) => {
            serde_json::json!({ "ok": { "vendor_request_id": s.vendor_request_id } })
        }
        Ok(Outcome::Event(e)) => {
            let mut v = event_json(e);
            v["session_ref"] = e.session_ref.clone().into();
            serde_json::json!({ "ok": v })
        }
        Ok(Outcome::Described(info)) => serde_json::json!({ "ok": super::check::info_json(info) }),
        Ok(Outcome::Updated(u)) => serde_json::json!({ "ok": {
            "session_ref": u.session_ref,
            "vendor_request_id": u.vendor_request_id,
        } }),
        Err(e) => match &e.degraded {
            // The provider fails open: the answer the API sends instead of the error.
            Some(d) => serde_json::json!({ "error": e.to_problem(), "degraded": {
                "status": d.status,
                "body": d.body,
            } }),
            None => serde_json::json!({ "error": e.to_problem() }),
        },
    }
}

fn request_json(r: &RecordedRequest) -> serde_json::Value {
    let body = match serde_json::from_str::<serde_json::Value>(&r.body) {
        Ok(v @ (serde_json::Value::Object(_) | serde_json::Value::Array(_))) => v,
        _ => serde_json::Value::String(r.body.clone()),
    };
    serde_json::json!({
        "method": r.method,
        "url": r.url,
        "headers": r.headers,
        "body": body,
    })
}

/// Runs one case into `out`; returns the plugin's `name version` when it was bound.
async fn run_case(
    plugin: &Path,
    cache_dir: &Path,
    runtime: &ingest_gateway::RuntimeConfig,
    case: &Case,
    defaults: &Defaults,
    out: &mut CaseResult,
) -> Option<String> {
    let expected_key = match case.expect.as_object() {
        Some(m) if m.len() == 1 && (m.contains_key("ok") || m.contains_key("error")) => {
            if m.contains_key("ok") { "ok" } else { "error" }
        }
        _ => {
            out.verdict = Verdict::Error("`expect` must be {\"ok\": …} or {\"error\": …}".into());
            return None;
        }
    };
    let (gateway, provider, label) =
        match bind_case(plugin, cache_dir, runtime, case, defaults).await {
            Ok(bound) => bound,
            Err(e) => {
                out.verdict = Verdict::Error(e.to_string());
                return None;
            }
        };
    let now = case.now.or(defaults.now).unwrap_or(case::DEFAULT_NOW);
    let nonce = case
        .nonce
        .clone()
        .or_else(|| defaults.nonce.clone())
        .unwrap_or_else(|| case::DEFAULT_NONCE.to_string());
    let vars = Vars {
        now,
        nonce: nonce.clone(),
        request_id: format!("call-{nonce}"),
    };
    let (result, requests, logs) = match operation(case) {
        Err(e) => {
            out.verdict = Verdict::Error(e.to_string());
            return None;
        }
        Ok(Err(api_error)) => (Err(api_error), Vec::new(), Vec::new()),
        Ok(Ok(op)) => {
            let options = CallOptions {
                now_ms: Some(now.saturating_mul(1000)),
                nonce: Some(nonce.clone()),
                request_id: Some(vars.request_id.clone()),
                tenant: None,
                mode: EgressMode::DryRunSequence(
                    case.exchanges.iter().map(|x| x.response.canned()).collect(),
                ),
            };
            let (result, report) = gateway.call(&provider, op, options).await;
            (result, report.requests, report.plugin_logs)
        }
    };
    out.plugin_logs = logs;
    let actual_result = result_json(&result);
    compare_requests(case, &requests, &vars, &mut out.diffs);
    compare_result(case, expected_key, &actual_result, &vars, &mut out.diffs);
    if !out.diffs.is_empty() {
        out.verdict = Verdict::Fail;
    }
    out.actual = Some(actual_json(case, &requests, actual_result));
    label
}

/// A gateway with the case's provider bound to the plugin, and the plugin's `name version`.
async fn bind_case(
    plugin: &Path,
    cache_dir: &Path,
    runtime: &ingest_gateway::RuntimeConfig,
    case: &Case,
    defaults: &Defaults,
) -> Result<(Gateway, Arc<Provider>, Option<String>), CaseError> {
    let config = case_config(plugin, cache_dir, runtime, case, defaults)?;
    let gateway = Gateway::from_config(config)
        .await
        .map_err(CaseError::Refused)?;
    let provider = gateway
        .provider(PROVIDER_ID)
        .map_err(CaseError::Provider)?
        .clone();
    let label = provider
        .binding()
        .map(|b| format!("{} {}", b.info.name, b.info.version));
    Ok((gateway, provider, label))
}

/// The requests the plugin made against the case's, in order.
fn compare_requests(case: &Case, requests: &[RecordedRequest], vars: &Vars, diffs: &mut Vec<Diff>) {
    let n = case.exchanges.len().max(requests.len());
    for i in 0..n {
        let place = format!("request {}", i + 1);
        match (case.exchanges.get(i), requests.get(i)) {
            (Some(x), Some(r)) => compare_request(&x.request, r, &place, vars, diffs),
            (Some(x), None) => diffs.push(Diff::new(
                place,
                format!(
                    "{} {}",
                    x.request.method.as_deref().unwrap_or("?"),
                    x.request.url.as_deref().unwrap_or("?")
                ),
                format!("(none: the plugin made {} request(s))", requests.len()),
            )),
            (None, Some(r)) => diffs.push(Diff::new(
                place,
                format!("(none: the case lists {} request(s))", case.exchanges.len()),
                format!("{} {}", r.method, r.url),
            )),
            (None, None) => {}
        }
    }
}

/// The call's result against the case's `expect`.
fn compare_result(
    case: &Case,
    expected_key: &str,
    actual_result: &serde_json::Value,
    vars: &Vars,
    diffs: &mut Vec<Diff>,
) {
    let actual_key = if actual_result.get("ok").is_some() {
        "ok"
    } else {
        "error"
    };
    if actual_key != expected_key {
        diffs.push(Diff::new(
            "result",
            format!("{expected_key}: {}", case.expect[expected_key]),
            format!("{actual_key}: {}", actual_result[actual_key]),
        ));
    } else {
        matcher::compare_json(
            &case.expect,
            actual_result,
            "$",
            "result",
            Mode::Listed,
            vars,
            diffs,
        );
    }
}

/// What the plugin did, in the case file's shape (for `--update` and reports).
fn actual_json(
    case: &Case,
    requests: &[RecordedRequest],
    actual_result: serde_json::Value,
) -> serde_json::Value {
    serde_json::json!({
        "exchanges": requests.iter().enumerate().map(|(i, r)| serde_json::json!({
            "request": request_json(r),
            "response": case.exchanges.get(i).map(|x| {
                let c = x.response.canned();
                serde_json::json!({"status": c.status, "headers": c.headers, "body": x.response.body})
            }),
        })).collect::<Vec<_>>(),
        "expect": actual_result,
    })
}

fn compare_request(
    expected: &case::ExpectedRequest,
    actual: &RecordedRequest,
    place: &str,
    vars: &Vars,
    diffs: &mut Vec<Diff>,
) {
    if let Some(method) = &expected.method
        && !method.eq_ignore_ascii_case(&actual.method)
    {
        diffs.push(Diff::new(
            format!("{place} › method"),
            method,
            &actual.method,
        ));
    }
    if let Some(url) = &expected.url
        && !matcher::matches(url, &actual.url, vars)
    {
        diffs.push(Diff::new(format!("{place} › url"), url, &actual.url));
    }
    for (name, template) in expected.headers.pairs() {
        let values: Vec<&str> = actual
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(&name))
            .map(|(_, v)| v.as_str())
            .collect();
        if values.is_empty() {
            diffs.push(Diff::new(
                format!("{place} › header `{name}`"),
                template,
                "(missing)",
            ));
        } else if !values.iter().any(|v| matcher::matches(&template, v, vars)) {
            diffs.push(Diff::new(
                format!("{place} › header `{name}`"),
                template,
                values.join(" | "),
            ));
        }
    }
    matcher::compare_body(expected.body.as_ref(), &actual.body, place, vars, diffs);
}
