//! Applying and revoking an incident's mitigations. Enforcement is by the feeds
//! (`/feeds/{feed}.txt`) that firewalls and EDRs fetch.

use axum::{
    Json,
    extract::{Path, Query, State, rejection::QueryRejection},
};
use chrono::Utc;

use aerie_domain::{
    mitigation::{self, MitigationKind, MitigationOption},
    text::Text,
};
use aerie_proto::{
    ErrorBody,
    investigation::{MitigationListParams, MitigationOut, MitigationRequest},
};

use crate::rights::{Can, Mitigate, View};
use crate::{audit, error::OpError, json::ApiJson, state::AppState};

/// Every mitigation on this CM, newest first: what the feeds enforce and what was lifted.
#[utoipa::path(get, path = "/api/v1/mitigations", tag = "investigation",
    params(MitigationListParams),
    responses((status = 200, body = Vec<MitigationOut>), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    _can: Can<View>,
    params: Result<Query<MitigationListParams>, QueryRejection>,
) -> Result<Json<Vec<MitigationOut>>, OpError> {
    let Query(params) = params
        .map_err(|e| OpError::invalid("query", format!("bad query string: {}", e.body_text())))?;
    let limit = params.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(OpError::invalid("limit", "limit must be from 1 to 500"));
    }
    let list = state
        .store
        .mitigations(
            params.active.unwrap_or(false),
            params.before.map(aerie_domain::ids::MitigationId::new),
            limit,
        )
        .await?;
    Ok(Json(list.iter().map(MitigationOut::from).collect()))
}

/// Applies one of the incident's mitigation options (see `mitigation_options` in the
/// incident's details); its value appears in the matching feed at once.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/mitigations", tag = "investigation",
    params(("id" = i64, Path, description = "Incident id")), request_body = MitigationRequest,
    responses((status = 200, body = MitigationOut),
        (status = 400, description = "Not one of the incident's options", body = ErrorBody),
        (status = 403, description = "Needs the analyst role", body = ErrorBody),
        (status = 409, description = "Already applied", body = ErrorBody)))]
pub async fn apply(
    State(state): State<AppState>,
    can: Can<Mitigate>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<MitigationRequest>,
) -> Result<Json<MitigationOut>, OpError> {
    let incident = super::local_incident(&state, &id).await?;
    let kind: MitigationKind = req
        .kind
        .parse()
        .map_err(|e| OpError::invalid("kind", format!("kind: {e}")))?;
    let events = state.store.events_of(incident.id).await?;
    let options = mitigation::options(&incident.facts, &events);
    let wanted = MitigationOption {
        kind,
        value: kind.normalize(&req.value),
    };
    if !options.contains(&wanted) {
        let same_kind: Vec<&str> = options
            .iter()
            .filter(|o| o.kind == kind)
            .map(|o| o.value.as_str())
            .collect();
        let offered = if same_kind.is_empty() {
            format!("it has no {kind} options")
        } else {
            format!("its {kind} options are: {}", same_kind.join(", "))
        };
        return Err(OpError::invalid(
            "value",
            format!(
                "value: {:?} is not an indicator of incident {}; {offered}",
                req.value, incident.id
            ),
        ));
    }
    let actor = Text::from_trusted(can.user().username.as_str().to_owned());
    let m = state
        .store
        .apply_mitigation(incident.id, &wanted, &actor, Utc::now())
        .await?;
    audit::by(
        &state,
        can.caller(),
        "mitigation.apply",
        format!("incident {}", incident.id),
        format!("{} {} (mitigation {})", m.kind, m.value, m.id),
    )
    .await?;
    Ok(Json(MitigationOut::from(&m)))
}

/// Revokes a mitigation; its value leaves the feed unless another active mitigation
/// still blocks it.
#[utoipa::path(delete, path = "/api/v1/incidents/{id}/mitigations/{mitigation}", tag = "investigation",
    params(("id" = i64, Path, description = "Incident id"),
        ("mitigation" = i64, Path, description = "Mitigation id")),
    responses((status = 200, body = MitigationOut), (status = 404, body = ErrorBody),
        (status = 409, description = "Already revoked", body = ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    can: Can<Mitigate>,
    Path((id, mitigation)): Path<(String, String)>,
) -> Result<Json<MitigationOut>, OpError> {
    let incident = super::local_incident(&state, &id).await?;
    let mitigation = super::path_id("mitigation", &mitigation)?;
    let actor = Text::from_trusted(can.user().username.as_str().to_owned());
    let m = state
        .store
        .revoke_mitigation(incident.id, mitigation, &actor, Utc::now())
        .await?;
    audit::by(
        &state,
        can.caller(),
        "mitigation.revoke",
        format!("incident {}", incident.id),
        format!("{} {} (mitigation {})", m.kind, m.value, m.id),
    )
    .await?;
    Ok(Json(MitigationOut::from(&m)))
}
