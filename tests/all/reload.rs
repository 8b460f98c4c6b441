//! Live reload: a tenant added, a provider's limit changed and a secret file rotated while
//! load runs, with no failed request; a broken config changes nothing; SIGHUP on the real
//! binary.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;

use crate::support::*;

const KEY_A: &str = "reload-tenant-a-key-0123456789abc";
const KEY_B: &str = "reload-tenant-b-key-fedcba9876543";
const ADMIN: &str = "reload-test-admin-token-012345678";

/// The config: provider `good` (inline secrets, no quota), provider `rot` (its secret key
/// read from `rot.key`, `rot_quota` lines), tenant a, and tenant b when `with_b`.
fn config_text(sim_url: &str, rot_quota: &str, with_b: bool) -> String {
    let rot = trtc_provider("rot", sim_url, rot_quota).replace(
        &format!("secret_key = {{ value = \"{TRTC_SECRET_KEY}\" }}"),
        "secret_key = { file = \"rot.key\" }",
    );
    assert!(rot.contains("rot.key"), "{rot}");
    let mut text = format!(
        "[gateway]\nauth = \"tenants\"\nhandle_key = {{ value = \"reload-test-handle-key-0123456789\" }}\n[runtime]\n{}{rot}\n[[tenants]]\nid = \"a\"\napi_key_sha256 = \"{}\"\nproviders = [\"*\"]\n",
        trtc_provider("good", sim_url, QUOTA_OFF),
        sha256_hex(KEY_A)
    );
    if with_b {
        text.push_str(&format!(
            "[[tenants]]\nid = \"b\"\napi_key_sha256 = \"{}\"\nproviders = [\"*\"]\n",
            sha256_hex(KEY_B)
        ));
    }
    text
}

async fn request(
    gw: &ingest_gateway::Gateway,
    key: &str,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, String) {
    let a = as_tenant(gw, Some(key), method, path, body).await;
    (a.status, a.text)
}

async fn admin_reload(gw: &ingest_gateway::Gateway) -> (u16, serde_json::Value) {
    let req = http::Request::post("/admin/reload")
        .header("authorization", format!("Bearer {ADMIN}"))
        .body(Bytes::new())
        .expect("request");
    let token = ingest_gateway_server::AdminToken::new(ADMIN.as_bytes().to_vec());
    let resp = ingest_gateway_server::handle_admin(gw, req, &token).await;
    let json = serde_json::from_slice(resp.body()).unwrap_or(serde_json::Value::Null);
    (resp.status().as_u16(), json)
}

fn write(path: &Path, text: &str) {
    // Write then rename: a reload never reads a half-written file.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_under_load_applies_tenants_limits_and_rotated_secrets_and_fails_nothing() {
    let sim = trtc_sim().await;
    let dir = temp_dir("reload-live");
    let config = dir.join("gateway.toml");
    write(&dir.join("rot.key"), "not-the-vendor-key");
    write(&config, &config_text(&sim.base_url(), QUOTA_OFF, false));
    let gw = Arc::new(
        ingest_gateway::Gateway::from_config(
            ingest_gateway::Config::load(&config).expect("config"),
        )
        .await
        .expect("gateway"),
    );
    gw.set_config_path(config.clone());

    // Before: `rot` signs with the wrong key; tenant b does not exist.
    let (status, text) = request(
        &gw,
        KEY_A,
        "POST",
        "/v1/ingests",
        Some(pull_in("rot", "70")),
    )
    .await;
    assert_ne!(status, 201, "{text}");
    assert_eq!(
        request(&gw, KEY_B, "GET", "/v1/providers", None).await.0,
        401
    );

    // A handle issued before the reloads.
    let (status, text) = request(
        &gw,
        KEY_A,
        "POST",
        "/v1/ingests",
        Some(pull_in("good", "69")),
    )
    .await;
    assert_eq!(status, 201, "{text}");
    let id = serde_json::from_str::<serde_json::Value>(&text).expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string();

    // Load: tenant a starts ingests on `good` without pause, through every reload.
    let stop = Arc::new(AtomicBool::new(false));
    let (done, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load = {
        let (gw, stop, done, failed) = (gw.clone(), stop.clone(), done.clone(), failed.clone());
        tokio::spawn(async move {
            let mut room = 1000u32;
            while !stop.load(Ordering::Relaxed) {
                room += 1;
                let (status, text) = request(
                    &gw,
                    KEY_A,
                    "POST",
                    "/v1/ingests",
                    Some(pull_in("good", &room.to_string())),
                )
                .await;
                done.fetch_add(1, Ordering::Relaxed);
                if status != 201 {
                    failed.fetch_add(1, Ordering::Relaxed);
                    eprintln!("failed during reloads: {status} {text}");
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;

    // The rotated secret, tenant b, and a limit of 1 start/s without waiting on `rot`.
    write(&dir.join("rot.key"), TRTC_SECRET_KEY);
    write(
        &config,
        &config_text(
            &sim.base_url(),
            "[providers.quota]\nstart = 1\nmax_wait_ms = 0\n",
            true,
        ),
    );
    for _ in 0..5 {
        let (status, report) = admin_reload(&gw).await;
        assert_eq!(status, 200, "{report}");
        assert_eq!(report["tenants"], 2, "{report}");
        assert_eq!(report["restart_needed"], false, "{report}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Handles issued before still open.
    let (status, text) = request(&gw, KEY_A, "GET", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(status, 200, "{text}");
    // Calls that start after the reload use the new values.
    assert_eq!(
        request(&gw, KEY_B, "GET", "/v1/providers", None).await.0,
        200
    );
    let first = std::time::Instant::now();
    let (status, text) = request(
        &gw,
        KEY_A,
        "POST",
        "/v1/ingests",
        Some(pull_in("rot", "71")),
    )
    .await;
    assert_eq!(status, 201, "the rotated secret was not used: {text}");
    let (status, text) = request(
        &gw,
        KEY_A,
        "POST",
        "/v1/ingests",
        Some(pull_in("rot", "72")),
    )
    .await;
    // 1/s spaces turns 1.1 s apart: a machine that took longer than that between the two
    // starts has given the second one a turn of its own.
    if first.elapsed() < Duration::from_millis(1100) {
        assert_eq!(status, 429, "the new limit was not used: {text}");
    } else {
        eprintln!("the two starts took over 1.1 s: the limit's refusal is not checked this run");
    }

    // A broken config: nothing changes, the answer names the problem.
    write(
        &config,
        &config_text(&sim.base_url(), "[providers.quota]\nburst = 0\n", false),
    );
    let (status, problem) = admin_reload(&gw).await;
    assert_eq!(status, 422, "{problem}");
    let detail = problem["detail"].as_str().expect("detail");
    assert!(detail.contains("quota.burst"), "{detail}");
    assert!(detail.contains("nothing changed"), "{detail}");
    assert_eq!(
        request(&gw, KEY_B, "GET", "/v1/providers", None).await.0,
        200,
        "a refused reload removed tenant b"
    );
    // A config that does not parse, the same.
    write(&config, "[gateway\n");
    let (status, problem) = admin_reload(&gw).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(
        request(&gw, KEY_B, "GET", "/v1/providers", None).await.0,
        200
    );

    stop.store(true, Ordering::Relaxed);
    load.await.expect("load");
    let (done, failed) = (done.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert!(done >= 5, "only {done} requests ran during the reloads");
    assert_eq!(
        failed, 0,
        "{failed} of {done} requests failed during reloads"
    );
}

/// SIGHUP to the real binary reloads its config file: a tenant added to the file can call;
/// a broken file changes nothing and the process keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_config_file_of_the_running_binary() {
    let sim = trtc_sim().await;
    let dir = temp_dir("reload-sighup");
    let config = dir.join("gateway.toml");
    write(&dir.join("rot.key"), TRTC_SECRET_KEY);
    let text = |with_b| {
        edit_toml(&config_text(&sim.base_url(), "", with_b), |doc| {
            set(doc, &["gateway", "listen"], "127.0.0.1:0");
        })
    };
    write(&config, &text(false));
    let (mut child, addr) = spawn_serve(&config);

    let hangup = |pid: u32| {
        let ok = std::process::Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .expect("kill");
        assert!(ok.success());
    };
    assert_eq!(as_b(addr).await.status, 401);

    write(&config, &text(true));
    hangup(child.id());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while as_b(addr).await.status != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "SIGHUP did not reload"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    write(&config, "not = [toml");
    hangup(child.id());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        as_b(addr).await.status,
        200,
        "a broken file changed the running config"
    );
    assert!(
        child.try_wait().expect("wait").is_none(),
        "the gateway exited"
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// `GET /v1/providers` as tenant b over a real socket.
async fn as_b(addr: std::net::SocketAddr) -> Answer {
    let bearer = format!("Bearer {KEY_B}");
    http_with(
        addr,
        "GET",
        "/v1/providers",
        &[("authorization", &bearer)],
        None,
    )
    .await
}
