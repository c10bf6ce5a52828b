//! GSS Settings and signed updates through the browser, from a repository directory made
//! here and signed with a vendor key made here: an update is refused without a license,
//! when its bundle was altered, as a downgrade, and from an expired index; with a license
//! it is staged next to the running binary and the appliance asks to restart into it;
//! `set system rollback` goes back.

use std::os::unix::fs::PermissionsExt;

use aerie_license::{
    BundleEntry, BundleKind, DeviceType, Index, License, SigningKey, Version, build_bundle,
};
use aerie_server::ConfigLayer;
use chrono::{TimeDelta, Utc};

use super::*;
use crate::common::cli;

const STAGED_BINARY: &[u8] = b"#!/bin/sh\necho 'aerie 0.2.0'\n";

/// Writes a repository offering `version` into `repo`, its index valid for `days`.
fn publish(vendor: &SigningKey, repo: &std::path::Path, version: &str, days: i64) {
    let bin = repo.join("aerie.bin");
    std::fs::write(&bin, STAGED_BINARY).unwrap();
    let version: Version = version.parse().unwrap();
    let file = format!("aerie-{version}.tar.gz");
    let built = build_bundle(
        &version,
        BundleKind::Software,
        &[("bin/aerie", &bin, 0o755)],
        &repo.join(&file),
    )
    .unwrap();
    let now = Utc::now();
    let index = Index {
        product: "aerie".into(),
        issued_at: now - TimeDelta::days(1),
        expires_at: now + TimeDelta::days(days),
        bundles: vec![BundleEntry {
            version,
            kind: BundleKind::Software,
            min_from_version: None,
            file,
            sha256: built.sha256,
            size: built.size,
            released_at: now - TimeDelta::hours(1),
            device: None,
        }],
    };
    std::fs::write(
        repo.join("index"),
        vendor.sign_document("index", &index).unwrap(),
    )
    .unwrap();
}

#[tokio::test]
async fn a_signed_update_is_applied_under_a_license_and_refused_otherwise() {
    let Some(web) = browser().await else { return };
    let vendor = SigningKey::generate().unwrap();
    let s = common::start_with(ConfigLayer {
        vendor_public_key_override: Some(vendor.public().to_string()),
        ..Default::default()
    })
    .await;
    let repo = tempfile::tempdir().unwrap();
    publish(&vendor, repo.path(), "0.2.0", 7);

    web.login(&s, "admin", &s.admin_password).await;
    let act = |form: &'static str| {
        let (web, s) = (&web, &s);
        async move {
            web.go(s, "/config/gss").await;
            web.submit(&format!("{form} button")).await;
            web.text("#flash").await
        }
    };
    web.go(&s, "/config/gss").await;
    assert_eq!(web.text("#running").await, env!("CARGO_PKG_VERSION"));
    web.choose("#kind", "directory").await;
    web.fill("#location", &repo.path().display().to_string())
        .await;
    web.submit("#source-form button").await;
    assert!(
        web.text("#flash")
            .await
            .contains("Update source: directory")
    );
    let said = act("#check-form").await;
    assert!(said.contains("Version 0.2.0 is available"), "{said}");
    assert!(
        web.text("#last-check")
            .await
            .contains("version 0.2.0 available")
    );

    // No license: refused.
    let said = act("#apply-form").await;
    assert!(
        said.contains("updates need a CM license: none is installed"),
        "{said}"
    );

    let id = aerie_server::federation::cm::appliance_id(&s.running.state.federation)
        .await
        .unwrap();
    let license = License {
        id: "LIC-7".into(),
        customer: "Example SOC".into(),
        device: DeviceType::Cm,
        appliance_id: id,
        features: vec![],
        not_before: Utc::now() - TimeDelta::days(1),
        not_after: Utc::now() + TimeDelta::days(365),
        support_until: None,
        max_cms: None,
    };
    web.go(&s, "/config/licensing").await;
    web.fill(
        "#license-text",
        &vendor.sign_document("license", &license).unwrap(),
    )
    .await;
    web.submit("#license-form button").await;
    assert!(web.text("#flash").await.contains("installed"));

    // An altered bundle: refused, nothing staged.
    let bundle = repo.path().join("aerie-0.2.0.tar.gz");
    let good = std::fs::read(&bundle).unwrap();
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0xFF;
    std::fs::write(&bundle, &bad).unwrap();
    let said = act("#apply-form").await;
    assert!(
        said.contains("the update is refused") && said.contains("SHA-256"),
        "{said}"
    );
    assert!(!s.dir.path().join("updates/current").exists());
    assert!(!s.running.state.restart.is_requested());

    // An expired index (an old copy replayed): refused.
    publish(&vendor, repo.path(), "0.2.0", -1);
    let said = act("#check-form").await;
    assert!(said.contains("the update index is refused"), "{said}");
    // Signed by someone else: refused.
    publish(&SigningKey::generate().unwrap(), repo.path(), "0.2.0", 7);
    let said = act("#apply-form").await;
    assert!(said.contains("the update index is refused"), "{said}");
    // Only an older version offered: nothing to apply.
    let older = tempfile::tempdir().unwrap();
    publish(&vendor, older.path(), "0.0.9", 7);
    std::fs::copy(older.path().join("index"), repo.path().join("index")).unwrap();
    std::fs::copy(
        older.path().join("aerie-0.0.9.tar.gz"),
        repo.path().join("aerie-0.0.9.tar.gz"),
    )
    .unwrap();
    let said = act("#apply-form").await;
    assert!(said.contains("no newer version is offered"), "{said}");

    // The real one: staged, audited, restart requested.
    publish(&vendor, repo.path(), "0.2.0", 7);
    let said = act("#apply-form").await;
    assert!(said.contains("Version 0.2.0 verified and staged"), "{said}");
    assert!(s.running.state.restart.is_requested());
    let staged = s.dir.path().join("updates/current/bin/aerie");
    assert_eq!(std::fs::read(&staged).unwrap(), STAGED_BINARY);
    assert_eq!(
        std::fs::metadata(&staged).unwrap().permissions().mode() & 0o777,
        0o755
    );
    assert_eq!(
        aerie_server::ops::updates::current_binary(s.dir.path()),
        Some(staged.clone())
    );
    web.go(&s, "/config/gss").await;
    assert_eq!(web.text("#staged").await, "0.2.0");
    web.snap("gss-settings.png").await;
    let audit = s.running.state.store.audit_entries(0, 1000).await.unwrap();
    assert!(audit.iter().any(|e| e.record.action == "update.apply"
        && e.record.detail.contains("→ 0.2.0 (license LIC-7)")));

    // Rollback from the CLI.
    let (ok, out) = cli(&s, &["set system rollback"]).await;
    assert!(ok, "{out}");
    assert!(
        out.contains("Rolled back: 0.2.0 → the installed binary"),
        "{out}"
    );
    assert!(aerie_server::ops::updates::current_binary(s.dir.path()).is_none());
    let (ok, out) = cli(&s, &["set system rollback"]).await;
    assert!(!ok && out.contains("nothing to roll back"), "{out}");
}
