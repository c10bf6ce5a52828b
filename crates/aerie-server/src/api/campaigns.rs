//! Campaigns: the HTTP edge of [`crate::ops::correlation`].

use axum::{
    Json,
    extract::{Query, State, rejection::QueryRejection},
};

use aerie_proto::{
    ErrorBody,
    correlation::{CampaignOut, CampaignParams},
};

use crate::rights::{Can, View};
use crate::{error::OpError, state::AppState};

/// On the MCM: indicators (file SHA-256, source domain, URL, address, email sender) seen
/// in incidents of two or more CMs in the window, latest first (at most 500).
#[utoipa::path(get, path = "/api/v1/campaigns", tag = "federation", params(CampaignParams),
    responses((status = 200, body = Vec<CampaignOut>),
        (status = 400, description = "A bad window", body = ErrorBody),
        (status = 404, description = "Not an MCM", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    can: Can<View>,
    params: Result<Query<CampaignParams>, QueryRejection>,
) -> Result<Json<Vec<CampaignOut>>, OpError> {
    let Query(params) = params
        .map_err(|e| OpError::invalid("query", format!("bad query string: {}", e.body_text())))?;
    Ok(Json(
        crate::ops::correlation::campaigns(&state, &can, params.hours).await?,
    ))
}
