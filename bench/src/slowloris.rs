//! Slow clients: the gateway holding thousands of connections that each sent half a request
//! head (slowloris), and a steady stream of normal requests meanwhile. Figures: the latency of
//! the normal requests before and during the attack, and how long after its first byte each
//! half-sent head was cut off (`[connections] header_timeout_ms`).

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::gateway::{self, Spec};
use crate::procs::{self, TempDir};

/// The header timeout the gateway runs with here.
pub const HEADER_TIMEOUT_MS: u64 = 2000;

/// What one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Slowloris {
    /// Connections that sent half a head.
    pub attackers: usize,
    /// Of those, cut off by the gateway within the header timeout plus one second.
    pub cut_in_time: usize,
    /// Cut off at all (the rest were still open when the bench gave up, 3× the timeout).
    pub cut: usize,
    /// Median and largest time from first byte to close, ms.
    pub cut_after_median_ms: f64,
    /// The largest such time, ms.
    pub cut_after_max_ms: f64,
    /// Normal requests (`GET /healthz`, each on a new connection) before the attack: p50, p99, ms.
    pub before_ms: (f64, f64),
    /// The same during the attack.
    pub during_ms: (f64, f64),
    /// Normal requests during the attack that failed.
    pub failed: usize,
    /// Normal requests during the attack.
    pub requests: usize,
}

/// Runs the attack with `attackers` connections against a gateway of its own.
pub async fn run(gateway_bin: &Path, attackers: usize) -> anyhow::Result<Slowloris> {
    crate::lifecycle::check_open_files(attackers)?;
    let dir = TempDir::new("slowloris")?;
    let sim = crate::load_test_sim().await?;
    let spec = Spec {
        listen: procs::free_addr()?,
        admin: None,
        cache_dir: dir.path().join("cache"),
        max_concurrent_calls: gateway::DEFAULT_MAX_CONCURRENT_CALLS,
        providers: vec!["trtc"],
        trtc_endpoint: Some(sim.base_url()),
        // More than the attackers: the figure is the header timeout's, not the limit's
        // back-pressure (which would hold new clients in the backlog until slots free).
        connections: vec![
            ("header_timeout_ms", HEADER_TIMEOUT_MS as i64),
            ("max_connections", (attackers as i64 + 1024).max(4096)),
        ],
    };
    let running = gateway::start(gateway_bin, &spec, dir.path()).await?;
    let addr = running.addr;
    let before = probe(addr, Duration::from_secs(2)).await;

    let mut attack = Vec::with_capacity(attackers);
    for _ in 0..attackers {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Slow: ")
            .await?;
        let sent = Instant::now();
        attack.push(tokio::spawn(async move { closed_after(s, sent).await }));
    }
    let during = probe(addr, Duration::from_millis(HEADER_TIMEOUT_MS)).await;
    let mut cut_after = Vec::new();
    for a in attack {
        if let Some(d) = a.await? {
            cut_after.push(d.as_secs_f64() * 1000.0);
        }
    }
    cut_after.sort_by(f64::total_cmp);
    let limit = (HEADER_TIMEOUT_MS + 1000) as f64;
    drop(running);
    Ok(Slowloris {
        attackers,
        cut_in_time: cut_after.iter().filter(|ms| **ms <= limit).count(),
        cut: cut_after.len(),
        cut_after_median_ms: percentile(&cut_after, 0.5),
        cut_after_max_ms: cut_after.last().copied().unwrap_or(f64::NAN),
        before_ms: (percentile(&before.0, 0.5), percentile(&before.0, 0.99)),
        during_ms: (percentile(&during.0, 0.5), percentile(&during.0, 0.99)),
        failed: during.1,
        requests: during.0.len() + during.1,
    })
}

/// `GET /healthz` on new connections, one after another, for `time`: sorted latencies (ms)
/// of the answered ones, and the number that failed.
async fn probe(addr: SocketAddr, time: Duration) -> (Vec<f64>, usize) {
    let end = Instant::now() + time;
    let (mut ok, mut failed) = (Vec::new(), 0);
    while Instant::now() < end {
        let t0 = Instant::now();
        match tokio::time::timeout(Duration::from_secs(5), healthz(addr)).await {
            Ok(Ok(true)) => ok.push(t0.elapsed().as_secs_f64() * 1000.0),
            _ => failed += 1,
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    ok.sort_by(f64::total_cmp);
    (ok, failed)
}

async fn healthz(addr: SocketAddr) -> std::io::Result<bool> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n")
        .await?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await?;
    Ok(out.starts_with(b"HTTP/1.1 200"))
}

/// How long after `sent` the peer closed `s` (`None`: still open after three header timeouts).
async fn closed_after(mut s: TcpStream, sent: Instant) -> Option<Duration> {
    let mut buf = [0u8; 1024];
    let limit = Duration::from_millis(3 * HEADER_TIMEOUT_MS);
    loop {
        match tokio::time::timeout(limit.saturating_sub(sent.elapsed()), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(sent.elapsed()),
            Ok(Ok(_)) => {}
            Err(_) => return None,
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}
