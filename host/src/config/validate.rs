//! [`Config::validate`]: everything serde cannot check, each problem with its path and fix.
//! One function per section; every problem is collected, none stops the others.

use super::{
    AdminConfig, Config, GatewayConfig, HostPort, ProviderConfig, RuntimeConfig, SecretSource,
    TenantConfig,
};
use crate::error::ConfigError;

impl Config {
    /// Checks everything serde cannot, and reports every problem with its path.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        gateway(&self.gateway, &mut problems);
        let mut tenant_ids = std::collections::HashSet::new();
        for (i, t) in self.tenants.iter().enumerate() {
            let at = format!("tenants[{i}]");
            id(&at, &t.id, "tenant", &mut tenant_ids, &mut problems);
            tenant(&at, t, &self.providers, &mut problems);
        }
        admin(
            &self.admin,
            self.gateway.plugin_dir.is_some(),
            &mut problems,
        );
        runtime(&self.runtime, &mut problems);
        connections(&self.connections, &mut problems);
        events(&self.events, &mut problems);
        self.quota.problems(&mut problems);
        self.plugins.problems(&mut problems);
        let mut provider_ids = std::collections::HashSet::new();
        for (i, p) in self.providers.iter().enumerate() {
            let at = format!("providers[{i}]");
            id(&at, &p.id, "provider", &mut provider_ids, &mut problems);
            provider(&at, p, &mut problems);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }
}

fn is_address(addr: &str) -> bool {
    addr.parse::<std::net::SocketAddr>().is_ok()
}

fn is_http_url(text: &str) -> bool {
    url::Url::parse(text)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

/// A tenant or provider id: letters, digits, `-`, `_`; unique among its kind.
fn id<'a>(
    at: &str,
    id: &'a str,
    kind: &str,
    seen: &mut std::collections::HashSet<&'a str>,
    problems: &mut Vec<String>,
) {
    let charset = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if id.is_empty() || !id.chars().all(charset) {
        problems.push(format!(
            "{at}.id: `{id}` must be non-empty and use only letters, digits, `-` and `_`"
        ));
    } else if !seen.insert(id) {
        problems.push(format!("{at}.id: `{id}` is used by an earlier {kind}"));
    }
}

fn gateway(g: &GatewayConfig, problems: &mut Vec<String>) {
    if !is_address(&g.listen) {
        problems.push(format!(
            "gateway.listen: `{}` is not an address like 127.0.0.1:8080",
            g.listen
        ));
    }
    if let Some(addr) = &g.extproc_listen
        && !is_address(addr)
    {
        problems.push(format!(
            "gateway.extproc_listen: `{addr}` is not an address like 127.0.0.1:50051"
        ));
    }
    if g.max_body_bytes == 0 {
        problems.push("gateway.max_body_bytes: must be greater than 0".to_string());
    }
}

fn tenant(at: &str, t: &TenantConfig, providers: &[ProviderConfig], problems: &mut Vec<String>) {
    if t.rate == Some(0) || t.max_concurrent == Some(0) {
        problems.push(format!(
            "{at}: rate and max_concurrent must be at least 1 (leave them out for no limit)"
        ));
    }
    let lower_hex = |c: char| c.is_ascii_hexdigit() && !c.is_ascii_uppercase();
    if t.api_key_sha256.len() != 64 || !t.api_key_sha256.chars().all(lower_hex) {
        problems.push(format!(
            "{at}.api_key_sha256: must be 64 lowercase hex digits (printf %s \"$KEY\" | sha256sum)"
        ));
    }
    for (j, p) in t.providers.iter().enumerate() {
        if p != "*" && !providers.iter().any(|c| &c.id == p) {
            problems.push(format!(
                "{at}.providers[{j}]: no provider `{p}` is configured"
            ));
        }
    }
    if let Some(w) = &t.webhook
        && !is_http_url(&w.url)
    {
        problems.push(format!(
            "{at}.webhook.url: `{}` is not an http(s) URL",
            w.url
        ));
    }
}

fn admin(admin: &AdminConfig, has_plugin_dir: bool, problems: &mut Vec<String>) {
    if let Some(addr) = &admin.listen {
        if !is_address(addr) {
            problems.push(format!(
                "admin.listen: `{addr}` is not an address like 127.0.0.1:8081"
            ));
        }
        if admin.token.is_none() {
            problems.push(
                "admin.token: required when admin.listen is set, e.g. token = { env = \"INGEST_ADMIN_TOKEN\" }"
                    .to_string(),
            );
        }
    }
    if admin.watch_interval_ms == Some(0) {
        problems.push("admin.watch_interval_ms: must be greater than 0".to_string());
    }
    if admin.watch_interval_ms.is_some() && !has_plugin_dir {
        problems.push("admin.watch_interval_ms: needs gateway.plugin_dir to watch".to_string());
    }
}

fn events(e: &crate::config::EventsConfig, problems: &mut Vec<String>) {
    if let Some(store) = &e.store
        && !(store.starts_with("sqlite://")
            || store == crate::config::MEMORY_EVENTS_STORE
            || store.starts_with("postgres://")
            || store.starts_with("postgresql://"))
    {
        problems.push(
            "events.store: must be `sqlite://PATH` (one file) or `postgres://USER@HOST/DB` (shared by replicas)"
                .to_string(),
        );
    }
    if e.retry_schedule_secs.is_empty() || e.retry_schedule_secs.len() > 100 {
        problems.push(
            "events.retry_schedule_secs: one to 100 waits, e.g. [0, 5, 300, 1800, 7200, 18000, 36000, 36000]"
                .to_string(),
        );
    }
    if e.retry_schedule_secs.iter().any(|w| *w > 7 * 24 * 3600) {
        problems.push("events.retry_schedule_secs: a wait is at most 604800 (7 days)".to_string());
    }
    if e.retention_hours == 0 || e.retention_hours > 24 * 365 {
        problems.push("events.retention_hours: 1 to 8760".to_string());
    } else {
        let schedule: u64 = e.retry_schedule_secs.iter().sum();
        if schedule >= e.retention_hours.saturating_mul(3600) {
            problems.push(format!(
                "events.retention_hours: {} h is shorter than the retry schedule ({schedule} s in all): events would be removed before their last attempt",
                e.retention_hours
            ));
        }
    }
    if e.lease_secs == 0 || e.lease_secs > 3600 {
        problems.push(
            "events.lease_secs: 1 to 3600 (above the 10 s a webhook attempt may take)".to_string(),
        );
    }
    if e.poll_interval_ms < 10 || e.poll_interval_ms > 60_000 {
        problems.push("events.poll_interval_ms: 10 to 60000".to_string());
    }
    if e.failing_after == 0 {
        problems.push("events.failing_after: must be at least 1".to_string());
    }
}

fn connections(c: &crate::config::ConnectionsConfig, problems: &mut Vec<String>) {
    if c.header_timeout_ms == 0 || c.idle_timeout_ms == 0 {
        problems.push(
            "connections.header_timeout_ms, idle_timeout_ms: must be greater than 0".to_string(),
        );
    }
    if c.max_header_bytes < 8192 {
        problems.push("connections.max_header_bytes: must be at least 8192".to_string());
    }
    if c.max_connections == 0 {
        problems.push("connections.max_connections: must be greater than 0".to_string());
    }
}

/// Upper bound of `runtime.max_core_instances_per_component` (the pool's total is this times
/// `max_concurrent_calls`, a `u32`).
const MAX_CORE_INSTANCES_PER_COMPONENT: u32 = 1024;

fn runtime(rt: &RuntimeConfig, problems: &mut Vec<String>) {
    if rt.call_deadline_ms == 0 {
        problems.push("runtime.call_deadline_ms: must be greater than 0".to_string());
    }
    if !(rt.tenant_plugin_share > 0.0 && rt.tenant_plugin_share <= 1.0) {
        problems.push(
            "runtime.tenant_plugin_share: must be greater than 0 and at most 1 (1 turns the per-tenant cap off)"
                .to_string(),
        );
    }
    if rt.plugin_threads.is_some_and(|n| n > 1024) {
        problems.push("runtime.plugin_threads: at most 1024".to_string());
    }
    if rt.step_budget_ms == 0 {
        problems.push("runtime.step_budget_ms: must be greater than 0".to_string());
    }
    if rt.epoch_tick_ms == 0 || rt.epoch_tick_ms > rt.call_deadline_ms.max(1) {
        problems.push(
            "runtime.epoch_tick_ms: must be between 1 and runtime.call_deadline_ms".to_string(),
        );
    }
    if rt.memory_limit_bytes < (1 << 20) {
        problems.push("runtime.memory_limit_bytes: must be at least 1 MiB (1048576)".to_string());
    }
    if rt.max_concurrent_calls == 0 {
        problems.push("runtime.max_concurrent_calls: must be greater than 0".to_string());
    }
    if !(1..=MAX_CORE_INSTANCES_PER_COMPONENT).contains(&rt.max_core_instances_per_component) {
        problems.push(format!(
            "runtime.max_core_instances_per_component: must be between 1 and {MAX_CORE_INSTANCES_PER_COMPONENT}"
        ));
    }
}

fn provider(at: &str, p: &ProviderConfig, problems: &mut Vec<String>) {
    if p.plugin.trim().is_empty() {
        problems.push(format!("{at}.plugin: must name a plugin or a .wasm path"));
    }
    if let Some(endpoint) = &p.endpoint
        && !is_http_url(endpoint)
    {
        problems.push(format!(
            "{at}.endpoint: `{endpoint}` is not an http(s) URL like http://127.0.0.1:9101"
        ));
    }
    for (j, h) in p.allow_hosts.iter().flatten().enumerate() {
        if HostPort::parse(h).is_none() {
            problems.push(format!(
                "{at}.allow_hosts[{j}]: `{h}` is not `host:port` (e.g. trtc.tencentcloudapi.com:443)"
            ));
        }
    }
    let f = &p.failure;
    if f.unhealthy_after == 0 {
        problems.push(format!("{at}.failure.unhealthy_after: must be at least 1"));
    }
    if !(200..600).contains(&f.open_status) {
        problems.push(format!(
            "{at}.failure.open_status: must be an HTTP status 200..599"
        ));
    }
    if serde_json::from_str::<serde_json::Value>(&f.open_body).is_err() {
        problems.push(format!("{at}.failure.open_body: must be JSON text"));
    }
    egress(at, p, problems);
    quota(at, &p.quota, problems);
    for (name, value) in &p.config {
        if let toml::Value::Datetime(_) = value {
            problems.push(format!(
                "{at}.config.{name}: dates are not supported; write the value as a string"
            ));
        }
    }
    for (name, source) in &p.secrets {
        if matches!(source, SecretSource::Env { env } if env.is_empty()) {
            problems.push(format!("{at}.secrets.{name}: `env` must name a variable"));
        }
    }
}

fn quota(at: &str, q: &crate::config::QuotaConfig, problems: &mut Vec<String>) {
    if q.burst == 0 {
        problems.push(format!(
            "{at}.quota.burst: must be at least 1 (1 spaces calls evenly)"
        ));
    }
    if !(q.tenant_share > 0.0 && q.tenant_share <= 1.0) {
        problems.push(format!(
            "{at}.quota.tenant_share: must be in (0, 1], e.g. 0.5 for at most half of each rate per tenant"
        ));
    }
    if q.max_wait_ms > 60_000 {
        problems.push(format!(
            "{at}.quota.max_wait_ms: at most 60000 (a call waiting longer holds its client; answer 429 instead)"
        ));
    }
}

fn egress(at: &str, p: &ProviderConfig, problems: &mut Vec<String>) {
    let e = &p.egress;
    if e.connect_timeout_ms == 0 || e.request_timeout_ms == 0 {
        problems.push(format!("{at}.egress: timeouts must be greater than 0"));
    }
    if let Some(ca) = &e.ca_file
        && !ca.is_file()
    {
        problems.push(format!(
            "{at}.egress.ca_file: `{}` is not a readable file (a PEM file of CA certificates)",
            ca.display()
        ));
    }
    if e.max_response_bytes == 0 {
        problems.push(format!(
            "{at}.egress.max_response_bytes: must be greater than 0"
        ));
    }
}
