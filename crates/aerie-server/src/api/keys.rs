//! The caller's own API keys: the HTTP edge of [`crate::ops::keys`].

use axum::{
    Json,
    extract::{Path, State},
};

use aerie_domain::{text::Text, user::ApiKey};
use aerie_proto::{
    ErrorBody,
    auth::{ApiKeyInfo, ApiKeySecret, CreateApiKey},
    format_time,
};

use crate::ops::keys as ops;
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

fn secret((key, secret): (ApiKey, String)) -> Json<ApiKeySecret> {
    Json(ApiKeySecret {
        info: info(&key),
        key: secret,
    })
}

/// Lists the caller's API keys, revoked ones included.
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "api keys",
    responses((status = 200, body = Vec<ApiKeyInfo>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<ApiKeyInfo>>, OpError> {
    let keys = ops::list(&state, &caller).await?;
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
    Ok(secret(ops::create(&state, &caller, &name).await?))
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
    Ok(secret(
        ops::rotate(&state, &caller, super::path_id("id", &id)?).await?,
    ))
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
    let key = ops::revoke(&state, &caller, super::path_id("id", &id)?).await?;
    Ok(Json(info(&key)))
}
