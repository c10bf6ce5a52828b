//! Cross-CM correlation: `indicator_sightings` holds each indicator of each incident in
//! the MCM's table. [`SqlStore::resight`] rewrites the rows of the incidents a sync batch
//! touched, inside that batch's transaction, so the campaigns follow the table exactly
//! and no page view scans it.

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

use super::{SqlStore, ingest::values, rows};
use crate::Result;

/// Incidents read back at a time.
const CHUNK: usize = 400;

impl SqlStore {
    /// Rewrites the sightings of CM `cm_id`'s incidents `ids` from their rows in the MCM's
    /// table (an incident no longer there loses its sightings).
    pub(super) async fn resight(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        cm_id: CmId,
        ids: &[i64],
    ) -> Result<()> {
        if !self.correlate.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(());
        }
        for chunk in ids.chunks(CHUNK) {
            self.in_ids(
                "DELETE FROM indicator_sightings WHERE cm_id = CM AND incident_id IN",
                cm_id,
                chunk,
            )
            .execute(&mut **tx)
            .await?;
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

    /// Drops the sightings of CM `cm_id`'s incidents that left the MCM's table.
    pub(super) async fn drop_orphan_sightings(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        cm_id: CmId,
    ) -> Result<()> {
        if !self.correlate.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(());
        }
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
