use axum::{Json, extract::State};

use aerie_proto::Health;

use crate::{error::OpError, state::AppState};

/// Liveness and role; needs no authentication.
#[utoipa::path(get, path = "/healthz", tag = "system",
    responses((status = 200, description = "The daemon is up", body = Health)))]
pub async fn health(State(state): State<AppState>) -> Result<Json<Health>, OpError> {
    let role = state.appliance.role().await?.as_str().to_owned();
    Ok(Json(Health {
        status: "ok".to_owned(),
        role,
    }))
}
