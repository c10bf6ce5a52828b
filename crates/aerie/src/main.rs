//! The `aerie` binary: parses the command line and dispatches.

mod demo;
mod logging;
mod notify;
mod restore;
mod serve;
mod simulate;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

/// mimalloc: the daemon allocates many short-lived strings (JSON bodies, rows); the
/// system allocator spent a fifth of the sync path's CPU time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "aerie",
    version,
    about = "Aerie: Central Manager and Manager of Central Managers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one appliance (CM or MCM; the role is stored in its data dir).
    Serve(serve::ServeArgs),
    /// The appliance CLI (talks to a running daemon through its data dir).
    Cli {
        #[arg(long, env = "AERIE_DATA_DIR")]
        data_dir: PathBuf,
        /// Run these lines in order and exit.
        #[arg(short = 'c')]
        commands: Vec<String>,
    },
    /// Start an MCM and three CMs on loopback with simulated sensor traffic, configured
    /// through the appliance CLI, and print their URLs and login (logs go to a file in the
    /// demo's data dir).
    Demo(demo::DemoArgs),
    /// Send realistic sensor traffic to a CM's ingest API.
    Simulate(simulate::SimulateArgs),
    /// Restore a backup into a data dir, with its daemon stopped (passphrase from
    /// AERIE_BACKUP_PASSPHRASE, else asked).
    Restore(restore::RestoreArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Cli { data_dir, commands } = &cli.command {
        // The shell runs without the async runtime and keeps its own output clean.
        return ExitCode::from(aerie_cli::run(data_dir, commands) as u8);
    }
    if !matches!(cli.command, Command::Demo(_)) {
        logging::init();
    }
    let runtime = tokio::runtime::Runtime::new().expect("start the async runtime");
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Demo(args) => demo::run(args).await,
            Command::Simulate(args) => simulate::run(args).await,
            Command::Restore(args) => restore::run(args).await,
            Command::Cli { .. } => unreachable!("handled before the runtime starts"),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
