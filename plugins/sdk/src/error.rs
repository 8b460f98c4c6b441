//! Building normalized [`ProviderError`]s.

use crate::{ErrorKind, ProviderError};

/// A provider error of `kind` with a client-facing `message` and nothing from the vendor.
pub fn new(kind: ErrorKind, message: impl Into<String>) -> ProviderError {
    ProviderError {
        kind,
        message: message.into(),
        vendor_code: None,
        vendor_message: None,
        vendor_request_id: None,
        retryable: retryable_by_default(kind),
        retry_after_secs: None,
    }
}

/// An `invalid-argument` error: the message should name the field and say what is expected.
pub fn invalid_argument(message: impl Into<String>) -> ProviderError {
    new(ErrorKind::InvalidArgument, message)
}

/// An `unsupported` error for an operation or direction this provider lacks.
pub fn unsupported(message: impl Into<String>) -> ProviderError {
    new(ErrorKind::Unsupported, message)
}

/// A `vendor-internal` error for a vendor answer the plugin cannot understand
/// (malformed JSON, missing fields).
pub fn bad_vendor_response(what: impl std::fmt::Display) -> ProviderError {
    new(
        ErrorKind::VendorInternal,
        format!("the vendor's response could not be understood: {what}"),
    )
}

/// Whether an error of this kind is worth retrying unchanged, when the vendor says nothing more.
pub fn retryable_by_default(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::RateLimited | ErrorKind::Unavailable | ErrorKind::Timeout
    )
}

/// An error the vendor answered: the plugin's `kind` and `message`, plus the vendor's own
/// `code`, `message` and request id kept verbatim.
pub fn from_vendor(
    kind: ErrorKind,
    message: impl Into<String>,
    vendor_code: &str,
    vendor_message: &str,
    vendor_request_id: Option<String>,
) -> ProviderError {
    ProviderError {
        vendor_code: Some(vendor_code.to_string()),
        vendor_message: Some(vendor_message.to_string()),
        vendor_request_id,
        ..new(kind, message)
    }
}
