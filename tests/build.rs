//! Builds every plugin and test guest to a `wasm32-wasip2` component, once per change, and
//! exposes their paths to the crate as `PLUGIN_<NAME>` environment constants.
//!
//! A nested cargo with its own target directory (`target/plugins`) avoids waiting on the
//! outer build's lock. The list of guests is checked by `artifacts::tests`.

use std::path::PathBuf;
use std::process::Command;

/// (package, artifact file stem)
const GUESTS: &[(&str, &str)] = &[
    ("tencent-trtc", "tencent_trtc"),
    ("test-hostile", "test_hostile"),
];

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
    println!(
        "cargo:rerun-if-changed={}",
        root.join("Cargo.lock").display()
    );

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
    for (package, _) in GUESTS {
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
    for (package, stem) in GUESTS {
        let path = out.join(format!("{stem}.wasm"));
        assert!(path.is_file(), "{} was not produced", path.display());
        let var = format!("PLUGIN_{}", package.to_uppercase().replace('-', "_"));
        println!("cargo:rustc-env={var}={}", path.display());
    }
    println!("cargo:rustc-env=PLUGIN_DIR={}", out.display());
}
