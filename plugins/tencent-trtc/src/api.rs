//! One signed call to the Tencent Cloud API 3.0 (`POST /`, JSON), and reading its envelope.
//!
//! [`build_request`] and [`parse_reply`] are pure; [`call`] is the thin part that reads the
//! call context and talks to the host.

use ingest_plugin_sdk::error::bad_vendor_response;
use ingest_plugin_sdk::http::Idempotent;
use ingest_plugin_sdk::{ErrorKind, ProviderError, config, context, error, http as transport};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::errors::{VendorFields, http_error, vendor_error};
use crate::settings::{self, Endpoint, Settings};
use crate::sign::{self, ToSign};

/// The TRTC API version.
pub const VERSION: &str = "2019-07-22";
/// The body's content type, sent and signed exactly so.
pub const CONTENT_TYPE: &str = "application/json";
/// `X-TC-RequestClient`.
pub const REQUEST_CLIENT: &str = "ingest-gateway";

/// The `Response` object of a successful answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// `Response.RequestId`.
    pub request_id: Option<String>,
    /// The whole `Response` object.
    pub response: Map<String, Value>,
}

impl Reply {
    /// `e` with this reply's request id, for errors about an answer's content.
    pub fn attach(&self, mut e: ProviderError) -> ProviderError {
        e.vendor_request_id = self.request_id.clone();
        e
    }

    /// `Response.<key>` as a string.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.response.get(key).and_then(Value::as_str)
    }
}

/// The HTTP request for `action`, ready to send. `authorization` must sign `endpoint.authority`
/// as `host`, [`CONTENT_TYPE`] and exactly `body`.
///
/// No `Host` header is set: the host derives it from the URL's authority, which is what was
/// signed. `Describe*` actions are queries, sent as idempotent (the host may repeat them after
/// a broken connection).
pub fn build_request(
    endpoint: &Endpoint,
    action: &str,
    region: &str,
    timestamp: u64,
    authorization: &str,
    body: Vec<u8>,
) -> Result<::http::Request<Vec<u8>>, ProviderError> {
    ::http::Request::builder()
        .method(::http::Method::POST)
        .uri(endpoint.url.as_str())
        .header(::http::header::CONTENT_TYPE, CONTENT_TYPE)
        .header("X-TC-Action", action)
        .header("X-TC-Version", VERSION)
        .header("X-TC-Timestamp", timestamp.to_string())
        .header("X-TC-Region", region)
        .header("X-TC-RequestClient", REQUEST_CLIENT)
        .header(::http::header::AUTHORIZATION, authorization)
        .extension(Idempotent(action.starts_with("Describe")))
        .body(body)
        .map_err(|e| {
            error::new(
                ErrorKind::PluginFault,
                format!("the plugin built an invalid {action} request: {e}"),
            )
        })
}

/// Reads the vendor's answer: the `Response` object on success, else the mapped error.
pub fn parse_reply(
    action: &str,
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
) -> Result<Reply, ProviderError> {
    let root = serde_json::from_slice::<Value>(body).ok();
    let response = root
        .as_ref()
        .and_then(|v| v.get("Response"))
        .and_then(Value::as_object);

    if !(200..300).contains(&status) {
        return Err(http_error(action, status, retry_after, salvage(response)));
    }
    let Some(root) = root else {
        return Err(bad_vendor_response(format!(
            "{action} answered a body that is not JSON ({} bytes)",
            body.len()
        )));
    };
    let Some(response) = root.get("Response").and_then(Value::as_object) else {
        return Err(bad_vendor_response(format!(
            "{action} answered JSON without a `Response` object"
        )));
    };
    let request_id = response
        .get("RequestId")
        .and_then(Value::as_str)
        .map(str::to_string);
    match response.get("Error") {
        None | Some(Value::Null) => Ok(Reply {
            request_id,
            response: response.clone(),
        }),
        Some(err) => match err.get("Code").and_then(Value::as_str) {
            Some(code) => {
                let message = err
                    .get("Message")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                Err(vendor_error(action, code, message, request_id))
            }
            None => {
                let mut e =
                    bad_vendor_response(format!("{action} answered an `Error` without a `Code`"));
                e.vendor_request_id = request_id;
                Err(e)
            }
        },
    }
}

/// Code, message and request id from an envelope, if there is one.
fn salvage(response: Option<&Map<String, Value>>) -> VendorFields {
    let Some(r) = response else {
        return VendorFields::default();
    };
    let err = r.get("Error");
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    VendorFields {
        code: s(err.and_then(|e| e.get("Code"))),
        message: s(err.and_then(|e| e.get("Message"))),
        request_id: s(r.get("RequestId")),
    }
}

/// Signs and sends `action` with `body`, and reads the answer.
pub fn call(
    settings: &Settings,
    action: &str,
    body: &impl Serialize,
) -> Result<Reply, ProviderError> {
    // Built (and signed) only at the step that sends it: later steps replay its answer.
    let build = || {
        let endpoint = settings::endpoint(config::endpoint().as_deref(), &settings.host)?;
        let body = serde_json::to_vec(body).map_err(|e| {
            error::new(
                ErrorKind::PluginFault,
                format!("the plugin could not encode the {action} body: {e}"),
            )
        })?;
        let timestamp = context::now_ms() / 1000;
        let authorization = sign::authorization(&ToSign {
            service: sign::SERVICE,
            host: &endpoint.authority,
            content_type: CONTENT_TYPE,
            body: &body,
            timestamp,
        })?;
        ingest_plugin_sdk::debug!("calling Tencent TRTC {action} at {}", endpoint.url);
        build_request(
            &endpoint,
            action,
            &settings.region,
            timestamp,
            &authorization,
            body,
        )
    };
    transport::exchange_with(
        "Tencent TRTC",
        action,
        build,
        |status, retry_after, body| parse_reply(action, status, retry_after, body),
        |r| r.request_id.as_deref(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_headers_and_url() {
        let endpoint =
            settings::endpoint(Some("http://127.0.0.1:9101"), "unused").expect("endpoint");
        let req = build_request(
            &endpoint,
            "StartStreamIngest",
            "ap-guangzhou",
            1_700_000_000,
            "TC3-HMAC-SHA256 Credential=x/2023-11-14/trtc/tc3_request, SignedHeaders=content-type;host, Signature=00",
            b"{}".to_vec(),
        )
        .expect("request");
        assert_eq!(req.method(), ::http::Method::POST);
        assert_eq!(req.uri().to_string(), "http://127.0.0.1:9101/");
        let h = req.headers();
        let get = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert_eq!(get("content-type"), "application/json");
        assert_eq!(get("x-tc-action"), "StartStreamIngest");
        assert_eq!(get("x-tc-version"), "2019-07-22");
        assert_eq!(get("x-tc-timestamp"), "1700000000");
        assert_eq!(get("x-tc-region"), "ap-guangzhou");
        assert_eq!(get("x-tc-requestclient"), "ingest-gateway");
        assert!(get("authorization").starts_with("TC3-HMAC-SHA256 Credential="));
        assert!(h.get("host").is_none());
        assert_eq!(req.body(), b"{}");
        let sent = ingest_plugin_sdk::http::vendor_request(req).expect("vendor request");
        assert!(!sent.idempotent, "StartStreamIngest is not a query");
        assert!(sent.headers.iter().all(|(k, _)| k != "content-length"));

        let describe = build_request(
            &endpoint,
            "DescribeStreamIngest",
            "ap-guangzhou",
            1_700_000_000,
            "TC3-HMAC-SHA256 x",
            b"{}".to_vec(),
        )
        .expect("request");
        let sent = ingest_plugin_sdk::http::vendor_request(describe).expect("vendor request");
        assert!(sent.idempotent, "DescribeStreamIngest is a query");
    }

    #[test]
    fn success_envelope() {
        let r = parse_reply(
            "StopStreamIngest",
            200,
            None,
            br#"{"Response":{"RequestId":"abc"}}"#,
        )
        .expect("ok");
        assert_eq!(r.request_id.as_deref(), Some("abc"));
        let r = parse_reply(
            "StopStreamIngest",
            200,
            None,
            br#"{"Response":{"Error":null}}"#,
        )
        .expect("null error is no error");
        assert_eq!(r.request_id, None);
    }

    #[test]
    fn error_envelope() {
        let e = parse_reply(
            "StartStreamIngest",
            200,
            None,
            br#"{"Response":{"Error":{"Code":"FailedOperation.TaskExist","Message":"task exists"},"RequestId":"rid"}}"#,
        )
        .expect_err("error");
        assert_eq!(e.kind, ErrorKind::AlreadyExists);
        assert_eq!(e.vendor_code.as_deref(), Some("FailedOperation.TaskExist"));
        assert_eq!(e.vendor_message.as_deref(), Some("task exists"));
        assert_eq!(e.vendor_request_id.as_deref(), Some("rid"));

        let e = parse_reply(
            "StartStreamIngest",
            200,
            None,
            br#"{"Response":{"Error":{"Code":"RequestLimitExceeded"}}}"#,
        )
        .expect_err("error without message");
        assert_eq!((e.kind, e.retryable), (ErrorKind::RateLimited, true));
        assert_eq!(e.vendor_message.as_deref(), Some(""));
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
            br#"{"Response":null}"#,
            br#"{"Response":[1,2]}"#,
            br#"{"Response":"x"}"#,
            br#"{"Response":{"Error":"boom","RequestId":"r"}}"#,
            br#"{"Response":{"Error":{"Code":7}}}"#,
            br#"{"Response":{"Error":{}}}"#,
            br#"{"Response":{"Error":{"Code":"X","Message":{"a":1}},"RequestId":9}}"#,
        ];
        for body in bodies {
            match parse_reply("DescribeStreamIngest", 200, None, body) {
                Ok(_) => {}
                Err(e) => assert!(
                    matches!(e.kind, ErrorKind::VendorInternal),
                    "{:?}: {}",
                    String::from_utf8_lossy(body),
                    e.message
                ),
            }
            for status in [0, 100, 204, 302, 400, 429, 500, 599, 999] {
                let _ = parse_reply("DescribeStreamIngest", status, Some("x"), body);
            }
        }
        let e = parse_reply(
            "DescribeStreamIngest",
            200,
            None,
            br#"{"Response":{"Error":"boom","RequestId":"r"}}"#,
        )
        .expect_err("bad error");
        assert_eq!(e.vendor_request_id.as_deref(), Some("r"));
    }

    #[test]
    fn http_status_errors_keep_envelope_fields() {
        let body =
            br#"{"Response":{"Error":{"Code":"InternalError","Message":"m"},"RequestId":"r"}}"#;
        let e = parse_reply("StartStreamIngest", 502, None, body).expect_err("502");
        assert_eq!((e.kind, e.retryable), (ErrorKind::Unavailable, true));
        assert_eq!(e.vendor_code.as_deref(), Some("InternalError"));
        assert_eq!(e.vendor_request_id.as_deref(), Some("r"));

        let e = parse_reply("StartStreamIngest", 429, Some("3"), b"slow down").expect_err("429");
        assert_eq!(
            (e.kind, e.retry_after_secs),
            (ErrorKind::RateLimited, Some(3))
        );

        let e = parse_reply("StartStreamIngest", 403, None, b"<html>").expect_err("403");
        assert_eq!((e.kind, e.retryable), (ErrorKind::VendorInternal, false));
    }
}
