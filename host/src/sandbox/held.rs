//! The alternative call shape, for the benchmark's comparison only: one instance held across
//! the whole exchange (instantiated at the first step, its slot and memory held while the
//! vendor answers). Production always runs a fresh instance per step; this file is compiled
//! only with the `bench-call-shapes` feature, which `ingest-bench` alone enables. See
//! docs/performance.md, "The call shape".

use std::time::{Duration, Instant};

use wasmtime::Store;

use super::Runtime;
use super::state::CallState;
use super::step::{Operation, Step, StepError, run_op};
use crate::contract::{self, types};

/// How the steps of one call map to instances.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallShape {
    /// A fresh instance per step; none is held while the vendor answers (the gateway's shape).
    FreshPerStep,
    /// One instance for the whole call, held across the vendor exchange (measured only).
    HeldAcrossSteps,
}

/// An instance held across the steps of one call ([`CallShape::HeldAcrossSteps`]).
pub(super) struct Held {
    store: Store<CallState>,
    instance: contract::Plugin,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

impl Runtime {
    /// Selects the call shape (benchmark comparison only).
    #[doc(hidden)]
    pub fn set_call_shape(&self, shape: CallShape) {
        self.held_shape.store(
            shape == CallShape::HeldAcrossSteps,
            std::sync::atomic::Ordering::Relaxed,
        );
    }
}

impl Held {
    /// Instantiates the call's instance in `store`, holding `slot` as long as it lives; how
    /// long instantiation took.
    pub(super) async fn instantiate(
        mut store: Store<CallState>,
        pre: &contract::PluginPre<CallState>,
        slot: tokio::sync::OwnedSemaphorePermit,
    ) -> Result<(Self, Duration), StepError> {
        let t0 = Instant::now();
        let instance = pre
            .instantiate_async(&mut store)
            .await
            .map_err(StepError::Trap)?;
        let took = t0.elapsed();
        let held = Self {
            store,
            instance,
            _slot: slot,
        };
        Ok((held, took))
    }

    /// The next step on the held instance, its CPU budget re-armed. The store's tick callback
    /// (set up with it) yields at each tick and interrupts at the budget; in this shape its
    /// count runs over the whole call, not per step.
    pub(super) async fn step(
        &mut self,
        pre: &contract::PluginPre<CallState>,
        op: &Operation,
        answers: &[types::VendorAnswer],
    ) -> Result<Step, StepError> {
        self.store.set_epoch_deadline(1);
        self.store.data().meter.resume();
        run_op(&mut self.store, pre, &self.instance, op, answers)
            .await
            .map_err(StepError::Trap)
    }

    /// The call's host-side state, the instance gone.
    pub(super) fn into_state(self) -> CallState {
        self.store.into_data()
    }
}
