//! Sensor input on a CM: events grouped into incidents. The MCM takes none: its table is
//! filled by its CMs.

use std::collections::HashSet;

use aerie_domain::{event::NewEvent, incident::Placement, text::Sha256Hex};

use crate::rights::{Can, SendEvents};
use crate::{error::OpError, state::AppState};

/// What the MCM says to a sensor.
pub const NOT_ON_THE_MCM: &str = "sensors post to a CM; the MCM's incidents come from its CMs";

/// Groups checked events into incidents, all or nothing.
pub async fn events(
    state: &AppState,
    _can: &Can<SendEvents>,
    events: &[NewEvent],
) -> Result<Vec<Placement>, OpError> {
    state.appliance.on_cm(NOT_ON_THE_MCM).await?;
    check_artifacts(state, events).await?;
    let started = std::time::Instant::now();
    let placed = state.store.ingest(events).await?;
    let seconds = started.elapsed().as_secs_f64();
    let opened = placed.iter().filter(|p| p.opened).count() as u64;
    state.metrics.record(|| {
        use crate::metrics::names;
        metrics::counter!(names::INGEST_EVENTS).increment(events.len() as u64);
        metrics::counter!(names::INGEST_BATCHES).increment(1);
        metrics::counter!(names::INCIDENTS_OPENED).increment(opened);
        metrics::histogram!(names::INGEST_SECONDS).record(seconds);
    });
    Ok(placed)
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
