//! Alibaba ARTC end to end: gateway → alibaba-artc component → ApsaraVideo Live simulator.

use std::collections::{BTreeMap, HashSet};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use ingest_sim::alibaba::{AlibabaSim, AlibabaSimConfig};
use ingest_sim::server::Fault;
use sha1::Sha1;

use crate::support::*;

const APP_ID: &str = "testapp01";

fn provider(id: &str, endpoint: &str, extra: &str) -> String {
    provider_toml(
        id,
        "alibaba-artc",
        endpoint,
        extra,
        &[("app_id", &format!("\"{APP_ID}\""))],
        &[
            ("access_key_id", ALIBABA_ACCESS_KEY_ID),
            ("access_key_secret", ALIBABA_ACCESS_KEY_SECRET),
        ],
    )
}

async fn sim() -> AlibabaSim {
    AlibabaSim::start(AlibabaSimConfig {
        access_key_id: ALIBABA_ACCESS_KEY_ID.to_string(),
        access_key_secret: ALIBABA_ACCESS_KEY_SECRET.to_string(),
        app_id: APP_ID.to_string(),
        max_skew_secs: 930,
        auto_join: false,
    })
    .await
    .expect("simulator starts")
}

fn push_in(provider: &str, room: &str) -> serde_json::Value {
    serde_json::json!({
        "provider": provider,
        "direction": "push-in",
        "room_id": room,
        "user_id": "obs-1",
        "display_name": "OBS studio",
    })
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// The decoded query parameters of a recorded request.
fn query_params(path_and_query: &str) -> BTreeMap<String, String> {
    let query = path_and_query.split_once('?').map_or("", |(_, q)| q);
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let byte = u8::from_str_radix(&s[i + 1..i + 3], 16).expect("hex escape");
            out.push(byte);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf8")
}

/// Alibaba's percent-encoding, written again for the test.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The RPC signature of `params` (without `Signature`), recomputed independently.
fn expected_signature(method: &str, params: &BTreeMap<String, String>) -> String {
    let canonical = params
        .iter()
        .filter(|(k, _)| k.as_str() != "Signature")
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    let to_sign = format!("{method}&%2F&{}", enc(&canonical));
    let mut mac = Hmac::<Sha1>::new_from_slice(format!("{ALIBABA_ACCESS_KEY_SECRET}&").as_bytes())
        .expect("key");
    mac.update(to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn start_issues_a_publish_url_and_status_follows_the_encoder() {
    let sim = sim().await;
    let gw = gateway(&provider("ali", &sim.base_url(), "")).await;

    let before = now_secs();
    let started = call(&gw, "POST", "/v1/ingests", Some(push_in("ali", "room-42"))).await;
    assert_eq!(started.status, 201, "{}", started.text);
    let session = &started.json["session"];
    let issued = sim.addresses();
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].channel_id, "room-42");
    assert_eq!(issued[0].user_id, "obs-1");
    assert_eq!(issued[0].display_name, "OBS studio");
    assert_eq!(session["issued_urls"][0]["purpose"], "publish");
    assert_eq!(session["issued_urls"][0]["url"], issued[0].url.as_str());
    assert_eq!(session["issued_urls"].as_array().map(Vec::len), Some(1));
    assert!(session["vendor_request_id"].is_string(), "{}", started.text);
    assert!(session["vendor_task_id"].is_null());
    let expires_at = session["expires_at"].as_u64().expect("expires_at");
    assert!(
        (before + 35_999..=now_secs() + 36_000).contains(&expires_at),
        "{expires_at}"
    );
    let id = started.json["id"].as_str().expect("id").to_string();

    // On the wire: the real AccessKeyId (the host substituted it), a valid signature.
    let recorded = &sim.requests()[0];
    assert_eq!(recorded.method, "GET");
    let params = query_params(&recorded.path_and_query);
    assert!(params["AccessKeyId"] == ALIBABA_ACCESS_KEY_ID);
    assert_eq!(params["Action"], "CreateRoomRealTimeStreamAddress");
    assert_eq!(params["AppId"], APP_ID);
    assert!(
        !params.contains_key("ExpireTime"),
        "the vendor default applies"
    );
    assert_eq!(params["Signature"], expected_signature("GET", &params));

    // Nobody pushes yet: the address is valid, so the ingest is starting (not gone).
    let status = call(&gw, "GET", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(status.status, 200, "{}", status.text);
    assert_eq!(status.json["state"], "starting", "{}", status.text);
    assert!(status.json["vendor_request_id"].is_string());

    // The encoder starts pushing: the user is online among others.
    for i in 0..4 {
        sim.join("room-42", &format!("viewer-{i}"));
    }
    sim.join("room-42", "obs-1");
    let status = call(&gw, "GET", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(status.json["state"], "running", "{}", status.text);
    assert!(
        status.json["detail"]
            .as_str()
            .is_some_and(|d| d.contains("obs-1")),
        "{}",
        status.text
    );

    // … and stops. The address stays valid (and reusable) until it expires.
    assert!(sim.leave("room-42", "obs-1"));
    let status = call(&gw, "GET", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(status.json["state"], "starting", "{}", status.text);

    // There is no stop: the gateway says so without calling the vendor.
    let before = sim.request_count();
    let stop = call(&gw, "DELETE", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(stop.status, 501, "{}", stop.text);
    assert_eq!(stop.json["kind"], "unsupported");
    let cb = call(
        &gw,
        "POST",
        "/v1/callbacks/ali",
        Some(serde_json::json!({"x": 1})),
    )
    .await;
    assert_eq!(cb.status, 501, "{}", cb.text);
    assert_eq!(sim.request_count(), before);

    // Every request used its own nonce.
    let nonces: HashSet<String> = sim
        .requests()
        .iter()
        .map(|r| query_params(&r.path_and_query)["SignatureNonce"].clone())
        .collect();
    assert_eq!(nonces.len(), sim.request_count());
    assert_no_secrets("the log", "");
}

#[tokio::test]
async fn status_reads_every_page_until_it_finds_the_user() {
    let sim = sim().await;
    let gw = gateway(&provider("ali", &sim.base_url(), "")).await;
    let mut body = push_in("ali", "big-room");
    body["expires_in_secs"] = 600.into();
    let started = call(&gw, "POST", "/v1/ingests", Some(body)).await;
    assert_eq!(started.status, 201, "{}", started.text);
    assert_eq!(sim.addresses()[0].expire_secs, 600);
    let id = started.json["id"].as_str().expect("id").to_string();

    // The vendor lists the newest users first; the encoder joined first, so it is on the
    // last of three pages.
    sim.join("big-room", "obs-1");
    for i in 0..25 {
        sim.join("big-room", &format!("viewer-{i}"));
    }
    let before = sim.request_count();
    let status = call(&gw, "GET", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(status.json["state"], "running", "{}", status.text);
    assert_eq!(sim.request_count() - before, 3, "three pages");
    let pages: Vec<String> = sim.requests()[before..]
        .iter()
        .map(|r| query_params(&r.path_and_query)["PageNum"].clone())
        .collect();
    assert_eq!(pages, ["1", "2", "3"]);
}

/// Every documented code's normalized kind, through the vendor's envelope and HTTP status.
#[tokio::test]
async fn vendor_error_codes_map_to_normalized_kinds() {
    let sim = sim().await;
    let gw = gateway(&provider("ali", &sim.base_url(), "")).await;
    let cases = [
        ("InvalidAccessKeyId.NotFound", "unauthenticated", 502, false),
        ("IncompleteSignature", "unauthenticated", 502, false),
        ("SignatureDoesNotMatch", "unauthenticated", 502, false),
        ("SignatureNonceUsed", "unauthenticated", 502, true),
        ("IllegalTimestamp", "unauthenticated", 502, false),
        ("Throttling", "rate-limited", 429, true),
        ("InsufficientBalance", "quota-exceeded", 429, false),
        ("Forbidden.RAM", "permission-denied", 403, false),
        ("NoPermission", "permission-denied", 403, false),
        ("InvalidParameter", "invalid-argument", 400, false),
        ("MissingParameter", "invalid-argument", 400, false),
        ("InternalError", "vendor-internal", 502, true),
        ("ServiceUnavailable", "unavailable", 503, true),
        ("InputInvalid", "invalid-argument", 400, false),
        ("NoAuth", "permission-denied", 403, false),
        ("ResourceNotExist", "not-found", 404, false),
        ("ServerError", "vendor-internal", 502, true),
        ("SomethingNobodyDocumented", "vendor-internal", 502, false),
    ];
    for (code, kind, status, retryable) in cases {
        sim.fail_next(Fault::VendorError {
            code: code.to_string(),
            message: format!("simulated {code}"),
        });
        let a = call(&gw, "POST", "/v1/ingests", Some(push_in("ali", "r"))).await;
        assert_eq!(a.status, status, "{code}: {}", a.text);
        assert_eq!(a.json["kind"], kind, "{code}: {}", a.text);
        assert_eq!(a.json["vendor_code"], code, "{}", a.text);
        assert_eq!(a.json["vendor_message"], format!("simulated {code}"));
        assert_eq!(a.json["retryable"], retryable, "{code}: {}", a.text);
        assert_eq!(a.json["provider"], "ali");
        assert!(
            a.json["vendor_request_id"].is_string(),
            "{code}: {}",
            a.text
        );
        assert_eq!(a.headers["content-type"], "application/problem+json");
    }
    assert!(sim.addresses().is_empty());
}

#[tokio::test]
async fn wrong_credentials_are_rejected_by_the_simulator() {
    let sim = sim().await;
    let toml = provider("ali", &sim.base_url(), "")
        .replace(ALIBABA_ACCESS_KEY_SECRET, "not-the-right-secret-at-all");
    let gw = gateway(&toml).await;
    let a = call(&gw, "POST", "/v1/ingests", Some(push_in("ali", "r"))).await;
    assert_eq!(a.status, 502, "{}", a.text);
    assert_eq!(a.json["kind"], "unauthenticated");
    assert_eq!(a.json["vendor_code"], "SignatureDoesNotMatch");
    assert_eq!(a.json["retryable"], false);

    let toml = provider("ali", &sim.base_url(), "")
        .replace(ALIBABA_ACCESS_KEY_ID, "LTAIsomebodyElse000001");
    let gw = gateway(&toml).await;
    let a = call(&gw, "POST", "/v1/ingests", Some(push_in("ali", "r"))).await;
    assert_eq!(a.json["kind"], "unauthenticated", "{}", a.text);
    assert_eq!(a.json["vendor_code"], "InvalidAccessKeyId.NotFound");
    assert_eq!(sim.request_count(), 2, "both reached the simulator");
    assert!(sim.addresses().is_empty());
}

#[tokio::test]
async fn stale_timestamps_and_reused_nonces_are_rejected() {
    let sim = sim().await;
    let gw = gateway(&provider("ali", &sim.base_url(), "")).await;
    let body =
        ingest_gateway::StartBody::parse(push_in("ali", "r").to_string().as_bytes()).expect("body");

    let stale = ingest_gateway::CallOptions {
        now_ms: Some((now_secs() - 40 * 60) * 1000),
        ..Default::default()
    };
    let err = gw
        .start("ali", body.to_request(), stale)
        .await
        .expect_err("stale");
    assert_eq!(err.kind, ingest_gateway::ErrorKind::Unauthenticated);
    assert_eq!(err.vendor_code.as_deref(), Some("IllegalTimestamp"));

    let fixed = || ingest_gateway::CallOptions {
        nonce: Some("fixed-nonce-1".to_string()),
        ..Default::default()
    };
    gw.start("ali", body.to_request(), fixed())
        .await
        .expect("first use of the nonce");
    let err = gw
        .start("ali", body.to_request(), fixed())
        .await
        .expect_err("replayed nonce");
    assert_eq!(err.vendor_code.as_deref(), Some("SignatureNonceUsed"));
    assert!(err.retryable, "a fresh nonce helps");
    assert_eq!(sim.addresses().len(), 1);
}

#[tokio::test]
async fn invalid_input_is_refused_before_the_vendor() {
    let sim = sim().await;
    let gw = gateway(&provider("ali", &sim.base_url(), "")).await;
    let cases: Vec<(serde_json::Value, &str)> = vec![
        (push_in("ali", "room 42"), "room_id"),
        (push_in("ali", &"r".repeat(65)), "room_id"),
        (
            {
                let mut b = push_in("ali", "r");
                b["stream_url"] = "rtmp://somewhere.example/live/x".into();
                b
            },
            "stream_url",
        ),
        (
            {
                let mut b = push_in("ali", "r");
                b["display_name"] = "x".repeat(41).into();
                b
            },
            "display_name",
        ),
        (
            {
                let mut b = push_in("ali", "r");
                b["expires_in_secs"] = 0.into();
                b
            },
            "expires_in_secs",
        ),
        (
            {
                let mut b = push_in("ali", "r");
                b["user_id"] = "u".repeat(65).into();
                b
            },
            "user_id",
        ),
    ];
    // UserId outside Alibaba's alphabet (A-Z a-z 0-9 _ -): refused, naming the rule.
    let mut cases = cases;
    for bad in ["obs 1", "obs:1", "obs.1", "obs@studio", "ü"] {
        let mut b = push_in("ali", "r");
        b["user_id"] = bad.into();
        cases.push((b, "user_id"));
    }
    let mut bad_user = push_in("ali", "r");
    bad_user["user_id"] = "obs 1".into();
    let a = call(&gw, "POST", "/v1/ingests", Some(bad_user)).await;
    assert_refused(&a, 400, "1 to 64 characters of A-Z a-z 0-9 _ -");
    let mut failures = Failures::default();
    for (body, field) in cases {
        let a = call(&gw, "POST", "/v1/ingests", Some(body.clone())).await;
        failures.expect_invalid(&a, &format!("`{field}`"));
    }
    failures.assert_none();

    let mut media = push_in("ali", "r");
    media["media"] = "audio-only".into();
    let a = call(&gw, "POST", "/v1/ingests", Some(media)).await;
    assert_eq!(a.status, 501, "{}", a.text);
    assert_eq!(a.json["kind"], "unsupported");

    let mut pull = push_in("ali", "r");
    pull["direction"] = "pull-in".into();
    pull["stream_url"] = "rtmp://src.example/live/a".into();
    let a = call(&gw, "POST", "/v1/ingests", Some(pull)).await;
    assert_eq!(a.status, 501, "{}", a.text);
    assert_eq!(a.json["kind"], "unsupported");

    assert_eq!(
        sim.request_count(),
        0,
        "no invalid request may reach the vendor"
    );
}

#[tokio::test]
async fn transport_faults() {
    let sim = sim().await;
    let gw = gateway(&provider(
        "ali",
        &sim.base_url(),
        "[providers.egress]\nrequest_timeout_ms = 300",
    ))
    .await;
    for (fault, kind, status) in [
        (Fault::Status(503), "unavailable", 503),
        (Fault::Status(502), "unavailable", 503),
        (Fault::Status(429), "rate-limited", 429),
        (Fault::DropConnection, "unavailable", 503),
        (Fault::MalformedBody, "vendor-internal", 502),
        (Fault::TruncatedBody, "unavailable", 503),
        (
            Fault::Delay(std::time::Duration::from_millis(1500)),
            "timeout",
            504,
        ),
    ] {
        sim.fail_next(fault.clone());
        let a = call(&gw, "POST", "/v1/ingests", Some(push_in("ali", "r"))).await;
        assert_eq!(a.json["kind"], kind, "{fault:?}: {}", a.text);
        assert_eq!(a.status, status, "{fault:?}: {}", a.text);
    }
}

#[test]
fn dry_run_is_byte_identical_and_signed_as_documented() {
    let dir = std::env::temp_dir().join(format!(
        "ingest-gateway-test-alibaba-dry-run-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("gateway.toml");
    std::fs::write(&config, provider("ali", "http://127.0.0.1:9103", "")).expect("config");
    let input = dir.join("start.json");
    let mut body = push_in("ali", "room-42");
    body["display_name"] = "OBS * studio ~1".into();
    std::fs::write(&input, body.to_string()).expect("input");
    let respond = dir.join("respond.json");
    std::fs::write(
        &respond,
        serde_json::json!({
            "status": 200,
            "headers": [["content-type", "application/json"]],
            "body": r#"{"RequestId":"req-9","RtmpAddress":"rtmp://push.example/testapp01/room-42?auth_key=1700030000-0-0-abc"}"#,
        })
        .to_string(),
    )
    .expect("respond");
    let args = dry_run_args(&config, "ali", "start", &input, Some(&respond));
    let run = dry_run_twice(&args);
    assert!(run.ok, "{}", run.stderr);
    let first = run.out;

    let out: serde_json::Value = serde_json::from_str(&first).expect("json");
    let requests = out["requests"].as_array().expect("requests");
    assert_eq!(requests.len(), 1);
    let req = &requests[0];
    assert_eq!(req["method"], "GET");
    assert_eq!(req["body"], "");
    let url = req["url"].as_str().expect("url");
    let (prefix, signature) = url.rsplit_once("&Signature=").expect("signature last");
    assert_eq!(
        prefix,
        "http://127.0.0.1:9103/?AccessKeyId={{secret:access_key_id}}\
         &Action=CreateRoomRealTimeStreamAddress&AppId=testapp01&ChannelId=room-42\
         &DisplayName=OBS%20%2A%20studio%20~1&Format=JSON&SignatureMethod=HMAC-SHA1\
         &SignatureNonce=n0nce&SignatureVersion=1.0&Timestamp=2023-11-14T22%3A13%3A20Z\
         &UserId=obs-1&Version=2016-11-01"
    );
    // Recompute the signature with the real AccessKeyId in place of its label.
    let mut params = query_params(url);
    params.insert("AccessKeyId".to_string(), ALIBABA_ACCESS_KEY_ID.to_string());
    assert_eq!(decode(signature), expected_signature("GET", &params));

    let ok = &out["result"]["ok"];
    assert_eq!(
        ok["session_ref"],
        r#"{"channel_id":"room-42","user_id":"obs-1","expires_at":1700030000}"#
    );
    assert_eq!(ok["vendor_request_id"], "req-9");
    assert_eq!(ok["issued_urls"][0]["purpose"], "publish");
    assert_eq!(
        ok["issued_urls"][0]["url"],
        "rtmp://push.example/testapp01/room-42?auth_key=1700030000-0-0-abc"
    );
    // The URL's auth_key expiry is earlier than now + 36000: it wins.
    assert_eq!(ok["expires_at"], 1_700_030_000u64);

    // Another nonce changes the request.
    let mut other = args.to_vec();
    other[11] = "other-nonce".into();
    let (third, err, third_ok) = run_cli(&other);
    assert!(third_ok, "another nonce is a valid dry run too: {err}");
    assert_ne!(first, third);

    // The plugin's own answer to stop (the CLI calls the plugin directly).
    let stop_input = dir.join("stop.json");
    std::fs::write(
        &stop_input,
        serde_json::json!({"session_ref": ok["session_ref"]}).to_string(),
    )
    .expect("stop input");
    let (out, stderr, _) = run_cli(&dry_run_args(&config, "ali", "stop", &stop_input, None));
    let out: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(out["result"]["error"]["kind"], "unsupported", "{stderr}");
    assert!(
        out["result"]["error"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("expires")),
        "{out}"
    );
    assert_eq!(out["requests"].as_array().map(Vec::len), Some(0));
}

/// A freshly issued address nobody pushes to yet is `starting` until it expires; then
/// `not-found`. The time is the call's (`CallOptions::now_ms`), never the plugin's own clock.
#[tokio::test]
async fn status_is_starting_until_the_address_expires() {
    use ingest_gateway::internals::state_name;

    let sim = sim().await;
    let gw = gateway(&provider("ali", &sim.base_url(), "")).await;
    let mut body = push_in("ali", "fresh-room");
    body["expires_in_secs"] = 60.into();
    let started = call(&gw, "POST", "/v1/ingests", Some(body)).await;
    assert_eq!(started.status, 201, "{}", started.text);
    let id = started.json["id"].as_str().expect("id").to_string();
    let expires_at = started.json["session"]["expires_at"]
        .as_u64()
        .expect("expires_at");

    // Before any push, while the address is valid: starting.
    let status = call(&gw, "GET", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(status.status, 200, "{}", status.text);
    assert_eq!(status.json["state"], "starting", "{}", status.text);

    let at = |secs: u64| ingest_gateway::CallOptions {
        now_ms: Some(secs * 1000),
        ..Default::default()
    };
    // One second before the expiry: still starting.
    let st = gw
        .status(&id, at(expires_at - 1))
        .await
        .expect("status before expiry");
    assert_eq!(state_name(st.value.state), "starting");
    // At and after the expiry (well within the vendor's timestamp window): not-found.
    for now in [expires_at, expires_at + 60] {
        let st = gw.status(&id, at(now)).await.expect("status after expiry");
        assert_eq!(state_name(st.value.state), "not-found", "{now}");
    }
    // An encoder that is online is running, whatever the time.
    sim.join("fresh-room", "obs-1");
    let st = gw
        .status(&id, at(expires_at + 60))
        .await
        .expect("status while pushing");
    assert_eq!(state_name(st.value.state), "running");
}

/// Without an `endpoint` override, the region maps to the host Alibaba's official SDK uses
/// (its endpoint table: the China regions and most others → live.aliyuncs.com; a region it
/// does not list → live.{region}.aliyuncs.com), and that host is on the default allowlist
/// (a dry run records only requests the egress policy allows).
#[test]
fn region_maps_to_the_official_sdk_endpoint() {
    let dir = temp_dir("alibaba-region-endpoint");
    let respond = dir.join("respond.json");
    std::fs::write(
        &respond,
        serde_json::json!({
            "status": 200,
            "headers": [["content-type", "application/json"]],
            "body": r#"{"RequestId":"req-1","RtmpAddress":"rtmp://push.example/testapp01/room-42"}"#,
        })
        .to_string(),
    )
    .expect("respond");
    let input = dir.join("start.json");
    std::fs::write(&input, push_in("ali", "room-42").to_string()).expect("input");
    for (region, host) in [
        (None, "live.aliyuncs.com"),
        (Some("cn-shanghai"), "live.aliyuncs.com"),
        (Some("cn-hangzhou"), "live.aliyuncs.com"),
        (Some("cn-beijing"), "live.aliyuncs.com"),
        (Some("ap-southeast-1"), "live.aliyuncs.com"),
        (Some("ap-southeast-7"), "live.ap-southeast-7.aliyuncs.com"),
    ] {
        let region_value = region.map(|r| format!("\"{r}\""));
        let mut config_keys = vec![("app_id", format!("\"{APP_ID}\""))];
        if let Some(v) = &region_value {
            config_keys.push(("region", v.clone()));
        }
        let config_refs: Vec<(&str, &str)> =
            config_keys.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let placeholder = "http://127.0.0.1:9";
        let toml = provider_toml(
            "ali",
            "alibaba-artc",
            placeholder,
            "",
            &config_refs,
            &[
                ("access_key_id", ALIBABA_ACCESS_KEY_ID),
                ("access_key_secret", ALIBABA_ACCESS_KEY_SECRET),
            ],
        );
        // No `endpoint`: the plugin picks the host itself.
        let endpoint_line = format!("endpoint = \"{placeholder}\"\n");
        assert!(toml.contains(&endpoint_line), "{toml}");
        let toml = toml.replace(&endpoint_line, "");
        let config = dir.join(format!("gateway-{}.toml", region.unwrap_or("none")));
        std::fs::write(&config, toml).expect("config");
        let (out, stderr, ok) = run_cli(&dry_run_args(
            &config,
            "ali",
            "start",
            &input,
            Some(&respond),
        ));
        assert!(ok, "{region:?}: {stderr}");
        assert_no_secrets("dry-run output", &out);
        let out: serde_json::Value = serde_json::from_str(&out).expect("json");
        let requests = out["requests"].as_array().expect("requests");
        assert_eq!(requests.len(), 1, "{region:?}: allowed and recorded: {out}");
        let url = requests[0]["url"].as_str().expect("url");
        assert!(
            url.starts_with(&format!("https://{host}/?")),
            "{region:?} should call {host}: {url}"
        );
        assert!(out["result"]["ok"].is_object(), "{region:?}: {out}");
    }
}
