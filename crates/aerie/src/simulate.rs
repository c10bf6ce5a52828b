//! `aerie simulate`: sensor traffic at a steady rate into a CM's ingest API.

use std::{net::Ipv4Addr, path::PathBuf, time::Duration};

use aerie_client::{Client, Fingerprint, artifacts, traffic::Traffic};
use aerie_proto::events::{EventBatch, EventIn, MAX_BATCH};
use anyhow::{Context, bail};
use chrono::Utc;
use tokio_util::sync::CancellationToken;

#[derive(clap::Args)]
pub struct SimulateArgs {
    /// The CM's base URL, e.g. https://127.0.0.1:8443.
    #[arg(long)]
    target: String,
    /// An API key of an analyst or admin on the CM.
    #[arg(long, env = "AERIE_API_KEY", hide_env_values = true)]
    api_key: String,
    /// The CM's certificate (PEM), e.g. DIR/tls/cert.pem, to pin.
    #[arg(long, conflicts_with = "fingerprint")]
    cert: Option<PathBuf>,
    /// Or the SHA-256 fingerprint of the CM's certificate, hex.
    #[arg(long)]
    fingerprint: Option<String>,
    /// Events per second.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Stop after this many events (default: run until interrupted).
    #[arg(long)]
    count: Option<u64>,
    /// How many endpoints the traffic targets.
    #[arg(long, default_value_t = 200)]
    endpoints: u32,
    /// Seed of the traffic generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// What a simulation sends and where.
pub struct Plan {
    pub rate: f64,
    pub count: Option<u64>,
    pub endpoints: u32,
    pub seed: u64,
}

pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let pin = match (&args.cert, &args.fingerprint) {
        (Some(path), None) => {
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("read {}", path.display()))?;
            Fingerprint::of_pem(&pem).with_context(|| format!("{}", path.display()))?
        }
        (None, Some(hex)) => hex.parse().context("--fingerprint")?,
        _ => bail!("pin the CM's certificate with --cert FILE or --fingerprint HEX"),
    };
    if !(args.rate > 0.0 && args.rate <= 100_000.0) {
        bail!("--rate must be from 0 to 100000 events per second");
    }
    let client = Client::new(&args.target, pin)?.with_token(&args.api_key);
    let plan = Plan {
        rate: args.rate,
        count: args.count,
        endpoints: args.endpoints,
        seed: args.seed,
    };
    let stop = CancellationToken::new();
    tokio::spawn(crate::serve::stop_on_signal(stop.clone()));
    let sent = send(&client, &plan, stop).await?;
    tracing::info!(sent, "simulation finished");
    Ok(())
}

/// Sends traffic until `count` events went out or `stop` is cancelled; returns how many.
pub async fn send(client: &Client, plan: &Plan, stop: CancellationToken) -> anyhow::Result<u64> {
    const TICK: Duration = Duration::from_millis(100);
    let mut traffic = Traffic::new(plan.seed, plan.endpoints);
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let per_tick = plan.rate * TICK.as_secs_f64();
    let (mut owed, mut sent) = (0.0, 0u64);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return Ok(sent),
            _ = ticker.tick() => {}
        }
        owed += per_tick;
        let mut n = (owed.floor() as usize).min(MAX_BATCH);
        if let Some(count) = plan.count {
            n = n.min((count - sent) as usize);
        }
        if n == 0 {
            continue;
        }
        owed -= n as f64;
        let mut batch = EventBatch {
            events: traffic.batch(n, Utc::now()),
        };
        attach_artifacts(client, &mut batch.events, sent).await;
        match client.post_events(&batch).await {
            Ok(_) => sent += n as u64,
            Err(e) => tracing::warn!("sending {n} events failed: {e}"),
        }
        if plan.count.is_some_and(|c| sent >= c) {
            return Ok(sent);
        }
    }
}

/// Uploads a screenshot and a trace for every detonated event (one with behaviour) and
/// references them; an event whose upload fails goes without.
async fn attach_artifacts(client: &Client, events: &mut [EventIn], seq: u64) {
    for (i, e) in events.iter_mut().enumerate() {
        if e.behaviour.is_none() {
            continue;
        }
        let endpoint = e.endpoint_ip.parse::<Ipv4Addr>().ok();
        let server = e
            .source_ip
            .as_deref()
            .and_then(|ip| ip.parse::<Ipv4Addr>().ok());
        let url = e.source_name.clone().unwrap_or_default();
        let (host, path) = url
            .strip_prefix("http://")
            .and_then(|rest| rest.split_once('/'))
            .map(|(h, p)| (h.to_owned(), format!("/{p}")))
            .unwrap_or_else(|| ("unknown.example".to_owned(), "/".to_owned()));
        let mut files = vec![(artifacts::screenshot(seq + i as u64), "screenshot")];
        if let (Some(endpoint), Some(server)) = (endpoint, server) {
            files.push((artifacts::trace(endpoint, server, &host, &path), "trace"));
        }
        for (bytes, kind) in files {
            match client.upload_artifact(bytes, Some(kind)).await {
                Ok(a) => e.artifacts.push(a.sha256),
                Err(err) => tracing::warn!("uploading a {kind} failed: {err}"),
            }
        }
    }
}
