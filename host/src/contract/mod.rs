//! The contract with plugins: the one `bindgen!` for the `ingest:provider` worlds
//! (`wit/provider.wit`: `adapter-plugin`, and `adapter-plugin-with-update`, which adds the
//! optional `updater` and `secret-catalog` exports), its names and version, the check that a
//! component targets it ([`world`]), a pre-instantiated plugin with its optional exports found
//! per component ([`PluginPre`]), what a plugin says of itself ([`Description`]), and the API's
//! spelling of its types ([`json`]).
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
pub use generated::exports::ingest::provider::secret_catalog;
pub use generated::exports::ingest::provider::updater;
pub use generated::ingest::provider::{config, context, credentials, log, types};

/// The exported interface's name, with the contract version this host speaks. A component of
/// an earlier 0.2.x exports it under its own version; lookups match any 0.2.x (wasmtime's
/// semver-compatible names).
pub const PROVIDER_EXPORT: &str = "ingest:provider/provider@0.2.2";
/// The optional `updater` interface's name (0.2.1).
pub const UPDATER_EXPORT: &str = "ingest:provider/updater@0.2.2";
/// The optional `secret-catalog` interface's name (0.2.2).
pub const SECRET_CATALOG_EXPORT: &str = "ingest:provider/secret-catalog@0.2.2";
/// The contract version this host speaks.
pub const CONTRACT_VERSION: &str = "0.2.2";
/// The compatible line: a component built against any `0.2.x` loads.
pub const CONTRACT_LINE: &str = "0.2.";
/// Functions the optional updater interface exports.
pub const UPDATER_FUNCTIONS: [&str; 1] = ["update"];
/// Functions the optional secret-catalog interface exports.
pub const SECRET_CATALOG_FUNCTIONS: [&str; 1] = ["secrets"];
/// Functions the provider interface must export.
pub const PROVIDER_FUNCTIONS: [&str; 5] = ["describe", "start", "stop", "status", "parse-callback"];
/// Host interfaces a plugin may import besides WASI.
pub const HOST_INTERFACES: [&str; 5] = ["types", "credentials", "config", "context", "log"];
/// WASI packages refused at load: a 0.2 plugin returns its vendor requests as values, so an
/// HTTP client import means a plugin built for another host. Every other WASI 0.2 package is
/// linked as language-runtime support with nothing behind it; `wasi:sockets` among them (a
/// C library's socket functions, which CPython under componentize-py imports whether or not
/// the plugin uses them), with every socket use refused: no TCP, no UDP, no name lookup, no
/// address allowed (`sandbox::call`).
pub const REFUSED_WASI: [&str; 1] = ["wasi:http/"];

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
    catalog: Option<secret_catalog::GuestIndices>,
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
    secrets: Option<ComponentExportIndex>,
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
        let secrets = match interface(SECRET_CATALOG_EXPORT) {
            Some(c) => function(&c, SECRET_CATALOG_EXPORT, "secrets").ok(),
            None => None,
        };
        Ok(Self {
            describe: f("describe")?,
            start: f("start")?,
            stop: f("stop")?,
            status: f("status")?,
            parse_callback: f("parse-callback")?,
            update,
            secrets,
        })
    }
}

impl<T: Send + 'static> PluginPre<T> {
    /// Finds the exports in `instance_pre`'s component: the provider interface must be there
    /// (the world check has said so in words already); the updater and secret-catalog
    /// interfaces are optional.
    pub fn new(instance_pre: wasmtime::component::InstancePre<T>) -> wasmtime::Result<Self> {
        let provider = guest::GuestIndices::new(&instance_pre)?;
        let updater = updater::GuestIndices::new(&instance_pre).ok();
        let catalog = secret_catalog::GuestIndices::new(&instance_pre).ok();
        let mut exports = Exports::find(&instance_pre)?;
        if updater.is_none() {
            exports.update = None;
        }
        if catalog.is_none() {
            exports.secrets = None;
        }
        Ok(Self {
            instance_pre,
            provider,
            updater,
            catalog,
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
        if let Some(c) = &self.catalog {
            c.load(&mut store, &plugin.instance)?;
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

    /// `describe`, and the secret catalog when the component exports one (0.2.2): what the
    /// plugin says of itself, as the host uses it.
    pub async fn description(
        &self,
        mut store: impl wasmtime::AsContextMut<Data: Send>,
    ) -> wasmtime::Result<Description> {
        let info = self.describe(&mut store).await?;
        let catalog = match &self.exports.secrets {
            Some(index) => Some(self.call(&mut store, index, ()).await?),
            None => None,
        };
        Ok(Description::new(info, catalog))
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

/// A secret a plugin can use, as the host shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSpec {
    /// The name under `[providers.secrets]`.
    pub name: String,
    /// Whether the plugin refuses to work without it.
    pub required: bool,
    /// What it is for (empty when the plugin has no catalog and only `describe` names it).
    pub description: String,
}

/// What a plugin says of itself: `describe`'s answer and every secret it can use, the
/// optional ones from its `secret-catalog` (0.2.2) included.
#[derive(Debug, Clone)]
pub struct Description {
    /// `describe`'s answer.
    pub info: types::ProviderInfo,
    /// Every secret: the catalog's when the component has one (checked against `describe` by
    /// [`Description::inconsistencies`]), else `describe`'s, all required.
    pub secrets: Vec<SecretSpec>,
    /// Whether the secrets came from a catalog.
    pub has_catalog: bool,
}

impl Description {
    /// The description of `info` and, when the component exports it, its catalog.
    pub fn new(
        info: types::ProviderInfo,
        catalog: Option<Vec<secret_catalog::SecretSpec>>,
    ) -> Self {
        let has_catalog = catalog.is_some();
        let secrets = match catalog {
            Some(list) => list
                .into_iter()
                .map(|s| SecretSpec {
                    name: s.name,
                    required: s.required,
                    description: s.description,
                })
                .collect(),
            None => info
                .secrets
                .iter()
                .map(|name| SecretSpec {
                    name: name.clone(),
                    required: true,
                    description: String::new(),
                })
                .collect(),
        };
        Self {
            info,
            secrets,
            has_catalog,
        }
    }

    /// Where the catalog and `describe` disagree (the contract's rules: every secret
    /// `describe` lists is in the catalog marked required, every required one is listed by
    /// `describe`, no name twice); empty when they agree.
    pub fn inconsistencies(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (i, s) in self.secrets.iter().enumerate() {
            if self.secrets[..i].iter().any(|t| t.name == s.name) {
                problems.push(format!("the secret catalog names `{}` twice", s.name));
            }
            if s.required && !self.info.secrets.contains(&s.name) {
                problems.push(format!(
                    "the secret catalog marks `{}` required but describe does not list it",
                    s.name
                ));
            }
        }
        for name in &self.info.secrets {
            match self.secrets.iter().find(|s| &s.name == name) {
                None => problems.push(format!(
                    "describe lists secret `{name}` but the secret catalog does not"
                )),
                Some(s) if !s.required => problems.push(format!(
                    "describe lists secret `{name}` (required) but the secret catalog marks it optional"
                )),
                Some(_) => {}
            }
        }
        problems
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

#[cfg(test)]
mod tests {
    use super::*;

    fn info(secrets: &[&str]) -> types::ProviderInfo {
        types::ProviderInfo {
            name: "p".into(),
            version: "1.0.0".into(),
            vendor: "v".into(),
            directions: Vec::new(),
            operations: Vec::new(),
            config_keys: Vec::new(),
            secrets: secrets.iter().map(|s| s.to_string()).collect(),
            default_hosts: Vec::new(),
        }
    }

    fn spec(name: &str, required: bool) -> secret_catalog::SecretSpec {
        secret_catalog::SecretSpec {
            name: name.into(),
            required,
            description: format!("{name} is for testing"),
        }
    }

    #[test]
    fn without_a_catalog_describes_secrets_are_all_required() {
        let d = Description::new(info(&["a", "b"]), None);
        assert!(!d.has_catalog);
        let got: Vec<(&str, bool)> = d
            .secrets
            .iter()
            .map(|s| (s.name.as_str(), s.required))
            .collect();
        assert_eq!(got, vec![("a", true), ("b", true)]);
        assert!(d.inconsistencies().is_empty());
    }

    #[test]
    fn a_catalog_adds_optional_secrets_and_must_agree_with_describe() {
        let d = Description::new(info(&["a"]), Some(vec![spec("a", true), spec("cb", false)]));
        assert!(d.has_catalog);
        assert!(d.inconsistencies().is_empty(), "{:?}", d.inconsistencies());
        assert_eq!(d.secrets[1].description, "cb is for testing");

        for (listed, catalog, needle) in [
            (
                vec!["a"],
                vec![spec("a", false)],
                "describe lists secret `a` (required) but the secret catalog marks it optional",
            ),
            (
                vec!["a"],
                vec![],
                "describe lists secret `a` but the secret catalog does not",
            ),
            (
                vec![],
                vec![spec("x", true)],
                "the secret catalog marks `x` required but describe does not list it",
            ),
            (
                vec![],
                vec![spec("x", false), spec("x", false)],
                "the secret catalog names `x` twice",
            ),
        ] {
            let d = Description::new(info(&listed), Some(catalog));
            let problems = d.inconsistencies();
            assert!(
                problems.iter().any(|p| p == needle),
                "{needle}: {problems:?}"
            );
        }
    }
}
