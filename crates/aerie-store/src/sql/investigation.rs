//! Investigation and mitigation: artifacts, comments, mitigations and their feeds, the
//! whitelist with its re-evaluation of stored incidents.

use aerie_domain::ids::{MitigationId, WhitelistId};
use async_trait::async_trait;
use std::{collections::BTreeSet, sync::Arc};

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, Row, any::AnyRow};

use aerie_domain::{
    artifact::{ArtifactInfo, ArtifactKind},
    incident::{IncidentId, StatusChange},
    mitigation::{Mitigation, MitigationKind, MitigationOption},
    status::Status,
    text::{Sha256Hex, Text},
    whitelist::{WhitelistEntry, WhitelistKind},
};

use super::{SqlStore, incidents::contains_pattern, rows};
use crate::{Result, StoreError};

const MITIGATION_COLUMNS: &str =
    "id, incident_id, kind, value, actor, created_ms, revoked_ms, revoked_by";
const WHITELIST_COLUMNS: &str = "id, kind, value, reason, actor, created_ms";

fn mitigation(row: &AnyRow) -> Result<Mitigation> {
    let revoked = match row.try_get::<Option<i64>, _>("revoked_ms")? {
        Some(ms) => Some((
            rows::time(ms)?,
            Text::from_trusted(
                row.try_get::<Option<String>, _>("revoked_by")?
                    .unwrap_or_default(),
            ),
        )),
        None => None,
    };
    Ok(Mitigation {
        id: aerie_domain::ids::MitigationId::new(row.try_get("id")?),
        incident_id: IncidentId::new(row.try_get("incident_id")?),
        kind: rows::parsed(row, "kind")?,
        value: row.try_get("value")?,
        actor: Text::from_trusted(row.try_get("actor")?),
        created: rows::time(row.try_get("created_ms")?)?,
        revoked,
    })
}

fn whitelist_entry(row: &AnyRow) -> Result<WhitelistEntry> {
    Ok(WhitelistEntry {
        id: aerie_domain::ids::WhitelistId::new(row.try_get("id")?),
        kind: rows::parsed(row, "kind")?,
        value: row.try_get("value")?,
        reason: Text::from_trusted(row.try_get("reason")?),
        actor: Text::from_trusted(row.try_get("actor")?),
        created: rows::time(row.try_get("created_ms")?)?,
    })
}

fn artifact_info(row: &AnyRow) -> Result<ArtifactInfo> {
    let sha: String = row.try_get("sha256")?;
    Ok(ArtifactInfo {
        sha256: Sha256Hex::parse("sha256", &sha).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        kind: rows::parsed(row, "kind")?,
        size: row.try_get("size")?,
        created: rows::time(row.try_get("created_ms")?)?,
    })
}

/// The events column a whitelist kind is found in, and the condition that narrows the
/// events worth checking with [`WhitelistEntry::matches`].
fn candidate_condition(kind: WhitelistKind) -> &'static str {
    match kind {
        WhitelistKind::FileHash => "(file_sha256 = $1 OR behaviour LIKE $2 ESCAPE '\\')",
        WhitelistKind::Domain => "LOWER(source_name) LIKE $2 ESCAPE '\\'",
        WhitelistKind::Url => "source_name = $1",
        WhitelistKind::SourceIp => "source_ip = $1",
        WhitelistKind::EmailSender => "LOWER(source_name) = $1",
        WhitelistKind::Endpoint => "endpoint_ip = $1",
    }
}

impl SqlStore {
    /// The active whitelist, for ingest: from the cache, or read in `tx` (which holds the
    /// change-sequence lock, as every whitelist change does) and cached.
    pub(super) async fn active_whitelist(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ) -> Result<Arc<Vec<WhitelistEntry>>> {
        if let Some(cached) = self.whitelist.lock().expect("whitelist cache").clone() {
            return Ok(cached);
        }
        let sql = format!(
            "SELECT {WHITELIST_COLUMNS} FROM whitelist WHERE removed_ms IS NULL ORDER BY id"
        );
        let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(&mut **tx).await?;
        let entries = Arc::new(
            rows.iter()
                .map(whitelist_entry)
                .collect::<Result<Vec<_>>>()?,
        );
        *self.whitelist.lock().expect("whitelist cache") = Some(entries.clone());
        Ok(entries)
    }

    /// Drops the cached whitelist; every whitelist change calls it inside its transaction
    /// (under the lock ingest takes) and again after committing.
    fn forget_whitelist(&self) {
        *self.whitelist.lock().expect("whitelist cache") = None;
    }
}

#[async_trait]
impl crate::InvestigationStore for SqlStore {
    async fn put_artifact(
        &self,
        sha256: &Sha256Hex,
        kind: ArtifactKind,
        data: &[u8],
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let (_writer, mut tx) = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO artifacts (sha256, kind, size, created_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(sha256.as_str().to_owned())
        .bind(kind.as_str())
        .bind(data.len() as i64)
        .bind(at.timestamp_millis())
        .execute(&mut *tx)
        .await?;
        let created = done.rows_affected() == 1;
        if created {
            for (n, chunk) in data.chunks(crate::ARTIFACT_CHUNK_BYTES).enumerate() {
                sqlx::query("INSERT INTO artifact_chunks (sha256, n, data) VALUES ($1, $2, $3)")
                    .bind(sha256.as_str().to_owned())
                    .bind(n as i64)
                    .bind(chunk.to_vec())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(created)
    }

    async fn artifact_infos(&self, shas: &[Sha256Hex]) -> Result<Vec<ArtifactInfo>> {
        let mut out = Vec::new();
        for chunk in shas.chunks(400) {
            let slots: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT sha256, kind, size, created_ms FROM artifacts WHERE sha256 IN ({}) \
                 ORDER BY created_ms, sha256",
                slots.join(", ")
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for s in chunk {
                q = q.bind(s.as_str().to_owned());
            }
            for row in q.fetch_all(&self.pool).await? {
                out.push(artifact_info(&row)?);
            }
        }
        Ok(out)
    }

    async fn artifact_chunk(&self, sha256: &Sha256Hex, n: u32) -> Result<Option<Vec<u8>>> {
        Ok(
            sqlx::query_scalar("SELECT data FROM artifact_chunks WHERE sha256 = $1 AND n = $2")
                .bind(sha256.as_str().to_owned())
                .bind(i64::from(n))
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn incident_has_artifact(&self, id: IncidentId, sha256: &Sha256Hex) -> Result<bool> {
        // A SHA-256 is 64 hex digits: nothing in it is a LIKE wildcard.
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM events WHERE incident_id = $1 AND artifacts LIKE $2 LIMIT 1",
        )
        .bind(id.get())
        .bind(format!("%\"{}\"%", sha256.as_str()))
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    async fn add_comment(
        &self,
        id: IncidentId,
        comment: &Text,
        actor: &Text,
        at: DateTime<Utc>,
    ) -> Result<StatusChange> {
        let status: Status = {
            let raw: Option<String> =
                sqlx::query_scalar("SELECT status FROM incidents WHERE id = $1")
                    .bind(id.get())
                    .fetch_optional(&self.pool)
                    .await?;
            let raw = raw.ok_or_else(|| StoreError::NotFound(format!("incident {id}")))?;
            raw.parse().map_err(StoreError::Corrupt)?
        };
        sqlx::query(
            "INSERT INTO status_changes (incident_id, from_status, to_status, comment, actor, at_ms) \
             VALUES ($1, $2, $2, $3, $4, $5)",
        )
        .bind(id.get())
        .bind(status.as_str())
        .bind(comment.as_str().to_owned())
        .bind(actor.as_str().to_owned())
        .bind(at.timestamp_millis())
        .execute(&self.pool)
        .await?;
        Ok(StatusChange {
            incident_id: id,
            from: status,
            to: status,
            comment: comment.clone(),
            actor: actor.clone(),
            at,
        })
    }

    async fn apply_mitigation(
        &self,
        incident: IncidentId,
        option: &MitigationOption,
        actor: &Text,
        at: DateTime<Utc>,
    ) -> Result<Mitigation> {
        let (_writer, mut tx) = self.begin_write().await?;
        let active: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM mitigations WHERE incident_id = $1 AND kind = $2 AND value = $3 \
             AND revoked_ms IS NULL",
        )
        .bind(incident.get())
        .bind(option.kind.as_str())
        .bind(option.value.clone())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(id) = active {
            return Err(StoreError::Conflict(format!(
                "{} {} is already applied to incident {incident} (mitigation {id})",
                option.kind, option.value
            )));
        }
        let sql = format!(
            "INSERT INTO mitigations (incident_id, kind, value, actor, created_ms) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {MITIGATION_COLUMNS}"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(incident.get())
            .bind(option.kind.as_str())
            .bind(option.value.clone())
            .bind(actor.as_str().to_owned())
            .bind(at.timestamp_millis())
            .fetch_one(&mut *tx)
            .await?;
        let m = mitigation(&row)?;
        tx.commit().await?;
        Ok(m)
    }

    async fn revoke_mitigation(
        &self,
        incident: IncidentId,
        id: MitigationId,
        actor: &Text,
        at: DateTime<Utc>,
    ) -> Result<Mitigation> {
        let (_writer, mut tx) = self.begin_write().await?;
        let sql = format!(
            "SELECT {MITIGATION_COLUMNS} FROM mitigations WHERE id = $1 AND incident_id = $2"
        );
        let current = sqlx::query(AssertSqlSafe(sql))
            .bind(id.get())
            .bind(incident.get())
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| mitigation(&r))
            .transpose()?
            .ok_or_else(|| {
                StoreError::NotFound(format!("mitigation {id} of incident {incident}"))
            })?;
        if let Some((when, by)) = &current.revoked {
            return Err(StoreError::Conflict(format!(
                "mitigation {id} was already revoked by {by} at {}",
                when.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )));
        }
        sqlx::query("UPDATE mitigations SET revoked_ms = $1, revoked_by = $2 WHERE id = $3")
            .bind(at.timestamp_millis())
            .bind(actor.as_str().to_owned())
            .bind(id.get())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Mitigation {
            revoked: Some((at, actor.clone())),
            ..current
        })
    }

    async fn mitigations_of(&self, id: IncidentId) -> Result<Vec<Mitigation>> {
        let sql = format!(
            "SELECT {MITIGATION_COLUMNS} FROM mitigations WHERE incident_id = $1 ORDER BY id"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(id.get())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(mitigation).collect()
    }

    async fn mitigations(
        &self,
        active_only: bool,
        before: Option<MitigationId>,
        limit: u32,
    ) -> Result<Vec<Mitigation>> {
        let active = if active_only {
            " AND revoked_ms IS NULL"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {MITIGATION_COLUMNS} FROM mitigations WHERE id < $1{active} \
             ORDER BY id DESC LIMIT $2"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(before.map_or(i64::MAX, MitigationId::get))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(mitigation).collect()
    }

    async fn feed(&self, kind: MitigationKind) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT value FROM mitigations WHERE kind = $1 AND revoked_ms IS NULL \
             ORDER BY value",
        )
        .bind(kind.as_str())
        .fetch_all(&self.pool)
        .await?)
    }

    async fn add_whitelist(
        &self,
        kind: WhitelistKind,
        value: &str,
        reason: &Text,
        actor: &Text,
        at: DateTime<Utc>,
    ) -> Result<(WhitelistEntry, Vec<IncidentId>)> {
        let (_writer, mut tx) = self.begin_write().await?;
        // Taken first: an ingest waiting on it then sees the new entry.
        self.lock_whitelist(&mut tx, true).await?;
        let stamps = self.stamps(&mut tx).await?;
        let existing: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM whitelist WHERE kind = $1 AND value = $2 AND removed_ms IS NULL",
        )
        .bind(kind.as_str())
        .bind(value.to_owned())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(id) = existing {
            return Err(StoreError::Conflict(format!(
                "{kind} {value} is already whitelisted (entry {id})"
            )));
        }
        let sql = format!(
            "INSERT INTO whitelist (kind, value, reason, actor, created_ms) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {WHITELIST_COLUMNS}"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(kind.as_str())
            .bind(value.to_owned())
            .bind(reason.as_str().to_owned())
            .bind(actor.as_str().to_owned())
            .bind(at.timestamp_millis())
            .fetch_one(&mut *tx)
            .await?;
        let entry = whitelist_entry(&row)?;
        self.forget_whitelist();

        // Re-evaluate: every non-benign incident with a matching event turns benign.
        let sql = format!(
            "SELECT {} FROM events WHERE {} AND incident_id IN \
             (SELECT id FROM incidents WHERE risk_rank > 0)",
            rows::EVENT_COLUMNS,
            candidate_condition(kind)
        );
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(value.to_owned());
        if matches!(kind, WhitelistKind::FileHash | WhitelistKind::Domain) {
            q = q.bind(contains_pattern(value));
        }
        let mut matched = BTreeSet::new();
        for row in q.fetch_all(&mut *tx).await? {
            let event = rows::event(&row)?;
            if entry.matches(&event.event) {
                matched.insert(event.incident_id);
            }
        }
        let comment = Text::from_trusted(format!("whitelisted ({} {}): {}", kind, value, reason));
        for (k, id) in matched.iter().enumerate() {
            let status: String = sqlx::query_scalar(
                "UPDATE incidents SET severity = 0, risk_rank = 0, version = version + 1, \
                 change_seq = $1 WHERE id = $2 RETURNING status",
            )
            .bind(stamps.nth(k))
            .bind(id.get())
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO status_changes (incident_id, from_status, to_status, comment, actor, at_ms) \
                 VALUES ($1, $2, $2, $3, $4, $5)",
            )
            .bind(id.get())
            .bind(status)
            .bind(comment.as_str().to_owned())
            .bind(actor.as_str().to_owned())
            .bind(at.timestamp_millis())
            .execute(&mut *tx)
            .await?;
        }
        self.commit_changes(tx, stamps, matched.len()).await?;
        self.forget_whitelist();
        Ok((entry, matched.into_iter().collect()))
    }

    async fn remove_whitelist(
        &self,
        id: WhitelistId,
        actor: &Text,
        at: DateTime<Utc>,
    ) -> Result<WhitelistEntry> {
        let sql = format!(
            "UPDATE whitelist SET removed_ms = $1, removed_by = $2 WHERE id = $3 \
             AND removed_ms IS NULL RETURNING {WHITELIST_COLUMNS}"
        );
        let (_writer, mut tx) = self.begin_write().await?;
        // Serialises with ingest, which reads the whitelist under this lock.
        self.lock_whitelist(&mut tx, true).await?;
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(at.timestamp_millis())
            .bind(actor.as_str().to_owned())
            .bind(id.get())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("whitelist entry {id}")))?;
        let entry = whitelist_entry(&row)?;
        self.forget_whitelist();
        tx.commit().await?;
        self.forget_whitelist();
        Ok(entry)
    }

    async fn whitelist(&self) -> Result<Vec<WhitelistEntry>> {
        let sql = format!(
            "SELECT {WHITELIST_COLUMNS} FROM whitelist WHERE removed_ms IS NULL ORDER BY id"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(whitelist_entry).collect()
    }
}
