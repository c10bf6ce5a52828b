//! Incidents: the list (on the MCM, the CMs' table), details, status changes and
//! comments of this CM's incidents. Details and actions of a CM's incident on the MCM are
//! in [`super::remote`].

use chrono::Utc;

use aerie_domain::{
    incident::{Incident, IncidentId, StatusChange},
    mitigation,
    status::Status,
    text::{Sha256Hex, Text},
};
use aerie_proto::{
    incidents::{
        EventOut, EventPageParams, IncidentDetail, IncidentList, IncidentListParams, IncidentOut,
        StatusChangeOut,
    },
    investigation::{ArtifactOut, MitigationOptionOut, MitigationOut},
};

use crate::rights::{Can, Triage, View};
use crate::{audit, error::OpError, federation::mcm, state::AppState};

/// Most characters of a comment.
pub const MAX_COMMENT: usize = 2000;

/// A comment as the API and the form give it.
pub fn comment_text(raw: &str) -> Result<Text, OpError> {
    Ok(Text::parse("comment", raw, MAX_COMMENT)?)
}

/// A workflow status as the API and the form give it.
pub fn status(raw: &str) -> Result<Status, OpError> {
    raw.parse()
        .map_err(|e| OpError::invalid("status", format!("status: {e}")))
}

/// This CM's incident `id`: 404 when there is none, and on the MCM a pointer to the
/// `/{cm_id}/{incident_id}` form.
pub async fn local(state: &AppState, id: IncidentId) -> Result<Incident, OpError> {
    state
        .appliance
        .on_cm("address an incident as /api/v1/incidents/{cm_id}/{incident_id}")
        .await?;
    state
        .store
        .incident(id)
        .await?
        .ok_or_else(|| OpError::not_found(format!("incident {id}")))
}

/// The CMs `params` filters by, on the MCM; `None` on a CM, which refuses the filter.
async fn cm_filter(
    state: &AppState,
    params: &IncidentListParams,
) -> Result<Option<Vec<aerie_domain::ids::CmId>>, OpError> {
    if state.appliance.is_mcm().await? {
        return Ok(Some(params.cm_ids()?));
    }
    if params.cm.is_some() {
        return Err(OpError::invalid(
            "cm",
            "cm: filtering by CM works on the MCM only",
        ));
    }
    Ok(None)
}

/// One page of incidents, filtered and sorted. On the MCM every item names its CM.
pub async fn list(
    state: &AppState,
    _can: &Can<View>,
    params: &IncidentListParams,
) -> Result<IncidentList, OpError> {
    let query = params.to_query()?;
    let Some(cms) = cm_filter(state, params).await? else {
        let page = state.store.incidents(&query).await?;
        return Ok(IncidentList {
            items: page.items.iter().map(IncidentOut::from).collect(),
            next: page.next.map(|c| c.encode()),
        });
    };
    let page = state.store.remote_incidents(&query, &cms).await?;
    Ok(IncidentList {
        items: mcm::incident_rows(state.store.as_ref(), &page.items).await?,
        next: page.next.map(|c| c.encode()),
    })
}

/// How many incidents match `params`' filter, counted up to `cap + 1`.
pub async fn count(
    state: &AppState,
    _can: &Can<View>,
    params: &IncidentListParams,
    cap: u32,
) -> Result<u64, OpError> {
    let query = params.to_query()?;
    let cms = cm_filter(state, params).await?;
    Ok(state
        .store
        .count_incidents(&query.filter, cms.as_deref(), cap)
        .await?)
}

/// Most artifacts and most mitigation options one incident's details list.
pub const MAX_INDICATORS: usize = 500;

/// Events read at a time when an incident's events are scanned whole.
const SCAN_PAGE: u32 = 1000;

/// Visits the incident's events a page at a time, newest first, until `visit` says it is
/// done:
/// however many events an incident has (one noisy endpoint can give it 40,000), memory
/// holds one page.
pub(crate) async fn scan_events(
    state: &AppState,
    id: IncidentId,
    mut visit: impl FnMut(&[aerie_domain::event::Event]) -> bool,
) -> Result<(), OpError> {
    let mut before = None;
    loop {
        let page = state.store.events_page(id, before, SCAN_PAGE).await?;
        if visit(&page) || page.len() < SCAN_PAGE as usize {
            return Ok(());
        }
        before = page.last().map(|e| (e.event.time.timestamp_millis(), e.id));
    }
}

/// The incident's artifacts and mitigation options, each at most [`MAX_INDICATORS`],
/// and whether there were more.
async fn indicators(
    state: &AppState,
    incident: &Incident,
) -> Result<(Vec<Sha256Hex>, Vec<mitigation::MitigationOption>, bool), OpError> {
    let mut shas = std::collections::BTreeSet::new();
    let mut options = std::collections::BTreeSet::new();
    scan_events(state, incident.id, |page| {
        shas.extend(page.iter().flat_map(|e| e.event.artifacts.iter().cloned()));
        options.extend(mitigation::options(&incident.facts, page));
        shas.len() > MAX_INDICATORS && options.len() > MAX_INDICATORS
    })
    .await?;
    let more = shas.len() > MAX_INDICATORS || options.len() > MAX_INDICATORS;
    Ok((
        shas.into_iter().take(MAX_INDICATORS).collect(),
        options.into_iter().take(MAX_INDICATORS).collect(),
        more,
    ))
}

/// An incident with one page of its events (newest first), its status history,
/// artifacts and mitigations.
pub async fn detail(
    state: &AppState,
    _can: &Can<View>,
    id: IncidentId,
    (before, limit): (Option<(i64, i64)>, u32),
) -> Result<IncidentDetail, OpError> {
    let incident = local(state, id).await?;
    let page = state.store.events_page(id, before, limit).await?;
    let events_next = (page.len() == limit as usize)
        .then(|| page.last())
        .flatten()
        .map(|e| EventPageParams::cursor(e.event.time.timestamp_millis(), e.id));
    let history = state.store.status_history(id).await?;
    let (shas, options, more_indicators) = indicators(state, &incident).await?;
    let artifacts = state.store.artifact_infos(&shas).await?;
    let applied = state.store.mitigations_of(id).await?;
    Ok(IncidentDetail {
        incident: IncidentOut::from(&incident),
        events: page.iter().map(EventOut::from).collect(),
        events_total: incident.facts.event_count,
        events_next,
        more_indicators,
        status_history: history.iter().map(StatusChangeOut::from).collect(),
        artifacts: artifacts.iter().map(ArtifactOut::from).collect(),
        mitigation_options: options
            .iter()
            .map(|o| MitigationOptionOut::new(o, &applied))
            .collect(),
        mitigations: applied.iter().map(MitigationOut::from).collect(),
    })
}

/// The acting user's name as history records it.
pub(super) fn actor<R: crate::rights::Right>(can: &Can<R>) -> Text {
    Text::from_trusted(can.user().username.as_str().to_owned())
}

/// Adds a comment to the incident's history.
#[tracing::instrument(skip_all, fields(incident = %id), err(level = "info"))]
pub async fn comment(
    state: &AppState,
    can: &Can<Triage>,
    id: IncidentId,
    comment: &Text,
) -> Result<StatusChange, OpError> {
    let id = local(state, id).await?.id;
    let entry = state
        .store
        .add_comment(id, comment, &actor(can), Utc::now())
        .await?;
    audit::by(
        state,
        can.caller(),
        "incident.comment",
        format!("incident {id}"),
        comment.as_str(),
    )
    .await?;
    Ok(entry)
}

/// Moves an incident along new → acknowledged → in_progress → complete, with a comment.
#[tracing::instrument(skip_all, fields(incident = %id, to = %to), err(level = "info"))]
pub async fn change_status(
    state: &AppState,
    can: &Can<Triage>,
    id: IncidentId,
    to: Status,
    comment: &Text,
) -> Result<Incident, OpError> {
    let id = local(state, id).await?.id;
    let actor = actor(can);
    let incident = state
        .store
        .change_status(id, to, comment, &actor, Utc::now())
        .await?;
    tracing::info!(user = %actor, "status changed");
    audit::by(
        state,
        can.caller(),
        "incident.status",
        format!("incident {id}"),
        format!("to {to}: {comment}"),
    )
    .await?;
    Ok(incident)
}
