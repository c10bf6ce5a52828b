//! The live change stream: the pinned client, batches of changed incidents bounded in
//! rows and bytes, heartbeats, and the acknowledged cursor.

use std::time::{Duration, Instant};

use chrono::Utc;

use aerie_client::{Client, Trust};
use aerie_domain::{incident::Incident, risk::Risk};
use aerie_proto::federation::{
    MAX_SYNC_BYTES, MAX_SYNC_ROWS, Removal, SyncAck, SyncRequest, SyncedIncident,
};

use super::{
    config::{self, McmConfig},
    outcome::{Failure, Step, describe},
};
use crate::federation::{Federation, keys};

/// How often an idle CM tells the MCM it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(10);
/// How often, at most, the acknowledged cursor is written to the store while syncing.
/// Between writes it lives in memory; after a crash the CM re-sends at most what was
/// acknowledged since, which the MCM applies idempotently.
const CURSOR_PERSIST_EVERY: Duration = Duration::from_millis(250);

/// The pinned, authenticated client for the configured MCM.
pub(super) fn client(fed: &Federation, config: &McmConfig) -> Result<Client, Failure> {
    let (Some(pin), Some(credential)) = (config.fingerprint, &config.credential) else {
        return Err(Failure::Error("not registered".into()));
    };
    let id = format!("{}|{pin}|{credential}", config.address.base_url());
    let mut cached = fed.cm.client.lock().expect("client lock");
    if let Some((key, client)) = cached.as_ref()
        && *key == id
    {
        return Ok(client.clone());
    }
    let client = Client::with_options(
        &config.address.base_url(),
        Trust::Pinned(pin),
        config.kdf.is_fips(),
    )
    .map_err(|e| describe(&e, config))?
    .with_token(credential);
    *cached = Some((id, client.clone()));
    Ok(client)
}

/// Splits changes into what the MCM stores and what it must drop.
fn to_request(changes: &[Incident]) -> SyncRequest {
    let mut request = SyncRequest::default();
    let mut bytes = 0;
    for i in changes {
        bytes += SyncedIncident::approx_bytes(i);
        if bytes > MAX_SYNC_BYTES && request.high_seq > 0 {
            break; // the rest follows in the next request
        }
        if i.risk() == Risk::Benign {
            request.removals.push(Removal {
                incident_id: i.id.get(),
                version: i.version,
            });
        } else {
            request.upserts.push(SyncedIncident::of(i));
        }
        request.high_seq = request.high_seq.max(i.change_seq);
    }
    request
}

pub(super) async fn send(
    client: &Client,
    request: &SyncRequest,
    config: &McmConfig,
) -> Result<SyncAck, Failure> {
    client
        .post(aerie_proto::federation::paths::SYNC, request)
        .await
        .map_err(|e| describe(&e, config))
}

/// The MCM says it serves another certificate than the pinned one (this connection was
/// opened before it changed): drop the client, so that the next round connects anew,
/// meets the new certificate, and asks the MCM to prove it (`register::repin`).
fn follow_certificate(fed: &Federation, config: &McmConfig, ack: &SyncAck) {
    let pinned = config.fingerprint.map(|f| f.to_string());
    if let Some(now) = &ack.mcm_fingerprint
        && pinned.as_ref() != Some(now)
    {
        tracing::info!(mcm = %config.address, to = %now, "the MCM serves a new certificate: reconnecting to verify it");
        *fed.cm.client.lock().expect("client lock") = None;
        // The next round sends a heartbeat at once, on a new connection.
        *fed.cm.told_name.lock().expect("name lock") = None;
        fed.cm.wake();
    }
}

/// Pushes the next batch of the change stream; `Idle` when there is none.
pub(super) async fn push(
    fed: &Federation,
    config: &McmConfig,
    last_contact: &mut Instant,
) -> Result<Step, Failure> {
    let client = client(fed, config)?;
    let changes = fed
        .store
        .changes_since(config.cursor, MAX_SYNC_ROWS as u32)
        .await?;
    let last = *fed.store.watch_changes().borrow();
    let name = fed.appliance.hostname().await?;
    let fingerprint = fed.appliance.identity.fingerprint();
    // What the MCM knows this CM by: a new name or certificate is told at once.
    let told = format!("{name}|{fingerprint}");
    let renamed = fed.cm.told_name.lock().expect("name lock").as_ref() != Some(&told);
    // The first contact of this process is a heartbeat: it applies nothing, so the
    // MCM's answer is what it held before, to compare with this CM's data.
    let first = !fed.cm.contacted.load(std::sync::atomic::Ordering::Relaxed);
    if changes.is_empty() || first {
        if first || renamed || last_contact.elapsed() >= HEARTBEAT {
            let heartbeat = SyncRequest {
                cm_name: Some(name.clone()),
                fips: Some(config.kdf.is_fips()),
                cm_fingerprint: Some(fingerprint.clone()),
                epoch: config.epoch,
                after_seq: Some(config.cursor),
                ..SyncRequest::default()
            };
            let ack = send(&client, &heartbeat, config).await?;
            *last_contact = Instant::now();
            *fed.cm.told_name.lock().expect("name lock") = Some(told);
            follow_certificate(fed, config, &ack);
            fed.cm
                .contacted
                .store(true, std::sync::atomic::Ordering::Relaxed);
            if needs_resync(fed, config, &ack).await? {
                return Ok(Step::Busy);
            }
            fed.cm.synced(Utc::now());
            if first && !changes.is_empty() {
                return Ok(Step::Busy);
            }
        }
        persist_cursor(fed, config.cursor).await?;
        return Ok(Step::Idle);
    }
    let request = to_request(&changes);
    let request = SyncRequest {
        backlog: last - request.high_seq,
        cm_name: Some(name.clone()),
        fips: Some(config.kdf.is_fips()),
        cm_fingerprint: Some(fingerprint.clone()),
        epoch: config.epoch,
        after_seq: Some(config.cursor),
        ..request
    };
    fed.cm.sending(request.high_seq);
    let ack = send(&client, &request, config).await?;
    *fed.cm.told_name.lock().expect("name lock") = Some(told);
    follow_certificate(fed, config, &ack);
    *last_contact = Instant::now();
    if needs_resync(fed, config, &ack).await? {
        return Ok(Step::Busy);
    }
    let cursor = ack.acked_seq.min(request.high_seq).max(config.cursor);
    config::remember_cursor(fed, cursor);
    persist_cursor(fed, cursor).await?;
    fed.cm.synced(Utc::now());
    let sent_all = request.upserts.len() + request.removals.len() == changes.len();
    Ok(if changes.len() == MAX_SYNC_ROWS || !sent_all {
        Step::Busy
    } else {
        Step::Idle
    })
}

/// Whether the MCM's answer shows that its copy of this CM and this CM's data have
/// parted (either was restored from an older copy); if so, a resync in a new epoch is
/// recorded, and the worker runs it next.
async fn needs_resync(
    fed: &Federation,
    config: &McmConfig,
    ack: &SyncAck,
) -> Result<bool, Failure> {
    let why = if !ack.applied {
        if ack.epoch != config.epoch {
            "the MCM's copy of this CM is in another resync epoch (a new MCM, a new \
             registration, or either side restored from an older copy)"
        } else {
            "the MCM lacks changes it had acknowledged (the MCM restored from an older copy?)"
        }
    } else if fed.cm.beyond_ceiling(ack.acked_seq) {
        "the MCM holds changes this CM no longer has (its data restored from an older copy?)"
    } else {
        return Ok(false);
    };
    // The resync opens the epoch after this one.
    let epoch = config.epoch.max(ack.epoch);
    tracing::warn!(
        acked = ack.acked_seq,
        cursor = config.cursor,
        mcm_epoch = ack.epoch,
        epoch,
        "{why}: resyncing every incident"
    );
    config::begin_resync(fed, epoch).await?;
    Ok(true)
}

/// Writes the acknowledged cursor to the store if it moved and the last write is older
/// than [`CURSOR_PERSIST_EVERY`].
async fn persist_cursor(fed: &Federation, cursor: i64) -> Result<(), Failure> {
    let due = match *fed.cm.persisted.lock().expect("cursor lock") {
        Some((written, at)) => cursor > written && at.elapsed() >= CURSOR_PERSIST_EVERY,
        None => true,
    };
    if due {
        write_cursor(fed, cursor).await?;
    }
    Ok(())
}

/// Writes the acknowledged cursor to the store now.
pub(super) async fn write_cursor(fed: &Federation, cursor: i64) -> Result<(), Failure> {
    fed.store
        .set_setting(keys::MCM_CURSOR, &cursor.to_string())
        .await?;
    *fed.cm.persisted.lock().expect("cursor lock") = Some((cursor, Instant::now()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use aerie_domain::{
        event::NewEvent,
        incident::{IncidentFacts, IncidentId},
        status::Status,
        text::Text,
    };

    use super::*;

    fn incident(id: i64, severity: f64, source_len: usize) -> Incident {
        let ip = format!("10.0.0.{}", id % 250 + 1).parse().unwrap();
        let mut facts = IncidentFacts::open(&NewEvent::sample(ip, Utc::now(), severity));
        facts.source_name = Some(Text::parse("s", &"x".repeat(source_len), Text::LONG).unwrap());
        Incident {
            id: IncidentId::new(id),
            facts,
            status: Status::New,
            version: 1,
            change_seq: id,
        }
    }

    #[test]
    fn requests_are_bounded_in_bytes_and_split_benign_off() {
        let big: Vec<Incident> = (1..=500).map(|i| incident(i, 0.9, 2000)).collect();
        let request = to_request(&big);
        let sent = request.upserts.len();
        assert!(sent > 10 && sent < 500, "{sent} of 500 large incidents fit");
        assert_eq!(
            request.high_seq, sent as i64,
            "the ack covers exactly what was sent"
        );
        assert!(serde_json::to_vec(&request).unwrap().len() <= MAX_SYNC_BYTES);

        let mixed = vec![
            incident(1, 0.9, 10),
            incident(2, 0.0, 10),
            incident(3, 0.5, 10),
        ];
        let request = to_request(&mixed);
        assert_eq!(request.upserts.len(), 2);
        assert_eq!(
            request.removals,
            vec![Removal {
                incident_id: 2,
                version: 1
            }]
        );
        assert_eq!(request.high_seq, 3);
    }
}
