//! The SIEM feed end to end: daemons configured through the CLI (`set syslog …`,
//! `show syslog`) send to a real rsyslog on loopback; what arrives, parsed back, equals
//! what the API shows; bad input is refused saying why; the MCM's feed carries every
//! CM's incidents with the CM name.

#[path = "../common/mod.rs"]
mod common;

use std::time::Duration;

use aerie_proto::incidents::IncidentList;
use aerie_siem::testing::{Rsyslog, parse};
use common::{TestServer, batch, cli, convert, event, eventually, node, register};

const WAIT: Duration = Duration::from_secs(20);

/// Incident messages received on `input` naming CM `cm`, by incident id (the latest
/// version of each).
fn incidents_from(
    r: &Rsyslog,
    input: &str,
    cm: &str,
) -> std::collections::BTreeMap<i64, aerie_siem::testing::Received> {
    let mut by = std::collections::BTreeMap::new();
    for (inp, raw) in r.received() {
        let m = parse(&raw);
        if inp != input || m.msgid.as_deref() != Some("incident") || m.ext["cs1"] != cm {
            continue;
        }
        let id: i64 = m.ext["externalId"].parse().unwrap();
        let newer = by
            .get(&id)
            .is_none_or(|old: &aerie_siem::testing::Received| {
                old.ext["cn1"].parse::<i64>().unwrap() < m.ext["cn1"].parse::<i64>().unwrap()
            });
        if newer {
            by.insert(id, m);
        }
    }
    by
}

async fn list(s: &TestServer) -> IncidentList {
    s.admin.get("/api/v1/incidents?limit=500").await.unwrap()
}

#[tokio::test]
async fn the_cli_configures_the_feed_and_rsyslog_gets_what_the_api_shows() {
    let Some(r) = Rsyslog::start() else { return };
    let s = node("cm-siem", 1).await;

    // Bad input is refused, saying what was wrong; nothing is saved.
    for (line, says) in [
        (
            "set syslog server 127.0.0.1 protocol tcp",
            "is not HOST:PORT",
        ),
        (
            "set syslog server 127.0.0.1:0 protocol udp",
            "port from 1 to 65535",
        ),
        (
            "set syslog server bad_host:514 protocol tcp",
            "not a valid host name",
        ),
        (
            &format!("set syslog server 127.0.0.1:{} protocol tls", r.tls_port),
            "TLS needs the receiver's certificate pinned",
        ),
        (
            &format!(
                "set syslog server 127.0.0.1:{} protocol tls pin 12:34",
                r.tls_port
            ),
            "not a SHA-256 certificate fingerprint",
        ),
        ("set syslog server 127.0.0.1:514 protocol sctp", "sctp"),
        (
            "set syslog remove 127.0.0.1:9",
            "is not a syslog server here",
        ),
    ] {
        let (ok, out) = cli(&s, &[line]).await;
        assert!(!ok && out.contains(says), "{line}: {out}");
    }
    let (_, out) = cli(&s, &["show syslog"]).await;
    assert!(out.contains("No syslog server"), "{out}");

    let tcp = format!("127.0.0.1:{}", r.tcp_port);
    let tls = format!("127.0.0.1:{}", r.tls_port);
    let (ok, out) = cli(
        &s,
        &[
            &format!("set syslog server {tcp} protocol tcp"),
            &format!(
                "set syslog server {tls} protocol tls pin {}",
                r.cert_fingerprint
            ),
        ],
    )
    .await;
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("Added syslog server {tcp} tcp rfc5424")),
        "{out}"
    );

    // Hostile text in every field an attacker writes.
    let mut hostile = event("10.20.0.1", 100, 0.9);
    hostile.threat_name = r"Evil|Name=x\y <script>".into();
    hostile.endpoint_name = Some("ws|1=2".into());
    hostile.endpoint_user = Some(r"dom\user=<b>".into());
    hostile.source_name = Some("http://evil.example/a=b|c?d=<script>alert(1)</script>".into());
    hostile.file_sha256 = Some("ab".repeat(32));
    s.admin
        .post_events(&batch(vec![hostile, event("10.20.0.2", 200, 0.6)]))
        .await
        .unwrap();
    let first = list(&s).await.items;
    assert_eq!(first.len(), 2);
    // A status change travels as the incident's next version.
    let id = first
        .iter()
        .find(|i| i.endpoint_ip == "10.20.0.1")
        .unwrap()
        .incident_id;
    let _: serde_json::Value = s
        .admin
        .post(
            &format!("/api/v1/incidents/{id}/status"),
            &serde_json::json!({"status": "in_progress", "comment": "triage"}),
        )
        .await
        .unwrap();
    let api = list(&s).await.items;

    for input in ["imtcp", "tls"] {
        assert!(
            eventually(WAIT.as_secs(), || async {
                let got = incidents_from(&r, input, "cm-siem");
                got.len() == 2 && got[&id].ext["cs2"] == "in_progress"
            })
            .await,
            "{input}: {:?}",
            r.received()
        );
        let got = incidents_from(&r, input, "cm-siem");
        for i in &api {
            let m = &got[&i.incident_id];
            assert_eq!(m.header[5], i.threat_name, "{input}");
            assert_eq!(m.ext["dst"], i.endpoint_ip);
            assert_eq!(m.ext.get("dhost"), i.endpoint_name.as_ref());
            assert_eq!(m.ext.get("suser"), i.endpoint_user.as_ref());
            assert_eq!(m.ext.get("src"), i.source_ip.as_ref());
            assert_eq!(m.ext.get("request"), i.source_name.as_ref());
            assert_eq!(m.ext.get("fileHash"), i.file_sha256.as_ref());
            assert_eq!(m.ext["cs2"], i.status);
            assert_eq!(m.ext["cs3"], i.risk);
            assert_eq!(m.ext["cat"], i.category);
            assert_eq!(m.ext["cn1"], i.version.to_string());
            assert_eq!(m.hostname.as_deref(), Some("cm-siem"));
        }
    }
    // Each version exactly once per transport.
    let versions: Vec<(String, String, String)> = r
        .received()
        .iter()
        .map(|(inp, raw)| (inp.clone(), parse(raw)))
        .filter(|(_, m)| m.msgid.as_deref() == Some("incident"))
        .map(|(inp, m)| (inp, m.ext["externalId"].clone(), m.ext["cn1"].clone()))
        .collect();
    let mut unique = versions.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        versions.len(),
        unique.len(),
        "nothing doubled: {versions:?}"
    );

    // The audit log goes too: the CLI's own changes and the analyst's status change.
    let audit = r.wait_for("syslog.server", 2, WAIT).await;
    assert!(!audit.is_empty());
    let a = parse(&audit[0].1);
    assert_eq!(a.msgid.as_deref(), Some("audit"));
    assert_eq!(a.ext["suser"], "cli");

    let (ok, out) = cli(&s, &["show syslog"]).await;
    assert!(ok, "{out}");
    assert!(out.contains("QUEUE") && out.contains("LAG"), "{out}");
    for line in out.lines().filter(|l| l.starts_with("127.0.0.1")) {
        assert!(line.contains("connected"), "{out}");
    }
    assert!(out.contains("tls pinned"), "{out}");

    let (ok, out) = cli(&s, &[&format!("set syslog remove {tcp}")]).await;
    assert!(
        ok && out.contains(&format!("Removed syslog server {tcp}")),
        "{out}"
    );
    let (_, out) = cli(&s, &["show syslog"]).await;
    assert!(!out.contains(&tcp) && out.contains(&tls), "{out}");

    // Added again, a destination starts afresh: the current table once more.
    let on_tcp = || {
        r.received()
            .iter()
            .filter(|(inp, raw)| inp == "imtcp" && parse(raw).msgid.as_deref() == Some("incident"))
            .count()
    };
    let before = on_tcp();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (ok, out) = cli(&s, &[&format!("set syslog server {tcp} protocol tcp")]).await;
    assert!(ok, "{out}");
    assert!(
        eventually(WAIT.as_secs(), || async { on_tcp() == before + api.len() }).await,
        "{before} then {}",
        on_tcp()
    );
}

#[tokio::test]
async fn the_mcm_feed_carries_every_cms_incidents_with_the_cm_name() {
    let Some(r) = Rsyslog::start() else { return };
    let mcm = node("mcm-siem", 2).await;
    convert(&mcm).await;
    let paris = node("cm-paris", 3).await;
    let tokyo = node("cm-tokyo", 4).await;
    for cm in [&paris, &tokyo] {
        let (ok, out) = register(cm, &mcm).await;
        assert!(ok, "{out}");
    }
    let (ok, out) = cli(
        &mcm,
        &[&format!(
            "set syslog server 127.0.0.1:{} protocol udp",
            r.udp_port
        )],
    )
    .await;
    assert!(ok, "{out}");
    paris
        .admin
        .post_events(&batch(vec![
            event("10.30.0.1", 10, 0.9),
            event("10.30.0.2", 20, 0.9),
        ]))
        .await
        .unwrap();
    tokyo
        .admin
        .post_events(&batch(vec![event("10.31.0.1", 30, 0.5)]))
        .await
        .unwrap();
    assert!(
        eventually(WAIT.as_secs(), || async {
            incidents_from(&r, "imudp", "cm-paris").len() == 2
                && incidents_from(&r, "imudp", "cm-tokyo").len() == 1
        })
        .await,
        "{:?}",
        r.received()
    );
    // The MCM's consolidated table and its feed agree: the CM's own incident ids.
    let on_mcm = list(&mcm).await.items;
    assert_eq!(on_mcm.len(), 3);
    for i in &on_mcm {
        let cm = i.cm_name.as_deref().unwrap();
        let m = &incidents_from(&r, "imudp", cm)[&i.incident_id];
        assert_eq!(m.ext["dst"], i.endpoint_ip);
        assert_eq!(m.hostname.as_deref(), Some("mcm-siem"));
    }
}
