//! Providers: a configured provider instance (its config, secrets, pooled vendor client and
//! breaker) bound to the serving version of its plugin. Binding runs the plugin's `describe`
//! with the provider's config, checks the config and secrets against what the plugin says it
//! needs, and derives the egress allowlist.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::breaker::Breaker;
use super::quota::Quotas;
use super::quota::shared::SharedStore;
use crate::capability::credentials::SecretStore;
use crate::capability::egress::{EgressMode, EgressPolicy};
use crate::capability::plugin_config::PluginConfig;
use crate::capability::secret_scan::SecretSet;
use crate::capability::vendor::{ClientSettings, VendorClient};
use crate::clock::SharedClock;
use crate::config::{FailureConfig, HostPort, ProviderConfig};
use crate::contract::{Description, SecretSpec, types};
use crate::error::{ApiError, BindError, ConfigError, ErrorKind, PluginFileError};
use crate::sandbox::{CallSetup, Operation, Outcome, PluginVersion, Runtime};
use crate::text::{random_hex, short_digest};

/// A configured provider instance: its config and secrets, bound to the serving version of
/// its plugin. The binding changes when the plugin is hot-swapped, rolled back or removed.
#[derive(Debug)]
pub struct Provider {
    /// The id API calls use.
    pub id: String,
    /// The registry name of its plugin.
    pub plugin_name: String,
    pub(crate) config: ProviderConfig,
    pub(crate) secrets: Arc<SecretStore>,
    /// Every configured provider's secret values (the gateway's set, shared by all its
    /// providers): what this provider's calls check vendor answers, results and logs against.
    /// Only this provider's own values until the gateway sets the whole set.
    pub(crate) all_secrets: Arc<SecretSet>,
    pub(crate) plugin_config: Arc<PluginConfig>,
    /// The provider's pooled vendor client: it outlives plugin swaps, so its connections do.
    vendor: VendorClient,
    binding: RwLock<Option<Arc<Binding>>>,
    pub(crate) breaker: Breaker,
    /// The vendor's request-rate limits (they outlive plugin swaps too).
    pub(crate) quotas: Arc<Quotas>,
}

/// A provider bound to one plugin version.
#[derive(Debug)]
pub struct Binding {
    /// The plugin version.
    pub version: Arc<PluginVersion>,
    /// What that version said of itself for this provider's config.
    pub info: types::ProviderInfo,
    /// Every secret that version can use, required and optional (its secret catalog, or the
    /// secrets `describe` lists when it has none).
    pub secrets: Vec<SecretSpec>,
    pub(crate) policy: Arc<EgressPolicy>,
}

impl Binding {
    /// `name@version+digest` of the plugin version, for logs and the `x-ingest-plugin` header.
    /// The name is the one the operator installed it under, not the one its `describe` claims:
    /// a plugin cannot pass for another by calling itself so (the digest tells versions apart).
    pub fn label(&self) -> String {
        format!(
            "{}@{}+{}",
            self.version.name,
            self.info.version,
            short_digest(&self.version.digest)
        )
    }
}

/// A provider's state as health checks and listings report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ProviderState {
    /// Bound and healthy.
    Ok,
    /// Its plugin keeps faulting (the breaker is open).
    Unhealthy,
    /// Its plugin was removed.
    NoPlugin,
}

impl Provider {
    /// A provider from its config: secrets read, vendor client built; not bound yet.
    pub(crate) fn new(
        pc: &ProviderConfig,
        plugin_name: String,
        clock: SharedClock,
        quota_store: Option<&Arc<SharedStore>>,
    ) -> Result<Self, ConfigError> {
        let secrets = Arc::new(SecretStore::load(&pc.id, &pc.secrets)?);
        let vendor = VendorClient::new(&ClientSettings {
            provider: pc.id.clone(),
            allow_private: pc.allow_private,
            connect_timeout: Duration::from_millis(pc.egress.connect_timeout_ms),
            ca_file: pc.egress.ca_file.clone(),
        })
        .map_err(|e| ConfigError::Invalid(vec![format!("providers `{}`: {e}", pc.id)]))?;
        Ok(Self {
            id: pc.id.clone(),
            plugin_config: Arc::new(PluginConfig {
                entries: pc.config_strings(),
                endpoint: pc.endpoint.clone(),
            }),
            config: pc.clone(),
            all_secrets: Arc::new(SecretSet::of_stores([secrets.as_ref()])),
            secrets,
            vendor,
            binding: RwLock::new(None),
            breaker: Breaker::new(pc.failure.unhealthy_after, clock),
            quotas: Arc::new(Quotas::new(
                &pc.id,
                &plugin_name,
                &pc.quota,
                quota_store.cloned(),
            )),
            plugin_name,
        })
    }

    /// Whether the provider is healthy (its plugin is not failing call after call).
    pub fn healthy(&self) -> bool {
        self.breaker.closed()
    }

    /// Bound and healthy, unhealthy, or without a plugin.
    pub fn state(&self) -> ProviderState {
        match (self.binding().is_some(), self.healthy()) {
            (false, _) => ProviderState::NoPlugin,
            (true, false) => ProviderState::Unhealthy,
            (true, true) => ProviderState::Ok,
        }
    }

    /// The configured failure policy.
    pub fn failure(&self) -> &FailureConfig {
        &self.config.failure
    }

    /// The current binding; `None` when its plugin was removed.
    pub fn binding(&self) -> Option<Arc<Binding>> {
        self.binding
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn set_binding(&self, binding: Option<Arc<Binding>>) {
        *self.binding.write().unwrap_or_else(|p| p.into_inner()) = binding;
    }

    /// The current binding, or `unavailable` naming the removed plugin.
    pub(crate) fn bound(&self) -> Result<Arc<Binding>, ApiError> {
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

    /// Binds this provider to a plugin version: runs `describe` with the provider's config
    /// (under a policy that lets nothing out), checks the config and secrets against what the
    /// plugin needs, and derives the egress policy. Every problem is reported. `describe`
    /// sees `now_ms` as the time.
    pub(crate) async fn bind(
        &self,
        runtime: &Runtime,
        version: Arc<PluginVersion>,
        now_ms: u64,
    ) -> Result<Binding, BindError> {
        let pc = &self.config;
        let setup = CallSetup {
            provider: pc.id.clone(),
            secrets: self.secrets.clone(),
            all_secrets: self.all_secrets.clone(),
            config: self.plugin_config.clone(),
            policy: Arc::new(EgressPolicy::closed(&pc.id, &pc.egress)),
            mode: EgressMode::Live,
            now_ms,
            nonce: random_hex(8),
            request_id: format!("describe-{}", pc.id),
            gate: None,
            turns: None,
            hold_instance: false,
        };
        let describe_failed = |source: ApiError| BindError::Describe {
            provider: pc.id.clone(),
            plugin: version.name.clone(),
            source,
        };
        let description = match runtime.invoke(&version, setup, Operation::Describe).await.0 {
            Ok(Outcome::Described(d)) => d,
            Ok(_) => {
                return Err(describe_failed(ApiError::plugin_fault(
                    "describe returned the wrong shape",
                )));
            }
            Err(e) => return Err(describe_failed(e)),
        };
        let Description {
            info,
            secrets,
            has_catalog,
        } = description;
        let problems = mismatches(pc, &info);
        if !problems.is_empty() {
            return Err(BindError::Mismatch {
                provider: pc.id.clone(),
                problems,
            });
        }
        warn_of_oddities(
            pc,
            &version,
            &info,
            has_catalog.then_some(secrets.as_slice()),
        );
        let allow = allowlist(pc, &info);
        tracing::info!(
            provider = %pc.id,
            plugin = %info.name,
            version = %info.version,
            digest = %short_digest(&version.digest),
            allow = ?allow.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "provider bound"
        );
        Ok(Binding {
            version,
            info,
            secrets,
            policy: Arc::new(EgressPolicy::for_provider(pc, allow, self.vendor.clone())),
        })
    }
}

/// Warns of what binds but is most likely a mistake: an `update` the component cannot serve,
/// a plugin installed under another name than it describes itself with, a configured secret
/// the plugin's secret catalog (when it has one) does not name.
fn warn_of_oddities(
    pc: &ProviderConfig,
    version: &PluginVersion,
    info: &types::ProviderInfo,
    catalog: Option<&[SecretSpec]>,
) {
    if info.operations.contains(&types::Operation::Update) && !version.has_updater() {
        // A 0.2.0 component may list the then-reserved case; it keeps serving the rest.
        tracing::warn!(
            provider = %pc.id,
            plugin = %info.name,
            "the plugin lists operation `update` but its component does not export {}; updates will answer 501 (rebuild it for the adapter-plugin-with-update world)",
            crate::contract::UPDATER_EXPORT
        );
    }
    if info.name != version.name {
        tracing::warn!(
            provider = %pc.id,
            plugin = %version.name,
            "plugin installed as `{}` describes itself as `{}`; it is shown as `{}` (with its digest)",
            version.name,
            info.name,
            version.name
        );
    }
    if let Some(secrets) = catalog {
        // A configured secret the plugin does not name is most likely misspelt (and so
        // missing where the plugin looks); it is not refused, as a config key would be,
        // because plugins without a catalog cannot name their optional secrets.
        for name in pc
            .secrets
            .keys()
            .filter(|n| !secrets.iter().any(|s| &s.name == *n))
        {
            tracing::warn!(
                provider = %pc.id,
                plugin = %info.name,
                "secret `{name}` is configured but plugin `{}` does not use it (it can use: {}); check its spelling",
                info.name,
                secrets.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
            );
        }
    }
}

/// Every way the provider's config and secrets miss what the plugin says it needs.
fn mismatches(pc: &ProviderConfig, info: &types::ProviderInfo) -> Vec<String> {
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
    problems
}

/// The hosts the plugin may reach: the operator's `allow_hosts` when set, else the plugin's
/// default hosts plus the host of the operator's endpoint override.
fn allowlist(pc: &ProviderConfig, info: &types::ProviderInfo) -> Vec<HostPort> {
    match &pc.allow_hosts {
        Some(hosts) => hosts.iter().filter_map(|h| HostPort::parse(h)).collect(),
        None => info
            .default_hosts
            .iter()
            .filter_map(|h| HostPort::parse(h))
            .chain(pc.endpoint.as_deref().and_then(HostPort::of_url))
            .collect(),
    }
}

/// Finds a plugin's component file: a path ending in `.wasm`, or `NAME.wasm` /
/// `NAME_WITH_UNDERSCORES.wasm` in the plugin directory.
pub fn resolve_plugin_path(
    plugin: &str,
    plugin_dir: Option<&Path>,
) -> Result<PathBuf, PluginFileError> {
    if plugin.ends_with(".wasm") {
        return Ok(PathBuf::from(plugin));
    }
    let Some(dir) = plugin_dir else {
        return Err(PluginFileError::NoPluginDir(plugin.to_string()));
    };
    let candidates = vec![
        dir.join(format!("{plugin}.wasm")),
        dir.join(format!("{}.wasm", plugin.replace('-', "_"))),
    ];
    match candidates.iter().find(|p| p.is_file()) {
        Some(found) => Ok(found.clone()),
        None => Err(PluginFileError::NotFound {
            name: plugin.to_string(),
            candidates,
        }),
    }
}
