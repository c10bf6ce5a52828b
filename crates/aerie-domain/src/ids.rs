//! Identifiers: one type per kind of record, so that two ids cannot be swapped.

use std::fmt;

/// What every id type is: a positive number the store hands out.
pub trait Id: Copy + fmt::Display {
    fn from_number(n: i64) -> Self;
}

macro_rules! id_type {
    ($($(#[$meta:meta])* $name:ident;)+) => {$(
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(i64);

        impl $name {
            /// The id with this number (the store hands them out; an edge parses them).
            pub const fn new(n: i64) -> $name {
                $name(n)
            }

            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl Id for $name {
            fn from_number(n: i64) -> $name {
                $name(n)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    )+};
}

id_type! {
    /// An incident's number, unique within its CM.
    IncidentId;
    /// A user account.
    UserId;
    /// A CM registered with this MCM.
    CmId;
    /// One API key of a user.
    ApiKeyId;
    /// One applied mitigation.
    MitigationId;
    /// One whitelist entry.
    WhitelistId;
}

/// Parses a positive id from text (a path segment), naming `field` when it is not one.
pub fn parse_id<T: Id>(field: &str, raw: &str) -> Result<T, crate::DomainError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .map(T::from_number)
        .ok_or_else(|| {
            crate::DomainError::new(
                field,
                format!("{field} must be a positive integer, not {raw:?}"),
            )
        })
}
