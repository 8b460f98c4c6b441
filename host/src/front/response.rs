//! Building responses: JSON, `application/problem+json` (RFC 9457) for every error, and the
//! headers every front sets the same way.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use crate::error::{ApiError, ErrorKind};

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

/// A response with `status` and `body` as `application/json`.
pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Bytes> {
    let mut resp = Response::new(Bytes::from(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// A JSON response from a plugin call, naming the plugin version that served it in
/// `x-ingest-plugin` (`name@version+digest`), so a hot swap can be watched from outside.
pub(crate) fn served_response(
    status: StatusCode,
    body: &serde_json::Value,
    plugin: &str,
) -> Response<Bytes> {
    let mut resp = json_response(status, body);
    if let Ok(v) = HeaderValue::from_str(plugin) {
        resp.headers_mut().insert("x-ingest-plugin", v);
    }
    resp
}

/// The problem+json response for an error, with `Retry-After` when the vendor said.
pub fn problem_response(e: &ApiError) -> Response<Bytes> {
    let status =
        StatusCode::from_u16(e.kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = problem_with_status(e, status);
    if let Some(secs) = e.retry_after_secs
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

/// A problem response whose HTTP status is not the kind's own (413, 405).
pub fn problem_with_status(e: &ApiError, status: StatusCode) -> Response<Bytes> {
    let mut doc = e.to_problem();
    doc["status"] = status.as_u16().into();
    let mut resp = json_response(status, &doc);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    resp
}

/// `413` for a request body over `gateway.max_body_bytes`: the one answer every front (the
/// standalone server while reading, ext_proc while buffering, [`handle`](crate::handle)
/// for embedders) gives.
pub fn body_too_large(limit: usize) -> Response<Bytes> {
    problem_with_status(
        &ApiError::invalid(format!(
            "request body is larger than {limit} bytes (gateway.max_body_bytes)"
        )),
        StatusCode::PAYLOAD_TOO_LARGE,
    )
}

pub(crate) fn method_not_allowed(allow: &str) -> Response<Bytes> {
    let mut resp = problem_with_status(
        &ApiError::new(
            ErrorKind::InvalidArgument,
            format!("method not allowed here; allowed: {allow}"),
        ),
        StatusCode::METHOD_NOT_ALLOWED,
    );
    if let Ok(allow) = HeaderValue::from_str(allow) {
        resp.headers_mut().insert(header::ALLOW, allow);
    }
    resp
}

/// `401` for `e`, asking for a bearer token.
pub fn unauthorized(e: &ApiError) -> Response<Bytes> {
    let mut resp = problem_with_status(e, StatusCode::UNAUTHORIZED);
    resp.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    resp
}
