//! The service layer: one plain async function per operation, called alike by the JSON
//! API, the web UI, the admin socket and the sync worker.
//!
//! An operation takes the appliance state, the caller's proven right (`&Can<R>`, see
//! [`crate::rights`]) where it needs one, and typed arguments; it returns
//! `Result<_, OpError>`. It never sees HTTP: the edge parses the request into these
//! arguments and turns the `OpError` into a status in one place
//! ([`crate::error::OpError::status`]). Operations that change something are audited
//! here and carry a `tracing` span with the ids that matter.

pub mod appliance;
pub mod backup;
pub mod certificates;
pub mod cms;
pub mod correlation;
pub mod external;
pub mod incidents;
pub mod ingest;
pub mod investigation;
pub mod keys;
pub mod licensing;
pub mod radius;
pub mod remote;
pub mod roles;
pub mod saml;
pub mod sessions;
pub mod settings;
pub mod siem;
pub mod updates;
pub mod uploads;
pub mod users;
