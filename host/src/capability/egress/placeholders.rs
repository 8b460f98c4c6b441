//! Placeholders on the way out and back: tokens replaced by labels in the record and by
//! values on the wire (percent-encoded in the URL), and the values a vendor reflects turned
//! back into tokens (any other secret value into `[redacted]`).

use bytes::Bytes;
use types::TransportError as T;

use super::super::call_log::{RecordedRequest, SharedCallLog, Substitution};
use super::super::credentials::TOKEN_PREFIX;
use super::super::secret_scan::{Case, MIN_SCRUB_BYTES, Needles, REDACTED, SecretSet};
use super::policy::{MAX_REQUEST_HEADERS, clip_url};
use crate::contract::types;

/// Replaces placeholder tokens in `text`; `render` gives the text put in their place.
pub(super) fn substitute(
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
pub(super) fn has_token(text: &str) -> bool {
    static PREFIX: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(TOKEN_PREFIX));
    PREFIX.find(text.as_bytes()).is_some()
}

pub(super) fn utf8(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// RFC 3986 percent-encoding of everything but unreserved characters.
pub(super) fn percent_encode(bytes: &[u8]) -> String {
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

/// The request as recorded (placeholders as labels) and its headers as sent (placeholders as
/// values; framing headers left to the host).
pub(super) fn record_and_headers(
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
            return Err(T::Denied(
                call_log.deny(format!("`{}` is not a valid header name", clip_url(name))),
            ));
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
            return Err(T::Denied(
                call_log.deny(format!("header `{name}` is not a valid value")),
            ));
        };
        // Beyond the header map's maximum size: refused, never a panic (the call loop's
        // `request_bounds` keeps requests far below it).
        if wire_headers.try_append(header, real).is_err() {
            return Err(T::Denied(call_log.deny(format!(
                "more headers than the host can send (the limit is {MAX_REQUEST_HEADERS})"
            ))));
        }
    }
    wire_headers.insert(
        http::header::ACCEPT_ENCODING,
        http::HeaderValue::from_static("identity"),
    );
    Ok((recorded, wire_headers))
}

/// What to look for in a vendor's answer: the values of this call's placeholders that carry a
/// secret and are long enough to look for (the scrubbing minimum), each to become its token
/// again; then every provider's secret values, to become `[redacted]` (a placeholder's value
/// that is one of them is found as the placeholder first).
pub(super) fn reflected_values<'a>(
    subs: &'a [Substitution],
    secrets: &'a SecretSet,
) -> Needles<'a> {
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
pub(super) fn unsubstitute_response(
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
