//! Running as a fleet: signed plugins from a real OCI registry (Debian's docker-registry,
//! the CNCF distribution registry, started here on a free loopback port), watched by three
//! gateway processes; detached signatures on the upload and directory paths.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

use crate::support::*;

/// The registry binary: `INGEST_TEST_REGISTRY_BIN`, else where scripts/install-registry
/// unpacks it, else `docker-registry` on the PATH.
fn registry_bin() -> PathBuf {
    if let Ok(bin) = std::env::var("INGEST_TEST_REGISTRY_BIN") {
        return PathBuf::from(bin);
    }
    let unpacked = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/tools/registry/usr/bin/docker-registry");
    if unpacked.exists() {
        return unpacked;
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("docker-registry"))
        .find(|p| p.exists());
    on_path.unwrap_or_else(|| {
        panic!("no docker-registry: run scripts/install-registry (scripts/test does) or set INGEST_TEST_REGISTRY_BIN")
    })
}

/// A real OCI registry on a free loopback port, its storage in a directory of the test's.
pub struct TestRegistry {
    child: Option<std::process::Child>,
    config: PathBuf,
    storage: PathBuf,
    pub addr: SocketAddr,
}

impl TestRegistry {
    pub async fn start(name: &str) -> Self {
        let dir = temp_dir(&format!("registry-{name}"));
        let storage = dir.join("data");
        let _ = std::fs::remove_dir_all(&storage);
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port");
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
                storage.display()
            ),
        )
        .expect("write the registry config");
        let mut registry = Self {
            child: None,
            config,
            storage,
            addr,
        };
        registry.run().await;
        registry
    }

    async fn run(&mut self) {
        let child = std::process::Command::new(registry_bin())
            .arg("serve")
            .arg(&self.config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start docker-registry");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if tokio::net::TcpStream::connect(self.addr).await.is_ok()
                && registry_http(self.addr, "GET", "/v2/", &[], None).await.0 == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the registry did not come up on {}",
                self.addr
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops it (its storage stays).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `oci://127.0.0.1:PORT/REPO:TAG`.
    pub fn reference(&self, repo: &str, tag: &str) -> String {
        format!("oci://{}/{repo}:{tag}", self.addr)
    }

    /// The file the registry serves a blob from.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.storage
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// Points `tag` of `repo` at the manifest of `digest` (the registry API, as any client
    /// re-tags).
    pub async fn retag(&self, repo: &str, digest: &str, tag: &str) {
        let accept = [("accept", MANIFEST)];
        let (status, body) = registry_http(
            self.addr,
            "GET",
            &format!("/v2/{repo}/manifests/{digest}"),
            &accept,
            None,
        )
        .await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let (status, text) = registry_http(
            self.addr,
            "PUT",
            &format!("/v2/{repo}/manifests/{tag}"),
            &[("content-type", MANIFEST)],
            Some(body),
        )
        .await;
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&text));
    }

    /// The manifest `reference` (a tag or digest) of `repo`, as JSON.
    pub async fn manifest(&self, repo: &str, reference: &str) -> serde_json::Value {
        let (status, body) = registry_http(
            self.addr,
            "GET",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("accept", MANIFEST)],
            None,
        )
        .await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).expect("manifest JSON")
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// One request to the registry's HTTP API.
async fn registry_http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Bytes>,
) -> (u16, Bytes) {
    let Ok(stream) = tokio::net::TcpStream::connect(addr).await else {
        return (0, Bytes::new());
    };
    let Ok((mut sender, conn)) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await
    else {
        return (0, Bytes::new());
    };
    tokio::spawn(conn);
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(body.unwrap_or_default()))
        .expect("request");
    match sender.send_request(req).await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let body = resp.into_body().collect().await.map(|b| b.to_bytes());
            (status, body.unwrap_or_default())
        }
        Err(_) => (0, Bytes::new()),
    }
}

fn trtc_bytes() -> Vec<u8> {
    std::fs::read(ingest_sim::artifacts::plugin("tencent-trtc")).expect("built plugin")
}

/// The TRTC component with a custom section appended: the same plugin, a new digest.
fn trtc_version(tag: &str) -> Vec<u8> {
    ingest_sim::artifacts::variant(&trtc_bytes(), "ingest-test-version", tag)
}

fn digest(bytes: &[u8]) -> String {
    ingest_gateway::sha256_hex(bytes)
}

/// `ingest-gateway plugin keygen DIR/NAME`: the private and public key files.
fn keygen(dir: &Path, name: &str, algorithm: &str) -> (PathBuf, PathBuf) {
    let prefix = dir.join(name);
    let _ = std::fs::remove_file(dir.join(format!("{name}.key")));
    let _ = std::fs::remove_file(dir.join(format!("{name}.pub")));
    let (out, err, ok) = run_cli(&[
        "plugin".as_ref(),
        "keygen".as_ref(),
        prefix.as_os_str(),
        "--algorithm".as_ref(),
        algorithm.as_ref(),
    ]);
    assert!(ok, "{out}{err}");
    (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.pub")),
    )
}

/// `ingest-gateway plugin push FILE REF --insecure [--key KEY]`: the manifest digest.
fn push(file: &Path, reference: &str, key: Option<&Path>) -> String {
    let mut args: Vec<std::ffi::OsString> = vec![
        "plugin".into(),
        "push".into(),
        file.into(),
        reference.into(),
        "--insecure".into(),
    ];
    if let Some(key) = key {
        args.push("--key".into());
        args.push(key.into());
    }
    let (out, err, ok) = run_cli(&args);
    assert!(ok, "push failed: {out}{err}");
    let digest = out.trim().to_string();
    assert!(digest.starts_with("sha256:"), "{out}");
    digest
}

/// The TRTC provider `trtc` (quotas off) pointed at `sim`, its plugin taken from `plugin`
/// (an `oci://` reference or a file) instead of the built one.
fn trtc_provider_from(plugin: &str, sim: &str) -> String {
    let provider = trtc_provider("trtc", sim, QUOTA_OFF);
    let built = format!(
        "plugin = \"{}\"",
        ingest_sim::artifacts::plugin("tencent-trtc")
    );
    assert!(provider.contains(&built), "{provider}");
    provider.replace(&built, &format!("plugin = \"{plugin}\""))
}

/// Writes `bytes` to `DIR/NAME.wasm` and answers its path.
fn component_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(format!("{name}.wasm"));
    std::fs::write(&path, bytes).expect("write component");
    path
}

/// One replica's config: the TRTC provider's plugin from `reference`, signatures by
/// `trusted` required, tags looked at every `poll_ms`, its own caches in `dir`.
fn replica_config(
    dir: &Path,
    reference: &str,
    registry: SocketAddr,
    trusted: &Path,
    sim: &str,
    poll_ms: u64,
) -> PathBuf {
    std::fs::create_dir_all(dir).expect("replica dir");
    let provider = trtc_provider_from(reference, sim);
    let text = format!(
        r#"[gateway]
listen = "127.0.0.1:0"
auth = "off"
handle_key = {{ value = "fleet-test-handle-key-0123456789ab" }}
[runtime]
cache_dir = "{cache}"
[events]
store = "sqlite::memory:"
[plugins]
trusted_keys = ["{trusted}"]
insecure_registries = ["{registry}"]
poll_interval_ms = {poll_ms}
cache_dir = "{plugins}"
{provider}
"#,
        cache = dir.join("artifacts").display(),
        trusted = trusted.display(),
        plugins = dir.join("plugins").display(),
    );
    let path = dir.join("gateway.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// The digest of the component `addr` serves for provider `trtc` (`GET /v1/providers`).
async fn serving(addr: SocketAddr) -> (String, String) {
    let a = http(addr, "GET", "/v1/providers", None).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let p = &a.json["providers"][0];
    (
        p["digest"].as_str().unwrap_or_default().to_string(),
        p["manifest_digest"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

/// Waits until every replica serves `component`, at most `within`; answers how long it took.
async fn converge(addrs: &[SocketAddr], component: &str, within: Duration) -> Duration {
    let t0 = Instant::now();
    loop {
        let mut all = true;
        for addr in addrs {
            all &= serving(*addr).await.0 == component;
        }
        if all {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < within,
            "not every replica serves {component} after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every replica keeps serving `component` for `hold`.
async fn holds(addrs: &[SocketAddr], component: &str, hold: Duration) {
    let t0 = Instant::now();
    while t0.elapsed() < hold {
        for addr in addrs {
            assert_eq!(serving(*addr).await.0, component, "replica {addr} swapped");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How many plugin versions `addr` refused (`ingest_plugin_swaps_total{action="refused"}`
/// of `tencent-trtc`), and its whole scrape for messages.
async fn refused_versions(addr: SocketAddr) -> (u64, String) {
    let metrics = http(addr, "GET", "/metrics", None).await.text;
    let refused = sample(
        &metrics,
        "ingest_plugin_swaps_total",
        &["plugin=\"tencent-trtc\"", "action=\"refused\""],
    );
    (refused, metrics)
}

/// Starts sent to the replicas in turn, one every 20 ms, until stopped: (sent, failed, the
/// first failures' text).
struct Load {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicUsize>,
    failures: Arc<std::sync::Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Load {
    fn start(addrs: Vec<SocketAddr>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicUsize::new(0));
        let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (s, n, f) = (stop.clone(), sent.clone(), failures.clone());
        let task = tokio::spawn(async move {
            let mut i = 0usize;
            while !s.load(Ordering::SeqCst) {
                let addr = addrs[i % addrs.len()];
                let body = pull_in("trtc", &(50_000 + i).to_string()).to_string();
                let f = f.clone();
                tokio::spawn(async move {
                    let a = http(addr, "POST", "/v1/ingests", Some(&body)).await;
                    if a.status != 201 {
                        f.lock()
                            .expect("lock")
                            .push(format!("{addr}: {} {}", a.status, a.text));
                    }
                });
                n.fetch_add(1, Ordering::SeqCst);
                i += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        Self {
            stop,
            sent,
            failures,
            task,
        }
    }

    async fn finish(self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.task.await;
        // The last requests' answers.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let failures = self.failures.lock().expect("lock").clone();
        (self.sent.load(Ordering::SeqCst), failures)
    }
}

/// Three gateway processes watch one tag in a real registry, signatures required:
/// - a new signed version pushed → all three serve it within two poll intervals (plus the
///   pull and compile), while a load of starts runs and none fails;
/// - an unsigned push, a push signed by an unknown key, and a layer whose bytes no longer
///   match its digest → refused by all three (counted, logged), the old version serves;
/// - rollback by re-tagging the old manifest → all three serve it again;
/// - a replica restarted while the registry is stopped serves its cached digest.
///
/// Three gateway processes compiling at once load the machine and the convergence bound is
/// a time: scripts/test runs it alone (with the soak and the quota bursts).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "timing-sensitive and heavy: scripts/test runs it alone"]
async fn three_replicas_follow_a_signed_tag_and_refuse_what_is_not_trusted() {
    const REPO: &str = "ingest/tencent-trtc";
    const POLL_MS: u64 = 1000;
    let dir = temp_dir("fleet-registry");
    let mut registry = TestRegistry::start("fleet").await;
    let sim = trtc_sim().await;
    let (key, public) = keygen(&dir, "release", "ecdsa-p256");
    let (stranger, _) = keygen(&dir, "stranger", "ed25519");
    let live = registry.reference(REPO, "live");

    let v1 = component_file(&dir, "v1", &trtc_version("1"));
    let v1_manifest = push(&v1, &live, Some(&key));
    let configs: Vec<PathBuf> = (0..3)
        .map(|i| {
            let replica = dir.join(format!("replica-{i}"));
            let _ = std::fs::remove_dir_all(&replica);
            replica_config(
                &replica,
                &live,
                registry.addr,
                &public,
                &sim.base_url(),
                POLL_MS,
            )
        })
        .collect();
    let mut replicas: Vec<(std::process::Child, SocketAddr)> =
        configs.iter().map(|c| spawn_serve(c)).collect();
    let addrs: Vec<SocketAddr> = replicas.iter().map(|(_, a)| *a).collect();
    let v1_digest = digest(&std::fs::read(&v1).expect("v1"));
    for addr in &addrs {
        assert_eq!(
            serving(*addr).await,
            (v1_digest.clone(), v1_manifest.clone())
        );
    }

    let load = Load::start(addrs.clone());
    // Two poll intervals, plus the pull and the compile (a test build; three at once).
    let within = Duration::from_millis(2 * POLL_MS) + Duration::from_secs(8);

    // A new signed version: every replica serves it.
    let v2 = component_file(&dir, "v2", &trtc_version("2"));
    let v2_digest = digest(&std::fs::read(&v2).expect("v2"));
    push(&v2, &live, Some(&key));
    let took = converge(&addrs, &v2_digest, within).await;
    eprintln!(
        "fleet: three replicas serve the new digest {took:?} after the push (poll {POLL_MS} ms)"
    );
    let answered = http(
        addrs[1],
        "POST",
        "/v1/ingests",
        Some(&pull_in("trtc", "777").to_string()),
    )
    .await;
    assert_eq!(answered.status, 201, "{}", answered.text);
    let header = answered.headers["x-ingest-plugin"]
        .to_str()
        .expect("text")
        .to_string();
    assert!(
        header.contains(&v2_digest[..12]),
        "x-ingest-plugin: {header}"
    );

    // Unsigned, signed by a key nobody trusts, and a layer changed in the registry's
    // storage after it was pushed (signed properly): none is installed anywhere.
    let v3 = component_file(&dir, "v3", &trtc_version("3"));
    push(&v3, &live, None);
    holds(&addrs, &v2_digest, Duration::from_millis(3 * POLL_MS)).await;
    let v4 = component_file(&dir, "v4", &trtc_version("4"));
    push(&v4, &live, Some(&stranger));
    holds(&addrs, &v2_digest, Duration::from_millis(3 * POLL_MS)).await;
    let staging = registry.reference(REPO, "staging");
    let v5 = component_file(&dir, "v5", &trtc_version("5"));
    let v5_manifest = push(&v5, &staging, Some(&key));
    let layer = registry.manifest(REPO, &v5_manifest).await["layers"][0]["digest"]
        .as_str()
        .expect("layer digest")
        .to_string();
    let blob = registry.blob_file(&layer);
    let mut tampered = std::fs::read(&blob).expect("the layer's blob");
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    std::fs::write(&blob, tampered).expect("tamper");
    registry.retag(REPO, &v5_manifest, "live").await;
    holds(&addrs, &v2_digest, Duration::from_millis(3 * POLL_MS)).await;
    for addr in &addrs {
        let (refused, metrics) = refused_versions(*addr).await;
        assert!(
            refused >= 3,
            "replica {addr} counted {refused} refusals:\n{metrics}"
        );
    }

    // Rollback: the tag back on the first manifest.
    registry.retag(REPO, &v1_manifest, "live").await;
    converge(&addrs, &v1_digest, within).await;

    // A signed component that does not fit the providers (another plugin: its describe
    // refuses the TRTC config) is pulled and refused at bind, once: not pulled again, and
    // not what a restart serves.
    let misfit = component_file(
        &dir,
        "misfit",
        &std::fs::read(ingest_sim::artifacts::plugin("test-hostile")).expect("built guest"),
    );
    push(&misfit, &live, Some(&key));
    holds(&addrs, &v1_digest, Duration::from_millis(3 * POLL_MS)).await;
    for addr in &addrs {
        let (refused, metrics) = refused_versions(*addr).await;
        assert_eq!(
            refused, 4,
            "replica {addr}: three refused sources and one refused bind, each counted once:\n{metrics}"
        );
    }
    let (sent, failures) = load.finish().await;
    assert!(sent > 100, "the load ran: {sent} starts");
    assert!(
        failures.is_empty(),
        "{} of {sent} starts failed during the swaps: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );

    // The registry away: a replica restarted serves the digest it cached.
    registry.stop();
    let (mut first, _) = replicas.remove(0);
    let _ = first.kill();
    let _ = first.wait();
    let (restarted, addr) = spawn_serve(&configs[0]);
    replicas.insert(0, (restarted, addr));
    assert_eq!(
        serving(addr).await,
        (v1_digest.clone(), v1_manifest.clone())
    );
    let answered = http(
        addr,
        "POST",
        "/v1/ingests",
        Some(&pull_in("trtc", "778").to_string()),
    )
    .await;
    assert_eq!(answered.status, 201, "{}", answered.text);
    for (mut child, _) in replicas {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// An in-process gateway whose TRTC plugin is a file signed beside it, `trusted` required.
async fn signed_file_gateway(
    dir: &Path,
    file: &Path,
    trusted: &Path,
    sim: &str,
) -> ingest_gateway::Gateway {
    let provider = trtc_provider_from(&file.display().to_string(), sim);
    gateway(&format!(
        "[plugins]\ntrusted_keys = [\"{}\"]\ncache_dir = \"{}\"\n{provider}",
        trusted.display(),
        dir.join("plugins").display()
    ))
    .await
}

/// The file and upload paths: a component needs `NAME.wasm.sig` (or, uploaded, an
/// `x-ingest-signature`) by a trusted key; an unsigned, wrongly signed or changed component
/// is refused before it is compiled, naming its source and the keys tried, and the serving
/// version stays. The signature file is the one `openssl` verifies too (cosign's format).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detached_signatures_guard_files_and_uploads() {
    let dir = temp_dir("fleet-detached");
    let sim = trtc_sim().await;
    let (key, public) = keygen(&dir, "ops", "ecdsa-p256");
    let (stranger, _) = keygen(&dir, "stranger", "ecdsa-p256");
    let v1 = component_file(&dir, "tencent-trtc", &trtc_version("a"));
    let _ = std::fs::remove_file(dir.join("tencent-trtc.wasm.sig"));

    // Unsigned: the gateway does not start, and says why.
    let config = ingest_gateway::Config::parse(&format!(
        "[plugins]\ntrusted_keys = [\"{}\"]\n{}\n[events]\nstore = \"sqlite::memory:\"\n",
        public.display(),
        trtc_provider_from(&v1.display().to_string(), &sim.base_url())
    ))
    .expect("config");
    let err = ingest_gateway::Gateway::from_config(config)
        .await
        .expect_err("an unsigned plugin is refused");
    let text = format!("{err:#}");
    assert!(
        text.contains("carries no signature")
            && text.contains("ops.pub")
            && text.contains(&v1.display().to_string()),
        "{text}"
    );

    // Signed: it serves; the signature is a plain ECDSA P-256 / SHA-256 DER signature over
    // the file, as openssl checks it.
    let (out, err, ok) = run_cli(&[
        "plugin".as_ref(),
        "sign".as_ref(),
        "--key".as_ref(),
        key.as_os_str(),
        v1.as_os_str(),
    ]);
    assert!(ok, "{out}{err}");
    let sig_file = dir.join("tencent-trtc.wasm.sig");
    openssl_verifies(&public, &sig_file, &v1);
    let gw = signed_file_gateway(&dir, &v1, &public, &sim.base_url()).await;
    let v1_digest = digest(&std::fs::read(&v1).expect("v1"));
    let listed = call(&gw, "GET", "/v1/providers", None).await;
    assert_eq!(listed.json["providers"][0]["digest"], v1_digest.as_str());

    // Uploads: unsigned, by an unknown key, and over changed bytes are refused before compiling.
    let v2 = trtc_version("b");
    let sign = |key: &Path, bytes: &[u8]| {
        let file = component_file(&dir, "to-sign", bytes);
        let (out, err, ok) = run_cli(&[
            "plugin".as_ref(),
            "sign".as_ref(),
            "--key".as_ref(),
            key.as_os_str(),
            file.as_os_str(),
        ]);
        assert!(ok, "{out}{err}");
        std::fs::read(dir.join("to-sign.wasm.sig")).expect("sig")
    };
    let compiled_before = gw.registry().stats().compiled.load(Ordering::Relaxed);
    let by_stranger = sign(&stranger, &v2);
    let good = sign(&key, &v2);
    let mut changed = v2.clone();
    let at = changed.len() - 1;
    changed[at] ^= 1;
    for (signature, bytes, want) in [
        (None, &v2, "carries no signature"),
        (Some(&by_stranger), &v2, "no trusted key made"),
        (Some(&good), &changed, "no trusted key made"),
        (Some(&b"not base64 !!".to_vec()), &v2, "not base64"),
    ] {
        let refused = gw
            .install_signed_plugin(
                "tencent-trtc",
                bytes,
                signature.map(Vec::as_slice),
                "an admin upload",
            )
            .await
            .expect_err("refused");
        assert!(
            refused.detail.contains(want) && refused.detail.contains("an admin upload"),
            "{}",
            refused.detail
        );
        assert!(
            refused.detail.contains("ops.pub") || want == "not base64",
            "{}",
            refused.detail
        );
    }
    assert_eq!(
        gw.registry().stats().compiled.load(Ordering::Relaxed),
        compiled_before,
        "nothing refused was compiled"
    );
    assert_eq!(
        call(&gw, "GET", "/v1/providers", None).await.json["providers"][0]["digest"],
        v1_digest.as_str()
    );
    let report = gw
        .install_signed_plugin("tencent-trtc", &v2, Some(&good), "an admin upload")
        .await
        .expect("a signed upload is installed");
    assert_eq!(report.digest.as_deref(), Some(digest(&v2).as_str()));
    let origin = gw.sources().origin(&digest(&v2)).expect("origin");
    assert!(
        origin
            .signed_by
            .as_deref()
            .is_some_and(|k| k.contains("ops.pub")),
        "{origin:?}"
    );
}

/// `openssl dgst -sha256 -verify PUB -signature DER FILE` accepts the signature file
/// (base64-decoded): the format is the standard one, not the gateway's own.
fn openssl_verifies(public: &Path, sig_file: &Path, file: &Path) {
    use base64::Engine as _;
    let der = base64::engine::general_purpose::STANDARD
        .decode(std::fs::read_to_string(sig_file).expect("sig").trim())
        .expect("base64");
    let der_file = sig_file.with_extension("der");
    std::fs::write(&der_file, der).expect("write der");
    let out = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(public)
        .arg("-signature")
        .arg(&der_file)
        .arg(file)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A reload that points a provider at another tag pulls it (and watches it from then on);
/// without trusted keys nothing needs a signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_to_another_tag_pulls_it() {
    const REPO: &str = "ingest/tencent-trtc";
    let dir = temp_dir("fleet-reload");
    let registry = TestRegistry::start("reload").await;
    let sim = trtc_sim().await;
    let a = component_file(&dir, "a", &trtc_version("reload-a"));
    let b = component_file(&dir, "b", &trtc_version("reload-b"));
    push(&a, &registry.reference(REPO, "a"), None);
    let b_manifest = push(&b, &registry.reference(REPO, "b"), None);
    let toml = |tag: &str| {
        let provider = trtc_provider_from(&registry.reference(REPO, tag), &sim.base_url());
        with_memory_events(&format!(
            "[gateway]\nauth = \"off\"\n[plugins]\ninsecure_registries = [\"{}\"]\ncache_dir = \"{}\"\n{provider}",
            registry.addr,
            dir.join("plugins").display()
        ))
    };
    let gw = gateway(&toml("a")).await;
    let listed = call(&gw, "GET", "/v1/providers", None).await;
    assert_eq!(
        listed.json["providers"][0]["digest"],
        digest(&std::fs::read(&a).expect("a")).as_str()
    );
    let report = gw
        .reload(ingest_gateway::Config::parse(&toml("b")).expect("config"))
        .await
        .expect("reloaded");
    assert_eq!(
        report.loaded,
        vec!["tencent-trtc".to_string()],
        "{report:?}"
    );
    let listed = call(&gw, "GET", "/v1/providers", None).await;
    assert_eq!(
        listed.json["providers"][0]["digest"],
        digest(&std::fs::read(&b).expect("b")).as_str()
    );
    assert_eq!(
        listed.json["providers"][0]["manifest_digest"],
        b_manifest.as_str()
    );
    let started = call(&gw, "POST", "/v1/ingests", Some(pull_in("trtc", "9"))).await;
    assert_eq!(started.status, 201, "{}", started.text);
}
