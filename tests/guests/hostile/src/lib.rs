//! A provider plugin that misbehaves on purpose, chosen by its `mode` config key. The test
//! suite uses it to show the host survives each case; it is never shipped.
//!
//! | mode | what it does in `start` |
//! |---|---|
//! | `ok` (default) | succeeds with session reference `ok` |
//! | `loop` | spins forever |
//! | `panic` | panics |
//! | `memory` | allocates until the memory cap |
//! | `recursion` | recurses until the stack runs out |
//! | `header-bomb` | GETs `target` with, per config `bomb`: `count` 20,000 headers, `bytes` one 2 MiB header value, `url` a 40 KiB query |
//! | `fetch-then-ok` | GETs `target` like `fetch`, then succeeds whatever the answer |
//! | `fetch` | GETs the `target` URL (off the allowlist, a private address by name, a vendor that never answers …): returns that request as its first step |
//! | `request-storm` | GETs `target` again and again, whatever the answer (a refusal included) |
//! | `secret-probe` | asks the host to hash a secret it was not granted |
//! | `huge-ref` | returns a 64 KiB session reference |
//! | `huge-message` | fails with a 10 MiB message and 10 MiB vendor fields |
//! | `huge-urls` | returns 100,000 issued URLs |
//! | `huge-id` | returns a 1 MiB vendor task id |
//! | `log-flood` | writes a 1 MiB log line, then log lines forever |
//! | `log-forge` | logs a line holding a newline and a forged gateway ERROR line, a carriage return, a bidi override and a NUL, then succeeds |
//! | `config-dump` | fails with every config entry and the endpoint in its message |
//! | `digest-leak` | logs and fails with the SHA-256 of the secret named by `secret` |
//! | `placeholder-echo` | logs and fails with a placeholder for the secret named by `secret` |
//! | `reflect` | POSTs a placeholder of `secret` to `target` (an echo server) and logs the answer; fails with it (`out = "error"`, default) or returns it as its session reference (`out = "session"`: the gateway seals it into the handle) |
//! | `reflect-decode` | as `reflect`, then decodes the hex echo to recover the secret and returns it: in an error (`out = "error"`, default) or a session (`out = "session"`) |
//!
//! Its secret catalog (contract 0.2.2) is the SDK's default (describe lists no secrets, so
//! none), except in two modes: `catalog-disagrees` marks `api_key` required though `describe`
//! does not list it, and `catalog-huge` names 1,000 secrets (past the host's 256).
//!
//! `update` (every mode) answers a new session reference `{old}+{stream_url}`; with `huge-ref`
//! in its options, a 64 KiB one.
//!
//! In contract 0.2 the plugin performs no I/O: `fetch` and `reflect` return their request as a
//! step (the SDK's replay glue), and read the host's answer when `start` runs again.

use ingest_plugin_sdk::creds::{self, HashAlgorithm};
use ingest_plugin_sdk::http::{self, send};
use ingest_plugin_sdk::*;

struct Hostile;

fn mode() -> String {
    config::get("mode").unwrap_or_else(|| "ok".to_string())
}

/// The secret named by the `secret` config key (a secret the provider was granted).
fn secret_name() -> String {
    config::get("secret").unwrap_or_else(|| "api_key".to_string())
}

/// Recurses until the stack runs out; the frame buffer keeps the compiler from turning the
/// recursion into a loop.
#[expect(unconditional_recursion, reason = "the point of the test")]
fn recurse(buf: &mut [u8; 256]) -> u64 {
    buf[0] = buf[0].wrapping_add(1);
    let mut next = [0u8; 256];
    next[1] = std::hint::black_box(buf[0]);
    recurse(&mut next) + u64::from(buf[0])
}

fn fetch(url: &str) -> Result<Session, ProviderError> {
    let req = ::http::Request::get(url)
        .body(Vec::new())
        .map_err(|e| error::invalid_argument(format!("bad target: {e}")))?;
    let resp = send(req)?;
    Ok(session(&format!("status-{}", resp.status().as_u16())))
}

/// A vendor request past the host's bounds on headers or URL, per config `bomb`.
fn header_bomb(url: &str) -> Result<Session, ProviderError> {
    let bad = |e: ::http::Error| error::invalid_argument(format!("bad request: {e}"));
    let req = match config::get("bomb").as_deref() {
        Some("count") => {
            let mut b = ::http::Request::get(url);
            for i in 0..20_000 {
                b = b.header(format!("x-h{i}"), "v");
            }
            b.body(Vec::new()).map_err(bad)?
        }
        Some("bytes") => ::http::Request::get(url)
            .header("x-big", "v".repeat(2 << 20))
            .body(Vec::new())
            .map_err(bad)?,
        _ => ::http::Request::get(format!("{url}?{}", "q".repeat(40 << 10)))
            .body(Vec::new())
            .map_err(bad)?,
    };
    let resp = send(req)?;
    Ok(session(&format!("status-{}", resp.status().as_u16())))
}

fn session(r: &str) -> Session {
    Session {
        session_ref: r.to_string(),
        vendor_task_id: None,
        issued_urls: Vec::new(),
        vendor_request_id: None,
        expires_at: None,
    }
}

fn fail(message: String) -> ProviderError {
    error::new(ErrorKind::VendorInternal, message)
}

/// Sends a placeholder of the granted secret to `target` in the query and the body, and
/// returns the answer's body as text.
fn reflect() -> Result<String, ProviderError> {
    let token = creds::placeholder(&[creds::secret(&secret_name())])?;
    let target = config::get("target").unwrap_or_default();
    let req = ::http::Request::post(format!("{target}/echo?k={token}"))
        .header("x-token", token.as_str())
        .body(format!("{{\"key\":\"{token}\"}}").into_bytes())
        .map_err(|e| error::invalid_argument(format!("bad target: {e}")))?;
    let resp = send(req)?;
    Ok(String::from_utf8_lossy(resp.body()).into_owned())
}

/// Pulls the secret out of the echo server's `"hex"` field (the request body, hex-encoded):
/// the host cannot recognise an encoded reflection, so this plugin now holds the secret.
fn decode_reflection(answer: &str) -> Option<String> {
    let start = answer.find("\"hex\":\"")? + 7;
    let end = start + answer[start..].find('"')?;
    let body = hex::decode(&answer[start..end]).ok()?;
    let body = String::from_utf8(body).ok()?;
    let value = body.strip_prefix("{\"key\":\"")?.strip_suffix("\"}")?;
    Some(value.to_string())
}

impl Guest for Hostile {
    fn describe() -> ProviderInfo {
        let key = |name: &str, description: &str| ConfigKey {
            name: name.into(),
            required: false,
            description: description.into(),
        };
        ProviderInfo {
            // `describe_name` lets a test make the plugin claim another plugin's name.
            name: config::get("describe_name").unwrap_or_else(|| "test-hostile".to_string()),
            version: env!("CARGO_PKG_VERSION").to_string(),
            vendor: "nobody".to_string(),
            directions: vec![
                Direction::PullIn,
                Direction::PushIn,
                Direction::PushOut,
                Direction::PullOut,
            ],
            operations: vec![
                Operation::Start,
                Operation::Stop,
                Operation::Status,
                Operation::Update,
            ],
            config_keys: vec![
                key("mode", "how to misbehave"),
                key(
                    "target",
                    "URL for the fetch, request-storm and reflect modes",
                ),
                key("secret", "name of a granted secret for the secret modes"),
                key("bomb", "what header-bomb oversizes: count, bytes or url"),
                key(
                    "describe_name",
                    "the name describe claims (default test-hostile)",
                ),
                key(
                    "out",
                    "where reflect and reflect-decode put what they got: error or session",
                ),
            ],
            secrets: vec![],
            default_hosts: vec![],
        }
    }

    fn secrets() -> Vec<SecretSpec> {
        match mode().as_str() {
            "catalog-disagrees" => vec![secret("api_key", true, "listed nowhere else")],
            "catalog-huge" => (0..1_000)
                .map(|i| secret(&format!("s{i}"), false, "one of many"))
                .collect(),
            _ => Vec::new(),
        }
    }

    fn start(_request: StartRequest) -> Result<Session, ProviderError> {
        match mode().as_str() {
            "loop" => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "panic" => panic!("hostile plugin panics on purpose"),
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "recursion" => {
                let mut buf = [0u8; 256];
                let n = recurse(&mut buf);
                Ok(session(&n.to_string()))
            }
            "fetch" => fetch(&config::get("target").unwrap_or_default()),
            "header-bomb" => header_bomb(&config::get("target").unwrap_or_default()),
            "fetch-then-ok" => {
                // Whatever the host answers (a refusal included), claim success.
                let _ = fetch(&config::get("target").unwrap_or_default());
                Ok(session("done-anyway"))
            }
            "request-storm" => {
                // Asks for the same request again and again, whatever the host answers (a
                // refusal included), and ends its step only to ask once more.
                let url = config::get("target").unwrap_or_default();
                loop {
                    let req = ::http::Request::get(&url)
                        .body(Vec::new())
                        .map_err(|e| error::invalid_argument(format!("bad target: {e}")))?;
                    if let Err(e @ http::SendError::Pending) = send(req) {
                        return Err(e.into());
                    }
                }
            }
            "secret-probe" => {
                // Ask for a secret this provider was not granted; the host must refuse by name.
                let out = creds::digest(HashAlgorithm::Sha256, &[creds::secret("not_granted")]);
                match out {
                    Ok(_) => Ok(session("leaked")),
                    Err(e) => Err(e),
                }
            }
            "huge-ref" => Ok(session(&"x".repeat(1 << 16))),
            "huge-message" => {
                let big = "m".repeat(10 << 20);
                Err(ProviderError {
                    kind: ErrorKind::VendorInternal,
                    message: big.clone(),
                    vendor_code: Some("c".repeat(1 << 20)),
                    vendor_message: Some(big),
                    vendor_request_id: Some("r".repeat(1 << 20)),
                    retryable: false,
                    retry_after_secs: None,
                })
            }
            "huge-urls" => Ok(Session {
                issued_urls: (0..100_000)
                    .map(|i| IssuedUrl {
                        purpose: UrlPurpose::Play,
                        url: format!("https://cdn.example.com/live/stream-{i:06}.flv"),
                    })
                    .collect(),
                ..session("urls")
            }),
            "huge-id" => Ok(Session {
                vendor_task_id: Some("t".repeat(1 << 20)),
                ..session("id")
            }),
            "log-forge" => {
                log::log(
                    log::Level::Info,
                    "harmless\n2026-12-06T00:00:00.000000Z ERROR ingest_gateway: forged by a plugin\r\u{202e}desrever\0end",
                );
                Ok(session("forged-log"))
            }
            "log-flood" => {
                log::log(
                    log::Level::Info,
                    &format!("flood-big {}", "b".repeat(1 << 20)),
                );
                let mut n: u64 = 0;
                loop {
                    n = n.wrapping_add(1);
                    log::log(
                        log::Level::Info,
                        &format!("flood-line {n} {}", "f".repeat(1024)),
                    );
                }
            }
            "config-dump" => Err(fail(format!(
                "config: {:?}; endpoint: {:?}",
                config::entries(),
                config::endpoint()
            ))),
            "digest-leak" => {
                let digest =
                    creds::digest_hex(HashAlgorithm::Sha256, &[creds::secret(&secret_name())])?;
                log::log(log::Level::Warn, &format!("digest-leak {digest}"));
                Err(fail(format!("digest-leak {digest}")))
            }
            "placeholder-echo" => {
                let token = creds::placeholder(&[creds::secret(&secret_name())])?;
                let basic = creds::basic_auth_placeholder(
                    &[creds::text("user")],
                    &[creds::secret(&secret_name())],
                )?;
                log::log(
                    log::Level::Warn,
                    &format!("placeholder-echo {token} {basic}"),
                );
                Err(ProviderError {
                    vendor_request_id: Some(token.clone()),
                    vendor_message: Some(basic.clone()),
                    ..fail(format!("placeholder-echo {token} {basic}"))
                })
            }
            "reflect" => {
                let answer = reflect()?;
                log::log(log::Level::Warn, &format!("reflect {answer}"));
                if config::get("out").as_deref() == Some("session") {
                    return Ok(session(&answer));
                }
                Err(ProviderError {
                    vendor_message: Some(answer.clone()),
                    ..fail(format!("reflect {answer}"))
                })
            }
            "reflect-decode" => {
                let answer = reflect()?;
                let Some(secret) = decode_reflection(&answer) else {
                    return Err(fail(format!("no reflection to decode in {answer}")));
                };
                log::log(log::Level::Warn, &format!("reflect-decode {secret}"));
                if config::get("out").as_deref() == Some("session") {
                    Ok(Session {
                        issued_urls: vec![IssuedUrl {
                            purpose: UrlPurpose::Play,
                            url: format!("https://cdn.example.com/{secret}"),
                        }],
                        ..session("stolen")
                    })
                } else {
                    Err(ProviderError {
                        vendor_request_id: Some(secret.clone()),
                        vendor_code: Some(secret.clone()),
                        vendor_message: Some(secret.clone()),
                        ..fail(format!("reflect-decode {secret}"))
                    })
                }
            }
            _ => Ok(session("ok")),
        }
    }

    fn stop(_request: StopRequest) -> Result<StopResult, ProviderError> {
        Ok(StopResult {
            vendor_request_id: None,
        })
    }

    fn status(request: StatusRequest) -> Result<IngestStatus, ProviderError> {
        Ok(IngestStatus {
            state: IngestState::Running,
            vendor_state: Some(request.session_ref),
            detail: None,
            vendor_request_id: None,
        })
    }

    /// `update`: a new session reference `{old}+{stream_url}` (the gateway must issue a new
    /// handle for it); with `huge-ref` in its options, a 64 KiB one (the host's bound).
    fn update(request: UpdateRequest) -> Result<UpdateResult, ProviderError> {
        let session_ref = if request.options_json.contains("huge-ref") {
            "x".repeat(1 << 16)
        } else {
            format!(
                "{}+{}",
                request.session_ref,
                request.stream_url.unwrap_or_default()
            )
        };
        Ok(UpdateResult {
            session_ref: Some(session_ref),
            vendor_request_id: None,
        })
    }

    // parse-callback: the SDK's default, `unsupported`.
}

ingest_plugin_sdk::export!(Hostile);
