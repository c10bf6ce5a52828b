//! Roles: the HTTP edge of [`crate::ops::roles`].

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};

use aerie_domain::user::{Permissions, RoleName};
use aerie_proto::{
    ErrorBody,
    investigation::{CreateRoleRequest, RoleOut},
};

use crate::ops::roles::{self as ops, RoleInfo};
use crate::rights::{Administer, Can};
use crate::{error::OpError, json::ApiJson, state::AppState};

fn out(r: &RoleInfo) -> RoleOut {
    RoleOut::new(r.name.as_str(), r.seeded, r.permissions)
}

/// Every role with its permissions: the seeded ones first, then the custom ones by name.
#[utoipa::path(get, path = "/api/v1/roles", tag = "users",
    responses((status = 200, body = Vec<RoleOut>),
        (status = 403, description = "Needs the administer permission", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    can: Can<Administer>,
) -> Result<Json<Vec<RoleOut>>, OpError> {
    let roles = ops::list(&state, &can).await?;
    Ok(Json(roles.iter().map(out).collect()))
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
    let role = ops::create(&state, &can, &name, permissions).await?;
    Ok((StatusCode::CREATED, Json(out(&role))))
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
    ops::delete(&state, &can, &name).await?;
    Ok(Json(serde_json::json!({"deleted": name.as_str()})))
}
