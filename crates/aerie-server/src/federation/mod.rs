//! Federation: an MCM and the CMs registered to it (protocol in `docs/protocol.md`).
//!
//! [`configure`], [`show`], [`resync`] and [`remove`] are the `set mcm …` / `show mcm`
//! commands; [`cm`] is the CM's side (registration and the sync worker), [`mcm`] the
//! MCM's, and [`proxy`] the MCM's live calls to the CM that owns an incident. This code
//! is handed the store and the appliance, never the HTTP state.

pub mod cm;
pub mod keys;
pub mod mcm;
pub mod proxy;

use std::{sync::Arc, time::Duration};

use chrono::Utc;

use aerie_domain::{
    appliance::ApplianceRole, net::McmAddress, passphrase::Passphrase, user::Username,
};
use aerie_proto::{
    admin::McmStatus,
    device_key::{DeviceKey, Kdf},
};
use aerie_store::Store;

use crate::{appliance::Appliance, error::OpError};

/// One daemon's federation: what it needs (the store, the appliance) and the in-memory
/// state of both sides.
pub struct Federation {
    pub store: Arc<dyn Store>,
    pub appliance: Arc<Appliance>,
    pub cm: cm::CmSide,
    pub mcm: mcm::McmSide,
}

impl Federation {
    pub fn new(store: Arc<dyn Store>, appliance: Arc<Appliance>) -> Federation {
        Federation {
            store,
            appliance,
            cm: cm::CmSide::default(),
            mcm: mcm::McmSide::default(),
        }
    }

    /// Forgets what either side cached of the `mcm.*` settings and the CMs'
    /// credentials; every writer of those calls it.
    pub fn forget_config(&self) {
        self.cm.forget_config();
        self.mcm.forget_peers();
    }
}

fn input(message: impl Into<String>) -> OpError {
    OpError::invalid("mcm", message)
}

/// `set mcm ip ADDRESS passphrase P [username U]`.
pub async fn configure(
    fed: &Federation,
    address: &McmAddress,
    passphrase: &Passphrase,
    username: Option<&Username>,
) -> Result<String, OpError> {
    let username = match username {
        Some(u) => u.clone(),
        None => Username::parse("admin").expect("a valid name"),
    };
    let kdf = Kdf::for_fips(fed.appliance.fips().await?);
    let secret = passphrase.clone();
    let key = tokio::task::spawn_blocking(move || DeviceKey::derive(kdf, secret.expose()))
        .await
        .map_err(OpError::internal)?;
    let role = fed.appliance.role().await?;
    fed.forget_config();
    if address.is_this_box() {
        if role == ApplianceRole::Cm && cm::is_configured(fed).await? {
            return Err(input(
                "this CM is configured for another MCM: run 'set mcm remove' first, then convert it",
            ));
        }
        mcm::convert(fed, address, kdf, &key).await
    } else {
        if role == ApplianceRole::Mcm {
            return Err(input(
                "this appliance is the MCM: run 'set mcm remove' first to make it a CM again",
            ));
        }
        cm::configure(fed, address, &username, kdf, &key).await
    }
}

/// `show mcm`.
pub async fn show(fed: &Federation) -> Result<McmStatus, OpError> {
    match fed.appliance.role().await? {
        ApplianceRole::Mcm => mcm::show(fed).await,
        ApplianceRole::Cm => cm::show(fed).await,
    }
}

/// `set mcm resync`.
pub async fn resync(fed: &Federation) -> Result<String, OpError> {
    match fed.appliance.role().await? {
        ApplianceRole::Mcm => {
            Ok("resync has no effect on the MCM: it applies to CMs only.".to_owned())
        }
        ApplianceRole::Cm => cm::resync(fed).await,
    }
}

/// `set mcm remove`.
pub async fn remove(fed: &Federation) -> Result<String, OpError> {
    match fed.appliance.role().await? {
        ApplianceRole::Mcm => mcm::remove(fed, Utc::now()).await,
        ApplianceRole::Cm => cm::remove(fed).await,
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
