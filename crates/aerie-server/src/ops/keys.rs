//! The caller's own API keys: create, list, rotate, revoke. Any logged-in caller manages
//! their own; admins manage other users' keys in [`super::users`].

use chrono::Utc;

use aerie_domain::{
    ids::ApiKeyId,
    text::Text,
    user::{ApiKey, User},
};

use crate::secret::{self, SecretKind};
use crate::{audit, auth::Caller, error::OpError, state::AppState};

/// A new secret, its stored hash and the prefix shown to tell keys apart.
struct Fresh {
    hash: String,
    prefix: String,
    secret: String,
}

fn fresh() -> Fresh {
    let secret = secret::new_secret(SecretKind::ApiKey);
    Fresh {
        hash: secret::secret_hash(&secret),
        prefix: SecretKind::ApiKey.display_prefix(&secret),
        secret,
    }
}

fn not_yours(id: ApiKeyId) -> OpError {
    OpError::not_found(format!("live API key {id} of yours"))
}

/// Stores a new key of `user`; returns it with its secret (not audited: the callers say
/// who did it).
pub(super) async fn create_for(
    state: &AppState,
    user: &User,
    name: &Text,
) -> Result<(ApiKey, String), OpError> {
    let f = fresh();
    let created = state
        .store
        .create_api_key(user.id, name, &f.hash, &f.prefix, Utc::now())
        .await?;
    Ok((created, f.secret))
}

/// The caller's keys, revoked ones included.
pub async fn list(state: &AppState, caller: &Caller) -> Result<Vec<ApiKey>, OpError> {
    Ok(state.store.api_keys(caller.user.id).await?)
}

/// A new key for the caller, with its secret (shown once).
#[tracing::instrument(skip_all, fields(user = caller.user.username.as_str()), err(level = "info"))]
pub async fn create(
    state: &AppState,
    caller: &Caller,
    name: &Text,
) -> Result<(ApiKey, String), OpError> {
    let (created, secret) = create_for(state, &caller.user, name).await?;
    tracing::info!(key = %created.id, "API key created");
    audit::by(
        state,
        caller,
        "api_key.create",
        format!("API key {}", created.id),
        "",
    )
    .await?;
    Ok((created, secret))
}

/// Replaces a key's secret; the old secret stops working at once.
#[tracing::instrument(skip_all, fields(user = caller.user.username.as_str(), key = %id), err(level = "info"))]
pub async fn rotate(
    state: &AppState,
    caller: &Caller,
    id: ApiKeyId,
) -> Result<(ApiKey, String), OpError> {
    let f = fresh();
    let rotated = state
        .store
        .rotate_api_key(caller.user.id, id, &f.hash, &f.prefix)
        .await?
        .ok_or_else(|| not_yours(id))?;
    tracing::info!("API key rotated");
    audit::by(state, caller, "api_key.rotate", format!("API key {id}"), "").await?;
    Ok((rotated, f.secret))
}

/// Revokes one of the caller's keys for good; returns it as it is now.
#[tracing::instrument(skip_all, fields(user = caller.user.username.as_str(), key = %id), err(level = "info"))]
pub async fn revoke(state: &AppState, caller: &Caller, id: ApiKeyId) -> Result<ApiKey, OpError> {
    if !state
        .store
        .revoke_api_key(caller.user.id, id, Utc::now())
        .await?
    {
        return Err(not_yours(id));
    }
    tracing::info!("API key revoked");
    audit::by(state, caller, "api_key.revoke", format!("API key {id}"), "").await?;
    list(state, caller)
        .await?
        .into_iter()
        .find(|k| k.id == id)
        .ok_or_else(|| not_yours(id))
}
