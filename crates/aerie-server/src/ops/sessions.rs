//! Logging in: the password check (local users by their hash, the rest by RADIUS), the
//! login throttle, and opening the session every login method ends with.

use std::net::IpAddr;

use chrono::{DateTime, TimeDelta, Utc};

use aerie_domain::user::{User, Username};

use super::{external::Authority, radius};
use crate::{audit, error::OpError, state::AppState, throttle::TooMany};

/// Why a login was refused.
pub enum Refused {
    /// Too many failures from this address, or for this user name, lately.
    TooMany(TooMany),
    /// Wrong user name or password (or a disabled user): nothing more is said.
    Wrong,
}

/// A login from `ip`, for the API and the login page alike: throttled per address and per
/// user name,
/// audited; opens a session and returns the user, its secret and expiry.
pub async fn log_in(
    state: &AppState,
    ip: IpAddr,
    username: &str,
    password: &str,
) -> Result<Result<(User, String, DateTime<Utc>), Refused>, OpError> {
    let attempt = match state.login_throttle.attempt(ip, username) {
        Ok(attempt) => attempt,
        Err(wait) => {
            tracing::warn!(%ip, user = username, "login refused: too many failures");
            return Ok(Err(Refused::TooMany(wait)));
        }
    };
    let Some((user, method)) = authenticate(state, username, password).await? else {
        state.login_throttle.failed(attempt);
        state.metrics.record(|| {
            metrics::counter!(crate::metrics::names::LOGIN_FAILURES).increment(1);
        });
        return Ok(Err(Refused::Wrong));
    };
    state.login_throttle.succeeded(attempt);
    let (token, expires) = open_session(state, &user, method).await?;
    Ok(Ok((user, token, expires)))
}

/// The user these credentials belong to, if they are right and the user is enabled: a
/// local user by their password, anyone else by the RADIUS servers (when RADIUS login
/// is on). Unknown users take as long as known ones; failures are audited.
async fn authenticate(
    state: &AppState,
    username: &str,
    password: &str,
) -> Result<Option<(User, &'static str)>, OpError> {
    let Ok(name) = Username::parse(username) else {
        crate::secret::verify_password(crate::secret::decoy_hash(), password);
        return Ok(None);
    };
    let found = state.store.user_credentials(&name).await?;
    match found {
        Some((user, hash)) if Authority::of_hash(&hash).is_none() => {
            if crate::secret::verify_password(&hash, password) && !user.disabled {
                return Ok(Some((user, "local")));
            }
            audit::record(
                state,
                user.username.as_str(),
                "login.failed",
                "session",
                "local",
            )
            .await?;
            Ok(None)
        }
        Some((user, hash)) if Authority::of_hash(&hash) == Some(Authority::Saml) => {
            crate::secret::verify_password(crate::secret::decoy_hash(), password);
            audit::record(
                state,
                user.username.as_str(),
                "login.failed",
                "session",
                "local: an SSO user has no password here",
            )
            .await?;
            Ok(None)
        }
        _ => match radius::log_in(state, &name, password).await? {
            radius::Outcome::Accepted(user) => Ok(Some((user, "radius"))),
            radius::Outcome::Refused => Ok(None),
            radius::Outcome::NotAsked => {
                crate::secret::verify_password(crate::secret::decoy_hash(), password);
                Ok(None)
            }
        },
    }
}

/// Opens a session for `user`, who logged in by `method` (audited); returns its secret
/// and expiry.
pub async fn open_session(
    state: &AppState,
    user: &User,
    method: &str,
) -> Result<(String, DateTime<Utc>), OpError> {
    let ttl = TimeDelta::minutes(super::settings::session_ttl_minutes(state).await? as i64);
    let expires = Utc::now() + ttl;
    let token = crate::secret::new_secret(crate::secret::SecretKind::Session);
    state
        .store
        .create_session(&crate::secret::secret_hash(&token), user.id, expires)
        .await?;
    tracing::info!(user = user.username.as_str(), method, "login");
    audit::record(state, user.username.as_str(), "login", "session", method).await?;
    Ok((token, expires))
}
