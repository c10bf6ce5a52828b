//! What every request handler shares.

use std::sync::Arc;

use aerie_store::Store;

use crate::{appliance::Appliance, config::Config, federation::Federation};

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub config: Arc<Config>,
    pub appliance: Arc<Appliance>,
    pub federation: Arc<Federation>,
    pub login_throttle: Arc<crate::throttle::Throttle>,
    /// Permits for artifact downloads in progress ([`crate::artifacts::MAX_DOWNLOADS`]).
    pub downloads: Arc<tokio::sync::Semaphore>,
    /// The certificate served, swapped live by Certificate Management.
    pub tls: Arc<crate::tls::Served>,
    /// Set by an update or a rollback; `aerie serve` restarts into the staged binary.
    pub restart: Arc<crate::ops::updates::Restart>,
    /// This daemon's Prometheus metrics.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The SIEM feed's forwarders.
    pub siem: Arc<crate::ops::siem::Siem>,
}
