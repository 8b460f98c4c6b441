//! `update` → `startrtmp` again for the same task: Jocloud's documented way to change a
//! running relay's destinations or mixing layout. Pure.
//!
//! `startrtmp` replaces a task's whole configuration and the plugin keeps none of it (the
//! session reference names only the task: room and task id, or room and uid), so an update
//! carries the whole new configuration: every destination, and for a mixed relay the whole
//! mixing configuration. The task itself cannot change: its room, task id and uid come from the
//! session reference, so the reference stays valid and an update never returns a new one.
//!
//! Jocloud has no query API and `startrtmp` for a task that is not running starts it: the
//! plugin cannot tell the two apart, so an update of a relay that has ended runs it again with
//! the new configuration (see the crate's README, "Update", for why the plugin does not stop
//! the relay first).

use ingest_plugin_sdk::error::invalid_argument;
use ingest_plugin_sdk::options::Options;
use ingest_plugin_sdk::{ProviderError, UpdateRequest};

use crate::start::{self, STREAM_MIXED, STREAM_SOURCE, SessionRef, StartBody};

/// The options an update of a source relay (`uid`) reads.
pub const SOURCE_KEYS: &[&str] = &["destinations"];
/// The options an update of a mixed relay (`taskid`) reads.
pub const MIXED_KEYS: &[&str] = &["destinations", "template_id", "mix_input", "mix_output"];

/// Validates `req` and builds the `startrtmp` body that reconfigures the relay its session
/// reference names, for application `appid`. Every refusal is `invalid-argument` naming the
/// field, before any vendor call.
pub fn build(req: &UpdateRequest, appid: u64) -> Result<StartBody, ProviderError> {
    let target = SessionRef::decode(&req.session_ref)?;
    let options = Options::parse(&req.options_json)?;
    let mixed = target.taskid.is_some();
    options.only(if mixed { MIXED_KEYS } else { SOURCE_KEYS })?;
    let stream_url = req.stream_url.as_deref();
    if stream_url.is_none() && options.is_empty() {
        return Err(invalid_argument(
            "an update must change something: give `stream_url` and/or `options` \
             (`destinations`, and for a mixed relay `template_id`, `mix_input`, `mix_output`)",
        ));
    }
    if stream_url.is_none() && options.get("destinations").is_none() {
        return Err(invalid_argument(
            "`stream_url` or `options.destinations` is required: Jocloud's startrtmp replaces \
             the relay's whole configuration, so an update lists every destination the relay \
             should push to (1 to 5), even when only the layout changes",
        ));
    }
    let rtmpurl = start::destinations(stream_url, &options)?.join(",");
    let mixconfig = if mixed {
        match start::mix_config(&options)? {
            Some(mix) => Some(mix),
            None => {
                return Err(invalid_argument(
                    "`options.mix_output` and `options.template_id` or `options.mix_input` are \
                     required to update a mixed relay: Jocloud's startrtmp replaces its whole \
                     mixing configuration, so an update repeats it, changed or not",
                ));
            }
        }
    } else {
        None
    };
    Ok(StartBody {
        appid,
        roomid: target.roomid,
        rtmpurl,
        streamtype: if mixed { STREAM_MIXED } else { STREAM_SOURCE },
        taskid: target.taskid,
        mixconfig,
        uid: target.uid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest_plugin_sdk::ErrorKind;

    const SOURCE: &str = r#"{"roomid":"room-42","uid":"alice"}"#;
    const MIXED: &str = r#"{"roomid":"room-42","taskid":"mix-1"}"#;

    fn request(session_ref: &str, stream_url: Option<&str>, options: &str) -> UpdateRequest {
        UpdateRequest {
            session_ref: session_ref.into(),
            stream_url: stream_url.map(Into::into),
            options_json: options.into(),
        }
    }

    fn invalid(req: &UpdateRequest) -> String {
        let e = build(req, 1).expect_err("should be rejected");
        assert_eq!(e.kind, ErrorKind::InvalidArgument, "{}", e.message);
        e.message
    }

    #[test]
    fn source_relay_gets_new_destinations() {
        let body = build(
            &request(
                SOURCE,
                Some(" rtmp://cdn.example/live/b "),
                r#"{"destinations":["rtmps://cdn2.example/live/c"]}"#,
            ),
            7,
        )
        .expect("valid");
        assert_eq!(
            serde_json::to_string(&body).expect("json"),
            r#"{"appid":7,"roomid":"room-42","rtmpurl":"rtmp://cdn.example/live/b,rtmps://cdn2.example/live/c","streamtype":2,"uid":"alice"}"#
        );
        // Only options.destinations; only stream_url.
        let body = build(
            &request(SOURCE, None, r#"{"destinations":["rtmp://a/1"]}"#),
            7,
        )
        .expect("valid");
        assert_eq!(body.rtmpurl, "rtmp://a/1");
        let body = build(&request(SOURCE, Some("rtmp://a/2"), "{}"), 7).expect("valid");
        assert_eq!(body.rtmpurl, "rtmp://a/2");
    }

    #[test]
    fn mixed_relay_gets_its_whole_configuration() {
        let body = build(
            &request(
                MIXED,
                Some("rtmp://cdn.example/live/m"),
                r#"{"template_id":4,"mix_output":{"width":720},"destinations":["rtmp://a/2"]}"#,
            ),
            7,
        )
        .expect("valid");
        assert_eq!(
            serde_json::to_string(&body).expect("json"),
            r#"{"appid":7,"roomid":"room-42","rtmpurl":"rtmp://cdn.example/live/m,rtmp://a/2","streamtype":1,"taskid":"mix-1","mixconfig":{"output":{"width":720},"templateid":4}}"#
        );
        let body = build(
            &request(
                MIXED,
                None,
                r#"{"destinations":["rtmp://a/1"],"mix_input":[{"uid":"bob"}],"mix_output":{}}"#,
            ),
            7,
        )
        .expect("custom layout");
        let mix = body.mixconfig.expect("mix");
        assert_eq!(
            (mix.templateid, mix.input.map(|i| i.len())),
            (None, Some(1))
        );
    }

    #[test]
    fn refuses_keys_it_does_not_read_and_empty_changes() {
        for (session_ref, options, needle) in [
            (SOURCE, r#"{"template_id":1}"#, "`options.template_id`"),
            (SOURCE, r#"{"mix_output":{}}"#, "`options.mix_output`"),
            (MIXED, r#"{"task_id":"other"}"#, "`options.task_id`"),
            (
                MIXED,
                r#"{"destinatons":["rtmp://a/1"]}"#,
                "`options.destinatons`",
            ),
            (SOURCE, r#"{"stream_id":"x"}"#, "`options.stream_id`"),
        ] {
            let msg = invalid(&request(session_ref, Some("rtmp://a/1"), options));
            assert!(msg.contains(needle), "{options}: {msg}");
            assert!(msg.contains("it can change: destinations"), "{msg}");
        }
        for (session_ref, stream_url, options) in [
            (SOURCE, None, "{}"),
            (SOURCE, None, ""),
            (MIXED, None, "{}"),
        ] {
            let msg = invalid(&request(session_ref, stream_url, options));
            assert!(msg.contains("must change something"), "{options}: {msg}");
        }
        // A blank stream_url is refused as blank, not read as absent (the host refuses it
        // before the plugin runs; the plugin keeps the same rule).
        let msg = invalid(&request(SOURCE, Some(" "), r#"{"destinations":null}"#));
        assert!(msg.contains("`stream_url` is blank"), "{msg}");
    }

    #[test]
    fn an_update_carries_the_whole_configuration() {
        // Layout only: the destinations are still needed.
        let msg = invalid(&request(
            MIXED,
            None,
            r#"{"template_id":2,"mix_output":{}}"#,
        ));
        assert!(msg.contains("`options.destinations`"), "{msg}");
        // Destinations only for a mixed relay: the mixing configuration is still needed.
        let msg = invalid(&request(MIXED, Some("rtmp://a/1"), "{}"));
        assert!(msg.contains("`options.mix_output`"), "{msg}");
        let msg = invalid(&request(MIXED, Some("rtmp://a/1"), r#"{"template_id":2}"#));
        assert!(msg.contains("`options.mix_output`"), "{msg}");
        let msg = invalid(&request(MIXED, Some("rtmp://a/1"), r#"{"mix_output":{}}"#));
        assert!(msg.contains("`options.template_id`"), "{msg}");
    }

    #[test]
    fn destinations_follow_the_start_rules() {
        let six = r#"{"destinations":["rtmp://a/1","rtmp://a/2","rtmp://a/3","rtmp://a/4","rtmp://a/5"]}"#;
        assert!(invalid(&request(SOURCE, Some("rtmp://a/0"), six)).contains("at most 5"));
        for (stream_url, options, needle) in [
            (Some("https://cdn/x"), "{}", "`stream_url`"),
            (
                None,
                r#"{"destinations":["srt://x"]}"#,
                "`options.destinations[0]`",
            ),
            (
                None,
                r#"{"destinations":"rtmp://a/1"}"#,
                "`options.destinations`",
            ),
            (
                Some("rtmp://a/1"),
                r#"{"destinations":["rtmp://a/1"]}"#,
                "repeats",
            ),
            (None, r#"{"destinations":[]}"#, "`stream_url`"),
        ] {
            let msg = invalid(&request(SOURCE, stream_url, options));
            assert!(msg.contains(needle), "{options}: {msg}");
        }
        let msg = invalid(&request(
            MIXED,
            Some("rtmp://a/1"),
            r#"{"template_id":9,"mix_output":{},"destinations":["rtmp://a/2"]}"#,
        ));
        assert!(msg.contains("`options.template_id`"), "{msg}");
    }

    #[test]
    fn the_session_reference_must_be_one_start_made() {
        for bad in [
            "",
            "x",
            r#"{"roomid":"r"}"#,
            r#"{"roomid":"r","uid":"u","x":1}"#,
        ] {
            let msg = invalid(&request(bad, Some("rtmp://a/1"), "{}"));
            assert!(msg.contains("`session_ref`"), "{bad}: {msg}");
        }
    }
}
