//! The API's spelling of the contract's types: the names of directions, operations and
//! states, and the JSON of sessions, statuses and events. One place, so the HTTP API, the
//! ext_proc front, the CLI and the event stream say the same.

use super::types;

/// The API spelling of a direction.
pub fn direction_name(d: types::Direction) -> &'static str {
    match d {
        types::Direction::PullIn => "pull-in",
        types::Direction::PushIn => "push-in",
        types::Direction::PushOut => "push-out",
        types::Direction::PullOut => "pull-out",
    }
}

/// Every operation and its API spelling: the one name table (logs, metrics, the API, the
/// kit's cases and the CLI all read it).
pub const OPERATIONS: [(types::Operation, &str); 5] = [
    (types::Operation::Start, "start"),
    (types::Operation::Stop, "stop"),
    (types::Operation::Status, "status"),
    (types::Operation::Update, "update"),
    (types::Operation::ParseCallback, "parse-callback"),
];

/// The API spelling of an operation.
pub fn operation_name(o: types::Operation) -> &'static str {
    OPERATIONS
        .iter()
        .find(|(op, _)| *op == o)
        .map_or("describe", |(_, name)| name)
}

/// The operation an API spelling names (the kit's cases and the CLI read names).
pub fn operation_named(name: &str) -> Option<types::Operation> {
    OPERATIONS
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(op, _)| *op)
}

/// Reads an operation by its API spelling (`#[serde(deserialize_with = …)]`); an unknown
/// name is an error listing the known ones.
pub fn deserialize_operation<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<types::Operation, D::Error> {
    let name = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
    operation_named(&name).ok_or_else(|| {
        let known: Vec<&str> = OPERATIONS.iter().map(|(_, n)| *n).collect();
        serde::de::Error::custom(format!(
            "unknown operation `{name}`, expected one of {}",
            known.join(", ")
        ))
    })
}

/// JSON for a session.
pub fn session_json(s: &types::Session) -> serde_json::Value {
    serde_json::json!({
        "vendor_task_id": s.vendor_task_id,
        "issued_urls": s.issued_urls.iter().map(|u| serde_json::json!({
            "purpose": match u.purpose { types::UrlPurpose::Publish => "publish", types::UrlPurpose::Play => "play" },
            "url": u.url,
        })).collect::<Vec<_>>(),
        "vendor_request_id": s.vendor_request_id,
        "expires_at": s.expires_at,
    })
}

/// The API spelling of a state.
pub fn state_name(s: types::IngestState) -> &'static str {
    match s {
        types::IngestState::Starting => "starting",
        types::IngestState::Running => "running",
        types::IngestState::Stopped => "stopped",
        types::IngestState::Failed => "failed",
        types::IngestState::NotFound => "not-found",
        types::IngestState::Unknown => "unknown",
    }
}

/// JSON for a status.
pub fn status_json(s: &types::IngestStatus) -> serde_json::Value {
    serde_json::json!({
        "state": state_name(s.state),
        "vendor_state": s.vendor_state,
        "detail": s.detail,
        "vendor_request_id": s.vendor_request_id,
    })
}

/// JSON for a normalized event.
pub fn event_json(e: &types::IngestEvent) -> serde_json::Value {
    serde_json::json!({
        "state": state_name(e.state),
        "vendor_event": e.vendor_event,
        "vendor_task_id": e.vendor_task_id,
        "detail": e.detail,
        "occurred_at_ms": e.occurred_at_ms,
    })
}
