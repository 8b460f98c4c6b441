//! `parse-callback`: verifying a Cloud Player status callback and turning it into a normalized
//! event. Pure apart from the [`Crypto`] passed in.
//!
//! Signing, as RongCloud documents it for its room-status callbacks: headers `appKey`, `nonce`,
//! `timestamp`, `signature` with `signature = hex(SHA1(AppSecret ‖ nonce ‖ timestamp))`. The
//! `RC-`-prefixed forms (`RC-App-Key`, `RC-Nonce`, `RC-Timestamp`, `RC-Signature`) and the API's
//! own names (`App-Key`) are accepted too. The body is **not** covered by the signature, so the
//! plugin also refuses a callback whose `timestamp` header is more than [`MAX_CALLBACK_AGE_SECS`]
//! away from the gateway's clock: a captured signature cannot be replayed with another body
//! for longer than that.

use ingest_plugin_sdk::error::invalid_argument;
use ingest_plugin_sdk::{
    CallbackRequest, ErrorKind, IngestEvent, IngestState, ProviderError, error,
};
use serde_json::{Map, Value};

use crate::errors;
use crate::settings::Settings;
use crate::sign::{self, Crypto};
use crate::start::SessionRef;

/// Largest accepted difference between a callback's `timestamp` header and the gateway's
/// clock, seconds (10 minutes).
pub const MAX_CALLBACK_AGE_SECS: u64 = 600;
/// Timestamps at or above this are milliseconds, below it seconds (10^11 s is the year 5138;
/// 10^11 ms is 1973).
const MS_THRESHOLD: u64 = 100_000_000_000;

const APP_KEY_HEADERS: &[&str] = &["appkey", "app-key", "rc-app-key", "rc-appkey"];
const NONCE_HEADERS: &[&str] = &["nonce", "rc-nonce"];
const TIMESTAMP_HEADERS: &[&str] = &["timestamp", "rc-timestamp"];
const SIGNATURE_HEADERS: &[&str] = &["signature", "rc-signature"];

/// The first non-empty value of any of `names` (case-insensitive).
fn header<'a>(headers: &'a [(String, String)], names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|name| {
        headers
            .iter()
            .find(|(k, v)| k.eq_ignore_ascii_case(name) && !v.trim().is_empty())
            .map(|(_, v)| v.trim())
    })
}

fn unauthenticated(message: impl Into<String>) -> ProviderError {
    error::new(ErrorKind::Unauthenticated, message)
}

/// Checks the callback's signature headers against the provider's `app_key` and `app_secret`.
pub fn verify(
    crypto: &impl Crypto,
    app_key: &str,
    headers: &[(String, String)],
    now_ms: u64,
) -> Result<(), ProviderError> {
    let missing = |what: &str, names: &[&str]| {
        unauthenticated(format!(
            "the callback is not signed: the `{what}` header is missing (accepted names: {}); \
             RongCloud signs callbacks with appKey, nonce, timestamp and signature headers",
            names.join(", ")
        ))
    };
    let nonce = header(headers, NONCE_HEADERS).ok_or_else(|| missing("nonce", NONCE_HEADERS))?;
    let timestamp = header(headers, TIMESTAMP_HEADERS)
        .ok_or_else(|| missing("timestamp", TIMESTAMP_HEADERS))?;
    let signature = header(headers, SIGNATURE_HEADERS)
        .ok_or_else(|| missing("signature", SIGNATURE_HEADERS))?;
    if let Some(key) = header(headers, APP_KEY_HEADERS)
        && key != app_key
    {
        return Err(unauthenticated(format!(
            "the callback is for App Key `{key}`, not this provider's `app_key`"
        )));
    }
    let ts: u64 = timestamp
        .parse()
        .map_err(|_| unauthenticated("the callback's `timestamp` header is not a Unix time"))?;
    let ts_ms = if ts >= MS_THRESHOLD {
        ts
    } else {
        ts.saturating_mul(1000)
    };
    let age_secs = ts_ms.abs_diff(now_ms) / 1000;
    if age_secs > MAX_CALLBACK_AGE_SECS {
        return Err(unauthenticated(format!(
            "the callback's `timestamp` is {age_secs} s away from the gateway's clock (at most \
             {MAX_CALLBACK_AGE_SECS} s accepted); it is stale or replayed, or a clock is wrong"
        )));
    }
    let expected = sign::signature(crypto, nonce, timestamp)?;
    if !sign::same_signature(&expected, signature) {
        return Err(unauthenticated(
            "the callback's signature does not verify against the provider's `app_secret`",
        ));
    }
    Ok(())
}

/// An integer field: a JSON integer or a string holding one.
fn int(body: &Map<String, Value>, key: &str) -> Result<Option<i64>, ProviderError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| invalid_argument(format!("the callback's `{key}` is not an integer"))),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| invalid_argument(format!("the callback's `{key}` is not an integer"))),
        Some(_) => Err(invalid_argument(format!(
            "the callback's `{key}` is not an integer"
        ))),
    }
}

fn text<'a>(body: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    body.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Codes that end the player with an error, whatever the `type`.
const FAILURE_CODES: &[i64] = &[
    61000, 61010, 61011, 61012, 61013, 61014, 61015, 61101, 61103,
];

/// The normalized state for a callback's `type` and `code`.
///
/// Failure codes decide first (→ `failed`); `61017` (RTC publish succeeded) is `running`,
/// `61102` (reconnecting) `starting`. Otherwise the `type`: 1 pull succeeded → `starting` (the
/// source is pulled, not yet published into the room), 2 pull ended → `stopped`, 3 first pull
/// failed → `failed`, 4 interrupted and reconnecting → `starting`, 5 published into the room →
/// `running`; any other type → `unknown`.
pub fn state_for(kind: i64, code: Option<i64>) -> IngestState {
    match code {
        Some(c) if FAILURE_CODES.contains(&c) => return IngestState::Failed,
        Some(61017) => return IngestState::Running,
        Some(61102) => return IngestState::Starting,
        _ => {}
    }
    match kind {
        1 | 4 => IngestState::Starting,
        2 => IngestState::Stopped,
        3 => IngestState::Failed,
        5 => IngestState::Running,
        _ => IngestState::Unknown,
    }
}

fn type_name(kind: i64) -> &'static str {
    match kind {
        1 => "pull succeeded",
        2 => "pull ended",
        3 => "first pull failed",
        4 => "pull interrupted, reconnecting",
        5 => "published into the RTC room",
        _ => "unknown event type",
    }
}

fn code_name(code: i64) -> &'static str {
    match code {
        errors::OK => "normal",
        61000 => "unsupported request",
        61010 => "bad header",
        61011 => "bad body",
        61012 => "field validation failed",
        61013 => "signalling timeout",
        61014 => "media server timeout",
        61015 => "abnormal room exit",
        61017 => "RTC publish succeeded",
        61101 => "cannot pull the URL",
        61102 => "pull error, reconnecting",
        61103 => "reconnect failed after 3 tries",
        _ => "undocumented code",
    }
}

/// Verifies (unless `settings.verify_callbacks` is off) and normalizes one callback.
pub fn parse(
    crypto: &impl Crypto,
    settings: &Settings,
    request: &CallbackRequest,
    now_ms: u64,
) -> Result<IngestEvent, ProviderError> {
    if settings.verify_callbacks {
        verify(crypto, &settings.app_key, &request.headers, now_ms)?;
    }
    let body = match serde_json::from_slice::<Value>(&request.body) {
        Ok(Value::Object(map)) => map,
        _ => {
            return Err(invalid_argument(
                "the callback body is not a JSON object (RongCloud Cloud Player status callback)",
            ));
        }
    };
    let kind = int(&body, "type")?
        .ok_or_else(|| invalid_argument("the callback has no `type` (1 to 5)"))?;
    let code = int(&body, "code")?;
    if let Some(key) = text(&body, "app_key")
        && key != settings.app_key
    {
        return Err(invalid_argument(format!(
            "the callback's `app_key` is `{key}`, not this provider's `app_key`"
        )));
    }
    let session_ref = match (text(&body, "room_id"), text(&body, "user_id")) {
        (Some(room_id), Some(user_id)) => SessionRef {
            room_id: room_id.to_string(),
            user_id: user_id.to_string(),
        }
        .encode()
        .ok(),
        _ => None,
    };
    let occurred_at_ms = match body.get("timestamp") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    let mut detail = type_name(kind).to_string();
    if let Some(code) = code {
        detail.push_str(&format!("; code {code} ({})", code_name(code)));
    }
    if let Some(res) = text(&body, "video_resolution") {
        detail.push_str(&format!("; video {res}"));
    }
    let vendor_event = match code {
        Some(code) => format!("type={kind} code={code}"),
        None => format!("type={kind}"),
    };
    Ok(IngestEvent {
        session_ref,
        vendor_task_id: None,
        state: state_for(kind, code),
        vendor_event,
        detail: Some(detail),
        occurred_at_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Region;
    use crate::sign::testing::LocalCrypto;
    use sha1::{Digest, Sha1};

    const SECRET: &str = "cb-secret";
    const NOW_MS: u64 = 1_700_000_000_000;

    fn settings(verify: bool) -> Settings {
        Settings {
            app_key: "app-1".into(),
            region: Region::Beijing,
            backup_endpoint: None,
            verify_callbacks: verify,
        }
    }

    fn crypto() -> LocalCrypto {
        LocalCrypto {
            secret: SECRET.into(),
        }
    }

    /// A tiny independent signer.
    fn sign(nonce: &str, ts: &str) -> String {
        hex::encode(Sha1::digest(format!("{SECRET}{nonce}{ts}").as_bytes()))
    }

    fn signed_headers(names: [&str; 4], ts: &str) -> Vec<(String, String)> {
        vec![
            (names[0].into(), "app-1".into()),
            (names[1].into(), "n1".into()),
            (names[2].into(), ts.into()),
            (names[3].into(), sign("n1", ts)),
        ]
    }

    fn request(headers: Vec<(String, String)>, body: &str) -> CallbackRequest {
        CallbackRequest {
            headers,
            query: String::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    const BODY: &str = r#"{"timestamp":1700000000000,"type":5,"app_key":"app-1","room_id":"room-42","rtmp_url":"rtmp://s/l","user_id":"relay-bot","code":61017,"video_resolution":"1920X1080"}"#;

    #[test]
    fn a_signed_callback_becomes_an_event() {
        let ts = (NOW_MS / 1000).to_string();
        for names in [
            ["appKey", "nonce", "timestamp", "signature"],
            ["RC-App-Key", "RC-Nonce", "RC-Timestamp", "RC-Signature"],
            ["app-key", "Nonce", "Timestamp", "Signature"],
        ] {
            let e = parse(
                &crypto(),
                &settings(true),
                &request(signed_headers(names, &ts), BODY),
                NOW_MS,
            )
            .expect("verifies");
            assert_eq!(e.state, IngestState::Running);
            assert_eq!(
                e.session_ref.as_deref(),
                Some(r#"{"room_id":"room-42","user_id":"relay-bot"}"#)
            );
            assert_eq!(e.vendor_event, "type=5 code=61017");
            assert_eq!(e.occurred_at_ms, Some(1_700_000_000_000));
            let detail = e.detail.expect("detail");
            assert!(
                detail.contains("1920X1080") && detail.contains("61017"),
                "{detail}"
            );
        }
        // A millisecond timestamp header and an uppercase signature verify too.
        let ts = NOW_MS.to_string();
        let mut h = signed_headers(["appKey", "nonce", "timestamp", "signature"], &ts);
        h[3].1 = h[3].1.to_uppercase();
        assert!(parse(&crypto(), &settings(true), &request(h, BODY), NOW_MS).is_ok());
    }

    #[test]
    fn tampered_or_unsigned_callbacks_are_refused() {
        let ts = (NOW_MS / 1000).to_string();
        let names = ["appKey", "nonce", "timestamp", "signature"];
        let refuse = |headers: Vec<(String, String)>, why: &str| {
            let e =
                parse(&crypto(), &settings(true), &request(headers, BODY), NOW_MS).expect_err(why);
            assert_eq!(e.kind, ErrorKind::Unauthenticated, "{why}: {}", e.message);
            e.message
        };
        let mut h = signed_headers(names, &ts);
        h[1].1 = "n2".into();
        assert!(refuse(h, "nonce changed").contains("does not verify"));
        let mut h = signed_headers(names, &ts);
        h[3].1 = "0".repeat(40);
        refuse(h, "bad signature");
        let mut h = signed_headers(names, &ts);
        h[0].1 = "other-app".into();
        assert!(refuse(h, "other app").contains("App Key"));
        for i in 1..4 {
            let mut h = signed_headers(names, &ts);
            h.remove(i);
            assert!(refuse(h, "missing").contains("not signed"));
        }
        refuse(Vec::new(), "no headers");
        let stale = ((NOW_MS / 1000) - MAX_CALLBACK_AGE_SECS - 1).to_string();
        assert!(refuse(signed_headers(names, &stale), "stale").contains("stale"));
        let future = (NOW_MS + (MAX_CALLBACK_AGE_SECS + 1) * 1000).to_string();
        refuse(signed_headers(names, &future), "future");
        refuse(signed_headers(names, "yesterday"), "not a number");
        // The wrong secret.
        let e = parse(
            &LocalCrypto {
                secret: "other".into(),
            },
            &settings(true),
            &request(signed_headers(names, &ts), BODY),
            NOW_MS,
        )
        .expect_err("wrong secret");
        assert_eq!(e.kind, ErrorKind::Unauthenticated);
    }

    #[test]
    fn verification_can_be_turned_off() {
        let e = parse(
            &crypto(),
            &settings(false),
            &request(Vec::new(), BODY),
            NOW_MS,
        )
        .expect("unsigned accepted");
        assert_eq!(e.state, IngestState::Running);
    }

    #[test]
    fn bodies() {
        let ts = (NOW_MS / 1000).to_string();
        let h = || signed_headers(["appKey", "nonce", "timestamp", "signature"], &ts);
        let parse_body =
            |body: &str| parse(&crypto(), &settings(true), &request(h(), body), NOW_MS);
        for bad in [
            "",
            "x",
            "[]",
            "{}",
            r#"{"type":"one"}"#,
            r#"{"type":1,"code":[1]}"#,
        ] {
            let e = parse_body(bad).expect_err(bad);
            assert_eq!(e.kind, ErrorKind::InvalidArgument, "{bad}");
        }
        let e = parse_body(r#"{"type":1,"app_key":"app-2"}"#).expect_err("other app");
        assert!(e.message.contains("`app_key`"));
        let e = parse_body(r#"{"type":"2","code":"10000","room_id":"r"}"#).expect("strings");
        assert_eq!(e.state, IngestState::Stopped);
        assert_eq!(e.session_ref, None, "no user_id: no session");
        assert_eq!(e.vendor_event, "type=2 code=10000");
        let e = parse_body(r#"{"type":9}"#).expect("unknown type");
        assert_eq!(
            (e.state, e.vendor_event.as_str()),
            (IngestState::Unknown, "type=9")
        );
    }

    #[test]
    fn every_type_and_code() {
        use IngestState::*;
        let types = [
            (1, Starting),
            (2, Stopped),
            (3, Failed),
            (4, Starting),
            (5, Running),
            (0, Unknown),
            (6, Unknown),
        ];
        for (t, s) in types {
            assert_eq!(state_for(t, None), s, "type {t}");
            assert_eq!(state_for(t, Some(10000)), s, "type {t} code 10000");
        }
        for code in FAILURE_CODES {
            for t in 1..=5 {
                assert_eq!(state_for(t, Some(*code)), Failed, "{t}/{code}");
            }
            assert_ne!(code_name(*code), "undocumented code");
        }
        assert_eq!(state_for(1, Some(61017)), Running);
        assert_eq!(state_for(4, Some(61102)), Starting);
        assert_eq!(state_for(2, Some(12345)), Stopped);
        assert_eq!(code_name(12345), "undocumented code");
        for code in [10000, 61017, 61102] {
            assert_ne!(code_name(code), "undocumented code");
        }
    }
}
