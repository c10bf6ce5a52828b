mod common;

use aerie_license::license::LICENSE_KIND;
use aerie_license::{
    DeviceType, License, LicenseRefusal, SignedError, SigningKey, UpdateError, check_index,
    check_license,
};
use common::{at, license};

const APPLIANCE: &str = "0f8e2c1a-mcm-1";

fn signed(key: &SigningKey, l: &License) -> String {
    key.sign_document(LICENSE_KIND, l).unwrap()
}

#[test]
fn a_good_license_is_accepted() {
    let key = SigningKey::generate().unwrap();
    let text = signed(&key, &license());
    let got = check_license(
        &text,
        &[key.public()],
        DeviceType::Mcm,
        APPLIANCE,
        at(2025, 6, 1),
    )
    .unwrap();
    assert_eq!(got, license());
    assert!(got.allows_updates(at(2025, 6, 1)));
    assert_eq!(got.days_left(at(2026, 1, 21)), 10);
}

#[test]
fn an_expired_license_is_refused_with_its_date() {
    let key = SigningKey::generate().unwrap();
    let text = signed(&key, &license());
    let err = check_license(
        &text,
        &[key.public()],
        DeviceType::Mcm,
        APPLIANCE,
        at(2026, 2, 1),
    )
    .unwrap_err();
    assert_eq!(
        err,
        LicenseRefusal::Expired {
            not_after: license().not_after
        }
    );
    assert!(err.to_string().contains("expired on 2026-01-31"), "{err}");
}

#[test]
fn a_license_before_its_start_is_refused() {
    let key = SigningKey::generate().unwrap();
    let text = signed(&key, &license());
    let err = check_license(
        &text,
        &[key.public()],
        DeviceType::Mcm,
        APPLIANCE,
        at(2025, 1, 1),
    )
    .unwrap_err();
    assert_eq!(
        err,
        LicenseRefusal::NotYetValid {
            not_before: license().not_before
        }
    );
}

#[test]
fn a_license_for_the_other_device_type_is_refused() {
    let key = SigningKey::generate().unwrap();
    let text = signed(&key, &license());
    let err = check_license(
        &text,
        &[key.public()],
        DeviceType::Cm,
        APPLIANCE,
        at(2025, 6, 1),
    )
    .unwrap_err();
    assert_eq!(
        err,
        LicenseRefusal::WrongDevice {
            licensed: DeviceType::Mcm,
            this: DeviceType::Cm
        }
    );
    assert_eq!(
        err.to_string(),
        "this license is for an MCM; this appliance is a CM"
    );
}

#[test]
fn a_license_for_another_appliance_is_refused() {
    let key = SigningKey::generate().unwrap();
    let text = signed(&key, &license());
    let err = check_license(
        &text,
        &[key.public()],
        DeviceType::Mcm,
        "other-box",
        at(2025, 6, 1),
    )
    .unwrap_err();
    assert!(
        matches!(&err, LicenseRefusal::WrongAppliance { licensed, this }
        if licensed == APPLIANCE && this == "other-box")
    );
    assert!(
        err.to_string()
            .contains("bound to appliance 0f8e2c1a-mcm-1"),
        "{err}"
    );
}

#[test]
fn a_signed_but_nonsensical_license_is_invalid() {
    let key = SigningKey::generate().unwrap();
    let mut l = license();
    l.customer = String::new();
    let text = signed(&key, &l);
    let err = check_license(
        &text,
        &[key.public()],
        DeviceType::Mcm,
        APPLIANCE,
        at(2025, 6, 1),
    )
    .unwrap_err();
    assert!(matches!(err, LicenseRefusal::Invalid(_)), "{err}");
}

#[test]
fn a_tampered_payload_fails_the_signature() {
    let key = SigningKey::generate().unwrap();
    let text = signed(&key, &license());
    let (head, rest) = text.split_once('.').unwrap();
    let (payload, sig) = rest.split_once('.').unwrap();
    let mut bytes = payload.as_bytes().to_vec();
    let i = bytes.len() / 2;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    let tampered = format!("{head}.{}.{sig}", String::from_utf8(bytes).unwrap());
    assert_ne!(tampered, text);
    let err = check_license(
        &tampered,
        &[key.public()],
        DeviceType::Mcm,
        APPLIANCE,
        at(2025, 6, 1),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            LicenseRefusal::Signature(SignedError::BadSignature { .. })
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("altered or signed by someone else"),
        "{err}"
    );
}

#[test]
fn a_license_signed_by_another_key_is_refused() {
    let vendor = SigningKey::generate().unwrap();
    let forger = SigningKey::generate().unwrap();
    let text = signed(&forger, &license());
    let err = check_license(
        &text,
        &[vendor.public()],
        DeviceType::Mcm,
        APPLIANCE,
        at(2025, 6, 1),
    )
    .unwrap_err();
    let LicenseRefusal::Signature(SignedError::BadSignature { keys }) = err else {
        panic!("expected BadSignature, got {err}");
    };
    assert_eq!(keys, vendor.public().fingerprint());
}

#[test]
fn a_license_is_not_an_update_index() {
    let key = SigningKey::generate().unwrap();
    let text = signed(&key, &license());
    let err = check_index(&text, &[key.public()], at(2025, 6, 1)).unwrap_err();
    assert!(
        matches!(&err, UpdateError::Signature(SignedError::WrongKind { expected, found })
            if expected == "index" && found == "license"),
        "{err}"
    );
}

#[test]
fn the_second_key_of_a_rotation_list_verifies() {
    let old = SigningKey::generate().unwrap();
    let new = SigningKey::generate().unwrap();
    let text = signed(&new, &license());
    let trusted = [old.public(), new.public()];
    let got = check_license(&text, &trusted, DeviceType::Mcm, APPLIANCE, at(2025, 6, 1)).unwrap();
    assert_eq!(got.id, "LIC-0001");
    let only_old = check_license(
        &text,
        &trusted[..1],
        DeviceType::Mcm,
        APPLIANCE,
        at(2025, 6, 1),
    );
    assert!(only_old.is_err());
}

#[test]
fn a_reloaded_signing_key_signs_verifiable_licenses() {
    let key = SigningKey::generate().unwrap();
    let reloaded = SigningKey::from_pkcs8(&key.to_pkcs8().unwrap()).unwrap();
    let text = signed(&reloaded, &license());
    let public = key.public().to_string().parse().unwrap();
    assert!(check_license(&text, &[public], DeviceType::Mcm, APPLIANCE, at(2025, 6, 1)).is_ok());
}

#[test]
fn unknown_fields_from_a_newer_vendor_are_ignored() {
    let key = SigningKey::generate().unwrap();
    let mut json = serde_json::to_value(license()).unwrap();
    json["seats"] = serde_json::json!(7);
    let text = key.sign_document(LICENSE_KIND, &json).unwrap();
    assert!(
        check_license(
            &text,
            &[key.public()],
            DeviceType::Mcm,
            APPLIANCE,
            at(2025, 6, 1)
        )
        .is_ok()
    );
    json.as_object_mut().unwrap().remove("customer");
    let text = key.sign_document(LICENSE_KIND, &json).unwrap();
    let err = check_license(
        &text,
        &[key.public()],
        DeviceType::Mcm,
        APPLIANCE,
        at(2025, 6, 1),
    )
    .unwrap_err();
    assert!(
        matches!(err, LicenseRefusal::Signature(SignedError::BadPayload(_))),
        "{err}"
    );
}
