//! Mapping Jocloud answers to the gateway's error taxonomy.
//!
//! Jocloud publishes no response shape for `startrtmp` / `stoprtmp`; its other REST APIs on the
//! same host answer HTTP 200 with `{"code": 0, "message": "success"}` and carry an error as a
//! non-zero `code` with a `message` in that 200 body. So there are two ways to fail:
//!
//! - a status that is not 2xx: the vendor spec's status rule ([`meaning_for_status`],
//!   [`http_error`]);
//! - a 2xx whose JSON `code` is not 0: [`meaning_for_code`], [`code_error`]. Jocloud publishes
//!   no code table, so a code that is an HTTP status (400..=599) means what that status means,
//!   and any other code is `vendor-internal`, not retryable.
//!
//! One table, [`CODES`], describes the statuses with a meaning of their own; the rest of each
//! status class shares its class's row ([`CLIENT_ERROR`], [`SERVER_ERROR`],
//! [`UNEXPECTED_STATUS`]). Whatever the body carries (`code`, `msg` / `message`, else the text)
//! is kept verbatim.

use ingest_plugin_sdk::ErrorKind::*;
use ingest_plugin_sdk::error::{self, Meaning};
use ingest_plugin_sdk::{ErrorKind, ProviderError};

/// Longest body excerpt kept as the vendor message when the body is not a JSON envelope, bytes.
pub const MAX_MESSAGE: usize = 512;

/// The HTTP statuses (and body codes that read as one) with a meaning of their own: the kind,
/// whether retrying can help, and a sentence for the API client.
pub const CODES: &[Meaning<i64>] = &[
    Meaning::exact(
        &[401, 403],
        Unauthenticated,
        false,
        Some(
            "Jocloud refused the API certificate; check that the provider's `restful_id` and \
             `restful_secret` secrets are the console's API certificate id and key for `app_id`",
        ),
    ),
    Meaning::exact(
        &[429],
        RateLimited,
        true,
        Some("Jocloud rate-limited the request; retry after a pause"),
    ),
    Meaning::exact(
        &[404],
        InvalidArgument,
        false,
        Some(
            "Jocloud does not know this path or task; check `app_id` and `path_prefix` (and, \
             for stop, that the relay is still running)",
        ),
    ),
];

/// Any other 4xx.
pub const CLIENT_ERROR: Meaning<i64> = Meaning::exact(
    &[],
    InvalidArgument,
    false,
    Some("Jocloud rejected the request; see vendor_message"),
);
/// Any other 5xx.
pub const SERVER_ERROR: Meaning<i64> = Meaning::exact(
    &[],
    Unavailable,
    true,
    Some("Jocloud failed or is unavailable; retry later"),
);
/// Any other status (1xx, 3xx, nonsense).
pub const UNEXPECTED_STATUS: Meaning<i64> = Meaning::exact(
    &[],
    VendorInternal,
    false,
    Some("Jocloud answered with an unexpected HTTP status"),
);
/// A body code that is not an HTTP status: Jocloud's own, which the plugin cannot classify.
pub const OWN_CODE: Meaning<i64> = Meaning::exact(
    &[],
    VendorInternal,
    false,
    Some(
        "Jocloud refused the request with its own error code (Jocloud publishes no code \
         table); see vendor_code and vendor_message",
    ),
);

/// What an HTTP status that is not a success means.
///
/// 401/403 → `unauthenticated` (the API certificate was refused), 429 → `rate-limited`,
/// any other 4xx → `invalid-argument`, 5xx → `unavailable` (retryable), anything else
/// (1xx, 3xx, nonsense) → `vendor-internal`.
pub fn meaning_for_status(status: u16) -> &'static Meaning<i64> {
    error::meaning(CODES, i64::from(status)).unwrap_or(match status {
        400..=499 => &CLIENT_ERROR,
        500..=599 => &SERVER_ERROR,
        _ => &UNEXPECTED_STATUS,
    })
}

/// What a non-zero `code` in a 2xx answer means.
///
/// Jocloud publishes no code table. A code that reads as an HTTP status in 400..=599 (as a
/// number or a string of digits) means what that status means ([`meaning_for_status`]: 401/403
/// `unauthenticated`, 429 `rate-limited`, other 4xx `invalid-argument`, 5xx `unavailable`);
/// any other code is [`OWN_CODE`]: `vendor-internal`, not retryable — an error the plugin
/// cannot classify, with the code kept.
pub fn meaning_for_code(code: &str) -> &'static Meaning<i64> {
    match http_like(code) {
        Some(status) => meaning_for_status(status),
        None => &OWN_CODE,
    }
}

/// `code` as an HTTP status in 400..=599, if it is one.
fn http_like(code: &str) -> Option<u16> {
    let code = code.trim();
    if code.is_empty() || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    code.parse::<u16>().ok().filter(|s| (400..=599).contains(s))
}

/// The error `meaning` describes, with the vendor's fields; `vendor_message` stays empty when
/// the answer had none, and a rate limit keeps the `Retry-After` seconds.
fn from_meaning(
    meaning: &Meaning<i64>,
    message: String,
    retry_after: Option<&str>,
    vendor: VendorFields,
) -> ProviderError {
    let mut e = meaning.error(
        message,
        &vendor.code,
        vendor.message.as_deref().unwrap_or_default(),
        vendor.request_id,
    );
    if vendor.message.is_none() {
        e.vendor_message = None;
    }
    if meaning.kind == ErrorKind::RateLimited {
        e.retry_after_secs = retry_after.and_then(error::parse_retry_after);
    }
    e
}

/// The error for a 2xx answer whose body carries a non-zero `code`.
pub fn code_error(
    operation: &str,
    status: u16,
    retry_after: Option<&str>,
    vendor: VendorFields,
) -> ProviderError {
    let meaning = meaning_for_code(&vendor.code);
    let message = format!(
        "Jocloud {operation} answered HTTP {status} with error code {}: {}",
        vendor.code,
        meaning.hint.unwrap_or_default()
    );
    from_meaning(meaning, message, retry_after, vendor)
}

/// What the vendor said, salvaged from an error body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VendorFields {
    /// `code` from a JSON body, else the HTTP status.
    pub code: String,
    /// `msg` / `message` from a JSON body, else the body text (truncated), if any.
    pub message: Option<String>,
    /// The request's trace id.
    pub request_id: Option<String>,
}

/// The error for a non-2xx answer.
pub fn http_error(
    operation: &str,
    status: u16,
    retry_after: Option<&str>,
    vendor: VendorFields,
) -> ProviderError {
    let meaning = meaning_for_status(status);
    let message = format!(
        "Jocloud {operation} answered HTTP {status}: {}",
        meaning.hint.unwrap_or_default()
    );
    from_meaning(meaning, message, retry_after, vendor)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's whole rule, one status per class, plus the edges.
    #[test]
    fn every_documented_status_class_is_mapped() {
        let cases = [
            (401, Unauthenticated, false),
            (403, Unauthenticated, false),
            (400, InvalidArgument, false),
            (404, InvalidArgument, false),
            (409, InvalidArgument, false),
            (499, InvalidArgument, false),
            (429, RateLimited, true),
            (500, Unavailable, true),
            (502, Unavailable, true),
            (503, Unavailable, true),
            (599, Unavailable, true),
            (100, VendorInternal, false),
            (302, VendorInternal, false),
            (600, VendorInternal, false),
            (0, VendorInternal, false),
        ];
        for (status, kind, retryable) in cases {
            let m = meaning_for_status(status);
            assert_eq!((m.kind, m.retryable), (kind, retryable), "{status}");
        }
    }

    #[test]
    fn every_code_has_one_meaning_and_a_hint() {
        assert!(
            error::duplicate_codes(CODES).is_empty(),
            "{:?}",
            error::duplicate_codes(CODES)
        );
        for m in CODES
            .iter()
            .chain([&CLIENT_ERROR, &SERVER_ERROR, &UNEXPECTED_STATUS, &OWN_CODE])
        {
            assert!(m.hint.is_some(), "{m:?}");
        }
    }

    #[test]
    fn messages_name_the_operation_status_and_hint() {
        let e = http_error("stoprtmp", 404, None, VendorFields::default());
        assert_eq!(
            e.message,
            "Jocloud stoprtmp answered HTTP 404: Jocloud does not know this path or task; check \
             `app_id` and `path_prefix` (and, for stop, that the relay is still running)"
        );
        let e = http_error("startrtmp", 418, None, VendorFields::default());
        assert_eq!(
            e.message,
            "Jocloud startrtmp answered HTTP 418: Jocloud rejected the request; see vendor_message"
        );
        let e = code_error(
            "startrtmp",
            200,
            None,
            VendorFields {
                code: "E_DEST".into(),
                ..VendorFields::default()
            },
        );
        assert_eq!(
            e.message,
            "Jocloud startrtmp answered HTTP 200 with error code E_DEST: Jocloud refused the \
             request with its own error code (Jocloud publishes no code table); see vendor_code \
             and vendor_message"
        );
        let e = code_error(
            "startrtmp",
            200,
            None,
            VendorFields {
                code: "403".into(),
                ..VendorFields::default()
            },
        );
        assert_eq!(
            e.message,
            "Jocloud startrtmp answered HTTP 200 with error code 403: Jocloud refused the API \
             certificate; check that the provider's `restful_id` and `restful_secret` secrets \
             are the console's API certificate id and key for `app_id`"
        );
    }

    #[test]
    fn errors_keep_vendor_fields() {
        let e = http_error(
            "startrtmp",
            401,
            None,
            VendorFields {
                code: "401".into(),
                message: Some("token invalid".into()),
                request_id: Some("t-1".into()),
            },
        );
        assert_eq!((e.kind, e.retryable), (Unauthenticated, false));
        assert!(e.message.contains("restful_secret"), "{}", e.message);
        assert_eq!(e.vendor_code.as_deref(), Some("401"));
        assert_eq!(e.vendor_message.as_deref(), Some("token invalid"));
        assert_eq!(e.vendor_request_id.as_deref(), Some("t-1"));

        let e = http_error(
            "stoprtmp",
            429,
            Some("4"),
            VendorFields {
                code: "429".into(),
                ..VendorFields::default()
            },
        );
        assert_eq!(
            (e.kind, e.retryable, e.retry_after_secs, e.vendor_message),
            (RateLimited, true, Some(4), None)
        );
        let e = http_error("stoprtmp", 503, Some("4"), VendorFields::default());
        assert_eq!((e.kind, e.retry_after_secs), (Unavailable, None));
    }

    /// A non-zero `code` in a 2xx body: HTTP-status codes by the status rule, anything else
    /// `vendor-internal`.
    #[test]
    fn body_codes_are_mapped() {
        let cases = [
            ("401", Unauthenticated, false),
            ("403", Unauthenticated, false),
            ("400", InvalidArgument, false),
            ("404", InvalidArgument, false),
            ("429", RateLimited, true),
            ("500", Unavailable, true),
            ("503", Unavailable, true),
            ("1", VendorInternal, false),
            ("-1", VendorInternal, false),
            ("200", VendorInternal, false),
            ("302", VendorInternal, false),
            ("600", VendorInternal, false),
            ("20001", VendorInternal, false),
            ("E_DEST_IN_USE", VendorInternal, false),
            ("4O4", VendorInternal, false),
            ("", VendorInternal, false),
        ];
        for (code, kind, retryable) in cases {
            let m = meaning_for_code(code);
            assert_eq!((m.kind, m.retryable), (kind, retryable), "{code:?}");
        }
    }

    #[test]
    fn code_errors_keep_vendor_fields() {
        let e = code_error(
            "startrtmp",
            200,
            None,
            VendorFields {
                code: "20001".into(),
                message: Some("rtmpurl is used by another task".into()),
                request_id: Some("t-1".into()),
            },
        );
        assert_eq!((e.kind, e.retryable), (VendorInternal, false));
        assert!(
            e.message.contains("HTTP 200") && e.message.contains("error code 20001"),
            "{}",
            e.message
        );
        assert_eq!(e.vendor_code.as_deref(), Some("20001"));
        assert_eq!(
            e.vendor_message.as_deref(),
            Some("rtmpurl is used by another task")
        );
        assert_eq!(e.vendor_request_id.as_deref(), Some("t-1"));

        let e = code_error(
            "stoprtmp",
            200,
            None,
            VendorFields {
                code: "401".into(),
                ..VendorFields::default()
            },
        );
        assert_eq!((e.kind, e.retryable), (Unauthenticated, false));
        assert!(e.message.contains("restful_secret"), "{}", e.message);
        assert_eq!(e.vendor_message, None);

        let e = code_error(
            "startrtmp",
            200,
            Some("5"),
            VendorFields {
                code: "429".into(),
                ..VendorFields::default()
            },
        );
        assert_eq!(
            (e.kind, e.retryable, e.retry_after_secs),
            (RateLimited, true, Some(5))
        );
    }
}
