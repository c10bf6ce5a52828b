//! Incidents: lists, details and status changes.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use aerie_domain::{
    DomainError,
    event::Event,
    incident::{Incident, StatusChange},
    query::{Cursor, IncidentFilter, IncidentQuery, IncidentSort, check_limit},
};

use crate::{
    events::BehaviourJson,
    format_time,
    investigation::{ArtifactOut, MitigationOptionOut, MitigationOut},
};

/// An incident as the API shows it; field names follow the original product's API.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct IncidentOut {
    pub incident_id: i64,
    pub first_seen_time: String,
    pub last_activity_time: String,
    /// critical, high, medium, low or benign.
    pub risk: String,
    pub severity: f64,
    pub category: String,
    pub threat_name: String,
    pub endpoint_ip: String,
    pub endpoint_name: Option<String>,
    pub endpoint_os: Option<String>,
    pub endpoint_user: Option<String>,
    pub source_ip: Option<String>,
    pub source_name: Option<String>,
    pub source_country: Option<String>,
    pub progression: Vec<String>,
    pub collector_id: Option<String>,
    pub collector_type: String,
    pub file_sha256: Option<String>,
    /// new, acknowledged, in_progress or complete.
    pub status: String,
    pub event_count: i64,
    /// Grows with every change of this incident.
    pub version: i64,
    /// On the MCM: the CM that owns the incident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cm_id: Option<i64>,
    /// On the MCM: the owning CM's name (host name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cm_name: Option<String>,
    /// On the MCM: the owning CM's IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cm_ip: Option<String>,
}

fn text(t: &Option<aerie_domain::text::Text>) -> Option<String> {
    t.as_ref().map(|t| t.as_str().to_owned())
}

impl From<&Incident> for IncidentOut {
    fn from(i: &Incident) -> Self {
        let f = &i.facts;
        Self {
            incident_id: i.id.get(),
            first_seen_time: format_time(f.first_seen),
            last_activity_time: format_time(f.last_activity),
            risk: i.risk().as_str().to_owned(),
            severity: f.severity.value(),
            category: f.category.as_str().to_owned(),
            threat_name: f.threat_name.as_str().to_owned(),
            endpoint_ip: f.endpoint_ip.to_string(),
            endpoint_name: text(&f.endpoint_name),
            endpoint_os: text(&f.endpoint_os),
            endpoint_user: text(&f.endpoint_user),
            source_ip: f.source_ip.map(|ip| ip.to_string()),
            source_name: text(&f.source_name),
            source_country: f.source_country.map(|c| c.as_str().to_owned()),
            progression: f
                .progression
                .stages()
                .map(|s| s.as_str().to_owned())
                .collect(),
            collector_id: text(&f.collector_id),
            collector_type: f.collector_type.as_str().to_owned(),
            file_sha256: f.file_sha256.as_ref().map(|s| s.as_str().to_owned()),
            status: i.status.as_str().to_owned(),
            event_count: f.event_count,
            version: i.version,
            cm_id: None,
            cm_name: None,
            cm_ip: None,
        }
    }
}

/// One page of incidents; pass `next` as `after` for the following page.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct IncidentList {
    pub items: Vec<IncidentOut>,
    pub next: Option<String>,
}

/// An event of an incident.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct EventOut {
    pub event_id: i64,
    pub kind: String,
    pub time: String,
    pub severity: f64,
    pub category: String,
    pub threat_name: String,
    pub endpoint_ip: String,
    pub source_ip: Option<String>,
    pub source_name: Option<String>,
    pub source_country: Option<String>,
    pub progression: Vec<String>,
    pub collector_id: Option<String>,
    pub collector_type: String,
    pub file_sha256: Option<String>,
    /// What the malware did when detonated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behaviour: Option<BehaviourJson>,
    /// SHA-256 digests of the event's screenshots and traces.
    #[serde(default)]
    pub artifacts: Vec<String>,
}

impl From<&Event> for EventOut {
    fn from(e: &Event) -> Self {
        let v = &e.event;
        Self {
            event_id: e.id,
            kind: v.kind.as_str().to_owned(),
            time: format_time(v.time),
            severity: v.severity.value(),
            category: v.category.as_str().to_owned(),
            threat_name: v.threat_name.as_str().to_owned(),
            endpoint_ip: v.endpoint.ip.to_string(),
            source_ip: v.source.ip.map(|ip| ip.to_string()),
            source_name: text(&v.source.name),
            source_country: v.source.country.map(|c| c.as_str().to_owned()),
            progression: v
                .progression
                .stages()
                .map(|s| s.as_str().to_owned())
                .collect(),
            collector_id: text(&v.collector_id),
            collector_type: v.collector_type.as_str().to_owned(),
            file_sha256: v.file_sha256.as_ref().map(|s| s.as_str().to_owned()),
            behaviour: (!v.behaviour.is_empty()).then(|| BehaviourJson::from(&v.behaviour)),
            artifacts: v.artifacts.iter().map(|a| a.as_str().to_owned()).collect(),
        }
    }
}

/// A status change with its comment; a plain comment has `from` equal to `to`.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct StatusChangeOut {
    pub from: String,
    pub to: String,
    pub comment: String,
    pub by: String,
    pub at: String,
}

impl From<&StatusChange> for StatusChangeOut {
    fn from(c: &StatusChange) -> Self {
        Self {
            from: c.from.as_str().to_owned(),
            to: c.to.as_str().to_owned(),
            comment: c.comment.as_str().to_owned(),
            by: c.actor.as_str().to_owned(),
            at: format_time(c.at),
        }
    }
}

/// `GET /api/v1/incidents/{id}`.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct IncidentDetail {
    pub incident: IncidentOut,
    /// One page of the incident's events, newest first (`events_limit`, default 100).
    pub events: Vec<EventOut>,
    /// How many events the incident has in all.
    #[serde(default)]
    pub events_total: i64,
    /// The `events_before` cursor of the next (older) page, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_next: Option<String>,
    /// Status changes and comments, oldest first.
    pub status_history: Vec<StatusChangeOut>,
    /// The screenshots and traces of the incident's events.
    #[serde(default)]
    pub artifacts: Vec<ArtifactOut>,
    /// What the incident's indicators allow blocking, with what is applied.
    #[serde(default)]
    pub mitigation_options: Vec<MitigationOptionOut>,
    /// Every mitigation applied to the incident, revoked ones included.
    #[serde(default)]
    pub mitigations: Vec<MitigationOut>,
    /// True when the incident has more artifacts or mitigation options than the 500 of
    /// each listed here.
    #[serde(default)]
    pub more_indicators: bool,
}

/// `POST /api/v1/incidents/{id}/status`.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    /// acknowledged, in_progress or complete (or in_progress to reopen).
    pub status: String,
    /// Why; required.
    pub comment: String,
}

/// The query string of `GET /api/v1/incidents`. Lists are comma-separated.
/// `GET /api/v1/incidents/{id}` query: which page of the events.
#[derive(Serialize, Deserialize, IntoParams, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventPageParams {
    /// The `events_next` of the previous page.
    pub events_before: Option<String>,
    /// Events per page, 1 to 500 (default 100).
    pub events_limit: Option<u32>,
}

/// Most events one page of an incident's details carries.
pub const MAX_EVENTS_PAGE: u32 = 500;

impl EventPageParams {
    /// The checked cursor and page size.
    pub fn to_page(&self) -> Result<(Option<(i64, i64)>, u32), DomainError> {
        let limit = self.events_limit.unwrap_or(100);
        if !(1..=MAX_EVENTS_PAGE).contains(&limit) {
            return Err(DomainError::new(
                "events_limit",
                format!("events_limit must be from 1 to {MAX_EVENTS_PAGE}"),
            ));
        }
        let before = self
            .events_before
            .as_deref()
            .map(|c| {
                c.split_once('.')
                    .and_then(|(t, i)| Some((t.parse().ok()?, i.parse().ok()?)))
                    .ok_or_else(|| {
                        DomainError::new(
                            "events_before",
                            "events_before is not a cursor: pass the events_next of a page",
                        )
                    })
            })
            .transpose()?;
        Ok((before, limit))
    }

    /// The cursor after `event` (time in ms and id), as `events_next` carries it.
    pub fn cursor(time_ms: i64, event_id: i64) -> String {
        format!("{time_ms}.{event_id}")
    }

    /// A checked page as the query string of the CM's API.
    pub fn query((before, limit): (Option<(i64, i64)>, u32)) -> String {
        match before {
            Some((t, i)) => format!("?events_limit={limit}&events_before={t}.{i}"),
            None => format!("?events_limit={limit}"),
        }
    }
}

#[derive(Serialize, Deserialize, IntoParams, Debug, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IncidentListParams {
    /// Risks to include, e.g. `critical,high`.
    pub risk: Option<String>,
    /// Statuses to include, e.g. `new,acknowledged`.
    pub status: Option<String>,
    /// Categories to include, e.g. `trojan,ransomware`.
    pub category: Option<String>,
    /// The endpoint's IP address.
    pub endpoint: Option<String>,
    /// A source IP, or part of a source domain, URL or sender.
    pub source: Option<String>,
    /// Part of the threat name, endpoint name, source name or endpoint address.
    pub q: Option<String>,
    /// The incident's file, by SHA-256.
    pub file: Option<String>,
    /// Last activity at or after this time (RFC 3339).
    pub from: Option<String>,
    /// Last activity before this time (RFC 3339).
    pub to: Option<String>,
    /// `time` (default; newest first), `risk` (highest first) or `endpoint`.
    pub sort: Option<String>,
    /// Page size, 1–500 (default 50).
    pub limit: Option<u32>,
    /// The `next` cursor of the previous page.
    pub after: Option<String>,
    /// On the MCM: CM ids to include, e.g. `1,3`.
    pub cm: Option<String>,
}

fn list<T: std::str::FromStr<Err = String>>(
    field: &str,
    value: &Option<String>,
) -> Result<Vec<T>, DomainError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    value
        .split(',')
        .map(|v| {
            v.trim()
                .parse()
                .map_err(|e: String| DomainError::new(field, e))
        })
        .collect()
}

fn search(field: &str, value: &Option<String>) -> Result<Option<String>, DomainError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) if v.chars().count() > 200 => {
            Err(DomainError::new(field, "must be at most 200 characters"))
        }
        Some(v) => Ok(Some(v.to_owned())),
    }
}

impl IncidentListParams {
    /// The CM ids of `cm`, on the MCM.
    pub fn cm_ids(&self) -> Result<Vec<aerie_domain::ids::CmId>, DomainError> {
        let Some(value) = &self.cm else {
            return Ok(Vec::new());
        };
        value
            .split(',')
            .map(|v| {
                v.trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|id| *id > 0)
                    .map(aerie_domain::ids::CmId::new)
                    .ok_or_else(|| {
                        DomainError::new(
                            "cm",
                            format!("{v:?} is not a CM id: expected e.g. cm=1,3"),
                        )
                    })
            })
            .collect()
    }

    pub fn to_query(&self) -> Result<IncidentQuery, DomainError> {
        let sort: IncidentSort = match &self.sort {
            None => IncidentSort::Time,
            Some(s) => s.parse().map_err(|e| DomainError::new("sort", e))?,
        };
        let endpoint = self
            .endpoint
            .as_deref()
            .map(|v| {
                v.parse().map_err(|_| {
                    DomainError::new("endpoint", format!("{v:?} is not an IPv4 or IPv6 address"))
                })
            })
            .transpose()?;
        let filter = IncidentFilter {
            risks: list("risk", &self.risk)?,
            statuses: list("status", &self.status)?,
            categories: list("category", &self.category)?,
            endpoint,
            source: search("source", &self.source)?,
            text: search("q", &self.q)?,
            file: self
                .file
                .as_deref()
                .filter(|v| !v.trim().is_empty())
                .map(|v| aerie_domain::text::Sha256Hex::parse("file", v.trim()))
                .transpose()?,
            from: self
                .from
                .as_deref()
                .map(|v| crate::parse_time("from", v))
                .transpose()?,
            to: self
                .to
                .as_deref()
                .map(|v| crate::parse_time("to", v))
                .transpose()?,
        };
        if let (Some(from), Some(to)) = (filter.from, filter.to)
            && from >= to
        {
            return Err(DomainError::new("to", "must be after from"));
        }
        Ok(IncidentQuery {
            filter,
            sort,
            limit: check_limit(self.limit.unwrap_or(IncidentQuery::DEFAULT_LIMIT))?,
            after: self
                .after
                .as_deref()
                .map(|a| Cursor::decode(a, sort))
                .transpose()?,
        })
    }
}
