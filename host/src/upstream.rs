//! Keep-alive connections to plain-`http` vendor endpoints (simulators, vendor gateways
//! reached over a private network): a request reuses an idle connection to the same checked
//! address instead of paying for a TCP connect and a close on both sides every time.
//!
//! A connection goes back to the pool only after its whole response was read and when the
//! vendor did not ask to close it; an idle one is dropped after [`IDLE_TIMEOUT`], before
//! common server keep-alive timeouts, so a connection the server is closing is rarely taken.
//! When a pooled connection turns out closed before the request went out, the request is
//! sent again on a fresh connection; a request that may have reached the vendor is never
//! sent twice.
//!
//! `https` requests do not come here (they go through wasmtime-wasi-http's sender, one TLS
//! connection per request).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use wasmtime_wasi_http::Error as HttpError;

/// How long an idle connection stays in the pool.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(4);
/// Most idle connections kept per address.
pub const MAX_IDLE_PER_ADDR: usize = 256;

struct Idle {
    sender: SendRequest<Full<Bytes>>,
    since: Instant,
}

impl Idle {
    /// Idle for less than [`IDLE_TIMEOUT`] and still open.
    fn usable(&self) -> bool {
        self.since.elapsed() < IDLE_TIMEOUT && !self.sender.is_closed()
    }
}

/// Idle connections by address.
#[derive(Default)]
struct Pool {
    idle: Mutex<HashMap<SocketAddr, Vec<Idle>>>,
}

static POOL: LazyLock<Pool> = LazyLock::new(Pool::default);

impl Pool {
    fn take(&self, addr: SocketAddr) -> Option<SendRequest<Full<Bytes>>> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let list = idle.get_mut(&addr)?;
        std::iter::from_fn(|| list.pop())
            .find(Idle::usable)
            .map(|c| c.sender)
    }

    fn put(&self, addr: SocketAddr, sender: SendRequest<Full<Bytes>>) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let list = idle.entry(addr).or_default();
        list.retain(Idle::usable);
        if list.len() < MAX_IDLE_PER_ADDR {
            list.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }
}

/// Idle pooled connections to `addr` right now.
pub fn idle_connections(addr: SocketAddr) -> usize {
    let idle = POOL.idle.lock().unwrap_or_else(PoisonError::into_inner);
    idle.get(&addr)
        .map_or(0, |l| l.iter().filter(|c| c.usable()).count())
}

/// Sends `request` to `addr` over HTTP/1.1 and reads the whole response, at most
/// `max_response_bytes` of body. The caller bounds the whole exchange in time.
pub async fn send(
    addr: SocketAddr,
    mut request: http::Request<Full<Bytes>>,
    connect_timeout: Duration,
    max_response_bytes: usize,
) -> Result<(http::response::Parts, Bytes), HttpError> {
    // On the wire the target is the path (origin form); Host carries the authority.
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .parse::<http::Uri>()
        .map_err(|_| HttpError::HttpRequestUriInvalid)?;
    *request.uri_mut() = path;
    loop {
        let (mut sender, reused) = match POOL.take(addr) {
            Some(sender) => (sender, true),
            None => (connect(addr, connect_timeout).await?, false),
        };
        if reused && sender.ready().await.is_err() {
            continue;
        }
        match sender.try_send_request(request).await {
            Ok(response) => {
                let (head, body) = response.into_parts();
                let body = Limited::new(body, max_response_bytes)
                    .collect()
                    .await
                    .map_err(|e| match e.downcast::<hyper::Error>() {
                        Ok(e) => HttpError::from(*e),
                        Err(_) => HttpError::HttpResponseBodySize(None),
                    })?
                    .to_bytes();
                let close = head
                    .headers
                    .get(http::header::CONNECTION)
                    .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
                if !close {
                    POOL.put(addr, sender);
                }
                return Ok((head, body));
            }
            Err(mut e) => match e.take_message() {
                // Never sent: the pooled connection had closed. Again, on another one.
                Some(unsent) if reused => request = unsent,
                _ => return Err(HttpError::from(e.into_error())),
            },
        }
    }
}

async fn connect(
    addr: SocketAddr,
    timeout: Duration,
) -> Result<SendRequest<Full<Bytes>>, HttpError> {
    let stream = match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
        Ok(stream) => stream.map_err(HttpError::Connect)?,
        Err(_) => return Err(HttpError::ConnectionTimeout),
    };
    // Requests are small and answered at once: no Nagle delay.
    let _ = stream.set_nodelay(true);
    let (sender, conn) = tokio::time::timeout(
        timeout,
        hyper::client::conn::http1::handshake(TokioIo::new(stream)),
    )
    .await
    .map_err(|_| HttpError::ConnectionTimeout)?
    .map_err(HttpError::from)?;
    // Drives the connection until it closes (the vendor closes it, or the last sender is
    // dropped: not pooled, idle too long, or the pool is full).
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(%addr, error = %e, "vendor connection ended with an error");
        }
    });
    Ok(sender)
}
