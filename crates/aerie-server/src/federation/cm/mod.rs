//! The CM's side: `set mcm ip …`, `show mcm`, `set mcm resync` and `set mcm remove` on a
//! CM, and the worker that registers with the MCM and pushes the change stream.
//!
//! [`config`] owns the MCM configuration record, [`register`] the registration
//! handshake, [`push`] the live change stream, [`resync`] the full comparison with the
//! MCM's manifest, and [`worker`] the loop that runs them.

mod config;

/// The appliance's stable id (a CM registers under it; a license binds to it).
pub use config::uid as appliance_id;
mod outcome;
mod push;
mod register;
mod resync;
mod worker;

use std::{sync::Mutex, time::Duration, time::Instant};

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, oneshot};

use aerie_client::Client;
use aerie_domain::{net::McmAddress, user::Username};
use aerie_proto::{
    admin::McmStatus,
    device_key::{DeviceKey, Kdf},
};

pub use worker::run;

use super::Federation;
use crate::error::OpError;

/// How long `set mcm ip …` and `set mcm resync` wait for the worker's answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(110);

/// Where the worker stands, as `show mcm` says it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum SyncState {
    Registering,
    Connected,
    /// The last round failed; the text says why and what fixes it.
    Failed(String),
    /// The MCM removed this CM.
    Deregistered,
}

impl std::fmt::Display for SyncState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyncState::Registering => f.write_str("registering"),
            SyncState::Connected => f.write_str("connected"),
            SyncState::Failed(why) => write!(f, "error: {why}"),
            SyncState::Deregistered => f.write_str(
                "deregistered: the MCM removed this CM (its MCM configuration was removed); \
                 register again with set mcm ip … passphrase …",
            ),
        }
    }
}

/// What an operator's request to the worker came to.
type Answer = Result<String, SyncState>;

/// What the operator asked the worker for, with where to send the answer.
enum Request {
    /// Report the outcome of the next registration attempt.
    Registration(oneshot::Sender<Answer>),
    Resync(oneshot::Sender<Answer>),
}

impl Request {
    fn answer(self, answer: Answer) {
        let (Request::Registration(tx) | Request::Resync(tx)) = self;
        let _ = tx.send(answer);
    }
}

#[derive(Default, Clone)]
struct SyncStatus {
    state: Option<SyncState>,
    last_sync: Option<DateTime<Utc>>,
}

/// The CM's in-memory federation state.
#[derive(Default)]
pub struct CmSide {
    wake: Notify,
    requests: Mutex<Vec<Request>>,
    status: Mutex<SyncStatus>,
    /// The cursor last written to the store, and when.
    persisted: Mutex<Option<(i64, Instant)>>,
    /// The pinned client, rebuilt when the MCM or its certificate changes.
    client: Mutex<Option<(String, Client)>>,
    /// The MCM configuration as last read from the store; every writer of the `mcm.*`
    /// settings in this daemon clears it ([`Federation::forget_config`]).
    config: Mutex<config::ConfigCache>,
    /// The host name and certificate fingerprint (`NAME|FP`) the MCM last acknowledged
    /// from this CM.
    told_name: Mutex<Option<String>>,
    /// The highest change sequence number the MCM can have acknowledged from this data:
    /// the store's counter when the daemon started, raised by every request sent since.
    /// An MCM acknowledging more holds changes this CM no longer has (its data dir was
    /// restored from an older copy).
    ceiling: Mutex<Option<i64>>,
    /// The MCM answered this process at least once (its first contact is a heartbeat).
    contacted: std::sync::atomic::AtomicBool,
}

impl CmSide {
    /// Records the store's change counter at start-up, before anything can change it.
    pub fn started_at_seq(&self, seq: i64) {
        *self.ceiling.lock().expect("ceiling lock") = Some(seq);
    }

    /// Raises the ceiling to a sequence number about to be sent.
    fn sending(&self, high_seq: i64) {
        if let Some(c) = self.ceiling.lock().expect("ceiling lock").as_mut() {
            *c = (*c).max(high_seq);
        }
    }

    /// Whether the MCM acknowledged more than this CM ever sent from its data.
    fn beyond_ceiling(&self, acked_seq: i64) -> bool {
        self.ceiling
            .lock()
            .expect("ceiling lock")
            .is_some_and(|c| acked_seq > c)
    }

    /// Wakes the worker for a round now (the host name changed).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    fn set_state(&self, state: SyncState) {
        let mut status = self.status.lock().expect("status lock");
        if status.state.as_ref() != Some(&state) {
            match state {
                SyncState::Failed(_) | SyncState::Deregistered => {
                    tracing::warn!("MCM sync: {state}")
                }
                _ => tracing::info!("MCM sync: {state}"),
            }
            status.state = Some(state);
        }
    }

    fn synced(&self, at: DateTime<Utc>) {
        self.set_state(SyncState::Connected);
        self.status.lock().expect("status lock").last_sync = Some(at);
    }

    fn reset(&self) {
        *self.status.lock().expect("status lock") = SyncStatus::default();
    }

    pub(super) fn forget_config(&self) {
        self.config.lock().expect("config lock").forget();
    }

    /// Queues a request for the worker and waits for its answer.
    async fn ask(
        &self,
        make: impl FnOnce(oneshot::Sender<Answer>) -> Request,
    ) -> Result<String, OpError> {
        let (tx, rx) = oneshot::channel();
        self.requests.lock().expect("request lock").push(make(tx));
        self.wake.notify_one();
        match tokio::time::timeout(ANSWER_WITHIN, rx).await {
            Ok(Ok(Ok(message))) => Ok(message),
            Ok(Ok(Err(state))) => Err(OpError::Peer {
                status: None,
                // The operator sees it after the CLI's own "error: ".
                message: match state {
                    SyncState::Failed(why) => why,
                    other => other.to_string(),
                },
                field: None,
            }),
            Ok(Err(_)) => Err(OpError::internal("the sync worker stopped")),
            Err(_) => Ok("still working; see 'show mcm' for progress".to_owned()),
        }
    }

    fn take_requests(&self) -> Vec<Request> {
        std::mem::take(&mut *self.requests.lock().expect("request lock"))
    }
}

/// `set mcm ip …` on a CM: stores the configuration and waits for the first
/// registration attempt. A CM already registered registers with the new MCM first and
/// keeps its working configuration when that fails.
pub async fn configure(
    fed: &Federation,
    address: &McmAddress,
    username: &Username,
    kdf: Kdf,
    key: &DeviceKey,
) -> Result<String, OpError> {
    let working = config::load(fed)
        .await?
        .is_some_and(|c| c.credential.is_some() && !c.deregistered);
    if working {
        let candidate = config::McmConfig {
            address: address.clone(),
            username: username.as_str().to_owned(),
            kdf,
            key: key.clone(),
            fingerprint: None,
            credential: None,
            cursor: 0,
            epoch: 0,
            resync_pending: false,
            deregistered: false,
        };
        let registered = register::register(fed, &candidate)
            .await
            .map_err(|f| OpError::Peer {
                status: None,
                message: format!(
                    "{}; the previous MCM configuration stays in force",
                    match f.state() {
                        SyncState::Failed(why) => why,
                        other => other.to_string(),
                    }
                ),
                field: None,
            })?;
        // The new credential first, then the address: the worker never sees this CM
        // unregistered in between (at worst one push goes to the old MCM and is refused).
        register::save(fed, &registered)
            .await
            .map_err(|f| OpError::Peer {
                status: None,
                message: f.state().to_string(),
                field: None,
            })?;
        config::store_moved(fed, address, username.as_str(), kdf, key).await?;
        fed.cm.reset();
        fed.cm.wake();
        tracing::info!(mcm = %address, username = username.as_str(), "MCM configured");
        return Ok(registered.message(&candidate));
    }
    config::store_new(fed, address, username.as_str(), kdf, key).await?;
    fed.cm.reset();
    tracing::info!(mcm = %address, username = username.as_str(), "MCM configured");
    fed.cm.ask(Request::Registration).await
}

/// Whether a CM has an MCM configured.
pub async fn is_configured(fed: &Federation) -> Result<bool, OpError> {
    Ok(config::load(fed).await?.is_some())
}

/// `show mcm` on a CM.
pub async fn show(fed: &Federation) -> Result<McmStatus, OpError> {
    let Some(config) = config::load(fed).await? else {
        return Ok(McmStatus {
            role: "cm".into(),
            storage: fed.appliance.storage_problem().await?,
            ..Default::default()
        });
    };
    let status = fed.cm.status.lock().expect("status lock").clone();
    let state = if config.deregistered {
        SyncState::Deregistered
    } else {
        status.state.unwrap_or(SyncState::Registering)
    };
    Ok(McmStatus {
        address: Some(config.address.to_string()),
        username: Some(config.username),
        role: "cm".into(),
        state: Some(state.to_string()),
        last_sync: status.last_sync.map(aerie_proto::format_time),
        backlog: Some(fed.store.pending_changes(config.cursor).await?),
        cms: None,
        storage: fed.appliance.storage_problem().await?,
    })
}

/// `set mcm resync` on a CM.
pub async fn resync(fed: &Federation) -> Result<String, OpError> {
    if config::load(fed).await?.is_none() {
        return Err(OpError::invalid(
            "mcm",
            "no MCM is configured: set mcm ip IP passphrase P first",
        ));
    }
    fed.cm.ask(Request::Resync).await
}

/// `set mcm remove` on a CM: it keeps its incidents and stops syncing.
pub async fn remove(fed: &Federation) -> Result<String, OpError> {
    if config::load(fed).await?.is_none() {
        return Ok("No MCM is configured; nothing to remove.".to_owned());
    }
    config::erase(fed).await?;
    fed.cm.reset();
    *fed.cm.client.lock().expect("client lock") = None;
    fed.cm.wake.notify_one();
    tracing::info!("MCM configuration removed; incidents stay on this CM");
    Ok("MCM configuration removed. This CM keeps its incidents and no longer syncs.".to_owned())
}
