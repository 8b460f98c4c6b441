//! Parsing the base URL a plugin sends its requests to: the operator's `endpoint` override
//! (`config::endpoint()`), or a vendor default.
//!
//! Every vendor API in this gateway lives at the root of its host, so a base URL is
//! `http(s)://host[:port]` with at most a trailing `/`: no user information, no path, no query.
//! [`parse`] checks exactly that and names the offending config key in its error, so the
//! operator can fix the config without reading the plugin.

use crate::ProviderError;
use crate::error::invalid_argument;

/// A validated base URL, split into the parts plugins need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    /// `"http"` or `"https"`, lowercase whatever the operator wrote.
    pub scheme: &'static str,
    /// `host[:port]` exactly as written (the `Host` header the vendor sees).
    pub authority: String,
    /// The host alone, lowercased.
    pub host: String,
    /// The explicit port, or the scheme's default (80 for http, 443 for https).
    pub port: u16,
}

impl BaseUrl {
    /// `scheme://authority`, without a trailing slash.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.authority)
    }

    /// `scheme://authority/`: the URL of the API's root.
    pub fn root(&self) -> String {
        format!("{}/", self.origin())
    }

    /// `host:port` with the port made explicit, as the egress allowlist wants it.
    pub fn host_port(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// Parses `value` (trimmed) as an `http(s)://host[:port]` URL with at most a trailing `/`.
///
/// `key` names the setting in the error (`endpoint`, or a plugin's own key such as
/// `backup_endpoint`); `example` completes the error's "it must look like …" and should show
/// both a vendor URL and a local one, e.g. ``"`https://api.example.com` or
/// `http://127.0.0.1:9100`"``. Every error is `invalid-argument` and its message contains
/// `` `{key}` ``.
pub fn parse(key: &str, value: &str, example: &str) -> Result<BaseUrl, ProviderError> {
    let value = value.trim();
    let bad = |why: &str| {
        invalid_argument(format!(
            "the provider's `{key}` `{value}` {why}; it must look like {example}"
        ))
    };
    let uri: http::Uri = value
        .parse()
        .map_err(|_| bad("is not a valid absolute URL"))?;
    let (scheme, default_port) = match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("https") => ("https", 443),
        Some(s) if s.eq_ignore_ascii_case("http") => ("http", 80),
        _ => return Err(bad("does not start with http:// or https://")),
    };
    let authority = uri.authority().ok_or_else(|| bad("has no host"))?;
    if authority.as_str().contains('@') {
        return Err(bad("must not carry user information"));
    }
    if authority.host().is_empty() {
        return Err(bad("has no host"));
    }
    match uri.path_and_query().map(|p| p.as_str()) {
        None | Some("") | Some("/") => {}
        Some(_) => return Err(bad("has a path or query")),
    }
    Ok(BaseUrl {
        scheme,
        authority: authority.as_str().to_string(),
        host: authority.host().to_ascii_lowercase(),
        port: authority.port_u16().unwrap_or(default_port),
    })
}

/// The operator's `endpoint` override when it is set and not blank, else
/// `https://{default_host}`; both go through [`parse`] with the key `endpoint`.
pub fn override_or(
    override_url: Option<&str>,
    default_host: &str,
    example: &str,
) -> Result<BaseUrl, ProviderError> {
    match override_url.map(str::trim) {
        Some(v) if !v.is_empty() => parse("endpoint", v, example),
        _ => parse("endpoint", &format!("https://{default_host}"), example),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    const EXAMPLE: &str = "`https://api.example.com` or `http://127.0.0.1:9100`";

    #[test]
    fn parses_the_parts() {
        let b = parse("endpoint", " HTTP://Host.Example:8080/ ", EXAMPLE).expect("valid");
        assert_eq!(b.scheme, "http");
        assert_eq!(b.authority, "Host.Example:8080");
        assert_eq!(b.host_port(), "host.example:8080");
        assert_eq!(b.origin(), "http://Host.Example:8080");
        assert_eq!(b.root(), "http://Host.Example:8080/");
        let b = parse("endpoint", "https://h", EXAMPLE).expect("valid");
        assert_eq!((b.port, b.root()), (443, "https://h/".to_string()));
    }

    #[test]
    fn override_or_default() {
        let b = override_or(None, "api.example.com", EXAMPLE).expect("default");
        assert_eq!(b.root(), "https://api.example.com/");
        let b = override_or(Some("  "), "api.example.com", EXAMPLE).expect("blank");
        assert_eq!(b.authority, "api.example.com");
        let b = override_or(Some("http://127.0.0.1:9100"), "x", EXAMPLE).expect("override");
        assert_eq!(b.root(), "http://127.0.0.1:9100/");
    }

    #[test]
    fn rejects_what_is_not_a_base_url() {
        for bad in [
            "ftp://x",
            "127.0.0.1:9100",
            "http://h/prefix",
            "http://h/?a=b",
            "http://u:p@h",
            "http://:80",
            "not a url",
            "%%",
        ] {
            let e = parse("backup_endpoint", bad, EXAMPLE).expect_err(bad);
            assert_eq!(e.kind, ErrorKind::InvalidArgument, "{bad}");
            assert!(
                e.message.contains("`backup_endpoint`"),
                "{bad}: {}",
                e.message
            );
            assert!(e.message.contains(EXAMPLE), "{bad}: {}", e.message);
        }
    }
}
