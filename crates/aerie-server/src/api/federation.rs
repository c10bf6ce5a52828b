//! The MCM's federation endpoints, called by CMs (see `docs/protocol.md`).

use std::net::SocketAddr;

use axum::{
    Json,
    extract::{ConnectInfo, Query, State},
};
use serde::Deserialize;

use aerie_proto::federation::{
    Challenge, MAX_MANIFEST_ROWS, Manifest, ProxyToken, RegisterRequest, RegisterResponse, SyncAck,
    SyncRequest,
};

use crate::{auth::CmPeer, error::OpError, federation::mcm, json::ApiJson, state::AppState};

pub async fn challenge(State(state): State<AppState>) -> Result<Json<Challenge>, OpError> {
    Ok(Json(mcm::challenge(&state.federation).await?))
}

pub async fn register(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> Result<Json<RegisterResponse>, OpError> {
    Ok(Json(
        mcm::register(&state.federation, &req, peer.ip()).await?,
    ))
}

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

pub async fn sync(
    State(state): State<AppState>,
    CmPeer(cm): CmPeer,
    ApiJson(req): ApiJson<SyncRequest>,
) -> Result<Json<SyncAck>, OpError> {
    Ok(Json(mcm::sync(&state.federation, &cm, &req).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestParams {
    after: Option<i64>,
}

pub async fn manifest(
    State(state): State<AppState>,
    CmPeer(cm): CmPeer,
    Query(params): Query<ManifestParams>,
) -> Result<Json<Manifest>, OpError> {
    let after = params.after.unwrap_or(0);
    let items = state
        .store
        .manifest(cm.id, after, MAX_MANIFEST_ROWS)
        .await?;
    let next = (items.len() == MAX_MANIFEST_ROWS as usize)
        .then(|| items.last().map(|(id, _)| id.get()))
        .flatten();
    Ok(Json(Manifest {
        items: items.into_iter().map(|(id, v)| (id.get(), v)).collect(),
        next,
    }))
}
