//! Fuzz targets for the gateway's parsers of untrusted input. Each takes arbitrary bytes and
//! must never panic; where the input parses, it checks what the parser promises.
//!
//! | target | input | who controls it |
//! |---|---|---|
//! | [`start_body`] | `POST /v1/ingests` body → [`StartBody::parse`] | any API client |
//! | [`handle`] | an ingest id → [`HandleKey::open`]; and arbitrary fields → seal → open | any API client (ids are in URLs) |
//! | [`config`] | the TOML config → [`Config::parse`] | the operator (a typo must be an error, never a crash) |
//!
//! `fuzz_targets/*.rs` hand them to libFuzzer (`cargo +nightly fuzz run <target>`);
//! `tests/fallback.rs` replays the seed corpus through them on stable, and drives them with
//! random mutations of it when no nightly toolchain is available.

use std::sync::LazyLock;

use ingest_gateway::StartBody;
use ingest_gateway::internals::{HandleData, HandleKey, MAX_HANDLE_LEN};
use ingest_gateway::{Config, ErrorKind};

/// A fuzz target: any bytes in, a panic when a check fails.
pub type Target = fn(&[u8]);

/// Every target by name, for the stable fallback runner.
pub const TARGETS: &[(&str, Target)] = &[
    ("start_body", start_body),
    ("handle", handle),
    ("config", config),
];

/// Longest id-like field a parsed start body may hold (`api::MAX_ID_LEN`).
const MAX_ID_LEN: usize = 256;

/// `POST /v1/ingests`: a body either parses into a request whose checked fields hold what the
/// checks promise, or is refused as `invalid-argument` with a bounded detail.
pub fn start_body(data: &[u8]) {
    match StartBody::parse(data) {
        Ok(body) => {
            for id in [&body.room_id, &body.user_id] {
                assert!(!id.trim().is_empty() && id.len() <= MAX_ID_LEN, "{id:?}");
            }
            let request = body.to_request();
            let options: serde_json::Value =
                serde_json::from_str(&request.options_json).expect("options_json is JSON");
            assert!(options.is_object(), "{options}");
        }
        Err(e) => {
            assert_eq!(e.kind, ErrorKind::InvalidArgument, "{e}");
            assert!(!e.detail.is_empty());
            // The detail may quote a refused URL (at most 4 KiB), never the whole body.
            assert!(
                e.detail.len() <= 8 * 1024 + data.len().min(8 * 1024),
                "{}",
                e.detail.len()
            );
            assert!(e.to_problem().is_object());
        }
    }
}

static KEY: LazyLock<HandleKey> =
    LazyLock::new(|| HandleKey::new(b"fuzz-handle-key-0123456789abcdef".to_vec()));

/// Splits `data` into provider, session reference and tenant (separated by NUL bytes).
pub fn fields(data: &[u8]) -> HandleData {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\0');
    HandleData {
        provider: parts.next().unwrap_or_default().to_string(),
        session_ref: parts.next().unwrap_or_default().to_string(),
        tenant: parts.next().map(str::to_string),
    }
}

/// Ingest handles: any text either opens to data that seals back to an equal handle, or is
/// refused; arbitrary fields seal and open to the same fields whenever the handle fits
/// [`MAX_HANDLE_LEN`] (and are refused, never misread, when it does not); one altered
/// character is always refused.
pub fn handle(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data)
        && let Some(opened) = KEY.open(text)
    {
        assert_eq!(KEY.open(&KEY.seal(&opened)), Some(opened));
    }

    let fields = fields(data);
    let sealed = KEY.seal(&fields);
    if sealed.len() > MAX_HANDLE_LEN {
        assert_eq!(KEY.open(&sealed), None);
        return;
    }
    assert_eq!(KEY.open(&sealed).as_ref(), Some(&fields));
    // Alter one character, chosen by the input, to another printable one.
    let bytes = sealed.as_bytes();
    let seed = data
        .iter()
        .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(*b as usize));
    let at = seed % bytes.len();
    let mut replacement = b' ' + ((seed / bytes.len()) % 95) as u8;
    if replacement == bytes[at] {
        replacement = if replacement == b'~' {
            b' '
        } else {
            replacement + 1
        };
    }
    let mut altered = bytes.to_vec();
    altered[at] = replacement;
    let altered = String::from_utf8(altered).expect("handles are ASCII");
    assert_eq!(KEY.open(&altered), None, "altered at {at}: {altered}");
}

/// The config file: any text either parses into a config that validates, or is an error
/// with a message; it never panics.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(text) {
        Ok(config) => {
            assert!(config.validate().is_ok());
            for provider in &config.providers {
                let _ = provider.config_strings();
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}
