//! One signed ZEGO server-API call (`GET /?Action=…`, everything in the query), and reading
//! the `{"Code", "Message", "RequestId", "Data"}` envelope: [`zego_shared::api`] with this
//! API's host and codes ([`SERVICE`]).

use ingest_plugin_sdk::ProviderError;
pub use zego_shared::api::{Reply, build_request};

use crate::settings::{SERVICE, Settings};

/// Reads the vendor's answer: `Data` when `Code` is 0, else the mapped error.
pub fn parse_reply(
    action: &str,
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
) -> Result<Reply, ProviderError> {
    SERVICE.parse_reply(action, status, retry_after, body)
}

/// Signs and sends `action` with its own `params` (the common ones are appended), and reads
/// the answer.
pub fn call(
    settings: &Settings,
    action: &str,
    params: Vec<(&'static str, String)>,
) -> Result<Reply, ProviderError> {
    SERVICE.call(settings, action, params, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest_plugin_sdk::ErrorKind;
    use serde_json::Value;

    #[test]
    fn request_is_a_plain_get() {
        let req = build_request("http://127.0.0.1:9104/", "A", "Action=A&x=1", None).expect("req");
        assert_eq!(req.method(), ::http::Method::GET);
        assert_eq!(req.uri().to_string(), "http://127.0.0.1:9104/?Action=A&x=1");
        assert!(req.headers().get("host").is_none());
    }

    #[test]
    fn success_and_error_envelopes() {
        let r = parse_reply(
            "RTMPDispatchV2",
            200,
            None,
            br#"{"Code":0,"Message":"ok","RequestId":"r1","Data":["rtmp://1.2.3.4:1935/a/b"]}"#,
        )
        .expect("ok");
        assert_eq!(r.request_id.as_deref(), Some("r1"));
        assert_eq!(r.message.as_deref(), Some("ok"));
        assert_eq!(r.data[0], "rtmp://1.2.3.4:1935/a/b");

        let r = parse_reply("A", 200, None, br#"{"Code":"0","RequestId":7}"#).expect("ok");
        assert_eq!(r.request_id.as_deref(), Some("7"));
        assert_eq!(r.data, Value::Null);

        let e = parse_reply(
            "RTMPDispatchV2",
            200,
            None,
            br#"{"Code":30009,"Message":"invalid stream id","RequestId":"r2"}"#,
        )
        .expect_err("error");
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert_eq!(e.vendor_code.as_deref(), Some("30009"));
        assert_eq!(e.vendor_message.as_deref(), Some("invalid stream id"));
        assert_eq!(e.vendor_request_id.as_deref(), Some("r2"));

        // A ZEGO error carried by a non-2xx status still maps by code.
        let e = parse_reply("A", 503, None, br#"{"Code":1010,"Message":"busy"}"#).expect_err("e");
        assert_eq!(e.kind, ErrorKind::RateLimited);
        let e = parse_reply("A", 502, None, b"bad gateway").expect_err("e");
        assert_eq!((e.kind, e.retryable), (ErrorKind::Unavailable, true));
        let e = parse_reply("A", 500, None, br#"{"Code":0,"RequestId":"r"}"#).expect_err("e");
        assert_eq!(e.kind, ErrorKind::Unavailable);
        assert_eq!(e.vendor_request_id.as_deref(), Some("r"));
    }
}
