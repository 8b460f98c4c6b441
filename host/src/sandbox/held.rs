//! One instance held across the steps of a call (the provider's `instance = "per-call"`):
//! instantiated at the first step, its pool slot and memory held while the vendor answers,
//! called again for each later step with the answers appended, and dropped when the call
//! ends. For plugins whose instantiation dominates a step (a language runtime's heap: a
//! componentize-py plugin sets up ~12 MiB at every instantiation); a fresh instance per step
//! stays the default. The benchmark also selects it for every plugin ([`CallShape`]) to
//! compare the two shapes. See docs/performance.md, "The call shape" and "Python plugins".

use std::time::{Duration, Instant};

use wasmtime::Store;

use super::state::CallState;
use super::step::{Operation, Step, StepError, run_op};
use crate::contract::{self, types};

/// How the steps of one call map to instances, for every provider (the benchmark's
/// comparison; a provider chooses with `instance`).
#[cfg(feature = "bench-call-shapes")]
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallShape {
    /// Each provider's own choice (`instance`, default a fresh instance per step).
    FreshPerStep,
    /// One instance for the whole call, held across the vendor exchange, for every provider.
    HeldAcrossSteps,
}

/// An instance held across the steps of one call.
pub(super) struct Held {
    store: Store<CallState>,
    instance: contract::Plugin,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

impl Held {
    /// Instantiates the call's instance in `store`, holding `slot` as long as it lives; how
    /// long instantiation took. On failure, the call's state back with the error.
    pub(super) async fn instantiate(
        mut store: Store<CallState>,
        pre: &contract::PluginPre<CallState>,
        slot: tokio::sync::OwnedSemaphorePermit,
    ) -> Result<(Self, Duration), (CallState, StepError)> {
        let t0 = Instant::now();
        match pre.instantiate_async(&mut store).await {
            Ok(instance) => Ok((
                Self {
                    store,
                    instance,
                    _slot: slot,
                },
                t0.elapsed(),
            )),
            Err(e) => Err((store.into_data(), StepError::Trap(e))),
        }
    }

    /// The next step on the held instance, with a CPU budget of its own: the meter starts
    /// over and the epoch deadline is re-armed, so each step gets `runtime.step_budget_ms`.
    pub(super) async fn step(
        &mut self,
        pre: &contract::PluginPre<CallState>,
        op: &Operation,
        answers: &[types::VendorAnswer],
    ) -> Result<Step, StepError> {
        self.store.data().meter.restart();
        self.store.set_epoch_deadline(1);
        run_op(&mut self.store, pre, &self.instance, op, answers)
            .await
            .map_err(StepError::Trap)
    }

    /// The call's host-side state, the instance gone (its slot returned).
    pub(super) fn into_state(self) -> CallState {
        self.store.into_data()
    }
}
