//! [`SettingsStore`]: named settings, one row each.

use async_trait::async_trait;

use super::SqlStore;
use crate::{Result, SettingsStore};

#[async_trait]
impl SettingsStore for SqlStore {
    async fn setting(&self, name: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
                .bind(name.to_owned())
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn settings_with_prefix(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT name, value FROM settings WHERE substr(name, 1, length($1)) = $1 ORDER BY name",
        )
        .bind(prefix.to_owned())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((sqlx::Row::try_get(r, 0)?, sqlx::Row::try_get(r, 1)?)))
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    async fn delete_setting(&self, name: &str) -> Result<()> {
        sqlx::query("DELETE FROM settings WHERE name = $1")
            .bind(name.to_owned())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_setting(&self, name: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(name.to_owned())
        .bind(value.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A real (tiny) write, queued behind the other writers, and the free space of the
    /// SQLite file's filesystem (unknown for PostgreSQL, whose disk is the server's). One
    /// probe runs at a time; callers meanwhile get its answer.
    async fn storage_health(&self) -> Result<crate::StorageHealth> {
        let mut cached = self.storage_probe.lock().await;
        if let Some((at, health)) = &*cached
            && at.elapsed() < std::time::Duration::from_secs(1)
        {
            return Ok(health.clone());
        }
        let probe = async {
            let (_writer, mut tx) = self.begin_write().await?;
            sqlx::query(
                "INSERT INTO settings (name, value) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            )
            .bind("health.write_probe")
            .bind(chrono::Utc::now().timestamp_millis().to_string())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<(), crate::StoreError>(())
        };
        let (writable, error) = match probe.await {
            Ok(()) => (true, None),
            Err(crate::StoreError::Full) => (false, None),
            Err(e) => (false, Some(e.to_string())),
        };
        let free_bytes = self.data_dir.as_deref().and_then(|dir| {
            rustix::fs::statvfs(dir)
                .ok()
                .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
        });
        let health = crate::StorageHealth {
            writable,
            error,
            free_bytes,
            location: match &self.data_dir {
                Some(dir) => dir.display().to_string(),
                None => "the PostgreSQL server".to_owned(),
            },
        };
        *cached = Some((std::time::Instant::now(), health.clone()));
        Ok(health)
    }
}
