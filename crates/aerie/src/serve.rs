//! `aerie serve`: one appliance until SIGINT or SIGTERM.

use std::path::PathBuf;

use aerie_server::{Config, ConfigLayer};
use tokio_util::sync::CancellationToken;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Where the appliance keeps its database, certificate and settings.
    #[arg(long, env = "AERIE_DATA_DIR")]
    data_dir: PathBuf,
    /// HTTPS listen address (default 0.0.0.0:443).
    #[arg(long)]
    listen: Option<String>,
    /// `sqlite:PATH` or `postgres://…` (default: SQLite in the data dir).
    #[arg(long)]
    database_url: Option<String>,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let flags = ConfigLayer {
        listen: args.listen,
        database_url: args.database_url,
        ..Default::default()
    };
    let config = Config::load(&args.data_dir, flags)?;
    let shutdown = CancellationToken::new();
    let running = aerie_server::start(config, shutdown.clone()).await?;
    tokio::spawn(stop_on_signal(shutdown));
    running.wait().await
}

/// Cancels `shutdown` on the first SIGINT or SIGTERM.
pub async fn stop_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("install the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    shutdown.cancel();
}
