//! The provider's configuration (`[providers.config]`) and the vendor endpoint, the same for
//! every ZEGO server API but for the host ([`Service`]).
//!
//! Everything here is pure: the config lookup is passed in as a closure, so the parsing and
//! its error messages are unit-tested on the host target.

use ingest_plugin_sdk::error::invalid_argument;
use ingest_plugin_sdk::{ProviderError, endpoint};

use crate::Service;

/// Config key: the ZEGO project's AppID (uint32).
pub const KEY_APP_ID: &str = "app_id";
/// Config key: the regional host suffix (`sgp` → `rtc-api-sgp.zego.im`).
pub const KEY_REGION: &str = "region";
/// Config key: whether the project uses ZEGO's test environment (`IsTest`).
pub const KEY_IS_TEST: &str = "is_test";

/// The config every operation needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `AppId`.
    pub app_id: u32,
    /// The API host used when the operator sets no `endpoint`.
    pub host: String,
    /// `IsTest`, when configured.
    pub is_test: Option<bool>,
}

impl Settings {
    /// Reads and validates `app_id`, `region` and `is_test` through `get`, for `service`.
    pub fn load(
        service: &Service,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ProviderError> {
        let app_id = match get(KEY_APP_ID) {
            Some(v) if !v.trim().is_empty() => parse_app_id(v.trim())?,
            _ => {
                return Err(invalid_argument(format!(
                    "provider config key `{KEY_APP_ID}` is not set; add `{KEY_APP_ID} = …` (the \
                     ZEGO project's AppID, an unsigned 32-bit integer) under [providers.config]"
                )));
            }
        };
        Ok(Self {
            app_id,
            host: service.host_for(get(KEY_REGION).as_deref())?,
            is_test: parse_is_test(get(KEY_IS_TEST).as_deref())?,
        })
    }

    /// The prefix test-environment stream ids must carry: `zegotest-{AppId}-`.
    pub fn test_prefix(&self) -> String {
        format!("zegotest-{}-", self.app_id)
    }
}

/// `app_id`: 1..=4294967295.
pub fn parse_app_id(value: &str) -> Result<u32, ProviderError> {
    match value.parse::<u32>() {
        Ok(n) if n > 0 && value.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(invalid_argument(format!(
            "provider config key `{KEY_APP_ID}` is `{value}`; it must be the ZEGO project's \
             AppID, an integer from 1 to 4294967295"
        ))),
    }
}

/// `is_test`: `true` or `false`; unset or blank means "not configured" (no `IsTest` sent).
pub fn parse_is_test(value: Option<&str>) -> Result<Option<bool>, ProviderError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(invalid_argument(format!(
            "provider config key `{KEY_IS_TEST}` is `{other}`; it must be true or false"
        ))),
    }
}

impl Service {
    /// The API host: [`Service::default_host`], or `{host_stem}-{region}.zego.im` with a
    /// region suffix.
    pub fn host_for(&self, region: Option<&str>) -> Result<String, ProviderError> {
        let default_host = self.default_host;
        match region.map(str::trim) {
            None | Some("") => Ok(default_host.to_string()),
            Some(r)
                if r.len() <= 16
                    && r.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) =>
            {
                Ok(format!("{}-{r}.zego.im", self.host_stem))
            }
            Some(r) => Err(invalid_argument(format!(
                "provider config key `{KEY_REGION}` is `{r}`; it must be a ZEGO region suffix \
                 such as `sha`, `hkg`, `fra`, `lax`, `bom` or `sgp` (lowercase letters and \
                 digits), or be left out for `{default_host}`"
            ))),
        }
    }

    /// The hosts `describe` reports: the configured region's host (or the default) on 443.
    pub fn default_hosts(&self, region: Option<&str>) -> Vec<String> {
        let host = self
            .host_for(region)
            .unwrap_or_else(|_| self.default_host.to_string());
        vec![format!("{host}:443")]
    }

    /// The base URL requests go to, `scheme://authority/`: the operator's `endpoint` override
    /// if set, else `https://{host}/`. The override must be `http(s)://host[:port]` with at
    /// most a trailing `/` (the API lives at `/`).
    pub fn endpoint(
        &self,
        override_url: Option<&str>,
        host: &str,
    ) -> Result<String, ProviderError> {
        let example = format!("`https://{}` or `http://127.0.0.1:9104`", self.default_host);
        Ok(endpoint::override_or(override_url, host, &example)?.root())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ingest_plugin_sdk::testing::config_lookup as lookup;

    pub(crate) const RTC: Service = Service {
        host_stem: "rtc-api",
        default_host: "rtc-api.zego.im",
        codes: &[],
    };

    #[test]
    fn loads_settings() {
        let s = Settings::load(&RTC, lookup(&[("app_id", " 1234567890 ")])).expect("valid");
        assert_eq!(
            s,
            Settings {
                app_id: 1_234_567_890,
                host: RTC.default_host.into(),
                is_test: None
            }
        );
        let s = Settings::load(
            &RTC,
            lookup(&[
                ("app_id", "4294967295"),
                ("region", "sgp"),
                ("is_test", "true"),
            ]),
        )
        .expect("valid");
        assert_eq!(s.host, "rtc-api-sgp.zego.im");
        assert_eq!(s.is_test, Some(true));
        assert_eq!(s.test_prefix(), "zegotest-4294967295-");
        let s =
            Settings::load(&RTC, lookup(&[("app_id", "1"), ("is_test", "false")])).expect("valid");
        assert_eq!(s.is_test, Some(false));
    }

    #[test]
    fn bad_config_names_the_key() {
        for bad in ["", "0", "-1", "+5", "4294967296", "1.5", "abc"] {
            let e = Settings::load(&RTC, lookup(&[("app_id", bad)])).expect_err(bad);
            assert!(e.message.contains("`app_id`"), "{bad}: {}", e.message);
        }
        assert!(Settings::load(&RTC, lookup(&[])).is_err());
        for bad in ["SGP", "-sgp", "rtc-api-sgp.zego.im", "s g p"] {
            let e =
                Settings::load(&RTC, lookup(&[("app_id", "1"), ("region", bad)])).expect_err(bad);
            assert!(e.message.contains("`region`"), "{bad}: {}", e.message);
        }
        for bad in ["yes", "1", "True"] {
            let e =
                Settings::load(&RTC, lookup(&[("app_id", "1"), ("is_test", bad)])).expect_err(bad);
            assert!(e.message.contains("`is_test`"), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn hosts_and_endpoint() {
        assert_eq!(RTC.default_hosts(None), vec!["rtc-api.zego.im:443"]);
        assert_eq!(
            RTC.default_hosts(Some("hkg")),
            vec!["rtc-api-hkg.zego.im:443"]
        );
        assert_eq!(
            RTC.default_hosts(Some("B A D")),
            vec!["rtc-api.zego.im:443"]
        );
        assert_eq!(
            RTC.endpoint(None, RTC.default_host).expect("default"),
            "https://rtc-api.zego.im/"
        );
        assert_eq!(
            RTC.endpoint(Some("http://127.0.0.1:9104/"), RTC.default_host)
                .expect("override"),
            "http://127.0.0.1:9104/"
        );
        for bad in ["ftp://x", "h:1", "http://h/p", "http://u@h", "%%"] {
            let e = RTC.endpoint(Some(bad), RTC.default_host).expect_err(bad);
            assert!(e.message.contains("`endpoint`"), "{bad}: {}", e.message);
        }
    }
}
