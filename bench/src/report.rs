//! The table and the JSON: every figure, its baseline from the same run, and the product's
//! target with how far it is met or missed.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::e2e::LoadRun;
use crate::lifecycle::{Memory, Startup, Swap, median};
use crate::micro::PluginCall;

/// Plugin call median target for the Rust seed plugins, µs.
pub const CALL_TARGET_US: f64 = 20.0;
/// A JavaScript plugin's call median, at most this many times the Rust plugins' median (and
/// the Python template's, at most this many times the Rust template's).
pub const JS_FACTOR: f64 = 10.0;
/// A Python plugin's 2-step start median, µs.
pub const PY_START_TARGET_US: f64 = 1500.0;
/// Hot swap with a cold compile, ms.
pub const SWAP_COLD_TARGET_MS: f64 = 100.0;
/// Hot swap from the cache, ms.
pub const SWAP_WARM_TARGET_MS: f64 = 10.0;
/// Start-up with a cold cache (every plugin compiled), ms.
pub const STARTUP_COLD_TARGET_MS: f64 = 300.0;
/// Start-up with a warm cache, ms.
pub const STARTUP_WARM_TARGET_MS: f64 = 50.0;
/// The simulator's CPU per request behind the gateway, at most this many times behind Envoy.
pub const UPSTREAM_CPU_FACTOR: f64 = 1.1;
/// Throughput ratio gateway / the peer (Envoy + a proxy-wasm filter doing the same start).
pub const PEER_THROUGHPUT_TARGET_RATIO: f64 = 1.0;
/// Throughput ratio gateway / Envoy as a plain proxy of the signed vendor request.
pub const THROUGHPUT_TARGET_RATIO: f64 = 0.7;

/// Everything one run measured.
#[derive(Debug)]
pub struct Results {
    smoke: bool,
    connections: u32,
    duration: Duration,
    /// Plugin calls.
    pub micro: Option<Vec<PluginCall>>,
    /// End to end.
    pub e2e: Option<Vec<LoadRun>>,
    /// Each front's latency (library, standalone listener, Envoy + ext_proc).
    pub fronts: Option<Vec<crate::fronts::FrontCost>>,
    /// Hot swap.
    pub swap: Option<Swap>,
    /// Start-up.
    pub startup: Option<Startup>,
    /// Memory.
    pub memory: Option<Memory>,
    /// Slow clients.
    pub slowloris: Option<crate::slowloris::Slowloris>,
    /// Isolation from a tenant's looping plugins.
    pub isolation: Option<crate::isolation::Isolation>,
    /// The event outbox on each store.
    pub events: Option<crate::outbox::Outbox>,
    /// The shared quota's round trip and the registry plugin's pull to serving.
    pub fleet: Option<crate::fleet::Fleet>,
    /// Sections that could not be measured, with the reason.
    pub failed: Vec<String>,
}

/// One target and how the run did.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// What is measured.
    pub figure: String,
    /// The measurement.
    pub value: f64,
    /// `<=` or `>=`.
    pub op: &'static str,
    /// The target.
    pub target: f64,
    /// Unit of both.
    pub unit: &'static str,
    /// Whether it is met.
    pub met: bool,
}

impl Verdict {
    fn at_most(figure: impl Into<String>, value: f64, target: f64, unit: &'static str) -> Self {
        Self {
            figure: figure.into(),
            value,
            op: "<=",
            target,
            unit,
            met: value <= target,
        }
    }

    fn at_least(figure: impl Into<String>, value: f64, target: f64, unit: &'static str) -> Self {
        Self {
            figure: figure.into(),
            value,
            op: ">=",
            target,
            unit,
            met: value >= target,
        }
    }

    /// `met` or `MISSED by …`.
    pub fn status(&self) -> String {
        if self.value.is_nan() {
            return "not measured".into();
        }
        if self.met {
            return "met".into();
        }
        let by = (self.value - self.target).abs();
        format!(
            "MISSED by {} {} ({:.2}x the target)",
            fmt(by),
            self.unit,
            self.value / self.target
        )
    }
}

fn fmt(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn ratio(a: f64, b: f64) -> String {
    if b == 0.0 || a.is_nan() || b.is_nan() {
        "-".into()
    } else {
        format!("{:.2}x", a / b)
    }
}

impl Results {
    /// Nothing measured yet.
    pub fn new(smoke: bool, connections: u32, duration: Duration) -> Self {
        Self {
            smoke,
            connections,
            duration,
            micro: None,
            e2e: None,
            fronts: None,
            swap: None,
            startup: None,
            memory: None,
            slowloris: None,
            isolation: None,
            events: None,
            fleet: None,
            failed: Vec::new(),
        }
    }

    /// A section's figures; a failure is reported and kept, and the other sections still run.
    pub fn section<T>(&mut self, name: &str, result: anyhow::Result<T>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                eprintln!("  {name}: FAILED: {e:#}");
                self.failed.push(format!("{name}: {e:#}"));
                None
            }
        }
    }

    fn run(&self, target: &str) -> Option<&LoadRun> {
        self.e2e.as_ref()?.iter().find(|r| r.target == target)
    }

    /// Every target the run can judge.
    pub fn verdicts(&self) -> Vec<Verdict> {
        let mut v = Vec::new();
        let calls: Vec<&PluginCall> = self.micro.iter().flatten().filter(|c| c.measured).collect();
        let language = |c: &PluginCall| {
            if c.plugin.ends_with("-js") {
                "js"
            } else if c.plugin.ends_with("-py") {
                "py"
            } else {
                "rust"
            }
        };
        let rust: Vec<f64> = calls
            .iter()
            .filter(|c| language(c) == "rust")
            .map(|c| c.median_us)
            .collect();
        let rust_median = median(&rust);
        let median_of = |name: &str| calls.iter().find(|c| c.plugin == name).map(|c| c.median_us);
        for call in &calls {
            match language(call) {
                "js" => v.push(Verdict::at_most(
                    format!(
                        "plugin call median, {} (≤ {JS_FACTOR}x the Rust median)",
                        call.plugin
                    ),
                    call.median_us,
                    JS_FACTOR * rust_median,
                    "µs",
                )),
                "py" => {
                    v.push(Verdict::at_most(
                        format!(
                            "plugin call median, {} (a 2-step Python start)",
                            call.plugin
                        ),
                        call.median_us,
                        PY_START_TARGET_US,
                        "µs",
                    ));
                    let twin = call.plugin.trim_end_matches("-py");
                    if let Some(rust) = median_of(twin).filter(|_| twin == "example-vendor") {
                        v.push(Verdict::at_most(
                            format!(
                                "plugin call median, {} (≤ {JS_FACTOR}x the Rust template's)",
                                call.plugin
                            ),
                            call.median_us,
                            JS_FACTOR * rust,
                            "µs",
                        ));
                    }
                }
                _ => v.push(Verdict::at_most(
                    format!("plugin call median, {}", call.plugin),
                    call.median_us,
                    CALL_TARGET_US,
                    "µs",
                )),
            }
        }
        if let (Some(g), Some(p)) = (self.run("gateway"), self.run("peer")) {
            v.push(Verdict::at_least(
                "end-to-end throughput, gateway / peer (Envoy + proxy-wasm)",
                g.rps / p.rps,
                PEER_THROUGHPUT_TARGET_RATIO,
                "x",
            ));
            v.push(Verdict::at_most(
                "end-to-end p99, gateway (≤ the peer's)",
                g.p99_us / 1e3,
                p.p99_us / 1e3,
                "ms",
            ));
            if let (Some(gc), Some(pc)) = (g.proxy_cpu_us_per_req, p.proxy_cpu_us_per_req) {
                v.push(Verdict::at_most(
                    "end-to-end CPU per request, gateway (≤ the peer's)",
                    gc,
                    pc,
                    "µs",
                ));
            }
        }
        if let (Some(g), Some(e)) = (self.run("gateway"), self.run("envoy")) {
            v.push(Verdict::at_least(
                "end-to-end throughput, gateway / Envoy as a plain proxy",
                g.rps / e.rps,
                THROUGHPUT_TARGET_RATIO,
                "x",
            ));
            v.push(Verdict::at_most(
                format!("simulator CPU per request behind the gateway (≤ {UPSTREAM_CPU_FACTOR}x behind Envoy)"),
                g.upstream_cpu_us_per_req,
                UPSTREAM_CPU_FACTOR * e.upstream_cpu_us_per_req,
                "µs",
            ));
        }
        if let Some(s) = &self.swap {
            v.push(Verdict::at_most(
                "hot swap, cold compile (median)",
                median(&s.cold_ms),
                SWAP_COLD_TARGET_MS,
                "ms",
            ));
            v.push(Verdict::at_most(
                "hot swap, warm cache (median)",
                median(&s.warm_ms),
                SWAP_WARM_TARGET_MS,
                "ms",
            ));
        }
        if let Some(s) = &self.startup {
            v.push(Verdict::at_most(
                "start-up, cold cache (median)",
                median(&s.cold_ms),
                STARTUP_COLD_TARGET_MS,
                "ms",
            ));
            v.push(Verdict::at_most(
                "start-up, warm cache (median)",
                median(&s.warm_ms),
                STARTUP_WARM_TARGET_MS,
                "ms",
            ));
        }
        if let Some(m) = &self.memory {
            let (g, e) = m.per_thousand_mib();
            v.push(Verdict::at_most(
                "resident memory per 1000 in flight, gateway (≤ Envoy's)",
                g,
                e,
                "MiB",
            ));
        }
        if let Some(i) = &self.isolation {
            use crate::isolation::{HEALTHZ_TARGET_MS, OTHER_TENANT_FACTOR};
            v.push(Verdict::at_most(
                format!("/healthz p99, {} looping calls", i.looping),
                i.isolated.loaded.healthz_ms.1,
                HEALTHZ_TARGET_MS,
                "ms",
            ));
            v.push(Verdict::at_most(
                "other tenant's start p99, loaded / unloaded",
                i.isolated.other_tenant_ratio(),
                OTHER_TENANT_FACTOR,
                "x",
            ));
        }
        if let Some(e) = &self.events {
            use crate::outbox::{ACCEPT_TARGET_PER_SEC, DELAY_TARGET_MS};
            for r in &e.runs {
                v.push(Verdict::at_least(
                    format!(
                        "callbacks accepted per second, {}, {} senders",
                        r.store, e.senders
                    ),
                    r.accepted_per_sec,
                    ACCEPT_TARGET_PER_SEC,
                    "/s",
                ));
                v.push(Verdict::at_most(
                    format!(
                        "callback → webhook p99, {}, {} callbacks/s",
                        r.store, e.rate
                    ),
                    r.delay_ms.1,
                    DELAY_TARGET_MS,
                    "ms",
                ));
            }
        }
        if let Some(f) = &self.fleet {
            v.push(Verdict::at_most(
                "added by the shared quota (Redis), p99",
                f.added_ms.1,
                crate::fleet::QUOTA_TARGET_P99_MS,
                "ms",
            ));
        }
        v
    }

    /// The table.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "\nIngest Gateway benchmarks{} — {} cores, {}",
            if self.smoke {
                " (SMOKE RUN: the figures mean nothing)"
            } else {
                ""
            },
            crate::cores(),
            cpu_model()
        );
        if let Some(micro) = &self.micro {
            let _ = writeln!(
                t,
                "\nPlugin call: start, a fresh instance per step (build + sign the request; parse the answer), transport stubbed in-process"
            );
            let _ = writeln!(
                t,
                "  {:<18} {:>9} {:>12} {:>10} {:>10} {:>13} {:>6} {:>10} {:>10}  vs target {CALL_TARGET_US} µs",
                "plugin",
                "size KiB",
                "cold load ms",
                "median µs",
                "p99 µs",
                "instantiate µs",
                "steps",
                "held µs",
                "calls/s",
            );
            for c in micro {
                if !c.measured {
                    let _ = writeln!(
                        t,
                        "  {:<18} not measured: {}",
                        c.plugin,
                        c.note.as_deref().unwrap_or_default()
                    );
                    continue;
                }
                let _ = writeln!(
                    t,
                    "  {:<18} {:>9} {:>12} {:>10} {:>10} {:>13} {:>6} {:>10} {:>10.0}  {}",
                    c.plugin,
                    c.component_bytes / 1024,
                    fmt(c.cold_load_ms),
                    fmt(c.median_us),
                    fmt(c.p99_us),
                    fmt(c.instantiate_median_us),
                    c.steps,
                    fmt(c.held_median_us),
                    c.calls_per_sec,
                    ratio(c.median_us, CALL_TARGET_US)
                );
            }
            let _ = writeln!(
                t,
                "  (cold load: compile with an empty artifact cache to optimized code, validate, bind; held µs: the same calls with one instance held across the vendor exchange, the call shape not taken; see docs/performance.md)"
            );
        }
        if let Some(fronts) = &self.fronts {
            let _ = writeln!(
                t,
                "\nFronts: the same requests, one at a time on one kept-alive connection, to one gateway through each front"
            );
            let _ = writeln!(
                t,
                "  {:<18} {:<22} {:>9} {:>9} {:>12}",
                "front", "request", "p50 µs", "p99 µs", "p50/library"
            );
            for f in fronts {
                let library = fronts
                    .iter()
                    .find(|l| l.front == "library" && l.request == f.request);
                let _ = writeln!(
                    t,
                    "  {:<18} {:<22} {:>9} {:>9} {:>12}",
                    f.front,
                    f.request,
                    fmt(f.p50_us),
                    fmt(f.p99_us),
                    library.map_or_else(|| "-".into(), |l| ratio(f.p50_us, l.p50_us))
                );
            }
        }
        if let Some(runs) = &self.e2e {
            let envoy = self.run("envoy");
            let peer = self.run("peer");
            let _ = writeln!(
                t,
                "\nEnd to end: wrk, {} connections, {} s per target, all to one Tencent TRTC simulator on loopback",
                self.connections,
                self.duration.as_secs()
            );
            let _ = writeln!(
                t,
                "  {:<9} {:>9} {:>9} {:>9} {:>13} {:>8}  {:>9} {:>9} {:>9}  {:>9} {:>9} {:>9}",
                "target",
                "req/s",
                "p50 ms",
                "p99 ms",
                "CPU µs/req",
                "errors",
                "rps/Envoy",
                "p50/Envoy",
                "p99/Envoy",
                "rps/peer",
                "p99/peer",
                "CPU/peer"
            );
            let cpu = |r: &LoadRun| r.proxy_cpu_us_per_req.unwrap_or(f64::NAN);
            for r in runs {
                let (rr, r50, r99) = match envoy {
                    Some(e) => (
                        ratio(r.rps, e.rps),
                        ratio(r.p50_us, e.p50_us),
                        ratio(r.p99_us, e.p99_us),
                    ),
                    None => ("-".into(), "-".into(), "-".into()),
                };
                let (pr, p99, pc) = match peer {
                    Some(p) => (
                        ratio(r.rps, p.rps),
                        ratio(r.p99_us, p.p99_us),
                        ratio(cpu(r), cpu(p)),
                    ),
                    None => ("-".into(), "-".into(), "-".into()),
                };
                let _ = writeln!(
                    t,
                    "  {:<9} {:>9.0} {:>9} {:>9} {:>13} {:>8}  {:>9} {:>9} {:>9}  {:>9} {:>9} {:>9}",
                    r.target,
                    r.rps,
                    fmt(r.p50_us / 1e3),
                    fmt(r.p99_us / 1e3),
                    r.proxy_cpu_us_per_req
                        .map(fmt)
                        .unwrap_or_else(|| "-".into()),
                    r.errors + r.bad_status,
                    rr,
                    r50,
                    r99,
                    pr,
                    p99,
                    pc
                );
            }
            let _ = writeln!(
                t,
                "  (CPU µs/req: the proxy process, gateway or Envoy; direct has none. peer: Envoy + a proxy-wasm filter (V8) signing and sending the same start itself. The simulator used {} µs/req through the gateway.)",
                self.run("gateway")
                    .map(|g| fmt(g.upstream_cpu_us_per_req))
                    .unwrap_or_else(|| "-".into())
            );
        }
        if let Some(s) = &self.swap {
            let _ = writeln!(
                t,
                "\nHot swap: upload of {} ({} KiB) to the first answer from the new version",
                s.plugin,
                s.component_bytes / 1024
            );
            let _ = writeln!(
                t,
                "  cold compile  median {} ms  (runs: {})",
                fmt(median(&s.cold_ms)),
                list(&s.cold_ms)
            );
            let _ = writeln!(
                t,
                "  warm cache    median {} ms  (runs: {})",
                fmt(median(&s.warm_ms)),
                list(&s.warm_ms)
            );
        }
        if let Some(s) = &self.startup {
            let envoy = median(&s.envoy_ms);
            let _ = writeln!(
                t,
                "\nStart-up: spawn to ready, {} seed plugins (Envoy: spawn to accepting, plain-proxy config)",
                s.plugins
            );
            let _ = writeln!(
                t,
                "  gateway cold cache  median {} ms  ({:.2}x Envoy)  runs: {}",
                fmt(median(&s.cold_ms)),
                median(&s.cold_ms) / envoy,
                list(&s.cold_ms)
            );
            let _ = writeln!(
                t,
                "  gateway warm cache  median {} ms  ({:.2}x Envoy)  runs: {}",
                fmt(median(&s.warm_ms)),
                median(&s.warm_ms) / envoy,
                list(&s.warm_ms)
            );
            let _ = writeln!(t, "  Envoy               median {} ms", fmt(envoy));
        }
        if let Some(m) = &self.memory {
            let (g, e) = m.per_thousand_mib();
            let _ = writeln!(t, "\nMemory: resident (RSS)");
            let _ = writeln!(
                t,
                "  idle                    gateway {} MiB, Envoy {} MiB  ({:.2}x)",
                fmt(m.gateway_idle_kib as f64 / 1024.0),
                fmt(m.envoy_idle_kib as f64 / 1024.0),
                m.gateway_idle_kib as f64 / m.envoy_idle_kib.max(1) as f64
            );
            let _ = writeln!(
                t,
                "  per 1000 in flight      gateway {} MiB, Envoy {} MiB  ({})   (measured with {} held requests)",
                fmt(g),
                fmt(e),
                ratio(g, e),
                m.in_flight
            );
        }
        if let Some(s) = &self.slowloris {
            let _ = writeln!(
                t,
                "\nSlow clients: {} connections each holding half a request head (header timeout {} ms)",
                s.attackers,
                crate::slowloris::HEADER_TIMEOUT_MS
            );
            let _ = writeln!(
                t,
                "  cut off                 {} of {} within the timeout + 1 s ({} at all); after median {} ms, max {} ms",
                s.cut_in_time,
                s.attackers,
                s.cut,
                fmt(s.cut_after_median_ms),
                fmt(s.cut_after_max_ms)
            );
            let _ = writeln!(
                t,
                "  GET /healthz (new connection each)  before: p50 {} ms, p99 {} ms   during: p50 {} ms, p99 {} ms ({}x)   failed during: {} of {}",
                fmt(s.before_ms.0),
                fmt(s.before_ms.1),
                fmt(s.during_ms.0),
                fmt(s.during_ms.1),
                fmt(s.during_ms.1 / s.before_ms.1),
                s.failed,
                s.requests
            );
        }
        if let Some(i) = &self.isolation {
            let _ = writeln!(
                t,
                "\nIsolation: tenant A keeps {} looping starts in flight (step budget {} ms, each re-issued as it ends); GET /healthz and tenant B's TRTC starts meanwhile, one after another, a new connection each, {} s per phase",
                i.looping,
                i.step_budget_ms,
                fmt(i.phase_seconds)
            );
            let _ = writeln!(
                t,
                "  {:<34} {:<9} {:>9} {:>9} {:>6}  {:>9} {:>9} {:>6}  {:>9}  failed; A's calls ended",
                "gateway",
                "phase",
                "hz p50 ms",
                "hz p99 ms",
                "hz n",
                "B p50 ms",
                "B p99 ms",
                "B n",
                "B p99 x",
            );
            let runs = std::iter::once(("plugin threads, tenant share 0.5", &i.isolated)).chain(
                i.baseline
                    .iter()
                    .map(|b| ("plugin_threads = 0, share 1.0", b)),
            );
            for (label, run) in runs {
                for (phase, p) in [("unloaded", &run.unloaded), ("loaded", &run.loaded)] {
                    let loaded = phase == "loaded";
                    let ended = if loaded {
                        let by: Vec<String> = run
                            .looping_ended
                            .iter()
                            .map(|(status, n)| {
                                if *status == 0 {
                                    format!("no answer: {n}")
                                } else {
                                    format!("{status}: {n}")
                                }
                            })
                            .collect();
                        format!(
                            "; {}",
                            if by.is_empty() {
                                "none".into()
                            } else {
                                by.join(", ")
                            }
                        )
                    } else {
                        String::new()
                    };
                    let _ = writeln!(
                        t,
                        "  {:<34} {:<9} {:>9} {:>9} {:>6}  {:>9} {:>9} {:>6}  {:>9}  {}{}",
                        if loaded { "" } else { label },
                        phase,
                        fmt(p.healthz_ms.0),
                        fmt(p.healthz_ms.1),
                        p.healthz_ok,
                        fmt(p.start_ms.0),
                        fmt(p.start_ms.1),
                        p.start_ok,
                        if loaded {
                            ratio(p.start_ms.1, run.unloaded.start_ms.1)
                        } else {
                            String::new()
                        },
                        p.healthz_failed + p.start_failed,
                        ended
                    );
                    if let Some(f) = &p.first_failure {
                        let _ = writeln!(t, "  {:<34} first failure: {f}", "");
                    }
                }
            }
            let _ = writeln!(
                t,
                "  (hz: GET /healthz; B: tenant B's POST /v1/ingests; n: answered; B p99 x: loaded / unloaded. Baseline row: steps on the front's threads, still yielding at each epoch tick, no tenant cap.)"
            );
        }
        if let Some(e) = &self.events {
            let _ = writeln!(
                t,
                "\nEvents: signed TRTC callbacks into the outbox (committed before the 200), {} senders on keep-alive connections; then {} callbacks/s, callback sent → webhook received",
                e.senders, e.rate
            );
            let _ = writeln!(
                t,
                "  {:<9} {:>12} {:>9} {:>8}  {:>12} {:>12} {:>14}",
                "store",
                "accepted/s",
                "accepted",
                "refused",
                "delay p50 ms",
                "delay p99 ms",
                "delivered/sent"
            );
            for r in &e.runs {
                let _ = writeln!(
                    t,
                    "  {:<9} {:>12} {:>9} {:>8}  {:>12} {:>12} {:>14}",
                    r.store,
                    fmt(r.accepted_per_sec),
                    r.accepted,
                    r.refused,
                    fmt(r.delay_ms.0),
                    fmt(r.delay_ms.1),
                    format!("{}/{}", r.steady_delivered, r.steady_sent)
                );
            }
            for f in &e.fleet {
                let _ = writeln!(
                    t,
                    "  another replica's stream, PostgreSQL, {}: callback to replica A → event on replica B's GET /v1/events p50 {} ms, p99 {} ms ({}/{} heard)",
                    if f.notify {
                        "LISTEN/NOTIFY (notify = true)"
                    } else {
                        "polling only (notify = false, every 250 ms)"
                    },
                    fmt(f.delay_ms.0),
                    fmt(f.delay_ms.1),
                    f.heard,
                    f.sent
                );
            }
        }
        if let Some(f) = &self.fleet {
            let _ = writeln!(
                t,
                "\nFleet: a vendor-quota turn ({} per store, each admitted at once), in process and from Redis (one Lua round trip); then a new signed digest pushed to a watched registry tag → serving",
                f.turns
            );
            let _ = writeln!(
                t,
                "  quota turn p50 / p99 ms: in process {} / {}, Redis {} / {}; added by Redis {} / {}",
                fmt(f.local_ms.0),
                fmt(f.local_ms.1),
                fmt(f.redis_ms.0),
                fmt(f.redis_ms.1),
                fmt(f.added_ms.0),
                fmt(f.added_ms.1)
            );
            let _ = writeln!(
                t,
                "  push → serving (poll every {} ms; pull, digest and signature checks, baseline compile, swap): p50 {} ms, max {} ms ({})",
                f.poll_ms,
                fmt(f.pull_to_serving_p50_max_ms.0),
                fmt(f.pull_to_serving_p50_max_ms.1),
                list(&f.pull_to_serving_ms)
            );
        }
        for f in &self.failed {
            let _ = writeln!(t, "\nNOT MEASURED — {f}");
        }
        let verdicts = self.verdicts();
        if !verdicts.is_empty() {
            let _ = writeln!(t, "\nTargets");
            for v in verdicts {
                let _ = writeln!(
                    t,
                    "  {:<42} {:>9} {} {:<9} {}",
                    v.figure,
                    format!("{} {}", fmt(v.value), v.unit),
                    v.op,
                    format!("{} {}", fmt(v.target), v.unit),
                    v.status()
                );
            }
        }
        t
    }

    /// The JSON written to `target/bench/`.
    pub fn to_json(&self) -> serde_json::Value {
        let swap = self.swap.as_ref().map(|s| {
            serde_json::json!({
                "runs": s, "cold_median_ms": median(&s.cold_ms), "warm_median_ms": median(&s.warm_ms),
            })
        });
        let startup = self.startup.as_ref().map(|s| {
            serde_json::json!({
                "runs": s, "cold_median_ms": median(&s.cold_ms), "warm_median_ms": median(&s.warm_ms),
                "envoy_median_ms": median(&s.envoy_ms),
            })
        });
        let memory = self.memory.as_ref().map(|m| {
            let (g, e) = m.per_thousand_mib();
            serde_json::json!({"raw": m, "gateway_per_1000_mib": g, "envoy_per_1000_mib": e})
        });
        serde_json::json!({
            "smoke": self.smoke,
            "machine": {"cores": crate::cores(), "cpu": cpu_model()},
            "end_to_end": {"connections": self.connections, "seconds": self.duration.as_secs(), "runs": self.e2e},
            "plugin_call": self.micro,
            "fronts": self.fronts,
            "hot_swap": swap,
            "startup": startup,
            "memory": memory,
            "slow_clients": self.slowloris,
            "isolation": self.isolation,
            "events": self.events,
            "fleet": self.fleet,
            "targets": self.verdicts(),
            "failed": self.failed,
        })
    }
}

fn list(v: &[f64]) -> String {
    v.iter().map(|x| fmt(*x)).collect::<Vec<_>>().join(", ")
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
