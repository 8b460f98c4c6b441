//! Prometheus metrics, served at `GET /metrics` in the text exposition format.
//!
//! | metric | type | labels | what |
//! |---|---|---|---|
//! | `ingest_requests_total` | counter | provider, operation, outcome | plugin calls; outcome is `ok` or the error kind |
//! | `ingest_request_duration_seconds` | histogram | provider, operation | whole plugin call, vendor requests included |
//! | `ingest_vendor_request_duration_seconds` | histogram | provider | one vendor HTTP exchange |
//! | `ingest_plugin_instantiate_seconds` | histogram | provider | fresh instance creation per call |
//! | `ingest_plugin_faults_total` | counter | provider, fault | traps and deadlines: `deadline`, `stack`, `panic`, `memory`, `other` |
//! | `ingest_plugin_swaps_total` | counter | plugin, action | installs, rollbacks, removals and refused uploads |
//! | `ingest_plugin_versions_loaded` | gauge | | plugin versions held (serving + kept for rollback) |
//! | `ingest_plugin_compiles_total` | counter | source | `compiled` (Cranelift) or `cache` (artifact cache) |
//! | `ingest_provider_healthy` | gauge | provider | 1 healthy, 0 unhealthy (plugin keeps faulting) |
//! | `ingest_quota_total` | counter | provider, operation, outcome | calls at a vendor quota: `admitted` at once, `delayed` (admitted after waiting for a turn) or `refused` (429) |
//! | `ingest_events_total` | counter | provider, delivery | normalized events: `webhook_ok`, `webhook_failed`, `stream` |

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
        let requests = Family::<Labels, Counter>::default();
        let duration = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let vendor = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let instantiate = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let faults = Family::<Labels, Counter>::default();
        let swaps = Family::<Labels, Counter>::default();
        let versions = Gauge::default();
        let compiles = Family::<Labels, Counter>::default();
        let healthy = Family::<Labels, Gauge>::default();
        let events = Family::<Labels, Counter>::default();
        let quota = Family::<Labels, Counter>::default();
        registry.register(
            "ingest_requests",
            "Plugin calls by provider, operation and outcome",
            requests.clone(),
        );
        registry.register(
            "ingest_request_duration_seconds",
            "Plugin call duration, vendor requests included",
            duration.clone(),
        );
        registry.register(
            "ingest_vendor_request_duration_seconds",
            "Duration of one vendor HTTP exchange",
            vendor.clone(),
        );
        registry.register(
            "ingest_plugin_instantiate_seconds",
            "Time to create a fresh plugin instance",
            instantiate.clone(),
        );
        registry.register(
            "ingest_plugin_faults",
            "Plugin traps and deadlines by kind",
            faults.clone(),
        );
        registry.register(
            "ingest_plugin_swaps",
            "Plugin installs, rollbacks, removals and refusals",
            swaps.clone(),
        );
        registry.register(
            "ingest_plugin_versions_loaded",
            "Plugin versions held (serving and rollback)",
            versions.clone(),
        );
        registry.register(
            "ingest_plugin_compiles",
            "Plugin loads by source: compiled or cache",
            compiles.clone(),
        );
        registry.register(
            "ingest_provider_healthy",
            "1 when the provider is healthy",
            healthy.clone(),
        );
        registry.register(
            "ingest_events",
            "Normalized events by delivery outcome",
            events.clone(),
        );
        registry.register(
            "ingest_quota",
            "Calls at a vendor quota: admitted, delayed or refused",
            quota.clone(),
        );
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
        }
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

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
            out.clear();
        }
        out
    }
}
