//! Building normalized [`ProviderError`]s.
//!
//! A provider error is a value the host reports as is (a panic is a `plugin-fault`). Keep the
//! vendor's own code, message and request id, and write the message for the API client:
//!
//! ```
//! use ingest_plugin_sdk::{ErrorKind, error};
//!
//! let e = error::from_vendor(
//!     ErrorKind::Unauthenticated,
//!     "the vendor refused the signature; check the provider's `api_secret`",
//!     "AuthFailure.SignatureFailure",
//!     "The provided credentials could not be validated.",
//!     Some("req-1".to_string()),
//! );
//! assert!(!e.retryable);
//! assert_eq!(e.vendor_code.as_deref(), Some("AuthFailure.SignatureFailure"));
//! assert!(error::new(ErrorKind::RateLimited, "slow down").retryable);
//! ```

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

/// The `unsupported` answer of an operation this provider does not offer (and leaves out of
/// `describe`'s operations), with the plugin's own explanation: why the vendor has no such
/// call, and what to use instead. [`testing::assert_operations_implemented`] counts an
/// operation answered this way as not implemented, like the [`Guest`](crate::Guest) default.
///
/// ```
/// use ingest_plugin_sdk::{ErrorKind, error};
///
/// let e = error::not_offered("the vendor has no status API; state arrives by callback");
/// assert_eq!(e.kind, ErrorKind::Unsupported);
/// ```
///
/// [`testing::assert_operations_implemented`]: crate::testing::assert_operations_implemented
pub fn not_offered(explanation: impl Into<String>) -> ProviderError {
    crate::testing::note_default_answered();
    unsupported(explanation)
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

/// `Retry-After` in delta-seconds (surrounding white space allowed); the HTTP-date form and
/// anything else unreadable give `None`.
pub fn parse_retry_after(value: &str) -> Option<u32> {
    value.trim().parse::<u32>().ok()
}

/// The error for a non-2xx HTTP `status` that the vendor explained no further (no error
/// envelope, or one the plugin decided not to use):
///
/// - 429 → `rate-limited`, retryable, with `retry_after_secs` from the `Retry-After` header
///   value `retry_after` when it holds delta-seconds ([`parse_retry_after`]);
/// - 5xx → `unavailable`, retryable;
/// - anything else → `vendor-internal`, not retryable.
///
/// The message reads "`{vendor}` answered `{action}` with HTTP …"; `vendor` is the vendor's
/// display name (`"ZEGO"`, `"Tencent TRTC"`) and `action` the API call. The vendor fields are
/// left empty: set them on the result if the body carried any. Statuses a vendor gives a
/// meaning of its own (RongCloud's 401, say) belong in the plugin, before this fallback.
pub fn from_http_status(
    vendor: &str,
    action: &str,
    status: u16,
    retry_after: Option<&str>,
) -> ProviderError {
    let (kind, message) = match status {
        429 => (
            ErrorKind::RateLimited,
            format!(
                "{vendor} answered {action} with HTTP 429 (too many requests); retry after a pause"
            ),
        ),
        500..=599 => (
            ErrorKind::Unavailable,
            format!("{vendor} answered {action} with HTTP {status}; retry later"),
        ),
        _ => (
            ErrorKind::VendorInternal,
            format!("{vendor} answered {action} with unexpected HTTP status {status}"),
        ),
    };
    let mut e = new(kind, message);
    if status == 429 {
        e.retry_after_secs = retry_after.and_then(parse_retry_after);
    }
    e
}

/// A vendor error code as a code table ([`Meaning`]) holds it (`&'static str` or `i64`), and
/// how a code read from an answer ([`VendorCode::Key`]: a borrowed `&str`, or an `i64`) is
/// matched against it: equal, or by its family.
pub trait VendorCode: Copy + PartialEq + std::fmt::Debug + 'static {
    /// A code as read from a vendor's answer.
    type Key<'a>: Copy;

    /// Whether this code is `key`.
    fn is(&self, key: Self::Key<'_>) -> bool;

    /// The family a [`Codes::Family`] row names: for text codes the part before the first
    /// `.` (`AuthFailure` of `AuthFailure.SignatureExpire`, as Tencent and Alibaba group
    /// theirs); numeric codes have none.
    fn family_of<'a>(key: Self::Key<'a>) -> Option<&'a str>;
}

impl VendorCode for &'static str {
    type Key<'a> = &'a str;

    fn is(&self, key: &str) -> bool {
        *self == key
    }

    fn family_of<'a>(key: Self::Key<'a>) -> Option<&'a str> {
        key.split('.').next()
    }
}

impl VendorCode for i64 {
    type Key<'a> = i64;

    fn is(&self, key: i64) -> bool {
        *self == key
    }

    fn family_of<'a>(_: Self::Key<'a>) -> Option<&'a str> {
        None
    }
}

/// Which codes a row of a code table covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codes<C: 'static> {
    /// These codes exactly.
    Exact(&'static [C]),
    /// Every code of this family ([`VendorCode::family`]) that no exact row names.
    Family(&'static str),
}

/// What a vendor's error code means to the gateway: one row of a plugin's code table, which
/// keeps the kind, whether a retry can succeed and the hint for the API client together, so a
/// code is described once.
///
/// ```
/// use ingest_plugin_sdk::ErrorKind::*;
/// use ingest_plugin_sdk::error::{self, Meaning};
///
/// const CODES: &[Meaning<&str>] = &[
///     Meaning::exact(&["Auth.BadSignature"], Unauthenticated, false,
///         Some("the signature did not verify; check the provider's `api_secret`")),
///     Meaning::exact(&["Throttled"], RateLimited, true, Some("retry after a pause")),
///     Meaning::family("Auth", Unauthenticated, false, None),
/// ];
/// let m = error::meaning(CODES, "Auth.BadSignature").expect("listed");
/// assert_eq!((m.kind, m.retryable), (Unauthenticated, false));
/// assert_eq!(error::meaning(CODES, "Auth.Expired").map(|m| m.hint), Some(None));
/// assert!(error::meaning(CODES, "Other").is_none());
/// // A code read from an answer is borrowed:
/// let answer = String::from("Throttled");
/// assert!(error::meaning(CODES, answer.as_str()).is_some_and(|m| m.retryable));
/// assert!(error::duplicate_codes(CODES).is_empty());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meaning<C: 'static> {
    /// The codes the row covers.
    pub codes: Codes<C>,
    /// Their normalized kind.
    pub kind: ErrorKind,
    /// Whether repeating the same request later can succeed.
    pub retryable: bool,
    /// A sentence for the API client explaining the code and how to fix it, where there is one.
    pub hint: Option<&'static str>,
}

impl<C: 'static> Meaning<C> {
    /// A row for these codes exactly.
    pub const fn exact(
        codes: &'static [C],
        kind: ErrorKind,
        retryable: bool,
        hint: Option<&'static str>,
    ) -> Self {
        Self {
            codes: Codes::Exact(codes),
            kind,
            retryable,
            hint,
        }
    }

    /// A row for a family of codes ([`VendorCode::family`]).
    pub const fn family(
        family: &'static str,
        kind: ErrorKind,
        retryable: bool,
        hint: Option<&'static str>,
    ) -> Self {
        Self {
            codes: Codes::Family(family),
            kind,
            retryable,
            hint,
        }
    }
}

impl<C: VendorCode> Meaning<C> {
    /// The error for an answer carrying this code: `message` for the API client, the row's
    /// kind and retryability, the vendor's code, message and request id kept verbatim.
    pub fn error(
        &self,
        message: impl Into<String>,
        vendor_code: &str,
        vendor_message: &str,
        vendor_request_id: Option<String>,
    ) -> ProviderError {
        ProviderError {
            retryable: self.retryable,
            ..from_vendor(
                self.kind,
                message,
                vendor_code,
                vendor_message,
                vendor_request_id,
            )
        }
    }
}

/// The row of `table` for `code` (as read from the vendor's answer): a row naming it
/// exactly, else a family row for it, else `None` (a code the plugin does not know).
pub fn meaning<'t, C: VendorCode>(
    table: &'t [Meaning<C>],
    code: C::Key<'_>,
) -> Option<&'t Meaning<C>> {
    table
        .iter()
        .find(|m| matches!(m.codes, Codes::Exact(codes) if codes.iter().any(|c| c.is(code))))
        .or_else(|| {
            let family = C::family_of(code)?;
            table
                .iter()
                .find(|m| matches!(m.codes, Codes::Family(f) if f == family))
        })
}

/// Codes (and families, as text) that more than one row of `table` names; a plugin's tests
/// assert there are none, so every code has one meaning.
pub fn duplicate_codes<C: VendorCode>(table: &[Meaning<C>]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    let mut duplicates = Vec::new();
    for row in table {
        let keys: Vec<String> = match row.codes {
            Codes::Exact(codes) => codes.iter().map(|c| format!("{c:?}")).collect(),
            Codes::Family(f) => vec![format!("family {f}")],
        };
        for key in keys {
            if seen.contains(&key) {
                duplicates.push(key);
            } else {
                seen.push(key);
            }
        }
    }
    duplicates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_statuses() {
        let e = from_http_status("V", "Act", 429, Some(" 7 "));
        assert_eq!(
            (e.kind, e.retryable, e.retry_after_secs),
            (ErrorKind::RateLimited, true, Some(7))
        );
        assert!(
            e.message.starts_with("V answered Act with HTTP 429"),
            "{}",
            e.message
        );
        let e = from_http_status("V", "Act", 429, Some("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(e.retry_after_secs, None);
        let e = from_http_status("V", "Act", 503, Some("5"));
        assert_eq!(
            (e.kind, e.retryable, e.retry_after_secs),
            (ErrorKind::Unavailable, true, None)
        );
        let e = from_http_status("V", "Act", 404, None);
        assert_eq!((e.kind, e.retryable), (ErrorKind::VendorInternal, false));
        assert!(e.vendor_code.is_none() && e.vendor_request_id.is_none());
    }
}
