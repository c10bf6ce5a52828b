//! Seeding for the benches: `n` incidents, one event each on its own endpoint, a second
//! apart, the last one 30 days − `n` s ago; SQLite through `Store::ingest`, PostgreSQL
//! in SQL (`generate_series`, incidents only).
#![allow(dead_code)]

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::Arc,
};

use aerie_domain::{
    event::{Category, CollectorType, NewEvent, Stage},
    risk::Severity,
    text::Text,
};
use aerie_store::{SqlStore, Store};
use chrono::{DateTime, TimeDelta, Utc};

/// When incident 0 happened.
pub fn start_time() -> DateTime<Utc> {
    // Whole seconds, so that windows in seconds cut between incidents.
    let t = Utc::now() - TimeDelta::days(30);
    DateTime::from_timestamp(t.timestamp(), 0).unwrap()
}

/// One incident per event: each on its own endpoint, a second apart.
pub fn seed_event(start: DateTime<Utc>, i: usize) -> NewEvent {
    let x = (i as u64)
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let severity = [0.0, 0.1, 0.3, 0.6, 0.9][(x >> 33) as usize % 5];
    let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000u32 + i as u32 + 1));
    NewEvent {
        category: Category::ALL[(x >> 40) as usize % Category::ALL.len()],
        threat_name: Text::parse("t", &format!("TROJAN_Bench.{}", x % 997), 64).unwrap(),
        ..NewEvent::sample(ip, start + TimeDelta::seconds(i as i64), severity)
    }
}

pub async fn seed_sqlite(url: &str, start: DateTime<Utc>, n: usize) {
    let store: Arc<dyn Store> = Arc::new(SqlStore::open(url).await.unwrap());
    for first in (0..n).step_by(5000) {
        let batch: Vec<NewEvent> = (first..n.min(first + 5000))
            .map(|i| seed_event(start, i))
            .collect();
        store.ingest(&batch).await.unwrap();
    }
}

/// Incidents `0..n` straight in SQL, the shape of [`seed_event`]'s (as
/// `benches/incidents.rs` seeds PostgreSQL).
/// Incidents `range` in SQL, the shape of [`seed_event`]'s.
pub async fn seed_postgres(url: &str, start: DateTime<Utc>, range: std::ops::Range<usize>) {
    use sqlx::{Connection, Executor};
    SqlStore::open(url).await.unwrap().close().await;
    let severities = [0.0, 0.1, 0.3, 0.6, 0.9];
    let ranks: Vec<String> = severities
        .iter()
        .map(|&s| Severity::parse("s", s).unwrap().risk().rank().to_string())
        .collect();
    let categories: Vec<String> = Category::ALL
        .iter()
        .map(|c| format!("'{}'", c.as_str()))
        .collect();
    let progression: aerie_domain::event::Progression = [Stage::Download].into_iter().collect();
    let start_ms = start.timestamp_millis();
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let n = range.end;
    for chunk in range.step_by(1_000_000) {
        let sql = format!(
            "INSERT INTO incidents (first_seen_ms, last_activity_ms, severity, risk_rank, category, \
             threat_name, endpoint_ip, endpoint_key, progression, collector_type, event_count, \
             status, version, change_seq) \
             SELECT {start_ms} + i * 1000, {start_ms} + i * 1000, \
             (ARRAY[{sev}])[1 + h % 5], (ARRAY[{ranks}])[1 + h % 5], \
             (ARRAY[{cats}])[1 + (h / 5) % {ncat}], 'TROJAN_Bench.' || (h % 997), \
             '10.' || ((i + 1) >> 16 & 255) || '.' || ((i + 1) >> 8 & 255) || '.' || ((i + 1) & 255), \
             '00000000000000000000ffff' || lpad(to_hex(167772160 + i + 1), 8, '0'), \
             {bits}, '{web}', 1, 'new', 1, i + 1 \
             FROM (SELECT i, abs(hashint8(i)::bigint) AS h FROM generate_series({chunk}::bigint, {end}::bigint - 1) AS i) AS s",
            sev = severities.map(|s| s.to_string()).join(", "),
            ranks = ranks.join(", "),
            cats = categories.join(", "),
            ncat = categories.len(),
            bits = progression.bits(),
            web = CollectorType::Web.as_str(),
            end = n.min(chunk + 1_000_000),
        );
        conn.execute(sqlx::AssertSqlSafe(sql)).await.unwrap();
    }
    conn.execute("ANALYZE incidents").await.unwrap();
}

/// Drops the bench's PostgreSQL database.
pub async fn drop_database(url: &str) {
    use sqlx::{Connection, Executor};
    let name = url.rsplit_once('/').unwrap().1;
    let base = std::env::var("AERIE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let mut admin = sqlx::PgConnection::connect(&base).await.unwrap();
    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    admin.execute(sqlx::AssertSqlSafe(sql)).await.unwrap();
}
