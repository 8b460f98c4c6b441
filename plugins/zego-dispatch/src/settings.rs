//! The provider's configuration (`[providers.config]`) and the vendor endpoint: the ZEGO
//! keys and their parsing are shared with every ZEGO plugin ([`zego_shared::settings`]); only
//! the host is this API's.

use ingest_plugin_sdk::ProviderError;
use zego_shared::Service;
pub use zego_shared::settings::{KEY_APP_ID, KEY_IS_TEST, KEY_REGION, Settings};

/// The vendor's RTC API host (no region).
pub const DEFAULT_HOST: &str = "rtc-api.zego.im";

/// The RTC API: its host (`sgp` → `rtc-api-sgp.zego.im`) and its return codes.
pub const SERVICE: Service = Service {
    host_stem: "rtc-api",
    default_host: DEFAULT_HOST,
    codes: crate::errors::CODES,
};

/// Reads and validates `app_id`, `region` and `is_test` through `get`.
pub fn load(get: impl Fn(&str) -> Option<String>) -> Result<Settings, ProviderError> {
    Settings::load(&SERVICE, get)
}

/// The hosts `describe` reports: the configured region's host (or [`DEFAULT_HOST`]) on 443.
pub fn default_hosts(region: Option<&str>) -> Vec<String> {
    SERVICE.default_hosts(region)
}

/// The base URL requests go to, `scheme://authority/`: the operator's `endpoint` override
/// if set, else `https://{host}/`.
pub fn endpoint(override_url: Option<&str>, host: &str) -> Result<String, ProviderError> {
    SERVICE.endpoint(override_url, host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest_plugin_sdk::testing::config_lookup as lookup;

    #[test]
    fn loads_settings() {
        let s = load(lookup(&[("app_id", " 1234567890 ")])).expect("valid");
        assert_eq!(
            s,
            Settings {
                app_id: 1_234_567_890,
                host: DEFAULT_HOST.into(),
                is_test: None
            }
        );
        let s = load(lookup(&[
            ("app_id", "4294967295"),
            ("region", "sgp"),
            ("is_test", "true"),
        ]))
        .expect("valid");
        assert_eq!(s.host, "rtc-api-sgp.zego.im");
        assert_eq!(s.is_test, Some(true));
        assert_eq!(s.test_prefix(), "zegotest-4294967295-");
        let s = load(lookup(&[("app_id", "1"), ("is_test", "false")])).expect("valid");
        assert_eq!(s.is_test, Some(false));
    }

    #[test]
    fn bad_config_names_the_key() {
        for bad in ["", "0", "-1", "+5", "4294967296", "1.5", "abc"] {
            let e = load(lookup(&[("app_id", bad)])).expect_err(bad);
            assert!(e.message.contains("`app_id`"), "{bad}: {}", e.message);
        }
        assert!(load(lookup(&[])).is_err());
        for bad in ["SGP", "-sgp", "rtc-api-sgp.zego.im", "s g p"] {
            let e = load(lookup(&[("app_id", "1"), ("region", bad)])).expect_err(bad);
            assert!(e.message.contains("`region`"), "{bad}: {}", e.message);
        }
        for bad in ["yes", "1", "True"] {
            let e = load(lookup(&[("app_id", "1"), ("is_test", bad)])).expect_err(bad);
            assert!(e.message.contains("`is_test`"), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn hosts_and_endpoint() {
        assert_eq!(default_hosts(None), vec!["rtc-api.zego.im:443"]);
        assert_eq!(default_hosts(Some("hkg")), vec!["rtc-api-hkg.zego.im:443"]);
        assert_eq!(default_hosts(Some("B A D")), vec!["rtc-api.zego.im:443"]);
        assert_eq!(
            endpoint(None, DEFAULT_HOST).expect("default"),
            "https://rtc-api.zego.im/"
        );
        assert_eq!(
            endpoint(Some("http://127.0.0.1:9104/"), DEFAULT_HOST).expect("override"),
            "http://127.0.0.1:9104/"
        );
        for bad in ["ftp://x", "h:1", "http://h/p", "http://u@h", "%%"] {
            let e = endpoint(Some(bad), DEFAULT_HOST).expect_err(bad);
            assert!(e.message.contains("`endpoint`"), "{bad}: {}", e.message);
        }
    }
}
