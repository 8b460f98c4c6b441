//! Mapping ZEGO return codes and HTTP failures to the gateway's error taxonomy: the codes every
//! ZEGO server API shares (the signature's), and the building of the errors. Each API's own
//! codes live in its plugin, in the [`Service::kind_for`](crate::Service) table.

use ingest_plugin_sdk::error;
use ingest_plugin_sdk::{ErrorKind, ProviderError};

use crate::Mapping;

/// The codes every ZEGO server API answers alike (the common signature codes); any other code
/// is `vendor-internal`, not retryable, without a hint. An API's code table ends with this.
pub fn common_kind(code: i64) -> Mapping {
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
        _ => (VendorInternal, false, None),
    }
}

/// The error for an answer whose `Code` is not 0, mapped by `kind_for`, keeping code, message
/// and request id.
pub fn vendor_error(
    kind_for: fn(i64) -> Mapping,
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
/// unavailable (both retryable), anything else vendor-internal
/// ([`error::from_http_status`]).
pub fn http_error(action: &str, status: u16, retry_after: Option<&str>) -> ProviderError {
    error::from_http_status("ZEGO", action, status, retry_after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ErrorKind::*;

    #[test]
    fn common_codes_and_vendor_fields() {
        for code in [100_000_004, 100_000_005] {
            let (k, r, hint) = common_kind(code);
            assert_eq!((k, r), (Unauthenticated, false), "{code}");
            assert!(hint.is_some(), "{code}");
        }
        assert_eq!(common_kind(-1), (VendorInternal, false, None));
        let e = vendor_error(common_kind, "A", 42, "odd", Some("rid".into()));
        assert_eq!((e.kind, e.retryable), (VendorInternal, false));
        assert_eq!(e.vendor_code.as_deref(), Some("42"));
        assert_eq!(e.vendor_message.as_deref(), Some("odd"));
        assert_eq!(e.vendor_request_id.as_deref(), Some("rid"));
        let e = vendor_error(common_kind, "A", 100_000_004, "expired", None);
        assert!(e.message.contains("clock"), "{}", e.message);
        assert_eq!(e.vendor_code.as_deref(), Some("100000004"));
    }

    #[test]
    fn http_errors() {
        assert_eq!(http_error("A", 503, None).kind, Unavailable);
        assert!(http_error("A", 503, None).retryable);
        let e = http_error("A", 429, Some("5"));
        assert_eq!((e.kind, e.retry_after_secs), (RateLimited, Some(5)));
        assert_eq!(http_error("A", 404, None).kind, VendorInternal);
    }
}
