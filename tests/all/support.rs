//! Shared test plumbing: building gateways from TOML, a small HTTP client, and a log
//! capture that lets every test assert no secret value was ever written.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use ingest_gateway::{Config, Gateway};

/// Secret values used anywhere in the suite. None may appear in any output.
pub const TRTC_SECRET_ID: &str = "AKIDtest1111111111111111111111111111";
pub const TRTC_SECRET_KEY: &str = "trtc-test-secret-key-Zq9w8e7r6t5y";
/// The TRTC application's SDKSecretKey (UserSig generation).
pub const TRTC_SDK_SECRET_KEY: &str = "trtc-test-sdk-secret-key-Pb4Ks7Dn";
/// The TRTC console's callback key.
pub const TRTC_CALLBACK_KEY: &str = "trtcTestCallbackKey7Gh2Jm5";
pub const SDK_APP_ID: u64 = 1400188366;
pub const RONGCLOUD_APP_SECRET: &str = "rc-test-app-secret-Hq3Lm8Px";
pub const ALIBABA_ACCESS_KEY_ID: &str = "LTAItestAccessKeyId0001";
pub const ALIBABA_ACCESS_KEY_SECRET: &str = "ali-test-access-key-secret-Vb7Nc2";
pub const ZEGO_SERVER_SECRET: &str = "zego0test0server0secret0f4e5d6c7b";
pub const JOCLOUD_RESTFUL_ID: &str = "jocloud-test-restful-id-1234";
pub const JOCLOUD_RESTFUL_SECRET: &str = "jocloud-test-restful-secret-Kp9";
pub const ZEGO_CALLBACK_SECRET: &str = "zego-test-callback-secret-Wq4Rt8";
/// Secrets of two hostile providers sharing an echo server (`hostile::` reflection tests):
/// a space, `/`, `+` and `=` in them, so that each percent-encoding spells them differently.
pub const HOSTILE_SECRET_A: &str = "hostile-a secret/Zq+9=w8x";
pub const HOSTILE_SECRET_B: &str = "hostile-b secret/Kp+4=m2y";
/// Every secret value above: none may appear in any answer, output or log line.
pub const ALL_SECRETS: &[&str] = &[
    TRTC_SECRET_ID,
    TRTC_SECRET_KEY,
    TRTC_SDK_SECRET_KEY,
    TRTC_CALLBACK_KEY,
    RONGCLOUD_APP_SECRET,
    ALIBABA_ACCESS_KEY_ID,
    ALIBABA_ACCESS_KEY_SECRET,
    ZEGO_SERVER_SECRET,
    JOCLOUD_RESTFUL_ID,
    JOCLOUD_RESTFUL_SECRET,
    ZEGO_CALLBACK_SECRET,
    HOSTILE_SECRET_A,
    HOSTILE_SECRET_B,
];

/// Everything the gateway logged during the whole test run.
fn captured() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = CaptureWriter(buf.clone());
        let _ = tracing_subscriber::fmt()
            .with_env_filter("trace,wasmtime=info,cranelift=info,hyper=info,h2=info")
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .try_init();
        buf
    })
}

#[derive(Clone)]
struct CaptureWriter(Arc<Mutex<Vec<u8>>>);

impl Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Starts log capture (idempotent).
pub fn init() {
    let _ = captured();
}

/// The captured log so far.
pub fn log_text() -> String {
    String::from_utf8_lossy(&captured().lock().unwrap_or_else(|p| p.into_inner())).into_owned()
}

/// Asserts that no secret value appears in `text` (nor in the log captured so far).
pub fn assert_no_secrets(what: &str, text: &str) {
    for secret in ALL_SECRETS {
        assert!(
            !text.contains(secret),
            "a secret value appears in {what}:\n{text}"
        );
    }
    let log = log_text();
    for secret in ALL_SECRETS {
        assert!(!log.contains(secret), "a secret value appears in the log");
    }
}

/// Builds a gateway from TOML text (plugin paths absolute). Unless the text sets
/// `gateway.auth` itself, authentication is turned off (tests of tenants set it).
pub async fn gateway(toml: &str) -> Gateway {
    gateway_with_clock(toml, std::sync::Arc::new(ingest_gateway::SystemClock)).await
}

/// [`gateway`] on a clock the test controls (the breaker's trials and backoff read it).
pub async fn gateway_with_clock(toml: &str, clock: ingest_gateway::SharedClock) -> Gateway {
    init();
    let toml = edit_toml(toml, |doc| {
        // Tests run without tenant keys unless they configure authentication.
        set_default(doc, &["gateway", "auth"], "off");
        // Each test gateway keeps its events to itself (a file shared by the suite would mix
        // every test's events); tests of the store itself configure one.
        memory_events(doc);
    });
    let toml = toml.as_str();
    let config = Config::parse(toml).unwrap_or_else(|e| panic!("test config invalid: {e}\n{toml}"));
    Gateway::with_clock(config, clock)
        .await
        .unwrap_or_else(|e| panic!("gateway did not start: {e}"))
}

/// Waits until every serving plugin version runs the optimizing compiler's code (a cold
/// load serves baseline code first; the artifact cache is filled once this holds).
pub async fn wait_optimized(gw: &Gateway) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !gw.registry().all_optimized() {
        assert!(
            std::time::Instant::now() < deadline,
            "the optimizing compile did not finish in 120 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// The TOML of one provider using plugin package `plugin`, pointed at `endpoint` (loopback
/// allowed), with `extra` lines in its table, then its config (values are TOML literals:
/// quote strings) and inline secrets (plain values).
pub fn provider_toml(
    id: &str,
    plugin: &str,
    endpoint: &str,
    extra: &str,
    config: &[(&str, &str)],
    secrets: &[(&str, &str)],
) -> String {
    let mut out = format!(
        "\n[[providers]]\nid = \"{id}\"\nplugin = \"{}\"\nendpoint = \"{endpoint}\"\nallow_private = true\n{extra}\n[providers.config]\n",
        ingest_sim::artifacts::plugin(plugin)
    );
    for (k, v) in config {
        out.push_str(&format!("{k} = {v}\n"));
    }
    out.push_str("[providers.secrets]\n");
    for (k, v) in secrets {
        out.push_str(&format!("{k} = {{ value = \"{v}\" }}\n"));
    }
    out
}

/// The TOML of a TRTC provider pointed at `endpoint`, with extra lines appended to it.
/// `[providers.quota]` with every vendor quota off, for a provider's `extra` lines (tests
/// that call faster than a vendor's documented rate).
pub const QUOTA_OFF: &str = "[providers.quota]\nrate = 0\nstart = 0\nstop = 0\nstatus = 0\n";

/// The Tencent TRTC simulator's config for the test account ([`TRTC_SECRET_ID`],
/// [`TRTC_SECRET_KEY`], [`SDK_APP_ID`]), UserSigs not verified.
pub fn trtc_sim_config() -> ingest_sim::tencent::TencentSimConfig {
    ingest_sim::tencent::TencentSimConfig {
        secret_id: TRTC_SECRET_ID.to_string(),
        secret_key: TRTC_SECRET_KEY.to_string(),
        sdk_app_id: SDK_APP_ID,
        max_skew_secs: 300,
        ..ingest_sim::tencent::TencentSimConfig::for_tests()
    }
}

/// A Tencent TRTC simulator on loopback with [`trtc_sim_config`].
pub async fn trtc_sim() -> ingest_sim::tencent::TencentSim {
    ingest_sim::tencent::TencentSim::start(trtc_sim_config())
        .await
        .expect("the Tencent TRTC simulator starts")
}

pub fn trtc_provider(id: &str, endpoint: &str, extra: &str) -> String {
    provider_toml(
        id,
        "tencent-trtc",
        endpoint,
        extra,
        &[
            ("region", "\"ap-guangzhou\""),
            ("sdk_app_id", &SDK_APP_ID.to_string()),
        ],
        &[
            ("secret_id", TRTC_SECRET_ID),
            ("secret_key", TRTC_SECRET_KEY),
        ],
    )
}

/// An API response, parsed.
#[derive(Debug, Default)]
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub json: serde_json::Value,
    pub text: String,
}

/// Sends one request to the gateway core (no network) and parses the JSON answer.
pub async fn call(
    gw: &Gateway,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> Answer {
    let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
    call_with(
        gw,
        method,
        path,
        &[("content-type", "application/json")],
        body,
    )
    .await
}

/// [`call`] with these request headers and raw body bytes (a vendor callback, a tenant's
/// bearer key).
pub async fn call_with(
    gw: &Gateway,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Answer {
    let mut req = http::Request::builder().method(method).uri(path);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let resp = ingest_gateway::handle(gw, req.body(body).expect("valid request")).await;
    answer(
        resp.status().as_u16(),
        resp.headers().clone(),
        resp.into_body(),
    )
}

/// `headers` as [`call_with`] takes them.
pub fn header_refs(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// [`call`] as the tenant whose API key is `key` (`None`: no `Authorization`).
pub async fn as_tenant(
    gw: &Gateway,
    key: Option<&str>,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> Answer {
    let bearer = key.map(|k| format!("Bearer {k}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(b) = &bearer {
        headers.push(("authorization", b.as_str()));
    }
    let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
    call_with(gw, method, path, &headers, body).await
}

/// Lowercase hex SHA-256 of `s` (a tenant's `api_key_sha256`).
pub fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

/// A gateway serving its HTTP API on a loopback port ([`ingest_gateway::serve`]).
pub struct TestServer {
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestServer {
    /// Starts `gw` on a free loopback port. Dropping the result shuts the server down too.
    pub async fn start(gw: std::sync::Arc<Gateway>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(ingest_gateway_server::serve(gw, listener, async {
            let _ = stopped.await;
        }));
        Self { addr, stop, task }
    }

    /// Shuts the server down and checks it ended cleanly.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task
            .await
            .expect("server task")
            .expect("server ends cleanly");
    }
}

fn answer(status: u16, headers: http::HeaderMap, body: Bytes) -> Answer {
    let text = String::from_utf8_lossy(&body).into_owned();
    assert_no_secrets("an API answer", &text);
    let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    Answer {
        status,
        headers,
        json,
        text,
    }
}

/// Sends one request over real HTTP to `addr`.
pub async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Answer {
    http_with(addr, method, path, &[], body).await
}

/// [`http`] with extra request headers.
pub async fn http_with(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Answer {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(conn);
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .header("content-type", "application/json");
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or("").to_string())))
        .expect("request");
    let resp = sender.send_request(req).await.expect("response");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    answer(status, headers, body)
}

/// A start body for a pull-in on `provider`.
pub fn pull_in(provider: &str, room: &str) -> serde_json::Value {
    serde_json::json!({
        "provider": provider,
        "direction": "pull-in",
        "room_id": room,
        "user_id": "relay-bot",
        "stream_url": "rtmp://media.example.com/live/source",
        "options": { "user_sig": "eJyrVkrNSMxSslIyNDBQ" },
    })
}

/// Runs the `ingest-gateway` binary with `args` (debug logging on); returns stdout, stderr
/// and whether it exited 0.
pub fn run_cli<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> (String, String, bool) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ingest-gateway"))
        .args(args)
        .env("RUST_LOG", "debug")
        .output()
        .expect("run ingest-gateway");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

/// Polls `done` every 10 ms until it holds: how a test waits for something to have happened
/// instead of sleeping a guess. Panics naming `what` after 10 s.
pub async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "waited 10 s for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// What [`dry_run_twice`] saw: the first run's stdout, stderr and success.
pub struct DryRun {
    /// The output (JSON).
    pub out: String,
    /// Its log.
    pub stderr: String,
    /// Whether the command succeeded.
    pub ok: bool,
}

/// Runs `args` (an `ingest-gateway call … --dry-run`, see [`dry_run_args`]) twice: both runs
/// must print the same output byte for byte and succeed or fail alike, and no secret value
/// may appear in either run's output or log.
pub fn dry_run_twice<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> DryRun {
    let (out, stderr, ok) = run_cli(args);
    let (again, stderr2, ok2) = run_cli(args);
    assert_eq!(out, again, "dry-run output differs between runs\n{stderr}");
    assert_eq!(
        ok, ok2,
        "one run succeeded, the other did not\n{stderr}\n{stderr2}"
    );
    for text in [&out, &stderr, &stderr2] {
        assert_no_secrets("dry-run output", text);
    }
    DryRun { out, stderr, ok }
}

/// The sum of the samples of `metric` (a Prometheus text scrape) whose labels include every
/// one of `labels`.
pub fn sample(metrics: &str, metric: &str, labels: &[&str]) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")))
        .filter(|l| labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

/// `toml` with an in-memory event store unless it configures `[events]` itself.
pub fn with_memory_events(toml: &str) -> String {
    edit_toml(toml, memory_events)
}

/// An in-memory event store unless the document configures `[events]` itself.
fn memory_events(doc: &mut toml::Table) {
    if !doc.contains_key("events") {
        set(doc, &["events", "store"], "sqlite::memory:");
    }
}

/// A test config changed as TOML values, never as text: parsed, edited by `f`, written back.
/// Tables on the way are made when missing ([`table`], [`set`], [`set_default`]; the
/// `[[providers]]` array through [`provider`]).
pub fn edit_toml(text: &str, f: impl FnOnce(&mut toml::Table)) -> String {
    let mut doc: toml::Table = text
        .parse()
        .unwrap_or_else(|e| panic!("test config is not TOML: {e}\n{text}"));
    f(&mut doc);
    toml::to_string(&doc).expect("a TOML table serializes")
}

/// The table at `path`, made (empty) when missing.
pub fn table<'t>(doc: &'t mut toml::Table, path: &[&str]) -> &'t mut toml::Table {
    let mut t = doc;
    for key in path {
        t = t
            .entry(key.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .unwrap_or_else(|| panic!("`{key}` of {path:?} is not a table"));
    }
    t
}

/// Sets the value at `path` (its last key in the table of the keys before it).
pub fn set(doc: &mut toml::Table, path: &[&str], value: impl Into<toml::Value>) {
    let (key, parents) = path.split_last().expect("a path");
    table(doc, parents).insert(key.to_string(), value.into());
}

/// Sets the value at `path` unless the document already has one.
pub fn set_default(doc: &mut toml::Table, path: &[&str], value: impl Into<toml::Value>) {
    let (key, parents) = path.split_last().expect("a path");
    table(doc, parents)
        .entry(key.to_string())
        .or_insert(value.into());
}

/// Provider number `index` of `[[providers]]`.
pub fn provider_table(doc: &mut toml::Table, index: usize) -> &mut toml::Table {
    doc.get_mut("providers")
        .and_then(|p| p.as_array_mut())
        .and_then(|p| p.get_mut(index))
        .and_then(|p| p.as_table_mut())
        .unwrap_or_else(|| panic!("the config has no provider number {index}"))
}

/// A scratch directory for this test process; `name` must be unique across the suite.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("ingest-gateway-test-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Runs `ingest-gateway serve --config <config>` (its config listening on port 0) and waits
/// until it says where it listens; its stderr is drained from then on.
pub fn spawn_serve(config: &std::path::Path) -> (std::process::Child, std::net::SocketAddr) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ingest-gateway"))
        .args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run ingest-gateway serve");
    let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let mut said = String::new();
    let addr = loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).expect("stderr") > 0,
            "the gateway exited before listening:\n{said}"
        );
        said.push_str(&line);
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .expect("addr")
                .parse()
                .expect("addr");
        }
    };
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    (child, addr)
}

/// `PATCH /v1/ingests/{id}` with `body` (an update), through the gateway core.
pub async fn patch(gw: &Gateway, id: &str, body: serde_json::Value) -> Answer {
    call(gw, "PATCH", &format!("/v1/ingests/{id}"), Some(body)).await
}

/// Asserts `a` is a `400 invalid-argument` whose detail contains `needle`.
#[track_caller]
pub fn assert_invalid(a: &Answer, needle: &str) {
    assert_problem(a, 400, "invalid-argument", needle);
}

/// The failing cases of a table test, reported together at the end, so one failing case
/// does not hide the ones after it.
#[derive(Debug, Default)]
pub struct Failures(Vec<String>);

impl Failures {
    /// Records a failure unless `a` is a `400 invalid-argument` whose detail contains
    /// `needle` (the case is named by its needle).
    pub fn expect_invalid(&mut self, a: &Answer, needle: &str) {
        self.0
            .extend(problem_mismatch(a, 400, Some("invalid-argument"), needle));
    }

    /// Fails the test listing every failed case, if any.
    #[track_caller]
    pub fn assert_none(self) {
        assert!(
            self.0.is_empty(),
            "{} case(s) failed:\n{}",
            self.0.len(),
            self.0.join("\n")
        );
    }
}

/// Why `a` is not an answer with this `status`, `kind` (when given) and a detail containing
/// `needle`; `None` when it is. The one check behind [`assert_refused`], [`assert_problem`]
/// and [`Failures`].
fn problem_mismatch(a: &Answer, status: u16, kind: Option<&str>, needle: &str) -> Option<String> {
    let detail_ok = a.json["detail"]
        .as_str()
        .is_some_and(|d| d.contains(needle));
    let kind_ok = kind.is_none_or(|k| a.json["kind"] == k);
    (a.status != status || !kind_ok || !detail_ok).then(|| {
        format!(
            "{needle}: expected {status} {} naming it, got {} {}",
            kind.unwrap_or("(any kind)"),
            a.status,
            a.text
        )
    })
}

/// Asserts `a` has this `status` and a detail containing `needle` (an admin answer, or one
/// whose kind the test does not pin).
#[track_caller]
pub fn assert_refused(a: &Answer, status: u16, needle: &str) {
    if let Some(why) = problem_mismatch(a, status, None, needle) {
        panic!("{why}");
    }
}

/// Asserts `a` is a problem answer with this `status` and `kind` whose detail contains
/// `needle`.
#[track_caller]
pub fn assert_problem(a: &Answer, status: u16, kind: &str, needle: &str) {
    if let Some(why) = problem_mismatch(a, status, Some(kind), needle) {
        panic!("{why}");
    }
}

/// The arguments of a reproducible dry run: `call --config CONFIG --provider PROVIDER
/// OPERATION --input INPUT --now 1700000000 --nonce n0nce --dry-run`, with `--respond RESPOND`
/// (a canned vendor answer) when given. Run it with [`run_cli`].
pub fn dry_run_args(
    config: &std::path::Path,
    provider: &str,
    operation: &str,
    input: &std::path::Path,
    respond: Option<&std::path::Path>,
) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = vec!["call".into(), "--config".into()];
    args.push(config.into());
    args.extend(["--provider".into(), provider.into(), operation.into()]);
    args.extend(["--input".into(), input.into()]);
    args.extend(["--now", "1700000000", "--nonce", "n0nce", "--dry-run"].map(Into::into));
    if let Some(respond) = respond {
        args.extend(["--respond".into(), respond.into()]);
    }
    args
}
