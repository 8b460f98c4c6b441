//! The bounds of the `ingest:provider` contract (`provider.wit` beside this crate) that WIT
//! has no syntax for. The host enforces them on what a plugin returns
//! (`host/src/sandbox/outcome.rs`) and the Rust plugin SDK checks them before a plugin returns
//! (`ingest_plugin_sdk::session`), from this one definition; the JavaScript plugin's copy is
//! checked against it by the host's tests (`tests/all/agora.rs`).
//!
//! The crate has no dependencies, so it builds for the host and for `wasm32-wasip2` alike.

#![no_std]

/// The longest session reference a plugin may return, in bytes (UTF-8); a reference is also
/// never empty. It travels in every `stop`, `status` and `update` request and in the gateway's
/// `session_ref` fields, so it stays small.
pub const MAX_SESSION_REF_BYTES: usize = 2048;
