//! The one `bindgen!` for the `adapter-plugin` world, and the few generated types the rest
//! of the host uses.

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
/// The contract package without version.
pub const PACKAGE: &str = "ingest:provider";
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

/// Adds the gateway's own host interfaces to a linker.
pub fn add_host_interfaces<T: Send + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    get: fn(&mut T) -> &mut crate::runtime::CallState,
) -> wasmtime::Result<()> {
    use wasmtime::component::HasSelf;
    credentials::add_to_linker::<T, HasSelf<crate::runtime::CallState>>(linker, get)?;
    config::add_to_linker::<T, HasSelf<crate::runtime::CallState>>(linker, get)?;
    context::add_to_linker::<T, HasSelf<crate::runtime::CallState>>(linker, get)?;
    log::add_to_linker::<T, HasSelf<crate::runtime::CallState>>(linker, get)?;
    Ok(())
}
