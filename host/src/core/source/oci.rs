//! Plugins in an OCI registry: the CNCF Wasm OCI artifact layout (a manifest whose config
//! has media type `application/vnd.wasm.config.v0+json` and whose one layer,
//! `application/wasm`, is the component), pinned by digest, signed the way cosign signs
//! with a key (a manifest at tag `sha256-<hex>.sig` whose `simplesigning` layer names the
//! signed manifest's digest and carries the signature in an annotation).
//!
//! Every digest is checked here, over the bytes received: the manifest's against what the
//! tag resolved to, the layer's against the manifest, the signature payload's against its
//! manifest. What was pulled and checked is kept on disk by digest ([`OciCache`]), so a
//! restart with the registry away serves the last digest this replica installed, checked
//! again from the cached bytes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde::{Deserialize, Serialize};
use tokio_stream::StreamExt as _;

use super::signature::TrustedKeys;
use crate::text::sha256_hex;

/// The manifest media type (OCI image manifest v1).
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// The config media type of a Wasm artifact (CNCF TAG Runtime, Wasm OCI artifact layout).
pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// The one layer of a Wasm artifact: the component.
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/wasm";
/// A cosign signature's payload layer.
pub const SIMPLESIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The annotation that carries a cosign signature (base64).
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

/// The largest component pulled (the admin API's default upload cap).
pub const MAX_COMPONENT_BYTES: u64 = 64 << 20;
/// The largest signature payload pulled.
const MAX_PAYLOAD_BYTES: u64 = 64 << 10;
/// How long one registry exchange (a manifest, a blob) may take.
pub(super) const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(60);

/// `oci://REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST]`, parsed.
#[derive(Debug, Clone)]
pub struct OciRef {
    pub(super) reference: Reference,
    /// As configured, with `oci://`.
    pub text: String,
}

impl OciRef {
    /// Parses `oci://…`; the registry part must name a host (`host:port/…` or a dotted name).
    pub fn parse(text: &str) -> Result<Self, String> {
        let Some(rest) = text.strip_prefix("oci://") else {
            return Err(format!("`{text}` does not start with oci://"));
        };
        let reference: Reference = rest
            .parse()
            .map_err(|e| format!("`{text}` is not an OCI reference ({e}): oci://REGISTRY/REPOSITORY:TAG or …@sha256:DIGEST"))?;
        if !rest.starts_with(reference.registry()) {
            return Err(format!(
                "`{text}` names no registry: write oci://REGISTRY/REPOSITORY:TAG (e.g. oci://registry.example.com/ingest/tencent-trtc:1.4)"
            ));
        }
        Ok(Self {
            reference,
            text: text.to_string(),
        })
    }

    /// Whether the reference is pinned by digest (no tag to watch).
    pub fn pinned(&self) -> bool {
        self.reference.digest().is_some()
    }

    /// The registry, `host[:port]`.
    pub fn registry(&self) -> &str {
        self.reference.resolve_registry()
    }

    /// The plugin name it gives: the repository's last segment (`…/tencent-trtc:1.4` →
    /// `tencent-trtc`).
    pub fn plugin_name(&self) -> String {
        let repo = self.reference.repository();
        repo.rsplit('/').next().unwrap_or(repo).to_string()
    }

    /// The same repository at `tag`.
    pub(super) fn with_tag(&self, tag: String) -> Reference {
        Reference::with_tag(
            self.reference.registry().to_string(),
            self.reference.repository().to_string(),
            tag,
        )
    }

    fn with_digest(&self, digest: &str) -> Reference {
        Reference::with_digest(
            self.reference.registry().to_string(),
            self.reference.repository().to_string(),
            digest.to_string(),
        )
    }
}

/// Cosign signatures: (payload, signature) pairs.
pub type Signatures = Vec<(Vec<u8>, Vec<u8>)>;

/// A descriptor in a manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Descriptor {
    pub(super) media_type: String,
    pub(super) digest: String,
    pub(super) size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) annotations: Option<BTreeMap<String, String>>,
}

/// An OCI image manifest (the fields this layout uses).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Manifest {
    pub(super) schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) artifact_type: Option<String>,
    pub(super) config: Descriptor,
    pub(super) layers: Vec<Descriptor>,
}

/// A component pulled and checked: its bytes and where they came from.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The component.
    pub bytes: Vec<u8>,
    /// The manifest's digest (`sha256:…`): what the tag pointed at.
    pub manifest_digest: String,
    /// The trusted key that signed it, `id (file)`, when signatures are required.
    pub signed_by: Option<String>,
    /// Its cosign signatures (payload, signature), for the cache's record once installed.
    pub signatures: Signatures,
}

/// A registry client for plugin pulls and pushes.
pub struct Registry {
    pub(super) client: Client,
    auth: BTreeMap<String, RegistryAuth>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field(
                "registries_with_auth",
                &self.auth.keys().collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// A failure to reach or read the registry (the cache may then serve), or bytes refused.
#[derive(Debug)]
pub enum PullError {
    /// The registry could not be reached or answered an error: the reason.
    Unreachable(String),
    /// What the registry served was refused (wrong layout, digest mismatch, signature): the
    /// reason. The cache never stands in for refused bytes.
    Refused(String),
}

impl std::fmt::Display for PullError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreachable(why) | Self::Refused(why) => f.write_str(why),
        }
    }
}

impl Registry {
    /// A client reaching `insecure` registries (`host:port`, exact) over plain HTTP and every
    /// other over HTTPS (the system's roots), with `auth` per registry.
    pub fn new(insecure: &[String], auth: BTreeMap<String, RegistryAuth>) -> Result<Self, String> {
        // reqwest under oci-client looks up the process's rustls provider; `ring` is the one
        // compiled in. Installing it twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = ClientConfig {
            protocol: if insecure.is_empty() {
                ClientProtocol::Https
            } else {
                ClientProtocol::HttpsExcept(insecure.to_vec())
            },
            connect_timeout: Some(Duration::from_secs(5)),
            read_timeout: Some(Duration::from_secs(30)),
            ..ClientConfig::default()
        };
        // The crate also builds a default HTTP client, which panics when the system has no
        // CA certificates: that becomes an error here.
        let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            Client::try_from(config)
        }));
        let client = match built {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => return Err(format!("cannot build the registry client: {e}")),
            Err(_) => {
                return Err(
                    "cannot build the registry client: no system CA certificates were found (install ca-certificates or set SSL_CERT_FILE)"
                        .into(),
                );
            }
        };
        Ok(Self { client, auth })
    }

    fn auth_for(&self, registry: &str) -> RegistryAuth {
        self.auth
            .get(registry)
            .cloned()
            .unwrap_or(RegistryAuth::Anonymous)
    }

    pub(super) async fn prepare(&self, r: &OciRef) {
        self.client
            .store_auth_if_needed(r.registry(), &self.auth_for(r.registry()))
            .await;
    }

    /// The manifest digest a reference points at now (a tag's current digest), checked over
    /// the manifest's bytes.
    pub async fn resolve(&self, r: &OciRef) -> Result<String, PullError> {
        let (_, digest, _) = self.manifest(r, &r.reference).await?;
        Ok(digest)
    }

    /// Reads a manifest; its digest is the SHA-256 of the bytes received (and must equal the
    /// reference's, when it names one).
    async fn manifest(
        &self,
        r: &OciRef,
        at: &Reference,
    ) -> Result<(Manifest, String, bytes::Bytes), PullError> {
        self.prepare(r).await;
        let auth = self.auth_for(r.registry());
        let pulled = tokio::time::timeout(
            EXCHANGE_TIMEOUT,
            self.client
                .pull_manifest_raw(at, &auth, &[MANIFEST_MEDIA_TYPE]),
        )
        .await
        .map_err(|_| {
            PullError::Unreachable(format!(
                "{}: the registry did not answer within {} s",
                r.text,
                EXCHANGE_TIMEOUT.as_secs()
            ))
        })?;
        let (bytes, _) = pulled.map_err(|e| classify(&r.text, at, e))?;
        let digest = format!("sha256:{}", sha256_hex(&bytes));
        if let Some(pinned) = at.digest()
            && pinned != digest
        {
            return Err(PullError::Refused(format!(
                "{}: the registry served a manifest whose digest is {digest}, not {pinned}",
                r.text
            )));
        }
        let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
            PullError::Refused(format!(
                "{}: the manifest is not an OCI image manifest: {e}",
                r.text
            ))
        })?;
        Ok((manifest, digest, bytes))
    }

    /// Reads a blob, at most `max` bytes, and checks it against `digest`.
    async fn blob(&self, r: &OciRef, digest: &str, max: u64) -> Result<Vec<u8>, PullError> {
        let read = async {
            let mut stream = self
                .client
                .pull_blob_stream(&r.reference, digest)
                .await
                .map_err(|e| classify(&r.text, &r.reference, e))?;
            if stream.content_length.is_some_and(|n| n > max) {
                return Err(PullError::Refused(format!(
                    "{}: blob {digest} is larger than {max} bytes",
                    r.text
                )));
            }
            let mut bytes = Vec::new();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| {
                    PullError::Refused(format!(
                        "{}: blob {digest} does not match its digest or could not be read: {e}",
                        r.text
                    ))
                })?;
                if (bytes.len() + chunk.len()) as u64 > max {
                    return Err(PullError::Refused(format!(
                        "{}: blob {digest} is larger than {max} bytes",
                        r.text
                    )));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(bytes)
        };
        let bytes = tokio::time::timeout(EXCHANGE_TIMEOUT, read)
            .await
            .map_err(|_| {
                PullError::Unreachable(format!(
                    "{}: blob {digest} did not arrive within {} s",
                    r.text,
                    EXCHANGE_TIMEOUT.as_secs()
                ))
            })??;
        check_digest(&r.text, digest, &bytes)?;
        Ok(bytes)
    }

    /// Pulls the component `r` names (at `manifest_digest` when given, else where `r` points
    /// now), checks the layout, every digest and — when `keys` requires it — the signature,
    /// and keeps it in `cache`.
    pub async fn pull(
        &self,
        r: &OciRef,
        manifest_digest: Option<&str>,
        keys: &TrustedKeys,
        cache: &OciCache,
    ) -> Result<Pulled, PullError> {
        self.prepare(r).await;
        let at = match manifest_digest {
            Some(d) => r.with_digest(d),
            None => r.reference.clone(),
        };
        let (manifest, digest, raw) = self.manifest(r, &at).await?;
        let layer = component_layer(&r.text, &manifest)?;
        // The signature first: nothing unsigned is downloaded.
        let signatures = if keys.required() {
            self.signatures(r, &digest).await?
        } else {
            Vec::new()
        };
        let signed_by = check_signatures(r, &digest, &signatures, keys)?;
        let bytes = match cache.blob(&layer.digest) {
            Some(bytes) => bytes,
            None => self.blob(r, &layer.digest, MAX_COMPONENT_BYTES).await?,
        };
        cache
            .keep_blobs(&digest, &raw, &layer.digest, &bytes)
            .map_err(|e| {
                PullError::Unreachable(format!("{}: cannot keep it in the cache: {e}", r.text))
            })?;
        Ok(Pulled {
            bytes,
            manifest_digest: digest,
            signed_by,
            signatures,
        })
    }

    /// The cosign signatures of `digest`: (payload, signature) pairs from the manifest at tag
    /// `sha256-<hex>.sig`; none when there is no such tag.
    async fn signatures(&self, r: &OciRef, digest: &str) -> Result<Signatures, PullError> {
        let at = r.with_tag(signature_tag(digest));
        let manifest = match self.manifest(r, &at).await {
            Ok((m, _, _)) => m,
            Err(PullError::Unreachable(why)) if why.contains(NOT_FOUND) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for layer in manifest
            .layers
            .iter()
            .filter(|l| l.media_type == SIMPLESIGNING_MEDIA_TYPE)
            .take(16)
        {
            let Some(signature) = layer
                .annotations
                .as_ref()
                .and_then(|a| a.get(SIGNATURE_ANNOTATION))
                .and_then(|s| super::signature::decode_signature(s.as_bytes()))
            else {
                continue;
            };
            let payload = self.blob(r, &layer.digest, MAX_PAYLOAD_BYTES).await?;
            out.push((payload, signature));
        }
        Ok(out)
    }
}

/// Text every "not found" answer of the registry carries in its reason (the signature tag
/// of an unsigned manifest is one).
const NOT_FOUND: &str = "not found in the registry";

fn classify(text: &str, at: &Reference, e: oci_client::errors::OciDistributionError) -> PullError {
    use oci_client::errors::{OciDistributionError as E, OciErrorCode as C};
    let not_found = match &e {
        E::RegistryError { envelope, .. } => envelope.errors.iter().any(|x| {
            matches!(
                x.code,
                C::ManifestUnknown | C::NameUnknown | C::NotFound | C::BlobUnknown
            )
        }),
        E::ServerError { code, .. } => *code == 404,
        _ => false,
    };
    if not_found {
        return PullError::Unreachable(format!("{text}: {} {NOT_FOUND}", at.whole()));
    }
    if let E::DigestError(d) = &e {
        return PullError::Refused(format!(
            "{text}: {} does not match its digest: {d}",
            at.whole()
        ));
    }
    PullError::Unreachable(format!("{text}: the registry failed: {e}"))
}

fn check_digest(text: &str, digest: &str, bytes: &[u8]) -> Result<(), PullError> {
    let actual = format!("sha256:{}", sha256_hex(bytes));
    if actual == digest {
        Ok(())
    } else {
        Err(PullError::Refused(format!(
            "{text}: the bytes served for {digest} hash to {actual}: changed after they were pushed"
        )))
    }
}

/// The component layer of a Wasm artifact manifest.
fn component_layer<'m>(text: &str, m: &'m Manifest) -> Result<&'m Descriptor, PullError> {
    if m.config.media_type != WASM_CONFIG_MEDIA_TYPE {
        return Err(PullError::Refused(format!(
            "{text}: not a Wasm artifact: its config is `{}`, not `{WASM_CONFIG_MEDIA_TYPE}` (publish with `ingest-gateway plugin push`)",
            m.config.media_type
        )));
    }
    match m.layers.as_slice() {
        [layer]
            if layer.media_type == WASM_LAYER_MEDIA_TYPE && layer.digest.starts_with("sha256:") =>
        {
            if layer.size > MAX_COMPONENT_BYTES {
                return Err(PullError::Refused(format!(
                    "{text}: the component is {} bytes, more than {MAX_COMPONENT_BYTES}",
                    layer.size
                )));
            }
            Ok(layer)
        }
        _ => Err(PullError::Refused(format!(
            "{text}: a Wasm artifact has exactly one `{WASM_LAYER_MEDIA_TYPE}` layer with a sha256 digest"
        ))),
    }
}

/// The tag of a manifest's cosign signature: `sha256-<hex>.sig`.
pub fn signature_tag(digest: &str) -> String {
    format!("{}.sig", digest.replace(':', "-"))
}

/// Which trusted key signed `digest` through one of `signatures` (payload, signature):
/// the signature must verify over the payload, and the payload must name `digest`.
fn check_signatures(
    r: &OciRef,
    digest: &str,
    signatures: &[(Vec<u8>, Vec<u8>)],
    keys: &TrustedKeys,
) -> Result<Option<String>, PullError> {
    if !keys.required() {
        return Ok(None);
    }
    let source = format!("{} ({digest})", r.text);
    let mut last = super::signature::Untrusted::Unsigned;
    for (payload, signature) in signatures {
        match keys.verify(payload, std::slice::from_ref(signature)) {
            Ok(key) if names_digest(payload, digest) && names_repository(payload, r) => {
                return Ok(Some(key.label()));
            }
            Ok(_) => {
                return Err(PullError::Refused(format!(
                    "plugin `{}` from {source}: its signature was made for another manifest or repository (the payload must name {digest} in repository `{}`)",
                    r.plugin_name(),
                    r.reference.repository()
                )));
            }
            Err(why) => last = why,
        }
    }
    Err(PullError::Refused(keys.refusal(
        &r.plugin_name(),
        &source,
        &last,
    )))
}

/// Whether the payload's `docker-reference` is `r`'s repository (in any registry: a mirror
/// serves what was signed for the origin): a component signed for one plugin's repository
/// is not taken from another's.
pub(super) fn names_repository(payload: &[u8], r: &OciRef) -> bool {
    serde_json::from_slice::<serde_json::Value>(payload).is_ok_and(|v| {
        v["critical"]["identity"]["docker-reference"]
            .as_str()
            .and_then(|reference| reference.split_once('/'))
            .is_some_and(|(_, repository)| repository == r.reference.repository())
    })
}

pub(super) fn names_digest(payload: &[u8], digest: &str) -> bool {
    serde_json::from_slice::<serde_json::Value>(payload)
        .is_ok_and(|v| v["critical"]["image"]["docker-manifest-digest"].as_str() == Some(digest))
}

/// What a reference last resolved to on this replica, kept to serve it again when the
/// registry is away.
#[derive(Debug, Serialize, Deserialize)]
struct RefRecord {
    reference: String,
    manifest_digest: String,
    /// base64 (payload, signature) pairs of its cosign signatures.
    signatures: Vec<(String, String)>,
}

/// Pulled plugins on disk: `blobs/sha256/<hex>` (components and manifests, by digest) and
/// `refs/<sha256 of the reference>.json` (what a reference last resolved to).
#[derive(Debug, Clone)]
pub struct OciCache {
    dir: PathBuf,
}

impl OciCache {
    /// The cache in `dir` (made when first written).
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    fn blob_path(&self, digest: &str) -> Option<PathBuf> {
        let hex = digest.strip_prefix("sha256:")?;
        (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| self.dir.join("blobs").join("sha256").join(hex))
    }

    fn ref_path(&self, r: &OciRef) -> PathBuf {
        self.dir
            .join("refs")
            .join(format!("{}.json", sha256_hex(r.text.as_bytes())))
    }

    /// A cached blob, when its bytes still hash to its digest.
    fn blob(&self, digest: &str) -> Option<Vec<u8>> {
        let bytes = std::fs::read(self.blob_path(digest)?).ok()?;
        (format!("sha256:{}", sha256_hex(&bytes)) == digest).then_some(bytes)
    }

    fn write(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let tmp = path.with_extension(format!("tmp-{}", crate::text::random_hex(6)));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)
    }

    /// Keeps a pulled manifest (as the registry served it) and its component, by digest.
    fn keep_blobs(
        &self,
        digest: &str,
        manifest: &[u8],
        layer_digest: &str,
        component: &[u8],
    ) -> std::io::Result<()> {
        if let (Some(component_path), Some(manifest_path)) =
            (self.blob_path(layer_digest), self.blob_path(digest))
        {
            self.write(&component_path, component)?;
            self.write(&manifest_path, manifest)?;
        }
        Ok(())
    }

    /// Records that `r` was installed at `digest` (with its signatures): what a restart
    /// with the registry away serves. Written only once the version serves.
    pub fn remember(
        &self,
        r: &OciRef,
        digest: &str,
        signatures: &[(Vec<u8>, Vec<u8>)],
    ) -> std::io::Result<()> {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let record = RefRecord {
            reference: r.text.clone(),
            manifest_digest: digest.to_string(),
            signatures: signatures
                .iter()
                .map(|(p, s)| (b64.encode(p), b64.encode(s)))
                .collect(),
        };
        self.write(&self.ref_path(r), &serde_json::to_vec(&record)?)
    }

    /// What `r` last resolved to here, checked again: the component's bytes against the
    /// layer digest its kept manifest names, and the kept signatures against `keys`.
    pub fn load(&self, r: &OciRef, keys: &TrustedKeys) -> Result<Pulled, PullError> {
        let gone = |why: String| {
            PullError::Unreachable(format!(
                "{}: nothing usable in the plugin cache {}: {why}",
                r.text,
                self.dir.display()
            ))
        };
        let record: RefRecord = std::fs::read(self.ref_path(r))
            .map_err(|e| gone(format!("no record of it ({e})")))
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| gone(e.to_string())))?;
        if let Some(pinned) = r.reference.digest()
            && pinned != record.manifest_digest
        {
            return Err(gone(format!("the record names {}", record.manifest_digest)));
        }
        // The manifest exactly as the registry served it: its bytes must still hash to the
        // digest the signatures name.
        let manifest: Manifest = self
            .blob(&record.manifest_digest)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| gone("its manifest is missing or changed".into()))?;
        let layer = component_layer(&r.text, &manifest)?;
        let bytes = self
            .blob(&layer.digest)
            .ok_or_else(|| gone(format!("component {} is missing or changed", layer.digest)))?;
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let signatures: Signatures = record
            .signatures
            .iter()
            .filter_map(|(p, s)| Some((b64.decode(p).ok()?, b64.decode(s).ok()?)))
            .collect();
        let signed_by = check_signatures(r, &record.manifest_digest, &signatures, keys)?;
        Ok(Pulled {
            bytes,
            manifest_digest: record.manifest_digest,
            signed_by,
            signatures,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_name_their_registry_repository_and_plugin() {
        let r = OciRef::parse("oci://127.0.0.1:5000/ingest/tencent-trtc:1.4").expect("parses");
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.plugin_name(), "tencent-trtc");
        assert!(!r.pinned());
        let pinned = OciRef::parse(&format!(
            "oci://registry.example.com/p/zego@sha256:{}",
            "a".repeat(64)
        ))
        .expect("parses");
        assert!(pinned.pinned());
        assert_eq!(pinned.plugin_name(), "zego");
        for bad in [
            "127.0.0.1:5000/x:1",
            "oci://x:1",
            "oci://",
            "oci://Reg.example/UPPER:1",
        ] {
            assert!(OciRef::parse(bad).is_err(), "{bad}");
        }
    }
}
