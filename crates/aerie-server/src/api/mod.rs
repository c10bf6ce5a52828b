//! The JSON API under `/api/v1`, plus `/healthz`.

mod artifacts;
mod audit_log;
mod campaigns;
pub(crate) mod cms;
pub(crate) mod compat;
mod events;
mod federation;
mod feeds;
mod health;
pub(crate) mod incidents;
mod ivp;
pub(crate) mod keys;
pub(crate) mod mitigations;
mod openapi;
pub(crate) mod remote;
pub(crate) mod roles;
pub(crate) mod session;
pub(crate) mod users;
pub(crate) mod whitelist;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    routing::{any, delete, get, patch, post},
};

use aerie_domain::incident::{Incident, IncidentId};

use crate::{error::OpError, state::AppState};

pub use openapi::ApiDoc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health::health))
        .route("/metrics", get(health::metrics))
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
            "/api/v1/incidents/{id}/{incident}/{*action}",
            any(remote::forward),
        )
        .route("/api/v1/incidents/{id}/comments", post(incidents::comment))
        .route(
            "/api/v1/incidents/{id}/artifacts/{sha256}",
            get(artifacts::download),
        )
        .route(
            "/api/v1/artifacts",
            post(artifacts::upload).layer(DefaultBodyLimit::max(
                crate::artifacts::MAX_ARTIFACT_BYTES + 1,
            )),
        )
        .route("/api/v1/incidents/{id}/ivp/{platform}", get(ivp::script))
        .route(
            "/api/v1/incidents/{id}/mitigations",
            post(mitigations::apply),
        )
        .route(
            "/api/v1/incidents/{id}/mitigations/{mitigation}",
            delete(mitigations::revoke),
        )
        .route("/api/v1/mitigations", get(mitigations::list))
        .route("/api/v1/feeds/credential", post(feeds::new_credential))
        .route("/feeds/{file}", get(feeds::feed))
        .route(
            "/api/v1/incidents/{id}/whitelist",
            post(whitelist::add_for_incident),
        )
        .route(
            "/api/v1/whitelist",
            get(whitelist::list).post(whitelist::add),
        )
        .route("/api/v1/whitelist/{id}", delete(whitelist::remove))
        .route("/api/v1/users", get(users::list).post(users::create))
        .route("/api/v1/users/{id}", patch(users::update))
        .route(
            "/api/v1/users/{id}/api-keys",
            get(users::keys).post(users::create_key),
        )
        .route(
            "/api/v1/users/{id}/api-keys/{key}",
            delete(users::revoke_key),
        )
        .route("/api/v1/password", post(users::change_own_password))
        .route("/api/v1/roles", get(roles::list).post(roles::create))
        .route("/api/v1/roles/{name}", delete(roles::delete))
        .route("/api/v1/audit", get(audit_log::list))
        .route("/api/v1/audit/verify", get(audit_log::verify))
        .route("/api/v1/cms", get(cms::list))
        .route("/api/v1/campaigns", get(campaigns::list))
        .route("/api/v1/federation/challenge", post(federation::challenge))
        .route("/api/v1/federation/register", post(federation::register))
        .route(
            "/api/v1/federation/certificate",
            post(federation::certificate),
        )
        .route(
            "/api/v1/federation/proxy-token",
            post(federation::proxy_token),
        )
        .route("/api/v1/federation/sync", post(federation::sync))
        .fallback(|| async { OpError::missing("no such endpoint") })
        .method_not_allowed_fallback(|| async { OpError::MethodNotAllowed })
}

/// Parses a numeric path id, naming the parameter when it is not one.
pub(crate) fn path_id<T: aerie_domain::ids::Id>(what: &str, raw: &str) -> Result<T, OpError> {
    Ok(aerie_domain::ids::parse_id(what, raw)?)
}

/// This CM's incident at path id `raw` (see [`crate::ops::incidents::local`]).
async fn local_incident(state: &AppState, raw: &str) -> Result<Incident, OpError> {
    crate::ops::incidents::local(state, path_id::<IncidentId>("id", raw)?).await
}
