//! The SIEM feed (System Settings › Syslog, `set syslog …`): the destinations kept in the
//! store's settings, one [`aerie_siem::Forwarder`] per destination, and what each one's
//! state is. A supervisor restarts the forwarders whenever what they depend on changes
//! (the destinations, the role, the host name, FIPS mode, the trust store); their
//! cursors are in the store, so a restart loses and repeats nothing.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use aerie_siem::{Destination, Format, Forwarder, Protocol, Role, Status, transport};

use crate::{audit, error::OpError, rights::Operator, state::AppState};

/// The destinations, as JSON, in the store's settings.
const SETTING: &str = "syslog.destinations";
/// Most destinations one appliance feeds.
pub const MAX_DESTINATIONS: usize = 8;
/// How often the supervisor looks for a changed role, host name or trust store.
const CHECK: Duration = Duration::from_secs(5);

/// The running forwarders, in [`AppState`].
#[derive(Default)]
pub struct Siem {
    running: tokio::sync::Mutex<Running>,
    /// Rung by a change of the destinations, for the supervisor to apply it at once.
    kick: tokio::sync::Notify,
    /// Each destination's status, by address.
    statuses: Mutex<HashMap<String, Arc<Mutex<Status>>>>,
}

#[derive(Default)]
struct Running {
    applied: Option<Wanted>,
    feeds: Vec<(CancellationToken, tokio::task::JoinHandle<()>)>,
}

/// Everything the forwarders are started from.
#[derive(Clone, PartialEq)]
struct Wanted {
    destinations: Vec<Destination>,
    role: Role,
    host: String,
    fips: bool,
    trusted: Vec<Vec<u8>>,
}

/// A destination and how its feed stands.
#[derive(Clone, Debug)]
pub struct DestinationView {
    pub destination: Destination,
    pub state: String,
    pub sent: u64,
    pub errors: u64,
    pub last_sent: Option<DateTime<Utc>>,
    /// Incident changes and audit entries not yet sent.
    pub behind: i64,
    /// Seconds since the feed last had nothing left to send (0 when it has nothing).
    pub lag_secs: u64,
}

/// The configured destinations.
pub async fn destinations(state: &AppState) -> Result<Vec<Destination>, OpError> {
    match state.store.setting(SETTING).await? {
        Some(json) => serde_json::from_str(&json).map_err(OpError::internal),
        None => Ok(Vec::new()),
    }
}

async fn save(state: &AppState, all: &[Destination]) -> Result<(), OpError> {
    let json = serde_json::to_string(all).map_err(OpError::internal)?;
    state.store.set_setting(SETTING, &json).await?;
    state.siem.kick.notify_one();
    Ok(())
}

/// Whose incidents this appliance's feed carries.
async fn role(state: &AppState) -> Result<Role, OpError> {
    Ok(if state.appliance.is_mcm().await? {
        Role::Mcm
    } else {
        Role::Cm
    })
}

async fn wanted(state: &AppState) -> Result<Wanted, OpError> {
    Ok(Wanted {
        destinations: destinations(state).await?,
        role: role(state).await?,
        host: state.appliance.hostname().await?,
        fips: state.appliance.fips().await?,
        trusted: crate::ops::certificates::trust_store(state)
            .await?
            .iter()
            .map(|c| c.to_vec())
            .collect(),
    })
}

/// Keeps one forwarder running per destination until `shutdown`.
pub async fn supervise(state: AppState, shutdown: CancellationToken) {
    loop {
        if let Err(e) = apply(&state, &shutdown).await {
            tracing::warn!("SIEM feed: {e}");
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = state.siem.kick.notified() => {}
            _ = tokio::time::sleep(CHECK) => {}
        }
    }
    stop_all(&mut *state.siem.running.lock().await).await;
}

async fn stop_all(running: &mut Running) {
    for (stop, _) in &running.feeds {
        stop.cancel();
    }
    // A forwarder finishes the page it is sending before it stops: its successor must
    // not read the same cursor meanwhile.
    for (_, task) in running.feeds.drain(..) {
        let _ = task.await;
    }
}

async fn apply(state: &AppState, shutdown: &CancellationToken) -> Result<(), OpError> {
    let wanted = wanted(state).await?;
    let mut running = state.siem.running.lock().await;
    if running.applied.as_ref() == Some(&wanted) {
        return Ok(());
    }
    stop_all(&mut running).await;
    // A removed destination's cursors go once its forwarder has stopped: added again, it
    // starts afresh.
    let gone: Vec<String> = running
        .applied
        .as_ref()
        .map(|a| {
            a.destinations
                .iter()
                .map(Destination::address)
                .filter(|addr| !wanted.destinations.iter().any(|d| d.address() == *addr))
                .collect()
        })
        .unwrap_or_default();
    for address in gone {
        for name in aerie_siem::forwarder::cursor_names(&address) {
            state.store.drop_cursor(&name).await?;
        }
    }
    let mut statuses = HashMap::new();
    for d in &wanted.destinations {
        let status = Arc::new(Mutex::new(Status::default()));
        statuses.insert(d.address(), status.clone());
        let stop = shutdown.child_token();
        let forwarder = Forwarder {
            destination: d.clone(),
            role: wanted.role.clone(),
            host: wanted.host.clone(),
            store: state.store.clone(),
            trusted: wanted
                .trusted
                .iter()
                .map(|c| rustls::pki_types::CertificateDer::from(c.clone()))
                .collect(),
            fips: wanted.fips,
            status,
        };
        let task = tokio::spawn(forwarder.run(stop.clone()));
        running.feeds.push((stop, task));
    }
    *state.siem.statuses.lock().expect("statuses lock") = statuses;
    tracing::info!(
        destinations = wanted.destinations.len(),
        "SIEM feed started"
    );
    running.applied = Some(wanted);
    Ok(())
}

/// Every destination with its feed's state.
pub async fn view(state: &AppState) -> Result<Vec<DestinationView>, OpError> {
    let role = role(state).await?;
    let mut out = Vec::new();
    for d in destinations(state).await? {
        let address = d.address();
        let status = state
            .siem
            .statuses
            .lock()
            .expect("statuses lock")
            .get(&address)
            .map(|s| s.lock().expect("status lock").clone())
            .unwrap_or_default();
        let behind = Forwarder::behind(state.store.as_ref(), &role, &address).await?;
        out.push(DestinationView {
            state: status.state.to_string(),
            sent: status.sent,
            errors: status.errors,
            last_sent: status.last_sent,
            behind,
            lag_secs: if behind > 0 {
                status.caught_up.elapsed().as_secs()
            } else {
                0
            },
            destination: d,
        });
    }
    Ok(out)
}

/// Adds destination `address` or changes it (its cursors kept).
pub async fn set_server(
    state: &AppState,
    by: Operator<'_>,
    address: &str,
    protocol: &str,
    format: Option<&str>,
    pin: Option<&str>,
) -> Result<String, OpError> {
    let (host, port) =
        transport::parse_address(address.trim()).map_err(|e| OpError::invalid("server", e))?;
    let protocol: Protocol = protocol
        .trim()
        .parse()
        .map_err(|e: String| OpError::invalid("protocol", e))?;
    let format: Format = match format.map(str::trim).filter(|f| !f.is_empty()) {
        Some(f) => f
            .parse()
            .map_err(|e: String| OpError::invalid("format", e))?,
        None => Format::default(),
    };
    let pin = match pin.map(str::trim).filter(|p| !p.is_empty()) {
        Some(_) if protocol != Protocol::Tls => {
            return Err(OpError::invalid(
                "pin",
                "a certificate pin applies to TLS only; leave it empty for tcp and udp",
            ));
        }
        Some(p) => Some(transport::parse_pin(p).map_err(|e| OpError::invalid("pin", e))?),
        None => None,
    };
    if protocol == Protocol::Tls
        && pin.is_none()
        && crate::ops::certificates::trust_store(state)
            .await?
            .is_empty()
    {
        return Err(OpError::invalid(
            "pin",
            "TLS needs the receiver's certificate pinned (its SHA-256 fingerprint) or its CA \
             added to the trust store in Config › Certificate Management",
        ));
    }
    let d = Destination {
        host,
        port,
        protocol,
        format,
        pin,
    };
    let mut all = destinations(state).await?;
    let count = all.len();
    let said = match all.iter_mut().find(|x| x.address() == d.address()) {
        Some(existing) if *existing == d => return Ok("Nothing changed.".into()),
        Some(existing) => {
            *existing = d.clone();
            "Changed"
        }
        None if count >= MAX_DESTINATIONS => {
            return Err(OpError::invalid(
                "server",
                format!(
                    "at most {MAX_DESTINATIONS} syslog servers; remove one first (`set syslog remove HOST:PORT`)"
                ),
            ));
        }
        None => {
            all.push(d.clone());
            "Added"
        }
    };
    save(state, &all).await?;
    let detail = format!(
        "{} {} {}{}",
        d.address(),
        d.protocol.as_str(),
        d.format.as_str(),
        if d.pin.is_some() { " pinned" } else { "" }
    );
    audit::record(state, by.name(), "syslog.server", &d.address(), &detail).await?;
    Ok(format!("{said} syslog server {detail}."))
}

/// Removes destination `address`; a later one at the same address starts afresh.
pub async fn remove_server(
    state: &AppState,
    by: Operator<'_>,
    address: &str,
) -> Result<String, OpError> {
    let mut all = destinations(state).await?;
    let before = all.len();
    all.retain(|d| d.address() != address.trim());
    if all.len() == before {
        return Err(OpError::invalid(
            "server",
            format!("{address:?} is not a syslog server here; `show syslog` lists them"),
        ));
    }
    // Its forwarder stops and its cursors go when the supervisor applies this.
    save(state, &all).await?;
    audit::record(state, by.name(), "syslog.remove", address.trim(), "").await?;
    Ok(format!("Removed syslog server {}.", address.trim()))
}

/// Sends one test message to destination `address` on a connection of its own.
pub async fn send_test(
    state: &AppState,
    by: Operator<'_>,
    address: &str,
) -> Result<String, OpError> {
    let w = wanted(state).await?;
    let d = w
        .destinations
        .iter()
        .find(|d| d.address() == address.trim())
        .ok_or_else(|| {
            OpError::invalid(
                "server",
                format!("{address:?} is not a syslog server here; add it first"),
            )
        })?;
    let trusted: Vec<_> = w
        .trusted
        .iter()
        .map(|c| rustls::pki_types::CertificateDer::from(c.clone()))
        .collect();
    let cef = aerie_siem::cef::Cef::new("test", "Aerie test message", 0).ext(
        "msg",
        format!("sent by {} from Config › System Settings", by.name()),
    );
    let message =
        aerie_siem::syslog::message(d.format, 0, Utc::now(), &w.host, "test", &cef.render());
    let outcome = async {
        let mut c = transport::Connection::open(d, &trusted, w.fips).await?;
        c.send(&[message]).await
    }
    .await;
    audit::record(
        state,
        by.name(),
        "syslog.test",
        &d.address(),
        if outcome.is_ok() { "sent" } else { "failed" },
    )
    .await?;
    match outcome {
        Ok(()) => Ok(format!("Sent a test message to {}.", d.address())),
        Err(e) => Err(OpError::unavailable(e.to_string())),
    }
}

/// The feed's Prometheus lines.
pub async fn metrics(state: &AppState) -> Result<String, OpError> {
    let views = view(state).await?;
    let mut text = String::from(
        "# HELP aerie_syslog_connected Whether the destination's connection is up.\n# TYPE aerie_syslog_connected gauge\n\
         # HELP aerie_syslog_queue_depth Incident changes and audit entries not yet sent.\n# TYPE aerie_syslog_queue_depth gauge\n\
         # HELP aerie_syslog_lag_seconds Seconds since the destination last had nothing left to send.\n# TYPE aerie_syslog_lag_seconds gauge\n\
         # HELP aerie_syslog_sent_total Messages sent since the daemon started.\n# TYPE aerie_syslog_sent_total counter\n\
         # HELP aerie_syslog_errors_total Failed connections and sends since the daemon started.\n# TYPE aerie_syslog_errors_total counter\n",
    );
    for v in views {
        let l = format!("destination=\"{}\"", v.destination.address());
        text.push_str(&format!(
            "aerie_syslog_connected{{{l}}} {}\naerie_syslog_queue_depth{{{l}}} {}\n\
             aerie_syslog_lag_seconds{{{l}}} {}\naerie_syslog_sent_total{{{l}}} {}\n\
             aerie_syslog_errors_total{{{l}}} {}\n",
            u8::from(v.state == "connected"),
            v.behind,
            v.lag_secs,
            v.sent,
            v.errors
        ));
    }
    Ok(text)
}
