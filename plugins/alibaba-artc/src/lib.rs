//! Ingest Gateway provider plugin for Alibaba Cloud ARTC RTMP ingest addresses.
//!
//! `push-in` only: `start` → `CreateRoomRealTimeStreamAddress` (ApsaraVideo Live API
//! `2016-11-01`), `status` → `DescribeChannelParticipants`. There is no stop: Alibaba ARTC has
//! no call that ends an issued RTMP address; the session ends when the encoder stops pushing,
//! and the address stops working at the session's `expires_at` (start's `expires_in_secs`,
//! default 36000 s), after which `status` reports `not-found`. Nor are there callbacks: Alibaba
//! publishes none for issued ARTC ingest addresses (poll `status`). So `describe` lists `start`
//! and `status`, and `stop` and `parse-callback` are the SDK's `unsupported` defaults. Requests
//! are Alibaba Cloud RPC calls signed with HMAC-SHA1 (`SignatureVersion` 1.0) through the
//! host's credentials interface. See the crate's README for the field mapping, config and
//! error mapping.
//!
//! Layout: [`settings`] (config and endpoint), [`start`], [`status`] and [`session`] (request
//! validation, parameters, reading answers), [`sign`] (the RPC signature), [`api`] (one signed
//! call and its envelope), [`errors`] (vendor codes → error kinds). All of it, signing
//! included, is unit-tested on the build machine, where the SDK's `TestHost` answers the
//! host's interfaces.

pub mod api;
pub mod errors;
pub mod session;
pub mod settings;
pub mod sign;
pub mod start;
pub mod status;

use ingest_plugin_sdk::{
    CallbackRequest, Direction, Guest, IngestEvent, IngestStatus, Operation, ProviderError,
    ProviderInfo, Session, StartRequest, StatusRequest, StopRequest, StopResult, config, context,
    error, provider_info,
};

use crate::session::SessionRef;
use crate::settings::Settings;

/// Action names.
const CREATE: &str = "CreateRoomRealTimeStreamAddress";
const DESCRIBE: &str = "DescribeChannelParticipants";

/// The Alibaba ARTC provider.
#[derive(Debug)]
pub struct AlibabaArtc;

/// What the plugin is; `region` is the `region` config key, which decides the default host.
pub fn info(region: Option<&str>) -> ProviderInfo {
    let key = ingest_plugin_sdk::config_key;
    provider_info! {
        vendor: "Alibaba Cloud ARTC (ApsaraVideo Live)",
        directions: vec![Direction::PushIn],
        operations: vec![Operation::Start, Operation::Status],
        config_keys: vec![
            key(
                settings::KEY_APP_ID,
                true,
                "The ARTC application id (text, up to 64 characters A-Z a-z 0-9 _ -), sent as \
                 AppId.",
            ),
            key(
                settings::KEY_REGION,
                false,
                "Alibaba Cloud region id, e.g. cn-shanghai. Mapped to the API host like \
                 Alibaba's official SDK does: the regions in its endpoint table (cn-hangzhou, \
                 cn-shanghai, cn-beijing, cn-shenzhen, cn-qingdao, ap-southeast-1, \
                 eu-central-1, …) use live.aliyuncs.com, any other region \
                 live.{region}.aliyuncs.com. Default: none, i.e. live.aliyuncs.com. Ignored \
                 when `endpoint` is set.",
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
            sign::SECRET_ACCESS_KEY_ID,
            true,
            "The AccessKey ID, sent as AccessKeyId through a host placeholder and signed as a secret reference.",
        ),
        ingest_plugin_sdk::secret(
            sign::SECRET_ACCESS_KEY_SECRET,
            true,
            "The AccessKey secret: the HMAC-SHA1 key (secret + \"&\"), used only inside the host.",
        ),
    ]
}

impl Guest for AlibabaArtc {
    fn secrets() -> Vec<ingest_plugin_sdk::SecretSpec> {
        secret_catalog()
    }

    fn describe() -> ProviderInfo {
        info(config::get(settings::KEY_REGION).as_deref())
    }

    fn start(request: StartRequest) -> Result<Session, ProviderError> {
        let params = start::build(&request)?;
        let settings = settings()?;
        let reply = api::call(&settings, CREATE, params.params(&settings.app_id))?;
        start::session(reply, &params, context::now_ms() / 1000)
    }

    fn stop(_request: StopRequest) -> Result<StopResult, ProviderError> {
        Err(error::not_offered(
            "alibaba-artc cannot stop an ingest: Alibaba ARTC has no call that ends an issued \
             RTMP address. The session ends when the encoder stops pushing, and the address \
             stops working at the session's expires_at (start's `expires_in_secs`, default \
             36000 s). Stop the encoder; `status` then reports not-found",
        ))
    }

    fn parse_callback(_request: CallbackRequest) -> Result<IngestEvent, ProviderError> {
        Err(error::not_offered(
            "alibaba-artc does not handle callbacks: Alibaba publishes no callback for issued \
             ARTC ingest addresses; poll `status` (DescribeChannelParticipants) instead",
        ))
    }

    fn status(request: StatusRequest) -> Result<IngestStatus, ProviderError> {
        let session = SessionRef::decode(&request.session_ref)?;
        let settings = settings()?;
        status::scan(&session, context::now_ms() / 1000, |page| {
            api::call(
                &settings,
                DESCRIBE,
                status::params(&settings.app_id, &session, page),
            )
        })
    }
}

// Only on wasm: on a native target the cdylib's export names (`ingest:provider/…#describe`)
// are not valid ELF symbol-version-script entries, and the link fails.
#[cfg(target_arch = "wasm32")]
ingest_plugin_sdk::export!(AlibabaArtc);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_lists_what_is_implemented() {
        ingest_plugin_sdk::testing::assert_operations_implemented::<AlibabaArtc>();
    }

    #[test]
    fn describe_lists_what_the_plugin_does() {
        let i = info(None);
        assert_eq!(i.name, "alibaba-artc");
        assert_eq!(i.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(i.directions, vec![Direction::PushIn]);
        assert_eq!(i.operations, vec![Operation::Start, Operation::Status]);
        let keys = ingest_plugin_sdk::testing::config_key_flags(&i);
        assert_eq!(keys, vec![("app_id", true), ("region", false)]);
        assert_eq!(i.secrets, vec!["access_key_id", "access_key_secret"]);
        assert_eq!(i.default_hosts, vec!["live.aliyuncs.com:443"]);
        // The host the plugin calls is the one it declares.
        assert_eq!(
            info(Some("cn-hangzhou")).default_hosts,
            vec!["live.aliyuncs.com:443"]
        );
        assert_eq!(
            info(Some("ap-southeast-7")).default_hosts,
            vec!["live.ap-southeast-7.aliyuncs.com:443"]
        );
        for region in ["cn-hangzhou", "ap-southeast-7"] {
            let lookup = ingest_plugin_sdk::testing::config_lookup;
            let host = Settings::load(lookup(&[("app_id", "app"), ("region", region)]))
                .expect("settings")
                .host;
            assert_eq!(
                info(Some(region)).default_hosts,
                vec![format!("{host}:443")]
            );
        }
    }
}
