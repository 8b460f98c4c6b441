//! Host-held credentials: secrets are read once at start-up, kept in zeroizing buffers, and
//! used only inside the host. Plugins refer to them by name through the `credentials`
//! interface (set-up: [`SecretStore::load`]; per provider: one store; per call: a
//! [`CallCredentials`] that also holds the call's placeholders).

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use wasmtime::StoreContextMut;
use wasmtime::component::{ComponentType, Lift, Linker, WasmList, WasmStr};
use zeroize::Zeroizing;

use super::call_log::{SharedCallLog, Substitution};
use super::secret_scan::SecretSet;
use crate::config::SecretSource;
use crate::contract::credentials::{CredentialError, HashAlgorithm};
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

impl SecretSet {
    /// Every value of every store: the gateway-wide set.
    pub(crate) fn of_stores<'a>(stores: impl IntoIterator<Item = &'a SecretStore>) -> Self {
        Self::new(stores.into_iter().flat_map(SecretStore::values))
    }
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
    call_log: SharedCallLog,
}

/// Bounds a plugin cannot exceed in one call, so a looping plugin cannot grow host memory.
const MAX_PLACEHOLDERS: usize = 64;
const MAX_CHAIN: usize = 16;
/// Bytes of one input (one `list<part>`, concatenated).
const MAX_INPUT_BYTES: usize = 1 << 20;
/// Bounds on one credentials call, over all its inputs. A host call runs to its end (the
/// epoch cannot interrupt it), so what it reads is bounded before it is read: the parts of a
/// list are counted before any is lifted, and each part's bytes (literal bytes and text,
/// secret names and values) before they are copied.
const MAX_CALL_PARTS: usize = 4096;
const MAX_CALL_BYTES: usize = 2 * MAX_INPUT_BYTES;

impl CallCredentials {
    /// Credentials for one call; placeholders go into the call's `call_log`, where the egress
    /// path finds them.
    pub fn new(store: Arc<SecretStore>, call_log: SharedCallLog) -> Self {
        Self { store, call_log }
    }

    /// Concatenates one input of a call within the call's `budget`: the bytes, and the names
    /// of the secrets among them.
    fn concat<S: Source>(
        &self,
        source: &mut S,
        budget: &mut Budget,
        list: &S::List,
    ) -> Result<(Zeroizing<Vec<u8>>, Vec<String>), Refusal> {
        let mut input = Input::new(&self.store);
        source.read(list, &mut input, budget)?;
        Ok((input.bytes, input.used))
    }

    fn add_substitution(
        &mut self,
        value: Zeroizing<Vec<u8>>,
        label: String,
    ) -> Result<String, CredentialError> {
        let mut call_log = self.call_log.lock();
        if let Some(existing) = call_log
            .substitutions
            .iter()
            .find(|s| s.value.as_slice() == value.as_slice())
        {
            return Ok(existing.token.clone());
        }
        if call_log.substitutions.len() >= MAX_PLACEHOLDERS {
            return Err(CredentialError::InvalidInput(format!(
                "more than {MAX_PLACEHOLDERS} placeholders in one call"
            )));
        }
        // Tokens are unguessable by a vendor and unique per call; they hold only [a-z0-9-].
        let mut random = [0u8; 12];
        rand::fill(&mut random);
        let token = format!(
            "{TOKEN_PREFIX}{}-{}",
            call_log.substitutions.len(),
            hex::encode(random)
        );
        call_log.substitutions.push(Substitution {
            token: token.clone(),
            value,
            label,
        });
        Ok(token)
    }

    /// `credentials.hmac`.
    fn hmac_from<S: Source>(
        &self,
        source: &mut S,
        alg: HashAlgorithm,
        key: &S::List,
        data: &S::List,
    ) -> Result<Vec<u8>, Refusal> {
        let mut budget = Budget::new();
        let (key, _) = self.concat(source, &mut budget, key)?;
        let (data, _) = self.concat(source, &mut budget, data)?;
        Ok(hmac_bytes(alg, &key, &data))
    }

    /// `credentials.hmac-chain`.
    fn hmac_chain_from<S: Source>(
        &self,
        source: &mut S,
        alg: HashAlgorithm,
        key: &S::List,
        messages: &S::Messages,
    ) -> Result<Vec<u8>, Refusal> {
        let count = source.messages(messages);
        if count == 0 || count > MAX_CHAIN {
            return Err(CredentialError::InvalidInput(format!(
                "an HMAC chain needs 1 to {MAX_CHAIN} messages"
            ))
            .into());
        }
        let mut budget = Budget::new();
        let (mut current, _) = self.concat(source, &mut budget, key)?;
        for i in 0..count {
            let mut data = Input::new(&self.store);
            source.read_message(messages, i, &mut data, &mut budget)?;
            current = Zeroizing::new(hmac_bytes(alg, &current, &data.bytes));
        }
        Ok(current.to_vec())
    }

    /// `credentials.digest`.
    fn digest_from<S: Source>(
        &self,
        source: &mut S,
        alg: HashAlgorithm,
        data: &S::List,
    ) -> Result<Vec<u8>, Refusal> {
        let (data, _) = self.concat(source, &mut Budget::new(), data)?;
        Ok(digest_bytes(alg, &data))
    }

    /// `credentials.placeholder`.
    fn placeholder_from<S: Source>(
        &mut self,
        source: &mut S,
        value: &S::List,
    ) -> Result<String, Refusal> {
        let (bytes, used) = self.concat(source, &mut Budget::new(), value)?;
        let label = label_for(&used);
        Ok(self.add_substitution(bytes, label)?)
    }

    /// `credentials.basic-auth-placeholder`.
    fn basic_auth_placeholder_from<S: Source>(
        &mut self,
        source: &mut S,
        user: &S::List,
        password: &S::List,
    ) -> Result<String, Refusal> {
        let mut budget = Budget::new();
        let (user, mut used) = self.concat(source, &mut budget, user)?;
        let (password, used_pw) = self.concat(source, &mut budget, password)?;
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
        Ok(self.add_substitution(encoded, label)?)
    }
}

/// What is left of one credentials call's [`MAX_CALL_PARTS`] and [`MAX_CALL_BYTES`].
struct Budget {
    parts: usize,
    bytes: usize,
}

impl Budget {
    fn new() -> Self {
        Self {
            parts: MAX_CALL_PARTS,
            bytes: MAX_CALL_BYTES,
        }
    }

    /// Takes the `n` parts of one list, before any of them is lifted.
    fn take_parts(&mut self, n: usize) -> Result<(), CredentialError> {
        self.parts = self.parts.checked_sub(n).ok_or_else(|| {
            CredentialError::InvalidInput(format!(
                "more than {MAX_CALL_PARTS} parts in one credentials call"
            ))
        })?;
        Ok(())
    }

    /// Takes `n` bytes about to be read or copied.
    fn take_bytes(&mut self, n: usize) -> Result<(), CredentialError> {
        self.bytes = self.bytes.checked_sub(n).ok_or_else(|| {
            CredentialError::InvalidInput(format!(
                "more than {MAX_CALL_BYTES} bytes of input in one credentials call"
            ))
        })?;
        Ok(())
    }
}

/// One part, borrowed from where it lies.
#[derive(Clone, Copy)]
enum PartRef<'a> {
    Bytes(&'a [u8]),
    Text(&'a str),
    Secret(&'a str),
}

/// One input being concatenated: at most [`MAX_INPUT_BYTES`], each part counted against the
/// call's [`Budget`] before it is copied.
struct Input<'s> {
    store: &'s SecretStore,
    bytes: Zeroizing<Vec<u8>>,
    /// The names of the secrets it holds (a placeholder's label).
    used: Vec<String>,
}

impl<'s> Input<'s> {
    fn new(store: &'s SecretStore) -> Self {
        Self {
            store,
            bytes: Zeroizing::new(Vec::new()),
            used: Vec::new(),
        }
    }

    /// Appends `part`, refused (and not copied) past [`MAX_INPUT_BYTES`] or the `budget`.
    fn push(&mut self, budget: &mut Budget, part: PartRef<'_>) -> Result<(), CredentialError> {
        let store = self.store;
        let piece = match part {
            PartRef::Bytes(b) => b,
            PartRef::Text(t) => t.as_bytes(),
            PartRef::Secret(name) => {
                budget.take_bytes(name.len())?;
                let secret = store
                    .get(name)
                    .ok_or_else(|| CredentialError::UnknownSecret(name.to_string()))?;
                self.used.push(name.to_string());
                secret.bytes()
            }
        };
        if self.bytes.len() + piece.len() > MAX_INPUT_BYTES {
            return Err(CredentialError::InvalidInput(format!(
                "input larger than {MAX_INPUT_BYTES} bytes"
            )));
        }
        budget.take_bytes(piece.len())?;
        self.bytes.extend_from_slice(piece);
        Ok(())
    }
}

/// Why a credentials function answered no value: a refusal the plugin reads as its
/// `credential-error`, or a malformed argument (a list or string out of the plugin's memory,
/// text that is not UTF-8) that traps, as the generated bindings' lifting does.
enum Refusal {
    Error(CredentialError),
    Trap(wasmtime::Error),
}

impl From<CredentialError> for Refusal {
    fn from(e: CredentialError) -> Self {
        Self::Error(e)
    }
}

impl From<wasmtime::Error> for Refusal {
    fn from(e: wasmtime::Error) -> Self {
        Self::Trap(e)
    }
}

/// Where a credentials call's inputs lie: the calling plugin's memory ([`GuestMemory`]), or
/// values the host holds (the unit tests). The functions above serve both.
trait Source {
    /// One `list<part>`.
    type List: ?Sized;
    /// An HMAC chain's `list<list<part>>`.
    type Messages: ?Sized;

    /// Appends the parts of `list` to `input`: they are counted first (`budget`), then each
    /// is lifted and appended in turn.
    fn read(
        &mut self,
        list: &Self::List,
        input: &mut Input<'_>,
        budget: &mut Budget,
    ) -> Result<(), Refusal>;

    /// How many messages `messages` holds.
    fn messages(&self, messages: &Self::Messages) -> usize;

    /// Appends the parts of message `i` to `input`, as [`Source::read`] does.
    fn read_message(
        &mut self,
        messages: &Self::Messages,
        i: usize,
        input: &mut Input<'_>,
        budget: &mut Budget,
    ) -> Result<(), Refusal>;
}

/// A `part` where it lies in the calling plugin's memory: lifting it reads its case and where
/// its data is (checked to be inside the memory), not the data.
#[derive(ComponentType, Lift)]
#[component(variant)]
enum GuestPart {
    #[component(name = "bytes")]
    Bytes(WasmList<u8>),
    #[component(name = "text")]
    Text(WasmStr),
    #[component(name = "secret")]
    Secret(WasmStr),
}

/// A `list<part>` in the calling plugin's memory.
type GuestList = WasmList<GuestPart>;

/// The calling plugin's memory, through the store of the call.
struct GuestMemory<'a, 's, T: 'static>(&'a mut StoreContextMut<'s, T>);

/// Element `i` of a lazily lifted list (`WasmList::get`), which is in range.
fn element<V>(lifted: Option<wasmtime::Result<V>>, i: usize) -> Result<V, Refusal> {
    Ok(lifted.ok_or_else(|| wasmtime::format_err!("list element {i} out of range"))??)
}

impl<T: 'static> Source for GuestMemory<'_, '_, T> {
    type List = GuestList;
    type Messages = WasmList<GuestList>;

    fn read(
        &mut self,
        list: &GuestList,
        input: &mut Input<'_>,
        budget: &mut Budget,
    ) -> Result<(), Refusal> {
        budget.take_parts(list.len())?;
        for i in 0..list.len() {
            // Each part is lifted on its own (its case and where its data is), then read in
            // place: its bytes are copied only into the concatenation, within the bounds. A
            // string's length is known only once it is checked to be UTF-8 (`to_str`), so one
            // string past the bounds may be checked before it is refused.
            let part = element(list.get(&mut *self.0, i), i)?;
            let memory = &*self.0;
            match &part {
                GuestPart::Bytes(b) => input.push(budget, PartRef::Bytes(b.as_le_slice(memory)))?,
                GuestPart::Text(t) => input.push(budget, PartRef::Text(&t.to_str(memory)?))?,
                GuestPart::Secret(n) => input.push(budget, PartRef::Secret(&n.to_str(memory)?))?,
            }
        }
        Ok(())
    }

    fn messages(&self, messages: &WasmList<GuestList>) -> usize {
        messages.len()
    }

    fn read_message(
        &mut self,
        messages: &WasmList<GuestList>,
        i: usize,
        input: &mut Input<'_>,
        budget: &mut Budget,
    ) -> Result<(), Refusal> {
        let list = element(messages.get(&mut *self.0, i), i)?;
        self.read(&list, input, budget)
    }
}

/// A credentials function's result as the contract has it: a refusal is the plugin's value,
/// a malformed argument traps.
fn answer<V>(result: Result<V, Refusal>) -> wasmtime::Result<(Result<V, CredentialError>,)> {
    match result {
        Ok(v) => Ok((Ok(v),)),
        Err(Refusal::Error(e)) => Ok((Err(e),)),
        Err(Refusal::Trap(e)) => Err(e),
    }
}

/// Defines the `credentials` interface on `linker`, served by the [`CallCredentials`] that
/// `get` finds in a store's data.
///
/// By hand rather than with the generated bindings: their lifting copies every list and
/// string out of the plugin's memory before any bound applies, in one host call, which the
/// epoch cannot interrupt (512 parts pointing at one 1 MiB buffer: 128 MiB copied, until
/// wasmtime's per-call allowance trapped, 70–300 ms with the host optimized, ~2 s in a test
/// build). Here the arguments are lifted lazily ([`GuestPart`]: where each part's data is,
/// not the data) and read in place within the call's bounds. The hash algorithm and the
/// results are the generated types.
pub(crate) fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut CallCredentials,
) -> wasmtime::Result<()> {
    let mut inst = linker.instance(&format!(
        "ingest:provider/credentials@{}",
        crate::contract::CONTRACT_VERSION
    ))?;
    inst.func_wrap(
        "hmac",
        move |mut store: StoreContextMut<'_, T>,
              (alg, key, data): (HashAlgorithm, GuestList, GuestList)| {
            let creds = get(store.data_mut()).clone();
            answer(creds.hmac_from(&mut GuestMemory(&mut store), alg, &key, &data))
        },
    )?;
    inst.func_wrap(
        "hmac-chain",
        move |mut store: StoreContextMut<'_, T>,
              (alg, key, messages): (HashAlgorithm, GuestList, WasmList<GuestList>)| {
            let creds = get(store.data_mut()).clone();
            answer(creds.hmac_chain_from(&mut GuestMemory(&mut store), alg, &key, &messages))
        },
    )?;
    inst.func_wrap(
        "digest",
        move |mut store: StoreContextMut<'_, T>, (alg, data): (HashAlgorithm, GuestList)| {
            let creds = get(store.data_mut()).clone();
            answer(creds.digest_from(&mut GuestMemory(&mut store), alg, &data))
        },
    )?;
    inst.func_wrap(
        "placeholder",
        move |mut store: StoreContextMut<'_, T>, (value,): (GuestList,)| {
            let mut creds = get(store.data_mut()).clone();
            answer(creds.placeholder_from(&mut GuestMemory(&mut store), &value))
        },
    )?;
    inst.func_wrap(
        "basic-auth-placeholder",
        move |mut store: StoreContextMut<'_, T>, (user, password): (GuestList, GuestList)| {
            let mut creds = get(store.data_mut()).clone();
            answer(creds.basic_auth_placeholder_from(
                &mut GuestMemory(&mut store),
                &user,
                &password,
            ))
        },
    )?;
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::credentials::Part;

    /// Parts the host holds: the same functions as a plugin's calls, from host values.
    struct HostParts;

    impl Source for HostParts {
        type List = [Part];
        type Messages = [Vec<Part>];

        fn read(
            &mut self,
            list: &[Part],
            input: &mut Input<'_>,
            budget: &mut Budget,
        ) -> Result<(), Refusal> {
            budget.take_parts(list.len())?;
            for part in list {
                let part = match part {
                    Part::Bytes(b) => PartRef::Bytes(b),
                    Part::Text(t) => PartRef::Text(t),
                    Part::Secret(n) => PartRef::Secret(n),
                };
                input.push(budget, part)?;
            }
            Ok(())
        }

        fn messages(&self, messages: &[Vec<Part>]) -> usize {
            messages.len()
        }

        fn read_message(
            &mut self,
            messages: &[Vec<Part>],
            i: usize,
            input: &mut Input<'_>,
            budget: &mut Budget,
        ) -> Result<(), Refusal> {
            self.read(&messages[i], input, budget)
        }
    }

    fn value<V>(result: Result<V, Refusal>) -> Result<V, CredentialError> {
        match result {
            Ok(v) => Ok(v),
            Err(Refusal::Error(e)) => Err(e),
            Err(Refusal::Trap(e)) => panic!("host parts trapped: {e}"),
        }
    }

    /// The credentials functions over host-held parts.
    impl CallCredentials {
        fn hmac(
            &self,
            alg: HashAlgorithm,
            key: &[Part],
            data: &[Part],
        ) -> Result<Vec<u8>, CredentialError> {
            value(self.hmac_from(&mut HostParts, alg, key, data))
        }

        fn hmac_chain(
            &self,
            alg: HashAlgorithm,
            key: &[Part],
            messages: &[Vec<Part>],
        ) -> Result<Vec<u8>, CredentialError> {
            value(self.hmac_chain_from(&mut HostParts, alg, key, messages))
        }

        fn digest(&self, alg: HashAlgorithm, data: &[Part]) -> Result<Vec<u8>, CredentialError> {
            value(self.digest_from(&mut HostParts, alg, data))
        }

        fn placeholder(&mut self, value_parts: &[Part]) -> Result<String, CredentialError> {
            value(self.placeholder_from(&mut HostParts, value_parts))
        }

        fn basic_auth_placeholder(
            &mut self,
            user: &[Part],
            password: &[Part],
        ) -> Result<String, CredentialError> {
            value(self.basic_auth_placeholder_from(&mut HostParts, user, password))
        }
    }

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
        let call_log = c.call_log.lock();
        let sub = call_log
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
    fn an_input_is_refused_past_its_bound_before_it_is_copied() {
        let c = creds();
        let mib = vec![b'a'; MAX_INPUT_BYTES];
        let whole = c
            .digest(HashAlgorithm::Sha256, &[Part::Bytes(mib.clone())])
            .expect("exactly the bound");
        assert_eq!(whole, digest_bytes(HashAlgorithm::Sha256, &mib));
        let err = c
            .digest(
                HashAlgorithm::Sha256,
                &[Part::Bytes(mib), Part::Text("b".into())],
            )
            .expect_err("one byte past it");
        assert!(
            matches!(&err, CredentialError::InvalidInput(m) if m == "input larger than 1048576 bytes"),
            "{err:?}"
        );
    }

    #[test]
    fn a_call_takes_at_most_its_parts_over_all_its_inputs() {
        let c = creds();
        let parts = |n| vec![Part::Bytes(Vec::new()); n];
        c.digest(HashAlgorithm::Md5, &parts(MAX_CALL_PARTS))
            .expect("exactly the bound");
        for err in [
            c.digest(HashAlgorithm::Md5, &parts(MAX_CALL_PARTS + 1)),
            c.hmac(HashAlgorithm::Md5, &parts(2048), &parts(2049)),
            c.hmac_chain(HashAlgorithm::Md5, &parts(1), &[parts(4000), parts(96)]),
        ] {
            let err = err.expect_err("past the bound");
            assert!(
                matches!(&err, CredentialError::InvalidInput(m) if m.contains("more than 4096 parts")),
                "{err:?}"
            );
        }
    }

    #[test]
    fn a_call_reads_at_most_its_bytes_over_all_its_inputs() {
        let c = creds();
        let mib = || vec![Part::Bytes(vec![b'a'; MAX_INPUT_BYTES])];
        c.hmac_chain(HashAlgorithm::Sha1, &mib(), &[mib()])
            .expect("exactly the bound");
        let err = c
            .hmac_chain(
                HashAlgorithm::Sha1,
                &mib(),
                &[mib(), vec![Part::Text("x".into())]],
            )
            .expect_err("one byte past it");
        assert!(
            matches!(&err, CredentialError::InvalidInput(m) if m.contains("more than 2097152 bytes")),
            "{err:?}"
        );
        // A secret's name is read before it is looked up, and counts.
        let err = c
            .digest(
                HashAlgorithm::Sha1,
                &[Part::Secret("n".repeat(MAX_CALL_BYTES + 1))],
            )
            .expect_err("a name past the bound");
        assert!(
            matches!(&err, CredentialError::InvalidInput(m) if m.contains("more than 2097152 bytes")),
            "{err:?}"
        );
    }

    #[test]
    fn a_chain_needs_1_to_16_messages() {
        let c = creds();
        for n in [0, MAX_CHAIN + 1] {
            let messages = vec![vec![Part::Text("m".into())]; n];
            let err = c
                .hmac_chain(HashAlgorithm::Sha256, &[Part::Text("k".into())], &messages)
                .expect_err("out of range");
            assert!(matches!(err, CredentialError::InvalidInput(_)), "{err:?}");
        }
    }
}
