//! Load and swap soak: a steady load on the gateway while its plugin is hot-swapped over a
//! thousand times. Checks that no request fails, that resident memory stays within a stated
//! bound across the swaps, and that nothing leaks: every pool slot comes back and every
//! replaced plugin version is freed.
//!
//! It measures the whole process's resident memory, so it runs on its own and is ignored by
//! a plain `cargo test`; `scripts/test` runs it as its own step and prints the figures:
//!
//! ```sh
//! cargo test -p ingest-gateway-cli --test all -- --ignored --nocapture --test-threads=1 soak::
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ingest_gateway::{Config, Gateway};
use ingest_gateway_server::AdminToken;

/// Swaps to perform under load (about 5 ms each here, so the run takes well under a minute).
const SWAPS: usize = 2000;
/// Swaps done before the baseline measurement (allocator pools, caches and the instance pool
/// reach their working size).
const WARMUP_SWAPS: usize = 50;
/// Concurrent clients keeping the load.
const CLIENTS: usize = 4;
/// Most the run may take; it normally needs well under a minute.
const TIME_LIMIT: Duration = Duration::from_secs(150);
/// Largest growth of resident memory accepted across the measured swaps. Each swap loads a
/// compiled plugin (about 1 MiB of code and metadata) and frees the one it replaced two swaps
/// earlier, so a leak of one version per swap would add gigabytes; what is left is allocator
/// noise (about 1 MiB measured).
const RSS_GROWTH_BOUND_KIB: u64 = 64 * 1024;
const TOKEN: &str = "admin-token-for-the-soak-0123456";

/// The same component with a custom section appended: behaviour identical, digest new.
fn variant(bytes: &[u8], tag: &str) -> Vec<u8> {
    ingest_sim::artifacts::variant(bytes, "ingest-soak-variant", tag)
}

/// Resident set size of this process, KiB (Linux `/proc/self/status`; 0 elsewhere).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

async fn upload(gw: &Gateway, token: &AdminToken, bytes: &Bytes) -> u16 {
    let req = http::Request::put("/admin/plugins/test-hostile")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(bytes.clone())
        .expect("request");
    ingest_gateway_server::handle_admin(gw, req, token)
        .await
        .status()
        .as_u16()
}

fn start_body() -> Bytes {
    Bytes::from(
        serde_json::json!({"provider": "ok", "direction": "pull-in", "room_id": "r", "user_id": "u"})
            .to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak: measures the process's memory, so scripts/test runs it alone (-- --ignored soak::)"]
async fn thousands_of_swaps_under_load_fail_nothing_and_leak_nothing() {
    let began = Instant::now();
    let cache = std::env::temp_dir().join(format!("ingest-soak-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cache);
    // Built without the suite's log capture, which would keep every log line in memory.
    let toml = format!(
        "[gateway]\nauth = \"off\"\n[runtime]\ncache_dir = \"{}\"\n[[providers]]\nid = \"ok\"\nplugin = \"{}\"\n[providers.config]\nmode = \"ok\"\n",
        cache.display(),
        ingest_sim::artifacts::plugin("test-hostile")
    );
    let gw = Arc::new(
        Gateway::from_config(Config::parse(&toml).expect("config"))
            .await
            .expect("gateway"),
    );
    let token = AdminToken::new(TOKEN.as_bytes().to_vec());
    let v1 = std::fs::read(ingest_sim::artifacts::plugin("test-hostile")).expect("built plugin");
    let versions = [
        Bytes::from(variant(&v1, "a")),
        Bytes::from(variant(&v1, "b")),
    ];

    let stop = Arc::new(AtomicBool::new(false));
    let requests = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (gw, stop) = (gw.clone(), stop.clone());
        let (requests, failures) = (requests.clone(), failures.clone());
        clients.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let req = http::Request::post("/v1/ingests")
                    .header("content-type", "application/json")
                    .body(start_body())
                    .expect("request");
                let resp = ingest_gateway::handle(&gw, req).await;
                requests.fetch_add(1, Ordering::Relaxed);
                if resp.status() != http::StatusCode::CREATED {
                    failures.fetch_add(1, Ordering::Relaxed);
                    eprintln!(
                        "soak: request failed: {} {}",
                        resp.status(),
                        String::from_utf8_lossy(resp.body())
                    );
                }
            }
        }));
    }

    // Warm-up: both variants compiled once (then always loaded from the cache), the pools
    // and allocator at their working size.
    for i in 0..WARMUP_SWAPS {
        assert_eq!(
            upload(&gw, &token, &versions[i % 2]).await,
            200,
            "warm-up swap {i}"
        );
    }
    let first_version = Arc::downgrade(&gw.registry().current("test-hostile").expect("loaded"));
    let rss_before = rss_kib();
    let requests_before = requests.load(Ordering::Relaxed);
    let swap_started = Instant::now();
    let mut swaps = 0;
    while swaps < SWAPS {
        assert!(
            began.elapsed() < TIME_LIMIT,
            "the soak ran past {TIME_LIMIT:?} after {swaps} swaps"
        );
        let status = upload(&gw, &token, &versions[swaps % 2]).await;
        assert_eq!(status, 200, "swap {swaps}");
        swaps += 1;
    }
    let swap_time = swap_started.elapsed();
    let rss_after = rss_kib();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.expect("client");
    }
    let (requests, failures) = (
        requests.load(Ordering::Relaxed),
        failures.load(Ordering::Relaxed),
    );

    // Every call returned its pool slot (poll: the last calls may still be unwinding).
    let deadline = Instant::now() + Duration::from_secs(5);
    while gw.runtime().calls_in_flight() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let in_flight = gw.runtime().calls_in_flight();
    let metrics = gw.metrics().render();
    let installs = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix(r#"ingest_plugin_swaps_total{plugin="test-hostile",action="install"} "#)
        })
        .unwrap_or("0")
        .trim()
        .to_string();
    let growth = rss_after.saturating_sub(rss_before);
    eprintln!(
        "soak: {requests} requests ({} during the measured swaps), {failures} failed; {} swaps ({WARMUP_SWAPS} warm-up) in {swap_time:?} ({:.2} ms each); RSS {rss_before} KiB -> {rss_after} KiB (+{growth} KiB, bound {RSS_GROWTH_BOUND_KIB} KiB); calls in flight after: {in_flight}; installs counted: {installs}; total {:?}",
        requests - requests_before,
        swaps,
        swap_time.as_secs_f64() * 1000.0 / swaps as f64,
        began.elapsed(),
    );
    let _ = std::fs::remove_dir_all(&cache);

    assert_eq!(failures, 0, "requests failed during the swaps");
    assert!(
        requests - requests_before >= swaps as u64,
        "the load kept up with the swaps"
    );
    assert_eq!(in_flight, 0, "a pool slot was never returned");
    assert!(
        first_version.upgrade().is_none(),
        "a replaced plugin version is still held"
    );
    assert_eq!(installs, (WARMUP_SWAPS + SWAPS).to_string(), "{metrics}");
    assert!(
        metrics.contains("ingest_plugin_versions_loaded 2"),
        "serving + rollback only: {metrics}"
    );
    if rss_before > 0 {
        assert!(
            growth <= RSS_GROWTH_BOUND_KIB,
            "resident memory grew by {growth} KiB across {swaps} swaps"
        );
    }
}
