//! The provider's configuration (`[providers.config]`) and the vendor endpoint.
//!
//! Everything here is pure: the config lookup is passed in as a closure, so the parsing and
//! its error messages are unit-tested on the host target.

use ingest_plugin_sdk::error::invalid_argument;
use ingest_plugin_sdk::{ProviderError, endpoint};

/// The vendor's API host (Chinese mainland site).
pub const DEFAULT_HOST: &str = "trtc.tencentcloudapi.com";
/// The vendor's API host for the international site.
pub const INTL_HOST: &str = "trtc.intl.tencentcloudapi.com";

/// Config key: the TRTC application's SDKAppID.
pub const KEY_SDK_APP_ID: &str = "sdk_app_id";
/// Config key: the API region (`X-TC-Region`).
pub const KEY_REGION: &str = "region";
/// Config key: the API host.
pub const KEY_HOST: &str = "host";
/// Config key: the default `RoomIdType`.
pub const KEY_ROOM_ID_TYPE: &str = "room_id_type";
/// Config key: how long a UserSig the plugin generates stays valid, seconds.
pub const KEY_USER_SIG_EXPIRE_SECS: &str = "user_sig_expire_secs";
/// Config key: the privilege bits of a PrivateMapKey the plugin generates (unset: none).
pub const KEY_PRIVATE_MAP_PRIVILEGES: &str = "private_map_privileges";

/// The default validity of a generated UserSig: 180 days, as in Tencent's official libraries.
pub const DEFAULT_USER_SIG_EXPIRE_SECS: u64 = 180 * 86_400;
/// The shortest validity accepted: one minute (the relay robot must still be able to enter the
/// room when TRTC starts the task).
pub const MIN_USER_SIG_EXPIRE_SECS: u64 = 60;
/// The longest validity accepted: one year. A UserSig is a bearer ticket for the relay robot's
/// user id; a longer one only widens what a leaked ticket allows.
pub const MAX_USER_SIG_EXPIRE_SECS: u64 = 365 * 86_400;

/// How TRTC reads a room id (`RoomIdType`).
///
/// The default is [`RoomIdType::Integer`], as Tencent documents it ("1: 32-bit Integer type
/// RoomId (default)"). The integer room 42 and the string room "42" are different rooms, so the
/// plugin never changes the type on its own: a room id that does not fit the type in effect is
/// refused (see [`crate::start::build`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RoomIdType {
    /// `0`: the room id is a string.
    String,
    /// `1`: the room id is a 32-bit integer, 1..=4294967294. Tencent's default.
    #[default]
    Integer,
}

impl RoomIdType {
    /// The value TRTC expects in `RoomIdType`.
    pub fn wire(self) -> u8 {
        match self {
            RoomIdType::String => 0,
            RoomIdType::Integer => 1,
        }
    }

    /// `0` → string, `1` → integer, anything else → `None`.
    pub fn from_wire(n: i64) -> Option<Self> {
        match n {
            0 => Some(RoomIdType::String),
            1 => Some(RoomIdType::Integer),
            _ => None,
        }
    }
}

/// The config every operation needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `SdkAppId`.
    pub sdk_app_id: u64,
    /// `X-TC-Region`.
    pub region: String,
    /// The API host used when the operator sets no `endpoint`.
    pub host: String,
}

impl Settings {
    /// Reads and validates `sdk_app_id`, `region` and `host` through `get`.
    pub fn load(get: impl Fn(&str) -> Option<String>) -> Result<Self, ProviderError> {
        let sdk_app_id = parse_sdk_app_id(required(&get, KEY_SDK_APP_ID)?.as_str())?;
        let region = parse_region(required(&get, KEY_REGION)?.as_str())?;
        let host = parse_host(get(KEY_HOST).as_deref())?;
        Ok(Self {
            sdk_app_id,
            region,
            host,
        })
    }
}

fn required(get: &impl Fn(&str) -> Option<String>, key: &str) -> Result<String, ProviderError> {
    match get(key) {
        Some(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
        _ => Err(invalid_argument(format!(
            "provider config key `{key}` is not set; add `{key} = \"…\"` under [providers.config]"
        ))),
    }
}

/// `sdk_app_id`: a positive integer.
pub fn parse_sdk_app_id(value: &str) -> Result<u64, ProviderError> {
    match value.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(invalid_argument(format!(
            "provider config key `{KEY_SDK_APP_ID}` is `{value}`; it must be a positive integer \
             (the TRTC application's SDKAppID, e.g. 1400000000)"
        ))),
    }
}

/// `region`: a Tencent Cloud region name such as `ap-guangzhou`.
pub fn parse_region(value: &str) -> Result<String, ProviderError> {
    let v = value.trim();
    let ok = !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(v.to_string())
    } else {
        Err(invalid_argument(format!(
            "provider config key `{KEY_REGION}` is `{value}`; it must be a Tencent Cloud region \
             such as `ap-guangzhou` (lowercase letters, digits and `-`)"
        )))
    }
}

/// `host`: a bare host name; unset or blank means [`DEFAULT_HOST`].
pub fn parse_host(value: Option<&str>) -> Result<String, ProviderError> {
    let v = match value.map(str::trim) {
        None | Some("") => return Ok(DEFAULT_HOST.to_string()),
        Some(v) => v,
    };
    let ok = v
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && !v.starts_with(['.', '-'])
        && !v.ends_with(['.', '-']);
    if ok {
        Ok(v.to_ascii_lowercase())
    } else {
        Err(invalid_argument(format!(
            "provider config key `{KEY_HOST}` is `{value}`; it must be a bare host name such as \
             `{DEFAULT_HOST}` or `{INTL_HOST}` (no scheme, port or path; use `endpoint` to send \
             requests elsewhere)",
            value = value.unwrap_or_default()
        )))
    }
}

/// `room_id_type`: `0` or `1`; unset or blank means "not configured".
pub fn parse_room_id_type(value: Option<&str>) -> Result<Option<RoomIdType>, ProviderError> {
    let v = match value.map(str::trim) {
        None | Some("") => return Ok(None),
        Some(v) => v,
    };
    v.parse::<i64>()
        .ok()
        .and_then(RoomIdType::from_wire)
        .map(Some)
        .ok_or_else(|| {
            invalid_argument(format!(
                "provider config key `{KEY_ROOM_ID_TYPE}` is `{v}`; it must be 0 (string room ids) \
                 or 1 (32-bit integer room ids, Tencent's default when the key is unset)"
            ))
        })
}

/// `user_sig_expire_secs`: whole seconds in
/// [`MIN_USER_SIG_EXPIRE_SECS`]..=[`MAX_USER_SIG_EXPIRE_SECS`]; unset or blank means
/// [`DEFAULT_USER_SIG_EXPIRE_SECS`].
pub fn parse_user_sig_expire_secs(value: Option<&str>) -> Result<u64, ProviderError> {
    let v = match value.map(str::trim) {
        None | Some("") => return Ok(DEFAULT_USER_SIG_EXPIRE_SECS),
        Some(v) => v,
    };
    v.parse::<u64>()
        .ok()
        .filter(|n| (MIN_USER_SIG_EXPIRE_SECS..=MAX_USER_SIG_EXPIRE_SECS).contains(n))
        .ok_or_else(|| {
            invalid_argument(format!(
                "provider config key `{KEY_USER_SIG_EXPIRE_SECS}` is `{v}`; it must be whole \
                 seconds from {MIN_USER_SIG_EXPIRE_SECS} to {MAX_USER_SIG_EXPIRE_SECS} (one \
                 year): how long a UserSig generated from `sdk_secret_key` stays valid. Leave it \
                 unset for Tencent's default of 180 days ({DEFAULT_USER_SIG_EXPIRE_SECS})"
            ))
        })
}

/// `private_map_privileges`: the PrivateMapKey privilege bits, 1..=255 (1 create the room, 2
/// enter it, 4 send audio, 8 receive audio, 16 send video, 32 receive video, 64 send and 128
/// receive the sub-stream); unset or blank: no PrivateMapKey is generated.
pub fn parse_private_map_privileges(value: Option<&str>) -> Result<Option<u32>, ProviderError> {
    let v = match value.map(str::trim) {
        None | Some("") => return Ok(None),
        Some(v) => v,
    };
    match v.parse::<u32>() {
        Ok(n) if (1..=255).contains(&n) => Ok(Some(n)),
        _ => Err(invalid_argument(format!(
            "provider config key `{KEY_PRIVATE_MAP_PRIVILEGES}` is `{v}`; it must be the \
             PrivateMapKey's privilege bits, 1..=255 (2 enters the room, 4 sends audio, 16 sends \
             video: a relay robot needs at least 22), or unset to generate no PrivateMapKey"
        ))),
    }
}

/// The hosts `describe` reports: the configured `host` (or [`DEFAULT_HOST`]) on port 443.
pub fn default_hosts(host: Option<&str>) -> Vec<String> {
    let host = parse_host(host).unwrap_or_else(|_| DEFAULT_HOST.to_string());
    vec![format!("{host}:443")]
}

/// Where requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The full request URL, `scheme://authority/`.
    pub url: String,
    /// The URL's authority (`host[:port]`) exactly as sent; the `Host` header the vendor sees
    /// and the `host` the request is signed with.
    pub authority: String,
}

/// The endpoint: the operator's `endpoint` override if set, else `https://{host}`.
///
/// The override must be `http(s)://host[:port]` with at most a trailing `/`: TC3 signs the
/// path `/`, so a path prefix would make every signature wrong.
pub fn endpoint(override_url: Option<&str>, host: &str) -> Result<Endpoint, ProviderError> {
    let example = format!("`https://{DEFAULT_HOST}` or `http://127.0.0.1:9101`");
    let base = endpoint::override_or(override_url, host, &example)?;
    Ok(Endpoint {
        url: base.root(),
        authority: base.authority,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest_plugin_sdk::ErrorKind;
    use ingest_plugin_sdk::testing::config_lookup as lookup;

    #[test]
    fn loads_settings_with_default_host() {
        let s = Settings::load(lookup(&[
            ("sdk_app_id", " 1400000001 "),
            ("region", "ap-guangzhou"),
        ]))
        .expect("valid config");
        assert_eq!(
            s,
            Settings {
                sdk_app_id: 1_400_000_001,
                region: "ap-guangzhou".into(),
                host: DEFAULT_HOST.into()
            }
        );
    }

    #[test]
    fn missing_or_bad_config_names_the_key() {
        let e = Settings::load(lookup(&[("region", "ap-guangzhou")])).expect_err("missing");
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert!(e.message.contains("`sdk_app_id`"), "{}", e.message);

        let e = Settings::load(lookup(&[("sdk_app_id", "abc"), ("region", "ap-guangzhou")]))
            .expect_err("not a number");
        assert!(e.message.contains("`sdk_app_id`") && e.message.contains("positive integer"));

        let e = Settings::load(lookup(&[("sdk_app_id", "0"), ("region", "ap-guangzhou")]))
            .expect_err("zero");
        assert!(e.message.contains("`sdk_app_id`"));

        let e = Settings::load(lookup(&[("sdk_app_id", "1")])).expect_err("no region");
        assert!(e.message.contains("`region`"));

        let e = Settings::load(lookup(&[("sdk_app_id", "1"), ("region", "ap guangzhou")]))
            .expect_err("bad region");
        assert!(e.message.contains("`region`"));

        let e = Settings::load(lookup(&[
            ("sdk_app_id", "1"),
            ("region", "ap-guangzhou"),
            ("host", "https://trtc.tencentcloudapi.com"),
        ]))
        .expect_err("host with scheme");
        assert!(e.message.contains("`host`"));
    }

    #[test]
    fn host_key() {
        assert_eq!(parse_host(None).expect("default"), DEFAULT_HOST);
        assert_eq!(parse_host(Some("  ")).expect("blank"), DEFAULT_HOST);
        assert_eq!(parse_host(Some(INTL_HOST)).expect("intl"), INTL_HOST);
        assert!(parse_host(Some("trtc.tencentcloudapi.com:443")).is_err());
        assert!(parse_host(Some("trtc.tencentcloudapi.com/")).is_err());
        assert_eq!(default_hosts(None), vec!["trtc.tencentcloudapi.com:443"]);
        assert_eq!(
            default_hosts(Some(INTL_HOST)),
            vec!["trtc.intl.tencentcloudapi.com:443"]
        );
        assert_eq!(
            default_hosts(Some("bad host")),
            vec!["trtc.tencentcloudapi.com:443"]
        );
    }

    #[test]
    fn room_id_type_key() {
        assert_eq!(parse_room_id_type(None).expect("unset"), None);
        assert_eq!(
            parse_room_id_type(Some("0")).expect("0"),
            Some(RoomIdType::String)
        );
        assert_eq!(
            parse_room_id_type(Some(" 1 ")).expect("1"),
            Some(RoomIdType::Integer)
        );
        for bad in ["2", "-1", "string", "1.0"] {
            let e = parse_room_id_type(Some(bad)).expect_err(bad);
            assert_eq!(e.kind, ErrorKind::InvalidArgument);
            assert!(e.message.contains("`room_id_type`"), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn user_sig_expire_secs_key() {
        assert_eq!(parse_user_sig_expire_secs(None).expect("unset"), 15_552_000);
        assert_eq!(
            parse_user_sig_expire_secs(Some(" ")).expect("blank"),
            15_552_000
        );
        assert_eq!(parse_user_sig_expire_secs(Some("60")).expect("min"), 60);
        assert_eq!(
            parse_user_sig_expire_secs(Some(" 86400 ")).expect("a day"),
            86_400
        );
        assert_eq!(
            parse_user_sig_expire_secs(Some("31536000")).expect("max"),
            31_536_000
        );
        for bad in [
            "59",
            "0",
            "-1",
            "31536001",
            "1.5",
            "1d",
            "99999999999999999999999",
        ] {
            let e = parse_user_sig_expire_secs(Some(bad)).expect_err(bad);
            assert_eq!(e.kind, ErrorKind::InvalidArgument);
            for needle in ["`user_sig_expire_secs`", bad, "60", "31536000", "180 days"] {
                assert!(e.message.contains(needle), "{bad}: {needle}: {}", e.message);
            }
        }
    }

    /// Tencent's documented default: "1: 32-bit Integer type RoomId (default)".
    #[test]
    fn the_default_room_id_type_is_tencents_integer() {
        assert_eq!(RoomIdType::default(), RoomIdType::Integer);
        assert_eq!(RoomIdType::default().wire(), 1);
        assert_eq!(RoomIdType::from_wire(0), Some(RoomIdType::String));
        assert_eq!(RoomIdType::from_wire(1), Some(RoomIdType::Integer));
        assert_eq!(RoomIdType::from_wire(2), None);
    }

    #[test]
    fn endpoint_default_and_override() {
        let e = endpoint(None, DEFAULT_HOST).expect("default");
        assert_eq!(e.url, "https://trtc.tencentcloudapi.com/");
        assert_eq!(e.authority, "trtc.tencentcloudapi.com");

        let e = endpoint(Some("http://127.0.0.1:9101"), DEFAULT_HOST).expect("override");
        assert_eq!(e.url, "http://127.0.0.1:9101/");
        assert_eq!(e.authority, "127.0.0.1:9101");

        let e = endpoint(Some("http://127.0.0.1:9101/"), DEFAULT_HOST).expect("trailing slash");
        assert_eq!(e.url, "http://127.0.0.1:9101/");

        let e = endpoint(Some("  "), INTL_HOST).expect("blank override");
        assert_eq!(e.authority, INTL_HOST);

        for bad in [
            "ftp://x",
            "127.0.0.1:9101",
            "http://127.0.0.1:9101/prefix",
            "http://h/?a=b",
            "http://u:p@h",
            "not a url",
        ] {
            let e = endpoint(Some(bad), DEFAULT_HOST).expect_err(bad);
            assert_eq!(e.kind, ErrorKind::InvalidArgument, "{bad}");
            assert!(e.message.contains("`endpoint`"), "{bad}: {}", e.message);
        }
    }
}
