//! Ingest Gateway: one API in front of many RTC vendors' stream-ingest APIs.
//!
//! Vendor adapters are sandboxed WebAssembly components targeting the
//! `ingest:provider/adapter-plugin` world (`wit/` in the repository). The host compiles each
//! once, runs every call in a fresh instance with its own memory cap and deadline, keeps the
//! vendor secrets on its side of the sandbox, and polices every outgoing request.
//!
//! The core is [`Gateway`]: build it from a [`Config`], then either serve HTTP with
//! [`server::serve`], call [`Gateway::handle`] from your own server, or use the typed
//! operations ([`Gateway::start`], [`Gateway::status`], [`Gateway::stop`]).
//!
//! Module map (one capability each): [`config`] (the TOML file), [`runtime`] (engine,
//! loading, per-call instances), [`egress`] (allowlist, timeouts, caps, dry-run),
//! [`credentials`] (host-held secrets), [`handle`] (sealed ingest ids), [`gateway`]
//! (providers and operations), [`api`] (HTTP routes), [`server`] (the standalone front).

#![deny(missing_docs)]

pub mod api;
pub mod bindings;
pub mod config;
pub mod credentials;
pub mod egress;
pub mod error;
pub mod gateway;
pub mod handle;
pub mod runtime;
pub mod server;

pub use config::Config;
pub use error::{ApiError, ConfigError, ErrorKind};
pub use gateway::{CallOptions, Gateway};
