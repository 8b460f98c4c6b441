//! Egress policy: every vendor request a plugin makes passes through [`EgressHooks`], the
//! host's `wasi:http` send hook. This is where the allowlist, the private-address block, the
//! timeouts, the response size cap, placeholder substitution and dry-run recording live.
//!
//! Set-up: [`EgressPolicy`] per provider (from config and the plugin's `describe`);
//! per call: an [`EgressHooks`] sharing a [`CallLog`] with the call's credentials.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use serde::Serialize;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiHttpHooks};

use crate::credentials::{MIN_SCRUB_BYTES, Substitution};

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
}

impl EgressPolicy {
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

/// The per-call `wasi:http` hooks.
pub struct EgressHooks {
    policy: Arc<EgressPolicy>,
    mode: EgressMode,
    log: SharedCallLog,
}

impl EgressHooks {
    /// Hooks for one call.
    pub fn new(policy: Arc<EgressPolicy>, mode: EgressMode, log: SharedCallLog) -> Self {
        Self { policy, mode, log }
    }
}

fn deny(log: &SharedCallLog, reason: String) -> HttpError {
    tracing::warn!(%reason, "egress refused");
    log.lock().denials.push(reason);
    HttpError::HttpRequestDenied
}

fn fail(log: &SharedCallLog, reason: String, err: HttpError) -> HttpError {
    log.lock().failures.push(reason);
    err
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

type SendResult = Result<
    (
        http::Response<wasmtime_wasi_http::WasiBody>,
        Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ),
    HttpError,
>;

impl WasiHttpHooks for EgressHooks {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        let policy = self.policy.clone();
        let mode = self.mode.clone();
        let log = self.log.clone();
        Box::new(async move { send(policy, mode, log, request).await })
    }
}

async fn send(
    policy: Arc<EgressPolicy>,
    mode: EgressMode,
    log: SharedCallLog,
    request: http::Request<wasmtime_wasi_http::WasiBody>,
) -> SendResult {
    if log.lock().requests.len() >= MAX_REQUESTS_PER_CALL {
        return Err(deny(
            &log,
            format!("more than {MAX_REQUESTS_PER_CALL} vendor requests in one call"),
        ));
    }
    let (mut parts, body) = request.into_parts();
    let url = parts.uri.to_string();
    let Some(target) = HostPort::of_url(&url) else {
        return Err(deny(
            &log,
            format!("`{url}` is not an http(s) URL with a host"),
        ));
    };
    if !policy.allows(&target) {
        let allowed: Vec<String> = policy.allow.iter().map(ToString::to_string).collect();
        return Err(deny(
            &log,
            format!(
                "{target} is not on provider `{}`'s egress allowlist [{}]; add it to `allow_hosts` if the plugin should reach it",
                policy.provider,
                allowed.join(", ")
            ),
        ));
    }

    // The whole request body, bounded.
    let body = match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return Err(deny(
                &log,
                format!("request body larger than {MAX_REQUEST_BYTES} bytes"),
            ));
        }
    };

    // Placeholders: real values for the wire, labels for the record.
    let subs = log.lock().substitutions.clone();
    let labelled = |text: &str| substitute(text, &subs, |s| format!("{{{{secret:{}}}}}", s.label));
    let mut recorded = RecordedRequest {
        method: parts.method.to_string(),
        url: labelled(&url),
        headers: Vec::new(),
        body: labelled(&utf8(&body)),
    };
    let mut wire_headers = http::HeaderMap::new();
    for (name, value) in &parts.headers {
        let text = utf8(value.as_bytes());
        recorded.headers.push((name.to_string(), labelled(&text)));
        let real = substitute(&text, &subs, |s| utf8(&s.value));
        let Ok(real) = http::HeaderValue::from_str(&real) else {
            return Err(deny(&log, format!("header `{name}` is not a valid value")));
        };
        wire_headers.append(name.clone(), real);
    }
    let index = {
        let mut log = log.lock();
        log.requests.push(recorded);
        log.requests.len() - 1
    };

    if let EgressMode::DryRun(canned) = mode {
        return match canned {
            Some(c) => canned_response(&c),
            None => Err(fail(
                &log,
                "dry run: request recorded, not sent (no --respond given)".to_string(),
                HttpError::ConnectionRefused,
            )),
        };
    }
    if let EgressMode::DryRunSequence(canned) = mode {
        return match canned.get(index) {
            Some(c) => canned_response(c),
            None => Err(fail(
                &log,
                format!(
                    "dry run: request {} recorded, not sent (only {} canned responses)",
                    index + 1,
                    canned.len()
                ),
                HttpError::ConnectionRefused,
            )),
        };
    }

    let real_url = substitute(&url, &subs, |s| percent_encode(&s.value));
    let real_body = if subs.is_empty() {
        body
    } else {
        Bytes::from(substitute(&utf8(&body), &subs, |s| utf8(&s.value)).into_bytes())
    };
    let Ok(uri) = real_url.parse::<http::Uri>() else {
        return Err(deny(
            &log,
            "the URL is invalid after substitution".to_string(),
        ));
    };

    // Resolve, then refuse non-public addresses unless allowed. For plain http the
    // connection is pinned to the checked address, so a second lookup cannot swap it.
    let addrs: Vec<SocketAddr> = match tokio::time::timeout(
        policy.connect_timeout,
        tokio::net::lookup_host((target.host.as_str(), target.port)),
    )
    .await
    {
        Ok(Ok(addrs)) => addrs.collect(),
        Ok(Err(e)) => {
            return Err(fail(
                &log,
                format!("cannot resolve {target}: {e}"),
                HttpError::DestinationNotFound,
            ));
        }
        Err(_) => {
            return Err(fail(
                &log,
                format!("resolving {target} timed out"),
                HttpError::DnsTimeout,
            ));
        }
    };
    if !policy.allow_private
        && let Some(bad) = addrs.iter().find(|a| is_non_public(a.ip()))
    {
        return Err(deny(
            &log,
            format!(
                "{target} resolves to {}, a loopback or private address; set `allow_private = true` for provider `{}` only if that is intended",
                bad.ip(),
                policy.provider
            ),
        ));
    }
    let Some(first) = addrs.first().copied() else {
        return Err(fail(
            &log,
            format!("{target} has no addresses"),
            HttpError::DestinationNotFound,
        ));
    };
    let plain_http = uri.scheme_str() == Some("http");
    parts.uri = if plain_http {
        pin_to(&uri, first).unwrap_or(uri)
    } else {
        uri
    };
    // Substituting placeholders in the body changes its length: the plugin's Content-Length
    // described the body with the tokens, and a stale one makes the vendor wait for bytes that
    // never come (or cut the body short).
    if wire_headers.contains_key(http::header::CONTENT_LENGTH) {
        wire_headers.insert(
            http::header::CONTENT_LENGTH,
            http::HeaderValue::from(real_body.len()),
        );
    }
    parts.headers = wire_headers;

    let exchange = async {
        if plain_http {
            // Plain http is pinned to the checked address: keep-alive connections to it.
            let request = http::Request::from_parts(parts, Full::new(real_body));
            return crate::upstream::send(
                first,
                request,
                policy.connect_timeout,
                policy.max_response_bytes,
            )
            .await;
        }
        let request =
            http::Request::from_parts(parts, Full::new(real_body).map_err(|never| match never {}));
        let options = RequestOptions {
            connect_timeout: Some(policy.connect_timeout),
            first_byte_timeout: Some(policy.request_timeout),
            between_bytes_timeout: Some(policy.request_timeout),
        };
        let (response, io) =
            wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
        let io = tokio::spawn(io);
        let (head, body) = response.into_parts();
        let collected = Limited::new(body, policy.max_response_bytes)
            .collect()
            .await;
        io.abort();
        match collected {
            Ok(c) => Ok((head, c.to_bytes())),
            Err(e) => match e.downcast::<HttpError>() {
                Ok(inner) => Err(*inner),
                Err(_) => Err(HttpError::HttpResponseBodySize(None)),
            },
        }
    };
    let sent = std::time::Instant::now();
    match tokio::time::timeout(policy.request_timeout, exchange).await {
        Ok(Ok((mut head, body))) => {
            log.lock().latencies.push(sent.elapsed());
            let body = unsubstitute_response(&mut head, body, &subs);
            let response = http::Response::from_parts(
                head,
                Full::new(body)
                    .map_err(|never| match never {})
                    .boxed_unsync(),
            );
            Ok((response, Box::new(async { Ok(()) })))
        }
        Ok(Err(e)) => {
            let reason = match &e {
                HttpError::HttpResponseBodySize(_) => format!(
                    "the response from {target} exceeded {} bytes",
                    policy.max_response_bytes
                ),
                other => format!("request to {target} failed: {other:?}"),
            };
            Err(fail(&log, reason, e))
        }
        Err(_) => Err(fail(
            &log,
            format!(
                "request to {target} took longer than {} ms",
                policy.request_timeout.as_millis()
            ),
            HttpError::HttpResponseTimeout,
        )),
    }
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

fn pin_to(uri: &http::Uri, addr: SocketAddr) -> Option<http::Uri> {
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    format!("http://{addr}{path}").parse().ok()
}

fn canned_response(c: &CannedResponse) -> SendResult {
    let mut builder = http::Response::builder().status(c.status);
    for (k, v) in &c.headers {
        builder = builder.header(k, v);
    }
    let response = builder
        .body(
            Full::new(Bytes::from(c.body.clone()))
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
        .map_err(|e| HttpError::InternalError(Some(format!("invalid canned response: {e}"))))?;
    Ok((response, Box::new(async { Ok(()) })))
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
