//! PostgreSQL's set-based writes. A batch's rows travel as one JSON array per statement
//! and `json_populate_recordset` turns it into rows of the target table's type, so each
//! table takes one `INSERT … SELECT` (or `UPDATE … FROM`) per batch, whatever its size,
//! through sqlx's `Any` driver (which binds no arrays). SQLite keeps its multi-row
//! `VALUES` statements (see `ingest.rs`): there a statement is a function call, not a
//! round trip.

use serde::Serialize;
use sqlx::{Any, AssertSqlSafe, Row, Transaction};

use aerie_domain::{
    event::NewEvent, federation::SyncBatch, ids::CmId, incident::IncidentFacts,
    query::endpoint_sort_key,
};

use super::ingest::{FACT_COLUMNS, SHARED_COLUMNS};
use crate::{Result, StoreError};

/// The columns an incident row and an event row share, as JSON.
#[derive(Serialize)]
struct Shared<'a> {
    severity: f64,
    category: &'a str,
    threat_name: &'a str,
    endpoint_ip: String,
    endpoint_name: Option<&'a str>,
    endpoint_os: Option<&'a str>,
    endpoint_user: Option<&'a str>,
    source_ip: Option<String>,
    source_name: Option<&'a str>,
    source_country: Option<&'a str>,
    progression: i64,
    collector_id: Option<&'a str>,
    collector_type: &'a str,
    file_sha256: Option<&'a str>,
}

impl<'a> Shared<'a> {
    fn of(f: &'a IncidentFacts) -> Self {
        Shared {
            severity: f.severity.value(),
            category: f.category.as_str(),
            threat_name: f.threat_name.as_str(),
            endpoint_ip: f.endpoint_ip.to_string(),
            endpoint_name: f.endpoint_name.as_ref().map(|t| t.as_str()),
            endpoint_os: f.endpoint_os.as_ref().map(|t| t.as_str()),
            endpoint_user: f.endpoint_user.as_ref().map(|t| t.as_str()),
            source_ip: f.source_ip.map(|ip| ip.to_string()),
            source_name: f.source_name.as_ref().map(|t| t.as_str()),
            source_country: f.source_country.as_ref().map(|c| c.as_str()),
            progression: f.progression.bits(),
            collector_id: f.collector_id.as_ref().map(|t| t.as_str()),
            collector_type: f.collector_type.as_str(),
            file_sha256: f.file_sha256.as_ref().map(|s| s.as_str()),
        }
    }
}

/// An incident row of `incidents` or `remote_incidents`, as JSON.
#[derive(Serialize)]
pub(super) struct IncidentRecord<'a> {
    #[serde(flatten)]
    shared: Shared<'a>,
    first_seen_ms: i64,
    last_activity_ms: i64,
    risk_rank: i64,
    endpoint_key: String,
    event_count: i64,
    /// `incidents.id`, or `remote_incidents.incident_id` (the CM's id).
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    incident_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<i64>,
    change_seq: i64,
}

impl<'a> IncidentRecord<'a> {
    /// A local incident's facts, stamped with `change_seq`.
    pub(super) fn local(id: i64, f: &'a IncidentFacts, change_seq: i64) -> Self {
        IncidentRecord {
            shared: Shared::of(f),
            first_seen_ms: f.first_seen.timestamp_millis(),
            last_activity_ms: f.last_activity.timestamp_millis(),
            risk_rank: f.risk().rank(),
            endpoint_key: endpoint_sort_key(f.endpoint_ip),
            event_count: f.event_count,
            id: Some(id),
            incident_id: None,
            status: None,
            version: None,
            change_seq,
        }
    }
}

/// An event row, as JSON.
#[derive(Serialize)]
pub(super) struct EventRecord<'a> {
    #[serde(flatten)]
    shared: Shared<'a>,
    incident_id: i64,
    kind: &'a str,
    time_ms: i64,
    behaviour: Option<String>,
    artifacts: Option<String>,
}

impl<'a> EventRecord<'a> {
    pub(super) fn of(
        opened: &'a IncidentFacts,
        e: &'a NewEvent,
        incident_id: i64,
        details: (Option<String>, Option<String>),
    ) -> Self {
        EventRecord {
            shared: Shared::of(opened),
            incident_id,
            kind: e.kind.as_str(),
            time_ms: e.time.timestamp_millis(),
            behaviour: details.0,
            artifacts: details.1,
        }
    }
}

fn json<T: Serialize>(rows: &[T]) -> Result<String> {
    serde_json::to_string(rows).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Runs `sql`, whose `$1` is the JSON array of `rows`; nothing when there are none.
async fn write_rows<T: Serialize>(
    tx: &mut Transaction<'_, Any>,
    sql: String,
    rows: &[T],
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(AssertSqlSafe(sql))
        .bind(json(rows)?)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn fact_columns() -> String {
    format!("{SHARED_COLUMNS}, {}", FACT_COLUMNS.join(", "))
}

/// `text[]` literal of IP addresses (their text has no character that needs quoting).
pub(super) fn ip_array(ips: impl IntoIterator<Item = String>) -> String {
    let quoted: Vec<String> = ips.into_iter().map(|ip| format!("\"{ip}\"")).collect();
    format!("{{{}}}", quoted.join(","))
}

/// Takes an advisory lock per endpoint, in one order for every writer: ingests of
/// different endpoints run side by side, two ingests of one endpoint group in turn.
pub(super) async fn lock_endpoints(tx: &mut Transaction<'_, Any>, ips: &str) -> Result<()> {
    sqlx::query(
        "SELECT pg_advisory_xact_lock(k)::text FROM \
         (SELECT DISTINCT hashtextextended(ip, 0) AS k FROM unnest($1::text[]) AS ip ORDER BY k) \
         AS keys",
    )
    .bind(ips.to_owned())
    .fetch_all(&mut **tx)
    .await?;
    Ok(())
}

/// `n` new incident ids.
pub(super) async fn new_incident_ids(tx: &mut Transaction<'_, Any>, n: usize) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT nextval(pg_get_serial_sequence('incidents', 'id')) FROM generate_series(1, $1)",
    )
    .bind(n as i64)
    .fetch_all(&mut **tx)
    .await?)
}

/// Inserts new incidents (their ids given), status `new`, version 1.
pub(super) async fn insert_incidents(
    tx: &mut Transaction<'_, Any>,
    rows: &[IncidentRecord<'_>],
) -> Result<()> {
    let cols = fact_columns();
    let sql = format!(
        "INSERT INTO incidents (id, {cols}, status, version, change_seq) \
         SELECT id, {cols}, 'new', 1, change_seq \
         FROM json_populate_recordset(NULL::incidents, $1::json)"
    );
    write_rows(tx, sql, rows).await
}

/// Rewrites the facts of existing incidents, each one version up.
pub(super) async fn update_incidents(
    tx: &mut Transaction<'_, Any>,
    rows: &[IncidentRecord<'_>],
) -> Result<()> {
    let sets: Vec<String> = fact_columns()
        .split(", ")
        .chain(["change_seq"])
        .map(|c| format!("{c} = r.{c}"))
        .collect();
    let sql = format!(
        "UPDATE incidents AS i SET {}, version = i.version + 1 \
         FROM json_populate_recordset(NULL::incidents, $1::json) AS r WHERE i.id = r.id",
        sets.join(", ")
    );
    write_rows(tx, sql, rows).await
}

/// Inserts events.
pub(super) async fn insert_events(
    tx: &mut Transaction<'_, Any>,
    rows: &[EventRecord<'_>],
) -> Result<()> {
    let sql = format!(
        "INSERT INTO events ({SHARED_COLUMNS}, incident_id, kind, time_ms, behaviour, artifacts) \
         SELECT {SHARED_COLUMNS}, incident_id, kind, time_ms, behaviour, artifacts \
         FROM json_populate_recordset(NULL::events, $1::json)"
    );
    write_rows(tx, sql, rows).await
}

/// The MCM's apply of a batch's upserts for one CM, in one statement: rows at or below
/// the CM's removal of them are left out, the removal records they pass are dropped,
/// and the rest is upserted (a newer version or epoch wins). Returns how many incidents
/// the MCM's copy gained. The rows written take the feed position `feed_seq`.
pub(super) async fn upsert_remote(
    tx: &mut Transaction<'_, Any>,
    cm_id: CmId,
    batch: &SyncBatch,
    feed_seq: i64,
) -> Result<i64> {
    if batch.upserts.is_empty() {
        return Ok(0);
    }
    let rows: Vec<IncidentRecord<'_>> = batch
        .upserts
        .iter()
        .map(|i| IncidentRecord {
            id: None,
            incident_id: Some(i.id.get()),
            status: Some(i.status.as_str()),
            version: Some(i.version),
            ..IncidentRecord::local(0, &i.facts, i.change_seq)
        })
        .collect();
    let data_cols = format!("{}, status, version, change_seq", fact_columns());
    let updates: Vec<String> = data_cols
        .split(", ")
        .chain(["epoch", "feed_seq"])
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    let sql = format!(
        "WITH input AS (SELECT * FROM json_populate_recordset(NULL::remote_incidents, $2::json)), \
         passing AS (SELECT input.* FROM input LEFT JOIN remote_removals r \
             ON r.cm_id = $1 AND r.incident_id = input.incident_id \
             WHERE r.version IS NULL OR input.version > r.version), \
         lifted AS (DELETE FROM remote_removals r USING passing \
             WHERE r.cm_id = $1 AND r.incident_id = passing.incident_id), \
         upserted AS (INSERT INTO remote_incidents (cm_id, incident_id, {data_cols}, epoch, \
             feed_seq) SELECT $1, incident_id, {data_cols}, $3, $4 FROM passing \
             ON CONFLICT (cm_id, incident_id) DO UPDATE SET {} \
             WHERE excluded.epoch > remote_incidents.epoch \
             OR excluded.version > remote_incidents.version \
             RETURNING (xmax = 0) AS inserted) \
         SELECT COUNT(*) FILTER (WHERE inserted) FROM upserted",
        updates.join(", ")
    );
    let added: i64 = sqlx::query(AssertSqlSafe(sql))
        .bind(cm_id.get())
        .bind(json(&rows)?)
        .bind(batch.epoch)
        .bind(feed_seq)
        .fetch_one(&mut **tx)
        .await?
        .try_get(0)?;
    Ok(added)
}

/// The MCM's apply of a batch's removals for one CM, in one statement: each drops the
/// incident at or below its version (or of an older epoch) and leaves a version floor.
/// Returns how many incidents the copy lost.
pub(super) async fn remove_remote(
    tx: &mut Transaction<'_, Any>,
    cm_id: CmId,
    batch: &SyncBatch,
) -> Result<i64> {
    if batch.removals.is_empty() {
        return Ok(0);
    }
    // One row per incident (its highest version): an upsert may not touch a row twice.
    let mut floors = std::collections::BTreeMap::new();
    for (id, version) in &batch.removals {
        let v = floors.entry(id.get()).or_insert(*version);
        *v = (*v).max(*version);
    }
    #[derive(Serialize)]
    struct Removal {
        incident_id: i64,
        version: i64,
    }
    let rows: Vec<Removal> = floors
        .into_iter()
        .map(|(incident_id, version)| Removal {
            incident_id,
            version,
        })
        .collect();
    let gone: i64 = sqlx::query(
        "WITH input AS (SELECT * FROM json_populate_recordset(NULL::remote_removals, $2::json)), \
         gone AS (DELETE FROM remote_incidents r USING input \
             WHERE r.cm_id = $1 AND r.incident_id = input.incident_id \
             AND (r.version <= input.version OR r.epoch < $3) RETURNING 1), \
         floors AS (INSERT INTO remote_removals (cm_id, incident_id, version) \
             SELECT $1, incident_id, version FROM input \
             ON CONFLICT (cm_id, incident_id) DO UPDATE SET version = excluded.version \
             WHERE excluded.version > remote_removals.version) \
         SELECT COUNT(*) FROM gone",
    )
    .bind(cm_id.get())
    .bind(json(&rows)?)
    .bind(batch.epoch)
    .fetch_one(&mut **tx)
    .await?
    .try_get(0)?;
    Ok(gone)
}
