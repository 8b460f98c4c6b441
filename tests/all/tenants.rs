//! Tenants: API keys, provider grants, handles bound to their tenant, and replicas sharing
//! one handle key.

use ingest_sim::tencent::TencentSim;

use crate::support::*;

const KEY_A: &str = "tenant-a-api-key-0123456789abcdef";
const KEY_B: &str = "tenant-b-api-key-fedcba9876543210";
const KEY_C: &str = "tenant-c-api-key-nothing-granted0";

async fn sim() -> TencentSim {
    trtc_sim().await
}

fn config(sim: &TencentSim) -> String {
    format!(
        r#"[gateway]
auth = "tenants"
handle_key = {{ value = "shared-handle-key-for-two-replicas" }}
{providers}
{other}
[[tenants]]
id = "a"
api_key_sha256 = "{a}"
providers = ["trtc", "other"]
[[tenants]]
id = "b"
api_key_sha256 = "{b}"
providers = ["*"]
[[tenants]]
id = "c"
api_key_sha256 = "{c}"
providers = ["other"]
"#,
        providers = trtc_provider("trtc", &sim.base_url(), ""),
        other = trtc_provider("other", &sim.base_url(), ""),
        a = sha256_hex(KEY_A),
        b = sha256_hex(KEY_B),
        c = sha256_hex(KEY_C),
    )
}

#[tokio::test]
async fn keys_grants_and_handles_belong_to_their_tenant() {
    let sim = sim().await;
    let gw = gateway(&config(&sim)).await;

    for key in [None, Some("not-a-key")] {
        let a = as_tenant(&gw, key, "POST", "/v1/ingests", Some(pull_in("trtc", "1"))).await;
        assert_eq!(a.status, 401, "{}", a.text);
        assert_eq!(a.headers["www-authenticate"], "Bearer");
    }
    assert_eq!(sim.request_count(), 0);

    let started = as_tenant(
        &gw,
        Some(KEY_A),
        "POST",
        "/v1/ingests",
        Some(pull_in("trtc", "1")),
    )
    .await;
    assert_eq!(started.status, 201, "{}", started.text);
    let id = started.json["id"].as_str().expect("id").to_string();
    let seen = sim.request_count();

    // Another tenant cannot use the handle, even one granted the same provider.
    let other = as_tenant(&gw, Some(KEY_B), "GET", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(other.status, 404, "{}", other.text);
    let other = as_tenant(
        &gw,
        Some(KEY_B),
        "DELETE",
        &format!("/v1/ingests/{id}"),
        None,
    )
    .await;
    assert_eq!(other.status, 404, "{}", other.text);
    assert_eq!(
        sim.request_count(),
        seen,
        "a cross-tenant handle reached the vendor"
    );

    // A tenant not granted a provider neither sees nor uses it.
    let c = as_tenant(
        &gw,
        Some(KEY_C),
        "POST",
        "/v1/ingests",
        Some(pull_in("trtc", "2")),
    )
    .await;
    assert_eq!(c.status, 404, "{}", c.text);
    let listed = as_tenant(&gw, Some(KEY_C), "GET", "/v1/providers", None).await;
    let ids: Vec<&str> = listed.json["providers"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert_eq!(ids, vec!["other"]);

    // The owner still can.
    let mine = as_tenant(&gw, Some(KEY_A), "GET", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(mine.json["state"], "running", "{}", mine.text);

    // Health needs no key.
    assert_eq!(
        as_tenant(&gw, None, "GET", "/healthz", None).await.status,
        200
    );
}

#[tokio::test]
async fn replicas_with_one_key_serve_each_others_handles() {
    let sim = sim().await;
    let one = gateway(&config(&sim)).await;
    let two = gateway(&config(&sim)).await;
    let started = as_tenant(
        &one,
        Some(KEY_A),
        "POST",
        "/v1/ingests",
        Some(pull_in("trtc", "3")),
    )
    .await;
    assert_eq!(started.status, 201, "{}", started.text);
    let id = started.json["id"].as_str().expect("id");
    let status = as_tenant(&two, Some(KEY_A), "GET", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(status.json["state"], "running", "{}", status.text);
    let stopped = as_tenant(
        &two,
        Some(KEY_A),
        "DELETE",
        &format!("/v1/ingests/{id}"),
        None,
    )
    .await;
    assert_eq!(stopped.status, 200, "{}", stopped.text);
}

/// A tenant's own limits: over its `rate` or its `max_concurrent` it gets 429 with
/// `Retry-After`, counted in `ingest_tenant_limited_total`; another tenant's requests in the
/// same moment are unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_over_its_limits_gets_429s_and_the_others_are_unaffected() {
    let sim = trtc_sim().await;
    let gw = std::sync::Arc::new(
        gateway(&format!(
            r#"[gateway]
auth = "tenants"
{provider}
[[tenants]]
id = "a"
api_key_sha256 = "{a}"
providers = ["*"]
rate = 2
[[tenants]]
id = "b"
api_key_sha256 = "{b}"
providers = ["*"]
[[tenants]]
id = "c"
api_key_sha256 = "{c}"
providers = ["*"]
max_concurrent = 1
"#,
            provider = trtc_provider("trtc", &sim.base_url(), QUOTA_OFF),
            a = sha256_hex(KEY_A),
            b = sha256_hex(KEY_B),
            c = sha256_hex(KEY_C),
        ))
        .await,
    );
    // a: 2 requests per second (a burst of 2). Sent back to back, the third is refused — or
    // a later one, when the machine is slow enough that turns freed meanwhile; never more
    // are admitted than the rate allows in the time they took.
    let t0 = std::time::Instant::now();
    let mut admitted = 0usize;
    let over = loop {
        let answer = as_tenant(&gw, Some(KEY_A), "GET", "/v1/providers", None).await;
        if answer.status == 429 {
            break answer;
        }
        assert_eq!(answer.status, 200, "{}", answer.text);
        admitted += 1;
        assert!(
            admitted < 50,
            "tenant a was never limited: {admitted} requests in {:?}",
            t0.elapsed()
        );
    };
    let allowed = 2 + (t0.elapsed().as_secs_f64() * 2.0).ceil() as usize;
    assert!(
        (2..=allowed).contains(&admitted),
        "{admitted} admitted in {:?} at 2/s with a burst of 2",
        t0.elapsed()
    );
    assert_eq!(over.json["kind"], "rate-limited");
    assert!(over.headers.contains_key("retry-after"));
    assert!(over.text.contains("`rate`"), "{}", over.text);
    // b, at the same moment: not limited.
    for _ in 0..10 {
        let ok = as_tenant(&gw, Some(KEY_B), "GET", "/v1/providers", None).await;
        assert_eq!(ok.status, 200, "{}", ok.text);
    }
    // c: one start waiting on its vendor; a second request while it waits is refused.
    sim.server().fail_next(ingest_sim::server::Fault::Delay(
        std::time::Duration::from_millis(800),
    ));
    let reached = sim.server().request_count();
    let slow = {
        let gw = gw.clone();
        tokio::spawn(async move {
            as_tenant(
                &gw,
                Some(KEY_C),
                "POST",
                "/v1/ingests",
                Some(pull_in("trtc", "61")),
            )
            .await
        })
    };
    // Once its request is at the vendor, the slow start holds c's one turn.
    wait_until("the slow start's request at the vendor", || {
        sim.server().request_count() > reached
    })
    .await;
    let busy = as_tenant(&gw, Some(KEY_C), "GET", "/v1/providers", None).await;
    assert_eq!(busy.status, 429, "{}", busy.text);
    assert!(busy.text.contains("max_concurrent"), "{}", busy.text);
    let ok = as_tenant(
        &gw,
        Some(KEY_B),
        "POST",
        "/v1/ingests",
        Some(pull_in("trtc", "62")),
    )
    .await;
    assert_eq!(ok.status, 201, "b is not held back by c: {}", ok.text);
    assert_eq!(slow.await.expect("slow start").status, 201);
    let after = as_tenant(&gw, Some(KEY_C), "GET", "/v1/providers", None).await;
    assert_eq!(after.status, 200, "{}", after.text);

    let metrics = as_tenant(&gw, Some(KEY_B), "GET", "/metrics", None)
        .await
        .text;
    assert!(
        metrics.contains(r#"ingest_tenant_limited_total{tenant="a",limit="rate"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"ingest_tenant_limited_total{tenant="c",limit="concurrency"} 1"#),
        "{metrics}"
    );
}
