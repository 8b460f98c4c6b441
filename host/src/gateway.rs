//! The gateway core: configured providers, each a plugin version plus its config, secrets
//! and egress policy, and the normalized operations on them. Every front (HTTP server,
//! embedding, CLI) goes through [`Gateway`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::bindings::types;
use crate::cache::ArtifactCache;
use crate::config::{AuthMode, Config, ProviderConfig};
use crate::credentials::{SecretStore, read_source};
use crate::egress::{EgressMode, EgressPolicy, HostPort};
use crate::error::{ApiError, ConfigError, ErrorKind};
use crate::events::{Event, EventHub, Webhook};
use crate::handle::{HandleData, HandleKey};
use crate::metrics::Metrics;
use crate::registry::PluginRegistry;
use crate::runtime::{
    CallReport, CallSetup, Operation, Outcome, PluginConfig, PluginVersion, Runtime,
};
use crate::vendor::{ClientSettings, VendorClient};

/// A configured provider instance: its config and secrets, bound to the serving version of
/// its plugin. The binding changes when the plugin is hot-swapped, rolled back or removed.
#[derive(Debug)]
pub struct Provider {
    /// The id API calls use.
    pub id: String,
    /// The registry name of its plugin.
    pub plugin_name: String,
    config: ProviderConfig,
    secrets: Arc<SecretStore>,
    plugin_config: Arc<PluginConfig>,
    /// The provider's pooled vendor client: it outlives plugin swaps, so its connections do.
    vendor: VendorClient,
    binding: RwLock<Option<Arc<Binding>>>,
    health: std::sync::Mutex<Health>,
}

/// Circuit-breaker state of one provider.
#[derive(Debug, Default)]
struct Health {
    consecutive_faults: u32,
    /// Set while unhealthy: no call before this instant except the one trial.
    next_trial: Option<std::time::Instant>,
    backoff: Duration,
}

/// First and longest wait before a trial call to an unhealthy provider.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// A provider bound to one plugin version.
#[derive(Debug)]
pub struct Binding {
    /// The plugin version.
    pub version: Arc<PluginVersion>,
    /// What that version said of itself for this provider's config.
    pub info: types::ProviderInfo,
    policy: Arc<EgressPolicy>,
}

impl Binding {
    /// `name@version+digest` of the plugin version, for logs and the `x-ingest-plugin` header.
    pub fn label(&self) -> String {
        format!(
            "{}@{}+{}",
            self.info.name,
            self.info.version,
            self.version.digest.get(..12).unwrap_or_default()
        )
    }
}

impl Provider {
    /// Whether the provider is healthy (its plugin is not failing call after call).
    pub fn healthy(&self) -> bool {
        self.health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .next_trial
            .is_none()
    }

    /// While unhealthy and before the next trial: the error to answer at once.
    fn gate(&self) -> Option<ApiError> {
        let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        let next = h.next_trial?;
        let now = std::time::Instant::now();
        if now >= next {
            // Let this one call through as the trial; hold others until it reports.
            h.next_trial = Some(now + h.backoff);
            return None;
        }
        Some(
            ApiError::new(
                ErrorKind::Unavailable,
                format!(
                    "provider `{}` is unhealthy: its plugin failed {} calls in a row; next trial in {} ms",
                    self.id,
                    h.consecutive_faults,
                    (next - now).as_millis()
                ),
            )
            .with_provider(&self.id),
        )
    }

    /// Records a call's outcome; returns whether the health changed.
    fn record(&self, faulted: bool) -> bool {
        let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        let was_healthy = h.next_trial.is_none();
        if faulted {
            h.consecutive_faults = h.consecutive_faults.saturating_add(1);
            if h.consecutive_faults >= self.config.failure.unhealthy_after {
                h.backoff = if was_healthy {
                    FIRST_BACKOFF
                } else {
                    (h.backoff * 2).min(MAX_BACKOFF)
                };
                h.next_trial = Some(std::time::Instant::now() + h.backoff);
            }
        } else {
            *h = Health::default();
        }
        was_healthy != h.next_trial.is_none()
    }

    /// The configured failure policy.
    pub fn failure(&self) -> &crate::config::FailureConfig {
        &self.config.failure
    }

    /// The current binding; `None` when its plugin was removed.
    pub fn binding(&self) -> Option<Arc<Binding>> {
        self.binding
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_binding(&self, binding: Option<Arc<Binding>>) {
        *self.binding.write().unwrap_or_else(|p| p.into_inner()) = binding;
    }

    fn bound(&self) -> Result<Arc<Binding>, ApiError> {
        self.binding().ok_or_else(|| {
            ApiError::new(
                ErrorKind::Unavailable,
                format!(
                    "provider `{}` has no plugin: `{}` was removed; upload it again through the admin API",
                    self.id, self.plugin_name
                ),
            )
            .with_provider(&self.id)
        })
    }
}

/// An authenticated API client.
#[derive(Debug)]
pub struct Tenant {
    /// Tenant id.
    pub id: String,
    key_sha256: [u8; 32],
    providers: Vec<String>,
    /// Where its events go.
    pub webhook: Option<Arc<Webhook>>,
}

impl Tenant {
    /// Whether this tenant may use provider `id`.
    pub fn granted(&self, provider: &str) -> bool {
        self.providers.iter().any(|p| p == "*" || p == provider)
    }
}

/// A result together with the provider and plugin version that produced it.
#[derive(Debug, Clone)]
pub struct Served<T> {
    /// The result.
    pub value: T,
    /// The provider.
    pub provider: Arc<Provider>,
    /// `name@version+digest` of the plugin version that served.
    pub plugin: String,
}

/// How a call is run: the clock, the nonce and whether vendor requests really leave.
#[derive(Debug, Clone)]
pub struct CallOptions {
    /// Fixed timestamp, Unix milliseconds (default: now).
    pub now_ms: Option<u64>,
    /// Fixed base nonce (default: random).
    pub nonce: Option<String>,
    /// The gateway request id (default: derived from the nonce).
    pub request_id: Option<String>,
    /// The authenticated tenant (none when authentication is off): it may use only the
    /// providers granted to it and only the handles it created.
    pub tenant: Option<Arc<Tenant>>,
    /// Live or dry-run.
    pub mode: EgressMode,
}

impl Default for CallOptions {
    fn default() -> Self {
        Self {
            now_ms: None,
            nonce: None,
            request_id: None,
            tenant: None,
            mode: EgressMode::Live,
        }
    }
}

/// The gateway: runtime, providers and the handle key.
#[derive(Debug)]
pub struct Gateway {
    runtime: Arc<Runtime>,
    registry: PluginRegistry,
    providers: BTreeMap<String, Arc<Provider>>,
    handles: HandleKey,
    max_body_bytes: usize,
    /// Serializes installs, rollbacks and removals; calls never wait on it.
    swap_lock: tokio::sync::Mutex<()>,
    auth: AuthMode,
    tenants: Vec<Arc<Tenant>>,
    metrics: Arc<Metrics>,
    events: EventHub,
}

/// A normalized start request as the API receives it (the provider already chosen).
pub type StartRequest = types::StartRequest;

/// The result of a start: the sealed handle and the plugin's session.
#[derive(Debug, Clone)]
pub struct Started {
    /// The sealed handle (`id` in the API).
    pub id: String,
    /// The plugin's session.
    pub session: types::Session,
}

/// What an install, rollback or removal did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SwapReport {
    /// The plugin's registry name.
    pub plugin: String,
    /// Digest of the version now serving (none after a removal).
    pub digest: Option<String>,
    /// Digest of the version kept for rollback.
    pub previous: Option<String>,
    /// Providers now bound to the serving version.
    pub providers: Vec<String>,
    /// Whether the compiled code came from the artifact cache.
    pub from_cache: bool,
    /// Time spent compiling or loading, and validating, milliseconds.
    pub load_ms: u64,
}

fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    // A nonce only needs to be unique; fall back to the clock if the OS has no randomness.
    if getrandom::fill(&mut bytes).is_err() {
        let t = now_ms().to_le_bytes();
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = t[i % t.len()] ^ (i as u8);
        }
    }
    hex::encode(bytes)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// Finds a plugin's component file: a path ending in `.wasm`, or `NAME.wasm` /
/// `NAME_WITH_UNDERSCORES.wasm` in the plugin directory.
pub fn resolve_plugin_path(plugin: &str, plugin_dir: Option<&Path>) -> Result<PathBuf, String> {
    if plugin.ends_with(".wasm") {
        return Ok(PathBuf::from(plugin));
    }
    let Some(dir) = plugin_dir else {
        return Err(format!(
            "plugin `{plugin}` is a name, but no gateway.plugin_dir is configured; set plugin_dir or give a path to a .wasm file"
        ));
    };
    let candidates = [
        dir.join(format!("{plugin}.wasm")),
        dir.join(format!("{}.wasm", plugin.replace('-', "_"))),
    ];
    candidates.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        format!(
            "plugin `{plugin}` not found: looked for {} (build the plugins with scripts/build-plugins)",
            candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" and ")
        )
    })
}

impl Gateway {
    /// Builds the runtime, loads every provider's plugin, reads secrets, and checks each
    /// provider's config against what its plugin says it needs. Every problem is an error
    /// naming the provider.
    pub async fn from_config(config: Config) -> Result<Self, ConfigError> {
        let runtime = Runtime::new(config.runtime.clone()).map_err(|e| ConfigError::Plugin {
            provider: "(runtime)".into(),
            reason: format!("{e:#}"),
        })?;
        let runtime = Arc::new(runtime);
        let handles = match &config.gateway.handle_key {
            Some(source) => {
                let key = read_source(source).map_err(|reason| ConfigError::Secret {
                    provider: "(gateway)".into(),
                    name: "handle_key".into(),
                    reason,
                })?;
                if key.len() < 16 {
                    return Err(ConfigError::Invalid(vec![
                        "gateway.handle_key: must be at least 16 bytes".to_string(),
                    ]));
                }
                HandleKey::new(key)
            }
            None => {
                tracing::warn!(
                    "no gateway.handle_key configured: handles are valid only until this process exits"
                );
                HandleKey::random()
            }
        };
        let cache = match &config.runtime.cache_dir {
            Some(dir) => Some(ArtifactCache::new(dir).map_err(|e| ConfigError::Plugin {
                provider: "(runtime)".into(),
                reason: format!("cannot use cache_dir {}: {e}", dir.display()),
            })?),
            None => None,
        };
        let registry = PluginRegistry::new(runtime.clone(), cache);
        let metrics = Metrics::new();
        let mut providers = BTreeMap::new();
        for pc in &config.providers {
            let fail = |reason: String| ConfigError::Plugin {
                provider: pc.id.clone(),
                reason,
            };
            let path = resolve_plugin_path(&pc.plugin, config.gateway.plugin_dir.as_deref())
                .map_err(fail)?;
            let name = plugin_name(&pc.plugin);
            let version = match registry.current(&name) {
                Some(v) => v,
                None => {
                    let bytes = std::fs::read(&path)
                        .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
                    // Compiling can take seconds (a JavaScript plugin embeds a whole engine):
                    // keep it off the async workers, as uploads do.
                    let v = registry
                        .prepare_off_thread(&name, bytes)
                        .await
                        .map_err(|e| fail(e.to_string()))?;
                    registry.install(v.clone());
                    v
                }
            };
            let secrets = Arc::new(SecretStore::load(&pc.id, &pc.secrets)?);
            let vendor = VendorClient::new(&ClientSettings {
                provider: pc.id.clone(),
                allow_private: pc.allow_private,
                connect_timeout: Duration::from_millis(pc.egress.connect_timeout_ms),
                ca_file: pc.egress.ca_file.clone(),
            })
            .map_err(|e| ConfigError::Invalid(vec![format!("providers `{}`: {e}", pc.id)]))?;
            let provider = Provider {
                vendor,
                id: pc.id.clone(),
                plugin_name: name,
                plugin_config: Arc::new(PluginConfig {
                    entries: pc.config_strings(),
                    endpoint: pc.endpoint.clone(),
                }),
                config: pc.clone(),
                secrets,
                binding: RwLock::new(None),
                health: std::sync::Mutex::new(Health::default()),
            };
            let binding = Self::bind(&runtime, &provider, version)
                .await
                .map_err(ConfigError::Invalid)?;
            provider.set_binding(Some(Arc::new(binding)));
            metrics.set_healthy(&provider.id, true);
            providers.insert(pc.id.clone(), Arc::new(provider));
        }
        for (_, slot) in registry.list() {
            metrics.compile(slot.current.from_cache);
        }
        metrics.set_versions(registry.list().len());
        Ok(Self {
            runtime,
            registry,
            providers,
            handles,
            max_body_bytes: config.gateway.max_body_bytes,
            swap_lock: tokio::sync::Mutex::new(()),
            auth: config.gateway.auth,
            tenants: tenants_from(&config)?,
            metrics: Arc::new(metrics),
            events: EventHub::default(),
        })
    }

    /// Binds a provider to a plugin version: runs `describe` with the provider's config,
    /// checks the config and secrets against what the plugin needs, and derives the egress
    /// policy. Every problem is reported, prefixed with the provider id.
    async fn bind(
        runtime: &Runtime,
        provider: &Provider,
        version: Arc<PluginVersion>,
    ) -> Result<Binding, Vec<String>> {
        let pc = &provider.config;
        let prefix = |p: String| format!("provider `{}`: {p}", pc.id);
        // `describe` runs with a policy that allows nothing: it must not call out.
        let closed = Arc::new(policy_for(pc, Vec::new(), None));
        let setup = CallSetup {
            provider: pc.id.clone(),
            secrets: provider.secrets.clone(),
            config: provider.plugin_config.clone(),
            policy: closed,
            mode: EgressMode::Live,
            now_ms: now_ms(),
            nonce: random_hex(8),
            request_id: format!("describe-{}", pc.id),
        };
        let (result, _) = runtime.invoke(&version, setup, Operation::Describe).await;
        let info = match result {
            Ok(Outcome::Described(info)) => info,
            Ok(_) => return Err(vec![prefix("describe returned the wrong shape".into())]),
            Err(e) => {
                return Err(vec![prefix(format!(
                    "plugin `{}` failed in describe: {e}",
                    version.name
                ))]);
            }
        };

        let mut problems = Vec::new();
        for name in &info.secrets {
            if !pc.secrets.contains_key(name) {
                problems.push(format!(
                    "plugin `{}` needs secret `{name}`; add `{name} = {{ env = \"…\" }}` under [providers.secrets]",
                    info.name
                ));
            }
        }
        for key in info.config_keys.iter().filter(|k| k.required) {
            if !pc.config.contains_key(&key.name) {
                problems.push(format!(
                    "plugin `{}` needs config key `{}` ({}); add it under [providers.config]",
                    info.name, key.name, key.description
                ));
            }
        }
        for key in pc.config.keys() {
            if !info.config_keys.iter().any(|k| &k.name == key) {
                problems.push(format!(
                    "config key `{key}` is not one plugin `{}` reads (it reads: {})",
                    info.name,
                    info.config_keys
                        .iter()
                        .map(|k| k.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        if !problems.is_empty() {
            return Err(problems.into_iter().map(prefix).collect());
        }

        let allow = match &pc.allow_hosts {
            Some(hosts) => hosts.iter().filter_map(|h| HostPort::parse(h)).collect(),
            None => {
                let mut hosts: Vec<HostPort> = info
                    .default_hosts
                    .iter()
                    .filter_map(|h| HostPort::parse(h))
                    .collect();
                if let Some(endpoint) = pc.endpoint.as_deref().and_then(HostPort::of_url) {
                    hosts.push(endpoint);
                }
                hosts
            }
        };
        tracing::info!(
            provider = %pc.id,
            plugin = %info.name,
            version = %info.version,
            digest = %version.digest.get(..12).unwrap_or_default(),
            allow = ?allow.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "provider bound"
        );
        Ok(Binding {
            version,
            info,
            policy: Arc::new(policy_for(pc, allow, Some(provider.vendor.clone()))),
        })
    }

    /// The plugin registry.
    pub fn registry(&self) -> &PluginRegistry {
        &self.registry
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The event hub (`GET /v1/events` subscribes to it).
    pub fn events(&self) -> &EventHub {
        &self.events
    }

    fn note_swap(&self, plugin: &str, action: &str) {
        self.metrics.swap(plugin, action);
        let held: usize = self
            .registry
            .list()
            .iter()
            .map(|(_, s)| 1 + usize::from(s.previous.is_some()))
            .sum();
        self.metrics.set_versions(held);
    }

    fn users_of(&self, plugin: &str) -> Vec<Arc<Provider>> {
        self.providers
            .values()
            .filter(|p| p.plugin_name == plugin)
            .cloned()
            .collect()
    }

    /// Binds every provider of `plugin` to `version`, all or nothing.
    async fn rebind(
        &self,
        plugin: &str,
        version: &Arc<PluginVersion>,
    ) -> Result<Vec<(Arc<Provider>, Binding)>, ApiError> {
        let mut bound = Vec::new();
        for provider in self.users_of(plugin) {
            match Self::bind(&self.runtime, &provider, version.clone()).await {
                Ok(b) => bound.push((provider, b)),
                Err(problems) => {
                    self.registry.note_refused();
                    self.note_swap(plugin, "refused");
                    return Err(ApiError::new(
                        ErrorKind::FailedPrecondition,
                        format!(
                            "version {} of plugin `{plugin}` does not fit its providers; the serving version is unchanged: {}",
                            version.digest.get(..12).unwrap_or_default(),
                            problems.join("; ")
                        ),
                    ));
                }
            }
        }
        Ok(bound)
    }

    fn report(&self, plugin: &str, version: Option<&PluginVersion>) -> SwapReport {
        SwapReport {
            plugin: plugin.to_string(),
            digest: version.map(|v| v.digest.clone()),
            previous: self
                .registry
                .slot(plugin)
                .and_then(|s| s.previous.map(|p| p.digest.clone())),
            providers: self.users_of(plugin).iter().map(|p| p.id.clone()).collect(),
            from_cache: version.is_some_and(|v| v.from_cache),
            load_ms: version.map(|v| v.load_time.as_millis() as u64).unwrap_or(0),
        }
    }

    /// Hot-swaps plugin `name` to the component `bytes`: compiles and validates it, binds every
    /// provider that uses it (describe, config check) and only then makes it serve. Calls in
    /// flight finish on the version they started with. Any failure leaves the serving version
    /// as it was and says why.
    pub async fn install_plugin(&self, name: &str, bytes: &[u8]) -> Result<SwapReport, ApiError> {
        let _guard = self.swap_lock.lock().await;
        let prepared = self.registry.prepare_off_thread(name, bytes.to_vec()).await;
        if let Ok(v) = &prepared {
            self.metrics.compile(v.from_cache);
        }
        let version = prepared.map_err(|e| {
            self.registry.note_refused();
            self.note_swap(name, "refused");
            ApiError::invalid(format!("{e}; the serving version is unchanged"))
        })?;
        let bound = self.rebind(name, &version).await?;
        self.registry.install(version.clone());
        for (provider, binding) in bound {
            provider.set_binding(Some(Arc::new(binding)));
        }
        self.note_swap(name, "install");
        tracing::info!(plugin = name, digest = %version.digest.get(..12).unwrap_or_default(), from_cache = version.from_cache, "plugin version serving");
        Ok(self.report(name, Some(&version)))
    }

    /// Makes the previous version of `name` serve again.
    pub async fn rollback_plugin(&self, name: &str) -> Result<SwapReport, ApiError> {
        let _guard = self.swap_lock.lock().await;
        let Some(previous) = self.registry.slot(name).and_then(|s| s.previous) else {
            return Err(ApiError::new(
                ErrorKind::FailedPrecondition,
                format!("plugin `{name}` has no previous version to roll back to"),
            ));
        };
        let bound = self.rebind(name, &previous).await?;
        self.registry.rollback(name);
        for (provider, binding) in bound {
            provider.set_binding(Some(Arc::new(binding)));
        }
        self.note_swap(name, "rollback");
        tracing::info!(plugin = name, digest = %previous.digest.get(..12).unwrap_or_default(), "plugin rolled back");
        Ok(self.report(name, Some(&previous)))
    }

    /// Removes plugin `name`; its providers answer `unavailable` until it is uploaded again.
    pub async fn remove_plugin(&self, name: &str) -> Result<SwapReport, ApiError> {
        let _guard = self.swap_lock.lock().await;
        if self.registry.remove(name).is_none() {
            return Err(ApiError::new(
                ErrorKind::NotFound,
                format!("no plugin `{name}` is loaded"),
            ));
        }
        for provider in self.users_of(name) {
            provider.set_binding(None);
        }
        self.note_swap(name, "remove");
        tracing::warn!(plugin = name, "plugin removed");
        Ok(self.report(name, None))
    }

    /// Who is calling: the tenant whose API key is in `Authorization: Bearer …` (compared as
    /// SHA-256 digests in constant time), or nobody when authentication is off.
    pub fn authenticate(&self, headers: &http::HeaderMap) -> Result<Option<Arc<Tenant>>, ApiError> {
        if self.auth == AuthMode::Off {
            return Ok(None);
        }
        let refuse = |why: &str| ApiError::new(ErrorKind::PermissionDenied, why.to_string());
        let key = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
            .ok_or_else(|| refuse("this API needs `Authorization: Bearer <tenant API key>`"))?;
        use sha2::Digest;
        use subtle::ConstantTimeEq;
        let presented: [u8; 32] = sha2::Sha256::digest(key).into();
        // Compare against every tenant so the time taken does not depend on which matched.
        let mut found = None;
        for t in &self.tenants {
            if bool::from(t.key_sha256.ct_eq(&presented)) {
                found = Some(t.clone());
            }
        }
        found
            .map(Some)
            .ok_or_else(|| refuse("the API key is not valid"))
    }

    /// Whether authentication is off.
    pub fn auth_off(&self) -> bool {
        self.auth == AuthMode::Off
    }

    /// A tenant by id.
    pub fn tenant(&self, id: &str) -> Option<Arc<Tenant>> {
        self.tenants.iter().find(|t| t.id == id).cloned()
    }

    /// The providers `tenant` may use (all when authentication is off).
    pub fn providers_for<'a>(
        &'a self,
        tenant: Option<&'a Tenant>,
    ) -> impl Iterator<Item = &'a Arc<Provider>> + 'a {
        self.providers
            .values()
            .filter(move |p| tenant.is_none_or(|t| t.granted(&p.id)))
    }

    /// The runtime (engine, limits).
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The configured providers.
    pub fn providers(&self) -> impl Iterator<Item = &Arc<Provider>> {
        self.providers.values()
    }

    /// Largest accepted API request body.
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// A provider by id, or `not-found` naming the configured ones.
    pub fn provider(&self, id: &str) -> Result<&Arc<Provider>, ApiError> {
        self.providers.get(id).ok_or_else(|| {
            ApiError::new(
                ErrorKind::NotFound,
                format!(
                    "no provider `{id}` is configured (configured: {})",
                    self.providers
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })
    }

    /// Runs one operation on a provider's current plugin version, returning the result and
    /// what the call did. The call holds that version until it ends, whatever swaps happen.
    pub async fn call(
        &self,
        provider: &Provider,
        op: Operation,
        options: CallOptions,
    ) -> (Result<Outcome, ApiError>, CallReport) {
        let binding = match provider.bound() {
            Ok(b) => b,
            Err(e) => return (Err(e), CallReport::default()),
        };
        self.call_on(provider, &binding, op, options).await
    }

    async fn call_on(
        &self,
        provider: &Provider,
        binding: &Binding,
        op: Operation,
        options: CallOptions,
    ) -> (Result<Outcome, ApiError>, CallReport) {
        let nonce = options.nonce.unwrap_or_else(|| random_hex(8));
        let request_id = options.request_id.unwrap_or_else(|| format!("req-{nonce}"));
        let setup = CallSetup {
            provider: provider.id.clone(),
            secrets: provider.secrets.clone(),
            config: provider.plugin_config.clone(),
            policy: binding.policy.clone(),
            mode: options.mode,
            now_ms: options.now_ms.unwrap_or_else(now_ms),
            nonce,
            request_id: request_id.clone(),
        };
        let op_name = op.name();
        if let Some(e) = provider.gate() {
            self.metrics
                .call(&provider.id, op_name, "unhealthy", Duration::ZERO);
            return (Err(e), CallReport::default());
        }
        let plugin = binding.label();
        // Every line logged during the call (the plugin's own included) names the provider
        // and the plugin version.
        let span = tracing::info_span!("call", provider = %provider.id, plugin = %plugin);
        let (result, report) =
            tracing::Instrument::instrument(self.runtime.invoke(&binding.version, setup, op), span)
                .await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.kind.as_str(),
        };
        self.metrics
            .call(&provider.id, op_name, outcome, report.elapsed);
        if let Some(t) = report.instantiate {
            self.metrics.instantiate(&provider.id, t);
        }
        for t in &report.vendor_latencies {
            self.metrics.vendor(&provider.id, *t);
        }
        if let Some(fault) = report.fault {
            self.metrics.fault(&provider.id, fault);
        }
        if provider.record(report.fault.is_some()) {
            let healthy = provider.healthy();
            self.metrics.set_healthy(&provider.id, healthy);
            if healthy {
                tracing::info!(provider = %provider.id, %plugin, "provider healthy again");
            } else {
                tracing::error!(provider = %provider.id, %plugin, "provider marked unhealthy: its plugin keeps faulting");
            }
        }
        match &result {
            Ok(_) => tracing::info!(
                provider = %provider.id, %plugin, %request_id, operation = op_name,
                elapsed_us = report.elapsed.as_micros() as u64, "call ok"
            ),
            Err(e) => tracing::info!(
                provider = %provider.id, %plugin, %request_id, operation = op_name,
                kind = e.kind.as_str(), vendor_code = e.vendor_code.as_deref().unwrap_or(""),
                elapsed_us = report.elapsed.as_micros() as u64, "call failed"
            ),
        }
        (result, report)
    }

    /// Runs `op` on `provider` if its plugin supports `needed`, with the plugin label.
    async fn run(
        &self,
        provider: &Arc<Provider>,
        needed: types::Operation,
        op: Operation,
        options: CallOptions,
    ) -> Result<Served<Outcome>, ApiError> {
        let binding = provider.bound()?;
        if !binding.info.operations.contains(&needed) {
            return Err(ApiError::new(
                ErrorKind::Unsupported,
                format!(
                    "provider `{}` ({}) does not support `{}`",
                    provider.id,
                    binding.info.name,
                    operation_name(needed)
                ),
            )
            .with_provider(&provider.id));
        }
        if let Operation::Start(request) = &op
            && !binding.info.directions.contains(&request.direction)
        {
            return Err(ApiError::new(
                ErrorKind::Unsupported,
                format!(
                    "provider `{}` ({}) does not support direction `{}` (it supports: {})",
                    provider.id,
                    binding.info.name,
                    direction_name(request.direction),
                    binding
                        .info
                        .directions
                        .iter()
                        .map(|d| direction_name(*d))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .with_provider(&provider.id));
        }
        let value = self.call_on(provider, &binding, op, options).await.0?;
        Ok(Served {
            value,
            provider: provider.clone(),
            plugin: binding.label(),
        })
    }

    /// Starts an ingest on `provider_id`; returns the sealed handle and the session.
    pub async fn start(
        &self,
        provider_id: &str,
        request: StartRequest,
        options: CallOptions,
    ) -> Result<Served<Started>, ApiError> {
        let tenant = options.tenant.as_ref().map(|t| t.id.clone());
        let provider = self.granted_provider(provider_id, &options)?;
        let served = self
            .run(
                &provider,
                types::Operation::Start,
                Operation::Start(request),
                options,
            )
            .await?;
        match served.value {
            Outcome::Started(session) => Ok(Served {
                value: Started {
                    id: self.handles.seal(&HandleData {
                        provider: provider.id.clone(),
                        session_ref: session.session_ref.clone(),
                        tenant,
                    }),
                    session,
                },
                provider: served.provider,
                plugin: served.plugin,
            }),
            _ => Err(ApiError::plugin_fault("start returned the wrong shape")),
        }
    }

    /// A provider the caller may use; one it is not granted is `not-found`, like one that
    /// does not exist.
    fn granted_provider(&self, id: &str, options: &CallOptions) -> Result<Arc<Provider>, ApiError> {
        match &options.tenant {
            Some(t) if !t.granted(id) => Err(ApiError::new(
                ErrorKind::NotFound,
                format!("no provider `{id}` is available to tenant `{}`", t.id),
            )),
            _ => self.provider(id).cloned(),
        }
    }

    /// Opens a handle for the calling tenant; anything forged, altered, for an unknown
    /// provider or created by another tenant is `not-found`, and never reaches a plugin.
    pub fn open_handle(
        &self,
        id: &str,
        tenant: Option<&Tenant>,
    ) -> Result<(Arc<Provider>, String), ApiError> {
        let not_found = || {
            ApiError::new(
                ErrorKind::NotFound,
                "no such ingest: the id is unknown, altered or from another gateway key",
            )
        };
        let data = self.handles.open(id).ok_or_else(not_found)?;
        if data.tenant.as_deref() != tenant.map(|t| t.id.as_str()) {
            return Err(not_found());
        }
        let provider = self.providers.get(&data.provider).ok_or_else(not_found)?;
        Ok((provider.clone(), data.session_ref))
    }

    /// Queries the ingest behind a handle.
    pub async fn status(
        &self,
        id: &str,
        options: CallOptions,
    ) -> Result<Served<types::IngestStatus>, ApiError> {
        let (provider, session_ref) = self.open_handle(id, options.tenant.as_deref())?;
        let op = Operation::Status(types::StatusRequest { session_ref });
        let served = self
            .run(&provider, types::Operation::Status, op, options)
            .await?;
        match served.value {
            Outcome::Status(s) => Ok(Served {
                value: s,
                provider: served.provider,
                plugin: served.plugin,
            }),
            _ => Err(ApiError::plugin_fault("status returned the wrong shape")),
        }
    }

    /// Stops the ingest behind a handle.
    pub async fn stop(
        &self,
        id: &str,
        options: CallOptions,
    ) -> Result<Served<types::StopResult>, ApiError> {
        let (provider, session_ref) = self.open_handle(id, options.tenant.as_deref())?;
        let op = Operation::Stop(types::StopRequest { session_ref });
        let served = self
            .run(&provider, types::Operation::Stop, op, options)
            .await?;
        match served.value {
            Outcome::Stopped(s) => Ok(Served {
                value: s,
                provider: served.provider,
                plugin: served.plugin,
            }),
            _ => Err(ApiError::plugin_fault("stop returned the wrong shape")),
        }
    }

    /// Verifies a vendor callback with the provider's plugin and turns it into a normalized
    /// event. When the plugin can name the session, the event comes with the ingest's handle.
    pub async fn parse_callback(
        &self,
        provider_id: &str,
        request: types::CallbackRequest,
        options: CallOptions,
    ) -> Result<Served<(types::IngestEvent, Option<String>)>, ApiError> {
        let options_tenant = options.tenant.as_ref().map(|t| t.id.clone());
        let webhook = options.tenant.as_ref().and_then(|t| t.webhook.clone());
        let provider = self.granted_provider(provider_id, &options)?;
        let op = Operation::ParseCallback(request);
        let served = self
            .run(&provider, types::Operation::ParseCallback, op, options)
            .await?;
        match served.value {
            Outcome::Event(event) => {
                let id = event.session_ref.as_ref().map(|r| {
                    self.handles.seal(&HandleData {
                        provider: provider.id.clone(),
                        session_ref: r.clone(),
                        tenant: options_tenant.clone(),
                    })
                });
                self.events.publish(
                    Event {
                        id: format!("evt-{}", random_hex(12)),
                        provider: provider.id.clone(),
                        tenant: options_tenant.clone(),
                        ingest_id: id.clone(),
                        received_at_ms: now_ms(),
                        event: crate::api::event_json(&event),
                    },
                    webhook,
                    self.metrics.clone(),
                );
                Ok(Served {
                    value: (event, id),
                    provider: served.provider,
                    plugin: served.plugin,
                })
            }
            _ => Err(ApiError::plugin_fault(
                "parse-callback returned the wrong shape",
            )),
        }
    }
}

fn tenants_from(config: &Config) -> Result<Vec<Arc<Tenant>>, ConfigError> {
    if config.gateway.auth == AuthMode::Off {
        tracing::warn!(
            "gateway.auth = \"off\": the API is open to anyone who can reach it (demos and tests only)"
        );
    } else if config.tenants.is_empty() {
        tracing::warn!(
            "no [[tenants]] configured: every API call will be refused until one is added"
        );
    }
    config
        .tenants
        .iter()
        .map(|t| {
            let mut key = [0u8; 32];
            hex::decode_to_slice(&t.api_key_sha256, &mut key).map_err(|_| {
                ConfigError::Invalid(vec![format!(
                    "tenant `{}`: api_key_sha256 is not 64 hex digits",
                    t.id
                )])
            })?;
            let webhook = match &t.webhook {
                Some(w) => Some(Arc::new(Webhook {
                    url: w.url.clone(),
                    secret: zeroize::Zeroizing::new(read_source(&w.secret).map_err(|reason| {
                        ConfigError::Secret {
                            provider: format!("(tenant {})", t.id),
                            name: "webhook.secret".into(),
                            reason,
                        }
                    })?),
                    max_attempts: w.max_attempts,
                })),
                None => None,
            };
            Ok(Arc::new(Tenant {
                id: t.id.clone(),
                key_sha256: key,
                providers: t.providers.clone(),
                webhook,
            }))
        })
        .collect()
}

fn policy_for(
    pc: &ProviderConfig,
    allow: Vec<HostPort>,
    client: Option<VendorClient>,
) -> EgressPolicy {
    EgressPolicy::new(&pc.id, allow, pc.allow_private, &pc.egress, client)
}

/// SHA-256 of component bytes, hex: the identity of a plugin version.
pub fn digest_of(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn plugin_name(plugin: &str) -> String {
    Path::new(plugin)
        .file_stem()
        .map(|s| s.to_string_lossy().replace('_', "-"))
        .unwrap_or_else(|| plugin.to_string())
}

/// The API spelling of a direction.
pub fn direction_name(d: types::Direction) -> &'static str {
    match d {
        types::Direction::PullIn => "pull-in",
        types::Direction::PushIn => "push-in",
        types::Direction::PushOut => "push-out",
        types::Direction::PullOut => "pull-out",
    }
}

/// The API spelling of an operation.
pub fn operation_name(o: types::Operation) -> &'static str {
    match o {
        types::Operation::Start => "start",
        types::Operation::Stop => "stop",
        types::Operation::Status => "status",
        types::Operation::Update => "update",
        types::Operation::ParseCallback => "parse-callback",
    }
}
