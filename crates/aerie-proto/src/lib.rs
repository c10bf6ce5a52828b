//! Aerie's wire messages: the JSON bodies of the API, shared by the server, the
//! client library, `aerie simulate` and the tests. Requests are parsed into domain
//! values here, with errors that name the offending field.

pub mod admin;
pub mod auth;
pub mod correlation;
pub mod device_key;
pub mod events;
pub mod federation;
pub mod incidents;
pub mod investigation;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every error response: what was wrong and, when one field is to blame, which.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct ErrorBody {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// A machine-readable reason where a client acts on it (federation, see
    /// `federation::codes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// `GET /healthz`.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct Health {
    /// `ok`, or `degraded` (with status 503) when the disk holding the data is full.
    pub status: String,
    /// `cm` or `mcm`.
    pub role: String,
    /// `ok`, `full`, or `failing` (a write failed for another reason).
    #[serde(default)]
    pub storage: String,
    /// What is wrong and what to do, when something is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Formats a time the way the API writes every time: RFC 3339 UTC, milliseconds.
pub fn format_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Parses an API time; the error names the expected form.
pub fn parse_time(
    field: &str,
    value: &str,
) -> Result<chrono::DateTime<chrono::Utc>, aerie_domain::DomainError> {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| t.to_utc())
        .map_err(|_| {
            aerie_domain::DomainError::new(
                field,
                format!("{value:?} is not a time: expected RFC 3339, such as 2026-11-26T04:27:00Z"),
            )
        })
}
