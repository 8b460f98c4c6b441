//! The `ingest-gateway` command: `serve` the API, `call` one plugin operation (with
//! `--dry-run` to print the exact vendor requests without sending them), and the plugin
//! authors' kit (`plugin`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};

use ingest_gateway::config::Config;
use ingest_gateway::error::ConfigError;
use ingest_gateway::types;
use ingest_gateway::{CallOptions, CannedResponse, EgressMode, Gateway, Operation};
use ingest_plugin_kit::{PluginCommand, runner};

#[derive(Parser)]
#[command(
    name = "ingest-gateway",
    version,
    about = "One API in front of many RTC vendors' stream-ingest APIs"
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (and, with --extproc-listen, Envoy's ext_proc gRPC service).
    Serve {
        /// The config file (TOML).
        #[arg(long)]
        config: PathBuf,
        /// Override gateway.listen.
        #[arg(long)]
        listen: Option<String>,
        /// Also serve the Envoy external processing (ext_proc) gRPC service on this address
        /// (overrides gateway.extproc_listen).
        #[arg(long, value_name = "ADDR")]
        extproc_listen: Option<String>,
        /// Do not serve the HTTP API: only the ext_proc service (needs --extproc-listen or
        /// gateway.extproc_listen).
        #[arg(long, conflicts_with = "listen")]
        no_http: bool,
    },
    /// Run one operation through a provider's plugin and print the vendor requests and the
    /// result as one JSON object.
    Call {
        /// The config file (TOML).
        #[arg(long)]
        config: PathBuf,
        /// The provider id.
        #[arg(long)]
        provider: String,
        /// The operation: start, stop, status or update.
        #[arg(value_parser = call_operation_parser())]
        operation: types::Operation,
        /// Input JSON file, or `-` for stdin. start: the API's start body (`provider` may be
        /// left out); stop/status: `{"session_ref": "…"}`; update: the API's update body
        /// (`stream_url`, `options`) plus `"session_ref"`.
        #[arg(long)]
        input: String,
        /// Fixed call timestamp, Unix seconds.
        #[arg(long)]
        now: Option<u64>,
        /// Fixed nonce.
        #[arg(long)]
        nonce: Option<String>,
        /// Send nothing: record each vendor request and answer it from --respond (or with a
        /// transport error).
        #[arg(long)]
        dry_run: bool,
        /// With --dry-run: a JSON file `{"status": 200, "headers": [[k, v]], "body": "…"}`.
        #[arg(long, requires = "dry_run")]
        respond: Option<PathBuf>,
    },
    /// Plugin authors' kit: scaffold an adapter, check a component against the world, run
    /// conformance cases against it.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
}

/// The operations `call` runs (a callback comes from a vendor, not from this command).
fn call_operation_parser() -> impl clap::builder::TypedValueParser<Value = types::Operation> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(["start", "stop", "status", "update"]).try_map(
        |name| {
            ingest_gateway::json::operation_named(&name)
                .ok_or_else(|| format!("unknown operation `{name}`"))
        },
    )
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,wasmtime=warn,cranelift=warn")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// The `ingest-gateway` command: parses the arguments, sets up logging and the async
/// runtime, runs the command, and maps any error to exit code 2 with its chain of causes.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve {
            config,
            listen,
            extproc_listen,
            no_http,
        } => serve(&config, listen, extproc_listen, no_http).await,
        Command::Plugin { command } => ingest_plugin_kit::run(command).await,
        Command::Call {
            config,
            provider,
            operation,
            input,
            now,
            nonce,
            dry_run,
            respond,
        } => {
            let mut config =
                Config::load(&config).with_context(|| format!("loading {}", config.display()))?;
            // A one-shot call keeps what it produces to itself: an event it parses is not
            // written to the serving gateway's store (whose replicas would deliver it).
            config.events.store = Some(ingest_gateway::config::MEMORY_EVENTS_STORE.to_string());
            let gateway = Gateway::from_config(config).await?;
            let options = CallOptions {
                now_ms: now.map(|s| s.saturating_mul(1000)),
                request_id: nonce.as_ref().map(|n| format!("call-{n}")),
                tenant: None,
                nonce,
                mode: call_mode(dry_run, respond.as_deref())?,
            };
            let op = call_operation(operation, &provider, &read_input(&input)?)?;
            let p = gateway
                .provider(&provider)
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .clone();
            let (result, report) = gateway.call(&p, op, options).await;
            let ok = result.is_ok();
            let out = serde_json::json!({
                "provider": provider,
                "requests": report.requests,
                "result": runner::result_json(&result),
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(if ok || dry_run {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

/// The config with the command line's overrides applied and checked.
fn serve_config(
    path: &Path,
    listen: Option<String>,
    extproc_listen: Option<String>,
    no_http: bool,
) -> anyhow::Result<Config> {
    let mut config = Config::load(path).with_context(|| format!("loading {}", path.display()))?;
    if let Some(listen) = listen {
        config.gateway.listen = listen;
    }
    if let Some(addr) = extproc_listen {
        if addr.parse::<std::net::SocketAddr>().is_err() {
            anyhow::bail!("--extproc-listen: `{addr}` is not an address like 127.0.0.1:50051");
        }
        config.gateway.extproc_listen = Some(addr);
    }
    if no_http && config.gateway.extproc_listen.is_none() {
        anyhow::bail!(
            "--no-http leaves nothing to serve: give --extproc-listen ADDR or set gateway.extproc_listen"
        );
    }
    Ok(config)
}

/// Binds a listener, naming the setting when the port is taken.
async fn bind(what: &'static str, addr: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ConfigError::Listen {
            what,
            addr: addr.to_string(),
            source,
        })
        .map_err(Into::into)
}

/// `serve`: every listener bound before serving (a taken port fails start-up as a whole),
/// then the HTTP API and the ext_proc service until Ctrl-C, each letting its in-flight
/// requests finish.
async fn serve(
    path: &Path,
    listen: Option<String>,
    extproc_listen: Option<String>,
    no_http: bool,
) -> anyhow::Result<ExitCode> {
    let config = serve_config(path, listen, extproc_listen, no_http)?;
    let http_addr = (!no_http).then(|| config.gateway.listen.clone());
    let extproc_addr = config.gateway.extproc_listen.clone();
    let admin = config.admin.clone();
    let plugin_dir = config.gateway.plugin_dir.clone();
    let gateway = Arc::new(Gateway::from_config(config).await?);
    gateway.set_config_path(path.to_path_buf());
    tokio::spawn(reload_on_sighup(gateway.clone()));
    // Runtime plugin management: the admin listener and the watched plugin directory.
    if let Some(addr) =
        ingest_gateway_server::start_admin(gateway.clone(), &admin, plugin_dir).await?
    {
        eprintln!("ingest-gateway admin API on http://{addr}");
    }
    let providers: Vec<String> = gateway.providers().iter().map(|p| p.id.clone()).collect();
    let providers = providers.join(", ");
    let http_listener = match &http_addr {
        Some(listen) => {
            let listener = bind("gateway.listen", listen).await?;
            let addr = listener.local_addr()?;
            tracing::info!(%addr, providers = gateway.providers().len(), "ingest gateway listening");
            eprintln!("ingest-gateway listening on http://{addr}  (providers: {providers})");
            Some(listener)
        }
        None => None,
    };
    let extproc_listener = match &extproc_addr {
        Some(listen) => {
            let listener = bind("gateway.extproc_listen", listen).await?;
            let addr = listener.local_addr()?;
            tracing::info!(%addr, "ingest gateway ext_proc service listening");
            eprintln!(
                "ingest-gateway ext_proc (gRPC) listening on {addr}  (providers: {providers})"
            );
            Some(listener)
        }
        None => None,
    };
    // SIGTERM or SIGINT stops both fronts; each lets its in-flight requests finish.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(shut_down_on_signal(gateway.clone(), stop_tx));
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let http = async {
        match http_listener {
            Some(l) => {
                ingest_gateway_server::serve(gateway.clone(), l, stopped(stop_rx.clone())).await
            }
            None => Ok(()),
        }
    };
    let extproc = async {
        match extproc_listener {
            Some(l) => {
                ingest_gateway_server::serve_extproc(gateway.clone(), l, stopped(stop_rx.clone()))
                    .await
            }
            None => Ok(()),
        }
    };
    tokio::try_join!(http, extproc)?;
    Ok(ExitCode::SUCCESS)
}

/// Waits for SIGTERM (what orchestrators send on a rolling update) or SIGINT (Ctrl-C), then
/// drains: `/readyz` answers 503 at once; after `[connections] drain_delay_ms` `stop` tells
/// the listeners to stop accepting, and requests in flight finish. Past `drain_timeout_ms`
/// (counted from the signal) the process exits anyway (0: the deadline is the operator's
/// choice); a second signal exits at once (1).
async fn shut_down_on_signal(gateway: Arc<Gateway>, stop: tokio::sync::watch::Sender<bool>) {
    let signal = next_signal().await;
    let c = gateway.connections();
    let (delay, drain) = (
        Duration::from_millis(c.drain_delay_ms),
        Duration::from_millis(c.drain_timeout_ms),
    );
    gateway.begin_drain();
    tracing::info!(
        signal,
        drain_delay_ms = c.drain_delay_ms,
        drain_timeout_ms = c.drain_timeout_ms,
        "shutting down: /readyz answers 503; then no new connections, requests in flight finish"
    );
    eprintln!(
        "ingest-gateway: {signal}: draining (up to {} ms; a second signal exits at once)",
        drain.as_millis()
    );
    let drained = async {
        tokio::time::sleep(delay).await;
        let _ = stop.send(true);
        tokio::time::sleep(drain.saturating_sub(delay)).await;
    };
    tokio::select! {
        second = next_signal() => {
            tracing::warn!(signal = second, "second signal: exiting without waiting for requests in flight");
            std::process::exit(1);
        }
        () = drained => {
            tracing::warn!(drain_timeout_ms = c.drain_timeout_ms, "drain deadline passed with requests still in flight: exiting");
            std::process::exit(0);
        }
    }
}

/// SIGHUP reloads the config file (see [`Gateway::reload`]); a config that does not load
/// changes nothing, and the log says why.
async fn reload_on_sighup(gateway: Arc<Gateway>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; reload through POST /admin/reload");
                return;
            }
        };
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the config");
            match gateway.reload_file().await {
                Ok(report) => eprintln!(
                    "ingest-gateway: config reloaded (providers: {}; tenants: {})",
                    report.providers.join(", "),
                    report.tenants
                ),
                Err(e) => {
                    tracing::error!(error = %e, "config reload refused: nothing changed");
                    eprintln!("ingest-gateway: config not reloaded, nothing changed: {e}");
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = gateway;
}

/// The next SIGTERM or SIGINT, by name.
async fn next_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the gateway gracefully");
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

/// Live, or dry-run answered from `--respond FILE` (or with a transport error).
fn call_mode(dry_run: bool, respond: Option<&Path>) -> anyhow::Result<EgressMode> {
    if !dry_run {
        return Ok(EgressMode::Live);
    }
    let canned =
        match respond {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                Some(serde_json::from_str::<CannedResponse>(&text).with_context(|| {
                format!(
                    "{}: expected {{\"status\": 200, \"headers\": [[k, v]], \"body\": \"…\"}}",
                    path.display()
                )
            })?)
            }
            None => None,
        };
    Ok(EgressMode::DryRun(canned))
}

/// The operation from `--input` (see `plugin_kit::runner::operation_of`).
fn call_operation(
    operation: types::Operation,
    provider: &str,
    input: &[u8],
) -> anyhow::Result<Operation> {
    let value: serde_json::Value = serde_json::from_slice(input).context("input is not JSON")?;
    Ok(runner::operation_of(operation, &value, provider)??)
}

fn read_input(input: &str) -> anyhow::Result<Vec<u8>> {
    if input == "-" {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf)?;
        Ok(buf)
    } else {
        std::fs::read(input).with_context(|| format!("cannot read {input}"))
    }
}
