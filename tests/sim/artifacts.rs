//! Where the build script put the plugin components.

use std::path::PathBuf;

/// The directory holding every built plugin (`NAME_WITH_UNDERSCORES.wasm`).
pub const PLUGIN_DIR: &str = env!("PLUGIN_DIR");
/// The package names of every plugin built (`plugins/*` and `tests/guests/*`), comma-separated.
pub const PLUGIN_NAMES: &str = env!("PLUGIN_NAMES");

/// The path of the component built from package `name` (e.g. `tencent-trtc`).
///
/// # Panics
/// When no such plugin was built: a test naming a plugin that does not exist is a bug.
pub fn plugin(name: &str) -> String {
    let path = PathBuf::from(PLUGIN_DIR).join(format!("{}.wasm", name.replace('-', "_")));
    // JavaScript and Python plugins (no Cargo.toml) are built by scripts/build-js-plugins and
    // scripts/build-py-plugins into the same directory, so they count when their file is there.
    assert!(
        PLUGIN_NAMES.split(',').any(|n| n == name) || path.is_file(),
        "no plugin `{name}` was built (built: {PLUGIN_NAMES}; JavaScript plugins: run scripts/build-js-plugins, Python plugins: scripts/build-py-plugins)"
    );
    path.to_string_lossy().into_owned()
}

/// `component` with one more custom section, `name` holding `tag`: the same code and
/// behaviour under a new digest (a "new version" for hot-swap tests and benchmarks).
pub fn variant(component: &[u8], name: &str, tag: &str) -> Vec<u8> {
    fn leb128(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut payload = Vec::new();
    leb128(name.len(), &mut payload);
    payload.extend_from_slice(name.as_bytes());
    payload.extend_from_slice(tag.as_bytes());
    let mut out = component.to_vec();
    out.push(0); // custom section id
    leb128(payload.len(), &mut out);
    out.extend_from_slice(&payload);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_plugin_was_built() {
        for name in super::PLUGIN_NAMES.split(',') {
            let path = super::plugin(name);
            assert!(std::path::Path::new(&path).is_file(), "{path} missing");
        }
        assert!(super::PLUGIN_NAMES.split(',').any(|n| n == "tencent-trtc"));
    }
}
