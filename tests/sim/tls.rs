//! TLS for the simulators: a throw-away certificate authority made at run time, a server
//! certificate it signs, and a small https client for simulator tests.
//!
//! Nothing here is a committed key: every [`TestCa`] and [`TestTls`] is generated with `rcgen`
//! when it is made, lives in memory, and leaves only its CA *certificate* (never a key) in a
//! temporary PEM file, removed again when the value is dropped. That file is what a gateway
//! provider's `[providers.egress] ca_file` points at.
//!
//! The rustls configurations use the `ring` crypto provider explicitly
//! (`*Config::builder_with_provider`), so no process-wide default provider is needed.
//!
//! ```no_run
//! # async fn demo(handler: std::sync::Arc<dyn ingest_sim::server::VendorHandler>) -> anyhow::Result<()> {
//! use ingest_sim::server::SimServer;
//! use ingest_sim::tls::TestTls;
//!
//! let tls = TestTls::new()?;
//! let server = SimServer::start_tls(handler, &tls).await?;
//! let endpoint = server.url_with_host("localhost"); // https://localhost:PORT
//! let ca_file = tls.ca_file(); // for `[providers.egress] ca_file`
//! # let _ = (endpoint, ca_file);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context as _;
use bytes::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::net::TcpStream;

use crate::server::SimResponse;

/// ALPN protocol id of HTTP/2.
pub const ALPN_H2: &[u8] = b"h2";
/// ALPN protocol id of HTTP/1.1.
pub const ALPN_HTTP11: &[u8] = b"http/1.1";
/// What [`TestTls::server_config`] offers and [`TestCa::client_config`] asks for by default:
/// HTTP/2 first, then HTTP/1.1.
pub const ALPN_DEFAULT: &[&[u8]] = &[ALPN_H2, ALPN_HTTP11];

/// The names the server certificate of a [`TestTls`] is valid for.
pub const SERVER_NAMES: &[&str] = &["localhost", "127.0.0.1", "::1"];

/// The `ring` crypto provider, chosen explicitly for every configuration made here.
fn ring() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A throw-away certificate authority: its key lives only in memory; its certificate is also
/// written to a temporary PEM file ([`TestCa::pem_path`]), removed when the CA is dropped.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    pem: String,
    pem_path: PathBuf,
}

impl fmt::Debug for TestCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestCa")
            .field("pem_path", &self.pem_path)
            .finish_non_exhaustive()
    }
}

impl TestCa {
    /// Makes a new CA (a fresh P-256 key and a self-signed CA certificate) and writes its
    /// certificate to a new temporary PEM file. Two CAs made this way are unrelated: neither
    /// trusts what the other signs.
    pub fn new() -> anyhow::Result<Self> {
        static SERIAL: AtomicUsize = AtomicUsize::new(0);
        let serial = SERIAL.fetch_add(1, Ordering::SeqCst);

        let mut params = CertificateParams::new(Vec::<String>::new()).context("CA parameters")?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.distinguished_name.push(
            DnType::CommonName,
            format!("Ingest Gateway simulator test CA {serial}"),
        );
        params
            .distinguished_name
            .push(DnType::OrganizationName, "ingest-sim (throw-away)");
        let key = KeyPair::generate().context("generating the CA key")?;
        let issuer = CertifiedIssuer::self_signed(params, key).context("self-signing the CA")?;
        let pem = issuer.pem();

        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let pem_path = std::env::temp_dir().join(format!(
            "ingest-sim-ca-{}-{serial}-{nanos}.pem",
            std::process::id()
        ));
        std::fs::write(&pem_path, &pem)
            .with_context(|| format!("writing the test CA to {}", pem_path.display()))?;
        Ok(Self {
            issuer,
            pem,
            pem_path,
        })
    }

    /// The CA certificate, PEM-encoded.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// The CA certificate, DER-encoded.
    pub fn der(&self) -> &CertificateDer<'static> {
        self.issuer.der()
    }

    /// The temporary file holding [`TestCa::pem`]: the value for a provider's
    /// `[providers.egress] ca_file`. It exists as long as this CA does.
    pub fn pem_path(&self) -> &Path {
        &self.pem_path
    }

    /// A root store holding only this CA.
    pub fn root_store(&self) -> anyhow::Result<RootCertStore> {
        let mut roots = RootCertStore::empty();
        roots
            .add(self.der().clone())
            .context("adding the test CA to a root store")?;
        Ok(roots)
    }

    /// A client configuration (ring provider, safe default TLS versions) that trusts only this
    /// CA and offers the ALPN protocols `alpn` (for example [`ALPN_DEFAULT`], or
    /// `&[ALPN_HTTP11]` for an HTTP/1.1-only client).
    pub fn client_config(&self, alpn: &[&[u8]]) -> anyhow::Result<Arc<ClientConfig>> {
        let mut config = ClientConfig::builder_with_provider(ring())
            .with_safe_default_protocol_versions()
            .context("TLS versions for the client")?
            .with_root_certificates(self.root_store()?)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.pem_path);
    }
}

/// TLS material for one https simulator: a [`TestCa`] and a server certificate it signed for
/// [`SERVER_NAMES`] (`localhost`, `127.0.0.1`, `::1`).
pub struct TestTls {
    ca: TestCa,
    cert: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
}

impl fmt::Debug for TestTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestTls")
            .field("ca", &self.ca)
            .finish_non_exhaustive()
    }
}

impl TestTls {
    /// Makes a new CA and a server certificate signed by it.
    pub fn new() -> anyhow::Result<Self> {
        let ca = TestCa::new()?;
        let names: Vec<String> = SERVER_NAMES.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).context("server certificate names")?;
        params.is_ca = IsCa::ExplicitNoCa;
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().context("generating the server key")?;
        let cert = params
            .signed_by(&key, &ca.issuer)
            .context("signing the server certificate")?;
        Ok(Self {
            ca,
            cert: cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(key.serialize_der()),
        })
    }

    /// A second CA, unrelated to this one (for a client that trusts the wrong CA).
    pub fn unrelated_ca() -> anyhow::Result<TestCa> {
        TestCa::new()
    }

    /// The CA that signed the server certificate.
    pub fn ca(&self) -> &TestCa {
        &self.ca
    }

    /// The CA certificate's temporary PEM file (see [`TestCa::pem_path`]).
    pub fn ca_file(&self) -> &Path {
        self.ca.pem_path()
    }

    /// The server certificate, DER-encoded.
    pub fn server_cert(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// The server configuration [`SimServer::start_tls`](crate::server::SimServer::start_tls)
    /// uses: ring provider, safe default TLS versions, this certificate, ALPN `h2` and
    /// `http/1.1`.
    pub fn server_config(&self) -> anyhow::Result<Arc<ServerConfig>> {
        self.server_config_with_alpn(ALPN_DEFAULT)
    }

    /// Like [`TestTls::server_config`], offering only the ALPN protocols `alpn` (for example
    /// `&[ALPN_HTTP11]` for a vendor that speaks only HTTP/1.1, or `&[]` for no ALPN at all,
    /// which the simulator serves as HTTP/1.1).
    pub fn server_config_with_alpn(&self, alpn: &[&[u8]]) -> anyhow::Result<Arc<ServerConfig>> {
        let mut config = ServerConfig::builder_with_provider(ring())
            .with_safe_default_protocol_versions()
            .context("TLS versions for the server")?
            .with_no_client_auth()
            .with_single_cert(
                vec![self.cert.clone()],
                PrivateKeyDer::Pkcs8(self.key.clone_key()),
            )
            .context("server certificate and key")?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }

    /// A client configuration trusting only this CA, offering `h2` and `http/1.1`.
    pub fn client_config(&self) -> anyhow::Result<Arc<ClientConfig>> {
        self.ca.client_config(ALPN_DEFAULT)
    }
}

/// Sends one request over https to `addr` on a fresh connection, verifying the server as
/// `server_name` with `client`, and returns the answer: the TLS twin of
/// [`server::send`](crate::server::send). Speaks HTTP/2 if ALPN settles on `h2`, else
/// HTTP/1.1 (then adding `Host: server_name:PORT` unless `headers` has a `host`).
/// Fails on any TLS or transport problem; a TLS failure's message starts with
/// `TLS handshake`.
pub async fn send(
    addr: SocketAddr,
    server_name: &str,
    client: Arc<ClientConfig>,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> anyhow::Result<SimResponse> {
    let name = ServerName::try_from(server_name.to_owned())
        .with_context(|| format!("`{server_name}` is not a TLS server name"))?;
    let authority = if server_name.contains(':') {
        format!("[{server_name}]:{}", addr.port())
    } else {
        format!("{server_name}:{}", addr.port())
    };
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    let tls = tokio_rustls::TlsConnector::from(client)
        .connect(name, stream)
        .await
        .context("TLS handshake")?;
    let h2 = tls.get_ref().1.alpn_protocol() == Some(ALPN_H2);
    let io = TokioIo::new(tls);

    let mut request = hyper::Request::builder().method(method);
    if h2 {
        // HTTP/2 carries the authority in `:authority`, taken from an absolute URI.
        request = request.uri(format!("https://{authority}{path_and_query}"));
    } else {
        request = request.uri(path_and_query);
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
            request = request.header("host", authority.as_str());
        }
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(http_body_util::Full::new(body.into()))
        .context("building the request")?;

    if h2 {
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .context("HTTP/2 handshake")?;
        let driver = tokio::spawn(connection);
        let result = crate::server::exchange(sender.send_request(request)).await;
        driver.abort();
        result
    } else {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
            .await
            .context("HTTP/1 handshake")?;
        let driver = tokio::spawn(connection);
        let result = crate::server::exchange(sender.send_request(request)).await;
        driver.abort();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::SimServer;
    use crate::server::tests::Echo;

    async fn post(
        server: &SimServer,
        name: &str,
        client: Arc<ClientConfig>,
        body: &str,
    ) -> anyhow::Result<SimResponse> {
        send(
            server.addr(),
            name,
            client,
            "POST",
            "/x?y=1",
            &[("content-type", "application/json")],
            body.to_owned(),
        )
        .await
    }

    #[test]
    fn the_ca_file_holds_the_ca_certificate_and_goes_away_with_it() {
        let tls = TestTls::new().expect("tls");
        let path = tls.ca_file().to_path_buf();
        let text = std::fs::read_to_string(&path).expect("CA file");
        assert!(text.starts_with("-----BEGIN CERTIFICATE-----"), "{text}");
        assert_eq!(text, tls.ca().pem());
        assert!(!text.contains("PRIVATE KEY"));
        let other = TestTls::unrelated_ca().expect("other CA");
        assert_ne!(other.pem_path(), path.as_path());
        assert_ne!(other.pem(), tls.ca().pem());
        drop(tls);
        assert!(!path.exists(), "the CA file is removed on drop");
    }

    #[tokio::test]
    async fn serves_h2_and_http1_over_tls_and_counts_handshakes() {
        let tls = TestTls::new().expect("tls");
        let server = SimServer::start_tls(Arc::new(Echo), &tls)
            .await
            .expect("start");
        assert!(server.is_tls());
        assert!(server.base_url().starts_with("https://127.0.0.1:"));
        assert_eq!(
            server.url_with_host("localhost"),
            format!("https://localhost:{}", server.addr().port())
        );
        assert_eq!(server.tls_handshakes(), 0);

        // HTTP/2, negotiated by ALPN, verified as `localhost`.
        let client = tls.client_config().expect("client");
        let answer = post(&server, "localhost", client, r#"{"a":1}"#)
            .await
            .expect("h2 answer");
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body, br#"{"a":1}"#);
        let first = &server.requests()[0];
        assert_eq!(first.version, http::Version::HTTP_2);
        assert_eq!(first.path_and_query, "/x?y=1");
        // `:authority` stands in for the Host header HTTP/2 does not send.
        let authority = format!("localhost:{}", server.addr().port());
        assert_eq!(first.header("host"), Some(authority.as_str()));
        assert_eq!(server.tls_handshakes(), 1);
        assert_eq!(server.connections_accepted(), 1);
        assert_eq!(server.http2_requests(), 1);

        // HTTP/1.1 only, verified by IP address.
        let client = tls.ca().client_config(&[ALPN_HTTP11]).expect("client");
        let answer = post(&server, "127.0.0.1", client, "{}")
            .await
            .expect("http/1.1 answer");
        assert_eq!(answer.status, 200);
        let second = &server.requests()[1];
        assert_eq!(second.version, http::Version::HTTP_11);
        let authority = format!("127.0.0.1:{}", server.addr().port());
        assert_eq!(second.header("host"), Some(authority.as_str()));
        assert_eq!(server.tls_handshakes(), 2);
        assert_eq!(server.connections_accepted(), 2);
        assert_eq!(server.http2_requests(), 1);
        assert_eq!(server.request_count(), 2);
    }

    #[tokio::test]
    async fn a_server_without_alpn_speaks_http1() {
        let tls = TestTls::new().expect("tls");
        let config = tls.server_config_with_alpn(&[]).expect("config");
        let server = SimServer::start_tls_on(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            Arc::new(Echo),
            config,
        )
        .await
        .expect("start");
        let client = tls.client_config().expect("client");
        let answer = post(&server, "localhost", client, "{}")
            .await
            .expect("answer");
        assert_eq!(answer.status, 200);
        assert_eq!(server.requests()[0].version, http::Version::HTTP_11);
        assert_eq!(server.http2_requests(), 0);
    }

    #[tokio::test]
    async fn a_client_trusting_another_ca_fails_the_handshake() {
        let tls = TestTls::new().expect("tls");
        let server = SimServer::start_tls(Arc::new(Echo), &tls)
            .await
            .expect("start");
        let wrong = TestTls::unrelated_ca().expect("other CA");
        let client = wrong.client_config(ALPN_DEFAULT).expect("client");
        let err = post(&server, "localhost", client, "{}")
            .await
            .expect_err("wrong CA must fail");
        let text = format!("{err:#}");
        assert!(text.starts_with("TLS handshake"), "{text}");
        assert!(
            text.contains("UnknownIssuer") || text.contains("certificate"),
            "{text}"
        );
        assert_eq!(server.tls_handshakes(), 0);
        assert_eq!(server.request_count(), 0);

        // A name the certificate does not cover fails too.
        let client = tls.client_config().expect("client");
        let err = post(&server, "vendor.example", client, "{}")
            .await
            .expect_err("wrong name must fail");
        assert!(format!("{err:#}").starts_with("TLS handshake"), "{err:#}");

        // The server is unharmed.
        let client = tls.client_config().expect("client");
        let answer = post(&server, "localhost", client, "{}")
            .await
            .expect("answer");
        assert_eq!(answer.status, 200);
        assert_eq!(server.tls_handshakes(), 1);
    }

    #[tokio::test]
    async fn plain_http_to_the_tls_port_gets_no_answer() {
        let tls = TestTls::new().expect("tls");
        let server = SimServer::start_tls(Arc::new(Echo), &tls)
            .await
            .expect("start");
        let result = crate::server::send(server.addr(), "GET", "/", &[], Bytes::new()).await;
        assert!(result.is_err(), "{result:?}");
        assert_eq!(server.tls_handshakes(), 0);
        assert_eq!(server.request_count(), 0);
    }

    #[tokio::test]
    async fn faults_still_apply_over_h2() {
        let tls = TestTls::new().expect("tls");
        let server = SimServer::start_tls(Arc::new(Echo), &tls)
            .await
            .expect("start");
        server.fail_next(crate::server::Fault::Status(503));
        server.fail_next(crate::server::Fault::DropConnection);
        let client = tls.client_config().expect("client");
        let answer = post(&server, "localhost", Arc::clone(&client), "{}")
            .await
            .expect("answer");
        assert_eq!(answer.status, 503);
        let dropped = post(&server, "localhost", Arc::clone(&client), "{}").await;
        assert!(dropped.is_err(), "{dropped:?}");
        let answer = post(&server, "localhost", client, "{}")
            .await
            .expect("after");
        assert_eq!(answer.status, 200);
        assert_eq!(server.http2_requests(), 3);

        // A truncated body and a reset are transport errors over HTTP/2 too.
        server.fail_next(crate::server::Fault::TruncatedBody);
        let client = tls.client_config().expect("client");
        let cut = post(
            &server,
            "localhost",
            Arc::clone(&client),
            r#"{"long":"enough body"}"#,
        )
        .await;
        assert!(cut.is_err(), "{cut:?}");
        server.fail_next(crate::server::Fault::Reset);
        let reset = post(&server, "localhost", Arc::clone(&client), "{}").await;
        assert!(reset.is_err(), "{reset:?}");
        let answer = post(&server, "localhost", client, "{}")
            .await
            .expect("after");
        assert_eq!(answer.status, 200);
    }
}
