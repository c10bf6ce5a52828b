//! Incidents: the events seen at one endpoint within a 5-minute window, and how an
//! incident absorbs a new event.

use std::net::IpAddr;

use chrono::{DateTime, TimeDelta, Utc};

use crate::{
    event::{Category, CollectorType, NewEvent, Progression},
    risk::{Risk, Severity},
    status::Status,
    text::{CountryCode, Sha256Hex, Text},
};

/// How far apart in time two events at one endpoint may be and still join one incident.
pub const GROUPING_WINDOW: TimeDelta = TimeDelta::minutes(5);

pub use crate::ids::IncidentId;

/// What an incident knows from its events. Its headline fields (threat, category,
/// source, file) are those of its most severe event.
#[derive(Clone, PartialEq, Debug)]
pub struct IncidentFacts {
    pub first_seen: DateTime<Utc>,
    pub last_activity: DateTime<Utc>,
    pub severity: Severity,
    pub category: Category,
    pub threat_name: Text,
    pub endpoint_ip: IpAddr,
    pub endpoint_name: Option<Text>,
    pub endpoint_os: Option<Text>,
    pub endpoint_user: Option<Text>,
    pub source_ip: Option<IpAddr>,
    pub source_name: Option<Text>,
    pub source_country: Option<CountryCode>,
    pub progression: Progression,
    pub collector_id: Option<Text>,
    pub collector_type: CollectorType,
    pub file_sha256: Option<Sha256Hex>,
    pub event_count: i64,
}

impl IncidentFacts {
    /// The facts of a new incident opened by its first event.
    pub fn open(e: &NewEvent) -> Self {
        Self {
            first_seen: e.time,
            last_activity: e.time,
            severity: e.severity,
            category: e.category,
            threat_name: e.threat_name.clone(),
            endpoint_ip: e.endpoint.ip,
            endpoint_name: e.endpoint.name.clone(),
            endpoint_os: e.endpoint.os.clone(),
            endpoint_user: e.endpoint.user.clone(),
            source_ip: e.source.ip,
            source_name: e.source.name.clone(),
            source_country: e.source.country,
            progression: e.progression,
            collector_id: e.collector_id.clone(),
            collector_type: e.collector_type,
            file_sha256: e.file_sha256.clone(),
            event_count: 1,
        }
    }

    pub fn risk(&self) -> Risk {
        self.severity.risk()
    }

    /// Whether `e` belongs to this incident: same endpoint, and its time within
    /// [`GROUPING_WINDOW`] of the incident's activity. Complete incidents take no new
    /// events; new activity after an analyst closed one opens a new incident.
    pub fn accepts(&self, status: Status, e: &NewEvent) -> bool {
        status != Status::Complete
            && e.endpoint.ip == self.endpoint_ip
            && e.time >= self.first_seen - GROUPING_WINDOW
            && e.time <= self.last_activity + GROUPING_WINDOW
    }

    /// Folds `e` into the incident: severity is the maximum, stages the union, the
    /// time span widens, and a strictly more severe event takes over the headline.
    pub fn absorb(&mut self, e: &NewEvent) {
        if e.severity > self.severity {
            self.severity = e.severity;
            self.category = e.category;
            self.threat_name = e.threat_name.clone();
            self.source_ip = e.source.ip;
            self.source_name = e.source.name.clone();
            self.source_country = e.source.country;
            self.collector_id = e.collector_id.clone();
            self.collector_type = e.collector_type;
            if e.file_sha256.is_some() {
                self.file_sha256 = e.file_sha256.clone();
            }
        }
        self.first_seen = self.first_seen.min(e.time);
        self.last_activity = self.last_activity.max(e.time);
        self.progression = self.progression.union(e.progression);
        self.endpoint_name = self
            .endpoint_name
            .take()
            .or_else(|| e.endpoint.name.clone());
        self.endpoint_os = self.endpoint_os.take().or_else(|| e.endpoint.os.clone());
        self.endpoint_user = self
            .endpoint_user
            .take()
            .or_else(|| e.endpoint.user.clone());
        self.event_count += 1;
    }
}

/// An incident as stored on its CM.
#[derive(Clone, PartialEq, Debug)]
pub struct Incident {
    pub id: IncidentId,
    pub facts: IncidentFacts,
    pub status: Status,
    /// Bumped on every change of this incident; the MCM keeps only the newest.
    pub version: i64,
    /// The store-wide change sequence number of this incident's latest change.
    pub change_seq: i64,
}

impl Incident {
    pub fn risk(&self) -> Risk {
        self.facts.risk()
    }
}

/// One status change with the analyst's comment.
#[derive(Clone, PartialEq, Debug)]
pub struct StatusChange {
    pub incident_id: IncidentId,
    pub from: Status,
    pub to: Status,
    pub comment: Text,
    pub actor: Text,
    pub at: DateTime<Utc>,
}

/// Where an ingested event went.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Placement {
    pub incident_id: IncidentId,
    /// Whether the event opened a new incident.
    pub opened: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Stage;

    fn event(offset_secs: i64, severity: f64, ip: &str) -> NewEvent {
        let t0 = DateTime::parse_from_rfc3339("2026-11-26T10:00:00Z")
            .unwrap()
            .to_utc();
        let mut e = NewEvent::sample(
            ip.parse().unwrap(),
            t0 + TimeDelta::seconds(offset_secs),
            severity,
        );
        e.threat_name = Text::parse("t", &format!("T{severity}"), 100).unwrap();
        e
    }

    #[test]
    fn window_is_inclusive_at_five_minutes() {
        let facts = IncidentFacts::open(&event(0, 0.5, "10.0.0.1"));
        assert!(facts.accepts(Status::New, &event(300, 0.5, "10.0.0.1")));
        assert!(!facts.accepts(Status::New, &event(301, 0.5, "10.0.0.1")));
        assert!(facts.accepts(Status::New, &event(-300, 0.5, "10.0.0.1")));
        assert!(!facts.accepts(Status::New, &event(-301, 0.5, "10.0.0.1")));
        assert!(!facts.accepts(Status::New, &event(10, 0.5, "10.0.0.2")));
        assert!(!facts.accepts(Status::Complete, &event(10, 0.5, "10.0.0.1")));
    }

    #[test]
    fn absorb_takes_max_and_union() {
        let mut facts = IncidentFacts::open(&event(0, 0.3, "10.0.0.1"));
        let mut worse = event(120, 0.9, "10.0.0.1");
        worse.progression = [Stage::Infection].into_iter().collect();
        facts.absorb(&worse);
        facts.absorb(&event(60, 0.1, "10.0.0.1"));
        assert_eq!(facts.risk(), Risk::Critical);
        assert_eq!(facts.threat_name.as_str(), "T0.9");
        assert_eq!(facts.event_count, 3);
        assert_eq!(facts.last_activity, worse.time);
        assert!(facts.progression.contains(Stage::Infection));
        assert!(facts.progression.contains(Stage::Download));
        // the window slides with activity
        assert!(facts.accepts(Status::New, &event(120 + 300, 0.1, "10.0.0.1")));
    }
}
