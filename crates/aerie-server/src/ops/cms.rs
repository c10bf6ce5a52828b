//! The MCM's Secondary CMs: the CMs registered to it and how their sync stands. There is
//! no way to delete one.

use chrono::Utc;

use aerie_proto::federation::CmOut;

use crate::rights::{Can, View};
use crate::{error::OpError, state::AppState};

/// Every CM that ever registered, deregistered ones included.
pub async fn list(state: &AppState, _can: &Can<View>) -> Result<Vec<CmOut>, OpError> {
    state.appliance.on_mcm("Secondary CMs").await?;
    let now = Utc::now();
    let cms = state.store.cms().await?;
    Ok(cms.iter().map(|cm| CmOut::of(cm, now)).collect())
}
