//! Secondary CMs: the HTTP edge of [`crate::ops::cms`].

use axum::{Json, extract::State};

use aerie_proto::{ErrorBody, federation::CmOut};

use crate::rights::{Can, View};
use crate::{error::OpError, state::AppState};

/// The Secondary CMs of this MCM.
#[utoipa::path(get, path = "/api/v1/cms", tag = "federation",
    responses((status = 200, body = Vec<CmOut>), (status = 404, description = "Not an MCM", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    can: Can<View>,
) -> Result<Json<Vec<CmOut>>, OpError> {
    Ok(Json(crate::ops::cms::list(&state, &can).await?))
}
