//! The conformance case format of `plugin test`: one JSON or TOML file per case.
//!
//! ```json
//! {
//!   "name": "start succeeds",
//!   "operation": "start",
//!   "input": {"direction": "pull-in", "room_id": "42", "user_id": "bot", "stream_url": "rtmp://a/b"},
//!   "now": 1700000000,
//!   "nonce": "n0nce",
//!   "endpoint": "https://api.vendor.example",
//!   "config": {"app_id": 7},
//!   "secrets": {"api_secret": "fake-secret-for-tests"},
//!   "exchanges": [{
//!     "request": {
//!       "method": "POST",
//!       "url": "https://api.vendor.example/v1/relays",
//!       "headers": {"authorization": "Bearer {{secret:api_key}}", "x-signature": "{{hex}}"},
//!       "body": {"room": "42", "ts": "{{now}}"}
//!     },
//!     "response": {"status": 200, "body": {"code": 0, "relay_id": "r-1"}}
//!   }],
//!   "expect": {"ok": {"session_ref": "r-1"}}
//! }
//! ```
//!
//! - `operation`: `start`, `stop`, `status` or `parse-callback`. `input` is what
//!   `ingest-gateway call` takes: the API's start body (`provider` may be left out), or
//!   `{"session_ref": "…"}`; for `parse-callback`, `{"headers": [[k, v]], "query": "…",
//!   "body": "…"}` (a JSON body value is sent as its compact text).
//! - `now` (Unix seconds, default 1700000000) and `nonce` (default `conformance`) fix the
//!   call's clock and nonce; the request id is `call-{nonce}`, as with `call`.
//! - `config` (`[providers.config]`), `secrets` (fake values; requests show them as
//!   `{{secret:NAME}}`) and `endpoint` configure the provider.
//! - `exchanges`, in order: each vendor `request` the plugin must make, and the `response`
//!   played back to it. A request field left out is not checked; listed headers must be
//!   present with matching values (others are ignored); a JSON `body` is compared as JSON
//!   (every key), a string `body` as text. Placeholders (see `plugin_kit::matcher`) stand for
//!   what varies. A response `body` may be text or JSON.
//! - `expect`: `{"ok": …}` or `{"error": …}` as `call` prints the result; objects are matched
//!   on the keys the case lists (`null` also matches a missing key).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use ingest_gateway::{CannedResponse, types};

/// Default call timestamp of a case, Unix seconds (2023-11-14T22:13:20Z).
pub const DEFAULT_NOW: u64 = 1_700_000_000;
/// Default nonce of a case.
pub const DEFAULT_NONCE: &str = "conformance";

/// One conformance case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Its name (default: the file name without extension).
    #[serde(default)]
    pub name: Option<String>,
    /// What it shows, for readers.
    #[serde(default)]
    pub description: Option<String>,
    /// The operation.
    #[serde(deserialize_with = "ingest_gateway::json::deserialize_operation")]
    pub operation: types::Operation,
    /// The operation's input, as `ingest-gateway call` takes it.
    pub input: serde_json::Value,
    /// The call's timestamp, Unix seconds.
    #[serde(default)]
    pub now: Option<u64>,
    /// The call's nonce.
    #[serde(default)]
    pub nonce: Option<String>,
    /// The provider's `endpoint`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// `[providers.config]`.
    #[serde(default)]
    pub config: BTreeMap<String, serde_json::Value>,
    /// Secret name → fake value.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// The vendor exchanges, in order.
    #[serde(default)]
    pub exchanges: Vec<Exchange>,
    /// The expected result: `{"ok": …}` or `{"error": …}`.
    pub expect: serde_json::Value,
}

/// Defaults for every case of a run (`plugin test --config FILE`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Default `endpoint`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Default config keys.
    #[serde(default)]
    pub config: BTreeMap<String, serde_json::Value>,
    /// Default secrets.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// Default timestamp.
    #[serde(default)]
    pub now: Option<u64>,
    /// Default nonce.
    #[serde(default)]
    pub nonce: Option<String>,
}

/// One vendor exchange.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exchange {
    /// The request the plugin must make.
    pub request: ExpectedRequest,
    /// The response played back to it.
    pub response: ResponseSpec,
}

/// A vendor request as a case expects it. Fields left out are not checked.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedRequest {
    /// The method.
    #[serde(default)]
    pub method: Option<String>,
    /// The full URL (a template).
    #[serde(default)]
    pub url: Option<String>,
    /// Headers that must be present, with their value templates.
    #[serde(default)]
    pub headers: Headers,
    /// The body: JSON (compared as JSON) or a string template (compared as text).
    #[serde(default)]
    pub body: Option<serde_json::Value>,
}

/// A response to play back.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseSpec {
    /// HTTP status.
    pub status: u16,
    /// Headers.
    #[serde(default)]
    pub headers: Headers,
    /// Body: a string is sent as is, any other JSON value as its compact text.
    #[serde(default)]
    pub body: Option<serde_json::Value>,
}

/// Headers, written either as `[[name, value], …]` or as `{name: value, …}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Headers {
    /// A list of pairs (keeps order and repeats).
    List(Vec<(String, String)>),
    /// A map.
    Map(BTreeMap<String, String>),
}

impl Default for Headers {
    fn default() -> Self {
        Headers::List(Vec::new())
    }
}

impl Headers {
    /// The headers as pairs.
    pub fn pairs(&self) -> Vec<(String, String)> {
        match self {
            Headers::List(l) => l.clone(),
            Headers::Map(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        }
    }
}

/// A body value as text: a string as is, anything else as compact JSON.
pub fn body_text(body: Option<&serde_json::Value>) -> String {
    match body {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

impl ResponseSpec {
    /// The host's canned response for this spec.
    pub fn canned(&self) -> CannedResponse {
        CannedResponse {
            status: self.status,
            headers: self.headers.pairs(),
            body: body_text(self.body.as_ref()),
        }
    }
}

/// A case read from a file, or why it could not be read.
#[derive(Debug)]
pub struct LoadedCase {
    /// The file.
    pub path: PathBuf,
    /// The case's name.
    pub name: String,
    /// The case, or the reason it could not be parsed.
    pub case: Result<Case, CaseError>,
}

/// Why a case could not be run (its verdict is then `ERROR`, not `FAIL`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaseError {
    /// The file could not be read.
    #[error("cannot read: {0}")]
    Read(#[from] std::io::Error),
    /// Not valid TOML for a case.
    #[error("invalid case (TOML): {0}")]
    Toml(#[from] toml::de::Error),
    /// Not valid JSON for a case.
    #[error("invalid case (JSON): {0}")]
    Json(#[from] serde_json::Error),
    /// A field the kit cannot run as given; the text names it and the shape it needs.
    #[error("{0}")]
    Field(String),
    /// The gateway config made from the case could not be written.
    #[error("cannot write the gateway config: {0}")]
    WriteConfig(#[from] toml::ser::Error),
    /// The case's provider config does not validate.
    #[error("the case's provider config is invalid: {0}")]
    Config(ingest_gateway::ConfigError),
    /// The host refused the plugin with the case's config (load, describe, config check).
    #[error("the host refused the plugin with the case's config: {0}")]
    Refused(ingest_gateway::ConfigError),
    /// The provider the kit configured is missing (a bug in the kit).
    #[error("{0}")]
    Provider(ingest_gateway::ApiError),
}

/// Parses JSON or TOML by the file's extension.
pub fn parse_file<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, CaseError> {
    let text = std::fs::read_to_string(path)?;
    Ok(match path.extension().and_then(|e| e.to_str()) {
        Some("toml") => toml::from_str(&text)?,
        _ => serde_json::from_str(&text)?,
    })
}

/// Every case in `path` (a directory of `*.json` / `*.toml` files, sorted by name, or one
/// file).
pub fn load(path: &Path) -> anyhow::Result<Vec<LoadedCase>> {
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.is_file()
                    && matches!(
                        p.extension().and_then(|e| e.to_str()),
                        Some("json") | Some("toml")
                    )
            })
            .collect();
        files.sort();
        files
    } else if path.is_file() {
        vec![path.to_path_buf()]
    } else {
        anyhow::bail!("{} is neither a case file nor a directory", path.display());
    };
    if files.is_empty() {
        anyhow::bail!("no cases (*.json, *.toml) in {}", path.display());
    }
    Ok(files
        .into_iter()
        .map(|path| {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let case = parse_file::<Case>(&path);
            let name = case
                .as_ref()
                .ok()
                .and_then(|c| c.name.clone())
                .unwrap_or(stem);
            LoadedCase { path, name, case }
        })
        .collect())
}
