//! The Envoy front: an `envoy.service.ext_proc.v3.ExternalProcessor` gRPC service, a thin
//! adapter over [`api::handle`].
//!
//! Envoy's `ext_proc` HTTP filter opens one gRPC stream per HTTP request and sends the
//! request's headers, then (with `request_body_mode: BUFFERED`) its whole body in one
//! message. For a gateway path (`/v1`, `/v1/…`, `/healthz`, `/readyz`, `/metrics`) this
//! service rebuilds an `http::Request<Bytes>` from them (`:method`, `:path`, every other
//! header including `x-request-id`, the body), runs [`api::handle`] and answers with an
//! `ImmediateResponse` carrying the gateway's status, headers and body: Envoy replies to the
//! client itself and the request never reaches an upstream. Any other path is answered
//! `CONTINUE` at every step, so Envoy proxies it upstream untouched.
//!
//! An `ImmediateResponse` is one whole answer, so streaming routes (`GET /v1/events`,
//! Server-Sent Events) cannot be served from here: route them to the gateway's HTTP listener.
//!
//! The conversation for one gateway request:
//!
//! | Envoy sends | this service answers |
//! |---|---|
//! | request headers, `end_of_stream: true` (no body) | `ImmediateResponse` |
//! | request headers, `end_of_stream: false` | headers `CONTINUE` (Envoy keeps buffering; in `BUFFERED` mode it does not pass the headers on) |
//! | request body (the whole body) | `ImmediateResponse` |
//!
//! The filter must run with `processing_mode { request_header_mode: SEND,
//! request_body_mode: BUFFERED }`; response modes `SKIP`/`NONE` (response messages are
//! answered `CONTINUE` anyway). When Envoy reports another body mode (its
//! `protocol_config`), gateway requests with a body are refused with a `501` problem that
//! says what to set, rather than half-processed. `examples/envoy/` has a complete Envoy config.
//!
//! Nothing Envoy sends can panic this service: unknown or out-of-order messages are answered
//! `CONTINUE`, ignored, or end the stream with a gRPC error (which Envoy turns into a 5xx
//! unless `failure_mode_allow` is set) — never a silent pass-through of a gateway path.

use std::pin::Pin;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use envoy_types::pb::envoy::config::core::v3::header_value_option::HeaderAppendAction;
use envoy_types::pb::envoy::config::core::v3::{HeaderValue as PbHeaderValue, HeaderValueOption};
use envoy_types::pb::envoy::extensions::filters::http::ext_proc::v3::processing_mode::BodySendMode;
use envoy_types::pb::envoy::service::ext_proc::v3::external_processor_server::{
    ExternalProcessor, ExternalProcessorServer,
};
use envoy_types::pb::envoy::service::ext_proc::v3::{
    BodyResponse, CommonResponse, HeaderMutation, HeadersResponse, HttpBody, HttpHeaders,
    ImmediateResponse, ProcessingRequest, ProcessingResponse, TrailersResponse, common_response,
    processing_request, processing_response,
};
use envoy_types::pb::envoy::r#type::v3::HttpStatus;
use http::{HeaderName, HeaderValue, Method, Request, Response, header};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

use crate::conn::{Acceptor, ClientIo, ConnLimits};
use ingest_gateway::Gateway;
use ingest_gateway::api;
use ingest_gateway::error::{ApiError, ErrorKind};
use ingest_gateway::response::{body_too_large, problem_response};

/// Responses queued per stream before the stream task waits for Envoy to read them. Envoy
/// reads every answer promptly; one request needs at most two.
const STREAM_QUEUE: usize = 4;

/// `details` of every `ImmediateResponse`, shown by Envoy as `%RESPONSE_CODE_DETAILS%`
/// (no spaces allowed there).
const RESPONSE_DETAILS: &str = "ingest_gateway";

/// The gateway's paths outside `/v1/`: health, readiness and metrics (see [`api`]).
const GATEWAY_PATHS: &[&str] = &["/healthz", "/readyz", "/metrics"];

/// Whether the gateway answers `path` (no query): `/v1` and everything under `/v1/`, plus
/// `/healthz`, `/readyz` and `/metrics`. Everything else belongs to the upstream behind Envoy.
pub fn is_gateway_path(path: &str) -> bool {
    // The gateway's router ignores a trailing `/` (`/healthz/` is `/healthz`).
    let path = path.trim_end_matches('/');
    path == "/v1" || path.starts_with("/v1/") || GATEWAY_PATHS.contains(&path)
}

/// The `ExternalProcessor` gRPC service. Cheap to clone; every clone serves the same gateway.
#[derive(Debug, Clone)]
pub struct ExtProcService {
    gateway: Arc<Gateway>,
}

impl ExtProcService {
    /// A service answering gateway paths with `gateway`.
    pub fn new(gateway: Arc<Gateway>) -> Self {
        Self { gateway }
    }

    /// The tonic server wrapping this service, a tower service for `tonic::transport::Server`.
    pub fn into_server(self) -> ExternalProcessorServer<Self> {
        ExternalProcessorServer::new(self)
    }
}

/// Serves the ext_proc gRPC service on `listener` until `shutdown` resolves; then stops
/// accepting and lets open streams finish.
pub async fn serve(
    gateway: Arc<Gateway>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let limits = ConnLimits::from_config(gateway.connections());
    // At most `max_connections` open (Envoy keeps a few long-lived HTTP/2 connections);
    // beyond that the listener waits for one to close before accepting.
    let acceptor = Acceptor::new(listener, limits.max_connections);
    let (accepted, incoming) = mpsc::channel::<std::io::Result<ClientIo>>(1);
    // Ends (closing the listener) once the server stops taking connections.
    tokio::spawn(async move {
        loop {
            let (stream, _peer, slot) = acceptor.accept().await;
            // Envoy sends small messages on a kept-open connection: Nagle's algorithm would
            // only add latency.
            let _ = stream.set_nodelay(true);
            if accepted
                .send(Ok(ClientIo::new(stream, slot, None)))
                .await
                .is_err()
            {
                break;
            }
        }
    });
    let incoming = ReceiverStream::new(incoming);
    let max_header = u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX);
    tonic::transport::Server::builder()
        // HTTP/2 pings find a peer that vanished without closing its connection.
        .http2_keepalive_interval(Some(limits.idle_timeout))
        .http2_keepalive_timeout(Some(limits.header_timeout))
        .http2_max_header_list_size(max_header)
        .serve_with_incoming_shutdown(
            ExtProcService::new(gateway).into_server(),
            incoming,
            shutdown,
        )
        .await
        .map_err(std::io::Error::other)
}

/// The stream of answers to one Envoy stream.
pub type ProcessStream =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<ProcessingResponse, Status>> + Send>>;

#[tonic::async_trait]
impl ExternalProcessor for ExtProcService {
    type ProcessStream = ProcessStream;

    async fn process(
        &self,
        request: tonic::Request<Streaming<ProcessingRequest>>,
    ) -> Result<tonic::Response<Self::ProcessStream>, Status> {
        let inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(STREAM_QUEUE);
        tokio::spawn(run_stream(self.gateway.clone(), inbound, tx));
        Ok(tonic::Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// Reads Envoy's messages one by one and answers each as [`StreamState`] decides.
async fn run_stream(
    gateway: Arc<Gateway>,
    mut inbound: Streaming<ProcessingRequest>,
    tx: mpsc::Sender<Result<ProcessingResponse, Status>>,
) {
    let mut stream_state = StreamState::new(gateway.max_body_bytes());
    loop {
        let message = match inbound.message().await {
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(status) => {
                tracing::debug!(%status, "ext_proc stream ended with an error");
                break;
            }
        };
        let answer = match stream_state.on_message(message) {
            Next::Reply(r) => Ok(r),
            Next::Answer(resp) => Ok(immediate_response(resp)),
            Next::Dispatch(req) => {
                // Run the gateway in its own task: a call that reached a vendor completes even
                // if Envoy gives up on the stream, and a panic (a bug) fails this request
                // with a gRPC error — never a clean stream end, which Envoy would take as
                // "continue upstream".
                let gw = gateway.clone();
                match tokio::spawn(async move { api::handle(&gw, req).await }).await {
                    Ok(resp) => Ok(immediate_response(resp)),
                    Err(e) => {
                        tracing::error!(error = %e, "gateway task failed while serving an ext_proc request");
                        Err(Status::internal(
                            "the gateway failed while handling the request",
                        ))
                    }
                }
            }
            Next::Fail(status) => Err(status),
            Next::Nothing => continue,
        };
        let failed = answer.is_err();
        if tx.send(answer).await.is_err() || failed {
            break;
        }
    }
}

/// What to do with one message from Envoy.
#[derive(Debug)]
enum Next {
    /// Send this answer and wait for the next message.
    Reply(ProcessingResponse),
    /// The gateway request is complete: run it and answer with an `ImmediateResponse`.
    Dispatch(Request<Bytes>),
    /// Answer with this response as an `ImmediateResponse` without running the gateway.
    Answer(Response<Bytes>),
    /// End the stream with this gRPC status.
    Fail(Status),
    /// Send nothing.
    Nothing,
}

/// Where one stream's request stands.
#[derive(Debug)]
enum State {
    /// No request headers yet.
    AwaitingHeaders,
    /// Not a gateway path: everything is answered `CONTINUE`.
    Passthrough,
    /// A gateway request whose body is still coming.
    Buffering {
        /// Boxed: the request line and headers are large next to the other states.
        parts: Box<http::request::Parts>,
        body: BytesMut,
    },
    /// The gateway request was answered (or refused); Envoy is done with the request side.
    Answered,
}

/// The per-stream state machine, free of I/O so every message sequence can be unit-tested.
#[derive(Debug)]
struct StreamState {
    state: State,
    /// The gateway's body cap (`gateway.max_body_bytes`).
    max_body: usize,
    /// Envoy's `request_body_mode` from the first message's `protocol_config`, when sent.
    body_mode: Option<i32>,
}

impl StreamState {
    fn new(max_body: usize) -> Self {
        Self {
            state: State::AwaitingHeaders,
            max_body,
            body_mode: None,
        }
    }

    fn on_message(&mut self, message: ProcessingRequest) -> Next {
        if let Some(config) = &message.protocol_config {
            self.body_mode = Some(config.request_body_mode);
        }
        if message.observability_mode {
            // Envoy ignores every answer in observability mode: the gateway cannot serve
            // from there. Say so once per stream.
            if matches!(self.state, State::AwaitingHeaders) {
                tracing::warn!(
                    "Envoy runs this ext_proc filter in observability_mode; gateway requests cannot be answered (turn it off)"
                );
                self.state = State::Answered;
            }
            return Next::Nothing;
        }
        use processing_request::Request as In;
        use processing_response::Response as Out;
        let Some(request) = message.request else {
            // A message kind this build does not know (a newer Envoy): nothing to answer.
            tracing::debug!("ext_proc message without a known request part; ignored");
            return Next::Nothing;
        };
        match request {
            In::RequestHeaders(headers) => self.on_request_headers(&headers),
            In::RequestBody(body) => self.on_request_body(&body),
            In::RequestTrailers(_) => match std::mem::replace(&mut self.state, State::Answered) {
                State::Buffering { parts, body } => {
                    Next::Dispatch(Request::from_parts(*parts, body.freeze()))
                }
                State::Passthrough => {
                    self.state = State::Passthrough;
                    Next::Reply(reply(Out::RequestTrailers(TrailersResponse::default())))
                }
                State::Answered => Next::Nothing,
                State::AwaitingHeaders => {
                    self.state = State::AwaitingHeaders;
                    Next::Fail(headers_missing())
                }
            },
            // The response side is the upstream's business: let it through untouched (only
            // sent at all when the filter's response modes are not SKIP/NONE).
            In::ResponseHeaders(_) => Next::Reply(reply(Out::ResponseHeaders(headers_continue()))),
            In::ResponseBody(_) => Next::Reply(reply(Out::ResponseBody(body_continue()))),
            In::ResponseTrailers(_) => {
                Next::Reply(reply(Out::ResponseTrailers(TrailersResponse::default())))
            }
        }
    }

    /// A body message: buffered up to the cap, dispatched once complete.
    fn on_request_body(&mut self, body: &HttpBody) -> Next {
        use processing_response::Response as Out;
        match std::mem::replace(&mut self.state, State::Answered) {
            State::Buffering {
                parts,
                body: mut buffered,
            } => {
                if buffered.len().saturating_add(body.body.len()) > self.max_body {
                    return Next::Answer(body_too_large(self.max_body));
                }
                buffered.extend_from_slice(&body.body);
                // In BUFFERED mode the one body message is the whole body, even when
                // trailers follow (end_of_stream is false then).
                let complete =
                    body.end_of_stream || self.body_mode == Some(BodySendMode::Buffered as i32);
                if complete {
                    Next::Dispatch(Request::from_parts(*parts, buffered.freeze()))
                } else {
                    self.state = State::Buffering {
                        parts,
                        body: buffered,
                    };
                    Next::Reply(reply(Out::RequestBody(body_continue())))
                }
            }
            State::Passthrough => {
                self.state = State::Passthrough;
                Next::Reply(reply(Out::RequestBody(body_continue())))
            }
            State::Answered => Next::Nothing,
            State::AwaitingHeaders => {
                self.state = State::AwaitingHeaders;
                Next::Fail(headers_missing())
            }
        }
    }

    fn on_request_headers(&mut self, headers: &HttpHeaders) -> Next {
        use processing_response::Response as Out;
        let path = pseudo_header(headers, ":path").unwrap_or_default();
        let path_only = path.split('?').next().unwrap_or_default();
        if !is_gateway_path(path_only) {
            self.state = State::Passthrough;
            return Next::Reply(reply(Out::RequestHeaders(headers_continue())));
        }
        self.state = State::Answered;
        let parts = match request_parts(headers) {
            Ok(p) => p,
            Err(e) => return Next::Answer(problem_response(&e)),
        };
        if headers.end_of_stream {
            return Next::Dispatch(Request::from_parts(parts, Bytes::new()));
        }
        if let Some(mode) = self.body_mode
            && mode != BodySendMode::Buffered as i32
        {
            let name = BodySendMode::try_from(mode)
                .map(|m| m.as_str_name())
                .unwrap_or("unknown");
            return Next::Answer(problem_response(&ApiError::new(
                ErrorKind::Unsupported,
                format!(
                    "Envoy's ext_proc filter sends request bodies in mode {name}; the gateway needs processing_mode.request_body_mode: BUFFERED"
                ),
            )));
        }
        // Envoy, in BUFFERED mode, holds the headers back until the body has been processed:
        // answer CONTINUE and wait for the body.
        self.state = State::Buffering {
            parts: Box::new(parts),
            body: BytesMut::new(),
        };
        Next::Reply(reply(Out::RequestHeaders(headers_continue())))
    }
}

fn reply(response: processing_response::Response) -> ProcessingResponse {
    ProcessingResponse {
        response: Some(response),
        ..Default::default()
    }
}

fn common_continue() -> CommonResponse {
    CommonResponse {
        status: common_response::ResponseStatus::Continue as i32,
        ..Default::default()
    }
}

fn headers_continue() -> HeadersResponse {
    HeadersResponse {
        response: Some(common_continue()),
    }
}

fn body_continue() -> BodyResponse {
    BodyResponse {
        response: Some(common_continue()),
    }
}

fn headers_missing() -> Status {
    Status::failed_precondition(
        "ext_proc sent a request body without the request headers; the gateway needs processing_mode.request_header_mode: SEND",
    )
}

/// A header's bytes: Envoy sends `raw_value`; older versions sent `value`.
fn header_bytes(h: &PbHeaderValue) -> &[u8] {
    if h.raw_value.is_empty() {
        h.value.as_bytes()
    } else {
        &h.raw_value
    }
}

fn pseudo_header(headers: &HttpHeaders, name: &str) -> Option<String> {
    let map = headers.headers.as_ref()?;
    map.headers
        .iter()
        .find(|h| h.key == name)
        .map(|h| String::from_utf8_lossy(header_bytes(h)).into_owned())
}

/// Rebuilds the request line and headers Envoy saw. Errors are `invalid-argument` problems:
/// Envoy validates requests before filters run, so these only catch the impossible.
fn request_parts(headers: &HttpHeaders) -> Result<http::request::Parts, ApiError> {
    let mut method = None;
    let mut path = None;
    let mut authority = None;
    let mut map = http::HeaderMap::new();
    let entries = headers
        .headers
        .as_ref()
        .map(|m| m.headers.as_slice())
        .unwrap_or_default();
    for h in entries {
        let value = header_bytes(h);
        match h.key.as_str() {
            ":method" => method = Some(value),
            ":path" => path = Some(value),
            ":authority" => authority = Some(value),
            k if k.starts_with(':') => {}
            k => {
                let name = HeaderName::from_bytes(k.as_bytes())
                    .map_err(|_| ApiError::invalid(format!("header name `{k}` is not valid")))?;
                let value = HeaderValue::from_bytes(value).map_err(|_| {
                    ApiError::invalid(format!("the value of header `{k}` is not valid"))
                })?;
                map.append(name, value);
            }
        }
    }
    let method = Method::from_bytes(method.unwrap_or(b"GET"))
        .map_err(|_| ApiError::invalid("the request method is not valid"))?;
    let uri = http::Uri::try_from(path.unwrap_or(b"/"))
        .map_err(|_| ApiError::invalid("the request path is not valid"))?;
    if !map.contains_key(header::HOST)
        && let Some(Ok(host)) = authority.map(HeaderValue::from_bytes)
    {
        map.insert(header::HOST, host);
    }
    let (mut parts, ()) = Request::builder()
        .method(method)
        .uri(uri)
        .body(())
        .map_err(|e| ApiError::invalid(format!("the request is not valid: {e}")))?
        .into_parts();
    parts.headers = map;
    Ok(parts)
}

/// Headers Envoy sets itself on a local reply, or that describe a connection rather than a
/// response.
fn skipped_response_header(name: &HeaderName) -> bool {
    name == header::CONTENT_LENGTH
        || name == header::TRANSFER_ENCODING
        || name == header::CONNECTION
        || name.as_str() == "keep-alive"
}

/// The gateway's answer as an `ImmediateResponse`: Envoy sends it to the client as is.
fn immediate_response(resp: Response<Bytes>) -> ProcessingResponse {
    let (parts, body) = resp.into_parts();
    let mut set_headers: Vec<HeaderValueOption> = Vec::new();
    for name in parts.headers.keys() {
        if skipped_response_header(name) {
            continue;
        }
        for (i, value) in parts.headers.get_all(name).iter().enumerate() {
            set_headers.push(HeaderValueOption {
                header: Some(PbHeaderValue {
                    key: name.as_str().to_string(),
                    raw_value: value.as_bytes().to_vec(),
                    ..Default::default()
                }),
                append_action: if i == 0 {
                    HeaderAppendAction::OverwriteIfExistsOrAdd
                } else {
                    HeaderAppendAction::AppendIfExistsOrAdd
                } as i32,
                keep_empty_value: true,
                ..Default::default()
            });
        }
    }
    reply(processing_response::Response::ImmediateResponse(
        ImmediateResponse {
            status: Some(HttpStatus {
                code: i32::from(parts.status.as_u16()),
            }),
            headers: Some(HeaderMutation {
                set_headers,
                remove_headers: Vec::new(),
            }),
            body: body.to_vec(),
            grpc_status: None,
            details: RESPONSE_DETAILS.to_string(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::envoy::config::core::v3::HeaderMap as PbHeaderMap;
    use envoy_types::pb::envoy::service::ext_proc::v3::{
        HttpBody, HttpTrailers, ProtocolConfiguration,
    };
    use http::StatusCode;
    use processing_request::Request as In;
    use processing_response::Response as Out;

    const CAP: usize = 64;

    fn headers(method: &str, path: &str, end_of_stream: bool) -> ProcessingRequest {
        let pairs = [
            (":method", method),
            (":path", path),
            (":authority", "gw.example"),
            (":scheme", "http"),
            ("x-request-id", "rid-1"),
            ("content-type", "application/json"),
        ];
        ProcessingRequest {
            request: Some(In::RequestHeaders(HttpHeaders {
                headers: Some(PbHeaderMap {
                    headers: pairs
                        .iter()
                        .map(|(k, v)| PbHeaderValue {
                            key: (*k).to_string(),
                            raw_value: v.as_bytes().to_vec(),
                            ..Default::default()
                        })
                        .collect(),
                }),
                end_of_stream,
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    fn with_mode(mut m: ProcessingRequest, mode: BodySendMode) -> ProcessingRequest {
        m.protocol_config = Some(ProtocolConfiguration {
            request_body_mode: mode as i32,
            ..Default::default()
        });
        m
    }

    fn body(bytes: &[u8], end_of_stream: bool) -> ProcessingRequest {
        ProcessingRequest {
            request: Some(In::RequestBody(HttpBody {
                body: bytes.to_vec(),
                end_of_stream,
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    /// A stream state that has seen the headers of a `POST` to `path` with a body to come.
    fn posted(path: &str) -> StreamState {
        let mut x = StreamState::new(CAP);
        assert!(is_continue(&x.on_message(headers("POST", path, false))));
        x
    }

    fn is_continue(step: &Next) -> bool {
        matches!(
            step,
            Next::Reply(ProcessingResponse {
                response: Some(
                    Out::RequestHeaders(HeadersResponse { response: Some(c) })
                        | Out::RequestBody(BodyResponse { response: Some(c) })
                ),
                ..
            }) if c.status == common_response::ResponseStatus::Continue as i32
                && c.header_mutation.is_none()
                && c.body_mutation.is_none()
        )
    }

    #[test]
    fn gateway_paths() {
        for p in [
            "/healthz",
            "/readyz",
            "/metrics",
            "/v1",
            "/v1/",
            "/v1/ingests",
            "/v1/ingests/abc",
            "/healthz/",
        ] {
            assert!(is_gateway_path(p), "{p}");
        }
        for p in ["/", "/v10", "/v1x/a", "/healthzz", "/app/v1/", ""] {
            assert!(!is_gateway_path(p), "{p}");
        }
    }

    #[test]
    fn headers_without_body_dispatch_at_once() {
        let mut x = StreamState::new(CAP);
        match x.on_message(headers("GET", "/v1/ingests/abc?x=1", true)) {
            Next::Dispatch(req) => {
                assert_eq!(req.method(), Method::GET);
                assert_eq!(req.uri().path(), "/v1/ingests/abc");
                assert_eq!(req.uri().query(), Some("x=1"));
                assert_eq!(req.headers()["x-request-id"], "rid-1");
                assert_eq!(req.headers()["host"], "gw.example");
                assert!(req.body().is_empty());
            }
            other => panic!("expected dispatch, got {other:?}"),
        }
        // Anything after the answer is ignored.
        assert!(matches!(x.on_message(body(b"late", true)), Next::Nothing));
    }

    #[test]
    fn body_in_a_later_message_is_awaited() {
        let mut x = StreamState::new(CAP);
        let first = x.on_message(with_mode(
            headers("POST", "/v1/ingests", false),
            BodySendMode::Buffered,
        ));
        assert!(is_continue(&first), "{first:?}");
        match x.on_message(body(b"{\"a\":1}", true)) {
            Next::Dispatch(req) => {
                assert_eq!(req.method(), Method::POST);
                assert_eq!(req.body().as_ref(), b"{\"a\":1}");
                assert_eq!(req.headers()["content-type"], "application/json");
            }
            other => panic!("expected dispatch, got {other:?}"),
        }
    }

    #[test]
    fn chunks_accumulate_until_end_of_stream_when_the_mode_is_unknown() {
        let mut x = posted("/v1/ingests");
        assert!(is_continue(&x.on_message(body(b"ab", false))));
        match x.on_message(body(b"cd", true)) {
            Next::Dispatch(req) => assert_eq!(req.body().as_ref(), b"abcd"),
            other => panic!("expected dispatch, got {other:?}"),
        }
    }

    #[test]
    fn trailers_end_a_buffered_body() {
        let mut x = posted("/v1/ingests");
        assert!(is_continue(&x.on_message(body(b"ab", false))));
        let trailers = ProcessingRequest {
            request: Some(In::RequestTrailers(HttpTrailers::default())),
            ..Default::default()
        };
        match x.on_message(trailers) {
            Next::Dispatch(req) => assert_eq!(req.body().as_ref(), b"ab"),
            other => panic!("expected dispatch, got {other:?}"),
        }
    }

    #[test]
    fn an_oversized_body_is_413_without_the_gateway() {
        let mut x = posted("/v1/ingests");
        assert!(is_continue(&x.on_message(body(&[b'x'; 40], false))));
        match x.on_message(body(&[b'x'; 40], true)) {
            Next::Answer(resp) => assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE),
            other => panic!("expected a 413, got {other:?}"),
        }
    }

    #[test]
    fn other_paths_continue_untouched() {
        let mut x = posted("/app/upload");
        assert!(is_continue(&x.on_message(body(&[b'x'; 500], true))));
        let trailers = ProcessingRequest {
            request: Some(In::RequestTrailers(HttpTrailers::default())),
            ..Default::default()
        };
        assert!(matches!(
            x.on_message(trailers),
            Next::Reply(ProcessingResponse {
                response: Some(Out::RequestTrailers(_)),
                ..
            })
        ));
        let resp_headers = ProcessingRequest {
            request: Some(In::ResponseHeaders(HttpHeaders::default())),
            ..Default::default()
        };
        assert!(matches!(
            x.on_message(resp_headers),
            Next::Reply(ProcessingResponse {
                response: Some(Out::ResponseHeaders(_)),
                ..
            })
        ));
    }

    #[test]
    fn a_non_buffered_body_mode_is_refused_with_what_to_set() {
        let mut x = StreamState::new(CAP);
        match x.on_message(with_mode(
            headers("POST", "/v1/ingests", false),
            BodySendMode::Streamed,
        )) {
            Next::Answer(resp) => {
                assert_eq!(resp.status(), StatusCode::NOT_IMPLEMENTED);
                let text = String::from_utf8_lossy(resp.body()).into_owned();
                assert!(
                    text.contains("BUFFERED") && text.contains("STREAMED"),
                    "{text}"
                );
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        // Without a body the mode does not matter.
        let mut x = StreamState::new(CAP);
        assert!(matches!(
            x.on_message(with_mode(
                headers("GET", "/healthz", true),
                BodySendMode::None
            )),
            Next::Dispatch(_)
        ));
    }

    #[test]
    fn malformed_and_out_of_order_messages_never_panic() {
        // A body before any headers: a configuration error, reported as a gRPC error.
        let mut x = StreamState::new(CAP);
        assert!(matches!(x.on_message(body(b"x", true)), Next::Fail(_)));
        // An empty message.
        assert!(matches!(
            x.on_message(ProcessingRequest::default()),
            Next::Nothing
        ));
        // Headers with no header map at all: `/` is not a gateway path.
        let empty = ProcessingRequest {
            request: Some(In::RequestHeaders(HttpHeaders::default())),
            ..Default::default()
        };
        assert!(is_continue(&StreamState::new(CAP).on_message(empty)));
        // A bad method and a bad header value on a gateway path: a 400 problem.
        let mut bad = headers("GE T", "/v1/ingests", true);
        let mut x = StreamState::new(CAP);
        assert!(
            matches!(x.on_message(bad.clone()), Next::Answer(r) if r.status() == StatusCode::BAD_REQUEST)
        );
        if let Some(In::RequestHeaders(h)) = bad.request.as_mut()
            && let Some(map) = h.headers.as_mut()
        {
            map.headers[0].raw_value = b"GET".to_vec();
            map.headers.push(PbHeaderValue {
                key: "x-bad".into(),
                raw_value: b"a\nb".to_vec(),
                ..Default::default()
            });
        }
        assert!(
            matches!(StreamState::new(CAP).on_message(bad), Next::Answer(r) if r.status() == StatusCode::BAD_REQUEST)
        );
        // Observability mode: never answered.
        let mut quiet = headers("GET", "/healthz", true);
        quiet.observability_mode = true;
        assert!(matches!(
            StreamState::new(CAP).on_message(quiet),
            Next::Nothing
        ));
        // A value sent the old way (`value` instead of `raw_value`) still counts.
        let mut old = headers("GET", "/healthz", true);
        if let Some(In::RequestHeaders(h)) = old.request.as_mut()
            && let Some(map) = h.headers.as_mut()
        {
            for v in &mut map.headers {
                v.value = String::from_utf8_lossy(&v.raw_value).into_owned();
                v.raw_value.clear();
            }
        }
        assert!(matches!(
            StreamState::new(CAP).on_message(old),
            Next::Dispatch(r) if r.uri().path() == "/healthz"
        ));
    }

    #[test]
    fn the_answer_carries_status_headers_and_body() {
        let resp = Response::builder()
            .status(201)
            .header("content-type", "application/json")
            .header("content-length", "2")
            .header("x-request-id", "rid-1")
            .header("vary", "a")
            .header("vary", "b")
            .body(Bytes::from_static(b"{}"))
            .expect("response");
        let Some(Out::ImmediateResponse(ir)) = immediate_response(resp).response else {
            panic!("expected an immediate response");
        };
        assert_eq!(ir.status.map(|s| s.code), Some(201));
        assert_eq!(ir.body, b"{}");
        let set = ir.headers.map(|h| h.set_headers).unwrap_or_default();
        let keys: Vec<_> = set
            .iter()
            .filter_map(|o| o.header.as_ref().map(|h| h.key.as_str()))
            .collect();
        assert_eq!(keys, ["content-type", "x-request-id", "vary", "vary"]);
        assert_eq!(
            set[3].append_action,
            HeaderAppendAction::AppendIfExistsOrAdd as i32
        );
    }
}
