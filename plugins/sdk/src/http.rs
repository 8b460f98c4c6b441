//! A blocking HTTP client over `wasi:http/outgoing-handler`.
//!
//! The host applies its egress policy (allowlist, timeouts, response size cap, placeholder
//! substitution) to every request sent here; a refused request comes back as
//! [`SendError::Denied`].

use crate::bindings::wasi::http::outgoing_handler;
use crate::bindings::wasi::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme, http_error_code,
};
use crate::bindings::wasi::io::streams::StreamError;
use crate::{ErrorKind, ProviderError};

/// Largest chunk written to an output stream in one call (the WASI limit is 4096).
const WRITE_CHUNK: usize = 4096;
/// Largest chunk requested from an input stream in one call.
const READ_CHUNK: u64 = 64 * 1024;

/// Why a request did not produce a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The request could not be built (bad URL, header, method).
    InvalidRequest(String),
    /// The host's egress policy refused the request.
    Denied,
    /// The vendor did not answer in time (connect or response).
    Timeout(String),
    /// The connection failed or broke.
    Transport(String),
    /// The response was larger than the host allows.
    TooLarge,
}

impl SendError {
    /// The normalized provider error for this failure.
    pub fn into_provider_error(self) -> ProviderError {
        let (kind, message) = match self {
            SendError::InvalidRequest(m) => (
                ErrorKind::PluginFault,
                format!("the plugin built an invalid vendor request: {m}"),
            ),
            SendError::Denied => (
                ErrorKind::Denied,
                "the gateway's egress policy refused the vendor request".to_string(),
            ),
            SendError::Timeout(m) => (
                ErrorKind::Timeout,
                format!("the vendor did not answer in time: {m}"),
            ),
            SendError::Transport(m) => (
                ErrorKind::Unavailable,
                format!("the vendor could not be reached: {m}"),
            ),
            SendError::TooLarge => (
                ErrorKind::VendorInternal,
                "the vendor's response exceeded the gateway's size limit".to_string(),
            ),
        };
        crate::error::new(kind, message)
    }
}

impl From<SendError> for ProviderError {
    fn from(e: SendError) -> Self {
        e.into_provider_error()
    }
}

fn invalid(what: &str) -> SendError {
    SendError::InvalidRequest(what.to_string())
}

fn from_error_code(code: ErrorCode) -> SendError {
    match code {
        ErrorCode::HttpRequestDenied => SendError::Denied,
        ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout
        | ErrorCode::HttpResponseTimeout
        | ErrorCode::DnsTimeout => SendError::Timeout(format!("{code:?}")),
        ErrorCode::HttpResponseBodySize(_) => SendError::TooLarge,
        other => SendError::Transport(format!("{other:?}")),
    }
}

/// The response's `Retry-After` header as text, if present and visible ASCII; pass it to
/// [`crate::error::from_http_status`] (or read it with [`crate::error::parse_retry_after`]).
pub fn retry_after<B>(response: &::http::Response<B>) -> Option<&str> {
    response
        .headers()
        .get(::http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
}

/// Sends `request` and waits for the whole response.
///
/// The host's egress policy applies (allowlist, timeouts, size caps) and it replaces secret
/// placeholders on the way out; a refused or failed exchange is a [`SendError`], which `?`
/// turns into the matching [`ProviderError`].
///
/// ```no_run
/// // Runs only inside the gateway; compiled, not run, here.
/// # fn call() -> Result<(), ingest_plugin_sdk::ProviderError> {
/// let request = http::Request::post("https://api.example-rtc.invalid/v1/relays")
///     .header("content-type", "application/json")
///     .body(br#"{"room_id":"42"}"#.to_vec())
///     .map_err(|e| ingest_plugin_sdk::error::invalid_argument(e.to_string()))?;
/// let response = ingest_plugin_sdk::http::send(request)?;
/// println!("{} {}", response.status(), String::from_utf8_lossy(response.body()));
/// # Ok(()) }
/// ```
pub fn send(request: ::http::Request<Vec<u8>>) -> Result<::http::Response<Vec<u8>>, SendError> {
    let (parts, body) = request.into_parts();
    let mut headers: Vec<(String, Vec<u8>)> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.as_bytes().to_vec()))
        .collect();
    if !body.is_empty() && !parts.headers.contains_key(::http::header::CONTENT_LENGTH) {
        headers.push((
            "content-length".to_string(),
            body.len().to_string().into_bytes(),
        ));
    }
    let fields = Fields::from_list(&headers)
        .map_err(|e| SendError::InvalidRequest(format!("header: {e:?}")))?;
    let out = OutgoingRequest::new(fields);

    let method = match parts.method.as_str() {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "PATCH" => Method::Patch,
        "HEAD" => Method::Head,
        other => Method::Other(other.to_string()),
    };
    out.set_method(&method).map_err(|()| invalid("method"))?;
    let scheme = match parts.uri.scheme_str() {
        Some("https") => Scheme::Https,
        Some("http") => Scheme::Http,
        Some(other) => Scheme::Other(other.to_string()),
        None => return Err(invalid("the URL has no scheme")),
    };
    out.set_scheme(Some(&scheme))
        .map_err(|()| invalid("scheme"))?;
    let authority = parts
        .uri
        .authority()
        .ok_or_else(|| invalid("the URL has no host"))?;
    out.set_authority(Some(authority.as_str()))
        .map_err(|()| invalid("authority"))?;
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    out.set_path_with_query(Some(path))
        .map_err(|()| invalid("path"))?;

    let out_body = out.body().map_err(|()| invalid("body already taken"))?;
    let pending = outgoing_handler::handle(out, None).map_err(from_error_code)?;
    {
        let stream = out_body.write().map_err(|()| invalid("body stream"))?;
        for chunk in body.chunks(WRITE_CHUNK) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| SendError::Transport(format!("writing the request body: {e:?}")))?;
        }
    }
    OutgoingBody::finish(out_body, None).map_err(from_error_code)?;

    pending.subscribe().block();
    let response = match pending.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(from_error_code(code)),
        Some(Err(())) | None => return Err(SendError::Transport("no response".to_string())),
    };

    let mut builder = ::http::Response::builder().status(response.status());
    for (name, value) in response.headers().entries() {
        builder = builder.header(name, value);
    }
    let incoming = response
        .consume()
        .map_err(|()| SendError::Transport("response body taken".to_string()))?;
    let mut buf = Vec::new();
    {
        let stream = incoming
            .stream()
            .map_err(|()| SendError::Transport("response body stream".to_string()))?;
        loop {
            match stream.blocking_read(READ_CHUNK) {
                Ok(chunk) => buf.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(match http_error_code(&e) {
                        Some(code) => from_error_code(code),
                        None => SendError::Transport(format!(
                            "reading the response body: {}",
                            e.to_debug_string()
                        )),
                    });
                }
            }
        }
    }
    let _trailers = IncomingBody::finish(incoming);
    builder
        .body(buf)
        .map_err(|e| SendError::Transport(format!("response: {e}")))
}
