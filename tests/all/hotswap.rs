//! Runtime plugin management: hot swap under load, refusal of bad uploads, rollback, removal,
//! the admin API's auth, and the warm artifact cache.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use ingest_gateway::Gateway;
use ingest_gateway_server::AdminToken;

use crate::support::*;

const TOKEN: &str = "admin-token-for-tests-0123456789";

fn hostile_bytes() -> Vec<u8> {
    std::fs::read(ingest_sim::artifacts::plugin("test-hostile")).expect("built plugin")
}

/// The same component with a custom section appended: behaviour identical, digest new.
fn variant(bytes: &[u8], tag: &str) -> Vec<u8> {
    ingest_sim::artifacts::variant(bytes, "ingest-test-variant", tag)
}

fn digest(bytes: &[u8]) -> String {
    ingest_gateway::sha256_hex(bytes)
}

async fn gateway_with(cache: Option<&std::path::Path>) -> Gateway {
    let mut toml = String::new();
    if let Some(dir) = cache {
        toml.push_str(&format!("[runtime]\ncache_dir = \"{}\"\n", dir.display()));
    }
    toml.push_str(&format!(
        "[[providers]]\nid = \"ok\"\nplugin = \"{}\"\n[providers.config]\nmode = \"ok\"\n",
        ingest_sim::artifacts::plugin("test-hostile")
    ));
    gateway(&toml).await
}

async fn admin(
    gw: &Gateway,
    method: &str,
    path: &str,
    body: Vec<u8>,
    token: Option<&str>,
) -> Answer {
    let mut req = http::Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let resp = ingest_gateway_server::handle_admin(
        gw,
        req.body(Bytes::from(body)).expect("request"),
        &AdminToken::new(TOKEN.as_bytes().to_vec()),
    )
    .await;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = String::from_utf8_lossy(resp.body()).into_owned();
    let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    Answer {
        status,
        headers,
        json,
        text,
    }
}

fn start_body() -> serde_json::Value {
    serde_json::json!({"provider": "ok", "direction": "pull-in", "room_id": "r", "user_id": "u"})
}

fn served_by(a: &Answer) -> String {
    a.headers
        .get("x-ingest-plugin")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_under_load_loses_no_request() {
    let gw = Arc::new(gateway_with(None).await);
    let v1 = hostile_bytes();
    let v2 = variant(&v1, "v2");
    let (d1, d2) = (digest(&v1), digest(&v2));

    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..6 {
        let (gw, stop, failures, done) = (gw.clone(), stop.clone(), failures.clone(), done.clone());
        workers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let started = std::time::Instant::now();
                let a = call(&gw, "POST", "/v1/ingests", Some(start_body())).await;
                if a.status != 201 {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
                seen.push((started, served_by(&a)));
                done.fetch_add(1, Ordering::Relaxed);
            }
            seen
        }));
    }
    // Two rounds of every worker's requests before the swap, and two after it: every worker
    // has then started at least one request after the swap.
    const ROUNDS: usize = 2 * 6;
    wait_until("requests before the swap", || {
        done.load(Ordering::Relaxed) >= ROUNDS
    })
    .await;
    let swapped = admin(
        &gw,
        "PUT",
        "/admin/plugins/test-hostile",
        v2.clone(),
        Some(TOKEN),
    )
    .await;
    assert_eq!(swapped.status, 200, "{}", swapped.text);
    assert_eq!(swapped.json["digest"], d2);
    assert_eq!(swapped.json["previous"], d1);
    let swap_done = std::time::Instant::now();
    let at_swap = done.load(Ordering::Relaxed);
    wait_until("requests after the swap", || {
        done.load(Ordering::Relaxed) >= at_swap + ROUNDS
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.expect("worker"));
    }
    let total = all.len();
    let before = all.iter().filter(|(_, l)| l.ends_with(&d1[..12])).count();
    let after: Vec<&String> = all
        .iter()
        .filter(|(t, _)| *t > swap_done)
        .map(|(_, l)| l)
        .collect();
    eprintln!(
        "hot swap under load: {total} requests ({before} on v1, {} started after the swap), {} failed",
        after.len(),
        failures.load(Ordering::Relaxed)
    );
    assert!(before > 0, "the load ran before the swap");
    assert!(!after.is_empty(), "the load ran after the swap");
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "requests failed during the swap"
    );
    for l in &after {
        assert!(
            l.ends_with(&d2[..12]),
            "a request started after the swap was served by {l}"
        );
    }
    let after = call(&gw, "POST", "/v1/ingests", Some(start_body())).await;
    assert!(served_by(&after).ends_with(&d2[..12]));
}

#[tokio::test]
async fn bad_uploads_are_refused_and_the_old_version_serves() {
    let gw = gateway_with(None).await;
    let d1 = digest(&hostile_bytes());

    let garbage = admin(
        &gw,
        "PUT",
        "/admin/plugins/test-hostile",
        b"not wasm".to_vec(),
        Some(TOKEN),
    )
    .await;
    assert_refused(&garbage, 400, "not a valid WebAssembly component");

    let empty = admin(
        &gw,
        "PUT",
        "/admin/plugins/test-hostile",
        b"(component)".to_vec(),
        Some(TOKEN),
    )
    .await;
    assert_refused(&empty, 400, "missing export");

    // A valid component that does not fit the provider's config (the TRTC plugin needs
    // secrets and keys this provider lacks) is refused too.
    let trtc = std::fs::read(ingest_sim::artifacts::plugin("tencent-trtc")).expect("trtc");
    let misfit = admin(&gw, "PUT", "/admin/plugins/test-hostile", trtc, Some(TOKEN)).await;
    assert_refused(&misfit, 409, "secret_id");

    let a = call(&gw, "POST", "/v1/ingests", Some(start_body())).await;
    assert_eq!(a.status, 201);
    assert!(served_by(&a).ends_with(&d1[..12]), "{}", served_by(&a));
    let list = admin(&gw, "GET", "/admin/plugins", Vec::new(), Some(TOKEN)).await;
    assert_eq!(list.json["plugins"][0]["digest"], d1);
    assert_eq!(list.json["stats"]["refused"], 3);
    let metrics = gw.metrics().render();
    assert!(
        metrics.contains(r#"ingest_plugin_swaps_total{plugin="test-hostile",action="refused"} 3"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn rollback_and_removal() {
    let gw = gateway_with(None).await;
    let v1 = hostile_bytes();
    let v2 = variant(&v1, "rollback");
    let (d1, d2) = (digest(&v1), digest(&v2));
    assert_eq!(
        admin(&gw, "PUT", "/admin/plugins/test-hostile", v2, Some(TOKEN))
            .await
            .status,
        200
    );
    let a = call(&gw, "POST", "/v1/ingests", Some(start_body())).await;
    assert!(served_by(&a).ends_with(&d2[..12]));

    let back = admin(
        &gw,
        "POST",
        "/admin/plugins/test-hostile/rollback",
        Vec::new(),
        Some(TOKEN),
    )
    .await;
    assert_eq!(back.status, 200, "{}", back.text);
    assert_eq!(back.json["digest"], d1);
    assert_eq!(back.json["previous"], d2);
    let a = call(&gw, "POST", "/v1/ingests", Some(start_body())).await;
    assert!(served_by(&a).ends_with(&d1[..12]));

    let removed = admin(
        &gw,
        "DELETE",
        "/admin/plugins/test-hostile",
        Vec::new(),
        Some(TOKEN),
    )
    .await;
    assert_eq!(removed.status, 200, "{}", removed.text);
    let a = call(&gw, "POST", "/v1/ingests", Some(start_body())).await;
    assert_refused(&a, 503, "was removed");
    let providers = call(&gw, "GET", "/v1/providers", None).await;
    assert_eq!(providers.json["providers"][0]["health"], "no-plugin");

    // Uploading it again brings the provider back.
    assert_eq!(
        admin(&gw, "PUT", "/admin/plugins/test-hostile", v1, Some(TOKEN))
            .await
            .status,
        200
    );
    assert_eq!(
        call(&gw, "POST", "/v1/ingests", Some(start_body()))
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn admin_api_requires_the_token() {
    let gw = gateway_with(None).await;
    for token in [None, Some("wrong-token-wrong-token-wrong")] {
        let a = admin(
            &gw,
            "PUT",
            "/admin/plugins/test-hostile",
            b"x".to_vec(),
            token,
        )
        .await;
        assert_eq!(a.status, 401, "{}", a.text);
        assert_eq!(a.headers["www-authenticate"], "Bearer");
    }
    let a = admin(&gw, "GET", "/admin/plugins", Vec::new(), Some(TOKEN)).await;
    assert_eq!(a.status, 200);
    let a = admin(
        &gw,
        "PUT",
        "/admin/plugins/Bad_Name",
        Vec::new(),
        Some(TOKEN),
    )
    .await;
    assert_eq!(a.status, 400);
}

#[tokio::test]
async fn restart_with_a_warm_cache_compiles_nothing() {
    let dir = std::env::temp_dir().join(format!("ingest-cache-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cold = gateway_with(Some(&dir)).await;
    let stats = cold.registry().stats();
    assert_eq!(stats.compiled.load(Ordering::Relaxed), 1);
    assert_eq!(stats.cache_hits.load(Ordering::Relaxed), 0);
    let cold_ms = cold
        .registry()
        .current("test-hostile")
        .expect("loaded")
        .load_time;
    // The cache keeps optimized code: a cold load served from the baseline tier fills it
    // once its optimizing compile is done.
    wait_optimized(&cold).await;
    drop(cold);

    let warm = gateway_with(Some(&dir)).await;
    let stats = warm.registry().stats();
    assert_eq!(
        stats.compiled.load(Ordering::Relaxed),
        0,
        "a warm restart must not compile"
    );
    assert_eq!(stats.cache_hits.load(Ordering::Relaxed), 1);
    let warm_ms = warm
        .registry()
        .current("test-hostile")
        .expect("loaded")
        .load_time;
    eprintln!("plugin load: cold {cold_ms:?}, warm cache {warm_ms:?}");
    assert_eq!(
        call(&warm, "POST", "/v1/ingests", Some(start_body()))
            .await
            .status,
        201
    );

    // A re-upload of known bytes through the admin API also skips compilation.
    let same = admin(
        &warm,
        "PUT",
        "/admin/plugins/test-hostile",
        hostile_bytes(),
        Some(TOKEN),
    )
    .await;
    assert_eq!(same.json["from_cache"], true, "{}", same.text);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiered_upload_serves_at_once_and_the_optimized_code_takes_over_without_a_failure() {
    let gw = Arc::new(gateway_with(None).await);
    assert!(gw.runtime().tiered(), "tiering is the default");
    wait_optimized(&gw).await;
    let current = || gw.registry().current("test-hostile").expect("loaded");
    assert_eq!(current().tier(), ingest_gateway::Tier::Optimized);

    // Calls keep going across the upload and across the optimized code taking over.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load = {
        let (gw, stop, ok, failed) = (gw.clone(), stop.clone(), ok.clone(), failed.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let a = call(&gw, "POST", "/v1/ingests", Some(start_body())).await;
                let counter = if a.status == 201 { &ok } else { &failed };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let fresh = variant(&hostile_bytes(), "tiered");
    let up = admin(
        &gw,
        "PUT",
        "/admin/plugins/test-hostile",
        fresh.clone(),
        Some(TOKEN),
    )
    .await;
    assert_eq!(up.status, 200, "{}", up.text);
    assert_eq!(up.json["from_cache"], false);
    // The new version answers on the baseline compiler's code right away…
    assert_eq!(current().digest, digest(&fresh));
    assert_eq!(current().tier(), ingest_gateway::Tier::Baseline);
    let listed = admin(&gw, "GET", "/admin/plugins", Vec::new(), Some(TOKEN)).await;
    assert_eq!(
        listed.json["plugins"][0]["tier"], "baseline",
        "{}",
        listed.text
    );
    let a = call(&gw, "POST", "/v1/ingests", Some(start_body())).await;
    assert_eq!(a.status, 201, "{}", a.text);
    // …and the optimized code of the same version takes over.
    wait_optimized(&gw).await;
    assert_eq!(current().digest, digest(&fresh));
    let after = ok.load(Ordering::Relaxed);
    while ok.load(Ordering::Relaxed) < after + 20 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    stop.store(true, Ordering::Relaxed);
    load.await.expect("load task");
    assert_eq!(failed.load(Ordering::Relaxed), 0, "no request may fail");
    let health = call(&gw, "GET", "/healthz", None).await;
    assert_eq!(health.json["optimized"], true, "{}", health.text);
    eprintln!(
        "tiered upload: {} requests ok across the swap and the tier change",
        ok.load(Ordering::Relaxed)
    );
}

#[tokio::test]
async fn without_tiering_a_load_is_optimized_before_it_serves() {
    let toml = format!(
        "[runtime]\ntiered = false\n[[providers]]\nid = \"ok\"\nplugin = \"{}\"\n[providers.config]\nmode = \"ok\"\n",
        ingest_sim::artifacts::plugin("test-hostile")
    );
    let gw = gateway(&toml).await;
    assert!(!gw.runtime().tiered());
    let version = gw.registry().current("test-hostile").expect("loaded");
    assert_eq!(version.tier(), ingest_gateway::Tier::Optimized);
}

#[tokio::test]
async fn a_changed_file_in_the_watched_directory_is_swapped_in() {
    let dir = std::env::temp_dir().join(format!("ingest-watch-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let v1 = hostile_bytes();
    std::fs::write(dir.join("test_hostile.wasm"), &v1).expect("copy");
    let toml = format!(
        "[gateway]\nplugin_dir = \"{}\"\n[[providers]]\nid = \"ok\"\nplugin = \"test-hostile\"\n[providers.config]\nmode = \"ok\"\n",
        dir.display()
    );
    let gw = Arc::new(gateway(&toml).await);
    let watcher =
        ingest_gateway_server::watch_plugin_dir(gw.clone(), dir.clone(), Duration::from_millis(20));

    // A broken file is refused; the serving version stays.
    tokio::time::sleep(Duration::from_millis(60)).await;
    std::fs::write(dir.join("test_hostile.wasm"), b"garbage").expect("write");
    let v2 = variant(&v1, "watched");
    let d2 = digest(&v2);
    let mut refused_seen = false;
    for _ in 0..250 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if gw.registry().stats().refused.load(Ordering::Relaxed) > 0 {
            refused_seen = true;
            break;
        }
    }
    assert!(refused_seen, "the broken file was not noticed");
    assert_eq!(
        call(&gw, "POST", "/v1/ingests", Some(start_body()))
            .await
            .status,
        201
    );

    std::fs::write(dir.join("test_hostile.wasm"), &v2).expect("write v2");
    // Within 20 s: the new version is compiled first, which a busy machine makes slow.
    let mut swapped = false;
    for _ in 0..1000 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if gw
            .registry()
            .current("test-hostile")
            .is_some_and(|v| v.digest == d2)
        {
            swapped = true;
            break;
        }
    }
    watcher.abort();
    assert!(swapped, "the changed file was not swapped in within 20 s");
    let a = call(&gw, "POST", "/v1/ingests", Some(start_body())).await;
    assert!(served_by(&a).ends_with(&d2[..12]));
    let _ = std::fs::remove_dir_all(&dir);
}
