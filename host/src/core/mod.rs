//! The gateway core: configured providers, each bound to the serving version of its plugin,
//! and the normalized operations on them. Every front (HTTP server, Envoy ext_proc,
//! embedding, CLI) goes through [`Gateway`]; the core never imports a front.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`Gateway`]: built from a [`Config`], its accessors and readiness |
//! | `provider.rs` | [`Provider`], [`Binding`]: binding a provider to a plugin version, the derived egress allowlist |
//! | `breaker.rs` | the circuit breaker of each provider (trial, backoff, recovery) |
//! | `calls.rs` | `start`, `status`, `stop`, `update`, `parse-callback`; [`CallOptions`], [`Served`] |
//! | `quota/` | vendor quotas: request-rate limits per provider (GCRA), tenant shares; `shared.rs`: the fleet's count in Redis, with a local fallback |
//! | `source/` | where plugins come from: `oci://` registries (pull, digests, cache, tag watch), trusted keys and signatures on every source |
//! | `reload.rs` | live reload of the config: providers, tenants, secrets, limits at once; [`ReloadReport`] |
//! | `swap.rs` | hot swap: install (signature first), roll back, remove a plugin at runtime; new digests of watched tags; [`SwapReport`] |
//! | `registry.rs` | every loaded plugin's current and previous version |
//! | `handle.rs` | sealed, stateless ingest handles |
//! | `tenants.rs` | API clients, their grants and authentication |
//! | `events/` | normalized events: the durable outbox (SQLite or PostgreSQL), Standard Webhooks on a retry schedule, the SSE stream across replicas |
//! | `metrics.rs` | Prometheus metrics |

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::capability::secret_scan::SecretSet;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::error::{ApiError, ConfigError, ErrorKind, PluginFileError};
use crate::sandbox::Runtime;
use crate::sandbox::cache::ArtifactCache;

mod breaker;
pub(crate) mod calls;
pub(crate) mod events;
pub(crate) mod handle;
pub(crate) mod metrics;
pub(crate) mod provider;
pub(crate) mod quota;
pub(crate) mod registry;
pub(crate) mod reload;
pub mod source;
pub(crate) mod swap;
pub(crate) mod tenants;

pub use calls::{CallOptions, Served, Started, Updated};
pub use events::EventHub;
pub use events::store::STATES as EVENT_STATES;
pub use metrics::Metrics;
pub use provider::{Binding, Provider, ProviderState, resolve_plugin_path};
pub use registry::PluginRegistry;
pub use reload::ReloadReport;
pub use swap::SwapReport;
pub use tenants::Tenant;

use handle::HandleKey;
use quota::shared::SharedStore;
use source::PluginSources;
use source::oci::OciRef;

/// The gateway: runtime, providers and the handle key.
#[derive(Debug)]
pub struct Gateway {
    runtime: Arc<Runtime>,
    registry: PluginRegistry,
    /// What a config reload replaces as a whole: providers, tenants, handle key, auth.
    live: std::sync::RwLock<Arc<Live>>,
    /// Serializes installs, rollbacks, removals and reloads; calls never wait on it.
    swap_lock: tokio::sync::Mutex<()>,
    /// The settings only a restart changes, as started (a reload reports changes to them).
    restart_only: RestartOnly,
    /// The config file, when the gateway was started from one (`serve`): what a reload reads.
    config_path: std::sync::OnceLock<std::path::PathBuf>,
    metrics: Arc<Metrics>,
    events: EventHub,
    clock: SharedClock,
    connections: crate::config::ConnectionsConfig,
    /// Where plugins come from: trusted keys, the registry client and cache, origins.
    sources: PluginSources,
    /// The shared vendor-quota store (`[quota] store`), when one is configured.
    quota_store: Option<Arc<SharedStore>>,
    /// Set when shutdown begins: `/readyz` answers 503 from then on.
    draining: std::sync::atomic::AtomicBool,
}

/// The part of the gateway a config reload swaps at once. A call holds the providers it
/// started with until it ends.
#[derive(Debug)]
pub(crate) struct Live {
    pub(crate) providers: BTreeMap<String, Arc<Provider>>,
    pub(crate) tenants: Vec<Arc<Tenant>>,
    pub(crate) handles: Arc<HandleKey>,
    pub(crate) auth: crate::config::AuthMode,
}

/// Whether the gateway can serve: every provider bound and healthy.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Readiness {
    /// True when every provider is [`ProviderState::Ok`].
    pub ready: bool,
    /// Each provider's state, by id.
    pub providers: BTreeMap<String, ProviderState>,
    /// Whether every serving plugin version runs optimized code (false while an optimizing
    /// compile is owed after a load served from the baseline tier).
    pub optimized: bool,
    /// True once shutdown has begun (SIGTERM/SIGINT): load balancers should stop sending.
    pub draining: bool,
    /// Whether the event store answers (while it does not, callbacks are refused 503).
    pub events_store: bool,
}

/// The shared quota store as `/healthz` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QuotaStoreState {
    /// The store's URL, without its password.
    pub store: String,
    /// True while the fleet's turns are counted there; false while this replica limits
    /// alone at its fallback share.
    pub shared: bool,
    /// The share of each rate this replica allows alone while the store is away.
    pub fallback_share: f64,
}

/// Each tenant's webhook, by tenant id.
pub(crate) fn webhooks_of(
    tenants: &[Arc<Tenant>],
) -> std::collections::HashMap<String, Arc<events::Webhook>> {
    tenants
        .iter()
        .filter_map(|t| t.webhook.clone().map(|w| (t.id.clone(), w)))
        .collect()
}

impl Gateway {
    /// Builds the runtime, loads every provider's plugin, reads secrets, and checks each
    /// provider's config against what its plugin says it needs. Every problem is an error
    /// naming the provider.
    pub async fn from_config(config: Config) -> Result<Self, ConfigError> {
        Self::with_clock(config, crate::clock::system()).await
    }

    /// [`Gateway::from_config`] with another clock (tests drive the breaker's time).
    pub async fn with_clock(config: Config, clock: SharedClock) -> Result<Self, ConfigError> {
        config.warn_inline_secrets();
        let runtime = Arc::new(Runtime::new(config.runtime.clone()).map_err(ConfigError::Runtime)?);
        let handles = handle_key(&config)?;
        let cache = match &config.runtime.cache_dir {
            Some(dir) => Some(ArtifactCache::new(dir).map_err(|e| {
                ConfigError::Runtime(
                    anyhow::Error::new(e)
                        .context(format!("cannot use cache_dir {}", dir.display())),
                )
            })?),
            None => None,
        };
        let registry = PluginRegistry::new(runtime.clone(), cache);
        let sources = PluginSources::new(&config)?;
        let pulled = load_plugins(&registry, &config, &sources).await?;
        let metrics = Arc::new(Metrics::new());
        let tenants = tenants::tenants_from(&config)?;
        let events = EventHub::open(
            &config.events,
            &config.runtime,
            webhooks_of(&tenants),
            metrics.clone(),
            clock.clone(),
        )
        .await
        .map_err(|e| ConfigError::Runtime(anyhow::anyhow!(e)))?;
        let quota_store = SharedStore::open(&config.quota, metrics.clone())
            .await
            .map_err(|e| ConfigError::Invalid(vec![e]))?;
        let providers = bind_providers(
            &runtime,
            &registry,
            &config,
            &clock,
            None,
            quota_store.as_ref(),
        )
        .await?;
        for id in providers.keys() {
            metrics.set_healthy(id, true);
        }
        for (reference, digest) in &pulled {
            sources.installed(reference, digest).await;
        }
        for (_, slot) in registry.list() {
            metrics.compile(slot.current.from_cache);
        }
        metrics.set_versions(registry.list().len());
        // Ready to serve: the optimizing compiles owed by baseline loads may now run.
        registry.release_optimizer();
        let live = Live {
            providers,
            tenants,
            handles: Arc::new(handles),
            auth: config.gateway.auth,
        };
        Ok(Self {
            runtime,
            registry,
            live: std::sync::RwLock::new(Arc::new(live)),
            swap_lock: tokio::sync::Mutex::new(()),
            restart_only: restart_only(&config),
            config_path: std::sync::OnceLock::new(),
            metrics,
            events,
            clock,
            connections: config.connections.clone(),
            quota_store,
            sources,
            draining: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Where plugins come from: trusted keys, registry, the origin of each version.
    pub fn sources(&self) -> &PluginSources {
        &self.sources
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

    /// The runtime (engine, limits).
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The live part (providers, tenants, handle key) as it is now; a reload replaces it.
    pub(crate) fn live(&self) -> Arc<Live> {
        self.live.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The configured providers (as of now: a reload may change them).
    pub fn providers(&self) -> Vec<Arc<Provider>> {
        self.live().providers.values().cloned().collect()
    }

    /// Largest accepted API request body.
    pub fn max_body_bytes(&self) -> usize {
        self.restart_only.max_body_bytes
    }

    /// A provider by id, or `not-found` naming the configured ones.
    pub fn provider(&self, id: &str) -> Result<Arc<Provider>, ApiError> {
        let live = self.live();
        live.providers.get(id).cloned().ok_or_else(|| {
            let configured: Vec<&str> = live.providers.keys().map(String::as_str).collect();
            ApiError::new(
                ErrorKind::NotFound,
                format!(
                    "no provider `{id}` is configured (configured: {})",
                    configured.join(", ")
                ),
            )
        })
    }

    /// Each provider's state, the event store's, and whether all are ready.
    pub fn readiness(&self) -> Readiness {
        let providers: BTreeMap<String, ProviderState> = self
            .providers()
            .iter()
            .map(|p| (p.id.clone(), p.state()))
            .collect();
        let draining = self.is_draining();
        let events_store = self.events.store_healthy();
        Readiness {
            ready: !draining && events_store && providers.values().all(|s| *s == ProviderState::Ok),
            events_store,
            providers,
            optimized: self.registry.all_optimized(),
            draining,
        }
    }

    /// Begins shutdown: from now on `/readyz` answers 503 and event streams end (calls are
    /// still served while the listeners drain).
    pub fn begin_drain(&self) {
        self.draining
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.events.close();
    }

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The shared quota store's state, when one is configured: its name (no password),
    /// whether it answers, and the share each replica allows alone while it does not.
    pub fn quota_store(&self) -> Option<QuotaStoreState> {
        self.quota_store.as_ref().map(|s| QuotaStoreState {
            store: s.name.clone(),
            shared: s.is_up(),
            fallback_share: s.fallback_share,
        })
    }

    /// The limits on client connections and the shutdown drain (`[connections]`).
    pub fn connections(&self) -> &crate::config::ConnectionsConfig {
        &self.connections
    }
}

/// Every provider of `config`, its secrets read and bound to the serving version of its
/// plugin (which must be loaded). With `previous` (a reload), a provider whose plugin and
/// quota settings are unchanged keeps its quota counters. Every provider gets the set of all
/// of their secret values (each call checks what passes through it against every provider's
/// secrets, not only its own); a reload builds it anew.
async fn bind_providers(
    runtime: &Arc<Runtime>,
    registry: &PluginRegistry,
    config: &Config,
    clock: &SharedClock,
    previous: Option<&Live>,
    quota_store: Option<&Arc<SharedStore>>,
) -> Result<BTreeMap<String, Arc<Provider>>, ConfigError> {
    let mut unbound = Vec::with_capacity(config.providers.len());
    for pc in &config.providers {
        let name = registry_name(&pc.plugin);
        let Some(version) = registry.current(&name) else {
            return Err(ConfigError::Runtime(anyhow::anyhow!(
                "plugin `{name}` of provider `{}` was not loaded",
                pc.id
            )));
        };
        unbound.push((
            pc,
            version,
            Provider::new(pc, name, clock.clone(), quota_store)?,
        ));
    }
    let all_secrets = Arc::new(SecretSet::of_stores(
        unbound.iter().map(|(_, _, p)| p.secrets.as_ref()),
    ));
    let mut providers = BTreeMap::new();
    for (pc, version, mut provider) in unbound {
        provider.all_secrets = all_secrets.clone();
        if let Some(old) = previous.and_then(|l| l.providers.get(&pc.id))
            && old.plugin_name == provider.plugin_name
            && old.config.quota == pc.quota
        {
            provider.quotas = old.quotas.clone();
        }
        let binding = provider.bind(runtime, version, clock.unix_ms()).await?;
        provider.set_binding(Some(Arc::new(binding)));
        providers.insert(pc.id.clone(), Arc::new(provider));
    }
    Ok(providers)
}

/// The settings a reload cannot change: listeners (and the body cap they buffer to), the
/// admin API, runtime, connections.
#[derive(Debug, PartialEq)]
struct RestartOnly {
    listen: String,
    extproc_listen: Option<String>,
    max_body_bytes: usize,
    admin: crate::config::AdminConfig,
    runtime: crate::config::RuntimeConfig,
    connections: crate::config::ConnectionsConfig,
    events: crate::config::EventsConfig,
    quota: crate::config::QuotaStoreConfig,
    plugins: crate::config::PluginsConfig,
}

fn restart_only(config: &Config) -> RestartOnly {
    RestartOnly {
        listen: config.gateway.listen.clone(),
        extproc_listen: config.gateway.extproc_listen.clone(),
        max_body_bytes: config.gateway.max_body_bytes,
        admin: config.admin.clone(),
        runtime: config.runtime.clone(),
        connections: config.connections.clone(),
        events: config.events.clone(),
        quota: config.quota.clone(),
        plugins: config.plugins.clone(),
    }
}

/// The handle key: configured, or random (handles then die with the process).
fn handle_key(config: &Config) -> Result<HandleKey, ConfigError> {
    match &config.gateway.handle_key {
        Some(source) => {
            let key = source.read_key(16).map_err(|source| ConfigError::Secret {
                owner: "the gateway".into(),
                name: "handle_key".into(),
                source,
            })?;
            Ok(HandleKey::new(key))
        }
        None => {
            tracing::warn!(
                "no gateway.handle_key configured: handles are valid only until this process exits"
            );
            Ok(HandleKey::random())
        }
    }
}

/// The registry name of a provider's `plugin` setting (a name, a path's file stem, or an
/// `oci://` reference's repository's last segment).
fn registry_name(plugin: &str) -> String {
    if let Ok(r) = OciRef::parse(plugin) {
        return r.plugin_name();
    }
    crate::text::plugin_name(Path::new(plugin)).unwrap_or_else(|| plugin.to_string())
}

/// Reads every provider's plugin (a file, or an `oci://` reference pulled or taken from the
/// plugin cache), checks its signature when keys are trusted, and loads them into the
/// registry, in parallel (each plugin once, however many providers use it). Compiling can
/// take seconds (a JavaScript plugin embeds a whole engine): it runs off the async workers,
/// as uploads do. An error names the first provider using the plugin. Answers the
/// `oci://` plugins installed, with their manifest digests: once their providers are bound,
/// [`PluginSources::installed`] records them.
async fn load_plugins(
    registry: &PluginRegistry,
    config: &Config,
    sources: &PluginSources,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut first_user: BTreeMap<String, &str> = BTreeMap::new();
    let mut components = Vec::new();
    let mut pulled = Vec::new();
    for pc in &config.providers {
        let name = registry_name(&pc.plugin);
        if first_user.contains_key(&name) {
            continue;
        }
        first_user.insert(name.clone(), &pc.id);
        let read = if pc.plugin.starts_with("oci://") {
            match OciRef::parse(&pc.plugin) {
                Ok(r) => sources.pull_for_start(&r).await,
                Err(e) => Err(e),
            }
            .map_err(PluginFileError::Source)
        } else {
            resolve_plugin_path(&pc.plugin, config.gateway.plugin_dir.as_deref()).and_then(|path| {
                let bytes = std::fs::read(&path).map_err(|source| PluginFileError::Read {
                    path: path.clone(),
                    source,
                })?;
                let origin = sources
                    .check_file(&name, &path, &bytes)
                    .map_err(PluginFileError::Source)?;
                Ok((bytes, origin))
            })
        };
        let (bytes, origin) = read.map_err(|source| ConfigError::Plugin {
            provider: pc.id.clone(),
            source,
        })?;
        if let Some(digest) = &origin.manifest_digest {
            pulled.push((pc.plugin.clone(), digest.clone()));
        }
        sources.set_origin(&crate::text::sha256_hex(&bytes), origin);
        components.push((name, bytes));
    }
    for (name, loaded) in registry.prepare_all(components).await {
        let version = loaded.map_err(|e| ConfigError::Plugin {
            provider: first_user
                .get(&name)
                .copied()
                .unwrap_or_default()
                .to_string(),
            source: e.into(),
        })?;
        registry.install(version);
    }
    Ok(pulled)
}
