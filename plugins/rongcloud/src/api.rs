//! One signed RongCloud API call with fail-over from the primary to the backup host, and
//! reading its `{"code", "msg"}` answer.
//!
//! [`build_request`], [`parse_reply`] and [`next_step`] (the fail-over decision) are pure;
//! [`call`] is the thin part that reads the call context and talks to the host.

use ingest_plugin_sdk::error::bad_vendor_response;
use ingest_plugin_sdk::http::{self as transport, SendError};
use ingest_plugin_sdk::{ErrorKind, ProviderError, context, error};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::errors::{self, VendorFields, http_error, vendor_error};
use crate::settings::{Endpoint, Settings};
use crate::sign;

/// The body's content type.
pub const CONTENT_TYPE: &str = "application/json";
/// The response header that may carry the vendor's request id.
const REQUEST_ID_HEADER: &str = "x-request-id";

/// A cloud-player operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `POST /v2/rtc/cloudplayer/start`.
    Start,
    /// `POST /v2/rtc/cloudplayer/stop`.
    Stop,
}

impl Op {
    /// The request path.
    pub fn path(self) -> &'static str {
        match self {
            Op::Start => "/v2/rtc/cloudplayer/start",
            Op::Stop => "/v2/rtc/cloudplayer/stop",
        }
    }

    /// The name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Op::Start => "cloudplayer/start",
            Op::Stop => "cloudplayer/stop",
        }
    }
}

/// The header values of one request (everything but the body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headers {
    /// `App-Key`.
    pub app_key: String,
    /// `Nonce` (at most 18 characters).
    pub nonce: String,
    /// `Timestamp`, Unix seconds.
    pub timestamp: String,
    /// `Signature`.
    pub signature: String,
    /// `Room-Id`.
    pub room_id: String,
    /// `X-Request-ID` (at most 36 characters), if any.
    pub request_id: Option<String>,
}

impl Headers {
    /// Signs (the host computes the SHA-1 over `app_secret`): `nonce` is fitted to 18
    /// characters, `now_ms` becomes seconds.
    pub fn signed(
        app_key: &str,
        room_id: &str,
        raw_nonce: &str,
        now_ms: u64,
        request_id: &str,
    ) -> Result<Self, ProviderError> {
        let nonce = sign::fit_nonce(raw_nonce);
        let timestamp = (now_ms / 1000).to_string();
        let signature = sign::signature(&nonce, &timestamp)?;
        Ok(Self {
            app_key: app_key.to_string(),
            nonce,
            timestamp,
            signature,
            room_id: room_id.to_string(),
            request_id: sign::request_id_header(request_id),
        })
    }
}

/// The HTTP request for `op` on `endpoint`. No `Host` header: the host derives it from the URL
/// (and nothing signed depends on it).
pub fn build_request(
    endpoint: &Endpoint,
    op: Op,
    headers: &Headers,
    body: Vec<u8>,
) -> Result<::http::Request<Vec<u8>>, ProviderError> {
    let mut builder = ::http::Request::builder()
        .method(::http::Method::POST)
        .uri(endpoint.url(op.path()))
        .header("App-Key", &headers.app_key)
        .header("Nonce", &headers.nonce)
        .header("Timestamp", &headers.timestamp)
        .header("Signature", &headers.signature)
        .header("Room-Id", &headers.room_id)
        .header(::http::header::CONTENT_TYPE, CONTENT_TYPE);
    if let Some(id) = &headers.request_id {
        builder = builder.header("X-Request-ID", id);
    }
    builder.body(body).map_err(|e| {
        error::new(
            ErrorKind::PluginFault,
            format!("the plugin built an invalid {} request: {e}", op.name()),
        )
    })
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The request id: the vendor's `X-Request-ID` response header, else the one sent.
    pub request_id: Option<String>,
    /// The whole JSON object.
    pub body: Map<String, Value>,
}

/// `code` as an integer: a JSON integer, or a string holding one.
fn code_of(body: &Map<String, Value>) -> Option<i64> {
    match body.get("code")? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn msg_of(body: &Map<String, Value>) -> Option<String> {
    ["msg", "errorMessage", "message"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_str))
        .map(str::to_string)
}

/// Reads RongCloud's answer to `op`: success is `{"code": 10000}`; anything else is the
/// mapped error, keeping code, message and `request_id`.
pub fn parse_reply(
    op: Op,
    status: u16,
    retry_after: Option<&str>,
    request_id: Option<String>,
    body: &[u8],
) -> Result<Reply, ProviderError> {
    let object = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    };
    let code = object.as_ref().and_then(code_of);
    let msg = object.as_ref().and_then(msg_of);

    let decided_by_status = status == 401 || status == 429 || (500..600).contains(&status);
    let success_status = (200..300).contains(&status);
    if decided_by_status || (!success_status && code.is_none()) {
        return Err(http_error(
            op.name(),
            status,
            retry_after,
            VendorFields {
                code: object
                    .as_ref()
                    .and_then(|o| o.get("code"))
                    .map(|c| match c {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    }),
                message: msg,
                request_id,
            },
        ));
    }
    let Some(object) = object else {
        let mut e = bad_vendor_response(format!(
            "{} answered a body that is not a JSON object ({} bytes)",
            op.name(),
            body.len()
        ));
        e.vendor_request_id = request_id;
        return Err(e);
    };
    match code {
        Some(errors::OK) if success_status => Ok(Reply {
            request_id,
            body: object,
        }),
        Some(code) => Err(vendor_error(
            op.name(),
            code,
            msg.as_deref().unwrap_or_default(),
            request_id,
        )),
        None => {
            let mut e = bad_vendor_response(format!(
                "{} answered JSON without an integer `code`",
                op.name()
            ));
            e.vendor_request_id = request_id;
            Err(e)
        }
    }
}

/// What one attempt produced, as far as fail-over is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt<'a> {
    /// The vendor answered with this HTTP status.
    Answered(u16),
    /// No answer.
    Failed(&'a SendError),
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Try the next host.
    FailOver,
    /// Report this attempt's outcome.
    Finish,
}

/// The fail-over rule RongCloud recommends: move to the next host when the connection could not
/// be made (refused, reset, DNS failure, connect timeout) or the host answered 5xx, and there is
/// a next host. A response timeout does not fail over (the request may have been processed and
/// the call's deadline is mostly spent), nor does an egress refusal or any other answer.
pub fn next_step(attempt: Attempt<'_>, has_next: bool) -> Step {
    if !has_next {
        return Step::Finish;
    }
    let fail_over = match attempt {
        Attempt::Answered(status) => (500..600).contains(&status),
        Attempt::Failed(SendError::Transport(_)) => true,
        Attempt::Failed(SendError::Timeout(what)) => {
            what.starts_with("ConnectionTimeout") || what.starts_with("DnsTimeout")
        }
        // An egress refusal, an invalid request, a response too large, or (under replay) the
        // SDK's pending request: no fail-over.
        Attempt::Failed(_) => false,
    };
    if fail_over {
        Step::FailOver
    } else {
        Step::Finish
    }
}

/// Signs and sends `op` with `body` for room `room_id`, failing over across `settings`'
/// endpoints, and reads the answer. Each attempt has its own nonce and signature.
pub fn call(
    settings: &Settings,
    endpoint_override: Option<&str>,
    op: Op,
    room_id: &str,
    body: &impl Serialize,
) -> Result<Reply, ProviderError> {
    let endpoints = settings.endpoints(endpoint_override)?;
    let body = serde_json::to_vec(body).map_err(|e| {
        error::new(
            ErrorKind::PluginFault,
            format!("the plugin could not encode the {} body: {e}", op.name()),
        )
    })?;
    let request_id = context::request_id();
    let now_ms = context::now_ms();
    let mut last: Option<ProviderError> = None;
    for (i, endpoint) in endpoints.iter().enumerate() {
        let has_next = i + 1 < endpoints.len();
        let headers = Headers::signed(
            &settings.app_key,
            room_id,
            &context::next_nonce(),
            now_ms,
            &request_id,
        )?;
        let sent_id = headers.request_id.clone();
        let request = build_request(endpoint, op, &headers, body.clone())?;
        ingest_plugin_sdk::debug!("calling RongCloud {} at {}", op.name(), endpoint.base);
        match transport::send(request) {
            Ok(response) => {
                let status = response.status().as_u16();
                if next_step(Attempt::Answered(status), has_next) == Step::FailOver {
                    ingest_plugin_sdk::warn!(
                        "RongCloud {} at {} answered HTTP {status}; failing over to {}",
                        op.name(),
                        endpoint.base,
                        endpoints.get(i + 1).map_or("-", |e| e.base.as_str())
                    );
                    continue;
                }
                let header = |name: &str| {
                    response
                        .headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                };
                let vendor_id = header(REQUEST_ID_HEADER).filter(|v| !v.is_empty());
                let retry_after = header(::http::header::RETRY_AFTER.as_str());
                return parse_reply(
                    op,
                    status,
                    retry_after.as_deref(),
                    vendor_id.or(sent_id),
                    response.body(),
                );
            }
            Err(e) => {
                if next_step(Attempt::Failed(&e), has_next) == Step::FailOver {
                    ingest_plugin_sdk::warn!(
                        "RongCloud {} at {} failed ({e:?}); failing over to {}",
                        op.name(),
                        endpoint.base,
                        endpoints.get(i + 1).map_or("-", |e| e.base.as_str())
                    );
                    continue;
                }
                last = Some(e.into_provider_error());
                break;
            }
        }
    }
    Err(last.unwrap_or_else(|| {
        error::new(
            ErrorKind::PluginFault,
            "no RongCloud endpoint was tried (the endpoint list is empty)",
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::parse_endpoint;
    use ingest_plugin_sdk::testing::TestHost;

    fn headers() -> Headers {
        TestHost::new()
            .secret(sign::APP_SECRET, "s3cret")
            .run(|| {
                Headers::signed(
                    "app-key-1",
                    "room-42",
                    "abcdef0123456789",
                    1_700_000_000_123,
                    "req-0011223344556677",
                )
            })
            .expect("headers")
    }

    #[test]
    fn request_headers_and_url() {
        let h = headers();
        assert_eq!(h.timestamp, "1700000000");
        assert_eq!(h.nonce, "abcdef0123456789");
        // printf '%s' s3cretabcdef01234567891700000000 | sha1sum
        assert_eq!(h.signature, "88a081b364cb853cc9bb05a0e668eaa3e63bf6b7");
        let ep = parse_endpoint("endpoint", "http://127.0.0.1:9102").expect("ep");
        let req = build_request(&ep, Op::Start, &h, b"{}".to_vec()).expect("request");
        assert_eq!(req.method(), ::http::Method::POST);
        assert_eq!(
            req.uri().to_string(),
            "http://127.0.0.1:9102/v2/rtc/cloudplayer/start"
        );
        let get = |k: &str| {
            req.headers()
                .get(k)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
        };
        assert_eq!(get("app-key"), "app-key-1");
        assert_eq!(get("nonce"), "abcdef0123456789");
        assert_eq!(get("timestamp"), "1700000000");
        assert_eq!(get("signature"), h.signature);
        assert_eq!(get("room-id"), "room-42");
        assert_eq!(get("content-type"), "application/json");
        assert_eq!(get("x-request-id"), "req-0011223344556677");
        assert!(req.headers().get("host").is_none());
        let stop = build_request(&ep, Op::Stop, &h, Vec::new()).expect("stop");
        assert_eq!(stop.uri().path(), "/v2/rtc/cloudplayer/stop");
    }

    #[test]
    fn success_and_error_answers() {
        let r = parse_reply(
            Op::Start,
            200,
            None,
            Some("r1".into()),
            br#"{"code":10000}"#,
        )
        .expect("ok");
        assert_eq!(r.request_id.as_deref(), Some("r1"));
        let r = parse_reply(Op::Start, 200, None, None, br#"{"code":"10000"}"#).expect("ok");
        assert_eq!(r.request_id, None);

        let e = parse_reply(
            Op::Start,
            200,
            None,
            Some("r2".into()),
            br#"{"code":61012,"msg":"rtmp_url is required"}"#,
        )
        .expect_err("61012");
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert_eq!(e.vendor_code.as_deref(), Some("61012"));
        assert_eq!(e.vendor_message.as_deref(), Some("rtmp_url is required"));
        assert_eq!(e.vendor_request_id.as_deref(), Some("r2"));

        // A 4xx with an envelope is decided by its code.
        let e = parse_reply(Op::Stop, 400, None, None, br#"{"code":61011,"msg":"x"}"#)
            .expect_err("400");
        assert_eq!(e.kind, ErrorKind::InvalidArgument);

        // 401 is unauthenticated whatever the body.
        let e = parse_reply(
            Op::Start,
            401,
            None,
            Some("r3".into()),
            br#"{"code":1004,"msg":"signature error"}"#,
        )
        .expect_err("401");
        assert_eq!(e.kind, ErrorKind::Unauthenticated);
        assert_eq!(e.vendor_code.as_deref(), Some("1004"));
        assert_eq!(e.vendor_message.as_deref(), Some("signature error"));
        assert_eq!(e.vendor_request_id.as_deref(), Some("r3"));
        let e = parse_reply(Op::Start, 401, None, None, b"Unauthorized").expect_err("401");
        assert_eq!((e.kind, e.vendor_code), (ErrorKind::Unauthenticated, None));

        let e = parse_reply(Op::Start, 429, Some("2"), None, b"").expect_err("429");
        assert_eq!(
            (e.kind, e.retry_after_secs),
            (ErrorKind::RateLimited, Some(2))
        );
        let e = parse_reply(Op::Start, 503, None, None, br#"{"code":61014}"#).expect_err("503");
        assert_eq!((e.kind, e.retryable), (ErrorKind::Unavailable, true));
        assert_eq!(e.vendor_code.as_deref(), Some("61014"));
        let e = parse_reply(Op::Start, 404, None, None, b"<html>").expect_err("404");
        assert_eq!((e.kind, e.retryable), (ErrorKind::VendorInternal, false));
        // 2xx with the success code but an unexpected status still succeeds only on 2xx.
        let e = parse_reply(Op::Start, 302, None, None, br#"{"code":10000}"#).expect_err("302");
        assert_eq!(e.kind, ErrorKind::VendorInternal);
    }

    #[test]
    fn malformed_bodies_never_panic() {
        let bodies: &[&[u8]] = &[
            b"",
            b"not json",
            b"\xff\xfe",
            b"null",
            b"[]",
            b"{}",
            br#"{"code":null}"#,
            br#"{"code":1.5}"#,
            br#"{"code":"abc"}"#,
            br#"{"code":{"a":1},"msg":7}"#,
            br#"{"code":99999999999999999999999}"#,
            br#"{"Response": {"RequestId": <<this is not json"#,
        ];
        for body in bodies {
            let e = parse_reply(Op::Start, 200, None, Some("r".into()), body)
                .expect_err("not a success");
            assert_eq!(
                e.kind,
                ErrorKind::VendorInternal,
                "{:?}",
                String::from_utf8_lossy(body)
            );
            assert_eq!(e.vendor_request_id.as_deref(), Some("r"));
            for status in [0, 100, 204, 302, 400, 401, 429, 500, 599, 999] {
                let _ = parse_reply(Op::Stop, status, Some("x"), None, body);
            }
        }
    }

    #[test]
    fn fail_over_rule() {
        use Attempt::*;
        use Step::*;
        let transport = SendError::Transport("ConnectionRefused".into());
        let connect_timeout = SendError::Timeout("ConnectionTimeout".into());
        let dns_timeout = SendError::Timeout("DnsTimeout".into());
        let response_timeout = SendError::Timeout("HttpResponseTimeout".into());
        let cases = [
            (Answered(500), FailOver),
            (Answered(502), FailOver),
            (Answered(503), FailOver),
            (Answered(599), FailOver),
            (Answered(200), Finish),
            (Answered(401), Finish),
            (Answered(429), Finish),
            (Answered(404), Finish),
            (Answered(600), Finish),
            (Failed(&transport), FailOver),
            (Failed(&connect_timeout), FailOver),
            (Failed(&dns_timeout), FailOver),
            (Failed(&response_timeout), Finish),
            (Failed(&SendError::Denied), Finish),
            (Failed(&SendError::TooLarge), Finish),
            (Failed(&SendError::InvalidRequest("x".into())), Finish),
        ];
        for (attempt, step) in cases {
            assert_eq!(next_step(attempt, true), step, "{attempt:?}");
            assert_eq!(
                next_step(attempt, false),
                Finish,
                "{attempt:?} on the last host"
            );
        }
    }
}
