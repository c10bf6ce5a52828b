//! The JSON API under `/api/v1`, plus `/healthz`.

mod cms;
mod events;
mod federation;
mod health;
mod incidents;
mod keys;
mod openapi;
mod session;

use axum::{
    Router,
    http::StatusCode,
    routing::{delete, get, post},
};

use crate::{error::ApiError, state::AppState};

pub use openapi::ApiDoc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health::health))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1/login", post(session::login))
        .route("/api/v1/logout", post(session::logout))
        .route("/api/v1/api-keys", get(keys::list).post(keys::create))
        .route("/api/v1/api-keys/{id}/rotate", post(keys::rotate))
        .route("/api/v1/api-keys/{id}", delete(keys::revoke))
        .route("/api/v1/events", post(events::ingest))
        .route("/api/v1/incidents", get(incidents::list))
        .route("/api/v1/incidents/{id}", get(incidents::detail))
        .route(
            "/api/v1/incidents/{id}/status",
            post(incidents::change_status),
        )
        .route(
            "/api/v1/incidents/{id}/{incident}",
            get(incidents::remote_detail),
        )
        .route(
            "/api/v1/incidents/{id}/{incident}/status",
            post(incidents::remote_change_status),
        )
        .route("/api/v1/cms", get(cms::list))
        .route("/api/v1/federation/challenge", post(federation::challenge))
        .route("/api/v1/federation/register", post(federation::register))
        .route(
            "/api/v1/federation/proxy-token",
            post(federation::proxy_token),
        )
        .route("/api/v1/federation/sync", post(federation::sync))
        .route("/api/v1/federation/manifest", get(federation::manifest))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this endpoint",
            )
        })
}

/// Parses a numeric path id, naming the parameter when it is not one.
fn path_id(what: &str, raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        ApiError::bad_request(
            what,
            format!("{what} must be a positive integer, not {raw:?}"),
        )
    })
}
