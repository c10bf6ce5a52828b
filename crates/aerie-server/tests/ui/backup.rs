//! Backup/Restore in the browser: a backup created on the page is listed, downloads with
//! the session as an attachment that `aerie_backup` verifies, and can be deleted; the
//! schedule form stores its passphrase owner-only.

use super::*;

const PASSPHRASE: &str = "page backup passphrase";

/// Reloads the page until the list shows `n` backups and none is being written.
async fn listed(web: &Browser, s: &TestServer, n: usize) -> bool {
    eventually(30, || async {
        web.go(s, "/config/backup").await;
        web.count("#backup-list tr.backup").await == n && web.count("#in-progress").await == 0
    })
    .await
}

#[tokio::test]
async fn a_backup_made_on_the_page_is_listed_downloaded_verified_and_deleted() {
    let Some(web) = browser().await else { return };
    let s = start().await;
    s.admin
        .post_events(&batch(vec![event("10.40.0.1", 100, 0.9)]))
        .await
        .unwrap();
    web.login(&s, "admin", &s.admin_password).await;
    web.go(&s, "/config").await;
    let entries = web.all_text("dl.entries dt").await;
    assert_eq!(entries.last().map(String::as_str), Some("Backup/Restore"));
    web.go(&s, "/config/backup").await;
    assert_eq!(web.text("h1").await, "Backup/Restore");
    assert!(
        web.text("#restore pre")
            .await
            .contains("aerie restore --data-dir")
    );
    assert!(web.text("#backup-list").await.contains("No backup yet."));

    // Two different passphrases: refused, nothing written.
    web.fill("#passphrase", PASSPHRASE).await;
    web.fill("#confirm", "something else entirely").await;
    web.submit("#create-form button").await;
    assert!(
        web.text("#flash")
            .await
            .contains("the two passphrases differ")
    );
    assert!(listed(&web, &s, 0).await);

    web.fill("#passphrase", PASSPHRASE).await;
    web.fill("#confirm", PASSPHRASE).await;
    web.submit("#create-form button").await;
    let flash = web.text("#flash").await;
    assert!(flash.contains("Backup started"), "{flash}");
    assert!(
        listed(&web, &s, 1).await,
        "the backup is listed once written"
    );
    let name = web.text("#backup-list tr.backup td.name").await;
    assert!(
        name.starts_with("cm-test-cm-") && name.ends_with(".aerie-backup"),
        "{name}"
    );
    assert!(web.text("#last-manual").await.contains("Backup written to"));
    web.snap("backup-restore.png").await;

    // The Download link, fetched with the browser's session cookie.
    let href = web
        .web
        .find(Locator::Css("#backup-list a.download"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let cookie = web.web.get_named_cookie("aerie_session").await.unwrap();
    let http = raw_client();
    let resp = http
        .get(s.url(&href))
        .header("cookie", format!("aerie_session={}", cookie.value()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["content-disposition"],
        format!("attachment; filename=\"{name}\"").as_str()
    );
    let bytes = resp.bytes().await.unwrap();
    let on_disk = s.dir.path().join("backups").join(&name);
    assert_eq!(bytes.as_ref(), std::fs::read(&on_disk).unwrap().as_slice());
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &bytes).unwrap();
    let manifest = aerie_backup::manifest(file.path(), PASSPHRASE).unwrap();
    assert_eq!(manifest.role, "cm");
    assert_eq!(manifest.members[0].name, "store/aerie.db");
    assert!(matches!(
        aerie_backup::manifest(file.path(), "not the passphrase"),
        Err(aerie_backup::BackupError::WrongPassphrase)
    ));

    // Without a session, or for a name outside the directory: no file.
    let anon = http.get(s.url(&href)).send().await.unwrap();
    assert_ne!(anon.status(), StatusCode::OK);
    let sneaky = http
        .get(s.url("/config/backup/download/..%2Faerie.db"))
        .header("cookie", format!("aerie_session={}", cookie.value()))
        .send()
        .await
        .unwrap();
    assert_eq!(sneaky.status(), StatusCode::NOT_FOUND);

    // The schedule: its passphrase goes to DATA/backup-passphrase, owner-only.
    web.click("#enabled").await;
    web.fill("#every_hours", "12").await;
    web.fill("#keep", "3").await;
    web.fill("#schedule_passphrase", PASSPHRASE).await;
    web.fill("#schedule_confirm", PASSPHRASE).await;
    web.submit("#schedule-form button").await;
    let flash = web.text("#flash").await;
    assert!(
        flash.contains("Scheduled backups on: every 12 h, the newest 3 kept"),
        "{flash}"
    );
    assert!(
        web.text("#next-due")
            .await
            .contains("Next scheduled backup")
    );
    let stored = s.dir.path().join("backup-passphrase");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&stored).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(std::fs::read_to_string(&stored).unwrap(), PASSPHRASE);

    // Delete.
    web.submit("#backup-list form button").await;
    assert!(
        web.text("#flash")
            .await
            .contains(&format!("Deleted {name}"))
    );
    assert!(!on_disk.exists());
    assert!(listed(&web, &s, 0).await);
}
