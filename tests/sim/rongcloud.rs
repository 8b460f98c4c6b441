//! RongCloud RTC Cloud Player simulator (`/v2/rtc/cloudplayer/start` and `/stop`).
//!
//! Written from `shared/vendors/rongcloud.md` only. It verifies
//! `Signature = hex(SHA1(AppSecret ‖ Nonce ‖ Timestamp))` from the received headers (plain or
//! `RC-`-prefixed names), refuses a `Timestamp` (seconds) too far from its own clock, a `Nonce`
//! longer than 18 characters and an unknown `App-Key` (all HTTP 401), validates headers and
//! bodies, keeps the players in memory (a start for a user already playing in the room
//! replaces that stream, as the vendor documents), and answers in RongCloud's shapes:
//! success `{"code":10000}`, failure `{"code":N,"msg":"…"}` with the Cloud Player's codes
//! (61010 bad header, 61011 bad body, 61012 field validation failed).
//!
//! RongCloud sends status callbacks to the player's `callback_url`; the simulator does not make
//! outgoing calls, but [`RongCloudSim::signed_callback`] builds a correctly signed callback
//! (headers and body) for tests to post to the gateway, and
//! [`RongCloudSim::query_signed_callback`] the same callback signed the way RongCloud signs its
//! IM callbacks: `appKey`, `nonce`, `signTimestamp` and `signature` as URL query parameters
//! (percent-encoded by the simulator's own encoder), no signature headers.
//!
//! What the spec leaves open, and what the simulator does: the 401 body is
//! `{"code":401,"msg":"…"}`; business failures use HTTP 200; the accepted clock skew is
//! [`RongCloudSimConfig::max_skew_secs`] (300 s); stopping a player that is not running is
//! `61012`; the callback's `timestamp` header (and `signTimestamp` parameter) is in
//! milliseconds, like its body's.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use sha1::{Digest, Sha1};

use crate::server::{Recorded, SimResponse, SimServer, VendorHandler, lock};

/// The start path.
pub const START_PATH: &str = "/v2/rtc/cloudplayer/start";
/// The stop path.
pub const STOP_PATH: &str = "/v2/rtc/cloudplayer/stop";
/// The success code.
pub const CODE_OK: i64 = 10000;
/// A header is missing or invalid.
pub const CODE_BAD_HEADER: i64 = 61010;
/// The body is not a JSON object.
pub const CODE_BAD_BODY: i64 = 61011;
/// A field failed validation.
pub const CODE_BAD_FIELD: i64 = 61012;
/// Longest accepted `Nonce`.
pub const MAX_NONCE_LEN: usize = 18;
/// Longest accepted `X-Request-ID`.
pub const MAX_REQUEST_ID_LEN: usize = 36;
/// The demo's App Key (not a real credential).
pub const DEMO_APP_KEY: &str = "demo-rongcloud-app-key";
/// The demo's App Secret (not a real credential).
pub const DEMO_APP_SECRET: &str = "demo-rongcloud-app-secret";

/// The one application the simulator knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RongCloudSimConfig {
    /// The accepted `App-Key`; any other is refused with HTTP 401.
    pub app_key: String,
    /// The App Secret signatures are checked with.
    pub app_secret: String,
    /// Largest accepted difference between `Timestamp` and the simulator's clock, seconds.
    pub max_skew_secs: u64,
}

impl RongCloudSimConfig {
    /// Fixed, fake credentials for tests.
    pub fn for_tests() -> Self {
        Self {
            app_key: "test-rongcloud-app-key".to_owned(),
            app_secret: "test-rongcloud-app-secret".to_owned(),
            max_skew_secs: 300,
        }
    }

    /// The demo's credentials ([`DEMO_APP_KEY`], [`DEMO_APP_SECRET`]).
    pub fn demo() -> Self {
        Self {
            app_key: DEMO_APP_KEY.to_owned(),
            app_secret: DEMO_APP_SECRET.to_owned(),
            max_skew_secs: 300,
        }
    }
}

impl Default for RongCloudSimConfig {
    /// Same as [`RongCloudSimConfig::for_tests`].
    fn default() -> Self {
        Self::for_tests()
    }
}

/// Where a cloud player is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlayerState {
    /// Pulling its source into the room.
    Playing,
    /// Stopped by `cloudplayer/stop`.
    Stopped,
    /// Replaced by a later start for the same user in the same room.
    Replaced,
}

/// One cloud player as the simulator holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimPlayer {
    /// `Room-Id`.
    pub room_id: String,
    /// `user_id`.
    pub user_id: String,
    /// `user_name`, if sent.
    pub user_name: Option<String>,
    /// `media_type` (0 audio+video, 1 audio, 2 video).
    pub media_type: i64,
    /// `room_type` (0 RTC, 2 live).
    pub room_type: i64,
    /// `rtmp_url`.
    pub rtmp_url: String,
    /// `callback_url`, if sent.
    pub callback_url: Option<String>,
    /// `rtsp_transport` (default `tcp`).
    pub rtsp_transport: String,
    /// Its state.
    pub state: PlayerState,
}

/// A status event to sign as a callback (see [`RongCloudSim::signed_callback`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallbackEvent {
    /// `room_id`.
    pub room_id: String,
    /// `user_id`.
    pub user_id: String,
    /// `type`: 1 pull succeeded, 2 pull ended, 3 first pull failed, 4 interrupted, 5 published.
    pub kind: u8,
    /// `code`, e.g. 10000 normal or 61101 cannot pull.
    pub code: i64,
    /// `rtmp_url`.
    pub rtmp_url: String,
    /// `video_resolution`, e.g. `1920X1080`.
    pub video_resolution: Option<String>,
}

/// A signed callback: what RongCloud would POST.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimCallback {
    /// Header-signed: `content-type`, `appKey`, `nonce`, `timestamp`, `signature`.
    /// Query-signed: `content-type` only.
    pub headers: Vec<(String, String)>,
    /// The query string to put after the callback URL's `?` (without it): empty when
    /// header-signed; `appKey=…&nonce=…&signTimestamp=…&signature=…`, percent-encoded, when
    /// query-signed.
    pub query: String,
    /// The JSON body.
    pub body: Vec<u8>,
}

impl SimCallback {
    /// `path` with this callback's query string appended (if it has one).
    pub fn url(&self, path: &str) -> String {
        if self.query.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", self.query)
        }
    }
}

/// A running RongCloud simulator. Dropping it stops the server.
pub struct RongCloudSim {
    server: SimServer,
    rc: Arc<Rc>,
}

impl std::fmt::Debug for RongCloudSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RongCloudSim")
            .field("addr", &self.server.addr())
            .field("app_key", &self.rc.cfg.app_key)
            .finish_non_exhaustive()
    }
}

crate::sim::deref_to_server!(RongCloudSim);

impl RongCloudSim {
    /// Starts on `127.0.0.1:0` (a free port).
    pub async fn start(cfg: RongCloudSimConfig) -> anyhow::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), cfg).await
    }

    /// Starts on `addr`.
    pub async fn start_on(addr: SocketAddr, cfg: RongCloudSimConfig) -> anyhow::Result<Self> {
        let rc = Arc::new(Rc {
            cfg,
            players: Mutex::new(Vec::new()),
            serial: AtomicU64::new(0),
        });
        let server = SimServer::start_on(addr, Arc::clone(&rc) as Arc<dyn VendorHandler>).await?;
        Ok(Self { server, rc })
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &RongCloudSimConfig {
        &self.rc.cfg
    }

    /// The underlying server.
    pub fn server(&self) -> &SimServer {
        &self.server
    }

    /// Every player ever started, in start order.
    pub fn players(&self) -> Vec<SimPlayer> {
        lock(&self.rc.players).clone()
    }

    /// The players currently pulling.
    pub fn playing(&self) -> Vec<SimPlayer> {
        self.players()
            .into_iter()
            .filter(|p| p.state == PlayerState::Playing)
            .collect()
    }

    /// A callback for `event`, signed now with the simulator's App Secret (header form).
    pub fn signed_callback(&self, event: &CallbackEvent) -> SimCallback {
        let (now_ms, nonce) = self.now_and_nonce();
        self.callback_at(event, now_ms, &nonce)
    }

    /// A callback for `event`, signed now with the simulator's App Secret in the query form
    /// (see [`RongCloudSim::query_callback_at`]).
    pub fn query_signed_callback(&self, event: &CallbackEvent) -> SimCallback {
        let (now_ms, nonce) = self.now_and_nonce();
        self.query_callback_at(event, now_ms, &nonce)
    }

    /// The clock in milliseconds and a fresh nonce.
    fn now_and_nonce(&self) -> (u64, String) {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let nonce = format!("cb{}", self.rc.serial.fetch_add(1, Ordering::Relaxed));
        (now_ms, nonce)
    }

    /// A callback for `event` signed in the query form, as RongCloud signs its IM callbacks:
    /// no signature headers, and the query string
    /// `appKey=…&nonce=…&signTimestamp=…&signature=…` with `signTimestamp` = `timestamp_ms`
    /// (also the body's `timestamp`), `signature = hex(SHA1(AppSecret ‖ nonce ‖ signTimestamp))`
    /// over the unencoded values, and every value percent-encoded (RFC 3986 unreserved
    /// characters stay), so a `nonce` may hold any characters.
    pub fn query_callback_at(
        &self,
        event: &CallbackEvent,
        timestamp_ms: u64,
        nonce: &str,
    ) -> SimCallback {
        let ts = timestamp_ms.to_string();
        let signature = sha1_hex(&self.rc.cfg.app_secret, nonce, &ts);
        let query = [
            ("appKey", self.rc.cfg.app_key.as_str()),
            ("nonce", nonce),
            ("signTimestamp", ts.as_str()),
            ("signature", signature.as_str()),
        ]
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
        SimCallback {
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            query,
            body: self.callback_body(event, timestamp_ms),
        }
    }

    /// A callback for `event` signed with `timestamp_ms` (the header and the body's
    /// `timestamp`) and `nonce`.
    pub fn callback_at(
        &self,
        event: &CallbackEvent,
        timestamp_ms: u64,
        nonce: &str,
    ) -> SimCallback {
        let ts = timestamp_ms.to_string();
        SimCallback {
            headers: vec![
                ("content-type".to_owned(), "application/json".to_owned()),
                ("appKey".to_owned(), self.rc.cfg.app_key.clone()),
                ("nonce".to_owned(), nonce.to_owned()),
                ("timestamp".to_owned(), ts.clone()),
                (
                    "signature".to_owned(),
                    sha1_hex(&self.rc.cfg.app_secret, nonce, &ts),
                ),
            ],
            query: String::new(),
            body: self.callback_body(event, timestamp_ms),
        }
    }

    /// The callback's JSON body for `event` at `timestamp_ms`.
    fn callback_body(&self, event: &CallbackEvent, timestamp_ms: u64) -> Vec<u8> {
        let mut body = json!({
            "timestamp": timestamp_ms,
            "type": event.kind,
            "app_key": self.rc.cfg.app_key,
            "room_id": event.room_id,
            "rtmp_url": event.rtmp_url,
            "user_id": event.user_id,
            "code": event.code,
        });
        if let Some(res) = &event.video_resolution {
            body["video_resolution"] = json!(res);
        }
        body.to_string().into_bytes()
    }
}

/// RFC 3986 percent-encoding of UTF-8 bytes: `A-Z a-z 0-9 - _ . ~` stay, every other byte is
/// `%XX` (uppercase hex).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `lowercase_hex(SHA1(secret ‖ nonce ‖ timestamp))`.
fn sha1_hex(secret: &str, nonce: &str, timestamp: &str) -> String {
    let mut h = Sha1::new();
    h.update(secret.as_bytes());
    h.update(nonce.as_bytes());
    h.update(timestamp.as_bytes());
    hex::encode(h.finalize())
}

/// The vendor handler: configuration, players, a serial number for nonces.
struct Rc {
    cfg: RongCloudSimConfig,
    players: Mutex<Vec<SimPlayer>>,
    serial: AtomicU64,
}

/// An error answer: HTTP status, code, message.
#[derive(Debug)]
struct ApiError {
    status: u16,
    code: i64,
    message: String,
}

fn unauthorized(message: impl Into<String>) -> ApiError {
    ApiError {
        status: 401,
        code: 401,
        message: message.into(),
    }
}

fn failure(code: i64, message: impl Into<String>) -> ApiError {
    ApiError {
        status: 200,
        code,
        message: message.into(),
    }
}

impl VendorHandler for Rc {
    fn handle(&self, request: &Recorded) -> SimResponse {
        match self.dispatch(request, unix_now()) {
            Ok(()) => SimResponse::json(200, &json!({ "code": CODE_OK })),
            Err(e) => SimResponse::json(e.status, &json!({ "code": e.code, "msg": e.message })),
        }
    }

    fn vendor_error(&self, _request: &Recorded, code: &str, message: &str) -> SimResponse {
        let code = code
            .parse::<i64>()
            .map_or_else(|_| Value::String(code.to_owned()), Value::from);
        SimResponse::json(200, &json!({ "code": code, "msg": message }))
    }
}

/// The first non-empty value among `names` (case-insensitive).
fn header<'a>(req: &'a Recorded, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|n| req.header(n).filter(|v| !v.is_empty()))
}

impl Rc {
    fn dispatch(&self, req: &Recorded, now: u64) -> Result<(), ApiError> {
        let path = req.path_and_query.split('?').next().unwrap_or_default();
        let is_start = match (req.method.as_str(), path) {
            ("POST", START_PATH) => true,
            ("POST", STOP_PATH) => false,
            _ => {
                return Err(ApiError {
                    status: 404,
                    code: 404,
                    message: format!("no API at {} {}", req.method, req.path_and_query),
                });
            }
        };
        self.authenticate(req, now)?;
        let room_id = header(req, &["room-id"])
            .ok_or_else(|| failure(CODE_BAD_HEADER, "the Room-Id header is required"))?
            .to_owned();
        if let Some(id) = req.header("x-request-id")
            && id.chars().count() > MAX_REQUEST_ID_LEN
        {
            return Err(failure(
                CODE_BAD_HEADER,
                format!("X-Request-ID is longer than {MAX_REQUEST_ID_LEN} characters"),
            ));
        }
        let content_type = req.header("content-type").unwrap_or_default();
        if !content_type
            .to_ascii_lowercase()
            .starts_with("application/json")
        {
            return Err(failure(
                CODE_BAD_HEADER,
                "Content-Type must be application/json",
            ));
        }
        let body = match serde_json::from_slice::<Value>(&req.body) {
            Ok(Value::Object(map)) => map,
            _ => return Err(failure(CODE_BAD_BODY, "the body must be a JSON object")),
        };
        if is_start {
            self.start(room_id, &body)
        } else {
            self.stop(&room_id, &body)
        }
    }

    /// App-Key, Nonce, Timestamp (seconds) and Signature, plain or `RC-` prefixed.
    fn authenticate(&self, req: &Recorded, now: u64) -> Result<(), ApiError> {
        let app_key = header(req, &["app-key", "rc-app-key"])
            .ok_or_else(|| unauthorized("the App-Key header is missing"))?;
        let nonce = header(req, &["nonce", "rc-nonce"])
            .ok_or_else(|| unauthorized("the Nonce header is missing"))?;
        let timestamp = header(req, &["timestamp", "rc-timestamp"])
            .ok_or_else(|| unauthorized("the Timestamp header is missing"))?;
        let signature = header(req, &["signature", "rc-signature"])
            .ok_or_else(|| unauthorized("the Signature header is missing"))?;
        if app_key != self.cfg.app_key {
            return Err(unauthorized(format!("unknown App-Key `{app_key}`")));
        }
        if nonce.chars().count() > MAX_NONCE_LEN {
            return Err(unauthorized(format!(
                "the Nonce is longer than {MAX_NONCE_LEN} characters"
            )));
        }
        let ts = timestamp
            .parse::<u64>()
            .ok()
            .filter(|_| timestamp.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| unauthorized("the Timestamp is not a Unix time in seconds"))?;
        if ts.abs_diff(now) > self.cfg.max_skew_secs {
            return Err(unauthorized(format!(
                "the Timestamp {ts} is more than {} s away from the server time {now}",
                self.cfg.max_skew_secs
            )));
        }
        let expected = sha1_hex(&self.cfg.app_secret, nonce, timestamp);
        if !expected.eq_ignore_ascii_case(signature) {
            return Err(unauthorized("signature verification failed"));
        }
        Ok(())
    }

    fn start(&self, room_id: String, body: &Map<String, Value>) -> Result<(), ApiError> {
        let user_id = required_str(body, "user_id")?;
        let user_name = optional_str(body, "user_name")?;
        let media_type = optional_int(body, "media_type", &[0, 1, 2])?.unwrap_or(0);
        let room_type = optional_int(body, "room_type", &[0, 2])?.unwrap_or(0);
        let rtmp_url = required_str(body, "rtmp_url")?;
        let schemes = ["rtmp://", "rtmps://", "http://", "https://", "rtsp://"];
        if !schemes
            .iter()
            .any(|s| rtmp_url.to_ascii_lowercase().starts_with(s) && rtmp_url.len() > s.len())
        {
            return Err(failure(
                CODE_BAD_FIELD,
                format!("rtmp_url `{rtmp_url}` is not a pullable URL"),
            ));
        }
        let callback_url = optional_str(body, "callback_url")?;
        if let Some(cb) = &callback_url
            && !(cb.starts_with("http://") || cb.starts_with("https://"))
        {
            return Err(failure(
                CODE_BAD_FIELD,
                "callback_url must be an HTTP(S) URL",
            ));
        }
        let rtsp_transport = optional_str(body, "rtsp_transport")?.unwrap_or_else(|| "tcp".into());
        if rtsp_transport != "tcp" && rtsp_transport != "udp" {
            return Err(failure(CODE_BAD_FIELD, "rtsp_transport must be tcp or udp"));
        }
        let mut players = lock(&self.players);
        for p in players.iter_mut() {
            if p.room_id == room_id && p.user_id == user_id && p.state == PlayerState::Playing {
                p.state = PlayerState::Replaced;
            }
        }
        players.push(SimPlayer {
            room_id,
            user_id,
            user_name,
            media_type,
            room_type,
            rtmp_url,
            callback_url,
            rtsp_transport,
            state: PlayerState::Playing,
        });
        Ok(())
    }

    fn stop(&self, room_id: &str, body: &Map<String, Value>) -> Result<(), ApiError> {
        let user_id = required_str(body, "user_id")?;
        optional_str(body, "user_name")?;
        let mut players = lock(&self.players);
        match players.iter_mut().find(|p| {
            p.room_id == room_id && p.user_id == user_id && p.state == PlayerState::Playing
        }) {
            Some(p) => {
                p.state = PlayerState::Stopped;
                Ok(())
            }
            None => Err(failure(
                CODE_BAD_FIELD,
                format!("no cloud player for user `{user_id}` in room `{room_id}`"),
            )),
        }
    }
}

fn required_str(body: &Map<String, Value>, key: &str) -> Result<String, ApiError> {
    match body.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(Value::String(_)) => Err(failure(CODE_BAD_FIELD, format!("{key} must not be empty"))),
        Some(_) => Err(failure(CODE_BAD_FIELD, format!("{key} must be a string"))),
        None => Err(failure(CODE_BAD_FIELD, format!("{key} is required"))),
    }
}

fn optional_str(body: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(failure(CODE_BAD_FIELD, format!("{key} must be a string"))),
    }
}

fn optional_int(
    body: &Map<String, Value>,
    key: &str,
    allowed: &[i64],
) -> Result<Option<i64>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_i64() {
            Some(n) if allowed.contains(&n) => Ok(Some(n)),
            _ => Err(failure(
                CODE_BAD_FIELD,
                format!("{key} must be one of {allowed:?}"),
            )),
        },
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::Fault;
    use crate::server::send;

    async fn sim() -> RongCloudSim {
        RongCloudSim::start(RongCloudSimConfig::for_tests())
            .await
            .expect("simulator starts")
    }

    /// A tiny independent signer, straight from the spec.
    fn sign(secret: &str, nonce: &str, ts: &str) -> String {
        hex::encode(Sha1::digest(format!("{secret}{nonce}{ts}").as_bytes()))
    }

    fn now() -> String {
        unix_now().to_string()
    }

    /// Signed headers for the test app, with `overrides` replacing (or, when new, adding) ones.
    fn headers(sim: &RongCloudSim, ts: &str, overrides: &[(&str, &str)]) -> Vec<(String, String)> {
        let cfg = sim.config();
        let mut h: Vec<(String, String)> = vec![
            ("App-Key".into(), cfg.app_key.clone()),
            ("Nonce".into(), "n0nce".into()),
            ("Timestamp".into(), ts.into()),
            ("Signature".into(), sign(&cfg.app_secret, "n0nce", ts)),
            ("Room-Id".into(), "room-1".into()),
            ("Content-Type".into(), "application/json".into()),
        ];
        for (k, v) in overrides {
            match h.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(k)) {
                Some(slot) => slot.1 = (*v).to_owned(),
                None => h.push(((*k).to_owned(), (*v).to_owned())),
            }
        }
        h
    }

    async fn post(
        sim: &RongCloudSim,
        path: &str,
        headers: &[(String, String)],
        body: &Value,
    ) -> SimResponse {
        let h: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        send(sim.addr(), "POST", path, &h, body.to_string())
            .await
            .expect("transport")
    }

    fn start_body() -> Value {
        json!({"user_id": "bot", "user_name": "Bot", "media_type": 0, "room_type": 0,
               "rtmp_url": "rtmp://src.example.invalid/live/a"})
    }

    fn code(answer: &SimResponse) -> i64 {
        answer
            .body_json()
            .and_then(|v| v["code"].as_i64())
            .expect("a code")
    }

    #[tokio::test]
    async fn accepts_a_signed_start_then_stop() {
        let sim = sim().await;
        let a = post(&sim, START_PATH, &headers(&sim, &now(), &[]), &start_body()).await;
        assert_eq!((a.status, code(&a)), (200, CODE_OK), "{a:?}");
        let players = sim.playing();
        assert_eq!(players.len(), 1);
        assert_eq!(players[0].room_id, "room-1");
        assert_eq!(players[0].user_id, "bot");
        assert_eq!(players[0].user_name.as_deref(), Some("Bot"));
        assert_eq!(players[0].rtsp_transport, "tcp");

        let stop = json!({"user_id": "bot"});
        let a = post(&sim, STOP_PATH, &headers(&sim, &now(), &[]), &stop).await;
        assert_eq!(code(&a), CODE_OK);
        assert!(sim.playing().is_empty());
        assert_eq!(sim.players()[0].state, PlayerState::Stopped);
        // Stopping again: nothing is playing.
        let a = post(&sim, STOP_PATH, &headers(&sim, &now(), &[]), &stop).await;
        assert_eq!(code(&a), CODE_BAD_FIELD);
    }

    #[tokio::test]
    async fn a_second_start_replaces_the_users_stream() {
        let sim = sim().await;
        for _ in 0..2 {
            let a = post(&sim, START_PATH, &headers(&sim, &now(), &[]), &start_body()).await;
            assert_eq!(code(&a), CODE_OK);
        }
        let states: Vec<PlayerState> = sim.players().iter().map(|p| p.state).collect();
        assert_eq!(states, [PlayerState::Replaced, PlayerState::Playing]);
    }

    #[tokio::test]
    async fn rc_prefixed_headers_are_accepted() {
        let sim = sim().await;
        let ts = now();
        let cfg = sim.config().clone();
        let h: Vec<(String, String)> = vec![
            ("RC-App-Key".into(), cfg.app_key.clone()),
            ("RC-Nonce".into(), "abc".into()),
            ("RC-Timestamp".into(), ts.clone()),
            (
                "RC-Signature".into(),
                sign(&cfg.app_secret, "abc", &ts).to_uppercase(),
            ),
            ("Room-Id".into(), "r".into()),
            (
                "Content-Type".into(),
                "application/json; charset=utf-8".into(),
            ),
        ];
        let a = post(&sim, START_PATH, &h, &start_body()).await;
        assert_eq!(code(&a), CODE_OK, "{a:?}");
    }

    #[tokio::test]
    async fn refuses_bad_credentials_with_401() {
        let sim = sim().await;
        let ts = now();
        let stale = (unix_now() - 400).to_string();
        let ms = (unix_now() * 1000).to_string();
        let wrong = sign("not-the-secret", "n0nce", &ts);
        let stale_sig = sign(&sim.config().app_secret, "n0nce", &stale);
        let ms_sig = sign(&sim.config().app_secret, "n0nce", &ms);
        let long_nonce = "n".repeat(19);
        let long_sig = sign(&sim.config().app_secret, &long_nonce, &ts);
        let cases: Vec<Vec<(String, String)>> = vec![
            headers(&sim, &ts, &[("Signature", &wrong)]),
            headers(&sim, &ts, &[("App-Key", "other-app")]),
            headers(&sim, &ts, &[("Nonce", "changed")]),
            headers(&sim, &stale, &[("Signature", &stale_sig)]),
            headers(&sim, &ms, &[("Signature", &ms_sig)]),
            headers(
                &sim,
                &ts,
                &[("Nonce", &long_nonce), ("Signature", &long_sig)],
            ),
            headers(&sim, &ts, &[("Signature", "")]),
            headers(&sim, "soon", &[]),
        ];
        for h in &cases {
            let a = post(&sim, START_PATH, h, &start_body()).await;
            assert_eq!(a.status, 401, "{h:?}: {a:?}");
            assert_eq!(code(&a), 401);
        }
        assert!(sim.players().is_empty());
    }

    #[tokio::test]
    async fn validates_headers_and_bodies() {
        let sim = sim().await;
        let ts = now();
        let long_id = "r".repeat(37);
        let header_cases = [
            headers(&sim, &ts, &[("Room-Id", "")]),
            headers(&sim, &ts, &[("X-Request-ID", &long_id)]),
            headers(&sim, &ts, &[("Content-Type", "text/plain")]),
        ];
        for h in &header_cases {
            let a = post(&sim, START_PATH, h, &start_body()).await;
            assert_eq!((a.status, code(&a)), (200, CODE_BAD_HEADER), "{h:?}");
        }
        let h = headers(&sim, &ts, &[]);
        let a = post(&sim, START_PATH, &h, &json!([1])).await;
        assert_eq!(code(&a), CODE_BAD_BODY);
        let with = |k: &str, v: Value| {
            let mut b = start_body();
            b[k] = v;
            b
        };
        let without = |k: &str| {
            let mut b = start_body();
            b.as_object_mut().expect("object").remove(k);
            b
        };
        for body in [
            without("user_id"),
            with("user_id", json!("")),
            with("user_id", json!(7)),
            without("rtmp_url"),
            with("rtmp_url", json!("ftp://x/y")),
            with("media_type", json!(3)),
            with("room_type", json!(1)),
            with("rtsp_transport", json!("quic")),
            with("callback_url", json!("mailto:x")),
            with("user_name", json!(5)),
        ] {
            let a = post(&sim, START_PATH, &h, &body).await;
            assert_eq!(code(&a), CODE_BAD_FIELD, "{body}");
        }
        let a = post(&sim, STOP_PATH, &h, &json!({})).await;
        assert_eq!(code(&a), CODE_BAD_FIELD);
        let a = send(sim.addr(), "GET", START_PATH, &[], Vec::new())
            .await
            .expect("transport");
        assert_eq!(a.status, 404);
        let a = post(&sim, "/v2/rtc/cloudplayer/rtmp/start", &h, &start_body()).await;
        assert_eq!(a.status, 404, "the deprecated API is not served");
        assert!(sim.players().is_empty());
    }

    #[tokio::test]
    async fn vendor_error_fault_uses_the_rongcloud_envelope() {
        let sim = sim().await;
        sim.fail_next(Fault::VendorError {
            code: "61014".into(),
            message: "media server timeout".into(),
        });
        let a = post(&sim, START_PATH, &headers(&sim, &now(), &[]), &start_body()).await;
        assert_eq!(a.status, 200);
        assert_eq!(
            a.body_json(),
            Some(json!({"code": 61014, "msg": "media server timeout"}))
        );
        assert!(sim.players().is_empty());
    }

    #[tokio::test]
    async fn signed_callbacks_verify_independently() {
        let sim = sim().await;
        let event = CallbackEvent {
            room_id: "room-1".into(),
            user_id: "bot".into(),
            kind: 5,
            code: 61017,
            rtmp_url: "rtmp://src/a".into(),
            video_resolution: Some("1920X1080".into()),
        };
        let cb = sim.callback_at(&event, 1_700_000_000_123, "cbn");
        let get = |n: &str| {
            cb.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
                .expect(n)
        };
        assert_eq!(get("timestamp"), "1700000000123");
        assert_eq!(
            get("signature"),
            sign(&sim.config().app_secret, "cbn", "1700000000123")
        );
        assert_eq!(get("appKey"), sim.config().app_key);
        let body: Value = serde_json::from_slice(&cb.body).expect("json");
        assert_eq!(body["type"], 5);
        assert_eq!(body["code"], 61017);
        assert_eq!(body["room_id"], "room-1");
        assert_eq!(body["timestamp"], 1_700_000_000_123u64);
        assert_eq!(body["video_resolution"], "1920X1080");
        assert_eq!(cb.query, "", "header-signed: no query");
        assert_eq!(cb.url("/cb"), "/cb");
        let a = sim.signed_callback(&event);
        let b = sim.signed_callback(&event);
        assert_ne!(a.headers, b.headers, "each callback has its own nonce");
    }

    #[tokio::test]
    async fn query_signed_callbacks_verify_independently() {
        let sim = sim().await;
        let event = CallbackEvent {
            room_id: "room-1".into(),
            user_id: "bot".into(),
            kind: 1,
            code: 10000,
            rtmp_url: "rtmp://src/a".into(),
            video_resolution: None,
        };
        // A nonce that needs encoding: its signature is over the unencoded text.
        let cb = sim.query_callback_at(&event, 1_700_000_000_123, "n 1/é+");
        let sig = sign(&sim.config().app_secret, "n 1/é+", "1700000000123");
        assert_eq!(
            cb.query,
            format!(
                "appKey=test-rongcloud-app-key&nonce=n%201%2F%C3%A9%2B\
                 &signTimestamp=1700000000123&signature={sig}"
            )
        );
        assert_eq!(
            cb.headers,
            vec![("content-type".to_owned(), "application/json".to_owned())],
            "no signature headers"
        );
        assert_eq!(
            cb.url("/v1/callbacks/rc"),
            format!("/v1/callbacks/rc?{}", cb.query)
        );
        let body: Value = serde_json::from_slice(&cb.body).expect("json");
        assert_eq!(body["type"], 1);
        assert_eq!(body["timestamp"], 1_700_000_000_123u64);
        assert!(body.get("video_resolution").is_none());
        // The same body as the header-signed form.
        assert_eq!(
            cb.body,
            sim.callback_at(&event, 1_700_000_000_123, "x").body
        );
        let a = sim.query_signed_callback(&event);
        let b = sim.query_signed_callback(&event);
        assert_ne!(a.query, b.query, "each callback has its own nonce");
        assert!(a.query.contains("&signTimestamp=") && a.query.starts_with("appKey="));
    }
}
