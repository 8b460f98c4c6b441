//! Where plugins come from, and the signature each needs before it is compiled.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`PluginSources`]: the trusted keys, the registry client and cache, where each serving version came from ([`Origin`]) |
//! | `signature.rs` | trusted keys, detached signatures (`NAME.wasm.sig`, an upload's `x-ingest-signature`) |
//! | `oci.rs` | `oci://` plugins: pull, check every digest and the cosign signature, cache by digest |
//! | `signing.rs` | signing keys: generate, load, sign (the kit's `plugin keygen` and `plugin sign`; feature `publish`) |
//! | `publish.rs` | push a component and its cosign signature (the kit's `plugin push`; feature `publish`) |
//!
//! With `[plugins] trusted_keys` set, every plugin's bytes — from the config, the watched
//! directory, an upload or a registry — must carry a signature by one of the keys; anything
//! else is refused before compilation, naming its source and the keys tried, and the serving
//! version keeps serving.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

pub mod oci;
#[cfg(feature = "publish")]
pub mod publish;
pub mod signature;
#[cfg(feature = "publish")]
pub mod signing;

use oci::{OciCache, OciRef, PullError, Pulled, Registry};
use signature::TrustedKeys;

use crate::config::{Config, PluginsConfig};
use crate::error::ConfigError;

/// Where a serving plugin version came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Origin {
    /// `oci://…` as configured, `file PATH`, or `upload`.
    pub source: String,
    /// For a registry plugin: the manifest digest installed (what the tag pointed at).
    pub manifest_digest: Option<String>,
    /// The trusted key that signed it (`id (file)`), when signatures are required.
    pub signed_by: Option<String>,
}

/// A watched tag: the reference and the manifest digest last installed from it.
#[derive(Debug, Clone)]
struct Watched {
    reference: OciRef,
    installed: Option<String>,
    /// The last refusal logged for this tag (digest, reason): repeated polls log it once.
    refused: Option<(String, String)>,
    /// A digest that was pulled and checked but did not install (compile, validation, its
    /// providers): not pulled again until the tag moves.
    failed_install: Option<String>,
}

/// The gateway's plugin sources.
#[derive(Debug)]
pub struct PluginSources {
    keys: TrustedKeys,
    /// The registry client, built when first needed (an `oci://` plugin at start or in a
    /// reload).
    registry: std::sync::OnceLock<Result<Registry, String>>,
    insecure: Vec<String>,
    auth: BTreeMap<String, oci_client::secrets::RegistryAuth>,
    cache: OciCache,
    poll_interval: std::time::Duration,
    origins: Mutex<BTreeMap<String, Origin>>,
    watched: tokio::sync::Mutex<BTreeMap<String, Watched>>,
    /// Pulled, not yet installed: reference → (manifest digest, signatures), recorded in the
    /// cache once installed.
    pending: Mutex<BTreeMap<String, (String, oci::Signatures)>>,
    /// Plugin name → the `oci://` reference it was last loaded from (start-up, reloads).
    references: Mutex<BTreeMap<String, String>>,
}

impl PluginSources {
    /// Reads the trusted keys and the registry credentials, and builds the registry client
    /// when a provider names an `oci://` plugin. An unusable key, credential or registry
    /// setting is an error naming it.
    pub fn new(config: &Config) -> Result<Self, ConfigError> {
        let plugins: &PluginsConfig = &config.plugins;
        let keys =
            TrustedKeys::load(&plugins.trusted_keys).map_err(|e| ConfigError::Invalid(vec![e]))?;
        let mut auth = BTreeMap::new();
        for (registry, a) in &plugins.registry_auth {
            let password = a
                .password
                .read_key(1)
                .map_err(|source| ConfigError::Secret {
                    owner: format!("plugins.registry_auth.\"{registry}\""),
                    name: "password".into(),
                    source,
                })?;
            let password = String::from_utf8(password).map_err(|_| {
                ConfigError::Invalid(vec![format!(
                    "plugins.registry_auth.\"{registry}\".password: not UTF-8 text"
                )])
            })?;
            auth.insert(
                registry.clone(),
                oci_client::secrets::RegistryAuth::Basic(a.user.clone(), password),
            );
        }
        let sources = Self {
            keys,
            registry: std::sync::OnceLock::new(),
            insecure: plugins.insecure_registries.clone(),
            auth,
            cache: OciCache::new(&plugins.cache_dir(&config.runtime)),
            poll_interval: plugins.poll_interval(),
            origins: Mutex::new(BTreeMap::new()),
            watched: tokio::sync::Mutex::new(BTreeMap::new()),
            pending: Mutex::new(BTreeMap::new()),
            references: Mutex::new(BTreeMap::new()),
        };
        if config
            .providers
            .iter()
            .any(|p| p.plugin.starts_with("oci://"))
        {
            sources
                .registry()
                .map_err(|e| ConfigError::Invalid(vec![format!("plugins: {e}")]))?;
        }
        if sources.keys.required() {
            tracing::info!(keys = %sources.keys.labels(), "plugins must be signed by a trusted key");
        }
        Ok(sources)
    }

    /// The registry client, built on first use.
    fn registry(&self) -> Result<&Registry, String> {
        self.registry
            .get_or_init(|| Registry::new(&self.insecure, self.auth.clone()))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// How often watched tags are looked at.
    pub fn poll_interval(&self) -> std::time::Duration {
        self.poll_interval
    }

    /// Checks bytes that came with a detached signature (base64 text, `None`: none came)
    /// from `source`; answers the key that made it. Nothing is required without trusted keys.
    pub fn check_detached(
        &self,
        name: &str,
        source: &str,
        bytes: &[u8],
        signature: Option<&[u8]>,
    ) -> Result<Option<String>, String> {
        if !self.keys.required() {
            return Ok(None);
        }
        let signatures: Vec<Vec<u8>> = match signature {
            None => Vec::new(),
            Some(text) => vec![signature::decode_signature(text).ok_or_else(|| {
                format!(
                    "plugin `{name}` from {source}: its signature is not base64 text (the output of `ingest-gateway plugin sign` or `cosign sign-blob`)"
                )
            })?],
        };
        self.keys
            .verify(bytes, &signatures)
            .map(|key| Some(key.label()))
            .map_err(|why| self.keys.refusal(name, source, &why))
    }

    /// Checks a component file's bytes against its detached signature (`PATH.sig`, when
    /// present); answers where it came from.
    pub fn check_file(&self, name: &str, path: &Path, bytes: &[u8]) -> Result<Origin, String> {
        let sig_path = signature::signature_path(path);
        let signature = std::fs::read(&sig_path).ok();
        let source = format!("file {}", path.display());
        let signed_by = self.check_detached(name, &source, bytes, signature.as_deref())?;
        Ok(Origin {
            source,
            manifest_digest: None,
            signed_by,
        })
    }

    /// Pulls an `oci://` plugin for start-up or a reload: from the registry, or — when the
    /// registry cannot be reached, or what it serves now is refused — the digest this
    /// replica installed last, from the cache (checked again). Its tag is watched from now.
    pub async fn pull_for_start(&self, r: &OciRef) -> Result<(Vec<u8>, Origin), String> {
        let registry = self.registry()?;
        let pulled = match registry.pull(r, None, &self.keys, &self.cache).await {
            Ok(p) => p,
            Err(e) => {
                let cached = self
                    .cache
                    .load(r, &self.keys)
                    .map_err(|c| format!("{e}; {c}"))?;
                match e {
                    PullError::Unreachable(why) => tracing::warn!(
                        plugin = %r.text, reason = %why, digest = %cached.manifest_digest,
                        "the registry cannot be reached: serving the digest this replica installed last, from its cache"
                    ),
                    PullError::Refused(why) => tracing::error!(
                        plugin = %r.text, reason = %why, digest = %cached.manifest_digest,
                        "what the registry serves now is refused: serving the digest this replica installed last, from its cache"
                    ),
                }
                cached
            }
        };
        self.references
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(r.plugin_name(), r.text.clone());
        if !r.pinned() {
            self.watched.lock().await.insert(
                r.text.clone(),
                Watched {
                    reference: r.clone(),
                    installed: Some(pulled.manifest_digest.clone()),
                    refused: None,
                    failed_install: None,
                },
            );
        }
        Ok(self.origin_of(r, pulled))
    }

    /// The watched tags (of `in_use` plugins) whose digest changed since their last
    /// install: each pulled and checked, with the plugin name it installs as; and the names
    /// of plugins whose new digest was refused this time (a refusal or an unreachable
    /// registry is logged once per digest and reason and skipped; the serving version stays).
    pub async fn changed_tags(
        &self,
        in_use: &std::collections::BTreeSet<String>,
    ) -> (Vec<(String, OciRef, Vec<u8>, Origin)>, Vec<String>) {
        let mut refused = Vec::new();
        if self.watched.lock().await.is_empty() {
            return (Vec::new(), refused);
        }
        let Ok(registry) = self.registry() else {
            return (Vec::new(), refused);
        };
        let tags: Vec<Watched> = self
            .watched
            .lock()
            .await
            .values()
            .filter(|w| in_use.contains(&w.reference.text))
            .cloned()
            .collect();
        let mut changed = Vec::new();
        for w in tags {
            let r = &w.reference;
            let digest = match registry.resolve(r).await {
                Ok(d) => d,
                Err(e) => {
                    self.note_refused(r, "", &e.to_string()).await;
                    continue;
                }
            };
            if w.installed.as_deref() == Some(digest.as_str())
                || w.failed_install.as_deref() == Some(digest.as_str())
            {
                continue;
            }
            match registry
                .pull(r, Some(&digest), &self.keys, &self.cache)
                .await
            {
                Ok(pulled) => {
                    let (bytes, origin) = self.origin_of(r, pulled);
                    changed.push((r.plugin_name(), r.clone(), bytes, origin));
                }
                Err(e) => {
                    if self.note_refused(r, &digest, &e.to_string()).await
                        && matches!(e, PullError::Refused(_))
                    {
                        refused.push(r.plugin_name());
                    }
                }
            }
        }
        (changed, refused)
    }

    /// Records that `reference` (an `oci://` plugin) now serves `digest`: its tag is not
    /// pulled again until it moves, and the cache's record of it — what a restart with the
    /// registry away serves — names it.
    pub async fn installed(&self, reference: &str, digest: &str) {
        let Ok(r) = OciRef::parse(reference) else {
            return;
        };
        if let Some(w) = self.watched.lock().await.get_mut(&r.text) {
            w.installed = Some(digest.to_string());
            w.refused = None;
            w.failed_install = None;
        }
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&r.text);
        if let Some((pulled, signatures)) = pending
            && pulled == digest
            && let Err(e) = self.cache.remember(&r, digest, &signatures)
        {
            tracing::warn!(plugin = %r.text, error = %e, "cannot record the installed digest in the plugin cache: a restart with the registry away serves the one recorded before");
        }
    }

    /// Records that `digest` of `r` was pulled and checked but did not install: it is not
    /// pulled again until the tag moves.
    pub async fn install_failed(&self, r: &OciRef, digest: &str) {
        if let Some(w) = self.watched.lock().await.get_mut(&r.text) {
            w.failed_install = Some(digest.to_string());
        }
    }

    /// Logs a tag's refusal or failure once per digest and reason; true the first time.
    pub async fn note_refused(&self, r: &OciRef, digest: &str, why: &str) -> bool {
        let mut watched = self.watched.lock().await;
        let Some(w) = watched.get_mut(&r.text) else {
            return false;
        };
        let key = (digest.to_string(), why.to_string());
        if w.refused.as_ref() == Some(&key) {
            return false;
        }
        tracing::warn!(plugin = %r.text, digest, reason = why, "the watched tag's new digest is not installed; the serving version stays");
        w.refused = Some(key);
        true
    }

    /// The bytes and origin of a pulled component; its signatures wait in `pending` for
    /// [`PluginSources::installed`].
    fn origin_of(&self, r: &OciRef, pulled: Pulled) -> (Vec<u8>, Origin) {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                r.text.clone(),
                (pulled.manifest_digest.clone(), pulled.signatures),
            );
        (
            pulled.bytes,
            Origin {
                source: r.text.clone(),
                manifest_digest: Some(pulled.manifest_digest),
                signed_by: pulled.signed_by,
            },
        )
    }

    /// The `oci://` reference plugin `name` was last loaded from.
    pub fn reference_of(&self, name: &str) -> Option<String> {
        self.references
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// Remembers where the component of `digest` came from.
    pub fn set_origin(&self, digest: &str, origin: Origin) {
        self.origins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(digest.to_string(), origin);
    }

    /// Where the component of `digest` came from (first seen).
    pub fn origin(&self, digest: &str) -> Option<Origin> {
        self.origins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(digest)
            .cloned()
    }
}
