//! Mapping RongCloud answers to the gateway's error taxonomy.
//!
//! RongCloud publishes no per-operation error table for `cloudplayer/start` / `stop`. The only
//! codes documented for the cloud player are the status codes of its callback; [`CODES`]
//! describes each of them (for when the API answers one synchronously) and every other code is
//! `vendor-internal`, not retryable, with the code kept.

use ingest_plugin_sdk::ErrorKind::*;
use ingest_plugin_sdk::error::{self, Meaning};
use ingest_plugin_sdk::{ErrorKind, ProviderError};

/// The success code.
pub const OK: i64 = 10000;

/// What each documented RongCloud code means: its kind, whether repeating the request can
/// succeed, and a sentence for the API client.
pub const CODES: &[Meaning<i64>] = &[
    // "unsupported request": the service is not enabled or the request is not one it serves.
    Meaning::exact(
        &[61000],
        Unsupported,
        false,
        Some(
            "RongCloud does not support this request; check that the Cloud Player service is \
             enabled for the App Key in the RongCloud console",
        ),
    ),
    // Bad header, bad body, field validation failed.
    Meaning::exact(
        &[61010],
        InvalidArgument,
        false,
        Some("RongCloud rejected a request header (App-Key, Room-Id, Nonce …)"),
    ),
    Meaning::exact(
        &[61011],
        InvalidArgument,
        false,
        Some("RongCloud rejected the request body"),
    ),
    Meaning::exact(
        &[61012],
        InvalidArgument,
        false,
        Some(
            "RongCloud's field validation failed (user_id, media_type, room_type, rtmp_url, \
             rtsp_transport; or no cloud player runs for this user in this room)",
        ),
    ),
    // Signalling or media server timeout inside RongCloud.
    Meaning::exact(
        &[61013],
        Unavailable,
        true,
        Some("RongCloud's signalling timed out; retry"),
    ),
    Meaning::exact(
        &[61014],
        Unavailable,
        true,
        Some("RongCloud's media server timed out; retry"),
    ),
    // Abnormal room exit.
    Meaning::exact(
        &[61015],
        VendorInternal,
        true,
        Some("the cloud player left the room abnormally; retry"),
    ),
    // "RTC publish succeeded" is a callback status, not an API result.
    Meaning::exact(
        &[61017],
        VendorInternal,
        false,
        Some("RongCloud answered a callback status (RTC publish succeeded) as an API result"),
    ),
    // The source URL cannot be pulled.
    Meaning::exact(
        &[61101],
        InvalidArgument,
        false,
        Some("RongCloud cannot pull `stream_url`; check that it is public and playing"),
    ),
    // Pull error, reconnecting / reconnect failed after 3 tries: the source may come back.
    Meaning::exact(
        &[61102],
        Unavailable,
        true,
        Some("RongCloud hit a pull error and is reconnecting; retry"),
    ),
    Meaning::exact(
        &[61103],
        Unavailable,
        true,
        Some("RongCloud could not reconnect to `stream_url` after 3 tries; retry later"),
    ),
];

/// What a code this plugin does not know means: `vendor-internal`, not retryable.
const UNKNOWN: Meaning<i64> = Meaning::exact(&[], VendorInternal, false, None);

/// The meaning of a RongCloud code: its row of [`CODES`], or `vendor-internal`, not
/// retryable and without a hint for any other code.
pub fn meaning(code: i64) -> &'static Meaning<i64> {
    error::meaning(CODES, code).unwrap_or(&UNKNOWN)
}

/// The error for a RongCloud `{"code", "msg"}` answer other than success.
pub fn vendor_error(
    operation: &str,
    code: i64,
    vendor_message: &str,
    request_id: Option<String>,
) -> ProviderError {
    let meaning = meaning(code);
    let message = match meaning.hint {
        Some(hint) => format!("RongCloud {operation} failed with code {code}: {hint}"),
        None => format!(
            "RongCloud {operation} failed with code {code}, a code this plugin does not know; \
             see vendor_message"
        ),
    };
    meaning.error(message, &code.to_string(), vendor_message, request_id)
}

/// Vendor fields salvaged from a body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VendorFields {
    /// `code`, as text.
    pub code: Option<String>,
    /// `msg`.
    pub message: Option<String>,
    /// The request id.
    pub request_id: Option<String>,
}

/// The error for an HTTP status that decides the kind by itself: 401 (bad signature or App
/// Key), 429, 5xx, and any other non-2xx status without a RongCloud code.
pub fn http_error(
    operation: &str,
    status: u16,
    retry_after: Option<&str>,
    vendor: VendorFields,
) -> ProviderError {
    let mut e = match status {
        401 => error::new(
            ErrorKind::Unauthenticated,
            format!(
                "RongCloud refused {operation} with HTTP 401: the signature did not verify; check \
                 that the provider's `app_secret` secret belongs to its `app_key` and that the \
                 gateway's clock is right"
            ),
        ),
        _ => error::from_http_status("RongCloud", operation, status, retry_after),
    };
    e.vendor_code = vendor.code;
    e.vendor_message = vendor.message;
    e.vendor_request_id = vendor.request_id;
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code in `shared/vendors/rongcloud.md` (the callback's `code` list), with its
    /// mapping when an API call answers it.
    const SPEC_CODES: &[(i64, ErrorKind, bool)] = &[
        (61000, Unsupported, false),
        (61010, InvalidArgument, false),
        (61011, InvalidArgument, false),
        (61012, InvalidArgument, false),
        (61013, Unavailable, true),
        (61014, Unavailable, true),
        (61015, VendorInternal, true),
        (61017, VendorInternal, false),
        (61101, InvalidArgument, false),
        (61102, Unavailable, true),
        (61103, Unavailable, true),
    ];

    #[test]
    fn every_spec_code_is_mapped_and_explained() {
        for (code, kind, retryable) in SPEC_CODES {
            let m = meaning(*code);
            assert_eq!((m.kind, m.retryable), (*kind, *retryable), "{code}");
            assert!(m.hint.is_some(), "{code}");
        }
    }

    #[test]
    fn every_code_has_one_meaning() {
        assert!(
            error::duplicate_codes(CODES).is_empty(),
            "{:?}",
            error::duplicate_codes(CODES)
        );
        // And the table holds exactly the spec's codes.
        let listed: usize = CODES
            .iter()
            .map(|m| match m.codes {
                error::Codes::Exact(codes) => codes.len(),
                error::Codes::Family(_) => 1,
            })
            .sum();
        assert_eq!(listed, SPEC_CODES.len());
    }

    #[test]
    fn unknown_codes_are_vendor_internal() {
        for code in [0, 1, 1002, 1004, 61016, 61104, 99999, -1] {
            let m = meaning(code);
            assert_eq!((m.kind, m.retryable), (VendorInternal, false), "{code}");
            assert!(m.hint.is_none());
            assert!(error::meaning(CODES, code).is_none(), "{code}");
        }
        let e = vendor_error("start", 20001, "weird", Some("r".into()));
        assert_eq!((e.kind, e.retryable), (VendorInternal, false));
        assert_eq!(e.vendor_code.as_deref(), Some("20001"));
        assert_eq!(e.vendor_message.as_deref(), Some("weird"));
        assert_eq!(e.vendor_request_id.as_deref(), Some("r"));
        assert!(e.message.contains("does not know"));
    }

    #[test]
    fn vendor_error_keeps_fields() {
        let e = vendor_error("start", 61012, "rtmp_url invalid", None);
        assert_eq!((e.kind, e.retryable), (InvalidArgument, false));
        assert!(e.message.contains("61012"), "{}", e.message);
        assert_eq!(
            e.message,
            "RongCloud start failed with code 61012: RongCloud's field validation failed \
             (user_id, media_type, room_type, rtmp_url, rtsp_transport; or no cloud player runs \
             for this user in this room)"
        );
        assert_eq!(e.vendor_code.as_deref(), Some("61012"));
        let e = vendor_error("stop", 61014, "", None);
        assert_eq!((e.kind, e.retryable), (Unavailable, true));
    }

    #[test]
    fn http_statuses() {
        let e = http_error(
            "start",
            401,
            None,
            VendorFields {
                code: Some("1004".into()),
                message: Some("signature error".into()),
                request_id: Some("r".into()),
            },
        );
        assert_eq!((e.kind, e.retryable), (Unauthenticated, false));
        assert_eq!(e.vendor_code.as_deref(), Some("1004"));
        assert!(e.message.contains("app_secret"));
        let e = http_error("start", 503, None, VendorFields::default());
        assert_eq!((e.kind, e.retryable), (Unavailable, true));
        let e = http_error("start", 429, Some(" 7 "), VendorFields::default());
        assert_eq!(
            (e.kind, e.retryable, e.retry_after_secs),
            (RateLimited, true, Some(7))
        );
        let e = http_error("start", 429, Some("soon"), VendorFields::default());
        assert_eq!(e.retry_after_secs, None);
        let e = http_error("stop", 302, None, VendorFields::default());
        assert_eq!((e.kind, e.retryable), (VendorInternal, false));
    }
}
