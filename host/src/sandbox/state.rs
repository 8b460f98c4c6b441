//! What one step's store holds ([`CallState`]: WASI's empty context and one part per host
//! interface), its memory cap, and the store itself with the step's CPU budget.

use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime::{Engine, ResourceLimiter, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::capability::context::CallContext;
use crate::capability::credentials::CallCredentials;
use crate::capability::log::PluginLog;
use crate::capability::plugin_config::ConfigView;

use super::meter::StepMeter;

/// Most resource handles one instance may hold (HTTP requests, streams …).
const MAX_RESOURCES: usize = 1024;

/// The data of one step's store: WASI's (empty) context and one part per host interface,
/// each interface implemented on its own part (see `sandbox::linker`).
pub(crate) struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: MemoryCap,
    pub(crate) credentials: CallCredentials,
    pub(crate) config: ConfigView,
    pub(crate) context: CallContext,
    pub(crate) log: PluginLog,
    /// The step's CPU time, read by the store's tick callback.
    pub(super) meter: StepMeter,
}

/// The host-side parts a call keeps between its steps (inside the store during one).
pub(super) struct Parts {
    pub(super) context: CallContext,
    pub(super) log: PluginLog,
    pub(super) wasi: WasiCtx,
}

impl CallState {
    /// A step's state from the call's parts, with a fresh resource table and a memory cap of
    /// `memory_limit` bytes.
    pub(super) fn new(
        parts: Parts,
        credentials: CallCredentials,
        config: ConfigView,
        memory_limit: usize,
    ) -> Self {
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        Self {
            wasi: parts.wasi,
            table,
            limits: MemoryCap { max: memory_limit },
            credentials,
            config,
            context: parts.context,
            log: parts.log,
            meter: StepMeter::default(),
        }
    }

    /// The parts the call keeps for its next step.
    pub(super) fn into_parts(self) -> Parts {
        Parts {
            context: self.context,
            log: self.log,
            wasi: self.wasi,
        }
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A store for one step on `engine`: `state`, its memory cap, and a CPU budget of `budget`.
///
/// At each epoch tick a running step adds the CPU time its thread spent on it since it last
/// got the thread (host calls included; [`StepMeter`]) to what it has run, is interrupted past
/// its budget (the same trap as a plain deadline), and otherwise yields its thread so steps
/// waiting for one take turns. Time spent preempted, or waiting for the thread again, is not
/// counted. The code that runs the step calls `state.meter.resume()` on the thread it runs on.
pub(super) fn store(engine: &Engine, state: CallState, budget: Duration) -> Store<CallState> {
    let meter = state.meter.clone();
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limits);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        if meter.tick() >= budget {
            return Ok(wasmtime::UpdateDeadline::Interrupt);
        }
        let meter = meter.clone();
        Ok(wasmtime::UpdateDeadline::YieldCustom(
            1,
            Box::pin(async move {
                tokio::task::yield_now().await;
                meter.resume();
            }),
        ))
    });
    store
}

/// The instance's memory cap. Growing past it traps with [`MemoryLimitHit`], which the
/// fault classifier recognizes by type.
struct MemoryCap {
    max: usize,
}

/// A plugin asked for more linear memory than `runtime.memory_limit_bytes`.
#[derive(Debug, thiserror::Error)]
#[error(
    "asked for {desired} bytes of linear memory; the limit is {max} (runtime.memory_limit_bytes)"
)]
pub(crate) struct MemoryLimitHit {
    desired: usize,
    max: usize,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max {
            return Err(wasmtime::Error::new(MemoryLimitHit {
                desired,
                max: self.max,
            }));
        }
        Ok(maximum.is_none_or(|m| desired <= m))
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(maximum.is_none_or(|m| desired <= m))
    }
}
