//! The API's response bodies, one type each, with the fields `docs/openapi.json` names. They
//! are sent through `serde_json::Value` ([`json_of`]), so their keys come out in the same
//! (sorted) order as every other JSON document the API writes.

use serde::Serialize;

use super::body::DirectionJson;

/// `201` of `POST /v1/ingests`.
#[derive(Serialize)]
pub(crate) struct Started<'a> {
    pub id: &'a str,
    pub provider: &'a str,
    pub direction: &'a DirectionJson,
    /// The session in the contract's JSON spelling (`contract/json.rs`).
    pub session: serde_json::Value,
}

/// `200` of `DELETE /v1/ingests/{id}`.
#[derive(Serialize)]
pub(crate) struct Stopped<'a> {
    pub id: &'a str,
    pub provider: &'a str,
    pub state: &'static str,
    pub vendor_request_id: Option<&'a str>,
}

/// `200` of `PATCH /v1/ingests/{id}`.
#[derive(Serialize)]
pub(crate) struct Updated<'a> {
    /// The handle to use from now on.
    pub id: &'a str,
    pub provider: &'a str,
    pub updated: bool,
    pub vendor_request_id: Option<&'a str>,
    /// The old handle, when the update gave the ingest a new one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaces: Option<&'a str>,
}

/// `200` of `POST /v1/callbacks/{provider}[/{tenant}]`.
#[derive(Serialize)]
pub(crate) struct CallbackTaken<'a> {
    pub provider: &'a str,
    /// The ingest's handle, when the plugin named the session.
    pub id: Option<&'a str>,
    pub event_id: &'a str,
    pub duplicate: bool,
    /// The event in the contract's JSON spelling.
    pub event: serde_json::Value,
}

/// `200` of `GET /v1/ingests/{id}/events`.
#[derive(Serialize)]
pub(crate) struct IngestEvents<'a, E: Serialize> {
    pub id: &'a str,
    pub events: &'a [E],
}

/// `200` of `GET /v1/webhook`.
#[derive(Serialize)]
pub(crate) struct WebhookEndpoint<'a> {
    pub url: &'a str,
    pub failing: bool,
    pub failing_since_ms: Option<i64>,
    pub consecutive_failures: i64,
    pub last_error: Option<&'a str>,
    pub last_failure_ms: Option<i64>,
}

/// `200` of `GET /v1/webhook/events`: a page, newest first.
#[derive(Serialize)]
pub(crate) struct EventsPage<'a, E: Serialize> {
    pub events: &'a [E],
    /// Asks for the next page (`before`); `None` on the last.
    pub next_before: Option<i64>,
}

/// `202` of `POST /v1/webhook/events/{event_id}/redeliver`.
#[derive(Serialize)]
pub(crate) struct Redelivery<'a> {
    pub id: &'a str,
    pub state: &'static str,
}

/// `value` as JSON: through `serde_json::Value`, so keys are sorted like every other
/// document of the API (a value that cannot be written, which these types never are, is
/// `null`).
pub(crate) fn json_of(value: &impl Serialize) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}
