//! The benchmark's peer: an Envoy proxy-wasm HTTP filter that does, for one Tencent TRTC start,
//! the job the gateway does for `POST /v1/ingests` — what a user would build instead.
//!
//! For each request: read the whole start body (a buffer filter after this one keeps the router
//! from sending anything upstream), validate it as the TRTC plugin does for the fields it takes,
//! build the `StartStreamIngest` body with the plugin's field order, sign it with TC3-HMAC-SHA256
//! over a fresh timestamp, send it to the vendor with `dispatch_http_call`, read the vendor's
//! envelope, seal the TaskId into an ingest id exactly as the gateway does (HMAC-SHA256 under a
//! handle key, `payload.tag` in URL-safe base64), and answer 201 with the gateway's body shape.
//!
//! What it does not do, and the gateway does: keep secrets outside the code that signs, isolate
//! each call in a fresh sandbox, enforce an egress policy, quotas, metrics, deadlines per step,
//! hot swap. The secrets are in the filter's configuration, as such a filter would hold them.

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Warn);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

/// The filter's configuration (the plugin `configuration` string, JSON).
#[derive(Debug, Clone, Default, Deserialize)]
struct Settings {
    /// The Envoy cluster of the vendor.
    cluster: String,
    /// The vendor's authority (`host:port`), sent as `:authority` and signed as `host`.
    authority: String,
    sdk_app_id: u64,
    region: String,
    secret_id: String,
    secret_key: String,
    /// The key ingest ids are sealed with (the gateway's `handle_key`).
    handle_key: String,
}

#[derive(Default)]
struct Root {
    settings: std::rc::Rc<Settings>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _: usize) -> bool {
        let Some(bytes) = self.get_plugin_configuration() else {
            return false;
        };
        match serde_json::from_slice(&bytes) {
            Ok(s) => {
                self.settings = std::rc::Rc::new(s);
                true
            }
            Err(_) => false,
        }
    }

    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Start {
            settings: self.settings.clone(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// One `POST /v1/ingests`.
struct Start {
    settings: std::rc::Rc<Settings>,
}

/// The start request's fields this filter takes (the gateway's API body).
#[derive(Deserialize)]
struct StartBody {
    provider: String,
    direction: String,
    room_id: String,
    user_id: String,
    stream_url: Option<String>,
    #[serde(default)]
    options: serde_json::Map<String, Value>,
}

/// `StartStreamIngest`'s body, in the TRTC plugin's field order (the signature covers the bytes).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct VendorBody<'a> {
    sdk_app_id: u64,
    room_id: &'a str,
    room_id_type: u8,
    user_id: &'a str,
    user_sig: &'a str,
    stream_url: &'a str,
}

const STREAM_URL_SCHEMES: [&str; 4] = ["rtmp://", "rtmps://", "http://", "https://"];
/// Domain separation of the gateway's handle MAC (`host/src/core/handle.rs`).
const HANDLE_CONTEXT: &[u8] = b"ingest-gateway/handle/v1\n";

impl Context for Start {
    fn on_http_call_response(&mut self, _: u32, _: usize, body_size: usize, _: usize) {
        let status = self
            .get_http_call_response_header(":status")
            .and_then(|s| s.parse::<u16>().ok())
            .unwrap_or(0);
        let body = self
            .get_http_call_response_body(0, body_size)
            .unwrap_or_default();
        let (code, answer) = match read_answer(status, &body) {
            Ok((task_id, request_id)) => {
                let id = seal(&self.settings.handle_key, &task_id);
                (
                    201,
                    json!({
                        "id": id,
                        "provider": "trtc",
                        "direction": "pull-in",
                        "session": {
                            "vendor_task_id": task_id,
                            "issued_urls": [],
                            "vendor_request_id": request_id,
                            "expires_at": null,
                        },
                    }),
                )
            }
            Err((code, detail)) => (code, problem(code, &detail)),
        };
        self.reply(code, &answer);
    }
}

impl HttpContext for Start {
    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if !end_of_stream {
            return Action::Pause;
        }
        let body = self
            .get_http_request_body(0, body_size)
            .unwrap_or_default();
        let now = self
            .get_current_time()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        match self.send_start(&body, now) {
            Ok(()) => {}
            Err((code, detail)) => self.reply(code, &problem(code, &detail)),
        }
        Action::Pause
    }
}

type Refusal = (u32, String);

impl Start {
    fn reply(&self, status: u32, body: &Value) {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        self.send_http_response(
            status,
            vec![("content-type", "application/json")],
            Some(&bytes),
        );
    }

    /// Validates the start, builds and signs the vendor request and sends it.
    fn send_start(&self, body: &[u8], now: u64) -> Result<(), Refusal> {
        let s = &*self.settings;
        let start: StartBody = serde_json::from_slice(body)
            .map_err(|e| (400, format!("the body is not a start request: {e}")))?;
        let user_sig = validate(&start)?;
        let stream_url = start.stream_url.as_deref().unwrap_or_default().trim();
        let vendor = serde_json::to_vec(&VendorBody {
            sdk_app_id: s.sdk_app_id,
            room_id: &start.room_id,
            room_id_type: 1,
            user_id: &start.user_id,
            user_sig,
            stream_url,
        })
        .map_err(|e| (500, e.to_string()))?;
        let authorization = tc3_authorization(s, &vendor, now)?;
        let timestamp = now.to_string();
        self.dispatch_http_call(
            &s.cluster,
            vec![
                (":method", "POST"),
                (":path", "/"),
                (":authority", &s.authority),
                ("content-type", "application/json"),
                ("x-tc-action", "StartStreamIngest"),
                ("x-tc-version", "2019-07-22"),
                ("x-tc-timestamp", &timestamp),
                ("x-tc-region", &s.region),
                ("x-tc-requestclient", "ingest-gateway"),
                ("authorization", &authorization),
            ],
            Some(&vendor),
            vec![],
            Duration::from_secs(8),
        )
        .map(|_| ())
        .map_err(|e| (502, format!("the vendor call could not be sent: {e:?}")))
    }
}

/// The TRTC plugin's checks on the fields this start carries; the UserSig given.
fn validate(start: &StartBody) -> Result<&str, Refusal> {
    let bad = |detail: &str| Err((400, detail.to_string()));
    if start.provider != "trtc" {
        return Err((404, format!("no provider `{}`", start.provider)));
    }
    if start.direction != "pull-in" {
        return bad("tencent-trtc supports only direction `pull-in`");
    }
    if start.room_id.trim().is_empty() {
        return bad("`room_id` is empty");
    }
    let integer_room = !start.room_id.starts_with('0')
        && start.room_id.bytes().all(|b| b.is_ascii_digit())
        && start
            .room_id
            .parse::<u32>()
            .is_ok_and(|n| (1..=4_294_967_294).contains(&n));
    if !integer_room {
        return bad("`room_id` must be an integer room id (room_id_type 1)");
    }
    let user_ok = !start.user_id.is_empty()
        && start.user_id.len() <= 32
        && start
            .user_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !user_ok {
        return bad("`user_id` must be 1 to 32 characters of A-Z, a-z, 0-9, `_` and `-`");
    }
    let url = start.stream_url.as_deref().unwrap_or_default().trim();
    let url_ok = STREAM_URL_SCHEMES.iter().any(|scheme| {
        url.get(..scheme.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(scheme))
            && url.len() > scheme.len()
    });
    if !url_ok {
        return bad("`stream_url` must start with rtmp://, rtmps://, http:// or https://");
    }
    match start.options.get("user_sig").and_then(Value::as_str) {
        Some(sig) if !sig.trim().is_empty() => Ok(sig),
        _ => bad("`options.user_sig` is required"),
    }
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// `Authorization` for a `POST /` of `body` at `now` (TC3-HMAC-SHA256, Tencent Cloud API 3.0).
fn tc3_authorization(s: &Settings, body: &[u8], now: u64) -> Result<String, Refusal> {
    let date = time::OffsetDateTime::from_unix_timestamp(now as i64)
        .map_err(|e| (500, e.to_string()))?
        .date();
    let date = format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    );
    let canonical = format!(
        "POST\n/\n\ncontent-type:application/json\nhost:{}\n\ncontent-type;host\n{}",
        s.authority.to_ascii_lowercase(),
        hex::encode(Sha256::digest(body))
    );
    let scope = format!("{date}/trtc/tc3_request");
    let to_sign = format!(
        "TC3-HMAC-SHA256\n{now}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let k_date = hmac_sha256(format!("TC3{}", s.secret_key).as_bytes(), &[date.as_bytes()]);
    let k_service = hmac_sha256(&k_date, &[b"trtc"]);
    let k_signing = hmac_sha256(&k_service, &[b"tc3_request"]);
    let signature = hex::encode(hmac_sha256(&k_signing, &[to_sign.as_bytes()]));
    Ok(format!(
        "TC3-HMAC-SHA256 Credential={}/{scope}, SignedHeaders=content-type;host, Signature={signature}",
        s.secret_id
    ))
}

/// The vendor's answer: TaskId and RequestId, or the status and detail to answer with.
fn read_answer(status: u16, body: &[u8]) -> Result<(String, Option<String>), Refusal> {
    let root: Value = serde_json::from_slice(body)
        .map_err(|_| (502, format!("StartStreamIngest answered {status} with no JSON")))?;
    let response = root
        .get("Response")
        .and_then(Value::as_object)
        .ok_or((502, "StartStreamIngest answered no `Response`".to_string()))?;
    let request_id = response
        .get("RequestId")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(error) = response.get("Error").filter(|e| !e.is_null()) {
        let code = error.get("Code").and_then(Value::as_str).unwrap_or("?");
        return Err((502, format!("StartStreamIngest failed: {code}")));
    }
    if !(200..300).contains(&status) {
        return Err((502, format!("StartStreamIngest answered {status}")));
    }
    match response.get("TaskId").and_then(Value::as_str) {
        Some(t) if !t.is_empty() && t.len() <= 2048 => Ok((t.to_string(), request_id)),
        _ => Err((502, "StartStreamIngest returned no usable TaskId".to_string())),
    }
}

/// The gateway's ingest id for `task_id` on provider `trtc`, no tenant.
fn seal(key: &str, task_id: &str) -> String {
    let data = serde_json::to_vec(&json!({ "p": "trtc", "r": task_id })).unwrap_or_default();
    let payload = B64.encode(data);
    let tag = B64.encode(hmac_sha256(
        key.as_bytes(),
        &[HANDLE_CONTEXT, payload.as_bytes()],
    ));
    format!("{payload}.{tag}")
}

fn problem(status: u32, detail: &str) -> Value {
    json!({ "status": status, "detail": detail })
}
