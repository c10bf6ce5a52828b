//! Users who log in with an outside authority (RADIUS, a SAML IdP): their role mapping
//! and their accounts. Such a user has no local password: their password hash is a
//! marker naming the authority, which no password verifies against.

use chrono::Utc;

use aerie_domain::user::{RoleName, User, Username};

use crate::{error::OpError, state::AppState};

/// The authorities a user can come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Authority {
    Radius,
    Saml,
}

impl Authority {
    /// The password hash that marks a user as this authority's.
    pub fn marker(self) -> &'static str {
        match self {
            Authority::Radius => "!external:radius",
            Authority::Saml => "!external:saml",
        }
    }

    /// The authority a stored password hash marks, if any.
    pub fn of_hash(hash: &str) -> Option<Authority> {
        [Authority::Radius, Authority::Saml]
            .into_iter()
            .find(|a| a.marker() == hash)
    }

    pub fn label(self) -> &'static str {
        match self {
            Authority::Radius => "RADIUS",
            Authority::Saml => "SSO",
        }
    }
}

/// Parses `VALUE = ROLE` lines (blank lines skipped); every role must exist, seeded
/// or custom. `field` names the form field in errors.
pub async fn parse_role_map(
    state: &AppState,
    field: &str,
    text: &str,
) -> Result<Vec<(String, String)>, OpError> {
    let mut map = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let at = |m: String| OpError::invalid(field, format!("line {}: {m}", n + 1));
        let (value, role) = line
            .split_once('=')
            .ok_or_else(|| at("write VALUE = ROLE".to_owned()))?;
        let value = value.trim();
        if value.is_empty() {
            return Err(at("the value before '=' is empty".to_owned()));
        }
        let role = RoleName::parse(field, role.trim()).map_err(|e| at(e.message))?;
        super::users::permissions_of(state, &role)
            .await
            .map_err(|_| at(format!("no role {role}")))?;
        map.push((value.to_owned(), role.to_string()));
    }
    Ok(map)
}

/// The role of the first mapping whose value is among `values`.
pub fn mapped_role(map: &[(String, String)], values: &[String]) -> Option<RoleName> {
    map.iter()
        .find(|(value, _)| values.iter().any(|v| v == value))
        .and_then(|(_, role)| RoleName::parse("role", role).ok())
}

/// Why an outside login gets no account here.
#[derive(Debug, PartialEq, Eq)]
pub enum NoAccount {
    /// The account is disabled.
    Disabled,
    /// A user of this name exists and is local, or another authority's.
    NameTaken,
}

/// The account of `username` from `authority`, with `role`: created on first login, its
/// role brought up to date on later ones.
pub async fn provision(
    state: &AppState,
    authority: Authority,
    username: &Username,
    role: &RoleName,
) -> Result<Result<User, NoAccount>, OpError> {
    match state.store.user_credentials(username).await? {
        Some((_, hash)) if hash != authority.marker() => Ok(Err(NoAccount::NameTaken)),
        Some((user, _)) if user.disabled => Ok(Err(NoAccount::Disabled)),
        Some((user, _)) if user.role == *role => Ok(Ok(user)),
        Some((user, _)) => Ok(Ok(state
            .store
            .update_user(user.id, Some(role), None)
            .await?)),
        None => Ok(Ok(state
            .store
            .create_user(username, authority.marker(), role, Utc::now())
            .await?)),
    }
}
