//! `stop` → `StopStreamIngest` and `status` → `DescribeStreamIngest`, both keyed by the TaskId
//! that `start` returned as the session reference. Pure.

use ingest_plugin_sdk::error::{bad_vendor_response, invalid_argument};
use ingest_plugin_sdk::{IngestState, IngestStatus, ProviderError, StopResult};
use serde::Serialize;

use crate::api::Reply;
use crate::start::MAX_SESSION_REF;

/// The body of `StopStreamIngest` and `DescribeStreamIngest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskBody {
    /// `SdkAppId`.
    pub sdk_app_id: u64,
    /// `TaskId`.
    pub task_id: String,
}

/// The body for the task named by `session_ref` (the TaskId, verbatim).
pub fn body(sdk_app_id: u64, session_ref: &str) -> Result<TaskBody, ProviderError> {
    if session_ref.is_empty() || session_ref.len() > MAX_SESSION_REF {
        return Err(invalid_argument(
            "`session_ref` must be the TaskId that start returned (1 to 2048 bytes)",
        ));
    }
    Ok(TaskBody {
        sdk_app_id,
        task_id: session_ref.to_string(),
    })
}

/// The result of a successful `StopStreamIngest`.
pub fn stopped(reply: Reply) -> StopResult {
    StopResult {
        vendor_request_id: reply.request_id,
    }
}

/// The normalized status from a `DescribeStreamIngest` answer.
pub fn status(reply: Reply) -> Result<IngestStatus, ProviderError> {
    let Some(vendor_state) = reply.str("Status").map(str::to_string) else {
        return Err(reply.attach(bad_vendor_response(
            "DescribeStreamIngest returned no `Status` string",
        )));
    };
    let state = match vendor_state.as_str() {
        "InProgress" => IngestState::Running,
        "NotExist" => IngestState::NotFound,
        _ => IngestState::Unknown,
    };
    Ok(IngestStatus {
        state,
        vendor_state: Some(vendor_state),
        detail: None,
        vendor_request_id: reply.request_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest_plugin_sdk::ErrorKind;

    fn reply(json: &str) -> Reply {
        crate::api::parse_reply("DescribeStreamIngest", 200, None, json.as_bytes())
            .expect("envelope")
    }

    #[test]
    fn task_body() {
        let b = body(1400000001, "a+b.c-d_e").expect("body");
        assert_eq!(
            serde_json::to_string(&b).expect("json"),
            r#"{"SdkAppId":1400000001,"TaskId":"a+b.c-d_e"}"#
        );
        assert_eq!(
            body(1, "").expect_err("empty").kind,
            ErrorKind::InvalidArgument
        );
        assert!(body(1, &"x".repeat(2049)).is_err());
    }

    #[test]
    fn states() {
        let s = status(reply(
            r#"{"Response":{"Status":"InProgress","RequestId":"r"}}"#,
        ))
        .expect("ok");
        assert_eq!(s.state, IngestState::Running);
        assert_eq!(s.vendor_state.as_deref(), Some("InProgress"));
        assert_eq!(s.vendor_request_id.as_deref(), Some("r"));

        let s = status(reply(r#"{"Response":{"Status":"NotExist"}}"#)).expect("ok");
        assert_eq!(s.state, IngestState::NotFound);

        let s = status(reply(r#"{"Response":{"Status":"Paused"}}"#)).expect("ok");
        assert_eq!(s.state, IngestState::Unknown);
        assert_eq!(s.vendor_state.as_deref(), Some("Paused"));

        for bad in [
            r#"{"Response":{"RequestId":"r"}}"#,
            r#"{"Response":{"Status":1,"RequestId":"r"}}"#,
        ] {
            let e = status(reply(bad)).expect_err(bad);
            assert_eq!(e.kind, ErrorKind::VendorInternal);
            assert_eq!(e.vendor_request_id.as_deref(), Some("r"));
        }
    }

    #[test]
    fn stop_result() {
        let r = stopped(reply(r#"{"Response":{"RequestId":"r"}}"#));
        assert_eq!(r.vendor_request_id.as_deref(), Some("r"));
    }
}
