mod common;

use std::fs;
use std::path::Path;

use aerie_license::update::{INDEX_KIND, check_upgrade};
use aerie_license::{
    BundleEntry, BundleKind, DeviceType, SigningKey, UpdateError, build_bundle, check_bundle_file,
    check_index, newest_for, unpack_bundle,
};
use common::{at, entry, index, v};

fn is_empty_or_absent(dir: &Path) -> bool {
    !dir.exists() || fs::read_dir(dir).unwrap().next().is_none()
}

#[test]
fn newest_for_picks_the_newest_applicable_bundle() {
    let mut too_new_base = entry("5.3.0", BundleKind::Software, "s-530.tar.gz");
    too_new_base.min_from_version = Some(v("5.2.0"));
    let mut cm_only = entry("5.2.5", BundleKind::Software, "s-525-cm.tar.gz");
    cm_only.device = Some(DeviceType::Cm);
    let mut from_50 = entry("5.2.0", BundleKind::Software, "s-520.tar.gz");
    from_50.min_from_version = Some(v("5.0.0"));
    let idx = index(vec![
        entry("5.0.0", BundleKind::Software, "s-500.tar.gz"),
        entry("5.1.0", BundleKind::Software, "s-510.tar.gz"),
        from_50,
        too_new_base,
        cm_only,
        entry("9.0.0", BundleKind::Content, "c-900.tar.gz"),
    ]);
    let got = newest_for(&idx, &v("5.1.0"), DeviceType::Mcm, BundleKind::Software).unwrap();
    assert_eq!(got.file, "s-520.tar.gz");
    let got = newest_for(&idx, &v("5.1.0"), DeviceType::Cm, BundleKind::Software).unwrap();
    assert_eq!(got.file, "s-525-cm.tar.gz");
    let got = newest_for(&idx, &v("5.2.0"), DeviceType::Mcm, BundleKind::Software).unwrap();
    assert_eq!(got.file, "s-530.tar.gz");
    let got = newest_for(&idx, &v("1.0.0"), DeviceType::Mcm, BundleKind::Content).unwrap();
    assert_eq!(got.file, "c-900.tar.gz");
}

#[test]
fn newest_for_never_offers_a_downgrade_or_the_same_version() {
    let idx = index(vec![
        entry("5.0.0", BundleKind::Software, "a.tar.gz"),
        entry("5.1.0", BundleKind::Software, "b.tar.gz"),
    ]);
    assert!(newest_for(&idx, &v("5.1.0"), DeviceType::Mcm, BundleKind::Software).is_none());
    assert!(newest_for(&idx, &v("6.0.0"), DeviceType::Mcm, BundleKind::Software).is_none());
    let err = check_upgrade(&idx.bundles[0], &v("5.1.0"), DeviceType::Mcm).unwrap_err();
    assert!(matches!(err, UpdateError::Downgrade { .. }), "{err}");
    let err = check_upgrade(&idx.bundles[1], &v("5.1.0"), DeviceType::Mcm).unwrap_err();
    assert!(matches!(err, UpdateError::Downgrade { .. }), "{err}");
}

#[test]
fn newest_for_respects_min_from_version() {
    let mut b = entry("6.0.0", BundleKind::Software, "a.tar.gz");
    b.min_from_version = Some(v("5.5.0"));
    let idx = index(vec![b]);
    assert!(newest_for(&idx, &v("5.4.9"), DeviceType::Mcm, BundleKind::Software).is_none());
    assert!(newest_for(&idx, &v("5.5.0"), DeviceType::Mcm, BundleKind::Software).is_some());
    let err = check_upgrade(&idx.bundles[0], &v("5.4.9"), DeviceType::Mcm).unwrap_err();
    assert!(err.to_string().contains("intermediate version"), "{err}");
}

#[test]
fn a_signed_index_is_checked() {
    let key = SigningKey::generate().unwrap();
    let idx = index(vec![entry("5.1.0", BundleKind::Software, "a.tar.gz")]);
    let text = key.sign_document(INDEX_KIND, &idx).unwrap();
    assert_eq!(
        check_index(&text, &[key.public()], at(2025, 6, 15)).unwrap(),
        idx
    );

    let err = check_index(&text, &[key.public()], at(2025, 7, 2)).unwrap_err();
    assert!(matches!(err, UpdateError::IndexExpired { .. }), "{err}");

    let other = SigningKey::generate().unwrap();
    let err = check_index(&text, &[other.public()], at(2025, 6, 15)).unwrap_err();
    assert!(
        err.to_string()
            .contains("altered or signed by someone else"),
        "{err}"
    );

    let mut wrong = idx.clone();
    wrong.product = "jatp".into();
    let text = key.sign_document(INDEX_KIND, &wrong).unwrap();
    let err = check_index(&text, &[key.public()], at(2025, 6, 15)).unwrap_err();
    assert!(matches!(err, UpdateError::WrongProduct { .. }), "{err}");
}

#[test]
fn an_index_with_unsafe_file_names_is_refused() {
    let key = SigningKey::generate().unwrap();
    for name in ["../evil.tar.gz", "dir/a.tar.gz", "", ".."] {
        let idx = index(vec![entry("5.1.0", BundleKind::Software, name)]);
        let text = key.sign_document(INDEX_KIND, &idx).unwrap();
        let err = check_index(&text, &[key.public()], at(2025, 6, 15)).unwrap_err();
        assert!(matches!(err, UpdateError::BadIndex(_)), "{name:?}: {err}");
    }
}

/// Builds a software bundle with `bin/aerie` (0o755) and `share/readme.txt` (0o644).
fn software_bundle(dir: &Path, version: &str) -> (BundleEntry, std::path::PathBuf) {
    let bin = dir.join("aerie-bin");
    let readme = dir.join("readme");
    fs::write(&bin, b"#!/bin/sh\necho aerie\n").unwrap();
    fs::write(&readme, b"release notes\n".repeat(1000)).unwrap();
    let out = dir.join(format!("aerie-{version}.tar.gz"));
    let built = build_bundle(
        &v(version),
        BundleKind::Software,
        &[
            ("bin/aerie", &bin, 0o755),
            ("share/readme.txt", &readme, 0o644),
        ],
        &out,
    )
    .unwrap();
    let mut e = entry(
        version,
        BundleKind::Software,
        out.file_name().unwrap().to_str().unwrap(),
    );
    e.sha256 = built.sha256;
    e.size = built.size;
    (e, out)
}

#[test]
fn build_then_unpack_round_trips_bytes_and_modes() {
    let tmp = tempfile::tempdir().unwrap();
    let (e, bundle) = software_bundle(tmp.path(), "5.2.0");
    assert_eq!(fs::metadata(&bundle).unwrap().len(), e.size);
    check_bundle_file(&e, &bundle).unwrap();

    let dest = tmp.path().join("staged");
    let manifest = unpack_bundle(&e, &bundle, &dest).unwrap();
    assert_eq!(manifest.version, v("5.2.0"));
    assert_eq!(manifest.files.len(), 2);
    assert_eq!(
        fs::read(dest.join("bin/aerie")).unwrap(),
        fs::read(tmp.path().join("aerie-bin")).unwrap()
    );
    assert_eq!(
        fs::read(dest.join("share/readme.txt")).unwrap(),
        fs::read(tmp.path().join("readme")).unwrap()
    );
    assert!(!dest.join("manifest.json").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &str| fs::metadata(dest.join(p)).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode("bin/aerie"), 0o755);
        assert_eq!(mode("share/readme.txt"), 0o644);
    }
}

#[test]
fn a_tampered_bundle_file_is_refused_and_nothing_is_unpacked() {
    let tmp = tempfile::tempdir().unwrap();
    let (e, bundle) = software_bundle(tmp.path(), "5.2.0");
    let mut bytes = fs::read(&bundle).unwrap();
    let i = bytes.len() / 2;
    bytes[i] ^= 0x01;
    fs::write(&bundle, &bytes).unwrap();
    let err = check_bundle_file(&e, &bundle).unwrap_err();
    assert!(matches!(err, UpdateError::HashMismatch { .. }), "{err}");
    assert!(err.to_string().contains("the signed index says"), "{err}");
    let dest = tmp.path().join("staged");
    let err = unpack_bundle(&e, &bundle, &dest).unwrap_err();
    assert!(matches!(err, UpdateError::HashMismatch { .. }), "{err}");
    assert!(is_empty_or_absent(&dest));

    bytes.push(0);
    fs::write(&bundle, &bytes).unwrap();
    let err = check_bundle_file(&e, &bundle).unwrap_err();
    assert!(matches!(err, UpdateError::SizeMismatch { .. }), "{err}");
}

#[test]
fn a_bundle_whose_manifest_disagrees_with_the_index_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut e, bundle) = software_bundle(tmp.path(), "5.2.0");
    e.version = v("5.3.0");
    let dest = tmp.path().join("staged");
    let err = unpack_bundle(&e, &bundle, &dest).unwrap_err();
    assert!(matches!(err, UpdateError::BadBundle(_)), "{err}");
    assert!(is_empty_or_absent(&dest));
}

/// A hand-made archive: `manifest.json` listing `bin/aerie`, then `extra` as given.
fn crafted(
    dir: &Path,
    extra: impl FnOnce(&mut tar::Builder<flate2::write::GzEncoder<fs::File>>),
) -> (BundleEntry, std::path::PathBuf) {
    let payload = b"binary";
    let sha = {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, payload);
        d.as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let manifest = serde_json::json!({
        "version": "5.2.0",
        "kind": "software",
        "files": [{ "path": "bin/aerie", "sha256": sha, "mode": 0o755 }],
    });
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let out = dir.join("crafted.tar.gz");
    let gz = flate2::write::GzEncoder::new(
        fs::File::create(&out).unwrap(),
        flate2::Compression::default(),
    );
    let mut tar = tar::Builder::new(gz);
    let mut h = tar::Header::new_gnu();
    h.set_size(manifest.len() as u64);
    h.set_mode(0o644);
    tar.append_data(&mut h, "manifest.json", manifest.as_slice())
        .unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(payload.len() as u64);
    h.set_mode(0o755);
    tar.append_data(&mut h, "bin/aerie", payload.as_slice())
        .unwrap();
    extra(&mut tar);
    tar.into_inner().unwrap().finish().unwrap();
    let bytes = fs::read(&out).unwrap();
    let mut e = entry("5.2.0", BundleKind::Software, "crafted.tar.gz");
    e.size = bytes.len() as u64;
    e.sha256 = {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
        d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    };
    (e, out)
}

#[test]
fn a_crafted_bundle_without_tricks_unpacks() {
    let tmp = tempfile::tempdir().unwrap();
    let (e, bundle) = crafted(tmp.path(), |_| {});
    let dest = tmp.path().join("staged");
    unpack_bundle(&e, &bundle, &dest).unwrap();
    assert_eq!(fs::read(dest.join("bin/aerie")).unwrap(), b"binary");
}

#[test]
fn a_member_climbing_out_with_dotdot_is_refused_and_dest_is_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let (e, bundle) = crafted(tmp.path(), |tar| {
        let mut h = tar::Header::new_gnu();
        let name = b"../x";
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_size(3);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        tar.append(&h, b"bad".as_slice()).unwrap();
    });
    let dest = tmp.path().join("staged");
    fs::create_dir(&dest).unwrap();
    let err = unpack_bundle(&e, &bundle, &dest).unwrap_err();
    assert!(
        matches!(&err, UpdateError::BadBundle(m) if m.contains("..")),
        "{err}"
    );
    assert!(dest.exists(), "an existing destination is kept");
    assert!(
        is_empty_or_absent(&dest),
        "bin/aerie was written, then must be removed"
    );
    assert!(!tmp.path().join("x").exists());
}

#[test]
fn a_symlink_member_is_refused_and_dest_is_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let (e, bundle) = crafted(tmp.path(), |tar| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        tar.append_link(&mut h, "share/passwd", "/etc/passwd")
            .unwrap();
    });
    let dest = tmp.path().join("staged");
    let err = unpack_bundle(&e, &bundle, &dest).unwrap_err();
    assert!(
        matches!(&err, UpdateError::BadBundle(m) if m.contains("symbolic link")),
        "{err}"
    );
    assert!(is_empty_or_absent(&dest));
}

#[test]
fn a_file_missing_from_the_manifest_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (e, bundle) = crafted(tmp.path(), |tar| {
        let mut h = tar::Header::new_gnu();
        h.set_size(4);
        h.set_mode(0o644);
        tar.append_data(&mut h, "bin/extra", b"more".as_slice())
            .unwrap();
    });
    let dest = tmp.path().join("staged");
    let err = unpack_bundle(&e, &bundle, &dest).unwrap_err();
    assert!(
        matches!(&err, UpdateError::BadBundle(m) if m.contains("bin/extra")),
        "{err}"
    );
    assert!(is_empty_or_absent(&dest));
}

#[test]
fn a_non_empty_destination_is_refused_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let (e, bundle) = software_bundle(tmp.path(), "5.2.0");
    let dest = tmp.path().join("staged");
    fs::create_dir(&dest).unwrap();
    fs::write(dest.join("keep"), b"mine").unwrap();
    assert!(unpack_bundle(&e, &bundle, &dest).is_err());
    assert_eq!(fs::read(dest.join("keep")).unwrap(), b"mine");
}

#[test]
fn build_bundle_refuses_a_software_bundle_without_the_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("f");
    fs::write(&src, b"x").unwrap();
    let out = tmp.path().join("out.tar.gz");
    let err = build_bundle(
        &v("1.0.0"),
        BundleKind::Software,
        &[("etc/f", &src, 0o644)],
        &out,
    )
    .unwrap_err();
    assert!(matches!(err, UpdateError::BadBundle(_)), "{err}");
    let err = build_bundle(
        &v("1.0.0"),
        BundleKind::Content,
        &[("../f", &src, 0o644)],
        &out,
    )
    .unwrap_err();
    assert!(matches!(err, UpdateError::BadBundle(_)), "{err}");
    assert!(!out.exists());
}
