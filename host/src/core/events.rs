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
    /// True once the gateway shuts down: every stream ends (its client reconnects elsewhere).
    closing: tokio::sync::watch::Sender<bool>,
}

impl Default for EventHub {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(STREAM_BUFFER).0,
            closing: tokio::sync::watch::channel(false).0,
        }
    }
}

/// The `Ingest-Signature` value for `body` at `timestamp`.
pub fn sign(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    let mac = crate::text::hmac_sha256(secret, &[t.as_bytes(), b".", body]);
    format!("t={timestamp},v1={}", hex::encode(mac))
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

    /// Ends every stream (shutdown: the listeners' drain would otherwise wait for them).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// A stream of events for `tenant` (every event when `None`), as SSE bytes.
    pub fn subscribe(&self, tenant: Option<String>) -> EventStream {
        let mut rx = self.tx.subscribe();
        let mut closing = self.closing.subscribe();
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
                let next = tokio::select! {
                    next = tokio::time::timeout(KEEPALIVE, rx.recv()) => next,
                    () = async { drop(closing.wait_for(|c| *c).await) } => {
                        let _ = tx
                            .send(Bytes::from_static(b": the gateway is shutting down; reconnect\n\n"))
                            .await;
                        return;
                    }
                };
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
    let attempt = |body: Bytes| {
        let (event, hook) = (event.clone(), hook.clone());
        async move { attempt_once(&event, &hook, body).await }
    };
    deliver_with(
        &event,
        hook.max_attempts,
        &metrics,
        body,
        attempt,
        tokio::time::sleep,
    )
    .await;
}

/// The wait before attempt `n + 1` (attempts counted from 1): 250 ms, doubling, at most 30 s.
fn retry_wait(attempt: u32) -> Duration {
    FIRST_RETRY
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
        .min(MAX_RETRY)
}

/// Up to `max_attempts` attempts with [`retry_wait`] between them; counts the outcome.
/// Returns whether the webhook took the event. Attempt and sleep are parameters so the
/// schedule is tested without a network or a real timer.
async fn deliver_with<A, AF, S, SF>(
    event: &Event,
    max_attempts: u32,
    metrics: &Metrics,
    body: Bytes,
    mut attempt: A,
    mut sleep: S,
) -> bool
where
    A: FnMut(Bytes) -> AF,
    AF: Future<Output = Result<(), WebhookError>>,
    S: FnMut(Duration) -> SF,
    SF: Future<Output = ()>,
{
    for n in 1..=max_attempts {
        match attempt(body.clone()).await {
            Ok(()) => {
                metrics.event(&event.provider, "webhook_ok");
                tracing::info!(event = %event.id, provider = %event.provider, attempt = n, "event delivered to webhook");
                return true;
            }
            Err(reason) => {
                tracing::warn!(event = %event.id, provider = %event.provider, attempt = n, %reason, "webhook delivery failed");
            }
        }
        if n < max_attempts {
            sleep(retry_wait(n)).await;
        }
    }
    metrics.event(&event.provider, "webhook_failed");
    tracing::error!(event = %event.id, provider = %event.provider, attempts = max_attempts, "event dropped: webhook never accepted it");
    false
}

/// Why one webhook attempt failed.
#[derive(Debug, thiserror::Error)]
enum WebhookError {
    /// The pooled client could not be built (TLS configuration).
    #[error("no webhook client: {0}")]
    Client(String),
    /// The URL does not make a request.
    #[error("invalid webhook request: {0}")]
    Request(#[from] http::Error),
    /// No connection, or it broke.
    #[error("{0}")]
    Transport(String),
    /// The receiver answered other than 2xx.
    #[error("the webhook answered {0}")]
    Status(http::StatusCode),
    /// No answer within the attempt's time.
    #[error("the webhook did not answer in time")]
    Timeout,
}

/// The pooled client webhooks go out on (keep-alive across deliveries; tenants' endpoints may
/// be on private networks, which the operator configured).
fn webhook_client() -> Result<&'static VendorClient, WebhookError> {
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
        .map_err(|e| WebhookError::Client(e.clone()))
}

async fn attempt_once(event: &Event, hook: &Webhook, body: Bytes) -> Result<(), WebhookError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let request = http::Request::post(&hook.url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header("ingest-signature", sign(&hook.secret, now, &body))
        .header("ingest-event-id", &event.id)
        .body(Full::new(body))?;
    let exchange = async {
        let response = webhook_client()?.send(request).await.map_err(|e| match e {
            SendFailure::Refused(r)
            | SendFailure::ConnectTimeout(r)
            | SendFailure::Transport { reason: r, .. } => WebhookError::Transport(r),
        })?;
        let status = response.status();
        let _ = response.into_body().collect().await;
        Ok::<_, WebhookError>(status)
    };
    match tokio::time::timeout(WEBHOOK_TIMEOUT, exchange).await {
        Ok(Ok(status)) if status.is_success() => Ok(()),
        Ok(Ok(status)) => Err(WebhookError::Status(status)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(WebhookError::Timeout),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn event() -> Event {
        Event {
            id: "evt-1".into(),
            provider: "p".into(),
            tenant: None,
            ingest_id: None,
            received_at_ms: 0,
            event: serde_json::json!({}),
        }
    }

    /// Runs a delivery whose attempts fail `failures` times, recording the waits asked for.
    fn run(max_attempts: u32, failures: u32) -> (bool, u32, Vec<Duration>, String) {
        let metrics = Metrics::new();
        let attempts = Mutex::new(0u32);
        let waits = Mutex::new(Vec::new());
        let delivered = block_on(deliver_with(
            &event(),
            max_attempts,
            &metrics,
            Bytes::from_static(b"{}"),
            |_| {
                let mut n = attempts.lock().unwrap_or_else(|p| p.into_inner());
                *n += 1;
                let fail = *n <= failures;
                async move {
                    if fail {
                        Err(WebhookError::Status(http::StatusCode::SERVICE_UNAVAILABLE))
                    } else {
                        Ok(())
                    }
                }
            },
            |d| {
                waits.lock().unwrap_or_else(|p| p.into_inner()).push(d);
                std::future::ready(())
            },
        ));
        let n = *attempts.lock().unwrap_or_else(|p| p.into_inner());
        let waits = waits.into_inner().unwrap_or_else(|p| p.into_inner());
        (delivered, n, waits, metrics.render())
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .map(|rt| rt.block_on(f))
            .unwrap_or_else(|e| panic!("test runtime: {e}"))
    }

    #[test]
    fn retries_back_off_doubling_to_the_cap() {
        let (delivered, attempts, waits, metrics) = run(10, u32::MAX);
        assert!(!delivered);
        assert_eq!(attempts, 10, "every attempt is made");
        let ms: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
        assert_eq!(
            ms,
            [250, 500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000],
            "no wait after the last attempt"
        );
        assert!(metrics.contains("delivery=\"webhook_failed\""), "{metrics}");
    }

    #[test]
    fn the_first_success_ends_the_delivery() {
        let (delivered, attempts, waits, metrics) = run(5, 2);
        assert!(delivered);
        assert_eq!(attempts, 3);
        assert_eq!(
            waits,
            [Duration::from_millis(250), Duration::from_millis(500)]
        );
        assert!(metrics.contains("delivery=\"webhook_ok\""), "{metrics}");
        assert!(
            !metrics.contains("delivery=\"webhook_failed\""),
            "{metrics}"
        );
    }

    #[test]
    fn waits_never_overflow() {
        assert_eq!(retry_wait(u32::MAX), MAX_RETRY);
        assert_eq!(retry_wait(1), FIRST_RETRY);
    }
}
