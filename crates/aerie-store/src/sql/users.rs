//! Users, sessions, API keys and settings.

use aerie_domain::ids::{ApiKeyId, UserId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use aerie_domain::{
    text::Text,
    user::{ApiKey, CustomRole, Permissions, RoleName, User, Username},
};

use super::{SqlStore, rows};
use crate::{Result, StoreError};

/// User columns, with the permissions of a custom role (NULL for seeded roles).
const USER_COLUMNS: &str = "users.id, users.username, users.role, users.disabled, \
    (SELECT roles.permissions FROM roles WHERE roles.name = users.role) AS role_permissions";
const KEY_COLUMNS: &str = "id, user_id, name, prefix, created_ms, revoked_ms";

impl SqlStore {
    async fn key(&self, user_id: UserId, key_id: ApiKeyId) -> Result<Option<ApiKey>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1 AND user_id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(key_id.get())
            .bind(user_id.get())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| rows::api_key(&row)).transpose()
    }
}

#[async_trait]
impl crate::UserStore for SqlStore {
    async fn create_user(
        &self,
        username: &Username,
        password_hash: &str,
        role: &RoleName,
        at: DateTime<Utc>,
    ) -> Result<User> {
        let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
            .bind(username.as_str().to_owned())
            .fetch_optional(&self.pool)
            .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict(format!(
                "user {} exists",
                username.as_str()
            )));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (username, password_hash, role, disabled, created_ms) \
             VALUES ($1, $2, $3, 0, $4) RETURNING id",
        )
        .bind(username.as_str().to_owned())
        .bind(password_hash.to_owned())
        .bind(role.as_str().to_owned())
        .bind(at.timestamp_millis())
        .fetch_one(&self.pool)
        .await?;
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
        rows::user(&row)
    }

    async fn user_credentials(&self, username: &Username) -> Result<Option<(User, String)>> {
        let sql =
            format!("SELECT {USER_COLUMNS}, users.password_hash FROM users WHERE username = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(username.as_str().to_owned())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok((
                rows::user(&row)?,
                sqlx::Row::try_get(&row, "password_hash")?,
            ))
        })
        .transpose()
    }

    async fn set_password_hash(
        &self,
        user_id: UserId,
        hash: &str,
        keep_session: Option<&str>,
    ) -> Result<()> {
        let (_writer, mut tx) = self.begin_write().await?;
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash.to_owned())
            .bind(user_id.get())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2")
            .bind(user_id.get())
            .bind(keep_session.unwrap_or_default().to_owned())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn update_user(
        &self,
        user_id: UserId,
        role: Option<&RoleName>,
        disabled: Option<bool>,
    ) -> Result<User> {
        let (_writer, mut tx) = self.begin_write().await?;
        if let Some(role) = role {
            sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
                .bind(role.as_str().to_owned())
                .bind(user_id.get())
                .execute(&mut *tx)
                .await?;
        }
        if let Some(disabled) = disabled {
            sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2")
                .bind(i64::from(disabled))
                .bind(user_id.get())
                .execute(&mut *tx)
                .await?;
            if disabled {
                sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                    .bind(user_id.get())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let user = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user_id.get())
            .fetch_optional(&mut *tx)
            .await?
            .map(|row| rows::user(&row))
            .transpose()?
            .ok_or_else(|| StoreError::NotFound(format!("user {user_id}")))?;
        tx.commit().await?;
        Ok(user)
    }

    async fn create_role(
        &self,
        name: &RoleName,
        permissions: Permissions,
        at: DateTime<Utc>,
    ) -> Result<CustomRole> {
        if name.seeded().is_some() {
            return Err(StoreError::Conflict(format!("{name} is a seeded role")));
        }
        let done = sqlx::query(
            "INSERT INTO roles (name, permissions, created_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name.as_str().to_owned())
        .bind(permissions.names())
        .bind(at.timestamp_millis())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!("role {name} exists")));
        }
        Ok(CustomRole {
            name: name.clone(),
            permissions,
            created: at,
        })
    }

    async fn custom_roles(&self) -> Result<Vec<CustomRole>> {
        let rows = sqlx::query("SELECT name, permissions, created_ms FROM roles ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let name: String = sqlx::Row::try_get(row, "name")?;
                let perms: String = sqlx::Row::try_get(row, "permissions")?;
                Ok(CustomRole {
                    name: RoleName::parse("name", &name)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    permissions: Permissions::parse("permissions", &perms)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    created: rows::time(sqlx::Row::try_get(row, "created_ms")?)?,
                })
            })
            .collect()
    }

    /// Deletes a custom role nobody holds.
    async fn delete_role(&self, name: &RoleName) -> Result<()> {
        let (_writer, mut tx) = self.begin_write().await?;
        let holders: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = $1")
            .bind(name.as_str().to_owned())
            .fetch_one(&mut *tx)
            .await?;
        if holders > 0 {
            return Err(StoreError::Conflict(format!(
                "{holders} user(s) hold the role {name}: give them another role first"
            )));
        }
        let done = sqlx::query("DELETE FROM roles WHERE name = $1")
            .bind(name.as_str().to_owned())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("custom role {name}")));
        }
        tx.commit().await?;
        Ok(())
    }

    async fn users(&self) -> Result<Vec<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY username");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rows::user).collect()
    }

    async fn create_session(
        &self,
        token_hash: &str,
        user_id: UserId,
        expires: DateTime<Utc>,
    ) -> Result<()> {
        let now = Utc::now().timestamp_millis();
        sqlx::query("DELETE FROM sessions WHERE expires_ms <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query("INSERT INTO sessions (token_hash, user_id, expires_ms) VALUES ($1, $2, $3)")
            .bind(token_hash.to_owned())
            .bind(user_id.get())
            .bind(expires.timestamp_millis())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn session_user(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<User>> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM sessions JOIN users ON users.id = sessions.user_id \
             WHERE sessions.token_hash = $1 AND sessions.expires_ms > $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token_hash.to_owned())
            .bind(now.timestamp_millis())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| rows::user(&row)).transpose()
    }

    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash.to_owned())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn create_api_key(
        &self,
        user_id: UserId,
        name: &Text,
        key_hash: &str,
        prefix: &str,
        at: DateTime<Utc>,
    ) -> Result<ApiKey> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_keys (user_id, name, key_hash, prefix, created_ms) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(user_id.get())
        .bind(name.as_str().to_owned())
        .bind(key_hash.to_owned())
        .bind(prefix.to_owned())
        .bind(at.timestamp_millis())
        .fetch_one(&self.pool)
        .await?;
        self.key(user_id, ApiKeyId::new(id))
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("API key {id}")))
    }

    async fn api_keys(&self, user_id: UserId) -> Result<Vec<ApiKey>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE user_id = $1 ORDER BY id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user_id.get())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rows::api_key).collect()
    }

    async fn rotate_api_key(
        &self,
        user_id: UserId,
        key_id: ApiKeyId,
        key_hash: &str,
        prefix: &str,
    ) -> Result<Option<ApiKey>> {
        let done = sqlx::query(
            "UPDATE api_keys SET key_hash = $1, prefix = $2 \
             WHERE id = $3 AND user_id = $4 AND revoked_ms IS NULL",
        )
        .bind(key_hash.to_owned())
        .bind(prefix.to_owned())
        .bind(key_id.get())
        .bind(user_id.get())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.key(user_id, key_id).await
    }

    async fn revoke_api_key(
        &self,
        user_id: UserId,
        key_id: ApiKeyId,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_ms = $1 \
             WHERE id = $2 AND user_id = $3 AND revoked_ms IS NULL",
        )
        .bind(at.timestamp_millis())
        .bind(key_id.get())
        .bind(user_id.get())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn api_key_user(&self, key_hash: &str) -> Result<Option<User>> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM api_keys JOIN users ON users.id = api_keys.user_id \
             WHERE api_keys.key_hash = $1 AND api_keys.revoked_ms IS NULL"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(key_hash.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| rows::user(&row)).transpose()
    }

    async fn forget_revoked_api_key(&self, key_hash: &str) -> Result<bool> {
        let done =
            sqlx::query("DELETE FROM api_keys WHERE key_hash = $1 AND revoked_ms IS NOT NULL")
                .bind(key_hash.to_owned())
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }
}
