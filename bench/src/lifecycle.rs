//! Start-up, hot swap and memory: the gateway as a process, beside Envoy doing the nearest
//! equivalent (starting with a plain-proxy config; holding the same number of requests).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ingest_sim::server::Fault;
use ingest_sim::tencent::TencentSim;
use serde::Serialize;

use crate::gateway::{self, ADMIN_TOKEN, SEED_PROVIDERS, Spec};
use crate::procs::{self, TempDir, percentiles};

/// Start-up figures, milliseconds from spawn to ready.
#[derive(Debug, Clone, Serialize)]
pub struct Startup {
    /// Each cold start (empty artifact cache: every seed plugin compiled).
    pub cold_ms: Vec<f64>,
    /// Each warm start (every seed plugin from the artifact cache).
    pub warm_ms: Vec<f64>,
    /// Each Envoy start with the plain-proxy config (spawn to accepting connections).
    pub envoy_ms: Vec<f64>,
    /// Seed plugins loaded.
    pub plugins: usize,
}

/// Starts the gateway with every seed plugin `cold` times on an empty cache and `warm` times
/// on the cache the cold starts filled; Envoy `warm` times.
pub async fn startup(
    gateway_bin: &Path,
    envoy_bin: &Path,
    cold: usize,
    warm: usize,
) -> anyhow::Result<Startup> {
    let dir = TempDir::new("startup")?;
    let mut out = Startup {
        cold_ms: Vec::new(),
        warm_ms: Vec::new(),
        envoy_ms: Vec::new(),
        plugins: SEED_PROVIDERS.len(),
    };
    let cache = dir.path().join("cache");
    for i in 0..cold + warm {
        let is_cold = i < cold;
        if is_cold {
            let _ = std::fs::remove_dir_all(&cache);
        }
        let spec = Spec {
            listen: procs::free_addr()?,
            admin: None,
            cache_dir: cache.clone(),
            max_concurrent_calls: gateway::DEFAULT_MAX_CONCURRENT_CALLS,
            providers: SEED_PROVIDERS.to_vec(),
            trtc_endpoint: None,
            connections: Vec::new(),
        };
        let running = gateway::start(gateway_bin, &spec, dir.path()).await?;
        let ms = millis(running.ready_after);
        eprintln!(
            "  start-up {} {ms:.0} ms",
            if is_cold { "cold" } else { "warm" }
        );
        if is_cold {
            out.cold_ms.push(ms);
        } else {
            out.warm_ms.push(ms);
        }
    }
    for _ in 0..warm.max(1) {
        let started = Instant::now();
        let upstream = procs::free_addr()?;
        let _envoy =
            crate::e2e::start_envoy(envoy_bin, procs::free_addr()?, upstream, dir.path()).await?;
        out.envoy_ms.push(millis(started.elapsed()));
    }
    Ok(out)
}

/// Hot-swap figures, milliseconds from the start of the upload to the first answer served
/// by the new version.
#[derive(Debug, Clone, Serialize)]
pub struct Swap {
    /// Uploads of a version never compiled before (cold compile).
    pub cold_ms: Vec<f64>,
    /// Uploads of a version in the artifact cache.
    pub warm_ms: Vec<f64>,
    /// The plugin swapped.
    pub plugin: String,
    /// Its size, bytes.
    pub component_bytes: usize,
}

/// Swaps the TRTC plugin of a serving gateway `cold` times with never-seen builds (the
/// component with a custom section that makes its digest new) and `warm` times back and
/// forth between cached ones.
pub async fn swap(gateway_bin: &Path, cold: usize, warm: usize) -> anyhow::Result<Swap> {
    let dir = TempDir::new("swap")?;
    let sim = crate::load_test_sim().await?;
    let spec = Spec {
        listen: procs::free_addr()?,
        admin: Some(procs::free_addr()?),
        cache_dir: dir.path().join("cache"),
        max_concurrent_calls: gateway::DEFAULT_MAX_CONCURRENT_CALLS,
        providers: vec!["trtc"],
        trtc_endpoint: Some(sim.base_url()),
        connections: Vec::new(),
    };
    let mut running = gateway::start(gateway_bin, &spec, dir.path()).await?;
    let admin = running.admin.context("admin listener")?;
    let original = std::fs::read(ingest_sim::artifacts::plugin("tencent-trtc"))?;

    let mut out = Swap {
        cold_ms: Vec::new(),
        warm_ms: Vec::new(),
        plugin: "tencent-trtc".into(),
        component_bytes: original.len(),
    };
    let mut uploaded = vec![original.clone()];
    for i in 0..cold + warm {
        let is_cold = i < cold;
        let bytes = if is_cold {
            let variant = ingest_sim::artifacts::variant(
                &original,
                "ingest-bench",
                &format!("run {} swap {i}", std::process::id()),
            );
            uploaded.push(variant.clone());
            variant
        } else {
            // Alternate between versions already compiled (and cached) in this run.
            uploaded[i % uploaded.len()].clone()
        };
        let started = Instant::now();
        let upload = ingest_sim::server::send(
            admin,
            "PUT",
            "/admin/plugins/tencent-trtc",
            &[("authorization", &format!("Bearer {ADMIN_TOKEN}"))],
            bytes,
        )
        .await?;
        if upload.status != 200 {
            running.proc.check_alive()?;
            anyhow::bail!(
                "upload answered {}: {}",
                upload.status,
                String::from_utf8_lossy(&upload.body)
            );
        }
        let report: serde_json::Value = serde_json::from_slice(&upload.body)?;
        gateway::start_ingest(running.addr)
            .await
            .context("the first start after the swap")?;
        let ms = millis(started.elapsed());
        let from_cache = report["from_cache"].as_bool().unwrap_or(false);
        if from_cache == is_cold {
            anyhow::bail!(
                "swap {i}: expected a {} compile, the gateway reports from_cache = {from_cache}",
                if is_cold { "cold" } else { "cached" }
            );
        }
        eprintln!(
            "  hot swap {} {ms:.1} ms (load {} ms)",
            if is_cold { "cold" } else { "warm" },
            report["load_ms"]
        );
        // Not timed: the optimizing compile of a cold upload finishes (and fills the cache
        // the warm swaps use) before the next swap.
        procs::wait_optimized(running.addr, Duration::from_secs(300), &mut running.proc).await?;
        if is_cold {
            out.cold_ms.push(ms);
        } else {
            out.warm_ms.push(ms);
        }
    }
    Ok(out)
}

/// Memory figures, KiB of resident memory.
#[derive(Debug, Clone, Serialize)]
pub struct Memory {
    /// Gateway with every seed plugin, after start-up, before any request.
    pub gateway_idle_kib: u64,
    /// Gateway after a warm-up, just before the burst.
    pub gateway_before_kib: u64,
    /// Gateway with `in_flight` calls waiting on the vendor.
    pub gateway_loaded_kib: u64,
    /// Envoy (plain proxy) after start-up.
    pub envoy_idle_kib: u64,
    /// Envoy after a warm-up, just before the burst.
    pub envoy_before_kib: u64,
    /// Envoy with `in_flight` requests waiting on the upstream.
    pub envoy_loaded_kib: u64,
    /// Requests held in flight.
    pub in_flight: usize,
}

impl Memory {
    /// Extra resident memory per 1000 requests in flight, MiB: gateway, Envoy.
    pub fn per_thousand_mib(&self) -> (f64, f64) {
        let per = |loaded: u64, before: u64| {
            loaded.saturating_sub(before) as f64 / 1024.0 * 1000.0 / self.in_flight.max(1) as f64
        };
        (
            per(self.gateway_loaded_kib, self.gateway_before_kib),
            per(self.envoy_loaded_kib, self.envoy_before_kib),
        )
    }
}

/// Idle memory of the gateway (every seed plugin) and of Envoy, then each with `in_flight`
/// requests held by a simulator that answers after a pause.
pub async fn memory(
    gateway_bin: &Path,
    envoy_bin: &Path,
    in_flight: usize,
) -> anyhow::Result<Memory> {
    check_open_files(in_flight)?;
    let dir = TempDir::new("memory")?;
    let sim = crate::load_test_sim().await?;
    let spec = Spec {
        listen: procs::free_addr()?,
        admin: None,
        cache_dir: dir.path().join("cache"),
        // The default: a call waiting on its vendor holds no instance (contract 0.2), so 1000
        // requests in flight need no more instance slots than a handful of running steps.
        max_concurrent_calls: gateway::DEFAULT_MAX_CONCURRENT_CALLS,
        providers: SEED_PROVIDERS.to_vec(),
        trtc_endpoint: Some(sim.base_url()),
        connections: Vec::new(),
    };
    let running = gateway::start(gateway_bin, &spec, dir.path()).await?;
    settle().await;
    let gateway_idle_kib = procs::rss_kib(running.proc.pid())?;
    let (gateway_before_kib, gateway_loaded_kib) = burst(
        &sim,
        running.proc.pid(),
        running.addr,
        "/v1/ingests",
        vec![("content-type".into(), "application/json".into())],
        gateway::START_BODY.as_bytes().to_vec(),
        in_flight,
    )
    .await
    .context("gateway")?;

    // The same requests through Envoy: the vendor request the gateway sent, replayed.
    let captured = crate::e2e::capture(&sim, running.addr).await?;
    drop(running);

    let envoy_addr = procs::free_addr()?;
    let envoy = crate::e2e::start_envoy(envoy_bin, envoy_addr, sim.addr(), dir.path()).await?;
    settle().await;
    let envoy_idle_kib = procs::rss_kib(envoy.pid())?;
    let headers = captured
        .headers
        .iter()
        .filter(|(n, _)| n != "host" && n != "content-length")
        .cloned()
        .collect();
    let (envoy_before_kib, envoy_loaded_kib) = burst(
        &sim,
        envoy.pid(),
        envoy_addr,
        &captured.path_and_query,
        headers,
        captured.body.clone(),
        in_flight,
    )
    .await
    .context("envoy")?;
    Ok(Memory {
        gateway_idle_kib,
        gateway_before_kib,
        gateway_loaded_kib,
        envoy_idle_kib,
        envoy_before_kib,
        envoy_loaded_kib,
        in_flight,
    })
}

/// How long the burst's requests may take to reach the simulator, and how long it holds each:
/// longer than the arrival wait, shorter than the bench gateway's vendor request timeout
/// (`gateway::config_toml`) and Envoy's default route timeout (15 s).
const ARRIVAL_WAIT: Duration = Duration::from_secs(10);
const HOLD: Duration = Duration::from_secs(12);

async fn settle() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// Warms `pid` up with a few requests, reads its RSS, holds `n` requests at the simulator
/// (which pauses before answering) and reads its RSS again once all `n` have arrived.
async fn burst(
    sim: &TencentSim,
    pid: u32,
    addr: std::net::SocketAddr,
    path: &str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    n: usize,
) -> anyhow::Result<(u64, u64)> {
    let send = |headers: Vec<(String, String)>, body: Vec<u8>, path: String| async move {
        let h: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        ingest_sim::server::send(addr, "POST", &path, &h, body).await
    };
    for _ in 0..50 {
        let answer = send(headers.clone(), body.clone(), path.to_string()).await?;
        anyhow::ensure!(
            answer.status < 300,
            "warm-up request answered {}: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
    }
    settle().await;
    let before = procs::rss_kib(pid)?;

    sim.clear_requests();
    // Held longer than the wait for all to arrive: a connection whose SYN was dropped in a
    // burst of 1000 is retried after 1 s and again 2 s later (at 3 s), and must still be held
    // when the memory is read.
    sim.fail_always(Some(Fault::Delay(HOLD)));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        tasks.spawn(send(headers.clone(), body.clone(), path.to_string()));
    }
    let waited = Instant::now();
    while sim.request_count() < n {
        if waited.elapsed() > ARRIVAL_WAIT {
            sim.fail_always(None);
            anyhow::bail!(
                "only {} of {n} requests reached the simulator within {} ms",
                sim.request_count(),
                ARRIVAL_WAIT.as_millis()
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let loaded = procs::rss_kib(pid)?;
    sim.fail_always(None);
    let mut failed = 0;
    while let Some(done) = tasks.join_next().await {
        if !matches!(&done, Ok(Ok(answer)) if answer.status < 300) {
            failed += 1;
        }
    }
    anyhow::ensure!(failed == 0, "{failed} of {n} held requests failed");
    Ok((before, loaded))
}

/// The burst needs two descriptors per request in this process (client and simulator side).
pub(crate) fn check_open_files(in_flight: usize) -> anyhow::Result<()> {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft: Option<usize> = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok());
    let need = in_flight * 2 + 256;
    match soft {
        Some(soft) if soft < need => anyhow::bail!(
            "{in_flight} requests in flight need {need} open files, the limit is {soft}: run `ulimit -n {}` first (scripts/bench does)",
            need.next_power_of_two()
        ),
        _ => Ok(()),
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Median of `v` (a copy is sorted).
pub fn median(v: &[f64]) -> f64 {
    percentiles(&mut v.to_vec()).0
}
