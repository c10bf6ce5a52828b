//! The pairing against a man in the middle, and FIPS mode's TLS.

use super::*;

#[tokio::test]
async fn a_man_in_the_middle_cannot_register() {
    let mcm = node("mcm-mitm", 1).await;
    convert(&mcm).await;
    let mitm = mitm::start(mcm.running.addr).await;
    let cm = node("cm-mitm", 2).await;
    let (ok, out) = cli(
        &cm,
        &[
            "cm",
            &format!("set mcm ip {mitm} passphrase {PASSPHRASE} username admin"),
        ],
    )
    .await;
    assert!(!ok, "{out}");
    assert!(
        out.contains("wrong passphrase"),
        "the proof was bound to the MITM's certificate: {out}"
    );
    let cms: Vec<serde_json::Value> = mcm.admin.get("/api/v1/cms").await.unwrap();
    assert!(cms.is_empty());
}
/// A TLS-terminating man in the middle with a certificate of its own, relaying to the MCM.
mod mitm {
    use std::{net::SocketAddr, sync::Arc};

    use tokio::net::{TcpListener, TcpStream};

    pub async fn start(upstream: SocketAddr) -> SocketAddr {
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
        let key =
            rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut client_side) = acceptor.accept(inbound).await else {
                        return;
                    };
                    let connector = aerie_client_tls();
                    let Ok(tcp) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
                    let Ok(mut server_side) = connector.connect(name, tcp).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut client_side, &mut server_side).await;
                });
            }
        });
        addr
    }

    /// A client that accepts any certificate, as a MITM would.
    fn aerie_client_tls() -> tokio_rustls::TlsConnector {
        let seen = aerie_client::Recorder::default();
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let config =
            aerie_client::testing_client_config(aerie_client::Trust::Record(seen), provider);
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }
}
/// Connects with a client offering `suites` only; returns the negotiated suite, if any.
async fn handshake(
    addr: std::net::SocketAddr,
    suites: &[rustls::CipherSuite],
) -> Option<rustls::CipherSuite> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider
        .cipher_suites
        .retain(|s| suites.contains(&s.suite()));
    let config = aerie_client::testing_client_config(
        aerie_client::Trust::Record(Default::default()),
        provider,
    );
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.ok()?;
    tls.get_ref().1.negotiated_cipher_suite().map(|s| s.suite())
}
#[tokio::test]
async fn fips_mode_restricts_tls_to_approved_suites() {
    use rustls::CipherSuite::{TLS13_AES_256_GCM_SHA384, TLS13_CHACHA20_POLY1305_SHA256};
    let dir = tempfile::tempdir().unwrap();
    let config = |dir: &std::path::Path| {
        let layer = aerie_server::ConfigLayer {
            listen: Some("127.0.0.1:0".into()),
            ..Default::default()
        };
        aerie_server::Config::resolve(dir, layer).unwrap()
    };
    let shutdown = tokio_util::sync::CancellationToken::new();
    let first = aerie_server::start_with_admin(
        config(dir.path()),
        shutdown.clone(),
        Some("fips-admin-1".into()),
    )
    .await
    .unwrap();
    assert_eq!(
        handshake(first.addr, &[TLS13_CHACHA20_POLY1305_SHA256]).await,
        Some(TLS13_CHACHA20_POLY1305_SHA256)
    );
    let mut out = Vec::new();
    let lines = vec!["set fips enable confirm".to_owned()];
    let path = dir.path().to_owned();
    tokio::task::spawn_blocking(move || aerie_cli::run_lines(&path, &lines, &mut out))
        .await
        .unwrap()
        .unwrap();
    shutdown.cancel();
    first.wait().await.unwrap();

    let shutdown = tokio_util::sync::CancellationToken::new();
    let again = aerie_server::start_with_admin(config(dir.path()), shutdown.clone(), None)
        .await
        .unwrap();
    assert_eq!(
        handshake(again.addr, &[TLS13_CHACHA20_POLY1305_SHA256]).await,
        None,
        "ChaCha20 is not FIPS-approved"
    );
    assert_eq!(
        handshake(again.addr, &[TLS13_AES_256_GCM_SHA384]).await,
        Some(TLS13_AES_256_GCM_SHA384)
    );
    shutdown.cancel();
}

#[tokio::test]
async fn a_fips_switch_after_registration_stops_the_sync_with_a_reason() {
    let mcm = node("mcm-fips-later", 1).await;
    convert(&mcm).await;
    let cm = node("cm-fips-later", 2).await;
    let (ok, out) = register(&cm, &mcm).await;
    assert!(ok, "{out}");

    // The CM switches: its key no longer matches its mode, and it says so.
    let (ok, _) = cli(&cm, &["set fips enable confirm"]).await;
    assert!(ok);
    assert!(
        eventually(5, || async {
            show_mcm(&cm)
                .await
                .contains("FIPS mode was enabled since set mcm ip")
        })
        .await,
        "{}",
        show_mcm(&cm).await
    );
    // Switching back resumes the sync.
    let (ok, _) = cli(&cm, &["set fips disable confirm"]).await;
    assert!(ok);
    cm.admin
        .post_events(&batch(vec![event("10.7.0.1", 100, 0.9)]))
        .await
        .unwrap();
    assert!(
        eventually(10, || async {
            mcm.running.state.store.cms().await.unwrap()[0].incident_count == 1
        })
        .await,
        "{}",
        show_mcm(&cm).await
    );

    // The MCM switches: it refuses the CM that is still in the other mode.
    let (ok, _) = cli(&mcm, &["set fips enable confirm"]).await;
    assert!(ok);
    cm.admin
        .post_events(&batch(vec![event("10.7.0.2", 100, 0.9)]))
        .await
        .unwrap();
    assert!(
        eventually(10, || async {
            show_mcm(&cm)
                .await
                .contains("MCM is in FIPS mode, this CM is not")
        })
        .await,
        "{}",
        show_mcm(&cm).await
    );
    assert_eq!(
        mcm.running.state.store.cms().await.unwrap()[0].incident_count,
        1,
        "nothing accepted from a CM in the other mode"
    );
}
