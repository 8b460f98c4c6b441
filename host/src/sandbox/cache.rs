//! The on-disk cache of compiled plugin artifacts.
//!
//! Compiling a component with Cranelift takes hundreds of milliseconds; loading a compiled
//! artifact takes about a millisecond. Artifacts are keyed by the SHA-256 of the component
//! bytes *and* a hash of the engine's compilation settings (wasmtime version, target, tunables),
//! written atomically (temporary file, then rename), and only files this cache wrote are ever
//! deserialized: the directory is the gateway's own, and a file's name must match the key of
//! the component being loaded.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

/// A directory of compiled artifacts.
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
}

impl ArtifactCache {
    /// A cache in `dir`, created if missing.
    pub fn new(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path_for(&self, engine: &Engine, digest: &str) -> PathBuf {
        // A stable 64-bit fingerprint of the engine's compilation environment.
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        self.dir
            .join(format!("{digest}-{:016x}.cwasm", hasher.finish()))
    }

    /// Whether this cache holds an artifact for `digest` built by this engine's compiler.
    pub fn contains(&self, engine: &Engine, digest: &str) -> bool {
        self.path_for(engine, digest).is_file()
    }

    /// The compiled component for `digest`, when this cache holds one for this engine.
    pub fn get(&self, engine: &Engine, digest: &str) -> Option<Component> {
        let path = self.path_for(engine, digest);
        if !path.is_file() {
            return None;
        }
        match deserialize(engine, &path) {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %format!("{e:#}"), "ignoring an unusable cached artifact");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Stores `component` under `digest`. Failures are logged, never fatal: the cache is an
    /// optimisation.
    pub fn put(&self, engine: &Engine, digest: &str, component: &Component) {
        let path = self.path_for(engine, digest);
        let bytes = match component.serialize() {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "cannot serialize a compiled plugin");
                return;
            }
        };
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let written = std::fs::write(&tmp, &bytes).and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            tracing::warn!(path = %path.display(), error = %e, "cannot write the artifact cache");
        }
    }
}

#[expect(
    unsafe_code,
    reason = "wasmtime requires `unsafe` to load compiled code; only files this cache wrote, \
              named by the content digest and engine fingerprint, reach here"
)]
fn deserialize(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: the file was produced by `Component::serialize` with an engine of the same
    // compatibility hash (it is part of the file name), in a directory only the gateway writes.
    unsafe { Component::deserialize_file(engine, path) }
}
