//! One destination's forwarder: it reads the store's feeds from its own durable cursors
//! (the incidents of this CM or, on an MCM, of every CM; and the audit log), sends what
//! is new as CEF over syslog, and moves each cursor only after the receiver has the
//! messages. A receiver that is down holds its cursors back and gets everything once it
//! is back; ingest and sync never wait for it (the forwarder only reads the store).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use rustls::pki_types::CertificateDer;
use tokio_util::sync::CancellationToken;

use aerie_domain::ids::CmId;
use aerie_store::{FeedPosition, Store};

use crate::{
    cef,
    syslog::{self, Format},
    transport::{Connection, Destination, SendError},
};

/// Rows read (and messages sent) per stream and step: the in-memory queue's bound.
pub const PAGE: u32 = 500;
/// The longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How often the feeds are looked at without a wake-up (the audit log rings no bell).
const POLL: Duration = Duration::from_millis(500);

/// Whose incidents the feed carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// A CM: its own incidents, under its host name.
    Cm,
    /// The MCM: every CM's incidents, each under its CM's name.
    Mcm,
}

/// How a destination's feed stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    Connecting,
    Connected,
    /// The last attempt failed; the forwarder retries.
    Failing(String),
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            State::Connecting => f.write_str("connecting"),
            State::Connected => f.write_str("connected"),
            State::Failing(why) => write!(f, "failing: {why}"),
        }
    }
}

/// A destination's counters, shared with the settings page, `show syslog` and /metrics.
#[derive(Clone, Debug)]
pub struct Status {
    pub state: State,
    /// Messages handed to the receiver since this process started.
    pub sent: u64,
    /// Failed connections and sends since this process started.
    pub errors: u64,
    pub last_sent: Option<DateTime<Utc>>,
    /// When the feed last had nothing left to send (the lag is the time since, while
    /// something is left).
    pub caught_up: Instant,
}

impl Default for Status {
    fn default() -> Self {
        Status {
            state: State::Connecting,
            sent: 0,
            errors: 0,
            last_sent: None,
            caught_up: Instant::now(),
        }
    }
}

/// The cursor names of destination `address`'s streams.
pub fn cursor_names(address: &str) -> [String; 3] {
    [
        format!("siem/{address}/incidents"),
        format!("siem/{address}/mcm-incidents"),
        format!("siem/{address}/audit"),
    ]
}

/// Where a forwarder stands in its two streams. Read from the store once; only the
/// forwarder moves them, so it keeps them here and writes each move through.
struct Cursors {
    incidents_name: String,
    incidents: FeedPosition,
    audit_name: String,
    audit: FeedPosition,
}

/// What a forwarder needs.
pub struct Forwarder {
    pub destination: Destination,
    pub role: Role,
    /// The syslog HOSTNAME and, on a CM, the CEF CM Name.
    pub host: String,
    pub store: Arc<dyn Store>,
    /// CAs a TLS receiver without a pin must chain to.
    pub trusted: Vec<CertificateDer<'static>>,
    pub fips: bool,
    pub status: Arc<Mutex<Status>>,
}

/// Why a step stopped.
enum StepError {
    Send(SendError),
    Store(aerie_store::StoreError),
}

impl From<aerie_store::StoreError> for StepError {
    fn from(e: aerie_store::StoreError) -> Self {
        StepError::Store(e)
    }
}

impl Forwarder {
    fn update(&self, f: impl FnOnce(&mut Status)) {
        f(&mut self.status.lock().expect("status lock"));
    }

    /// Runs until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let address = self.destination.address();
        let mut local = self.store.watch_changes();
        let mut remote = self.store.watch_remote();
        let mut cursors = loop {
            match self.cursors(&address).await {
                Ok(c) => break c,
                Err(e) => {
                    tracing::warn!(destination = %address, "SIEM feed: reading its cursors: {e}");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        };
        let mut conn: Option<Connection> = None;
        let mut names = HashMap::new();
        let mut backoff = Duration::from_millis(200);
        while !shutdown.is_cancelled() {
            if conn.as_ref().is_some_and(Connection::is_closed) {
                tracing::info!(destination = %address, "the SIEM receiver closed the connection");
                conn = None;
            }
            let Some(c) = conn.as_mut() else {
                match Connection::open(&self.destination, &self.trusted, self.fips).await {
                    Ok(c) => {
                        self.update(|s| s.state = State::Connected);
                        backoff = Duration::from_millis(200);
                        conn = Some(c);
                    }
                    Err(e) => {
                        self.update(|s| {
                            s.state = State::Failing(e.to_string());
                            s.errors += 1;
                        });
                        tokio::select! {
                            _ = shutdown.cancelled() => return,
                            _ = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
                continue;
            };
            match self.step(c, &mut cursors, &mut names).await {
                Ok(0) => {
                    self.update(|s| s.caught_up = Instant::now());
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = local.changed() => {}
                        _ = remote.changed() => {}
                        _ = tokio::time::sleep(POLL) => {}
                    }
                }
                Ok(_) => {}
                Err(StepError::Send(e)) => {
                    tracing::warn!(destination = %address, "SIEM feed: {e}");
                    self.update(|s| {
                        s.state = State::Failing(e.to_string());
                        s.errors += 1;
                    });
                    conn = None;
                }
                Err(StepError::Store(e)) => {
                    tracing::warn!(destination = %address, "SIEM feed: reading the store: {e}");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
    }

    /// This destination's cursors for this role, as the store has them.
    async fn cursors(&self, address: &str) -> aerie_store::Result<Cursors> {
        let [local, mcm, audit] = cursor_names(address);
        let incidents_name = match self.role {
            Role::Cm => local,
            Role::Mcm => mcm,
        };
        Ok(Cursors {
            incidents: self
                .store
                .cursor(&incidents_name)
                .await?
                .unwrap_or_default(),
            incidents_name,
            audit: self.store.cursor(&audit).await?.unwrap_or_default(),
            audit_name: audit,
        })
    }

    /// Sends one page of each stream; returns how many messages went.
    async fn step(
        &self,
        conn: &mut Connection,
        at: &mut Cursors,
        names: &mut HashMap<CmId, String>,
    ) -> Result<usize, StepError> {
        let max = conn.max_message();
        let format = self.destination.format;
        let mut sent = 0;

        let (messages, last) = match self.role {
            Role::Cm => {
                let page = self.store.changes_since(at.incidents.seq, PAGE).await?;
                let last = page.last().map(|i| FeedPosition::at(i.change_seq));
                let messages = page
                    .iter()
                    .map(|i| self.incident_message(format, i, &self.host, max))
                    .collect::<Vec<_>>();
                (messages, last)
            }
            Role::Mcm => {
                let page = self.store.remote_changes(at.incidents, PAGE).await?;
                let mut messages = Vec::with_capacity(page.len());
                for (_, r) in &page {
                    if !names.contains_key(&r.cm_id) {
                        for cm in self.store.cms().await? {
                            names.insert(cm.id, cm.name.to_string());
                        }
                    }
                    let cm = names.get(&r.cm_id).map_or("unknown CM", String::as_str);
                    messages.push(self.incident_message(format, &r.incident, cm, max));
                }
                (messages, page.last().map(|(at, _)| *at))
            }
        };
        if let Some(last) = last {
            self.deliver(conn, &messages).await?;
            self.store.set_cursor(&at.incidents_name, last).await?;
            at.incidents = last;
            sent += messages.len();
        }

        let page = self.store.audit_entries(at.audit.seq, PAGE).await?;
        if let Some(last) = page.last() {
            let messages: Vec<String> = page
                .iter()
                .map(|e| {
                    let cef = cef::audit(e, &self.host);
                    self.message(format, &cef, "audit", max)
                })
                .collect();
            self.deliver(conn, &messages).await?;
            let last = FeedPosition::at(last.seq);
            self.store.set_cursor(&at.audit_name, last).await?;
            at.audit = last;
            sent += messages.len();
        }
        Ok(sent)
    }

    async fn deliver(&self, conn: &mut Connection, messages: &[String]) -> Result<(), StepError> {
        conn.send(messages).await.map_err(StepError::Send)?;
        let now = Utc::now();
        self.update(|s| {
            s.sent += messages.len() as u64;
            s.last_sent = Some(now);
        });
        Ok(())
    }

    fn incident_message(
        &self,
        format: Format,
        i: &aerie_domain::incident::Incident,
        cm_name: &str,
        max: usize,
    ) -> String {
        self.message(format, &cef::incident(i, cm_name), "incident", max)
    }

    /// The syslog message of `cef`, in at most `max` bytes where it can be (the header
    /// is measured only when there is a limit: UDP).
    fn message(&self, format: Format, cef: &cef::Cef, msgid: &str, max: usize) -> String {
        let at = Utc::now();
        let body = if max == usize::MAX {
            cef.render()
        } else {
            let head = syslog::message(format, cef.severity, at, &self.host, msgid, "").len();
            cef.render_within(max.saturating_sub(head))
        };
        syslog::message(format, cef.severity, at, &self.host, msgid, &body)
    }

    /// How many incidents and audit entries destination `address` has still to get.
    pub async fn behind(store: &dyn Store, role: &Role, address: &str) -> aerie_store::Result<i64> {
        let [local, mcm, audit] = cursor_names(address);
        let incidents = match role {
            Role::Cm => {
                let at = store.cursor(&local).await?.unwrap_or_default();
                store.pending_changes(at.seq).await?
            }
            Role::Mcm => {
                let at = store.cursor(&mcm).await?.unwrap_or_default();
                store.remote_behind(at).await?
            }
        };
        let at = store.cursor(&audit).await?.unwrap_or_default();
        Ok(incidents + store.audit_behind(at.seq).await?)
    }
}
