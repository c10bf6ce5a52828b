//! Roles: the three seeded ones and custom roles built from permissions (admins).

use chrono::Utc;

use aerie_domain::user::{Permissions, Role, RoleName};

use crate::rights::{Administer, Can};
use crate::{audit, error::OpError, state::AppState};

/// A role as the Roles page and the API list it.
pub struct RoleInfo {
    pub name: RoleName,
    pub seeded: bool,
    pub permissions: Permissions,
}

/// Every role with its permissions: the seeded ones first, then the custom ones by name.
pub async fn list(state: &AppState, _can: &Can<Administer>) -> Result<Vec<RoleInfo>, OpError> {
    let seeded = Role::ALL.iter().map(|r| RoleInfo {
        name: r.name(),
        seeded: true,
        permissions: r.permissions(),
    });
    let custom = state.store.custom_roles().await?;
    let custom = custom.into_iter().map(|r| RoleInfo {
        name: r.name,
        seeded: false,
        permissions: r.permissions,
    });
    Ok(seeded.chain(custom).collect())
}

/// Creates a custom role from permissions (which include view, by their rule).
#[tracing::instrument(skip_all, fields(role = %name), err(level = "info"))]
pub async fn create(
    state: &AppState,
    can: &Can<Administer>,
    name: &RoleName,
    permissions: Permissions,
) -> Result<RoleInfo, OpError> {
    let role = state
        .store
        .create_role(name, permissions, Utc::now())
        .await?;
    audit::by(
        state,
        can.caller(),
        "role.create",
        format!("role {name}"),
        permissions.names(),
    )
    .await?;
    Ok(RoleInfo {
        name: role.name,
        seeded: false,
        permissions: role.permissions,
    })
}

/// Deletes a custom role that no user holds; the seeded ones stay.
#[tracing::instrument(skip_all, fields(role = %name), err(level = "info"))]
pub async fn delete(
    state: &AppState,
    can: &Can<Administer>,
    name: &RoleName,
) -> Result<(), OpError> {
    if name.seeded().is_some() {
        return Err(OpError::conflict(format!(
            "{name} is a seeded role and stays"
        )));
    }
    state.store.delete_role(name).await?;
    audit::by(
        state,
        can.caller(),
        "role.delete",
        format!("role {name}"),
        "",
    )
    .await
}
