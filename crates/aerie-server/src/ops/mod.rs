//! The service layer: one plain async function per operation, called alike by the JSON
//! API, the web UI, the admin socket and the sync worker.
//!
//! An operation takes the appliance state, the caller's proven right (`&Can<R>`, see
//! [`crate::rights`]) where it needs one, and typed arguments; it returns
//! `Result<_, OpError>`. It never sees HTTP: the edge parses the request into these
//! arguments and turns the `OpError` into a status in one place
//! ([`crate::error::OpError::status`]).

pub mod appliance;
