//! The CM's side: registration with the MCM, the sync worker that pushes the change
//! stream, resync, and `set mcm remove`.
//!
//! One worker per daemon. It is woken by committed changes (the store's change
//! notifications), by configuration and resync requests, and by its heartbeat timer; on
//! failure it backs off exponentially with jitter and tries again, forever.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, oneshot};
use tokio_util::sync::CancellationToken;

use aerie_client::{Client, ClientError, Fingerprint, Trust};
use aerie_domain::{incident::IncidentId, net::McmAddress, risk::Risk, user::Username};
use aerie_proto::{
    admin::McmStatus,
    device_key::{DeviceKey, Kdf},
    federation::{
        Challenge, MAX_SYNC_BYTES, MAX_SYNC_ROWS, Manifest, ProxyToken, RegisterRequest,
        RegisterResponse, Removal, SyncAck, SyncRequest, SyncedIncident, codes, register_message,
        registered_message,
    },
};

use super::{backoff, keys, mcm::fips_mismatch};
use crate::{appliance::ApplianceRole, auth, error::ApiError, state::AppState};

/// How often an idle CM tells the MCM it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(10);
/// How often, at most, the acknowledged cursor is written to the store while syncing.
/// Between writes it lives in memory; after a crash the CM re-sends at most what was
/// acknowledged since, which the MCM applies idempotently.
const CURSOR_PERSIST_EVERY: Duration = Duration::from_millis(250);
/// How long `set mcm ip …` and `set mcm resync` wait for the worker's answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(110);

/// What the operator asked the worker for, with where to send the answer.
enum Request {
    /// Report the outcome of the next registration attempt.
    Registration(oneshot::Sender<Result<String, String>>),
    Resync(oneshot::Sender<Result<String, String>>),
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
    /// settings in this daemon clears it.
    config: Mutex<CachedConfig>,
}

#[derive(Default, Clone)]
struct SyncStatus {
    state: Option<String>,
    last_sync: Option<DateTime<Utc>>,
}

impl CmSide {
    fn set_state(&self, state: impl Into<String>) {
        let state = state.into();
        let mut status = self.status.lock().expect("status lock");
        if status.state.as_deref() != Some(&state) {
            if state.starts_with("error") || state.starts_with("deregistered") {
                tracing::warn!("MCM sync: {state}");
            } else {
                tracing::info!("MCM sync: {state}");
            }
            status.state = Some(state);
        }
    }

    fn synced(&self, at: DateTime<Utc>) {
        self.set_state("connected");
        self.status.lock().expect("status lock").last_sync = Some(at);
    }

    /// Queues a request for the worker and waits for its answer.
    async fn ask(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<String, String>>) -> Request,
    ) -> Result<String, ApiError> {
        let (tx, rx) = oneshot::channel();
        self.requests.lock().expect("request lock").push(make(tx));
        self.wake.notify_one();
        match tokio::time::timeout(ANSWER_WITHIN, rx).await {
            Ok(Ok(Ok(message))) => Ok(message),
            Ok(Ok(Err(error))) => Err(ApiError::new(axum::http::StatusCode::BAD_GATEWAY, error)),
            Ok(Err(_)) => Err(ApiError::internal("the sync worker stopped")),
            Err(_) => Ok("still working; see 'show mcm' for progress".to_owned()),
        }
    }

    fn take_requests(&self) -> Vec<Request> {
        std::mem::take(&mut *self.requests.lock().expect("request lock"))
    }
}

/// The MCM configuration of this CM.
/// The cached configuration and a generation that every [`forget_config`] bumps, so a
/// read racing with a change is not cached.
#[derive(Default)]
struct CachedConfig {
    generation: u64,
    config: Option<Option<Config>>,
}

#[derive(Clone)]
struct Config {
    address: McmAddress,
    username: String,
    kdf: Kdf,
    key: DeviceKey,
    fingerprint: Option<Fingerprint>,
    credential: Option<String>,
    cursor: i64,
    deregistered: bool,
}

/// Forgets the cached configuration, so that the next read comes from the store.
pub fn forget_config(state: &AppState) {
    let mut cache = state.federation.cm.config.lock().expect("config lock");
    cache.generation += 1;
    cache.config = None;
}

/// Records an acknowledged cursor in the cached configuration (the store has it too).
fn remember_cursor(state: &AppState, cursor: i64) {
    let mut cache = state.federation.cm.config.lock().expect("config lock");
    if let Some(Some(config)) = cache.config.as_mut() {
        config.cursor = cursor;
    }
}

/// The configuration, from the cache when it is there.
async fn load(state: &AppState) -> Result<Option<Config>, ApiError> {
    let generation = {
        let cache = state.federation.cm.config.lock().expect("config lock");
        if let Some(cached) = &cache.config {
            return Ok(cached.clone());
        }
        cache.generation
    };
    let config = read_config(state).await?;
    let mut cache = state.federation.cm.config.lock().expect("config lock");
    if cache.generation == generation {
        cache.config = Some(config.clone());
    }
    Ok(config)
}

async fn read_config(state: &AppState) -> Result<Option<Config>, ApiError> {
    let settings: std::collections::HashMap<String, String> = state
        .store
        .settings_with_prefix("mcm.")
        .await?
        .into_iter()
        .collect();
    let get = |name: &str| settings.get(name).cloned();
    let Some(address) = get(keys::MCM_ADDRESS) else {
        return Ok(None);
    };
    let address = McmAddress::parse(&address)?;
    let kdf = get(keys::MCM_KDF).and_then(|k| Kdf::parse(&k));
    let key = get(keys::MCM_DEVICE_KEY).and_then(|k| DeviceKey::from_hex(&k));
    let (Some(kdf), Some(key)) = (kdf, key) else {
        return Err(ApiError::internal(
            "the MCM configuration lacks its device key",
        ));
    };
    Ok(Some(Config {
        address,
        username: get(keys::MCM_USERNAME).unwrap_or_else(|| "admin".to_owned()),
        kdf,
        key,
        fingerprint: get(keys::MCM_FINGERPRINT).and_then(|f| f.parse().ok()),
        credential: get(keys::MCM_CREDENTIAL),
        cursor: get(keys::MCM_CURSOR)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0),
        deregistered: get(keys::MCM_DEREGISTERED).is_some(),
    }))
}

/// Stores a new MCM configuration and waits for the first registration attempt.
pub async fn configure(
    state: &AppState,
    address: &McmAddress,
    username: &Username,
    kdf: Kdf,
    key: &DeviceKey,
) -> Result<String, ApiError> {
    let s = &state.store;
    for name in keys::ALL_MCM {
        s.delete_setting(name).await?;
    }
    s.set_setting(keys::MCM_USERNAME, username.as_str()).await?;
    s.set_setting(keys::MCM_KDF, kdf.id()).await?;
    s.set_setting(keys::MCM_DEVICE_KEY, &key.to_hex()).await?;
    s.set_setting(keys::MCM_ADDRESS, &address.to_string())
        .await?;
    *state.federation.cm.status.lock().expect("status lock") = SyncStatus::default();
    tracing::info!(mcm = %address, username = username.as_str(), "MCM configured");
    forget_config(state);
    state.federation.cm.ask(Request::Registration).await
}

pub async fn show(state: &AppState) -> Result<McmStatus, ApiError> {
    let Some(config) = load(state).await? else {
        return Ok(McmStatus {
            role: "cm".into(),
            ..Default::default()
        });
    };
    let status = state
        .federation
        .cm
        .status
        .lock()
        .expect("status lock")
        .clone();
    let state_line = if config.deregistered {
        Some(deregistered_message())
    } else {
        status.state.or_else(|| Some("registering".to_owned()))
    };
    Ok(McmStatus {
        address: Some(config.address.to_string()),
        username: Some(config.username),
        role: "cm".into(),
        state: state_line,
        last_sync: status.last_sync.map(aerie_proto::format_time),
        backlog: Some(state.store.pending_changes(config.cursor).await?),
        cms: None,
    })
}

pub async fn resync(state: &AppState) -> Result<String, ApiError> {
    if load(state).await?.is_none() {
        return Err(ApiError::bad_request(
            "mcm",
            "no MCM is configured: set mcm ip IP passphrase P first",
        ));
    }
    state.federation.cm.ask(Request::Resync).await
}

pub async fn remove(state: &AppState) -> Result<String, ApiError> {
    if load(state).await?.is_none() {
        return Ok("No MCM is configured; nothing to remove.".to_owned());
    }
    for name in keys::ALL_MCM {
        state.store.delete_setting(name).await?;
    }
    *state.federation.cm.status.lock().expect("status lock") = SyncStatus::default();
    *state.federation.cm.client.lock().expect("client lock") = None;
    forget_config(state);
    state.federation.cm.wake.notify_one();
    tracing::info!("MCM configuration removed; incidents stay on this CM");
    Ok("MCM configuration removed. This CM keeps its incidents and no longer syncs.".to_owned())
}

fn deregistered_message() -> String {
    "deregistered: the MCM removed this CM (its MCM configuration was removed); register again \
     with set mcm ip … passphrase …"
        .to_owned()
}

/// What one round of the worker achieved.
enum Step {
    /// More may be waiting: go again at once.
    Busy,
    /// Up to date.
    Idle,
    /// Nothing to do until reconfigured.
    Off,
}

/// Why a round failed, in the operator's words.
struct Failure {
    message: String,
    /// The MCM said this CM is deregistered.
    deregistered: bool,
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure {
            message: format!("error: {}", e.message),
            deregistered: false,
        }
    }
}

impl From<aerie_store::StoreError> for Failure {
    fn from(e: aerie_store::StoreError) -> Self {
        ApiError::from(e).into()
    }
}

fn describe(e: &ClientError, config: &Config) -> Failure {
    let message = match e.code() {
        Some(codes::DEREGISTERED) => return Failure { message: deregistered_message(), deregistered: true },
        Some(codes::UNKNOWN_USERNAME) => format!(
            "error: unknown username {:?} on the MCM — create that admin user on the MCM or give another with 'username'",
            config.username
        ),
        Some(codes::WRONG_PASSPHRASE) => {
            "error: wrong passphrase — the MCM derived a different device key; set the same passphrase on both".to_owned()
        }
        Some(codes::FIPS_MISMATCH) => format!("error: {}", api_message(e)),
        Some(codes::NOT_MCM) => format!(
            "error: {} is not an MCM — convert it first with set mcm ip 127.0.0.1 passphrase …",
            config.address
        ),
        Some(codes::UNKNOWN_CM) => {
            "error: the MCM does not know this CM's credential — register again with set mcm ip …".to_owned()
        }
        _ if e.is_pin_mismatch() => format!(
            "error: MCM certificate changed — {} no longer presents the certificate pinned at registration \
             (possible man in the middle); if the MCM's certificate was replaced, run set mcm ip again",
            config.address
        ),
        _ if e.status().is_none() => {
            format!("error: MCM unreachable at {}: {}", config.address.base_url(), e.root_cause())
        }
        _ => format!("error: the MCM refused: {}", api_message(e)),
    };
    Failure {
        message,
        deregistered: false,
    }
}

fn api_message(e: &ClientError) -> String {
    match e {
        ClientError::Api { body, .. } => body.error.clone(),
        other => other.to_string(),
    }
}

/// This CM's stable uid, made on first use.
async fn uid(state: &AppState) -> Result<String, ApiError> {
    if let Some(uid) = state.store.setting(keys::CM_UID).await? {
        return Ok(uid);
    }
    let uid = auth::new_secret("cm-")[..27].to_owned();
    state.store.set_setting(keys::CM_UID, &uid).await?;
    Ok(uid)
}

async fn register(state: &AppState, config: &Config) -> Result<String, Failure> {
    let fail = |e: ClientError| describe(&e, config);
    let base = config.address.base_url();
    let seen = aerie_client::Recorder::default();
    let fips = config.kdf.is_fips();
    let client = Client::with_options(&base, Trust::Record(seen.clone()), fips).map_err(fail)?;
    let challenge: Challenge = client
        .post("/api/v1/federation/challenge", &serde_json::json!({}))
        .await
        .map_err(fail)?;
    if challenge.kdf != config.kdf.id() {
        let mcm_fips = Kdf::parse(&challenge.kdf).is_some_and(Kdf::is_fips);
        return Err(Failure {
            message: format!("error: {}", fips_mismatch(mcm_fips)),
            deregistered: false,
        });
    }
    let mcm_fp = seen.lock().expect("recorder lock").ok_or_else(|| Failure {
        message: "error: the MCM presented no certificate".to_owned(),
        deregistered: false,
    })?;
    let uid = uid(state).await?;
    let cm_fp = state.identity.fingerprint.clone();
    let message = register_message(
        &challenge.nonce,
        &mcm_fp.to_string(),
        &config.username,
        &uid,
        &cm_fp,
    );
    let request = RegisterRequest {
        username: config.username.clone(),
        cm_uid: uid,
        cm_name: state.hostname().await?,
        cm_url: state.identity.public_url(),
        cm_fingerprint: cm_fp,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        kdf: config.kdf.id().to_owned(),
        nonce: challenge.nonce.clone(),
        proof: config.key.prove(&message),
    };
    let reply: RegisterResponse = client
        .post("/api/v1/federation/register", &request)
        .await
        .map_err(fail)?;
    let expected = registered_message(
        &challenge.nonce,
        &mcm_fp.to_string(),
        reply.cm_id,
        &reply.credential,
    );
    if !config.key.verify(&expected, &reply.mcm_proof) {
        return Err(Failure {
            message: "error: the MCM could not prove it holds the device key — wrong passphrase on the MCM, \
                      or a man in the middle"
                .to_owned(),
            deregistered: false,
        });
    }
    // Only now, talking to a proven MCM over the pinned certificate, hand over the token
    // it will present for live actions.
    let pinned = Client::with_options(&base, Trust::Pinned(mcm_fp), fips)
        .map_err(fail)?
        .with_token(&reply.credential);
    let token = auth::new_secret("px_");
    let _: serde_json::Value = pinned
        .post(
            "/api/v1/federation/proxy-token",
            &ProxyToken {
                token: token.clone(),
            },
        )
        .await
        .map_err(fail)?;
    let s = &state.store;
    s.set_setting(keys::MCM_FINGERPRINT, &mcm_fp.to_string())
        .await?;
    s.set_setting(keys::MCM_CREDENTIAL, &reply.credential)
        .await?;
    s.set_setting(keys::MCM_CM_ID, &reply.cm_id.to_string())
        .await?;
    s.set_setting(keys::MCM_CURSOR, "0").await?;
    s.set_setting(keys::MCM_PROXY_HASH, &auth::secret_hash(&token))
        .await?;
    forget_config(state);
    *state.federation.cm.persisted.lock().expect("cursor lock") = Some((0, Instant::now()));
    tracing::info!(mcm = %config.address, cm_id = reply.cm_id, "registered with the MCM");
    Ok(format!(
        "Registered with the MCM at {} as {} (CM id {}); incidents are syncing.",
        config.address, config.username, reply.cm_id
    ))
}

/// The pinned, authenticated client for the configured MCM.
fn client(state: &AppState, config: &Config) -> Result<Client, Failure> {
    let (Some(pin), Some(credential)) = (config.fingerprint, &config.credential) else {
        return Err(Failure {
            message: "error: not registered".into(),
            deregistered: false,
        });
    };
    let id = format!("{}|{pin}|{credential}", config.address.base_url());
    let mut cached = state.federation.cm.client.lock().expect("client lock");
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
fn to_request(changes: &[aerie_domain::incident::Incident]) -> SyncRequest {
    let mut request = SyncRequest::default();
    let mut bytes = 0;
    for i in changes {
        bytes += SyncedIncident::approx_bytes(i);
        if bytes > MAX_SYNC_BYTES && request.high_seq > 0 {
            break; // the rest follows in the next request
        }
        if i.risk() == Risk::Benign {
            request.removals.push(Removal {
                incident_id: i.id.0,
                version: i.version,
            });
        } else {
            request.upserts.push(SyncedIncident::of(i));
        }
        request.high_seq = request.high_seq.max(i.change_seq);
    }
    request
}

async fn send(client: &Client, request: &SyncRequest, config: &Config) -> Result<SyncAck, Failure> {
    client
        .post("/api/v1/federation/sync", request)
        .await
        .map_err(|e| describe(&e, config))
}

/// Pushes the next batch of the change stream; `Idle` when there is none.
async fn push(
    state: &AppState,
    config: &Config,
    last_contact: &mut Instant,
) -> Result<Step, Failure> {
    let client = client(state, config)?;
    let changes = state
        .store
        .changes_since(config.cursor, MAX_SYNC_ROWS as u32)
        .await?;
    let last = *state.store.watch_changes().borrow();
    if changes.is_empty() {
        if last_contact.elapsed() >= HEARTBEAT {
            send(
                &client,
                &SyncRequest {
                    backlog: 0,
                    ..Default::default()
                },
                config,
            )
            .await?;
            *last_contact = Instant::now();
            state.federation.cm.synced(Utc::now());
        }
        persist_cursor(state, config.cursor).await?;
        return Ok(Step::Idle);
    }
    let request = to_request(&changes);
    let request = SyncRequest {
        backlog: last - request.high_seq,
        ..request
    };
    let ack = send(&client, &request, config).await?;
    *last_contact = Instant::now();
    let cursor = ack.acked_seq.min(request.high_seq).max(config.cursor);
    remember_cursor(state, cursor);
    persist_cursor(state, cursor).await?;
    state.federation.cm.synced(Utc::now());
    let sent_all = request.upserts.len() + request.removals.len() == changes.len();
    Ok(if changes.len() == MAX_SYNC_ROWS || !sent_all {
        Step::Busy
    } else {
        Step::Idle
    })
}

/// Writes the acknowledged cursor to the store if it moved and the last write is older
/// than [`CURSOR_PERSIST_EVERY`].
async fn persist_cursor(state: &AppState, cursor: i64) -> Result<(), Failure> {
    let due = match *state.federation.cm.persisted.lock().expect("cursor lock") {
        Some((written, at)) => cursor > written && at.elapsed() >= CURSOR_PERSIST_EVERY,
        None => true,
    };
    if due {
        state
            .store
            .set_setting(keys::MCM_CURSOR, &cursor.to_string())
            .await?;
        *state.federation.cm.persisted.lock().expect("cursor lock") =
            Some((cursor, Instant::now()));
    }
    Ok(())
}

/// Resync batches in flight at once: the CM reads and encodes the next while the MCM
/// applies one (their order does not matter: each names other incidents).
const RESYNC_IN_FLIGHT: usize = 3;

type InFlight = tokio::task::JoinSet<Result<SyncAck, ClientError>>;

/// A resync batch being gathered.
#[derive(Default)]
struct Outgoing {
    upserts: Vec<aerie_domain::incident::Incident>,
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
}

/// Sends a batch in the background (encoding it there too), keeping at most
/// [`RESYNC_IN_FLIGHT`] batches outstanding.
async fn submit(
    inflight: &mut InFlight,
    client: &Client,
    batch: Outgoing,
    config: &Config,
) -> Result<(), Failure> {
    while inflight.len() >= RESYNC_IN_FLIGHT {
        join_one(inflight, config).await?;
    }
    let client = client.clone();
    inflight.spawn(async move {
        client
            .post("/api/v1/federation/sync", &batch.into_request())
            .await
    });
    Ok(())
}

async fn join_one(inflight: &mut InFlight, config: &Config) -> Result<(), Failure> {
    match inflight.join_next().await {
        None | Some(Ok(Ok(_))) => Ok(()),
        Some(Ok(Err(e))) => Err(describe(&e, config)),
        Some(Err(e)) => Err(Failure {
            message: format!("error: resync task failed: {e}"),
            deregistered: false,
        }),
    }
}

/// Makes the MCM's copy of this CM exact: walks this CM's incidents and the MCM's
/// manifest side by side by id, sends what differs, and drops what the MCM holds but
/// should not.
async fn resync_now(state: &AppState, config: &Config) -> Result<String, Failure> {
    let client = client(state, config)?;
    let start_seq = state.store.last_change_seq().await?;
    let (mut sent, mut removed, mut same) = (0u64, 0u64, 0u64);
    let mut manifest: std::collections::VecDeque<(i64, i64)> = Default::default();
    let mut manifest_next: Option<i64> = Some(0);
    let mut pending = Outgoing::default();
    let mut inflight = tokio::task::JoinSet::new();
    let read = |after: IncidentId| {
        let store = state.store.clone();
        tokio::spawn(async move { store.incidents_after(after, MAX_SYNC_ROWS as u32).await })
    };
    // The next page is read while this one is compared and sent.
    let mut next_page = Some(read(IncidentId(0)));
    while let Some(page) = next_page.take() {
        let mine = page.await.map_err(|e| Failure {
            message: format!("error: reading incidents failed: {e}"),
            deregistered: false,
        })??;
        if let Some(last) = mine.last() {
            next_page = Some(read(last.id));
        }
        let upper = mine.last().map(|i| i.id.0);
        // Fetch manifest entries up to this page's last id (all of them at the end).
        while let Some(from) = manifest_next {
            if upper.is_some_and(|u| manifest.back().is_some_and(|(id, _)| *id >= u)) {
                break;
            }
            let page: Manifest = client
                .get(&format!("/api/v1/federation/manifest?after={from}"))
                .await
                .map_err(|e| describe(&e, config))?;
            manifest.extend(page.items);
            manifest_next = page.next;
        }
        for incident in &mine {
            while manifest.front().is_some_and(|(id, _)| *id < incident.id.0) {
                let (id, version) = manifest.pop_front().expect("checked");
                pending.removals.push(Removal {
                    incident_id: id,
                    version,
                });
                removed += 1;
            }
            let held = match manifest.front() {
                Some((id, version)) if *id == incident.id.0 => {
                    let v = *version;
                    manifest.pop_front();
                    Some(v)
                }
                _ => None,
            };
            let benign = incident.risk() == Risk::Benign;
            match (benign, held) {
                (true, Some(version)) => {
                    pending.removals.push(Removal {
                        incident_id: incident.id.0,
                        version: version.max(incident.version),
                    });
                    removed += 1;
                }
                (true, None) => {}
                (false, Some(version)) if version == incident.version => same += 1,
                (false, _) => {
                    pending.bytes += SyncedIncident::approx_bytes(incident);
                    pending.upserts.push(incident.clone());
                    sent += 1;
                }
            }
            if pending.upserts.len() + pending.removals.len() >= MAX_SYNC_ROWS
                || pending.bytes >= MAX_SYNC_BYTES
            {
                submit(&mut inflight, &client, std::mem::take(&mut pending), config).await?;
            }
        }
    }
    // What the MCM holds beyond this CM's last incident is gone from the CM.
    for (id, version) in manifest.drain(..) {
        pending.removals.push(Removal {
            incident_id: id,
            version,
        });
        removed += 1;
        if pending.removals.len() >= MAX_SYNC_ROWS {
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
    send(&client, &last, config).await?;
    let cursor = start_seq.max(config.cursor);
    state
        .store
        .set_setting(keys::MCM_CURSOR, &cursor.to_string())
        .await?;
    *state.federation.cm.persisted.lock().expect("cursor lock") = Some((cursor, Instant::now()));
    remember_cursor(state, cursor);
    state.federation.cm.synced(Utc::now());
    tracing::info!(sent, removed, same, "resync complete");
    Ok(format!(
        "Resync complete: {sent} incidents sent, {removed} removed from the MCM, {same} already up to date."
    ))
}

/// One round of the worker.
async fn step(state: &AppState, last_contact: &mut Instant) -> Result<Step, Failure> {
    let side = &state.federation.cm;
    let config = match load(state).await? {
        Some(config) if state.role().await? == ApplianceRole::Cm => config,
        _ => {
            for request in side.take_requests() {
                let (Request::Registration(tx) | Request::Resync(tx)) = request;
                let _ = tx.send(Err("no MCM is configured".to_owned()));
            }
            return Ok(Step::Off);
        }
    };
    if config.deregistered {
        for request in side.take_requests() {
            let (Request::Registration(tx) | Request::Resync(tx)) = request;
            let _ = tx.send(Err(deregistered_message()));
        }
        return Ok(Step::Off);
    }
    let mut registrations = Vec::new();
    let mut resyncs = Vec::new();
    for request in side.take_requests() {
        match request {
            Request::Registration(tx) => registrations.push(tx),
            Request::Resync(tx) => resyncs.push(tx),
        }
    }
    if config.credential.is_none() {
        // Resync requests wait for the next round; registration comes first.
        side.requests
            .lock()
            .expect("request lock")
            .extend(resyncs.into_iter().map(Request::Resync));
        side.set_state("registering");
        let outcome = register(state, &config).await;
        let answer = outcome
            .as_ref()
            .map(Clone::clone)
            .map_err(|f| f.message.clone());
        for tx in registrations {
            let _ = tx.send(answer.clone());
        }
        outcome?;
        side.set_state("connected");
        *last_contact = Instant::now();
        return Ok(Step::Busy);
    }
    for tx in registrations {
        let _ = tx.send(Ok("Already registered; incidents are syncing.".to_owned()));
    }
    if !resyncs.is_empty() {
        let outcome = resync_now(state, &config).await;
        let answer = outcome
            .as_ref()
            .map(Clone::clone)
            .map_err(|f| f.message.clone());
        for tx in resyncs {
            let _ = tx.send(answer.clone());
        }
        outcome?;
        return Ok(Step::Busy);
    }
    push(state, &config, last_contact).await
}

/// The worker: runs until `shutdown`.
pub async fn run(state: AppState, shutdown: CancellationToken) {
    let side = &state.federation.cm;
    let mut changes = state.store.watch_changes();
    let mut failures = 0u32;
    let mut last_contact = Instant::now() - HEARTBEAT;
    loop {
        changes.borrow_and_update();
        let outcome = tokio::select! {
            _ = shutdown.cancelled() => return,
            outcome = step(&state, &mut last_contact) => outcome,
        };
        let wait = match outcome {
            Ok(Step::Busy) => {
                failures = 0;
                continue;
            }
            Ok(Step::Idle) => {
                failures = 0;
                Some(HEARTBEAT.saturating_sub(last_contact.elapsed()))
            }
            Ok(Step::Off) => None,
            Err(failure) => {
                if failure.deregistered {
                    let _ = state.store.set_setting(keys::MCM_DEREGISTERED, "1").await;
                    forget_config(&state);
                }
                side.set_state(failure.message);
                failures += 1;
                if failure.deregistered {
                    None
                } else {
                    Some(backoff(failures))
                }
            }
        };
        let sleep = async {
            match wait {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        let woken_by_changes = failures == 0 && wait.is_some();
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = side.wake.notified() => {}
            _ = sleep => {}
            _ = changes.changed(), if woken_by_changes => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use aerie_domain::{
        event::NewEvent,
        incident::{Incident, IncidentFacts},
        status::Status,
        text::Text,
    };

    use super::*;

    fn incident(id: i64, severity: f64, source_len: usize) -> Incident {
        let ip = format!("10.0.0.{}", id % 250 + 1).parse().unwrap();
        let mut facts = IncidentFacts::open(&NewEvent::sample(ip, Utc::now(), severity));
        facts.source_name = Some(Text::parse("s", &"x".repeat(source_len), Text::LONG).unwrap());
        Incident {
            id: IncidentId(id),
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
