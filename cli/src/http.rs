//! The standalone HTTP/1.1 fronts: hyper on tokio, thin adapters over [`api::handle`]
//! (the API) and [`handle_admin`](crate::handle_admin) (the admin API, on its own
//! listener).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::conn::{Acceptor, ClientIo, ConnLimits, ConnWatch, RequestGuard};
use ingest_gateway::Gateway;
use ingest_gateway::api;
use ingest_gateway::error::ApiError;
use ingest_gateway::response::{Body, Handler, StreamRoutes, body_too_large, problem_with_status};

/// Serves the API on `listener` until `shutdown` resolves; then stops accepting and lets
/// in-flight requests finish. Client connections are limited as `[connections]` says.
pub async fn serve(
    gateway: Arc<Gateway>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let max_body = gateway.max_body_bytes();
    let limits = ConnLimits::from_config(gateway.connections());
    let streams_gateway = gateway.clone();
    let streams: StreamRoutes = Arc::new(move |parts| api::stream_route(&streams_gateway, parts));
    let handler: Handler = Arc::new(move |req| {
        let gateway = gateway.clone();
        Box::pin(async move { api::handle(&gateway, req).await })
    });
    serve_with(handler, Some(streams), max_body, limits, listener, shutdown).await
}

/// What every request of one listener shares.
struct Service {
    handler: Handler,
    streams: Option<StreamRoutes>,
    max_body: usize,
    limits: ConnLimits,
}

/// Serves `handler` on `listener`, buffering request bodies up to `max_body` bytes (a larger
/// one is answered 413), with `limits` on client connections, until `shutdown` resolves.
pub async fn serve_with(
    handler: Handler,
    streams: Option<StreamRoutes>,
    max_body: usize,
    limits: ConnLimits,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let acceptor = Acceptor::new(listener, limits.max_connections);
    let shared = Arc::new(Service {
        handler,
        streams,
        max_body,
        limits,
    });
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            (stream, peer, slot) = acceptor.accept() => {
                // Answers are small and complete: no Nagle delay.
                let _ = stream.set_nodelay(true);
                let watch = ConnWatch::new();
                let io = ClientIo::new(stream, slot, Some(watch.clone()));
                let service = {
                    let (shared, watch) = (shared.clone(), watch.clone());
                    service_fn(move |req| {
                        let (shared, request) = (shared.clone(), watch.request());
                        async move {
                            // The request counts as in flight until its body is sent (an
                            // event stream, for as long as it lasts): no idle deadline then.
                            let resp = respond(&shared, req).await;
                            Ok::<_, Infallible>(resp.map(|body| {
                                Guarded { body, _request: request }.boxed_unsync()
                            }))
                        }
                    })
                };
                let conn = hyper::server::conn::http1::Builder::new()
                    .max_buf_size(limits.max_header_bytes)
                    .serve_connection(TokioIo::new(io), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    tokio::select! {
                        ended = conn => if let Err(e) = ended {
                            tracing::debug!(%peer, error = %e, "connection ended with an error");
                        },
                        why = watch.expired(&limits) => {
                            tracing::debug!(%peer, reason = ?why, "connection closed: past its deadline");
                        }
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(acceptor);
    tracing::info!("shutting down: waiting for in-flight requests");
    graceful.shutdown().await;
    Ok(())
}

/// A response body that holds its request's [`RequestGuard`] until it ends.
struct Guarded {
    body: Body,
    _request: RequestGuard,
}

impl http_body::Body for Guarded {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

async fn respond(shared: &Service, req: http::Request<Incoming>) -> http::Response<Body> {
    let (parts, body) = req.into_parts();
    if let Some(resp) = shared.streams.as_ref().and_then(|s| s(&parts)) {
        return resp;
    }
    buffered(shared, parts, body)
        .await
        .map(|b| b.boxed_unsync())
}

async fn buffered(
    shared: &Service,
    parts: http::request::Parts,
    body: Incoming,
) -> http::Response<Full<Bytes>> {
    let limit = shared.max_body;
    let timeout = shared.limits.body_timeout;
    let read = tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await;
    let body = match read {
        Ok(Ok(c)) => c.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return body_too_large(limit).map(Full::new);
        }
        Ok(Err(_)) => {
            return problem_with_status(
                &ApiError::invalid("the connection broke while the request body was sent"),
                http::StatusCode::BAD_REQUEST,
            )
            .map(Full::new);
        }
        Err(_) => {
            let mut resp = problem_with_status(
                &ApiError::invalid(format!(
                    "the request body did not arrive within {} ms (`[connections] header_timeout_ms`)",
                    timeout.as_millis()
                )),
                http::StatusCode::REQUEST_TIMEOUT,
            );
            resp.headers_mut().insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
            return resp.map(Full::new);
        }
    };
    (shared.handler)(http::Request::from_parts(parts, body))
        .await
        .map(Full::new)
}
