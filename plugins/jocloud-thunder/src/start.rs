//! `start` → `startrtmp` and `stop` → `stoprtmp`: validating the normalized request,
//! building the bodies, and the session reference. Pure.

use ingest_plugin_sdk::error::{invalid_argument, unsupported};
use ingest_plugin_sdk::options::Options;
use ingest_plugin_sdk::session;
use ingest_plugin_sdk::{Direction, MediaKind, ProviderError, StartRequest};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Most destinations one relay may have (Jocloud's limit).
pub const MAX_DESTINATIONS: usize = 5;
/// Destination URL schemes (CDN ingest addresses).
pub const DESTINATION_SCHEMES: &[&str] = &["rtmp://", "rtmps://"];
/// Longest destination URL accepted, bytes.
const MAX_URL_LEN: usize = 2048;
/// `streamtype` for a mixed stream.
pub const STREAM_MIXED: u32 = 1;
/// `streamtype` for one source stream.
pub const STREAM_SOURCE: u32 = 2;

/// `mixconfig`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MixConfig {
    /// Per-stream layout; optional with a template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<Vec<Value>>,
    /// Output parameters (passed through verbatim; Jocloud does not publish their shape here).
    pub output: Map<String, Value>,
    /// Layout template: 1 horizontal, 2 vertical, 3 tiled, 4 corner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub templateid: Option<u32>,
}

/// The `startrtmp` body. Field order is fixed, so the bytes are deterministic.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StartBody {
    /// The application id.
    pub appid: u64,
    /// The room.
    pub roomid: String,
    /// Destinations, comma-separated.
    pub rtmpurl: String,
    /// 1 mixed stream, 2 one source stream.
    pub streamtype: u32,
    /// The mixing task id (mixed only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taskid: Option<String>,
    /// The mixing configuration (mixed only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mixconfig: Option<MixConfig>,
    /// The user whose stream is pushed (source only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

/// What identifies a relay: the room and either the mixing task id or the source user.
/// Serialized as the session reference, e.g. `{"roomid":"42","uid":"alice"}`; reading one back
/// checks that it names a room and exactly one of the two.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RefFields")]
pub struct SessionRef {
    /// The room.
    pub roomid: String,
    /// The mixing task id (mixed streams).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taskid: Option<String>,
    /// The source user (source streams).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

/// A session reference's fields as written, before the check that makes them a [`SessionRef`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RefFields {
    roomid: String,
    #[serde(default)]
    taskid: Option<String>,
    #[serde(default)]
    uid: Option<String>,
}

impl TryFrom<RefFields> for SessionRef {
    type Error = &'static str;

    /// A room (not blank) and exactly one of a task id and a uid (not blank).
    fn try_from(f: RefFields) -> Result<Self, Self::Error> {
        let filled = |s: &Option<String>| s.as_deref().is_some_and(|v| !v.trim().is_empty());
        if f.roomid.trim().is_empty() || filled(&f.taskid) == filled(&f.uid) {
            return Err("a session reference names a room and exactly one of taskid and uid");
        }
        Ok(Self {
            roomid: f.roomid,
            taskid: f.taskid,
            uid: f.uid,
        })
    }
}

/// The `stoprtmp` body: the identifying fields of the start (Jocloud does not publish the
/// stop parameters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StopBody {
    /// The application id.
    pub appid: u64,
    /// The room.
    pub roomid: String,
    /// The mixing task id (mixed streams).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taskid: Option<String>,
    /// The source user (source streams).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

impl SessionRef {
    /// The reference text (compact JSON, fixed field order), refused when it does not fit.
    pub fn encode(&self) -> Result<String, ProviderError> {
        session::encode(self, "`room_id` and the task id or user id")
    }

    /// Reads a reference `start` produced.
    pub fn decode(text: &str) -> Result<Self, ProviderError> {
        session::decode(
            text,
            r#"{"roomid":"…","taskid":"…"} or {"roomid":"…","uid":"…"}"#,
        )
    }

    /// The `stoprtmp` body for this relay.
    pub fn stop_body(&self, appid: u64) -> StopBody {
        StopBody {
            appid,
            roomid: self.roomid.clone(),
            taskid: self.taskid.clone(),
            uid: self.uid.clone(),
        }
    }
}

/// A validated start.
#[derive(Debug, Clone, PartialEq)]
pub struct Start {
    /// The body.
    pub body: StartBody,
    /// The session reference to return on success.
    pub session_ref: String,
}

fn check_text(field: &str, value: &str, what: &str) -> Result<(), ProviderError> {
    if value.trim().is_empty() || value.chars().any(char::is_control) {
        return Err(invalid_argument(format!(
            "`{field}` must be a non-blank string without control characters ({what})"
        )));
    }
    Ok(())
}

/// One destination: `rtmp://` or `rtmps://` with a host, no spaces, no commas (Jocloud
/// separates destinations with commas).
fn check_destination(field: &str, url: &str) -> Result<String, ProviderError> {
    let url = url.trim();
    let scheme = DESTINATION_SCHEMES.iter().find(|s| {
        url.get(..s.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(s))
    });
    let Some(scheme) = scheme else {
        return Err(invalid_argument(format!(
            "`{field}` is `{url}`; a CDN destination must start with rtmp:// or rtmps://"
        )));
    };
    let rest = url.get(scheme.len()..).unwrap_or_default();
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    if host.is_empty() {
        return Err(invalid_argument(format!(
            "`{field}` is `{url}`; it has no host"
        )));
    }
    if url.len() > MAX_URL_LEN
        || url
            .chars()
            .any(|c| c == ',' || c.is_whitespace() || c.is_control())
    {
        return Err(invalid_argument(format!(
            "`{field}` must not contain commas, spaces or control characters (Jocloud separates \
             destinations with commas) and be at most {MAX_URL_LEN} bytes"
        )));
    }
    Ok(url.to_string())
}

/// The destinations: `stream_url` first, then `options.destinations`; 1 to 5, all distinct.
pub fn destinations(
    stream_url: Option<&str>,
    options: &Options,
) -> Result<Vec<String>, ProviderError> {
    let mut out: Vec<String> = Vec::new();
    if let Some(url) = stream_url {
        if url.trim().is_empty() {
            return Err(invalid_argument(
                "`stream_url` is blank; leave it out when there is none, or give the CDN \
                 address (rtmp:// or rtmps://)",
            ));
        }
        out.push(check_destination("stream_url", url)?);
    }
    match options.get("destinations") {
        None => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let field = format!("options.destinations[{i}]");
                let Some(url) = item.as_str() else {
                    return Err(invalid_argument(format!("`{field}` must be a string URL")));
                };
                out.push(check_destination(&field, url)?);
            }
        }
        Some(_) => {
            return Err(invalid_argument(
                "`options.destinations` must be a list of rtmp:// or rtmps:// URLs",
            ));
        }
    }
    if out.is_empty() {
        return Err(invalid_argument(
            "`stream_url` is required for push-out: the CDN address (rtmp:// or rtmps://) \
             Jocloud pushes the room to; several go in `options.destinations`",
        ));
    }
    if out.len() > MAX_DESTINATIONS {
        return Err(invalid_argument(format!(
            "`stream_url` and `options.destinations` name {} destinations; Jocloud takes at \
             most {MAX_DESTINATIONS}",
            out.len()
        )));
    }
    let keys: Vec<String> = out.iter().map(|url| destination_key(url)).collect();
    for (i, key) in keys.iter().enumerate() {
        if let Some(j) = keys.iter().skip(i + 1).position(|other| other == key) {
            return Err(invalid_argument(format!(
                "`options.destinations` repeats a destination: `{}` and `{}` are the same \
                 address (scheme and host compare case-insensitively); each destination may \
                 appear once",
                out[i],
                out[i + 1 + j]
            )));
        }
    }
    Ok(out)
}

/// What makes two destinations the same address: the scheme and host (with any port) in
/// lower case, as URLs compare them, then the path and query verbatim (a CDN's stream key is
/// case-sensitive). `url` has passed [`check_destination`], so it has a `scheme://`.
fn destination_key(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(split);
    format!(
        "{}://{}{tail}",
        scheme.to_ascii_lowercase(),
        authority.to_ascii_lowercase()
    )
}

/// The mixing configuration, if the options ask for a mixed stream (`template_id`,
/// `mix_input` or `mix_output` present).
pub fn mix_config(options: &Options) -> Result<Option<MixConfig>, ProviderError> {
    let templateid = options
        .int("template_id", 1, 4)?
        .map(|n| u32::try_from(n).unwrap_or(1));
    let input = match options.get("mix_input") {
        None => None,
        Some(Value::Array(items)) if items.iter().all(Value::is_object) => Some(items.clone()),
        Some(_) => {
            return Err(invalid_argument(
                "`options.mix_input` must be a list of JSON objects (Jocloud's mixconfig.input)",
            ));
        }
    };
    let output = match options.get("mix_output") {
        None => None,
        Some(Value::Object(map)) => Some(map.clone()),
        Some(_) => {
            return Err(invalid_argument(
                "`options.mix_output` must be a JSON object (Jocloud's mixconfig.output)",
            ));
        }
    };
    if templateid.is_none() && input.is_none() && output.is_none() {
        return Ok(None);
    }
    let Some(output) = output else {
        return Err(invalid_argument(
            "`options.mix_output` is required for a mixed stream (with `options.template_id` or \
             `options.mix_input`): Jocloud's mixconfig.output object",
        ));
    };
    if templateid.is_none() && input.is_none() {
        return Err(invalid_argument(
            "a mixed stream needs `options.template_id` (1 horizontal, 2 vertical, 3 tiled, \
             4 corner) or `options.mix_input` (the per-stream layout)",
        ));
    }
    Ok(Some(MixConfig {
        input,
        output,
        templateid,
    }))
}

/// Validates `req` and builds the `startrtmp` body for application `appid`.
pub fn build(req: &StartRequest, appid: u64) -> Result<Start, ProviderError> {
    if req.direction != Direction::PushOut {
        return Err(unsupported(format!(
            "jocloud-thunder supports only direction `push-out` (Jocloud relays the room's \
             stream to a CDN), not `{}`",
            req.direction.name()
        )));
    }
    if req.media != MediaKind::AudioVideo {
        return Err(unsupported(
            "jocloud-thunder relays the room's audio and video as they are; `media` must be \
             audio-video (Jocloud has no audio-only or video-only relay)",
        ));
    }
    let options = Options::parse(&req.options_json)?;
    check_text("room_id", &req.room_id, "the Jocloud room")?;
    let rtmpurl = destinations(req.stream_url.as_deref(), &options)?.join(",");
    let mix = mix_config(&options)?;
    let (streamtype, taskid, uid) = match &mix {
        Some(_) => {
            let taskid = match options.str("task_id")? {
                Some(t) => {
                    check_text("options.task_id", &t, "the mixing task id")?;
                    t
                }
                None => {
                    check_text("user_id", &req.user_id, "names the default mixing task")?;
                    format!("{}-{}", req.room_id, req.user_id)
                }
            };
            (STREAM_MIXED, Some(taskid), None)
        }
        None => {
            if options.get("task_id").is_some() {
                return Err(invalid_argument(
                    "`options.task_id` applies to mixed streams only; add `options.template_id` \
                     or `options.mix_input` (and `options.mix_output`), or drop it",
                ));
            }
            check_text("user_id", &req.user_id, "the user whose stream is pushed")?;
            (STREAM_SOURCE, None, Some(req.user_id.clone()))
        }
    };
    let session_ref = SessionRef {
        roomid: req.room_id.clone(),
        taskid: taskid.clone(),
        uid: uid.clone(),
    }
    .encode()?;
    Ok(Start {
        body: StartBody {
            appid,
            roomid: req.room_id.clone(),
            rtmpurl,
            streamtype,
            taskid,
            mixconfig: mix,
            uid,
        },
        session_ref,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest_plugin_sdk::ErrorKind;

    fn request(options: &str) -> StartRequest {
        StartRequest {
            direction: Direction::PushOut,
            room_id: "room-42".into(),
            user_id: "alice".into(),
            display_name: None,
            stream_url: Some("rtmp://cdn.example/live/a".into()),
            media: MediaKind::AudioVideo,
            callback_url: None,
            expires_in_secs: None,
            options_json: options.into(),
        }
    }

    fn invalid(req: &StartRequest) -> String {
        let e = build(req, 1).expect_err("should be rejected");
        assert_eq!(e.kind, ErrorKind::InvalidArgument, "{}", e.message);
        e.message
    }

    #[test]
    fn source_stream_body() {
        let s = build(&request("{}"), 1_500_000_001).expect("valid");
        assert_eq!(
            serde_json::to_string(&s.body).expect("json"),
            r#"{"appid":1500000001,"roomid":"room-42","rtmpurl":"rtmp://cdn.example/live/a","streamtype":2,"uid":"alice"}"#
        );
        assert_eq!(s.session_ref, r#"{"roomid":"room-42","uid":"alice"}"#);
    }

    #[test]
    fn mixed_stream_body() {
        let s = build(
            &request(
                r#"{"template_id":3,"mix_output":{"width":1280,"height":720},"task_id":"mix-1",
                    "destinations":["rtmps://cdn2.example/live/b"]}"#,
            ),
            7,
        )
        .expect("valid");
        assert_eq!(
            serde_json::to_string(&s.body).expect("json"),
            r#"{"appid":7,"roomid":"room-42","rtmpurl":"rtmp://cdn.example/live/a,rtmps://cdn2.example/live/b","streamtype":1,"taskid":"mix-1","mixconfig":{"output":{"height":720,"width":1280},"templateid":3}}"#
        );
        assert_eq!(s.session_ref, r#"{"roomid":"room-42","taskid":"mix-1"}"#);

        // Custom layout without a template, default task id.
        let s = build(
            &request(r#"{"mix_input":[{"uid":"alice"},{"uid":"bob"}],"mix_output":{}}"#),
            7,
        )
        .expect("valid");
        assert_eq!(s.body.taskid.as_deref(), Some("room-42-alice"));
        let mix = s.body.mixconfig.expect("mix");
        assert_eq!(
            (mix.templateid, mix.input.map(|i| i.len())),
            (None, Some(2))
        );
    }

    #[test]
    fn destinations_rules() {
        let five = r#"{"destinations":["rtmp://a/1","rtmp://a/2","rtmp://a/3","rtmp://a/4"]}"#;
        let s = build(&request(five), 1).expect("five");
        assert_eq!(s.body.rtmpurl.split(',').count(), 5);
        let six = r#"{"destinations":["rtmp://a/1","rtmp://a/2","rtmp://a/3","rtmp://a/4","rtmp://a/5"]}"#;
        assert!(invalid(&request(six)).contains("at most 5"));
        // Only options.destinations.
        let mut req = request(r#"{"destinations":["rtmp://a/1"]}"#);
        req.stream_url = None;
        assert_eq!(build(&req, 1).expect("ok").body.rtmpurl, "rtmp://a/1");
        let mut req = request("{}");
        req.stream_url = None;
        assert!(invalid(&req).contains("`stream_url` is required"));
        // A blank stream_url is refused, not read as absent.
        let mut req = request(r#"{"destinations":["rtmp://a/1"]}"#);
        req.stream_url = Some("  ".into());
        assert!(invalid(&req).contains("`stream_url` is blank"));
        // The path and stream key are case-sensitive: a different destination.
        let s = build(
            &request(r#"{"destinations":["rtmp://cdn.example/live/A"]}"#),
            1,
        )
        .expect("distinct paths");
        assert_eq!(s.body.rtmpurl.split(',').count(), 2);
        let cases = [
            (r#"{"destinations":"rtmp://a/1"}"#, "`options.destinations`"),
            (r#"{"destinations":[1]}"#, "`options.destinations[0]`"),
            (
                r#"{"destinations":["http://a/1"]}"#,
                "`options.destinations[0]`",
            ),
            (
                r#"{"destinations":["rtmp://a/1","rtmp://a/1,b"]}"#,
                "`options.destinations[1]`",
            ),
            (r#"{"destinations":["rtmp:///x"]}"#, "no host"),
            (
                r#"{"destinations":["rtmp://a/ b"]}"#,
                "`options.destinations[0]`",
            ),
            (
                r#"{"destinations":["rtmp://cdn.example/live/a"]}"#,
                "repeats",
            ),
            // Scheme and host compare case-insensitively.
            (
                r#"{"destinations":["RTMP://CDN.Example/live/a"]}"#,
                "repeats a destination: `rtmp://cdn.example/live/a` and `RTMP://CDN.Example/live/a`",
            ),
        ];
        for (options, needle) in cases {
            let msg = invalid(&request(options));
            assert!(msg.contains(needle), "{options}: {msg}");
        }
        for bad in ["https://cdn/x", "srt://cdn/x", "rtmp://"] {
            let mut req = request("{}");
            req.stream_url = Some(bad.into());
            assert!(invalid(&req).contains("`stream_url`"), "{bad}");
        }
    }

    #[test]
    fn other_refusals() {
        let mut req = request("{}");
        req.direction = Direction::PullIn;
        let e = build(&req, 1).expect_err("pull-in");
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert!(e.message.contains("`pull-in`"));
        let mut req = request("{}");
        req.media = MediaKind::AudioOnly;
        assert_eq!(
            build(&req, 1).expect_err("audio").kind,
            ErrorKind::Unsupported
        );

        let mut req = request("{}");
        req.room_id = " ".into();
        assert!(invalid(&req).contains("`room_id`"));
        let mut req = request("{}");
        req.user_id = "\n".into();
        assert!(invalid(&req).contains("`user_id`"));
        let cases = [
            (
                r#"{"template_id":5,"mix_output":{}}"#,
                "`options.template_id`",
            ),
            (
                r#"{"template_id":"x","mix_output":{}}"#,
                "`options.template_id`",
            ),
            (r#"{"template_id":1}"#, "`options.mix_output`"),
            (
                r#"{"template_id":1,"mix_output":[]}"#,
                "`options.mix_output`",
            ),
            (r#"{"mix_output":{}}"#, "`options.template_id`"),
            (
                r#"{"mix_input":[1],"mix_output":{}}"#,
                "`options.mix_input`",
            ),
            (r#"{"task_id":"t"}"#, "`options.task_id`"),
            (
                r#"{"template_id":1,"mix_output":{},"task_id":" "}"#,
                "`options.task_id`",
            ),
            ("[]", "options"),
        ];
        for (options, needle) in cases {
            let msg = invalid(&request(options));
            assert!(msg.contains(needle), "{options}: {msg}");
        }
    }

    #[test]
    fn session_refs() {
        for text in [
            r#"{"roomid":"r","uid":"u"}"#,
            r#"{"roomid":"r","taskid":"t"}"#,
        ] {
            let r = SessionRef::decode(text).expect(text);
            assert_eq!(r.encode().expect("encode"), text);
        }
        let r = SessionRef::decode(r#"{"roomid":"r","taskid":"t"}"#).expect("ok");
        assert_eq!(
            serde_json::to_string(&r.stop_body(9)).expect("json"),
            r#"{"appid":9,"roomid":"r","taskid":"t"}"#
        );
        for bad in [
            "",
            "x",
            r#"{"roomid":"r"}"#,
            r#"{"roomid":"r","uid":"u","taskid":"t"}"#,
            r#"{"roomid":"","uid":"u"}"#,
            r#"{"roomid":"r","uid":" "}"#,
            r#"{"roomid":"r","uid":"u","x":1}"#,
        ] {
            let e = SessionRef::decode(bad).expect_err(bad);
            assert_eq!(e.kind, ErrorKind::InvalidArgument);
            assert_eq!(
                e.message,
                r#"`session_ref` is not one this plugin produced; it must be {"roomid":"…","taskid":"…"} or {"roomid":"…","uid":"…"}"#,
                "{bad}"
            );
        }
        let long = SessionRef {
            roomid: "r".repeat(3000),
            taskid: None,
            uid: Some("u".into()),
        };
        let e = long.encode().expect_err("too long");
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert_eq!(
            e.message,
            "`room_id` and the task id or user id together make a session reference of 3023 \
             bytes; at most 2048 fit"
        );
    }
}
