//! ZEGOCLOUD simulator: `RTMPDispatchV2` (the RTC API) and the Cloud Player API
//! (`CreatePlayer`, `UpdatePlayer`, `DeletePlayer`, `DescribePlayers`) on one server; the
//! `Action` query parameter tells them apart, as the two real hosts would.
//!
//! Dispatch is written from `shared/vendors/zego.md`; the cloud player from ZEGO's published
//! OpenAPI files (repository `ZEGOCLOUD/docs_all`, folder
//! `extended_services/cloud_player/en/server/`: `create-player.yaml`, `update-player.yaml`,
//! `delete-player.yaml`, `describe-players.yaml`, `return-codes.mdx`), not from the plugins.
//! It verifies the v2 signature (`md5(AppId ‖ SignatureNonce ‖ ServerSecret ‖ Timestamp)`)
//! from the received query, refuses a Timestamp more than 10 minutes from its clock,
//! validates each action's parameters, keeps dispatches and players, answers in ZEGO's
//! envelope `{"Code", "Message", "RequestId", "Data"}` (always HTTP 200; `Code` 0 is
//! success), and can produce a signed cloud-player callback ([`ZegoSim::callback`]) in the
//! shape `Callback/callback.mdx` publishes (`Detail` a JSON object, `Timestamp` a string), or
//! in an older URL-encoded shape ([`CallbackShape`]).
//!
//! Check order: route (`/`) → query decoding → `Action` → common parameters (AppId,
//! SignatureNonce, Timestamp, SignatureVersion, Signature) → AppId → Timestamp → signature →
//! `IsTest` → the action (method, body, its own parameters).
//!
//! Error codes come from the action's family: dispatch uses its table (1006 invalid parameter,
//! 30004 IsTest, 30005 AppId, 30009 StreamId, 30010 Type, 30011 ClientIP); the cloud player
//! uses 350006002 (gateway check, e.g. an unknown AppId), 350006003 (invalid parameter),
//! 350006007 (the 50 players that are not destroyed, per AppID), 350006008 (a player that is
//! not destroyed already has that `PlayerName`) and 350006009 (`DeletePlayer` of a player
//! still being created, Status 1). Both use 100000004 (signature expired) and 100000005
//! (wrong).
//!
//! What the published files state, the simulator does:
//!
//! - `StreamUrl` and `BackupStreamUrl` are HTTP/HTTPS URLs of at most 1024 bytes.
//!   `CreatePlayer`'s `StreamUrlList` has at most 100 entries, 50000 bytes in all; ZEGO
//!   publishes no rule for an entry (no scheme, no length), and no limit at all for
//!   `UpdatePlayer`'s list, so the simulator holds entries to none and an update's list to
//!   no count or total. `CreatePlayer` takes `StreamUrl` (a single player) or `StreamUrlList`
//!   (a list player), not both; `UpdatePlayer` takes the one that matches the player.
//! - `CreatePlayer`: `RoomId` ≤ 128 bytes; `StreamId` ≤ 256 of `[0-9A-Za-z_-]`, unique among
//!   players not destroyed; `PlayerName` ≤ 64 bytes; `MaxIdleTime` moved into 5..=3000 (ZEGO
//!   adjusts it rather than refusing; [`SimPlayer::max_idle_time`] holds what was applied);
//!   `PlayTime` 0 or within a day before to 30 minutes after now; `RepeatTimes` -1 or ≥ 1;
//!   `SeekTo` ≥ 0; `RoomUserUpdate` the number 0 or 1; `DelayDestroySeconds` 0..=3600;
//!   `VideoOptions` / `AudioOptions` with the published sub-fields and ranges.
//! - `UpdatePlayer`: `PlayerId` and `Sequence` are required and `Sequence` must be greater
//!   than the last one applied to that player (ZEGO publishes no code for a stale one; the
//!   simulator answers 350006003). **When `StreamUrl` or `StreamUrlList` is given, every
//!   other field is ignored**, as ZEGO documents: the simulator applies only the source and
//!   records the ignored fields ([`SimPlayer::update_ignored`]). `IsPause` 1 pauses (Status
//!   5), 0 resumes (Status 4); `SeekTo` and `RepeatTimes` (0 keeps) are kept.
//! - `DescribePlayers`: `PageSize` 1..=50 (default 50), `PageToken`; `PlayerId` wins over
//!   `RoomId`; `CreateTime`/`PlayTime` in seconds, `DestroyReason` the published number.
//!
//! The simulator's own choices where the files are silent: a field an action does not define
//! is refused (350006003), as is an `UpdatePlayer` that names nothing to change, and a
//! `StreamUrlList` that is empty or has an entry that is not a non-empty string; an unknown
//! player, or one that is no longer running (Status 6, 7, 8), is answered 350006003 by
//! `UpdatePlayer` and `DeletePlayer` (a destroyed one too). A player it applies an update to
//! keeps the new values ([`SimPlayer`]) and the received body ([`SimPlayer::update_bodies`]).
//! [`ZegoSim::forget_player`] drops a player, as ZEGO eventually forgets ended ones.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use md5::Md5;
use serde_json::{Map, Value, json};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::server::{Recorded, SimResponse, SimServer, VendorHandler, lock};

/// The demo's AppID.
pub const DEMO_APP_ID: u32 = 1_234_567_890;
/// The demo's ServerSecret (not a real credential).
pub const DEMO_SERVER_SECRET: &str = "demo0zego0server0secret00000000";
/// The demo's CallbackSecret (not a real credential).
pub const DEMO_CALLBACK_SECRET: &str = "demo-zego-callback-secret";
/// Most players not destroyed (Status 1..=7) at once per AppID (ZEGO's default; beyond it
/// `CreatePlayer` answers 350006007).
pub const MAX_RUNNING_PLAYERS: usize = 50;
/// Longest `StreamUrl` / `BackupStreamUrl`, bytes.
pub const MAX_URL: usize = 1024;
/// Most `StreamUrlList` entries, and their most bytes in all: `CreatePlayer`'s published
/// limits (`UpdatePlayer` publishes none).
pub const MAX_URL_LIST: (usize, usize) = (100, 50_000);

/// The numeric sub-fields `CreatePlayer` takes in `VideoOptions`, with their ranges (an
/// `Err` holds the allowed set).
const CREATE_VIDEO: &[(&str, Allowed)] = &[
    ("Width", Ok((1, 3000))),
    ("Height", Ok((1, 3000))),
    ("ShortEdge", Ok((0, 2160))),
    ("VideoBitrate", Ok((1, 50_000))),
    ("VideoCodec", Err(&[0, 2, 3])),
    ("Fps", Ok((1, 30))),
    ("RenderMode", Err(&[0, 1])),
];
const CREATE_AUDIO: &[(&str, Allowed)] = &[
    ("AudioCodec", Err(&[0, 1, 6])),
    ("AudioBitrate", Ok((1, 192))),
    ("SoundChannel", Err(&[1, 2])),
    ("Volume", Ok((0, 200))),
];
const UPDATE_VIDEO: &[(&str, Allowed)] = &[
    ("Width", Ok((1, 3000))),
    ("Height", Ok((1, 3000))),
    ("ShortEdge", Ok((0, 2160))),
    ("VideoBitrate", Ok((1, 50_000))),
];
const UPDATE_AUDIO: &[(&str, Allowed)] =
    &[("AudioBitrate", Ok((1, 192))), ("Volume", Ok((0, 200)))];

/// A range `Ok((min, max))` or an allowed set `Err(values)`.
type Allowed = Result<(i64, i64), &'static [i64]>;
/// The publish node dispatch answers (a documentation address).
pub const PUSH_NODE: &str = "203.0.113.10:1935";
/// The play node dispatch answers (a documentation address).
pub const PLAY_NODE: &str = "203.0.113.20:1935";

/// Which API a request belongs to, deciding its error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Dispatch,
    CloudPlayer,
}

impl Family {
    fn invalid_parameter(self) -> i64 {
        match self {
            Family::Dispatch => 1006,
            Family::CloudPlayer => 350_006_003,
        }
    }

    fn unknown_app(self) -> i64 {
        match self {
            Family::Dispatch => 30005,
            Family::CloudPlayer => 350_006_002,
        }
    }

    fn bad_is_test(self) -> i64 {
        match self {
            Family::Dispatch => 30004,
            Family::CloudPlayer => 350_006_003,
        }
    }
}

/// The one project the simulator knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZegoSimConfig {
    /// The project's AppID; any other is 30005 (dispatch) or 350006002 (cloud player).
    pub app_id: u32,
    /// The ServerSecret request signatures are checked with.
    pub server_secret: String,
    /// The CallbackSecret callbacks are signed with.
    pub callback_secret: String,
    /// Largest accepted difference between `Timestamp` and the simulator's clock, seconds
    /// (ZEGO: 10 minutes).
    pub max_skew_secs: i64,
    /// The `Status` a new player starts in (1 creating … 4 playing).
    pub initial_player_status: u8,
}

impl ZegoSimConfig {
    /// Fixed, fake credentials for tests; players start as 1 (creating).
    pub fn for_tests() -> Self {
        Self {
            app_id: 1_000_000_001,
            server_secret: "sim0test0zego0server0secret0000".to_owned(),
            callback_secret: "sim-test-zego-callback-secret".to_owned(),
            max_skew_secs: 600,
            initial_player_status: 1,
        }
    }

    /// The demo's credentials ([`DEMO_APP_ID`], [`DEMO_SERVER_SECRET`],
    /// [`DEMO_CALLBACK_SECRET`]); players start as 4 (playing).
    pub fn demo() -> Self {
        Self {
            app_id: DEMO_APP_ID,
            server_secret: DEMO_SERVER_SECRET.to_owned(),
            callback_secret: DEMO_CALLBACK_SECRET.to_owned(),
            max_skew_secs: 600,
            initial_player_status: 4,
        }
    }
}

impl Default for ZegoSimConfig {
    /// Same as [`ZegoSimConfig::for_tests`].
    fn default() -> Self {
        Self::for_tests()
    }
}

/// One `RTMPDispatchV2` answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dispatched {
    /// `StreamId`.
    pub stream_id: String,
    /// `Type`: `push` or `pull`.
    pub kind: String,
    /// `Sequence`.
    pub sequence: i64,
    /// `ClientIP`.
    pub client_ip: Option<Ipv4Addr>,
    /// `IsTest`, if sent.
    pub is_test: Option<bool>,
    /// The URLs answered in `Data`.
    pub urls: Vec<String>,
}

/// One cloud player as the simulator holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct SimPlayer {
    /// `PlayerId`.
    pub player_id: String,
    /// `RoomId`.
    pub room_id: String,
    /// `StreamId`, as sent or generated.
    pub stream_id: String,
    /// `StreamUrl`: a single player's source, or a list player's first entry.
    pub stream_url: String,
    /// `StreamUrlList`, for a list player (created with it).
    pub stream_url_list: Option<Vec<String>>,
    /// `PlayerName`.
    pub player_name: Option<String>,
    /// `BackupStreamUrl`, as created or last updated.
    pub backup_stream_url: Option<String>,
    /// `VideoOptions`, as created or last updated.
    pub video_options: Option<Value>,
    /// `AudioOptions`, as created or last updated.
    pub audio_options: Option<Value>,
    /// `MaxIdleTime` as applied, seconds (300 by default; a value outside 5..=3000 is moved
    /// to the nearer end, as ZEGO documents).
    pub max_idle_time: i64,
    /// `PlayTime` (0: at once).
    pub play_time: i64,
    /// `RepeatTimes` (1 by default, -1 loops), as created or last updated.
    pub repeat_times: i64,
    /// `SeekTo`, seconds, as created or last updated.
    pub seek_to: Option<f64>,
    /// `RoomUserUpdate` (0 or 1).
    pub room_user_update: i64,
    /// `DelayDestroySeconds`.
    pub delay_destroy_seconds: i64,
    /// The `Sequence` of the last update applied.
    pub sequence: Option<i64>,
    /// `Status`: 1 creating, 2 connecting, 3 waiting, 4 playing, 5 paused, 6 source failed,
    /// 7 finished, 8 destroyed.
    pub status: u8,
    /// `CreateTime`, Unix seconds.
    pub create_time: i64,
    /// `DestroyReason`, once destroyed: 1 DeletePlayer, 2 idle too long, 3 playback ended,
    /// 4 publishing failed, 5 left the room.
    pub destroy_reason: Option<u8>,
    /// The whole `CreatePlayer` body as received.
    pub create_body: Value,
    /// Every `UpdatePlayer` body applied to it, in order.
    pub update_bodies: Vec<Value>,
    /// For each applied update (same order): the fields ZEGO ignored because the request
    /// carried `StreamUrl` or `StreamUrlList`.
    pub update_ignored: Vec<Vec<String>>,
}

impl SimPlayer {
    /// Playing or about to (Status 1..=5): the states an update applies to.
    fn running(&self) -> bool {
        (1..=5).contains(&self.status)
    }

    /// Not destroyed (Status 1..=7): what counts against the 50-player limit and holds its
    /// `PlayerName` and `StreamId`.
    fn alive(&self) -> bool {
        self.status != 8
    }
}

/// The body shape of a callback.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CallbackShape {
    /// As `Callback/callback.mdx` publishes it and its example shows: strings as they are,
    /// `Timestamp` a string of seconds, `EventTime` a number of milliseconds, `Detail` a JSON
    /// object.
    #[default]
    Published,
    /// Not the published shape: the one this simulator sent before, kept to test that a
    /// receiver still reads it — string values URL-encoded, `Timestamp` a number, `Detail`
    /// URL-encoded JSON text.
    UrlEncoded,
}

/// A signed cloud-player callback, ready to POST to the gateway.
#[derive(Clone, Debug, PartialEq)]
pub struct SignedCallback {
    /// Request headers (`content-type: application/json`).
    pub headers: Vec<(String, String)>,
    /// The JSON body bytes.
    pub body: Vec<u8>,
    /// The same body, parsed.
    pub json: Value,
}

/// A running ZEGO simulator. Dropping it stops the server.
pub struct ZegoSim {
    server: SimServer,
    zego: Arc<Zego>,
}

impl std::fmt::Debug for ZegoSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZegoSim")
            .field("addr", &self.server.addr())
            .field("app_id", &self.zego.cfg.app_id)
            .finish_non_exhaustive()
    }
}

crate::sim::deref_to_server!(ZegoSim);

impl ZegoSim {
    /// Starts on `127.0.0.1:0` (a free port).
    pub async fn start(cfg: ZegoSimConfig) -> anyhow::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), cfg).await
    }

    /// Starts on `addr`.
    pub async fn start_on(addr: SocketAddr, cfg: ZegoSimConfig) -> anyhow::Result<Self> {
        let zego = Arc::new(Zego {
            cfg,
            state: Mutex::new(State::default()),
            serial: AtomicU64::new(0),
        });
        let server = SimServer::start_on(addr, Arc::clone(&zego) as Arc<dyn VendorHandler>).await?;
        Ok(Self { server, zego })
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &ZegoSimConfig {
        &self.zego.cfg
    }

    /// The underlying server.
    pub fn server(&self) -> &SimServer {
        &self.server
    }

    /// Every dispatch answered, in order.
    pub fn dispatches(&self) -> Vec<Dispatched> {
        lock(&self.zego.state).dispatches.clone()
    }

    /// Every player ever created, in creation order.
    pub fn players(&self) -> Vec<SimPlayer> {
        lock(&self.zego.state).players.clone()
    }

    /// The player `player_id`, if it exists.
    pub fn player(&self, player_id: &str) -> Option<SimPlayer> {
        lock(&self.zego.state)
            .players
            .iter()
            .find(|p| p.player_id == player_id)
            .cloned()
    }

    /// Moves a player to `status` (1..=8), as the vendor would on its own (connected, source
    /// failed, finished …); 8 also records DestroyReason 2 (idle longer than MaxIdleTime).
    /// Returns whether it existed.
    pub fn set_player_status(&self, player_id: &str, status: u8) -> bool {
        let mut state = lock(&self.zego.state);
        match state.players.iter_mut().find(|p| p.player_id == player_id) {
            Some(p) => {
                p.status = status;
                if status == 8 && p.destroy_reason.is_none() {
                    p.destroy_reason = Some(2);
                }
                true
            }
            None => false,
        }
    }

    /// Drops a player from the list, as ZEGO eventually forgets ended players: from then on
    /// `DescribePlayers` does not list it and every action answers it as unknown. Returns
    /// whether it existed.
    pub fn forget_player(&self, player_id: &str) -> bool {
        let mut state = lock(&self.zego.state);
        let before = state.players.len();
        state.players.retain(|p| p.player_id != player_id);
        state.players.len() != before
    }

    /// A correctly signed callback for `player_id` with `event_type` (1 created, 2 destroyed,
    /// 3 status changed, 4 exception), a fresh nonce and the current time, in the published
    /// shape ([`CallbackShape::Published`]). `None` for an unknown player. `Detail` holds
    /// what `Callback/callback.mdx` lists for the event: for 1 `CreateTime`, `PlayTime`,
    /// `MaxIdleTime` and the source's `StreamUrl` (and the body the `PlayerName`, as the
    /// published example); for 2 `PlayTime` and `Reason` (the `DestroyReason`); for 3
    /// `Status` and `PlayIndex`; for 4 `Code` -7 (stutter) and `PlayIndex`.
    pub fn callback(&self, player_id: &str, event_type: i64) -> Option<SignedCallback> {
        self.callback_as(player_id, event_type, CallbackShape::Published)
    }

    /// [`ZegoSim::callback`] in the shape `shape`.
    pub fn callback_as(
        &self,
        player_id: &str,
        event_type: i64,
        shape: CallbackShape,
    ) -> Option<SignedCallback> {
        let player = self.player(player_id)?;
        let play_time = if player.play_time == 0 {
            player.create_time
        } else {
            player.play_time
        };
        let detail = match event_type {
            1 => Some(json!({
                "CreateTime": player.create_time,
                "PlayTime": play_time,
                "MaxIdleTime": player.max_idle_time,
                "StreamUrl": player.stream_url,
            })),
            2 => Some(json!({"PlayTime": play_time, "Reason": player.destroy_reason.unwrap_or(0)})),
            3 => Some(json!({"Status": player.status, "PlayIndex": 0})),
            4 => Some(json!({"Code": -7, "PlayIndex": 0})),
            _ => None,
        };
        let nonce = hex::encode(&self.zego.entropy(b"callback")[..8]);
        let mut cb = self.callback_with(
            &player.room_id,
            player_id,
            event_type,
            &nonce,
            unix_now(),
            detail.as_ref(),
            shape,
        );
        if let (1, Some(name)) = (event_type, &player.player_name) {
            let name = match shape {
                CallbackShape::Published => name.clone(),
                CallbackShape::UrlEncoded => url_encode(name),
            };
            cb.json["PlayerName"] = Value::String(name);
            cb.body = cb.json.to_string().into_bytes();
        }
        Some(cb)
    }

    /// A callback with every signed input chosen by the caller (tests pin the nonce and time),
    /// in the shape `shape`.
    #[allow(clippy::too_many_arguments)]
    pub fn callback_with(
        &self,
        room_id: &str,
        player_id: &str,
        event_type: i64,
        nonce: &str,
        timestamp: i64,
        detail: Option<&Value>,
        shape: CallbackShape,
    ) -> SignedCallback {
        let ts = timestamp.to_string();
        let signature = callback_signature(&self.zego.cfg.callback_secret, &ts, nonce);
        let event_time = timestamp.saturating_mul(1000);
        let mut body = match shape {
            CallbackShape::Published => json!({
                "AppID": self.zego.cfg.app_id,
                "RoomId": room_id,
                "PlayerId": player_id,
                "EventType": event_type,
                "Nonce": nonce,
                "Timestamp": ts,
                "Signature": signature,
                "EventTime": event_time,
            }),
            CallbackShape::UrlEncoded => json!({
                "AppID": self.zego.cfg.app_id,
                "RoomId": url_encode(room_id),
                "PlayerId": url_encode(player_id),
                "EventType": event_type,
                "Nonce": nonce,
                "Timestamp": timestamp,
                "Signature": signature,
                "EventTime": event_time,
            }),
        };
        if let Some(detail) = detail {
            body["Detail"] = match shape {
                CallbackShape::Published => detail.clone(),
                CallbackShape::UrlEncoded => Value::String(url_encode(&detail.to_string())),
            };
        }
        SignedCallback {
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body: body.to_string().into_bytes(),
            json: body,
        }
    }
}

/// ZEGO's callback check: `sha1(concat(sort_as_strings([secret, timestamp, nonce])))`, hex.
pub fn callback_signature(secret: &str, timestamp: &str, nonce: &str) -> String {
    let mut parts = [secret, timestamp, nonce];
    parts.sort_unstable();
    hex::encode(Sha1::digest(parts.concat().as_bytes()))
}

#[derive(Default)]
struct State {
    dispatches: Vec<Dispatched>,
    players: Vec<SimPlayer>,
}

/// The vendor handler: configuration, state, and a serial number for ids.
struct Zego {
    cfg: ZegoSimConfig,
    state: Mutex<State>,
    serial: AtomicU64,
}

/// An error answer: a ZEGO code and message.
#[derive(Debug)]
struct ApiError {
    code: i64,
    message: String,
}

fn err(code: i64, message: impl Into<String>) -> ApiError {
    ApiError {
        code,
        message: message.into(),
    }
}

fn envelope(code: Value, message: &str, request_id: &str, data: Option<Value>) -> SimResponse {
    let mut body = json!({"Code": code, "Message": message, "RequestId": request_id});
    if let Some(data) = data {
        body["Data"] = data;
    }
    SimResponse::json(200, &body)
}

type Params = BTreeMap<String, String>;

impl VendorHandler for Zego {
    fn handle(&self, request: &Recorded) -> SimResponse {
        let request_id = self.request_id();
        match self.dispatch(request, unix_now()) {
            Ok(data) => envelope(json!(0), "ok", &request_id, Some(data)),
            Err(e) => envelope(json!(e.code), &e.message, &request_id, None),
        }
    }

    fn vendor_error(&self, _request: &Recorded, code: &str, message: &str) -> SimResponse {
        let code = code
            .parse::<i64>()
            .map_or_else(|_| Value::String(code.to_owned()), Value::from);
        envelope(code, message, &self.request_id(), None)
    }
}

impl Zego {
    fn dispatch(&self, req: &Recorded, now: i64) -> Result<Value, ApiError> {
        let (path, query) = req
            .path_and_query
            .split_once('?')
            .unwrap_or((req.path_and_query.as_str(), ""));
        let params = parse_query(query).map_err(|m| err(1006, m))?;
        let family = match params.get("Action").map(String::as_str) {
            Some("RTMPDispatchV2") => Family::Dispatch,
            Some("CreatePlayer" | "UpdatePlayer" | "DeletePlayer" | "DescribePlayers") => {
                Family::CloudPlayer
            }
            Some(other) => return Err(err(1006, format!("unknown Action `{other}`"))),
            None => return Err(err(1006, "the parameter `Action` is missing")),
        };
        if path != "/" {
            return Err(err(
                family.invalid_parameter(),
                format!("only `/` is served, got `{path}`"),
            ));
        }
        self.authenticate(&params, family, now)?;
        let is_test = match params.get("IsTest").map(String::as_str) {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(other) => {
                return Err(err(
                    family.bad_is_test(),
                    format!("IsTest must be `true` or `false`, got `{other}`"),
                ));
            }
        };
        match family {
            Family::Dispatch => {
                if req.method != "GET" {
                    return Err(err(1006, "RTMPDispatchV2 is a GET"));
                }
                self.rtmp_dispatch(&params, is_test)
            }
            Family::CloudPlayer => {
                let body = json_body(req)?;
                match params.get("Action").map(String::as_str) {
                    Some("CreatePlayer") => self.create_player(&body, is_test, now),
                    Some("DeletePlayer") => self.delete_player(&body),
                    Some("UpdatePlayer") => self.update_player(&body),
                    _ => self.describe_players(&body),
                }
            }
        }
    }

    /// AppId → Timestamp → signature, all from the received query.
    fn authenticate(&self, params: &Params, family: Family, now: i64) -> Result<(), ApiError> {
        let get = |name: &str| {
            params.get(name).filter(|v| !v.is_empty()).ok_or_else(|| {
                err(
                    family.invalid_parameter(),
                    format!("the common parameter `{name}` is missing"),
                )
            })
        };
        let app = get("AppId")?;
        let nonce = get("SignatureNonce")?;
        let timestamp = get("Timestamp")?;
        let version = get("SignatureVersion")?;
        let signature = params
            .get("Signature")
            .ok_or_else(|| err(100_000_005, "the signature is missing"))?;
        if !digits(app) || app.parse::<u32>().ok() != Some(self.cfg.app_id) {
            return Err(err(family.unknown_app(), format!("invalid AppId `{app}`")));
        }
        if version != "2.0" {
            return Err(err(
                family.invalid_parameter(),
                format!("SignatureVersion must be 2.0, got `{version}`"),
            ));
        }
        let ts = timestamp
            .parse::<i64>()
            .ok()
            .filter(|_| digits(timestamp))
            .ok_or_else(|| err(100_000_004, format!("invalid Timestamp `{timestamp}`")))?;
        if (ts - now).abs() > self.cfg.max_skew_secs {
            return Err(err(
                100_000_004,
                format!(
                    "signature expired: Timestamp {ts} is more than {} s from the server time {now}",
                    self.cfg.max_skew_secs
                ),
            ));
        }
        let expected = hex::encode(Md5::digest(
            format!("{}{nonce}{}{ts}", self.cfg.app_id, self.cfg.server_secret).as_bytes(),
        ));
        if !constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
            return Err(err(100_000_005, "signature verification failed"));
        }
        Ok(())
    }

    fn check_stream_id(
        &self,
        stream_id: &str,
        is_test: Option<bool>,
        family: Family,
        invalid: i64,
    ) -> Result<(), ApiError> {
        if !is_stream_id(stream_id) {
            return Err(err(
                invalid,
                format!("StreamId `{stream_id}` must be 1 to 256 characters of 0-9 A-Z a-z _ -"),
            ));
        }
        let prefix = format!("zegotest-{}-", self.cfg.app_id);
        if is_test == Some(true) && !stream_id.starts_with(&prefix) {
            return Err(err(
                family.bad_is_test(),
                format!("with IsTest=true, StreamId must start with `{prefix}`"),
            ));
        }
        Ok(())
    }

    fn rtmp_dispatch(&self, params: &Params, is_test: Option<bool>) -> Result<Value, ApiError> {
        let stream_id = params
            .get("StreamId")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| err(1006, "the parameter `StreamId` is missing"))?;
        self.check_stream_id(stream_id, is_test, Family::Dispatch, 30009)?;
        let sequence = params
            .get("Sequence")
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(|| err(1006, "`Sequence` must be an int64"))?;
        let (kind, node) = match params.get("Type").map(String::as_str) {
            Some("push") => ("push", PUSH_NODE),
            Some("pull") => ("pull", PLAY_NODE),
            other => {
                return Err(err(
                    30010,
                    format!("Type must be push or pull, got {other:?}"),
                ));
            }
        };
        let client_ip = match params.get("ClientIP") {
            None => None,
            Some(ip) => Some(
                ip.parse::<Ipv4Addr>()
                    .map_err(|_| err(30011, format!("ClientIP `{ip}` is not an IPv4 address")))?,
            ),
        };
        let url = format!("rtmp://{node}/{}/{stream_id}", self.cfg.app_id);
        lock(&self.state).dispatches.push(Dispatched {
            stream_id: stream_id.clone(),
            kind: kind.to_owned(),
            sequence,
            client_ip,
            is_test,
            urls: vec![url.clone()],
        });
        Ok(json!([url]))
    }

    fn create_player(
        &self,
        body: &Map<String, Value>,
        is_test: Option<bool>,
        now: i64,
    ) -> Result<Value, ApiError> {
        const FIELDS: [&str; 16] = [
            "StreamUrl",
            "StreamUrlList",
            "BackupStreamUrl",
            "RoomId",
            "StreamId",
            "PlayerName",
            "VideoOptions",
            "AudioOptions",
            "PlayTime",
            "RepeatTimes",
            "SeekTo",
            "MaxIdleTime",
            "StreamData",
            "ExtensionParams",
            "RoomUserUpdate",
            "DelayDestroySeconds",
        ];
        let invalid = |m: String| err(350_006_003, m);
        refuse_unknown("CreatePlayer", body, &FIELDS)?;
        let (stream_url, stream_url_list) = match (
            source_url(body, "StreamUrl")?,
            source_list(body, Some(MAX_URL_LIST))?,
        ) {
            (Some(url), None) => (url, None),
            (None, Some(list)) => (list[0].clone(), Some(list)),
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "StreamUrl and StreamUrlList: only one may be given".to_owned(),
                ));
            }
            (None, None) => return Err(invalid("StreamUrl is required".to_owned())),
        };
        let backup_stream_url = source_url(body, "BackupStreamUrl")?;
        let room_id = match body.get("RoomId") {
            Some(Value::String(s)) if !s.is_empty() && s.len() <= 128 => s.clone(),
            _ => {
                return Err(invalid(
                    "RoomId must be a string of 1 to 128 bytes".to_owned(),
                ));
            }
        };
        let stream_id = match body.get("StreamId") {
            None => None,
            Some(Value::String(s)) => {
                self.check_stream_id(s, is_test, Family::CloudPlayer, 350_006_003)?;
                Some(s.clone())
            }
            Some(_) => return Err(invalid("StreamId must be a string".to_owned())),
        };
        let player_name = match body.get("PlayerName") {
            None => None,
            Some(Value::String(s)) if s.len() <= 64 => Some(s.clone()).filter(|s| !s.is_empty()),
            Some(_) => {
                return Err(invalid(
                    "PlayerName must be a string of at most 64 bytes".to_owned(),
                ));
            }
        };
        let max_idle_time = match body.get("MaxIdleTime") {
            None => 300,
            Some(v) => integer(v, "MaxIdleTime")?.clamp(5, 3000),
        };
        let play_time = match body.get("PlayTime") {
            None => 0,
            Some(v) => match integer(v, "PlayTime")? {
                0 => 0,
                t if (now - 86_400..=now + 1_800).contains(&t) => t,
                t => {
                    return Err(invalid(format!(
                        "PlayTime {t} must be 0 or within [CreateTime - 86400, CreateTime + 1800]"
                    )));
                }
            },
        };
        let repeat_times = match body.get("RepeatTimes") {
            None => 1,
            Some(v) => match integer(v, "RepeatTimes")? {
                n if n == -1 || n > 0 => n,
                n => {
                    return Err(invalid(format!(
                        "RepeatTimes {n} must be -1 or greater than 0"
                    )));
                }
            },
        };
        let seek_to = seek_to(body)?;
        let room_user_update = match body.get("RoomUserUpdate") {
            None => 0,
            Some(v) => match v.as_i64() {
                Some(n @ (0 | 1)) => n,
                _ => {
                    return Err(invalid(format!(
                        "RoomUserUpdate must be the number 0 or 1, got {v}"
                    )));
                }
            },
        };
        let delay_destroy_seconds = match body.get("DelayDestroySeconds") {
            None => 0,
            Some(v) => match integer(v, "DelayDestroySeconds")? {
                n @ 0..=3600 => n,
                n => {
                    return Err(invalid(format!(
                        "DelayDestroySeconds {n} must be within [0, 3600]"
                    )));
                }
            },
        };
        if body.get("StreamData").is_some_and(|v| !v.is_object()) {
            return Err(invalid("StreamData must be an object".to_owned()));
        }
        if body.get("ExtensionParams").is_some_and(|v| !v.is_array()) {
            return Err(invalid("ExtensionParams must be an array".to_owned()));
        }
        let video_options = media_object(body, "VideoOptions", CREATE_VIDEO)?;
        let audio_options = media_object(body, "AudioOptions", CREATE_AUDIO)?;
        let mut state = lock(&self.state);
        if state.players.iter().filter(|p| p.alive()).count() >= MAX_RUNNING_PLAYERS {
            return Err(err(
                350_006_007,
                format!("cloud player concurrency limit reached ({MAX_RUNNING_PLAYERS})"),
            ));
        }
        if let Some(name) = &player_name
            && state
                .players
                .iter()
                .any(|p| p.alive() && p.player_name.as_ref() == Some(name))
        {
            return Err(err(
                350_006_008,
                format!("a running cloud player is already named `{name}`"),
            ));
        }
        if let Some(id) = &stream_id
            && state
                .players
                .iter()
                .any(|p| p.alive() && &p.stream_id == id)
        {
            return Err(invalid(format!("StreamId `{id}` is in use")));
        }
        let player_id = format!("cp{}", hex::encode(&self.entropy(b"player")[..8]));
        let stream_id = stream_id.unwrap_or_else(|| format!("cloud_player_{player_id}"));
        state.players.push(SimPlayer {
            player_id: player_id.clone(),
            room_id: room_id.clone(),
            stream_id: stream_id.clone(),
            stream_url,
            stream_url_list,
            player_name,
            backup_stream_url,
            video_options,
            audio_options,
            max_idle_time,
            play_time,
            repeat_times,
            seek_to,
            room_user_update,
            delay_destroy_seconds,
            sequence: None,
            status: self.cfg.initial_player_status,
            create_time: now,
            destroy_reason: None,
            create_body: Value::Object(body.clone()),
            update_bodies: Vec::new(),
            update_ignored: Vec::new(),
        });
        Ok(
            json!({"PlayerId": player_id, "RoomId": room_id, "StreamId": stream_id, "CreateTime": now}),
        )
    }

    fn player_id(body: &Map<String, Value>) -> Result<&str, ApiError> {
        match body.get("PlayerId") {
            Some(Value::String(s)) if !s.is_empty() => Ok(s),
            _ => Err(err(350_006_003, "PlayerId is required")),
        }
    }

    fn delete_player(&self, body: &Map<String, Value>) -> Result<Value, ApiError> {
        let id = Self::player_id(body)?;
        let mut state = lock(&self.state);
        let player = state
            .players
            .iter_mut()
            .find(|p| p.player_id == id)
            .ok_or_else(|| err(350_006_003, format!("player `{id}` does not exist")))?;
        match player.status {
            8 => Err(err(
                350_006_003,
                format!("player `{id}` is already destroyed"),
            )),
            1 => Err(err(350_006_009, format!("player `{id}` is being created"))),
            _ => {
                player.status = 8;
                player.destroy_reason = Some(1);
                Ok(Value::Null)
            }
        }
    }

    /// `UpdatePlayer`, as `update-player.yaml` publishes it: `PlayerId` and an increasing
    /// `Sequence` are required; with `StreamUrl` or `StreamUrlList`, only the source is
    /// applied and the other fields are recorded as ignored. Only a running player (Status
    /// 1..=5) can be updated.
    fn update_player(&self, body: &Map<String, Value>) -> Result<Value, ApiError> {
        const FIELDS: [&str; 10] = [
            "PlayerId",
            "Sequence",
            "StreamUrl",
            "StreamUrlList",
            "BackupStreamUrl",
            "VideoOptions",
            "AudioOptions",
            "SeekTo",
            "IsPause",
            "RepeatTimes",
        ];
        let invalid = |m: String| err(350_006_003, m);
        let id = Self::player_id(body)?;
        let sequence = match body.get("Sequence") {
            None => return Err(invalid("Sequence is required".to_owned())),
            Some(v) => integer(v, "Sequence")?,
        };
        refuse_unknown("UpdatePlayer", body, &FIELDS)?;
        if body.len() < 3 {
            return Err(invalid("UpdatePlayer names nothing to change".to_owned()));
        }
        let stream_url = source_url(body, "StreamUrl")?;
        // UpdatePlayer publishes no count or length limit for its list.
        let stream_url_list = source_list(body, None)?;
        if stream_url.is_some() && stream_url_list.is_some() {
            return Err(invalid(
                "StreamUrl and StreamUrlList: only one may be given".to_owned(),
            ));
        }
        let backup_stream_url = source_url(body, "BackupStreamUrl")?;
        let video_options = media_object(body, "VideoOptions", UPDATE_VIDEO)?;
        let audio_options = media_object(body, "AudioOptions", UPDATE_AUDIO)?;
        let seek_to = seek_to(body)?;
        let is_pause = match body.get("IsPause") {
            None => None,
            Some(v) => match v.as_i64() {
                Some(n @ (0 | 1)) => Some(n),
                _ => {
                    return Err(invalid(format!(
                        "IsPause must be the number 0 or 1, got {v}"
                    )));
                }
            },
        };
        let repeat_times = match body.get("RepeatTimes") {
            None => None,
            Some(v) => match integer(v, "RepeatTimes")? {
                n if n >= -1 => Some(n),
                n => return Err(invalid(format!("RepeatTimes {n} must be -1, 0 or greater"))),
            },
        };
        let mut state = lock(&self.state);
        let player = state
            .players
            .iter_mut()
            .find(|p| p.player_id == id && p.running())
            .ok_or_else(|| invalid(format!("no running player `{id}`")))?;
        match (&stream_url, &stream_url_list, &player.stream_url_list) {
            (Some(_), _, Some(_)) => {
                return Err(invalid(format!(
                    "player `{id}` is a list player: it takes StreamUrlList, not StreamUrl"
                )));
            }
            (_, Some(_), None) => {
                return Err(invalid(format!(
                    "player `{id}` is a single player: it takes StreamUrl, not StreamUrlList"
                )));
            }
            _ => {}
        }
        if let Some(last) = player.sequence
            && sequence <= last
        {
            return Err(invalid(format!(
                "Sequence {sequence} must be greater than the last one applied ({last})"
            )));
        }
        player.sequence = Some(sequence);
        player.update_bodies.push(Value::Object(body.clone()));
        if stream_url.is_some() || stream_url_list.is_some() {
            // "If StreamUrl or StreamUrlList is filled in here, other parameters will be
            // ignored."
            let ignored = body
                .keys()
                .filter(|k| {
                    !matches!(
                        k.as_str(),
                        "PlayerId" | "Sequence" | "StreamUrl" | "StreamUrlList"
                    )
                })
                .cloned()
                .collect();
            player.update_ignored.push(ignored);
            if let Some(url) = stream_url {
                player.stream_url = url;
            }
            if let Some(list) = stream_url_list {
                player.stream_url = list[0].clone();
                player.stream_url_list = Some(list);
            }
            return Ok(Value::Null);
        }
        player.update_ignored.push(Vec::new());
        if backup_stream_url.is_some() {
            player.backup_stream_url = backup_stream_url;
        }
        for (slot, given) in [
            (&mut player.video_options, video_options),
            (&mut player.audio_options, audio_options),
        ] {
            if let Some(Value::Object(given)) = given {
                let mut merged = match slot.take() {
                    Some(Value::Object(current)) => current,
                    _ => Map::new(),
                };
                merged.extend(given);
                *slot = Some(Value::Object(merged));
            }
        }
        if seek_to.is_some() {
            player.seek_to = seek_to;
        }
        match is_pause {
            Some(1) => player.status = 5,
            Some(_) if player.status == 5 => player.status = 4,
            _ => {}
        }
        if let Some(n) = repeat_times.filter(|n| *n != 0) {
            player.repeat_times = n;
        }
        Ok(Value::Null)
    }

    /// `DescribePlayers`: `PageSize` 1..=50 (default 50), `PageToken`, and the `PlayerId`,
    /// `RoomId` and `Status` filters (`PlayerId` wins over `RoomId`).
    fn describe_players(&self, body: &Map<String, Value>) -> Result<Value, ApiError> {
        let size = match body.get("PageSize") {
            None => 50,
            Some(v) => match v.as_u64() {
                Some(n) if (1..=50).contains(&n) => usize::try_from(n).unwrap_or(50),
                _ => return Err(err(350_006_003, "PageSize must be an integer from 1 to 50")),
            },
        };
        let offset = match body.get("PageToken") {
            None => 0,
            Some(Value::String(t)) if t.is_empty() => 0,
            Some(Value::String(t)) => t
                .parse::<usize>()
                .map_err(|_| err(350_006_003, format!("invalid PageToken `{t}`")))?,
            Some(_) => return Err(err(350_006_003, "PageToken must be a string")),
        };
        let filter = |key: &str| match body.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(err(350_006_003, format!("{key} must be a string"))),
        };
        let (mut room, player) = (filter("RoomId")?, filter("PlayerId")?);
        if player.is_some() {
            room = None;
        }
        let status = match body.get("Status") {
            None => None,
            Some(v) => match v.as_u64() {
                Some(n @ 1..=8) => Some(n),
                _ => return Err(err(350_006_003, "Status must be a number from 1 to 8")),
            },
        };
        let state = lock(&self.state);
        let matching: Vec<&SimPlayer> = state
            .players
            .iter()
            .filter(|p| room.as_ref().is_none_or(|r| &p.room_id == r))
            .filter(|p| player.as_ref().is_none_or(|id| &p.player_id == id))
            .filter(|p| status.is_none_or(|s| u64::from(p.status) == s))
            .collect();
        let page: Vec<Value> = matching
            .iter()
            .skip(offset)
            .take(size)
            .map(|p| {
                let mut entry = json!({
                    "PlayerId": p.player_id,
                    "RoomId": p.room_id,
                    "StreamId": p.stream_id,
                    "CreateTime": p.create_time,
                    "PlayTime": if p.play_time == 0 { p.create_time } else { p.play_time },
                    "PlayerName": p.player_name.clone().unwrap_or_default(),
                    "StreamUrl": p.stream_url,
                    "StreamUrlList": p.stream_url_list.clone().unwrap_or_default(),
                    "PlayIndex": 0,
                    "Status": p.status,
                });
                if let Some(reason) = p.destroy_reason {
                    entry["DestroyReason"] = json!(reason);
                }
                entry
            })
            .collect();
        let next = offset + page.len();
        let next_token = if next < matching.len() {
            next.to_string()
        } else {
            String::new()
        };
        Ok(json!({"TotalSize": matching.len(), "NextPageToken": next_token, "Players": page}))
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

    /// A request id: 16 lowercase hex characters.
    fn request_id(&self) -> String {
        hex::encode(&self.entropy(b"request")[..8])
    }
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_stream_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 256
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Refuses a field `action` does not define.
fn refuse_unknown(
    action: &str,
    body: &Map<String, Value>,
    fields: &[&str],
) -> Result<(), ApiError> {
    match body.keys().find(|k| !fields.contains(&k.as_str())) {
        Some(other) => Err(err(
            350_006_003,
            format!("{action} does not take `{other}`"),
        )),
        None => Ok(()),
    }
}

/// A number that is an integer (ZEGO's `number` fields the simulator reads as integers).
fn integer(v: &Value, key: &str) -> Result<i64, ApiError> {
    v.as_i64()
        .ok_or_else(|| err(350_006_003, format!("{key} must be an integer, got {v}")))
}

/// `SeekTo`: a number of seconds, 0 or more.
fn seek_to(body: &Map<String, Value>) -> Result<Option<f64>, ApiError> {
    match body.get("SeekTo") {
        None => Ok(None),
        Some(v) => match v.as_f64() {
            Some(n) if n >= 0.0 => Ok(Some(n)),
            _ => Err(err(
                350_006_003,
                format!("SeekTo must be a number of seconds, got {v}"),
            )),
        },
    }
}

/// Whether `url` is a source ZEGO's cloud player takes: an HTTP/HTTPS URL of at most
/// [`MAX_URL`] bytes.
fn is_source(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    url.len() <= MAX_URL
        && ["http://", "https://"]
            .iter()
            .any(|p| lower.starts_with(p) && url.len() > p.len())
}

/// An optional source URL field: an HTTP/HTTPS URL of at most 1024 bytes.
fn source_url(body: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::String(s)) if is_source(s) => Ok(Some(s.clone())),
        Some(_) => Err(err(
            350_006_003,
            format!("{key} must be a valid HTTP/HTTPS address within {MAX_URL} bytes"),
        )),
    }
}

/// An optional `StreamUrlList`: a non-empty array of non-empty strings (the simulator's
/// choice; ZEGO publishes no rule for an entry), within `limits` (most entries, most bytes in
/// all) when given: `CreatePlayer`'s published 100 and 50000; `UpdatePlayer` publishes none.
fn source_list(
    body: &Map<String, Value>,
    limits: Option<(usize, usize)>,
) -> Result<Option<Vec<String>>, ApiError> {
    let Some(value) = body.get("StreamUrlList") else {
        return Ok(None);
    };
    let list: Option<Vec<String>> = value.as_array().and_then(|items| {
        items
            .iter()
            .map(|v| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned))
            .collect()
    });
    let Some(list) = list.filter(|l| !l.is_empty()) else {
        return Err(err(
            350_006_003,
            "StreamUrlList must be a non-empty array of addresses",
        ));
    };
    if let Some((most, most_bytes)) = limits
        && (list.len() > most || list.iter().map(String::len).sum::<usize>() > most_bytes)
    {
        return Err(err(
            350_006_003,
            format!("StreamUrlList supports up to {most} addresses, {most_bytes} bytes in all"),
        ));
    }
    Ok(Some(list))
}

/// `VideoOptions` / `AudioOptions`: an object of the published numeric sub-fields `table`,
/// each within its range.
fn media_object(
    body: &Map<String, Value>,
    key: &str,
    table: &[(&str, Allowed)],
) -> Result<Option<Value>, ApiError> {
    let Some(value) = body.get(key) else {
        return Ok(None);
    };
    let Some(map) = value.as_object() else {
        return Err(err(350_006_003, format!("{key} must be an object")));
    };
    for (name, v) in map {
        let Some((_, allowed)) = table.iter().find(|(n, _)| n == name) else {
            return Err(err(350_006_003, format!("{key} does not take `{name}`")));
        };
        let ok = v.as_i64().is_some_and(|n| match allowed {
            Ok((min, max)) => (*min..=*max).contains(&n),
            Err(set) => set.contains(&n),
        });
        if !ok {
            return Err(err(
                350_006_003,
                format!("{key}.{name} is out of range: {v}"),
            ));
        }
    }
    Ok(Some(value.clone()))
}

/// The cloud player's JSON object body.
fn json_body(req: &Recorded) -> Result<Map<String, Value>, ApiError> {
    if req.method != "POST" {
        return Err(err(
            350_006_003,
            "cloud player actions are POSTs with a JSON body",
        ));
    }
    let json = req
        .header("content-type")
        .is_some_and(|t| t.to_ascii_lowercase().starts_with("application/json"));
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(Value::Object(map)) if json => Ok(map),
        _ => Err(err(
            350_006_003,
            "the body must be a JSON object sent as application/json",
        )),
    }
}

/// The query's parameters, percent-decoded (`+` is a space); a repeated name is refused.
fn parse_query(query: &str) -> Result<Params, String> {
    let mut params = Params::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (Some(name), Some(value)) = (url_decode(name), url_decode(value)) else {
            return Err(format!("`{pair}` is not valid percent-encoded UTF-8"));
        };
        if params.insert(name.clone(), value).is_some() {
            return Err(format!("the parameter `{name}` is given more than once"));
        }
    }
    Ok(params)
}

fn url_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                out.push(u8::from_str_radix(s.get(i + 1..i + 3)?, 16).ok()?);
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

/// URL-encoding of callback values: unreserved characters stay, the rest is `%XY`.
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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

    struct Signer {
        app_id: u32,
        secret: String,
        ts: i64,
        nonce: String,
        is_test: Option<&'static str>,
    }

    impl Signer {
        fn new(sim: &ZegoSim, nonce: &str) -> Self {
            Self {
                app_id: sim.config().app_id,
                secret: sim.config().server_secret.clone(),
                ts: unix_now(),
                nonce: nonce.to_owned(),
                is_test: None,
            }
        }

        fn query(&self, action: &str, own: &str) -> String {
            let mut md5 = Md5::new();
            md5.update(self.app_id.to_string());
            md5.update(&self.nonce);
            md5.update(&self.secret);
            md5.update(self.ts.to_string());
            let sig = hex::encode(md5.finalize());
            let mut q = format!(
                "Action={action}{own}&AppId={}&SignatureNonce={}&Timestamp={}&SignatureVersion=2.0&Signature={sig}",
                self.app_id, self.nonce, self.ts
            );
            if let Some(t) = self.is_test {
                q.push_str(&format!("&IsTest={t}"));
            }
            q
        }
    }

    async fn sim() -> ZegoSim {
        ZegoSim::start(ZegoSimConfig::for_tests())
            .await
            .expect("start simulator")
    }

    async fn get(sim: &ZegoSim, query: &str) -> Value {
        let answer = send(sim.addr(), "GET", &format!("/?{query}"), &[], Vec::new())
            .await
            .expect("transport");
        assert_eq!(answer.status, 200, "ZEGO answers errors with HTTP 200 too");
        answer.body_json().expect("JSON")
    }

    async fn post(sim: &ZegoSim, s: &Signer, action: &str, body: &Value) -> Value {
        let answer = send(
            sim.addr(),
            "POST",
            &format!("/?{}", s.query(action, "")),
            &[("content-type", "application/json")],
            body.to_string().into_bytes(),
        )
        .await
        .expect("transport");
        answer.body_json().expect("JSON")
    }

    fn code(v: &Value) -> i64 {
        v["Code"].as_i64().unwrap_or(-1)
    }

    #[tokio::test]
    async fn dispatches_push_and_pull_nodes() {
        let sim = sim().await;
        let s = Signer::new(&sim, "0123456789abcdef");
        let answer = get(
            &sim,
            &s.query(
                "RTMPDispatchV2",
                "&StreamId=cam_1&Sequence=1700000000123&Type=push&ClientIP=198.51.100.7",
            ),
        )
        .await;
        assert_eq!(code(&answer), 0, "{answer}");
        assert_eq!(answer["Message"], "ok");
        assert_eq!(answer["RequestId"].as_str().map(str::len), Some(16));
        assert_eq!(
            answer["Data"],
            json!(["rtmp://203.0.113.10:1935/1000000001/cam_1"])
        );
        let answer = get(
            &sim,
            &Signer::new(&sim, "n2")
                .query("RTMPDispatchV2", "&StreamId=cam_1&Sequence=1&Type=pull"),
        )
        .await;
        assert_eq!(
            answer["Data"][0],
            "rtmp://203.0.113.20:1935/1000000001/cam_1"
        );
        let d = sim.dispatches();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].kind, "push");
        assert_eq!(d[0].sequence, 1_700_000_000_123);
        assert_eq!(d[0].client_ip, Some(Ipv4Addr::new(198, 51, 100, 7)));
        assert_eq!(d[1].client_ip, None);
    }

    #[tokio::test]
    async fn rejects_bad_signatures_apps_and_clocks() {
        let sim = sim().await;
        let own = "&StreamId=s&Sequence=1&Type=push";
        let mut s = Signer::new(&sim, "n");
        s.secret = "wrong".into();
        assert_eq!(
            code(&get(&sim, &s.query("RTMPDispatchV2", own)).await),
            100_000_005
        );
        let mut s = Signer::new(&sim, "n");
        s.app_id = 42;
        assert_eq!(
            code(&get(&sim, &s.query("RTMPDispatchV2", own)).await),
            30005
        );
        assert_eq!(
            code(&post(&sim, &s, "DescribePlayers", &json!({"PageSize": 1})).await),
            350_006_002
        );
        for offset in [-700, 700] {
            let mut s = Signer::new(&sim, "n");
            s.ts += offset;
            assert_eq!(
                code(&get(&sim, &s.query("RTMPDispatchV2", own)).await),
                100_000_004,
                "{offset}"
            );
        }
        let mut s = Signer::new(&sim, "n");
        s.ts -= 500;
        assert_eq!(code(&get(&sim, &s.query("RTMPDispatchV2", own)).await), 0);
        // A parameter changed after signing: the nonce is signed, the rest is not.
        let s = Signer::new(&sim, "n");
        let q = s
            .query("RTMPDispatchV2", own)
            .replace("SignatureNonce=n", "SignatureNonce=m");
        assert_eq!(code(&get(&sim, &q).await), 100_000_005);
        let q = s
            .query("RTMPDispatchV2", own)
            .replace("SignatureVersion=2.0", "SignatureVersion=1.0");
        assert_eq!(code(&get(&sim, &q).await), 1006);
        let q = s.query("RTMPDispatchV2", own);
        let unsigned = q.split("&Signature=").next().expect("prefix");
        assert_eq!(code(&get(&sim, unsigned).await), 100_000_005);
        assert_eq!(sim.dispatches().len(), 1);
    }

    #[tokio::test]
    async fn validates_dispatch_parameters() {
        let sim = sim().await;
        let long = format!("&StreamId={}&Sequence=1&Type=push", "a".repeat(257));
        let cases: Vec<(String, i64)> = vec![
            ("&Sequence=1&Type=push".into(), 1006),
            ("&StreamId=a.b&Sequence=1&Type=push".into(), 30009),
            (long, 30009),
            ("&StreamId=s&Type=push".into(), 1006),
            ("&StreamId=s&Sequence=x&Type=push".into(), 1006),
            ("&StreamId=s&Sequence=1&Type=both".into(), 30010),
            ("&StreamId=s&Sequence=1".into(), 30010),
            (
                "&StreamId=s&Sequence=1&Type=push&ClientIP=2001:db8::1".into(),
                30011,
            ),
            (
                "&StreamId=s&Sequence=1&Type=push&ClientIP=1.2.3".into(),
                30011,
            ),
        ];
        for (own, want) in cases {
            let answer = get(&sim, &Signer::new(&sim, "n").query("RTMPDispatchV2", &own)).await;
            assert_eq!(code(&answer), want, "{own}: {answer}");
        }
        // The test environment.
        let mut s = Signer::new(&sim, "n");
        s.is_test = Some("true");
        let answer = get(
            &sim,
            &s.query("RTMPDispatchV2", "&StreamId=s&Sequence=1&Type=push"),
        )
        .await;
        assert_eq!(code(&answer), 30004);
        let answer = get(
            &sim,
            &s.query(
                "RTMPDispatchV2",
                "&StreamId=zegotest-1000000001-s&Sequence=1&Type=push",
            ),
        )
        .await;
        assert_eq!(code(&answer), 0, "{answer}");
        assert_eq!(sim.dispatches()[0].is_test, Some(true));
        s.is_test = Some("maybe");
        let answer = get(
            &sim,
            &s.query("RTMPDispatchV2", "&StreamId=s&Sequence=1&Type=push"),
        )
        .await;
        assert_eq!(code(&answer), 30004);
        assert_eq!(code(&get(&sim, "Action=Nope").await), 1006);
        assert_eq!(code(&get(&sim, "").await), 1006);
        assert_eq!(code(&get(&sim, "Action=%zz").await), 1006);
    }

    /// Creates a player from `body` and returns its PlayerId.
    async fn create(sim: &ZegoSim, s: &Signer, body: Value) -> String {
        let answer = post(sim, s, "CreatePlayer", &body).await;
        assert_eq!(code(&answer), 0, "{body}: {answer}");
        answer["Data"]["PlayerId"]
            .as_str()
            .expect("PlayerId")
            .to_owned()
    }

    #[tokio::test]
    async fn cloud_player_lifecycle() {
        let sim = sim().await;
        let s = Signer::new(&sim, "c1");
        let answer = post(
            &sim,
            &s,
            "CreatePlayer",
            &json!({"RoomId": "room-1", "StreamUrl": "https://media.example/a.m3u8", "PlayerName": "bgm"}),
        )
        .await;
        assert_eq!(code(&answer), 0, "{answer}");
        let id = answer["Data"]["PlayerId"]
            .as_str()
            .expect("PlayerId")
            .to_owned();
        assert_eq!(answer["Data"]["RoomId"], "room-1");
        assert!(answer["Data"]["CreateTime"].is_i64(), "{answer}");
        let p = sim.player(&id).expect("player");
        assert_eq!((p.status, p.room_id.as_str()), (1, "room-1"));
        assert!(p.stream_id.starts_with("cloud_player_"));
        assert_eq!(answer["Data"]["StreamId"], p.stream_id.as_str());
        assert_eq!(
            (p.max_idle_time, p.repeat_times, p.room_user_update),
            (300, 1, 0)
        );

        // PageSize is optional (50).
        let describe = json!({"PlayerId": id});
        let answer = post(&sim, &s, "DescribePlayers", &describe).await;
        assert_eq!(answer["Data"]["TotalSize"], 1, "{answer}");
        assert_eq!(answer["Data"]["Players"][0]["Status"], 1);
        assert_eq!(answer["Data"]["Players"][0]["PlayerName"], "bgm");
        assert!(answer["Data"]["Players"][0].get("DestroyReason").is_none());

        // Deleting a player that is still being created: 350006009.
        let answer = post(&sim, &s, "DeletePlayer", &json!({"PlayerId": id})).await;
        assert_eq!(code(&answer), 350_006_009, "{answer}");

        assert!(sim.set_player_status(&id, 4));
        let answer = post(
            &sim,
            &s,
            "UpdatePlayer",
            &json!({"PlayerId": id, "Sequence": 1, "StreamUrl": "https://b/c.flv"}),
        )
        .await;
        assert_eq!(code(&answer), 0, "{answer}");
        assert_eq!(
            sim.player(&id).expect("player").stream_url,
            "https://b/c.flv"
        );
        let answer = post(
            &sim,
            &s,
            "UpdatePlayer",
            &json!({"PlayerId": id, "Sequence": 2, "BackupStreamUrl": "https://b/d.flv", "VideoOptions": {"Width": 640}}),
        )
        .await;
        assert_eq!(code(&answer), 0, "{answer}");
        let p = sim.player(&id).expect("player");
        assert_eq!(p.stream_url, "https://b/c.flv", "kept");
        assert_eq!(p.backup_stream_url.as_deref(), Some("https://b/d.flv"));
        assert_eq!(p.video_options, Some(json!({"Width": 640})));
        assert_eq!(p.audio_options, None);
        assert_eq!(p.sequence, Some(2));
        assert_eq!(p.update_bodies.len(), 2);
        assert_eq!(p.update_bodies[1]["BackupStreamUrl"], "https://b/d.flv");
        assert_eq!(p.update_ignored, vec![Vec::<String>::new(), Vec::new()]);
        // Sub-fields not given keep their value.
        let answer = post(
            &sim,
            &s,
            "UpdatePlayer",
            &json!({"PlayerId": id, "Sequence": 3, "VideoOptions": {"VideoBitrate": 900}}),
        )
        .await;
        assert_eq!(code(&answer), 0, "{answer}");
        assert_eq!(
            sim.player(&id).expect("player").video_options,
            Some(json!({"Width": 640, "VideoBitrate": 900}))
        );
        let answer = post(&sim, &s, "DescribePlayers", &describe).await;
        assert_eq!(answer["Data"]["Players"][0]["StreamUrl"], "https://b/c.flv");
        for body in [
            json!({"PlayerId": id, "Sequence": 9}),
            json!({"PlayerId": id, "Sequence": 9, "StreamId": "x"}),
            json!({"PlayerId": id, "Sequence": 9, "StreamUrl": "srt://x"}),
            json!({"PlayerId": id, "Sequence": 9, "AudioOptions": "loud"}),
            json!({"Sequence": 9, "StreamUrl": "https://b/c"}),
            json!({"PlayerId": "nope", "Sequence": 9, "StreamUrl": "https://b/c"}),
        ] {
            let answer = post(&sim, &s, "UpdatePlayer", &body).await;
            assert_eq!(code(&answer), 350_006_003, "{body}: {answer}");
        }
        assert_eq!(sim.player(&id).expect("player").update_bodies.len(), 3);

        let answer = post(&sim, &s, "DeletePlayer", &json!({"PlayerId": id})).await;
        assert_eq!(code(&answer), 0, "{answer}");
        let answer = post(&sim, &s, "DescribePlayers", &describe).await;
        assert_eq!(answer["Data"]["Players"][0]["Status"], 8);
        assert_eq!(answer["Data"]["Players"][0]["DestroyReason"], 1);
        let answer = post(&sim, &s, "DeletePlayer", &json!({"PlayerId": id})).await;
        assert_eq!(code(&answer), 350_006_003);
        let answer = post(&sim, &s, "DeletePlayer", &json!({"PlayerId": "nope"})).await;
        assert_eq!(code(&answer), 350_006_003);
        let answer = post(
            &sim,
            &s,
            "DescribePlayers",
            &json!({"PlayerId": "nope", "PageSize": 10}),
        )
        .await;
        assert_eq!(answer["Data"]["TotalSize"], 0);
        assert!(!sim.set_player_status("nope", 4));

        // An ended player cannot be updated; a forgotten one is not listed any more.
        let answer = post(
            &sim,
            &s,
            "UpdatePlayer",
            &json!({"PlayerId": id, "Sequence": 10, "StreamUrl": "https://b/e"}),
        )
        .await;
        assert_eq!(code(&answer), 350_006_003, "{answer}");
        assert!(sim.forget_player(&id));
        assert!(!sim.forget_player(&id));
        let answer = post(&sim, &s, "DescribePlayers", &describe).await;
        assert_eq!(answer["Data"]["TotalSize"], 0);
    }

    /// `Sequence` is required and must increase for every update of the same player.
    #[tokio::test]
    async fn updates_need_an_increasing_sequence() {
        let sim = sim().await;
        let s = Signer::new(&sim, "sq");
        let id = create(
            &sim,
            &s,
            json!({"RoomId": "r", "StreamUrl": "https://a/b.mp4"}),
        )
        .await;
        let other = create(
            &sim,
            &s,
            json!({"RoomId": "r", "StreamUrl": "https://a/c.mp4"}),
        )
        .await;
        assert!(sim.set_player_status(&id, 4));
        assert!(sim.set_player_status(&other, 4));
        let update = |sequence: Value| json!({"PlayerId": id, "Sequence": sequence, "SeekTo": 5});
        let answer = post(
            &sim,
            &s,
            "UpdatePlayer",
            &json!({"PlayerId": id, "SeekTo": 5}),
        )
        .await;
        assert_eq!(code(&answer), 350_006_003, "{answer}");
        assert!(
            answer["Message"]
                .as_str()
                .is_some_and(|m| m.contains("Sequence"))
        );
        for bad in [json!("1"), json!(1.5), json!(null)] {
            let answer = post(&sim, &s, "UpdatePlayer", &update(bad.clone())).await;
            assert_eq!(code(&answer), 350_006_003, "{bad}: {answer}");
        }
        assert_eq!(
            code(&post(&sim, &s, "UpdatePlayer", &update(json!(100))).await),
            0
        );
        for stale in [100, 99] {
            let answer = post(&sim, &s, "UpdatePlayer", &update(json!(stale))).await;
            assert_eq!(code(&answer), 350_006_003, "{stale}: {answer}");
            assert!(
                answer["Message"]
                    .as_str()
                    .is_some_and(|m| m.contains("greater than the last one applied (100)")),
                "{answer}"
            );
        }
        assert_eq!(
            code(&post(&sim, &s, "UpdatePlayer", &update(json!(101))).await),
            0
        );
        // Each player has its own sequence.
        let answer = post(
            &sim,
            &s,
            "UpdatePlayer",
            &json!({"PlayerId": other, "Sequence": 1, "SeekTo": 1}),
        )
        .await;
        assert_eq!(code(&answer), 0, "{answer}");
        assert_eq!(sim.player(&id).expect("player").sequence, Some(101));
        assert_eq!(sim.player(&id).expect("player").update_bodies.len(), 2);
    }

    /// "If `StreamUrl` or `StreamUrlList` is filled in here, other parameters will be
    /// ignored": the simulator applies the source alone and records what it ignored.
    #[tokio::test]
    async fn a_source_in_an_update_makes_zego_ignore_the_rest() {
        let sim = sim().await;
        let s = Signer::new(&sim, "ig");
        let id = create(
            &sim,
            &s,
            json!({"RoomId": "r", "StreamUrl": "https://a/b.mp4"}),
        )
        .await;
        assert!(sim.set_player_status(&id, 4));
        let answer = post(
            &sim,
            &s,
            "UpdatePlayer",
            &json!({"PlayerId": id, "Sequence": 1, "StreamUrl": "https://a/next.mp4",
                    "IsPause": 1, "SeekTo": 30, "VideoOptions": {"Width": 640},
                    "BackupStreamUrl": "https://a/backup.mp4"}),
        )
        .await;
        assert_eq!(code(&answer), 0, "{answer}");
        let p = sim.player(&id).expect("player");
        assert_eq!(p.stream_url, "https://a/next.mp4");
        assert_eq!((p.status, p.seek_to, &p.video_options), (4, None, &None));
        assert_eq!(p.backup_stream_url, None);
        assert_eq!(
            p.update_ignored,
            vec![vec!["BackupStreamUrl", "IsPause", "SeekTo", "VideoOptions"]]
        );

        // Without a source: pause, seek, repeat are applied; RepeatTimes 0 keeps.
        let answer = post(
            &sim,
            &s,
            "UpdatePlayer",
            &json!({"PlayerId": id, "Sequence": 2, "IsPause": 1, "SeekTo": 30, "RepeatTimes": -1}),
        )
        .await;
        assert_eq!(code(&answer), 0, "{answer}");
        let p = sim.player(&id).expect("player");
        assert_eq!((p.status, p.seek_to, p.repeat_times), (5, Some(30.0), -1));
        let answer = post(
            &sim,
            &s,
            "UpdatePlayer",
            &json!({"PlayerId": id, "Sequence": 3, "IsPause": 0, "RepeatTimes": 0}),
        )
        .await;
        assert_eq!(code(&answer), 0, "{answer}");
        let p = sim.player(&id).expect("player");
        assert_eq!((p.status, p.repeat_times), (4, -1));
        for body in [
            json!({"PlayerId": id, "Sequence": 9, "IsPause": 2}),
            json!({"PlayerId": id, "Sequence": 9, "IsPause": true}),
            json!({"PlayerId": id, "Sequence": 9, "SeekTo": -1}),
            json!({"PlayerId": id, "Sequence": 9, "RepeatTimes": -2}),
            json!({"PlayerId": id, "Sequence": 9, "VideoOptions": {"Fps": 15}}),
            json!({"PlayerId": id, "Sequence": 9, "AudioOptions": {"Volume": 201}}),
            json!({"PlayerId": id, "Sequence": 9, "StreamUrl": "rtmp://a/b"}),
            json!({"PlayerId": id, "Sequence": 9, "StreamUrlList": ["https://a/1"]}),
        ] {
            let answer = post(&sim, &s, "UpdatePlayer", &body).await;
            assert_eq!(code(&answer), 350_006_003, "{body}: {answer}");
        }
    }

    #[tokio::test]
    async fn list_players() {
        let sim = sim().await;
        let s = Signer::new(&sim, "li");
        let id = create(
            &sim,
            &s,
            json!({"RoomId": "r", "StreamUrlList": ["https://a/1.mp4", "https://a/2.mp4"]}),
        )
        .await;
        assert!(sim.set_player_status(&id, 4));
        let p = sim.player(&id).expect("player");
        assert_eq!(p.stream_url, "https://a/1.mp4");
        assert_eq!(p.stream_url_list.as_ref().map(Vec::len), Some(2));
        let answer = post(
            &sim,
            &s,
            "UpdatePlayer",
            &json!({"PlayerId": id, "Sequence": 1, "StreamUrl": "https://a/3.mp4"}),
        )
        .await;
        assert_eq!(
            code(&answer),
            350_006_003,
            "a list player takes StreamUrlList"
        );
        let answer = post(
            &sim,
            &s,
            "UpdatePlayer",
            &json!({"PlayerId": id, "Sequence": 1, "StreamUrlList": ["https://a/3.mp4"]}),
        )
        .await;
        assert_eq!(code(&answer), 0, "{answer}");
        let answer = post(&sim, &s, "DescribePlayers", &json!({"PlayerId": id})).await;
        assert_eq!(
            answer["Data"]["Players"][0]["StreamUrlList"],
            json!(["https://a/3.mp4"])
        );
        let many: Vec<String> = (0..101).map(|i| format!("https://a/{i}")).collect();
        let heavy: Vec<String> = (0..50)
            .map(|i| format!("https://a/{i}/{}", "x".repeat(1000)))
            .collect();
        for list in [
            json!([]),
            json!(many),
            json!(heavy),
            json!([""]),
            json!(["https://a/1", 2]),
            json!("https://a/1"),
        ] {
            let body = json!({"RoomId": "r", "StreamUrlList": list});
            assert_eq!(
                code(&post(&sim, &s, "CreatePlayer", &body).await),
                350_006_003,
                "{body}"
            );
        }
        // ZEGO publishes no rule for an entry: any scheme, any length (within the total).
        let long_entry = format!("https://a/{}", "b".repeat(2 * MAX_URL));
        let other = create(
            &sim,
            &s,
            json!({"RoomId": "r", "StreamUrlList": ["rtmp://a/b", long_entry]}),
        )
        .await;
        assert!(sim.set_player_status(&other, 4));
        // Nor any count or total for UpdatePlayer's list.
        for (sequence, list) in [(1, json!(many)), (2, json!(heavy))] {
            let answer = post(
                &sim,
                &s,
                "UpdatePlayer",
                &json!({"PlayerId": other, "Sequence": sequence, "StreamUrlList": list}),
            )
            .await;
            assert_eq!(code(&answer), 0, "{answer}");
        }
        assert_eq!(
            sim.player(&other)
                .expect("player")
                .stream_url_list
                .map(|l| l.len()),
            Some(50)
        );
        for list in [json!([]), json!([""]), json!("https://a/1")] {
            let answer = post(
                &sim,
                &s,
                "UpdatePlayer",
                &json!({"PlayerId": other, "Sequence": 9, "StreamUrlList": list}),
            )
            .await;
            assert_eq!(code(&answer), 350_006_003, "{list}: {answer}");
        }
        let body =
            json!({"RoomId": "r", "StreamUrl": "https://a/1", "StreamUrlList": ["https://a/2"]});
        assert_eq!(
            code(&post(&sim, &s, "CreatePlayer", &body).await),
            350_006_003
        );
    }

    #[tokio::test]
    async fn validates_cloud_player_requests_and_limits_running_players() {
        let sim = sim().await;
        let s = Signer::new(&sim, "v");
        let url = "https://a/b.mp4";
        let long_url = format!("https://a/{}", "b".repeat(MAX_URL));
        for body in [
            json!({"RoomId": "r"}),
            json!({"RoomId": "r", "StreamUrl": "ftp://x"}),
            json!({"RoomId": "r", "StreamUrl": "rtmp://a/b"}),
            json!({"RoomId": "r", "StreamUrl": "rtmps://a/b"}),
            json!({"RoomId": "r", "StreamUrl": long_url}),
            json!({"RoomId": "r", "StreamUrl": url, "BackupStreamUrl": "rtmp://a/c"}),
            json!({"StreamUrl": url}),
            json!({"RoomId": "", "StreamUrl": url}),
            json!({"RoomId": "r".repeat(129), "StreamUrl": url}),
            json!({"RoomId": "r", "StreamUrl": url, "StreamId": "a b"}),
            json!({"RoomId": "r", "StreamUrl": url, "PlayerName": "n".repeat(65)}),
            json!({"RoomId": "r", "StreamUrl": url, "MaxIdleTime": "30"}),
            json!({"RoomId": "r", "StreamUrl": url, "PlayTime": 1}),
            json!({"RoomId": "r", "StreamUrl": url, "RepeatTimes": 0}),
            json!({"RoomId": "r", "StreamUrl": url, "SeekTo": -1}),
            json!({"RoomId": "r", "StreamUrl": url, "RoomUserUpdate": true}),
            json!({"RoomId": "r", "StreamUrl": url, "RoomUserUpdate": 2}),
            json!({"RoomId": "r", "StreamUrl": url, "DelayDestroySeconds": 3601}),
            json!({"RoomId": "r", "StreamUrl": url, "VideoOptions": 1}),
            json!({"RoomId": "r", "StreamUrl": url, "VideoOptions": {"Fps": 31}}),
            json!({"RoomId": "r", "StreamUrl": url, "AudioOptions": {"AudioCodec": 2}}),
            json!({"RoomId": "r", "StreamUrl": url, "Sequence": 1}),
        ] {
            assert_eq!(
                code(&post(&sim, &s, "CreatePlayer", &body).await),
                350_006_003,
                "{body}"
            );
        }
        // MaxIdleTime outside 5..=3000 is moved into it, as ZEGO documents.
        for (given, applied) in [(1, 5), (30, 30), (9000, 3000)] {
            let id = create(
                &sim,
                &s,
                json!({"RoomId": "r", "StreamUrl": url, "MaxIdleTime": given}),
            )
            .await;
            assert_eq!(sim.player(&id).expect("player").max_idle_time, applied);
        }
        let now = unix_now();
        let id = create(
            &sim,
            &s,
            json!({"RoomId": "r", "StreamUrl": url, "PlayTime": now + 600, "RoomUserUpdate": 1,
                   "RepeatTimes": -1, "SeekTo": 12.5, "DelayDestroySeconds": 60,
                   "VideoOptions": {"Width": 640, "Fps": 30, "VideoCodec": 3},
                   "AudioOptions": {"AudioCodec": 6, "SoundChannel": 2}}),
        )
        .await;
        let p = sim.player(&id).expect("player");
        assert_eq!(
            (
                p.play_time,
                p.room_user_update,
                p.repeat_times,
                p.seek_to,
                p.delay_destroy_seconds
            ),
            (now + 600, 1, -1, Some(12.5), 60)
        );
        for body in [
            json!({}),
            json!({"PageSize": 0}),
            json!({"PageSize": 51}),
            json!({"PageSize": 1, "PageToken": "x"}),
            json!({"Status": 9}),
        ] {
            let want = if body.as_object().is_some_and(Map::is_empty) {
                0
            } else {
                350_006_003
            };
            assert_eq!(
                code(&post(&sim, &s, "DescribePlayers", &body).await),
                want,
                "{body}"
            );
        }
        // Not JSON, or not a POST.
        let answer = send(
            sim.addr(),
            "POST",
            &format!("/?{}", s.query("CreatePlayer", "")),
            &[("content-type", "text/plain")],
            b"{}".to_vec(),
        )
        .await
        .expect("transport")
        .body_json()
        .expect("json");
        assert_eq!(code(&answer), 350_006_003);
        assert_eq!(
            code(&get(&sim, &s.query("CreatePlayer", "")).await),
            350_006_003
        );

        // 50 players that are not destroyed at most (350006007); a running PlayerName is
        // taken (350006008), a destroyed one's is free again.
        let named = json!({"RoomId": "r", "StreamUrl": url, "PlayerName": "bgm"});
        let bgm = create(&sim, &s, named.clone()).await;
        let answer = post(&sim, &s, "CreatePlayer", &named).await;
        assert_eq!(code(&answer), 350_006_008, "{answer}");
        assert!(sim.set_player_status(&bgm, 7));
        assert_eq!(
            code(&post(&sim, &s, "CreatePlayer", &named).await),
            350_006_008,
            "7 is not destroyed"
        );
        assert!(sim.set_player_status(&bgm, 8));
        let bgm = create(&sim, &s, named.clone()).await;
        let good = json!({"RoomId": "r", "StreamUrl": url});
        while sim.players().iter().filter(|p| p.status != 8).count() < MAX_RUNNING_PLAYERS {
            create(&sim, &s, good.clone()).await;
        }
        let answer = post(&sim, &s, "CreatePlayer", &good).await;
        assert_eq!(code(&answer), 350_006_007, "{answer}");
        assert!(sim.set_player_status(&bgm, 7));
        assert_eq!(
            code(&post(&sim, &s, "CreatePlayer", &good).await),
            350_006_007
        );
        assert!(sim.set_player_status(&bgm, 8));
        assert_eq!(code(&post(&sim, &s, "CreatePlayer", &good).await), 0);

        // Paging.
        let total = sim.players().len();
        let answer = post(
            &sim,
            &s,
            "DescribePlayers",
            &json!({"RoomId": "r", "PageSize": 50}),
        )
        .await;
        assert_eq!(answer["Data"]["TotalSize"], total);
        assert_eq!(answer["Data"]["NextPageToken"], "50");
        let answer = post(
            &sim,
            &s,
            "DescribePlayers",
            &json!({"RoomId": "r", "PageSize": 50, "PageToken": "50"}),
        )
        .await;
        assert_eq!(
            answer["Data"]["Players"].as_array().map(Vec::len),
            Some(total - 50)
        );
        assert_eq!(answer["Data"]["NextPageToken"], "");
        let answer = post(&sim, &s, "DescribePlayers", &json!({"Status": 8})).await;
        assert_eq!(answer["Data"]["TotalSize"], 2, "{answer}");
    }

    #[tokio::test]
    async fn callbacks_are_signed_as_zego_documents() {
        let sim = sim().await;
        let s = Signer::new(&sim, "cb");
        let answer = post(
            &sim,
            &s,
            "CreatePlayer",
            &json!({"RoomId": "room 1", "StreamUrl": "https://a/b.mp4"}),
        )
        .await;
        let id = answer["Data"]["PlayerId"].as_str().expect("id").to_owned();
        assert!(sim.set_player_status(&id, 4));
        let cb = sim.callback(&id, 3).expect("callback");
        let body = &cb.json;
        // The published shape: Detail an object, Timestamp a string, EventTime a number.
        assert_eq!(body["AppID"], 1_000_000_001u64);
        assert_eq!(body["RoomId"], "room 1");
        assert_eq!(body["PlayerId"], id.as_str());
        assert_eq!(body["EventType"], 3);
        assert_eq!(body["Detail"], json!({"Status": 4, "PlayIndex": 0}));
        assert!(body["EventTime"].is_u64(), "{body}");
        // Recompute: sort the three as strings, concatenate, SHA-1.
        let ts = body["Timestamp"].as_str().expect("ts").to_owned();
        assert_eq!(
            body["EventTime"].as_u64(),
            ts.parse::<u64>().ok().map(|t| t * 1000)
        );
        let nonce = body["Nonce"].as_str().expect("nonce");
        let mut parts = [sim.config().callback_secret.clone(), ts, nonce.to_owned()];
        parts.sort();
        let mut sha = Sha1::new();
        sha.update(parts.concat());
        assert_eq!(body["Signature"], hex::encode(sha.finalize()));
        assert_eq!(
            cb.headers[0],
            ("content-type".to_owned(), "application/json".to_owned())
        );
        assert_eq!(
            serde_json::from_slice::<Value>(&cb.body).expect("json"),
            cb.json
        );
        assert!(sim.callback("nope", 1).is_none());

        // Each event's Detail as published; a creation also names the source.
        let created = sim.callback(&id, 1).expect("callback").json;
        let p = sim.player(&id).expect("player");
        assert_eq!(
            created["Detail"],
            json!({"CreateTime": p.create_time, "PlayTime": p.create_time,
                   "MaxIdleTime": 300, "StreamUrl": "https://a/b.mp4"})
        );
        assert!(created.get("PlayerName").is_none(), "no name given");
        assert_eq!(
            sim.callback(&id, 4).expect("callback").json["Detail"],
            json!({"Code": -7, "PlayIndex": 0})
        );
        assert!(sim.set_player_status(&id, 8));
        assert_eq!(
            sim.callback(&id, 2).expect("callback").json["Detail"],
            json!({"PlayTime": p.create_time, "Reason": 2})
        );

        // The older shape, on request: strings URL-encoded, Detail URL-encoded JSON text,
        // Timestamp a number.
        assert!(sim.set_player_status(&id, 4));
        let old = sim
            .callback_as(&id, 3, CallbackShape::UrlEncoded)
            .expect("callback")
            .json;
        assert_eq!(old["RoomId"], "room%201");
        assert_eq!(
            old["Detail"],
            "%7B%22PlayIndex%22%3A0%2C%22Status%22%3A4%7D"
        );
        let ts = old["Timestamp"].as_i64().expect("a number").to_string();
        let nonce = old["Nonce"].as_str().expect("nonce");
        assert_eq!(
            old["Signature"],
            callback_signature(&sim.config().callback_secret, &ts, nonce)
        );

        // Pinned inputs give pinned output.
        let detail = json!({"Status": 4});
        for shape in [CallbackShape::Published, CallbackShape::UrlEncoded] {
            let a = sim.callback_with("r", "p", 1, "abc", 1_700_000_000, Some(&detail), shape);
            let b = sim.callback_with("r", "p", 1, "abc", 1_700_000_000, Some(&detail), shape);
            assert_eq!(a, b);
            assert_eq!(
                a.json["Signature"],
                callback_signature(&sim.config().callback_secret, "1700000000", "abc")
            );
        }
    }

    #[tokio::test]
    async fn vendor_error_fault_uses_the_zego_envelope() {
        let sim = sim().await;
        sim.fail_next(Fault::VendorError {
            code: "350006001".into(),
            message: "slow down".into(),
        });
        let s = Signer::new(&sim, "f");
        let answer = post(
            &sim,
            &s,
            "CreatePlayer",
            &json!({"RoomId": "r", "StreamUrl": "https://a/b.mp4"}),
        )
        .await;
        assert_eq!(code(&answer), 350_006_001);
        assert_eq!(answer["Message"], "slow down");
        assert!(answer["RequestId"].is_string());
        assert!(
            sim.players().is_empty(),
            "a faulted request never reaches the vendor"
        );
        sim.fail_next(Fault::VendorError {
            code: "Weird".into(),
            message: "m".into(),
        });
        let answer = get(
            &sim,
            &s.query("RTMPDispatchV2", "&StreamId=s&Sequence=1&Type=push"),
        )
        .await;
        assert_eq!(answer["Code"], "Weird");
    }
}
