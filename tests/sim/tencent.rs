//! Tencent Cloud TRTC stream-ingest simulator (API version `2019-07-22`).
//!
//! Written from `shared/vendors/tencent-trtc.md` only. It verifies TC3-HMAC-SHA256 from the
//! received bytes, checks the timestamp against its own clock, validates the inputs of
//! `StartStreamIngest`, `StopStreamIngest`, `DescribeStreamIngest` and `UpdateStreamIngest`,
//! keeps the tasks in memory (a task's room is its `RoomId` *and* `RoomIdType`: the integer
//! room 42 and the string room "42" are different rooms; `RoomIdType` 1 needs an integer
//! `RoomId` in 1..=4294967294), and answers in Tencent's shapes: success
//! `{"Response": {..., "RequestId"}}`, error (always HTTP 200)
//! `{"Response": {"Error": {"Code", "Message"}, "RequestId"}}`.
//!
//! `UpdateStreamIngest` answers as the official SDK's models describe
//! (tencentcloud-sdk-python, `tencentcloud/trtc/v20190722/models.py`,
//! `UpdateStreamIngestResponse.Status`: `InProgress` the task is running, `NotExist` it does
//! not exist): for a task that has stopped or finished it answers success with
//! `Status: "NotExist"` and changes nothing; a `TaskId` it never issued is
//! `FailedOperation.TaskNotExist`. `Tempo` (start and update) must be one of 0.5, 0.75, 1.0,
//! 1.25, 1.5, 1.75, 2.0 and `IdleTimeout` 0..=600 (the same models), else `InvalidParameter`.
//!
//! Check order: route (`POST /`) → required common headers → `Content-Type` → signature
//! (Authorization syntax, timestamp skew, SecretId, credential scope, signature) → version →
//! region → action → body → the action's own parameters.
//!
//! UserSig: with an SDKSecretKey configured ([`TencentSimConfig::sdk_secret_key`]), every
//! `StartStreamIngest`'s `UserSig` is verified as TLSSigAPIv2 describes it — URL-safe base64
//! (`*` `-` `_`) → zlib → JSON; `TLS.identifier` must be the `UserId`, `TLS.sdkappid` the
//! application, `TLS.time + TLS.expire` not passed, and `TLS.sig` the base64 HMAC-SHA256 of the
//! content string under the key — else `InvalidParameter.UserSig`. Without a key any non-empty
//! `UserSig` is accepted (the simulator cannot check a ticket it has no key for).
//!
//! Callbacks: [`TencentSim::signed_callback`] builds the "Push Online Media Stream" callback
//! (event group 7: 701 status, 702 stopped) TRTC would POST, with `Sign` =
//! base64(HMAC-SHA256(callback key, body)) and `SdkAppId`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::server::{Recorded, SimResponse, SimServer, VendorHandler, lock};
use crate::tls::TestTls;

/// The API version this simulator serves (`X-TC-Version`).
pub const API_VERSION: &str = "2019-07-22";
/// The service name in the credential scope.
pub const SERVICE: &str = "trtc";
/// The only signature algorithm accepted.
pub const ALGORITHM: &str = "TC3-HMAC-SHA256";
/// Regions accepted in `X-TC-Region`: the union of the international and the CN site lists.
pub const REGIONS: &[&str] = &[
    "ap-bangkok",
    "ap-beijing",
    "ap-chongqing",
    "ap-guangzhou",
    "ap-jakarta",
    "ap-mumbai",
    "ap-shanghai",
    "ap-singapore",
    "ap-tokyo",
];
/// The demo's SecretId (not a real credential).
pub const DEMO_SECRET_ID: &str = "AKIDdemo00000000000000000000000000";
/// The demo's SecretKey (not a real credential).
pub const DEMO_SECRET_KEY: &str = "demo-trtc-secret-key-do-not-use";
/// The demo's SdkAppId.
pub const DEMO_SDK_APP_ID: u64 = 1_400_188_366;
/// The demo's SDKSecretKey (not a real credential): the `ingest-sim` binary verifies UserSigs
/// with it.
pub const DEMO_SDK_SECRET_KEY: &str = "demo-trtc-sdk-secret-key-do-not-use";
/// The demo's callback key (not a real credential).
pub const DEMO_CALLBACK_KEY: &str = "demo-trtc-callback-key";
/// Largest inflated UserSig document accepted, bytes.
const MAX_USER_SIG_DOCUMENT: usize = 16 * 1024;

type HmacSha256 = Hmac<Sha256>;

/// The one account the simulator knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TencentSimConfig {
    /// The accepted SecretId; any other is `AuthFailure.SecretIdNotFound`.
    pub secret_id: String,
    /// The SecretKey signatures are checked with.
    pub secret_key: String,
    /// The application's SdkAppId; any other is `InvalidParameter.SdkAppId`.
    pub sdk_app_id: u64,
    /// Largest accepted difference between `X-TC-Timestamp` and the simulator's clock, in
    /// seconds (Tencent: 300).
    pub max_skew_secs: i64,
    /// The application's SDKSecretKey. When set, `UserSig`s are verified with it (TLSSigAPIv2)
    /// and a wrong, foreign or expired one is `InvalidParameter.UserSig`; when `None`, any
    /// non-empty `UserSig` is accepted.
    pub sdk_secret_key: Option<String>,
    /// The callback key set in the console: [`TencentSim::signed_callback`] signs with it.
    pub callback_key: String,
}

impl TencentSimConfig {
    /// Fixed, fake credentials for tests.
    pub fn for_tests() -> Self {
        Self {
            secret_id: "AKIDtest0000000000000000000000000000".to_owned(),
            secret_key: "test-trtc-secret-key".to_owned(),
            sdk_app_id: 1_400_000_001,
            max_skew_secs: 300,
            sdk_secret_key: None,
            callback_key: "test-trtc-callback-key".to_owned(),
        }
    }

    /// The same account with UserSig verification on, with `key` as the SDKSecretKey.
    pub fn with_sdk_secret_key(self, key: &str) -> Self {
        Self {
            sdk_secret_key: Some(key.to_owned()),
            ..self
        }
    }

    /// The demo's credentials ([`DEMO_SECRET_ID`], [`DEMO_SECRET_KEY`], [`DEMO_SDK_APP_ID`],
    /// [`DEMO_CALLBACK_KEY`]), without UserSig verification (the bench sends a fixed
    /// `UserSig`); `.with_sdk_secret_key(DEMO_SDK_SECRET_KEY)` turns it on.
    pub fn demo() -> Self {
        Self {
            secret_id: DEMO_SECRET_ID.to_owned(),
            secret_key: DEMO_SECRET_KEY.to_owned(),
            sdk_app_id: DEMO_SDK_APP_ID,
            max_skew_secs: 300,
            sdk_secret_key: None,
            callback_key: DEMO_CALLBACK_KEY.to_owned(),
        }
    }
}

impl Default for TencentSimConfig {
    /// Same as [`TencentSimConfig::for_tests`].
    fn default() -> Self {
        Self::for_tests()
    }
}

/// Whether a task is still running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskState {
    /// Running: `DescribeStreamIngest` answers `InProgress`.
    InProgress,
    /// Stopped (by `StopStreamIngest` or [`TencentSim::finish_task`]): answers `NotExist`.
    Stopped,
}

/// One stream-ingest task as the simulator holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct SimTask {
    /// The opaque TaskId handed out by `StartStreamIngest`.
    pub task_id: String,
    /// `RoomId` as sent.
    pub room_id: String,
    /// `RoomIdType`: 0 string room id, 1 32-bit integer room id.
    pub room_id_type: u8,
    /// `UserId` of the relay robot.
    pub user_id: String,
    /// `UserSig` as sent.
    pub user_sig: String,
    /// Current source URL (`StreamUrl`, possibly changed by `UpdateStreamIngest`).
    pub stream_url: String,
    /// Current volume (default 100).
    pub volume: i64,
    /// Paused by `UpdateStreamIngest` with `IsPause: true`.
    pub paused: bool,
    /// Playback speed (`Tempo`, default 1.0), set at start or by `UpdateStreamIngest`.
    pub tempo: f64,
    /// `EnableProgress` (default false), set at start or by `UpdateStreamIngest`.
    pub enable_progress: bool,
    /// `IdleTimeout` seconds as sent at start, when sent.
    pub idle_timeout: Option<i64>,
    /// The privilege bits of the `PrivateMapKey` sent with the start, when the simulator has
    /// the SDKSecretKey and verified it ([`verify_private_map_key`]).
    pub private_map_privileges: Option<u32>,
    /// Running or stopped.
    pub state: TaskState,
}

/// A stream-ingest event to call back with (event group 7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallbackEvent {
    /// `EventType`: 701 stream-ingest status, 702 stopped.
    pub event_type: u32,
    /// `EventInfo.TaskId`.
    pub task_id: String,
    /// `EventInfo.Status` (701): 0 started, 1 failed, 2 retrying.
    pub status: Option<u8>,
}

/// A signed callback: what TRTC would POST.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimCallback {
    /// `content-type`, `Sign` and `SdkAppId`.
    pub headers: Vec<(String, String)>,
    /// The JSON body, exactly as signed.
    pub body: Vec<u8>,
}

/// A running TRTC simulator. Dropping it stops the server.
pub struct TencentSim {
    server: SimServer,
    trtc: Arc<Trtc>,
}

impl std::fmt::Debug for TencentSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TencentSim")
            .field("addr", &self.server.addr())
            .field("secret_id", &self.trtc.cfg.secret_id)
            .field("sdk_app_id", &self.trtc.cfg.sdk_app_id)
            .finish_non_exhaustive()
    }
}

crate::sim::deref_to_server!(TencentSim);

impl TencentSim {
    /// Starts on `127.0.0.1:0` (a free port).
    pub async fn start(cfg: TencentSimConfig) -> anyhow::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), cfg).await
    }

    /// Starts on `addr`.
    pub async fn start_on(addr: SocketAddr, cfg: TencentSimConfig) -> anyhow::Result<Self> {
        let trtc = Trtc::new(cfg);
        let server = SimServer::start_on(addr, Arc::clone(&trtc) as Arc<dyn VendorHandler>).await?;
        Ok(Self { server, trtc })
    }

    /// Starts over https on `127.0.0.1:0` with `tls`'s certificate (valid for `localhost`
    /// and `127.0.0.1`), offering HTTP/2 and HTTP/1.1 by ALPN: see
    /// [`SimServer::start_tls`]. `sim.url_with_host("localhost")` is then the endpoint.
    pub async fn start_tls(cfg: TencentSimConfig, tls: &TestTls) -> anyhow::Result<Self> {
        let trtc = Trtc::new(cfg);
        let server = SimServer::start_tls(Arc::clone(&trtc) as Arc<dyn VendorHandler>, tls).await?;
        Ok(Self { server, trtc })
    }

    /// Starts over https on `addr` with any rustls server configuration, e.g.
    /// [`TestTls::server_config_with_alpn`] for a vendor that offers only HTTP/1.1: see
    /// [`SimServer::start_tls_on`].
    pub async fn start_tls_on(
        addr: SocketAddr,
        cfg: TencentSimConfig,
        config: Arc<rustls::ServerConfig>,
    ) -> anyhow::Result<Self> {
        let trtc = Trtc::new(cfg);
        let server =
            SimServer::start_tls_on(addr, Arc::clone(&trtc) as Arc<dyn VendorHandler>, config)
                .await?;
        Ok(Self { server, trtc })
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &TencentSimConfig {
        &self.trtc.cfg
    }

    /// The underlying server.
    pub fn server(&self) -> &SimServer {
        &self.server
    }

    /// Load-test mode: every valid `StartStreamIngest` succeeds with a new `TaskId` and no
    /// task is kept (no `FailedOperation.TaskExist` for a repeated room and user, and no task
    /// list growing with every request). Signatures and fields are checked as always.
    pub fn set_load_test(&self, on: bool) {
        self.trtc.load_test.store(on, Ordering::SeqCst);
    }

    /// Every task ever started, in start order.
    pub fn tasks(&self) -> Vec<SimTask> {
        lock(&self.trtc.tasks).clone()
    }

    /// How many `UserSig`s were verified with the SDKSecretKey and accepted.
    pub fn user_sigs_verified(&self) -> u64 {
        self.trtc.user_sigs_verified.load(Ordering::SeqCst)
    }

    /// A valid UserSig for `user_id`, made now with the configured SDKSecretKey and valid for
    /// `expire_secs` (`None` without a key): what an application's server would pass.
    pub fn user_sig(&self, user_id: &str, expire_secs: i64) -> Option<String> {
        let key = self.trtc.cfg.sdk_secret_key.as_deref()?;
        Some(make_user_sig(
            key,
            self.trtc.cfg.sdk_app_id,
            user_id,
            unix_now(),
            expire_secs,
        ))
    }

    /// The callback TRTC would send now for `event`.
    pub fn signed_callback(&self, event: &CallbackEvent) -> SimCallback {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        self.callback_at(event, now_ms)
    }

    /// The callback for `event` sent at `callback_ms` (`CallbackMsTs`, and `EventMsTs` one
    /// second earlier), signed with the configured callback key.
    pub fn callback_at(&self, event: &CallbackEvent, callback_ms: u64) -> SimCallback {
        let mut info = json!({
            "EventMsTs": callback_ms.saturating_sub(1000),
            "TaskId": event.task_id,
        });
        if let Some(status) = event.status {
            info["Status"] = json!(status);
        }
        let body = json!({
            "EventGroupId": 7,
            "EventType": event.event_type,
            "CallbackMsTs": callback_ms,
            "EventInfo": info,
        })
        .to_string()
        .into_bytes();
        let sign = BASE64.encode(hmac_sha256(self.trtc.cfg.callback_key.as_bytes(), &body));
        SimCallback {
            headers: vec![
                ("content-type".to_owned(), "application/json".to_owned()),
                ("Sign".to_owned(), sign),
                ("SdkAppId".to_owned(), self.trtc.cfg.sdk_app_id.to_string()),
            ],
            body,
        }
    }

    /// Ends a running task as if its source had finished (it then describes as `NotExist`).
    /// Returns whether a running task with that id existed.
    pub fn finish_task(&self, task_id: &str) -> bool {
        let mut tasks = lock(&self.trtc.tasks);
        match tasks
            .iter_mut()
            .find(|t| t.task_id == task_id && t.state == TaskState::InProgress)
        {
            Some(task) => {
                task.state = TaskState::Stopped;
                true
            }
            None => false,
        }
    }
}

/// The vendor handler: configuration, tasks, and a serial number for ids.
struct Trtc {
    cfg: TencentSimConfig,
    tasks: Mutex<Vec<SimTask>>,
    serial: AtomicU64,
    load_test: AtomicBool,
    user_sigs_verified: AtomicU64,
}

impl Trtc {
    fn new(cfg: TencentSimConfig) -> Arc<Self> {
        Arc::new(Self {
            cfg,
            tasks: Mutex::new(Vec::new()),
            serial: AtomicU64::new(0),
            load_test: AtomicBool::new(false),
            user_sigs_verified: AtomicU64::new(0),
        })
    }
}

/// An error answer: a Tencent error code and message.
#[derive(Debug)]
struct ApiError {
    code: &'static str,
    message: String,
}

fn err(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError {
        code,
        message: message.into(),
    }
}

/// The error envelope, always with HTTP 200.
fn error_envelope(code: &str, message: &str, request_id: &str) -> SimResponse {
    SimResponse::json(
        200,
        &json!({"Response": {"Error": {"Code": code, "Message": message}, "RequestId": request_id}}),
    )
}

impl VendorHandler for Trtc {
    fn handle(&self, request: &Recorded) -> SimResponse {
        let request_id = self.request_id();
        match self.dispatch(request, unix_now()) {
            Ok(mut fields) => {
                fields.insert("RequestId".to_owned(), Value::String(request_id));
                SimResponse::json(200, &json!({ "Response": fields }))
            }
            Err(e) => error_envelope(e.code, &e.message, &request_id),
        }
    }

    fn vendor_error(&self, _request: &Recorded, code: &str, message: &str) -> SimResponse {
        error_envelope(code, message, &self.request_id())
    }
}

type Fields = Map<String, Value>;

impl Trtc {
    fn dispatch(&self, req: &Recorded, now: i64) -> Result<Fields, ApiError> {
        if req.method != "POST" || req.path_and_query != "/" {
            return Err(err(
                "UnsupportedOperation",
                format!(
                    "only `POST /` is served, got `{} {}`",
                    req.method, req.path_and_query
                ),
            ));
        }
        let action = required_header(req, "X-TC-Action")?;
        let version = required_header(req, "X-TC-Version")?;
        let timestamp = required_header(req, "X-TC-Timestamp")?;
        let region = required_header(req, "X-TC-Region")?;
        check_content_type(req)?;
        self.authenticate(req, timestamp, now)?;
        if version != API_VERSION {
            return Err(err(
                "NoSuchVersion",
                format!("the API version `{version}` does not exist (expected `{API_VERSION}`)"),
            ));
        }
        if !REGIONS.contains(&region) {
            return Err(err(
                "UnsupportedRegion",
                format!("the region `{region}` is not supported"),
            ));
        }
        let handler: fn(&Self, &Fields) -> Result<Fields, ApiError> = match action {
            "StartStreamIngest" => Self::start_ingest,
            "StopStreamIngest" => Self::stop_ingest,
            "DescribeStreamIngest" => Self::describe_ingest,
            "UpdateStreamIngest" => Self::update_ingest,
            other => {
                return Err(err(
                    "UnsupportedOperation",
                    format!("the action `{other}` is not supported"),
                ));
            }
        };
        let body = match serde_json::from_slice::<Value>(&req.body) {
            Ok(Value::Object(body)) => body,
            Ok(_) => {
                return Err(err(
                    "InternalError.HttpParseFailed",
                    "the request body must be a JSON object",
                ));
            }
            Err(e) => {
                return Err(err(
                    "InternalError.HttpParseFailed",
                    format!("the request body is not JSON: {e}"),
                ));
            }
        };
        handler(self, &body)
    }

    /// TC3-HMAC-SHA256 verification, from the received request.
    fn authenticate(&self, req: &Recorded, timestamp: &str, now: i64) -> Result<(), ApiError> {
        let header = req.header("authorization").ok_or_else(|| {
            err(
                "AuthFailure.InvalidAuthorization",
                "the Authorization header is missing",
            )
        })?;
        let auth = Authorization::parse(header)?;

        let ts = parse_timestamp(timestamp).ok_or_else(|| {
            err(
                "AuthFailure.SignatureExpire",
                format!("X-TC-Timestamp `{timestamp}` is not a Unix timestamp in seconds"),
            )
        })?;
        let max_skew = u64::try_from(self.cfg.max_skew_secs).unwrap_or(0);
        if ts.abs_diff(now) > max_skew {
            return Err(err(
                "AuthFailure.SignatureExpire",
                format!(
                    "signature expired: X-TC-Timestamp {ts} is more than {max_skew} s away from the server time {now}"
                ),
            ));
        }
        if auth.secret_id != self.cfg.secret_id {
            return Err(err(
                "AuthFailure.SecretIdNotFound",
                format!("the SecretId `{}` does not exist", auth.secret_id),
            ));
        }
        if auth.service != SERVICE {
            return Err(err(
                "AuthFailure.SignatureFailure",
                format!(
                    "the credential scope names service `{}`, expected `{SERVICE}`",
                    auth.service
                ),
            ));
        }
        let date = utc_date(ts).ok_or_else(|| {
            err(
                "AuthFailure.SignatureExpire",
                "X-TC-Timestamp is out of range",
            )
        })?;
        if auth.date != date {
            return Err(err(
                "AuthFailure.SignatureFailure",
                format!(
                    "the credential scope date `{}` is not the UTC date `{date}` of X-TC-Timestamp",
                    auth.date
                ),
            ));
        }
        for needed in ["content-type", "host"] {
            if !auth.signed_headers.contains(&needed) {
                return Err(err(
                    "AuthFailure.InvalidAuthorization",
                    format!("SignedHeaders must include `{needed}`"),
                ));
            }
        }
        let canonical = canonical_request(req, &auth.signed_headers).map_err(|missing| {
            err(
                "AuthFailure.SignatureFailure",
                format!("the signed header `{missing}` is not in the request"),
            )
        })?;
        let scope = format!("{date}/{SERVICE}/tc3_request");
        let to_sign = string_to_sign(timestamp, &scope, &canonical);
        let expected = signature(&self.cfg.secret_key, &date, SERVICE, &to_sign);
        if auth.signature != expected {
            return Err(err(
                "AuthFailure.SignatureFailure",
                "the provided credentials could not be validated: the signature does not match",
            ));
        }
        if req.header("x-tc-token").is_some_and(|t| !t.is_empty()) {
            return Err(err(
                "AuthFailure.TokenFailure",
                "this simulator has no temporary credentials; X-TC-Token is not accepted",
            ));
        }
        Ok(())
    }

    fn check_sdk_app_id(&self, body: &Fields) -> Result<(), ApiError> {
        match present(body, "SdkAppId") {
            None => Err(err(
                "MissingParameter.SdkAppId",
                "the parameter `SdkAppId` is missing",
            )),
            Some(value) if value.as_u64() == Some(self.cfg.sdk_app_id) => Ok(()),
            Some(value) => Err(err(
                "InvalidParameter.SdkAppId",
                format!("`SdkAppId` {value} is not an application of this account"),
            )),
        }
    }

    fn start_ingest(&self, body: &Fields) -> Result<Fields, ApiError> {
        self.check_sdk_app_id(body)?;
        let room_id = match present(body, "RoomId") {
            None => {
                return Err(err(
                    "MissingParameter.RoomId",
                    "the parameter `RoomId` is missing",
                ));
            }
            Some(Value::String(s)) if s.is_empty() => {
                return Err(err(
                    "MissingParameter.RoomId",
                    "the parameter `RoomId` is empty",
                ));
            }
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(err("InvalidParameter.RoomId", "`RoomId` must be a string")),
        };
        let room_id_type = match int(body, "RoomIdType")? {
            Some(0) => 0,
            Some(1) => 1,
            None => return Err(body_error("`RoomIdType` is required")),
            Some(other) => {
                return Err(body_error(format!(
                    "`RoomIdType` must be 0 or 1, got {other}"
                )));
            }
        };
        // RoomIdType 1 (Tencent's default): a 32-bit integer room, 1..4294967294. The number
        // 42 and the string "42" are different rooms, so the type is part of the room.
        if room_id_type == 1 && !is_integer_room(&room_id) {
            return Err(err(
                "InvalidParameter.RoomId",
                format!(
                    "with RoomIdType 1, `RoomId` must be an integer room id in \
                     1..=4294967294, got `{room_id}`"
                ),
            ));
        }
        let user_id = match present(body, "UserId") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err(body_error("`UserId` must be a non-empty string")),
        };
        // The relay robot's user id: at most 32 characters of `A-Z a-z 0-9 _ -`.
        if user_id.len() > 32
            || !user_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(body_error(format!(
                "`UserId` must be at most 32 characters of A-Z a-z 0-9 _ -, got `{user_id}`"
            )));
        }
        let user_sig = match present(body, "UserSig") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => {
                return Err(err(
                    "InvalidParameter.UserSig",
                    "`UserSig` must be a non-empty string",
                ));
            }
        };
        if let Some(key) = &self.cfg.sdk_secret_key {
            verify_user_sig(&user_sig, &user_id, self.cfg.sdk_app_id, key, unix_now())
                .map_err(|why| err("InvalidParameter.UserSig", why))?;
            self.user_sigs_verified.fetch_add(1, Ordering::SeqCst);
        }
        let stream_url = stream_url(body)?
            .ok_or_else(|| err("InvalidParameter.StreamUrl", "`StreamUrl` is required"))?;
        let repeat_num = int(body, "RepeatNum")?.unwrap_or(1);
        if repeat_num == 0 || !(-1..=1000).contains(&repeat_num) {
            return Err(body_error(format!(
                "`RepeatNum` must be -1 or 1..=1000, got {repeat_num}"
            )));
        }
        if let Some(minutes) = int(body, "MaxDuration")? {
            if repeat_num != -1 {
                return Err(body_error(
                    "`MaxDuration` is only allowed with `RepeatNum` -1",
                ));
            }
            if !(1..=10080).contains(&minutes) {
                return Err(body_error(format!(
                    "`MaxDuration` must be 1..=10080 minutes, got {minutes}"
                )));
            }
        }
        let volume = volume(body)?.unwrap_or(100);
        if int(body, "SeekSecond")?.is_some_and(|s| s < 0) {
            return Err(body_error("`SeekSecond` must not be negative"));
        }
        boolean(body, "AutoPush")?;
        let enable_progress = boolean(body, "EnableProgress")?.unwrap_or(false);
        let tempo = tempo(body)?.unwrap_or(1.0);
        let idle_timeout = int(body, "IdleTimeout")?;
        if idle_timeout.is_some_and(|t| !(0..=600).contains(&t)) {
            return Err(err(
                "InvalidParameter",
                "`IdleTimeout` must be 0..=600 seconds",
            ));
        }
        let private_map_key = string(body, "PrivateMapKey")?;
        // Tencent checks a PrivateMapKey when the robot enters the room and publishes no API
        // error for it; the simulator checks it at once and answers the start's generic
        // parameter error, so a test sees a bad one.
        let private_map_privileges = match (&self.cfg.sdk_secret_key, private_map_key) {
            (Some(key), Some(pmk)) => Some(
                verify_private_map_key(
                    pmk,
                    &user_id,
                    self.cfg.sdk_app_id,
                    key,
                    unix_now(),
                    &room_id,
                    room_id_type,
                )
                .map_err(body_error)?,
            ),
            _ => None,
        };

        if self.load_test.load(Ordering::Relaxed) {
            let mut out = Fields::new();
            out.insert(
                "TaskId".to_owned(),
                Value::String(self.task_id(&room_id, &user_id)),
            );
            return Ok(out);
        }
        let mut tasks = lock(&self.tasks);
        if tasks.iter().any(|t| {
            t.state == TaskState::InProgress
                && t.room_id == room_id
                && t.room_id_type == room_id_type
                && t.user_id == user_id
        }) {
            return Err(err(
                "FailedOperation.TaskExist",
                format!(
                    "a task for room `{room_id}` (RoomIdType {room_id_type}) and user \
                     `{user_id}` is already running"
                ),
            ));
        }
        let task_id = self.task_id(&room_id, &user_id);
        tasks.push(SimTask {
            task_id: task_id.clone(),
            room_id,
            room_id_type,
            user_id,
            user_sig,
            stream_url,
            volume,
            paused: false,
            tempo,
            enable_progress,
            idle_timeout,
            private_map_privileges,
            state: TaskState::InProgress,
        });
        let mut out = Fields::new();
        out.insert("TaskId".to_owned(), Value::String(task_id));
        Ok(out)
    }

    fn stop_ingest(&self, body: &Fields) -> Result<Fields, ApiError> {
        self.check_sdk_app_id(body)?;
        let task_id = task_id(body)?;
        let mut tasks = lock(&self.tasks);
        let task = tasks
            .iter_mut()
            .find(|t| t.task_id == task_id)
            .ok_or_else(|| err("InvalidParameter.TaskId", format!("no task `{task_id}`")))?;
        if task.state == TaskState::Stopped {
            return Err(err(
                "FailedOperation.TaskFinished",
                format!("the task `{task_id}` has already finished"),
            ));
        }
        task.state = TaskState::Stopped;
        Ok(Fields::new())
    }

    fn describe_ingest(&self, body: &Fields) -> Result<Fields, ApiError> {
        self.check_sdk_app_id(body)?;
        let task_id = task_id(body)?;
        let running = lock(&self.tasks)
            .iter()
            .any(|t| t.task_id == task_id && t.state == TaskState::InProgress);
        let mut out = Fields::new();
        let status = if running { "InProgress" } else { "NotExist" };
        out.insert("Status".to_owned(), Value::String(status.to_owned()));
        Ok(out)
    }

    /// `UpdateStreamIngest`. The answer's `Status` is the task's (the official SDK's
    /// `UpdateStreamIngestResponse`: `InProgress` running, `NotExist` the task does not
    /// exist): a task this simulator started that has since stopped or finished answers
    /// success with `Status: "NotExist"` and nothing changes; a `TaskId` it never issued is
    /// `FailedOperation.TaskNotExist` ("任务不存在或已结束", in the product's error codes).
    fn update_ingest(&self, body: &Fields) -> Result<Fields, ApiError> {
        self.check_sdk_app_id(body)?;
        let task_id = task_id(body)?;
        let new_url = stream_url(body)?;
        let new_volume = volume(body)?;
        let pause = boolean(body, "IsPause")?;
        let progress = boolean(body, "EnableProgress")?;
        let new_tempo = tempo(body)?;
        let mut tasks = lock(&self.tasks);
        let mut out = Fields::new();
        let Some(task) = tasks.iter_mut().rev().find(|t| t.task_id == task_id) else {
            return Err(err(
                "FailedOperation.TaskNotExist",
                format!("no task `{task_id}`"),
            ));
        };
        if task.state == TaskState::Stopped {
            out.insert("Status".to_owned(), Value::String("NotExist".to_owned()));
            return Ok(out);
        }
        if let Some(url) = new_url {
            task.stream_url = url;
        }
        if let Some(volume) = new_volume {
            task.volume = volume;
        }
        if let Some(pause) = pause {
            task.paused = pause;
        }
        if let Some(progress) = progress {
            task.enable_progress = progress;
        }
        if let Some(tempo) = new_tempo {
            task.tempo = tempo;
        }
        out.insert("Status".to_owned(), Value::String("InProgress".to_owned()));
        Ok(out)
    }

    /// 32 pseudo-random bytes, unique per call (serial number + clock).
    fn entropy(&self, seed: &[u8]) -> [u8; 32] {
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let mut hasher = Sha256::new();
        hasher.update(serial.to_be_bytes());
        hasher.update(nanos.to_be_bytes());
        hasher.update(seed);
        hasher.finalize().into()
    }

    /// A uuid-like request id (`8-4-4-4-12` lowercase hex).
    fn request_id(&self) -> String {
        let hex = hex::encode(self.entropy(b"request"));
        format!(
            "{}-{}-4{}-a{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[13..16],
            &hex[17..20],
            &hex[20..32]
        )
    }

    /// An opaque task id shaped like TRTC's: letters and digits around `-`, `+`, `.` and `_`,
    /// so callers must treat it as opaque (escape it in URLs, never parse it).
    fn task_id(&self, room_id: &str, user_id: &str) -> String {
        const ALPHABET: &[u8; 62] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut seed = room_id.as_bytes().to_vec();
        seed.push(0);
        seed.extend_from_slice(user_id.as_bytes());
        let chars: String = self
            .entropy(&seed)
            .iter()
            .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
            .collect();
        format!(
            "-{}+{}.{}_{}",
            &chars[0..8],
            &chars[8..16],
            &chars[16..24],
            &chars[24..32]
        )
    }
}

/// A parsed `Authorization: TC3-HMAC-SHA256 Credential=ID/DATE/SERVICE/tc3_request,
/// SignedHeaders=a;b, Signature=HEX` header.
struct Authorization<'a> {
    secret_id: &'a str,
    date: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

impl<'a> Authorization<'a> {
    fn parse(value: &'a str) -> Result<Self, ApiError> {
        let invalid = |why: &str| {
            err(
                "AuthFailure.InvalidAuthorization",
                format!("the Authorization header is malformed: {why}"),
            )
        };
        let rest = value
            .strip_prefix(ALGORITHM)
            .and_then(|r| r.strip_prefix(' '))
            .ok_or_else(|| invalid("it must start with `TC3-HMAC-SHA256 `"))?;
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for part in rest.split(", ") {
            let (key, val) = part
                .split_once('=')
                .ok_or_else(|| invalid("parts are `Key=Value`, separated by `, `"))?;
            let slot = match key {
                "Credential" => &mut credential,
                "SignedHeaders" => &mut signed,
                "Signature" => &mut signature,
                _ => return Err(invalid("unknown part (parts are separated by `, `)")),
            };
            if val.is_empty() || slot.replace(val).is_some() {
                return Err(invalid("a part is empty or repeated"));
            }
        }
        let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature)
        else {
            return Err(invalid(
                "Credential, SignedHeaders and Signature are all required",
            ));
        };
        let scope: Vec<&str> = credential.split('/').collect();
        let [secret_id, date, service, "tc3_request"] = scope.as_slice() else {
            return Err(invalid(
                "Credential must be `SecretId/Date/Service/tc3_request`",
            ));
        };
        if [secret_id, date, service].iter().any(|s| s.is_empty()) {
            return Err(invalid("Credential has an empty part"));
        }
        let signed_headers: Vec<&str> = signed.split(';').collect();
        let well_formed = signed_headers.iter().all(|h| {
            !h.is_empty()
                && !h
                    .bytes()
                    .any(|b| b.is_ascii_uppercase() || b.is_ascii_whitespace())
        }) && signed_headers.windows(2).all(|w| w[0] < w[1]);
        if !well_formed {
            return Err(invalid(
                "SignedHeaders must be lowercase names, sorted, without repeats, joined by `;`",
            ));
        }
        Ok(Self {
            secret_id,
            date,
            service,
            signed_headers,
            signature,
        })
    }
}

/// The canonical request rebuilt from what was received. `signed_headers` is already lowercase
/// and sorted. Fails with the name of a signed header the request does not carry.
fn canonical_request<'h>(req: &Recorded, signed_headers: &[&'h str]) -> Result<String, &'h str> {
    let (path, query) = req
        .path_and_query
        .split_once('?')
        .unwrap_or((req.path_and_query.as_str(), ""));
    let mut headers = String::new();
    for name in signed_headers {
        let value = req.header(name).ok_or(*name)?;
        headers.push_str(name);
        headers.push(':');
        headers.push_str(&value.trim().to_lowercase());
        headers.push('\n');
    }
    let payload_hash = hex::encode(Sha256::digest(&req.body));
    Ok(format!(
        "{}\n{path}\n{query}\n{headers}\n{}\n{payload_hash}",
        req.method,
        signed_headers.join(";")
    ))
}

fn string_to_sign(timestamp: &str, scope: &str, canonical_request: &str) -> String {
    let hashed = hex::encode(Sha256::digest(canonical_request.as_bytes()));
    format!("{ALGORITHM}\n{timestamp}\n{scope}\n{hashed}")
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// `lowercase_hex(HMAC(kSigning, StringToSign))` with the TC3 key derivation.
fn signature(secret_key: &str, date: &str, service: &str, string_to_sign: &str) -> String {
    let k_date = hmac_sha256(format!("TC3{secret_key}").as_bytes(), date.as_bytes());
    let k_service = hmac_sha256(&k_date, service.as_bytes());
    let k_signing = hmac_sha256(&k_service, b"tc3_request");
    hex::encode(hmac_sha256(&k_signing, string_to_sign.as_bytes()))
}

/// TLSSigAPIv2's signed text.
fn user_sig_content(user_id: &str, sdk_app_id: u64, time: i64, expire: i64) -> String {
    format!(
        "TLS.identifier:{user_id}\nTLS.sdkappid:{sdk_app_id}\nTLS.time:{time}\nTLS.expire:{expire}\n"
    )
}

/// `TLS.sig`: base64 of HMAC-SHA256 keyed with the SDKSecretKey's UTF-8 bytes.
fn user_sig_mac(key: &str, content: &str) -> String {
    BASE64.encode(hmac_sha256(key.as_bytes(), content.as_bytes()))
}

/// A UserSig as Tencent's libraries make it: the JSON document, zlib, base64, then `+` → `*`,
/// `/` → `-`, `=` → `_`.
pub fn make_user_sig(key: &str, sdk_app_id: u64, user_id: &str, time: i64, expire: i64) -> String {
    let document = json!({
        "TLS.ver": "2.0",
        "TLS.identifier": user_id,
        "TLS.sdkappid": sdk_app_id,
        "TLS.expire": expire,
        "TLS.time": time,
        "TLS.sig": user_sig_mac(key, &user_sig_content(user_id, sdk_app_id, time, expire)),
    });
    let compressed = miniz_oxide::deflate::compress_to_vec_zlib(document.to_string().as_bytes(), 6);
    BASE64
        .encode(compressed)
        .replace('+', "*")
        .replace('/', "-")
        .replace('=', "_")
}

/// The JSON document inside a UserSig: URL-safe base64 (`*` `-` `_` for `+` `/` `=`), then
/// zlib. Nothing is verified here.
pub fn decode_user_sig(sig: &str) -> Result<Map<String, Value>, String> {
    let standard = sig.replace('*', "+").replace('-', "/").replace('_', "=");
    let compressed = BASE64
        .decode(standard.as_bytes())
        .map_err(|_| "`UserSig` is not URL-safe base64 (`*` `-` `_` for `+` `/` `=`)".to_owned())?;
    let document =
        miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&compressed, MAX_USER_SIG_DOCUMENT)
            .map_err(|_| "`UserSig` does not inflate (zlib)".to_owned())?;
    match serde_json::from_slice::<Value>(&document) {
        Ok(Value::Object(doc)) => Ok(doc),
        _ => Err("the `UserSig` document is not a JSON object".to_owned()),
    }
}

/// Verifies a UserSig for `user_id` of application `sdk_app_id` with the SDKSecretKey `key`
/// at `now` (Unix seconds); the error says what is wrong.
pub fn verify_user_sig(
    sig: &str,
    user_id: &str,
    sdk_app_id: u64,
    key: &str,
    now: i64,
) -> Result<(), String> {
    match verify_ticket(sig, user_id, sdk_app_id, key, now)? {
        None => Ok(()),
        Some(_) => Err("the `UserSig` carries a `TLS.userbuf` (a PrivateMapKey?)".to_owned()),
    }
}

/// Verifies a PrivateMapKey: a TLSSigAPIv2 ticket whose signed `TLS.userbuf` is the
/// permission record (version 0 integer room / 1 string room, u16 user id length and bytes,
/// u32 SdkAppId, u32 room id, u32 absolute expiry, u32 privilege bits, u32 account type, then
/// for a string room its u16 length and bytes; big-endian), written from Tencent's published
/// TLSSigAPIv2 libraries. Checks the record names this user, application and room
/// (`room_id` as `RoomIdType` says) and has not expired; returns its privilege bits.
pub fn verify_private_map_key(
    pmk: &str,
    user_id: &str,
    sdk_app_id: u64,
    key: &str,
    now: i64,
    room_id: &str,
    room_id_type: u8,
) -> Result<u32, String> {
    let buf = verify_ticket(pmk, user_id, sdk_app_id, key, now)
        .map_err(|why| why.replace("`UserSig`", "`PrivateMapKey`"))?
        .ok_or_else(|| "the `PrivateMapKey` has no `TLS.userbuf`".to_owned())?;
    let bad = |what: &str| format!("the `PrivateMapKey` permission record {what}");
    let mut at = 0usize;
    let mut take = |n: usize| -> Result<&[u8], String> {
        let part = buf.get(at..at + n).ok_or_else(|| bad("is cut short"))?;
        at += n;
        Ok(part)
    };
    let u16_at = |b: &[u8]| usize::from(u16::from_be_bytes([b[0], b[1]]));
    let u32_at = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let version = take(1)?[0];
    let account_len = u16_at(take(2)?);
    if take(account_len)? != user_id.as_bytes() {
        return Err(bad(&format!("is not for UserId `{user_id}`")));
    }
    if u64::from(u32_at(take(4)?)) != sdk_app_id {
        return Err(bad(&format!("is not for SdkAppId {sdk_app_id}")));
    }
    let room = u32_at(take(4)?);
    let expires_at = i64::from(u32_at(take(4)?));
    let privileges = u32_at(take(4)?);
    let _account_type = take(4)?;
    let room_ok = match (version, room_id_type) {
        (0, 1) => room.to_string() == room_id,
        (1, 0) => {
            let len = u16_at(take(2)?);
            take(len)? == room_id.as_bytes()
        }
        _ => false,
    };
    if !room_ok {
        return Err(bad(&format!(
            "is not for room `{room_id}` (RoomIdType {room_id_type})"
        )));
    }
    if expires_at < now {
        return Err(bad(&format!("expired at {expires_at} (now {now})")));
    }
    Ok(privileges)
}

/// The checks a UserSig and a PrivateMapKey share; returns the signed `TLS.userbuf`, if any.
fn verify_ticket(
    sig: &str,
    user_id: &str,
    sdk_app_id: u64,
    key: &str,
    now: i64,
) -> Result<Option<Vec<u8>>, String> {
    let doc = decode_user_sig(sig)?;
    let text = |name: &str| doc.get(name).and_then(Value::as_str);
    let number = |name: &str| {
        doc.get(name)
            .and_then(Value::as_i64)
            .ok_or_else(|| format!("the `UserSig` document has no integer `{name}`"))
    };
    if text("TLS.ver") != Some("2.0") {
        return Err("the `UserSig` is not TLSSigAPIv2 (`TLS.ver` must be \"2.0\")".to_owned());
    }
    let identifier = text("TLS.identifier")
        .ok_or_else(|| "the `UserSig` document has no `TLS.identifier`".to_owned())?;
    if identifier != user_id {
        return Err(format!(
            "the `UserSig` is for `{identifier}`, not for UserId `{user_id}`"
        ));
    }
    let app = doc.get("TLS.sdkappid").and_then(Value::as_u64);
    if app != Some(sdk_app_id) {
        return Err(format!(
            "the `UserSig` is not for SdkAppId {sdk_app_id} (`TLS.sdkappid` {app:?})"
        ));
    }
    let time = number("TLS.time")?;
    let expire = number("TLS.expire")?;
    if time.checked_add(expire).is_none_or(|end| end < now) {
        return Err(format!(
            "the `UserSig` expired: made at {time}, valid {expire} s, now {now}"
        ));
    }
    let given =
        text("TLS.sig").ok_or_else(|| "the `UserSig` document has no `TLS.sig`".to_owned())?;
    let mut content = user_sig_content(identifier, sdk_app_id, time, expire);
    let user_buf = match text("TLS.userbuf") {
        None => None,
        Some(b64) => {
            content.push_str(&format!("TLS.userbuf:{b64}\n"));
            Some(
                BASE64
                    .decode(b64)
                    .map_err(|_| "`TLS.userbuf` is not base64".to_owned())?,
            )
        }
    };
    if given != user_sig_mac(key, &content) {
        return Err(
            "the `UserSig` signature does not verify with the application's key".to_owned(),
        );
    }
    Ok(user_buf)
}

/// `YYYY-MM-DD` of a Unix timestamp, in UTC.
fn utc_date(ts: i64) -> Option<String> {
    let date = time::OffsetDateTime::from_unix_timestamp(ts).ok()?.date();
    Some(format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    ))
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Decimal digits only (no sign, no spaces), as an `i64`.
fn parse_timestamp(text: &str) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// An integer room id (`RoomIdType` 1): decimal digits, 1..=4294967294.
fn is_integer_room(text: &str) -> bool {
    !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && text
            .parse::<u32>()
            .is_ok_and(|n| (1..=4_294_967_294).contains(&n))
}

fn required_header<'r>(req: &'r Recorded, name: &str) -> Result<&'r str, ApiError> {
    match req.header(name).map(str::trim) {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(err(
            "MissingParameter",
            format!("the request is missing the required header `{name}`"),
        )),
    }
}

/// `application/json`, optionally with parameters such as `; charset=utf-8`.
fn check_content_type(req: &Recorded) -> Result<(), ApiError> {
    let value = req.header("content-type").unwrap_or_default();
    let media_type = value.split(';').next().unwrap_or_default().trim();
    if media_type.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(err(
            "UnsupportedOperation",
            format!("Content-Type must be `application/json`, got `{value}`"),
        ))
    }
}

fn body_error(message: impl Into<String>) -> ApiError {
    err("InvalidParameter.BodyParamsError", message)
}

/// The field, treating JSON `null` as absent.
fn present<'b>(body: &'b Fields, name: &str) -> Option<&'b Value> {
    body.get(name).filter(|v| !v.is_null())
}

fn int(body: &Fields, name: &str) -> Result<Option<i64>, ApiError> {
    present(body, name)
        .map(|v| {
            v.as_i64()
                .ok_or_else(|| body_error(format!("`{name}` must be an integer, got {v}")))
        })
        .transpose()
}

fn boolean(body: &Fields, name: &str) -> Result<Option<bool>, ApiError> {
    present(body, name)
        .map(|v| {
            v.as_bool()
                .ok_or_else(|| body_error(format!("`{name}` must be a boolean, got {v}")))
        })
        .transpose()
}

fn string<'b>(body: &'b Fields, name: &str) -> Result<Option<&'b str>, ApiError> {
    present(body, name)
        .map(|v| {
            v.as_str()
                .ok_or_else(|| body_error(format!("`{name}` must be a string, got {v}")))
        })
        .transpose()
}

/// The `Tempo` values Tencent takes (start and update), per the official SDK's models:
/// "可取[0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]".
pub const TEMPOS: [f64; 7] = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0];

/// `Tempo` if present: a number in [`TEMPOS`], else `InvalidParameter`.
fn tempo(body: &Fields) -> Result<Option<f64>, ApiError> {
    let Some(value) = present(body, "Tempo") else {
        return Ok(None);
    };
    match value.as_f64() {
        Some(t) if TEMPOS.contains(&t) => Ok(Some(t)),
        _ => Err(err(
            "InvalidParameter",
            format!("`Tempo` must be one of 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, got {value}"),
        )),
    }
}

/// `Volume`: intl 0..=100, CN 0..=200; the simulator accepts the wider CN range.
fn volume(body: &Fields) -> Result<Option<i64>, ApiError> {
    let volume = int(body, "Volume")?;
    if volume.is_some_and(|v| !(0..=200).contains(&v)) {
        return Err(body_error("`Volume` must be 0..=200"));
    }
    Ok(volume)
}

/// `StreamUrl` if present: a string starting with `rtmp://`, `http://` or `https://` followed
/// by something.
fn stream_url(body: &Fields) -> Result<Option<String>, ApiError> {
    let Some(value) = present(body, "StreamUrl") else {
        return Ok(None);
    };
    let valid = value.as_str().filter(|url| {
        let lower = url.to_ascii_lowercase();
        ["rtmp://", "http://", "https://"]
            .iter()
            .any(|scheme| lower.starts_with(scheme) && lower.len() > scheme.len())
    });
    match valid {
        Some(url) => Ok(Some(url.to_owned())),
        None => Err(err(
            "InvalidParameter.StreamUrl",
            format!("`StreamUrl` must be an rtmp://, http:// or https:// URL, got {value}"),
        )),
    }
}

fn task_id(body: &Fields) -> Result<&str, ApiError> {
    match present(body, "TaskId") {
        None => Err(err(
            "MissingParameter.TaskId",
            "the parameter `TaskId` is missing",
        )),
        Some(Value::String(s)) if s.is_empty() => Err(err(
            "MissingParameter.TaskId",
            "the parameter `TaskId` is empty",
        )),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(err(
            "InvalidParameter.TaskId",
            format!("`TaskId` must be a string, got {other}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::Fault;
    use crate::server::send;

    // ---- A tiny signer, written separately from the verifier above. ----

    fn hex_sha256(data: &[u8]) -> String {
        hex::encode(Sha256::digest(data))
    }

    fn mac(key: &[u8], data: &str) -> Vec<u8> {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
        m.update(data.as_bytes());
        m.finalize().into_bytes().to_vec()
    }

    /// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    fn date_of(ts: i64) -> String {
        let z = ts.div_euclid(86_400) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        format!("{year:04}-{month:02}-{day:02}")
    }

    struct Signed {
        secret_id: String,
        secret_key: String,
        service: &'static str,
        host: String,
        action: String,
        ts: i64,
        body: Vec<u8>,
    }

    impl Signed {
        /// Signs content-type, host and x-tc-action.
        fn authorization(&self) -> String {
            let date = date_of(self.ts);
            let canonical = format!(
                "POST\n/\n\ncontent-type:application/json\nhost:{}\nx-tc-action:{}\n\ncontent-type;host;x-tc-action\n{}",
                self.host.to_lowercase(),
                self.action.to_lowercase(),
                hex_sha256(&self.body)
            );
            let scope = format!("{date}/{}/tc3_request", self.service);
            let to_sign = format!(
                "TC3-HMAC-SHA256\n{}\n{scope}\n{}",
                self.ts,
                hex_sha256(canonical.as_bytes())
            );
            let k = mac(format!("TC3{}", self.secret_key).as_bytes(), &date);
            let k = mac(&k, self.service);
            let k = mac(&k, "tc3_request");
            format!(
                "TC3-HMAC-SHA256 Credential={}/{scope}, SignedHeaders=content-type;host;x-tc-action, Signature={}",
                self.secret_id,
                hex::encode(mac(&k, &to_sign))
            )
        }
    }

    fn now() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs()
            .try_into()
            .expect("fits i64")
    }

    async fn sim() -> TencentSim {
        TencentSim::start(TencentSimConfig::for_tests())
            .await
            .expect("start simulator")
    }

    fn signed(sim: &TencentSim, action: &str, body: &Value) -> Signed {
        Signed {
            secret_id: sim.config().secret_id.clone(),
            secret_key: sim.config().secret_key.clone(),
            service: "trtc",
            host: sim.addr().to_string(),
            action: action.to_owned(),
            ts: now(),
            body: body.to_string().into_bytes(),
        }
    }

    /// Sends `s` with the standard headers, with `overrides` replacing (or, with an empty value,
    /// removing) headers by name.
    async fn call_with(sim: &TencentSim, s: &Signed, overrides: &[(&str, &str)]) -> Value {
        let ts = s.ts.to_string();
        let auth = s.authorization();
        let mut headers: Vec<(&str, &str)> = vec![
            ("Host", s.host.as_str()),
            ("Content-Type", "application/json"),
            ("X-TC-Action", s.action.as_str()),
            ("X-TC-Version", API_VERSION),
            ("X-TC-Timestamp", ts.as_str()),
            ("X-TC-Region", "ap-guangzhou"),
            ("Authorization", auth.as_str()),
        ];
        for (name, value) in overrides {
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            if !value.is_empty() {
                headers.push((name, value));
            }
        }
        let answer = send(sim.addr(), "POST", "/", &headers, s.body.clone())
            .await
            .expect("transport");
        assert_eq!(
            answer.status, 200,
            "Tencent answers errors with HTTP 200 too"
        );
        answer.body_json().expect("JSON answer")
    }

    async fn call(sim: &TencentSim, action: &str, body: Value) -> Value {
        call_with(sim, &signed(sim, action, &body), &[]).await
    }

    fn error_code(answer: &Value) -> &str {
        answer["Response"]["Error"]["Code"]
            .as_str()
            .unwrap_or("<no error>")
    }

    fn start_body(sim: &TencentSim, room: &str, user: &str) -> Value {
        json!({
            "SdkAppId": sim.config().sdk_app_id,
            "RoomId": room,
            "RoomIdType": 0,
            "UserId": user,
            "UserSig": "eJw1jcEKgjAUhF9l7Jx",
            "StreamUrl": "https://media.example.invalid/live.m3u8",
        })
    }

    // ---- Tests ----

    /// The worked example of Tencent's signature documentation (cvm, DescribeInstances,
    /// SecretKey `Gu5t9xGARNpq86cd98joQYCN3EXAMPLE`, timestamp 1551113065), run through the
    /// verifier's own building blocks.
    #[test]
    fn documented_worked_example() {
        let body = br#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
        assert_eq!(
            hex::encode(Sha256::digest(body)),
            "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        let req = Recorded {
            method: "POST".into(),
            path_and_query: "/".into(),
            headers: vec![
                (
                    "content-type".into(),
                    "application/json; charset=utf-8".into(),
                ),
                ("host".into(), "cvm.tencentcloudapi.com".into()),
                ("x-tc-action".into(), "DescribeInstances".into()),
            ],
            body: body.to_vec(),
            version: http::Version::HTTP_11,
            received: std::time::Instant::now(),
        };
        let canonical =
            canonical_request(&req, &["content-type", "host"]).expect("headers present");
        assert_eq!(
            canonical,
            "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\ncontent-type;host\n35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        assert_eq!(utc_date(1_551_113_065).as_deref(), Some("2019-02-25"));
        let to_sign = string_to_sign("1551113065", "2019-02-25/cvm/tc3_request", &canonical);
        assert_eq!(
            to_sign,
            "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );
        assert_eq!(
            signature(
                "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
                "2019-02-25",
                "cvm",
                &to_sign
            ),
            "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
        let auth = Authorization::parse(
            "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168",
        )
        .expect("documented header parses");
        assert_eq!(auth.secret_id, "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE");
        assert_eq!(auth.date, "2019-02-25");
        assert_eq!(auth.service, "cvm");
        assert_eq!(auth.signed_headers, ["content-type", "host"]);
    }

    #[test]
    fn test_signer_dates_agree_with_the_verifier_near_midnight() {
        // 2019-02-25T23:59:59Z and one second later; 16:00Z is already the next day in Beijing.
        for ts in [1_551_139_199, 1_551_139_200, 1_551_110_400, 0, 951_782_400] {
            assert_eq!(utc_date(ts), Some(date_of(ts)), "ts {ts}");
        }
    }

    #[tokio::test]
    async fn accepts_a_correctly_signed_start() {
        let sim = sim().await;
        let answer = call(
            &sim,
            "StartStreamIngest",
            start_body(&sim, "room-1", "robot-1"),
        )
        .await;
        let task_id = answer["Response"]["TaskId"].as_str().expect("TaskId");
        for c in ['+', '.', '-', '_'] {
            assert!(task_id.contains(c), "TaskId {task_id} should contain {c}");
        }
        let request_id = answer["Response"]["RequestId"].as_str().expect("RequestId");
        assert_eq!(request_id.len(), 36);
        assert_eq!(request_id.matches('-').count(), 4);
        let tasks = sim.tasks();
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0].task_id, task_id);
        assert_eq!(tasks[0].room_id, "room-1");
        assert_eq!(tasks[0].user_id, "robot-1");
        assert_eq!(
            tasks[0].stream_url,
            "https://media.example.invalid/live.m3u8"
        );
        assert_eq!(tasks[0].state, TaskState::InProgress);
        assert_eq!(sim.request_count(), 1);
    }

    #[tokio::test]
    async fn rejects_bad_credentials() {
        let sim = sim().await;
        let body = start_body(&sim, "r", "u");

        let mut wrong_key = signed(&sim, "StartStreamIngest", &body);
        wrong_key.secret_key = "not-the-key".into();
        let answer = call_with(&sim, &wrong_key, &[]).await;
        assert_eq!(error_code(&answer), "AuthFailure.SignatureFailure");
        assert!(answer["Response"]["RequestId"].is_string());

        let mut wrong_id = signed(&sim, "StartStreamIngest", &body);
        wrong_id.secret_id = "AKIDunknown".into();
        let answer = call_with(&sim, &wrong_id, &[]).await;
        assert_eq!(error_code(&answer), "AuthFailure.SecretIdNotFound");

        let mut wrong_service = signed(&sim, "StartStreamIngest", &body);
        wrong_service.service = "cvm";
        let answer = call_with(&sim, &wrong_service, &[]).await;
        assert_eq!(error_code(&answer), "AuthFailure.SignatureFailure");

        // The body changed after signing.
        let mut tampered = signed(&sim, "StartStreamIngest", &body);
        let auth = tampered.authorization();
        tampered.body = start_body(&sim, "other-room", "u").to_string().into_bytes();
        let answer = call_with(&sim, &tampered, &[("Authorization", &auth)]).await;
        assert_eq!(error_code(&answer), "AuthFailure.SignatureFailure");

        // A signed header's value changed after signing.
        let s = signed(&sim, "StartStreamIngest", &body);
        let answer = call_with(&sim, &s, &[("X-TC-Action", "DescribeStreamIngest")]).await;
        assert_eq!(error_code(&answer), "AuthFailure.SignatureFailure");

        assert!(
            sim.tasks().is_empty(),
            "no rejected request may start a task"
        );
    }

    #[tokio::test]
    async fn rejects_malformed_authorization() {
        let sim = sim().await;
        let s = signed(&sim, "DescribeStreamIngest", &json!({}));
        let good = s.authorization();
        let cases = [
            good.replace(", ", ","),
            good.replace("TC3-HMAC-SHA256 ", "TC3-HMAC-SHA1 "),
            good.replace("/tc3_request", "/tc2_request"),
            good.replace(
                "content-type;host;x-tc-action",
                "host;content-type;x-tc-action",
            ),
            good.replace("content-type;host;x-tc-action", "host;x-tc-action"),
            "garbage".to_owned(),
        ];
        for auth in &cases {
            let answer = call_with(&sim, &s, &[("Authorization", auth)]).await;
            assert_eq!(
                error_code(&answer),
                "AuthFailure.InvalidAuthorization",
                "{auth}"
            );
        }
        let answer = call_with(&sim, &s, &[("Authorization", "")]).await;
        assert_eq!(error_code(&answer), "AuthFailure.InvalidAuthorization");
    }

    #[tokio::test]
    async fn rejects_skew_beyond_five_minutes() {
        let sim = sim().await;
        let body = start_body(&sim, "r", "u");
        for offset in [-400, 400] {
            let mut s = signed(&sim, "StartStreamIngest", &body);
            s.ts += offset;
            let answer = call_with(&sim, &s, &[]).await;
            assert_eq!(
                error_code(&answer),
                "AuthFailure.SignatureExpire",
                "offset {offset}"
            );
        }
        // Well inside the window is fine.
        let mut s = signed(&sim, "StartStreamIngest", &body);
        s.ts -= 60;
        let answer = call_with(&sim, &s, &[]).await;
        assert!(answer["Response"]["TaskId"].is_string(), "{answer}");
    }

    #[tokio::test]
    async fn checks_common_headers() {
        let sim = sim().await;
        let s = signed(&sim, "DescribeStreamIngest", &json!({}));
        let answer = call_with(&sim, &s, &[("X-TC-Version", "2020-01-01")]).await;
        assert_eq!(error_code(&answer), "NoSuchVersion");
        let answer = call_with(&sim, &s, &[("X-TC-Region", "mars-1")]).await;
        assert_eq!(error_code(&answer), "UnsupportedRegion");
        let answer = call_with(&sim, &s, &[("X-TC-Timestamp", "")]).await;
        assert_eq!(error_code(&answer), "MissingParameter");
        let answer = call_with(&sim, &s, &[("X-TC-Timestamp", "soon")]).await;
        assert_eq!(error_code(&answer), "AuthFailure.SignatureExpire");
        let answer = call_with(&sim, &s, &[("Content-Type", "text/plain")]).await;
        assert_eq!(error_code(&answer), "UnsupportedOperation");

        let unknown = signed(&sim, "InventStreamIngest", &json!({}));
        let answer = call_with(&sim, &unknown, &[]).await;
        assert_eq!(error_code(&answer), "UnsupportedOperation");

        let get = send(sim.addr(), "GET", "/", &[], Vec::new())
            .await
            .expect("transport");
        assert_eq!(get.status, 200);
        let get = get.body_json().expect("JSON");
        assert_eq!(error_code(&get), "UnsupportedOperation");
    }

    #[tokio::test]
    async fn start_describe_stop_describe() {
        let sim = sim().await;
        let app = sim.config().sdk_app_id;
        let started = call(&sim, "StartStreamIngest", start_body(&sim, "1234", "robot")).await;
        let task_id = started["Response"]["TaskId"]
            .as_str()
            .expect("TaskId")
            .to_owned();

        let describe = json!({"SdkAppId": app, "TaskId": task_id});
        let answer = call(&sim, "DescribeStreamIngest", describe.clone()).await;
        assert_eq!(answer["Response"]["Status"], "InProgress");

        let answer = call(&sim, "StopStreamIngest", describe.clone()).await;
        assert!(answer["Response"]["Error"].is_null(), "{answer}");
        assert!(answer["Response"]["RequestId"].is_string());

        let answer = call(&sim, "DescribeStreamIngest", describe.clone()).await;
        assert_eq!(answer["Response"]["Status"], "NotExist");

        let answer = call(&sim, "StopStreamIngest", describe).await;
        assert_eq!(error_code(&answer), "FailedOperation.TaskFinished");

        let unknown = json!({"SdkAppId": app, "TaskId": "no-such-task"});
        let answer = call(&sim, "StopStreamIngest", unknown.clone()).await;
        assert_eq!(error_code(&answer), "InvalidParameter.TaskId");
        let answer = call(&sim, "DescribeStreamIngest", unknown).await;
        assert_eq!(answer["Response"]["Status"], "NotExist");
        let answer = call(&sim, "DescribeStreamIngest", json!({"SdkAppId": app})).await;
        assert_eq!(error_code(&answer), "MissingParameter.TaskId");

        assert_eq!(sim.tasks()[0].state, TaskState::Stopped);
    }

    #[tokio::test]
    async fn update_and_finish() {
        let sim = sim().await;
        let app = sim.config().sdk_app_id;
        let started = call(&sim, "StartStreamIngest", start_body(&sim, "r", "u")).await;
        let task_id = started["Response"]["TaskId"]
            .as_str()
            .expect("TaskId")
            .to_owned();
        let update = json!({"SdkAppId": app, "TaskId": task_id, "StreamUrl": "rtmp://src.example.invalid/live/b", "Volume": 50, "IsPause": true});
        let answer = call(&sim, "UpdateStreamIngest", update.clone()).await;
        assert_eq!(answer["Response"]["Status"], "InProgress");
        let task = &sim.tasks()[0];
        assert_eq!(task.stream_url, "rtmp://src.example.invalid/live/b");
        assert_eq!(task.volume, 50);
        assert!(task.paused);

        // Tempo: only Tencent's seven speeds (InvalidParameter, nothing changed).
        for bad in [json!(1.3), json!(0), json!(3), json!("1.5")] {
            let answer = call(
                &sim,
                "UpdateStreamIngest",
                json!({"SdkAppId": app, "TaskId": task_id, "Tempo": bad}),
            )
            .await;
            assert_eq!(error_code(&answer), "InvalidParameter", "{bad}");
        }
        assert_eq!(sim.tasks()[0].tempo, 1.0);
        let answer = call(
            &sim,
            "UpdateStreamIngest",
            json!({"SdkAppId": app, "TaskId": task_id, "Tempo": 1.75, "EnableProgress": true}),
        )
        .await;
        assert_eq!(answer["Response"]["Status"], "InProgress", "{answer}");
        assert_eq!(
            (sim.tasks()[0].tempo, sim.tasks()[0].enable_progress),
            (1.75, true)
        );

        // A task that has ended: success with `Status: NotExist`, nothing changed.
        assert!(sim.finish_task(&task_id));
        assert!(!sim.finish_task(&task_id));
        let answer = call(&sim, "UpdateStreamIngest", update).await;
        assert!(answer["Response"]["Error"].is_null(), "{answer}");
        assert_eq!(answer["Response"]["Status"], "NotExist", "{answer}");
        assert!(answer["Response"]["RequestId"].is_string());
        let answer = call(
            &sim,
            "UpdateStreamIngest",
            json!({"SdkAppId": app, "TaskId": task_id, "Volume": 10}),
        )
        .await;
        assert_eq!(answer["Response"]["Status"], "NotExist", "{answer}");
        assert_eq!(sim.tasks()[0].volume, 50);
        // A TaskId never issued: the error code.
        let answer = call(
            &sim,
            "UpdateStreamIngest",
            json!({"SdkAppId": app, "TaskId": "no-such-task", "Volume": 10}),
        )
        .await;
        assert_eq!(error_code(&answer), "FailedOperation.TaskNotExist");
    }

    #[tokio::test]
    async fn validates_start_parameters() {
        let sim = sim().await;
        let base = start_body(&sim, "r", "u");
        let with = |key: &str, value: Value| {
            let mut body = base.clone();
            body[key] = value;
            body
        };
        let without = |key: &str| {
            let mut body = base.clone();
            body.as_object_mut().expect("object").remove(key);
            body
        };
        let cases = [
            (without("SdkAppId"), "MissingParameter.SdkAppId"),
            (with("SdkAppId", json!(1)), "InvalidParameter.SdkAppId"),
            (
                with("SdkAppId", json!(sim.config().sdk_app_id.to_string())),
                "InvalidParameter.SdkAppId",
            ),
            (without("RoomId"), "MissingParameter.RoomId"),
            (with("RoomId", json!(7)), "InvalidParameter.RoomId"),
            (without("RoomIdType"), "InvalidParameter.BodyParamsError"),
            (
                with("RoomIdType", json!(2)),
                "InvalidParameter.BodyParamsError",
            ),
            (
                {
                    let mut b = with("RoomIdType", json!(1));
                    b["RoomId"] = json!("abc");
                    b
                },
                "InvalidParameter.RoomId",
            ),
            (
                {
                    let mut b = with("RoomIdType", json!(1));
                    b["RoomId"] = json!("4294967296");
                    b
                },
                "InvalidParameter.RoomId",
            ),
            (
                {
                    let mut b = with("RoomIdType", json!(1));
                    b["RoomId"] = json!("4294967295");
                    b
                },
                "InvalidParameter.RoomId",
            ),
            (
                {
                    let mut b = with("RoomIdType", json!(1));
                    b["RoomId"] = json!("0");
                    b
                },
                "InvalidParameter.RoomId",
            ),
            (
                with("UserId", json!("relay.bot")),
                "InvalidParameter.BodyParamsError",
            ),
            (
                with("UserId", json!("x".repeat(33))),
                "InvalidParameter.BodyParamsError",
            ),
            (
                with("UserId", json!("")),
                "InvalidParameter.BodyParamsError",
            ),
            (with("UserSig", json!("")), "InvalidParameter.UserSig"),
            (without("UserSig"), "InvalidParameter.UserSig"),
            (without("StreamUrl"), "InvalidParameter.StreamUrl"),
            (
                with("StreamUrl", json!("ftp://x/y")),
                "InvalidParameter.StreamUrl",
            ),
            (
                with("StreamUrl", json!("https://")),
                "InvalidParameter.StreamUrl",
            ),
            (
                with("RepeatNum", json!(0)),
                "InvalidParameter.BodyParamsError",
            ),
            (
                with("RepeatNum", json!(1001)),
                "InvalidParameter.BodyParamsError",
            ),
            (
                with("RepeatNum", json!(-2)),
                "InvalidParameter.BodyParamsError",
            ),
            (
                with("RepeatNum", json!("1")),
                "InvalidParameter.BodyParamsError",
            ),
            (
                with("MaxDuration", json!(10)),
                "InvalidParameter.BodyParamsError",
            ),
            (
                {
                    let mut b = with("RepeatNum", json!(-1));
                    b["MaxDuration"] = json!(10081);
                    b
                },
                "InvalidParameter.BodyParamsError",
            ),
            (
                with("Volume", json!(201)),
                "InvalidParameter.BodyParamsError",
            ),
            (
                with("AutoPush", json!("yes")),
                "InvalidParameter.BodyParamsError",
            ),
            (with("Tempo", json!(1.3)), "InvalidParameter"),
            (with("Tempo", json!(2.5)), "InvalidParameter"),
            (with("Tempo", json!("1.0")), "InvalidParameter"),
            (with("IdleTimeout", json!(601)), "InvalidParameter"),
            (
                with("EnableProgress", json!(1)),
                "InvalidParameter.BodyParamsError",
            ),
        ];
        for (body, code) in cases {
            let answer = call(&sim, "StartStreamIngest", body.clone()).await;
            assert_eq!(error_code(&answer), code, "body {body}");
        }
        assert!(sim.tasks().is_empty());

        // Valid edge values, then the same room and user again.
        let mut looping = with("RepeatNum", json!(-1));
        looping["MaxDuration"] = json!(10080);
        looping["RoomIdType"] = json!(1);
        looping["RoomId"] = json!("4294967294");
        let answer = call(&sim, "StartStreamIngest", looping.clone()).await;
        assert!(answer["Response"]["TaskId"].is_string(), "{answer}");
        let answer = call(&sim, "StartStreamIngest", looping).await;
        assert_eq!(error_code(&answer), "FailedOperation.TaskExist");
    }

    /// The integer room 42 and the string room "42" are different rooms: the same user may
    /// run a task in each, and the task records which one it is in.
    #[tokio::test]
    async fn integer_and_string_rooms_with_the_same_digits_are_different_rooms() {
        let sim = sim().await;
        let mut integer = start_body(&sim, "42", "robot");
        integer["RoomIdType"] = json!(1);
        let string = start_body(&sim, "42", "robot");
        let answer = call(&sim, "StartStreamIngest", integer.clone()).await;
        assert!(answer["Response"]["TaskId"].is_string(), "{answer}");
        let answer = call(&sim, "StartStreamIngest", string).await;
        assert!(answer["Response"]["TaskId"].is_string(), "{answer}");
        let answer = call(&sim, "StartStreamIngest", integer).await;
        assert_eq!(error_code(&answer), "FailedOperation.TaskExist");
        let types: Vec<(String, u8)> = sim
            .tasks()
            .into_iter()
            .map(|t| (t.room_id, t.room_id_type))
            .collect();
        assert_eq!(types, [("42".to_string(), 1), ("42".to_string(), 0)]);
    }

    #[tokio::test]
    async fn body_that_is_not_json() {
        let sim = sim().await;
        let mut s = signed(&sim, "StartStreamIngest", &json!({}));
        s.body = b"SdkAppId=1".to_vec();
        let answer = call_with(&sim, &s, &[]).await;
        assert_eq!(error_code(&answer), "InternalError.HttpParseFailed");
        s.body = b"[1,2]".to_vec();
        let answer = call_with(&sim, &s, &[]).await;
        assert_eq!(error_code(&answer), "InternalError.HttpParseFailed");
    }

    #[tokio::test]
    async fn vendor_error_fault_uses_the_tencent_envelope() {
        let sim = sim().await;
        sim.fail_next(Fault::VendorError {
            code: "RequestLimitExceeded".into(),
            message: "slow down".into(),
        });
        let answer = call(&sim, "StartStreamIngest", start_body(&sim, "r", "u")).await;
        assert_eq!(error_code(&answer), "RequestLimitExceeded");
        assert_eq!(answer["Response"]["Error"]["Message"], "slow down");
        assert!(answer["Response"]["RequestId"].is_string());
        assert!(
            sim.tasks().is_empty(),
            "a faulted request never reaches the vendor"
        );
        assert_eq!(sim.request_count(), 1);
    }

    /// Over https with HTTP/2 there is no Host header: the signature is checked against the
    /// `:authority` the simulator records as `host`.
    #[tokio::test]
    async fn accepts_a_signed_start_over_h2() {
        let tls = TestTls::new().expect("tls");
        let sim = TencentSim::start_tls(TencentSimConfig::for_tests(), &tls)
            .await
            .expect("start simulator");
        assert!(sim.base_url().starts_with("https://"));
        let body = start_body(&sim, "room-h2", "robot-1");
        let mut s = signed(&sim, "StartStreamIngest", &body);
        s.host = format!("localhost:{}", sim.addr().port());
        let ts = s.ts.to_string();
        let auth = s.authorization();
        let headers = [
            ("content-type", "application/json"),
            ("x-tc-action", s.action.as_str()),
            ("x-tc-version", API_VERSION),
            ("x-tc-timestamp", ts.as_str()),
            ("x-tc-region", "ap-guangzhou"),
            ("authorization", auth.as_str()),
        ];
        let answer = crate::tls::send(
            sim.addr(),
            "localhost",
            tls.client_config().expect("client"),
            "POST",
            "/",
            &headers,
            s.body.clone(),
        )
        .await
        .expect("transport");
        let answer = answer.body_json().expect("JSON answer");
        assert!(answer["Response"]["TaskId"].is_string(), "{answer}");
        assert_eq!(sim.requests()[0].version, http::Version::HTTP_2);
        assert_eq!(sim.tls_handshakes(), 1);
        assert_eq!(sim.tasks().len(), 1);
    }

    /// A UserSig made by an independent implementation of Tencent's algorithm (Python's hmac,
    /// zlib and base64, as the official Python library does it) for `relay-bot` of application
    /// 1400188366 at 1700000000, valid 180 days, with this key.
    const PY_KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";
    const PY_USER_SIG: &str = "eJyrVgrxCdYrSy1SslIy0jNQ0gHzM1NS80oy0zLBwkWpOYmVukn5JVDJ4pTsxIKCzBQlK0MTAwNDCwtjMzOITGpFQWZRKlDc1NTUyMDAACJakpkLEjM3gAKoKZnpQLNLDPwTw4tNTfINk93TixNd-LwLLQO0LTJyM0PSIgtz-fzCgz0MQnzM3c18bZVqARSMMkk_";

    /// The plugin's UserSig for the same ticket (`plugins/tencent-trtc/src/usersig.rs`).
    const PLUGIN_USER_SIG: &str = "eJwtjNEKgjAYRt9lt5X8mlMTugsMMgsUpMvVpv3Ucm4jiujdM913950D50OqvPSeQpOUBB6Q*fiRi4fFBkesxZ29F*fOOmn4jSmFnKR*COAnyTKKJiNeCrUYOKU0AICJWpR-FoObq2A7tC0cWG1o2PmXrDVsU*z61XGWXCVWzamXRVGXW6jyOIv2a-L9ARSMMkk_";

    #[test]
    fn verifies_a_user_sig_made_elsewhere() {
        let app = 1_400_188_366;
        let at = 1_700_000_000;
        assert_eq!(
            verify_user_sig(PY_USER_SIG, "relay-bot", app, PY_KEY, at + 60),
            Ok(())
        );
        // The last second it is valid, and the first it is not.
        assert_eq!(
            verify_user_sig(PY_USER_SIG, "relay-bot", app, PY_KEY, at + 15_552_000),
            Ok(())
        );
        let refused = |sig: &str, user: &str, app: u64, key: &str, now: i64| {
            verify_user_sig(sig, user, app, key, now).expect_err("refused")
        };
        assert!(
            refused(PY_USER_SIG, "relay-bot", app, PY_KEY, at + 15_552_001).contains("expired")
        );
        assert!(refused(PY_USER_SIG, "other-bot", app, PY_KEY, at).contains("other-bot"));
        assert!(refused(PY_USER_SIG, "relay-bot", 1_400_000_001, PY_KEY, at).contains("SdkAppId"));
        assert!(refused(PY_USER_SIG, "relay-bot", app, "another-key", at).contains("signature"));
        for garbage in ["eJw1jcEKgjAUhF9l7Jx", "sig", "@@@", "eJyrVg__"] {
            refused(garbage, "relay-bot", app, PY_KEY, at);
        }
        // What the tencent-trtc plugin generates for the same ticket (its unit test pins it;
        // miniz_oxide compresses to other bytes than Python's zlib, both valid).
        assert_eq!(
            verify_user_sig(PLUGIN_USER_SIG, "relay-bot", app, PY_KEY, at),
            Ok(())
        );
        // Made here, read back: the same document shape.
        let ours = make_user_sig(PY_KEY, app, "relay-bot", at, 60);
        assert_eq!(
            verify_user_sig(&ours, "relay-bot", app, PY_KEY, at + 60),
            Ok(())
        );
        assert!(refused(&ours, "relay-bot", app, PY_KEY, at + 61).contains("expired"));
    }

    #[tokio::test]
    async fn start_verifies_user_sigs_with_the_sdk_secret_key() {
        let keyed = TencentSim::start(TencentSimConfig::for_tests().with_sdk_secret_key("sdk-key"))
            .await
            .expect("start simulator");
        let sim = &keyed;
        // The fixed test ticket is not signed with this key.
        let answer = call(sim, "StartStreamIngest", start_body(sim, "r", "u")).await;
        assert_eq!(error_code(&answer), "InvalidParameter.UserSig");
        // A ticket for another user.
        let mut body = start_body(sim, "r", "u");
        body["UserSig"] = json!(sim.user_sig("someone-else", 3600).expect("keyed"));
        let answer = call(sim, "StartStreamIngest", body).await;
        assert_eq!(error_code(&answer), "InvalidParameter.UserSig");
        assert_eq!(sim.user_sigs_verified(), 0);
        // A valid one.
        let sig = sim.user_sig("u", 3600).expect("keyed");
        let mut body = start_body(sim, "r", "u");
        body["UserSig"] = json!(sig);
        let answer = call(sim, "StartStreamIngest", body).await;
        assert!(answer["Response"]["TaskId"].is_string(), "{answer}");
        assert_eq!(sim.user_sigs_verified(), 1);
        assert_eq!(sim.tasks()[0].user_sig, sig);
        // Without a key, any non-empty UserSig passes (and none is counted as verified).
        let plain = self::sim().await;
        let answer = call(&plain, "StartStreamIngest", start_body(&plain, "r", "u")).await;
        assert!(answer["Response"]["TaskId"].is_string(), "{answer}");
        assert_eq!(plain.user_sigs_verified(), 0);
        assert_eq!(plain.user_sig("u", 60), None);
    }

    #[tokio::test]
    async fn callbacks_are_signed_with_the_callback_key() {
        let sim = sim().await;
        let event = CallbackEvent {
            event_type: 701,
            task_id: "-abc+def.ghi_jkl".to_owned(),
            status: Some(0),
        };
        let cb = sim.callback_at(&event, 1_700_000_000_000);
        let body: Value = serde_json::from_slice(&cb.body).expect("JSON");
        assert_eq!(body["EventGroupId"], 7);
        assert_eq!(body["EventType"], 701);
        assert_eq!(body["CallbackMsTs"], 1_700_000_000_000u64);
        assert_eq!(body["EventInfo"]["TaskId"], "-abc+def.ghi_jkl");
        assert_eq!(body["EventInfo"]["Status"], 0);
        let header = |name: &str| {
            cb.headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .expect(name)
        };
        let expected = BASE64.encode(mac(
            b"test-trtc-callback-key",
            &String::from_utf8_lossy(&cb.body),
        ));
        assert_eq!(header("Sign"), expected);
        assert_eq!(header("SdkAppId"), sim.config().sdk_app_id.to_string());
        let stopped = sim.signed_callback(&CallbackEvent {
            event_type: 702,
            status: None,
            ..event
        });
        let body: Value = serde_json::from_slice(&stopped.body).expect("JSON");
        assert_eq!(body["EventType"], 702);
        assert!(body["EventInfo"].get("Status").is_none(), "{body}");
    }
}
