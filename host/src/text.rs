//! Small text and digest helpers every layer uses: one copy each.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// SHA-256 of `bytes`, lowercase hex: the identity of a plugin version.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// SHA-256 over `parts`, each prefixed by its length (so no two lists of parts collide).
pub(crate) fn sha256_parts(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in parts {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.finalize().into()
}

/// HMAC-SHA256 of the concatenated `parts` under `key`.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts any key length"),
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The first 12 hex digits of a digest, for logs and labels.
pub fn short_digest(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}

/// `n` random bytes as hex, from the thread's CSPRNG (no system call per id).
pub(crate) fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::fill(&mut bytes[..]);
    hex::encode(bytes)
}

/// `s` cut to at most `max` bytes on a character boundary, with `…` when cut.
pub(crate) fn clip(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// The registry name of a plugin file: its stem with `_` as `-`
/// (`plugins/tencent_trtc.wasm` → `tencent-trtc`).
pub fn plugin_name(file: &std::path::Path) -> Option<String> {
    file.file_stem()
        .map(|s| s.to_string_lossy().replace('_', "-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_cuts_on_a_char_boundary() {
        assert_eq!(clip("abc".into(), 5), "abc");
        assert_eq!(clip("abcdef".into(), 3), "abc…");
        // 'é' is two bytes: a cut at 2 would split it.
        assert_eq!(clip("aé".into(), 2), "a…");
    }

    #[test]
    fn plugin_names_from_files() {
        let name = |p: &str| plugin_name(std::path::Path::new(p));
        assert_eq!(
            name("dir/tencent_trtc.wasm").as_deref(),
            Some("tencent-trtc")
        );
        assert_eq!(name("agora-js").as_deref(), Some("agora-js"));
    }

    #[test]
    fn hmac_matches_a_known_vector() {
        // RFC 4231 test case 2.
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
