//! `start` → `CreatePlayer`, `update` → `UpdatePlayer` (one request, or two when the source
//! changes with anything else), `stop` → `DeletePlayer`, `status` → `DescribePlayers`:
//! request validation, bodies, and reading the answers. Pure; every check runs before any
//! network call. The published rules the checks follow are in [`crate::params`].

use ingest_plugin_sdk::error::{bad_vendor_response, invalid_argument, unsupported};
use ingest_plugin_sdk::options::Options;
use ingest_plugin_sdk::{
    Direction, ErrorKind, IngestState, IngestStatus, MediaKind, ProviderError, Session,
    StartRequest, StopResult, UpdateRequest, UpdateResult,
};
use serde_json::{Map, Value, json};

use crate::api::Reply;
use crate::params::{self, MAX_PLAYER_NAME, MAX_ROOM_ID, MAX_STREAM_ID, check_url, echo};
use crate::settings::Settings;

pub use crate::params::is_stream_id;

/// `PageSize` for `DescribePlayers` (the vendor allows 1..=50; one PlayerId matches at most
/// one player, the headroom tolerates a vendor that ignores the filter).
pub const DESCRIBE_PAGE_SIZE: u32 = 50;

/// Validates `req` and builds the `CreatePlayer` body (a JSON object; its keys serialize in
/// sorted order, so the bytes are deterministic). `now_secs` is the call's clock, for the
/// `PlayTime` window.
pub fn create_body(
    req: &StartRequest,
    settings: &Settings,
    now_secs: u64,
) -> Result<Value, ProviderError> {
    if req.direction != Direction::PullIn {
        return Err(unsupported(format!(
            "zego-cloud-player supports only direction `pull-in` (CreatePlayer pulls a source \
             URL into the room); direction `{}` is not supported",
            req.direction.name()
        )));
    }
    let audio_only = match req.media {
        MediaKind::AudioVideo => false,
        MediaKind::AudioOnly => true,
        MediaKind::VideoOnly => {
            return Err(unsupported(
                "ZEGO's cloud player has no video-only output (its VideoOptions can only make \
                 the published stream audio-only); use media `audio-video` or `audio-only`",
            ));
        }
    };
    let options = Options::parse(&req.options_json)?;
    let room = req.room_id.as_str();
    if room.trim().is_empty() || room.len() > MAX_ROOM_ID || room.chars().any(char::is_control) {
        return Err(invalid_argument(format!(
            "`room_id` must be 1 to {MAX_ROOM_ID} bytes without control characters (the ZEGO \
             room the player publishes into)"
        )));
    }

    let mut body = Map::new();
    body.insert("RoomId".into(), json!(req.room_id));
    match (req.stream_url.as_deref(), params::url_list(&options)?) {
        (Some(url), None) => {
            body.insert("StreamUrl".into(), json!(check_url("stream_url", url)?));
        }
        (None, Some(list)) => {
            body.insert("StreamUrlList".into(), json!(list));
        }
        (Some(_), Some(_)) => {
            return Err(invalid_argument(
                "give either `stream_url` (a single player, StreamUrl) or \
                 `options.stream_url_list` (a list player, StreamUrlList), not both: ZEGO takes \
                 only one",
            ));
        }
        (None, None) => {
            return Err(invalid_argument(
                "`stream_url` is required for pull-in: the http:// or https:// source ZEGO's \
                 cloud player pulls into the room (or `options.stream_url_list` for a list \
                 player)",
            ));
        }
    }
    if let Some(name) = req.display_name.as_deref() {
        if name.trim().is_empty()
            || name.len() > MAX_PLAYER_NAME
            || name.chars().any(char::is_control)
        {
            return Err(invalid_argument(format!(
                "`display_name` (sent as PlayerName) must be 1 to {MAX_PLAYER_NAME} bytes, not \
                 blank, without control characters; it is {} bytes",
                name.len()
            )));
        }
        body.insert("PlayerName".into(), json!(name));
    }
    if let Some(stream_id) = options.str("stream_id")? {
        if !is_stream_id(&stream_id) {
            return Err(invalid_argument(format!(
                "`options.stream_id` is {}; it must be 1 to {MAX_STREAM_ID} characters of 0-9 \
                 A-Z a-z _ -",
                echo(&stream_id)
            )));
        }
        if settings.is_test == Some(true) && !stream_id.starts_with(&settings.test_prefix()) {
            return Err(invalid_argument(format!(
                "`options.stream_id` is {}; with `is_test = true` ZEGO requires stream ids \
                 that start with `{}`",
                echo(&stream_id),
                settings.test_prefix()
            )));
        }
        body.insert("StreamId".into(), json!(stream_id));
    }
    if let Some(url) = options.str("backup_stream_url")? {
        let url = check_url("options.backup_stream_url", &url)?;
        body.insert("BackupStreamUrl".into(), json!(url));
    }
    let (min_idle, max_idle) = params::IDLE_TIME;
    if let Some(n) = options.int("max_idle_time", min_idle, max_idle)? {
        body.insert("MaxIdleTime".into(), json!(n));
    }
    if let Some(n) = play_time(&options, now_secs)? {
        body.insert("PlayTime".into(), json!(n));
    }
    if let Some(n) = params::repeat_times(&options)? {
        body.insert("RepeatTimes".into(), json!(n));
    }
    if let Some(n) = params::seek_to(&options)? {
        body.insert("SeekTo".into(), json!(n));
    }
    if let Some(n) = options.int("delay_destroy_seconds", 0, params::MAX_DELAY_DESTROY)? {
        body.insert("DelayDestroySeconds".into(), json!(n));
    }
    if let Some(n) = params::flag(&options, "room_user_update", "RoomUserUpdate")? {
        body.insert("RoomUserUpdate".into(), json!(n));
    }
    let mut video = params::media_object(
        &options,
        "video_options",
        "VideoOptions",
        "CreatePlayer",
        params::CREATE_VIDEO,
    )?;
    if audio_only {
        video = Some(audio_only_video(video)?);
    }
    if let Some(video) = video {
        body.insert("VideoOptions".into(), Value::Object(video));
    }
    if let Some(audio) = params::media_object(
        &options,
        "audio_options",
        "AudioOptions",
        "CreatePlayer",
        params::CREATE_AUDIO,
    )? {
        body.insert("AudioOptions".into(), Value::Object(audio));
    }
    Ok(Value::Object(body))
}

/// `options.play_time` → `PlayTime`: 0 (play once created), or a Unix time in seconds from
/// [`params::PLAY_TIME_BEFORE`] before to [`params::PLAY_TIME_AFTER`] after the call's clock
/// (ZEGO's window around the player's creation), the earliest moved
/// [`params::PLAY_TIME_MARGIN`] later: ZEGO measures from `CreateTime`, which comes after the
/// call's clock, so a value at the very edge would pass here and be refused there.
fn play_time(options: &Options, now_secs: u64) -> Result<Option<i64>, ProviderError> {
    let Some(n) = options.int("play_time", 0, i64::MAX)? else {
        return Ok(None);
    };
    let now = i64::try_from(now_secs).unwrap_or(i64::MAX);
    let (earliest, latest) = (
        now.saturating_sub(params::PLAY_TIME_BEFORE - params::PLAY_TIME_MARGIN),
        now.saturating_add(params::PLAY_TIME_AFTER),
    );
    if n != 0 && !(earliest..=latest).contains(&n) {
        return Err(invalid_argument(format!(
            "`options.play_time` is {n}; ZEGO takes 0 (play once created) or a Unix time in \
             seconds from one day before to 30 minutes after the player's creation: now \
             {earliest} to {latest} (the earliest kept {} s inside ZEGO's window, which starts \
             from the creation time, a moment after this call)",
            params::PLAY_TIME_MARGIN
        )));
    }
    Ok(Some(n))
}

/// Media `audio-only`: ZEGO publishes audio only when `VideoOptions.Width` or `Height` is 1,
/// so both are set to 1 (a caller's other `Width`/`Height` contradicts the media and is
/// refused).
fn audio_only_video(
    video: Option<Map<String, Value>>,
) -> Result<Map<String, Value>, ProviderError> {
    let mut video = video.unwrap_or_default();
    for key in ["Width", "Height"] {
        match video.get(key).and_then(Value::as_i64) {
            None | Some(1) => {
                video.insert(key.into(), json!(1));
            }
            Some(_) => {
                return Err(invalid_argument(format!(
                    "media `audio-only` publishes no video (ZEGO's VideoOptions Width and Height \
                     1), but `options.video_options.{key}` asks for a picture; leave it out or \
                     use media `audio-video`"
                )));
            }
        }
    }
    Ok(video)
}

/// The options an update reads.
pub const UPDATE_KEYS: &[&str] = &[
    "stream_url_list",
    "backup_stream_url",
    "video_options",
    "audio_options",
    "is_pause",
    "seek_to",
    "repeat_times",
    "sequence",
];

/// The `UpdatePlayer` requests of one update, in the order they are sent.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdatePlan {
    /// The first `UpdatePlayer` body: the source change alone when there is one, else every
    /// change.
    pub first: Value,
    /// When the update changes the source *and* something else: the second body, with the
    /// rest and the next `Sequence` (ZEGO ignores every other field of a request that carries
    /// `StreamUrl` or `StreamUrlList`).
    pub rest: Option<Value>,
}

/// Validates an update of player `player_id` and plans its `UpdatePlayer` requests.
///
/// Each body holds `PlayerId`, `Sequence` and only the fields that change (keys in sorted
/// order). `Sequence` is `options.sequence` when given, else `now_ms` (the call's clock in
/// milliseconds) × [`params::SEQUENCE_STEPS`]; a second request carries the first's plus one.
/// So the default increases across updates a millisecond or more apart, a split one
/// included (its second request's `now_ms × 16 + 1` stays below the next millisecond's
/// `(now_ms + 1) × 16`). A new source (`stream_url`
/// → `StreamUrl`, or `options.stream_url_list` → `StreamUrlList`) with any other change is
/// split in two: the source first, then the rest. Refuses options it does not read, a source
/// that is not HTTP/HTTPS, both source kinds at once, and an update that changes nothing.
pub fn update_plan(
    req: &UpdateRequest,
    player_id: &str,
    now_ms: u64,
) -> Result<UpdatePlan, ProviderError> {
    let options = Options::parse(&req.options_json)?;
    params::only(&req.options_json, UPDATE_KEYS)?;

    let mut source = Map::new();
    match (req.stream_url.as_deref(), params::url_list(&options)?) {
        (Some(_), Some(_)) => {
            return Err(invalid_argument(
                "give either `stream_url` (a single player's new source, StreamUrl) or \
                 `options.stream_url_list` (a list player's new list, StreamUrlList), not both",
            ));
        }
        (Some(url), None) => {
            source.insert("StreamUrl".into(), json!(check_url("stream_url", url)?));
        }
        (None, Some(list)) => {
            source.insert("StreamUrlList".into(), json!(list));
        }
        (None, None) => {}
    }

    let mut rest = Map::new();
    if let Some(url) = options.str("backup_stream_url")? {
        let url = check_url("options.backup_stream_url", &url)?;
        rest.insert("BackupStreamUrl".into(), json!(url));
    }
    for (key, field, table) in [
        ("video_options", "VideoOptions", params::UPDATE_VIDEO),
        ("audio_options", "AudioOptions", params::UPDATE_AUDIO),
    ] {
        if let Some(object) = params::media_object(&options, key, field, "UpdatePlayer", table)? {
            rest.insert(field.into(), Value::Object(object));
        }
    }
    if let Some(n) = params::flag(&options, "is_pause", "IsPause")? {
        rest.insert("IsPause".into(), json!(n));
    }
    if let Some(n) = params::seek_to(&options)? {
        rest.insert("SeekTo".into(), json!(n));
    }
    if let Some(n) = params::repeat_times(&options)? {
        rest.insert("RepeatTimes".into(), json!(n));
    }

    let sequence = match options.int("sequence", 1, params::MAX_SEQUENCE - 1)? {
        Some(n) => n,
        None => i64::try_from(now_ms)
            .unwrap_or(params::MAX_SEQUENCE)
            .saturating_mul(params::SEQUENCE_STEPS)
            .clamp(1, params::MAX_SEQUENCE - 1),
    };
    let body = |mut fields: Map<String, Value>, sequence: i64| {
        fields.insert("PlayerId".into(), json!(player_id));
        fields.insert("Sequence".into(), json!(sequence));
        Value::Object(fields)
    };
    match (source.is_empty(), rest.is_empty()) {
        (true, true) => Err(invalid_argument(format!(
            "an update must change something: give `stream_url` (the new source) and/or \
             `options` ({})",
            UPDATE_KEYS
                .iter()
                .filter(|k| **k != "sequence")
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        ))),
        (false, false) => Ok(UpdatePlan {
            first: body(source, sequence),
            rest: Some(body(rest, sequence + 1)),
        }),
        (false, true) => Ok(UpdatePlan {
            first: body(source, sequence),
            rest: None,
        }),
        (true, false) => Ok(UpdatePlan {
            first: body(rest, sequence),
            rest: None,
        }),
    }
}

/// The fields of an `UpdatePlayer` body that change something (all but `PlayerId` and
/// `Sequence`), for messages.
fn changed_fields(body: &Value) -> String {
    body.as_object()
        .map(|m| {
            m.keys()
                .filter(|k| *k != "PlayerId" && *k != "Sequence")
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// The error when the second `UpdatePlayer` of a split update (`rest`) is refused after the
/// source change (answered by `source`) succeeded: ZEGO's refusal (kind, code, request id)
/// with a message that says the source did change and what was not applied.
///
/// Never `retryable`, whatever the refusal was: repeating the whole update would send the
/// source again, and ZEGO reloads a source it is given (playback restarts). Only the other
/// changes, without the source, are worth sending again; a retry-after hint the refusal
/// carried is kept in the message for that.
pub fn rest_refused(refused: ProviderError, source: &Reply, rest: &Value) -> ProviderError {
    let wait = match (refused.retryable, refused.retry_after_secs) {
        (_, Some(secs)) => format!(" (ZEGO asked to wait {secs} s before trying again)"),
        (true, None) => " (ZEGO's refusal is temporary)".to_string(),
        (false, None) => String::new(),
    };
    let message = format!(
        "the update was applied only in part: ZEGO changed the source (UpdatePlayer RequestId \
         {}), but the second UpdatePlayer, with the other changes ({}), failed and they were \
         not applied: {} — the player now plays the new source; do not repeat this update \
         (that would load the source again and restart playback): send the other changes \
         again without the source{wait}",
        source.request_id.as_deref().unwrap_or("not given"),
        changed_fields(rest),
        refused.message
    );
    ProviderError {
        message,
        retryable: false,
        retry_after_secs: None,
        ..refused
    }
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
                "ZEGO refused UpdatePlayer and lists no player {}: it ended and was forgotten, \
                 or never existed; start a new ingest",
                echo(player_id)
            ),
        ),
        IngestState::Failed | IngestState::Stopped => (
            ErrorKind::FailedPrecondition,
            format!(
                "ZEGO refused UpdatePlayer: player {} is no longer running (Status {}: {}); an \
                 ended player cannot be updated, start a new ingest",
                echo(player_id),
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

/// The session for a successful `CreatePlayer`: the PlayerId is the session reference (so it
/// must fit one) and the vendor task id.
pub fn session(reply: Reply) -> Result<Session, ProviderError> {
    let player_id = match reply.data.get("PlayerId") {
        Some(Value::String(s)) if ingest_plugin_sdk::session::fits(s) => s.clone(),
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

/// The PlayerId in a session reference (the reference *is* the PlayerId).
pub fn player_id(session_ref: &str) -> Result<&str, ProviderError> {
    if !ingest_plugin_sdk::session::fits(session_ref) {
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

/// ZEGO's published `DestroyReason` values (`describe-players.yaml`).
pub fn destroy_reason(reason: i64) -> Option<&'static str> {
    Some(match reason {
        1 => "destroyed by DeletePlayer",
        2 => "idle longer than MaxIdleTime",
        3 => "playback of the media ended",
        4 => "publishing the stream failed",
        5 => "could not enter the room, or was removed from it",
        _ => return None,
    })
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
            detail: Some(format!("ZEGO lists no player {}", echo(player_id))),
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
    match player.get("DestroyReason") {
        Some(Value::Number(n)) => {
            if let Some(reason) = n.as_i64().and_then(destroy_reason) {
                detail.push_str(&format!(" (DestroyReason {n}: {reason})"));
            } else if n.as_i64() != Some(0) {
                detail.push_str(&format!(" (DestroyReason {n})"));
            }
        }
        Some(Value::String(reason)) if !reason.is_empty() => {
            detail.push_str(&format!(" (DestroyReason: {reason})"));
        }
        _ => {}
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

    /// The call's clock in the tests, Unix seconds.
    const NOW: u64 = 1_700_000_000;

    fn invalid(req: &StartRequest) -> String {
        let e = create_body(req, &settings(None), NOW).expect_err("rejected");
        assert_eq!(e.kind, ErrorKind::InvalidArgument, "{}", e.message);
        e.message
    }

    fn created(req: &StartRequest) -> String {
        create_body(req, &settings(None), NOW)
            .expect("valid")
            .to_string()
    }

    #[test]
    fn minimal_and_full_bodies() {
        assert_eq!(
            created(&request("{}")),
            r#"{"RoomId":"room-1","StreamUrl":"https://media.example/live.m3u8"}"#
        );
        let mut req = request(
            r#"{"stream_id":"s_1","backup_stream_url":"http://b/c.flv","max_idle_time":30,
                "play_time":"1700000600","repeat_times":-1,"seek_to":12,"delay_destroy_seconds":60,
                "room_user_update":true,"video_options":{"Width":640,"Fps":15,"VideoCodec":3},
                "audio_options":{"Volume":150,"AudioCodec":6},"unknown":1}"#,
        );
        req.display_name = Some("Jukebox".into());
        assert_eq!(
            created(&req),
            r#"{"AudioOptions":{"AudioCodec":6,"Volume":150},"BackupStreamUrl":"http://b/c.flv","DelayDestroySeconds":60,"MaxIdleTime":30,"PlayTime":1700000600,"PlayerName":"Jukebox","RepeatTimes":-1,"RoomId":"room-1","RoomUserUpdate":1,"SeekTo":12,"StreamId":"s_1","StreamUrl":"https://media.example/live.m3u8","VideoOptions":{"Fps":15,"VideoCodec":3,"Width":640}}"#
        );
        // RoomUserUpdate is ZEGO's number 0/1 whether the caller gives a boolean or a number.
        for (given, sent) in [("false", 0), ("0", 0), ("1", 1), ("true", 1)] {
            let body = created(&request(&format!(r#"{{"room_user_update":{given}}}"#)));
            assert!(
                body.contains(&format!(r#""RoomUserUpdate":{sent}"#)),
                "{body}"
            );
        }
        // The published bounds, inclusive.
        for options in [
            r#"{"max_idle_time":5}"#,
            r#"{"max_idle_time":3000}"#,
            r#"{"play_time":0}"#,
            r#"{"play_time":1699913660}"#,
            r#"{"play_time":1700001800}"#,
            r#"{"delay_destroy_seconds":3600}"#,
            r#"{"repeat_times":1}"#,
        ] {
            assert!(
                create_body(&request(options), &settings(None), NOW).is_ok(),
                "{options}"
            );
        }
        let mut req = request("{}");
        req.display_name = Some("n".repeat(MAX_PLAYER_NAME));
        assert!(create_body(&req, &settings(None), NOW).is_ok());
    }

    #[test]
    fn list_players_and_audio_only() {
        let mut req = request(r#"{"stream_url_list":["https://a/1.mp4","https://a/2.mp4"]}"#);
        req.stream_url = None;
        assert_eq!(
            created(&req),
            r#"{"RoomId":"room-1","StreamUrlList":["https://a/1.mp4","https://a/2.mp4"]}"#
        );
        let req = request(r#"{"stream_url_list":["https://a/1.mp4"]}"#);
        assert!(invalid(&req).contains("not both"));

        let mut req = request(r#"{"video_options":{"VideoBitrate":800}}"#);
        req.media = MediaKind::AudioOnly;
        assert_eq!(
            created(&req),
            r#"{"RoomId":"room-1","StreamUrl":"https://media.example/live.m3u8","VideoOptions":{"Height":1,"VideoBitrate":800,"Width":1}}"#
        );
        let mut req = request(r#"{"video_options":{"Width":640}}"#);
        req.media = MediaKind::AudioOnly;
        assert!(invalid(&req).contains("`options.video_options.Width`"));
    }

    #[test]
    fn rejections() {
        for (options, field) in [
            (r#"{"stream_id":"a b"}"#, "`options.stream_id`"),
            (
                r#"{"backup_stream_url":"ftp://x"}"#,
                "`options.backup_stream_url`",
            ),
            (
                r#"{"backup_stream_url":"rtmp://b/c"}"#,
                "`options.backup_stream_url` uses rtmp://",
            ),
            (
                r#"{"max_idle_time":4}"#,
                "`options.max_idle_time` is 4; it must be between 5 and 3000",
            ),
            (r#"{"max_idle_time":3001}"#, "`options.max_idle_time`"),
            (r#"{"play_time":"soon"}"#, "`options.play_time`"),
            (
                r#"{"play_time":1699913599}"#,
                "`options.play_time` is 1699913599",
            ),
            // ZEGO's edge, exactly a day before the call's clock: ZEGO measures from the
            // creation, a moment later, and would refuse it; the plugin keeps a minute inside.
            (
                r#"{"play_time":1699913600}"#,
                "now 1699913660 to 1700001800",
            ),
            (r#"{"play_time":1699913659}"#, "`options.play_time`"),
            (
                r#"{"play_time":1700001801}"#,
                "from one day before to 30 minutes after",
            ),
            (r#"{"play_time":1700000000000}"#, "`options.play_time`"),
            (r#"{"repeat_times":0}"#, "`options.repeat_times`"),
            (r#"{"seek_to":-3}"#, "`options.seek_to`"),
            (
                r#"{"delay_destroy_seconds":3601}"#,
                "`options.delay_destroy_seconds`",
            ),
            (
                r#"{"room_user_update":"yes"}"#,
                "`options.room_user_update`",
            ),
            (r#"{"room_user_update":2}"#, "`options.room_user_update`"),
            (r#"{"video_options":[1]}"#, "`options.video_options`"),
            (
                r#"{"video_options":{"Fps":60}}"#,
                "`options.video_options.Fps`",
            ),
            (r#"{"audio_options":"x"}"#, "`options.audio_options`"),
            (
                r#"{"audio_options":{"Bitrate":64}}"#,
                "`options.audio_options.Bitrate`",
            ),
            (
                r#"{"stream_url_list":"https://a/1"}"#,
                "`options.stream_url_list`",
            ),
        ] {
            let msg = invalid(&request(options));
            assert!(msg.contains(field), "{options}: {msg}");
        }
        let mut req = request("{}");
        req.stream_url = None;
        assert!(invalid(&req).contains("`stream_url` is required"));
        for url in [
            "srt://x",
            "rtmp://media.example/live/a",
            "rtmps://media.example/live/a",
        ] {
            req.stream_url = Some(url.into());
            let msg = invalid(&req);
            assert!(
                msg.contains("`stream_url` uses") && msg.contains("only HTTP/HTTPS"),
                "{msg}"
            );
        }
        req.stream_url = Some(format!("https://m.example/{}", "a".repeat(1100)));
        assert!(invalid(&req).contains("at most 1024 bytes"));
        let mut req = request("{}");
        req.room_id = "r".repeat(129);
        assert!(invalid(&req).contains("`room_id`"));
        for name in [
            " ".to_string(),
            "n".repeat(MAX_PLAYER_NAME + 1),
            "a\u{7}".into(),
        ] {
            let mut req = request("{}");
            req.display_name = Some(name);
            assert!(invalid(&req).contains("`display_name` (sent as PlayerName) must be 1 to 64"));
        }

        let e = create_body(&request(r#"{"stream_id":"s"}"#), &settings(Some(true)), NOW)
            .expect_err("test prefix");
        assert!(e.message.contains("zegotest-1234567890-"), "{}", e.message);
        assert!(
            create_body(
                &request(r#"{"stream_id":"zegotest-1234567890-s"}"#),
                &settings(Some(true)),
                NOW
            )
            .is_ok()
        );

        let mut req = request("{}");
        req.direction = Direction::PushIn;
        let e = create_body(&req, &settings(None), NOW).expect_err("direction");
        assert_eq!(e.kind, ErrorKind::Unsupported);
        let mut req = request("{}");
        req.media = MediaKind::VideoOnly;
        let e = create_body(&req, &settings(None), NOW).expect_err("media");
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
        // A PlayerId too long to travel as a session reference is not usable either.
        let long = format!(
            r#"{{"Code":0,"RequestId":"r","Data":{{"PlayerId":"{}"}}}}"#,
            "p".repeat(ingest_plugin_sdk::session::MAX_SESSION_REF_BYTES + 1)
        );
        assert_eq!(
            session(reply(&long)).expect_err("long").kind,
            ErrorKind::VendorInternal
        );
        assert!(player_id("").is_err());
        assert!(
            player_id(&"p".repeat(ingest_plugin_sdk::session::MAX_SESSION_REF_BYTES + 1)).is_err()
        );
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

    /// The call's clock in the update tests, Unix milliseconds.
    const NOW_MS: u64 = 1_700_000_000_123;

    fn plan(stream_url: Option<&str>, options: &str) -> UpdatePlan {
        update_plan(&update(stream_url, options), "p-1", NOW_MS).expect(options)
    }

    #[test]
    fn update_bodies_carry_the_sequence_and_only_what_changes() {
        let p = plan(Some(" https://media.example/b.flv "), "{}");
        assert_eq!(
            p.first.to_string(),
            r#"{"PlayerId":"p-1","Sequence":27200000001968,"StreamUrl":"https://media.example/b.flv"}"#
        );
        assert_eq!(p.rest, None);
        let p = plan(None, r#"{"audio_options":{"AudioBitrate":64}}"#);
        assert_eq!(
            p.first.to_string(),
            r#"{"AudioOptions":{"AudioBitrate":64},"PlayerId":"p-1","Sequence":27200000001968}"#
        );
        assert_eq!(p.rest, None);
        // Pause, seek and repeat; the caller's sequence wins over the clock.
        let p = plan(
            None,
            r#"{"is_pause":true,"seek_to":"42","repeat_times":-1,"sequence":7}"#,
        );
        assert_eq!(
            p.first.to_string(),
            r#"{"IsPause":1,"PlayerId":"p-1","RepeatTimes":-1,"SeekTo":42,"Sequence":7}"#
        );
        let p = plan(None, r#"{"is_pause":false}"#);
        assert_eq!(p.first["IsPause"], 0);
        // A list player's new list.
        let p = plan(
            None,
            r#"{"stream_url_list":["https://a/1.mp4","http://a/2.mp4"]}"#,
        );
        assert_eq!(
            p.first.to_string(),
            r#"{"PlayerId":"p-1","Sequence":27200000001968,"StreamUrlList":["https://a/1.mp4","http://a/2.mp4"]}"#
        );
    }

    /// ZEGO ignores every other field of a request that carries a source: a new source with
    /// other changes is two requests, the source first, then the rest with the next Sequence.
    #[test]
    fn a_new_source_with_other_changes_is_split_in_two() {
        let p = plan(
            Some("https://media.example/c.m3u8"),
            r#"{"backup_stream_url":"https://b/c.m3u8","video_options":{"Width":640},"is_pause":false,"seek_to":5}"#,
        );
        assert_eq!(
            p.first.to_string(),
            r#"{"PlayerId":"p-1","Sequence":27200000001968,"StreamUrl":"https://media.example/c.m3u8"}"#
        );
        assert_eq!(
            p.rest.expect("second request").to_string(),
            r#"{"BackupStreamUrl":"https://b/c.m3u8","IsPause":0,"PlayerId":"p-1","SeekTo":5,"Sequence":27200000001969,"VideoOptions":{"Width":640}}"#
        );
        let p = plan(
            None,
            r#"{"stream_url_list":["https://a/1.mp4"],"repeat_times":2,"sequence":100}"#,
        );
        assert_eq!(
            p.first.to_string(),
            r#"{"PlayerId":"p-1","Sequence":100,"StreamUrlList":["https://a/1.mp4"]}"#
        );
        assert_eq!(
            p.rest.expect("second request").to_string(),
            r#"{"PlayerId":"p-1","RepeatTimes":2,"Sequence":101}"#
        );
        // The largest sequence the caller may give still leaves room for the second request.
        let max = params::MAX_SEQUENCE - 1;
        let p = plan(
            Some("https://a/b"),
            &format!(r#"{{"seek_to":1,"sequence":{max}}}"#),
        );
        assert_eq!(p.rest.expect("second")["Sequence"], params::MAX_SEQUENCE);
    }

    #[test]
    fn a_refused_second_request_says_the_source_changed() {
        let source = reply(r#"{"Code":0,"RequestId":"u-1"}"#);
        let refused = crate::api::parse_reply(
            "UpdatePlayer",
            200,
            None,
            br#"{"Code":350006001,"Message":"busy","RequestId":"u-2"}"#,
        )
        .expect_err("refused");
        assert!(refused.retryable, "ZEGO's rate limit alone is retryable");
        let rest = json!({"PlayerId":"p-1","Sequence":2,"IsPause":1,"SeekTo":5});
        let e = rest_refused(refused.clone(), &source, &rest);
        // Repeating the whole update would load the source again (playback restarts): not
        // retryable, whatever the second refusal was.
        assert_eq!((e.kind, e.retryable), (refused.kind, false));
        assert!(
            e.message.contains("do not repeat this update"),
            "{}",
            e.message
        );
        assert!(e.message.contains("temporary"), "{}", e.message);
        assert_eq!(e.vendor_code.as_deref(), Some("350006001"));
        assert_eq!(e.vendor_request_id.as_deref(), Some("u-2"));
        for needle in [
            "applied only in part",
            "ZEGO changed the source (UpdatePlayer RequestId u-1)",
            "(IsPause, SeekTo)",
            "were not applied",
            &refused.message,
        ] {
            assert!(e.message.contains(needle), "{needle}: {}", e.message);
        }
        // A retry-after hint moves into the message.
        let throttled =
            crate::api::parse_reply("UpdatePlayer", 429, Some("7"), b"").expect_err("429");
        assert_eq!(throttled.retry_after_secs, Some(7));
        let e = rest_refused(throttled, &source, &rest);
        assert_eq!((e.retryable, e.retry_after_secs), (false, None));
        assert!(e.message.contains("wait 7 s"), "{}", e.message);
    }

    /// The default Sequence is the clock in ms × 16 plus the request's index, so an update a
    /// millisecond after a split one still sends a greater Sequence (with ms, a split one at T
    /// sent T + 1 second, and an update at T + 1 repeated it).
    #[test]
    fn default_sequences_increase_across_updates() {
        let split = update_plan(
            &update(Some("https://a/b"), r#"{"seek_to":1}"#),
            "p-1",
            NOW_MS,
        )
        .expect("split");
        let next = update_plan(&update(None, r#"{"seek_to":2}"#), "p-1", NOW_MS + 1).expect("next");
        let next_split = update_plan(
            &update(Some("https://a/c"), r#"{"seek_to":3}"#),
            "p-1",
            NOW_MS + 2,
        )
        .expect("split");
        let sent: Vec<i64> = [
            &split.first,
            split.rest.as_ref().expect("rest"),
            &next.first,
            &next_split.first,
            next_split.rest.as_ref().expect("rest"),
        ]
        .iter()
        .map(|b| b["Sequence"].as_i64().expect("sequence"))
        .collect();
        assert!(sent.windows(2).all(|w| w[0] < w[1]), "{sent:?}");
        let base = i64::try_from(NOW_MS).expect("ms") * params::SEQUENCE_STEPS;
        assert_eq!(sent[..3], [base, base + 1, base + params::SEQUENCE_STEPS]);
        // Far below 2^53 (a 300th of it today); a clock beyond it is held under it.
        assert!(base < params::MAX_SEQUENCE / 300);
        let far = update_plan(&update(None, r#"{"seek_to":2}"#), "p-1", u64::MAX).expect("far");
        assert_eq!(far.first["Sequence"], params::MAX_SEQUENCE - 1);
    }

    /// Error messages repeat a caller's value bounded and escaped.
    #[test]
    fn echoed_input_is_bounded() {
        let long = "x".repeat(5000);
        let e = create_body(
            &request(&json!({ "stream_id": format!("{long} \u{1b}[31m") }).to_string()),
            &settings(None),
            NOW,
        )
        .expect_err("stream id");
        assert!(e.message.len() < 300, "{}", e.message);
        assert!(e.message.contains("(5006 bytes)"), "{}", e.message);
        assert!(!e.message.contains('\u{1b}'), "{}", e.message);
        let e = create_body(&request(r#"{"stream_id":"a\nb"}"#), &settings(None), NOW)
            .expect_err("stream id");
        assert!(e.message.contains(r#"is "a\nb";"#), "{}", e.message);
        let e = create_body(
            &request(&json!({ "stream_id": long }).to_string()),
            &settings(Some(true)),
            NOW,
        )
        .expect_err("prefix");
        assert!(e.message.len() < 300, "{}", e.message);
        for options in [
            json!({ long.as_str(): 1 }),
            json!({"video_options": { long.as_str(): 1 }}),
            json!({"video_options": {"Width": long}}),
        ] {
            let e = update_plan(&update(None, &options.to_string()), "p-1", NOW_MS)
                .expect_err("refused");
            assert_eq!(e.kind, ErrorKind::InvalidArgument);
            assert!(e.message.len() < 400, "{}", e.message);
            assert!(e.message.contains("(5000 bytes)"), "{}", e.message);
        }
        let gone = update_refused(
            crate::api::parse_reply("UpdatePlayer", 200, None, br#"{"Code":350006003}"#)
                .expect_err("refused"),
            reply(r#"{"Code":0,"Data":{"Players":[]}}"#),
            &long,
        );
        assert!(gone.message.len() < 300, "{}", gone.message);
    }

    #[test]
    fn update_refusals() {
        let refuse = |stream_url: Option<&str>, options: &str| {
            let e = update_plan(&update(stream_url, options), "p-1", NOW_MS).expect_err(options);
            assert_eq!(e.kind, ErrorKind::InvalidArgument, "{}", e.message);
            e.message
        };
        for key in [
            "stream_id",
            "max_idle_time",
            "play_time",
            "room_user_update",
            "volume",
            "delay_destroy_seconds",
        ] {
            let msg = refuse(Some("https://a/b"), &format!(r#"{{"{key}":1}}"#));
            assert!(msg.contains(&format!("`options.{key}`")), "{msg}");
            assert!(
                msg.contains(
                    "stream_url_list, backup_stream_url, video_options, audio_options, \
                     is_pause, seek_to, repeat_times, sequence"
                ),
                "{msg}"
            );
        }
        for (stream_url, options) in [
            (None, "{}"),
            (None, ""),
            (None, r#"{"video_options":null}"#),
            (None, r#"{"video_options":{}}"#),
            (None, r#"{"sequence":5}"#),
        ] {
            let msg = refuse(stream_url, options);
            assert!(msg.contains("must change something"), "{options}: {msg}");
            assert!(!msg.contains("sequence"), "{msg}");
        }
        for (stream_url, options, field) in [
            (Some("srt://x"), "{}", "`stream_url` uses srt://"),
            (
                Some("rtmp://media.example/b"),
                "{}",
                "`stream_url` uses rtmp://",
            ),
            (
                Some("rtmps://media.example/b"),
                "{}",
                "`stream_url` uses rtmps://",
            ),
            (Some(" "), "{}", "`stream_url`"),
            (
                None,
                r#"{"backup_stream_url":"rtmp://x/y"}"#,
                "`options.backup_stream_url`",
            ),
            (
                None,
                r#"{"stream_url_list":["rtmp://x/y"]}"#,
                "`options.stream_url_list[0]`",
            ),
            (
                Some("https://a/b"),
                r#"{"stream_url_list":["https://x/y"]}"#,
                "not both",
            ),
            (None, r#"{"video_options":[1]}"#, "`options.video_options`"),
            (
                None,
                r#"{"video_options":{"Fps":30}}"#,
                "`options.video_options.Fps`",
            ),
            (
                None,
                r#"{"audio_options":{"Volume":300}}"#,
                "`options.audio_options.Volume`",
            ),
            (
                None,
                r#"{"audio_options":{"SoundChannel":2}}"#,
                "`options.audio_options.SoundChannel`",
            ),
            (None, r#"{"is_pause":"yes"}"#, "`options.is_pause`"),
            (None, r#"{"seek_to":-1}"#, "`options.seek_to`"),
            (None, r#"{"repeat_times":0}"#, "`options.repeat_times` is 0"),
            (
                None,
                r#"{"is_pause":true,"sequence":0}"#,
                "`options.sequence`",
            ),
            (
                None,
                r#"{"is_pause":true,"sequence":1.5}"#,
                "`options.sequence`",
            ),
            (
                None,
                r#"{"is_pause":true,"sequence":9007199254740991}"#,
                "`options.sequence`",
            ),
            (None, "[]", "options"),
        ] {
            let msg = refuse(stream_url, options);
            assert!(msg.contains(field), "{options}: {msg}");
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
        assert!(e.message.contains(r#"player "p-1""#), "{}", e.message);
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

        // ZEGO publishes DestroyReason as a number 1..=5; 0 (not destroyed) adds nothing.
        for (reason, detail) in [
            (
                "1",
                "destroyed (DestroyReason 1: destroyed by DeletePlayer)",
            ),
            (
                "2",
                "destroyed (DestroyReason 2: idle longer than MaxIdleTime)",
            ),
            ("9", "destroyed (DestroyReason 9)"),
            ("0", "destroyed"),
        ] {
            let json = format!(
                r#"{{"Code":0,"Data":{{"Players":[{{"PlayerId":"p","Status":8,"DestroyReason":{reason}}}]}}}}"#
            );
            let s = status(reply(&json), "p").expect("status");
            assert_eq!(s.detail.as_deref(), Some(detail), "{reason}");
        }

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
