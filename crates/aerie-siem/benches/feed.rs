//! The SIEM feed's throughput against raw ingest, in one run, on SQLite and (when
//! `AERIE_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`, answers)
//! PostgreSQL, with a real rsyslog (Debian's) on loopback writing every message to a file:
//!
//! 1. raw ingest: `AERIE_BENCH_INCIDENTS` events (default 100,000), each a new incident,
//!    1,000 per `Store::ingest` call, nothing else running (the baseline);
//! 2. the feed alone: a TCP destination added afterwards sends that table, from its
//!    cursor at the start to the last line in rsyslog's file;
//! 3. both at once: the same ingest into a fresh store with the feed running, and how far
//!    behind the feed is when ingest ends and how long it then takes to catch up.
//!
//! Run: `cargo bench -p aerie-siem --bench feed`.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use aerie_domain::event::NewEvent;
use aerie_siem::{Destination, Format, Forwarder, Protocol, Role, Status, testing::Rsyslog};
use aerie_store::{SqlStore, Store};
use chrono::Utc;
use tokio_util::sync::CancellationToken;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn events(from: usize, n: usize) -> Vec<NewEvent> {
    (from..from + n)
        .map(|i| {
            let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000u32 + i as u32 + 1));
            NewEvent::sample(ip, Utc::now(), [0.3, 0.6, 0.9][i % 3])
        })
        .collect()
}

/// Ingests `total` new incidents; returns the seconds it took.
async fn ingest(store: &dyn Store, total: usize) -> f64 {
    let started = Instant::now();
    for from in (0..total).step_by(1000) {
        store
            .ingest(&events(from, 1000.min(total - from)))
            .await
            .unwrap();
    }
    started.elapsed().as_secs_f64()
}

fn feed(store: &Arc<dyn Store>, r: &Rsyslog) -> (CancellationToken, Arc<Mutex<Status>>) {
    let stop = CancellationToken::new();
    let status = Arc::new(Mutex::new(Status::default()));
    let f = Forwarder {
        destination: Destination {
            host: "127.0.0.1".into(),
            port: r.tcp_port,
            protocol: Protocol::Tcp,
            format: Format::Rfc5424,
            pin: None,
        },
        role: Role::Cm,
        host: "cm-bench".into(),
        store: store.clone(),
        trusted: vec![],
        fips: false,
        status: status.clone(),
    };
    tokio::spawn(f.run(stop.clone()));
    (stop, status)
}

/// Waits until the feed has sent `n` messages and rsyslog's file holds them.
async fn received(r: &Rsyslog, status: &Mutex<Status>, n: usize) {
    while (status.lock().unwrap().sent as usize) < n {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    while r.count() < n {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn measure(name: &str, open: &dyn Fn() -> Opened, total: usize) {
    let r = Rsyslog::start().expect("rsyslog (apt-get install rsyslog rsyslog-gnutls)");
    let (store, _keep) = open().await;
    let ingest_s = ingest(store.as_ref(), total).await;
    let started = Instant::now();
    let (stop, status) = feed(&store, &r);
    received(&r, &status, total).await;
    let feed_s = started.elapsed().as_secs_f64();
    stop.cancel();
    drop(r);

    let r = Rsyslog::start().unwrap();
    let (store, _keep2) = open().await;
    let (stop, status) = feed(&store, &r);
    let both_s = ingest(store.as_ref(), total).await;
    let sent_at_end = status.lock().unwrap().sent as usize;
    let started = Instant::now();
    received(&r, &status, total).await;
    let catch_up = started.elapsed().as_secs_f64();
    stop.cancel();

    let rate = |s: f64| total as f64 / s;
    println!(
        "SIEM feed on {name}: {total} incidents, CEF over TCP (RFC 5424, octet counting) to rsyslog"
    );
    println!(
        "  raw ingest (baseline)       {:9.0} incidents/s",
        rate(ingest_s)
    );
    println!(
        "  feed alone                  {:9.0} messages/s   ratio to ingest {:.2}",
        rate(feed_s),
        rate(feed_s) / rate(ingest_s)
    );
    println!(
        "  ingest with the feed on     {:9.0} incidents/s  ratio to baseline {:.2}; the feed had sent {sent_at_end} ({:.0} %) when ingest ended, and the rest {catch_up:.2} s later",
        rate(both_s),
        rate(both_s) / rate(ingest_s),
        100.0 * sent_at_end as f64 / total as f64
    );
}

/// A fresh store (and the directory that must outlive it, on SQLite).
type Opened = std::pin::Pin<
    Box<dyn std::future::Future<Output = (Arc<dyn Store>, Option<tempfile::TempDir>)>>,
>;

fn main() {
    let total = env_usize("AERIE_BENCH_INCIDENTS", 100_000);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let sqlite = || -> Opened {
            Box::pin(async {
                let dir = tempfile::tempdir().unwrap();
                let store = SqlStore::open(&SqlStore::sqlite_url(dir.path()))
                    .await
                    .unwrap();
                (Arc::new(store) as Arc<dyn Store>, Some(dir))
            })
        };
        measure("SQLite", &sqlite, total).await;
        if aerie_store::testing::fresh_postgres_url().await.is_some() {
            let postgres = || -> Opened {
                Box::pin(async {
                    let url = aerie_store::testing::fresh_postgres_url().await.unwrap();
                    let store = SqlStore::open(&url).await.unwrap();
                    (Arc::new(store) as Arc<dyn Store>, None)
                })
            };
            measure("PostgreSQL", &postgres, total).await;
        }
    });
}
