//! `parse-callback`: verifying a Cloud Player status callback and turning it into a normalized
//! event. Pure apart from the signature, which the host computes over `app_secret`.
//!
//! Signing: `signature = hex(SHA1(AppSecret ‖ nonce ‖ timestamp))`, in one of the two forms
//! RongCloud documents (which one the Cloud Player's callbacks use is not documented, so both
//! are accepted):
//!
//! - **headers**, as for its room-status callbacks: `appKey`, `nonce`, `timestamp`, `signature`.
//!   The `RC-`-prefixed forms (`RC-App-Key`, `RC-Nonce`, `RC-Timestamp`, `RC-Signature`) and
//!   the API's own names (`App-Key`) are accepted too;
//! - **query parameters**, as for its IM callbacks: `?appKey=…&nonce=…&signTimestamp=…&signature=…`
//!   (note `signTimestamp`, not `timestamp`), percent-decoded (`application/x-www-form-urlencoded`
//!   rules, so `+` is a space) before they are signed and compared.
//!
//! The header form is used whenever a signature header is present; the query is consulted only
//! when none is (a callback carrying both is verified on its headers alone, its query ignored:
//! the header form is the documented one for status callbacks, and either form on its own is
//! enough to authenticate the same unsigned body). Both forms get the same checks: the
//! constant-time signature comparison, the optional App Key match, and the staleness window.
//! The body is **not** covered by the signature, so the plugin also refuses a callback whose
//! timestamp is more than [`MAX_CALLBACK_AGE_SECS`] away from the gateway's clock: a captured
//! signature cannot be replayed with another body for longer than that.

use ingest_plugin_sdk::error::invalid_argument;
use ingest_plugin_sdk::{
    CallbackRequest, ErrorKind, IngestEvent, IngestState, ProviderError, error,
};
use serde_json::{Map, Value};

use crate::errors;
use crate::settings::Settings;
use crate::sign;
use crate::start::SessionRef;

/// Largest accepted difference between a callback's timestamp (`timestamp` header or
/// `signTimestamp` query parameter) and the gateway's clock, seconds (10 minutes).
pub const MAX_CALLBACK_AGE_SECS: u64 = 600;
/// Timestamps at or above this are milliseconds, below it seconds (10^11 s is the year 5138;
/// 10^11 ms is 1973).
const MS_THRESHOLD: u64 = 100_000_000_000;

const APP_KEY_HEADERS: &[&str] = &["appkey", "app-key", "rc-app-key", "rc-appkey"];
const NONCE_HEADERS: &[&str] = &["nonce", "rc-nonce"];
const TIMESTAMP_HEADERS: &[&str] = &["timestamp", "rc-timestamp"];
const SIGNATURE_HEADERS: &[&str] = &["signature", "rc-signature"];

/// The query parameters of the query-signed form (matched case-insensitively).
const APP_KEY_PARAM: &str = "appKey";
const NONCE_PARAM: &str = "nonce";
const TIMESTAMP_PARAM: &str = "signTimestamp";
const SIGNATURE_PARAM: &str = "signature";

/// How RongCloud signed a callback (what [`verify`] checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureForm {
    /// `appKey`, `nonce`, `timestamp`, `signature` headers.
    Headers,
    /// `appKey`, `nonce`, `signTimestamp`, `signature` query parameters.
    Query,
}

/// The first non-empty value of any of `names` (case-insensitive).
fn header<'a>(headers: &'a [(String, String)], names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|name| {
        headers
            .iter()
            .find(|(k, v)| k.eq_ignore_ascii_case(name) && !v.trim().is_empty())
            .map(|(_, v)| v.trim())
    })
}

/// The query string's parameters, percent-decoded, in order (a leading `?` is tolerated).
fn query_params(query: &str) -> Vec<(String, String)> {
    let query = query.strip_prefix('?').unwrap_or(query);
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The first non-empty value of the query parameter `name` (case-insensitive), exactly as
/// decoded.
fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, v)| k.eq_ignore_ascii_case(name) && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

fn unauthenticated(message: impl Into<String>) -> ProviderError {
    error::new(ErrorKind::Unauthenticated, message)
}

/// How RongCloud signs, for the messages of unsigned callbacks.
const SIGNING_FORMS: &str = "RongCloud signs callbacks with appKey, nonce, timestamp and \
     signature headers, or with appKey, nonce, signTimestamp and signature query parameters";

/// The signing values of one callback, from one form.
struct Signed<'a> {
    form: SignatureForm,
    app_key: Option<&'a str>,
    nonce: &'a str,
    timestamp: &'a str,
    signature: &'a str,
}

impl SignatureForm {
    /// How the timestamp is named in messages.
    fn timestamp_name(self) -> &'static str {
        match self {
            Self::Headers => "`timestamp` header",
            Self::Query => "`signTimestamp` query parameter",
        }
    }
}

/// The signing values from the headers (when a signature header is present) or else from the
/// query parameters (when a `signature` parameter is present).
fn signed<'a>(
    headers: &'a [(String, String)],
    params: &'a [(String, String)],
) -> Result<Signed<'a>, ProviderError> {
    if let Some(signature) = header(headers, SIGNATURE_HEADERS) {
        let missing = |what: &str, names: &[&str]| {
            unauthenticated(format!(
                "the callback is not signed: it has a signature header but the `{what}` header \
                 is missing (accepted names: {}); {SIGNING_FORMS}",
                names.join(", ")
            ))
        };
        return Ok(Signed {
            form: SignatureForm::Headers,
            app_key: header(headers, APP_KEY_HEADERS),
            nonce: header(headers, NONCE_HEADERS).ok_or_else(|| missing("nonce", NONCE_HEADERS))?,
            timestamp: header(headers, TIMESTAMP_HEADERS)
                .ok_or_else(|| missing("timestamp", TIMESTAMP_HEADERS))?,
            signature,
        });
    }
    if let Some(signature) = param(params, SIGNATURE_PARAM) {
        let missing = |what: &str| {
            unauthenticated(format!(
                "the callback is not signed: its query string has a `signature` but no `{what}` \
                 parameter; {SIGNING_FORMS}"
            ))
        };
        return Ok(Signed {
            form: SignatureForm::Query,
            app_key: param(params, APP_KEY_PARAM),
            nonce: param(params, NONCE_PARAM).ok_or_else(|| missing(NONCE_PARAM))?,
            timestamp: param(params, TIMESTAMP_PARAM).ok_or_else(|| missing(TIMESTAMP_PARAM))?,
            signature,
        });
    }
    Err(unauthenticated(format!(
        "the callback is not signed: it has neither a signature header (accepted names: {}) \
         nor a `signature` query parameter; {SIGNING_FORMS}",
        SIGNATURE_HEADERS.join(", ")
    )))
}

/// Checks the callback's signature — from its headers, or else from its query string (see the
/// module docs) — against the provider's `app_key` and `app_secret`, and says which form it
/// checked.
pub fn verify(
    app_key: &str,
    headers: &[(String, String)],
    query: &str,
    now_ms: u64,
) -> Result<SignatureForm, ProviderError> {
    let params = query_params(query);
    let signed = signed(headers, &params)?;
    let ts_name = signed.form.timestamp_name();
    if let Some(key) = signed.app_key
        && key != app_key
    {
        return Err(unauthenticated(format!(
            "the callback is for App Key `{key}`, not this provider's `app_key`"
        )));
    }
    let ts: u64 = signed
        .timestamp
        .parse()
        .map_err(|_| unauthenticated(format!("the callback's {ts_name} is not a Unix time")))?;
    let ts_ms = if ts >= MS_THRESHOLD {
        ts
    } else {
        ts.saturating_mul(1000)
    };
    let age_secs = ts_ms.abs_diff(now_ms) / 1000;
    if age_secs > MAX_CALLBACK_AGE_SECS {
        return Err(unauthenticated(format!(
            "the callback's {ts_name} is {age_secs} s away from the gateway's clock (at most \
             {MAX_CALLBACK_AGE_SECS} s accepted); it is stale or replayed, or a clock is wrong"
        )));
    }
    let expected = sign::signature(signed.nonce, signed.timestamp)?;
    if !sign::same_signature(&expected, signed.signature) {
        return Err(unauthenticated(format!(
            "the callback's signature ({}) does not verify against the provider's `app_secret`",
            match signed.form {
                SignatureForm::Headers => "headers",
                SignatureForm::Query => "query parameters",
            }
        )));
    }
    Ok(signed.form)
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
    settings: &Settings,
    request: &CallbackRequest,
    now_ms: u64,
) -> Result<IngestEvent, ProviderError> {
    if settings.verify_callbacks {
        verify(&settings.app_key, &request.headers, &request.query, now_ms)?;
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
    use ingest_plugin_sdk::testing::{Installed, TestHost};
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

    /// The host holding the test's `app_secret`, until the guard drops.
    fn host() -> Installed {
        TestHost::new().secret(sign::APP_SECRET, SECRET).install()
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
        let _host = host();
        let ts = (NOW_MS / 1000).to_string();
        for names in [
            ["appKey", "nonce", "timestamp", "signature"],
            ["RC-App-Key", "RC-Nonce", "RC-Timestamp", "RC-Signature"],
            ["app-key", "Nonce", "Timestamp", "Signature"],
        ] {
            let e = parse(
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
        assert!(parse(&settings(true), &request(h, BODY), NOW_MS).is_ok());
    }

    #[test]
    fn tampered_or_unsigned_callbacks_are_refused() {
        let _host = host();
        let ts = (NOW_MS / 1000).to_string();
        let names = ["appKey", "nonce", "timestamp", "signature"];
        let refuse = |headers: Vec<(String, String)>, why: &str| {
            let e = parse(&settings(true), &request(headers, BODY), NOW_MS).expect_err(why);
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
        let e = TestHost::new()
            .secret(sign::APP_SECRET, "other")
            .run(|| {
                parse(
                    &settings(true),
                    &request(signed_headers(names, &ts), BODY),
                    NOW_MS,
                )
            })
            .expect_err("wrong secret");
        assert_eq!(e.kind, ErrorKind::Unauthenticated);
    }

    /// A query string in RongCloud's IM-callback form, signed for nonce `n1` at `ts`.
    fn signed_query(ts: &str) -> String {
        format!(
            "appKey=app-1&nonce=n1&signTimestamp={ts}&signature={}",
            sign("n1", ts)
        )
    }

    fn query_request(query: &str, body: &str) -> CallbackRequest {
        CallbackRequest {
            headers: vec![("content-type".into(), "application/json".into())],
            query: query.to_string(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn verify_query(query: &str) -> Result<SignatureForm, ProviderError> {
        verify(
            "app-1",
            &[("content-type".into(), "application/json".into())],
            query,
            NOW_MS,
        )
    }

    #[test]
    fn a_query_signed_callback_becomes_an_event() {
        let _host = host();
        // Independent vector:
        // python3 -c "import hashlib; print(hashlib.sha1(b'cb-secretn11700000000').hexdigest())"
        let q = "appKey=app-1&nonce=n1&signTimestamp=1700000000\
                 &signature=6bcf6fd48c5ee820dcd6f5c4ec0d01589efcfe02";
        assert_eq!(q, signed_query("1700000000"));
        let e = parse(&settings(true), &query_request(q, BODY), NOW_MS).expect("verifies");
        assert_eq!(e.state, IngestState::Running);
        assert_eq!(
            e.session_ref.as_deref(),
            Some(r#"{"room_id":"room-42","user_id":"relay-bot"}"#)
        );
        assert_eq!(e.vendor_event, "type=5 code=61017");
        assert_eq!(verify_query(q).expect("verifies"), SignatureForm::Query);

        // Parameter order, unrelated parameters, name case, a leading `?`, an uppercase
        // signature, no appKey (as for headers, it is optional), a millisecond signTimestamp
        // (python3: hashlib.sha1(b'cb-secretn11700000000000').hexdigest()).
        let sig = sign("n1", "1700000000");
        for q in [
            format!("signature={sig}&from=rc&signTimestamp=1700000000&nonce=n1&appKey=app-1"),
            format!("APPKEY=app-1&Nonce=n1&SignTimestamp=1700000000&Signature={sig}"),
            format!("?appKey=app-1&nonce=n1&signTimestamp=1700000000&signature={sig}"),
            format!(
                "appKey=app-1&nonce=n1&signTimestamp=1700000000&signature={}",
                sig.to_uppercase()
            ),
            format!("nonce=n1&signTimestamp=1700000000&signature={sig}"),
            "appKey=app-1&nonce=n1&signTimestamp=1700000000000\
             &signature=44b22103a3165864606194922b02914e295d487e"
                .to_string(),
        ] {
            assert_eq!(verify_query(&q).expect(&q), SignatureForm::Query, "{q}");
        }
    }

    #[test]
    fn query_values_are_percent_decoded_before_signing() {
        let _host = host();
        // The nonce `a b&c=d/é`, signed as sent (decoded); independent vector:
        // python3: hashlib.sha1('cb-secreta b&c=d/é1700000000'.encode()).hexdigest()
        let sig = "3088ed51872f957d7ff540570c3c5d195c7f07a6";
        assert_eq!(sign("a b&c=d/é", "1700000000"), sig);
        for nonce in [
            "a%20b%26c%3Dd%2F%C3%A9",
            "a+b%26c%3Dd%2F%c3%a9", // `+` is a space; lowercase hex digits
        ] {
            let q = format!("appKey=app-1&nonce={nonce}&signTimestamp=1700000000&signature={sig}");
            assert_eq!(verify_query(&q).expect(&q), SignatureForm::Query);
        }
        // `+`, `&` and `=` inside a value, encoded as the simulator encodes them (RFC 3986,
        // uppercase); independent vector:
        // python3: hashlib.sha1('cb-secretn 1/é+&=1700000000'.encode()).hexdigest()
        let q = "appKey=app-1&nonce=n%201%2F%C3%A9%2B%26%3D&signTimestamp=1700000000\
                 &signature=95963b9f921c641087f4b0b6a73e824972d5ffbb";
        assert_eq!(verify_query(q).expect(q), SignatureForm::Query);
        // An encoded appKey and signTimestamp decode too.
        let q = format!(
            "appKey=app%2D1&nonce=a%20b%26c%3Dd%2F%C3%A9&signTimestamp=%31700000000&signature={sig}"
        );
        assert_eq!(verify_query(&q).expect(&q), SignatureForm::Query);
        // Signed over the encoded text instead: refused.
        let raw = sign("a%20b%26c%3Dd%2F%C3%A9", "1700000000");
        let q = format!(
            "appKey=app-1&nonce=a%20b%26c%3Dd%2F%C3%A9&signTimestamp=1700000000&signature={raw}"
        );
        let e = verify_query(&q).expect_err("signed over the encoded nonce");
        assert!(e.message.contains("does not verify"), "{}", e.message);
    }

    #[test]
    fn tampered_or_incomplete_query_signatures_are_refused() {
        let _host = host();
        let ts = (NOW_MS / 1000).to_string();
        let good = signed_query(&ts);
        let refuse = |query: &str, why: &str| {
            let e = parse(&settings(true), &query_request(query, BODY), NOW_MS).expect_err(why);
            assert_eq!(e.kind, ErrorKind::Unauthenticated, "{why}: {}", e.message);
            e.message
        };
        let m = refuse(&good.replace("nonce=n1", "nonce=n2"), "nonce changed");
        assert!(m.contains("does not verify") && m.contains("query"), "{m}");
        let forged = format!(
            "appKey=app-1&nonce=n1&signTimestamp={ts}&signature={}",
            "0".repeat(40)
        );
        assert!(refuse(&forged, "bad signature").contains("does not verify"));
        let m = refuse(
            &good.replace("appKey=app-1", "appKey=other-app"),
            "other app",
        );
        assert!(m.contains("App Key"), "{m}");
        let stale_ts = ((NOW_MS / 1000) - MAX_CALLBACK_AGE_SECS - 1).to_string();
        let m = refuse(&signed_query(&stale_ts), "stale");
        assert!(m.contains("stale") && m.contains("signTimestamp"), "{m}");
        let future = (NOW_MS + (MAX_CALLBACK_AGE_SECS + 1) * 1000).to_string();
        refuse(&signed_query(&future), "future");
        let m = refuse(&signed_query("yesterday"), "not a number");
        assert!(m.contains("signTimestamp"), "{m}");
        // Missing (or empty) parameters.
        for (param, why) in [
            ("nonce=n1&".to_string(), "no nonce"),
            (format!("signTimestamp={ts}&"), "no signTimestamp"),
        ] {
            let m = refuse(&good.replace(&param, ""), why);
            assert!(m.contains("not signed"), "{why}: {m}");
        }
        let m = refuse(&good.replace("nonce=n1", "nonce="), "empty nonce");
        assert!(m.contains("`nonce`"), "{m}");
        let unsigned = good
            .split("&signature=")
            .next()
            .expect("prefix")
            .to_string();
        assert!(refuse(&unsigned, "no signature").contains("not signed"));
        let renamed = good.replace("&signature=", "&xsignature=");
        assert!(refuse(&renamed, "renamed signature").contains("not signed"));
        // The header name `timestamp` is not the query's `signTimestamp`.
        let m = refuse(&good.replace("signTimestamp", "timestamp"), "timestamp");
        assert!(m.contains("signTimestamp"), "{m}");
        assert!(refuse("", "no query, no headers").contains("neither"));
        assert!(refuse("a=1&b", "unrelated query").contains("not signed"));
        // The wrong secret.
        let e = TestHost::new()
            .secret(sign::APP_SECRET, "other")
            .run(|| parse(&settings(true), &query_request(&good, BODY), NOW_MS))
            .expect_err("wrong secret");
        assert_eq!(e.kind, ErrorKind::Unauthenticated);
    }

    #[test]
    fn headers_win_over_the_query() {
        let _host = host();
        let ts = (NOW_MS / 1000).to_string();
        let names = ["appKey", "nonce", "timestamp", "signature"];
        let forged_query = format!(
            "appKey=app-1&nonce=n1&signTimestamp={ts}&signature={}",
            "0".repeat(40)
        );
        // Good headers: the query is not consulted, even a forged one.
        let form = verify("app-1", &signed_headers(names, &ts), &forged_query, NOW_MS)
            .expect("headers verify");
        assert_eq!(form, SignatureForm::Headers);
        // A forged signature header is refused even though the query verifies.
        let mut h = signed_headers(names, &ts);
        h[3].1 = "0".repeat(40);
        let e = verify("app-1", &h, &signed_query(&ts), NOW_MS).expect_err("headers decide");
        assert!(e.message.contains("(headers)"), "{}", e.message);
        // So is a signature header whose nonce header is missing.
        let mut h = signed_headers(names, &ts);
        h.remove(1);
        let e = verify("app-1", &h, &signed_query(&ts), NOW_MS).expect_err("incomplete headers");
        assert!(e.message.contains("`nonce` header"), "{}", e.message);
        // Header nonce and timestamp without a signature header: the query form is used.
        let mut h = signed_headers(names, &ts);
        h.remove(3);
        let form = verify("app-1", &h, &signed_query(&ts), NOW_MS).expect("the query verifies");
        assert_eq!(form, SignatureForm::Query);
    }

    /// The plugin-kit callback cases (`cases/callback-*.json`, run against the component by
    /// `plugin test`) hold against this code too: same input, the kit's default clock, the
    /// case's config and secret.
    #[test]
    fn the_shipped_callback_cases_hold() {
        for (name, text) in [
            (
                "callback-query-signed",
                include_str!("../cases/callback-query-signed.json"),
            ),
            (
                "callback-query-bad-sign",
                include_str!("../cases/callback-query-bad-sign.json"),
            ),
        ] {
            let case: Value = serde_json::from_str(text).expect(name);
            assert_eq!(case["operation"], "parse-callback", "{name}");
            assert!(case.get("now").is_none(), "{name}: the kit's default clock");
            let now_ms = 1_700_000_000_000;
            let input = &case["input"];
            let headers: Vec<(String, String)> =
                serde_json::from_value(input["headers"].clone()).expect(name);
            let request = CallbackRequest {
                headers,
                query: input["query"].as_str().expect(name).to_string(),
                body: input["body"].as_str().expect(name).as_bytes().to_vec(),
            };
            let settings = Settings {
                app_key: case["config"]["app_key"].as_str().expect(name).into(),
                ..settings(true)
            };
            let result = TestHost::new()
                .secret(
                    sign::APP_SECRET,
                    case["secrets"]["app_secret"].as_str().expect(name),
                )
                .run(|| parse(&settings, &request, now_ms));
            match (&case["expect"]["ok"], &case["expect"]["error"], result) {
                (Value::Object(ok), Value::Null, Ok(e)) => {
                    let state = match e.state {
                        IngestState::Running => "running",
                        other => panic!("{name}: {other:?}"),
                    };
                    let actual = serde_json::json!({
                        "session_ref": e.session_ref,
                        "vendor_task_id": e.vendor_task_id,
                        "state": state,
                        "vendor_event": e.vendor_event,
                        "detail": e.detail,
                        "occurred_at_ms": e.occurred_at_ms,
                    });
                    for (k, v) in ok {
                        assert_eq!(&actual[k], v, "{name}: {k}");
                    }
                }
                (Value::Null, Value::Object(err), Err(e)) => {
                    assert_eq!(err["kind"], "unauthenticated", "{name}");
                    assert_eq!(e.kind, ErrorKind::Unauthenticated, "{name}: {}", e.message);
                }
                (ok, err, result) => panic!("{name}: expected {ok} / {err}, got {result:?}"),
            }
        }
    }

    #[test]
    fn verification_can_be_turned_off() {
        let e =
            parse(&settings(false), &request(Vec::new(), BODY), NOW_MS).expect("unsigned accepted");
        assert_eq!(e.state, IngestState::Running);
        // Nor is a query signature checked: a forged or incomplete one is accepted too.
        for query in [
            format!(
                "appKey=app-1&nonce=n1&signTimestamp=1&signature={}",
                "0".repeat(40)
            ),
            "signature=x".to_string(),
        ] {
            let e = parse(&settings(false), &query_request(&query, BODY), NOW_MS)
                .expect("not verified");
            assert_eq!(e.state, IngestState::Running);
        }
    }

    #[test]
    fn bodies() {
        let _host = host();
        let ts = (NOW_MS / 1000).to_string();
        let h = || signed_headers(["appKey", "nonce", "timestamp", "signature"], &ts);
        let parse_body = |body: &str| parse(&settings(true), &request(h(), body), NOW_MS);
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
