//! Sensor ingest.

use axum::{Json, extract::State};
use chrono::Utc;

use aerie_domain::user::Role;
use aerie_proto::{
    ErrorBody,
    events::{EventBatch, IngestResponse, PlacementOut},
};

use crate::{auth::Caller, error::ApiError, json::ApiJson, state::AppState};

/// Groups a batch of sensor events into incidents, all or nothing.
#[utoipa::path(post, path = "/api/v1/events", tag = "incidents", request_body = EventBatch,
    responses(
        (status = 200, body = IngestResponse),
        (status = 400, description = "A bad event; `field` names it", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody)))]
pub async fn ingest(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(batch): ApiJson<EventBatch>,
) -> Result<Json<IngestResponse>, ApiError> {
    caller.require(Role::Analyst)?;
    let events = batch.validate(Utc::now())?;
    let placements = state.store.ingest(&events).await?;
    let placements = placements
        .into_iter()
        .map(|p| PlacementOut {
            incident_id: p.incident_id.0,
            opened: p.opened,
        })
        .collect();
    Ok(Json(IngestResponse { placements }))
}
