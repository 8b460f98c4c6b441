//! Agora Media Pull ("cloud player") simulator.
//!
//! Written from `shared/vendors/more-vendors.md` only (never from the plugin). It serves
//!
//! - `POST /{region}/v1/projects/{appId}/cloud-player/players` — create a player;
//! - `DELETE /{region}/v1/projects/{appId}/cloud-player/players/{playerId}` — delete it;
//! - `GET /{region}/v1/projects/{appId}/cloud-player/players?filter=channelName eq {name}` — list;
//! - `PATCH /{region}/v1/projects/{appId}/cloud-player/players/{playerId}?sequence={n}` — update,
//!   after Agora's Media Pull RESTful API reference ("Update API",
//!   <https://docs.agora.io/en/media-pull/reference/restful-api>), which the vendor spec does
//!   not cover,
//!
//! checks `Authorization: Basic base64(customerId:customerSecret)` by decoding it (HTTP 401),
//! the project in the path (403), the region (404), and the `player` object's fields and types
//! (400): `streamUrl` (http/https/rtmp/rtmps, at most 1024 bytes), `channelName` (1..64 bytes),
//! exactly one of `uid` (a Number, 0..=2^32-1; 0 asks Agora to assign one) and `account` (a
//! String, 1..=255 bytes), optional `name` (1 to 64 characters of `a-z A-Z 0-9 - _`, unique
//! among the project's players: 409), optional `token`, `idleTimeout` (an integer Number,
//! clamped into 5..=600 as the reference says Agora's server does — "If the value is less than
//! 5, Agora's server automatically adjusts it to 5; if the value is greater than 600, …to 600"
//! — and 300 when absent; the applied value is [`SimPlayer::idle_timeout`]), `playTs` (≥ 0),
//! `repeatTime` (-1 or ≥ 1), `audioOptions` / `videoOptions` (objects); any other field is
//! refused. Players live in memory with a status (`connecting` until a test says otherwise).
//! These rules are the Create API's in AgoraIO/Docs-Source
//! `shared/media-pull/reference/_restful-api.mdx`.
//!
//! Identity and tokens: a `uid` and an `account` are different users — uid 7, account "7"
//! and account "007" are three users. With an App Certificate configured
//! ([`AgoraSimConfig::with_app_certificate`]) the project uses tokens: a created player's
//! `token` must be an AccessToken2 (AgoraIO/Tools `RtcTokenBuilder2`, see [`build_rtc_token`])
//! signed with the certificate, for this App ID and channel, not expired, with the join
//! privilege, naming exactly the player's user — its account verbatim, or its uid as decimal
//! text (`""` for uid 0), as the token builders encode them. So a token built for account
//! "007" does not admit uid 7. A player whose token does not admit it (or that has none) is
//! created and then `failed`, as Agora reports a player that cannot join, with the reason in
//! [`SimPlayer::token_error`]. Without a certificate tokens are not checked.
//!
//! An update needs the `sequence` query parameter (an integer ≥ 0) and a `player` object with
//! at least one of the fields Agora lets an update change — `streamUrl`, `audioOptions`
//! (`audioOptions.volume` 0..=200), `isPause` (boolean), `seekPosition` (integer ≥ 0) — and no
//! other (400). A player that does not exist or was deleted is a 404. Agora asks that each
//! update of a player carry a larger `sequence` than the one before and applies the highest;
//! what it answers to one that does not is not documented: the simulator refuses it with
//! `409` (`reason` `Conflict`) and changes nothing. An accepted update is applied to the
//! player (`streamUrl` replaced, `audioOptions` merged, `isPause` and `seekPosition` set) and
//! recorded in [`SimPlayer::updates`]; the answer is `200` with an empty body, as documented.
//!
//! Notifications: [`AgoraSim::notice`] builds what Agora's Notification Center Service (NCS)
//! would POST for a player — `{"noticeId", "productId": 4, "eventType", "notifyMs",
//! "payload"}`, signed with the configured notification secret in `Agora-Signature`
//! (hex HMAC-SHA1 of the body) and `Agora-Signature-V2` (hex HMAC-SHA256), with this file's own
//! HMAC code — after Agora's NCS reference (request header and body, signature verification,
//! Media Pull events 1 Player Created, 3 Player Destroyed, 4 Player Status Changed).
//!
//! The spec gives no response or error shapes, so these are the simulator's choices, after
//! Agora's RESTful conventions: success `200` `{"player": {…, "id", "createTs", "status"},
//! "fields": "…"}` for a create, `200` with an empty body for a delete, `{"total", "players",
//! "cursor"}` for a list; errors `{"message": "…", "reason": "…"}` with the HTTP status. Every
//! answer carries the simulator's own `X-Request-ID` and echoes the client's as
//! `X-Custom-Request-ID`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value, json};
use sha1::Sha1;
use sha2::Sha256;

use crate::server::{Recorded, SimResponse, SimServer, VendorHandler, lock};

/// The regions served.
pub const REGIONS: &[&str] = &["na", "eu", "ap", "cn"];
/// The demo's App ID.
pub const DEMO_APP_ID: &str = "demoagoraappid0001";
/// The demo's RESTful customer id (not a real credential).
pub const DEMO_CUSTOMER_ID: &str = "demo-agora-customer-id";
/// The demo's RESTful customer secret (not a real credential).
pub const DEMO_CUSTOMER_SECRET: &str = "demo-agora-customer-secret";
/// The demo's notification (NCS) secret (not a real credential).
pub const DEMO_NOTIFICATION_SECRET: &str = "demo-agora-notification-secret";
/// `productId` of Media Pull notices.
pub const PRODUCT_MEDIA_PULL: u32 = 4;
/// `eventType` 1: Player Created.
pub const EVENT_PLAYER_CREATED: u32 = 1;
/// `eventType` 3: Player Destroyed.
pub const EVENT_PLAYER_DESTROYED: u32 = 3;
/// `eventType` 4: Player Status Changed.
pub const EVENT_PLAYER_STATUS: u32 = 4;
/// The most bytes of `streamUrl` Agora takes.
const MAX_STREAM_URL: usize = 1024;
/// `idleTimeout`'s range, seconds: Agora adjusts a smaller value to the first, a larger one
/// to the second.
pub const IDLE_TIMEOUT_RANGE: std::ops::RangeInclusive<u32> = 5..=600;
/// `idleTimeout` when the create does not give one, seconds.
pub const DEFAULT_IDLE_TIMEOUT: u32 = 300;

/// The project and RESTful credentials the simulator knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgoraSimConfig {
    /// The App ID; another in a path is refused with 403.
    pub app_id: String,
    /// The customer id half of the Basic credential.
    pub customer_id: String,
    /// The customer secret half of the Basic credential.
    pub customer_secret: String,
    /// The secret Agora Console shows for the Notifications configuration:
    /// [`AgoraSim::notice`] signs with it.
    pub notification_secret: String,
    /// The project's App Certificate. When set, the project uses tokens (as with the App
    /// Certificate enabled in Agora Console): every created player's `token` is verified as an
    /// AccessToken2 for the player's channel and user (see the module docs); when `None`, any
    /// `token` is accepted unchecked.
    pub app_certificate: Option<String>,
}

impl AgoraSimConfig {
    /// Fixed, fake credentials for tests.
    pub fn for_tests() -> Self {
        Self {
            app_id: "testagoraappid0001".to_owned(),
            customer_id: "test-agora-customer-id".to_owned(),
            customer_secret: "test-agora-customer-secret".to_owned(),
            notification_secret: "test-agora-notification-secret".to_owned(),
            app_certificate: None,
        }
    }

    /// The same project with the App Certificate `certificate` enabled: tokens are verified.
    pub fn with_app_certificate(mut self, certificate: &str) -> Self {
        self.app_certificate = Some(certificate.to_owned());
        self
    }

    /// The demo's credentials.
    pub fn demo() -> Self {
        Self {
            app_id: DEMO_APP_ID.to_owned(),
            customer_id: DEMO_CUSTOMER_ID.to_owned(),
            customer_secret: DEMO_CUSTOMER_SECRET.to_owned(),
            notification_secret: DEMO_NOTIFICATION_SECRET.to_owned(),
            app_certificate: None,
        }
    }
}

impl Default for AgoraSimConfig {
    /// Same as [`AgoraSimConfig::for_tests`].
    fn default() -> Self {
        Self::for_tests()
    }
}

/// One cloud player as the simulator holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct SimPlayer {
    /// The player id the simulator issued.
    pub id: String,
    /// The region it was created in.
    pub region: String,
    /// The `player` object as created, with every accepted update applied.
    pub request: Map<String, Value>,
    /// The idle timeout the player runs with, seconds: the created `idleTimeout` clamped into
    /// [`IDLE_TIMEOUT_RANGE`], [`DEFAULT_IDLE_TIMEOUT`] when absent (`request` keeps the value
    /// as sent).
    pub idle_timeout: u32,
    /// Its status: `connecting`, `running`, `failed` (set by tests), …
    pub status: String,
    /// Whether it was deleted.
    pub deleted: bool,
    /// The accepted updates, in order: `sequence` and the `player` object as received.
    pub updates: Vec<(u64, Map<String, Value>)>,
    /// With an App Certificate configured: why the player's token does not admit it to the
    /// channel (the player is then `failed`); `None` when it was admitted or nothing was
    /// checked.
    pub token_error: Option<String>,
}

impl SimPlayer {
    /// `player.channelName`.
    pub fn channel(&self) -> &str {
        self.request
            .get("channelName")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// `player.uid`, when the player joined with a uid (a number).
    pub fn uid(&self) -> Option<u64> {
        self.request.get("uid").and_then(Value::as_u64)
    }

    /// `player.account`, when the player joined with a user account (a string).
    pub fn account(&self) -> Option<&str> {
        self.request.get("account").and_then(Value::as_str)
    }

    /// `player.streamUrl`, as created or last updated.
    pub fn stream_url(&self) -> &str {
        self.request
            .get("streamUrl")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// Whether an update paused it (`isPause`).
    pub fn paused(&self) -> bool {
        self.request
            .get("isPause")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    /// `audioOptions.volume`, when set (Agora's default is 100).
    pub fn volume(&self) -> Option<i64> {
        self.request
            .get("audioOptions")
            .and_then(|a| a.get("volume"))
            .and_then(Value::as_i64)
    }
}

/// A Media Pull event to notify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoticeEvent {
    /// `eventType` 1: the player was created (its status `connecting`).
    Created,
    /// `eventType` 3: the player was destroyed, with this `destroyReason` (`Delete Request`,
    /// `Internal Error`, `Idle Timeout`, `Stream Stopped`).
    Destroyed(String),
    /// `eventType` 4: the player's status changed to this (`connecting`, `success`,
    /// `running`, `failed`, `stopped`).
    StatusChanged(String),
    /// Any other `eventType`, with the status-changed payload.
    Other(u32),
}

/// A signed notice: what Agora's Notification Center Service would POST.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimNotice {
    /// `content-type`, `Agora-Signature` and `Agora-Signature-V2`.
    pub headers: Vec<(String, String)>,
    /// The JSON body, exactly as signed.
    pub body: Vec<u8>,
}

/// A running Agora simulator. Dropping it stops the server.
pub struct AgoraSim {
    server: SimServer,
    agora: Arc<Agora>,
}

impl std::fmt::Debug for AgoraSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgoraSim")
            .field("addr", &self.server.addr())
            .field("app_id", &self.agora.cfg.app_id)
            .finish_non_exhaustive()
    }
}

crate::sim::deref_to_server!(AgoraSim);

impl AgoraSim {
    /// Starts on `127.0.0.1:0` (a free port).
    pub async fn start(cfg: AgoraSimConfig) -> anyhow::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), cfg).await
    }

    /// Starts on `addr`.
    pub async fn start_on(addr: SocketAddr, cfg: AgoraSimConfig) -> anyhow::Result<Self> {
        let agora = Arc::new(Agora {
            cfg,
            players: Mutex::new(Vec::new()),
            next: AtomicU64::new(1),
            notices: AtomicU64::new(1),
        });
        let server =
            SimServer::start_on(addr, Arc::clone(&agora) as Arc<dyn VendorHandler>).await?;
        Ok(Self { server, agora })
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &AgoraSimConfig {
        &self.agora.cfg
    }

    /// Every player ever created, in creation order.
    pub fn players(&self) -> Vec<SimPlayer> {
        lock(&self.agora.players).clone()
    }

    /// The players not deleted.
    pub fn live(&self) -> Vec<SimPlayer> {
        self.players().into_iter().filter(|p| !p.deleted).collect()
    }

    /// The notice Agora would send now about player `id` (as the simulator holds it) for
    /// `event`; `None` when no such player was ever created.
    pub fn notice(&self, id: &str, event: &NoticeEvent) -> Option<SimNotice> {
        self.notice_at(id, event, unix_ms())
    }

    /// [`AgoraSim::notice`] sent at `notify_ms` (`notifyMs`; the event's `lts` one second
    /// earlier).
    pub fn notice_at(&self, id: &str, event: &NoticeEvent, notify_ms: u64) -> Option<SimNotice> {
        let player = self.players().into_iter().find(|p| p.id == id)?;
        let lts = notify_ms.saturating_sub(1000);
        let mut info = json!({
            "channelName": player.channel(),
            "id": player.id,
            "name": player.request.get("name"),
        });
        let (event_type, payload) = match event {
            NoticeEvent::Created => {
                info["createTs"] = json!(lts / 1000);
                info["streamUrl"] = json!(player.stream_url());
                info["status"] = json!("connecting");
                for key in ["uid", "account", "token"] {
                    if let Some(v) = player.request.get(key) {
                        info[key] = v.clone();
                    }
                }
                info["idleTimeout"] = json!(player.idle_timeout);
                let payload = json!({"player": info, "lts": lts, "xRequestId": "agora-sim"});
                (EVENT_PLAYER_CREATED, payload)
            }
            NoticeEvent::Destroyed(reason) => (
                EVENT_PLAYER_DESTROYED,
                json!({
                    "player": info,
                    "lts": lts,
                    "destroyReason": reason,
                    "fields": "player.name,player.channelName,player.id",
                }),
            ),
            NoticeEvent::StatusChanged(status) => {
                (EVENT_PLAYER_STATUS, status_payload(info, status, lts))
            }
            NoticeEvent::Other(t) => (*t, status_payload(info, &player.status, lts)),
        };
        Some(self.raw_notice(PRODUCT_MEDIA_PULL, event_type, &payload, notify_ms))
    }

    /// A notice with any product, event type and payload, sent at `notify_ms`, signed with the
    /// configured notification secret.
    pub fn raw_notice(
        &self,
        product_id: u32,
        event_type: u32,
        payload: &Value,
        notify_ms: u64,
    ) -> SimNotice {
        let n = self.agora.notices.fetch_add(1, Ordering::Relaxed);
        let body = json!({
            "noticeId": format!("agora-sim-notice-{n}"),
            "productId": product_id,
            "eventType": event_type,
            "notifyMs": notify_ms,
            "payload": payload,
        })
        .to_string()
        .into_bytes();
        let (v1, v2) = notice_signatures(&self.agora.cfg.notification_secret, &body);
        SimNotice {
            headers: vec![
                ("content-type".to_owned(), "application/json".to_owned()),
                ("Agora-Signature".to_owned(), v1),
                ("Agora-Signature-V2".to_owned(), v2),
            ],
            body,
        }
    }

    /// An RTC token for user account `account` in `channel`, as Agora's
    /// `RtcTokenBuilder2.buildTokenWithUserAccount` makes it (publisher, valid for an hour),
    /// under the configured App Certificate (an empty one when none is configured).
    pub fn token_for_account(&self, channel: &str, account: &str) -> String {
        self.token_for_user(channel, account)
    }

    /// An RTC token for `uid` in `channel`, as `RtcTokenBuilder2.buildTokenWithUid` makes it:
    /// the token names the uid as its decimal text (`""` for uid 0).
    pub fn token_for_uid(&self, channel: &str, uid: u32) -> String {
        self.token_for_user(channel, &rtc_user_of_uid(u64::from(uid)))
    }

    fn token_for_user(&self, channel: &str, user: &str) -> String {
        let cfg = &self.agora.cfg;
        let issue_ts = u32::try_from(unix_ms() / 1000).unwrap_or(u32::MAX);
        let salt = u32::try_from(self.agora.next.fetch_add(1, Ordering::Relaxed) % 99_999_999)
            .unwrap_or(1)
            + 1;
        let header = TokenHeader {
            app_id: &cfg.app_id,
            certificate: cfg.app_certificate.as_deref().unwrap_or_default(),
            issue_ts,
            expire: 3600,
            salt,
        };
        build_rtc_token(header, channel, user, &publisher_privileges(3600))
    }

    /// Sets a player's status (what Agora would report as it connects, plays or fails);
    /// returns whether the player exists.
    pub fn set_status(&self, id: &str, status: &str) -> bool {
        let mut players = lock(&self.agora.players);
        match players.iter_mut().find(|p| p.id == id) {
            Some(p) => {
                p.status = status.to_owned();
                true
            }
            None => false,
        }
    }
}

/// The vendor handler.
struct Agora {
    cfg: AgoraSimConfig,
    players: Mutex<Vec<SimPlayer>>,
    next: AtomicU64,
    /// The next notice number (`noticeId`).
    notices: AtomicU64,
}

/// Now, Unix milliseconds.
fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The payload of a Player Status Changed notice: `player` (with `status`), `lts`, `fields`.
fn status_payload(mut player: Value, status: &str, lts: u64) -> Value {
    player["status"] = json!(status);
    json!({
        "player": player,
        "lts": lts,
        "fields": "player.name,player.channelName,player.id,player.status",
    })
}

/// A notice's signatures: lowercase hex HMAC-SHA1 (`Agora-Signature`) and HMAC-SHA256
/// (`Agora-Signature-V2`) of the raw body under the notification secret.
pub fn notice_signatures(secret: &str, body: &[u8]) -> (String, String) {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut v1 = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("any key length");
    v1.update(body);
    let mut v2 = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    v2.update(body);
    (
        hex::encode(v1.finalize().into_bytes()),
        hex::encode(v2.finalize().into_bytes()),
    )
}

/// An error answer.
#[derive(Debug)]
struct Refusal {
    status: u16,
    reason: &'static str,
    message: String,
}

fn refuse(status: u16, reason: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        status,
        reason,
        message: message.into(),
    }
}

fn invalid(message: impl Into<String>) -> Refusal {
    refuse(400, "InvalidParameter", message)
}

/// What a successful request answers: status and optional JSON body.
type Answer = (u16, Option<Value>);

impl VendorHandler for Agora {
    fn handle(&self, request: &Recorded) -> SimResponse {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut response = match self.dispatch(request) {
            Ok((status, Some(body))) => SimResponse::json(status, &body),
            Ok((status, None)) => SimResponse {
                status,
                headers: Vec::new(),
                body: Vec::new(),
            },
            Err(e) => {
                SimResponse::json(e.status, &json!({"message": e.message, "reason": e.reason}))
            }
        };
        response
            .headers
            .push(("x-request-id".to_owned(), format!("agora-sim-{n}")));
        if let Some(custom) = request.header("x-request-id") {
            response
                .headers
                .push(("x-custom-request-id".to_owned(), custom.to_owned()));
        }
        response
    }

    fn vendor_error(&self, _request: &Recorded, code: &str, message: &str) -> SimResponse {
        // A numeric code is an HTTP status; anything else is a 400 with that reason.
        let status = code
            .parse::<u16>()
            .ok()
            .filter(|s| (400..600).contains(s))
            .unwrap_or(400);
        SimResponse::json(status, &json!({"message": message, "reason": code}))
    }
}

/// The value of query parameter `name`, percent-decoded (`+` is a space).
fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Refuses a `streamUrl` that is not an http(s) or rtmp(s) URL of at most 1024 bytes.
fn check_stream_url(url: &str) -> Result<(), Refusal> {
    let scheme_ok = ["http://", "https://", "rtmp://", "rtmps://"]
        .iter()
        .any(|s| {
            url.get(..s.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(s))
                && url.len() > s.len()
        });
    if !scheme_ok {
        return Err(invalid(
            "`player.streamUrl` must be an http(s) or rtmp(s) URL",
        ));
    }
    if url.len() > MAX_STREAM_URL {
        return Err(invalid(format!(
            "`player.streamUrl` is longer than {MAX_STREAM_URL} bytes"
        )));
    }
    Ok(())
}

/// Whether `value` is 1..=`max` bytes of the characters Agora allows in channel names and
/// user accounts.
fn valid_name(value: &str, max: usize) -> bool {
    !value.is_empty()
        && value.len() <= max
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b" !#$%&()+-:;<=.>?@[]^_{}|~,".contains(&b))
}

/// Whether `name` is a valid player `name`: 1 to 64 characters of `a-z A-Z 0-9 - _`.
fn valid_player_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A player's user in its channel.
#[derive(Clone, Debug, PartialEq, Eq)]
enum RtcUser {
    /// `uid`, a Number.
    Uid(u64),
    /// `account`, a String.
    Account(String),
}

impl RtcUser {
    /// The user as an RTC token names it: an account verbatim, a uid as its decimal text
    /// (`""` for 0) — `AccessToken2.getUidStr` in Agora's token builders.
    fn token_user(&self) -> String {
        match self {
            RtcUser::Uid(uid) => rtc_user_of_uid(*uid),
            RtcUser::Account(account) => account.clone(),
        }
    }
}

/// A uid as an RTC token names it: its decimal text, `""` for 0.
pub fn rtc_user_of_uid(uid: u64) -> String {
    if uid == 0 {
        String::new()
    } else {
        uid.to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// AccessToken2 ("007" tokens), after AgoraIO/Tools `DynamicKey/AgoraDynamicKey`
// (`accesstoken2`, `rtctokenbuilder2`): "007" + base64(zlib(packString(signature) + content)),
// content = packString(appId) + u32 issueTs + u32 expire + u32 salt + u16 service count +
// services (type-ordered; RTC = type 1: u16-counted map of u16 privilege → u32 expire,
// packString(channelName), packString(uid or account)). Little-endian integers; packString is
// a u16 length and the bytes. signature = HMAC-SHA256(signing key, content), signing key =
// HMAC-SHA256(key = u32 salt, HMAC-SHA256(key = u32 issueTs, appCertificate)).

/// The token version prefix.
const TOKEN_VERSION: &str = "007";
/// Service type RTC.
const SERVICE_RTC: u16 = 1;
/// RTC privilege: join the channel.
pub const PRIVILEGE_JOIN_CHANNEL: u16 = 1;
/// RTC privilege: publish an audio stream.
pub const PRIVILEGE_PUBLISH_AUDIO: u16 = 2;
/// RTC privilege: publish a video stream.
pub const PRIVILEGE_PUBLISH_VIDEO: u16 = 3;
/// RTC privilege: publish a data stream.
pub const PRIVILEGE_PUBLISH_DATA: u16 = 4;
/// Largest inflated token accepted, bytes.
const MAX_TOKEN_CONTENT: usize = 16 * 1024;

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn token_signing_key(certificate: &str, issue_ts: u32, salt: u32) -> Vec<u8> {
    let by_time = hmac_sha256(&issue_ts.to_le_bytes(), certificate.as_bytes());
    hmac_sha256(&salt.to_le_bytes(), &by_time)
}

fn pack_string(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes.get(..usize::from(len)).unwrap_or(bytes));
}

/// What an AccessToken2 says besides its services: the project and its App Certificate (which
/// signs), when it was issued, how long it is valid and its salt — Agora's
/// `NewAccessToken(appId, appCertificate, expire)` with its `IssueTs` and `Salt`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenHeader<'a> {
    /// `appId`.
    pub app_id: &'a str,
    /// The App Certificate the token is signed with (not in the token).
    pub certificate: &'a str,
    /// `issueTs`, Unix seconds.
    pub issue_ts: u32,
    /// `expire`, seconds after `issueTs`.
    pub expire: u32,
    /// `salt`.
    pub salt: u32,
}

/// The privileges `RtcTokenBuilder2` grants a publisher (join, publish audio, video and data),
/// each valid `expire` seconds.
pub fn publisher_privileges(expire: u32) -> [(u16, u32); 4] {
    [
        PRIVILEGE_JOIN_CHANNEL,
        PRIVILEGE_PUBLISH_AUDIO,
        PRIVILEGE_PUBLISH_VIDEO,
        PRIVILEGE_PUBLISH_DATA,
    ]
    .map(|p| (p, expire))
}

/// An AccessToken2 with one RTC service for `user` (an account, or a uid's decimal text) in
/// `channel`, granting `privileges` (privilege, seconds valid), packed in the order given —
/// Agora's builders pack them in ascending privilege order, so pass them that way — as
/// AgoraIO/Tools `accesstoken2` builds it (`NewServiceRtc(channel, user)`, `AddPrivilege`,
/// `Build`). [`publisher_privileges`] gives what `RtcTokenBuilder2.buildTokenWithUserAccount`
/// grants a publisher. The zlib stream is miniz's at level 6, as Python's `zlib.compress`.
pub fn build_rtc_token(
    header: TokenHeader<'_>,
    channel: &str,
    user: &str,
    privileges: &[(u16, u32)],
) -> String {
    let mut content = Vec::new();
    pack_string(&mut content, header.app_id.as_bytes());
    content.extend_from_slice(&header.issue_ts.to_le_bytes());
    content.extend_from_slice(&header.expire.to_le_bytes());
    content.extend_from_slice(&header.salt.to_le_bytes());
    content.extend_from_slice(&1u16.to_le_bytes());
    content.extend_from_slice(&SERVICE_RTC.to_le_bytes());
    let count = u16::try_from(privileges.len()).unwrap_or(u16::MAX);
    content.extend_from_slice(&count.to_le_bytes());
    for (privilege, expire) in privileges.iter().take(usize::from(count)) {
        content.extend_from_slice(&privilege.to_le_bytes());
        content.extend_from_slice(&expire.to_le_bytes());
    }
    pack_string(&mut content, channel.as_bytes());
    pack_string(&mut content, user.as_bytes());
    let signature = hmac_sha256(
        &token_signing_key(header.certificate, header.issue_ts, header.salt),
        &content,
    );
    let mut all = Vec::new();
    pack_string(&mut all, &signature);
    all.extend_from_slice(&content);
    format!(
        "{TOKEN_VERSION}{}",
        base64::engine::general_purpose::STANDARD
            .encode(miniz_oxide::deflate::compress_to_vec_zlib(&all, 6))
    )
}

/// A token as parsed: its signature, the bytes it signs, and what they say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedToken {
    /// The signature.
    pub signature: Vec<u8>,
    /// The signed bytes (everything after the signature).
    pub signed: Vec<u8>,
    /// `appId`.
    pub app_id: String,
    /// `issueTs`, Unix seconds.
    pub issue_ts: u32,
    /// `expire`, seconds after `issueTs`.
    pub expire: u32,
    /// `salt`.
    pub salt: u32,
    /// The RTC service, when present: privileges (privilege → expire), channel, user.
    pub rtc: Option<(std::collections::BTreeMap<u16, u32>, String, String)>,
}

/// Reads little-endian fields off a byte slice; every read checks the length.
struct TokenReader<'a>(&'a [u8]);

impl<'a> TokenReader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("the token is truncated".to_owned());
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u16(&mut self) -> Result<u16, String> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }

    fn string(&mut self) -> Result<String, String> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| "a token string is not UTF-8".into())
    }
}

/// Parses an AccessToken2; never panics on any input.
pub fn parse_token(token: &str) -> Result<ParsedToken, String> {
    let encoded = token
        .strip_prefix(TOKEN_VERSION)
        .ok_or_else(|| format!("not an AccessToken2 (it does not start with `{TOKEN_VERSION}`)"))?;
    let compressed = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| "the token is not base64 after its version".to_owned())?;
    let raw =
        miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&compressed, MAX_TOKEN_CONTENT)
            .map_err(|_| "the token does not inflate (zlib)".to_owned())?;
    let mut r = TokenReader(&raw);
    let signature = r.bytes()?.to_vec();
    let signed = r.0.to_vec();
    let app_id = r.string()?;
    let issue_ts = r.u32()?;
    let expire = r.u32()?;
    let salt = r.u32()?;
    let services = r.u16()?;
    let mut rtc = None;
    for _ in 0..services {
        if r.u16()? != SERVICE_RTC {
            // Another service's layout: the RTC service (type 1) comes first when present.
            break;
        }
        let mut privileges = std::collections::BTreeMap::new();
        for _ in 0..r.u16()? {
            let privilege = r.u16()?;
            privileges.insert(privilege, r.u32()?);
        }
        let channel = r.string()?;
        let user = r.string()?;
        rtc = Some((privileges, channel, user));
    }
    Ok(ParsedToken {
        signature,
        signed,
        app_id,
        issue_ts,
        expire,
        salt,
        rtc,
    })
}

/// Whether `token` admits `user` (an account, or a uid's decimal text, `""` for uid 0) into
/// `channel` of project `app_id` whose App Certificate is `certificate` at `now` (Unix
/// seconds): signature, App ID, expiry, an RTC service for exactly that channel and user, with
/// the join privilege. The error says what does not match.
pub fn verify_rtc_token(
    token: &str,
    app_id: &str,
    certificate: &str,
    channel: &str,
    user: &str,
    now: u64,
) -> Result<(), String> {
    let t = parse_token(token)?;
    let key = token_signing_key(certificate, t.issue_ts, t.salt);
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
    mac.update(&t.signed);
    if mac.verify_slice(&t.signature).is_err() {
        return Err("the token's signature does not verify with the App Certificate".to_owned());
    }
    if t.app_id != app_id {
        return Err(format!("the token is for App ID `{}`", t.app_id));
    }
    if u64::from(t.issue_ts) + u64::from(t.expire) < now {
        return Err("the token has expired".to_owned());
    }
    let Some((privileges, token_channel, token_user)) = &t.rtc else {
        return Err("the token has no RTC service".to_owned());
    };
    if token_channel != channel {
        return Err(format!(
            "the token is for channel `{token_channel}`, not `{channel}`"
        ));
    }
    if token_user != user {
        return Err(format!(
            "the token is for user `{token_user}`, not the player's `{user}` (a uid and a user \
             account are different users)"
        ));
    }
    if !privileges.contains_key(&PRIVILEGE_JOIN_CHANNEL) {
        return Err("the token lacks the join-channel privilege".to_owned());
    }
    Ok(())
}

impl Agora {
    /// Checks `Authorization: Basic …` by decoding it and comparing both halves.
    fn authenticate(&self, req: &Recorded) -> Result<(), Refusal> {
        let unauthorized = || refuse(401, "Unauthorized", "Invalid authentication credentials");
        let encoded = req
            .header("authorization")
            .and_then(|v| v.strip_prefix("Basic "))
            .ok_or_else(unauthorized)?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| unauthorized())?;
        let text = String::from_utf8(decoded).map_err(|_| unauthorized())?;
        let (id, secret) = text.split_once(':').ok_or_else(unauthorized)?;
        if id == self.cfg.customer_id && secret == self.cfg.customer_secret {
            Ok(())
        } else {
            Err(unauthorized())
        }
    }

    fn dispatch(&self, req: &Recorded) -> Result<Answer, Refusal> {
        let (path, query) = req
            .path_and_query
            .split_once('?')
            .unwrap_or((req.path_and_query.as_str(), ""));
        let not_found = || refuse(404, "NotFound", format!("no API at {} {path}", req.method));
        // /{region}/v1/projects/{appId}/cloud-player/players[/{id}]
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let (region, app, player) = match parts.as_slice() {
            [region, "v1", "projects", app, "cloud-player", "players"] => (*region, *app, None),
            [region, "v1", "projects", app, "cloud-player", "players", id] => {
                (*region, *app, Some(*id))
            }
            _ => return Err(not_found()),
        };
        if !REGIONS.contains(&region) {
            return Err(not_found());
        }
        self.authenticate(req)?;
        if percent_decode(app) != self.cfg.app_id {
            return Err(refuse(
                403,
                "Forbidden",
                "the project does not exist, or Media Pull is not enabled for it",
            ));
        }
        match (req.method.as_str(), player) {
            ("POST", None) => self.create(region, req),
            ("GET", None) => self.list(query),
            ("DELETE", Some(id)) => self.delete(&percent_decode(id)),
            ("PATCH", Some(id)) => self.update(&percent_decode(id), query, req),
            _ => Err(not_found()),
        }
    }

    fn create(&self, region: &str, req: &Recorded) -> Result<Answer, Refusal> {
        if !req
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json"))
        {
            return Err(invalid("Content-Type must be application/json"));
        }
        let body = req
            .body_json()
            .ok_or_else(|| invalid("the body is not JSON"))?;
        let player = body
            .get("player")
            .and_then(Value::as_object)
            .ok_or_else(|| invalid("`player` must be an object"))?;
        if let Some(extra) = body
            .as_object()
            .and_then(|o| o.keys().find(|k| *k != "player"))
        {
            return Err(invalid(format!("unknown field `{extra}`")));
        }
        const KNOWN: &[&str] = &[
            "streamUrl",
            "channelName",
            "token",
            "uid",
            "account",
            "idleTimeout",
            "playTs",
            "name",
            "repeatTime",
            "audioOptions",
            "videoOptions",
        ];
        if let Some(extra) = player.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(invalid(format!("unknown field `player.{extra}`")));
        }
        let str_field = |key: &str| player.get(key).and_then(Value::as_str);
        let stream_url =
            str_field("streamUrl").ok_or_else(|| invalid("`player.streamUrl` is required"))?;
        check_stream_url(stream_url)?;
        let channel = str_field("channelName").unwrap_or_default();
        if !valid_name(channel, 64) {
            return Err(invalid(
                "`player.channelName` must be 1 to 64 allowed characters",
            ));
        }
        // The player's user: a uid (a Number, 0..=2^32-1, 0 asking Agora to assign one) or a
        // user account (a String) — different identities: uid 7 and account "007" (or even
        // account "7") are different users.
        let user = match (player.get("uid"), player.get("account")) {
            (Some(uid), None) => match uid.as_u64().filter(|u| *u <= u64::from(u32::MAX)) {
                Some(uid) => RtcUser::Uid(uid),
                None => {
                    return Err(invalid("`player.uid` must be a Number in 0..=4294967295"));
                }
            },
            (None, Some(account)) => match account.as_str().filter(|a| valid_name(a, 255)) {
                Some(account) => RtcUser::Account(account.to_owned()),
                None => {
                    return Err(invalid(
                        "`player.account` must be a String of 1 to 255 allowed characters",
                    ));
                }
            },
            _ => {
                return Err(invalid(
                    "exactly one of `player.uid` and `player.account` is required",
                ));
            }
        };
        // `name` is optional; when given, 1 to 64 characters of a-z A-Z 0-9 - _.
        let name = match player.get("name") {
            None => None,
            Some(Value::String(name)) if valid_player_name(name) => Some(name.as_str()),
            Some(_) => {
                return Err(invalid(
                    "`player.name` must be 1 to 64 characters of a-z, A-Z, 0-9, \"-\" and \"_\"",
                ));
            }
        };
        if let Some(token) = player.get("token")
            && token.as_str().is_none_or(|t| t.is_empty())
        {
            return Err(invalid("`player.token` must be a non-empty string"));
        }
        let int = |key: &str, ok: fn(i64) -> bool| -> Result<(), Refusal> {
            match player.get(key) {
                None => Ok(()),
                Some(v) if v.as_i64().is_some_and(ok) => Ok(()),
                Some(_) => Err(invalid(format!("`player.{key}` is out of range"))),
            }
        };
        // Any integer Number: Agora adjusts it into 5..=600 rather than refusing it.
        let idle_timeout = match player.get("idleTimeout") {
            None => DEFAULT_IDLE_TIMEOUT,
            Some(v) => {
                let given = v
                    .as_i64()
                    .map(i128::from)
                    .or_else(|| v.as_u64().map(i128::from))
                    .ok_or_else(|| invalid("`player.idleTimeout` must be an integer Number"))?;
                let (low, high) = (*IDLE_TIMEOUT_RANGE.start(), *IDLE_TIMEOUT_RANGE.end());
                u32::try_from(given.clamp(i128::from(low), i128::from(high))).unwrap_or(high)
            }
        };
        int("playTs", |n| n >= 0)?;
        int("repeatTime", |n| n == -1 || n >= 1)?;
        for key in ["audioOptions", "videoOptions"] {
            if player.get(key).is_some_and(|v| !v.is_object()) {
                return Err(invalid(format!("`player.{key}` must be an object")));
            }
        }

        let mut players = lock(&self.players);
        if let Some(name) = name
            && players
                .iter()
                .any(|p| !p.deleted && p.request.get("name").and_then(Value::as_str) == Some(name))
        {
            return Err(refuse(
                409,
                "Conflict",
                format!("a player named `{name}` already exists"),
            ));
        }
        // With the App Certificate enabled the player joins the channel with its token; a
        // token that does not admit it (another user, channel or project, a bad signature,
        // expired, or none) makes the player fail after it was created, as Agora reports it.
        let token_error = self.cfg.app_certificate.as_deref().and_then(|cert| {
            let token = player.get("token").and_then(Value::as_str);
            let checked = match token {
                None => Err("no token, and the project has an App Certificate".to_owned()),
                Some(token) => verify_rtc_token(
                    token,
                    &self.cfg.app_id,
                    cert,
                    channel,
                    &user.token_user(),
                    unix_ms() / 1000,
                ),
            };
            checked.err()
        });
        let status = if token_error.is_some() {
            "failed"
        } else {
            "connecting"
        };
        let id = format!("agora-player-{:04}", players.len() + 1);
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        players.push(SimPlayer {
            id: id.clone(),
            region: region.to_owned(),
            request: player.clone(),
            idle_timeout,
            status: status.to_owned(),
            deleted: false,
            updates: Vec::new(),
            token_error,
        });
        let mut answer = Map::new();
        match &user {
            // uid 0: Agora assigns one.
            RtcUser::Uid(0) => {
                answer.insert("uid".into(), (100_000 + players.len() as u64).into());
            }
            RtcUser::Uid(uid) => {
                answer.insert("uid".into(), (*uid).into());
            }
            RtcUser::Account(account) => {
                answer.insert("account".into(), account.as_str().into());
            }
        }
        answer.insert("channelName".into(), channel.into());
        answer.insert("id".into(), id.into());
        answer.insert("createTs".into(), created.into());
        answer.insert("status".into(), status.into());
        Ok((
            200,
            Some(json!({
                "player": answer,
                "fields": "player.uid,player.channelName,player.id,player.createTs,player.status",
            })),
        ))
    }

    fn list(&self, query: &str) -> Result<Answer, Refusal> {
        let channel = match query_param(query, "filter") {
            None => None,
            Some(filter) => Some(
                filter
                    .strip_prefix("channelName eq ")
                    .map(str::to_owned)
                    .ok_or_else(|| invalid("`filter` must be `channelName eq {name}`"))?,
            ),
        };
        let players: Vec<Value> = lock(&self.players)
            .iter()
            .filter(|p| !p.deleted && channel.as_deref().is_none_or(|c| p.channel() == c))
            .map(|p| {
                json!({
                    "id": p.id,
                    "channelName": p.channel(),
                    "name": p.request.get("name"),
                    "streamUrl": p.request.get("streamUrl"),
                    "status": p.status,
                })
            })
            .collect();
        Ok((
            200,
            Some(json!({"total": players.len(), "players": players, "cursor": ""})),
        ))
    }

    /// `PATCH …/players/{id}?sequence={n}`: see the module docs.
    fn update(&self, id: &str, query: &str, req: &Recorded) -> Result<Answer, Refusal> {
        if !req
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json"))
        {
            return Err(invalid("Content-Type must be application/json"));
        }
        let sequence = query_param(query, "sequence")
            .ok_or_else(|| invalid("the `sequence` query parameter is required"))?;
        let sequence: u64 = sequence
            .parse()
            .map_err(|_| invalid("`sequence` must be an integer greater than or equal to 0"))?;
        let body = req
            .body_json()
            .ok_or_else(|| invalid("the body is not JSON"))?;
        if let Some(extra) = body
            .as_object()
            .and_then(|o| o.keys().find(|k| *k != "player"))
        {
            return Err(invalid(format!("unknown field `{extra}`")));
        }
        let change = body
            .get("player")
            .and_then(Value::as_object)
            .ok_or_else(|| invalid("`player` must be an object"))?;
        const UPDATABLE: &[&str] = &["streamUrl", "audioOptions", "isPause", "seekPosition"];
        if let Some(extra) = change.keys().find(|k| !UPDATABLE.contains(&k.as_str())) {
            return Err(invalid(format!(
                "`player.{extra}` cannot be updated (streamUrl, audioOptions, isPause, seekPosition)"
            )));
        }
        if change.is_empty() {
            return Err(invalid("`player` names nothing to update"));
        }
        if let Some(url) = change.get("streamUrl") {
            check_stream_url(url.as_str().unwrap_or_default())?;
        }
        if let Some(audio) = change.get("audioOptions") {
            let audio = audio
                .as_object()
                .ok_or_else(|| invalid("`player.audioOptions` must be an object"))?;
            if let Some(volume) = audio.get("volume")
                && !volume.as_i64().is_some_and(|v| (0..=200).contains(&v))
            {
                return Err(invalid(
                    "`player.audioOptions.volume` must be an integer in 0..=200",
                ));
            }
        }
        if change.get("isPause").is_some_and(|v| !v.is_boolean()) {
            return Err(invalid("`player.isPause` must be a boolean"));
        }
        if change
            .get("seekPosition")
            .is_some_and(|v| v.as_u64().is_none())
        {
            return Err(invalid("`player.seekPosition` must be an integer ≥ 0"));
        }

        let mut players = lock(&self.players);
        let Some(player) = players.iter_mut().find(|p| p.id == id && !p.deleted) else {
            return Err(refuse(
                404,
                "NotFound",
                "Resource is not found and destroyed.",
            ));
        };
        if let Some(&(last, _)) = player.updates.last()
            && sequence <= last
        {
            return Err(refuse(
                409,
                "Conflict",
                format!("sequence {sequence} is not greater than the last update's {last}"),
            ));
        }
        for (key, value) in change {
            match (key.as_str(), player.request.get_mut(key)) {
                ("audioOptions", Some(Value::Object(current))) => {
                    for (k, v) in value.as_object().into_iter().flatten() {
                        current.insert(k.clone(), v.clone());
                    }
                }
                _ => {
                    player.request.insert(key.clone(), value.clone());
                }
            }
        }
        player.updates.push((sequence, change.clone()));
        Ok((200, None))
    }

    fn delete(&self, id: &str) -> Result<Answer, Refusal> {
        let mut players = lock(&self.players);
        match players.iter_mut().find(|p| p.id == id && !p.deleted) {
            Some(p) => {
                p.deleted = true;
                p.status = "stopped".to_owned();
                Ok((200, None))
            }
            None => Err(refuse(404, "NotFound", format!("player `{id}` not found"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::send;

    fn basic(id: &str, secret: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
        )
    }

    #[tokio::test]
    async fn create_list_delete_with_basic_auth() {
        let sim = AgoraSim::start(AgoraSimConfig::for_tests())
            .await
            .expect("starts");
        let cfg = sim.config().clone();
        let auth = basic(&cfg.customer_id, &cfg.customer_secret);
        let base = format!("/na/v1/projects/{}/cloud-player/players", cfg.app_id);
        let body = json!({"player": {"streamUrl": "rtmp://a/b", "channelName": "c1", "uid": 7, "name": "p"}});
        let headers = [
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
            ("x-request-id", "mine"),
        ];
        let r = send(sim.addr(), "POST", &base, &headers, body.to_string())
            .await
            .expect("create");
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.header("x-custom-request-id"), Some("mine"));
        let id = r.body_json().expect("json")["player"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        // Same name again: conflict.
        let again = send(sim.addr(), "POST", &base, &headers, body.to_string())
            .await
            .expect("again");
        assert_eq!(again.status, 409);
        let list = send(
            sim.addr(),
            "GET",
            &format!("{base}?filter=channelName%20eq%20c1"),
            &headers,
            "",
        )
        .await
        .expect("list");
        assert_eq!(
            list.body_json().expect("json")["players"][0]["id"],
            id.as_str()
        );
        let del = send(sim.addr(), "DELETE", &format!("{base}/{id}"), &headers, "")
            .await
            .expect("delete");
        assert_eq!(del.status, 200);
        assert!(sim.live().is_empty());

        // Wrong secret, missing header, another project, bad fields.
        let wrong = basic(&cfg.customer_id, "nope");
        let r = send(
            sim.addr(),
            "GET",
            &base,
            &[("authorization", wrong.as_str())],
            "",
        )
        .await
        .expect("wrong");
        assert_eq!(r.status, 401);
        let r = send(sim.addr(), "GET", &base, &[], "").await.expect("none");
        assert_eq!(r.status, 401);
        let other = base.replace(&cfg.app_id, "otherapp");
        let r = send(sim.addr(), "GET", &other, &headers, "")
            .await
            .expect("other");
        assert_eq!(r.status, 403);
        let bad =
            json!({"player": {"streamUrl": "ftp://a", "channelName": "c1", "uid": 7, "name": "q"}});
        let r = send(sim.addr(), "POST", &base, &headers, bad.to_string())
            .await
            .expect("bad");
        assert_eq!(r.status, 400);
        let both = json!({"player": {"streamUrl": "rtmp://a/b", "channelName": "c1", "uid": 7, "account": "x", "name": "q"}});
        let r = send(sim.addr(), "POST", &base, &headers, both.to_string())
            .await
            .expect("both");
        assert_eq!(r.status, 400);
    }

    /// `idleTimeout` is adjusted into 5..=600, not refused, as Agora's reference says its
    /// server does ("If the value is less than 5, Agora's server automatically adjusts it to
    /// 5; if the value is greater than 600, … to 600"; default 300): the player records the
    /// value it runs with, and its Player Created notice shows it.
    #[tokio::test]
    async fn idle_timeout_is_clamped_into_5_to_600() {
        let sim = AgoraSim::start(AgoraSimConfig::for_tests())
            .await
            .expect("starts");
        let cfg = sim.config().clone();
        let auth = basic(&cfg.customer_id, &cfg.customer_secret);
        let base = format!("/na/v1/projects/{}/cloud-player/players", cfg.app_id);
        let headers = [
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
        ];
        let cases = [
            (Some(json!(1)), 5),
            (Some(json!(0)), 5),
            (Some(json!(-3)), 5),
            (Some(json!(5)), 5),
            (Some(json!(120)), 120),
            (Some(json!(600)), 600),
            (Some(json!(601)), 600),
            (Some(json!(86_400)), 600),
            (Some(json!(u64::MAX)), 600),
            (None, 300),
        ];
        for (n, (given, applied)) in cases.iter().enumerate() {
            let mut player = json!({"streamUrl": "rtmp://a/b", "channelName": "c1",
                                    "account": format!("u{n}")});
            if let Some(given) = given {
                player["idleTimeout"] = given.clone();
            }
            let r = send(
                sim.addr(),
                "POST",
                &base,
                &headers,
                json!({"player": player}).to_string(),
            )
            .await
            .expect("create");
            assert_eq!(r.status, 200, "{given:?}: {r:?}");
            let p = sim.players().pop().expect("created");
            assert_eq!(p.idle_timeout, *applied, "{given:?}");
            assert_eq!(p.request.get("idleTimeout"), given.as_ref(), "kept as sent");
            let notice = sim.notice(&p.id, &NoticeEvent::Created).expect("notice");
            let v: Value = serde_json::from_slice(&notice.body).expect("json");
            assert_eq!(v["payload"]["player"]["idleTimeout"], *applied, "{given:?}");
        }
        for bad in [json!("120"), json!(7.5), json!(null), json!(true)] {
            let player = json!({"streamUrl": "rtmp://a/b", "channelName": "c1",
                                "account": "bad", "idleTimeout": bad});
            let r = send(
                sim.addr(),
                "POST",
                &base,
                &headers,
                json!({"player": player}).to_string(),
            )
            .await
            .expect("create");
            assert_eq!(r.status, 400, "{bad}: {r:?}");
        }
    }

    /// The signer reproduces the example Agora publishes for notification signatures
    /// (secret `secret`; docs.agora.io, "Signature verification").
    #[test]
    fn notice_signatures_match_agoras_published_example() {
        let body = br#"{"eventMs":1560408533119,"eventType":10,"noticeId":"4eb720f0-8da7-11e9-a43e-53f411c2761f","notifyMs":1560408533119,"payload":{"a":"1","b":2},"productId":1}"#;
        let (v1, v2) = notice_signatures("secret", body);
        assert_eq!(v1, "033c62f40f687675f17f0f41f91a40c71c0f134c");
        assert_eq!(
            v2,
            "6d3320c60b11101395b7fc8f9068748808a0aa1bfa064438e39d1bc2c7d74d99"
        );
    }

    #[tokio::test]
    async fn update_applies_changes_in_sequence_order() {
        let sim = AgoraSim::start(AgoraSimConfig::for_tests())
            .await
            .expect("starts");
        let cfg = sim.config().clone();
        let auth = basic(&cfg.customer_id, &cfg.customer_secret);
        let base = format!("/na/v1/projects/{}/cloud-player/players", cfg.app_id);
        let headers = [
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
        ];
        let body = json!({"player": {"streamUrl": "rtmp://a/b", "channelName": "c1", "uid": 7, "name": "p",
                                     "audioOptions": {"profile": 1}}});
        let r = send(sim.addr(), "POST", &base, &headers, body.to_string())
            .await
            .expect("create");
        let id = r.body_json().expect("json")["player"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let patch = |sequence: &str, player: Value| {
            let path = format!("{base}/{id}?sequence={sequence}");
            let addr = sim.addr();
            async move {
                send(
                    addr,
                    "PATCH",
                    &path,
                    &headers,
                    json!({"player": player}).to_string(),
                )
                .await
                .expect("patch")
            }
        };
        let r = patch(
            "5",
            json!({"streamUrl": "https://x/y.flv", "audioOptions": {"volume": 40}, "isPause": true}),
        )
        .await;
        assert_eq!((r.status, r.body.is_empty()), (200, true), "{r:?}");
        let p = &sim.live()[0];
        assert_eq!(p.stream_url(), "https://x/y.flv");
        assert_eq!((p.paused(), p.volume()), (true, Some(40)));
        assert_eq!(
            p.request["audioOptions"]["profile"], 1,
            "merged, not replaced"
        );
        // Not greater than the last sequence: refused, nothing changes.
        let r = patch("5", json!({"isPause": false})).await;
        assert_eq!(r.status, 409, "{r:?}");
        assert!(sim.live()[0].paused());
        let r = patch("6", json!({"isPause": false, "seekPosition": 40})).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert!(!sim.live()[0].paused());
        assert_eq!(sim.live()[0].updates.len(), 2);
        // Fields an update cannot change, bad values, a missing sequence.
        for (sequence, player) in [
            ("7", json!({"channelName": "c2"})),
            ("7", json!({"audioOptions": {"volume": 201}})),
            ("7", json!({"isPause": "yes"})),
            ("7", json!({})),
            ("-1", json!({"isPause": true})),
        ] {
            let r = patch(sequence, player.clone()).await;
            assert_eq!(r.status, 400, "{player}: {r:?}");
        }
        let r = send(
            sim.addr(),
            "PATCH",
            &format!("{base}/{id}"),
            &headers,
            json!({"player": {"isPause": true}}).to_string(),
        )
        .await
        .expect("no sequence");
        assert_eq!(r.status, 400);
        // Wrong credentials; an unknown or deleted player.
        let wrong = basic(&cfg.customer_id, "nope");
        let r = send(
            sim.addr(),
            "PATCH",
            &format!("{base}/{id}?sequence=9"),
            &[
                ("authorization", wrong.as_str()),
                ("content-type", "application/json"),
            ],
            json!({"player": {"isPause": true}}).to_string(),
        )
        .await
        .expect("wrong");
        assert_eq!(r.status, 401);
        let r = send(
            sim.addr(),
            "PATCH",
            &format!("{base}/nope?sequence=9"),
            &headers,
            json!({"player": {"isPause": true}}).to_string(),
        )
        .await
        .expect("unknown");
        assert_eq!(r.status, 404);
        send(sim.addr(), "DELETE", &format!("{base}/{id}"), &headers, "")
            .await
            .expect("delete");
        let r = patch("10", json!({"isPause": true})).await;
        assert_eq!(r.status, 404, "{r:?}");
    }

    #[tokio::test]
    async fn notices_describe_the_player_and_verify() {
        let sim = AgoraSim::start(AgoraSimConfig::for_tests())
            .await
            .expect("starts");
        let cfg = sim.config().clone();
        let auth = basic(&cfg.customer_id, &cfg.customer_secret);
        let base = format!("/na/v1/projects/{}/cloud-player/players", cfg.app_id);
        let body = json!({"player": {"streamUrl": "rtmp://a/b", "channelName": "c1", "uid": 7, "name": "p"}});
        send(
            sim.addr(),
            "POST",
            &base,
            &[
                ("authorization", auth.as_str()),
                ("content-type", "application/json"),
            ],
            body.to_string(),
        )
        .await
        .expect("create");
        let id = sim.live()[0].id.clone();
        assert!(sim.notice("nope", &NoticeEvent::Created).is_none());
        let n = sim
            .notice_at(
                &id,
                &NoticeEvent::StatusChanged("running".into()),
                1_700_000_000_000,
            )
            .expect("notice");
        let v: Value = serde_json::from_slice(&n.body).expect("json");
        assert_eq!(v["productId"], 4);
        assert_eq!(v["eventType"], 4);
        assert_eq!(v["notifyMs"], 1_700_000_000_000_u64);
        assert_eq!(v["payload"]["lts"], 1_699_999_999_000_u64);
        assert_eq!(v["payload"]["player"]["id"], id.as_str());
        assert_eq!(v["payload"]["player"]["channelName"], "c1");
        assert_eq!(v["payload"]["player"]["status"], "running");
        let (v1, v2) = notice_signatures(&cfg.notification_secret, &n.body);
        let header = |name: &str| {
            n.headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(header("Agora-Signature"), Some(v1));
        assert_eq!(header("Agora-Signature-V2"), Some(v2));
        let d = sim
            .notice(&id, &NoticeEvent::Destroyed("Idle Timeout".into()))
            .expect("notice");
        let v: Value = serde_json::from_slice(&d.body).expect("json");
        assert_eq!(
            (
                v["eventType"].as_u64(),
                v["payload"]["destroyReason"].as_str()
            ),
            (Some(3), Some("Idle Timeout"))
        );
        assert_ne!(
            v["noticeId"],
            serde_json::from_slice::<Value>(&n.body).expect("json")["noticeId"]
        );
    }

    /// Agora's own test vector for an RTC token (AgoraIO/Tools `DynamicKey/AgoraDynamicKey`:
    /// Go `accesstoken2/accesstoken_test.go` `Test_AccessToken_Build_ServiceRtc` and Python
    /// `python3/test/AccessToken2Test.py` `test_service_rtc`: App ID `970CA35d…`, certificate
    /// `5CFd2fd1…`, RTC service for channel `7d72365e…` and uid "2882341273" with only the
    /// join privilege for 600 s, issueTs 1111111, salt 1, expire 600). The two languages
    /// publish different strings for the same token — Python's `zlib.compress` and Go's zlib
    /// writer frame the same bytes differently, and miniz (here) stores them uncompressed — so
    /// the strings are compared after inflating: [`build_rtc_token`] with those inputs is both
    /// vectors byte for byte, the whole token (the packed signature and every signed byte after
    /// it), and both vectors parse and verify with this file's code.
    #[test]
    fn tokens_match_agoras_published_test_vector() {
        const APP_ID: &str = "970CA35de60c44645bbae8a215061b33";
        const CERT: &str = "5CFd2fd1755d40ecb72977518be15d3b";
        const CHANNEL: &str = "7d72365eb983485397e3e3f9d460bdda";
        const UID: &str = "2882341273";
        const GO: &str = "007eJxSYBBbsMMnKq7p9Hf/HcIX5kce9b518kCiQgSr5Zrp4X1Tu6UUGCzNDZwdjU1TUs0Mkk1MzExMk5ISUy0SjQxNDcwMk4yN3b8IMEQwMTAwMoAwBIL4CgzmKeZGxmamqUmWFsYmFqbGluapxqnGaZYpJmYGSSkpiVwMRhYWRsYmhkbmxoAAAAD//8JqJOM=";
        const PYTHON: &str = "007eJxTYBBbsMMnKq7p9Hf/HcIX5kce9b518kCiQgSr5Zrp4X1Tu6UUGCzNDZwdjU1TUs0Mkk1MzExMk5ISUy0SjQxNDcwMk4yN3b8IMEQwMTAwMoAwBIL4CgzmKeZGxmamqUmWFsYmFqbGluapxqnGaZYpJmYGSSkpiVwMRhYWRsYmhkbmxgDCaiTj";
        let header = TokenHeader {
            app_id: APP_ID,
            certificate: CERT,
            issue_ts: 1_111_111,
            expire: 600,
            salt: 1,
        };
        let ours = build_rtc_token(header, CHANNEL, UID, &[(PRIVILEGE_JOIN_CHANNEL, 600)]);
        let ours_raw = inflated(&ours);
        for vector in [GO, PYTHON] {
            assert_eq!(
                inflated(vector),
                ours_raw,
                "the whole token, inflated: {vector}"
            );
            assert_eq!(parse_token(vector), parse_token(&ours), "{vector}");
        }
        let ours = parse_token(&ours).expect("ours parses");
        assert_eq!(ours.app_id, APP_ID);
        assert_eq!((ours.issue_ts, ours.expire, ours.salt), (1_111_111, 600, 1));
        let (privileges, channel, user) = ours.rtc.clone().expect("rtc");
        assert_eq!(privileges.into_iter().collect::<Vec<_>>(), vec![(1, 600)]);
        assert_eq!((channel.as_str(), user.as_str()), (CHANNEL, UID));

        let now = 1_111_111 + 10;
        for vector in [GO, PYTHON] {
            verify_rtc_token(vector, APP_ID, CERT, CHANNEL, UID, now).expect("verifies");
            let wrong = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
            assert!(verify_rtc_token(vector, APP_ID, wrong, CHANNEL, UID, now).is_err());
            assert!(verify_rtc_token(vector, APP_ID, CERT, CHANNEL, UID, 1_111_712).is_err());
            assert!(verify_rtc_token(vector, APP_ID, CERT, "other", UID, now).is_err());
        }

        // The publisher token the simulator hands out differs only in its privileges.
        let publisher = build_rtc_token(header, CHANNEL, UID, &publisher_privileges(600));
        let parsed = parse_token(&publisher).expect("publisher parses");
        assert_eq!(
            parsed.rtc.expect("rtc").0.into_iter().collect::<Vec<_>>(),
            vec![(1, 600), (2, 600), (3, 600), (4, 600)]
        );
        verify_rtc_token(&publisher, APP_ID, CERT, CHANNEL, UID, now).expect("verifies");
    }

    /// A token's bytes after the version: base64-decoded and inflated (zlib).
    fn inflated(token: &str) -> Vec<u8> {
        let compressed = base64::engine::general_purpose::STANDARD
            .decode(token.strip_prefix(TOKEN_VERSION).expect("version"))
            .expect("base64");
        miniz_oxide::inflate::decompress_to_vec_zlib(&compressed).expect("zlib")
    }

    /// A uid and an account are different users: a token for account "007" admits neither
    /// uid 7 nor account "7"; one for uid 7 does not admit account "007".
    #[test]
    fn token_users_are_accounts_or_uids_as_text() {
        let cert = "0123456789abcdef0123456789abcdef";
        let header = TokenHeader {
            app_id: "app",
            certificate: cert,
            issue_ts: 1_000,
            expire: 3_600,
            salt: 9,
        };
        let build = |user: &str| build_rtc_token(header, "c", user, &publisher_privileges(3_600));
        let token = build("007");
        let check = |user: &str| verify_rtc_token(&token, "app", cert, "c", user, 1_100);
        check("007").expect("account 007");
        let e = check(&rtc_user_of_uid(7)).expect_err("uid 7");
        assert!(e.contains("`007`") && e.contains("`7`"), "{e}");
        assert!(check("7").is_err());
        let uid7 = build(&rtc_user_of_uid(7));
        assert!(verify_rtc_token(&uid7, "app", cert, "c", "007", 1_100).is_err());
        verify_rtc_token(&uid7, "app", cert, "c", "7", 1_100).expect("uid 7");
        assert_eq!(rtc_user_of_uid(0), "");
        // Other project, garbage: refused, never a panic.
        assert!(verify_rtc_token(&token, "other", cert, "c", "007", 1_100).is_err());
        for junk in [
            "",
            "007",
            "006abc",
            "007!!!",
            "007eJw=",
            &format!("{token}x"),
        ] {
            assert!(
                verify_rtc_token(junk, "app", cert, "c", "007", 1_100).is_err(),
                "{junk}"
            );
        }
    }

    /// With an App Certificate, a player whose token names another user is created and then
    /// `failed`; the right user is admitted. Player names follow Agora's rule.
    #[tokio::test]
    async fn accounts_and_uids_are_different_users_and_names_are_checked() {
        let cert = "0123456789abcdef0123456789abcdef";
        let sim = AgoraSim::start(AgoraSimConfig::for_tests().with_app_certificate(cert))
            .await
            .expect("starts");
        let cfg = sim.config().clone();
        let auth = basic(&cfg.customer_id, &cfg.customer_secret);
        let base = format!("/na/v1/projects/{}/cloud-player/players", cfg.app_id);
        let headers = [
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
        ];
        let token = sim.token_for_account("c1", "007");
        let create = |player: Value| {
            let (addr, base) = (sim.addr(), base.clone());
            async move {
                send(
                    addr,
                    "POST",
                    &base,
                    &headers,
                    json!({"player": player}).to_string(),
                )
                .await
                .expect("create")
            }
        };
        let r = create(
            json!({"streamUrl": "rtmp://a/b", "channelName": "c1", "account": "007",
                              "token": token, "name": "p1"}),
        )
        .await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.body_json().expect("json")["player"]["account"], "007");
        assert_eq!(
            r.body_json().expect("json")["player"]["status"],
            "connecting"
        );
        let p = &sim.players()[0];
        assert_eq!(
            (p.account(), p.uid(), p.token_error.as_deref()),
            (Some("007"), None, None)
        );

        // The same token with uid 7: another user.
        let r = create(
            json!({"streamUrl": "rtmp://a/b", "channelName": "c1", "uid": 7,
                              "token": token, "name": "p2"}),
        )
        .await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.body_json().expect("json")["player"]["status"], "failed");
        let p = &sim.players()[1];
        assert_eq!((p.uid(), p.status.as_str()), (Some(7), "failed"));
        assert!(
            p.token_error
                .as_deref()
                .is_some_and(|e| e.contains("`007`")),
            "{p:?}"
        );
        // A uid token admits its uid; no token is a failure too.
        let r = create(
            json!({"streamUrl": "rtmp://a/b", "channelName": "c1", "uid": 7,
                              "token": sim.token_for_uid("c1", 7), "name": "p3"}),
        )
        .await;
        assert_eq!(
            r.body_json().expect("json")["player"]["status"],
            "connecting",
            "{r:?}"
        );
        let r =
            create(json!({"streamUrl": "rtmp://a/b", "channelName": "c1", "account": "x"})).await;
        assert_eq!(
            r.body_json().expect("json")["player"]["status"],
            "failed",
            "{r:?}"
        );
        assert_eq!(
            sim.players()[3].request.get("name"),
            None,
            "name is optional"
        );

        // Names: a-z A-Z 0-9 - _ only, at most 64.
        for bad in [
            json!("relay 1"),
            json!("relay.1"),
            json!("relé"),
            json!(""),
            json!("x".repeat(65)),
            json!(7),
        ] {
            let r = create(
                json!({"streamUrl": "rtmp://a/b", "channelName": "c1", "account": "y",
                                  "name": bad}),
            )
            .await;
            assert_eq!(r.status, 400, "{bad}: {r:?}");
        }
        let r = create(
            json!({"streamUrl": "rtmp://a/b", "channelName": "c1", "account": "y",
                              "name": "A-z_09".repeat(10)}),
        )
        .await;
        assert_eq!(r.status, 200, "{r:?}");
        // uid 0: Agora assigns one; a uid beyond 32 bits or a string uid is refused.
        let r = create(json!({"streamUrl": "rtmp://a/b", "channelName": "c1", "uid": 0})).await;
        assert!(
            r.body_json().expect("json")["player"]["uid"]
                .as_u64()
                .is_some_and(|u| u > 0),
            "{r:?}"
        );
        for bad in [json!(4_294_967_296_u64), json!("7"), json!(-1)] {
            let r =
                create(json!({"streamUrl": "rtmp://a/b", "channelName": "c1", "uid": bad})).await;
            assert_eq!(r.status, 400, "{bad}: {r:?}");
        }
    }
}
