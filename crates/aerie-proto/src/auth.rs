//! Login, sessions and API keys.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /api/v1/login`.
#[derive(Serialize, Deserialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A session: use `token` as `Authorization: Bearer <token>`, or the cookie set with it.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone)]
pub struct LoginResponse {
    pub token: String,
    pub username: String,
    pub role: String,
    /// When the session ends (RFC 3339).
    pub expires: String,
}

/// `POST /api/v1/api-keys`.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// What the key is for, e.g. `siem-export`.
    pub name: String,
}

/// An API key's public record.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq)]
pub struct ApiKeyInfo {
    pub id: i64,
    pub name: String,
    /// The first characters of the secret, to tell keys apart.
    pub prefix: String,
    pub created: String,
    pub revoked: Option<String>,
}

/// A new or rotated key. `key` is shown this once and never stored in clear.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone)]
pub struct ApiKeySecret {
    #[serde(flatten)]
    pub info: ApiKeyInfo,
    pub key: String,
}
