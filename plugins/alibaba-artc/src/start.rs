//! `start` → `CreateRoomRealTimeStreamAddress`: validating the request, building the
//! parameters, and reading the answer. Pure; every check runs before any network call.

use ingest_plugin_sdk::error::{bad_vendor_response, invalid_argument, unsupported};
use ingest_plugin_sdk::{
    Direction, IssuedUrl, MediaKind, ProviderError, Session, StartRequest, UrlPurpose,
};
use serde_json::Value;

use crate::api::Reply;
use crate::session::SessionRef;
use crate::settings::{MAX_ID_CHARS, is_artc_id};
use crate::sign::{Param, Value as ParamValue};

/// How long an address stays valid when the request does not say, seconds (the vendor's
/// documented default for `ExpireTime`).
pub const DEFAULT_EXPIRE_SECS: u64 = 36_000;
/// Longest `DisplayName`, characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 40;

/// What `start` sends, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartParams {
    /// `ChannelId` (the gateway's `room_id`).
    pub channel_id: String,
    /// `UserId` (the gateway's `user_id`).
    pub user_id: String,
    /// `DisplayName`.
    pub display_name: String,
    /// `ExpireTime`, seconds, when the request set `expires_in_secs`.
    pub expire_secs: Option<u32>,
}

impl StartParams {
    /// The action's own query parameters.
    pub fn params(&self, app_id: &str) -> Vec<Param> {
        let t = |s: &str| ParamValue::Text(s.to_string());
        let mut out = vec![
            ("AppId".to_string(), t(app_id)),
            ("ChannelId".to_string(), t(&self.channel_id)),
            ("UserId".to_string(), t(&self.user_id)),
            ("DisplayName".to_string(), t(&self.display_name)),
        ];
        if let Some(secs) = self.expire_secs {
            out.push(("ExpireTime".to_string(), t(&secs.to_string())));
        }
        out
    }

    /// How long the issued address stays valid, seconds.
    pub fn validity_secs(&self) -> u64 {
        self.expire_secs.map_or(DEFAULT_EXPIRE_SECS, u64::from)
    }
}

/// Validates `req` and builds the parameters.
pub fn build(req: &StartRequest) -> Result<StartParams, ProviderError> {
    if req.direction != Direction::PushIn {
        return Err(unsupported(format!(
            "alibaba-artc supports only direction `push-in` (CreateRoomRealTimeStreamAddress \
             issues an RTMP address an encoder pushes to); direction `{}` is not supported",
            req.direction.name()
        )));
    }
    if req.media != MediaKind::AudioVideo {
        return Err(unsupported(format!(
            "Alibaba ARTC carries whatever tracks the encoder pushes and has no parameter to \
             restrict them; media `{}` is not supported (use `audio-video` and configure the \
             encoder)",
            req.media.name()
        )));
    }
    // Parsed only to refuse malformed JSON; this plugin reads no options.
    ingest_plugin_sdk::options::Options::parse(&req.options_json)?;

    if !is_artc_id(&req.room_id) {
        return Err(invalid_argument(format!(
            "`room_id` is `{}`; Alibaba ARTC channel ids are 1 to {MAX_ID_CHARS} characters of \
             A-Z a-z 0-9 _ -",
            req.room_id
        )));
    }
    if !is_artc_id(&req.user_id) {
        return Err(invalid_argument(format!(
            "`user_id` is `{}`; Alibaba ARTC user ids (UserId, the user the encoder appears as \
             in the channel) are 1 to {MAX_ID_CHARS} characters of A-Z a-z 0-9 _ -",
            req.user_id.escape_debug()
        )));
    }
    let user_chars = req.user_id.len();
    let display_name = match req.display_name.as_deref() {
        Some(name) => name.to_string(),
        None if user_chars <= MAX_DISPLAY_NAME_CHARS => req.user_id.clone(),
        None => {
            return Err(invalid_argument(format!(
                "`display_name` is required when `user_id` is longer than \
                 {MAX_DISPLAY_NAME_CHARS} characters (Alibaba's DisplayName holds 1 to \
                 {MAX_DISPLAY_NAME_CHARS}; without one the plugin uses `user_id`)"
            )));
        }
    };
    let name_chars = display_name.chars().count();
    if display_name.trim().is_empty()
        || name_chars > MAX_DISPLAY_NAME_CHARS
        || display_name.chars().any(char::is_control)
    {
        return Err(invalid_argument(format!(
            "`display_name` must be 1 to {MAX_DISPLAY_NAME_CHARS} characters without control \
             characters (it is {name_chars})"
        )));
    }
    if req.stream_url.is_some() {
        return Err(invalid_argument(
            "`stream_url` must not be set for push-in: Alibaba ARTC issues the address the \
             encoder pushes to (see the session's issued_urls)",
        ));
    }
    let expire_secs = match req.expires_in_secs {
        Some(0) => {
            return Err(invalid_argument(
                "`expires_in_secs` is 0; it must be at least 1 (seconds the address stays \
                 valid; default 36000)",
            ));
        }
        other => other,
    };
    Ok(StartParams {
        channel_id: req.room_id.clone(),
        user_id: req.user_id.clone(),
        display_name,
        expire_secs,
    })
}

/// The `auth_key` timestamp of an Alibaba-signed URL (`auth_key={10 digits}-…`), if any.
fn auth_key_timestamp(url: &str) -> Option<u64> {
    let (_, query) = url.split_once('?')?;
    let value = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("auth_key="))?;
    let (ts, _) = value.split_once('-')?;
    if ts.len() == 10 && ts.bytes().all(|b| b.is_ascii_digit()) {
        ts.parse().ok()
    } else {
        None
    }
}

/// When the issued address expires, Unix seconds: `now + ExpireTime`, or the URL's own
/// `auth_key` timestamp when that is earlier but still in the future (Alibaba's type-A URL
/// signing puts the expiry there; a timestamp at or before `now` is read as a creation time
/// and ignored).
pub fn expires_at(now_secs: u64, validity_secs: u64, url: &str) -> u64 {
    let requested = now_secs.saturating_add(validity_secs);
    match auth_key_timestamp(url) {
        Some(ts) if ts > now_secs && ts < requested => ts,
        _ => requested,
    }
}

/// The session for a successful answer: the RTMP address as a publish URL; the session
/// reference names the channel and user, which is what `status` asks about, and the expiry,
/// which tells `status` whether a user not (yet) online is `starting` or gone.
pub fn session(
    reply: Reply,
    params: &StartParams,
    now_secs: u64,
) -> Result<Session, ProviderError> {
    let url = match reply.body.get("RtmpAddress") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        _ => {
            return Err(reply.attach(bad_vendor_response(
                "CreateRoomRealTimeStreamAddress returned no RtmpAddress",
            )));
        }
    };
    let expires_at = expires_at(now_secs, params.validity_secs(), &url);
    let session_ref = SessionRef {
        channel_id: params.channel_id.clone(),
        user_id: params.user_id.clone(),
        expires_at: Some(expires_at),
    }
    .encode()?;
    Ok(Session {
        session_ref,
        vendor_task_id: None,
        expires_at: Some(expires_at),
        issued_urls: vec![IssuedUrl {
            purpose: UrlPurpose::Publish,
            url,
        }],
        vendor_request_id: reply.request_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest_plugin_sdk::ErrorKind;

    fn request() -> StartRequest {
        StartRequest {
            direction: Direction::PushIn,
            room_id: "room-42".into(),
            user_id: "obs-encoder".into(),
            display_name: None,
            stream_url: None,
            media: MediaKind::AudioVideo,
            callback_url: None,
            expires_in_secs: None,
            options_json: "{}".into(),
        }
    }

    fn invalid(req: &StartRequest) -> String {
        let e = build(req).expect_err("should be rejected");
        assert_eq!(e.kind, ErrorKind::InvalidArgument, "{}", e.message);
        e.message
    }

    #[test]
    fn minimal_request() {
        let p = build(&request()).expect("valid");
        assert_eq!(p.display_name, "obs-encoder");
        assert_eq!(p.validity_secs(), 36_000);
        let params = p.params("app1");
        let t = |s: &str| ParamValue::Text(s.into());
        assert_eq!(
            params,
            vec![
                ("AppId".into(), t("app1")),
                ("ChannelId".into(), t("room-42")),
                ("UserId".into(), t("obs-encoder")),
                ("DisplayName".into(), t("obs-encoder")),
            ]
        );
    }

    #[test]
    fn display_name_and_expiry() {
        let mut req = request();
        req.display_name = Some("Studio A – OBS".into());
        req.expires_in_secs = Some(600);
        let p = build(&req).expect("valid");
        assert_eq!(p.display_name, "Studio A – OBS");
        assert_eq!(p.validity_secs(), 600);
        assert!(
            p.params("a")
                .contains(&("ExpireTime".into(), ParamValue::Text("600".into())))
        );

        req.expires_in_secs = Some(0);
        assert!(invalid(&req).contains("`expires_in_secs`"));

        let mut req = request();
        req.display_name = Some(String::new());
        assert!(invalid(&req).contains("`display_name`"));
        req.display_name = Some("x".repeat(41));
        assert!(invalid(&req).contains("`display_name`"));
        req.display_name = Some("é".repeat(40));
        assert!(build(&req).is_ok(), "40 characters, 80 bytes");

        // A user id too long to stand in for the display name.
        let mut req = request();
        req.user_id = "u".repeat(41);
        assert!(invalid(&req).contains("`display_name`"));
        req.display_name = Some("short".into());
        assert!(build(&req).is_ok());
    }

    #[test]
    fn ids() {
        for bad in ["", "has space", "a/b", "ü", &"c".repeat(65)] {
            let mut req = request();
            req.room_id = bad.into();
            assert!(invalid(&req).contains("`room_id`"), "{bad}");
        }
        let mut req = request();
        req.room_id = "A_z-09".repeat(10);
        assert!(build(&req).is_ok());

        for bad in [
            "",
            " ",
            "a\nb",
            "obs 1",
            "obs:1",
            "obs.1",
            "ü",
            "obs@studio",
            "a/b",
            "名前",
        ] {
            let mut req = request();
            req.user_id = bad.into();
            req.display_name = Some("n".into());
            let message = invalid(&req);
            assert!(message.contains("`user_id`"), "{bad:?}: {message}");
            assert!(
                message.contains("1 to 64 characters of A-Z a-z 0-9 _ -"),
                "the rule is named: {message}"
            );
        }
        let mut req = request();
        req.user_id = "u".repeat(65);
        req.display_name = Some("n".into());
        assert!(invalid(&req).contains("`user_id`"));
        req.user_id = "Az09_-".repeat(10) + "abcd";
        assert_eq!(req.user_id.len(), 64);
        assert!(build(&req).is_ok(), "64 characters of the alphabet");
    }

    #[test]
    fn direction_media_stream_url_options() {
        let mut req = request();
        req.direction = Direction::PullIn;
        let e = build(&req).expect_err("pull-in");
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert!(e.message.contains("`pull-in`"), "{}", e.message);

        let mut req = request();
        req.media = MediaKind::VideoOnly;
        assert_eq!(build(&req).expect_err("media").kind, ErrorKind::Unsupported);

        let mut req = request();
        req.stream_url = Some("rtmp://x/y".into());
        assert!(invalid(&req).contains("`stream_url`"));

        let mut req = request();
        req.options_json = "[1]".into();
        assert!(invalid(&req).contains("options"));
        req.options_json = r#"{"ignored":true}"#.into();
        assert!(build(&req).is_ok());
    }

    fn reply(json: &str) -> Reply {
        crate::api::parse_reply(
            "CreateRoomRealTimeStreamAddress",
            200,
            None,
            json.as_bytes(),
        )
        .expect("envelope")
    }

    #[test]
    fn session_from_answer() {
        let p = build(&request()).expect("valid");
        let s = session(
            reply(r#"{"RequestId":"r1","RtmpAddress":"rtmp://push.example/app/room-42?auth_key=1700036000-0-0-abc"}"#),
            &p,
            1_700_000_000,
        )
        .expect("session");
        assert_eq!(
            s.session_ref,
            r#"{"channel_id":"room-42","user_id":"obs-encoder","expires_at":1700036000}"#
        );
        assert_eq!(
            SessionRef::decode(&s.session_ref).expect("ref").expires_at,
            s.expires_at,
            "the reference carries the session's expiry"
        );
        assert_eq!(s.vendor_task_id, None);
        assert_eq!(s.vendor_request_id.as_deref(), Some("r1"));
        assert_eq!(s.issued_urls.len(), 1);
        assert_eq!(s.issued_urls[0].purpose, UrlPurpose::Publish);
        assert_eq!(
            s.issued_urls[0].url,
            "rtmp://push.example/app/room-42?auth_key=1700036000-0-0-abc"
        );
        assert_eq!(s.expires_at, Some(1_700_036_000));

        for bad in [
            r#"{"RequestId":"r1"}"#,
            r#"{"RequestId":"r1","RtmpAddress":""}"#,
            r#"{"RequestId":"r1","RtmpAddress":["rtmp://a"]}"#,
        ] {
            let e = session(reply(bad), &p, 0).expect_err(bad);
            assert_eq!(e.kind, ErrorKind::VendorInternal);
            assert_eq!(e.vendor_request_id.as_deref(), Some("r1"));
        }
    }

    #[test]
    fn expiry() {
        let now = 1_700_000_000;
        // No auth_key: what was requested.
        assert_eq!(expires_at(now, 600, "rtmp://a/b"), now + 600);
        // An earlier expiry in the URL wins.
        assert_eq!(
            expires_at(now, 36_000, "rtmp://a/b?x=1&auth_key=1700000300-r-0-h"),
            1_700_000_300
        );
        // A creation time (≤ now) or a later time is ignored.
        assert_eq!(
            expires_at(now, 600, "rtmp://a/b?auth_key=1700000000-r-0-h"),
            now + 600
        );
        assert_eq!(
            expires_at(now, 600, "rtmp://a/b?auth_key=1800000000-r-0-h"),
            now + 600
        );
        // Malformed auth keys are ignored.
        for url in [
            "rtmp://a/b?auth_key=",
            "rtmp://a/b?auth_key=17000003-0",
            "rtmp://a/b?auth_key=17000003000-0",
            "rtmp://a/b?auth_key=abcdefghij-0",
            "rtmp://a/b?auth_key=1700000300",
        ] {
            assert_eq!(expires_at(now, 600, url), now + 600, "{url}");
        }
        assert_eq!(expires_at(u64::MAX, 600, "x"), u64::MAX);
    }
}
