//! Plugin call: `start` step by step (a fresh instance per step: the request built and signed
//! through the credentials interface, then the vendor's answer parsed), with the transport
//! stubbed in-process (the
//! plugin's conformance case `start-ok` supplies the input, the config, the secrets and the
//! vendor's canned answer). This is the gateway's own call path (`Gateway::call`) without
//! the HTTP front and without a network.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ingest_gateway::EgressMode;
use ingest_gateway::internals::CallShape;
use ingest_gateway::{CallOptions, Gateway};
use ingest_plugin_kit::case::{self, Case, Defaults};
use ingest_plugin_kit::runner;
use serde::Serialize;

use crate::procs::{TempDir, percentiles};

/// The plugins measured, the success case each one runs, and the directory of its cases.
pub const PLUGINS: &[(&str, &str, &str)] = &[
    ("tencent-trtc", "start-ok", "plugins/tencent-trtc"),
    ("rongcloud", "start-ok", "plugins/rongcloud"),
    ("alibaba-artc", "start-ok", "plugins/alibaba-artc"),
    ("zego-dispatch", "start-push-ok", "plugins/zego-dispatch"),
    ("zego-cloud-player", "start-ok", "plugins/zego-cloud-player"),
    ("jocloud-thunder", "start-ok", "plugins/jocloud-thunder"),
    // JavaScript (componentize-js): measured when scripts/build-js-plugins has built it.
    ("agora-js", "start-ok", "plugins/agora-js"),
    // Python (componentize-py): measured when scripts/build-py-plugins has built it.
    ("agora-py", "start-ok", "plugins/agora-py"),
    // The Rust and Python templates (`plugin new`; scripts/bench builds them): the same vendor
    // and requests in two languages, the baseline of the Python target.
    ("example-vendor", "start-ok", "examples/plugin-template"),
    (
        "example-vendor-py",
        "start-ok",
        "examples/plugin-template-py",
    ),
];

/// One plugin's figures.
#[derive(Debug, Clone, Serialize)]
pub struct PluginCall {
    /// Plugin name.
    pub plugin: String,
    /// Whether it was measured (the component exists).
    pub measured: bool,
    /// Why not, when not.
    pub note: Option<String>,
    /// Component size, bytes.
    pub component_bytes: u64,
    /// Cold load to optimized code (compile with an empty artifact cache, validate, bind),
    /// milliseconds: what a new plugin version costs before it serves at full speed.
    pub cold_load_ms: f64,
    /// Calls timed.
    pub iterations: usize,
    /// Whole call, median, µs.
    pub median_us: f64,
    /// Whole call, 99th percentile, µs.
    pub p99_us: f64,
    /// Instantiation alone (part of the call), median, µs.
    pub instantiate_median_us: f64,
    /// Calls per second of one core (1 / mean).
    pub calls_per_sec: f64,
    /// Steps per call (plugin runs: one per vendor request, plus the final one).
    pub steps: u32,
    /// Whole call with the other call shape (one instance held across the exchange), median,
    /// µs: the comparison behind the contract's choice of a fresh instance per step.
    pub held_median_us: f64,
}

/// Measures every plugin of [`PLUGINS`]: `warmup` untimed calls, then `iterations` timed.
/// `only`, when not empty, names the plugins to measure.
pub async fn run(
    iterations: usize,
    warmup: usize,
    only: &[String],
) -> anyhow::Result<Vec<PluginCall>> {
    let cache = TempDir::new("micro-cache")?;
    let mut out = Vec::new();
    for (plugin, case_name, dir) in PLUGINS {
        if !only.is_empty() && !only.iter().any(|p| p == plugin) {
            continue;
        }
        let wasm = PathBuf::from(ingest_sim::artifacts::PLUGIN_DIR)
            .join(format!("{}.wasm", plugin.replace('-', "_")));
        if !wasm.is_file() {
            out.push(PluginCall {
                plugin: plugin.to_string(),
                measured: false,
                note: Some(format!(
                    "not built ({}); JavaScript and Python plugins: scripts/build-js-plugins, scripts/build-py-plugins; the templates: scripts/bench",
                    wasm.display()
                )),
                component_bytes: 0,
                cold_load_ms: f64::NAN,
                iterations: 0,
                median_us: f64::NAN,
                p99_us: f64::NAN,
                instantiate_median_us: f64::NAN,
                calls_per_sec: f64::NAN,
                steps: 0,
                held_median_us: f64::NAN,
            });
            continue;
        }
        let cases = crate::workspace_root().join(dir).join("cases");
        let result = measure(
            plugin,
            case_name,
            &cases,
            &wasm,
            cache.path(),
            iterations,
            warmup,
        )
        .await
        .with_context(|| format!("plugin call benchmark of `{plugin}`"))?;
        eprintln!(
            "  plugin call {plugin:<18} median {:>7.1} µs  p99 {:>7.1} µs  (instantiate {:.1} µs, {} steps; held instance {:.1} µs; cold load {:.0} ms)",
            result.median_us,
            result.p99_us,
            result.instantiate_median_us,
            result.steps,
            result.held_median_us,
            result.cold_load_ms
        );
        out.push(result);
    }
    Ok(out)
}

async fn measure(
    plugin: &str,
    case_name: &str,
    cases: &std::path::Path,
    wasm: &std::path::Path,
    cache_dir: &std::path::Path,
    iterations: usize,
    warmup: usize,
) -> anyhow::Result<PluginCall> {
    let case_path = cases.join(format!("{case_name}.json"));
    let case: Case = case::parse_file(&case_path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", case_path.display()))?;
    let runtime = ingest_plugin_kit::kit_runtime(None)?;
    let mut config = runner::case_config(wasm, cache_dir, &runtime, &case, &Defaults::default())
        .map_err(|e| anyhow::anyhow!(e))?;
    if let Some(n) = crate::gateway::plugin_threads_override() {
        config.runtime.plugin_threads = Some(n);
    }
    // Each plugin's artifacts are new to the cache: this load compiles.
    let load_started = Instant::now();
    let gateway = Gateway::from_config(config).await?;
    // Measure the optimized code: a cold load serves baseline code until it is ready.
    let deadline = Instant::now() + std::time::Duration::from_secs(300);
    while !gateway.registry().all_optimized() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "{plugin}: optimized code not ready in time"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let cold_load_ms = load_started.elapsed().as_secs_f64() * 1e3;
    let provider = gateway.provider(runner::PROVIDER_ID)?.clone();
    let op = runner::operation(&case)
        .map_err(|e| anyhow::anyhow!(e))?
        .map_err(|e| anyhow::anyhow!("the case's input is refused: {e}"))?;
    let canned: Vec<_> = case.exchanges.iter().map(|x| x.response.canned()).collect();
    let now_ms = case.now.unwrap_or(case::DEFAULT_NOW).saturating_mul(1000);

    let call = |i: usize| {
        let options = CallOptions {
            now_ms: Some(now_ms),
            nonce: Some(format!("bench{i}")),
            request_id: Some(format!("bench-{i}")),
            tenant: None,
            mode: EgressMode::DryRunSequence(canned.clone()),
        };
        let started = Instant::now();
        let gateway = &gateway;
        let provider = &provider;
        let op = op.clone();
        async move {
            let (result, report) = gateway.call(provider, op, options).await;
            (started.elapsed(), result, report)
        }
    };

    let mut total = Vec::with_capacity(iterations);
    let mut instantiate = Vec::with_capacity(iterations);
    let mut steps = 0;
    for i in 0..warmup + iterations {
        let (elapsed, result, report) = call(i).await;
        if let Err(e) = result {
            anyhow::bail!("call {i} failed (the case `{case_name}` should succeed): {e}");
        }
        if i >= warmup {
            total.push(micros(elapsed));
            instantiate.push(micros(report.instantiate.unwrap_or_default()));
            steps = report.steps;
        }
    }
    // The other call shape, same calls: one instance held across the exchange.
    gateway.runtime().set_call_shape(CallShape::HeldAcrossSteps);
    let mut held = Vec::with_capacity(iterations);
    for i in 0..warmup + iterations {
        let (elapsed, result, _) = call(i).await;
        if let Err(e) = result {
            gateway.runtime().set_call_shape(CallShape::FreshPerStep);
            anyhow::bail!("held-instance call {i} failed: {e}");
        }
        if i >= warmup {
            held.push(micros(elapsed));
        }
    }
    gateway.runtime().set_call_shape(CallShape::FreshPerStep);

    let mean = total.iter().sum::<f64>() / total.len().max(1) as f64;
    let (median_us, p99_us) = percentiles(&mut total);
    let (instantiate_median_us, _) = percentiles(&mut instantiate);
    let (held_median_us, _) = percentiles(&mut held);
    Ok(PluginCall {
        plugin: plugin.to_string(),
        measured: true,
        note: None,
        component_bytes: std::fs::metadata(wasm)?.len(),
        cold_load_ms,
        iterations,
        median_us,
        p99_us,
        instantiate_median_us,
        calls_per_sec: 1e6 / mean,
        steps,
        held_median_us,
    })
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
