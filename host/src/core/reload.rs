//! Live reload: a new config applied without a restart. It is read and validated whole,
//! its secrets and key files read again, its providers bound to the serving plugin versions
//! (plugins it names that are not loaded yet are loaded; a version installed through the
//! admin API stays), its tenants built; only then is it swapped in, at once. Calls in flight
//! finish on what they started with. Anything wrong changes nothing and says why.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Gateway, Live, bind_providers, handle_key, load_plugins, restart_only, tenants};
use crate::config::Config;
use crate::error::ConfigError;

/// What a reload changed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReloadReport {
    /// The providers now configured.
    pub providers: Vec<String>,
    /// Providers added by this reload.
    pub added: Vec<String>,
    /// Providers removed by this reload (their calls in flight finish).
    pub removed: Vec<String>,
    /// The tenants now configured.
    pub tenants: usize,
    /// Plugins loaded from disk because the new config names them and none was loaded.
    pub loaded: Vec<String>,
    /// True when the file also changes settings only a restart applies (listeners and
    /// `max_body_bytes`, the admin API, runtime, connections): those keep their running values.
    pub restart_needed: bool,
}

impl Gateway {
    /// Remembers the config file the gateway was started from, for [`Gateway::reload`]
    /// without a path (SIGHUP, `POST /admin/reload`). The first call wins.
    pub fn set_config_path(&self, path: PathBuf) {
        let _ = self.config_path.set(path);
    }

    /// The config file reloads read, if known.
    pub fn config_path(&self) -> Option<&Path> {
        self.config_path.get().map(PathBuf::as_path)
    }

    /// Reads the config file the gateway was started from and applies it (see
    /// [`Gateway::reload`]).
    pub async fn reload_file(&self) -> Result<ReloadReport, ConfigError> {
        let Some(path) = self.config_path() else {
            return Err(ConfigError::Invalid(vec![
                "this gateway was not started from a config file (embedded): call Gateway::reload with a Config".to_string(),
            ]));
        };
        let config = Config::load(path)?;
        self.reload(config).await
    }

    /// Applies `config`: providers, tenants, secrets and keys, limits and quotas, the handle
    /// key and authentication, all at once or nothing. Listeners, runtime and connection
    /// settings need a restart (reported, kept).
    pub async fn reload(&self, config: Config) -> Result<ReloadReport, ConfigError> {
        config.validate()?;
        config.warn_inline_secrets();
        let _serial = self.swap_lock.lock().await;
        let before = self.live();
        let (loaded, pulled) = self.load_missing_plugins(&config).await?;
        let providers = bind_providers(
            &self.runtime,
            &self.registry,
            &config,
            &self.clock,
            Some(&before),
            self.quota_store.as_ref(),
        )
        .await?;
        let live = Live {
            tenants: tenants::tenants_from(&config)?,
            // Without a configured key the random one stays: handles already issued keep
            // working.
            handles: match &config.gateway.handle_key {
                Some(_) => Arc::new(handle_key(&config)?),
                None => before.handles.clone(),
            },
            auth: config.gateway.auth,
            providers,
        };
        let report = ReloadReport {
            providers: live.providers.keys().cloned().collect(),
            added: keys_not_in(&live, &before),
            removed: keys_not_in(&before, &live),
            tenants: live.tenants.len(),
            loaded,
            restart_needed: restart_only(&config) != self.restart_only,
        };
        for id in &report.providers {
            self.metrics.set_healthy(id, true);
        }
        for (reference, digest) in &pulled {
            self.sources.installed(reference, digest).await;
        }
        self.events.set_webhooks(super::webhooks_of(&live.tenants));
        *self.live.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(live);
        tracing::info!(
            providers = ?report.providers,
            added = ?report.added,
            removed = ?report.removed,
            tenants = report.tenants,
            "config reloaded"
        );
        if report.restart_needed {
            tracing::warn!(
                "the reloaded config changes listeners, runtime or connection settings: those apply after a restart"
            );
        }
        Ok(report)
    }

    /// Loads the plugins `config` names that the registry does not hold (a plugin already
    /// loaded keeps its serving version, also one installed through the admin API), and the
    /// `oci://` plugins whose reference changed (a new tag or digest is pulled and watched).
    /// Answers their names, and the `oci://` references pulled with their digests.
    async fn load_missing_plugins(
        &self,
        config: &Config,
    ) -> Result<(Vec<String>, Vec<(String, String)>), ConfigError> {
        let mut missing = config.clone();
        missing.providers.retain(|pc| {
            let name = super::registry_name(&pc.plugin);
            self.registry.current(&name).is_none()
                || (pc.plugin.starts_with("oci://")
                    && self.sources.reference_of(&name).as_deref() != Some(pc.plugin.as_str()))
        });
        let mut names: Vec<String> = missing
            .providers
            .iter()
            .map(|pc| super::registry_name(&pc.plugin))
            .collect();
        names.sort();
        names.dedup();
        let pulled = load_plugins(&self.registry, &missing, &self.sources).await?;
        Ok((names, pulled))
    }
}

fn keys_not_in(a: &Live, b: &Live) -> Vec<String> {
    a.providers
        .keys()
        .filter(|k| !b.providers.contains_key(*k))
        .cloned()
        .collect()
}
