//! Aerie's storage: one [`Store`] trait in domain words, implemented over SQL for SQLite
//! (the embedded default) and PostgreSQL.
//!
//! Every change to an incident takes the next value of a store-wide change sequence and
//! bumps the incident's version; federation syncs from that sequence (see
//! `docs/protocol.md`). Migrations are embedded and applied by [`open`].

mod error;
mod sql;
#[cfg(feature = "testing")]
pub mod testing;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use aerie_domain::{
    analysis::{Analysis, KnownFile, Verdict},
    artifact::{ArtifactInfo, ArtifactKind},
    audit::{AuditEntry, AuditRecord},
    correlation::{Campaign, Indicator},
    event::{Event, NewEvent},
    federation::{Cm, CmRegistration, RemoteIncident, RemotePage, SyncBatch, SyncOutcome},
    ids::{ApiKeyId, CmId, MitigationId, UserId, WhitelistId},
    incident::{Incident, IncidentId, Placement, StatusChange},
    mitigation::{Mitigation, MitigationKind, MitigationOption},
    query::{IncidentFilter, IncidentPage, IncidentQuery},
    status::Status,
    text::{Sha256Hex, Text},
    user::{ApiKey, CustomRole, Permissions, RoleName, User, Username},
    whitelist::{WhitelistEntry, WhitelistKind},
};

pub use error::StoreError;
pub use sql::backup::{Peek, latest_schema, peek, restore_postgres, sqlite_path};
pub use sql::{Backend, SqlStore, open};

/// Every capability trait, for code that calls store methods on a concrete store.
pub mod prelude {
    pub use crate::{
        AnalysisStore, AuditStore, BackupStore, CorrelationStore, FederationStore, FeedStore,
        IncidentStore, IngestStore, InvestigationStore, SettingsStore, SsoStore, Store, UserStore,
    };
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Everything Aerie keeps, in domain words: the union of the capability traits below,
/// each implemented where its SQL is.
pub trait Store:
    IngestStore
    + IncidentStore
    + UserStore
    + FederationStore
    + InvestigationStore
    + AuditStore
    + SettingsStore
    + SsoStore
    + BackupStore
    + AnalysisStore
    + CorrelationStore
    + FeedStore
    + Send
    + Sync
    + 'static
{
    /// Which database this is.
    fn backend(&self) -> Backend;
}

/// Sensor events into incidents.
#[async_trait]
pub trait IngestStore: Send + Sync {
    /// Groups `events` into incidents (opening new ones as needed) in one transaction;
    /// returns where each event went, in order.
    async fn ingest(&self, events: &[NewEvent]) -> Result<Vec<Placement>>;
}

/// Incidents and their events: reads, status changes, and the change stream federation syncs from.
#[async_trait]
pub trait IncidentStore: Send + Sync {
    async fn incident(&self, id: IncidentId) -> Result<Option<Incident>>;

    /// The incident's events, oldest first.
    async fn events_of(&self, id: IncidentId) -> Result<Vec<Event>>;

    /// A page of the incident's events, newest first: at most `limit`, older than the
    /// `(time in ms, event id)` cursor when given.
    async fn events_page(
        &self,
        id: IncidentId,
        before: Option<(i64, i64)>,
        limit: u32,
    ) -> Result<Vec<Event>>;

    /// One page of incidents in the query's order.
    async fn incidents(&self, query: &IncidentQuery) -> Result<IncidentPage>;

    /// How many incidents match `filter`, counting at most `cap` + 1 (more than `cap`
    /// means "more than `cap`"). `remote` counts the MCM's table, of those CMs (all when
    /// empty); `None` counts this CM's incidents.
    async fn count_incidents(
        &self,
        filter: &IncidentFilter,
        remote: Option<&[CmId]>,
        cap: u32,
    ) -> Result<u64>;

    /// How many incidents there are of each (risk rank, status): this CM's, or with
    /// `remote` the MCM's table of its CMs'.
    async fn incident_census(&self, remote: bool) -> Result<Vec<(i64, Status, i64)>>;

    /// Moves an incident along the status workflow, recording who did it and why.
    async fn change_status(
        &self,
        id: IncidentId,
        to: Status,
        comment: &Text,
        actor: &Text,
        at: DateTime<Utc>,
    ) -> Result<Incident>;

    /// The incident's status changes, oldest first.
    async fn status_history(&self, id: IncidentId) -> Result<Vec<StatusChange>>;

    /// Incidents whose latest change is after `after_seq`, in change order.
    async fn changes_since(&self, after_seq: i64, limit: u32) -> Result<Vec<Incident>>;

    /// The highest change sequence number handed out so far.
    async fn last_change_seq(&self) -> Result<i64>;

    /// The latest change sequence number, updated as changes commit in this process.
    fn watch_changes(&self) -> tokio::sync::watch::Receiver<i64>;
}

/// Users, roles, sessions and API keys.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates a user; [`StoreError::Conflict`] if the name is taken.
    async fn create_user(
        &self,
        username: &Username,
        password_hash: &str,
        role: &RoleName,
        at: DateTime<Utc>,
    ) -> Result<User>;

    /// The user and their password hash, for login.
    async fn user_credentials(&self, username: &Username) -> Result<Option<(User, String)>>;

    /// Sets a user's password and, in the same transaction, ends their sessions except
    /// the one whose token hash is `keep_session` (the caller's own, on a change of one's
    /// own password).
    async fn set_password_hash(
        &self,
        user_id: UserId,
        password_hash: &str,
        keep_session: Option<&str>,
    ) -> Result<()>;

    /// Every user, by name.
    async fn users(&self) -> Result<Vec<User>>;

    /// Changes a user's role and/or disables (ending their sessions) or enables them.
    async fn update_user(
        &self,
        user_id: UserId,
        role: Option<&RoleName>,
        disabled: Option<bool>,
    ) -> Result<User>;

    /// Creates a custom role; [`StoreError::Conflict`] if the name is taken or seeded.
    async fn create_role(
        &self,
        name: &RoleName,
        permissions: Permissions,
        at: DateTime<Utc>,
    ) -> Result<CustomRole>;

    /// The custom roles, by name.
    async fn custom_roles(&self) -> Result<Vec<CustomRole>>;

    /// Deletes a custom role; [`StoreError::Conflict`] while a user holds it.
    async fn delete_role(&self, name: &RoleName) -> Result<()>;

    async fn create_session(
        &self,
        token_hash: &str,
        user_id: UserId,
        expires: DateTime<Utc>,
    ) -> Result<()>;

    /// The user of an unexpired session.
    async fn session_user(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<User>>;

    async fn delete_session(&self, token_hash: &str) -> Result<()>;

    async fn create_api_key(
        &self,
        user_id: UserId,
        name: &Text,
        key_hash: &str,
        prefix: &str,
        at: DateTime<Utc>,
    ) -> Result<ApiKey>;

    /// The user's API keys, revoked ones included.
    async fn api_keys(&self, user_id: UserId) -> Result<Vec<ApiKey>>;

    /// Replaces the secret of a live key of the user's; `None` if there is no such key.
    async fn rotate_api_key(
        &self,
        user_id: UserId,
        key_id: ApiKeyId,
        key_hash: &str,
        prefix: &str,
    ) -> Result<Option<ApiKey>>;

    /// Revokes a live key of the user's; false if there is no such key.
    async fn revoke_api_key(
        &self,
        user_id: UserId,
        key_id: ApiKeyId,
        at: DateTime<Utc>,
    ) -> Result<bool>;

    /// The user owning a live key with this hash.
    async fn api_key_user(&self, key_hash: &str) -> Result<Option<User>>;

    /// Forgets a revoked key with this hash, so that the same secret can be issued again
    /// (the MCM's device key, derived from the passphrase); false if there is none.
    async fn forget_revoked_api_key(&self, key_hash: &str) -> Result<bool>;
}

/// The MCM's CMs and their incident table; the CM's side of resync and backlog.
#[async_trait]
pub trait FederationStore: Send + Sync {
    /// Registers a CM (or re-registers it, by its uid) with a fresh credential.
    async fn register_cm(&self, registration: &CmRegistration, at: DateTime<Utc>) -> Result<Cm>;

    /// The CM holding this credential (a deregistered CM keeps its last one, refused).
    async fn cm_by_credential(&self, credential_hash: &str) -> Result<Option<Cm>>;

    async fn cm(&self, id: CmId) -> Result<Option<Cm>>;

    /// Every CM ever registered, by name.
    async fn cms(&self) -> Result<Vec<Cm>>;

    /// Records the FIPS mode a CM reports.
    async fn set_cm_fips(&self, cm_id: CmId, fips: bool) -> Result<()>;

    /// Gives a CM its new host name (the CM Name everywhere on the MCM).
    /// Pins the CM's new certificate for the proxy.
    async fn repin_cm(
        &self,
        cm_id: CmId,
        fingerprint: &aerie_domain::net::CertFingerprint,
    ) -> Result<()>;
    async fn rename_cm(&self, cm_id: CmId, name: &aerie_domain::net::HostName) -> Result<()>;

    async fn set_cm_proxy_token(&self, cm_id: CmId, token: &str) -> Result<()>;

    /// Applies one sync batch of a CM in one transaction, if the CM's copy here admits it
    /// ([`SyncBatch::admission`]): newer versions replace rows (a row of an older epoch
    /// whatever its version), removals drop rows no newer than themselves and leave a
    /// version floor that older upserts cannot pass, the end of a resync drops the rows
    /// of older epochs, and the CM's acknowledged sequence only grows within an epoch.
    /// An empty batch is a heartbeat: it records the contact and the backlog.
    async fn apply_sync(
        &self,
        cm_id: CmId,
        batch: &SyncBatch,
        at: DateTime<Utc>,
    ) -> Result<SyncOutcome>;

    /// One page of the MCM's incident table, optionally of some CMs only.
    async fn remote_incidents(&self, query: &IncidentQuery, cms: &[CmId]) -> Result<RemotePage>;

    async fn remote_incident(&self, cm_id: CmId, id: IncidentId) -> Result<Option<RemoteIncident>>;

    /// Deletes every CM incident held here and deregisters every CM; returns how many
    /// incidents went.
    async fn drop_federation(&self, at: DateTime<Utc>) -> Result<u64>;

    /// This CM's incidents by id, after `after`.
    async fn incidents_after(&self, after: IncidentId, limit: u32) -> Result<Vec<Incident>>;

    /// How many incidents changed after `after_seq`.
    async fn pending_changes(&self, after_seq: i64) -> Result<i64>;
}

/// How the store's storage stands, for `/healthz` and `show mcm`.
#[derive(Clone, Debug, PartialEq)]
pub struct StorageHealth {
    /// A write just succeeded.
    pub writable: bool,
    /// Why the write failed, when not for a full disk (a read-only or failing disk).
    pub error: Option<String>,
    /// Free bytes on the database's filesystem, where known (SQLite).
    pub free_bytes: Option<u64>,
    /// Where the data is, in an operator's words.
    pub location: String,
}

impl StorageHealth {
    /// Below this much free space writes may fail at any moment.
    pub const MIN_FREE_BYTES: u64 = 1024 * 1024;

    pub fn is_full(&self) -> bool {
        !self.writable || self.free_bytes.is_some_and(|f| f < Self::MIN_FREE_BYTES)
    }
}

/// The size of an artifact's stored chunks.
pub const ARTIFACT_CHUNK_BYTES: usize = 256 * 1024;

/// A position in a feed: on the MCM's, the sync batch's position and the row's id; on
/// the others (a CM's incidents, the audit log), their sequence number and 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct FeedPosition {
    pub seq: i64,
    pub row: i64,
}

impl FeedPosition {
    /// The position of sequence number `seq` in a feed with one row per number.
    pub fn at(seq: i64) -> Self {
        FeedPosition { seq, row: 0 }
    }
}

/// The MCM's change feed over its copy of the CMs' incidents (every row a sync batch
/// writes takes the batch's position), and the durable cursors of the feeds' followers.
#[async_trait]
pub trait FeedStore: Send + Sync {
    /// The rows of the MCM's table written after `after`, in feed order, at most `limit`;
    /// on PostgreSQL only what no running transaction can still precede.
    async fn remote_changes(
        &self,
        after: FeedPosition,
        limit: u32,
    ) -> Result<Vec<(FeedPosition, RemoteIncident)>>;

    /// How many rows of the MCM's table lie after `after` in its feed.
    async fn remote_behind(&self, after: FeedPosition) -> Result<i64>;

    /// Changes whenever a sync batch wrote rows of the MCM's table (in this process;
    /// followers also poll, for other processes on one PostgreSQL).
    fn watch_remote(&self) -> tokio::sync::watch::Receiver<u64>;

    /// Where follower `name` stands, if it ever moved.
    async fn cursor(&self, name: &str) -> Result<Option<FeedPosition>>;

    async fn set_cursor(&self, name: &str, at: FeedPosition) -> Result<()>;

    async fn drop_cursor(&self, name: &str) -> Result<()>;
}

/// Cross-CM correlation on the MCM: a follower of the MCM's feed keeps each incident's
/// indicators (sightings), so that no page view scans the table.
#[async_trait]
pub trait CorrelationStore: Send + Sync {
    /// Turns the follower on (the default) or off; off, the campaigns stop following
    /// the table until it is turned on again, and then catch up.
    fn set_correlation(&self, on: bool);

    /// Brings the sightings up to date with at most `limit` rows of the MCM's feed, in
    /// one transaction with the follower's cursor; returns how many rows it read (0: up
    /// to date, or turned off).
    async fn correlate_next(&self, limit: u32) -> Result<usize>;

    /// How many rows of the MCM's feed the follower has still to read.
    async fn correlation_behind(&self) -> Result<i64>;

    /// Indicators seen in incidents of two or more CMs whose last activity is at or after
    /// `since`, latest first, at most `limit`.
    async fn campaigns(&self, since: DateTime<Utc>, limit: u32) -> Result<Vec<Campaign>>;

    /// The incident's indicators that other CMs' incidents carry too, with those CMs.
    async fn also_seen(&self, cm_id: CmId, id: IncidentId) -> Result<Vec<(Indicator, Vec<CmId>)>>;
}

/// Events by id and by time, and the analyses of submitted files.
#[async_trait]
pub trait AnalysisStore: Send + Sync {
    /// This CM's event `id`.
    async fn event(&self, id: i64) -> Result<Option<Event>>;

    /// A page of the events with `from_ms <= time < to_ms`, oldest first: at most
    /// `limit`, after the `(time in ms, event id)` cursor when given.
    async fn events_between(
        &self,
        from_ms: i64,
        to_ms: i64,
        after: Option<(i64, i64)>,
        limit: u32,
    ) -> Result<Vec<Event>>;

    /// The most severe sensor event (not an upload) whose file has this SHA-256.
    async fn known_file(&self, sha256: &Sha256Hex) -> Result<Option<KnownFile>>;

    /// Records a submission waiting for its verdict.
    async fn put_analysis(&self, analysis: &Analysis) -> Result<()>;

    /// Records the verdict of the submission of upload event `event_id`.
    async fn finish_analysis(&self, event_id: i64, verdict: &Verdict) -> Result<()>;

    /// The submission of upload event `event_id`.
    async fn analysis(&self, event_id: i64) -> Result<Option<Analysis>>;

    /// The latest submission of a file with this MD5 (lowercase hex).
    async fn analysis_by_md5(&self, md5: &str) -> Result<Option<Analysis>>;
}

/// Artifacts, comments, mitigations and their feeds, and the whitelist.
#[async_trait]
pub trait InvestigationStore: Send + Sync {
    /// Keeps an artifact once per content; false if it was already kept.
    async fn put_artifact(
        &self,
        sha256: &Sha256Hex,
        kind: ArtifactKind,
        data: &[u8],
        at: DateTime<Utc>,
    ) -> Result<bool>;

    /// The records of those of `shas` that are kept.
    async fn artifact_infos(&self, shas: &[Sha256Hex]) -> Result<Vec<ArtifactInfo>>;

    /// Chunk `n` (from 0) of a kept artifact, of [`ARTIFACT_CHUNK_BYTES`] (the last one
    /// shorter); `None` past its end or when it is not kept. Downloads stream an artifact
    /// chunk by chunk.
    async fn artifact_chunk(&self, sha256: &Sha256Hex, n: u32) -> Result<Option<Vec<u8>>>;

    /// Whether one of the incident's events references the artifact.
    async fn incident_has_artifact(&self, id: IncidentId, sha256: &Sha256Hex) -> Result<bool>;

    /// Adds a comment to an incident's history (a history entry whose status stays).
    async fn add_comment(
        &self,
        id: IncidentId,
        comment: &Text,
        actor: &Text,
        at: DateTime<Utc>,
    ) -> Result<StatusChange>;

    /// Applies a mitigation; [`StoreError::Conflict`] if it is already active.
    async fn apply_mitigation(
        &self,
        incident: IncidentId,
        option: &MitigationOption,
        actor: &Text,
        at: DateTime<Utc>,
    ) -> Result<Mitigation>;

    /// Revokes an active mitigation of the incident.
    async fn revoke_mitigation(
        &self,
        incident: IncidentId,
        id: MitigationId,
        actor: &Text,
        at: DateTime<Utc>,
    ) -> Result<Mitigation>;

    /// Every mitigation (only active ones if `active_only`), newest first, with ids below
    /// `before` when given.
    async fn mitigations(
        &self,
        active_only: bool,
        before: Option<MitigationId>,
        limit: u32,
    ) -> Result<Vec<Mitigation>>;

    /// The incident's mitigations, revoked ones included, oldest first.
    async fn mitigations_of(&self, incident: IncidentId) -> Result<Vec<Mitigation>>;

    /// The distinct values of active mitigations of one kind, sorted: a feed's lines.
    async fn feed(&self, kind: MitigationKind) -> Result<Vec<String>>;

    /// Whitelists a (normalised) value and, in the same transaction, turns every
    /// non-benign incident with a matching event benign. Returns the entry and those
    /// incidents.
    async fn add_whitelist(
        &self,
        kind: WhitelistKind,
        value: &str,
        reason: &Text,
        actor: &Text,
        at: DateTime<Utc>,
    ) -> Result<(WhitelistEntry, Vec<IncidentId>)>;

    /// Removes an active entry. Incidents it made benign stay benign.
    async fn remove_whitelist(
        &self,
        id: WhitelistId,
        actor: &Text,
        at: DateTime<Utc>,
    ) -> Result<WhitelistEntry>;

    /// The active whitelist, oldest first.
    async fn whitelist(&self) -> Result<Vec<WhitelistEntry>>;
}

/// The hash-chained audit log.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends to the hash-chained audit log.
    async fn append_audit(&self, record: &AuditRecord) -> Result<AuditEntry>;

    /// Audit entries after `after_seq`, in order.
    async fn audit_entries(&self, after_seq: i64, limit: u32) -> Result<Vec<AuditEntry>>;

    /// How many audit entries lie after `after_seq`.
    async fn audit_behind(&self, after_seq: i64) -> Result<i64>;
}

/// Single sign-on state every front end shares: logins sent to the IdP and not yet
/// answered, and the identifiers of answers already used (the replay cache).
#[async_trait]
pub trait SsoStore: Send + Sync {
    /// Keeps a pending login (opaque text) under `id` until `expires`.
    async fn put_sso_pending(&self, id: &str, login: &str, expires: DateTime<Utc>) -> Result<()>;

    /// Takes a pending login: it is removed, and returned if it had not expired.
    async fn take_sso_pending(&self, id: &str, now: DateTime<Utc>) -> Result<Option<String>>;

    /// Records identifiers as used, each until its expiry, and drops expired records.
    /// False, recording none, when any was used before: a replay.
    async fn use_sso_ids(
        &self,
        ids: &[(String, DateTime<Utc>)],
        now: DateTime<Utc>,
    ) -> Result<bool>;
}

/// The appliance's named settings.
#[async_trait]
pub trait SettingsStore: Send + Sync {
    async fn setting(&self, name: &str) -> Result<Option<String>>;

    async fn set_setting(&self, name: &str, value: &str) -> Result<()>;

    /// How the storage stands: a real write is tried ([`StorageHealth`]).
    async fn storage_health(&self) -> Result<StorageHealth>;

    async fn delete_setting(&self, name: &str) -> Result<()>;

    /// Every setting whose name starts with `prefix`.
    async fn settings_with_prefix(&self, prefix: &str) -> Result<Vec<(String, String)>>;
}

/// A consistent copy of the whole store while it serves, for backups.
#[async_trait]
pub trait BackupStore: Send + Sync {
    /// Writes a consistent snapshot of the store to `path`, which must not exist or be an
    /// empty file (so that the caller can create it owner-only first): the
    /// SQLite database file itself (`VACUUM INTO`), or a `pg_dump -Fc` archive of the
    /// PostgreSQL database. Writers go on meanwhile; the copy is as of its start.
    async fn snapshot_into(&self, path: &std::path::Path) -> Result<()>;

    /// The store's schema version: the highest migration applied.
    async fn schema_version(&self) -> Result<i64>;

    /// Closes every connection once in-flight queries finish (SQLite then folds its
    /// WAL into the database file); later calls fail. For a daemon that has stopped.
    async fn close_connections(&self);
}
