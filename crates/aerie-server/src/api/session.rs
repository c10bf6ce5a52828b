//! Login and logout.

use std::net::{IpAddr, SocketAddr};

use axum::{
    Json,
    extract::{ConnectInfo, State},
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use chrono::{TimeDelta, Utc};

use aerie_domain::user::{User, Username};
use aerie_proto::{
    ErrorBody,
    auth::{LoginRequest, LoginResponse},
    format_time,
};

use crate::{
    audit,
    auth::{Caller, SESSION_COOKIE},
    error::OpError,
    json::ApiJson,
    ops::{external::Authority, radius},
    state::AppState,
    throttle::TooMany,
};

fn bad_login() -> OpError {
    OpError::unauthenticated("wrong user name or password")
}

/// Exchanges a user name and password for a session token (also set as a cookie).
#[utoipa::path(post, path = "/api/v1/login", tag = "session", request_body = LoginRequest,
    responses(
        (status = 200, body = LoginResponse),
        (status = 401, description = "Wrong user name or password", body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, OpError> {
    let (user, token, expires) =
        match log_in(&state, peer.ip(), &req.username, &req.password).await? {
            Ok(session) => session,
            Err(Refused::TooMany(wait)) => return Err(wait.into()),
            Err(Refused::Wrong) => return Err(bad_login()),
        };
    let body = LoginResponse {
        token: token.clone(),
        username: user.username.as_str().to_owned(),
        role: user.role.as_str().to_owned(),
        expires: format_time(expires),
    };
    let mut resp = Json(body).into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&state, &token)?);
    Ok(resp)
}

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
) -> Result<Result<(User, String, chrono::DateTime<Utc>), Refused>, OpError> {
    let attempt = match state.login_throttle.attempt(ip, username) {
        Ok(attempt) => attempt,
        Err(wait) => {
            tracing::warn!(%ip, user = username, "login refused: too many failures");
            return Ok(Err(Refused::TooMany(wait)));
        }
    };
    let Some((user, method)) = authenticate(state, username, password).await? else {
        state.login_throttle.failed(attempt);
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
pub(crate) async fn open_session(
    state: &AppState,
    user: &User,
    method: &str,
) -> Result<(String, chrono::DateTime<Utc>), OpError> {
    let ttl = TimeDelta::minutes(state.config.session_ttl_minutes as i64);
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

/// The session cookie carrying `token`.
pub fn session_cookie(state: &AppState, token: &str) -> Result<HeaderValue, OpError> {
    let max_age = state.config.session_ttl_minutes * 60;
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={max_age}"
    ))
    .map_err(OpError::internal)
}

/// The header that clears the session cookie.
pub fn cleared_cookie() -> HeaderValue {
    HeaderValue::from_static("aerie_session=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Ends the caller's session. API keys are revoked instead, at `/api/v1/api-keys/{id}`.
#[utoipa::path(post, path = "/api/v1/logout", tag = "session",
    responses((status = 200, description = "Session ended")))]
pub async fn logout(State(state): State<AppState>, caller: Caller) -> Result<Response, OpError> {
    let Some(session) = &caller.session else {
        return Err(OpError::malformed(
            "this request used an API key, which has no session: revoke the key instead",
        ));
    };
    state
        .store
        .delete_session(&crate::secret::secret_hash(session))
        .await?;
    audit::by(&state, &caller, "logout", "session", "").await?;
    let mut resp = Json(serde_json::json!({"status": "logged out"})).into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, cleared_cookie());
    Ok(resp)
}
