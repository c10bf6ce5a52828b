//! Users, their roles and their API keys (admins of this appliance), and changing one's
//! own password.

use chrono::Utc;

use aerie_domain::{
    ids::{ApiKeyId, UserId},
    text::Text,
    user::{ApiKey, Permission, Permissions, RoleName, User, Username, check_password},
};

use crate::rights::{Administer, Can, View};
use crate::{audit, auth::Credential, error::OpError, secret, state::AppState};

/// A change to a user: any of a new role, enabled or disabled, a new password.
#[derive(Default)]
pub struct UserChange {
    pub role: Option<RoleName>,
    pub disabled: Option<bool>,
    pub password: Option<String>,
}

/// Admins of this appliance only: an MCM user acting on a CM manages no CM users.
fn local_admin(can: &Can<Administer>) -> Result<(), OpError> {
    if can.caller().credential == Credential::Mcm {
        return Err(OpError::refused("MCM users cannot manage this CM's users"));
    }
    Ok(())
}

/// What a role that exists (seeded or custom) allows; unknown roles are refused.
pub async fn permissions_of(state: &AppState, name: &RoleName) -> Result<Permissions, OpError> {
    if let Some(seeded) = name.seeded() {
        return Ok(seeded.permissions());
    }
    let custom = state.store.custom_roles().await?;
    match custom.into_iter().find(|r| r.name == *name) {
        Some(r) => Ok(r.permissions),
        None => Err(OpError::invalid(
            "role",
            format!(
                "role: unknown role {:?}: expected viewer, analyst, admin or a custom role",
                name.as_str()
            ),
        )),
    }
}

/// Every user, by name.
pub async fn list(state: &AppState, can: &Can<Administer>) -> Result<Vec<User>, OpError> {
    local_admin(can)?;
    Ok(state.store.users().await?)
}

/// One user, by id.
pub async fn get(state: &AppState, can: &Can<Administer>, id: UserId) -> Result<User, OpError> {
    list(state, can)
        .await?
        .into_iter()
        .find(|u| u.id == id)
        .ok_or_else(|| OpError::not_found(format!("user {id}")))
}

/// Creates a user with an existing role.
#[tracing::instrument(skip_all, fields(user = name.as_str(), role = %role), err(level = "info"))]
pub async fn create(
    state: &AppState,
    can: &Can<Administer>,
    name: &Username,
    password: &str,
    role: &RoleName,
) -> Result<User, OpError> {
    local_admin(can)?;
    permissions_of(state, role).await?;
    check_password("password", password)?;
    let hash = secret::hash_password(password);
    let user = state
        .store
        .create_user(name, &hash, role, Utc::now())
        .await?;
    audit::by(
        state,
        can.caller(),
        "user.create",
        format!("user {}", name.as_str()),
        format!("role {role}"),
    )
    .await?;
    Ok(user)
}

/// Changes a user's role, disables or enables them, or resets their password (disabling
/// and a reset end their sessions; API keys stay). The last enabled admin cannot be demoted or disabled.
#[tracing::instrument(skip_all, fields(user = %id), err(level = "info"))]
pub async fn update(
    state: &AppState,
    can: &Can<Administer>,
    id: UserId,
    change: UserChange,
) -> Result<User, OpError> {
    local_admin(can)?;
    let new_permissions = match &change.role {
        Some(role) => Some(permissions_of(state, role).await?),
        None => None,
    };
    if let Some(p) = &change.password {
        check_password("password", p)?;
    }
    if change.role.is_none() && change.disabled.is_none() && change.password.is_none() {
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
    let stays_admin = administers(new_permissions.unwrap_or(user.permissions))
        && !change.disabled.unwrap_or(user.disabled);
    let other_admins = users
        .iter()
        .any(|u| u.id != id && administers(u.permissions) && !u.disabled);
    if administers(user.permissions) && !user.disabled && !stays_admin && !other_admins {
        return Err(OpError::conflict(format!(
            "{} is the last enabled user who may administer: give another user that first",
            user.username.as_str()
        )));
    }
    if let Some(p) = &change.password {
        state
            .store
            .set_password_hash(id, &secret::hash_password(p), None)
            .await?;
    }
    let updated = state
        .store
        .update_user(id, change.role.as_ref(), change.disabled)
        .await?;
    let mut what = Vec::new();
    if let Some(r) = &change.role {
        what.push(format!("role {r}"));
    }
    if let Some(d) = change.disabled {
        what.push(if d { "disabled" } else { "enabled" }.to_owned());
    }
    if change.password.is_some() {
        what.push("password reset".to_owned());
    }
    audit::by(
        state,
        can.caller(),
        "user.update",
        format!("user {}", updated.username.as_str()),
        what.join(", "),
    )
    .await?;
    Ok(updated)
}

/// Changes the caller's own password; the current one is required. The caller's other
/// sessions end (the one it came from stays); API keys stay.
#[tracing::instrument(skip_all, fields(user = can.user().username.as_str()), err(level = "info"))]
pub async fn change_own_password(
    state: &AppState,
    can: &Can<View>,
    current: &str,
    new: &str,
) -> Result<User, OpError> {
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
    if !secret::verify_password(&hash, current) {
        return Err(OpError::invalid(
            "current_password",
            "the current password is wrong",
        ));
    }
    check_password("new_password", new)?;
    // The session this change came from stays; every other one of this user ends.
    let own_session = can.caller().session.as_deref().map(secret::secret_hash);
    state
        .store
        .set_password_hash(user.id, &secret::hash_password(new), own_session.as_deref())
        .await?;
    audit::by(
        state,
        can.caller(),
        "user.password",
        format!("user {}", user.username.as_str()),
        "own password changed",
    )
    .await?;
    Ok(user)
}

/// A user's API keys, revoked ones included.
pub async fn keys(
    state: &AppState,
    can: &Can<Administer>,
    id: UserId,
) -> Result<Vec<ApiKey>, OpError> {
    let user = get(state, can, id).await?;
    Ok(state.store.api_keys(user.id).await?)
}

/// Generates an API key for a user (e.g. a sensor account): the key and its secret,
/// which is shown once.
#[tracing::instrument(skip_all, fields(user = %id), err(level = "info"))]
pub async fn create_key(
    state: &AppState,
    can: &Can<Administer>,
    id: UserId,
    name: &Text,
) -> Result<(ApiKey, String), OpError> {
    let user = get(state, can, id).await?;
    let (created, key) = super::keys::create_for(state, &user, name).await?;
    audit::by(
        state,
        can.caller(),
        "api_key.create",
        format!("API key {} of {}", created.id, user.username.as_str()),
        name.as_str(),
    )
    .await?;
    Ok((created, key))
}

/// Revokes one of a user's live API keys; returns the user's keys after.
#[tracing::instrument(skip_all, fields(user = %id, key = %key), err(level = "info"))]
pub async fn revoke_key(
    state: &AppState,
    can: &Can<Administer>,
    id: UserId,
    key: ApiKeyId,
) -> Result<Vec<ApiKey>, OpError> {
    let user = get(state, can, id).await?;
    if !state.store.revoke_api_key(user.id, key, Utc::now()).await? {
        return Err(OpError::not_found(format!(
            "live API key {key} of {}",
            user.username.as_str()
        )));
    }
    audit::by(
        state,
        can.caller(),
        "api_key.revoke",
        format!("API key {key} of {}", user.username.as_str()),
        "",
    )
    .await?;
    Ok(state.store.api_keys(user.id).await?)
}
