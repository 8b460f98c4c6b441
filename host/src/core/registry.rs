//! The plugin registry: every loaded plugin by name, its current version and the previous
//! one (for rollback).
//!
//! A [`PluginVersion`] is immutable. Installing a new one swaps an `Arc` under a short lock;
//! calls that already hold the old version finish on it, and the old version is freed when the
//! last of them ends (or, for the previous one, when it is replaced again).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::error::LoadError;
use crate::sandbox::cache::ArtifactCache;
use crate::sandbox::{PluginVersion, Runtime};

/// One plugin's versions.
#[derive(Debug, Clone)]
pub struct Slot {
    /// The version that serves.
    pub current: Arc<PluginVersion>,
    /// The version it replaced, kept for rollback.
    pub previous: Option<Arc<PluginVersion>>,
}

/// Counters of the registry's work, for metrics and tests.
#[derive(Debug, Default)]
pub struct RegistryStats {
    /// Components compiled with Cranelift.
    pub compiled: AtomicU64,
    /// Components loaded from the artifact cache.
    pub cache_hits: AtomicU64,
    /// New versions installed (first loads excluded).
    pub swaps: AtomicU64,
    /// Uploads refused (invalid component, or a provider refused it).
    pub refused: AtomicU64,
    /// Rollbacks performed.
    pub rollbacks: AtomicU64,
}

/// Loaded plugins by name.
#[derive(Debug)]
pub struct PluginRegistry {
    runtime: Arc<Runtime>,
    cache: Option<ArtifactCache>,
    slots: RwLock<BTreeMap<String, Slot>>,
    stats: RegistryStats,
}

impl PluginRegistry {
    /// An empty registry compiling with `runtime`, caching artifacts in `cache` when given.
    pub fn new(runtime: Arc<Runtime>, cache: Option<ArtifactCache>) -> Self {
        Self {
            runtime,
            cache,
            slots: RwLock::new(BTreeMap::new()),
            stats: RegistryStats::default(),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, BTreeMap<String, Slot>> {
        self.slots.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, BTreeMap<String, Slot>> {
        self.slots.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The counters.
    pub fn stats(&self) -> &RegistryStats {
        &self.stats
    }

    /// Compiles (or loads from the cache) and validates a component. Nothing is installed.
    pub fn prepare(&self, name: &str, bytes: &[u8]) -> Result<Arc<PluginVersion>, LoadError> {
        let version = self.runtime.load_cached(name, bytes, self.cache.as_ref())?;
        self.count(&version);
        Ok(Arc::new(version))
    }

    /// [`PluginRegistry::prepare`] on the blocking thread pool: compiling takes long enough
    /// (hundreds of milliseconds) to stall an async worker and every request queued on it.
    pub async fn prepare_off_thread(
        &self,
        name: &str,
        bytes: Vec<u8>,
    ) -> Result<Arc<PluginVersion>, LoadError> {
        let runtime = self.runtime.clone();
        let cache = self.cache.clone();
        let owned = name.to_string();
        let version = tokio::task::spawn_blocking(move || {
            runtime.load_cached(&owned, &bytes, cache.as_ref())
        })
        .await
        .map_err(|e| LoadError::Compile {
            name: name.to_string(),
            reason: format!("the compilation task failed: {e}"),
        })??;
        self.count(&version);
        Ok(Arc::new(version))
    }

    fn count(&self, version: &PluginVersion) {
        if version.from_cache {
            self.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
        } else {
            self.stats.compiled.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Notes a refused upload.
    pub fn note_refused(&self) {
        self.stats.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// The serving version of `name`.
    pub fn current(&self, name: &str) -> Option<Arc<PluginVersion>> {
        self.read().get(name).map(|s| s.current.clone())
    }

    /// The serving and previous versions of `name`.
    pub fn slot(&self, name: &str) -> Option<Slot> {
        self.read().get(name).cloned()
    }

    /// Installs `version` as the serving version of its plugin; the one it replaces becomes
    /// the previous version (an identical re-upload changes nothing).
    pub fn install(&self, version: Arc<PluginVersion>) {
        let mut slots = self.write();
        match slots.get_mut(&version.name) {
            Some(slot) if slot.current.digest == version.digest => {}
            Some(slot) => {
                let old = std::mem::replace(&mut slot.current, version);
                slot.previous = Some(old);
                self.stats.swaps.fetch_add(1, Ordering::Relaxed);
            }
            None => {
                slots.insert(
                    version.name.clone(),
                    Slot {
                        current: version,
                        previous: None,
                    },
                );
            }
        }
    }

    /// Makes the previous version serve again (and the current one the previous).
    pub fn rollback(&self, name: &str) -> Option<Arc<PluginVersion>> {
        let mut slots = self.write();
        let slot = slots.get_mut(name)?;
        let previous = slot.previous.take()?;
        let current = std::mem::replace(&mut slot.current, previous.clone());
        slot.previous = Some(current);
        self.stats.rollbacks.fetch_add(1, Ordering::Relaxed);
        Some(previous)
    }

    /// Removes a plugin; calls already running on it finish.
    pub fn remove(&self, name: &str) -> Option<Slot> {
        self.write().remove(name)
    }

    /// Every plugin, by name.
    pub fn list(&self) -> Vec<(String, Slot)> {
        self.read()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}
