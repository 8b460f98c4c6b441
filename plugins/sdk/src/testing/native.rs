//! The host's interfaces answered on the build machine, from the [`TestHost`] installed on
//! the current thread (or a default one): the same functions, with the same signatures, as
//! the imports the gateway links inside a component. `ingest_plugin_sdk::{config, context,
//! log}` and [`creds`](crate::creds) resolve here when the target is not `wasm32`, so a
//! plugin's code runs unchanged in its unit tests and no plugin keeps a crypto backend of its
//! own.

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::bindings::ingest::provider::credentials::{CredentialError, Part};
use crate::bindings::ingest::provider::log::Level;

/// A stand-in for the gateway's side of a plugin's imports on the build machine: the
/// secrets, config, endpoint, clock and request id a unit test gives the plugin.
///
/// ```
/// use ingest_plugin_sdk::creds::{self, HashAlgorithm};
/// use ingest_plugin_sdk::testing::TestHost;
/// use ingest_plugin_sdk::{config, context};
///
/// TestHost::new()
///     .secret("api_secret", "key")
///     .config("app_id", "42")
///     .now_ms(1_700_000_000_000)
///     .run(|| {
///         assert_eq!(config::get("app_id").as_deref(), Some("42"));
///         assert_eq!(context::now_ms(), 1_700_000_000_000);
///         // RFC 4231 test case 2's key and data, HMAC-SHA256:
///         let mac = creds::hmac(
///             HashAlgorithm::Sha256,
///             &[creds::text("Jefe")],
///             &[creds::text("what do ya want for nothing?")],
///         )
///         .expect("hmac");
///         assert_eq!(
///             hex::encode(mac),
///             "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
///         );
///         // A placeholder is the value the host would send (outside the gateway there is
///         // no egress to keep it from).
///         assert_eq!(creds::placeholder(&[creds::secret("api_secret")]).expect("known"), "key");
///         assert!(creds::hmac(HashAlgorithm::Sha256, &[creds::secret("other")], &[]).is_err());
///     });
/// ```
#[derive(Debug, Clone)]
pub struct TestHost {
    secrets: BTreeMap<String, Vec<u8>>,
    config: BTreeMap<String, String>,
    endpoint: Option<String>,
    now_ms: u64,
    request_id: String,
}

impl Default for TestHost {
    fn default() -> Self {
        Self::new()
    }
}

impl TestHost {
    /// No secrets, no config, the clock at 2023-11-14T22:13:20Z (1 700 000 000 000 ms) and the
    /// request id `test-request`.
    pub fn new() -> Self {
        Self {
            secrets: BTreeMap::new(),
            config: BTreeMap::new(),
            endpoint: None,
            now_ms: 1_700_000_000_000,
            request_id: "test-request".to_string(),
        }
    }

    /// Grants the secret `name` with `value`.
    pub fn secret(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.secrets
            .insert(name.to_string(), value.as_ref().to_vec());
        self
    }

    /// Sets the provider config key `key` (what `config::get(key)` answers).
    pub fn config(mut self, key: &str, value: &str) -> Self {
        self.config.insert(key.to_string(), value.to_string());
        self
    }

    /// Sets the operator's `endpoint` (what `config::endpoint()` answers).
    pub fn endpoint(mut self, url: &str) -> Self {
        self.endpoint = Some(url.to_string());
        self
    }

    /// Sets the call's time (`context::now_ms()`).
    pub fn now_ms(mut self, now_ms: u64) -> Self {
        self.now_ms = now_ms;
        self
    }

    /// Sets the call's request id (`context::request_id()`).
    pub fn request_id(mut self, id: &str) -> Self {
        self.request_id = id.to_string();
        self
    }

    /// Installs this host on the current thread until the guard drops (the previous one
    /// returns then). The nonce sequence and the log start empty.
    pub fn install(self) -> Installed {
        let previous = ACTIVE.with(|cell| {
            cell.borrow_mut().replace(Active {
                host: self,
                nonces: 0,
                logged: Vec::new(),
            })
        });
        Installed { previous }
    }

    /// Runs `f` with this host installed.
    pub fn run<R>(self, f: impl FnOnce() -> R) -> R {
        let _installed = self.install();
        f()
    }
}

/// Keeps a [`TestHost`] installed; dropping it restores the one before.
#[derive(Debug)]
pub struct Installed {
    previous: Option<Active>,
}

impl Drop for Installed {
    fn drop(&mut self) {
        let previous = self.previous.take();
        ACTIVE.with(|cell| *cell.borrow_mut() = previous);
    }
}

#[derive(Debug)]
struct Active {
    host: TestHost,
    nonces: u64,
    logged: Vec<(Level, String)>,
}

thread_local! {
    static ACTIVE: RefCell<Option<Active>> = const { RefCell::new(None) };
}

/// Runs `f` on the installed host, installing a default one first when there is none.
fn with_active<R>(f: impl FnOnce(&mut Active) -> R) -> R {
    ACTIVE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let active = slot.get_or_insert_with(|| Active {
            host: TestHost::new(),
            nonces: 0,
            logged: Vec::new(),
        });
        f(active)
    })
}

/// The lines the plugin logged on this thread since its [`TestHost`] was installed.
pub fn logged() -> Vec<(Level, String)> {
    with_active(|a| a.logged.clone())
}

/// `config` on the build machine.
pub mod config {
    /// The provider config value for `key`, from the installed [`TestHost`](super::TestHost).
    pub fn get(key: &str) -> Option<String> {
        super::with_active(|a| a.host.config.get(key).cloned())
    }

    /// Every provider config entry, in key order.
    pub fn entries() -> Vec<(String, String)> {
        super::with_active(|a| {
            a.host
                .config
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
    }

    /// The operator's `endpoint`, if the test set one.
    pub fn endpoint() -> Option<String> {
        super::with_active(|a| a.host.endpoint.clone())
    }
}

/// `context` on the build machine.
pub mod context {
    /// The call's time, from the installed [`TestHost`](super::TestHost).
    pub fn now_ms() -> u64 {
        super::with_active(|a| a.host.now_ms)
    }

    /// The next nonce of the call: 32 hex digits counting from 1, so a test can predict it.
    pub fn next_nonce() -> String {
        super::with_active(|a| {
            a.nonces += 1;
            format!("{:032x}", a.nonces)
        })
    }

    /// The call's request id.
    pub fn request_id() -> String {
        super::with_active(|a| a.host.request_id.clone())
    }
}

/// `log` on the build machine: lines are kept for [`logged`](super::logged).
pub mod log {
    pub use crate::bindings::ingest::provider::log::Level;

    /// Keeps the line.
    pub fn log(level: Level, message: &str) {
        super::with_active(|a| a.logged.push((level, message.to_string())));
    }
}

/// `credentials` on the build machine: the same computations as the host's, over the
/// installed [`TestHost`]'s secrets.
pub mod credentials {
    use base64::Engine as _;
    use hmac::{Mac, SimpleHmac};
    use sha2::Digest as _;

    pub use crate::bindings::ingest::provider::credentials::{
        CredentialError, HashAlgorithm, Part,
    };

    /// `HMAC(alg, concat(key), concat(data))`.
    pub fn hmac(
        alg: HashAlgorithm,
        key: &[Part],
        data: &[Part],
    ) -> Result<Vec<u8>, CredentialError> {
        Ok(mac(alg, &super::resolve(key)?, &super::resolve(data)?))
    }

    /// Each result keys the next; the last is returned.
    pub fn hmac_chain(
        alg: HashAlgorithm,
        key: &[Part],
        messages: &[Vec<Part>],
    ) -> Result<Vec<u8>, CredentialError> {
        if messages.is_empty() {
            return Err(CredentialError::InvalidInput(
                "an HMAC chain needs at least one message".to_string(),
            ));
        }
        let mut k = super::resolve(key)?;
        for message in messages {
            k = mac(alg, &k, &super::resolve(message)?);
        }
        Ok(k)
    }

    /// Digest of the concatenated parts.
    pub fn digest(alg: HashAlgorithm, data: &[Part]) -> Result<Vec<u8>, CredentialError> {
        let data = super::resolve(data)?;
        Ok(match alg {
            HashAlgorithm::Md5 => md5::Md5::digest(&data).to_vec(),
            HashAlgorithm::Sha1 => sha1::Sha1::digest(&data).to_vec(),
            HashAlgorithm::Sha256 => sha2::Sha256::digest(&data).to_vec(),
        })
    }

    /// The value itself: what the host would write into the request as it leaves.
    pub fn placeholder(value: &[Part]) -> Result<String, CredentialError> {
        super::utf8(super::resolve(value)?)
    }

    /// `base64(user ":" password)` itself.
    pub fn basic_auth_placeholder(
        user: &[Part],
        password: &[Part],
    ) -> Result<String, CredentialError> {
        let mut plain = super::resolve(user)?;
        plain.push(b':');
        plain.extend(super::resolve(password)?);
        Ok(base64::engine::general_purpose::STANDARD.encode(plain))
    }

    fn mac(alg: HashAlgorithm, key: &[u8], data: &[u8]) -> Vec<u8> {
        fn run<D: hmac::digest::Digest + hmac::digest::core_api::BlockSizeUser>(
            key: &[u8],
            data: &[u8],
        ) -> Vec<u8> {
            let mut m =
                SimpleHmac::<D>::new_from_slice(key).expect("HMAC takes a key of any length");
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
        match alg {
            HashAlgorithm::Md5 => run::<md5::Md5>(key, data),
            HashAlgorithm::Sha1 => run::<sha1::Sha1>(key, data),
            HashAlgorithm::Sha256 => run::<sha2::Sha256>(key, data),
        }
    }
}

/// The concatenated bytes of `parts`, secrets looked up in the installed host.
fn resolve(parts: &[Part]) -> Result<Vec<u8>, CredentialError> {
    with_active(|a| {
        let mut out = Vec::new();
        for part in parts {
            match part {
                Part::Bytes(b) => out.extend_from_slice(b),
                Part::Text(t) => out.extend_from_slice(t.as_bytes()),
                Part::Secret(name) => match a.host.secrets.get(name) {
                    Some(value) => out.extend_from_slice(value),
                    None => return Err(CredentialError::UnknownSecret(name.clone())),
                },
            }
        }
        Ok(out)
    })
}

fn utf8(bytes: Vec<u8>) -> Result<String, CredentialError> {
    String::from_utf8(bytes).map_err(|_| {
        CredentialError::InvalidInput("a placeholder's value must be UTF-8".to_string())
    })
}
