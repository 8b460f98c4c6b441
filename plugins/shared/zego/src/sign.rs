//! ZEGO server-API signing (`SignatureVersion=2.0`), as the vendor documents it:
//! `Signature = lowercase_hex(MD5(AppId ‖ SignatureNonce ‖ ServerSecret ‖ Timestamp))`, plain
//! concatenation, AppId and Timestamp in decimal, a new nonce for every request.
//!
//! The MD5 runs in the host over a reference to the secret ([`signature_input`]), so the
//! plugin never holds `server_secret`.
//!
//! Every ZEGO server API signs alike.

use ingest_plugin_sdk::ProviderError;
use ingest_plugin_sdk::creds::{self, HashAlgorithm, Part};
pub use ingest_plugin_sdk::sign::percent_encode;

/// The secret holding the ServerSecret.
pub const SECRET_SERVER: &str = "server_secret";
/// `SignatureVersion`.
pub const SIGNATURE_VERSION: &str = "2.0";
/// Length of `SignatureNonce`: 16 hex characters (8 bytes), as ZEGO's own sample.
pub const NONCE_LEN: usize = 16;

/// What the MD5 runs over: `AppId ‖ SignatureNonce ‖ ServerSecret ‖ Timestamp`, decimal, the
/// ServerSecret by reference (the host puts its value in).
pub fn signature_input(app_id: u32, nonce: &str, timestamp: u64) -> [Part; 4] {
    [
        creds::text(app_id.to_string()),
        creds::text(nonce),
        creds::secret(SECRET_SERVER),
        creds::text(timestamp.to_string()),
    ]
}

/// `Signature`: `lowercase_hex(MD5(AppId ‖ SignatureNonce ‖ ServerSecret ‖ Timestamp))`,
/// computed by the host.
pub fn signature(app_id: u32, nonce: &str, timestamp: u64) -> Result<String, ProviderError> {
    creds::digest_hex(
        HashAlgorithm::Md5,
        &signature_input(app_id, nonce, timestamp),
    )
}

/// `SignatureNonce`: the first 16 hex characters of SHA-256 of the call's nonce
/// (`context::next_nonce()`), so it has ZEGO's documented shape and stays reproducible.
pub fn nonce(call_nonce: &str) -> Result<String, ProviderError> {
    let hex = creds::sha256_hex(call_nonce.as_bytes())?;
    Ok(hex.chars().take(NONCE_LEN).collect())
}

/// The common query parameters, in the order sent: `AppId`, `SignatureNonce`, `Timestamp`,
/// `SignatureVersion`, `Signature`, then `IsTest` when configured.
pub fn common_params(
    app_id: u32,
    nonce: &str,
    timestamp: u64,
    is_test: Option<bool>,
) -> Result<Vec<(&'static str, String)>, ProviderError> {
    let signature = signature(app_id, nonce, timestamp)?;
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
mod tests {
    use super::*;
    use ingest_plugin_sdk::testing::TestHost;

    /// A known answer (computed independently with Python's `hashlib.md5`) for AppId
    /// 1234567890, nonce `15215528852396`, timestamp 1615186943 and ServerSecret
    /// `1234567890abcdef1234567890abcdef`.
    #[test]
    fn known_answer() {
        let _host = TestHost::new()
            .secret(SECRET_SERVER, "1234567890abcdef1234567890abcdef")
            .install();
        let sig = signature(1_234_567_890, "15215528852396", 1_615_186_943).expect("sign");
        assert_eq!(sig, "b4aabc611ea166cb1dfbf3c458bf1ed4");
        let params =
            common_params(1_234_567_890, "15215528852396", 1_615_186_943, None).expect("params");
        assert_eq!(
            query(&params),
            "AppId=1234567890&SignatureNonce=15215528852396&Timestamp=1615186943\
             &SignatureVersion=2.0&Signature=b4aabc611ea166cb1dfbf3c458bf1ed4"
        );
    }

    #[test]
    fn the_secret_is_a_reference() {
        let pieces = signature_input(7, "abcd", 1);
        assert!(matches!(&pieces[2], Part::Secret(name) if name == SECRET_SERVER));
        // Without the secret the host refuses to sign, naming it.
        let e = TestHost::new()
            .run(|| signature(7, "abcd", 1))
            .expect_err("no secret");
        assert!(e.message.contains("`server_secret`"), "{}", e.message);
    }

    #[test]
    fn is_test_and_nonce() {
        let _host = TestHost::new().secret(SECRET_SERVER, "s").install();
        let params = common_params(7, "abcd", 1, Some(false)).expect("params");
        assert_eq!(params.last(), Some(&("IsTest", "false".to_string())));
        let n = nonce("n0nce").expect("nonce");
        assert_eq!(n.len(), 16);
        assert!(n.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(n, nonce("n0nce").expect("again"));
        assert_ne!(n, nonce("n0nce-1").expect("other"));
        // SHA-256("00000000000000000000000000000001"), computed independently with Python's
        // `hashlib.sha256`, cut to 16 hex characters.
        assert_eq!(
            nonce(&format!("{:032x}", 1)).expect("nonce"),
            "e0cca2965509df67"
        );
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
