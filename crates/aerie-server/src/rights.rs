//! Rights carried by types: who is calling ([`Caller`]) and proof that they may do a
//! thing ([`Can`]).
//!
//! An operation that needs a right takes `&Can<R>`; the only way to make one is
//! [`Can::check`] (the HTTP extractors call it), so a handler that forgot to check
//! cannot call the operation. Every role includes `view` (see
//! `aerie_domain::user::Permissions`), so `Can<View>` is "any logged-in, enabled user
//! whose role still exists".

use std::marker::PhantomData;

use aerie_domain::user::{Permission, User};

use crate::error::OpError;

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

/// A right an operation can demand.
pub trait Right: Send + Sync + 'static {
    const PERMISSION: Permission;
}

macro_rules! rights {
    ($($(#[$meta:meta])* $name:ident = $permission:ident;)+) => {$(
        $(#[$meta])*
        #[derive(Debug)]
        pub struct $name;
        impl Right for $name {
            const PERMISSION: Permission = Permission::$permission;
        }
    )+};
}

rights! {
    /// Read incidents, their details, artifacts and IVPs.
    View = View;
    /// Send sensor events and artifacts.
    SendEvents = SendEvents;
    /// Change status and comment.
    Triage = Triage;
    /// Apply and revoke mitigations.
    Mitigate = Mitigate;
    /// Add and remove whitelist entries.
    Whitelist = Whitelist;
    /// Manage users, roles, keys, the feed credential; read the audit log.
    Administer = Administer;
}

/// Refuses unless the caller's role allows `p`, naming the permission and the role.
fn holds(caller: &Caller, p: Permission) -> Result<(), OpError> {
    if caller.user.can(p) {
        Ok(())
    } else {
        Err(OpError::Forbidden {
            needs: p,
            role: caller.user.role.to_string(),
        })
    }
}

/// A caller proven to hold the right `R`.
#[derive(Debug)]
pub struct Can<R: Right> {
    caller: Caller,
    right: PhantomData<R>,
}

impl<R: Right> Clone for Can<R> {
    fn clone(&self) -> Self {
        Can {
            caller: self.caller.clone(),
            right: PhantomData,
        }
    }
}

impl<R: Right> Can<R> {
    /// The caller, if their role allows `R`; the refusal names the seeded roles that do.
    pub fn check(caller: Caller) -> Result<Can<R>, OpError> {
        holds(&caller, R::PERMISSION)?;
        Ok(Can {
            caller,
            right: PhantomData,
        })
    }

    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    pub fn user(&self) -> &User {
        &self.caller.user
    }

    /// Checks a right chosen at run time (the MCM's forwarded actions, whose right
    /// depends on the CM path). Named to stand out: prefer a `Can<R>` in the signature.
    pub fn check_at_runtime(&self, p: Permission) -> Result<(), OpError> {
        holds(&self.caller, p)
    }
}

/// The operator at the appliance console: the admin socket, reached only by root on the
/// box. Made only by [`crate::admin`], for each console connection.
#[derive(Debug)]
pub struct Console(());

impl Console {
    pub(crate) fn at_the_socket() -> Console {
        Console(())
    }
}

/// Who changes an appliance-wide setting: an admin through the web UI or the API, or
/// the operator at the console. The audit log names them (`cli` for the console).
#[derive(Clone, Copy)]
pub enum Operator<'a> {
    Admin(&'a Can<Administer>),
    Console(&'a Console),
    /// The appliance itself, on a schedule the operator set (automatic updates, backups).
    Scheduled,
}

impl Operator<'_> {
    pub fn name(&self) -> &str {
        match self {
            Operator::Admin(can) => can.user().username.as_str(),
            Operator::Console(_) => "cli",
            Operator::Scheduled => "scheduled",
        }
    }
}

#[cfg(test)]
mod tests {
    use aerie_domain::user::{Permissions, Role, Username};

    use super::*;

    fn caller(permissions: Permissions) -> Caller {
        Caller {
            user: User {
                id: aerie_domain::ids::UserId::new(1),
                username: Username::parse("u").unwrap(),
                role: Role::Viewer.name(),
                permissions,
                disabled: false,
            },
            credential: Credential::ApiKey,
            session: None,
        }
    }

    #[test]
    fn a_right_is_held_or_refused_by_name() {
        let viewer = caller(Role::Viewer.permissions());
        assert!(Can::<View>::check(viewer.clone()).is_ok());
        let refused = Can::<Triage>::check(viewer).unwrap_err();
        assert!(
            refused.to_string().contains("triage permission"),
            "{refused}"
        );
        assert!(Can::<View>::check(caller(Permissions::NONE)).is_err());
    }
}
