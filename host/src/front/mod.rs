//! The fronts: every way in to the [`Gateway`](crate::Gateway). Each is a thin adapter over
//! the core; nothing below this layer imports it. `extproc.rs` is built with the `envoy`
//! feature (on by default; an embedder turns it off and links none of tonic, prost or
//! envoy-types). The `ingest-gateway` command is the `ingest-gateway-cli` crate (`cli/`), the
//! plugin authors' kit the `ingest-plugin-kit` crate (`kit/`).
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
//! | `caller.rs` | who calls a route: the one tenant extractor every route goes through |
//! | `extproc.rs` | Envoy's external processing (ext_proc) gRPC service |

pub mod admin;
mod answers;
pub mod api;
pub mod body;
mod caller;
pub mod conn;
#[cfg(feature = "envoy")]
pub mod extproc;
pub mod http;
pub mod response;
pub(crate) mod watch;
