//! Users, their roles, and the names they log in with.

use crate::DomainError;

crate::string_enum! {
    /// What a user may do. Admins manage users; analysts act on incidents; viewers read.
    pub enum Role {
        Viewer = "viewer",
        Analyst = "analyst",
        Admin = "admin",
    }
}

/// A login name: 1–64 characters of letters, digits, `.`, `_`, `-`, `@`.
#[derive(Clone, PartialEq, Eq, Hash, Debug, serde::Serialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    pub fn parse(value: &str) -> Result<Self, DomainError> {
        let ok = (1..=64).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b));
        if !ok {
            return Err(DomainError::new(
                "username",
                "must be 1-64 characters of letters, digits, '.', '_', '-' or '@'",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A user account as the server sees it (never with its password hash).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct User {
    pub id: i64,
    pub username: Username,
    pub role: Role,
    pub disabled: bool,
}

/// An API key's public record; the secret itself is shown once, at creation or rotation.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ApiKey {
    pub id: i64,
    pub user_id: i64,
    pub name: crate::text::Text,
    /// The first characters of the secret, to tell keys apart.
    pub prefix: String,
    pub created: chrono::DateTime<chrono::Utc>,
    pub revoked: Option<chrono::DateTime<chrono::Utc>>,
}

/// The password rule: 8 to 256 characters.
pub fn check_password(field: &str, password: &str) -> Result<(), DomainError> {
    match password.chars().count() {
        0..8 => Err(DomainError::new(field, "must be at least 8 characters")),
        257.. => Err(DomainError::new(field, "must be at most 256 characters")),
        _ => Ok(()),
    }
}
