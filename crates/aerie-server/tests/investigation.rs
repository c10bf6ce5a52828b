//! Investigation and mitigation over real HTTPS: artifacts checked by real decoders, IVP
//! scripts run by a real shell, feeds fetched like a firewall would, the whitelist, users,
//! the audit chain (tampered with in the real SQLite file) — on a CM, and from an MCM.

mod common;

use aerie_client::{Client, ClientError, artifacts};
use aerie_proto::{
    ErrorBody,
    events::{BehaviourJson, EventIn, FileJson},
    incidents::{IncidentDetail, IncidentOut, StatusChangeOut},
    investigation::{
        ArtifactOut, AuditList, AuditVerification, FeedCredential, MitigationOut, UserOut,
        WhitelistResult,
    },
};
use common::{TestServer, batch, cm_id_of, convert, event, eventually, node, register, start};
use reqwest::{Method, StatusCode, header};
use serde_json::json;

fn api_error(result: Result<impl std::fmt::Debug, ClientError>) -> (StatusCode, ErrorBody) {
    match result {
        Err(ClientError::Api { status, body }) => (status, body),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Ingests one event; returns its incident's id.
async fn ingest(client: &Client, e: EventIn) -> i64 {
    client
        .post_events(&batch(vec![e]))
        .await
        .unwrap()
        .placements[0]
        .incident_id
}

async fn detail(client: &Client, path: &str) -> IncidentDetail {
    client.get(path).await.unwrap()
}

/// A user with `role`, logged in.
async fn user(s: &TestServer, name: &str, role: &str) -> Client {
    let _: UserOut = s
        .admin
        .post(
            "/api/v1/users",
            &json!({"username": name, "password": "passw0rd-long", "role": role}),
        )
        .await
        .unwrap();
    s.anon.login(name, "passw0rd-long").await.unwrap().0
}

async fn feed(s: &TestServer, credential: &str, name: &str) -> (StatusCode, String) {
    let resp = s
        .anon
        .http()
        .get(s.url(&format!("/feeds/{name}")))
        .bearer_auth(credential)
        .send()
        .await
        .unwrap();
    (resp.status(), resp.text().await.unwrap())
}

#[tokio::test]
async fn artifacts_are_checked_by_content_stored_once_and_served() {
    let s = start().await;
    let png = artifacts::screenshot(7);
    let pcap = artifacts::trace(
        "10.1.0.9".parse().unwrap(),
        "203.0.113.5".parse().unwrap(),
        "evil.example",
        "/x",
    );
    let shot = s.admin.upload_artifact(png.clone(), None).await.unwrap();
    assert_eq!(
        (shot.kind.as_str(), shot.media_type.as_str()),
        ("screenshot", "image/png")
    );
    assert_eq!(shot.sha256, sha256_hex(&png));
    let again = s
        .admin
        .request(Method::POST, "/api/v1/artifacts?kind=screenshot")
        .body(png.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK, "stored once: 200, not 201");
    let trace = s
        .admin
        .upload_artifact(pcap.clone(), Some("trace"))
        .await
        .unwrap();
    assert_eq!(trace.kind, "trace");

    // Mislabelled, not a known type, damaged, oversized.
    let (status, body) = api_error(s.admin.upload_artifact(png.clone(), Some("trace")).await);
    assert_eq!(
        (status, body.field.as_deref()),
        (StatusCode::BAD_REQUEST, Some("kind"))
    );
    assert!(body.error.contains("labelled trace"), "{}", body.error);
    let (status, body) = api_error(
        s.admin
            .upload_artifact(b"MZ\x90\x00evil.exe".to_vec(), None)
            .await,
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.error
            .contains("neither a PNG image nor a packet capture"),
        "{}",
        body.error
    );
    let (status, body) = api_error(
        s.admin
            .upload_artifact(png[..png.len() - 30].to_vec(), None)
            .await,
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.error.contains("not a valid PNG"), "{}", body.error);
    let (status, body) = api_error(
        s.admin
            .upload_artifact(pcap[..pcap.len() - 3].to_vec(), None)
            .await,
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.error.contains("not a valid packet capture"),
        "{}",
        body.error
    );
    let mut huge = png.clone();
    huge.resize(16 * 1024 * 1024 + 1, 0);
    let (status, body) = api_error(s.admin.upload_artifact(huge, None).await);
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body.error.contains("16 MiB"), "{}", body.error);

    // Events reference uploaded artifacts only.
    let mut e = event("10.1.0.9", 100, 0.8);
    e.artifacts = vec!["ab".repeat(32)];
    let (status, body) = api_error(s.admin.post_events(&batch(vec![e.clone()])).await);
    assert_eq!(
        (status, body.field.as_deref()),
        (StatusCode::BAD_REQUEST, Some("events[0].artifacts[0]"))
    );
    e.artifacts = vec![shot.sha256.clone(), trace.sha256.clone()];
    let id = ingest(&s.admin, e).await;
    let d = detail(&s.admin, &format!("/api/v1/incidents/{id}")).await;
    let mut listed: Vec<&str> = d.artifacts.iter().map(|a| a.sha256.as_str()).collect();
    listed.sort();
    let mut want = vec![shot.sha256.as_str(), trace.sha256.as_str()];
    want.sort();
    assert_eq!(listed, want);
    assert_eq!(d.events[0].artifacts.len(), 2);

    // Downloads: right type, a name of ours, real content.
    let (headers, bytes) = s
        .admin
        .download(&format!("/api/v1/incidents/{id}/artifacts/{}", shot.sha256))
        .await
        .unwrap();
    assert_eq!(headers[header::CONTENT_TYPE], "image/png");
    assert_eq!(
        headers[header::CONTENT_DISPOSITION],
        format!(
            "attachment; filename=\"incident-{id}-{}.png\"",
            &shot.sha256[..12]
        )
        .as_str()
    );
    let reader = png::Decoder::new(std::io::Cursor::new(&bytes))
        .read_info()
        .unwrap();
    assert_eq!((reader.info().width, reader.info().height), (320, 200));
    let (headers, bytes) = s
        .admin
        .download(&format!(
            "/api/v1/incidents/{id}/artifacts/{}",
            trace.sha256
        ))
        .await
        .unwrap();
    assert_eq!(
        headers[header::CONTENT_TYPE],
        "application/vnd.tcpdump.pcap"
    );
    let mut reader = pcap_file::pcap::PcapReader::new(&bytes[..]).unwrap();
    let mut packets = Vec::new();
    while let Some(p) = reader.next_packet() {
        packets.push(p.unwrap().data.into_owned());
    }
    assert_eq!(packets.len(), 5);
    assert!(packets[3].windows(17).any(|w| w == b"Host: evil.exampl"));

    // Another incident does not serve this one's artifacts.
    let other = ingest(&s.admin, event("10.1.0.10", 100, 0.8)).await;
    let (status, _) = api_error(
        s.admin
            .download(&format!(
                "/api/v1/incidents/{other}/artifacts/{}",
                shot.sha256
            ))
            .await,
    );
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A scratch directory the IVP checks instead of `/`, and a marker file no hostile value
/// may create.
struct Endpoint {
    root: tempfile::TempDir,
    marker: std::path::PathBuf,
}

impl Endpoint {
    fn new() -> Endpoint {
        let root = tempfile::tempdir().unwrap();
        let marker = root.path().join("PWNED");
        Endpoint { root, marker }
    }

    fn put(&self, path: &str, content: &[u8]) {
        let full = self.root.path().join(path.trim_start_matches('/'));
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }

    /// Runs the script with `sh`; returns (exit code, output).
    fn run(&self, script: &str) -> (i32, String) {
        let file = self.root.path().join("ivp.sh");
        std::fs::write(&file, script).unwrap();
        let out = std::process::Command::new("sh")
            .arg(&file)
            .env("IVP_ROOT", self.root.path().join("fs"))
            .current_dir(self.root.path())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            !self.marker.exists(),
            "a hostile value ran a command:\n{script}"
        );
        (out.status.code().unwrap(), text)
    }
}

#[tokio::test]
async fn ivp_scripts_find_indicators_and_no_value_can_inject_a_command() {
    let s = start().await;
    let ep = Endpoint::new();
    let marker = ep.marker.display().to_string();
    let payload = b"malicious payload";
    let hostile = [
        format!("/opt/app/'; touch {marker}; echo '"),
        format!("/opt/app/$(touch {marker})"),
        format!("/opt/app/`touch {marker}`"),
        format!("/opt/app/\"; touch {marker}; \""),
    ];
    let mut e = event("10.2.0.1", 100, 0.9);
    e.behaviour = Some(BehaviourJson {
        files: std::iter::once(FileJson {
            path: "/opt/mal/dropper.bin".into(),
            sha256: Some(sha256_hex(payload)),
        })
        .chain(hostile.iter().map(|p| FileJson {
            path: p.clone(),
            sha256: None,
        }))
        .chain(std::iter::once(FileJson {
            path: "/opt/app/it's here.bin".into(),
            sha256: None,
        }))
        .collect(),
        persistence: vec![
            "/etc/cron.d/updater".into(),
            format!("/etc/cron.d/x'$(touch {marker})'"),
        ],
        cnc: vec!["198.51.100.77:443".into(), format!("$(touch {marker}):443")],
        ..Default::default()
    });
    let id = ingest(&s.admin, e).await;
    let (headers, script) = s
        .admin
        .download(&format!("/api/v1/incidents/{id}/ivp/posix"))
        .await
        .unwrap();
    assert_eq!(
        headers[header::CONTENT_DISPOSITION],
        format!("attachment; filename=\"ivp-incident-{id}.sh\"").as_str()
    );
    let script = String::from_utf8(script).unwrap();

    let (code, out) = ep.run(&script);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("RESULT: CLEAN"), "{out}");
    assert!(
        out.contains("ok        no connection to CnC: 198.51.100.77"),
        "{out}"
    );
    assert!(
        !out.contains("touch")
            || out.contains(&format!("file absent: /opt/app/'; touch {marker}; echo '")),
        "{out}"
    );

    ep.put(
        "fs/opt/mal/dropper.bin",
        b"a harmless file of the same name",
    );
    let (code, out) = ep.run(&script);
    assert_eq!(code, 0, "different content is not the indicator: {out}");
    assert!(
        out.contains("ok        file differs: /opt/mal/dropper.bin"),
        "{out}"
    );

    ep.put("fs/opt/mal/dropper.bin", payload);
    let (code, out) = ep.run(&script);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("INFECTED  file present: /opt/mal/dropper.bin"),
        "{out}"
    );
    assert!(out.contains("RESULT: INFECTED"), "{out}");

    // Hostile names reach the checks intact, as data.
    let ep2 = Endpoint::new();
    ep2.put("fs/opt/app/it's here.bin", b"x");
    ep2.put(&format!("fs{}", hostile[1]), b"x");
    ep2.put("fs/etc/cron.d/updater", b"* * * * * root /tmp/x");
    let (code, out) = ep2.run(&script);
    assert!(!ep.marker.exists(), "a hostile value ran a command");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("INFECTED  file present: /opt/app/it's here.bin"),
        "{out}"
    );
    assert!(
        out.contains(&format!("INFECTED  file present: {}", hostile[1])),
        "{out}"
    );
    assert!(
        out.contains("INFECTED  autostart entry: /etc/cron.d/updater"),
        "{out}"
    );

    let (headers, ps) = s
        .admin
        .download(&format!("/api/v1/incidents/{id}/ivp/windows"))
        .await
        .unwrap();
    assert!(
        headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .ends_with(".ps1\"")
    );
    let ps = String::from_utf8(ps).unwrap();
    assert!(
        ps.contains(&format!(
            "Test-IvpFile '/opt/app/''; touch {marker}; echo ''' ''"
        )),
        "{ps}"
    );
    assert!(ps.contains("Test-IvpCnc '198.51.100.77'"), "{ps}");
    assert!(
        !ps.contains("Test-IvpCnc '$("),
        "a CnC entry that is no host is dropped"
    );

    let (status, body) = api_error(
        s.admin
            .download(&format!("/api/v1/incidents/{id}/ivp/amiga"))
            .await,
    );
    assert_eq!(
        (status, body.field.as_deref()),
        (StatusCode::BAD_REQUEST, Some("platform"))
    );
    let plain = ingest(&s.admin, event("10.2.0.2", 100, 0.9)).await;
    let (status, body) = api_error(
        s.admin
            .download(&format!("/api/v1/incidents/{plain}/ivp/posix"))
            .await,
    );
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body.error.contains("no indicators"), "{}", body.error);
}

#[tokio::test]
async fn mitigations_appear_in_feeds_and_leave_them_when_revoked() {
    let s = start().await;
    let cred: FeedCredential = s
        .admin
        .post("/api/v1/feeds/credential", &json!({}))
        .await
        .unwrap();
    assert_eq!(cred.feeds.len(), 5);
    let mut e = event("10.3.0.1", 100, 0.9);
    e.file_sha256 = Some("cd".repeat(32));
    e.behaviour = Some(BehaviourJson {
        cnc: vec!["c2.example.net:8443".into()],
        ..Default::default()
    });
    let id = ingest(&s.admin, e).await;
    let d = detail(&s.admin, &format!("/api/v1/incidents/{id}")).await;
    let options: Vec<(&str, &str)> = d
        .mitigation_options
        .iter()
        .map(|o| (o.kind.as_str(), o.value.as_str()))
        .collect();
    for want in [
        ("block_ip", "203.0.113.5"),
        ("block_domain", "evil.example"),
        ("block_domain", "c2.example.net"),
        ("block_url", "http://evil.example/x"),
        ("block_hash", &"cd".repeat(32)[..]),
        ("quarantine_endpoint", "10.3.0.1"),
    ] {
        assert!(options.contains(&want), "{want:?} not in {options:?}");
    }
    assert_eq!(
        feed(&s, &cred.credential, "ip.txt").await,
        (StatusCode::OK, String::new())
    );

    let path = format!("/api/v1/incidents/{id}/mitigations");
    let ip: MitigationOut = s
        .admin
        .post(&path, &json!({"kind": "block_ip", "value": "203.0.113.5"}))
        .await
        .unwrap();
    assert_eq!((ip.feed.as_str(), ip.by.as_str()), ("ip", "admin"));
    let _: MitigationOut = s
        .admin
        .post(
            &path,
            &json!({"kind": "block_domain", "value": "EVIL.example."}),
        )
        .await
        .unwrap();
    let _: MitigationOut = s
        .admin
        .post(
            &path,
            &json!({"kind": "quarantine_endpoint", "value": "10.3.0.1"}),
        )
        .await
        .unwrap();
    assert_eq!(
        feed(&s, &cred.credential, "ip.txt").await.1,
        "203.0.113.5\n"
    );
    assert_eq!(
        feed(&s, &cred.credential, "domain.txt").await.1,
        "evil.example\n"
    );
    assert_eq!(
        feed(&s, &cred.credential, "quarantine.txt").await.1,
        "10.3.0.1\n"
    );
    // HTTP Basic, as many firewalls fetch external lists.
    let basic = s
        .anon
        .http()
        .get(s.url("/feeds/ip.txt"))
        .basic_auth("paloalto", Some(&cred.credential))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::OK);
    assert_eq!(
        basic.headers()[header::CONTENT_TYPE],
        "text/plain; charset=utf-8"
    );
    assert_eq!(basic.text().await.unwrap(), "203.0.113.5\n");

    let (status, _) = api_error(
        s.admin
            .post::<_, MitigationOut>(&path, &json!({"kind": "block_ip", "value": "203.0.113.5"}))
            .await,
    );
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = api_error(
        s.admin
            .post::<_, MitigationOut>(&path, &json!({"kind": "block_ip", "value": "198.51.100.1"}))
            .await,
    );
    assert_eq!(
        (status, body.field.as_deref()),
        (StatusCode::BAD_REQUEST, Some("value"))
    );
    assert!(
        body.error.contains("its block_ip options are: 203.0.113.5"),
        "{}",
        body.error
    );
    let (status, body) = api_error(
        s.admin
            .post::<_, MitigationOut>(&path, &json!({"kind": "nuke", "value": "x"}))
            .await,
    );
    assert_eq!(
        (status, body.field.as_deref()),
        (StatusCode::BAD_REQUEST, Some("kind"))
    );

    assert_eq!(
        feed(&s, "fd_wrong", "ip.txt").await.0,
        StatusCode::UNAUTHORIZED
    );
    let anon = s
        .anon
        .http()
        .get(s.url("/feeds/ip.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
    assert!(anon.headers().contains_key(header::WWW_AUTHENTICATE));
    assert_eq!(
        feed(&s, &cred.credential, "passwords.txt").await.0,
        StatusCode::NOT_FOUND
    );

    // A viewer sees, and cannot act.
    let viewer = user(&s, "vera", "viewer").await;
    let seen = detail(&viewer, &format!("/api/v1/incidents/{id}")).await;
    assert_eq!(seen.mitigations.len(), 3);
    let (status, body) = api_error(
        viewer
            .post::<_, MitigationOut>(
                &path,
                &json!({"kind": "block_hash", "value": "cd".repeat(32)}),
            )
            .await,
    );
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.error.contains("analyst"), "{}", body.error);
    let (status, _) = api_error(
        viewer
            .post::<_, FeedCredential>("/api/v1/feeds/credential", &json!({}))
            .await,
    );
    assert_eq!(status, StatusCode::FORBIDDEN);

    let revoked: MitigationOut = s
        .admin
        .send(
            s.admin
                .request(Method::DELETE, &format!("{path}/{}", ip.id)),
        )
        .await
        .unwrap();
    assert_eq!(revoked.revoked_by.as_deref(), Some("admin"));
    assert_eq!(feed(&s, &cred.credential, "ip.txt").await.1, "");
    assert_eq!(
        feed(&s, &cred.credential, "domain.txt").await.1,
        "evil.example\n"
    );
    let (status, _) = api_error(
        s.admin
            .send::<MitigationOut>(
                s.admin
                    .request(Method::DELETE, &format!("{path}/{}", ip.id)),
            )
            .await,
    );
    assert_eq!(status, StatusCode::CONFLICT);
    let d = detail(&s.admin, &format!("/api/v1/incidents/{id}")).await;
    let ip_option = d
        .mitigation_options
        .iter()
        .find(|o| o.kind == "block_ip")
        .unwrap();
    assert_eq!(ip_option.active, None, "revoked: the option is open again");

    // The list of every mitigation: newest first, revoked ones marked, paged.
    let all: Vec<MitigationOut> = s.admin.get("/api/v1/mitigations").await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[2].id, ip.id);
    assert!(all[2].revoked_at.is_some());
    let active: Vec<MitigationOut> = s
        .admin
        .get("/api/v1/mitigations?active=true")
        .await
        .unwrap();
    assert_eq!(
        active.iter().map(|m| m.kind.as_str()).collect::<Vec<_>>(),
        ["quarantine_endpoint", "block_domain"]
    );
    let older: Vec<MitigationOut> = s
        .admin
        .get(&format!("/api/v1/mitigations?limit=1&before={}", all[1].id))
        .await
        .unwrap();
    assert_eq!(older.iter().map(|m| m.id).collect::<Vec<_>>(), [ip.id]);
    let (status, body) = api_error(
        s.admin
            .get::<Vec<MitigationOut>>("/api/v1/mitigations?limit=0")
            .await,
    );
    assert_eq!(
        (status, body.field.as_deref()),
        (StatusCode::BAD_REQUEST, Some("limit"))
    );

    // A new credential shuts the old one out.
    let fresh: FeedCredential = s
        .admin
        .post("/api/v1/feeds/credential", &json!({}))
        .await
        .unwrap();
    assert_eq!(
        feed(&s, &cred.credential, "domain.txt").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        feed(&s, &fresh.credential, "domain.txt").await.1,
        "evil.example\n"
    );
}

#[tokio::test]
async fn whitelist_turns_matching_incidents_benign_now_and_later() {
    let s = start().await;
    let hit = ingest(&s.admin, event("10.4.0.1", 100, 0.8)).await;
    let mut other = event("10.4.0.2", 100, 0.8);
    other.source_name = Some("http://fine.example/y".into());
    other.source_ip = Some("198.51.100.4".into());
    let miss = ingest(&s.admin, other).await;

    let r: WhitelistResult = s
        .admin
        .post(
            "/api/v1/whitelist",
            &json!({"kind": "domain", "value": "Evil.Example", "reason": "sinkholed by our ISP"}),
        )
        .await
        .unwrap();
    assert_eq!(r.benign_incidents, vec![hit]);
    assert_eq!(r.entry.value, "evil.example");
    let d = detail(&s.admin, &format!("/api/v1/incidents/{hit}")).await;
    assert_eq!(d.incident.risk, "benign");
    assert_eq!(
        d.events[0].severity, 0.8,
        "the sensor's score is kept on the event"
    );
    let last = d.status_history.last().unwrap();
    assert_eq!(
        last.comment,
        "whitelisted (domain evil.example): sinkholed by our ISP"
    );
    assert_eq!(
        detail(&s.admin, &format!("/api/v1/incidents/{miss}"))
            .await
            .incident
            .risk,
        "critical"
    );

    let mut later = event("10.4.0.3", 200, 0.9);
    later.source_name = Some("http://cdn.evil.example/z".into());
    let later = ingest(&s.admin, later).await;
    assert_eq!(
        detail(&s.admin, &format!("/api/v1/incidents/{later}"))
            .await
            .incident
            .risk,
        "benign"
    );

    let (status, _) = api_error(
        s.admin
            .post::<_, WhitelistResult>(
                "/api/v1/whitelist",
                &json!({"kind": "domain", "value": "evil.example", "reason": "again"}),
            )
            .await,
    );
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = api_error(
        s.admin
            .post::<_, WhitelistResult>(
                "/api/v1/whitelist",
                &json!({"kind": "domain", "value": "<script>", "reason": "x"}),
            )
            .await,
    );
    assert_eq!(
        (status, body.field.as_deref()),
        (StatusCode::BAD_REQUEST, Some("value"))
    );
    let (status, body) = api_error(
        s.admin
            .post::<_, WhitelistResult>(
                "/api/v1/whitelist",
                &json!({"kind": "everything", "value": "x", "reason": "x"}),
            )
            .await,
    );
    assert_eq!(
        (status, body.field.as_deref()),
        (StatusCode::BAD_REQUEST, Some("kind"))
    );
    let (status, body) = api_error(
        s.admin
            .post::<_, WhitelistResult>(
                "/api/v1/whitelist",
                &json!({"kind": "source_ip", "value": "198.51.100.4", "reason": " "}),
            )
            .await,
    );
    assert_eq!(
        (status, body.field.as_deref()),
        (StatusCode::BAD_REQUEST, Some("reason"))
    );
    let (status, body) = api_error(
        s.admin
            .post::<_, WhitelistResult>(
                &format!("/api/v1/incidents/{miss}/whitelist"),
                &json!({"kind": "source_ip", "value": "203.0.113.5", "reason": "x"}),
            )
            .await,
    );
    assert_eq!(
        (status, body.field.as_deref()),
        (StatusCode::BAD_REQUEST, Some("value"))
    );
    assert!(body.error.contains("matches no event"), "{}", body.error);
    let viewer = user(&s, "vic", "viewer").await;
    let (status, _) = api_error(
        viewer
            .post::<_, WhitelistResult>(
                "/api/v1/whitelist",
                &json!({"kind": "source_ip", "value": "198.51.100.4", "reason": "x"}),
            )
            .await,
    );
    assert_eq!(status, StatusCode::FORBIDDEN);

    let _: serde_json::Value = s
        .admin
        .send(
            s.admin
                .request(Method::DELETE, &format!("/api/v1/whitelist/{}", r.entry.id)),
        )
        .await
        .unwrap();
    let list: Vec<serde_json::Value> = s.admin.get("/api/v1/whitelist").await.unwrap();
    assert!(list.is_empty());
    let mut after = event("10.4.0.4", 300, 0.9);
    after.source_name = Some("http://evil.example/again".into());
    let after = ingest(&s.admin, after).await;
    assert_eq!(
        detail(&s.admin, &format!("/api/v1/incidents/{after}"))
            .await
            .incident
            .risk,
        "critical"
    );
}

#[tokio::test]
async fn comments_users_and_a_tamper_evident_audit_log() {
    let s = start().await;
    let id = ingest(&s.admin, event("10.5.0.1", 100, 0.8)).await;
    let c: StatusChangeOut = s
        .admin
        .post(
            &format!("/api/v1/incidents/{id}/comments"),
            &json!({"comment": "called the user <b>now</b>"}),
        )
        .await
        .unwrap();
    assert_eq!(
        (c.from.as_str(), c.to.as_str(), c.by.as_str()),
        ("new", "new", "admin")
    );
    let d = detail(&s.admin, &format!("/api/v1/incidents/{id}")).await;
    assert_eq!(d.status_history[0].comment, "called the user <b>now</b>");

    // Users: admins only; the last admin stays.
    let alice = user(&s, "alice", "analyst").await;
    let (status, _) = api_error(alice.get::<Vec<UserOut>>("/api/v1/users").await);
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = api_error(
        s.admin
            .post::<_, UserOut>(
                "/api/v1/users",
                &json!({"username": "alice", "password": "passw0rd-long", "role": "viewer"}),
            )
            .await,
    );
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = api_error(
        s.admin
            .post::<_, UserOut>(
                "/api/v1/users",
                &json!({"username": "bob", "password": "short", "role": "viewer"}),
            )
            .await,
    );
    assert_eq!(
        (status, body.field.as_deref()),
        (StatusCode::BAD_REQUEST, Some("password"))
    );
    let (status, body) = api_error(
        s.admin
            .post::<_, UserOut>(
                "/api/v1/users",
                &json!({"username": "bob", "password": "passw0rd-long", "role": "root"}),
            )
            .await,
    );
    assert_eq!(
        (status, body.field.as_deref()),
        (StatusCode::BAD_REQUEST, Some("role"))
    );
    let users: Vec<UserOut> = s.admin.get("/api/v1/users").await.unwrap();
    let alice_id = users.iter().find(|u| u.username == "alice").unwrap().id;
    let admin_id = users.iter().find(|u| u.username == "admin").unwrap().id;
    let patch = |id: i64, body: serde_json::Value| {
        s.admin.send::<UserOut>(
            s.admin
                .request(Method::PATCH, &format!("/api/v1/users/{id}"))
                .json(&body),
        )
    };
    let (status, body) = api_error(patch(admin_id, json!({"role": "viewer"})).await);
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body.error.contains("last enabled user who may administer"),
        "{}",
        body.error
    );
    assert_eq!(
        patch(alice_id, json!({"role": "viewer"}))
            .await
            .unwrap()
            .role,
        "viewer"
    );
    let (status, _) = api_error(
        alice
            .post::<_, StatusChangeOut>(
                &format!("/api/v1/incidents/{id}/comments"),
                &json!({"comment": "x"}),
            )
            .await,
    );
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the new role applies at once"
    );
    assert!(
        patch(alice_id, json!({"disabled": true}))
            .await
            .unwrap()
            .disabled
    );
    let (status, _) = api_error(
        alice
            .get::<IncidentDetail>(&format!("/api/v1/incidents/{id}"))
            .await,
    );
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "disabling ends the sessions"
    );
    patch(
        alice_id,
        json!({"disabled": false, "password": "another-passw0rd"}),
    )
    .await
    .unwrap();
    let alice = s.anon.login("alice", "another-passw0rd").await.unwrap().0;
    let (status, body) = api_error(
        alice
            .post::<_, UserOut>(
                "/api/v1/password",
                &json!({"current_password": "wrong", "new_password": "third-passw0rd"}),
            )
            .await,
    );
    assert_eq!(
        (status, body.field.as_deref()),
        (StatusCode::BAD_REQUEST, Some("current_password"))
    );
    let _: UserOut = alice
        .post(
            "/api/v1/password",
            &json!({"current_password": "another-passw0rd", "new_password": "third-passw0rd"}),
        )
        .await
        .unwrap();
    s.anon.login("alice", "third-passw0rd").await.unwrap();

    // The audit log holds every change, chained.
    let (status, _) = api_error(alice.get::<AuditList>("/api/v1/audit").await);
    assert_eq!(status, StatusCode::FORBIDDEN);
    let log: AuditList = s.admin.get("/api/v1/audit?limit=1000").await.unwrap();
    let actions: Vec<(&str, &str)> = log
        .items
        .iter()
        .map(|e| (e.actor.as_str(), e.action.as_str()))
        .collect();
    for want in [
        ("admin", "login"),
        ("admin", "incident.comment"),
        ("admin", "user.create"),
        ("admin", "user.update"),
        ("alice", "login"),
        ("alice", "user.password"),
    ] {
        assert!(actions.contains(&want), "{want:?} not in {actions:?}");
    }
    for pair in log.items.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
    let v: AuditVerification = s.admin.get("/api/v1/audit/verify").await.unwrap();
    assert!(v.intact, "{v:?}");
    assert_eq!(v.entries, log.items.len() as i64);

    // Someone edits the database file behind the daemon's back.
    let url = format!("sqlite:{}", s.dir.path().join("aerie.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("UPDATE audit_log SET detail = 'nothing happened' WHERE seq = 3")
        .execute(&pool)
        .await
        .unwrap();
    let v: AuditVerification = s.admin.get("/api/v1/audit/verify").await.unwrap();
    assert_eq!((v.intact, v.broken_at), (false, Some(3)), "{v:?}");
    assert!(v.reason.unwrap().contains("do not match its hash"));
}

#[tokio::test]
async fn every_action_from_the_mcm_is_applied_on_the_owning_cm_only() {
    let mcm = node("mcm-inv", 1).await;
    convert(&mcm).await;
    let cm = node("cm-inv", 2).await;
    assert!(register(&cm, &mcm).await.0);
    let cm_id = cm_id_of(&mcm, "cm-inv").await;

    let png = artifacts::screenshot(1);
    let shot: ArtifactOut = cm
        .admin
        .upload_artifact(png.clone(), Some("screenshot"))
        .await
        .unwrap();
    let mut e = event("10.6.0.1", 100, 0.9);
    e.threat_name = "<script>alert(1)</script>".into();
    e.artifacts = vec![shot.sha256.clone()];
    e.behaviour = Some(BehaviourJson {
        files: vec![FileJson {
            path: "/tmp/$(reboot)".into(),
            sha256: None,
        }],
        ..Default::default()
    });
    let id = ingest(&cm.admin, e).await;
    let on_mcm = |mcm: &TestServer| {
        let admin = mcm.admin.clone();
        async move {
            admin
                .incidents(&Default::default())
                .await
                .unwrap()
                .items
                .iter()
                .any(|i: &IncidentOut| i.incident_id == id)
        }
    };
    assert!(eventually(10, || on_mcm(&mcm)).await);
    let base = format!("/api/v1/incidents/{cm_id}/{id}");

    let d = detail(&mcm.admin, &base).await;
    assert_eq!(d.incident.cm_name.as_deref(), Some("cm-inv"));
    assert_eq!(d.incident.threat_name, "<script>alert(1)</script>");
    assert_eq!(d.artifacts.len(), 1);
    let (headers, bytes) = mcm
        .admin
        .download(&format!("{base}/artifacts/{}", shot.sha256))
        .await
        .unwrap();
    assert_eq!(headers[header::CONTENT_TYPE], "image/png");
    assert_eq!(bytes, png, "streamed through the MCM unchanged");
    let (_, via_mcm) = mcm
        .admin
        .download(&format!("{base}/ivp/posix"))
        .await
        .unwrap();
    let (_, direct) = cm
        .admin
        .download(&format!("/api/v1/incidents/{id}/ivp/posix"))
        .await
        .unwrap();
    assert_eq!(via_mcm, direct);
    assert!(
        String::from_utf8(via_mcm)
            .unwrap()
            .contains("check_file '/tmp/$(reboot)' ''")
    );

    // Roles are checked on the MCM first; the CM never hears of a refused action.
    let viewer = user(&mcm, "mona", "viewer").await;
    let (status, body) = api_error(
        viewer
            .post::<_, MitigationOut>(
                &format!("{base}/mitigations"),
                &json!({"kind": "block_ip", "value": "203.0.113.5"}),
            )
            .await,
    );
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.error.contains("analyst"), "{}", body.error);
    let analyst = user(&mcm, "ana", "analyst").await;
    let m: MitigationOut = analyst
        .post(
            &format!("{base}/mitigations"),
            &json!({"kind": "block_ip", "value": "203.0.113.5"}),
        )
        .await
        .unwrap();
    assert_eq!(m.by, "ana@mcm");
    let cred: FeedCredential = cm
        .admin
        .post("/api/v1/feeds/credential", &json!({}))
        .await
        .unwrap();
    assert_eq!(
        feed(&cm, &cred.credential, "ip.txt").await.1,
        "203.0.113.5\n"
    );
    let (status, body) = api_error(
        analyst
            .post::<_, MitigationOut>(
                &format!("{base}/mitigations"),
                &json!({"kind": "block_ip", "value": "203.0.113.5'; DROP TABLE incidents; --"}),
            )
            .await,
    );
    assert_eq!(
        (status, body.field.as_deref()),
        (StatusCode::BAD_REQUEST, Some("value"))
    );
    assert!(body.error.starts_with("CM cm-inv: "), "{}", body.error);
    let _: IncidentOut = analyst
        .post(
            &format!("{base}/status"),
            &json!({"status": "acknowledged", "comment": "on it"}),
        )
        .await
        .unwrap();
    let _: StatusChangeOut = analyst
        .post(
            &format!("{base}/comments"),
            &json!({"comment": "user called back"}),
        )
        .await
        .unwrap();
    let d = detail(&cm.admin, &format!("/api/v1/incidents/{id}")).await;
    let by: Vec<&str> = d.status_history.iter().map(|h| h.by.as_str()).collect();
    assert_eq!(by, ["ana@mcm", "ana@mcm"]);
    // Only incident actions go through: no way out of the incident's path.
    let (status, body) = api_error(
        mcm.admin
            .get::<Vec<UserOut>>(&format!("{base}/..%2f..%2fusers"))
            .await,
    );
    assert_eq!(status, StatusCode::BAD_REQUEST, "{}", body.error);

    // The CM's audit log names the MCM user; the MCM's records the forwarding.
    let cm_log: AuditList = cm.admin.get("/api/v1/audit?limit=1000").await.unwrap();
    let acts: Vec<(&str, &str)> = cm_log
        .items
        .iter()
        .map(|e| (e.actor.as_str(), e.action.as_str()))
        .collect();
    for want in [
        ("ana@mcm", "mitigation.apply"),
        ("ana@mcm", "incident.status"),
        ("ana@mcm", "incident.comment"),
    ] {
        assert!(acts.contains(&want), "{want:?} not in {acts:?}");
    }
    assert!(!acts.iter().any(|(a, _)| *a == "mona@mcm"), "{acts:?}");
    let mcm_log: AuditList = mcm.admin.get("/api/v1/audit?limit=1000").await.unwrap();
    assert!(mcm_log.items.iter().any(|e| e.actor == "ana"
        && e.action == "cm.incident_action"
        && e.target == format!("CM cm-inv incident {id}")));

    // Whitelisting from the MCM makes the incident benign on its CM; it leaves the MCM.
    let r: WhitelistResult = analyst
        .post(
            &format!("{base}/whitelist"),
            &json!({"kind": "source_ip", "value": "203.0.113.5", "reason": "our pentest box"}),
        )
        .await
        .unwrap();
    assert_eq!(r.benign_incidents, vec![id]);
    assert_eq!(r.entry.by, "ana@mcm");
    assert!(
        eventually(10, || async { !on_mcm(&mcm).await }).await,
        "a benign incident leaves the MCM"
    );

    // A stopped CM: the action fails at once, naming it; nothing is queued.
    let mut fresh = event("10.6.0.2", 100, 0.9);
    fresh.source_ip = Some("198.51.100.9".into()); // 203.0.113.5 is whitelisted now
    let id2 = ingest(&cm.admin, fresh).await;
    assert!(
        eventually(10, || async {
            mcm.admin
                .incidents(&Default::default())
                .await
                .unwrap()
                .items
                .iter()
                .any(|i| i.incident_id == id2)
        })
        .await
    );
    let addr = cm.running.addr;
    cm.shutdown.cancel();
    assert!(
        eventually(15, || async {
            tokio::net::TcpStream::connect(addr).await.is_err()
        })
        .await
    );
    let (status, body) = api_error(
        analyst
            .post::<_, MitigationOut>(
                &format!("/api/v1/incidents/{cm_id}/{id2}/mitigations"),
                &json!({"kind": "block_ip", "value": "203.0.113.5"}),
            )
            .await,
    );
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(
        body.error.contains("cm-inv") && body.error.contains("unreachable"),
        "{}",
        body.error
    );
    let (status, _) = api_error(
        mcm.admin
            .download(&format!("/api/v1/incidents/{cm_id}/{id2}/ivp/posix"))
            .await,
    );
    assert_eq!(status, StatusCode::BAD_GATEWAY);
}

#[tokio::test]
async fn custom_roles_grant_exactly_their_permissions() {
    use aerie_proto::investigation::RoleOut;
    let s = start().await;
    let id = ingest(&s.admin, event("10.8.0.1", 100, 0.9)).await;
    let role: RoleOut = s
        .admin
        .post(
            "/api/v1/roles",
            &json!({"name": "triage-desk", "permissions": ["view", "triage"]}),
        )
        .await
        .unwrap();
    assert_eq!(
        (role.seeded, role.permissions.clone()),
        (false, vec!["view".to_owned(), "triage".to_owned()])
    );
    for (body, field) in [
        (
            json!({"name": "x", "permissions": ["view", "fly"]}),
            "permissions",
        ),
        (
            json!({"name": "no-view", "permissions": ["triage"]}),
            "permissions",
        ),
        (json!({"name": "Bad Name", "permissions": ["view"]}), "name"),
    ] {
        let (status, e) = api_error(s.admin.post::<_, RoleOut>("/api/v1/roles", &body).await);
        assert_eq!(
            (status, e.field.as_deref()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{body}"
        );
    }
    let (status, _) = api_error(
        s.admin
            .post::<_, RoleOut>(
                "/api/v1/roles",
                &json!({"name": "admin", "permissions": ["view"]}),
            )
            .await,
    );
    assert_eq!(status, StatusCode::CONFLICT);
    let roles: Vec<RoleOut> = s.admin.get("/api/v1/roles").await.unwrap();
    let names: Vec<&str> = roles.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["viewer", "analyst", "admin", "triage-desk"]);

    let tess = user(&s, "tess", "triage-desk").await;
    let _: IncidentOut = tess
        .post(
            &format!("/api/v1/incidents/{id}/status"),
            &json!({"status": "acknowledged", "comment": "mine"}),
        )
        .await
        .unwrap();
    let (status, body) = api_error(
        tess.post::<_, MitigationOut>(
            &format!("/api/v1/incidents/{id}/mitigations"),
            &json!({"kind": "block_ip", "value": "203.0.113.5"}),
        )
        .await,
    );
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body.error.contains("the mitigate permission") && body.error.contains("triage-desk"),
        "{}",
        body.error
    );
    let (status, _) = api_error(
        tess.post::<_, WhitelistResult>(
            "/api/v1/whitelist",
            &json!({"kind": "source_ip", "value": "203.0.113.5", "reason": "x"}),
        )
        .await,
    );
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = api_error(
        tess.post_events(&batch(vec![event("10.8.0.2", 100, 0.5)]))
            .await,
    );
    assert_eq!(status, StatusCode::FORBIDDEN, "no send_events");
    let (status, body) = api_error(
        s.admin
            .post::<_, UserOut>(
                "/api/v1/users",
                &json!({"username": "x", "password": "passw0rd-long", "role": "ghost"}),
            )
            .await,
    );
    assert_eq!(
        (status, body.field.as_deref()),
        (StatusCode::BAD_REQUEST, Some("role"))
    );

    let (status, _) = api_error(
        s.admin
            .send::<serde_json::Value>(s.admin.request(Method::DELETE, "/api/v1/roles/triage-desk"))
            .await,
    );
    assert_eq!(status, StatusCode::CONFLICT, "tess holds it");
    let (status, _) = api_error(
        s.admin
            .send::<serde_json::Value>(s.admin.request(Method::DELETE, "/api/v1/roles/admin"))
            .await,
    );
    assert_eq!(status, StatusCode::CONFLICT, "seeded roles stay");
}
