//! Embedding the Ingest Gateway in your own HTTP service.
//!
//! Your application keeps its own routes; requests for the gateway's API (`/v1/…` and
//! `/healthz`) are collected into an `http::Request<Bytes>` and handed to
//! [`Gateway::handle`]. That is the whole integration: [`app`] below is the service, and
//! [`serve`] a plain hyper accept loop around it.

#![deny(missing_docs)]

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use ingest_gateway::Gateway;
use tokio::net::TcpListener;

/// Your application's service: its own routes, plus the gateway's API mounted beside them.
pub async fn app(gateway: &Gateway, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if path == "/healthz" || path.starts_with("/v1/") {
        // The gateway: collect the body (capped as the gateway would cap it), then handle.
        let (parts, body) = req.into_parts();
        let Ok(body) = Limited::new(body, gateway.max_body_bytes()).collect().await else {
            return plain(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
        };
        let req = Request::from_parts(parts, body.to_bytes());
        return ingest_gateway::handle(gateway, req).await.map(Full::new);
    }
    // Your own routes.
    match path {
        "/hello" => plain(StatusCode::OK, "hello from the application"),
        _ => plain(StatusCode::NOT_FOUND, "not found"),
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *resp.status_mut() = status;
    resp
}

/// Serves [`app`] over HTTP/1.1 on `listener`, forever.
pub async fn serve(gateway: Arc<Gateway>, listener: TcpListener) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let gateway = gateway.clone();
        let service = service_fn(move |req| {
            let gateway = gateway.clone();
            async move { Ok::<_, Infallible>(app(&gateway, req).await) }
        });
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
