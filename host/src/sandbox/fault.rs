//! Faults: a trap, a step past its budget or over its memory becomes a `plugin-fault` with a
//! readable reason and a [`FaultKind`]; a provider error (a value) is completed with what the
//! host saw; every error is scrubbed of secret values before it leaves.

use super::outcome::MAX_ERROR_TEXT;
use super::state::MemoryLimitHit;
use crate::capability::call_log::CallLog;
use crate::capability::secret_scan::{SecretSet, scrub};
use crate::contract::types;
use crate::error::{ApiError, ErrorKind, FaultKind};
use crate::text::clip;

/// Maps a trap or host error during a call to `plugin-fault` with a readable reason, and
/// the fault's class for metrics.
pub(crate) fn classify(
    plugin: &str,
    err: &wasmtime::Error,
    deadline_ms: u64,
) -> (ApiError, FaultKind) {
    let (reason, class) = match err.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => (
            format!(
                "ran past its CPU budget of {deadline_ms} ms for one step (interrupted at the step deadline; runtime.step_budget_ms)"
            ),
            FaultKind::Deadline,
        ),
        Some(wasmtime::Trap::StackOverflow) => ("overflowed its stack".to_string(), FaultKind::Stack),
        Some(wasmtime::Trap::UnreachableCodeReached) => (
            "trapped (unreachable: a panic or abort in the plugin)".to_string(),
            FaultKind::Panic,
        ),
        Some(wasmtime::Trap::MemoryOutOfBounds) => (
            "accessed memory out of bounds (an overflow of the stack it keeps in linear memory, or a bug)"
                .to_string(),
            FaultKind::Stack,
        ),
        Some(trap) => (format!("trapped: {trap}"), FaultKind::Other),
        None => match err.downcast_ref::<MemoryLimitHit>() {
            Some(hit) => (format!("exceeded its memory limit: {hit}"), FaultKind::Memory),
            None => (format!("failed: {err:#}"), FaultKind::Other),
        },
    };
    (
        ApiError::plugin_fault(format!("plugin `{plugin}` {reason}")),
        class,
    )
}

/// A provider error (a value the plugin returned), completed with what the host saw: the
/// reason of a transport failure it reports as `unavailable`, `timeout` or `vendor-internal`.
/// (After a refusal by the egress policy the call reports `denied` instead: [`denied`].)
pub(crate) fn from_provider_error(e: types::ProviderError, log: &CallLog) -> ApiError {
    let mut err = ApiError {
        vendor_code: e.vendor_code.map(|t| clip(t, MAX_ERROR_TEXT)),
        vendor_message: e.vendor_message.map(|t| clip(t, MAX_ERROR_TEXT)),
        vendor_request_id: e.vendor_request_id.map(|t| clip(t, MAX_ERROR_TEXT)),
        retryable: e.retryable,
        retry_after_secs: e.retry_after_secs,
        ..ApiError::new(e.kind.into(), clip(e.message, MAX_ERROR_TEXT))
    };
    if let Some(failure) = log.failures.last()
        && matches!(
            err.kind,
            ErrorKind::Unavailable | ErrorKind::Timeout | ErrorKind::VendorInternal
        )
        && !err.detail.contains(failure.as_str())
    {
        err.detail = format!("{} ({failure})", err.detail);
    }
    err
}

/// The call's error after the egress policy refused one of its requests (`denial`, the last
/// reason), whatever the plugin answered.
pub(crate) fn denied(denial: &str) -> ApiError {
    ApiError {
        retryable: false,
        ..ApiError::new(ErrorKind::Denied, format!("egress refused: {denial}"))
    }
}

/// `e` with every provider's secret values (`secrets`, the gateway's set) scrubbed from its
/// texts.
pub(crate) fn scrub_error(mut e: ApiError, secrets: &SecretSet) -> ApiError {
    e.detail = scrub(secrets, &e.detail);
    e.vendor_message = e.vendor_message.map(|m| scrub(secrets, &m));
    e.vendor_code = e.vendor_code.map(|m| scrub(secrets, &m));
    e.vendor_request_id = e.vendor_request_id.map(|m| scrub(secrets, &m));
    e
}
