//! The wasm runtime: one engine and linker per process, one compiled [`PluginVersion`] per
//! loaded component (compiled and pre-instantiated once), and a fresh store and instance for
//! every call, with its own memory cap, epoch deadline and wall-clock deadline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::Digest;
use tokio::sync::Semaphore;
use wasmtime::component::{Component, ResourceTable, types::ComponentItem};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreLimits,
    StoreLimitsBuilder,
};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::{self, AdapterPluginPre, types};
use crate::cache::ArtifactCache;
use crate::config::RuntimeConfig;
use crate::credentials::{CallCredentials, SecretStore, contains_secret, scrub};
use crate::egress::{self, CallLog, EgressMode, EgressPolicy, SharedCallLog};
use crate::error::{ApiError, ErrorKind};

/// Most log lines one call may write; further lines are counted and dropped.
const MAX_LOG_LINES_PER_CALL: usize = 200;
/// Longest log line kept, bytes.
const MAX_LOG_LINE_BYTES: usize = 4096;
/// Plugin stderr kept per call (panic messages), bytes.
const STDERR_CAPTURE_BYTES: usize = 16 * 1024;
/// Most resource handles one instance may hold (HTTP requests, streams …).
const MAX_RESOURCES: usize = 1024;
/// Longest session reference a plugin may return, bytes.
pub const MAX_SESSION_REF_BYTES: usize = 2048;
/// Most issued URLs one `start` may return: vendors issue one address per protocol (RTMP,
/// FLV, HLS …), a handful at most. A longer list is garbage output (`plugin-fault`).
pub const MAX_ISSUED_URLS: usize = 64;
/// Longest issued URL a plugin may return, bytes (the API accepts client URLs of the same
/// length).
pub const MAX_URL_BYTES: usize = 4096;
/// Longest identifier a plugin may return (vendor task id, vendor request id), bytes. An
/// identifier cut short would be wrong, so a longer one is a fault, not clipped.
pub const MAX_ID_BYTES: usize = 1024;
/// Most entries in each list `describe` returns (directions, operations, config keys,
/// secrets, default hosts).
pub const MAX_DESCRIBE_ITEMS: usize = 256;

/// Why a component could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// Not a wasm component, or it failed to compile.
    #[error("`{name}` is not a valid WebAssembly component: {reason}")]
    Compile {
        /// Plugin name.
        name: String,
        /// Why.
        reason: String,
    },
    /// A component, but not one of the `adapter-plugin` world.
    #[error("`{name}` does not match the ingest:provider/adapter-plugin@{} world:\n  - {}", bindings::CONTRACT_VERSION, .problems.join("\n  - "))]
    World {
        /// Plugin name.
        name: String,
        /// Each mismatch.
        problems: Vec<String>,
    },
}

/// The process-wide engine, linker and call limits.
pub struct Runtime {
    engine: Engine,
    linker: wasmtime::component::Linker<CallState>,
    limits: RuntimeConfig,
    slots: Arc<Semaphore>,
    pooling: bool,
    /// [`CallShape::HeldAcrossSteps`] is selected (benchmark comparison only).
    held_shape: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("limits", &self.limits)
            .field("pooling", &self.pooling)
            .finish_non_exhaustive()
    }
}

/// A loaded, validated, pre-instantiated plugin version. Immutable; shared by every call that
/// started on it.
pub struct PluginVersion {
    /// The plugin's name (from config or file name).
    pub name: String,
    /// SHA-256 of the component bytes, hex.
    pub digest: String,
    /// Whether the compiled code came from the artifact cache (no compilation).
    pub from_cache: bool,
    /// How long compiling (or loading from the cache) and validating took.
    pub load_time: Duration,
    pre: AdapterPluginPre<CallState>,
}

impl std::fmt::Debug for PluginVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginVersion")
            .field("name", &self.name)
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

/// The plugin's view of its provider's configuration.
#[derive(Debug, Clone, Default)]
pub struct PluginConfig {
    /// `[providers.config]` entries as text.
    pub entries: Vec<(String, String)>,
    /// The operator's endpoint override.
    pub endpoint: Option<String>,
}

/// Everything one call needs besides the plugin.
pub struct CallSetup {
    /// Provider instance id.
    pub provider: String,
    /// Its secrets.
    pub secrets: Arc<SecretStore>,
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
}

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
}

impl Operation {
    /// The operation's name, for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::Describe => "describe",
            Operation::Start(_) => "start",
            Operation::Stop(_) => "stop",
            Operation::Status(_) => "status",
            Operation::ParseCallback(_) => "parse-callback",
        }
    }
}

/// A successful operation's result.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// From `describe`.
    Described(types::ProviderInfo),
    /// From `start`.
    Started(types::Session),
    /// From `stop`.
    Stopped(types::StopResult),
    /// From `status`.
    Status(types::IngestStatus),
    /// From `parse-callback`.
    Event(types::IngestEvent),
}

/// What one call did besides its result: its vendor requests, refusals and failures.
#[derive(Debug, Default)]
pub struct CallReport {
    /// Vendor requests as they went (or would go) on the wire, placeholders as labels.
    pub requests: Vec<crate::egress::RecordedRequest>,
    /// Log lines the plugin wrote (scrubbed).
    pub plugin_logs: Vec<String>,
    /// Time from call start to result.
    pub elapsed: Duration,
    /// Time to create the instance.
    pub instantiate: Option<Duration>,
    /// Duration of each vendor exchange.
    pub vendor_latencies: Vec<Duration>,
    /// The kind of plugin fault, when the call ended in one: `deadline`, `stack`, `panic`,
    /// `memory`, `limit` (a host-enforced bound) or `other`.
    pub fault: Option<&'static str>,
    /// Steps the call took (plugin runs; one more than its vendor requests when it finished).
    pub steps: u32,
}

/// The data of one call's store. Host interfaces are implemented on it.
pub struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    creds: CallCredentials,
    config: Arc<PluginConfig>,
    now_ms: u64,
    nonce: String,
    nonces_issued: u32,
    request_id: String,
    provider: String,
    plugin: String,
    logs: Vec<String>,
    logs_dropped: usize,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl bindings::credentials::Host for CallState {
    fn hmac(
        &mut self,
        algorithm: bindings::credentials::HashAlgorithm,
        key: Vec<bindings::credentials::Part>,
        data: Vec<bindings::credentials::Part>,
    ) -> Result<Vec<u8>, bindings::credentials::CredentialError> {
        self.creds.hmac(algorithm, &key, &data)
    }

    fn hmac_chain(
        &mut self,
        algorithm: bindings::credentials::HashAlgorithm,
        key: Vec<bindings::credentials::Part>,
        messages: Vec<Vec<bindings::credentials::Part>>,
    ) -> Result<Vec<u8>, bindings::credentials::CredentialError> {
        self.creds.hmac_chain(algorithm, &key, &messages)
    }

    fn digest(
        &mut self,
        algorithm: bindings::credentials::HashAlgorithm,
        data: Vec<bindings::credentials::Part>,
    ) -> Result<Vec<u8>, bindings::credentials::CredentialError> {
        self.creds.digest(algorithm, &data)
    }

    fn placeholder(
        &mut self,
        value: Vec<bindings::credentials::Part>,
    ) -> Result<String, bindings::credentials::CredentialError> {
        self.creds.placeholder(&value)
    }

    fn basic_auth_placeholder(
        &mut self,
        user: Vec<bindings::credentials::Part>,
        password: Vec<bindings::credentials::Part>,
    ) -> Result<String, bindings::credentials::CredentialError> {
        self.creds.basic_auth_placeholder(&user, &password)
    }
}

impl bindings::config::Host for CallState {
    fn get(&mut self, key: String) -> Option<String> {
        self.config
            .entries
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
    }

    fn entries(&mut self) -> Vec<(String, String)> {
        self.config.entries.clone()
    }

    fn endpoint(&mut self) -> Option<String> {
        self.config.endpoint.clone()
    }
}

impl bindings::context::Host for CallState {
    fn now_ms(&mut self) -> u64 {
        self.now_ms
    }

    fn next_nonce(&mut self) -> String {
        self.nonces_issued = self.nonces_issued.saturating_add(1);
        if self.nonces_issued == 1 {
            self.nonce.clone()
        } else {
            format!("{}-{}", self.nonce, self.nonces_issued)
        }
    }

    fn request_id(&mut self) -> String {
        self.request_id.clone()
    }
}

impl bindings::log::Host for CallState {
    fn log(&mut self, level: bindings::log::Level, message: String) {
        if self.logs.len() >= MAX_LOG_LINES_PER_CALL {
            self.logs_dropped += 1;
            return;
        }
        let mut message = scrub(self.creds.store(), &message);
        if message.len() > MAX_LOG_LINE_BYTES {
            let mut cut = MAX_LOG_LINE_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let (provider, plugin, request_id) = (&self.provider, &self.plugin, &self.request_id);
        use bindings::log::Level;
        match level {
            Level::Trace => {
                tracing::trace!(target: "plugin", %provider, %plugin, %request_id, "{message}")
            }
            Level::Debug => {
                tracing::debug!(target: "plugin", %provider, %plugin, %request_id, "{message}")
            }
            Level::Info => {
                tracing::info!(target: "plugin", %provider, %plugin, %request_id, "{message}")
            }
            Level::Warn => {
                tracing::warn!(target: "plugin", %provider, %plugin, %request_id, "{message}")
            }
            Level::Error => {
                tracing::error!(target: "plugin", %provider, %plugin, %request_id, "{message}")
            }
        }
        self.logs.push(message);
    }
}

impl Runtime {
    /// Builds the engine (pooling allocator when possible, epoch interruption) and the linker.
    pub fn new(limits: RuntimeConfig) -> anyhow::Result<Self> {
        let build = |pooling: bool| -> wasmtime::Result<Engine> {
            let mut config = Config::new();
            config.epoch_interruption(true);
            config.wasm_component_model(true);
            // Stack for wasm: deep recursion traps instead of exhausting the host thread.
            config.max_wasm_stack(1 << 20);
            if pooling {
                let n = limits.max_concurrent_calls;
                let mut pool = PoolingAllocationConfig::default();
                pool.total_component_instances(n)
                    .total_core_instances(n.saturating_mul(8))
                    .total_memories(n.saturating_mul(2))
                    .total_tables(n.saturating_mul(8))
                    .total_stacks(n)
                    .max_memory_size(
                        usize::try_from(limits.memory_limit_bytes).unwrap_or(usize::MAX),
                    )
                    .max_memories_per_component(4)
                    .max_tables_per_component(16)
                    .max_core_instances_per_component(16);
                config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
            }
            Engine::new(&config)
        };
        let (engine, pooling) = if limits.pooling {
            match build(true) {
                Ok(engine) => (engine, true),
                Err(e) => {
                    tracing::warn!(error = %e, "pooling allocator unavailable; using on-demand allocation");
                    (build(false).map_err(|e| anyhow::anyhow!("{e:#}"))?, false)
                }
            }
        } else {
            (build(false).map_err(|e| anyhow::anyhow!("{e:#}"))?, false)
        };

        // The epoch ticker: a plain thread that ends when the engine is dropped.
        let weak = engine.weak();
        let tick = Duration::from_millis(limits.epoch_tick_ms);
        std::thread::Builder::new()
            .name("ingest-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(tick);
                }
            })?;

        let mut linker = wasmtime::component::Linker::new(&engine);
        // WASI's CLI interfaces are linked so language runtimes start; the context behind
        // them has no preopens, no environment, no sockets and no name lookup.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        bindings::add_host_interfaces(&mut linker, |s| s).map_err(|e| anyhow::anyhow!("{e:#}"))?;

        let slots = Arc::new(Semaphore::new(limits.max_concurrent_calls as usize));
        Ok(Self {
            engine,
            linker,
            limits,
            slots,
            pooling,
            held_shape: std::sync::atomic::AtomicBool::new(false),
        })
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

    /// Compiles `bytes`, checks them against the world, and pre-instantiates them.
    pub fn load(&self, name: &str, bytes: &[u8]) -> Result<PluginVersion, LoadError> {
        self.load_cached(name, bytes, None)
    }

    /// Like [`Runtime::load`], taking the compiled code from `cache` when it has it and
    /// storing it there when it does not.
    pub fn load_cached(
        &self,
        name: &str,
        bytes: &[u8],
        cache: Option<&ArtifactCache>,
    ) -> Result<PluginVersion, LoadError> {
        let digest = hex::encode(sha2::Sha256::digest(bytes));
        let started = Instant::now();
        let cached = cache.and_then(|c| c.get(&self.engine, &digest));
        let from_cache = cached.is_some();
        // A cache miss compiles; the artifact is stored only once the component validates.
        let component = match cached {
            Some(component) => component,
            None => Component::new(&self.engine, bytes).map_err(|e| LoadError::Compile {
                name: name.to_string(),
                reason: explain_compile_error(&e),
            })?,
        };
        let problems = self.world_problems(&component);
        if !problems.is_empty() {
            return Err(LoadError::World {
                name: name.to_string(),
                problems,
            });
        }
        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(AdapterPluginPre::new)
            .map_err(|e| LoadError::World {
                name: name.to_string(),
                problems: vec![format!("{e:#}")],
            })?;
        if let (Some(cache), false) = (cache, from_cache) {
            cache.put(&self.engine, &digest, &component);
        }
        let load_time = started.elapsed();
        tracing::info!(
            plugin = name,
            digest = &digest[..12],
            from_cache,
            elapsed_ms = load_time.as_millis() as u64,
            "plugin loaded and validated"
        );
        Ok(PluginVersion {
            name: name.to_string(),
            digest,
            from_cache,
            load_time,
            pre,
        })
    }

    /// Names every way `component` differs from the `adapter-plugin` world, in words a plugin
    /// author can act on.
    fn world_problems(&self, component: &Component) -> Vec<String> {
        let mut problems = Vec::new();
        let ty = component.component_type();
        let engine = &self.engine;

        let exports: Vec<(String, ComponentItem)> = ty
            .exports(engine)
            .map(|(name, item)| (name.to_string(), item.ty))
            .collect();
        let provider = exports.iter().find(|(n, _)| n == bindings::PROVIDER_EXPORT);
        match provider {
            Some((_, ComponentItem::ComponentInstance(instance))) => {
                let have: Vec<&str> = instance.exports(engine).map(|(n, _)| n).collect();
                let missing: Vec<&str> = bindings::PROVIDER_FUNCTIONS
                    .iter()
                    .copied()
                    .filter(|f| !have.contains(f))
                    .collect();
                if !missing.is_empty() {
                    problems.push(format!(
                        "export `{}` lacks function(s): {}",
                        bindings::PROVIDER_EXPORT,
                        missing.join(", ")
                    ));
                }
            }
            Some(_) => problems.push(format!(
                "`{}` is exported, but not as an interface instance",
                bindings::PROVIDER_EXPORT
            )),
            None => {
                let other = exports
                    .iter()
                    .find(|(n, _)| n.starts_with("ingest:provider/provider"));
                match other {
                    Some((n, _)) => problems.push(format!(
                        "exports `{n}`, but this host speaks `{}` (contract version {}); rebuild the plugin against this host's wit/",
                        bindings::PROVIDER_EXPORT,
                        bindings::CONTRACT_VERSION
                    )),
                    None => {
                        let names: Vec<&str> = exports.iter().map(|(n, _)| n.as_str()).collect();
                        problems.push(format!(
                            "missing export `{}` (the component exports: [{}]); implement the provider interface and export it",
                            bindings::PROVIDER_EXPORT,
                            names.join(", ")
                        ));
                    }
                }
            }
        }

        for (name, _) in ty.imports(engine) {
            if bindings::REFUSED_WASI.iter().any(|p| name.starts_with(p)) {
                problems.push(format!(
                    "imports `{name}`: a contract {} plugin makes no network calls of its own; it returns each vendor request as a value (`send` step) and the host sends it. Rebuild it against this host's wit/",
                    bindings::CONTRACT_VERSION
                ));
                continue;
            }
            let ok = if let Some(rest) = name.strip_prefix("wasi:") {
                rest.contains("@0.2.")
            } else if let Some(rest) = name.strip_prefix("ingest:provider/") {
                let (iface, version) = rest.split_once('@').unwrap_or((rest, ""));
                bindings::HOST_INTERFACES.contains(&iface) && version.starts_with("0.2.")
            } else {
                false
            };
            if !ok {
                problems.push(format!(
                    "imports `{name}`, which this host does not provide (it provides ingest:provider/{{{}}}@{} and WASI 0.2 interfaces)",
                    bindings::HOST_INTERFACES.join(","),
                    bindings::CONTRACT_VERSION
                ));
            }
        }
        problems
    }

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
        let started = Instant::now();
        let op_name = op.name();
        let provider = setup.provider.clone();
        let secrets = setup.secrets.clone();
        let log = SharedCallLog::default();
        let stderr = MemoryOutputPipe::new(STDERR_CAPTURE_BYTES);
        let mut carry = Carry {
            creds: CallCredentials::new(secrets.clone(), log.clone()),
            logs: Vec::new(),
            logs_dropped: 0,
            instantiate: None,
            steps: 0,
            held: None,
        };
        let call_deadline = started + Duration::from_millis(self.limits.call_deadline_ms);
        let mut answers: Vec<types::VendorAnswer> = Vec::new();
        let mut fault_kind = None;
        let hold = self.held_shape.load(std::sync::atomic::Ordering::Relaxed);
        let result = loop {
            let step = if hold {
                self.step_held(plugin, &setup, &op, &answers, &stderr, &mut carry)
                    .await
            } else {
                self.step(plugin, &setup, &op, &answers, &stderr, &mut carry)
                    .await
            };
            match step {
                Err(StepError::Shutdown) => {
                    break Err(ApiError::new(
                        ErrorKind::Unavailable,
                        "the gateway is shutting down",
                    ));
                }
                Err(StepError::Trap(trap)) => {
                    let (e, kind) = fault(&plugin.name, &trap, self.step_budget_ms());
                    fault_kind = Some(kind);
                    break Err(e);
                }
                Ok(Step::Done(Ok(outcome))) => {
                    break check_outcome(outcome, &secrets)
                        .inspect_err(|_| fault_kind = Some("limit"));
                }
                Ok(Step::Done(Err(provider_error))) => {
                    break Err(from_provider_error(provider_error, &log.lock()));
                }
                Ok(Step::Send(_)) if answers.len() > egress::MAX_REQUESTS_PER_CALL => {
                    // The request past the cap was answered `denied`; asking again after that
                    // would only spin: the call ends here (at most cap + 2 steps).
                    fault_kind = Some("limit");
                    break Err(ApiError::plugin_fault(format!(
                        "plugin `{}` kept asking for vendor requests after the host's cap of {} per call refused one",
                        plugin.name,
                        egress::MAX_REQUESTS_PER_CALL
                    )));
                }
                Ok(Step::Send(request)) => {
                    // Vendor I/O is bounded by the provider's request timeout and by what is
                    // left of the call deadline; the plugin then reads a `timeout` answer.
                    let left = call_deadline.saturating_duration_since(Instant::now());
                    let answer = match tokio::time::timeout(
                        left,
                        egress::send(&setup.policy, &setup.mode, &log, request),
                    )
                    .await
                    {
                        Ok(answer) => answer,
                        Err(_) => {
                            let reason = format!(
                                "the call deadline of {} ms passed while waiting for the vendor",
                                self.limits.call_deadline_ms
                            );
                            log.lock().failures.push(reason.clone());
                            Err(types::TransportError::Timeout(reason))
                        }
                    };
                    answers.push(answer);
                }
            }
        };
        if let Some(h) = carry.held.take() {
            carry.take_back(h.store.into_data());
        }
        let result = result.map_err(|e| scrub_error(e.with_provider(&provider), &secrets));

        if let Err(e) = &result
            && e.kind == ErrorKind::PluginFault
        {
            let captured = String::from_utf8_lossy(&stderr.contents()).into_owned();
            let captured = scrub(&secrets, captured.trim());
            tracing::warn!(%provider, plugin = %plugin.name, operation = op_name, detail = %e.detail, stderr = %captured, "plugin fault");
        }
        if carry.logs_dropped > 0 {
            tracing::warn!(%provider, plugin = %plugin.name, dropped = carry.logs_dropped, "plugin log lines dropped (limit {MAX_LOG_LINES_PER_CALL} per call)");
        }
        let mut log = log.lock();
        let report = CallReport {
            requests: std::mem::take(&mut log.requests),
            plugin_logs: carry.logs,
            elapsed: started.elapsed(),
            instantiate: carry.instantiate,
            vendor_latencies: std::mem::take(&mut log.latencies),
            fault: fault_kind,
            steps: carry.steps,
        };
        (result, report)
    }

    /// The CPU budget of one step, milliseconds.
    fn step_budget_ms(&self) -> u64 {
        self.limits
            .step_budget_ms
            .min(self.limits.call_deadline_ms)
            .max(1)
    }

    /// One step: a fresh instance, one call of the operation's function with the answers so
    /// far, and the instance gone again (its pool slot returned) before any vendor I/O.
    async fn step(
        &self,
        plugin: &PluginVersion,
        setup: &CallSetup,
        op: &Operation,
        answers: &[types::VendorAnswer],
        stderr: &MemoryOutputPipe,
        carry: &mut Carry,
    ) -> Result<Step, StepError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| StepError::Shutdown)?;
        let mut store = self.new_store(plugin, setup, stderr, carry);
        let run = async {
            let t0 = Instant::now();
            let instance = plugin.pre.instantiate_async(&mut store).await?;
            carry.instantiate.get_or_insert(t0.elapsed());
            run_op(&mut store, &instance, op, answers).await
        };
        let step = run.await;
        carry.steps += 1;
        carry.take_back(store.into_data());
        step.map_err(StepError::Trap)
    }

    /// The alternative call shape, for the benchmark's comparison only: one instance held
    /// across the whole exchange (instantiated at the first step, its slot and memory held
    /// while the vendor answers). See docs/performance.md, "The call shape".
    async fn step_held(
        &self,
        plugin: &PluginVersion,
        setup: &CallSetup,
        op: &Operation,
        answers: &[types::VendorAnswer],
        stderr: &MemoryOutputPipe,
        carry: &mut Carry,
    ) -> Result<Step, StepError> {
        if carry.held.is_none() {
            let slot = self
                .slots
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| StepError::Shutdown)?;
            let mut store = self.new_store(plugin, setup, stderr, carry);
            let t0 = Instant::now();
            let instance = plugin
                .pre
                .instantiate_async(&mut store)
                .await
                .map_err(StepError::Trap)?;
            carry.instantiate.get_or_insert(t0.elapsed());
            carry.held = Some(Held {
                store,
                instance,
                _slot: slot,
            });
        }
        let Some(h) = carry.held.as_mut() else {
            return Err(StepError::Shutdown);
        };
        h.store.set_epoch_deadline(self.step_ticks());
        carry.steps += 1;
        run_op(&mut h.store, &h.instance, op, answers)
            .await
            .map_err(StepError::Trap)
    }

    /// Epoch ticks of one step's budget.
    fn step_ticks(&self) -> u64 {
        self.step_budget_ms()
            .div_ceil(self.limits.epoch_tick_ms)
            .max(1)
    }

    /// A store for one step: the call's host-side state, the memory cap, the step's budget.
    fn new_store(
        &self,
        plugin: &PluginVersion,
        setup: &CallSetup,
        stderr: &MemoryOutputPipe,
        carry: &mut Carry,
    ) -> Store<CallState> {
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        let state = CallState {
            wasi: WasiCtx::builder().stderr(stderr.clone()).build(),
            table,
            limits: StoreLimitsBuilder::new()
                .memory_size(usize::try_from(self.limits.memory_limit_bytes).unwrap_or(usize::MAX))
                .trap_on_grow_failure(true)
                .build(),
            creds: carry.creds.clone(),
            config: setup.config.clone(),
            now_ms: setup.now_ms,
            nonce: setup.nonce.clone(),
            nonces_issued: 0,
            request_id: setup.request_id.clone(),
            provider: setup.provider.clone(),
            plugin: plugin.name.clone(),
            logs: std::mem::take(&mut carry.logs),
            logs_dropped: carry.logs_dropped,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(self.step_ticks());
        store.epoch_deadline_trap();
        store
    }

    /// Selects the call shape (benchmark comparison only; production always runs a fresh
    /// instance per step).
    #[doc(hidden)]
    pub fn set_call_shape(&self, shape: CallShape) {
        self.held_shape.store(
            shape == CallShape::HeldAcrossSteps,
            std::sync::atomic::Ordering::Relaxed,
        );
    }
}

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
struct Held {
    store: Store<CallState>,
    instance: bindings::AdapterPlugin,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

/// Calls the operation's function on `instance`: the next step.
async fn run_op(
    store: &mut Store<CallState>,
    instance: &bindings::AdapterPlugin,
    op: &Operation,
    answers: &[types::VendorAnswer],
) -> wasmtime::Result<Step> {
    use bindings::guest::{StartStep, StatusStep, StopStep};
    let p = instance.ingest_provider_provider();
    Ok(match op {
        Operation::Describe => {
            Step::Done(Ok(Outcome::Described(p.call_describe(&mut *store).await?)))
        }
        Operation::Start(r) => match p.call_start(&mut *store, r, answers).await? {
            StartStep::Send(req) => Step::Send(req),
            StartStep::Done(r) => Step::Done(r.map(Outcome::Started)),
        },
        Operation::Stop(r) => match p.call_stop(&mut *store, r, answers).await? {
            StopStep::Send(req) => Step::Send(req),
            StopStep::Done(r) => Step::Done(r.map(Outcome::Stopped)),
        },
        Operation::Status(r) => match p.call_status(&mut *store, r, answers).await? {
            StatusStep::Send(req) => Step::Send(req),
            StatusStep::Done(r) => Step::Done(r.map(Outcome::Status)),
        },
        Operation::ParseCallback(r) => Step::Done(
            p.call_parse_callback(&mut *store, r)
                .await?
                .map(Outcome::Event),
        ),
    })
}

/// What passes from one step of a call to the next: host-side state only (the call's
/// credentials with its placeholders, the plugin's log lines), never the instance.
struct Carry {
    creds: CallCredentials,
    logs: Vec<String>,
    logs_dropped: usize,
    instantiate: Option<Duration>,
    steps: u32,
    /// The instance of [`CallShape::HeldAcrossSteps`] (benchmark comparison only).
    held: Option<Held>,
}

impl Carry {
    /// Takes the host-side state back from a finished step's store.
    fn take_back(&mut self, state: CallState) {
        self.logs = state.logs;
        self.logs_dropped = state.logs_dropped;
    }
}

/// What one step asked for.
enum Step {
    /// Send this vendor request and run the next step with its answer.
    Send(types::VendorRequest),
    /// The operation's result.
    Done(Result<Outcome, types::ProviderError>),
}

/// Why a step produced nothing.
enum StepError {
    /// The runtime is closing (no instance slot will come).
    Shutdown,
    /// The plugin trapped, ran past its budget or memory, or returned garbage.
    Trap(wasmtime::Error),
}

fn explain_compile_error(e: &wasmtime::Error) -> String {
    let text = format!("{e:#}");
    if text.contains("component") && text.contains("module") {
        format!(
            "{text} (is this a core module? build with `--target wasm32-wasip2`, which emits a component)"
        )
    } else {
        text
    }
}

/// Maps a trap or host error during a call to `plugin-fault` with a readable reason, and
/// the fault's class for metrics.
fn fault(plugin: &str, err: &wasmtime::Error, deadline_ms: u64) -> (ApiError, &'static str) {
    let (reason, class) = match err.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => (
            format!(
                "ran past its CPU budget of {deadline_ms} ms for one step (interrupted at the step deadline; runtime.step_budget_ms)"
            ),
            "deadline",
        ),
        Some(wasmtime::Trap::StackOverflow) => ("overflowed its stack".to_string(), "stack"),
        Some(wasmtime::Trap::UnreachableCodeReached) => (
            "trapped (unreachable: a panic or abort in the plugin)".to_string(),
            "panic",
        ),
        Some(wasmtime::Trap::MemoryOutOfBounds) => (
            "accessed memory out of bounds (an overflow of the stack it keeps in linear memory, or a bug)"
                .to_string(),
            "stack",
        ),
        Some(trap) => (format!("trapped: {trap}"), "other"),
        None => {
            let text = format!("{err:#}");
            if text.contains("memory") && (text.contains("limit") || text.contains("grow")) {
                (format!("exceeded its memory limit: {text}"), "memory")
            } else {
                (format!("failed: {text}"), "other")
            }
        }
    };
    (
        ApiError::plugin_fault(format!("plugin `{plugin}` {reason}")),
        class,
    )
}

fn kind_of(kind: types::ErrorKind) -> ErrorKind {
    use types::ErrorKind as K;
    match kind {
        K::InvalidArgument => ErrorKind::InvalidArgument,
        K::Unauthenticated => ErrorKind::Unauthenticated,
        K::PermissionDenied => ErrorKind::PermissionDenied,
        K::NotFound => ErrorKind::NotFound,
        K::AlreadyExists => ErrorKind::AlreadyExists,
        K::FailedPrecondition => ErrorKind::FailedPrecondition,
        K::RateLimited => ErrorKind::RateLimited,
        K::QuotaExceeded => ErrorKind::QuotaExceeded,
        K::Unavailable => ErrorKind::Unavailable,
        K::Timeout => ErrorKind::Timeout,
        K::Unsupported => ErrorKind::Unsupported,
        K::VendorInternal => ErrorKind::VendorInternal,
        K::PluginFault => ErrorKind::PluginFault,
        K::Denied => ErrorKind::Denied,
    }
}

/// Longest text field kept from a plugin's error or from the free text of its result
/// (status detail, vendor state, event name, describe texts); longer text is clipped.
const MAX_ERROR_TEXT: usize = 2048;

fn clip(mut s: String) -> String {
    if s.len() > MAX_ERROR_TEXT {
        let mut cut = MAX_ERROR_TEXT;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// A provider error (a value the plugin returned), completed with what the host saw: a
/// refusal by the egress policy outranks the plugin's guess at what happened.
fn from_provider_error(e: types::ProviderError, log: &CallLog) -> ApiError {
    let mut err = ApiError {
        kind: kind_of(e.kind),
        detail: clip(e.message),
        provider: None,
        vendor_code: e.vendor_code.map(clip),
        vendor_message: e.vendor_message.map(clip),
        vendor_request_id: e.vendor_request_id.map(clip),
        retryable: e.retryable,
        retry_after_secs: e.retry_after_secs,
    };
    if let Some(denial) = log.denials.last() {
        if matches!(
            err.kind,
            ErrorKind::Denied
                | ErrorKind::Unavailable
                | ErrorKind::Timeout
                | ErrorKind::VendorInternal
        ) {
            err.kind = ErrorKind::Denied;
            err.retryable = false;
            err.detail = format!("egress refused: {denial}");
        }
    } else if let Some(failure) = log.failures.last()
        && matches!(
            err.kind,
            ErrorKind::Unavailable | ErrorKind::Timeout | ErrorKind::VendorInternal
        )
        && !err.detail.contains(failure.as_str())
    {
        err.detail = format!("{} ({failure})", err.detail);
    }
    err
}

/// Clips free text from a plugin's result to [`MAX_ERROR_TEXT`].
fn clip_opt(s: Option<String>) -> Option<String> {
    s.map(clip)
}

/// Checks a plugin's result against the host's bounds before anything else sees it, so a
/// hostile or broken plugin cannot make the gateway answer (or seal, or log) unbounded or
/// secret-bearing data:
///
/// - structure: the session reference is 1 to [`MAX_SESSION_REF_BYTES`] bytes, at most
///   [`MAX_ISSUED_URLS`] issued URLs of at most [`MAX_URL_BYTES`] each, identifiers at most
///   [`MAX_ID_BYTES`], `describe` lists at most [`MAX_DESCRIBE_ITEMS`] entries — anything
///   beyond is garbage output, a `plugin-fault`;
/// - free text (status detail, vendor state, event name): clipped to [`MAX_ERROR_TEXT`];
/// - secrets: a result holding the value of one of the provider's secrets is a
///   `plugin-fault` (a well-behaved plugin never holds a secret; the only way to get one is a
///   vendor reflecting a placeholder's value, which the egress hook already reverts).
///
/// The plugin's strings were copied into host memory before this check; that copy is bounded
/// by the instance's memory cap.
fn check_outcome(outcome: Outcome, secrets: &SecretStore) -> Result<Outcome, ApiError> {
    let fault = |what: String| {
        Err(ApiError::plugin_fault(format!(
            "the plugin returned {what}"
        )))
    };
    let long_id = |id: &Option<String>| id.as_ref().is_some_and(|v| v.len() > MAX_ID_BYTES);
    let outcome = match outcome {
        Outcome::Started(session) => {
            if session.session_ref.is_empty() || session.session_ref.len() > MAX_SESSION_REF_BYTES {
                return fault(format!(
                    "a session reference of {} bytes; it must be 1 to {MAX_SESSION_REF_BYTES}",
                    session.session_ref.len()
                ));
            }
            if session.issued_urls.len() > MAX_ISSUED_URLS {
                return fault(format!(
                    "{} issued URLs; at most {MAX_ISSUED_URLS} are accepted",
                    session.issued_urls.len()
                ));
            }
            if let Some(u) = session
                .issued_urls
                .iter()
                .find(|u| u.url.len() > MAX_URL_BYTES)
            {
                return fault(format!(
                    "an issued URL of {} bytes; at most {MAX_URL_BYTES} are accepted",
                    u.url.len()
                ));
            }
            if long_id(&session.vendor_task_id) || long_id(&session.vendor_request_id) {
                return fault(format!(
                    "a vendor task or request id longer than {MAX_ID_BYTES} bytes"
                ));
            }
            Outcome::Started(session)
        }
        Outcome::Status(status) => {
            if long_id(&status.vendor_request_id) {
                return fault(format!(
                    "a vendor request id longer than {MAX_ID_BYTES} bytes"
                ));
            }
            Outcome::Status(types::IngestStatus {
                vendor_state: clip_opt(status.vendor_state),
                detail: clip_opt(status.detail),
                ..status
            })
        }
        Outcome::Stopped(stopped) => {
            if long_id(&stopped.vendor_request_id) {
                return fault(format!(
                    "a vendor request id longer than {MAX_ID_BYTES} bytes"
                ));
            }
            Outcome::Stopped(stopped)
        }
        Outcome::Event(event) => {
            if event
                .session_ref
                .as_ref()
                .is_some_and(|r| r.is_empty() || r.len() > MAX_SESSION_REF_BYTES)
            {
                return fault(format!(
                    "an event session reference that is not 1 to {MAX_SESSION_REF_BYTES} bytes"
                ));
            }
            if long_id(&event.vendor_task_id) {
                return fault(format!("a vendor task id longer than {MAX_ID_BYTES} bytes"));
            }
            Outcome::Event(types::IngestEvent {
                vendor_event: clip(event.vendor_event),
                detail: clip_opt(event.detail),
                ..event
            })
        }
        Outcome::Described(info) => {
            let lists = [
                info.directions.len(),
                info.operations.len(),
                info.config_keys.len(),
                info.secrets.len(),
                info.default_hosts.len(),
            ];
            if lists.iter().any(|n| *n > MAX_DESCRIBE_ITEMS) {
                return fault(format!(
                    "a description with a list longer than {MAX_DESCRIBE_ITEMS} entries"
                ));
            }
            Outcome::Described(types::ProviderInfo {
                name: clip(info.name),
                version: clip(info.version),
                vendor: clip(info.vendor),
                config_keys: info
                    .config_keys
                    .into_iter()
                    .map(|k| types::ConfigKey {
                        description: clip(k.description),
                        ..k
                    })
                    .collect(),
                ..info
            })
        }
    };
    if outcome_strings(&outcome)
        .into_iter()
        .any(|s| contains_secret(secrets, s))
    {
        return fault("the value of one of its provider's secrets in its result".to_string());
    }
    Ok(outcome)
}

/// Every string in a result, for the secret check.
fn outcome_strings(outcome: &Outcome) -> Vec<&str> {
    fn opt(s: &Option<String>) -> Option<&str> {
        s.as_deref()
    }
    match outcome {
        Outcome::Started(s) => [s.session_ref.as_str()]
            .into_iter()
            .chain(s.issued_urls.iter().map(|u| u.url.as_str()))
            .chain(opt(&s.vendor_task_id))
            .chain(opt(&s.vendor_request_id))
            .collect(),
        Outcome::Status(s) => [
            opt(&s.vendor_state),
            opt(&s.detail),
            opt(&s.vendor_request_id),
        ]
        .into_iter()
        .flatten()
        .collect(),
        Outcome::Stopped(s) => opt(&s.vendor_request_id).into_iter().collect(),
        Outcome::Event(e) => [
            opt(&e.session_ref),
            opt(&e.vendor_task_id),
            Some(e.vendor_event.as_str()),
            opt(&e.detail),
        ]
        .into_iter()
        .flatten()
        .collect(),
        Outcome::Described(i) => [i.name.as_str(), i.version.as_str(), i.vendor.as_str()]
            .into_iter()
            .chain(
                i.config_keys
                    .iter()
                    .flat_map(|k| [k.name.as_str(), k.description.as_str()]),
            )
            .chain(i.secrets.iter().map(String::as_str))
            .chain(i.default_hosts.iter().map(String::as_str))
            .collect(),
    }
}

fn scrub_error(mut e: ApiError, secrets: &SecretStore) -> ApiError {
    e.detail = scrub(secrets, &e.detail);
    e.vendor_message = e.vendor_message.map(|m| scrub(secrets, &m));
    e.vendor_code = e.vendor_code.map(|m| scrub(secrets, &m));
    e.vendor_request_id = e.vendor_request_id.map(|m| scrub(secrets, &m));
    e
}
