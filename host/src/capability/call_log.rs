//! One call's record, shared by its credentials (which add placeholders) and the egress path
//! (which substitutes them, records each request and notes refusals and failures).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use zeroize::Zeroizing;

/// A value a placeholder stands for, replaced when a request leaves.
#[derive(Clone)]
pub(crate) struct Substitution {
    pub(crate) token: String,
    pub(crate) value: Zeroizing<Vec<u8>>,
    /// What dry-run output shows instead of the value.
    pub(crate) label: String,
}

/// An outgoing request as it goes on the wire (placeholders shown by their labels).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RecordedRequest {
    /// Method.
    pub method: String,
    /// Full URL.
    pub url: String,
    /// Headers in order, values as text.
    pub headers: Vec<(String, String)>,
    /// Body as UTF-8 (lossy).
    pub body: String,
}

/// What the host learnt about one call's egress: shared by the call's credentials (which add
/// placeholders) and the egress path (which uses them, records requests and notes refusals).
#[derive(Default)]
pub struct CallLog {
    /// Placeholders the plugin asked for.
    pub(crate) substitutions: Vec<Substitution>,
    /// Requests made (dry-run: all of them; live: recorded too, with labels).
    pub requests: Vec<RecordedRequest>,
    /// Why requests were refused, in the host's words.
    pub denials: Vec<String>,
    /// Transport failures and timeouts, in the host's words.
    pub failures: Vec<String>,
    /// Duration of each vendor exchange that got an answer.
    pub latencies: Vec<Duration>,
}

/// A handle on a [`CallLog`].
#[derive(Clone, Default)]
pub struct SharedCallLog(Arc<Mutex<CallLog>>);

impl SharedCallLog {
    /// Locks the log. A poisoned lock (a panic elsewhere) still yields the data.
    pub fn lock(&self) -> MutexGuard<'_, CallLog> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes (and logs) that the egress policy refused a request; the reason back.
    pub(crate) fn deny(&self, reason: String) -> String {
        tracing::warn!(%reason, "egress refused");
        self.lock().denials.push(reason.clone());
        reason
    }

    /// Notes a transport failure or timeout; the reason back.
    pub(crate) fn fail(&self, reason: String) -> String {
        self.lock().failures.push(reason.clone());
        reason
    }
}
