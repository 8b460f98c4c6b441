//! Normalized ingest events: published when a vendor callback verifies, delivered to the
//! tenant's webhook (signed, retried with backoff) and streamed to `GET /v1/events` listeners
//! (Server-Sent Events).
//!
//! Webhook requests are `POST`s of the event JSON with
//! `Ingest-Signature: t=<unix seconds>,v1=<lowercase hex HMAC-SHA256(secret, "<t>.<body>")>` and
//! `Ingest-Event-Id`. Receivers recompute the HMAC over the timestamp, a dot and the raw body,
//! compare in constant time, and reject timestamps far from their clock.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc};
use zeroize::Zeroizing;

use super::metrics::Metrics;
use crate::capability::vendor::{ClientSettings, SendFailure, VendorClient};

/// Events kept for slow stream listeners before they miss some.
const STREAM_BUFFER: usize = 1024;
/// First wait before retrying a webhook; doubles each attempt.
const FIRST_RETRY: Duration = Duration::from_millis(250);
/// Longest wait between webhook attempts.
const MAX_RETRY: Duration = Duration::from_secs(30);
/// Time allowed for one webhook attempt.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// How often an idle event stream sends a keep-alive comment.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// One normalized event as delivered.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Unique event id.
    pub id: String,
    /// The provider that received the callback.
    pub provider: String,
    /// The tenant it belongs to (none when authentication is off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The ingest's handle, when the plugin could name the session.
    pub ingest_id: Option<String>,
    /// When the gateway received the callback, Unix milliseconds.
    pub received_at_ms: u64,
    /// The normalized event (`state`, `vendor_event`, …).
    pub event: serde_json::Value,
}

/// A webhook target.
pub struct Webhook {
    /// URL.
    pub url: String,
    /// HMAC key.
    pub secret: Zeroizing<Vec<u8>>,
    /// Attempts before giving up.
    pub max_attempts: u32,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &self.url)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

/// Fans events out to stream listeners.
#[derive(Debug)]
pub struct EventHub {
    tx: broadcast::Sender<Arc<Event>>,
}

impl Default for EventHub {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(STREAM_BUFFER).0,
        }
    }
}

/// The `Ingest-Signature` value for `body` at `timestamp`.
pub fn sign(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let mut mac = match Hmac::<sha2::Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts any key length"),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

impl EventHub {
    /// Publishes `event` to stream listeners and, when given, its tenant's webhook.
    pub fn publish(&self, event: Event, webhook: Option<Arc<Webhook>>, metrics: Arc<Metrics>) {
        let event = Arc::new(event);
        if self.tx.receiver_count() > 0 && self.tx.send(event.clone()).is_ok() {
            metrics.event(&event.provider, "stream");
        }
        if let Some(hook) = webhook {
            tokio::spawn(deliver(event, hook, metrics));
        }
    }

    /// A stream of events for `tenant` (every event when `None`), as SSE bytes.
    pub fn subscribe(&self, tenant: Option<String>) -> EventStream {
        let mut rx = self.tx.subscribe();
        let (tx, out) = mpsc::channel::<Bytes>(64);
        tokio::spawn(async move {
            if tx
                .send(Bytes::from_static(b": ingest-gateway event stream\n\n"))
                .await
                .is_err()
            {
                return;
            }
            loop {
                let next = tokio::time::timeout(KEEPALIVE, rx.recv()).await;
                let chunk = match next {
                    Err(_) => Bytes::from_static(b": keep-alive\n\n"),
                    Ok(Ok(event)) => {
                        if tenant.is_some() && event.tenant != tenant {
                            continue;
                        }
                        let data = serde_json::to_string(&*event).unwrap_or_default();
                        Bytes::from(format!("id: {}\nevent: ingest\ndata: {data}\n\n", event.id))
                    }
                    Ok(Err(broadcast::error::RecvError::Lagged(n))) => Bytes::from(format!(
                        ": {n} events were dropped for this slow listener\n\n"
                    )),
                    Ok(Err(broadcast::error::RecvError::Closed)) => return,
                };
                if tx.send(chunk).await.is_err() {
                    return; // the listener went away
                }
            }
        });
        EventStream { rx: out }
    }
}

/// The body of a `GET /v1/events` response.
#[derive(Debug)]
pub struct EventStream {
    rx: mpsc::Receiver<Bytes>,
}

impl http_body::Body for EventStream {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.rx
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| Ok(http_body::Frame::data(c))))
    }
}

async fn deliver(event: Arc<Event>, hook: Arc<Webhook>, metrics: Arc<Metrics>) {
    let body = Bytes::from(serde_json::to_vec(&*event).unwrap_or_default());
    let mut wait = FIRST_RETRY;
    for attempt in 1..=hook.max_attempts {
        match attempt_once(&event, &hook, &body).await {
            Ok(()) => {
                metrics.event(&event.provider, "webhook_ok");
                tracing::info!(event = %event.id, provider = %event.provider, attempt, "event delivered to webhook");
                return;
            }
            Err(reason) => {
                tracing::warn!(event = %event.id, provider = %event.provider, attempt, %reason, "webhook delivery failed");
            }
        }
        if attempt < hook.max_attempts {
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(MAX_RETRY);
        }
    }
    metrics.event(&event.provider, "webhook_failed");
    tracing::error!(event = %event.id, provider = %event.provider, attempts = hook.max_attempts, "event dropped: webhook never accepted it");
}

/// The pooled client webhooks go out on (keep-alive across deliveries; tenants' endpoints may
/// be on private networks, which the operator configured).
fn webhook_client() -> Result<&'static VendorClient, String> {
    static CLIENT: std::sync::OnceLock<Result<VendorClient, String>> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            VendorClient::new(&ClientSettings {
                provider: "webhooks".to_string(),
                allow_private: true,
                connect_timeout: WEBHOOK_TIMEOUT,
                ca_file: None,
            })
            .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

async fn attempt_once(event: &Event, hook: &Webhook, body: &Bytes) -> Result<(), String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let request = http::Request::post(&hook.url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header("ingest-signature", sign(&hook.secret, now, body))
        .header("ingest-event-id", &event.id)
        .body(Full::new(body.clone()))
        .map_err(|e| format!("invalid webhook request: {e}"))?;
    let exchange = async {
        let response = webhook_client()?.send(request).await.map_err(|e| match e {
            SendFailure::Refused(r)
            | SendFailure::ConnectTimeout(r)
            | SendFailure::Transport { reason: r, .. } => r,
        })?;
        let status = response.status();
        let _ = response.into_body().collect().await;
        Ok::<_, String>(status)
    };
    match tokio::time::timeout(WEBHOOK_TIMEOUT, exchange).await {
        Ok(Ok(status)) if status.is_success() => Ok(()),
        Ok(Ok(status)) => Err(format!("the webhook answered {status}")),
        Ok(Err(e)) => Err(e),
        Err(_) => Err("the webhook did not answer in time".to_string()),
    }
}
