//! The caller's own API keys: create, list, rotate, revoke.

use axum::{
    Json,
    extract::{Path, State},
};
use chrono::Utc;

use aerie_domain::{text::Text, user::ApiKey};
use aerie_proto::{
    ErrorBody,
    auth::{ApiKeyInfo, ApiKeySecret, CreateApiKey},
    format_time,
};

use crate::{auth::Caller, error::OpError, json::ApiJson, state::AppState};

pub(super) fn info(key: &ApiKey) -> ApiKeyInfo {
    ApiKeyInfo {
        id: key.id.get(),
        name: key.name.as_str().to_owned(),
        prefix: key.prefix.clone(),
        created: format_time(key.created),
        revoked: key.revoked.map(format_time),
    }
}

/// A new secret and the parts of it that are stored.
pub(super) fn fresh() -> (String, String, String) {
    let secret = crate::secret::new_secret(crate::secret::SecretKind::ApiKey);
    let prefix = crate::secret::SecretKind::ApiKey.display_prefix(&secret);
    (crate::secret::secret_hash(&secret), prefix, secret)
}

fn not_yours(id: aerie_domain::ids::ApiKeyId) -> OpError {
    OpError::not_found(format!("live API key {id} of yours"))
}

/// Lists the caller's API keys, revoked ones included.
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "api keys",
    responses((status = 200, body = Vec<ApiKeyInfo>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<ApiKeyInfo>>, OpError> {
    let keys = state.store.api_keys(caller.user.id).await?;
    Ok(Json(keys.iter().map(info).collect()))
}

/// Creates an API key for the caller; the secret is in this response only.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "api keys", request_body = CreateApiKey,
    responses((status = 200, body = ApiKeySecret), (status = 400, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateApiKey>,
) -> Result<Json<ApiKeySecret>, OpError> {
    let name = Text::parse("name", &req.name, 64)?;
    let (hash, prefix, key) = fresh();
    let created = state
        .store
        .create_api_key(caller.user.id, &name, &hash, &prefix, Utc::now())
        .await?;
    tracing::info!(
        user = caller.user.username.as_str(),
        key = %created.id,
        "API key created"
    );
    crate::audit::by(
        &state,
        &caller,
        "api_key.create",
        format!("API key {}", created.id),
        "",
    )
    .await?;
    Ok(Json(ApiKeySecret {
        info: info(&created),
        key,
    }))
}

/// Replaces a key's secret; the old secret stops working at once.
#[utoipa::path(post, path = "/api/v1/api-keys/{id}/rotate", tag = "api keys",
    params(("id" = i64, Path, description = "API key id")),
    responses((status = 200, body = ApiKeySecret), (status = 404, body = ErrorBody)))]
pub async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ApiKeySecret>, OpError> {
    let id = super::path_id("id", &id)?;
    let (hash, prefix, key) = fresh();
    let rotated = state
        .store
        .rotate_api_key(caller.user.id, id, &hash, &prefix)
        .await?
        .ok_or_else(|| not_yours(id))?;
    tracing::info!(
        user = caller.user.username.as_str(),
        key = %id,
        "API key rotated"
    );
    crate::audit::by(
        &state,
        &caller,
        "api_key.rotate",
        format!("API key {}", id),
        "",
    )
    .await?;
    Ok(Json(ApiKeySecret {
        info: info(&rotated),
        key,
    }))
}

/// Revokes a key for good.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "api keys",
    params(("id" = i64, Path, description = "API key id")),
    responses((status = 200, body = ApiKeyInfo), (status = 404, body = ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ApiKeyInfo>, OpError> {
    let id = super::path_id("id", &id)?;
    if !state
        .store
        .revoke_api_key(caller.user.id, id, Utc::now())
        .await?
    {
        return Err(not_yours(id));
    }
    tracing::info!(
        user = caller.user.username.as_str(),
        key = %id,
        "API key revoked"
    );
    crate::audit::by(
        &state,
        &caller,
        "api_key.revoke",
        format!("API key {}", id),
        "",
    )
    .await?;
    let keys = state.store.api_keys(caller.user.id).await?;
    let key = keys
        .iter()
        .find(|k| k.id == id)
        .ok_or_else(|| not_yours(id))?;
    Ok(Json(info(key)))
}
