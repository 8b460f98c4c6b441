//! TC3-HMAC-SHA256 request signing, as the vendor documents it, and the keyed hash the UserSig
//! and callback checks need.
//!
//! The string building is pure. The steps that need a hash or a secret ask the host
//! (`ingest_plugin_sdk::creds`), so the plugin never holds `secret_key` or `secret_id`: the
//! SHA-256 digests, the TC3 key derivation and signature ([`tc3_signature`]) and the SecretId
//! written into `Authorization` (a placeholder the host fills in as the request leaves). In the
//! unit tests the SDK's `TestHost` answers for the host and the vendor's published example is
//! checked.
//!
//! [`secret_hmac_sha256`] is the one keyed step of TLSSigAPIv2 ([`crate::usersig`]) and of
//! callback verification ([`crate::callback`]): `HMAC-SHA256(secret, data)`, computed by the
//! host over a secret reference, with "the secret is not configured" kept apart from other
//! failures so each caller can say how to fix it.

use ingest_plugin_sdk::creds::{self, HashAlgorithm};
use ingest_plugin_sdk::error;
use ingest_plugin_sdk::{ErrorKind, ProviderError};

/// The signature algorithm name.
pub const ALGORITHM: &str = "TC3-HMAC-SHA256";
/// The service name in the credential scope.
pub const SERVICE: &str = "trtc";
/// The last element of the credential scope.
pub const TERMINATOR: &str = "tc3_request";
/// The secret holding the SecretKey.
pub const SECRET_KEY: &str = "secret_key";
/// The secret holding the SecretId.
pub const SECRET_ID: &str = "secret_id";

/// `HMAC(kSigning, string_to_sign)` with `kSigning` derived from `"TC3" ‖ SecretKey` through
/// `date`, `service` and `tc3_request`; raw bytes, computed by the host.
pub fn tc3_signature(
    date: &str,
    service: &str,
    string_to_sign: &str,
) -> Result<Vec<u8>, ProviderError> {
    creds::hmac_chain(
        HashAlgorithm::Sha256,
        &[creds::text("TC3"), creds::secret(SECRET_KEY)],
        &[
            vec![creds::text(date)],
            vec![creds::text(service)],
            vec![creds::text(TERMINATOR)],
            vec![creds::text(string_to_sign)],
        ],
    )
}

/// `HMAC-SHA256(key = the value of the secret `secret`, data)`, raw bytes, computed by the
/// host; `Ok(None)` when the provider has no secret of that name (it is optional: the caller
/// says what to add).
pub fn secret_hmac_sha256(secret: &str, data: &[u8]) -> Result<Option<Vec<u8>>, ProviderError> {
    creds::hmac_optional(
        HashAlgorithm::Sha256,
        &[creds::secret(secret)],
        &[creds::bytes(data)],
    )
}

/// The UTC date (`YYYY-MM-DD`) of a Unix timestamp in seconds. Never local time: Beijing is a
/// day ahead of UTC for eight hours of every day.
pub fn utc_date(timestamp: u64) -> Result<String, ProviderError> {
    let dt = i64::try_from(timestamp)
        .ok()
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .ok_or_else(|| {
            error::new(
                ErrorKind::PluginFault,
                format!("the call's timestamp {timestamp} is outside the representable date range"),
            )
        })?;
    let date = dt.date();
    Ok(format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    ))
}

/// `CanonicalHeaders` and `SignedHeaders` for `headers` (name, value): names and values
/// lowercased and trimmed, sorted by name.
pub fn canonical_headers(headers: &[(&str, &str)]) -> (String, String) {
    let mut lines: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_lowercase()))
        .collect();
    lines.sort();
    let canonical = lines.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed = lines
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    (canonical, signed)
}

/// `CanonicalRequest` for a `POST /` with no query string.
pub fn canonical_request(
    canonical_headers: &str,
    signed_headers: &str,
    hashed_payload: &str,
) -> String {
    format!("POST\n/\n\n{canonical_headers}\n{signed_headers}\n{hashed_payload}")
}

/// `CredentialScope`: `Date/service/tc3_request`.
pub fn credential_scope(date: &str, service: &str) -> String {
    format!("{date}/{service}/{TERMINATOR}")
}

/// `StringToSign`.
pub fn string_to_sign(timestamp: u64, scope: &str, hashed_canonical_request: &str) -> String {
    format!("{ALGORITHM}\n{timestamp}\n{scope}\n{hashed_canonical_request}")
}

/// The `Authorization` header value (comma *and space* between the three parts).
pub fn authorization_value(
    secret_id: &str,
    scope: &str,
    signed_headers: &str,
    signature_hex: &str,
) -> String {
    format!(
        "{ALGORITHM} Credential={secret_id}/{scope}, SignedHeaders={signed_headers}, Signature={signature_hex}"
    )
}

/// What to sign for one request.
#[derive(Debug, Clone, Copy)]
pub struct ToSign<'a> {
    /// The service in the credential scope (`trtc`).
    pub service: &'a str,
    /// The `Host` the vendor sees (the endpoint's authority).
    pub host: &'a str,
    /// The `Content-Type` sent.
    pub content_type: &'a str,
    /// The exact body bytes sent.
    pub body: &'a [u8],
    /// `X-TC-Timestamp`, Unix seconds.
    pub timestamp: u64,
}

/// The `Authorization` header value for `req`, signing `content-type` and `host`.
pub fn authorization(req: &ToSign<'_>) -> Result<String, ProviderError> {
    let date = utc_date(req.timestamp)?;
    let (headers, signed) =
        canonical_headers(&[("content-type", req.content_type), ("host", req.host)]);
    let hashed_payload = creds::sha256_hex(req.body)?;
    let canonical = canonical_request(&headers, &signed, &hashed_payload);
    let hashed_canonical = creds::sha256_hex(canonical.as_bytes())?;
    let scope = credential_scope(&date, req.service);
    let to_sign = string_to_sign(req.timestamp, &scope, &hashed_canonical);
    let signature = hex::encode(tc3_signature(&date, req.service, &to_sign)?);
    // A placeholder the host swaps for the real SecretId when the request leaves.
    let secret_id = creds::placeholder(&[creds::secret(SECRET_ID)])?;
    Ok(authorization_value(&secret_id, &scope, &signed, &signature))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest_plugin_sdk::testing::TestHost;

    /// The worked example of Tencent Cloud's "Signature v3" page (CVM DescribeInstances).
    #[test]
    fn matches_the_vendors_published_example() {
        let body = br#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
        // The host holds the example's keys; the SecretId's placeholder is the value itself here.
        let _host = TestHost::new()
            .secret(SECRET_ID, "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE")
            .secret(SECRET_KEY, "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE")
            .install();
        let (headers, signed) = canonical_headers(&[
            ("Content-Type", "application/json; charset=utf-8"),
            ("Host", "cvm.tencentcloudapi.com"),
        ]);
        let hashed_payload = creds::sha256_hex(body).expect("hash");
        assert_eq!(
            hashed_payload,
            "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        let canonical = canonical_request(&headers, &signed, &hashed_payload);
        assert_eq!(
            canonical,
            "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\n\
             content-type;host\n35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        assert_eq!(
            creds::sha256_hex(canonical.as_bytes()).expect("hash"),
            "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );

        let auth = authorization(&ToSign {
            service: "cvm",
            host: "cvm.tencentcloudapi.com",
            content_type: "application/json; charset=utf-8",
            body,
            timestamp: 1_551_113_065,
        })
        .expect("sign");
        assert_eq!(
            auth,
            "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, \
             SignedHeaders=content-type;host, \
             Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
    }

    #[test]
    fn utc_date_is_not_local_time() {
        // 2019-02-26 00:44:25 in Beijing is still 2019-02-25 in UTC.
        assert_eq!(utc_date(1_551_113_065).expect("date"), "2019-02-25");
        assert_eq!(utc_date(0).expect("epoch"), "1970-01-01");
        // One second either side of a UTC midnight.
        assert_eq!(utc_date(1_704_067_199).expect("date"), "2023-12-31");
        assert_eq!(utc_date(1_704_067_200).expect("date"), "2024-01-01");
        assert!(utc_date(u64::MAX).is_err());
    }

    #[test]
    fn canonical_headers_sort_lowercase_and_trim() {
        let (c, s) = canonical_headers(&[
            ("X-TC-Action", " StartStreamIngest "),
            ("Host", "127.0.0.1:9101"),
            ("Content-Type", "application/json"),
        ]);
        assert_eq!(
            c,
            "content-type:application/json\nhost:127.0.0.1:9101\nx-tc-action:startstreamingest\n"
        );
        assert_eq!(s, "content-type;host;x-tc-action");
    }

    #[test]
    fn trtc_request_uses_trtc_scope_and_signs_the_authority() {
        let _host = TestHost::new()
            .secret(SECRET_ID, "{{placeholder}}")
            .secret(SECRET_KEY, "k")
            .install();
        let auth = authorization(&ToSign {
            service: SERVICE,
            host: "127.0.0.1:9101",
            content_type: "application/json",
            body: b"{}",
            timestamp: 1_700_000_000,
        })
        .expect("sign");
        assert!(
            auth.starts_with(
                "TC3-HMAC-SHA256 Credential={{placeholder}}/2023-11-14/trtc/tc3_request, \
                 SignedHeaders=content-type;host, Signature="
            ),
            "{auth}"
        );
        let sig = auth.rsplit("Signature=").next().unwrap_or_default();
        assert_eq!(sig.len(), 64);
        assert!(
            sig.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
    }
}
