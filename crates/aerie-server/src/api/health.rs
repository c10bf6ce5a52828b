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

/// `GET /metrics`: this daemon's metrics in the Prometheus text format, to a scraper
/// with the configured token (`Authorization: Bearer`), from an allowed address, or to
/// an admin (an API key as Bearer, or a session).
pub async fn metrics(
    State(state): State<AppState>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    request: axum::extract::Request,
) -> Result<Response, OpError> {
    use axum::extract::FromRequestParts;
    let (mut parts, _) = request.into_parts();
    let access = &state.config.metrics;
    let bearer = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let scraper = access.allows(peer.ip()) || bearer.is_some_and(|t| access.accepts(t.trim()));
    if !scraper {
        crate::rights::Can::<crate::rights::Administer>::from_request_parts(&mut parts, &state)
            .await?;
    }
    // The SIEM feed's series come from the service layer, which records into `metrics`
    // (so `metrics` does not call back into it).
    let mut text = crate::metrics::render(&state).await?;
    text.push_str(&crate::ops::siem::metrics(&state).await?);
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
