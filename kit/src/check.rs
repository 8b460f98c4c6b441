//! `plugin check FILE.wasm`: is this component a provider plugin this host can serve?
//!
//! 1. Compile it (once; the compiled code is handed to [`Runtime::load_cached`] through a
//!    private artifact cache, so the check costs one compilation even for a 15 MB JavaScript
//!    component).
//! 2. Validate it against the world with the host's own loader, which names every missing or
//!    mismatched export and every import the host does not provide, and compares the contract
//!    version it was built against with the one this host speaks.
//! 3. List what it imports, sorted into the world's interfaces and the WASI interfaces a
//!    language runtime pulls in (linked, with nothing behind them).
//! 4. Run `describe` with an empty config, no secrets and an egress policy that allows
//!    nothing, and print the answer: a plugin must describe itself before it is configured.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ingest_gateway::config::HostPort;
use ingest_gateway::inspect::{self as contract, Description, ImportClass};
use ingest_gateway::json::{direction_name, operation_name};
use ingest_gateway::{LoadError, Runtime, types};

/// What `plugin check` found.
#[derive(Debug)]
pub struct CheckReport {
    /// The file checked.
    pub path: PathBuf,
    /// Its size, bytes.
    pub size: usize,
    /// SHA-256 of its bytes, hex.
    pub digest: String,
    /// Time to compile it.
    pub compile_time: Duration,
    /// Its exports (names).
    pub exports: Vec<String>,
    /// Its imports, classified.
    pub imports: Vec<(String, ImportClass)>,
    /// Why the host refuses it (empty when it loads).
    pub problems: Vec<String>,
    /// Things worth fixing that do not stop it from loading.
    pub warnings: Vec<String>,
    /// What `describe` (and the secret catalog) answered with an empty config.
    pub info: Option<Description>,
    /// Time `describe` took, instantiation included.
    pub describe_time: Option<Duration>,
}

impl CheckReport {
    /// Whether the component fits the world and described itself.
    pub fn ok(&self) -> bool {
        self.problems.is_empty() && self.info.is_some()
    }

    /// The report as JSON (`plugin check --json`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "file": self.path.display().to_string(),
            "ok": self.ok(),
            "size": self.size,
            "sha256": self.digest,
            "compile_ms": self.compile_time.as_millis() as u64,
            "contract": contract::PROVIDER_EXPORT,
            "exports": self.exports,
            "imports": self.imports.iter().map(|(name, class)| serde_json::json!({"name": name, "class": class})).collect::<Vec<_>>(),
            "problems": self.problems,
            "warnings": self.warnings,
            "describe": self.info.as_ref().map(info_json),
        })
    }

    /// The report as text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_component(&mut out);
        self.render_imports(&mut out);
        if let Some(info) = &self.info {
            out.push_str(&format!(
                "describe (empty config, {:.1} ms):\n",
                self.describe_time.unwrap_or_default().as_secs_f64() * 1000.0
            ));
            render_describe(info, &mut out);
        }
        for w in &self.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        for p in &self.problems {
            out.push_str(&format!("problem: {p}\n"));
        }
        if self.ok() {
            out.push_str(&format!(
                "OK: the component fits ingest:provider/adapter-plugin@{}\n",
                contract::CONTRACT_VERSION
            ));
        } else {
            out.push_str(&format!(
                "FAILED: {} problem(s); the host would refuse this component\n",
                self.problems.len()
            ));
        }
        out
    }

    /// The file, its size and digest, its exports and whether the contract matches.
    fn render_component(&self, out: &mut String) {
        line(out, "file", &self.path.display().to_string());
        line(
            out,
            "component",
            &format!(
                "{:.1} KiB, sha256 {}, compiled in {:.2} s",
                self.size as f64 / 1024.0,
                self.digest.get(..16).unwrap_or_default(),
                self.compile_time.as_secs_f64()
            ),
        );
        let exports = if self.exports.is_empty() {
            "(nothing)".to_string()
        } else {
            self.exports.join(", ")
        };
        line(out, "exports", &exports);
        let export = |interface: &str| {
            self.exports
                .iter()
                .find(|e| contract::interface_in_line(e) == Some(interface))
        };
        if let Some(provider) = export("provider") {
            let updater = match export("updater") {
                Some(_) => "exports the updater (update can be offered)",
                None => "no updater export (update is answered 501)",
            };
            line(
                out,
                "contract",
                &format!(
                    "{provider} — this host speaks {}: compatible; {updater}",
                    contract::CONTRACT_VERSION
                ),
            );
        }
    }

    /// The imports by class: the contract's, stubbed WASI, unknown.
    fn render_imports(&self, out: &mut String) {
        for (class, label) in [
            (ImportClass::Contract, "imports"),
            (ImportClass::Stubbed, ""),
            (ImportClass::Unknown, ""),
        ] {
            let names: Vec<&str> = self
                .imports
                .iter()
                .filter(|(_, c)| *c == class)
                .map(|(n, _)| n.as_str())
                .collect();
            if names.is_empty() {
                continue;
            }
            let what = match class {
                ImportClass::Contract => "the contract's host interfaces",
                ImportClass::Stubbed => {
                    "not in the world: linked so language runtimes start, with nothing behind them"
                }
                ImportClass::Unknown => "NOT PROVIDED by this host",
            };
            line(out, label, &format!("{} ({what})", names.join(", ")));
        }
    }
}

/// One `label  text` line of the report.
fn line(out: &mut String, label: &str, text: &str) {
    out.push_str(&format!("  {label:<13} {text}\n"));
}

/// What `describe` said, a line a field.
fn render_describe(description: &Description, out: &mut String) {
    let info = &description.info;
    line(
        out,
        "plugin",
        &format!("{} {} ({})", info.name, info.version, info.vendor),
    );
    line(
        out,
        "directions",
        &join(info.directions.iter().map(|d| direction_name(*d))),
    );
    line(
        out,
        "operations",
        &join(info.operations.iter().map(|o| operation_name(*o))),
    );
    line(
        out,
        "hosts",
        &join(info.default_hosts.iter().map(String::as_str)),
    );
    if description.secrets.is_empty() {
        line(out, "secrets", "(none)");
    }
    for (i, secret) in description.secrets.iter().enumerate() {
        let what = if secret.description.is_empty() {
            String::new()
        } else {
            format!(" — {}", secret.description)
        };
        line(
            out,
            if i == 0 { "secrets" } else { "" },
            &format!(
                "{} ({}){what}",
                secret.name,
                if secret.required {
                    "required"
                } else {
                    "optional"
                },
            ),
        );
    }
    if !description.has_catalog {
        line(
            out,
            "",
            "(no secret-catalog export: only the required secrets are known; see the plugin's README for optional ones)",
        );
    }
    if info.config_keys.is_empty() {
        line(out, "config keys", "(none)");
    }
    for (i, key) in info.config_keys.iter().enumerate() {
        line(
            out,
            if i == 0 { "config keys" } else { "" },
            &format!(
                "{}{} — {}",
                key.name,
                if key.required { " (required)" } else { "" },
                key.description
            ),
        );
    }
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = items.collect();
    if v.is_empty() {
        "(none)".to_string()
    } else {
        v.join(", ")
    }
}

/// `describe`'s answer as JSON, with the API's spellings.
pub fn info_json(description: &Description) -> serde_json::Value {
    let info = &description.info;
    serde_json::json!({
        "name": info.name,
        "version": info.version,
        "vendor": info.vendor,
        "directions": info.directions.iter().map(|d| direction_name(*d)).collect::<Vec<_>>(),
        "operations": info.operations.iter().map(|o| operation_name(*o)).collect::<Vec<_>>(),
        "config_keys": info.config_keys.iter().map(|k| serde_json::json!({
            "name": k.name, "required": k.required, "description": k.description,
        })).collect::<Vec<_>>(),
        "secrets": description.secrets.iter().map(|s| serde_json::json!({
            "name": s.name, "required": s.required, "description": s.description,
        })).collect::<Vec<_>>(),
        "secret_catalog": description.has_catalog,
        "default_hosts": info.default_hosts,
    })
}

/// Whether `v` looks like a semver version (`MAJOR.MINOR.PATCH`, optional `-pre` / `+build`).
pub fn is_semver(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Checks the component at `path`. `Err` only when the file cannot be read or the runtime
/// cannot start; everything about the component itself is in the report.
/// `runtime`: the settings it loads under ([`crate::kit_runtime`]); its `cache_dir`, when
/// set, keeps the compiled artifact (a temporary directory otherwise).
pub async fn check(
    path: &Path,
    runtime: ingest_gateway::RuntimeConfig,
) -> anyhow::Result<CheckReport> {
    let bytes =
        std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let name = plugin_name(path);
    let cache_dir = runtime.cache_dir.clone();
    let runtime = Runtime::new(runtime)?;
    let scratch = super::TempDir::new("check")?;
    let artifacts = cache_dir.as_deref().unwrap_or(scratch.path());
    let compiled = contract::compile(&runtime, &name, &bytes, artifacts)?;

    let mut report = CheckReport {
        path: path.to_path_buf(),
        size: bytes.len(),
        digest: compiled.digest,
        compile_time: compiled.compile_time,
        exports: compiled.exports,
        imports: compiled.imports,
        problems: Vec::new(),
        warnings: Vec::new(),
        info: None,
        describe_time: None,
    };
    let version = match compiled.loaded {
        Ok(v) => v,
        Err(LoadError::World { problems, .. }) => {
            report.problems = problems;
            return Ok(report);
        }
        Err(e) => {
            report.problems.push(e.to_string());
            return Ok(report);
        }
    };
    let (described, took) = contract::describe(&runtime, &version).await;
    report.describe_time = Some(took);
    match described {
        Ok(info) => {
            report.warnings = info_warnings(&info.info);
            report.info = Some(info);
        }
        Err(e) => report.problems.push(format!(
            "describe failed with an empty config ({}): {}; describe must answer before the \
             plugin is configured (report config problems from start/stop/status instead)",
            e.kind.as_str(),
            e.detail
        )),
    }
    Ok(report)
}

/// Things in a describe answer worth fixing.
pub fn info_warnings(info: &types::ProviderInfo) -> Vec<String> {
    let mut w = Vec::new();
    if info.name.trim().is_empty() {
        w.push("describe: `name` is empty".to_string());
    }
    if !is_semver(&info.version) {
        w.push(format!(
            "describe: `version` `{}` is not semver (MAJOR.MINOR.PATCH); operators read it in \
             `x-ingest-plugin` and /v1/providers",
            info.version
        ));
    }
    if info.directions.is_empty() {
        w.push("describe: no directions: the gateway will refuse every start".to_string());
    }
    if !info.operations.contains(&types::Operation::Start) {
        w.push("describe: `start` is not among the operations".to_string());
    }
    for host in &info.default_hosts {
        if HostPort::parse(host).is_none() {
            w.push(format!(
                "describe: default host `{host}` is not `host:port`; the egress policy ignores it"
            ));
        }
    }
    if info.default_hosts.is_empty() {
        w.push(
            "describe: no default hosts: every vendor request is refused unless the operator \
             sets `endpoint` or `allow_hosts`"
                .to_string(),
        );
    }
    w
}

/// The registry name of a component file: its stem, `_` read as `-` (as the gateway names a
/// plugin it loads from a directory).
pub fn plugin_name(path: &Path) -> String {
    ingest_gateway::config::plugin_name(path).unwrap_or_else(|| "plugin".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver() {
        for ok in ["0.1.0", "1.2.3-rc.1", "10.0.0+build.5"] {
            assert!(is_semver(ok), "{ok}");
        }
        for bad in ["", "1", "1.2", "1.2.x", "v1.2.3", "1..3"] {
            assert!(!is_semver(bad), "{bad}");
        }
    }
}
