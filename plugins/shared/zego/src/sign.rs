//! ZEGO server-API signing (`SignatureVersion=2.0`), as the vendor documents it:
//! `Signature = lowercase_hex(MD5(AppId ‖ SignatureNonce ‖ ServerSecret ‖ Timestamp))`, plain
//! concatenation, AppId and Timestamp in decimal, a new nonce for every request.
//!
//! The MD5 runs in the host ([`HostCrypto`]), so the plugin never holds `server_secret`.
//!
//! Every ZEGO server API signs alike.

use ingest_plugin_sdk::ProviderError;
use ingest_plugin_sdk::creds::{self, HashAlgorithm};
pub use ingest_plugin_sdk::sign::percent_encode;

/// The secret holding the ServerSecret.
pub const SECRET_SERVER: &str = "server_secret";
/// `SignatureVersion`.
pub const SIGNATURE_VERSION: &str = "2.0";
/// Length of `SignatureNonce`: 16 hex characters (8 bytes), as ZEGO's own sample.
pub const NONCE_LEN: usize = 16;

/// A piece of the signed text: literal, or the ServerSecret by reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Literal text.
    Text(String),
    /// The value of the `server_secret` secret.
    ServerSecret,
}

/// What the MD5 runs over: `AppId ‖ SignatureNonce ‖ ServerSecret ‖ Timestamp`, decimal.
pub fn signature_input(app_id: u32, nonce: &str, timestamp: u64) -> [Piece; 4] {
    [
        Piece::Text(app_id.to_string()),
        Piece::Text(nonce.to_string()),
        Piece::ServerSecret,
        Piece::Text(timestamp.to_string()),
    ]
}

/// The steps that need a hash or the secret.
pub trait Crypto {
    /// `lowercase_hex(MD5(concat(pieces)))`.
    fn md5_hex(&self, pieces: &[Piece]) -> Result<String, ProviderError>;

    /// Lowercase hex SHA-256 of `data` (no secret involved).
    fn sha256_hex(&self, data: &str) -> Result<String, ProviderError>;
}

/// [`Crypto`] computed by the host.
#[derive(Debug, Clone, Copy)]
pub struct HostCrypto;

impl Crypto for HostCrypto {
    fn md5_hex(&self, pieces: &[Piece]) -> Result<String, ProviderError> {
        let parts: Vec<_> = pieces
            .iter()
            .map(|p| match p {
                Piece::Text(t) => creds::text(t.as_str()),
                Piece::ServerSecret => creds::secret(SECRET_SERVER),
            })
            .collect();
        creds::digest_hex(HashAlgorithm::Md5, &parts)
    }

    fn sha256_hex(&self, data: &str) -> Result<String, ProviderError> {
        creds::sha256_hex(data.as_bytes())
    }
}

/// `SignatureNonce`: the first 16 hex characters of SHA-256 of the call's nonce
/// (`context::next_nonce()`), so it has ZEGO's documented shape and stays reproducible.
pub fn nonce(crypto: &impl Crypto, call_nonce: &str) -> Result<String, ProviderError> {
    let hex = crypto.sha256_hex(call_nonce)?;
    Ok(hex.chars().take(NONCE_LEN).collect())
}

/// The common query parameters, in the order sent: `AppId`, `SignatureNonce`, `Timestamp`,
/// `SignatureVersion`, `Signature`, then `IsTest` when configured.
pub fn common_params(
    crypto: &impl Crypto,
    app_id: u32,
    nonce: &str,
    timestamp: u64,
    is_test: Option<bool>,
) -> Result<Vec<(&'static str, String)>, ProviderError> {
    let signature = crypto.md5_hex(&signature_input(app_id, nonce, timestamp))?;
    let mut out = vec![
        ("AppId", app_id.to_string()),
        ("SignatureNonce", nonce.to_string()),
        ("Timestamp", timestamp.to_string()),
        ("SignatureVersion", SIGNATURE_VERSION.to_string()),
        ("Signature", signature),
    ];
    if let Some(is_test) = is_test {
        out.push(("IsTest", is_test.to_string()));
    }
    Ok(out)
}

/// `name=value` pairs joined by `&`, values percent-encoded.
pub fn query(params: &[(&str, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use md5::{Digest, Md5};

    /// The signature computed locally with a known secret, standing in for the host.
    pub(crate) struct LocalCrypto(pub &'static str);

    impl Crypto for LocalCrypto {
        fn md5_hex(&self, pieces: &[Piece]) -> Result<String, ProviderError> {
            let text: String = pieces
                .iter()
                .map(|p| match p {
                    Piece::Text(t) => t.as_str(),
                    Piece::ServerSecret => self.0,
                })
                .collect();
            Ok(hex::encode(Md5::digest(text.as_bytes())))
        }
        fn sha256_hex(&self, data: &str) -> Result<String, ProviderError> {
            // Any stable hex digest does for the shape tests.
            Ok(hex::encode(Md5::digest(data.as_bytes())).repeat(2))
        }
    }

    /// A known answer (computed independently with Python's `hashlib.md5`) for AppId
    /// 1234567890, nonce `15215528852396`, timestamp 1615186943 and ServerSecret
    /// `1234567890abcdef1234567890abcdef`.
    #[test]
    fn known_answer() {
        let crypto = LocalCrypto("1234567890abcdef1234567890abcdef");
        let sig = crypto
            .md5_hex(&signature_input(
                1_234_567_890,
                "15215528852396",
                1_615_186_943,
            ))
            .expect("sign");
        assert_eq!(sig, "b4aabc611ea166cb1dfbf3c458bf1ed4");
        let params = common_params(
            &crypto,
            1_234_567_890,
            "15215528852396",
            1_615_186_943,
            None,
        )
        .expect("params");
        assert_eq!(
            query(&params),
            "AppId=1234567890&SignatureNonce=15215528852396&Timestamp=1615186943\
             &SignatureVersion=2.0&Signature=b4aabc611ea166cb1dfbf3c458bf1ed4"
        );
    }

    #[test]
    fn is_test_and_nonce() {
        let crypto = LocalCrypto("s");
        let params = common_params(&crypto, 7, "abcd", 1, Some(false)).expect("params");
        assert_eq!(params.last(), Some(&("IsTest", "false".to_string())));
        let n = nonce(&crypto, "n0nce").expect("nonce");
        assert_eq!(n.len(), 16);
        assert!(n.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(n, nonce(&crypto, "n0nce").expect("again"));
        assert_ne!(n, nonce(&crypto, "n0nce-1").expect("other"));
    }

    #[test]
    fn encoding() {
        assert_eq!(percent_encode("a-Z_0.~"), "a-Z_0.~");
        assert_eq!(
            percent_encode("rtmp://a b/c?d=e"),
            "rtmp%3A%2F%2Fa%20b%2Fc%3Fd%3De"
        );
    }
}
