//! Ingest Gateway provider plugin for the ZEGOCLOUD Cloud Player.
//!
//! `pull-in`: `start` → `CreatePlayer` (ZEGO pulls an HTTP/HTTPS source, or a list of them,
//! and publishes it into the room), `update` → `UpdatePlayer` (a new source or list, backup
//! URL, transcoding options, pause, seek, repeat count; with the `Sequence` ZEGO requires),
//! `stop` → `DeletePlayer`, `status` → `DescribePlayers`, and `parse-callback` for the
//! cloud player's status callback. Requests are signed with ZEGO's MD5 scheme
//! (`SignatureVersion=2.0`) through the host's credentials interface; callbacks are checked
//! with ZEGO's SHA-1 callback signature, also in the host. See the crate's README.
//!
//! The parameter tables, bounds and return codes are ZEGO's published OpenAPI files:
//! repository `ZEGOCLOUD/docs_all`, folder `extended_services/cloud_player/en/server/`
//! (`create-player.yaml`, `update-player.yaml`, `delete-player.yaml`,
//! `describe-players.yaml`, `return-codes.mdx`).
//!
//! Layout: [`settings`] (config and endpoint), [`params`] (the published parameter rules),
//! [`player`] (request validation, bodies, reading answers), [`callback`] (callback
//! verification and events), [`sign`] (the request signature), [`api`] (one signed call and
//! its envelope), [`errors`] (return codes → error kinds). All of it, signing and callback
//! verification included, is unit-tested on the build machine, where the SDK's `TestHost`
//! answers the host's interfaces.

pub mod api;
pub mod callback;
pub mod errors;
pub mod params;
pub mod player;
pub mod settings;

pub use zego_shared::sign;

use ingest_plugin_sdk::{
    CallbackRequest, Direction, Guest, IngestEvent, IngestStatus, Operation, ProviderError,
    ProviderInfo, Session, StartRequest, StatusRequest, StopRequest, StopResult, UpdateRequest,
    UpdateResult, config, context, provider_info,
};

use crate::settings::Settings;

/// Action names.
const CREATE: &str = "CreatePlayer";
const DELETE: &str = "DeletePlayer";
const DESCRIBE: &str = "DescribePlayers";
const UPDATE: &str = "UpdatePlayer";

/// The ZEGO Cloud Player provider.
#[derive(Debug)]
pub struct ZegoCloudPlayer;

/// What the plugin is; `region` is the `region` config key, which decides the default host.
pub fn info(region: Option<&str>) -> ProviderInfo {
    let key = ingest_plugin_sdk::config_key;
    provider_info! {
        vendor: "ZEGOCLOUD (Cloud Player)",
        directions: vec![Direction::PullIn],
        operations: vec![
            Operation::Start,
            Operation::Stop,
            Operation::Status,
            Operation::Update,
            Operation::ParseCallback,
        ],
        config_keys: vec![
            key(
                settings::KEY_APP_ID,
                true,
                "The ZEGO project's AppID (unsigned 32-bit integer), sent as AppId and checked \
                 against callbacks' AppID.",
            ),
            key(
                settings::KEY_REGION,
                false,
                "Regional host suffix (sha, hkg, fra, lax, bom, sgp …): requests go to \
                 cloud-player-api-{region}.zego.im. Default: none, i.e. \
                 cloud-player-api.zego.im. Ignored when `endpoint` is set.",
            ),
            key(
                settings::KEY_IS_TEST,
                false,
                "true or false, sent as IsTest (older projects need it); with true, \
                 options.stream_id must start with zegotest-{AppId}-. Default: not sent.",
            ),
        ],
        secrets: ingest_plugin_sdk::required_secrets(&secret_catalog()),
        default_hosts: settings::default_hosts(region),
    }
}

fn settings() -> Result<Settings, ProviderError> {
    settings::load(config::get)
}

/// Every secret the plugin can use, required and optional (contract 0.2.2's `secret-catalog`);
/// `describe` lists the required ones.
pub fn secret_catalog() -> Vec<ingest_plugin_sdk::SecretSpec> {
    vec![
        ingest_plugin_sdk::secret(
            sign::SECRET_SERVER,
            true,
            "The project's ServerSecret, only ever inside the host's MD5 request signature.",
        ),
        ingest_plugin_sdk::secret(
            callback::SECRET_CALLBACK,
            false,
            "The project's CallbackSecret, inside the host's SHA-1 when verifying cloud player callbacks. Without it, callbacks answer 501; everything else works.",
        ),
    ]
}

impl Guest for ZegoCloudPlayer {
    fn secrets() -> Vec<ingest_plugin_sdk::SecretSpec> {
        secret_catalog()
    }

    fn describe() -> ProviderInfo {
        info(config::get(settings::KEY_REGION).as_deref())
    }

    fn start(request: StartRequest) -> Result<Session, ProviderError> {
        let settings = settings()?;
        let body = player::create_body(&request, &settings, context::now_ms() / 1000)?;
        player::session(api::call(&settings, CREATE, &body)?)
    }

    fn stop(request: StopRequest) -> Result<StopResult, ProviderError> {
        let id = player::player_id(&request.session_ref)?;
        let settings = settings()?;
        Ok(player::stopped(api::call(
            &settings,
            DELETE,
            &player::delete_body(id),
        )?))
    }

    fn status(request: StatusRequest) -> Result<IngestStatus, ProviderError> {
        let id = player::player_id(&request.session_ref)?;
        let settings = settings()?;
        player::status(
            api::call(&settings, DESCRIBE, &player::describe_body(id))?,
            id,
        )
    }

    /// `UpdatePlayer` with the fields that change and a `Sequence` ([`player::update_plan`]):
    /// one request, or two when a new source comes with other changes (ZEGO ignores the rest
    /// of a request that carries a source), the source first. When ZEGO refuses the first with
    /// a code that may mean the player is gone, one `DescribePlayers` tells `not-found` (not
    /// listed) and `failed-precondition` (ended) from a genuine parameter error. When the
    /// second fails, the error says the source was changed and the rest was not, and is never
    /// retryable (repeating the update would load the source again).
    fn update(request: UpdateRequest) -> Result<UpdateResult, ProviderError> {
        let id = player::player_id(&request.session_ref)?;
        let plan = player::update_plan(&request, id, context::now_ms())?;
        let settings = settings()?;
        let first = match api::call(&settings, UPDATE, &plan.first) {
            Ok(reply) => reply,
            Err(refused) if player::worth_describing(&refused) => {
                return match api::call(&settings, DESCRIBE, &player::describe_body(id)) {
                    Ok(described) => Err(player::update_refused(refused, described, id)),
                    Err(_) => Err(refused),
                };
            }
            Err(refused) => return Err(refused),
        };
        let Some(rest) = plan.rest else {
            return Ok(player::updated(first));
        };
        match api::call(&settings, UPDATE, &rest) {
            Ok(reply) => Ok(player::updated(reply)),
            Err(refused) => Err(player::rest_refused(refused, &first, &rest)),
        }
    }

    fn parse_callback(request: CallbackRequest) -> Result<IngestEvent, ProviderError> {
        let settings = settings()?;
        let parsed = callback::parse(&request.body)?;
        callback::verify(&parsed, settings.app_id)?;
        Ok(callback::event(&parsed))
    }
}

// Only on wasm: on a native target the cdylib's export names (`ingest:provider/…#describe`)
// are not valid ELF symbol-version-script entries, and the link fails.
#[cfg(target_arch = "wasm32")]
ingest_plugin_sdk::export!(ZegoCloudPlayer);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_lists_what_is_implemented() {
        ingest_plugin_sdk::testing::assert_operations_implemented::<ZegoCloudPlayer>();
    }

    #[test]
    fn describe_lists_what_the_plugin_does() {
        let i = info(None);
        assert_eq!(i.name, "zego-cloud-player");
        assert_eq!(i.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(i.directions, vec![Direction::PullIn]);
        assert_eq!(
            i.operations,
            vec![
                Operation::Start,
                Operation::Stop,
                Operation::Status,
                Operation::Update,
                Operation::ParseCallback
            ]
        );
        let keys = ingest_plugin_sdk::testing::config_key_flags(&i);
        assert_eq!(
            keys,
            vec![("app_id", true), ("region", false), ("is_test", false)]
        );
        assert_eq!(i.secrets, vec!["server_secret"]);
        assert_eq!(i.default_hosts, vec!["cloud-player-api.zego.im:443"]);
        assert_eq!(
            info(Some("fra")).default_hosts,
            vec!["cloud-player-api-fra.zego.im:443"]
        );
    }
}
