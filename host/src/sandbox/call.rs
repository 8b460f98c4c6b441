//! One call: step by step, each step on a fresh instance (contract 0.2), the vendor requests
//! in between sent by the host through the egress path.
//!
//! A [`Call`] carries what passes from one step to the next — host-side state only: the
//! credentials with the call's placeholders, the context, the plugin's log lines, the vendor
//! answers so far — never an instance.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use wasmtime::Store;
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use super::held::Held;
use super::load::{Code, PluginVersion};
use super::outcome::{self, Outcome};
use super::state::{self, CallState, Parts};
use super::step::{Operation, Step, StepError, run_op};
use super::threads::RanOn;
use super::{InProgress, Runtime, fault};
use crate::capability::call_log::{RecordedRequest, SharedCallLog};
use crate::capability::context::CallContext;
use crate::capability::credentials::{CallCredentials, SecretStore};
use crate::capability::egress::{self, EgressMode, EgressPolicy};
use crate::capability::log::{MAX_LOG_LINES_PER_CALL, PluginLog};
use crate::capability::plugin_config::{ConfigView, PluginConfig};
use crate::capability::secret_scan::{SecretSet, scrub};
use crate::contract::types;
use crate::error::{ApiError, ErrorKind, FaultKind};

/// Plugin stderr kept per call (panic messages), bytes.
const STDERR_CAPTURE_BYTES: usize = 16 * 1024;

/// Everything one call needs besides the plugin.
pub struct CallSetup {
    /// Provider instance id.
    pub provider: String,
    /// Its secrets: the only ones its plugin may use.
    pub secrets: Arc<SecretStore>,
    /// Every provider's secret values (the gateway's): what the call's vendor answers, result,
    /// errors and log lines are checked against, so that a secret of another provider (echoed
    /// by a vendor host two providers share) is kept from this plugin too.
    pub all_secrets: Arc<SecretSet>,
    /// Its config.
    pub config: Arc<PluginConfig>,
    /// Its egress policy.
    pub policy: Arc<EgressPolicy>,
    /// Live or dry-run.
    pub mode: EgressMode,
    /// The call's timestamp, Unix milliseconds.
    pub now_ms: u64,
    /// The call's base nonce.
    pub nonce: String,
    /// The gateway request id.
    pub request_id: String,
    /// Asked before each vendor request leaves (the provider's vendor quota); `None`: no gate.
    pub gate: Option<RequestGate>,
    /// The caller's turns on the plugin threads (its tenant's share: a step takes one while
    /// it runs); `None`: no cap.
    pub turns: Option<Arc<tokio::sync::Semaphore>>,
    /// One instance for every step of the call, held while the vendor answers (the
    /// provider's `instance = "per-call"`), instead of a fresh one per step.
    pub hold_instance: bool,
}

/// A turn for one vendor request of a call: `first` is true for the call's first request
/// (which may be refused: the call then ends with the gate's error, nothing having reached
/// the vendor); a later request of an admitted call waits for its turn up to `max_wait`.
pub type RequestGate = Arc<
    dyn Fn(bool, Duration) -> std::pin::Pin<Box<dyn Future<Output = Result<(), ApiError>> + Send>>
        + Send
        + Sync,
>;

/// What one call did besides its result: its vendor requests, refusals and failures.
#[derive(Debug, Default)]
pub struct CallReport {
    /// Vendor requests as they went (or would go) on the wire, placeholders as labels.
    pub requests: Vec<RecordedRequest>,
    /// Log lines the plugin wrote (scrubbed).
    pub plugin_logs: Vec<String>,
    /// Time from call start to result.
    pub elapsed: Duration,
    /// Time to create the instance.
    pub instantiate: Option<Duration>,
    /// Duration of each vendor exchange.
    pub vendor_latencies: Vec<Duration>,
    /// The kind of plugin fault, when the call ended in one.
    pub fault: Option<FaultKind>,
    /// Steps the call took (plugin runs; one more than its vendor requests when it finished).
    pub steps: u32,
}

impl Runtime {
    /// Runs one operation on `plugin`: step by step, each step on a fresh instance, the vendor
    /// requests in between sent by the host (contract 0.2).
    ///
    /// A provider error comes back as an [`ApiError`] of the plugin's kind; a trap, a step
    /// over its CPU budget or malformed output as `plugin-fault`; a vendor that does not answer
    /// in time as the plugin's reading of a `timeout` answer. Either way the host carries on.
    pub async fn invoke(
        &self,
        plugin: &PluginVersion,
        setup: CallSetup,
        op: Operation,
    ) -> (Result<Outcome, ApiError>, CallReport) {
        let _in_progress = InProgress::enter(&self.calls);
        let mut call = Call::new(self, plugin, &setup, op);
        let result = call.run().await;
        call.finish(result)
    }

    /// Whether a step of a call may start on its caller's thread (see
    /// [`PluginThreads`](super::PluginThreads)): its call is the only one in progress (under
    /// load, steps handed to the plugin threads cost less CPU per request than steps run
    /// between the front's I/O: docs/performance.md) and its plugin's steps have been short.
    fn may_start_here(&self, plugin: &PluginVersion) -> bool {
        self.calls.load(Ordering::Relaxed) == 1 && plugin.long_steps.may_start_here()
    }

    /// A pool slot for one instance, held until the instance is gone.
    pub(super) async fn slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, StepError> {
        self.slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StepError::Shutdown)
    }

    /// The CPU budget of one step, milliseconds.
    pub(super) fn step_budget_ms(&self) -> u64 {
        self.limits
            .step_budget_ms
            .min(self.limits.call_deadline_ms)
            .max(1)
    }
}

/// One call in progress.
pub(super) struct Call<'a> {
    pub(super) runtime: &'a Runtime,
    pub(super) plugin: &'a PluginVersion,
    /// The code every step of this call runs (a tier upgrade applies to later calls).
    pub(super) code: Arc<Code>,
    setup: &'a CallSetup,
    pub(super) op: Arc<Operation>,
    started: Instant,
    call_log: SharedCallLog,
    stderr: MemoryOutputPipe,
    credentials: CallCredentials,
    /// The context, log and WASI context between steps (inside the store during one).
    parts: Option<Parts>,
    pub(super) answers: Vec<types::VendorAnswer>,
    pub(super) instantiate: Option<Duration>,
    pub(super) steps: u32,
    fault: Option<FaultKind>,
    /// Whether one instance serves every step of this call (`instance = "per-call"`).
    hold: bool,
    /// That instance, between its steps.
    held: Option<Held>,
}

impl<'a> Call<'a> {
    fn new(
        runtime: &'a Runtime,
        plugin: &'a PluginVersion,
        setup: &'a CallSetup,
        op: Operation,
    ) -> Self {
        let call_log = SharedCallLog::default();
        Self {
            runtime,
            plugin,
            code: plugin.code(),
            setup,
            op: Arc::new(op),
            started: Instant::now(),
            credentials: CallCredentials::new(setup.secrets.clone(), call_log.clone()),
            call_log,
            stderr: MemoryOutputPipe::new(STDERR_CAPTURE_BYTES),
            parts: None,
            answers: Vec::new(),
            instantiate: None,
            steps: 0,
            fault: None,
            hold: setup.hold_instance || runtime.held_shape(),
            held: None,
        }
    }

    /// Steps until the plugin is done, faults, or asks past the cap.
    async fn run(&mut self) -> Result<Outcome, ApiError> {
        loop {
            let step = if self.hold {
                self.step_held().await
            } else {
                self.step().await
            };
            match step {
                Err(StepError::Shutdown) => {
                    return Err(ApiError::new(
                        ErrorKind::Unavailable,
                        "the gateway is shutting down",
                    ));
                }
                Err(StepError::Trap(trap)) => {
                    let (e, kind) =
                        fault::classify(&self.plugin.name, &trap, self.runtime.step_budget_ms());
                    self.fault = Some(kind);
                    return Err(e);
                }
                Ok(Step::Done(_)) if !self.call_log.lock().denials.is_empty() => {
                    // Whatever the plugin answers after a refusal (a result, or an error of
                    // another kind), the call reports the refusal: it never turns into a
                    // success, nor hides that the plugin tried to reach what it may not.
                    let call_log = self.call_log.lock();
                    return Err(fault::denied(
                        call_log.denials.last().map_or("", String::as_str),
                    ));
                }
                Ok(Step::Done(Ok(outcome))) => {
                    return outcome::check(outcome, &self.setup.all_secrets)
                        .inspect_err(|_| self.fault = Some(FaultKind::Limit));
                }
                Ok(Step::Done(Err(provider_error))) => {
                    return Err(fault::from_provider_error(
                        provider_error,
                        &self.call_log.lock(),
                    ));
                }
                Ok(Step::Send(_)) if self.answers.len() > egress::MAX_REQUESTS_PER_CALL => {
                    // The request past the cap was answered `denied`; asking again after that
                    // would only spin: the call ends here (at most cap + 2 steps).
                    self.fault = Some(FaultKind::Limit);
                    return Err(ApiError::plugin_fault(format!(
                        "plugin `{}` kept asking for vendor requests after the host's cap of {} per call refused one",
                        self.plugin.name,
                        egress::MAX_REQUESTS_PER_CALL
                    )));
                }
                Ok(Step::Send(request)) => {
                    if let Err(reason) = egress::request_bounds(&request) {
                        self.fault = Some(FaultKind::Limit);
                        return Err(ApiError::plugin_fault(format!(
                            "plugin `{}` returned {reason}",
                            self.plugin.name
                        )));
                    }
                    let deadline_ms = self.runtime.limits.call_deadline_ms;
                    let deadline = self.started + Duration::from_millis(deadline_ms);
                    if let Some(gate) = &self.setup.gate {
                        let left = deadline.saturating_duration_since(Instant::now());
                        gate(self.answers.is_empty(), left).await?;
                    }
                    let answer =
                        send(self.setup, &self.call_log, deadline, deadline_ms, request).await;
                    self.answers.push(answer);
                }
            }
        }
    }

    /// One step: a fresh instance, one call of the operation's function with the answers so
    /// far, and the instance gone again (its pool slot returned) before any vendor I/O. It runs
    /// on the plugin threads (`runtime.plugin_threads`) when there are any — or starts on the
    /// caller's thread when its call is alone ([`PluginThreads::run`]) — after taking one of
    /// the caller's turns (its tenant's share of them).
    async fn step(&mut self) -> Result<Step, StepError> {
        let slot = self.runtime.slot().await?;
        let turn = self.turn().await?;
        let store = self.new_store();
        let (code, op) = (self.code.clone(), self.op.clone());
        let answers = std::mem::take(&mut self.answers);
        // Everything the step needs moves in and comes back out: on the plugin threads it is
        // a task of its own, and the slot and the turn are held until the instance is gone,
        // even when the caller stops waiting (its deadline, a client gone).
        let work = async move {
            let mut store = store;
            // The step's CPU time counts from here, on the thread that runs it.
            store.data().meter.resume();
            let t0 = Instant::now();
            let (step, instantiate) = match code.pre.instantiate_async(&mut store).await {
                Ok(instance) => {
                    let instantiate = t0.elapsed();
                    let step = run_op(&mut store, &code.pre, &instance, &op, &answers).await;
                    (step, Some(instantiate))
                }
                Err(e) => (Err(e), None),
            };
            let state = store.into_data();
            drop((turn, slot));
            (state, answers, step, instantiate)
        };
        let (state, answers, step, instantiate) = self.dispatch(work).await?;
        self.stepped(answers, instantiate);
        self.take_back(state);
        step.map_err(StepError::Trap)
    }

    /// A step on the instance held for the whole call (`instance = "per-call"`): the first
    /// step instantiates it (taking its pool slot until the call ends), each step takes one
    /// of the caller's turns and runs where a fresh step would, on a CPU budget of its own.
    async fn step_held(&mut self) -> Result<Step, StepError> {
        let held = match self.held.take() {
            Some(held) => Ok(held),
            None => Err((self.new_store(), self.runtime.slot().await?)),
        };
        let turn = self.turn().await?;
        let (code, op) = (self.code.clone(), self.op.clone());
        let answers = std::mem::take(&mut self.answers);
        let work = async move {
            let (mut held, instantiate) = match held {
                Ok(held) => (held, None),
                Err((store, slot)) => {
                    store.data().meter.resume();
                    match Held::instantiate(store, &code.pre, slot).await {
                        Ok((held, took)) => (held, Some(took)),
                        Err((state, e)) => return (Err(state), answers, Err(e), None),
                    }
                }
            };
            let step = held.step(&code.pre, &op, &answers).await;
            drop(turn);
            (Ok(held), answers, step, instantiate)
        };
        let (held, answers, step, instantiate) = self.dispatch(work).await?;
        self.stepped(answers, instantiate);
        match held {
            Ok(held) => self.held = Some(held),
            Err(state) => self.take_back(state),
        }
        step
    }

    /// One of the caller's turns (its tenant's share of the plugin threads), when it has a
    /// tenant. (`&mut self`, as [`Self::dispatch`]: a `Call` holding an instance is not
    /// `Sync`, so no shared borrow of it may live across an await.)
    async fn turn(&mut self) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, StepError> {
        match &self.setup.turns {
            Some(turns) => Ok(Some(
                turns
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| StepError::Shutdown)?,
            )),
            None => Ok(None),
        }
    }

    /// Runs a step's `work` on the plugin threads (`runtime.plugin_threads`) when there are
    /// any — or starts it on the caller's thread when its call is alone
    /// ([`PluginThreads::run`]) — else on the caller's thread.
    async fn dispatch<T: Send + 'static>(
        &mut self,
        work: impl std::future::Future<Output = T> + Send + 'static,
    ) -> Result<T, StepError> {
        let Some(threads) = &self.runtime.plugin_threads else {
            return Ok(work.await);
        };
        let here = self.runtime.may_start_here(self.plugin);
        let tick = Duration::from_millis(self.runtime.limits.epoch_tick_ms);
        let (out, ran_on) = threads
            .run(work, here, tick)
            .await
            .map_err(|_| StepError::Shutdown)?;
        if ran_on == RanOn::Moved {
            tracing::debug!(plugin = %self.plugin.name, "a step ran a whole epoch tick on the caller's thread: moved to the plugin threads, and its next steps go there");
        }
        self.plugin.long_steps.ran_on(ran_on);
        Ok(out)
    }

    /// A step ran: the answers back, its instantiation time (the call's first) counted.
    fn stepped(&mut self, answers: Vec<types::VendorAnswer>, instantiate: Option<Duration>) {
        if let Some(t) = instantiate {
            self.instantiate.get_or_insert(t);
        }
        self.answers = answers;
        self.steps += 1;
    }

    /// A store for one step: the call's host-side state, the memory cap, the step's budget.
    fn new_store(&mut self) -> Store<CallState> {
        let setup = self.setup;
        let mut parts = self.parts.take().unwrap_or_else(|| Parts {
            context: CallContext::new(setup.now_ms, setup.nonce.clone(), setup.request_id.clone()),
            log: PluginLog::new(
                setup.all_secrets.clone(),
                setup.provider.clone(),
                self.plugin.name.clone(),
                setup.request_id.clone(),
            ),
            // Built once per call (a WASI context seeds two random generators).
            wasi: sandbox_wasi(self.stderr.clone()),
        });
        parts.context.restart();
        let state = CallState::new(
            parts,
            self.credentials.clone(),
            ConfigView(setup.config.clone()),
            usize::try_from(self.runtime.limits.memory_limit_bytes).unwrap_or(usize::MAX),
        );
        let budget = Duration::from_millis(self.runtime.step_budget_ms());
        state::store(&self.code.engine, state, budget)
    }

    /// Takes the host-side state back from a finished step's store.
    fn take_back(&mut self, state: CallState) {
        self.parts = Some(state.into_parts());
    }

    /// The result, scrubbed and attributed, and the report of what the call did.
    fn finish(
        mut self,
        result: Result<Outcome, ApiError>,
    ) -> (Result<Outcome, ApiError>, CallReport) {
        if let Some(h) = self.held.take() {
            self.take_back(h.into_state());
        }
        let (provider, secrets) = (&self.setup.provider, &self.setup.all_secrets);
        let result = result.map_err(|e| fault::scrub_error(e.with_provider(provider), secrets));
        let plugin = &self.plugin.name;
        if let Err(e) = &result
            && e.kind == ErrorKind::PluginFault
        {
            let captured = String::from_utf8_lossy(&self.stderr.contents()).into_owned();
            let captured = scrub(secrets, captured.trim());
            tracing::warn!(%provider, %plugin, operation = self.op.name(), detail = %e.detail, stderr = %captured, "plugin fault");
        }
        let (lines, dropped) = self
            .parts
            .take()
            .map(|parts| (parts.log.lines, parts.log.dropped))
            .unwrap_or_default();
        if dropped > 0 {
            tracing::warn!(%provider, %plugin, dropped, "plugin log lines dropped (limit {MAX_LOG_LINES_PER_CALL} per call)");
        }
        let mut call_log = self.call_log.lock();
        let report = CallReport {
            requests: std::mem::take(&mut call_log.requests),
            plugin_logs: lines,
            elapsed: self.started.elapsed(),
            instantiate: self.instantiate,
            vendor_latencies: std::mem::take(&mut call_log.latencies),
            fault: self.fault,
            steps: self.steps,
        };
        (result, report)
    }
}

/// Sends a vendor request. Vendor I/O is bounded by the provider's request timeout and by
/// what is left of the call deadline; the plugin then reads a `timeout` answer. (A free
/// function: the call's store is not `Sync`, so nothing holding it is borrowed across the
/// exchange.)
async fn send(
    setup: &CallSetup,
    call_log: &SharedCallLog,
    deadline: Instant,
    deadline_ms: u64,
    request: types::VendorRequest,
) -> types::VendorAnswer {
    let left = deadline.saturating_duration_since(Instant::now());
    let exchange = egress::send(
        &setup.policy,
        &setup.mode,
        call_log,
        &setup.all_secrets,
        request,
    );
    match tokio::time::timeout(left, exchange).await {
        Ok(answer) => answer,
        Err(_) => {
            let reason = format!(
                "the call deadline of {deadline_ms} ms passed while waiting for the vendor"
            );
            call_log.lock().failures.push(reason.clone());
            Err(types::TransportError::Timeout(reason))
        }
    }
}

/// The WASI context behind a plugin's language runtime: stderr (the fault report's), and no
/// network. `wasi:sockets` is linked (CPython's C library imports it) but refuses everything:
/// creating a TCP or UDP socket, resolving a name, and any address (wasmtime's default check
/// refuses every address already; the flags say it where it is read).
fn sandbox_wasi(stderr: MemoryOutputPipe) -> WasiCtx {
    WasiCtx::builder()
        .stderr(stderr)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }))
        .build()
}
