//! Publishing plugins to a registry (the kit's `plugin push` and `plugin sign`): the Wasm
//! artifact layout and cosign signatures written the way `oci.rs` reads and checks them.
//! Built with the `publish` feature.

use std::collections::BTreeMap;

use oci_client::Reference;

use super::oci::{
    Descriptor, EXCHANGE_TIMEOUT, MANIFEST_MEDIA_TYPE, Manifest, OciRef, Registry,
    SIGNATURE_ANNOTATION, SIMPLESIGNING_MEDIA_TYPE, WASM_CONFIG_MEDIA_TYPE, WASM_LAYER_MEDIA_TYPE,
    signature_tag,
};
use crate::text::sha256_hex;

/// The config media type of a cosign signature manifest.
const IMAGE_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";

/// Signs a cosign payload: the base64 signature, or why not.
pub type Signer<'a> = dyn Fn(&[u8]) -> Result<String, String> + Sync + 'a;

impl Registry {
    /// Publishes `component` at `r` in the Wasm artifact layout; answers the manifest digest.
    /// With `sign` (payload → base64 signature), its cosign signature is published first,
    /// so no replica watching the tag ever sees the new digest unsigned.
    pub async fn push(
        &self,
        r: &OciRef,
        component: &[u8],
        sign: Option<&Signer<'_>>,
    ) -> Result<String, String> {
        let layer = descriptor(WASM_LAYER_MEDIA_TYPE, component, None);
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "wasm",
            "os": "wasip2",
            "layerDigests": [layer.digest],
        }))
        .map_err(|e| e.to_string())?;
        let manifest = self
            .push_artifact(r, WASM_CONFIG_MEDIA_TYPE, config, component, layer)
            .await?;
        if let Some(sign) = sign {
            let body = serde_json::to_vec(&manifest).map_err(|e| e.to_string())?;
            let digest = format!("sha256:{}", sha256_hex(&body));
            self.push_signature(r, &digest, sign).await?;
        }
        self.push_manifest(r, &r.reference, &manifest).await
    }

    /// Publishes a cosign signature of `digest`: `sign` over its simple-signing payload
    /// ([`simplesigning_payload`]), at tag `sha256-<hex>.sig`.
    pub async fn push_signature(
        &self,
        r: &OciRef,
        digest: &str,
        sign: &Signer<'_>,
    ) -> Result<(), String> {
        let payload = simplesigning_payload(r, digest);
        let annotations = BTreeMap::from([(SIGNATURE_ANNOTATION.to_string(), sign(&payload)?)]);
        let layer = descriptor(SIMPLESIGNING_MEDIA_TYPE, &payload, Some(annotations));
        let manifest = self
            .push_artifact(r, IMAGE_CONFIG_MEDIA_TYPE, b"{}".to_vec(), &payload, layer)
            .await?;
        self.push_manifest(r, &r.with_tag(signature_tag(digest)), &manifest)
            .await
            .map(drop)
    }

    /// Pushes the blobs of a one-layer manifest (`layer` describing `bytes`, and `config`);
    /// answers the manifest, not pushed yet.
    async fn push_artifact(
        &self,
        r: &OciRef,
        config_media_type: &str,
        config: Vec<u8>,
        bytes: &[u8],
        layer: Descriptor,
    ) -> Result<Manifest, String> {
        self.prepare(r).await;
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(MANIFEST_MEDIA_TYPE.into()),
            artifact_type: None,
            config: descriptor(config_media_type, &config, None),
            layers: vec![layer],
        };
        self.push_blob(r, bytes.to_vec(), &manifest.layers[0].digest)
            .await?;
        self.push_blob(r, config, &manifest.config.digest).await?;
        Ok(manifest)
    }

    async fn push_blob(&self, r: &OciRef, bytes: Vec<u8>, digest: &str) -> Result<(), String> {
        tokio::time::timeout(
            EXCHANGE_TIMEOUT,
            self.client.push_blob(&r.reference, bytes, digest),
        )
        .await
        .map_err(|_| {
            format!(
                "{}: the registry did not take blob {digest} in time",
                r.text
            )
        })?
        .map(drop)
        .map_err(|e| format!("{}: pushing blob {digest} failed: {e}", r.text))
    }

    async fn push_manifest(
        &self,
        r: &OciRef,
        at: &Reference,
        manifest: &Manifest,
    ) -> Result<String, String> {
        if at.digest().is_some() {
            return Err(format!(
                "{}: push to a tag, not a digest (oci://REGISTRY/REPOSITORY:TAG)",
                r.text
            ));
        }
        let body = serde_json::to_vec(manifest).map_err(|e| e.to_string())?;
        let digest = format!("sha256:{}", sha256_hex(&body));
        tokio::time::timeout(
            EXCHANGE_TIMEOUT,
            self.client.push_manifest_raw(
                at,
                body,
                http::HeaderValue::from_static(MANIFEST_MEDIA_TYPE),
            ),
        )
        .await
        .map_err(|_| format!("{}: the registry did not take the manifest in time", r.text))?
        .map_err(|e| format!("{}: pushing the manifest failed: {e}", r.text))?;
        Ok(digest)
    }
}

/// The descriptor of `bytes`.
fn descriptor(
    media_type: &str,
    bytes: &[u8],
    annotations: Option<BTreeMap<String, String>>,
) -> Descriptor {
    Descriptor {
        media_type: media_type.to_string(),
        digest: format!("sha256:{}", sha256_hex(bytes)),
        size: bytes.len() as u64,
        annotations,
    }
}

/// The cosign "simple signing" payload that names `digest` as the signed manifest of `r`.
pub fn simplesigning_payload(r: &OciRef, digest: &str) -> Vec<u8> {
    let reference = format!("{}/{}", r.reference.registry(), r.reference.repository());
    serde_json::to_vec(&serde_json::json!({
        "critical": {
            "identity": {"docker-reference": reference},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": null,
    }))
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::source::oci::{names_digest, names_repository};

    #[test]
    fn a_signature_tag_and_payload_follow_cosign() {
        let digest = format!("sha256:{}", "b".repeat(64));
        assert_eq!(
            signature_tag(&digest),
            format!("sha256-{}.sig", "b".repeat(64))
        );
        let r = OciRef::parse("oci://127.0.0.1:5000/ingest/trtc:1").expect("parses");
        let payload = simplesigning_payload(&r, &digest);
        assert!(names_digest(&payload, &digest));
        assert!(!names_digest(&payload, "sha256:00"));
        assert!(names_repository(&payload, &r));
        let mirror = OciRef::parse("oci://mirror.example.com/ingest/trtc:1").expect("parses");
        assert!(
            names_repository(&payload, &mirror),
            "a mirror serves what was signed"
        );
        let other = OciRef::parse("oci://127.0.0.1:5000/ingest/zego:1").expect("parses");
        assert!(
            !names_repository(&payload, &other),
            "not another plugin's repository"
        );
        let v: serde_json::Value = serde_json::from_slice(&payload).expect("json");
        assert_eq!(
            v["critical"]["identity"]["docker-reference"],
            "127.0.0.1:5000/ingest/trtc"
        );
        assert_eq!(v["critical"]["type"], "cosign container image signature");
    }
}
