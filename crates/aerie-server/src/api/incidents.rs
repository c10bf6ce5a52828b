//! The incident list, details and status changes: the HTTP edge of
//! [`crate::ops::incidents`] and, for a CM's incident on the MCM, [`crate::ops::remote`].

use axum::{
    Json,
    extract::{Path, Query, State, rejection::QueryRejection},
};

use aerie_proto::{
    ErrorBody,
    incidents::{
        EventPageParams, IncidentDetail, IncidentList, IncidentListParams, IncidentOut,
        StatusChangeOut, StatusRequest,
    },
    investigation::CommentRequest,
};

use crate::ops::incidents as ops;
use crate::rights::{Can, Triage, View};
use crate::{error::OpError, json::ApiJson, state::AppState};

/// One page of incidents, filtered and sorted; follow `next` for more. On the MCM every
/// item carries `cm_id`, `cm_name` and `cm_ip`, and `cm` filters by CM.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", params(IncidentListParams),
    responses((status = 200, body = IncidentList), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    can: Can<View>,
    params: Result<Query<IncidentListParams>, QueryRejection>,
) -> Result<Json<IncidentList>, OpError> {
    let Query(params) = params
        .map_err(|e| OpError::invalid("query", format!("bad query string: {}", e.body_text())))?;
    Ok(Json(ops::list(&state, &can, &params).await?))
}

/// An incident with one page of its events (newest first; follow `events_next`) and
/// its status history.
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents",
    params(("id" = i64, Path, description = "Incident id"), EventPageParams),
    responses((status = 200, body = IncidentDetail), (status = 404, body = ErrorBody)))]
pub async fn detail(
    State(state): State<AppState>,
    can: Can<View>,
    Path(id): Path<String>,
    page: Result<Query<EventPageParams>, QueryRejection>,
) -> Result<Json<IncidentDetail>, OpError> {
    let id = super::path_id("id", &id)?;
    let page = event_page(page)?;
    Ok(Json(ops::detail(&state, &can, id, page).await?))
}

/// The checked page of events a query asks for.
pub(crate) fn event_page(
    page: Result<Query<EventPageParams>, QueryRejection>,
) -> Result<(Option<(i64, i64)>, u32), OpError> {
    let Query(page) = page
        .map_err(|e| OpError::invalid("query", format!("bad query string: {}", e.body_text())))?;
    Ok(page.to_page()?)
}

/// Adds a comment to the incident's history.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/comments", tag = "incidents",
    params(("id" = i64, Path, description = "Incident id")), request_body = CommentRequest,
    responses((status = 200, body = StatusChangeOut), (status = 400, body = ErrorBody),
        (status = 403, description = "Needs the analyst role", body = ErrorBody)))]
pub async fn comment(
    State(state): State<AppState>,
    can: Can<Triage>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<CommentRequest>,
) -> Result<Json<StatusChangeOut>, OpError> {
    let id = super::path_id("id", &id)?;
    let comment = ops::comment_text(&req.comment)?;
    let entry = ops::comment(&state, &can, id, &comment).await?;
    Ok(Json(StatusChangeOut::from(&entry)))
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
    can: Can<Triage>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<StatusRequest>,
) -> Result<Json<IncidentOut>, OpError> {
    let id = super::path_id("id", &id)?;
    let (to, comment) = (ops::status(&req.status)?, ops::comment_text(&req.comment)?);
    let incident = ops::change_status(&state, &can, id, to, &comment).await?;
    Ok(Json(IncidentOut::from(&incident)))
}

/// On the MCM: an incident's details, live from the CM that owns it (502 naming the CM
/// when it cannot be reached).
#[utoipa::path(get, path = "/api/v1/incidents/{cm}/{id}", tag = "federation",
    params(("cm" = i64, Path, description = "CM id"), ("id" = i64, Path, description = "Incident id on that CM"), EventPageParams),
    responses((status = 200, body = IncidentDetail), (status = 404, body = ErrorBody),
        (status = 502, description = "The CM is unreachable", body = ErrorBody)))]
pub async fn remote_detail(
    State(state): State<AppState>,
    can: Can<View>,
    Path((cm, id)): Path<(String, String)>,
    page: Result<Query<EventPageParams>, QueryRejection>,
) -> Result<Json<IncidentDetail>, OpError> {
    let (cm, id) = super::remote::ids(&cm, &id)?;
    let page = event_page(page)?;
    let cm = crate::ops::remote::owned(&state, cm, id).await?;
    Ok(Json(
        crate::ops::remote::detail(&state, &can, &cm, id, page).await?,
    ))
}
