//! Ingest Gateway provider plugin for ZEGOCLOUD RTMP dispatch (`RTMPDispatchV2`).
//!
//! `push-in` (`Type=push`: an RTMP node an encoder publishes to) and `pull-out` (`Type=pull`:
//! a node to play the stream from). Only `start` exists, and `describe` lists only it: the
//! vendor has no call to release a dispatched node (stop the encoder or player; the node is
//! meant to be used within 2 hours, the session's `expires_at`), no query for one, and sends
//! no callback for dispatch, so `stop`, `status` and `parse-callback` are the SDK's
//! `unsupported` defaults. Requests are signed with ZEGO's MD5 scheme (`SignatureVersion=2.0`)
//! through the host's credentials interface. See the crate's README.
//!
//! Layout: [`settings`] (config and endpoint), [`dispatch`] (request validation, parameters,
//! reading the answer), [`sign`] (the signature), [`api`] (one signed call and its envelope),
//! [`errors`] (return codes → error kinds). All of it, signing included, is unit-tested on the
//! build machine, where the SDK's `TestHost` answers the host's interfaces.

pub mod api;
pub mod dispatch;
pub mod errors;
pub mod settings;

pub use zego_shared::sign;

use ingest_plugin_sdk::{
    CallbackRequest, Direction, Guest, IngestEvent, IngestStatus, Operation, ProviderError,
    ProviderInfo, Session, StartRequest, StatusRequest, StopRequest, StopResult, config, context,
    error, provider_info,
};

use crate::settings::Settings;

/// The action.
const DISPATCH: &str = "RTMPDispatchV2";

/// The ZEGO RTMP dispatch provider.
#[derive(Debug)]
pub struct ZegoDispatch;

/// What the plugin is; `region` is the `region` config key, which decides the default host.
pub fn info(region: Option<&str>) -> ProviderInfo {
    let key = ingest_plugin_sdk::config_key;
    provider_info! {
        vendor: "ZEGOCLOUD (RTMP dispatch)",
        directions: vec![Direction::PushIn, Direction::PullOut],
        operations: vec![Operation::Start],
        config_keys: vec![
            key(
                settings::KEY_APP_ID,
                true,
                "The ZEGO project's AppID (unsigned 32-bit integer), sent as AppId.",
            ),
            key(
                settings::KEY_REGION,
                false,
                "Regional host suffix (sha, hkg, fra, lax, bom, sgp …): requests go to \
                 rtc-api-{region}.zego.im. Default: none, i.e. rtc-api.zego.im. Ignored when \
                 `endpoint` is set.",
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
    vec![ingest_plugin_sdk::secret(
        sign::SECRET_SERVER,
        true,
        "The project's ServerSecret, only ever inside the host's MD5 request signature.",
    )]
}

impl Guest for ZegoDispatch {
    fn secrets() -> Vec<ingest_plugin_sdk::SecretSpec> {
        secret_catalog()
    }

    fn describe() -> ProviderInfo {
        info(config::get(settings::KEY_REGION).as_deref())
    }

    fn start(request: StartRequest) -> Result<Session, ProviderError> {
        let settings = settings()?;
        let dispatch = dispatch::build(&request, &settings)?;
        let now_ms = context::now_ms();
        let reply = api::call(&settings, DISPATCH, dispatch.params(now_ms))?;
        dispatch::session(reply, &dispatch, now_ms / 1000)
    }

    fn stop(_request: StopRequest) -> Result<StopResult, ProviderError> {
        Err(error::not_offered(
            "zego-dispatch cannot stop anything: RTMPDispatchV2 only hands out an RTMP node, \
             and ZEGO has no call to release it. Stop the encoder or player; the node is \
             meant to be used within 2 hours (the session's expires_at)",
        ))
    }

    fn status(_request: StatusRequest) -> Result<IngestStatus, ProviderError> {
        Err(error::not_offered(
            "zego-dispatch has no status: ZEGO offers no query for a dispatched RTMP node",
        ))
    }

    fn parse_callback(_request: CallbackRequest) -> Result<IngestEvent, ProviderError> {
        Err(error::not_offered(
            "zego-dispatch does not handle callbacks: ZEGO sends none for RTMP dispatch",
        ))
    }
}

// Only on wasm: on a native target the cdylib's export names (`ingest:provider/…#describe`)
// are not valid ELF symbol-version-script entries, and the link fails.
#[cfg(target_arch = "wasm32")]
ingest_plugin_sdk::export!(ZegoDispatch);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_lists_what_is_implemented() {
        ingest_plugin_sdk::testing::assert_operations_implemented::<ZegoDispatch>();
    }

    /// The whole `start` under a test host: the signed request (the signature computed
    /// independently with Python's `hashlib.md5` over `1234567890` ‖ `e0cca2965509df67` ‖ the
    /// secret ‖ `1700000000`), then the session from ZEGO's answer.
    #[test]
    fn start_signs_sends_and_reads_the_answer() {
        use ingest_plugin_sdk::step::{self, Step};
        use ingest_plugin_sdk::testing::TestHost;
        use ingest_plugin_sdk::{UrlPurpose, VendorResponse};

        let _host = TestHost::new()
            .secret(sign::SECRET_SERVER, "1234567890abcdef1234567890abcdef")
            .config(settings::KEY_APP_ID, "1234567890")
            .install();
        let request =
            || crate::dispatch::tests::request(Direction::PushIn, r#"{"stream_id":"s1"}"#);
        let Step::Send(sent) = step::run(Vec::new(), || ZegoDispatch::start(request())) else {
            panic!("start sends RTMPDispatchV2 first");
        };
        assert_eq!(sent.method, "GET");
        assert_eq!(
            sent.url,
            "https://rtc-api.zego.im/?Action=RTMPDispatchV2&StreamId=s1&Sequence=1700000000000\
             &Type=push&AppId=1234567890&SignatureNonce=e0cca2965509df67&Timestamp=1700000000\
             &SignatureVersion=2.0&Signature=eefa99ed9ac0979288cb9f26237089de"
        );
        let answer = Ok(VendorResponse {
            status: 200,
            headers: Vec::new(),
            body: br#"{"Code":0,"RequestId":"r1","Data":["rtmp://1.2.3.4/live/s1"]}"#.to_vec(),
        });
        let Step::Done(Ok(session)) = step::run(vec![answer], || ZegoDispatch::start(request()))
        else {
            panic!("one answer completes start");
        };
        assert_eq!(session.session_ref, "push:s1");
        assert_eq!(session.issued_urls[0].purpose, UrlPurpose::Publish);
        assert_eq!(session.issued_urls[0].url, "rtmp://1.2.3.4/live/s1");
        assert_eq!(session.expires_at, Some(1_700_000_000 + 7200));
        assert_eq!(session.vendor_request_id.as_deref(), Some("r1"));
    }

    #[test]
    fn describe_lists_what_the_plugin_does() {
        let i = info(None);
        assert_eq!(i.name, "zego-dispatch");
        assert_eq!(i.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(i.directions, vec![Direction::PushIn, Direction::PullOut]);
        assert_eq!(i.operations, vec![Operation::Start]);
        let keys = ingest_plugin_sdk::testing::config_key_flags(&i);
        assert_eq!(
            keys,
            vec![("app_id", true), ("region", false), ("is_test", false)]
        );
        assert_eq!(i.secrets, vec!["server_secret"]);
        assert_eq!(i.default_hosts, vec!["rtc-api.zego.im:443"]);
        assert_eq!(
            info(Some("sgp")).default_hosts,
            vec!["rtc-api-sgp.zego.im:443"]
        );
    }
}
