//! The contract with plugins: the one `bindgen!` for the `ingest:provider` worlds
//! (`wit/provider.wit`: `adapter-plugin`, and `adapter-plugin-with-update`, which adds the
//! optional `updater` export), its names and version, the check that a component targets it
//! ([`world`]), a pre-instantiated plugin with its optional exports found per component
//! ([`PluginPre`]), and the API's spelling of its types ([`json`]).
//!
//! The bottom layer: it depends on nothing else in the crate but the error types.

pub mod json;
pub(crate) mod world;

#[allow(missing_docs, clippy::all, reason = "bindgen-generated code")]
mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        // The larger world: its bindings cover both; which exports a component has is
        // found per component (`PluginPre::new`), not assumed from the world.
        world: "ingest:provider/adapter-plugin-with-update",
        exports: { default: async },
        require_store_data_send: true,
    });
}

pub use generated::exports::ingest::provider::provider as guest;
pub use generated::exports::ingest::provider::updater;
pub use generated::ingest::provider::{config, context, credentials, log, types};

/// The exported interface's name, with the contract version this host speaks. A component of
/// an earlier 0.2.x exports it under its own version; lookups match any 0.2.x (wasmtime's
/// semver-compatible names).
pub const PROVIDER_EXPORT: &str = "ingest:provider/provider@0.2.1";
/// The optional `updater` interface's name (0.2.1).
pub const UPDATER_EXPORT: &str = "ingest:provider/updater@0.2.1";
/// The contract version this host speaks.
pub const CONTRACT_VERSION: &str = "0.2.1";
/// The compatible line: a component built against any `0.2.x` loads.
pub const CONTRACT_LINE: &str = "0.2.";
/// Functions the optional updater interface exports.
pub const UPDATER_FUNCTIONS: [&str; 1] = ["update"];
/// Functions the provider interface must export.
pub const PROVIDER_FUNCTIONS: [&str; 5] = ["describe", "start", "stop", "status", "parse-callback"];
/// Host interfaces a plugin may import besides WASI.
pub const HOST_INTERFACES: [&str; 5] = ["types", "credentials", "config", "context", "log"];
/// WASI packages a plugin may import only as language-runtime support (linked with nothing
/// behind them). Anything that would reach the network is refused at load: a 0.2 plugin
/// returns its vendor requests as values.
pub const REFUSED_WASI: [&str; 2] = ["wasi:http/", "wasi:sockets/"];

/// The interface `name` names when it is `ingest:provider/{interface}@0.2.x`, of this host's
/// contract line (an import or an export of a plugin); `None` for anything else.
pub fn interface_in_line(name: &str) -> Option<&str> {
    let (interface, version) = name.strip_prefix("ingest:provider/")?.split_once('@')?;
    version.starts_with(CONTRACT_LINE).then_some(interface)
}

/// A component pre-instantiated against the host's linker, with the indices of its exports:
/// the provider interface (required) and the updater interface (when the component has it).
pub struct PluginPre<T: 'static> {
    instance_pre: wasmtime::component::InstancePre<T>,
    provider: guest::GuestIndices,
    updater: Option<updater::GuestIndices>,
}

impl<T: Send + 'static> PluginPre<T> {
    /// Finds the exports in `instance_pre`'s component: the provider interface must be there
    /// (the world check has said so in words already); the updater interface is optional.
    pub fn new(instance_pre: wasmtime::component::InstancePre<T>) -> wasmtime::Result<Self> {
        let provider = guest::GuestIndices::new(&instance_pre)?;
        let updater = updater::GuestIndices::new(&instance_pre).ok();
        Ok(Self {
            instance_pre,
            provider,
            updater,
        })
    }

    /// Whether the component exports the updater interface.
    pub fn has_updater(&self) -> bool {
        self.updater.is_some()
    }

    /// A new instance in `store`; its updater interface is looked up only when `updating`
    /// (each lookup type-checks the functions, a cost other calls need not pay).
    pub async fn instantiate_async(
        &self,
        mut store: impl wasmtime::AsContextMut<Data = T>,
        updating: bool,
    ) -> wasmtime::Result<Plugin> {
        let instance = self.instance_pre.instantiate_async(&mut store).await?;
        let provider = self.provider.load(&mut store, &instance)?;
        let updater = match &self.updater {
            Some(indices) if updating => Some(indices.load(&mut store, &instance)?),
            _ => None,
        };
        Ok(Plugin { provider, updater })
    }
}

/// One instance's exports.
pub struct Plugin {
    provider: guest::Guest,
    updater: Option<updater::Guest>,
}

impl Plugin {
    /// The provider interface.
    pub fn provider(&self) -> &guest::Guest {
        &self.provider
    }

    /// The updater interface, when the component exports it and the instance was made for an
    /// update.
    pub fn updater(&self) -> Option<&updater::Guest> {
        self.updater.as_ref()
    }
}

impl From<types::ErrorKind> for crate::error::ErrorKind {
    fn from(kind: types::ErrorKind) -> Self {
        use crate::error::ErrorKind as E;
        use types::ErrorKind as K;
        match kind {
            K::InvalidArgument => E::InvalidArgument,
            K::Unauthenticated => E::Unauthenticated,
            K::PermissionDenied => E::PermissionDenied,
            K::NotFound => E::NotFound,
            K::AlreadyExists => E::AlreadyExists,
            K::FailedPrecondition => E::FailedPrecondition,
            K::RateLimited => E::RateLimited,
            K::QuotaExceeded => E::QuotaExceeded,
            K::Unavailable => E::Unavailable,
            K::Timeout => E::Timeout,
            K::Unsupported => E::Unsupported,
            K::VendorInternal => E::VendorInternal,
            K::PluginFault => E::PluginFault,
            K::Denied => E::Denied,
        }
    }
}
