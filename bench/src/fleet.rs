//! Fleet: what running several replicas costs.
//!
//! 1. The shared quota's round trip: `turns` vendor-quota turns (a limit high enough that
//!    each is admitted at once), taken in this process (governor, what every call paid
//!    before) and from Redis (one Lua script a turn), in the same run; p50 and p99 of each and
//!    what Redis adds. The turn is on every admitted call's path, so the difference is what
//!    a call pays for a fleet-wide quota. Redis: `INGEST_BENCH_REDIS_URL`, else
//!    `INGEST_TEST_REDIS_URL`, else `redis://127.0.0.1:6379` (`scripts/bench` starts one).
//! 2. Pull to serving: a gateway process whose TRTC plugin is `oci://…:live` in a real
//!    registry (Debian's docker-registry, started here), signatures required, the tag looked
//!    at every `poll_ms`; a new signed digest is pushed `pushes` times, and each time the
//!    delay from the push's end to `GET /v1/providers` showing the new digest is measured
//!    (the poll's wait, the pull, the checks, a baseline compile, the swap).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;

use crate::procs::{self, Proc, TempDir};

/// What the shared quota may add to an admitted call, p99, ms.
pub const QUOTA_TARGET_P99_MS: f64 = 0.5;

/// How the section runs.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Quota turns per store.
    pub turns: usize,
    /// New digests pushed.
    pub pushes: usize,
    /// `[plugins] poll_interval_ms` of the gateway.
    pub poll_ms: u64,
}

/// The section's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Fleet {
    /// Turns per store.
    pub turns: usize,
    /// A turn in this process: p50, p99, ms.
    pub local_ms: (f64, f64),
    /// A turn from Redis: p50, p99, ms.
    pub redis_ms: (f64, f64),
    /// What Redis adds: p50, p99, ms (Redis's percentile less the local one).
    pub added_ms: (f64, f64),
    /// The tag's poll interval, ms.
    pub poll_ms: u64,
    /// Push → serving, each push, ms.
    pub pull_to_serving_ms: Vec<f64>,
    /// Its median and largest, ms.
    pub pull_to_serving_p50_max_ms: (f64, f64),
}

/// Runs the section.
pub async fn run(bin: &Path, options: Options) -> anyhow::Result<Fleet> {
    let redis = std::env::var("INGEST_BENCH_REDIS_URL")
        .or_else(|_| std::env::var("INGEST_TEST_REDIS_URL"))
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string());
    eprintln!(
        "  quota turns: {} in process, {} from {redis}",
        options.turns, options.turns
    );
    // Warm both paths (the script's first EVALSHA loads it), then measure.
    let rate = 1_000_000;
    ingest_gateway::internals::time_quota_turns(Some(&redis), rate, 200)
        .await
        .map_err(anyhow::Error::msg)?;
    let mut local = ms(
        ingest_gateway::internals::time_quota_turns(None, rate, options.turns)
            .await
            .map_err(anyhow::Error::msg)?,
    );
    let mut shared =
        ms(
            ingest_gateway::internals::time_quota_turns(Some(&redis), rate, options.turns)
                .await
                .map_err(anyhow::Error::msg)?,
        );
    let local_ms = procs::percentiles(&mut local);
    let redis_ms = procs::percentiles(&mut shared);
    let added_ms = (redis_ms.0 - local_ms.0, redis_ms.1 - local_ms.1);

    eprintln!(
        "  pull to serving: {} pushes, poll {} ms",
        options.pushes, options.poll_ms
    );
    let mut pull_to_serving_ms = pull_to_serving(bin, options).await?;
    let mut sorted = pull_to_serving_ms.clone();
    let (p50, _) = procs::percentiles(&mut sorted);
    let max = sorted.last().copied().unwrap_or(f64::NAN);
    pull_to_serving_ms.shrink_to_fit();
    Ok(Fleet {
        turns: options.turns,
        local_ms,
        redis_ms,
        added_ms,
        poll_ms: options.poll_ms,
        pull_to_serving_ms,
        pull_to_serving_p50_max_ms: (p50, max),
    })
}

fn ms(samples: Vec<Duration>) -> Vec<f64> {
    samples.iter().map(|d| d.as_secs_f64() * 1e3).collect()
}

/// The registry binary: where `scripts/install-registry` unpacks it, or on the PATH.
fn registry_bin() -> anyhow::Result<PathBuf> {
    let unpacked = crate::workspace_root().join("target/tools/registry/usr/bin/docker-registry");
    if unpacked.exists() {
        return Ok(unpacked);
    }
    procs::find_program("docker-registry", &[])
        .context("no docker-registry: run scripts/install-registry (scripts/bench does)")
}

/// Runs `bin` with `args`; its stdout, or an error with its stderr.
fn cli(bin: &Path, args: &[&std::ffi::OsStr]) -> anyhow::Result<String> {
    let out = Command::new(bin)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .with_context(|| format!("running {}", bin.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "{} {:?} failed: {}",
        bin.display(),
        args,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

async fn pull_to_serving(bin: &Path, options: Options) -> anyhow::Result<Vec<f64>> {
    let dir = TempDir::new("fleet")?;
    let registry_addr = procs::free_addr()?;
    let registry_config = dir.path().join("registry.yml");
    std::fs::write(
        &registry_config,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {registry_addr}\n",
            dir.path().join("registry").display()
        ),
    )?;
    let mut command = Command::new(registry_bin()?);
    command.arg("serve").arg(&registry_config);
    let mut registry = Proc::spawn("docker-registry", command, &dir.path().join("registry.log"))?;
    procs::wait_ready(
        registry_addr,
        "/v2/",
        Duration::from_secs(30),
        &mut registry,
    )
    .await?;

    let key_prefix = dir.path().join("release");
    cli(
        bin,
        &["plugin".as_ref(), "keygen".as_ref(), key_prefix.as_os_str()],
    )?;
    let key = dir.path().join("release.key");
    let public = dir.path().join("release.pub");
    let reference = format!("oci://{registry_addr}/ingest/tencent-trtc:live");
    let trtc = std::fs::read(ingest_sim::artifacts::plugin("tencent-trtc"))
        .context("the built tencent-trtc plugin")?;
    let push = |n: usize| -> anyhow::Result<String> {
        let bytes = ingest_sim::artifacts::variant(&trtc, "ingest-bench-version", &n.to_string());
        let file = dir.path().join(format!("v{n}.wasm"));
        std::fs::write(&file, &bytes)?;
        cli(
            bin,
            &[
                "plugin".as_ref(),
                "push".as_ref(),
                file.as_os_str(),
                reference.as_ref(),
                "--key".as_ref(),
                key.as_os_str(),
                "--insecure".as_ref(),
            ],
        )?;
        Ok(ingest_gateway::sha256_hex(&bytes))
    };
    push(0)?;

    let sim = crate::load_test_sim().await?;
    let listen = procs::free_addr()?;
    let config = format!(
        r#"[gateway]
listen = "{listen}"
auth = "off"
[runtime]
cache_dir = "{cache}"
[events]
store = "sqlite::memory:"
[plugins]
trusted_keys = ["{public}"]
insecure_registries = ["{registry_addr}"]
poll_interval_ms = {poll}
cache_dir = "{plugins}"
[[providers]]
id = "trtc"
plugin = "{reference}"
endpoint = "{endpoint}"
allow_private = true
[providers.quota]
start = 0
stop = 0
status = 0
[providers.config]
region = "ap-guangzhou"
sdk_app_id = 1400000001
[providers.secrets]
secret_id = {{ value = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE" }}
secret_key = {{ value = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE" }}
"#,
        cache = dir.path().join("artifacts").display(),
        public = public.display(),
        poll = options.poll_ms,
        plugins = dir.path().join("plugins").display(),
        endpoint = sim.base_url(),
    );
    let gateway_dir = dir.path().join("gateway");
    std::fs::create_dir_all(&gateway_dir)?;
    let mut gateway = crate::gateway::start_with(bin, &config, listen, None, &gateway_dir).await?;
    let mut delays = Vec::with_capacity(options.pushes);
    for n in 1..=options.pushes {
        let digest = push(n)?;
        let pushed = Instant::now();
        loop {
            if serving(listen).await.as_deref() == Some(digest.as_str()) {
                break;
            }
            gateway.proc.check_alive()?;
            anyhow::ensure!(
                pushed.elapsed() < Duration::from_secs(120),
                "the gateway did not serve the new digest within 120 s:\n{}",
                gateway.proc.log_tail(20)
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        delays.push(pushed.elapsed().as_secs_f64() * 1e3);
    }
    drop(registry);
    Ok(delays)
}

/// The component digest `GET /v1/providers` shows for the first provider.
async fn serving(addr: SocketAddr) -> Option<String> {
    let answer = ingest_sim::server::send(addr, "GET", "/v1/providers", &[], bytes::Bytes::new())
        .await
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&answer.body).ok()?;
    v["providers"][0]["digest"].as_str().map(str::to_string)
}
