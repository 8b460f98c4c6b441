//! `ingest-sim`: runs every vendor simulator on loopback for the demo, until Ctrl-C.
//!
//! Each simulator has a fixed port (the demo config points at them) and uses its vendor's
//! demo credentials (`…SimConfig::demo()`):
//!
//! | vendor | address |
//! |---|---|
//! | Tencent TRTC | `127.0.0.1:9101` |
//! | RongCloud | `127.0.0.1:9102` |
//! | Alibaba ARTC | `127.0.0.1:9103` |
//! | ZEGOCLOUD (dispatch and cloud player) | `127.0.0.1:9104` |
//! | Jocloud Thunder | `127.0.0.1:9105` |

use std::any::Any;
use std::net::{Ipv4Addr, SocketAddr};

use anyhow::Context as _;
use ingest_sim::tencent::{TencentSim, TencentSimConfig};

const USAGE: &str =
    "usage: ingest-sim   (runs every vendor simulator on 127.0.0.1:9101..9105 until Ctrl-C)";

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if let Some(arg) = std::env::args().nth(1) {
        if arg == "-h" || arg == "--help" {
            println!("{USAGE}");
            return Ok(());
        }
        eprintln!("ingest-sim: unknown argument `{arg}`\n{USAGE}");
        std::process::exit(2);
    }
    // Simulators stop when dropped: keep every one alive until Ctrl-C.
    let mut running: Vec<Box<dyn Any>> = Vec::new();

    let tencent = TencentSim::start_on(addr(9101), TencentSimConfig::demo())
        .await
        .context("starting the tencent-trtc simulator")?;
    println!("tencent-trtc simulator listening on {}", tencent.base_url());
    running.push(Box::new(tencent));

    // Further simulators start here, one block each, in port order.

    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    drop(running);
    Ok(())
}
