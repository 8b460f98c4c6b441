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

    // The demo gateway generates UserSigs from the same SDKSecretKey: check them.
    let tencent = TencentSim::start_on(
        addr(9101),
        TencentSimConfig::demo().with_sdk_secret_key(ingest_sim::tencent::DEMO_SDK_SECRET_KEY),
    )
    .await
    .context("starting the tencent-trtc simulator")?;
    println!("tencent-trtc simulator listening on {}", tencent.base_url());
    running.push(Box::new(tencent));

    // Further simulators start here, one block each, in port order.

    // RongCloud Cloud Player, 9102.
    let rongcloud = ingest_sim::rongcloud::RongCloudSim::start_on(
        addr(9102),
        ingest_sim::rongcloud::RongCloudSimConfig::demo(),
    )
    .await
    .context("starting the rongcloud simulator")?;
    println!("rongcloud simulator listening on {}", rongcloud.base_url());
    running.push(Box::new(rongcloud));

    // Alibaba ARTC (ApsaraVideo Live), 9103: issued addresses join their channel at once.
    let alibaba = ingest_sim::alibaba::AlibabaSim::start_on(
        addr(9103),
        ingest_sim::alibaba::AlibabaSimConfig::demo(),
    )
    .await
    .context("starting the alibaba-artc simulator")?;
    println!("alibaba-artc simulator listening on {}", alibaba.base_url());
    running.push(Box::new(alibaba));

    // ZEGOCLOUD, 9104: one simulator for RTMP dispatch and the cloud player (by `Action`).
    let zego =
        ingest_sim::zego::ZegoSim::start_on(addr(9104), ingest_sim::zego::ZegoSimConfig::demo())
            .await
            .context("starting the zego simulator (dispatch and cloud player)")?;
    println!(
        "zego simulator (dispatch, cloud player) listening on {}",
        zego.base_url()
    );
    running.push(Box::new(zego));

    // Jocloud Thunder relayed live broadcasting, 9105.
    let jocloud = ingest_sim::jocloud::JocloudSim::start_on(
        addr(9105),
        ingest_sim::jocloud::JocloudSimConfig::demo(),
    )
    .await
    .context("starting the jocloud-thunder simulator")?;
    println!(
        "jocloud-thunder simulator listening on {}",
        jocloud.base_url()
    );
    running.push(Box::new(jocloud));

    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    drop(running);
    Ok(())
}
