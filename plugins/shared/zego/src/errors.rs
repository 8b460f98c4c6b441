//! Mapping ZEGO return codes and HTTP failures to the gateway's error taxonomy: the codes every
//! ZEGO server API shares (the signature's, [`COMMON_CODES`]), and the building of the errors.
//! Each API's own codes live in its plugin, in the [`Service::codes`](crate::Service) table.

use ingest_plugin_sdk::error::{self, Meaning};
use ingest_plugin_sdk::{ErrorKind, ProviderError};

/// The codes every ZEGO server API answers alike (the common signature codes). An API's own
/// table is looked up first, then this one ([`meaning`]); any other code is
/// `vendor-internal`, not retryable, without a hint.
pub const COMMON_CODES: &[Meaning<i64>] = &[
    Meaning::exact(
        &[100_000_004],
        ErrorKind::Unauthenticated,
        false,
        Some(
            "ZEGO says the signature expired: the Timestamp is more than 10 minutes from \
             ZEGO's clock; check that the gateway host's clock is synchronised (NTP)",
        ),
    ),
    Meaning::exact(
        &[100_000_005],
        ErrorKind::Unauthenticated,
        false,
        Some(
            "the signature did not verify; check the provider's `server_secret` secret and \
             `app_id`",
        ),
    ),
];

/// The row for `code`: the API's own table `codes` first, then [`COMMON_CODES`]; `None` for a
/// code neither knows.
pub fn meaning(codes: &'static [Meaning<i64>], code: i64) -> Option<&'static Meaning<i64>> {
    error::meaning(codes, code).or_else(|| error::meaning(COMMON_CODES, code))
}

/// Codes named by more than one row of an API's table `codes` and [`COMMON_CODES`] together
/// (a plugin's tests assert there are none, so no code has two meanings).
pub fn duplicate_codes(codes: &[Meaning<i64>]) -> Vec<String> {
    let all: Vec<Meaning<i64>> = codes.iter().chain(COMMON_CODES).copied().collect();
    error::duplicate_codes(&all)
}

/// The error for an answer whose `Code` is not 0, mapped by the API's table `codes` (then
/// [`COMMON_CODES`]), keeping code, message and request id.
pub fn vendor_error(
    codes: &'static [Meaning<i64>],
    action: &str,
    code: i64,
    vendor_message: &str,
    request_id: Option<String>,
) -> ProviderError {
    let vendor_code = code.to_string();
    match meaning(codes, code) {
        Some(m) => {
            let message = match m.hint {
                Some(hint) => format!("ZEGO {action} failed with code {code}: {hint}"),
                None => format!("ZEGO {action} failed with code {code}; see vendor_message"),
            };
            m.error(message, &vendor_code, vendor_message, request_id)
        }
        None => error::from_vendor(
            ErrorKind::VendorInternal,
            format!(
                "ZEGO {action} failed with code {code}, a code this plugin does not know; see \
                 vendor_message"
            ),
            &vendor_code,
            vendor_message,
            request_id,
        ),
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
            let m = meaning(&[], code).expect("common");
            assert_eq!((m.kind, m.retryable), (Unauthenticated, false), "{code}");
            assert!(m.hint.is_some(), "{code}");
        }
        assert!(meaning(&[], -1).is_none());
        let e = vendor_error(&[], "A", 42, "odd", Some("rid".into()));
        assert_eq!((e.kind, e.retryable), (VendorInternal, false));
        assert!(e.message.contains("does not know"), "{}", e.message);
        assert_eq!(e.vendor_code.as_deref(), Some("42"));
        assert_eq!(e.vendor_message.as_deref(), Some("odd"));
        assert_eq!(e.vendor_request_id.as_deref(), Some("rid"));
        let e = vendor_error(&[], "A", 100_000_004, "expired", None);
        assert!(e.message.contains("clock"), "{}", e.message);
        assert_eq!(e.vendor_code.as_deref(), Some("100000004"));
    }

    #[test]
    fn an_apis_own_rows_come_first() {
        const OWN: &[Meaning<i64>] = &[
            Meaning::exact(&[1], RateLimited, true, Some("slow down")),
            Meaning::exact(&[2], NotFound, false, None),
        ];
        let e = vendor_error(OWN, "A", 1, "busy", None);
        assert_eq!((e.kind, e.retryable), (RateLimited, true));
        assert_eq!(e.message, "ZEGO A failed with code 1: slow down");
        // A known code without a hint keeps its kind and points to the vendor's message.
        let e = vendor_error(OWN, "A", 2, "gone", None);
        assert_eq!((e.kind, e.retryable), (NotFound, false));
        assert!(e.message.contains("see vendor_message"), "{}", e.message);
        assert!(!e.message.contains("does not know"), "{}", e.message);
        // The common rows still answer.
        assert_eq!(
            vendor_error(OWN, "A", 100_000_005, "bad", None).kind,
            Unauthenticated
        );
        assert!(duplicate_codes(OWN).is_empty());
        let shadowing: &[Meaning<i64>] = &[Meaning::exact(&[100_000_005], NotFound, false, None)];
        assert_eq!(duplicate_codes(shadowing), vec!["100000005"]);
    }

    #[test]
    fn no_code_has_two_meanings() {
        assert!(error::duplicate_codes(COMMON_CODES).is_empty());
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
