//! Registration: challenge, proof of the device key both ways, then the proxy token the
//! MCM will present for live actions — handed over only on the pinned connection.

use std::time::Instant;

use aerie_client::{Client, ClientError, Trust};
use aerie_proto::{
    device_key::Kdf,
    federation::{
        CertificateChallenge, CertificateProof, Challenge, ProxyToken, RegisterRequest,
        RegisterResponse, certificate_message, fips_mismatch, paths, register_message,
        registered_message,
    },
};

use super::{
    config::{self, McmConfig},
    outcome::{Failure, describe},
};
use crate::{
    federation::{Federation, keys},
    secret::{SecretKind, new_secret, secret_hash},
};

/// What a registration brought back, to be saved with [`save`] (nothing is stored before:
/// a failed registration leaves the configuration as it was).
pub(super) struct Registered {
    fingerprint: aerie_client::Fingerprint,
    credential: String,
    cm_id: i64,
    proxy_hash: String,
}

impl Registered {
    /// What the operator is told.
    pub(super) fn message(&self, config: &McmConfig) -> String {
        format!(
            "Registered with the MCM at {} as {} (CM id {}); incidents are syncing.",
            config.address, config.username, self.cm_id
        )
    }
}

/// Stores a registration's credential, pin and proxy token; the stream starts over.
pub(super) async fn save(fed: &Federation, r: &Registered) -> Result<(), Failure> {
    let s = &fed.store;
    s.set_setting(keys::MCM_FINGERPRINT, &r.fingerprint.to_string())
        .await?;
    s.set_setting(keys::MCM_CREDENTIAL, &r.credential).await?;
    s.set_setting(keys::MCM_CM_ID, &r.cm_id.to_string()).await?;
    s.set_setting(keys::MCM_CURSOR, "0").await?;
    s.set_setting(keys::MCM_PROXY_HASH, &r.proxy_hash).await?;
    fed.forget_config();
    *fed.cm.persisted.lock().expect("cursor lock") = Some((0, Instant::now()));
    Ok(())
}

/// Registers with the MCM of `config`; stores nothing.
pub(super) async fn register(fed: &Federation, config: &McmConfig) -> Result<Registered, Failure> {
    let fail = |e: ClientError| describe(&e, config);
    let base = config.address.base_url();
    let seen = aerie_client::Recorder::default();
    let fips = config.kdf.is_fips();
    let client = Client::with_options(&base, Trust::Record(seen.clone()), fips).map_err(fail)?;
    let challenge: Challenge = client
        .post(paths::CHALLENGE, &serde_json::json!({}))
        .await
        .map_err(fail)?;
    if challenge.kdf != config.kdf.id() {
        let mcm_fips = Kdf::parse(&challenge.kdf).is_some_and(Kdf::is_fips);
        return Err(Failure::Error(fips_mismatch(mcm_fips)));
    }
    let mcm_fp = seen
        .lock()
        .expect("recorder lock")
        .ok_or_else(|| Failure::Error("the MCM presented no certificate".to_owned()))?;
    let uid = config::uid(fed).await?;
    let cm_fp = fed.appliance.identity.fingerprint();
    let message = register_message(
        &challenge.nonce,
        &mcm_fp.to_string(),
        &config.username,
        &uid,
        &cm_fp,
    );
    let request = RegisterRequest {
        username: config.username.clone(),
        cm_uid: uid,
        cm_name: fed.appliance.hostname().await?,
        cm_url: fed.appliance.identity.public_url(),
        cm_fingerprint: cm_fp,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        kdf: config.kdf.id().to_owned(),
        nonce: challenge.nonce.clone(),
        proof: config.key.prove(&message),
    };
    let reply: RegisterResponse = client.post(paths::REGISTER, &request).await.map_err(fail)?;
    let expected = registered_message(
        &challenge.nonce,
        &mcm_fp.to_string(),
        reply.cm_id,
        &reply.credential,
    );
    if !config.key.verify(&expected, &reply.mcm_proof) {
        return Err(Failure::Error(
            "the MCM could not prove it holds the device key — wrong passphrase on the MCM, \
             or a man in the middle"
                .to_owned(),
        ));
    }
    // Only now, talking to a proven MCM over the pinned certificate, hand over the token
    // it will present for live actions.
    let pinned = Client::with_options(&base, Trust::Pinned(mcm_fp), fips)
        .map_err(fail)?
        .with_token(&reply.credential);
    let token = new_secret(SecretKind::Proxy);
    let _: serde_json::Value = pinned
        .post(
            paths::PROXY_TOKEN,
            &ProxyToken {
                token: token.clone(),
            },
        )
        .await
        .map_err(fail)?;
    tracing::info!(mcm = %config.address, cm_id = reply.cm_id, "registered with the MCM");
    Ok(Registered {
        fingerprint: mcm_fp,
        credential: reply.credential,
        cm_id: reply.cm_id,
        proxy_hash: secret_hash(&token),
    })
}

/// The MCM no longer presents the pinned certificate: asks it to prove, with the device
/// key, the certificate it presents now (bound to a fresh nonce and to the certificate
/// this CM *sees*), and pins that one if it can. Nothing secret is sent on the unpinned
/// connection. Says what changed.
pub(super) async fn repin(
    fed: &Federation,
    config: &McmConfig,
    why: &str,
) -> Result<String, Failure> {
    let fail = |e: ClientError| describe(&e, config);
    let seen = aerie_client::Recorder::default();
    let client = Client::with_options(
        &config.address.base_url(),
        Trust::Record(seen.clone()),
        config.kdf.is_fips(),
    )
    .map_err(fail)?;
    let refused = || {
        Failure::Error(format!(
            "{why}, and it cannot prove the certificate it presents now with the device key \
             (possible man in the middle, or the MCM's passphrase changed: then run set mcm ip \
             again)"
        ))
    };
    let cm_id = fed
        .store
        .setting(keys::MCM_CM_ID)
        .await?
        .and_then(|v| v.parse::<i64>().ok());
    let proxy_hash = fed.store.setting(keys::MCM_PROXY_HASH).await?;
    let (Some(cm_id), Some(proxy_hash)) = (cm_id, proxy_hash) else {
        return Err(refused());
    };
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system RNG works");
    let nonce: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let answer: CertificateProof = client
        .post(
            paths::CERTIFICATE,
            &CertificateChallenge {
                nonce: nonce.clone(),
                cm_id,
            },
        )
        .await
        .map_err(|e| match fail(e) {
            Failure::Error(e) => {
                Failure::Error(format!("{why}, and proving the new one failed: {e}"))
            }
            other => other,
        })?;
    let seen = (*seen.lock().expect("recorder lock")).ok_or_else(refused)?;
    let seen_text = seen.to_string();
    if answer.fingerprint != seen_text
        || !config.key.verify(
            &certificate_message(&nonce, &seen_text, cm_id, &proxy_hash),
            &answer.proof,
        )
    {
        tracing::warn!(mcm = %config.address, seen = %seen_text, "MCM certificate change refused: no proof");
        return Err(refused());
    }
    let old = config
        .fingerprint
        .map(|f| f.to_string())
        .unwrap_or_default();
    fed.store
        .set_setting(keys::MCM_FINGERPRINT, &seen_text)
        .await?;
    fed.forget_config();
    let detail = format!(
        "MCM {} certificate {old} → {seen_text}, proven with the device key",
        config.address
    );
    fed.store
        .append_audit(&aerie_domain::audit::AuditRecord {
            at: chrono::Utc::now(),
            actor: "federation".to_owned(),
            action: "mcm.certificate".to_owned(),
            target: "mcm".to_owned(),
            detail: detail.clone(),
        })
        .await?;
    tracing::info!(mcm = %config.address, from = %old, to = %seen_text, "the MCM's new certificate is pinned");
    Ok(detail)
}
