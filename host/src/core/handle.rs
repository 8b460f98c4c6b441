//! Stateless ingest handles: the provider id and the plugin's session reference, sealed with
//! HMAC-SHA256 under the gateway's key. The gateway keeps no per-ingest state; any replica
//! with the same key can serve a handle, and a forged or altered one never reaches a vendor.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Domain separation for the MAC, and the format version.
const CONTEXT: &[u8] = b"ingest-gateway/handle/v1\n";
/// Longest handle accepted, bytes. A session reference is at most 2 KiB; JSON may escape
/// each of its bytes to six (`\u00XX`) and base64 adds a third, so a legal one seals to under
/// 17 KiB. Anything the gateway sealed itself must open again.
pub const MAX_HANDLE_LEN: usize = 20 * 1024;

/// What a handle carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandleData {
    /// Provider instance id.
    #[serde(rename = "p")]
    pub provider: String,
    /// The plugin's session reference.
    #[serde(rename = "r")]
    pub session_ref: String,
    /// The tenant that created the ingest (none when authentication is off).
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

/// Seals and opens handles.
pub struct HandleKey(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for HandleKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HandleKey(redacted)")
    }
}

impl HandleKey {
    /// A key from configured bytes.
    pub fn new(key: Vec<u8>) -> Self {
        Self(Zeroizing::new(key))
    }

    /// A random key (handles then die with the process).
    pub fn random() -> Self {
        let mut key = vec![0u8; 32];
        if getrandom::fill(&mut key).is_err() {
            // No OS randomness: fall back to the clock and address entropy, and say so.
            tracing::error!("no OS randomness for the handle key; configure gateway.handle_key");
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            key[..16].copy_from_slice(&t.to_le_bytes());
        }
        Self::new(key)
    }

    fn mac(&self, payload: &str) -> [u8; 32] {
        crate::text::hmac_sha256(&self.0, &[CONTEXT, payload.as_bytes()])
    }

    /// Seals `data` into an opaque, URL-safe handle.
    pub fn seal(&self, data: &HandleData) -> String {
        let json = serde_json::to_vec(data).unwrap_or_default();
        let payload = B64.encode(json);
        let tag = B64.encode(self.mac(&payload));
        format!("{payload}.{tag}")
    }

    /// Opens a handle; `None` for anything malformed, forged or altered.
    pub fn open(&self, handle: &str) -> Option<HandleData> {
        if handle.len() > MAX_HANDLE_LEN {
            return None;
        }
        let (payload, tag) = handle.split_once('.')?;
        let tag = B64.decode(tag).ok()?;
        if !bool::from(tag.as_slice().ct_eq(&self.mac(payload))) {
            return None;
        }
        let json = B64.decode(payload).ok()?;
        serde_json::from_slice(&json).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> HandleData {
        HandleData {
            provider: "trtc".into(),
            session_ref: "task+1.a_b-c".into(),
            tenant: Some("acme".into()),
        }
    }

    #[test]
    fn round_trip_and_other_key_fails() {
        let k = HandleKey::new(b"k1".to_vec());
        let h = k.seal(&data());
        assert_eq!(k.open(&h), Some(data()));
        assert_eq!(HandleKey::new(b"k2".to_vec()).open(&h), None);
    }

    #[test]
    fn any_altered_byte_is_rejected() {
        let k = HandleKey::new(b"key".to_vec());
        let h = k.seal(&data());
        let bytes = h.as_bytes();
        for i in 0..bytes.len() {
            for replacement in [b'A', b'_', b'.', b'z'] {
                if bytes[i] == replacement {
                    continue;
                }
                let mut altered = bytes.to_vec();
                altered[i] = replacement;
                let altered = String::from_utf8(altered).expect("ascii");
                assert_eq!(
                    k.open(&altered),
                    None,
                    "byte {i} -> {}",
                    replacement as char
                );
            }
        }
        assert_eq!(k.open(""), None);
        assert_eq!(k.open("."), None);
        assert_eq!(k.open(&"x".repeat(MAX_HANDLE_LEN + 1)), None);
    }
}
