//! Plugin signatures: the operator's trusted public keys (`[plugins] trusted_keys`), and
//! signing and checking on `ring`, the one crypto provider in the tree.
//!
//! Two algorithms, as cosign's key-based signing has them: ECDSA P-256 with SHA-256 (the
//! signature DER-encoded) and Ed25519. Keys are PEM: public keys as SubjectPublicKeyInfo
//! (`PUBLIC KEY`, what `cosign public-key` and `openssl pkey -pubout` write), private keys as
//! unencrypted PKCS#8 (`PRIVATE KEY`, what `openssl genpkey` and `plugin keygen` write).
//!
//! A signature travels as base64 text: beside a file as `NAME.wasm.sig` (the format of
//! `cosign sign-blob`), in an upload's `x-ingest-signature` header, or in a registry as a
//! cosign signature manifest (see `oci.rs`).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::signature as sig;
use rustls::pki_types::SubjectPublicKeyInfoDer;
use rustls::pki_types::pem::PemObject as _;

/// The SubjectPublicKeyInfo DER prefix of an uncompressed P-256 point (id-ecPublicKey,
/// prime256v1, a 66-byte BIT STRING); the 65-byte point follows.
pub(super) const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
/// The SubjectPublicKeyInfo DER prefix of an Ed25519 key (id-Ed25519); 32 bytes follow.
pub(super) const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// A signature algorithm of plugin keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// ECDSA on P-256 with SHA-256 (cosign's default).
    EcdsaP256,
    /// Ed25519.
    Ed25519,
}

impl Algorithm {
    fn name(self) -> &'static str {
        match self {
            Self::EcdsaP256 => "ECDSA P-256",
            Self::Ed25519 => "Ed25519",
        }
    }
}

/// One trusted public key.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    /// The first 16 hex digits of the SHA-256 of its SubjectPublicKeyInfo: how messages name it.
    pub id: String,
    /// The file it was read from.
    pub file: PathBuf,
    algorithm: Algorithm,
    /// The raw public key (the P-256 point, or the 32 Ed25519 bytes).
    raw: Vec<u8>,
}

impl TrustedKey {
    /// A key from its SubjectPublicKeyInfo DER.
    fn from_spki(spki: &[u8], file: PathBuf) -> Result<Self, String> {
        let (algorithm, raw) = if let Some(point) = spki.strip_prefix(&P256_SPKI_PREFIX[..]) {
            (Algorithm::EcdsaP256, point)
        } else if let Some(key) = spki.strip_prefix(&ED25519_SPKI_PREFIX[..]) {
            (Algorithm::Ed25519, key)
        } else {
            return Err(
                "not an ECDSA P-256 or Ed25519 public key (RSA and other curves are not accepted)"
                    .into(),
            );
        };
        let expected = match algorithm {
            Algorithm::EcdsaP256 => 65,
            Algorithm::Ed25519 => 32,
        };
        if raw.len() != expected {
            return Err(format!("a malformed {} public key", algorithm.name()));
        }
        Ok(Self {
            id: key_id(spki),
            file,
            algorithm,
            raw: raw.to_vec(),
        })
    }

    /// Whether `signature` is this key's signature of `message`.
    fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        let alg: &dyn sig::VerificationAlgorithm = match self.algorithm {
            Algorithm::EcdsaP256 => &sig::ECDSA_P256_SHA256_ASN1,
            Algorithm::Ed25519 => &sig::ED25519,
        };
        sig::UnparsedPublicKey::new(alg, &self.raw)
            .verify(message, signature)
            .is_ok()
    }

    /// `id (file name)`, for messages.
    pub fn label(&self) -> String {
        let file = self
            .file
            .file_name()
            .map_or_else(String::new, |f| f.to_string_lossy().into_owned());
        format!("{} ({file})", self.id)
    }
}

/// A key's id: the first 16 hex digits of the SHA-256 of its SubjectPublicKeyInfo DER.
pub(super) fn key_id(spki: &[u8]) -> String {
    let mut id = crate::text::sha256_hex(spki);
    id.truncate(16);
    id
}

/// The operator's trusted keys. Empty: no signature is required (nor checked).
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    keys: Vec<TrustedKey>,
}

/// Why bytes were refused: no signature, or none that a trusted key made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Untrusted {
    /// No signature came with them.
    Unsigned,
    /// Signatures came; none verifies with a trusted key (wrong key, or tampered bytes).
    NoTrustedSignature {
        /// How many signatures were tried.
        signatures: usize,
    },
}

impl TrustedKeys {
    /// Reads every key file. An unreadable or unusable key is an error naming its file.
    pub fn load(paths: &[PathBuf]) -> Result<Self, String> {
        let mut keys = Vec::with_capacity(paths.len());
        for path in paths {
            let pem = std::fs::read(path).map_err(|e| {
                format!("plugins.trusted_keys: cannot read {}: {e}", path.display())
            })?;
            let spki = SubjectPublicKeyInfoDer::from_pem_slice(&pem).map_err(|e| {
                format!(
                    "plugins.trusted_keys: {} holds no PEM `PUBLIC KEY` ({e}); write one with `ingest-gateway plugin keygen` or `openssl pkey -pubout`",
                    path.display()
                )
            })?;
            let key = TrustedKey::from_spki(spki.as_ref(), path.clone())
                .map_err(|e| format!("plugins.trusted_keys: {}: {e}", path.display()))?;
            keys.push(key);
        }
        Ok(Self { keys })
    }

    /// Whether signatures are required (some key is trusted).
    pub fn required(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The key that made one of `signatures` over `message`.
    pub fn verify(&self, message: &[u8], signatures: &[Vec<u8>]) -> Result<&TrustedKey, Untrusted> {
        if signatures.is_empty() {
            return Err(Untrusted::Unsigned);
        }
        signatures
            .iter()
            .find_map(|s| self.keys.iter().find(|k| k.verifies(message, s)))
            .ok_or(Untrusted::NoTrustedSignature {
                signatures: signatures.len(),
            })
    }

    /// The keys, as `id (file)`, comma-separated: the ids a refusal names.
    pub fn labels(&self) -> String {
        self.keys
            .iter()
            .map(TrustedKey::label)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The refusal of plugin `name`'s bytes from `source`: what was wrong and the keys tried.
    pub fn refusal(&self, name: &str, source: &str, why: &Untrusted) -> String {
        let what = match why {
            Untrusted::Unsigned => "carries no signature".to_string(),
            Untrusted::NoTrustedSignature { signatures: 1 } => {
                "has a signature that no trusted key made (an unknown key, or the bytes were changed after signing)".to_string()
            }
            Untrusted::NoTrustedSignature { signatures } => format!(
                "has {signatures} signatures, none made by a trusted key (unknown keys, or the bytes were changed after signing)"
            ),
        };
        format!(
            "plugin `{name}` from {source} {what}; [plugins] trusted_keys requires a signature by one of: {}; sign it with `ingest-gateway plugin sign --key KEY`",
            self.labels()
        )
    }
}

/// Decodes base64 signature text (`cosign sign-blob`'s format); whitespace around it is
/// ignored. `None` when it is not base64.
pub fn decode_signature(text: &[u8]) -> Option<Vec<u8>> {
    let trimmed = text.trim_ascii();
    if trimmed.is_empty() || trimmed.len() > 4096 {
        return None;
    }
    BASE64.decode(trimmed).ok()
}

/// The detached signature file of a component file: `NAME.wasm.sig` beside it.
pub fn signature_path(component: &Path) -> PathBuf {
    let mut name = component.as_os_str().to_os_string();
    name.push(".sig");
    PathBuf::from(name)
}
