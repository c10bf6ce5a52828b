//! Sensor ingest: the HTTP edge of [`crate::ops::ingest`].

use axum::{Json, extract::State};
use chrono::Utc;

use aerie_proto::{
    ErrorBody,
    events::{EventBatch, IngestResponse, PlacementOut},
};

use crate::rights::{Can, SendEvents};
use crate::{error::OpError, json::ApiJson, state::AppState};

/// Groups a batch of sensor events into incidents, all or nothing.
#[utoipa::path(post, path = "/api/v1/events", tag = "incidents", request_body = EventBatch,
    responses(
        (status = 200, body = IngestResponse),
        (status = 400, description = "A bad event; `field` names it", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody)))]
pub async fn ingest(
    State(state): State<AppState>,
    can: Can<SendEvents>,
    ApiJson(batch): ApiJson<EventBatch>,
) -> Result<Json<IngestResponse>, OpError> {
    let events = batch.validate(Utc::now())?;
    let placements = crate::ops::ingest::events(&state, &can, &events).await?;
    let placements = placements
        .into_iter()
        .map(|p| PlacementOut {
            incident_id: p.incident_id.get(),
            opened: p.opened,
        })
        .collect();
    Ok(Json(IngestResponse { placements }))
}
