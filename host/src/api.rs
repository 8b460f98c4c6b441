//! The HTTP API as a plain function of `http::Request<Bytes>` → `http::Response<Bytes>`,
//! shared by every front (standalone server, embedding, and later Envoy ext_proc).
//!
//! | method | path | what |
//! |---|---|---|
//! | `POST` | `/v1/ingests` | start an ingest; `201` with the handle `id` |
//! | `GET` | `/v1/ingests/{id}` | its status |
//! | `DELETE` | `/v1/ingests/{id}` | stop it |
//! | `POST` | `/v1/callbacks/{provider}` | a vendor callback: verified and normalized by the plugin |
//! | `GET` | `/v1/providers` | configured providers and what they support |
//! | `GET` | `/healthz` | liveness |
//!
//! Errors are `application/problem+json` (RFC 9457) with the fields of [`ApiError`].

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use serde::{Deserialize, Serialize};

use crate::bindings::types;
use crate::error::{ApiError, ErrorKind};
use crate::gateway::{CallOptions, Gateway, direction_name, operation_name};

/// Every route of the API as `(method, path template)`, as documented in `docs/openapi.json`
/// (a test checks the two agree, and that each is routed).
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/ingests"),
    ("GET", "/v1/ingests/{id}"),
    ("DELETE", "/v1/ingests/{id}"),
    ("GET", "/v1/providers"),
    ("POST", "/v1/callbacks/{provider}"),
    ("POST", "/v1/callbacks/{provider}/{tenant}"),
    ("GET", "/v1/events"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
];

/// The JSON body of `POST /v1/ingests`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    /// Provider instance id.
    pub provider: String,
    /// `pull-in`, `push-in`, `push-out` or `pull-out`.
    pub direction: DirectionJson,
    /// Vendor room id.
    pub room_id: String,
    /// User id for the relay.
    pub user_id: String,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Source or destination URL.
    #[serde(default)]
    pub stream_url: Option<String>,
    /// `audio-video` (default), `audio-only` or `video-only`.
    #[serde(default)]
    pub media: Option<MediaJson>,
    /// Vendor callback URL.
    #[serde(default)]
    pub callback_url: Option<String>,
    /// Validity of issued addresses / the ingest, seconds.
    #[serde(default)]
    pub expires_in_secs: Option<u32>,
    /// Vendor-specific options (each plugin's README lists its keys).
    #[serde(default)]
    pub options: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A direction as JSON spells it.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum DirectionJson {
    /// Vendor pulls a URL into the room.
    PullIn,
    /// Encoder pushes to an issued address.
    PushIn,
    /// Vendor pushes the room out.
    PushOut,
    /// Vendor issues a play address.
    PullOut,
}

/// A media kind as JSON spells it.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum MediaJson {
    /// Audio and video.
    AudioVideo,
    /// Audio only.
    AudioOnly,
    /// Video only.
    VideoOnly,
}

/// Longest id-like field accepted (room, user), bytes.
const MAX_ID_LEN: usize = 256;
/// Longest URL accepted, bytes.
const MAX_URL_LEN: usize = 4096;

fn check_url(field: &str, value: &str) -> Result<(), ApiError> {
    if value.len() > MAX_URL_LEN {
        return Err(ApiError::invalid(format!(
            "`{field}` is longer than {MAX_URL_LEN} bytes"
        )));
    }
    match url::Url::parse(value) {
        Ok(u) if u.host().is_some() || u.scheme() == "file" => Ok(()),
        Ok(_) => Err(ApiError::invalid(format!(
            "`{field}` has no host: `{value}`"
        ))),
        Err(e) => Err(ApiError::invalid(format!(
            "`{field}` is not a valid URL ({e}): `{value}`"
        ))),
    }
}

impl StartBody {
    /// Parses and checks a start body; errors name the field.
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let parsed: StartBody = serde_json::from_slice(body)
            .map_err(|e| ApiError::invalid(format!("invalid start request body: {e}")))?;
        parsed.check()?;
        Ok(parsed)
    }

    fn check(&self) -> Result<(), ApiError> {
        for (field, value) in [("room_id", &self.room_id), ("user_id", &self.user_id)] {
            if value.trim().is_empty() {
                return Err(ApiError::invalid(format!("`{field}` must not be empty")));
            }
            if value.len() > MAX_ID_LEN {
                return Err(ApiError::invalid(format!(
                    "`{field}` is longer than {MAX_ID_LEN} bytes"
                )));
            }
        }
        if let Some(name) = &self.display_name
            && name.len() > MAX_ID_LEN
        {
            return Err(ApiError::invalid(format!(
                "`display_name` is longer than {MAX_ID_LEN} bytes"
            )));
        }
        if let Some(u) = &self.stream_url {
            check_url("stream_url", u)?;
        }
        if let Some(u) = &self.callback_url {
            check_url("callback_url", u)?;
        }
        Ok(())
    }

    /// The normalized request the plugin receives.
    pub fn to_request(&self) -> types::StartRequest {
        types::StartRequest {
            direction: match self.direction {
                DirectionJson::PullIn => types::Direction::PullIn,
                DirectionJson::PushIn => types::Direction::PushIn,
                DirectionJson::PushOut => types::Direction::PushOut,
                DirectionJson::PullOut => types::Direction::PullOut,
            },
            room_id: self.room_id.clone(),
            user_id: self.user_id.clone(),
            display_name: self.display_name.clone(),
            stream_url: self.stream_url.clone(),
            media: match self.media.unwrap_or(MediaJson::AudioVideo) {
                MediaJson::AudioVideo => types::MediaKind::AudioVideo,
                MediaJson::AudioOnly => types::MediaKind::AudioOnly,
                MediaJson::VideoOnly => types::MediaKind::VideoOnly,
            },
            callback_url: self.callback_url.clone(),
            expires_in_secs: self.expires_in_secs,
            options_json: self
                .options
                .as_ref()
                .map(|o| serde_json::Value::Object(o.clone()).to_string())
                .unwrap_or_else(|| "{}".to_string()),
        }
    }
}

/// JSON for a session.
pub fn session_json(s: &types::Session) -> serde_json::Value {
    serde_json::json!({
        "vendor_task_id": s.vendor_task_id,
        "issued_urls": s.issued_urls.iter().map(|u| serde_json::json!({
            "purpose": match u.purpose { types::UrlPurpose::Publish => "publish", types::UrlPurpose::Play => "play" },
            "url": u.url,
        })).collect::<Vec<_>>(),
        "vendor_request_id": s.vendor_request_id,
        "expires_at": s.expires_at,
    })
}

/// The API spelling of a state.
pub fn state_name(s: types::IngestState) -> &'static str {
    match s {
        types::IngestState::Starting => "starting",
        types::IngestState::Running => "running",
        types::IngestState::Stopped => "stopped",
        types::IngestState::Failed => "failed",
        types::IngestState::NotFound => "not-found",
        types::IngestState::Unknown => "unknown",
    }
}

/// JSON for a status.
pub fn status_json(s: &types::IngestStatus) -> serde_json::Value {
    serde_json::json!({
        "state": state_name(s.state),
        "vendor_state": s.vendor_state,
        "detail": s.detail,
        "vendor_request_id": s.vendor_request_id,
    })
}

/// JSON for a normalized event.
pub fn event_json(e: &types::IngestEvent) -> serde_json::Value {
    serde_json::json!({
        "state": state_name(e.state),
        "vendor_event": e.vendor_event,
        "vendor_task_id": e.vendor_task_id,
        "detail": e.detail,
        "occurred_at_ms": e.occurred_at_ms,
    })
}

/// The request id to use: the caller's `x-request-id` when it is sane, else a new one.
fn request_id(req: &Request<Bytes>) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| {
            let mut b = [0u8; 8];
            let _ = getrandom::fill(&mut b);
            format!("req-{}", hex::encode(b))
        })
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Bytes> {
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
fn served_response(status: StatusCode, body: &serde_json::Value, plugin: &str) -> Response<Bytes> {
    let mut resp = json_response(status, body);
    if let Ok(v) = HeaderValue::from_str(plugin) {
        resp.headers_mut().insert("x-ingest-plugin", v);
    }
    resp
}

/// The problem+json response for an error.
pub fn problem_response(e: &ApiError) -> Response<Bytes> {
    let status =
        StatusCode::from_u16(e.kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = json_response(status, &e.to_problem());
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
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

fn method_not_allowed(allow: &'static str) -> Response<Bytes> {
    let mut resp = problem_with_status(
        &ApiError::new(
            ErrorKind::InvalidArgument,
            format!("method not allowed here; allowed: {allow}"),
        ),
        StatusCode::METHOD_NOT_ALLOWED,
    );
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    resp
}

impl Gateway {
    /// The streaming routes, answered before the body is buffered: `GET /v1/events`
    /// (Server-Sent Events of the caller's normalized events). `None` for any other request.
    pub fn stream_route(
        &self,
        parts: &http::request::Parts,
    ) -> Option<Response<crate::server::Body>> {
        use http_body_util::BodyExt;
        if parts.uri.path().trim_end_matches('/') != "/v1/events" || parts.method != Method::GET {
            return None;
        }
        let tenant = match self.authenticate(&parts.headers) {
            Ok(t) => t,
            Err(e) => {
                let mut resp = problem_with_status(&e, StatusCode::UNAUTHORIZED);
                resp.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return Some(resp.map(|b| http_body_util::Full::new(b).boxed_unsync()));
            }
        };
        let stream = self.events().subscribe(tenant.map(|t| t.id.clone()));
        let mut resp = Response::new(stream.boxed_unsync());
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        Some(resp)
    }

    /// Serves one API request. Never panics on any input; every error is problem+json.
    pub async fn handle(&self, req: Request<Bytes>) -> Response<Bytes> {
        let request_id = request_id(&req);
        let options = CallOptions {
            request_id: Some(request_id.clone()),
            ..CallOptions::default()
        };
        // Every log line of this request carries its id and, once known, its tenant.
        let span = tracing::info_span!(
            "request",
            request_id = %request_id,
            tenant = tracing::field::Empty,
        );
        let mut resp = tracing::Instrument::instrument(self.route(req, options), span).await;
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert("x-request-id", v);
        }
        resp
    }

    async fn route(&self, req: Request<Bytes>, mut options: CallOptions) -> Response<Bytes> {
        let path = req.uri().path().to_string();
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
        let method = req.method().clone();
        // Health probes and vendor callbacks (verified by the plugin) carry no tenant key.
        let open = matches!(
            segments.as_slice(),
            ["healthz"] | ["readyz"] | ["v1", "callbacks", ..]
        );
        if !open {
            match self.authenticate(req.headers()) {
                Ok(tenant) => {
                    if let Some(t) = &tenant {
                        tracing::Span::current().record("tenant", t.id.as_str());
                    }
                    options.tenant = tenant;
                }
                Err(e) => {
                    let mut resp = problem_with_status(&e, StatusCode::UNAUTHORIZED);
                    resp.headers_mut()
                        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                    return resp;
                }
            }
        }
        if req.body().len() > self.max_body_bytes() {
            return problem_with_status(
                &ApiError::invalid(format!(
                    "request body is larger than {} bytes",
                    self.max_body_bytes()
                )),
                StatusCode::PAYLOAD_TOO_LARGE,
            );
        }
        match segments.as_slice() {
            ["healthz"] => match method {
                Method::GET => json_response(StatusCode::OK, &self.health_json()),
                _ => method_not_allowed("GET"),
            },
            ["readyz"] => match method {
                Method::GET => {
                    let health = self.health_json();
                    let ready = health["ready"].as_bool().unwrap_or(false);
                    let status = if ready {
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    };
                    json_response(status, &health)
                }
                _ => method_not_allowed("GET"),
            },
            ["metrics"] => match method {
                Method::GET => {
                    let mut resp = Response::new(Bytes::from(self.metrics().render()));
                    resp.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                    );
                    resp
                }
                _ => method_not_allowed("GET"),
            },
            ["v1", "providers"] => match method {
                Method::GET => self.list_providers(options.tenant.as_deref()),
                _ => method_not_allowed("GET"),
            },
            ["v1", "ingests"] => match method {
                Method::POST => self.api_start(req.body(), options).await,
                _ => method_not_allowed("POST"),
            },
            ["v1", "ingests", id] => match method {
                Method::GET => match self.status(id, options).await {
                    Ok(served) => {
                        let mut body = status_json(&served.value);
                        body["id"] = serde_json::Value::String((*id).to_string());
                        body["provider"] = serde_json::Value::String(served.provider.id.clone());
                        served_response(StatusCode::OK, &body, &served.plugin)
                    }
                    Err(e) => self.error_response(&e),
                },
                Method::DELETE => match self.stop(id, options).await {
                    Ok(served) => served_response(
                        StatusCode::OK,
                        &serde_json::json!({
                            "id": id,
                            "provider": served.provider.id,
                            "state": "stopped",
                            "vendor_request_id": served.value.vendor_request_id,
                        }),
                        &served.plugin,
                    ),
                    Err(e) => self.error_response(&e),
                },
                _ => method_not_allowed("GET, DELETE"),
            },
            ["v1", "callbacks", provider] => match method {
                Method::POST => self.api_callback(provider, None, &req, options).await,
                _ => method_not_allowed("POST"),
            },
            ["v1", "callbacks", provider, tenant] => match method {
                Method::POST => {
                    self.api_callback(provider, Some(tenant), &req, options)
                        .await
                }
                _ => method_not_allowed("POST"),
            },
            _ => problem_response(&ApiError::new(
                ErrorKind::NotFound,
                format!("no route for {method} {path}; see the API table in the README"),
            )),
        }
    }

    async fn api_start(&self, body: &Bytes, options: CallOptions) -> Response<Bytes> {
        let parsed = match StartBody::parse(body) {
            Ok(p) => p,
            Err(e) => return problem_response(&e),
        };
        match self
            .start(&parsed.provider, parsed.to_request(), options)
            .await
        {
            Ok(served) => served_response(
                StatusCode::CREATED,
                &serde_json::json!({
                    "id": served.value.id,
                    "provider": parsed.provider,
                    "direction": parsed.direction,
                    "session": session_json(&served.value.session),
                }),
                &served.plugin,
            ),
            Err(e) => self.error_response(&e),
        }
    }

    async fn api_callback(
        &self,
        provider: &str,
        tenant: Option<&str>,
        req: &Request<Bytes>,
        mut options: CallOptions,
    ) -> Response<Bytes> {
        // The vendor calls back on the URL the tenant gave it: the tenant is named in the path
        // (the plugin verifies the vendor's signature; no API key is involved).
        match (tenant, self.auth_off()) {
            (Some(id), _) => match self.tenant(id) {
                Some(t) => options.tenant = Some(t),
                None => {
                    return problem_response(&ApiError::new(
                        ErrorKind::NotFound,
                        format!("no tenant `{id}`"),
                    ));
                }
            },
            (None, false) => {
                return problem_response(&ApiError::new(
                    ErrorKind::NotFound,
                    format!("callbacks are received on /v1/callbacks/{provider}/{{tenant}}"),
                ));
            }
            (None, true) => {}
        }
        let request = types::CallbackRequest {
            headers: req
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            query: req.uri().query().unwrap_or_default().to_string(),
            body: req.body().to_vec(),
        };
        // A callback whose signature does not verify is the *caller's* failure: 401, not the
        // 502 an `unauthenticated` answer from a vendor means elsewhere.
        match self.parse_callback(provider, request, options).await {
            Ok(served) => served_response(
                StatusCode::OK,
                &serde_json::json!({
                    "provider": served.provider.id,
                    "id": served.value.1,
                    "event": event_json(&served.value.0),
                }),
                &served.plugin,
            ),
            Err(e) if e.kind == ErrorKind::Unauthenticated => {
                problem_with_status(&e, StatusCode::UNAUTHORIZED)
            }
            Err(e) => problem_response(&e),
        }
    }

    /// Liveness and readiness detail: each provider's state.
    fn health_json(&self) -> serde_json::Value {
        let mut ready = true;
        let providers: serde_json::Map<String, serde_json::Value> = self
            .providers()
            .map(|p| {
                let state = match (p.binding().is_some(), p.healthy()) {
                    (false, _) => "no-plugin",
                    (true, false) => "unhealthy",
                    (true, true) => "ok",
                };
                ready &= state == "ok";
                (p.id.clone(), state.into())
            })
            .collect();
        serde_json::json!({"status": "ok", "ready": ready, "providers": providers})
    }

    /// The answer for a failed plugin call: problem+json, or the provider's configured
    /// degraded answer when it fails open and the plugin (not the vendor) is at fault.
    fn error_response(&self, e: &ApiError) -> Response<Bytes> {
        let provider = e.provider.as_deref().and_then(|id| self.provider(id).ok());
        if let Some(p) = provider
            && p.failure().mode == crate::config::FailureMode::Open
            && (e.kind == ErrorKind::PluginFault
                || (e.kind == ErrorKind::Unavailable && !p.healthy()))
        {
            let f = p.failure();
            let mut resp = Response::new(Bytes::from(f.open_body.clone()));
            *resp.status_mut() =
                StatusCode::from_u16(f.open_status).unwrap_or(StatusCode::ACCEPTED);
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp.headers_mut()
                .insert("x-ingest-degraded", HeaderValue::from_static("true"));
            tracing::warn!(provider = %p.id, kind = e.kind.as_str(), detail = %e.detail, "failing open");
            return resp;
        }
        problem_response(e)
    }

    fn list_providers(&self, tenant: Option<&crate::gateway::Tenant>) -> Response<Bytes> {
        let providers: Vec<serde_json::Value> = self
            .providers_for(tenant)
            .map(|p| match p.binding() {
                Some(b) => serde_json::json!({
                    "id": p.id,
                    "plugin": b.info.name,
                    "version": b.info.version,
                    "vendor": b.info.vendor,
                    "digest": b.version.digest,
                    "directions": b.info.directions.iter().map(|d| direction_name(*d)).collect::<Vec<_>>(),
                    "operations": b.info.operations.iter().map(|o| operation_name(*o)).collect::<Vec<_>>(),
                    "health": if p.healthy() { "ok" } else { "unhealthy" },
                }),
                None => serde_json::json!({
                    "id": p.id,
                    "plugin": p.plugin_name,
                    "health": "no-plugin",
                }),
            })
            .collect();
        json_response(
            StatusCode::OK,
            &serde_json::json!({ "providers": providers }),
        )
    }
}
