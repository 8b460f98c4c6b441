//! `ingest-sim`: runs the vendor simulators on loopback for the demo, until Ctrl-C.
//!
//! Usage: `ingest-sim [--tencent ADDR]` (default `127.0.0.1:9101`). The simulators use the demo
//! credentials from `ingest_sim::tencent::TencentSimConfig::demo`.

use std::net::SocketAddr;

use anyhow::{Context as _, bail};
use ingest_sim::tencent::{TencentSim, TencentSimConfig};

/// Where the TRTC simulator listens unless `--tencent` says otherwise.
const DEFAULT_TENCENT_ADDR: &str = "127.0.0.1:9101";

const USAGE: &str = "usage: ingest-sim [--tencent ADDR]   (default 127.0.0.1:9101)";

struct Args {
    tencent: SocketAddr,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Option<Args>> {
    let mut tencent = DEFAULT_TENCENT_ADDR.to_owned();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tencent" => {
                tencent = args.next().context("--tencent needs an address")?;
            }
            "-h" | "--help" => return Ok(None),
            other => bail!("unknown argument `{other}`\n{USAGE}"),
        }
    }
    let tencent = tencent
        .parse()
        .with_context(|| format!("`{tencent}` is not an IP:PORT address"))?;
    Ok(Some(Args { tencent }))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return Ok(());
        }
        Err(err) => {
            eprintln!("ingest-sim: {err:#}");
            std::process::exit(2);
        }
    };
    let tencent = TencentSim::start_on(args.tencent, TencentSimConfig::demo())
        .await
        .context("starting the tencent-trtc simulator")?;
    println!("tencent-trtc simulator listening on {}", tencent.base_url());
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}
