//! Ingest: a batch of events grouped into incidents in one transaction. The open
//! incidents near the batch are read at once, grouping happens in memory
//! ([`aerie_domain::grouping::group`]) for the whole batch, and the writes follow: on
//! SQLite a statement per changed incident plus multi-row inserts for new incidents and
//! for the events; on PostgreSQL one statement per table ([`super::bulk`]), with the
//! batch's endpoints locked so that concurrent ingests of other endpoints never wait.

use std::collections::{BTreeSet, HashMap};

use sqlx::{Any, AssertSqlSafe, Row, any::AnyArguments, query::Query};

use aerie_domain::{
    event::NewEvent,
    grouping::{Grouping, group},
    incident::{GROUPING_WINDOW, Incident, IncidentFacts, IncidentId, Placement},
    query::endpoint_sort_key,
    risk::Severity,
    text::Text,
};

use super::{Backend, SqlStore, bulk, feed::Stamps, rows};
use crate::{Result, StoreError};

pub(super) type AnyQuery<'q> = Query<'q, Any, AnyArguments>;

/// Columns every incident row and event row share, in bind order.
pub(super) const SHARED_COLUMNS: &str = "severity, category, threat_name, endpoint_ip, endpoint_name, \
    endpoint_os, endpoint_user, source_ip, source_name, source_country, progression, \
    collector_id, collector_type, file_sha256";
const SHARED_COUNT: usize = 14;
/// Incident-only columns bound after the shared ones.
pub(super) const FACT_COLUMNS: [&str; 5] = [
    "first_seen_ms",
    "last_activity_ms",
    "risk_rank",
    "endpoint_key",
    "event_count",
];
pub(super) const FACTS_COUNT: usize = SHARED_COUNT + FACT_COLUMNS.len();

/// Rows per multi-row insert, well under both backends' bind-parameter limits.
pub(super) const INSERT_CHUNK: usize = 400;
/// Endpoints per candidate lookup.
const LOOKUP_CHUNK: usize = 500;

fn opt(t: &Option<Text>) -> Option<String> {
    t.as_ref().map(|t| t.as_str().to_owned())
}

/// Binds the columns an incident row and an event row share ([`SHARED_COLUMNS`]). An
/// event binds them through the facts of the incident it would open, which copies them.
fn bind_shared<'q>(q: AnyQuery<'q>, f: &IncidentFacts) -> AnyQuery<'q> {
    q.bind(f.severity.value())
        .bind(f.category.as_str())
        .bind(f.threat_name.as_str().to_owned())
        .bind(f.endpoint_ip.to_string())
        .bind(opt(&f.endpoint_name))
        .bind(opt(&f.endpoint_os))
        .bind(opt(&f.endpoint_user))
        .bind(f.source_ip.map(|ip| ip.to_string()))
        .bind(opt(&f.source_name))
        .bind(f.source_country.map(|c| c.as_str().to_owned()))
        .bind(f.progression.bits())
        .bind(opt(&f.collector_id))
        .bind(f.collector_type.as_str())
        .bind(f.file_sha256.as_ref().map(|s| s.as_str().to_owned()))
}

/// Binds an incident's facts: the shared columns, then [`FACT_COLUMNS`].
pub(super) fn bind_facts<'q>(q: AnyQuery<'q>, f: &IncidentFacts) -> AnyQuery<'q> {
    bind_shared(q, f)
        .bind(f.first_seen.timestamp_millis())
        .bind(f.last_activity.timestamp_millis())
        .bind(f.risk().rank())
        .bind(endpoint_sort_key(f.endpoint_ip))
        .bind(f.event_count)
}

/// `($1, …, $n)` groups for `rows` rows of `per_row` parameters; `shape` turns one row's
/// placeholders into its value list.
pub(super) fn values(
    backend: Backend,
    rows: usize,
    per_row: usize,
    shape: impl Fn(&[String]) -> String,
) -> String {
    (0..rows)
        .map(|r| {
            let slots: Vec<String> = (1..=per_row)
                .map(|c| backend.placeholder(r * per_row + c))
                .collect();
            format!("({})", shape(&slots))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn update_incident_sql() -> String {
    let assignments: Vec<String> = SHARED_COLUMNS
        .split(", ")
        .chain(FACT_COLUMNS)
        .enumerate()
        .map(|(i, col)| format!("{col} = ${}", i + 1))
        .collect();
    format!(
        "UPDATE incidents SET {}, version = version + 1, change_seq = ${} WHERE id = ${}",
        assignments.join(", "),
        FACTS_COUNT + 1,
        FACTS_COUNT + 2
    )
}

fn insert_incidents_sql(backend: Backend, rows: usize) -> String {
    let cols = format!(
        "{SHARED_COLUMNS}, {}, status, version, change_seq",
        FACT_COLUMNS.join(", ")
    );
    let rows = values(backend, rows, FACTS_COUNT + 1, |s| {
        format!(
            "{}, 'new', 1, {}",
            s[..FACTS_COUNT].join(", "),
            s[FACTS_COUNT]
        )
    });
    format!("INSERT INTO incidents ({cols}) VALUES {rows} RETURNING id, change_seq")
}

fn insert_events_sql(backend: Backend, rows: usize) -> String {
    let rows = values(backend, rows, SHARED_COUNT + 5, |s| s.join(", "));
    format!(
        "INSERT INTO events ({SHARED_COLUMNS}, incident_id, kind, time_ms, behaviour, artifacts) \
         VALUES {rows}"
    )
}

/// An event's behaviour and artifacts as stored: JSON, NULL when there are none.
fn event_details(e: &NewEvent) -> Result<(Option<String>, Option<String>)> {
    let json = |v: serde_json::Result<String>| v.map_err(|e| StoreError::Corrupt(e.to_string()));
    let behaviour = (!e.behaviour.is_empty())
        .then(|| json(serde_json::to_string(&e.behaviour)))
        .transpose()?;
    let artifacts = (!e.artifacts.is_empty())
        .then(|| json(serde_json::to_string(&e.artifacts)))
        .transpose()?;
    Ok((behaviour, artifacts))
}

impl SqlStore {
    /// The stored incidents some event of the batch might join: open, on one of the
    /// batch's endpoints, active within the grouping window of the batch's time span.
    /// PostgreSQL locks them for this transaction (a status change waits, or goes first
    /// and is seen).
    async fn candidates(
        &self,
        tx: &mut sqlx::Transaction<'_, Any>,
        events: &[NewEvent],
        endpoints: &[String],
    ) -> Result<Vec<Incident>> {
        let window = GROUPING_WINDOW.num_milliseconds();
        let times = events.iter().map(|e| e.time.timestamp_millis());
        let (lo, hi) = (
            times.clone().min().unwrap_or(0) - window,
            times.max().unwrap_or(0) + window,
        );
        let near = "last_activity_ms >= $1 AND first_seen_ms <= $2 AND status <> 'complete'";
        let mut found = Vec::new();
        // PostgreSQL: one index probe per endpoint (a lateral join; the `FOR UPDATE`
        // keeps the planner from flattening it into a scan of the time range). Not
        // `= ANY($3::text[])`: that parses the array's text again for every row it tests.
        if self.backend == Backend::Postgres {
            let sql = format!(
                "SELECT {cols} FROM (SELECT DISTINCT unnest($3::text[]) AS ip) AS e \
                 CROSS JOIN LATERAL (SELECT {cols} FROM incidents \
                 WHERE endpoint_ip = e.ip AND {near} FOR UPDATE) AS i",
                cols = rows::INCIDENT_COLUMNS
            );
            let query = sqlx::query(AssertSqlSafe(sql))
                .bind(lo)
                .bind(hi)
                .bind(bulk::ip_array(endpoints.iter().cloned()));
            for row in query.fetch_all(&mut **tx).await? {
                found.push(rows::incident(&row)?);
            }
            return Ok(found);
        }
        for chunk in endpoints.chunks(LOOKUP_CHUNK) {
            let slots = vec!["?"; chunk.len()].join(", ");
            let sql = format!(
                "SELECT {} FROM incidents WHERE {} AND endpoint_ip IN ({slots})",
                rows::INCIDENT_COLUMNS,
                near.replace("$1", "?").replace("$2", "?")
            );
            let mut query = sqlx::query(AssertSqlSafe(sql)).bind(lo).bind(hi);
            for ip in chunk {
                query = query.bind(ip.clone());
            }
            for row in query.fetch_all(&mut **tx).await? {
                found.push(rows::incident(&row)?);
            }
        }
        Ok(found)
    }

    /// SQLite's writes of a grouped batch: a statement per changed incident, multi-row
    /// inserts for new incidents and events. Returns each touched incident's id.
    async fn write_sqlite(
        &self,
        tx: &mut sqlx::Transaction<'static, Any>,
        events: &[NewEvent],
        grouping: &Grouping,
        stamps: Stamps,
    ) -> Result<Vec<i64>> {
        let mut ids = vec![0i64; grouping.touched.len()];
        let mut new = Vec::new();
        for (i, t) in grouping.touched.iter().enumerate() {
            match &t.existing {
                Some(incident) => {
                    bind_facts(
                        sqlx::query(AssertSqlSafe(self.sql.update_incident.as_str())),
                        &t.facts,
                    )
                    .bind(stamps.nth(i))
                    .bind(incident.id.get())
                    .execute(&mut **tx)
                    .await?;
                    ids[i] = incident.id.get();
                }
                None => new.push(i),
            }
        }
        for chunk in new.chunks(INSERT_CHUNK) {
            let mut query = sqlx::query(AssertSqlSafe(insert_incidents_sql(
                self.backend,
                chunk.len(),
            )));
            for &i in chunk {
                query = bind_facts(query, &grouping.touched[i].facts).bind(stamps.nth(i));
            }
            // Each new incident has its own change position: map ids back by it.
            let by_seq: HashMap<i64, i64> = query
                .fetch_all(&mut **tx)
                .await?
                .iter()
                .map(|row| Ok((row.try_get::<i64, _>(1)?, row.try_get::<i64, _>(0)?)))
                .collect::<std::result::Result<_, sqlx::Error>>()?;
            for &i in chunk {
                ids[i] = *by_seq.get(&stamps.nth(i)).ok_or_else(|| {
                    StoreError::Corrupt("an inserted incident came back without its id".into())
                })?;
            }
        }
        for (chunk_no, chunk) in events.chunks(INSERT_CHUNK).enumerate() {
            let mut query =
                sqlx::query(AssertSqlSafe(insert_events_sql(self.backend, chunk.len())));
            for (k, e) in chunk.iter().enumerate() {
                let (touched, _) = grouping.placements[chunk_no * INSERT_CHUNK + k];
                let (behaviour, artifacts) = event_details(e)?;
                query = bind_shared(query, &IncidentFacts::open(e))
                    .bind(ids[touched])
                    .bind(e.kind.as_str())
                    .bind(e.time.timestamp_millis())
                    .bind(behaviour)
                    .bind(artifacts);
            }
            query.execute(&mut **tx).await?;
        }
        Ok(ids)
    }

    /// PostgreSQL's writes of a grouped batch: ids for the new incidents, then one
    /// statement each for new incidents, changed incidents and events.
    async fn write_postgres(
        &self,
        tx: &mut sqlx::Transaction<'static, Any>,
        events: &[NewEvent],
        grouping: &Grouping,
        stamps: Stamps,
    ) -> Result<Vec<i64>> {
        let new: Vec<usize> = (0..grouping.touched.len())
            .filter(|&i| grouping.touched[i].existing.is_none())
            .collect();
        let mut fresh = bulk::new_incident_ids(tx, new.len()).await?.into_iter();
        let mut ids = vec![0i64; grouping.touched.len()];
        let (mut inserts, mut updates) = (Vec::new(), Vec::new());
        for (i, t) in grouping.touched.iter().enumerate() {
            let (id, rows) = match &t.existing {
                Some(incident) => (incident.id.get(), &mut updates),
                None => (
                    fresh.next().ok_or_else(|| {
                        StoreError::Corrupt("PostgreSQL handed out too few incident ids".into())
                    })?,
                    &mut inserts,
                ),
            };
            ids[i] = id;
            rows.push(bulk::IncidentRecord::local(id, &t.facts, stamps.nth(i)));
        }
        bulk::insert_incidents(tx, &inserts).await?;
        bulk::update_incidents(tx, &updates).await?;
        let opened: Vec<IncidentFacts> = events.iter().map(IncidentFacts::open).collect();
        let records = events
            .iter()
            .zip(&opened)
            .zip(&grouping.placements)
            .map(|((e, facts), &(touched, _))| {
                Ok(bulk::EventRecord::of(
                    facts,
                    e,
                    ids[touched],
                    event_details(e)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        bulk::insert_events(tx, &records).await?;
        Ok(ids)
    }
}

/// Statement texts built once.
pub(super) struct IngestSql {
    update_incident: String,
}

impl IngestSql {
    pub(super) fn new() -> Self {
        Self {
            update_incident: update_incident_sql(),
        }
    }
}

#[async_trait::async_trait]
impl crate::IngestStore for SqlStore {
    async fn ingest(&self, events: &[NewEvent]) -> Result<Vec<Placement>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let _running = match self.backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(
                self.ingests
                    .acquire()
                    .await
                    .map_err(|_| StoreError::Unavailable("the store is closing".into()))?,
            ),
        };
        let endpoints: BTreeSet<String> =
            events.iter().map(|e| e.endpoint.ip.to_string()).collect();
        let endpoints: Vec<String> = endpoints.into_iter().collect();
        let (_writer, mut tx) = self.begin_write().await?;
        self.lock_whitelist(&mut tx, false).await?;
        if self.backend == Backend::Postgres {
            bulk::lock_endpoints(&mut tx, &bulk::ip_array(endpoints.iter().cloned())).await?;
        }
        let stamps = self.stamps(&mut tx).await?;
        let whitelist = self.active_whitelist(&mut tx).await?;
        let whitelisted: Vec<NewEvent>;
        let events = if events
            .iter()
            .any(|e| whitelist.iter().any(|w| w.matches(e)))
        {
            whitelisted = events
                .iter()
                .map(|e| {
                    let mut e = e.clone();
                    if whitelist.iter().any(|w| w.matches(&e)) {
                        e.severity = Severity::BENIGN;
                    }
                    e
                })
                .collect();
            &whitelisted[..]
        } else {
            events
        };
        let grouping = group(self.candidates(&mut tx, events, &endpoints).await?, events);
        let ids = match self.backend {
            Backend::Sqlite => {
                self.write_sqlite(&mut tx, events, &grouping, stamps)
                    .await?
            }
            Backend::Postgres => {
                self.write_postgres(&mut tx, events, &grouping, stamps)
                    .await?
            }
        };
        self.commit_changes(tx, stamps, grouping.touched.len())
            .await?;
        Ok(grouping
            .placements
            .iter()
            .map(|&(touched, opened)| Placement {
                incident_id: IncidentId::new(ids[touched]),
                opened,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_line_up_with_binds() {
        let update = update_incident_sql();
        assert!(update.contains("event_count = $19"), "{update}");
        assert!(update.ends_with("change_seq = $20 WHERE id = $21"));
        let insert = insert_incidents_sql(Backend::Postgres, 2);
        assert!(insert.contains("($1, "), "{insert}");
        assert!(insert.contains("$19, 'new', 1, $20), ($21, "), "{insert}");
        assert!(insert.ends_with("$39, 'new', 1, $40) RETURNING id, change_seq"));
        assert!(insert_incidents_sql(Backend::Sqlite, 1).contains("(?, ?, "));
        assert!(
            insert_events_sql(Backend::Postgres, 2).ends_with("$19), ($20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36, $37, $38)")
        );
    }
}
