//! Investigation and mitigation: artifacts, comments, mitigations and feeds, the
//! whitelist, users and the audit log.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use aerie_domain::{
    artifact::ArtifactInfo,
    audit::AuditEntry,
    mitigation::{Mitigation, MitigationOption},
    user::{Permissions, User},
    whitelist::WhitelistEntry,
};

use crate::format_time;

/// A screenshot or trace of an incident; download it at
/// `/api/v1/incidents/{id}/artifacts/{sha256}`.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct ArtifactOut {
    pub sha256: String,
    /// screenshot or trace.
    pub kind: String,
    pub media_type: String,
    pub size: i64,
    pub uploaded: String,
}

impl From<&ArtifactInfo> for ArtifactOut {
    fn from(a: &ArtifactInfo) -> Self {
        Self {
            sha256: a.sha256.as_str().to_owned(),
            kind: a.kind.as_str().to_owned(),
            media_type: a.kind.media_type().to_owned(),
            size: a.size,
            uploaded: format_time(a.created),
        }
    }
}

/// The query of `POST /api/v1/artifacts`.
#[derive(Serialize, Deserialize, IntoParams, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ArtifactUploadParams {
    /// screenshot or trace; when given, the content must be that.
    pub kind: Option<String>,
}

/// `POST /api/v1/incidents/{id}/comments`.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CommentRequest {
    pub comment: String,
}

/// An applied (or revoked) mitigation.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct MitigationOut {
    pub id: i64,
    pub incident_id: i64,
    /// block_ip, block_domain, block_url, block_hash or quarantine_endpoint.
    pub kind: String,
    pub value: String,
    /// The feed that enforces it: `/feeds/{feed}.txt`.
    pub feed: String,
    pub by: String,
    pub at: String,
    pub revoked_at: Option<String>,
    pub revoked_by: Option<String>,
}

impl From<&Mitigation> for MitigationOut {
    fn from(m: &Mitigation) -> Self {
        Self {
            id: m.id.get(),
            incident_id: m.incident_id.get(),
            kind: m.kind.as_str().to_owned(),
            value: m.value.clone(),
            feed: m.kind.feed().as_str().to_owned(),
            by: m.actor.as_str().to_owned(),
            at: format_time(m.created),
            revoked_at: m.revoked.as_ref().map(|(t, _)| format_time(*t)),
            revoked_by: m.revoked.as_ref().map(|(_, by)| by.as_str().to_owned()),
        }
    }
}

/// The query of `GET /api/v1/mitigations`.
#[derive(Serialize, Deserialize, IntoParams, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MitigationListParams {
    /// Only the ones in force (default false: revoked ones too).
    pub active: Option<bool>,
    /// Mitigations with ids below this one (the previous page's last id).
    pub before: Option<i64>,
    /// 1 to 500; 100 by default.
    pub limit: Option<u32>,
}

/// A mitigation the incident's indicators allow, and the active one applying it.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct MitigationOptionOut {
    pub kind: String,
    pub value: String,
    /// The id of the active mitigation applying this option, if any.
    pub active: Option<i64>,
}

impl MitigationOptionOut {
    pub fn new(o: &MitigationOption, applied: &[Mitigation]) -> Self {
        Self {
            kind: o.kind.as_str().to_owned(),
            value: o.value.clone(),
            active: applied
                .iter()
                .find(|m| m.revoked.is_none() && m.kind == o.kind && m.value == o.value)
                .map(|m| m.id.get()),
        }
    }
}

/// `POST /api/v1/incidents/{id}/mitigations`: one of the incident's options.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MitigationRequest {
    pub kind: String,
    pub value: String,
}

/// A fresh feed credential, shown once.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct FeedCredential {
    pub credential: String,
    /// The feed URLs, relative to this appliance.
    pub feeds: Vec<String>,
}

/// `POST /api/v1/whitelist` (and `/api/v1/incidents/{id}/whitelist`).
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WhitelistRequest {
    /// file_hash, domain, url, source_ip, email_sender or endpoint.
    pub kind: String,
    pub value: String,
    /// Why it is harmless; required.
    pub reason: String,
}

#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct WhitelistOut {
    pub id: i64,
    pub kind: String,
    pub value: String,
    pub reason: String,
    pub by: String,
    pub at: String,
}

impl From<&WhitelistEntry> for WhitelistOut {
    fn from(w: &WhitelistEntry) -> Self {
        Self {
            id: w.id.get(),
            kind: w.kind.as_str().to_owned(),
            value: w.value.clone(),
            reason: w.reason.as_str().to_owned(),
            by: w.actor.as_str().to_owned(),
            at: format_time(w.created),
        }
    }
}

/// A new whitelist entry and the incidents it turned benign.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct WhitelistResult {
    pub entry: WhitelistOut,
    pub benign_incidents: Vec<i64>,
}

#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct UserOut {
    pub id: i64,
    pub username: String,
    /// viewer, analyst, admin or a custom role.
    pub role: String,
    /// What the role allows.
    pub permissions: Vec<String>,
    pub disabled: bool,
}

impl From<&User> for UserOut {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.get(),
            username: u.username.as_str().to_owned(),
            role: u.role.as_str().to_owned(),
            permissions: u
                .permissions
                .iter()
                .map(|p| p.as_str().to_owned())
                .collect(),
            disabled: u.disabled,
        }
    }
}

/// A role: seeded (viewer, analyst, admin) or built from permissions by an admin.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct RoleOut {
    pub name: String,
    pub seeded: bool,
    /// view, send_events, triage, mitigate, whitelist, administer.
    pub permissions: Vec<String>,
}

impl RoleOut {
    pub fn new(name: &str, seeded: bool, permissions: Permissions) -> Self {
        Self {
            name: name.to_owned(),
            seeded,
            permissions: permissions.iter().map(|p| p.as_str().to_owned()).collect(),
        }
    }
}

/// `POST /api/v1/roles`.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CreateRoleRequest {
    /// 1-32 lower-case letters, digits, `_` or `-`.
    pub name: String,
    pub permissions: Vec<String>,
}

/// `POST /api/v1/users`.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub username: String,
    pub password: String,
    pub role: String,
}

/// `PATCH /api/v1/users/{id}`: any of role, disabled, password.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub disabled: Option<bool>,
    /// A new password (an admin's reset).
    #[serde(default)]
    pub password: Option<String>,
}

/// `POST /api/v1/password`: the caller's own password.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct AuditEntryOut {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

impl From<&AuditEntry> for AuditEntryOut {
    fn from(e: &AuditEntry) -> Self {
        Self {
            seq: e.seq,
            at: format_time(e.record.at),
            actor: e.record.actor.clone(),
            action: e.record.action.clone(),
            target: e.record.target.clone(),
            detail: e.record.detail.clone(),
            prev_hash: e.prev_hash.clone(),
            hash: e.hash.clone(),
        }
    }
}

/// The query of `GET /api/v1/audit`.
#[derive(Serialize, Deserialize, IntoParams, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Entries after this sequence number (0: from the start).
    pub after: Option<i64>,
    /// 1 to 1000; 100 by default.
    pub limit: Option<u32>,
}

/// One page of the audit log, oldest first.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct AuditList {
    pub items: Vec<AuditEntryOut>,
}

/// The result of checking the whole chain.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct AuditVerification {
    /// Whether every entry is intact and linked to the one before it.
    pub intact: bool,
    /// How many entries were checked.
    pub entries: i64,
    /// The first entry that does not hold.
    pub broken_at: Option<i64>,
    pub reason: Option<String>,
}
