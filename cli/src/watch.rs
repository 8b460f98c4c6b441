//! The watched plugin directory — a changed `*.wasm` file is installed as a new version of the
//! plugin its name gives, through the same hot swap as an upload — and the watched registry
//! tags (`oci://…:tag` plugins), looked at every `[plugins] poll_interval_ms`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ingest_gateway::Gateway;

/// Looks at every watched registry tag each `[plugins] poll_interval_ms` and installs new
/// digests ([`Gateway::refresh_registry_plugins`]). Ends with the gateway.
pub fn watch_registry_tags(gateway: Arc<Gateway>) -> tokio::task::JoinHandle<()> {
    let interval = gateway.sources().poll_interval();
    let gateway = Arc::downgrade(&gateway);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            let Some(gateway) = gateway.upgrade() else {
                return;
            };
            gateway.refresh_registry_plugins().await;
        }
    })
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
                let Some(name) = ingest_gateway::config::plugin_name(path) else {
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
                    .is_some_and(|v| v.digest == ingest_gateway::sha256_hex(&bytes))
                {
                    continue;
                }
                // A detached signature beside it (`NAME.wasm.sig`), when there is one.
                let signature = tokio::fs::read(ingest_gateway::signature_path(path))
                    .await
                    .ok();
                let source = format!("the watched file {}", path.display());
                match gateway
                    .install_signed_plugin(&name, &bytes, signature.as_deref(), &source)
                    .await
                {
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

/// A file's length and modification time, and its signature file's (a signature written
/// after its component counts as a change of the component).
type Stamp = (u64, Option<SystemTime>, Option<SystemTime>);

fn scan(dir: &Path) -> HashMap<PathBuf, Stamp> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return HashMap::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .filter_map(|p| {
            let meta = std::fs::metadata(&p).ok()?;
            let signed = std::fs::metadata(ingest_gateway::signature_path(&p))
                .and_then(|m| m.modified())
                .ok();
            Some((p, (meta.len(), meta.modified().ok(), signed)))
        })
        .collect()
}
