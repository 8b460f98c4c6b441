//! Tenants: API clients identified by the SHA-256 of their key, each granted some providers
//! and optionally a webhook for its events.

use std::sync::Arc;

use subtle::ConstantTimeEq;

use super::Gateway;
use super::events::Webhook;
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
}

impl Tenant {
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
                Some(w) => Some(Arc::new(Webhook {
                    url: w.url.clone(),
                    secret: zeroize::Zeroizing::new(w.secret.read_key(1).map_err(|source| {
                        ConfigError::Secret {
                            owner: format!("tenant `{}`", t.id),
                            name: "webhook.secret".into(),
                            source,
                        }
                    })?),
                    max_attempts: w.max_attempts,
                })),
                None => None,
            };
            Ok(Arc::new(Tenant {
                id: t.id.clone(),
                key_sha256: key,
                providers: t.providers.clone(),
                webhook,
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
        if self.auth == AuthMode::Off {
            return Ok(None);
        }
        let refuse = |why: &str| ApiError::new(ErrorKind::PermissionDenied, why.to_string());
        let key = bearer(headers)
            .ok_or_else(|| refuse("this API needs `Authorization: Bearer <tenant API key>`"))?;
        use sha2::Digest;
        let presented: [u8; 32] = sha2::Sha256::digest(key).into();
        // Compare against every tenant so the time taken does not depend on which matched.
        let mut found = None;
        for t in &self.tenants {
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
        self.auth == AuthMode::Off
    }

    /// A tenant by id.
    pub fn tenant(&self, id: &str) -> Option<Arc<Tenant>> {
        self.tenants.iter().find(|t| t.id == id).cloned()
    }

    /// The providers `tenant` may use (all when authentication is off).
    pub fn providers_for<'a>(
        &'a self,
        tenant: Option<&'a Tenant>,
    ) -> impl Iterator<Item = &'a Arc<super::Provider>> + 'a {
        self.providers
            .values()
            .filter(move |p| tenant.is_none_or(|t| t.granted(&p.id)))
    }
}
