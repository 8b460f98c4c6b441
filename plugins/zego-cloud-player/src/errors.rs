//! Mapping ZEGO Cloud Player return codes and HTTP failures to the gateway's error taxonomy.

use ingest_plugin_sdk::error;
use ingest_plugin_sdk::{ErrorKind, ProviderError};

/// The normalized kind of a Cloud Player `Code`, whether repeating the same request later can
/// succeed, and a hint for the client. Unknown codes are `vendor-internal`, not retryable.
pub fn kind_for(code: i64) -> (ErrorKind, bool, Option<&'static str>) {
    use ErrorKind::*;
    match code {
        100_000_004 => (
            Unauthenticated,
            false,
            Some(
                "ZEGO says the signature expired: the Timestamp is more than 10 minutes from \
                 ZEGO's clock; check that the gateway host's clock is synchronised (NTP)",
            ),
        ),
        100_000_005 => (
            Unauthenticated,
            false,
            Some(
                "the signature did not verify; check the provider's `server_secret` secret and \
                 `app_id`",
            ),
        ),
        350_006_001 => (
            RateLimited,
            true,
            Some(
                "ZEGO's Cloud Player rate limit was exceeded (CreatePlayer 20/s, DescribePlayers \
                 10/s); retry after a pause",
            ),
        ),
        350_006_002 => (
            Unauthenticated,
            false,
            Some(
                "ZEGO's API gateway refused the request (its checks of AppId, signature and \
                 common parameters failed); check the provider's `app_id` and `server_secret`",
            ),
        ),
        350_006_003 => (
            InvalidArgument,
            false,
            Some("ZEGO rejected a parameter; see vendor_message"),
        ),
        350_006_006 => (
            PermissionDenied,
            false,
            Some("the Cloud Player service is not enabled for this AppID; ask ZEGO to enable it"),
        ),
        350_010_000 => (VendorInternal, true, Some("ZEGO failed internally; retry")),
        _ => (VendorInternal, false, None),
    }
}

/// The error for an answer whose `Code` is not 0, keeping code, message and request id.
pub fn vendor_error(
    action: &str,
    code: i64,
    vendor_message: &str,
    request_id: Option<String>,
) -> ProviderError {
    let (kind, retryable, hint) = kind_for(code);
    let message = match hint {
        Some(hint) => format!("ZEGO {action} failed with code {code}: {hint}"),
        None => format!(
            "ZEGO {action} failed with code {code}, a code this plugin does not know; see \
             vendor_message"
        ),
    };
    ProviderError {
        retryable,
        ..error::from_vendor(kind, message, &code.to_string(), vendor_message, request_id)
    }
}

/// The error for a non-2xx answer that is not a ZEGO error envelope: 429 rate-limited, 5xx
/// unavailable (both retryable), anything else vendor-internal.
pub fn http_error(action: &str, status: u16, retry_after: Option<&str>) -> ProviderError {
    let (kind, message) = match status {
        429 => (
            ErrorKind::RateLimited,
            format!(
                "ZEGO answered {action} with HTTP 429 (too many requests); retry after a pause"
            ),
        ),
        500..=599 => (
            ErrorKind::Unavailable,
            format!("ZEGO answered {action} with HTTP {status}; retry later"),
        ),
        _ => (
            ErrorKind::VendorInternal,
            format!("ZEGO answered {action} with unexpected HTTP status {status}"),
        ),
    };
    let mut e = error::new(kind, message);
    if status == 429 {
        e.retry_after_secs = retry_after.and_then(|v| v.trim().parse().ok());
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use ErrorKind::*;

    /// Every Cloud Player code in `shared/vendors/zego.md`.
    const SPEC_CODES: &[(i64, ErrorKind, bool)] = &[
        (100_000_004, Unauthenticated, false),
        (100_000_005, Unauthenticated, false),
        (350_006_001, RateLimited, true),
        (350_006_002, Unauthenticated, false),
        (350_006_003, InvalidArgument, false),
        (350_006_006, PermissionDenied, false),
        (350_010_000, VendorInternal, true),
    ];

    #[test]
    fn every_spec_code_is_mapped_and_explained() {
        for (code, kind, retryable) in SPEC_CODES {
            let (k, r, hint) = kind_for(*code);
            assert_eq!((k, r), (*kind, *retryable), "{code}");
            assert!(hint.is_some(), "{code}");
        }
    }

    #[test]
    fn unknown_codes_and_vendor_fields() {
        assert_eq!(kind_for(30009), (VendorInternal, false, None));
        let e = vendor_error("CreatePlayer", 350_006_999, "new", Some("rid".into()));
        assert_eq!((e.kind, e.retryable), (VendorInternal, false));
        assert_eq!(e.vendor_code.as_deref(), Some("350006999"));
        assert_eq!(e.vendor_message.as_deref(), Some("new"));
        assert_eq!(e.vendor_request_id.as_deref(), Some("rid"));
    }

    #[test]
    fn http_errors() {
        assert_eq!(http_error("A", 500, None).kind, Unavailable);
        let e = http_error("A", 429, Some("3"));
        assert_eq!((e.kind, e.retry_after_secs), (RateLimited, Some(3)));
        assert_eq!(http_error("A", 403, None).kind, VendorInternal);
    }
}
