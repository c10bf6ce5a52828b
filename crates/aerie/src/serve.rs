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
    if let Some(bin) = aerie_server::ops::updates::staged_binary(&args.data_dir) {
        return Err(exec_staged(&bin));
    }
    let data_dir = args.data_dir.clone();
    let flags = ConfigLayer {
        listen: args.listen,
        database_url: args.database_url,
        ..Default::default()
    };
    let config = Config::load(&args.data_dir, flags)?;
    let shutdown = CancellationToken::new();
    // Before the daemon says it listens: a SIGTERM right after must stop it cleanly.
    tokio::spawn(stop_on_signal(shutdown.clone()));
    let running = aerie_server::start(config, shutdown.clone()).await?;
    crate::notify::notify(&format!(
        "READY=1\nSTATUS=listening on https://{}",
        running.addr
    ));
    let stopping = shutdown.clone();
    tokio::spawn(async move {
        stopping.cancelled().await;
        crate::notify::notify("STOPPING=1");
    });
    let restart = running.state.restart.clone();
    let on_restart = shutdown.clone();
    let watch = restart.clone();
    tokio::spawn(async move {
        watch.requested().await;
        on_restart.cancel();
    });
    running.wait().await?;
    if restart.is_requested() {
        // What `current` points at after an update or a rollback to a staged version;
        // the installed binary after a rollback past every update.
        let bin = match aerie_server::ops::updates::current_binary(&data_dir) {
            Some(bin) => bin,
            None => installed_binary()?,
        };
        return Err(exec_staged(&bin));
    }
    Ok(())
}

/// The binary the package installed (not a staged one).
fn installed_binary() -> anyhow::Result<PathBuf> {
    match std::env::var_os(INSTALLED) {
        Some(path) => Ok(PathBuf::from(path)),
        None => Ok(std::env::current_exe()?),
    }
}

/// Carries the installed binary's path to a staged one, for a later rollback.
const INSTALLED: &str = "AERIE_INSTALLED_BINARY";

/// Replaces this process with `bin`, same arguments; returns only if that failed.
fn exec_staged(bin: &std::path::Path) -> anyhow::Error {
    use std::os::unix::process::CommandExt;
    tracing::warn!(bin = %bin.display(), "starting the staged software");
    let installed = match installed_binary() {
        Ok(path) => path,
        Err(e) => return e,
    };
    let err = std::process::Command::new(bin)
        .args(std::env::args_os().skip(1))
        .env(aerie_server::ops::updates::STARTED_FROM_UPDATE, "1")
        .env(INSTALLED, installed)
        .exec();
    anyhow::anyhow!("cannot start {}: {err}", bin.display())
}

/// Cancels `shutdown` on the first SIGINT or SIGTERM; the handlers are in place when this
/// returns (not only once the future runs).
pub fn stop_on_signal(shutdown: CancellationToken) -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("install the SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("install the SIGINT handler");
    async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        shutdown.cancel();
    }
}
