//! Users, their roles, and the names they log in with.

use crate::DomainError;

crate::string_enum! {
    /// One thing a role allows.
    pub enum Permission {
        /// Read incidents, their details, artifacts and IVPs.
        View = "view",
        /// Send sensor events and artifacts.
        SendEvents = "send_events",
        /// Change status and comment.
        Triage = "triage",
        /// Apply and revoke mitigations.
        Mitigate = "mitigate",
        /// Add and remove whitelist entries.
        Whitelist = "whitelist",
        /// Manage users, roles, other users' API keys, the feed credential; read the audit log.
        Administer = "administer",
    }
}

/// What a role allows. Every role includes [`Permission::View`]: [`Permissions::of`] adds
/// it and [`Permissions::parse`] refuses a list without it, so the only set without
/// `view` is [`Permissions::NONE`], held by a user whose custom role was removed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Permissions(u16);

impl Permissions {
    /// Nothing at all: a user whose custom role no longer exists.
    pub const NONE: Permissions = Permissions(0);

    /// A role's permissions: `list` and `view`.
    pub fn of(list: &[Permission]) -> Permissions {
        Permissions(list.iter().fold(1 << Permission::View as u16, |bits, p| {
            bits | 1 << *p as u16
        }))
    }

    pub fn contains(self, p: Permission) -> bool {
        self.0 & (1 << p as u16) != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .iter()
            .copied()
            .filter(move |p| self.contains(*p))
    }

    /// `view,triage`: how the set is stored and sent.
    pub fn names(self) -> String {
        self.iter()
            .map(Permission::as_str)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Parses [`Permissions::names`] of a role; every name must be known and `view` must
    /// be one of them.
    pub fn parse(field: &str, list: &str) -> Result<Permissions, DomainError> {
        let mut out = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            out.push(
                name.parse::<Permission>()
                    .map_err(|e| DomainError::new(field, e))?,
            );
        }
        if !out.contains(&Permission::View) {
            return Err(DomainError::new(field, "a role must include view"));
        }
        Ok(Permissions::of(&out))
    }
}

crate::string_enum! {
    /// The seeded roles. Admins manage users; analysts act on incidents; viewers read.
    pub enum Role {
        Viewer = "viewer",
        Analyst = "analyst",
        Admin = "admin",
    }
}

impl Role {
    pub fn permissions(self) -> Permissions {
        use Permission::*;
        match self {
            Role::Viewer => Permissions::of(&[View]),
            Role::Analyst => Permissions::of(&[View, SendEvents, Triage, Mitigate, Whitelist]),
            Role::Admin => Permissions::of(Permission::ALL),
        }
    }

    pub fn name(self) -> RoleName {
        RoleName(self.as_str().to_owned())
    }
}

/// The name of a role a user holds: a seeded [`Role`] or a custom one; 1–32 characters of
/// lower-case letters, digits, `_` and `-`.
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct RoleName(String);

impl RoleName {
    pub fn parse(field: &str, value: &str) -> Result<RoleName, DomainError> {
        let ok = (1..=32).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if ok {
            Ok(RoleName(value.to_owned()))
        } else {
            Err(DomainError::new(
                field,
                format!(
                    "{value:?} is not a role name: use 1-32 lower-case letters, digits, '_' or '-'"
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The seeded role of this name, if it is one.
    pub fn seeded(&self) -> Option<Role> {
        self.0.parse().ok()
    }
}

impl std::fmt::Display for RoleName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A role an admin built from permissions.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CustomRole {
    pub name: RoleName,
    pub permissions: Permissions,
    pub created: chrono::DateTime<chrono::Utc>,
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
    pub id: crate::ids::UserId,
    pub username: Username,
    pub role: RoleName,
    /// What the role allows (a custom role that was removed allows nothing).
    pub permissions: Permissions,
    pub disabled: bool,
}

impl User {
    pub fn can(&self, p: Permission) -> bool {
        self.permissions.contains(p)
    }
}

/// An API key's public record; the secret itself is shown once, at creation or rotation.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ApiKey {
    pub id: crate::ids::ApiKeyId,
    pub user_id: crate::ids::UserId,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_round_trip_and_seeded_roles() {
        let p = Permissions::parse("p", "view, triage").unwrap();
        assert!(p.contains(Permission::Triage) && !p.contains(Permission::Mitigate));
        assert_eq!(Permissions::parse("p", &p.names()).unwrap(), p);
        assert!(Permissions::parse("p", "view,fly").is_err());
        assert!(
            Permissions::parse("p", "triage").is_err(),
            "every role includes view"
        );
        assert!(Permissions::of(&[Permission::Triage]).contains(Permission::View));
        assert!(!Permissions::NONE.contains(Permission::View));
        assert!(Role::Admin.permissions().contains(Permission::Administer));
        assert!(!Role::Analyst.permissions().contains(Permission::Administer));
        assert_eq!(Role::Viewer.permissions().names(), "view");
        assert!(RoleName::parse("r", "Triage Team").is_err());
        assert_eq!(
            RoleName::parse("r", "admin").unwrap().seeded(),
            Some(Role::Admin)
        );
    }
}
