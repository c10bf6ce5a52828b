//! Cross-CM correlation: `indicator_sightings` holds each indicator of each incident in
//! the MCM's table. A follower of the MCM's feed ([`CorrelationStore::correlate_next`])
//! rewrites the sightings of the incidents sync batches wrote, in one transaction with
//! its cursor, off the sync's path; a batch itself only drops the sightings of what it
//! removed. So the campaigns follow the table (a moment behind) and no page view scans it.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, Row};

use aerie_domain::{
    correlation::{self, Campaign, Indicator, IndicatorKind, MIN_CMS},
    ids::CmId,
    incident::IncidentId,
    text::{Sha256Hex, Text},
};

use super::{Backend, SqlStore, feed, ingest::values, rows};
use crate::Result;

/// Incidents read back at a time.
const CHUNK: usize = 400;

/// The follower's cursor in `feed_cursors`.
const FOLLOWER: &str = "correlation";

impl SqlStore {
    /// Rewrites the sightings of CM `cm_id`'s incidents `ids` from their rows in the MCM's
    /// table (an incident no longer there loses its sightings).
    pub(super) async fn resight(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        cm_id: CmId,
        ids: &[i64],
    ) -> Result<()> {
        for chunk in ids.chunks(CHUNK) {
            self.unsight(tx, cm_id, chunk).await?;
            let found = self
                .in_ids(
                    "SELECT incident_id, file_sha256, source_ip, source_name, first_seen_ms, \
                     last_activity_ms FROM remote_incidents WHERE cm_id = CM AND incident_id IN",
                    cm_id,
                    chunk,
                )
                .fetch_all(&mut **tx)
                .await?;
            let mut sightings = Vec::new();
            for row in &found {
                let file: Option<String> = row.try_get("file_sha256")?;
                let file = file.and_then(|f| Sha256Hex::parse("file_sha256", &f).ok());
                let ip: Option<String> = row.try_get("source_ip")?;
                let ip = ip.and_then(|i| i.parse().ok());
                let name: Option<String> = row.try_get("source_name")?;
                let name = name.map(Text::from_trusted);
                let (id, first, last): (i64, i64, i64) = (
                    row.try_get("incident_id")?,
                    row.try_get("first_seen_ms")?,
                    row.try_get("last_activity_ms")?,
                );
                for i in correlation::indicators(file.as_ref(), ip, name.as_ref()) {
                    sightings.push((i, id, first, last));
                }
            }
            for part in sightings.chunks(CHUNK) {
                let sql = format!(
                    "INSERT INTO indicator_sightings (kind, value, cm_id, incident_id, \
                     first_seen_ms, last_seen_ms) VALUES {} ON CONFLICT DO NOTHING",
                    values(self.backend, part.len(), 6, |s| s.join(", "))
                );
                let mut query = sqlx::query(AssertSqlSafe(sql));
                for (i, id, first, last) in part {
                    query = query
                        .bind(i.kind.as_str())
                        .bind(i.value.clone())
                        .bind(cm_id.get())
                        .bind(*id)
                        .bind(*first)
                        .bind(*last);
                }
                query.execute(&mut **tx).await?;
            }
        }
        Ok(())
    }

    /// Drops the sightings of CM `cm_id`'s incidents `ids`.
    pub(super) async fn unsight(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        cm_id: CmId,
        ids: &[i64],
    ) -> Result<()> {
        for chunk in ids.chunks(CHUNK) {
            self.in_ids(
                "DELETE FROM indicator_sightings WHERE cm_id = CM AND incident_id IN",
                cm_id,
                chunk,
            )
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// Drops the sightings of CM `cm_id`'s incidents that left the MCM's table.
    pub(super) async fn drop_orphan_sightings(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        cm_id: CmId,
    ) -> Result<()> {
        sqlx::query(
            "DELETE FROM indicator_sightings WHERE cm_id = $1 AND NOT EXISTS \
             (SELECT 1 FROM remote_incidents r WHERE r.cm_id = indicator_sightings.cm_id \
             AND r.incident_id = indicator_sightings.incident_id)",
        )
        .bind(cm_id.get())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

fn indicator(kind: &str, value: String) -> Result<Indicator> {
    Ok(Indicator {
        kind: kind
            .parse::<IndicatorKind>()
            .map_err(|_| crate::StoreError::Corrupt(format!("indicator kind {kind:?}")))?,
        value,
    })
}

#[async_trait]
impl crate::CorrelationStore for SqlStore {
    fn set_correlation(&self, on: bool) {
        self.correlate
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    async fn correlate_next(&self, limit: u32) -> Result<usize> {
        if !self.correlate.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(0);
        }
        // Nothing new (the common case of a poll) takes no write transaction.
        let at = crate::FeedStore::cursor(self, FOLLOWER)
            .await?
            .unwrap_or_default();
        if feed::remote_changes_in(self, &self.pool, at, 1)
            .await?
            .is_empty()
        {
            return Ok(0);
        }
        let (_writer, mut tx) = self.begin_write().await?;
        let after = feed::cursor_in(&mut *tx, FOLLOWER)
            .await?
            .unwrap_or_default();
        let page = feed::remote_changes_in(self, &mut *tx, after, limit).await?;
        let Some((last, _)) = page.last() else {
            tx.commit().await?;
            return Ok(0);
        };
        let last = *last;
        let mut by_cm: BTreeMap<CmId, Vec<i64>> = BTreeMap::new();
        for (_, r) in &page {
            by_cm.entry(r.cm_id).or_default().push(r.incident.id.get());
        }
        for (cm_id, ids) in &by_cm {
            // PostgreSQL: the CM's row lock, which its sync batches take too, so that a
            // batch removing one of these incidents cannot commit between the read-back
            // and the insert (its sightings would outlive it).
            if self.backend == Backend::Postgres {
                sqlx::query("SELECT id FROM cms WHERE id = $1 FOR UPDATE")
                    .bind(cm_id.get())
                    .fetch_optional(&mut *tx)
                    .await?;
            }
            self.resight(&mut tx, *cm_id, ids).await?;
        }
        feed::set_cursor_in(&mut *tx, FOLLOWER, last).await?;
        tx.commit().await?;
        Ok(page.len())
    }

    async fn correlation_behind(&self) -> Result<i64> {
        let at = crate::FeedStore::cursor(self, FOLLOWER)
            .await?
            .unwrap_or_default();
        crate::FeedStore::remote_behind(self, at).await
    }

    async fn campaigns(&self, since: DateTime<Utc>, limit: u32) -> Result<Vec<Campaign>> {
        let since_ms = since.timestamp_millis();
        let heads = sqlx::query(
            "SELECT kind, value, COUNT(DISTINCT cm_id) AS cms, COUNT(*) AS incidents, \
             MIN(first_seen_ms) AS first_ms, MAX(last_seen_ms) AS last_ms \
             FROM indicator_sightings WHERE last_seen_ms >= $1 \
             GROUP BY kind, value HAVING COUNT(DISTINCT cm_id) >= $2 \
             ORDER BY MAX(last_seen_ms) DESC, kind, value LIMIT $3",
        )
        .bind(since_ms)
        .bind(MIN_CMS)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(heads.len());
        for h in &heads {
            let kind: String = h.try_get("kind")?;
            let value: String = h.try_get("value")?;
            let cms = sqlx::query(
                "SELECT DISTINCT cm_id FROM indicator_sightings \
                 WHERE kind = $1 AND value = $2 AND last_seen_ms >= $3 ORDER BY cm_id",
            )
            .bind(kind.clone())
            .bind(value.clone())
            .bind(since_ms)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| r.try_get::<i64, _>(0).map(CmId::new))
            .collect::<std::result::Result<Vec<_>, _>>()?;
            out.push(Campaign {
                indicator: indicator(&kind, value)?,
                cms,
                first_seen: rows::time(h.try_get("first_ms")?)?,
                last_seen: rows::time(h.try_get("last_ms")?)?,
                incidents: h.try_get("incidents")?,
            });
        }
        Ok(out)
    }

    async fn also_seen(&self, cm_id: CmId, id: IncidentId) -> Result<Vec<(Indicator, Vec<CmId>)>> {
        let found = sqlx::query(
            "SELECT DISTINCT o.kind, o.value, o.cm_id FROM indicator_sightings s \
             JOIN indicator_sightings o ON o.kind = s.kind AND o.value = s.value \
             WHERE s.cm_id = $1 AND s.incident_id = $2 AND o.cm_id <> $1 \
             ORDER BY o.kind, o.value, o.cm_id",
        )
        .bind(cm_id.get())
        .bind(id.get())
        .fetch_all(&self.pool)
        .await?;
        let mut by: BTreeMap<(String, String), Vec<CmId>> = BTreeMap::new();
        for r in &found {
            by.entry((r.try_get("kind")?, r.try_get("value")?))
                .or_default()
                .push(CmId::new(r.try_get("cm_id")?));
        }
        by.into_iter()
            .map(|((kind, value), cms)| Ok((indicator(&kind, value)?, cms)))
            .collect()
    }
}
