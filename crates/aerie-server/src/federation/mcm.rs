//! The MCM's side: conversion, registration of CMs, applying their change streams in
//! resync epochs, and `set mcm remove`.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};

use aerie_domain::{
    federation::{Cm, CmRegistration},
    net::{CertFingerprint, HostName, McmAddress},
    text::Text,
    user::{Role, Username},
};
use aerie_proto::{
    admin::McmStatus,
    device_key::{DeviceKey, Kdf},
    federation::{
        CertificateChallenge, CertificateProof, Challenge, FederationCode, RegisterRequest,
        RegisterResponse, SyncAck, SyncRequest, certificate_message, fips_mismatch,
        register_message, registered_message,
    },
};

use aerie_domain::{appliance::ApplianceRole, ids::CmId};

use super::{Federation, keys};
use crate::{
    error::OpError,
    secret::{SecretKind, hash_password, new_secret, secret_hash},
};

/// Most registrations that may be pending at once.
const MAX_PENDING_NONCES: usize = 10_000;
/// Most registrations that may be pending from one address.
const MAX_PENDING_PER_ADDRESS: usize = 32;
/// How long a registration nonce stays valid.
const NONCE_TTL: Duration = Duration::from_secs(60);
/// The web UI account that holds the device key as its API key.
pub const MCM_ACCOUNT: &str = "mcm";

/// The MCM's in-memory state: outstanding nonces and one apply lock per CM, so that one
/// CM's batches are applied in the order they arrive.
#[derive(Default)]
pub struct McmSide {
    /// Outstanding registration nonces: when and to which address each was issued.
    nonces: Mutex<HashMap<String, (Instant, std::net::IpAddr)>>,
    apply_locks: Mutex<HashMap<CmId, Arc<tokio::sync::Mutex<()>>>>,
    /// Recently seen CM credentials (by hash), to spare a lookup per sync request.
    /// Registration and `set mcm remove` clear it.
    peers: Mutex<HashMap<String, (Cm, Instant)>>,
    /// Bumped after every applied sync batch: the web UI's live updates wait on it, as
    /// they wait on the store's change sequence on a CM.
    pub changes: tokio::sync::watch::Sender<i64>,
    /// Failed registrations per source address and claimed user (online guessing of the
    /// passphrase).
    registrations: crate::throttle::Throttle,
}

/// How long a cached CM credential is trusted before it is looked up again.
const PEER_TTL: Duration = Duration::from_secs(10);

impl McmSide {
    /// A fresh nonce for a CM at `ip`; `None` when too many registrations are pending, in
    /// all or from that address (an unauthenticated caller must neither grow this map
    /// without bound nor fill it for everyone else).
    fn issue_nonce(&self, ip: std::net::IpAddr) -> Option<String> {
        let nonce = new_secret(SecretKind::Nonce);
        let mut nonces = self.nonces.lock().expect("nonce lock");
        nonces.retain(|_, (issued, _)| issued.elapsed() < NONCE_TTL);
        let from_ip = nonces.values().filter(|(_, from)| *from == ip).count();
        if nonces.len() >= MAX_PENDING_NONCES || from_ip >= MAX_PENDING_PER_ADDRESS {
            return None;
        }
        nonces.insert(nonce.clone(), (Instant::now(), ip));
        Some(nonce)
    }

    /// Consumes a nonce; false if unknown, used or expired.
    fn take_nonce(&self, nonce: &str) -> bool {
        let issued = self.nonces.lock().expect("nonce lock").remove(nonce);
        issued.is_some_and(|(at, _)| at.elapsed() < NONCE_TTL)
    }

    /// The CM holding the credential with this hash, from the cache if fresh.
    pub async fn peer(&self, fed: &Federation, hash: &str) -> Result<Option<Cm>, OpError> {
        if let Some((cm, at)) = self.peers.lock().expect("peer lock").get(hash)
            && at.elapsed() < PEER_TTL
        {
            return Ok(Some(cm.clone()));
        }
        let cm = fed.store.cm_by_credential(hash).await?;
        if let Some(cm) = &cm {
            self.peers
                .lock()
                .expect("peer lock")
                .insert(hash.to_owned(), (cm.clone(), Instant::now()));
        }
        Ok(cm)
    }

    pub(super) fn forget_peers(&self) {
        self.peers.lock().expect("peer lock").clear();
    }

    fn apply_lock(&self, cm_id: CmId) -> Arc<tokio::sync::Mutex<()>> {
        self.apply_locks
            .lock()
            .expect("lock map")
            .entry(cm_id)
            .or_default()
            .clone()
    }
}

/// The secret of the MCM account's API key: derived from the device key, so whoever holds
/// the passphrase can compute it.
fn account_api_key(key: &DeviceKey) -> String {
    format!(
        "{}{}",
        SecretKind::ApiKey.prefix(),
        key.prove(b"aerie-mcm-api-key-v1")
    )
}

/// Revokes every key of the MCM account.
async fn revoke_account_keys(
    fed: &Federation,
) -> Result<Option<aerie_domain::ids::UserId>, OpError> {
    let name = Username::parse(MCM_ACCOUNT).expect("valid name");
    let Some((user, _)) = fed.store.user_credentials(&name).await? else {
        return Ok(None);
    };
    revoke_keys_except(fed, user.id, None).await?;
    Ok(Some(user.id))
}

/// Revokes the account's live keys but the one with hash `keep`.
async fn revoke_keys_except(
    fed: &Federation,
    user: aerie_domain::ids::UserId,
    keep: Option<&str>,
) -> Result<(), OpError> {
    for key in fed.store.api_keys(user).await? {
        if key.revoked.is_none() && Some(key.prefix.as_str()) != keep {
            fed.store.revoke_api_key(user, key.id, Utc::now()).await?;
        }
    }
    Ok(())
}

/// Makes this appliance the MCM, or re-keys it with a new passphrase. The device key's
/// account key is issued first and the settings written after, so a failure leaves the
/// previous configuration in force; the same passphrase again changes nothing.
pub async fn convert(
    fed: &Federation,
    address: &McmAddress,
    kdf: Kdf,
    key: &DeviceKey,
) -> Result<String, OpError> {
    let store = &fed.store;
    let name = Username::parse(MCM_ACCOUNT).expect("valid name");
    let user_id = match store.user_credentials(&name).await? {
        Some((user, _)) => user.id,
        None => {
            let unusable = hash_password(&new_secret(SecretKind::Password));
            store
                .create_user(&name, &unusable, &Role::Admin.name(), Utc::now())
                .await?
                .id
        }
    };
    let secret = account_api_key(key);
    let hash = secret_hash(&secret);
    let prefix = SecretKind::ApiKey.display_prefix(&secret);
    let already = fed.appliance.is_mcm().await?
        && store
            .api_key_user(&hash)
            .await?
            .is_some_and(|u| u.id == user_id);
    if already {
        return Ok(
            "This appliance is already the MCM with this passphrase; nothing changed.".to_owned(),
        );
    }
    // A key revoked by an earlier `set mcm remove` holds the same hash.
    store.forget_revoked_api_key(&hash).await?;
    let label = Text::parse("name", "device key", 64)?;
    store
        .create_api_key(user_id, &label, &hash, &prefix, Utc::now())
        .await?;
    revoke_keys_except(fed, user_id, Some(&prefix)).await?;
    store
        .set_setting(keys::MCM_ADDRESS, &address.to_string())
        .await?;
    store.set_setting(keys::MCM_KDF, kdf.id()).await?;
    store
        .set_setting(keys::MCM_DEVICE_KEY, &key.to_hex())
        .await?;
    fed.appliance.set_role(ApplianceRole::Mcm).await?;
    tracing::info!(kdf = kdf.id(), "this appliance is now the MCM");
    Ok(
        "This appliance is now the Manager of Central Managers. On each CM run, in cm mode: \
        set mcm ip <this MCM's address> passphrase <the same passphrase> username admin"
            .to_owned(),
    )
}

pub async fn show(fed: &Federation) -> Result<McmStatus, OpError> {
    let cms = fed.store.cms().await?;
    let now = Utc::now();
    let registered = cms.iter().filter(|c| c.deregistered.is_none()).count();
    let online = cms
        .iter()
        .filter(|c| c.state(now) == aerie_domain::federation::CmState::Online)
        .count();
    Ok(McmStatus {
        address: fed.store.setting(keys::MCM_ADDRESS).await?,
        username: None,
        role: "mcm".to_owned(),
        state: Some(format!("MCM: {registered} CMs registered, {online} online")),
        last_sync: cms
            .iter()
            .filter_map(|c| c.last_sync)
            .max()
            .map(aerie_proto::format_time),
        backlog: Some(
            cms.iter()
                .filter(|c| c.deregistered.is_none())
                .map(|c| c.backlog)
                .sum(),
        ),
        cms: Some(registered as i64),
        storage: fed.appliance.storage_problem().await?,
    })
}

/// `set mcm remove` on the MCM: every CM incident goes, every CM is deregistered, and the
/// appliance is a CM again.
pub async fn remove(fed: &Federation, at: DateTime<Utc>) -> Result<String, OpError> {
    let cms = fed
        .store
        .cms()
        .await?
        .iter()
        .filter(|c| c.deregistered.is_none())
        .count();
    let removed = fed.store.drop_federation(at).await?;
    revoke_account_keys(fed).await?;
    for name in keys::ALL_MCM {
        fed.store.delete_setting(name).await?;
    }
    fed.mcm.forget_peers();
    fed.appliance.set_role(ApplianceRole::Cm).await?;
    tracing::warn!(
        removed,
        cms,
        "MCM configuration removed; this appliance is a CM again"
    );
    Ok(format!(
        "MCM configuration removed: {removed} incidents deleted, {cms} CMs deregistered. \
         This appliance is a Central Manager again."
    ))
}

/// Registration and sync are the MCM's; a CM answers with the code that makes the
/// registering CM say "convert it first".
async fn require_mcm(fed: &Federation) -> Result<(), OpError> {
    if fed.appliance.role().await? == ApplianceRole::Mcm {
        Ok(())
    } else {
        Err(OpError::federation(
            FederationCode::NotMcm,
            "this appliance is not an MCM",
        ))
    }
}

async fn device_key(fed: &Federation) -> Result<(Kdf, DeviceKey), OpError> {
    let kdf = fed
        .store
        .setting(keys::MCM_KDF)
        .await?
        .and_then(|k| Kdf::parse(&k));
    let key = fed
        .store
        .setting(keys::MCM_DEVICE_KEY)
        .await?
        .and_then(|k| DeviceKey::from_hex(&k));
    match (kdf, key) {
        (Some(kdf), Some(key)) => Ok((kdf, key)),
        _ => Err(OpError::internal("the MCM has no device key")),
    }
}

pub async fn challenge(fed: &Federation, ip: std::net::IpAddr) -> Result<Challenge, OpError> {
    require_mcm(fed).await?;
    let (kdf, _) = device_key(fed).await?;
    let nonce = fed.mcm.issue_nonce(ip).ok_or_else(|| {
        tracing::warn!(%ip, "registration challenge refused: too many pending");
        OpError::Throttled {
            message: "too many registrations pending: retry in a minute".to_owned(),
            retry_after: NONCE_TTL.as_secs(),
        }
    })?;
    Ok(Challenge {
        nonce,
        kdf: kdf.id().to_owned(),
    })
}

/// Proves, with the device key, the certificate this MCM serves now, to a CM whose pin
/// no longer matches (after a certificate change here). Nothing secret is asked for or
/// given: the proof binds the CM's nonce and this certificate only.
pub async fn certificate(
    fed: &Federation,
    req: &CertificateChallenge,
) -> Result<CertificateProof, OpError> {
    require_mcm(fed).await?;
    if req.nonce.len() != 64 || !req.nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(OpError::invalid(
            "nonce",
            "the nonce is 32 random bytes as 64 hex digits",
        ));
    }
    // An unknown, deregistered or unfinished CM gets the same answer as a stranger.
    let unknown = || OpError::not_found(format!("CM {}", req.cm_id));
    let cm = fed
        .store
        .cm(aerie_domain::ids::CmId::new(req.cm_id))
        .await?
        .filter(|cm| cm.deregistered.is_none())
        .ok_or_else(unknown)?;
    let proxy_hash = secret_hash(cm.proxy_token.as_deref().ok_or_else(unknown)?);
    let (_, key) = device_key(fed).await?;
    let fingerprint = fed.appliance.identity.fingerprint();
    Ok(CertificateProof {
        proof: key.prove(&certificate_message(
            &req.nonce,
            &fingerprint,
            req.cm_id,
            &proxy_hash,
        )),
        fingerprint,
    })
}

/// The nonce, the key derivation, the proof of the passphrase, and only then the MCM
/// user: who is an enabled admin here is said only to a CM that proved the passphrase.
async fn check_registration(
    fed: &Federation,
    req: &RegisterRequest,
    peer_ip: std::net::IpAddr,
) -> Result<(Kdf, DeviceKey), OpError> {
    let (kdf, key) = device_key(fed).await?;
    if !fed.mcm.take_nonce(&req.nonce) {
        return Err(OpError::federation(
            FederationCode::BadNonce,
            "the registration nonce is unknown or expired: retry",
        ));
    }
    let mcm_fips = fed.appliance.fips().await?;
    if kdf.is_fips() != mcm_fips {
        return Err(OpError::federation(
            FederationCode::FipsMismatch,
            "the MCM's FIPS mode changed since it was converted: run set mcm ip 127.0.0.1 \
             passphrase … on the MCM again to derive its device key in the new mode",
        ));
    }
    if req.kdf != kdf.id() {
        return Err(OpError::federation(
            FederationCode::FipsMismatch,
            fips_mismatch(mcm_fips),
        ));
    }
    let message = register_message(
        &req.nonce,
        &fed.appliance.identity.fingerprint(),
        &req.username,
        &req.cm_uid,
        &req.cm_fingerprint,
    );
    if !key.verify(&message, &req.proof) {
        tracing::warn!(cm = %req.cm_name, ip = %peer_ip, "registration refused: wrong passphrase (or a man in the middle)");
        return Err(OpError::federation(
            FederationCode::WrongPassphrase,
            "wrong passphrase: the CM's device key does not match the MCM's (or a man in the middle \
             altered the connection)",
        ));
    }
    let user = match Username::parse(&req.username) {
        Ok(name) => fed.store.user_credentials(&name).await?.map(|(u, _)| u),
        Err(_) => None,
    };
    let why = match user {
        None => "is not a user of the MCM",
        Some(u) if u.disabled => "is disabled on the MCM",
        Some(u) if !u.can(aerie_domain::user::Permission::Administer) => {
            "is not an admin of the MCM (its role may not administer)"
        }
        Some(_) => return Ok((kdf, key)),
    };
    Err(OpError::federation(
        FederationCode::UnknownUsername,
        format!(
            "username {:?} {why}: give an enabled admin user of the MCM",
            req.username
        ),
    ))
}

pub async fn register(
    fed: &Federation,
    req: &RegisterRequest,
    peer_ip: std::net::IpAddr,
) -> Result<RegisterResponse, OpError> {
    require_mcm(fed).await?;
    let attempt = fed
        .mcm
        .registrations
        .attempt(peer_ip, &req.username)
        .inspect_err(|_| {
            tracing::warn!(ip = %peer_ip, user = req.username, "registration refused: too many failures");
        })?;
    let (kdf, key) = match check_registration(fed, req, peer_ip).await {
        Ok(checked) => {
            fed.mcm.registrations.succeeded(attempt);
            checked
        }
        Err(e) => {
            fed.mcm.registrations.failed(attempt);
            return Err(e);
        }
    };
    let fingerprint = fed.appliance.identity.fingerprint();
    let check = |field: &str, value: &str, max: usize| -> Result<String, OpError> {
        Ok(Text::parse(field, value, max)?.as_str().to_owned())
    };
    let credential = new_secret(SecretKind::CmCredential);
    let registration = CmRegistration {
        uid: check("cm_uid", &req.cm_uid, 64)?,
        name: HostName::parse("cm_name", &req.cm_name)?,
        url: check("cm_url", &req.cm_url, 300)?,
        ip: advertised_ip(&req.cm_url).unwrap_or(peer_ip),
        version: check("version", &req.version, 32)?,
        fips: kdf.is_fips(),
        cert_fingerprint: CertFingerprint::parse("cm_fingerprint", &req.cm_fingerprint)?,
        credential_hash: secret_hash(&credential),
    };
    fed.mcm.forget_peers();
    let cm = fed.store.register_cm(&registration, Utc::now()).await?;
    tracing::info!(cm = %cm.name, id = %cm.id, ip = %cm.ip, "CM registered");
    let mcm_proof = key.prove(&registered_message(
        &req.nonce,
        &fingerprint,
        cm.id.get(),
        &credential,
    ));
    Ok(RegisterResponse {
        cm_id: cm.id.get(),
        credential,
        mcm_proof,
    })
}

/// The IP address in a CM's URL, when it names one (a CM behind NAT or on a loopback
/// alias is better known by the address it serves at than by the one it connects from).
fn advertised_ip(url: &str) -> Option<std::net::IpAddr> {
    let authority = url.strip_prefix("https://")?.split('/').next()?;
    let host = match authority.strip_prefix('[') {
        Some(rest) => rest.split(']').next()?,
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host.parse().ok()
}

/// The MCM's rows as the API shows them: each with its CM's id, name and IP.
pub async fn incident_rows(
    store: &dyn aerie_store::Store,
    rows: &[aerie_domain::federation::RemoteIncident],
) -> Result<Vec<aerie_proto::incidents::IncidentOut>, OpError> {
    let cms: HashMap<CmId, Cm> = store.cms().await?.into_iter().map(|c| (c.id, c)).collect();
    Ok(rows
        .iter()
        .map(|r| {
            let out = aerie_proto::incidents::IncidentOut::from(&r.incident);
            match cms.get(&r.cm_id) {
                Some(cm) => with_cm(out, cm),
                None => aerie_proto::incidents::IncidentOut {
                    cm_id: Some(r.cm_id.get()),
                    ..out
                },
            }
        })
        .collect())
}

/// `out` marked as the incident of `cm`.
pub fn with_cm(
    mut out: aerie_proto::incidents::IncidentOut,
    cm: &Cm,
) -> aerie_proto::incidents::IncidentOut {
    out.cm_id = Some(cm.id.get());
    out.cm_name = Some(cm.name.to_string());
    out.cm_ip = Some(cm.ip.to_string());
    out
}

/// Applies one sync request of `cm`; answers the acknowledged sequence number.
pub async fn sync(fed: &Federation, cm: &Cm, req: &SyncRequest) -> Result<SyncAck, OpError> {
    require_mcm(fed).await?;
    let batch = req.to_batch()?;
    let lock = fed.mcm.apply_lock(cm.id);
    let _in_order = lock.lock().await;
    if let Some(fips) = batch.fips {
        if fips != cm.fips {
            fed.store.set_cm_fips(cm.id, fips).await?;
            fed.mcm.forget_peers();
        }
        let mcm_fips = fed.appliance.fips().await?;
        if fips != mcm_fips {
            tracing::warn!(cm = %cm.name, cm_fips = fips, mcm_fips, "sync refused: FIPS mode differs");
            return Err(OpError::federation(
                FederationCode::FipsMismatch,
                fips_mismatch(mcm_fips),
            ));
        }
    }
    if let Some(fp) = batch
        .cm_fingerprint
        .as_ref()
        .filter(|f| **f != cm.cert_fingerprint)
    {
        fed.store.repin_cm(cm.id, fp).await?;
        fed.mcm.forget_peers();
        tracing::info!(cm = %cm.name, to = fp.as_str(), "the CM's certificate changed: the proxy pins the new one");
    }
    if let Some(name) = batch.cm_name.as_ref().filter(|n| **n != cm.name) {
        fed.store.rename_cm(cm.id, name).await?;
        fed.mcm.forget_peers();
        tracing::info!(cm = %cm.id, from = %cm.name, to = %name, "CM renamed");
    }
    let outcome = fed.store.apply_sync(cm.id, &batch, Utc::now()).await?;
    if !outcome.applied {
        tracing::warn!(
            cm = %cm.name,
            cm_epoch = batch.epoch,
            cm_after = batch.after_seq,
            epoch = outcome.epoch,
            acked = outcome.acked_seq,
            "sync refused: this copy and the CM disagree (one was restored from an older copy); \
             the CM resyncs"
        );
    } else if !(batch.upserts.is_empty() && batch.removals.is_empty() && outcome.swept == 0) {
        fed.mcm.changes.send_modify(|n| *n += 1);
    }
    let mut ack = SyncAck::from(outcome);
    ack.mcm_fingerprint = Some(fed.appliance.identity.fingerprint());
    Ok(ack)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertised_ip_reads_the_url_host() {
        assert_eq!(
            advertised_ip("https://127.0.0.2:8443"),
            Some("127.0.0.2".parse().unwrap())
        );
        assert_eq!(
            advertised_ip("https://[2001:db8::5]:443"),
            Some("2001:db8::5".parse().unwrap())
        );
        assert_eq!(advertised_ip("https://cm.example:443"), None);
    }

    #[test]
    fn nonces_are_single_use() {
        let side = McmSide::default();
        let ip = std::net::IpAddr::from([192, 0, 2, 1]);
        let n = side.issue_nonce(ip).unwrap();
        assert!(side.take_nonce(&n));
        assert!(!side.take_nonce(&n));
        assert!(!side.take_nonce("n_forged"));
    }

    #[test]
    fn one_address_cannot_take_every_nonce() {
        let side = McmSide::default();
        let greedy = std::net::IpAddr::from([192, 0, 2, 1]);
        for _ in 0..MAX_PENDING_PER_ADDRESS {
            assert!(side.issue_nonce(greedy).is_some());
        }
        assert!(side.issue_nonce(greedy).is_none());
        assert!(
            side.issue_nonce(std::net::IpAddr::from([192, 0, 2, 2]))
                .is_some()
        );
    }
}
