//! Federation: an MCM and the CMs registered to it (protocol in `docs/protocol.md`).
//!
//! [`configure`], [`show`], [`resync`] and [`remove`] are the `set mcm …` / `show mcm`
//! commands; [`cm`] runs the CM's registration and sync worker, [`mcm`] the MCM's side,
//! and [`proxy`] the MCM's live calls to the CM that owns an incident.

pub mod cm;
pub mod keys;
pub mod mcm;
pub mod proxy;

use std::time::Duration;

use chrono::Utc;

use aerie_domain::{net::McmAddress, user::Username};
use aerie_proto::{
    admin::McmStatus,
    device_key::{DeviceKey, Kdf},
};

use crate::{appliance::ApplianceRole, error::ApiError, state::AppState};

/// In-memory federation state of one daemon.
#[derive(Default)]
pub struct Federation {
    pub cm: cm::CmSide,
    pub mcm: mcm::McmSide,
}

fn input(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("mcm", message)
}

/// `set mcm ip ADDRESS passphrase P [username U]`.
pub async fn configure(
    state: &AppState,
    address: &str,
    passphrase: &str,
    username: Option<&str>,
) -> Result<String, ApiError> {
    let address = McmAddress::parse(address)?;
    let length = passphrase.chars().count();
    if !(8..=128).contains(&length) || passphrase.chars().any(char::is_control) {
        return Err(input(
            "the passphrase must be 8 to 128 characters without control characters",
        ));
    }
    let username = Username::parse(username.unwrap_or("admin"))?;
    let kdf = Kdf::for_fips(state.fips().await?);
    let secret = passphrase.to_owned();
    let key = tokio::task::spawn_blocking(move || DeviceKey::derive(kdf, &secret))
        .await
        .map_err(ApiError::internal)?;
    let role = state.role().await?;
    cm::forget_config(state);
    if address.is_this_box() {
        if role == ApplianceRole::Cm && state.store.setting(keys::MCM_ADDRESS).await?.is_some() {
            return Err(input(
                "this CM is configured for another MCM: run 'set mcm remove' first, then convert it",
            ));
        }
        mcm::convert(state, &address, kdf, &key).await
    } else {
        if role == ApplianceRole::Mcm {
            return Err(input(
                "this appliance is the MCM: run 'set mcm remove' first to make it a CM again",
            ));
        }
        cm::configure(state, &address, &username, kdf, &key).await
    }
}

/// `show mcm`.
pub async fn show(state: &AppState) -> Result<McmStatus, ApiError> {
    match state.role().await? {
        ApplianceRole::Mcm => mcm::show(state).await,
        ApplianceRole::Cm => cm::show(state).await,
    }
}

/// `set mcm resync`.
pub async fn resync(state: &AppState) -> Result<String, ApiError> {
    match state.role().await? {
        ApplianceRole::Mcm => {
            Ok("resync has no effect on the MCM: it applies to CMs only.".to_owned())
        }
        ApplianceRole::Cm => cm::resync(state).await,
    }
}

/// `set mcm remove`.
pub async fn remove(state: &AppState) -> Result<String, ApiError> {
    match state.role().await? {
        ApplianceRole::Mcm => mcm::remove(state, Utc::now()).await,
        ApplianceRole::Cm => cm::remove(state).await,
    }
}

/// Exponential backoff with full jitter: about 0.5 s, 1 s, 2 s … up to 30 s.
pub fn backoff(failures: u32) -> Duration {
    let ceiling = 500u64.saturating_mul(1 << failures.min(6)).min(30_000);
    let mut byte = [0u8; 2];
    aws_lc_rs::rand::fill(&mut byte).expect("the system RNG works");
    let jitter = u64::from(u16::from_le_bytes(byte)) * ceiling / u64::from(u16::MAX);
    Duration::from_millis(ceiling / 2 + jitter / 2)
}
