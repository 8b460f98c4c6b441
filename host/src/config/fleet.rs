//! The settings of what several replicas share: the vendor quotas' store (`[quota]`) and
//! where plugins come from and who must have signed them (`[plugins]`).

use std::path::PathBuf;

use serde::Deserialize;

/// Default wait for the quota store's answer before a call falls back to the local limiter.
pub const DEFAULT_QUOTA_STORE_TIMEOUT_MS: u64 = 50;
/// Default prefix of the quota store's keys.
pub const DEFAULT_QUOTA_KEY_PREFIX: &str = "ingest:quota";
/// Default interval between two looks at a watched registry tag.
pub const DEFAULT_REGISTRY_POLL_MS: u64 = 30_000;
/// The folder of pulled plugins, beside the artifact cache or the config file.
pub const DEFAULT_PLUGIN_CACHE: &str = "ingest-plugins";

/// `[quota]`: where the vendor quotas (`[providers.quota]`) are counted.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaStoreConfig {
    /// `redis://[user:password@]host:port[/db]`: every replica counts in this Redis, so the
    /// fleet together stays under each vendor's quota. Absent: each replica counts alone.
    #[serde(default)]
    pub store: Option<String>,
    /// How many replicas are expected to run: the default local fallback share is 1/N.
    #[serde(default = "default_replicas")]
    pub expected_replicas: u32,
    /// While the store cannot be reached, each replica allows this share of every rate on
    /// its own. Default `1 / expected_replicas`.
    #[serde(default)]
    pub local_fallback_share: Option<f64>,
    /// How long a call waits for the store's answer before it falls back, milliseconds.
    #[serde(default = "default_store_timeout")]
    pub timeout_ms: u64,
    /// Prefix of the store's keys (several gateways' fleets may share one Redis).
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
}

fn default_replicas() -> u32 {
    1
}
fn default_store_timeout() -> u64 {
    DEFAULT_QUOTA_STORE_TIMEOUT_MS
}
fn default_key_prefix() -> String {
    DEFAULT_QUOTA_KEY_PREFIX.to_string()
}

impl Default for QuotaStoreConfig {
    fn default() -> Self {
        Self {
            store: None,
            expected_replicas: default_replicas(),
            local_fallback_share: None,
            timeout_ms: default_store_timeout(),
            key_prefix: default_key_prefix(),
        }
    }
}

impl QuotaStoreConfig {
    /// The share of each rate a replica allows alone while the store is away.
    pub fn fallback_share(&self) -> f64 {
        self.local_fallback_share
            .unwrap_or_else(|| 1.0 / f64::from(self.expected_replicas.max(1)))
    }

    /// The store's URL without its password, for logs, metrics and errors.
    pub fn store_name(&self) -> Option<String> {
        self.store.as_deref().map(super::masked_url)
    }

    pub(super) fn problems(&self, out: &mut Vec<String>) {
        if let Some(store) = &self.store
            && !store.starts_with("redis://")
        {
            out.push(format!(
                "quota.store: `{}` is not a redis:// URL (`redis://127.0.0.1:6379`)",
                super::masked_url(store)
            ));
        }
        if self.expected_replicas == 0 {
            out.push("quota.expected_replicas: must be at least 1".into());
        }
        if let Some(share) = self.local_fallback_share
            && !(share > 0.0 && share <= 1.0)
        {
            out.push(format!(
                "quota.local_fallback_share: {share} is not in (0, 1]"
            ));
        }
        if self.timeout_ms == 0 || self.timeout_ms > 5_000 {
            out.push(format!(
                "quota.timeout_ms: {} is not in 1..=5000 (a call waits this long for the store)",
                self.timeout_ms
            ));
        }
        if self.key_prefix.is_empty() || self.key_prefix.contains(['{', '}']) {
            out.push("quota.key_prefix: must be non-empty, without `{` or `}`".into());
        }
    }
}

/// `[plugins]`: plugins from an OCI registry, and the signatures every plugin needs.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PluginsConfig {
    /// Public keys (PEM files, `PUBLIC KEY`: ECDSA P-256 or Ed25519). When set, every
    /// plugin — from a registry, the watched directory, an upload or the config — must carry
    /// a valid signature by one of them, checked before it is compiled.
    #[serde(default)]
    pub trusted_keys: Vec<PathBuf>,
    /// How often each `oci://…:tag` plugin's tag is looked at for a new digest,
    /// milliseconds. Default 30000.
    #[serde(default)]
    pub poll_interval_ms: Option<u64>,
    /// Registries (`host:port`) reached over plain HTTP instead of HTTPS (a registry on
    /// loopback in tests). Matched exactly.
    #[serde(default)]
    pub insecure_registries: Vec<String>,
    /// Where pulled plugins are kept by digest (a restart with the registry away serves
    /// them). Default `ingest-plugins` beside the artifact cache, else beside the config file.
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
    /// Registry credentials for pulls (`user`, `password`), by registry `host:port`.
    #[serde(default)]
    pub registry_auth: std::collections::BTreeMap<String, RegistryAuthConfig>,
}

/// A registry's credentials.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryAuthConfig {
    /// The user name.
    pub user: String,
    /// The password or token.
    pub password: super::SecretSource,
}

impl PluginsConfig {
    /// Where pulled plugins are kept: `cache_dir`, else `ingest-plugins` beside the artifact
    /// cache (`runtime.cache_dir`), else in the working directory (`Config::load` puts it
    /// beside the config file).
    pub fn cache_dir(&self, runtime: &super::RuntimeConfig) -> PathBuf {
        if let Some(dir) = &self.cache_dir {
            return dir.clone();
        }
        let beside = runtime
            .cache_dir
            .as_deref()
            .map(|d| d.parent().unwrap_or(d).to_path_buf())
            .unwrap_or_default();
        beside.join(DEFAULT_PLUGIN_CACHE)
    }

    /// The tag poll interval in effect.
    pub fn poll_interval(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.poll_interval_ms.unwrap_or(DEFAULT_REGISTRY_POLL_MS))
    }

    pub(super) fn problems(&self, out: &mut Vec<String>) {
        if self.poll_interval_ms == Some(0) {
            out.push("plugins.poll_interval_ms: must be at least 1".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn problems(toml: &str) -> String {
        match Config::parse(toml) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn the_quota_store_is_named_without_its_password_and_checked() {
        let config = Config::parse(
            "[quota]\nstore = \"redis://ingest:s3cr3t-pw@redis.internal:6379/2\"\nexpected_replicas = 4\n",
        )
        .expect("valid");
        let name = config.quota.store_name().expect("a store");
        assert!(!name.contains("s3cr3t-pw"), "{name}");
        assert!(name.contains("redis.internal:6379"), "{name}");
        assert!((config.quota.fallback_share() - 0.25).abs() < 1e-9);

        let bad = problems(
            "[quota]\nstore = \"memcached://x:pw-in-url@h\"\nexpected_replicas = 0\nlocal_fallback_share = 1.5\ntimeout_ms = 0\nkey_prefix = \"a{b}\"\n",
        );
        for want in [
            "quota.store",
            "quota.expected_replicas",
            "quota.local_fallback_share",
            "quota.timeout_ms",
            "quota.key_prefix",
        ] {
            assert!(bad.contains(want), "{want} in {bad}");
        }
        assert!(!bad.contains("pw-in-url"), "{bad}");
        // Without a scheme, or unparseable: nothing of it is shown.
        for url in [
            "default:s3cret@redis:6379",
            "s3cret@host",
            "redis://:s3cret@[bad",
        ] {
            let shown = super::super::masked_url(url);
            assert!(!shown.contains("s3cret"), "{url} → {shown}");
        }
    }

    #[test]
    fn plugin_paths_are_relative_to_the_config_file() {
        let mut config = Config::parse(
            "[plugins]\ntrusted_keys = [\"keys/release.pub\", \"/etc/ingest/ops.pub\"]\npoll_interval_ms = 1000\n",
        )
        .expect("valid");
        config.resolve_paths(std::path::Path::new("/srv/ingest"));
        assert_eq!(
            config.plugins.trusted_keys,
            vec![
                std::path::PathBuf::from("/srv/ingest/keys/release.pub"),
                std::path::PathBuf::from("/etc/ingest/ops.pub")
            ]
        );
        assert_eq!(
            config.plugins.cache_dir(&config.runtime),
            std::path::PathBuf::from("/srv/ingest/ingest-plugins")
        );
        assert_eq!(
            config.plugins.poll_interval(),
            std::time::Duration::from_secs(1)
        );
        assert!(problems("[plugins]\npoll_interval_ms = 0\n").contains("plugins.poll_interval_ms"));
    }
}
