//! Ingest Gateway provider plugin for RongCloud RTC Cloud Player.
//!
//! `pull-in` only: `start` → `POST /v2/rtc/cloudplayer/start`, `stop` →
//! `POST /v2/rtc/cloudplayer/stop`, both signed `SHA1(AppSecret ‖ Nonce ‖ Timestamp)` through
//! the host's credentials interface, failing over from the primary to the backup domain.
//! RongCloud has no query API: `status` is not offered (not listed in `describe`, so the
//! gateway answers it `unsupported`), and state arrives by callback (`parse-callback`). See the
//! crate's README for the field mapping, config, options and error mapping.
//!
//! Layout: [`settings`] (config, regions, endpoints), [`sign`] (signature, nonce, request id),
//! [`start`] (validation, bodies, session reference), [`api`] (one signed call with fail-over
//! and its answer), [`errors`] (the code table: code → error kind, retryability, hint),
//! [`callback`] (verifying and normalizing status callbacks). Everything except [`api::call`]
//! and the [`Guest`] glue below is pure apart from the host's signing, and unit-tested on the
//! build machine (the SDK's `TestHost` holds the test's `app_secret`).

pub mod api;
pub mod callback;
pub mod errors;
pub mod settings;
pub mod sign;
pub mod start;

use ingest_plugin_sdk::{
    CallbackRequest, Direction, Guest, IngestEvent, IngestStatus, Operation, ProviderError,
    ProviderInfo, Session, StartRequest, StatusRequest, StopRequest, StopResult, config, context,
    error,
};

use crate::api::Op;
use crate::settings::Settings;

/// The RongCloud provider.
#[derive(Debug)]
pub struct RongCloud;

/// What the plugin is; `region` and `backup_endpoint` are the config values that decide the
/// default hosts.
pub fn info(region: Option<&str>, backup_endpoint: Option<&str>) -> ProviderInfo {
    let key = ingest_plugin_sdk::config_key;
    ingest_plugin_sdk::provider_info! {
        vendor: "RongCloud RTC (Cloud Player)",
        directions: vec![Direction::PullIn],
        operations: vec![Operation::Start, Operation::Stop, Operation::ParseCallback],
        config_keys: vec![
            key(
                settings::KEY_APP_KEY,
                true,
                "The RongCloud App Key (text), sent as the App-Key header.",
            ),
            key(
                settings::KEY_REGION,
                false,
                "Data centre: bj (China, Beijing; default), sg, sg-b, na or sau. Decides the \
                 primary and backup API domains. Ignored when `endpoint` is set.",
            ),
            key(
                settings::KEY_BACKUP_ENDPOINT,
                false,
                "Only with `endpoint`: a second base URL (http(s)://host[:port]) tried when \
                 `endpoint` cannot be reached or answers 5xx. Default: none (with `endpoint` \
                 alone there is no fail-over).",
            ),
            key(
                settings::KEY_VERIFY_CALLBACKS,
                false,
                "Whether callbacks must carry a valid signature (true/false). Default true.",
            ),
        ],
        secrets: ingest_plugin_sdk::required_secrets(&secret_catalog()),
        default_hosts: settings::default_hosts(region, backup_endpoint),
    }
}

fn settings() -> Result<Settings, ProviderError> {
    Settings::load(config::get, config::endpoint().as_deref())
}

/// Every secret the plugin can use, required and optional (contract 0.2.2's `secret-catalog`);
/// `describe` lists the required ones.
pub fn secret_catalog() -> Vec<ingest_plugin_sdk::SecretSpec> {
    vec![ingest_plugin_sdk::secret(
        sign::APP_SECRET,
        true,
        "The App Secret: the first part of SHA1(AppSecret + Nonce + Timestamp) computed by the host, for requests and for verifying callbacks.",
    )]
}

impl Guest for RongCloud {
    fn secrets() -> Vec<ingest_plugin_sdk::SecretSpec> {
        secret_catalog()
    }

    fn describe() -> ProviderInfo {
        info(
            config::get(settings::KEY_REGION).as_deref(),
            config::get(settings::KEY_BACKUP_ENDPOINT).as_deref(),
        )
    }

    fn start(request: StartRequest) -> Result<Session, ProviderError> {
        let settings = settings()?;
        let start = start::build(&request)?;
        let reply = api::call(
            &settings,
            config::endpoint().as_deref(),
            Op::Start,
            &start.room_id,
            &start.body,
        )?;
        Ok(start::session(&start, reply))
    }

    fn status(_request: StatusRequest) -> Result<IngestStatus, ProviderError> {
        Err(error::not_offered(
            "rongcloud cannot query an ingest: RongCloud's Cloud Player has no status API; its \
             state arrives by callback — give `callback_url` (or set the callback URL in the \
             RongCloud console) pointing at the gateway's POST /v1/callbacks/{provider}, which \
             turns each callback into a normalized event",
        ))
    }

    fn stop(request: StopRequest) -> Result<StopResult, ProviderError> {
        let settings = settings()?;
        let (room_id, body) = start::stop(&request.session_ref)?;
        let reply = api::call(
            &settings,
            config::endpoint().as_deref(),
            Op::Stop,
            &room_id,
            &body,
        )?;
        Ok(start::stopped(reply))
    }

    fn parse_callback(request: CallbackRequest) -> Result<IngestEvent, ProviderError> {
        let settings = settings()?;
        callback::parse(&settings, &request, context::now_ms())
    }
}

// Only on wasm: on a native target the cdylib's export names (`ingest:provider/…#describe`)
// are not valid ELF symbol-version-script entries, and the link fails.
#[cfg(target_arch = "wasm32")]
ingest_plugin_sdk::export!(RongCloud);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_lists_what_the_plugin_does() {
        let i = info(None, None);
        assert_eq!(i.name, "rongcloud");
        assert_eq!(i.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(i.directions, vec![Direction::PullIn]);
        assert_eq!(
            i.operations,
            vec![Operation::Start, Operation::Stop, Operation::ParseCallback]
        );
        let keys = ingest_plugin_sdk::testing::config_key_flags(&i);
        assert_eq!(
            keys,
            vec![
                ("app_key", true),
                ("region", false),
                ("backup_endpoint", false),
                ("verify_callbacks", false)
            ]
        );
        assert_eq!(i.secrets, vec!["app_secret"]);
        assert_eq!(
            i.default_hosts,
            vec!["api.rong-api.com:443", "api-b.rong-api.com:443"]
        );
        assert_eq!(
            info(Some("na"), Some("http://127.0.0.1:9199")).default_hosts,
            vec![
                "api.us-light-api.com:443",
                "api-b.us-light-api.com:443",
                "127.0.0.1:9199"
            ]
        );
    }

    #[test]
    fn describe_lists_what_is_implemented() {
        ingest_plugin_sdk::testing::assert_operations_implemented::<RongCloud>();
    }
}
