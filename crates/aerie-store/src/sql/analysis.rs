//! Events by id and by time window, hash reputation, and the analyses of submitted files.

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, Row};

use aerie_domain::{
    analysis::{Analysis, KnownFile, Verdict},
    event::{Event, EventKind},
    incident::IncidentId,
    text::Sha256Hex,
};

use super::{SqlStore, rows};
use crate::Result;

#[async_trait]
impl crate::AnalysisStore for SqlStore {
    async fn event(&self, id: i64) -> Result<Option<Event>> {
        let sql = format!("SELECT {} FROM events WHERE id = $1", rows::EVENT_COLUMNS);
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::event).transpose()
    }

    async fn events_between(
        &self,
        from_ms: i64,
        to_ms: i64,
        after: Option<(i64, i64)>,
        limit: u32,
    ) -> Result<Vec<Event>> {
        let (time_ms, id) = after.unwrap_or((i64::MIN, i64::MIN));
        let sql = format!(
            "SELECT {} FROM events WHERE time_ms >= $1 AND time_ms < $2 \
             AND (time_ms > $3 OR (time_ms = $3 AND id > $4)) \
             ORDER BY time_ms, id LIMIT $5",
            rows::EVENT_COLUMNS
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(from_ms)
            .bind(to_ms)
            .bind(time_ms)
            .bind(id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rows::event).collect()
    }

    async fn known_file(&self, sha256: &Sha256Hex) -> Result<Option<KnownFile>> {
        let row = sqlx::query(
            "SELECT severity, threat_name, incident_id FROM events \
             WHERE file_sha256 = $1 AND kind <> $2 ORDER BY severity DESC, id LIMIT 1",
        )
        .bind(sha256.as_str().to_owned())
        .bind(EventKind::Upload.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(KnownFile {
                severity: rows::severity(&r)?,
                threat_name: rows::text(&r, "threat_name")?,
                incident_id: IncidentId::new(r.try_get("incident_id")?),
            })
        })
        .transpose()
    }

    async fn put_analysis(&self, a: &Analysis) -> Result<()> {
        let (_writer, mut tx) = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO analyses (event_id, sha256, md5, file_name, size, submitted_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(a.event_id)
        .bind(a.sha256.as_str().to_owned())
        .bind(a.md5.clone())
        .bind(a.file_name.as_str().to_owned())
        .bind(a.size)
        .bind(a.submitted.timestamp_millis())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn finish_analysis(&self, event_id: i64, v: &Verdict) -> Result<()> {
        let (_writer, mut tx) = self.begin_write().await?;
        sqlx::query(
            "UPDATE analyses SET done_ms = $1, severity = $2, malware_name = $3, reason = $4 \
             WHERE event_id = $5",
        )
        .bind(v.done.timestamp_millis())
        .bind(v.severity.value())
        .bind(v.malware_name.as_str().to_owned())
        .bind(v.reason.as_str().to_owned())
        .bind(event_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn analysis(&self, event_id: i64) -> Result<Option<Analysis>> {
        let sql = format!(
            "SELECT {} FROM analyses WHERE event_id = $1",
            rows::ANALYSIS_COLUMNS
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(event_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::analysis).transpose()
    }

    async fn analysis_by_md5(&self, md5: &str) -> Result<Option<Analysis>> {
        let sql = format!(
            "SELECT {} FROM analyses WHERE md5 = $1 ORDER BY event_id DESC LIMIT 1",
            rows::ANALYSIS_COLUMNS
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(md5.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::analysis).transpose()
    }
}
