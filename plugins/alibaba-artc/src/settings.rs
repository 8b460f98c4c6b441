//! The provider's configuration (`[providers.config]`) and the vendor endpoint.
//!
//! Everything here is pure: the config lookup is passed in as a closure, so the parsing and
//! its error messages are unit-tested on the host target.

use ingest_plugin_sdk::error::invalid_argument;
use ingest_plugin_sdk::{ProviderError, endpoint};

/// The vendor's API host (ApsaraVideo Live, the central endpoint).
pub const DEFAULT_HOST: &str = "live.aliyuncs.com";

/// Config key: the ARTC application id (`AppId`).
pub const KEY_APP_ID: &str = "app_id";
/// Config key: the Alibaba Cloud region id; [`host_for`] maps it to the API host.
pub const KEY_REGION: &str = "region";

/// The regions the official SDK's endpoint table maps to [`DEFAULT_HOST`] for the Live API
/// (`2016-11-01`): `_endpoint_map` in `alibabacloud_live20161101/client.py`
/// (aliyun/alibabacloud-python-sdk) and `EndpointData.endpoint_map` in
/// `aliyunsdklive/endpoint.py` (aliyun/aliyun-openapi-python-sdk), which list the same 57
/// regions, every one mapped to `live.aliyuncs.com`. Regions not listed fall back to the
/// SDK's `regional` rule, `live.{region}.aliyuncs.com`. Sorted, for a binary search.
pub const CENTRAL_REGIONS: &[&str] = &[
    "ap-northeast-1",
    "ap-northeast-2-pop",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-5",
    "cn-beijing",
    "cn-beijing-finance-1",
    "cn-beijing-finance-pop",
    "cn-beijing-gov-1",
    "cn-beijing-nu16-b01",
    "cn-chengdu",
    "cn-edge-1",
    "cn-fujian",
    "cn-haidian-cm12-c01",
    "cn-hangzhou",
    "cn-hangzhou-bj-b01",
    "cn-hangzhou-finance",
    "cn-hangzhou-internal-prod-1",
    "cn-hangzhou-internal-test-1",
    "cn-hangzhou-internal-test-2",
    "cn-hangzhou-internal-test-3",
    "cn-hangzhou-test-306",
    "cn-hongkong",
    "cn-hongkong-finance-pop",
    "cn-huhehaote",
    "cn-huhehaote-nebula-1",
    "cn-north-2-gov-1",
    "cn-qingdao",
    "cn-qingdao-nebula",
    "cn-shanghai",
    "cn-shanghai-et15-b01",
    "cn-shanghai-et2-b01",
    "cn-shanghai-finance-1",
    "cn-shanghai-inner",
    "cn-shanghai-internal-test-1",
    "cn-shenzhen",
    "cn-shenzhen-finance-1",
    "cn-shenzhen-inner",
    "cn-shenzhen-st4-d01",
    "cn-shenzhen-su18-b01",
    "cn-wuhan",
    "cn-wulanchabu",
    "cn-yushanfang",
    "cn-zhangbei",
    "cn-zhangbei-na61-b01",
    "cn-zhangjiakou",
    "cn-zhangjiakou-na62-a01",
    "cn-zhengzhou-nebula-1",
    "eu-central-1",
    "eu-west-1",
    "eu-west-1-oxs",
    "me-east-1",
    "rus-west-1-pop",
    "us-east-1",
    "us-west-1",
];

/// Longest ARTC id (AppId, ChannelId, UserId), characters.
pub const MAX_ID_CHARS: usize = 64;

/// The config every operation needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `AppId`.
    pub app_id: String,
    /// The API host used when the operator sets no `endpoint`.
    pub host: String,
}

impl Settings {
    /// Reads and validates `app_id` and `region` through `get`.
    pub fn load(get: impl Fn(&str) -> Option<String>) -> Result<Self, ProviderError> {
        let app_id = match get(KEY_APP_ID) {
            Some(v) if !v.trim().is_empty() => parse_app_id(v.trim())?,
            _ => {
                return Err(invalid_argument(format!(
                    "provider config key `{KEY_APP_ID}` is not set; add `{KEY_APP_ID} = \"…\"` \
                     (the ARTC application id) under [providers.config]"
                )));
            }
        };
        let host = host_for(get(KEY_REGION).as_deref())?;
        Ok(Self { app_id, host })
    }
}

/// Whether `s` is 1..=64 characters of `[A-Za-z0-9_-]` (the vendor's id alphabet).
pub fn is_artc_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID_CHARS
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `app_id`: at most 64 characters `[A-Za-z0-9_-]`.
pub fn parse_app_id(value: &str) -> Result<String, ProviderError> {
    if is_artc_id(value) {
        Ok(value.to_string())
    } else {
        Err(invalid_argument(format!(
            "provider config key `{KEY_APP_ID}` is `{value}`; it must be the ARTC application \
             id: 1 to {MAX_ID_CHARS} characters of A-Z a-z 0-9 _ -"
        )))
    }
}

/// The API host, as the official SDK picks it: [`DEFAULT_HOST`] without `region` or for a
/// region in [`CENTRAL_REGIONS`], else `live.{region}.aliyuncs.com`.
pub fn host_for(region: Option<&str>) -> Result<String, ProviderError> {
    let region = match region.map(str::trim) {
        None | Some("") => return Ok(DEFAULT_HOST.to_string()),
        Some(r) => r,
    };
    let ok = region
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !region.starts_with('-')
        && !region.ends_with('-');
    if ok && CENTRAL_REGIONS.binary_search(&region).is_ok() {
        Ok(DEFAULT_HOST.to_string())
    } else if ok {
        Ok(format!("live.{region}.aliyuncs.com"))
    } else {
        Err(invalid_argument(format!(
            "provider config key `{KEY_REGION}` is `{region}`; it must be an Alibaba Cloud \
             region id such as `cn-shanghai` or `ap-southeast-1` (lowercase letters, digits \
             and `-`), or be left out for `{DEFAULT_HOST}`"
        )))
    }
}

/// The hosts `describe` reports: the configured region's host (or [`DEFAULT_HOST`]) on 443.
pub fn default_hosts(region: Option<&str>) -> Vec<String> {
    let host = host_for(region).unwrap_or_else(|_| DEFAULT_HOST.to_string());
    vec![format!("{host}:443")]
}

/// The base URL requests go to, `scheme://authority/`: the operator's `endpoint` override
/// if set, else `https://{host}/`.
///
/// The override must be `http(s)://host[:port]` with at most a trailing `/`: the RPC
/// signature covers the path `/`, so a path prefix would make every signature wrong.
pub fn endpoint(override_url: Option<&str>, host: &str) -> Result<String, ProviderError> {
    let example = format!("`https://{DEFAULT_HOST}` or `http://127.0.0.1:9103`");
    Ok(endpoint::override_or(override_url, host, &example)?.root())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest_plugin_sdk::ErrorKind;
    use ingest_plugin_sdk::testing::config_lookup as lookup;

    #[test]
    fn loads_settings() {
        let s = Settings::load(lookup(&[("app_id", " demoapp01 ")])).expect("valid");
        assert_eq!(
            s,
            Settings {
                app_id: "demoapp01".into(),
                host: DEFAULT_HOST.into()
            }
        );
        let s = Settings::load(lookup(&[("app_id", "a_b-C9"), ("region", "cn-shanghai")]))
            .expect("valid");
        assert_eq!(
            s.host, "live.aliyuncs.com",
            "the SDK maps cn-shanghai centrally"
        );
        let s = Settings::load(lookup(&[("app_id", "a"), ("region", "ap-southeast-7")]))
            .expect("valid");
        assert_eq!(
            s.host, "live.ap-southeast-7.aliyuncs.com",
            "unlisted: regional rule"
        );
    }

    #[test]
    fn bad_config_names_the_key() {
        for pairs in [
            vec![],
            vec![("app_id", "  ")],
            vec![("app_id", "has space")],
            vec![("app_id", "ü")],
        ] {
            let e = Settings::load(lookup(&pairs)).expect_err("invalid");
            assert_eq!(e.kind, ErrorKind::InvalidArgument);
            assert!(e.message.contains("`app_id`"), "{}", e.message);
        }
        let long = "a".repeat(65);
        assert!(Settings::load(lookup(&[("app_id", &long)])).is_err());
        assert!(Settings::load(lookup(&[("app_id", &long[..64])])).is_ok());
        for bad in [
            "CN-SHANGHAI",
            "cn shanghai",
            "-cn",
            "cn.shanghai",
            "live.aliyuncs.com",
        ] {
            let e = Settings::load(lookup(&[("app_id", "a"), ("region", bad)])).expect_err(bad);
            assert!(e.message.contains("`region`"), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn hosts() {
        assert_eq!(default_hosts(None), vec!["live.aliyuncs.com:443"]);
        assert_eq!(default_hosts(Some(" ")), vec!["live.aliyuncs.com:443"]);
        for central in [
            "cn-hangzhou",
            "cn-shanghai",
            "cn-beijing",
            "cn-shenzhen",
            "cn-qingdao",
            "cn-hongkong",
            "ap-southeast-1",
            "ap-northeast-1",
            "eu-central-1",
            "us-west-1",
            " cn-shanghai ",
        ] {
            assert_eq!(
                default_hosts(Some(central)),
                vec!["live.aliyuncs.com:443"],
                "{central}"
            );
        }
        for regional in ["ap-southeast-7", "cn-nanjing", "na-south-1"] {
            assert_eq!(
                default_hosts(Some(regional)),
                vec![format!("live.{regional}.aliyuncs.com:443")]
            );
        }
        assert_eq!(
            default_hosts(Some("bad region")),
            vec!["live.aliyuncs.com:443"]
        );
    }

    #[test]
    fn central_regions_are_sorted_and_well_formed() {
        assert_eq!(CENTRAL_REGIONS.len(), 57);
        assert!(
            CENTRAL_REGIONS.windows(2).all(|w| w[0] < w[1]),
            "sorted, unique"
        );
        for r in CENTRAL_REGIONS {
            assert_eq!(host_for(Some(r)).expect(r), DEFAULT_HOST, "{r}");
        }
    }

    #[test]
    fn endpoint_default_and_override() {
        assert_eq!(
            endpoint(None, DEFAULT_HOST).expect("default"),
            "https://live.aliyuncs.com/"
        );
        assert_eq!(
            endpoint(Some("http://127.0.0.1:9103"), DEFAULT_HOST).expect("override"),
            "http://127.0.0.1:9103/"
        );
        assert_eq!(
            endpoint(Some("HTTP://127.0.0.1:9103/"), DEFAULT_HOST).expect("slash"),
            "http://127.0.0.1:9103/"
        );
        for bad in [
            "ftp://x",
            "127.0.0.1:9103",
            "http://h/prefix",
            "http://h/?a=b",
            "http://u:p@h",
            "not a url",
        ] {
            let e = endpoint(Some(bad), DEFAULT_HOST).expect_err(bad);
            assert!(e.message.contains("`endpoint`"), "{bad}: {}", e.message);
        }
    }
}
