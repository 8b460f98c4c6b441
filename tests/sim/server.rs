//! Scaffolding shared by every vendor simulator: an HTTP/1.1 server on loopback that records
//! each request, injects faults, and hands everything else to a [`VendorHandler`].
//!
//! The same server also runs over TLS ([`SimServer::start_tls`], material from
//! [`crate::tls`]): it offers ALPN `h2` and `http/1.1` and serves HTTP/2 or HTTP/1.1 according
//! to what the handshake settled on, counting completed handshakes
//! ([`SimServer::tls_handshakes`]) and recording each request's HTTP version
//! ([`Recorded::version`]).
//!
//! The life of one request:
//! 1. the body is read completely (at most [`MAX_REQUEST_BODY`] bytes, else `413`);
//! 2. the request is recorded, whatever happens next;
//! 3. the next fault is taken: first the [`SimServer::fail_next`] queue (FIFO), then the sticky
//!    one from [`SimServer::fail_always`];
//! 4. the fault, if any, decides the answer (see [`Fault`] for which faults still let the vendor
//!    process the request); without one the vendor handler answers.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt;
use std::future::Future as _;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{CONTENT_LENGTH, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

/// Largest request body a simulator reads, in bytes (1 MiB). Vendors' own limits are lower;
/// this only keeps a hostile client from making the simulator buffer without bound.
pub const MAX_REQUEST_BODY: usize = 1 << 20;

/// Pause after a failed `accept` (for example, out of file descriptors), so the accept loop
/// does not spin while the condition lasts. Not a synchronisation device.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(20);

/// One request as the simulator received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// The HTTP method, e.g. `POST`.
    pub method: String,
    /// The request target as sent: path plus `?query` if any, e.g. `/` or `/v1/x?y=1`.
    pub path_and_query: String,
    /// Headers in the order received; names are lowercase (HTTP/1 names are case-insensitive
    /// and hyper normalises them), values are the received bytes (invalid UTF-8 replaced).
    /// An HTTP/2 request has no `Host` header of its own; unless it sent one anyway, its
    /// `:authority` is recorded first as `host` (RFC 9113 §8.3.1: the two mean the same), so
    /// vendor handlers that sign or check the host work the same on both versions.
    pub headers: Vec<(String, String)>,
    /// The exact body bytes.
    pub body: Vec<u8>,
    /// The HTTP version the request came in with: `HTTP/1.1` on a plain server, `HTTP/2` over
    /// TLS when ALPN settled on `h2`.
    pub version: http::Version,
    /// When the simulator had read the whole request.
    pub received: std::time::Instant,
}

impl Recorded {
    /// The first value of header `name` (matched case-insensitively), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON, or `None` if it is not JSON.
    pub fn body_json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// An HTTP answer: what a vendor handler returns, and what [`send`] hands back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimResponse {
    /// HTTP status code; a value that is not a valid status is sent as `500`.
    pub status: u16,
    /// Response headers (`content-length` is computed, do not set it).
    pub headers: Vec<(String, String)>,
    /// Response body.
    pub body: Vec<u8>,
}

impl SimResponse {
    /// A JSON response with the given status and `Content-Type: application/json`.
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body: value.to_string().into_bytes(),
        }
    }

    /// A plain-text response with the given status.
    pub fn text(status: u16, text: impl Into<String>) -> Self {
        Self {
            status,
            headers: vec![(
                "content-type".to_owned(),
                "text/plain; charset=utf-8".to_owned(),
            )],
            body: text.into().into_bytes(),
        }
    }

    /// The first value of header `name` (matched case-insensitively), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON, or `None` if it is not JSON.
    pub fn body_json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// A failure the simulator can be told to produce instead of (or on top of) a normal answer.
///
/// `Status`, `MalformedBody`, `DropConnection` and `VendorError` answer *instead of* the vendor:
/// the vendor never sees the request and its state does not change. `Delay` and
/// `TruncatedBody` let the vendor process the request (so, like on a real network, the client
/// cannot tell whether a truncated `start` took effect). Of the later additions, `Respond` and
/// `Reset` answer instead of the vendor; `SlowDrip` lets it process the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer this HTTP status with a short plain-text body.
    Status(u16),
    /// Sleep this long, then answer normally.
    Delay(Duration),
    /// Answer `200` with `Content-Type: application/json` and a body that is not JSON.
    MalformedBody,
    /// Process the request, send the headers with the full `Content-Length` but only the first
    /// half of the body, then close the connection.
    TruncatedBody,
    /// Close the connection without sending any response.
    DropConnection,
    /// Answer with the vendor's own error envelope carrying this code and message.
    VendorError {
        /// Vendor error code, e.g. `InternalError` or `RequestLimitExceeded`.
        code: String,
        /// Human-readable message.
        message: String,
    },
    /// Answer exactly this response instead of the vendor: any status with any headers and
    /// body (`429` with `Retry-After`, a 5xx with a vendor envelope, a body far larger than a
    /// client accepts …). See [`Fault::status_with_headers`].
    Respond(SimResponse),
    /// Process the request, then send the vendor's answer one body byte per interval (the
    /// headers, with the full `Content-Length`, go at once): a vendor that trickles.
    SlowDrip(Duration),
    /// Read the request, then abort the connection with a TCP reset (`RST`), sending nothing.
    /// The vendor never sees the request.
    Reset,
}

impl Fault {
    /// [`Fault::Respond`] with `status`, these headers and a short plain-text body, e.g.
    /// `Fault::status_with_headers(429, &[("retry-after", "7")])`.
    pub fn status_with_headers(status: u16, headers: &[(&str, &str)]) -> Self {
        let mut answer = SimResponse::text(status, format!("simulated failure: HTTP {status}"));
        answer.headers.extend(
            headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
        );
        Fault::Respond(answer)
    }
}

/// The vendor-specific half of a simulator.
///
/// Implementations must not panic on any request: every request problem is an answer in the
/// vendor's own shape.
pub trait VendorHandler: Send + Sync + 'static {
    /// Answers one request the way the vendor would.
    fn handle(&self, request: &Recorded) -> SimResponse;

    /// Renders the vendor's own error envelope with `code` and `message`, for
    /// [`Fault::VendorError`].
    fn vendor_error(&self, request: &Recorded, code: &str, message: &str) -> SimResponse;
}

/// A running simulator server. Dropping it stops accepting and closes open connections.
///
/// Plain ([`SimServer::start`]) it speaks HTTP/1.1. Over TLS ([`SimServer::start_tls`]) it
/// speaks HTTP/2 when the client's ALPN picks `h2` and HTTP/1.1 otherwise. On HTTP/2 the
/// connection-ending faults ([`Fault::DropConnection`], [`Fault::Reset`]) close the whole
/// connection, as on HTTP/1.1 (every other stream on it fails too), and
/// [`Fault::TruncatedBody`] ends the stream short of its `content-length`, which the client
/// sees as a stream error.
pub struct SimServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

impl fmt::Debug for SimServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl SimServer {
    /// Starts a server on `127.0.0.1:0` (a free port). Must be called inside a tokio runtime.
    pub async fn start(handler: Arc<dyn VendorHandler>) -> anyhow::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), handler).await
    }

    /// Starts a server on `addr`. Must be called inside a tokio runtime.
    pub async fn start_on(
        addr: SocketAddr,
        handler: Arc<dyn VendorHandler>,
    ) -> anyhow::Result<Self> {
        Self::bind(addr, handler, None).await
    }

    /// Starts an https server on `127.0.0.1:0` with `tls`'s certificate, offering ALPN `h2`
    /// and `http/1.1` ([`crate::tls::TestTls::server_config`]). Must be called inside a tokio
    /// runtime.
    pub async fn start_tls(
        handler: Arc<dyn VendorHandler>,
        tls: &crate::tls::TestTls,
    ) -> anyhow::Result<Self> {
        Self::start_tls_on(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            handler,
            tls.server_config()?,
        )
        .await
    }

    /// Starts an https server on `addr` with any rustls server configuration (its ALPN list
    /// decides what is offered: `h2` is served as HTTP/2, anything else or none as HTTP/1.1).
    /// Must be called inside a tokio runtime.
    pub async fn start_tls_on(
        addr: SocketAddr,
        handler: Arc<dyn VendorHandler>,
        config: Arc<rustls::ServerConfig>,
    ) -> anyhow::Result<Self> {
        Self::bind(addr, handler, Some(TlsAcceptor::from(config))).await
    }

    async fn bind(
        addr: SocketAddr,
        handler: Arc<dyn VendorHandler>,
        tls: Option<TlsAcceptor>,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding simulator to {addr}"))?;
        let addr = listener
            .local_addr()
            .context("reading the simulator's bound address")?;
        let shared = Arc::new(Shared {
            handler,
            recorded: Mutex::new(Vec::new()),
            received: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            tls,
            tls_handshakes: AtomicUsize::new(0),
            http2_requests: AtomicUsize::new(0),
            recording: AtomicBool::new(true),
            faults: Mutex::new(Faults::default()),
        });
        let accept = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        Ok(Self {
            addr,
            shared,
            accept,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT` (`https://IP:PORT` for a TLS server), without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme(), self.addr)
    }

    /// `SCHEME://HOST:PORT` with this server's scheme and port and `host` as given, e.g.
    /// `server.url_with_host("localhost")` is `https://localhost:PORT` for a TLS server (the
    /// test certificate is valid for `localhost`, `127.0.0.1` and `::1`).
    pub fn url_with_host(&self, host: &str) -> String {
        format!("{}://{host}:{}", self.scheme(), self.addr.port())
    }

    /// Whether this server speaks TLS.
    pub fn is_tls(&self) -> bool {
        self.shared.tls.is_some()
    }

    fn scheme(&self) -> &'static str {
        if self.is_tls() { "https" } else { "http" }
    }

    /// Every request received so far, in arrival order (including those hit by a fault).
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.recorded).clone()
    }

    /// How many requests were received so far (since the last [`SimServer::clear_requests`]),
    /// recorded or not.
    pub fn request_count(&self) -> usize {
        self.shared.received.load(Ordering::SeqCst)
    }

    /// How many TCP connections the simulator has accepted since it started (for a TLS
    /// server, including those whose handshake then failed).
    pub fn connections_accepted(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// How many TLS handshakes completed since the server started (0 for a plain server).
    /// A handshake the client aborted, for example because it does not trust the
    /// certificate, is not counted.
    pub fn tls_handshakes(&self) -> usize {
        self.shared.tls_handshakes.load(Ordering::SeqCst)
    }

    /// How many requests came in over HTTP/2 since the server started (counted whether or not
    /// requests are recorded, and not reset by [`SimServer::clear_requests`]).
    pub fn http2_requests(&self) -> usize {
        self.shared.http2_requests.load(Ordering::SeqCst)
    }

    /// Forgets the recorded requests and resets the count.
    pub fn clear_requests(&self) {
        let mut recorded = lock(&self.shared.recorded);
        recorded.clear();
        self.shared.received.store(0, Ordering::SeqCst);
    }

    /// Whether requests are kept for [`SimServer::requests`] (on by default). A load test
    /// turns it off so the simulator neither grows nor copies every request; they are still
    /// counted.
    pub fn set_recording(&self, on: bool) {
        self.shared.recording.store(on, Ordering::SeqCst);
    }

    /// Queues `fault` for a coming request: queued faults are used one per request, in the
    /// order they were queued, before any sticky fault.
    pub fn fail_next(&self, fault: Fault) {
        lock(&self.shared.faults).queue.push_back(fault);
    }

    /// Sets (`Some`) or clears (`None`) a fault applied to every request the queue does not
    /// cover.
    pub fn fail_always(&self, fault: Option<Fault>) {
        lock(&self.shared.faults).sticky = fault;
    }

    /// Drops every queued fault and the sticky one.
    pub fn clear_faults(&self) {
        let mut faults = lock(&self.shared.faults);
        faults.queue.clear();
        faults.sticky = None;
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        // The accept task owns the connection tasks (a JoinSet), so aborting it closes them too.
        self.accept.abort();
    }
}

struct Shared {
    handler: Arc<dyn VendorHandler>,
    recorded: Mutex<Vec<Recorded>>,
    received: AtomicUsize,
    connections: AtomicUsize,
    tls: Option<TlsAcceptor>,
    tls_handshakes: AtomicUsize,
    http2_requests: AtomicUsize,
    recording: AtomicBool,
    faults: Mutex<Faults>,
}

#[derive(Default)]
struct Faults {
    queue: VecDeque<Fault>,
    sticky: Option<Fault>,
}

impl Shared {
    fn take_fault(&self) -> Option<Fault> {
        let mut faults = lock(&self.faults);
        faults.queue.pop_front().or_else(|| faults.sticky.clone())
    }
}

/// Locks `mutex`, ignoring poisoning: the guarded data (lists, queues) stays consistent even
/// if a holder panicked, and a simulator must keep answering.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    shared.connections.fetch_add(1, Ordering::SeqCst);
                    connections.spawn(serve_connection(stream, Arc::clone(&shared)));
                }
                Err(err) => {
                    eprintln!("simulator: accept failed: {err}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(_finished) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// The switches a connection's faults pull.
struct ConnCtl {
    /// Set by [`Fault::Reset`]: close with a TCP reset (see [`ConnIo`]).
    reset: Arc<AtomicBool>,
    /// Notified by the connection-ending faults. HTTP/1 closes the connection by itself after
    /// the failed request; on HTTP/2 (where a failed request only resets its stream) the
    /// serving loop drops the whole connection when notified.
    close: Notify,
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let reset = Arc::new(AtomicBool::new(false));
    let io = ConnIo {
        stream,
        reset: Arc::clone(&reset),
    };
    let ctl = Arc::new(ConnCtl {
        reset,
        close: Notify::new(),
    });
    let service = {
        let shared = Arc::clone(&shared);
        let ctl = Arc::clone(&ctl);
        hyper::service::service_fn(move |request| {
            let shared = Arc::clone(&shared);
            let ctl = Arc::clone(&ctl);
            async move { respond(&shared, request, &ctl).await }
        })
    };
    // A connection ends with an error when the client misbehaves or when a fault closed it on
    // purpose (`DropConnection`, `TruncatedBody`, `Reset`); neither is worth reporting.
    let Some(acceptor) = shared.tls.clone() else {
        let _ended = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(io), service)
            .await;
        return;
    };
    // A failed handshake (an untrusted certificate, plain HTTP on the TLS port) is the
    // client's to report; the server only does not count it.
    let Ok(tls) = acceptor.accept(io).await else {
        return;
    };
    shared.tls_handshakes.fetch_add(1, Ordering::SeqCst);
    if tls.get_ref().1.alpn_protocol() == Some(crate::tls::ALPN_H2) {
        let connection = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .serve_connection(TokioIo::new(tls), service);
        tokio::select! {
            _ended = connection => {}
            () = ctl.close.notified() => {}
        }
    } else {
        let _ended = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(tls), service)
            .await;
    }
}

/// A connection's socket. When a [`Fault::Reset`] set `reset`, it skips the orderly shutdown
/// and closes with `SO_LINGER` 0, so the peer gets a TCP reset instead of a FIN.
struct ConnIo {
    stream: TcpStream,
    reset: Arc<AtomicBool>,
}

impl Drop for ConnIo {
    fn drop(&mut self) {
        if self.reset.load(Ordering::SeqCst) {
            // Closing a socket with a zero linger time sends RST and discards unsent data.
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.reset.load(Ordering::SeqCst) {
            // No FIN: the reset on drop is the first thing the peer sees.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// The service error that makes hyper close the connection without writing a response.
#[derive(Debug)]
struct DroppedOnPurpose;

impl fmt::Display for DroppedOnPurpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for DroppedOnPurpose {}

async fn respond(
    shared: &Shared,
    request: Request<Incoming>,
    ctl: &ConnCtl,
) -> Result<Response<OutBody>, DroppedOnPurpose> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => {
            let answer = SimResponse::text(413, "request body too large");
            return Ok(into_hyper(answer, BodyMode::Whole));
        }
        // The client went away mid-body: nobody is left to answer.
        Err(_) => return Err(DroppedOnPurpose),
    };
    let mut headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    if parts.version == http::Version::HTTP_2 {
        shared.http2_requests.fetch_add(1, Ordering::SeqCst);
        if let Some(authority) = parts.uri.authority()
            && !headers.iter().any(|(n, _)| n == "host")
        {
            headers.insert(0, ("host".to_owned(), authority.as_str().to_owned()));
        }
    }
    let recorded = Recorded {
        method: parts.method.as_str().to_owned(),
        path_and_query: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned()),
        headers,
        body: body.to_vec(),
        version: parts.version,
        received: std::time::Instant::now(),
    };
    if shared.recording.load(Ordering::Relaxed) {
        lock(&shared.recorded).push(recorded.clone());
    }
    shared.received.fetch_add(1, Ordering::SeqCst);

    let handler = &shared.handler;
    let answer = match shared.take_fault() {
        None => handler.handle(&recorded),
        Some(Fault::Status(status)) => {
            SimResponse::text(status, format!("simulated failure: HTTP {status}"))
        }
        Some(Fault::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            handler.handle(&recorded)
        }
        Some(Fault::MalformedBody) => SimResponse {
            status: 200,
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body: b"{\"Response\": {\"RequestId\": <<this is not json".to_vec(),
        },
        Some(Fault::TruncatedBody) => {
            return Ok(into_hyper(handler.handle(&recorded), BodyMode::Truncated));
        }
        Some(Fault::DropConnection) => {
            ctl.close.notify_one();
            return Err(DroppedOnPurpose);
        }
        Some(Fault::VendorError { code, message }) => {
            handler.vendor_error(&recorded, &code, &message)
        }
        Some(Fault::Respond(answer)) => answer,
        Some(Fault::SlowDrip(interval)) => {
            return Ok(into_hyper(
                handler.handle(&recorded),
                BodyMode::Drip(interval),
            ));
        }
        Some(Fault::Reset) => {
            ctl.reset.store(true, Ordering::SeqCst);
            ctl.close.notify_one();
            return Err(DroppedOnPurpose);
        }
    };
    Ok(into_hyper(answer, BodyMode::Whole))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum BodyMode {
    Whole,
    Truncated,
    /// One byte per interval.
    Drip(Duration),
}

fn into_hyper(answer: SimResponse, mode: BodyMode) -> Response<OutBody> {
    let full_len = answer.body.len();
    let mut body = Bytes::from(answer.body);
    if mode == BodyMode::Truncated {
        body.truncate(full_len / 2);
    }
    let drip = match mode {
        BodyMode::Drip(interval) => Some(Drip {
            interval,
            pause: None,
        }),
        _ => None,
    };
    let mut response = Response::new(OutBody {
        data: Some(body),
        exact: mode == BodyMode::Whole,
        yielded_once: false,
        drip,
    });
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    for (name, value) in &answer.headers {
        // Headers come from vendor code, not from requests; skip any that are not valid HTTP.
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) && name != CONTENT_LENGTH
        {
            headers.append(name, value);
        }
    }
    if mode == BodyMode::Truncated {
        // Announce the whole length; the body stream ends early, so hyper aborts the
        // connection after sending what it has.
        headers.insert(CONTENT_LENGTH, HeaderValue::from(full_len));
    }
    response
}

/// A one-chunk response body. With `exact`, hyper learns its length and frames it normally.
/// Without, the `Content-Length` header announces more than the chunk; after the chunk the body
/// yields once (so hyper flushes what it has) and then ends, which makes hyper close the
/// connection mid-body.
/// With `drip`, the body goes out one byte per interval instead, its length announced.
struct OutBody {
    data: Option<Bytes>,
    exact: bool,
    yielded_once: bool,
    drip: Option<Drip>,
}

/// The pacing of a [`Fault::SlowDrip`] body.
struct Drip {
    interval: Duration,
    /// The pause before the next byte (none before the first).
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Body for OutBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        if let Some(drip) = this.drip.as_mut() {
            let Some(data) = this.data.as_mut().filter(|d| !d.is_empty()) else {
                return Poll::Ready(None);
            };
            if let Some(pause) = drip.pause.as_mut()
                && pause.as_mut().poll(cx).is_pending()
            {
                return Poll::Pending;
            }
            drip.pause = Some(Box::pin(tokio::time::sleep(drip.interval)));
            return Poll::Ready(Some(Ok(Frame::data(data.split_to(1)))));
        }
        if let Some(data) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if !self.exact && !self.yielded_once {
            self.yielded_once = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        (self.exact || self.drip.is_some()) && self.data.as_ref().is_none_or(Bytes::is_empty)
    }

    fn size_hint(&self) -> SizeHint {
        if self.drip.is_some() {
            // The exact length, so hyper sends `Content-Length` and the client waits for it.
            return SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64));
        }
        match (&self.data, self.exact) {
            (Some(data), true) => SizeHint::with_exact(data.len() as u64),
            (None, true) => SizeHint::with_exact(0),
            (_, false) => SizeHint::default(),
        }
    }
}

/// Sends one HTTP/1.1 request to `addr` on a fresh connection and returns the answer: a small
/// client for simulator tests. Adds `Host: IP:PORT` unless `headers` has a `host`; hyper adds
/// `Content-Length`. Fails on any transport problem, including a dropped connection or a body
/// shorter than announced.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> anyhow::Result<SimResponse> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP/1 handshake")?;
    let driver = tokio::spawn(connection);

    let mut request = Request::builder().method(method).uri(path_and_query);
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        request = request.header("host", addr.to_string());
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(body.into()))
        .context("building the request")?;

    let result = exchange(sender.send_request(request)).await;
    driver.abort();
    result
}

/// Awaits a client's `send_request` and reads the whole answer (HTTP/1 or HTTP/2 alike).
pub(crate) async fn exchange(
    sent: impl std::future::Future<Output = hyper::Result<Response<Incoming>>>,
) -> anyhow::Result<SimResponse> {
    let response = sent.await.context("sending the request")?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = response
        .into_body()
        .collect()
        .await
        .context("reading the response body")?
        .to_bytes()
        .to_vec();
    Ok(SimResponse {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Echoes the request body back with `200`; renders vendor errors as `{"code","message"}`.
    /// The TLS server's tests use it too.
    pub(crate) struct Echo;

    impl VendorHandler for Echo {
        fn handle(&self, request: &Recorded) -> SimResponse {
            SimResponse {
                status: 200,
                headers: vec![("content-type".to_owned(), "application/json".to_owned())],
                body: request.body.clone(),
            }
        }

        fn vendor_error(&self, _request: &Recorded, code: &str, message: &str) -> SimResponse {
            SimResponse::json(418, &serde_json::json!({"code": code, "message": message}))
        }
    }

    async fn echo_server() -> SimServer {
        SimServer::start(Arc::new(Echo)).await.expect("start")
    }

    async fn post(server: &SimServer, body: &str) -> anyhow::Result<SimResponse> {
        send(
            server.addr(),
            "POST",
            "/x?y=1",
            &[("content-type", "application/json")],
            body.to_owned(),
        )
        .await
    }

    #[tokio::test]
    async fn records_requests_and_answers_through_the_handler() {
        let server = echo_server().await;
        assert!(server.base_url().starts_with("http://127.0.0.1:"));
        let answer = post(&server, r#"{"a":1}"#).await.expect("answer");
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body, br#"{"a":1}"#);
        let requests = server.requests();
        assert_eq!(requests.len(), 1);
        let first = &requests[0];
        assert_eq!(first.method, "POST");
        assert_eq!(first.path_and_query, "/x?y=1");
        assert_eq!(first.header("Content-Type"), Some("application/json"));
        assert_eq!(
            first.header("host"),
            Some(server.addr().to_string().as_str())
        );
        assert_eq!(first.body_json(), Some(serde_json::json!({"a": 1})));
        server.clear_requests();
        assert_eq!(server.request_count(), 0);
    }

    #[tokio::test]
    async fn queued_faults_come_first_in_order_then_the_sticky_one() {
        let server = echo_server().await;
        server.fail_always(Some(Fault::Status(502)));
        server.fail_next(Fault::Status(503));
        server.fail_next(Fault::VendorError {
            code: "Busy".into(),
            message: "try later".into(),
        });
        server.fail_next(Fault::MalformedBody);

        let first = post(&server, "{}").await.expect("first");
        assert_eq!(first.status, 503);
        let second = post(&server, "{}").await.expect("second");
        assert_eq!(second.status, 418);
        assert_eq!(
            second.body_json(),
            Some(serde_json::json!({"code": "Busy", "message": "try later"}))
        );
        let third = post(&server, "{}").await.expect("third");
        assert_eq!(third.status, 200);
        assert!(third.body_json().is_none(), "body must not be JSON");
        for _ in 0..2 {
            assert_eq!(post(&server, "{}").await.expect("sticky").status, 502);
        }
        server.fail_always(None);
        assert_eq!(post(&server, "{}").await.expect("healed").status, 200);
        assert_eq!(server.request_count(), 6);
    }

    #[tokio::test]
    async fn dropped_connection_gets_no_response_but_is_recorded() {
        let server = echo_server().await;
        server.fail_next(Fault::DropConnection);
        let err = post(&server, r#"{"k":"v"}"#).await;
        assert!(err.is_err(), "expected a transport error, got {err:?}");
        assert_eq!(server.request_count(), 1);
        assert_eq!(server.requests()[0].body, br#"{"k":"v"}"#);
        // The server keeps serving afterwards.
        assert_eq!(post(&server, "{}").await.expect("after").status, 200);
    }

    #[tokio::test]
    async fn truncated_body_is_a_transport_error_after_the_headers() {
        let server = echo_server().await;
        server.fail_next(Fault::TruncatedBody);
        let err = post(&server, r#"{"long":"enough body to cut in half"}"#).await;
        let err = err.expect_err("truncated body must fail");
        assert!(
            format!("{err:#}").contains("reading the response body"),
            "headers should arrive, the body should not: {err:#}"
        );
        assert_eq!(server.request_count(), 1);
    }

    #[tokio::test]
    async fn delay_still_answers_normally() {
        let server = echo_server().await;
        server.fail_next(Fault::Delay(Duration::from_millis(20)));
        let answer = post(&server, "{}").await.expect("answer");
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body, b"{}");
    }

    #[tokio::test]
    async fn respond_fault_answers_exactly_that() {
        let server = echo_server().await;
        server.fail_next(Fault::status_with_headers(429, &[("retry-after", "7")]));
        let answer = post(&server, "{}").await.expect("answer");
        assert_eq!(answer.status, 429);
        assert_eq!(answer.header("retry-after"), Some("7"));
        server.fail_next(Fault::Respond(SimResponse::json(
            200,
            &serde_json::json!({"big": "x".repeat(1000)}),
        )));
        let answer = post(&server, "{}").await.expect("answer");
        assert!(answer.body.len() > 1000);
    }

    #[tokio::test]
    async fn slow_drip_delivers_the_whole_body_slowly() {
        let server = echo_server().await;
        server.fail_next(Fault::SlowDrip(Duration::from_millis(5)));
        let started = std::time::Instant::now();
        let answer = post(&server, r#"{"drip":1}"#).await.expect("answer");
        assert_eq!(answer.body, br#"{"drip":1}"#);
        assert_eq!(answer.header("content-length"), Some("10"));
        // Ten bytes, nine pauses.
        assert!(started.elapsed() >= Duration::from_millis(45));
    }

    #[tokio::test]
    async fn reset_fault_is_a_transport_error_and_the_server_carries_on() {
        let server = echo_server().await;
        server.fail_next(Fault::Reset);
        let err = post(&server, "{}").await.expect_err("reset");
        assert!(
            format!("{err:#}").contains("sending the request"),
            "{err:#}"
        );
        assert_eq!(server.request_count(), 1);
        assert_eq!(post(&server, "{}").await.expect("after").status, 200);
    }

    #[tokio::test]
    async fn invalid_status_fault_becomes_500() {
        let server = echo_server().await;
        server.fail_next(Fault::Status(1000));
        assert_eq!(post(&server, "{}").await.expect("answer").status, 500);
    }

    #[tokio::test]
    async fn oversized_body_is_refused_without_panicking() {
        let server = echo_server().await;
        let big = "x".repeat(MAX_REQUEST_BODY + 1);
        // The simulator answers 413 without reading the rest of the body; depending on timing
        // the client sees that answer or a reset connection. Either way, no panic.
        if let Ok(answer) = post(&server, &big).await {
            assert_eq!(answer.status, 413);
        }
        assert_eq!(post(&server, "{}").await.expect("after").status, 200);
    }

    #[tokio::test]
    async fn dropping_the_server_closes_the_port() {
        let server = echo_server().await;
        let addr = server.addr();
        drop(server);
        // The abort is processed on the runtime; once the listener is gone, connects fail.
        // Poll with yields (not sleeps) until that happens.
        let mut refused = false;
        for _ in 0..1000 {
            if TcpStream::connect(addr).await.is_err() {
                refused = true;
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(refused, "the listener should close after drop");
    }
}
