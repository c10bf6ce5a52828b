use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};

use aerie_proto::Health;

use crate::{error::OpError, state::AppState};

/// Liveness, role and storage; needs no authentication. 503 when the disk holding the
/// data is full or failing (the daemon answers but cannot store anything).
#[utoipa::path(get, path = "/healthz", tag = "system",
    responses((status = 200, description = "The daemon is up", body = Health),
        (status = 503, description = "Up, but the disk holding its data is full", body = Health)))]
pub async fn health(State(state): State<AppState>) -> Result<Response, OpError> {
    let role = state.appliance.role().await?.as_str().to_owned();
    let problem = state.appliance.storage_problem().await?;
    let status = if problem.is_some() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let body = Health {
        status: if problem.is_some() { "degraded" } else { "ok" }.to_owned(),
        role,
        storage: match &problem {
            None => "ok",
            Some(p) if p.starts_with("FULL") => "full",
            Some(_) => "failing",
        }
        .to_owned(),
        problem,
    };
    Ok((status, Json(body)).into_response())
}

/// `GET /metrics`: this daemon's metrics in the Prometheus text format (admins: an API
/// key as `Authorization: Bearer`, or a session).
pub async fn metrics(
    State(state): State<AppState>,
    _can: crate::rights::Can<crate::rights::Administer>,
) -> Result<Response, OpError> {
    let text = crate::metrics::render(&state).await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
