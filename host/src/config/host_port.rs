//! The `host:port` syntax of allowlists (`allow_hosts`, plugins' default hosts).

/// A `host:port` pair on an allowlist.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// Lowercase host name or IP literal (without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
}

impl HostPort {
    /// Parses `host:port` or `[v6]:port`.
    pub fn parse(s: &str) -> Option<Self> {
        let (host, port) = s.trim().rsplit_once(':')?;
        let port: u16 = port.parse().ok()?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains(['/', ' ', '@']) {
            return None;
        }
        Some(Self {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// The `host:port` of an `http(s)://` URL.
    pub fn of_url(url: &str) -> Option<Self> {
        Self::of_parsed(&url::Url::parse(url).ok()?)
    }

    /// The `host:port` of a parsed URL (its scheme's default port when it names none).
    pub fn of_parsed(u: &url::Url) -> Option<Self> {
        let host = match u.host()? {
            url::Host::Domain(d) => d.to_ascii_lowercase(),
            url::Host::Ipv4(ip) => ip.to_string(),
            url::Host::Ipv6(ip) => ip.to_string(),
        };
        Some(Self {
            host,
            port: u.port_or_known_default()?,
        })
    }
}

impl std::fmt::Display for HostPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_parsing() {
        assert_eq!(
            HostPort::parse("Trtc.TencentCloudAPI.com:443"),
            Some(HostPort {
                host: "trtc.tencentcloudapi.com".into(),
                port: 443
            })
        );
        assert_eq!(
            HostPort::parse("[::1]:80").map(|h| h.host),
            Some("::1".to_string())
        );
        assert_eq!(HostPort::parse("no-port"), None);
        assert_eq!(HostPort::parse("h:99999"), None);
        assert_eq!(
            HostPort::of_url("https://a.example/x").map(|h| h.to_string()),
            Some("a.example:443".to_string())
        );
        assert_eq!(
            HostPort::of_url("http://127.0.0.1:9101/").map(|h| h.to_string()),
            Some("127.0.0.1:9101".to_string())
        );
    }
}
