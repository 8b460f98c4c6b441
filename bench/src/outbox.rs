//! Events: the durable outbox's figures, on each store (a SQLite file, a fresh PostgreSQL
//! database). A gateway process (`auth = "tenants"`, one tenant with a webhook) receives
//! signed Tencent TRTC 701 callbacks for tenant `a`:
//!
//! 1. accepted per second: `senders` concurrent senders (a keep-alive connection each) post
//!    distinct callbacks as fast as they are answered, for `seconds`; every 200 counts (the
//!    event is committed before it is answered); deliveries run meanwhile;
//! 2. callback → webhook delay: once the backlog is delivered, callbacks at a steady `rate`
//!    for `steady_seconds`; each delay runs from sending the callback to the webhook
//!    receiver (in this process) holding its `webhook-id`; p50 and p99.
//!
//! 3. another replica's stream (PostgreSQL): two gateway processes on one database; a
//!    `GET /v1/events` listener on the second; callbacks at the steady rate to the first; the
//!    delay from sending a callback to the listener holding it, with `[events] notify` on
//!    (LISTEN/NOTIFY wakes the second replica) and off (it finds the event at its next poll,
//!    `poll_interval_ms` = 250).
//!
//! PostgreSQL comes from `INGEST_BENCH_POSTGRES_URL` (else `INGEST_TEST_POSTGRES_URL`, else
//! `postgres://postgres@127.0.0.1:5432/test`; `scripts/bench` starts one where none answers).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use ingest_sim::tencent::{CallbackEvent, TencentSim, TencentSimConfig};
use serde::Serialize;
use sqlx::{Connection, Executor};
use toml::{Table, Value};

use crate::gateway::{self, Spec};
use crate::procs::{self, TempDir};

/// Callbacks accepted per second into each store, at least.
pub const ACCEPT_TARGET_PER_SEC: f64 = 2000.0;
/// Callback → webhook p99 at the steady rate, at most, ms.
pub const DELAY_TARGET_MS: f64 = 50.0;

const KEY: &str = "ingest-bench-events-tenant-key-01";
const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// How the section runs.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Concurrent senders in the throughput phase.
    pub senders: usize,
    /// Length of the throughput phase.
    pub seconds: Duration,
    /// Callbacks per second in the delay phase.
    pub rate: u32,
    /// Length of the delay phase.
    pub steady_seconds: Duration,
}

/// One store's figures.
#[derive(Debug, Clone, Serialize)]
pub struct StoreRun {
    /// `sqlite` or `postgres`.
    pub store: &'static str,
    /// Callbacks answered 200 per second with `senders` senders.
    pub accepted_per_sec: f64,
    /// Callbacks answered 200 in the throughput phase.
    pub accepted: usize,
    /// Callbacks answered otherwise (or not at all) in it.
    pub refused: usize,
    /// Callback → webhook delay at the steady rate: p50, p99, ms.
    pub delay_ms: (f64, f64),
    /// Callbacks sent at the steady rate, and how many reached the webhook.
    pub steady_sent: usize,
    /// …of which reached the webhook within 10 s of the phase's end.
    pub steady_delivered: usize,
}

/// The section's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Outbox {
    /// Concurrent senders.
    pub senders: usize,
    /// Callbacks per second in the delay phase.
    pub rate: u32,
    /// Each store.
    pub runs: Vec<StoreRun>,
    /// Callback to replica A → event on replica B's stream: with LISTEN/NOTIFY, by polling.
    pub fleet: Vec<FleetRun>,
}

/// Another replica's stream, one wake-up mode.
#[derive(Debug, Clone, Serialize)]
pub struct FleetRun {
    /// `[events] notify`.
    pub notify: bool,
    /// Delay p50, p99, ms.
    pub delay_ms: (f64, f64),
    /// Callbacks sent, and how many the listener on the other replica heard.
    pub sent: usize,
    /// …heard on the other replica's stream.
    pub heard: usize,
}

/// Runs the section on both stores.
pub async fn run(bin: &Path, options: Options) -> anyhow::Result<Outbox> {
    let mut runs = Vec::new();
    let dir = TempDir::new("events-sqlite")?;
    let sqlite = format!("sqlite://{}", dir.path().join("events.sqlite").display());
    runs.push(one_store(bin, "sqlite", &sqlite, options).await?);
    let (postgres, database) = fresh_postgres().await?;
    let measured = one_store(bin, "postgres", &postgres, options).await;
    drop_postgres(&database).await;
    runs.push(measured?);
    let mut fleet = Vec::new();
    for notify in [true, false] {
        let (postgres, database) = fresh_postgres().await?;
        let measured = fleet_stream(bin, &postgres, notify, options).await;
        drop_postgres(&database).await;
        fleet.push(measured?);
    }
    Ok(Outbox {
        senders: options.senders,
        rate: options.rate,
        runs,
        fleet,
    })
}

/// Two replicas on `store`: callbacks to the first at the steady rate, a listener on the
/// second's `GET /v1/events`.
async fn fleet_stream(
    bin: &Path,
    store: &str,
    notify: bool,
    options: Options,
) -> anyhow::Result<FleetRun> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    eprintln!("  another replica's stream, notify = {notify}");
    let sim = TencentSim::start(TencentSimConfig::demo()).await?;
    let (hook, _arrivals) = receiver().await?;
    let mut replicas = Vec::new();
    let mut dirs = Vec::new();
    for n in 0..2 {
        let dir = TempDir::new(&format!("events-fleet-{n}"))?;
        let spec = spec(&dir, &sim)?;
        let mut config: Table = toml::from_str(&config(&spec, hook, store)?)?;
        gateway::table(&mut config, "events")?.insert("notify".into(), notify.into());
        let text = toml::to_string(&config)?;
        replicas.push(gateway::start_with(bin, &text, spec.listen, None, dir.path()).await?);
        dirs.push(dir);
    }
    let (a, b) = (replicas[0].addr, replicas[1].addr);

    let mut stream = tokio::net::TcpStream::connect(b).await?;
    stream
        .write_all(
            format!("GET /v1/events HTTP/1.1\r\nhost: {b}\r\nauthorization: Bearer {KEY}\r\n\r\n")
                .as_bytes(),
        )
        .await?;
    let heard: Arrivals = Arc::default();
    let listening = {
        let heard = heard.clone();
        tokio::spawn(async move {
            let mut text = String::new();
            let mut buf = vec![0u8; 65536];
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                let at = Instant::now();
                text.push_str(&String::from_utf8_lossy(&buf[..n]));
                while let Some(end) = text.find("\n\n") {
                    let frame: String = text.drain(..end + 2).collect();
                    for line in frame.lines() {
                        if let Some(data) = line.strip_prefix("data: ")
                            && let Ok(v) = serde_json::from_str::<serde_json::Value>(data)
                            && let Some(id) = v["id"].as_str()
                        {
                            heard
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .entry(id.to_string())
                                .or_insert(at);
                        }
                    }
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;

    let steady = (options.steady_seconds.as_secs_f64() * f64::from(options.rate)) as usize;
    let tag = format!("fleet-{notify}");
    let callbacks: Arc<Vec<Signed>> =
        Arc::new((0..steady).map(|i| signed(&sim, &tag, i)).collect());
    let sent = steady_load(a, &callbacks, options.rate).await?;
    let heard = wait_for(&heard, &sent, Duration::from_secs(10)).await;
    listening.abort();
    let mut delays: Vec<f64> = sent
        .iter()
        .filter_map(|(id, at)| {
            heard
                .get(id)
                .map(|t| t.duration_since(*at).as_secs_f64() * 1e3)
        })
        .collect();
    let heard_n = delays.len();
    for r in &mut replicas {
        r.proc.check_alive()?;
    }
    Ok(FleetRun {
        notify,
        delay_ms: procs::percentiles(&mut delays),
        sent: sent.len(),
        heard: heard_n,
    })
}

/// Sends `callbacks` to `addr` at `rate` a second, a new connection each (as a vendor
/// does); each answered one's event id and when it was sent.
async fn steady_load(
    addr: SocketAddr,
    callbacks: &Arc<Vec<Signed>>,
    rate: u32,
) -> anyhow::Result<Vec<(String, Instant)>> {
    let sent: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::new();
    for i in 0..callbacks.len() {
        ticker.tick().await;
        let (callbacks, sent) = (callbacks.clone(), sent.clone());
        tasks.push(tokio::spawn(async move {
            let at = Instant::now();
            let mut sender = connect(addr).await?;
            if let Some(id) = post(&mut sender, addr, &callbacks[i]).await? {
                sent.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((id, at));
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let sent = std::mem::take(&mut *sent.lock().unwrap_or_else(|p| p.into_inner()));
    Ok(sent)
}

/// Waits (at most `within`) until `seen` holds every id of `sent`; what it holds then.
async fn wait_for(
    seen: &Arrivals,
    sent: &[(String, Instant)],
    within: Duration,
) -> HashMap<String, Instant> {
    let until = Instant::now() + within;
    loop {
        let all_in = {
            let got = seen.lock().unwrap_or_else(|p| p.into_inner());
            sent.iter().all(|(id, _)| got.contains_key(id))
        };
        if all_in || Instant::now() > until {
            return seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn postgres_base() -> String {
    std::env::var("INGEST_BENCH_POSTGRES_URL")
        .or_else(|_| std::env::var("INGEST_TEST_POSTGRES_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// A new database on the bench PostgreSQL: its URL and name.
async fn fresh_postgres() -> anyhow::Result<(String, String)> {
    let base = postgres_base();
    let mut conn = sqlx::PgConnection::connect(&base).await.with_context(|| {
        format!(
            "no PostgreSQL at {base} (scripts/bench starts one; or set INGEST_BENCH_POSTGRES_URL)"
        )
    })?;
    let name = format!("ingest_bench_{}", std::process::id());
    conn.execute(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .await?;
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await?;
    let mut url = url::Url::parse(&base)?;
    url.set_path(&name);
    Ok((url.to_string(), name))
}

async fn drop_postgres(name: &str) {
    if let Ok(mut conn) = sqlx::PgConnection::connect(&postgres_base()).await {
        let _ = conn
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .await;
    }
}

/// When each `webhook-id` first reached the receiver.
type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

/// A webhook receiver on a free loopback port: notes each delivery's id and answers 200.
async fn receiver() -> anyhow::Result<(SocketAddr, Arrivals)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let arrivals: Arrivals = Arc::default();
    let seen = arrivals.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let seen = seen.clone();
                        async move {
                            let at = Instant::now();
                            if let Some(id) = req
                                .headers()
                                .get("webhook-id")
                                .and_then(|v| v.to_str().ok())
                            {
                                let id = id.to_string();
                                seen.lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .entry(id)
                                    .or_insert(at);
                            }
                            let _ = req.into_body().collect().await;
                            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(
                                b"ok",
                            ))))
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((addr, arrivals))
}

fn config(spec: &Spec, hook: SocketAddr, store: &str) -> anyhow::Result<String> {
    let mut config: Table = toml::from_str(&gateway::config_toml(spec)?)?;
    gateway::table(&mut config, "gateway")?.insert("auth".into(), "tenants".into());
    let tenant: Table = toml::from_str(&format!(
        r#"id = "a"
api_key_sha256 = "{}"
providers = ["*"]
[webhook]
url = "http://{hook}/hooks"
secret = {{ value = "{WEBHOOK_SECRET}" }}
"#,
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(KEY.as_bytes()))
    ))?;
    config.insert("tenants".into(), Value::Array(vec![Value::Table(tenant)]));
    gateway::table(&mut config, "events")?.insert("store".into(), store.into());
    Ok(toml::to_string(&config)?)
}

/// A gateway with the TRTC provider in front of `sim`, its cache in `dir`.
fn spec(dir: &TempDir, sim: &TencentSim) -> anyhow::Result<Spec> {
    Ok(Spec {
        listen: procs::free_addr()?,
        admin: None,
        cache_dir: dir.path().join("cache"),
        max_concurrent_calls: 256,
        providers: vec!["trtc"],
        trtc_endpoint: Some(sim.base_url()),
        connections: Vec::new(),
    })
}

/// A signed callback: headers and body.
type Signed = (Vec<(String, String)>, Vec<u8>);

fn signed(sim: &TencentSim, tag: &str, i: usize) -> Signed {
    let cb = sim.signed_callback(&CallbackEvent {
        event_type: 701,
        task_id: format!("bench-{tag}-{i}"),
        status: Some(0),
    });
    (cb.headers, cb.body)
}

/// One keep-alive connection to the gateway.
async fn connect(
    addr: SocketAddr,
) -> anyhow::Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

/// Posts one callback; its `event_id` when answered 200.
async fn post(
    sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    addr: SocketAddr,
    cb: &Signed,
) -> anyhow::Result<Option<String>> {
    sender.ready().await?;
    let mut req = http::Request::post("/v1/callbacks/trtc/a").header("host", addr.to_string());
    for (k, v) in &cb.0 {
        req = req.header(k, v);
    }
    let resp = sender
        .send_request(req.body(Full::new(Bytes::from(cb.1.clone())))?)
        .await?;
    let ok = resp.status() == http::StatusCode::OK;
    let body = resp.into_body().collect().await?.to_bytes();
    if !ok {
        return Ok(None);
    }
    let json: serde_json::Value = serde_json::from_slice(&body)?;
    Ok(json["event_id"].as_str().map(str::to_string))
}

async fn one_store(
    bin: &Path,
    name: &'static str,
    store: &str,
    options: Options,
) -> anyhow::Result<StoreRun> {
    eprintln!("  {name}: {store}");
    let dir = TempDir::new(&format!("events-{name}-gateway"))?;
    let sim = TencentSim::start(TencentSimConfig::demo()).await?;
    let (hook, arrivals) = receiver().await?;
    let spec = spec(&dir, &sim)?;
    let text = config(&spec, hook, store)?;
    let mut gw = gateway::start_with(bin, &text, spec.listen, None, dir.path()).await?;
    let addr = gw.addr;

    // 1. Accepted per second.
    let count = (options.seconds.as_secs_f64() * 6000.0).ceil() as usize + options.senders;
    let callbacks: Arc<Vec<Signed>> = Arc::new((0..count).map(|i| signed(&sim, name, i)).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + options.seconds;
    let mut tasks = Vec::new();
    for _ in 0..options.senders {
        let (callbacks, next, accepted, refused) = (
            callbacks.clone(),
            next.clone(),
            accepted.clone(),
            refused.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut sender = connect(addr).await?;
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(cb) = callbacks.get(i) else { break };
                match post(&mut sender, addr, cb).await {
                    Ok(Some(_)) => accepted.fetch_add(1, Ordering::Relaxed),
                    Ok(None) => refused.fetch_add(1, Ordering::Relaxed),
                    Err(_) => {
                        refused.fetch_add(1, Ordering::Relaxed);
                        sender = connect(addr).await?;
                        0
                    }
                };
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let accepted = accepted.load(Ordering::Relaxed);
    let refused = refused.load(Ordering::Relaxed);
    gw.proc.check_alive()?;

    // The backlog drains before the delay phase.
    let drain_until = Instant::now() + Duration::from_secs(120);
    while arrivals.lock().unwrap_or_else(|p| p.into_inner()).len() < accepted
        && Instant::now() < drain_until
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // 2. Callback → webhook delay at a steady rate.
    let steady = (options.steady_seconds.as_secs_f64() * f64::from(options.rate)) as usize;
    let callbacks: Arc<Vec<Signed>> = Arc::new(
        (0..steady)
            .map(|i| signed(&sim, &format!("{name}-steady"), i))
            .collect(),
    );
    let sent = steady_load(addr, &callbacks, options.rate).await?;
    let got = wait_for(&arrivals, &sent, Duration::from_secs(10)).await;
    let mut delays: Vec<f64> = sent
        .iter()
        .filter_map(|(id, at)| {
            got.get(id)
                .map(|t| t.duration_since(*at).as_secs_f64() * 1e3)
        })
        .collect();
    let steady_delivered = delays.len();
    let delay_ms = procs::percentiles(&mut delays);
    gw.proc.check_alive()?;
    Ok(StoreRun {
        store: name,
        accepted_per_sec: accepted as f64 / elapsed,
        accepted,
        refused,
        delay_ms,
        steady_sent: sent.len(),
        steady_delivered,
    })
}
