//! What every request handler shares.

use std::sync::{Arc, OnceLock};

use aerie_store::Store;

use crate::{config::Config, federation::Federation};

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub config: Arc<Config>,
    pub federation: Arc<Federation>,
    pub identity: Arc<Identity>,
    /// The stored role, read once and kept current by `set_role`.
    pub role_cache: Arc<std::sync::RwLock<Option<crate::appliance::ApplianceRole>>>,
    pub login_limiter: Arc<crate::login_limit::LoginLimiter>,
}

/// How peers see this appliance: its certificate and its URL.
pub struct Identity {
    /// SHA-256 of the served certificate, `AA:BB:…`.
    pub fingerprint: String,
    url: OnceLock<String>,
}

impl Identity {
    pub fn new(fingerprint: String) -> Identity {
        Identity {
            fingerprint,
            url: OnceLock::new(),
        }
    }

    /// Set once the listener is bound.
    pub fn set_public_url(&self, url: String) {
        let _ = self.url.set(url);
    }

    /// The base URL peers reach this appliance's API at.
    pub fn public_url(&self) -> String {
        self.url.get().cloned().unwrap_or_default()
    }
}
