//! The Infection Verification Package of an incident.

use axum::{
    extract::{Path, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};

use aerie_domain::ivp::{self, Indicators};
use aerie_proto::ErrorBody;

use crate::rights::{Can, View};
use crate::{error::OpError, state::AppState};

/// Most indicators one IVP script checks.
const MAX_IVP_INDICATORS: usize = 5000;

/// A script that checks an endpoint for the incident's indicators: `posix` (sh, for
/// Linux and macOS) or `windows` (PowerShell). Exit status 1 means infected.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/ivp/{platform}", tag = "investigation",
    params(("id" = i64, Path, description = "Incident id"),
        ("platform" = String, Path, description = "posix or windows")),
    responses((status = 200, description = "The script", content_type = "text/plain"),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The incident has no indicators to check, or too many for one script", body = ErrorBody)))]
pub async fn script(
    State(state): State<AppState>,
    _can: Can<View>,
    Path((id, platform)): Path<(String, String)>,
) -> Result<Response, OpError> {
    let incident = super::local_incident(&state, &id).await?;
    // Every event counts (a script that skipped some could say "clean" wrongly), a page
    // at a time, up to a bound on the script's size.
    let mut indicators = Indicators::default();
    crate::ops::incidents::scan_events(&state, incident.id, |page| {
        indicators.add(page);
        indicators.len() > MAX_IVP_INDICATORS
    })
    .await?;
    if indicators.len() > MAX_IVP_INDICATORS {
        return Err(OpError::conflict(format!(
            "incident {} has more than {MAX_IVP_INDICATORS} indicators to verify: too many \
             for one script; verify its endpoint by other means",
            incident.id
        )));
    }
    if indicators.is_empty() {
        return Err(OpError::conflict(format!(
            "incident {} has no indicators to verify: none of its events reported files, \
                 CnC servers or autostart entries",
            incident.id
        )));
    }
    let (text, ext) = match platform.as_str() {
        "posix" => (ivp::posix_script(incident.id, &indicators), "sh"),
        "windows" => (ivp::powershell_script(incident.id, &indicators), "ps1"),
        other => {
            return Err(OpError::invalid(
                "platform",
                format!("unknown platform {other:?}: expected posix or windows"),
            ));
        }
    };
    let mut resp = text.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!(
            "attachment; filename=\"ivp-incident-{}.{ext}\"",
            incident.id
        ))
        .map_err(OpError::internal)?,
    );
    Ok(resp)
}
