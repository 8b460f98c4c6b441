//! The embedding example against the Tencent TRTC simulator: the application's own route and
//! the gateway's API served side by side from one hyper listener on 127.0.0.1:0.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use ingest_gateway::{Config, Gateway};
use ingest_sim::tencent::{TencentSim, TencentSimConfig};

async fn send(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("request");
    tokio::time::timeout(std::time::Duration::from_secs(30), async {
        let resp = sender.send_request(req).await.expect("response");
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    })
    .await
    .expect("answer in time")
}

#[tokio::test]
async fn the_gateway_api_and_the_apps_own_routes_share_one_listener() {
    let account = TencentSimConfig::for_tests();
    let sim = TencentSim::start(account.clone())
        .await
        .expect("simulator starts");
    let toml = format!(
        r#"
        [gateway]
        auth = "off"           # no tenants in this test: the API is open
        [[providers]]
        id = "trtc"
        plugin = "{plugin}"
        endpoint = "{endpoint}"
        allow_private = true   # the simulator is on loopback
        [providers.config]
        region = "ap-guangzhou"
        sdk_app_id = {app_id}
        [providers.secrets]
        secret_id = {{ value = "{secret_id}" }}
        secret_key = {{ value = "{secret_key}" }}
        "#,
        plugin = ingest_sim::artifacts::plugin("tencent-trtc"),
        endpoint = sim.base_url(),
        app_id = account.sdk_app_id,
        secret_id = account.secret_id,
        secret_key = account.secret_key,
    );
    let mut config = Config::parse(&toml).expect("valid config");
    // The test keeps its events in memory (an embedder keeps them in a file or PostgreSQL).
    config.events.store = Some(ingest_gateway::config::MEMORY_EVENTS_STORE.to_string());
    let gateway = Arc::new(Gateway::from_config(config).await.expect("gateway starts"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(ingest_embed_example::serve(gateway, listener));

    // The application's own route.
    let (status, text) = send(addr, "GET", "/hello", "").await;
    assert_eq!((status, text.as_str()), (200, "hello from the application"));

    // The gateway's API, end to end through the plugin to the simulator.
    let start = serde_json::json!({
        "provider": "trtc",
        "direction": "pull-in",
        "room_id": "4242",
        "user_id": "relay-bot",
        "stream_url": "rtmp://media.example.com/live/source",
        "options": { "user_sig": "eJyrVkrNSMxSslIyNDBQ" },
    });
    let (status, text) = send(addr, "POST", "/v1/ingests", &start.to_string()).await;
    assert_eq!(status, 201, "{text}");
    let started: serde_json::Value = serde_json::from_str(&text).expect("json");
    let id = started["id"].as_str().expect("id");
    assert_eq!(sim.tasks()[0].room_id, "4242");

    let (status, text) = send(addr, "GET", &format!("/v1/ingests/{id}"), "").await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"running\""), "{text}");
    let (status, text) = send(addr, "DELETE", &format!("/v1/ingests/{id}"), "").await;
    assert_eq!(status, 200, "{text}");

    let (status, _) = send(addr, "GET", "/healthz", "").await;
    assert_eq!(status, 200);
    let too_big = "x".repeat(70 * 1024);
    let (status, _) = send(addr, "POST", "/v1/ingests", &too_big).await;
    assert_eq!(status, 413);

    server.abort();
}
