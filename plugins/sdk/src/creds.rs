//! Signing with secrets the plugin never sees.
//!
//! Every function here runs in the host: the plugin passes [`Part`]s, some of which are
//! references to secrets by name ([`secret`]), and gets back only the result. On the build
//! machine the same functions run in the SDK over a [`TestHost`](crate::testing::TestHost)'s
//! secrets, so a plugin's signing is unit-tested as it runs in the gateway.
//!
//! ```
//! use ingest_plugin_sdk::creds::{self, HashAlgorithm};
//! use ingest_plugin_sdk::testing::TestHost;
//!
//! fn sign() -> Result<(), ingest_plugin_sdk::ProviderError> {
//!     // hex(HMAC-SHA256(api_secret, "POST\n/v1/relays\n1700000000")), the secret never seen:
//!     let mac = creds::hmac(
//!         HashAlgorithm::Sha256,
//!         &[creds::secret("api_secret")],
//!         &[creds::text("POST\n/v1/relays\n1700000000")],
//!     )?;
//!     // A value that must travel (a key id, a Basic credential) goes as a placeholder the
//!     // host replaces when the request leaves, towards allowed hosts only:
//!     let key_id = creds::placeholder(&[creds::secret("api_key_id")])?;
//!     let basic = creds::basic_auth_placeholder(
//!         &[creds::secret("customer_id")],
//!         &[creds::secret("customer_secret")],
//!     )?;
//!     let _headers = [("x-api-key", key_id), ("authorization", format!("Basic {basic}"))];
//!     assert_eq!(mac.len(), 32);
//!     Ok(())
//! }
//!
//! // In the gateway the host holds the secrets; in a unit test, a `TestHost` does.
//! TestHost::new()
//!     .secret("api_secret", "s")
//!     .secret("api_key_id", "id")
//!     .secret("customer_id", "u")
//!     .secret("customer_secret", "p")
//!     .run(sign)
//!     .expect("signed");
//! ```

#[cfg(target_arch = "wasm32")]
use crate::bindings::ingest::provider::credentials as host;
pub use crate::bindings::ingest::provider::credentials::{CredentialError, HashAlgorithm, Part};
#[cfg(not(target_arch = "wasm32"))]
use crate::testing::native::credentials as host;
use crate::{ErrorKind, ProviderError};

/// A part holding the value of the named secret.
pub fn secret(name: &str) -> Part {
    Part::Secret(name.to_string())
}

/// A part holding literal text.
pub fn text(s: impl Into<String>) -> Part {
    Part::Text(s.into())
}

/// A part holding literal bytes.
pub fn bytes(b: impl Into<Vec<u8>>) -> Part {
    Part::Bytes(b.into())
}

/// `HMAC(alg, key, data)`, raw bytes.
pub fn hmac(alg: HashAlgorithm, key: &[Part], data: &[Part]) -> Result<Vec<u8>, ProviderError> {
    host::hmac(alg, key, data).map_err(to_provider_error)
}

/// [`hmac`] with a key that may name an optional secret: `Ok(None)` when a secret in `key` is
/// not granted to this provider (the operator did not configure it), so the plugin can say
/// what the missing secret is for, or take another way.
pub fn hmac_optional(
    alg: HashAlgorithm,
    key: &[Part],
    data: &[Part],
) -> Result<Option<Vec<u8>>, ProviderError> {
    match host::hmac(alg, key, data) {
        Ok(mac) => Ok(Some(mac)),
        Err(CredentialError::UnknownSecret(_)) => Ok(None),
        Err(e) => Err(to_provider_error(e)),
    }
}

/// A chain of HMACs (each result keys the next); only the last result is returned.
pub fn hmac_chain(
    alg: HashAlgorithm,
    key: &[Part],
    messages: &[Vec<Part>],
) -> Result<Vec<u8>, ProviderError> {
    host::hmac_chain(alg, key, messages).map_err(to_provider_error)
}

/// Digest of the concatenated parts, raw bytes.
pub fn digest(alg: HashAlgorithm, data: &[Part]) -> Result<Vec<u8>, ProviderError> {
    host::digest(alg, data).map_err(to_provider_error)
}

/// [`digest`] over parts that may name an optional secret: `Ok(None)` when a secret in
/// `data` is not granted to this provider, as [`hmac_optional`].
pub fn digest_optional(
    alg: HashAlgorithm,
    data: &[Part],
) -> Result<Option<Vec<u8>>, ProviderError> {
    match host::digest(alg, data) {
        Ok(d) => Ok(Some(d)),
        Err(CredentialError::UnknownSecret(_)) => Ok(None),
        Err(e) => Err(to_provider_error(e)),
    }
}

/// Digest of the concatenated parts, lowercase hex.
pub fn digest_hex(alg: HashAlgorithm, data: &[Part]) -> Result<String, ProviderError> {
    digest(alg, data).map(hex::encode)
}

/// A placeholder the host replaces with the parts' value when the request leaves.
pub fn placeholder(value: &[Part]) -> Result<String, ProviderError> {
    host::placeholder(value).map_err(to_provider_error)
}

/// A placeholder for `base64(user:password)`, replaced when the request leaves.
pub fn basic_auth_placeholder(user: &[Part], password: &[Part]) -> Result<String, ProviderError> {
    host::basic_auth_placeholder(user, password).map_err(to_provider_error)
}

/// Lowercase hex SHA-256 of literal bytes (computed by the host; no secret involved).
pub fn sha256_hex(data: &[u8]) -> Result<String, ProviderError> {
    digest_hex(HashAlgorithm::Sha256, &[bytes(data)])
}

fn to_provider_error(e: CredentialError) -> ProviderError {
    match e {
        CredentialError::UnknownSecret(name) => crate::error::new(
            ErrorKind::InvalidArgument,
            format!(
                "secret `{name}` is not configured for this provider; add it under [providers.secrets]"
            ),
        ),
        CredentialError::InvalidInput(msg) => crate::error::new(
            ErrorKind::PluginFault,
            format!("the plugin made an invalid credentials call: {msg}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestHost;

    #[test]
    fn an_optional_secret_not_granted_is_none_not_an_error() {
        let mac = |host: TestHost| {
            host.run(|| hmac_optional(HashAlgorithm::Sha256, &[secret("cb")], &[text("x")]))
        };
        assert_eq!(mac(TestHost::new()).expect("no error"), None);
        let optional = |host: TestHost| {
            host.run(|| digest_optional(HashAlgorithm::Sha1, &[text("a"), secret("cb")]))
        };
        assert_eq!(optional(TestHost::new()).expect("no error"), None);
        assert_eq!(
            optional(TestHost::new().secret("cb", "bc")).expect("no error"),
            TestHost::new().run(|| digest(HashAlgorithm::Sha1, &[text("abc")]).ok())
        );
        let granted = mac(TestHost::new().secret("cb", "k"))
            .expect("no error")
            .expect("granted");
        let plain = TestHost::new()
            .run(|| hmac(HashAlgorithm::Sha256, &[text("k")], &[text("x")]))
            .expect("hmac");
        assert_eq!(granted, plain);
        // A required secret that is missing stays an error naming it.
        let e = TestHost::new()
            .run(|| hmac(HashAlgorithm::Sha256, &[secret("cb")], &[text("x")]))
            .expect_err("not granted");
        assert!(
            e.message.contains("secret `cb` is not configured"),
            "{}",
            e.message
        );
    }
}
