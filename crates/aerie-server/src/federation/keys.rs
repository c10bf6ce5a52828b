//! Names of the federation settings in the store.

/// The MCM address as typed (on the MCM: `127.0.0.1`).
pub const MCM_ADDRESS: &str = "mcm.address";
pub const MCM_USERNAME: &str = "mcm.username";
/// The KDF id the device key was derived with.
pub const MCM_KDF: &str = "mcm.kdf";
/// The device key, hex.
pub const MCM_DEVICE_KEY: &str = "mcm.device_key";
/// CM: the MCM certificate pinned at registration.
pub const MCM_FINGERPRINT: &str = "mcm.fingerprint";
/// CM: the credential the MCM issued to this CM.
pub const MCM_CREDENTIAL: &str = "mcm.credential";
pub const MCM_CM_ID: &str = "mcm.cm_id";
/// CM: the highest change sequence number the MCM acknowledged.
pub const MCM_CURSOR: &str = "mcm.cursor";
/// CM: the resync epoch this CM's stream is in.
pub const MCM_EPOCH: &str = "mcm.epoch";
/// CM: set while a resync of the current epoch has not completed.
pub const MCM_RESYNC_PENDING: &str = "mcm.resync_pending";
/// CM: set when the MCM said this CM is deregistered.
pub const MCM_DEREGISTERED: &str = "mcm.deregistered";
/// CM: the hash of the token the MCM presents for live actions.
pub const MCM_PROXY_HASH: &str = "mcm.proxy_token_hash";
/// CM: this CM's stable identity towards any MCM.
pub const CM_UID: &str = "cm.uid";

/// Everything `set mcm remove` forgets (the CM's uid stays).
pub const ALL_MCM: &[&str] = &[
    MCM_ADDRESS,
    MCM_USERNAME,
    MCM_KDF,
    MCM_DEVICE_KEY,
    MCM_FINGERPRINT,
    MCM_CREDENTIAL,
    MCM_CM_ID,
    MCM_CURSOR,
    MCM_EPOCH,
    MCM_RESYNC_PENDING,
    MCM_DEREGISTERED,
    MCM_PROXY_HASH,
];
