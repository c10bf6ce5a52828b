//! Federation storage. On an MCM: registered CMs, the idempotent apply of their sync
//! batches within resync epochs, and the copy of their incidents. On a CM: what the sync worker
//! reads.

use aerie_domain::ids::CmId;
use async_trait::async_trait;
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, Row};

use aerie_domain::{
    federation::{
        Admission, Cm, CmRegistration, RemoteIncident, RemotePage, ResyncStep, SyncBatch,
        SyncOutcome,
    },
    incident::{Incident, IncidentId},
    query::{Cursor, IncidentQuery},
};

use super::{
    Backend, SqlStore, bulk,
    incidents::Table,
    ingest::{FACT_COLUMNS, INSERT_CHUNK, SHARED_COLUMNS, bind_facts, values},
    rows,
};
use crate::{Result, StoreError};

const CM_COLUMNS: &str = "id, uid, name, url, ip, version, fips, cert_fingerprint, proxy_token, \
    registered_ms, last_seen_ms, last_sync_ms, epoch, acked_seq, backlog, incident_count, deregistered_ms";

/// The upsert of one chunk of a CM's incidents: a newer version wins, an older or equal
/// one changes nothing (re-sent batches are harmless); a row of an older epoch is
/// replaced whatever its version.
fn upsert_sql(backend: super::Backend, rows: usize) -> String {
    let data_cols: Vec<&str> = SHARED_COLUMNS
        .split(", ")
        .chain(FACT_COLUMNS)
        .chain(["status", "version", "change_seq", "epoch", "feed_seq"])
        .collect();
    let per_row = data_cols.len() + 2;
    let values = values(backend, rows, per_row, |s| s.join(", "));
    let updates: Vec<String> = data_cols
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    format!(
        "INSERT INTO remote_incidents ({}, cm_id, incident_id) VALUES {values} \
         ON CONFLICT (cm_id, incident_id) DO UPDATE SET {} \
         WHERE excluded.epoch > remote_incidents.epoch \
         OR excluded.version > remote_incidents.version",
        data_cols.join(", "),
        updates.join(", ")
    )
}

impl SqlStore {
    /// `sql` (its `CM` the first parameter) followed by `(ids…)`, bound with the CM first
    /// and then the ids.
    pub(super) fn in_ids<'q>(
        &self,
        sql: &str,
        cm_id: CmId,
        ids: &[i64],
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        let slots: Vec<String> = (2..ids.len() + 2)
            .map(|i| self.backend.placeholder(i))
            .collect();
        let sql = format!(
            "{} ({})",
            sql.replace("CM", &self.backend.placeholder(1)),
            slots.join(", ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(cm_id.get());
        for id in ids {
            query = query.bind(*id);
        }
        query
    }

    /// The incidents of `chunk` newer than the CM's removal of them, if any. The removal
    /// records they pass are dropped.
    async fn above_removals<'a>(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        cm_id: CmId,
        chunk: &'a [Incident],
    ) -> Result<Vec<&'a Incident>> {
        let ids: Vec<i64> = chunk.iter().map(|i| i.id.get()).collect();
        let floors: HashMap<i64, i64> = self
            .in_ids(
                "SELECT incident_id, version FROM remote_removals WHERE cm_id = CM AND incident_id IN",
                cm_id,
                &ids,
            )
            .fetch_all(&mut **tx)
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<std::result::Result<_, sqlx::Error>>()?;
        if floors.is_empty() {
            return Ok(chunk.iter().collect());
        }
        let passing: Vec<&Incident> = chunk
            .iter()
            .filter(|i| {
                floors
                    .get(&i.id.get())
                    .is_none_or(|floor| i.version > *floor)
            })
            .collect();
        let lifted: Vec<i64> = passing
            .iter()
            .map(|i| i.id.get())
            .filter(|id| floors.contains_key(id))
            .collect();
        if !lifted.is_empty() {
            self.in_ids(
                "DELETE FROM remote_removals WHERE cm_id = CM AND incident_id IN",
                cm_id,
                &lifted,
            )
            .execute(&mut **tx)
            .await?;
        }
        Ok(passing)
    }

    async fn cm_where(
        &self,
        cond: &str,
        value: impl sqlx::Encode<'static, sqlx::Any> + sqlx::Type<sqlx::Any> + Send + 'static,
    ) -> Result<Option<Cm>> {
        let sql = format!("SELECT {CM_COLUMNS} FROM cms WHERE {cond}");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(value)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| rows::cm(&r)).transpose()
    }
}

#[async_trait]
impl crate::FederationStore for SqlStore {
    async fn register_cm(&self, r: &CmRegistration, at: DateTime<Utc>) -> Result<Cm> {
        let now = at.timestamp_millis();
        sqlx::query(
            "INSERT INTO cms (uid, name, url, ip, version, fips, cert_fingerprint, credential_hash, \
             registered_ms, last_seen_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
             ON CONFLICT (uid) DO UPDATE SET name = excluded.name, url = excluded.url, \
             ip = excluded.ip, version = excluded.version, fips = excluded.fips, \
             cert_fingerprint = excluded.cert_fingerprint, credential_hash = excluded.credential_hash, \
             proxy_token = NULL, last_seen_ms = excluded.last_seen_ms, deregistered_ms = NULL",
        )
        .bind(r.uid.clone())
        .bind(r.name.as_str().to_owned())
        .bind(r.url.clone())
        .bind(r.ip.to_string())
        .bind(r.version.clone())
        .bind(i64::from(r.fips))
        .bind(r.cert_fingerprint.as_str().to_owned())
        .bind(r.credential_hash.clone())
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.cm_where("uid = $1", r.uid.clone())
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("CM {}", r.uid)))
    }

    async fn cm_by_credential(&self, hash: &str) -> Result<Option<Cm>> {
        self.cm_where("credential_hash = $1", hash.to_owned()).await
    }

    async fn cm(&self, id: CmId) -> Result<Option<Cm>> {
        self.cm_where("id = $1", id.get()).await
    }

    async fn cms(&self) -> Result<Vec<Cm>> {
        let sql = format!("SELECT {CM_COLUMNS} FROM cms ORDER BY name, id");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rows::cm).collect()
    }

    async fn set_cm_fips(&self, cm_id: CmId, fips: bool) -> Result<()> {
        sqlx::query("UPDATE cms SET fips = $1 WHERE id = $2")
            .bind(i64::from(fips))
            .bind(cm_id.get())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn repin_cm(
        &self,
        cm_id: CmId,
        fingerprint: &aerie_domain::net::CertFingerprint,
    ) -> Result<()> {
        sqlx::query("UPDATE cms SET cert_fingerprint = $1 WHERE id = $2")
            .bind(fingerprint.as_str().to_owned())
            .bind(cm_id.get())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn rename_cm(&self, cm_id: CmId, name: &aerie_domain::net::HostName) -> Result<()> {
        sqlx::query("UPDATE cms SET name = $1 WHERE id = $2")
            .bind(name.as_str().to_owned())
            .bind(cm_id.get())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_cm_proxy_token(&self, cm_id: CmId, token: &str) -> Result<()> {
        sqlx::query("UPDATE cms SET proxy_token = $1 WHERE id = $2 AND deregistered_ms IS NULL")
            .bind(token.to_owned())
            .bind(cm_id.get())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn apply_sync(
        &self,
        cm_id: CmId,
        batch: &SyncBatch,
        at: DateTime<Utc>,
    ) -> Result<SyncOutcome> {
        let (_writer, mut tx) = self.begin_write().await?;
        let now = at.timestamp_millis();
        // One CM's batches apply one at a time (PostgreSQL: this row's lock); other CMs'
        // batches do not wait.
        let sql = match self.backend {
            Backend::Sqlite => "SELECT epoch, acked_seq FROM cms WHERE id = $1",
            Backend::Postgres => "SELECT epoch, acked_seq FROM cms WHERE id = $1 FOR UPDATE",
        };
        let row = sqlx::query(sql)
            .bind(cm_id.get())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("CM {cm_id}")))?;
        let (epoch, acked): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
        let admission = batch.admission(epoch, acked);
        if admission == Admission::Refuse {
            sqlx::query("UPDATE cms SET last_seen_ms = $1, backlog = $2 WHERE id = $3")
                .bind(now)
                .bind(batch.backlog)
                .bind(cm_id.get())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(SyncOutcome {
                acked_seq: acked,
                epoch,
                applied: false,
                swept: 0,
            });
        }
        if admission == Admission::Adopt {
            // A new epoch: what the MCM held is replaced by what the resync sends, and
            // the old removal records give no floor any more.
            sqlx::query("UPDATE cms SET epoch = $1, acked_seq = 0 WHERE id = $2")
                .bind(batch.epoch)
                .bind(cm_id.get())
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM remote_removals WHERE cm_id = $1")
                .bind(cm_id.get())
                .execute(&mut *tx)
                .await?;
        }
        let ids: HashSet<i64> = batch.upserts.iter().map(|i| i.id.get()).collect();
        if ids.len() != batch.upserts.len() {
            return Err(StoreError::Conflict(
                "a sync batch names an incident twice".into(),
            ));
        }
        // Every row this batch writes takes one position in the MCM's feed (a heartbeat
        // takes none).
        let stamps = match batch.upserts.is_empty() {
            true => None,
            false => Some(self.stamps(&mut tx).await?),
        };
        let feed_seq = stamps.map_or(0, |s| s.nth(0));
        let mut added = 0i64;
        if self.backend == Backend::Postgres {
            added += bulk::upsert_remote(&mut tx, cm_id, batch, feed_seq).await?;
            added -= bulk::remove_remote(&mut tx, cm_id, batch).await?;
        }
        let sqlite = self.backend == Backend::Sqlite;
        for chunk in batch.upserts.chunks(INSERT_CHUNK).filter(|_| sqlite) {
            let chunk = self.above_removals(&mut tx, cm_id, chunk).await?;
            if chunk.is_empty() {
                continue;
            }
            let ids: Vec<i64> = chunk.iter().map(|i| i.id.get()).collect();
            let existing: i64 = self
                .in_ids(
                    "SELECT COUNT(*) FROM remote_incidents WHERE cm_id = CM AND incident_id IN",
                    cm_id,
                    &ids,
                )
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
            added += ids.len() as i64 - existing;

            let mut query = sqlx::query(AssertSqlSafe(upsert_sql(self.backend, chunk.len())));
            for i in &chunk {
                query = bind_facts(query, &i.facts)
                    .bind(i.status.as_str())
                    .bind(i.version)
                    .bind(i.change_seq)
                    .bind(batch.epoch)
                    .bind(feed_seq)
                    .bind(cm_id.get())
                    .bind(i.id.get());
            }
            query.execute(&mut *tx).await?;
        }
        for (id, version) in batch.removals.iter().filter(|_| sqlite) {
            let gone = sqlx::query(
                "DELETE FROM remote_incidents WHERE cm_id = $1 AND incident_id = $2 \
                 AND (version <= $3 OR epoch < $4)",
            )
            .bind(cm_id.get())
            .bind(id.get())
            .bind(*version)
            .bind(batch.epoch)
            .execute(&mut *tx)
            .await?;
            added -= gone.rows_affected() as i64;
            sqlx::query(
                "INSERT INTO remote_removals (cm_id, incident_id, version) VALUES ($1, $2, $3) \
                 ON CONFLICT (cm_id, incident_id) DO UPDATE SET version = excluded.version \
                 WHERE excluded.version > remote_removals.version",
            )
            .bind(cm_id.get())
            .bind(id.get())
            .bind(*version)
            .execute(&mut *tx)
            .await?;
        }
        let mut swept = 0;
        if batch.resync == Some(ResyncStep::End) {
            swept = sqlx::query("DELETE FROM remote_incidents WHERE cm_id = $1 AND epoch < $2")
                .bind(cm_id.get())
                .bind(batch.epoch)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            added -= swept as i64;
        }
        // The correlation's follower re-reads what the batch wrote; what left the table
        // loses its sightings here.
        let removed: Vec<i64> = batch.removals.iter().map(|(id, _)| id.get()).collect();
        self.unsight(&mut tx, cm_id, &removed).await?;
        if swept > 0 {
            self.drop_orphan_sightings(&mut tx, cm_id).await?;
        }
        let changed = !(batch.upserts.is_empty()
            && batch.removals.is_empty()
            && batch.resync.is_none()
            && batch.high_seq == 0);
        let sync_ms = changed.then_some(now);
        let outcome = sqlx::query(
            "UPDATE cms SET incident_count = incident_count + $1, backlog = $2, last_seen_ms = $3, \
             last_sync_ms = COALESCE($4, last_sync_ms), \
             acked_seq = CASE WHEN acked_seq > $5 THEN acked_seq ELSE $5 END \
             WHERE id = $6 RETURNING acked_seq, epoch",
        )
        .bind(added)
        .bind(batch.backlog)
        .bind(now)
        .bind(sync_ms)
        .bind(batch.high_seq)
        .bind(cm_id.get())
        .fetch_one(&mut *tx)
        .await?;
        self.commit_remote(tx, stamps).await?;
        Ok(SyncOutcome {
            acked_seq: outcome.try_get(0)?,
            epoch: outcome.try_get(1)?,
            applied: true,
            swept,
        })
    }

    async fn remote_incidents(&self, q: &IncidentQuery, cms: &[CmId]) -> Result<RemotePage> {
        let rows = self.fetch_page(q, Table::Remote, cms).await?;
        let mut items = rows
            .iter()
            .map(rows::remote_incident)
            .collect::<Result<Vec<_>>>()?;
        let next = if items.len() > q.limit as usize {
            items.truncate(q.limit as usize);
            items
                .last()
                .map(|last| Cursor::at(q.sort, last.row_id, &last.incident.facts))
        } else {
            None
        };
        Ok(RemotePage { items, next })
    }

    async fn remote_incident(&self, cm_id: CmId, id: IncidentId) -> Result<Option<RemoteIncident>> {
        let sql = format!(
            "SELECT {} FROM remote_incidents WHERE cm_id = $1 AND incident_id = $2",
            rows::REMOTE_COLUMNS
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(cm_id.get())
            .bind(id.get())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| rows::remote_incident(&r)).transpose()
    }

    async fn drop_federation(&self, at: DateTime<Utc>) -> Result<u64> {
        let (_writer, mut tx) = self.begin_write().await?;
        let removed = sqlx::query("DELETE FROM remote_incidents")
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM indicator_sightings")
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM remote_removals")
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE cms SET proxy_token = NULL, incident_count = 0, \
             deregistered_ms = $1 WHERE deregistered_ms IS NULL",
        )
        .bind(at.timestamp_millis())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(removed)
    }

    async fn incidents_after(&self, after: IncidentId, limit: u32) -> Result<Vec<Incident>> {
        let sql = format!(
            "SELECT {} FROM incidents WHERE id > $1 ORDER BY id LIMIT $2",
            rows::INCIDENT_COLUMNS
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(after.get())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rows::incident).collect()
    }

    async fn pending_changes(&self, after_seq: i64) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM incidents WHERE change_seq > $1")
                .bind(after_seq)
                .fetch_one(&self.pool)
                .await?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsert_keeps_newer_versions_only() {
        let sql = upsert_sql(super::super::Backend::Postgres, 2);
        assert!(sql.contains("$26), ($27,"), "{sql}");
        assert!(sql.ends_with(
            "WHERE excluded.epoch > remote_incidents.epoch \
             OR excluded.version > remote_incidents.version"
        ));
        assert_eq!(super::super::ingest::FACTS_COUNT + 7, 26);
    }
}
