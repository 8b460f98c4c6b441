//! Ingest Gateway provider plugin for **Example RTC**, a fictitious vendor (see README.md for
//! its API). It shows everything a real adapter does:
//!
//! - `describe`: what the plugin supports, the config keys and secrets it needs, its hosts;
//!   `secrets`: every secret it can use, with what each is for (its secret catalog);
//! - `start` / `stop` / `status`: validate the normalized request, build the vendor request,
//!   sign it through the host (the plugin never sees a secret), send it with
//!   `ingest_plugin_sdk::http::send`, and map the answer (or the vendor's error code) to the
//!   normalized result;
//! - `parse-callback`: verify a vendor callback's signature and turn it into an event.
//!
//! The plugin performs no I/O itself (contract `ingest:provider@0.2.2`): the host calls
//! `start`, `stop` and `status` once per step with the vendor's answers so far, and the SDK
//! replays them, so `http::send` returns the recorded answer to each earlier request and the
//! first new request ends the step. Code stays sequential, but must be deterministic: take
//! time and nonces from `context` (the same at every step), keep no state between calls.
//!
//! The whole plugin, signing included, is unit-tested on the build machine (`cargo test`): there
//! the SDK answers the host's interfaces itself from a `testing::TestHost` (secrets, config,
//! clock), computing HMACs as the host does. The component is tested by `ingest-gateway plugin
//! test` with the cases in `cases/`.

use ingest_plugin_sdk::creds::{self, HashAlgorithm};
use ingest_plugin_sdk::error::Meaning;
use ingest_plugin_sdk::options::Options;
use ingest_plugin_sdk::{
    CallbackRequest, Direction, ErrorKind, Guest, IngestEvent, IngestState, IngestStatus,
    Operation, ProviderError, ProviderInfo, SecretSpec, Session, StartRequest, StatusRequest,
    StopRequest, StopResult, config, config_key, context, error, provider_info, secret, session,
    sign,
};
use serde_json::{Value, json};

/// The vendor's API host (`.invalid`: this vendor does not exist).
pub const DEFAULT_BASE: &str = "https://api.example-rtc.invalid";
/// Config key: the vendor application id.
pub const KEY_APP_ID: &str = "app_id";
/// Secret: the API key id, sent in `X-Api-Key` as a host placeholder.
pub const SECRET_KEY_ID: &str = "api_key_id";
/// Secret: the API secret, the HMAC key of request and callback signatures.
pub const SECRET_SECRET: &str = "api_secret";

/// The provider.
#[derive(Debug)]
pub struct ExampleVendor;

/// What the plugin is and can do. Its name and version are the crate's (Cargo.toml), the
/// name being what operators write in `providers[].plugin`.
pub fn info() -> ProviderInfo {
    provider_info! {
        vendor: "Example RTC (fictitious)",
        directions: vec![Direction::PullIn],
        operations: vec![
            Operation::Start,
            Operation::Stop,
            Operation::Status,
            Operation::ParseCallback,
        ],
        config_keys: vec![config_key(
            KEY_APP_ID,
            true,
            "The Example RTC application id, e.g. `app-123`.",
        )],
        secrets: ingest_plugin_sdk::required_secrets(&secret_catalog()),
        default_hosts: vec!["api.example-rtc.invalid:443".to_string()],
    }
}

/// Every secret the plugin can use, required and optional, with what each is for: what
/// `plugin check` and `GET /v1/providers` show. A secret only some features need (say, a
/// separate callback key) goes here with `required = false`; `describe` lists the required ones.
pub fn secret_catalog() -> Vec<SecretSpec> {
    vec![
        secret(
            SECRET_KEY_ID,
            true,
            "The API key id, sent in X-Api-Key through a host placeholder.",
        ),
        secret(
            SECRET_SECRET,
            true,
            "The API secret: the HMAC key of request and callback signatures, used only inside the host.",
        ),
    ]
}

/// Validates a start request and builds the vendor's JSON body.
pub fn start_body(req: &StartRequest) -> Result<Value, ProviderError> {
    if req.direction != Direction::PullIn {
        return Err(error::unsupported(
            "example-vendor supports only direction `pull-in`",
        ));
    }
    if req.room_id.trim().is_empty() {
        return Err(error::invalid_argument("`room_id` must not be empty"));
    }
    let source = req.stream_url.as_deref().unwrap_or_default().trim();
    if !(source.starts_with("rtmp://") || source.starts_with("https://")) {
        return Err(error::invalid_argument(
            "`stream_url` is required for pull-in and must start with rtmp:// or https://",
        ));
    }
    let options = Options::parse(&req.options_json)?;
    let mut body = json!({
        "room_id": req.room_id,
        "user_id": req.user_id,
        "source_url": source,
    });
    if let Some(volume) = options.int("volume", 0, 100)? {
        body["volume"] = volume.into();
    }
    if let Some(url) = &req.callback_url {
        body["callback_url"] = url.clone().into();
    }
    Ok(body)
}

/// Every documented vendor error code, once: its normalized kind, whether a retry can succeed,
/// and a hint for the API client. A code not listed is `vendor-internal`, not retryable.
pub const CODES: &[Meaning<i64>] = &[
    Meaning::exact(&[1001], ErrorKind::InvalidArgument, false, Some("see vendor_message")),
    Meaning::exact(
        &[1002],
        ErrorKind::Unauthenticated,
        false,
        Some("check the provider's `api_key_id` and `api_secret` secrets"),
    ),
    Meaning::exact(&[1003], ErrorKind::NotFound, false, Some("the relay does not exist")),
    Meaning::exact(&[1004], ErrorKind::RateLimited, true, Some("retry after a pause")),
    Meaning::exact(&[1005], ErrorKind::AlreadyExists, false, None),
];

/// Reads a vendor answer: `{"code": 0, "message", "request_id", "data"}` on success; any other
/// code, or a non-2xx status, is an error that keeps the vendor's code, message and request id.
pub fn read_answer(status: u16, body: &[u8]) -> Result<(Value, Option<String>), ProviderError> {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let envelope = parsed.as_ref().filter(|v| v.get("code").is_some());
    let Some(envelope) = envelope else {
        return Err(match status {
            200..=299 => error::bad_vendor_response("the body is not an Example RTC envelope"),
            429 => error::new(ErrorKind::RateLimited, "Example RTC answered HTTP 429"),
            500..=599 => error::new(
                ErrorKind::Unavailable,
                format!("Example RTC answered HTTP {status}; retry later"),
            ),
            _ => error::bad_vendor_response(format!("unexpected HTTP status {status}")),
        });
    };
    let request_id = envelope["request_id"].as_str().map(str::to_string);
    let code = envelope["code"].as_i64().unwrap_or(-1);
    if code == 0 && (200..=299).contains(&status) {
        return Ok((envelope["data"].clone(), request_id));
    }
    let message = envelope["message"].as_str().unwrap_or_default();
    let text = format!("Example RTC refused the request: {message} (code {code})");
    Err(match error::meaning(CODES, code) {
        Some(meaning) => {
            let text = match meaning.hint {
                Some(hint) => format!("{text}; {hint}"),
                None => text,
            };
            meaning.error(text, &code.to_string(), message, request_id)
        }
        None => error::from_vendor(
            ErrorKind::VendorInternal,
            text,
            &code.to_string(),
            message,
            request_id,
        ),
    })
}

/// The normalized state of a vendor state string.
pub fn state_of(vendor_state: &str) -> IngestState {
    match vendor_state {
        "starting" => IngestState::Starting,
        "running" => IngestState::Running,
        "stopped" => IngestState::Stopped,
        "failed" => IngestState::Failed,
        _ => IngestState::Unknown,
    }
}

/// The text the vendor signs: `METHOD \n path \n timestamp \n nonce \n body`.
pub fn string_to_sign(method: &str, path: &str, timestamp: u64, nonce: &str, body: &str) -> String {
    format!("{method}\n{path}\n{timestamp}\n{nonce}\n{body}")
}

/// The relay id in a session reference (the reference *is* the relay id), checked so it can
/// go into a URL path and fits the contract's bound.
pub fn relay_id(session_ref: &str) -> Result<&str, ProviderError> {
    let ok = session::fits(session_ref)
        && session_ref
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(session_ref)
    } else {
        Err(error::invalid_argument(
            "the session reference is not an Example RTC relay id",
        ))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Sends one signed request and reads the answer. The only function that makes a vendor
/// request (by replay: see the crate documentation).
fn call(
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(Value, Option<String>), ProviderError> {
    let base = config::endpoint().unwrap_or_else(|| DEFAULT_BASE.to_string());
    let base = base.trim_end_matches('/');
    let body = body.map(Value::to_string).unwrap_or_default();
    // Time and nonce come from the host, so `call --dry-run --now --nonce` is reproducible.
    let timestamp = context::now_ms() / 1000;
    let nonce = context::next_nonce();
    let signature = creds::hmac(
        HashAlgorithm::Sha256,
        &[creds::secret(SECRET_SECRET)],
        &[creds::text(string_to_sign(
            method, path, timestamp, &nonce, &body,
        ))],
    )?;
    // The key id travels as a placeholder: the host puts the real value in as the request leaves.
    let key_id = creds::placeholder(&[creds::secret(SECRET_KEY_ID)])?;
    let request = http::Request::builder()
        .method(method)
        .uri(format!("{base}{path}"))
        .header("content-type", "application/json")
        .header("x-api-key", key_id)
        .header("x-timestamp", timestamp.to_string())
        .header("x-nonce", nonce)
        .header("x-signature", hex(&signature))
        .body(body.into_bytes())
        .map_err(|e| error::new(ErrorKind::PluginFault, format!("building the request: {e}")))?;
    let response = ingest_plugin_sdk::http::send(request)?;
    read_answer(response.status().as_u16(), response.body())
}

fn app_path() -> Result<String, ProviderError> {
    let app = ingest_plugin_sdk::required_config(KEY_APP_ID)?;
    Ok(format!("/v1/apps/{app}/relays"))
}

// `stop`, `status` and `parse_callback` have defaults that answer `unsupported`: a provider
// that lacks one simply leaves it out (and out of `info().operations`).
impl Guest for ExampleVendor {
    fn describe() -> ProviderInfo {
        info()
    }

    fn secrets() -> Vec<SecretSpec> {
        secret_catalog()
    }

    fn start(request: StartRequest) -> Result<Session, ProviderError> {
        let body = start_body(&request)?;
        let (data, request_id) = call("POST", &app_path()?, Some(&body))?;
        let relay = data["relay_id"]
            .as_str()
            .filter(|id| relay_id(id).is_ok())
            .ok_or_else(|| error::bad_vendor_response("no valid `relay_id` in the answer"))?;
        Ok(Session {
            session_ref: relay.to_string(),
            vendor_task_id: Some(relay.to_string()),
            issued_urls: Vec::new(),
            vendor_request_id: request_id,
            expires_at: None,
        })
    }

    fn stop(request: StopRequest) -> Result<StopResult, ProviderError> {
        let path = format!("{}/{}", app_path()?, relay_id(&request.session_ref)?);
        let (_, request_id) = call("DELETE", &path, None)?;
        Ok(StopResult {
            vendor_request_id: request_id,
        })
    }

    fn status(request: StatusRequest) -> Result<IngestStatus, ProviderError> {
        let path = format!("{}/{}", app_path()?, relay_id(&request.session_ref)?);
        let (data, request_id) = match call("GET", &path, None) {
            Err(e) if e.kind == ErrorKind::NotFound => {
                return Ok(IngestStatus {
                    state: IngestState::NotFound,
                    vendor_state: None,
                    detail: Some(e.message),
                    vendor_request_id: e.vendor_request_id,
                });
            }
            other => other?,
        };
        let vendor_state = data["state"].as_str().unwrap_or_default().to_string();
        Ok(IngestStatus {
            state: state_of(&vendor_state),
            vendor_state: Some(vendor_state),
            detail: data["reason"].as_str().map(str::to_string),
            vendor_request_id: request_id,
        })
    }

    fn parse_callback(request: CallbackRequest) -> Result<IngestEvent, ProviderError> {
        let presented = request
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("x-signature"))
            .map(|(_, v)| v.to_ascii_lowercase())
            .unwrap_or_default();
        let expected = hex(&creds::hmac(
            HashAlgorithm::Sha256,
            &[creds::secret(SECRET_SECRET)],
            &[creds::bytes(request.body.clone())],
        )?);
        // Constant time: the comparison must not tell an attacker how much of a guess was right.
        if !sign::constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
            return Err(error::new(
                ErrorKind::Unauthenticated,
                "the callback's X-Signature does not verify",
            ));
        }
        let event: Value = serde_json::from_slice(&request.body)
            .map_err(|e| error::invalid_argument(format!("the callback body is not JSON: {e}")))?;
        let relay = event["relay_id"].as_str().map(str::to_string);
        let vendor_state = event["state"].as_str().unwrap_or_default();
        Ok(IngestEvent {
            session_ref: relay.clone(),
            vendor_task_id: relay,
            state: state_of(vendor_state),
            vendor_event: event["event"].as_str().unwrap_or(vendor_state).to_string(),
            detail: event["reason"].as_str().map(str::to_string),
            occurred_at_ms: event["ts_ms"].as_u64(),
        })
    }
}

// Only on wasm: a native cdylib cannot carry the component's export names.
#[cfg(target_arch = "wasm32")]
ingest_plugin_sdk::export!(ExampleVendor);

#[cfg(test)]
mod tests {
    use super::*;
    use ingest_plugin_sdk::MediaKind;

    fn request(options: &str) -> StartRequest {
        StartRequest {
            direction: Direction::PullIn,
            room_id: "room-1".into(),
            user_id: "bot".into(),
            display_name: None,
            stream_url: Some("rtmp://media.example.com/live/a".into()),
            media: MediaKind::AudioVideo,
            callback_url: None,
            expires_in_secs: None,
            options_json: options.into(),
        }
    }

    #[test]
    fn start_body_maps_fields_and_checks_them() {
        let body = start_body(&request(r#"{"volume": 80}"#)).expect("valid");
        assert_eq!(
            body,
            json!({"room_id": "room-1", "user_id": "bot",
                   "source_url": "rtmp://media.example.com/live/a", "volume": 80})
        );
        let e = start_body(&request(r#"{"volume": 101}"#)).expect_err("volume");
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        let mut req = request("{}");
        req.stream_url = Some("ftp://x".into());
        assert!(
            start_body(&req)
                .expect_err("url")
                .message
                .contains("stream_url")
        );
        req.direction = Direction::PushOut;
        assert_eq!(
            start_body(&req).expect_err("dir").kind,
            ErrorKind::Unsupported
        );
    }

    #[test]
    fn answers_and_errors() {
        let (data, rid) = read_answer(
            200,
            br#"{"code":0,"request_id":"r1","data":{"relay_id":"x"}}"#,
        )
        .expect("ok");
        assert_eq!(
            (data["relay_id"].as_str(), rid.as_deref()),
            (Some("x"), Some("r1"))
        );
        let e = read_answer(
            200,
            br#"{"code":1002,"message":"bad sig","request_id":"r2"}"#,
        )
        .expect_err("auth");
        assert_eq!(e.kind, ErrorKind::Unauthenticated);
        assert_eq!(e.vendor_code.as_deref(), Some("1002"));
        assert_eq!(e.vendor_request_id.as_deref(), Some("r2"));
        assert!(
            read_answer(200, br#"{"code":1004}"#)
                .expect_err("rate")
                .retryable
        );
        assert_eq!(
            read_answer(503, b"down").expect_err("5xx").kind,
            ErrorKind::Unavailable
        );
        assert_eq!(
            read_answer(200, b"<html>").expect_err("junk").kind,
            ErrorKind::VendorInternal
        );
    }

    /// `describe` lists exactly what the plugin implements (the SDK calls each operation).
    #[test]
    fn describe_lists_what_is_implemented() {
        ingest_plugin_sdk::testing::assert_operations_implemented::<ExampleVendor>();
        assert!(error::duplicate_codes(CODES).is_empty());
    }

    /// The whole start runs here: the SDK's `TestHost` holds the secrets and the clock, and
    /// `step::run` answers the one request the plugin sends.
    #[test]
    fn start_signs_and_sends_one_request() {
        use ingest_plugin_sdk::step::{self, Step};
        use ingest_plugin_sdk::testing::TestHost;

        let host = TestHost::new()
            .secret(SECRET_KEY_ID, "key-1")
            .secret(SECRET_SECRET, "s3cret")
            .config(KEY_APP_ID, "app-123")
            .now_ms(1_700_000_000_000);
        let _host = host.install();
        let Step::Send(sent) = step::run(Vec::new(), || ExampleVendor::start(request("{}"))) else {
            panic!("start sends the vendor request first");
        };
        assert_eq!(sent.url, "https://api.example-rtc.invalid/v1/apps/app-123/relays");
        let header = |name: &str| {
            sent.headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        // The first nonce of a TestHost is 1, as 32 hex digits.
        let nonce = format!("{:032x}", 1);
        assert_eq!(header("x-nonce").as_deref(), Some(nonce.as_str()));
        let body = String::from_utf8(sent.body.clone()).expect("utf-8");
        let expected = hex(&creds::hmac(
            HashAlgorithm::Sha256,
            &[creds::text("s3cret")],
            &[creds::text(string_to_sign(
                "POST",
                "/v1/apps/app-123/relays",
                1_700_000_000,
                &nonce,
                &body,
            ))],
        )
        .expect("hmac"));
        assert_eq!(header("x-signature"), Some(expected));
        assert_eq!(header("x-api-key").as_deref(), Some("key-1"));
    }

    #[test]
    fn states_signing_and_ids() {
        assert_eq!(state_of("running"), IngestState::Running);
        assert_eq!(state_of("paused"), IngestState::Unknown);
        assert_eq!(string_to_sign("GET", "/p", 7, "n", ""), "GET\n/p\n7\nn\n");
        assert!(relay_id("rl-1_a").is_ok());
        assert!(relay_id("../x").is_err());
        assert!(relay_id("").is_err());
        assert!(relay_id(&"a".repeat(session::MAX_SESSION_REF_BYTES + 1)).is_err());
    }
}
