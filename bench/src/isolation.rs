//! Isolation: one tenant's plugins loop, and the front and another tenant's calls should not
//! notice. The gateway (`auth = "tenants"`, `step_budget_ms` = 100) serves two tenants:
//! tenant A may use only a provider whose plugin loops in `start` (the test guest
//! `test-hostile`, `mode = "loop"`, its circuit breaker out of the way), tenant B only the
//! Tencent TRTC plugin in front of the simulator. Figures: `GET /healthz` and tenant B's
//! starts (one after another, a new connection each) before and while `looping` start calls
//! of tenant A are kept in flight (each re-issued as it ends).
//!
//! Run twice: with the plugin threads (`runtime.plugin_threads` unset: one a CPU) and the
//! per-tenant cap (`tenant_plugin_share` 0.5), the defaults; and, as the baseline, with steps
//! on the front's own threads and no cap (`plugin_threads = 0`, `tenant_plugin_share = 1.0`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;
use toml::{Table, Value};

use crate::gateway::{self, Spec};
use crate::procs::{self, TempDir};

/// The step budget the gateway runs with here, ms.
pub const STEP_BUDGET_MS: i64 = 100;
/// `/healthz` p99 while tenant A's calls loop, at most this, ms.
pub const HEALTHZ_TARGET_MS: f64 = 50.0;
/// Tenant B's start p99 while tenant A's calls loop, at most this many times its unloaded p99.
pub const OTHER_TENANT_FACTOR: f64 = 2.0;

const KEY_A: &str = "ingest-bench-tenant-a-loops-0001";
const KEY_B: &str = "ingest-bench-tenant-b-honest-0001";
const LOOP_BODY: &str =
    r#"{"provider": "loop", "direction": "pull-in", "room_id": "r", "user_id": "u"}"#;

/// How long each part takes.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Measured time of each phase.
    pub phase: Duration,
    /// Between starting the looping calls and measuring (not measured).
    pub settle: Duration,
    /// The longest one probe request may take before it counts as failed.
    pub probe_timeout: Duration,
}

/// What one gateway configuration measured.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    /// `runtime.plugin_threads` as configured (`None`: unset, one a CPU).
    pub plugin_threads: Option<u32>,
    /// `runtime.tenant_plugin_share`.
    pub tenant_plugin_share: f64,
    /// Without tenant A's calls.
    pub unloaded: Phase,
    /// While tenant A's looping calls are in flight.
    pub loaded: Phase,
    /// Tenant A's calls that ended during the whole loaded phase (settling included), by
    /// status (0: no answer).
    pub looping_ended: BTreeMap<u16, usize>,
}

impl Run {
    /// Tenant B's start p99, loaded over unloaded.
    pub fn other_tenant_ratio(&self) -> f64 {
        self.loaded.start_ms.1 / self.unloaded.start_ms.1
    }
}

/// One phase's probes.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    /// `GET /healthz`: p50, p99, ms.
    pub healthz_ms: (f64, f64),
    /// `/healthz` requests answered 200.
    pub healthz_ok: usize,
    /// `/healthz` requests that failed (another status, an error, or the probe timeout).
    pub healthz_failed: usize,
    /// Tenant B's `POST /v1/ingests` (TRTC): p50, p99, ms.
    pub start_ms: (f64, f64),
    /// Tenant B's starts answered 201.
    pub start_ok: usize,
    /// Tenant B's starts that failed.
    pub start_failed: usize,
    /// The first failure, if any.
    pub first_failure: Option<String>,
}

/// Both configurations.
#[derive(Debug, Clone, Serialize)]
pub struct Isolation {
    /// Tenant A's looping calls kept in flight.
    pub looping: usize,
    /// `runtime.step_budget_ms`.
    pub step_budget_ms: i64,
    /// Measured seconds of each phase.
    pub phase_seconds: f64,
    /// The defaults: plugin threads, tenant share 0.5.
    pub isolated: Run,
    /// Steps on the front's threads, no tenant cap; `None` when not run.
    pub baseline: Option<Run>,
}

/// Runs the defaults and (when `baseline`) the baseline configuration, each on a gateway of
/// its own against one simulator.
pub async fn run(
    gateway_bin: &Path,
    looping: usize,
    timing: Timing,
    baseline: bool,
) -> anyhow::Result<Isolation> {
    // Built with every plugin by the build script of `ingest-tests` (a dependency of this
    // crate) unless `INGEST_TEST_PLUGINS` left it out.
    let hostile =
        std::path::PathBuf::from(ingest_sim::artifacts::PLUGIN_DIR).join("test_hostile.wasm");
    anyhow::ensure!(
        hostile.is_file(),
        "no {} (the test guest `test-hostile`; was the bench built with INGEST_TEST_PLUGINS set?)",
        hostile.display()
    );
    let dir = TempDir::new("isolation")?;
    let sim = crate::load_test_sim().await?;
    // One artifact cache: the second gateway starts warm.
    let cache = dir.path().join("cache");
    let isolated = run_one(gateway_bin, &sim, &cache, None, 0.5, looping, timing).await?;
    let baseline = if baseline {
        Some(run_one(gateway_bin, &sim, &cache, Some(0), 1.0, looping, timing).await?)
    } else {
        None
    };
    Ok(Isolation {
        looping,
        step_budget_ms: STEP_BUDGET_MS,
        phase_seconds: timing.phase.as_secs_f64(),
        isolated,
        baseline,
    })
}

async fn run_one(
    gateway_bin: &Path,
    sim: &ingest_sim::tencent::TencentSim,
    cache: &Path,
    plugin_threads: Option<u32>,
    share: f64,
    looping: usize,
    timing: Timing,
) -> anyhow::Result<Run> {
    let dir = TempDir::new("isolation-gateway")?;
    let spec = Spec {
        listen: procs::free_addr()?,
        admin: None,
        cache_dir: cache.to_path_buf(),
        max_concurrent_calls: gateway::DEFAULT_MAX_CONCURRENT_CALLS,
        providers: vec!["trtc"],
        trtc_endpoint: Some(sim.base_url()),
        connections: Vec::new(),
    };
    let config = config_toml(&spec, plugin_threads, share)?;
    let running = gateway::start_with(gateway_bin, &config, spec.listen, None, dir.path()).await?;
    let addr = running.addr;
    let (auth_a, auth_b) = (format!("Bearer {KEY_A}"), format!("Bearer {KEY_B}"));

    // Warm-up: the vendor connection pool, the first instances.
    for _ in 0..10 {
        let answer = start_b(addr, &auth_b).await?;
        anyhow::ensure!(
            answer.status == 201,
            "tenant B's start answered {}: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
    }
    let unloaded = phase(addr, &auth_b, timing).await;

    let load = Load::start(addr, looping, &auth_a);
    tokio::time::sleep(timing.settle).await;
    let loaded = phase(addr, &auth_b, timing).await;
    let looping_ended = load.stop();
    drop(running);
    Ok(Run {
        plugin_threads,
        tenant_plugin_share: share,
        unloaded,
        loaded,
        looping_ended,
    })
}

/// The bench's TRTC configuration (the demo's) with two tenants, the looping provider and
/// the runtime settings of this section.
fn config_toml(spec: &Spec, plugin_threads: Option<u32>, share: f64) -> anyhow::Result<String> {
    let mut config: Table = toml::from_str(&gateway::config_toml(spec)?)?;
    gateway::table(&mut config, "gateway")?.insert("auth".into(), "tenants".into());
    let runtime = gateway::table(&mut config, "runtime")?;
    runtime.insert("step_budget_ms".into(), Value::Integer(STEP_BUDGET_MS));
    if let Some(n) = plugin_threads {
        runtime.insert("plugin_threads".into(), Value::Integer(i64::from(n)));
    }
    runtime.insert("tenant_plugin_share".into(), Value::Float(share));

    let mut looping: Table = toml::from_str(
        // From `gateway.plugin_dir`, where the build put it. No circuit breaker in the way:
        // every looping call runs until its budget.
        "id = \"loop\"\nplugin = \"test-hostile\"\n[config]\nmode = \"loop\"\n\
         [failure]\nunhealthy_after = 1000\n",
    )?;
    // No vendor quota either (as for the bench's other providers): every call runs.
    let mut quota = Table::new();
    for key in ["rate", "start", "stop", "status"] {
        quota.insert(key.into(), Value::Integer(0));
    }
    looping.insert("quota".into(), Value::Table(quota));
    let Some(Value::Array(providers)) = config.get_mut("providers") else {
        anyhow::bail!("no [[providers]] in the bench's configuration");
    };
    providers.push(Value::Table(looping));

    let tenant = |id: &str, key: &str, provider: &str| {
        let mut t = Table::new();
        t.insert("id".into(), id.into());
        t.insert(
            "api_key_sha256".into(),
            ingest_gateway::sha256_hex(key.as_bytes()).into(),
        );
        t.insert("providers".into(), Value::Array(vec![provider.into()]));
        Value::Table(t)
    };
    config.insert(
        "tenants".into(),
        Value::Array(vec![tenant("a", KEY_A, "loop"), tenant("b", KEY_B, "trtc")]),
    );
    Ok(toml::to_string(&config)?)
}

/// Tenant A's looping calls: `n` clients, each re-issuing its start as the last one ends.
struct Load {
    stop: Arc<AtomicBool>,
    ended: Arc<Mutex<BTreeMap<u16, usize>>>,
    clients: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(addr: SocketAddr, n: usize, auth: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let ended = Arc::new(Mutex::new(BTreeMap::new()));
        let clients = (0..n)
            .map(|_| {
                let (stop, ended, auth) = (stop.clone(), ended.clone(), auth.to_string());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let answer = tokio::time::timeout(
                            Duration::from_secs(60),
                            ingest_sim::server::send(
                                addr,
                                "POST",
                                "/v1/ingests",
                                &[
                                    ("content-type", "application/json"),
                                    ("authorization", &auth),
                                ],
                                LOOP_BODY,
                            ),
                        )
                        .await;
                        let status = match answer {
                            Ok(Ok(a)) => a.status,
                            _ => 0,
                        };
                        if let Ok(mut ended) = ended.lock() {
                            *ended.entry(status).or_insert(0) += 1;
                        }
                        if status == 0 {
                            // The gateway is gone or refusing: no busy loop of errors.
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                })
            })
            .collect();
        Self {
            stop,
            ended,
            clients,
        }
    }

    /// Stops the clients (calls in flight are dropped) and returns the calls that ended, by
    /// status.
    fn stop(self) -> BTreeMap<u16, usize> {
        self.stop.store(true, Ordering::Relaxed);
        for c in &self.clients {
            c.abort();
        }
        self.ended.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

/// `/healthz` and tenant B's starts, each one after another, side by side, for one phase.
async fn phase(addr: SocketAddr, auth_b: &str, timing: Timing) -> Phase {
    let healthz = probe(timing, 200, || {
        ingest_sim::server::send(addr, "GET", "/healthz", &[], Bytes::new())
    });
    let starts = probe(timing, 201, || start_b(addr, auth_b));
    let (mut healthz, mut starts) = tokio::join!(healthz, starts);
    Phase {
        healthz_ms: procs::percentiles(&mut healthz.ok_ms),
        healthz_ok: healthz.ok_ms.len(),
        healthz_failed: healthz.failed,
        start_ms: procs::percentiles(&mut starts.ok_ms),
        start_ok: starts.ok_ms.len(),
        start_failed: starts.failed,
        first_failure: healthz.first_failure.or(starts.first_failure),
    }
}

async fn start_b(addr: SocketAddr, auth: &str) -> anyhow::Result<ingest_sim::server::SimResponse> {
    ingest_sim::server::send(
        addr,
        "POST",
        "/v1/ingests",
        &[
            ("content-type", "application/json"),
            ("authorization", auth),
        ],
        gateway::START_BODY,
    )
    .await
}

#[derive(Default)]
struct Probed {
    ok_ms: Vec<f64>,
    failed: usize,
    first_failure: Option<String>,
}

/// `request` one after another (5 ms apart) for `timing.phase`; latencies of the answers
/// with status `expect`.
async fn probe<F, Fut>(timing: Timing, expect: u16, mut request: F) -> Probed
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<ingest_sim::server::SimResponse>>,
{
    let end = Instant::now() + timing.phase;
    let mut out = Probed::default();
    while Instant::now() < end {
        let t0 = Instant::now();
        let failure = match tokio::time::timeout(timing.probe_timeout, request()).await {
            Ok(Ok(a)) if a.status == expect => {
                out.ok_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
                None
            }
            Ok(Ok(a)) => Some(format!(
                "answered {}: {}",
                a.status,
                String::from_utf8_lossy(&a.body)
            )),
            Ok(Err(e)) => Some(format!("{e:#}")),
            Err(_) => Some(format!("no answer within {:?}", timing.probe_timeout)),
        };
        if let Some(f) = failure {
            out.failed += 1;
            out.first_failure.get_or_insert(f);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    out
}
