//! Licensing through the browser: with a vendor key made in the test (the test override),
//! a license for this appliance is accepted and shown; a bad, expired, wrong-device,
//! wrong-appliance or foreign-signed license is refused with the reason and the
//! installed one stays; updates need a valid license.

use aerie_license::{DeviceType, License, SigningKey};
use aerie_server::ConfigLayer;
use chrono::{TimeDelta, Utc};

use super::*;

fn license(device: DeviceType, appliance: &str, from_days: i64, until_days: i64) -> License {
    License {
        id: "LIC-0042".into(),
        customer: "Example SOC <script>window.__xss=1</script>".into(),
        device,
        appliance_id: appliance.into(),
        features: vec!["updates".into(), "federation".into()],
        not_before: Utc::now() + TimeDelta::days(from_days),
        not_after: Utc::now() + TimeDelta::days(until_days),
        support_until: None,
        max_cms: Some(50),
    }
}

#[tokio::test]
async fn a_license_for_this_appliance_is_installed_and_bad_ones_are_refused() {
    let Some(web) = browser().await else { return };
    let vendor = SigningKey::generate().unwrap();
    let s = common::start_with(ConfigLayer {
        vendor_public_key_override: Some(vendor.public().to_string()),
        ..Default::default()
    })
    .await;
    web.login(&s, "admin", &s.admin_password).await;
    web.go(&s, "/config/licensing").await;
    assert!(
        web.text("#license-state")
            .await
            .contains("No license is installed")
    );
    assert!(web.text("#test-key").await.contains("TEST KEY"));
    let id = web.text("#appliance-id").await;
    assert!(!id.is_empty());
    let refused = aerie_server::ops::licensing::for_updates(&s.running.state)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("updates need a CM license: none is installed"),
        "{refused}"
    );

    let install = |text: String| {
        let (web, s) = (&web, &s);
        async move {
            web.go(s, "/config/licensing").await;
            web.fill("#license-text", &text).await;
            web.submit("#license-form button").await;
            web.text("#flash").await
        }
    };
    let sign = |l: &License| vendor.sign_document("license", l).unwrap();

    let good = sign(&license(DeviceType::Cm, &id, -1, 365));
    let said = install(good).await;
    assert!(
        said.contains("License LIC-0042 for Example SOC") && said.contains("installed"),
        "{said}"
    );
    assert!(web.text("#license-state").await.contains("Valid"));
    assert!(web.text("#license-customer").await.contains("<script>"));
    web.inert().await;
    web.snap("licensing.png").await;
    let granted = aerie_server::ops::licensing::for_updates(&s.running.state)
        .await
        .unwrap();
    assert_eq!(granted.id, "LIC-0042");

    let cases = [
        (
            sign(&license(DeviceType::Cm, &id, -30, -1)),
            "the license expired on",
        ),
        (
            sign(&license(DeviceType::Cm, &id, 2, 30)),
            "valid only from",
        ),
        (
            sign(&license(DeviceType::Mcm, &id, -1, 30)),
            "this license is for an MCM; this appliance is a CM",
        ),
        (
            sign(&license(DeviceType::Cm, "someone-else", -1, 30)),
            "bound to appliance someone-else",
        ),
        (
            SigningKey::generate()
                .unwrap()
                .sign_document("license", &license(DeviceType::Cm, &id, -1, 30))
                .unwrap(),
            "signature",
        ),
        ("aerie-license-v1.garbage".to_owned(), "license refused"),
    ];
    for (text, why) in cases {
        let said = install(text).await;
        assert!(said.contains(why), "expected {why:?} in {said:?}");
        assert_eq!(
            web.text("#license-id").await,
            "LIC-0042",
            "the installed license stays"
        );
    }
    // A flipped character in the payload breaks the signature.
    let mut tampered = sign(&license(DeviceType::Cm, &id, -1, 3650)).into_bytes();
    let at = tampered.iter().position(|b| *b == b'.').unwrap() + 20;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let said = install(String::from_utf8(tampered).unwrap()).await;
    assert!(
        said.contains("signature") || said.contains("license refused"),
        "{said}"
    );
    assert!(web.text("#license-until").await.contains("days left"));
}
