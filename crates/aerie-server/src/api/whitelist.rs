//! The whitelist: the HTTP edge of [`crate::ops::investigation`].

use axum::{
    Json,
    extract::{Path, State},
};

use aerie_domain::{incident::IncidentId, whitelist::WhitelistEntry};
use aerie_proto::{
    ErrorBody,
    investigation::{WhitelistOut, WhitelistRequest, WhitelistResult},
};

use crate::ops::investigation::{self as ops, Indicator};
use crate::rights::{Can, View, Whitelist};
use crate::{error::OpError, json::ApiJson, state::AppState};

fn indicator(req: &WhitelistRequest) -> Result<Indicator, OpError> {
    Indicator::parse(&req.kind, &req.value, &req.reason)
}

fn result((entry, benign): (WhitelistEntry, Vec<IncidentId>)) -> Json<WhitelistResult> {
    Json(WhitelistResult {
        entry: WhitelistOut::from(&entry),
        benign_incidents: benign.iter().map(|i| i.get()).collect(),
    })
}

/// The active whitelist, oldest first.
#[utoipa::path(get, path = "/api/v1/whitelist", tag = "investigation",
    responses((status = 200, body = Vec<WhitelistOut>)))]
pub async fn list(
    State(state): State<AppState>,
    can: Can<View>,
) -> Result<Json<Vec<WhitelistOut>>, OpError> {
    let entries = ops::whitelist(&state, &can).await?;
    Ok(Json(entries.iter().map(WhitelistOut::from).collect()))
}

/// Whitelists an indicator; returns the incidents that turned benign.
#[utoipa::path(post, path = "/api/v1/whitelist", tag = "investigation",
    request_body = WhitelistRequest,
    responses((status = 200, body = WhitelistResult), (status = 400, body = ErrorBody),
        (status = 403, description = "Needs the analyst role", body = ErrorBody),
        (status = 409, description = "Already whitelisted", body = ErrorBody)))]
pub async fn add(
    State(state): State<AppState>,
    can: Can<Whitelist>,
    ApiJson(req): ApiJson<WhitelistRequest>,
) -> Result<Json<WhitelistResult>, OpError> {
    Ok(result(
        ops::add_whitelist(&state, &can, indicator(&req)?).await?,
    ))
}

/// Whitelists one of this incident's indicators (the form the MCM forwards): the value
/// must match one of the incident's events.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/whitelist", tag = "investigation",
    params(("id" = i64, Path, description = "Incident id")), request_body = WhitelistRequest,
    responses((status = 200, body = WhitelistResult), (status = 400, body = ErrorBody),
        (status = 403, description = "Needs the analyst role", body = ErrorBody)))]
pub async fn add_for_incident(
    State(state): State<AppState>,
    can: Can<Whitelist>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<WhitelistRequest>,
) -> Result<Json<WhitelistResult>, OpError> {
    let id = super::path_id("id", &id)?;
    let i = indicator(&req)?;
    Ok(result(
        ops::add_whitelist_for_incident(&state, &can, id, i).await?,
    ))
}

/// Removes an entry. Incidents it turned benign stay benign; new events are no longer
/// matched against it.
#[utoipa::path(delete, path = "/api/v1/whitelist/{id}", tag = "investigation",
    params(("id" = i64, Path, description = "Whitelist entry id")),
    responses((status = 200, body = WhitelistOut), (status = 404, body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    can: Can<Whitelist>,
    Path(id): Path<String>,
) -> Result<Json<WhitelistOut>, OpError> {
    let entry = ops::remove_whitelist(&state, &can, super::path_id("id", &id)?).await?;
    Ok(Json(WhitelistOut::from(&entry)))
}
