//! PostgreSQL goes away under load: a CM and its MCM, both on a PostgreSQL server of the
//! test's own, take events and sync while the server crashes (immediate shutdown) and
//! stays down for 10 s. Meanwhile both daemons answer 503; once it is back they recover
//! with no restart, every batch the CM acknowledged is there, and the MCM's copy is
//! exact.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use aerie_proto::{
    events::EventBatch,
    incidents::{IncidentListParams, IncidentOut},
};
use reqwest::StatusCode;

mod common;
use common::{
    node::{Node, every_incident},
    postgres::PrivatePostgres,
};

const PASSPHRASE: &str = "outage-passphrase";

fn versions(incidents: Vec<IncidentOut>) -> BTreeMap<i64, i64> {
    incidents
        .into_iter()
        .filter(|i| i.risk != "benign")
        .map(|i| (i.incident_id, i.version))
        .collect()
}

/// What the sender saw.
#[derive(Default)]
struct Sent {
    /// Incident ids of every acknowledged batch.
    acknowledged: BTreeSet<i64>,
    accepted: usize,
    unavailable: usize,
    other: Vec<String>,
}

fn record(sent: &mut Sent, answer: aerie_client::Result<aerie_proto::events::IngestResponse>) {
    match answer {
        Ok(r) => {
            sent.accepted += 1;
            sent.acknowledged
                .extend(r.placements.iter().map(|p| p.incident_id));
        }
        Err(e) if e.status() == Some(StatusCode::SERVICE_UNAVAILABLE) => sent.unavailable += 1,
        Err(e) => sent.other.push(e.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemons_ride_out_a_postgres_outage() {
    let Some(mut pg) = PrivatePostgres::start() else {
        return;
    };
    pg.create_database("cm");
    pg.create_database("mcm");
    let base = tempfile::tempdir().unwrap();
    let mut mcm = Node::new(base.path(), "mcm-outage", "127.0.0.1");
    mcm.database = Some(pg.url("mcm"));
    let mut cm = Node::new(base.path(), "cm-outage", "127.0.0.2");
    cm.database = Some(pg.url("cm"));
    mcm.start();
    cm.start();
    let mcm_admin = mcm.admin().await;
    let cm_admin = cm.admin().await;
    mcm.cli(&[
        "cm",
        &format!("set mcm ip 127.0.0.1 passphrase {PASSPHRASE}"),
    ]);
    let out = cm.cli(&[
        "cm",
        &format!("set mcm ip {} passphrase {PASSPHRASE}", mcm.listen),
    ]);
    assert!(out.contains("Registered"), "{out}");
    let cms: Vec<serde_json::Value> = mcm_admin.get("/api/v1/cms").await.unwrap();
    let cm_id = cms[0]["id"].as_i64().unwrap();

    // A sender that never stops: new endpoints and returning ones.
    let sent = Arc::new(Mutex::new(Sent::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let (client, sent, stop) = (cm_admin.clone(), sent.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let events = (0..20)
                    .map(|k| {
                        let mut e = aerie_client::traffic::Traffic::new(u64::from(n + k), 1)
                            .next_event(chrono::Utc::now());
                        e.severity = 0.8;
                        e.endpoint_ip = format!("10.1.{}.{}", (n / 7) % 200, k);
                        e
                    })
                    .collect();
                n += 1;
                let answer = client.post_events(&EventBatch { events }).await;
                record(&mut sent.lock().unwrap(), answer);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = sent.lock().unwrap().accepted;
    assert!(before > 0, "the CM takes events before the outage");

    pg.crash();
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Down: both daemons say so with a 503, the CM's ingest and the MCM's list alike.
    let listed = mcm_admin.incidents(&IncidentListParams::default()).await;
    assert_eq!(
        listed.err().and_then(|e| e.status()),
        Some(StatusCode::SERVICE_UNAVAILABLE),
        "the MCM's list while PostgreSQL is down"
    );
    let health = cm_admin
        .http()
        .get(cm_admin.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    tokio::time::sleep(Duration::from_secs(8)).await;
    let during = sent.lock().unwrap().unavailable;
    assert!(during > 0, "the CM answered 503 while PostgreSQL was down");

    pg.run();
    // Back: the CM takes events again by itself.
    let back = tokio::time::Instant::now();
    let accepted_at_restart = sent.lock().unwrap().accepted;
    while sent.lock().unwrap().accepted < accepted_at_restart + 20 {
        assert!(
            back.elapsed() < Duration::from_secs(60),
            "the CM takes no events after PostgreSQL came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    sender.await.unwrap();
    let sent = std::mem::take(&mut *sent.lock().unwrap());
    assert!(
        sent.other.is_empty(),
        "only 503s while PostgreSQL was down: {:?}",
        sent.other
    );

    // Nothing acknowledged is lost, and the MCM's copy becomes exact.
    let on_cm = every_incident(&cm_admin, None).await;
    let ids: BTreeSet<i64> = on_cm.iter().map(|i| i.incident_id).collect();
    let lost: Vec<_> = sent.acknowledged.difference(&ids).collect();
    assert!(lost.is_empty(), "acknowledged incidents lost: {lost:?}");
    let truth = versions(on_cm);
    let mut copy = BTreeMap::new();
    for _ in 0..300 {
        copy = versions(every_incident(&mcm_admin, Some(cm_id)).await);
        if copy == truth {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(copy, truth, "the MCM's copy after the outage");
    println!(
        "outage: {} batches accepted, {} answered 503, {} incidents, copy exact",
        sent.accepted,
        sent.unavailable,
        truth.len()
    );
}
