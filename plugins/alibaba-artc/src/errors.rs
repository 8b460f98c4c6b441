//! Mapping Alibaba Cloud error codes and HTTP failures to the gateway's error taxonomy.
//!
//! Alibaba answers errors with an HTTP 4xx/5xx status *and* a JSON envelope
//! `{"RequestId", "HostId", "Code", "Message"}`. The code is the more precise of the two, so
//! it decides the kind when the plugin knows it; otherwise the HTTP status does.

use ingest_plugin_sdk::ErrorKind::*;
pub use ingest_plugin_sdk::error::parse_retry_after;
use ingest_plugin_sdk::error::{self, Meaning};
use ingest_plugin_sdk::{ErrorKind, ProviderError};

/// Every documented Alibaba Cloud error code, once: its normalized kind, whether repeating the
/// same request later can succeed, and a hint for the client. Exact codes first (every code
/// in the vendor spec), then code families (`Throttling.*`, `InvalidParameter.*`, …) as
/// Alibaba Cloud groups its codes. A code not listed falls back to the HTTP status.
pub const CODES: &[Meaning<&str>] = &[
    // Credentials and signature.
    Meaning::exact(
        &["InvalidAccessKeyId.NotFound"],
        Unauthenticated,
        false,
        Some(
            "Alibaba Cloud does not know the provider's `access_key_id` (or it is disabled); \
             check the secret",
        ),
    ),
    Meaning::exact(
        &["IncompleteSignature", "SignatureDoesNotMatch"],
        Unauthenticated,
        false,
        Some(
            "the request signature did not verify; check that the provider's \
             `access_key_secret` secret belongs to its `access_key_id`",
        ),
    ),
    Meaning::exact(
        &["IllegalTimestamp"],
        Unauthenticated,
        false,
        Some(
            "the request Timestamp is outside Alibaba Cloud's validity window; check that the \
             gateway host's clock is synchronised (NTP)",
        ),
    ),
    // A fresh nonce (the next call gets one) makes the same request succeed.
    Meaning::exact(
        &["SignatureNonceUsed"],
        Unauthenticated,
        true,
        Some(
            "Alibaba Cloud has already seen this SignatureNonce; retry (every call uses a new \
             nonce unless one was fixed with --nonce)",
        ),
    ),
    // Authorization.
    Meaning::exact(
        &["Forbidden.RAM", "NoPermission"],
        PermissionDenied,
        false,
        Some(
            "the `access_key_id`'s RAM policy does not allow this ApsaraVideo Live action; \
             grant live:CreateRoomRealTimeStreamAddress and live:DescribeChannelParticipants",
        ),
    ),
    Meaning::exact(
        &["NoAuth"],
        PermissionDenied,
        false,
        Some("Alibaba Cloud refused access to this ARTC application"),
    ),
    // Rate and money.
    Meaning::exact(
        &["Throttling"],
        RateLimited,
        true,
        Some(
            "Alibaba Cloud's rate limit (100 requests/s per account) was exceeded; retry after \
             a pause",
        ),
    ),
    Meaning::exact(
        &["InsufficientBalance"],
        QuotaExceeded,
        false,
        Some("the Alibaba Cloud account's balance is insufficient"),
    ),
    // The request itself.
    Meaning::exact(
        &["InvalidParameter", "MissingParameter", "InputInvalid"],
        InvalidArgument,
        false,
        Some("Alibaba Cloud rejected a parameter; see vendor_message"),
    ),
    Meaning::exact(
        &["ResourceNotExist"],
        NotFound,
        false,
        Some(
            "Alibaba Cloud does not know the ARTC application or channel; check the provider \
             config key `app_id` and `room_id`",
        ),
    ),
    // Vendor failures.
    Meaning::exact(
        &["InternalError", "ServerError"],
        VendorInternal,
        true,
        Some("Alibaba Cloud failed internally; retry"),
    ),
    Meaning::exact(
        &["ServiceUnavailable"],
        Unavailable,
        true,
        Some("Alibaba Cloud is temporarily unavailable; retry later"),
    ),
    // A family's bare name: the family's kind, without the hint written for its members.
    Meaning::exact(&["InvalidAccessKeyId"], Unauthenticated, false, None),
    Meaning::exact(&["Forbidden"], PermissionDenied, false, None),
    // Families.
    Meaning::family(
        "Throttling",
        RateLimited,
        true,
        Some("Alibaba Cloud throttled the request; retry later"),
    ),
    Meaning::family(
        "InvalidAccessKeyId",
        Unauthenticated,
        false,
        Some("Alibaba Cloud rejected the provider's `access_key_id`"),
    ),
    Meaning::family(
        "Forbidden",
        PermissionDenied,
        false,
        Some("Alibaba Cloud refused the request"),
    ),
    Meaning::family(
        "InvalidParameter",
        InvalidArgument,
        false,
        Some("Alibaba Cloud rejected a parameter; see vendor_message"),
    ),
    Meaning::family(
        "MissingParameter",
        InvalidArgument,
        false,
        Some("Alibaba Cloud rejected a parameter; see vendor_message"),
    ),
];

/// The row of [`CODES`] for `code` (a row naming it exactly, else the row of its family), or
/// `None` for a code the plugin does not know.
pub fn meaning(code: &str) -> Option<&'static Meaning<&'static str>> {
    error::meaning(CODES, code)
}

/// The error for an answer that carried an Alibaba error envelope (`Code` present): mapped by
/// the code when the plugin knows it, else by the HTTP status
/// ([`error::from_http_status`]: 429 rate-limited, 5xx unavailable, both retryable, anything
/// else vendor-internal).
pub fn vendor_error(
    action: &str,
    status: u16,
    retry_after: Option<&str>,
    code: &str,
    vendor_message: &str,
    request_id: Option<String>,
) -> ProviderError {
    let mut e = match meaning(code) {
        Some(m) => m.error(
            format!(
                "Alibaba Cloud {action} failed with {code}: {}",
                m.hint.unwrap_or("see vendor_message")
            ),
            code,
            vendor_message,
            request_id,
        ),
        None => ProviderError {
            message: format!(
                "Alibaba Cloud {action} failed with HTTP {status} and {code}, a code this \
                 plugin does not know; see vendor_message"
            ),
            vendor_code: Some(code.to_string()),
            vendor_message: Some(vendor_message.to_string()),
            vendor_request_id: request_id,
            ..error::from_http_status("Alibaba Cloud", action, status, retry_after)
        },
    };
    if e.kind == ErrorKind::RateLimited {
        e.retry_after_secs = retry_after.and_then(parse_retry_after);
    }
    e
}

/// The error for a non-2xx answer without an Alibaba error envelope.
pub fn http_error(
    action: &str,
    status: u16,
    retry_after: Option<&str>,
    request_id: Option<String>,
) -> ProviderError {
    let mut e = error::from_http_status("Alibaba Cloud", action, status, retry_after);
    if e.kind == ErrorKind::VendorInternal {
        e.message
            .push_str(" and a body that is not its error envelope");
    }
    e.vendor_request_id = request_id;
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A code's kind and retryability, or `None` for a code the plugin does not know.
    fn kind_of(code: &str) -> Option<(ErrorKind, bool)> {
        meaning(code).map(|m| (m.kind, m.retryable))
    }

    /// A code's hint, where there is one.
    fn hint_of(code: &str) -> Option<&'static str> {
        meaning(code).and_then(|m| m.hint)
    }

    /// Every code listed in `shared/vendors/alibaba-artc.md`, with its expected mapping.
    const SPEC_CODES: &[(&str, ErrorKind, bool)] = &[
        ("InvalidAccessKeyId.NotFound", Unauthenticated, false),
        ("IncompleteSignature", Unauthenticated, false),
        ("SignatureDoesNotMatch", Unauthenticated, false),
        ("SignatureNonceUsed", Unauthenticated, true),
        ("IllegalTimestamp", Unauthenticated, false),
        ("Throttling", RateLimited, true),
        ("InsufficientBalance", QuotaExceeded, false),
        ("Forbidden.RAM", PermissionDenied, false),
        ("NoPermission", PermissionDenied, false),
        ("InvalidParameter", InvalidArgument, false),
        ("MissingParameter", InvalidArgument, false),
        ("InternalError", VendorInternal, true),
        ("ServiceUnavailable", Unavailable, true),
        // The seed action's own table.
        ("InputInvalid", InvalidArgument, false),
        ("NoAuth", PermissionDenied, false),
        ("ResourceNotExist", NotFound, false),
        ("ServerError", VendorInternal, true),
    ];

    #[test]
    fn every_spec_code_is_mapped_and_explained() {
        for (code, kind, retryable) in SPEC_CODES {
            assert_eq!(kind_of(code), Some((*kind, *retryable)), "{code}");
            assert!(hint_of(code).is_some(), "{code}");
        }
    }

    #[test]
    fn families_and_unknown_codes() {
        assert_eq!(kind_of("Throttling.User"), Some((RateLimited, true)));
        assert_eq!(kind_of("Throttling.Api"), Some((RateLimited, true)));
        assert_eq!(
            kind_of("InvalidAccessKeyId.Inactive"),
            Some((Unauthenticated, false))
        );
        assert_eq!(kind_of("Forbidden.Other"), Some((PermissionDenied, false)));
        assert_eq!(
            kind_of("InvalidParameter.ChannelId"),
            Some((InvalidArgument, false))
        );
        assert_eq!(
            kind_of("MissingParameter.UserId"),
            Some((InvalidArgument, false))
        );
        assert_eq!(kind_of("Brand.New"), None);
        assert_eq!(kind_of(""), None);
        for code in ["Throttling.User", "Forbidden.X", "InvalidParameter.Y"] {
            assert!(hint_of(code).is_some(), "{code}");
        }
    }

    #[test]
    fn no_code_has_two_meanings() {
        assert!(error::duplicate_codes(CODES).is_empty());
    }

    /// A family's bare name keeps the family's kind without the family's hint, as the two
    /// matches this table replaced did.
    #[test]
    fn bare_family_names() {
        assert_eq!(kind_of("Forbidden"), Some((PermissionDenied, false)));
        assert_eq!(hint_of("Forbidden"), None);
        assert_eq!(
            kind_of("InvalidAccessKeyId"),
            Some((Unauthenticated, false))
        );
        assert_eq!(hint_of("InvalidAccessKeyId"), None);
        let e = vendor_error("A", 403, None, "Forbidden", "no", None);
        assert_eq!(
            e.message,
            "Alibaba Cloud A failed with Forbidden: see vendor_message"
        );
        // The exact `Throttling` row keeps its own hint; its family members get the family's.
        assert!(hint_of("Throttling").is_some_and(|h| h.contains("100 requests/s")));
        assert!(hint_of("Throttling.User").is_some_and(|h| h.contains("throttled")));
    }

    #[test]
    fn code_beats_status_and_unknown_codes_fall_back_to_it() {
        // Alibaba sends Throttling with 503: the code says rate-limited.
        let e = vendor_error(
            "CreateRoomRealTimeStreamAddress",
            503,
            Some("2"),
            "Throttling",
            "slow down",
            Some("rid".into()),
        );
        assert_eq!(
            (e.kind, e.retryable, e.retry_after_secs),
            (RateLimited, true, Some(2))
        );
        assert_eq!(e.vendor_code.as_deref(), Some("Throttling"));
        assert_eq!(e.vendor_message.as_deref(), Some("slow down"));
        assert_eq!(e.vendor_request_id.as_deref(), Some("rid"));

        let e = vendor_error("A", 400, None, "Weird.Code", "?", None);
        assert_eq!((e.kind, e.retryable), (VendorInternal, false));
        assert_eq!(e.vendor_code.as_deref(), Some("Weird.Code"));
        assert!(e.message.contains("does not know"), "{}", e.message);
        let e = vendor_error("A", 502, None, "Weird.Code", "?", None);
        assert_eq!((e.kind, e.retryable), (Unavailable, true));
        let e = vendor_error("A", 429, Some("9"), "Weird.Code", "?", None);
        assert_eq!((e.kind, e.retry_after_secs), (RateLimited, Some(9)));

        let e = vendor_error("A", 400, None, "IllegalTimestamp", "skew", None);
        assert!(e.message.contains("clock"), "{}", e.message);
    }

    #[test]
    fn http_errors_without_an_envelope() {
        let e = http_error("A", 503, None, None);
        assert_eq!((e.kind, e.retryable), (Unavailable, true));
        let e = http_error("A", 429, Some(" 7 "), None);
        assert_eq!(
            (e.kind, e.retryable, e.retry_after_secs),
            (RateLimited, true, Some(7))
        );
        let e = http_error("A", 429, Some("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(e.retry_after_secs, None);
        let e = http_error("A", 404, None, Some("r".into()));
        assert_eq!((e.kind, e.retryable), (VendorInternal, false));
        assert_eq!(e.vendor_request_id.as_deref(), Some("r"));
    }
}
