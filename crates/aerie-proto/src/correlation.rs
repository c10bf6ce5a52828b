//! `GET /api/v1/campaigns` (the MCM): indicators seen on two or more CMs.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The window of `GET /api/v1/campaigns`.
#[derive(Deserialize, IntoParams, Debug, Default)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CampaignParams {
    /// Incidents whose last activity is in the last this many hours (1 to 8760; 168).
    pub hours: Option<u32>,
}

/// A CM of a campaign.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct CampaignCm {
    pub id: i64,
    pub name: String,
}

/// One indicator seen in incidents of two or more CMs.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct CampaignOut {
    /// file_sha256, domain, url, ip or email_sender.
    pub kind: String,
    pub value: String,
    pub cms: Vec<CampaignCm>,
    /// RFC 3339: the earliest first activity of its incidents.
    pub first_seen: String,
    /// RFC 3339: the latest last activity of its incidents.
    pub last_seen: String,
    pub incidents: i64,
    /// The incident table filtered to it (`/api/v1/incidents?…`).
    pub incidents_query: String,
}
