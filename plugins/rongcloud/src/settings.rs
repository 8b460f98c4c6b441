//! The provider's configuration (`[providers.config]`) and the hosts requests go to.
//!
//! Everything here is pure: the config lookup is passed in as a closure, so parsing and its
//! error messages are unit-tested on the host target.

use ingest_plugin_sdk::error::invalid_argument;
use ingest_plugin_sdk::{ProviderError, endpoint};

/// Config key: the RongCloud App Key.
pub const KEY_APP_KEY: &str = "app_key";
/// Config key: the data centre.
pub const KEY_REGION: &str = "region";
/// Config key: a second base URL tried when `endpoint` fails (only together with `endpoint`).
pub const KEY_BACKUP_ENDPOINT: &str = "backup_endpoint";
/// Config key: whether callbacks must carry a valid signature.
pub const KEY_VERIFY_CALLBACKS: &str = "verify_callbacks";

/// A RongCloud data centre. Each has a primary and a backup API domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Region {
    /// China (Beijing), `bj` (the default).
    #[default]
    Beijing,
    /// Singapore, `sg`.
    Singapore,
    /// Singapore B, `sg-b`.
    SingaporeB,
    /// North America, `na`.
    NorthAmerica,
    /// Saudi Arabia, `sau`.
    SaudiArabia,
}

impl Region {
    /// Every region, in the order the README lists them.
    pub const ALL: [Region; 5] = [
        Region::Beijing,
        Region::Singapore,
        Region::SingaporeB,
        Region::NorthAmerica,
        Region::SaudiArabia,
    ];

    /// The config value naming this region.
    pub fn name(self) -> &'static str {
        match self {
            Region::Beijing => "bj",
            Region::Singapore => "sg",
            Region::SingaporeB => "sg-b",
            Region::NorthAmerica => "na",
            Region::SaudiArabia => "sau",
        }
    }

    /// The primary API domain.
    pub fn primary(self) -> &'static str {
        match self {
            Region::Beijing => "api.rong-api.com",
            Region::Singapore => "api.sg-light-api.com",
            Region::SingaporeB => "api.sg-b-light-api.com",
            Region::NorthAmerica => "api.us-light-api.com",
            Region::SaudiArabia => "api.sau-light-api.com",
        }
    }

    /// The backup API domain, tried when the primary cannot be reached or answers 5xx.
    pub fn backup(self) -> &'static str {
        match self {
            Region::Beijing => "api-b.rong-api.com",
            Region::Singapore => "api-b.sg-light-api.com",
            Region::SingaporeB => "api-b.sg-b-light-api.com",
            Region::NorthAmerica => "api-b.us-light-api.com",
            Region::SaudiArabia => "api-b.sau-light-api.com",
        }
    }

    /// `region`: one of `bj`, `sg`, `sg-b`, `na`, `sau` (case-insensitive); unset or blank
    /// means `bj`.
    pub fn parse(value: Option<&str>) -> Result<Self, ProviderError> {
        let v = match value.map(str::trim) {
            None | Some("") => return Ok(Region::Beijing),
            Some(v) => v,
        };
        Region::ALL
            .into_iter()
            .find(|r| r.name().eq_ignore_ascii_case(v))
            .ok_or_else(|| {
                invalid_argument(format!(
                    "provider config key `{KEY_REGION}` is `{v}`; it must be one of bj (China, \
                     Beijing), sg (Singapore), sg-b (Singapore B), na (North America) or sau \
                     (Saudi Arabia)"
                ))
            })
    }
}

/// The config every operation needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `App-Key`.
    pub app_key: String,
    /// The data centre (decides the default hosts).
    pub region: Region,
    /// `backup_endpoint`, validated, if set.
    pub backup_endpoint: Option<Endpoint>,
    /// Whether `parse-callback` requires a valid signature (default true).
    pub verify_callbacks: bool,
}

impl Settings {
    /// Reads and validates the config through `get`. `endpoint` is the operator's `endpoint`
    /// override: `backup_endpoint` is refused without it.
    pub fn load(
        get: impl Fn(&str) -> Option<String>,
        endpoint: Option<&str>,
    ) -> Result<Self, ProviderError> {
        let app_key = parse_app_key(get(KEY_APP_KEY).as_deref())?;
        let region = Region::parse(get(KEY_REGION).as_deref())?;
        let backup_endpoint = match get(KEY_BACKUP_ENDPOINT).as_deref().map(str::trim) {
            None | Some("") => None,
            Some(v) => {
                if endpoint.is_none_or(|e| e.trim().is_empty()) {
                    return Err(invalid_argument(format!(
                        "provider config key `{KEY_BACKUP_ENDPOINT}` is set but the provider has \
                         no `endpoint`; `{KEY_BACKUP_ENDPOINT}` is the fail-over for `endpoint` \
                         only (without `endpoint` the region's own backup domain is used)"
                    )));
                }
                Some(parse_endpoint(KEY_BACKUP_ENDPOINT, v)?)
            }
        };
        let verify_callbacks = parse_bool(KEY_VERIFY_CALLBACKS, get(KEY_VERIFY_CALLBACKS))?;
        Ok(Self {
            app_key,
            region,
            backup_endpoint,
            verify_callbacks,
        })
    }

    /// The base URLs to try, in order: the operator's `endpoint` (then `backup_endpoint` if
    /// set), else the region's primary and backup domains over HTTPS.
    pub fn endpoints(&self, endpoint: Option<&str>) -> Result<Vec<Endpoint>, ProviderError> {
        match endpoint.map(str::trim) {
            Some(e) if !e.is_empty() => {
                let mut out = vec![parse_endpoint("endpoint", e)?];
                out.extend(self.backup_endpoint.clone());
                Ok(out)
            }
            _ => Ok(vec![
                Endpoint::https(self.region.primary()),
                Endpoint::https(self.region.backup()),
            ]),
        }
    }
}

/// `app_key`: required; visible ASCII without spaces (it travels in the `App-Key` header).
pub fn parse_app_key(value: Option<&str>) -> Result<String, ProviderError> {
    let v = value.map(str::trim).unwrap_or_default();
    if v.is_empty() {
        return Err(invalid_argument(format!(
            "provider config key `{KEY_APP_KEY}` is not set; add `{KEY_APP_KEY} = \"…\"` (the \
             RongCloud App Key) under [providers.config]"
        )));
    }
    if !v.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid_argument(format!(
            "provider config key `{KEY_APP_KEY}` must be the RongCloud App Key: visible ASCII \
             characters without spaces"
        )));
    }
    Ok(v.to_string())
}

/// A boolean config value (`true`/`false`); unset means `true`.
fn parse_bool(key: &str, value: Option<String>) -> Result<bool, ProviderError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(invalid_argument(format!(
            "provider config key `{key}` is `{v}`; it must be true or false"
        ))),
    }
}

/// One base URL requests go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `scheme://authority`, without a trailing slash.
    pub base: String,
    /// `host:port` (port made explicit) for the egress allowlist.
    pub host_port: String,
}

impl Endpoint {
    fn https(host: &str) -> Self {
        Self {
            base: format!("https://{host}"),
            host_port: format!("{host}:443"),
        }
    }

    /// The URL of `path` (which starts with `/`) on this endpoint.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// An `http(s)://host[:port]` URL with at most a trailing `/` (`key` names it in errors).
pub fn parse_endpoint(key: &str, value: &str) -> Result<Endpoint, ProviderError> {
    let example = "`https://api.rong-api.com` or `http://127.0.0.1:9102`";
    let base = endpoint::parse(key, value, example)?;
    Ok(Endpoint {
        base: base.origin(),
        host_port: base.host_port(),
    })
}

/// The hosts `describe` reports: the region's primary and backup domains on port 443, plus the
/// `backup_endpoint`'s host when one is configured (the host adds `endpoint` itself).
/// Invalid config falls back to the default region: `describe` cannot fail.
pub fn default_hosts(region: Option<&str>, backup_endpoint: Option<&str>) -> Vec<String> {
    let region = Region::parse(region).unwrap_or_default();
    let mut hosts = vec![
        format!("{}:443", region.primary()),
        format!("{}:443", region.backup()),
    ];
    if let Some(b) = backup_endpoint
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .and_then(|b| parse_endpoint(KEY_BACKUP_ENDPOINT, b).ok())
    {
        hosts.push(b.host_port);
    }
    hosts
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest_plugin_sdk::ErrorKind;
    use ingest_plugin_sdk::testing::config_lookup as lookup;

    #[test]
    fn regions_and_domains() {
        let table = [
            ("bj", "api.rong-api.com", "api-b.rong-api.com"),
            ("sg", "api.sg-light-api.com", "api-b.sg-light-api.com"),
            ("sg-b", "api.sg-b-light-api.com", "api-b.sg-b-light-api.com"),
            ("na", "api.us-light-api.com", "api-b.us-light-api.com"),
            ("sau", "api.sau-light-api.com", "api-b.sau-light-api.com"),
        ];
        for (name, primary, backup) in table {
            let r = Region::parse(Some(name)).expect(name);
            assert_eq!((r.name(), r.primary(), r.backup()), (name, primary, backup));
            assert_eq!(Region::parse(Some(&name.to_uppercase())).expect("case"), r);
        }
        assert_eq!(Region::parse(None).expect("unset"), Region::Beijing);
        assert_eq!(Region::parse(Some(" ")).expect("blank"), Region::Beijing);
        let e = Region::parse(Some("us")).expect_err("unknown");
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert!(e.message.contains("`region`") && e.message.contains("sg-b"));
    }

    #[test]
    fn loads_settings() {
        let s = Settings::load(lookup(&[("app_key", " k1 ")]), None).expect("valid");
        assert_eq!(
            s,
            Settings {
                app_key: "k1".into(),
                region: Region::Beijing,
                backup_endpoint: None,
                verify_callbacks: true,
            }
        );
        let s = Settings::load(
            lookup(&[
                ("app_key", "k1"),
                ("region", "na"),
                ("verify_callbacks", "false"),
            ]),
            None,
        )
        .expect("valid");
        assert_eq!(s.region, Region::NorthAmerica);
        assert!(!s.verify_callbacks);
    }

    #[test]
    fn bad_config_names_the_key() {
        type Pairs<'a> = &'a [(&'a str, &'a str)];
        let cases: [(Pairs, Option<&str>, &str); 6] = [
            (&[], None, "`app_key`"),
            (&[("app_key", " ")], None, "`app_key`"),
            (&[("app_key", "a b")], None, "`app_key`"),
            (&[("app_key", "k"), ("region", "mars")], None, "`region`"),
            (
                &[("app_key", "k"), ("verify_callbacks", "yes")],
                None,
                "`verify_callbacks`",
            ),
            (
                &[("app_key", "k"), ("backup_endpoint", "http://127.0.0.1:1")],
                None,
                "`backup_endpoint`",
            ),
        ];
        for (pairs, endpoint, key) in cases {
            let e = Settings::load(lookup(pairs), endpoint).expect_err(key);
            assert_eq!(e.kind, ErrorKind::InvalidArgument);
            assert!(e.message.contains(key), "{key}: {}", e.message);
        }
        let e = Settings::load(
            lookup(&[("app_key", "k"), ("backup_endpoint", "ftp://x")]),
            Some("http://127.0.0.1:9102"),
        )
        .expect_err("bad backup");
        assert!(e.message.contains("`backup_endpoint`"), "{}", e.message);
    }

    #[test]
    fn endpoints_in_fail_over_order() {
        let s = Settings::load(lookup(&[("app_key", "k"), ("region", "sg")]), None).expect("ok");
        let eps = s.endpoints(None).expect("defaults");
        assert_eq!(
            eps.iter().map(|e| e.base.as_str()).collect::<Vec<_>>(),
            [
                "https://api.sg-light-api.com",
                "https://api-b.sg-light-api.com"
            ]
        );
        assert_eq!(
            eps[0].url("/v2/rtc/cloudplayer/start"),
            "https://api.sg-light-api.com/v2/rtc/cloudplayer/start"
        );

        // `endpoint` alone: one host, no fail-over.
        let eps = s
            .endpoints(Some("http://127.0.0.1:9102/"))
            .expect("override");
        assert_eq!(eps.len(), 1);
        assert_eq!(eps[0].base, "http://127.0.0.1:9102");
        assert_eq!(eps[0].host_port, "127.0.0.1:9102");

        // `endpoint` + `backup_endpoint`.
        let s = Settings::load(
            lookup(&[("app_key", "k"), ("backup_endpoint", "http://LOCALHOST")]),
            Some("http://127.0.0.1:9102"),
        )
        .expect("ok");
        let eps = s.endpoints(Some("http://127.0.0.1:9102")).expect("both");
        assert_eq!(
            eps.iter().map(|e| e.host_port.as_str()).collect::<Vec<_>>(),
            ["127.0.0.1:9102", "localhost:80"]
        );
    }

    #[test]
    fn endpoint_syntax() {
        for bad in [
            "ftp://x",
            "127.0.0.1:9102",
            "http://h/prefix",
            "http://h/?a=b",
            "http://u:p@h",
            "not a url",
        ] {
            let e = parse_endpoint("endpoint", bad).expect_err(bad);
            assert!(e.message.contains("`endpoint`"), "{bad}: {}", e.message);
        }
        let e = parse_endpoint("endpoint", "HTTPS://Api.Example:8443").expect("ok");
        assert_eq!(e.host_port, "api.example:8443");
        assert_eq!(e.base, "https://Api.Example:8443");
    }

    #[test]
    fn described_hosts() {
        assert_eq!(
            default_hosts(None, None),
            ["api.rong-api.com:443", "api-b.rong-api.com:443"]
        );
        assert_eq!(
            default_hosts(Some("sau"), Some("http://127.0.0.1:9999")),
            [
                "api.sau-light-api.com:443",
                "api-b.sau-light-api.com:443",
                "127.0.0.1:9999"
            ]
        );
        assert_eq!(
            default_hosts(Some("bogus"), Some("bogus")),
            ["api.rong-api.com:443", "api-b.rong-api.com:443"]
        );
    }
}
