//! `parse-callback`: verifying and normalizing ZEGO's Cloud Player callback.
//!
//! ZEGO POSTs JSON (`Callback/callback.mdx`): `AppID`, `RoomId`, `PlayerId`, `EventType`
//! (1 created, 2 destroyed, 3 status changed, 4 exception), `Nonce`, `Timestamp` (a string),
//! `Signature`, `EventTime`, `Detail` (an object). String values that arrive URL-encoded, and
//! a `Detail` sent as URL-encoded JSON text, are read too. Its generic check is
//! `Signature == sha1(concat(sort_as_strings([CallbackSecret, Timestamp, Nonce])))`.
//!
//! # What reaches the event
//!
//! The event's `detail` is rebuilt from the numeric fields of `Detail` that say what happened
//! ([`DETAIL_FIELDS`]: `Status`, `PlayIndex`, `Reason`, `Code`, `PlayTime`, `CreateTime`,
//! `MaxIdleTime`), never copied: `Detail` of a creation (EventType 1) carries the source's
//! `StreamUrl`, and a source URL may hold a token.
//!
//! # Sorting with a secret the plugin cannot see
//!
//! The sort needs the secret's *value*, which never enters the sandbox, so the plugin cannot
//! know where the secret lands. It sorts the two public strings (`a ≤ b`) and asks the host for
//! the digest of each of the three placements the secret can take — `S‖a‖b`, `a‖S‖b`,
//! `a‖b‖S` — accepting the callback if any matches. The genuine signature is always one of the
//! three (the sorted order is one of them), so no real callback is refused. Security is intact:
//! every candidate is keyed by the secret, so a forger still has to know it; the extra two
//! candidates only mean a forger gets three chances per guess instead of one against a 160-bit
//! digest, which is negligible. What it does accept in addition is a signature made with the
//! secret in a non-sorted position — which only someone holding the secret can produce.

use ingest_plugin_sdk::creds::{self, HashAlgorithm, Part};
use ingest_plugin_sdk::error::{invalid_argument, new, unsupported};
use ingest_plugin_sdk::sign::constant_time_eq;
use ingest_plugin_sdk::{ErrorKind, IngestEvent, IngestState, ProviderError};
use serde_json::{Map, Value};

use crate::player::state_for;

/// The `Detail` fields an event's `detail` keeps (when they are numbers, or strings holding
/// an integer): what happened, never a URL.
pub const DETAIL_FIELDS: &[&str] = &[
    "Status",
    "PlayIndex",
    "Reason",
    "Code",
    "PlayTime",
    "CreateTime",
    "MaxIdleTime",
];

/// The secret holding the CallbackSecret (optional: without it `parse-callback` answers
/// `unsupported`).
pub const SECRET_CALLBACK: &str = "callback_secret";

/// Lowercase hex SHA-1 of the concatenated `parts`, computed by the host. Without the
/// `callback_secret` secret the plugin cannot verify callbacks at all: `unsupported`, saying
/// how to add it.
fn sha1_hex(parts: &[Part]) -> Result<String, ProviderError> {
    let digest = creds::digest_optional(HashAlgorithm::Sha1, parts)?.ok_or_else(|| {
        unsupported(format!(
            "zego-cloud-player cannot verify callbacks without the secret \
             `{SECRET_CALLBACK}` (the project's CallbackSecret from the ZEGO console); add \
             `{SECRET_CALLBACK} = {{ env = \"…\" }}` under [providers.secrets]"
        ))
    })?;
    Ok(hex::encode(digest))
}

/// A callback's fields, URL-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    /// `AppID`.
    pub app_id: String,
    /// `RoomId`.
    pub room_id: Option<String>,
    /// `PlayerId`.
    pub player_id: String,
    /// `EventType`.
    pub event_type: i64,
    /// `Nonce`.
    pub nonce: String,
    /// `Timestamp`, as the text it was signed as.
    pub timestamp: String,
    /// `Signature`.
    pub signature: String,
    /// `EventTime`.
    pub event_time: Option<u64>,
    /// The numeric [`DETAIL_FIELDS`] of `Detail`, as a compact JSON object (keys sorted);
    /// `None` when `Detail` is absent, unreadable, or holds none of them. Anything else in
    /// `Detail` (the source's `StreamUrl` …) is dropped.
    pub detail: Option<String>,
    /// `Status`, when the callback (or its JSON `Detail`) carries a player status.
    pub status: Option<i64>,
}

/// Percent-decoding (`+` is a space); text that does not decode to UTF-8 is kept as sent.
pub fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => match s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(b) => {
                    out.push(b);
                    i += 3;
                }
                None => return s.to_string(),
            },
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

/// A field as text: a string (URL-decoded) or a number.
fn text(map: &Map<String, Value>, key: &str) -> Option<String> {
    match map.get(key)? {
        Value::String(s) => Some(url_decode(s)),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn integer(map: &Map<String, Value>, key: &str) -> Option<i64> {
    text(map, key).and_then(|t| t.trim().parse().ok())
}

fn unauthenticated(message: impl Into<String>) -> ProviderError {
    new(ErrorKind::Unauthenticated, message)
}

/// Parses the body. Missing signature fields are `unauthenticated`; other shape problems are
/// `invalid-argument`.
pub fn parse(body: &[u8]) -> Result<Callback, ProviderError> {
    let map = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => map,
        _ => {
            return Err(invalid_argument(
                "the ZEGO cloud player callback body must be a JSON object",
            ));
        }
    };
    let signed = |key: &str| {
        text(&map, key).filter(|v| !v.is_empty()).ok_or_else(|| {
            unauthenticated(format!(
                "the callback carries no `{key}`, so its signature cannot be verified"
            ))
        })
    };
    let signature = signed("Signature")?;
    let nonce = signed("Nonce")?;
    let timestamp = signed("Timestamp")?;
    let player_id = text(&map, "PlayerId")
        .filter(|p| !p.is_empty())
        .ok_or_else(|| invalid_argument("the callback carries no `PlayerId`"))?;
    let event_type = integer(&map, "EventType")
        .ok_or_else(|| invalid_argument("the callback carries no integer `EventType`"))?;
    // `Callback/callback.mdx` publishes `Detail` as a JSON object; a URL-encoded JSON text is
    // read too.
    let detail_object = match map.get("Detail") {
        Some(Value::Object(object)) => Some(object.clone()),
        _ => text(&map, "Detail").and_then(|t| match serde_json::from_str(&t) {
            Ok(Value::Object(object)) => Some(object),
            _ => None,
        }),
    };
    let status = integer(&map, "Status")
        .or_else(|| detail_object.as_ref().and_then(|d| integer(d, "Status")));
    let detail = detail_object.as_ref().and_then(safe_detail);
    Ok(Callback {
        app_id: text(&map, "AppID")
            .or_else(|| text(&map, "AppId"))
            .unwrap_or_default(),
        room_id: text(&map, "RoomId"),
        player_id,
        event_type,
        nonce,
        timestamp,
        signature,
        event_time: integer(&map, "EventTime").and_then(|t| u64::try_from(t).ok()),
        detail,
        status,
    })
}

/// The [`DETAIL_FIELDS`] of a callback's `Detail` that are numbers (or strings holding an
/// integer), as compact JSON text; `None` when there are none.
fn safe_detail(detail: &Map<String, Value>) -> Option<String> {
    let kept: Map<String, Value> = DETAIL_FIELDS
        .iter()
        .filter_map(|key| {
            let value = match detail.get(*key)? {
                Value::Number(n) => Value::Number(n.clone()),
                Value::String(s) => Value::from(url_decode(s).trim().parse::<i64>().ok()?),
                _ => return None,
            };
            Some(((*key).to_string(), value))
        })
        .collect();
    (!kept.is_empty()).then(|| Value::Object(kept).to_string())
}

/// The three texts the signature may have been computed over (see the module docs).
/// The CallbackSecret is a reference the host resolves.
pub fn candidates(timestamp: &str, nonce: &str) -> [Vec<Part>; 3] {
    let (a, b) = if timestamp.as_bytes() <= nonce.as_bytes() {
        (timestamp, nonce)
    } else {
        (nonce, timestamp)
    };
    let s = || creds::secret(SECRET_CALLBACK);
    let t = creds::text;
    [
        vec![s(), t(a), t(b)],
        vec![t(a), s(), t(b)],
        vec![t(a), t(b), s()],
    ]
}

/// Checks the signature and that the callback is for `app_id`.
pub fn verify(callback: &Callback, app_id: u32) -> Result<(), ProviderError> {
    let given = callback.signature.trim().to_ascii_lowercase();
    let mut matched = false;
    for parts in candidates(&callback.timestamp, &callback.nonce) {
        let expected = sha1_hex(&parts)?;
        matched |= constant_time_eq(expected.as_bytes(), given.as_bytes());
    }
    if !matched {
        return Err(unauthenticated(
            "the callback's Signature does not verify with the provider's `callback_secret`; \
             it was not sent by ZEGO for this project, or it was altered",
        ));
    }
    if callback.app_id != app_id.to_string() {
        return Err(unauthenticated(format!(
            "the callback is for AppID {}, not this provider's `{app_id}`",
            crate::params::echo(&callback.app_id)
        )));
    }
    Ok(())
}

/// `EventTime` in milliseconds (as `Callback/callback.mdx` documents it); values below 10^12
/// are read as seconds (10^12 ms is September 2001, 10^12 s is far in the future).
pub fn event_time_ms(t: u64) -> u64 {
    if t < 1_000_000_000_000 {
        t.saturating_mul(1000)
    } else {
        t
    }
}

/// The normalized event of a verified callback.
///
/// An exception (EventType 4: a load or seek timeout, stutter, an odd frame rate …) is
/// `unknown`, its `Code` in the detail: ZEGO documents that the player retries on its own, so
/// one exception does not end the ingest. Only a destruction (EventType 2) or a status
/// change to 6 (source failed), 7 (finished) or 8 (destroyed) does.
pub fn event(callback: &Callback) -> IngestEvent {
    let state = match callback.event_type {
        1 => IngestState::Starting,
        2 => IngestState::Stopped,
        3 => callback
            .status
            .map_or(IngestState::Unknown, |s| state_for(s).0),
        _ => IngestState::Unknown,
    };
    IngestEvent {
        session_ref: Some(callback.player_id.clone()),
        vendor_task_id: Some(callback.player_id.clone()),
        state,
        vendor_event: callback.event_type.to_string(),
        detail: callback.detail.clone(),
        occurred_at_ms: callback.event_time.map(event_time_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest_plugin_sdk::testing::TestHost;
    use sha1::{Digest, Sha1};

    /// [`verify`] with the host holding `secret` as the CallbackSecret.
    fn verify_with(secret: &str, callback: &Callback, app_id: u32) -> Result<(), ProviderError> {
        TestHost::new()
            .secret(SECRET_CALLBACK, secret)
            .run(|| verify(callback, app_id))
    }

    /// ZEGO's check, written out the way its sample does it (sort the three, join, SHA-1).
    fn zego_signature(secret: &str, timestamp: &str, nonce: &str) -> String {
        let mut parts = [secret, timestamp, nonce];
        parts.sort_unstable();
        hex::encode(Sha1::digest(parts.concat().as_bytes()))
    }

    fn body(signature: &str, nonce: &str, ts: &str) -> Vec<u8> {
        serde_json::json!({
            "AppID": 1234567890u64,
            "RoomId": "room%2D1",
            "PlayerId": "p%201",
            "EventType": 3,
            "Nonce": nonce,
            "Timestamp": ts.parse::<u64>().unwrap_or(0),
            "Signature": signature,
            "EventTime": 1700000000123u64,
            "Detail": "%7B%22Status%22%3A4%7D",
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn accepts_zego_signatures_wherever_the_secret_sorts() {
        // The secret sorting first, between and last relative to the timestamp and nonce.
        for secret in ["0000-secret", "5-secret", "zzz-secret"] {
            let sig = zego_signature(secret, "1700000000", "9abc");
            let cb = parse(&body(&sig, "9abc", "1700000000")).expect("parse");
            verify_with(secret, &cb, 1_234_567_890).expect(secret);
            // Upper-case hex is the same signature.
            let cb = parse(&body(&sig.to_uppercase(), "9abc", "1700000000")).expect("parse");
            verify_with(secret, &cb, 1_234_567_890).expect(secret);
        }
    }

    #[test]
    fn rejects_forgeries_tampering_and_other_apps() {
        let secret = "the-secret";
        let sig = zego_signature(secret, "1700000000", "n1");
        // Another secret.
        let forged = zego_signature("not-the-secret", "1700000000", "n1");
        let cb = parse(&body(&forged, "n1", "1700000000")).expect("parse");
        let e = verify_with(secret, &cb, 1_234_567_890).expect_err("forged");
        assert_eq!(e.kind, ErrorKind::Unauthenticated);
        // The nonce or timestamp changed after signing.
        for (nonce, ts) in [("n2", "1700000000"), ("n1", "1700000001")] {
            let cb = parse(&body(&sig, nonce, ts)).expect("parse");
            assert_eq!(
                verify_with(secret, &cb, 1_234_567_890)
                    .expect_err("tampered")
                    .kind,
                ErrorKind::Unauthenticated
            );
        }
        // Right signature, another project.
        let cb = parse(&body(&sig, "n1", "1700000000")).expect("parse");
        let e = verify_with(secret, &cb, 42).expect_err("other app");
        assert!(e.message.contains("AppID"), "{}", e.message);
        verify_with(secret, &cb, 1_234_567_890).expect("genuine");
    }

    /// Without `callback_secret` the plugin cannot verify anything: `unsupported`, saying how
    /// to configure it.
    #[test]
    fn without_the_secret_callbacks_are_unsupported() {
        let sig = zego_signature("s", "1700000000", "n");
        let cb = parse(&body(&sig, "n", "1700000000")).expect("parse");
        let e = TestHost::new()
            .run(|| verify(&cb, 1_234_567_890))
            .expect_err("no secret");
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert!(
            e.message.contains("`callback_secret`") && e.message.contains("[providers.secrets]"),
            "{}",
            e.message
        );
    }

    #[test]
    fn candidates_cover_the_three_placements() {
        // The parts as text, the secret reference as `<name>`.
        let shown = |parts: &[Part]| -> Vec<String> {
            parts
                .iter()
                .map(|p| match p {
                    Part::Text(t) => t.clone(),
                    Part::Secret(name) => format!("<{name}>"),
                    Part::Bytes(b) => format!("{b:?}"),
                })
                .collect()
        };
        let c = candidates("1700000000", "abc");
        assert_eq!(shown(&c[0]), ["<callback_secret>", "1700000000", "abc"]);
        assert_eq!(shown(&c[1]), ["1700000000", "<callback_secret>", "abc"]);
        assert_eq!(shown(&c[2]), ["1700000000", "abc", "<callback_secret>"]);
        assert_eq!(
            shown(&candidates("b", "a")[0]),
            ["<callback_secret>", "a", "b"]
        );
    }

    #[test]
    fn parsing_and_events() {
        let sig = zego_signature("s", "1700000000", "n");
        let cb = parse(&body(&sig, "n", "1700000000")).expect("parse");
        assert_eq!(cb.app_id, "1234567890");
        assert_eq!(cb.room_id.as_deref(), Some("room-1"));
        assert_eq!(cb.player_id, "p 1");
        assert_eq!(cb.timestamp, "1700000000");
        assert_eq!(cb.detail.as_deref(), Some(r#"{"Status":4}"#));
        assert_eq!(cb.status, Some(4));
        let e = event(&cb);
        assert_eq!(e.state, IngestState::Running);
        assert_eq!(e.session_ref.as_deref(), Some("p 1"));
        assert_eq!(e.vendor_task_id.as_deref(), Some("p 1"));
        assert_eq!(e.vendor_event, "3");
        assert_eq!(e.occurred_at_ms, Some(1_700_000_000_123));

        let mut cb2 = cb.clone();
        for (kind, state) in [
            (1, IngestState::Starting),
            (2, IngestState::Stopped),
            (4, IngestState::Unknown),
            (9, IngestState::Unknown),
        ] {
            cb2.event_type = kind;
            assert_eq!(event(&cb2).state, state, "{kind}");
        }
        cb2.event_type = 3;
        cb2.status = None;
        assert_eq!(event(&cb2).state, IngestState::Unknown);
        assert_eq!(event_time_ms(1_700_000_000), 1_700_000_000_000);

        // `Detail` as the JSON object ZEGO's callback page shows.
        let mut json: Value = serde_json::from_slice(&body(&sig, "n", "1700000000")).expect("json");
        json["Detail"] = serde_json::json!({"Status": 5, "PlayIndex": 0});
        let cb = parse(json.to_string().as_bytes()).expect("parse");
        assert_eq!(cb.status, Some(5));
        assert_eq!(cb.detail.as_deref(), Some(r#"{"PlayIndex":0,"Status":5}"#));

        assert_eq!(url_decode("a%20b+c"), "a b c");
        assert_eq!(url_decode("100%"), "100%");
        assert_eq!(url_decode("%FF"), "%FF");
    }

    /// The creation example of `Callback/callback.mdx`, verbatim but for a real signature:
    /// its `Detail` carries the source's `StreamUrl`, which must not reach the event.
    const PUBLISHED_CREATION: &str = r#"{
  "AppID": 123456789,
  "RoomId": "room_12",
  "PlayerId": "XXXXXX",
  "PlayerName": "XXXXXX",
  "EventType": 1,
  "Nonce": "abcdd22113",
  "Timestamp": "1681221510",
  "Signature": "XXXXXXX",
  "EventTime": 1681221510034,
  "Detail": {
      "CreateTime": 1681221508,
      "PlayTime": 1681221508,
      "MaxIdleTime": 30,
      "StreamUrl": "https://xxx.com/video/test.mp4"
  }
}"#;

    #[test]
    fn the_published_creation_callback_keeps_no_url() {
        let secret = "the-secret";
        let signed = PUBLISHED_CREATION.replace(
            "\"XXXXXXX\"",
            &format!("\"{}\"", zego_signature(secret, "1681221510", "abcdd22113")),
        );
        let cb = parse(signed.as_bytes()).expect("parse");
        verify_with(secret, &cb, 123_456_789).expect("genuine");
        let e = event(&cb);
        assert_eq!(e.state, IngestState::Starting);
        assert_eq!(e.vendor_event, "1");
        assert_eq!(e.session_ref.as_deref(), Some("XXXXXX"));
        assert_eq!(e.occurred_at_ms, Some(1_681_221_510_034));
        let detail = e.detail.expect("detail");
        assert_eq!(
            detail,
            r#"{"CreateTime":1681221508,"MaxIdleTime":30,"PlayTime":1681221508}"#
        );
        assert!(
            !detail.contains("xxx.com") && !detail.contains("http"),
            "{detail}"
        );

        // The same Detail as URL-encoded JSON text, with a token in the URL: dropped too.
        let mut json: Value = serde_json::from_str(&signed).expect("json");
        json["Detail"] = Value::String(
            "%7B%22StreamUrl%22%3A%22https%3A%2F%2Fa.example%2Fv.m3u8%3Ftoken%3Ds3cret%22%2C\
             %22CreateTime%22%3A%221681221508%22%7D"
                .into(),
        );
        let cb = parse(json.to_string().as_bytes()).expect("parse");
        assert_eq!(cb.detail.as_deref(), Some(r#"{"CreateTime":1681221508}"#));
        // Only the listed fields, only numbers: nested values, text, unknown keys are dropped;
        // a Detail that is not a JSON object gives no detail at all.
        json["Detail"] = serde_json::json!({
            "Status": "x", "Reason": {"Url": "https://a"}, "StreamUrlList": ["https://a"],
            "BackupStreamUrl": "https://b", "Code": [1],
        });
        assert_eq!(
            parse(json.to_string().as_bytes()).expect("parse").detail,
            None
        );
        for text in ["https%3A%2F%2Fa.example%2F%3Ftoken%3Ds3cret", "[1]", ""] {
            json["Detail"] = Value::String(text.into());
            let cb = parse(json.to_string().as_bytes()).expect("parse");
            assert_eq!(cb.detail, None, "{text}");
        }
    }

    /// An exception (EventType 4) is something the player retries by itself: `unknown`, with
    /// ZEGO's code in the detail, not `failed`.
    #[test]
    fn an_exception_does_not_fail_the_ingest() {
        let sig = zego_signature("s", "1700000000", "n");
        let mut json: Value = serde_json::from_slice(&body(&sig, "n", "1700000000")).expect("json");
        json["EventType"] = 4.into();
        json["Detail"] = serde_json::json!({"Code": -7, "PlayIndex": 0});
        let e = event(&parse(json.to_string().as_bytes()).expect("parse"));
        assert_eq!(e.state, IngestState::Unknown);
        assert_eq!(e.vendor_event, "4");
        assert_eq!(e.detail.as_deref(), Some(r#"{"Code":-7,"PlayIndex":0}"#));
        // What ends it: a destruction, or a status of 6, 7 or 8.
        json["EventType"] = 2.into();
        json["Detail"] = serde_json::json!({"PlayTime": 1_700_000_000, "Reason": 3});
        let e = event(&parse(json.to_string().as_bytes()).expect("parse"));
        assert_eq!(e.state, IngestState::Stopped);
        assert_eq!(
            e.detail.as_deref(),
            Some(r#"{"PlayTime":1700000000,"Reason":3}"#)
        );
        json["EventType"] = 3.into();
        for (status, state) in [
            (6, IngestState::Failed),
            (7, IngestState::Stopped),
            (8, IngestState::Stopped),
        ] {
            json["Detail"] = serde_json::json!({"Status": status, "PlayIndex": 0});
            let e = event(&parse(json.to_string().as_bytes()).expect("parse"));
            assert_eq!(e.state, state, "{status}");
        }
    }

    #[test]
    fn an_app_id_is_echoed_bounded() {
        let sig = zego_signature("s", "1700000000", "n");
        let mut json: Value = serde_json::from_slice(&body(&sig, "n", "1700000000")).expect("json");
        json["AppID"] = Value::String("9".repeat(5000));
        let cb = parse(json.to_string().as_bytes()).expect("parse");
        let e = verify_with("s", &cb, 1).expect_err("other app");
        assert!(e.message.len() < 300, "{}", e.message);
        assert!(e.message.contains("(5000 bytes)"), "{}", e.message);
    }

    #[test]
    fn malformed_callbacks() {
        for (bad, kind) in [
            (&b"not json"[..], ErrorKind::InvalidArgument),
            (b"[]", ErrorKind::InvalidArgument),
            (
                br#"{"Nonce":"n","Timestamp":1,"PlayerId":"p","EventType":1}"#,
                ErrorKind::Unauthenticated,
            ),
            (
                br#"{"Signature":"s","Timestamp":1,"PlayerId":"p","EventType":1}"#,
                ErrorKind::Unauthenticated,
            ),
            (
                br#"{"Signature":"s","Nonce":"n","PlayerId":"p","EventType":1}"#,
                ErrorKind::Unauthenticated,
            ),
            (
                br#"{"Signature":"s","Nonce":"n","Timestamp":1,"EventType":1}"#,
                ErrorKind::InvalidArgument,
            ),
            (
                br#"{"Signature":"s","Nonce":"n","Timestamp":1,"PlayerId":"p","EventType":"x"}"#,
                ErrorKind::InvalidArgument,
            ),
        ] {
            assert_eq!(
                parse(bad).expect_err("malformed").kind,
                kind,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
