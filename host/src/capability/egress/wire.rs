//! The live path: a recorded request made ready for the provider's pooled client (values in
//! place of tokens, the body framed by the host), sent (once more when it broke and the plugin
//! marked it idempotent), and its answer read up to the policy's cap.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use types::TransportError as T;

use super::super::call_log::{SharedCallLog, Substitution};
use super::super::vendor::{SendFailure, VendorClient};
use super::placeholders::{percent_encode, substitute, utf8};
use super::policy::EgressPolicy;
use crate::config::HostPort;
use crate::contract::types;

/// A live request ready for the provider's client: placeholder values in the URL (encoded)
/// and body, the body framed by the host.
pub(super) struct Wire<'a> {
    client: &'a VendorClient,
    method: http::Method,
    uri: http::Uri,
    headers: http::HeaderMap,
    body: Bytes,
    idempotent: bool,
}

impl Wire<'_> {
    fn request(&self) -> http::Request<Full<Bytes>> {
        let mut r = http::Request::new(Full::new(self.body.clone()));
        *r.method_mut() = self.method.clone();
        *r.uri_mut() = self.uri.clone();
        *r.headers_mut() = self.headers.clone();
        r
    }
}

pub(super) fn wire_request<'a>(
    policy: &'a EgressPolicy,
    call_log: &SharedCallLog,
    target: &HostPort,
    method: http::Method,
    mut headers: http::HeaderMap,
    subs: &[Substitution],
    request: types::VendorRequest,
) -> Result<Wire<'a>, T> {
    let real_url = substitute(&request.url, subs, |s| percent_encode(&s.value));
    let body = if subs.is_empty() {
        Bytes::from(request.body)
    } else {
        Bytes::from(substitute(&utf8(&request.body), subs, |s| utf8(&s.value)).into_bytes())
    };
    let Ok(uri) = real_url.parse::<http::Uri>() else {
        return Err(T::Denied(
            call_log.deny("the URL is invalid after substitution".to_string()),
        ));
    };
    let Some(client) = policy.client.as_ref() else {
        return Err(T::Denied(call_log.deny(format!(
            "provider `{}` has no vendor client (describe and checks make no requests)",
            policy.provider
        ))));
    };
    if let Some(reason) = client.check_literal(&target.host) {
        return Err(T::Denied(call_log.deny(reason)));
    }
    if !body.is_empty()
        || method == http::Method::POST
        || method == http::Method::PUT
        || method == http::Method::PATCH
    {
        headers.insert(
            http::header::CONTENT_LENGTH,
            http::HeaderValue::from(body.len()),
        );
    }
    Ok(Wire {
        client,
        method,
        uri,
        headers,
        body,
        idempotent: request.idempotent,
    })
}

/// One exchange on the pool, the response body read up to the policy's cap. A broken
/// exchange is repeated once, and only when the plugin marked the request idempotent.
pub(super) async fn exchange(
    policy: &EgressPolicy,
    call_log: &SharedCallLog,
    target: &HostPort,
    wire: &Wire<'_>,
) -> Result<(http::response::Parts, Bytes), T> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let failure = match wire.client.send(wire.request()).await {
            Ok(response) => return read_body(policy, call_log, target, response).await,
            Err(failure) => failure,
        };
        match failure {
            SendFailure::Refused(reason) => return Err(T::Denied(call_log.deny(reason))),
            SendFailure::ConnectTimeout(reason) => {
                return Err(T::Timeout(call_log.fail(format!(
                    "ConnectionTimeout: no connection to {target} within {} ms ({reason})",
                    policy.connect_timeout.as_millis()
                ))));
            }
            SendFailure::Transport { reason, connected } => {
                // A request that may have reached the vendor is repeated only when the plugin
                // said it is idempotent (a request that never left was already re-sent by
                // the pool when that was possible).
                if attempt == 1 && connected && wire.idempotent {
                    tracing::debug!(%target, %reason, "vendor request failed; sending it once more");
                    continue;
                }
                return Err(T::Unreachable(
                    call_log.fail(format!("request to {target} failed: {reason}")),
                ));
            }
        }
    }
}

pub(super) async fn read_body(
    policy: &EgressPolicy,
    call_log: &SharedCallLog,
    target: &HostPort,
    response: http::Response<hyper::body::Incoming>,
) -> Result<(http::response::Parts, Bytes), T> {
    let (head, body) = response.into_parts();
    match Limited::new(body, policy.max_response_bytes)
        .collect()
        .await
    {
        Ok(c) => Ok((head, c.to_bytes())),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(T::TooLarge(call_log.fail(format!(
                "the response from {target} exceeded {} bytes",
                policy.max_response_bytes
            ))))
        }
        Err(e) => Err(T::Unreachable(
            call_log.fail(format!("reading the response from {target} failed: {e}")),
        )),
    }
}
