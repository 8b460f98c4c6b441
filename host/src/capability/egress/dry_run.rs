//! Dry runs: the vendor answers played back instead of sent (`ingest-gateway call --dry-run`,
//! the kit's cases). A request is recorded either way; in a dry-run mode it stops here, in
//! front of the vendor client.

use types::TransportError as T;

use super::super::call_log::SharedCallLog;
use crate::contract::types;

/// A vendor response to play back in dry-run mode (`--respond FILE`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CannedResponse {
    /// HTTP status.
    pub status: u16,
    /// Headers, in order.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// Body text.
    #[serde(default)]
    pub body: String,
}

/// Whether vendor requests really leave.
#[derive(Debug, Clone)]
pub enum EgressMode {
    /// Send them.
    Live,
    /// Record them; answer each with the canned response, or with a transport error.
    DryRun(Option<CannedResponse>),
    /// Record them; answer the first request with the first response, the second with the
    /// second, and so on; requests beyond the list get a transport error. For conformance
    /// cases that play back a recorded exchange (`ingest-gateway plugin test`).
    DryRunSequence(Vec<CannedResponse>),
}

impl EgressMode {
    /// Whether vendor requests really leave.
    pub fn is_live(&self) -> bool {
        matches!(self, Self::Live)
    }
}

/// In a dry-run mode: the canned answer to request number `index` (or why there is none).
/// `None` when live.
pub(super) fn dry_run_answer(
    mode: &EgressMode,
    call_log: &SharedCallLog,
    index: usize,
) -> Option<types::VendorAnswer> {
    match mode {
        EgressMode::Live => None,
        EgressMode::DryRun(canned) => Some(match canned {
            Some(c) => Ok(canned_response(c)),
            None => Err(T::NotSent(call_log.fail(
                "dry run: request recorded, not sent (no --respond given)".to_string(),
            ))),
        }),
        EgressMode::DryRunSequence(canned) => Some(match canned.get(index) {
            Some(c) => Ok(canned_response(c)),
            None => Err(T::NotSent(call_log.fail(format!(
                "dry run: request {} recorded, not sent (only {} canned responses)",
                index + 1,
                canned.len()
            )))),
        }),
    }
}

fn canned_response(c: &CannedResponse) -> types::VendorResponse {
    types::VendorResponse {
        status: c.status,
        headers: c.headers.clone(),
        body: c.body.clone().into_bytes(),
    }
}
