//! Ingest and incident-list benchmark. Prints figures, each next to a baseline measured in
//! the same run:
//!
//! 1. events/s ingested through the HTTPS API, against raw `Store::ingest` of the same
//!    events in the same batches;
//! 2. first-page latency of filtered, sorted incident lists at `AERIE_BENCH_ROWS`
//!    incidents (default 1,000,000), through the store and through HTTPS, against the
//!    same queries at 10,000 incidents.
//!
//! Run: `cargo bench -p aerie-server --bench incidents` (set `AERIE_BENCH_ROWS=10000000`
//! for the large run; `AERIE_BENCH_EVENTS` sizes part 1, default 40,000;
//! `AERIE_BENCH_PARTS=ingest` or `list` runs one part). Part 1 runs on PostgreSQL too
//! when `AERIE_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`)
//! answers; part `pglist` (not in the default run: its seeding alone takes minutes)
//! measures part 2 on PostgreSQL at `AERIE_BENCH_PG_ROWS` (default 10,000,000).

/// The allocator the `aerie` binary ships with, so figures match production.
mod seed;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use aerie_client::{Client, Fingerprint, traffic::Traffic};
use aerie_domain::{
    event::{Category, NewEvent},
    query::{IncidentFilter, IncidentQuery, IncidentSort},
    risk::Risk,
    status::Status,
};
use aerie_proto::{events::EventBatch, incidents::IncidentListParams};
use aerie_server::{Config, ConfigLayer};
use aerie_store::{SqlStore, Store};
use chrono::Utc;
use tokio_util::sync::CancellationToken;

const BATCH: usize = 500;
const CONCURRENCY: usize = 4;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Server {
    client: Client,
    /// A browser session's secret, for the web UI's pages.
    session: String,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

async fn server(database_url: Option<String>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let layer = ConfigLayer {
        listen: Some("127.0.0.1:0".into()),
        hostname: Some("bench".into()),
        database_url,
        ..Default::default()
    };
    let shutdown = CancellationToken::new();
    let running = aerie_server::start(
        Config::resolve(dir.path(), layer).unwrap(),
        shutdown.clone(),
    )
    .await
    .unwrap();
    let anon = Client::new(
        &format!("https://{}", running.addr),
        Fingerprint::of(&running.cert_der),
    )
    .unwrap();
    let password = std::fs::read_to_string(dir.path().join("initial-admin-password")).unwrap();
    let (admin, login) = anon.login("admin", password.trim()).await.unwrap();
    let key = admin.create_api_key("bench").await.unwrap().key;
    Server {
        session: login.token,
        client: anon.with_token(&key),
        shutdown,
        _dir: dir,
    }
}

/// Runs `send` on every batch from `CONCURRENCY` tasks; returns the seconds it took.
async fn drain<B, F, Fut>(batches: Vec<B>, send: F) -> f64
where
    B: Send + 'static,
    F: Fn(B) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let started = Instant::now();
    let queue = Arc::new(std::sync::Mutex::new(batches));
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (queue, send) = (queue.clone(), send.clone());
            tokio::spawn(async move {
                loop {
                    let next = queue.lock().unwrap().pop();
                    match next {
                        Some(batch) => send(batch).await,
                        None => break,
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    started.elapsed().as_secs_f64()
}

/// The backends measured: SQLite, and PostgreSQL (a fresh database) when it answers.
async fn backends() -> Vec<(&'static str, Option<String>)> {
    let mut backends = vec![("SQLite", None)];
    if let Some(url) = aerie_store::testing::fresh_postgres_url().await {
        backends.push(("PostgreSQL", Some(url)));
    }
    backends
}

/// Part 1: HTTPS ingest against raw store ingest of the same batches, on SQLite and (when
/// it is reachable) on PostgreSQL, each in a fresh database.
async fn ingest(events: usize) {
    let now = Utc::now();
    let batches: Vec<EventBatch> = Traffic::new(42, (events / 3) as u32)
        .batch(events, now)
        .chunks(BATCH)
        .map(|c| EventBatch { events: c.to_vec() })
        .collect();
    let validated: Vec<Vec<NewEvent>> = batches.iter().map(|b| b.validate(now).unwrap()).collect();
    let mut sqlite_https = None;
    for (backend, url) in backends().await {
        let s = server(url.clone()).await;
        let client = s.client.clone();
        let https = drain(batches.clone(), move |batch| {
            let client = client.clone();
            async move {
                client.post_events(&batch).await.unwrap();
            }
        })
        .await;
        s.shutdown.cancel();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;

        let dir = tempfile::tempdir().unwrap();
        let raw_url = match &url {
            // The daemon's database is spent: the raw run gets a fresh one.
            Some(_) => aerie_store::testing::fresh_postgres_url().await.unwrap(),
            None => SqlStore::sqlite_url(dir.path()),
        };
        let store: Arc<dyn Store> = Arc::new(SqlStore::open(&raw_url).await.unwrap());
        let raw = drain(validated.clone(), move |batch| {
            let store = store.clone();
            async move {
                store.ingest(&batch).await.unwrap();
            }
        })
        .await;
        let (https, raw) = (events as f64 / https, events as f64 / raw);
        println!("ingest: {events} events in batches of {BATCH}, {backend}");
        println!("  through HTTPS API ({CONCURRENCY} concurrent clients): {https:>9.0} events/s");
        println!("  raw Store::ingest ({CONCURRENCY} concurrent callers):     {raw:>9.0} events/s");
        println!(
            "  ratio HTTPS / raw:                           {:>9.2}",
            https / raw
        );
        match sqlite_https {
            None => sqlite_https = Some(https),
            Some(base) => println!(
                "  ratio {backend} / SQLite through HTTPS:         {:>9.2}",
                https / base
            ),
        }
    }
}

/// Part 1b: raw ingest where every event opens a new incident, on a table that grows,
/// in batches of 1,000 from 4 concurrent callers, on both backends; the rate of each
/// slice of `AERIE_BENCH_GROW` / 5 events shows whether it falls as the table grows.
async fn grow(total: usize) {
    let slice = total / 5;
    for (backend, url) in backends().await {
        let dir = tempfile::tempdir().unwrap();
        let url = url.unwrap_or_else(|| SqlStore::sqlite_url(dir.path()));
        let store: Arc<dyn Store> = Arc::new(SqlStore::open(&url).await.unwrap());
        let mut rates = Vec::new();
        for s in 0..5 {
            let batches: Vec<Vec<NewEvent>> = (s * slice..(s + 1) * slice)
                .collect::<Vec<_>>()
                .chunks(1000)
                .map(|c| {
                    c.iter()
                        .map(|i| NewEvent {
                            // All within the grouping window, as live traffic is.
                            time: Utc::now(),
                            ..seed_event(*i)
                        })
                        .collect()
                })
                .collect();
            let store = store.clone();
            let secs = drain(batches, move |batch| {
                let store = store.clone();
                async move {
                    store.ingest(&batch).await.unwrap();
                }
            })
            .await;
            rates.push(format!("{:.0}", slice as f64 / secs));
        }
        println!(
            "grow: {total} new incidents, batches of 1000, {backend}: events/s per {slice}: {}",
            rates.join(", ")
        );
    }
}

/// One incident per event: each on its own endpoint, a second apart, from one start.
fn seed_event(i: usize) -> NewEvent {
    static START: std::sync::OnceLock<chrono::DateTime<Utc>> = std::sync::OnceLock::new();
    seed::seed_event(*START.get_or_init(seed::start_time), i)
}

async fn seed(store: &dyn Store, from: usize, to: usize) {
    let started = Instant::now();
    for start in (from..to).step_by(5000) {
        let batch: Vec<NewEvent> = (start..to.min(start + 5000)).map(seed_event).collect();
        store.ingest(&batch).await.unwrap();
    }
    let rate = (to - from) as f64 / started.elapsed().as_secs_f64();
    println!("  seeded {} incidents at {rate:.0} incidents/s", to - from);
}

/// The list queries measured, as store queries and as API parameters.
fn queries() -> Vec<(&'static str, IncidentQuery, IncidentListParams)> {
    let q = |filter: IncidentFilter, sort| IncidentQuery {
        filter,
        sort,
        ..Default::default()
    };
    let p = |risk: Option<&str>, status: Option<&str>, category: Option<&str>, sort: &str| {
        IncidentListParams {
            risk: risk.map(Into::into),
            status: status.map(Into::into),
            category: category.map(Into::into),
            sort: Some(sort.into()),
            ..Default::default()
        }
    };
    vec![
        (
            "newest first, no filter",
            q(IncidentFilter::default(), IncidentSort::Time),
            p(None, None, None, "time"),
        ),
        (
            "risk critical,high; newest first",
            q(
                IncidentFilter {
                    risks: vec![Risk::Critical, Risk::High],
                    ..Default::default()
                },
                IncidentSort::Time,
            ),
            p(Some("critical,high"), None, None, "time"),
        ),
        (
            "status new, category trojan; by risk",
            q(
                IncidentFilter {
                    statuses: vec![Status::New],
                    categories: vec![Category::Trojan],
                    ..Default::default()
                },
                IncidentSort::Risk,
            ),
            p(None, Some("new"), Some("trojan"), "risk"),
        ),
        (
            "risk medium; by endpoint",
            q(
                IncidentFilter {
                    risks: vec![Risk::Medium],
                    ..Default::default()
                },
                IncidentSort::Endpoint,
            ),
            p(Some("medium"), None, None, "endpoint"),
        ),
    ]
}

/// Median and 99th percentile of `runs` timings of `f`, in milliseconds.
async fn time<F, Fut>(runs: usize, mut f: F) -> (f64, f64)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut ms: Vec<f64> = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f().await;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    (ms[runs / 2], ms[(runs * 99 / 100).min(runs - 1)])
}

/// The Incidents page's query string for the same filters.
fn page_query(p: &IncidentListParams) -> String {
    [
        ("risk", &p.risk),
        ("status", &p.status),
        ("category", &p.category),
        ("sort", &p.sort),
    ]
    .iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
    .collect::<Vec<_>>()
    .join("&")
}

/// Timings (median, p99 in ms) per query: store, HTTPS API, and the web UI's Incidents
/// page (HTML, first page with its count of matches).
async fn measure(store: &dyn Store, s: &Server) -> Vec<[f64; 6]> {
    let client = &s.client;
    let mut out = Vec::new();
    for (_, query, params) in queries() {
        let (sm, sp) = time(40, || async {
            assert_eq!(store.incidents(&query).await.unwrap().items.len(), 50);
        })
        .await;
        let (hm, hp) = time(40, || async {
            assert_eq!(client.incidents(&params).await.unwrap().items.len(), 50);
        })
        .await;
        let url = client.url(&format!("/incidents?{}", page_query(&params)));
        let cookie = format!("aerie_session={}", s.session);
        let (pm, pp) = time(40, || async {
            let html = client
                .http()
                .get(&url)
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert_eq!(html.matches("data-incident=").count(), 50, "{html}");
        })
        .await;
        out.push([sm, sp, hm, hp, pm, pp]);
    }
    out
}

/// Seeds incidents `from..to` on PostgreSQL straight in SQL (`generate_series`): the
/// same shape as [`seed_event`]'s, at the speed of a bulk load rather than of ingest.
async fn seed_postgres(url: &str, from: usize, to: usize) {
    let started = Instant::now();
    seed::seed_postgres(url, seed::start_time(), from..to).await;
    let rate = (to - from) as f64 / started.elapsed().as_secs_f64();
    println!(
        "  seeded {} incidents in SQL at {rate:.0} incidents/s",
        to - from
    );
}

/// Part 2: first-page latency at `rows` incidents against the same at 10,000, on
/// SQLite (seeded through ingest) or PostgreSQL (`postgres`: seeded in SQL).
async fn list(rows: usize, postgres: Option<String>) {
    const SMALL: usize = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let (name, url) = match &postgres {
        Some(url) => ("PostgreSQL", url.clone()),
        None => ("SQLite", SqlStore::sqlite_url(dir.path())),
    };
    let store = SqlStore::open(&url).await.unwrap();
    println!(
        "incident list: first page (50 rows), {name}; median / p99 of 40 runs, ms \
         (store call, HTTPS API, web UI Incidents page with its count)"
    );
    let seed_to = async |from, to| match &postgres {
        Some(url) => seed_postgres(url, from, to).await,
        None => seed(&store, from, to).await,
    };
    seed_to(0, SMALL).await;
    let s = server(Some(url.clone())).await;
    let small = measure(&store, &s).await;
    seed_to(SMALL, rows).await;
    let large = measure(&store, &s).await;
    for (((name, _, _), small), large) in queries().iter().zip(&small).zip(&large) {
        println!("  {name}:");
        for (label, i) in [("store", 0), ("HTTPS", 2), ("page ", 4)] {
            println!(
                "    {label}  {rows:>9} rows {:7.2} / {:7.2}   {SMALL} rows {:7.2} / {:7.2}   ratio {:5.2}",
                large[i],
                large[i + 1],
                small[i],
                small[i + 1],
                large[i] / small[i]
            );
        }
    }
    s.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(100)).await;
}

fn main() {
    let events = env_usize("AERIE_BENCH_EVENTS", 40_000);
    let rows = env_usize("AERIE_BENCH_ROWS", 1_000_000);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let parts = std::env::var("AERIE_BENCH_PARTS").unwrap_or_else(|_| "ingest,list".into());
    runtime.block_on(async {
        if parts.contains("ingest") {
            ingest(events).await;
        }
        if parts.contains("grow") {
            grow(env_usize("AERIE_BENCH_GROW", 50_000)).await;
        }
        if parts.split(',').any(|p| p == "list") {
            list(rows, None).await;
        }
        // PostgreSQL at `AERIE_BENCH_PG_ROWS` incidents (default 10,000,000).
        if parts.split(',').any(|p| p == "pglist")
            && let Some(url) = aerie_store::testing::fresh_postgres_url().await
        {
            list(env_usize("AERIE_BENCH_PG_ROWS", 10_000_000), Some(url)).await;
        }
    });
}
