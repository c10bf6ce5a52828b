//! Login and logout.

use axum::{
    Json,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{TimeDelta, Utc};

use aerie_domain::user::Username;
use aerie_proto::{
    ErrorBody,
    auth::{LoginRequest, LoginResponse},
    format_time,
};

use crate::{
    audit,
    auth::{self, Caller, SESSION_COOKIE, SESSION_PREFIX},
    error::ApiError,
    json::ApiJson,
    state::AppState,
};

fn bad_login() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "wrong user name or password")
}

/// Exchanges a user name and password for a session token (also set as a cookie).
#[utoipa::path(post, path = "/api/v1/login", tag = "session", request_body = LoginRequest,
    responses(
        (status = 200, body = LoginResponse),
        (status = 401, description = "Wrong user name or password", body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let found = match Username::parse(&req.username) {
        Ok(name) => state.store.user_credentials(&name).await?,
        Err(_) => None,
    };
    let user = match found {
        Some((user, hash)) if auth::verify_password(&hash, &req.password) && !user.disabled => user,
        Some((user, _)) => {
            audit::record(
                &state,
                user.username.as_str(),
                "login.failed",
                "session",
                "",
            )
            .await?;
            return Err(bad_login());
        }
        None => {
            auth::verify_password(auth::decoy_hash(), &req.password);
            return Err(bad_login());
        }
    };
    let ttl = TimeDelta::minutes(state.config.session_ttl_minutes as i64);
    let expires = Utc::now() + ttl;
    let token = auth::new_secret(SESSION_PREFIX);
    state
        .store
        .create_session(&auth::secret_hash(&token), user.id, expires)
        .await?;
    tracing::info!(user = user.username.as_str(), "login");
    audit::record(&state, user.username.as_str(), "login", "session", "").await?;
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={}",
        ttl.num_seconds()
    );
    let body = LoginResponse {
        token,
        username: user.username.as_str().to_owned(),
        role: user.role.as_str().to_owned(),
        expires: format_time(expires),
    };
    let mut resp = Json(body).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(ApiError::internal)?,
    );
    Ok(resp)
}

/// Ends the caller's session. API keys are revoked instead, at `/api/v1/api-keys/{id}`.
#[utoipa::path(post, path = "/api/v1/logout", tag = "session",
    responses((status = 200, description = "Session ended")))]
pub async fn logout(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let Some(session) = &caller.session else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "this request used an API key, which has no session: revoke the key instead",
        ));
    };
    state
        .store
        .delete_session(&auth::secret_hash(session))
        .await?;
    audit::by(&state, &caller, "logout", "session", "").await?;
    let mut resp = Json(serde_json::json!({"status": "logged out"})).into_response();
    let clear = format!("{SESSION_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0");
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&clear).map_err(ApiError::internal)?,
    );
    Ok(resp)
}
