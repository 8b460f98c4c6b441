//! TC3-HMAC-SHA256 request signing, as the vendor documents it, and the keyed hash the UserSig
//! and callback checks need.
//!
//! The string building is pure. The three steps that need a hash or a secret go through the
//! [`Crypto`] trait: in the component it is [`HostCrypto`], which asks the host
//! (`ingest_plugin_sdk::creds`) so the plugin never holds `secret_key` or `secret_id`; the unit
//! tests plug in a local implementation and check the vendor's published example.
//!
//! [`SecretHmac`] is the one keyed step of TLSSigAPIv2 ([`crate::usersig`]) and of callback
//! verification ([`crate::callback`]): `HMAC-SHA256(secret, data)`, computed by the host over a
//! secret reference, with "the secret is not configured" kept apart from other failures so
//! each caller can say how to fix it.

use ingest_plugin_sdk::ErrorKind;
use ingest_plugin_sdk::ProviderError;
use ingest_plugin_sdk::bindings::ingest::provider::credentials as host;
use ingest_plugin_sdk::creds::{self, CredentialError, HashAlgorithm};
use ingest_plugin_sdk::error;

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

/// The hashing and keyed steps of TC3.
pub trait Crypto {
    /// Lowercase hex SHA-256 of `data`.
    fn sha256_hex(&self, data: &[u8]) -> Result<String, ProviderError>;

    /// `HMAC(kSigning, string_to_sign)` with `kSigning` derived from `"TC3" ‖ SecretKey`
    /// through `date`, `service` and `tc3_request`; raw bytes.
    fn tc3_signature(
        &self,
        date: &str,
        service: &str,
        string_to_sign: &str,
    ) -> Result<Vec<u8>, ProviderError>;

    /// What to write as the SecretId in `Authorization`.
    fn secret_id(&self) -> Result<String, ProviderError>;
}

/// [`Crypto`] computed by the host over secret references.
#[derive(Debug, Clone, Copy)]
pub struct HostCrypto;

impl Crypto for HostCrypto {
    fn sha256_hex(&self, data: &[u8]) -> Result<String, ProviderError> {
        creds::sha256_hex(data)
    }

    fn tc3_signature(
        &self,
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

    /// A placeholder the host swaps for the real SecretId when the request leaves.
    fn secret_id(&self) -> Result<String, ProviderError> {
        creds::placeholder(&[creds::secret(SECRET_ID)])
    }
}

/// `HMAC-SHA256` keyed by a secret the plugin never sees.
pub trait SecretHmac {
    /// `HMAC-SHA256(key = the value of secret `secret`, data)`, raw bytes; `Ok(None)` when the
    /// provider has no secret of that name (it is optional: the caller says what to add).
    fn hmac_sha256(&self, secret: &str, data: &[u8]) -> Result<Option<Vec<u8>>, ProviderError>;
}

impl SecretHmac for HostCrypto {
    fn hmac_sha256(&self, secret: &str, data: &[u8]) -> Result<Option<Vec<u8>>, ProviderError> {
        // The host's own error tells a missing secret apart from anything else.
        match host::hmac(
            HashAlgorithm::Sha256,
            &[creds::secret(secret)],
            &[creds::bytes(data)],
        ) {
            Ok(mac) => Ok(Some(mac)),
            Err(CredentialError::UnknownSecret(_)) => Ok(None),
            Err(CredentialError::InvalidInput(m)) => Err(error::new(
                ErrorKind::PluginFault,
                format!("the plugin made an invalid credentials call: {m}"),
            )),
        }
    }
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
pub fn authorization(crypto: &impl Crypto, req: &ToSign<'_>) -> Result<String, ProviderError> {
    let date = utc_date(req.timestamp)?;
    let (headers, signed) =
        canonical_headers(&[("content-type", req.content_type), ("host", req.host)]);
    let hashed_payload = crypto.sha256_hex(req.body)?;
    let canonical = canonical_request(&headers, &signed, &hashed_payload);
    let hashed_canonical = crypto.sha256_hex(canonical.as_bytes())?;
    let scope = credential_scope(&date, req.service);
    let to_sign = string_to_sign(req.timestamp, &scope, &hashed_canonical);
    let signature = hex::encode(crypto.tc3_signature(&date, req.service, &to_sign)?);
    Ok(authorization_value(
        &crypto.secret_id()?,
        &scope,
        &signed,
        &signature,
    ))
}

#[cfg(test)]
pub(crate) mod testing {
    //! A local [`SecretHmac`] for unit tests, knowing fixed secret values.
    use super::*;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    /// Resolves the secrets it lists; any other name is "not configured".
    pub struct LocalSecrets(pub Vec<(&'static str, &'static str)>);

    impl SecretHmac for LocalSecrets {
        fn hmac_sha256(&self, secret: &str, data: &[u8]) -> Result<Option<Vec<u8>>, ProviderError> {
            let Some((_, value)) = self.0.iter().find(|(name, _)| *name == secret) else {
                return Ok(None);
            };
            let mut mac = Hmac::<Sha256>::new_from_slice(value.as_bytes()).expect("any key length");
            mac.update(data);
            Ok(Some(mac.finalize().into_bytes().to_vec()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};

    /// TC3 computed locally with known keys, standing in for the host.
    struct LocalCrypto {
        secret_id: &'static str,
        secret_key: &'static str,
    }

    fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
        mac.update(msg);
        mac.finalize().into_bytes().to_vec()
    }

    impl Crypto for LocalCrypto {
        fn sha256_hex(&self, data: &[u8]) -> Result<String, ProviderError> {
            Ok(hex::encode(Sha256::digest(data)))
        }
        fn tc3_signature(
            &self,
            date: &str,
            service: &str,
            sts: &str,
        ) -> Result<Vec<u8>, ProviderError> {
            let k = hmac(
                format!("TC3{}", self.secret_key).as_bytes(),
                date.as_bytes(),
            );
            let k = hmac(&k, service.as_bytes());
            let k = hmac(&k, TERMINATOR.as_bytes());
            Ok(hmac(&k, sts.as_bytes()))
        }
        fn secret_id(&self) -> Result<String, ProviderError> {
            Ok(self.secret_id.to_string())
        }
    }

    /// The worked example of Tencent Cloud's "Signature v3" page (CVM DescribeInstances).
    #[test]
    fn matches_the_vendors_published_example() {
        let body = br#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
        let crypto = LocalCrypto {
            secret_id: "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
            secret_key: "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
        };
        let (headers, signed) = canonical_headers(&[
            ("Content-Type", "application/json; charset=utf-8"),
            ("Host", "cvm.tencentcloudapi.com"),
        ]);
        let hashed_payload = crypto.sha256_hex(body).expect("hash");
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
            crypto.sha256_hex(canonical.as_bytes()).expect("hash"),
            "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );

        let auth = authorization(
            &crypto,
            &ToSign {
                service: "cvm",
                host: "cvm.tencentcloudapi.com",
                content_type: "application/json; charset=utf-8",
                body,
                timestamp: 1_551_113_065,
            },
        )
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
        let crypto = LocalCrypto {
            secret_id: "{{placeholder}}",
            secret_key: "k",
        };
        let auth = authorization(
            &crypto,
            &ToSign {
                service: SERVICE,
                host: "127.0.0.1:9101",
                content_type: "application/json",
                body: b"{}",
                timestamp: 1_700_000_000,
            },
        )
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
