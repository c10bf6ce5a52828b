//! The cost of cross-CM correlation on the MCM's side of sync. On SQLite and (when
//! `AERIE_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`, answers)
//! PostgreSQL, two fresh MCM stores — correlation off (the baseline) and on (the
//! server's follower running beside the sync, as in `aerie serve`) — take the same sync
//! batches from three CMs whose incidents share files and source domains, and the bench
//! prints for each, in the same run:
//!
//! - latency: `Store::apply_sync` of a batch of one incident (what a CM sends as an
//!   incident happens), median and p99 of `AERIE_BENCH_SINGLES` (default 2,000);
//! - throughput: batches of 1,000 (a resync), `AERIE_BENCH_ROWS` incidents (default
//!   300,000) in all;
//! - with correlation on: how long after the last batch the follower had read
//!   everything, and its rate over the whole run;
//!
//! and the ratio on / off. Run: `cargo bench -p aerie-server --bench correlation`.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::{sync::Arc, time::Instant};

use aerie_domain::{
    federation::{CmRegistration, SyncBatch},
    ids::CmId,
    incident::{Incident, IncidentId},
    text::{Sha256Hex, Text},
};
use aerie_store::{SqlStore, Store, prelude::*};
use chrono::Utc;

mod seed;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Incident `i` of a CM as it syncs: a file and a source of a few hundred distinct ones,
/// so that the three CMs share them.
fn incident(template: &Incident, i: usize) -> Incident {
    let mut inc = template.clone();
    inc.id = IncidentId::new(i as i64 + 1);
    inc.version = 1;
    inc.change_seq = i as i64 + 1;
    let f = seed::seed_event(seed::start_time(), i);
    inc.facts.last_activity = f.time;
    inc.facts.first_seen = f.time;
    inc.facts.file_sha256 = Some(Sha256Hex::parse("f", &format!("{:064x}", i % 500)).unwrap());
    inc.facts.source_name = Some(Text::from_trusted(format!(
        "http://drop{}.evil.example/p/{i}",
        i % 300
    )));
    inc
}

async fn template() -> Incident {
    let dir = tempfile::tempdir().unwrap();
    let cm = SqlStore::open(&SqlStore::sqlite_url(dir.path()))
        .await
        .unwrap();
    cm.ingest(&[seed::seed_event(seed::start_time(), 0)])
        .await
        .unwrap();
    cm.changes_since(0, 1).await.unwrap().remove(0)
}

async fn cms(store: &dyn Store) -> Vec<CmId> {
    let mut ids = Vec::new();
    for n in 0..3 {
        let reg = CmRegistration {
            uid: format!("bench-{n}"),
            name: aerie_domain::net::HostName::parse("name", &format!("cm-{n}")).unwrap(),
            url: "https://127.0.0.2:1".into(),
            ip: std::net::Ipv4Addr::LOCALHOST.into(),
            version: "0".into(),
            fips: false,
            cert_fingerprint: aerie_domain::net::CertFingerprint::parse("f", &["AB"; 32].join(":"))
                .unwrap(),
            credential_hash: format!("h{n}"),
        };
        ids.push(store.register_cm(&reg, Utc::now()).await.unwrap().id);
    }
    ids
}

struct Figures {
    median_ms: f64,
    p99_ms: f64,
    rate: f64,
    campaigns: usize,
    /// On: seconds from the last batch until the follower had read everything, and the
    /// follower's rows per second over the whole run.
    caught_up: Option<(f64, f64)>,
}

async fn run(
    store: Arc<dyn Store>,
    on: bool,
    singles: usize,
    rows: usize,
    t: &Incident,
) -> Figures {
    store.set_correlation(on);
    let cms = cms(store.as_ref()).await;
    let stop = tokio_util::sync::CancellationToken::new();
    let began = Instant::now();
    if on {
        tokio::spawn(aerie_server::ops::correlation::follow(
            store.clone(),
            stop.clone(),
        ));
    }
    let mut times = Vec::with_capacity(singles);
    for i in 0..singles {
        let inc = incident(t, i);
        let batch = SyncBatch {
            high_seq: inc.change_seq,
            upserts: vec![inc],
            ..Default::default()
        };
        let started = Instant::now();
        store
            .apply_sync(cms[i % 3], &batch, Utc::now())
            .await
            .unwrap();
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let started = Instant::now();
    for first in (singles..singles + rows).step_by(1000) {
        let upserts: Vec<Incident> = (first..(first + 1000).min(singles + rows))
            .map(|i| incident(t, i))
            .collect();
        let batch = SyncBatch {
            high_seq: upserts.last().unwrap().change_seq,
            upserts,
            ..Default::default()
        };
        store
            .apply_sync(cms[(first / 1000) % 3], &batch, Utc::now())
            .await
            .unwrap();
    }
    let rate = rows as f64 / started.elapsed().as_secs_f64();
    let synced = Instant::now();
    let caught_up = if on {
        while store.correlation_behind().await.unwrap() > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let all = began.elapsed().as_secs_f64();
        Some((
            synced.elapsed().as_secs_f64(),
            (singles + rows) as f64 / all,
        ))
    } else {
        None
    };
    stop.cancel();
    let since = seed::start_time() - chrono::TimeDelta::days(1);
    Figures {
        caught_up,
        median_ms: times[times.len() / 2],
        p99_ms: times[times.len() * 99 / 100],
        rate,
        campaigns: store.campaigns(since, 10_000).await.unwrap().len(),
    }
}

async fn measure(
    name: &str,
    open: impl Fn() -> futures::future::BoxFuture<'static, (Arc<dyn Store>, Option<String>)>,
    singles: usize,
    rows: usize,
) {
    let t = template().await;
    let (off_store, off_url) = open().await;
    let off = run(off_store, false, singles, rows, &t).await;
    let (on_store, on_url) = open().await;
    let on = run(on_store, true, singles, rows, &t).await;
    println!(
        "correlation on {name}: {singles} single-incident batches, then {rows} incidents in batches of 1,000, from 3 CMs"
    );
    for (label, f) in [("off (baseline)", &off), ("on", &on)] {
        println!(
            "  {label:15} apply of one: median {:6.3} ms  p99 {:6.3} ms   batches of 1,000: {:8.0} incidents/s   campaigns {}",
            f.median_ms, f.p99_ms, f.rate, f.campaigns
        );
        if let Some((after, rate)) = f.caught_up {
            println!(
                "  {:15} follower caught up {after:.2} s after the last batch; {rate:.0} incidents/s over the run",
                ""
            );
        }
    }
    println!(
        "  ratio on / off: latency {:.2} (median), {:.2} (p99); throughput {:.2}",
        on.median_ms / off.median_ms,
        on.p99_ms / off.p99_ms,
        on.rate / off.rate
    );
    for url in [off_url, on_url].into_iter().flatten() {
        seed::drop_database(&url).await;
    }
}

fn main() {
    let singles = env_usize("AERIE_BENCH_SINGLES", 2_000);
    let rows = env_usize("AERIE_BENCH_ROWS", 300_000);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let dirs: Arc<std::sync::Mutex<Vec<tempfile::TempDir>>> = Default::default();
        let keep = dirs.clone();
        measure(
            "SQLite",
            move || {
                let keep = keep.clone();
                Box::pin(async move {
                    let dir = tempfile::tempdir().unwrap();
                    let store = SqlStore::open(&SqlStore::sqlite_url(dir.path()))
                        .await
                        .unwrap();
                    keep.lock().unwrap().push(dir);
                    (Arc::new(store) as Arc<dyn Store>, None)
                })
            },
            singles,
            rows,
        )
        .await;
        if aerie_store::testing::fresh_postgres_url().await.is_some() {
            measure(
                "PostgreSQL",
                || {
                    Box::pin(async {
                        let url = aerie_store::testing::fresh_postgres_url().await.unwrap();
                        let store = SqlStore::open(&url).await.unwrap();
                        (Arc::new(store) as Arc<dyn Store>, Some(url))
                    })
                },
                singles,
                rows,
            )
            .await;
        }
        drop(dirs);
    });
}
