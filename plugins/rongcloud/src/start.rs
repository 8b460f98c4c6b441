//! `start` → `cloudplayer/start` and `stop` → `cloudplayer/stop`: validating the normalized
//! request, building the bodies, and the session reference. Pure.

use ingest_plugin_sdk::error::{invalid_argument, unsupported};
use ingest_plugin_sdk::options::Options;
use ingest_plugin_sdk::session;
use ingest_plugin_sdk::{Direction, MediaKind, ProviderError, Session, StartRequest, StopResult};
use serde::{Deserialize, Serialize};

use crate::api::Reply;

/// Source URL schemes the cloud player pulls (RTMP, HTTP-FLV/HLS/MP4, RTSP).
pub const STREAM_URL_SCHEMES: &[&str] = &["rtmp://", "rtmps://", "http://", "https://", "rtsp://"];

/// The `cloudplayer/start` body. Field order is fixed, so the bytes are deterministic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StartBody {
    /// The virtual user that publishes the pulled stream.
    pub user_id: String,
    /// Its display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// 0 audio+video, 1 audio only, 2 video only.
    pub media_type: u8,
    /// 0 RTC room, 2 live-streaming room.
    pub room_type: u8,
    /// The source URL.
    pub rtmp_url: String,
    /// Where RongCloud sends status callbacks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// `tcp` or `udp`, for RTSP sources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtsp_transport: Option<String>,
}

/// The `cloudplayer/stop` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StopBody {
    /// The virtual user to stop.
    pub user_id: String,
}

/// What identifies a cloud player: the room (sent as the `Room-Id` header) and the virtual
/// user. Serialized as the session reference, `{"room_id":"…","user_id":"…"}`; a callback names
/// both, so `parse-callback` rebuilds exactly the same reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionRef {
    /// The RTC room id.
    pub room_id: String,
    /// The virtual user id.
    pub user_id: String,
}

impl SessionRef {
    /// The reference text (compact JSON, fixed field order), refused when it does not fit.
    pub fn encode(&self) -> Result<String, ProviderError> {
        session::encode(self, "`room_id` and `user_id`")
    }

    /// Reads a reference `start` (or `parse-callback`) produced, checking its fields again.
    pub fn decode(text: &str) -> Result<Self, ProviderError> {
        let r: SessionRef = session::decode(text, r#"{"room_id":"…","user_id":"…"}"#)?;
        check_room_id(&r.room_id)?;
        check_user_id(&r.user_id)?;
        Ok(r)
    }
}

/// `room_id`: not empty, visible ASCII without spaces (it travels in the `Room-Id` header).
pub fn check_room_id(room_id: &str) -> Result<(), ProviderError> {
    if room_id.is_empty() || !room_id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid_argument(format!(
            "`room_id` is `{room_id}`; RongCloud takes it in the `Room-Id` header, so it must be \
             non-empty visible ASCII (letters, digits, punctuation) without spaces"
        )));
    }
    Ok(())
}

/// `user_id`: not blank, no control characters.
pub fn check_user_id(user_id: &str) -> Result<(), ProviderError> {
    if user_id.trim().is_empty() || user_id.chars().any(char::is_control) {
        return Err(invalid_argument(
            "`user_id` must be a non-blank string without control characters (the cloud \
             player's virtual user)",
        ));
    }
    Ok(())
}

/// A validated start: the room (for `Room-Id`), the body, and the session reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    /// `Room-Id`.
    pub room_id: String,
    /// The body.
    pub body: StartBody,
    /// The session reference to return on success.
    pub session_ref: String,
}

/// Validates `req` and builds the `cloudplayer/start` body. Every refusal names the field.
pub fn build(req: &StartRequest) -> Result<Start, ProviderError> {
    if req.direction != Direction::PullIn {
        return Err(unsupported(format!(
            "rongcloud supports only direction `pull-in` (RongCloud Cloud Player pulls a source \
             URL into the room), not `{}`",
            req.direction.name()
        )));
    }
    let options = Options::parse(&req.options_json)?;
    check_room_id(&req.room_id)?;
    check_user_id(&req.user_id)?;
    let user_name = match req.display_name.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(name) if name.chars().any(char::is_control) => {
            return Err(invalid_argument(
                "`display_name` must not contain control characters",
            ));
        }
        Some(name) => Some(name.to_string()),
    };
    let rtmp_url = validate_stream_url(req.stream_url.as_deref())?;
    let callback_url = match req.callback_url.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(url) if has_scheme(url, &["http://", "https://"]) => Some(url.to_string()),
        Some(url) => {
            return Err(invalid_argument(format!(
                "`callback_url` is `{url}`; RongCloud posts callbacks over HTTP, so it must \
                 start with http:// or https://"
            )));
        }
    };
    let media_type = match req.media {
        MediaKind::AudioVideo => 0,
        MediaKind::AudioOnly => 1,
        MediaKind::VideoOnly => 2,
    };
    let room_type = match options.str("room_type")?.as_deref().map(str::trim) {
        None => 0,
        Some(v) if v.eq_ignore_ascii_case("rtc") || v == "0" => 0,
        Some(v) if v.eq_ignore_ascii_case("live") || v == "2" => 2,
        Some(v) => {
            return Err(invalid_argument(format!(
                "`options.room_type` is `{v}`; it must be `rtc` (an RTC room, the default) or \
                 `live` (a live-streaming room)"
            )));
        }
    };
    let rtsp_transport = match options.str("rtsp_transport")?.as_deref().map(str::trim) {
        None => None,
        Some(v) if v.eq_ignore_ascii_case("tcp") => Some("tcp".to_string()),
        Some(v) if v.eq_ignore_ascii_case("udp") => Some("udp".to_string()),
        Some(v) => {
            return Err(invalid_argument(format!(
                "`options.rtsp_transport` is `{v}`; it must be `tcp` (RongCloud's default) or \
                 `udp`"
            )));
        }
    };
    // RongCloud reads `rtsp_transport` only for an RTSP source; on any other it would be
    // accepted and silently do nothing, so a caller who set it is told instead.
    if rtsp_transport.is_some() && !has_scheme(&rtmp_url, &["rtsp://"]) {
        return Err(invalid_argument(format!(
            "`options.rtsp_transport` applies only to an rtsp:// source; `stream_url` is \
             `{rtmp_url}`: leave the option out, or give an rtsp:// source"
        )));
    }
    let session_ref = SessionRef {
        room_id: req.room_id.clone(),
        user_id: req.user_id.clone(),
    }
    .encode()?;
    Ok(Start {
        room_id: req.room_id.clone(),
        body: StartBody {
            user_id: req.user_id.clone(),
            user_name,
            media_type,
            room_type,
            rtmp_url,
            callback_url,
            rtsp_transport,
        },
        session_ref,
    })
}

fn has_scheme(url: &str, schemes: &[&str]) -> bool {
    schemes.iter().any(|scheme| {
        url.get(..scheme.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(scheme))
            && url.len() > scheme.len()
    })
}

fn validate_stream_url(url: Option<&str>) -> Result<String, ProviderError> {
    let url = url.map(str::trim).unwrap_or_default();
    if url.is_empty() {
        return Err(invalid_argument(
            "`stream_url` is required for pull-in: the public source URL RongCloud pulls into \
             the room (rtmp://, rtmps://, http://, https:// or rtsp://)",
        ));
    }
    if has_scheme(url, STREAM_URL_SCHEMES) {
        Ok(url.to_string())
    } else {
        Err(invalid_argument(format!(
            "`stream_url` is `{url}`; it must start with rtmp://, rtmps://, http://, https:// or \
             rtsp://"
        )))
    }
}

/// The session for a successful `cloudplayer/start`. RongCloud returns no task id: the
/// session reference is room + user.
pub fn session(start: &Start, reply: Reply) -> Session {
    Session {
        session_ref: start.session_ref.clone(),
        vendor_task_id: None,
        issued_urls: Vec::new(),
        vendor_request_id: reply.request_id,
        expires_at: None,
    }
}

/// The room and body for stopping the player named by `session_ref`.
pub fn stop(session_ref: &str) -> Result<(String, StopBody), ProviderError> {
    let r = SessionRef::decode(session_ref)?;
    Ok((r.room_id, StopBody { user_id: r.user_id }))
}

/// The result of a successful `cloudplayer/stop`.
pub fn stopped(reply: Reply) -> StopResult {
    StopResult {
        vendor_request_id: reply.request_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest_plugin_sdk::ErrorKind;

    fn request(options: &str) -> StartRequest {
        StartRequest {
            direction: Direction::PullIn,
            room_id: "room-42".into(),
            user_id: "relay-bot".into(),
            display_name: None,
            stream_url: Some("rtmp://src.example/live/a".into()),
            media: MediaKind::AudioVideo,
            callback_url: None,
            expires_in_secs: None,
            options_json: options.into(),
        }
    }

    fn invalid(req: &StartRequest) -> String {
        let e = build(req).expect_err("should be rejected");
        assert_eq!(e.kind, ErrorKind::InvalidArgument, "{}", e.message);
        e.message
    }

    #[test]
    fn minimal_body_bytes_are_deterministic() {
        let s = build(&request("{}")).expect("valid");
        assert_eq!(s.room_id, "room-42");
        assert_eq!(
            serde_json::to_string(&s.body).expect("json"),
            r#"{"user_id":"relay-bot","media_type":0,"room_type":0,"rtmp_url":"rtmp://src.example/live/a"}"#
        );
        assert_eq!(
            s.session_ref,
            r#"{"room_id":"room-42","user_id":"relay-bot"}"#
        );
    }

    #[test]
    fn every_field() {
        let mut req = request(r#"{"room_type":"live","rtsp_transport":"UDP","ignored":1}"#);
        req.display_name = Some(" Relay ".into());
        req.media = MediaKind::VideoOnly;
        req.stream_url = Some("rtsp://cam.example/1".into());
        req.callback_url = Some("https://app.example/rc".into());
        let s = build(&req).expect("valid");
        assert_eq!(
            serde_json::to_string(&s.body).expect("json"),
            r#"{"user_id":"relay-bot","user_name":"Relay","media_type":2,"room_type":2,"rtmp_url":"rtsp://cam.example/1","callback_url":"https://app.example/rc","rtsp_transport":"udp"}"#
        );
        let mut req = request(r#"{"room_type":"rtc","rtsp_transport":"tcp"}"#);
        req.media = MediaKind::AudioOnly;
        req.stream_url = Some("RTSP://cam.example/2".into());
        let s = build(&req).expect("valid");
        assert_eq!((s.body.media_type, s.body.room_type), (1, 0));
        assert_eq!(s.body.rtsp_transport.as_deref(), Some("tcp"));
        assert_eq!(
            build(&request(r#"{"room_type":2}"#))
                .expect("2")
                .body
                .room_type,
            2
        );
    }

    #[test]
    fn refusals_name_the_field() {
        let mut req = request("{}");
        req.direction = Direction::PushOut;
        let e = build(&req).expect_err("push-out");
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert!(e.message.contains("`push-out`"));

        let mut req = request("{}");
        req.stream_url = None;
        assert!(invalid(&req).contains("`stream_url`"));
        for bad in ["ftp://a/b", "rtmp://", "a/b", "srt://a"] {
            let mut req = request("{}");
            req.stream_url = Some(bad.into());
            assert!(invalid(&req).contains("`stream_url`"), "{bad}");
        }
        for bad in ["", "room 42", "r\u{e9}", "a\tb"] {
            let mut req = request("{}");
            req.room_id = bad.into();
            assert!(invalid(&req).contains("`room_id`"), "{bad:?}");
        }
        for bad in ["", "  ", "a\nb"] {
            let mut req = request("{}");
            req.user_id = bad.into();
            assert!(invalid(&req).contains("`user_id`"), "{bad:?}");
        }
        let mut req = request("{}");
        req.display_name = Some("a\u{7}".into());
        assert!(invalid(&req).contains("`display_name`"));
        let mut req = request("{}");
        req.callback_url = Some("ftp://x/y".into());
        assert!(invalid(&req).contains("`callback_url`"));
        assert!(invalid(&request(r#"{"room_type":"meeting"}"#)).contains("`options.room_type`"));
        assert!(invalid(&request(r#"{"room_type":true}"#)).contains("options.room_type"));
        assert!(
            invalid(&request(r#"{"rtsp_transport":"quic"}"#)).contains("`options.rtsp_transport`")
        );
        assert!(invalid(&request("[1]")).contains("options"));
        // rtsp_transport only with an rtsp:// source (RongCloud would ignore it otherwise).
        let message = invalid(&request(r#"{"rtsp_transport":"tcp"}"#));
        assert!(message.contains("`options.rtsp_transport` applies only to an rtsp:// source"));
        let mut req = request("{}");
        req.user_id = "\u{1}".repeat(300);
        assert!(invalid(&req).contains("`user_id`"));
    }

    #[test]
    fn session_refs_round_trip() {
        let r = SessionRef {
            room_id: "r+1=_-".into(),
            user_id: "u \"q\" \u{e9}".into(),
        };
        let text = r.encode().expect("encode");
        assert_eq!(SessionRef::decode(&text).expect("decode"), r);
        let (room, body) = stop(&text).expect("stop");
        assert_eq!(room, "r+1=_-");
        assert_eq!(
            serde_json::to_string(&body).expect("json"),
            r#"{"user_id":"u \"q\" é"}"#
        );
        for bad in [
            "",
            "task-1",
            "{}",
            r#"{"room_id":"r"}"#,
            r#"{"room_id":"r","user_id":"u","x":1}"#,
            r#"{"room_id":"a b","user_id":"u"}"#,
            r#"{"room_id":"r","user_id":""}"#,
        ] {
            let e = stop(bad).expect_err(bad);
            assert_eq!(e.kind, ErrorKind::InvalidArgument, "{bad}");
        }
        let long = SessionRef {
            room_id: "r".into(),
            user_id: "\"".repeat(1100),
        };
        let e = long.encode().expect_err("too long");
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert_eq!(
            e.message,
            "`room_id` and `user_id` together make a session reference of 2228 bytes; at most \
             2048 fit"
        );
        let e = stop("task-1").expect_err("not ours");
        assert_eq!(
            e.message,
            r#"`session_ref` is not one this plugin produced; it must be {"room_id":"…","user_id":"…"}"#
        );
    }

    #[test]
    fn session_from_reply() {
        let s = build(&request("{}")).expect("valid");
        let reply = crate::api::parse_reply(
            crate::api::Op::Start,
            200,
            None,
            Some("rid".into()),
            br#"{"code":10000}"#,
        )
        .expect("ok");
        let session = session(&s, reply);
        assert_eq!(session.session_ref, s.session_ref);
        assert_eq!(session.vendor_task_id, None);
        assert_eq!(session.vendor_request_id.as_deref(), Some("rid"));
        assert!(session.issued_urls.is_empty());
    }
}
