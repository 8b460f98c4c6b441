//! Signing keys for plugins (the kit's `plugin keygen`, `plugin sign` and `plugin push
//! --key`): PKCS#8 keys on `ring`, signatures in the formats `signature.rs` verifies. Built
//! with the `publish` feature.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::signature::{self as sig, KeyPair as _};
use rustls::pki_types::PrivatePkcs8KeyDer;
use rustls::pki_types::pem::PemObject as _;

use super::signature::{Algorithm, ED25519_SPKI_PREFIX, P256_SPKI_PREFIX, key_id};

/// A private signing key (PKCS#8).
pub struct SigningKey {
    pair: Pair,
    /// The id of its public key (as trusted keys are named).
    pub id: String,
}

enum Pair {
    Ecdsa(sig::EcdsaKeyPair),
    Ed25519(sig::Ed25519KeyPair),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.id)
    }
}

impl SigningKey {
    /// Reads an unencrypted PKCS#8 PEM private key (ECDSA P-256 or Ed25519).
    pub fn load(path: &Path) -> Result<Self, String> {
        let pem = zeroize::Zeroizing::new(
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?,
        );
        let der = PrivatePkcs8KeyDer::from_pem_slice(&pem).map_err(|_| {
            format!(
                "{} holds no unencrypted PKCS#8 `PRIVATE KEY` (an encrypted cosign key must be exported first; `ingest-gateway plugin keygen` or `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256` writes one)",
                path.display()
            )
        })?;
        Self::from_pkcs8(der.secret_pkcs8_der()).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub(super) fn from_pkcs8(der: &[u8]) -> Result<Self, String> {
        let rng = ring::rand::SystemRandom::new();
        let pair =
            match sig::EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_ASN1_SIGNING, der, &rng) {
                Ok(pair) => Pair::Ecdsa(pair),
                Err(_) => Pair::Ed25519(
                    sig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                        .map_err(|_| "not an ECDSA P-256 or Ed25519 private key".to_string())?,
                ),
            };
        let id = key_id(&spki_of(&pair));
        Ok(Self { pair, id })
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        match &self.pair {
            Pair::Ecdsa(pair) => pair
                .sign(&ring::rand::SystemRandom::new(), message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| "signing failed".to_string()),
            Pair::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }

    /// The public key, as PEM `PUBLIC KEY` (what `[plugins] trusted_keys` reads).
    pub fn public_pem(&self) -> String {
        pem("PUBLIC KEY", &spki_of(&self.pair))
    }
}

fn spki_of(pair: &Pair) -> Vec<u8> {
    match pair {
        Pair::Ecdsa(p) => [&P256_SPKI_PREFIX[..], p.public_key().as_ref()].concat(),
        Pair::Ed25519(p) => [&ED25519_SPKI_PREFIX[..], p.public_key().as_ref()].concat(),
    }
}

/// Base64 signature text, as written to `NAME.wasm.sig`.
pub fn encode_signature(signature: &[u8]) -> String {
    BASE64.encode(signature)
}

/// A new key pair: the PKCS#8 private key and the public key, both PEM.
pub fn generate(algorithm: Algorithm) -> Result<(zeroize::Zeroizing<String>, String), String> {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = match algorithm {
        Algorithm::EcdsaP256 => {
            sig::EcdsaKeyPair::generate_pkcs8(&sig::ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
        }
        Algorithm::Ed25519 => sig::Ed25519KeyPair::generate_pkcs8(&rng),
    }
    .map_err(|_| "cannot generate a key".to_string())?;
    let key = SigningKey::from_pkcs8(pkcs8.as_ref())?;
    Ok((
        zeroize::Zeroizing::new(pem("PRIVATE KEY", pkcs8.as_ref())),
        key.public_pem(),
    ))
}

pub(super) fn pem(label: &str, der: &[u8]) -> String {
    let body = BASE64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

// Keys made here verify (or not) with `signature.rs`'s trusted keys.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::source::signature::*;
    use rustls::pki_types::PrivatePkcs8KeyDer;

    fn trusted(public_pem: &str, dir: &Path, name: &str) -> TrustedKeys {
        let path = dir.join(name);
        std::fs::write(&path, public_pem).expect("write key");
        TrustedKeys::load(&[path]).expect("load key")
    }

    #[test]
    fn a_signature_verifies_with_its_key_only_and_not_over_changed_bytes() {
        let dir = std::env::temp_dir().join(format!("ingest-sig-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        for algorithm in [Algorithm::EcdsaP256, Algorithm::Ed25519] {
            let (private, public) = generate(algorithm).expect("generate");
            let key = SigningKey::from_pkcs8(
                PrivatePkcs8KeyDer::from_pem_slice(private.as_bytes())
                    .expect("pem")
                    .secret_pkcs8_der(),
            )
            .expect("key");
            let keys = trusted(&public, &dir, "k.pub");
            let message = b"\0asm component bytes";
            let signature = key.sign(message).expect("sign");
            assert_eq!(
                keys.verify(message, std::slice::from_ref(&signature))
                    .expect("verifies")
                    .id,
                key.id
            );
            assert_eq!(
                keys.verify(b"\0asm component bytEs", std::slice::from_ref(&signature))
                    .err(),
                Some(Untrusted::NoTrustedSignature { signatures: 1 })
            );
            assert_eq!(keys.verify(message, &[]).err(), Some(Untrusted::Unsigned));
            let (_, other) = generate(algorithm).expect("generate");
            let stranger = trusted(&other, &dir, "other.pub");
            assert!(stranger.verify(message, &[signature]).is_err());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_key_of_another_kind_is_refused_naming_its_file() {
        let dir = std::env::temp_dir().join(format!("ingest-sig-rsa-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        // An RSA SubjectPublicKeyInfo header with a short body: not a key we accept.
        let rsa = pem(
            "PUBLIC KEY",
            &[
                0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05,
                0x00,
            ],
        );
        let path = dir.join("rsa.pub");
        std::fs::write(&path, rsa).expect("write");
        let err = TrustedKeys::load(&[path]).expect_err("refused");
        assert!(
            err.contains("rsa.pub") && err.contains("not an ECDSA P-256 or Ed25519"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
