//! The normalized operations: `start`, `status`, `stop`, `update` and `parse-callback` on a provider's
//! serving plugin version, each call recorded in metrics, the logs and its provider's
//! breaker. Handles are sealed here and opened here; a forged one never reaches a plugin.

use std::sync::Arc;
use std::time::Duration;

use super::events::Event;
use super::handle::HandleData;
use super::provider::Binding;
use super::quota::{Admission, Refused, retry_after_secs};
use super::tenants::Tenant;
use super::{Gateway, Provider};
use crate::capability::egress::EgressMode;
use crate::config::{FailureMode, InstanceMode};
use crate::contract::json::{direction_name, event_json, operation_name};
use crate::contract::types;
use crate::error::{ApiError, Degraded, ErrorKind, ErrorSource};
use crate::sandbox::{CallReport, CallSetup, Operation, Outcome, RequestGate};
use crate::text::random_hex;

/// How a call is run: the clock, the nonce and whether vendor requests really leave.
#[derive(Debug, Clone)]
pub struct CallOptions {
    /// Fixed timestamp, Unix milliseconds (default: now).
    pub now_ms: Option<u64>,
    /// Fixed base nonce (default: random).
    pub nonce: Option<String>,
    /// The gateway request id (default: derived from the nonce).
    pub request_id: Option<String>,
    /// The authenticated tenant (none when authentication is off): it may use only the
    /// providers granted to it and only the handles it created.
    pub tenant: Option<Arc<Tenant>>,
    /// Live or dry-run.
    pub mode: EgressMode,
}

impl Default for CallOptions {
    fn default() -> Self {
        Self {
            now_ms: None,
            nonce: None,
            request_id: None,
            tenant: None,
            mode: EgressMode::Live,
        }
    }
}

/// A result together with the provider and plugin version that produced it.
#[derive(Debug, Clone)]
pub struct Served<T> {
    /// The result.
    pub value: T,
    /// The provider.
    pub provider: Arc<Provider>,
    /// `name@version+digest` of the plugin version that served.
    pub plugin: String,
}

impl<T> Served<T> {
    fn try_map<U>(self, f: impl FnOnce(T) -> Result<U, ApiError>) -> Result<Served<U>, ApiError> {
        Ok(Served {
            value: f(self.value)?,
            provider: self.provider,
            plugin: self.plugin,
        })
    }
}

/// A verified callback, as stored.
#[derive(Debug, Clone)]
pub struct Callback {
    /// The normalized event.
    pub event: types::IngestEvent,
    /// The ingest's handle, when the plugin named the session.
    pub ingest_id: Option<String>,
    /// The stored event's id (`webhook-id`); for a repeated callback, the first one's.
    pub event_id: String,
    /// True when the same callback (same provider, tenant and body) was stored before.
    pub duplicate: bool,
}

/// The result of an update: the handle to use from now on and the plugin's result.
#[derive(Debug, Clone)]
pub struct Updated {
    /// The handle to use from now on: a new one when the plugin returned a new session
    /// reference, else the one the update was made with.
    pub id: String,
    /// Whether `id` is new (the old handle still names the session as it was before).
    pub new_id: bool,
    /// The plugin's result.
    pub result: types::UpdateResult,
}

/// The result of a start: the sealed handle and the plugin's session.
#[derive(Debug, Clone)]
pub struct Started {
    /// The sealed handle (`id` in the API).
    pub id: String,
    /// The plugin's session.
    pub session: types::Session,
}

/// The answer to a call over its provider's vendor quota.
fn quota_error(provider: &str, refused: &Refused) -> ApiError {
    let secs = retry_after_secs(refused.retry_after);
    let whose = if refused.tenant_share {
        "this tenant's share of "
    } else {
        ""
    };
    let mut e = ApiError::new(
        ErrorKind::RateLimited,
        format!(
            "provider `{provider}` is at {whose}its vendor quota for {} ({} calls per second, `[providers.quota] {}`); retry in {secs} s",
            refused.scope, refused.per_second, refused.key
        ),
    )
    .with_provider(provider);
    e.retry_after_secs = Some(secs);
    e
}

/// A blank `stream_url` (empty or whitespace only) is refused for every provider and every
/// front, before any plugin runs: one rule and one error (`invalid-argument`) instead of one
/// plugin reading it as absent and another as a bad URL. Absent (`None`) is the way to say
/// "none".
pub(crate) fn refuse_blank_stream_url(url: Option<&str>) -> Result<(), ApiError> {
    match url {
        Some(u) if u.trim().is_empty() => Err(ApiError::invalid(
            "`stream_url` is blank; leave it out (or null) when there is none, or give the URL",
        )),
        _ => Ok(()),
    }
}

/// `e` with the provider's degraded answer when it fails open (`[providers.failure] mode =
/// "open"`), the call is an operation on an ingest (`on_ingest`) and its plugin is at fault:
/// the policy every front and the CLI then apply. A callback's failure stays an error (the
/// vendor sends it again); `describe` has no answer to degrade.
fn fail_open(provider: &Provider, on_ingest: bool, mut e: ApiError) -> ApiError {
    let f = provider.failure();
    if on_ingest && f.mode == FailureMode::Open && e.source == ErrorSource::Plugin {
        tracing::warn!(provider = %provider.id, kind = e.kind.as_str(), detail = %e.detail, "failing open");
        e.degraded = Some(Degraded {
            status: f.open_status,
            body: f.open_body.clone(),
        });
    }
    e
}

/// The error for a plugin that answered an operation with another operation's result.
fn wrong_shape(operation: &str) -> ApiError {
    ApiError::plugin_fault(format!("{operation} returned the wrong shape"))
}

impl Gateway {
    /// Runs one operation on a provider's current plugin version, returning the result and
    /// what the call did. The call holds that version until it ends, whatever swaps happen.
    pub async fn call(
        &self,
        provider: &Provider,
        op: Operation,
        options: CallOptions,
    ) -> (Result<Outcome, ApiError>, CallReport) {
        let binding = match provider.bound() {
            Ok(b) => b,
            Err(e) => return (Err(e), CallReport::default()),
        };
        if op.is_update()
            && let Err(e) = supports(provider, &binding, types::Operation::Update, &op)
        {
            return (Err(e), CallReport::default());
        }
        self.call_on(provider, &binding, op, options).await
    }

    async fn call_on(
        &self,
        provider: &Provider,
        binding: &Binding,
        op: Operation,
        options: CallOptions,
    ) -> (Result<Outcome, ApiError>, CallReport) {
        let nonce = options.nonce.unwrap_or_else(|| random_hex(8));
        let request_id = options.request_id.unwrap_or_else(|| format!("req-{nonce}"));
        let gate = (options.mode.is_live() && !provider.quotas.is_empty())
            .then(|| self.quota_gate(provider, op.name(), options.tenant.clone()));
        let setup = CallSetup {
            provider: provider.id.clone(),
            secrets: provider.secrets.clone(),
            all_secrets: provider.all_secrets.clone(),
            config: provider.plugin_config.clone(),
            policy: binding.policy.clone(),
            mode: options.mode,
            now_ms: options.now_ms.unwrap_or_else(|| self.clock.unix_ms()),
            nonce,
            request_id: request_id.clone(),
            gate,
            turns: options.tenant.as_ref().map(|t| t.plugin_turns.clone()),
            hold_instance: provider.config.instance == InstanceMode::PerCall,
        };
        let op_name = op.name();
        let on_ingest = !matches!(op, Operation::ParseCallback(_) | Operation::Describe);
        if let Err(open) = provider.breaker.admit() {
            self.metrics
                .call(&provider.id, op_name, "unhealthy", Duration::ZERO);
            let e = ApiError::new(
                ErrorKind::Unavailable,
                format!(
                    "provider `{}` is unhealthy: its plugin failed {} calls in a row; next trial in {} ms",
                    provider.id,
                    open.consecutive_faults,
                    open.next_trial_in.as_millis()
                ),
            )
            .with_provider(&provider.id)
            .with_source(ErrorSource::Plugin);
            return (
                Err(fail_open(provider, on_ingest, e)),
                CallReport::default(),
            );
        }
        let plugin = binding.label();
        // Every line logged during the call (the plugin's own included) names the provider
        // and the plugin version.
        let span = tracing::info_span!("call", provider = %provider.id, plugin = %plugin);
        let (result, report) =
            tracing::Instrument::instrument(self.runtime.invoke(&binding.version, setup, op), span)
                .await;
        self.account(provider, &plugin, op_name, &request_id, &result, &report);
        (
            result.map_err(|e| fail_open(provider, on_ingest, e)),
            report,
        )
    }

    /// The gate each vendor request of a call passes: a turn under the provider's vendor
    /// quota. The call's first request waits for it up to the configured time or ends the
    /// call with the `rate-limited` error naming the limit, the fix and when to retry; a later
    /// one waits for it up to what is left of the call's deadline.
    fn quota_gate(
        &self,
        provider: &Provider,
        op_name: &'static str,
        tenant: Option<Arc<Tenant>>,
    ) -> RequestGate {
        let (metrics, quotas, id) = (
            self.metrics.clone(),
            provider.quotas.clone(),
            Arc::<str>::from(provider.id.as_str()),
        );
        Arc::new(move |first, left| {
            let (metrics, quotas, id, tenant) =
                (metrics.clone(), quotas.clone(), id.clone(), tenant.clone());
            Box::pin(async move {
                let tenant = tenant.as_ref().map_or("", |t| t.id.as_str());
                let turn = if first {
                    quotas.admit(op_name, tenant).await
                } else {
                    quotas.admit_within(op_name, tenant, left).await
                };
                let outcome = match &turn {
                    Ok(Admission::Admitted) => "admitted",
                    Ok(Admission::Delayed) => "delayed",
                    Err(_) => "refused",
                };
                metrics.quota(&id, op_name, outcome);
                turn.map(drop).map_err(|refused| quota_error(&id, &refused))
            })
        })
    }

    /// Metrics, the breaker and the call's log line.
    fn account(
        &self,
        provider: &Provider,
        plugin: &str,
        op_name: &str,
        request_id: &str,
        result: &Result<Outcome, ApiError>,
        report: &CallReport,
    ) {
        let outcome = result.as_ref().map_or_else(|e| e.kind.as_str(), |_| "ok");
        self.metrics
            .call(&provider.id, op_name, outcome, report.elapsed);
        if let Some(t) = report.instantiate {
            self.metrics.instantiate(&provider.id, t);
        }
        for t in &report.vendor_latencies {
            self.metrics.vendor(&provider.id, *t);
        }
        if let Some(fault) = report.fault {
            self.metrics.fault(&provider.id, fault);
        }
        if provider.breaker.record(report.fault.is_some()) {
            let healthy = provider.healthy();
            self.metrics.set_healthy(&provider.id, healthy);
            if healthy {
                tracing::info!(provider = %provider.id, %plugin, "provider healthy again");
            } else {
                tracing::error!(provider = %provider.id, %plugin, "provider marked unhealthy: its plugin keeps faulting");
            }
        }
        let elapsed_us = report.elapsed.as_micros() as u64;
        match result {
            Ok(_) => tracing::info!(
                provider = %provider.id, %plugin, %request_id, operation = op_name,
                elapsed_us, "call ok"
            ),
            Err(e) => tracing::info!(
                provider = %provider.id, %plugin, %request_id, operation = op_name,
                kind = e.kind.as_str(), vendor_code = e.vendor_code.as_deref().unwrap_or(""),
                elapsed_us, "call failed"
            ),
        }
    }

    /// Runs `op` on `provider` if its plugin supports `needed`, with the plugin label.
    async fn run(
        &self,
        provider: &Arc<Provider>,
        needed: types::Operation,
        op: Operation,
        options: CallOptions,
    ) -> Result<Served<Outcome>, ApiError> {
        let binding = provider.bound()?;
        supports(provider, &binding, needed, &op)?;
        let value = self.call_on(provider, &binding, op, options).await.0?;
        Ok(Served {
            value,
            provider: provider.clone(),
            plugin: binding.label(),
        })
    }

    /// Starts an ingest on `provider_id`; returns the sealed handle and the session.
    pub async fn start(
        &self,
        provider_id: &str,
        request: types::StartRequest,
        options: CallOptions,
    ) -> Result<Served<Started>, ApiError> {
        refuse_blank_stream_url(request.stream_url.as_deref())?;
        let tenant = options.tenant.as_ref().map(|t| t.id.clone());
        let provider = self.granted_provider(provider_id, &options)?;
        let op = Operation::Start(request);
        let served = self
            .run(&provider, types::Operation::Start, op, options)
            .await?;
        let Served {
            value: Outcome::Started(session),
            provider: _,
            plugin,
        } = served
        else {
            return Err(wrong_shape("start"));
        };
        let id = self.seal(&provider.id, &session.session_ref, tenant);
        Ok(Served {
            value: Started { id, session },
            provider,
            plugin,
        })
    }

    /// The handle for `session_ref` on `provider`, created by `tenant` (start, update,
    /// callback events).
    fn seal(&self, provider: &str, session_ref: &str, tenant: Option<String>) -> String {
        self.live().handles.seal(&HandleData {
            provider: provider.to_string(),
            session_ref: session_ref.to_string(),
            tenant,
        })
    }

    /// A provider the caller may use; one it is not granted is `not-found`, like one that
    /// does not exist.
    fn granted_provider(&self, id: &str, options: &CallOptions) -> Result<Arc<Provider>, ApiError> {
        match &options.tenant {
            Some(t) if !t.granted(id) => Err(ApiError::new(
                ErrorKind::NotFound,
                format!("no provider `{id}` is available to tenant `{}`", t.id),
            )),
            _ => self.provider(id),
        }
    }

    /// Opens a handle for the calling tenant; anything forged, altered, for an unknown
    /// provider or created by another tenant is `not-found`, and never reaches a plugin.
    pub fn open_handle(
        &self,
        id: &str,
        tenant: Option<&Tenant>,
    ) -> Result<(Arc<Provider>, String), ApiError> {
        let not_found = || {
            ApiError::new(
                ErrorKind::NotFound,
                "no such ingest: the id is unknown, altered or from another gateway key",
            )
        };
        let live = self.live();
        let data = live.handles.open(id).ok_or_else(not_found)?;
        if data.tenant.as_deref() != tenant.map(|t| t.id.as_str()) {
            return Err(not_found());
        }
        let provider = live.providers.get(&data.provider).ok_or_else(not_found)?;
        Ok((provider.clone(), data.session_ref))
    }

    /// Queries the ingest behind a handle.
    pub async fn status(
        &self,
        id: &str,
        options: CallOptions,
    ) -> Result<Served<types::IngestStatus>, ApiError> {
        let op = |session_ref| Operation::Status(types::StatusRequest { session_ref });
        let served = self
            .on_handle(id, types::Operation::Status, op, options)
            .await?;
        served.try_map(|value| match value {
            Outcome::Status(s) => Ok(s),
            _ => Err(wrong_shape("status")),
        })
    }

    /// Stops the ingest behind a handle.
    pub async fn stop(
        &self,
        id: &str,
        options: CallOptions,
    ) -> Result<Served<types::StopResult>, ApiError> {
        let op = |session_ref| Operation::Stop(types::StopRequest { session_ref });
        let served = self
            .on_handle(id, types::Operation::Stop, op, options)
            .await?;
        served.try_map(|value| match value {
            Outcome::Stopped(s) => Ok(s),
            _ => Err(wrong_shape("stop")),
        })
    }

    /// Changes the ingest behind a handle: a new source or destination URL and/or the
    /// vendor-specific changes in `options_json`. When the plugin returns a new session
    /// reference, the answer carries a new handle for it.
    pub async fn update(
        &self,
        id: &str,
        stream_url: Option<String>,
        options_json: String,
        options: CallOptions,
    ) -> Result<Served<Updated>, ApiError> {
        refuse_blank_stream_url(stream_url.as_deref())?;
        let tenant = options.tenant.as_ref().map(|t| t.id.clone());
        let op = |session_ref| {
            Operation::Update(types::UpdateRequest {
                session_ref,
                stream_url,
                options_json,
            })
        };
        let served = self
            .on_handle(id, types::Operation::Update, op, options)
            .await?;
        let provider = served.provider.id.clone();
        served.try_map(|value| {
            let Outcome::Updated(result) = value else {
                return Err(wrong_shape("update"));
            };
            let (id, new_id) = match &result.session_ref {
                Some(r) => (self.seal(&provider, r, tenant), true),
                None => (id.to_string(), false),
            };
            Ok(Updated { id, new_id, result })
        })
    }

    /// Runs the operation `op` makes of the handle's session reference on its provider.
    async fn on_handle(
        &self,
        id: &str,
        needed: types::Operation,
        op: impl FnOnce(String) -> Operation,
        options: CallOptions,
    ) -> Result<Served<Outcome>, ApiError> {
        let (provider, session_ref) = self.open_handle(id, options.tenant.as_deref())?;
        self.run(&provider, needed, op(session_ref), options).await
    }

    /// Verifies a vendor callback with the provider's plugin, turns it into a normalized
    /// event and commits it to the outbox (delivered to the tenant's webhook and event
    /// streams from there); returns once it is stored. When the plugin can name the session,
    /// the event comes with the ingest's handle. The same callback again (same provider,
    /// tenant and body: a vendor's retry) yields the event stored the first time.
    pub async fn parse_callback(
        &self,
        provider_id: &str,
        request: types::CallbackRequest,
        options: CallOptions,
    ) -> Result<Served<Callback>, ApiError> {
        let tenant = options.tenant.as_ref().map(|t| t.id.clone());
        let provider = self.granted_provider(provider_id, &options)?;
        let dedup = crate::text::sha256_parts(&[
            provider.id.as_bytes(),
            tenant.as_deref().unwrap_or_default().as_bytes(),
            &request.body,
        ]);
        let op = Operation::ParseCallback(request);
        let served = self
            .run(&provider, types::Operation::ParseCallback, op, options)
            .await?;
        let served = served.try_map(|value| match value {
            Outcome::Event(event) => Ok(event),
            _ => Err(wrong_shape("parse-callback")),
        })?;
        let event = &served.value;
        let id = event
            .session_ref
            .as_ref()
            .map(|r| self.seal(&provider.id, r, tenant.clone()));
        let order = event
            .session_ref
            .as_deref()
            .map(|r| order_key(tenant.as_deref(), &provider.id, r));
        let recorded = self
            .events
            .record(
                &Event {
                    id: format!("evt_{}", random_hex(12)),
                    provider: provider.id.clone(),
                    tenant,
                    ingest_id: id.clone(),
                    received_at_ms: self.clock.unix_ms(),
                    event: event_json(event),
                },
                dedup,
                order,
            )
            .await?;
        served.try_map(|event| {
            Ok(Callback {
                event,
                ingest_id: id,
                event_id: recorded.id,
                duplicate: recorded.duplicate,
            })
        })
    }

    /// The events of the ingest behind handle `id`, oldest first (`GET
    /// /v1/ingests/{id}/events`).
    pub async fn ingest_events(
        &self,
        id: &str,
        tenant: Option<&Tenant>,
    ) -> Result<Vec<super::events::store::Stored>, ApiError> {
        let key = self.ingest_order_key(id, tenant)?;
        let tenant = tenant.map(|t| t.id.as_str());
        self.events.history(tenant.unwrap_or_default(), key).await
    }

    /// The key that orders the events of the ingest behind handle `id`.
    pub fn ingest_order_key(
        &self,
        id: &str,
        tenant: Option<&Tenant>,
    ) -> Result<[u8; 32], ApiError> {
        let (provider, session_ref) = self.open_handle(id, tenant)?;
        Ok(order_key(
            tenant.map(|t| t.id.as_str()),
            &provider.id,
            &session_ref,
        ))
    }
}

/// Whether the bound plugin supports the operation (and, for a start, the direction).
fn supports(
    provider: &Provider,
    binding: &Binding,
    needed: types::Operation,
    op: &Operation,
) -> Result<(), ApiError> {
    let unsupported = |detail: String| {
        Err(ApiError::new(ErrorKind::Unsupported, detail).with_provider(&provider.id))
    };
    if !binding.info.operations.contains(&needed) {
        return unsupported(format!(
            "provider `{}` ({}) does not support `{}`",
            provider.id,
            binding.info.name,
            operation_name(needed)
        ));
    }
    if needed == types::Operation::Update && !binding.version.has_updater() {
        return unsupported(format!(
            "provider `{}` ({}) lists `update`, but its plugin component does not export {}; the plugin must be rebuilt for the adapter-plugin-with-update world",
            provider.id,
            binding.info.name,
            crate::contract::UPDATER_EXPORT
        ));
    }
    if let Operation::Start(request) = op
        && !binding.info.directions.contains(&request.direction)
    {
        let supported: Vec<&str> = binding
            .info
            .directions
            .iter()
            .map(|d| direction_name(*d))
            .collect();
        return unsupported(format!(
            "provider `{}` ({}) does not support direction `{}` (it supports: {})",
            provider.id,
            binding.info.name,
            direction_name(request.direction),
            supported.join(", ")
        ));
    }
    Ok(())
}

/// The key that orders one ingest's events: its tenant, provider and vendor session.
fn order_key(tenant: Option<&str>, provider: &str, session_ref: &str) -> [u8; 32] {
    crate::text::sha256_parts(&[
        tenant.unwrap_or_default().as_bytes(),
        provider.as_bytes(),
        session_ref.as_bytes(),
    ])
}
