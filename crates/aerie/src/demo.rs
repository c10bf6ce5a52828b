//! `aerie demo`: a CM on loopback with a fresh data dir and simulated sensor traffic.

use std::path::PathBuf;

use aerie_client::{Client, Fingerprint};
use aerie_server::{Config, ConfigLayer, bootstrap::INITIAL_PASSWORD_FILE};
use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::simulate::{self, Plan};

#[derive(clap::Args)]
pub struct DemoArgs {
    /// Where to keep the demo's data (default: a fresh directory under the system temp dir).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The CM's HTTPS address.
    #[arg(long, default_value = "127.0.0.1:8443")]
    listen: String,
    /// Simulated events per second.
    #[arg(long, default_value_t = 5.0)]
    rate: f64,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let data_dir = match args.data_dir {
        Some(dir) => dir,
        None => std::env::temp_dir().join(format!(
            "aerie-demo-{}",
            chrono::Utc::now().format("%Y%m%d-%H%M%S")
        )),
    };
    let flags = ConfigLayer {
        listen: Some(args.listen),
        ..Default::default()
    };
    let config = Config::load(&data_dir, flags)?;
    let shutdown = CancellationToken::new();
    tokio::spawn(crate::serve::stop_on_signal(shutdown.clone()));
    let cm = aerie_server::start(config, shutdown.clone()).await?;

    let password = std::fs::read_to_string(data_dir.join(INITIAL_PASSWORD_FILE))
        .map(|p| p.trim().to_owned())
        .unwrap_or_else(|_| "(the password you set for this data dir)".to_owned());
    let pin = Fingerprint::of(&cm.cert_der);
    let url = format!("https://{}", cm.addr);
    let client = Client::new(&url, pin)?;
    let (admin, _) = client
        .login("admin", &password)
        .await
        .context("log in as admin")?;
    let key = admin.create_api_key("demo-sensors").await?.key;
    let sensors = client.with_token(&key);

    println!();
    println!(
        "Aerie demo: a Central Manager with simulated sensor traffic ({} events/s)",
        args.rate
    );
    println!("  URL:          {url}");
    println!("  login:        admin / {password}");
    println!("  certificate:  SHA-256 {pin}");
    println!("  data dir:     {}", data_dir.display());
    println!(
        "  try:          curl -sk -H 'Authorization: Bearer {key}' '{url}/api/v1/incidents?limit=5'"
    );
    println!("  API document: {url}/api/v1/openapi.json");
    println!("Press Ctrl-C to stop.");
    println!();

    let plan = Plan {
        rate: args.rate,
        count: None,
        endpoints: 60,
        seed: rand::random(),
    };
    let sent = simulate::send(&sensors, &plan, shutdown).await?;
    tracing::info!(sent, "demo traffic stopped");
    cm.wait().await
}
