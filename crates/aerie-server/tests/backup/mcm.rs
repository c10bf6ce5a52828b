//! A restored MCM: its CMs go on syncing with it and its copy becomes exact again by
//! itself (docs/protocol.md, "Resync and epochs": the CM's cursor is ahead of what the
//! restored MCM acknowledges, so the CM resyncs), with no operator command.

use std::collections::BTreeMap;

use aerie_proto::incidents::IncidentListParams;

use super::*;

/// Incident id → version, of one CM as the MCM shows it, or of the CM itself.
async fn copy(client: &Client, cm: Option<i64>) -> BTreeMap<i64, i64> {
    let params = IncidentListParams {
        cm: cm.map(|id| id.to_string()),
        limit: Some(500),
        ..Default::default()
    };
    client
        .incidents(&params)
        .await
        .unwrap()
        .items
        .iter()
        .map(|i| (i.incident_id, i.version))
        .collect()
}

async fn post(cm: &common::TestServer, from: u32, to: u32) {
    let events = (from..to)
        .map(|i| event(&format!("10.30.0.{i}"), 100, 0.7))
        .collect();
    cm.admin.post_events(&batch(events)).await.unwrap();
}

#[tokio::test]
async fn a_restored_mcm_is_caught_up_by_its_cms_without_operator_action() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("mcm");
    let mcm = start(&dir, "mcm-restored", "127.0.0.1:0", None).await;
    let convert = format!("set mcm ip 127.0.0.1 passphrase {}", common::PASSPHRASE);
    let (ok, out) = cli(&dir, &["cm", &convert]).await;
    assert!(ok, "{out}");
    let cm = common::node("cm-restored", 2).await;
    let register = format!(
        "set mcm ip {} passphrase {} username admin",
        mcm.running.addr,
        common::PASSPHRASE
    );
    let (ok, out) = common::cli(&cm, &["cm", &register]).await;
    assert!(ok, "{out}");
    let cms: Vec<Value> = mcm.admin.get("/api/v1/cms").await.unwrap();
    let cm_id = cms[0]["id"].as_i64().unwrap();

    post(&cm, 1, 6).await;
    assert!(
        eventually(15, || async {
            copy(&mcm.admin, Some(cm_id)).await.len() == 5
        })
        .await
    );
    let file = root.path().join("mcm.aerie-backup");
    backup_by_cli(&dir, &file).await;

    // After the backup the MCM takes more: the backup is behind what the CM was told.
    post(&cm, 6, 10).await;
    assert!(
        eventually(15, || async {
            copy(&mcm.admin, Some(cm_id)).await.len() == 9
        })
        .await
    );
    let addr = mcm.running.addr;
    mcm.stop().await;

    let restored = restore(&options(&dir, &file, None)).await.unwrap();
    assert_eq!(restored.manifest.role, "mcm");
    // The restored store holds what the backup held: 5 of the CM's 9 incidents.
    let store = aerie_store::SqlStore::open(&aerie_store::SqlStore::sqlite_url(&dir))
        .await
        .unwrap();
    let held =
        aerie_store::prelude::FederationStore::remote_incidents(&store, &Default::default(), &[])
            .await
            .unwrap();
    assert_eq!(held.items.len(), 5);
    store.close().await;
    drop(store);

    let back = start(&dir, "mcm-restored", &addr.to_string(), None).await;
    assert!(back.running.state.appliance.is_mcm().await.unwrap());

    // The CM resyncs by itself; its later incidents arrive as usual.
    let truth = copy(&cm.admin, None).await;
    assert_eq!(truth.len(), 9);
    assert!(
        eventually(40, || async {
            copy(&back.admin, Some(cm_id)).await == truth
        })
        .await,
        "the restored MCM's copy: {:?}",
        copy(&back.admin, Some(cm_id)).await
    );
    post(&cm, 10, 13).await;
    assert!(
        eventually(20, || async {
            let truth = copy(&cm.admin, None).await;
            truth.len() == 12 && copy(&back.admin, Some(cm_id)).await == truth
        })
        .await,
        "new incidents after the restore"
    );
    let shown = common::cli(&cm, &["cm", "show mcm"]).await.1;
    assert!(shown.contains("Backlog: 0 incident changes"), "{shown}");
    back.stop().await;
}
