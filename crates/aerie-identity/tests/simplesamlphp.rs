//! The SAML service provider against a real SimpleSAMLphp IdP: an SP-initiated login
//! (the browser's part scripted over HTTP, cookies and all), then the refusals: a
//! replayed response, an altered one, an expired one, and unsigned assertions.

use std::{
    collections::HashSet,
    time::{Duration, SystemTime},
};

use aerie_identity::{
    saml::{ServiceProvider, describe_idp},
    testing::SimpleSamlPhp,
};
use base64::Engine;

const SP: &str = "https://aerie.test/sp";
const ACS: &str = "https://127.0.0.1:9443/saml/acs";

#[tokio::test]
async fn sp_initiated_login_and_its_refusals() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let Some(idp) = SimpleSamlPhp::start(SP, ACS) else {
        return;
    };
    let metadata = idp.metadata().await;
    let info = describe_idp(&metadata).unwrap();
    assert_eq!(info.entity_id, idp.entity_id());
    assert!(info.sso_url.unwrap().contains("SSOService.php"));
    let cert = &info.signing_certificates[0];
    assert!(cert.subject.contains("test-idp"), "{cert:?}");
    assert_eq!(cert.sha256.len(), 32 * 3 - 1);
    assert!(cert.not_after - cert.not_before > 29 * 86_400);
    let skew = Duration::from_secs(60);
    let sp = ServiceProvider::new(SP, ACS, &metadata, skew).unwrap();
    assert!(
        sp.metadata_xml().contains(ACS),
        "the SP metadata names its ACS"
    );

    let (redirect, pending) = sp.start("/incidents").unwrap();
    let (response, relay) = idp.log_in(redirect, "alice", "alicepass").await;
    assert_eq!(relay.as_deref(), Some("/incidents"));
    let user = sp
        .finish(&pending, &response, relay.as_deref(), SystemTime::now())
        .unwrap();
    assert_eq!(user.name_id, "alice@example.com");
    assert_eq!(user.values("groups"), ["soc-analysts"]);

    // The caller's replay cache: each identifier once.
    let mut cache: HashSet<String> = user.seen.iter().map(|(k, _)| k.clone()).collect();
    assert!(
        cache.iter().any(|k| k.starts_with("response_id:")),
        "{cache:?}"
    );
    let again = sp
        .finish(&pending, &response, relay.as_deref(), SystemTime::now())
        .unwrap();
    assert!(
        again.seen.iter().any(|(k, _)| !cache.insert(k.clone())),
        "a replayed response reuses identifiers the cache holds"
    );

    // Altered: a signed response with another user's name in it.
    let xml = base64::engine::general_purpose::STANDARD
        .decode(&response)
        .unwrap();
    let altered = String::from_utf8(xml)
        .unwrap()
        .replace("alice@example.com", "mallory@example.com");
    let altered = base64::engine::general_purpose::STANDARD.encode(altered);
    let err = sp
        .finish(&pending, &altered, relay.as_deref(), SystemTime::now())
        .unwrap_err();
    assert!(err.to_string().contains("Signature"), "{err}");

    // Expired: the same response a day later.
    let later = SystemTime::now() + Duration::from_secs(86_400);
    assert!(
        sp.finish(&pending, &response, relay.as_deref(), later)
            .is_err()
    );

    // Unsigned assertions (the response alone signed) are refused.
    let unsigned_sp = format!("{SP}-unsigned");
    let sp2 = ServiceProvider::new(&unsigned_sp, ACS, &metadata, skew).unwrap();
    let (redirect, pending) = sp2.start("/").unwrap();
    let (response, relay) = idp.log_in(redirect, "alice", "alicepass").await;
    let err = sp2
        .finish(&pending, &response, relay.as_deref(), SystemTime::now())
        .unwrap_err();
    assert!(
        err.to_string().contains("AssertionSignatureRequired"),
        "{err}"
    );
}
