//! What each front costs: the same requests answered by one in-process gateway through its
//! three fronts, sequentially on one kept-alive connection (latency, not throughput):
//!
//! - **library**: `ingest_gateway::handle` called in-process (no socket);
//! - **standalone**: the gateway's own HTTP listener (`ingest_gateway::serve`);
//! - **envoy + ext_proc**: Envoy with the example config (`examples/envoy/envoy.yaml`, ports
//!   replaced) in front of the gateway's ext_proc gRPC service (`ingest_gateway_server::serve_extproc`).
//!
//! Two requests: `GET /healthz` (no plugin) and `GET /v1/ingests/{id}` of an ingest started
//! on the Tencent simulator (the TRTC plugin signs `DescribeStreamIngest`, the simulator
//! answers, the plugin reads it).

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use ingest_gateway::{Config, Gateway};
use serde::Serialize;
use tokio::sync::oneshot;

use crate::procs::{self, Proc, TempDir, percentiles};

/// One front and request.
#[derive(Debug, Clone, Serialize)]
pub struct FrontCost {
    /// `library`, `standalone` or `envoy + ext_proc`.
    pub front: String,
    /// The request, e.g. `GET /healthz`.
    pub request: String,
    /// Requests timed (after as many untimed).
    pub requests: usize,
    /// Latency median, µs.
    pub p50_us: f64,
    /// Latency 99th percentile, µs.
    pub p99_us: f64,
}

/// Measures every front with `requests` timed requests of each kind.
pub async fn run(envoy_bin: &Path, requests: usize) -> anyhow::Result<Vec<FrontCost>> {
    let dir = TempDir::new("fronts")?;
    let sim = ingest_sim::tencent::TencentSim::start(ingest_sim::tencent::TencentSimConfig::demo())
        .await?;
    sim.set_recording(false);
    let spec = crate::gateway::Spec::trtc_only(sim.base_url(), dir.path().join("cache"))?;
    let mut config = Config::parse(&crate::gateway::config_toml(&spec)?)?;
    config.events.store = Some(ingest_gateway::config::MEMORY_EVENTS_STORE.to_string());
    let gateway = Arc::new(Gateway::from_config(config).await?);
    let standalone = Serving::http(gateway.clone()).await?;
    let extproc = Serving::extproc(gateway.clone()).await?;
    let envoy_addr = procs::free_addr()?;
    let mut envoy = start_envoy(envoy_bin, envoy_addr, extproc.addr, dir.path()).await?;

    let started = send(
        &mut connect(standalone.addr).await?,
        "POST",
        "/v1/ingests",
        Bytes::from_static(crate::gateway::START_BODY.as_bytes()),
    )
    .await?;
    anyhow::ensure!(started.0 == 201, "starting the ingest: {}", started.1);
    let id = serde_json::from_str::<serde_json::Value>(&started.1)?["id"]
        .as_str()
        .context("no `id` in the start answer")?
        .to_string();
    let status_path = format!("/v1/ingests/{id}");

    let mut out = Vec::new();
    for (request, path) in [
        ("GET /healthz", "/healthz"),
        ("GET /v1/ingests/{id}", status_path.as_str()),
    ] {
        let library = time_library(&gateway, path, requests).await?;
        out.push(cost("library", request, library));
        let listener = time_http(standalone.addr, path, requests).await?;
        out.push(cost("standalone", request, listener));
        let through_envoy = time_http(envoy_addr, path, requests).await?;
        envoy.check_alive()?;
        out.push(cost("envoy + ext_proc", request, through_envoy));
    }
    for c in &out {
        eprintln!(
            "  front {:<18} {:<22} p50 {:>8.1} µs  p99 {:>8.1} µs",
            c.front, c.request, c.p50_us, c.p99_us
        );
    }
    standalone.stop().await;
    extproc.stop().await;
    Ok(out)
}

fn cost(front: &str, request: &str, mut samples: Vec<f64>) -> FrontCost {
    let (p50_us, p99_us) = percentiles(&mut samples);
    FrontCost {
        front: front.to_string(),
        request: request.to_string(),
        requests: samples.len(),
        p50_us,
        p99_us,
    }
}

/// `requests` untimed calls of `handle`, then `requests` timed, µs each.
async fn time_library(gateway: &Gateway, path: &str, requests: usize) -> anyhow::Result<Vec<f64>> {
    let mut samples = Vec::with_capacity(requests);
    for i in 0..requests * 2 {
        let req = http::Request::get(path).body(Bytes::new())?;
        let t = Instant::now();
        let resp = ingest_gateway::handle(gateway, req).await;
        let took = t.elapsed();
        anyhow::ensure!(
            resp.status() == 200,
            "library GET {path}: {}",
            resp.status()
        );
        if i >= requests {
            samples.push(micros(took));
        }
    }
    Ok(samples)
}

/// The same over one kept-alive HTTP/1.1 connection to `addr`.
async fn time_http(addr: SocketAddr, path: &str, requests: usize) -> anyhow::Result<Vec<f64>> {
    let mut sender = connect(addr).await?;
    let mut samples = Vec::with_capacity(requests);
    for i in 0..requests * 2 {
        let t = Instant::now();
        let (status, text) = send(&mut sender, "GET", path, Bytes::new()).await?;
        let took = t.elapsed();
        anyhow::ensure!(status == 200, "GET {path} via {addr}: {status} {text}");
        if i >= requests {
            samples.push(micros(took));
        }
    }
    Ok(samples)
}

async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    method: &str,
    path: &str,
    body: Bytes,
) -> anyhow::Result<(u16, String)> {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(body))?;
    sender.ready().await?;
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// A front served in this process until [`Serving::stop`].
struct Serving {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Serving {
    async fn http(gateway: Arc<Gateway>) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            ingest_gateway_server::serve(gateway, listener, async {
                let _ = stopped.await;
            })
            .await
            .map_err(anyhow::Error::from)
        });
        Ok(Self { addr, stop, task })
    }

    async fn extproc(gateway: Arc<Gateway>) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            ingest_gateway_server::serve_extproc(gateway, listener, async {
                let _ = stopped.await;
            })
            .await
            .map_err(anyhow::Error::from)
        });
        Ok(Self { addr, stop, task })
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Envoy on the example config, its client listener on `listen`, its ext_proc service at
/// `extproc`; the upstream and admin ports are free ones nothing else uses.
async fn start_envoy(
    bin: &Path,
    listen: SocketAddr,
    extproc: SocketAddr,
    dir: &Path,
) -> anyhow::Result<Proc> {
    let template_path = crate::workspace_root().join("examples/envoy/envoy.yaml");
    let mut yaml = std::fs::read_to_string(&template_path)
        .with_context(|| format!("reading {}", template_path.display()))?;
    for (from, to) in [
        (
            "port_value: 10000",
            format!("port_value: {}", listen.port()),
        ),
        (
            "port_value: 9901",
            format!("port_value: {}", procs::free_port()?),
        ),
        (
            "port_value: 50051",
            format!("port_value: {}", extproc.port()),
        ),
        (
            "port_value: 8081",
            format!("port_value: {}", procs::free_port()?),
        ),
        (
            "path: /dev/stdout",
            format!("path: {}", dir.join("access.log").display()),
        ),
    ] {
        anyhow::ensure!(
            yaml.matches(from).count() == 1,
            "examples/envoy/envoy.yaml must contain `{from}` exactly once (the bench replaces it)"
        );
        yaml = yaml.replace(from, &to);
    }
    let config = dir.join("envoy-extproc.yaml");
    std::fs::write(&config, yaml)?;
    let mut command = Command::new(bin);
    command
        .arg("-c")
        .arg(&config)
        .args(["--concurrency", "1", "--log-level", "warn"])
        .arg("--use-dynamic-base-id");
    let mut proc = Proc::spawn("envoy", command, &dir.join("envoy-extproc.log"))?;
    procs::wait_listening(listen, Duration::from_secs(30), &mut proc).await?;
    Ok(proc)
}
