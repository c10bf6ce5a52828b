//! Finding incidents: filters, sort orders and keyset cursors.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::{DomainError, event::Category, incident::Incident, risk::Risk, status::Status};

crate::string_enum! {
    /// Orders of the incident list. Time: newest activity first. Risk: highest first,
    /// then newest. Endpoint: by address, ascending.
    pub enum IncidentSort {
        Time = "time",
        Risk = "risk",
        Endpoint = "endpoint",
    }
}

/// What a page of incidents is filtered by; empty lists and `None` match everything.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IncidentFilter {
    pub risks: Vec<Risk>,
    pub statuses: Vec<Status>,
    pub categories: Vec<Category>,
    pub endpoint: Option<IpAddr>,
    /// A source IP (exact) or part of a source name (case-insensitive).
    pub source: Option<String>,
    /// Part of the threat name, endpoint name or source name (case-insensitive).
    pub text: Option<String>,
    /// The incident's file.
    pub file: Option<crate::text::Sha256Hex>,
    /// Last activity at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Last activity before this time.
    pub to: Option<DateTime<Utc>>,
}

/// A page request.
#[derive(Clone, Debug, PartialEq)]
pub struct IncidentQuery {
    pub filter: IncidentFilter,
    pub sort: IncidentSort,
    pub limit: u32,
    pub after: Option<Cursor>,
}

impl IncidentQuery {
    pub const DEFAULT_LIMIT: u32 = 50;
    pub const MAX_LIMIT: u32 = 500;
}

impl Default for IncidentQuery {
    fn default() -> Self {
        Self {
            filter: IncidentFilter::default(),
            sort: IncidentSort::Time,
            limit: Self::DEFAULT_LIMIT,
            after: None,
        }
    }
}

/// The position after the last row of a page, in the page's sort order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cursor {
    Time { at_ms: i64, id: i64 },
    Risk { rank: i64, at_ms: i64, id: i64 },
    Endpoint { key: String, id: i64 },
}

impl Cursor {
    /// The cursor that resumes `sort` after `incident`.
    pub fn after(sort: IncidentSort, incident: &Incident) -> Cursor {
        Cursor::at(sort, incident.id.get(), &incident.facts)
    }

    /// The cursor that resumes `sort` after the row `id` holding `facts`.
    pub fn at(sort: IncidentSort, id: i64, facts: &crate::incident::IncidentFacts) -> Cursor {
        let at_ms = facts.last_activity.timestamp_millis();
        match sort {
            IncidentSort::Time => Cursor::Time { at_ms, id },
            IncidentSort::Risk => Cursor::Risk {
                rank: facts.risk().rank(),
                at_ms,
                id,
            },
            IncidentSort::Endpoint => Cursor::Endpoint {
                key: endpoint_sort_key(facts.endpoint_ip),
                id,
            },
        }
    }

    pub fn sort(&self) -> IncidentSort {
        match self {
            Cursor::Time { .. } => IncidentSort::Time,
            Cursor::Risk { .. } => IncidentSort::Risk,
            Cursor::Endpoint { .. } => IncidentSort::Endpoint,
        }
    }

    /// An opaque, URL-safe token.
    pub fn encode(&self) -> String {
        match self {
            Cursor::Time { at_ms, id } => format!("t.{at_ms}.{id}"),
            Cursor::Risk { rank, at_ms, id } => format!("r.{rank}.{at_ms}.{id}"),
            Cursor::Endpoint { key, id } => format!("e.{key}.{id}"),
        }
    }

    /// Parses a token from [`Cursor::encode`] and checks it belongs to `sort`.
    pub fn decode(token: &str, sort: IncidentSort) -> Result<Cursor, DomainError> {
        let bad = || DomainError::new("after", "is not a cursor returned by this API");
        let parts: Vec<&str> = token.split('.').collect();
        let int = |s: &str| s.parse::<i64>().map_err(|_| bad());
        let cursor = match parts.as_slice() {
            ["t", at, id] => Cursor::Time {
                at_ms: int(at)?,
                id: int(id)?,
            },
            ["r", rank, at, id] => Cursor::Risk {
                rank: int(rank)?,
                at_ms: int(at)?,
                id: int(id)?,
            },
            ["e", key, id] if key.len() == 32 && key.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Cursor::Endpoint {
                    key: key.to_ascii_lowercase(),
                    id: int(id)?,
                }
            }
            _ => return Err(bad()),
        };
        if cursor.sort() != sort {
            return Err(DomainError::new(
                "after",
                format!("cursor belongs to sort={}, not sort={sort}", cursor.sort()),
            ));
        }
        Ok(cursor)
    }
}

/// A text key that sorts addresses numerically: the IPv6 form (IPv4-mapped for IPv4)
/// as 32 lower-case hex digits.
pub fn endpoint_sort_key(ip: IpAddr) -> String {
    let v6 = match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    v6.octets().iter().map(|b| format!("{b:02x}")).collect()
}

/// One page of incidents and the cursor for the next, if there is more.
#[derive(Clone, Debug, PartialEq)]
pub struct IncidentPage {
    pub items: Vec<Incident>,
    pub next: Option<Cursor>,
}

/// Checks a requested page size.
pub fn check_limit(limit: u32) -> Result<u32, DomainError> {
    if limit == 0 || limit > IncidentQuery::MAX_LIMIT {
        return Err(DomainError::new(
            "limit",
            format!("must be from 1 to {}", IncidentQuery::MAX_LIMIT),
        ));
    }
    Ok(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_checks_sort() {
        for c in [
            Cursor::Time { at_ms: 1, id: 2 },
            Cursor::Risk {
                rank: 4,
                at_ms: -5,
                id: 9,
            },
            Cursor::Endpoint {
                key: endpoint_sort_key("10.0.0.2".parse().unwrap()),
                id: 3,
            },
        ] {
            assert_eq!(Cursor::decode(&c.encode(), c.sort()).unwrap(), c);
        }
        assert!(Cursor::decode("t.1.2", IncidentSort::Risk).is_err());
        assert!(Cursor::decode("t.x.2", IncidentSort::Time).is_err());
        assert!(Cursor::decode("", IncidentSort::Time).is_err());
    }

    #[test]
    fn endpoint_key_sorts_numerically() {
        let k = |s: &str| endpoint_sort_key(s.parse().unwrap());
        assert!(k("10.0.0.2") < k("10.0.0.10"));
        assert!(k("9.255.255.255") < k("10.0.0.0"));
    }
}
