//! Incidents: ingest with grouping, pages with keyset paging, status changes, the
//! change feed.

use aerie_domain::ids::CmId;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, Row};

use aerie_domain::{
    incident::{Incident, IncidentId},
    query::{Cursor, IncidentFilter, IncidentPage, IncidentQuery, IncidentSort},
    status::Status,
    text::Text,
};

use super::{Backend, SqlStore, rows};
use crate::{Result, StoreError};

/// A bind value of a query built at run time.
pub(super) enum Param {
    Int(i64),
    Text(String),
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern matching a substring.
pub(super) fn contains_pattern(needle: &str) -> String {
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

/// Which incident table a page reads.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Table {
    /// This CM's incidents.
    Local,
    /// The MCM's copy of its CMs' incidents.
    Remote,
}

/// Builds the SQL and parameters of one page of incidents; `cms` narrows the MCM's table
/// to some CMs.
pub(super) fn page_sql(q: &IncidentQuery, table: Table, cms: &[CmId]) -> (String, Vec<Param>) {
    select_sql(q, table, cms, None)
}

/// [`page_sql`] selecting `select` instead of the table's row columns.
fn select_sql(
    q: &IncidentQuery,
    table: Table,
    cms: &[CmId],
    select: Option<&str>,
) -> (String, Vec<Param>) {
    let mut p = Params::default();
    let mut conds: Vec<String> = Vec::new();
    let f = &q.filter;
    if !cms.is_empty() {
        conds.push(p.in_list("cm_id", cms.iter().map(|id| Param::Int(id.get()))));
    }
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
    if let Some(file) = &f.file {
        conds.push(format!(
            "file_sha256 = {}",
            p.slot(Param::Text(file.as_str().to_owned()))
        ));
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
    let (columns, from) = match table {
        Table::Local => (rows::INCIDENT_COLUMNS, "incidents"),
        Table::Remote => (rows::REMOTE_COLUMNS, "remote_incidents"),
    };
    let columns = select.unwrap_or(columns);
    let sql = format!(
        "SELECT {columns} FROM {from}{filter} ORDER BY {order} LIMIT {}",
        q.limit + 1
    );
    (sql, p.0)
}

impl SqlStore {
    /// The rows of one page (one more than the limit, to know whether more follow).
    pub(super) async fn fetch_page(
        &self,
        q: &IncidentQuery,
        table: Table,
        cms: &[CmId],
    ) -> Result<Vec<sqlx::any::AnyRow>> {
        let (sql, params) = page_sql(q, table, cms);
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for p in params {
            query = match p {
                Param::Int(v) => query.bind(v),
                Param::Text(v) => query.bind(v),
            };
        }
        Ok(query.fetch_all(&self.pool).await?)
    }
}

#[async_trait]
impl crate::IncidentStore for SqlStore {
    async fn incidents(&self, q: &IncidentQuery) -> Result<IncidentPage> {
        let rows = self.fetch_page(q, Table::Local, &[]).await?;
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

    /// How many incidents match `filter`, counting no further than `cap` + 1; `cms`
    /// counts the MCM's table (of those CMs; all when empty).
    async fn count_incidents(
        &self,
        filter: &IncidentFilter,
        cms: Option<&[CmId]>,
        cap: u32,
    ) -> Result<u64> {
        let q = IncidentQuery {
            filter: filter.clone(),
            sort: IncidentSort::Time,
            limit: cap,
            after: None,
        };
        let (table, cms) = match cms {
            None => (Table::Local, &[][..]),
            Some(cms) => (Table::Remote, cms),
        };
        let (sql, params) = select_sql(&q, table, cms, Some("1 AS one"));
        let sql = format!("SELECT COUNT(*) FROM ({sql}) matching");
        let mut query = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql));
        for p in params {
            query = match p {
                Param::Int(v) => query.bind(v),
                Param::Text(v) => query.bind(v),
            };
        }
        Ok(query.fetch_one(&self.pool).await? as u64)
    }

    async fn change_status(
        &self,
        id: IncidentId,
        to: Status,
        comment: &Text,
        actor: &Text,
        at: DateTime<Utc>,
    ) -> Result<Incident> {
        let (_writer, mut tx) = self.begin_write().await?;
        let stamps = self.stamps(&mut tx).await?;
        let seq = stamps.nth(0);
        let lock = match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        };
        let sql = format!(
            "SELECT {} FROM incidents WHERE id = $1{lock}",
            rows::INCIDENT_COLUMNS
        );
        let incident = sqlx::query(AssertSqlSafe(sql))
            .bind(id.get())
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
        .bind(id.get())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO status_changes (incident_id, from_status, to_status, comment, actor, at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.get())
        .bind(incident.status.as_str())
        .bind(to.as_str())
        .bind(comment.as_str().to_owned())
        .bind(actor.as_str().to_owned())
        .bind(at.timestamp_millis())
        .execute(&mut *tx)
        .await?;
        self.commit_changes(tx, stamps, 1).await?;
        Ok(Incident {
            status: to,
            version: incident.version + 1,
            change_seq: seq,
            ..incident
        })
    }

    async fn incident(&self, id: IncidentId) -> Result<Option<Incident>> {
        let sql = format!(
            "SELECT {} FROM incidents WHERE id = $1",
            rows::INCIDENT_COLUMNS
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(id.get())
            .fetch_optional(&self.pool)
            .await?
            .map(|row| rows::incident(&row))
            .transpose()
    }

    async fn events_of(&self, id: IncidentId) -> Result<Vec<aerie_domain::event::Event>> {
        let sql = format!(
            "SELECT {} FROM events WHERE incident_id = $1 ORDER BY time_ms, id",
            rows::EVENT_COLUMNS
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(id.get())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rows::event).collect()
    }

    async fn events_page(
        &self,
        id: IncidentId,
        before: Option<(i64, i64)>,
        limit: u32,
    ) -> Result<Vec<aerie_domain::event::Event>> {
        let (time_ms, event_id) = before.unwrap_or((i64::MAX, i64::MAX));
        let sql = format!(
            "SELECT {} FROM events WHERE incident_id = $1 \
             AND (time_ms < $2 OR (time_ms = $2 AND id < $3)) \
             ORDER BY time_ms DESC, id DESC LIMIT $4",
            rows::EVENT_COLUMNS
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(id.get())
            .bind(time_ms)
            .bind(event_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rows::event).collect()
    }

    async fn incident_census(&self, remote: bool) -> Result<Vec<(i64, Status, i64)>> {
        let table = if remote {
            "remote_incidents"
        } else {
            "incidents"
        };
        let sql = format!(
            "SELECT risk_rank, status, COUNT(*) AS n FROM {table} GROUP BY risk_rank, status"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<i64, _>("risk_rank")?,
                    rows::parsed(r, "status")?,
                    r.try_get::<i64, _>("n")?,
                ))
            })
            .collect()
    }

    async fn status_history(
        &self,
        id: IncidentId,
    ) -> Result<Vec<aerie_domain::incident::StatusChange>> {
        let rows = sqlx::query(
            "SELECT incident_id, from_status, to_status, comment, actor, at_ms \
             FROM status_changes WHERE incident_id = $1 ORDER BY id",
        )
        .bind(id.get())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::status_change).collect()
    }

    async fn changes_since(&self, after_seq: i64, limit: u32) -> Result<Vec<Incident>> {
        let rows = sqlx::query(AssertSqlSafe(self.feed.changes.as_str()))
            .bind(after_seq)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rows::incident).collect()
    }

    async fn last_change_seq(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar(AssertSqlSafe(self.feed.last_position.as_str()))
                .fetch_one(&self.pool)
                .await?,
        )
    }

    fn watch_changes(&self) -> tokio::sync::watch::Receiver<i64> {
        self.changes.subscribe()
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
    fn default_page_has_no_filters() {
        let (sql, params) = page_sql(&IncidentQuery::default(), Table::Local, &[]);
        assert!(params.is_empty());
        assert!(!sql.contains("WHERE"));
        assert!(
            sql.ends_with("LIMIT 51"),
            "fetches one extra row to know if more follow"
        );
    }
}
