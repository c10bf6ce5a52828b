//! A full disk on the MCM: the CMs' batches are refused with the reason, the CMs keep
//! their changes, and the sync resumes by itself once there is room. A full disk on a
//! CM: what it holds still reaches the MCM, and it says so until there is room again.
//! On real, small tmpfs mounts (root only; CI runs as root).

use std::io::Write;

use super::*;

/// Fills the filesystem of `dir` with one file; returns it.
fn fill(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let block = vec![0u8; 64 * 1024];
    while file.write_all(&block).is_ok() {}
    let _ = file.sync_all();
    path
}

#[tokio::test]
async fn a_full_mcm_disk_holds_the_sync_until_space_returns() {
    let Some(dir) = common::tmpfs_dir("16m") else {
        return;
    };
    let path = dir.path().to_owned();
    let layer = aerie_server::ConfigLayer {
        hostname: Some("mcm-disk".into()),
        listen: Some("127.0.0.1:0".into()),
        ..Default::default()
    };
    let mcm = common::start_in(dir, layer).await;
    convert(&mcm).await;
    let Some(cm_dir) = common::tmpfs_dir("16m") else {
        return;
    };
    let cm_path = cm_dir.path().to_owned();
    let cm_layer = aerie_server::ConfigLayer {
        hostname: Some("cm-disk".into()),
        listen: Some("127.0.0.2:0".into()),
        ..Default::default()
    };
    let cm = common::start_in(cm_dir, cm_layer).await;
    assert!(register(&cm, &mcm).await.0);
    cm.admin
        .post_events(&batch(vec![event("10.9.0.1", 100, 0.8)]))
        .await
        .unwrap();
    let cm_id = cm_id_of(&mcm, "cm-disk").await;
    assert!(eventually(5, || converged(&mcm, &cm, cm_id)).await);

    let filler = fill(&path);
    let events = (0..30)
        .map(|i| event(&format!("10.9.1.{}", i + 1), 100, 0.8))
        .collect();
    cm.admin.post_events(&batch(events)).await.unwrap();
    assert!(
        eventually(10, || async { show_mcm(&cm).await.contains("HTTP 507") }).await,
        "the CM says why: {}",
        show_mcm(&cm).await
    );
    let shown = show_mcm(&cm).await;
    assert!(shown.contains("disk") && shown.contains("full"), "{shown}");
    assert!(!converged(&mcm, &cm, cm_id).await);
    let (status, health) = common::healthz(&mcm).await;
    assert_eq!(
        (status, health.storage.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "full")
    );
    assert!(
        show_mcm(&mcm).await.contains("Storage: FULL"),
        "{}",
        show_mcm(&mcm).await
    );

    std::fs::remove_file(filler).unwrap();
    assert!(
        eventually(40, || converged(&mcm, &cm, cm_id)).await,
        "the sync resumed by itself: {}",
        show_mcm(&cm).await
    );
    assert!(show_mcm(&cm).await.contains("connected"));

    // The CM's disk fills right after it took events: they still reach the MCM.
    let events = (0..20)
        .map(|i| event(&format!("10.9.2.{}", i + 1), 100, 0.8))
        .collect();
    cm.admin.post_events(&batch(events)).await.unwrap();
    let filler = fill(&cm_path);
    let refused = cm
        .admin
        .post_events(&batch(vec![event("10.9.3.1", 100, 0.8)]))
        .await;
    assert_eq!(
        refused.map_err(|e| e.status()).err().flatten(),
        Some(StatusCode::INSUFFICIENT_STORAGE)
    );
    assert!(eventually(10, || converged(&mcm, &cm, cm_id)).await);
    let (status, _) = common::healthz(&cm).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(show_mcm(&cm).await.contains("Storage: FULL"));
    std::fs::remove_file(filler).unwrap();
    cm.admin
        .post_events(&batch(vec![event("10.9.3.2", 100, 0.8)]))
        .await
        .unwrap();
    assert!(eventually(10, || converged(&mcm, &cm, cm_id)).await);
    // The storage probe's answer is cached for a second: the warning goes within it.
    assert!(
        eventually(5, || async { !show_mcm(&cm).await.contains("Storage") }).await,
        "{}",
        show_mcm(&cm).await
    );
    drop((mcm, cm));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    common::unmount(&path);
    common::unmount(&cm_path);
}
