//! The outbox against real stores and real crashes: gateway processes killed with SIGKILL
//! while callbacks arrive, three replicas on one PostgreSQL, a store that goes away while
//! serving. PostgreSQL comes from `INGEST_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`; `scripts/test` starts one where none answers):
//! these tests fail, never skip, without it.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use ingest_sim::server::{Fault, SimServer};
use ingest_sim::tencent::{CallbackEvent as TrtcEvent, TencentSim, TencentSimConfig};
use sqlx::{Connection, Executor};
use tokio::io::AsyncReadExt;

use crate::events::{Receiver, WEBHOOK_SECRET, callback_event, sim as rc_sim, verify};
use crate::support::*;

const KEY: &str = "outbox-tenant-api-key-0123456789";

/// The PostgreSQL the tests use.
pub fn postgres_url() -> String {
    std::env::var("INGEST_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// A new, empty database on the test PostgreSQL; its URL.
pub async fn fresh_database(tag: &str) -> String {
    let base = postgres_url();
    let mut conn = sqlx::PgConnection::connect(&base).await.unwrap_or_else(|e| {
        panic!(
            "no PostgreSQL at {base} ({e}): scripts/test starts one; or set INGEST_TEST_POSTGRES_URL"
        )
    });
    // Databases earlier runs left (a killed run drops nothing) go first, once per run.
    static SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    SWEPT
        .get_or_init(|| async {
            let mine = format!("\\_{}\\_%", std::process::id());
            let old: Vec<String> = sqlx::query_scalar(
                "SELECT datname FROM pg_database WHERE datname LIKE 'ingest\\_%' AND datname NOT LIKE 'ingest\\_%' || $1",
            )
            .bind(&mine)
            .fetch_all(&mut conn)
            .await
            .unwrap_or_default();
            for db in old {
                let _ = conn
                    .execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")))
                    .await;
            }
        })
        .await;
    let name = format!(
        "ingest_{tag}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    );
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .expect("create database");
    let mut url = url::Url::parse(&base).expect("url");
    url.set_path(&name);
    url.to_string()
}

/// Runs `sql` on the test server's maintenance database.
async fn admin(sql: String) {
    let mut conn = sqlx::PgConnection::connect(&postgres_url())
        .await
        .expect("postgres");
    conn.execute(sqlx::AssertSqlSafe(sql))
        .await
        .expect("admin statement");
}

fn database_of(url: &str) -> String {
    url::Url::parse(url)
        .expect("url")
        .path()
        .trim_start_matches('/')
        .to_string()
}

async fn trtc_sim() -> TencentSim {
    TencentSim::start(TencentSimConfig {
        secret_id: TRTC_SECRET_ID.to_string(),
        secret_key: TRTC_SECRET_KEY.to_string(),
        sdk_app_id: SDK_APP_ID,
        max_skew_secs: 300,
        sdk_secret_key: None,
        callback_key: TRTC_CALLBACK_KEY.to_string(),
    })
    .await
    .expect("simulator")
}

/// A free loopback port nobody listens on (yet).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A gateway config for process tests: tenant `a` with a webhook at `hook_port`, a TRTC and
/// a RongCloud provider, the given store; retries every second, 100 times.
fn process_config(
    trtc: &TencentSim,
    rc: &ingest_sim::rongcloud::RongCloudSim,
    hook_port: u16,
    store: &str,
) -> String {
    let app = SDK_APP_ID.to_string();
    format!(
        r#"[gateway]
listen = "127.0.0.1:0"
auth = "tenants"
handle_key = {{ value = "outbox-handle-key-0123456789abcdef" }}
[[tenants]]
id = "a"
api_key_sha256 = "{key}"
providers = ["*"]
[tenants.webhook]
url = "http://127.0.0.1:{hook_port}/hooks"
secret = {{ value = "{WEBHOOK_SECRET}" }}
[events]
store = "{store}"
retry_schedule_secs = [{schedule}]
lease_secs = 2
poll_interval_ms = 100
{trtc}
{rc}
"#,
        key = sha256_hex(KEY),
        schedule = vec!["1"; 100].join(", "),
        trtc = provider_toml(
            "trtc",
            "tencent-trtc",
            &trtc.base_url(),
            "",
            &[("region", "\"ap-guangzhou\""), ("sdk_app_id", &app)],
            &[
                ("secret_id", TRTC_SECRET_ID),
                ("secret_key", TRTC_SECRET_KEY),
                ("callback_key", TRTC_CALLBACK_KEY)
            ],
        ),
        rc = crate::events::rc_provider(rc),
    )
}

/// One signed callback: where it goes, its headers, its bytes.
#[derive(Clone)]
struct Callback {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// `n` callbacks, half Tencent (701/702, one task each), half RongCloud (one room each).
fn callbacks(
    trtc: &TencentSim,
    rc: &ingest_sim::rongcloud::RongCloudSim,
    n: usize,
) -> Vec<Callback> {
    (0..n)
        .map(|i| {
            if i % 2 == 0 {
                let cb = trtc.signed_callback(&TrtcEvent {
                    event_type: if i % 4 == 0 { 701 } else { 702 },
                    task_id: format!("task-{i}"),
                    status: (i % 4 == 0).then_some(0),
                });
                Callback {
                    path: "/v1/callbacks/trtc/a".into(),
                    headers: cb.headers,
                    body: cb.body,
                }
            } else {
                let cb = rc.signed_callback(&callback_event(&format!("room-{i}"), 61017));
                Callback {
                    path: "/v1/callbacks/rc/a".into(),
                    headers: cb.headers,
                    body: cb.body,
                }
            }
        })
        .collect()
}

/// Posts one callback to a gateway in this process.
async fn post_in_process(gw: &ingest_gateway::Gateway, cb: &Callback) -> Answer {
    call_with(
        gw,
        "POST",
        &cb.path,
        &header_refs(&cb.headers),
        Bytes::from(cb.body.clone()),
    )
    .await
}

/// Posts one callback over HTTP; the answer's status and `event_id`, or why there was none.
async fn send(addr: SocketAddr, cb: &Callback) -> Result<(u16, Option<String>), String> {
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let mut req = http::Request::post(&cb.path).header("host", addr.to_string());
        for (k, v) in &cb.headers {
            req = req.header(k, v);
        }
        let req = req
            .body(Full::new(Bytes::from(cb.body.clone())))
            .map_err(|e| e.to_string())?;
        let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        Ok((status, json["event_id"].as_str().map(str::to_string)))
    };
    tokio::time::timeout(Duration::from_secs(20), exchange)
        .await
        .map_err(|_| "no answer in 20 s".to_string())?
}

/// What the senders saw: callback index → event id, for every callback answered 2xx.
type Answered = Arc<Mutex<HashMap<usize, String>>>;

/// Sends `cbs` (those not yet answered) with 16 senders, round-robin over `addrs`; calls
/// `at_half` once half of them are answered (to kill a gateway mid-stream).
async fn send_all(
    cbs: &[Callback],
    addrs: &[SocketAddr],
    answered: &Answered,
    at_half: Option<Box<dyn FnOnce() + Send>>,
) {
    let todo: Vec<usize> = (0..cbs.len())
        .filter(|i| !answered.lock().expect("lock").contains_key(i))
        .collect();
    let half = answered.lock().expect("lock").len() + todo.len() / 2;
    let queue = Arc::new(Mutex::new(todo.into_iter()));
    let hook = Arc::new(Mutex::new(at_half));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (queue, answered, hook) = (queue.clone(), answered.clone(), hook.clone());
        let (cbs, addrs) = (cbs.to_vec(), addrs.to_vec());
        tasks.push(tokio::spawn(async move {
            loop {
                let Some(i) = queue.lock().expect("lock").next() else {
                    return;
                };
                if let Ok((200, Some(id))) = send(addrs[i % addrs.len()], &cbs[i]).await {
                    let n = {
                        let mut a = answered.lock().expect("lock");
                        a.insert(i, id);
                        a.len()
                    };
                    if n >= half
                        && let Some(f) = hook.lock().expect("lock").take()
                    {
                        f();
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("sender");
    }
}

/// Waits until the receiver has taken every id in `want` (bounded); returns the distinct
/// `webhook-id`s it took (answered 2xx), every delivery verified with the Standard Webhooks
/// library.
async fn delivered(
    receiver: &Receiver,
    want: &BTreeSet<String>,
    within: Duration,
) -> BTreeSet<String> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let got: BTreeSet<String> = receiver.taken().iter().map(verify).collect();
        if want.is_subset(&got) || tokio::time::Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn write_config(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("gateway.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// 200 callbacks while the webhook receiver is down; the gateway SIGKILLed halfway;
/// restarted; the unanswered callbacks sent again (byte for byte, as a vendor retries); the
/// receiver comes up: every answered callback's event arrives, signed, and nothing else.
async fn crash_case(store: &str, tag: &str) {
    let (trtc, rc) = (trtc_sim().await, rc_sim().await);
    // The receiver is down (refuses every attempt) until the end.
    let hooks = Arc::new(Receiver::default());
    hooks.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let receiver = SimServer::start(hooks.clone()).await.expect("receiver");
    let dir = temp_dir(tag);
    let config = write_config(
        &dir,
        &process_config(&trtc, &rc, receiver.addr().port(), store),
    );
    let cbs = callbacks(&trtc, &rc, 200);
    let answered: Answered = Arc::default();

    let (child, addr) = spawn_serve(&config);
    let child = Arc::new(Mutex::new(child));
    let killer = child.clone();
    send_all(
        &cbs,
        &[addr],
        &answered,
        Some(Box::new(move || {
            let _ = killer.lock().expect("lock").kill(); // SIGKILL
        })),
    )
    .await;
    let _ = child.lock().expect("lock").wait();
    let before_restart = answered.lock().expect("lock").len();
    assert!(
        (100..200).contains(&before_restart),
        "the kill landed mid-stream: {before_restart} of 200 answered"
    );

    let (mut child, addr) = spawn_serve(&config);
    send_all(&cbs, &[addr], &answered, None).await;
    let answered: BTreeSet<String> = answered.lock().expect("lock").values().cloned().collect();
    let all_answered = answered.len();

    hooks.down.store(false, std::sync::atomic::Ordering::SeqCst);
    let got = delivered(&hooks, &answered, Duration::from_secs(60)).await;
    let _ = child.kill();
    assert_eq!(
        all_answered, 200,
        "every callback answered 2xx in the end (once resent)"
    );
    assert_eq!(
        got, answered,
        "the distinct webhook-ids are exactly the callbacks answered 2xx"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_killed_gateway_loses_no_accepted_callback() {
    let dir = temp_dir("outbox-crash-sqlite-store");
    let store = format!("sqlite://{}", dir.join("events.sqlite").display());
    let _ = std::fs::remove_file(dir.join("events.sqlite"));
    crash_case(&store, "outbox-crash-sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_killed_gateway_loses_no_accepted_callback() {
    let store = fresh_database("crash").await;
    crash_case(&store, "outbox-crash-postgres").await;
}

/// Opens `GET /v1/events` on `addr` as the test tenant, resuming after `last` when given.
async fn open_stream(addr: SocketAddr, last: Option<i64>) -> tokio::net::TcpStream {
    crate::events::open_stream(addr, KEY, last.map(|l| l.to_string()).as_deref()).await
}

/// An SSE listener's events so far: (stream id, event id) in arrival order.
#[derive(Default)]
struct Heard {
    text: String,
}

impl Heard {
    fn events(&self) -> Vec<(i64, String)> {
        let mut out = Vec::new();
        let mut seq = None;
        for line in self.text.lines() {
            if let Some(n) = line.strip_prefix("id: ") {
                seq = n.trim().parse().ok();
            } else if let Some(data) = line.strip_prefix("data: ")
                && let (Some(s), Ok(v)) =
                    (seq.take(), serde_json::from_str::<serde_json::Value>(data))
            {
                out.push((s, v["id"].as_str().unwrap_or_default().to_string()));
            }
        }
        out
    }
}

/// Reads `s` into `heard` until `stop` says so or `within` passes.
async fn listen_until(
    s: &mut tokio::net::TcpStream,
    heard: &mut Heard,
    within: Duration,
    stop: impl Fn(&Heard) -> bool,
) {
    let deadline = tokio::time::Instant::now() + within;
    let mut buf = [0u8; 16384];
    while !stop(heard) {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => heard.text.push_str(&String::from_utf8_lossy(&buf[..n])),
            _ => return,
        }
    }
}

/// Three gateway processes on one PostgreSQL: callbacks spread over them; one SSE listener
/// on replica 0 hears every event once; another on replica 1 disconnects and resumes with
/// `Last-Event-ID` and misses none and repeats none; replica 2 is SIGKILLed while it
/// delivers (the receiver is slow), and every event is still delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_three_replicas_share_one_stream_and_survive_a_kill() {
    let (trtc, rc) = (trtc_sim().await, rc_sim().await);
    let hooks = Arc::new(Receiver::default());
    let receiver = SimServer::start(hooks.clone()).await.expect("receiver");
    let hook_port = receiver.addr().port();
    receiver.fail_always(Some(Fault::Delay(Duration::from_millis(200))));
    let store = fresh_database("fleet").await;
    let dir = temp_dir("outbox-fleet");
    let config = write_config(&dir, &process_config(&trtc, &rc, hook_port, &store));
    let mut replicas: Vec<_> = (0..3).map(|_| spawn_serve(&config)).collect();
    let addrs: Vec<SocketAddr> = replicas.iter().map(|(_, a)| *a).collect();

    let mut whole = open_stream(addrs[0], None).await;
    let mut heard = Heard::default();
    listen_until(&mut whole, &mut heard, Duration::from_secs(5), |h| {
        h.text.contains("event stream")
    })
    .await;
    let mut part = open_stream(addrs[1], None).await;
    let mut first_part = Heard::default();
    listen_until(&mut part, &mut first_part, Duration::from_secs(5), |h| {
        h.text.contains("event stream")
    })
    .await;

    let n = 150;
    let cbs = callbacks(&trtc, &rc, n);
    let answered: Answered = Arc::default();
    // The first half, spread over all three.
    send_all(&cbs[..n / 2], &addrs, &answered, None).await;
    // The resuming listener leaves after what it heard so far.
    listen_until(&mut part, &mut first_part, Duration::from_secs(10), |h| {
        h.events().len() >= n / 4
    })
    .await;
    drop(part);
    let resume_after = first_part
        .events()
        .last()
        .map(|(s, _)| *s)
        .expect("heard some");
    // Replica 2 dies while deliveries (200 ms each) are in flight.
    let _ = replicas[2].0.kill();
    let _ = replicas[2].0.wait();
    // The second half on the two left.
    let rest: Vec<Callback> = cbs[n / 2..].to_vec();
    let answered_rest: Answered = Arc::default();
    send_all(&rest, &addrs[..2], &answered_rest, None).await;
    let mut want: BTreeSet<String> = answered.lock().expect("lock").values().cloned().collect();
    want.extend(answered_rest.lock().expect("lock").values().cloned());
    assert_eq!(want.len(), n, "every callback answered");

    let mut resumed = open_stream(addrs[1], Some(resume_after)).await;
    let mut second_part = Heard::default();
    listen_until(
        &mut resumed,
        &mut second_part,
        Duration::from_secs(30),
        |h| first_part.events().len() + h.events().len() >= n,
    )
    .await;
    listen_until(&mut whole, &mut heard, Duration::from_secs(30), |h| {
        h.events().len() >= n
    })
    .await;

    let got = delivered(&hooks, &want, Duration::from_secs(60)).await;
    for (child, _) in &mut replicas {
        let _ = child.kill();
    }
    admin(format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        database_of(&store)
    ))
    .await;

    let whole_ids: Vec<String> = heard.events().into_iter().map(|(_, id)| id).collect();
    assert_eq!(
        whole_ids.len(),
        n,
        "one listener hears every event once: {whole_ids:?}"
    );
    assert_eq!(whole_ids.iter().cloned().collect::<BTreeSet<_>>(), want);
    let mut resumed_ids: Vec<String> = first_part.events().into_iter().map(|(_, id)| id).collect();
    resumed_ids.extend(second_part.events().into_iter().map(|(_, id)| id));
    assert_eq!(resumed_ids.len(), n, "no repeat across the reconnect");
    assert_eq!(
        resumed_ids.into_iter().collect::<BTreeSet<_>>(),
        want,
        "no gap across the reconnect"
    );
    assert_eq!(got, want, "every event delivered despite the kill");
}

/// PostgreSQL goes away while the gateway serves: callbacks are refused 503 (the vendor
/// retries) and `/readyz` says so; it comes back: callbacks are stored again and the
/// pending event is delivered, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_store_that_goes_away_refuses_callbacks_and_resumes_by_itself() {
    let (trtc, rc) = (trtc_sim().await, rc_sim().await);
    let hooks = Arc::new(Receiver::default());
    let receiver = SimServer::start(hooks.clone()).await.expect("receiver");
    let store = fresh_database("away").await;
    let db = database_of(&store);
    // In process: no listener of its own.
    let toml = edit_toml(
        &process_config(&trtc, &rc, receiver.addr().port(), &store),
        |doc| {
            table(doc, &["gateway"]).remove("listen");
        },
    );
    let gw = gateway(&toml).await;
    let cbs = callbacks(&trtc, &rc, 3);
    let ok = post_in_process(&gw, &cbs[0]).await;
    assert_eq!(ok.status, 200, "{}", ok.text);

    admin(format!("ALTER DATABASE {db} WITH ALLOW_CONNECTIONS false")).await;
    admin(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'"
    ))
    .await;
    let refused = post_in_process(&gw, &cbs[1]).await;
    assert_eq!(refused.status, 503, "{}", refused.text);
    assert!(
        refused.headers.contains_key("retry-after"),
        "{:?}",
        refused.headers
    );
    assert!(refused.text.contains("event store"), "{}", refused.text);
    let ready = call(&gw, "GET", "/readyz", None).await;
    assert_eq!(ready.status, 503, "{}", ready.text);
    assert_eq!(ready.json["events_store"], "unavailable", "{}", ready.text);

    admin(format!("ALTER DATABASE {db} WITH ALLOW_CONNECTIONS true")).await;
    let mut again = Answer::default();
    for _ in 0..50 {
        again = post_in_process(&gw, &cbs[1]).await;
        if again.status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        again.status, 200,
        "stored once the store is back: {}",
        again.text
    );
    let mut ready = Answer::default();
    for _ in 0..50 {
        ready = call(&gw, "GET", "/readyz", None).await;
        if ready.status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ready.status, 200, "{}", ready.text);
    let want: BTreeSet<String> = [&ok, &again]
        .iter()
        .map(|a| a.json["event_id"].as_str().expect("id").to_string())
        .collect();
    let got = delivered(&hooks, &want, Duration::from_secs(20)).await;
    assert_eq!(got, want);
    drop(gw);
    admin(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).await;
}

/// A store that cannot be reached at start-up is a start-up error naming it (password
/// masked), not a gateway that answers callbacks it cannot keep.
#[tokio::test]
async fn an_unreachable_store_is_a_start_up_error_naming_it() {
    let port = free_port();
    let toml = format!(
        "[gateway]\nauth = \"off\"\n[events]\nstore = \"postgres://postgres:hunter2-secret@127.0.0.1:{port}/nowhere\"\n"
    );
    let config = ingest_gateway::Config::parse(&toml).expect("parses");
    let err = match ingest_gateway::Gateway::from_config(config).await {
        Ok(_) => panic!("a gateway without its event store must not start"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("event store") && err.contains(&format!("127.0.0.1:{port}/nowhere")),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "the password is masked: {err}");
}

/// With `[events] notify` (the default) an event stored by one replica reaches another
/// replica's stream at once, though that replica would not poll for a minute; without it,
/// only at the next poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_notify_wakes_the_other_replicas_stream() {
    let (trtc, rc) = (trtc_sim().await, rc_sim().await);
    for notify in [true, false] {
        let store = fresh_database("notify").await;
        let toml = edit_toml(&process_config(&trtc, &rc, free_port(), &store), |doc| {
            table(doc, &["gateway"]).remove("listen");
            set(doc, &["events", "poll_interval_ms"], 60_000);
            set(doc, &["events", "notify"], notify);
        });
        let a = gateway(&toml).await;
        let b = Arc::new(gateway(&toml).await);
        let served = TestServer::start(b.clone()).await;
        let mut stream = open_stream(served.addr, None).await;
        let mut heard = Heard::default();
        listen_until(&mut stream, &mut heard, Duration::from_secs(5), |h| {
            h.text.contains("event stream")
        })
        .await;
        // One event through b itself: once it is heard, b's tailer has done its work and
        // waits (a minute, or a notification).
        let cbs = callbacks(&trtc, &rc, 2);
        let own = post_in_process(&b, &cbs[0]).await;
        assert_eq!(own.status, 200, "{}", own.text);
        listen_until(&mut stream, &mut heard, Duration::from_secs(5), |h| {
            !h.events().is_empty()
        })
        .await;
        assert_eq!(
            heard.events().len(),
            1,
            "b hears its own event: {}",
            heard.text
        );
        let mut heard = Heard::default();
        let posted = post_in_process(&a, &cbs[1]).await;
        assert_eq!(posted.status, 200, "{}", posted.text);
        listen_until(&mut stream, &mut heard, Duration::from_secs(3), |h| {
            !h.events().is_empty()
        })
        .await;
        let got: Vec<String> = heard.events().into_iter().map(|(_, id)| id).collect();
        if notify {
            assert_eq!(
                got,
                [posted.json["event_id"].as_str().expect("id")],
                "NOTIFY woke replica b"
            );
        } else {
            assert!(
                got.is_empty(),
                "without NOTIFY, replica b waits for its poll: {got:?}"
            );
        }
        drop((a, served, b));
        admin(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            database_of(&store)
        ))
        .await;
    }
}
