//! One signed RPC call to ApsaraVideo Live (`GET /?…`, JSON answer), and reading the answer.
//!
//! [`build_request`] and [`parse_reply`] are pure; [`call`] is the thin part that reads the
//! call context and talks to the host.

use ingest_plugin_sdk::error::bad_vendor_response;
use ingest_plugin_sdk::{ErrorKind, ProviderError, config, context, error, http as transport};
use serde_json::{Map, Value};

use crate::errors::{http_error, vendor_error};
use crate::settings::{self, Settings};
use crate::sign::{self, Param};

/// The ApsaraVideo Live API version.
pub const VERSION: &str = "2016-11-01";
/// The HTTP method every request uses (and signs).
pub const METHOD: &str = "GET";

/// A successful answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// `RequestId`.
    pub request_id: Option<String>,
    /// The whole answer object.
    pub body: Map<String, Value>,
}

impl Reply {
    /// `e` with this reply's request id, for errors about an answer's content.
    pub fn attach(&self, mut e: ProviderError) -> ProviderError {
        e.vendor_request_id = self.request_id.clone();
        e
    }
}

/// The HTTP request: `GET {base_url}?{query}`. No `Host` header is set (the host derives
/// it from the URL).
pub fn build_request(
    base_url: &str,
    action: &str,
    query: &str,
) -> Result<::http::Request<Vec<u8>>, ProviderError> {
    ::http::Request::builder()
        .method(::http::Method::GET)
        .uri(format!("{base_url}?{query}"))
        .header(::http::header::ACCEPT, "application/json")
        .body(Vec::new())
        .map_err(|e| {
            error::new(
                ErrorKind::PluginFault,
                format!("the plugin built an invalid {action} request: {e}"),
            )
        })
}

fn string_field(body: &Map<String, Value>, key: &str) -> Option<String> {
    body.get(key).and_then(Value::as_str).map(str::to_string)
}

/// Reads the vendor's answer: the JSON object on 2xx, else the mapped error.
pub fn parse_reply(
    action: &str,
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
) -> Result<Reply, ProviderError> {
    let object = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    };
    if !(200..300).contains(&status) {
        let request_id = object.as_ref().and_then(|o| string_field(o, "RequestId"));
        let code = object.as_ref().and_then(|o| string_field(o, "Code"));
        return Err(match code {
            Some(code) => {
                let message = object
                    .as_ref()
                    .and_then(|o| string_field(o, "Message"))
                    .unwrap_or_default();
                vendor_error(action, status, retry_after, &code, &message, request_id)
            }
            None => http_error(action, status, retry_after, request_id),
        });
    }
    let Some(body) = object else {
        return Err(bad_vendor_response(format!(
            "{action} answered HTTP {status} with a body that is not a JSON object ({} bytes)",
            body.len()
        )));
    };
    Ok(Reply {
        request_id: string_field(&body, "RequestId"),
        body,
    })
}

/// Signs and sends `action` with its own `params` (the common ones are added here), and
/// reads the answer.
pub fn call(settings: &Settings, action: &str, params: Vec<Param>) -> Result<Reply, ProviderError> {
    let base_url = settings::endpoint(config::endpoint().as_deref(), &settings.host)?;
    let timestamp = sign::timestamp(context::now_ms())?;
    let nonce = context::next_nonce();
    let mut all = sign::common_params(action, VERSION, &nonce, &timestamp);
    all.extend(params);
    let query = sign::signed_query(METHOD, all)?;
    let request = build_request(&base_url, action, &query)?;
    ingest_plugin_sdk::debug!("calling Alibaba Cloud {action} at {base_url}");
    transport::exchange(
        "Alibaba Cloud",
        action,
        request,
        |status, retry_after, body| parse_reply(action, status, retry_after, body),
        |r| r.request_id.as_deref(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole call under a test host holding the keys of Alibaba's published example
    /// (`testid` / `testsecret`): the common parameters, the call's clock and nonce, and the
    /// signature. The expected query was computed independently with Python (`urllib.parse`,
    /// `hmac`, `hashlib.sha1`, `base64`) following Alibaba's RPC signature documentation.
    #[test]
    fn a_call_is_signed_by_the_host() {
        use ingest_plugin_sdk::step::{self, Step};
        use ingest_plugin_sdk::testing::TestHost;

        let _host = TestHost::new()
            .secret(sign::SECRET_ACCESS_KEY_ID, "testid")
            .secret(sign::SECRET_ACCESS_KEY_SECRET, "testsecret")
            .now_ms(1_700_000_000_999)
            .install();
        let settings = Settings {
            app_id: "app-1".into(),
            host: settings::DEFAULT_HOST.into(),
        };
        let t = |s: &str| sign::Value::Text(s.to_string());
        let params = vec![
            ("AppId".to_string(), t("app-1")),
            ("ChannelId".to_string(), t("room 1")),
        ];
        let Step::Send(sent) = step::run(Vec::new(), || {
            call(&settings, "CreateRoomRealTimeStreamAddress", params)
        }) else {
            panic!("the call sends its request first");
        };
        assert_eq!(sent.method, "GET");
        assert_eq!(
            sent.url,
            "https://live.aliyuncs.com/?AccessKeyId=testid&Action=CreateRoomRealTimeStreamAddress&AppId=app-1&ChannelId=room%201&Format=JSON&SignatureMethod=HMAC-SHA1&SignatureNonce=00000000000000000000000000000001&SignatureVersion=1.0&Timestamp=2023-11-14T22%3A13%3A20Z&Version=2016-11-01&Signature=fZWdK9uqwck2rbACSYz8731i%2BFc%3D"
        );
    }

    #[test]
    fn request_is_a_plain_get() {
        let req = build_request("http://127.0.0.1:9103/", "A", "x=1&Signature=s%3D").expect("req");
        assert_eq!(req.method(), ::http::Method::GET);
        assert_eq!(
            req.uri().to_string(),
            "http://127.0.0.1:9103/?x=1&Signature=s%3D"
        );
        assert!(req.headers().get("host").is_none());
        assert!(req.body().is_empty());
    }

    #[test]
    fn success_answer() {
        let r = parse_reply(
            "A",
            200,
            None,
            br#"{"RequestId":"r1","RtmpAddress":"rtmp://x"}"#,
        )
        .expect("ok");
        assert_eq!(r.request_id.as_deref(), Some("r1"));
        assert_eq!(r.body["RtmpAddress"], "rtmp://x");
        let r = parse_reply("A", 200, None, b"{}").expect("ok without id");
        assert_eq!(r.request_id, None);
    }

    #[test]
    fn error_envelopes() {
        let body = br#"{"RequestId":"r2","HostId":"live.aliyuncs.com","Code":"SignatureDoesNotMatch","Message":"Specified signature is not matched with our calculation."}"#;
        let e = parse_reply("CreateRoomRealTimeStreamAddress", 400, None, body).expect_err("err");
        assert_eq!(e.kind, ErrorKind::Unauthenticated);
        assert_eq!(e.vendor_code.as_deref(), Some("SignatureDoesNotMatch"));
        assert_eq!(
            e.vendor_message.as_deref(),
            Some("Specified signature is not matched with our calculation.")
        );
        assert_eq!(e.vendor_request_id.as_deref(), Some("r2"));

        let e = parse_reply("A", 404, None, br#"{"Code":"ResourceNotExist"}"#).expect_err("err");
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert_eq!(e.vendor_message.as_deref(), Some(""));

        let e = parse_reply("A", 503, None, b"<html>busy</html>").expect_err("err");
        assert_eq!((e.kind, e.retryable), (ErrorKind::Unavailable, true));
        let e = parse_reply("A", 429, Some("4"), b"").expect_err("err");
        assert_eq!(
            (e.kind, e.retry_after_secs),
            (ErrorKind::RateLimited, Some(4))
        );
        let e = parse_reply("A", 400, None, br#"{"RequestId":"r3"}"#).expect_err("err");
        assert_eq!(e.kind, ErrorKind::VendorInternal);
        assert_eq!(e.vendor_request_id.as_deref(), Some("r3"));
    }

    #[test]
    fn malformed_bodies_never_panic() {
        let bodies: &[&[u8]] = &[
            b"",
            b"not json",
            b"\xff\xfe",
            b"null",
            b"[]",
            b"7",
            br#"{"Code":7,"RequestId":[1]}"#,
            br#"{"Code":"X","Message":{"a":1}}"#,
        ];
        for body in bodies {
            for status in [0, 100, 200, 204, 302, 400, 429, 500, 599, 999] {
                match parse_reply("A", status, Some("x"), body) {
                    Ok(_) => assert!((200..300).contains(&status)),
                    Err(e) => assert!(
                        matches!(
                            e.kind,
                            ErrorKind::VendorInternal
                                | ErrorKind::Unavailable
                                | ErrorKind::RateLimited
                        ),
                        "{status} {:?}: {:?}",
                        String::from_utf8_lossy(body),
                        e.kind
                    ),
                }
            }
        }
        let e = parse_reply("A", 200, None, b"[]").expect_err("array");
        assert_eq!(e.kind, ErrorKind::VendorInternal);
        assert!(
            e.message.contains("could not be understood"),
            "{}",
            e.message
        );
    }
}
