//! What sensors report: one detection at one endpoint.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::{
    risk::Severity,
    text::{CountryCode, Sha256Hex, Text},
};

crate::string_enum! {
    /// The kind of detection a sensor reports.
    pub enum EventKind {
        Download = "download",
        Cnc = "cnc",
        Exploit = "exploit",
        Phishing = "phishing",
        Upload = "upload",
    }
}

crate::string_enum! {
    /// The malware family class of a detection.
    pub enum Category {
        Trojan = "trojan",
        Ransomware = "ransomware",
        Exploit = "exploit",
        Phishing = "phishing",
        Cnc = "cnc",
        Adware = "adware",
        Worm = "worm",
        DataTheft = "data_theft",
        Spyware = "spyware",
        Backdoor = "backdoor",
        Virus = "virus",
        Other = "other",
    }
}

crate::string_enum! {
    /// The kind of sensor that saw the detection.
    pub enum CollectorType {
        Web = "web",
        Email = "email",
        Upload = "upload",
        Endpoint = "endpoint",
    }
}

crate::string_enum! {
    /// One stage of an attack's progression.
    pub enum Stage {
        Exploit = "exploit",
        Download = "download",
        Execution = "execution",
        Infection = "infection",
        DataTheft = "data_theft",
        FileSubmission = "file_submission",
    }
}

/// The set of attack stages seen, stored as a bit set.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Progression(u8);

impl Progression {
    pub fn bits(self) -> i64 {
        i64::from(self.0)
    }

    /// Rebuilds a set from stored bits, ignoring unknown ones.
    pub fn from_bits(bits: i64) -> Self {
        let known = (1u8 << Stage::ALL.len()) - 1;
        Self((bits & i64::from(known)) as u8)
    }

    pub fn insert(&mut self, stage: Stage) {
        self.0 |= 1 << stage as u8;
    }

    pub fn contains(self, stage: Stage) -> bool {
        self.0 & (1 << stage as u8) != 0
    }

    pub fn union(self, other: Progression) -> Progression {
        Progression(self.0 | other.0)
    }

    pub fn stages(self) -> impl Iterator<Item = Stage> {
        Stage::ALL
            .iter()
            .copied()
            .filter(move |s| self.contains(*s))
    }
}

impl FromIterator<Stage> for Progression {
    fn from_iter<I: IntoIterator<Item = Stage>>(iter: I) -> Self {
        let mut p = Progression::default();
        iter.into_iter().for_each(|s| p.insert(s));
        p
    }
}

/// The host an event threatens.
#[derive(Clone, PartialEq, Debug)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub name: Option<Text>,
    pub os: Option<Text>,
    pub user: Option<Text>,
}

/// Where an attack came from: an address, a domain, URL or email sender, a country.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct Source {
    pub ip: Option<IpAddr>,
    pub name: Option<Text>,
    pub country: Option<CountryCode>,
}

/// A file the malware wrote, with its content hash when the sensor took one.
#[derive(Clone, PartialEq, Debug, serde::Serialize, serde::Deserialize)]
pub struct FileWrite {
    pub path: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Sha256Hex>,
}

/// What a detonation saw the malware do. Every value is attacker-controlled text.
#[derive(Clone, PartialEq, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Behaviour {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub processes: Vec<Text>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileWrite>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub registry_keys: Vec<Text>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mutexes: Vec<Text>,
    /// CnC servers contacted: an IP address or host name, optionally `:port`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cnc: Vec<Text>,
    /// Autostart entries: registry Run values (`HKCU\…\Run\Name`) on Windows, files
    /// (cron, systemd, launchd) elsewhere.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub persistence: Vec<Text>,
}

impl Behaviour {
    /// Most entries one list may hold.
    pub const MAX_ENTRIES: usize = 64;

    pub fn is_empty(&self) -> bool {
        *self == Behaviour::default()
    }
}

/// A validated detection as a sensor reported it.
#[derive(Clone, PartialEq, Debug)]
pub struct NewEvent {
    pub kind: EventKind,
    pub time: DateTime<Utc>,
    pub severity: Severity,
    pub category: Category,
    pub threat_name: Text,
    pub endpoint: Endpoint,
    pub source: Source,
    pub progression: Progression,
    pub collector_id: Option<Text>,
    pub collector_type: CollectorType,
    pub file_sha256: Option<Sha256Hex>,
    pub behaviour: Behaviour,
    /// Screenshots and traces attached to the event, uploaded before it.
    pub artifacts: Vec<Sha256Hex>,
}

impl NewEvent {
    /// A plain download detection at `ip`, for tests, benchmarks and examples.
    pub fn sample(ip: IpAddr, time: DateTime<Utc>, severity: f64) -> NewEvent {
        NewEvent {
            kind: EventKind::Download,
            time,
            severity: Severity::parse("severity", severity).expect("a severity from 0 to 1"),
            category: Category::Trojan,
            threat_name: Text::parse("threat_name", "TROJAN_Zemot.CY", Text::SHORT).expect("valid"),
            endpoint: Endpoint {
                ip,
                name: None,
                os: None,
                user: None,
            },
            source: Source::default(),
            progression: [Stage::Download].into_iter().collect(),
            collector_id: None,
            collector_type: CollectorType::Web,
            file_sha256: None,
            behaviour: Behaviour::default(),
            artifacts: Vec::new(),
        }
    }
}

/// An event as stored, attached to its incident.
#[derive(Clone, PartialEq, Debug)]
pub struct Event {
    pub id: i64,
    pub incident_id: crate::ids::IncidentId,
    pub event: NewEvent,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progression_bits_round_trip() {
        let p: Progression = [Stage::Exploit, Stage::FileSubmission]
            .into_iter()
            .collect();
        assert!(p.contains(Stage::Exploit) && !p.contains(Stage::Download));
        assert_eq!(Progression::from_bits(p.bits()), p);
        assert_eq!(
            p.stages().collect::<Vec<_>>(),
            vec![Stage::Exploit, Stage::FileSubmission]
        );
        assert_eq!(
            Progression::from_bits(0xff).stages().count(),
            Stage::ALL.len()
        );
    }
}
