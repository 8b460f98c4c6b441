//! Errors at the gateway's boundaries, and their `application/problem+json` form (RFC 9457).
//!
//! A provider returning `Err(provider-error)` is a *value* ([`ApiError`] with the plugin's
//! kind); a trap, a deadline or malformed output is a *fault* (`plugin-fault`). Both end up
//! as one [`ApiError`], which knows its HTTP status.

use std::path::PathBuf;

use serde::Serialize;

/// The normalized error taxonomy, as the API spells it (`kind` in problem+json).
///
/// | kind | HTTP status | retry can help |
/// |---|---|---|
/// | `invalid-argument` | 400 | no |
/// | `unauthenticated` | 502 (the *vendor* refused the gateway's credentials) | no |
/// | `permission-denied` | 403 | no |
/// | `not-found` | 404 | no |
/// | `already-exists` | 409 | no |
/// | `failed-precondition` | 409 | no |
/// | `rate-limited` | 429 (with `Retry-After` when known) | yes |
/// | `quota-exceeded` | 429 | no |
/// | `unavailable` | 503 | yes |
/// | `timeout` | 504 | yes |
/// | `unsupported` | 501 | no |
/// | `vendor-internal` | 502 | when the vendor says so |
/// | `plugin-fault` | 500 | no |
/// | `denied` | 502 (the egress policy refused a vendor request) | no |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request is malformed or out of range.
    InvalidArgument,
    /// The vendor rejected the gateway's credentials or signature.
    Unauthenticated,
    /// Not allowed.
    PermissionDenied,
    /// No such ingest, provider or route.
    NotFound,
    /// Already exists.
    AlreadyExists,
    /// Wrong state for the operation.
    FailedPrecondition,
    /// Too many requests.
    RateLimited,
    /// A vendor quota is exhausted.
    QuotaExceeded,
    /// The vendor cannot be reached or answered 5xx.
    Unavailable,
    /// The vendor did not answer in time.
    Timeout,
    /// The provider does not support this.
    Unsupported,
    /// The vendor failed or answered something unknown.
    VendorInternal,
    /// The plugin failed (trap, deadline, out of memory, malformed output).
    PluginFault,
    /// The egress policy refused a vendor request.
    Denied,
}

impl ErrorKind {
    /// The kind's name as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid-argument",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::PermissionDenied => "permission-denied",
            ErrorKind::NotFound => "not-found",
            ErrorKind::AlreadyExists => "already-exists",
            ErrorKind::FailedPrecondition => "failed-precondition",
            ErrorKind::RateLimited => "rate-limited",
            ErrorKind::QuotaExceeded => "quota-exceeded",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::VendorInternal => "vendor-internal",
            ErrorKind::PluginFault => "plugin-fault",
            ErrorKind::Denied => "denied",
        }
    }

    /// The HTTP status the API answers for this kind (see the table on [`ErrorKind`]).
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::InvalidArgument => 400,
            ErrorKind::PermissionDenied => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::AlreadyExists | ErrorKind::FailedPrecondition => 409,
            ErrorKind::RateLimited | ErrorKind::QuotaExceeded => 429,
            ErrorKind::PluginFault => 500,
            ErrorKind::Unsupported => 501,
            ErrorKind::Unauthenticated | ErrorKind::VendorInternal | ErrorKind::Denied => 502,
            ErrorKind::Unavailable => 503,
            ErrorKind::Timeout => 504,
        }
    }

    /// A short human title for the kind.
    pub fn title(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "Invalid request",
            ErrorKind::Unauthenticated => "The vendor rejected the provider's credentials",
            ErrorKind::PermissionDenied => "Permission denied",
            ErrorKind::NotFound => "Not found",
            ErrorKind::AlreadyExists => "Already exists",
            ErrorKind::FailedPrecondition => "Wrong state for this operation",
            ErrorKind::RateLimited => "Rate limited",
            ErrorKind::QuotaExceeded => "Vendor quota exceeded",
            ErrorKind::Unavailable => "Vendor unavailable",
            ErrorKind::Timeout => "Vendor timed out",
            ErrorKind::Unsupported => "Not supported by this provider",
            ErrorKind::VendorInternal => "Vendor error",
            ErrorKind::PluginFault => "Provider plugin failed",
            ErrorKind::Denied => "Vendor request refused by egress policy",
        }
    }
}

/// Where an error came from: what a policy asks (a provider that fails open answers its
/// degraded body only for the plugin's failures, never for the caller's or the vendor's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorSource {
    /// The caller's request: malformed, not allowed, over a limit, naming nothing known.
    Client,
    /// The vendor: refused, failed, unreachable or slow.
    Vendor,
    /// The plugin: a trap, a budget, garbage output, or a provider held back because its
    /// plugin keeps faulting.
    Plugin,
    /// The gateway itself: its egress policy, a missing binding, shutting down.
    Gateway,
}

impl ErrorKind {
    /// Where an error of this kind comes from unless its maker says otherwise.
    pub fn source(self) -> ErrorSource {
        match self {
            ErrorKind::InvalidArgument
            | ErrorKind::PermissionDenied
            | ErrorKind::NotFound
            | ErrorKind::AlreadyExists
            | ErrorKind::FailedPrecondition
            | ErrorKind::RateLimited
            | ErrorKind::Unsupported => ErrorSource::Client,
            ErrorKind::Unauthenticated
            | ErrorKind::QuotaExceeded
            | ErrorKind::Unavailable
            | ErrorKind::Timeout
            | ErrorKind::VendorInternal => ErrorSource::Vendor,
            ErrorKind::PluginFault => ErrorSource::Plugin,
            ErrorKind::Denied => ErrorSource::Gateway,
        }
    }
}

/// The answer a provider that fails open (`[providers.failure] mode = "open"`) gives instead
/// of a plugin's failure: decided by the core, sent by every front.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Degraded {
    /// The HTTP status (`open_status`).
    pub status: u16,
    /// The JSON body (`open_body`).
    pub body: String,
}

/// An error the API reports: a normalized kind plus whatever the vendor said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiError {
    /// The normalized kind.
    pub kind: ErrorKind,
    /// What went wrong and how to fix it. Never holds secret material.
    pub detail: String,
    /// The provider instance involved, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The vendor's own error code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor_code: Option<String>,
    /// The vendor's own error message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor_message: Option<String>,
    /// The vendor's request id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor_request_id: Option<String>,
    /// Whether the same request may succeed later.
    pub retryable: bool,
    /// Seconds to wait before retrying, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u32>,
    /// Where it came from (by default its kind's [`ErrorKind::source`]).
    #[serde(skip)]
    pub source: ErrorSource,
    /// The degraded answer to send instead, when its provider fails open and the plugin is
    /// at fault (set by the core).
    #[serde(skip)]
    pub degraded: Option<Degraded>,
}

impl ApiError {
    /// An error of `kind` with `detail` and nothing from a vendor.
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
            provider: None,
            vendor_code: None,
            vendor_message: None,
            vendor_request_id: None,
            retryable: matches!(
                kind,
                ErrorKind::RateLimited | ErrorKind::Unavailable | ErrorKind::Timeout
            ),
            retry_after_secs: None,
            source: kind.source(),
            degraded: None,
        }
    }

    /// `invalid-argument` with `detail`.
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, detail)
    }

    /// `plugin-fault` with `detail`.
    pub fn plugin_fault(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::PluginFault, detail)
    }

    /// Says where it came from.
    pub fn with_source(mut self, source: ErrorSource) -> Self {
        self.source = source;
        self
    }

    /// Sets the provider instance.
    pub fn with_provider(mut self, provider: &str) -> Self {
        self.provider = Some(provider.to_string());
        self
    }

    /// The `application/problem+json` document for this error.
    pub fn to_problem(&self) -> serde_json::Value {
        let mut doc = serde_json::json!({
            "type": format!("https://ingest-gateway.dev/problems/{}", self.kind.as_str()),
            "title": self.kind.title(),
            "status": self.kind.http_status(),
            "detail": self.detail,
            "kind": self.kind.as_str(),
            "retryable": self.retryable,
        });
        if let Some(map) = doc.as_object_mut() {
            for (key, value) in [
                ("provider", &self.provider),
                ("vendor_code", &self.vendor_code),
                ("vendor_message", &self.vendor_message),
                ("vendor_request_id", &self.vendor_request_id),
            ] {
                if let Some(v) = value {
                    map.insert(key.to_string(), serde_json::Value::String(v.clone()));
                }
            }
            if let Some(secs) = self.retry_after_secs {
                map.insert("retry_after_secs".to_string(), secs.into());
            }
        }
        doc
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.detail)?;
        if let Some(code) = &self.vendor_code {
            write!(f, " (vendor code {code})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

/// A configuration problem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The TOML is malformed or has an unknown key or a wrong type.
    #[error("config: {0}")]
    Parse(String),
    /// Values that parse but make no sense, each with its path.
    #[error("config has {} problem(s):\n  - {}", .0.len(), .0.join("\n  - "))]
    Invalid(Vec<String>),
    /// A secret could not be read from its source.
    #[error("secret `{name}` of {owner}: {source}")]
    Secret {
        /// Whose secret: `provider `x``, `the gateway`, `tenant `t``, `the admin API`.
        owner: String,
        /// Secret name.
        name: String,
        /// Why (never the value).
        #[source]
        source: SourceError,
    },
    /// A plugin could not be found or loaded.
    #[error("provider `{provider}`: {source}")]
    Plugin {
        /// Provider id.
        provider: String,
        /// Why.
        #[source]
        source: PluginFileError,
    },
    /// A provider's config does not fit what its plugin says it needs.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// The wasm engine could not be built from `[runtime]`.
    #[error("runtime: {0:#}")]
    Runtime(anyhow::Error),
    /// A listener could not be bound.
    #[error("{what}: cannot listen on {addr}: {source}")]
    Listen {
        /// Which setting (`admin.listen`, `gateway.listen` …).
        what: &'static str,
        /// The address.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Why a secret source (`env`, `file`, inline `value`) gave no bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The environment variable is not set (or not UTF-8).
    #[error("environment variable `{0}` is not set")]
    EnvUnset(String),
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The value is shorter than the setting needs.
    #[error("must be at least {0} bytes")]
    TooShort(usize),
}

/// Why a provider's plugin file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginFileError {
    /// A plugin named without a path, and no plugin directory configured.
    #[error(
        "plugin `{0}` is a name, but no gateway.plugin_dir is configured; set plugin_dir or give a path to a .wasm file"
    )]
    NoPluginDir(String),
    /// No file found for the name.
    #[error("plugin `{name}` not found: looked for {} (build the plugins with scripts/build-plugins)", .candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" and "))]
    NotFound {
        /// The plugin name.
        name: String,
        /// The paths tried.
        candidates: Vec<PathBuf>,
    },
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The component does not compile or does not match the world.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Its source refused it (an unsigned or wrongly signed component, a registry that
    /// cannot be reached and no cached copy, a digest that does not match): the reason.
    #[error("{0}")]
    Source(String),
}

/// Why a component could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// Not a wasm component, or it failed to compile.
    #[error("`{name}` is not a valid WebAssembly component: {reason}")]
    Compile {
        /// Plugin name.
        name: String,
        /// Why.
        reason: String,
    },
    /// A component, but not one of the `adapter-plugin` world.
    #[error("`{name}` does not match the ingest:provider/adapter-plugin@{contract} world:\n  - {}", .problems.join("\n  - "))]
    World {
        /// Plugin name.
        name: String,
        /// The contract version this host speaks.
        contract: &'static str,
        /// Each mismatch.
        problems: Vec<String>,
    },
}

/// Why a provider could not be bound to a plugin version: `describe` failed, or the
/// provider's config and secrets do not fit what the plugin says it needs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BindError {
    /// `describe` failed or returned the wrong shape.
    #[error("provider `{provider}`: plugin `{plugin}` failed in describe: {source}")]
    Describe {
        /// Provider id.
        provider: String,
        /// Plugin name.
        plugin: String,
        /// The call's error.
        #[source]
        source: ApiError,
    },
    /// Each way the config misses what the plugin needs.
    #[error("{}", .problems.iter().map(|p| format!("provider `{provider}`: {p}")).collect::<Vec<_>>().join("; "))]
    Mismatch {
        /// Provider id.
        provider: String,
        /// Each problem, with its fix.
        problems: Vec<String>,
    },
}

/// What kind of fault ended a plugin call (`ingest_plugin_faults_total{fault}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FaultKind {
    /// A step ran past its CPU budget.
    Deadline,
    /// Stack overflow (the host's wasm stack or the plugin's shadow stack).
    Stack,
    /// `unreachable`: a panic or abort in the plugin.
    Panic,
    /// The instance's memory cap was hit.
    Memory,
    /// A host-enforced bound on output or requests.
    Limit,
    /// Any other trap or host error.
    Other,
}

impl FaultKind {
    /// The label value in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Deadline => "deadline",
            FaultKind::Stack => "stack",
            FaultKind::Panic => "panic",
            FaultKind::Memory => "memory",
            FaultKind::Limit => "limit",
            FaultKind::Other => "other",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_carries_every_field() {
        let mut e = ApiError::new(ErrorKind::RateLimited, "slow down");
        e.provider = Some("trtc".into());
        e.vendor_code = Some("RequestLimitExceeded".into());
        e.vendor_request_id = Some("r-1".into());
        e.retry_after_secs = Some(3);
        let p = e.to_problem();
        assert_eq!(p["status"], 429);
        assert_eq!(p["kind"], "rate-limited");
        assert_eq!(p["provider"], "trtc");
        assert_eq!(p["vendor_code"], "RequestLimitExceeded");
        assert_eq!(p["vendor_request_id"], "r-1");
        assert_eq!(p["retryable"], true);
        assert_eq!(p["retry_after_secs"], 3);
        assert!(
            p["type"]
                .as_str()
                .is_some_and(|t| t.ends_with("/rate-limited"))
        );
    }
}
