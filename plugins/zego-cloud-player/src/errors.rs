//! Mapping ZEGO Cloud Player return codes and HTTP failures to the gateway's error taxonomy.
//!
//! The codes are ZEGO's published table (`ZEGOCLOUD/docs_all`,
//! `extended_services/cloud_player/en/server/return-codes.mdx`, and the `Code` tables of
//! `create-player.yaml` / `update-player.yaml` / `delete-player.yaml` in the same folder).

use ingest_plugin_sdk::{ErrorKind, ProviderError};
pub use zego_shared::errors::{common_kind, http_error};

/// The normalized kind of a Cloud Player `Code`, whether repeating the same request later can
/// succeed, and a hint for the client. The signature codes and unknown codes
/// (`vendor-internal`, not retryable) come from [`common_kind`].
pub fn kind_for(code: i64) -> (ErrorKind, bool, Option<&'static str>) {
    use ErrorKind::*;
    match code {
        350_006_001 => (
            RateLimited,
            true,
            Some(
                "ZEGO's Cloud Player rate limit was exceeded (20 requests per second for each \
                 action); retry after a pause",
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
        350_006_007 => (
            QuotaExceeded,
            false,
            Some(
                "ZEGO's limit of running cloud players for this AppID is reached (50 unless ZEGO \
                 raised it); stop a player, or ask ZEGO for a higher limit",
            ),
        ),
        350_006_008 => (
            AlreadyExists,
            false,
            Some(
                "a running cloud player already has this PlayerName (`display_name`); ZEGO allows \
                 one running player per name: choose another name, or stop that player",
            ),
        ),
        350_006_009 => (
            FailedPrecondition,
            true,
            Some("the cloud player is still being created; repeat the operation in a moment"),
        ),
        350_010_000 => (VendorInternal, true, Some("ZEGO failed internally; retry")),
        _ => common_kind(code),
    }
}

/// The error for an answer whose `Code` is not 0, keeping code, message and request id.
pub fn vendor_error(
    action: &str,
    code: i64,
    vendor_message: &str,
    request_id: Option<String>,
) -> ProviderError {
    zego_shared::errors::vendor_error(kind_for, action, code, vendor_message, request_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ErrorKind::*;

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
