//! `ingest-embed-example CONFIG [ADDR]`: the gateway's API inside an application's own
//! hyper service (see `lib.rs`).

use std::sync::Arc;

use ingest_gateway::{Config, Gateway};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(config), addr) = (args.next(), args.next()) else {
        anyhow::bail!("usage: ingest-embed-example CONFIG [ADDR]");
    };
    let config = Config::load(std::path::Path::new(&config))?;
    let gateway = Arc::new(Gateway::from_config(config).await?);
    let addr = addr.unwrap_or_else(|| "127.0.0.1:8090".to_string());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("listening on http://{}", listener.local_addr()?);
    ingest_embed_example::serve(gateway, listener).await?;
    Ok(())
}
