//! Host-held credentials: secrets are read once at start-up, kept in zeroizing buffers, and
//! used only inside the host. Plugins refer to them by name through the `credentials`
//! interface (set-up: [`SecretStore::load`]; per provider: one store; per call: a
//! [`CallCredentials`] that also holds the call's placeholders).

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use zeroize::Zeroizing;

use super::record::{SharedCallLog, Substitution};
use super::secret_scan::SecretSet;
use crate::config::SecretSource;
use crate::contract::credentials::{self as wit, CredentialError, HashAlgorithm, Part};
use crate::error::ConfigError;

/// A secret value. Its `Debug` never shows the bytes; they are wiped when dropped.
#[derive(Clone)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Wraps a value.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

/// One provider's secrets, by name.
#[derive(Debug, Default, Clone)]
pub struct SecretStore {
    secrets: BTreeMap<String, Secret>,
}

impl SecretStore {
    /// Reads every configured secret from its source. Errors name the secret and the source,
    /// never the value.
    pub fn load(
        provider: &str,
        sources: &BTreeMap<String, SecretSource>,
    ) -> Result<Self, ConfigError> {
        let mut secrets = BTreeMap::new();
        for (name, source) in sources {
            let value = source.read_key(1).map_err(|source| ConfigError::Secret {
                owner: format!("provider `{provider}`"),
                name: name.clone(),
                source,
            })?;
            secrets.insert(name.clone(), Secret::new(value));
        }
        Ok(Self { secrets })
    }

    /// A store from literal values (tests, embedding).
    pub fn from_values<I, K, V>(values: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<Vec<u8>>,
    {
        Self {
            secrets: values
                .into_iter()
                .map(|(k, v)| (k.into(), Secret::new(v.into())))
                .collect(),
        }
    }

    /// The configured names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.secrets.keys().map(String::as_str)
    }

    fn get(&self, name: &str) -> Option<&Secret> {
        self.secrets.get(name)
    }

    /// Every secret value, for scrubbing text that must not carry one (logs, errors).
    pub(crate) fn values(&self) -> impl Iterator<Item = &[u8]> {
        self.secrets.values().map(Secret::bytes)
    }
}

/// The credentials a single call may use: the provider's store plus the placeholders the
/// plugin asked for during this call. Cloning shares both (every step of a call holds a
/// clone).
#[derive(Clone)]
pub struct CallCredentials {
    store: Arc<SecretStore>,
    log: SharedCallLog,
}

/// Bounds a plugin cannot exceed in one call, so a looping plugin cannot grow host memory.
const MAX_PLACEHOLDERS: usize = 64;
const MAX_CHAIN: usize = 16;
const MAX_INPUT_BYTES: usize = 1 << 20;

impl CallCredentials {
    /// Credentials for one call; placeholders go into the call's `log`, where the egress
    /// hooks find them.
    pub fn new(store: Arc<SecretStore>, log: SharedCallLog) -> Self {
        Self { store, log }
    }

    fn concat(&self, parts: &[Part]) -> Result<(Zeroizing<Vec<u8>>, Vec<String>), CredentialError> {
        let mut out = Zeroizing::new(Vec::new());
        let mut used = Vec::new();
        for part in parts {
            match part {
                Part::Bytes(b) => out.extend_from_slice(b),
                Part::Text(t) => out.extend_from_slice(t.as_bytes()),
                Part::Secret(name) => {
                    let secret = self
                        .store
                        .get(name)
                        .ok_or_else(|| CredentialError::UnknownSecret(name.clone()))?;
                    out.extend_from_slice(secret.bytes());
                    used.push(name.clone());
                }
            }
            if out.len() > MAX_INPUT_BYTES {
                return Err(CredentialError::InvalidInput(format!(
                    "input larger than {MAX_INPUT_BYTES} bytes"
                )));
            }
        }
        Ok((out, used))
    }

    fn add_substitution(
        &mut self,
        value: Zeroizing<Vec<u8>>,
        label: String,
    ) -> Result<String, CredentialError> {
        let mut log = self.log.lock();
        if let Some(existing) = log
            .substitutions
            .iter()
            .find(|s| s.value.as_slice() == value.as_slice())
        {
            return Ok(existing.token.clone());
        }
        if log.substitutions.len() >= MAX_PLACEHOLDERS {
            return Err(CredentialError::InvalidInput(format!(
                "more than {MAX_PLACEHOLDERS} placeholders in one call"
            )));
        }
        // Tokens are unguessable by a vendor and unique per call; they hold only [a-z0-9-].
        let mut random = [0u8; 12];
        rand::fill(&mut random);
        let token = format!(
            "{TOKEN_PREFIX}{}-{}",
            log.substitutions.len(),
            hex::encode(random)
        );
        log.substitutions.push(Substitution {
            token: token.clone(),
            value,
            label,
        });
        Ok(token)
    }

    /// `credentials.hmac`.
    pub fn hmac(
        &self,
        alg: HashAlgorithm,
        key: &[Part],
        data: &[Part],
    ) -> Result<Vec<u8>, CredentialError> {
        let (key, _) = self.concat(key)?;
        let (data, _) = self.concat(data)?;
        Ok(hmac_bytes(alg, &key, &data))
    }

    /// `credentials.hmac-chain`.
    pub fn hmac_chain(
        &self,
        alg: HashAlgorithm,
        key: &[Part],
        messages: &[Vec<Part>],
    ) -> Result<Vec<u8>, CredentialError> {
        if messages.is_empty() || messages.len() > MAX_CHAIN {
            return Err(CredentialError::InvalidInput(format!(
                "an HMAC chain needs 1 to {MAX_CHAIN} messages"
            )));
        }
        let (first_key, _) = self.concat(key)?;
        let mut current: Zeroizing<Vec<u8>> = first_key;
        for message in messages {
            let (data, _) = self.concat(message)?;
            current = Zeroizing::new(hmac_bytes(alg, &current, &data));
        }
        Ok(current.to_vec())
    }

    /// `credentials.digest`.
    pub fn digest(&self, alg: HashAlgorithm, data: &[Part]) -> Result<Vec<u8>, CredentialError> {
        let (data, _) = self.concat(data)?;
        Ok(digest_bytes(alg, &data))
    }

    /// `credentials.placeholder`.
    pub fn placeholder(&mut self, value: &[Part]) -> Result<String, CredentialError> {
        let (bytes, used) = self.concat(value)?;
        let label = label_for(&used);
        self.add_substitution(bytes, label)
    }

    /// `credentials.basic-auth-placeholder`.
    pub fn basic_auth_placeholder(
        &mut self,
        user: &[Part],
        password: &[Part],
    ) -> Result<String, CredentialError> {
        let (user, mut used) = self.concat(user)?;
        let (password, used_pw) = self.concat(password)?;
        used.extend(used_pw);
        let mut joined = Zeroizing::new(Vec::with_capacity(user.len() + password.len() + 1));
        joined.extend_from_slice(&user);
        joined.push(b':');
        joined.extend_from_slice(&password);
        let encoded = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .encode(joined.as_slice())
                .into_bytes(),
        );
        let label = format!("basic:{}", label_for(&used));
        self.add_substitution(encoded, label)
    }
}

impl wit::Host for CallCredentials {
    fn hmac(
        &mut self,
        algorithm: HashAlgorithm,
        key: Vec<Part>,
        data: Vec<Part>,
    ) -> Result<Vec<u8>, CredentialError> {
        CallCredentials::hmac(self, algorithm, &key, &data)
    }

    fn hmac_chain(
        &mut self,
        algorithm: HashAlgorithm,
        key: Vec<Part>,
        messages: Vec<Vec<Part>>,
    ) -> Result<Vec<u8>, CredentialError> {
        CallCredentials::hmac_chain(self, algorithm, &key, &messages)
    }

    fn digest(
        &mut self,
        algorithm: HashAlgorithm,
        data: Vec<Part>,
    ) -> Result<Vec<u8>, CredentialError> {
        CallCredentials::digest(self, algorithm, &data)
    }

    fn placeholder(&mut self, value: Vec<Part>) -> Result<String, CredentialError> {
        CallCredentials::placeholder(self, &value)
    }

    fn basic_auth_placeholder(
        &mut self,
        user: Vec<Part>,
        password: Vec<Part>,
    ) -> Result<String, CredentialError> {
        CallCredentials::basic_auth_placeholder(self, &user, &password)
    }
}

fn label_for(used: &[String]) -> String {
    if used.is_empty() {
        "literal".to_string()
    } else {
        used.join("+")
    }
}

fn hmac_bytes(alg: HashAlgorithm, key: &[u8], data: &[u8]) -> Vec<u8> {
    // `new_from_slice` accepts keys of any length for HMAC; the error arm cannot occur.
    macro_rules! run {
        ($hash:ty) => {
            match Hmac::<$hash>::new_from_slice(key) {
                Ok(mut mac) => {
                    mac.update(data);
                    mac.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            }
        };
    }
    match alg {
        HashAlgorithm::Md5 => run!(md5::Md5),
        HashAlgorithm::Sha1 => run!(sha1::Sha1),
        HashAlgorithm::Sha256 => run!(sha2::Sha256),
    }
}

fn digest_bytes(alg: HashAlgorithm, data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    match alg {
        HashAlgorithm::Md5 => md5::Md5::digest(data).to_vec(),
        HashAlgorithm::Sha1 => sha1::Sha1::digest(data).to_vec(),
        HashAlgorithm::Sha256 => sha2::Sha256::digest(data).to_vec(),
    }
}

/// How every placeholder token starts (the egress path looks for it before any token).
pub(crate) const TOKEN_PREFIX: &str = "ingest-secret-";

/// Shortest secret value the host looks for in text (scrubbing, result checks, vendor
/// responses). Shorter values would match innocent text; secrets in scope are long random
/// strings. A secret shorter than this is not protected against echoing.
pub(crate) const MIN_SCRUB_BYTES: usize = 6;

/// Replaces every secret value of `secrets` found in `text`, verbatim or percent-encoded, with
/// `[redacted]`: a last line of defence for text that came from a plugin or a vendor (log
/// lines, error messages). `secrets` is the gateway's set: every provider's values.
pub(crate) fn scrub(secrets: &SecretSet, text: &str) -> String {
    secrets.redact(text)
}

/// Whether `text` holds the value of one of `secrets` (of at least [`MIN_SCRUB_BYTES`]),
/// verbatim or percent-encoded. Used to refuse plugin results that would carry a secret out.
pub(crate) fn contains_secret(secrets: &SecretSet, text: &str) -> bool {
    secrets.found_in(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> CallCredentials {
        CallCredentials::new(
            Arc::new(SecretStore::from_values([
                ("key", "secret-value"),
                ("id", "AKID1"),
            ])),
            SharedCallLog::default(),
        )
    }

    #[test]
    fn hmac_with_secret_part_equals_hmac_with_the_value() {
        let c = creds();
        let via_ref = c
            .hmac(
                HashAlgorithm::Sha256,
                &[Part::Secret("key".into())],
                &[Part::Text("m".into())],
            )
            .expect("hmac");
        let direct = hmac_bytes(HashAlgorithm::Sha256, b"secret-value", b"m");
        assert_eq!(via_ref, direct);
    }

    #[test]
    fn chain_returns_only_the_last_link() {
        let c = creds();
        let got = c
            .hmac_chain(
                HashAlgorithm::Sha256,
                &[Part::Text("TC3".into()), Part::Secret("key".into())],
                &[vec![Part::Text("a".into())], vec![Part::Text("b".into())]],
            )
            .expect("chain");
        let k1 = hmac_bytes(HashAlgorithm::Sha256, b"TC3secret-value", b"a");
        assert_eq!(got, hmac_bytes(HashAlgorithm::Sha256, &k1, b"b"));
    }

    #[test]
    fn unknown_secret_is_refused_by_name() {
        let c = creds();
        let err = c
            .digest(HashAlgorithm::Sha1, &[Part::Secret("other".into())])
            .expect_err("not granted");
        assert!(matches!(err, CredentialError::UnknownSecret(n) if n == "other"));
    }

    #[test]
    fn placeholders_hide_the_value_and_are_reused() {
        let mut c = creds();
        let t1 = c.placeholder(&[Part::Secret("id".into())]).expect("token");
        let t2 = c.placeholder(&[Part::Secret("id".into())]).expect("token");
        assert_eq!(t1, t2);
        assert!(!t1.contains("AKID1"));
        let b = c
            .basic_auth_placeholder(&[Part::Secret("id".into())], &[Part::Secret("key".into())])
            .expect("basic");
        let log = c.log.lock();
        let sub = log
            .substitutions
            .iter()
            .find(|s| s.token == b)
            .expect("registered");
        assert_eq!(
            sub.value.as_slice(),
            base64::engine::general_purpose::STANDARD
                .encode("AKID1:secret-value")
                .as_bytes()
        );
        assert_eq!(sub.label, "basic:id+key");
    }

    #[test]
    fn scrub_removes_values_verbatim_or_percent_encoded() {
        let secrets = SecretSet::of_stores([&SecretStore::from_values([("key", "secret/value")])]);
        assert_eq!(
            scrub(&secrets, "x secret/value y secret%2fvalue z"),
            "x [redacted] y [redacted] z"
        );
    }

    #[test]
    fn contains_secret_finds_values_of_the_minimum_length() {
        let store = SecretStore::from_values([("key", "secret-value"), ("short", "abc")]);
        let secrets = SecretSet::of_stores([&store]);
        assert!(contains_secret(&secrets, "x secret-value y"));
        assert!(contains_secret(&secrets, "x secret%2Dvalue y"));
        assert!(!contains_secret(&secrets, "x secret-valu y"));
        // Values shorter than MIN_SCRUB_BYTES are not looked for (they would match anything).
        assert!(!contains_secret(&secrets, "abc"));
    }
}
