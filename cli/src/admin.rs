//! Runtime plugin management: the admin API (on its own listener, behind a bearer token) and
//! the watched plugin directory. Both end in [`Gateway::install_plugin`],
//! [`Gateway::rollback_plugin`] and [`Gateway::remove_plugin`].
//!
//! | method | path | what |
//! |---|---|---|
//! | `GET` | `/admin/plugins` | every plugin: serving and previous version, providers |
//! | `PUT` | `/admin/plugins/{name}` | body = component bytes (its signature in `x-ingest-signature` when keys are trusted): check, compile, validate, bind, then serve |
//! | `POST` | `/admin/plugins/{name}/rollback` | the previous version serves again |
//! | `DELETE` | `/admin/plugins/{name}` | remove; its providers answer `unavailable` |
//! | `POST` | `/admin/reload` | read the config file again and apply it whole ([`Gateway::reload`](ingest_gateway::Gateway::reload)) |

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::conn::ConnLimits;
use crate::watch::{watch_plugin_dir, watch_registry_tags};
use ingest_gateway::Gateway;
use ingest_gateway::bearer;
use ingest_gateway::config::AdminConfig;
use ingest_gateway::error::{ApiError, ConfigError, ErrorKind};
use ingest_gateway::response::{
    json_response, problem_response, problem_with_status, unauthorized,
};

/// The admin bearer token. Its `Debug` never shows it.
pub struct AdminToken(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(redacted)")
    }
}

impl AdminToken {
    /// A token from its bytes.
    pub fn new(token: Vec<u8>) -> Self {
        Self(Zeroizing::new(token))
    }

    /// Whether `req` carries `Authorization: Bearer <token>` (compared in constant time).
    fn admits(&self, req: &Request<Bytes>) -> bool {
        bearer(req.headers()).is_some_and(|given| given.ct_eq(self.0.as_slice()).into())
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Serves one admin API request.
pub async fn handle_admin(
    gateway: &Gateway,
    req: Request<Bytes>,
    token: &AdminToken,
) -> Response<Bytes> {
    if !token.admits(&req) {
        return unauthorized(&ApiError::new(
            ErrorKind::PermissionDenied,
            "the admin API needs `Authorization: Bearer <admin token>`",
        ));
    }
    let path = req.uri().path().trim_end_matches('/').to_string();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let method = req.method().clone();
    let name = match segments.as_slice() {
        ["admin", "plugins"] if method == Method::GET => return admin_list(gateway),
        ["admin", "reload"] if method == Method::POST => return admin_reload(gateway).await,
        ["admin", "plugins", name] | ["admin", "plugins", name, "rollback"] => *name,
        _ => {
            return problem_response(&ApiError::new(
                ErrorKind::NotFound,
                format!("no admin route for {method} {path}"),
            ));
        }
    };
    if !valid_name(name) {
        return problem_response(&ApiError::invalid(format!(
            "plugin name `{name}` must be 1 to 64 of a-z, 0-9 and `-`"
        )));
    }
    let rollback = segments.len() == 4;
    let result = match (&method, rollback) {
        (&Method::PUT, false) => {
            let signature = req
                .headers()
                .get("x-ingest-signature")
                .map(|v| v.as_bytes());
            gateway
                .install_signed_plugin(name, req.body(), signature, "an admin upload")
                .await
        }
        (&Method::DELETE, false) => gateway.remove_plugin(name).await,
        (&Method::POST, true) => gateway.rollback_plugin(name).await,
        _ => {
            return problem_with_status(
                &ApiError::invalid(
                    "method not allowed: PUT or DELETE /admin/plugins/{name}, POST /admin/plugins/{name}/rollback",
                ),
                StatusCode::METHOD_NOT_ALLOWED,
            );
        }
    };
    match result {
        Ok(report) => json_response(
            StatusCode::OK,
            &serde_json::to_value(&report).unwrap_or_default(),
        ),
        Err(e) => problem_response(&e),
    }
}

fn admin_list(gateway: &Gateway) -> Response<Bytes> {
    let plugins: Vec<serde_json::Value> = gateway
        .registry()
        .list()
        .into_iter()
        .map(|(name, slot)| {
            let providers: Vec<String> = gateway
                .providers()
                .iter()
                .filter(|p| p.plugin_name == name)
                .map(|p| p.id.clone())
                .collect();
            serde_json::json!({
                "name": name,
                "digest": slot.current.digest,
                "origin": gateway.sources().origin(&slot.current.digest),
                "from_cache": slot.current.from_cache,
                "tier": slot.current.tier(),
                "load_ms": slot.current.load_time.as_millis() as u64,
                "previous": slot.previous.as_ref().map(|p| p.digest.clone()),
                "providers": providers,
            })
        })
        .collect();
    let stats = gateway.registry().stats();
    use std::sync::atomic::Ordering::Relaxed;
    json_response(
        StatusCode::OK,
        &serde_json::json!({
            "plugins": plugins,
            "stats": {
                "compiled": stats.compiled.load(Relaxed),
                "cache_hits": stats.cache_hits.load(Relaxed),
                "swaps": stats.swaps.load(Relaxed),
                "refused": stats.refused.load(Relaxed),
                "rollbacks": stats.rollbacks.load(Relaxed),
            },
        }),
    )
}

/// `POST /admin/reload`: reads the config file again and applies it (200 with what changed),
/// or changes nothing and answers 422 with every problem found.
async fn admin_reload(gateway: &Gateway) -> Response<Bytes> {
    match gateway.reload_file().await {
        Ok(report) => json_response(
            StatusCode::OK,
            &serde_json::to_value(&report).unwrap_or_default(),
        ),
        Err(e) => {
            tracing::error!(error = %e, "config reload refused: nothing changed");
            problem_with_status(
                &ApiError::invalid(format!(
                    "the config was not reloaded, nothing changed: {}",
                    e
                )),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
    }
}

/// How long a plugin upload's body may take to arrive (at least the API's header timeout).
const ADMIN_UPLOAD_TIMEOUT: Duration = Duration::from_secs(300);

/// Starts what `[admin]` asks for: the admin listener (when `listen` and `token` are set) and
/// the plugin-directory watcher (when `watch_interval_ms` is set). Returns the admin address.
pub async fn start(
    gateway: Arc<Gateway>,
    admin: &AdminConfig,
    plugin_dir: Option<PathBuf>,
) -> Result<Option<std::net::SocketAddr>, ConfigError> {
    let connections = &gateway.connections().clone();
    if let (Some(interval), Some(dir)) = (admin.watch_interval_ms, plugin_dir) {
        watch_plugin_dir(gateway.clone(), dir, Duration::from_millis(interval));
    }
    watch_registry_tags(gateway.clone());
    let (Some(listen), Some(source)) = (&admin.listen, &admin.token) else {
        return Ok(None);
    };
    let token = source.read_key(16).map_err(|source| ConfigError::Secret {
        owner: "the admin API".into(),
        name: "token".into(),
        source,
    })?;
    let token = Arc::new(AdminToken::new(token));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| ConfigError::Listen {
            what: "admin.listen",
            addr: listen.clone(),
            source,
        })?;
    let addr = listener.local_addr().ok();
    let handler: ingest_gateway::response::Handler = Arc::new(move |req| {
        let gateway = gateway.clone();
        let token = token.clone();
        Box::pin(async move { handle_admin(&gateway, req, &token).await })
    });
    let max = admin.max_upload_bytes;
    // A plugin upload (up to `max_upload_bytes`) may take longer than an API request body.
    let limits = ConnLimits {
        body_timeout: ADMIN_UPLOAD_TIMEOUT
            .max(Duration::from_millis(connections.header_timeout_ms)),
        ..ConnLimits::from_config(connections)
    };
    tokio::spawn(async move {
        if let Err(e) =
            crate::http::serve_with(handler, None, max, limits, listener, std::future::pending())
                .await
        {
            tracing::error!(error = %e, "admin listener failed");
        }
    });
    tracing::info!(addr = ?addr, "admin API listening");
    Ok(addr)
}
