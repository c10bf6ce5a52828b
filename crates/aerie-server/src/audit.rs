//! Recording state-changing actions in the hash-chained audit log.

use chrono::Utc;

use aerie_domain::audit::AuditRecord;

use crate::{auth::Caller, error::OpError, state::AppState};

/// Appends an entry; the action has happened, so a failure to record it is returned as an
/// internal error and logged loudly rather than dropped.
pub async fn record(
    state: &AppState,
    actor: &str,
    action: &str,
    target: impl Into<String>,
    detail: impl Into<String>,
) -> Result<(), OpError> {
    let record = AuditRecord {
        at: Utc::now(),
        actor: actor.to_owned(),
        action: action.to_owned(),
        target: target.into(),
        detail: detail.into(),
    };
    state
        .store
        .append_audit(&record)
        .await
        .map(|_| ())
        .map_err(|e| {
            tracing::error!(action, actor, "could not write the audit log: {e}");
            OpError::internal(e)
        })
}

/// [`record`] with the calling user as the actor.
pub async fn by(
    state: &AppState,
    caller: &Caller,
    action: &str,
    target: impl Into<String>,
    detail: impl Into<String>,
) -> Result<(), OpError> {
    record(state, caller.user.username.as_str(), action, target, detail).await
}
