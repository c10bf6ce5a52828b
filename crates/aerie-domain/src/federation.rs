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
    /// The CM's highest change sequence number applied here.
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
