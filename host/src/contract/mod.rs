//! The contract with plugins: the one `bindgen!` for the `ingest:provider` worlds
//! (`wit/provider.wit`: `adapter-plugin`, and `adapter-plugin-with-update`, which adds the
//! optional `updater` export), its names and version, the check that a component targets it
//! ([`world`]), a pre-instantiated plugin with its optional exports found per component
//! ([`PluginPre`]), and the API's spelling of its types ([`json`]).
//!
//! The bottom layer: it depends on nothing else in the crate but the error types.

pub mod json;
pub(crate) mod world;

use wasmtime::component::{ComponentExportIndex, ComponentNamedList, Lift, Lower};

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
    /// The bindings' indices: [`PluginPre::check_types`] type-checks every export with them.
    provider: guest::GuestIndices,
    updater: Option<updater::GuestIndices>,
    /// Each function's export index: a step type-checks only the function it calls.
    exports: Exports,
}

/// The export index of each function the host calls.
#[derive(Clone, Copy)]
struct Exports {
    describe: ComponentExportIndex,
    start: ComponentExportIndex,
    stop: ComponentExportIndex,
    status: ComponentExportIndex,
    parse_callback: ComponentExportIndex,
    update: Option<ComponentExportIndex>,
}

impl Exports {
    /// The functions of `instance_pre`'s provider export and, when it has one, of its
    /// updater export (names matched semver-compatibly on the 0.2 line, as the bindings do).
    fn find<T>(instance_pre: &wasmtime::component::InstancePre<T>) -> wasmtime::Result<Self> {
        let component = instance_pre.component();
        let interface = |name: &str| component.get_export_index(None, name);
        let function = |interface: &ComponentExportIndex, iface: &str, name: &str| {
            component
                .get_export_index(Some(interface), name)
                .ok_or_else(|| {
                    wasmtime::format_err!("instance export `{iface}` does not have export `{name}`")
                })
        };
        let provider = interface(PROVIDER_EXPORT).ok_or_else(|| {
            wasmtime::format_err!("no exported instance named `{PROVIDER_EXPORT}`")
        })?;
        let f = |name| function(&provider, PROVIDER_EXPORT, name);
        let update = match interface(UPDATER_EXPORT) {
            Some(u) => function(&u, UPDATER_EXPORT, "update").ok(),
            None => None,
        };
        Ok(Self {
            describe: f("describe")?,
            start: f("start")?,
            stop: f("stop")?,
            status: f("status")?,
            parse_callback: f("parse-callback")?,
            update,
        })
    }
}

impl<T: Send + 'static> PluginPre<T> {
    /// Finds the exports in `instance_pre`'s component: the provider interface must be there
    /// (the world check has said so in words already); the updater interface is optional.
    pub fn new(instance_pre: wasmtime::component::InstancePre<T>) -> wasmtime::Result<Self> {
        let provider = guest::GuestIndices::new(&instance_pre)?;
        let updater = updater::GuestIndices::new(&instance_pre).ok();
        let mut exports = Exports::find(&instance_pre)?;
        if updater.is_none() {
            exports.update = None;
        }
        Ok(Self {
            instance_pre,
            provider,
            updater,
            exports,
        })
    }

    /// Whether the component exports the updater interface (`new` keeps the `update` index
    /// only when the bindings found the whole interface).
    pub fn has_updater(&self) -> bool {
        self.exports.update.is_some()
    }

    /// A new instance in `store`. Nothing is type-checked yet: each call checks the one
    /// function it calls ([`PluginPre::check_types`] checks them all).
    pub async fn instantiate_async(
        &self,
        mut store: impl wasmtime::AsContextMut<Data = T>,
    ) -> wasmtime::Result<Plugin> {
        let instance = self.instance_pre.instantiate_async(&mut store).await?;
        Ok(Plugin {
            instance,
            exports: self.exports,
        })
    }

    /// Type-checks every export of `plugin` the host may call, as the bindings would: done
    /// when a version's `describe` runs (binding it), so a function of the wrong type is found
    /// then rather than at its first call.
    pub fn check_types(
        &self,
        mut store: impl wasmtime::AsContextMut<Data = T>,
        plugin: &Plugin,
    ) -> wasmtime::Result<()> {
        self.provider.load(&mut store, &plugin.instance)?;
        if let Some(u) = &self.updater {
            u.load(&mut store, &plugin.instance)?;
        }
        Ok(())
    }
}

/// One instance of a plugin, and the calls of its exported functions. Each call type-checks
/// only the function it calls, not the whole interface per instance; post-return runs inside
/// the call in this wasmtime.
pub struct Plugin {
    instance: wasmtime::component::Instance,
    exports: Exports,
}

impl Plugin {
    async fn call<P, R>(
        &self,
        mut store: impl wasmtime::AsContextMut<Data: Send>,
        index: &ComponentExportIndex,
        params: P,
    ) -> wasmtime::Result<R>
    where
        P: ComponentNamedList + Lower + Send + Sync,
        (R,): ComponentNamedList + Lift + Send + Sync + 'static,
    {
        let func = self.instance.get_typed_func::<P, (R,)>(&mut store, index)?;
        let (result,) = func.call_async(&mut store, params).await?;
        Ok(result)
    }

    /// `describe`.
    pub async fn describe(
        &self,
        store: impl wasmtime::AsContextMut<Data: Send>,
    ) -> wasmtime::Result<types::ProviderInfo> {
        self.call(store, &self.exports.describe, ()).await
    }

    /// `start`.
    pub async fn start(
        &self,
        store: impl wasmtime::AsContextMut<Data: Send>,
        request: &types::StartRequest,
        answers: &[types::VendorAnswer],
    ) -> wasmtime::Result<guest::StartStep> {
        self.call(store, &self.exports.start, (request, answers))
            .await
    }

    /// `stop`.
    pub async fn stop(
        &self,
        store: impl wasmtime::AsContextMut<Data: Send>,
        request: &types::StopRequest,
        answers: &[types::VendorAnswer],
    ) -> wasmtime::Result<guest::StopStep> {
        self.call(store, &self.exports.stop, (request, answers))
            .await
    }

    /// `status`.
    pub async fn status(
        &self,
        store: impl wasmtime::AsContextMut<Data: Send>,
        request: &types::StatusRequest,
        answers: &[types::VendorAnswer],
    ) -> wasmtime::Result<guest::StatusStep> {
        self.call(store, &self.exports.status, (request, answers))
            .await
    }

    /// `parse-callback`.
    pub async fn parse_callback(
        &self,
        store: impl wasmtime::AsContextMut<Data: Send>,
        request: &types::CallbackRequest,
    ) -> wasmtime::Result<Result<types::IngestEvent, types::ProviderError>> {
        self.call(store, &self.exports.parse_callback, (request,))
            .await
    }

    /// `update`, of the optional updater interface.
    pub async fn update(
        &self,
        store: impl wasmtime::AsContextMut<Data: Send>,
        request: &types::UpdateRequest,
        answers: &[types::VendorAnswer],
    ) -> wasmtime::Result<updater::UpdateStep> {
        let index = self.exports.update.ok_or_else(|| {
            wasmtime::format_err!("the component does not export the updater interface")
        })?;
        self.call(store, &index, (request, answers)).await
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
