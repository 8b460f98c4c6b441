//! Mapping ZEGO return codes and HTTP failures to the gateway's error taxonomy.

use ingest_plugin_sdk::ErrorKind::*;
use ingest_plugin_sdk::ProviderError;
use ingest_plugin_sdk::error::Meaning;
pub use zego_shared::errors::{COMMON_CODES, http_error};

/// What each ZEGO `Code` of `RTMPDispatchV2` means: its normalized kind, whether repeating the
/// same request later can succeed, and a hint for the client. The signature codes come from
/// [`COMMON_CODES`]; any other code is `vendor-internal`, not retryable.
pub const CODES: &[Meaning<i64>] = &[
    Meaning::exact(
        &[1010, 30002],
        RateLimited,
        true,
        Some("ZEGO's rate limit (40 requests/s per AppID) was exceeded; retry after a pause"),
    ),
    Meaning::exact(
        &[1001],
        Unavailable,
        true,
        Some("ZEGO could not dispatch a node right now; retry"),
    ),
    Meaning::exact(
        &[1002],
        Unavailable,
        true,
        Some("ZEGO has no RTMP publish node available right now; retry"),
    ),
    Meaning::exact(
        &[1003],
        Unavailable,
        true,
        Some("ZEGO has no RTMP play node available right now; retry"),
    ),
    Meaning::exact(
        &[1005],
        FailedPrecondition,
        false,
        Some(
            "the ZEGO project is not online for RTMP dispatch; ZEGO support must enable \
             RTMPDispatchV2 for the AppID first",
        ),
    ),
    Meaning::exact(
        &[1006],
        InvalidArgument,
        false,
        Some("ZEGO rejected a parameter; see vendor_message"),
    ),
    Meaning::exact(
        &[30003],
        VendorInternal,
        true,
        Some("ZEGO failed internally; retry"),
    ),
    Meaning::exact(
        &[30004],
        InvalidArgument,
        false,
        Some(
            "ZEGO rejected IsTest: check the provider config key `is_test` against the \
             project's environment (test-environment stream ids start with \
             `zegotest-{AppId}-`)",
        ),
    ),
    Meaning::exact(
        &[30005],
        Unauthenticated,
        false,
        Some("ZEGO does not know the AppID; check the provider config key `app_id`"),
    ),
    Meaning::exact(
        &[30009],
        InvalidArgument,
        false,
        Some("ZEGO rejected `options.stream_id`"),
    ),
    Meaning::exact(
        &[30010],
        InvalidArgument,
        false,
        Some("ZEGO rejected the dispatch Type (push/pull)"),
    ),
    Meaning::exact(
        &[30011],
        InvalidArgument,
        false,
        Some("ZEGO rejected `options.client_ip`; it must be the encoder's or player's IPv4"),
    ),
];

/// The row for `code`: [`CODES`], then the common signature codes; `None` for a code the
/// plugin does not know.
pub fn meaning(code: i64) -> Option<&'static Meaning<i64>> {
    zego_shared::errors::meaning(CODES, code)
}

/// The error for an answer whose `Code` is not 0, keeping code, message and request id.
pub fn vendor_error(
    action: &str,
    code: i64,
    vendor_message: &str,
    request_id: Option<String>,
) -> ProviderError {
    zego_shared::errors::vendor_error(CODES, action, code, vendor_message, request_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest_plugin_sdk::ErrorKind;

    /// Every code in `shared/vendors/zego.md` for RTMPDispatchV2 and the common signature codes.
    const SPEC_CODES: &[(i64, ErrorKind, bool)] = &[
        (1010, RateLimited, true),
        (30002, RateLimited, true),
        (1001, Unavailable, true),
        (1002, Unavailable, true),
        (1003, Unavailable, true),
        (1005, FailedPrecondition, false),
        (1006, InvalidArgument, false),
        (30003, VendorInternal, true),
        (30004, InvalidArgument, false),
        (30005, Unauthenticated, false),
        (30009, InvalidArgument, false),
        (30010, InvalidArgument, false),
        (30011, InvalidArgument, false),
        (100_000_004, Unauthenticated, false),
        (100_000_005, Unauthenticated, false),
    ];

    #[test]
    fn every_spec_code_is_mapped_and_explained() {
        for (code, kind, retryable) in SPEC_CODES {
            let m = meaning(*code).expect("mapped");
            assert_eq!((m.kind, m.retryable), (*kind, *retryable), "{code}");
            assert!(m.hint.is_some(), "{code}");
        }
    }

    #[test]
    fn unknown_codes_and_vendor_fields() {
        assert!(meaning(350_006_001).is_none());
        assert!(meaning(-1).is_none());
        let e = vendor_error("RTMPDispatchV2", 42, "odd", Some("rid".into()));
        assert_eq!((e.kind, e.retryable), (VendorInternal, false));
        assert_eq!(e.vendor_code.as_deref(), Some("42"));
        assert_eq!(e.vendor_message.as_deref(), Some("odd"));
        assert_eq!(e.vendor_request_id.as_deref(), Some("rid"));
        let e = vendor_error("RTMPDispatchV2", 100_000_004, "expired", None);
        assert!(e.message.contains("clock"), "{}", e.message);
        assert_eq!(e.vendor_code.as_deref(), Some("100000004"));
    }

    #[test]
    fn no_code_has_two_meanings() {
        assert!(ingest_plugin_sdk::error::duplicate_codes(CODES).is_empty());
        // Nor does the plugin give a common signature code a meaning of its own.
        assert!(zego_shared::errors::duplicate_codes(CODES).is_empty());
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
