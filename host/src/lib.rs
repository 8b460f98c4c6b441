//! Ingest Gateway: one API in front of many RTC vendors' stream-ingest APIs.
//!
//! Vendor adapters are sandboxed WebAssembly components targeting the
//! `ingest:provider/adapter-plugin` world (`wit/` in the repository). The host compiles each
//! once, runs every call in fresh instances with their own memory cap and CPU budget, keeps
//! the vendor secrets on its side of the sandbox, and sends every vendor request the plugin
//! returns through its egress policy.
//!
//! The core is [`Gateway`]: build it from a [`Config`], then answer requests from your own
//! server with [`handle`], or use the typed operations ([`Gateway::start`],
//! [`Gateway::status`], [`Gateway::stop`]).
//!
//! # Crates
//!
//! This library has no listener, command line, log subscriber or allocator. The servers (the
//! standalone HTTP listener, the admin API, Envoy's ext_proc service) and the `ingest-gateway`
//! command are the `ingest-gateway-cli` crate (`cli/`, library `ingest_gateway_server`); the
//! plugin authors' kit is the `ingest-plugin-kit` crate (`kit/`). Both use only this crate's
//! public API: [`handle`] and [`stream_route`], [`response`], [`inspect`], [`Gateway::call`]
//! in dry-run mode, [`json`], [`publish`].
//!
//! | feature | what it adds |
//! |---|---|
//! | `publish` | [`publish`]: signing keys, signatures, pushing a component to a registry |
//!
//! # Embedding
//!
//! The whole HTTP API is one async function of an `http::Request<Bytes>`: collect the body
//! (capped at [`Gateway::max_body_bytes`]), call [`handle`], send back what it returns. It
//! never panics and answers every error as `application/problem+json`. `examples/embed` in
//! the repository mounts it in a plain hyper service.
//!
//! ```no_run
//! use bytes::Bytes;
//! use ingest_gateway::{Config, Gateway};
//!
//! # async fn embed() -> anyhow::Result<()> {
//! let config = Config::load(std::path::Path::new("gateway.toml"))?;
//! let gateway = Gateway::from_config(config).await?; // compiles and checks every plugin
//!
//! let request = http::Request::post("/v1/ingests")
//!     .header("content-type", "application/json")
//!     .header("x-request-id", "req-42") // used for the call and echoed back
//!     .body(Bytes::from(r#"{"provider": "trtc", "direction": "pull-in",
//!         "room_id": "42", "user_id": "relay-bot", "stream_url": "rtmp://example.com/live/a",
//!         "options": {"user_sig": "eJyrVkrNSMxSslIyNDBQ"}}"#))?;
//! let response: http::Response<Bytes> = ingest_gateway::handle(&gateway, request).await;
//! println!("{} {}", response.status(), String::from_utf8_lossy(response.body()));
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//!
//! One layer per folder; dependencies point one way, down this list:
//!
//! | folder | layer |
//! |---|---|
//! | `front/` | HTTP server, API routes and the tenant extractor, admin API, Envoy ext_proc |
//! | `core/` | [`Gateway`]: providers, breaker, hot swap, registry, handles, tenants, events, metrics |
//! | `sandbox/` | engine, plugin versions, artifact cache, calls and their steps, faults, result checks |
//! | `capability/` | what a plugin gets: credentials, config, context, log; egress and the vendor client |
//! | `contract/` | the WIT bindings, the world check, the API spelling of contract types |
//! | `config/`, `error.rs`, `clock.rs`, `text.rs` | used by every layer |

#![deny(missing_docs)]

mod capability;
mod clock;
pub mod config;
mod contract;
mod core;
pub mod error;
mod front;
mod sandbox;
mod text;

pub use crate::capability::call_log::RecordedRequest;
pub use crate::capability::egress::{CannedResponse, EgressMode};
pub use crate::clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use crate::config::{Config, RuntimeConfig};
pub use crate::contract::types;
pub use crate::core::source::signature::signature_path;
pub use crate::core::tenants::bearer;
pub use crate::core::{
    Binding, CallOptions, Gateway, Provider, ProviderState, Readiness, ReloadReport, Served,
    Started, SwapReport, Tenant, Updated,
};
pub use crate::error::{
    ApiError, BindError, ConfigError, Degraded, ErrorKind, ErrorSource, FaultKind, LoadError,
    PluginFileError, SourceError,
};
pub use crate::front::api::{self, ROUTES, Route, handle, stream_route};
pub use crate::front::body::{StartBody, UpdateBody};
pub use crate::front::response;
pub use crate::sandbox::inspect;
pub use crate::sandbox::{CallReport, Operation, Outcome, PluginVersion, Runtime, Tier};
pub use crate::text::sha256_hex;

/// The HTTP API's spelling of contract values: the names and JSON objects of directions,
/// operations, states, sessions and events, and reading an operation by its name.
pub mod json {
    pub use crate::contract::json::{
        deserialize_operation, direction_name, event_json, operation_name, operation_named,
        session_json, state_name, status_json,
    };
}

/// Publishing plugins: signing keys, detached and registry (cosign) signatures, and pushing a
/// component to an OCI registry in the Wasm artifact layout. What the kit's `plugin keygen`,
/// `plugin sign` and `plugin push` are made of.
#[cfg(feature = "publish")]
pub mod publish {
    pub use crate::core::source::oci::{OciRef, Registry};
    pub use crate::core::source::publish::Signer;
    pub use crate::core::source::signature::{Algorithm, signature_path};
    pub use crate::core::source::signing::{SigningKey, encode_signature, generate};
    pub use oci_client::secrets::RegistryAuth;
}

/// Parts this repository's own tests, fuzz targets and benchmarks reach into. Not a stable
/// API: embedders use the items re-exported at the crate root.
#[doc(hidden)]
pub mod internals {
    pub use crate::capability::egress::MAX_REQUESTS_PER_CALL;
    pub use crate::contract::json::state_name;
    pub use crate::core::handle::{HandleData, HandleKey, MAX_HANDLE_LEN};
    pub use crate::core::quota::time_turns as time_quota_turns;
    #[cfg(feature = "bench-call-shapes")]
    pub use crate::sandbox::CallShape;
}
