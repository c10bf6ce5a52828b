//! Roles: the three seeded ones and custom roles built from permissions (admins).

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use chrono::Utc;

use aerie_domain::user::{Permissions, Role, RoleName};
use aerie_proto::{
    ErrorBody,
    investigation::{CreateRoleRequest, RoleOut},
};

use crate::rights::{Administer, Can};
use crate::{audit, error::OpError, json::ApiJson, state::AppState};

/// Every role with its permissions: the seeded ones first, then the custom ones by name.
#[utoipa::path(get, path = "/api/v1/roles", tag = "users",
    responses((status = 200, body = Vec<RoleOut>),
        (status = 403, description = "Needs the administer permission", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    _can: Can<Administer>,
) -> Result<Json<Vec<RoleOut>>, OpError> {
    let seeded = Role::ALL
        .iter()
        .map(|r| RoleOut::new(r.as_str(), true, r.permissions()));
    let custom = state.store.custom_roles().await?;
    let custom = custom
        .iter()
        .map(|r| RoleOut::new(r.name.as_str(), false, r.permissions));
    Ok(Json(seeded.chain(custom).collect()))
}

/// Creates a custom role from permissions.
#[utoipa::path(post, path = "/api/v1/roles", tag = "users", request_body = CreateRoleRequest,
    responses((status = 201, body = RoleOut), (status = 400, body = ErrorBody),
        (status = 409, description = "The name is taken or seeded", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    can: Can<Administer>,
    ApiJson(req): ApiJson<CreateRoleRequest>,
) -> Result<(StatusCode, Json<RoleOut>), OpError> {
    let name = RoleName::parse("name", &req.name)?;
    let permissions = Permissions::parse("permissions", &req.permissions.join(","))?;
    let role = state
        .store
        .create_role(&name, permissions, Utc::now())
        .await?;
    audit::by(
        &state,
        can.caller(),
        "role.create",
        format!("role {name}"),
        permissions.names(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(RoleOut::new(role.name.as_str(), false, role.permissions)),
    ))
}

/// Deletes a custom role that no user holds.
#[utoipa::path(delete, path = "/api/v1/roles/{name}", tag = "users",
    params(("name" = String, Path, description = "Role name")),
    responses((status = 200, description = "Deleted"), (status = 404, body = ErrorBody),
        (status = 409, description = "A user holds it, or it is seeded", body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    can: Can<Administer>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, OpError> {
    let name = RoleName::parse("name", &name)?;
    if name.seeded().is_some() {
        return Err(OpError::conflict(format!(
            "{name} is a seeded role and stays"
        )));
    }
    state.store.delete_role(&name).await?;
    audit::by(
        &state,
        can.caller(),
        "role.delete",
        format!("role {name}"),
        "",
    )
    .await?;
    Ok(Json(serde_json::json!({"deleted": name.as_str()})))
}
