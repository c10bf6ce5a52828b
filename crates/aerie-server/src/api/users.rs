//! User management (admins) and changing one's own password.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use chrono::Utc;

use aerie_domain::{
    text::Text,
    user::{Permission, Permissions, RoleName, User, Username, check_password},
};
use aerie_proto::{
    ErrorBody,
    auth::{ApiKeyInfo, ApiKeySecret, CreateApiKey},
    investigation::{CreateUserRequest, PasswordChange, UpdateUserRequest, UserOut},
};

use crate::rights::{Administer, Can, View};
use crate::{audit, auth::Credential, error::OpError, json::ApiJson, state::AppState};

/// Admins of this appliance only: an MCM user acting on a CM manages no CM users.
fn require_local_admin(can: &Can<Administer>) -> Result<(), OpError> {
    if can.caller().credential == Credential::Mcm {
        return Err(OpError::refused("MCM users cannot manage this CM's users"));
    }
    Ok(())
}

/// A role that exists (seeded or custom), and what it allows.
pub(crate) async fn role(state: &AppState, raw: &str) -> Result<(RoleName, Permissions), OpError> {
    let name = RoleName::parse("role", raw)?;
    if let Some(seeded) = name.seeded() {
        return Ok((name, seeded.permissions()));
    }
    let custom = state.store.custom_roles().await?;
    match custom.into_iter().find(|r| r.name == name) {
        Some(r) => Ok((name, r.permissions)),
        None => Err(OpError::invalid(
            "role",
            format!("role: unknown role {raw:?}: expected viewer, analyst, admin or a custom role"),
        )),
    }
}

/// Every user, by name.
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, body = Vec<UserOut>),
        (status = 403, description = "Needs the admin role", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    can: Can<Administer>,
) -> Result<Json<Vec<UserOut>>, OpError> {
    require_local_admin(&can)?;
    let users = state.store.users().await?;
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
    require_local_admin(&can)?;
    let name = Username::parse(&req.username)?;
    let (role, _) = role(&state, &req.role).await?;
    check_password("password", &req.password)?;
    let hash = crate::secret::hash_password(&req.password);
    let user = state
        .store
        .create_user(&name, &hash, &role, Utc::now())
        .await?;
    audit::by(
        &state,
        can.caller(),
        "user.create",
        format!("user {}", name.as_str()),
        format!("role {role}"),
    )
    .await?;
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
    require_local_admin(&can)?;
    let id = super::path_id("id", &id)?;
    let new_role = match req.role.as_deref() {
        Some(raw) => Some(role(&state, raw).await?),
        None => None,
    };
    if let Some(p) = &req.password {
        check_password("password", p)?;
    }
    if new_role.is_none() && req.disabled.is_none() && req.password.is_none() {
        return Err(OpError::invalid(
            "body",
            "nothing to change: give role, disabled or password",
        ));
    }
    let users = state.store.users().await?;
    let user = users
        .iter()
        .find(|u| u.id == id)
        .ok_or_else(|| OpError::not_found(format!("user {id}")))?;
    let administers = |p: Permissions| p.contains(Permission::Administer);
    let stays_admin = administers(new_role.as_ref().map_or(user.permissions, |r| r.1))
        && !req.disabled.unwrap_or(user.disabled);
    let other_admins = users
        .iter()
        .any(|u| u.id != id && administers(u.permissions) && !u.disabled);
    if administers(user.permissions) && !user.disabled && !stays_admin && !other_admins {
        return Err(OpError::conflict(format!(
            "{} is the last enabled user who may administer: give another user that first",
            user.username.as_str()
        )));
    }
    if let Some(p) = &req.password {
        state
            .store
            .set_password_hash(id, &crate::secret::hash_password(p))
            .await?;
    }
    let updated = state
        .store
        .update_user(id, new_role.as_ref().map(|r| &r.0), req.disabled)
        .await?;
    let mut what = Vec::new();
    if let Some((r, _)) = &new_role {
        what.push(format!("role {r}"));
    }
    if let Some(d) = req.disabled {
        what.push(if d { "disabled" } else { "enabled" }.to_owned());
    }
    if req.password.is_some() {
        what.push("password reset".to_owned());
    }
    audit::by(
        &state,
        can.caller(),
        "user.update",
        format!("user {}", updated.username.as_str()),
        what.join(", "),
    )
    .await?;
    Ok(Json(UserOut::from(&updated)))
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
    if can.caller().credential == Credential::Mcm {
        return Err(OpError::refused(
            "MCM users change their password on the MCM",
        ));
    }
    let (user, hash) = state
        .store
        .user_credentials(&can.user().username)
        .await?
        .ok_or_else(|| OpError::not_found("your user"))?;
    if !crate::secret::verify_password(&hash, &req.current_password) {
        return Err(OpError::invalid(
            "current_password",
            "the current password is wrong",
        ));
    }
    check_password("new_password", &req.new_password)?;
    state
        .store
        .set_password_hash(user.id, &crate::secret::hash_password(&req.new_password))
        .await?;
    audit::by(
        &state,
        can.caller(),
        "user.password",
        format!("user {}", user.username.as_str()),
        "own password changed",
    )
    .await?;
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
    require_local_admin(&can)?;
    let user = user_by_id(&state, &id).await?;
    let keys = state.store.api_keys(user.id).await?;
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
    require_local_admin(&can)?;
    let user = user_by_id(&state, &id).await?;
    let name = Text::parse("name", &req.name, 64)?;
    let (hash, prefix, key) = super::keys::fresh();
    let created = state
        .store
        .create_api_key(user.id, &name, &hash, &prefix, Utc::now())
        .await?;
    audit::by(
        &state,
        can.caller(),
        "api_key.create",
        format!("API key {} of {}", created.id, user.username.as_str()),
        name.as_str(),
    )
    .await?;
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
    require_local_admin(&can)?;
    let user = user_by_id(&state, &id).await?;
    let key = super::path_id("key", &key)?;
    if !state.store.revoke_api_key(user.id, key, Utc::now()).await? {
        return Err(OpError::not_found(format!(
            "live API key {key} of {}",
            user.username.as_str()
        )));
    }
    audit::by(
        &state,
        can.caller(),
        "api_key.revoke",
        format!("API key {key} of {}", user.username.as_str()),
        "",
    )
    .await?;
    let keys = state.store.api_keys(user.id).await?;
    Ok(Json(keys.iter().map(super::keys::info).collect()))
}

async fn user_by_id(state: &AppState, raw: &str) -> Result<User, OpError> {
    let id = super::path_id("id", raw)?;
    state
        .store
        .users()
        .await?
        .into_iter()
        .find(|u| u.id == id)
        .ok_or_else(|| OpError::not_found(format!("user {id}")))
}
