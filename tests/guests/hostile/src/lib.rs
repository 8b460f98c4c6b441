//! A provider plugin that misbehaves on purpose, chosen by its `mode` config key. The test
//! suite uses it to show the host survives each case; it is never shipped.

use ingest_plugin_sdk::creds::{self, HashAlgorithm};
use ingest_plugin_sdk::http::send;
use ingest_plugin_sdk::*;

struct Hostile;

fn mode() -> String {
    config::get("mode").unwrap_or_else(|| "ok".to_string())
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

fn session(r: &str) -> Session {
    Session {
        session_ref: r.to_string(),
        vendor_task_id: None,
        issued_urls: Vec::new(),
        vendor_request_id: None,
        expires_at: None,
    }
}

impl Guest for Hostile {
    fn describe() -> ProviderInfo {
        ProviderInfo {
            name: "test-hostile".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            vendor: "nobody".to_string(),
            directions: vec![
                Direction::PullIn,
                Direction::PushIn,
                Direction::PushOut,
                Direction::PullOut,
            ],
            operations: vec![Operation::Start, Operation::Stop, Operation::Status],
            config_keys: vec![
                ConfigKey {
                    name: "mode".into(),
                    required: false,
                    description: "how to misbehave".into(),
                },
                ConfigKey {
                    name: "target".into(),
                    required: false,
                    description: "URL for fetch modes".into(),
                },
            ],
            secrets: vec![],
            default_hosts: vec![],
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
            "secret-probe" => {
                // Ask for a secret this provider was not granted; the host must refuse by name.
                let out = creds::digest(HashAlgorithm::Sha256, &[creds::secret("not_granted")]);
                match out {
                    Ok(_) => Ok(session("leaked")),
                    Err(e) => Err(e),
                }
            }
            "huge-ref" => Ok(session(&"x".repeat(1 << 16))),
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

    fn parse_callback(_request: CallbackRequest) -> Result<IngestEvent, ProviderError> {
        Err(error::unsupported("no callbacks"))
    }
}

ingest_plugin_sdk::export!(Hostile);
