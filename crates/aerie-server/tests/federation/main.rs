//! Federation end to end: one real MCM and real CMs (separate daemons, data dirs and
//! loopback addresses), configured through the real CLI over each admin socket, talking
//! real HTTPS.

#[path = "../common/mod.rs"]
mod common;

use std::collections::BTreeMap;

use aerie_client::{Client, ClientError};
use aerie_proto::incidents::{IncidentList, IncidentListParams};
use common::{
    PASSPHRASE, TestServer, batch, cli, cm_id_of, convert, event, eventually, mcm_address, node,
    register,
};
use reqwest::StatusCode;

mod disk;
mod registration;
mod sync;
mod transport;

async fn show_mcm(cm: &TestServer) -> String {
    cli(cm, &["cm", "show mcm"]).await.1
}

/// Every page of a list query.
async fn all(client: &Client, mut params: IncidentListParams) -> IncidentList {
    params.limit = Some(500);
    let mut items = Vec::new();
    loop {
        let page = client.incidents(&params).await.unwrap();
        items.extend(page.items);
        match page.next {
            Some(next) => params.after = Some(next),
            None => return IncidentList { items, next: None },
        }
    }
}

/// The MCM's copy of one CM: incident id → version.
async fn mcm_copy(mcm: &TestServer, cm_id: i64) -> BTreeMap<i64, i64> {
    let params = IncidentListParams {
        cm: Some(cm_id.to_string()),
        ..Default::default()
    };
    all(&mcm.admin, params)
        .await
        .items
        .iter()
        .map(|i| (i.incident_id, i.version))
        .collect()
}

/// A CM's non-benign incidents: id → version.
async fn cm_truth(cm: &TestServer) -> BTreeMap<i64, i64> {
    all(&cm.admin, IncidentListParams::default())
        .await
        .items
        .iter()
        .filter(|i| i.risk != "benign")
        .map(|i| (i.incident_id, i.version))
        .collect()
}

async fn converged(mcm: &TestServer, cm: &TestServer, cm_id: i64) -> bool {
    mcm_copy(mcm, cm_id).await == cm_truth(cm).await
}
