//! JOYY / Jocloud Thunder relayed-live-broadcasting simulator (`startrtmp`, `stoprtmp`).
//!
//! Written from `shared/vendors/jocloud-thunder.md` only. It serves
//! `POST /app/{appid}/{prefix}/{startrtmp|stoprtmp}?traceId=…` for both documented prefixes
//! (`v2/rtmpforward` and `v1/recordoss`), checks the `token: Basic base64(id:secret)` header
//! against its API certificate (HTTP 401), the application in the path (403), the body's
//! fields and Jocloud's rules (at most 5 comma-separated destinations, a destination used by
//! one running task only), keeps the relays in memory, and answers JSON.
//!
//! A start for a running task (same room, and same task id or uid) updates it, as the vendor
//! documents for layout changes: its destinations, `templateid` and whole `mixconfig` are
//! replaced by the new start's, and the update's `traceId` is recorded
//! ([`SimRelay::update_trace_ids`]). A start for a task that is not running (never started, or
//! stopped) starts a new relay, as it would at Jocloud, which has no separate update call: a
//! stopped relay stays in the list as it was, next to the new one.
//!
//! Jocloud publishes no response shapes for these two operations, so these are the simulator's
//! choices: success is HTTP 200 `{"code":0,"msg":"success"}`; a failure it detects itself is
//! its HTTP status (400 invalid, 401 credential, 403 wrong application, 404 unknown path or
//! task, 409 destination in use) with `{"code":<status>,"msg":"…"}`. There is no timestamp in
//! this scheme, so nothing can be stale.
//!
//! Jocloud's other REST APIs on the same host answer an error with HTTP **200** and a non-zero
//! `code` (`{"code": <non-zero>, "message": "…"}`). [`Fault::VendorError`] renders that shape for
//! any code that is not an HTTP error status (`"20001"`, `"E_DEST"` …); a code that is one
//! (400..=599) is answered with that HTTP status instead, as above.
//!
//! [`Fault::VendorError`]: crate::server::Fault::VendorError

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::server::{Recorded, SimResponse, SimServer, VendorHandler, lock};

/// The path prefixes served (the relay API's, and the one the docs' overview shows).
pub const PREFIXES: &[&str] = &["v2/rtmpforward", "v1/recordoss"];
/// Most destinations per task.
pub const MAX_DESTINATIONS: usize = 5;
/// The demo's application id.
pub const DEMO_APP_ID: u64 = 1_500_000_001;
/// The demo's API certificate id (not a real credential).
pub const DEMO_RESTFUL_ID: &str = "demo-jocloud-restful-id";
/// The demo's API certificate key (not a real credential).
pub const DEMO_RESTFUL_SECRET: &str = "demo-jocloud-restful-secret";

/// The one application and API certificate the simulator knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JocloudSimConfig {
    /// The application id; any other in a path is refused with 403.
    pub app_id: u64,
    /// The API certificate id.
    pub restful_id: String,
    /// The API certificate key.
    pub restful_secret: String,
}

impl JocloudSimConfig {
    /// Fixed, fake credentials for tests.
    pub fn for_tests() -> Self {
        Self {
            app_id: 1_500_000_002,
            restful_id: "test-jocloud-restful-id".to_owned(),
            restful_secret: "test-jocloud-restful-secret".to_owned(),
        }
    }

    /// The demo's credentials ([`DEMO_APP_ID`], [`DEMO_RESTFUL_ID`], [`DEMO_RESTFUL_SECRET`]).
    pub fn demo() -> Self {
        Self {
            app_id: DEMO_APP_ID,
            restful_id: DEMO_RESTFUL_ID.to_owned(),
            restful_secret: DEMO_RESTFUL_SECRET.to_owned(),
        }
    }
}

impl Default for JocloudSimConfig {
    /// Same as [`JocloudSimConfig::for_tests`].
    fn default() -> Self {
        Self::for_tests()
    }
}

/// Whether a relay is pushing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelayState {
    /// Pushing to its destinations.
    Running,
    /// Stopped by `stoprtmp`.
    Stopped,
}

/// One relay task as the simulator holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimRelay {
    /// `roomid`.
    pub roomid: String,
    /// `streamtype`: 1 mixed, 2 one source stream.
    pub streamtype: u64,
    /// `taskid` (mixed).
    pub taskid: Option<String>,
    /// `uid` (source).
    pub uid: Option<String>,
    /// The destinations, in order.
    pub destinations: Vec<String>,
    /// `mixconfig.templateid`, if any.
    pub templateid: Option<u64>,
    /// The whole `mixconfig` as last received (mixed), else `None`.
    pub mixconfig: Option<Value>,
    /// The `traceId` of the start that created it.
    pub trace_id: String,
    /// How many later starts updated it.
    pub updates: u32,
    /// The `traceId`s of the starts that updated it, in order.
    pub update_trace_ids: Vec<String>,
    /// Running or stopped.
    pub state: RelayState,
}

/// A running Jocloud simulator. Dropping it stops the server.
pub struct JocloudSim {
    server: SimServer,
    jo: Arc<Jo>,
}

impl std::fmt::Debug for JocloudSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JocloudSim")
            .field("addr", &self.server.addr())
            .field("app_id", &self.jo.cfg.app_id)
            .finish_non_exhaustive()
    }
}

crate::sim::deref_to_server!(JocloudSim);

impl JocloudSim {
    /// Starts on `127.0.0.1:0` (a free port).
    pub async fn start(cfg: JocloudSimConfig) -> anyhow::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), cfg).await
    }

    /// Starts on `addr`.
    pub async fn start_on(addr: SocketAddr, cfg: JocloudSimConfig) -> anyhow::Result<Self> {
        let jo = Arc::new(Jo {
            cfg,
            relays: Mutex::new(Vec::new()),
        });
        let server = SimServer::start_on(addr, Arc::clone(&jo) as Arc<dyn VendorHandler>).await?;
        Ok(Self { server, jo })
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &JocloudSimConfig {
        &self.jo.cfg
    }

    /// The underlying server.
    pub fn server(&self) -> &SimServer {
        &self.server
    }

    /// Every relay ever started, in start order.
    pub fn relays(&self) -> Vec<SimRelay> {
        lock(&self.jo.relays).clone()
    }

    /// The relays currently pushing.
    pub fn running(&self) -> Vec<SimRelay> {
        self.relays()
            .into_iter()
            .filter(|r| r.state == RelayState::Running)
            .collect()
    }
}

/// The vendor handler.
struct Jo {
    cfg: JocloudSimConfig,
    relays: Mutex<Vec<SimRelay>>,
}

/// An error answer: HTTP status and message.
#[derive(Debug)]
struct ApiError {
    status: u16,
    message: String,
}

fn fail(status: u16, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        message: message.into(),
    }
}

fn bad(message: impl Into<String>) -> ApiError {
    fail(400, message)
}

impl VendorHandler for Jo {
    fn handle(&self, request: &Recorded) -> SimResponse {
        match self.dispatch(request) {
            Ok(()) => SimResponse::json(200, &json!({"code": 0, "msg": "success"})),
            Err(e) => SimResponse::json(e.status, &json!({"code": e.status, "msg": e.message})),
        }
    }

    /// A code that is an HTTP error status (400..=599) is answered with that status and
    /// `{"code", "msg"}`; any other code the way Jocloud's REST APIs carry errors: HTTP 200 with
    /// `{"code": <code>, "message": …}` (a number when the code is one).
    fn vendor_error(&self, _request: &Recorded, code: &str, message: &str) -> SimResponse {
        let status = code.parse::<u16>().ok().filter(|s| (400..600).contains(s));
        let code_value = code
            .parse::<i64>()
            .map_or_else(|_| Value::String(code.to_owned()), Value::from);
        match status {
            Some(status) => SimResponse::json(status, &json!({"code": code_value, "msg": message})),
            None => SimResponse::json(200, &json!({"code": code_value, "message": message})),
        }
    }
}

/// The value of query parameter `name`, percent-decoded.
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

impl Jo {
    fn dispatch(&self, req: &Recorded) -> Result<(), ApiError> {
        let (path, query) = req
            .path_and_query
            .split_once('?')
            .unwrap_or((req.path_and_query.as_str(), ""));
        let not_found = || fail(404, format!("no API at {} {path}", req.method));
        if req.method != "POST" {
            return Err(not_found());
        }
        // /app/{appid}/{prefix…}/{op}
        let rest = path.strip_prefix("/app/").ok_or_else(not_found)?;
        let (app, rest) = rest.split_once('/').ok_or_else(not_found)?;
        let (prefix, op) = rest.rsplit_once('/').ok_or_else(not_found)?;
        if !PREFIXES.contains(&prefix) || !matches!(op, "startrtmp" | "stoprtmp") {
            return Err(not_found());
        }
        let trace_id = query_param(query, "traceId")
            .filter(|t| !t.is_empty())
            .ok_or_else(|| bad("the traceId query parameter is required"))?;
        self.authenticate(req)?;
        let app_id = app
            .parse::<u64>()
            .map_err(|_| fail(404, format!("`{app}` is not an application id")))?;
        if app_id != self.cfg.app_id {
            return Err(fail(
                403,
                format!("the API certificate is not valid for application {app_id}"),
            ));
        }
        let content_type = req.header("content-type").unwrap_or_default();
        if !content_type
            .to_ascii_lowercase()
            .starts_with("application/json")
        {
            return Err(bad("Content-Type must be application/json;charset=utf-8"));
        }
        let body = match serde_json::from_slice::<Value>(&req.body) {
            Ok(Value::Object(map)) => map,
            _ => return Err(bad("the body must be a JSON object")),
        };
        match body.get("appid").and_then(Value::as_u64) {
            Some(id) if id == app_id => {}
            Some(id) => return Err(bad(format!("appid {id} does not match the path"))),
            None => return Err(bad("appid (uint64) is required")),
        }
        if op == "startrtmp" {
            self.start(&body, trace_id)
        } else {
            self.stop(&body)
        }
    }

    /// `token: Basic base64(restfulId:restfulSecret)`.
    fn authenticate(&self, req: &Recorded) -> Result<(), ApiError> {
        let unauthorized = |why: &str| fail(401, format!("authentication failed: {why}"));
        let token = req
            .header("token")
            .ok_or_else(|| unauthorized("the token header is missing"))?;
        let (scheme, credential) = token
            .trim()
            .split_once(' ')
            .ok_or_else(|| unauthorized("the token header must be `Basic <credential>`"))?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(unauthorized("the token header must use the Basic scheme"));
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(credential.trim())
            .map_err(|_| unauthorized("the credential is not base64"))?;
        let decoded =
            String::from_utf8(decoded).map_err(|_| unauthorized("the credential is not text"))?;
        let (id, secret) = decoded
            .split_once(':')
            .ok_or_else(|| unauthorized("the credential is not id:secret"))?;
        if id != self.cfg.restful_id || secret != self.cfg.restful_secret {
            return Err(unauthorized("unknown API certificate or wrong key"));
        }
        Ok(())
    }

    fn start(&self, body: &Map<String, Value>, trace_id: String) -> Result<(), ApiError> {
        let roomid = required_str(body, "roomid")?;
        let destinations = parse_destinations(body)?;
        let streamtype = body
            .get("streamtype")
            .and_then(Value::as_u64)
            .filter(|t| *t == 1 || *t == 2)
            .ok_or_else(|| bad("streamtype must be 1 (mixed) or 2 (source)"))?;
        let (taskid, uid, templateid, mixconfig) = if streamtype == 1 {
            let taskid = required_str(body, "taskid")?;
            let mix = body
                .get("mixconfig")
                .and_then(Value::as_object)
                .ok_or_else(|| bad("mixconfig is required for a mixed stream"))?;
            if !mix.get("output").is_some_and(Value::is_object) {
                return Err(bad("mixconfig.output (object) is required"));
            }
            let templateid = match mix.get("templateid") {
                None => None,
                Some(v) => Some(
                    v.as_u64()
                        .filter(|t| (1..=4).contains(t))
                        .ok_or_else(|| bad("mixconfig.templateid must be 1, 2, 3 or 4"))?,
                ),
            };
            match mix.get("input") {
                None if templateid.is_none() => {
                    return Err(bad("mixconfig.input is required without a templateid"));
                }
                None => {}
                Some(Value::Array(items)) if !items.is_empty() => {}
                Some(_) => return Err(bad("mixconfig.input must be a non-empty array")),
            }
            (
                Some(taskid),
                None,
                templateid,
                Some(Value::Object(mix.clone())),
            )
        } else {
            (None, Some(required_str(body, "uid")?), None, None)
        };

        let mut relays = lock(&self.relays);
        let same = |r: &SimRelay| {
            r.state == RelayState::Running
                && r.roomid == roomid
                && r.taskid == taskid
                && r.uid == uid
        };
        for r in relays
            .iter()
            .filter(|r| r.state == RelayState::Running && !same(r))
        {
            if let Some(d) = destinations.iter().find(|d| r.destinations.contains(d)) {
                return Err(fail(
                    409,
                    format!("the destination {d} is already used by another task"),
                ));
            }
        }
        if let Some(existing) = relays.iter_mut().find(|r| same(r)) {
            existing.destinations = destinations;
            existing.templateid = templateid;
            existing.mixconfig = mixconfig;
            existing.updates += 1;
            existing.update_trace_ids.push(trace_id);
            return Ok(());
        }
        relays.push(SimRelay {
            roomid,
            streamtype,
            taskid,
            uid,
            destinations,
            templateid,
            mixconfig,
            trace_id,
            updates: 0,
            update_trace_ids: Vec::new(),
            state: RelayState::Running,
        });
        Ok(())
    }

    fn stop(&self, body: &Map<String, Value>) -> Result<(), ApiError> {
        let roomid = required_str(body, "roomid")?;
        let taskid = optional_str(body, "taskid")?;
        let uid = optional_str(body, "uid")?;
        if taskid.is_some() == uid.is_some() {
            return Err(bad(
                "stop needs exactly one of taskid (mixed) or uid (source)",
            ));
        }
        let mut relays = lock(&self.relays);
        let relay = relays.iter_mut().find(|r| {
            r.state == RelayState::Running
                && r.roomid == roomid
                && r.taskid == taskid
                && r.uid == uid
        });
        match relay {
            Some(r) => {
                r.state = RelayState::Stopped;
                Ok(())
            }
            None => Err(fail(404, "no such relay task is running")),
        }
    }
}

fn required_str(body: &Map<String, Value>, key: &str) -> Result<String, ApiError> {
    match body.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        _ => Err(bad(format!("{key} (non-empty string) is required"))),
    }
}

fn optional_str(body: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
        Some(_) => Err(bad(format!("{key} must be a non-empty string"))),
    }
}

/// `rtmpurl`: 1 to 5 comma-separated `rtmp://` / `rtmps://` addresses, all distinct.
fn parse_destinations(body: &Map<String, Value>) -> Result<Vec<String>, ApiError> {
    let text = required_str(body, "rtmpurl")?;
    let list: Vec<String> = text.split(',').map(|s| s.trim().to_owned()).collect();
    if list.len() > MAX_DESTINATIONS {
        return Err(bad(format!(
            "rtmpurl names {} addresses; at most {MAX_DESTINATIONS}",
            list.len()
        )));
    }
    for (i, url) in list.iter().enumerate() {
        let lower = url.to_ascii_lowercase();
        let rest = lower
            .strip_prefix("rtmp://")
            .or_else(|| lower.strip_prefix("rtmps://"));
        if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
            return Err(bad(format!("rtmpurl address `{url}` is not an RTMP URL")));
        }
        if list.iter().skip(i + 1).any(|other| other == url) {
            return Err(bad(format!("rtmpurl repeats `{url}`")));
        }
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::Fault;
    use crate::server::send;

    async fn sim() -> JocloudSim {
        JocloudSim::start(JocloudSimConfig::for_tests())
            .await
            .expect("simulator starts")
    }

    /// A tiny independent base64 encoder (RFC 4648, with padding) for the test's credential.
    fn b64(input: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in input.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
            for i in 0..4 {
                if i <= chunk.len() {
                    let idx = usize::try_from((n >> (18 - 6 * i)) & 63).unwrap_or(0);
                    out.push(char::from(A[idx]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    fn token(sim: &JocloudSim) -> String {
        let c = sim.config();
        format!(
            "Basic {}",
            b64(format!("{}:{}", c.restful_id, c.restful_secret).as_bytes())
        )
    }

    fn path(sim: &JocloudSim, op: &str) -> String {
        format!(
            "/app/{}/v2/rtmpforward/{op}?traceId=t-1",
            sim.config().app_id
        )
    }

    async fn post_with(
        sim: &JocloudSim,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> SimResponse {
        let mut h = vec![("content-type", "application/json;charset=utf-8")];
        if let Some(t) = token {
            h.push(("token", t));
        }
        send(sim.addr(), "POST", path, &h, body.to_string())
            .await
            .expect("transport")
    }

    async fn post(sim: &JocloudSim, op: &str, body: &Value) -> SimResponse {
        let t = token(sim);
        post_with(sim, &path(sim, op), Some(&t), body).await
    }

    fn source(sim: &JocloudSim) -> Value {
        json!({"appid": sim.config().app_id, "roomid": "42", "rtmpurl": "rtmp://cdn.example.invalid/live/a",
               "streamtype": 2, "uid": "alice"})
    }

    fn mixed(sim: &JocloudSim) -> Value {
        json!({"appid": sim.config().app_id, "roomid": "42",
               "rtmpurl": "rtmp://cdn.example.invalid/live/m1,rtmps://cdn2.example.invalid/live/m2",
               "streamtype": 1, "taskid": "mix-1",
               "mixconfig": {"templateid": 3, "output": {"width": 1280}}})
    }

    #[test]
    fn the_test_encoder_agrees_with_rfc_4648() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(b64(plain.as_bytes()), encoded);
        }
    }

    #[tokio::test]
    async fn source_relay_start_update_stop() {
        let sim = sim().await;
        let a = post(&sim, "startrtmp", &source(&sim)).await;
        assert_eq!(a.status, 200, "{a:?}");
        assert_eq!(a.body_json(), Some(json!({"code": 0, "msg": "success"})));
        let relays = sim.running();
        assert_eq!(relays.len(), 1);
        assert_eq!(relays[0].uid.as_deref(), Some("alice"));
        assert_eq!(relays[0].trace_id, "t-1");

        // Starting the same task again updates it.
        let mut update = source(&sim);
        update["rtmpurl"] = json!("rtmp://cdn.example.invalid/live/b");
        assert_eq!(post(&sim, "startrtmp", &update).await.status, 200);
        let relays = sim.relays();
        assert_eq!(relays.len(), 1);
        assert_eq!(relays[0].updates, 1);
        assert_eq!(
            relays[0].destinations,
            ["rtmp://cdn.example.invalid/live/b"]
        );

        assert_eq!(relays[0].update_trace_ids, ["t-1"]);
        assert_eq!(relays[0].mixconfig, None);

        let stop = json!({"appid": sim.config().app_id, "roomid": "42", "uid": "alice"});
        assert_eq!(post(&sim, "stoprtmp", &stop).await.status, 200);
        assert!(sim.running().is_empty());
        assert_eq!(post(&sim, "stoprtmp", &stop).await.status, 404);

        // A start for the stopped task starts a new relay; the stopped one stays as it was.
        let t = token(&sim);
        let again = format!(
            "/app/{}/v2/rtmpforward/startrtmp?traceId=t-2",
            sim.config().app_id
        );
        assert_eq!(post_with(&sim, &again, Some(&t), &update).await.status, 200);
        let relays = sim.relays();
        assert_eq!(relays.len(), 2);
        assert_eq!(
            (relays[0].state, relays[0].updates),
            (RelayState::Stopped, 1)
        );
        assert_eq!(
            (
                relays[1].state,
                relays[1].updates,
                relays[1].trace_id.as_str()
            ),
            (RelayState::Running, 0, "t-2")
        );
    }

    #[tokio::test]
    async fn updating_a_mixed_relay_replaces_its_layout() {
        let sim = sim().await;
        assert_eq!(post(&sim, "startrtmp", &mixed(&sim)).await.status, 200);
        let mut update = mixed(&sim);
        update["rtmpurl"] = json!("rtmp://cdn3.example.invalid/live/m3");
        update["mixconfig"] = json!({"input": [{"uid": "bob"}], "output": {"width": 720}});
        let t = token(&sim);
        let p = format!(
            "/app/{}/v2/rtmpforward/startrtmp?traceId=up-1",
            sim.config().app_id
        );
        assert_eq!(post_with(&sim, &p, Some(&t), &update).await.status, 200);
        let r = &sim.relays()[0];
        assert_eq!(sim.relays().len(), 1);
        assert_eq!(r.destinations, ["rtmp://cdn3.example.invalid/live/m3"]);
        assert_eq!(r.templateid, None);
        assert_eq!(
            r.mixconfig,
            Some(json!({"input": [{"uid": "bob"}], "output": {"width": 720}}))
        );
        assert_eq!(
            (r.updates, r.update_trace_ids.as_slice()),
            (1, &["up-1".to_owned()][..])
        );
        assert_eq!(r.trace_id, "t-1");
    }

    #[tokio::test]
    async fn mixed_relay_and_the_other_prefix() {
        let sim = sim().await;
        let t = token(&sim);
        let p = format!(
            "/app/{}/v1/recordoss/startrtmp?traceId=x%2Fy",
            sim.config().app_id
        );
        let a = post_with(&sim, &p, Some(&t), &mixed(&sim)).await;
        assert_eq!(a.status, 200, "{a:?}");
        let r = &sim.relays()[0];
        assert_eq!(
            (r.streamtype, r.taskid.as_deref(), r.templateid),
            (1, Some("mix-1"), Some(3))
        );
        assert_eq!(r.destinations.len(), 2);
        assert_eq!(r.trace_id, "x/y");
        let stop = json!({"appid": sim.config().app_id, "roomid": "42", "taskid": "mix-1"});
        assert_eq!(post(&sim, "stoprtmp", &stop).await.status, 200);
    }

    #[tokio::test]
    async fn refuses_bad_credentials() {
        let sim = sim().await;
        let p = path(&sim, "startrtmp");
        let wrong = format!(
            "Basic {}",
            b64(format!("{}:nope", sim.config().restful_id).as_bytes())
        );
        let bearer = token(&sim).replace("Basic", "Bearer");
        for t in [
            None,
            Some("Basic"),
            Some("Basic !!!"),
            Some(wrong.as_str()),
            Some(bearer.as_str()),
        ] {
            let a = post_with(&sim, &p, t, &source(&sim)).await;
            assert_eq!(a.status, 401, "{t:?}: {a:?}");
            assert_eq!(a.body_json().map(|v| v["code"].clone()), Some(json!(401)));
        }
        // The right credential for another application.
        let t = token(&sim);
        let other = "/app/1234/v2/rtmpforward/startrtmp?traceId=t";
        assert_eq!(
            post_with(&sim, other, Some(&t), &source(&sim)).await.status,
            403
        );
        assert!(sim.relays().is_empty());
    }

    #[tokio::test]
    async fn validates_requests() {
        let sim = sim().await;
        let t = token(&sim);
        let app = sim.config().app_id;
        let no_trace = format!("/app/{app}/v2/rtmpforward/startrtmp");
        assert_eq!(
            post_with(&sim, &no_trace, Some(&t), &source(&sim))
                .await
                .status,
            400
        );
        for p in [
            format!("/app/{app}/v3/other/startrtmp?traceId=t"),
            format!("/app/{app}/v2/rtmpforward/pausertmp?traceId=t"),
            "/v2/rtmpforward/startrtmp?traceId=t".to_owned(),
        ] {
            assert_eq!(
                post_with(&sim, &p, Some(&t), &source(&sim)).await.status,
                404,
                "{p}"
            );
        }
        let with = |base: Value, k: &str, v: Value| {
            let mut b = base;
            b[k] = v;
            b
        };
        let six = "rtmp://a/1,rtmp://a/2,rtmp://a/3,rtmp://a/4,rtmp://a/5,rtmp://a/6";
        let cases = [
            with(source(&sim), "appid", json!(1)),
            with(source(&sim), "appid", json!("1500000002")),
            with(source(&sim), "roomid", json!("")),
            with(source(&sim), "rtmpurl", json!(six)),
            with(source(&sim), "rtmpurl", json!("http://cdn/x")),
            with(source(&sim), "rtmpurl", json!("rtmp://a/1,rtmp://a/1")),
            with(source(&sim), "streamtype", json!(3)),
            with(source(&sim), "uid", json!("")),
            with(mixed(&sim), "taskid", json!(null)),
            with(mixed(&sim), "mixconfig", json!({"templateid": 1})),
            with(
                mixed(&sim),
                "mixconfig",
                json!({"templateid": 9, "output": {}}),
            ),
            with(mixed(&sim), "mixconfig", json!({"output": {}})),
        ];
        for body in cases {
            let a = post(&sim, "startrtmp", &body).await;
            assert_eq!(a.status, 400, "{body}: {a:?}");
        }
        let stop_both = json!({"appid": app, "roomid": "42", "uid": "a", "taskid": "t"});
        assert_eq!(post(&sim, "stoprtmp", &stop_both).await.status, 400);
        let plain = send(
            sim.addr(),
            "POST",
            &path(&sim, "startrtmp"),
            &[("token", &t)],
            "{}",
        )
        .await
        .expect("transport");
        assert_eq!(plain.status, 400, "content type");
        assert!(sim.relays().is_empty());
    }

    #[tokio::test]
    async fn a_destination_serves_one_task_only() {
        let sim = sim().await;
        assert_eq!(post(&sim, "startrtmp", &source(&sim)).await.status, 200);
        let mut other = source(&sim);
        other["uid"] = json!("bob");
        let a = post(&sim, "startrtmp", &other).await;
        assert_eq!(a.status, 409, "{a:?}");
        assert_eq!(sim.relays().len(), 1);
    }

    #[tokio::test]
    async fn vendor_error_fault_answers_its_status() {
        let sim = sim().await;
        sim.fail_next(Fault::VendorError {
            code: "503".into(),
            message: "busy".into(),
        });
        sim.fail_next(Fault::VendorError {
            code: "E_ODD".into(),
            message: "odd".into(),
        });
        let a = post(&sim, "startrtmp", &source(&sim)).await;
        assert_eq!(a.status, 503);
        assert_eq!(a.body_json(), Some(json!({"code": 503, "msg": "busy"})));
        let a = post(&sim, "startrtmp", &source(&sim)).await;
        assert_eq!(a.status, 200, "a vendor code rides in a 200 body");
        assert_eq!(
            a.body_json(),
            Some(json!({"code": "E_ODD", "message": "odd"}))
        );
        sim.fail_next(Fault::VendorError {
            code: "20001".into(),
            message: "destination in use".into(),
        });
        let a = post(&sim, "stoprtmp", &source(&sim)).await;
        assert_eq!(a.status, 200);
        assert_eq!(
            a.body_json(),
            Some(json!({"code": 20001, "message": "destination in use"}))
        );
        assert!(sim.relays().is_empty());
    }

    #[test]
    fn query_parsing() {
        assert_eq!(
            query_param("a=1&traceId=x%20y", "traceId").as_deref(),
            Some("x y")
        );
        assert_eq!(query_param("traceId", "traceId").as_deref(), Some(""));
        assert_eq!(query_param("", "traceId"), None);
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
