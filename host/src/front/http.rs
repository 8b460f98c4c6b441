//! The standalone HTTP/1.1 fronts: hyper on tokio, thin adapters over [`api::handle`]
//! (the API) and [`handle_admin`](super::admin::handle_admin) (the admin API, on its own
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

use super::api;
use super::response::problem_with_status;
use crate::core::Gateway;
use crate::error::ApiError;

/// The body type every listener answers with.
pub type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>;
/// Routes answered with a streaming body before any buffering (`GET /v1/events`): `None`
/// when the request is not one of them.
pub type StreamRoutes =
    Arc<dyn Fn(&http::request::Parts) -> Option<http::Response<Body>> + Send + Sync>;

/// A boxed response future.
pub type ResponseFuture = Pin<Box<dyn Future<Output = http::Response<Bytes>> + Send>>;
/// What a listener does with one buffered request.
pub type Handler = Arc<dyn Fn(http::Request<Bytes>) -> ResponseFuture + Send + Sync>;

/// Serves the API on `listener` until `shutdown` resolves; then stops accepting and lets
/// in-flight requests finish.
pub async fn serve(
    gateway: Arc<Gateway>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let max_body = gateway.max_body_bytes();
    let streams_gateway = gateway.clone();
    let streams: StreamRoutes = Arc::new(move |parts| api::stream_route(&streams_gateway, parts));
    let handler: Handler = Arc::new(move |req| {
        let gateway = gateway.clone();
        Box::pin(async move { api::handle(&gateway, req).await })
    });
    serve_with(handler, Some(streams), max_body, listener, shutdown).await
}

/// Serves `handler` on `listener`, buffering request bodies up to `max_body` bytes (a larger
/// one is answered 413), until `shutdown` resolves.
pub async fn serve_with(
    handler: Handler,
    streams: Option<StreamRoutes>,
    max_body: usize,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of descriptors and the like: log, back off briefly, go on.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                // Answers are small and complete: no Nagle delay.
                let _ = stream.set_nodelay(true);
                let handler = handler.clone();
                let streams = streams.clone();
                let service = service_fn(move |req| {
                    let handler = handler.clone();
                    let streams = streams.clone();
                    async move { Ok::<_, Infallible>(respond(&handler, streams.as_ref(), max_body, req).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!("shutting down: waiting for in-flight requests");
    graceful.shutdown().await;
    Ok(())
}

async fn respond(
    handler: &Handler,
    streams: Option<&StreamRoutes>,
    limit: usize,
    req: http::Request<Incoming>,
) -> http::Response<Body> {
    let (parts, body) = req.into_parts();
    if let Some(resp) = streams.and_then(|s| s(&parts)) {
        return resp;
    }
    buffered(handler, limit, parts, body)
        .await
        .map(|b| b.boxed_unsync())
}

async fn buffered(
    handler: &Handler,
    limit: usize,
    parts: http::request::Parts,
    body: Incoming,
) -> http::Response<Full<Bytes>> {
    let body = match Limited::new(body, limit).collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => {
            return problem_with_status(
                &ApiError::invalid(format!(
                    "request body is larger than {limit} bytes, or the connection broke while sending it"
                )),
                http::StatusCode::PAYLOAD_TOO_LARGE,
            )
            .map(Full::new);
        }
    };
    handler(http::Request::from_parts(parts, body))
        .await
        .map(Full::new)
}
