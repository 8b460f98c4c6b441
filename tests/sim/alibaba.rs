//! Alibaba Cloud ApsaraVideo Live simulator: the ARTC RTMP ingest address API
//! (`CreateRoomRealTimeStreamAddress`, `DescribeChannelParticipants`, version `2016-11-01`).
//!
//! Written from `shared/vendors/alibaba-artc.md` only. It decodes the RPC query (GET, or POST
//! with the parameters in the query and/or a form body), verifies the `SignatureVersion=1.0`
//! HMAC-SHA1 signature from the received parameters with its own percent-encoder, refuses a
//! Timestamp outside its window and a reused SignatureNonce, validates the actions'
//! parameters, keeps the issued addresses and the channels' online users, and answers in
//! Alibaba's shapes: success `{"RequestId", …}` with HTTP 200, error
//! `{"RequestId", "HostId", "Code", "Message"}` with the code's HTTP status.
//!
//! Check order: route (`/`) → parameter decoding → required common parameters →
//! `Signature` present → Version, SignatureMethod, SignatureVersion, Format → Timestamp →
//! AccessKeyId → signature → nonce (only an authentic request consumes its nonce) → action →
//! the action's own parameters.
//!
//! Nobody can push RTMP into a simulator, so an encoder "going live" is simulated: tests call
//! [`AlibabaSim::join`] / [`AlibabaSim::leave`]; with [`AlibabaSimConfig::auto_join`] (the
//! demo) the user joins as soon as its address is issued.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::server::{Recorded, SimResponse, SimServer, VendorHandler, lock};

/// The API version this simulator serves (`Version`).
pub const API_VERSION: &str = "2016-11-01";
/// What error envelopes carry as `HostId`.
pub const HOST_ID: &str = "live.aliyuncs.com";
/// The demo's AccessKeyId (not a real credential).
pub const DEMO_ACCESS_KEY_ID: &str = "LTAIdemoAccessKeyId0000";
/// The demo's AccessKeySecret (not a real credential).
pub const DEMO_ACCESS_KEY_SECRET: &str = "demo-alibaba-access-key-secret";
/// The demo's ARTC AppId.
pub const DEMO_APP_ID: &str = "demoapp01";
/// `ExpireTime` when a request leaves it out, seconds.
pub const DEFAULT_EXPIRE_SECS: u64 = 36_000;
/// Largest `PageSize` the simulator serves (the vendor documents none; 100 is a guess).
pub const MAX_PAGE_SIZE: u64 = 100;

type HmacSha1 = Hmac<Sha1>;

/// The one account and application the simulator knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlibabaSimConfig {
    /// The accepted AccessKeyId; any other is `InvalidAccessKeyId.NotFound` (HTTP 404).
    pub access_key_id: String,
    /// The AccessKeySecret signatures are checked with.
    pub access_key_secret: String,
    /// The ARTC application; any other AppId is `ResourceNotExist` (HTTP 404).
    pub app_id: String,
    /// Largest accepted difference between `Timestamp` and the simulator's clock, seconds.
    /// The vendor documents a 31-minute validity window; the default, 930, centres it on
    /// the server's clock (±15 min 30 s).
    pub max_skew_secs: i64,
    /// Whether a user joins its channel as soon as its address is issued (as if the encoder
    /// started pushing at once). Off for tests (they call [`AlibabaSim::join`]), on for the
    /// demo.
    pub auto_join: bool,
}

impl AlibabaSimConfig {
    /// Fixed, fake credentials for tests; no auto-join.
    pub fn for_tests() -> Self {
        Self {
            access_key_id: "LTAIsimTestAccessKeyId01".to_owned(),
            access_key_secret: "sim-test-alibaba-access-key-secret".to_owned(),
            app_id: "testapp01".to_owned(),
            max_skew_secs: 930,
            auto_join: false,
        }
    }

    /// The demo's credentials ([`DEMO_ACCESS_KEY_ID`], [`DEMO_ACCESS_KEY_SECRET`],
    /// [`DEMO_APP_ID`]), with auto-join.
    pub fn demo() -> Self {
        Self {
            access_key_id: DEMO_ACCESS_KEY_ID.to_owned(),
            access_key_secret: DEMO_ACCESS_KEY_SECRET.to_owned(),
            app_id: DEMO_APP_ID.to_owned(),
            max_skew_secs: 930,
            auto_join: true,
        }
    }
}

impl Default for AlibabaSimConfig {
    /// Same as [`AlibabaSimConfig::for_tests`].
    fn default() -> Self {
        Self::for_tests()
    }
}

/// One address `CreateRoomRealTimeStreamAddress` issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedAddress {
    /// `AppId`.
    pub app_id: String,
    /// `ChannelId`.
    pub channel_id: String,
    /// `UserId` the encoder appears as.
    pub user_id: String,
    /// `DisplayName`.
    pub display_name: String,
    /// `ExpireTime` (or its default), seconds.
    pub expire_secs: u64,
    /// When the address stops working, Unix seconds.
    pub expires_at: u64,
    /// The `RtmpAddress` answered.
    pub url: String,
}

/// The HTTP status Alibaba answers a code with (what [`VendorHandler::vendor_error`] uses).
pub fn http_status_for(code: &str) -> u16 {
    match code {
        "InvalidAccessKeyId.NotFound" | "ResourceNotExist" | "InvalidAction.NotFound" => 404,
        "Forbidden.RAM" | "NoPermission" | "NoAuth" => 403,
        "InternalError" | "ServerError" => 500,
        "ServiceUnavailable" | "Throttling" => 503,
        _ => 400,
    }
}

/// A running ApsaraVideo Live simulator. Dropping it stops the server.
pub struct AlibabaSim {
    server: SimServer,
    artc: Arc<Artc>,
}

impl std::fmt::Debug for AlibabaSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlibabaSim")
            .field("addr", &self.server.addr())
            .field("app_id", &self.artc.cfg.app_id)
            .finish_non_exhaustive()
    }
}

crate::sim::deref_to_server!(AlibabaSim);

impl AlibabaSim {
    /// Starts on `127.0.0.1:0` (a free port).
    pub async fn start(cfg: AlibabaSimConfig) -> anyhow::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), cfg).await
    }

    /// Starts on `addr`.
    pub async fn start_on(addr: SocketAddr, cfg: AlibabaSimConfig) -> anyhow::Result<Self> {
        let artc = Arc::new(Artc {
            cfg,
            state: Mutex::new(State::default()),
            serial: AtomicU64::new(0),
        });
        let server = SimServer::start_on(addr, Arc::clone(&artc) as Arc<dyn VendorHandler>).await?;
        Ok(Self { server, artc })
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &AlibabaSimConfig {
        &self.artc.cfg
    }

    /// The underlying server.
    pub fn server(&self) -> &SimServer {
        &self.server
    }

    /// Every address issued so far, in order.
    pub fn addresses(&self) -> Vec<IssuedAddress> {
        lock(&self.artc.state).addresses.clone()
    }

    /// The online users of `channel_id`, in join order.
    pub fn participants(&self, channel_id: &str) -> Vec<String> {
        lock(&self.artc.state)
            .channels
            .get(channel_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Puts `user_id` online in `channel_id` (an encoder started pushing, or an SDK user
    /// joined). Joining twice changes nothing.
    pub fn join(&self, channel_id: &str, user_id: &str) {
        lock(&self.artc.state).join(channel_id, user_id);
    }

    /// Takes `user_id` offline; returns whether it was online.
    pub fn leave(&self, channel_id: &str, user_id: &str) -> bool {
        let mut state = lock(&self.artc.state);
        let Some(users) = state.channels.get_mut(channel_id) else {
            return false;
        };
        let before = users.len();
        users.retain(|u| u != user_id);
        before != users.len()
    }

    /// How many distinct SignatureNonces authentic requests have used.
    pub fn nonces_seen(&self) -> usize {
        lock(&self.artc.state).nonces.len()
    }
}

#[derive(Default)]
struct State {
    addresses: Vec<IssuedAddress>,
    channels: BTreeMap<String, Vec<String>>,
    nonces: HashSet<String>,
}

impl State {
    fn join(&mut self, channel_id: &str, user_id: &str) {
        let users = self.channels.entry(channel_id.to_owned()).or_default();
        if !users.iter().any(|u| u == user_id) {
            users.push(user_id.to_owned());
        }
    }
}

/// The vendor handler: configuration, state, and a serial number for ids.
struct Artc {
    cfg: AlibabaSimConfig,
    state: Mutex<State>,
    serial: AtomicU64,
}

/// An error answer: an Alibaba error code and message (the status follows from the code).
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

fn error_envelope(code: &str, message: &str, request_id: &str) -> SimResponse {
    SimResponse::json(
        http_status_for(code),
        &json!({"RequestId": request_id, "HostId": HOST_ID, "Code": code, "Message": message}),
    )
}

type Params = BTreeMap<String, String>;

impl VendorHandler for Artc {
    fn handle(&self, request: &Recorded) -> SimResponse {
        let request_id = self.request_id();
        match self.dispatch(request, unix_now()) {
            Ok(mut fields) => {
                fields.insert("RequestId".to_owned(), Value::String(request_id));
                SimResponse::json(200, &Value::Object(fields))
            }
            Err(e) => error_envelope(e.code, &e.message, &request_id),
        }
    }

    fn vendor_error(&self, _request: &Recorded, code: &str, message: &str) -> SimResponse {
        error_envelope(code, message, &self.request_id())
    }
}

type Fields = serde_json::Map<String, Value>;

/// The common parameters every request must carry (besides `Signature`).
const COMMON: [&str; 8] = [
    "Action",
    "Version",
    "Format",
    "AccessKeyId",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "Timestamp",
];

impl Artc {
    fn dispatch(&self, req: &Recorded, now: i64) -> Result<Fields, ApiError> {
        let (path, query) = req
            .path_and_query
            .split_once('?')
            .unwrap_or((req.path_and_query.as_str(), ""));
        if path != "/" || !(req.method == "GET" || req.method == "POST") {
            return Err(err(
                "InvalidAction.NotFound",
                format!(
                    "only GET and POST on `/` are served, got `{} {path}`",
                    req.method
                ),
            ));
        }
        let params = collect_params(req, query)?;
        for name in COMMON {
            if params.get(name).is_none_or(String::is_empty) {
                return Err(err(
                    "MissingParameter",
                    format!("the common parameter `{name}` is missing"),
                ));
            }
        }
        let get = |name: &str| params.get(name).map(String::as_str).unwrap_or_default();
        let signature = match params.get("Signature") {
            Some(s) if !s.is_empty() => s.as_str(),
            _ => {
                return Err(err(
                    "IncompleteSignature",
                    "the request signature does not conform to Aliyun standards: `Signature` is missing",
                ));
            }
        };
        if get("Version") != API_VERSION {
            return Err(err(
                "InvalidParameter",
                format!(
                    "the Version `{}` is not supported (expected `{API_VERSION}`)",
                    get("Version")
                ),
            ));
        }
        if get("SignatureMethod") != "HMAC-SHA1" || get("SignatureVersion") != "1.0" {
            return Err(err(
                "IncompleteSignature",
                "only SignatureMethod HMAC-SHA1 with SignatureVersion 1.0 is served",
            ));
        }
        if !get("Format").eq_ignore_ascii_case("JSON") {
            return Err(err(
                "InvalidParameter",
                "this simulator answers JSON only; send Format=JSON",
            ));
        }
        let ts = parse_timestamp(get("Timestamp")).ok_or_else(|| {
            err(
                "IllegalTimestamp",
                format!(
                    "the input parameter \"Timestamp\" `{}` is not YYYY-MM-DDThh:mm:ssZ in UTC",
                    get("Timestamp")
                ),
            )
        })?;
        if (ts - now).abs() > self.cfg.max_skew_secs {
            return Err(err(
                "IllegalTimestamp",
                format!(
                    "the input parameter \"Timestamp\" that is mandatory for processing this \
                     request is not supplied correctly: {ts} is more than {} s away from the \
                     server time {now}",
                    self.cfg.max_skew_secs
                ),
            ));
        }
        if get("AccessKeyId") != self.cfg.access_key_id {
            return Err(err(
                "InvalidAccessKeyId.NotFound",
                "Specified access key is not found.",
            ));
        }
        let expected = rpc_signature(&self.cfg.access_key_secret, &req.method, &params);
        if !constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
            return Err(err(
                "SignatureDoesNotMatch",
                "Specified signature is not matched with our calculation.",
            ));
        }
        {
            let mut state = lock(&self.state);
            if !state.nonces.insert(get("SignatureNonce").to_owned()) {
                return Err(err(
                    "SignatureNonceUsed",
                    "Specified signature nonce was used already.",
                ));
            }
        }
        match get("Action") {
            "CreateRoomRealTimeStreamAddress" => self.create_address(&params, now),
            "DescribeChannelParticipants" => self.describe_participants(&params, now),
            other => Err(err(
                "InvalidAction.NotFound",
                format!("Specified api `{other}` is not found, please check your url and method."),
            )),
        }
    }

    fn check_app(&self, params: &Params) -> Result<(), ApiError> {
        let app = required(params, "AppId")?;
        if app == self.cfg.app_id {
            Ok(())
        } else {
            Err(err(
                "ResourceNotExist",
                format!("the ARTC application `{app}` does not exist"),
            ))
        }
    }

    fn create_address(&self, params: &Params, now: i64) -> Result<Fields, ApiError> {
        self.check_app(params)?;
        let channel = required(params, "ChannelId")?;
        if !is_id(channel) {
            return Err(err(
                "InputInvalid",
                "ChannelId must be 1 to 64 characters of A-Z a-z 0-9 _ -",
            ));
        }
        let user = required(params, "UserId")?;
        if user.chars().count() > 64 {
            return Err(err("InputInvalid", "UserId must be 1 to 64 characters"));
        }
        let display_name = required(params, "DisplayName")?;
        if display_name.chars().count() > 40 {
            return Err(err(
                "InputInvalid",
                "DisplayName must be 1 to 40 characters",
            ));
        }
        let expire_secs = match params.get("ExpireTime") {
            None => DEFAULT_EXPIRE_SECS,
            Some(v) => match v.parse::<u64>() {
                Ok(n) if n > 0 && v.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => {
                    return Err(err(
                        "InputInvalid",
                        format!("ExpireTime must be a positive integer of seconds, got `{v}`"),
                    ));
                }
            },
        };
        let now = u64::try_from(now).unwrap_or(0);
        let expires_at = now.saturating_add(expire_secs);
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        let mut hasher = Sha256::new();
        for part in [self.cfg.access_key_secret.as_str(), channel, user] {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
        hasher.update(expires_at.to_be_bytes());
        let hash = hex::encode(hasher.finalize());
        let url = format!(
            "rtmp://push.artc-sim.invalid/{}/{channel}?UserId={}&auth_key={expires_at}-{serial}-0-{}",
            self.cfg.app_id,
            encode(user),
            &hash[..32]
        );
        let mut state = lock(&self.state);
        state.addresses.push(IssuedAddress {
            app_id: self.cfg.app_id.clone(),
            channel_id: channel.to_owned(),
            user_id: user.to_owned(),
            display_name: display_name.to_owned(),
            expire_secs,
            expires_at,
            url: url.clone(),
        });
        if self.cfg.auto_join {
            state.join(channel, user);
        }
        let mut out = Fields::new();
        out.insert("RtmpAddress".to_owned(), Value::String(url));
        Ok(out)
    }

    fn describe_participants(&self, params: &Params, now: i64) -> Result<Fields, ApiError> {
        self.check_app(params)?;
        let channel = required(params, "ChannelId")?;
        let number = |name: &str, default: u64, max: u64| match params.get(name) {
            None => Ok(default),
            Some(v) => match v.parse::<u64>() {
                Ok(n) if (1..=max).contains(&n) && v.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
                _ => Err(err(
                    "InputInvalid",
                    format!("{name} must be an integer from 1 to {max}, got `{v}`"),
                )),
            },
        };
        let page = number("PageNum", 1, u64::from(u32::MAX))?;
        let size = number("PageSize", 10, MAX_PAGE_SIZE)?;
        let descending = match params.get("Order").map(String::as_str) {
            None | Some("desc") => true,
            Some("asc") => false,
            Some(other) => {
                return Err(err(
                    "InputInvalid",
                    format!("Order must be `asc` or `desc`, got `{other}`"),
                ));
            }
        };
        let mut users = lock(&self.state)
            .channels
            .get(channel)
            .cloned()
            .unwrap_or_default();
        if descending {
            users.reverse();
        }
        let total = users.len() as u64;
        let skip = usize::try_from((page - 1).saturating_mul(size)).unwrap_or(usize::MAX);
        let take = usize::try_from(size).unwrap_or(usize::MAX);
        let list: Vec<Value> = users
            .into_iter()
            .skip(skip)
            .take(take)
            .map(Value::String)
            .collect();
        let mut out = Fields::new();
        out.insert("Times".to_owned(), json!(now));
        out.insert("TotalNum".to_owned(), json!(total));
        out.insert("TotalPage".to_owned(), json!(total.div_ceil(size)));
        out.insert("UserList".to_owned(), Value::Array(list));
        Ok(out)
    }

    /// An uppercase uuid-like request id, as Alibaba's.
    fn request_id(&self) -> String {
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let mut hasher = Sha256::new();
        hasher.update(serial.to_be_bytes());
        hasher.update(nanos.to_be_bytes());
        let hex = hex::encode_upper(hasher.finalize());
        format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }
}

fn required<'p>(params: &'p Params, name: &str) -> Result<&'p str, ApiError> {
    match params.get(name) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(err(
            "MissingParameter",
            format!(
                "the input parameter `{name}` that is mandatory for processing this request is not supplied"
            ),
        )),
    }
}

fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The parameters of a request: its query, plus a form body on POST. A repeated name is
/// refused (the signature would be ambiguous).
fn collect_params(req: &Recorded, query: &str) -> Result<Params, ApiError> {
    let mut params = Params::new();
    let mut sources = vec![query.to_owned()];
    let form = req.header("content-type").is_some_and(|t| {
        t.to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    });
    if req.method == "POST" && form {
        sources.push(String::from_utf8_lossy(&req.body).into_owned());
    }
    for source in sources {
        for pair in source.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (Some(name), Some(value)) = (decode(name), decode(value)) else {
                return Err(err(
                    "InvalidParameter",
                    format!("`{pair}` is not valid percent-encoded UTF-8"),
                ));
            };
            if params.insert(name.clone(), value).is_some() {
                return Err(err(
                    "InvalidParameter",
                    format!("the parameter `{name}` is given more than once"),
                ));
            }
        }
    }
    Ok(params)
}

/// Form decoding: `%XY` → the byte, `+` → space; the result must be UTF-8.
fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Alibaba's percent-encoding: unreserved `A-Z a-z 0-9 - _ . ~` stay, every other UTF-8
/// byte is `%XY` (uppercase).
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `StringToSign` rebuilt from the received parameters (without `Signature`).
fn string_to_sign(method: &str, params: &Params) -> String {
    // A BTreeMap iterates in byte order of the names: the canonical order.
    let canonical = params
        .iter()
        .filter(|(name, _)| name.as_str() != "Signature")
        .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
        .collect::<Vec<_>>()
        .join("&");
    format!("{method}&{}&{}", encode("/"), encode(&canonical))
}

/// `base64(HMAC-SHA1(secret + "&", StringToSign))`.
fn rpc_signature(secret: &str, method: &str, params: &Params) -> String {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac =
        HmacSha1::new_from_slice(format!("{secret}&").as_bytes()).expect("HMAC accepts any key");
    mac.update(string_to_sign(method, params).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `YYYY-MM-DDThh:mm:ssZ` (UTC) → Unix seconds; anything else → `None`.
fn parse_timestamp(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(range)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => return None,
    };
    if day < 1 || day > days_in_month || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // Days since 1970-01-01 (Howard Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::Fault;
    use crate::server::send;

    // ---- A tiny signer, written separately from the verifier above. ----

    /// RFC 3986 encoding by character class.
    fn pct(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }

    fn iso(ts: i64) -> String {
        let dt = time::OffsetDateTime::from_unix_timestamp(ts).expect("in range");
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            dt.year(),
            u8::from(dt.month()),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second()
        )
    }

    struct Signer {
        id: String,
        secret: String,
        ts: i64,
        nonce: String,
        method: &'static str,
    }

    impl Signer {
        fn new(sim: &AlibabaSim, nonce: &str) -> Self {
            Self {
                id: sim.config().access_key_id.clone(),
                secret: sim.config().access_key_secret.clone(),
                ts: unix_now(),
                nonce: nonce.to_owned(),
                method: "GET",
            }
        }

        /// The full query string: the action's parameters plus the common ones, signed.
        fn query(&self, action: &str, own: &[(&str, &str)]) -> String {
            let ts = iso(self.ts);
            let mut all: Vec<(String, String)> = vec![
                ("Action".into(), action.into()),
                ("Version".into(), API_VERSION.into()),
                ("Format".into(), "JSON".into()),
                ("AccessKeyId".into(), self.id.clone()),
                ("SignatureMethod".into(), "HMAC-SHA1".into()),
                ("SignatureVersion".into(), "1.0".into()),
                ("SignatureNonce".into(), self.nonce.clone()),
                ("Timestamp".into(), ts),
            ];
            all.extend(own.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
            all.sort();
            let canonical: Vec<String> = all
                .iter()
                .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
                .collect();
            let canonical = canonical.join("&");
            let to_sign = format!("{}&%2F&{}", self.method, pct(&canonical));
            let mut mac = <HmacSha1 as Mac>::new_from_slice(format!("{}&", self.secret).as_bytes())
                .expect("key");
            mac.update(to_sign.as_bytes());
            let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
            format!("{canonical}&Signature={}", pct(&sig))
        }
    }

    async fn sim() -> AlibabaSim {
        AlibabaSim::start(AlibabaSimConfig::for_tests())
            .await
            .expect("start simulator")
    }

    async fn get(sim: &AlibabaSim, query: &str) -> SimResponse {
        send(sim.addr(), "GET", &format!("/?{query}"), &[], Vec::new())
            .await
            .expect("transport")
    }

    fn code(answer: &SimResponse) -> String {
        answer
            .body_json()
            .and_then(|v| v["Code"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "<no code>".to_owned())
    }

    fn create_params<'a>(
        sim: &'a AlibabaSim,
        channel: &'a str,
        user: &'a str,
    ) -> Vec<(&'a str, &'a str)> {
        vec![
            ("AppId", sim.config().app_id.as_str()),
            ("ChannelId", channel),
            ("UserId", user),
            ("DisplayName", "OBS * studio ~1"),
        ]
    }

    // ---- Tests ----

    /// The worked example of Alibaba Cloud's RPC signature page (ECS `DescribeRegions`,
    /// AccessKeySecret `testsecret`), through the verifier's own building blocks.
    #[test]
    fn documented_worked_example() {
        let params: Params = [
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Format", "XML"),
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("Version", "2014-05-26"),
            ("SignatureVersion", "1.0"),
            ("Signature", "ignored"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(
            string_to_sign("GET", &params),
            "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
        );
        assert_eq!(
            rpc_signature("testsecret", "GET", &params),
            "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
        );
        assert_eq!(parse_timestamp("2016-02-23T12:46:24Z"), Some(1_456_231_584));
    }

    #[test]
    fn encoding_and_timestamps() {
        assert_eq!(encode("a b*~+/é"), "a%20b%2A~%2B%2F%C3%A9");
        assert_eq!(decode("a%20b+c%2A").as_deref(), Some("a b c*"));
        assert_eq!(decode("%zz"), None);
        assert_eq!(decode("%4"), None);
        assert_eq!(decode("%FF"), None, "not UTF-8");
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_timestamp("2024-02-29T23:59:59Z"), Some(1_709_251_199));
        for bad in [
            "2023-02-29T00:00:00Z",
            "2023-13-01T00:00:00Z",
            "2023-01-01T24:00:00Z",
            "2023-01-01 00:00:00Z",
            "2023-01-01T00:00:00",
            "2023-01-01T00:00:00+08:00",
            "1700000000",
            "",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
        for ts in [0, 951_782_400, 1_700_000_000, 4_102_444_800] {
            assert_eq!(parse_timestamp(&iso(ts)), Some(ts));
        }
    }

    #[tokio::test]
    async fn issues_an_address_and_tracks_participants() {
        let sim = sim().await;
        let s = Signer::new(&sim, "nonce-1");
        let answer = get(
            &sim,
            &s.query(
                "CreateRoomRealTimeStreamAddress",
                &create_params(&sim, "room-1", "obs 1"),
            ),
        )
        .await;
        assert_eq!(
            answer.status,
            200,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        let body = answer.body_json().expect("json");
        let url = body["RtmpAddress"].as_str().expect("RtmpAddress");
        assert!(
            url.starts_with(
                "rtmp://push.artc-sim.invalid/testapp01/room-1?UserId=obs%201&auth_key="
            ),
            "{url}"
        );
        assert_eq!(body["RequestId"].as_str().map(str::len), Some(36));
        let addresses = sim.addresses();
        assert_eq!(addresses.len(), 1);
        assert_eq!(addresses[0].user_id, "obs 1");
        assert_eq!(addresses[0].display_name, "OBS * studio ~1");
        assert_eq!(addresses[0].expire_secs, DEFAULT_EXPIRE_SECS);
        assert!(
            sim.participants("room-1").is_empty(),
            "no auto-join in tests"
        );

        for i in 0..12 {
            sim.join("room-1", &format!("u{i}"));
        }
        sim.join("room-1", "u0");
        let s = Signer::new(&sim, "nonce-2");
        let answer = get(
            &sim,
            &s.query(
                "DescribeChannelParticipants",
                &[
                    ("AppId", "testapp01"),
                    ("ChannelId", "room-1"),
                    ("PageNum", "2"),
                    ("PageSize", "5"),
                    ("Order", "asc"),
                ],
            ),
        )
        .await;
        let body = answer.body_json().expect("json");
        assert_eq!(body["TotalNum"], 12);
        assert_eq!(body["TotalPage"], 3);
        assert_eq!(body["UserList"], json!(["u5", "u6", "u7", "u8", "u9"]));
        assert!(body["Times"].is_i64());

        assert!(sim.leave("room-1", "u11"));
        assert!(!sim.leave("room-1", "u11"));
        let s = Signer::new(&sim, "nonce-3");
        let answer = get(
            &sim,
            &s.query(
                "DescribeChannelParticipants",
                &[("AppId", "testapp01"), ("ChannelId", "room-1")],
            ),
        )
        .await;
        let body = answer.body_json().expect("json");
        assert_eq!(body["UserList"][0], "u10", "desc by default");
        assert_eq!(body["UserList"].as_array().map(Vec::len), Some(10));

        let s = Signer::new(&sim, "nonce-4");
        let answer = get(
            &sim,
            &s.query(
                "DescribeChannelParticipants",
                &[("AppId", "testapp01"), ("ChannelId", "empty")],
            ),
        )
        .await;
        let body = answer.body_json().expect("json");
        assert_eq!(
            (body["TotalNum"].clone(), body["TotalPage"].clone()),
            (json!(0), json!(0))
        );
        assert_eq!(sim.nonces_seen(), 4);
    }

    #[tokio::test]
    async fn post_with_a_form_body_is_accepted() {
        let sim = sim().await;
        let mut s = Signer::new(&sim, "post-nonce");
        s.method = "POST";
        let query = s.query(
            "CreateRoomRealTimeStreamAddress",
            &create_params(&sim, "r", "u"),
        );
        let answer = send(
            sim.addr(),
            "POST",
            "/",
            &[("content-type", "application/x-www-form-urlencoded")],
            query.into_bytes(),
        )
        .await
        .expect("transport");
        assert_eq!(
            answer.status,
            200,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
    }

    #[tokio::test]
    async fn rejects_bad_credentials_nonces_and_timestamps() {
        let sim = sim().await;
        let params = create_params(&sim, "r", "u");

        let mut s = Signer::new(&sim, "a");
        s.secret = "wrong".into();
        let answer = get(&sim, &s.query("CreateRoomRealTimeStreamAddress", &params)).await;
        assert_eq!(
            (answer.status, code(&answer).as_str()),
            (400, "SignatureDoesNotMatch")
        );
        let body = answer.body_json().expect("json");
        assert_eq!(body["HostId"], HOST_ID);
        assert!(body["RequestId"].is_string());

        let mut s = Signer::new(&sim, "b");
        s.id = "LTAIunknown".into();
        let answer = get(&sim, &s.query("CreateRoomRealTimeStreamAddress", &params)).await;
        assert_eq!(
            (answer.status, code(&answer).as_str()),
            (404, "InvalidAccessKeyId.NotFound")
        );

        for offset in [-1000, 1000] {
            let mut s = Signer::new(&sim, &format!("skew{offset}"));
            s.ts += offset;
            let answer = get(&sim, &s.query("CreateRoomRealTimeStreamAddress", &params)).await;
            assert_eq!(
                (answer.status, code(&answer).as_str()),
                (400, "IllegalTimestamp"),
                "{offset}"
            );
        }
        let mut s = Signer::new(&sim, "skew-ok");
        s.ts -= 600;
        let answer = get(&sim, &s.query("CreateRoomRealTimeStreamAddress", &params)).await;
        assert_eq!(answer.status, 200);

        // A nonce is single-use; a rejected request does not consume one.
        let s = Signer::new(&sim, "a");
        let answer = get(&sim, &s.query("CreateRoomRealTimeStreamAddress", &params)).await;
        assert_eq!(answer.status, 200, "`a` was only used by a forged request");
        let answer = get(&sim, &s.query("CreateRoomRealTimeStreamAddress", &params)).await;
        assert_eq!(
            (answer.status, code(&answer).as_str()),
            (400, "SignatureNonceUsed")
        );

        // A parameter changed after signing.
        let s = Signer::new(&sim, "c");
        let query = s
            .query("CreateRoomRealTimeStreamAddress", &params)
            .replace("ChannelId=r", "ChannelId=x");
        let answer = get(&sim, &query).await;
        assert_eq!(code(&answer), "SignatureDoesNotMatch");
        // Signed as GET, sent as POST.
        let answer = send(
            sim.addr(),
            "POST",
            &format!(
                "/?{}",
                Signer::new(&sim, "d").query("CreateRoomRealTimeStreamAddress", &params)
            ),
            &[],
            Vec::new(),
        )
        .await
        .expect("transport");
        assert_eq!(code(&answer), "SignatureDoesNotMatch");
        // No signature; a '+' where a space was encoded as %20 is still a space.
        let s = Signer::new(&sim, "e");
        let query = s.query("CreateRoomRealTimeStreamAddress", &params);
        let unsigned = query.split("&Signature=").next().expect("prefix");
        assert_eq!(code(&get(&sim, unsigned).await), "IncompleteSignature");
        let answer = get(&sim, &query.replace("%20", "+")).await;
        assert_eq!(answer.status, 200);

        assert_eq!(sim.addresses().len(), 3);
    }

    /// Parameters, expected HTTP status, expected code.
    type Case<'a> = (Vec<(&'a str, &'a str)>, u16, &'a str);

    #[tokio::test]
    async fn validates_parameters() {
        let sim = sim().await;
        let app = sim.config().app_id.clone();
        let long_name = "n".repeat(41);
        let long_channel = "c".repeat(65);
        let cases: Vec<Case> = vec![
            (
                vec![("ChannelId", "r"), ("UserId", "u"), ("DisplayName", "d")],
                400,
                "MissingParameter",
            ),
            (
                vec![
                    ("AppId", "other"),
                    ("ChannelId", "r"),
                    ("UserId", "u"),
                    ("DisplayName", "d"),
                ],
                404,
                "ResourceNotExist",
            ),
            (
                vec![("AppId", &app), ("UserId", "u"), ("DisplayName", "d")],
                400,
                "MissingParameter",
            ),
            (
                vec![
                    ("AppId", &app),
                    ("ChannelId", "a b"),
                    ("UserId", "u"),
                    ("DisplayName", "d"),
                ],
                400,
                "InputInvalid",
            ),
            (
                vec![
                    ("AppId", &app),
                    ("ChannelId", &long_channel),
                    ("UserId", "u"),
                    ("DisplayName", "d"),
                ],
                400,
                "InputInvalid",
            ),
            (
                vec![("AppId", &app), ("ChannelId", "r"), ("DisplayName", "d")],
                400,
                "MissingParameter",
            ),
            (
                vec![("AppId", &app), ("ChannelId", "r"), ("UserId", "u")],
                400,
                "MissingParameter",
            ),
            (
                vec![
                    ("AppId", &app),
                    ("ChannelId", "r"),
                    ("UserId", "u"),
                    ("DisplayName", &long_name),
                ],
                400,
                "InputInvalid",
            ),
            (
                vec![
                    ("AppId", &app),
                    ("ChannelId", "r"),
                    ("UserId", "u"),
                    ("DisplayName", "d"),
                    ("ExpireTime", "0"),
                ],
                400,
                "InputInvalid",
            ),
            (
                vec![
                    ("AppId", &app),
                    ("ChannelId", "r"),
                    ("UserId", "u"),
                    ("DisplayName", "d"),
                    ("ExpireTime", "-5"),
                ],
                400,
                "InputInvalid",
            ),
        ];
        for (i, (params, status, want)) in cases.iter().enumerate() {
            let s = Signer::new(&sim, &format!("v{i}"));
            let answer = get(&sim, &s.query("CreateRoomRealTimeStreamAddress", params)).await;
            assert_eq!(
                (answer.status, code(&answer).as_str()),
                (*status, *want),
                "case {i}: {params:?}"
            );
        }
        let s = Signer::new(&sim, "d1");
        let answer = get(
            &sim,
            &s.query(
                "DescribeChannelParticipants",
                &[("AppId", &app), ("ChannelId", "r"), ("PageSize", "101")],
            ),
        )
        .await;
        assert_eq!(code(&answer), "InputInvalid");
        let s = Signer::new(&sim, "d2");
        let answer = get(
            &sim,
            &s.query(
                "DescribeChannelParticipants",
                &[("AppId", &app), ("ChannelId", "r"), ("Order", "up")],
            ),
        )
        .await;
        assert_eq!(code(&answer), "InputInvalid");
        let s = Signer::new(&sim, "d3");
        let answer = get(&sim, &s.query("Nope", &[])).await;
        assert_eq!(
            (answer.status, code(&answer).as_str()),
            (404, "InvalidAction.NotFound")
        );
        let answer = get(&sim, "Action=X&Action=Y").await;
        assert_eq!(code(&answer), "InvalidParameter");
        let answer = get(&sim, "Action=%ZZ").await;
        assert_eq!(code(&answer), "InvalidParameter");
        let answer = get(&sim, "").await;
        assert_eq!(code(&answer), "MissingParameter");
        let answer = send(sim.addr(), "GET", "/other", &[], Vec::new())
            .await
            .expect("transport");
        assert_eq!(answer.status, 404);
        assert!(sim.addresses().is_empty());
    }

    #[tokio::test]
    async fn auto_join_for_the_demo_and_custom_expiry() {
        let sim = AlibabaSim::start(AlibabaSimConfig {
            auto_join: true,
            ..AlibabaSimConfig::for_tests()
        })
        .await
        .expect("start");
        let s = Signer::new(&sim, "x");
        let mut params = create_params(&sim, "room", "enc");
        params.push(("ExpireTime", "60"));
        let answer = get(&sim, &s.query("CreateRoomRealTimeStreamAddress", &params)).await;
        assert_eq!(answer.status, 200);
        assert_eq!(sim.participants("room"), ["enc"]);
        let a = &sim.addresses()[0];
        assert_eq!(a.expire_secs, 60);
        assert!(
            a.url.contains(&format!("auth_key={}-", a.expires_at)),
            "{}",
            a.url
        );
        assert_eq!(AlibabaSimConfig::demo().app_id, DEMO_APP_ID);
        assert!(AlibabaSimConfig::demo().auto_join);
    }

    #[tokio::test]
    async fn vendor_error_fault_uses_the_alibaba_envelope_and_status() {
        let sim = sim().await;
        for (fault_code, status) in [
            ("Throttling", 503),
            ("Forbidden.RAM", 403),
            ("ResourceNotExist", 404),
            ("InternalError", 500),
            ("InputInvalid", 400),
        ] {
            sim.fail_next(Fault::VendorError {
                code: fault_code.into(),
                message: "simulated".into(),
            });
            let s = Signer::new(&sim, fault_code);
            let answer = get(
                &sim,
                &s.query(
                    "CreateRoomRealTimeStreamAddress",
                    &create_params(&sim, "r", "u"),
                ),
            )
            .await;
            assert_eq!(
                (answer.status, code(&answer).as_str()),
                (status, fault_code)
            );
            let body = answer.body_json().expect("json");
            assert_eq!(body["Message"], "simulated");
            assert_eq!(body["HostId"], HOST_ID);
        }
        assert!(
            sim.addresses().is_empty(),
            "a faulted request never reaches the vendor"
        );
        assert_eq!(sim.nonces_seen(), 0);
    }
}
