//! Loading a plugin version: compile (or take from the artifact cache), check against the
//! world, pre-instantiate.
//!
//! Tiered compilation: a component not in the artifact cache is first compiled by the
//! baseline compiler (Winch: a single fast pass) and serves at once; the optimizing compiler
//! (Cranelift) then builds it in the background, and its code takes over for the calls that
//! start after that ([`PluginVersion::tier`]). A call keeps the code it started on for all its
//! steps. The optimized artifact is what the cache keeps.

use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use wasmtime::Engine;
use wasmtime::component::Component;

use super::Runtime;
use super::cache::ArtifactCache;
use super::state::CallState;
use crate::contract::PluginPre;
use crate::error::LoadError;
use crate::text::short_digest;

/// Which compiler built the code a version runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tier {
    /// The baseline compiler (Winch): compiled fast, runs slower; serves until the optimized
    /// code is ready.
    Baseline,
    /// The optimizing compiler (Cranelift).
    Optimized,
}

/// Compiled, pre-instantiated code of a version, for one engine.
pub(crate) struct Code {
    pub(crate) engine: Engine,
    pub(crate) pre: PluginPre<CallState>,
    pub(crate) tier: Tier,
}

/// A loaded, validated, pre-instantiated plugin version, shared by every call that started on
/// it. Its identity (name, digest) never changes; its code may be upgraded once, from the
/// baseline tier to the optimized one.
pub struct PluginVersion {
    /// The plugin's name (from config or file name).
    pub name: String,
    /// SHA-256 of the component bytes, hex.
    pub digest: String,
    /// Whether the compiled code came from the artifact cache (no compilation).
    pub from_cache: bool,
    /// How long compiling (or loading from the cache) and validating took, until the version
    /// could serve.
    pub load_time: Duration,
    code: RwLock<Arc<Code>>,
    /// Steps of this version still to send straight to the plugin threads: set when one of
    /// its steps, started on the caller's thread, ran a whole epoch tick and was moved
    /// ([`PluginThreads::run`](super::PluginThreads::run)).
    pub(super) long_steps: super::LongSteps,
}

impl std::fmt::Debug for PluginVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginVersion")
            .field("name", &self.name)
            .field("digest", &self.digest)
            .field("tier", &self.tier())
            .finish_non_exhaustive()
    }
}

impl PluginVersion {
    /// The code new calls start on.
    pub(crate) fn code(&self) -> Arc<Code> {
        self.code.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The tier of the code new calls start on.
    pub fn tier(&self) -> Tier {
        self.code().tier
    }

    /// Whether the component exports the optional updater interface (contract 0.2.1).
    pub fn has_updater(&self) -> bool {
        self.code().pre.has_updater()
    }
}

/// The optimizing compile still owed to a version served from the baseline tier. Run it
/// with [`Runtime::optimize`], off the async workers.
pub struct Optimize {
    version: Weak<PluginVersion>,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for Optimize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Optimize")
            .field("bytes", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Compiles `bytes` with the optimizing compiler, checks them against the world, and
    /// pre-instantiates them.
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
        let started = Instant::now();
        let digest = crate::text::sha256_hex(bytes);
        let (code, from_cache) = self.optimized_code(name, &digest, bytes, cache)?;
        Ok(self.version(name, digest, code, from_cache, started))
    }

    /// Like [`Runtime::load_cached`], but a component not in the cache is compiled by the
    /// baseline compiler when the runtime is tiered, and comes back with the optimizing
    /// compile still to do.
    pub fn load_tiered(
        &self,
        name: &str,
        bytes: &[u8],
        cache: Option<&ArtifactCache>,
    ) -> Result<(Arc<PluginVersion>, Option<Optimize>), LoadError> {
        let started = Instant::now();
        let digest = crate::text::sha256_hex(bytes);
        let cached = cache.is_some_and(|c| c.contains(&self.engine, &digest));
        let Some((engine, linker)) = self.baseline.as_ref().filter(|_| !cached) else {
            let (code, from_cache) = self.optimized_code(name, &digest, bytes, cache)?;
            let version = self.version(name, digest, code, from_cache, started);
            return Ok((Arc::new(version), None));
        };
        let component = compile(engine, name, bytes)?;
        let pre = validate(engine, linker, name, &component)?;
        let code = Code {
            engine: engine.clone(),
            pre,
            tier: Tier::Baseline,
        };
        let version = Arc::new(self.version(name, digest, code, false, started));
        let job = Optimize {
            version: Arc::downgrade(&version),
            bytes: bytes.to_vec(),
        };
        Ok((version, Some(job)))
    }

    /// Runs an owed optimizing compile and switches the version to its code (calls already
    /// running finish on the baseline code). Stores the artifact in `cache`. Nothing happens
    /// when the version is gone, and a failure leaves it on the baseline tier (logged).
    pub fn optimize(&self, job: Optimize, cache: Option<&ArtifactCache>) {
        let Some(version) = job.version.upgrade() else {
            return;
        };
        let started = Instant::now();
        match self.optimized_code(&version.name, &version.digest, &job.bytes, cache) {
            Ok((code, _)) => {
                *version.code.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(code);
                tracing::info!(
                    plugin = %version.name,
                    digest = short_digest(&version.digest),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "optimized code serving"
                );
            }
            Err(e) => tracing::warn!(
                plugin = %version.name,
                error = %e,
                "the optimizing compile failed; the baseline code keeps serving"
            ),
        }
    }

    /// Optimized code: from the cache, or compiled (and then cached).
    fn optimized_code(
        &self,
        name: &str,
        digest: &str,
        bytes: &[u8],
        cache: Option<&ArtifactCache>,
    ) -> Result<(Code, bool), LoadError> {
        let cached = cache.and_then(|c| c.get(&self.engine, digest));
        let from_cache = cached.is_some();
        // A cache miss compiles; the artifact is stored only once the component validates.
        let component = match cached {
            Some(component) => component,
            None => compile(&self.engine, name, bytes)?,
        };
        let pre = validate(&self.engine, &self.linker, name, &component)?;
        if let (Some(cache), false) = (cache, from_cache) {
            cache.put(&self.engine, digest, &component);
        }
        let code = Code {
            engine: self.engine.clone(),
            pre,
            tier: Tier::Optimized,
        };
        Ok((code, from_cache))
    }

    fn version(
        &self,
        name: &str,
        digest: String,
        code: Code,
        from_cache: bool,
        started: Instant,
    ) -> PluginVersion {
        let load_time = started.elapsed();
        tracing::info!(
            plugin = name,
            digest = short_digest(&digest),
            from_cache,
            tier = ?code.tier,
            elapsed_ms = load_time.as_millis() as u64,
            "plugin loaded and validated"
        );
        PluginVersion {
            name: name.to_string(),
            digest,
            from_cache,
            load_time,
            code: RwLock::new(Arc::new(code)),
            long_steps: super::LongSteps::default(),
        }
    }
}

fn compile(engine: &Engine, name: &str, bytes: &[u8]) -> Result<Component, LoadError> {
    Component::new(engine, bytes).map_err(|e| LoadError::Compile {
        name: name.to_string(),
        reason: explain_compile_error(&e),
    })
}

/// The world check, then pre-instantiation against the linker.
fn validate(
    engine: &Engine,
    linker: &wasmtime::component::Linker<CallState>,
    name: &str,
    component: &Component,
) -> Result<PluginPre<CallState>, LoadError> {
    let world = |problems| LoadError::World {
        name: name.to_string(),
        contract: crate::contract::CONTRACT_VERSION,
        problems,
    };
    let problems = crate::contract::world::problems(engine, component);
    if !problems.is_empty() {
        return Err(world(problems));
    }
    linker
        .instantiate_pre(component)
        .and_then(PluginPre::new)
        .map_err(|e| world(vec![format!("{e:#}")]))
}

fn explain_compile_error(e: &wasmtime::Error) -> String {
    let text = format!("{e:#}");
    if text.contains("core module instances, which exceeds") {
        // A component built from a language runtime linked as several modules (CPython under
        // componentize-py: 16–40).
        format!(
            "{text} (raise `runtime.max_core_instances_per_component` in the gateway's config, \
             or `plugin check --gateway-config FILE` with such a config)"
        )
    } else if text.contains("which exceeds the configured maximum") {
        format!(
            "{text} (the pooling allocator's per-plugin limits: set `runtime.pooling = false` to \
             load it with on-demand allocation)"
        )
    } else if text.contains("component") && text.contains("module") {
        format!(
            "{text} (is this a core module? build with `--target wasm32-wasip2`, which emits a component)"
        )
    } else {
        text
    }
}
