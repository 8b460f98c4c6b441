//! `parse-callback`: verifying a TRTC "Push Online Media Stream" callback (event group 7) and
//! turning it into a normalized event. Pure apart from the HMAC the host computes
//! ([`secret_hmac_sha256`]).
//!
//! Signing, as Tencent documents it: header `Sign` = `base64(HMAC-SHA256(callback key, raw
//! body))`, header `SdkAppId`. The callback key is the one set in the TRTC console; the host
//! holds it as the optional secret [`SECRET_CALLBACK_KEY`] and computes the HMAC, so the plugin
//! never sees it. Without that secret `parse-callback` answers `unsupported`, naming it.
//!
//! The signature covers the whole body, `CallbackMsTs` included, so a callback cannot be
//! altered; to keep a captured one from being replayed later, the plugin also refuses a callback
//! whose `CallbackMsTs` is more than [`MAX_CALLBACK_AGE_SECS`] away from the gateway's clock
//! (the window the other plugins use; Tencent retries for at most a minute).
//!
//! Events: 701 (stream-ingest status; `Status` 0 started → `running`, 1 failed → `failed`,
//! 2 retrying → `starting`) and 702 (stopped → `stopped`), keyed by `EventInfo.TaskId`, which is
//! the session reference `start` returned. Room and media events (groups 1 and 2) are signed the
//! same way; they verify, and become `unknown` events without a session.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ingest_plugin_sdk::error::{invalid_argument, unsupported};
use ingest_plugin_sdk::sign::constant_time_eq;
use ingest_plugin_sdk::{
    CallbackRequest, ErrorKind, IngestEvent, IngestState, ProviderError, error, session,
};
use serde_json::{Map, Value};

use crate::sign::secret_hmac_sha256;

/// The secret holding the callback key set in the TRTC console (optional: only
/// `parse-callback` uses it).
pub const SECRET_CALLBACK_KEY: &str = "callback_key";
/// Largest accepted difference between a callback's `CallbackMsTs` and the gateway's clock,
/// seconds (10 minutes, as for RongCloud's callbacks).
pub const MAX_CALLBACK_AGE_SECS: u64 = 600;
/// `EventGroupId` of stream-ingest ("Push Online Media Stream") events.
pub const GROUP_STREAM_INGEST: i64 = 7;
/// `EventType`: stream-ingest status.
pub const EVENT_STATUS: i64 = 701;
/// `EventType`: stream ingest stopped.
pub const EVENT_STOPPED: i64 = 702;

/// The first non-blank value of the header `name` (case-insensitive), trimmed.
fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, v)| k.eq_ignore_ascii_case(name) && !v.trim().is_empty())
        .map(|(_, v)| v.trim())
}

fn unauthenticated(message: impl Into<String>) -> ProviderError {
    error::new(ErrorKind::Unauthenticated, message)
}

/// The answer when the provider has no callback key.
fn no_callback_key() -> ProviderError {
    unsupported(format!(
        "tencent-trtc cannot verify callbacks without the secret `{SECRET_CALLBACK_KEY}` (the \
         callback key set in the TRTC console, which Tencent signs callbacks with); add \
         `{SECRET_CALLBACK_KEY} = {{ env = \"…\" }}` under [providers.secrets]"
    ))
}

/// Checks the `Sign` header against the body and the provider's callback key, and the
/// `SdkAppId` header (when sent) against `sdk_app_id`.
pub fn verify(sdk_app_id: u64, request: &CallbackRequest) -> Result<(), ProviderError> {
    // First, so that a provider without the key says so whatever arrives.
    let expected =
        secret_hmac_sha256(SECRET_CALLBACK_KEY, &request.body)?.ok_or_else(no_callback_key)?;
    let expected = STANDARD.encode(expected);
    let given = header(&request.headers, "Sign").ok_or_else(|| {
        unauthenticated(
            "the callback is not signed: the `Sign` header is missing; Tencent TRTC signs \
             callbacks with Sign = base64(HMAC-SHA256(callback key, body))",
        )
    })?;
    if !constant_time_eq(expected.as_bytes(), given.as_bytes()) {
        return Err(unauthenticated(format!(
            "the callback's `Sign` does not verify against the provider's \
             `{SECRET_CALLBACK_KEY}`: it was not sent by Tencent TRTC with this callback key, \
             or its body was altered"
        )));
    }
    if let Some(app) = header(&request.headers, "SdkAppId")
        && app != sdk_app_id.to_string()
    {
        return Err(unauthenticated(format!(
            "the callback is for SdkAppId `{app}`, not this provider's `sdk_app_id` {sdk_app_id}"
        )));
    }
    Ok(())
}

/// A callback body's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    /// `EventGroupId`.
    pub group: i64,
    /// `EventType`.
    pub event_type: i64,
    /// `CallbackMsTs`: when Tencent sent it, Unix milliseconds.
    pub callback_ms: Option<u64>,
    /// `EventInfo.EventMsTs`: when it happened, Unix milliseconds.
    pub event_ms: Option<u64>,
    /// `EventInfo.TaskId`.
    pub task_id: Option<String>,
    /// `EventInfo.Status` (701).
    pub status: Option<i64>,
}

/// An integer field: a JSON integer or a string holding one; absent or `null` is `None`.
fn int(map: &Map<String, Value>, key: &str) -> Result<Option<i64>, ProviderError> {
    let bad = || invalid_argument(format!("the callback's `{key}` is not an integer"));
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(bad),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}

/// A Unix-milliseconds field (a non-negative integer).
fn millis(map: &Map<String, Value>, key: &str) -> Result<Option<u64>, ProviderError> {
    int(map, key)?
        .map(|n| {
            u64::try_from(n).map_err(|_| {
                invalid_argument(format!("the callback's `{key}` is not a Unix time in ms"))
            })
        })
        .transpose()
}

/// Reads a callback body. Shape problems are `invalid-argument`.
pub fn parse_body(body: &[u8]) -> Result<Callback, ProviderError> {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return Err(invalid_argument(
            "the callback body is not a JSON object (Tencent TRTC event callback)",
        ));
    };
    let group = int(&map, "EventGroupId")?
        .ok_or_else(|| invalid_argument("the callback has no `EventGroupId`"))?;
    let event_type = int(&map, "EventType")?
        .ok_or_else(|| invalid_argument("the callback has no `EventType`"))?;
    // `CallbackMsTs` as the stream-ingest doc names it; TRTC's room and media callbacks call
    // the same field `CallbackTs` (also milliseconds).
    let callback_ms = match millis(&map, "CallbackMsTs")? {
        Some(ms) => Some(ms),
        None => millis(&map, "CallbackTs")?,
    };
    let info = match map.get("EventInfo") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(info)) => info.clone(),
        Some(_) => {
            return Err(invalid_argument(
                "the callback's `EventInfo` is not a JSON object",
            ));
        }
    };
    let task_id = match info.get("TaskId") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(_) => {
            return Err(invalid_argument(
                "the callback's `EventInfo.TaskId` is not a non-empty string",
            ));
        }
    };
    Ok(Callback {
        group,
        event_type,
        callback_ms,
        event_ms: millis(&info, "EventMsTs")?,
        task_id,
        status: int(&info, "Status")?,
    })
}

/// Refuses a callback sent more than [`MAX_CALLBACK_AGE_SECS`] away from `now_ms`, or one
/// that does not say when it was sent.
pub fn check_fresh(callback_ms: Option<u64>, now_ms: u64) -> Result<(), ProviderError> {
    let sent = callback_ms.ok_or_else(|| {
        unauthenticated(
            "the callback carries no `CallbackMsTs`, so its age cannot be checked (a replayed \
             callback could not be told from a new one)",
        )
    })?;
    let age_secs = sent.abs_diff(now_ms) / 1000;
    if age_secs > MAX_CALLBACK_AGE_SECS {
        return Err(unauthenticated(format!(
            "the callback's `CallbackMsTs` is {age_secs} s away from the gateway's clock (at most \
             {MAX_CALLBACK_AGE_SECS} s accepted); it is stale or replayed, or a clock is wrong"
        )));
    }
    Ok(())
}

/// The normalized state of a callback.
///
/// Group 7: 701 with `Status` 0 (started) → `running`, 1 (failed) → `failed`, 2 (retrying) →
/// `starting` (no media while the source is retried); 702 (stopped) → `stopped`. Anything
/// else → `unknown`.
pub fn state_for(group: i64, event_type: i64, status: Option<i64>) -> IngestState {
    if group != GROUP_STREAM_INGEST {
        return IngestState::Unknown;
    }
    match (event_type, status) {
        (EVENT_STATUS, Some(0)) => IngestState::Running,
        (EVENT_STATUS, Some(1)) => IngestState::Failed,
        (EVENT_STATUS, Some(2)) => IngestState::Starting,
        (EVENT_STOPPED, _) => IngestState::Stopped,
        _ => IngestState::Unknown,
    }
}

/// Words for the event, for `detail`.
fn describe(cb: &Callback) -> String {
    if cb.group != GROUP_STREAM_INGEST {
        return format!(
            "event group {} (not stream ingest): verified, not tracked by this plugin",
            cb.group
        );
    }
    match (cb.event_type, cb.status) {
        (EVENT_STATUS, Some(0)) => "stream ingest started".to_string(),
        (EVENT_STATUS, Some(1)) => "stream ingest failed".to_string(),
        (EVENT_STATUS, Some(2)) => "stream ingest is retrying the source".to_string(),
        (EVENT_STATUS, Some(s)) => format!("stream-ingest status {s} (undocumented)"),
        (EVENT_STATUS, None) => "stream-ingest status without a `Status`".to_string(),
        (EVENT_STOPPED, _) => "stream ingest stopped".to_string(),
        (t, _) => format!("stream-ingest event type {t} (undocumented)"),
    }
}

/// The normalized event of a verified callback.
pub fn event(cb: &Callback) -> Result<IngestEvent, ProviderError> {
    let ingest =
        cb.group == GROUP_STREAM_INGEST && matches!(cb.event_type, EVENT_STATUS | EVENT_STOPPED);
    if ingest && cb.task_id.is_none() {
        return Err(invalid_argument(format!(
            "the stream-ingest callback (EventType {}) carries no `EventInfo.TaskId`",
            cb.event_type
        )));
    }
    // Never empty here (`parse_body` refuses that), so only its length can keep it from
    // being a session reference.
    if cb.task_id.as_deref().is_some_and(|t| !session::fits(t)) {
        return Err(invalid_argument(format!(
            "the callback's `EventInfo.TaskId` is longer than {} bytes",
            session::MAX_SESSION_REF_BYTES
        )));
    }
    let vendor_event = match (cb.group, cb.status) {
        (GROUP_STREAM_INGEST, Some(status)) if cb.event_type == EVENT_STATUS => {
            format!("EventType={} Status={status}", cb.event_type)
        }
        (GROUP_STREAM_INGEST, _) => format!("EventType={}", cb.event_type),
        (group, _) => format!("EventGroupId={group} EventType={}", cb.event_type),
    };
    // The TaskId is the session reference `start` returned, verbatim.
    let session_ref = cb
        .task_id
        .clone()
        .filter(|_| cb.group == GROUP_STREAM_INGEST);
    Ok(IngestEvent {
        session_ref: session_ref.clone(),
        vendor_task_id: session_ref,
        state: state_for(cb.group, cb.event_type, cb.status),
        vendor_event,
        detail: Some(describe(cb)),
        occurred_at_ms: cb.event_ms.or(cb.callback_ms),
    })
}

/// Verifies, reads and normalizes one callback. `now_ms` is the call context's clock.
pub fn parse(
    sdk_app_id: u64,
    request: &CallbackRequest,
    now_ms: u64,
) -> Result<IngestEvent, ProviderError> {
    verify(sdk_app_id, request)?;
    let cb = parse_body(&request.body)?;
    check_fresh(cb.callback_ms, now_ms)?;
    event(&cb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest_plugin_sdk::testing::{Installed, TestHost};

    const KEY: &str = "cbKey0123456789abcdefABCDEF0123";
    const APP: u64 = 1_400_188_366;
    const NOW_MS: u64 = 1_700_000_000_000;

    /// A host holding the callback key, installed until the guard drops.
    fn key() -> Installed {
        TestHost::new().secret(SECRET_CALLBACK_KEY, KEY).install()
    }

    fn sign(body: &str) -> String {
        let _host = key();
        let mac = secret_hmac_sha256(SECRET_CALLBACK_KEY, body.as_bytes())
            .expect("hmac")
            .expect("configured");
        STANDARD.encode(mac)
    }

    fn body(event_type: i64, status: Option<i64>, callback_ms: u64) -> String {
        let status = status
            .map(|s| format!(r#","Status":{s}"#))
            .unwrap_or_default();
        format!(
            r#"{{"EventGroupId":7,"EventType":{event_type},"CallbackMsTs":{callback_ms},"EventInfo":{{"EventMsTs":{},"TaskId":"-abc+def.ghi_jkl"{status}}}}}"#,
            callback_ms - 5
        )
    }

    fn request(headers: &[(&str, &str)], body: &str) -> CallbackRequest {
        CallbackRequest {
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            query: String::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn signed(body: &str) -> CallbackRequest {
        let sign = sign(body);
        request(
            &[
                ("content-type", "application/json"),
                ("Sign", &sign),
                ("SdkAppId", "1400188366"),
            ],
            body,
        )
    }

    /// A vector computed independently with Python:
    /// `base64.b64encode(hmac.new(KEY.encode(), body.encode(), hashlib.sha256).digest())`.
    #[test]
    fn sign_matches_an_independent_implementation() {
        let body = r#"{"EventGroupId":7,"EventType":701,"CallbackMsTs":1700000000000,"EventInfo":{"EventMsTs":1699999999995,"TaskId":"-abc+def.ghi_jkl","Status":0}}"#;
        assert_eq!(body, self::body(701, Some(0), NOW_MS));
        assert_eq!(sign(body), "C9T57BWmBdRFbYIz5qH54hbxzSimirb+ZCaDWN+5kcU=");
    }

    #[test]
    fn signed_callbacks_become_events() {
        let _host = key();
        let cases = [
            (
                701,
                Some(0),
                IngestState::Running,
                "EventType=701 Status=0",
                "started",
            ),
            (
                701,
                Some(1),
                IngestState::Failed,
                "EventType=701 Status=1",
                "failed",
            ),
            (
                701,
                Some(2),
                IngestState::Starting,
                "EventType=701 Status=2",
                "retrying",
            ),
            (
                701,
                Some(9),
                IngestState::Unknown,
                "EventType=701 Status=9",
                "undocumented",
            ),
            (702, None, IngestState::Stopped, "EventType=702", "stopped"),
            (
                799,
                None,
                IngestState::Unknown,
                "EventType=799",
                "undocumented",
            ),
        ];
        for (event_type, status, state, vendor_event, words) in cases {
            let e =
                parse(APP, &signed(&body(event_type, status, NOW_MS)), NOW_MS).expect("verifies");
            assert_eq!(e.state, state, "{vendor_event}");
            assert_eq!(e.vendor_event, vendor_event);
            assert_eq!(e.session_ref.as_deref(), Some("-abc+def.ghi_jkl"));
            assert_eq!(e.vendor_task_id.as_deref(), Some("-abc+def.ghi_jkl"));
            assert_eq!(e.occurred_at_ms, Some(NOW_MS - 5));
            let detail = e.detail.unwrap_or_default();
            assert!(detail.contains(words), "{vendor_event}: {detail}");
        }
        // Header names in any case; no SdkAppId header is fine (the key is per application).
        let b = body(701, Some(0), NOW_MS);
        let sig = sign(&b);
        let e = parse(APP, &request(&[("sign", &sig)], &b), NOW_MS).expect("verifies");
        assert_eq!(e.state, IngestState::Running);
    }

    #[test]
    fn room_events_verify_and_stay_unknown() {
        let _host = key();
        let b = r#"{"EventGroupId":1,"EventType":103,"CallbackTs":1700000000000,"EventInfo":{"RoomId":"42","EventTs":1700000000,"UserId":"u"}}"#;
        let e = parse(APP, &signed(b), NOW_MS).expect("verifies");
        assert_eq!(e.state, IngestState::Unknown);
        assert_eq!(e.session_ref, None);
        assert_eq!(e.vendor_event, "EventGroupId=1 EventType=103");
        assert_eq!(e.occurred_at_ms, Some(NOW_MS));
    }

    #[test]
    fn tampered_unsigned_or_stale_callbacks_are_refused() {
        let _host = key();
        let good = body(701, Some(0), NOW_MS);
        let refuse = |req: CallbackRequest, why: &str| {
            let e = parse(APP, &req, NOW_MS).expect_err(why);
            assert_eq!(e.kind, ErrorKind::Unauthenticated, "{why}: {}", e.message);
            assert!(!e.message.contains(KEY), "{why}: the key leaked");
            e.message
        };
        // The body changed after signing.
        let mut req = signed(&good);
        req.body = body(701, Some(1), NOW_MS).into_bytes();
        assert!(refuse(req, "altered body").contains("does not verify"));
        // A forged or missing signature.
        let forged = request(&[("Sign", &sign("{}"))], &good);
        refuse(forged, "forged");
        assert!(refuse(request(&[], &good), "unsigned").contains("`Sign`"));
        assert!(refuse(request(&[("Sign", " ")], &good), "blank").contains("missing"));
        // Another application.
        let sig = sign(&good);
        let other = request(&[("Sign", &sig), ("SdkAppId", "1400000001")], &good);
        assert!(refuse(other, "other app").contains("SdkAppId"));
        // Signed with another key.
        let req = signed(&good);
        let e = TestHost::new()
            .secret(SECRET_CALLBACK_KEY, "another-key")
            .run(|| parse(APP, &req, NOW_MS))
            .expect_err("other key");
        assert_eq!(e.kind, ErrorKind::Unauthenticated);
        // Stale, from the future, or without a time: signed, but refused.
        let window = MAX_CALLBACK_AGE_SECS * 1000;
        for sent in [NOW_MS - window - 1000, NOW_MS + window + 1000] {
            let msg = refuse(signed(&body(701, Some(0), sent)), "stale");
            assert!(msg.contains("stale"), "{msg}");
        }
        for sent in [NOW_MS - window, NOW_MS + window] {
            assert!(parse(APP, &signed(&body(702, None, sent)), NOW_MS).is_ok());
        }
        let untimed = r#"{"EventGroupId":7,"EventType":702,"EventInfo":{"TaskId":"t"}}"#;
        assert!(refuse(signed(untimed), "untimed").contains("CallbackMsTs"));
    }

    #[test]
    fn without_the_key_callbacks_are_unsupported() {
        let e = TestHost::new()
            .run(|| parse(APP, &request(&[], r#"{"x":1}"#), NOW_MS))
            .expect_err("no key");
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert!(e.message.contains("`callback_key`"), "{}", e.message);
    }

    #[test]
    fn bodies_never_panic() {
        let _host = key();
        let ts = NOW_MS.to_string();
        let bad = [
            String::new(),
            "x".into(),
            "[]".into(),
            "{}".into(),
            r#"{"EventGroupId":7}"#.into(),
            r#"{"EventGroupId":"seven","EventType":701}"#.into(),
            r#"{"EventGroupId":7,"EventType":701,"CallbackMsTs":-1}"#.into(),
            format!(r#"{{"EventGroupId":7,"EventType":701,"CallbackMsTs":{ts},"EventInfo":[1]}}"#),
            format!(
                r#"{{"EventGroupId":7,"EventType":701,"CallbackMsTs":{ts},"EventInfo":{{"TaskId":5}}}}"#
            ),
            format!(
                r#"{{"EventGroupId":7,"EventType":701,"CallbackMsTs":{ts},"EventInfo":{{"TaskId":""}}}}"#
            ),
            format!(
                r#"{{"EventGroupId":7,"EventType":701,"CallbackMsTs":{ts},"EventInfo":{{"Status":0}}}}"#
            ),
            format!(r#"{{"EventGroupId":7,"EventType":702,"CallbackMsTs":{ts}}}"#),
            format!(
                r#"{{"EventGroupId":7,"EventType":702,"CallbackMsTs":{ts},"EventInfo":{{"TaskId":"{}"}}}}"#,
                "x".repeat(session::MAX_SESSION_REF_BYTES + 1)
            ),
        ];
        for b in &bad {
            let e = parse(APP, &signed(b), NOW_MS).expect_err(b);
            assert_eq!(e.kind, ErrorKind::InvalidArgument, "{b}: {}", e.message);
        }
        // Strings holding integers are read as integers.
        let b = format!(
            r#"{{"EventGroupId":"7","EventType":"702","CallbackMsTs":"{ts}","EventInfo":{{"TaskId":"t","EventMsTs":null}}}}"#
        );
        let e = parse(APP, &signed(&b), NOW_MS).expect("strings");
        assert_eq!(
            (e.state, e.occurred_at_ms),
            (IngestState::Stopped, Some(NOW_MS))
        );
    }

    #[test]
    fn every_documented_state() {
        use IngestState::*;
        assert_eq!(state_for(7, 701, Some(0)), Running);
        assert_eq!(state_for(7, 701, Some(1)), Failed);
        assert_eq!(state_for(7, 701, Some(2)), Starting);
        assert_eq!(state_for(7, 701, None), Unknown);
        assert_eq!(state_for(7, 702, None), Stopped);
        assert_eq!(state_for(7, 702, Some(1)), Stopped);
        assert_eq!(state_for(1, 701, Some(0)), Unknown);
        assert_eq!(state_for(2, 702, None), Unknown);
    }
}
