//! The gateway core: configured providers, each a plugin version plus its config, secrets
//! and egress policy, and the normalized operations on them. Every front (HTTP server,
//! embedding, CLI) goes through [`Gateway`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::bindings::types;
use crate::config::{Config, ProviderConfig};
use crate::credentials::{SecretStore, read_source};
use crate::egress::{EgressMode, EgressPolicy, HostPort};
use crate::error::{ApiError, ConfigError, ErrorKind};
use crate::handle::{HandleData, HandleKey};
use crate::runtime::{
    CallReport, CallSetup, Operation, Outcome, PluginConfig, PluginVersion, Runtime,
};

/// A configured provider instance.
#[derive(Debug)]
pub struct Provider {
    /// The id API calls use.
    pub id: String,
    /// The loaded plugin.
    pub plugin: Arc<PluginVersion>,
    /// What the plugin said of itself.
    pub info: types::ProviderInfo,
    secrets: Arc<SecretStore>,
    config: Arc<PluginConfig>,
    policy: Arc<EgressPolicy>,
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
    /// Live or dry-run.
    pub mode: EgressMode,
}

impl Default for CallOptions {
    fn default() -> Self {
        Self {
            now_ms: None,
            nonce: None,
            request_id: None,
            mode: EgressMode::Live,
        }
    }
}

/// The gateway: runtime, providers and the handle key.
#[derive(Debug)]
pub struct Gateway {
    runtime: Arc<Runtime>,
    providers: BTreeMap<String, Arc<Provider>>,
    handles: HandleKey,
    max_body_bytes: usize,
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
        let mut loaded: BTreeMap<PathBuf, Arc<PluginVersion>> = BTreeMap::new();
        let mut providers = BTreeMap::new();
        for pc in &config.providers {
            let fail = |reason: String| ConfigError::Plugin {
                provider: pc.id.clone(),
                reason,
            };
            let path = resolve_plugin_path(&pc.plugin, config.gateway.plugin_dir.as_deref())
                .map_err(fail)?;
            let plugin = match loaded.get(&path) {
                Some(p) => p.clone(),
                None => {
                    let bytes = std::fs::read(&path)
                        .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
                    let name = plugin_name(&pc.plugin);
                    let p = Arc::new(
                        runtime
                            .load(&name, &bytes)
                            .map_err(|e| fail(e.to_string()))?,
                    );
                    loaded.insert(path.clone(), p.clone());
                    p
                }
            };
            let provider = Self::configure(&runtime, pc, plugin).await?;
            providers.insert(pc.id.clone(), Arc::new(provider));
        }
        Ok(Self {
            runtime,
            providers,
            handles,
            max_body_bytes: config.gateway.max_body_bytes,
        })
    }

    /// Sets up one provider: secrets, `describe`, required config and secrets, egress policy.
    async fn configure(
        runtime: &Runtime,
        pc: &ProviderConfig,
        plugin: Arc<PluginVersion>,
    ) -> Result<Provider, ConfigError> {
        let fail = |reason: String| ConfigError::Plugin {
            provider: pc.id.clone(),
            reason,
        };
        let secrets = Arc::new(SecretStore::load(&pc.id, &pc.secrets)?);
        let plugin_config = Arc::new(PluginConfig {
            entries: pc.config_strings(),
            endpoint: pc.endpoint.clone(),
        });
        // `describe` runs with a policy that allows nothing: it must not call out.
        let closed = Arc::new(policy_for(pc, Vec::new()));
        let setup = CallSetup {
            provider: pc.id.clone(),
            secrets: secrets.clone(),
            config: plugin_config.clone(),
            policy: closed,
            mode: EgressMode::Live,
            now_ms: now_ms(),
            nonce: random_hex(8),
            request_id: format!("describe-{}", pc.id),
        };
        let (result, _) = runtime.invoke(&plugin, setup, Operation::Describe).await;
        let info = match result {
            Ok(Outcome::Described(info)) => info,
            Ok(_) => return Err(fail("describe returned the wrong shape".into())),
            Err(e) => {
                return Err(fail(format!(
                    "plugin `{}` failed in describe: {e}",
                    plugin.name
                )));
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
            return Err(ConfigError::Invalid(
                problems
                    .into_iter()
                    .map(|p| format!("provider `{}`: {p}", pc.id))
                    .collect(),
            ));
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
            allow = ?allow.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "provider ready"
        );
        Ok(Provider {
            id: pc.id.clone(),
            plugin,
            info,
            secrets,
            config: plugin_config,
            policy: Arc::new(policy_for(pc, allow)),
        })
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

    /// Runs one operation on a provider, returning the result and what the call did.
    pub async fn call(
        &self,
        provider: &Provider,
        op: Operation,
        options: CallOptions,
    ) -> (Result<Outcome, ApiError>, CallReport) {
        let nonce = options.nonce.unwrap_or_else(|| random_hex(8));
        let request_id = options.request_id.unwrap_or_else(|| format!("req-{nonce}"));
        let setup = CallSetup {
            provider: provider.id.clone(),
            secrets: provider.secrets.clone(),
            config: provider.config.clone(),
            policy: provider.policy.clone(),
            mode: options.mode,
            now_ms: options.now_ms.unwrap_or_else(now_ms),
            nonce,
            request_id: request_id.clone(),
        };
        let op_name = op.name();
        let (result, report) = self.runtime.invoke(&provider.plugin, setup, op).await;
        match &result {
            Ok(_) => tracing::info!(
                provider = %provider.id, plugin = %provider.info.name, version = %provider.info.version,
                %request_id, operation = op_name, elapsed_us = report.elapsed.as_micros() as u64, "call ok"
            ),
            Err(e) => tracing::info!(
                provider = %provider.id, plugin = %provider.info.name, version = %provider.info.version,
                %request_id, operation = op_name, kind = e.kind.as_str(), vendor_code = e.vendor_code.as_deref().unwrap_or(""),
                elapsed_us = report.elapsed.as_micros() as u64, "call failed"
            ),
        }
        (result, report)
    }

    fn check_supported(provider: &Provider, op: types::Operation) -> Result<(), ApiError> {
        if provider.info.operations.contains(&op) {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorKind::Unsupported,
                format!(
                    "provider `{}` ({}) does not support `{}`",
                    provider.id,
                    provider.info.name,
                    operation_name(op)
                ),
            )
            .with_provider(&provider.id))
        }
    }

    /// Starts an ingest on `provider_id`; returns the sealed handle and the session.
    pub async fn start(
        &self,
        provider_id: &str,
        request: StartRequest,
        options: CallOptions,
    ) -> Result<Started, ApiError> {
        let provider = self.provider(provider_id)?;
        Self::check_supported(provider, types::Operation::Start)?;
        if !provider.info.directions.contains(&request.direction) {
            return Err(ApiError::new(
                ErrorKind::Unsupported,
                format!(
                    "provider `{}` ({}) does not support direction `{}` (it supports: {})",
                    provider.id,
                    provider.info.name,
                    direction_name(request.direction),
                    provider
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
        match self
            .call(provider, Operation::Start(request), options)
            .await
            .0?
        {
            Outcome::Started(session) => Ok(Started {
                id: self.handles.seal(&HandleData {
                    provider: provider.id.clone(),
                    session_ref: session.session_ref.clone(),
                }),
                session,
            }),
            _ => Err(ApiError::plugin_fault("start returned the wrong shape")),
        }
    }

    /// Opens a handle; anything forged, altered or for an unknown provider is `not-found`,
    /// and never reaches a plugin.
    pub fn open_handle(&self, id: &str) -> Result<(Arc<Provider>, String), ApiError> {
        let not_found = || {
            ApiError::new(
                ErrorKind::NotFound,
                "no such ingest: the id is unknown, altered or from another gateway key",
            )
        };
        let data = self.handles.open(id).ok_or_else(not_found)?;
        let provider = self.providers.get(&data.provider).ok_or_else(not_found)?;
        Ok((provider.clone(), data.session_ref))
    }

    /// Queries the ingest behind a handle.
    pub async fn status(
        &self,
        id: &str,
        options: CallOptions,
    ) -> Result<(Arc<Provider>, types::IngestStatus), ApiError> {
        let (provider, session_ref) = self.open_handle(id)?;
        Self::check_supported(&provider, types::Operation::Status)?;
        match self
            .call(
                &provider,
                Operation::Status(types::StatusRequest { session_ref }),
                options,
            )
            .await
            .0?
        {
            Outcome::Status(s) => Ok((provider, s)),
            _ => Err(ApiError::plugin_fault("status returned the wrong shape")),
        }
    }

    /// Verifies a vendor callback with the provider's plugin and turns it into a normalized
    /// event. When the plugin can name the session, the event carries the ingest's handle.
    pub async fn parse_callback(
        &self,
        provider_id: &str,
        request: types::CallbackRequest,
        options: CallOptions,
    ) -> Result<(Arc<Provider>, types::IngestEvent, Option<String>), ApiError> {
        let provider = self.provider(provider_id)?.clone();
        Self::check_supported(&provider, types::Operation::ParseCallback)?;
        match self
            .call(&provider, Operation::ParseCallback(request), options)
            .await
            .0?
        {
            Outcome::Event(event) => {
                let id = event.session_ref.as_ref().map(|r| {
                    self.handles.seal(&HandleData {
                        provider: provider.id.clone(),
                        session_ref: r.clone(),
                    })
                });
                Ok((provider, event, id))
            }
            _ => Err(ApiError::plugin_fault(
                "parse-callback returned the wrong shape",
            )),
        }
    }

    /// Stops the ingest behind a handle.
    pub async fn stop(
        &self,
        id: &str,
        options: CallOptions,
    ) -> Result<(Arc<Provider>, types::StopResult), ApiError> {
        let (provider, session_ref) = self.open_handle(id)?;
        Self::check_supported(&provider, types::Operation::Stop)?;
        match self
            .call(
                &provider,
                Operation::Stop(types::StopRequest { session_ref }),
                options,
            )
            .await
            .0?
        {
            Outcome::Stopped(s) => Ok((provider, s)),
            _ => Err(ApiError::plugin_fault("stop returned the wrong shape")),
        }
    }
}

fn policy_for(pc: &ProviderConfig, allow: Vec<HostPort>) -> EgressPolicy {
    EgressPolicy {
        provider: pc.id.clone(),
        allow,
        allow_private: pc.allow_private,
        connect_timeout: Duration::from_millis(pc.egress.connect_timeout_ms),
        request_timeout: Duration::from_millis(pc.egress.request_timeout_ms),
        max_response_bytes: pc.egress.max_response_bytes,
    }
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
