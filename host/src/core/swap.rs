//! Hot swap: install a new version of a plugin, roll back to the previous one, or remove it —
//! at runtime, without a restart. A new version serves only once every provider that uses it
//! is bound to it (all or nothing); calls in flight finish on the version they started with.
//! Swaps are serialized; calls never wait on them.

use std::sync::Arc;

use super::source::Origin;
use super::{Gateway, Provider};
use crate::error::{ApiError, ErrorKind};
use crate::sandbox::PluginVersion;
use crate::text::short_digest;

use super::provider::Binding;

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

impl Gateway {
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
        self.live()
            .providers
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
            match provider
                .bind(&self.runtime, version.clone(), self.clock.unix_ms())
                .await
            {
                Ok(b) => bound.push((provider, b)),
                Err(problem) => {
                    self.registry.note_refused();
                    self.note_swap(plugin, "refused");
                    return Err(ApiError::new(
                        ErrorKind::FailedPrecondition,
                        format!(
                            "version {} of plugin `{plugin}` does not fit its providers; the serving version is unchanged: {problem}",
                            short_digest(&version.digest),
                        ),
                    ));
                }
            }
        }
        Ok(bound)
    }

    /// Makes `bound` serve: each provider switches to its new binding.
    fn commit(bound: Vec<(Arc<Provider>, Binding)>) {
        for (provider, binding) in bound {
            provider.set_binding(Some(Arc::new(binding)));
        }
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

    /// Hot-swaps plugin `name` to the component `bytes`, unsigned (an embedder's own bytes):
    /// refused when `[plugins] trusted_keys` requires signatures. See
    /// [`Gateway::install_signed_plugin`].
    pub async fn install_plugin(&self, name: &str, bytes: &[u8]) -> Result<SwapReport, ApiError> {
        self.install_signed_plugin(name, bytes, None, "an upload")
            .await
    }

    /// Hot-swaps plugin `name` to the component `bytes` from `source` (for messages), with its
    /// detached `signature` (base64 text, as `plugin sign` writes it): the signature is
    /// checked against the trusted keys first (when there are any), then the component is
    /// compiled and validated, every provider that uses it bound (describe, config check),
    /// and only then does it serve. Calls in flight finish on the version they started with.
    /// Any failure leaves the serving version as it was and says why.
    pub async fn install_signed_plugin(
        &self,
        name: &str,
        bytes: &[u8],
        signature: Option<&[u8]>,
        source: &str,
    ) -> Result<SwapReport, ApiError> {
        let signed_by = self
            .sources
            .check_detached(name, source, bytes, signature)
            .map_err(|reason| self.refused_source(name, reason))?;
        let origin = Origin {
            source: source.to_string(),
            manifest_digest: None,
            signed_by,
        };
        self.install_from(name, bytes, origin).await
    }

    /// Counts and logs bytes refused by their source (a signature), before any compiling.
    fn refused_source(&self, name: &str, reason: String) -> ApiError {
        self.registry.note_refused();
        self.note_swap(name, "refused");
        tracing::warn!(plugin = name, reason = %reason, "plugin refused before compiling; the serving version stays");
        ApiError::new(
            ErrorKind::PermissionDenied,
            format!("{reason}; the serving version is unchanged"),
        )
    }

    /// Installs bytes whose source was checked (a signature, a registry's digests).
    pub(crate) async fn install_from(
        &self,
        name: &str,
        bytes: &[u8],
        origin: Origin,
    ) -> Result<SwapReport, ApiError> {
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
        self.sources.set_origin(&version.digest, origin);
        self.registry.install(version.clone());
        Self::commit(bound);
        self.note_swap(name, "install");
        tracing::info!(plugin = name, digest = %short_digest(&version.digest), from_cache = version.from_cache, "plugin version serving");
        Ok(self.report(name, Some(&version)))
    }

    /// Looks at every watched registry tag (`oci://…:tag` plugins of the configured
    /// providers) and installs each new digest through the same path as an upload; a digest
    /// refused (signature, digest, layout, or its providers) is logged and the serving
    /// version stays. Answers what was installed. `serve` calls it every
    /// `[plugins] poll_interval_ms`.
    pub async fn refresh_registry_plugins(&self) -> Vec<SwapReport> {
        let in_use: std::collections::BTreeSet<String> = self
            .providers()
            .iter()
            .map(|p| p.config.plugin.clone())
            .collect();
        let mut installed = Vec::new();
        let (changed, refused) = self.sources.changed_tags(&in_use).await;
        for name in refused {
            self.registry.note_refused();
            self.note_swap(&name, "refused");
        }
        for (name, r, bytes, origin) in changed {
            let digest = origin.manifest_digest.clone().unwrap_or_default();
            match self.install_from(&name, &bytes, origin).await {
                Ok(report) => {
                    tracing::info!(plugin = %name, source = %r.text, manifest = %digest, "the watched tag moved: new version serving");
                    self.sources.installed(&r.text, &digest).await;
                    installed.push(report);
                }
                Err(e) => {
                    self.sources.install_failed(&r, &digest).await;
                    self.sources.note_refused(&r, &digest, &e.detail).await;
                }
            }
        }
        installed
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
        Self::commit(bound);
        self.note_swap(name, "rollback");
        tracing::info!(plugin = name, digest = %short_digest(&previous.digest), "plugin rolled back");
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
}
