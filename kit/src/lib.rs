//! The plugin author's kit: `ingest-gateway plugin new | check | test | keygen | sign | push`.
//!
//! A crate of its own, built on the gateway library's public API only: [`ingest_gateway::inspect`]
//! compiles, validates and describes a component, [`ingest_gateway::Gateway::call`] runs a case
//! in dry-run mode, [`ingest_gateway::publish`] signs and pushes.
//!
//! - [`scaffold`] (`plugin new`): writes a ready-to-build adapter from the templates in
//!   `examples/plugin-template` (Rust) and `examples/plugin-template-js` (JavaScript), which
//!   are embedded in the binary so the command works anywhere.
//! - [`check`] (`plugin check`): compiles a component, validates it against the
//!   `ingest:provider/adapter-plugin` world with the host's own loader ([`ingest_gateway::inspect::compile`]),
//!   lists what it imports and exports, and prints what its `describe` says with an empty
//!   config.
//! - [`runner`] (`plugin test`): a conformance runner. Each [`case`] is one recorded exchange
//!   (input, provider config, fake secrets, the vendor requests the plugin must make, the
//!   vendor responses to play back, the normalized result); it runs through the real host in
//!   dry-run mode with a fixed clock and nonce, and [`matcher`] compares what happened with
//!   what the case expects, field by field, with placeholders for what legitimately varies.
//!
//! - [`publish`] (`plugin keygen | sign | push`): signing keys, detached and registry
//!   signatures, and publishing a component to an OCI registry.
//!
//! Nothing but `push` and `sign oci://…` reaches the network: `check` gives the plugin an
//! egress policy that allows nothing, and `test` answers every vendor request from the case.

pub mod case;
pub mod check;
pub mod matcher;
pub mod publish;
pub mod runner;
pub mod scaffold;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use tracing::instrument::WithSubscriber as _;

/// Exit status when every check or case passed.
const EXIT_OK: u8 = 0;
/// Exit status when a check or a case failed.
const EXIT_FAILED: u8 = 1;

/// The `plugin` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum PluginCommand {
    /// Write a ready-to-build adapter skeleton (a fictitious vendor, a unit test and sample
    /// conformance cases) into a new directory.
    New {
        /// The plugin's name: lowercase letters, digits and `-`, starting with a letter.
        name: String,
        /// The language of the skeleton.
        #[arg(long, value_enum, default_value_t = scaffold::Lang::Rust)]
        lang: scaffold::Lang,
        /// Where to write it (default: `./NAME`). Must not exist, or be empty.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Rust: the path of the `ingest-plugin-sdk` crate written into Cargo.toml, as given
        /// (a relative path stays relative to the new crate). Default: the SDK of the source
        /// tree this binary was built from, as an absolute path.
        #[arg(long, value_name = "PATH")]
        sdk_path: Option<String>,
    },
    /// Validate a component against the ingest:provider/adapter-plugin world and print what
    /// its `describe` says (run with an empty config).
    Check {
        /// The component (`.wasm`).
        file: PathBuf,
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
        /// Load the component under this gateway config file's `[runtime]` settings (what
        /// `serve --config` reads: pooling, `max_core_instances_per_component`,
        /// `memory_limit_bytes` …) instead of the defaults; its `cache_dir`, when set, keeps
        /// the compiled artifact.
        #[arg(long, value_name = "FILE")]
        gateway_config: Option<PathBuf>,
    },
    /// Run conformance cases (recorded exchanges) against a component, through the host in
    /// dry-run mode with a fixed clock and nonce; print a pass/fail table and a diff for each
    /// failure.
    Test {
        /// The component (`.wasm`).
        file: PathBuf,
        /// A directory of cases (`*.json`, `*.toml`), or one case file.
        #[arg(long)]
        cases: PathBuf,
        /// Defaults for every case (JSON or TOML: `endpoint`, `config`, `secrets`, `now`,
        /// `nonce`); a case's own values win, key by key.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Keep compiled artifacts here between runs (default: a temporary directory, so the
        /// component is compiled once per run).
        #[arg(long, value_name = "DIR")]
        cache_dir: Option<PathBuf>,
        /// Run only the cases whose name contains this text.
        #[arg(long)]
        filter: Option<String>,
        /// Run the cases under this gateway config file's `[runtime]` settings (what `serve
        /// --config` reads) instead of the defaults.
        #[arg(long, value_name = "FILE")]
        gateway_config: Option<PathBuf>,
        /// Also print, for every case, what the plugin actually did, in the case format (a
        /// starting point for a new case: replace what varies by placeholders).
        #[arg(long)]
        show_actual: bool,
        /// Show the host's log lines (hidden by default; plugin log lines are shown with a
        /// failure either way).
        #[arg(long)]
        verbose: bool,
    },
    /// Make a signing key pair: `PREFIX.key` (unencrypted PKCS#8 PEM, mode 0600; keep it
    /// secret) and `PREFIX.pub` (what `[plugins] trusted_keys` lists).
    Keygen {
        /// The files' path without extension.
        prefix: PathBuf,
        /// The algorithm.
        #[arg(long, value_enum, default_value_t = KeyAlgorithm::EcdsaP256)]
        algorithm: KeyAlgorithm,
    },
    /// Sign a component: a file gets `FILE.sig` beside it (what the watched directory, the
    /// config and `x-ingest-signature` uploads read; `cosign sign-blob`'s format); an
    /// `oci://…` reference gets a cosign signature in its registry.
    Sign {
        /// The private key (unencrypted PKCS#8 PEM: `plugin keygen` or `openssl genpkey`).
        #[arg(long)]
        key: PathBuf,
        /// A component file, or `oci://REGISTRY/REPOSITORY:TAG`.
        target: String,
        /// Reach the registry over plain HTTP (a registry on loopback).
        #[arg(long)]
        insecure: bool,
        /// Log in to the registry as this user; the password or token is read from the
        /// environment variable INGEST_REGISTRY_PASSWORD.
        #[arg(long)]
        user: Option<String>,
    },
    /// Publish a component to an OCI registry as a Wasm artifact
    /// (`application/vnd.wasm.config.v0+json`, one `application/wasm` layer); with --key,
    /// its cosign signature too, published before the tag moves. Prints the manifest digest.
    Push {
        /// The component (`.wasm`).
        file: PathBuf,
        /// `oci://REGISTRY/REPOSITORY:TAG`.
        reference: String,
        /// Sign it with this private key.
        #[arg(long)]
        key: Option<PathBuf>,
        /// Reach the registry over plain HTTP (a registry on loopback).
        #[arg(long)]
        insecure: bool,
        /// Log in to the registry as this user; the password or token is read from the
        /// environment variable INGEST_REGISTRY_PASSWORD.
        #[arg(long)]
        user: Option<String>,
    },
}

/// The algorithm of a key `plugin keygen` makes (the command line's spelling of
/// [`Algorithm`](ingest_gateway::publish::Algorithm)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyAlgorithm {
    /// ECDSA on P-256 with SHA-256 (cosign's default).
    EcdsaP256,
    /// Ed25519.
    Ed25519,
}

impl From<KeyAlgorithm> for ingest_gateway::publish::Algorithm {
    fn from(a: KeyAlgorithm) -> Self {
        match a {
            KeyAlgorithm::EcdsaP256 => Self::EcdsaP256,
            KeyAlgorithm::Ed25519 => Self::Ed25519,
        }
    }
}

/// Runs one `plugin` subcommand; the exit status is 0 when everything passed, 1 when a check
/// or a case failed. Usage errors (unreadable files, bad arguments) are `Err`.
pub async fn run(command: PluginCommand) -> anyhow::Result<ExitCode> {
    match command {
        PluginCommand::Keygen { prefix, algorithm } => {
            let (key, public, id) = publish::keygen(&prefix, algorithm.into())?;
            println!(
                "wrote {} (secret) and {} (key id {id})",
                key.display(),
                public.display()
            );
            println!(
                "trust it: [plugins] trusted_keys = [\"{}\"]",
                public.display()
            );
        }
        PluginCommand::Sign {
            key,
            target,
            insecure,
            user,
        } => sign(&key, &target, publish::Access { insecure, user }).await?,
        PluginCommand::Push {
            file,
            reference,
            key,
            insecure,
            user,
        } => {
            let access = publish::Access { insecure, user };
            let digest = publish::push(&file, &reference, key.as_deref(), &access).await?;
            println!("{digest}");
        }
        PluginCommand::New {
            name,
            lang,
            dir,
            sdk_path,
        } => new(&name, lang, dir, sdk_path.as_deref())?,
        PluginCommand::Check {
            file,
            json,
            gateway_config,
        } => {
            let runtime = kit_runtime(gateway_config.as_deref())?;
            // The host's own log lines (compiling, loading) would only repeat the report.
            let report = check::check(&file, runtime)
                .with_subscriber(tracing::subscriber::NoSubscriber::default())
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report.to_json())?);
            } else {
                print!("{}", report.render());
            }
            return Ok(exit_code(report.ok()));
        }
        PluginCommand::Test {
            file,
            cases,
            config,
            cache_dir,
            filter,
            gateway_config,
            show_actual,
            verbose,
        } => {
            let options = runner::RunOptions {
                defaults: config,
                cache_dir,
                filter,
                quiet: !verbose,
                runtime: kit_runtime(gateway_config.as_deref())?,
            };
            let report = runner::run(&file, &cases, &options).await?;
            print!("{}", report.render(show_actual));
            return Ok(exit_code(report.passed()));
        }
    }
    Ok(ExitCode::from(EXIT_OK))
}

/// 0 when everything passed, 1 when a check or a case failed.
fn exit_code(passed: bool) -> ExitCode {
    ExitCode::from(if passed { EXIT_OK } else { EXIT_FAILED })
}

/// `plugin sign`: a registry reference gets a cosign signature pushed beside it, a file a
/// detached signature written beside it.
async fn sign(key: &Path, target: &str, access: publish::Access) -> anyhow::Result<()> {
    if target.starts_with("oci://") {
        let (digest, id) = publish::sign_reference(key, target, &access).await?;
        println!("signed {target} ({digest}) with key {id}");
    } else {
        let (path, id) = publish::sign_file(key, Path::new(target))?;
        println!("wrote {} (key {id})", path.display());
    }
    Ok(())
}

/// `plugin new`: writes the project and says what to do next.
fn new(
    name: &str,
    lang: scaffold::Lang,
    dir: Option<PathBuf>,
    sdk_path: Option<&str>,
) -> anyhow::Result<()> {
    let dir = dir.unwrap_or_else(|| PathBuf::from(name));
    let written = scaffold::generate(name, lang, &dir, sdk_path)?;
    println!(
        "wrote {} files for plugin `{name}` into {}:",
        written.len(),
        dir.display()
    );
    for path in &written {
        println!("  {}", path.display());
    }
    println!();
    println!("{}", scaffold::next_steps(name, lang, &dir));
    Ok(())
}

/// The runtime limits the kit's commands use: the defaults, with a small instance pool (one
/// call runs at a time).
///
/// The kit checks behaviour, not speed: calls run optimized code (no baseline tier: the first
/// case pays the optimizing compile, the artifact cache serves the rest), and a step may take
/// up to [`KIT_STEP_BUDGET_MS`] of CPU time, so a slow machine does not fail a case on
/// the gateway's 100 ms default (`scripts/bench` measures speed).
fn kit_runtime_config() -> ingest_gateway::RuntimeConfig {
    ingest_gateway::RuntimeConfig {
        max_concurrent_calls: 4,
        tiered: false,
        step_budget_ms: KIT_STEP_BUDGET_MS,
        ..ingest_gateway::RuntimeConfig::default()
    }
}

/// The runtime settings of `plugin check` and `plugin test`: the `[runtime]` table of
/// `gateway_config` (a gateway config file, read and validated as `serve --config` reads it;
/// the defaults without one), with the kit's small pool, optimized code only, and a step
/// budget of at least [`KIT_STEP_BUDGET_MS`] (see [`kit_runtime_config`]).
pub fn kit_runtime(gateway_config: Option<&Path>) -> anyhow::Result<ingest_gateway::RuntimeConfig> {
    let kit = kit_runtime_config();
    let Some(path) = gateway_config else {
        return Ok(kit);
    };
    let config = ingest_gateway::Config::load(path)
        .map_err(|e| anyhow::anyhow!("--gateway-config {}: {e}", path.display()))?;
    Ok(ingest_gateway::RuntimeConfig {
        max_concurrent_calls: kit.max_concurrent_calls,
        tiered: kit.tiered,
        step_budget_ms: config.runtime.step_budget_ms.max(kit.step_budget_ms),
        call_deadline_ms: config.runtime.call_deadline_ms.max(kit.step_budget_ms),
        ..config.runtime
    })
}

/// The step budget of the kit's gateways, milliseconds.
const KIT_STEP_BUDGET_MS: u64 = 1000;

/// A directory removed (with its contents) when dropped.
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    /// A new, empty directory under the system's temporary directory.
    fn new(purpose: &str) -> std::io::Result<Self> {
        let mut random = [0u8; 6];
        let _ = getrandom::fill(&mut random);
        let dir = std::env::temp_dir().join(format!(
            "ingest-gateway-{purpose}-{}-{}",
            std::process::id(),
            hex::encode(random)
        ));
        std::fs::create_dir_all(&dir)?;
        Ok(Self(dir))
    }

    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
