//! Agora Media Pull ("cloud player") simulator.
//!
//! Written from `shared/vendors/more-vendors.md` only (never from the plugin). It serves
//!
//! - `POST /{region}/v1/projects/{appId}/cloud-player/players` — create a player;
//! - `DELETE /{region}/v1/projects/{appId}/cloud-player/players/{playerId}` — delete it;
//! - `GET /{region}/v1/projects/{appId}/cloud-player/players?filter=channelName eq {name}` — list,
//!
//! checks `Authorization: Basic base64(customerId:customerSecret)` by decoding it (HTTP 401),
//! the project in the path (403), the region (404), and the `player` object's fields and types
//! (400): `streamUrl` (http/https/rtmp/rtmps), `channelName` (1..64 bytes), exactly one of `uid`
//! (1..2^32-1) and `account`, `name` (1..64 bytes, unique among the project's players: 409),
//! optional `token`, `idleTimeout` (≥ 1), `playTs` (≥ 0), `repeatTime` (-1 or ≥ 1),
//! `audioOptions` / `videoOptions` (objects); any other field is refused. Players live in
//! memory with a status (`connecting` until a test says otherwise).
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
use serde_json::{Map, Value, json};

use crate::server::{Recorded, SimResponse, SimServer, VendorHandler, lock};

/// The regions served.
pub const REGIONS: &[&str] = &["na", "eu", "ap", "cn"];
/// The demo's App ID.
pub const DEMO_APP_ID: &str = "demoagoraappid0001";
/// The demo's RESTful customer id (not a real credential).
pub const DEMO_CUSTOMER_ID: &str = "demo-agora-customer-id";
/// The demo's RESTful customer secret (not a real credential).
pub const DEMO_CUSTOMER_SECRET: &str = "demo-agora-customer-secret";

/// The project and RESTful credentials the simulator knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgoraSimConfig {
    /// The App ID; another in a path is refused with 403.
    pub app_id: String,
    /// The customer id half of the Basic credential.
    pub customer_id: String,
    /// The customer secret half of the Basic credential.
    pub customer_secret: String,
}

impl AgoraSimConfig {
    /// Fixed, fake credentials for tests.
    pub fn for_tests() -> Self {
        Self {
            app_id: "testagoraappid0001".to_owned(),
            customer_id: "test-agora-customer-id".to_owned(),
            customer_secret: "test-agora-customer-secret".to_owned(),
        }
    }

    /// The demo's credentials.
    pub fn demo() -> Self {
        Self {
            app_id: DEMO_APP_ID.to_owned(),
            customer_id: DEMO_CUSTOMER_ID.to_owned(),
            customer_secret: DEMO_CUSTOMER_SECRET.to_owned(),
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
    /// The `player` object as received.
    pub request: Map<String, Value>,
    /// Its status: `connecting`, `running`, `failed` (set by tests), …
    pub status: String,
    /// Whether it was deleted.
    pub deleted: bool,
}

impl SimPlayer {
    /// `player.channelName`.
    pub fn channel(&self) -> &str {
        self.request
            .get("channelName")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
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

/// Whether `value` is 1..=`max` bytes of the characters Agora allows in channel names and
/// user accounts.
fn valid_name(value: &str, max: usize) -> bool {
    !value.is_empty()
        && value.len() <= max
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b" !#$%&()+-:;<=.>?@[]^_{}|~,".contains(&b))
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
        let scheme_ok = ["http://", "https://", "rtmp://", "rtmps://"]
            .iter()
            .any(|s| {
                stream_url
                    .get(..s.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(s))
                    && stream_url.len() > s.len()
            });
        if !scheme_ok {
            return Err(invalid(
                "`player.streamUrl` must be an http(s) or rtmp(s) URL",
            ));
        }
        let channel = str_field("channelName").unwrap_or_default();
        if !valid_name(channel, 64) {
            return Err(invalid(
                "`player.channelName` must be 1 to 64 allowed characters",
            ));
        }
        match (player.get("uid"), player.get("account")) {
            (Some(uid), None) => {
                if !uid
                    .as_u64()
                    .is_some_and(|u| (1..=u64::from(u32::MAX)).contains(&u))
                {
                    return Err(invalid("`player.uid` must be an integer in 1..=4294967295"));
                }
            }
            (None, Some(account)) => {
                if !account.as_str().is_some_and(|a| valid_name(a, 255)) {
                    return Err(invalid(
                        "`player.account` must be 1 to 255 allowed characters",
                    ));
                }
            }
            _ => {
                return Err(invalid(
                    "exactly one of `player.uid` and `player.account` is required",
                ));
            }
        }
        let name = str_field("name").unwrap_or_default();
        if name.is_empty() || name.len() > 64 {
            return Err(invalid("`player.name` must be 1 to 64 bytes"));
        }
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
        int("idleTimeout", |n| n >= 1)?;
        int("playTs", |n| n >= 0)?;
        int("repeatTime", |n| n == -1 || n >= 1)?;
        for key in ["audioOptions", "videoOptions"] {
            if player.get(key).is_some_and(|v| !v.is_object()) {
                return Err(invalid(format!("`player.{key}` must be an object")));
            }
        }

        let mut players = lock(&self.players);
        if players
            .iter()
            .any(|p| !p.deleted && p.request.get("name").and_then(Value::as_str) == Some(name))
        {
            return Err(refuse(
                409,
                "Conflict",
                format!("a player named `{name}` already exists"),
            ));
        }
        let id = format!("agora-player-{:04}", players.len() + 1);
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        players.push(SimPlayer {
            id: id.clone(),
            region: region.to_owned(),
            request: player.clone(),
            status: "connecting".to_owned(),
            deleted: false,
        });
        let mut answer = Map::new();
        if let Some(uid) = player.get("uid") {
            answer.insert("uid".into(), uid.clone());
        }
        if let Some(account) = player.get("account") {
            answer.insert("account".into(), account.clone());
        }
        answer.insert("channelName".into(), channel.into());
        answer.insert("id".into(), id.into());
        answer.insert("createTs".into(), created.into());
        answer.insert("status".into(), "connecting".into());
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
}
