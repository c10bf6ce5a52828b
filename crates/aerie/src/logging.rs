//! Log output: human-readable lines on stderr (or, for the demo, in a file), filtered by
//! `AERIE_LOG` (default `info`); under systemd, with stderr going to the journal, events
//! go to journald natively instead, each field of an event a journal field (`F_PATH`,
//! `F_DESTINATION`, …; `journalctl -u aerie -o json-pretty`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

fn filter() -> EnvFilter {
    EnvFilter::try_from_env("AERIE_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,rustls=warn"))
}

pub fn init() {
    // systemd sets JOURNAL_STREAM for a service whose stderr is the journal.
    if std::env::var_os("JOURNAL_STREAM").is_some()
        && let Ok(journald) = tracing_journald::layer()
    {
        use tracing_subscriber::prelude::*;
        tracing_subscriber::registry()
            .with(filter())
            .with(journald.with_syslog_identifier("aerie".to_owned()))
            .init();
        return;
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// Logs to `path` (appended), so that the console keeps a clean transcript.
pub fn init_file(path: &std::path::Path) -> std::io::Result<()> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .init();
    Ok(())
}
