//! RongCloud's request signature: `Signature = hex(SHA1(AppSecret ‖ Nonce ‖ Timestamp))`, and
//! the header values that go with it.
//!
//! The SHA-1 over the secret is computed by the host (`ingest_plugin_sdk::creds::digest_hex`)
//! over a reference to `app_secret`, so the plugin never holds the secret.

use ingest_plugin_sdk::ProviderError;
use ingest_plugin_sdk::creds::{self, HashAlgorithm, Part};
pub use ingest_plugin_sdk::sign::same_hex_signature as same_signature;

/// The secret holding the App Secret.
pub const APP_SECRET: &str = "app_secret";
/// Longest `Nonce` RongCloud accepts, characters.
pub const MAX_NONCE_LEN: usize = 18;
/// Longest `X-Request-ID` RongCloud accepts, characters.
pub const MAX_REQUEST_ID_LEN: usize = 36;

/// The parts whose SHA-1 is the signature: the App Secret (by reference), the nonce and the
/// timestamp, exactly as sent, with no separator.
pub fn signature_parts(nonce: &str, timestamp: &str) -> Vec<Part> {
    vec![
        creds::secret(APP_SECRET),
        creds::text(nonce),
        creds::text(timestamp),
    ]
}

/// The `Signature` for `nonce` and `timestamp` (both exactly as sent):
/// `lowercase_hex(SHA1(app_secret ‖ nonce ‖ timestamp))`, computed by the host.
pub fn signature(nonce: &str, timestamp: &str) -> Result<String, ProviderError> {
    creds::digest_hex(HashAlgorithm::Sha1, &signature_parts(nonce, timestamp))
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
mod tests {
    use super::*;
    use ingest_plugin_sdk::testing::TestHost;

    #[test]
    fn signature_is_sha1_of_secret_nonce_timestamp() {
        // sha1("secret" + "14314" + "1408710653491"), computed independently:
        // printf '%s' secret143141408710653491 | sha1sum
        let _host = TestHost::new().secret(APP_SECRET, "secret").install();
        let sig = signature("14314", "1408710653491").expect("sig");
        assert_eq!(sig, "12da249941f9f75c2ccb17d0c250f3101e5109df");
        // Without `app_secret` granted there is no signature.
        assert!(
            TestHost::new()
                .run(|| signature("14314", "1408710653491"))
                .is_err()
        );
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
