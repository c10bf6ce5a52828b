//! A full disk: writes fail with a clear answer, nothing accepted is lost, and writing
//! resumes by itself when space returns. Runs on a real, small tmpfs (root only; CI runs
//! as root).

use super::*;

#[tokio::test]
async fn a_full_disk_is_reported_and_writing_resumes_when_space_returns() {
    let Some(dir) = common::tmpfs_dir("3m") else {
        return;
    };
    let path = dir.path().to_owned();
    let s = common::start_in(dir, Default::default()).await;
    let (status, health) = common::healthz(&s).await;
    assert_eq!((status, health.storage.as_str()), (StatusCode::OK, "ok"));
    let mut accepted = 0usize;
    let mut refusal = None;
    for round in 0..400 {
        let events: Vec<_> = (0..200)
            .map(|i| {
                let mut e = event(&format!("10.{}.{}.1", round % 250, i), 100, 0.9);
                e.threat_name = format!("filler {round} {i} {}", "x".repeat(200));
                e
            })
            .collect();
        match s.admin.post_events(&batch(events)).await {
            Ok(_) => accepted += 200,
            Err(e) => {
                refusal = Some(e);
                break;
            }
        }
    }
    let refusal = refusal.expect("the disk filled up");
    eprintln!("refused after {accepted} events: {refusal:?}");
    assert_eq!(
        refusal.status(),
        Some(StatusCode::INSUFFICIENT_STORAGE),
        "{refusal:?}"
    );

    let (status, health) = common::healthz(&s).await;
    assert_eq!(
        (status, health.status.as_str(), health.storage.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "degraded", "full")
    );
    assert!(
        health
            .problem
            .as_deref()
            .unwrap_or("")
            .contains(&*path.to_string_lossy()),
        "{health:?} names the data dir"
    );
    let (_, shown) = common::cli(&s, &["cm", "show mcm"]).await;
    assert!(shown.contains("Storage: FULL"), "{shown}");

    assert!(common::mount_tmpfs(&path, "64m", true), "grow the tmpfs");
    let after = s
        .admin
        .post_events(&batch(vec![event("10.250.0.1", 100, 0.9)]))
        .await;
    assert!(after.is_ok(), "writes resume by themselves: {after:?}");
    let stored = s
        .admin
        .incidents(&IncidentListParams::default())
        .await
        .unwrap();
    assert!(!stored.items.is_empty());
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await; // the probe's cache
    let (status, health) = common::healthz(&s).await;
    assert_eq!((status, health.storage.as_str()), (StatusCode::OK, "ok"));
    let (_, shown) = common::cli(&s, &["cm", "show mcm"]).await;
    assert!(!shown.contains("Storage"), "{shown}");
    drop(s);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    common::unmount(&path);
}
