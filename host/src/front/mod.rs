//! The fronts: every way in to the [`Gateway`](crate::Gateway). Each is a thin adapter over
//! the core; nothing below this layer imports it. `extproc.rs` is built with the `envoy`
//! feature, `cli.rs` and `plugin_kit/` with `cli` (both on by default; an embedder turns
//! them off and links none of tonic, prost, envoy-types, clap or tracing-subscriber).
//!
//! | file | what |
//! |---|---|
//! | `api.rs` | the HTTP API as one function of a request ([`api::handle`]), its routes |
//! | `answers.rs` | the API's response bodies, one type each |
//! | `body.rs` | the start request body, checked field by field |
//! | `response.rs` | JSON and problem+json responses |
//! | `http.rs` | the standalone hyper server (API and admin listeners) |
//! | `conn.rs` | client connections: the connection limit, header and idle deadlines |
//! | `admin.rs` | the admin API: upload, roll back, remove plugins |
//! | `watch.rs` | the watched plugin directory |
//! | `extproc.rs` | Envoy's external processing (ext_proc) gRPC service |
//! | `cli.rs` | the `ingest-gateway` command |
//! | `plugin_kit/` | the plugin authors' kit: `ingest-gateway plugin new / check / test` |

pub mod admin;
mod answers;
pub mod api;
pub mod body;
#[cfg(feature = "cli")]
pub mod cli;
pub mod conn;
#[cfg(feature = "envoy")]
pub mod extproc;
pub mod http;
#[cfg(feature = "cli")]
pub(crate) mod plugin_kit;
pub mod response;
pub(crate) mod watch;
