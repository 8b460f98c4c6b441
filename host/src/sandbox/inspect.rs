//! Looking at a component before serving it: compile it once, validate it against the world
//! with the host's own loader, list what it imports and exports, and ask it to `describe`
//! itself with an empty config, no secrets and an egress policy that allows nothing. The
//! plugin authors' kit (`plugin check`, `plugin test`) is built on this and on
//! [`Gateway::call`](crate::Gateway::call) in dry-run mode, not on the host's internals.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::Component;

use super::cache::ArtifactCache;
use super::{CallSetup, Operation, Outcome, PluginVersion, Runtime};
use crate::capability::credentials::SecretStore;
use crate::capability::egress::{EgressMode, EgressPolicy};
use crate::capability::plugin_config::PluginConfig;
use crate::config::EgressConfig;
use crate::contract;
use crate::error::{ApiError, LoadError};
use crate::text::sha256_hex;

pub use crate::contract::{CONTRACT_VERSION, Description, PROVIDER_EXPORT, SecretSpec};

/// How an import relates to the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImportClass {
    /// One of the contract's host interfaces (`ingest:provider/…`).
    Contract,
    /// A WASI 0.2 interface outside the world, linked with nothing behind it.
    Stubbed,
    /// Something this host does not provide (including `wasi:http`: a 0.2 plugin returns its
    /// vendor requests as values): the component is refused.
    Unknown,
}

/// Classifies one import name.
pub fn classify_import(name: &str) -> ImportClass {
    let (iface, version) = name.split_once('@').unwrap_or((name, ""));
    if iface.starts_with("ingest:provider/") {
        return match contract::interface_in_line(name) {
            Some(i) if contract::HOST_INTERFACES.contains(&i) => ImportClass::Contract,
            _ => ImportClass::Unknown,
        };
    }
    if contract::REFUSED_WASI.iter().any(|p| name.starts_with(p)) {
        return ImportClass::Unknown;
    }
    if iface.starts_with("wasi:") && version.starts_with("0.2.") {
        return ImportClass::Stubbed;
    }
    ImportClass::Unknown
}

/// The contract interface an import or export line names (`provider` of
/// `ingest:provider/provider@0.2.2`), when it is one of this contract line's.
pub fn interface_in_line(name: &str) -> Option<&str> {
    contract::interface_in_line(name)
}

/// What compiling and loading a component found.
#[derive(Debug)]
pub struct Compiled {
    /// SHA-256 of the bytes, hex.
    pub digest: String,
    /// Time to compile (optimized code).
    pub compile_time: Duration,
    /// Its exports (names); empty when it did not compile.
    pub exports: Vec<String>,
    /// Its imports, classified, contract first; empty when it did not compile.
    pub imports: Vec<(String, ImportClass)>,
    /// The loader's verdict: a version ready to call, or why the host refuses it.
    pub loaded: Result<PluginVersion, LoadError>,
}

/// Compiles `bytes` once (into a private artifact cache under `scratch`, which the loader
/// then reads, so even a large JavaScript component costs one compilation), validates them
/// as the plugin `name`, and lists the component's imports and exports.
pub fn compile(
    runtime: &Runtime,
    name: &str,
    bytes: &[u8],
    scratch: &Path,
) -> std::io::Result<Compiled> {
    let cache = ArtifactCache::new(scratch)?;
    let digest = sha256_hex(bytes);
    let started = Instant::now();
    let component = Component::new(runtime.engine(), bytes).ok();
    let compile_time = started.elapsed();
    let (mut exports, mut imports) = (Vec::new(), Vec::new());
    if let Some(c) = &component {
        cache.put(runtime.engine(), &digest, c);
        let ty = c.component_type();
        exports = ty
            .exports(runtime.engine())
            .map(|(n, _)| n.to_string())
            .collect();
        imports = ty
            .imports(runtime.engine())
            .map(|(n, _)| (n.to_string(), classify_import(n)))
            .collect();
        imports.sort_by(|a: &(String, ImportClass), b| (a.1 as u8, &a.0).cmp(&(b.1 as u8, &b.0)));
    }
    // With the artifact in the cache this only validates; without one (the bytes did not
    // compile) it fails the same way and explains why.
    let loaded = runtime.load_cached(name, bytes, Some(&cache));
    Ok(Compiled {
        digest,
        compile_time,
        exports,
        imports,
        loaded,
    })
}

/// Asks `version` to describe itself as the host does before it is configured: no config,
/// no secrets, no egress. Also how long it took, instantiation included.
pub async fn describe(
    runtime: &Runtime,
    version: &PluginVersion,
) -> (Result<Description, ApiError>, Duration) {
    let started = Instant::now();
    let (result, _) = runtime
        .invoke(version, describe_setup(&version.name), Operation::Describe)
        .await;
    let took = started.elapsed();
    let described = match result {
        Ok(Outcome::Described(description)) => Ok(description),
        Ok(_) => Err(ApiError::plugin_fault(
            "describe returned the wrong shape".to_string(),
        )),
        Err(e) => Err(e),
    };
    (described, took)
}

/// What a describe-only call gets: no config, no secrets, no egress.
fn describe_setup(name: &str) -> CallSetup {
    CallSetup {
        provider: name.to_string(),
        secrets: Arc::new(SecretStore::default()),
        all_secrets: Arc::default(),
        config: Arc::new(PluginConfig::default()),
        policy: Arc::new(EgressPolicy::closed(name, &EgressConfig::default())),
        mode: EgressMode::DryRun(None),
        now_ms: 1_700_000_000_000,
        nonce: "check".to_string(),
        request_id: "plugin-check".to_string(),
        gate: None,
        turns: None,
        hold_instance: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_are_classified() {
        for (name, class) in [
            ("ingest:provider/credentials@0.2.0", ImportClass::Contract),
            ("ingest:provider/credentials@0.1.0", ImportClass::Unknown),
            // 0.2 plugins make no network calls of their own.
            ("wasi:http/outgoing-handler@0.2.12", ImportClass::Unknown),
            // Linked for language runtimes' C libraries, every use refused.
            ("wasi:sockets/tcp@0.2.12", ImportClass::Stubbed),
            ("wasi:io/streams@0.2.3", ImportClass::Stubbed),
            ("wasi:cli/environment@0.2.6", ImportClass::Stubbed),
            ("wasi:http/types@0.3.0", ImportClass::Unknown),
            ("evil:net/socket", ImportClass::Unknown),
        ] {
            assert_eq!(classify_import(name), class, "{name}");
        }
    }
}
