//! The whitelist. Adding an entry turns matching incidents benign at once (they then
//! leave the MCM through the normal sync) and makes matching new events benign.

use axum::{
    Json,
    extract::{Path, State},
};
use chrono::Utc;

use aerie_domain::{text::Text, user::Permission, whitelist::WhitelistKind};
use aerie_proto::{
    ErrorBody,
    investigation::{WhitelistOut, WhitelistRequest, WhitelistResult},
};

use crate::{
    appliance::ApplianceRole, audit, auth::Caller, error::ApiError, json::ApiJson, state::AppState,
};

/// The request as a (kind, normalised value, reason).
fn parse(req: &WhitelistRequest) -> Result<(WhitelistKind, String, Text), ApiError> {
    let kind: WhitelistKind = req
        .kind
        .parse()
        .map_err(|e| ApiError::bad_request("kind", format!("kind: {e}")))?;
    let value = kind.normalize("value", &req.value)?;
    let reason = Text::parse("reason", &req.reason, 500)?;
    Ok((kind, value, reason))
}

async fn insert(
    state: &AppState,
    caller: &Caller,
    (kind, value, reason): (WhitelistKind, String, Text),
) -> Result<Json<WhitelistResult>, ApiError> {
    if state.role().await? == ApplianceRole::Mcm {
        return Err(ApiError::bad_request(
            "kind",
            "the MCM keeps no whitelist: whitelist from an incident, which goes to its CM",
        ));
    }
    let actor = Text::from_trusted(caller.user.username.as_str().to_owned());
    let (entry, benign) = state
        .store
        .add_whitelist(kind, &value, &reason, &actor, Utc::now())
        .await?;
    audit::by(
        state,
        caller,
        "whitelist.add",
        format!("whitelist {}", entry.id),
        format!(
            "{kind} {value}: {reason}; incidents now benign: {:?}",
            benign.iter().map(|i| i.0).collect::<Vec<_>>()
        ),
    )
    .await?;
    Ok(Json(WhitelistResult {
        entry: WhitelistOut::from(&entry),
        benign_incidents: benign.iter().map(|i| i.0).collect(),
    }))
}

/// The active whitelist, oldest first.
#[utoipa::path(get, path = "/api/v1/whitelist", tag = "investigation",
    responses((status = 200, body = Vec<WhitelistOut>)))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<Vec<WhitelistOut>>, ApiError> {
    let entries = state.store.whitelist().await?;
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
    caller: Caller,
    ApiJson(req): ApiJson<WhitelistRequest>,
) -> Result<Json<WhitelistResult>, ApiError> {
    caller.require(Permission::Whitelist)?;
    insert(&state, &caller, parse(&req)?).await
}

/// Whitelists one of this incident's indicators (the form the MCM forwards): the value
/// must match one of the incident's events.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/whitelist", tag = "investigation",
    params(("id" = i64, Path, description = "Incident id")), request_body = WhitelistRequest,
    responses((status = 200, body = WhitelistResult), (status = 400, body = ErrorBody),
        (status = 403, description = "Needs the analyst role", body = ErrorBody)))]
pub async fn add_for_incident(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<WhitelistRequest>,
) -> Result<Json<WhitelistResult>, ApiError> {
    caller.require(Permission::Whitelist)?;
    let incident = super::local_incident(&state, &id).await?;
    let (kind, value, reason) = parse(&req)?;
    let events = state.store.events_of(incident.id).await?;
    if !events.iter().any(|e| kind.matches(&value, &e.event)) {
        return Err(ApiError::bad_request(
            "value",
            format!(
                "value: {kind} {value} matches no event of incident {}",
                incident.id
            ),
        ));
    }
    insert(&state, &caller, (kind, value, reason)).await
}

/// Removes an entry. Incidents it turned benign stay benign; new events are no longer
/// matched against it.
#[utoipa::path(delete, path = "/api/v1/whitelist/{id}", tag = "investigation",
    params(("id" = i64, Path, description = "Whitelist entry id")),
    responses((status = 200, body = WhitelistOut), (status = 404, body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<WhitelistOut>, ApiError> {
    caller.require(Permission::Whitelist)?;
    let id = super::path_id("id", &id)?;
    let actor = Text::from_trusted(caller.user.username.as_str().to_owned());
    let entry = state.store.remove_whitelist(id, &actor, Utc::now()).await?;
    audit::by(
        &state,
        &caller,
        "whitelist.remove",
        format!("whitelist {id}"),
        format!("{} {}", entry.kind, entry.value),
    )
    .await?;
    Ok(Json(WhitelistOut::from(&entry)))
}
