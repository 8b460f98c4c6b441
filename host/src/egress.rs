//! Egress policy: every vendor request a plugin returns passes through [`send`]. This is
//! where the allowlist, the private-address block, the timeouts, the response size cap,
//! placeholder substitution and dry-run recording live; the connection itself is the
//! provider's [`VendorClient`].
//!
//! Set-up: [`EgressPolicy`] per provider (from config and the plugin's `describe`);
//! per call: a [`CallLog`] shared with the call's credentials.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use serde::Serialize;

use crate::bindings::types;
use crate::credentials::{MIN_SCRUB_BYTES, Substitution};
use crate::vendor::{SendFailure, VendorClient};

/// Largest request body a plugin may send to a vendor.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;
/// Most vendor requests one call may make (retries and fail-over included).
pub const MAX_REQUESTS_PER_CALL: usize = 16;

/// A `host:port` pair on an allowlist.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// Lowercase host name or IP literal (without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
}

impl HostPort {
    /// Parses `host:port` or `[v6]:port`.
    pub fn parse(s: &str) -> Option<Self> {
        let (host, port) = s.trim().rsplit_once(':')?;
        let port: u16 = port.parse().ok()?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains(['/', ' ', '@']) {
            return None;
        }
        Some(Self {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// The `host:port` of an `http(s)://` URL.
    pub fn of_url(url: &str) -> Option<Self> {
        let u = url::Url::parse(url).ok()?;
        let host = match u.host()? {
            url::Host::Domain(d) => d.to_ascii_lowercase(),
            url::Host::Ipv4(ip) => ip.to_string(),
            url::Host::Ipv6(ip) => ip.to_string(),
        };
        Some(Self {
            host,
            port: u.port_or_known_default()?,
        })
    }
}

impl std::fmt::Display for HostPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
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
    /// The policy of provider `provider` from its `[providers.egress]` settings.
    pub fn new(
        provider: &str,
        allow: Vec<HostPort>,
        allow_private: bool,
        egress: &crate::config::EgressConfig,
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

    fn allows(&self, target: &HostPort) -> bool {
        self.allow.iter().any(|a| a == target)
    }
}

/// A vendor response to play back in dry-run mode (`--respond FILE`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CannedResponse {
    /// HTTP status.
    pub status: u16,
    /// Headers, in order.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// Body text.
    #[serde(default)]
    pub body: String,
}

/// Whether vendor requests really leave.
#[derive(Debug, Clone)]
pub enum EgressMode {
    /// Send them.
    Live,
    /// Record them; answer each with the canned response, or with a transport error.
    DryRun(Option<CannedResponse>),
    /// Record them; answer the first request with the first response, the second with the
    /// second, and so on; requests beyond the list get a transport error. For conformance
    /// cases that play back a recorded exchange (`ingest-gateway plugin test`).
    DryRunSequence(Vec<CannedResponse>),
}

/// An outgoing request as it goes on the wire (placeholders shown by their labels).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RecordedRequest {
    /// Method.
    pub method: String,
    /// Full URL.
    pub url: String,
    /// Headers in order, values as text.
    pub headers: Vec<(String, String)>,
    /// Body as UTF-8 (lossy).
    pub body: String,
}

/// What the host learnt about one call's egress: shared by the call's credentials (which add
/// placeholders) and its hooks (which use them, record requests and note refusals).
#[derive(Default)]
pub struct CallLog {
    /// Placeholders the plugin asked for.
    pub(crate) substitutions: Vec<Substitution>,
    /// Requests made (dry-run: all of them; live: recorded too, with labels).
    pub requests: Vec<RecordedRequest>,
    /// Why requests were refused, in the host's words.
    pub denials: Vec<String>,
    /// Transport failures and timeouts, in the host's words.
    pub failures: Vec<String>,
    /// Duration of each vendor exchange that got an answer.
    pub latencies: Vec<Duration>,
}

/// A handle on a [`CallLog`].
#[derive(Clone, Default)]
pub struct SharedCallLog(Arc<Mutex<CallLog>>);

impl SharedCallLog {
    /// Locks the log. A poisoned lock (a panic elsewhere) still yields the data.
    pub fn lock(&self) -> MutexGuard<'_, CallLog> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn deny(log: &SharedCallLog, reason: String) -> String {
    tracing::warn!(%reason, "egress refused");
    log.lock().denials.push(reason.clone());
    reason
}

fn fail(log: &SharedCallLog, reason: String) -> String {
    log.lock().failures.push(reason.clone());
    reason
}

/// Whether `ip` is loopback, private, link-local, unspecified or otherwise not public.
pub fn is_non_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1])) // shared address space (CGNAT)
                || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
                || (o[0] == 198 && (o[1] == 18 || o[1] == 19)) // benchmarking
                || o[0] >= 240 // reserved
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_non_public(IpAddr::V4(v4));
            }
            let seg = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00 // unique local
                || (seg[0] & 0xffc0) == 0xfe80 // link local
        }
    }
}

/// Replaces placeholder tokens in `text`; `render` gives the text put in their place.
fn substitute(
    text: &str,
    subs: &[Substitution],
    render: impl Fn(&Substitution) -> String,
) -> String {
    let mut out = text.to_string();
    for s in subs {
        if out.contains(&s.token) {
            out = out.replace(&s.token, &render(s));
        }
    }
    out
}

fn utf8(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// RFC 3986 percent-encoding of everything but unreserved characters.
fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Sends one vendor request a plugin returned, under the provider's policy, and gives the
/// plugin's answer: the vendor's response (placeholder values reverted to tokens) or why
/// there is none. Every request is recorded in `log` with placeholders as labels.
pub async fn send(
    policy: &EgressPolicy,
    mode: &EgressMode,
    log: &SharedCallLog,
    request: types::VendorRequest,
) -> types::VendorAnswer {
    use types::TransportError as T;
    if log.lock().requests.len() >= MAX_REQUESTS_PER_CALL {
        return Err(T::Denied(deny(
            log,
            format!("more than {MAX_REQUESTS_PER_CALL} vendor requests in one call"),
        )));
    }
    let url = request.url;
    let Some(target) = HostPort::of_url(&url) else {
        return Err(T::Denied(deny(
            log,
            format!("`{}` is not an http(s) URL with a host", clip_url(&url)),
        )));
    };
    if !policy.allows(&target) {
        let allowed: Vec<String> = policy.allow.iter().map(ToString::to_string).collect();
        return Err(T::Denied(deny(
            log,
            format!(
                "{target} is not on provider `{}`'s egress allowlist [{}]; add it to `allow_hosts` if the plugin should reach it",
                policy.provider,
                allowed.join(", ")
            ),
        )));
    }
    if request.body.len() > MAX_REQUEST_BYTES {
        return Err(T::Denied(deny(
            log,
            format!("request body larger than {MAX_REQUEST_BYTES} bytes"),
        )));
    }
    let Ok(method) = http::Method::from_bytes(request.method.as_bytes()) else {
        return Err(T::Denied(deny(
            log,
            format!("`{}` is not an HTTP method", clip_url(&request.method)),
        )));
    };

    // Placeholders: real values for the wire, labels for the record.
    let subs = log.lock().substitutions.clone();
    let labelled = |text: &str| substitute(text, &subs, |s| format!("{{{{secret:{}}}}}", s.label));
    let mut recorded = RecordedRequest {
        method: method.to_string(),
        url: labelled(&url),
        headers: Vec::with_capacity(request.headers.len()),
        body: labelled(&utf8(&request.body)),
    };
    let mut wire_headers = http::HeaderMap::with_capacity(request.headers.len() + 1);
    for (name, value) in &request.headers {
        recorded.headers.push((name.clone(), labelled(value)));
        let Ok(header) = http::HeaderName::from_bytes(name.as_bytes()) else {
            return Err(T::Denied(deny(
                log,
                format!("`{}` is not a valid header name", clip_url(name)),
            )));
        };
        // The host frames the body itself: a plugin's length would describe the body with
        // the tokens, not the values.
        if header == http::header::CONTENT_LENGTH
            || header == http::header::HOST
            || header == http::header::TRANSFER_ENCODING
            || header == http::header::CONNECTION
        {
            continue;
        }
        let real = substitute(value, &subs, |s| utf8(&s.value));
        let Ok(real) = http::HeaderValue::from_str(&real) else {
            return Err(T::Denied(deny(
                log,
                format!("header `{name}` is not a valid value"),
            )));
        };
        wire_headers.append(header, real);
    }
    let index = {
        let mut log = log.lock();
        log.requests.push(recorded);
        log.requests.len() - 1
    };

    match mode {
        EgressMode::Live => {}
        EgressMode::DryRun(canned) => {
            return match canned {
                Some(c) => Ok(canned_response(c)),
                None => Err(T::NotSent(fail(
                    log,
                    "dry run: request recorded, not sent (no --respond given)".to_string(),
                ))),
            };
        }
        EgressMode::DryRunSequence(canned) => {
            return match canned.get(index) {
                Some(c) => Ok(canned_response(c)),
                None => Err(T::NotSent(fail(
                    log,
                    format!(
                        "dry run: request {} recorded, not sent (only {} canned responses)",
                        index + 1,
                        canned.len()
                    ),
                ))),
            };
        }
    }

    let real_url = substitute(&url, &subs, |s| percent_encode(&s.value));
    let real_body = if subs.is_empty() {
        Bytes::from(request.body)
    } else {
        Bytes::from(substitute(&utf8(&request.body), &subs, |s| utf8(&s.value)).into_bytes())
    };
    let Ok(uri) = real_url.parse::<http::Uri>() else {
        return Err(T::Denied(deny(
            log,
            "the URL is invalid after substitution".to_string(),
        )));
    };
    let Some(client) = policy.client.as_ref() else {
        return Err(T::Denied(deny(
            log,
            format!(
                "provider `{}` has no vendor client (describe and checks make no requests)",
                policy.provider
            ),
        )));
    };
    if let Some(reason) = client.check_literal(&target.host) {
        return Err(T::Denied(deny(log, reason)));
    }
    if !real_body.is_empty()
        || method == http::Method::POST
        || method == http::Method::PUT
        || method == http::Method::PATCH
    {
        wire_headers.insert(
            http::header::CONTENT_LENGTH,
            http::HeaderValue::from(real_body.len()),
        );
    }

    let build = || {
        let mut r = http::Request::new(Full::new(real_body.clone()));
        *r.method_mut() = method.clone();
        *r.uri_mut() = uri.clone();
        *r.headers_mut() = wire_headers.clone();
        r
    };
    let sent = std::time::Instant::now();
    let exchange = async {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match client.send(build()).await {
                Ok(response) => {
                    let (head, body) = response.into_parts();
                    return match Limited::new(body, policy.max_response_bytes)
                        .collect()
                        .await
                    {
                        Ok(c) => Ok((head, c.to_bytes())),
                        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                            Err(T::TooLarge(fail(
                                log,
                                format!(
                                    "the response from {target} exceeded {} bytes",
                                    policy.max_response_bytes
                                ),
                            )))
                        }
                        Err(e) => Err(T::Unreachable(fail(
                            log,
                            format!("reading the response from {target} failed: {e}"),
                        ))),
                    };
                }
                Err(SendFailure::Refused(reason)) => return Err(T::Denied(deny(log, reason))),
                Err(SendFailure::ConnectTimeout(reason)) => {
                    return Err(T::Timeout(fail(
                        log,
                        format!(
                            "ConnectionTimeout: no connection to {target} within {} ms ({reason})",
                            policy.connect_timeout.as_millis()
                        ),
                    )));
                }
                Err(SendFailure::Transport { reason, connected }) => {
                    // A request that may have reached the vendor is repeated only when the
                    // plugin said it is idempotent (a request that never left was already
                    // re-sent by the pool when that was possible).
                    if attempt == 1 && connected && request.idempotent {
                        tracing::debug!(%target, %reason, "vendor request failed; sending it once more");
                        continue;
                    }
                    return Err(T::Unreachable(fail(
                        log,
                        format!("request to {target} failed: {reason}"),
                    )));
                }
            }
        }
    };
    match tokio::time::timeout(policy.request_timeout, exchange).await {
        Ok(Ok((head, body))) => {
            log.lock().latencies.push(sent.elapsed());
            let mut head = head;
            let body = unsubstitute_response(&mut head, body, &subs);
            Ok(types::VendorResponse {
                status: head.status.as_u16(),
                headers: head
                    .headers
                    .iter()
                    .map(|(k, v)| (k.as_str().to_string(), utf8(v.as_bytes())))
                    .collect(),
                body: body.to_vec(),
            })
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(T::Timeout(fail(
            log,
            format!(
                "request to {target} took longer than {} ms",
                policy.request_timeout.as_millis()
            ),
        ))),
    }
}

/// A URL or name clipped for a message.
fn clip_url(s: &str) -> String {
    s.chars().take(200).collect()
}

/// The forms in which a placeholder's value can come back from a vendor: as sent in headers
/// and bodies, and percent-encoded as sent in URLs. Only values that carry a secret and are
/// long enough to look for (the scrubbing minimum) are reverted.
fn reflected_forms(subs: &[Substitution]) -> Vec<(Vec<u8>, &str)> {
    let mut forms = Vec::new();
    for s in subs {
        if s.label == "literal" || s.value.len() < MIN_SCRUB_BYTES {
            continue;
        }
        forms.push((s.value.to_vec(), s.token.as_str()));
        let encoded = percent_encode(&s.value).into_bytes();
        if encoded != *s.value {
            forms.push((encoded, s.token.as_str()));
        }
    }
    forms
}

/// `haystack` with every `needle` replaced by `with`; `None` when there is none.
fn replace_bytes(haystack: &[u8], needle: &[u8], with: &[u8]) -> Option<Vec<u8>> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    let mut out = Vec::new();
    let (mut i, mut copied, mut found) = (0, 0, false);
    while i + needle.len() <= haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(&haystack[copied..i]);
            out.extend_from_slice(with);
            i += needle.len();
            copied = i;
            found = true;
        } else {
            i += 1;
        }
    }
    if !found {
        return None;
    }
    out.extend_from_slice(&haystack[copied..]);
    Some(out)
}

/// Reverts placeholder substitution in a vendor's answer: wherever the response headers or
/// body carry the value the host put in place of a placeholder (verbatim or
/// percent-encoded), the plugin sees the placeholder token again. A vendor that echoes a
/// request field (an error message quoting the access key id, a debug echo of the request)
/// therefore cannot hand a secret to the plugin that the host kept from it.
fn unsubstitute_response(
    head: &mut http::response::Parts,
    mut body: Bytes,
    subs: &[Substitution],
) -> Bytes {
    let forms = reflected_forms(subs);
    if forms.is_empty() {
        return body;
    }
    for (value, token) in &forms {
        if let Some(replaced) = replace_bytes(&body, value, token.as_bytes()) {
            body = Bytes::from(replaced);
        }
        for header in head.headers.values_mut() {
            if let Some(replaced) = replace_bytes(header.as_bytes(), value, token.as_bytes())
                && let Ok(v) = http::HeaderValue::from_bytes(&replaced)
            {
                *header = v;
            }
        }
    }
    body
}

fn canned_response(c: &CannedResponse) -> types::VendorResponse {
    types::VendorResponse {
        status: c.status,
        headers: c.headers.clone(),
        body: c.body.clone().into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_parsing() {
        assert_eq!(
            HostPort::parse("Trtc.TencentCloudAPI.com:443"),
            Some(HostPort {
                host: "trtc.tencentcloudapi.com".into(),
                port: 443
            })
        );
        assert_eq!(
            HostPort::parse("[::1]:80").map(|h| h.host),
            Some("::1".to_string())
        );
        assert_eq!(HostPort::parse("no-port"), None);
        assert_eq!(HostPort::parse("h:99999"), None);
        assert_eq!(
            HostPort::of_url("https://a.example/x").map(|h| h.to_string()),
            Some("a.example:443".to_string())
        );
        assert_eq!(
            HostPort::of_url("http://127.0.0.1:9101/").map(|h| h.to_string()),
            Some("127.0.0.1:9101".to_string())
        );
    }

    #[test]
    fn non_public_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.1.1",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_non_public(ip.parse().expect("ip")), "{ip}");
        }
        for ip in ["1.1.1.1", "203.0.114.1", "2606:4700::1111"] {
            assert!(!is_non_public(ip.parse().expect("ip")), "{ip}");
        }
    }

    #[test]
    fn reflected_secrets_become_tokens_again() {
        let subs = vec![
            Substitution {
                token: "ingest-secret-0-aa".into(),
                value: zeroize::Zeroizing::new(b"AKID/secret+1".to_vec()),
                label: "secret_id".into(),
            },
            Substitution {
                token: "ingest-secret-1-bb".into(),
                value: zeroize::Zeroizing::new(b"plain-literal".to_vec()),
                label: "literal".into(),
            },
        ];
        let mut head = http::Response::builder()
            .header("x-echo", "id=AKID/secret+1")
            .body(())
            .expect("response")
            .into_parts()
            .0;
        let body = Bytes::from_static(
            b"{\"echo\":\"AKID/secret+1\",\"url\":\"?k=AKID%2Fsecret%2B1\",\"l\":\"plain-literal\"}",
        );
        let body = unsubstitute_response(&mut head, body, &subs);
        assert_eq!(
            &body[..],
            b"{\"echo\":\"ingest-secret-0-aa\",\"url\":\"?k=ingest-secret-0-aa\",\"l\":\"plain-literal\"}"
        );
        assert_eq!(head.headers["x-echo"], "id=ingest-secret-0-aa");
        assert_eq!(replace_bytes(b"abc", b"", b"x"), None);
        assert_eq!(replace_bytes(b"ab", b"abc", b"x"), None);
        assert_eq!(replace_bytes(b"aaa", b"aa", b"x"), Some(b"xa".to_vec()));
    }

    #[test]
    fn percent_encoding_keeps_unreserved() {
        assert_eq!(percent_encode(b"aZ09-._~"), "aZ09-._~");
        assert_eq!(percent_encode(b"a b/+="), "a%20b%2F%2B%3D");
    }
}
