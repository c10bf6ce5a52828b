//! `aerie demo`: an MCM and three CMs on loopback with fresh data dirs, converted and
//! registered through the same CLI commands an operator types, with simulated sensor
//! traffic into each CM.

use std::path::{Path, PathBuf};

use aerie_client::{Client, Fingerprint};
use aerie_server::{Config, ConfigLayer, Running};
use anyhow::{Context, bail};
use tokio_util::sync::CancellationToken;

use crate::simulate::{self, Plan};

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Where to keep the demo's data dirs (default: a fresh directory under the system temp dir).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The HTTPS port of every node; each listens on its own loopback address
    /// (the MCM on 127.0.0.1, the CMs on 127.0.0.2–4).
    #[arg(long, default_value_t = 8443)]
    port: u16,
    /// Simulated events per second into each CM.
    #[arg(long, default_value_t = 3.0)]
    rate: f64,
}

const CMS: [(&str, u8); 3] = [
    ("cm-losangeles", 2),
    ("cm-frankfurt", 3),
    ("cm-singapore", 4),
];

async fn node(
    base: &Path,
    name: &str,
    loopback: u8,
    port: u16,
    password: &str,
    shutdown: &CancellationToken,
) -> anyhow::Result<Running> {
    let flags = ConfigLayer {
        listen: Some(format!("127.0.0.{loopback}:{port}")),
        hostname: Some(name.to_owned()),
        ..Default::default()
    };
    let config = Config::load(&base.join(name), flags)?;
    aerie_server::start_with_admin(config, shutdown.clone(), Some(password.to_owned()))
        .await
        .with_context(|| format!("start {name}"))
}

/// Types `lines` into the CLI of the node in `dir`, echoing them as a session would show.
async fn operator(dir: PathBuf, name: &str, lines: Vec<String>) -> anyhow::Result<()> {
    let name = name.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let result = aerie_cli::run_lines(&dir, &lines, &mut out);
        for line in &lines {
            println!("  {name}# {}", aerie_cli::grammar::mask(line));
        }
        for line in String::from_utf8_lossy(&out).lines() {
            println!("    {line}");
        }
        result.map_err(|e| anyhow::anyhow!("{name}: {e}"))
    })
    .await?
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    if !(args.rate > 0.0 && args.rate <= 1000.0) {
        bail!("--rate must be from 0 to 1000 events per second");
    }
    let base = match args.data_dir {
        Some(dir) => dir,
        None => std::env::temp_dir().join(format!(
            "aerie-demo-{}",
            chrono::Utc::now().format("%Y%m%d-%H%M%S")
        )),
    };
    std::fs::create_dir_all(&base)
        .with_context(|| format!("cannot create the demo's data dir {}", base.display()))?;
    let log = base.join("aerie.log");
    crate::logging::init_file(&log)
        .with_context(|| format!("cannot open the demo's log {}", log.display()))?;
    let password = format!("demo-{}", &rand::random::<u64>().to_string()[..8]);
    let passphrase = format!("passphrase-{}", rand::random::<u32>());
    let shutdown = CancellationToken::new();
    tokio::spawn(crate::serve::stop_on_signal(shutdown.clone()));

    let mcm = node(&base, "mcm-hq", 1, args.port, &password, &shutdown).await?;
    let mut cms = Vec::new();
    for (name, loopback) in CMS {
        cms.push((
            name,
            node(&base, name, loopback, args.port, &password, &shutdown).await?,
        ));
    }

    println!("\nConfiguring through the appliance CLI:");
    operator(
        base.join("mcm-hq"),
        "mcm-hq",
        vec![
            "cm".into(),
            format!("set mcm ip 127.0.0.1 passphrase {passphrase}"),
        ],
    )
    .await?;
    for (name, _) in &cms {
        let register = format!(
            "set mcm ip {} passphrase {passphrase} username admin",
            mcm.addr
        );
        operator(base.join(name), name, vec!["cm".into(), register]).await?;
    }

    let mut senders = Vec::new();
    for (i, (name, cm)) in cms.iter().enumerate() {
        let client = Client::new(
            &format!("https://{}", cm.addr),
            Fingerprint::of(&cm.cert_der),
        )?;
        let (admin, _) = client
            .login("admin", &password)
            .await
            .with_context(|| format!("log in to {name}"))?;
        let key = admin.create_api_key("demo-sensors").await?.key;
        let sensors = client.with_token(&key);
        let plan = Plan {
            rate: args.rate,
            count: None,
            endpoints: 40,
            seed: rand::random::<u64>() + i as u64,
        };
        let stop = shutdown.clone();
        senders.push(tokio::spawn(async move {
            simulate::send(&sensors, &plan, stop).await
        }));
    }

    println!();
    println!(
        "Aerie demo: an MCM and three CMs with simulated sensor traffic ({} events/s each)",
        args.rate
    );
    println!(
        "  MCM:          https://{}   (login admin / {password})",
        mcm.addr
    );
    for (name, cm) in &cms {
        println!("  {name:13} https://{}", cm.addr);
    }
    println!("  data dirs:    {}", base.display());
    println!("  logs:         {}", log.display());
    println!(
        "  CLI:          aerie cli --data-dir {}",
        base.join("mcm-hq").display()
    );
    println!("  try:          curl -sk https://{}/healthz", mcm.addr);
    println!(
        "                aerie cli --data-dir {} -c cm -c 'show mcm'",
        base.join("cm-losangeles").display()
    );
    println!("Press Ctrl-C to stop.");
    println!();

    for sender in senders {
        let _ = sender.await;
    }
    mcm.wait().await?;
    for (_, cm) in cms {
        cm.wait().await?;
    }
    Ok(())
}
