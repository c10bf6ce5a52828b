//! On the MCM: every action on an incident that lives on a CM goes live to that CM, as
//! the MCM user, and is applied there only. The MCM checks its user's role first; the CM
//! checks that the request comes from its registered MCM, enforces the role again and
//! records the acting user. Nothing is queued: an unreachable CM is a 502 naming it.

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, Method, Uri, header},
    response::Response,
};

use aerie_domain::{federation::Cm, incident::IncidentId, user::Permission};
use aerie_proto::ErrorBody;

use crate::rights::{Can, View};
use crate::{audit, error::OpError, federation::proxy, state::AppState};
use aerie_domain::appliance::ApplianceRole;

/// The CM and the MCM's row of one of its incidents, checked before going live.
pub async fn owned(state: &AppState, cm: &str, id: &str) -> Result<(Cm, IncidentId), OpError> {
    if state.appliance.role().await? != ApplianceRole::Mcm {
        return Err(OpError::not_found(
            "incidents by CM (this appliance is not an MCM)",
        ));
    }
    let cm = proxy::registered_cm(state.store.as_ref(), super::path_id("cm", cm)?).await?;
    let id = super::path_id::<IncidentId>("id", id)?;
    if state.store.remote_incident(cm.id, id).await?.is_none() {
        return Err(OpError::not_found(format!(
            "incident {id} of CM {}",
            cm.name
        )));
    }
    Ok((cm, id))
}

/// The permission an incident action needs (the CM checks it again).
fn needed(rest: &str) -> Permission {
    match rest.split('/').next() {
        Some("mitigations") => Permission::Mitigate,
        Some("whitelist") => Permission::Whitelist,
        _ => Permission::Triage,
    }
}

/// Whether `rest` is a plain relative path of the incident API (no `..`, no odd bytes).
fn plain_path(rest: &str) -> bool {
    !rest.is_empty()
        && rest.split('/').all(|seg| {
            !seg.is_empty()
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
}

/// On the MCM: any incident action (`status`, `comments`, `mitigations`, `whitelist`,
/// `artifacts/{sha256}`, `ivp/{platform}`), forwarded to the CM that owns the incident.
#[utoipa::path(post, path = "/api/v1/incidents/{cm}/{id}/{action}", tag = "federation",
    params(("cm" = i64, Path, description = "CM id"),
        ("id" = i64, Path, description = "Incident id on that CM"),
        ("action" = String, Path, description = "The CM's incident path after /api/v1/incidents/{id}/")),
    responses((status = 200, description = "The CM's answer, streamed"),
        (status = 403, description = "The MCM user's role does not allow it", body = ErrorBody),
        (status = 502, description = "The CM is unreachable", body = ErrorBody)))]
pub async fn forward(
    State(state): State<AppState>,
    can: Can<View>,
    Path((cm, id, rest)): Path<(String, String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OpError> {
    let changes = !matches!(method, Method::GET | Method::HEAD);
    if changes {
        can.check_at_runtime(needed(&rest))?;
    }
    let (cm, id) = owned(&state, &cm, &id).await?;
    if !plain_path(&rest) {
        return Err(OpError::invalid(
            "path",
            format!("{rest:?} is not an incident action"),
        ));
    }
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    let path = format!("/api/v1/incidents/{id}/{rest}{query}");
    let answer = proxy::forward(
        &cm,
        can.caller(),
        method.clone(),
        &path,
        headers.get(header::CONTENT_TYPE),
        body,
    )
    .await;
    if changes {
        let outcome = match &answer {
            Ok(r) => r.status().to_string(),
            Err(e) => format!("{}: {e}", e.status()),
        };
        audit::by(
            &state,
            can.caller(),
            "cm.incident_action",
            format!("CM {} incident {id}", cm.name),
            format!("{method} {rest} -> {outcome}"),
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
