//! Runtime plugin management: the admin API (on its own listener, behind a bearer token) and
//! the watched plugin directory. Both end in [`Gateway::install_plugin`],
//! [`Gateway::rollback_plugin`] and [`Gateway::remove_plugin`].
//!
//! | method | path | what |
//! |---|---|---|
//! | `GET` | `/admin/plugins` | every plugin: serving and previous version, providers |
//! | `PUT` | `/admin/plugins/{name}` | body = component bytes: compile, validate, bind, then serve |
//! | `POST` | `/admin/plugins/{name}/rollback` | the previous version serves again |
//! | `DELETE` | `/admin/plugins/{name}` | remove; its providers answer `unavailable` |

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::api::{problem_response, problem_with_status};
use crate::error::{ApiError, ErrorKind};
use crate::gateway::Gateway;

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
        let Some(value) = req.headers().get(header::AUTHORIZATION) else {
            return false;
        };
        let Some(given) = value.as_bytes().strip_prefix(b"Bearer ") else {
            return false;
        };
        given.ct_eq(self.0.as_slice()).into()
    }
}

fn json(status: StatusCode, body: &serde_json::Value) -> Response<Bytes> {
    let mut resp = Response::new(Bytes::from(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

impl Gateway {
    /// Serves one admin API request.
    pub async fn handle_admin(&self, req: Request<Bytes>, token: &AdminToken) -> Response<Bytes> {
        if !token.admits(&req) {
            let mut resp = problem_with_status(
                &ApiError::new(
                    ErrorKind::PermissionDenied,
                    "the admin API needs `Authorization: Bearer <admin token>`",
                ),
                StatusCode::UNAUTHORIZED,
            );
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return resp;
        }
        let path = req.uri().path().trim_end_matches('/').to_string();
        let segments: Vec<&str> = path.split('/').skip(1).collect();
        let method = req.method().clone();
        let name = match segments.as_slice() {
            ["admin", "plugins"] if method == Method::GET => return self.admin_list(),
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
            (&Method::PUT, false) => self.install_plugin(name, req.body()).await,
            (&Method::DELETE, false) => self.remove_plugin(name).await,
            (&Method::POST, true) => self.rollback_plugin(name).await,
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
            Ok(report) => json(
                StatusCode::OK,
                &serde_json::to_value(&report).unwrap_or_default(),
            ),
            Err(e) => problem_response(&e),
        }
    }

    fn admin_list(&self) -> Response<Bytes> {
        let plugins: Vec<serde_json::Value> = self
            .registry()
            .list()
            .into_iter()
            .map(|(name, slot)| {
                let providers: Vec<&str> = self
                    .providers()
                    .filter(|p| p.plugin_name == name)
                    .map(|p| p.id.as_str())
                    .collect();
                serde_json::json!({
                    "name": name,
                    "digest": slot.current.digest,
                    "from_cache": slot.current.from_cache,
                    "load_ms": slot.current.load_time.as_millis() as u64,
                    "previous": slot.previous.as_ref().map(|p| p.digest.clone()),
                    "providers": providers,
                })
            })
            .collect();
        let stats = self.registry().stats();
        use std::sync::atomic::Ordering::Relaxed;
        json(
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
}

/// Watches `dir` for changed `*.wasm` files (polling every `interval`) and installs each
/// changed one as the plugin named by its file stem (`tencent_trtc.wasm` → `tencent-trtc`).
/// Files present at start are taken as already loaded. A refused file is logged with the
/// reason and the serving version stays.
pub fn watch_plugin_dir(
    gateway: Arc<Gateway>,
    dir: PathBuf,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut seen = scan(&dir);
        tracing::info!(dir = %dir.display(), files = seen.len(), "watching the plugin directory");
        loop {
            tokio::time::sleep(interval).await;
            let now = scan(&dir);
            for (path, stamp) in &now {
                if seen.get(path) == Some(stamp) {
                    continue;
                }
                let Some(name) = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().replace('_', "-"))
                else {
                    continue;
                };
                let bytes = match tokio::fs::read(path).await {
                    Ok(b) => b,
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "cannot read a changed plugin file");
                        continue;
                    }
                };
                if gateway
                    .registry()
                    .current(&name)
                    .is_some_and(|v| v.digest == crate::gateway::digest_of(&bytes))
                {
                    continue;
                }
                match gateway.install_plugin(&name, &bytes).await {
                    Ok(report) => {
                        tracing::info!(plugin = %name, digest = ?report.digest, "plugin file changed: new version serving")
                    }
                    Err(e) => {
                        tracing::warn!(plugin = %name, reason = %e, "plugin file changed but was refused; the serving version stays")
                    }
                }
            }
            seen = now;
        }
    })
}

fn scan(dir: &std::path::Path) -> HashMap<PathBuf, (u64, Option<SystemTime>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return HashMap::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .filter_map(|p| {
            let meta = std::fs::metadata(&p).ok()?;
            Some((p, (meta.len(), meta.modified().ok())))
        })
        .collect()
}

/// Starts what `[admin]` asks for: the admin listener (when `listen` and `token` are set) and
/// the plugin-directory watcher (when `watch_interval_ms` is set). Returns the admin address.
pub async fn start(
    gateway: Arc<Gateway>,
    admin: &crate::config::AdminConfig,
    plugin_dir: Option<PathBuf>,
) -> Result<Option<std::net::SocketAddr>, crate::error::ConfigError> {
    use crate::error::ConfigError;
    if let (Some(interval), Some(dir)) = (admin.watch_interval_ms, plugin_dir) {
        watch_plugin_dir(gateway.clone(), dir, Duration::from_millis(interval));
    }
    let (Some(listen), Some(source)) = (&admin.listen, &admin.token) else {
        return Ok(None);
    };
    let token = crate::credentials::read_source(source).map_err(|reason| ConfigError::Secret {
        provider: "(admin)".into(),
        name: "token".into(),
        reason,
    })?;
    if token.len() < 16 {
        return Err(ConfigError::Invalid(vec![
            "admin.token: must be at least 16 bytes".to_string(),
        ]));
    }
    let token = Arc::new(AdminToken::new(token));
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        ConfigError::Invalid(vec![format!(
            "admin.listen: cannot listen on {listen}: {e}"
        )])
    })?;
    let addr = listener.local_addr().ok();
    let handler: crate::server::Handler = Arc::new(move |req| {
        let gateway = gateway.clone();
        let token = token.clone();
        Box::pin(async move { gateway.handle_admin(req, &token).await })
    });
    let max = admin.max_upload_bytes;
    tokio::spawn(async move {
        if let Err(e) =
            crate::server::serve_with(handler, None, max, listener, std::future::pending()).await
        {
            tracing::error!(error = %e, "admin listener failed");
        }
    });
    tracing::info!(addr = ?addr, "admin API listening");
    Ok(addr)
}
