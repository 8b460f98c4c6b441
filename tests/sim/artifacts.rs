//! Paths of the plugin components the build script compiled.

/// The directory holding every built plugin (`NAME_WITH_UNDERSCORES.wasm`).
pub const PLUGIN_DIR: &str = env!("PLUGIN_DIR");
/// The Tencent TRTC plugin.
pub const TENCENT_TRTC: &str = env!("PLUGIN_TENCENT_TRTC");
/// The deliberately misbehaving test plugin (never shipped).
pub const TEST_HOSTILE: &str = env!("PLUGIN_TEST_HOSTILE");

/// Every artifact, for a check that none is missing.
pub const ALL: &[&str] = &[TENCENT_TRTC, TEST_HOSTILE];

#[cfg(test)]
mod tests {
    #[test]
    fn every_artifact_exists() {
        for path in super::ALL {
            assert!(std::path::Path::new(path).is_file(), "{path} missing");
        }
    }
}
