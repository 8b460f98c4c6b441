//! Egress policy: every vendor request a plugin returns passes through [`send`]. This is
//! where the allowlist, the private-address block, the timeouts, the response size cap,
//! placeholder substitution and dry-run recording live; the connection itself is the
//! provider's [`VendorClient`].
//!
//! Set-up: [`EgressPolicy`] per provider (from config and the plugin's `describe`);
//! per call: a [`CallLog`] shared with the call's credentials.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};

use super::call_log::{RecordedRequest, SharedCallLog, Substitution};
use super::credentials::TOKEN_PREFIX;
use super::secret_scan::{Case, MIN_SCRUB_BYTES, Needles, REDACTED, SecretSet};
use super::vendor::{SendFailure, VendorClient};
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

    fn with(
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

impl EgressMode {
    /// Whether vendor requests really leave.
    pub fn is_live(&self) -> bool {
        matches!(self, Self::Live)
    }
}

fn deny(call_log: &SharedCallLog, reason: String) -> String {
    tracing::warn!(%reason, "egress refused");
    call_log.lock().denials.push(reason.clone());
    reason
}

fn fail(call_log: &SharedCallLog, reason: String) -> String {
    call_log.lock().failures.push(reason.clone());
    reason
}

/// Replaces placeholder tokens in `text`; `render` gives the text put in their place.
fn substitute(
    text: &str,
    subs: &[Substitution],
    render: impl Fn(&Substitution) -> String,
) -> String {
    // Every token starts with the same prefix: one search for it spares a search per token in
    // the many fields (URL, each header, the body) that hold none.
    if subs.is_empty() || !has_token(text) {
        return text.to_string();
    }
    let mut out = text.to_string();
    for s in subs {
        if out.contains(&s.token) {
            out = out.replace(&s.token, &render(s));
        }
    }
    out
}

/// Whether `text` may hold a placeholder token (it holds the tokens' common prefix).
fn has_token(text: &str) -> bool {
    static PREFIX: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(TOKEN_PREFIX));
    PREFIX.find(text.as_bytes()).is_some()
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
/// plugin's answer: the vendor's response (placeholder values reverted to tokens, any other
/// value of `secrets` — every provider's — redacted) or why there is none. Every request is
/// recorded in `call_log` with placeholders as labels.
pub async fn send(
    policy: &EgressPolicy,
    mode: &EgressMode,
    call_log: &SharedCallLog,
    secrets: &SecretSet,
    request: types::VendorRequest,
) -> types::VendorAnswer {
    let (target, method) = admit(policy, call_log, &request)?;
    // Placeholders: real values for the wire, labels for the record.
    let subs = call_log.lock().substitutions.clone();
    let (recorded, headers) = record_and_headers(call_log, &subs, &method, &request)?;
    let index = {
        let mut call_log = call_log.lock();
        call_log.requests.push(recorded);
        call_log.requests.len() - 1
    };
    if let Some(answer) = dry_run_answer(mode, call_log, index) {
        return answer;
    }
    let wire = wire_request(policy, call_log, &target, method, headers, &subs, request)?;
    let sent = std::time::Instant::now();
    match tokio::time::timeout(
        policy.request_timeout,
        exchange(policy, call_log, &target, &wire),
    )
    .await
    {
        Ok(Ok((mut head, body))) => {
            call_log.lock().latencies.push(sent.elapsed());
            let body = unsubstitute_response(&mut head, body, &subs, secrets);
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
            call_log,
            format!(
                "request to {target} took longer than {} ms",
                policy.request_timeout.as_millis()
            ),
        ))),
    }
}

use types::TransportError as T;

/// The policy's checks before anything is recorded: the per-call cap, the URL, the
/// allowlist, the body size, the method.
fn admit(
    policy: &EgressPolicy,
    call_log: &SharedCallLog,
    request: &types::VendorRequest,
) -> Result<(HostPort, http::Method), T> {
    if call_log.lock().requests.len() >= MAX_REQUESTS_PER_CALL {
        return Err(T::Denied(deny(
            call_log,
            format!("more than {MAX_REQUESTS_PER_CALL} vendor requests in one call"),
        )));
    }
    // One parse decides the scheme, the userinfo and the host:port the allowlist checks.
    let parsed = url::Url::parse(&request.url).ok();
    if let Some(u) = &parsed
        && !matches!(u.scheme(), "http" | "https")
    {
        return Err(T::Denied(deny(
            call_log,
            format!(
                "`{}` is not an http:// or https:// URL (scheme `{}`); the host sends vendor requests over HTTP only",
                clip_url(&request.url),
                clip_url(u.scheme())
            ),
        )));
    }
    let Some((u, target)) = parsed.and_then(|u| HostPort::of_parsed(&u).map(|t| (u, t))) else {
        return Err(T::Denied(deny(
            call_log,
            format!(
                "`{}` is not an http(s) URL with a host",
                clip_url(&request.url)
            ),
        )));
    };
    if !u.username().is_empty() || u.password().is_some() {
        return Err(T::Denied(deny(
            call_log,
            format!(
                "`{}` carries userinfo (`user:password@`); vendor URLs may not (a connection \
                 pool would log it): send credentials in a header instead (HTTP Basic: the \
                 credentials interface's basic-auth-placeholder)",
                clip_url(&request.url)
            ),
        )));
    }
    if !policy.allows(&target) {
        let allowed: Vec<String> = policy.allow.iter().map(ToString::to_string).collect();
        return Err(T::Denied(deny(
            call_log,
            format!(
                "{target} is not on provider `{}`'s egress allowlist [{}]; add it to `allow_hosts` if the plugin should reach it",
                policy.provider,
                allowed.join(", ")
            ),
        )));
    }
    if request.body.len() > MAX_REQUEST_BYTES {
        return Err(T::Denied(deny(
            call_log,
            format!("request body larger than {MAX_REQUEST_BYTES} bytes"),
        )));
    }
    let Ok(method) = http::Method::from_bytes(request.method.as_bytes()) else {
        return Err(T::Denied(deny(
            call_log,
            format!("`{}` is not an HTTP method", clip_url(&request.method)),
        )));
    };
    Ok((target, method))
}

/// The request as recorded (placeholders as labels) and its headers as sent (placeholders as
/// values; framing headers left to the host).
fn record_and_headers(
    call_log: &SharedCallLog,
    subs: &[Substitution],
    method: &http::Method,
    request: &types::VendorRequest,
) -> Result<(RecordedRequest, http::HeaderMap), T> {
    let labelled = |text: &str| substitute(text, subs, |s| format!("{{{{secret:{}}}}}", s.label));
    let mut recorded = RecordedRequest {
        method: method.to_string(),
        url: labelled(&request.url),
        headers: Vec::with_capacity(request.headers.len()),
        body: labelled(&utf8(&request.body)),
    };
    // Sized within the bound whatever the request holds: `with_capacity` panics past the
    // header map's maximum size.
    let mut wire_headers =
        http::HeaderMap::with_capacity(request.headers.len().min(MAX_REQUEST_HEADERS) + 1);
    for (name, value) in &request.headers {
        recorded.headers.push((name.clone(), labelled(value)));
        let Ok(header) = http::HeaderName::from_bytes(name.as_bytes()) else {
            return Err(T::Denied(deny(
                call_log,
                format!("`{}` is not a valid header name", clip_url(name)),
            )));
        };
        // The host frames the body itself: a plugin's length would describe the body with
        // the tokens, not the values.
        // Nor does a plugin choose the answer's encoding: the host looks for secrets in the
        // answer it hands back, which it could not do inside a compressed body.
        if header == http::header::CONTENT_LENGTH
            || header == http::header::HOST
            || header == http::header::TRANSFER_ENCODING
            || header == http::header::CONNECTION
            || header == http::header::ACCEPT_ENCODING
            || header == http::header::TE
        {
            continue;
        }
        let real = substitute(value, subs, |s| utf8(&s.value));
        let Ok(real) = http::HeaderValue::from_str(&real) else {
            return Err(T::Denied(deny(
                call_log,
                format!("header `{name}` is not a valid value"),
            )));
        };
        // Beyond the header map's maximum size: refused, never a panic (the call loop's
        // `request_bounds` keeps requests far below it).
        if wire_headers.try_append(header, real).is_err() {
            return Err(T::Denied(deny(
                call_log,
                format!("more headers than the host can send (the limit is {MAX_REQUEST_HEADERS})"),
            )));
        }
    }
    wire_headers.insert(
        http::header::ACCEPT_ENCODING,
        http::HeaderValue::from_static("identity"),
    );
    Ok((recorded, wire_headers))
}

/// In a dry-run mode: the canned answer to request number `index` (or why there is none).
/// `None` when live.
fn dry_run_answer(
    mode: &EgressMode,
    call_log: &SharedCallLog,
    index: usize,
) -> Option<types::VendorAnswer> {
    match mode {
        EgressMode::Live => None,
        EgressMode::DryRun(canned) => Some(match canned {
            Some(c) => Ok(canned_response(c)),
            None => Err(T::NotSent(fail(
                call_log,
                "dry run: request recorded, not sent (no --respond given)".to_string(),
            ))),
        }),
        EgressMode::DryRunSequence(canned) => Some(match canned.get(index) {
            Some(c) => Ok(canned_response(c)),
            None => Err(T::NotSent(fail(
                call_log,
                format!(
                    "dry run: request {} recorded, not sent (only {} canned responses)",
                    index + 1,
                    canned.len()
                ),
            ))),
        }),
    }
}

/// A live request ready for the provider's client: placeholder values in the URL (encoded)
/// and body, the body framed by the host.
struct Wire<'a> {
    client: &'a VendorClient,
    method: http::Method,
    uri: http::Uri,
    headers: http::HeaderMap,
    body: Bytes,
    idempotent: bool,
}

impl Wire<'_> {
    fn request(&self) -> http::Request<Full<Bytes>> {
        let mut r = http::Request::new(Full::new(self.body.clone()));
        *r.method_mut() = self.method.clone();
        *r.uri_mut() = self.uri.clone();
        *r.headers_mut() = self.headers.clone();
        r
    }
}

fn wire_request<'a>(
    policy: &'a EgressPolicy,
    call_log: &SharedCallLog,
    target: &HostPort,
    method: http::Method,
    mut headers: http::HeaderMap,
    subs: &[Substitution],
    request: types::VendorRequest,
) -> Result<Wire<'a>, T> {
    let real_url = substitute(&request.url, subs, |s| percent_encode(&s.value));
    let body = if subs.is_empty() {
        Bytes::from(request.body)
    } else {
        Bytes::from(substitute(&utf8(&request.body), subs, |s| utf8(&s.value)).into_bytes())
    };
    let Ok(uri) = real_url.parse::<http::Uri>() else {
        return Err(T::Denied(deny(
            call_log,
            "the URL is invalid after substitution".to_string(),
        )));
    };
    let Some(client) = policy.client.as_ref() else {
        return Err(T::Denied(deny(
            call_log,
            format!(
                "provider `{}` has no vendor client (describe and checks make no requests)",
                policy.provider
            ),
        )));
    };
    if let Some(reason) = client.check_literal(&target.host) {
        return Err(T::Denied(deny(call_log, reason)));
    }
    if !body.is_empty()
        || method == http::Method::POST
        || method == http::Method::PUT
        || method == http::Method::PATCH
    {
        headers.insert(
            http::header::CONTENT_LENGTH,
            http::HeaderValue::from(body.len()),
        );
    }
    Ok(Wire {
        client,
        method,
        uri,
        headers,
        body,
        idempotent: request.idempotent,
    })
}

/// One exchange on the pool, the response body read up to the policy's cap. A broken
/// exchange is repeated once, and only when the plugin marked the request idempotent.
async fn exchange(
    policy: &EgressPolicy,
    call_log: &SharedCallLog,
    target: &HostPort,
    wire: &Wire<'_>,
) -> Result<(http::response::Parts, Bytes), T> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let failure = match wire.client.send(wire.request()).await {
            Ok(response) => return read_body(policy, call_log, target, response).await,
            Err(failure) => failure,
        };
        match failure {
            SendFailure::Refused(reason) => return Err(T::Denied(deny(call_log, reason))),
            SendFailure::ConnectTimeout(reason) => {
                return Err(T::Timeout(fail(
                    call_log,
                    format!(
                        "ConnectionTimeout: no connection to {target} within {} ms ({reason})",
                        policy.connect_timeout.as_millis()
                    ),
                )));
            }
            SendFailure::Transport { reason, connected } => {
                // A request that may have reached the vendor is repeated only when the plugin
                // said it is idempotent (a request that never left was already re-sent by
                // the pool when that was possible).
                if attempt == 1 && connected && wire.idempotent {
                    tracing::debug!(%target, %reason, "vendor request failed; sending it once more");
                    continue;
                }
                return Err(T::Unreachable(fail(
                    call_log,
                    format!("request to {target} failed: {reason}"),
                )));
            }
        }
    }
}

async fn read_body(
    policy: &EgressPolicy,
    call_log: &SharedCallLog,
    target: &HostPort,
    response: http::Response<hyper::body::Incoming>,
) -> Result<(http::response::Parts, Bytes), T> {
    let (head, body) = response.into_parts();
    match Limited::new(body, policy.max_response_bytes)
        .collect()
        .await
    {
        Ok(c) => Ok((head, c.to_bytes())),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(T::TooLarge(fail(
            call_log,
            format!(
                "the response from {target} exceeded {} bytes",
                policy.max_response_bytes
            ),
        ))),
        Err(e) => Err(T::Unreachable(fail(
            call_log,
            format!("reading the response from {target} failed: {e}"),
        ))),
    }
}

/// A URL or name clipped for a message.
fn clip_url(s: &str) -> String {
    crate::text::clip(s.to_string(), 200)
}

/// What to look for in a vendor's answer: the values of this call's placeholders that carry a
/// secret and are long enough to look for (the scrubbing minimum), each to become its token
/// again; then every provider's secret values, to become `[redacted]` (a placeholder's value
/// that is one of them is found as the placeholder first).
fn reflected_values<'a>(subs: &'a [Substitution], secrets: &'a SecretSet) -> Needles<'a> {
    let mut needles = Needles::default();
    for s in subs {
        if s.label != "literal" && s.value.len() >= MIN_SCRUB_BYTES {
            needles.push(&s.value, s.token.as_bytes());
        }
    }
    for value in secrets.values() {
        needles.push(value, REDACTED);
    }
    needles
}

/// Reverts placeholder substitution in a vendor's answer: wherever the response headers or
/// body carry the value the host put in place of a placeholder — verbatim or in any valid
/// percent-encoding (any hex case, some bytes encoded and others not, `+` for a space) — the
/// plugin sees the placeholder token again; any other secret value of any provider (one this
/// call holds no placeholder for, or another provider's, echoed by a vendor host two providers
/// share) becomes `[redacted]`; a header whose *name* spells a value (names arrive lowercased)
/// is dropped. A vendor that echoes a request field (an error message quoting the access key
/// id, a debug echo of the request) therefore cannot hand the plugin a secret the host kept
/// from it.
fn unsubstitute_response(
    head: &mut http::response::Parts,
    body: Bytes,
    subs: &[Substitution],
    secrets: &SecretSet,
) -> Bytes {
    let needles = reflected_values(subs, secrets);
    if needles.is_empty() {
        return body;
    }
    let mut spelled_in_name = Vec::new();
    for (name, value) in head.headers.iter_mut() {
        if !needles
            .find(name.as_str().as_bytes(), Case::Folded)
            .is_empty()
        {
            spelled_in_name.push(name.clone());
        } else if let Some(replaced) = needles.replace(value.as_bytes(), Case::Exact) {
            // A valid value with some bytes replaced by visible ASCII stays valid.
            *value = http::HeaderValue::from_bytes(&replaced)
                .unwrap_or_else(|_| http::HeaderValue::from_static("[redacted]"));
        }
    }
    for name in spelled_in_name {
        head.headers.remove(&name);
    }
    match needles.replace(&body, Case::Exact) {
        Some(replaced) => Bytes::from(replaced),
        None => body,
    }
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
        // Every provider's secrets: this call's own value, and another provider's.
        let secrets = SecretSet::new([b"AKID/secret+1".as_slice(), b"other provider's key"]);
        let mut head = http::Response::builder()
            .header("x-echo", "id=AKID/secret+1")
            .header("x-lower", "id=akid%2fsecret%2b1;AKID%2fsecret%2b1")
            .header("x-other", "k=other+provider%27s+key")
            .header("x-akid%2fsecret%2b1", "a name that spells the value")
            .body(())
            .expect("response")
            .into_parts()
            .0;
        let body = Bytes::from_static(
            b"{\"echo\":\"AKID/secret+1\",\"url\":\"?k=AKID%2Fsecret%2B1\",\"lower\":\"AKID%2fsecret%2b1\",\"mixed\":\"%41KID/s%65cret%2B%31\",\"l\":\"plain-literal\",\"other\":\"other%20provider%27s%20key\"}",
        );
        let body = unsubstitute_response(&mut head, body, &subs, &secrets);
        assert_eq!(
            String::from_utf8_lossy(&body),
            "{\"echo\":\"ingest-secret-0-aa\",\"url\":\"?k=ingest-secret-0-aa\",\"lower\":\"ingest-secret-0-aa\",\"mixed\":\"ingest-secret-0-aa\",\"l\":\"plain-literal\",\"other\":\"[redacted]\"}"
        );
        assert_eq!(head.headers["x-echo"], "id=ingest-secret-0-aa");
        // Another case is another value: only the escapes' hex digits may differ in case.
        assert_eq!(
            head.headers["x-lower"],
            "id=akid%2fsecret%2b1;ingest-secret-0-aa"
        );
        assert_eq!(head.headers["x-other"], "k=[redacted]");
        assert!(!head.headers.contains_key("x-akid%2fsecret%2b1"));
        assert_eq!(head.headers.len(), 3);
    }

    /// Without placeholders, another provider's secret (or one this call never asked a
    /// placeholder for) is still kept from the plugin.
    #[test]
    fn any_providers_secret_is_redacted_without_placeholders() {
        let secrets = SecretSet::new([b"provider-a secret".as_slice()]);
        let mut head = http::Response::builder()
            .body(())
            .expect("response")
            .into_parts()
            .0;
        let body = Bytes::from_static(b"seen: provider-a+secret, provider-a%20secret");
        let body = unsubstitute_response(&mut head, body, &[], &secrets);
        assert_eq!(&body[..], b"seen: [redacted], [redacted]");
        let untouched = Bytes::from_static(b"nothing to see");
        let same = unsubstitute_response(&mut head, untouched.clone(), &[], &secrets);
        assert_eq!(same, untouched);
    }

    fn request(url: &str) -> types::VendorRequest {
        types::VendorRequest {
            method: "GET".into(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            idempotent: true,
        }
    }

    /// A scheme other than http(s) is refused as `denied`, even towards an allowed host:port
    /// (it used to fail later as `unreachable`, as if the host had tried). The SDK refuses such
    /// a URL in the plugin already; a plugin built without it reaches this check.
    #[test]
    fn a_non_http_scheme_is_denied() {
        let target = HostPort::of_url("ftp://127.0.0.1/x").expect("host and port");
        let policy = EgressPolicy::with("p", vec![target], true, &EgressConfig::default(), None);
        let call_log = SharedCallLog::default();
        for url in [
            "ftp://127.0.0.1/x",
            "FTP://127.0.0.1/x",
            "gopher://127.0.0.1:21/",
        ] {
            match admit(&policy, &call_log, &request(url)) {
                Err(T::Denied(reason)) => assert!(reason.contains("scheme"), "{url}: {reason}"),
                other => panic!("{url}: {other:?}"),
            }
        }
        assert_eq!(call_log.lock().denials.len(), 3);
        let http = HostPort::of_url("HTTP://127.0.0.1:80/x").expect("host and port");
        let policy = EgressPolicy::with("p", vec![http], true, &EgressConfig::default(), None);
        assert!(admit(&policy, &call_log, &request("HTTP://127.0.0.1:80/x")).is_ok());
    }

    /// Egress itself never panics on a header count past the header map's maximum (the call
    /// loop refuses such a request before it gets here): it is refused as `denied`.
    #[test]
    fn too_many_headers_are_refused_not_a_panic() {
        let mut req = request("https://vendor.example/x");
        req.headers = (0..40_000)
            .map(|i| (format!("x-h{i}"), "v".to_string()))
            .collect();
        let call_log = SharedCallLog::default();
        match record_and_headers(&call_log, &[], &http::Method::GET, &req) {
            Err(T::Denied(reason)) => assert!(reason.contains("more headers"), "{reason}"),
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("40,000 headers were accepted"),
        }
    }

    /// A plugin cannot ask for a compressed answer (the host could not look for secrets in
    /// it): its `accept-encoding` and `te` are dropped and the host asks for `identity`.
    #[test]
    fn the_answer_is_never_compressed_at_a_plugins_request() {
        let mut req = request("https://vendor.example/x");
        req.headers = vec![
            ("Accept-Encoding".into(), "gzip, br".into()),
            ("te".into(), "gzip".into()),
            ("x-other".into(), "kept".into()),
        ];
        let call_log = SharedCallLog::default();
        let (_, headers) =
            record_and_headers(&call_log, &[], &http::Method::GET, &req).expect("valid headers");
        let encodings: Vec<_> = headers
            .get_all(http::header::ACCEPT_ENCODING)
            .iter()
            .collect();
        assert_eq!(encodings, vec!["identity"]);
        assert!(headers.get(http::header::TE).is_none());
        assert_eq!(headers["x-other"], "kept");
    }

    #[test]
    fn userinfo_is_found_in_the_authority_only() {
        let allow = [
            "vendor.example:80",
            "vendor.example:443",
            "vendor.example:8080",
        ]
        .map(|h| HostPort::parse(h).expect("host:port"));
        let policy = EgressPolicy::with("p", allow.to_vec(), false, &EgressConfig::default(), None);
        let call_log = SharedCallLog::default();
        let userinfo = |url: &str| match admit(&policy, &call_log, &request(url)) {
            Err(T::Denied(reason)) => reason.contains("userinfo"),
            _ => false,
        };
        for url in [
            "http://user:pw@vendor.example/x",
            "https://{{tok}}@vendor.example",
            "http://a@b@vendor.example:8080?q",
        ] {
            assert!(userinfo(url), "{url}");
        }
        for url in [
            "http://vendor.example/a@b",
            "https://vendor.example?to=a@b",
            "https://vendor.example#x@y",
            "http://vendor.example\\@evil.example/",
        ] {
            assert!(admit(&policy, &call_log, &request(url)).is_ok(), "{url}");
        }
        assert!(!userinfo("not a url @"));
    }

    #[test]
    fn percent_encoding_keeps_unreserved() {
        assert_eq!(percent_encode(b"aZ09-._~"), "aZ09-._~");
        assert_eq!(percent_encode(b"a b/+="), "a%20b%2F%2B%3D");
    }
}
