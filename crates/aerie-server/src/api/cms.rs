//! Secondary CMs: the CMs registered to this MCM and how their sync stands. There is no
//! way to delete one.

use axum::{Json, extract::State};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use aerie_proto::{ErrorBody, format_time};

use crate::rights::{Can, View};
use crate::{error::OpError, state::AppState};
use aerie_domain::appliance::ApplianceRole;

/// A registered CM.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct CmOut {
    pub id: i64,
    /// The CM name: its host name.
    pub name: String,
    pub hostname: String,
    pub ip: String,
    pub url: String,
    pub version: String,
    pub fips: bool,
    /// online, offline or deregistered.
    pub status: String,
    pub registered: String,
    pub last_sync: Option<String>,
    /// Seconds since the last applied batch while the CM reports a backlog; 0 when caught up.
    pub sync_lag_seconds: i64,
    /// Changes the CM reported as not yet sent.
    pub backlog: i64,
    pub incident_count: i64,
}

/// The Secondary CMs of this MCM.
#[utoipa::path(get, path = "/api/v1/cms", tag = "federation",
    responses((status = 200, body = Vec<CmOut>), (status = 404, description = "Not an MCM", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    _can: Can<View>,
) -> Result<Json<Vec<CmOut>>, OpError> {
    if state.appliance.role().await? != ApplianceRole::Mcm {
        return Err(OpError::not_found(
            "Secondary CMs (this appliance is not an MCM)",
        ));
    }
    let now = Utc::now();
    let cms = state.store.cms().await?;
    Ok(Json(
        cms.into_iter()
            .map(|cm| {
                let lag = match (cm.backlog, cm.last_sync) {
                    (0, _) | (_, None) => 0,
                    (_, Some(at)) => (now - at).num_seconds().max(0),
                };
                CmOut {
                    id: cm.id.get(),
                    status: cm.state(now).as_str().to_owned(),
                    hostname: cm.name.clone(),
                    name: cm.name,
                    ip: cm.ip,
                    url: cm.url,
                    version: cm.version,
                    fips: cm.fips,
                    registered: format_time(cm.registered),
                    last_sync: cm.last_sync.map(format_time),
                    sync_lag_seconds: lag,
                    backlog: cm.backlog,
                    incident_count: cm.incident_count,
                }
            })
            .collect(),
    ))
}
