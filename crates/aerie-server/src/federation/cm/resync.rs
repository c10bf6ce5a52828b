//! `set mcm resync`: makes the MCM's copy of this CM exact. This CM's incidents and the
//! MCM's manifest are walked side by side by id; [`diff`] decides, before anything is
//! sent, what each pair needs.

use std::collections::VecDeque;

use chrono::Utc;

use aerie_client::{Client, ClientError};
use aerie_domain::{incident::Incident, incident::IncidentId, risk::Risk};
use aerie_proto::federation::{
    MAX_SYNC_BYTES, MAX_SYNC_ROWS, Manifest, Removal, SyncAck, SyncRequest, SyncedIncident, paths,
};

use super::{
    config::{self, McmConfig},
    outcome::{Failure, describe},
    push,
};
use crate::federation::Federation;

/// What this CM holds of one incident, for the comparison.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Mine {
    pub id: i64,
    pub version: i64,
    pub benign: bool,
}

/// What one incident needs for the MCM to hold exactly what the CM does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Op {
    /// Send the CM's incident (the MCM lacks it or holds another version).
    Send(i64),
    /// Drop the MCM's row at this version.
    Remove { id: i64, version: i64 },
    /// Already the same.
    Same,
}

/// Compares one page of this CM's incidents (ascending ids) with the MCM's manifest
/// entries (ascending ids), consuming the entries up to the page's last id. Entries the
/// page does not reach stay for the next page; after the last page, [`leftovers`] drops
/// them.
pub fn diff(mine: &[Mine], manifest: &mut VecDeque<(i64, i64)>) -> Vec<Op> {
    let mut ops = Vec::with_capacity(mine.len());
    for m in mine {
        while let Some(&(id, version)) = manifest.front()
            && id < m.id
        {
            manifest.pop_front();
            ops.push(Op::Remove { id, version });
        }
        let held = match manifest.front() {
            Some(&(id, version)) if id == m.id => {
                manifest.pop_front();
                Some(version)
            }
            _ => None,
        };
        match (m.benign, held) {
            // Benign incidents are not shown on the MCM; the removal wins over any
            // version the MCM holds.
            (true, Some(version)) => ops.push(Op::Remove {
                id: m.id,
                version: version.max(m.version),
            }),
            (true, None) => {}
            (false, Some(version)) if version == m.version => ops.push(Op::Same),
            (false, _) => ops.push(Op::Send(m.id)),
        }
    }
    ops
}

/// The manifest entries beyond this CM's last incident: gone from the CM.
pub fn leftovers(manifest: &mut VecDeque<(i64, i64)>) -> Vec<Op> {
    manifest
        .drain(..)
        .map(|(id, version)| Op::Remove { id, version })
        .collect()
}

/// Resync batches in flight at once: the CM reads and encodes the next while the MCM
/// applies one (their order does not matter: each names other incidents).
const RESYNC_IN_FLIGHT: usize = 3;

type InFlight = tokio::task::JoinSet<Result<SyncAck, ClientError>>;

/// A resync batch being gathered.
#[derive(Default)]
struct Outgoing {
    upserts: Vec<Incident>,
    removals: Vec<Removal>,
    bytes: usize,
}

impl Outgoing {
    fn into_request(self) -> SyncRequest {
        SyncRequest {
            upserts: self.upserts.iter().map(SyncedIncident::of).collect(),
            removals: self.removals,
            ..Default::default()
        }
    }

    fn full(&self) -> bool {
        self.upserts.len() + self.removals.len() >= MAX_SYNC_ROWS || self.bytes >= MAX_SYNC_BYTES
    }
}

/// Sends a batch in the background (encoding it there too), keeping at most
/// [`RESYNC_IN_FLIGHT`] batches outstanding.
async fn submit(
    inflight: &mut InFlight,
    client: &Client,
    batch: Outgoing,
    config: &McmConfig,
) -> Result<(), Failure> {
    while inflight.len() >= RESYNC_IN_FLIGHT {
        join_one(inflight, config).await?;
    }
    let client = client.clone();
    inflight.spawn(async move { client.post(paths::SYNC, &batch.into_request()).await });
    Ok(())
}

async fn join_one(inflight: &mut InFlight, config: &McmConfig) -> Result<(), Failure> {
    match inflight.join_next().await {
        None | Some(Ok(Ok(_))) => Ok(()),
        Some(Ok(Err(e))) => Err(describe(&e, config)),
        Some(Err(e)) => Err(Failure::Error(format!("resync task failed: {e}"))),
    }
}

/// Counts of what a resync did.
#[derive(Default)]
struct Tally {
    sent: u64,
    removed: u64,
    same: u64,
}

/// Runs the resync and answers the operator's summary.
pub(super) async fn run(fed: &Federation, config: &McmConfig) -> Result<String, Failure> {
    let client = push::client(fed, config)?;
    let start_seq = fed.store.last_change_seq().await?;
    let mut tally = Tally::default();
    let mut manifest: VecDeque<(i64, i64)> = VecDeque::new();
    let mut manifest_next: Option<i64> = Some(0);
    let mut pending = Outgoing::default();
    let mut inflight = tokio::task::JoinSet::new();
    let read = |after: IncidentId| {
        let store = fed.store.clone();
        tokio::spawn(async move { store.incidents_after(after, MAX_SYNC_ROWS as u32).await })
    };
    // The next page is read while this one is compared and sent.
    let mut next_page = Some(read(IncidentId::new(0)));
    while let Some(page) = next_page.take() {
        let page = page
            .await
            .map_err(|e| Failure::Error(format!("reading incidents failed: {e}")))??;
        if let Some(last) = page.last() {
            next_page = Some(read(last.id));
        }
        let upper = page.last().map(|i| i.id.get());
        // Fetch manifest entries up to this page's last id (all of them at the end).
        while let Some(from) = manifest_next {
            if upper.is_some_and(|u| manifest.back().is_some_and(|(id, _)| *id >= u)) {
                break;
            }
            let items: Manifest = client
                .get(&format!("{}?after={from}", paths::MANIFEST))
                .await
                .map_err(|e| describe(&e, config))?;
            manifest.extend(items.items);
            manifest_next = items.next;
        }
        let mine: Vec<Mine> = page
            .iter()
            .map(|i| Mine {
                id: i.id.get(),
                version: i.version,
                benign: i.risk() == Risk::Benign,
            })
            .collect();
        let mut by_id = page.into_iter().peekable();
        for op in diff(&mine, &mut manifest) {
            match op {
                Op::Send(id) => {
                    let incident = std::iter::from_fn(|| by_id.next())
                        .find(|i| i.id.get() == id)
                        .expect("diff sends only incidents of the page, in order");
                    pending.bytes += SyncedIncident::approx_bytes(&incident);
                    pending.upserts.push(incident);
                    tally.sent += 1;
                }
                Op::Remove { id, version } => {
                    pending.removals.push(Removal {
                        incident_id: id,
                        version,
                    });
                    tally.removed += 1;
                }
                Op::Same => tally.same += 1,
            }
            if pending.full() {
                submit(&mut inflight, &client, std::mem::take(&mut pending), config).await?;
            }
        }
    }
    for op in leftovers(&mut manifest) {
        if let Op::Remove { id, version } = op {
            pending.removals.push(Removal {
                incident_id: id,
                version,
            });
            tally.removed += 1;
        }
        if pending.full() {
            submit(&mut inflight, &client, std::mem::take(&mut pending), config).await?;
        }
    }
    while !inflight.is_empty() {
        join_one(&mut inflight, config).await?;
    }
    let last = SyncRequest {
        high_seq: start_seq,
        ..pending.into_request()
    };
    push::send(&client, &last, config).await?;
    let cursor = start_seq.max(config.cursor);
    push::write_cursor(fed, cursor).await?;
    config::remember_cursor(fed, cursor);
    fed.cm.synced(Utc::now());
    let Tally {
        sent,
        removed,
        same,
    } = tally;
    tracing::info!(sent, removed, same, "resync complete");
    Ok(format!(
        "Resync complete: {sent} incidents sent, {removed} removed from the MCM, {same} already up to date."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mine(id: i64, version: i64) -> Mine {
        Mine {
            id,
            version,
            benign: false,
        }
    }

    #[test]
    fn equal_versions_are_left_alone() {
        let mut manifest = VecDeque::from([(1, 3), (2, 1)]);
        assert_eq!(
            diff(&[mine(1, 3), mine(2, 1)], &mut manifest),
            [Op::Same, Op::Same]
        );
        assert!(manifest.is_empty());
    }

    #[test]
    fn newer_older_and_missing_on_the_mcm_are_sent() {
        let mut manifest = VecDeque::from([(1, 2), (2, 5)]);
        let ops = diff(&[mine(1, 3), mine(2, 4), mine(3, 1)], &mut manifest);
        assert_eq!(ops, [Op::Send(1), Op::Send(2), Op::Send(3)]);
    }

    #[test]
    fn what_the_cm_no_longer_has_is_removed() {
        let mut manifest = VecDeque::from([(1, 1), (2, 4), (5, 2), (9, 7)]);
        let ops = diff(&[mine(2, 4), mine(6, 1)], &mut manifest);
        assert_eq!(
            ops,
            [
                Op::Remove { id: 1, version: 1 },
                Op::Same,
                Op::Remove { id: 5, version: 2 },
                Op::Send(6)
            ]
        );
        // Beyond the CM's last incident: removed after the last page.
        assert_eq!(leftovers(&mut manifest), [Op::Remove { id: 9, version: 7 }]);
    }

    #[test]
    fn benign_incidents_leave_the_mcm() {
        let benign = |id, version| Mine {
            id,
            version,
            benign: true,
        };
        let mut manifest = VecDeque::from([(1, 5), (3, 1)]);
        let ops = diff(&[benign(1, 2), benign(2, 1), benign(3, 4)], &mut manifest);
        // The removal carries the higher version so the MCM applies it.
        assert_eq!(
            ops,
            [
                Op::Remove { id: 1, version: 5 },
                Op::Remove { id: 3, version: 4 }
            ]
        );
    }

    #[test]
    fn an_empty_side_is_all_sends_or_all_removals() {
        let mut empty = VecDeque::new();
        assert_eq!(diff(&[mine(1, 1)], &mut empty), [Op::Send(1)]);
        let mut manifest = VecDeque::from([(4, 1)]);
        assert!(diff(&[], &mut manifest).is_empty());
        assert_eq!(leftovers(&mut manifest), [Op::Remove { id: 4, version: 1 }]);
    }
}
