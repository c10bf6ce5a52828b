//! A resync: makes the MCM's copy of this CM exact, whatever either side held. It opens
//! a new epoch on the MCM (versions compare only within one), sends every non-benign
//! incident, and ends by dropping every row of this CM the resync did not send.
//!
//! It runs for `set mcm resync`, and by itself when the worker finds that this CM's
//! data and the MCM's copy have parted (either restored from an older copy). Until it
//! completes, nothing else is sent, also across restarts.

use chrono::Utc;

use aerie_client::{Client, ClientError};
use aerie_domain::{federation::ResyncStep, incident::Incident, risk::Risk};
use aerie_proto::federation::{
    MAX_SYNC_BYTES, MAX_SYNC_ROWS, SyncAck, SyncRequest, SyncedIncident, paths,
};

use super::{
    config::{self, McmConfig},
    outcome::{Failure, describe},
    push,
};
use crate::federation::Federation;

/// Resync batches in flight at once: the CM reads and encodes the next while the MCM
/// applies one (their order does not matter: each names other incidents).
const RESYNC_IN_FLIGHT: usize = 3;

/// How often a start refused for an older epoch is retried with the MCM's epoch.
const EPOCH_TRIES: usize = 3;

type InFlight = tokio::task::JoinSet<Result<SyncAck, ClientError>>;

/// A resync batch being gathered.
#[derive(Default)]
struct Outgoing {
    upserts: Vec<Incident>,
    bytes: usize,
}

impl Outgoing {
    fn into_request(self, epoch: i64, step: ResyncStep) -> SyncRequest {
        SyncRequest {
            upserts: self.upserts.iter().map(SyncedIncident::of).collect(),
            epoch,
            resync: Some(step),
            ..Default::default()
        }
    }

    fn full(&self) -> bool {
        self.upserts.len() >= MAX_SYNC_ROWS || self.bytes >= MAX_SYNC_BYTES
    }
}

/// Sends a batch in the background (encoding it there too), keeping at most
/// [`RESYNC_IN_FLIGHT`] batches outstanding.
async fn submit(
    inflight: &mut InFlight,
    client: &Client,
    batch: Outgoing,
    epoch: i64,
    config: &McmConfig,
) -> Result<(), Failure> {
    while inflight.len() >= RESYNC_IN_FLIGHT {
        join_one(inflight, config).await?;
    }
    let client = client.clone();
    inflight.spawn(async move {
        client
            .post(paths::SYNC, &batch.into_request(epoch, ResyncStep::Part))
            .await
    });
    Ok(())
}

async fn join_one(inflight: &mut InFlight, config: &McmConfig) -> Result<(), Failure> {
    match inflight.join_next().await {
        None => Ok(()),
        Some(Ok(Ok(ack))) => applied(&ack),
        Some(Ok(Err(e))) => Err(describe(&e, config)),
        Some(Err(e)) => Err(Failure::Error(format!("resync task failed: {e}"))),
    }
}

/// A resync batch the MCM did not apply: it moved to another epoch meanwhile.
fn applied(ack: &SyncAck) -> Result<(), Failure> {
    if ack.applied {
        Ok(())
    } else {
        Err(Failure::Error(format!(
            "the MCM's copy of this CM changed epoch during the resync (now {}); it starts again",
            ack.epoch
        )))
    }
}

/// Opens `epoch` on the MCM, or the one after the MCM's if that is newer already.
async fn open_epoch(
    fed: &Federation,
    client: &Client,
    mut epoch: i64,
    config: &McmConfig,
) -> Result<i64, Failure> {
    for _ in 0..EPOCH_TRIES {
        let start = Outgoing::default().into_request(epoch, ResyncStep::Start);
        let ack = push::send(client, &start, config).await?;
        if ack.applied {
            return Ok(epoch);
        }
        epoch = ack.epoch.max(epoch) + 1;
        config::begin_resync(fed, epoch).await?;
    }
    Err(Failure::Error(
        "the MCM kept refusing to open a resync epoch".to_owned(),
    ))
}

/// Runs the resync (the pending one, or an operator's) and answers the operator's
/// summary. Every attempt opens a new epoch: a retry after an interrupted attempt must
/// not count the rows that attempt sent as sent (they may be stale or benign by now).
pub(super) async fn run(fed: &Federation, config: &McmConfig) -> Result<String, Failure> {
    let client = push::client(fed, config)?;
    let epoch = config.epoch + 1;
    config::begin_resync(fed, epoch).await?;
    let start_seq = fed.store.last_change_seq().await?;
    fed.cm.sending(start_seq);
    let epoch = open_epoch(fed, &client, epoch, config).await?;
    let mut sent = 0u64;
    let mut pending = Outgoing::default();
    let mut inflight = tokio::task::JoinSet::new();
    let read = |after| {
        let store = fed.store.clone();
        tokio::spawn(async move { store.incidents_after(after, MAX_SYNC_ROWS as u32).await })
    };
    // The next page is read while this one is sent.
    let mut next_page = Some(read(aerie_domain::incident::IncidentId::new(0)));
    while let Some(page) = next_page.take() {
        let page = page
            .await
            .map_err(|e| Failure::Error(format!("reading incidents failed: {e}")))??;
        if let Some(last) = page.last() {
            next_page = Some(read(last.id));
        }
        for incident in page {
            // Benign incidents are not sent; the end drops whatever the MCM held of them.
            if incident.risk() == Risk::Benign {
                continue;
            }
            pending.bytes += SyncedIncident::approx_bytes(&incident);
            pending.upserts.push(incident);
            sent += 1;
            if pending.full() {
                let batch = std::mem::take(&mut pending);
                submit(&mut inflight, &client, batch, epoch, config).await?;
            }
        }
    }
    while !inflight.is_empty() {
        join_one(&mut inflight, config).await?;
    }
    let last = SyncRequest {
        high_seq: start_seq,
        ..pending.into_request(epoch, ResyncStep::End)
    };
    let ack = push::send(&client, &last, config).await?;
    applied(&ack)?;
    // Changes after `start_seq` follow through the stream, in this epoch.
    push::write_cursor(fed, start_seq).await?;
    config::resynced(fed).await?;
    fed.cm.synced(Utc::now());
    let removed = ack.swept;
    tracing::info!(sent, removed, epoch, "resync complete");
    Ok(format!(
        "Resync complete: {sent} incidents sent, {removed} removed from the MCM."
    ))
}
