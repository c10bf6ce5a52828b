//! What every request handler shares.

use std::sync::Arc;

use aerie_store::Store;

use crate::config::Config;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub config: Arc<Config>,
}
