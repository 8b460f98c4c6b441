//! The HTTP API as one function of a request: what every front calls. The listeners (the
//! standalone server, the admin API, the watched plugin directory, Envoy's ext_proc) are the
//! `ingest-gateway-cli` crate's (`cli/`), the plugin authors' kit the `ingest-plugin-kit`
//! crate's (`kit/`); nothing below this layer imports it.
//!
//! | file | what |
//! |---|---|
//! | `api.rs` | the HTTP API as one function of a request ([`api::handle`]), its routes |
//! | `caller.rs` | who calls a route: the one tenant extractor every route goes through |
//! | `answers.rs` | the API's response bodies, one type each |
//! | `body.rs` | the start request body, checked field by field |
//! | `response.rs` | JSON and problem+json responses, the body cap's answer, a server's handler types |

mod answers;
pub mod api;
pub mod body;
mod caller;
pub mod response;
