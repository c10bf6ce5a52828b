//! The feed against a real rsyslog on loopback: over TCP, TLS (pinned and CA-verified)
//! and UDP every incident arrives once, parsed back equal to the store's; hostile text
//! round-trips escaped; a receiver stopped and restarted loses and doubles nothing; the
//! MCM's feed names each incident's CM.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr},
    sync::{Arc, Mutex},
    time::Duration,
};

use aerie_domain::{
    audit::AuditRecord,
    event::NewEvent,
    federation::{CmRegistration, SyncBatch},
    incident::Incident,
    text::{Sha256Hex, Text},
};
use aerie_siem::{
    Destination, Format, Forwarder, Protocol, Role, Status,
    testing::{Received, Rsyslog, parse},
};
use aerie_store::Store;
use chrono::Utc;
use rustls::pki_types::{CertificateDer, pem::PemObject};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(20);

/// The text an attacker controls, in every field that carries text.
const HOSTILE: &str = r#"evil|pipe=eq\back <script>alert(1)</script> "q" 'a' ünï"#;

fn hostile_event(n: u32) -> NewEvent {
    let ip = IpAddr::V4(Ipv4Addr::new(10, 9, (n / 250) as u8, (n % 250) as u8 + 1));
    let mut e = NewEvent::sample(ip, Utc::now(), 0.9);
    e.threat_name = Text::parse("t", &format!("{}#{n}", &HOSTILE[..40]), 64).unwrap();
    e.endpoint.name = Some(Text::parse("n", &format!("host|{n}=x\\y"), 255).unwrap());
    e.endpoint.user = Some(Text::parse("u", HOSTILE, 255).unwrap());
    e.source.name = Some(Text::parse("s", &format!("http://x.example/a=b|c\\d?{n}"), 255).unwrap());
    e.source.ip = Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)));
    e.file_sha256 = Some(Sha256Hex::parse("f", &format!("{n:064x}")).unwrap());
    e
}

async fn store() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (aerie_store::testing::sqlite(dir.path()).await, dir)
}

fn destination(port: u16, protocol: Protocol, pin: Option<String>) -> Destination {
    Destination {
        host: "127.0.0.1".into(),
        port,
        protocol,
        format: Format::Rfc5424,
        pin,
    }
}

fn forward(
    store: &Arc<dyn Store>,
    d: Destination,
    role: Role,
    trusted: Vec<CertificateDer<'static>>,
) -> (CancellationToken, Arc<Mutex<Status>>) {
    let stop = CancellationToken::new();
    let status = Arc::new(Mutex::new(Status::default()));
    let f = Forwarder {
        destination: d,
        role,
        host: "cm-west".into(),
        store: store.clone(),
        trusted,
        fips: false,
        status: status.clone(),
    };
    tokio::spawn(f.run(stop.clone()));
    (stop, status)
}

/// The incident messages received on `input`, by (externalId, version).
async fn incidents(r: &Rsyslog, input: &str, n: usize) -> HashMap<(i64, i64), Vec<Received>> {
    let got = r.wait_for("incident", n, WAIT).await;
    let mut by: HashMap<(i64, i64), Vec<Received>> = HashMap::new();
    for (inp, raw) in got.iter().filter(|(i, _)| i == input) {
        let _ = inp;
        let m = parse(raw);
        if m.msgid.as_deref() != Some("incident") {
            continue;
        }
        let id = m.ext["externalId"].parse().unwrap();
        let v = m.ext["cn1"].parse().unwrap();
        by.entry((id, v)).or_default().push(m);
    }
    by
}

/// What a received message must say about incident `i` of CM `cm`.
fn assert_matches(m: &Received, i: &Incident, cm: &str) {
    let f = &i.facts;
    assert_eq!(m.header[0], "CEF:0");
    assert_eq!(m.header[1], "Aerie");
    assert_eq!(m.header[5], f.threat_name.as_str(), "Name");
    assert_eq!(m.header[6], "10", "critical is 10");
    assert_eq!(m.hostname.as_deref(), Some("cm-west"));
    assert_eq!(m.appname.as_deref(), Some("aerie"));
    let e = &m.ext;
    assert_eq!(e["cs1Label"], "CM Name");
    assert_eq!(e["cs1"], cm);
    assert_eq!(e["rt"], f.last_activity.timestamp_millis().to_string());
    assert_eq!(e["dst"], f.endpoint_ip.to_string());
    assert_eq!(e["dhost"], f.endpoint_name.as_ref().unwrap().as_str());
    assert_eq!(e["suser"], f.endpoint_user.as_ref().unwrap().as_str());
    assert_eq!(e["src"], f.source_ip.unwrap().to_string());
    assert_eq!(e["request"], f.source_name.as_ref().unwrap().as_str());
    assert_eq!(e["fileHash"], f.file_sha256.as_ref().unwrap().as_str());
    assert_eq!(e["cs2"], i.status.as_str());
    assert_eq!(e["cat"], f.category.as_str());
}

#[tokio::test]
async fn every_incident_arrives_once_over_tcp_tls_and_udp() {
    let Some(r) = Rsyslog::start() else { return };
    let (store, _dir) = store().await;
    let ca = CertificateDer::from_pem_slice(r.ca_pem.as_bytes()).unwrap();
    let _feeds = [
        forward(
            &store,
            destination(r.tcp_port, Protocol::Tcp, None),
            Role::Cm,
            vec![],
        ),
        forward(
            &store,
            destination(r.tls_port, Protocol::Tls, Some(r.cert_fingerprint.clone())),
            Role::Cm,
            vec![],
        ),
        forward(
            &store,
            destination(r.udp_port, Protocol::Udp, None),
            Role::Cm,
            vec![],
        ),
    ];
    let n = 60;
    for k in 0..n {
        store.ingest(&[hostile_event(k)]).await.unwrap();
    }
    store
        .append_audit(&AuditRecord {
            at: Utc::now(),
            actor: "mallory|=\\".into(),
            action: "user.login_failed".into(),
            target: "user admin".into(),
            detail: "wrong password\nsecond line".into(),
        })
        .await
        .unwrap();
    let stored = store.changes_since(0, 1000).await.unwrap();
    assert_eq!(stored.len(), n as usize);

    for input in ["imtcp", "tls", "imudp"] {
        let by = incidents(&r, input, 3 * n as usize).await;
        assert_eq!(by.len(), n as usize, "{input}: every incident");
        for i in &stored {
            let got = &by[&(i.id.get(), i.version)];
            assert_eq!(got.len(), 1, "{input}: incident {} once", i.id);
            assert_matches(&got[0], i, "cm-west");
        }
    }
    let audit = r.wait_for("user.login_failed", 3, WAIT).await;
    assert_eq!(audit.len(), 3, "the audit entry on each transport");
    let a = parse(&audit[0].1);
    assert_eq!(a.msgid.as_deref(), Some("audit"));
    assert_eq!(a.ext["suser"], "mallory|=\\");
    assert_eq!(a.ext["msg"], "wrong password\nsecond line");
    assert!(
        !audit[0].1.contains('\n'),
        "no raw newline reaches the receiver"
    );

    // A receiver whose certificate chains to a trusted CA, without a pin; and one with
    // the wrong pin, which gets nothing and says why.
    let (_ca_feed, _) = forward(
        &store,
        Destination {
            host: "localhost".into(),
            ..destination(r.tls_port, Protocol::Tls, None)
        },
        Role::Cm,
        vec![ca],
    );
    let by = incidents(&r, "tls", 3 * n as usize + n as usize).await;
    assert!(
        by.values().all(|v| v.len() == 2),
        "the CA-verified feed too"
    );
    let (_bad, status) = forward(
        &store,
        destination(r.tls_port, Protocol::Tls, Some("00".repeat(32))),
        Role::Cm,
        vec![],
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let state = status.lock().unwrap().state.to_string();
    assert!(
        state.contains("failing") && state.contains("TLS"),
        "{state}"
    );
    assert_eq!(status.lock().unwrap().sent, 0);
}

#[tokio::test]
async fn a_receiver_down_for_a_while_gets_everything_once() {
    outage(Protocol::Tcp, "imtcp").await;
}

#[tokio::test]
async fn a_tls_receiver_down_for_a_while_gets_everything_once() {
    outage(Protocol::Tls, "tls").await;
}

/// Stops rsyslog while incidents arrive, starts it again: each arrives once.
async fn outage(protocol: Protocol, input: &str) {
    let Some(mut r) = Rsyslog::start() else {
        return;
    };
    let (store, _dir) = store().await;
    let (port, pin) = match protocol {
        Protocol::Tls => (r.tls_port, Some(r.cert_fingerprint.clone())),
        _ => (r.tcp_port, None),
    };
    let (_feed, status) = forward(&store, destination(port, protocol, pin), Role::Cm, vec![]);
    for k in 0..20 {
        store.ingest(&[hostile_event(k)]).await.unwrap();
    }
    assert_eq!(incidents(&r, input, 20).await.len(), 20);

    r.stop();
    for k in 20..70 {
        store.ingest(&[hostile_event(k)]).await.unwrap();
    }
    // While it is down the feed says so and holds its place.
    let deadline = std::time::Instant::now() + WAIT;
    while !status.lock().unwrap().state.to_string().contains("failing") {
        assert!(
            std::time::Instant::now() < deadline,
            "the outage is noticed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let behind = Forwarder::behind(store.as_ref(), &Role::Cm, "127.0.0.1:0").await;
    assert!(behind.is_ok());
    tokio::time::sleep(Duration::from_secs(2)).await;
    r.restart();
    let by = incidents(&r, input, 70).await;
    assert_eq!(by.len(), 70, "nothing lost: {:?}", status.lock().unwrap());
    assert!(by.values().all(|v| v.len() == 1), "nothing doubled");
    assert!(status.lock().unwrap().errors > 0);
}

#[tokio::test]
async fn the_mcm_feed_names_each_incidents_cm() {
    let Some(r) = Rsyslog::start() else { return };
    let (cm_store, _cm_dir) = store().await;
    let (mcm, _mcm_dir) = store().await;
    let (_feed, _) = forward(
        &mcm,
        destination(r.tcp_port, Protocol::Tcp, None),
        Role::Mcm,
        vec![],
    );
    for k in 0..6 {
        cm_store.ingest(&[hostile_event(k)]).await.unwrap();
    }
    let incidents_of_cm = cm_store.changes_since(0, 100).await.unwrap();
    for (n, name) in ["cm-east", "cm-north"].iter().enumerate() {
        let reg = CmRegistration {
            uid: format!("uid-{n}"),
            name: aerie_domain::net::HostName::parse("name", name).unwrap(),
            url: "https://127.0.0.2:1".into(),
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            version: "0".into(),
            fips: false,
            cert_fingerprint: aerie_domain::net::CertFingerprint::parse("f", &["AB"; 32].join(":"))
                .unwrap(),
            credential_hash: format!("h{n}"),
        };
        let cm = mcm.register_cm(&reg, Utc::now()).await.unwrap();
        let part = &incidents_of_cm[n * 3..n * 3 + 3];
        let batch = SyncBatch {
            high_seq: part.last().unwrap().change_seq,
            upserts: part.to_vec(),
            ..Default::default()
        };
        mcm.apply_sync(cm.id, &batch, Utc::now()).await.unwrap();
    }
    let by = incidents(&r, "imtcp", 6).await;
    assert_eq!(by.len(), 6);
    for (n, i) in incidents_of_cm.iter().enumerate() {
        let got = &by[&(i.id.get(), i.version)];
        assert_eq!(got.len(), 1);
        assert_matches(&got[0], i, if n < 3 { "cm-east" } else { "cm-north" });
    }
}
