//! Reading the audit log and verifying its hash chain (admins).

use axum::{
    Json,
    extract::{Query, State, rejection::QueryRejection},
};

use aerie_domain::audit::{self, GENESIS};
use aerie_proto::{
    ErrorBody,
    investigation::{AuditEntryOut, AuditList, AuditParams, AuditVerification},
};

use crate::rights::{Administer, Can};
use crate::{error::OpError, state::AppState};

/// Entries read per store call while verifying.
const VERIFY_PAGE: u32 = 1000;

/// A page of the audit log, oldest first; continue with `after` = the last `seq`.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditParams),
    responses((status = 200, body = AuditList), (status = 400, body = ErrorBody),
        (status = 403, description = "Needs the admin role", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    _can: Can<Administer>,
    params: Result<Query<AuditParams>, QueryRejection>,
) -> Result<Json<AuditList>, OpError> {
    let Query(params) = params
        .map_err(|e| OpError::invalid("query", format!("bad query string: {}", e.body_text())))?;
    let limit = params.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(OpError::invalid("limit", "limit must be from 1 to 1000"));
    }
    let entries = state
        .store
        .audit_entries(params.after.unwrap_or(0).max(0), limit)
        .await?;
    Ok(Json(AuditList {
        items: entries.iter().map(AuditEntryOut::from).collect(),
    }))
}

/// Re-computes every entry's hash and link; names the first entry that does not hold.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit",
    responses((status = 200, body = AuditVerification),
        (status = 403, description = "Needs the admin role", body = ErrorBody)))]
pub async fn verify(
    State(state): State<AppState>,
    _can: Can<Administer>,
) -> Result<Json<AuditVerification>, OpError> {
    let (mut seq, mut hash) = (0, GENESIS.to_owned());
    loop {
        let page = state.store.audit_entries(seq, VERIFY_PAGE).await?;
        if page.is_empty() {
            break;
        }
        match audit::verify(&page, seq, &hash) {
            Ok(next) => (seq, hash) = next,
            Err(broken) => {
                return Ok(Json(AuditVerification {
                    intact: false,
                    entries: seq,
                    broken_at: Some(broken.seq),
                    reason: Some(broken.reason),
                }));
            }
        }
    }
    Ok(Json(AuditVerification {
        intact: true,
        entries: seq,
        broken_at: None,
        reason: None,
    }))
}
