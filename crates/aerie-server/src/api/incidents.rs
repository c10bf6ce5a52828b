//! The incident list, details and status changes. On a CM they read and change this CM's
//! incidents; on the MCM the list is the CMs' table, and details and actions go live to
//! the CM that owns the incident.

use axum::{
    Json,
    extract::{Path, Query, State, rejection::QueryRejection},
};
use chrono::Utc;
use reqwest::Method;

use aerie_domain::{
    mitigation,
    status::Status,
    text::{Sha256Hex, Text},
};
use aerie_proto::{
    ErrorBody,
    incidents::{
        EventOut, IncidentDetail, IncidentList, IncidentListParams, IncidentOut, StatusChangeOut,
        StatusRequest,
    },
    investigation::{ArtifactOut, CommentRequest, MitigationOptionOut, MitigationOut},
};

use crate::rights::{Can, Triage, View};
use crate::{
    audit,
    error::OpError,
    federation::{mcm, proxy},
    json::ApiJson,
    state::AppState,
};
use aerie_domain::appliance::ApplianceRole;

/// One page of incidents, filtered and sorted; follow `next` for more. On the MCM every
/// item carries `cm_id`, `cm_name` and `cm_ip`, and `cm` filters by CM.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", params(IncidentListParams),
    responses((status = 200, body = IncidentList), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    _can: Can<View>,
    params: Result<Query<IncidentListParams>, QueryRejection>,
) -> Result<Json<IncidentList>, OpError> {
    let Query(params) = params
        .map_err(|e| OpError::invalid("query", format!("bad query string: {}", e.body_text())))?;
    let query = params.to_query()?;
    if state.appliance.role().await? == ApplianceRole::Cm {
        if params.cm.is_some() {
            return Err(OpError::invalid(
                "cm",
                "cm: filtering by CM works on the MCM only",
            ));
        }
        let page = state.store.incidents(&query).await?;
        return Ok(Json(IncidentList {
            items: page.items.iter().map(IncidentOut::from).collect(),
            next: page.next.map(|c| c.encode()),
        }));
    }
    let page = state
        .store
        .remote_incidents(&query, &params.cm_ids()?)
        .await?;
    let items = mcm::incident_rows(state.store.as_ref(), &page.items).await?;
    Ok(Json(IncidentList {
        items,
        next: page.next.map(|c| c.encode()),
    }))
}

/// An incident with its events and status history.
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents",
    params(("id" = i64, Path, description = "Incident id")),
    responses((status = 200, body = IncidentDetail), (status = 404, body = ErrorBody)))]
pub async fn detail(
    State(state): State<AppState>,
    _can: Can<View>,
    Path(id): Path<String>,
) -> Result<Json<IncidentDetail>, OpError> {
    let incident = super::local_incident(&state, &id).await?;
    let id = incident.id;
    let events = state.store.events_of(id).await?;
    let history = state.store.status_history(id).await?;
    let mut shas: Vec<Sha256Hex> = events
        .iter()
        .flat_map(|e| e.event.artifacts.clone())
        .collect();
    shas.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    shas.dedup();
    let artifacts = state.store.artifact_infos(&shas).await?;
    let applied = state.store.mitigations_of(id).await?;
    let options = mitigation::options(&incident.facts, &events);
    Ok(Json(IncidentDetail {
        incident: IncidentOut::from(&incident),
        events: events.iter().map(EventOut::from).collect(),
        status_history: history.iter().map(StatusChangeOut::from).collect(),
        artifacts: artifacts.iter().map(ArtifactOut::from).collect(),
        mitigation_options: options
            .iter()
            .map(|o| MitigationOptionOut::new(o, &applied))
            .collect(),
        mitigations: applied.iter().map(MitigationOut::from).collect(),
    }))
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
    let id = super::local_incident(&state, &id).await?.id;
    let comment = Text::parse("comment", &req.comment, 2000)?;
    let actor = Text::from_trusted(can.user().username.as_str().to_owned());
    let entry = state
        .store
        .add_comment(id, &comment, &actor, Utc::now())
        .await?;
    audit::by(
        &state,
        can.caller(),
        "incident.comment",
        format!("incident {id}"),
        comment.as_str(),
    )
    .await?;
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
    let id = super::local_incident(&state, &id).await?.id;
    let to: Status = req
        .status
        .parse()
        .map_err(|e| OpError::invalid("status", format!("status: {e}")))?;
    let comment = Text::parse("comment", &req.comment, 2000)?;
    let actor = Text::from_trusted(can.user().username.as_str().to_owned());
    let incident = state
        .store
        .change_status(id, to, &comment, &actor, Utc::now())
        .await?;
    tracing::info!(incident = %id, to = %to, user = %actor, "status changed");
    audit::by(
        &state,
        can.caller(),
        "incident.status",
        format!("incident {id}"),
        format!("to {to}: {comment}"),
    )
    .await?;
    Ok(Json(IncidentOut::from(&incident)))
}

/// On the MCM: an incident's details, live from the CM that owns it (502 naming the CM
/// when it cannot be reached).
#[utoipa::path(get, path = "/api/v1/incidents/{cm}/{id}", tag = "federation",
    params(("cm" = i64, Path, description = "CM id"), ("id" = i64, Path, description = "Incident id on that CM")),
    responses((status = 200, body = IncidentDetail), (status = 404, body = ErrorBody),
        (status = 502, description = "The CM is unreachable", body = ErrorBody)))]
pub async fn remote_detail(
    State(state): State<AppState>,
    can: Can<View>,
    Path((cm, id)): Path<(String, String)>,
) -> Result<Json<IncidentDetail>, OpError> {
    let (cm, id) = super::remote::owned(&state, &cm, &id).await?;
    let mut detail: IncidentDetail = proxy::call(
        &cm,
        can.caller(),
        Method::GET,
        &format!("/api/v1/incidents/{id}"),
        None,
    )
    .await?;
    detail.incident = mcm::with_cm(detail.incident, &cm);
    Ok(Json(detail))
}
