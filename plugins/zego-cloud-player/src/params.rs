//! ZEGO's published parameter rules for the Cloud Player, checked before anything is sent.
//!
//! The source is ZEGO's OpenAPI files: repository `ZEGOCLOUD/docs_all`, folder
//! `extended_services/cloud_player/en/server/` (`create-player.yaml`, `update-player.yaml`).
//! Each constant below names the field it bounds; every check here is pure and answers an
//! `invalid-argument` error naming the caller's field (`stream_url`, `options.KEY` …), never
//! echoing a URL (a source URL may carry a token).

use ingest_plugin_sdk::ProviderError;
use ingest_plugin_sdk::error::invalid_argument;
use ingest_plugin_sdk::options::Options;
use serde_json::{Map, Value};

/// Longest `StreamUrl` / `BackupStreamUrl`, bytes. The plugin also holds each
/// `StreamUrlList` entry to it (its own choice: ZEGO publishes no per-entry length).
pub const MAX_URL: usize = 1024;
/// Most `StreamUrlList` entries (published for `CreatePlayer`; the plugin applies it to
/// `UpdatePlayer` too, which publishes no limit).
pub const MAX_URL_LIST: usize = 100;
/// Longest `StreamUrlList`, all entries together, bytes (published for `CreatePlayer`; applied
/// to `UpdatePlayer` too, as [`MAX_URL_LIST`]).
pub const MAX_URL_LIST_BYTES: usize = 50_000;
/// Longest `RoomId`, bytes.
pub const MAX_ROOM_ID: usize = 128;
/// Longest `StreamId`: 1 to 256 characters of `[0-9A-Za-z_-]`.
pub const MAX_STREAM_ID: usize = 256;
/// Longest `PlayerName`, bytes.
pub const MAX_PLAYER_NAME: usize = 64;
/// `MaxIdleTime`, seconds: ZEGO's range (it silently moves a value outside it to the nearer
/// end; the plugin refuses it instead).
pub const IDLE_TIME: (i64, i64) = (5, 3000);
/// `PlayTime` (a Unix time in seconds, or 0 for "now") may be at most this many seconds
/// before the player's creation…
pub const PLAY_TIME_BEFORE: i64 = 86_400;
/// …which ZEGO measures from `CreateTime`, a little after the call's clock: the plugin's
/// earliest `PlayTime` is this many seconds later than `call's clock − PLAY_TIME_BEFORE`, so
/// a value the plugin passes is not refused at ZEGO for being a moment too old.
pub const PLAY_TIME_MARGIN: i64 = 60;
/// …and at most this many seconds after it.
pub const PLAY_TIME_AFTER: i64 = 1_800;
/// Longest `DelayDestroySeconds`.
pub const MAX_DELAY_DESTROY: i64 = 3_600;
/// Largest `RepeatTimes` the plugin passes on (ZEGO publishes no maximum; -1 loops).
pub const MAX_REPEAT_TIMES: i64 = i32::MAX as i64;
/// Largest `SeekTo`, seconds, the plugin passes on (ZEGO publishes no maximum).
pub const MAX_SEEK_TO: i64 = u32::MAX as i64;
/// Largest `Sequence` the plugin sends: 2^53 − 1, the largest integer every JSON reader
/// keeps exactly.
pub const MAX_SEQUENCE: i64 = (1 << 53) - 1;
/// The default `Sequence` of an update is the call's clock in milliseconds times this, plus
/// the request's index within the update (0, or 1 for the second request of a split one):
/// every millisecond has room for this many requests, so an update one millisecond after a
/// split one still sends a greater `Sequence`. Today's clock × 16 is about 2.7 × 10^13, far
/// below [`MAX_SEQUENCE`] (about 9 × 10^15, reached in the year 19 800).
pub const SEQUENCE_STEPS: i64 = 16;
/// Longest piece of a caller's input an error message repeats, characters (longer ones are
/// cut, see [`echo`]).
pub const MAX_ECHO: usize = 64;

/// A caller's value for an error message: at most [`MAX_ECHO`] characters of it, quoted and
/// escaped as Rust's `{:?}` does (so control characters and quotes cannot forge the message),
/// with `…` and its full length when it was cut.
pub fn echo(value: &str) -> String {
    match value.char_indices().nth(MAX_ECHO) {
        None => format!("{value:?}"),
        Some((cut, _)) => format!("{:?}… ({} bytes)", &value[..cut], value.len()),
    }
}

/// Refuses an `options` key outside `allowed` (an update's: a misspelt change must not be
/// answered "done"), naming the key (bounded, [`echo`]) and the keys that are read.
pub fn only(options_json: &str, allowed: &[&str]) -> Result<(), ProviderError> {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(options_json) else {
        return Ok(());
    };
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) => Err(invalid_argument(format!(
            "{} is not a setting this provider can change on a running ingest (it can \
             change: {})",
            key_name("options", k),
            allowed.join(", ")
        ))),
    }
}

/// How an error message names the caller's key `key` under `parent` (`options`,
/// `options.video_options` …): `` `parent.key` `` for a short key without control characters
/// or backquotes, else `a key of `parent`, "…"` with the key bounded by [`echo`].
pub fn key_name(parent: &str, key: &str) -> String {
    if key.chars().count() <= MAX_ECHO && !key.chars().any(|c| c.is_control() || c == '`') {
        format!("`{parent}.{key}`")
    } else {
        format!("a key of `{parent}`, {}", echo(key))
    }
}

/// What a numeric sub-field of `VideoOptions` / `AudioOptions` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowed {
    /// An integer in `min..=max`.
    Range(i64, i64),
    /// One of these integers.
    OneOf(&'static [i64]),
}

impl Allowed {
    fn admits(self, n: i64) -> bool {
        match self {
            Allowed::Range(min, max) => (min..=max).contains(&n),
            Allowed::OneOf(set) => set.contains(&n),
        }
    }

    fn describe(self) -> String {
        match self {
            Allowed::Range(min, max) => format!("an integer from {min} to {max}"),
            Allowed::OneOf(set) => {
                let set: Vec<String> = set.iter().map(i64::to_string).collect();
                format!("one of {}", set.join(", "))
            }
        }
    }
}

/// One published sub-field: its name and what it accepts.
pub type SubField = (&'static str, Allowed);

/// `CreatePlayer`'s `VideoOptions`.
pub const CREATE_VIDEO: &[SubField] = &[
    ("Width", Allowed::Range(1, 3000)),
    ("Height", Allowed::Range(1, 3000)),
    ("ShortEdge", Allowed::Range(0, 2160)),
    ("VideoBitrate", Allowed::Range(1, 50_000)),
    ("VideoCodec", Allowed::OneOf(&[0, 2, 3])),
    ("Fps", Allowed::Range(1, 30)),
    ("RenderMode", Allowed::OneOf(&[0, 1])),
];
/// `CreatePlayer`'s `AudioOptions`.
pub const CREATE_AUDIO: &[SubField] = &[
    ("AudioCodec", Allowed::OneOf(&[0, 1, 6])),
    ("AudioBitrate", Allowed::Range(1, 192)),
    ("SoundChannel", Allowed::OneOf(&[1, 2])),
    ("Volume", Allowed::Range(0, 200)),
];
/// `UpdatePlayer`'s `VideoOptions` (fewer fields than `CreatePlayer`'s).
pub const UPDATE_VIDEO: &[SubField] = &[
    ("Width", Allowed::Range(1, 3000)),
    ("Height", Allowed::Range(1, 3000)),
    ("ShortEdge", Allowed::Range(0, 2160)),
    ("VideoBitrate", Allowed::Range(1, 50_000)),
];
/// `UpdatePlayer`'s `AudioOptions`.
pub const UPDATE_AUDIO: &[SubField] = &[
    ("AudioBitrate", Allowed::Range(1, 192)),
    ("Volume", Allowed::Range(0, 200)),
];

/// Whether `s` is a ZEGO stream id: 1..=256 characters `[0-9A-Za-z_-]`.
pub fn is_stream_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_STREAM_ID
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Checks one source URL (`field` names it in errors) and returns it trimmed: `http://` or
/// `https://` (scheme case-insensitive) and something after it, at most [`MAX_URL`] bytes,
/// without spaces or control characters. ZEGO's cloud player pulls only HTTP/HTTPS sources,
/// so `rtmp://`, `rtmps://`, `rtsp://`, `srt://` … are refused, naming the scheme.
pub fn check_url(field: &str, url: &str) -> Result<String, ProviderError> {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://").unwrap_or(("", ""));
    let lower = scheme.to_ascii_lowercase();
    if lower != "http" && lower != "https" {
        let plain_scheme = !scheme.is_empty()
            && scheme.len() <= 16
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        let what = if plain_scheme {
            format!("uses {lower}://")
        } else {
            "is not an http:// or https:// URL".to_string()
        };
        return Err(invalid_argument(format!(
            "`{field}` {what}; ZEGO's cloud player pulls only HTTP/HTTPS sources (an http:// \
             or https:// URL of at most {MAX_URL} bytes: HLS, FLV, MP4 … over HTTP), so \
             nothing was sent"
        )));
    }
    if rest.is_empty() {
        return Err(invalid_argument(format!(
            "`{field}` has nothing after `{scheme}://`"
        )));
    }
    if url.len() > MAX_URL {
        return Err(invalid_argument(format!(
            "`{field}` is {} bytes; ZEGO takes a URL of at most {MAX_URL} bytes",
            url.len()
        )));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid_argument(format!(
            "`{field}` must not contain spaces or control characters (percent-encode them)"
        )));
    }
    Ok(url.to_string())
}

/// `options.stream_url_list` (a list player's sources): a non-empty JSON array of at most
/// [`MAX_URL_LIST`] URLs, each checked by [`check_url`], at most [`MAX_URL_LIST_BYTES`] bytes
/// together. `None` when absent.
///
/// ZEGO publishes only the count and the total, and only for `CreatePlayer`. Holding each
/// entry to `StreamUrl`'s HTTP/HTTPS and 1024-byte rule, and an update's list to
/// `CreatePlayer`'s count and total, is the plugin's own choice (the list replaces what a
/// player created with such a list plays).
pub fn url_list(options: &Options) -> Result<Option<Vec<String>>, ProviderError> {
    const KEY: &str = "options.stream_url_list";
    let Some(value) = options.get("stream_url_list") else {
        return Ok(None);
    };
    let Value::Array(items) = value else {
        return Err(invalid_argument(format!(
            "`{KEY}` must be a JSON array of http:// or https:// URLs (sent as StreamUrlList)"
        )));
    };
    if items.is_empty() || items.len() > MAX_URL_LIST {
        return Err(invalid_argument(format!(
            "`{KEY}` has {} entries; ZEGO takes 1 to {MAX_URL_LIST}",
            items.len()
        )));
    }
    let mut urls = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let field = format!("{KEY}[{i}]");
        let Value::String(url) = item else {
            return Err(invalid_argument(format!("`{field}` must be a string URL")));
        };
        urls.push(check_url(&field, url)?);
    }
    let total: usize = urls.iter().map(String::len).sum();
    if total > MAX_URL_LIST_BYTES {
        return Err(invalid_argument(format!(
            "`{KEY}` is {total} bytes in all; ZEGO takes at most {MAX_URL_LIST_BYTES}"
        )));
    }
    Ok(Some(urls))
}

/// `options.{key}`, a JSON object of the published numeric sub-fields `table` of `field`
/// (`VideoOptions` / `AudioOptions`) in `action`: every key must be one of them and every
/// value an integer it admits. `None` when absent or empty (ZEGO then keeps its defaults, or
/// on an update the current values).
pub fn media_object(
    options: &Options,
    key: &str,
    field: &str,
    action: &str,
    table: &[SubField],
) -> Result<Option<Map<String, Value>>, ProviderError> {
    let Some(value) = options.get(key) else {
        return Ok(None);
    };
    let Value::Object(map) = value else {
        return Err(invalid_argument(format!(
            "`options.{key}` must be a JSON object (sent as {field})"
        )));
    };
    for (name, v) in map {
        let Some((_, allowed)) = table.iter().find(|(n, _)| n == name) else {
            let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
            return Err(invalid_argument(format!(
                "{} is not a field of ZEGO's {action} {field} (it takes: {})",
                key_name(&format!("options.{key}"), name),
                names.join(", ")
            )));
        };
        match v.as_i64() {
            Some(n) if allowed.admits(n) => {}
            _ => {
                let given = match v {
                    Value::Number(n) => n.to_string(),
                    Value::String(s) => format!("the string {}", echo(s)),
                    Value::Bool(_) => "a boolean".to_string(),
                    Value::Null => "null".to_string(),
                    Value::Array(_) => "an array".to_string(),
                    Value::Object(_) => "an object".to_string(),
                };
                return Err(invalid_argument(format!(
                    "`options.{key}.{name}` is {given}; ZEGO takes {}",
                    allowed.describe()
                )));
            }
        }
    }
    Ok((!map.is_empty()).then(|| map.clone()))
}

/// `options.{key}`, a switch ZEGO takes as the number 0 or 1 (`field`): `true`/`false` or
/// `0`/`1` from the caller, `0`/`1` to ZEGO. `None` when absent.
pub fn flag(options: &Options, key: &str, field: &str) -> Result<Option<u8>, ProviderError> {
    match options.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(u8::from(*b))),
        Some(Value::Number(n)) if n.as_u64() == Some(0) => Ok(Some(0)),
        Some(Value::Number(n)) if n.as_u64() == Some(1) => Ok(Some(1)),
        Some(_) => Err(invalid_argument(format!(
            "`options.{key}` must be true or false (or the number 0 or 1); ZEGO takes {field} \
             as the number 0 or 1"
        ))),
    }
}

/// `options.repeat_times` → `RepeatTimes`: -1 (loop) or a number of plays from 1. ZEGO gives
/// 0 no meaning on `CreatePlayer` and reads it as "keep" on `UpdatePlayer`, so it is refused.
pub fn repeat_times(options: &Options) -> Result<Option<i64>, ProviderError> {
    match options.int("repeat_times", -1, MAX_REPEAT_TIMES)? {
        Some(0) => Err(invalid_argument(
            "`options.repeat_times` is 0; ZEGO takes -1 (loop) or a number of plays from 1 (leave \
             it out to keep the current setting)",
        )),
        n => Ok(n),
    }
}

/// `options.seek_to` → `SeekTo`: the playback position, whole seconds from 0.
pub fn seek_to(options: &Options) -> Result<Option<i64>, ProviderError> {
    options.int("seek_to", 0, MAX_SEEK_TO)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest_plugin_sdk::ErrorKind;

    fn refused(r: Result<impl std::fmt::Debug, ProviderError>) -> String {
        let e = r.expect_err("refused");
        assert_eq!(e.kind, ErrorKind::InvalidArgument, "{}", e.message);
        e.message
    }

    #[test]
    fn urls_are_http_or_https_within_the_published_length() {
        assert_eq!(
            check_url("stream_url", " https://media.example/a.m3u8 ").expect("ok"),
            "https://media.example/a.m3u8"
        );
        assert!(check_url("stream_url", "HTTP://media.example/a.flv").is_ok());
        let max = format!("https://m.example/{}", "a".repeat(MAX_URL - 18));
        assert_eq!(max.len(), MAX_URL);
        assert!(check_url("stream_url", &max).is_ok());

        for (url, needle) in [
            ("rtmp://media.example/live/a?token=s3cret", "uses rtmp://"),
            ("RTMPS://media.example/live/a", "uses rtmps://"),
            ("srt://media.example:9000", "uses srt://"),
            ("media.example/a.m3u8", "is not an http:// or https:// URL"),
            ("", "is not an http:// or https:// URL"),
            ("https://", "has nothing after"),
            ("https://media.example/a b", "spaces"),
        ] {
            let msg = refused(check_url("stream_url", url));
            assert!(msg.starts_with("`stream_url` "), "{msg}");
            assert!(msg.contains(needle), "{url}: {msg}");
            assert!(!msg.contains("s3cret"), "the URL is not echoed: {msg}");
        }
        let msg = refused(check_url("stream_url", "rtmp://a/b"));
        assert!(msg.contains("only HTTP/HTTPS"), "{msg}");
        let long = format!("{max}a");
        assert!(refused(check_url("stream_url", &long)).contains("1025 bytes"));
    }

    #[test]
    fn url_lists() {
        let opts = |json: &str| Options::parse(json).expect("options");
        assert_eq!(url_list(&opts("{}")).expect("absent"), None);
        assert_eq!(
            url_list(&opts(
                r#"{"stream_url_list":["https://a/1.mp4"," http://b/2.mp4"]}"#
            ))
            .expect("list"),
            Some(vec!["https://a/1.mp4".into(), "http://b/2.mp4".into()])
        );
        let hundred: Vec<String> = (0..100).map(|i| format!("https://a/{i}")).collect();
        let json = serde_json::json!({ "stream_url_list": hundred }).to_string();
        assert!(url_list(&opts(&json)).is_ok());
        let many: Vec<String> = (0..101).map(|i| format!("https://a/{i}")).collect();
        let json = serde_json::json!({ "stream_url_list": many }).to_string();
        assert!(refused(url_list(&opts(&json))).contains("101 entries"));
        let big: Vec<String> = (0..50)
            .map(|_| format!("https://a/{}", "x".repeat(1000)))
            .collect();
        let json = serde_json::json!({ "stream_url_list": big }).to_string();
        assert!(refused(url_list(&opts(&json))).contains("in all"));
        for (json, needle) in [
            (r#"{"stream_url_list":[]}"#, "0 entries"),
            (r#"{"stream_url_list":"https://a/1"}"#, "JSON array"),
            (
                r#"{"stream_url_list":["https://a/1",2]}"#,
                "`options.stream_url_list[1]`",
            ),
            (
                r#"{"stream_url_list":["https://a/1","rtmp://b/2"]}"#,
                "`options.stream_url_list[1]` uses rtmp://",
            ),
        ] {
            assert!(refused(url_list(&opts(json))).contains(needle), "{json}");
        }
    }

    #[test]
    fn media_objects_follow_the_published_tables() {
        let opts = |json: &str| Options::parse(json).expect("options");
        let video = |json: &str, table| {
            media_object(
                &opts(json),
                "video_options",
                "VideoOptions",
                "UpdatePlayer",
                table,
            )
        };
        assert_eq!(video("{}", UPDATE_VIDEO).expect("absent"), None);
        assert_eq!(
            video(r#"{"video_options":{}}"#, UPDATE_VIDEO).expect("empty"),
            None
        );
        let m = video(
            r#"{"video_options":{"Width":1280,"Height":720,"ShortEdge":0,"VideoBitrate":50000}}"#,
            UPDATE_VIDEO,
        )
        .expect("valid")
        .expect("some");
        assert_eq!(m.len(), 4);
        assert!(
            video(
                r#"{"video_options":{"Fps":30,"VideoCodec":3}}"#,
                CREATE_VIDEO
            )
            .is_ok()
        );
        for (json, needle) in [
            (r#"{"video_options":{"Width":3001}}"#, "from 1 to 3000"),
            (r#"{"video_options":{"Width":0}}"#, "from 1 to 3000"),
            (
                r#"{"video_options":{"Width":"640"}}"#,
                "`options.video_options.Width`",
            ),
            (r#"{"video_options":{"Width":640.5}}"#, "an integer"),
            (
                r#"{"video_options":{"width":640}}"#,
                "not a field of ZEGO's UpdatePlayer",
            ),
            (
                r#"{"video_options":{"Fps":15}}"#,
                "Width, Height, ShortEdge, VideoBitrate",
            ),
            (r#"{"video_options":[1]}"#, "JSON object"),
        ] {
            assert!(
                refused(video(json, UPDATE_VIDEO)).contains(needle),
                "{json}"
            );
        }
        assert!(
            refused(video(r#"{"video_options":{"VideoCodec":1}}"#, CREATE_VIDEO))
                .contains("one of 0, 2, 3")
        );
        let audio = |json: &str| {
            media_object(
                &opts(json),
                "audio_options",
                "AudioOptions",
                "UpdatePlayer",
                UPDATE_AUDIO,
            )
        };
        assert!(audio(r#"{"audio_options":{"Volume":200,"AudioBitrate":192}}"#).is_ok());
        assert!(refused(audio(r#"{"audio_options":{"Volume":201}}"#)).contains("0 to 200"));
        assert!(refused(audio(r#"{"audio_options":{"SoundChannel":2}}"#)).contains("AudioBitrate"));
    }

    #[test]
    fn echoes_are_bounded_and_escaped() {
        assert_eq!(echo("abc"), r#""abc""#);
        assert_eq!(echo("a\"b\n"), r#""a\"b\n""#);
        let long = "é".repeat(100);
        let e = echo(&long);
        assert!(
            e.starts_with(&format!("\"{}\"…", "é".repeat(MAX_ECHO))),
            "{e}"
        );
        assert!(e.ends_with("(200 bytes)"), "{e}");
        assert_eq!(echo(&"a".repeat(MAX_ECHO)).len(), MAX_ECHO + 2);
        assert_eq!(key_name("options", "stream_id"), "`options.stream_id`");
        assert_eq!(key_name("options", "a`b"), r#"a key of `options`, "a`b""#);
        assert!(key_name("options", &"k".repeat(65)).contains("(65 bytes)"));
        assert!(only(r#"{"seek_to":1}"#, &["seek_to"]).is_ok());
        assert!(only("", &["seek_to"]).is_ok());
        let msg = refused(only(
            r#"{"seek_to":1,"volume":2}"#,
            &["seek_to", "sequence"],
        ));
        assert_eq!(
            msg,
            "`options.volume` is not a setting this provider can change on a running ingest \
             (it can change: seek_to, sequence)"
        );
    }

    #[test]
    fn flags_repeats_and_seeks() {
        let opts = |json: &str| Options::parse(json).expect("options");
        for (json, want) in [
            ("{}", None),
            (r#"{"f":true}"#, Some(1)),
            (r#"{"f":false}"#, Some(0)),
            (r#"{"f":1}"#, Some(1)),
            (r#"{"f":0}"#, Some(0)),
        ] {
            assert_eq!(
                flag(&opts(json), "f", "IsPause").expect(json),
                want,
                "{json}"
            );
        }
        for json in [
            r#"{"f":2}"#,
            r#"{"f":"true"}"#,
            r#"{"f":-1}"#,
            r#"{"f":0.5}"#,
        ] {
            assert!(refused(flag(&opts(json), "f", "IsPause")).contains("`options.f`"));
        }
        assert_eq!(
            repeat_times(&opts(r#"{"repeat_times":-1}"#)).expect("loop"),
            Some(-1)
        );
        assert_eq!(
            repeat_times(&opts(r#"{"repeat_times":3}"#)).expect("3"),
            Some(3)
        );
        assert!(refused(repeat_times(&opts(r#"{"repeat_times":0}"#))).contains("is 0"));
        assert!(refused(repeat_times(&opts(r#"{"repeat_times":-2}"#))).contains("repeat_times"));
        assert_eq!(seek_to(&opts(r#"{"seek_to":90}"#)).expect("seek"), Some(90));
        assert!(refused(seek_to(&opts(r#"{"seek_to":-1}"#))).contains("seek_to"));
    }
}
