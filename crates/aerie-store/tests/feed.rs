//! The change feed under concurrent writers: writers commit in random order while a
//! reader pages the feed; the reader must see every change exactly once. On PostgreSQL
//! this holds only because the feed reads below the horizon of running transactions.

use std::{collections::HashMap, sync::Arc, time::Duration};

use aerie_domain::{event::NewEvent, incident::Incident};
use aerie_store::{SqlStore, prelude::*, testing};
use chrono::Utc;

const WRITERS: usize = 8;
const BATCHES: usize = 30;
const PER_BATCH: usize = 20;

async fn every_change_seen_exactly_once(store: Arc<SqlStore>) {
    store.set_commit_jitter(Duration::from_millis(15));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for b in 0..BATCHES {
                    let events: Vec<NewEvent> = (0..PER_BATCH)
                        .map(|k| {
                            let n = ((w * BATCHES + b) * PER_BATCH + k) as u32;
                            let ip = std::net::Ipv4Addr::from(0x0a00_0000 + n);
                            NewEvent::sample(ip.into(), Utc::now(), 0.8)
                        })
                        .collect();
                    store.ingest(&events).await.unwrap();
                }
            })
        })
        .collect();
    let mut seen: HashMap<i64, usize> = HashMap::new();
    let mut cursor = 0;
    let read = |page: Vec<Incident>, seen: &mut HashMap<i64, usize>, cursor: &mut i64| {
        for incident in page {
            assert!(incident.change_seq > *cursor, "the feed goes forward");
            *cursor = incident.change_seq;
            *seen.entry(incident.id.get()).or_default() += 1;
        }
    };
    while !writers.iter().all(|w| w.is_finished()) {
        let page = store.changes_since(cursor, 16).await.unwrap();
        read(page, &mut seen, &mut cursor);
        tokio::task::yield_now().await;
    }
    for w in writers {
        w.await.unwrap();
    }
    // Drain: the last commits become readable once no older transaction runs.
    let total = WRITERS * BATCHES * PER_BATCH;
    for _ in 0..500 {
        let page = store.changes_since(cursor, 1000).await.unwrap();
        read(page, &mut seen, &mut cursor);
        if seen.len() >= total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "changes seen twice: {twice:?}");
    assert_eq!(
        seen.len(),
        total,
        "every change seen once: {} of {total} seen",
        seen.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_feed_is_exact_under_concurrent_writers() {
    let Some(url) = testing::fresh_postgres_url().await else {
        return;
    };
    every_change_seen_exactly_once(Arc::new(SqlStore::open(&url).await.unwrap())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_feed_is_exact_under_concurrent_writers() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::open(&SqlStore::sqlite_url(dir.path()))
        .await
        .unwrap();
    every_change_seen_exactly_once(Arc::new(store)).await;
}
