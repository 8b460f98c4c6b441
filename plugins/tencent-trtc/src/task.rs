//! `stop` → `StopStreamIngest`, `status` → `DescribeStreamIngest` and `update` →
//! `UpdateStreamIngest`, each keyed by the TaskId that `start` returned as the session
//! reference. Pure.

use ingest_plugin_sdk::error::{self, bad_vendor_response, invalid_argument};
use ingest_plugin_sdk::options::Options;
use ingest_plugin_sdk::{
    ErrorKind, IngestState, IngestStatus, ProviderError, StopResult, UpdateRequest, UpdateResult,
    session,
};
use serde::Serialize;

use crate::api::Reply;
use crate::start::{tempo, validate_stream_url};

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
    let tempo = tempo(&options)?;
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

/// The result of a successful `UpdateStreamIngest` answer, read from its `Status`:
/// `InProgress` is the update applied to the running task (the task id does not change);
/// `NotExist` is the task gone (stopped, or its source finished) — `not-found`, never an
/// update done. A missing or other `Status` is `vendor-internal`: the plugin cannot tell
/// whether the change was applied.
pub fn updated(reply: Reply) -> Result<UpdateResult, ProviderError> {
    match reply.str("Status") {
        Some("InProgress") => Ok(UpdateResult {
            session_ref: None,
            vendor_request_id: reply.request_id,
        }),
        Some("NotExist") => Err(reply.attach(error::new(
            ErrorKind::NotFound,
            "Tencent TRTC answered UpdateStreamIngest with Status `NotExist`: the ingest task no \
             longer exists (stopped, or its source finished), so nothing was updated; start a new \
             ingest",
        ))),
        Some(other) => Err(reply.attach(bad_vendor_response(format!(
            "UpdateStreamIngest answered Status `{}` (documented: InProgress, NotExist); whether \
             the update was applied is unknown",
            other.chars().take(64).collect::<String>()
        )))),
        None => Err(reply.attach(bad_vendor_response(
            "UpdateStreamIngest returned no `Status` string; whether the update was applied is \
             unknown",
        ))),
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
    if !session::fits(session_ref) {
        return Err(invalid_argument(format!(
            "`session_ref` must be the TaskId that start returned (1 to {} bytes)",
            session::MAX_SESSION_REF_BYTES
        )));
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
        ))
        .expect("updated");
        assert_eq!(r.session_ref, None);
        assert_eq!(r.vendor_request_id.as_deref(), Some("r"));
    }

    /// `Status: NotExist` is the task gone: `not-found`, never an update done.
    #[test]
    fn update_of_a_gone_task_is_not_found() {
        let e = updated(reply(
            r#"{"Response":{"Status":"NotExist","RequestId":"r"}}"#,
        ))
        .expect_err("gone");
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert!(!e.retryable);
        assert!(e.message.contains("NotExist"), "{}", e.message);
        assert_eq!(e.vendor_request_id.as_deref(), Some("r"));
        for bad in [
            r#"{"Response":{"RequestId":"r"}}"#,
            r#"{"Response":{"Status":7,"RequestId":"r"}}"#,
            r#"{"Response":{"Status":"Paused","RequestId":"r"}}"#,
            r#"{"Response":{"Status":null,"RequestId":"r"}}"#,
        ] {
            let e = updated(reply(bad)).expect_err(bad);
            assert_eq!(e.kind, ErrorKind::VendorInternal, "{bad}");
            assert_eq!(e.vendor_request_id.as_deref(), Some("r"));
        }
    }

    /// `Tempo` is one of Tencent's seven speeds; anything else is refused naming them.
    #[test]
    fn update_tempo_takes_only_the_published_speeds() {
        for (given, sent) in [
            ("0.5", "0.5"),
            ("0.75", "0.75"),
            ("1", "1.0"),
            ("1.0", "1.0"),
            ("1.25", "1.25"),
            ("1.5", "1.5"),
            ("\"1.75\"", "1.75"),
            ("2", "2.0"),
        ] {
            let b = update_body(7, &update_request(None, &format!(r#"{{"tempo":{given}}}"#)))
                .expect(given);
            assert_eq!(
                serde_json::to_string(&b).expect("json"),
                format!(r#"{{"SdkAppId":7,"TaskId":"task-1","Tempo":{sent}}}"#)
            );
        }
        for bad in [
            "1.3", "0", "-1", "0.25", "2.5", "3", "10", "\"fast\"", "true", "[1]",
        ] {
            let e = update_body(7, &update_request(None, &format!(r#"{{"tempo":{bad}}}"#)))
                .expect_err(bad);
            assert_eq!(e.kind, ErrorKind::InvalidArgument, "{bad}");
            assert!(
                e.message.contains("`options.tempo`")
                    && e.message
                        .contains("0.5, 0.75, 1.0, 1.25, 1.5, 1.75 and 2.0"),
                "{bad}: {}",
                e.message
            );
        }
    }

    #[test]
    fn stop_result() {
        let r = stopped(reply(r#"{"Response":{"RequestId":"r"}}"#));
        assert_eq!(r.vendor_request_id.as_deref(), Some("r"));
    }
}
