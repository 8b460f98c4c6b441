//! One signed ZEGO Cloud Player call (`POST /?Action=…&<common parameters>` with the business
//! parameters as a JSON body), and reading the `{"Code", "Message", "RequestId", "Data"}`
//! envelope.
//!
//! [`build_request`] and [`parse_reply`] are pure; [`call`] is the thin part that reads the
//! call context and talks to the host.

use ingest_plugin_sdk::error::bad_vendor_response;
use ingest_plugin_sdk::{ErrorKind, ProviderError, config, context, error, http as transport};
use serde_json::{Map, Value};

use crate::errors::{http_error, vendor_error};
use crate::settings::{self, Settings};
use crate::sign::{self, HostCrypto};

/// A successful answer (`Code` 0).
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// `RequestId`.
    pub request_id: Option<String>,
    /// `Message`.
    pub message: Option<String>,
    /// `Data` (`Null` when absent).
    pub data: Value,
}

impl Reply {
    /// `e` with this reply's request id, for errors about an answer's content.
    pub fn attach(&self, mut e: ProviderError) -> ProviderError {
        e.vendor_request_id = self.request_id.clone();
        e
    }
}

/// `POST {base_url}?{query}` with a JSON `body`. No `Host` header is set (`wasi:http` derives
/// it from the URL).
pub fn build_request(
    base_url: &str,
    action: &str,
    query: &str,
    body: Vec<u8>,
) -> Result<::http::Request<Vec<u8>>, ProviderError> {
    ::http::Request::builder()
        .method(::http::Method::POST)
        .uri(format!("{base_url}?{query}"))
        .header(::http::header::CONTENT_TYPE, "application/json")
        .header(::http::header::ACCEPT, "application/json")
        .body(body)
        .map_err(|e| {
            error::new(
                ErrorKind::PluginFault,
                format!("the plugin built an invalid {action} request: {e}"),
            )
        })
}

/// `Code` as an integer (ZEGO sends a number; a numeric string is accepted too).
fn code_of(envelope: &Map<String, Value>) -> Option<i64> {
    match envelope.get("Code")? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text(envelope: &Map<String, Value>, key: &str) -> Option<String> {
    match envelope.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads the vendor's answer: `Data` when `Code` is 0, else the mapped error.
pub fn parse_reply(
    action: &str,
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
) -> Result<Reply, ProviderError> {
    let envelope = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    };
    let code = envelope.as_ref().and_then(code_of);
    let request_id = envelope.as_ref().and_then(|e| text(e, "RequestId"));
    let message = envelope.as_ref().and_then(|e| text(e, "Message"));
    if let Some(code) = code.filter(|c| *c != 0) {
        return Err(vendor_error(
            action,
            code,
            message.as_deref().unwrap_or_default(),
            request_id,
        ));
    }
    if !(200..300).contains(&status) {
        let mut e = http_error(action, status, retry_after);
        e.vendor_request_id = request_id;
        return Err(e);
    }
    match (envelope, code) {
        (Some(mut envelope), Some(0)) => Ok(Reply {
            request_id,
            message,
            data: envelope.remove("Data").unwrap_or(Value::Null),
        }),
        (Some(_), _) => {
            let mut e =
                bad_vendor_response(format!("{action} answered JSON without a numeric `Code`"));
            e.vendor_request_id = request_id;
            Err(e)
        }
        (None, _) => Err(bad_vendor_response(format!(
            "{action} answered a body that is not a JSON object ({} bytes)",
            body.len()
        ))),
    }
}

/// Signs and sends `action` with `body` (a JSON object), and reads the answer.
pub fn call(settings: &Settings, action: &str, body: &Value) -> Result<Reply, ProviderError> {
    let base_url = settings::endpoint(config::endpoint().as_deref(), &settings.host)?;
    let timestamp = context::now_ms() / 1000;
    let nonce = sign::nonce(&HostCrypto, &context::next_nonce())?;
    let body = serde_json::to_vec(body).map_err(|e| {
        error::new(
            ErrorKind::PluginFault,
            format!("the plugin could not encode the {action} body: {e}"),
        )
    })?;
    let mut all = vec![("Action", action.to_string())];
    all.extend(sign::common_params(
        &HostCrypto,
        settings.app_id,
        &nonce,
        timestamp,
        settings.is_test,
    )?);
    let request = build_request(&base_url, action, &sign::query(&all), body)?;
    ingest_plugin_sdk::debug!("calling ZEGO {action} at {base_url}");
    let response = transport::send(request).map_err(transport::SendError::into_provider_error)?;
    let retry_after = response
        .headers()
        .get(::http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok());
    let reply = parse_reply(
        action,
        response.status().as_u16(),
        retry_after,
        response.body(),
    );
    match &reply {
        Ok(r) => ingest_plugin_sdk::debug!(
            "ZEGO {action} succeeded, RequestId {}",
            r.request_id.as_deref().unwrap_or("-")
        ),
        Err(e) => ingest_plugin_sdk::debug!(
            "ZEGO {action} failed: {} (vendor code {}, RequestId {})",
            e.message,
            e.vendor_code.as_deref().unwrap_or("-"),
            e.vendor_request_id.as_deref().unwrap_or("-")
        ),
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_is_a_json_post() {
        let req = build_request(
            "http://127.0.0.1:9104/",
            "A",
            "Action=A&x=1",
            br#"{"PlayerId":"p"}"#.to_vec(),
        )
        .expect("req");
        assert_eq!(req.method(), ::http::Method::POST);
        assert_eq!(req.uri().to_string(), "http://127.0.0.1:9104/?Action=A&x=1");
        assert_eq!(req.headers()["content-type"], "application/json");
        assert!(req.headers().get("host").is_none());
        assert_eq!(req.body(), br#"{"PlayerId":"p"}"#);
    }

    #[test]
    fn success_and_error_envelopes() {
        let r = parse_reply(
            "CreatePlayer",
            200,
            None,
            br#"{"Code":0,"Message":"ok","RequestId":"r1","Data":{"PlayerId":"p1"}}"#,
        )
        .expect("ok");
        assert_eq!(r.request_id.as_deref(), Some("r1"));
        assert_eq!(r.message.as_deref(), Some("ok"));
        assert_eq!(r.data["PlayerId"], "p1");

        let r = parse_reply("A", 200, None, br#"{"Code":"0","RequestId":7}"#).expect("ok");
        assert_eq!(r.request_id.as_deref(), Some("7"));
        assert_eq!(r.data, Value::Null);

        let e = parse_reply(
            "CreatePlayer",
            200,
            None,
            br#"{"Code":350006003,"Message":"invalid stream url","RequestId":"r2"}"#,
        )
        .expect_err("error");
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert_eq!(e.vendor_code.as_deref(), Some("350006003"));
        assert_eq!(e.vendor_message.as_deref(), Some("invalid stream url"));
        assert_eq!(e.vendor_request_id.as_deref(), Some("r2"));

        // A ZEGO error carried by a non-2xx status still maps by code.
        let e =
            parse_reply("A", 503, None, br#"{"Code":350006001,"Message":"busy"}"#).expect_err("e");
        assert_eq!(e.kind, ErrorKind::RateLimited);
        let e = parse_reply("A", 502, None, b"bad gateway").expect_err("e");
        assert_eq!((e.kind, e.retryable), (ErrorKind::Unavailable, true));
        let e = parse_reply("A", 500, None, br#"{"Code":0,"RequestId":"r"}"#).expect_err("e");
        assert_eq!(e.kind, ErrorKind::Unavailable);
        assert_eq!(e.vendor_request_id.as_deref(), Some("r"));
    }

    #[test]
    fn malformed_bodies_never_panic() {
        let bodies: &[&[u8]] = &[
            b"",
            b"not json",
            b"\xff",
            b"null",
            b"[]",
            b"{}",
            br#"{"Code":null}"#,
            br#"{"Code":"x","RequestId":"r"}"#,
            br#"{"Code":1.5}"#,
            br#"{"Code":0,"Message":[1]}"#,
        ];
        for body in bodies {
            for status in [0, 200, 204, 302, 400, 429, 500, 999] {
                if let Err(e) = parse_reply("A", status, None, body) {
                    assert!(
                        matches!(
                            e.kind,
                            ErrorKind::VendorInternal
                                | ErrorKind::Unavailable
                                | ErrorKind::RateLimited
                        ),
                        "{status}: {:?}",
                        e.kind
                    );
                }
            }
        }
        let e = parse_reply("A", 200, None, br#"{"Code":"x","RequestId":"r"}"#).expect_err("e");
        assert_eq!(e.kind, ErrorKind::VendorInternal);
        assert_eq!(e.vendor_request_id.as_deref(), Some("r"));
        assert!(parse_reply("A", 200, None, br#"{"Code":0,"Message":[1]}"#).is_ok());
    }
}
