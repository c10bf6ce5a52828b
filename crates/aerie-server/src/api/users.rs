//! User management (admins) and changing one's own password: the HTTP edge of
//! [`crate::ops::users`].

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};

use aerie_domain::{
    text::Text,
    user::{RoleName, Username},
};
use aerie_proto::{
    ErrorBody,
    auth::{ApiKeyInfo, ApiKeySecret, CreateApiKey},
    investigation::{CreateUserRequest, PasswordChange, UpdateUserRequest, UserOut},
};

use crate::ops::users::{self as ops, UserChange};
use crate::rights::{Administer, Can, View};
use crate::{error::OpError, json::ApiJson, state::AppState};

/// Every user, by name.
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, body = Vec<UserOut>),
        (status = 403, description = "Needs the admin role", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    can: Can<Administer>,
) -> Result<Json<Vec<UserOut>>, OpError> {
    let users = ops::list(&state, &can).await?;
    Ok(Json(users.iter().map(UserOut::from).collect()))
}

/// Creates a user with a role: viewer, analyst or admin.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUserRequest,
    responses((status = 201, body = UserOut), (status = 400, body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    can: Can<Administer>,
    ApiJson(req): ApiJson<CreateUserRequest>,
) -> Result<(StatusCode, Json<UserOut>), OpError> {
    let name = Username::parse(&req.username)?;
    let role = RoleName::parse("role", &req.role)?;
    let user = ops::create(&state, &can, &name, &req.password, &role).await?;
    Ok((StatusCode::CREATED, Json(UserOut::from(&user))))
}

/// Changes a user's role, disables or enables them (disabling ends their sessions), or
/// resets their password. The last enabled admin cannot be demoted or disabled.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", request_body = UpdateUserRequest,
    params(("id" = i64, Path, description = "User id")),
    responses((status = 200, body = UserOut), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "It would leave no enabled admin", body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    can: Can<Administer>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateUserRequest>,
) -> Result<Json<UserOut>, OpError> {
    let id = super::path_id("id", &id)?;
    let change = UserChange {
        role: req
            .role
            .as_deref()
            .map(|r| RoleName::parse("role", r))
            .transpose()?,
        disabled: req.disabled,
        password: req.password,
    };
    Ok(Json(UserOut::from(
        &ops::update(&state, &can, id, change).await?,
    )))
}

/// Changes the caller's own password; the current one is required.
#[utoipa::path(post, path = "/api/v1/password", tag = "users", request_body = PasswordChange,
    responses((status = 200, body = UserOut),
        (status = 400, description = "Wrong current password or a weak new one", body = ErrorBody)))]
pub async fn change_own_password(
    State(state): State<AppState>,
    can: Can<View>,
    ApiJson(req): ApiJson<PasswordChange>,
) -> Result<Json<UserOut>, OpError> {
    let user =
        ops::change_own_password(&state, &can, &req.current_password, &req.new_password).await?;
    Ok(Json(UserOut::from(&user)))
}

/// A user's API keys (admins), revoked ones included.
#[utoipa::path(get, path = "/api/v1/users/{id}/api-keys", tag = "users",
    params(("id" = i64, Path, description = "User id")),
    responses((status = 200, body = Vec<ApiKeyInfo>), (status = 404, body = ErrorBody)))]
pub async fn keys(
    State(state): State<AppState>,
    can: Can<Administer>,
    Path(id): Path<String>,
) -> Result<Json<Vec<ApiKeyInfo>>, OpError> {
    let keys = ops::keys(&state, &can, super::path_id("id", &id)?).await?;
    Ok(Json(keys.iter().map(super::keys::info).collect()))
}

/// Generates an API key for a user (admins), e.g. for a sensor account; the secret is in
/// this response only.
#[utoipa::path(post, path = "/api/v1/users/{id}/api-keys", tag = "users",
    params(("id" = i64, Path, description = "User id")), request_body = CreateApiKey,
    responses((status = 200, body = ApiKeySecret), (status = 404, body = ErrorBody)))]
pub async fn create_key(
    State(state): State<AppState>,
    can: Can<Administer>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<CreateApiKey>,
) -> Result<Json<ApiKeySecret>, OpError> {
    let id = super::path_id("id", &id)?;
    let name = Text::parse("name", &req.name, 64)?;
    let (created, key) = ops::create_key(&state, &can, id, &name).await?;
    Ok(Json(ApiKeySecret {
        info: super::keys::info(&created),
        key,
    }))
}

/// Revokes one of a user's API keys (admins).
#[utoipa::path(delete, path = "/api/v1/users/{id}/api-keys/{key}", tag = "users",
    params(("id" = i64, Path, description = "User id"), ("key" = i64, Path, description = "API key id")),
    responses((status = 200, body = Vec<ApiKeyInfo>), (status = 404, body = ErrorBody)))]
pub async fn revoke_key(
    State(state): State<AppState>,
    can: Can<Administer>,
    Path((id, key)): Path<(String, String)>,
) -> Result<Json<Vec<ApiKeyInfo>>, OpError> {
    let (id, key) = (super::path_id("id", &id)?, super::path_id("key", &key)?);
    let keys = ops::revoke_key(&state, &can, id, key).await?;
    Ok(Json(keys.iter().map(super::keys::info).collect()))
}
