//! The https vendor path end to end: gateway → tencent-trtc plugin → the host's vendor client
//! (rustls on `ring`, pooled, HTTP/2 by ALPN) → the TRTC simulator behind TLS.
//!
//! Every simulator here presents a certificate from a throw-away CA made by the test
//! (`ingest_sim::tls::TestTls`); the provider trusts it through `[providers.egress] ca_file`.
//! Nothing is trusted that the test did not configure: the bundled public roots know neither
//! test CA.

use std::path::Path;

use ingest_sim::tencent::{TencentSim, TencentSimConfig};
use ingest_sim::tls::{ALPN_HTTP11, TestTls};

use crate::support::*;

fn sim_config() -> TencentSimConfig {
    trtc_sim_config()
}

/// A TRTC simulator over https (HTTP/2 and HTTP/1.1 offered by ALPN).
async fn tls_sim(tls: &TestTls) -> TencentSim {
    TencentSim::start_tls(sim_config(), tls)
        .await
        .expect("https simulator starts")
}

/// `[providers.egress] ca_file = "…"`, for `trtc_provider`'s `extra` lines.
fn ca_file_lines(path: &Path) -> String {
    format!(
        "[providers.egress]\nca_file = {:?}\n",
        path.display().to_string()
    )
}

/// A TRTC provider pointed at `endpoint` (loopback allowed) trusting the CA in `ca_file`.
fn https_provider(endpoint: &str, ca_file: &Path) -> String {
    trtc_provider("trtc", endpoint, &ca_file_lines(ca_file))
}

fn detail(a: &Answer) -> String {
    a.json["detail"].as_str().unwrap_or_default().to_string()
}

/// Whether `detail` names a certificate-verification failure, in rustls' words or plain ones.
fn names_the_tls_reason(detail: &str) -> bool {
    let lower = detail.to_ascii_lowercase();
    lower.contains("certificate")
        || lower.contains("unknownissuer")
        || lower.contains("unknown issuer")
}

/// Start, status and stop all go over https to `https://localhost:PORT`, verified against
/// the test CA from `ca_file`.
#[tokio::test]
async fn start_status_stop_over_https() {
    let tls = TestTls::new().expect("test CA");
    let sim = tls_sim(&tls).await;
    let endpoint = sim.url_with_host("localhost");
    assert!(endpoint.starts_with("https://localhost:"), "{endpoint}");
    let gw = gateway(&https_provider(&endpoint, tls.ca_file())).await;

    let started = call(&gw, "POST", "/v1/ingests", Some(pull_in("trtc", "443"))).await;
    assert_eq!(started.status, 201, "{}", started.text);
    let id = started.json["id"].as_str().expect("id").to_string();
    let task_id = started.json["session"]["vendor_task_id"]
        .as_str()
        .expect("task id")
        .to_string();
    let tasks = sim.tasks();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].task_id, task_id);
    assert_eq!(tasks[0].room_id, "443");

    let status = call(&gw, "GET", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(status.status, 200, "{}", status.text);
    assert_eq!(status.json["state"], "running", "{}", status.text);
    assert_eq!(status.json["vendor_state"], "InProgress", "{}", status.text);

    let stopped = call(&gw, "DELETE", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(stopped.status, 200, "{}", stopped.text);
    assert_eq!(stopped.json["state"], "stopped", "{}", stopped.text);

    // Every vendor request arrived over TLS, and the TLS server was really used.
    assert!(sim.request_count() >= 3, "{}", sim.request_count());
    assert!(sim.tls_handshakes() >= 1);
    assert_no_secrets("the log", "");
}

/// The pooled client keeps its TLS connection: 50 sequential calls cost at most two TLS
/// handshakes (one, plus at most one replacement).
#[tokio::test]
async fn fifty_sequential_calls_open_at_most_two_tls_connections() {
    let tls = TestTls::new().expect("test CA");
    let sim = tls_sim(&tls).await;
    let gw = gateway(&https_provider(
        &sim.url_with_host("localhost"),
        tls.ca_file(),
    ))
    .await;
    for i in 0..50 {
        let started = call(
            &gw,
            "POST",
            "/v1/ingests",
            Some(pull_in("trtc", &(1000 + i).to_string())),
        )
        .await;
        assert_eq!(started.status, 201, "call {i}: {}", started.text);
    }
    assert_eq!(sim.request_count(), 50);
    assert_eq!(sim.tasks().len(), 50);
    let handshakes = sim.tls_handshakes();
    assert!(
        (1..=2).contains(&handshakes),
        "50 sequential calls made {handshakes} TLS handshakes"
    );
    assert!(
        sim.connections_accepted() <= 2,
        "50 sequential calls opened {} TCP connections",
        sim.connections_accepted()
    );
}

/// The vendor offers `h2` by ALPN, so the host's client speaks HTTP/2 to it.
#[tokio::test]
async fn the_vendor_client_uses_http2_when_the_vendor_offers_it() {
    let tls = TestTls::new().expect("test CA");
    let sim = tls_sim(&tls).await;
    let gw = gateway(&https_provider(
        &sim.url_with_host("localhost"),
        tls.ca_file(),
    ))
    .await;
    let started = call(&gw, "POST", "/v1/ingests", Some(pull_in("trtc", "2"))).await;
    assert_eq!(started.status, 201, "{}", started.text);
    let id = started.json["id"].as_str().expect("id").to_string();
    let status = call(&gw, "GET", &format!("/v1/ingests/{id}"), None).await;
    assert_eq!(status.status, 200, "{}", status.text);

    let requests = sim.requests();
    assert!(requests.len() >= 2);
    for r in &requests {
        assert_eq!(
            r.version,
            http::Version::HTTP_2,
            "{} {}",
            r.method,
            r.path_and_query
        );
    }
    assert_eq!(sim.http2_requests(), requests.len());
}

/// A vendor that offers only HTTP/1.1 by ALPN is spoken to over HTTP/1.1, still over TLS.
#[tokio::test]
async fn an_http1_only_vendor_is_served_over_http1() {
    let tls = TestTls::new().expect("test CA");
    let config = tls
        .server_config_with_alpn(&[ALPN_HTTP11])
        .expect("server config");
    let sim = TencentSim::start_tls_on(
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        sim_config(),
        config,
    )
    .await
    .expect("https simulator starts");
    let gw = gateway(&https_provider(
        &sim.url_with_host("localhost"),
        tls.ca_file(),
    ))
    .await;
    for room in ["11", "12", "13"] {
        let started = call(&gw, "POST", "/v1/ingests", Some(pull_in("trtc", room))).await;
        assert_eq!(started.status, 201, "{}", started.text);
    }
    assert!(
        sim.requests()
            .iter()
            .all(|r| r.version == http::Version::HTTP_11)
    );
    assert_eq!(sim.http2_requests(), 0);
    assert!(sim.tls_handshakes() >= 1);
    assert!(
        sim.connections_accepted() <= 2,
        "HTTP/1.1 keep-alive: {} connections for 3 sequential calls",
        sim.connections_accepted()
    );
}

/// An IP-literal endpoint is verified against the certificate's IP address entry.
#[tokio::test]
async fn an_ip_literal_https_endpoint_is_verified_by_address() {
    let tls = TestTls::new().expect("test CA");
    let sim = tls_sim(&tls).await;
    let endpoint = sim.base_url();
    assert!(endpoint.starts_with("https://127.0.0.1:"), "{endpoint}");
    let gw = gateway(&https_provider(&endpoint, tls.ca_file())).await;
    let started = call(&gw, "POST", "/v1/ingests", Some(pull_in("trtc", "127"))).await;
    assert_eq!(started.status, 201, "{}", started.text);
    assert_eq!(sim.tasks().len(), 1);
}

/// The provider trusts a different CA: the handshake fails, nothing reaches the vendor, and
/// the problem says why in TLS terms.
#[tokio::test]
async fn a_certificate_from_another_ca_is_refused_with_the_tls_reason() {
    let tls = TestTls::new().expect("test CA");
    let wrong = TestTls::unrelated_ca().expect("second CA");
    let sim = tls_sim(&tls).await;
    let gw = gateway(&https_provider(
        &sim.url_with_host("localhost"),
        wrong.pem_path(),
    ))
    .await;
    let a = call(&gw, "POST", "/v1/ingests", Some(pull_in("trtc", "3"))).await;
    assert!(a.status >= 500, "{}", a.text);
    let kind = a.json["kind"].as_str().unwrap_or_default();
    assert!(
        kind == "unavailable" || kind == "denied",
        "kind {kind}: {}",
        a.text
    );
    assert!(
        names_the_tls_reason(&detail(&a)),
        "the detail should name the certificate problem: {}",
        a.text
    );
    assert_eq!(a.json["provider"], "trtc", "{}", a.text);
    assert_eq!(sim.tls_handshakes(), 0, "no handshake may complete");
    assert_eq!(sim.request_count(), 0, "no request may be sent");
    assert!(sim.tasks().is_empty());
}

/// Without `ca_file` only the bundled public roots are trusted, and they do not know the
/// test CA: refused the same way (no trust-everything fallback).
#[tokio::test]
async fn without_ca_file_the_test_ca_is_not_trusted() {
    let tls = TestTls::new().expect("test CA");
    let sim = tls_sim(&tls).await;
    let gw = gateway(&trtc_provider("trtc", &sim.url_with_host("localhost"), "")).await;
    let a = call(&gw, "POST", "/v1/ingests", Some(pull_in("trtc", "4"))).await;
    let kind = a.json["kind"].as_str().unwrap_or_default();
    assert!(
        kind == "unavailable" || kind == "denied",
        "kind {kind}: {}",
        a.text
    );
    assert!(names_the_tls_reason(&detail(&a)), "{}", a.text);
    assert_eq!(sim.tls_handshakes(), 0);
    assert_eq!(sim.request_count(), 0);
}

/// `localhost` is on the allowlist but resolves to loopback, and the provider does not allow
/// private addresses: refused as `denied` before any connection, TLS or not.
#[tokio::test]
async fn a_loopback_https_endpoint_is_denied_before_any_connection() {
    let tls = TestTls::new().expect("test CA");
    let sim = tls_sim(&tls).await;
    let port = sim.addr().port();
    let extra = format!(
        "allow_hosts = [\"localhost:{port}\"]\n{}",
        ca_file_lines(tls.ca_file())
    );
    let toml = edit_toml(
        &trtc_provider("trtc", &sim.url_with_host("localhost"), &extra),
        |doc| {
            provider_table(doc, 0).insert("allow_private".into(), false.into());
        },
    );
    let gw = gateway(&toml).await;
    let a = call(&gw, "POST", "/v1/ingests", Some(pull_in("trtc", "5"))).await;
    assert_eq!(a.json["kind"], "denied", "{}", a.text);
    assert!(detail(&a).contains("allow_private"), "{}", a.text);
    assert_eq!(
        sim.connections_accepted(),
        0,
        "the simulator must see no connection"
    );
    assert_eq!(sim.tls_handshakes(), 0);
    assert_eq!(sim.request_count(), 0);
}

/// A `ca_file` that holds no certificate stops the gateway from starting, naming the key.
#[tokio::test]
async fn a_ca_file_without_a_certificate_is_a_startup_error() {
    init();
    let dir = temp_dir("https-bad-ca");
    let bad = dir.join("not-a-ca.pem");
    std::fs::write(&bad, "this is not a PEM certificate\n").expect("write");
    let toml = format!(
        "[gateway]\nauth = \"off\"\n{}",
        https_provider("https://localhost:9", &bad)
    );
    let message = match ingest_gateway::Config::parse(&with_memory_events(&toml)) {
        Err(e) => e.to_string(),
        Ok(config) => match ingest_gateway::Gateway::from_config(config).await {
            Err(e) => e.to_string(),
            Ok(_) => panic!("a gateway started with a ca_file that holds no certificate"),
        },
    };
    assert!(message.contains("ca_file"), "{message}");
    let _ = std::fs::remove_dir_all(&dir);
}
