//! Loading a plugin version: compile (or take from the artifact cache), check against the
//! world, pre-instantiate. A version is immutable and shared by every call started on it.

use std::time::{Duration, Instant};

use wasmtime::component::Component;

use super::Runtime;
use super::cache::ArtifactCache;
use super::call::CallState;
use crate::contract::AdapterPluginPre;
use crate::error::LoadError;

/// A loaded, validated, pre-instantiated plugin version. Immutable; shared by every call that
/// started on it.
pub struct PluginVersion {
    /// The plugin's name (from config or file name).
    pub name: String,
    /// SHA-256 of the component bytes, hex.
    pub digest: String,
    /// Whether the compiled code came from the artifact cache (no compilation).
    pub from_cache: bool,
    /// How long compiling (or loading from the cache) and validating took.
    pub load_time: Duration,
    pub(crate) pre: AdapterPluginPre<CallState>,
}

impl std::fmt::Debug for PluginVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginVersion")
            .field("name", &self.name)
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Compiles `bytes`, checks them against the world, and pre-instantiates them.
    pub fn load(&self, name: &str, bytes: &[u8]) -> Result<PluginVersion, LoadError> {
        self.load_cached(name, bytes, None)
    }

    /// Like [`Runtime::load`], taking the compiled code from `cache` when it has it and
    /// storing it there when it does not.
    pub fn load_cached(
        &self,
        name: &str,
        bytes: &[u8],
        cache: Option<&ArtifactCache>,
    ) -> Result<PluginVersion, LoadError> {
        let digest = crate::text::sha256_hex(bytes);
        let started = Instant::now();
        let cached = cache.and_then(|c| c.get(&self.engine, &digest));
        let from_cache = cached.is_some();
        // A cache miss compiles; the artifact is stored only once the component validates.
        let component = match cached {
            Some(component) => component,
            None => Component::new(&self.engine, bytes).map_err(|e| LoadError::Compile {
                name: name.to_string(),
                reason: explain_compile_error(&e),
            })?,
        };
        let problems = crate::contract::world::problems(&self.engine, &component);
        if !problems.is_empty() {
            return Err(LoadError::World {
                name: name.to_string(),
                contract: crate::contract::CONTRACT_VERSION,
                problems,
            });
        }
        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(AdapterPluginPre::new)
            .map_err(|e| LoadError::World {
                name: name.to_string(),
                contract: crate::contract::CONTRACT_VERSION,
                problems: vec![format!("{e:#}")],
            })?;
        if let (Some(cache), false) = (cache, from_cache) {
            cache.put(&self.engine, &digest, &component);
        }
        let load_time = started.elapsed();
        tracing::info!(
            plugin = name,
            digest = crate::text::short_digest(&digest),
            from_cache,
            elapsed_ms = load_time.as_millis() as u64,
            "plugin loaded and validated"
        );
        Ok(PluginVersion {
            name: name.to_string(),
            digest,
            from_cache,
            load_time,
            pre,
        })
    }
}

fn explain_compile_error(e: &wasmtime::Error) -> String {
    let text = format!("{e:#}");
    if text.contains("component") && text.contains("module") {
        format!(
            "{text} (is this a core module? build with `--target wasm32-wasip2`, which emits a component)"
        )
    } else {
        text
    }
}
