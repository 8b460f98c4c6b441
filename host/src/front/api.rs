//! The HTTP API as a plain function of `http::Request<Bytes>` → `http::Response<Bytes>`
//! ([`handle`]), shared by every front: the standalone server, Envoy ext_proc, embedding.
//!
//! | method | path | what |
//! |---|---|---|
//! | `POST` | `/v1/ingests` | start an ingest; `201` with the handle `id` |
//! | `GET` | `/v1/ingests/{id}` | its status |
//! | `PATCH` | `/v1/ingests/{id}` | change it (new URL, vendor options); `501` where the provider cannot |
//! | `DELETE` | `/v1/ingests/{id}` | stop it |
//! | `POST` | `/v1/callbacks/{provider}[/{tenant}]` | a vendor callback: verified and normalized by the plugin |
//! | `GET` | `/v1/providers` | configured providers and what they support |
//! | `GET` | `/v1/ingests/{id}/events` | the ingest's events with their delivery state, oldest first |
//! | `GET` | `/v1/events` | Server-Sent Events of the caller's normalized events, every replica's; `Last-Event-ID` resumes ([`stream_route`]) |
//! | `GET` | `/v1/webhook` | the caller's webhook endpoint: URL, whether it is failing, the last error |
//! | `GET` | `/v1/webhook/events` | the caller's recent events with their delivery state, newest first, paged (`limit`, `before`), filtered (`state`, `ingest_id`) |
//! | `POST` | `/v1/webhook/events/{event_id}/redeliver` | queue one event for delivery again |
//! | `GET` | `/healthz`, `/readyz` | liveness, readiness |
//! | `GET` | `/metrics` | Prometheus metrics: OpenMetrics or classic text, by `Accept` |
//!
//! The table is [`ROUTES`]: routing, `404`, and `405` with `Allow` are all read from it.
//! Errors are `application/problem+json` (RFC 9457) with the fields of [`ApiError`].

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};

use super::answers::{self, json_of};
use super::body::{StartBody, UpdateBody};
use super::caller::{self, Caller};
use super::response::{
    Body, body_too_large, json_response, method_not_allowed, problem_response, problem_with_status,
    served_response,
};
use crate::contract::json::{
    direction_name, event_json, operation_name, session_json, status_json,
};
use crate::contract::types;
use crate::core::metrics::Format as MetricsFormat;
use crate::core::{CallOptions, Gateway, ProviderState, Tenant};
use crate::error::{ApiError, ErrorKind};

/// One route of the API: its method and path template (as documented in
/// `docs/openapi.json`; a test checks the two agree), and what answers it. The table below is
/// the whole router: a path no template matches is `404`, a method none of the matching
/// routes has is `405` with `Allow` listing theirs.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// The HTTP method.
    pub method: &'static str,
    /// The path template; `{name}` matches one non-empty segment.
    pub path: &'static str,
    action: Action,
    /// Who calls it, and so how its tenant is found ([`caller::extract`]).
    caller: Caller,
}

/// What answers a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Start,
    Status,
    Update,
    Stop,
    IngestEvents,
    Providers,
    Callback,
    Stream,
    Webhook,
    WebhookEvents,
    Redeliver,
    Health,
    Ready,
    Metrics,
}

const fn entry(method: &'static str, path: &'static str, action: Action) -> Route {
    // Who calls: health probes anyone, callbacks a vendor, the event stream a subscriber (not
    // counted against `max_concurrent`); every other route a tenant's key holder.
    let caller = match action {
        Action::Health | Action::Ready => Caller::Anyone,
        Action::Callback => Caller::Vendor,
        Action::Stream => Caller::Subscriber,
        _ => Caller::KeyHolder,
    };
    Route {
        method,
        path,
        action,
        caller,
    }
}

/// Every route of the API.
pub const ROUTES: &[Route] = &[
    entry("POST", "/v1/ingests", Action::Start),
    entry("GET", "/v1/ingests/{id}", Action::Status),
    entry("PATCH", "/v1/ingests/{id}", Action::Update),
    entry("DELETE", "/v1/ingests/{id}", Action::Stop),
    entry("GET", "/v1/ingests/{id}/events", Action::IngestEvents),
    entry("GET", "/v1/providers", Action::Providers),
    entry("POST", "/v1/callbacks/{provider}", Action::Callback),
    entry(
        "POST",
        "/v1/callbacks/{provider}/{tenant}",
        Action::Callback,
    ),
    entry("GET", "/v1/events", Action::Stream),
    entry("GET", "/v1/webhook", Action::Webhook),
    entry("GET", "/v1/webhook/events", Action::WebhookEvents),
    entry(
        "POST",
        "/v1/webhook/events/{event_id}/redeliver",
        Action::Redeliver,
    ),
    entry("GET", "/healthz", Action::Health),
    entry("GET", "/readyz", Action::Ready),
    entry("GET", "/metrics", Action::Metrics),
];

/// The values of `template`'s `{name}` segments in `path`, in order; `None` when it does not
/// match. A trailing `/` is ignored.
fn matches<'p>(template: &str, path: &'p str) -> Option<Vec<&'p str>> {
    let mut want = template.split('/');
    let mut got = path.trim_end_matches('/').split('/');
    let mut params = Vec::new();
    loop {
        match (want.next(), got.next()) {
            (None, None) => return Some(params),
            (Some(w), Some(g)) if w.starts_with('{') && !g.is_empty() => params.push(g),
            (Some(w), Some(g)) if w == g => {}
            _ => return None,
        }
    }
}

/// What the table says of a request: the route and its parameters, or the methods the path
/// has (empty: no such path) and whether the path is an open one.
enum Routed<'p> {
    Found(Route, Vec<&'p str>),
    OtherMethods {
        allowed: Vec<&'static str>,
        open: bool,
    },
}

fn find<'p>(method: &Method, path: &'p str) -> Routed<'p> {
    let mut allowed = Vec::new();
    let mut open = false;
    for r in ROUTES {
        if let Some(params) = matches(r.path, path) {
            if r.method == method.as_str() {
                return Routed::Found(*r, params);
            }
            open |= r.caller.is_open();
            if !allowed.contains(&r.method) {
                allowed.push(r.method);
            }
        }
    }
    Routed::OtherMethods { allowed, open }
}

/// Whether the request is the event stream's (asked of every request before buffering, so
/// it looks at that route alone).
fn is_stream(method: &Method, path: &str) -> bool {
    ROUTES.iter().any(|r| {
        r.action == Action::Stream && r.method == method.as_str() && matches(r.path, path).is_some()
    })
}

/// The request id to use: the caller's `x-request-id` when it is sane, else a new one.
fn request_id(req: &Request<Bytes>) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| format!("req-{}", crate::text::random_hex(8)))
}

/// The streaming routes, answered before the body is buffered: `GET /v1/events`
/// (Server-Sent Events of the caller's normalized events). `None` for any other request.
pub fn stream_route(gateway: &Gateway, parts: &http::request::Parts) -> Option<Response<Body>> {
    use http_body_util::BodyExt;
    if !is_stream(&parts.method, parts.uri.path()) {
        return None;
    }
    let tenant = match caller::extract(gateway, Caller::Subscriber, &parts.headers, &[]) {
        Ok(admitted) => admitted.tenant,
        Err(refused) => return Some(refused.map(|b| http_body_util::Full::new(b).boxed_unsync())),
    };
    // `Last-Event-ID` (an EventSource sends it when it reconnects) resumes after that event.
    let after = match parts.headers.get("last-event-id").map(|v| {
        v.to_str()
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .filter(|n| *n >= 0)
    }) {
        None => None,
        Some(Some(n)) => Some(n),
        Some(None) => {
            let e = ApiError::invalid(
                "Last-Event-ID must be the `id` of an event this stream sent (a non-negative integer)",
            );
            return Some(problem_response(&e).map(|b| http_body_util::Full::new(b).boxed_unsync()));
        }
    };
    let stream = gateway
        .events()
        .subscribe(tenant.map(|t| t.id.clone()), after);
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
pub async fn handle(gateway: &Gateway, req: Request<Bytes>) -> Response<Bytes> {
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
    let mut resp = tracing::Instrument::instrument(route(gateway, req, options), span).await;
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// Authentication (except on the open routes), the body cap, then the route.
async fn route(
    gateway: &Gateway,
    req: Request<Bytes>,
    mut options: CallOptions,
) -> Response<Bytes> {
    let path = req.uri().path();
    let routed = find(req.method(), path);
    // A wrong method or an unknown path is answered to a key holder, except on an open path.
    let (caller, params) = match &routed {
        Routed::Found(r, params) => (r.caller, params.as_slice()),
        Routed::OtherMethods { open: true, .. } => (Caller::Anyone, &[][..]),
        Routed::OtherMethods { open: false, .. } => (Caller::KeyHolder, &[][..]),
    };
    // The permit is held until the answer: the tenant's `max_concurrent` counts this request.
    let (tenant, _permit) = match caller::extract(gateway, caller, req.headers(), params) {
        Ok(admitted) => (admitted.tenant, admitted.permit),
        Err(refused) => return refused,
    };
    options.tenant = tenant;
    if req.body().len() > gateway.max_body_bytes() {
        return body_too_large(gateway.max_body_bytes());
    }
    match routed {
        Routed::Found(r, params) => dispatch(gateway, &req, r.action, &params, options).await,
        Routed::OtherMethods { allowed, .. } if !allowed.is_empty() => {
            method_not_allowed(&allowed.join(", "))
        }
        Routed::OtherMethods { .. } => problem_response(&ApiError::new(
            ErrorKind::NotFound,
            format!(
                "no route for {} {path}; see the API table in the README",
                req.method()
            ),
        )),
    }
}

/// Runs a route's action with the path's parameters (as many as its template has).
async fn dispatch(
    gateway: &Gateway,
    req: &Request<Bytes>,
    action: Action,
    params: &[&str],
    options: CallOptions,
) -> Response<Bytes> {
    let param = |i: usize| params.get(i).copied().unwrap_or_default();
    let tenant = options.tenant.as_deref();
    match action {
        Action::Health => json_response(StatusCode::OK, &health_json(gateway)),
        Action::Ready => ready(gateway),
        Action::Metrics => metrics(gateway, req),
        Action::Providers => list_providers(gateway, tenant),
        Action::Start => start(gateway, req.body(), options).await,
        Action::Status => status(gateway, param(0), options).await,
        Action::Update => update(gateway, param(0), req.body(), options).await,
        Action::Stop => stop(gateway, param(0), options).await,
        Action::IngestEvents => ingest_events(gateway, param(0), tenant).await,
        Action::Webhook => webhook_status(gateway, tenant).await,
        Action::WebhookEvents => list_events(gateway, req.uri().query(), tenant).await,
        Action::Redeliver => redeliver(gateway, param(0), tenant).await,
        Action::Callback => callback(gateway, param(0), req, options).await,
        Action::Stream => problem_response(&ApiError::new(
            ErrorKind::NotFound,
            "GET /v1/events is a stream: it is answered before the body is buffered \
             (`stream_route`), by the standalone server, not through this front",
        )),
    }
}

/// `GET /readyz`: `200` when every provider is ready, else `503`; the same detail as
/// `/healthz`.
fn ready(gateway: &Gateway) -> Response<Bytes> {
    let status = if gateway.readiness().ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(status, &health_json(gateway))
}

/// `GET /metrics`, in the format the scraper's `Accept` asks for.
fn metrics(gateway: &Gateway, req: &Request<Bytes>) -> Response<Bytes> {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let format = MetricsFormat::negotiate(accept);
    let mut resp = Response::new(Bytes::from(gateway.metrics().render_as(format)));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    resp.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("accept"));
    resp
}

/// `GET /v1/ingests/{id}`: its status.
async fn status(gateway: &Gateway, id: &str, options: CallOptions) -> Response<Bytes> {
    match gateway.status(id, options).await {
        Ok(served) => {
            let mut body = status_json(&served.value);
            body["id"] = id.into();
            body["provider"] = served.provider.id.clone().into();
            served_response(StatusCode::OK, &body, &served.plugin)
        }
        Err(e) => error_response(&e),
    }
}

/// `DELETE /v1/ingests/{id}`: stops it.
async fn stop(gateway: &Gateway, id: &str, options: CallOptions) -> Response<Bytes> {
    match gateway.stop(id, options).await {
        Ok(served) => served_response(
            StatusCode::OK,
            &json_of(&answers::Stopped {
                id,
                provider: &served.provider.id,
                state: "stopped",
                vendor_request_id: served.value.vendor_request_id.as_deref(),
            }),
            &served.plugin,
        ),
        Err(e) => error_response(&e),
    }
}

/// `PATCH /v1/ingests/{id}`: `200` with the handle to use from now on (`id`; `replaces` names
/// the old one when the update gave the ingest a new handle).
async fn update(
    gateway: &Gateway,
    id: &str,
    body: &Bytes,
    options: CallOptions,
) -> Response<Bytes> {
    let parsed = match UpdateBody::parse(body) {
        Ok(p) => p,
        Err(e) => return problem_response(&e),
    };
    let options_json = parsed.options_json();
    match gateway
        .update(id, parsed.stream_url, options_json, options)
        .await
    {
        Ok(served) => {
            let updated = &served.value;
            let body = json_of(&answers::Updated {
                id: &updated.id,
                provider: &served.provider.id,
                updated: true,
                vendor_request_id: updated.result.vendor_request_id.as_deref(),
                replaces: updated.new_id.then_some(id),
            });
            served_response(StatusCode::OK, &body, &served.plugin)
        }
        Err(e) => error_response(&e),
    }
}

async fn start(gateway: &Gateway, body: &Bytes, options: CallOptions) -> Response<Bytes> {
    let parsed = match StartBody::parse(body) {
        Ok(p) => p,
        Err(e) => return problem_response(&e),
    };
    match gateway
        .start(&parsed.provider, parsed.to_request(), options)
        .await
    {
        Ok(served) => served_response(
            StatusCode::CREATED,
            &json_of(&answers::Started {
                id: &served.value.id,
                provider: &parsed.provider,
                direction: &parsed.direction,
                session: session_json(&served.value.session),
            }),
            &served.plugin,
        ),
        Err(e) => error_response(&e),
    }
}

/// A vendor callback, for the tenant its path names ([`Caller::Vendor`]; the plugin verifies
/// the vendor's signature).
async fn callback(
    gateway: &Gateway,
    provider: &str,
    req: &Request<Bytes>,
    options: CallOptions,
) -> Response<Bytes> {
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
    match gateway.parse_callback(provider, request, options).await {
        Ok(served) => served_response(
            StatusCode::OK,
            &json_of(&answers::CallbackTaken {
                provider: &served.provider.id,
                id: served.value.ingest_id.as_deref(),
                event_id: &served.value.event_id,
                duplicate: served.value.duplicate,
                event: event_json(&served.value.event),
            }),
            &served.plugin,
        ),
        Err(e) if e.kind == ErrorKind::Unauthenticated => {
            problem_with_status(&e, StatusCode::UNAUTHORIZED)
        }
        Err(e) => problem_response(&e),
    }
}

fn state_name(state: ProviderState) -> &'static str {
    match state {
        ProviderState::Ok => "ok",
        ProviderState::Unhealthy => "unhealthy",
        ProviderState::NoPlugin => "no-plugin",
    }
}

/// Liveness and readiness detail: each provider's state.
fn health_json(gateway: &Gateway) -> serde_json::Value {
    let readiness = gateway.readiness();
    let quota_store = gateway.quota_store();
    json_of(&answers::Health {
        status: "ok",
        ready: readiness.ready,
        optimized: readiness.optimized,
        draining: readiness.draining,
        events_store: if readiness.events_store {
            "ok"
        } else {
            "unavailable"
        },
        providers: readiness
            .providers
            .iter()
            .map(|(id, state)| (id.as_str(), state_name(*state)))
            .collect(),
        quota_store: quota_store.as_ref().map(|q| answers::QuotaStoreHealth {
            store: &q.store,
            state: if q.shared { "shared" } else { "local-fallback" },
            fallback_share: q.fallback_share,
        }),
    })
}

/// The answer for a failed plugin call: problem+json, or the degraded answer the core chose
/// for a provider that fails open.
fn error_response(e: &ApiError) -> Response<Bytes> {
    if let Some(d) = &e.degraded {
        let mut resp = Response::new(Bytes::from(d.body.clone()));
        *resp.status_mut() = StatusCode::from_u16(d.status).unwrap_or(StatusCode::ACCEPTED);
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        resp.headers_mut()
            .insert("x-ingest-degraded", HeaderValue::from_static("true"));
        return resp;
    }
    problem_response(e)
}

fn list_providers(gateway: &Gateway, tenant: Option<&Tenant>) -> Response<Bytes> {
    let providers: Vec<_> = gateway
        .providers_for(tenant)
        .into_iter()
        .map(|p| {
            let binding = p.binding();
            (p, binding)
        })
        .collect();
    let entries = providers
        .iter()
        .map(|(p, binding)| match binding {
            Some(b) => answers::ProviderEntry::Bound(answers::BoundProvider {
                id: &p.id,
                plugin: &b.version.name,
                describes_itself_as: (b.info.name != b.version.name).then_some(&b.info.name),
                version: &b.info.version,
                vendor: &b.info.vendor,
                digest: &b.version.digest,
                manifest_digest: gateway
                    .sources()
                    .origin(&b.version.digest)
                    .and_then(|o| o.manifest_digest),
                directions: b
                    .info
                    .directions
                    .iter()
                    .map(|d| direction_name(*d))
                    .collect(),
                operations: b
                    .info
                    .operations
                    .iter()
                    .filter(|o| **o != types::Operation::Update || b.version.has_updater())
                    .map(|o| operation_name(*o))
                    .collect(),
                secrets: b
                    .secrets
                    .iter()
                    .map(|s| answers::SecretEntry {
                        name: &s.name,
                        required: s.required,
                        configured: p.config.secrets.contains_key(&s.name),
                        description: &s.description,
                    })
                    .collect(),
                health: if p.healthy() { "ok" } else { "unhealthy" },
                quota: p.quotas.rates().into_iter().collect(),
            }),
            None => answers::ProviderEntry::Unbound {
                id: &p.id,
                plugin: &p.plugin_name,
                health: "no-plugin",
            },
        })
        .collect();
    json_response(
        StatusCode::OK,
        &json_of(&answers::Providers { providers: entries }),
    )
}

/// Largest page of `GET /v1/webhook/events`.
const MAX_PAGE: i64 = 500;
/// Default page of `GET /v1/webhook/events`.
const DEFAULT_PAGE: i64 = 50;

/// The tenant id events are kept under (empty when authentication is off).
fn tenant_key(tenant: Option<&Tenant>) -> &str {
    tenant.map(|t| t.id.as_str()).unwrap_or_default()
}

/// `GET /v1/ingests/{id}/events`: one ingest's events, oldest first.
async fn ingest_events(gateway: &Gateway, id: &str, tenant: Option<&Tenant>) -> Response<Bytes> {
    match gateway.ingest_events(id, tenant).await {
        Ok(events) => json_response(
            StatusCode::OK,
            &json_of(&answers::IngestEvents {
                id,
                events: &events,
            }),
        ),
        Err(e) => problem_response(&e),
    }
}

/// `GET /v1/webhook`: the caller's endpoint and its health.
async fn webhook_status(gateway: &Gateway, tenant: Option<&Tenant>) -> Response<Bytes> {
    let Some(hook) = tenant.and_then(|t| t.webhook.clone()) else {
        return problem_response(&ApiError::new(
            ErrorKind::NotFound,
            "no webhook is configured for this tenant ([tenants.webhook] url and secret)",
        ));
    };
    match gateway.events().endpoint(tenant_key(tenant)).await {
        Ok(endpoint) => json_response(
            StatusCode::OK,
            &json_of(&answers::WebhookEndpoint {
                url: &hook.url,
                failing: endpoint
                    .as_ref()
                    .is_some_and(|e| e.failing_since_ms.is_some()),
                failing_since_ms: endpoint.as_ref().and_then(|e| e.failing_since_ms),
                consecutive_failures: endpoint.as_ref().map_or(0, |e| e.consecutive_failures),
                last_error: endpoint.as_ref().and_then(|e| e.last_error.as_deref()),
                last_failure_ms: endpoint
                    .as_ref()
                    .map(|e| e.last_failure_ms)
                    .filter(|t| *t > 0),
            }),
        ),
        Err(e) => problem_response(&e),
    }
}

/// `GET /v1/webhook/events?state=&ingest_id=&limit=&before=`: newest first; `next_before`
/// asks for the next page.
async fn list_events(
    gateway: &Gateway,
    query: Option<&str>,
    tenant: Option<&Tenant>,
) -> Response<Bytes> {
    let mut state = None;
    let mut ingest = None;
    let mut limit = DEFAULT_PAGE;
    let mut before = None;
    for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match &*k {
            "state" => match crate::core::EVENT_STATES.iter().find(|s| **s == v) {
                Some(s) => state = Some(*s),
                None => {
                    return problem_response(&ApiError::invalid(format!(
                        "state must be one of {}",
                        crate::core::EVENT_STATES.join(", ")
                    )));
                }
            },
            "ingest_id" => ingest = Some(v.into_owned()),
            "limit" => match v.parse::<i64>() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => limit = n,
                _ => {
                    return problem_response(&ApiError::invalid(format!(
                        "limit must be 1 to {MAX_PAGE}"
                    )));
                }
            },
            "before" => match v.parse::<i64>() {
                Ok(n) if n > 0 => before = Some(n),
                _ => {
                    return problem_response(&ApiError::invalid(
                        "before must be the `next_before` of a previous page",
                    ));
                }
            },
            other => {
                return problem_response(&ApiError::invalid(format!(
                    "unknown parameter `{other}` (known: state, ingest_id, limit, before)"
                )));
            }
        }
    }
    let order = match &ingest {
        Some(id) => match gateway.ingest_order_key(id, tenant) {
            Ok(key) => Some(key),
            Err(e) => return problem_response(&e),
        },
        None => None,
    };
    match gateway
        .events()
        .list(tenant_key(tenant), state, order, before, limit)
        .await
    {
        Ok(events) => {
            let next = (events.len() as i64 == limit)
                .then(|| events.last().map(|e| e.seq))
                .flatten();
            json_response(
                StatusCode::OK,
                &json_of(&answers::EventsPage {
                    events: &events,
                    next_before: next,
                }),
            )
        }
        Err(e) => problem_response(&e),
    }
}

/// `POST /v1/webhook/events/{event_id}/redeliver`: `202` once queued.
async fn redeliver(gateway: &Gateway, id: &str, tenant: Option<&Tenant>) -> Response<Bytes> {
    match gateway.events().redeliver(tenant_key(tenant), id).await {
        Ok(()) => json_response(
            StatusCode::ACCEPTED,
            &json_of(&answers::Redelivery {
                id,
                state: "pending",
            }),
        ),
        Err(e) => problem_response(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_whole_segments_and_name_their_parameters() {
        assert_eq!(
            matches("/v1/ingests/{id}", "/v1/ingests/abc"),
            Some(vec!["abc"])
        );
        assert_eq!(
            matches("/v1/ingests/{id}", "/v1/ingests/abc/"),
            Some(vec!["abc"])
        );
        assert_eq!(matches("/v1/ingests/{id}", "/v1/ingests/"), None);
        assert_eq!(matches("/v1/ingests/{id}", "/v1/ingests/a/b"), None);
        assert_eq!(matches("/v1/ingests", "/v1/ingestsx"), None);
        assert_eq!(
            matches(
                "/v1/callbacks/{provider}/{tenant}",
                "/v1/callbacks/trtc/acme"
            ),
            Some(vec!["trtc", "acme"])
        );
    }

    /// Every path of the table answers `405` to a method it does not list, with `Allow`
    /// naming exactly the methods it does; a path not in it is `404`.
    #[test]
    fn the_table_answers_405_with_allow_and_404() {
        for r in ROUTES {
            let path = r.path.replace('{', "x").replace('}', "");
            let listed: Vec<&str> = ROUTES
                .iter()
                .filter(|o| matches(o.path, &path).is_some())
                .map(|o| o.method)
                .collect();
            assert!(
                matches!(find(&Method::from_bytes(r.method.as_bytes()).expect("method"), &path), Routed::Found(f, _) if f.action == r.action)
            );
            match find(&Method::PUT, &path) {
                Routed::OtherMethods { allowed, .. } => assert_eq!(allowed, listed, "{path}"),
                Routed::Found(..) => panic!("PUT {path} is routed"),
            }
            let resp = method_not_allowed(&listed.join(", "));
            assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
            assert_eq!(resp.headers()[header::ALLOW], listed.join(", ").as_str());
        }
        assert!(
            matches!(find(&Method::GET, "/v2/ingests"), Routed::OtherMethods { allowed, open: false } if allowed.is_empty())
        );
    }
}
