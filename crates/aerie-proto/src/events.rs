//! Sensor events: `POST /api/v1/events`.

use std::net::IpAddr;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use aerie_domain::{
    DomainError,
    event::{Category, CollectorType, Endpoint, EventKind, NewEvent, Source, Stage},
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
}

fn ip(field: &str, value: &str) -> Result<IpAddr, DomainError> {
    value
        .parse()
        .map_err(|_| DomainError::new(field, format!("{value:?} is not an IPv4 or IPv6 address")))
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
