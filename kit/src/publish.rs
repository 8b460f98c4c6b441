//! Publishing plugins: `plugin keygen` (a signing key pair), `plugin sign` (a detached
//! signature beside a component file, or a cosign signature in a registry) and `plugin push`
//! (a component to a registry in the Wasm OCI artifact layout, signed when a key is given).

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use ingest_gateway::publish::{
    Algorithm, OciRef, Registry, RegistryAuth, Signer, SigningKey, encode_signature, generate,
    signature_path,
};

/// `plugin keygen`: writes `PREFIX.key` (PKCS#8, mode 0600) and `PREFIX.pub`.
pub fn keygen(prefix: &Path, algorithm: Algorithm) -> anyhow::Result<(PathBuf, PathBuf, String)> {
    let (private, public) = generate(algorithm).map_err(anyhow::Error::msg)?;
    let key_path = with_suffix(prefix, "key");
    let pub_path = with_suffix(prefix, "pub");
    for path in [&key_path, &pub_path] {
        anyhow::ensure!(
            !path.exists(),
            "{} exists: not overwriting a key",
            path.display()
        );
    }
    write_private(&key_path, private.as_bytes())?;
    std::fs::write(&pub_path, &public)
        .with_context(|| format!("writing {}", pub_path.display()))?;
    let id = SigningKey::load(&key_path).map_err(anyhow::Error::msg)?.id;
    Ok((key_path, pub_path, id))
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_os_string();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// `plugin sign --key KEY FILE`: writes `FILE.sig` (base64, as `cosign sign-blob` does).
pub fn sign_file(key: &Path, file: &Path) -> anyhow::Result<(PathBuf, String)> {
    let key = SigningKey::load(key).map_err(anyhow::Error::msg)?;
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let sig = key.sign(&bytes).map_err(anyhow::Error::msg)?;
    let path = signature_path(file);
    std::fs::write(&path, format!("{}\n", encode_signature(&sig)))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok((path, key.id))
}

/// The environment variable `--user` reads the registry password or token from.
pub const PASSWORD_ENV: &str = "INGEST_REGISTRY_PASSWORD";

/// How `push` and `sign oci://…` reach the registry.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// Plain HTTP instead of HTTPS (a registry on loopback).
    pub insecure: bool,
    /// A user name; the password comes from [`PASSWORD_ENV`]. Anonymous without.
    pub user: Option<String>,
}

fn registry_for(r: &OciRef, access: &Access) -> anyhow::Result<Registry> {
    let plain = if access.insecure {
        vec![r.registry().to_string()]
    } else {
        Vec::new()
    };
    let mut auth = std::collections::BTreeMap::new();
    if let Some(user) = &access.user {
        let password = std::env::var(PASSWORD_ENV).with_context(|| {
            format!(
                "--user {user} reads the registry password from {PASSWORD_ENV}, which is not set"
            )
        })?;
        auth.insert(
            r.registry().to_string(),
            RegistryAuth::Basic(user.clone(), password),
        );
    }
    Registry::new(&plain, auth).map_err(anyhow::Error::msg)
}

/// `plugin sign --key KEY oci://…`: signs the manifest the reference points at now, pushing
/// a cosign signature beside it. Answers the manifest digest and the key id.
pub async fn sign_reference(
    key: &Path,
    reference: &str,
    access: &Access,
) -> anyhow::Result<(String, String)> {
    let key = SigningKey::load(key).map_err(anyhow::Error::msg)?;
    let r = OciRef::parse(reference).map_err(anyhow::Error::msg)?;
    let registry = registry_for(&r, access)?;
    let digest = registry
        .resolve(&r)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    registry
        .push_signature(&r, &digest, &signer(&key))
        .await
        .map_err(anyhow::Error::msg)?;
    Ok((digest, key.id))
}

/// Signs a cosign payload with `key`: the base64 signature.
fn signer(key: &SigningKey) -> impl Fn(&[u8]) -> Result<String, String> + Sync + '_ {
    |payload| key.sign(payload).map(|s| encode_signature(&s))
}

/// `plugin push FILE oci://…:TAG [--key KEY]`: publishes the component (after checking it
/// is one) and, with a key, its signature. Answers the manifest digest.
pub async fn push(
    file: &Path,
    reference: &str,
    key: Option<&Path>,
    access: &Access,
) -> anyhow::Result<String> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    anyhow::ensure!(
        bytes.starts_with(b"\0asm"),
        "{} is not a WebAssembly component",
        file.display()
    );
    let key = key
        .map(|k| SigningKey::load(k).map_err(anyhow::Error::msg))
        .transpose()?;
    let r = OciRef::parse(reference).map_err(anyhow::Error::msg)?;
    anyhow::ensure!(
        !r.pinned(),
        "push to a tag (oci://REGISTRY/REPOSITORY:TAG); a digest is what the push produces"
    );
    let registry = registry_for(&r, access)?;
    let sign = key.as_ref().map(signer);
    registry
        .push(&r, &bytes, sign.as_ref().map(|s| s as &Signer<'_>))
        .await
        .map_err(anyhow::Error::msg)
}
