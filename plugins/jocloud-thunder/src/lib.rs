//! Ingest Gateway provider plugin for JOYY / Jocloud Thunder relayed live broadcasting.
//!
//! `push-out` only: `start` → `startrtmp` (one source stream, or a mixed stream with a layout
//! template or custom layout), `update` → `startrtmp` again for the same task (Jocloud's
//! documented way to change destinations or layout), `stop` → `stoprtmp`, authenticated with the header
//! `token: Basic base64(restful_id:restful_secret)` that the host fills in (the plugin only
//! ever holds a placeholder). Jocloud has no query API and no published callback format:
//! `status` and `parse-callback` are not offered (not listed in `describe`, so the gateway
//! answers them `unsupported`). See the crate's README for the field mapping, config, options
//! and error mapping.
//!
//! Layout: [`settings`] (config, hosts, URLs), [`start`] (validation, bodies, session
//! reference), [`update`] (the update's startrtmp body), [`api`] (one call and its answer),
//! [`errors`] (the code table: HTTP status, or a non-zero `code` in a 2xx body → error kind,
//! retryability, hint). Everything except [`api::call`] and the [`Guest`] glue below is pure
//! and unit-tested on the build machine.

pub mod api;
pub mod errors;
pub mod settings;
pub mod start;
pub mod update;

use ingest_plugin_sdk::{
    CallbackRequest, Direction, Guest, IngestEvent, IngestStatus, Operation, ProviderError,
    ProviderInfo, Session, StartRequest, StatusRequest, StopRequest, StopResult, UpdateRequest,
    UpdateResult, config, error,
};

use crate::api::Op;
use crate::settings::Settings;

/// The Jocloud provider.
#[derive(Debug)]
pub struct JocloudThunder;

/// What the plugin is; `region` is the config value that decides the default host.
pub fn info(region: Option<&str>) -> ProviderInfo {
    let key = ingest_plugin_sdk::config_key;
    ingest_plugin_sdk::provider_info! {
        vendor: "JOYY Jocloud Thunder (relayed live broadcasting)",
        directions: vec![Direction::PushOut],
        operations: vec![Operation::Start, Operation::Stop, Operation::Update],
        config_keys: vec![
            key(
                settings::KEY_APP_ID,
                true,
                "The Jocloud AppID (positive integer), sent as appid and in the URL path.",
            ),
            key(
                settings::KEY_REGION,
                false,
                "mainland (api.jocloud.com; default) or oversea (api-oversea.jocloud.com). \
                 Ignored when `endpoint` is set.",
            ),
            key(
                settings::KEY_PATH_PREFIX,
                false,
                "The path between /app/{appid}/ and startrtmp|stoprtmp. Default v2/rtmpforward \
                 (the docs' overview also shows v1/recordoss).",
            ),
        ],
        secrets: ingest_plugin_sdk::required_secrets(&secret_catalog()),
        default_hosts: settings::default_hosts(region),
    }
}

fn settings() -> Result<Settings, ProviderError> {
    Settings::load(config::get)
}

/// Every secret the plugin can use, required and optional (contract 0.2.2's `secret-catalog`);
/// `describe` lists the required ones.
pub fn secret_catalog() -> Vec<ingest_plugin_sdk::SecretSpec> {
    vec![
        ingest_plugin_sdk::secret(
            api::RESTFUL_ID,
            true,
            "The API certificate id, in the token header through a host placeholder.",
        ),
        ingest_plugin_sdk::secret(
            api::RESTFUL_SECRET,
            true,
            "The API certificate key, in the token header through a host placeholder.",
        ),
    ]
}

impl Guest for JocloudThunder {
    fn secrets() -> Vec<ingest_plugin_sdk::SecretSpec> {
        secret_catalog()
    }

    fn describe() -> ProviderInfo {
        info(config::get(settings::KEY_REGION).as_deref())
    }

    fn start(request: StartRequest) -> Result<Session, ProviderError> {
        let settings = settings()?;
        let start = start::build(&request, settings.app_id)?;
        let reply = api::call(&settings, Op::Start, &start.body)?;
        Ok(Session {
            session_ref: start.session_ref,
            vendor_task_id: start.body.taskid,
            issued_urls: Vec::new(),
            vendor_request_id: reply.trace_id,
            expires_at: None,
        })
    }

    fn status(_request: StatusRequest) -> Result<IngestStatus, ProviderError> {
        Err(error::not_offered(
            "jocloud-thunder cannot query a relay: Jocloud documents no status API for relayed \
             live broadcasting (startrtmp/stoprtmp only)",
        ))
    }

    fn parse_callback(_request: CallbackRequest) -> Result<IngestEvent, ProviderError> {
        Err(error::not_offered(
            "jocloud-thunder does not handle callbacks: Jocloud's push-status callback is \
             configured by its support team and its format is not published",
        ))
    }

    fn stop(request: StopRequest) -> Result<StopResult, ProviderError> {
        let settings = settings()?;
        let target = start::SessionRef::decode(&request.session_ref)?;
        let reply = api::call(&settings, Op::Stop, &target.stop_body(settings.app_id))?;
        Ok(StopResult {
            vendor_request_id: reply.trace_id,
        })
    }

    /// `startrtmp` again for the task the session reference names, with the whole new
    /// configuration; the reference (room and task id or uid) does not change.
    fn update(request: UpdateRequest) -> Result<UpdateResult, ProviderError> {
        let settings = settings()?;
        let body = update::build(&request, settings.app_id)?;
        let reply = api::call(&settings, Op::Start, &body)?;
        Ok(UpdateResult {
            session_ref: None,
            vendor_request_id: reply.trace_id,
        })
    }
}

// Only on wasm: on a native target the cdylib's export names (`ingest:provider/…#describe`)
// are not valid ELF symbol-version-script entries, and the link fails.
#[cfg(target_arch = "wasm32")]
ingest_plugin_sdk::export!(JocloudThunder);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_lists_what_the_plugin_does() {
        let i = info(None);
        assert_eq!(i.name, "jocloud-thunder");
        assert_eq!(i.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(i.directions, vec![Direction::PushOut]);
        assert_eq!(
            i.operations,
            vec![Operation::Start, Operation::Stop, Operation::Update]
        );
        let keys = ingest_plugin_sdk::testing::config_key_flags(&i);
        assert_eq!(
            keys,
            vec![("app_id", true), ("region", false), ("path_prefix", false)]
        );
        assert_eq!(i.secrets, vec!["restful_id", "restful_secret"]);
        assert_eq!(i.default_hosts, vec!["api.jocloud.com:443"]);
        assert_eq!(
            info(Some("oversea")).default_hosts,
            vec!["api-oversea.jocloud.com:443"]
        );
    }

    #[test]
    fn describe_lists_what_is_implemented() {
        ingest_plugin_sdk::testing::assert_operations_implemented::<JocloudThunder>();
    }
}
