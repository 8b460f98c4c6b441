//! The alternative call shape, for the benchmark's comparison only: one instance held across
//! the whole exchange (instantiated at the first step, its slot and memory held while the
//! vendor answers). Production always runs a fresh instance per step. See
//! docs/performance.md, "The call shape".

use std::time::Instant;

use wasmtime::Store;

use super::Runtime;
use super::call::{Call, CallState, Step, StepError, run_op};
use crate::contract;

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
    pub(super) store: Store<CallState>,
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

impl Call<'_> {
    /// A step of [`CallShape::HeldAcrossSteps`]: the first instantiates and keeps the
    /// instance, every step re-arms its CPU budget.
    pub(super) async fn step_held(&mut self) -> Result<Step, StepError> {
        let held = match self.held.take() {
            Some(h) => h,
            None => {
                let slot = self.runtime.slot().await?;
                let mut store = self.new_store();
                let t0 = Instant::now();
                let instance = self
                    .code
                    .pre
                    .instantiate_async(&mut store)
                    .await
                    .map_err(StepError::Trap)?;
                self.instantiate.get_or_insert(t0.elapsed());
                Held {
                    store,
                    instance,
                    _slot: slot,
                }
            }
        };
        let h = self.held.insert(held);
        // The store's tick callback (set up with it) yields at each tick and interrupts at the
        // budget; in this shape its count runs over the whole call, not per step.
        h.store.set_epoch_deadline(1);
        self.steps += 1;
        run_op(
            &mut h.store,
            &self.code.pre,
            &h.instance,
            &self.op,
            &self.answers,
        )
        .await
        .map_err(StepError::Trap)
    }
}
