//! The gateway's servers, over the `ingest-gateway` library's one function of a request
//! ([`ingest_gateway::handle`]): the standalone HTTP listener ([`serve`]), the admin API on
//! its own listener ([`handle_admin`], [`start_admin`]) with the watched plugin directory and
//! registry tags, and Envoy's external processing gRPC service ([`serve_extproc`], feature
//! `envoy`, on by default). The `ingest-gateway` binary (`src/main.rs`, `src/cli.rs`) runs
//! them; an application can too.
//!
//! | file | what |
//! |---|---|
//! | `http.rs` | the standalone hyper server (API and admin listeners) |
//! | `conn.rs` | client connections: the connection limit, header and idle deadlines |
//! | `admin.rs` | the admin API: upload, roll back, remove plugins; reload |
//! | `watch.rs` | the watched plugin directory and registry tags |
//! | `extproc.rs` | Envoy's external processing (ext_proc) gRPC service |

#![deny(missing_docs)]

pub mod admin;
pub mod conn;
#[cfg(feature = "envoy")]
pub mod extproc;
pub mod http;
pub mod watch;

pub use admin::{AdminToken, handle_admin, start as start_admin};
#[cfg(feature = "envoy")]
pub use extproc::serve as serve_extproc;
pub use http::{serve, serve_with};
pub use watch::watch_plugin_dir;
