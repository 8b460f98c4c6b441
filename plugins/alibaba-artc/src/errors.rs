//! Mapping Alibaba Cloud error codes and HTTP failures to the gateway's error taxonomy.
//!
//! Alibaba answers errors with an HTTP 4xx/5xx status *and* a JSON envelope
//! `{"RequestId", "HostId", "Code", "Message"}`. The code is the more precise of the two, so
//! it decides the kind when the plugin knows it; otherwise the HTTP status does.

use ingest_plugin_sdk::error;
pub use ingest_plugin_sdk::error::parse_retry_after;
use ingest_plugin_sdk::{ErrorKind, ProviderError};

/// The normalized kind of a documented Alibaba Cloud error code and whether repeating the
/// same request later can succeed, or `None` for a code the plugin does not know.
///
/// Exact codes first (every code in the vendor spec), then code families (`Throttling.*`,
/// `InvalidParameter.*`, …) as Alibaba Cloud groups its codes.
pub fn kind_for(code: &str) -> Option<(ErrorKind, bool)> {
    use ErrorKind::*;
    Some(match code {
        // Credentials and signature.
        "InvalidAccessKeyId.NotFound"
        | "IncompleteSignature"
        | "SignatureDoesNotMatch"
        | "IllegalTimestamp" => (Unauthenticated, false),
        // A fresh nonce (the next call gets one) makes the same request succeed.
        "SignatureNonceUsed" => (Unauthenticated, true),
        // Authorization.
        "Forbidden.RAM" | "NoPermission" | "NoAuth" => (PermissionDenied, false),
        // Rate and money.
        "Throttling" => (RateLimited, true),
        "InsufficientBalance" => (QuotaExceeded, false),
        // The request itself.
        "InvalidParameter" | "MissingParameter" | "InputInvalid" => (InvalidArgument, false),
        "ResourceNotExist" => (NotFound, false),
        // Vendor failures.
        "InternalError" | "ServerError" => (VendorInternal, true),
        "ServiceUnavailable" => (Unavailable, true),
        other => {
            let family = other.split('.').next().unwrap_or_default();
            match family {
                "Throttling" => (RateLimited, true),
                "InvalidAccessKeyId" => (Unauthenticated, false),
                "Forbidden" => (PermissionDenied, false),
                "InvalidParameter" | "MissingParameter" => (InvalidArgument, false),
                _ => return None,
            }
        }
    })
}

/// A sentence for the API client explaining `code` and how to fix it, where there is one.
pub fn hint_for(code: &str) -> Option<&'static str> {
    Some(match code {
        "InvalidAccessKeyId.NotFound" => {
            "Alibaba Cloud does not know the provider's `access_key_id` (or it is disabled); \
             check the secret"
        }
        "IncompleteSignature" | "SignatureDoesNotMatch" => {
            "the request signature did not verify; check that the provider's \
             `access_key_secret` secret belongs to its `access_key_id`"
        }
        "SignatureNonceUsed" => {
            "Alibaba Cloud has already seen this SignatureNonce; retry (every call uses a new \
             nonce unless one was fixed with --nonce)"
        }
        "IllegalTimestamp" => {
            "the request Timestamp is outside Alibaba Cloud's validity window; check that the \
             gateway host's clock is synchronised (NTP)"
        }
        "Forbidden.RAM" | "NoPermission" => {
            "the `access_key_id`'s RAM policy does not allow this ApsaraVideo Live action; \
             grant live:CreateRoomRealTimeStreamAddress and live:DescribeChannelParticipants"
        }
        "NoAuth" => "Alibaba Cloud refused access to this ARTC application",
        "Throttling" => {
            "Alibaba Cloud's rate limit (100 requests/s per account) was exceeded; retry after \
             a pause"
        }
        "InsufficientBalance" => "the Alibaba Cloud account's balance is insufficient",
        "InvalidParameter" | "MissingParameter" | "InputInvalid" => {
            "Alibaba Cloud rejected a parameter; see vendor_message"
        }
        "ResourceNotExist" => {
            "Alibaba Cloud does not know the ARTC application or channel; check the provider \
             config key `app_id` and `room_id`"
        }
        "InternalError" | "ServerError" => "Alibaba Cloud failed internally; retry",
        "ServiceUnavailable" => "Alibaba Cloud is temporarily unavailable; retry later",
        c if c.starts_with("Throttling.") => "Alibaba Cloud throttled the request; retry later",
        c if c.starts_with("Forbidden.") => "Alibaba Cloud refused the request",
        c if c.starts_with("InvalidAccessKeyId.") => {
            "Alibaba Cloud rejected the provider's `access_key_id`"
        }
        c if c.starts_with("InvalidParameter.") || c.starts_with("MissingParameter.") => {
            "Alibaba Cloud rejected a parameter; see vendor_message"
        }
        _ => return None,
    })
}

/// The error for an answer that carried an Alibaba error envelope (`Code` present).
pub fn vendor_error(
    action: &str,
    status: u16,
    retry_after: Option<&str>,
    code: &str,
    vendor_message: &str,
    request_id: Option<String>,
) -> ProviderError {
    let (kind, retryable, message) = match (kind_for(code), hint_for(code)) {
        (Some((kind, retryable)), hint) => (
            kind,
            retryable,
            format!(
                "Alibaba Cloud {action} failed with {code}: {}",
                hint.unwrap_or("see vendor_message")
            ),
        ),
        (None, _) => {
            let (kind, retryable) = by_status(status);
            (
                kind,
                retryable,
                format!(
                    "Alibaba Cloud {action} failed with HTTP {status} and {code}, a code this \
                     plugin does not know; see vendor_message"
                ),
            )
        }
    };
    let mut e = ProviderError {
        retryable,
        ..error::from_vendor(kind, message, code, vendor_message, request_id)
    };
    if kind == ErrorKind::RateLimited {
        e.retry_after_secs = retry_after.and_then(parse_retry_after);
    }
    e
}

/// The kind of an HTTP status when no known code says more: 429 rate-limited, 5xx
/// unavailable (both retryable), anything else vendor-internal.
fn by_status(status: u16) -> (ErrorKind, bool) {
    match status {
        429 => (ErrorKind::RateLimited, true),
        500..=599 => (ErrorKind::Unavailable, true),
        _ => (ErrorKind::VendorInternal, false),
    }
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
    use ErrorKind::*;

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
            assert_eq!(kind_for(code), Some((*kind, *retryable)), "{code}");
            assert!(hint_for(code).is_some(), "{code}");
        }
    }

    #[test]
    fn families_and_unknown_codes() {
        assert_eq!(kind_for("Throttling.User"), Some((RateLimited, true)));
        assert_eq!(kind_for("Throttling.Api"), Some((RateLimited, true)));
        assert_eq!(
            kind_for("InvalidAccessKeyId.Inactive"),
            Some((Unauthenticated, false))
        );
        assert_eq!(kind_for("Forbidden.Other"), Some((PermissionDenied, false)));
        assert_eq!(
            kind_for("InvalidParameter.ChannelId"),
            Some((InvalidArgument, false))
        );
        assert_eq!(
            kind_for("MissingParameter.UserId"),
            Some((InvalidArgument, false))
        );
        assert_eq!(kind_for("Brand.New"), None);
        assert_eq!(kind_for(""), None);
        for code in ["Throttling.User", "Forbidden.X", "InvalidParameter.Y"] {
            assert!(hint_for(code).is_some(), "{code}");
        }
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
