//! External identity: who a user is, according to a server Aerie does not run. No HTTP
//! here: the server crate turns these answers into sessions and roles.
//!
//! - [`radius`]: a RADIUS client (PAP, RFC 2865) with Message-Authenticator (RFC 3579).

pub mod radius;

#[cfg(feature = "testing")]
pub mod testing;
