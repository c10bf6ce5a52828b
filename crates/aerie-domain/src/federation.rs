//! Federation in domain words: the CMs an MCM knows, what a sync batch carries, and the
//! MCM's copy of a CM's incident.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::net::{CertFingerprint, HostName};

use crate::incident::{Incident, IncidentId};

/// A CM as its MCM knows it. CMs are never deleted; the MCM's `set mcm remove`
/// deregisters them.
#[derive(Clone, Debug, PartialEq)]
pub struct Cm {
    pub id: crate::ids::CmId,
    /// The CM's own stable identifier, kept across re-registrations.
    pub uid: String,
    /// The CM's host name.
    pub name: HostName,
    /// Where the MCM reaches the CM's API for live actions.
    pub url: String,
    /// The address the CM registered from (or the one its URL names).
    pub ip: IpAddr,
    pub version: String,
    pub fips: bool,
    /// The CM's certificate, pinned for live actions.
    pub cert_fingerprint: CertFingerprint,
    /// The token the MCM presents to the CM for live actions.
    pub proxy_token: Option<String>,
    pub registered: DateTime<Utc>,
    pub last_seen: Option<DateTime<Utc>>,
    pub last_sync: Option<DateTime<Utc>>,
    /// The CM's resync epoch this copy is in.
    pub epoch: i64,
    /// The CM's highest change sequence number applied here, in `epoch`.
    pub acked_seq: i64,
    /// Changes the CM reported as not yet sent.
    pub backlog: i64,
    pub incident_count: i64,
    pub deregistered: Option<DateTime<Utc>>,
}

crate::string_enum! {
    /// How a CM stands, as the Secondary CMs list shows it.
    pub enum CmState {
        Online = "online",
        Offline = "offline",
        Deregistered = "deregistered",
    }
}

/// A CM sends at least a heartbeat every 10 s; silent for longer than this, its copy on
/// the MCM may be behind.
pub const SILENT_AFTER: chrono::TimeDelta = chrono::TimeDelta::seconds(15);

/// A CM that has not been heard from for this long is offline.
pub const OFFLINE_AFTER: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

impl Cm {
    pub fn state(&self, now: DateTime<Utc>) -> CmState {
        match (self.deregistered, self.last_seen) {
            (Some(_), _) => CmState::Deregistered,
            (None, Some(seen)) if now - seen <= OFFLINE_AFTER => CmState::Online,
            _ => CmState::Offline,
        }
    }

    /// How far behind the MCM's copy may be, in seconds: since the last applied batch while
    /// the CM reports a backlog, and since the last contact while the CM is silent (it may
    /// hold changes the MCM does not know of); 0 when it is caught up and heard from.
    pub fn sync_lag_seconds(&self, now: DateTime<Utc>) -> i64 {
        let since = |t: Option<DateTime<Utc>>| t.map_or(0, |t| (now - t).num_seconds().max(0));
        let silent = self.last_seen.is_some_and(|seen| now - seen > SILENT_AFTER);
        if silent {
            since(self.last_seen)
        } else if self.backlog > 0 {
            since(self.last_sync)
        } else {
            0
        }
    }

    /// Whether the backlog is the last one the CM reported before it fell silent.
    pub fn backlog_is_stale(&self, now: DateTime<Utc>) -> bool {
        self.last_seen.is_some_and(|seen| now - seen > SILENT_AFTER)
    }
}

/// What a CM tells the MCM at registration (the credential already hashed).
#[derive(Clone, Debug, PartialEq)]
pub struct CmRegistration {
    pub uid: String,
    pub name: HostName,
    pub url: String,
    pub ip: IpAddr,
    pub version: String,
    pub fips: bool,
    pub cert_fingerprint: CertFingerprint,
    pub credential_hash: String,
}

/// One batch of a CM's change stream, in change order.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SyncBatch {
    /// Non-benign incidents at their latest version.
    pub upserts: Vec<Incident>,
    /// Incidents the MCM must drop (benign now, or gone), with the version that says so.
    pub removals: Vec<(IncidentId, i64)>,
    /// The highest change sequence number this batch covers; the MCM acknowledges it.
    pub high_seq: i64,
    /// Changes the CM still holds after this batch.
    pub backlog: i64,
    /// The CM's host name when it sent the batch, if it said.
    pub cm_name: Option<HostName>,
    /// Whether the CM was in FIPS mode when it sent the batch, if it said.
    pub fips: Option<bool>,
    /// The SHA-256 fingerprint (`AA:BB:…`) of the certificate the CM serves, if it said.
    pub cm_fingerprint: Option<CertFingerprint>,
    /// The CM's resync epoch: versions compare only within one epoch, and a resync starts
    /// a new one that replaces whatever the MCM held.
    pub epoch: i64,
    /// The acknowledged sequence number the CM sent this batch after (its cursor); the
    /// MCM refuses a batch that starts beyond what it acknowledged (it lost changes).
    pub after_seq: Option<i64>,
    /// Which part of a resync this batch is, if it is one.
    pub resync: Option<ResyncStep>,
}

crate::string_enum! {
    /// The parts of a resync: its first request opens the epoch, its last drops every row
    /// of the CM that the resync did not send.
    pub enum ResyncStep {
        Start = "start",
        Part = "part",
        End = "end",
    }
}

/// What the MCM does with a batch, given its copy of the CM.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Admission {
    /// Apply it to the current epoch.
    Apply,
    /// Open the batch's (newer) epoch, then apply it.
    Adopt,
    /// Apply nothing: the CM must resync (its epoch is older than the MCM's, or the MCM's
    /// copy is older than the CM's cursor).
    Refuse,
}

impl SyncBatch {
    /// Whether the MCM's copy of the CM, at `epoch` with `acked_seq`, can take this batch.
    pub fn admission(&self, epoch: i64, acked_seq: i64) -> Admission {
        use std::cmp::Ordering::*;
        match (self.epoch.cmp(&epoch), self.resync) {
            (Greater, Some(ResyncStep::Start)) => Admission::Adopt,
            (Equal, Some(_)) => Admission::Apply,
            (Equal, None) if self.after_seq.is_none_or(|after| after <= acked_seq) => {
                Admission::Apply
            }
            _ => Admission::Refuse,
        }
    }
}

/// What applying a batch came to, as the MCM answers it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SyncOutcome {
    /// The highest change sequence number of this CM applied on the MCM, in `epoch`.
    pub acked_seq: i64,
    /// The MCM's resync epoch of this CM after the batch.
    pub epoch: i64,
    /// False when nothing was applied ([`Admission::Refuse`]): the CM must resync.
    pub applied: bool,
    /// Rows dropped by the end of a resync.
    pub swept: u64,
}

/// The MCM's copy of a CM's incident.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteIncident {
    /// The MCM's own row number (keyset paging).
    pub row_id: i64,
    pub cm_id: crate::ids::CmId,
    pub incident: Incident,
}

/// A page of the MCM's incident table.
#[derive(Clone, Debug, PartialEq)]
pub struct RemotePage {
    pub items: Vec<RemoteIncident>,
    pub next: Option<crate::query::Cursor>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A registered CM last heard from at `now`, caught up.
    fn cm_seen_at(now: DateTime<Utc>) -> Cm {
        Cm {
            id: crate::ids::CmId::new(1),
            uid: "u".into(),
            name: HostName::parse("name", "cm").unwrap(),
            url: "https://x".into(),
            ip: "10.0.0.1".parse().unwrap(),
            version: "0.1.0".into(),
            fips: false,
            cert_fingerprint: CertFingerprint::parse("f", &["AB"; 32].join(":")).unwrap(),
            proxy_token: None,
            registered: now,
            last_seen: Some(now),
            last_sync: None,
            epoch: 0,
            acked_seq: 0,
            backlog: 0,
            incident_count: 0,
            deregistered: None,
        }
    }

    #[test]
    fn lag_grows_while_a_cm_is_silent() {
        let now = Utc::now();
        let ago = |s| now - chrono::TimeDelta::seconds(s);
        let mut cm = Cm {
            registered: ago(100),
            last_seen: Some(ago(2)),
            last_sync: Some(ago(2)),
            ..cm_seen_at(now)
        };
        assert_eq!(cm.sync_lag_seconds(now), 0, "caught up and heard from");
        cm.backlog = 5;
        cm.last_sync = Some(ago(8));
        assert_eq!(cm.sync_lag_seconds(now), 8, "behind: since the last batch");
        assert!(!cm.backlog_is_stale(now));
        cm.backlog = 0;
        cm.last_seen = Some(ago(40));
        cm.last_sync = Some(ago(40));
        assert_eq!(
            cm.sync_lag_seconds(now),
            40,
            "silent: since the last contact"
        );
        assert!(cm.backlog_is_stale(now));
    }

    #[test]
    fn batches_apply_within_an_epoch_and_a_resync_opens_the_next() {
        let batch = |epoch, after_seq, resync| SyncBatch {
            epoch,
            after_seq,
            resync,
            ..SyncBatch::default()
        };
        use Admission::*;
        use ResyncStep::*;
        // The stream: in the MCM's epoch, starting at or before what it acknowledged.
        assert_eq!(batch(2, Some(40), None).admission(2, 40), Apply);
        assert_eq!(batch(2, Some(10), None).admission(2, 40), Apply, "re-sent");
        assert_eq!(batch(2, None, None).admission(2, 40), Apply);
        // The MCM lost what it acknowledged (restored from an older copy).
        assert_eq!(batch(2, Some(41), None).admission(2, 40), Refuse);
        // The CM is in an older epoch (restored from an older copy), or in a newer one the
        // MCM never opened (the MCM restored): either way, a resync.
        assert_eq!(batch(1, Some(0), None).admission(2, 40), Refuse);
        assert_eq!(batch(3, Some(0), None).admission(2, 40), Refuse);
        assert_eq!(batch(3, None, Some(Part)).admission(2, 40), Refuse);
        assert_eq!(batch(1, None, Some(Start)).admission(2, 40), Refuse);
        // Only a resync's start opens a newer epoch; its parts apply whatever the cursor.
        assert_eq!(batch(3, None, Some(Start)).admission(2, 40), Adopt);
        assert_eq!(batch(3, None, Some(Start)).admission(3, 0), Apply);
        assert_eq!(batch(3, Some(99), Some(Part)).admission(3, 0), Apply);
    }

    #[test]
    fn state_follows_heartbeats_and_deregistration() {
        let now = Utc::now();
        let mut cm = cm_seen_at(now);
        assert_eq!(cm.state(now), CmState::Online);
        assert_eq!(
            cm.state(now + OFFLINE_AFTER + chrono::TimeDelta::seconds(1)),
            CmState::Offline
        );
        cm.deregistered = Some(now);
        assert_eq!(cm.state(now), CmState::Deregistered);
    }
}
