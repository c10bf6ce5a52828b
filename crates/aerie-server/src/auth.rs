//! The HTTP edge of authentication: the [`Caller`] and [`Can`] extractors and the CM's
//! credential extractor [`CmPeer`].
//!
//! A caller authenticates with the session cookie, with `Authorization: Bearer <secret>`,
//! or (as the original product's clients do) with the bare API key as the
//! `Authorization` value. A handler that needs a right takes `Can<Right>`; one that only
//! needs a logged-in user takes `Can<View>` (every role includes view).

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, HeaderValue, Method, header, request::Parts},
};
use chrono::Utc;

use aerie_domain::user::{Permissions, RoleName, User};
use aerie_proto::federation::{FederationCode, acting};

pub use crate::rights::{Caller, Credential};
use crate::{
    error::OpError,
    federation::keys,
    rights::{Can, Right},
    secret::{SecretKind, secret_hash},
    state::AppState,
};

pub const SESSION_COOKIE: &str = "aerie_session";

/// The session cookie carrying `token`, kept by the browser until `expires`.
pub fn session_cookie(
    token: &str,
    expires: chrono::DateTime<chrono::Utc>,
) -> Result<HeaderValue, OpError> {
    let max_age = (expires - chrono::Utc::now()).num_seconds().max(0);
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={max_age}"
    ))
    .map_err(OpError::internal)
}

/// The header that clears the session cookie.
pub fn cleared_cookie() -> HeaderValue {
    HeaderValue::from_static("aerie_session=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.split(';').find_map(|pair| {
                let (k, val) = pair.trim().split_once('=')?;
                (k == name).then(|| val.to_owned())
            })
        })
}

/// A request riding on the session cookie must come from our own pages: browsers send
/// `Sec-Fetch-Site` and `Origin`, and a cross-site form or script would show itself there.
fn check_same_origin(parts: &Parts) -> Result<(), OpError> {
    if matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    from_our_origin(&parts.headers, &parts.uri)
}

/// Refuses a browser request whose `Sec-Fetch-Site` or `Origin` shows another site. The
/// host compared with is the `Host` header, or over HTTP/2 the request's authority.
pub fn from_our_origin(h: &HeaderMap, uri: &axum::http::Uri) -> Result<(), OpError> {
    let site = h.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if site.is_some_and(|s| s != "same-origin" && s != "none") {
        return Err(OpError::refused("cross-site request refused"));
    }
    if let Some(origin) = h.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = h
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| uri.authority().map(|a| a.as_str()));
        let origin_host = origin.split_once("://").map(|(_, rest)| rest);
        if origin_host.is_none() || origin_host != host {
            return Err(OpError::refused("cross-origin request refused"));
        }
    }
    Ok(())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = OpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, OpError> {
        let authz = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let (secret, credential) = match authz {
            Some(value) => {
                let secret = value
                    .strip_prefix("Bearer ")
                    .unwrap_or(value)
                    .trim()
                    .to_owned();
                let credential = if SecretKind::Session.marks(&secret) {
                    Credential::SessionToken
                } else {
                    Credential::ApiKey
                };
                (secret, credential)
            }
            None => match cookie(&parts.headers, SESSION_COOKIE) {
                Some(secret) => {
                    check_same_origin(parts)?;
                    (secret, Credential::SessionCookie)
                }
                None => return Err(OpError::unauthorized()),
            },
        };
        caller_for_secret(&parts.headers, state, secret, credential).await
    }
}

/// The caller a secret (an API key, a session's token, or this CM's MCM's proxy token)
/// belongs to; `headers` carry a proxied call's acting user.
pub(crate) async fn caller_for_secret(
    headers: &HeaderMap,
    state: &AppState,
    secret: String,
    credential: Credential,
) -> Result<Caller, OpError> {
    let hash = secret_hash(&secret);
    if SecretKind::Proxy.marks(&secret) {
        return mcm_caller(headers, state, &hash).await;
    }
    let user = match credential {
        Credential::ApiKey => state.store.api_key_user(&hash).await?,
        _ => state.store.session_user(&hash, Utc::now()).await?,
    };
    let user = user
        .filter(|u| !u.disabled)
        .ok_or_else(|| OpError::unauthenticated("invalid, expired or revoked credentials"))?;
    let session = matches!(
        credential,
        Credential::SessionCookie | Credential::SessionToken
    )
    .then_some(secret);
    Ok(Caller {
        user,
        credential,
        session,
    })
}

/// A live action from this CM's registered MCM: the MCM checked its user's role; the CM
/// checks that the MCM is its own and records the acting user as `USER@mcm`. The
/// permissions go through the same rule as every role's (`view` included).
async fn mcm_caller(headers: &HeaderMap, state: &AppState, hash: &str) -> Result<Caller, OpError> {
    let expected = state.store.setting(keys::MCM_PROXY_HASH).await?;
    if expected.as_deref() != Some(hash) {
        return Err(OpError::unauthenticated("not this CM's registered MCM"));
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let acting_user = aerie_domain::user::Username::parse(&format!("{}@mcm", header(acting::USER)))
        .map_err(|_| OpError::invalid(acting::USER, "the MCM sent no valid acting user"))?;
    let role = RoleName::parse(acting::ROLE, header(acting::ROLE))?;
    let permissions = Permissions::parse(acting::PERMISSIONS, header(acting::PERMISSIONS))?;
    Ok(Caller {
        user: User {
            id: aerie_domain::ids::UserId::new(0),
            username: acting_user,
            role,
            // What the MCM user may do, as the MCM says; it is the CM's own MCM (checked
            // above) and it checked the role before forwarding.
            permissions,
            disabled: false,
        },
        credential: Credential::Mcm,
        session: None,
    })
}

/// A caller holding the right `R`: 401 without a valid credential, 403 without the right.
impl<R: Right> FromRequestParts<AppState> for Can<R> {
    type Rejection = OpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, OpError> {
        Can::check(Caller::from_request_parts(parts, state).await?)
    }
}

/// A registered CM calling its MCM with the credential the MCM issued.
pub struct CmPeer(pub aerie_domain::federation::Cm);

impl FromRequestParts<AppState> for CmPeer {
    type Rejection = OpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, OpError> {
        let secret = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .filter(|s| SecretKind::CmCredential.marks(s))
            .ok_or_else(|| OpError::unauthenticated("a CM credential is required"))?;
        let cm = state
            .federation
            .mcm
            .peer(&state.federation, &secret_hash(secret))
            .await?
            .ok_or_else(|| {
                OpError::federation(
                    FederationCode::UnknownCm,
                    "unknown CM credential: register again",
                )
            })?;
        if cm.deregistered.is_some() {
            return Err(OpError::federation(
                FederationCode::Deregistered,
                "this CM was deregistered when the MCM configuration was removed",
            ));
        }
        Ok(CmPeer(cm))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cookie() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; aerie_session=st_x; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("st_x"));
    }
}
