//! The `ingest-gateway` command: `serve` the API, or `call` one plugin operation (with
//! `--dry-run` to print the exact vendor requests without sending them).

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use ingest_gateway::api::{StartBody, session_json, status_json};
use ingest_gateway::egress::{CannedResponse, EgressMode};
use ingest_gateway::runtime::{Operation, Outcome};
use ingest_gateway::{CallOptions, Config, Gateway};

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
    /// Serve the HTTP API.
    Serve {
        /// The config file (TOML).
        #[arg(long)]
        config: PathBuf,
        /// Override gateway.listen.
        #[arg(long)]
        listen: Option<String>,
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
        /// The operation.
        #[arg(value_enum)]
        operation: CallOp,
        /// Input JSON file, or `-` for stdin. start: the API's start body (`provider` may be
        /// left out); stop/status: `{"session_ref": "…"}`.
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
}

#[derive(Clone, Copy, ValueEnum)]
enum CallOp {
    Start,
    Stop,
    Status,
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

fn main() -> ExitCode {
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
        Command::Serve { config, listen } => {
            let mut config = Config::load(&config)?;
            if let Some(listen) = listen {
                config.gateway.listen = listen;
            }
            let listen = config.gateway.listen.clone();
            let gateway = Arc::new(Gateway::from_config(config).await?);
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
            let addr = listener.local_addr()?;
            tracing::info!(%addr, providers = gateway.providers().count(), "ingest gateway listening");
            eprintln!(
                "ingest-gateway listening on http://{addr}  (providers: {})",
                gateway
                    .providers()
                    .map(|p| p.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            ingest_gateway::server::serve(gateway, listener, async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
            Ok(ExitCode::SUCCESS)
        }
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
            let config = Config::load(&config)?;
            let gateway = Gateway::from_config(config).await?;
            let input = read_input(&input)?;
            let mode = if dry_run {
                let canned = match respond {
                    Some(path) => {
                        let text = std::fs::read_to_string(&path)
                            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
                        Some(serde_json::from_str::<CannedResponse>(&text).map_err(|e| {
                            anyhow::anyhow!("{}: expected {{\"status\": 200, \"headers\": [[k, v]], \"body\": \"…\"}}: {e}", path.display())
                        })?)
                    }
                    None => None,
                };
                EgressMode::DryRun(canned)
            } else {
                EgressMode::Live
            };
            let options = CallOptions {
                now_ms: now.map(|s| s.saturating_mul(1000)),
                request_id: nonce.as_ref().map(|n| format!("call-{n}")),
                nonce,
                mode,
            };
            let p = gateway
                .provider(&provider)
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .clone();
            let op = match operation {
                CallOp::Start => {
                    let mut value: serde_json::Value = serde_json::from_slice(&input)
                        .map_err(|e| anyhow::anyhow!("input is not JSON: {e}"))?;
                    if let Some(map) = value.as_object_mut() {
                        map.entry("provider")
                            .or_insert_with(|| provider.clone().into());
                    }
                    let body = StartBody::parse(value.to_string().as_bytes())
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    Operation::Start(body.to_request())
                }
                CallOp::Stop | CallOp::Status => {
                    #[derive(serde::Deserialize)]
                    #[serde(deny_unknown_fields)]
                    struct RefInput {
                        session_ref: String,
                    }
                    let r: RefInput = serde_json::from_slice(&input).map_err(|e| {
                        anyhow::anyhow!("input must be {{\"session_ref\": \"…\"}}: {e}")
                    })?;
                    if matches!(operation, CallOp::Stop) {
                        Operation::Stop(ingest_gateway::bindings::types::StopRequest {
                            session_ref: r.session_ref,
                        })
                    } else {
                        Operation::Status(ingest_gateway::bindings::types::StatusRequest {
                            session_ref: r.session_ref,
                        })
                    }
                }
            };
            let (result, report) = gateway.call(&p, op, options).await;
            let ok = result.is_ok();
            let result = match result {
                Ok(Outcome::Started(s)) => {
                    let mut v = session_json(&s);
                    v["session_ref"] = s.session_ref.into();
                    serde_json::json!({ "ok": v })
                }
                Ok(Outcome::Status(s)) => serde_json::json!({ "ok": status_json(&s) }),
                Ok(Outcome::Stopped(s)) => {
                    serde_json::json!({ "ok": { "vendor_request_id": s.vendor_request_id } })
                }
                Ok(_) => serde_json::json!({ "ok": null }),
                Err(e) => serde_json::json!({ "error": e.to_problem() }),
            };
            let out = serde_json::json!({
                "provider": provider,
                "requests": report.requests,
                "result": result,
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

fn read_input(input: &str) -> anyhow::Result<Vec<u8>> {
    if input == "-" {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf)?;
        Ok(buf)
    } else {
        std::fs::read(input).map_err(|e| anyhow::anyhow!("cannot read {input}: {e}"))
    }
}
