//! `start` → `RTMPDispatchV2`: validating the request, building the parameters, and reading
//! the answer. Pure; every check runs before any network call.

use std::net::Ipv4Addr;

use ingest_plugin_sdk::error::{bad_vendor_response, invalid_argument, unsupported};
use ingest_plugin_sdk::options::Options;
use ingest_plugin_sdk::{
    Direction, IssuedUrl, MediaKind, ProviderError, Session, StartRequest, UrlPurpose,
};
use serde_json::Value;

use crate::api::Reply;
use crate::settings::Settings;

/// How long a dispatched node may be used, seconds: the vendor says "within 2 hours".
pub const NODE_VALIDITY_SECS: u64 = 2 * 60 * 60;
/// Longest stream id, characters.
pub const MAX_STREAM_ID: usize = 256;

/// `Type`: what the node is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `push`: a node to publish to (push-in).
    Push,
    /// `pull`: a node to play from (pull-out).
    Pull,
}

impl Kind {
    /// The `Type` value.
    pub fn wire(self) -> &'static str {
        match self {
            Kind::Push => "push",
            Kind::Pull => "pull",
        }
    }

    /// The purpose of the issued URL.
    pub fn purpose(self) -> UrlPurpose {
        match self {
            Kind::Push => UrlPurpose::Publish,
            Kind::Pull => UrlPurpose::Play,
        }
    }
}

/// What `start` sends, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatch {
    /// `Type`.
    pub kind: Kind,
    /// `StreamId`.
    pub stream_id: String,
    /// `ClientIP`.
    pub client_ip: Option<Ipv4Addr>,
}

impl Dispatch {
    /// The action's own query parameters, in the order sent; `sequence` is the call's
    /// timestamp in milliseconds (the vendor recommends a ms timestamp).
    pub fn params(&self, sequence: u64) -> Vec<(&'static str, String)> {
        let mut out = vec![
            ("StreamId", self.stream_id.clone()),
            ("Sequence", sequence.to_string()),
            ("Type", self.kind.wire().to_string()),
        ];
        if let Some(ip) = self.client_ip {
            out.push(("ClientIP", ip.to_string()));
        }
        out
    }

    /// The session reference: `{push|pull}:{StreamId}`.
    pub fn session_ref(&self) -> String {
        format!("{}:{}", self.kind.wire(), self.stream_id)
    }
}

/// Whether `s` is a ZEGO stream id: 1..=256 characters `[0-9A-Za-z_-]`.
pub fn is_stream_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_STREAM_ID
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Validates `req` against `settings` and builds the parameters.
pub fn build(req: &StartRequest, settings: &Settings) -> Result<Dispatch, ProviderError> {
    let kind = match req.direction {
        Direction::PushIn => Kind::Push,
        Direction::PullOut => Kind::Pull,
        other => {
            return Err(unsupported(format!(
                "zego-dispatch supports directions `push-in` (RTMPDispatchV2 Type=push) and \
                 `pull-out` (Type=pull); direction `{}` is not supported",
                other.name()
            )));
        }
    };
    if req.media != MediaKind::AudioVideo {
        return Err(unsupported(
            "ZEGO RTMP dispatch issues a node for the whole stream and has no parameter to pick \
             tracks; only media `audio-video` is supported",
        ));
    }
    if req.stream_url.is_some() {
        return Err(invalid_argument(
            "`stream_url` must not be set: ZEGO RTMP dispatch issues the address (see the \
             session's issued_urls); name the ZEGO stream with `options.stream_id`",
        ));
    }
    if let Some(secs) = req
        .expires_in_secs
        .filter(|s| u64::from(*s) > NODE_VALIDITY_SECS)
    {
        return Err(invalid_argument(format!(
            "`expires_in_secs` is {secs}; a ZEGO dispatch node is to be used within 2 hours, so \
             at most {NODE_VALIDITY_SECS}"
        )));
    }
    let options = Options::parse(&req.options_json)?;
    let stream_id = options.str("stream_id")?.ok_or_else(|| {
        invalid_argument(
            "`options.stream_id` is required: the ZEGO stream id to publish (push-in) or \
                 play (pull-out), 1 to 256 characters of 0-9 A-Z a-z _ -",
        )
    })?;
    if !is_stream_id(&stream_id) {
        return Err(invalid_argument(format!(
            "`options.stream_id` is `{stream_id}`; it must be 1 to {MAX_STREAM_ID} characters of \
             0-9 A-Z a-z _ -"
        )));
    }
    if settings.is_test == Some(true) && !stream_id.starts_with(&settings.test_prefix()) {
        return Err(invalid_argument(format!(
            "`options.stream_id` is `{stream_id}`; with `is_test = true` ZEGO requires stream \
             ids that start with `{}`",
            settings.test_prefix()
        )));
    }
    let client_ip = match options.str("client_ip")? {
        None => None,
        Some(text) => Some(text.parse::<Ipv4Addr>().map_err(|_| {
            invalid_argument(format!(
                "`options.client_ip` is `{text}`; it must be the encoder's or player's IPv4 \
                 address in dotted decimal (ZEGO does not take IPv6)"
            ))
        })?),
    };
    Ok(Dispatch {
        kind,
        stream_id,
        client_ip,
    })
}

/// The session for a successful answer: every URL in `Data` as an issued URL (purpose
/// publish for push, play for pull), valid for two hours from `now_secs`.
pub fn session(reply: Reply, dispatch: &Dispatch, now_secs: u64) -> Result<Session, ProviderError> {
    let urls: Vec<String> = match &reply.data {
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    if urls.is_empty() {
        return Err(reply.attach(bad_vendor_response(
            "RTMPDispatchV2 succeeded but `Data` holds no URL",
        )));
    }
    Ok(Session {
        session_ref: dispatch.session_ref(),
        vendor_task_id: None,
        issued_urls: urls
            .into_iter()
            .map(|url| IssuedUrl {
                purpose: dispatch.kind.purpose(),
                url,
            })
            .collect(),
        vendor_request_id: reply.request_id,
        expires_at: Some(now_secs.saturating_add(NODE_VALIDITY_SECS)),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ingest_plugin_sdk::ErrorKind;

    fn settings(is_test: Option<bool>) -> Settings {
        Settings {
            app_id: 1_234_567_890,
            host: "rtc-api.zego.im".into(),
            is_test,
        }
    }

    /// A start in room `room-1` for user `u` with these options.
    pub(crate) fn request(direction: Direction, options: &str) -> StartRequest {
        StartRequest {
            direction,
            room_id: "room-1".into(),
            user_id: "u".into(),
            display_name: None,
            stream_url: None,
            media: MediaKind::AudioVideo,
            callback_url: None,
            expires_in_secs: None,
            options_json: options.into(),
        }
    }

    fn invalid(req: &StartRequest, s: &Settings) -> String {
        let e = build(req, s).expect_err("rejected");
        assert_eq!(e.kind, ErrorKind::InvalidArgument, "{}", e.message);
        e.message
    }

    #[test]
    fn push_and_pull() {
        let d = build(
            &request(
                Direction::PushIn,
                r#"{"stream_id":"cam_1-A","client_ip":"203.0.113.7"}"#,
            ),
            &settings(None),
        )
        .expect("push");
        assert_eq!(d.kind, Kind::Push);
        assert_eq!(
            d.params(1_700_000_000_123),
            vec![
                ("StreamId", "cam_1-A".to_string()),
                ("Sequence", "1700000000123".to_string()),
                ("Type", "push".to_string()),
                ("ClientIP", "203.0.113.7".to_string()),
            ]
        );
        assert_eq!(d.session_ref(), "push:cam_1-A");

        let d = build(
            &request(Direction::PullOut, r#"{"stream_id":"s"}"#),
            &settings(None),
        )
        .expect("pull");
        assert_eq!(d.kind, Kind::Pull);
        assert_eq!(d.params(5).len(), 3);
        assert_eq!(d.kind.purpose(), UrlPurpose::Play);
    }

    #[test]
    fn unsupported_directions_and_media() {
        for dir in [Direction::PullIn, Direction::PushOut] {
            let e = build(&request(dir, r#"{"stream_id":"s"}"#), &settings(None)).expect_err("dir");
            assert_eq!(e.kind, ErrorKind::Unsupported);
        }
        let mut req = request(Direction::PushIn, r#"{"stream_id":"s"}"#);
        req.media = MediaKind::AudioOnly;
        assert_eq!(
            build(&req, &settings(None)).expect_err("media").kind,
            ErrorKind::Unsupported
        );
    }

    #[test]
    fn stream_id_rules() {
        let s = settings(None);
        assert!(invalid(&request(Direction::PushIn, "{}"), &s).contains("`options.stream_id`"));
        let long = format!(r#"{{"stream_id":"{}"}}"#, "a".repeat(257));
        for bad in [
            r#"{"stream_id":""}"#,
            r#"{"stream_id":"a b"}"#,
            r#"{"stream_id":"a.b"}"#,
            r#"{"stream_id":true}"#,
            long.as_str(),
        ] {
            assert!(
                invalid(&request(Direction::PushIn, bad), &s).contains("options.stream_id"),
                "{bad}"
            );
        }
        let ok = format!(r#"{{"stream_id":"{}"}}"#, "a".repeat(256));
        assert!(build(&request(Direction::PushIn, &ok), &s).is_ok());

        // The test environment's prefix.
        let t = settings(Some(true));
        let msg = invalid(&request(Direction::PushIn, r#"{"stream_id":"cam"}"#), &t);
        assert!(msg.contains("zegotest-1234567890-"), "{msg}");
        assert!(
            build(
                &request(
                    Direction::PushIn,
                    r#"{"stream_id":"zegotest-1234567890-cam"}"#
                ),
                &t
            )
            .is_ok()
        );
        assert!(
            build(
                &request(Direction::PushIn, r#"{"stream_id":"cam"}"#),
                &settings(Some(false))
            )
            .is_ok()
        );
    }

    #[test]
    fn client_ip_and_other_fields() {
        let s = settings(None);
        for bad in [
            "::1",
            "2001:db8::1",
            "1.2.3",
            "1.2.3.256",
            "host.example",
            " 1.2.3.4",
        ] {
            let opts = format!(r#"{{"stream_id":"s","client_ip":"{bad}"}}"#);
            assert!(
                invalid(&request(Direction::PushIn, &opts), &s).contains("`options.client_ip`"),
                "{bad}"
            );
        }
        let mut req = request(Direction::PushIn, r#"{"stream_id":"s"}"#);
        req.stream_url = Some("rtmp://x/y".into());
        assert!(invalid(&req, &s).contains("`stream_url`"));
        let mut req = request(Direction::PushIn, r#"{"stream_id":"s"}"#);
        req.expires_in_secs = Some(7201);
        assert!(invalid(&req, &s).contains("`expires_in_secs`"));
        req.expires_in_secs = Some(7200);
        assert!(build(&req, &s).is_ok());
        assert!(invalid(&request(Direction::PushIn, "[]"), &s).contains("options"));
    }

    fn reply(json: &str) -> Reply {
        crate::api::parse_reply("RTMPDispatchV2", 200, None, json.as_bytes()).expect("envelope")
    }

    #[test]
    fn session_from_answer() {
        let d = build(
            &request(Direction::PullOut, r#"{"stream_id":"s1"}"#),
            &settings(None),
        )
        .expect("pull");
        let s = session(
            reply(r#"{"Code":0,"Message":"ok","RequestId":"r","Data":["rtmp://81.69.49.115:1935/1540531164/s1","rtmp://10.0.0.1:1935/x/s1"]}"#),
            &d,
            1_700_000_000,
        )
        .expect("session");
        assert_eq!(s.session_ref, "pull:s1");
        assert_eq!(s.issued_urls.len(), 2);
        assert!(s.issued_urls.iter().all(|u| u.purpose == UrlPurpose::Play));
        assert_eq!(
            s.issued_urls[0].url,
            "rtmp://81.69.49.115:1935/1540531164/s1"
        );
        assert_eq!(s.expires_at, Some(1_700_007_200));
        assert_eq!(s.vendor_request_id.as_deref(), Some("r"));
        assert_eq!(s.vendor_task_id, None);

        for bad in [
            r#"{"Code":0,"RequestId":"r"}"#,
            r#"{"Code":0,"RequestId":"r","Data":[]}"#,
            r#"{"Code":0,"RequestId":"r","Data":"rtmp://a"}"#,
            r#"{"Code":0,"RequestId":"r","Data":[1,""]}"#,
        ] {
            let e = session(reply(bad), &d, 0).expect_err(bad);
            assert_eq!(e.kind, ErrorKind::VendorInternal);
            assert_eq!(e.vendor_request_id.as_deref(), Some("r"));
        }
    }
}
