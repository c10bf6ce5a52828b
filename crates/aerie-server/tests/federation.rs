//! Federation end to end: one real MCM and real CMs (separate daemons, data dirs and
//! loopback addresses), configured through the real CLI over each admin socket, talking
//! real HTTPS.

mod common;

use std::collections::BTreeMap;

use aerie_client::{Client, ClientError};
use aerie_proto::incidents::{IncidentList, IncidentListParams};
use common::{
    PASSPHRASE, TestServer, batch, cli, cm_id_of, convert, event, eventually, mcm_address, node,
    register,
};
use reqwest::StatusCode;

async fn show_mcm(cm: &TestServer) -> String {
    cli(cm, &["cm", "show mcm"]).await.1
}

/// Every page of a list query.
async fn all(client: &Client, mut params: IncidentListParams) -> IncidentList {
    params.limit = Some(500);
    let mut items = Vec::new();
    loop {
        let page = client.incidents(&params).await.unwrap();
        items.extend(page.items);
        match page.next {
            Some(next) => params.after = Some(next),
            None => return IncidentList { items, next: None },
        }
    }
}

/// The MCM's copy of one CM: incident id → version.
async fn mcm_copy(mcm: &TestServer, cm_id: i64) -> BTreeMap<i64, i64> {
    let params = IncidentListParams {
        cm: Some(cm_id.to_string()),
        ..Default::default()
    };
    all(&mcm.admin, params)
        .await
        .items
        .iter()
        .map(|i| (i.incident_id, i.version))
        .collect()
}

/// A CM's non-benign incidents: id → version.
async fn cm_truth(cm: &TestServer) -> BTreeMap<i64, i64> {
    all(&cm.admin, IncidentListParams::default())
        .await
        .items
        .iter()
        .filter(|i| i.risk != "benign")
        .map(|i| (i.incident_id, i.version))
        .collect()
}

async fn converged(mcm: &TestServer, cm: &TestServer, cm_id: i64) -> bool {
    mcm_copy(mcm, cm_id).await == cm_truth(cm).await
}

#[tokio::test]
async fn conversion_registration_and_live_sync() {
    let mcm = node("mcm-hq", 1).await;
    convert(&mcm).await;
    assert_eq!(mcm.anon.health().await.unwrap().role, "mcm");
    let (_, prompt_check) = cli(&mcm, &["show version"]).await;
    assert!(prompt_check.contains("device type: mcm"), "{prompt_check}");
    let (_, resync) = cli(&mcm, &["cm", "set mcm resync"]).await;
    assert!(resync.contains("no effect on the MCM"), "{resync}");

    let la = node("cm-losangeles", 2).await;
    let fra = node("cm-frankfurt", 3).await;
    for cm in [&la, &fra] {
        let (ok, out) = register(cm, &mcm).await;
        assert!(ok && out.contains("Registered with the MCM"), "{out}");
    }
    let shown = show_mcm(&la).await;
    assert!(
        shown.contains(&format!(
            "MCM IP Address: {}, username: admin",
            mcm_address(&mcm)
        )),
        "{shown}"
    );
    assert!(shown.contains("Sync state: connected"), "{shown}");

    // New incidents, benign ones included, reach the MCM without any poll interval.
    la.admin
        .post_events(&batch(vec![
            event("10.1.0.1", 100, 0.9),
            event("10.1.0.2", 100, 0.0),
            event("10.1.0.3", 100, 0.4),
        ]))
        .await
        .unwrap();
    fra.admin
        .post_events(&batch(vec![event("10.2.0.1", 100, 0.7)]))
        .await
        .unwrap();
    let (la_id, fra_id) = (
        cm_id_of(&mcm, "cm-losangeles").await,
        cm_id_of(&mcm, "cm-frankfurt").await,
    );
    assert!(eventually(5, || converged(&mcm, &la, la_id)).await);
    assert!(eventually(5, || converged(&mcm, &fra, fra_id)).await);
    assert_eq!(
        mcm_copy(&mcm, la_id).await.len(),
        2,
        "the benign incident never left its CM"
    );

    let table = all(&mcm.admin, IncidentListParams::default()).await;
    assert_eq!(table.items.len(), 3);
    let row = table
        .items
        .iter()
        .find(|i| i.cm_name.as_deref() == Some("cm-frankfurt"))
        .unwrap();
    assert_eq!(row.cm_ip.as_deref(), Some("127.0.0.3"));
    let critical = IncidentListParams {
        risk: Some("critical".into()),
        ..Default::default()
    };
    assert_eq!(
        all(&mcm.admin, critical).await.items.len(),
        1,
        "the same filters work on the MCM"
    );

    // Updates flow too: a status change and a new event on an existing incident.
    let id = la
        .admin
        .incidents(&IncidentListParams {
            risk: Some("critical".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .items[0]
        .incident_id;
    la.admin
        .change_status(id, "acknowledged", "seen")
        .await
        .unwrap();
    la.admin
        .post_events(&batch(vec![event("10.1.0.1", 160, 0.95)]))
        .await
        .unwrap();
    assert!(eventually(5, || converged(&mcm, &la, la_id)).await);
    assert_eq!(mcm_copy(&mcm, la_id).await[&id], 3);

    let cms: Vec<serde_json::Value> = mcm.admin.get("/api/v1/cms").await.unwrap();
    let la_row = cms.iter().find(|c| c["name"] == "cm-losangeles").unwrap();
    assert_eq!(la_row["status"], "online");
    assert_eq!(la_row["incident_count"], 2);
    assert_eq!(la_row["fips"], false);
    assert!(la_row["last_sync"].is_string());
    let delete = mcm
        .admin
        .request(reqwest::Method::DELETE, &format!("/api/v1/cms/{la_id}"))
        .send()
        .await
        .unwrap();
    assert!(
        delete.status() == StatusCode::NOT_FOUND
            || delete.status() == StatusCode::METHOD_NOT_ALLOWED,
        "no CM deletion"
    );
}

#[tokio::test]
async fn registration_errors_are_distinct() {
    let mcm = node("mcm-errors", 1).await;
    convert(&mcm).await;
    let cm = node("cm-errors", 2).await;
    let addr = mcm_address(&mcm);

    let (ok, out) = cli(
        &cm,
        &[
            "cm",
            &format!("set mcm ip {addr} passphrase wrongpass1 username admin"),
        ],
    )
    .await;
    assert!(!ok && out.contains("wrong passphrase"), "{out}");
    assert!(show_mcm(&cm).await.contains("wrong passphrase"));

    let (ok, out) = cli(
        &cm,
        &[
            "cm",
            &format!("set mcm ip {addr} passphrase {PASSPHRASE} username nobody"),
        ],
    )
    .await;
    assert!(!ok && out.contains("unknown username \"nobody\""), "{out}");

    let (ok, out) = cli(
        &cm,
        &[
            "cm",
            &format!("set mcm ip 127.0.0.9:1 passphrase {PASSPHRASE}"),
        ],
    )
    .await;
    assert!(
        !ok && out.contains("MCM unreachable at https://127.0.0.9:1"),
        "{out}"
    );

    let other_cm = node("cm-not-mcm", 4).await;
    let (ok, out) = cli(
        &cm,
        &[
            "cm",
            &format!(
                "set mcm ip {} passphrase {PASSPHRASE}",
                mcm_address(&other_cm)
            ),
        ],
    )
    .await;
    assert!(!ok && out.contains("is not an MCM"), "{out}");

    let (ok, _) = cli(&cm, &["set fips enable confirm"]).await;
    assert!(ok);
    let (ok, out) = cli(
        &cm,
        &["cm", &format!("set mcm ip {addr} passphrase {PASSPHRASE}")],
    )
    .await;
    assert!(
        !ok && out.contains("FIPS mode differs: this CM is in FIPS mode, the MCM is not"),
        "{out}"
    );
    let (_, out) = cli(
        &mcm,
        &[
            "set fips enable confirm",
            "cm",
            &format!("set mcm ip 127.0.0.1 passphrase {PASSPHRASE}"),
        ],
    )
    .await;
    assert!(out.contains("now the Manager"), "{out}");
    let (ok, out) = cli(
        &cm,
        &[
            "set fips disable confirm",
            "cm",
            &format!("set mcm ip {addr} passphrase {PASSPHRASE}"),
        ],
    )
    .await;
    assert!(
        !ok && out.contains("FIPS mode differs: MCM is in FIPS mode, this CM is not"),
        "{out}"
    );
    let (ok, out) = cli(
        &cm,
        &[
            "set fips enable confirm",
            "cm",
            &format!("set mcm ip {addr} passphrase {PASSPHRASE}"),
        ],
    )
    .await;
    assert!(ok, "both in FIPS mode now: {out}");
    let cms: Vec<serde_json::Value> = mcm.admin.get("/api/v1/cms").await.unwrap();
    assert_eq!(cms[0]["fips"], true);

    // The MCM cannot be both.
    let (ok, out) = cli(
        &mcm,
        &["cm", &format!("set mcm ip {addr} passphrase {PASSPHRASE}")],
    )
    .await;
    assert!(!ok && out.contains("set mcm remove"), "{out}");
}

#[tokio::test]
async fn a_changed_mcm_certificate_is_refused() {
    let mcm = node("mcm-cert", 1).await;
    convert(&mcm).await;
    let cm = node("cm-cert", 2).await;
    assert!(register(&cm, &mcm).await.0);
    // Another MCM with the same passphrase takes over the address: it is not the pinned one.
    let addr = mcm.running.addr;
    mcm.shutdown.cancel();
    drop(mcm);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let impostor = common::start_with(aerie_server::ConfigLayer {
        listen: Some(addr.to_string()),
        hostname: Some("impostor".into()),
        ..Default::default()
    })
    .await;
    convert(&impostor).await;
    cm.admin
        .post_events(&batch(vec![event("10.3.0.1", 100, 0.9)]))
        .await
        .unwrap();
    assert!(
        eventually(10, || async {
            show_mcm(&cm).await.contains("MCM certificate changed")
        })
        .await,
        "{}",
        show_mcm(&cm).await
    );
    assert!(
        all(&impostor.admin, IncidentListParams::default())
            .await
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn resync_repairs_a_damaged_copy_without_resending_what_matches() {
    let mcm = node("mcm-resync", 1).await;
    convert(&mcm).await;
    let cm = node("cm-resync", 2).await;
    assert!(register(&cm, &mcm).await.0);
    let events: Vec<_> = (0..40)
        .map(|i| {
            event(
                &format!("10.4.0.{}", i + 1),
                100,
                if i % 10 == 0 { 0.0 } else { 0.6 },
            )
        })
        .collect();
    cm.admin.post_events(&batch(events)).await.unwrap();
    let cm_id = cm_id_of(&mcm, "cm-resync").await;
    assert!(eventually(5, || converged(&mcm, &cm, cm_id)).await);

    // Damage the MCM's copy: drop two rows, age one, add one the CM never had.
    let truth = cm_truth(&cm).await;
    let ids: Vec<i64> = truth.keys().copied().collect();
    let store = &mcm.running.state.store;
    let mut stale = store
        .remote_incident(
            aerie_domain::ids::CmId::new(cm_id),
            aerie_domain::incident::IncidentId::new(ids[2]),
        )
        .await
        .unwrap()
        .unwrap()
        .incident;
    let mut ghost = stale.clone();
    ghost.id = aerie_domain::incident::IncidentId::new(999_999);
    store
        .apply_sync(
            aerie_domain::ids::CmId::new(cm_id),
            &aerie_domain::federation::SyncBatch {
                removals: vec![
                    (aerie_domain::incident::IncidentId::new(ids[0]), 100),
                    (aerie_domain::incident::IncidentId::new(ids[1]), 100),
                    (stale.id, 100),
                ],
                ..Default::default()
            },
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    stale.version = 0;
    store
        .apply_sync(
            aerie_domain::ids::CmId::new(cm_id),
            &aerie_domain::federation::SyncBatch {
                upserts: vec![stale, ghost],
                ..Default::default()
            },
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    assert_ne!(mcm_copy(&mcm, cm_id).await, truth);

    let (ok, out) = cli(&cm, &["cm", "set mcm resync"]).await;
    assert!(ok, "{out}");
    assert!(
        out.contains("3 incidents sent, 1 removed from the MCM, 33 already up to date"),
        "{out}"
    );
    assert_eq!(
        mcm_copy(&mcm, cm_id).await,
        truth,
        "the copy is exact again"
    );
    let cms: Vec<serde_json::Value> = mcm.admin.get("/api/v1/cms").await.unwrap();
    assert_eq!(cms[0]["incident_count"], 36);
}

#[tokio::test]
async fn removes_and_deregistration() {
    let mcm = node("mcm-remove", 1).await;
    convert(&mcm).await;
    let a = node("cm-a", 2).await;
    let b = node("cm-b", 3).await;
    for cm in [&a, &b] {
        assert!(register(cm, &mcm).await.0);
        cm.admin
            .post_events(&batch(vec![event("10.5.0.1", 100, 0.8)]))
            .await
            .unwrap();
    }
    assert!(
        eventually(5, || async {
            all(&mcm.admin, IncidentListParams::default())
                .await
                .items
                .len()
                == 2
        })
        .await
    );

    // On a CM: forget the MCM, keep the incidents, stop syncing.
    let (ok, out) = cli(&a, &["cm", "set mcm remove"]).await;
    assert!(ok && out.contains("keeps its incidents"), "{out}");
    assert!(show_mcm(&a).await.contains("MCM is not configured"));
    assert_eq!(
        a.admin
            .incidents(&Default::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    a.admin
        .post_events(&batch(vec![event("10.5.0.9", 100, 0.8)]))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let a_id = cm_id_of(&mcm, "cm-a").await;
    assert_eq!(
        mcm_copy(&mcm, a_id).await.len(),
        1,
        "no more syncing from a removed CM"
    );

    // On the MCM: every incident goes, every CM is deregistered, it is a CM again.
    let credential = b
        .running
        .state
        .store
        .setting("mcm.credential")
        .await
        .unwrap()
        .unwrap();
    let (ok, out) = cli(&mcm, &["cm", "set mcm remove"]).await;
    assert!(
        ok && out.contains("2 incidents deleted, 2 CMs deregistered"),
        "{out}"
    );
    assert_eq!(mcm.anon.health().await.unwrap().role, "cm");
    assert!(
        mcm.running
            .state
            .store
            .remote_incidents(&Default::default(), &[])
            .await
            .unwrap()
            .items
            .is_empty()
    );
    b.admin
        .post_events(&batch(vec![event("10.5.0.2", 100, 0.8)]))
        .await
        .unwrap();
    assert!(
        eventually(10, || async { show_mcm(&b).await.contains("deregistered") }).await,
        "{}",
        show_mcm(&b).await
    );
    let old = Client::new(
        &mcm.url(""),
        aerie_client::Fingerprint::of(&mcm.running.cert_der),
    )
    .unwrap()
    .with_token(&credential);
    let refused = old
        .post::<_, serde_json::Value>(
            "/api/v1/federation/sync",
            &aerie_proto::federation::SyncRequest::default(),
        )
        .await;
    match refused {
        Err(e @ ClientError::Api { .. }) => assert_eq!(
            e.code(),
            Some(aerie_proto::federation::FederationCode::Deregistered)
        ),
        other => panic!("the old credential must not work: {other:?}"),
    }
}

#[tokio::test]
async fn live_proxy_acts_on_the_owning_cm_only() {
    let mcm = node("mcm-proxy", 1).await;
    convert(&mcm).await;
    let cm = node("cm-proxy", 2).await;
    let other = node("cm-other", 3).await;
    assert!(register(&cm, &mcm).await.0);
    assert!(register(&other, &mcm).await.0);
    let id = cm
        .admin
        .post_events(&batch(vec![event("10.6.0.1", 100, 0.9)]))
        .await
        .unwrap()
        .placements[0]
        .incident_id;
    other
        .admin
        .post_events(&batch(vec![event("10.6.0.1", 100, 0.9)]))
        .await
        .unwrap();
    let cm_id = cm_id_of(&mcm, "cm-proxy").await;
    assert!(eventually(5, || converged(&mcm, &cm, cm_id)).await);

    let detail: aerie_proto::incidents::IncidentDetail = mcm
        .admin
        .get(&format!("/api/v1/incidents/{cm_id}/{id}"))
        .await
        .unwrap();
    assert_eq!(detail.events.len(), 1, "details come live from the CM");
    assert_eq!(detail.incident.cm_name.as_deref(), Some("cm-proxy"));
    assert_eq!(detail.incident.cm_ip.as_deref(), Some("127.0.0.2"));

    let body = aerie_proto::incidents::StatusRequest {
        status: "in_progress".into(),
        comment: "from the MCM".into(),
    };
    let out: aerie_proto::incidents::IncidentOut = mcm
        .admin
        .post(&format!("/api/v1/incidents/{cm_id}/{id}/status"), &body)
        .await
        .unwrap();
    assert_eq!(out.status, "in_progress");
    let on_cm = cm.admin.incident(id).await.unwrap();
    assert_eq!(
        on_cm.status_history[0].by, "admin@mcm",
        "the CM records the acting MCM user"
    );
    let untouched = other.admin.incident(id).await.unwrap();
    assert_eq!(
        untouched.incident.status, "new",
        "applied only on the owning CM"
    );
    assert!(
        eventually(5, || converged(&mcm, &cm, cm_id)).await,
        "and the MCM row follows by sync"
    );

    // A viewer on the MCM may look but not act.
    let hash = aerie_server::secret::hash_password("viewer-pass");
    mcm.running
        .state
        .store
        .create_user(
            &aerie_domain::user::Username::parse("vic").unwrap(),
            &hash,
            &aerie_domain::user::Role::Viewer.name(),
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let (viewer, _) = mcm.anon.login("vic", "viewer-pass").await.unwrap();
    let denied = viewer
        .post::<_, serde_json::Value>(&format!("/api/v1/incidents/{cm_id}/{id}/status"), &body)
        .await;
    assert_eq!(denied.unwrap_err().status(), Some(StatusCode::FORBIDDEN));

    // The CM accepts live actions from its registered MCM only.
    let forged = cm.anon.with_token("px_forged").incident(id).await;
    assert_eq!(forged.unwrap_err().status(), Some(StatusCode::UNAUTHORIZED));

    // A stopped CM: a clear 502 naming it, and the table row stays.
    cm.shutdown.cancel();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let err = mcm
        .admin
        .get::<serde_json::Value>(&format!("/api/v1/incidents/{cm_id}/{id}"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::BAD_GATEWAY));
    assert!(
        err.to_string()
            .contains("CM cm-proxy (127.0.0.2) is unreachable"),
        "{err}"
    );
    assert_eq!(mcm_copy(&mcm, cm_id).await.len(), 1);
}

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
async fn a_cm_keeps_working_while_the_mcm_is_down_and_catches_up() {
    let mcm = node("mcm-down", 1).await;
    convert(&mcm).await;
    let cm = node("cm-down", 2).await;
    assert!(register(&cm, &mcm).await.0);
    let cm_id = cm_id_of(&mcm, "cm-down").await;

    // The MCM stops; the CM takes events as usual and its backlog grows, visibly.
    let (addr, dir) = (mcm.running.addr, mcm.dir.path().to_owned());
    mcm.shutdown.cancel();
    assert!(
        eventually(15, || async {
            tokio::net::TcpStream::connect(addr).await.is_err()
        })
        .await
    );
    let events: Vec<_> = (0..12)
        .map(|i| event(&format!("10.7.0.{}", i + 1), 100, 0.7))
        .collect();
    cm.admin.post_events(&batch(events)).await.unwrap();
    assert!(
        eventually(10, || async {
            let shown = show_mcm(&cm).await;
            shown.contains("MCM unreachable") && shown.contains("Backlog: 12 incident changes")
        })
        .await,
        "{}",
        show_mcm(&cm).await
    );

    // It comes back on the same address with the same data: the CM catches up by itself.
    let shutdown = tokio_util::sync::CancellationToken::new();
    let layer = aerie_server::ConfigLayer {
        listen: Some(addr.to_string()),
        ..Default::default()
    };
    let back = aerie_server::start_with_admin(
        aerie_server::Config::resolve(&dir, layer).unwrap(),
        shutdown.clone(),
        None,
    )
    .await
    .unwrap();
    let store = back.state.store.clone();
    assert!(
        eventually(40, || async {
            store
                .remote_incidents(&Default::default(), &[aerie_domain::ids::CmId::new(cm_id)])
                .await
                .unwrap()
                .items
                .len()
                == 12
        })
        .await
    );
    assert!(
        eventually(10, || async {
            show_mcm(&cm).await.contains("Backlog: 0 incident changes")
        })
        .await
    );
    shutdown.cancel();
}
