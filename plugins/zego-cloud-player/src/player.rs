//! `start` → `CreatePlayer`, `update` → `UpdatePlayer`, `stop` → `DeletePlayer`, `status` →
//! `DescribePlayers`: request validation, bodies, and reading the answers. Pure; every check
//! runs before any network call.

use ingest_plugin_sdk::error::{bad_vendor_response, invalid_argument, unsupported};
use ingest_plugin_sdk::options::Options;
use ingest_plugin_sdk::{
    Direction, ErrorKind, IngestState, IngestStatus, MediaKind, ProviderError, Session,
    StartRequest, StopResult, UpdateRequest, UpdateResult,
};
use serde_json::{Map, Value, json};

use crate::api::Reply;
use crate::settings::Settings;

/// Longest stream id, characters.
pub const MAX_STREAM_ID: usize = 256;
/// Longest room id the plugin passes on, bytes (ZEGO room ids are at most 128 bytes).
pub const MAX_ROOM_ID: usize = 128;
/// Longest PlayerId the session reference carries, bytes.
pub const MAX_SESSION_REF: usize = 2048;
/// `PageSize` for `DescribePlayers` (the vendor allows 1..=50; one PlayerId matches at most
/// one player, the headroom tolerates a vendor that ignores the filter).
pub const DESCRIBE_PAGE_SIZE: u32 = 50;

/// Source URL schemes the plugin passes on.
const URL_SCHEMES: [&str; 4] = ["rtmp://", "rtmps://", "http://", "https://"];

/// Whether `s` is a ZEGO stream id: 1..=256 characters `[0-9A-Za-z_-]`.
pub fn is_stream_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_STREAM_ID
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn check_url(field: &str, url: &str) -> Result<String, ProviderError> {
    let url = url.trim();
    let ok = URL_SCHEMES.iter().any(|scheme| {
        url.get(..scheme.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(scheme))
            && url.len() > scheme.len()
    });
    if ok {
        Ok(url.to_string())
    } else {
        Err(invalid_argument(format!(
            "`{field}` is `{url}`; it must be a source ZEGO's cloud player can pull: an \
             rtmp://, rtmps://, http:// or https:// URL"
        )))
    }
}

/// Validates `req` and builds the `CreatePlayer` body (a JSON object; its keys serialize in
/// sorted order, so the bytes are deterministic).
pub fn create_body(req: &StartRequest, settings: &Settings) -> Result<Value, ProviderError> {
    if req.direction != Direction::PullIn {
        return Err(unsupported(format!(
            "zego-cloud-player supports only direction `pull-in` (CreatePlayer pulls a source \
             URL into the room); direction `{}` is not supported",
            req.direction.name()
        )));
    }
    if req.media != MediaKind::AudioVideo {
        return Err(unsupported(
            "the plugin only supports media `audio-video`: ZEGO does not publish the shape of \
             CreatePlayer's AudioOptions/VideoOptions; pass them yourself as \
             `options.audio_options` / `options.video_options`",
        ));
    }
    let options = Options::parse(&req.options_json)?;
    let room = req.room_id.as_str();
    if room.trim().is_empty() || room.len() > MAX_ROOM_ID || room.chars().any(char::is_control) {
        return Err(invalid_argument(format!(
            "`room_id` must be 1 to {MAX_ROOM_ID} bytes without control characters (the ZEGO \
             room the player publishes into)"
        )));
    }
    let stream_url = match req.stream_url.as_deref() {
        Some(url) => check_url("stream_url", url)?,
        None => {
            return Err(invalid_argument(
                "`stream_url` is required for pull-in: the source URL ZEGO's cloud player pulls \
                 into the room",
            ));
        }
    };

    let mut body = Map::new();
    body.insert("RoomId".into(), json!(req.room_id));
    body.insert("StreamUrl".into(), json!(stream_url));
    if let Some(name) = req.display_name.as_deref() {
        if name.trim().is_empty() || name.chars().any(char::is_control) {
            return Err(invalid_argument(
                "`display_name` must not be blank or hold control characters (sent as \
                 PlayerName)",
            ));
        }
        body.insert("PlayerName".into(), json!(name));
    }
    if let Some(stream_id) = options.str("stream_id")? {
        if !is_stream_id(&stream_id) {
            return Err(invalid_argument(format!(
                "`options.stream_id` is `{stream_id}`; it must be 1 to {MAX_STREAM_ID} \
                 characters of 0-9 A-Z a-z _ -"
            )));
        }
        if settings.is_test == Some(true) && !stream_id.starts_with(&settings.test_prefix()) {
            return Err(invalid_argument(format!(
                "`options.stream_id` is `{stream_id}`; with `is_test = true` ZEGO requires \
                 stream ids that start with `{}`",
                settings.test_prefix()
            )));
        }
        body.insert("StreamId".into(), json!(stream_id));
    }
    insert_backup_url(&options, &mut body)?;
    if let Some(n) = options.int("max_idle_time", 0, i64::from(u32::MAX))? {
        body.insert("MaxIdleTime".into(), json!(n));
    }
    if let Some(n) = options.int("play_time", 0, i64::MAX)? {
        body.insert("PlayTime".into(), json!(n));
    }
    if let Some(v) = options.get("room_user_update") {
        if !(v.is_boolean() || v.is_number()) {
            return Err(invalid_argument(
                "`options.room_user_update` must be a boolean or a number; it is passed to ZEGO \
                 as RoomUserUpdate unchanged",
            ));
        }
        body.insert("RoomUserUpdate".into(), v.clone());
    }
    insert_media_options(&options, &mut body)?;
    Ok(Value::Object(body))
}

/// `options.backup_stream_url` → `BackupStreamUrl`, checked like `stream_url`.
fn insert_backup_url(
    options: &Options,
    body: &mut Map<String, Value>,
) -> Result<(), ProviderError> {
    if let Some(url) = options.str("backup_stream_url")? {
        body.insert(
            "BackupStreamUrl".into(),
            json!(check_url("options.backup_stream_url", &url)?),
        );
    }
    Ok(())
}

/// `options.video_options` / `options.audio_options` → `VideoOptions` / `AudioOptions`: JSON
/// objects, passed unchanged.
fn insert_media_options(
    options: &Options,
    body: &mut Map<String, Value>,
) -> Result<(), ProviderError> {
    for (key, field) in [
        ("video_options", "VideoOptions"),
        ("audio_options", "AudioOptions"),
    ] {
        if let Some(v) = options.get(key) {
            if !v.is_object() {
                return Err(invalid_argument(format!(
                    "`options.{key}` must be a JSON object; it is passed to ZEGO as {field} \
                     unchanged"
                )));
            }
            body.insert(field.into(), v.clone());
        }
    }
    Ok(())
}

/// The options an update reads.
pub const UPDATE_KEYS: &[&str] = &["backup_stream_url", "video_options", "audio_options"];

/// Validates an update of player `player_id` and builds the `UpdatePlayer` body: `PlayerId`
/// and only the fields that change (`StreamUrl`, `BackupStreamUrl`, `VideoOptions`,
/// `AudioOptions`), keys in sorted order. Refuses options it does not read and an update that
/// changes nothing.
pub fn update_body(req: &UpdateRequest, player_id: &str) -> Result<Value, ProviderError> {
    let options = Options::parse(&req.options_json)?;
    options.only(UPDATE_KEYS)?;
    let mut body = Map::new();
    body.insert("PlayerId".into(), json!(player_id));
    if let Some(url) = req.stream_url.as_deref() {
        body.insert("StreamUrl".into(), json!(check_url("stream_url", url)?));
    }
    insert_backup_url(&options, &mut body)?;
    insert_media_options(&options, &mut body)?;
    if body.len() == 1 {
        return Err(invalid_argument(format!(
            "an update must change something: give `stream_url` (the new source) and/or \
             `options` ({})",
            UPDATE_KEYS.join(", ")
        )));
    }
    Ok(Value::Object(body))
}

/// The result of a successful `UpdatePlayer`: the PlayerId, and so the session reference, stays.
pub fn updated(reply: Reply) -> UpdateResult {
    UpdateResult {
        session_ref: None,
        vendor_request_id: reply.request_id,
    }
}

/// Whether a refused `UpdatePlayer` is worth a `DescribePlayers` to tell why: ZEGO answers an
/// unknown or ended player with a code that does not say so (its invalid-parameter code, or a
/// code the plugin does not know), never with a retryable or credential error.
pub fn worth_describing(e: &ProviderError) -> bool {
    e.vendor_code.is_some()
        && match e.kind {
            ErrorKind::InvalidArgument => true,
            ErrorKind::VendorInternal => !e.retryable,
            _ => false,
        }
}

/// The error for a refused `UpdatePlayer` (`refused`), given what `DescribePlayers` says of
/// `player_id`: not listed → `not-found`; ended (source failed, finished, destroyed) →
/// `failed-precondition`; otherwise ZEGO's refusal stands. The vendor fields stay those of the
/// `UpdatePlayer` answer.
pub fn update_refused(refused: ProviderError, described: Reply, player_id: &str) -> ProviderError {
    let Ok(found) = status(described, player_id) else {
        return refused;
    };
    let (kind, message) = match found.state {
        IngestState::NotFound => (
            ErrorKind::NotFound,
            format!(
                "ZEGO refused UpdatePlayer and lists no player `{player_id}`: it ended and was \
                 forgotten, or never existed; start a new ingest"
            ),
        ),
        IngestState::Failed | IngestState::Stopped => (
            ErrorKind::FailedPrecondition,
            format!(
                "ZEGO refused UpdatePlayer: player `{player_id}` is no longer running (Status \
                 {}: {}); an ended player cannot be updated, start a new ingest",
                found.vendor_state.as_deref().unwrap_or("?"),
                found.detail.as_deref().unwrap_or("ended")
            ),
        ),
        _ => return refused,
    };
    ProviderError {
        kind,
        message,
        retryable: false,
        retry_after_secs: None,
        ..refused
    }
}

/// The session for a successful `CreatePlayer`: the PlayerId is the session reference and the
/// vendor task id.
pub fn session(reply: Reply) -> Result<Session, ProviderError> {
    let player_id = match reply.data.get("PlayerId") {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_SESSION_REF => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            return Err(reply.attach(bad_vendor_response(
                "CreatePlayer returned no usable `Data.PlayerId`",
            )));
        }
    };
    Ok(Session {
        session_ref: player_id.clone(),
        vendor_task_id: Some(player_id),
        issued_urls: Vec::new(),
        vendor_request_id: reply.request_id,
        expires_at: None,
    })
}

/// The PlayerId in a session reference.
pub fn player_id(session_ref: &str) -> Result<&str, ProviderError> {
    if session_ref.is_empty() || session_ref.len() > MAX_SESSION_REF {
        return Err(invalid_argument(
            "`session_ref` must be the PlayerId that start returned",
        ));
    }
    Ok(session_ref)
}

/// The `DeletePlayer` body.
pub fn delete_body(player_id: &str) -> Value {
    json!({ "PlayerId": player_id })
}

/// The result of a successful `DeletePlayer`.
pub fn stopped(reply: Reply) -> StopResult {
    StopResult {
        vendor_request_id: reply.request_id,
    }
}

/// The `DescribePlayers` body for one player.
pub fn describe_body(player_id: &str) -> Value {
    json!({ "PlayerId": player_id, "PageSize": DESCRIBE_PAGE_SIZE })
}

/// A player `Status` → the normalized state and the vendor's name for it.
pub fn state_for(status: i64) -> (IngestState, &'static str) {
    match status {
        1 => (IngestState::Starting, "creating"),
        2 => (IngestState::Starting, "connecting"),
        3 => (IngestState::Starting, "waiting"),
        4 => (IngestState::Running, "playing"),
        5 => (IngestState::Running, "paused"),
        6 => (IngestState::Failed, "source failed"),
        7 => (IngestState::Stopped, "finished"),
        8 => (IngestState::Stopped, "destroyed"),
        _ => (IngestState::Unknown, "unknown status"),
    }
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The normalized status from a `DescribePlayers` answer for `player_id`.
pub fn status(reply: Reply, player_id: &str) -> Result<IngestStatus, ProviderError> {
    let players = match reply.data.get("Players") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list.clone(),
        Some(_) => {
            return Err(reply.attach(bad_vendor_response(
                "DescribePlayers returned `Players` that is not an array",
            )));
        }
    };
    let found = players
        .iter()
        .find(|p| p.get("PlayerId").and_then(as_text).as_deref() == Some(player_id));
    let Some(player) = found else {
        return Ok(IngestStatus {
            state: IngestState::NotFound,
            vendor_state: None,
            detail: Some(format!("ZEGO lists no player `{player_id}`")),
            vendor_request_id: reply.request_id,
        });
    };
    let Some(code) = player.get("Status").and_then(|s| {
        s.as_i64()
            .or_else(|| s.as_str().and_then(|t| t.trim().parse().ok()))
    }) else {
        return Err(reply.attach(bad_vendor_response(
            "DescribePlayers returned a player without a numeric `Status`",
        )));
    };
    let (state, name) = state_for(code);
    let mut detail = name.to_string();
    if let Some(reason) = player
        .get("DestroyReason")
        .and_then(as_text)
        .filter(|r| !r.is_empty())
    {
        detail.push_str(&format!(" (DestroyReason: {reason})"));
    }
    Ok(IngestStatus {
        state,
        vendor_state: Some(code.to_string()),
        detail: Some(detail),
        vendor_request_id: reply.request_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest_plugin_sdk::ErrorKind;

    fn settings(is_test: Option<bool>) -> Settings {
        Settings {
            app_id: 1_234_567_890,
            host: "cloud-player-api.zego.im".into(),
            is_test,
        }
    }

    fn request(options: &str) -> StartRequest {
        StartRequest {
            direction: Direction::PullIn,
            room_id: "room-1".into(),
            user_id: "relay".into(),
            display_name: None,
            stream_url: Some("https://media.example/live.m3u8".into()),
            media: MediaKind::AudioVideo,
            callback_url: None,
            expires_in_secs: None,
            options_json: options.into(),
        }
    }

    fn invalid(req: &StartRequest) -> String {
        let e = create_body(req, &settings(None)).expect_err("rejected");
        assert_eq!(e.kind, ErrorKind::InvalidArgument, "{}", e.message);
        e.message
    }

    #[test]
    fn minimal_and_full_bodies() {
        let body = create_body(&request("{}"), &settings(None)).expect("valid");
        assert_eq!(
            body.to_string(),
            r#"{"RoomId":"room-1","StreamUrl":"https://media.example/live.m3u8"}"#
        );
        let mut req = request(
            r#"{"stream_id":"s_1","backup_stream_url":"rtmp://b/c","max_idle_time":30,
                "play_time":"5","room_user_update":true,"video_options":{"Width":640},
                "audio_options":{},"unknown":1}"#,
        );
        req.display_name = Some("Jukebox".into());
        let body = create_body(&req, &settings(None)).expect("valid");
        assert_eq!(
            body.to_string(),
            r#"{"AudioOptions":{},"BackupStreamUrl":"rtmp://b/c","MaxIdleTime":30,"PlayTime":5,"PlayerName":"Jukebox","RoomId":"room-1","RoomUserUpdate":true,"StreamId":"s_1","StreamUrl":"https://media.example/live.m3u8","VideoOptions":{"Width":640}}"#
        );
    }

    #[test]
    fn rejections() {
        for (options, field) in [
            (r#"{"stream_id":"a b"}"#, "options.stream_id"),
            (
                r#"{"backup_stream_url":"ftp://x"}"#,
                "options.backup_stream_url",
            ),
            (r#"{"max_idle_time":-1}"#, "options.max_idle_time"),
            (r#"{"play_time":"soon"}"#, "options.play_time"),
            (r#"{"room_user_update":"yes"}"#, "options.room_user_update"),
            (r#"{"video_options":[1]}"#, "options.video_options"),
            (r#"{"audio_options":"x"}"#, "options.audio_options"),
        ] {
            assert!(invalid(&request(options)).contains(field), "{options}");
        }
        let mut req = request("{}");
        req.stream_url = None;
        assert!(invalid(&req).contains("`stream_url`"));
        req.stream_url = Some("srt://x".into());
        assert!(invalid(&req).contains("`stream_url`"));
        let mut req = request("{}");
        req.room_id = "r".repeat(129);
        assert!(invalid(&req).contains("`room_id`"));
        let mut req = request("{}");
        req.display_name = Some(" ".into());
        assert!(invalid(&req).contains("`display_name`"));

        let e = create_body(&request(r#"{"stream_id":"s"}"#), &settings(Some(true)))
            .expect_err("test prefix");
        assert!(e.message.contains("zegotest-1234567890-"), "{}", e.message);
        assert!(
            create_body(
                &request(r#"{"stream_id":"zegotest-1234567890-s"}"#),
                &settings(Some(true))
            )
            .is_ok()
        );

        let mut req = request("{}");
        req.direction = Direction::PushIn;
        let e = create_body(&req, &settings(None)).expect_err("direction");
        assert_eq!(e.kind, ErrorKind::Unsupported);
        let mut req = request("{}");
        req.media = MediaKind::VideoOnly;
        let e = create_body(&req, &settings(None)).expect_err("media");
        assert_eq!(e.kind, ErrorKind::Unsupported);
    }

    fn reply(json: &str) -> Reply {
        crate::api::parse_reply("DescribePlayers", 200, None, json.as_bytes()).expect("envelope")
    }

    #[test]
    fn sessions() {
        let s = session(reply(
            r#"{"Code":0,"RequestId":"r","Data":{"PlayerId":"p-1"}}"#,
        ))
        .expect("session");
        assert_eq!(s.session_ref, "p-1");
        assert_eq!(s.vendor_task_id.as_deref(), Some("p-1"));
        assert_eq!(s.vendor_request_id.as_deref(), Some("r"));
        assert!(s.issued_urls.is_empty());
        for bad in [
            r#"{"Code":0,"RequestId":"r"}"#,
            r#"{"Code":0,"RequestId":"r","Data":{"PlayerId":""}}"#,
            r#"{"Code":0,"RequestId":"r","Data":{"PlayerId":[1]}}"#,
        ] {
            let e = session(reply(bad)).expect_err(bad);
            assert_eq!(e.kind, ErrorKind::VendorInternal);
            assert_eq!(e.vendor_request_id.as_deref(), Some("r"));
        }
        assert!(player_id("").is_err());
        assert_eq!(player_id("p").expect("id"), "p");
        assert_eq!(delete_body("p").to_string(), r#"{"PlayerId":"p"}"#);
        assert_eq!(
            describe_body("p").to_string(),
            r#"{"PageSize":50,"PlayerId":"p"}"#
        );
    }

    fn update(stream_url: Option<&str>, options: &str) -> UpdateRequest {
        UpdateRequest {
            session_ref: "p-1".into(),
            stream_url: stream_url.map(Into::into),
            options_json: options.into(),
        }
    }

    #[test]
    fn update_bodies_carry_only_what_changes() {
        let body =
            update_body(&update(Some(" rtmp://media.example/b "), "{}"), "p-1").expect("url");
        assert_eq!(
            body.to_string(),
            r#"{"PlayerId":"p-1","StreamUrl":"rtmp://media.example/b"}"#
        );
        let body = update_body(
            &update(
                Some("https://media.example/c.m3u8"),
                r#"{"backup_stream_url":"rtmp://b/c","video_options":{"Width":640},"audio_options":{}}"#,
            ),
            "p-1",
        )
        .expect("full");
        assert_eq!(
            body.to_string(),
            r#"{"AudioOptions":{},"BackupStreamUrl":"rtmp://b/c","PlayerId":"p-1","StreamUrl":"https://media.example/c.m3u8","VideoOptions":{"Width":640}}"#
        );
        let body = update_body(&update(None, r#"{"audio_options":{"Bitrate":64}}"#), "p-1")
            .expect("audio");
        assert_eq!(
            body.to_string(),
            r#"{"AudioOptions":{"Bitrate":64},"PlayerId":"p-1"}"#
        );
    }

    #[test]
    fn update_refusals() {
        let refuse = |stream_url: Option<&str>, options: &str| {
            let e = update_body(&update(stream_url, options), "p-1").expect_err(options);
            assert_eq!(e.kind, ErrorKind::InvalidArgument, "{}", e.message);
            e.message
        };
        for key in [
            "stream_id",
            "max_idle_time",
            "play_time",
            "room_user_update",
            "volume",
        ] {
            let msg = refuse(Some("rtmp://a/b"), &format!(r#"{{"{key}":1}}"#));
            assert!(msg.contains(&format!("`options.{key}`")), "{msg}");
            assert!(
                msg.contains("backup_stream_url, video_options, audio_options"),
                "{msg}"
            );
        }
        for (stream_url, options) in [
            (None, "{}"),
            (None, ""),
            (None, r#"{"video_options":null}"#),
        ] {
            assert!(refuse(stream_url, options).contains("must change something"));
        }
        for (stream_url, options, field) in [
            (Some("srt://x"), "{}", "`stream_url`"),
            (Some(" "), "{}", "`stream_url`"),
            (
                None,
                r#"{"backup_stream_url":"ftp://x"}"#,
                "`options.backup_stream_url`",
            ),
            (None, r#"{"video_options":[1]}"#, "`options.video_options`"),
            (None, r#"{"audio_options":"x"}"#, "`options.audio_options`"),
            (None, "[]", "options"),
        ] {
            assert!(refuse(stream_url, options).contains(field), "{options}");
        }
        let r = updated(reply(r#"{"Code":0,"RequestId":"r-9"}"#));
        assert_eq!(
            (r.session_ref, r.vendor_request_id.as_deref()),
            (None, Some("r-9"))
        );
    }

    /// A refused UpdatePlayer, then what DescribePlayers says of the player.
    #[test]
    fn refused_updates_are_explained_by_the_player_list() {
        let refused = crate::api::parse_reply(
            "UpdatePlayer",
            200,
            None,
            br#"{"Code":350006003,"Message":"no running player","RequestId":"u-1"}"#,
        )
        .expect_err("refused");
        assert!(worth_describing(&refused));
        let listed = |status: &str| {
            reply(&format!(
                r#"{{"Code":0,"RequestId":"d-1","Data":{{"Players":[{{"PlayerId":"p-1","Status":{status},"DestroyReason":"DeletePlayer"}}]}}}}"#
            ))
        };

        let e = update_refused(
            refused.clone(),
            reply(r#"{"Code":0,"Data":{"Players":[]}}"#),
            "p-1",
        );
        assert_eq!((e.kind, e.retryable), (ErrorKind::NotFound, false));
        assert!(e.message.contains("`p-1`"), "{}", e.message);
        assert_eq!(e.vendor_code.as_deref(), Some("350006003"));
        assert_eq!(e.vendor_message.as_deref(), Some("no running player"));
        assert_eq!(e.vendor_request_id.as_deref(), Some("u-1"));

        for status in ["6", "7", "8"] {
            let e = update_refused(refused.clone(), listed(status), "p-1");
            assert_eq!(e.kind, ErrorKind::FailedPrecondition, "{status}");
            assert!(
                e.message.contains(&format!("Status {status}")),
                "{}",
                e.message
            );
            assert_eq!(e.vendor_code.as_deref(), Some("350006003"));
        }
        assert!(
            update_refused(refused.clone(), listed("8"), "p-1")
                .message
                .contains("DestroyReason: DeletePlayer")
        );
        // Still running, or an answer that cannot be read: ZEGO's refusal stands.
        for described in [listed("4"), listed("1"), listed("true")] {
            let e = update_refused(refused.clone(), described, "p-1");
            assert_eq!((e.kind, &e.message), (refused.kind, &refused.message));
        }

        // Retryable, credential and transport failures are not worth a DescribePlayers.
        for body in [
            &br#"{"Code":350006001,"Message":"busy"}"#[..],
            br#"{"Code":350010000}"#,
            br#"{"Code":100000005}"#,
            br#"{"Code":350006006}"#,
        ] {
            let e = crate::api::parse_reply("UpdatePlayer", 200, None, body).expect_err("error");
            assert!(!worth_describing(&e), "{}", String::from_utf8_lossy(body));
        }
        let unknown = crate::api::parse_reply("UpdatePlayer", 200, None, br#"{"Code":350099999}"#)
            .expect_err("unknown code");
        assert!(worth_describing(&unknown));
        let e =
            crate::api::parse_reply("UpdatePlayer", 502, None, b"bad gateway").expect_err("5xx");
        assert!(!worth_describing(&e));
    }

    #[test]
    fn every_status_maps() {
        let cases = [
            (1, IngestState::Starting),
            (2, IngestState::Starting),
            (3, IngestState::Starting),
            (4, IngestState::Running),
            (5, IngestState::Running),
            (6, IngestState::Failed),
            (7, IngestState::Stopped),
            (8, IngestState::Stopped),
            (9, IngestState::Unknown),
            (0, IngestState::Unknown),
        ];
        for (code, state) in cases {
            assert_eq!(state_for(code).0, state, "{code}");
            let json = format!(
                r#"{{"Code":0,"RequestId":"r","Data":{{"TotalSize":1,"Players":[{{"PlayerId":"p","Status":{code}}}]}}}}"#
            );
            let s = status(reply(&json), "p").expect("status");
            assert_eq!(s.state, state);
            assert_eq!(s.vendor_state, Some(code.to_string()));
        }
    }

    #[test]
    fn statuses() {
        let s = status(
            reply(
                r#"{"Code":0,"RequestId":"r","Data":{"Players":[{"PlayerId":"other","Status":4},{"PlayerId":"p","Status":"8","DestroyReason":"idle"}]}}"#,
            ),
            "p",
        )
        .expect("status");
        assert_eq!(s.state, IngestState::Stopped);
        assert_eq!(s.detail.as_deref(), Some("destroyed (DestroyReason: idle)"));
        assert_eq!(s.vendor_request_id.as_deref(), Some("r"));

        let s = status(reply(r#"{"Code":0,"Data":{"Players":[]}}"#), "p").expect("status");
        assert_eq!(s.state, IngestState::NotFound);
        let s = status(reply(r#"{"Code":0}"#), "p").expect("status");
        assert_eq!(s.state, IngestState::NotFound);

        for bad in [
            r#"{"Code":0,"RequestId":"r","Data":{"Players":{}}}"#,
            r#"{"Code":0,"RequestId":"r","Data":{"Players":[{"PlayerId":"p"}]}}"#,
            r#"{"Code":0,"RequestId":"r","Data":{"Players":[{"PlayerId":"p","Status":true}]}}"#,
        ] {
            let e = status(reply(bad), "p").expect_err(bad);
            assert_eq!(e.kind, ErrorKind::VendorInternal);
            assert_eq!(e.vendor_request_id.as_deref(), Some("r"));
        }
    }
}
