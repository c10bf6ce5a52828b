//! What a round of the CM's worker comes to: a step, or a failure in the operator's
//! words (with the fix).

use aerie_client::ClientError;
use aerie_proto::federation::FederationCode;

use super::{SyncState, config::McmConfig};
use crate::error::OpError;

/// What one round of the worker achieved.
pub enum Step {
    /// More may be waiting: go again at once.
    Busy,
    /// Up to date.
    Idle,
    /// Nothing to do until reconfigured.
    Off,
}

/// Why a round failed.
#[derive(Debug)]
pub enum Failure {
    /// In the operator's words, with the fix.
    Error(String),
    /// The MCM said this CM is deregistered.
    Deregistered,
    /// The MCM no longer presents the pinned certificate: the worker asks it to prove
    /// the one it presents now (see `register::repin`).
    PinMismatch(String),
}

impl Failure {
    pub fn state(&self) -> SyncState {
        match self {
            Failure::Error(why) | Failure::PinMismatch(why) => SyncState::Failed(why.clone()),
            Failure::Deregistered => SyncState::Deregistered,
        }
    }
}

impl From<OpError> for Failure {
    fn from(e: OpError) -> Self {
        Failure::Error(e.to_string())
    }
}

impl From<aerie_store::StoreError> for Failure {
    fn from(e: aerie_store::StoreError) -> Self {
        OpError::from(e).into()
    }
}

/// A failed call to the MCM, said so that the operator knows what to do.
pub fn describe(e: &ClientError, config: &McmConfig) -> Failure {
    let message = match e.code() {
        Some(FederationCode::Deregistered) => return Failure::Deregistered,
        Some(FederationCode::UnknownUsername) => format!(
            "the MCM refused {} — create that admin user on the MCM or give another with 'username'",
            api_message(e)
        ),
        Some(FederationCode::WrongPassphrase) => {
            "wrong passphrase — the MCM derived a different device key; set the same passphrase on both".to_owned()
        }
        Some(FederationCode::FipsMismatch) => api_message(e),
        Some(FederationCode::NotMcm) => format!(
            "{} is not an MCM — convert it first with set mcm ip 127.0.0.1 passphrase …",
            config.address
        ),
        Some(FederationCode::UnknownCm) => {
            "the MCM does not know this CM's credential — register again with set mcm ip …".to_owned()
        }
        _ if e.is_pin_mismatch() => {
            return Failure::PinMismatch(format!(
                "MCM certificate changed — {} no longer presents the certificate pinned at \
                 registration",
                config.address
            ));
        }
        _ if e.status().is_none() => {
            format!("MCM unreachable at {}: {}", config.address.base_url(), e.root_cause())
        }
        Some(FederationCode::BadNonce) | None => {
            let why = api_message(e);
            let status = e.status().map_or(0, |s| s.as_u16());
            if why.trim().is_empty() || (status == 404 && e.code().is_none()) {
                format!(
                    "{} answered HTTP {status} to the federation API without an Aerie error: it is                      not an Aerie MCM — check the address and the port",
                    config.address
                )
            } else {
                format!("the MCM refused (HTTP {status}): {why}")
            }
        }
    };
    Failure::Error(message)
}

fn api_message(e: &ClientError) -> String {
    match e {
        ClientError::Api { body, .. } => body.error.clone(),
        other => other.to_string(),
    }
}
