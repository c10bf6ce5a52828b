//! Sensor ingest.

use axum::{Json, extract::State};
use chrono::Utc;

use std::collections::HashSet;

use aerie_domain::{event::NewEvent, text::Sha256Hex};
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
    _can: Can<SendEvents>,
    ApiJson(batch): ApiJson<EventBatch>,
) -> Result<Json<IngestResponse>, OpError> {
    let events = batch.validate(Utc::now())?;
    check_artifacts(&state, &events).await?;
    let placements = state.store.ingest(&events).await?;
    let placements = placements
        .into_iter()
        .map(|p| PlacementOut {
            incident_id: p.incident_id.get(),
            opened: p.opened,
        })
        .collect();
    Ok(Json(IngestResponse { placements }))
}

/// Every artifact an event references must have been uploaded first.
async fn check_artifacts(state: &AppState, events: &[NewEvent]) -> Result<(), OpError> {
    let mut wanted: Vec<Sha256Hex> = events.iter().flat_map(|e| e.artifacts.clone()).collect();
    if wanted.is_empty() {
        return Ok(());
    }
    wanted.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    wanted.dedup();
    let known: HashSet<String> = state
        .store
        .artifact_infos(&wanted)
        .await?
        .into_iter()
        .map(|a| a.sha256.as_str().to_owned())
        .collect();
    for (i, e) in events.iter().enumerate() {
        if let Some((j, sha)) = e
            .artifacts
            .iter()
            .enumerate()
            .find(|(_, a)| !known.contains(a.as_str()))
        {
            return Err(OpError::invalid(
                format!("events[{i}].artifacts[{j}]"),
                format!(
                    "events[{i}].artifacts[{j}]: no artifact {sha} was uploaded; \
                     upload it with POST /api/v1/artifacts first"
                ),
            ));
        }
    }
    Ok(())
}
