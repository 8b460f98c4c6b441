//! The contract with plugins: the one `bindgen!` for the `ingest:provider/adapter-plugin`
//! world (`wit/provider.wit`), its names and version, the check that a component targets it
//! ([`world`]), and the API's spelling of its types ([`json`]).
//!
//! The bottom layer: it depends on nothing else in the crate but the error types.

pub mod json;
pub(crate) mod world;

#[allow(missing_docs, clippy::all, reason = "bindgen-generated code")]
mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "ingest:provider/adapter-plugin",
        exports: { default: async },
        require_store_data_send: true,
    });
}

pub use generated::exports::ingest::provider::provider as guest;
pub use generated::ingest::provider::{config, context, credentials, log, types};
pub use generated::{AdapterPlugin, AdapterPluginPre};

/// The exported interface's name, with the contract version this host speaks.
pub const PROVIDER_EXPORT: &str = "ingest:provider/provider@0.2.0";
/// The contract version this host speaks.
pub const CONTRACT_VERSION: &str = "0.2.0";
/// Functions the provider interface must export.
pub const PROVIDER_FUNCTIONS: [&str; 5] = ["describe", "start", "stop", "status", "parse-callback"];
/// Host interfaces a plugin may import besides WASI.
pub const HOST_INTERFACES: [&str; 5] = ["types", "credentials", "config", "context", "log"];
/// WASI packages a plugin may import only as language-runtime support (linked with nothing
/// behind them). Anything that would reach the network is refused at load: a 0.2 plugin
/// returns its vendor requests as values.
pub const REFUSED_WASI: [&str; 2] = ["wasi:http/", "wasi:sockets/"];

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
