//! Normalized ingest events, kept in a durable outbox ([`store`]) before a callback is
//! answered, then delivered to the tenant's webhook (Standard Webhooks, [`webhook`]) on a
//! retry schedule and streamed to `GET /v1/events` listeners (Server-Sent Events) on every
//! replica that shares the store.
//!
//! | task | what |
//! |---|---|
//! | appender | batches concurrent appends into one transaction (one commit, one fsync for many callbacks) |
//! | deliverer | leases due events (its own at once, others' when their lease expires), attempts each, records the outcome |
//! | tailer | reads new events in `seq` order (its own at once, other replicas' each poll) and fans them out to this replica's listeners |
//! | monitor | backlog and endpoint gauges, store health, retention |
//!
//! Nothing is acknowledged that is not stored: an append that fails answers the vendor 503
//! (it retries). Delivery is at least once; receivers deduplicate on `webhook-id`.

pub(crate) mod store;
pub(crate) mod webhook;

use std::collections::{HashMap, HashSet};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::{Notify, Semaphore, broadcast, mpsc, oneshot};

use super::metrics::Metrics;
use crate::clock::SharedClock;
use crate::config::{EventsConfig, RuntimeConfig};
use crate::error::{ApiError, ErrorKind};
use store::{Appended, Attempted, Claimed, Endpoint, ListQuery, NewEvent, Stored, Streamed};
pub use store::{EventStore, SqlStore, StoreError};
pub use webhook::Webhook;

/// Events kept for slow stream listeners before they re-read from the store.
const STREAM_BUFFER: usize = 1024;
/// How often an idle event stream sends a keep-alive comment.
const KEEPALIVE: Duration = Duration::from_secs(15);
/// Most appends committed in one transaction.
const APPEND_BATCH: usize = 256;
/// Most webhook attempts in flight per replica.
const MAX_IN_FLIGHT: usize = 64;
/// Rows read per stream query.
const STREAM_PAGE: i64 = 512;
/// How often the monitor refreshes gauges and checks the store.
const MONITOR_EVERY: Duration = Duration::from_secs(2);
/// How often retention is enforced.
const PURGE_EVERY: Duration = Duration::from_secs(60);
/// Longest a callback waits for its event to be stored before it is refused 503 (a store
/// that hangs counts as unavailable).
const STORE_TIMEOUT: Duration = Duration::from_secs(10);
/// Stream catch-ups reading the store at once (they share its pool with the appends).
const CATCH_UPS: usize = 2;
/// The `Retry-After` of an answer refused because the store is unavailable.
const STORE_RETRY_AFTER_SECS: u32 = 5;
/// Most events one history answer lists.
pub const HISTORY_LIMIT: i64 = 1000;

/// One normalized event as delivered (the webhook body, the stream's `data`).
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Unique event id (`evt_…`): the `webhook-id`.
    pub id: String,
    /// The provider that received the callback.
    pub provider: String,
    /// The tenant it belongs to (none when authentication is off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The ingest's handle, when the plugin could name the session.
    pub ingest_id: Option<String>,
    /// When the gateway received the callback, Unix milliseconds.
    pub received_at_ms: u64,
    /// The normalized event (`state`, `vendor_event`, …).
    pub event: serde_json::Value,
}

/// What a recorded callback became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The event's id (the first one's, for a duplicate).
    pub id: String,
    /// Its stream position.
    pub seq: i64,
    /// True when the same callback had been recorded before.
    pub duplicate: bool,
}

/// The outbox's settings, from `[events]`.
#[derive(Debug, Clone)]
struct Settings {
    schedule: Vec<Duration>,
    retention: Duration,
    lease: Duration,
    poll: Duration,
    failing_after: i64,
}

type AppendReply = oneshot::Sender<Result<Appended, StoreError>>;

/// The event outbox of one gateway: durable events, webhook delivery, the event stream.
#[derive(Debug, Clone)]
pub struct EventHub {
    inner: Arc<Inner>,
}

struct Inner {
    store: SqlStore,
    /// The store's URL without a password.
    name: String,
    settings: Settings,
    /// This replica's id on the leases it takes.
    owner: String,
    appender: mpsc::Sender<(NewEvent, AppendReply)>,
    deliver_wake: Arc<Notify>,
    tail_wake: Arc<Notify>,
    stream: broadcast::Sender<Arc<Streamed>>,
    /// Held by the tailer while it skips ahead (nobody listening) and by a new listener
    /// while it subscribes and reads its starting position: the tailer never skips past an
    /// event a listener that just joined still needs.
    tail_gate: tokio::sync::Mutex<()>,
    /// Stream catch-ups reading the store at once.
    catch_ups: Semaphore,
    /// True once the gateway shuts down: every stream ends (its client reconnects elsewhere).
    closing: tokio::sync::watch::Sender<bool>,
    healthy: AtomicBool,
    webhooks: RwLock<HashMap<String, Arc<Webhook>>>,
    /// Endpoints this replica last saw failing (for the log line when that changes).
    failing: Mutex<HashSet<String>>,
    metrics: Arc<Metrics>,
    clock: SharedClock,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventHub")
            .field("store", &self.name)
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

impl EventHub {
    /// Opens the store (creating a SQLite file, applying migrations) and starts the outbox's
    /// tasks, delivering to `webhooks` (by tenant id; a reload replaces them). An unreachable
    /// store is an error naming it.
    pub async fn open(
        config: &EventsConfig,
        runtime: &RuntimeConfig,
        webhooks: HashMap<String, Arc<Webhook>>,
        metrics: Arc<Metrics>,
        clock: SharedClock,
    ) -> Result<Self, String> {
        let name = config.store_name(runtime);
        let url = config.store_url(runtime);
        if let Some(path) = url.strip_prefix("sqlite://")
            && let Some(dir) = std::path::Path::new(path).parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create the folder of event store {name}: {e}"))?;
        }
        let store = SqlStore::connect(&url)
            .await
            .map_err(|e| format!("cannot open event store {name}: {e}"))?
            .with_notify(config.notify);
        let (appender, appends) = mpsc::channel(4 * APPEND_BATCH);
        let inner = Arc::new(Inner {
            store: store.clone(),
            name,
            settings: Settings {
                schedule: config
                    .retry_schedule_secs
                    .iter()
                    .map(|s| Duration::from_secs(*s))
                    .collect(),
                retention: Duration::from_secs(config.retention_hours.saturating_mul(3600)),
                lease: Duration::from_secs(config.lease_secs),
                poll: Duration::from_millis(config.poll_interval_ms),
                failing_after: i64::from(config.failing_after),
            },
            owner: format!("replica-{}", crate::text::random_hex(6)),
            appender,
            deliver_wake: Arc::new(Notify::new()),
            tail_wake: Arc::new(Notify::new()),
            stream: broadcast::channel(STREAM_BUFFER).0,
            tail_gate: tokio::sync::Mutex::new(()),
            catch_ups: Semaphore::new(CATCH_UPS),
            closing: tokio::sync::watch::channel(false).0,
            healthy: AtomicBool::new(true),
            webhooks: RwLock::new(webhooks),
            failing: Mutex::new(HashSet::new()),
            metrics,
            clock,
        });
        let start = inner
            .store
            .last_seq()
            .await
            .map_err(|e| format!("cannot read event store {}: {e}", inner.name))?;
        tokio::spawn(append_loop(store, appends, Arc::downgrade(&inner)));
        tokio::spawn(deliver_loop(Arc::downgrade(&inner)));
        tokio::spawn(tail_loop(Arc::downgrade(&inner), start));
        tokio::spawn(monitor_loop(Arc::downgrade(&inner)));
        if inner.store.notifies() {
            let listener = sqlx::postgres::PgListener::connect(&url)
                .await
                .map_err(|e| format!("cannot listen on event store {}: {e}", inner.name))?;
            tokio::spawn(notify_loop(listener, Arc::downgrade(&inner)));
        }
        tracing::info!(store = %inner.name, owner = %inner.owner, "event outbox open");
        Ok(Self { inner })
    }

    /// The tenants' webhooks (set at start and by every reload).
    pub(crate) fn set_webhooks(&self, hooks: HashMap<String, Arc<Webhook>>) {
        *self
            .inner
            .webhooks
            .write()
            .unwrap_or_else(|p| p.into_inner()) = hooks;
        self.inner.deliver_wake.notify_one();
    }

    /// Whether the store answered its last use.
    pub fn store_healthy(&self) -> bool {
        self.inner.healthy.load(Ordering::Relaxed)
    }

    /// The store's name (its URL without a password).
    pub fn store_name(&self) -> &str {
        &self.inner.name
    }

    /// Commits `event` to the outbox; returns once it is stored. `dedup` identifies the
    /// callback it came from (a repeat of it yields the first event), `order` the ingest
    /// (events of one ingest are delivered in order). A store failure is `unavailable`.
    pub(crate) async fn record(
        &self,
        event: &Event,
        dedup: [u8; 32],
        order: Option<[u8; 32]>,
    ) -> Result<Recorded, ApiError> {
        let tenant = event.tenant.clone().unwrap_or_default();
        let has_hook = self
            .inner
            .webhooks
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&tenant);
        let row = NewEvent {
            id: event.id.clone(),
            dedup_key: hex::encode(dedup),
            tenant,
            provider: event.provider.clone(),
            ingest_id: event.ingest_id.clone(),
            order_key: order.map(hex::encode),
            received_at_ms: i64::try_from(event.received_at_ms).unwrap_or(i64::MAX),
            first_attempt_ms: i64::try_from(event.received_at_ms)
                .unwrap_or(i64::MAX)
                .saturating_add(
                    self.inner
                        .settings
                        .schedule
                        .first()
                        .map_or(0, |w| i64::try_from(w.as_millis()).unwrap_or(i64::MAX)),
                ),
            body: serde_json::to_string(event).unwrap_or_default(),
            state: if has_hook {
                store::PENDING
            } else {
                store::STREAM_ONLY
            },
        };
        let (tx, rx) = oneshot::channel();
        let stored = tokio::time::timeout(STORE_TIMEOUT, async {
            match self.inner.appender.send((row, tx)).await {
                Ok(()) => rx
                    .await
                    .unwrap_or_else(|_| Err(StoreError("the appender stopped".into()))),
                Err(_) => Err(StoreError("the appender stopped".into())),
            }
        })
        .await
        .unwrap_or_else(|_| {
            Err(StoreError(format!(
                "no answer within {} s",
                STORE_TIMEOUT.as_secs()
            )))
        });
        match self.inner.checked(stored) {
            Ok(a) => {
                self.inner.metrics.event(
                    &event.provider,
                    if a.duplicate { "duplicate" } else { "stored" },
                );
                if !a.duplicate {
                    self.inner.deliver_wake.notify_one();
                    self.inner.tail_wake.notify_one();
                }
                Ok(Recorded {
                    id: a.id,
                    seq: a.seq,
                    duplicate: a.duplicate,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// A tenant's events with their delivery state, newest first.
    pub async fn list(
        &self,
        tenant: &str,
        state: Option<&str>,
        order: Option<[u8; 32]>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Stored>, ApiError> {
        let q = ListQuery {
            tenant: tenant.to_string(),
            state: state.map(str::to_string),
            order_key: order.map(hex::encode),
            before,
            limit,
        };
        self.inner.checked(self.inner.store.list(&q).await)
    }

    /// One ingest's events, oldest first.
    pub async fn history(&self, tenant: &str, order: [u8; 32]) -> Result<Vec<Stored>, ApiError> {
        let r = self
            .inner
            .store
            .history(tenant, &hex::encode(order), HISTORY_LIMIT)
            .await;
        self.inner.checked(r)
    }

    /// Queues one event of the tenant for delivery again.
    pub async fn redeliver(&self, tenant: &str, id: &str) -> Result<(), ApiError> {
        if !self
            .inner
            .webhooks
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(tenant)
        {
            return Err(ApiError::new(
                ErrorKind::FailedPrecondition,
                "this tenant has no webhook configured ([tenants.webhook]); nothing to redeliver to",
            ));
        }
        let now = self.inner.now_ms();
        match self
            .inner
            .checked(self.inner.store.redeliver(tenant, id, now).await)?
        {
            Some(true) => {
                tracing::info!(tenant, event = id, "event queued for redelivery");
                self.inner.deliver_wake.notify_one();
                Ok(())
            }
            Some(false) => Err(ApiError::new(
                ErrorKind::FailedPrecondition,
                format!(
                    "event `{id}` is pending delivery already; it is attempted on its schedule"
                ),
            )),
            None => Err(ApiError::new(
                ErrorKind::NotFound,
                format!(
                    "no event `{id}` of this tenant (events are kept for the retention window)"
                ),
            )),
        }
    }

    /// The tenant's webhook endpoint health (`None`: no attempt recorded yet).
    pub async fn endpoint(&self, tenant: &str) -> Result<Option<Endpoint>, ApiError> {
        let one = self
            .inner
            .checked(self.inner.store.endpoints(Some(tenant)).await)?;
        Ok(one.into_iter().next())
    }

    /// Ends every stream (shutdown: the listeners' drain would otherwise wait for them).
    pub fn close(&self) {
        self.inner.closing.send_replace(true);
    }

    /// A stream of events for `tenant` (every event when `None`), as SSE bytes, starting
    /// after stream position `after` (a `Last-Event-ID`) or with the next new event.
    pub fn subscribe(&self, tenant: Option<String>, after: Option<i64>) -> EventStream {
        let (tx, out) = mpsc::channel::<Bytes>(64);
        tokio::spawn(listen(self.inner.clone(), tenant, after, tx));
        EventStream { rx: out }
    }
}

impl Inner {
    fn now_ms(&self) -> i64 {
        i64::try_from(self.clock.unix_ms()).unwrap_or(i64::MAX)
    }

    fn unhealthy(&self, e: &StoreError) {
        if self.healthy.swap(false, Ordering::Relaxed) {
            tracing::error!(store = %self.name, error = %e, "event store unavailable: callbacks are answered 503 until it is back");
            self.metrics.set_outbox_up(false);
        }
    }

    fn healthy_again(&self) {
        if !self.healthy.swap(true, Ordering::Relaxed) {
            tracing::info!(store = %self.name, "event store reachable again");
            self.metrics.set_outbox_up(true);
        }
    }

    /// A store call failed: the store is marked unavailable and the cause logged (the
    /// store's address and its error are the operator's business, not told to vendors and
    /// tenants).
    fn failed(&self, e: &StoreError, what: &'static str) {
        self.unhealthy(e);
        tracing::warn!(store = %self.name, error = %e, "{what}");
    }

    fn unavailable() -> ApiError {
        let mut error = ApiError::new(
            ErrorKind::Unavailable,
            "the event store is unavailable; nothing was stored (a vendor callback refused this way is retried by the vendor); the gateway's log has the cause",
        );
        error.retry_after_secs = Some(STORE_RETRY_AFTER_SECS);
        error
    }

    fn checked<T>(&self, r: Result<T, StoreError>) -> Result<T, ApiError> {
        match r {
            Ok(v) => {
                self.healthy_again();
                Ok(v)
            }
            Err(e) => {
                self.failed(&e, "event store call failed");
                Err(Self::unavailable())
            }
        }
    }

    /// The wait before attempt `n + 1` (`n` attempts made), or `None` when the schedule is
    /// exhausted.
    fn retry_wait(&self, attempts_made: i64) -> Option<Duration> {
        usize::try_from(attempts_made)
            .ok()
            .and_then(|n| self.settings.schedule.get(n).copied())
    }

    /// Logs and counts an endpoint's change between healthy and failing.
    fn note_endpoint(&self, e: &Endpoint) {
        let failing = e.failing_since_ms.is_some();
        let changed = {
            let mut set = self.failing.lock().unwrap_or_else(|p| p.into_inner());
            if failing {
                set.insert(e.tenant.clone())
            } else {
                set.remove(&e.tenant)
            }
        };
        self.metrics.set_endpoint_failing(&e.tenant, failing);
        if changed && failing {
            tracing::error!(tenant = %e.tenant, failures = e.consecutive_failures, last_error = e.last_error.as_deref().unwrap_or(""), "webhook endpoint is failing: its events are kept and retried on the schedule");
        } else if changed {
            tracing::info!(tenant = %e.tenant, "webhook endpoint recovered");
        }
    }
}

/// Commits appends in batches: whatever is queued when a commit ends goes in the next.
async fn append_loop(
    store: SqlStore,
    mut appends: mpsc::Receiver<(NewEvent, AppendReply)>,
    inner: Weak<Inner>,
) {
    let mut batch = Vec::with_capacity(APPEND_BATCH);
    while appends.recv_many(&mut batch, APPEND_BATCH).await > 0 {
        let rows: Vec<NewEvent> = batch.iter().map(|(e, _)| e.clone()).collect();
        match store.append(&rows).await {
            Ok(appended) => {
                if let Some(i) = inner.upgrade() {
                    i.healthy_again();
                }
                for ((_, reply), a) in batch.drain(..).zip(appended) {
                    let _ = reply.send(Ok(a));
                }
            }
            Err(e) => {
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Leases due events and attempts them, up to [`MAX_IN_FLIGHT`] at once.
async fn deliver_loop(inner: Weak<Inner>) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    loop {
        let Some(i) = inner.upgrade() else { return };
        let (wake, poll) = (i.deliver_wake.clone(), i.settings.poll);
        let free = slots.available_permits();
        let mut full = false;
        // With attempts in flight, claim only once a quarter of the slots is free: one
        // claim a batch, not one a finished attempt (each claim reads the pending head).
        if free > 0 && (free == MAX_IN_FLIGHT || free >= MAX_IN_FLIGHT / 4) {
            let now = i.now_ms();
            let lease_until =
                now.saturating_add(i64::try_from(i.settings.lease.as_millis()).unwrap_or(i64::MAX));
            let limit = i64::try_from(free).unwrap_or(1);
            match i.store.claim(&i.owner, now, lease_until, limit).await {
                Ok(claimed) => {
                    i.healthy_again();
                    full = claimed.len() == free;
                    for c in claimed {
                        let Ok(slot) = slots.clone().try_acquire_owned() else {
                            break;
                        };
                        tokio::spawn(deliver_one(i.clone(), c, slot));
                    }
                }
                Err(e) => {
                    i.unhealthy(&e);
                }
            }
        }
        drop(i);
        if full {
            // More may be due: look again as soon as a slot frees.
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(poll) => {}
            }
            continue;
        }
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(poll) => {}
        }
    }
}

/// One attempt of one leased event, and its outcome recorded.
async fn deliver_one(inner: Arc<Inner>, c: Claimed, _slot: tokio::sync::OwnedSemaphorePermit) {
    let hook = inner
        .webhooks
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(&c.tenant)
        .cloned();
    let result = match &hook {
        Some(h) => webhook::attempt(h, &c.id, Bytes::from(c.body.clone()))
            .await
            .map_err(|e| e.to_string()),
        None => Err("the tenant has no webhook configured any more".to_string()),
    };
    let now = inner.now_ms();
    let made = c.attempts.saturating_add(1);
    let outcome = match result {
        Ok(()) => {
            inner.metrics.event(&c.provider, "webhook_ok");
            tracing::info!(event = %c.id, tenant = %c.tenant, provider = %c.provider, attempt = made, "event delivered to webhook");
            Attempted::Delivered
        }
        Err(error) => match inner.retry_wait(made).filter(|_| hook.is_some()) {
            Some(wait) => {
                inner.metrics.event(&c.provider, "webhook_retry");
                tracing::warn!(event = %c.id, tenant = %c.tenant, provider = %c.provider, attempt = made, retry_in_secs = wait.as_secs(), %error, "webhook delivery failed; retrying on the schedule");
                Attempted::Retry {
                    next_at_ms: now
                        .saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX)),
                    error,
                }
            }
            None => {
                inner.metrics.event(&c.provider, "webhook_failed");
                tracing::error!(event = %c.id, tenant = %c.tenant, provider = %c.provider, attempts = made, %error, "webhook never accepted the event: kept as failed for redelivery until retention ends");
                Attempted::Failed { error }
            }
        },
    };
    match inner
        .store
        .settle(
            &c,
            &inner.owner,
            &outcome,
            now,
            inner.settings.failing_after,
        )
        .await
    {
        Ok(Some(endpoint)) => {
            inner.healthy_again();
            inner.note_endpoint(&endpoint);
        }
        Ok(None) => {
            inner.healthy_again();
            tracing::info!(event = %c.id, "an attempt outlived its lease and the event was taken again; this outcome is not recorded");
        }
        Err(e) => {
            // The lease expires and the event is attempted again: at least once.
            tracing::warn!(event = %c.id, error = %e, "could not record a delivery attempt; it will be repeated");
            inner.unhealthy(&e);
        }
    }
    inner.deliver_wake.notify_one();
}

/// Reads new events in stream order and fans them out to this replica's listeners.
async fn tail_loop(inner: Weak<Inner>, mut cursor: i64) {
    loop {
        let Some(i) = inner.upgrade() else { return };
        let (wake, poll) = (i.tail_wake.clone(), i.settings.poll);
        let mut more = false;
        let gate = i.tail_gate.lock().await;
        if i.stream.receiver_count() == 0 {
            // Nobody listens: skip ahead (a listener starts from the store itself).
            match i.store.last_seq().await {
                Ok(last) => cursor = cursor.max(last),
                Err(e) => i.unhealthy(&e),
            }
            drop(gate);
        } else {
            drop(gate);
            match i.store.after(None, cursor, STREAM_PAGE).await {
                Ok(rows) => {
                    more = rows.len() as i64 == STREAM_PAGE;
                    for r in rows {
                        cursor = r.seq;
                        let _ = i.stream.send(Arc::new(r));
                    }
                }
                Err(e) => i.unhealthy(&e),
            }
        }
        drop(i);
        if !more {
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(poll) => {}
            }
        }
    }
}

/// Wakes the tailer when any replica appends (PostgreSQL `LISTEN`). A notification lost
/// while the listener reconnects costs only latency: the tailer polls regardless.
async fn notify_loop(mut listener: sqlx::postgres::PgListener, inner: Weak<Inner>) {
    if let Err(e) = listener.listen(store::NOTIFY_CHANNEL).await {
        tracing::warn!(error = %e, "cannot LISTEN on the event store; other replicas' events reach streams at the next poll");
        return;
    }
    loop {
        let next = tokio::time::timeout(Duration::from_secs(5), listener.try_recv()).await;
        let Some(i) = inner.upgrade() else { return };
        match next {
            Err(_) => {} // quiet: look whether the hub is still there
            Ok(Ok(Some(_))) => i.tail_wake.notify_one(),
            // The connection was lost; `try_recv` reconnects on the next call.
            Ok(Ok(None)) => i.tail_wake.notify_one(),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "event store LISTEN failed; retrying");
                drop(i);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Gauges, store health and retention.
async fn monitor_loop(inner: Weak<Inner>) {
    let mut last_purge: Option<tokio::time::Instant> = None;
    loop {
        let Some(i) = inner.upgrade() else { return };
        match i.store.stats().await {
            Ok(stats) => {
                i.healthy_again();
                let age = stats
                    .oldest_pending_ms
                    .map(|t| (i.now_ms().saturating_sub(t)).max(0) as f64 / 1000.0)
                    .unwrap_or(0.0);
                i.metrics.set_outbox_backlog(stats.pending, age);
            }
            Err(e) => i.unhealthy(&e),
        }
        if let Ok(endpoints) = i.store.endpoints(None).await {
            for e in &endpoints {
                i.note_endpoint(e);
            }
        }
        if last_purge.is_none_or(|t| t.elapsed() >= PURGE_EVERY) {
            let cutoff = i.now_ms().saturating_sub(
                i64::try_from(i.settings.retention.as_millis()).unwrap_or(i64::MAX),
            );
            match i.store.purge(cutoff).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "events past retention removed"),
                Err(e) => i.unhealthy(&e),
            }
            last_purge = Some(tokio::time::Instant::now());
        }
        drop(i);
        tokio::time::sleep(MONITOR_EVERY).await;
    }
}

fn sse(r: &Streamed) -> Bytes {
    Bytes::from(format!(
        "id: {}\nevent: ingest\ndata: {}\n\n",
        r.seq, r.body
    ))
}

/// One listener: catch up from the store after its position, then follow the tailer; a
/// listener that falls behind the tailer's buffer reads from the store again (no gap).
async fn listen(
    inner: Arc<Inner>,
    tenant: Option<String>,
    after: Option<i64>,
    tx: mpsc::Sender<Bytes>,
) {
    let mut closing = inner.closing.subscribe();
    let Some((mut rx, mut last)) = subscribe(&inner, after, &tx).await else {
        return;
    };
    let mut catch_up = after.is_some();
    loop {
        if catch_up {
            match send_page(&inner, tenant.as_deref(), &mut last, &tx).await {
                Some(more) => catch_up = more,
                None => return,
            }
            continue;
        }
        let next = tokio::select! {
            next = tokio::time::timeout(KEEPALIVE, rx.recv()) => next,
            () = async { drop(closing.wait_for(|c| *c).await) } => {
                let _ = tx
                    .send(Bytes::from_static(b": the gateway is shutting down; reconnect with Last-Event-ID\n\n"))
                    .await;
                return;
            }
        };
        let chunk = match next {
            Err(_) => Bytes::from_static(b": keep-alive\n\n"),
            Ok(Ok(r)) => {
                if r.seq <= last {
                    continue;
                }
                last = r.seq;
                if tenant.as_ref().is_some_and(|t| *t != r.tenant) {
                    continue;
                }
                sse(&r)
            }
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                catch_up = true;
                continue;
            }
            Ok(Err(broadcast::error::RecvError::Closed)) => return,
        };
        if tx.send(chunk).await.is_err() {
            return; // the listener went away
        }
    }
}

/// A listener's subscription to the tailer and the position it starts after, both taken
/// under the tail gate so that no event falls between them; the stream's first comment sent.
/// `None`: the listener is gone, or was told the store is unavailable.
async fn subscribe(
    inner: &Inner,
    after: Option<i64>,
    tx: &mpsc::Sender<Bytes>,
) -> Option<(broadcast::Receiver<Arc<Streamed>>, i64)> {
    let gate = inner.tail_gate.lock().await;
    let rx = inner.stream.subscribe();
    // A `Last-Event-ID` past the newest event (a store reset, a made-up number) resumes
    // from the newest: nothing new would otherwise ever be sent.
    let start = inner
        .store
        .last_seq()
        .await
        .map(|newest| after.map_or(newest, |n| n.min(newest)));
    drop(gate);
    inner.tail_wake.notify_one();
    let last = match start {
        Ok(n) => n,
        Err(e) => {
            let comment = b": the event store is unavailable; reconnect\n\n";
            store_away(inner, tx, &e, "event stream start failed", comment).await;
            return None;
        }
    };
    tx.send(Bytes::from_static(b": ingest-gateway event stream\n\n"))
        .await
        .ok()?;
    Some((rx, last))
}

/// Sends the listener the next page of its tenant's events after `last` from the store;
/// whether a full page came (there may be more). `None`: the listener is gone, or was told
/// the store is unavailable.
async fn send_page(
    inner: &Inner,
    tenant: Option<&str>,
    last: &mut i64,
    tx: &mpsc::Sender<Bytes>,
) -> Option<bool> {
    let page = {
        let _turn = inner.catch_ups.acquire().await;
        inner.store.after(tenant, *last, STREAM_PAGE).await
    };
    match page {
        Ok(rows) => {
            let more = rows.len() as i64 == STREAM_PAGE;
            for r in rows {
                *last = r.seq;
                tx.send(sse(&r)).await.ok()?;
            }
            Some(more)
        }
        Err(e) => {
            let comment = b": the event store is unavailable; reconnect with Last-Event-ID\n\n";
            store_away(inner, tx, &e, "event stream catch-up failed", comment).await;
            None
        }
    }
}

/// A listener's store read failed: logged (`what`), and the listener told why its stream
/// ends (`comment`, an SSE comment).
async fn store_away(
    inner: &Inner,
    tx: &mpsc::Sender<Bytes>,
    e: &StoreError,
    what: &'static str,
    comment: &'static [u8],
) {
    inner.failed(e, what);
    let _ = tx.send(Bytes::from_static(comment)).await;
}

/// The body of a `GET /v1/events` response.
#[derive(Debug)]
pub struct EventStream {
    rx: mpsc::Receiver<Bytes>,
}

impl http_body::Body for EventStream {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        self.rx
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| Ok(http_body::Frame::data(c))))
    }
}
