//! `start` → `StartStreamIngest`: validating the request and building the body, and reading
//! the vendor's answer. Pure apart from the [`UserSigSource`] passed in; every check runs
//! before any network call.

use ingest_plugin_sdk::error::{bad_vendor_response, invalid_argument, unsupported};
use ingest_plugin_sdk::options::Options;
use ingest_plugin_sdk::{Direction, MediaKind, ProviderError, Session, StartRequest, session};
use serde::Serialize;

use crate::api::Reply;
use crate::settings::{KEY_ROOM_ID_TYPE, RoomIdType};
use crate::usersig::{Room, UserSigSource};

/// The `StartStreamIngest` body. Field order is fixed, so the bytes (and the signature) are
/// deterministic.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StartBody {
    /// `SdkAppId`.
    pub sdk_app_id: u64,
    /// `RoomId` (a string even when `RoomIdType` is 1).
    pub room_id: String,
    /// `RoomIdType`: 0 string, 1 integer.
    pub room_id_type: u8,
    /// `UserId` of the relay robot.
    pub user_id: String,
    /// `UserSig` for that user: `options.user_sig`, else generated (TLSSigAPIv2).
    pub user_sig: String,
    /// `StreamUrl`: the source.
    pub stream_url: String,
    /// `PrivateMapKey`, with advanced permission control.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_map_key: Option<String>,
    /// `SeekSecond`: start offset, seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seek_second: Option<i64>,
    /// `AutoPush`: relay to CDN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_push: Option<bool>,
    /// `RepeatNum`: -1 loops, else 1..=1000 plays.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat_num: Option<i64>,
    /// `MaxDuration`: minutes, only with `RepeatNum` = -1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<i64>,
    /// `Volume`: percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume: Option<i64>,
    /// `EnableProgress`: playback progress sent to the room as TRTC custom data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_progress: Option<bool>,
    /// `Tempo`: playback speed, one of [`TEMPOS`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tempo: Option<f64>,
    /// `IdleTimeout`: seconds idle before TRTC ends the task, 0..=600.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<i64>,
}

/// The only `Tempo` values Tencent takes (StartStreamIngest and UpdateStreamIngest: "可取[0.5,
/// 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]", tencentcloud-sdk-python `trtc/v20190722/models.py`).
pub const TEMPOS: [f64; 7] = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0];

/// `options.tempo` (start and update): a number (or a string holding one) equal to one of
/// [`TEMPOS`]; anything else is `invalid-argument` naming the allowed set and the value given
/// (bounded: see [`shown`]).
pub fn tempo(options: &Options) -> Result<Option<f64>, ProviderError> {
    let Some(value) = options.get("tempo") else {
        return Ok(None);
    };
    let given = match value {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match given {
        Some(t) if TEMPOS.contains(&t) => Ok(Some(t)),
        _ => Err(invalid_argument(format!(
            "`options.tempo` is {}; Tencent TRTC takes only the playback speeds 0.5, 0.75, 1.0, \
             1.25, 1.5, 1.75 and 2.0 (1.0 is normal speed)",
            shown(value)
        ))),
    }
}

/// The most characters of a caller's string an error message repeats.
pub const MAX_ECHO: usize = 64;

/// A caller's JSON value as an error message may repeat it, never more than a few dozen
/// characters: a number, boolean or null as JSON writes it; a string quoted and escaped
/// (`{:?}`: quotes, backslashes and control characters), cut to its first [`MAX_ECHO`]
/// characters followed by `…` and its length when longer; an array or an object by its type
/// only.
pub fn shown(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => {
            let count = s.chars().count();
            if count <= MAX_ECHO {
                format!("{s:?}")
            } else {
                let head: String = s.chars().take(MAX_ECHO).collect();
                format!("{head:?}… ({count} characters)")
            }
        }
        serde_json::Value::Array(_) => "an array".to_owned(),
        serde_json::Value::Object(_) => "an object".to_owned(),
        scalar => scalar.to_string(),
    }
}

/// Source URL schemes TRTC pulls from.
const STREAM_URL_SCHEMES: [&str; 4] = ["rtmp://", "rtmps://", "http://", "https://"];

/// Validates `req` and builds the body. `config_room_id_type` is the provider's
/// `room_id_type` config key, used when `options.room_id_type` is absent. The UserSig is
/// `options.user_sig` when given (an override), else `user_sigs`'s for `user_id`, asked for
/// only once everything else is valid.
pub fn build(
    req: &StartRequest,
    sdk_app_id: u64,
    config_room_id_type: Option<RoomIdType>,
    user_sigs: &impl UserSigSource,
) -> Result<StartBody, ProviderError> {
    if req.direction != Direction::PullIn {
        return Err(unsupported(format!(
            "tencent-trtc supports only direction `pull-in` (StartStreamIngest); direction `{}` \
             is not supported",
            req.direction.name()
        )));
    }
    if req.media != MediaKind::AudioVideo {
        return Err(unsupported(format!(
            "Tencent TRTC stream ingest relays the source's tracks as they are; media `{}` is \
             not supported (use `audio-video`)",
            req.media.name()
        )));
    }
    let options = Options::parse(&req.options_json)?;

    if req.room_id.trim().is_empty() {
        return Err(invalid_argument(
            "`room_id` is empty; it must name the TRTC room",
        ));
    }
    if req.user_id.trim().is_empty() {
        return Err(invalid_argument(
            "`user_id` is empty; it must be the user id TRTC gives the relay robot",
        ));
    }
    validate_user_id(&req.user_id)?;
    let stream_url = validate_stream_url(req.stream_url.as_deref())?;

    let given_user_sig = options.str("user_sig")?;
    if given_user_sig
        .as_deref()
        .is_some_and(|s| s.trim().is_empty())
    {
        return Err(invalid_argument(
            "`options.user_sig` is blank; pass the UserSig generated for `user_id` (the relay \
             robot), or leave the key out to have the gateway generate one from the provider's \
             secret `sdk_secret_key`",
        ));
    }

    // `options.room_id_type`, else the provider config, else Tencent's default (1, integer).
    // Never changed here: the integer room 42 and the string room "42" are different rooms.
    let (room_id_type, source) = match options.int("room_id_type", 0, 1)? {
        Some(n) => (
            RoomIdType::from_wire(n).ok_or_else(|| {
                invalid_argument("`options.room_id_type` must be 0 (string) or 1 (integer)")
            })?,
            "set by `options.room_id_type`",
        ),
        None => match config_room_id_type {
            Some(t) => (t, "set by the provider config key `room_id_type`"),
            None => (RoomIdType::default(), "Tencent's default"),
        },
    };
    if room_id_type == RoomIdType::Integer && integer_room_id(&req.room_id).is_none() {
        return Err(invalid_argument(format!(
            "`room_id` is `{}`; with room_id_type 1 ({source}) Tencent TRTC reads it as a 32-bit \
             integer room id, which must be decimal digits without a leading zero, \
             {MIN_INTEGER_ROOM}..={MAX_INTEGER_ROOM}. If the TRTC room has a string id, set \
             `options.room_id_type` to 0 (or `{KEY_ROOM_ID_TYPE} = 0` under \
             [providers.config]); the integer room 42 and the string room \"42\" are different \
             rooms",
            req.room_id
        )));
    }

    let repeat_num = options.int("repeat", -1, 1000)?;
    if repeat_num == Some(0) {
        return Err(invalid_argument(
            "`options.repeat` is 0; it must be -1 (loop until stopped or max_duration_mins) or \
             1..=1000 plays",
        ));
    }
    let max_duration = options.int("max_duration_mins", 1, 10080)?;
    if max_duration.is_some() && repeat_num != Some(-1) {
        return Err(invalid_argument(
            "`options.max_duration_mins` is only allowed with `options.repeat` = -1 (loop); set \
             repeat to -1 or drop max_duration_mins",
        ));
    }
    let volume = options.int("volume", 0, 200)?;
    let seek_second = options.int("seek_second", i64::MIN, i64::MAX)?;
    if let Some(n) = seek_second.filter(|n| *n < 0) {
        return Err(invalid_argument(format!(
            "`options.seek_second` is {n}; it must be 0 or more (seconds into the source)"
        )));
    }
    let given_private_map_key = options.str("private_map_key")?.filter(|s| !s.is_empty());
    let auto_push = options.bool("auto_push")?;
    let enable_progress = options.bool("enable_progress")?;
    let tempo = tempo(&options)?;
    let idle_timeout = options.int("idle_timeout", 0, MAX_IDLE_TIMEOUT)?;
    let user_sig = match given_user_sig {
        Some(given) => given,
        None => user_sigs.user_sig(&req.user_id)?,
    };
    // `options.private_map_key` overrides; else one is generated when the provider is
    // configured with `private_map_privileges`, for exactly this room as Tencent reads it.
    let private_map_key = match given_private_map_key {
        Some(given) => Some(given),
        None => {
            let room = match room_id_type {
                RoomIdType::Integer => Room::Integer(integer_room_id(&req.room_id).unwrap_or(0)),
                RoomIdType::String => Room::Str(&req.room_id),
            };
            user_sigs.private_map_key(&req.user_id, room)?
        }
    };

    Ok(StartBody {
        sdk_app_id,
        room_id: req.room_id.clone(),
        room_id_type: room_id_type.wire(),
        user_id: req.user_id.clone(),
        user_sig,
        stream_url,
        private_map_key,
        seek_second,
        auto_push,
        repeat_num,
        max_duration,
        volume,
        enable_progress,
        tempo,
        idle_timeout,
    })
}

pub(crate) fn validate_stream_url(url: Option<&str>) -> Result<String, ProviderError> {
    let url = url.map(str::trim).unwrap_or_default();
    if url.is_empty() {
        return Err(invalid_argument(
            "`stream_url` is required for pull-in: the source URL TRTC pulls into the room \
             (rtmp://, rtmps://, http:// or https://)",
        ));
    }
    let ok = STREAM_URL_SCHEMES.iter().any(|scheme| {
        url.get(..scheme.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(scheme))
            && url.len() > scheme.len()
    });
    if ok {
        Ok(url.to_string())
    } else {
        Err(invalid_argument(format!(
            "`stream_url` is `{url}`; it must start with rtmp://, rtmps://, http:// or https://"
        )))
    }
}

/// The smallest integer room id (`RoomIdType` 1).
pub const MIN_INTEGER_ROOM: u32 = 1;
/// The largest integer room id (`RoomIdType` 1): Tencent's range is 1..4294967294.
pub const MAX_INTEGER_ROOM: u32 = 4_294_967_294;
/// The longest `IdleTimeout`, seconds (Tencent: "可取[0, 600]").
pub const MAX_IDLE_TIMEOUT: i64 = 600;
/// The longest `UserId`, characters.
pub const MAX_USER_ID: usize = 32;

/// `room_id` as an integer room id: decimal digits only, no leading zero (so that one room has
/// one spelling), in [`MIN_INTEGER_ROOM`]..=[`MAX_INTEGER_ROOM`].
pub fn integer_room_id(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || s.starts_with('0') {
        return None;
    }
    s.parse::<u32>()
        .ok()
        .filter(|n| (MIN_INTEGER_ROOM..=MAX_INTEGER_ROOM).contains(n))
}

/// `UserId`: at most 32 characters of `A-Z a-z 0-9 _ -`.
fn validate_user_id(user_id: &str) -> Result<(), ProviderError> {
    let ok = user_id.len() <= MAX_USER_ID
        && user_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(invalid_argument(format!(
            "`user_id` is `{user_id}`; Tencent TRTC user ids are 1 to {MAX_USER_ID} characters of \
             A-Z, a-z, 0-9, `_` and `-`"
        )))
    }
}

/// The session for a successful `StartStreamIngest` answer: the session reference is the
/// TaskId, verbatim.
pub fn session(reply: Reply) -> Result<Session, ProviderError> {
    let task_id = match reply.response.get("TaskId") {
        Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
        Some(serde_json::Value::String(_)) => {
            return Err(reply.attach(bad_vendor_response(
                "StartStreamIngest returned an empty TaskId",
            )));
        }
        _ => {
            return Err(reply.attach(bad_vendor_response("StartStreamIngest returned no TaskId")));
        }
    };
    // Not empty (refused above): only its length can keep it from being a session reference,
    // and that is the vendor's doing.
    if !session::fits(&task_id) {
        return Err(reply.attach(bad_vendor_response(format!(
            "StartStreamIngest returned a TaskId of {} bytes (the session reference holds at most {})",
            task_id.len(),
            session::MAX_SESSION_REF_BYTES
        ))));
    }
    Ok(Session {
        session_ref: task_id.clone(),
        vendor_task_id: Some(task_id),
        issued_urls: Vec::new(),
        vendor_request_id: reply.request_id,
        expires_at: None,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ingest_plugin_sdk::ErrorKind;
    use serde_json::json;

    /// A provider without `sdk_secret_key`: every start needs `options.user_sig`.
    struct NoKey;

    impl UserSigSource for NoKey {
        fn user_sig(&self, _user_id: &str) -> Result<String, ProviderError> {
            Err(crate::usersig::no_user_sig())
        }
    }

    /// A provider whose UserSigs are `generated-for-{user_id}`.
    struct Fixed;

    impl UserSigSource for Fixed {
        fn user_sig(&self, user_id: &str) -> Result<String, ProviderError> {
            Ok(format!("generated-for-{user_id}"))
        }
    }

    /// [`super::build`] for a provider without `sdk_secret_key`.
    fn build(
        req: &StartRequest,
        sdk_app_id: u64,
        config_room_id_type: Option<RoomIdType>,
    ) -> Result<StartBody, ProviderError> {
        super::build(req, sdk_app_id, config_room_id_type, &NoKey)
    }

    /// A pull-in start of `rtmp://src.example/live/a` into room 42 with these options.
    pub(crate) fn request(options: &str) -> StartRequest {
        StartRequest {
            direction: Direction::PullIn,
            room_id: "42".into(),
            user_id: "relay-bot".into(),
            display_name: None,
            stream_url: Some("rtmp://src.example/live/a".into()),
            media: MediaKind::AudioVideo,
            callback_url: None,
            expires_in_secs: None,
            options_json: options.into(),
        }
    }

    fn invalid(req: &StartRequest, cfg: Option<RoomIdType>) -> String {
        let e = build(req, 1400000001, cfg).expect_err("should be rejected");
        assert_eq!(e.kind, ErrorKind::InvalidArgument, "{}", e.message);
        e.message
    }

    #[test]
    fn minimal_body_bytes_are_deterministic() {
        let body = build(&request(r#"{"user_sig":"sig"}"#), 1400000001, None).expect("valid");
        let json = serde_json::to_string(&body).expect("serialize");
        assert_eq!(
            json,
            r#"{"SdkAppId":1400000001,"RoomId":"42","RoomIdType":1,"UserId":"relay-bot","UserSig":"sig","StreamUrl":"rtmp://src.example/live/a"}"#
        );
    }

    /// Without `options.room_id_type` and without the config key the type is Tencent's
    /// default, 1: room 42 is the integer room 42, never the string room "42".
    #[test]
    fn default_room_id_type_is_integer() {
        let body = build(&request(r#"{"user_sig":"s"}"#), 1, None).expect("valid");
        assert_eq!((body.room_id.as_str(), body.room_id_type), ("42", 1));
    }

    /// A room id that is not an integer room, with the default type: refused, naming the
    /// field, the rule and the way to ask for a string room — never sent as another type.
    #[test]
    fn non_numeric_room_with_the_default_type_is_refused_with_the_fix() {
        let mut req = request(r#"{"user_sig":"s"}"#);
        req.room_id = "room-42".into();
        let msg = invalid(&req, None);
        for needle in [
            "`room_id`",
            "room-42",
            "Tencent's default",
            "1..=4294967294",
            "`options.room_id_type` to 0",
            "room_id_type = 0",
        ] {
            assert!(msg.contains(needle), "{needle}: {msg}");
        }
        // The same with the type set to 1 explicitly names where it came from.
        let msg = invalid(&req, Some(RoomIdType::Integer));
        assert!(msg.contains("provider config key `room_id_type`"), "{msg}");
        let mut req = request(r#"{"user_sig":"s","room_id_type":1}"#);
        req.room_id = "room-42".into();
        assert!(invalid(&req, Some(RoomIdType::String)).contains("`options.room_id_type`"));
    }

    /// A string room only when asked for, by option or config; the room id is sent as is.
    #[test]
    fn string_room_ids_when_asked_for() {
        let mut req = request(r#"{"user_sig":"s","room_id_type":0}"#);
        req.room_id = "room-42".into();
        let body = build(&req, 1, None).expect("valid");
        assert_eq!((body.room_id.as_str(), body.room_id_type), ("room-42", 0));
        let json = serde_json::to_string(&body).expect("serialize");
        assert!(
            json.contains(r#""RoomId":"room-42","RoomIdType":0"#),
            "{json}"
        );

        let mut req = request(r#"{"user_sig":"s"}"#);
        req.room_id = "room-42".into();
        let body = build(&req, 1, Some(RoomIdType::String)).expect("config string");
        assert_eq!(body.room_id_type, 0);
        // A numeric room with the string type stays the string room "42".
        let body =
            build(&request(r#"{"user_sig":"s"}"#), 1, Some(RoomIdType::String)).expect("string 42");
        assert_eq!((body.room_id.as_str(), body.room_id_type), ("42", 0));
        let body = build(&request(r#"{"user_sig":"s","room_id_type":"0"}"#), 1, None)
            .expect("string 42 by option");
        assert_eq!((body.room_id.as_str(), body.room_id_type), ("42", 0));
    }

    /// Integer rooms are 1..4294967294, in decimal digits.
    #[test]
    fn integer_room_range() {
        for ok in ["1", "7", "42", "4294967294"] {
            let mut req = request(r#"{"user_sig":"s"}"#);
            req.room_id = ok.into();
            let body = build(&req, 1, None).expect(ok);
            assert_eq!((body.room_id.as_str(), body.room_id_type), (ok, 1));
        }
        for bad in [
            "0",
            "4294967295",
            "4294967296",
            "99999999999999999999",
            "-1",
            "+5",
            " 5",
            "5 ",
            "1.0",
            "1e3",
            "042",
            "00",
            "0x2a",
            "\u{ff11}",
        ] {
            let mut req = request(r#"{"user_sig":"s"}"#);
            req.room_id = bad.into();
            assert!(invalid(&req, None).contains("`room_id`"), "{bad:?}");
        }
        assert_eq!(integer_room_id("4294967294"), Some(4_294_967_294));
        assert_eq!(integer_room_id("1"), Some(1));
        assert_eq!(integer_room_id("0"), None);
        assert_eq!(integer_room_id(""), None);
    }

    /// `UserId`: at most 32 characters of `A-Z a-z 0-9 _ -`.
    #[test]
    fn user_id_rules() {
        for ok in ["relay-bot", "Relay_Bot_01", "a", &"x".repeat(32)] {
            let mut req = request(r#"{"user_sig":"s"}"#);
            req.user_id = ok.to_string();
            let body = build(&req, 1, None).expect(ok);
            assert_eq!(body.user_id, ok);
        }
        for bad in [
            "relay.bot",
            "bot@example",
            "relay bot",
            " relay-bot",
            "机器人",
            &"x".repeat(33),
        ] {
            let mut req = request(r#"{"user_sig":"s"}"#);
            req.user_id = bad.to_string();
            let msg = invalid(&req, None);
            assert!(
                msg.contains("`user_id`") && msg.contains("32"),
                "{bad}: {msg}"
            );
        }
    }

    #[test]
    fn all_options() {
        let mut req = request(
            r#"{"user_sig":"sig","room_id_type":1,"repeat":-1,"max_duration_mins":60,
                "volume":150,"seek_second":"30","private_map_key":"pmk","auto_push":true,
                "enable_progress":true,"tempo":1.25,"idle_timeout":600,"ignored":1}"#,
        );
        req.room_id = "4294967294".into();
        let body = build(&req, 7, None).expect("valid");
        let json = serde_json::to_string(&body).expect("serialize");
        assert_eq!(
            json,
            r#"{"SdkAppId":7,"RoomId":"4294967294","RoomIdType":1,"UserId":"relay-bot","UserSig":"sig","StreamUrl":"rtmp://src.example/live/a","PrivateMapKey":"pmk","SeekSecond":30,"AutoPush":true,"RepeatNum":-1,"MaxDuration":60,"Volume":150,"EnableProgress":true,"Tempo":1.25,"IdleTimeout":600}"#
        );
    }

    /// `Tempo` at start takes only Tencent's seven speeds, refused before any request (and
    /// before a UserSig is asked for) naming them; `IdleTimeout` is 0..=600.
    #[test]
    fn start_tempo_and_idle_timeout_follow_the_published_values() {
        for (given, sent) in [("0.5", 0.5), ("1", 1.0), ("\"1.75\"", 1.75), ("2.0", 2.0)] {
            let body = build(
                &request(&format!(r#"{{"user_sig":"s","tempo":{given}}}"#)),
                1,
                None,
            )
            .expect(given);
            assert_eq!(body.tempo, Some(sent), "{given}");
        }
        for bad in ["1.3", "0", "0.7", "2.25", "-1", "\"x\"", "false"] {
            // `Fixed` would generate a UserSig: the refusal comes first.
            let e = super::build(&request(&format!(r#"{{"tempo":{bad}}}"#)), 1, None, &Fixed)
                .expect_err(bad);
            assert_eq!(e.kind, ErrorKind::InvalidArgument, "{bad}");
            assert!(
                e.message.contains("`options.tempo`")
                    && e.message
                        .contains("0.5, 0.75, 1.0, 1.25, 1.5, 1.75 and 2.0"),
                "{bad}: {}",
                e.message
            );
        }
        // The refused value is named, but bounded and escaped: an object or array by its
        // type, a long string cut to 64 characters, control characters and quotes escaped.
        let big = "x".repeat(10_000);
        let quoted = format!("\"`\n{}", "y".repeat(200));
        for (bad, shows, len) in [
            (json!({ "speed": big }), "is an object;", 0),
            (json!([big, 1]), "is an array;", 0),
            (json!(quoted), r#"is "\"`\ny"#, 203),
            (json!(1.3), "is 1.3;", 0),
            (json!("x"), r#"is "x";"#, 0),
        ] {
            let options = json!({ "user_sig": "s", "tempo": bad }).to_string();
            let e = build(&request(&options), 1, None).expect_err("refused");
            assert!(e.message.contains(shows), "{}", e.message);
            assert!(!e.message.contains("xxxxx"), "{}", e.message);
            assert!(!e.message.contains('\n'), "{}", e.message);
            assert!(e.message.len() < 260, "{}", e.message);
            if len > 0 {
                assert!(
                    e.message.contains(&format!("\"… ({len} characters)")),
                    "{}",
                    e.message
                );
                assert!(!e.message.contains(&"y".repeat(62)), "{}", e.message);
            }
        }
        let body = build(&request(r#"{"user_sig":"s","idle_timeout":0}"#), 1, None).expect("0");
        assert_eq!(body.idle_timeout, Some(0));
        for bad in [
            r#"{"user_sig":"s","idle_timeout":601}"#,
            r#"{"user_sig":"s","idle_timeout":-1}"#,
        ] {
            assert!(
                invalid(&request(bad), None).contains("`options.idle_timeout`"),
                "{bad}"
            );
        }
        assert!(
            invalid(&request(r#"{"user_sig":"s","enable_progress":1}"#), None)
                .contains("`options.enable_progress`")
        );
    }

    #[test]
    fn room_id_type_precedence() {
        let mut req = request(r#"{"user_sig":"s"}"#);
        req.room_id = "room-42".into();
        // Config says integer, the room id is not one.
        assert!(invalid(&req, Some(RoomIdType::Integer)).contains("`room_id`"));
        // Options override config, both ways.
        let mut req = request(r#"{"user_sig":"s","room_id_type":0}"#);
        req.room_id = "room-42".into();
        let body = build(&req, 1, Some(RoomIdType::Integer)).expect("valid");
        assert_eq!(body.room_id_type, 0);
        let req = request(r#"{"user_sig":"s","room_id_type":1}"#);
        let body = build(&req, 1, Some(RoomIdType::String)).expect("valid");
        assert_eq!(body.room_id_type, 1);
        // Config over the default.
        assert_eq!(
            build(
                &request(r#"{"user_sig":"s"}"#),
                1,
                Some(RoomIdType::Integer)
            )
            .expect("valid")
            .room_id_type,
            1
        );
        // Out of range.
        for bad in ["2", "-1", "\"x\"", "true"] {
            let req = request(&format!(r#"{{"user_sig":"s","room_id_type":{bad}}}"#));
            assert!(invalid(&req, None).contains("room_id_type"), "{bad}");
        }
        for bad in ["4294967296", "-1", "+5", " 5", "1.0"] {
            let mut req = request(r#"{"user_sig":"s","room_id_type":1}"#);
            req.room_id = bad.into();
            assert!(invalid(&req, None).contains("`room_id`"), "{bad}");
        }
    }

    #[test]
    fn direction_and_media() {
        let mut req = request(r#"{"user_sig":"s"}"#);
        req.direction = Direction::PushOut;
        let e = build(&req, 1, None).expect_err("push-out");
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert!(e.message.contains("`push-out`"), "{}", e.message);

        let mut req = request(r#"{"user_sig":"s"}"#);
        req.media = MediaKind::AudioOnly;
        let e = build(&req, 1, None).expect_err("audio-only");
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert!(e.message.contains("audio-only"));
    }

    /// Without `options.user_sig` the source's UserSig is used; with it, the option wins.
    #[test]
    fn user_sig_from_the_source_or_the_option() {
        let body = super::build(&request("{}"), 1, None, &Fixed).expect("generated");
        assert_eq!(body.user_sig, "generated-for-relay-bot");
        let body =
            super::build(&request(r#"{"user_sig":"given"}"#), 1, None, &Fixed).expect("given");
        assert_eq!(body.user_sig, "given");
        // Invalid input is refused before a UserSig is made.
        let mut req = request("{}");
        req.room_id = "room-42".into();
        let e = super::build(&req, 1, None, &NoKey).expect_err("bad room");
        assert!(e.message.contains("`room_id`"), "{}", e.message);
        // A blank option is a mistake, not a request to generate.
        let e = super::build(&request(r#"{"user_sig":" "}"#), 1, None, &Fixed).expect_err("blank");
        assert!(e.message.contains("blank"), "{}", e.message);
    }

    #[test]
    fn required_fields() {
        let msg = invalid(&request("{}"), None);
        assert!(
            msg.contains("`options.user_sig`") && msg.contains("`sdk_secret_key`"),
            "{msg}"
        );
        assert!(invalid(&request(r#"{"user_sig":"  "}"#), None).contains("`options.user_sig`"));
        assert!(invalid(&request(r#"{"user_sig":true}"#), None).contains("options.user_sig"));

        let mut req = request(r#"{"user_sig":"s"}"#);
        req.room_id = " ".into();
        assert!(invalid(&req, None).contains("`room_id`"));

        let mut req = request(r#"{"user_sig":"s"}"#);
        req.user_id = String::new();
        assert!(invalid(&req, None).contains("`user_id`"));

        let mut req = request(r#"{"user_sig":"s"}"#);
        req.stream_url = None;
        assert!(invalid(&req, None).contains("`stream_url`"));

        assert!(invalid(&request("[1]"), None).contains("options"));
        assert!(invalid(&request("{"), None).contains("options"));
    }

    #[test]
    fn stream_url_schemes() {
        for ok in [
            "rtmp://a/b",
            "RTMPS://a/b",
            "http://a/b.m3u8",
            "https://a/b.mp4",
        ] {
            let mut req = request(r#"{"user_sig":"s"}"#);
            req.stream_url = Some(ok.into());
            assert!(build(&req, 1, None).is_ok(), "{ok}");
        }
        for bad in ["srt://a", "ftp://a/b", "rtmp://", "a/b", "rtmp:/a", "é"] {
            let mut req = request(r#"{"user_sig":"s"}"#);
            req.stream_url = Some(bad.into());
            assert!(invalid(&req, None).contains("`stream_url`"), "{bad}");
        }
    }

    #[test]
    fn numeric_options() {
        let cases = [
            (r#"{"user_sig":"s","repeat":0}"#, "options.repeat"),
            (r#"{"user_sig":"s","repeat":1001}"#, "options.repeat"),
            (r#"{"user_sig":"s","repeat":-2}"#, "options.repeat"),
            (r#"{"user_sig":"s","repeat":"x"}"#, "options.repeat"),
            (
                r#"{"user_sig":"s","max_duration_mins":10}"#,
                "options.max_duration_mins",
            ),
            (
                r#"{"user_sig":"s","repeat":3,"max_duration_mins":10}"#,
                "options.max_duration_mins",
            ),
            (
                r#"{"user_sig":"s","repeat":-1,"max_duration_mins":0}"#,
                "options.max_duration_mins",
            ),
            (
                r#"{"user_sig":"s","repeat":-1,"max_duration_mins":10081}"#,
                "options.max_duration_mins",
            ),
            (r#"{"user_sig":"s","volume":201}"#, "options.volume"),
            (r#"{"user_sig":"s","volume":-1}"#, "options.volume"),
            (
                r#"{"user_sig":"s","seek_second":-1}"#,
                "options.seek_second",
            ),
            (
                r#"{"user_sig":"s","seek_second":1.5}"#,
                "options.seek_second",
            ),
            (r#"{"user_sig":"s","auto_push":"yes"}"#, "options.auto_push"),
        ];
        for (options, field) in cases {
            let msg = invalid(&request(options), None);
            assert!(msg.contains(field), "{options}: {msg}");
        }
        let body = build(&request(r#"{"user_sig":"s","repeat":-1}"#), 1, None).expect("loop");
        assert_eq!((body.repeat_num, body.max_duration), (Some(-1), None));
        let body = build(
            &request(r#"{"user_sig":"s","volume":0,"seek_second":0}"#),
            1,
            None,
        )
        .expect("zeroes");
        assert_eq!((body.volume, body.seek_second), (Some(0), Some(0)));
    }

    fn reply(json: &str) -> Reply {
        crate::api::parse_reply("StartStreamIngest", 200, None, json.as_bytes()).expect("envelope")
    }

    #[test]
    fn session_from_reply() {
        let s = session(reply(
            r#"{"Response":{"TaskId":"a+b.c-d_e==","RequestId":"r1"}}"#,
        ))
        .expect("session");
        assert_eq!(s.session_ref, "a+b.c-d_e==");
        assert_eq!(s.vendor_task_id.as_deref(), Some("a+b.c-d_e=="));
        assert_eq!(s.vendor_request_id.as_deref(), Some("r1"));
        assert!(s.issued_urls.is_empty());
        assert_eq!(s.expires_at, None);

        for bad in [
            r#"{"Response":{"RequestId":"r1"}}"#,
            r#"{"Response":{"TaskId":"","RequestId":"r1"}}"#,
            r#"{"Response":{"TaskId":5,"RequestId":"r1"}}"#,
        ] {
            let e = session(reply(bad)).expect_err(bad);
            assert_eq!(e.kind, ErrorKind::VendorInternal);
            assert_eq!(e.vendor_request_id.as_deref(), Some("r1"));
        }
        let long = format!(r#"{{"Response":{{"TaskId":"{}"}}}}"#, "x".repeat(2049));
        assert!(session(reply(&long)).is_err());
    }
}
