//! Mapping Tencent Cloud error codes and HTTP failures to the gateway's error taxonomy.

use ingest_plugin_sdk::error;
pub use ingest_plugin_sdk::error::parse_retry_after;
use ingest_plugin_sdk::{ErrorKind, ProviderError};

/// The normalized kind of a Tencent Cloud error code, and whether repeating the same request
/// later can succeed.
///
/// Exact codes first (every code the vendor spec lists for the stream-ingest actions and the
/// common codes), then the code's category (the part before the first `.`), as Tencent Cloud
/// groups its codes; anything else is `vendor-internal`, not retryable.
pub fn kind_for(code: &str) -> (ErrorKind, bool) {
    use ErrorKind::*;
    match code {
        // Credentials and signature.
        "AuthFailure.UnauthorizedOperation" | "UnauthorizedOperation" => (PermissionDenied, false),
        "AuthFailure.SignatureExpire"
        | "AuthFailure.SignatureFailure"
        | "AuthFailure.SecretIdNotFound"
        | "AuthFailure.InvalidSecretId"
        | "AuthFailure.InvalidAuthorization"
        | "AuthFailure.TokenFailure" => (Unauthenticated, false),
        // Rate and quota.
        "RequestLimitExceeded" => (RateLimited, true),
        "FailedOperation.RestrictedConcurrency" | "LimitExceeded" => (QuotaExceeded, false),
        "ResourceInsufficient.RequestRejection" => (QuotaExceeded, true),
        // Task state.
        "FailedOperation.TaskExist" => (AlreadyExists, false),
        "FailedOperation.TaskFinished" | "ResourceInUse" => (FailedPrecondition, false),
        "FailedOperation.TaskNotExist" | "ResourceNotFound" => (NotFound, false),
        "FailedOperation.NotAllowed" => (PermissionDenied, false),
        // Vendor-side failures the vendor says to retry.
        "FailedOperation.QueryTaskInfoFailed"
        | "InternalError"
        | "InternalError.InternalError"
        | "InternalError.HttpParseFailed"
        | "InternalError.DBError" => (VendorInternal, true),
        // The request itself.
        "InvalidParameter.BodyParamsError"
        | "InvalidParameter.RoomId"
        | "InvalidParameter.SdkAppId"
        | "InvalidParameter.StrRoomId"
        | "InvalidParameter.StreamUrl"
        | "InvalidParameter.TaskId"
        | "InvalidParameter.UserSig"
        | "MissingParameter.RoomId"
        | "MissingParameter.SdkAppId"
        | "MissingParameter.TaskId" => (InvalidArgument, false),
        // What this account, region or API version cannot do.
        "UnsupportedRegion" | "UnsupportedOperation" | "ActionOffline" | "NoSuchVersion" => {
            (Unsupported, false)
        }
        other => match other.split('.').next().unwrap_or_default() {
            "AuthFailure" => (Unauthenticated, false),
            "InvalidParameter" | "InvalidParameterValue" | "MissingParameter" => {
                (InvalidArgument, false)
            }
            "InternalError" => (VendorInternal, true),
            "RequestLimitExceeded" => (RateLimited, true),
            "LimitExceeded" | "ResourceInsufficient" => (QuotaExceeded, false),
            "ResourceNotFound" => (NotFound, false),
            "ResourceInUse" => (FailedPrecondition, false),
            "UnsupportedOperation" => (Unsupported, false),
            _ => (VendorInternal, false),
        },
    }
}

/// A sentence for the API client explaining `code` and how to fix it, where there is one.
pub fn hint_for(code: &str) -> Option<&'static str> {
    Some(match code {
        "AuthFailure.SignatureExpire" => {
            "the request timestamp is more than 5 minutes away from Tencent Cloud's clock; \
             check that the gateway host's clock is synchronised (NTP)"
        }
        "AuthFailure.SignatureFailure" | "AuthFailure.InvalidAuthorization" => {
            "the request signature did not verify; check that the provider's `secret_key` \
             secret belongs to its `secret_id`"
        }
        "AuthFailure.SecretIdNotFound" | "AuthFailure.InvalidSecretId" => {
            "Tencent Cloud does not know the provider's `secret_id` (or it is disabled); \
             check the secret"
        }
        "AuthFailure.TokenFailure" => "Tencent Cloud rejected the credential token",
        "AuthFailure.UnauthorizedOperation" | "UnauthorizedOperation" => {
            "the `secret_id`'s CAM policy does not allow this TRTC action; grant it in the \
             Tencent Cloud console"
        }
        "FailedOperation.NotAllowed" => {
            "Tencent TRTC does not allow this operation for the application (the stream-ingest \
             feature may need enabling for the SDKAppID)"
        }
        "RequestLimitExceeded" => {
            "Tencent TRTC's rate limit (20 requests/s) was exceeded; retry after a pause"
        }
        "FailedOperation.RestrictedConcurrency" => {
            "the application's limit of concurrent stream-ingest tasks is reached; stop an ingest \
             or ask Tencent Cloud to raise the limit"
        }
        "LimitExceeded" => "a Tencent Cloud quota is exhausted",
        "ResourceInsufficient.RequestRejection" => {
            "Tencent TRTC is short of resources and rejected the request; retry later"
        }
        "FailedOperation.TaskExist" => "the ingest task already exists",
        "FailedOperation.TaskFinished" => "the ingest task has already finished",
        "FailedOperation.TaskNotExist" | "ResourceNotFound" => {
            "the ingest task does not exist (it may have finished and been forgotten)"
        }
        "ResourceInUse" => "the resource is in use",
        "FailedOperation.QueryTaskInfoFailed" => {
            "Tencent TRTC could not read the task's state; retry"
        }
        "InvalidParameter.SdkAppId" | "MissingParameter.SdkAppId" => {
            "Tencent TRTC rejected the SdkAppId; check the provider config key `sdk_app_id`"
        }
        "InvalidParameter.RoomId" | "InvalidParameter.StrRoomId" | "MissingParameter.RoomId" => {
            "Tencent TRTC rejected `room_id`; with room_id_type 1 it must be a 32-bit integer, \
             with 0 a string room id"
        }
        "InvalidParameter.StreamUrl" => {
            "Tencent TRTC rejected `stream_url`; it must be a source the vendor can pull \
             (RTMP, HLS, FLV or MP4 over rtmp(s)/http(s))"
        }
        "InvalidParameter.UserSig" => {
            "Tencent TRTC rejected the UserSig; it must be a valid, unexpired UserSig for \
             `user_id` made with the application's SDKSecretKey: check `options.user_sig` if \
             given, else the provider's secret `sdk_secret_key` (and `sdk_app_id`)"
        }
        "InvalidParameter.TaskId" | "MissingParameter.TaskId" => {
            "Tencent TRTC rejected the task id carried by the session reference"
        }
        "InvalidParameter.BodyParamsError" => "Tencent TRTC rejected the request body",
        "UnsupportedRegion" => {
            "Tencent TRTC does not serve this region; set the provider config key `region` to a \
             supported one (e.g. ap-guangzhou, or ap-singapore on the international site)"
        }
        "UnsupportedOperation" => "Tencent TRTC does not support this operation here",
        "ActionOffline" | "NoSuchVersion" => {
            "Tencent TRTC no longer offers this action or API version (2019-07-22)"
        }
        c if c.starts_with("InternalError") => "Tencent TRTC failed internally; retry",
        _ => return None,
    })
}

/// The error for a Tencent Cloud `Error` object, keeping code, message and request id.
pub fn vendor_error(
    action: &str,
    code: &str,
    vendor_message: &str,
    request_id: Option<String>,
) -> ProviderError {
    let (kind, retryable) = kind_for(code);
    let message = match hint_for(code) {
        Some(hint) => format!("Tencent TRTC {action} failed with {code}: {hint}"),
        None => format!(
            "Tencent TRTC {action} failed with {code}, a code this plugin does not know; \
             see vendor_message"
        ),
    };
    ProviderError {
        retryable,
        ..error::from_vendor(kind, message, code, vendor_message, request_id)
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
    use ErrorKind::*;

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

    #[test]
    fn every_spec_code_is_mapped() {
        for (code, kind, retryable) in SPEC_CODES {
            assert_eq!(kind_for(code), (*kind, *retryable), "{code}");
        }
    }

    #[test]
    fn every_spec_code_has_a_hint() {
        for (code, _, _) in SPEC_CODES {
            assert!(hint_for(code).is_some(), "{code}");
        }
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
