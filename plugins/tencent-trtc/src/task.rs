//! `stop` → `StopStreamIngest`, `status` → `DescribeStreamIngest` and `update` →
//! `UpdateStreamIngest`, each keyed by the TaskId that `start` returned as the session
//! reference. Pure.

use ingest_plugin_sdk::error::{bad_vendor_response, invalid_argument};
use ingest_plugin_sdk::options::Options;
use ingest_plugin_sdk::{
    IngestState, IngestStatus, ProviderError, StopResult, UpdateRequest, UpdateResult,
};
use serde::Serialize;

use crate::api::Reply;
use crate::start::{MAX_SESSION_REF, validate_stream_url};

/// The `options` keys an update reads.
pub const UPDATE_OPTIONS: [&str; 4] = ["volume", "is_pause", "enable_progress", "tempo"];

/// The body of `UpdateStreamIngest`: the task and only the fields being changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateBody {
    /// `SdkAppId`.
    pub sdk_app_id: u64,
    /// `TaskId`.
    pub task_id: String,
    /// `StreamUrl`: a new source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_url: Option<String>,
    /// `Volume`: percent (0..100 on the international site, 0..200 on the Chinese one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume: Option<i64>,
    /// `IsPause`: pause (true) or resume (false) the relay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_pause: Option<bool>,
    /// `EnableProgress` (Chinese site).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_progress: Option<bool>,
    /// `Tempo`: playback speed (Chinese site).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tempo: Option<f64>,
}

/// The `UpdateStreamIngest` body for `request`: a new `stream_url` and/or the options in
/// [`UPDATE_OPTIONS`]. Any other option, or nothing to change, is `invalid-argument`.
pub fn update_body(sdk_app_id: u64, request: &UpdateRequest) -> Result<UpdateBody, ProviderError> {
    let TaskBody {
        sdk_app_id,
        task_id,
    } = body(sdk_app_id, &request.session_ref)?;
    let options = Options::parse(&request.options_json)?;
    options.only(&UPDATE_OPTIONS)?;
    let stream_url = match &request.stream_url {
        Some(u) => Some(validate_stream_url(Some(u))?),
        None => None,
    };
    let tempo = match options.get("tempo") {
        None => None,
        Some(v) => match v.as_f64() {
            Some(t) if t > 0.0 && t <= 10.0 => Some(t),
            _ => {
                return Err(invalid_argument(
                    "`options.tempo` must be a number above 0 and at most 10 (playback speed, 1 is normal; Tencent publishes no range)",
                ));
            }
        },
    };
    let update = UpdateBody {
        sdk_app_id,
        task_id,
        stream_url,
        volume: options.int("volume", 0, 200)?,
        is_pause: options.bool("is_pause")?,
        enable_progress: options.bool("enable_progress")?,
        tempo,
    };
    if update.stream_url.is_none()
        && update.volume.is_none()
        && update.is_pause.is_none()
        && update.enable_progress.is_none()
        && update.tempo.is_none()
    {
        return Err(invalid_argument(format!(
            "the update changes nothing: give `stream_url` or one of options.{}",
            UPDATE_OPTIONS.join(", options.")
        )));
    }
    Ok(update)
}

/// The result of a successful `UpdateStreamIngest` (the task id does not change).
pub fn updated(reply: Reply) -> UpdateResult {
    UpdateResult {
        session_ref: None,
        vendor_request_id: reply.request_id,
    }
}

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

    fn update_request(stream_url: Option<&str>, options: &str) -> UpdateRequest {
        UpdateRequest {
            session_ref: "task-1".into(),
            stream_url: stream_url.map(str::to_string),
            options_json: options.into(),
        }
    }

    #[test]
    fn update_sends_only_what_changes() {
        let b =
            update_body(7, &update_request(Some("https://src.example/b.flv"), "{}")).expect("body");
        assert_eq!(
            serde_json::to_string(&b).expect("json"),
            r#"{"SdkAppId":7,"TaskId":"task-1","StreamUrl":"https://src.example/b.flv"}"#
        );
        let b = update_body(
            7,
            &update_request(None, r#"{"volume":40,"is_pause":true,"tempo":1.5}"#),
        )
        .expect("body");
        assert_eq!(
            serde_json::to_string(&b).expect("json"),
            r#"{"SdkAppId":7,"TaskId":"task-1","Volume":40,"IsPause":true,"Tempo":1.5}"#
        );
    }

    #[test]
    fn update_refuses_unknown_keys_bad_values_and_no_change() {
        let invalid = |url: Option<&str>, o: &str| {
            let e = update_body(7, &update_request(url, o)).expect_err(o);
            assert_eq!(e.kind, ErrorKind::InvalidArgument, "{o}");
            e.message
        };
        assert!(invalid(None, r#"{"volum":40}"#).contains("`options.volum`"));
        assert!(invalid(None, r#"{"room_id":"9"}"#).contains("`options.room_id`"));
        assert!(invalid(None, r#"{"volume":201}"#).contains("`options.volume`"));
        assert!(invalid(None, r#"{"is_pause":"yes"}"#).contains("`options.is_pause`"));
        assert!(invalid(None, r#"{"tempo":0}"#).contains("`options.tempo`"));
        assert!(invalid(None, "{}").contains("changes nothing"));
        assert!(invalid(Some("ftp://x/y"), "{}").contains("`stream_url`"));
    }

    #[test]
    fn update_result_keeps_the_task() {
        let r = updated(reply(
            r#"{"Response":{"Status":"InProgress","RequestId":"r"}}"#,
        ));
        assert_eq!(r.session_ref, None);
        assert_eq!(r.vendor_request_id.as_deref(), Some("r"));
    }

    #[test]
    fn stop_result() {
        let r = stopped(reply(r#"{"Response":{"RequestId":"r"}}"#));
        assert_eq!(r.vendor_request_id.as_deref(), Some("r"));
    }
}
