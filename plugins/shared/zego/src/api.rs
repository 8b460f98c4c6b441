//! One signed ZEGO server-API call (`?Action=…&<common parameters>`, a `GET` with everything in
//! the query or a `POST` with the business parameters as a JSON body), and reading the
//! `{"Code", "Message", "RequestId", "Data"}` envelope.
//!
//! [`build_request`] and [`Service::parse_reply`] are pure; [`Service::call`] is the thin part
//! that reads the call context and talks to the host.

use ingest_plugin_sdk::error::bad_vendor_response;
use ingest_plugin_sdk::http::Idempotent;
use ingest_plugin_sdk::{ErrorKind, ProviderError, config, context, error, http as transport};
use serde_json::{Map, Value};

use crate::Service;
use crate::errors::{http_error, vendor_error};
use crate::settings::Settings;
use crate::sign;

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

/// `GET {base_url}?{query}` without a body, or `POST {base_url}?{query}` with a JSON `body`.
/// No `Host` header is set (the host derives it from the URL). `Describe*` actions are
/// queries, sent as idempotent (the host may repeat them after a broken connection).
pub fn build_request(
    base_url: &str,
    action: &str,
    query: &str,
    body: Option<Vec<u8>>,
) -> Result<::http::Request<Vec<u8>>, ProviderError> {
    let mut builder = ::http::Request::builder()
        .uri(format!("{base_url}?{query}"))
        .header(::http::header::ACCEPT, "application/json");
    if action.starts_with("Describe") {
        builder = builder.extension(Idempotent(true));
    }
    let built = match body {
        None => builder.method(::http::Method::GET).body(Vec::new()),
        Some(body) => builder
            .method(::http::Method::POST)
            .header(::http::header::CONTENT_TYPE, "application/json")
            .body(body),
    };
    built.map_err(|e| {
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

impl Service {
    /// Reads the vendor's answer: `Data` when `Code` is 0, else the error mapped by this
    /// service's code table.
    pub fn parse_reply(
        &self,
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
                self.codes,
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

    /// Signs and sends `action` with its own query `params` (the common ones are appended) and,
    /// for a `POST`, a JSON `body`; reads the answer.
    pub fn call(
        &self,
        settings: &Settings,
        action: &str,
        params: Vec<(&'static str, String)>,
        body: Option<&Value>,
    ) -> Result<Reply, ProviderError> {
        let base_url = self.endpoint(config::endpoint().as_deref(), &settings.host)?;
        let timestamp = context::now_ms() / 1000;
        let nonce = sign::nonce(&context::next_nonce())?;
        let body = body
            .map(|body| {
                serde_json::to_vec(body).map_err(|e| {
                    error::new(
                        ErrorKind::PluginFault,
                        format!("the plugin could not encode the {action} body: {e}"),
                    )
                })
            })
            .transpose()?;
        let mut all = vec![("Action", action.to_string())];
        all.extend(params);
        all.extend(sign::common_params(
            settings.app_id,
            &nonce,
            timestamp,
            settings.is_test,
        )?);
        let request = build_request(&base_url, action, &sign::query(&all), body)?;
        ingest_plugin_sdk::debug!("calling ZEGO {action} at {base_url}");
        transport::exchange(
            "ZEGO",
            action,
            request,
            |status, retry_after, body| self.parse_reply(action, status, retry_after, body),
            |r| r.request_id.as_deref(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::tests::RTC;

    /// The whole call under a test host: the nonce, timestamp and MD5 signature the host
    /// computes, in the order sent. The signature was computed independently with Python's
    /// `hashlib.md5` over `1234567890` ‖ `e0cca2965509df67` ‖ the secret ‖ `1700000000`.
    #[test]
    fn a_call_is_signed_by_the_host() {
        use ingest_plugin_sdk::step::{self, Step};
        use ingest_plugin_sdk::testing::TestHost;

        let _host = TestHost::new()
            .secret(sign::SECRET_SERVER, "1234567890abcdef1234567890abcdef")
            .now_ms(1_700_000_000_123)
            .install();
        let settings = Settings {
            app_id: 1_234_567_890,
            host: RTC.default_host.into(),
            is_test: Some(true),
        };
        let body = serde_json::json!({"PlayerId": "p"});
        let Step::Send(sent) = step::run(Vec::new(), || {
            RTC.call(
                &settings,
                "DescribePlayers",
                vec![("X", "a b".into())],
                Some(&body),
            )
        }) else {
            panic!("the call sends its request first");
        };
        assert_eq!(
            sent.url,
            "https://rtc-api.zego.im/?Action=DescribePlayers&X=a%20b&AppId=1234567890\
             &SignatureNonce=e0cca2965509df67&Timestamp=1700000000&SignatureVersion=2.0\
             &Signature=eefa99ed9ac0979288cb9f26237089de&IsTest=true"
        );
        assert_eq!(sent.body, br#"{"PlayerId":"p"}"#);
        assert!(sent.idempotent);
    }

    #[test]
    fn request_is_a_plain_get() {
        let req = build_request("http://127.0.0.1:9104/", "A", "Action=A&x=1", None).expect("req");
        assert_eq!(req.method(), ::http::Method::GET);
        assert_eq!(req.uri().to_string(), "http://127.0.0.1:9104/?Action=A&x=1");
        assert!(req.headers().get("host").is_none());
    }

    #[test]
    fn request_is_a_json_post() {
        let req = build_request(
            "http://127.0.0.1:9104/",
            "A",
            "Action=A&x=1",
            Some(br#"{"PlayerId":"p"}"#.to_vec()),
        )
        .expect("req");
        assert_eq!(req.method(), ::http::Method::POST);
        assert_eq!(req.uri().to_string(), "http://127.0.0.1:9104/?Action=A&x=1");
        assert_eq!(req.headers()["content-type"], "application/json");
        assert!(req.headers().get("host").is_none());
        assert_eq!(req.body(), br#"{"PlayerId":"p"}"#);
    }

    #[test]
    fn only_queries_are_idempotent() {
        let sent = |action: &str, body: Option<Vec<u8>>| {
            let req = build_request("https://h/", action, "Action=x", body).expect("req");
            ingest_plugin_sdk::http::vendor_request(req)
                .expect("vendor request")
                .idempotent
        };
        assert!(sent("DescribePlayers", Some(b"{}".to_vec())));
        assert!(!sent("CreatePlayer", Some(b"{}".to_vec())));
        assert!(!sent("DeletePlayer", Some(b"{}".to_vec())));
        assert!(
            !sent("RTMPDispatchV2", None),
            "a GET that issues an address is not marked idempotent"
        );
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
                if let Err(e) = RTC.parse_reply("A", status, None, body) {
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
        let e = RTC
            .parse_reply("A", 200, None, br#"{"Code":"x","RequestId":"r"}"#)
            .expect_err("e");
        assert_eq!(e.kind, ErrorKind::VendorInternal);
        assert_eq!(e.vendor_request_id.as_deref(), Some("r"));
        assert!(
            RTC.parse_reply("A", 200, None, br#"{"Code":0,"Message":[1]}"#)
                .is_ok()
        );
    }
}
