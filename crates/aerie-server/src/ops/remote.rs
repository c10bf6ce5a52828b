//! On the MCM: an incident that lives on a CM is read and acted on live, on that CM, as
//! the MCM user. The MCM checks its user's right first; the CM checks that the request
//! comes from its registered MCM, enforces the right again and records the acting user.
//! Nothing is queued: an unreachable CM is a peer error naming it.

use axum::{
    body::Bytes,
    http::{HeaderValue, Method},
    response::Response,
};

use aerie_domain::{federation::Cm, ids::CmId, incident::IncidentId, user::Permission};
use aerie_proto::incidents::{EventPageParams, IncidentDetail};

use crate::rights::{Can, View};
use crate::{
    audit,
    error::OpError,
    federation::{mcm, proxy},
    state::AppState,
};

/// The CM and the MCM's row of one of its incidents, checked before going live.
pub async fn owned(state: &AppState, cm: CmId, id: IncidentId) -> Result<Cm, OpError> {
    state.appliance.on_mcm("incidents by CM").await?;
    let cm = proxy::registered_cm(state.store.as_ref(), cm).await?;
    if state.store.remote_incident(cm.id, id).await?.is_none() {
        return Err(OpError::not_found(format!(
            "incident {id} of CM {}",
            cm.name
        )));
    }
    Ok(cm)
}

/// An incident's details, live from the CM that owns it (checked with [`owned`]).
pub async fn detail(
    state: &AppState,
    can: &Can<View>,
    cm: &Cm,
    id: IncidentId,
    page: (Option<(i64, i64)>, u32),
) -> Result<IncidentDetail, OpError> {
    let answer = proxy::call(
        cm,
        can.caller(),
        Method::GET,
        &format!("/api/v1/incidents/{id}{}", EventPageParams::query(page)),
        None,
    )
    .await;
    state.metrics.proxy_call(cm.name.as_str(), answer.is_ok());
    let mut detail: IncidentDetail = answer?;
    detail.incident = mcm::with_cm(detail.incident, cm);
    Ok(detail)
}

/// One request to a CM's incident API, below `/api/v1/incidents/{id}/`.
pub struct CmRequest {
    pub method: Method,
    /// The path after the incident: `status`, `mitigations/3`, `artifacts/{sha256}`, …
    pub action: String,
    /// The query string, without its `?`.
    pub query: Option<String>,
    pub content_type: Option<HeaderValue>,
    pub body: Bytes,
}

/// The right an incident action needs (the CM checks it again).
fn needed(action: &str) -> Permission {
    match action.split('/').next() {
        Some("mitigations") => Permission::Mitigate,
        Some("whitelist") => Permission::Whitelist,
        _ => Permission::Triage,
    }
}

/// Whether `action` is a plain relative path of the incident API (no `..`, no odd bytes).
fn plain_path(action: &str) -> bool {
    !action.is_empty()
        && action.split('/').all(|seg| {
            !seg.is_empty()
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
}

/// Any incident action (`status`, `comments`, `mitigations`, `whitelist`,
/// `artifacts/{sha256}`, `ivp/{platform}`), sent to the CM that owns the incident; the
/// CM's answer is streamed back as it is. Changes are audited here with their outcome.
#[tracing::instrument(skip_all, fields(cm = %cm, incident = %id, method = %req.method, action = req.action), err(level = "info"))]
pub async fn forward(
    state: &AppState,
    can: &Can<View>,
    cm: CmId,
    id: IncidentId,
    req: CmRequest,
) -> Result<Response, OpError> {
    let changes = !matches!(req.method, Method::GET | Method::HEAD);
    if changes {
        can.check_at_runtime(needed(&req.action))?;
    }
    let cm = owned(state, cm, id).await?;
    if !plain_path(&req.action) {
        return Err(OpError::invalid(
            "path",
            format!("{:?} is not an incident action", req.action),
        ));
    }
    let query = req.query.map(|q| format!("?{q}")).unwrap_or_default();
    let path = format!("/api/v1/incidents/{id}/{}{query}", req.action);
    let answer = proxy::forward(
        &cm,
        can.caller(),
        req.method.clone(),
        &path,
        req.content_type.as_ref(),
        req.body,
    )
    .await;
    state.metrics.proxy_call(cm.name.as_str(), answer.is_ok());
    if changes {
        let outcome = match &answer {
            Ok(r) => r.status().to_string(),
            Err(e) => format!("{}: {e}", e.status()),
        };
        audit::by(
            state,
            can.caller(),
            "cm.incident_action",
            format!("CM {} incident {id}", cm.name),
            format!("{} {} -> {outcome}", req.method, req.action),
        )
        .await?;
    }
    answer
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_plain_paths_are_forwarded() {
        assert!(super::plain_path("status"));
        assert!(super::plain_path("artifacts/ab12"));
        assert!(super::plain_path("mitigations/3"));
        assert!(!super::plain_path("../../users"));
        assert!(!super::plain_path("status/"));
        assert!(!super::plain_path("a%2f..%2fb"));
    }
}
