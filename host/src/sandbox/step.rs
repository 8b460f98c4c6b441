//! One step of a call: the operation the plugin is asked for, its function called on an
//! instance ([`run_op`]), and what the step asked for next ([`Step`]).

use wasmtime::Store;

use super::outcome::Outcome;
use super::state::CallState;
use crate::contract::json::operation_name;
use crate::contract::{self, types};

/// One operation on the provider interface.
#[derive(Debug, Clone)]
pub enum Operation {
    /// `describe`.
    Describe,
    /// `start`.
    Start(types::StartRequest),
    /// `stop`.
    Stop(types::StopRequest),
    /// `status`.
    Status(types::StatusRequest),
    /// `parse-callback`.
    ParseCallback(types::CallbackRequest),
    /// `update` (the optional updater interface).
    Update(types::UpdateRequest),
}

impl Operation {
    /// The contract's operation this runs; `None` for `describe` (always supported, never
    /// listed).
    pub fn kind(&self) -> Option<types::Operation> {
        Some(match self {
            Operation::Describe => return None,
            Operation::Start(_) => types::Operation::Start,
            Operation::Stop(_) => types::Operation::Stop,
            Operation::Status(_) => types::Operation::Status,
            Operation::ParseCallback(_) => types::Operation::ParseCallback,
            Operation::Update(_) => types::Operation::Update,
        })
    }

    /// The operation's name, for logs and metrics.
    pub fn name(&self) -> &'static str {
        self.kind().map_or("describe", operation_name)
    }

    /// Whether this is an update (its instance needs the updater interface).
    pub fn is_update(&self) -> bool {
        matches!(self, Operation::Update(_))
    }
}

/// Calls the operation's function on `instance`: the next step. `describe` (run when a version
/// is bound) first type-checks every export; other operations check only their function.
pub(super) async fn run_op(
    store: &mut Store<CallState>,
    pre: &contract::PluginPre<CallState>,
    instance: &contract::Plugin,
    op: &Operation,
    answers: &[types::VendorAnswer],
) -> wasmtime::Result<Step> {
    use contract::guest::{StartStep, StatusStep, StopStep};
    use contract::updater::UpdateStep;
    Ok(match op {
        Operation::Describe => {
            pre.check_types(&mut *store, instance)?;
            Step::Done(Ok(Outcome::Described(
                instance.description(&mut *store).await?,
            )))
        }
        Operation::Start(r) => match instance.start(&mut *store, r, answers).await? {
            StartStep::Send(req) => Step::Send(req),
            StartStep::Done(r) => Step::Done(r.map(Outcome::Started)),
        },
        Operation::Stop(r) => match instance.stop(&mut *store, r, answers).await? {
            StopStep::Send(req) => Step::Send(req),
            StopStep::Done(r) => Step::Done(r.map(Outcome::Stopped)),
        },
        Operation::Status(r) => match instance.status(&mut *store, r, answers).await? {
            StatusStep::Send(req) => Step::Send(req),
            StatusStep::Done(r) => Step::Done(r.map(Outcome::Status)),
        },
        Operation::ParseCallback(r) => Step::Done(
            instance
                .parse_callback(&mut *store, r)
                .await?
                .map(Outcome::Event),
        ),
        // The core asks only plugins whose code has the export (`Code::has_updater`).
        Operation::Update(r) => match instance.update(&mut *store, r, answers).await? {
            UpdateStep::Send(req) => Step::Send(req),
            UpdateStep::Done(r) => Step::Done(r.map(Outcome::Updated)),
        },
    })
}

/// What one step asked for.
pub(super) enum Step {
    /// Send this vendor request and run the next step with its answer.
    Send(types::VendorRequest),
    /// The operation's result.
    Done(Result<Outcome, types::ProviderError>),
}

/// Why a step produced nothing.
pub(super) enum StepError {
    /// The runtime is closing (no instance slot will come).
    Shutdown,
    /// The plugin trapped, ran past its budget or memory, or returned garbage.
    Trap(wasmtime::Error),
}
