//! The appliance itself: its role, host name, FIPS mode and identity towards peers — the
//! settings the operator changes from the CLI.

use std::sync::{Arc, OnceLock, RwLock};

use aerie_domain::{appliance::ApplianceRole, net::HostName};
use aerie_proto::admin::ApplianceStatus;
use aerie_store::Store;

use crate::error::OpError;

/// Setting names in the store.
pub mod keys {
    pub const ROLE: &str = "role";
    pub const HOSTNAME: &str = "hostname";
    pub const FIPS: &str = "fips";
}

/// Which cryptographic module this build runs, said plainly.
pub fn crypto_module() -> &'static str {
    "aws-lc-rs default module (not the FIPS 140-3 validated build; in FIPS mode Aerie \
     restricts itself to FIPS-approved algorithms: PBKDF2-HMAC-SHA256 device keys, \
     TLS 1.2/1.3 with AES-GCM and NIST curves)"
}

/// Proof that this appliance is the MCM, from [`Appliance::on_mcm`].
#[derive(Clone, Copy, Debug)]
pub struct OnMcm(());

/// Proof that this appliance is a CM, from [`Appliance::on_cm`].
#[derive(Clone, Copy, Debug)]
pub struct OnCm(());

/// One appliance's settings, with its role kept in memory (it changes only by this
/// daemon's own `set mcm` commands).
pub struct Appliance {
    store: Arc<dyn Store>,
    /// The configured host name, used until one is set from the CLI.
    configured_hostname: String,
    role: RwLock<Option<ApplianceRole>>,
    /// The host name, read from the store once (it changes only by `set hostname` here).
    hostname: RwLock<Option<String>>,
    pub identity: Identity,
    /// The last write a request asked for was refused for a full disk (cleared by the
    /// next one that succeeds).
    write_refused: std::sync::Mutex<Option<String>>,
}

/// How peers see this appliance: its certificate and its URL.
pub struct Identity {
    /// SHA-256 of the served certificate, `AA:BB:…` (replaced by a certificate change).
    fingerprint: RwLock<String>,
    url: OnceLock<String>,
    listening: OnceLock<std::net::SocketAddr>,
}

impl Identity {
    pub fn new(fingerprint: String) -> Identity {
        Identity {
            fingerprint: RwLock::new(fingerprint),
            url: OnceLock::new(),
            listening: OnceLock::new(),
        }
    }

    /// Set once the listener is bound.
    pub fn set_public_url(&self, url: String, listening: std::net::SocketAddr) {
        let _ = self.url.set(url);
        let _ = self.listening.set(listening);
    }

    /// SHA-256 of the certificate served now, `AA:BB:…`.
    pub fn fingerprint(&self) -> String {
        self.fingerprint.read().expect("fingerprint lock").clone()
    }

    /// After a certificate change.
    pub fn set_fingerprint(&self, fingerprint: String) {
        *self.fingerprint.write().expect("fingerprint lock") = fingerprint;
    }

    /// The address the HTTPS listener is bound to.
    pub fn listening(&self) -> String {
        self.listening
            .get()
            .map(|a| a.to_string())
            .unwrap_or_else(|| "(not yet bound)".to_owned())
    }

    /// The base URL peers reach this appliance's API at.
    pub fn public_url(&self) -> String {
        self.url.get().cloned().unwrap_or_default()
    }
}

impl Appliance {
    pub fn new(store: Arc<dyn Store>, configured_hostname: String, identity: Identity) -> Self {
        Appliance {
            store,
            configured_hostname,
            role: RwLock::new(None),
            hostname: RwLock::new(None),
            identity,
            write_refused: Default::default(),
        }
    }

    /// Records how a request that writes ended, for [`Appliance::storage_problem`]: a
    /// refusal for a full disk holds until the same kind of request succeeds again.
    pub fn note_write(
        &self,
        method: &axum::http::Method,
        path: &str,
        status: axum::http::StatusCode,
    ) {
        let this = format!("{method} {path}");
        let mut refused = self.write_refused.lock().expect("refused lock");
        if status == axum::http::StatusCode::INSUFFICIENT_STORAGE {
            *refused = Some(this);
        } else if status.is_success() && refused.as_deref() == Some(this.as_str()) {
            *refused = None;
        }
    }

    /// What is wrong with the storage, if something is: a write was refused for a full
    /// disk, a probe write fails, or almost no space is left.
    pub async fn storage_problem(&self) -> Result<Option<String>, OpError> {
        let storage = self.store.storage_health().await?;
        let refused = self.write_refused.lock().expect("refused lock").is_some();
        if let Some(error) = &storage.error {
            return Ok(Some(format!(
                "FAILING — a write to the data ({}) failed: {error}; check the disk and the \
                 database",
                storage.location
            )));
        }
        if !refused && !storage.is_full() {
            return Ok(None);
        }
        let free = storage
            .free_bytes
            .map(|b| format!(", {} KiB free", b / 1024))
            .unwrap_or_default();
        Ok(Some(format!(
            "FULL — the disk holding the data ({}{free}) is full: nothing new is stored and \
             incidents do not sync; free space there and writing resumes by itself",
            storage.location
        )))
    }

    /// `cm` or `mcm`, read from the store once.
    pub async fn role(&self) -> Result<ApplianceRole, OpError> {
        if let Some(role) = *self.role.read().expect("role lock") {
            return Ok(role);
        }
        let role = match self.store.setting(keys::ROLE).await?.as_deref() {
            Some("mcm") => ApplianceRole::Mcm,
            _ => ApplianceRole::Cm,
        };
        *self.role.write().expect("role lock") = Some(role);
        Ok(role)
    }

    pub async fn is_mcm(&self) -> Result<bool, OpError> {
        Ok(self.role().await? == ApplianceRole::Mcm)
    }

    /// This appliance is the MCM, or a 404 saying `what` exists on an MCM only.
    pub async fn on_mcm(&self, what: &str) -> Result<OnMcm, OpError> {
        match self.role().await? {
            ApplianceRole::Mcm => Ok(OnMcm(())),
            ApplianceRole::Cm => Err(OpError::not_found(format!(
                "{what} (this appliance is not an MCM)"
            ))),
        }
    }

    /// This appliance is a CM, or a 404 saying it is the MCM and what to do instead.
    pub async fn on_cm(&self, instead: &str) -> Result<OnCm, OpError> {
        match self.role().await? {
            ApplianceRole::Cm => Ok(OnCm(())),
            ApplianceRole::Mcm => Err(OpError::missing(format!(
                "this appliance is the MCM: {instead}"
            ))),
        }
    }

    pub async fn set_role(&self, role: ApplianceRole) -> Result<(), OpError> {
        self.store.set_setting(keys::ROLE, role.as_str()).await?;
        *self.role.write().expect("role lock") = Some(role);
        Ok(())
    }

    /// The host name set from the CLI, else the configured one.
    pub async fn hostname(&self) -> Result<String, OpError> {
        if let Some(name) = self.hostname.read().expect("hostname lock").clone() {
            return Ok(name);
        }
        let name = self
            .store
            .setting(keys::HOSTNAME)
            .await?
            .unwrap_or_else(|| self.configured_hostname.clone());
        *self.hostname.write().expect("hostname lock") = Some(name.clone());
        Ok(name)
    }

    pub async fn fips(&self) -> Result<bool, OpError> {
        Ok(self.store.setting(keys::FIPS).await?.as_deref() == Some("enabled"))
    }

    pub async fn status(&self) -> Result<ApplianceStatus, OpError> {
        Ok(ApplianceStatus {
            hostname: self.hostname().await?,
            role: self.role().await?.as_str().to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            fips_enabled: self.fips().await?,
            crypto_module: crypto_module().to_owned(),
        })
    }

    pub async fn set_hostname(&self, name: &HostName) -> Result<String, OpError> {
        self.store
            .set_setting(keys::HOSTNAME, name.as_str())
            .await?;
        *self.hostname.write().expect("hostname lock") = Some(name.to_string());
        tracing::info!(hostname = %name, "host name changed");
        Ok(format!("Hostname set to {name}."))
    }

    pub async fn set_fips(&self, enabled: bool) -> Result<String, OpError> {
        self.store
            .set_setting(keys::FIPS, if enabled { "enabled" } else { "disabled" })
            .await?;
        tracing::info!(enabled, "FIPS mode changed");
        Ok(format!(
            "FIPS mode {}. It applies to device keys derived from now on and to TLS after a restart.",
            if enabled { "enabled" } else { "disabled" }
        ))
    }
}
