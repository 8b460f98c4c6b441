//! Mapping ZEGO Cloud Player return codes and HTTP failures to the gateway's error taxonomy.
//!
//! The codes are ZEGO's published table (`ZEGOCLOUD/docs_all`,
//! `extended_services/cloud_player/en/server/return-codes.mdx`, and the `Code` tables of
//! `create-player.yaml` / `update-player.yaml` / `delete-player.yaml` in the same folder).

use ingest_plugin_sdk::ErrorKind::*;
use ingest_plugin_sdk::ProviderError;
use ingest_plugin_sdk::error::Meaning;
pub use zego_shared::errors::{COMMON_CODES, http_error};

/// What each Cloud Player `Code` means: its normalized kind, whether repeating the same request
/// later can succeed, and a hint for the client. The signature codes come from
/// [`COMMON_CODES`]; any other code is `vendor-internal`, not retryable.
pub const CODES: &[Meaning<i64>] = &[
    Meaning::exact(
        &[350_006_001],
        RateLimited,
        true,
        Some(
            "ZEGO's Cloud Player rate limit was exceeded (20 requests per second for each \
             action); retry after a pause",
        ),
    ),
    Meaning::exact(
        &[350_006_002],
        Unauthenticated,
        false,
        Some(
            "ZEGO's API gateway refused the request (its checks of AppId, signature and \
             common parameters failed); check the provider's `app_id` and `server_secret`",
        ),
    ),
    Meaning::exact(
        &[350_006_003],
        InvalidArgument,
        false,
        Some("ZEGO rejected a parameter; see vendor_message"),
    ),
    Meaning::exact(
        &[350_006_006],
        PermissionDenied,
        false,
        Some("the Cloud Player service is not enabled for this AppID; ask ZEGO to enable it"),
    ),
    Meaning::exact(
        &[350_006_007],
        QuotaExceeded,
        false,
        Some(
            "ZEGO's limit of running cloud players for this AppID is reached (50 unless ZEGO \
             raised it); stop a player, or ask ZEGO for a higher limit",
        ),
    ),
    Meaning::exact(
        &[350_006_008],
        AlreadyExists,
        false,
        Some(
            "a running cloud player already has this PlayerName (`display_name`); ZEGO allows \
             one running player per name: choose another name, or stop that player",
        ),
    ),
    Meaning::exact(
        &[350_006_009],
        FailedPrecondition,
        true,
        Some("the cloud player is still being created; repeat the operation in a moment"),
    ),
    Meaning::exact(
        &[350_010_000],
        VendorInternal,
        true,
        Some("ZEGO failed internally; retry"),
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

    /// Every code of ZEGO's published table (`return-codes.mdx`) but 0.
    const SPEC_CODES: &[(i64, ErrorKind, bool)] = &[
        (100_000_004, Unauthenticated, false),
        (100_000_005, Unauthenticated, false),
        (350_006_001, RateLimited, true),
        (350_006_002, Unauthenticated, false),
        (350_006_003, InvalidArgument, false),
        (350_006_006, PermissionDenied, false),
        (350_006_007, QuotaExceeded, false),
        (350_006_008, AlreadyExists, false),
        (350_006_009, FailedPrecondition, true),
        (350_010_000, VendorInternal, true),
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
        assert!(meaning(30009).is_none());
        let e = vendor_error("CreatePlayer", 350_006_999, "new", Some("rid".into()));
        assert_eq!((e.kind, e.retryable), (VendorInternal, false));
        assert_eq!(e.vendor_code.as_deref(), Some("350006999"));
        assert_eq!(e.vendor_message.as_deref(), Some("new"));
        assert_eq!(e.vendor_request_id.as_deref(), Some("rid"));
    }

    #[test]
    fn no_code_has_two_meanings() {
        assert!(ingest_plugin_sdk::error::duplicate_codes(CODES).is_empty());
        // Nor does the plugin give a common signature code a meaning of its own.
        assert!(zego_shared::errors::duplicate_codes(CODES).is_empty());
    }

    #[test]
    fn http_errors() {
        assert_eq!(http_error("A", 500, None).kind, Unavailable);
        let e = http_error("A", 429, Some("3"));
        assert_eq!((e.kind, e.retry_after_secs), (RateLimited, Some(3)));
        assert_eq!(http_error("A", 403, None).kind, VendorInternal);
    }
}
