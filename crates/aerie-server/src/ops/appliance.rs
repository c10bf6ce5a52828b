//! What the operator does from the appliance CLI (the admin socket, which is reached
//! only by root on the box): host name, FIPS mode, local users' passwords.

use chrono::Utc;

use aerie_domain::user::{Role, Username};
use aerie_proto::admin::UserRow;

use crate::{error::OpError, secret::hash_password, state::AppState};

/// `show users`.
pub async fn user_rows(state: &AppState) -> Result<Vec<UserRow>, OpError> {
    let users = state.store.users().await?;
    Ok(users
        .into_iter()
        .map(|u| UserRow {
            username: u.username.as_str().to_owned(),
            role: u.role.as_str().to_owned(),
            disabled: u.disabled,
        })
        .collect())
}

/// `set user NAME password P`: sets a user's password; creates the user with the admin
/// role if absent.
#[tracing::instrument(skip(state, password), fields(user = name.as_str()), err(level = "warn"))]
pub async fn set_user_password(
    state: &AppState,
    name: &Username,
    password: &str,
) -> Result<String, OpError> {
    aerie_domain::user::check_password("password", password)?;
    let hash = hash_password(password);
    match state.store.user_credentials(name).await? {
        Some((user, _)) => {
            state.store.set_password_hash(user.id, &hash, None).await?;
            tracing::info!("password set from the CLI; the user's sessions ended");
            Ok(format!("Password of {} changed.", name.as_str()))
        }
        None => {
            state
                .store
                .create_user(name, &hash, &Role::Admin.name(), Utc::now())
                .await?;
            tracing::info!("user created from the CLI");
            Ok(format!(
                "User {} created with the admin role.",
                name.as_str()
            ))
        }
    }
}
