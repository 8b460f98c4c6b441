//! `ingest-gateway call --dry-run`: the exact vendor requests, byte-identical across runs.

use std::process::Command;

use crate::support::*;

fn config_file(dir: &std::path::Path) -> std::path::PathBuf {
    let toml = trtc_provider("trtc", "http://127.0.0.1:9101", "");
    let path = dir.join("gateway.toml");
    std::fs::write(&path, toml).expect("write config");
    path
}

#[test]
fn dry_run_is_byte_identical_and_shows_the_wire_request() {
    let dir = temp_dir("dry-run");
    let config = config_file(&dir);
    let input = dir.join("start.json");
    std::fs::write(&input, pull_in("trtc", "42").to_string()).expect("input");
    let respond = dir.join("respond.json");
    std::fs::write(
        &respond,
        r#"{"status": 200, "headers": [["content-type", "application/json"]], "body": "{\"Response\": {\"TaskId\": \"t-1+x.y\", \"RequestId\": \"req-9\"}}"}"#,
    )
    .expect("respond");
    let args = dry_run_args(&config, "trtc", "start", &input, Some(&respond));
    let run = dry_run_twice(&args);
    assert!(run.ok, "{}", run.stderr);
    let first = run.out;

    let out: serde_json::Value = serde_json::from_str(&first).expect("json");
    let req = &out["requests"][0];
    assert_eq!(req["method"], "POST");
    assert_eq!(req["url"], "http://127.0.0.1:9101/");
    let headers: Vec<(String, String)> =
        serde_json::from_value(req["headers"].clone()).expect("headers");
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get("x-tc-timestamp").as_deref(), Some("1700000000"));
    assert_eq!(get("x-tc-action").as_deref(), Some("StartStreamIngest"));
    let auth = get("authorization").expect("authorization");
    assert!(auth.starts_with("TC3-HMAC-SHA256 Credential={{secret:secret_id}}/2023-11-14/trtc/tc3_request, SignedHeaders="), "{auth}");
    let body: serde_json::Value =
        serde_json::from_str(req["body"].as_str().expect("body")).expect("body json");
    assert_eq!(body["RoomId"], "42");
    // No `room_id_type` in the request or the config: Tencent's default, the integer room 42.
    assert_eq!(body["RoomIdType"], 1, "{body}");
    assert_eq!(body["SdkAppId"], SDK_APP_ID);
    assert_eq!(out["result"]["ok"]["vendor_task_id"], "t-1+x.y");
    assert_eq!(out["result"]["ok"]["session_ref"], "t-1+x.y");

    // Another nonce or time changes nothing but what depends on them.
    let mut other = args.to_vec();
    other[9] = "1700000001".into();
    let (third, err, ok) = run_cli(&other);
    assert!(ok, "another time is a valid dry run too: {err}");
    assert_ne!(first, third);
}

#[test]
fn dry_run_without_a_response_prints_the_request_and_a_transport_error() {
    let dir = temp_dir("dry-run-noresp");
    let config = config_file(&dir);
    let config = config.to_str().expect("utf8");
    let args = [
        "call",
        "--config",
        config,
        "--provider",
        "trtc",
        "status",
        "--input",
        "-",
        "--now",
        "1700000000",
        "--nonce",
        "x",
        "--dry-run",
    ];
    let (out, stderr, ok) = run_with_stdin(&args, r#"{"session_ref": "task-1"}"#);
    assert!(
        ok,
        "a dry run exits 0 even when the operation fails: {stderr}"
    );
    assert_no_secrets("dry-run output", &out);
    let out: serde_json::Value = serde_json::from_str(&out).expect("json");
    let body: serde_json::Value =
        serde_json::from_str(out["requests"][0]["body"].as_str().expect("body"))
            .expect("json body");
    assert_eq!(body["TaskId"], "task-1");
    assert_eq!(out["result"]["error"]["kind"], "unavailable", "{out}");

    // An input of the wrong shape is refused with what was expected.
    let (_, stderr, ok) = run_with_stdin(&args, r#"{"task": "x"}"#);
    assert!(!ok);
    assert!(stderr.contains("session_ref"), "{stderr}");
    // A key beside it is a mistake too (a misspelt field must not be ignored).
    let (_, stderr, ok) = run_with_stdin(&args, r#"{"session_ref": "task-1", "room": "x"}"#);
    assert!(!ok);
    assert!(stderr.contains("nothing else"), "{stderr}");
}

fn run_with_stdin(args: &[&str], stdin: &str) -> (String, String, bool) {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_ingest-gateway"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run ingest-gateway");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}
