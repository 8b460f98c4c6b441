//! Ingest Gateway provider plugin for Tencent Cloud TRTC stream ingest.
//!
//! `pull-in` only: `start` → `StartStreamIngest`, `stop` → `StopStreamIngest`, `status` →
//! `DescribeStreamIngest`, `update` → `UpdateStreamIngest` (API version 2019-07-22), signed with TC3-HMAC-SHA256 through the
//! host's credentials interface; `parse-callback` verifies the stream-ingest callbacks (event
//! group 7) signed with the console's callback key. The relay robot's UserSig is
//! `options.user_sig`, or generated with TLSSigAPIv2 from the optional secret `sdk_secret_key`;
//! so is a PrivateMapKey when `private_map_privileges` is configured.
//! See the crate's README for the field mapping, config, options and error mapping.
//!
//! Layout: [`settings`] (config and endpoint), [`start`] and [`task`] (request validation,
//! bodies, reading answers), [`usersig`] (TLSSigAPIv2), [`sign`] (TC3 and the keyed hash),
//! [`api`] (one signed call and its envelope), [`errors`] (the table of vendor codes),
//! [`callback`] (verifying and normalizing callbacks). The whole plugin, signing included, is
//! unit-tested on the build machine, where the SDK's `TestHost` answers the host's interfaces
//! (secrets, config, clock) and computes the HMACs and digests as the host does.

pub mod api;
pub mod callback;
pub mod errors;
pub mod settings;
pub mod sign;
pub mod start;
pub mod task;
pub mod usersig;

use ingest_plugin_sdk::{
    CallbackRequest, Direction, Guest, IngestEvent, IngestStatus, Operation, ProviderError,
    ProviderInfo, Session, StartRequest, StatusRequest, StopRequest, StopResult, UpdateRequest,
    UpdateResult, config, context, provider_info,
};

use crate::settings::Settings;

/// Action names.
const START: &str = "StartStreamIngest";
const STOP: &str = "StopStreamIngest";
const DESCRIBE: &str = "DescribeStreamIngest";
const UPDATE: &str = "UpdateStreamIngest";

/// The Tencent TRTC provider.
#[derive(Debug)]
pub struct TencentTrtc;

/// What the plugin is (its name and version are the crate's); `host` is the `host` config key,
/// which decides the default host.
pub fn info(host: Option<&str>) -> ProviderInfo {
    let key = ingest_plugin_sdk::config_key;
    provider_info! {
        vendor: "Tencent Cloud TRTC",
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
                settings::KEY_SDK_APP_ID,
                true,
                "The TRTC application's SDKAppID (integer), sent as SdkAppId.",
            ),
            key(
                settings::KEY_REGION,
                true,
                "Tencent Cloud region sent as X-TC-Region, e.g. ap-guangzhou.",
            ),
            key(
                settings::KEY_HOST,
                false,
                "API host. Default trtc.tencentcloudapi.com; trtc.intl.tencentcloudapi.com for \
                 the international site. Ignored when `endpoint` is set.",
            ),
            key(
                settings::KEY_ROOM_ID_TYPE,
                false,
                "Default RoomIdType: 0 string room ids, 1 32-bit integer room ids (1..4294967294). \
                 Default 1, Tencent's default; options.room_id_type overrides it per request.",
            ),
            key(
                settings::KEY_USER_SIG_EXPIRE_SECS,
                false,
                "Validity, seconds, of the UserSig the plugin generates from the secret \
                 sdk_secret_key when options.user_sig is absent: 60..=31536000. Default \
                 15552000 (180 days, as Tencent's libraries).",
            ),
            key(
                settings::KEY_PRIVATE_MAP_PRIVILEGES,
                false,
                "Privilege bits (1..=255) of a PrivateMapKey the plugin generates from the \
                 secret sdk_secret_key for the start's room and user, valid as long as its \
                 UserSig; unset: none (options.private_map_key is sent as given).",
            ),
        ],
        secrets: ingest_plugin_sdk::required_secrets(&secret_catalog()),
        default_hosts: settings::default_hosts(host),
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
            sign::SECRET_ID,
            true,
            "The API SecretId, written into Authorization as a host placeholder filled in as the request leaves.",
        ),
        ingest_plugin_sdk::secret(
            sign::SECRET_KEY,
            true,
            "The API SecretKey: TC3 key derivation, computed by the host (HMAC chain from \"TC3\" + secret_key).",
        ),
        ingest_plugin_sdk::secret(
            usersig::SECRET_SDK_KEY,
            false,
            "The TRTC application's SDKSecretKey: with it, a start without options.user_sig gets a generated UserSig (TLSSigAPIv2), and private_map_privileges a PrivateMapKey. Without it, every start needs options.user_sig.",
        ),
        ingest_plugin_sdk::secret(
            callback::SECRET_CALLBACK_KEY,
            false,
            "The callback key set in the TRTC console, to verify callbacks' Sign. Without it, callbacks answer 501; everything else works.",
        ),
    ]
}

impl Guest for TencentTrtc {
    fn secrets() -> Vec<ingest_plugin_sdk::SecretSpec> {
        secret_catalog()
    }

    fn describe() -> ProviderInfo {
        info(config::get(settings::KEY_HOST).as_deref())
    }

    fn start(request: StartRequest) -> Result<Session, ProviderError> {
        let settings = settings()?;
        let room_id_type =
            settings::parse_room_id_type(config::get(settings::KEY_ROOM_ID_TYPE).as_deref())?;
        let expire_secs = settings::parse_user_sig_expire_secs(
            config::get(settings::KEY_USER_SIG_EXPIRE_SECS).as_deref(),
        )?;
        let private_map_privileges = settings::parse_private_map_privileges(
            config::get(settings::KEY_PRIVATE_MAP_PRIVILEGES).as_deref(),
        )?;
        let user_sigs = usersig::Generated {
            sdk_app_id: settings.sdk_app_id,
            now_secs: context::now_ms() / 1000,
            expire_secs,
            private_map_privileges,
        };
        let body = start::build(&request, settings.sdk_app_id, room_id_type, &user_sigs)?;
        start::session(api::call(&settings, START, &body)?)
    }

    fn stop(request: StopRequest) -> Result<StopResult, ProviderError> {
        let settings = settings()?;
        let body = task::body(settings.sdk_app_id, &request.session_ref)?;
        Ok(task::stopped(api::call(&settings, STOP, &body)?))
    }

    fn status(request: StatusRequest) -> Result<IngestStatus, ProviderError> {
        let settings = settings()?;
        let body = task::body(settings.sdk_app_id, &request.session_ref)?;
        task::status(api::call(&settings, DESCRIBE, &body)?)
    }

    fn update(request: UpdateRequest) -> Result<UpdateResult, ProviderError> {
        let settings = settings()?;
        let body = task::update_body(settings.sdk_app_id, &request)?;
        task::updated(api::call(&settings, UPDATE, &body)?)
    }

    fn parse_callback(request: CallbackRequest) -> Result<IngestEvent, ProviderError> {
        let settings = settings()?;
        callback::parse(settings.sdk_app_id, &request, context::now_ms())
    }
}

// Only on wasm: on a native target the cdylib's export names (`ingest:provider/…#describe`)
// are not valid ELF symbol-version-script entries, and the link fails.
#[cfg(target_arch = "wasm32")]
ingest_plugin_sdk::export!(TencentTrtc);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_lists_what_the_plugin_does() {
        let i = info(None);
        assert_eq!(i.name, "tencent-trtc");
        assert_eq!(i.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(i.vendor, "Tencent Cloud TRTC");
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
            vec![
                ("sdk_app_id", true),
                ("region", true),
                ("host", false),
                ("room_id_type", false),
                ("user_sig_expire_secs", false),
                ("private_map_privileges", false)
            ]
        );
        // The optional secrets (`sdk_secret_key`, `callback_key`) are not listed.
        assert_eq!(i.secrets, vec!["secret_id", "secret_key"]);
        assert_eq!(i.default_hosts, vec!["trtc.tencentcloudapi.com:443"]);
        assert_eq!(
            info(Some("trtc.intl.tencentcloudapi.com")).default_hosts,
            vec!["trtc.intl.tencentcloudapi.com:443"]
        );
    }

    /// `describe` lists exactly the operations the plugin implements (the SDK calls each).
    #[test]
    fn describe_lists_what_is_implemented() {
        ingest_plugin_sdk::testing::assert_operations_implemented::<TencentTrtc>();
    }

    /// A whole start runs here: the SDK's `TestHost` holds the config, the secrets and the
    /// clock, and `step::run` answers the one request the plugin sends.
    #[test]
    fn start_signs_and_sends_one_request() {
        use ingest_plugin_sdk::VendorResponse;
        use ingest_plugin_sdk::step::{self, Step};
        use ingest_plugin_sdk::testing::TestHost;

        let _host = TestHost::new()
            .config(settings::KEY_SDK_APP_ID, "1400188366")
            .config(settings::KEY_REGION, "ap-guangzhou")
            .secret(sign::SECRET_ID, "AKID-test")
            .secret(sign::SECRET_KEY, "k")
            .secret(
                usersig::SECRET_SDK_KEY,
                "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e",
            )
            .now_ms(1_700_000_000_000)
            .install();
        let request = || crate::start::tests::request("{}");

        let Step::Send(sent) = step::run(Vec::new(), || TencentTrtc::start(request())) else {
            panic!("start sends StartStreamIngest first");
        };
        assert_eq!(sent.method, "POST");
        assert_eq!(sent.url, "https://trtc.tencentcloudapi.com/");
        let header = |name: &str| {
            sent.headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(header("x-tc-action"), Some("StartStreamIngest"));
        assert_eq!(header("x-tc-timestamp"), Some("1700000000"));
        assert_eq!(header("x-tc-region"), Some("ap-guangzhou"));
        let authorization = header("authorization").expect("signed");
        assert!(
            authorization.starts_with(
                "TC3-HMAC-SHA256 Credential=AKID-test/2023-11-14/trtc/tc3_request, \
                 SignedHeaders=content-type;host, Signature="
            ),
            "{authorization}"
        );
        let expected = sign::authorization(&sign::ToSign {
            service: sign::SERVICE,
            host: "trtc.tencentcloudapi.com",
            content_type: api::CONTENT_TYPE,
            body: &sent.body,
            timestamp: 1_700_000_000,
        })
        .expect("sign");
        assert_eq!(authorization, expected);
        // The UserSig generated at the call's clock with the default validity (180 days): the
        // one `usersig`'s tests pin for this ticket.
        let body: serde_json::Value = serde_json::from_slice(&sent.body).expect("json");
        assert_eq!(
            body["UserSig"],
            "eJwtjNEKgjAYRt9lt5X8mlMTugsMMgsUpMvVpv3Ucm4jiujdM913950D50OqvPSeQpOUBB6Q*fiRi4fFBkesxZ29F*fOOmn4jSmFnKR*COAnyTKKJiNeCrUYOKU0AICJWpR-FoObq2A7tC0cWG1o2PmXrDVsU*z61XGWXCVWzamXRVGXW6jyOIv2a-L9ARSMMkk_"
        );
        assert_eq!(body["SdkAppId"], 1_400_188_366u64);

        let answer = Ok(VendorResponse {
            status: 200,
            headers: Vec::new(),
            body: br#"{"Response":{"TaskId":"task-1","RequestId":"r"}}"#.to_vec(),
        });
        let Step::Done(session) = step::run(vec![answer], || TencentTrtc::start(request())) else {
            panic!("one answer is all start needs");
        };
        let session = session.expect("started");
        assert_eq!(session.session_ref, "task-1");
        assert_eq!(session.vendor_request_id.as_deref(), Some("r"));
    }
}
