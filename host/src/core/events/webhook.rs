//! Tenant webhooks per the Standard Webhooks specification (standardwebhooks.com): every
//! attempt is a `POST` of the event JSON with
//!
//! - `webhook-id`: the event's id, the same on every attempt (receivers deduplicate on it);
//! - `webhook-timestamp`: Unix seconds of this attempt;
//! - `webhook-signature`: `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`, where the
//!   key is the base64-decoded part of the tenant's `whsec_…` secret.
//!
//! Any Standard Webhooks library verifies them (README, "Verify our webhooks").

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::time::Duration;
use zeroize::Zeroizing;

use crate::capability::vendor::{ClientSettings, SendFailure, VendorClient};

/// Time allowed for one webhook attempt.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of a webhook answer's body that is read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// The shortest key a `whsec_` secret may carry (the spec's libraries make 24 to 64 bytes).
const MIN_KEY_BYTES: usize = 16;

/// A tenant's webhook.
pub struct Webhook {
    /// URL.
    pub url: String,
    /// The HMAC key (the decoded part of `whsec_…`).
    pub key: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// The key of a `whsec_<base64>` secret. The error says what is wrong and how to make one,
/// never the value.
pub fn parse_secret(secret: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
    const HOW: &str = "make one with `printf 'whsec_%s\\n' \"$(openssl rand -base64 32)\"`";
    let Some(encoded) = secret.strip_prefix(b"whsec_") else {
        return Err(format!(
            "a webhook secret is written `whsec_<base64>` (Standard Webhooks); {HOW}"
        ));
    };
    let encoded = encoded.trim_ascii();
    let key = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| format!("the part after `whsec_` is not base64; {HOW}"))?;
    if key.len() < MIN_KEY_BYTES {
        return Err(format!(
            "the key after `whsec_` is {} bytes, at least {MIN_KEY_BYTES} are needed; {HOW}",
            key.len()
        ));
    }
    Ok(Zeroizing::new(key))
}

/// The `webhook-signature` value for `body` sent as `id` at `timestamp`.
pub fn sign(key: &[u8], id: &str, timestamp: u64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    let mac = crate::text::hmac_sha256(key, &[id.as_bytes(), b".", t.as_bytes(), b".", body]);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac)
    )
}

/// Why one webhook attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
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
    #[error("the webhook did not answer within {}s", WEBHOOK_TIMEOUT.as_secs())]
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

/// One delivery attempt of event `id` with `body`, signed now.
pub async fn attempt(hook: &Webhook, id: &str, body: Bytes) -> Result<(), WebhookError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let request = http::Request::post(&hook.url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", sign(&hook.key, id, now, &body))
        .body(Full::new(body))?;
    let exchange = async {
        webhook_client()?.send(request).await.map_err(|e| match e {
            SendFailure::Refused(r)
            | SendFailure::ConnectTimeout(r)
            | SendFailure::Transport { reason: r, .. } => WebhookError::Transport(r),
        })
    };
    let response = match tokio::time::timeout(WEBHOOK_TIMEOUT, exchange).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(WebhookError::Timeout),
    };
    // The answer's status decides. Its body is read apart (so the connection can be reused),
    // only up to a bound and for a while: a receiver is the tenant's and may answer anything.
    let status = response.status();
    tokio::spawn(async move {
        let body = http_body_util::Limited::new(response.into_body(), MAX_ANSWER_BYTES);
        let _ = tokio::time::timeout(WEBHOOK_TIMEOUT, body.collect()).await;
    });
    if status.is_success() {
        Ok(())
    } else {
        Err(WebhookError::Status(status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_webhooks_test_vector_signs_as_published() {
        let key = parse_secret(b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret");
        assert_eq!(
            sign(
                &key,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_not_in_the_whsec_form_are_refused_without_echoing_them() {
        for bad in [
            &b"plain-secret-value-1234567890"[..],
            b"whsec_!!!not-base64!!!",
            b"whsec_c2hvcnQ=",
        ] {
            let e = parse_secret(bad).expect_err("refused");
            assert!(e.contains("openssl rand"), "{e}");
            assert!(!e.contains("plain-secret") && !e.contains("!!!"), "{e}");
        }
    }
}
