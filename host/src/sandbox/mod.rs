//! The sandbox: one wasmtime engine and linker per process ([`Runtime`]), one compiled and
//! pre-instantiated [`PluginVersion`] per loaded component ([`load`], with the artifact
//! [`cache`]), and the calls themselves ([`call`]): every step ([`step`]) on a fresh instance
//! whose store ([`state`]) has its own memory cap and CPU budget (its thread's CPU time,
//! `meter.rs`), run on the plugin threads or the caller's (`threads.rs`), faults classified
//! ([`fault`]) and results checked against the host's bounds ([`outcome`]) before anything
//! else sees them. [`inspect`] looks at a component before it serves (compile, validate,
//! list its imports and exports, describe), for the plugin authors' kit. `held.rs` is the
//! benchmark's other call shape (feature `bench-call-shapes`).
//!
//! Life cycle: set-up (engine, linker, epoch ticker) → per version (compile, world check,
//! pre-instantiate) → per step (store, instance, one call). Depends on `capability`,
//! `contract`, `config` and `error`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::capability::context::CallContext;
use crate::capability::credentials;
use crate::capability::log::PluginLog;
use crate::capability::plugin_config::ConfigView;
use crate::config::RuntimeConfig;
use crate::contract;

pub(crate) mod cache;
pub(crate) mod call;
pub(crate) mod fault;
mod held;
pub mod inspect;
pub(crate) mod load;
mod meter;
pub(crate) mod outcome;
mod state;
mod step;
mod threads;

pub use call::{CallReport, CallSetup, RequestGate};
#[cfg(feature = "bench-call-shapes")]
pub use held::CallShape;
pub use load::{Optimize, PluginVersion, Tier};
pub use outcome::Outcome;
pub use step::Operation;

use state::CallState;
use threads::PluginThreads;
pub(crate) use threads::{InProgress, LongSteps};

/// The process-wide engine, linker and call limits.
pub struct Runtime {
    /// The optimizing engine (Cranelift), with the pooling allocator.
    engine: Engine,
    linker: Linker<CallState>,
    /// The baseline engine (Winch) and its linker, when compilation is tiered.
    baseline: Option<(Engine, Linker<CallState>)>,
    limits: RuntimeConfig,
    slots: Arc<Semaphore>,
    pooling: bool,
    /// [`CallShape::HeldAcrossSteps`] is selected (benchmark comparison only).
    #[cfg(feature = "bench-call-shapes")]
    held_shape: std::sync::atomic::AtomicBool,
    /// Where steps run (`runtime.plugin_threads`); `None`: on the caller's threads.
    plugin_threads: Option<PluginThreads>,
    /// Calls in progress (steps and vendor requests alike).
    calls: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("limits", &self.limits)
            .field("pooling", &self.pooling)
            .field("tiered", &self.baseline.is_some())
            .finish_non_exhaustive()
    }
}

/// Bytes of each linear memory and table reset in place when a pool slot is returned.
const KEEP_RESIDENT_MEMORY: usize = 8 << 20;
const KEEP_RESIDENT_TABLE: usize = 1 << 20;
/// Slots whose remaining pages are decommitted together (one `madvise` round).
const DECOMMIT_BATCH: usize = 16;

/// The settings both engines share: epoch interruption, the component model, a bounded wasm
/// stack.
fn engine_config() -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    // Stack for wasm: deep recursion traps instead of exhausting the host thread.
    config.max_wasm_stack(1 << 20);
    // `INGEST_PERF_MAP=1`: name the compiled wasm functions for `perf` (/tmp/perf-PID.map),
    // so a profile shows plugin functions instead of anonymous JIT addresses.
    if std::env::var_os("INGEST_PERF_MAP").is_some_and(|v| v == "1") {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    config
}

/// The baseline engine: Winch, one fast pass, on-demand allocation (its code serves only
/// until the optimized code of the same version is ready).
fn baseline_engine() -> wasmtime::Result<Engine> {
    let mut config = engine_config();
    config.strategy(wasmtime::Strategy::Winch);
    Engine::new(&config)
}

/// The optimizing engine (Cranelift) and, when `pooling`, the pooling allocator sized for
/// `limits.max_concurrent_calls` instances.
fn engine(limits: &RuntimeConfig, pooling: bool) -> wasmtime::Result<Engine> {
    let mut config = engine_config();
    config.strategy(wasmtime::Strategy::Cranelift);
    if pooling {
        let n = limits.max_concurrent_calls;
        let core_per_component = limits.max_core_instances_per_component;
        let mut pool = PoolingAllocationConfig::default();
        // Core instances are counted, not reserved: the total allows every slot a component
        // of the largest size.
        pool.total_component_instances(n)
            .total_core_instances(n.saturating_mul(core_per_component))
            .total_memories(n.saturating_mul(2))
            .total_tables(n.saturating_mul(8))
            .total_stacks(n)
            .max_memory_size(usize::try_from(limits.memory_limit_bytes).unwrap_or(usize::MAX))
            .max_memories_per_component(4)
            .max_tables_per_component(16)
            .max_core_instances_per_component(core_per_component)
            // A returned slot is reset in place: the pages a step dirtied (found with
            // Linux's PAGEMAP_SCAN, when the kernel has it) are restored with memset/memcpy
            // instead of `madvise`, so no page leaves the address space, the next step takes
            // no page faults, and no TLB shoot-down interrupts the other cores (the top
            // kernel cost in the profile: docs/performance.md). Beyond these sizes, and the
            // rest of the memory, `madvise` as before, in batches.
            .linear_memory_keep_resident(KEEP_RESIDENT_MEMORY)
            .table_keep_resident(KEEP_RESIDENT_TABLE)
            .pagemap_scan(wasmtime::Enabled::Auto)
            .decommit_batch_size(DECOMMIT_BATCH);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    Engine::new(&config)
}

/// The epoch ticker: a plain thread that ends when the engine is dropped.
fn start_epoch_ticker(engine: &Engine, tick: Duration) -> std::io::Result<()> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("ingest-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(tick);
            }
        })
        .map(drop)
}

/// The linker: WASI's CLI interfaces so language runtimes start (the context behind them has
/// no preopens, no environment, no sockets and no name lookup), and each of the gateway's
/// host interfaces on its own part of the call's state.
fn linker(engine: &Engine) -> wasmtime::Result<Linker<CallState>> {
    let mut linker: Linker<CallState> = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    // Defined by hand, not by the generated bindings: its arguments are read in place within
    // the call's bounds instead of copied out whole first (capability/credentials.rs).
    credentials::add_to_linker(&mut linker, |s| &mut s.credentials)?;
    contract::config::add_to_linker::<_, HasSelf<ConfigView>>(&mut linker, |s| &mut s.config)?;
    contract::context::add_to_linker::<_, HasSelf<CallContext>>(&mut linker, |s| &mut s.context)?;
    contract::log::add_to_linker::<_, HasSelf<PluginLog>>(&mut linker, |s| &mut s.log)?;
    Ok(linker)
}

impl Runtime {
    /// Builds the engine (pooling allocator when possible, epoch interruption) and the linker.
    pub fn new(limits: RuntimeConfig) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let (engine, pooling) = match limits.pooling.then(|| engine(&limits, true)) {
            Some(Ok(engine)) => (engine, true),
            fallback => {
                if let Some(Err(e)) = fallback {
                    tracing::warn!(error = %e, "pooling allocator unavailable; using on-demand allocation");
                }
                let engine = engine(&limits, false)
                    .map_err(|e| anyhow::anyhow!("{e:#}"))
                    .context("building the wasm engine")?;
                (engine, false)
            }
        };
        start_epoch_ticker(&engine, Duration::from_millis(limits.epoch_tick_ms))
            .context("starting the epoch ticker thread")?;
        let linker = linker(&engine)
            .map_err(|e| anyhow::anyhow!("{e:#}"))
            .context("linking the host interfaces")?;
        let baseline = if limits.tiered {
            match baseline_engine().and_then(|e| Ok((self::linker(&e)?, e))) {
                Ok((linker, engine)) => {
                    start_epoch_ticker(&engine, Duration::from_millis(limits.epoch_tick_ms))
                        .context("starting the epoch ticker thread")?;
                    Some((engine, linker))
                }
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "no baseline compiler on this platform; every load compiles optimized code first");
                    None
                }
            }
        } else {
            None
        };
        let slots = Arc::new(Semaphore::new(limits.max_concurrent_calls as usize));
        let plugin_threads = match limits.plugin_threads() {
            0 => None,
            n => Some(PluginThreads::new(n).context("starting the plugin threads")?),
        };
        Ok(Self {
            engine,
            linker,
            baseline,
            limits,
            slots,
            pooling,
            #[cfg(feature = "bench-call-shapes")]
            held_shape: std::sync::atomic::AtomicBool::new(false),
            plugin_threads,
            calls: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// Whether the benchmark selected one instance per call for every provider.
    fn held_shape(&self) -> bool {
        #[cfg(feature = "bench-call-shapes")]
        return self.held_shape.load(std::sync::atomic::Ordering::Relaxed);
        #[cfg(not(feature = "bench-call-shapes"))]
        false
    }

    /// Selects the call shape of every provider (benchmark comparison only).
    #[cfg(feature = "bench-call-shapes")]
    #[doc(hidden)]
    pub fn set_call_shape(&self, shape: CallShape) {
        self.held_shape.store(
            shape == CallShape::HeldAcrossSteps,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Whether loads not in the artifact cache serve baseline code first.
    pub fn tiered(&self) -> bool {
        self.baseline.is_some()
    }

    /// Whether the pooling allocator is in use.
    pub fn pooling(&self) -> bool {
        self.pooling
    }

    /// Plugin calls holding a pool slot right now (instantiating, running, or waiting on a
    /// vendor). Every call returns its slot when it ends, however it ends (result, error, trap,
    /// deadline), so this is zero whenever no call is in progress; a value that stays above
    /// zero on an idle gateway would be a leaked instance. At most
    /// `runtime.max_concurrent_calls`.
    pub fn calls_in_flight(&self) -> usize {
        (self.limits.max_concurrent_calls as usize).saturating_sub(self.slots.available_permits())
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}
