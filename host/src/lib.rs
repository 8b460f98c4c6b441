//! Ingest Gateway: one API in front of many RTC vendors' stream-ingest APIs.
//!
//! Vendor adapters are sandboxed WebAssembly components targeting the
//! `ingest:provider/adapter-plugin` world (`wit/` in the repository). The host compiles each
//! once, runs every call in a fresh instance with its own memory cap and deadline, keeps the
//! vendor secrets on its side of the sandbox, and polices every outgoing request.
//!
//! The core is [`Gateway`]: build it from a [`Config`], then either serve HTTP with
//! [`server::serve`], serve Envoy's external processing filter with [`extproc::serve`], call
//! [`Gateway::handle`] from your own server, or use the typed operations
//! ([`Gateway::start`], [`Gateway::status`], [`Gateway::stop`]).
//!
//! # Embedding
//!
//! The whole HTTP API is one async function of an `http::Request<Bytes>`: collect the body
//! (capped at [`Gateway::max_body_bytes`]), call [`Gateway::handle`], send back what it
//! returns. It never panics and answers every error as `application/problem+json`.
//! `examples/embed` in the repository mounts it in a plain hyper service.
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
//!     .body(Bytes::from_static(br#"{"provider": "trtc", "direction": "pull-in",
//!         "room_id": "42", "user_id": "relay-bot", "stream_url": "rtmp://example.com/live/a",
//!         "options": {"user_sig": "eJyrVkrNSMxSslIyNDBQ"}}"#))?;
//! let response: http::Response<Bytes> = gateway.handle(request).await;
//! println!("{} {}", response.status(), String::from_utf8_lossy(response.body()));
//! # Ok(())
//! # }
//! ```
//!
//! Module map (one capability each): [`config`] (the TOML file), [`runtime`] (engine,
//! loading, per-call instances), [`egress`] (allowlist, timeouts, caps, dry-run), [`vendor`] (the pooled https client),
//! [`credentials`] (host-held secrets), [`handle`] (sealed ingest ids), [`gateway`]
//! (providers and operations), [`api`] (HTTP routes), [`server`] (the standalone front),
//! [`extproc`] (the Envoy ext_proc front).

#![deny(missing_docs)]

pub mod admin;
pub mod api;
pub mod bindings;
pub mod cache;
pub mod config;
pub mod credentials;
pub mod egress;
pub mod error;
pub mod events;
pub mod extproc;
pub mod gateway;
pub mod handle;
pub mod metrics;
pub mod plugin_kit;
pub mod registry;
pub mod runtime;
pub mod server;
pub mod vendor;

pub use config::Config;
pub use error::{ApiError, ConfigError, ErrorKind};
pub use gateway::{CallOptions, Gateway};
