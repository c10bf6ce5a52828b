//! Mitigations and the whitelist of this CM. Mitigations are enforced by the feeds
//! (`/feeds/{feed}.txt`) that firewalls and EDRs fetch; a whitelist entry turns matching
//! incidents benign at once (they then leave the MCM through the normal sync) and makes
//! matching new events benign.

use chrono::Utc;

use aerie_domain::{
    ids::{MitigationId, WhitelistId},
    incident::IncidentId,
    mitigation::{self, Mitigation, MitigationKind, MitigationOption},
    text::Text,
    whitelist::{WhitelistEntry, WhitelistKind},
};

use super::incidents::{actor, local};
use crate::rights::{Can, Mitigate, View, Whitelist};
use crate::{audit, error::OpError, state::AppState};

/// A mitigation kind as the API and the form give it.
pub fn mitigation_kind(raw: &str) -> Result<MitigationKind, OpError> {
    raw.parse()
        .map_err(|e| OpError::invalid("kind", format!("kind: {e}")))
}

/// Most mitigations one page lists.
pub const MAX_PAGE: u32 = 500;

/// Every mitigation, newest first (only the active ones when `active`), `limit` at most,
/// older than `before` when given.
pub async fn mitigations(
    state: &AppState,
    _can: &Can<View>,
    active: bool,
    before: Option<MitigationId>,
    limit: u32,
) -> Result<Vec<Mitigation>, OpError> {
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(OpError::invalid(
            "limit",
            format!("limit must be from 1 to {MAX_PAGE}"),
        ));
    }
    Ok(state.store.mitigations(active, before, limit).await?)
}

/// Applies one of the incident's mitigation options; its value is in the matching feed at
/// once.
#[tracing::instrument(skip_all, fields(incident = %id, kind = %kind), err(level = "info"))]
pub async fn apply_mitigation(
    state: &AppState,
    can: &Can<Mitigate>,
    id: IncidentId,
    kind: MitigationKind,
    value: &str,
) -> Result<Mitigation, OpError> {
    let incident = local(state, id).await?;
    let wanted = MitigationOption {
        kind,
        value: kind.normalize(value),
    };
    let mut found = false;
    let mut same_kind = std::collections::BTreeSet::new();
    super::incidents::scan_events(state, incident.id, |page| {
        for o in mitigation::options(&incident.facts, page) {
            found |= o == wanted;
            if o.kind == kind && same_kind.len() < 20 {
                same_kind.insert(o.value);
            }
        }
        found
    })
    .await?;
    if !found {
        let same_kind: Vec<&str> = same_kind.iter().map(String::as_str).collect();
        let offered = if same_kind.is_empty() {
            format!("it has no {kind} options")
        } else {
            format!("its {kind} options are: {}", same_kind.join(", "))
        };
        return Err(OpError::invalid(
            "value",
            format!(
                "value: {value:?} is not an indicator of incident {}; {offered}",
                incident.id
            ),
        ));
    }
    let m = state
        .store
        .apply_mitigation(incident.id, &wanted, &actor(can), Utc::now())
        .await?;
    audit::by(
        state,
        can.caller(),
        "mitigation.apply",
        format!("incident {}", incident.id),
        format!("{} {} (mitigation {})", m.kind, m.value, m.id),
    )
    .await?;
    Ok(m)
}

/// Revokes a mitigation; its value leaves the feed unless another active mitigation still
/// blocks it.
#[tracing::instrument(skip_all, fields(incident = %id, mitigation = %mitigation), err(level = "info"))]
pub async fn revoke_mitigation(
    state: &AppState,
    can: &Can<Mitigate>,
    id: IncidentId,
    mitigation: MitigationId,
) -> Result<Mitigation, OpError> {
    let incident = local(state, id).await?;
    let m = state
        .store
        .revoke_mitigation(incident.id, mitigation, &actor(can), Utc::now())
        .await?;
    audit::by(
        state,
        can.caller(),
        "mitigation.revoke",
        format!("incident {}", incident.id),
        format!("{} {} (mitigation {})", m.kind, m.value, m.id),
    )
    .await?;
    Ok(m)
}

/// An indicator to whitelist: its kind, its value normalised for the kind, and why.
pub struct Indicator {
    pub kind: WhitelistKind,
    pub value: String,
    pub reason: Text,
}

impl Indicator {
    /// Checks the three fields as the API and the form give them.
    pub fn parse(kind: &str, value: &str, reason: &str) -> Result<Indicator, OpError> {
        let kind: WhitelistKind = kind
            .parse()
            .map_err(|e| OpError::invalid("kind", format!("kind: {e}")))?;
        Ok(Indicator {
            kind,
            value: kind.normalize("value", value)?,
            reason: Text::parse("reason", reason, 500)?,
        })
    }
}

/// The active whitelist, oldest first.
pub async fn whitelist(state: &AppState, _can: &Can<View>) -> Result<Vec<WhitelistEntry>, OpError> {
    Ok(state.store.whitelist().await?)
}

/// Whitelists an indicator; returns the entry and the incidents that turned benign.
#[tracing::instrument(skip_all, fields(kind = %i.kind), err(level = "info"))]
pub async fn add_whitelist(
    state: &AppState,
    can: &Can<Whitelist>,
    i: Indicator,
) -> Result<(WhitelistEntry, Vec<IncidentId>), OpError> {
    if state.appliance.is_mcm().await? {
        return Err(OpError::invalid(
            "kind",
            "the MCM keeps no whitelist: whitelist from an incident, which goes to its CM",
        ));
    }
    let (entry, benign) = state
        .store
        .add_whitelist(i.kind, &i.value, &i.reason, &actor(can), Utc::now())
        .await?;
    audit::by(
        state,
        can.caller(),
        "whitelist.add",
        format!("whitelist {}", entry.id),
        format!(
            "{} {}: {}; incidents now benign: {:?}",
            i.kind,
            i.value,
            i.reason,
            benign.iter().map(|i| i.get()).collect::<Vec<_>>()
        ),
    )
    .await?;
    Ok((entry, benign))
}

/// Whitelists one of this incident's indicators (the form the MCM forwards): the value
/// must match one of the incident's events.
pub async fn add_whitelist_for_incident(
    state: &AppState,
    can: &Can<Whitelist>,
    id: IncidentId,
    i: Indicator,
) -> Result<(WhitelistEntry, Vec<IncidentId>), OpError> {
    let incident = local(state, id).await?;
    let mut matched = false;
    super::incidents::scan_events(state, incident.id, |page| {
        matched = page.iter().any(|e| i.kind.matches(&i.value, &e.event));
        matched
    })
    .await?;
    if !matched {
        return Err(OpError::invalid(
            "value",
            format!(
                "value: {} {} matches no event of incident {}",
                i.kind, i.value, incident.id
            ),
        ));
    }
    add_whitelist(state, can, i).await
}

/// Removes an entry. Incidents it turned benign stay benign; new events are no longer
/// matched against it.
#[tracing::instrument(skip_all, fields(entry = %id), err(level = "info"))]
pub async fn remove_whitelist(
    state: &AppState,
    can: &Can<Whitelist>,
    id: WhitelistId,
) -> Result<WhitelistEntry, OpError> {
    let entry = state
        .store
        .remove_whitelist(id, &actor(can), Utc::now())
        .await?;
    audit::by(
        state,
        can.caller(),
        "whitelist.remove",
        format!("whitelist {id}"),
        format!("{} {}", entry.kind, entry.value),
    )
    .await?;
    Ok(entry)
}
