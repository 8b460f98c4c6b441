//! Vendor simulators for the Ingest Gateway's tests and demo.
//!
//! Tests never reach a real vendor. Each vendor gets a *simulator*: an HTTP/1.1 server on
//! loopback that plays the vendor's side of its stream-ingest API faithfully. The contract every
//! simulator keeps:
//!
//! - **Written from the spec, not from the plugin.** Signature verification is implemented here,
//!   independently of the plugin's signing code, from `shared/vendors/<vendor>.md`, so a plugin
//!   bug cannot be mirrored by the same bug in its test oracle.
//! - **Faithful checks.** Signatures are recomputed from the *received* bytes and the secret,
//!   stale timestamps are refused against the simulator's own clock, required fields and types are
//!   validated, and every answer — success or error — has the vendor's own shape and status.
//! - **Observable.** Every request is recorded ([`server::Recorded`]) and vendor state (tasks) is
//!   exposed, so tests assert on what was actually sent.
//! - **Breakable on demand.** [`server::Fault`]s inject HTTP errors, delays, malformed or
//!   truncated bodies, dropped connections and vendor error codes, queued per request or sticky.
//! - **Hermetic and robust.** Servers bind `127.0.0.1:0` by default, stop when dropped, never
//!   panic on a malformed request, and use no sleeps for synchronisation.
//!
//! [`server`] holds the shared scaffolding (plain HTTP/1.1, or https with HTTP/2 and HTTP/1.1
//! by ALPN using a throw-away CA from [`tls`]); each vendor has one module.
//! The `ingest-sim` binary runs the simulators for the demo.
#![deny(missing_docs)]

pub mod agora;
pub mod alibaba;
pub mod artifacts;
pub mod jocloud;
pub mod rongcloud;
pub mod server;
pub mod sim;
pub mod tencent;
pub mod tls;
pub mod zego;
