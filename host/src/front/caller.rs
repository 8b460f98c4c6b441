//! Who is calling a route, and so which tenant it acts for: the one extractor every route of
//! [`ROUTES`](super::api::ROUTES) goes through (the buffered routes in `api::route`, the event
//! stream in `api::stream_route`), so a tenant is found, refused, recorded in the request's log
//! span and admitted under its limits in one place.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Response};

use super::response::{problem_response, unauthorized};
use crate::core::tenants::TenantPermit;
use crate::core::{Gateway, Tenant};
use crate::error::{ApiError, ErrorKind};

/// How a route finds its tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Caller {
    /// Anyone: health probes carry no key and act for no tenant.
    Anyone,
    /// The tenant whose API key the request carries, admitted under its limits
    /// (`max_concurrent` counts the request until it is answered).
    KeyHolder,
    /// The tenant whose API key the request carries, not counted against `max_concurrent`:
    /// an event stream stays open for hours and would hold a turn all that time.
    Subscriber,
    /// A vendor calling back, on the URL the tenant gave it: the tenant is the path's second
    /// segment (`/v1/callbacks/{provider}/{tenant}`), the plugin verifies the vendor's
    /// signature, no API key is involved.
    Vendor,
}

impl Caller {
    /// Whether the route is answered without an API key.
    pub(super) fn is_open(self) -> bool {
        matches!(self, Caller::Anyone | Caller::Vendor)
    }
}

/// The tenant a request acts for (none with authentication off, or on an open route), and
/// its turn under the tenant's limits, held until the answer.
#[derive(Default)]
pub(super) struct Admitted {
    pub(super) tenant: Option<Arc<Tenant>>,
    pub(super) permit: Option<TenantPermit>,
}

/// The tenant of a request to a route of `caller`'s kind (`params`: the path's parameters),
/// or the answer refusing it: `401` for a missing or unknown key, `429` for a tenant over its
/// limits, `404` for a callback to no tenant.
pub(super) fn extract(
    gateway: &Gateway,
    caller: Caller,
    headers: &HeaderMap,
    params: &[&str],
) -> Result<Admitted, Response<Bytes>> {
    let tenant = match caller {
        Caller::Anyone => None,
        Caller::KeyHolder | Caller::Subscriber => gateway
            .authenticate(headers)
            .map_err(|e| unauthorized(&e))?,
        Caller::Vendor => named_in_path(gateway, params)?,
    };
    let Some(tenant) = tenant else {
        return Ok(Admitted::default());
    };
    tracing::Span::current().record("tenant", tenant.id.as_str());
    let permit = match caller {
        Caller::KeyHolder => match tenant.admit() {
            Ok(p) => Some(p),
            Err((limit, e)) => {
                gateway.metrics().tenant_limited(&tenant.id, limit.as_str());
                return Err(problem_response(&e));
            }
        },
        Caller::Anyone | Caller::Subscriber | Caller::Vendor => None,
    };
    Ok(Admitted {
        tenant: Some(tenant),
        permit,
    })
}

/// The tenant a callback's path names (`params`: provider, then the tenant when present).
fn named_in_path(
    gateway: &Gateway,
    params: &[&str],
) -> Result<Option<Arc<Tenant>>, Response<Bytes>> {
    let provider = params.first().copied().unwrap_or_default();
    match (params.get(1), gateway.auth_off()) {
        (Some(id), _) => gateway.tenant(id).map(Some).ok_or_else(|| {
            problem_response(&ApiError::new(
                ErrorKind::NotFound,
                format!("no tenant `{id}`"),
            ))
        }),
        (None, false) => Err(problem_response(&ApiError::new(
            ErrorKind::NotFound,
            format!("callbacks are received on /v1/callbacks/{provider}/{{tenant}}"),
        ))),
        (None, true) => Ok(None),
    }
}
