//! Single sign-on state: pending logins and the replay cache, in tables, so that every
//! front end on one database sees the same.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::SqlStore;
use crate::Result;

#[async_trait]
impl crate::SsoStore for SqlStore {
    async fn put_sso_pending(&self, id: &str, login: &str, expires: DateTime<Utc>) -> Result<()> {
        let (_writer, mut tx) = self.begin_write().await?;
        sqlx::query("DELETE FROM sso_pending WHERE expires_ms < $1")
            .bind(Utc::now().timestamp_millis())
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO sso_pending (id, login, expires_ms) VALUES ($1, $2, $3)")
            .bind(id.to_owned())
            .bind(login.to_owned())
            .bind(expires.timestamp_millis())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn take_sso_pending(&self, id: &str, now: DateTime<Utc>) -> Result<Option<String>> {
        let (_writer, mut tx) = self.begin_write().await?;
        let row: Option<(String, i64)> =
            sqlx::query_as("DELETE FROM sso_pending WHERE id = $1 RETURNING login, expires_ms")
                .bind(id.to_owned())
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(row
            .filter(|(_, expires)| *expires >= now.timestamp_millis())
            .map(|(login, _)| login))
    }

    async fn use_sso_ids(
        &self,
        ids: &[(String, DateTime<Utc>)],
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let (_writer, mut tx) = self.begin_write().await?;
        sqlx::query("DELETE FROM sso_seen WHERE expires_ms < $1")
            .bind(now.timestamp_millis())
            .execute(&mut *tx)
            .await?;
        for (id, expires) in ids {
            let fresh = sqlx::query(
                "INSERT INTO sso_seen (id, expires_ms) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
            )
            .bind(id.clone())
            .bind(expires.timestamp_millis())
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if !fresh {
                return Ok(false); // rolled back: nothing recorded
            }
        }
        tx.commit().await?;
        Ok(true)
    }
}
