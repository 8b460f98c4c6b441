//! The host's vendor HTTP client: one pooled client per provider, owned by the host (contract
//! 0.2: plugins return vendor requests as values; the host sends them).
//!
//! - **Keep-alive for `http` and `https`**, HTTP/2 where the vendor offers it (ALPN `h2`,
//!   falling back to HTTP/1.1), idle connections dropped after [`IDLE_TIMEOUT`].
//! - **TLS** with rustls on the `ring` provider only (passed explicitly, so no process-wide
//!   default is needed), the bundled webpki roots, plus the provider's `ca_file` (PEM) for a
//!   private CA or a test CA.
//! - **The name is resolved once per new connection, and the connection goes to the address
//!   that was checked**: the connector's resolver is [`CheckedResolver`], which refuses
//!   loopback and private addresses unless the provider allows them. There is no second lookup
//!   for TLS to race against (no DNS-rebinding window). IP-literal hosts skip resolvers, so
//!   [`VendorClient::check_literal`] checks them before the request is handed over.
//! - **Never a blind re-send.** The pool re-sends a request only when it provably never left
//!   (a pooled connection found closed before the request was written, hyper's
//!   `retry_canceled_requests`); the egress layer repeats a request after a broken exchange
//!   only when the plugin marked it idempotent.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// How long an idle connection stays in a provider's pool. Shorter than common server
/// keep-alive timeouts, so a connection the server is closing is rarely taken.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Most idle connections kept per vendor host.
pub const MAX_IDLE_PER_HOST: usize = 256;

/// Why a vendor client could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The `ca_file` could not be read or holds no certificate.
    #[error("egress.ca_file `{path}`: {reason}")]
    CaFile {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Tls(String),
}

/// The resolver's refusal of a loopback or private address: surfaced by the egress layer as
/// `denied`, before any connection was made.
#[derive(Debug, thiserror::Error)]
#[error(
    "{host} resolves to {ip}, a loopback or private address; set `allow_private = true` for provider `{provider}` only if that is intended"
)]
pub struct PrivateAddress {
    host: String,
    ip: IpAddr,
    provider: Arc<str>,
}

/// A DNS resolver that returns only addresses the provider's policy allows: the connector then
/// connects to exactly those.
#[derive(Clone)]
pub struct CheckedResolver {
    provider: Arc<str>,
    allow_private: bool,
    timeout: Duration,
}

type Addrs = std::vec::IntoIter<SocketAddr>;
type Resolving = Pin<Box<dyn Future<Output = Result<Addrs, std::io::Error>> + Send>>;

impl tower_service::Service<Name> for CheckedResolver {
    type Response = Addrs;
    type Error = std::io::Error;
    type Future = Resolving;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let lookup = tokio::net::lookup_host((host.as_str(), 0));
            let addrs: Vec<SocketAddr> = match tokio::time::timeout(this.timeout, lookup).await {
                Ok(Ok(addrs)) => addrs.collect(),
                Ok(Err(e)) => {
                    return Err(std::io::Error::new(
                        e.kind(),
                        format!("cannot resolve {host}: {e}"),
                    ));
                }
                Err(_) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("resolving {host} timed out"),
                    ));
                }
            };
            if !this.allow_private
                && let Some(bad) = addrs.iter().find(|a| is_non_public(a.ip()))
            {
                return Err(std::io::Error::other(PrivateAddress {
                    host,
                    ip: bad.ip(),
                    provider: this.provider.clone(),
                }));
            }
            if addrs.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{host} has no addresses"),
                ));
            }
            Ok(addrs.into_iter())
        })
    }
}

type Connector = HttpsConnector<HttpConnector<CheckedResolver>>;

/// One provider's pooled vendor client.
#[derive(Clone)]
pub struct VendorClient {
    client: Client<Connector, Full<Bytes>>,
    provider: Arc<str>,
    allow_private: bool,
}

impl std::fmt::Debug for VendorClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VendorClient")
            .field("provider", &self.provider)
            .field("allow_private", &self.allow_private)
            .finish_non_exhaustive()
    }
}

/// What a [`VendorClient`] is built from.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Provider id, for messages.
    pub provider: String,
    /// Whether loopback and private addresses may be reached.
    pub allow_private: bool,
    /// Connect timeout (name lookup and TCP connect each).
    pub connect_timeout: Duration,
    /// Extra trust roots, PEM.
    pub ca_file: Option<std::path::PathBuf>,
}

impl VendorClient {
    /// Builds the client: reads `ca_file`, sets up TLS and the pool. No connection is made.
    pub fn new(settings: &ClientSettings) -> Result<Self, ClientError> {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if let Some(path) = &settings.ca_file {
            let ca_error = |reason: String| ClientError::CaFile {
                path: path.display().to_string(),
                reason,
            };
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| ca_error(e.to_string()))?
                .collect::<Result<_, _>>()
                .map_err(|e| ca_error(e.to_string()))?;
            if certs.is_empty() {
                return Err(ca_error("no PEM certificate in the file".to_string()));
            }
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| ca_error(format!("not a usable CA certificate: {e}")))?;
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();

        let provider: Arc<str> = Arc::from(settings.provider.as_str());
        let resolver = CheckedResolver {
            provider: provider.clone(),
            allow_private: settings.allow_private,
            timeout: settings.connect_timeout,
        };
        let mut http = HttpConnector::new_with_resolver(resolver);
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(settings.connect_timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(IDLE_TIMEOUT)
            .pool_max_idle_per_host(MAX_IDLE_PER_HOST)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(https);
        Ok(Self {
            client,
            provider,
            allow_private: settings.allow_private,
        })
    }

    /// A refusal for an IP-literal host the policy does not allow (resolvers never see those).
    pub fn check_literal(&self, host: &str) -> Option<String> {
        let ip: IpAddr = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .ok()?;
        (!self.allow_private && is_non_public(ip)).then(|| {
            format!(
                "{ip} is a loopback or private address; set `allow_private = true` for provider `{}` only if that is intended",
                self.provider
            )
        })
    }

    /// Sends one request on the pool and returns the response head and body stream.
    pub async fn send(
        &self,
        request: http::Request<Full<Bytes>>,
    ) -> Result<http::Response<hyper::body::Incoming>, SendFailure> {
        self.client
            .request(request)
            .await
            .map_err(|e| SendFailure::classify(&e))
    }
}

/// Why a request got no response from the pool.
#[derive(Debug, Clone)]
pub enum SendFailure {
    /// The resolver refused the address (no connection was made).
    Refused(String),
    /// The name lookup or the TCP connect did not finish within the connect timeout.
    ConnectTimeout(String),
    /// No connection could be made (name, connect, TLS), or it broke; `connected` says whether
    /// the request may have reached the vendor.
    Transport {
        /// The reason, with the TLS or socket error.
        reason: String,
        /// Whether the connection was established (the request may have been received).
        connected: bool,
    },
}

impl SendFailure {
    fn classify(e: &hyper_util::client::legacy::Error) -> Self {
        let mut reasons: Vec<String> = Vec::new();
        let mut refused = None;
        let mut timed_out = false;
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = source {
            if let Some(io) = err.downcast_ref::<std::io::Error>() {
                timed_out |= io.kind() == std::io::ErrorKind::TimedOut;
                if let Some(p) = io
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<PrivateAddress>())
                {
                    refused = Some(p.to_string());
                }
            }
            let text = err.to_string();
            if !reasons.iter().any(|r| r.contains(&text)) {
                reasons.push(text);
            }
            source = err.source();
        }
        if let Some(reason) = refused {
            return SendFailure::Refused(reason);
        }
        if e.is_connect() && timed_out {
            return SendFailure::ConnectTimeout(reasons.join(": "));
        }
        SendFailure::Transport {
            reason: reasons.join(": "),
            connected: !e.is_connect(),
        }
    }
}

/// Whether `ip` is loopback, private, link-local, unspecified or otherwise not public.
pub fn is_non_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1])) // shared address space (CGNAT)
                || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
                || (o[0] == 198 && (o[1] == 18 || o[1] == 19)) // benchmarking
                || o[0] >= 240 // reserved
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_non_public(IpAddr::V4(v4));
            }
            let seg = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00 // unique local
                || (seg[0] & 0xffc0) == 0xfe80 // link local
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_public_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.1.1",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_non_public(ip.parse().expect("ip")), "{ip}");
        }
        for ip in ["1.1.1.1", "203.0.114.1", "2606:4700::1111"] {
            assert!(!is_non_public(ip.parse().expect("ip")), "{ip}");
        }
    }
}
