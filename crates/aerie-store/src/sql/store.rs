//! [`Store`] for [`SqlStore`]: each method delegates to the module that owns it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

use aerie_domain::{
    artifact::{ArtifactInfo, ArtifactKind},
    audit::{AuditEntry, AuditRecord},
    event::{Event, NewEvent},
    federation::{Cm, CmRegistration, RemoteIncident, RemotePage, SyncBatch},
    incident::{Incident, IncidentId, Placement, StatusChange},
    mitigation::{Mitigation, MitigationKind, MitigationOption},
    query::{IncidentFilter, IncidentPage, IncidentQuery},
    status::Status,
    text::{Sha256Hex, Text},
    user::{ApiKey, CustomRole, Permissions, RoleName, User, Username},
    whitelist::{WhitelistEntry, WhitelistKind},
};

use super::{Backend, SqlStore, rows};
use crate::{Result, Store};

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> Backend {
        self.backend
    }

    async fn ingest(&self, events: &[NewEvent]) -> Result<Vec<Placement>> {
        self.ingest_events(events).await
    }

    async fn incident(&self, id: IncidentId) -> Result<Option<Incident>> {
        let sql = format!(
            "SELECT {} FROM incidents WHERE id = $1",
            rows::INCIDENT_COLUMNS
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| rows::incident(&row))
            .transpose()
    }

    async fn events_of(&self, id: IncidentId) -> Result<Vec<Event>> {
        let sql = format!(
            "SELECT {} FROM events WHERE incident_id = $1 ORDER BY time_ms, id",
            rows::EVENT_COLUMNS
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(id.0)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rows::event).collect()
    }

    async fn incidents(&self, query: &IncidentQuery) -> Result<IncidentPage> {
        self.incident_page(query).await
    }

    async fn count_incidents(
        &self,
        filter: &IncidentFilter,
        remote: Option<&[i64]>,
        cap: u32,
    ) -> Result<u64> {
        self.count_matching(filter, remote, cap).await
    }

    async fn change_status(
        &self,
        id: IncidentId,
        to: Status,
        comment: &Text,
        actor: &Text,
        at: DateTime<Utc>,
    ) -> Result<Incident> {
        self.move_status(id, to, comment, actor, at).await
    }

    async fn status_history(&self, id: IncidentId) -> Result<Vec<StatusChange>> {
        let rows = sqlx::query(
            "SELECT incident_id, from_status, to_status, comment, actor, at_ms \
             FROM status_changes WHERE incident_id = $1 ORDER BY id",
        )
        .bind(id.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::status_change).collect()
    }

    async fn changes_since(&self, after_seq: i64, limit: u32) -> Result<Vec<Incident>> {
        let sql = format!(
            "SELECT {} FROM incidents WHERE change_seq > $1 ORDER BY change_seq LIMIT $2",
            rows::INCIDENT_COLUMNS
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(after_seq)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rows::incident).collect()
    }

    async fn last_change_seq(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT value FROM counters WHERE name = 'change_seq'")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn create_user(
        &self,
        username: &Username,
        password_hash: &str,
        role: &RoleName,
        at: DateTime<Utc>,
    ) -> Result<User> {
        self.insert_user(username, password_hash, role, at).await
    }

    async fn user_credentials(&self, username: &Username) -> Result<Option<(User, String)>> {
        self.credentials(username).await
    }

    async fn set_password_hash(&self, user_id: i64, password_hash: &str) -> Result<()> {
        self.update_password_hash(user_id, password_hash).await
    }

    async fn users(&self) -> Result<Vec<User>> {
        self.all_users().await
    }

    async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        expires: DateTime<Utc>,
    ) -> Result<()> {
        self.insert_session(token_hash, user_id, expires).await
    }

    async fn session_user(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<User>> {
        self.user_of_session(token_hash, now).await
    }

    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        self.remove_session(token_hash).await
    }

    async fn create_api_key(
        &self,
        user_id: i64,
        name: &Text,
        key_hash: &str,
        prefix: &str,
        at: DateTime<Utc>,
    ) -> Result<ApiKey> {
        self.insert_api_key(user_id, name, key_hash, prefix, at)
            .await
    }

    async fn api_keys(&self, user_id: i64) -> Result<Vec<ApiKey>> {
        self.keys_of(user_id).await
    }

    async fn rotate_api_key(
        &self,
        user_id: i64,
        key_id: i64,
        key_hash: &str,
        prefix: &str,
    ) -> Result<Option<ApiKey>> {
        self.replace_key(user_id, key_id, key_hash, prefix).await
    }

    async fn revoke_api_key(&self, user_id: i64, key_id: i64, at: DateTime<Utc>) -> Result<bool> {
        self.revoke_key(user_id, key_id, at).await
    }

    async fn api_key_user(&self, key_hash: &str) -> Result<Option<User>> {
        self.user_of_key(key_hash).await
    }

    async fn setting(&self, name: &str) -> Result<Option<String>> {
        self.read_setting(name).await
    }

    async fn register_cm(&self, registration: &CmRegistration, at: DateTime<Utc>) -> Result<Cm> {
        self.register(registration, at).await
    }

    async fn cm_by_credential(&self, credential_hash: &str) -> Result<Option<Cm>> {
        self.cm_by_credential_hash(credential_hash).await
    }

    async fn cm(&self, id: i64) -> Result<Option<Cm>> {
        self.cm_by_id(id).await
    }

    async fn cms(&self) -> Result<Vec<Cm>> {
        self.all_cms().await
    }

    async fn set_cm_proxy_token(&self, cm_id: i64, token: &str) -> Result<()> {
        self.store_proxy_token(cm_id, token).await
    }

    async fn apply_sync(&self, cm_id: i64, batch: &SyncBatch, at: DateTime<Utc>) -> Result<i64> {
        self.apply(cm_id, batch, at).await
    }

    async fn cm_heartbeat(&self, cm_id: i64, backlog: i64, at: DateTime<Utc>) -> Result<()> {
        self.touch_cm(cm_id, backlog, at).await
    }

    async fn manifest(&self, cm_id: i64, after: i64, limit: u32) -> Result<Vec<(IncidentId, i64)>> {
        self.manifest_of(cm_id, after, limit).await
    }

    async fn remote_incidents(&self, query: &IncidentQuery, cms: &[i64]) -> Result<RemotePage> {
        self.remote_page(query, cms).await
    }

    async fn remote_incident(&self, cm_id: i64, id: IncidentId) -> Result<Option<RemoteIncident>> {
        self.remote_one(cm_id, id).await
    }

    async fn drop_federation(&self, at: DateTime<Utc>) -> Result<u64> {
        SqlStore::drop_federation(self, at).await
    }

    async fn incidents_after(&self, after: IncidentId, limit: u32) -> Result<Vec<Incident>> {
        self.incidents_from(after, limit).await
    }

    async fn pending_changes(&self, after_seq: i64) -> Result<i64> {
        self.count_pending(after_seq).await
    }

    fn watch_changes(&self) -> tokio::sync::watch::Receiver<i64> {
        self.changes.subscribe()
    }

    async fn set_setting(&self, name: &str, value: &str) -> Result<()> {
        self.write_setting(name, value).await
    }

    async fn settings_with_prefix(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        self.read_settings(prefix).await
    }

    async fn delete_setting(&self, name: &str) -> Result<()> {
        self.remove_setting(name).await
    }

    async fn update_user(
        &self,
        user_id: i64,
        role: Option<&RoleName>,
        disabled: Option<bool>,
    ) -> Result<User> {
        SqlStore::update_user(self, user_id, role, disabled).await
    }

    async fn create_role(
        &self,
        name: &RoleName,
        permissions: Permissions,
        at: DateTime<Utc>,
    ) -> Result<CustomRole> {
        self.insert_role(name, permissions, at).await
    }

    async fn custom_roles(&self) -> Result<Vec<CustomRole>> {
        SqlStore::custom_roles(self).await
    }

    async fn delete_role(&self, name: &RoleName) -> Result<()> {
        self.remove_role(name).await
    }

    async fn put_artifact(
        &self,
        sha256: &Sha256Hex,
        kind: ArtifactKind,
        data: &[u8],
        at: DateTime<Utc>,
    ) -> Result<bool> {
        self.insert_artifact(sha256, kind, data, at).await
    }

    async fn artifact_infos(&self, shas: &[Sha256Hex]) -> Result<Vec<ArtifactInfo>> {
        SqlStore::artifact_infos(self, shas).await
    }

    async fn artifact(&self, sha256: &Sha256Hex) -> Result<Option<(ArtifactInfo, Vec<u8>)>> {
        self.artifact_bytes(sha256).await
    }

    async fn add_comment(
        &self,
        id: IncidentId,
        comment: &Text,
        actor: &Text,
        at: DateTime<Utc>,
    ) -> Result<StatusChange> {
        self.insert_comment(id, comment, actor, at).await
    }

    async fn apply_mitigation(
        &self,
        incident: IncidentId,
        option: &MitigationOption,
        actor: &Text,
        at: DateTime<Utc>,
    ) -> Result<Mitigation> {
        self.insert_mitigation(incident, option, actor, at).await
    }

    async fn revoke_mitigation(
        &self,
        incident: IncidentId,
        id: i64,
        actor: &Text,
        at: DateTime<Utc>,
    ) -> Result<Mitigation> {
        self.lift_mitigation(incident, id, actor, at).await
    }

    async fn mitigations(
        &self,
        active_only: bool,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Mitigation>> {
        self.mitigation_page(active_only, before, limit).await
    }

    async fn mitigations_of(&self, incident: IncidentId) -> Result<Vec<Mitigation>> {
        self.mitigations_of_incident(incident).await
    }

    async fn feed(&self, kind: MitigationKind) -> Result<Vec<String>> {
        self.feed_entries(kind).await
    }

    async fn add_whitelist(
        &self,
        kind: WhitelistKind,
        value: &str,
        reason: &Text,
        actor: &Text,
        at: DateTime<Utc>,
    ) -> Result<(WhitelistEntry, Vec<IncidentId>)> {
        self.insert_whitelist(kind, value, reason, actor, at).await
    }

    async fn remove_whitelist(
        &self,
        id: i64,
        actor: &Text,
        at: DateTime<Utc>,
    ) -> Result<WhitelistEntry> {
        self.delete_whitelist(id, actor, at).await
    }

    async fn whitelist(&self) -> Result<Vec<WhitelistEntry>> {
        self.whitelist_entries().await
    }

    async fn append_audit(&self, record: &AuditRecord) -> Result<AuditEntry> {
        self.append_audit_entry(record).await
    }

    async fn audit_entries(&self, after_seq: i64, limit: u32) -> Result<Vec<AuditEntry>> {
        self.audit_page(after_seq, limit).await
    }
}
