//! A full disk: writes fail with a clear answer, nothing accepted is lost, and writing
//! resumes by itself when space returns. Runs on a real, small tmpfs (root only; CI runs
//! as root).

use super::*;

fn mount(dir: &std::path::Path, size: &str, remount: bool) -> bool {
    let options = if remount {
        format!("remount,size={size}")
    } else {
        format!("size={size}")
    };
    std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &options, "tmpfs"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test]
async fn a_full_disk_is_reported_and_writing_resumes_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    if !mount(dir.path(), "3m", false) {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "cannot mount a tmpfs (the test needs root)"
        );
        eprintln!("skipped: cannot mount a tmpfs (needs root)");
        return;
    }
    let path = dir.path().to_owned();
    let s = common::start_in(dir, Default::default()).await;
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

    assert!(mount(&path, "64m", true), "grow the tmpfs");
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
    drop(s);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let _ = std::process::Command::new("umount")
        .arg("-l")
        .arg(&path)
        .status();
}
