//! Session references: what `start` returns for the host to hand back to `stop`, `status`
//! and `update`, and what `parse-callback` rebuilds from a vendor's callback.
//!
//! A reference is 1 to [`MAX_SESSION_REF_BYTES`] bytes (the contract's bound, the same
//! definition the host enforces). Most plugins keep a small struct as compact JSON
//! ([`encode`], [`decode`]); a vendor's own task id can travel as it is ([`opaque`]).
//!
//! ```
//! use ingest_plugin_sdk::session;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, PartialEq, Serialize, Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Relay {
//!     room_id: String,
//!     task_id: String,
//! }
//!
//! let relay = Relay { room_id: "r1".into(), task_id: "t-9".into() };
//! let text = session::encode(&relay, "`room_id` and the task id").expect("fits");
//! assert_eq!(text, r#"{"room_id":"r1","task_id":"t-9"}"#);
//! let back: Relay = session::decode(&text, r#"{"room_id":"…","task_id":"…"}"#).expect("ours");
//! assert_eq!(back, relay);
//!
//! // Too long to travel: refused with the sizes, naming what made it long.
//! let long = Relay { room_id: "r".repeat(3000), task_id: "t".into() };
//! let e = session::encode(&long, "`room_id` and the task id").expect_err("too long");
//! assert!(e.message.contains("at most 2048 fit"), "{}", e.message);
//! assert!(session::decode::<Relay>("{}", "…").is_err());
//! assert!(session::opaque("").is_err());
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ProviderError;
use crate::error::invalid_argument;

/// The longest session reference, in bytes: the contract's bound (`ingest-contract`), which
/// the host enforces on every reference a plugin returns.
pub use ingest_contract::MAX_SESSION_REF_BYTES;

/// Whether `text` has a session reference's length (1 to [`MAX_SESSION_REF_BYTES`] bytes).
pub fn fits(text: &str) -> bool {
    !text.is_empty() && text.len() <= MAX_SESSION_REF_BYTES
}

/// `value` as compact JSON (fields in declaration order, so the same value always gives the
/// same text), refused as `invalid-argument` when it does not fit; `what` names the request
/// fields that make it up, for the message.
pub fn encode<T: Serialize>(value: &T, what: &str) -> Result<String, ProviderError> {
    let text = serde_json::to_string(value).map_err(|e| {
        invalid_argument(format!("the session reference could not be encoded: {e}"))
    })?;
    if !fits(&text) {
        return Err(invalid_argument(format!(
            "{what} together make a session reference of {} bytes; at most \
             {MAX_SESSION_REF_BYTES} fit",
            text.len()
        )));
    }
    Ok(text)
}

/// A reference [`encode`] made, read back; anything else (another plugin's, a client's
/// invention, too long) is `invalid-argument` showing the `shape` this plugin writes.
/// Check the fields' values after decoding, as for a new request.
pub fn decode<T: DeserializeOwned>(text: &str, shape: &str) -> Result<T, ProviderError> {
    let bad = || {
        invalid_argument(format!(
            "`session_ref` is not one this plugin produced; it must be {shape}"
        ))
    };
    if !fits(text) {
        return Err(bad());
    }
    serde_json::from_str(text).map_err(|_| bad())
}

/// A vendor's own identifier (a task id, a player id) used as the reference as it is,
/// refused as `invalid-argument` when it is empty or does not fit.
pub fn opaque(id: &str) -> Result<&str, ProviderError> {
    if fits(id) {
        Ok(id)
    } else {
        Err(invalid_argument(format!(
            "`session_ref` must be 1 to {MAX_SESSION_REF_BYTES} bytes (it is {})",
            id.len()
        )))
    }
}
