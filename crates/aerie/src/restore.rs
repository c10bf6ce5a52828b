//! `aerie restore`: puts a backup back into a stopped appliance's data dir.

use std::{
    io::{BufRead, IsTerminal},
    path::PathBuf,
};

use anyhow::Context;

use aerie_server::restore::{RestoreOptions, restore};

#[derive(clap::Args)]
pub struct RestoreArgs {
    /// The data dir to restore into (its daemon must be stopped).
    #[arg(long, env = "AERIE_DATA_DIR")]
    data_dir: PathBuf,
    /// The backup file (`.aerie-backup`).
    #[arg(long)]
    from: PathBuf,
    /// Restore even over an appliance of the other role, or a backup of a newer schema.
    #[arg(long)]
    force: bool,
    /// `sqlite:PATH` or `postgres://…` (default: the data dir's configuration).
    #[arg(long)]
    database_url: Option<String>,
}

pub async fn run(args: RestoreArgs) -> anyhow::Result<()> {
    let passphrase = match std::env::var("AERIE_BACKUP_PASSPHRASE") {
        Ok(p) => p,
        Err(_) => ask()?,
    };
    let opts = RestoreOptions {
        data_dir: args.data_dir.clone(),
        from: args.from,
        passphrase,
        force: args.force,
        database_url: args.database_url,
    };
    let restored = restore(&opts).await?;
    println!("{}", restored.said());
    println!(
        "Start the appliance: aerie serve --data-dir {}",
        args.data_dir.display()
    );
    Ok(())
}

/// The passphrase from the terminal (not echoed), or a line of standard input.
fn ask() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password("Backup passphrase: ")
            .context("cannot read the passphrase (or set AERIE_BACKUP_PASSPHRASE)");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the passphrase from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
