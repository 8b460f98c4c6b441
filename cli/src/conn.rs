//! Client connections of every listener (`[connections]`): at most `max_connections` open
//! per listener (at the limit the listener stops accepting: back-pressure into the kernel's
//! backlog), a request head and body that must arrive within `header_timeout_ms` of their
//! first byte, and keep-alive connections closed after `idle_timeout_ms` without a request.
//!
//! The deadlines are kept per connection by [`ConnWatch`], fed by the bytes read
//! ([`ClientIo`]) and by the requests the HTTP service starts and finishes; the connection's
//! task races its hyper connection against [`ConnWatch::expired`] and drops the connection
//! (closing the socket) when a deadline passes. A request in flight is never cut off by these
//! deadlines: a call waiting on its vendor is bounded by `runtime.call_deadline_ms`.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use ingest_gateway::config::ConnectionsConfig;

/// The limits one listener applies to its clients.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// From a request's first byte until its head is read.
    pub header_timeout: Duration,
    /// From a request's head until its body is read (a stalled body is answered 408).
    pub body_timeout: Duration,
    /// A keep-alive connection with no request in flight.
    pub idle_timeout: Duration,
    /// Largest request head, bytes.
    pub max_header_bytes: usize,
    /// Open connections.
    pub max_connections: usize,
}

impl ConnLimits {
    /// The limits of `[connections]`.
    pub fn from_config(c: &ConnectionsConfig) -> Self {
        Self {
            header_timeout: Duration::from_millis(c.header_timeout_ms),
            body_timeout: Duration::from_millis(c.header_timeout_ms),
            idle_timeout: Duration::from_millis(c.idle_timeout_ms),
            max_header_bytes: c.max_header_bytes.max(8192),
            max_connections: c.max_connections.max(1),
        }
    }
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self::from_config(&ConnectionsConfig::default())
    }
}

/// Accepts connections up to the limit: waits for a free slot before accepting the next one.
#[derive(Debug)]
pub struct Acceptor {
    listener: TcpListener,
    slots: Arc<Semaphore>,
}

impl Acceptor {
    /// `listener` with at most `max_connections` open at once.
    pub fn new(listener: TcpListener, max_connections: usize) -> Self {
        Self {
            listener,
            slots: Arc::new(Semaphore::new(max_connections)),
        }
    }

    /// The next connection, once a slot is free; the slot is held until the returned
    /// permit is dropped. Accept errors (out of descriptors …) are logged and retried after
    /// a short pause.
    pub async fn accept(&self) -> (TcpStream, std::net::SocketAddr, OwnedSemaphorePermit) {
        let permit = match self.slots.clone().acquire_owned().await {
            Ok(p) => p,
            // The semaphore is never closed; should it be, wait forever rather than spin.
            Err(_) => std::future::pending().await,
        };
        loop {
            match self.listener.accept().await {
                Ok((stream, peer)) => return (stream, peer, permit),
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

/// No time recorded (for [`ConnWatch::first_byte_ms`]).
const NONE: u64 = u64::MAX;

/// One connection's activity, for its deadlines.
#[derive(Debug)]
pub struct ConnWatch {
    opened: Instant,
    /// Requests in flight on the connection.
    active: AtomicUsize,
    /// When the last request finished (or the connection opened), ms since `opened`.
    last_done_ms: AtomicU64,
    /// When the first byte of the next request arrived, ms since `opened`; [`NONE`] while
    /// no byte of it has.
    first_byte_ms: AtomicU64,
    changed: Notify,
}

/// Why a connection was closed by its watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// The request head did not arrive in time.
    Header,
    /// No request for the idle timeout.
    Idle,
}

impl ConnWatch {
    /// The watch of a connection opened now.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            opened: Instant::now(),
            active: AtomicUsize::new(0),
            last_done_ms: AtomicU64::new(0),
            first_byte_ms: AtomicU64::new(NONE),
            changed: Notify::new(),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    /// Bytes arrived: the first of a request starts its header deadline.
    fn bytes_read(&self) {
        if self.active.load(Ordering::Acquire) == 0
            && self
                .first_byte_ms
                .compare_exchange(NONE, self.now_ms(), Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.changed.notify_one();
        }
    }

    /// A request's head was read: the service runs it. The returned guard ends it (also when
    /// the request is dropped unfinished).
    pub fn request(self: &Arc<Self>) -> RequestGuard {
        self.active.fetch_add(1, Ordering::AcqRel);
        self.first_byte_ms.store(NONE, Ordering::Release);
        self.changed.notify_one();
        RequestGuard(self.clone())
    }

    /// Resolves when the connection passes a deadline: the head of a request started but not
    /// finished within `header_timeout`, or no request for `idle_timeout`.
    pub async fn expired(&self, limits: &ConnLimits) -> Expired {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(NONE - 1);
        loop {
            let notified = self.changed.notified();
            let deadline = if self.active.load(Ordering::Acquire) > 0 {
                None
            } else {
                match self.first_byte_ms.load(Ordering::Acquire) {
                    NONE => Some((
                        self.last_done_ms.load(Ordering::Acquire) + ms(limits.idle_timeout),
                        Expired::Idle,
                    )),
                    first => Some((first + ms(limits.header_timeout), Expired::Header)),
                }
            };
            match deadline {
                Some((at, why)) if self.now_ms() >= at => return why,
                Some((at, _)) => {
                    let wait = Duration::from_millis(at - self.now_ms().min(at));
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = notified => {}
                    }
                }
                None => notified.await,
            }
        }
    }
}

/// Ends one request on its connection's watch when dropped.
#[derive(Debug)]
pub struct RequestGuard(Arc<ConnWatch>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let w = &self.0;
        w.last_done_ms.store(w.now_ms(), Ordering::Release);
        w.active.fetch_sub(1, Ordering::AcqRel);
        w.changed.notify_one();
    }
}

/// A client's TCP stream: holds its listener slot and tells its watch when bytes arrive.
#[derive(Debug)]
pub struct ClientIo {
    stream: TcpStream,
    watch: Option<Arc<ConnWatch>>,
    _slot: OwnedSemaphorePermit,
}

impl ClientIo {
    /// `stream`, holding `slot`, reporting reads to `watch` (if any).
    pub fn new(
        stream: TcpStream,
        slot: OwnedSemaphorePermit,
        watch: Option<Arc<ConnWatch>>,
    ) -> Self {
        Self {
            stream,
            watch,
            _slot: slot,
        }
    }
}

impl AsyncRead for ClientIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before
            && let Some(w) = &self.watch
        {
            w.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for ClientIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(feature = "envoy")]
impl tonic::transport::server::Connected for ClientIo {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(header_ms: u64, idle_ms: u64) -> ConnLimits {
        ConnLimits {
            header_timeout: Duration::from_millis(header_ms),
            body_timeout: Duration::from_millis(header_ms),
            idle_timeout: Duration::from_millis(idle_ms),
            max_header_bytes: 8192,
            max_connections: 1,
        }
    }

    #[tokio::test]
    async fn an_idle_connection_expires_after_the_idle_timeout() {
        let w = ConnWatch::new();
        let t0 = Instant::now();
        assert_eq!(w.expired(&limits(10_000, 60)).await, Expired::Idle);
        assert!(t0.elapsed() >= Duration::from_millis(60));
    }

    #[tokio::test]
    async fn a_started_head_expires_after_the_header_timeout_counted_from_its_first_byte() {
        let w = ConnWatch::new();
        w.bytes_read();
        let t0 = Instant::now();
        assert_eq!(w.expired(&limits(50, 60_000)).await, Expired::Header);
        assert!(t0.elapsed() >= Duration::from_millis(45));
    }

    #[tokio::test]
    async fn a_request_in_flight_is_never_expired_and_its_end_restarts_the_idle_clock() {
        let w = ConnWatch::new();
        w.bytes_read();
        let guard = w.request();
        let l = limits(20, 40);
        let waited = tokio::time::timeout(Duration::from_millis(150), w.expired(&l)).await;
        assert!(waited.is_err(), "expired while a request was in flight");
        drop(guard);
        let t0 = Instant::now();
        assert_eq!(w.expired(&l).await, Expired::Idle);
        assert!(t0.elapsed() >= Duration::from_millis(35));
    }
}
