//! The provider's configuration (`[providers.config]`) and the request URLs.
//!
//! Everything here is pure: the config lookup is passed in as a closure, so parsing and its
//! error messages are unit-tested on the host target.

use ingest_plugin_sdk::error::invalid_argument;
pub use ingest_plugin_sdk::sign::percent_encode;
use ingest_plugin_sdk::{ProviderError, endpoint};

/// Config key: the Jocloud application id.
pub const KEY_APP_ID: &str = "app_id";
/// Config key: `mainland` or `oversea`.
pub const KEY_REGION: &str = "region";
/// Config key: the path between `/app/{appid}/` and the operation.
pub const KEY_PATH_PREFIX: &str = "path_prefix";

/// The mainland API host.
pub const MAINLAND_HOST: &str = "api.jocloud.com";
/// The international API host.
pub const OVERSEA_HOST: &str = "api-oversea.jocloud.com";
/// The documented path prefix of the relay API.
pub const DEFAULT_PATH_PREFIX: &str = "v2/rtmpforward";

/// Which Jocloud site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Region {
    /// `mainland`: `api.jocloud.com` (the default).
    #[default]
    Mainland,
    /// `oversea`: `api-oversea.jocloud.com`.
    Oversea,
}

impl Region {
    /// The API host.
    pub fn host(self) -> &'static str {
        match self {
            Region::Mainland => MAINLAND_HOST,
            Region::Oversea => OVERSEA_HOST,
        }
    }

    /// `region`: `mainland` or `oversea` (case-insensitive); unset or blank means `mainland`.
    pub fn parse(value: Option<&str>) -> Result<Self, ProviderError> {
        match value.map(str::trim) {
            None | Some("") => Ok(Region::Mainland),
            Some(v) if v.eq_ignore_ascii_case("mainland") => Ok(Region::Mainland),
            Some(v) if v.eq_ignore_ascii_case("oversea") => Ok(Region::Oversea),
            Some(v) => Err(invalid_argument(format!(
                "provider config key `{KEY_REGION}` is `{v}`; it must be `mainland` \
                 ({MAINLAND_HOST}) or `oversea` ({OVERSEA_HOST})"
            ))),
        }
    }
}

/// The config every operation needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `appid`.
    pub app_id: u64,
    /// The site.
    pub region: Region,
    /// The path prefix, without leading or trailing `/`.
    pub path_prefix: String,
}

impl Settings {
    /// Reads and validates `app_id`, `region` and `path_prefix` through `get`.
    pub fn load(get: impl Fn(&str) -> Option<String>) -> Result<Self, ProviderError> {
        Ok(Self {
            app_id: parse_app_id(get(KEY_APP_ID).as_deref())?,
            region: Region::parse(get(KEY_REGION).as_deref())?,
            path_prefix: parse_path_prefix(get(KEY_PATH_PREFIX).as_deref())?,
        })
    }
}

/// `app_id`: a positive integer (Jocloud's `appid` is a uint64).
pub fn parse_app_id(value: Option<&str>) -> Result<u64, ProviderError> {
    let v = value.map(str::trim).unwrap_or_default();
    if v.is_empty() {
        return Err(invalid_argument(format!(
            "provider config key `{KEY_APP_ID}` is not set; add `{KEY_APP_ID} = …` (the Jocloud \
             AppID, an integer) under [providers.config]"
        )));
    }
    match v.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(invalid_argument(format!(
            "provider config key `{KEY_APP_ID}` is `{v}`; it must be a positive integer (the \
             Jocloud AppID, e.g. 1500000001)"
        ))),
    }
}

/// `path_prefix`: path segments of letters, digits, `.`, `_`, `-`; surrounding `/` are
/// dropped; unset or blank means [`DEFAULT_PATH_PREFIX`].
pub fn parse_path_prefix(value: Option<&str>) -> Result<String, ProviderError> {
    let v = match value.map(|v| v.trim().trim_matches('/')) {
        None | Some("") => return Ok(DEFAULT_PATH_PREFIX.to_string()),
        Some(v) => v,
    };
    let ok = v.split('/').all(|seg| {
        !seg.is_empty()
            && seg != "."
            && seg != ".."
            && seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    });
    if ok {
        Ok(v.to_string())
    } else {
        Err(invalid_argument(format!(
            "provider config key `{KEY_PATH_PREFIX}` is `{v}`; it must be path segments such as \
             `{DEFAULT_PATH_PREFIX}` or `v1/recordoss` (letters, digits, `.`, `_`, `-`)"
        )))
    }
}

/// The base URL: the operator's `endpoint` (`http(s)://host[:port]`, at most a trailing `/`)
/// if set, else `https://{host}` for the region.
pub fn base_url(override_url: Option<&str>, region: Region) -> Result<String, ProviderError> {
    let value = match override_url.map(str::trim) {
        Some(v) if !v.is_empty() => v,
        _ => return Ok(format!("https://{}", region.host())),
    };
    let example = format!(
        "`https://{MAINLAND_HOST}` or `http://127.0.0.1:9105` (put path segments in \
         `{KEY_PATH_PREFIX}`)"
    );
    Ok(endpoint::parse("endpoint", value, &example)?.origin())
}

/// `{base}/app/{appid}/{prefix}/{operation}?traceId={trace_id}`.
pub fn operation_url(base: &str, settings: &Settings, operation: &str, trace_id: &str) -> String {
    format!(
        "{base}/app/{}/{}/{operation}?traceId={}",
        settings.app_id,
        settings.path_prefix,
        percent_encode(trace_id)
    )
}

/// The hosts `describe` reports: the region's host on port 443 (invalid config falls back to
/// `mainland`: `describe` cannot fail).
pub fn default_hosts(region: Option<&str>) -> Vec<String> {
    vec![format!(
        "{}:443",
        Region::parse(region).unwrap_or_default().host()
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest_plugin_sdk::ErrorKind;
    use ingest_plugin_sdk::testing::config_lookup as lookup;

    #[test]
    fn loads_with_defaults() {
        let s = Settings::load(lookup(&[("app_id", " 1500000001 ")])).expect("valid");
        assert_eq!(
            s,
            Settings {
                app_id: 1_500_000_001,
                region: Region::Mainland,
                path_prefix: "v2/rtmpforward".into()
            }
        );
        let s = Settings::load(lookup(&[
            ("app_id", "7"),
            ("region", "OVERSEA"),
            ("path_prefix", "/v1/recordoss/"),
        ]))
        .expect("valid");
        assert_eq!(s.region.host(), "api-oversea.jocloud.com");
        assert_eq!(s.path_prefix, "v1/recordoss");
    }

    #[test]
    fn bad_config_names_the_key() {
        for (pairs, key) in [
            (vec![], "`app_id`"),
            (vec![("app_id", "0")], "`app_id`"),
            (vec![("app_id", "-5")], "`app_id`"),
            (vec![("app_id", "abc")], "`app_id`"),
            (vec![("app_id", "1"), ("region", "cn")], "`region`"),
            (
                vec![("app_id", "1"), ("path_prefix", "v2//x")],
                "`path_prefix`",
            ),
            (
                vec![("app_id", "1"), ("path_prefix", "../admin")],
                "`path_prefix`",
            ),
            (
                vec![("app_id", "1"), ("path_prefix", "v2?x=1")],
                "`path_prefix`",
            ),
        ] {
            let e = Settings::load(lookup(&pairs)).expect_err(key);
            assert_eq!(e.kind, ErrorKind::InvalidArgument);
            assert!(e.message.contains(key), "{key}: {}", e.message);
        }
    }

    #[test]
    fn urls() {
        let s = Settings::load(lookup(&[("app_id", "1500000001")])).expect("valid");
        let base = base_url(None, s.region).expect("default");
        assert_eq!(base, "https://api.jocloud.com");
        assert_eq!(
            operation_url(&base, &s, "startrtmp", "req-1 a/b"),
            "https://api.jocloud.com/app/1500000001/v2/rtmpforward/startrtmp?traceId=req-1%20a%2Fb"
        );
        assert_eq!(
            base_url(Some("http://127.0.0.1:9105/"), s.region).expect("override"),
            "http://127.0.0.1:9105"
        );
        assert_eq!(
            base_url(Some(" "), Region::Oversea).expect("blank"),
            "https://api-oversea.jocloud.com"
        );
        for bad in [
            "ftp://x",
            "127.0.0.1:9105",
            "http://h/app",
            "http://u@h",
            "x y",
        ] {
            let e = base_url(Some(bad), s.region).expect_err(bad);
            assert!(e.message.contains("`endpoint`"), "{bad}");
        }
        assert_eq!(default_hosts(None), ["api.jocloud.com:443"]);
        assert_eq!(
            default_hosts(Some("oversea")),
            ["api-oversea.jocloud.com:443"]
        );
        assert_eq!(default_hosts(Some("moon")), ["api.jocloud.com:443"]);
    }
}
