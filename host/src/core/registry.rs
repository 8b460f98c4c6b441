//! The plugin registry: every loaded plugin by name, its current version and the previous
//! one (for rollback).
//!
//! A [`PluginVersion`] is immutable. Installing a new one swaps an `Arc` under a short lock;
//! calls that already hold the old version finish on it, and the old version is freed when the
//! last of them ends (or, for the previous one, when it is replaced again).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard, mpsc};

use crate::error::LoadError;
use crate::sandbox::cache::ArtifactCache;
use crate::sandbox::{Optimize, PluginVersion, Runtime, Tier};

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
    /// Owed optimizing compiles, run one at a time by one background thread (so they take
    /// one core at most from the requests).
    optimizer: Mutex<Optimizer>,
}

/// The background optimizer: held (jobs queued) until start-up is done, then a thread fed
/// through a channel.
#[derive(Debug, Default)]
struct Optimizer {
    held: Option<Vec<Optimize>>,
    tx: Option<mpsc::Sender<Optimize>>,
}

impl PluginRegistry {
    /// An empty registry compiling with `runtime`, caching artifacts in `cache` when given.
    /// Optimizing compiles owed by baseline loads wait until
    /// [`PluginRegistry::release_optimizer`].
    pub fn new(runtime: Arc<Runtime>, cache: Option<ArtifactCache>) -> Self {
        Self {
            runtime,
            cache,
            slots: RwLock::new(BTreeMap::new()),
            stats: RegistryStats::default(),
            optimizer: Mutex::new(Optimizer {
                held: Some(Vec::new()),
                tx: None,
            }),
        }
    }

    /// Lets the optimizing compiles owed so far, and every later one, run. Until then they
    /// wait, so start-up gives both cores to the baseline compiles that make it ready.
    pub fn release_optimizer(&self) {
        let held = self
            .optimizer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .held
            .take();
        for job in held.into_iter().flatten() {
            self.optimize_later(job);
        }
    }

    /// Queues an owed optimizing compile; the worker thread starts with the first one and
    /// ends when the registry is dropped.
    fn optimize_later(&self, job: Optimize) {
        let mut optimizer = self.optimizer.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(held) = optimizer.held.as_mut() {
            held.push(job);
            return;
        }
        let job = match optimizer.tx.as_ref() {
            None => job,
            Some(tx) => match tx.send(job) {
                Ok(()) => return,
                Err(mpsc::SendError(job)) => job,
            },
        };
        let (tx, rx) = mpsc::channel::<Optimize>();
        let (runtime, cache) = (self.runtime.clone(), self.cache.clone());
        let spawned = std::thread::Builder::new()
            .name("ingest-optimize".into())
            .spawn(move || {
                for job in rx {
                    runtime.optimize(job, cache.as_ref());
                }
            });
        match spawned {
            Ok(_) => {
                let _ = tx.send(job);
                optimizer.tx = Some(tx);
            }
            // No thread: optimize here, on the blocking pool's thread of the caller.
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the optimizing thread; compiling inline");
                self.runtime.optimize(job, self.cache.as_ref());
            }
        }
    }

    /// Whether every serving version runs optimized code (no optimizing compile owed).
    pub fn all_optimized(&self) -> bool {
        self.read()
            .values()
            .all(|s| s.current.tier() == Tier::Optimized)
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

    /// Compiles (or loads from the cache) and validates a component, on the blocking thread
    /// pool: compiling takes long enough to stall an async worker and every request queued on
    /// it. Nothing is installed. A component not in the cache comes back running baseline
    /// code when the runtime is tiered; its optimizing compile is queued.
    pub async fn prepare_off_thread(
        &self,
        name: &str,
        bytes: Vec<u8>,
    ) -> Result<Arc<PluginVersion>, LoadError> {
        let mut prepared = self.prepare_all(vec![(name.to_string(), bytes)]).await;
        match prepared.pop() {
            Some((_, version)) => version,
            None => Err(task_failed(name, "no result")),
        }
    }

    /// [`PluginRegistry::prepare_off_thread`] for several components at once, in parallel
    /// on the blocking pool (start-up). One result per component, in the order given; a
    /// compilation task that failed (panicked) is a compile error naming its plugin.
    pub async fn prepare_all(
        &self,
        components: Vec<(String, Vec<u8>)>,
    ) -> Vec<(String, Result<Arc<PluginVersion>, LoadError>)> {
        let names: Vec<String> = components.iter().map(|(n, _)| n.clone()).collect();
        let mut tasks = tokio::task::JoinSet::new();
        let mut ids = std::collections::HashMap::new();
        for (i, (name, bytes)) in components.into_iter().enumerate() {
            let (runtime, cache) = (self.runtime.clone(), self.cache.clone());
            let handle =
                tasks.spawn_blocking(move || runtime.load_tiered(&name, &bytes, cache.as_ref()));
            ids.insert(handle.id(), i);
        }
        let mut loaded: Vec<Option<Result<_, LoadError>>> = names.iter().map(|_| None).collect();
        while let Some(joined) = tasks.join_next_with_id().await {
            let (id, result) = match joined {
                Ok((id, result)) => (id, result),
                Err(e) => {
                    let id = e.id();
                    let name = ids.get(&id).map_or("", |i| names[*i].as_str());
                    (id, Err(task_failed(name, &e.to_string())))
                }
            };
            if let Some(slot) = ids.get(&id).and_then(|i| loaded.get_mut(*i)) {
                *slot = Some(result);
            }
        }
        names
            .into_iter()
            .zip(loaded)
            .map(|(name, result)| {
                let version = result
                    .unwrap_or_else(|| Err(task_failed(&name, "no result")))
                    .map(|(version, owed)| {
                        self.count(&version);
                        if let Some(job) = owed {
                            self.optimize_later(job);
                        }
                        version
                    });
                (name, version)
            })
            .collect()
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

/// The error for a compilation task that ended without a result.
fn task_failed(name: &str, why: &str) -> LoadError {
    LoadError::Compile {
        name: name.to_string(),
        reason: format!("the compilation task failed: {why}"),
    }
}
