//! One Jocloud API call (`POST /app/{appid}/{prefix}/{operation}?traceId=…`, JSON, HTTP Basic
//! credential in a header named `token`) and reading its answer.
//!
//! [`build_request`] and [`parse_reply`] are pure; [`call`] is the thin part that reads the call
//! context and talks to the host.

use ingest_plugin_sdk::error::bad_vendor_response;
use ingest_plugin_sdk::http::{self as transport};
use ingest_plugin_sdk::{ErrorKind, ProviderError, config, context, creds, error};
use serde::Serialize;
use serde_json::Value;

use crate::errors::{MAX_MESSAGE, VendorFields, code_error, http_error};
use crate::settings::{self, Settings};

/// The body's content type, as the vendor documents it.
pub const CONTENT_TYPE: &str = "application/json;charset=utf-8";
/// The secret holding the API certificate id.
pub const RESTFUL_ID: &str = "restful_id";
/// The secret holding the API certificate key.
pub const RESTFUL_SECRET: &str = "restful_secret";

/// A relay operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `startrtmp`.
    Start,
    /// `stoprtmp`.
    Stop,
}

impl Op {
    /// The last path segment.
    pub fn name(self) -> &'static str {
        match self {
            Op::Start => "startrtmp",
            Op::Stop => "stoprtmp",
        }
    }
}

/// The HTTP request. `basic` is the credential part of `token: Basic …` — in the component a
/// host placeholder, never the credential itself.
pub fn build_request(
    url: &str,
    basic: &str,
    body: Vec<u8>,
) -> Result<::http::Request<Vec<u8>>, ProviderError> {
    ::http::Request::builder()
        .method(::http::Method::POST)
        .uri(url)
        .header(::http::header::CONTENT_TYPE, CONTENT_TYPE)
        .header("token", format!("Basic {basic}"))
        .body(body)
        .map_err(|e| {
            error::new(
                ErrorKind::PluginFault,
                format!("the plugin built an invalid Jocloud request: {e}"),
            )
        })
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The trace id: a `traceId` in the answer, else the one sent.
    pub trace_id: Option<String>,
    /// The whole JSON body (Jocloud publishes no shape; kept as the vendor's detail).
    pub body: Value,
}

fn str_field(v: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| match v.get(*k) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

/// At most [`MAX_MESSAGE`] bytes of `text`, cut on a character boundary.
fn excerpt(text: &str) -> String {
    let mut end = text.len().min(MAX_MESSAGE);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default().to_string()
}

/// What a 2xx body's `code` says.
enum BodyCode {
    /// `code` is absent, `null`, `0` or `"0"`: success.
    Success,
    /// A non-zero `code`, as text.
    Error(String),
    /// A `code` that is neither a number nor a non-empty string.
    Unreadable,
}

fn body_code(json: &Value) -> BodyCode {
    match json.get("code") {
        None | Some(Value::Null) => BodyCode::Success,
        Some(Value::Number(n)) if n.as_f64() == Some(0.0) => BodyCode::Success,
        Some(Value::Number(n)) => BodyCode::Error(n.to_string()),
        Some(Value::String(s)) if s.trim() == "0" => BodyCode::Success,
        Some(Value::String(s)) if !s.trim().is_empty() => BodyCode::Error(s.clone()),
        Some(_) => BodyCode::Unreadable,
    }
}

/// Reads Jocloud's answer.
///
/// - A status that is not 2xx is the error [`http_error`] maps, with the body's `code` and
///   `msg` / `message` kept.
/// - A 2xx is success only when its body is JSON whose `code` is 0 or absent (the vendor
///   spec's rule: Jocloud answers errors with HTTP 200 and a non-zero `code`). A non-zero
///   `code` is the error [`code_error`] maps, with the code and `message` / `msg` kept; a body
///   that is not JSON, or a `code` that is neither a number nor a string, is `vendor-internal`.
pub fn parse_reply(
    op: Op,
    status: u16,
    retry_after: Option<&str>,
    trace_id: Option<String>,
    body: &[u8],
) -> Result<Reply, ProviderError> {
    let json = serde_json::from_slice::<Value>(body).ok();
    let answered_id = json
        .as_ref()
        .and_then(|j| str_field(j, &["traceId", "traceid"]));
    let trace_id = answered_id.or(trace_id);
    if !(200..300).contains(&status) {
        let text = String::from_utf8_lossy(body);
        let message = json
            .as_ref()
            .and_then(|j| str_field(j, &["msg", "message", "error"]))
            .or_else(|| (!text.trim().is_empty()).then(|| excerpt(text.trim())));
        let code = json
            .as_ref()
            .and_then(|j| str_field(j, &["code"]))
            .unwrap_or_else(|| status.to_string());
        return Err(http_error(
            op.name(),
            status,
            retry_after,
            VendorFields {
                code,
                message,
                request_id: trace_id,
            },
        ));
    }
    match json {
        Some(body) => match body_code(&body) {
            BodyCode::Success => Ok(Reply { trace_id, body }),
            BodyCode::Error(code) => Err(code_error(
                op.name(),
                status,
                retry_after,
                VendorFields {
                    code,
                    message: str_field(&body, &["message", "msg", "error"]),
                    request_id: trace_id,
                },
            )),
            BodyCode::Unreadable => {
                let mut e = bad_vendor_response(format!(
                    "{} answered HTTP {status} with a `code` that is neither a number nor a \
                     string: {}",
                    op.name(),
                    excerpt(&body.get("code").map(Value::to_string).unwrap_or_default())
                ));
                e.vendor_request_id = trace_id;
                Err(e)
            }
        },
        None => {
            let mut e = bad_vendor_response(format!(
                "{} answered HTTP {status} with a body that is not JSON ({} bytes)",
                op.name(),
                body.len()
            ));
            e.vendor_request_id = trace_id;
            Err(e)
        }
    }
}

/// Sends `op` with `body` and reads the answer. The `token` header carries a host placeholder
/// for `base64(restful_id ":" restful_secret)`: the plugin never holds the credential.
pub fn call(settings: &Settings, op: Op, body: &impl Serialize) -> Result<Reply, ProviderError> {
    let base = settings::base_url(config::endpoint().as_deref(), settings.region)?;
    let trace_id = context::request_id();
    let url = settings::operation_url(&base, settings, op.name(), &trace_id);
    let body = serde_json::to_vec(body).map_err(|e| {
        error::new(
            ErrorKind::PluginFault,
            format!("the plugin could not encode the {} body: {e}", op.name()),
        )
    })?;
    let basic = creds::basic_auth_placeholder(
        &[creds::secret(RESTFUL_ID)],
        &[creds::secret(RESTFUL_SECRET)],
    )?;
    let request = build_request(&url, &basic, body)?;
    ingest_plugin_sdk::debug!("calling Jocloud {} at {base}", op.name());
    let response = transport::send(request).map_err(transport::SendError::into_provider_error)?;
    let retry_after = transport::retry_after(&response);
    let reply = parse_reply(
        op,
        response.status().as_u16(),
        retry_after,
        Some(trace_id),
        response.body(),
    );
    match &reply {
        Ok(r) => ingest_plugin_sdk::debug!(
            "Jocloud {} succeeded (traceId {}): {}",
            op.name(),
            r.trace_id.as_deref().unwrap_or("-"),
            excerpt(&r.body.to_string())
        ),
        Err(e) => ingest_plugin_sdk::debug!(
            "Jocloud {} failed: {} (vendor code {})",
            op.name(),
            e.message,
            e.vendor_code.as_deref().unwrap_or("-")
        ),
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_shape() {
        let req = build_request(
            "http://127.0.0.1:9105/app/1/v2/rtmpforward/startrtmp?traceId=t1",
            "PLACEHOLDER",
            b"{}".to_vec(),
        )
        .expect("request");
        assert_eq!(req.method(), ::http::Method::POST);
        assert_eq!(
            req.uri().to_string(),
            "http://127.0.0.1:9105/app/1/v2/rtmpforward/startrtmp?traceId=t1"
        );
        let get = |k: &str| {
            req.headers()
                .get(k)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
        };
        assert_eq!(get("token"), "Basic PLACEHOLDER");
        assert_eq!(get("content-type"), "application/json;charset=utf-8");
        assert!(req.headers().get("authorization").is_none());
        assert!(req.headers().get("host").is_none());
    }

    #[test]
    fn success_is_a_2xx_json_whose_code_is_0_or_absent() {
        let r = parse_reply(Op::Start, 200, None, Some("t".into()), br#"{"code":0}"#).expect("ok");
        assert_eq!(r.trace_id.as_deref(), Some("t"));
        for ok in [
            &br#"{"code":0,"message":"success"}"#[..],
            br#"{"code":"0","msg":"success"}"#,
            br#"{"code":0.0}"#,
            br#"{"code":null}"#,
            br#"{"message":"success"}"#,
            b"{}",
        ] {
            let text = String::from_utf8_lossy(ok);
            parse_reply(Op::Start, 200, None, None, ok).expect(&text);
            parse_reply(Op::Stop, 201, None, None, ok).expect(&text);
        }
        let r = parse_reply(Op::Stop, 204, None, None, b"[]").expect("ok");
        assert_eq!(r.body, serde_json::json!([]));
        let r = parse_reply(
            Op::Start,
            200,
            None,
            Some("t".into()),
            br#"{"traceId":"v-1"}"#,
        )
        .expect("ok");
        assert_eq!(r.trace_id.as_deref(), Some("v-1"));
        for bad in [&b""[..], b"ok", b"\xff", b"{\"a\":"] {
            let e = parse_reply(Op::Start, 200, None, Some("t".into()), bad).expect_err("not json");
            assert_eq!(e.kind, ErrorKind::VendorInternal);
            assert_eq!(e.vendor_request_id.as_deref(), Some("t"));
        }
    }

    /// Jocloud answers errors with HTTP 200 and a non-zero `code`: never a success, in
    /// start or stop.
    #[test]
    fn a_2xx_with_a_nonzero_code_is_an_error() {
        for op in [Op::Start, Op::Stop] {
            let e = parse_reply(
                op,
                200,
                None,
                Some("t".into()),
                br#"{"code":20001,"message":"rtmpurl is used by another task"}"#,
            )
            .expect_err("code 20001");
            assert_eq!((e.kind, e.retryable), (ErrorKind::VendorInternal, false));
            assert_eq!(e.vendor_code.as_deref(), Some("20001"));
            assert_eq!(
                e.vendor_message.as_deref(),
                Some("rtmpurl is used by another task")
            );
            assert_eq!(e.vendor_request_id.as_deref(), Some("t"));
            assert!(e.message.contains(op.name()), "{}", e.message);
        }
        let cases: [(&[u8], ErrorKind, &str, Option<&str>); 7] = [
            (
                br#"{"code":401,"msg":"invalid token"}"#,
                ErrorKind::Unauthenticated,
                "401",
                Some("invalid token"),
            ),
            (
                br#"{"code":"403","message":"no"}"#,
                ErrorKind::Unauthenticated,
                "403",
                Some("no"),
            ),
            (
                br#"{"code":400,"message":"roomid is required"}"#,
                ErrorKind::InvalidArgument,
                "400",
                Some("roomid is required"),
            ),
            (br#"{"code":500}"#, ErrorKind::Unavailable, "500", None),
            (
                br#"{"code":-1,"message":"failed"}"#,
                ErrorKind::VendorInternal,
                "-1",
                Some("failed"),
            ),
            (
                br#"{"code":"E_DEST","message":"x"}"#,
                ErrorKind::VendorInternal,
                "E_DEST",
                Some("x"),
            ),
            (
                br#"{"code":1,"message":"m","msg":"other"}"#,
                ErrorKind::VendorInternal,
                "1",
                Some("m"),
            ),
        ];
        for (body, kind, code, message) in cases {
            let text = String::from_utf8_lossy(body);
            let e = parse_reply(Op::Start, 200, None, None, body).expect_err(&text);
            assert_eq!(e.kind, kind, "{text}");
            assert_eq!(e.vendor_code.as_deref(), Some(code), "{text}");
            assert_eq!(e.vendor_message.as_deref(), message, "{text}");
        }
        let e = parse_reply(Op::Start, 204, Some("2"), None, br#"{"code":429}"#).expect_err("429");
        assert_eq!(
            (e.kind, e.retryable, e.retry_after_secs),
            (ErrorKind::RateLimited, true, Some(2))
        );
        for odd in [
            &br#"{"code":true}"#[..],
            br#"{"code":""}"#,
            br#"{"code":[0]}"#,
            br#"{"code":{"n":0}}"#,
        ] {
            let text = String::from_utf8_lossy(odd);
            let e = parse_reply(Op::Stop, 200, None, Some("t".into()), odd).expect_err(&text);
            assert_eq!(e.kind, ErrorKind::VendorInternal, "{text}");
            assert_eq!(e.vendor_request_id.as_deref(), Some("t"));
        }
    }

    #[test]
    fn errors_by_status() {
        let e = parse_reply(
            Op::Start,
            401,
            None,
            Some("t".into()),
            br#"{"code":401,"msg":"bad token"}"#,
        )
        .expect_err("401");
        assert_eq!(e.kind, ErrorKind::Unauthenticated);
        assert_eq!(e.vendor_code.as_deref(), Some("401"));
        assert_eq!(e.vendor_message.as_deref(), Some("bad token"));
        assert_eq!(e.vendor_request_id.as_deref(), Some("t"));

        let e = parse_reply(Op::Stop, 404, None, None, b"no such task\n").expect_err("404");
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert_eq!(e.vendor_code.as_deref(), Some("404"));
        assert_eq!(e.vendor_message.as_deref(), Some("no such task"));

        let e = parse_reply(
            Op::Start,
            400,
            None,
            None,
            br#"{"code":"E_DEST","message":"x"}"#,
        )
        .expect_err("400");
        assert_eq!(e.vendor_code.as_deref(), Some("E_DEST"));
        assert_eq!(e.vendor_message.as_deref(), Some("x"));

        let e = parse_reply(Op::Start, 503, None, None, b"").expect_err("503");
        assert_eq!((e.kind, e.retryable), (ErrorKind::Unavailable, true));
        assert_eq!(e.vendor_message, None);
        let e = parse_reply(Op::Start, 429, Some("3"), None, b"").expect_err("429");
        assert_eq!(
            (e.kind, e.retry_after_secs),
            (ErrorKind::RateLimited, Some(3))
        );

        let long = "é".repeat(1000);
        let e = parse_reply(Op::Start, 400, None, None, long.as_bytes()).expect_err("long");
        assert!(e.vendor_message.expect("message").len() <= MAX_MESSAGE);
        for status in [0, 100, 302, 999] {
            let e = parse_reply(Op::Start, status, None, None, b"{}").expect_err("odd");
            assert_eq!(e.kind, ErrorKind::VendorInternal, "{status}");
        }
    }
}
