//! RongCloud's request signature: `Signature = hex(SHA1(AppSecret ‖ Nonce ‖ Timestamp))`, and
//! the header values that go with it.
//!
//! The SHA-1 over the secret goes through the [`Crypto`] trait: in the component it is
//! [`HostCrypto`], which asks the host (`ingest_plugin_sdk::creds::digest`) so the plugin never
//! holds `app_secret`; unit tests plug in a local implementation.

use ingest_plugin_sdk::ProviderError;
use ingest_plugin_sdk::creds::{self, HashAlgorithm, Part};
pub use ingest_plugin_sdk::sign::same_hex_signature as same_signature;

/// The secret holding the App Secret.
pub const APP_SECRET: &str = "app_secret";
/// Longest `Nonce` RongCloud accepts, characters.
pub const MAX_NONCE_LEN: usize = 18;
/// Longest `X-Request-ID` RongCloud accepts, characters.
pub const MAX_REQUEST_ID_LEN: usize = 36;

/// Lowercase hex SHA-1 over parts that may name secrets.
pub trait Crypto {
    /// `lowercase_hex(SHA1(concat(parts)))`.
    fn sha1_hex(&self, parts: &[Part]) -> Result<String, ProviderError>;
}

/// [`Crypto`] computed by the host over secret references.
#[derive(Debug, Clone, Copy)]
pub struct HostCrypto;

impl Crypto for HostCrypto {
    fn sha1_hex(&self, parts: &[Part]) -> Result<String, ProviderError> {
        creds::digest_hex(HashAlgorithm::Sha1, parts)
    }
}

/// The parts whose SHA-1 is the signature: the App Secret (by reference), the nonce and the
/// timestamp, exactly as sent, with no separator.
pub fn signature_parts(nonce: &str, timestamp: &str) -> Vec<Part> {
    vec![
        creds::secret(APP_SECRET),
        creds::text(nonce),
        creds::text(timestamp),
    ]
}

/// The `Signature` for `nonce` and `timestamp` (both exactly as sent).
pub fn signature(
    crypto: &impl Crypto,
    nonce: &str,
    timestamp: &str,
) -> Result<String, ProviderError> {
    crypto.sha1_hex(&signature_parts(nonce, timestamp))
}

/// A `Nonce` RongCloud accepts, derived from the host's nonce for this request.
///
/// The host's nonce (letters, digits, `-`) is used verbatim when it fits in
/// [`MAX_NONCE_LEN`] characters. A longer one (or one with other characters, e.g. from
/// `--nonce`) is replaced by the 16 hex digits of its 64-bit FNV-1a hash: truncating would make
/// the derived nonces of one call (`N`, `N-2`, `N-3` …) collide, hashing keeps them distinct
/// and keeps the result a pure function of the host's nonce, so dry runs stay reproducible.
pub fn fit_nonce(raw: &str) -> String {
    let fits = !raw.is_empty()
        && raw.len() <= MAX_NONCE_LEN
        && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if fits {
        return raw.to_string();
    }
    format!("{:016x}", fnv1a64(raw.as_bytes()))
}

/// 64-bit FNV-1a.
fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |h, b| (h ^ u64::from(*b)).wrapping_mul(PRIME))
}

/// An `X-Request-ID` from the gateway's request id: visible ASCII only, at most
/// [`MAX_REQUEST_ID_LEN`] characters; `None` if nothing is left.
pub fn request_id_header(request_id: &str) -> Option<String> {
    let id: String = request_id
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(MAX_REQUEST_ID_LEN)
        .collect();
    (!id.is_empty()).then_some(id)
}

#[cfg(test)]
pub(crate) mod testing {
    //! A local [`Crypto`] for unit tests, knowing one secret value.
    use super::*;
    use sha1::{Digest, Sha1};

    /// Resolves `app_secret` to `secret`; any other secret name is an error.
    pub struct LocalCrypto {
        pub secret: String,
    }

    impl Crypto for LocalCrypto {
        fn sha1_hex(&self, parts: &[Part]) -> Result<String, ProviderError> {
            let mut h = Sha1::new();
            for p in parts {
                match p {
                    Part::Bytes(b) => h.update(b),
                    Part::Text(t) => h.update(t.as_bytes()),
                    Part::Secret(name) if name == APP_SECRET => h.update(self.secret.as_bytes()),
                    Part::Secret(name) => {
                        return Err(ingest_plugin_sdk::error::invalid_argument(format!(
                            "unknown secret {name}"
                        )));
                    }
                }
            }
            Ok(hex::encode(h.finalize()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::LocalCrypto;
    use super::*;

    #[test]
    fn signature_is_sha1_of_secret_nonce_timestamp() {
        // sha1("secret" + "14314" + "1408710653491"), computed independently:
        // printf '%s' secret143141408710653491 | sha1sum
        let crypto = LocalCrypto {
            secret: "secret".into(),
        };
        let sig = signature(&crypto, "14314", "1408710653491").expect("sig");
        assert_eq!(sig, "12da249941f9f75c2ccb17d0c250f3101e5109df");
        let parts = signature_parts("n", "1");
        assert!(matches!(&parts[0], Part::Secret(s) if s == "app_secret"));
        assert!(matches!(&parts[1], Part::Text(s) if s == "n"));
        assert!(matches!(&parts[2], Part::Text(s) if s == "1"));
    }

    #[test]
    fn nonces_fit_in_18_characters() {
        assert_eq!(fit_nonce("0123456789abcdef"), "0123456789abcdef");
        assert_eq!(fit_nonce("0123456789abcdef-2"), "0123456789abcdef-2");
        let long = fit_nonce("0123456789abcdef-10");
        assert_eq!(long.len(), 16);
        assert!(long.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(long, fit_nonce("0123456789abcdef-11"));
        assert_eq!(long, fit_nonce("0123456789abcdef-10"), "deterministic");
        assert_eq!(fit_nonce("has space").len(), 16);
        assert_eq!(fit_nonce("").len(), 16);
        // FNV-1a test vector: fnv1a64("a") = af63dc4c8601ec8c.
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn request_ids_fit_in_36_characters() {
        assert_eq!(
            request_id_header("req-0011223344556677").as_deref(),
            Some("req-0011223344556677")
        );
        let long = "x".repeat(100);
        assert_eq!(request_id_header(&long).map(|s| s.len()), Some(36));
        assert_eq!(request_id_header("a b\u{e9}c").as_deref(), Some("abc"));
        assert_eq!(request_id_header(" "), None);
    }

    #[test]
    fn signature_comparison() {
        assert!(same_signature("abc123", "ABC123"));
        assert!(!same_signature("abc123", "abc124"));
        assert!(!same_signature("abc123", "abc12"));
        assert!(!same_signature("abc", ""));
    }
}
