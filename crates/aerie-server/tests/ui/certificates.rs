//! Certificate Management: the page shows the served certificate; a new one is served at
//! once; an MCM's CMs follow its new certificate without operator action (proven with
//! the device key) and the MCM follows a CM's; a CSR round trip with a CA made here; bad
//! uploads refused with the reason; near expiry warns every admin page.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

use super::*;

/// Posts one action of the Certificate Management page; returns the flash text.
async fn act(
    s: &TestServer,
    http: &reqwest::Client,
    cookie: &str,
    fields: &[(&str, &str)],
) -> String {
    let page = page(s, http, cookie).await;
    let csrf = csrf_of(&page);
    let mut form = vec![("_csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    let resp = http
        .post(s.url("/config/certificates"))
        .header("cookie", cookie)
        .header("origin", s.url(""))
        .form(&form)
        .send()
        .await
        .unwrap();
    flash_text(&resp)
}

async fn page(s: &TestServer, http: &reqwest::Client, cookie: &str) -> String {
    http.get(s.url("/config/certificates"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn served(s: &TestServer) -> String {
    aerie_client::Fingerprint::of(&s.running.state.tls.current().cert_der).to_string()
}

/// The certificate a TLS handshake with `s` presents now.
async fn presented(s: &TestServer) -> String {
    let seen = aerie_client::Recorder::default();
    let client =
        aerie_client::Client::with_trust(&s.url(""), aerie_client::Trust::Record(seen.clone()))
            .unwrap();
    let _ = client.health().await;
    let fp = seen.lock().unwrap().expect("a certificate was presented");
    fp.to_string()
}

#[tokio::test]
async fn an_mcm_certificate_change_is_followed_by_its_cms_without_operator_action() {
    let Some(web) = browser().await else { return };
    let mcm = node("mcm-rotate", 1).await;
    convert(&mcm).await;
    let cm1 = node("cm-oslo", 2).await;
    let cm2 = node("cm-rome", 3).await;
    for cm in [&cm1, &cm2] {
        let (ok, out) = register(cm, &mcm).await;
        assert!(ok, "{out}");
        cm.admin
            .post_events(&batch(vec![event("10.1.0.1", 100, 0.9)]))
            .await
            .unwrap();
    }
    let on_mcm = || async {
        mcm.running
            .state
            .store
            .remote_incidents(&Default::default(), &[])
            .await
            .unwrap()
            .items
            .len()
    };
    assert!(eventually(10, || async { on_mcm().await == 2 }).await);
    let old = served(&mcm);

    web.login(&mcm, "admin", &mcm.admin_password).await;
    web.go(&mcm, "/config/certificates").await;
    assert_eq!(web.text("#served-cert code.fingerprint").await, old);
    assert!(
        web.text("#served-cert dd.sans")
            .await
            .contains("mcm-rotate")
    );
    web.snap("certificate-management.png").await;
    web.submit("#generate button").await;
    let flash = web.text("#flash").await;
    assert!(
        flash.contains("Certificate installed (new self-signed)"),
        "{flash}"
    );
    let new = served(&mcm);
    assert_ne!(new, old);
    assert_eq!(web.text("#served-cert code.fingerprint").await, new);
    assert_eq!(
        presented(&mcm).await,
        new,
        "the new certificate is served at once"
    );

    // New incidents on both CMs arrive: each CM re-pinned after the MCM proved its new
    // certificate with the device key.
    for cm in [&cm1, &cm2] {
        cm.admin
            .post_events(&batch(vec![event("10.1.0.2", 200, 0.9)]))
            .await
            .unwrap();
    }
    assert!(
        eventually(20, || async { on_mcm().await == 4 }).await,
        "the CMs stopped syncing after the MCM's certificate changed"
    );
    for cm in [&cm1, &cm2] {
        // Within a sync round of the first answer that named the new certificate.
        let repinned = eventually(5, || async {
            cm.running
                .state
                .store
                .setting(aerie_server::federation::keys::MCM_FINGERPRINT)
                .await
                .unwrap()
                .as_deref()
                == Some(new.as_str())
        })
        .await;
        assert!(
            repinned,
            "the CM did not pin the MCM's new certificate: {:?}",
            aerie_server::federation::show(&cm.running.state.federation)
                .await
                .unwrap()
                .state
        );
        // The audit entry follows the new pin's setting by a moment.
        let audited = || async {
            let audit = cm.running.state.store.audit_entries(0, 1000).await.unwrap();
            audit
                .iter()
                .any(|e| e.record.action == "mcm.certificate" && e.record.detail.contains(&new))
        };
        assert!(
            eventually(5, audited).await,
            "the re-pin is audited on the CM"
        );
    }

    // A CM's own change: the MCM re-pins its proxy from the CM's next sync, and live
    // actions through the proxy keep working.
    let http = raw_client();
    let cookie = form_login(&cm1, &http, "admin", &cm1.admin_password).await;
    let said = act(&cm1, &http, &cookie, &[("action", "generate")]).await;
    assert!(said.contains("Certificate installed"), "{said}");
    let cm1_new = served(&cm1);
    let cm_id = cm_id_of(&mcm, "cm-oslo").await;
    let repinned = eventually(10, || async {
        mcm.running
            .state
            .store
            .cm(aerie_domain::ids::CmId::new(cm_id))
            .await
            .unwrap()
            .is_some_and(|c| c.cert_fingerprint.as_str() == cm1_new)
    })
    .await;
    assert!(repinned, "the MCM did not follow the CM's new certificate");
    let mcm_http = raw_client();
    let mcm_cookie = form_login(&mcm, &mcm_http, "admin", &mcm.admin_password).await;
    let remote = mcm
        .running
        .state
        .store
        .remote_incidents(&Default::default(), &[aerie_domain::ids::CmId::new(cm_id)])
        .await
        .unwrap();
    let incident = remote.items[0].incident.id.get();
    let detail = mcm_http
        .get(mcm.url(&format!("/incidents/{cm_id}/{incident}")))
        .header("cookie", &mcm_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(detail.status(), StatusCode::OK);
    let body = detail.text().await.unwrap();
    assert!(
        body.contains("Events"),
        "the live view through the proxy failed"
    );
    assert!(!body.contains("certificate changed"), "{body}");

    // A server that cannot prove its new certificate with the device key (here: the MCM
    // lost it) is not followed: the CM keeps its pin and says why.
    mcm.running
        .state
        .store
        .set_setting(
            aerie_server::federation::keys::MCM_DEVICE_KEY,
            &"00".repeat(32),
        )
        .await
        .unwrap();
    let said = act(&mcm, &mcm_http, &mcm_cookie, &[("action", "generate")]).await;
    assert!(said.contains("Certificate installed"), "{said}");
    let refused = eventually(15, || async {
        aerie_server::federation::show(&cm2.running.state.federation)
            .await
            .unwrap()
            .state
            .is_some_and(|s| s.contains("cannot prove the certificate it presents now"))
    })
    .await;
    assert!(
        refused,
        "{:?}",
        aerie_server::federation::show(&cm2.running.state.federation)
            .await
            .unwrap()
            .state
    );
    let pinned = cm2
        .running
        .state
        .store
        .setting(aerie_server::federation::keys::MCM_FINGERPRINT)
        .await
        .unwrap();
    assert_eq!(pinned.as_deref(), Some(new.as_str()));
}

/// A CA made here: its certificate (PEM) and issuer.
fn test_ca() -> (String, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Aerie Test CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), Issuer::new(params, key))
}

/// A self-signed certificate for `names` valid until `days` from today (negative: in
/// the past), and its key.
fn self_signed(names: &[&str], days: i64) -> (String, String) {
    use chrono::Datelike;
    let ymd = |d: chrono::DateTime<chrono::Utc>| {
        rcgen::date_time_ymd(d.year(), d.month() as u8, d.day() as u8)
    };
    let now = chrono::Utc::now();
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.not_before = ymd(now - chrono::TimeDelta::days(30));
    params.not_after = ymd(now + chrono::TimeDelta::days(days));
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

#[tokio::test]
async fn a_csr_signed_by_a_ca_is_installed_and_bad_uploads_are_refused() {
    let s = start().await;
    let http = raw_client();
    let cookie = form_login(&s, &http, "admin", &s.admin_password).await;

    // The request: a new key stays on the appliance; the page shows the CSR.
    let said = act(
        &s,
        &http,
        &cookie,
        &[
            ("action", "csr"),
            ("common_name", "cm-test"),
            ("names", "127.0.0.1, cm-test.example"),
        ],
    )
    .await;
    assert!(said.contains("Request created"), "{said}");
    let html = page(&s, &http, &cookie).await;
    let start_at = html
        .find("-----BEGIN CERTIFICATE REQUEST-----")
        .expect("the CSR is shown");
    let end_at = html.find("-----END CERTIFICATE REQUEST-----").unwrap() + 33;
    let csr = html[start_at..end_at].to_owned();

    let (ca_pem, ca) = test_ca();
    let signed = rcgen::CertificateSigningRequestParams::from_pem(&csr)
        .unwrap()
        .signed_by(&ca)
        .unwrap()
        .pem();
    // Its CA is neither in the chain nor trusted yet.
    let said = act(
        &s,
        &http,
        &cookie,
        &[("action", "signed"), ("certificate", &signed)],
    )
    .await;
    assert!(
        said.contains("neither in the chain nor in the trust store"),
        "{said}"
    );
    let said = act(&s, &http, &cookie, &[("action", "trust"), ("ca", &ca_pem)]).await;
    assert!(said.contains("Trusted CN=Aerie Test CA"), "{said}");
    assert!(page(&s, &http, &cookie).await.contains("Aerie Test CA"));
    let said = act(
        &s,
        &http,
        &cookie,
        &[("action", "signed"), ("certificate", &signed)],
    )
    .await;
    assert!(said.contains("Certificate installed (CA-signed"), "{said}");

    // A client that trusts only the test CA now verifies the appliance by name.
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    let config =
        rustls::ClientConfig::builder_with_provider(Arc::new(aerie_client::provider(false)))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(s.running.addr)
        .await
        .unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(
            rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap(),
            tcp,
        )
        .await
        .expect("the CA-signed certificate verifies against the CA");

    // The session still works on a new connection; a key that is not the certificate's,
    // and an expired certificate, are refused and change nothing.
    let before = served(&s);
    let (cert_a, _) = self_signed(&["cm-test"], 100);
    let (_, key_b) = self_signed(&["cm-test"], 100);
    let said = act(
        &s,
        &http,
        &cookie,
        &[
            ("action", "upload"),
            ("certificate", &cert_a),
            ("key", &key_b),
        ],
    )
    .await;
    assert!(
        said.contains("does not belong to the certificate"),
        "{said}"
    );
    let (old_cert, old_key) = self_signed(&["cm-test"], -1);
    let said = act(
        &s,
        &http,
        &cookie,
        &[
            ("action", "upload"),
            ("certificate", &old_cert),
            ("key", &old_key),
        ],
    )
    .await;
    assert!(said.contains("expired on"), "{said}");
    let said = act(
        &s,
        &http,
        &cookie,
        &[
            ("action", "upload"),
            ("certificate", "not pem"),
            ("key", &old_key),
        ],
    )
    .await;
    assert!(said.contains("no certificate"), "{said}");
    assert_eq!(served(&s), before);

    // A certificate that expires within 30 days is installed with a warning, and every
    // page warns admins (not the others).
    let (soon_cert, soon_key) = self_signed(&["cm-test", "127.0.0.1"], 10);
    let said = act(
        &s,
        &http,
        &cookie,
        &[
            ("action", "upload"),
            ("certificate", &soon_cert),
            ("key", &soon_key),
        ],
    )
    .await;
    assert!(
        said.contains("Warning: it expires on") && said.contains("days left"),
        "{said}"
    );
    assert_ne!(served(&s), before);
    let incidents = http
        .get(s.url("/incidents"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        incidents.contains("id=\"admin-notice\""),
        "admins are warned"
    );
    assert!(incidents.contains("Certificate Management"));
}
