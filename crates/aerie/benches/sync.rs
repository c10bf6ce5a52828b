//! Two-process benchmark: a CM and an MCM as users run them (`aerie serve`, separate
//! processes), on SQLite and then on PostgreSQL, in one run. Prints for each backend:
//!
//! 1. ingest over HTTPS into the CM: `AERIE_BENCH_INCIDENTS` events (default
//!    1,000,000), 1,000 per request from 4 concurrent senders, each event a new
//!    incident;
//! 2. bulk sync of those incidents into a fresh MCM, from `set mcm ip …` on the CM until
//!    the MCM holds every one;
//!
//! and PostgreSQL's figure as a ratio of SQLite's. PostgreSQL is the test server
//! (`AERIE_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`), a
//! fresh database per process.
//!
//! Run: `cargo bench -p aerie --bench sync`.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use aerie_client::{Client, traffic::Traffic};
use aerie_proto::events::{EventBatch, MAX_BATCH};

#[path = "../tests/common/node.rs"]
mod node;
use node::{Backend, Node};

const PASSPHRASE: &str = "bench-passphrase";
const SENDERS: usize = 4;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Events `from..to`, each on an endpoint of its own.
fn batch(from: usize, to: usize) -> EventBatch {
    let now = chrono::Utc::now();
    let events = (from..to)
        .map(|i| {
            let mut e = Traffic::new(i as u64, 1).next_event(now);
            e.severity = 0.8;
            e.endpoint_ip = format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
            e
        })
        .collect();
    EventBatch { events }
}

/// Sends `total` events from [`SENDERS`] concurrent senders; returns events/s.
async fn ingest(admin: &Client, total: usize) -> f64 {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let senders: Vec<_> = (0..SENDERS)
        .map(|_| {
            let (admin, next) = (admin.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let from = next.fetch_add(MAX_BATCH, Ordering::Relaxed);
                    if from >= total {
                        return;
                    }
                    let batch = batch(from, total.min(from + MAX_BATCH));
                    admin
                        .post_events(&batch)
                        .await
                        .expect("the CM takes events");
                }
            })
        })
        .collect();
    for s in senders {
        s.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}

/// Incidents the MCM holds of its first CM.
async fn held(mcm: &Client) -> i64 {
    let cms: Vec<serde_json::Value> = mcm.get("/api/v1/cms").await.unwrap();
    cms.first()
        .and_then(|c| c["incident_count"].as_i64())
        .unwrap_or(0)
}

/// Both figures on one backend, or `None` when its server is unreachable.
async fn run(backend: Backend, total: usize) -> Option<(f64, f64)> {
    let base = tempfile::tempdir().unwrap();
    let mut cm = Node::on(backend, base.path(), "cm-bench", "127.0.0.2").await?;
    let mut mcm = Node::on(backend, base.path(), "mcm-bench", "127.0.0.1").await?;
    cm.start();
    let cm_admin = cm.admin().await;
    let ingest_rate = ingest(&cm_admin, total).await;
    println!("  {backend:?}: ingest over HTTPS into the CM: {ingest_rate:.0} events/s");

    mcm.start();
    let mcm_admin = mcm.admin().await;
    mcm.cli(&[
        "cm",
        &format!("set mcm ip 127.0.0.1 passphrase {PASSPHRASE}"),
    ]);
    let started = Instant::now();
    cm.cli(&[
        "cm",
        &format!("set mcm ip {} passphrase {PASSPHRASE}", mcm.listen),
    ]);
    while held(&mcm_admin).await < total as i64 {
        assert!(
            started.elapsed() < Duration::from_secs(1800),
            "the MCM holds {} of {total} after 30 min",
            held(&mcm_admin).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sync_rate = total as f64 / started.elapsed().as_secs_f64();
    println!("  {backend:?}: bulk sync CM -> fresh MCM: {sync_rate:.0} incidents/s");
    Some((ingest_rate, sync_rate))
}

fn main() {
    let total = env_usize("AERIE_BENCH_INCIDENTS", 1_000_000);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        println!(
            "two processes (CM, MCM), {total} incidents, {MAX_BATCH}-event batches from {SENDERS} senders:"
        );
        let sqlite = run(Backend::Sqlite, total).await.expect("SQLite");
        let Some(postgres) = run(Backend::Postgres, total).await else {
            println!("  PostgreSQL unreachable: no PostgreSQL figures");
            return;
        };
        println!("  PostgreSQL / SQLite:");
        println!("    ingest    {:.2}", postgres.0 / sqlite.0);
        println!("    bulk sync {:.2}", postgres.1 / sqlite.1);
    });
}
