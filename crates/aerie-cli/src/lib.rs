//! The appliance shell: `aerie cli --data-dir DIR [-c LINE]…`.
//!
//! Basic mode (`host# `) and `cm` mode (`host(cm)# `); the grammar in [`grammar`] gives
//! parsing, `?` help, Enter-on-incomplete help and tab completion; commands reach the
//! running daemon over the owner-only Unix socket in its data dir ([`channel`]).

pub mod channel;
mod commands;
pub mod grammar;
mod session;
mod shell;

use std::path::Path;

pub use shell::{run_interactive, run_lines};

/// Why a command did not run.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The operator's line is wrong; the text says how to fix it.
    #[error("{0}")]
    Input(String),
    /// The daemon refused or could not be reached.
    #[error("{0}")]
    Daemon(String),
}

/// Runs the CLI: the `-c` lines in order if any, else an interactive session.
/// Returns the process exit code.
pub fn run(data_dir: &Path, lines: &[String]) -> i32 {
    let result = if lines.is_empty() {
        run_interactive(data_dir)
    } else {
        run_lines(data_dir, lines, &mut std::io::stdout())
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}
