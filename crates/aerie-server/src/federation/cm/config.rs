//! The CM's MCM configuration: one typed record read from the `mcm.*` settings, cached
//! in memory, and the settings the worker writes back.

use std::collections::HashMap;

use aerie_domain::net::McmAddress;
use aerie_proto::device_key::{DeviceKey, Kdf};

use crate::{
    error::OpError,
    federation::{Federation, keys},
    secret::{SecretKind, new_secret},
};

/// What `set mcm ip …` stored and registration added.
#[derive(Clone)]
pub struct McmConfig {
    pub address: McmAddress,
    pub username: String,
    pub kdf: Kdf,
    pub key: DeviceKey,
    /// The MCM certificate pinned at registration.
    pub fingerprint: Option<aerie_client::Fingerprint>,
    /// The credential the MCM issued; `None` until registered.
    pub credential: Option<String>,
    /// The highest change sequence number the MCM acknowledged, in `epoch`.
    pub cursor: i64,
    /// The resync epoch of this CM's stream.
    pub epoch: i64,
    /// A resync of `epoch` was started and has not completed: it runs before anything
    /// else is sent.
    pub resync_pending: bool,
    /// The MCM said this CM is deregistered.
    pub deregistered: bool,
}

/// What the cache knows: nothing yet, no MCM configured, or the configuration.
#[derive(Clone, Default)]
pub(super) enum Cached {
    #[default]
    Unread,
    Unconfigured,
    Configured(McmConfig),
}

/// The cached configuration and a generation that every [`Federation::forget_config`]
/// bumps, so that a read racing with a change is not cached.
#[derive(Default)]
pub(super) struct ConfigCache {
    generation: u64,
    config: Cached,
}

impl ConfigCache {
    pub(super) fn forget(&mut self) {
        self.generation += 1;
        self.config = Cached::Unread;
    }
}

/// The configuration, from the cache when it is there.
pub async fn load(fed: &Federation) -> Result<Option<McmConfig>, OpError> {
    let generation = {
        let cache = fed.cm.config.lock().expect("config lock");
        match &cache.config {
            Cached::Configured(config) => return Ok(Some(config.clone())),
            Cached::Unconfigured => return Ok(None),
            Cached::Unread => cache.generation,
        }
    };
    let config = read(fed).await?;
    let mut cache = fed.cm.config.lock().expect("config lock");
    if cache.generation == generation {
        cache.config = match &config {
            Some(c) => Cached::Configured(c.clone()),
            None => Cached::Unconfigured,
        };
    }
    Ok(config)
}

async fn read(fed: &Federation) -> Result<Option<McmConfig>, OpError> {
    let settings: HashMap<String, String> = fed
        .store
        .settings_with_prefix("mcm.")
        .await?
        .into_iter()
        .collect();
    let get = |name: &str| settings.get(name).cloned();
    let Some(address) = get(keys::MCM_ADDRESS) else {
        return Ok(None);
    };
    let address = McmAddress::parse(&address)?;
    let kdf = get(keys::MCM_KDF).and_then(|k| Kdf::parse(&k));
    let key = get(keys::MCM_DEVICE_KEY).and_then(|k| DeviceKey::from_hex(&k));
    let (Some(kdf), Some(key)) = (kdf, key) else {
        return Err(OpError::internal(
            "the MCM configuration lacks its device key",
        ));
    };
    Ok(Some(McmConfig {
        address,
        username: get(keys::MCM_USERNAME).unwrap_or_else(|| "admin".to_owned()),
        kdf,
        key,
        fingerprint: get(keys::MCM_FINGERPRINT).and_then(|f| f.parse().ok()),
        credential: get(keys::MCM_CREDENTIAL),
        cursor: get(keys::MCM_CURSOR)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0),
        epoch: get(keys::MCM_EPOCH)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0),
        resync_pending: get(keys::MCM_RESYNC_PENDING).is_some(),
        deregistered: get(keys::MCM_DEREGISTERED).is_some(),
    }))
}

/// Records an acknowledged cursor in the cached configuration (the store has it too).
pub fn remember_cursor(fed: &Federation, cursor: i64) {
    let mut cache = fed.cm.config.lock().expect("config lock");
    if let Cached::Configured(config) = &mut cache.config {
        config.cursor = cursor;
    }
}

/// Records that the stream must resync in `epoch` before anything else is sent; it
/// holds across restarts until [`resynced`].
pub async fn begin_resync(fed: &Federation, epoch: i64) -> Result<(), OpError> {
    fed.store
        .set_setting(keys::MCM_EPOCH, &epoch.to_string())
        .await?;
    fed.store.set_setting(keys::MCM_RESYNC_PENDING, "1").await?;
    fed.forget_config();
    Ok(())
}

/// Records a completed resync (its cursor already written).
pub async fn resynced(fed: &Federation) -> Result<(), OpError> {
    fed.store.delete_setting(keys::MCM_RESYNC_PENDING).await?;
    fed.forget_config();
    Ok(())
}

/// Stores a new MCM configuration, replacing every `mcm.*` setting.
pub async fn store_new(
    fed: &Federation,
    address: &McmAddress,
    username: &str,
    kdf: Kdf,
    key: &DeviceKey,
) -> Result<(), OpError> {
    erase(fed).await?;
    store_moved(fed, address, username, kdf, key).await
}

/// Points a registered CM at a new MCM it has just registered with: the address, user
/// and key replace the old ones (the new credential is saved by the caller).
pub async fn store_moved(
    fed: &Federation,
    address: &McmAddress,
    username: &str,
    kdf: Kdf,
    key: &DeviceKey,
) -> Result<(), OpError> {
    let s = &fed.store;
    s.set_setting(keys::MCM_USERNAME, username).await?;
    s.set_setting(keys::MCM_KDF, kdf.id()).await?;
    s.set_setting(keys::MCM_DEVICE_KEY, &key.to_hex()).await?;
    s.set_setting(keys::MCM_ADDRESS, &address.to_string())
        .await?;
    s.delete_setting(keys::MCM_DEREGISTERED).await?;
    fed.forget_config();
    Ok(())
}

/// Forgets every `mcm.*` setting (the CM's uid stays).
pub async fn erase(fed: &Federation) -> Result<(), OpError> {
    for name in keys::ALL_MCM {
        fed.store.delete_setting(name).await?;
    }
    fed.forget_config();
    Ok(())
}

/// This CM's stable uid, made on first use.
pub async fn uid(fed: &Federation) -> Result<String, OpError> {
    if let Some(uid) = fed.store.setting(keys::CM_UID).await? {
        return Ok(uid);
    }
    let uid = new_secret(SecretKind::CmUid)[..27].to_owned();
    fed.store.set_setting(keys::CM_UID, &uid).await?;
    Ok(uid)
}
