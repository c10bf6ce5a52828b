//! The whitelist. Adding an entry turns matching incidents benign at once (they then
//! leave the MCM through the normal sync) and makes matching new events benign.

use axum::{
    Json,
    extract::{Path, State},
};
use chrono::Utc;

use aerie_domain::{text::Text, whitelist::WhitelistKind};
use aerie_proto::{
    ErrorBody,
    investigation::{WhitelistOut, WhitelistRequest, WhitelistResult},
};

use crate::rights::{Can, View, Whitelist};
use crate::{audit, auth::Caller, error::OpError, json::ApiJson, state::AppState};
use aerie_domain::appliance::ApplianceRole;

/// The request as a (kind, normalised value, reason).
fn parse(req: &WhitelistRequest) -> Result<(WhitelistKind, String, Text), OpError> {
    let kind: WhitelistKind = req
        .kind
        .parse()
        .map_err(|e| OpError::invalid("kind", format!("kind: {e}")))?;
    let value = kind.normalize("value", &req.value)?;
    let reason = Text::parse("reason", &req.reason, 500)?;
    Ok((kind, value, reason))
}

async fn insert(
    state: &AppState,
    caller: &Caller,
    (kind, value, reason): (WhitelistKind, String, Text),
) -> Result<Json<WhitelistResult>, OpError> {
    if state.appliance.role().await? == ApplianceRole::Mcm {
        return Err(OpError::invalid(
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
            benign.iter().map(|i| i.get()).collect::<Vec<_>>()
        ),
    )
    .await?;
    Ok(Json(WhitelistResult {
        entry: WhitelistOut::from(&entry),
        benign_incidents: benign.iter().map(|i| i.get()).collect(),
    }))
}

/// The active whitelist, oldest first.
#[utoipa::path(get, path = "/api/v1/whitelist", tag = "investigation",
    responses((status = 200, body = Vec<WhitelistOut>)))]
pub async fn list(
    State(state): State<AppState>,
    _can: Can<View>,
) -> Result<Json<Vec<WhitelistOut>>, OpError> {
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
    can: Can<Whitelist>,
    ApiJson(req): ApiJson<WhitelistRequest>,
) -> Result<Json<WhitelistResult>, OpError> {
    insert(&state, can.caller(), parse(&req)?).await
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
    let incident = super::local_incident(&state, &id).await?;
    let (kind, value, reason) = parse(&req)?;
    let events = state.store.events_of(incident.id).await?;
    if !events.iter().any(|e| kind.matches(&value, &e.event)) {
        return Err(OpError::invalid(
            "value",
            format!(
                "value: {kind} {value} matches no event of incident {}",
                incident.id
            ),
        ));
    }
    insert(&state, can.caller(), (kind, value, reason)).await
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
    let id = super::path_id("id", &id)?;
    let actor = Text::from_trusted(can.user().username.as_str().to_owned());
    let entry = state.store.remove_whitelist(id, &actor, Utc::now()).await?;
    audit::by(
        &state,
        can.caller(),
        "whitelist.remove",
        format!("whitelist {id}"),
        format!("{} {}", entry.kind, entry.value),
    )
    .await?;
    Ok(Json(WhitelistOut::from(&entry)))
}
