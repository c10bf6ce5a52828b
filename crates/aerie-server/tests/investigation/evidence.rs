//! Artifacts (checked by content, stored once) and the IVP scripts built from an incident's indicators.

use super::*;

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
