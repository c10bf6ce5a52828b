//! The hash-chained audit log. Appends serialise on the `audit_seq` counter row, so the
//! chain has no gaps and no forks on either backend.

use async_trait::async_trait;
use sqlx::{Row, any::AnyRow};

use aerie_domain::audit::{AuditEntry, AuditRecord, GENESIS, chain_hash};

use super::{SqlStore, rows};
use crate::{Result, StoreError};

fn entry(row: &AnyRow) -> Result<AuditEntry> {
    Ok(AuditEntry {
        seq: row.try_get("seq")?,
        record: AuditRecord {
            at: rows::time(row.try_get("at_ms")?)?,
            actor: row.try_get("actor")?,
            action: row.try_get("action")?,
            target: row.try_get("target")?,
            detail: row.try_get("detail")?,
        },
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

#[async_trait]
impl crate::AuditStore for SqlStore {
    async fn append_audit(&self, record: &AuditRecord) -> Result<AuditEntry> {
        let (_writer, mut tx) = self.begin_write().await?;
        let seq: i64 = sqlx::query_scalar(
            "UPDATE counters SET value = value + 1 WHERE name = 'audit_seq' RETURNING value",
        )
        .fetch_one(&mut *tx)
        .await?;
        let prev_hash = if seq == 1 {
            GENESIS.to_owned()
        } else {
            sqlx::query_scalar::<_, String>("SELECT hash FROM audit_log WHERE seq = $1")
                .bind(seq - 1)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| StoreError::Corrupt(format!("audit entry {} is missing", seq - 1)))?
        };
        let hash = chain_hash(&prev_hash, seq, record);
        sqlx::query(
            "INSERT INTO audit_log (seq, at_ms, actor, action, target, detail, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(seq)
        .bind(record.at.timestamp_millis())
        .bind(record.actor.clone())
        .bind(record.action.clone())
        .bind(record.target.clone())
        .bind(record.detail.clone())
        .bind(prev_hash.clone())
        .bind(hash.clone())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(AuditEntry {
            seq,
            record: record.clone(),
            prev_hash,
            hash,
        })
    }

    async fn audit_entries(&self, after_seq: i64, limit: u32) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT seq, at_ms, actor, action, target, detail, prev_hash, hash FROM audit_log \
             WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(entry).collect()
    }

    async fn audit_behind(&self, after_seq: i64) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE seq > $1")
                .bind(after_seq)
                .fetch_one(&self.pool)
                .await?,
        )
    }
}
