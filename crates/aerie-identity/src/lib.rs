//! External identity: who a user is, according to a server Aerie does not run. No HTTP
//! here: the server crate turns these answers into sessions and roles.
//!
//! - [`radius`]: a RADIUS client (PAP, RFC 2865) with Message-Authenticator (RFC 3579).
//! - [`saml`]: a SAML 2.0 service provider (SP-initiated Web SSO).

pub mod radius;
pub mod saml;

#[cfg(feature = "testing")]
pub mod testing;
