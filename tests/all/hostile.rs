//! A misbehaving plugin fails its own call with `plugin-fault` (or `denied`) within its
//! deadline; the host and the other providers carry on, the failure is counted, and no
//! secret reaches an answer or the log.
//!
//! Every case runs the `test-hostile` guest (tests/guests/hostile) in one of its modes.
//! `cargo test -p ingest-gateway-cli --test all hostile:: -- --nocapture` prints each case's
//! outcome and time to fail.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ingest_gateway::Gateway;
use ingest_sim::server::{Recorded, SimResponse, SimServer, VendorHandler};

use crate::support::*;

/// The call deadline of the hostile fleet.
const DEADLINE_MS: u64 = 1000;
/// How late past the deadline a failing call may answer (scheduling on a busy 2-core box).
const GRACE: Duration = Duration::from_secs(2);
/// The secret granted to hostile providers that need one: a value `assert_no_secrets` checks.
const GRANTED: &str = TRTC_SECRET_KEY;

fn hostile(id: &str, mode: &str, extra: &str) -> String {
    hostile_with(id, mode, extra, &[], false)
}

/// A hostile provider: `extra` lines in its table (before the sub-tables), `config` lines
/// (TOML literals) after `mode`, and the secret `api_key` = [`GRANTED`] when `secret`.
fn hostile_with(
    id: &str,
    mode: &str,
    extra: &str,
    config: &[(&str, &str)],
    secret: bool,
) -> String {
    guest_provider("test-hostile", id, mode, extra, config, secret)
}

/// A provider of the test guest `guest` (Rust or Python), as [`hostile_with`] describes.
fn guest_provider(
    guest: &str,
    id: &str,
    mode: &str,
    extra: &str,
    config: &[(&str, &str)],
    secret: bool,
) -> String {
    let mut out = format!(
        "\n[[providers]]\nid = \"{id}\"\nplugin = \"{plugin}\"\n{extra}\n[providers.config]\nmode = \"{mode}\"\n",
        plugin = ingest_sim::artifacts::plugin(guest),
    );
    for (k, v) in config {
        out.push_str(&format!("{k} = {v}\n"));
    }
    if secret {
        out.push_str(&format!(
            "[providers.secrets]\napi_key = {{ value = \"{GRANTED}\" }}\n"
        ));
    }
    out
}

fn start(provider: &str) -> serde_json::Value {
    serde_json::json!({"provider": provider, "direction": "pull-in", "room_id": "r", "user_id": "u"})
}

/// The value of one metric series (`name{labels}`), 0 when absent.
fn metric(gw: &Gateway, series: &str) -> f64 {
    gw.metrics()
        .render()
        .lines()
        .find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

fn detail(a: &Answer) -> &str {
    a.json["detail"].as_str().unwrap_or_default()
}

async fn fleet() -> Gateway {
    let toml = format!(
        "[runtime]\ncall_deadline_ms = {DEADLINE_MS}\nmemory_limit_bytes = 16777216\n{}{}{}{}{}{}",
        hostile("loop", "loop", ""),
        hostile("panic", "panic", ""),
        hostile("memory", "memory", ""),
        hostile("recursion", "recursion", ""),
        hostile("probe", "secret-probe", ""),
        hostile("ok", "ok", ""),
    );
    gateway(&toml).await
}

/// Starts on `provider`, checks the answer's kind (and the fault class in the metrics when
/// given), that it came within the deadline, that nothing secret is in it, and that the `ok`
/// provider of the same gateway still serves. Prints the figures.
async fn expect_failure(
    gw: &Gateway,
    provider: &str,
    kind: &str,
    fault: Option<&str>,
    needle: &str,
) -> Answer {
    let started = Instant::now();
    let a = call(gw, "POST", "/v1/ingests", Some(start(provider))).await;
    let elapsed = started.elapsed();
    eprintln!(
        "hostile case `{provider}`: HTTP {} {} in {elapsed:?}",
        a.status, a.json["kind"]
    );
    assert_eq!(a.json["kind"], kind, "{provider}: {}", a.text);
    assert!(
        detail(&a).contains(needle),
        "{provider}: `{needle}` not in {}",
        a.text
    );
    assert!(
        elapsed < Duration::from_millis(DEADLINE_MS) + GRACE,
        "{provider} took {elapsed:?}"
    );
    assert_no_secrets(provider, &a.text);
    let outcome = format!(
        "ingest_requests_total{{provider=\"{provider}\",operation=\"start\",outcome=\"{kind}\"}}"
    );
    assert_eq!(metric(gw, &outcome), 1.0, "{outcome} not counted");
    if let Some(fault) = fault {
        let series =
            format!("ingest_plugin_faults_total{{provider=\"{provider}\",fault=\"{fault}\"}}");
        assert_eq!(metric(gw, &series), 1.0, "{series} not counted");
    }
    // The same gateway keeps serving other providers, and no pool slot stays taken.
    let ok = call(gw, "POST", "/v1/ingests", Some(start("ok"))).await;
    assert_eq!(ok.status, 201, "after {provider}: {}", ok.text);
    assert_eq!(gw.runtime().calls_in_flight(), 0, "after {provider}");
    a
}

#[tokio::test]
async fn each_fault_fails_only_its_call() {
    let gw = fleet().await;
    for (provider, needle) in [
        ("loop", "deadline"),
        ("panic", "panic"),
        ("memory", "memory"),
        ("recursion", "stack"),
    ] {
        let class = match provider {
            "loop" => "deadline",
            "recursion" => "stack",
            other => other,
        };
        let a = expect_failure(&gw, provider, "plugin-fault", Some(class), needle).await;
        assert_eq!(a.status, 500, "{provider}: {}", a.text);
    }
}

/// A hostile Python provider (tests/guests-py/hostile, componentize-py) in `mode`: `extra`
/// lines in its table, `config` lines (TOML literals) after `mode`.
fn hostile_py(id: &str, mode: &str, extra: &str, config: &[(&str, &str)]) -> String {
    guest_provider("test-hostile-py", id, mode, extra, config, false)
}

/// A Python plugin is contained like a Rust one: a loop stops at its step budget, a memory
/// bomb at the memory cap, an uncaught exception and an abort are plugin faults (the
/// traceback in the gateway's log, not in the answer), a socket is refused; each fails only
/// its call, with the runtime's defaults (pooling on) and another plugin serving beside it.
#[tokio::test]
async fn a_hostile_python_plugin_is_contained_like_the_others() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    listener.set_nonblocking(true).expect("nonblocking");
    let target = listener.local_addr().expect("addr");
    let toml = format!(
        "[runtime]\ncall_deadline_ms = {DEADLINE_MS}\ncache_dir = \"{cache}\"\n{}{}{}{}{}{}",
        hostile_py("py-loop", "loop", "", &[]),
        hostile_py("py-memory", "memory", "", &[]),
        hostile_py("py-exception", "exception", "", &[]),
        hostile_py("py-abort", "abort", "", &[]),
        hostile_py(
            "py-socket",
            "socket",
            "",
            &[("target", &format!("\"{target}\""))]
        ),
        hostile("ok", "ok", ""),
        cache = std::env::temp_dir()
            .join("ingest-hostile-py-cache")
            .display(),
    );
    let gw = gateway(&toml).await;
    for (provider, class, needle) in [
        ("py-loop", "deadline", "budget"),
        ("py-memory", "memory", "memory"),
        ("py-exception", "panic", "trapped"),
        ("py-abort", "panic", "trapped"),
    ] {
        let a = expect_failure(&gw, provider, "plugin-fault", Some(class), needle).await;
        assert_eq!(a.status, 500, "{provider}: {}", a.text);
    }
    assert!(
        log_text().contains("the hostile Python plugin raises on purpose"),
        "the exception's traceback is not in the gateway's log"
    );
    let a = call(&gw, "POST", "/v1/ingests", Some(start("py-socket"))).await;
    assert_eq!(a.json["kind"], "vendor-internal", "{}", a.text);
    eprintln!("hostile case `py-socket`: {}", detail(&a));
    assert!(detail(&a).contains("socket: "), "{}", a.text);
    for what in ["tcp: ", "lookup: "] {
        assert!(detail(&a).contains(what), "{}", a.text);
    }
    assert!(!detail(&a).contains(": done"), "{}", a.text);
    assert!(
        listener
            .accept()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock),
        "a connection arrived"
    );
}

/// `instance = "per-call"` keeps one instance for every step of a call (module state the
/// plugin keeps between its steps survives, a second instantiation is saved), and no longer:
/// the next call starts on a fresh one. The default instantiates afresh at every step.
#[tokio::test]
async fn an_instance_held_per_call_serves_every_step_of_that_call_only() {
    let config = [("target", "\"https://vendor.example/x\"")];
    let allow = "allow_hosts = [\"vendor.example:443\"]";
    let toml = format!(
        "{}{}",
        hostile_py("fresh", "steps", allow, &config),
        hostile_py(
            "held",
            "steps",
            &format!("{allow}\ninstance = \"per-call\""),
            &config
        ),
    );
    let gw = gateway(&toml).await;
    for (provider, expected) in [
        ("fresh", "calls-1"),
        ("held", "calls-2"),
        ("held", "calls-2"),
    ] {
        let p = gw.provider(provider).expect("provider").clone();
        let options = ingest_gateway::CallOptions {
            mode: ingest_gateway::EgressMode::DryRun(Some(ingest_gateway::CannedResponse {
                status: 200,
                headers: Vec::new(),
                body: "{}".into(),
            })),
            ..ingest_gateway::CallOptions::default()
        };
        let op = ingest_gateway::Operation::Start(
            ingest_gateway::StartBody::parse(start(provider).to_string().as_bytes())
                .expect("start body")
                .to_request(),
        );
        let (result, report) = gw.call(&p, op, options).await;
        let outcome = format!("{:?}", result.expect("started"));
        assert!(outcome.contains(expected), "{provider}: {outcome}");
        assert_eq!(report.steps, 2, "{provider}");
        assert_eq!(report.requests.len(), 1, "{provider}");
    }
    assert_eq!(
        gw.runtime().calls_in_flight(),
        0,
        "a held instance outlived its call"
    );
}

#[tokio::test]
async fn ungranted_secret_is_refused_by_name() {
    let gw = fleet().await;
    let a = call(&gw, "POST", "/v1/ingests", Some(start("probe"))).await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert!(detail(&a).contains("not_granted"), "{}", a.text);
}

/// `wasi:sockets` is linked (CPython's C library imports it) but grants nothing: a plugin
/// that reaches for the network itself gets refusals and nothing leaves.
#[tokio::test]
async fn a_plugin_cannot_open_a_socket() {
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("tcp listener");
    tcp.set_nonblocking(true).expect("nonblocking");
    let target = tcp.local_addr().expect("addr");
    let udp = std::net::UdpSocket::bind(target).expect("udp socket on the same port");
    udp.set_nonblocking(true).expect("nonblocking");
    let gw = gateway(&hostile_with(
        "socket",
        "socket",
        "",
        &[("target", &format!("\"{target}\""))],
        false,
    ))
    .await;
    let a = call(&gw, "POST", "/v1/ingests", Some(start("socket"))).await;
    assert_eq!(a.json["kind"], "vendor-internal", "{}", a.text);
    let said = detail(&a);
    for what in ["tcp: Err", "udp: Err", "lookup: Err"] {
        assert!(said.contains(what), "`{what}` not in {said}");
    }
    assert!(
        tcp.accept()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock),
        "a connection arrived"
    );
    let mut buf = [0u8; 16];
    assert!(
        udp.recv_from(&mut buf)
            .is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock),
        "a datagram arrived"
    );
}

#[tokio::test]
async fn oversized_session_reference_is_a_fault() {
    let gw = gateway(&hostile("huge", "huge-ref", "")).await;
    let a = call(&gw, "POST", "/v1/ingests", Some(start("huge"))).await;
    assert_eq!(a.json["kind"], "plugin-fault", "{}", a.text);
}

#[tokio::test]
async fn a_host_off_the_allowlist_is_denied() {
    let gw = gateway(
        &hostile(
            "fetch",
            "fetch",
            r#"allow_hosts = ["api.vendor.example:443"]
allow_private = true"#,
        )
        .replace(
            "mode = \"fetch\"",
            "mode = \"fetch\"\ntarget = \"http://127.0.0.1:9/steal\"",
        ),
    )
    .await;
    let a = call(&gw, "POST", "/v1/ingests", Some(start("fetch"))).await;
    assert_eq!(a.json["kind"], "denied", "{}", a.text);
    assert!(detail(&a).contains("127.0.0.1:9"), "{}", a.text);
}

/// A plugin that sends to a host off its allowlist and then answers success anyway: the call
/// is reported `denied` (with the host and the reason), never 201.
#[tokio::test]
async fn a_refused_request_is_never_reported_as_success() {
    let gw = gateway(
        &hostile(
            "liar",
            "fetch-then-ok",
            r#"allow_hosts = ["api.vendor.example:443"]
allow_private = true"#,
        )
        .replace(
            "mode = \"fetch-then-ok\"",
            "mode = \"fetch-then-ok\"\ntarget = \"http://127.0.0.1:9/steal\"",
        ),
    )
    .await;
    let a = call(&gw, "POST", "/v1/ingests", Some(start("liar"))).await;
    assert_eq!(a.status, 502, "{}", a.text);
    assert_eq!(a.json["kind"], "denied", "{}", a.text);
    assert!(detail(&a).contains("127.0.0.1:9"), "{}", a.text);
}

/// A vendor request past the host's bounds on its headers (count, bytes) or URL is a
/// plugin fault naming the limit (24,576 headers or more used to panic in the header map and leave the
/// client without an answer), and the gateway serves on.
#[tokio::test]
async fn oversized_vendor_request_heads_are_a_fault_naming_the_limit() {
    let toml: String = ["count", "bytes", "url"]
        .iter()
        .map(|bomb| {
            hostile_with(
                bomb,
                "header-bomb",
                "allow_hosts = [\"127.0.0.1:9\"]\nallow_private = true",
                &[
                    ("target", "\"http://127.0.0.1:9/x\""),
                    ("bomb", &format!("\"{bomb}\"")),
                ],
                false,
            )
        })
        .chain([hostile("ok", "ok", "")])
        .collect();
    let gw = gateway(&format!("[runtime]\nstep_budget_ms = 900\n{toml}")).await;
    for (bomb, limit) in [
        ("count", "headers (the limit is 128)"),
        ("bytes", "bytes of headers (the limit is 65536)"),
        ("url", "URL of"),
    ] {
        let a = call(&gw, "POST", "/v1/ingests", Some(start(bomb))).await;
        assert_eq!(a.json["kind"], "plugin-fault", "{bomb}: {}", a.text);
        assert!(detail(&a).contains(limit), "{bomb}: {}", a.text);
    }
    let a = call(&gw, "POST", "/v1/ingests", Some(start("ok"))).await;
    assert_eq!(a.status, 201, "{}", a.text);
}

/// A plugin that calls itself another plugin's name in `describe` does not pass for it: the
/// `x-ingest-plugin` header and `GET /v1/providers` show the name it was installed under (with
/// its digest), and the listing shows what it claims separately.
#[tokio::test]
async fn a_plugin_cannot_pass_for_another_by_its_describe_name() {
    let gw = gateway(&hostile_with(
        "impostor",
        "ok",
        "",
        &[("describe_name", "\"tencent-trtc\"")],
        false,
    ))
    .await;
    let a = call(&gw, "POST", "/v1/ingests", Some(start("impostor"))).await;
    assert_eq!(a.status, 201, "{}", a.text);
    let served = a
        .headers
        .get("x-ingest-plugin")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(served.starts_with("test-hostile@"), "{served}");
    let a = call(&gw, "GET", "/v1/providers", None).await;
    let p = &a.json["providers"][0];
    assert_eq!(p["plugin"], "test-hostile", "{}", a.text);
    assert_eq!(p["describes_itself_as"], "tencent-trtc", "{}", a.text);
}

/// A vendor URL with userinfo (`user:password@host`) is refused before anything is sent, even
/// towards an allowed host: a plugin could put placeholders there, and the pooled client logs a
/// connection's key (userinfo included) at DEBUG.
#[tokio::test]
async fn a_vendor_url_with_userinfo_is_denied() {
    let gw = gateway(
        &hostile(
            "userinfo",
            "fetch",
            r#"allow_hosts = ["127.0.0.1:9"]
allow_private = true"#,
        )
        .replace(
            "mode = \"fetch\"",
            "mode = \"fetch\"\ntarget = \"http://key:secret@127.0.0.1:9/steal\"",
        ),
    )
    .await;
    let a = call(&gw, "POST", "/v1/ingests", Some(start("userinfo"))).await;
    assert_eq!(a.json["kind"], "denied", "{}", a.text);
    assert!(detail(&a).contains("userinfo"), "{}", a.text);

    // Placeholders of a granted secret as user and password: refused the same way, and the
    // filled-in value appears at no log level (the suite captures the log at TRACE).
    let gw = gateway(&hostile_with(
        "userinfo-secret",
        "userinfo-secret",
        "allow_hosts = [\"127.0.0.1:9\"]\nallow_private = true",
        &[("target", "\"http://127.0.0.1:9/steal\"")],
        true,
    ))
    .await;
    let a = call(&gw, "POST", "/v1/ingests", Some(start("userinfo-secret"))).await;
    assert_eq!(a.json["kind"], "denied", "{}", a.text);
    assert_no_secrets("the answer to a URL with secrets as userinfo", &a.text);
}

/// A credentials call over 512 parts that all point at one 1 MiB buffer (512 MiB of input
/// from 1 MiB of plugin memory; 16 times over as an HMAC chain's messages) is refused with
/// `invalid-input` naming the 1 MiB bound, having read no more than that: the plugin reads
/// the refusal as a value and reports it, with how long each call took (printed). A host call
/// runs to its end whatever the step budget (the epoch cannot interrupt it); the host used to
/// copy every part out of the plugin's memory before looking, until wasmtime's per-call copy
/// allowance (128 MiB) trapped the plugin: `plugin-fault` after about 2 s in a test build.
#[tokio::test]
async fn an_aliased_credentials_input_is_refused_before_it_is_read() {
    let toml = format!(
        "[runtime]\ncall_deadline_ms = {DEADLINE_MS}\n{}{}",
        hostile("alias", "digest-alias", ""),
        hostile("ok", "ok", ""),
    );
    let gw = gateway(&toml).await;
    let a = expect_failure(&gw, "alias", "vendor-internal", None, "digest-alias").await;
    eprintln!("aliased credentials input: {}", detail(&a));
    for call in ["digest", "hmac", "hmac-chain"] {
        assert!(
            detail(&a).contains(&format!(
                "{call}=invalid-input: input larger than 1048576 bytes"
            )),
            "{call}: {}",
            a.text
        );
    }
}

/// Enormous results: a 10 MiB error message is clipped, 100,000 issued URLs and a 1 MiB task
/// id are refused as garbage output; the answers stay small and the gateway serves on.
#[tokio::test]
async fn enormous_results_are_bounded() {
    // Building 100,000 URLs (and the host lifting them) takes most of a step's default 100 ms
    // of CPU: near enough that it could be stopped at the budget before its output is checked.
    // This test is about output bounds: a wider budget.
    let toml = format!(
        "[runtime]\ncall_deadline_ms = {DEADLINE_MS}\nstep_budget_ms = 900\n{}{}{}{}",
        hostile("message", "huge-message", ""),
        hostile("urls", "huge-urls", ""),
        hostile("id", "huge-id", ""),
        hostile("ok", "ok", ""),
    );
    let gw = gateway(&toml).await;
    // The baseline tier's code is several times slower still: it runs on optimized code.
    wait_optimized(&gw).await;

    // An error is a value: its kind stays the plugin's, its texts are clipped.
    let a = expect_failure(&gw, "message", "vendor-internal", None, "mmmm").await;
    assert!(a.text.len() < 16 * 1024, "answer of {} bytes", a.text.len());
    for field in [
        "detail",
        "vendor_message",
        "vendor_code",
        "vendor_request_id",
    ] {
        let len = a.json[field].as_str().map_or(0, str::len);
        assert!(
            (1..=2048 + 3).contains(&len),
            "{field} is {len} bytes: {}",
            &a.text[..200]
        );
    }

    let a = expect_failure(
        &gw,
        "urls",
        "plugin-fault",
        Some("limit"),
        "100000 issued URLs",
    )
    .await;
    assert!(a.text.len() < 4096, "{}", a.text);
    let a = expect_failure(
        &gw,
        "id",
        "plugin-fault",
        Some("limit"),
        "task or request id",
    )
    .await;
    assert!(a.text.len() < 4096, "{}", a.text);
}

/// A plugin that logs without end: its call dies at the deadline; the host kept at most 200
/// lines of at most 4 KiB from it and said how many it dropped.
#[tokio::test]
async fn a_log_flood_is_capped_and_the_call_dies_at_its_deadline() {
    let toml = format!(
        "[runtime]\ncall_deadline_ms = {DEADLINE_MS}\n{}{}",
        hostile("flood", "log-flood", ""),
        hostile("ok", "ok", ""),
    );
    let gw = gateway(&toml).await;
    let before = log_text().len();
    expect_failure(&gw, "flood", "plugin-fault", Some("deadline"), "deadline").await;
    let log = log_text();
    let written = &log[before.min(log.len())..];
    let lines = written.lines().filter(|l| l.contains("flood-line")).count();
    assert!(
        (1..=200).contains(&lines),
        "{lines} flood lines reached the log"
    );
    let big = written
        .lines()
        .find(|l| l.contains("flood-big"))
        .expect("the first line is logged, truncated");
    assert!(big.len() < 4096 + 512, "a {} byte log line", big.len());
    assert!(
        written.contains("plugin log lines dropped"),
        "the drop is reported"
    );
    eprintln!(
        "log flood: {lines} lines kept, log grew by {} bytes",
        written.len()
    );
}

/// A runaway plugin is interrupted at its step budget, far before the call deadline: it holds
/// a worker thread for one step's budget, not for the whole call.
#[tokio::test]
async fn a_runaway_step_ends_at_its_step_budget_not_the_call_deadline() {
    let toml = format!(
        "[runtime]\ncall_deadline_ms = 30000\nstep_budget_ms = 50\n{}{}",
        hostile("loop", "loop", ""),
        hostile("ok", "ok", ""),
    );
    let gw = gateway(&toml).await;
    let started = Instant::now();
    let a = call(&gw, "POST", "/v1/ingests", Some(start("loop"))).await;
    let elapsed = started.elapsed();
    eprintln!("runaway step: HTTP {} in {elapsed:?}", a.status);
    assert_eq!(a.json["kind"], "plugin-fault", "{}", a.text);
    assert!(detail(&a).contains("step"), "{}", a.text);
    assert!(elapsed < GRACE, "took {elapsed:?} with a 50 ms step budget");
    assert_eq!(gw.runtime().calls_in_flight(), 0);
}

/// The step budget counts a step's CPU time, not the wall time it spends preempted: a plugin
/// needing ~5 ms of CPU passes a 100 ms budget while every core is kept busy by other threads
/// (so the step takes longer than 100 ms of wall time), and a runaway plugin on that machine is
/// still stopped by the same budget. Run alone (it loads every core).
#[tokio::test]
#[ignore = "loads every core; run alone (scripts/test's alone phase)"]
async fn looping_neighbours_do_not_count_against_a_steps_cpu_budget() {
    const BUDGET_MS: u64 = 100;
    let gateway_with = |iterations: u64| {
        let toml = format!(
            "[runtime]\ncall_deadline_ms = 60000\nstep_budget_ms = {BUDGET_MS}\n{}{}{}",
            hostile_with(
                "work",
                "compute",
                "",
                &[("iterations", &format!("\"{iterations}\""))],
                false
            ),
            hostile("loop", "loop", ""),
            hostile("ok", "ok", ""),
        );
        async move { gateway(&toml).await }
    };
    async fn timed(gw: &Gateway, provider: &str) -> (Answer, Duration) {
        let t = Instant::now();
        let a = call(gw, "POST", "/v1/ingests", Some(start(provider))).await;
        (a, t.elapsed())
    }
    // Calibrate on the idle machine: the rounds that take ~5 ms beyond a plain call.
    const PROBE: u64 = 2_000_000;
    let gw = gateway_with(PROBE).await;
    let mut plain = Duration::MAX;
    let mut probe = Duration::MAX;
    for _ in 0..5 {
        plain = plain.min(timed(&gw, "ok").await.1);
        let (a, took) = timed(&gw, "work").await;
        assert_eq!(a.status, 201, "{}", a.text);
        probe = probe.min(took);
    }
    let per_round = probe.saturating_sub(plain).as_secs_f64() / PROBE as f64;
    let rounds = ((0.005 / per_round.max(1e-12)) as u64).max(1);
    let gw = gateway_with(rounds).await;
    let (idle, idle_took) = timed(&gw, "work").await;
    assert_eq!(idle.status, 201, "{}", idle.text);
    eprintln!("{rounds} rounds: {idle_took:?} on the idle machine (a plain call {plain:?})");

    // Every core busy: many more runnable threads than cores, so the plugin thread gets a
    // small share of one and its ~5 ms of CPU take well over 100 ms of wall time.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let spinners: Vec<_> = (0..32 * std::thread::available_parallelism().map_or(2, |n| n.get()))
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut slowest = Duration::ZERO;
    let mut outcomes = Vec::new();
    for _ in 0..5 {
        let (a, took) = timed(&gw, "work").await;
        slowest = slowest.max(took);
        outcomes.push((a.status, a.text.clone(), took));
    }
    let (runaway, runaway_took) = timed(&gw, "loop").await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for s in spinners {
        s.join().expect("spinner");
    }
    eprintln!(
        "loaded: {:?}; runaway stopped after {runaway_took:?}",
        outcomes.iter().map(|o| o.2).collect::<Vec<_>>()
    );
    for (status, text, took) in &outcomes {
        assert_eq!(
            *status, 201,
            "a ~5 ms step failed after {took:?} under load: {text}"
        );
    }
    // Otherwise the load proved nothing: a wall-clock budget would have passed too.
    assert!(
        slowest > Duration::from_millis(BUDGET_MS),
        "the loaded machine ran the ~5 ms step within {slowest:?}; the load is too light to show \
         the budget ignores preemption"
    );
    assert_eq!(runaway.json["kind"], "plugin-fault", "{}", runaway.text);
    assert!(detail(&runaway).contains("step"), "{}", runaway.text);
    assert!(runaway_took < Duration::from_secs(60), "{runaway_took:?}");
}

/// A vendor that accepts the connection and never answers: in contract 0.2 the wait belongs
/// to the host (the plugin holds no instance meanwhile). The request ends at the provider's
/// request timeout, the plugin reads a `timeout` answer, and the call fails as `timeout`
/// naming the host's reason — no plugin fault, no slot held.
#[tokio::test]
async fn a_vendor_that_never_answers_is_a_timeout_not_a_fault() {
    // Bound but never accepting: the kernel completes the handshake, nobody ever answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = silent.local_addr().expect("addr");
    let toml = format!(
        "[runtime]\ncall_deadline_ms = {DEADLINE_MS}\n{}{}",
        hostile_with(
            "hang",
            "fetch",
            &format!(
                "allow_hosts = [\"{addr}\"]\nallow_private = true\n[providers.egress]\nrequest_timeout_ms = 300"
            ),
            &[("target", &format!("\"http://{addr}/never\""))],
            false,
        ),
        hostile("ok", "ok", ""),
    );
    let gw = gateway(&toml).await;
    let a = expect_failure(&gw, "hang", "timeout", None, "longer than 300 ms").await;
    assert_eq!(a.status, 504, "{}", a.text);
    assert_eq!(
        metric(
            &gw,
            "ingest_plugin_faults_total{provider=\"hang\",fault=\"deadline\"}"
        ),
        0.0
    );
    drop(silent);
}

/// A plugin that keeps asking for vendor requests whatever the host answers: the host sends
/// at most its cap per call, refuses the next one, and ends the call as a `limit` fault when
/// the plugin asks again — a bounded number of steps, however the plugin behaves.
#[tokio::test]
async fn a_request_storm_ends_at_the_cap_of_requests_per_call() {
    let sim = SimServer::start(Arc::new(Ok200)).await.expect("sim");
    let toml = format!(
        "[runtime]\ncall_deadline_ms = {DEADLINE_MS}\n{}{}",
        hostile_with(
            "storm",
            "request-storm",
            &format!("allow_hosts = [\"{}\"]\nallow_private = true", sim.addr()),
            &[("target", &format!("\"{}/again\"", sim.base_url()))],
            false,
        ),
        hostile("ok", "ok", ""),
    );
    let gw = gateway(&toml).await;
    let a = expect_failure(&gw, "storm", "plugin-fault", Some("limit"), "cap of 16").await;
    assert_eq!(a.status, 500, "{}", a.text);
    assert_eq!(
        sim.request_count(),
        ingest_gateway::internals::MAX_REQUESTS_PER_CALL,
        "the vendor saw exactly the cap"
    );
}

/// Answers every request `200 {}`.
struct Ok200;

impl VendorHandler for Ok200 {
    fn handle(&self, _request: &Recorded) -> SimResponse {
        SimResponse::json(200, &serde_json::json!({}))
    }

    fn vendor_error(&self, _request: &Recorded, code: &str, message: &str) -> SimResponse {
        SimResponse::json(500, &serde_json::json!({"code": code, "message": message}))
    }
}

/// `localhost` is on the allowlist but resolves to loopback: refused by address, and the
/// server behind it never sees a connection.
#[tokio::test]
async fn a_private_address_by_name_is_denied() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let toml = format!(
        "[runtime]\ncall_deadline_ms = {DEADLINE_MS}\n{}{}",
        hostile_with(
            "byname",
            "fetch",
            &format!("allow_hosts = [\"localhost:{port}\"]"),
            &[("target", &format!("\"http://localhost:{port}/internal\""))],
            false,
        ),
        hostile("ok", "ok", ""),
    );
    let gw = gateway(&toml).await;
    let a = expect_failure(&gw, "byname", "denied", None, "loopback or private address").await;
    assert_eq!(a.status, 502, "{}", a.text);
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the private server was contacted"
    );
}

/// An echo "vendor": answers with the query, a header, the body, and the body hex-encoded
/// (a reflection the host cannot recognise).
struct Echo;

impl VendorHandler for Echo {
    fn handle(&self, request: &Recorded) -> SimResponse {
        SimResponse::json(
            200,
            &serde_json::json!({
                "query": request.path_and_query,
                "header": request.header("x-token"),
                "body": String::from_utf8_lossy(&request.body),
                "hex": hex::encode(&request.body),
            }),
        )
    }

    fn vendor_error(&self, _request: &Recorded, code: &str, message: &str) -> SimResponse {
        SimResponse::json(500, &serde_json::json!({"code": code, "message": message}))
    }
}

/// Every route the contract offers for reading a secret, tried by a hostile plugin that was
/// granted one: none gives it the value, and nothing secret reaches an answer or the log.
///
/// What the host guarantees, case by case:
/// - config: secrets are not config; `config.entries` and `endpoint` never hold one;
/// - credentials: a secret not granted is refused by name (`ungranted_secret_is_refused_by_name`);
/// - a digest of a granted secret is the plugin's to publish: it is a one-way function, not
///   the secret (SECURITY.md says why that is acceptable), so it may appear;
/// - a placeholder echoed into logs or errors is only its token, meaningless outside the call;
/// - a vendor that reflects a placeholder's value back: the host turns it into the token
///   again before the plugin reads the answer;
/// - a plugin that still obtains the value (an encoded reflection it decodes): the value is
///   scrubbed from its errors and logs, and a result holding it is a `plugin-fault`.
#[tokio::test]
async fn every_route_to_a_secret_is_closed() {
    let echo = SimServer::start(Arc::new(Echo)).await.expect("echo server");
    let endpoint = format!("endpoint = \"{}\"\nallow_private = true", echo.base_url());
    let target = format!("\"{}\"", echo.base_url());
    let toml = format!(
        "[runtime]\ncall_deadline_ms = {DEADLINE_MS}\n{}{}{}{}{}{}{}",
        hostile_with("dump", "config-dump", &endpoint, &[], true),
        hostile_with("digest", "digest-leak", "", &[], true),
        hostile_with("echo", "placeholder-echo", "", &[], true),
        hostile_with(
            "reflect",
            "reflect",
            &endpoint,
            &[("target", &target)],
            true
        ),
        hostile_with(
            "decode",
            "reflect-decode",
            &endpoint,
            &[("target", &target)],
            true
        ),
        hostile_with(
            "smuggle",
            "reflect-decode",
            &endpoint,
            &[("target", &target), ("out", "\"session\"")],
            true
        ),
        hostile("ok", "ok", ""),
    );
    let gw = gateway(&toml).await;

    let a = expect_failure(&gw, "dump", "vendor-internal", None, "config:").await;
    assert!(
        detail(&a).contains("mode") && detail(&a).contains(&echo.base_url()),
        "{}",
        a.text
    );

    let a = expect_failure(&gw, "digest", "vendor-internal", None, "digest-leak").await;
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(GRANTED.as_bytes()));
    assert!(
        detail(&a).contains(&digest),
        "the digest is published: {}",
        a.text
    );

    let a = expect_failure(&gw, "echo", "vendor-internal", None, "ingest-secret-").await;
    assert!(
        a.json["vendor_request_id"]
            .as_str()
            .is_some_and(|t| t.starts_with("ingest-secret-")),
        "{}",
        a.text
    );

    // The echo saw the real value (the host substituted it on the way out) …
    let a = expect_failure(&gw, "reflect", "vendor-internal", None, "reflect").await;
    let sent = echo.requests();
    let last = sent.last().expect("the echo was called");
    assert!(String::from_utf8_lossy(&last.body).contains(GRANTED));
    assert_eq!(last.header("x-token"), Some(GRANTED));
    assert!(last.path_and_query.contains(GRANTED));
    // … and echoed it in the query, a header and the body; the plugin read tokens instead.
    let text = detail(&a);
    assert!(
        text.matches("ingest-secret-").count() >= 3,
        "reflections became tokens: {text}"
    );

    // Decoded from hex, the plugin holds the value: scrubbed from every error field.
    let a = expect_failure(&gw, "decode", "vendor-internal", None, "[redacted]").await;
    for field in ["vendor_request_id", "vendor_code", "vendor_message"] {
        assert_eq!(a.json[field], "[redacted]", "{field}: {}", a.text);
    }
    // A result holding it is refused as a whole.
    expect_failure(
        &gw,
        "smuggle",
        "plugin-fault",
        Some("limit"),
        "provider's secrets",
    )
    .await;

    assert_no_secrets("the log", "");
}

/// An echo "vendor" that remembers: answers every request with each body it has received so
/// far (from any provider), in the forms a vendor may echo a value without transforming it —
/// verbatim, every byte percent-encoded in lowercase and in uppercase hex, form-encoded (`+`
/// for a space, lowercase hex), and mixed (every other byte encoded, the hex case alternating)
/// — and the request's own query with its escapes lowercased. On a path under `/hex` each body
/// also comes hex-encoded (a reflection the host cannot recognise).
#[derive(Default)]
struct Echoes {
    bodies: std::sync::Mutex<Vec<Vec<u8>>>,
}

fn escaped(b: u8, upper: bool) -> String {
    if upper {
        format!("%{b:02X}")
    } else {
        format!("%{b:02x}")
    }
}

fn form_encoded(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            b' ' => "+".to_string(),
            b if b.is_ascii_alphanumeric() || b"*-._".contains(&b) => (b as char).to_string(),
            b => escaped(b, false),
        })
        .collect()
}

fn mixed_encoded(bytes: &[u8]) -> String {
    bytes
        .iter()
        .enumerate()
        .map(|(i, &b)| match (i % 2, b) {
            (0, b) => escaped(b, i % 4 == 0),
            (_, b' ') => "+".to_string(),
            (_, b) => (b as char).to_string(),
        })
        .collect()
}

/// `s` with the hex digits of its escapes in lowercase.
fn escapes_lowercased(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut left = 0;
    for (i, c) in s.char_indices() {
        if i < left {
            continue;
        }
        if c == '%' && s.len() >= i + 3 && s.is_char_boundary(i + 3) {
            out.push('%');
            out.push_str(&s[i + 1..i + 3].to_ascii_lowercase());
            left = i + 3;
        } else {
            out.push(c);
        }
    }
    out
}

impl VendorHandler for Echoes {
    fn handle(&self, request: &Recorded) -> SimResponse {
        let mut bodies = self.bodies.lock().unwrap_or_else(|p| p.into_inner());
        bodies.push(request.body.clone());
        let with_hex = request.path_and_query.starts_with("/hex");
        let seen: Vec<serde_json::Value> = bodies
            .iter()
            .map(|b| {
                let mut entry = serde_json::json!({
                    "body": String::from_utf8_lossy(b),
                    "lower": b.iter().map(|&x| escaped(x, false)).collect::<String>(),
                    "upper": b.iter().map(|&x| escaped(x, true)).collect::<String>(),
                    "form": form_encoded(b),
                    "mixed": mixed_encoded(b),
                });
                if with_hex {
                    entry["hex"] = hex::encode(b).into();
                }
                entry
            })
            .collect();
        SimResponse::json(
            200,
            &serde_json::json!({
                "query": escapes_lowercased(&request.path_and_query),
                "seen": seen,
            }),
        )
    }

    fn vendor_error(&self, _request: &Recorded, code: &str, message: &str) -> SimResponse {
        SimResponse::json(500, &serde_json::json!({"code": code, "message": message}))
    }
}

/// `text` with its percent-escapes (either hex case) decoded, and `+` read as a space when
/// `plus_is_space`.
fn url_decoded(text: &str, plus_is_space: bool) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let pair = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], pair) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Asserts that `secret` is in `text` in no form the host promises to recognise: neither
/// verbatim nor percent-encoded (however; `+` read as a space or not).
fn assert_in_no_form(what: &str, text: &str, secret: &str) {
    for (form, decoded) in [
        ("verbatim", text.to_string()),
        ("percent-encoded", url_decoded(text, false)),
        ("form-encoded", url_decoded(text, true)),
    ] {
        assert!(
            !decoded.contains(secret),
            "`{secret}` ({form}) reaches {what}:\n{text}"
        );
    }
}

/// The session reference sealed in a handle (handles are signed, not encrypted: a client can
/// read what it holds).
fn sealed_session_ref(handle: &str) -> String {
    use base64::Engine as _;
    let payload = handle.split('.').next().unwrap_or_default();
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("a handle's payload is base64url");
    let data: serde_json::Value = serde_json::from_slice(&json).expect("a handle holds JSON");
    data["r"].as_str().expect("a session reference").to_string()
}

/// A hostile provider pointed at `echo` (path `path`) with `api_key` = `secret`.
fn echo_provider(
    id: &str,
    mode: &str,
    echo: &SimServer,
    path: &str,
    out: &str,
    secret: &str,
) -> String {
    let mut toml = hostile_with(
        id,
        mode,
        &format!("endpoint = \"{}\"\nallow_private = true", echo.base_url()),
        &[
            ("target", &format!("\"{}{path}\"", echo.base_url())),
            ("out", &format!("\"{out}\"")),
        ],
        false,
    );
    toml.push_str(&format!(
        "[providers.secrets]\napi_key = {{ value = \"{secret}\" }}\n"
    ));
    toml
}

/// A vendor that echoes a placeholder's value in any valid percent-encoding — lowercase hex,
/// every byte encoded, `+` for a space, some bytes encoded and others not — hands the plugin
/// only the token: nothing of the secret reaches the API answer, the sealed handle or the log
/// (lowercase and mixed encodings used to pass untouched).
#[tokio::test]
async fn a_secret_echoed_in_any_percent_encoding_becomes_its_token() {
    let echo = SimServer::start(Arc::new(Echoes::default()))
        .await
        .expect("echo server");
    let toml = format!(
        "[runtime]\ncall_deadline_ms = {DEADLINE_MS}\n{}{}{}",
        echo_provider("encoded", "reflect", &echo, "", "error", HOSTILE_SECRET_A),
        echo_provider(
            "encoded-session",
            "reflect",
            &echo,
            "",
            "session",
            HOSTILE_SECRET_A
        ),
        hostile("ok", "ok", ""),
    );
    let gw = gateway(&toml).await;

    let a = expect_failure(&gw, "encoded", "vendor-internal", None, "reflect").await;
    let sent = echo.requests();
    assert!(String::from_utf8_lossy(&sent[0].body).contains(HOSTILE_SECRET_A));
    // Five forms of the body, and the query: each became the token.
    let text = detail(&a);
    assert!(
        text.matches("ingest-secret-").count() >= 6,
        "reflections became tokens: {text}"
    );
    assert_in_no_form("an API answer", &a.text, HOSTILE_SECRET_A);

    // Returned as the session reference: the handle seals the tokens, not the secret.
    let a = call(&gw, "POST", "/v1/ingests", Some(start("encoded-session"))).await;
    assert_eq!(a.status, 201, "{}", a.text);
    let sealed = sealed_session_ref(a.json["id"].as_str().unwrap_or_default());
    assert!(sealed.matches("ingest-secret-").count() >= 6, "{sealed}");
    assert_in_no_form("a handle", &sealed, HOSTILE_SECRET_A);

    assert_in_no_form("the log", &log_text(), HOSTILE_SECRET_A);
    assert_no_secrets("the log", "");
}

/// Two providers share a vendor host, and the vendor echoes to provider B what provider A
/// sent it (A's secret among it): B's plugin reads `[redacted]` in its place, in every form;
/// B's placeholders still stand for B's own secret only (B cannot use A's). A plugin of B that
/// still obtains A's secret (hex-encoded, which the host cannot recognise, then decoded) gets
/// it scrubbed from its errors and logs, and a result holding it refused — every answer and
/// log line is checked against every provider's secrets, not only its own provider's.
#[tokio::test]
async fn a_secret_of_another_provider_never_reaches_a_plugin() {
    let echo = SimServer::start(Arc::new(Echoes::default()))
        .await
        .expect("echo server");
    let toml = format!(
        "[runtime]\ncall_deadline_ms = {DEADLINE_MS}\n{}{}{}{}{}{}",
        echo_provider("a", "reflect", &echo, "", "error", HOSTILE_SECRET_A),
        echo_provider("b", "reflect", &echo, "", "error", HOSTILE_SECRET_B),
        echo_provider(
            "b-session",
            "reflect",
            &echo,
            "",
            "session",
            HOSTILE_SECRET_B
        ),
        echo_provider(
            "b-decode",
            "reflect-decode",
            &echo,
            "/hex",
            "error",
            HOSTILE_SECRET_B
        ),
        echo_provider(
            "b-smuggle",
            "reflect-decode",
            &echo,
            "/hex",
            "session",
            HOSTILE_SECRET_B
        ),
        hostile("ok", "ok", ""),
    );
    let gw = gateway(&toml).await;

    // A sends its secret to the shared vendor (and reads its own echo as tokens).
    expect_failure(&gw, "a", "vendor-internal", None, "reflect").await;

    // B's request carried B's secret, not A's; the echo of A's body reached B's plugin as
    // `[redacted]` in each of its five forms, B's own as tokens.
    let a = expect_failure(&gw, "b", "vendor-internal", None, "reflect").await;
    let sent = echo.requests();
    let b_body = String::from_utf8_lossy(&sent[1].body);
    assert!(
        b_body.contains(HOSTILE_SECRET_B) && !b_body.contains(HOSTILE_SECRET_A),
        "{b_body}"
    );
    let text = detail(&a);
    assert!(
        text.matches("[redacted]").count() >= 5,
        "A's secret redacted: {text}"
    );
    assert!(
        text.matches("ingest-secret-").count() >= 6,
        "B's own as tokens: {text}"
    );
    assert_in_no_form("provider B's answer", &a.text, HOSTILE_SECRET_A);

    // Returned as B's session reference: the handle holds neither.
    let a = call(&gw, "POST", "/v1/ingests", Some(start("b-session"))).await;
    assert_eq!(a.status, 201, "{}", a.text);
    let sealed = sealed_session_ref(a.json["id"].as_str().unwrap_or_default());
    assert!(sealed.contains("[redacted]"), "{sealed}");
    assert_in_no_form("provider B's handle", &sealed, HOSTILE_SECRET_A);
    assert_in_no_form("provider B's handle", &sealed, HOSTILE_SECRET_B);

    // Decoded from hex, B's plugin holds A's secret: scrubbed from every error field …
    let a = expect_failure(&gw, "b-decode", "vendor-internal", None, "[redacted]").await;
    for field in ["vendor_request_id", "vendor_code", "vendor_message"] {
        assert_eq!(a.json[field], "[redacted]", "{field}: {}", a.text);
    }
    // … and a result holding it is refused as a whole.
    expect_failure(
        &gw,
        "b-smuggle",
        "plugin-fault",
        Some("limit"),
        "provider's secrets",
    )
    .await;

    let log = log_text();
    assert_in_no_form("the log", &log, HOSTILE_SECRET_A);
    assert_in_no_form("the log", &log, HOSTILE_SECRET_B);
    assert_no_secrets("the log", "");
}

/// A plugin's log message cannot forge a gateway log line: newlines, carriage returns, NULs
/// and bidirectional overrides are written as escapes in the default text format, so the
/// forged `ERROR` line stays inside the plugin's own line.
#[test]
fn a_plugin_log_line_cannot_forge_a_gateway_line() {
    let dir = temp_dir("log-forge");
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[gateway]\nauth = \"off\"\n{}",
            hostile("forge", "log-forge", "")
        ),
    )
    .expect("config");
    let input = dir.join("start.json");
    std::fs::write(&input, start("forge").to_string()).expect("input");
    let (out, stderr, ok) = run_cli(&[
        "call",
        "--config",
        config.to_str().expect("utf8"),
        "--provider",
        "forge",
        "start",
        "--input",
        input.to_str().expect("utf8"),
    ]);
    assert!(ok, "{out}\n{stderr}");
    assert!(out.contains("forged-log"), "{out}");
    assert!(
        stderr.contains(r"harmless\n2026-12-06T00:00:00.000000Z ERROR ingest_gateway: forged"),
        "the plugin's line, escaped: {stderr}"
    );
    for line in stderr.lines() {
        assert!(
            !line.starts_with("2026-12-06T00:00:00.000000Z"),
            "a forged line: {line}"
        );
    }
    for c in ['\r', '\0', '\u{202e}'] {
        assert!(!stderr.contains(c), "{c:?} written raw: {stderr:?}");
    }
}

/// 64 concurrent starts whose plugin loops, from one tenant, stall neither the gateway's front
/// nor another tenant: steps run on plugin threads of their own (the front's threads stay
/// free), yield at every epoch tick, and one tenant's steps take at most its share of those
/// threads. Through the real binary; the figures against the targets (health p99 ≤ 50 ms,
/// the other tenant's p99 ≤ 2× unloaded) are `scripts/bench`'s, this asserts only that both
/// are answered well inside a second (it was 1.6 s for /healthz with 32 such calls).
///
/// The bound is a time, and the parallel suite's compiles can take the machine's two cores
/// for longer than that (seen once: 988 ms): scripts/test runs it alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "timing-sensitive: scripts/test runs it alone"]
async fn looping_plugins_of_one_tenant_stall_neither_the_front_nor_another_tenant() {
    const KEY_A: &str = "tenant-a-loops-0123456789abcdef";
    const KEY_B: &str = "tenant-b-honest-fedcba98765432";
    let dir = temp_dir("loop-isolation");
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[gateway]\nlisten = \"127.0.0.1:0\"\nauth = \"tenants\"\n[runtime]\nstep_budget_ms = 100\n{}{}\n[[tenants]]\nid = \"a\"\napi_key_sha256 = \"{}\"\nproviders = [\"loop\"]\n[[tenants]]\nid = \"b\"\napi_key_sha256 = \"{}\"\nproviders = [\"ok\"]\n",
            // No circuit breaker in the way: every looping call runs until its budget.
            hostile("loop", "loop", "[providers.failure]\nunhealthy_after = 1000"),
            hostile("ok", "ok", ""),
            sha256_hex(KEY_A),
            sha256_hex(KEY_B),
        ),
    )
    .expect("config");
    let (mut child, addr) = spawn_serve(&config);
    let bearer = |key: &str| format!("Bearer {key}");
    let (auth_a, auth_b) = (bearer(KEY_A), bearer(KEY_B));
    let loops: Vec<_> = (0..64)
        .map(|_| {
            let auth = auth_a.clone();
            tokio::spawn(async move {
                let body = start("loop").to_string();
                http_with(
                    addr,
                    "POST",
                    "/v1/ingests",
                    &[("authorization", &auth)],
                    Some(&body),
                )
                .await
                .status
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let t = Instant::now();
        let a = http(addr, "GET", "/healthz", None).await;
        assert_eq!(a.status, 200, "{}", a.text);
        slowest = slowest.max(t.elapsed());
        let t = Instant::now();
        let body = start("ok").to_string();
        let a = http_with(
            addr,
            "POST",
            "/v1/ingests",
            &[("authorization", &auth_b)],
            Some(&body),
        )
        .await;
        assert_eq!(a.status, 201, "{}", a.text);
        slowest = slowest.max(t.elapsed());
    }
    assert!(
        slowest < Duration::from_millis(800),
        "a health check or another tenant's call took {slowest:?} while one tenant's plugins looped"
    );
    for call in loops {
        let status = call.await.expect("client");
        assert!(
            status == 500 || status == 504,
            "a looping call ends at its budget or deadline: {status}"
        );
    }
    child.kill().expect("kill");
    let _ = child.wait();
}
