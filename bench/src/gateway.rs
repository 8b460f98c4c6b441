//! The gateway under test: its configuration (the demo's, with the bench's addresses) and its
//! process.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Context as _;
use toml::{Table, Value};

use crate::procs::{self, Proc};

/// The gateway's default `runtime.max_concurrent_calls`.
pub use ingest_gateway::config::DEFAULT_MAX_CONCURRENT_CALLS;

/// The admin token of every benchmark gateway (loopback only, thrown away with the run).
pub const ADMIN_TOKEN: &str = "ingest-bench-admin-token-0001";

/// The seed plugins: every provider in the demo configuration.
pub const SEED_PROVIDERS: &[&str] = &[
    "trtc",
    "alibaba",
    "rongcloud",
    "jocloud",
    "zego",
    "zego-player",
];

/// What to run.
#[derive(Debug, Clone)]
pub struct Spec {
    /// API listener.
    pub listen: SocketAddr,
    /// Admin listener, if any.
    pub admin: Option<SocketAddr>,
    /// Artifact cache directory.
    pub cache_dir: PathBuf,
    /// `runtime.max_concurrent_calls`.
    pub max_concurrent_calls: u32,
    /// Provider ids to keep from the demo configuration.
    pub providers: Vec<&'static str>,
    /// Endpoint of provider `trtc` (the Tencent simulator), if it is kept.
    pub trtc_endpoint: Option<String>,
    /// `[connections]` settings (the defaults otherwise).
    pub connections: Vec<(&'static str, i64)>,
}

impl Spec {
    /// The demo's TRTC provider alone, pointed at `trtc_endpoint`, on a free port, with room
    /// for 1024 calls at once: what the end-to-end and fronts sections run.
    pub fn trtc_only(trtc_endpoint: String, cache_dir: PathBuf) -> anyhow::Result<Self> {
        Ok(Self {
            listen: procs::free_addr()?,
            admin: None,
            cache_dir,
            max_concurrent_calls: 1024,
            providers: vec!["trtc"],
            trtc_endpoint: Some(trtc_endpoint),
            connections: Vec::new(),
        })
    }
}

/// `runtime.plugin_threads` from `INGEST_BENCH_PLUGIN_THREADS`, for every gateway the bench
/// builds (the process and the in-process one of the plugin-call section): `0` measures steps
/// on the calling threads, so the hand-off to the plugin threads is the difference.
pub fn plugin_threads_override() -> Option<u32> {
    std::env::var("INGEST_BENCH_PLUGIN_THREADS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
}

/// Every provider's `instance` key from `INGEST_BENCH_INSTANCE` (`per-step`, the default, or
/// `per-call`), for every gateway process the bench starts: what holding one instance across a
/// call's steps buys end to end, and what it costs in memory.
fn instance_override() -> Option<String> {
    std::env::var("INGEST_BENCH_INSTANCE")
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The call deadline of the benchmarks' gateway (the vendor request timeout is 1 s less).
const BENCH_TIMEOUT_MS: i64 = 30_000;

/// The demo configuration (`examples/demo/gateway.toml`) with the bench's listeners, cache,
/// plugin directory and providers.
pub fn config_toml(spec: &Spec) -> anyhow::Result<String> {
    let root = crate::workspace_root();
    let demo_path = root.join("examples/demo/gateway.toml");
    let text = std::fs::read_to_string(&demo_path)
        .with_context(|| format!("reading {}", demo_path.display()))?;
    let mut config: Table = toml::from_str(&text)?;

    // The demo's event store is a path relative to the demo's folder: each bench gateway
    // keeps its events beside its own artifact cache instead (the default).
    config.remove("events");
    let gateway = table(&mut config, "gateway")?;
    gateway.insert("listen".into(), spec.listen.to_string().into());
    gateway.insert(
        "plugin_dir".into(),
        ingest_sim::artifacts::PLUGIN_DIR.into(),
    );

    let runtime = table(&mut config, "runtime")?;
    runtime.insert(
        "cache_dir".into(),
        spec.cache_dir.to_string_lossy().into_owned().into(),
    );
    runtime.insert(
        "max_concurrent_calls".into(),
        Value::Integer(i64::from(spec.max_concurrent_calls)),
    );
    // The memory figure holds requests at the simulator for longer than the default vendor
    // request timeout (8 s) allows: the limits are raised out of its way.
    runtime.insert("call_deadline_ms".into(), Value::Integer(BENCH_TIMEOUT_MS));
    if let Some(n) = plugin_threads_override() {
        runtime.insert("plugin_threads".into(), Value::Integer(i64::from(n)));
    }

    if !spec.connections.is_empty() {
        let connections = table(&mut config, "connections")?;
        for (key, value) in &spec.connections {
            connections.insert((*key).into(), Value::Integer(*value));
        }
    }

    if let Some(admin) = spec.admin {
        let mut t = Table::new();
        t.insert("listen".into(), admin.to_string().into());
        let mut token = Table::new();
        token.insert("value".into(), ADMIN_TOKEN.into());
        t.insert("token".into(), Value::Table(token));
        config.insert("admin".into(), Value::Table(t));
    }

    let Some(Value::Array(providers)) = config.get_mut("providers") else {
        anyhow::bail!("{}: no [[providers]]", demo_path.display());
    };
    providers.retain(|p| {
        p.get("id")
            .and_then(Value::as_str)
            .is_some_and(|id| spec.providers.contains(&id))
    });
    let instance = instance_override();
    for p in providers.iter_mut() {
        let Some(t) = p.as_table_mut() else { continue };
        // The simulators have no vendor quota, and the figures are of the gateway's own
        // work: its quotas are off (a call under them costs one limiter check).
        let mut quota = Table::new();
        for key in ["rate", "start", "stop", "status"] {
            quota.insert(key.into(), Value::Integer(0));
        }
        t.insert("quota".into(), Value::Table(quota));
        table(t, "egress")?.insert(
            "request_timeout_ms".into(),
            Value::Integer(BENCH_TIMEOUT_MS - 1_000),
        );
        if let Some(mode) = &instance {
            t.insert("instance".into(), mode.clone().into());
        }
        if let Some(endpoint) = &spec.trtc_endpoint
            && t.get("id").and_then(Value::as_str) == Some("trtc")
        {
            t.insert("endpoint".into(), endpoint.clone().into());
        }
    }
    Ok(toml::to_string(&config)?)
}

pub(crate) fn table<'a>(config: &'a mut Table, name: &str) -> anyhow::Result<&'a mut Table> {
    config
        .entry(name)
        .or_insert_with(|| Value::Table(Table::new()))
        .as_table_mut()
        .with_context(|| format!("[{name}] is not a table"))
}

/// A running gateway.
#[derive(Debug)]
pub struct Running {
    /// Its process.
    pub proc: Proc,
    /// API address.
    pub addr: SocketAddr,
    /// Admin address.
    pub admin: Option<SocketAddr>,
    /// Time from spawn to `/readyz` answering 200.
    pub ready_after: Duration,
}

/// Starts `bin serve` on `spec` (config and log in `dir`) and waits until `/readyz` is 200
/// (the time reported), then until every plugin runs optimized code (not counted: a cold
/// start serves from the baseline compiler first, and the figures are of the optimized
/// code; waiting also fills the artifact cache for the warm starts).
pub async fn start(bin: &Path, spec: &Spec, dir: &Path) -> anyhow::Result<Running> {
    start_with(bin, &config_toml(spec)?, spec.listen, spec.admin, dir).await
}

/// [`start`] with a configuration of the caller's (`config`, listening on `listen`, its admin
/// listener on `admin`).
pub async fn start_with(
    bin: &Path,
    config_text: &str,
    listen: SocketAddr,
    admin: Option<SocketAddr>,
    dir: &Path,
) -> anyhow::Result<Running> {
    let config = dir.join("gateway.toml");
    std::fs::write(&config, config_text)?;
    let mut command = Command::new(bin);
    command
        .arg("serve")
        .arg("--config")
        .arg(&config)
        // Warnings and errors only: no per-request log lines in the measured path (Envoy's
        // plain proxy has no access log either).
        .env("RUST_LOG", "warn");
    // The front's threads (tokio's own variable, read by the gateway's runtime only: the
    // bench process and its simulators keep theirs), to weigh them against the plugin threads.
    if let Ok(n) = std::env::var("INGEST_BENCH_FRONT_THREADS") {
        command.env("TOKIO_WORKER_THREADS", n);
    }
    let mut proc = Proc::spawn("ingest-gateway", command, &dir.join("gateway.log"))?;
    let ready_after =
        procs::wait_ready(listen, "/readyz", Duration::from_secs(120), &mut proc).await?;
    procs::wait_optimized(listen, Duration::from_secs(300), &mut proc).await?;
    Ok(Running {
        proc,
        addr: listen,
        admin,
        ready_after,
    })
}

/// The start body the end-to-end and memory sections send (the demo's TRTC example).
pub const START_BODY: &str = r#"{"provider": "trtc", "direction": "pull-in", "room_id": "42", "user_id": "relay-bot", "stream_url": "rtmp://example.invalid/live/stream", "options": {"user_sig": "demo-user-sig"}}"#;

/// `POST /v1/ingests` with [`START_BODY`] to the gateway at `addr`; an error unless it
/// answers 201.
pub async fn start_ingest(addr: SocketAddr) -> anyhow::Result<()> {
    let answer = ingest_sim::server::send(
        addr,
        "POST",
        "/v1/ingests",
        &[("content-type", "application/json")],
        START_BODY,
    )
    .await?;
    anyhow::ensure!(
        answer.status == 201,
        "the gateway answered {} to a start: {}",
        answer.status,
        String::from_utf8_lossy(&answer.body)
    );
    Ok(())
}
