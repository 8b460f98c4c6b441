//! The host's bounds on a plugin's result, checked before anything else sees it.

use crate::capability::secret_scan::{SecretSet, contains_secret};
use crate::contract::{Description, SecretSpec, types};
use crate::error::ApiError;
use crate::text::clip;

/// A successful operation's result.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// From `describe` (and the secret catalog, when the component exports one).
    Described(Description),
    /// From `start`.
    Started(types::Session),
    /// From `stop`.
    Stopped(types::StopResult),
    /// From `status`.
    Status(types::IngestStatus),
    /// From `parse-callback`.
    Event(types::IngestEvent),
    /// From `update`.
    Updated(types::UpdateResult),
}

/// Longest session reference a plugin may return, bytes: the contract's one bound, which the
/// plugin SDK checks from the same definition.
pub use ingest_contract::MAX_SESSION_REF_BYTES;
/// Most issued URLs one `start` may return: vendors issue one address per protocol (RTMP,
/// FLV, HLS …), a handful at most. A longer list is garbage output (`plugin-fault`).
pub const MAX_ISSUED_URLS: usize = 64;
/// Longest issued URL a plugin may return, bytes (the API accepts client URLs of the same
/// length).
pub const MAX_URL_BYTES: usize = 4096;
/// Longest identifier a plugin may return (vendor task id, vendor request id), bytes. An
/// identifier cut short would be wrong, so a longer one is a fault, not clipped.
pub const MAX_ID_BYTES: usize = 1024;
/// Most entries in each list `describe` returns (directions, operations, config keys,
/// secrets, default hosts).
pub const MAX_DESCRIBE_ITEMS: usize = 256;

/// Longest text field kept from a plugin's error or from the free text of its result
/// (status detail, vendor state, event name, describe texts); longer text is clipped.
pub(crate) const MAX_ERROR_TEXT: usize = 2048;

/// Clips free text from a plugin's result to [`MAX_ERROR_TEXT`].
fn clip_opt(s: Option<String>) -> Option<String> {
    s.map(|t| clip(t, MAX_ERROR_TEXT))
}

fn clip_text(s: String) -> String {
    clip(s, MAX_ERROR_TEXT)
}

/// Checks a plugin's result against the host's bounds before anything else sees it, so a
/// hostile or broken plugin cannot make the gateway answer (or seal, or log) unbounded or
/// secret-bearing data:
///
/// - structure: the session reference is 1 to [`MAX_SESSION_REF_BYTES`] bytes, at most
///   [`MAX_ISSUED_URLS`] issued URLs of at most [`MAX_URL_BYTES`] each, identifiers at most
///   [`MAX_ID_BYTES`], `describe` lists at most [`MAX_DESCRIBE_ITEMS`] entries — anything
///   beyond is garbage output, a `plugin-fault`;
/// - free text (status detail, vendor state, event name): clipped to [`MAX_ERROR_TEXT`];
/// - secrets: a result holding the value of a secret — of any provider (`secrets` is the
///   gateway's set), verbatim or percent-encoded — is a `plugin-fault` (a well-behaved plugin
///   never holds a secret; the only way to get one is a vendor reflecting a value, which the
///   egress path already turns into a token or `[redacted]`).
///
/// The plugin's strings were copied into host memory before this check; that copy is bounded
/// by the instance's memory cap.
pub(crate) fn check(outcome: Outcome, secrets: &SecretSet) -> Result<Outcome, ApiError> {
    let outcome = match outcome {
        Outcome::Started(session) => Outcome::Started(session_checked(session)?),
        Outcome::Status(status) => {
            id_checked("a vendor request id", &status.vendor_request_id)?;
            Outcome::Status(types::IngestStatus {
                vendor_state: clip_opt(status.vendor_state),
                detail: clip_opt(status.detail),
                ..status
            })
        }
        Outcome::Stopped(stopped) => {
            id_checked("a vendor request id", &stopped.vendor_request_id)?;
            Outcome::Stopped(stopped)
        }
        Outcome::Event(event) => Outcome::Event(event_checked(event)?),
        Outcome::Updated(updated) => {
            if updated
                .session_ref
                .as_ref()
                .is_some_and(|r| r.is_empty() || r.len() > MAX_SESSION_REF_BYTES)
            {
                return Err(garbage(&format!(
                    "an updated session reference that is not 1 to {MAX_SESSION_REF_BYTES} bytes"
                )));
            }
            id_checked("a vendor request id", &updated.vendor_request_id)?;
            Outcome::Updated(updated)
        }
        Outcome::Described(d) => Outcome::Described(description_checked(d)?),
    };
    if outcome_strings(&outcome)
        .into_iter()
        .any(|s| contains_secret(secrets, s))
    {
        return Err(garbage(
            "the value of one of a provider's secrets in its result",
        ));
    }
    Ok(outcome)
}

/// The fault for output outside the bounds: `what` the plugin returned.
fn garbage(what: &str) -> ApiError {
    ApiError::plugin_fault(format!("the plugin returned {what}"))
}

fn id_checked(what: &str, id: &Option<String>) -> Result<(), ApiError> {
    match id {
        Some(v) if v.len() > MAX_ID_BYTES => {
            Err(garbage(&format!("{what} longer than {MAX_ID_BYTES} bytes")))
        }
        _ => Ok(()),
    }
}

fn session_checked(session: types::Session) -> Result<types::Session, ApiError> {
    if session.session_ref.is_empty() || session.session_ref.len() > MAX_SESSION_REF_BYTES {
        return Err(garbage(&format!(
            "a session reference of {} bytes; it must be 1 to {MAX_SESSION_REF_BYTES}",
            session.session_ref.len()
        )));
    }
    if session.issued_urls.len() > MAX_ISSUED_URLS {
        return Err(garbage(&format!(
            "{} issued URLs; at most {MAX_ISSUED_URLS} are accepted",
            session.issued_urls.len()
        )));
    }
    if let Some(u) = session
        .issued_urls
        .iter()
        .find(|u| u.url.len() > MAX_URL_BYTES)
    {
        return Err(garbage(&format!(
            "an issued URL of {} bytes; at most {MAX_URL_BYTES} are accepted",
            u.url.len()
        )));
    }
    id_checked("a vendor task or request id", &session.vendor_task_id)?;
    id_checked("a vendor task or request id", &session.vendor_request_id)?;
    Ok(session)
}

fn event_checked(event: types::IngestEvent) -> Result<types::IngestEvent, ApiError> {
    if event
        .session_ref
        .as_ref()
        .is_some_and(|r| r.is_empty() || r.len() > MAX_SESSION_REF_BYTES)
    {
        return Err(garbage(&format!(
            "an event session reference that is not 1 to {MAX_SESSION_REF_BYTES} bytes"
        )));
    }
    id_checked("a vendor task id", &event.vendor_task_id)?;
    Ok(types::IngestEvent {
        vendor_event: clip_text(event.vendor_event),
        detail: clip_opt(event.detail),
        ..event
    })
}

fn description_checked(d: Description) -> Result<Description, ApiError> {
    let Description {
        info,
        secrets,
        has_catalog,
    } = d;
    let lists = [
        info.directions.len(),
        info.operations.len(),
        info.config_keys.len(),
        info.secrets.len(),
        info.default_hosts.len(),
        secrets.len(),
    ];
    if lists.iter().any(|n| *n > MAX_DESCRIBE_ITEMS) {
        return Err(garbage(&format!(
            "a description with a list longer than {MAX_DESCRIBE_ITEMS} entries"
        )));
    }
    let d = Description {
        info: checked_info(info),
        secrets: secrets
            .into_iter()
            .map(|s| SecretSpec {
                description: clip_text(s.description),
                ..s
            })
            .collect(),
        has_catalog,
    };
    let problems = d.inconsistencies();
    if !problems.is_empty() {
        return Err(garbage(&format!(
            "a secret catalog that disagrees with describe ({})",
            problems.join("; ")
        )));
    }
    Ok(d)
}

fn checked_info(info: types::ProviderInfo) -> types::ProviderInfo {
    types::ProviderInfo {
        name: clip_text(info.name),
        version: clip_text(info.version),
        vendor: clip_text(info.vendor),
        config_keys: info
            .config_keys
            .into_iter()
            .map(|k| types::ConfigKey {
                description: clip_text(k.description),
                ..k
            })
            .collect(),
        ..info
    }
}

/// Every string in a result, for the secret check.
fn outcome_strings(outcome: &Outcome) -> Vec<&str> {
    fn opt(s: &Option<String>) -> Option<&str> {
        s.as_deref()
    }
    match outcome {
        Outcome::Started(s) => [s.session_ref.as_str()]
            .into_iter()
            .chain(s.issued_urls.iter().map(|u| u.url.as_str()))
            .chain(opt(&s.vendor_task_id))
            .chain(opt(&s.vendor_request_id))
            .collect(),
        Outcome::Status(s) => [
            opt(&s.vendor_state),
            opt(&s.detail),
            opt(&s.vendor_request_id),
        ]
        .into_iter()
        .flatten()
        .collect(),
        Outcome::Stopped(s) => opt(&s.vendor_request_id).into_iter().collect(),
        Outcome::Updated(u) => [opt(&u.session_ref), opt(&u.vendor_request_id)]
            .into_iter()
            .flatten()
            .collect(),
        Outcome::Event(e) => [
            opt(&e.session_ref),
            opt(&e.vendor_task_id),
            Some(e.vendor_event.as_str()),
            opt(&e.detail),
        ]
        .into_iter()
        .flatten()
        .collect(),
        Outcome::Described(Description {
            info: i, secrets, ..
        }) => [i.name.as_str(), i.version.as_str(), i.vendor.as_str()]
            .into_iter()
            .chain(
                secrets
                    .iter()
                    .flat_map(|s| [s.name.as_str(), s.description.as_str()]),
            )
            .chain(
                i.config_keys
                    .iter()
                    .flat_map(|k| [k.name.as_str(), k.description.as_str()]),
            )
            .chain(i.secrets.iter().map(String::as_str))
            .chain(i.default_hosts.iter().map(String::as_str))
            .collect(),
    }
}
