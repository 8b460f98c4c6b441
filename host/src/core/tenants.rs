//! Tenants: API clients identified by the SHA-256 of their key, each granted some providers
//! and optionally a webhook for its events.

use std::sync::Arc;

use subtle::ConstantTimeEq;

use super::Gateway;
use super::events::Webhook;
use super::events::webhook::parse_secret;
use super::quota::{retry_after_secs, wait_of};
use crate::config::{AuthMode, Config};
use crate::error::{ApiError, ConfigError, ErrorKind};

/// An authenticated API client.
#[derive(Debug)]
pub struct Tenant {
    /// Tenant id.
    pub id: String,
    key_sha256: [u8; 32],
    providers: Vec<String>,
    /// Where its events go.
    pub webhook: Option<Arc<Webhook>>,
    /// Its request rate (`rate`), if limited.
    rate: Option<governor::DefaultDirectRateLimiter>,
    /// Its requests in flight (`max_concurrent`), if limited.
    in_flight: Option<Arc<tokio::sync::Semaphore>>,
    max_concurrent: u32,
    /// Its turns on the plugin threads: steps of its calls that may run at once
    /// (`runtime.tenant_plugin_share` of the threads), so its plugins cannot take them all.
    pub(crate) plugin_turns: Arc<tokio::sync::Semaphore>,
}

/// Held while one of a tenant's requests is in flight.
#[derive(Debug)]
pub struct TenantPermit(#[allow(dead_code)] Option<tokio::sync::OwnedSemaphorePermit>);

/// Which of a tenant's limits refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantLimit {
    /// `rate`.
    Rate,
    /// `max_concurrent`.
    Concurrency,
}

impl TenantLimit {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rate => "rate",
            Self::Concurrency => "concurrency",
        }
    }
}

impl Tenant {
    /// Admits one API request under the tenant's limits, or says which one refused it (the
    /// `rate-limited` error with `Retry-After`). The permit is held until the answer.
    pub fn admit(&self) -> Result<TenantPermit, (TenantLimit, ApiError)> {
        if let Some(rate) = &self.rate
            && let Err(not_until) = rate.check()
        {
            let secs = retry_after_secs(wait_of(&not_until));
            let mut e = ApiError::new(
                ErrorKind::RateLimited,
                format!(
                    "tenant `{}` is over its request rate (`rate` of its [[tenants]] entry); retry in {secs} s",
                    self.id
                ),
            );
            e.retry_after_secs = Some(secs);
            return Err((TenantLimit::Rate, e));
        }
        match &self.in_flight {
            None => Ok(TenantPermit(None)),
            Some(slots) => match slots.clone().try_acquire_owned() {
                Ok(p) => Ok(TenantPermit(Some(p))),
                Err(_) => {
                    let mut e = ApiError::new(
                        ErrorKind::RateLimited,
                        format!(
                            "tenant `{}` already has {} requests in flight (`max_concurrent` of its [[tenants]] entry); retry when one has answered",
                            self.id, self.max_concurrent
                        ),
                    );
                    e.retry_after_secs = Some(1);
                    Err((TenantLimit::Concurrency, e))
                }
            },
        }
    }

    /// Whether this tenant may use provider `id`.
    pub fn granted(&self, provider: &str) -> bool {
        self.providers.iter().any(|p| p == "*" || p == provider)
    }
}

/// The configured tenants, their webhook secrets read.
pub(crate) fn tenants_from(config: &Config) -> Result<Vec<Arc<Tenant>>, ConfigError> {
    if config.gateway.auth == AuthMode::Off {
        tracing::warn!(
            "gateway.auth = \"off\": the API is open to anyone who can reach it (demos and tests only)"
        );
    } else if config.tenants.is_empty() {
        tracing::warn!(
            "no [[tenants]] configured: every API call will be refused until one is added"
        );
    }
    config
        .tenants
        .iter()
        .map(|t| {
            let mut key = [0u8; 32];
            hex::decode_to_slice(&t.api_key_sha256, &mut key).map_err(|_| {
                ConfigError::Invalid(vec![format!(
                    "tenant `{}`: api_key_sha256 is not 64 hex digits",
                    t.id
                )])
            })?;
            let webhook = match &t.webhook {
                Some(w) => {
                    let secret =
                        zeroize::Zeroizing::new(w.secret.read_key(1).map_err(|source| {
                            ConfigError::Secret {
                                owner: format!("tenant `{}`", t.id),
                                name: "webhook.secret".into(),
                                source,
                            }
                        })?);
                    let key = parse_secret(&secret).map_err(|why| {
                        ConfigError::Invalid(vec![format!(
                            "tenant `{}`: webhook.secret: {why}",
                            t.id
                        )])
                    })?;
                    Some(Arc::new(Webhook {
                        url: w.url.clone(),
                        key,
                    }))
                }
                None => None,
            };
            let rate = t.rate.and_then(std::num::NonZeroU32::new).map(|r| {
                governor::DefaultDirectRateLimiter::direct(governor::Quota::per_second(r))
            });
            Ok(Arc::new(Tenant {
                id: t.id.clone(),
                key_sha256: key,
                providers: t.providers.clone(),
                webhook,
                rate,
                in_flight: t
                    .max_concurrent
                    .map(|n| Arc::new(tokio::sync::Semaphore::new(n as usize))),
                max_concurrent: t.max_concurrent.unwrap_or(0),
                plugin_turns: Arc::new(tokio::sync::Semaphore::new(
                    config.runtime.steps_per_tenant(),
                )),
            }))
        })
        .collect()
}

/// The bytes after `Bearer ` in an `Authorization` header, if any.
pub fn bearer(headers: &http::HeaderMap) -> Option<&[u8]> {
    headers
        .get(http::header::AUTHORIZATION)?
        .as_bytes()
        .strip_prefix(b"Bearer ")
}

impl Gateway {
    /// Who is calling: the tenant whose API key is in `Authorization: Bearer …` (compared as
    /// SHA-256 digests in constant time), or nobody when authentication is off.
    pub fn authenticate(&self, headers: &http::HeaderMap) -> Result<Option<Arc<Tenant>>, ApiError> {
        let live = self.live();
        if live.auth == AuthMode::Off {
            return Ok(None);
        }
        let refuse = |why: &str| ApiError::new(ErrorKind::PermissionDenied, why.to_string());
        let key = bearer(headers)
            .ok_or_else(|| refuse("this API needs `Authorization: Bearer <tenant API key>`"))?;
        use sha2::Digest;
        let presented: [u8; 32] = sha2::Sha256::digest(key).into();
        // Compare against every tenant so the time taken does not depend on which matched.
        let mut found = None;
        for t in &live.tenants {
            if bool::from(t.key_sha256.ct_eq(&presented)) {
                found = Some(t.clone());
            }
        }
        found
            .map(Some)
            .ok_or_else(|| refuse("the API key is not valid"))
    }

    /// Whether authentication is off.
    pub fn auth_off(&self) -> bool {
        self.live().auth == AuthMode::Off
    }

    /// A tenant by id.
    pub fn tenant(&self, id: &str) -> Option<Arc<Tenant>> {
        self.live().tenants.iter().find(|t| t.id == id).cloned()
    }

    /// The providers `tenant` may use (all when authentication is off).
    pub fn providers_for(&self, tenant: Option<&Tenant>) -> Vec<Arc<super::Provider>> {
        self.live()
            .providers
            .values()
            .filter(|p| tenant.is_none_or(|t| t.granted(&p.id)))
            .cloned()
            .collect()
    }
}
