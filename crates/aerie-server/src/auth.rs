//! Who is calling: passwords, session tokens, API keys, and the [`Caller`] extractor.
//!
//! Session tokens (`st_…`) and API keys (`ak_…`) are 256-bit random secrets; only their
//! SHA-256 is stored. A caller authenticates with the session cookie, with
//! `Authorization: Bearer <secret>`, or (as the original product's clients do) with the
//! bare API key as the `Authorization` value.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, Method, StatusCode, header, request::Parts},
};
use base64::Engine;
use chrono::Utc;

use aerie_domain::user::{Permission, Permissions, Role, RoleName, User};

use crate::{error::ApiError, state::AppState};

pub const SESSION_COOKIE: &str = "aerie_session";
pub const SESSION_PREFIX: &str = "st_";
pub const API_KEY_PREFIX: &str = "ak_";
/// Tokens the MCM presents to a CM for live actions.
pub const PROXY_PREFIX: &str = "px_";
/// Credentials the MCM issues to CMs.
pub const CM_CREDENTIAL_PREFIX: &str = "cm_";

/// Hashes a password as an Argon2id PHC string.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(ApiError::internal)
}

/// Whether `password` matches the PHC string `hash`.
pub fn verify_password(hash: &str, password: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// A PHC hash of a password nobody knows, verified against when the user does not exist so
/// that unknown and known user names take the same time.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&new_secret("")).expect("hash a random password"))
}

/// A fresh 256-bit random secret, base64url, after `prefix`.
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system RNG works");
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The stored form of a secret: SHA-256, hex.
pub fn secret_hash(secret: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// How the caller proved who they are.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Credential {
    SessionCookie,
    SessionToken,
    ApiKey,
    /// The registered MCM acting for one of its users.
    Mcm,
}

/// An authenticated, enabled user.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user: User,
    pub credential: Credential,
    /// The session secret, when the caller used one (for logout).
    pub session: Option<String>,
}

impl Caller {
    /// Refuses unless the caller's role allows `p`; the refusal names the seeded roles
    /// that do.
    pub fn require(&self, p: Permission) -> Result<(), ApiError> {
        if self.user.can(p) {
            return Ok(());
        }
        let roles: Vec<&str> = Role::ALL
            .iter()
            .filter(|r| r.permissions().contains(p))
            .map(|r| r.as_str())
            .collect();
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "this needs the {p} permission (the {} roles have it); your role {} does not",
                roles.join(" and "),
                self.user.role
            ),
        ))
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
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
fn check_same_origin(parts: &Parts) -> Result<(), ApiError> {
    if matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    from_our_origin(&parts.headers, &parts.uri)
}

/// Refuses a browser request whose `Sec-Fetch-Site` or `Origin` shows another site. The
/// host compared with is the `Host` header, or over HTTP/2 the request's authority.
pub fn from_our_origin(h: &HeaderMap, uri: &axum::http::Uri) -> Result<(), ApiError> {
    let site = h.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if site.is_some_and(|s| s != "same-origin" && s != "none") {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "cross-site request refused",
        ));
    }
    if let Some(origin) = h.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = h
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| uri.authority().map(|a| a.as_str()));
        let origin_host = origin.split_once("://").map(|(_, rest)| rest);
        if origin_host.is_none() || origin_host != host {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "cross-origin request refused",
            ));
        }
    }
    Ok(())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
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
                let credential = if secret.starts_with(SESSION_PREFIX) {
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
                None => return Err(ApiError::unauthorized()),
            },
        };
        let hash = secret_hash(&secret);
        if secret.starts_with(PROXY_PREFIX) {
            return mcm_caller(parts, state, &hash).await;
        }
        let user = match credential {
            Credential::ApiKey => state.store.api_key_user(&hash).await?,
            _ => state.store.session_user(&hash, Utc::now()).await?,
        };
        let user = user.filter(|u| !u.disabled).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid, expired or revoked credentials",
            )
        })?;
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
}

/// A live action from this CM's registered MCM: the MCM checked its user's role; the CM
/// checks that the MCM is its own and records the acting user as `USER@mcm`.
async fn mcm_caller(parts: &Parts, state: &AppState, hash: &str) -> Result<Caller, ApiError> {
    use crate::federation::{keys, proxy};
    let expected = state.store.setting(keys::MCM_PROXY_HASH).await?;
    if expected.as_deref() != Some(hash) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "not this CM's registered MCM",
        ));
    }
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let acting =
        aerie_domain::user::Username::parse(&format!("{}@mcm", header(proxy::ACTING_USER)))
            .map_err(|_| {
                ApiError::bad_request(proxy::ACTING_USER, "the MCM sent no valid acting user")
            })?;
    let role = RoleName::parse(proxy::ACTING_ROLE, header(proxy::ACTING_ROLE))?;
    let permissions =
        Permissions::parse(proxy::ACTING_PERMISSIONS, header(proxy::ACTING_PERMISSIONS))?;
    Ok(Caller {
        user: User {
            id: 0,
            username: acting,
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

/// A registered CM calling its MCM with the credential the MCM issued.
pub struct CmPeer(pub aerie_domain::federation::Cm);

impl FromRequestParts<AppState> for CmPeer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        use aerie_proto::federation::codes;
        let secret = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .filter(|s| s.starts_with(CM_CREDENTIAL_PREFIX))
            .ok_or_else(|| {
                ApiError::new(StatusCode::UNAUTHORIZED, "a CM credential is required")
            })?;
        let cm = state
            .federation
            .mcm
            .peer(state, &secret_hash(secret))
            .await?
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unknown CM credential: register again",
                )
                .with_code(codes::UNKNOWN_CM)
            })?;
        if cm.deregistered.is_some() {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "this CM was deregistered when the MCM configuration was removed",
            )
            .with_code(codes::DEREGISTERED));
        }
        Ok(CmPeer(cm))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "wrong"));
        assert!(!verify_password("garbage", "x"));
    }

    #[test]
    fn secrets_are_random_and_hashed() {
        let a = new_secret(API_KEY_PREFIX);
        assert!(a.starts_with("ak_") && a.len() == 3 + 43);
        assert_ne!(a, new_secret(API_KEY_PREFIX));
        assert_eq!(secret_hash(&a).len(), 64);
        assert_ne!(secret_hash(&a), a);
    }

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
