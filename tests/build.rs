//! Builds every plugin and test guest to a `wasm32-wasip2` component, once per change, and
//! tells the crate where they are (`PLUGIN_DIR`) and which there are (`PLUGIN_NAMES`).
//! Every crate under `plugins/` (but the SDK) and `tests/guests/` is a guest; nothing to list.
//!
//! A nested cargo with its own target directory (`target/plugins`) avoids waiting on the
//! outer build's lock.

use std::path::PathBuf;
use std::process::Command;

/// Folders holding one plugin crate each; `plugins/sdk` is the SDK, not a plugin.
const GUEST_DIRS: &[&str] = &["plugins", "tests/guests"];

/// Every Rust plugin package under [`GUEST_DIRS`], by its `name = "…"` in Cargo.toml.
fn guests(root: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    for dir in GUEST_DIRS {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let manifest = entry.path().join("Cargo.toml");
            if entry.file_name() == "sdk" || !manifest.is_file() {
                continue;
            }
            let text = std::fs::read_to_string(&manifest).expect("readable Cargo.toml");
            let name = text
                .lines()
                .find_map(|l| {
                    l.trim()
                        .strip_prefix("name = \"")
                        .and_then(|r| r.strip_suffix('"'))
                })
                .unwrap_or_else(|| panic!("{} has no package name", manifest.display()));
            found.push(name.to_string());
        }
    }
    found.sort();
    found
}

/// Variables the outer cargo sets that must not leak into the nested wasm build.
const SCRUB: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CLIPPY_ARGS",
    "CLIPPY_CONF_DIR",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_PRIMARY_PACKAGE",
    "RUSTDOCFLAGS",
    "CARGO_PROFILE_RELEASE_LTO",
];

fn main() {
    let manifest =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest
        .parent()
        .expect("tests/ sits in the workspace root")
        .to_path_buf();
    let target_dir = root.join("target").join("plugins");
    for dir in ["plugins", "wit", "tests/guests"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    // The lock and the workspace manifest (it holds the `plugin` profile the guests build with).
    for file in ["Cargo.lock", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args([
            "build",
            "--target",
            "wasm32-wasip2",
            "--profile",
            "plugin",
            "--target-dir",
        ])
        .arg(&target_dir);
    // `INGEST_TEST_PLUGINS=a,b` builds only those (handy while another plugin is mid-edit).
    println!("cargo:rerun-if-env-changed=INGEST_TEST_PLUGINS");
    let mut guests = guests(&root);
    if let Ok(only) = std::env::var("INGEST_TEST_PLUGINS") {
        let only: Vec<&str> = only.split(',').map(str::trim).collect();
        guests.retain(|g| only.contains(&g.as_str()));
    }
    for package in &guests {
        cmd.args(["-p", package]);
    }
    for var in SCRUB {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("cannot run cargo to build the plugins");
    if !status.success() {
        panic!(
            "building the plugins for wasm32-wasip2 failed (see above). If the target is missing, run `rustup target add wasm32-wasip2` (scripts/test does this for you)."
        );
    }
    let out = target_dir.join("wasm32-wasip2").join("plugin");
    for package in &guests {
        let path = out.join(format!("{}.wasm", package.replace('-', "_")));
        assert!(path.is_file(), "{} was not produced", path.display());
    }
    println!("cargo:rustc-env=PLUGIN_NAMES={}", guests.join(","));
    println!("cargo:rustc-env=PLUGIN_DIR={}", out.display());
}
