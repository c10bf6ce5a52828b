//! Sensor events: `POST /api/v1/events`.

use std::net::IpAddr;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use aerie_domain::{
    DomainError,
    event::{
        Behaviour, Category, CollectorType, Endpoint, EventKind, FileWrite, NewEvent, Source, Stage,
    },
    risk::Severity,
    text::{CountryCode, Sha256Hex, Text},
};

/// Most events one request may carry.
pub const MAX_BATCH: usize = 1000;
/// How far ahead of the server's clock an event time may be (sensor clock skew).
pub const MAX_CLOCK_SKEW: TimeDelta = TimeDelta::hours(1);

/// A batch of detections from one or more sensors.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EventBatch {
    pub events: Vec<EventIn>,
}

/// One detection as a sensor reports it.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EventIn {
    /// download, cnc, exploit, phishing or upload.
    #[schema(value_type = String, example = "download")]
    pub kind: EventKind,
    /// When the sensor saw it (RFC 3339).
    #[schema(example = "2026-11-26T04:27:00Z")]
    pub time: String,
    /// 0.0 (benign) to 1.0.
    pub severity: f64,
    /// trojan, ransomware, exploit, phishing, cnc, adware, worm, data_theft, spyware,
    /// backdoor, virus or other.
    #[schema(value_type = String, example = "trojan")]
    pub category: Category,
    #[schema(example = "TROJAN_Zemot.CY")]
    pub threat_name: String,
    pub endpoint_ip: String,
    #[serde(default)]
    pub endpoint_name: Option<String>,
    #[serde(default)]
    pub endpoint_os: Option<String>,
    #[serde(default)]
    pub endpoint_user: Option<String>,
    #[serde(default)]
    pub source_ip: Option<String>,
    /// A domain, URL or email sender.
    #[serde(default)]
    pub source_name: Option<String>,
    /// ISO 3166-1 alpha-2.
    #[serde(default)]
    pub source_country: Option<String>,
    /// Stages seen: exploit, download, execution, infection, data_theft, file_submission.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub progression: Vec<Stage>,
    #[serde(default)]
    pub collector_id: Option<String>,
    /// web, email, upload or endpoint.
    #[schema(value_type = String, example = "web")]
    pub collector_type: CollectorType,
    #[serde(default)]
    pub file_sha256: Option<String>,
    /// What the malware did when detonated.
    #[serde(default)]
    pub behaviour: Option<BehaviourJson>,
    /// SHA-256 digests of screenshots and traces uploaded with `POST /api/v1/artifacts`.
    #[serde(default)]
    pub artifacts: Vec<String>,
}

/// Behaviour details of one event, in and out. Each list holds at most 64 entries.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct BehaviourJson {
    /// Processes spawned (command lines).
    pub processes: Vec<String>,
    /// Files written.
    pub files: Vec<FileJson>,
    pub registry_keys: Vec<String>,
    pub mutexes: Vec<String>,
    /// CnC servers contacted: `203.0.113.9:443`, `c2.example.net`.
    pub cnc: Vec<String>,
    /// Autostart entries: `HKCU\Software\Microsoft\Windows\CurrentVersion\Run\Name`
    /// or a file such as `/etc/cron.d/updater`.
    pub persistence: Vec<String>,
}

#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileJson {
    pub path: String,
    #[serde(default)]
    pub sha256: Option<String>,
}

impl BehaviourJson {
    fn validate(&self, at: &str) -> Result<Behaviour, DomainError> {
        fn list<T>(
            at: &str,
            name: &str,
            items: &[T],
            one: impl Fn(&str, &T) -> Result<Text, DomainError>,
        ) -> Result<Vec<Text>, DomainError> {
            if items.len() > Behaviour::MAX_ENTRIES {
                return Err(DomainError::new(
                    format!("{at}.{name}"),
                    format!(
                        "holds {} entries; at most {}",
                        items.len(),
                        Behaviour::MAX_ENTRIES
                    ),
                ));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, v)| one(&format!("{at}.{name}[{i}]"), v))
                .collect()
        }
        let text = |field: &str, v: &String| Text::parse(field, v, Text::LONG);
        let paths = list(at, "files", &self.files, |f, v| {
            Text::parse(&format!("{f}.path"), &v.path, Text::LONG)
        })?;
        let files = paths
            .into_iter()
            .zip(&self.files)
            .enumerate()
            .map(|(i, (path, v))| {
                let sha = v
                    .sha256
                    .as_deref()
                    .map(|s| Sha256Hex::parse(&format!("{at}.files[{i}].sha256"), s))
                    .transpose()?;
                Ok(FileWrite { path, sha256: sha })
            })
            .collect::<Result<_, DomainError>>()?;
        Ok(Behaviour {
            processes: list(at, "processes", &self.processes, text)?,
            files,
            registry_keys: list(at, "registry_keys", &self.registry_keys, text)?,
            mutexes: list(at, "mutexes", &self.mutexes, text)?,
            cnc: list(at, "cnc", &self.cnc, |f, v| Text::parse(f, v, Text::SHORT))?,
            persistence: list(at, "persistence", &self.persistence, text)?,
        })
    }
}

impl From<&Behaviour> for BehaviourJson {
    fn from(b: &Behaviour) -> Self {
        let strings = |v: &[Text]| v.iter().map(|t| t.as_str().to_owned()).collect();
        Self {
            processes: strings(&b.processes),
            files: b
                .files
                .iter()
                .map(|f| FileJson {
                    path: f.path.as_str().to_owned(),
                    sha256: f.sha256.as_ref().map(|s| s.as_str().to_owned()),
                })
                .collect(),
            registry_keys: strings(&b.registry_keys),
            mutexes: strings(&b.mutexes),
            cnc: strings(&b.cnc),
            persistence: strings(&b.persistence),
        }
    }
}

/// Most artifacts one event may reference.
pub const MAX_ARTIFACTS: usize = 32;

fn ip(field: &str, value: &str) -> Result<IpAddr, DomainError> {
    aerie_domain::net::parse_ip(value)
        .ok_or_else(|| DomainError::new(field, format!("{value:?} is not an IPv4 or IPv6 address")))
}

impl EventIn {
    /// Validates the event; `at` is the path of this event in its request, e.g.
    /// `events[3]`, and prefixes every field name in errors.
    pub fn validate(&self, at: &str, now: DateTime<Utc>) -> Result<NewEvent, DomainError> {
        let f = |name: &str| format!("{at}.{name}");
        let short = |name: &str, v: &Option<String>| {
            v.as_deref()
                .map(|v| Text::parse(&f(name), v, Text::SHORT))
                .transpose()
        };
        let time = crate::parse_time(&f("time"), &self.time)?;
        if time > now + MAX_CLOCK_SKEW {
            return Err(DomainError::new(
                f("time"),
                "is more than an hour in the future: check the sensor's clock",
            ));
        }
        Ok(NewEvent {
            kind: self.kind,
            time,
            severity: Severity::parse(&f("severity"), self.severity)?,
            category: self.category,
            threat_name: Text::parse(&f("threat_name"), &self.threat_name, Text::SHORT)?,
            endpoint: Endpoint {
                ip: ip(&f("endpoint_ip"), &self.endpoint_ip)?,
                name: short("endpoint_name", &self.endpoint_name)?,
                os: short("endpoint_os", &self.endpoint_os)?,
                user: short("endpoint_user", &self.endpoint_user)?,
            },
            source: Source {
                ip: self
                    .source_ip
                    .as_deref()
                    .map(|v| ip(&f("source_ip"), v))
                    .transpose()?,
                name: self
                    .source_name
                    .as_deref()
                    .map(|v| Text::parse(&f("source_name"), v, Text::LONG))
                    .transpose()?,
                country: self
                    .source_country
                    .as_deref()
                    .map(|v| CountryCode::parse(&f("source_country"), v))
                    .transpose()?,
            },
            progression: self.progression.iter().copied().collect(),
            collector_id: short("collector_id", &self.collector_id)?,
            collector_type: self.collector_type,
            file_sha256: self
                .file_sha256
                .as_deref()
                .map(|v| Sha256Hex::parse(&f("file_sha256"), v))
                .transpose()?,
            behaviour: self
                .behaviour
                .as_ref()
                .map(|b| b.validate(&f("behaviour")))
                .transpose()?
                .unwrap_or_default(),
            artifacts: {
                if self.artifacts.len() > MAX_ARTIFACTS {
                    return Err(DomainError::new(
                        f("artifacts"),
                        format!("at most {MAX_ARTIFACTS} artifacts per event"),
                    ));
                }
                self.artifacts
                    .iter()
                    .enumerate()
                    .map(|(i, a)| Sha256Hex::parse(&f(&format!("artifacts[{i}]")), a))
                    .collect::<Result<_, _>>()?
            },
        })
    }
}

impl EventBatch {
    /// Validates every event, stopping at the first bad one.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<Vec<NewEvent>, DomainError> {
        if self.events.is_empty() {
            return Err(DomainError::new("events", "must hold at least one event"));
        }
        if self.events.len() > MAX_BATCH {
            return Err(DomainError::new(
                "events",
                format!(
                    "holds {} events; send at most {MAX_BATCH} per request",
                    self.events.len()
                ),
            ));
        }
        self.events
            .iter()
            .enumerate()
            .map(|(i, e)| e.validate(&format!("events[{i}]"), now))
            .collect()
    }
}

/// Where each event of a batch went, in request order.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct IngestResponse {
    pub placements: Vec<PlacementOut>,
}

#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct PlacementOut {
    pub incident_id: i64,
    /// Whether this event opened the incident.
    pub opened: bool,
}
