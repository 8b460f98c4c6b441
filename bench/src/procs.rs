//! Processes, ports, files and a small HTTP client: what every benchmark section needs.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;

/// A loopback port nobody listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// A loopback address on a free port.
pub fn free_addr() -> anyhow::Result<SocketAddr> {
    Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?)))
}

/// A directory removed when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new, empty directory under the system's temporary directory.
    pub fn new(label: &str) -> anyhow::Result<Self> {
        static SERIAL: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("ingest-bench-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self(path))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed (and reaped) when dropped.
#[derive(Debug)]
pub struct Proc {
    child: Child,
    name: String,
    log: PathBuf,
}

impl Proc {
    /// Starts `command`, its stdout and stderr going to `log`.
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> anyhow::Result<Self> {
        let out =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .with_context(|| format!("starting {name} ({:?})", command.get_program()))?;
        Ok(Self {
            child,
            name: name.to_string(),
            log: log.to_path_buf(),
        })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// An error if it has exited, with the end of its log.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            anyhow::bail!(
                "{} exited ({status}); the end of its log ({}):\n{}",
                self.name,
                self.log.display(),
                tail(&self.log, 20)
            );
        }
        Ok(())
    }

    /// The last lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log, lines)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Resident memory of process `pid`, KiB (`VmRSS` in `/proc/PID/status`).
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS line")
}

/// CPU time process `pid` has used so far, user + system (`/proc/PID/stat`; Linux counts it
/// in ticks of 1/100 s, USER_HZ).
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; fields after its closing parenthesis.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after `)`.
    let ticks = |i: usize| -> anyhow::Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .context("malformed /proc/PID/stat")
    };
    Ok(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
}

/// Polls `GET path` on `addr` until it answers 200 (or `timeout` passes); the time it took.
pub async fn wait_ready(
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
    proc: &mut Proc,
) -> anyhow::Result<Duration> {
    let what = format!("not ready on {addr}{path}");
    poll_until(&what, timeout, proc, || async {
        ingest_sim::server::send(addr, "GET", path, &[], Bytes::new())
            .await
            .is_ok_and(|answer| answer.status == 200)
    })
    .await
}

/// Polls the gateway's `/healthz` until it reports `"optimized": true` (every plugin runs
/// the optimizing compiler's code, and the artifact cache holds it).
pub async fn wait_optimized(
    addr: SocketAddr,
    timeout: Duration,
    proc: &mut Proc,
) -> anyhow::Result<Duration> {
    let what = format!("plugins not optimized on {addr}");
    poll_until(&what, timeout, proc, || async {
        ingest_sim::server::send(addr, "GET", "/healthz", &[], Bytes::new())
            .await
            .ok()
            .and_then(|answer| serde_json::from_slice::<serde_json::Value>(&answer.body).ok())
            .is_some_and(|health| health["optimized"] == true)
    })
    .await
}

/// Polls until something accepts TCP connections on `addr`.
pub async fn wait_listening(
    addr: SocketAddr,
    timeout: Duration,
    proc: &mut Proc,
) -> anyhow::Result<Duration> {
    let what = format!("nothing listens on {addr}");
    poll_until(&what, timeout, proc, || async {
        tokio::net::TcpStream::connect(addr).await.is_ok()
    })
    .await
}

/// Tries `done` every millisecond until it holds (the time it took), `proc` exits, or
/// `timeout` passes.
async fn poll_until<F, Fut>(
    what: &str,
    timeout: Duration,
    proc: &mut Proc,
    mut done: F,
) -> anyhow::Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if done().await {
            return Ok(started.elapsed());
        }
        proc.check_alive()?;
        if started.elapsed() > timeout {
            anyhow::bail!(
                "{what} after {timeout:?}; the end of its log:\n{}",
                proc.log_tail(20)
            );
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A program by name: `PATH`, else the places its installer puts it.
pub fn find_program(name: &str, also: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .chain(also.iter().map(PathBuf::from))
        .find(|p| p.is_file())
}

/// Median and 99th percentile of `samples` (sorted in place), in the samples' unit.
pub fn percentiles(samples: &mut [f64]) -> (f64, f64) {
    if samples.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let rank = (q * samples.len() as f64).ceil() as usize;
        samples[rank.clamp(1, samples.len()) - 1]
    };
    (at(0.5), at(0.99))
}
