//! The MCM's federation endpoints, called by CMs (see `docs/protocol.md`).

use std::net::SocketAddr;

use axum::{
    Json,
    extract::{ConnectInfo, State},
};

use aerie_proto::ErrorBody;
use aerie_proto::federation::{
    CertificateChallenge, CertificateProof, Challenge, ProxyToken, RegisterRequest,
    RegisterResponse, SyncAck, SyncRequest,
};

use crate::{auth::CmPeer, error::OpError, federation::mcm, json::ApiJson, state::AppState};

/// On the MCM: a registration nonce and the key derivation in use (no credential; at
/// most 32 pending per address).
#[utoipa::path(post, path = "/api/v1/federation/challenge", tag = "federation protocol",
    responses((status = 200, body = Challenge),
        (status = 404, description = "Not an MCM", body = ErrorBody),
        (status = 429, description = "Too many pending registrations", body = ErrorBody)))]
pub async fn challenge(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Result<Json<Challenge>, OpError> {
    Ok(Json(mcm::challenge(&state.federation, peer.ip()).await?))
}

/// On the MCM: proves with the device key the certificate it serves now, for a CM whose
/// pinned certificate is no longer presented (no credential: nothing secret travels).
#[utoipa::path(post, path = "/api/v1/federation/certificate", tag = "federation protocol",
    request_body = CertificateChallenge,
    responses((status = 200, body = CertificateProof),
        (status = 400, description = "Malformed nonce", body = ErrorBody),
        (status = 404, description = "Not an MCM", body = ErrorBody)))]
pub async fn certificate(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<CertificateChallenge>,
) -> Result<Json<CertificateProof>, OpError> {
    Ok(Json(mcm::certificate(&state.federation, &req).await?))
}

/// On the MCM: registers a CM that proves the shared passphrase (throttled per address
/// and claimed user).
#[utoipa::path(post, path = "/api/v1/federation/register", tag = "federation protocol",
    request_body = RegisterRequest,
    responses((status = 200, body = RegisterResponse),
        (status = 401, description = "Wrong passphrase or nonce", body = ErrorBody),
        (status = 403, description = "Not an enabled admin of the MCM", body = ErrorBody),
        (status = 409, description = "FIPS mode differs", body = ErrorBody),
        (status = 429, description = "Too many failures", body = ErrorBody)))]
pub async fn register(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> Result<Json<RegisterResponse>, OpError> {
    Ok(Json(
        mcm::register(&state.federation, &req, peer.ip()).await?,
    ))
}

/// On the MCM, from a registered CM: the token the MCM presents for live actions.
#[utoipa::path(post, path = "/api/v1/federation/proxy-token", tag = "federation protocol",
    request_body = ProxyToken,
    responses((status = 200, description = "Stored"),
        (status = 401, description = "No CM credential", body = ErrorBody)))]
pub async fn proxy_token(
    State(state): State<AppState>,
    CmPeer(cm): CmPeer,
    ApiJson(req): ApiJson<ProxyToken>,
) -> Result<Json<serde_json::Value>, OpError> {
    if !crate::secret::SecretKind::Proxy.marks(&req.token) || req.token.len() > 100 {
        return Err(OpError::invalid("token", "not a proxy token"));
    }
    state.store.set_cm_proxy_token(cm.id, &req.token).await?;
    Ok(Json(serde_json::json!({"status": "ok"})))
}

/// On the MCM, from a registered CM: one batch of its change stream, or a heartbeat.
#[utoipa::path(post, path = "/api/v1/federation/sync", tag = "federation protocol",
    request_body = SyncRequest,
    responses((status = 200, body = SyncAck),
        (status = 400, description = "A bad batch; `field` names it", body = ErrorBody),
        (status = 401, description = "No CM credential, or deregistered", body = ErrorBody)))]
pub async fn sync(
    State(state): State<AppState>,
    CmPeer(cm): CmPeer,
    ApiJson(req): ApiJson<SyncRequest>,
) -> Result<Json<SyncAck>, OpError> {
    let answer = mcm::sync(&state.federation, &cm, &req).await;
    let (name, changes) = (
        cm.name.as_str().to_owned(),
        req.upserts.len() + req.removals.len(),
    );
    state.metrics.record(|| {
        use crate::metrics::names;
        match &answer {
            Ok(_) => {
                metrics::counter!(names::SYNC_BATCHES, "cm" => name.clone()).increment(1);
                metrics::counter!(names::SYNC_CHANGES, "cm" => name).increment(changes as u64);
            }
            Err(e) => {
                metrics::counter!(names::SYNC_ERRORS, "cm" => name, "status" => e.status().as_u16().to_string())
                    .increment(1);
            }
        }
    });
    Ok(Json(answer?))
}
