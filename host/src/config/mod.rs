//! The gateway's configuration file (TOML).
//!
//! Strict by design: an unknown key anywhere is an error that names its line, and
//! [`Config::validate`] reports every remaining problem at once, each with its path
//! (`providers[1].allow_hosts[0]: …`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{ConfigError, SourceError};

mod fleet;
mod host_port;
mod validate;

/// The registry name of a plugin file (`plugins/tencent_trtc.wasm` → `tencent-trtc`).
pub use crate::text::plugin_name;
pub use fleet::{PluginsConfig, QuotaStoreConfig, RegistryAuthConfig};
pub use host_port::HostPort;

/// Default listen address of the HTTP API.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default cap on an API request body: start requests are small JSON objects.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;
/// Default wall-clock budget for one plugin call, including its vendor requests.
pub const DEFAULT_CALL_DEADLINE_MS: u64 = 10_000;
/// Default CPU budget of one step of a plugin call: a step builds or reads one small JSON
/// document and signs it (tens of microseconds; a JavaScript plugin a few milliseconds).
pub const DEFAULT_STEP_BUDGET_MS: u64 = 100;
/// Default cap on one plugin instance's linear memory: adapters parse small JSON documents.
pub const DEFAULT_MEMORY_LIMIT_BYTES: u64 = 64 << 20;
/// Default number of plugin calls that may run at once (pool slots); more wait their turn.
pub const DEFAULT_MAX_CONCURRENT_CALLS: u32 = 256;
/// Default cap on the core module instances of one plugin component: room for a
/// componentize-py build (CPython's modules linked dynamically: 16 in a plain build, 38 with
/// `--stub-wasi`) with headroom.
pub const DEFAULT_MAX_CORE_INSTANCES_PER_COMPONENT: u32 = 64;
/// Default epoch tick: how often the engine checks deadlines of running wasm.
pub const DEFAULT_EPOCH_TICK_MS: u64 = 5;
/// Default share of the plugin threads one tenant's steps may use at once.
pub const DEFAULT_TENANT_PLUGIN_SHARE: f64 = 0.5;
/// Default connect timeout for a vendor request.
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 3_000;
/// Default total timeout for one vendor request (connect, send, whole response).
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 8_000;
/// Default cap on a vendor response body; vendor answers are small JSON documents.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 1 << 20;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The HTTP front and handles.
    #[serde(default)]
    pub gateway: GatewayConfig,
    /// The wasm runtime's limits.
    #[serde(default)]
    pub runtime: RuntimeConfig,
    /// Runtime plugin management (admin API, watched directory).
    #[serde(default)]
    pub admin: AdminConfig,
    /// How every listener treats its client connections, and the shutdown drain.
    #[serde(default)]
    pub connections: ConnectionsConfig,
    /// The configured provider instances.
    #[serde(default)]
    pub providers: Vec<ProviderConfig>,
    /// API clients, with their keys, grants and webhooks.
    #[serde(default)]
    pub tenants: Vec<TenantConfig>,
    /// The durable event outbox: where events are kept, how webhooks are retried.
    #[serde(default)]
    pub events: EventsConfig,
    /// Where the vendor quotas are counted (shared by every replica through Redis, or not).
    #[serde(default)]
    pub quota: QuotaStoreConfig,
    /// Plugins from an OCI registry, and the signatures every plugin needs.
    #[serde(default)]
    pub plugins: PluginsConfig,
}

/// The default webhook retry schedule: the waits before each attempt (Svix's schedule).
pub const DEFAULT_RETRY_SCHEDULE_SECS: [u64; 8] = [0, 5, 300, 1800, 7200, 18000, 36000, 36000];
/// An event store kept in this process's memory only: for tests and one-shot tools (`call`,
/// `plugin test`), never for serving (events die with the process).
pub const MEMORY_EVENTS_STORE: &str = "sqlite::memory:";
/// The file name of the default SQLite event store.
pub const DEFAULT_EVENTS_FILE: &str = "ingest-events.sqlite";

/// `[events]`: the durable event outbox.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    /// `sqlite://PATH` (one file; a relative PATH is relative to the config file) or
    /// `postgres://…` (shared by every replica). Default: `ingest-events.sqlite` beside the
    /// artifact cache (`runtime.cache_dir`), else beside the config file.
    #[serde(default)]
    pub store: Option<String>,
    /// Waits before each webhook attempt, seconds; the first is usually 0. Its length is the
    /// number of attempts. Default `[0, 5, 300, 1800, 7200, 18000, 36000, 36000]`.
    #[serde(default = "default_retry_schedule")]
    pub retry_schedule_secs: Vec<u64>,
    /// How long events are kept (any state), hours. Default 72.
    #[serde(default = "default_retention_hours")]
    pub retention_hours: u64,
    /// How long a replica may hold an event it is delivering before another may take it,
    /// seconds. Default 30 (above the 10 s a webhook attempt may take).
    #[serde(default = "default_lease_secs")]
    pub lease_secs: u64,
    /// How often each replica looks for due retries and for events other replicas stored,
    /// milliseconds. Default 250.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// Consecutive failed attempts after which a tenant's endpoint is marked failing.
    /// Default 5.
    #[serde(default = "default_failing_after")]
    pub failing_after: u32,
    /// PostgreSQL only: each append notifies (`NOTIFY ingest_events`) and every replica
    /// listens, so a stream on another replica carries an event at once instead of at its
    /// next poll. Default true.
    #[serde(default = "default_notify")]
    pub notify: bool,
}

fn default_notify() -> bool {
    true
}

fn default_retry_schedule() -> Vec<u64> {
    DEFAULT_RETRY_SCHEDULE_SECS.to_vec()
}
fn default_retention_hours() -> u64 {
    72
}
fn default_lease_secs() -> u64 {
    30
}
fn default_poll_interval_ms() -> u64 {
    250
}
fn default_failing_after() -> u32 {
    5
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            store: None,
            retry_schedule_secs: default_retry_schedule(),
            retention_hours: default_retention_hours(),
            lease_secs: default_lease_secs(),
            poll_interval_ms: default_poll_interval_ms(),
            failing_after: default_failing_after(),
            notify: default_notify(),
        }
    }
}

impl EventsConfig {
    /// The store's URL: the configured one, or the default SQLite file (beside `cache_dir`
    /// when there is one, else in the working directory; `Config::load` puts it beside the
    /// config file).
    pub fn store_url(&self, runtime: &RuntimeConfig) -> String {
        if let Some(store) = &self.store {
            return store.clone();
        }
        let dir = runtime
            .cache_dir
            .as_deref()
            .map(|d| d.parent().unwrap_or(d).to_path_buf())
            .unwrap_or_default();
        sqlite_url(dir.join(DEFAULT_EVENTS_FILE))
    }

    /// The store's URL without a password (in the user part or a `password` parameter),
    /// for logs and errors; a URL that does not parse is not shown at all.
    pub fn store_name(&self, runtime: &RuntimeConfig) -> String {
        let url = self.store_url(runtime);
        if url == MEMORY_EVENTS_STORE || url.starts_with("sqlite://") {
            return url;
        }
        masked_url(&url)
    }
}

/// The `sqlite://` URL of a store file, its path made absolute: a relative one would be read
/// as a host (`sqlite://examples/demo/…` names the host `examples`), and the store would not
/// open.
fn sqlite_url(path: PathBuf) -> String {
    let path = std::path::absolute(&path).unwrap_or(path);
    format!("sqlite://{}", path.display())
}

/// A service URL without its password (in the user part or a `password` parameter), for
/// logs and errors; a URL that does not parse is not shown at all.
pub(crate) fn masked_url(url: &str) -> String {
    // Only a scheme of letters, digits, `+`, `-`, `.` is shown of a URL that does not parse,
    // or that is not a base (`user:password@host` without a scheme parses as scheme `user`).
    let unparsed = || match url.split_once("://") {
        Some((scheme, _))
            if !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) =>
        {
            format!("{scheme}://<a URL that does not parse>")
        }
        _ => "<a URL that does not parse>".to_string(),
    };
    match url::Url::parse(url) {
        Ok(u) if u.cannot_be_a_base() => unparsed(),
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            if u.query_pairs().any(|(k, _)| k == "password") {
                let kept: Vec<(String, String)> = u
                    .query_pairs()
                    .map(|(k, v)| {
                        let v = if k == "password" {
                            "***".into()
                        } else {
                            v.into_owned()
                        };
                        (k.into_owned(), v)
                    })
                    .collect();
                u.query_pairs_mut().clear().extend_pairs(kept);
            }
            u.to_string()
        }
        Err(_) => unparsed(),
    }
}

/// `[gateway]`: the HTTP API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Address the HTTP API listens on. Default `127.0.0.1:8080`.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Directory searched for plugins named by `providers[].plugin` (`NAME.wasm`, or
    /// `NAME_WITH_UNDERSCORES.wasm` as cargo names its output). Relative to the config file.
    #[serde(default)]
    pub plugin_dir: Option<PathBuf>,
    /// Key that seals ingest handles (HMAC-SHA256). Replicas sharing it serve each other's
    /// handles. Without it, a random key is made at start-up and handles die with the process.
    #[serde(default)]
    pub handle_key: Option<SecretSource>,
    /// Largest accepted API request body, bytes. Default 65536.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Address of the Envoy external processing (ext_proc) gRPC service, e.g.
    /// `127.0.0.1:50051`; it serves beside the HTTP API (`serve --no-http` runs it alone).
    /// Default: none, no ext_proc service.
    #[serde(default)]
    pub extproc_listen: Option<String>,
    /// `tenants` (default): every API call needs `Authorization: Bearer <api key>` of a
    /// configured tenant and sees only the providers granted to it. `off`: no authentication,
    /// one implicit tenant — only for local demos and tests.
    #[serde(default)]
    pub auth: AuthMode,
}

/// `[connections]`: limits on the clients of every listener (the API, the admin API and the
/// ext_proc service), so a slow or greedy client cannot hold the gateway's descriptors, and
/// the drain on shutdown.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionsConfig {
    /// How long a client may take to send a request's head once it has sent its first byte,
    /// and then its body, milliseconds; past it the connection is closed (a request body
    /// that stalls is answered 408). Default 10000.
    #[serde(default = "default_header_timeout")]
    pub header_timeout_ms: u64,
    /// How long a keep-alive connection with no request in flight stays open, milliseconds.
    /// Default 60000.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_ms: u64,
    /// Largest request head (request line and headers), bytes; a larger one is answered
    /// 431. At least 8192. Default 16384.
    #[serde(default = "default_max_header")]
    pub max_header_bytes: usize,
    /// Open connections per listener; at the limit the listener stops accepting until one
    /// closes (new clients wait in the kernel's backlog). Default 4096.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// On SIGTERM or SIGINT: how long requests in flight may take to finish before the
    /// process exits anyway, milliseconds. Default 25000 (below Kubernetes' default grace period of
    /// 30 s: keep it below `terminationGracePeriodSeconds`).
    #[serde(default = "default_drain")]
    pub drain_timeout_ms: u64,
    /// On SIGTERM or SIGINT: how long the listeners keep accepting while `/readyz` already
    /// answers 503, so load balancers take the gateway out before it stops accepting,
    /// milliseconds. Default 0 (stop accepting at once). Behind a Kubernetes Service, a few
    /// seconds here do what a `preStop` sleep does.
    #[serde(default)]
    pub drain_delay_ms: u64,
}

const fn default_header_timeout() -> u64 {
    10_000
}
const fn default_idle_timeout() -> u64 {
    60_000
}
const fn default_max_header() -> usize {
    16 * 1024
}
const fn default_max_connections() -> usize {
    4096
}
const fn default_drain() -> u64 {
    25_000
}

impl Default for ConnectionsConfig {
    fn default() -> Self {
        Self {
            header_timeout_ms: default_header_timeout(),
            idle_timeout_ms: default_idle_timeout(),
            max_header_bytes: default_max_header(),
            max_connections: default_max_connections(),
            drain_timeout_ms: default_drain(),
            drain_delay_ms: 0,
        }
    }
}

/// How API callers are authenticated.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Bearer API keys of `[[tenants]]`.
    #[default]
    Tenants,
    /// No authentication (demos and tests only; logged as a warning).
    Off,
}

/// `[[tenants]]`: one API client organisation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Tenant id (letters, digits, `-`, `_`); sealed into every handle it creates.
    pub id: String,
    /// Lowercase hex SHA-256 of the tenant's API key (`printf %s "$KEY" | sha256sum`); the key
    /// itself is never stored.
    pub api_key_sha256: String,
    /// Provider ids this tenant may use; `["*"]` for all.
    pub providers: Vec<String>,
    /// Where the tenant's normalized ingest events are delivered.
    #[serde(default)]
    pub webhook: Option<WebhookConfig>,
    /// API requests per second this tenant may make (a burst of up to one second's worth
    /// at once); beyond it `429` with `Retry-After`. Default: no limit.
    #[serde(default)]
    pub rate: Option<u32>,
    /// API requests of this tenant in flight at once (a start waiting on its vendor counts);
    /// beyond it `429`. Default: no limit.
    #[serde(default)]
    pub max_concurrent: Option<u32>,
}

/// `[tenants.webhook]`: event delivery to a tenant.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The URL events are POSTed to (http or https).
    pub url: String,
    /// The Standard Webhooks secret, `whsec_<base64 key>`: deliveries carry `webhook-id`,
    /// `webhook-timestamp` and `webhook-signature` (`v1,<base64 HMAC-SHA256>`).
    pub secret: SecretSource,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            plugin_dir: None,
            handle_key: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            extproc_listen: None,
            auth: AuthMode::Tenants,
        }
    }
}

/// `[admin]`: runtime plugin management. Off unless `listen` and `token` are set.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Address of the admin API (its own listener; keep it off public networks).
    #[serde(default)]
    pub listen: Option<String>,
    /// Bearer token the admin API requires (at least 16 bytes).
    #[serde(default)]
    pub token: Option<SecretSource>,
    /// Largest plugin upload, bytes. Default 32 MiB.
    #[serde(default = "default_max_upload")]
    pub max_upload_bytes: usize,
    /// Poll `gateway.plugin_dir` this often (milliseconds) and hot-swap changed `*.wasm`
    /// files. Default: not watched.
    #[serde(default)]
    pub watch_interval_ms: Option<u64>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: None,
            token: None,
            max_upload_bytes: default_max_upload(),
            watch_interval_ms: None,
        }
    }
}

fn default_max_upload() -> usize {
    32 << 20
}

/// How a provider's steps map to plugin instances (`instance`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceMode {
    /// A fresh instance for every step (the default).
    #[default]
    PerStep,
    /// One instance for all the steps of a call.
    PerCall,
}

/// `[runtime]`: limits that apply to every plugin call.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Wall-clock budget of one plugin call, milliseconds (wasm execution and vendor requests
    /// together). Default 10000.
    #[serde(default = "default_deadline")]
    pub call_deadline_ms: u64,
    /// Cap on one plugin instance's linear memory, bytes. Default 64 MiB.
    #[serde(default = "default_memory")]
    pub memory_limit_bytes: u64,
    /// CPU budget of one step of a call (one run of the plugin between two vendor requests),
    /// milliseconds: a plugin that uses more CPU (its host calls included; the time it is
    /// preempted or waits for a plugin thread not) is interrupted (`plugin-fault`), so a
    /// runaway plugin holds a plugin thread for this much CPU at most, not for the whole call.
    /// Read from the thread's CPU clock at each epoch tick (`epoch_tick_ms`), so a step is
    /// stopped within one tick past its budget; on a loaded machine a step may take longer in
    /// wall time (the call deadline, `call_deadline_ms`, stays wall-clock).
    /// Default 100; at most `call_deadline_ms`.
    #[serde(default = "default_step_budget")]
    pub step_budget_ms: u64,
    /// Plugin instances that may run at once (an instance lives for one step, never across a
    /// vendor request); further steps wait. Default 256.
    #[serde(default = "default_concurrency")]
    pub max_concurrent_calls: u32,
    /// How often running wasm checks its deadline, milliseconds. Default 5. A running step
    /// also yields its thread at each check, so steps waiting for a plugin thread take turns.
    #[serde(default = "default_tick")]
    pub epoch_tick_ms: u64,
    /// Threads that run plugin steps: a runtime of their own, so a plugin that computes (or
    /// loops until its budget) never holds the threads that accept connections, answer
    /// `/healthz` and talk to vendors. Default: the number of CPUs. `0` runs steps on the
    /// caller's threads instead (an embedding application's own runtime).
    #[serde(default)]
    pub plugin_threads: Option<u32>,
    /// The share of the plugin threads one tenant's steps may use at once (at least one
    /// step): with 2 threads and 0.5, each tenant runs one step at a time and waits for its
    /// turn beyond, so one tenant's looping or CPU-heavy plugins cannot take every thread
    /// from another's. 1.0 turns the cap off. Applies with `gateway.auth = "api-key"`.
    /// Default 0.5.
    #[serde(default = "default_tenant_plugin_share")]
    pub tenant_plugin_share: f64,
    /// Use the pooling instance allocator (fast instantiation; reserves virtual memory up
    /// front). Default true; turned off automatically when virtual memory is scarce.
    #[serde(default = "default_true")]
    pub pooling: bool,
    /// Core module instances one plugin component may hold (the pooling allocator's
    /// per-component limit; the pool's total is this times `max_concurrent_calls`). A Rust
    /// plugin holds 2–4, a componentize-js one 3–8, a componentize-py one 16–40 (CPython and
    /// its libraries are linked as separate modules). Default 64. The pool reserves no memory
    /// per core instance, so raising it costs nothing until a component uses them.
    #[serde(default = "default_core_instances")]
    pub max_core_instances_per_component: u32,
    /// Tiered compilation: a plugin not in the artifact cache serves first from a fast
    /// baseline compile (Winch) while the optimizing compile (Cranelift) runs in the
    /// background; its code takes over for the calls that start after. Default true.
    #[serde(default = "default_true")]
    pub tiered: bool,
    /// Directory for compiled plugin artifacts, so restarts and re-uploads skip compilation.
    /// Relative to the config file. Default: no cache.
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
}

impl RuntimeConfig {
    /// The plugin threads in effect: `plugin_threads`, or the number of CPUs; 0 when steps
    /// run on the caller's threads.
    pub fn plugin_threads(&self) -> usize {
        match self.plugin_threads {
            Some(n) => n as usize,
            None => cpus(),
        }
    }

    /// Steps one tenant may run at once: `tenant_plugin_share` of the plugin threads (of the
    /// CPUs when steps run on the caller's threads), at least one.
    pub fn steps_per_tenant(&self) -> usize {
        let threads = match self.plugin_threads() {
            0 => cpus(),
            n => n,
        };
        // Bounded: `threads` is a thread count and the share is validated to (0, 1].
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let steps = (threads as f64 * self.tenant_plugin_share).floor() as usize;
        steps.clamp(1, threads)
    }
}

/// The CPUs this process may use (2 when the system cannot say).
fn cpus() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            call_deadline_ms: DEFAULT_CALL_DEADLINE_MS,
            step_budget_ms: DEFAULT_STEP_BUDGET_MS,
            memory_limit_bytes: DEFAULT_MEMORY_LIMIT_BYTES,
            max_concurrent_calls: DEFAULT_MAX_CONCURRENT_CALLS,
            epoch_tick_ms: DEFAULT_EPOCH_TICK_MS,
            plugin_threads: None,
            tenant_plugin_share: DEFAULT_TENANT_PLUGIN_SHARE,
            pooling: true,
            max_core_instances_per_component: DEFAULT_MAX_CORE_INSTANCES_PER_COMPONENT,
            tiered: true,
            cache_dir: None,
        }
    }
}

/// `[[providers]]`: one configured provider instance.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// The id API calls use (`"provider": "trtc"`): letters, digits, `-`, `_`.
    pub id: String,
    /// A plugin name (looked up in `gateway.plugin_dir`) or a path to a `.wasm` component
    /// (relative to the config file).
    pub plugin: String,
    /// Overrides the vendor base URL, e.g. `http://127.0.0.1:9101` for a simulator. The plugin
    /// sends its requests there, and the egress allowlist then defaults to that host.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Hosts (`host:port`) the plugin may call. Replaces the plugin's own default hosts.
    #[serde(default)]
    pub allow_hosts: Option<Vec<String>>,
    /// Allow loopback and private-range addresses (simulators, tests). Default false.
    #[serde(default)]
    pub allow_private: bool,
    /// Timeouts and size caps for this provider's vendor requests.
    #[serde(default)]
    pub egress: EgressConfig,
    /// What to answer when the plugin keeps failing.
    #[serde(default)]
    pub failure: FailureConfig,
    /// The vendor's request-rate limits, enforced before the vendor is called.
    #[serde(default)]
    pub quota: QuotaConfig,
    /// How its plugin's steps map to instances: `"per-step"` (default: a fresh instance for
    /// every step, none held while the vendor answers) or `"per-call"` (one instance for all
    /// the steps of a call, its pool slot and memory held across the vendor round trips:
    /// for plugins whose instantiation dominates a step, such as a Python plugin's ~12 MiB
    /// heap; docs/performance.md, "Python plugins"). Module-level state then lives for the
    /// call, never longer.
    #[serde(default)]
    pub instance: InstanceMode,
    /// Non-secret settings the plugin reads (its README lists them).
    #[serde(default)]
    pub config: BTreeMap<String, toml::Value>,
    /// Secret name → where the host reads its value. The plugin sees only the names.
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretSource>,
}

/// `[providers.egress]`: limits on one provider's vendor requests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressConfig {
    /// Connect timeout, milliseconds. Default 3000.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_ms: u64,
    /// Total timeout of one vendor request, milliseconds. Default 8000.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_ms: u64,
    /// Largest vendor response body, bytes; a larger one fails the request. Default 1 MiB.
    #[serde(default = "default_max_response")]
    pub max_response_bytes: usize,
    /// A PEM file of extra trust roots for `https` vendor requests (a private CA), on top of
    /// the bundled web roots. Relative to the config file. Default: none.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl Default for EgressConfig {
    fn default() -> Self {
        Self {
            connect_timeout_ms: DEFAULT_CONNECT_TIMEOUT_MS,
            request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            ca_file: None,
        }
    }
}

/// `[providers.quota]`: how fast the gateway may call one provider's vendor.
///
/// Vendors cap their server APIs per account (Tencent TRTC 20 requests/s per API, Alibaba 100/s
/// per account, ZEGO 10–40/s per API and AppID) and drop or refuse what goes over, whoever
/// sent it. The gateway keeps every provider under its vendor's limit (GCRA), taking a turn
/// as each vendor request leaves: a call whose first request is over the limit waits up to
/// `max_wait_ms` for its turn and is otherwise answered `429 rate-limited` with
/// `Retry-After`, before anything reaches the vendor.
/// Each rate is in calls per second; `0` turns that limit off. An unset rate takes the
/// documented default of the seed vendor the plugin is named after (the README, "Vendor quotas");
/// a plugin without one has no limit until the operator sets one.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaConfig {
    /// Calls per second to this provider, all operations together.
    #[serde(default)]
    pub rate: Option<u32>,
    /// Calls per second of `start`.
    #[serde(default)]
    pub start: Option<u32>,
    /// Calls per second of `stop`.
    #[serde(default)]
    pub stop: Option<u32>,
    /// Calls per second of `status`.
    #[serde(default)]
    pub status: Option<u32>,
    /// Calls let through back to back after a quiet period. Default 1: calls are spaced
    /// evenly (10 % wider than `1 s / rate`, room for jitter on the way), so the vendor never
    /// sees more than the rate in any one second; a burst of `b` lets up to `rate + b - 1`
    /// through in one second.
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// How long a call over a limit may wait for its turn, milliseconds. Default 250; 0
    /// answers 429 at once.
    #[serde(default = "default_quota_wait")]
    pub max_wait_ms: u64,
    /// The largest share of each rate one tenant may use, in (0, 1]. Default 1 (no cap). With
    /// 0.5, one tenant's burst can take at most half of the vendor's rate; the rest stays for
    /// the others.
    #[serde(default = "default_tenant_share")]
    pub tenant_share: f64,
}

const fn default_burst() -> u32 {
    1
}
const fn default_quota_wait() -> u64 {
    250
}
const fn default_tenant_share() -> f64 {
    1.0
}

impl Default for QuotaConfig {
    fn default() -> Self {
        Self {
            rate: None,
            start: None,
            stop: None,
            status: None,
            burst: default_burst(),
            max_wait_ms: default_quota_wait(),
            tenant_share: default_tenant_share(),
        }
    }
}

/// `[providers.failure]`: the failure policy of one provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailureConfig {
    /// `closed` (default): a plugin fault, or an unhealthy provider, is an error
    /// (`plugin-fault` 500 / `unavailable` 503). `open`: answer `open_status` with `open_body`
    /// instead, for clients that prefer a degraded answer to an error.
    #[serde(default)]
    pub mode: FailureMode,
    /// Consecutive plugin faults after which the provider is marked unhealthy; while
    /// unhealthy it fails fast, letting one trial call through after a backoff that doubles
    /// from 1 s up to 60 s. Default 5.
    #[serde(default = "default_unhealthy_after")]
    pub unhealthy_after: u32,
    /// With `mode = "open"`: the HTTP status answered. Default 202.
    #[serde(default = "default_open_status")]
    pub open_status: u16,
    /// With `mode = "open"`: the JSON body answered. Default `{"degraded": true}`.
    #[serde(default = "default_open_body")]
    pub open_body: String,
}

/// Fail closed or open.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FailureMode {
    /// Errors are errors.
    #[default]
    Closed,
    /// Errors become the configured answer.
    Open,
}

impl Default for FailureConfig {
    fn default() -> Self {
        Self {
            mode: FailureMode::Closed,
            unhealthy_after: default_unhealthy_after(),
            open_status: default_open_status(),
            open_body: default_open_body(),
        }
    }
}

fn default_unhealthy_after() -> u32 {
    5
}
fn default_open_status() -> u16 {
    202
}
fn default_open_body() -> String {
    r#"{"degraded": true}"#.to_string()
}

/// Where the host reads a secret's value.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, untagged)]
pub enum SecretSource {
    /// An environment variable: `{ env = "TRTC_SECRET_KEY" }`.
    Env {
        /// The variable's name.
        env: String,
    },
    /// A file whose contents (trailing newline removed) are the value: `{ file = "/run/secrets/x" }`.
    File {
        /// The file's path, relative to the config file.
        file: PathBuf,
    },
    /// The value inline: `{ value = "…" }`. Only for demos and tests; a warning is logged.
    Value {
        /// The value.
        value: String,
    },
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::Env { env } => write!(f, "env:{env}"),
            SecretSource::File { file } => write!(f, "file:{}", file.display()),
            SecretSource::Value { .. } => f.write_str("inline value (redacted)"),
        }
    }
}

impl SecretSource {
    /// Reads the value (a file's trailing newline removed). Never logs or returns it in an
    /// error.
    pub(crate) fn read(&self) -> Result<Vec<u8>, SourceError> {
        match self {
            SecretSource::Env { env } => std::env::var(env)
                .map(String::into_bytes)
                .map_err(|_| SourceError::EnvUnset(env.clone())),
            SecretSource::File { file } => std::fs::read(file)
                .map(|mut bytes| {
                    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                        bytes.pop();
                    }
                    bytes
                })
                .map_err(|source| SourceError::File {
                    path: file.clone(),
                    source,
                }),
            // Warned about once per config, naming every such key: see
            // `Config::warn_inline_secrets`.
            SecretSource::Value { value } => Ok(value.as_bytes().to_vec()),
        }
    }

    /// Reads a key that must be at least `min` bytes long.
    pub fn read_key(&self, min: usize) -> Result<Vec<u8>, SourceError> {
        let key = self.read()?;
        if key.len() < min {
            return Err(SourceError::TooShort(min));
        }
        Ok(key)
    }
}

fn default_listen() -> String {
    DEFAULT_LISTEN.to_string()
}
fn default_max_body() -> usize {
    DEFAULT_MAX_BODY_BYTES
}
fn default_deadline() -> u64 {
    DEFAULT_CALL_DEADLINE_MS
}
fn default_step_budget() -> u64 {
    DEFAULT_STEP_BUDGET_MS
}
fn default_memory() -> u64 {
    DEFAULT_MEMORY_LIMIT_BYTES
}
fn default_core_instances() -> u32 {
    DEFAULT_MAX_CORE_INSTANCES_PER_COMPONENT
}
fn default_concurrency() -> u32 {
    DEFAULT_MAX_CONCURRENT_CALLS
}
fn default_tick() -> u64 {
    DEFAULT_EPOCH_TICK_MS
}
fn default_tenant_plugin_share() -> f64 {
    DEFAULT_TENANT_PLUGIN_SHARE
}
fn default_true() -> bool {
    true
}
fn default_connect_timeout() -> u64 {
    DEFAULT_CONNECT_TIMEOUT_MS
}
fn default_request_timeout() -> u64 {
    DEFAULT_REQUEST_TIMEOUT_MS
}
fn default_max_response() -> usize {
    DEFAULT_MAX_RESPONSE_BYTES
}

impl Config {
    /// Parses TOML text. Relative paths stay relative; see [`Config::resolve_paths`].
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text)
            .map_err(|e| ConfigError::Parse(redact_inline_values(&e.to_string())))?;
        config.validate()?;
        Ok(config)
    }

    /// Reads, parses and validates a config file; relative paths become relative to its folder.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.to_path_buf(),
            source: e,
        })?;
        let mut config = Self::parse(&text)?;
        if let Some(dir) = path.parent() {
            config.resolve_paths(dir);
        }
        Ok(config)
    }

    /// The keys whose secret is written inline (`{ value = "…" }`), by path.
    pub fn inline_secrets(&self) -> Vec<String> {
        let inline = |s: &SecretSource| matches!(s, SecretSource::Value { .. });
        let mut keys = Vec::new();
        if self.gateway.handle_key.as_ref().is_some_and(inline) {
            keys.push("gateway.handle_key".to_string());
        }
        if self.admin.token.as_ref().is_some_and(inline) {
            keys.push("admin.token".to_string());
        }
        for t in &self.tenants {
            if t.webhook.as_ref().is_some_and(|w| inline(&w.secret)) {
                keys.push(format!("tenants[{}].webhook.secret", t.id));
            }
        }
        for p in &self.providers {
            for (name, source) in &p.secrets {
                if inline(source) {
                    keys.push(format!("providers[{}].secrets.{name}", p.id));
                }
            }
        }
        for (registry, auth) in &self.plugins.registry_auth {
            if inline(&auth.password) {
                keys.push(format!("plugins.registry_auth.\"{registry}\".password"));
            }
        }
        keys
    }

    /// Logs one warning naming every secret written inline (demos and tests only).
    pub fn warn_inline_secrets(&self) {
        let keys = self.inline_secrets();
        if !keys.is_empty() {
            tracing::warn!(
                keys = %keys.join(", "),
                "secrets are written inline in the config; read them from env or file outside demos"
            );
        }
    }

    /// Makes relative paths (plugin dir, plugin paths, secret files) relative to `base`.
    pub fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(dir) = self.gateway.plugin_dir.as_mut() {
            fix(dir);
        }
        if let Some(SecretSource::File { file }) = self.gateway.handle_key.as_mut() {
            fix(file);
        }
        if let Some(SecretSource::File { file }) = self.admin.token.as_mut() {
            fix(file);
        }
        for t in &mut self.tenants {
            if let Some(WebhookConfig {
                secret: SecretSource::File { file },
                ..
            }) = t.webhook.as_mut()
            {
                fix(file);
            }
        }
        if let Some(dir) = self.runtime.cache_dir.as_mut() {
            fix(dir);
        }
        match self.events.store.as_deref() {
            Some(store) => {
                if let Some(path) = store.strip_prefix("sqlite://")
                    && Path::new(path).is_relative()
                    && !path.starts_with(':')
                {
                    self.events.store = Some(sqlite_url(base.join(path)));
                }
            }
            None if self.runtime.cache_dir.is_none() => {
                self.events.store = Some(sqlite_url(base.join(DEFAULT_EVENTS_FILE)));
            }
            None => {}
        }
        for key in &mut self.plugins.trusted_keys {
            fix(key);
        }
        for auth in self.plugins.registry_auth.values_mut() {
            if let SecretSource::File { file } = &mut auth.password {
                fix(file);
            }
        }
        match self.plugins.cache_dir.as_mut() {
            Some(dir) => fix(dir),
            None if self.runtime.cache_dir.is_none() => {
                self.plugins.cache_dir = Some(base.join(fleet::DEFAULT_PLUGIN_CACHE));
            }
            None => {}
        }
        for p in &mut self.providers {
            if p.plugin.ends_with(".wasm") && Path::new(&p.plugin).is_relative() {
                p.plugin = base.join(&p.plugin).to_string_lossy().into_owned();
            }
            for source in p.secrets.values_mut() {
                if let SecretSource::File { file } = source {
                    fix(file);
                }
            }
            if let Some(ca) = p.egress.ca_file.as_mut() {
                fix(ca);
            }
        }
    }
}

/// A TOML error quotes the offending line; when that line holds an inline secret
/// (`value = "…"`), the quoted text is replaced so the error never carries it.
fn redact_inline_values(message: &str) -> String {
    message
        .lines()
        .map(|line| match line.find("value") {
            Some(at) if line[at..].contains('=') && (line.contains('"') || line.contains('\'')) => {
                format!("{}value = [redacted]", &line[..at])
            }
            _ => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl ProviderConfig {
    /// The `[providers.config]` table as plain strings: strings as they are, numbers and
    /// booleans in their TOML spelling, arrays and tables as JSON.
    pub fn config_strings(&self) -> Vec<(String, String)> {
        self.config
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::Float(f) => f.to_string(),
                    toml::Value::Boolean(b) => b.to_string(),
                    other => serde_json::to_string(other).unwrap_or_default(),
                };
                (k.clone(), text)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_an_error_naming_it() {
        let err = Config::parse("[[providers]]\nid = \"a\"\nplugin = \"p\"\nendpont = \"x\"\n")
            .expect_err("typo must be refused");
        let msg = err.to_string();
        assert!(msg.contains("endpont"), "{msg}");
        assert!(msg.contains("line 4"), "{msg}");
    }

    #[test]
    fn parse_errors_never_quote_an_inline_secret() {
        let err = Config::parse(
            "[[providers]]\nid = \"a\"\nplugin = \"p\"\n[providers.secrets]\nk = { value = \"hunter2-secret\", typo = 1 }\n",
        )
        .expect_err("unknown key in the secret table");
        let msg = err.to_string();
        assert!(!msg.contains("hunter2-secret"), "{msg}");
        assert!(msg.contains("line 5"), "{msg}");
    }

    #[test]
    fn validate_reports_every_problem_with_its_path() {
        let err = Config::parse(
            r#"
            [gateway]
            listen = "nowhere"
            [[providers]]
            id = "a b"
            plugin = "p"
            endpoint = "ftp://x"
            allow_hosts = ["no-port"]
            [[providers]]
            id = "ok"
            plugin = "p"
            [[providers]]
            id = "ok"
            plugin = "p"
            "#,
        )
        .expect_err("invalid");
        let msg = err.to_string();
        for needle in [
            "gateway.listen",
            "providers[0].id",
            "providers[0].endpoint",
            "providers[0].allow_hosts[0]",
            "providers[2].id",
        ] {
            assert!(msg.contains(needle), "missing {needle} in {msg}");
        }
    }

    #[test]
    fn the_event_store_and_its_schedule_are_checked() {
        let err = Config::parse(
            "[events]\nstore = \"mysql://x\"\nretry_schedule_secs = [0, 3600, 3600]\nretention_hours = 1\nlease_secs = 0\n",
        )
        .expect_err("invalid");
        let msg = err.to_string();
        for needle in [
            "events.store",
            "events.retention_hours: 1 h is shorter than the retry schedule (7200 s",
            "events.lease_secs",
        ] {
            assert!(msg.contains(needle), "missing {needle} in {msg}");
        }
        let empty = Config::parse("[events]\nretry_schedule_secs = []\n").expect_err("invalid");
        assert!(
            empty.to_string().contains("events.retry_schedule_secs"),
            "{empty}"
        );
        let ok = Config::parse("[events]\nstore = \"sqlite::memory:\"\n").expect("valid");
        assert_eq!(ok.events.retry_schedule_secs, DEFAULT_RETRY_SCHEDULE_SECS);
        assert!(ok.events.notify);
    }

    #[test]
    fn a_relative_sqlite_store_and_the_default_one_live_beside_the_config_file() {
        let mut relative =
            Config::parse("[events]\nstore = \"sqlite://data/events.db\"\n").expect("valid");
        relative.resolve_paths(Path::new("/etc/ingest"));
        assert_eq!(
            relative.events.store.as_deref(),
            Some("sqlite:///etc/ingest/data/events.db")
        );
        // A config file named relatively (`--config examples/demo/gateway.toml`): the URL
        // holds an absolute path, never `sqlite://examples/…` (read as a host, it would not open).
        let mut beside =
            Config::parse("[events]\nstore = \"sqlite://../events.db\"\n").expect("valid");
        beside.resolve_paths(Path::new("examples/demo"));
        let url = beside.events.store.clone().expect("store");
        let cwd = std::env::current_dir().expect("cwd");
        assert_eq!(
            url,
            format!(
                "sqlite://{}",
                cwd.join("examples/demo/../events.db").display()
            )
        );
        let mut default = Config::parse("").expect("valid");
        default.resolve_paths(Path::new("/etc/ingest"));
        assert_eq!(
            default.events.store_url(&default.runtime),
            "sqlite:///etc/ingest/ingest-events.sqlite"
        );
        let mut cached = Config::parse("[runtime]\ncache_dir = \"/var/cache/ingest/artifacts\"\n")
            .expect("valid");
        cached.resolve_paths(Path::new("/etc/ingest"));
        assert_eq!(
            cached.events.store_url(&cached.runtime),
            "sqlite:///var/cache/ingest/ingest-events.sqlite",
            "beside the artifact cache"
        );
        let pg =
            Config::parse("[events]\nstore = \"postgres://u:pw@db:5432/ingest\"\n").expect("valid");
        assert_eq!(
            pg.events.store_name(&pg.runtime),
            "postgres://u:***@db:5432/ingest"
        );
        let query = Config::parse(
            "[events]\nstore = \"postgres://u@db/ingest?password=pw2&sslmode=require\"\n",
        )
        .expect("valid");
        let name = query.events.store_name(&query.runtime);
        assert!(
            !name.contains("pw2") && name.contains("sslmode=require"),
            "{name}"
        );
        let broken =
            Config::parse("[events]\nstore = \"postgres://u:p/w#x@db:99999/i\"\n").expect("valid");
        let name = broken.events.store_name(&broken.runtime);
        assert!(!name.contains("p/w"), "{name}");
    }

    #[test]
    fn secret_sources_parse_and_never_print_inline_values() {
        let c = Config::parse(
            r#"
            [[providers]]
            id = "a"
            plugin = "p"
            [providers.secrets]
            k1 = { env = "X" }
            k2 = { file = "f" }
            k3 = { value = "hunter2" }
            "#,
        )
        .expect("valid");
        let dbg = format!("{:?}", c.providers[0].secrets);
        assert!(dbg.contains("env:X") && dbg.contains("file:f"), "{dbg}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
    }

    #[test]
    fn inline_secrets_are_listed_by_key_once() {
        let c = Config::parse(
            r#"
[gateway]
handle_key = { value = "0123456789abcdef0123" }
[[providers]]
id = "trtc"
plugin = "x.wasm"
[providers.secrets]
secret_id = { value = "hunter2" }
secret_key = { env = "K" }
"#,
        )
        .expect("valid");
        assert_eq!(
            c.inline_secrets(),
            vec![
                "gateway.handle_key".to_string(),
                "providers[trtc].secrets.secret_id".to_string()
            ]
        );
        assert!(Config::default().inline_secrets().is_empty());
    }
}
