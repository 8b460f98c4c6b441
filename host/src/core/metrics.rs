//! Prometheus metrics, served at `GET /metrics` as OpenMetrics text or Prometheus's classic
//! text format, as the scraper's `Accept` asks ([`Format::negotiate`]).
//!
//! | metric | type | labels | what |
//! |---|---|---|---|
//! | `ingest_requests_total` | counter | provider, operation, outcome | plugin calls; outcome is `ok` or the error kind |
//! | `ingest_request_duration_seconds` | histogram | provider, operation | whole plugin call, vendor requests included |
//! | `ingest_vendor_request_duration_seconds` | histogram | provider | one vendor HTTP exchange |
//! | `ingest_plugin_instantiate_seconds` | histogram | provider | fresh instance creation per call |
//! | `ingest_plugin_faults_total` | counter | provider, fault | traps, deadlines and bounds: `deadline`, `stack`, `panic`, `memory`, `limit` (a result or request over a host bound), `other` |
//! | `ingest_plugin_swaps_total` | counter | plugin, action | installs, rollbacks, removals and refused uploads |
//! | `ingest_plugin_versions_loaded` | gauge | | plugin versions held (serving + kept for rollback) |
//! | `ingest_plugin_compiles_total` | counter | source | `compiled` (Cranelift) or `cache` (artifact cache) |
//! | `ingest_provider_healthy` | gauge | provider | 1 healthy, 0 unhealthy (plugin keeps faulting) |
//! | `ingest_quota_total` | counter | provider, operation, outcome | calls at a vendor quota: `admitted` at once, `delayed` (admitted after waiting for a turn) or `refused` (429) |
//! | `ingest_tenant_limited_total` | counter | tenant, limit | API requests refused by a tenant's own limit: `rate` or `concurrency` |
//! | `ingest_events_total` | counter | provider, delivery | normalized events: `stored`, `duplicate` (a repeated callback), `webhook_ok`, `webhook_retry` (an attempt failed, another is scheduled), `webhook_failed` (the schedule ran out) |
//! | `ingest_outbox_pending` | gauge | | events waiting for webhook delivery (the whole store: every replica's) |
//! | `ingest_outbox_oldest_pending_seconds` | gauge | | age of the oldest of them |
//! | `ingest_outbox_store_up` | gauge | | 1 while the event store answers; 0: callbacks are refused 503 |
//! | `ingest_webhook_endpoint_failing` | gauge | tenant | 1 while the tenant's webhook endpoint is marked failing |
//! | `ingest_quota_store_up` | gauge | | 1 while the shared quota store (`[quota] store`) answers; 0 while this replica limits alone at its fallback share (or no store is configured) |
//! | `ingest_quota_fallback_total` | counter | provider | calls whose quota turn the local fallback limiter decided, the shared store being away |

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

fn latency_histogram() -> Histogram {
    // 50 µs … ~26 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 20))
}

/// Declares metrics: each `field = value => "name", "help";` binds `field` to `value` and
/// registers a handle to it under `name`.
macro_rules! register {
    ($registry:ident; $($field:ident = $init:expr => $name:literal, $help:literal;)*) => {
        $(
            let $field = $init;
            $registry.register($name, $help, $field.clone());
        )*
    };
}

/// The gateway's metrics.
pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<Labels, Counter>,
    duration: Family<Labels, Histogram, fn() -> Histogram>,
    vendor: Family<Labels, Histogram, fn() -> Histogram>,
    instantiate: Family<Labels, Histogram, fn() -> Histogram>,
    faults: Family<Labels, Counter>,
    swaps: Family<Labels, Counter>,
    versions: Gauge,
    compiles: Family<Labels, Counter>,
    healthy: Family<Labels, Gauge>,
    events: Family<Labels, Counter>,
    quota: Family<Labels, Counter>,
    tenant_limited: Family<Labels, Counter>,
    outbox_pending: Gauge,
    outbox_oldest: Gauge<f64, std::sync::atomic::AtomicU64>,
    outbox_up: Gauge,
    endpoint_failing: Family<Labels, Gauge>,
    quota_store_up: Gauge,
    quota_fallback: Family<Labels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        register! {
            registry;
            quota_store_up = Gauge::default()
                => "ingest_quota_store_up", "1 while the shared quota store answers; 0 while this replica limits alone";
            quota_fallback = Family::<Labels, Counter>::default()
                => "ingest_quota_fallback", "Quota turns decided by the local fallback limiter while the shared store was away";
            outbox_pending = Gauge::default()
                => "ingest_outbox_pending", "Events waiting for webhook delivery, every replica's";
            outbox_oldest = Gauge::<f64, std::sync::atomic::AtomicU64>::default()
                => "ingest_outbox_oldest_pending_seconds", "Age of the oldest event waiting for webhook delivery";
            outbox_up = Gauge::default()
                => "ingest_outbox_store_up", "1 while the event store answers";
            endpoint_failing = Family::<Labels, Gauge>::default()
                => "ingest_webhook_endpoint_failing", "1 while the tenant's webhook endpoint is marked failing";
            requests = Family::<Labels, Counter>::default()
                => "ingest_requests", "Plugin calls by provider, operation and outcome";
            duration = Family::new_with_constructor(latency_histogram as fn() -> Histogram)
                => "ingest_request_duration_seconds", "Plugin call duration, vendor requests included";
            vendor = Family::new_with_constructor(latency_histogram as fn() -> Histogram)
                => "ingest_vendor_request_duration_seconds", "Duration of one vendor HTTP exchange";
            instantiate = Family::new_with_constructor(latency_histogram as fn() -> Histogram)
                => "ingest_plugin_instantiate_seconds", "Time to create a fresh plugin instance";
            faults = Family::<Labels, Counter>::default()
                => "ingest_plugin_faults", "Plugin traps and deadlines by kind";
            swaps = Family::<Labels, Counter>::default()
                => "ingest_plugin_swaps", "Plugin installs, rollbacks, removals and refusals";
            versions = Gauge::default()
                => "ingest_plugin_versions_loaded", "Plugin versions held (serving and rollback)";
            compiles = Family::<Labels, Counter>::default()
                => "ingest_plugin_compiles", "Plugin loads by source: compiled or cache";
            healthy = Family::<Labels, Gauge>::default()
                => "ingest_provider_healthy", "1 when the provider is healthy";
            events = Family::<Labels, Counter>::default()
                => "ingest_events", "Normalized events by delivery outcome";
            quota = Family::<Labels, Counter>::default()
                => "ingest_quota", "Calls at a vendor quota: admitted, delayed or refused";
            tenant_limited = Family::<Labels, Counter>::default()
                => "ingest_tenant_limited", "API requests refused by a tenant's own rate or concurrency limit";
        }
        outbox_up.set(1);
        Self {
            registry: Mutex::new(registry),
            requests,
            duration,
            vendor,
            instantiate,
            faults,
            swaps,
            versions,
            compiles,
            healthy,
            events,
            quota,
            tenant_limited,
            outbox_pending,
            outbox_oldest,
            outbox_up,
            endpoint_failing,
            quota_store_up,
            quota_fallback,
        }
    }

    /// The outbox's backlog: pending events and the oldest one's age.
    pub fn set_outbox_backlog(&self, pending: i64, oldest_secs: f64) {
        self.outbox_pending.set(pending);
        self.outbox_oldest.set(oldest_secs);
    }

    /// Whether the shared quota store answers.
    pub fn set_quota_store_up(&self, up: bool) {
        self.quota_store_up.set(i64::from(up));
    }

    /// A quota turn decided by the local fallback limiter.
    pub fn quota_fallback(&self, provider: &str) {
        self.quota_fallback
            .get_or_create(&vec![("provider", provider.to_string())])
            .inc();
    }

    /// Whether the event store answers.
    pub fn set_outbox_up(&self, up: bool) {
        self.outbox_up.set(i64::from(up));
    }

    /// Whether a tenant's webhook endpoint is marked failing.
    pub fn set_endpoint_failing(&self, tenant: &str, failing: bool) {
        self.endpoint_failing
            .get_or_create(&vec![("tenant", tenant.to_string())])
            .set(i64::from(failing));
    }

    /// One API request refused by a tenant's own limit (`rate` or `concurrency`).
    pub fn tenant_limited(&self, tenant: &str, limit: &'static str) {
        self.tenant_limited
            .get_or_create(&vec![
                ("tenant", tenant.to_string()),
                ("limit", limit.to_string()),
            ])
            .inc();
    }

    /// One call at a provider's vendor quota: `admitted`, `delayed` or `refused`.
    pub fn quota(&self, provider: &str, operation: &str, outcome: &'static str) {
        self.quota
            .get_or_create(&vec![
                ("provider", provider.to_string()),
                ("operation", operation.to_string()),
                ("outcome", outcome.to_string()),
            ])
            .inc();
    }

    /// One plugin call.
    pub fn call(&self, provider: &str, operation: &str, outcome: &str, elapsed: Duration) {
        self.requests
            .get_or_create(&vec![
                ("provider", provider.to_string()),
                ("operation", operation.to_string()),
                ("outcome", outcome.to_string()),
            ])
            .inc();
        self.duration
            .get_or_create(&vec![
                ("provider", provider.to_string()),
                ("operation", operation.to_string()),
            ])
            .observe(elapsed.as_secs_f64());
    }

    /// One vendor exchange.
    pub fn vendor(&self, provider: &str, elapsed: Duration) {
        self.vendor
            .get_or_create(&vec![("provider", provider.to_string())])
            .observe(elapsed.as_secs_f64());
    }

    /// One instantiation.
    pub fn instantiate(&self, provider: &str, elapsed: Duration) {
        self.instantiate
            .get_or_create(&vec![("provider", provider.to_string())])
            .observe(elapsed.as_secs_f64());
    }

    /// One plugin fault.
    pub fn fault(&self, provider: &str, fault: crate::error::FaultKind) {
        self.faults
            .get_or_create(&vec![
                ("provider", provider.to_string()),
                ("fault", fault.as_str().to_string()),
            ])
            .inc();
    }

    /// A registry change (`install`, `rollback`, `remove`, `refused`).
    pub fn swap(&self, plugin: &str, action: &str) {
        self.swaps
            .get_or_create(&vec![
                ("plugin", plugin.to_string()),
                ("action", action.to_string()),
            ])
            .inc();
    }

    /// How many plugin versions are held.
    pub fn set_versions(&self, n: usize) {
        self.versions.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// A plugin load, compiled or from the cache.
    pub fn compile(&self, from_cache: bool) {
        let source = if from_cache { "cache" } else { "compiled" };
        self.compiles
            .get_or_create(&vec![("source", source.to_string())])
            .inc();
    }

    /// A provider's health.
    pub fn set_healthy(&self, provider: &str, healthy: bool) {
        self.healthy
            .get_or_create(&vec![("provider", provider.to_string())])
            .set(i64::from(healthy));
    }

    /// An event and how it was delivered.
    pub fn event(&self, provider: &str, delivery: &str) {
        self.events
            .get_or_create(&vec![
                ("provider", provider.to_string()),
                ("delivery", delivery.to_string()),
            ])
            .inc();
    }

    /// The OpenMetrics 1.0 text exposition (`# EOF` at the end; counter families named
    /// without `_total`, their samples with it).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
            out.clear();
        }
        out
    }

    /// The exposition in `format`.
    pub fn render_as(&self, format: Format) -> String {
        match format {
            Format::OpenMetrics => self.render(),
            Format::Classic => classic_text(&self.render()),
        }
    }
}

/// The two exposition formats `GET /metrics` serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 text, `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
    /// Prometheus's classic text format, `text/plain; version=0.0.4`.
    Classic,
}

impl Format {
    /// The format a scraper asks for in its `Accept` header, as Prometheus negotiates:
    /// OpenMetrics when it is accepted with a weight above the classic text's, else classic
    /// (also without an `Accept` header, as `curl` and `promtool` read it).
    pub fn negotiate(accept: Option<&str>) -> Self {
        let Some(accept) = accept else {
            return Self::Classic;
        };
        let weight = |wanted: &str| -> f32 {
            accept
                .split(',')
                .filter_map(|item| {
                    let mut parts = item.split(';').map(str::trim);
                    let media = parts.next()?.to_ascii_lowercase();
                    if media != wanted {
                        return None;
                    }
                    let q = parts
                        .filter_map(|p| p.strip_prefix("q="))
                        .find_map(|q| q.parse::<f32>().ok())
                        .unwrap_or(1.0);
                    Some(q)
                })
                .fold(0.0, f32::max)
        };
        let open = weight("application/openmetrics-text");
        if open > 0.0 && open >= weight("text/plain") {
            Self::OpenMetrics
        } else {
            Self::Classic
        }
    }

    /// The `Content-Type` of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Self::Classic => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

/// OpenMetrics text rewritten as the classic text format: a counter family's `# HELP` and
/// `# TYPE` name its samples' `_total` name (the classic format has no family name apart
/// from the samples), `# UNIT` lines and the closing `# EOF` go.
fn classic_text(open: &str) -> String {
    let counters: std::collections::HashSet<&str> = open
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(open.len() + 16 * counters.len());
    for line in open.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|p| line.strip_prefix(p).map(|rest| (p, rest)));
        match meta {
            Some((prefix, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                out.push_str(prefix);
                out.push_str(name);
                if counters.contains(name) {
                    out.push_str("_total");
                }
                out.push(' ');
                out.push_str(tail);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scraper_gets_the_format_it_asks_for() {
        // What Prometheus 2.x/3.x sends.
        let prometheus = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
        assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(None), Format::Classic);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Classic);
        assert_eq!(Format::negotiate(Some("text/plain")), Format::Classic);
        assert_eq!(
            Format::negotiate(Some("text/plain;q=0.9, application/openmetrics-text;q=0.1")),
            Format::Classic
        );
    }

    #[test]
    fn the_classic_text_names_counters_by_their_samples() {
        let m = Metrics::new();
        m.call("trtc", "start", "ok", Duration::from_millis(3));
        m.set_versions(2);
        let open = m.render_as(Format::OpenMetrics);
        assert!(open.contains("# TYPE ingest_requests counter"), "{open}");
        assert!(open.ends_with("# EOF\n"), "{open}");
        let classic = m.render_as(Format::Classic);
        assert!(
            classic.contains("# HELP ingest_requests_total Plugin calls"),
            "{classic}"
        );
        assert!(
            classic.contains("# TYPE ingest_requests_total counter"),
            "{classic}"
        );
        assert!(
            classic.contains(
                "ingest_requests_total{provider=\"trtc\",operation=\"start\",outcome=\"ok\"} 1"
            ),
            "{classic}"
        );
        assert!(
            classic.contains("# TYPE ingest_plugin_versions_loaded gauge"),
            "{classic}"
        );
        assert!(
            classic.contains("# TYPE ingest_request_duration_seconds histogram"),
            "{classic}"
        );
        assert!(!classic.contains("# EOF"), "{classic}");
    }
}
