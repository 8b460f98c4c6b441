//! One provider's egress policy: the hosts it may reach, its timeouts and caps, and the
//! bounds on every vendor request.

use std::time::Duration;

use super::super::vendor::VendorClient;
use crate::config::{EgressConfig, HostPort, ProviderConfig};
use crate::contract::types;

/// Largest request body a plugin may send to a vendor.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;
/// Most vendor requests one call may make (retries and fail-over included).
pub const MAX_REQUESTS_PER_CALL: usize = 16;
/// Most headers one vendor request may carry.
pub const MAX_REQUEST_HEADERS: usize = 128;
/// Most bytes of header names and values one vendor request may carry.
pub const MAX_REQUEST_HEADER_BYTES: usize = 64 * 1024;
/// Longest vendor request URL, bytes.
pub const MAX_REQUEST_URL_BYTES: usize = 16 * 1024;

/// Whether `request` is within the bounds on a vendor request's URL and headers; the reason,
/// naming the limit, when not. (The body's bound is the egress policy's: a refusal the plugin
/// reads.) The call loop checks it before [`send`]: a request past these is a plugin fault.
pub fn request_bounds(request: &types::VendorRequest) -> Result<(), String> {
    if request.url.len() > MAX_REQUEST_URL_BYTES {
        return Err(format!(
            "a vendor request URL of {} bytes (the limit is {MAX_REQUEST_URL_BYTES})",
            request.url.len()
        ));
    }
    if request.headers.len() > MAX_REQUEST_HEADERS {
        return Err(format!(
            "a vendor request with {} headers (the limit is {MAX_REQUEST_HEADERS})",
            request.headers.len()
        ));
    }
    let bytes: usize = request
        .headers
        .iter()
        .map(|(name, value)| name.len() + value.len())
        .sum();
    if bytes > MAX_REQUEST_HEADER_BYTES {
        return Err(format!(
            "a vendor request with {bytes} bytes of headers (the limit is {MAX_REQUEST_HEADER_BYTES})"
        ));
    }
    Ok(())
}

/// One provider's egress policy.
#[derive(Debug, Clone)]
pub struct EgressPolicy {
    /// Provider id, for messages.
    pub provider: String,
    /// Hosts the plugin may call. Empty: nothing is allowed.
    pub allow: Vec<HostPort>,
    /// Whether loopback and private-range addresses may be reached.
    pub allow_private: bool,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Total timeout of one request (connect to the last response byte).
    pub request_timeout: Duration,
    /// Largest response body.
    pub max_response_bytes: usize,
    /// The provider's pooled client; `None` where no request may leave (describe, checks).
    pub client: Option<VendorClient>,
}

impl EgressPolicy {
    /// Provider `pc`'s policy: its `[providers.egress]` settings, the hosts it may reach and
    /// its pooled client.
    pub fn for_provider(pc: &ProviderConfig, allow: Vec<HostPort>, client: VendorClient) -> Self {
        Self::with(&pc.id, allow, pc.allow_private, &pc.egress, Some(client))
    }

    /// A policy under which nothing leaves (`describe`, checks): no hosts, no client.
    pub fn closed(provider: &str, egress: &EgressConfig) -> Self {
        Self::with(provider, Vec::new(), false, egress, None)
    }

    pub(super) fn with(
        provider: &str,
        allow: Vec<HostPort>,
        allow_private: bool,
        egress: &EgressConfig,
        client: Option<VendorClient>,
    ) -> Self {
        Self {
            provider: provider.to_string(),
            allow,
            allow_private,
            connect_timeout: Duration::from_millis(egress.connect_timeout_ms),
            request_timeout: Duration::from_millis(egress.request_timeout_ms),
            max_response_bytes: egress.max_response_bytes,
            client,
        }
    }

    pub(super) fn allows(&self, target: &HostPort) -> bool {
        self.allow.iter().any(|a| a == target)
    }
}

/// A URL or name clipped for a message.
pub(super) fn clip_url(s: &str) -> String {
    crate::text::clip(s.to_string(), 200)
}
