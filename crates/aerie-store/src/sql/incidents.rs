//! Incidents: ingest with grouping, pages with keyset paging, status changes, the
//! change feed.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Any, AssertSqlSafe, any::AnyArguments, query::Query};

use aerie_domain::{
    event::{Event, NewEvent},
    incident::{GROUPING_WINDOW, Incident, IncidentFacts, IncidentId, Placement, StatusChange},
    query::{Cursor, IncidentPage, IncidentQuery, IncidentSort, endpoint_sort_key},
    status::Status,
    text::Text,
    user::{ApiKey, Role, User, Username},
};

use super::{Backend, SqlStore, rows};
use crate::{Result, Store, StoreError};

type AnyQuery<'q> = Query<'q, Any, AnyArguments>;

fn opt(t: &Option<Text>) -> Option<String> {
    t.as_ref().map(|t| t.as_str().to_owned())
}

/// Binds the columns every incident row and event row share, in [`SHARED_COLUMNS`] order.
fn bind_shared<'q>(q: AnyQuery<'q>, e: &NewEvent) -> AnyQuery<'q> {
    q.bind(e.severity.value())
        .bind(e.category.as_str())
        .bind(e.threat_name.as_str().to_owned())
        .bind(e.endpoint.ip.to_string())
        .bind(opt(&e.endpoint.name))
        .bind(opt(&e.endpoint.os))
        .bind(opt(&e.endpoint.user))
        .bind(e.source.ip.map(|ip| ip.to_string()))
        .bind(opt(&e.source.name))
        .bind(e.source.country.map(|c| c.as_str().to_owned()))
        .bind(e.progression.bits())
        .bind(opt(&e.collector_id))
        .bind(e.collector_type.as_str())
        .bind(e.file_sha256.as_ref().map(|s| s.as_str().to_owned()))
}

/// Binds an incident's facts: its headline as an event, then times, risk and count.
fn bind_facts<'q>(q: AnyQuery<'q>, f: &IncidentFacts) -> AnyQuery<'q> {
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
        .bind(f.first_seen.timestamp_millis())
        .bind(f.last_activity.timestamp_millis())
        .bind(f.risk().rank())
        .bind(endpoint_sort_key(f.endpoint_ip))
        .bind(f.event_count)
}

const SHARED_COLUMNS: &str = "severity, category, threat_name, endpoint_ip, endpoint_name, \
    endpoint_os, endpoint_user, source_ip, source_name, source_country, progression, \
    collector_id, collector_type, file_sha256";

fn insert_incident_sql() -> String {
    format!(
        "INSERT INTO incidents ({SHARED_COLUMNS}, first_seen_ms, last_activity_ms, risk_rank, \
         endpoint_key, event_count, status, version, change_seq) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, \
         'new', 1, $20) RETURNING id"
    )
}

fn update_incident_sql() -> String {
    let assignments: Vec<String> = SHARED_COLUMNS
        .split(", ")
        .chain([
            "first_seen_ms",
            "last_activity_ms",
            "risk_rank",
            "endpoint_key",
            "event_count",
        ])
        .enumerate()
        .map(|(i, col)| format!("{col} = ${}", i + 1))
        .collect();
    format!(
        "UPDATE incidents SET {}, version = version + 1, change_seq = $20 WHERE id = $21",
        assignments.join(", ")
    )
}

fn insert_event_sql() -> String {
    format!(
        "INSERT INTO events ({SHARED_COLUMNS}, incident_id, kind, time_ms) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
    )
}

/// Prepared statement texts, built once.
pub(super) struct IncidentSql {
    insert_incident: String,
    update_incident: String,
    insert_event: String,
    find_open: String,
}

impl IncidentSql {
    pub(super) fn new() -> Self {
        Self {
            insert_incident: insert_incident_sql(),
            update_incident: update_incident_sql(),
            insert_event: insert_event_sql(),
            find_open: format!(
                "SELECT {} FROM incidents WHERE endpoint_ip = $1 AND status <> 'complete' \
                 AND last_activity_ms >= $2 AND first_seen_ms <= $3 \
                 ORDER BY last_activity_ms DESC LIMIT 1",
                rows::INCIDENT_COLUMNS
            ),
        }
    }
}

/// A bind value of a query built at run time.
enum Param {
    Int(i64),
    Text(String),
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern matching a substring.
fn contains_pattern(needle: &str) -> String {
    let mut p = String::with_capacity(needle.len() + 2);
    p.push('%');
    for c in needle.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// The bind values of a query built at run time, numbered as they are added.
#[derive(Default)]
struct Params(Vec<Param>);

impl Params {
    /// Adds a value; returns its placeholder.
    fn slot(&mut self, p: Param) -> String {
        self.0.push(p);
        format!("${}", self.0.len())
    }

    fn in_list(&mut self, col: &str, values: impl IntoIterator<Item = Param>) -> String {
        let slots: Vec<String> = values.into_iter().map(|v| self.slot(v)).collect();
        format!("{col} IN ({})", slots.join(", "))
    }
}

/// Builds the SQL and parameters of one page of incidents.
fn page_sql(q: &IncidentQuery) -> (String, Vec<Param>) {
    let mut p = Params::default();
    let mut conds: Vec<String> = Vec::new();
    let f = &q.filter;
    if !f.risks.is_empty() {
        // Unless the page is sorted by risk, the sort's index must drive the scan: a unary
        // `+` keeps SQLite from choosing the risk index for this filter and then sorting a
        // fifth of the table. (PostgreSQL plans by statistics and ignores it.)
        let col = if q.sort == IncidentSort::Risk {
            "risk_rank"
        } else {
            "+risk_rank"
        };
        conds.push(p.in_list(col, f.risks.iter().map(|r| Param::Int(r.rank()))));
    }
    if !f.statuses.is_empty() {
        conds.push(p.in_list(
            "status",
            f.statuses.iter().map(|s| Param::Text(s.as_str().into())),
        ));
    }
    if !f.categories.is_empty() {
        let values = f.categories.iter().map(|c| Param::Text(c.as_str().into()));
        conds.push(p.in_list("category", values));
    }
    if let Some(ip) = f.endpoint {
        conds.push(format!(
            "endpoint_ip = {}",
            p.slot(Param::Text(ip.to_string()))
        ));
    }
    if let Some(source) = &f.source {
        match source.parse::<std::net::IpAddr>() {
            Ok(ip) => conds.push(format!(
                "source_ip = {}",
                p.slot(Param::Text(ip.to_string()))
            )),
            Err(_) => {
                let s = p.slot(Param::Text(contains_pattern(source)));
                conds.push(format!("LOWER(source_name) LIKE {s} ESCAPE '\\'"));
            }
        }
    }
    if let Some(text) = &f.text {
        let s = p.slot(Param::Text(contains_pattern(text)));
        conds.push(format!(
            "(LOWER(threat_name) LIKE {s} ESCAPE '\\' OR LOWER(endpoint_name) LIKE {s} ESCAPE '\\' \
             OR LOWER(source_name) LIKE {s} ESCAPE '\\' OR endpoint_ip LIKE {s} ESCAPE '\\')"
        ));
    }
    if let Some(from) = f.from {
        conds.push(format!(
            "last_activity_ms >= {}",
            p.slot(Param::Int(from.timestamp_millis()))
        ));
    }
    if let Some(to) = f.to {
        conds.push(format!(
            "last_activity_ms < {}",
            p.slot(Param::Int(to.timestamp_millis()))
        ));
    }
    if let Some(cursor) = &q.after {
        let cond = match cursor {
            Cursor::Time { at_ms, id } => format!(
                "(last_activity_ms, id) < ({}, {})",
                p.slot(Param::Int(*at_ms)),
                p.slot(Param::Int(*id))
            ),
            Cursor::Risk { rank, at_ms, id } => format!(
                "(risk_rank, last_activity_ms, id) < ({}, {}, {})",
                p.slot(Param::Int(*rank)),
                p.slot(Param::Int(*at_ms)),
                p.slot(Param::Int(*id))
            ),
            Cursor::Endpoint { key, id } => format!(
                "(endpoint_key, id) > ({}, {})",
                p.slot(Param::Text(key.clone())),
                p.slot(Param::Int(*id))
            ),
        };
        conds.push(cond);
    }
    let order = match q.sort {
        IncidentSort::Time => "last_activity_ms DESC, id DESC",
        IncidentSort::Risk => "risk_rank DESC, last_activity_ms DESC, id DESC",
        IncidentSort::Endpoint => "endpoint_key ASC, id ASC",
    };
    let filter = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    let sql = format!(
        "SELECT {} FROM incidents{filter} ORDER BY {order} LIMIT {}",
        rows::INCIDENT_COLUMNS,
        q.limit + 1
    );
    (sql, p.0)
}

impl SqlStore {
    /// Places one event: absorbs it into its endpoint's open incident or opens a new one.
    async fn place(
        &self,
        tx: &mut sqlx::Transaction<'_, Any>,
        e: &NewEvent,
        seq: i64,
    ) -> Result<Placement> {
        let at = e.time.timestamp_millis();
        let window = GROUPING_WINDOW.num_milliseconds();
        let open = sqlx::query(AssertSqlSafe(self.sql.find_open.as_str()))
            .bind(e.endpoint.ip.to_string())
            .bind(at - window)
            .bind(at + window)
            .fetch_optional(&mut **tx)
            .await?
            .map(|row| rows::incident(&row))
            .transpose()?
            .filter(|i| i.facts.accepts(i.status, e));
        let placement = match open {
            Some(mut incident) => {
                incident.facts.absorb(e);
                bind_facts(
                    sqlx::query(AssertSqlSafe(self.sql.update_incident.as_str())),
                    &incident.facts,
                )
                .bind(seq)
                .bind(incident.id.0)
                .execute(&mut **tx)
                .await?;
                Placement {
                    incident_id: incident.id,
                    opened: false,
                }
            }
            None => {
                let facts = IncidentFacts::open(e);
                let id: i64 = bind_facts(
                    sqlx::query(AssertSqlSafe(self.sql.insert_incident.as_str())),
                    &facts,
                )
                .bind(seq)
                .fetch_one(&mut **tx)
                .await
                .and_then(|row| sqlx::Row::try_get(&row, 0))?;
                Placement {
                    incident_id: IncidentId(id),
                    opened: true,
                }
            }
        };
        bind_shared(
            sqlx::query(AssertSqlSafe(self.sql.insert_event.as_str())),
            e,
        )
        .bind(placement.incident_id.0)
        .bind(e.kind.as_str())
        .bind(at)
        .execute(&mut **tx)
        .await?;
        Ok(placement)
    }

    pub(super) async fn ingest_events(&self, events: &[NewEvent]) -> Result<Vec<Placement>> {
        let _writer = self.writer().await;
        let mut tx = self.pool.begin().await?;
        let mut seq = self.lock_change_seq(&mut tx).await?;
        let mut placements = Vec::with_capacity(events.len());
        for e in events {
            seq += 1;
            placements.push(self.place(&mut tx, e, seq).await?);
        }
        self.store_change_seq(&mut tx, seq).await?;
        tx.commit().await?;
        Ok(placements)
    }

    pub(super) async fn incident_page(&self, q: &IncidentQuery) -> Result<IncidentPage> {
        let (sql, params) = page_sql(q);
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for p in params {
            query = match p {
                Param::Int(v) => query.bind(v),
                Param::Text(v) => query.bind(v),
            };
        }
        let rows = query.fetch_all(&self.pool).await?;
        let mut items = rows
            .iter()
            .map(rows::incident)
            .collect::<Result<Vec<_>>>()?;
        let next = if items.len() > q.limit as usize {
            items.truncate(q.limit as usize);
            items.last().map(|last| Cursor::after(q.sort, last))
        } else {
            None
        };
        Ok(IncidentPage { items, next })
    }

    pub(super) async fn move_status(
        &self,
        id: IncidentId,
        to: Status,
        comment: &Text,
        actor: &Text,
        at: DateTime<Utc>,
    ) -> Result<Incident> {
        let _writer = self.writer().await;
        let mut tx = self.pool.begin().await?;
        let seq = self.lock_change_seq(&mut tx).await? + 1;
        let sql = format!(
            "SELECT {} FROM incidents WHERE id = $1",
            rows::INCIDENT_COLUMNS
        );
        let incident = sqlx::query(AssertSqlSafe(sql))
            .bind(id.0)
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| rows::incident(&row))
            .transpose()?
            .ok_or_else(|| StoreError::NotFound(format!("incident {id}")))?;
        incident.status.check_transition(to)?;
        sqlx::query(
            "UPDATE incidents SET status = $1, version = version + 1, change_seq = $2 WHERE id = $3",
        )
        .bind(to.as_str())
        .bind(seq)
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO status_changes (incident_id, from_status, to_status, comment, actor, at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.0)
        .bind(incident.status.as_str())
        .bind(to.as_str())
        .bind(comment.as_str().to_owned())
        .bind(actor.as_str().to_owned())
        .bind(at.timestamp_millis())
        .execute(&mut *tx)
        .await?;
        self.store_change_seq(&mut tx, seq).await?;
        tx.commit().await?;
        Ok(Incident {
            status: to,
            version: incident.version + 1,
            change_seq: seq,
            ..incident
        })
    }
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> Backend {
        self.backend
    }

    async fn ingest(&self, events: &[NewEvent]) -> Result<Vec<Placement>> {
        self.ingest_events(events).await
    }

    async fn incident(&self, id: IncidentId) -> Result<Option<Incident>> {
        let sql = format!(
            "SELECT {} FROM incidents WHERE id = $1",
            rows::INCIDENT_COLUMNS
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| rows::incident(&row))
            .transpose()
    }

    async fn events_of(&self, id: IncidentId) -> Result<Vec<Event>> {
        let sql = format!(
            "SELECT {} FROM events WHERE incident_id = $1 ORDER BY time_ms, id",
            rows::EVENT_COLUMNS
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(id.0)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rows::event).collect()
    }

    async fn incidents(&self, query: &IncidentQuery) -> Result<IncidentPage> {
        self.incident_page(query).await
    }

    async fn change_status(
        &self,
        id: IncidentId,
        to: Status,
        comment: &Text,
        actor: &Text,
        at: DateTime<Utc>,
    ) -> Result<Incident> {
        self.move_status(id, to, comment, actor, at).await
    }

    async fn status_history(&self, id: IncidentId) -> Result<Vec<StatusChange>> {
        let rows = sqlx::query(
            "SELECT incident_id, from_status, to_status, comment, actor, at_ms \
             FROM status_changes WHERE incident_id = $1 ORDER BY id",
        )
        .bind(id.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::status_change).collect()
    }

    async fn changes_since(&self, after_seq: i64, limit: u32) -> Result<Vec<Incident>> {
        let sql = format!(
            "SELECT {} FROM incidents WHERE change_seq > $1 ORDER BY change_seq LIMIT $2",
            rows::INCIDENT_COLUMNS
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(after_seq)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rows::incident).collect()
    }

    async fn last_change_seq(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT value FROM counters WHERE name = 'change_seq'")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn create_user(
        &self,
        username: &Username,
        password_hash: &str,
        role: Role,
        at: DateTime<Utc>,
    ) -> Result<User> {
        self.insert_user(username, password_hash, role, at).await
    }

    async fn user_credentials(&self, username: &Username) -> Result<Option<(User, String)>> {
        self.credentials(username).await
    }

    async fn set_password_hash(&self, user_id: i64, password_hash: &str) -> Result<()> {
        self.update_password_hash(user_id, password_hash).await
    }

    async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        expires: DateTime<Utc>,
    ) -> Result<()> {
        self.insert_session(token_hash, user_id, expires).await
    }

    async fn session_user(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<User>> {
        self.user_of_session(token_hash, now).await
    }

    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        self.remove_session(token_hash).await
    }

    async fn create_api_key(
        &self,
        user_id: i64,
        name: &Text,
        key_hash: &str,
        prefix: &str,
        at: DateTime<Utc>,
    ) -> Result<ApiKey> {
        self.insert_api_key(user_id, name, key_hash, prefix, at)
            .await
    }

    async fn api_keys(&self, user_id: i64) -> Result<Vec<ApiKey>> {
        self.keys_of(user_id).await
    }

    async fn rotate_api_key(
        &self,
        user_id: i64,
        key_id: i64,
        key_hash: &str,
        prefix: &str,
    ) -> Result<Option<ApiKey>> {
        self.replace_key(user_id, key_id, key_hash, prefix).await
    }

    async fn revoke_api_key(&self, user_id: i64, key_id: i64, at: DateTime<Utc>) -> Result<bool> {
        self.revoke_key(user_id, key_id, at).await
    }

    async fn api_key_user(&self, key_hash: &str) -> Result<Option<User>> {
        self.user_of_key(key_hash).await
    }

    async fn setting(&self, name: &str) -> Result<Option<String>> {
        self.read_setting(name).await
    }

    async fn set_setting(&self, name: &str, value: &str) -> Result<()> {
        self.write_setting(name, value).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_pattern_escapes_wildcards() {
        assert_eq!(contains_pattern("A%b_c\\"), "%a\\%b\\_c\\\\%");
    }

    #[test]
    fn update_binds_line_up() {
        let sql = update_incident_sql();
        assert!(sql.contains("event_count = $19"), "{sql}");
        assert!(sql.contains("change_seq = $20 WHERE id = $21"));
    }

    #[test]
    fn default_page_has_no_filters() {
        let (sql, params) = page_sql(&IncidentQuery::default());
        assert!(params.is_empty());
        assert!(!sql.contains("WHERE"));
        assert!(
            sql.ends_with("LIMIT 51"),
            "fetches one extra row to know if more follow"
        );
    }
}
