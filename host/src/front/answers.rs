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

/// `GET /healthz` and `GET /readyz`.
#[derive(Serialize)]
pub(crate) struct Health<'a> {
    pub status: &'static str,
    pub ready: bool,
    pub optimized: bool,
    pub draining: bool,
    /// `ok` or `unavailable`.
    pub events_store: &'static str,
    /// Each provider's state (`ok`, `unhealthy`, `no-plugin`), by id.
    pub providers: std::collections::BTreeMap<&'a str, &'static str>,
    /// Only with `[quota] store`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota_store: Option<QuotaStoreHealth<'a>>,
}

/// The shared quota store in [`Health`].
#[derive(Serialize)]
pub(crate) struct QuotaStoreHealth<'a> {
    /// Its URL, without a password.
    pub store: &'a str,
    /// `shared` or `local-fallback`.
    pub state: &'static str,
    pub fallback_share: f64,
}

/// `GET /v1/providers`.
#[derive(Serialize)]
pub(crate) struct Providers<'a> {
    pub providers: Vec<ProviderEntry<'a>>,
}

/// One provider of [`Providers`]: bound to a plugin version, or waiting for one.
#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum ProviderEntry<'a> {
    Bound(BoundProvider<'a>),
    Unbound {
        id: &'a str,
        plugin: &'a str,
        /// Always `no-plugin`.
        health: &'static str,
    },
}

/// A provider bound to a plugin version.
#[derive(Serialize)]
pub(crate) struct BoundProvider<'a> {
    pub id: &'a str,
    /// The plugin's name as installed.
    pub plugin: &'a str,
    /// The name the plugin's `describe` gives, when it differs.
    pub describes_itself_as: Option<&'a str>,
    pub version: &'a str,
    pub vendor: &'a str,
    /// The component's digest.
    pub digest: &'a str,
    /// A registry plugin's manifest digest (what its tag pointed at); the registry's address
    /// and the signing key stay on the admin API.
    pub manifest_digest: Option<String>,
    pub directions: Vec<&'static str>,
    pub operations: Vec<&'static str>,
    pub secrets: Vec<SecretEntry<'a>>,
    /// `ok` or `unhealthy`.
    pub health: &'static str,
    /// Each vendor rate (calls per second; `null`: no limit), by operation.
    pub quota: std::collections::BTreeMap<&'static str, Option<u32>>,
}

/// A secret the plugin can use, in [`BoundProvider`].
#[derive(Serialize)]
pub(crate) struct SecretEntry<'a> {
    pub name: &'a str,
    pub required: bool,
    /// Whether the provider's config gives it.
    pub configured: bool,
    pub description: &'a str,
}
