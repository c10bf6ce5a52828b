//! Applying and revoking an incident's mitigations: the HTTP edge of
//! [`crate::ops::investigation`].

use axum::{
    Json,
    extract::{Path, Query, State, rejection::QueryRejection},
};

use aerie_domain::ids::MitigationId;
use aerie_proto::{
    ErrorBody,
    investigation::{MitigationListParams, MitigationOut, MitigationRequest},
};

use crate::ops::investigation as ops;
use crate::rights::{Can, Mitigate, View};
use crate::{error::OpError, json::ApiJson, state::AppState};

/// Every mitigation on this CM, newest first: what the feeds enforce and what was lifted.
#[utoipa::path(get, path = "/api/v1/mitigations", tag = "investigation",
    params(MitigationListParams),
    responses((status = 200, body = Vec<MitigationOut>), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    can: Can<View>,
    params: Result<Query<MitigationListParams>, QueryRejection>,
) -> Result<Json<Vec<MitigationOut>>, OpError> {
    let Query(params) = params
        .map_err(|e| OpError::invalid("query", format!("bad query string: {}", e.body_text())))?;
    let list = ops::mitigations(
        &state,
        &can,
        params.active.unwrap_or(false),
        params.before.map(MitigationId::new),
        params.limit.unwrap_or(100),
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
    let id = super::path_id("id", &id)?;
    let kind = ops::mitigation_kind(&req.kind)?;
    let m = ops::apply_mitigation(&state, &can, id, kind, &req.value).await?;
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
    let (id, mitigation) = (
        super::path_id("id", &id)?,
        super::path_id("mitigation", &mitigation)?,
    );
    let m = ops::revoke_mitigation(&state, &can, id, mitigation).await?;
    Ok(Json(MitigationOut::from(&m)))
}
