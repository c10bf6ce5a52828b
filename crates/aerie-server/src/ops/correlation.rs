//! Cross-CM correlation on the MCM: campaigns (indicators on two or more CMs) and what an
//! incident shares with other CMs. [`follow`] keeps the store's sightings up with the
//! MCM's feed as sync batches land ([`aerie_store::CorrelationStore`]); the rest reads
//! and names.

use chrono::{TimeDelta, Utc};

use aerie_domain::{
    correlation::{Campaign, Indicator, IndicatorKind},
    ids::CmId,
    incident::IncidentId,
};
use aerie_proto::correlation::{CampaignCm, CampaignOut};

use crate::rights::{Can, View};
use crate::{error::OpError, state::AppState};

/// Rows of the MCM's feed the follower reads per transaction: small enough that a sync
/// batch waiting for SQLite's writer waits a few milliseconds at most.
const FOLLOW_BATCH: u32 = 500;
/// How often the follower looks at the feed without being woken (batches written by
/// another process on one PostgreSQL ring no bell here).
const FOLLOW_POLL: std::time::Duration = std::time::Duration::from_millis(500);
/// How long the follower lets sync batches gather after one woke it: incidents as they
/// happen then share one transaction of the follower's, not one each.
const FOLLOW_COALESCE: std::time::Duration = std::time::Duration::from_millis(100);
/// While sync batches keep coming, the follower works one part in this many of the time.
const FOLLOW_SHARE: u32 = 10;

/// Keeps the correlation up with the MCM's feed until `shutdown`, off the sync's path:
/// woken by sync batches that wrote rows, it waits [`FOLLOW_COALESCE`] for more to
/// gather, then reads what is new a batch at a time. While sync batches keep coming (a
/// resync, many CMs at once) it takes at most a [`FOLLOW_SHARE`] of the time, so that the
/// sync keeps the store's writer; once they stop it catches up at full speed.
pub async fn follow(
    store: std::sync::Arc<dyn aerie_store::Store>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut written = store.watch_remote();
    loop {
        let started = std::time::Instant::now();
        let rest = match store.correlate_next(FOLLOW_BATCH).await {
            Ok(0) => None,
            Ok(_) if written.has_changed().unwrap_or(false) => {
                written.borrow_and_update();
                Some(started.elapsed() * (FOLLOW_SHARE - 1))
            }
            Ok(_) => Some(std::time::Duration::ZERO),
            Err(e) => {
                tracing::warn!("correlation: {e}");
                Some(FOLLOW_POLL)
            }
        };
        let wait = match rest {
            Some(rest) => tokio::time::sleep(rest),
            None => {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = written.changed() => {}
                    _ = tokio::time::sleep(FOLLOW_POLL) => {}
                }
                tokio::time::sleep(FOLLOW_COALESCE)
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = wait => {}
        }
    }
}

/// The default window, in hours.
pub const DEFAULT_HOURS: u32 = 168;
/// Most campaigns listed.
pub const MAX_CAMPAIGNS: u32 = 500;

/// The incident-list filter that shows an indicator's incidents (`source=` or `file=`).
pub fn filter_query(i: &Indicator) -> String {
    let key = match i.kind {
        IndicatorKind::FileSha256 => "file",
        _ => "source",
    };
    format!(
        "{key}={}",
        form_urlencoded::byte_serialize(i.value.as_bytes()).collect::<String>()
    )
}

/// The campaigns of the last `hours`, latest first.
pub async fn campaigns(
    state: &AppState,
    _can: &Can<View>,
    hours: Option<u32>,
) -> Result<Vec<CampaignOut>, OpError> {
    state.appliance.on_mcm("Campaigns").await?;
    let hours = hours.unwrap_or(DEFAULT_HOURS);
    if !(1..=8760).contains(&hours) {
        return Err(OpError::invalid(
            "hours",
            "hours must be a whole number from 1 to 8760",
        ));
    }
    let since = Utc::now() - TimeDelta::hours(i64::from(hours));
    let found = state.store.campaigns(since, MAX_CAMPAIGNS).await?;
    let names = names(state).await?;
    Ok(found.iter().map(|c| out(c, &names)).collect())
}

/// The incident's indicators other CMs' incidents carry too, with those CMs' names.
pub async fn also_seen(
    state: &AppState,
    _can: &Can<View>,
    cm: CmId,
    id: IncidentId,
) -> Result<Vec<(Indicator, Vec<String>)>, OpError> {
    let names = names(state).await?;
    Ok(state
        .store
        .also_seen(cm, id)
        .await?
        .into_iter()
        .map(|(i, cms)| (i, cms.iter().map(|c| name_of(&names, *c)).collect()))
        .collect())
}

async fn names(state: &AppState) -> Result<Vec<(CmId, String)>, OpError> {
    Ok(state
        .store
        .cms()
        .await?
        .into_iter()
        .map(|c| (c.id, c.name.as_str().to_owned()))
        .collect())
}

fn name_of(names: &[(CmId, String)], id: CmId) -> String {
    names
        .iter()
        .find(|(c, _)| *c == id)
        .map_or_else(|| format!("CM {id}"), |(_, n)| n.clone())
}

fn out(c: &Campaign, names: &[(CmId, String)]) -> CampaignOut {
    CampaignOut {
        kind: c.indicator.kind.as_str().to_owned(),
        value: c.indicator.value.clone(),
        cms: c
            .cms
            .iter()
            .map(|id| CampaignCm {
                id: id.get(),
                name: name_of(names, *id),
            })
            .collect(),
        first_seen: aerie_proto::format_time(c.first_seen),
        last_seen: aerie_proto::format_time(c.last_seen),
        incidents: c.incidents,
        incidents_query: filter_query(&c.indicator),
    }
}
