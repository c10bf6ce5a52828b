//! Login and logout.

use std::net::SocketAddr;

use axum::{
    Json,
    extract::{ConnectInfo, State},
    http::header,
    response::{IntoResponse, Response},
};

use aerie_proto::{
    ErrorBody,
    auth::{LoginRequest, LoginResponse},
    format_time,
};

use crate::{
    audit,
    auth::{self, Caller},
    error::OpError,
    json::ApiJson,
    ops::sessions,
    state::AppState,
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
        match sessions::log_in(&state, peer.ip(), &req.username, &req.password).await? {
            Ok(session) => session,
            Err(sessions::Refused::TooMany(wait)) => return Err(wait.into()),
            Err(sessions::Refused::Wrong) => return Err(bad_login()),
        };
    let body = LoginResponse {
        token: token.clone(),
        username: user.username.as_str().to_owned(),
        role: user.role.as_str().to_owned(),
        expires: format_time(expires),
    };
    let mut resp = Json(body).into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, auth::session_cookie(&token, expires)?);
    Ok(resp)
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
        .insert(header::SET_COOKIE, auth::cleared_cookie());
    Ok(resp)
}
