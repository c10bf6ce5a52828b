//! Federation benchmark. Prints, measured in one run:
//!
//! 1. sync latency, CM insert → queryable on the MCM, median and p99, with
//!    `AERIE_BENCH_CMS` CMs (default 20) each inserting `AERIE_BENCH_RATE` incidents/s
//!    (default 100) for `AERIE_BENCH_SECS` seconds (default 10), with the MCM's cross-CM
//!    correlation off (the baseline) and then on (the incidents share files and source
//!    domains across CMs);
//! 2. resync throughput of `AERIE_BENCH_RESYNC` incidents (default 1,000,000) from one CM
//!    into an MCM whose copy is empty, next to the raw `Store::apply_sync` rate of the
//!    same rows into a fresh store;
//! 3. how many simultaneous CMs one MCM sustains: protocol-level CMs (register, then one
//!    incident per second each plus heartbeats) in steps up to `AERIE_BENCH_MAX_CMS`
//!    (default 500), with the apply latency at each step.
//!
//! Run: `cargo bench -p aerie-server --bench federation`.

/// The allocator the `aerie` binary ships with, so figures match production.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use aerie_client::{Client, Recorder, Trust};
use aerie_domain::{
    event::{Category, CollectorType, Endpoint, EventKind, NewEvent, Source, Stage},
    federation::SyncBatch,
    incident::IncidentId,
    risk::Severity,
    text::Text,
};
use aerie_proto::{
    device_key::{DeviceKey, Kdf},
    federation::{
        Challenge, RegisterRequest, RegisterResponse, SyncAck, SyncRequest, SyncedIncident,
        register_message,
    },
};
use aerie_server::{Config, ConfigLayer, Running};
use aerie_store::{SqlStore, prelude::*};
use chrono::Utc;
use tokio_util::sync::CancellationToken;

const PASSPHRASE: &str = "bench-passphrase";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Node {
    running: Running,
    shutdown: CancellationToken,
    dir: std::path::PathBuf,
}

async fn node(dir: std::path::PathBuf, name: &str, listen: &str) -> Node {
    let layer = ConfigLayer {
        listen: Some(listen.into()),
        hostname: Some(name.into()),
        ..Default::default()
    };
    let shutdown = CancellationToken::new();
    let config = Config::resolve(&dir, layer).unwrap();
    let running =
        aerie_server::start_with_admin(config, shutdown.clone(), Some("bench-admin-pw".into()))
            .await
            .unwrap();
    Node {
        running,
        shutdown,
        dir,
    }
}

async fn cli_async(node: &Node, lines: Vec<String>) -> String {
    let dir = node.dir.clone();
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        aerie_cli::run_lines(&dir, &lines, &mut out).map(|_| String::from_utf8(out).unwrap())
    })
    .await
    .unwrap()
    .unwrap()
}

async fn mcm(base: &std::path::Path) -> Node {
    let mcm = node(base.join("mcm"), "mcm-bench", "127.0.0.1:0").await;
    cli_async(
        &mcm,
        vec![
            "cm".into(),
            format!("set mcm ip 127.0.0.1 passphrase {PASSPHRASE}"),
        ],
    )
    .await;
    mcm
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn new_event(i: usize, cm: usize) -> NewEvent {
    let ip = std::net::Ipv4Addr::from(0x0a00_0000u32 + (cm as u32) * 0x0010_0000 + i as u32 + 1);
    NewEvent {
        kind: EventKind::Download,
        time: Utc::now(),
        severity: Severity::parse("s", [0.3, 0.6, 0.9][i % 3]).unwrap(),
        category: Category::ALL[i % Category::ALL.len()],
        threat_name: Text::parse("t", &format!("TROJAN_Sync.{}", i % 101), 64).unwrap(),
        endpoint: Endpoint {
            ip: std::net::IpAddr::V4(ip),
            name: None,
            os: None,
            user: None,
        },
        // Files and sources the CMs share, for the correlation to find.
        source: Source {
            name: Some(Text::parse("s", &format!("drop{}.evil.example", i % 300), 255).unwrap()),
            ..Default::default()
        },
        progression: [Stage::Download].into_iter().collect(),
        collector_id: None,
        collector_type: CollectorType::Web,
        file_sha256: Some(
            aerie_domain::text::Sha256Hex::parse("f", &format!("{:064x}", i % 500)).unwrap(),
        ),
        behaviour: Default::default(),
        artifacts: Vec::new(),
    }
}

/// Part 1, with the MCM's correlation on or off.
async fn latency(base: &std::path::Path, correlate: bool) {
    let (n, rate, secs) = (
        env("AERIE_BENCH_CMS", 20),
        env("AERIE_BENCH_RATE", 100),
        env("AERIE_BENCH_SECS", 10),
    );
    let base = base.join(if correlate { "on" } else { "off" });
    let mcm = mcm(&base).await;
    mcm.running.state.store.set_correlation(correlate);
    let mut cms = Vec::new();
    for i in 0..n {
        let cm = node(
            base.join(format!("cm{i}")),
            &format!("cm-{i}"),
            &format!("127.0.1.{}:0", i + 1),
        )
        .await;
        let out = cli_async(
            &cm,
            vec![
                "cm".into(),
                format!("set mcm ip {} passphrase {PASSPHRASE}", mcm.running.addr),
            ],
        )
        .await;
        assert!(out.contains("Registered"), "{out}");
        cms.push(cm);
    }
    let cm_ids: HashMap<String, aerie_domain::ids::CmId> = mcm
        .running
        .state
        .store
        .cms()
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.name.to_string(), c.id))
        .collect();

    // Each CM: one new incident every 1/rate s, inserted into its store (what a sensor
    // event does once it passed the API), stamped just before the insert.
    let sent: Arc<Mutex<HashMap<(i64, i64), Instant>>> = Arc::default();
    let stop = CancellationToken::new();
    let mut tasks = Vec::new();
    for (i, cm) in cms.iter().enumerate() {
        let (store, sent, stop) = (cm.running.state.store.clone(), sent.clone(), stop.clone());
        let cm_id = cm_ids[&format!("cm-{i}")];
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
            let mut k = 0usize;
            while !stop.is_cancelled() {
                tick.tick().await;
                let event = new_event(k, i);
                let at = Instant::now();
                if let Ok(placed) = store.ingest(&[event]).await {
                    sent.lock()
                        .unwrap()
                        .insert((cm_id.get(), placed[0].incident_id.get()), at);
                }
                k += 1;
            }
        }));
    }
    let watching = CancellationToken::new();
    // The watcher: each CM sends its incidents in change order and each is new, so the
    // MCM's per-CM incident count says exactly which have arrived (ids 1..=count). It
    // polls that 20-row table every millisecond.
    let seen: Arc<Mutex<HashMap<(i64, i64), Instant>>> = Arc::default();
    let watcher = {
        let (store, seen, stop) = (
            mcm.running.state.store.clone(),
            seen.clone(),
            watching.clone(),
        );
        tokio::spawn(async move {
            let mut counted: HashMap<i64, i64> = HashMap::new();
            while !stop.is_cancelled() {
                let cms = store.cms().await.unwrap();
                let now = Instant::now();
                {
                    let mut seen = seen.lock().unwrap();
                    for cm in cms {
                        let from = counted.insert(cm.id.get(), cm.incident_count).unwrap_or(0);
                        for id in from + 1..=cm.incident_count {
                            seen.insert((cm.id.get(), id), now);
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(secs as u64)).await;
    stop.cancel();
    for t in tasks {
        t.await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    watching.cancel();
    watcher.await.unwrap();
    let sent = std::mem::take(&mut *sent.lock().unwrap());
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let mut ms: Vec<f64> = sent
        .iter()
        .filter_map(|(k, at)| {
            seen.get(k)
                .map(|s| s.saturating_duration_since(*at).as_secs_f64() * 1000.0)
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    let missing = sent.len() - ms.len();
    let campaigns = mcm
        .running
        .state
        .store
        .campaigns(Utc::now() - chrono::TimeDelta::hours(1), 10_000)
        .await
        .unwrap()
        .len();
    println!(
        "sync latency, correlation {}: {n} CMs x {rate} incidents/s for {secs} s ({} incidents sent, {missing} not seen within 0.5 s; {campaigns} campaigns)",
        if correlate { "on" } else { "off (baseline)" },
        sent.len()
    );
    println!(
        "  CM insert -> on the MCM: median {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&ms, 0.5),
        percentile(&ms, 0.99),
        ms.last().copied().unwrap_or(0.0)
    );
    println!(
        "  offered {} incidents/s, achieved {:.0}/s",
        n * rate,
        sent.len() as f64 / secs as f64
    );
    mcm.shutdown.cancel();
    for cm in cms {
        cm.shutdown.cancel();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// Part 2.
async fn resync(base: &std::path::Path) {
    let rows = env("AERIE_BENCH_RESYNC", 1_000_000);
    let mcm_dir = base.join("mcm-resync");
    let mcm = node(mcm_dir.clone(), "mcm-resync", "127.0.0.1:0").await;
    cli_async(
        &mcm,
        vec![
            "cm".into(),
            format!("set mcm ip 127.0.0.1 passphrase {PASSPHRASE}"),
        ],
    )
    .await;
    let cm = node(base.join("cm-resync"), "cm-resync", "127.0.0.2:0").await;
    let addr = mcm.running.addr;
    cli_async(
        &cm,
        vec![
            "cm".into(),
            format!("set mcm ip {addr} passphrase {PASSPHRASE}"),
        ],
    )
    .await;

    // The MCM becomes unreachable for the CM while the CM fills up; afterwards the CM
    // believes everything was acknowledged (as after an MCM restored from an old backup).
    let store = &cm.running.state.store;
    let address = store.setting("mcm.address").await.unwrap().unwrap();
    store
        .set_setting("mcm.address", "127.0.0.9:1")
        .await
        .unwrap();
    // The daemon caches its MCM configuration; it must see this change.
    cm.running.state.federation.forget_config();
    let started = Instant::now();
    for start in (0..rows).step_by(5000) {
        let batch: Vec<NewEvent> = (start..rows.min(start + 5000))
            .map(|i| new_event(i, 1))
            .collect();
        store.ingest(&batch).await.unwrap();
    }
    println!(
        "resync: seeded {rows} incidents on the CM in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let last = store.last_change_seq().await.unwrap();
    store
        .set_setting("mcm.cursor", &last.to_string())
        .await
        .unwrap();
    let mcm_store = mcm.running.state.store.clone();
    assert_eq!(mcm_store.cms().await.unwrap()[0].incident_count, 0);
    // The MCM comes back: it refuses the CM's next contact (its ack is below the CM's
    // cursor) and the CM resyncs by itself, as after a restore.
    let started = Instant::now();
    store.set_setting("mcm.address", &address).await.unwrap();
    cm.running.state.federation.forget_config();
    cm.running.state.federation.cm.wake();
    let mut held = 0;
    while started.elapsed() < Duration::from_secs(600) {
        held = mcm_store.cms().await.unwrap()[0].incident_count;
        let pending = store.setting("mcm.resync_pending").await.unwrap();
        if held >= rows as i64 && pending.is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "  resync through HTTPS (started by itself): {held} incidents in {secs:.1} s = {:.0} incidents/s",
        held as f64 / secs
    );
    let resync_rate = held as f64 / secs;

    // Raw: the same rows straight into a fresh store, in the same batch size.
    let raw_dir = tempfile::tempdir().unwrap();
    let raw = SqlStore::open(&SqlStore::sqlite_url(raw_dir.path()))
        .await
        .unwrap();
    let reg = aerie_domain::federation::CmRegistration {
        uid: "raw".into(),
        name: aerie_domain::net::HostName::parse("name", "raw").unwrap(),
        url: "https://x".into(),
        ip: std::net::Ipv4Addr::LOCALHOST.into(),
        version: "0".into(),
        fips: false,
        cert_fingerprint: aerie_domain::net::CertFingerprint::parse("f", &["AB"; 32].join(":"))
            .unwrap(),
        credential_hash: "x".into(),
    };
    let raw_cm = raw.register_cm(&reg, Utc::now()).await.unwrap();
    let mut after = IncidentId::new(0);
    let mut pages = Vec::new();
    loop {
        let page = store.incidents_after(after, 1000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.id;
        pages.push(page);
    }
    let started = Instant::now();
    for page in &pages {
        let batch = SyncBatch {
            upserts: page.clone(),
            high_seq: page.last().unwrap().change_seq,
            ..Default::default()
        };
        raw.apply_sync(raw_cm.id, &batch, Utc::now()).await.unwrap();
    }
    let raw_rate = rows as f64 / started.elapsed().as_secs_f64();
    println!("  raw Store::apply_sync of the same rows:  {raw_rate:.0} incidents/s");
    println!("  ratio resync / raw: {:.2}", resync_rate / raw_rate);
    mcm.shutdown.cancel();
    cm.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// A CM speaking the protocol without a daemon behind it.
struct LightCm {
    client: Client,
    next: i64,
}

async fn light_cm(mcm_url: &str, key: &DeviceKey, i: usize) -> LightCm {
    let seen = Recorder::default();
    let client = Client::with_trust(mcm_url, Trust::Record(seen.clone())).unwrap();
    let challenge: Challenge = client
        .post("/api/v1/federation/challenge", &serde_json::json!({}))
        .await
        .unwrap();
    let fp = seen.lock().unwrap().unwrap().to_string();
    let uid = format!("light-{i}");
    // Light CMs serve nothing; any well-formed fingerprint will do.
    let cm_fingerprint = ["00"; 32].join(":");
    let message = register_message(&challenge.nonce, &fp, "admin", &uid, &cm_fingerprint);
    let request = RegisterRequest {
        username: "admin".into(),
        cm_uid: uid.clone(),
        cm_name: format!("light-cm-{i}"),
        cm_url: format!("https://127.0.0.1:{}", 20000 + i),
        cm_fingerprint,
        version: "bench".into(),
        kdf: Kdf::Argon2idV1.id().into(),
        nonce: challenge.nonce,
        proof: key.prove(&message),
    };
    let reply: RegisterResponse = client
        .post("/api/v1/federation/register", &request)
        .await
        .unwrap();
    let pinned = Client::new(mcm_url, fp.parse().unwrap())
        .unwrap()
        .with_token(&reply.credential);
    LightCm {
        client: pinned,
        next: 1,
    }
}

/// Part 3.
async fn many_cms(base: &std::path::Path) {
    let max = env("AERIE_BENCH_MAX_CMS", 500);
    let mcm = mcm(&base.join("many")).await;
    let url = format!("https://{}", mcm.running.addr);
    let key = DeviceKey::derive(Kdf::Argon2idV1, PASSPHRASE);
    let template = aerie_client::traffic::Traffic::new(1, 1).next_event(Utc::now());
    let incident_template = {
        let dir = tempfile::tempdir().unwrap();
        let s = SqlStore::open(&SqlStore::sqlite_url(dir.path()))
            .await
            .unwrap();
        let mut t = template.clone();
        t.severity = 0.8;
        s.ingest(&[t.validate("e", Utc::now()).unwrap()])
            .await
            .unwrap();
        s.incident(IncidentId::new(1)).await.unwrap().unwrap()
    };
    println!("many CMs: each sends one incident per second (plus heartbeats) to one MCM");
    let mut cms: Vec<LightCm> = Vec::new();
    let mut step = 50;
    while cms.len() < max {
        while cms.len() < step.min(max) {
            cms.push(light_cm(&url, &key, cms.len()).await);
        }
        let n = cms.len();
        let latencies: Arc<Mutex<Vec<f64>>> = Arc::default();
        let errors = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for (i, cm) in cms.iter_mut().enumerate() {
            let client = cm.client.clone();
            let first = cm.next;
            cm.next += 10;
            let (latencies, errors, template) =
                (latencies.clone(), errors.clone(), incident_template.clone());
            tasks.push(tokio::spawn(async move {
                // Spread the CMs over the second.
                tokio::time::sleep(Duration::from_millis((i * 1000 / n) as u64)).await;
                for k in 0..10 {
                    let mut inc = template.clone();
                    inc.id = IncidentId::new(first + k);
                    inc.change_seq = first + k;
                    let req = SyncRequest {
                        upserts: vec![SyncedIncident::of(&inc)],
                        high_seq: first + k,
                        ..Default::default()
                    };
                    let at = Instant::now();
                    match client
                        .post::<_, SyncAck>("/api/v1/federation/sync", &req)
                        .await
                    {
                        Ok(_) => latencies
                            .lock()
                            .unwrap()
                            .push(at.elapsed().as_secs_f64() * 1000.0),
                        Err(_) => {
                            errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                    tokio::time::sleep(Duration::from_secs(1).saturating_sub(at.elapsed())).await;
                }
            }));
        }
        let started = Instant::now();
        for t in tasks {
            t.await.unwrap();
        }
        let mut ms = latencies.lock().unwrap().clone();
        ms.sort_by(f64::total_cmp);
        let achieved = ms.len() as f64 / started.elapsed().as_secs_f64();
        println!(
            "  {n:4} CMs: {achieved:6.0} syncs/s (offered {n}/s), apply latency median {:.1} ms, p99 {:.1} ms, {} errors",
            percentile(&ms, 0.5),
            percentile(&ms, 0.99),
            errors.load(std::sync::atomic::Ordering::Relaxed)
        );
        step *= 2;
    }
    let registered = mcm.running.state.store.cms().await.unwrap().len();
    println!("  {registered} CMs registered on the MCM");
    mcm.shutdown.cancel();
}

fn main() {
    let base = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let parts =
            std::env::var("AERIE_BENCH_PARTS").unwrap_or_else(|_| "latency,resync,many".into());
        if parts.contains("latency") {
            latency(base.path(), false).await;
            latency(base.path(), true).await;
        }
        if parts.contains("resync") {
            resync(base.path()).await;
        }
        if parts.contains("many") {
            many_cms(base.path()).await;
        }
    });
}
