//! `plugin new NAME`: a ready-to-build adapter skeleton.
//!
//! The templates are the directories `examples/plugin-template` (Rust),
//! `examples/plugin-template-js` (JavaScript, componentize-js) and
//! `examples/plugin-template-py` (Python, componentize-py) of the repository, embedded here
//! with `include_str!` so the command works without the repository. All three implement the
//! same fictitious vendor ("Example RTC") and ship the same conformance cases. Generating
//! renames the plugin (`example-vendor`, `example_vendor`, `ExampleVendor`) and, for Rust,
//! points the SDK dependency at the given path; for JavaScript and Python it also writes the
//! WIT contract into `wit/`, so the project builds on its own.

use std::path::{Path, PathBuf};

/// The language of a skeleton.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// A Rust crate using `ingest-plugin-sdk`, built with cargo for `wasm32-wasip2`.
    Rust,
    /// A JavaScript module built into a component with `@bytecodealliance/componentize-js`.
    Js,
    /// A Python module built into a component with `componentize-py`.
    Python,
}

/// The template's own name, replaced by the new plugin's.
const TEMPLATE_NAME: &str = "example-vendor";
/// The SDK dependency as the Rust template writes it (relative to the template's directory).
const TEMPLATE_SDK_PATH: &str = "path = \"../../plugins/sdk\"";
/// The SDK of the tree this binary was built from.
const BUILD_TREE_SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/sdk");

macro_rules! files {
    ($base:literal: $($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!($base, $path)))),*]
    };
}

/// A template's files and the conformance cases every template ships.
macro_rules! template {
    ($base:literal: $($path:literal),* $(,)?) => {
        files!($base: $($path,)*
            "cases/start-ok.json",
            "cases/start-vendor-error.json",
            "cases/start-invalid-url.json",
            "cases/status-running.json",
            "cases/stop-ok.json",
            "cases/callback-ok.json",
            "cases/callback-bad-signature.json",
        )
    };
}

/// The Rust template: (path in the new crate, contents).
const RUST: &[(&str, &str)] = template!("../../examples/plugin-template/":
    "Cargo.toml",
    "README.md",
    ".gitignore",
    "src/lib.rs",
);

/// The JavaScript template.
const JS: &[(&str, &str)] = template!("../../examples/plugin-template-js/":
    "package.json",
    "build.mjs",
    "README.md",
    ".gitignore",
    "src/plugin.js",
);

/// The Python template.
const PYTHON: &[(&str, &str)] = template!("../../examples/plugin-template-py/":
    "app.py",
    "build.sh",
    "requirements.txt",
    "README.md",
    ".gitignore",
);

/// Files of a template written executable.
const EXECUTABLE: &[&str] = &["build.sh"];

/// The WIT contract, written into a JavaScript or Python project's `wit/` (the 0.2 world imports no
/// WASI package, so it has no dependencies).
const WIT: &[(&str, &str)] = files!("../../wit/":
    "provider.wit",
);

/// Whether `name` is a valid plugin name: lowercase ASCII letters, digits and single `-`,
/// starting with a letter, at most 64 bytes.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_lowercase()
        && !name.ends_with('-')
        && !name.contains("--")
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// `my-vendor` → `MyVendor`.
pub fn camel(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// The template contents renamed for `name`.
fn render(text: &str, name: &str) -> String {
    text.replace(TEMPLATE_NAME, name)
        .replace(&TEMPLATE_NAME.replace('-', "_"), &name.replace('-', "_"))
        .replace(&camel(TEMPLATE_NAME), &camel(name))
}

/// The SDK path written into Cargo.toml: `given` as is, else the build tree's SDK (absolute).
pub fn sdk_path(given: Option<&str>) -> anyhow::Result<String> {
    if let Some(p) = given {
        return Ok(p.to_string());
    }
    match std::fs::canonicalize(BUILD_TREE_SDK) {
        Ok(p) if p.join("Cargo.toml").is_file() => Ok(p.to_string_lossy().into_owned()),
        _ => anyhow::bail!(
            "the ingest-plugin-sdk crate of the tree this binary was built from ({BUILD_TREE_SDK}) \
             is not there; pass --sdk-path PATH (the `plugins/sdk` directory of an Ingest Gateway \
             checkout; a relative path is kept relative to the new crate)"
        ),
    }
}

/// Writes the skeleton of plugin `name` in `lang` into `dir`; returns the files written.
pub fn generate(
    name: &str,
    lang: Lang,
    dir: &Path,
    sdk: Option<&str>,
) -> anyhow::Result<Vec<PathBuf>> {
    if !valid_name(name) {
        anyhow::bail!(
            "`{name}` is not a valid plugin name: use lowercase letters, digits and `-`, starting \
             with a letter (e.g. `acme-rtc`)"
        );
    }
    if dir.exists()
        && std::fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        anyhow::bail!(
            "{} already exists and is not empty; choose another --dir",
            dir.display()
        );
    }
    let mut files: Vec<(String, String)> = Vec::new();
    match lang {
        Lang::Rust => {
            let sdk = sdk_path(sdk)?;
            let sdk_line = format!("path = {}", toml_string(&sdk));
            for (path, text) in RUST {
                let mut text = render(text, name);
                if *path == "Cargo.toml" {
                    text = text.replace(TEMPLATE_SDK_PATH, &sdk_line);
                }
                files.push((path.to_string(), text));
            }
        }
        Lang::Js | Lang::Python => {
            let template = if lang == Lang::Js { JS } else { PYTHON };
            for (path, text) in template {
                files.push((path.to_string(), render(text, name)));
            }
            for (path, text) in WIT {
                files.push((format!("wit/{path}"), text.to_string()));
            }
        }
    }
    let mut written = Vec::new();
    for (path, text) in files {
        let target = dir.join(&path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&target, text)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", target.display()))?;
        if EXECUTABLE.contains(&path.as_str()) {
            make_executable(&target)?;
        }
        written.push(target);
    }
    Ok(written)
}

#[cfg(unix)]
fn make_executable(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| anyhow::anyhow!("cannot make {} executable: {e}", path.display()))
}

#[cfg(not(unix))]
fn make_executable(_: &Path) -> anyhow::Result<()> {
    Ok(())
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// What to do next, as shell commands.
pub fn next_steps(name: &str, lang: Lang, dir: &Path) -> String {
    let file = format!("{}.wasm", name.replace('-', "_"));
    let dir = dir.display();
    match lang {
        Lang::Rust => format!(
            "next:\n  cd {dir}\n  cargo test                                             # unit tests\n  \
             cargo build --target wasm32-wasip2 --profile plugin   # the component\n  \
             ingest-gateway plugin check target/wasm32-wasip2/plugin/{file}\n  \
             ingest-gateway plugin test target/wasm32-wasip2/plugin/{file} --cases cases"
        ),
        Lang::Js => format!(
            "next:\n  cd {dir}\n  npm install\n  npm run build                                          # the component\n  \
             ingest-gateway plugin check {file}\n  \
             ingest-gateway plugin test {file} --cases cases"
        ),
        Lang::Python => format!(
            "next:\n  cd {dir}\n  ./build.sh                                             # the component (installs componentize-py)\n  \
             ingest-gateway plugin check {file}\n  \
             ingest-gateway plugin test {file} --cases cases"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "acme-rtc", "v2-relay"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "Acme", "2x", "a_b", "a-", "a--b", "a b", "ä"] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert_eq!(camel("acme-rtc-v2"), "AcmeRtcV2");
    }

    #[test]
    fn rendering_renames_everything() {
        let text = "example-vendor example_vendor ExampleVendor";
        assert_eq!(render(text, "acme-rtc"), "acme-rtc acme_rtc AcmeRtc");
        let cargo = RUST
            .iter()
            .find(|(p, _)| *p == "Cargo.toml")
            .map(|(_, t)| *t)
            .unwrap_or_default();
        assert!(
            cargo.contains(TEMPLATE_SDK_PATH),
            "the template's SDK line moved"
        );
        assert!(cargo.contains("\n[workspace]\n"));
    }
}
