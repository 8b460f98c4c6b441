//! Mapping Tencent Cloud error codes and HTTP failures to the gateway's error taxonomy.

use ingest_plugin_sdk::ErrorKind::*;
pub use ingest_plugin_sdk::error::parse_retry_after;
use ingest_plugin_sdk::error::{self, Meaning};
use ingest_plugin_sdk::{ErrorKind, ProviderError};

/// Every Tencent Cloud error code this plugin knows, once: its normalized kind, whether
/// repeating the same request later can succeed, and a sentence for the API client explaining
/// it and how to fix it.
///
/// Exact codes first (every code the vendor spec lists for the stream-ingest actions and the
/// common codes), then the code's category (the part before the first `.`), as Tencent Cloud
/// groups its codes; anything else is `vendor-internal`, not retryable, without a hint.
pub const CODES: &[Meaning<&str>] = &[
    // Credentials and signature.
    Meaning::exact(
        &["AuthFailure.UnauthorizedOperation", "UnauthorizedOperation"],
        PermissionDenied,
        false,
        Some(
            "the `secret_id`'s CAM policy does not allow this TRTC action; grant it in the \
             Tencent Cloud console",
        ),
    ),
    Meaning::exact(
        &["AuthFailure.SignatureExpire"],
        Unauthenticated,
        false,
        Some(
            "the request timestamp is more than 5 minutes away from Tencent Cloud's clock; \
             check that the gateway host's clock is synchronised (NTP)",
        ),
    ),
    Meaning::exact(
        &[
            "AuthFailure.SignatureFailure",
            "AuthFailure.InvalidAuthorization",
        ],
        Unauthenticated,
        false,
        Some(
            "the request signature did not verify; check that the provider's `secret_key` \
             secret belongs to its `secret_id`",
        ),
    ),
    Meaning::exact(
        &[
            "AuthFailure.SecretIdNotFound",
            "AuthFailure.InvalidSecretId",
        ],
        Unauthenticated,
        false,
        Some(
            "Tencent Cloud does not know the provider's `secret_id` (or it is disabled); \
             check the secret",
        ),
    ),
    Meaning::exact(
        &["AuthFailure.TokenFailure"],
        Unauthenticated,
        false,
        Some("Tencent Cloud rejected the credential token"),
    ),
    // Rate and quota.
    Meaning::exact(
        &["RequestLimitExceeded"],
        RateLimited,
        true,
        Some("Tencent TRTC's rate limit (20 requests/s) was exceeded; retry after a pause"),
    ),
    Meaning::exact(
        &["FailedOperation.RestrictedConcurrency"],
        QuotaExceeded,
        false,
        Some(
            "the application's limit of concurrent stream-ingest tasks is reached; stop an \
             ingest or ask Tencent Cloud to raise the limit",
        ),
    ),
    Meaning::exact(
        &["LimitExceeded"],
        QuotaExceeded,
        false,
        Some("a Tencent Cloud quota is exhausted"),
    ),
    Meaning::exact(
        &["ResourceInsufficient.RequestRejection"],
        QuotaExceeded,
        true,
        Some("Tencent TRTC is short of resources and rejected the request; retry later"),
    ),
    // Task state.
    Meaning::exact(
        &["FailedOperation.TaskExist"],
        AlreadyExists,
        false,
        Some("the ingest task already exists"),
    ),
    Meaning::exact(
        &["FailedOperation.TaskFinished"],
        FailedPrecondition,
        false,
        Some("the ingest task has already finished"),
    ),
    Meaning::exact(
        &["ResourceInUse"],
        FailedPrecondition,
        false,
        Some("the resource is in use"),
    ),
    Meaning::exact(
        &["FailedOperation.TaskNotExist", "ResourceNotFound"],
        NotFound,
        false,
        Some("the ingest task does not exist (it may have finished and been forgotten)"),
    ),
    Meaning::exact(
        &["FailedOperation.NotAllowed"],
        PermissionDenied,
        false,
        Some(
            "Tencent TRTC does not allow this operation for the application (the \
             stream-ingest feature may need enabling for the SDKAppID)",
        ),
    ),
    // Vendor-side failures the vendor says to retry (the `InternalError` family below covers
    // `InternalError`, `InternalError.InternalError`, `.HttpParseFailed` and `.DBError`).
    Meaning::exact(
        &["FailedOperation.QueryTaskInfoFailed"],
        VendorInternal,
        true,
        Some("Tencent TRTC could not read the task's state; retry"),
    ),
    // The request itself.
    Meaning::exact(
        &["InvalidParameter.SdkAppId", "MissingParameter.SdkAppId"],
        InvalidArgument,
        false,
        Some("Tencent TRTC rejected the SdkAppId; check the provider config key `sdk_app_id`"),
    ),
    Meaning::exact(
        &[
            "InvalidParameter.RoomId",
            "InvalidParameter.StrRoomId",
            "MissingParameter.RoomId",
        ],
        InvalidArgument,
        false,
        Some(
            "Tencent TRTC rejected `room_id`; with room_id_type 1 it must be a 32-bit integer, \
             with 0 a string room id",
        ),
    ),
    Meaning::exact(
        &["InvalidParameter.StreamUrl"],
        InvalidArgument,
        false,
        Some(
            "Tencent TRTC rejected `stream_url`; it must be a source the vendor can pull \
             (RTMP, HLS, FLV or MP4 over rtmp(s)/http(s))",
        ),
    ),
    Meaning::exact(
        &["InvalidParameter.UserSig"],
        InvalidArgument,
        false,
        Some(
            "Tencent TRTC rejected the UserSig; it must be a valid, unexpired UserSig for \
             `user_id` made with the application's SDKSecretKey: check `options.user_sig` if \
             given, else the provider's secret `sdk_secret_key` (and `sdk_app_id`)",
        ),
    ),
    Meaning::exact(
        &["InvalidParameter.TaskId", "MissingParameter.TaskId"],
        InvalidArgument,
        false,
        Some("Tencent TRTC rejected the task id carried by the session reference"),
    ),
    Meaning::exact(
        &["InvalidParameter.BodyParamsError"],
        InvalidArgument,
        false,
        Some("Tencent TRTC rejected the request body"),
    ),
    // What this account, region or API version cannot do.
    Meaning::exact(
        &["UnsupportedRegion"],
        Unsupported,
        false,
        Some(
            "Tencent TRTC does not serve this region; set the provider config key `region` to \
             a supported one (e.g. ap-guangzhou, or ap-singapore on the international site)",
        ),
    ),
    Meaning::exact(
        &["UnsupportedOperation"],
        Unsupported,
        false,
        Some("Tencent TRTC does not support this operation here"),
    ),
    Meaning::exact(
        &["ActionOffline", "NoSuchVersion"],
        Unsupported,
        false,
        Some("Tencent TRTC no longer offers this action or API version (2019-07-22)"),
    ),
    // Categories.
    Meaning::family("AuthFailure", Unauthenticated, false, None),
    Meaning::family("InvalidParameter", InvalidArgument, false, None),
    Meaning::family("InvalidParameterValue", InvalidArgument, false, None),
    Meaning::family("MissingParameter", InvalidArgument, false, None),
    Meaning::family(
        "InternalError",
        VendorInternal,
        true,
        Some("Tencent TRTC failed internally; retry"),
    ),
    Meaning::family("RequestLimitExceeded", RateLimited, true, None),
    Meaning::family("LimitExceeded", QuotaExceeded, false, None),
    Meaning::family("ResourceInsufficient", QuotaExceeded, false, None),
    Meaning::family("ResourceNotFound", NotFound, false, None),
    Meaning::family("ResourceInUse", FailedPrecondition, false, None),
    Meaning::family("UnsupportedOperation", Unsupported, false, None),
];

/// The error for a Tencent Cloud `Error` object, keeping code, message and request id.
pub fn vendor_error(
    action: &str,
    code: &str,
    vendor_message: &str,
    request_id: Option<String>,
) -> ProviderError {
    let unknown = || {
        format!(
            "Tencent TRTC {action} failed with {code}, a code this plugin does not know; \
             see vendor_message"
        )
    };
    match error::meaning(CODES, code) {
        Some(m) => {
            let message = match m.hint {
                Some(hint) => format!("Tencent TRTC {action} failed with {code}: {hint}"),
                None => unknown(),
            };
            m.error(message, code, vendor_message, request_id)
        }
        // Not retryable: `vendor-internal`'s default.
        None => error::from_vendor(
            ErrorKind::VendorInternal,
            unknown(),
            code,
            vendor_message,
            request_id,
        ),
    }
}

/// The error for an HTTP status other than 2xx. `vendor` carries the code, message and
/// request id if the body was nevertheless a Tencent Cloud error envelope.
pub fn http_error(
    action: &str,
    status: u16,
    retry_after: Option<&str>,
    vendor: VendorFields,
) -> ProviderError {
    let mut e = error::from_http_status("Tencent TRTC", action, status, retry_after);
    e.vendor_code = vendor.code;
    e.vendor_message = vendor.message;
    e.vendor_request_id = vendor.request_id;
    e
}

/// Vendor fields salvaged from a body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VendorFields {
    /// `Response.Error.Code`.
    pub code: Option<String>,
    /// `Response.Error.Message`.
    pub message: Option<String>,
    /// `Response.RequestId`.
    pub request_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code listed in `shared/vendors/tencent-trtc.md`, with its expected mapping.
    const SPEC_CODES: &[(&str, ErrorKind, bool)] = &[
        // Start.
        ("FailedOperation.NotAllowed", PermissionDenied, false),
        (
            "FailedOperation.RestrictedConcurrency",
            QuotaExceeded,
            false,
        ),
        ("FailedOperation.TaskExist", AlreadyExists, false),
        ("InternalError.HttpParseFailed", VendorInternal, true),
        ("InternalError.InternalError", VendorInternal, true),
        ("InvalidParameter.BodyParamsError", InvalidArgument, false),
        ("InvalidParameter.RoomId", InvalidArgument, false),
        ("InvalidParameter.SdkAppId", InvalidArgument, false),
        ("InvalidParameter.StrRoomId", InvalidArgument, false),
        ("InvalidParameter.StreamUrl", InvalidArgument, false),
        ("InvalidParameter.TaskId", InvalidArgument, false),
        ("InvalidParameter.UserSig", InvalidArgument, false),
        ("MissingParameter.RoomId", InvalidArgument, false),
        ("MissingParameter.SdkAppId", InvalidArgument, false),
        ("MissingParameter.TaskId", InvalidArgument, false),
        ("ResourceInsufficient.RequestRejection", QuotaExceeded, true),
        // Stop.
        ("FailedOperation.TaskFinished", FailedPrecondition, false),
        // Describe.
        ("FailedOperation.QueryTaskInfoFailed", VendorInternal, true),
        ("InternalError.DBError", VendorInternal, true),
        // Update.
        ("FailedOperation.TaskNotExist", NotFound, false),
        // (`MissingParameter.*` is a family: see `categories_and_unknown_codes`.)
        // Common.
        ("AuthFailure.SignatureFailure", Unauthenticated, false),
        ("AuthFailure.SignatureExpire", Unauthenticated, false),
        ("AuthFailure.SecretIdNotFound", Unauthenticated, false),
        ("AuthFailure.InvalidSecretId", Unauthenticated, false),
        ("AuthFailure.InvalidAuthorization", Unauthenticated, false),
        ("AuthFailure.TokenFailure", Unauthenticated, false),
        ("AuthFailure.UnauthorizedOperation", PermissionDenied, false),
        ("RequestLimitExceeded", RateLimited, true),
        ("UnsupportedRegion", Unsupported, false),
        ("InternalError", VendorInternal, true),
        ("LimitExceeded", QuotaExceeded, false),
        ("ResourceNotFound", NotFound, false),
        ("UnsupportedOperation", Unsupported, false),
        ("ResourceInUse", FailedPrecondition, false),
        ("ActionOffline", Unsupported, false),
        ("NoSuchVersion", Unsupported, false),
    ];

    /// The kind and retryability of the error for `code`.
    fn kind_for(code: &str) -> (ErrorKind, bool) {
        let e = vendor_error("StartStreamIngest", code, "", None);
        (e.kind, e.retryable)
    }

    #[test]
    fn every_spec_code_is_mapped() {
        for (code, kind, retryable) in SPEC_CODES {
            assert_eq!(kind_for(code), (*kind, *retryable), "{code}");
            let m = error::meaning(CODES, code).expect(code);
            assert_eq!((m.kind, m.retryable), (*kind, *retryable), "{code}");
        }
    }

    #[test]
    fn every_spec_code_has_a_hint() {
        for (code, _, _) in SPEC_CODES {
            assert!(
                error::meaning(CODES, code).and_then(|m| m.hint).is_some(),
                "{code}"
            );
        }
    }

    /// Every code has one meaning.
    #[test]
    fn no_code_is_listed_twice() {
        assert_eq!(error::duplicate_codes(CODES), Vec::<String>::new());
    }

    #[test]
    fn categories_and_unknown_codes() {
        assert_eq!(kind_for("AuthFailure.Something"), (Unauthenticated, false));
        assert_eq!(
            kind_for("InvalidParameterValue.Foo"),
            (InvalidArgument, false)
        );
        assert_eq!(
            kind_for("MissingParameter.StreamUrl"),
            (InvalidArgument, false)
        );
        assert_eq!(
            kind_for("MissingParameter.UserId"),
            (InvalidArgument, false)
        );
        assert_eq!(
            kind_for("InvalidParameter.Volume"),
            (InvalidArgument, false)
        );
        assert_eq!(kind_for("InternalError.New"), (VendorInternal, true));
        assert_eq!(
            kind_for("RequestLimitExceeded.UinLimitExceeded"),
            (RateLimited, true)
        );
        assert_eq!(kind_for("LimitExceeded.Rooms"), (QuotaExceeded, false));
        assert_eq!(kind_for("ResourceNotFound.Room"), (NotFound, false));
        assert_eq!(kind_for("UnsupportedOperation.X"), (Unsupported, false));
        assert_eq!(
            kind_for("FailedOperation.Brand.New"),
            (VendorInternal, false)
        );
        assert_eq!(kind_for("Nonsense"), (VendorInternal, false));
        assert_eq!(kind_for(""), (VendorInternal, false));
        // Categories and unknown codes have no hint: the message says so.
        for code in ["AuthFailure.Something", "Nonsense"] {
            assert!(
                error::meaning(CODES, code).and_then(|m| m.hint).is_none(),
                "{code}"
            );
            let e = vendor_error("StartStreamIngest", code, "", None);
            assert!(e.message.contains("does not know"), "{code}: {}", e.message);
        }
        assert_eq!(
            error::meaning(CODES, "InternalError.New").and_then(|m| m.hint),
            Some("Tencent TRTC failed internally; retry")
        );
    }

    #[test]
    fn vendor_error_keeps_vendor_fields() {
        let e = vendor_error(
            "StartStreamIngest",
            "AuthFailure.SignatureExpire",
            "Signature expired",
            Some("req-1".into()),
        );
        assert_eq!(e.kind, Unauthenticated);
        assert!(!e.retryable);
        assert!(e.message.contains("clock"), "{}", e.message);
        assert_eq!(
            e.vendor_code.as_deref(),
            Some("AuthFailure.SignatureExpire")
        );
        assert_eq!(e.vendor_message.as_deref(), Some("Signature expired"));
        assert_eq!(e.vendor_request_id.as_deref(), Some("req-1"));

        let e = vendor_error("StopStreamIngest", "Weird.Code", "?", None);
        assert_eq!(e.kind, VendorInternal);
        assert!(!e.retryable);
        assert_eq!(e.vendor_code.as_deref(), Some("Weird.Code"));

        let e = vendor_error(
            "StartStreamIngest",
            "ResourceInsufficient.RequestRejection",
            "",
            None,
        );
        assert_eq!((e.kind, e.retryable), (QuotaExceeded, true));
    }

    #[test]
    fn http_errors() {
        let e = http_error("StartStreamIngest", 503, None, VendorFields::default());
        assert_eq!((e.kind, e.retryable), (Unavailable, true));
        let e = http_error(
            "StartStreamIngest",
            429,
            Some(" 7 "),
            VendorFields::default(),
        );
        assert_eq!(
            (e.kind, e.retryable, e.retry_after_secs),
            (RateLimited, true, Some(7))
        );
        let e = http_error(
            "StartStreamIngest",
            429,
            Some("Wed, 21 Oct 2015 07:28:00 GMT"),
            VendorFields::default(),
        );
        assert_eq!(e.retry_after_secs, None);
        let e = http_error(
            "StartStreamIngest",
            404,
            None,
            VendorFields {
                request_id: Some("r".into()),
                ..VendorFields::default()
            },
        );
        assert_eq!((e.kind, e.retryable), (VendorInternal, false));
        assert_eq!(e.vendor_request_id.as_deref(), Some("r"));
    }
}
