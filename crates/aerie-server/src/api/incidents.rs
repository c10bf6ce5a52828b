//! The incident list, details and status changes.

use axum::{
    Json,
    extract::{Path, Query, State, rejection::QueryRejection},
};
use chrono::Utc;

use aerie_domain::{incident::IncidentId, status::Status, text::Text, user::Role};
use aerie_proto::{
    ErrorBody,
    incidents::{
        EventOut, IncidentDetail, IncidentList, IncidentListParams, IncidentOut, StatusChangeOut,
        StatusRequest,
    },
};

use crate::{auth::Caller, error::ApiError, json::ApiJson, state::AppState};

/// One page of incidents, filtered and sorted; follow `next` for more.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", params(IncidentListParams),
    responses((status = 200, body = IncidentList), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Caller,
    params: Result<Query<IncidentListParams>, QueryRejection>,
) -> Result<Json<IncidentList>, ApiError> {
    let Query(params) = params.map_err(|e| {
        ApiError::bad_request("query", format!("bad query string: {}", e.body_text()))
    })?;
    let page = state.store.incidents(&params.to_query()?).await?;
    Ok(Json(IncidentList {
        items: page.items.iter().map(IncidentOut::from).collect(),
        next: page.next.map(|c| c.encode()),
    }))
}

/// An incident with its events and status history.
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents",
    params(("id" = i64, Path, description = "Incident id")),
    responses((status = 200, body = IncidentDetail), (status = 404, body = ErrorBody)))]
pub async fn detail(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<IncidentDetail>, ApiError> {
    let id = IncidentId(super::path_id("id", &id)?);
    let incident = state
        .store
        .incident(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("incident {id}")))?;
    let events = state.store.events_of(id).await?;
    let history = state.store.status_history(id).await?;
    Ok(Json(IncidentDetail {
        incident: IncidentOut::from(&incident),
        events: events.iter().map(EventOut::from).collect(),
        status_history: history.iter().map(StatusChangeOut::from).collect(),
    }))
}

/// Moves an incident along new → acknowledged → in_progress → complete, with a comment.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/status", tag = "incidents",
    params(("id" = i64, Path, description = "Incident id")), request_body = StatusRequest,
    responses(
        (status = 200, body = IncidentOut),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The workflow does not allow this move", body = ErrorBody)))]
pub async fn change_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<StatusRequest>,
) -> Result<Json<IncidentOut>, ApiError> {
    caller.require(Role::Analyst)?;
    let id = IncidentId(super::path_id("id", &id)?);
    let to: Status = req
        .status
        .parse()
        .map_err(|e| ApiError::bad_request("status", format!("status: {e}")))?;
    let comment = Text::parse("comment", &req.comment, 2000)?;
    let actor = Text::from_trusted(caller.user.username.as_str().to_owned());
    let incident = state
        .store
        .change_status(id, to, &comment, &actor, Utc::now())
        .await?;
    tracing::info!(incident = %id, to = %to, user = %actor, "status changed");
    Ok(Json(IncidentOut::from(&incident)))
}
