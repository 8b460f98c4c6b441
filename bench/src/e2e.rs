//! End to end: `wrk` at a fixed concurrency against three targets that all end at the same
//! Tencent TRTC simulator on loopback:
//!
//! - **direct**: the vendor request itself, straight to the simulator (the floor);
//! - **envoy**: the same vendor request through Envoy as a plain reverse proxy (the baseline);
//! - **peer**: `POST /v1/ingests` through Envoy with a proxy-wasm filter (`bench/peer`, V8)
//!   doing the gateway's job for this one start: what a user would pick instead of the gateway;
//! - **gateway**: `POST /v1/ingests` through the standalone gateway, whose TRTC plugin signs
//!   and sends the vendor request and parses the answer.
//!
//! The vendor request replayed for *direct* and *envoy* is one the gateway itself sent a
//! moment before (so it is the same bytes, with a signature the simulator accepts for the
//! next five minutes).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Context as _;
use ingest_sim::server::Recorded;
use ingest_sim::tencent::TencentSim;
use serde::Serialize;

use crate::procs::{self, Proc, TempDir};

/// One load run.
#[derive(Debug, Clone, Serialize)]
pub struct LoadRun {
    /// `direct`, `envoy`, `peer` or `gateway`.
    pub target: String,
    /// Open connections.
    pub connections: u32,
    /// Seconds measured.
    pub duration_s: f64,
    /// Requests completed.
    pub requests: u64,
    /// Socket errors and timeouts.
    pub errors: u64,
    /// Answers with a status of 400 or more.
    pub bad_status: u64,
    /// Requests per second.
    pub rps: f64,
    /// Latency median, µs.
    pub p50_us: f64,
    /// Latency 99th percentile, µs.
    pub p99_us: f64,
    /// CPU time of the proxy process (gateway or Envoy) per request, µs.
    pub proxy_cpu_us_per_req: Option<f64>,
    /// CPU time of the simulator (the bench process) per request, µs.
    pub upstream_cpu_us_per_req: f64,
}

/// How to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// `wrk` binary.
    pub wrk: PathBuf,
    /// `envoy` binary.
    pub envoy: PathBuf,
    /// `ingest-gateway` binary.
    pub gateway: PathBuf,
    /// The peer's proxy-wasm module (`scripts/build-bench-peer`).
    pub peer: PathBuf,
    /// Connections.
    pub connections: u32,
    /// Measured seconds per target.
    pub duration: Duration,
    /// Warm-up seconds per target (not measured).
    pub warmup: Duration,
}

/// Runs direct, Envoy, the peer and the gateway, in that order, against one simulator.
pub async fn run(options: &Options) -> anyhow::Result<Vec<LoadRun>> {
    let dir = TempDir::new("e2e")?;
    let sim = crate::load_test_sim().await?;
    let sim_addr = sim.addr();

    let spec = crate::gateway::Spec::trtc_only(sim.base_url(), dir.path().join("cache"))?;
    let mut gateway = crate::gateway::start(&options.gateway, &spec, dir.path()).await?;

    let envoy_addr = procs::free_addr()?;
    let mut envoy_proc = start_envoy(&options.envoy, envoy_addr, sim_addr, dir.path()).await?;

    // The floor and the baseline replay a vendor request the gateway just signed.
    let direct = replay(
        options,
        &sim,
        gateway.addr,
        "direct",
        sim_addr,
        None,
        dir.path(),
    )
    .await?;
    let envoy = replay(
        options,
        &sim,
        gateway.addr,
        "envoy",
        envoy_addr,
        Some(&mut envoy_proc),
        dir.path(),
    )
    .await?;
    let script = dir.path().join("gateway.lua");
    std::fs::write(&script, gateway_script())?;

    let peer_addr = procs::free_addr()?;
    let mut peer_proc = start_peer(
        &options.envoy,
        &options.peer,
        peer_addr,
        sim_addr,
        dir.path(),
    )
    .await?;
    check_peer(peer_addr).await?;
    let peer = wrk(
        options,
        "peer",
        &script,
        peer_addr,
        "/v1/ingests",
        Some(&mut peer_proc),
    )
    .await?;
    drop(peer_proc);

    let through_gateway = wrk(
        options,
        "gateway",
        &script,
        gateway.addr,
        "/v1/ingests",
        Some(&mut gateway.proc),
    )
    .await?;
    let runs = vec![direct, envoy, peer, through_gateway];
    Ok(runs)
}

/// Loads `target` (at `addr`, process `proxy`) with the vendor request the gateway signs just
/// before, addressed to the simulator.
async fn replay(
    options: &Options,
    sim: &TencentSim,
    gateway: SocketAddr,
    target: &str,
    addr: SocketAddr,
    proxy: Option<&mut Proc>,
    dir: &Path,
) -> anyhow::Result<LoadRun> {
    let captured = capture(sim, gateway).await?;
    let script = dir.join(format!("{target}.lua"));
    std::fs::write(&script, vendor_script(&captured, sim.addr()))?;
    wrk(
        options,
        target,
        &script,
        addr,
        &captured.path_and_query,
        proxy,
    )
    .await
}

/// One start through the gateway; the vendor request it made, as the simulator got it.
pub async fn capture(sim: &TencentSim, gateway: SocketAddr) -> anyhow::Result<Recorded> {
    sim.clear_requests();
    sim.set_recording(true);
    crate::gateway::start_ingest(gateway).await?;
    let captured = sim.requests().pop();
    sim.set_recording(false);
    sim.clear_requests();
    captured.context("the simulator saw no request from the gateway")
}

/// Envoy 1.40 as a plain HTTP/1.1 reverse proxy: one listener, one static cluster, the router
/// filter and nothing else (no access log, no retries).
pub fn envoy_config(listen: SocketAddr, upstream: SocketAddr) -> String {
    envoy_config_with(listen, upstream, "")
}

/// [`envoy_config`] with `filters` (YAML list items, indented for `http_filters`) before the
/// router.
fn envoy_config_with(listen: SocketAddr, upstream: SocketAddr, filters: &str) -> String {
    format!(
        r#"static_resources:
  listeners:
  - name: bench
    address:
      socket_address: {{ address: {la}, port_value: {lp} }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: bench
          route_config:
            virtual_hosts:
            - name: simulator
              domains: ["*"]
              routes:
              - match: {{ prefix: "/" }}
                route: {{ cluster: simulator }}
          http_filters:
{filters}          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: simulator
    type: STATIC
    # A SYN dropped in the memory section's burst of 1000 connections is retried after 1 s.
    connect_timeout: 5s
    # Far above any load here: the baseline is never held back by its default limits (1024).
    circuit_breakers:
      thresholds:
      - {{ max_connections: 100000, max_pending_requests: 100000, max_requests: 100000 }}
    load_assignment:
      cluster_name: simulator
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: {{ address: {ua}, port_value: {up} }}
"#,
        la = listen.ip(),
        lp = listen.port(),
        ua = upstream.ip(),
        up = upstream.port(),
    )
}

/// The peer: Envoy with the proxy-wasm filter `module` (V8) answering starts itself, and a
/// buffer filter after it, so the whole body reaches the filter and the router never sends the
/// start upstream. The filter signs with the simulator's demo account and calls it through the
/// `simulator` cluster.
pub fn peer_config(listen: SocketAddr, upstream: SocketAddr, module: &Path) -> String {
    let demo = ingest_sim::tencent::TencentSimConfig::demo();
    let settings = serde_json::json!({
        "cluster": "simulator",
        "authority": upstream.to_string(),
        "sdk_app_id": demo.sdk_app_id,
        "region": "ap-guangzhou",
        "secret_id": demo.secret_id,
        "secret_key": demo.secret_key,
        "handle_key": "ingest-bench-peer-handle-key",
    });
    // A JSON string is a YAML double-quoted scalar.
    let configuration = serde_json::to_string(&settings.to_string()).unwrap_or_default();
    let module = serde_json::to_string(&module.to_string_lossy()).unwrap_or_default();
    let filters = format!(
        r#"          - name: envoy.filters.http.wasm
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: ingest_peer
                configuration:
                  "@type": type.googleapis.com/google.protobuf.StringValue
                  value: {configuration}
                vm_config:
                  runtime: envoy.wasm.runtime.v8
                  code:
                    local:
                      filename: {module}
          - name: envoy.filters.http.buffer
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer
              max_request_bytes: 65536
"#
    );
    envoy_config_with(listen, upstream, &filters)
}

/// Starts Envoy on `listen` in front of `upstream`; returns once it accepts connections.
pub async fn start_envoy(
    bin: &Path,
    listen: SocketAddr,
    upstream: SocketAddr,
    dir: &Path,
) -> anyhow::Result<Proc> {
    run_envoy(bin, listen, &envoy_config(listen, upstream), dir).await
}

/// Starts the peer (Envoy + the proxy-wasm filter `module`) on `listen`.
async fn start_peer(
    bin: &Path,
    module: &Path,
    listen: SocketAddr,
    upstream: SocketAddr,
    dir: &Path,
) -> anyhow::Result<Proc> {
    anyhow::ensure!(
        module.is_file(),
        "the peer's proxy-wasm module {} is missing: run scripts/build-bench-peer (scripts/bench does)",
        module.display()
    );
    run_envoy(bin, listen, &peer_config(listen, upstream, module), dir).await
}

/// One start through the peer: it must answer 201 with an id sealed as the gateway seals one
/// (so both do the same work), or the run stops here.
async fn check_peer(addr: SocketAddr) -> anyhow::Result<()> {
    use base64::Engine as _;
    let answer = ingest_sim::server::send(
        addr,
        "POST",
        "/v1/ingests",
        &[("content-type", "application/json")],
        crate::gateway::START_BODY,
    )
    .await?;
    let body = String::from_utf8_lossy(&answer.body);
    anyhow::ensure!(
        answer.status == 201,
        "the peer answered {} to a start: {body}",
        answer.status
    );
    let value: serde_json::Value = serde_json::from_slice(&answer.body)?;
    let task = value["session"]["vendor_task_id"]
        .as_str()
        .unwrap_or_default();
    let sealed = value["id"]
        .as_str()
        .and_then(|id| id.split_once('.'))
        .and_then(|(payload, _)| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .ok()
        })
        .and_then(|json| serde_json::from_slice::<serde_json::Value>(&json).ok());
    anyhow::ensure!(
        !task.is_empty() && sealed == Some(serde_json::json!({"p": "trtc", "r": task})),
        "the peer's answer does not carry a sealed ingest id for its task: {body}"
    );
    Ok(())
}

/// Starts Envoy with `config_text` on `listen`; returns once it accepts connections.
async fn run_envoy(
    bin: &Path,
    listen: SocketAddr,
    config_text: &str,
    dir: &Path,
) -> anyhow::Result<Proc> {
    let config = dir.join(format!("envoy-{}.yaml", listen.port()));
    std::fs::write(&config, config_text)?;
    let mut command = Command::new(bin);
    command
        .arg("-c")
        .arg(&config)
        // As many workers as the gateway has: one per core.
        .arg("--concurrency")
        .arg(crate::cores().to_string())
        .arg("--log-level")
        .arg("warn")
        // Its own shared-memory region, so it never collides with another Envoy.
        .arg("--use-dynamic-base-id");
    let mut proc = Proc::spawn(
        "envoy",
        command,
        &dir.join(format!("envoy-{}.log", listen.port())),
    )?;
    procs::wait_listening(listen, Duration::from_secs(30), &mut proc).await?;
    Ok(proc)
}

/// A Lua long string holding `text` (a level of `=` the text does not contain).
fn lua_string(text: &str) -> String {
    let mut level = String::from("=");
    while text.contains(&format!("]{level}]")) {
        level.push('=');
    }
    format!("[{level}[{text}]{level}]")
}

/// The part of every script that reports: one JSON line wrk's `done` prints.
const DONE: &str = r#"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'INGEST_BENCH {"requests": %d, "duration_us": %d, "errors": %d, "bad_status": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
"#;

fn vendor_script(request: &Recorded, upstream: SocketAddr) -> String {
    let mut s = format!(
        "wrk.method = {}\nwrk.body = {}\n",
        lua_string(&request.method),
        lua_string(&String::from_utf8_lossy(&request.body))
    );
    for (name, value) in &request.headers {
        if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("host") {
            continue;
        }
        let _ = writeln!(
            s,
            "wrk.headers[ {} ] = {}",
            lua_string(name),
            lua_string(value)
        );
    }
    // The signature covers the Host the gateway sent: the simulator's address.
    let _ = writeln!(s, "wrk.headers[\"Host\"] = \"{upstream}\"");
    s.push_str(DONE);
    s
}

fn gateway_script() -> String {
    format!(
        "wrk.method = \"POST\"\nwrk.body = {}\nwrk.headers[\"Content-Type\"] = \"application/json\"\n{DONE}",
        lua_string(crate::gateway::START_BODY)
    )
}

#[derive(serde::Deserialize)]
struct WrkLine {
    requests: u64,
    duration_us: u64,
    errors: u64,
    bad_status: u64,
    p50_us: f64,
    p99_us: f64,
}

/// `target`: a warm-up run, then the measured run, with the CPU time of `proxy` and of this process
/// (the simulator) over the measured run.
async fn wrk(
    options: &Options,
    target: &str,
    script: &Path,
    addr: SocketAddr,
    path: &str,
    mut proxy: Option<&mut Proc>,
) -> anyhow::Result<LoadRun> {
    let url = format!("http://{addr}{path}");
    if !options.warmup.is_zero() {
        run_wrk(options, script, &url, options.warmup).await?;
    }
    let proxy_before = match &proxy {
        Some(p) => Some(procs::cpu_time(p.pid())?),
        None => None,
    };
    let self_before = procs::cpu_time(std::process::id())?;
    let line = run_wrk(options, script, &url, options.duration).await?;
    let self_cpu = procs::cpu_time(std::process::id())?.saturating_sub(self_before);
    let proxy_cpu = match (&mut proxy, proxy_before) {
        (Some(p), Some(before)) => {
            p.check_alive()?;
            Some(procs::cpu_time(p.pid())?.saturating_sub(before))
        }
        _ => None,
    };
    let n = line.requests.max(1) as f64;
    let secs = line.duration_us as f64 / 1e6;
    Ok(LoadRun {
        target: target.to_string(),
        connections: options.connections,
        duration_s: secs,
        requests: line.requests,
        errors: line.errors,
        bad_status: line.bad_status,
        rps: line.requests as f64 / secs.max(1e-9),
        p50_us: line.p50_us,
        p99_us: line.p99_us,
        proxy_cpu_us_per_req: proxy_cpu.map(|c| c.as_secs_f64() * 1e6 / n),
        upstream_cpu_us_per_req: self_cpu.as_secs_f64() * 1e6 / n,
    })
}

async fn run_wrk(
    options: &Options,
    script: &Path,
    url: &str,
    duration: Duration,
) -> anyhow::Result<WrkLine> {
    let secs = duration.as_secs().max(1);
    let mut command = std::process::Command::new(&options.wrk);
    command
        .arg("--threads")
        .arg("1")
        .arg("--connections")
        .arg(options.connections.to_string())
        .arg("--duration")
        .arg(format!("{secs}s"))
        .arg("--timeout")
        .arg("10s")
        .arg("--script")
        .arg(script)
        .arg(url);
    // Waited for off the async workers, which serve the simulator meanwhile.
    let output = tokio::task::spawn_blocking(move || command.output())
        .await?
        .with_context(|| format!("running {}", options.wrk.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("INGEST_BENCH "))
        .with_context(|| {
            format!(
                "wrk printed no result ({}):\n{stdout}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )
        })?;
    Ok(serde_json::from_str(line)?)
}
