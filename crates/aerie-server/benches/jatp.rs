//! The original API's windowed list against our own paging. For a store of
//! `AERIE_BENCH_INCIDENTS` incidents (default 1,000,000, one a second, so a 24-hour
//! window holds 86,400 of them), on SQLite and (when `AERIE_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`, answers) on PostgreSQL, prints for the
//! last 24 hours of incidents, each the median of `AERIE_BENCH_RUNS` (default 3):
//!
//! - the baseline: `GET /api/v1/incidents?from=…&to=…&limit=500`, page after page
//!   (`after`) until the window is read;
//! - `GET /cyadmin/api.php?op=incidents&interval_sec=86400&end_time_sec=…`, one streamed
//!   answer;
//!
//! with their time, the ratio, and the process's peak resident memory above its level
//! before each run (Linux `VmHWM`, reset through `/proc/self/clear_refs`). The client
//! reads both answers as they arrive and keeps no more than a page.
//!
//! Run: `cargo bench -p aerie-server --bench jatp` (`AERIE_BENCH_INCIDENTS=100000` for a
//! quick run; `AERIE_BENCH_BACKENDS=sqlite` or `postgres` for one).

/// The allocator the `aerie` binary ships with, so figures match production.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use aerie_client::{Client, Fingerprint};
use aerie_server::{Config, ConfigLayer};
use aerie_store::SqlStore;
use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

mod seed;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The process's peak resident set in KiB since the last [`reset_peak`].
fn peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn current_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

struct Run {
    rows: usize,
    elapsed: Duration,
    /// Peak RSS above the level before the run, KiB.
    extra_kib: u64,
}

async fn measured<F: std::future::Future<Output = usize>>(f: F) -> Run {
    reset_peak();
    let before = current_kib();
    let started = Instant::now();
    let rows = f.await;
    let elapsed = started.elapsed();
    Run {
        rows,
        elapsed,
        extra_kib: peak_kib().saturating_sub(before),
    }
}

/// Pages through `/api/v1/incidents` for `[from, to)`.
async fn paged(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> usize {
    let (from, to) = (aerie_proto::format_time(from), aerie_proto::format_time(to));
    let mut after: Option<String> = None;
    let mut rows = 0;
    loop {
        let mut query = vec![
            ("from", from.clone()),
            ("to", to.clone()),
            ("limit", "500".into()),
        ];
        if let Some(a) = &after {
            query.push(("after", a.clone()));
        }
        let page: Value = http
            .get(format!("{base}/api/v1/incidents"))
            .bearer_auth(key)
            .query(&query)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap();
        rows += page["items"].as_array().unwrap().len();
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return rows,
        }
    }
}

/// Reads `op=incidents` as it streams, counting rows without keeping the body.
async fn streamed(http: &reqwest::Client, base: &str, key: &str, end: i64) -> usize {
    let resp = http
        .get(format!(
            "{base}/cyadmin/api.php?op=incidents&interval_sec=86400&end_time_sec={end}&max_risk_value=1"
        ))
        .header(reqwest::header::AUTHORIZATION, key)
        .send()
        .await
        .unwrap();
    let needle = b"\"incident_id\":";
    let mut tail: Vec<u8> = Vec::new();
    let mut rows = 0;
    let mut body = resp.bytes_stream();
    let mut head = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap();
        if head.len() < 16 {
            head.extend_from_slice(&chunk[..chunk.len().min(16)]);
        }
        tail.extend_from_slice(&chunk);
        rows += tail.windows(needle.len()).filter(|w| *w == needle).count();
        let keep = tail.len().saturating_sub(needle.len() - 1);
        tail.drain(..keep);
    }
    assert!(
        head.starts_with(b"{\"status\":0"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    rows
}

fn median(mut runs: Vec<Run>) -> Run {
    runs.sort_by_key(|r| r.elapsed);
    let mid = runs.len() / 2;
    runs.swap_remove(mid)
}

async fn measure(name: &str, url: Option<String>, n: usize, runs: usize) {
    let root = tempfile::tempdir().unwrap();
    let url = url.unwrap_or_else(|| SqlStore::sqlite_url(root.path()));
    let start = seed::start_time();
    let seeding = Instant::now();
    if url.starts_with("sqlite") {
        seed::seed_sqlite(&url, start, n).await;
    } else {
        seed::seed_postgres(&url, start, 0..n).await;
    }
    let seeded = seeding.elapsed();
    let layer = ConfigLayer {
        listen: Some("127.0.0.1:0".into()),
        hostname: Some("bench".into()),
        database_url: Some(url.clone()),
        ..Default::default()
    };
    let shutdown = CancellationToken::new();
    let running = aerie_server::start_with_admin(
        Config::resolve(root.path(), layer).unwrap(),
        shutdown.clone(),
        Some("bench-admin-pw".into()),
    )
    .await
    .unwrap();
    let base = format!("https://{}", running.addr);
    let anon = Client::new(&base, Fingerprint::of(&running.cert_der)).unwrap();
    let (admin, _) = anon.login("admin", "bench-admin-pw").await.unwrap();
    let created: Value = admin
        .post("/api/v1/api-keys", &serde_json::json!({"name": "bench"}))
        .await
        .unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();

    // The last 24 hours of incidents: the seconds (end − 86400, end].
    let end = (start + TimeDelta::seconds(n as i64 - 1)).timestamp();
    let from = DateTime::from_timestamp(end - 86_400 + 1, 0).unwrap();
    let to = DateTime::from_timestamp(end + 1, 0).unwrap();
    let expected = n.min(86_400);
    // One warm-up of each, then the measured runs.
    assert_eq!(paged(&http, &base, &key, from, to).await, expected);
    assert_eq!(streamed(&http, &base, &key, end).await, expected);
    let mut a = Vec::new();
    let mut b = Vec::new();
    for _ in 0..runs {
        a.push(measured(paged(&http, &base, &key, from, to)).await);
        b.push(measured(streamed(&http, &base, &key, end)).await);
    }
    let (a, b) = (median(a), median(b));
    assert_eq!((a.rows, b.rows), (expected, expected));
    println!(
        "jatp: {n} incidents on {name} (seeded in {:.1} s); a 24-hour window of {expected} rows, median of {runs}",
        seeded.as_secs_f64()
    );
    println!(
        "  baseline, /api/v1/incidents paged by 500: {:8.3} s  {:7.0} rows/s  peak +{:6.1} MiB",
        a.elapsed.as_secs_f64(),
        expected as f64 / a.elapsed.as_secs_f64(),
        a.extra_kib as f64 / 1024.0
    );
    println!(
        "  op=incidents, streamed:                   {:8.3} s  {:7.0} rows/s  peak +{:6.1} MiB   time ratio {:5.2}",
        b.elapsed.as_secs_f64(),
        expected as f64 / b.elapsed.as_secs_f64(),
        b.extra_kib as f64 / 1024.0,
        b.elapsed.as_secs_f64() / a.elapsed.as_secs_f64()
    );
    drop((anon, admin, http));
    shutdown.cancel();
    running.wait().await.unwrap();
}

fn main() {
    let n = env_usize("AERIE_BENCH_INCIDENTS", 1_000_000);
    let runs = env_usize("AERIE_BENCH_RUNS", 3).max(1);
    let backends =
        std::env::var("AERIE_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        if backends.contains("sqlite") {
            measure("SQLite", None, n, runs).await;
        }
        if backends.contains("postgres")
            && let Some(url) = aerie_store::testing::fresh_postgres_url().await
        {
            measure("PostgreSQL", Some(url.clone()), n, runs).await;
            seed::drop_database(&url).await;
        }
    });
}
