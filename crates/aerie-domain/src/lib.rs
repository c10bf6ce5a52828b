//! Aerie's domain: what an incident is and the rules that govern it.
//!
//! Sensors report [`event::NewEvent`]s; a CM groups them into [`incident::Incident`]s
//! (one endpoint, a 5-minute window), derives [`risk::Risk`] from severity, and moves
//! incidents through the [`status::Status`] workflow. Nothing here performs I/O.

pub mod analysis;
pub mod appliance;
pub mod artifact;
pub mod audit;
pub mod correlation;
pub mod error;
pub mod event;
pub mod federation;
pub mod grouping;
pub mod ids;
pub mod incident;
pub mod indicator;
pub mod ivp;
pub mod mitigation;
mod names;
pub mod net;
pub mod passphrase;
pub mod query;
pub mod risk;
pub mod settings;
pub mod status;
pub mod text;
pub mod user;
pub mod whitelist;

pub use error::DomainError;
