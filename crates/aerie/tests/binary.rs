//! The built `aerie` binary, black box: it starts, answers, simulates, and stops on SIGTERM.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use aerie_client::{Client, Fingerprint};

const AERIE: &str = env!("CARGO_BIN_EXE_aerie");

/// Starts `aerie serve` and returns it with the address from its "listening on" line.
fn serve(dir: &Path) -> (Child, String) {
    let mut child = Command::new(AERIE)
        .args(["serve", "--data-dir"])
        .arg(dir)
        .args(["--listen", "127.0.0.1:0"])
        .env("AERIE_ADMIN_PASSWORD", "binary-test-password")
        .env("AERIE_HOSTNAME", "cm-binary")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some((_, addr)) = line.split_once("listening on https://") {
                let _ = tx.send(addr.trim().to_owned());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the daemon reports its address");
    (child, addr)
}

/// Kills the daemon when a test fails before stopping it itself, so that no daemon
/// outlives its test.
struct KillOnDrop(Option<u32>);

impl KillOnDrop {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
}

fn sigterm(child: &Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_answers_simulate_feeds_it_and_sigterm_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = serve(dir.path());
    let mut reaper = KillOnDrop(Some(child.id()));
    let cert = dir.path().join("tls/cert.pem");
    let pem = std::fs::read_to_string(&cert).unwrap();
    let url = format!("https://{addr}");
    let client = Client::new(&url, Fingerprint::of_pem(&pem).unwrap()).unwrap();
    let mut health = None;
    for _ in 0..100 {
        match client.health().await {
            Ok(h) => {
                health = Some(h);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    assert_eq!(health.expect("healthz answers").role, "cm");
    use std::os::unix::fs::PermissionsExt;
    let key_mode = std::fs::metadata(dir.path().join("tls/key.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600);
    assert!(
        !dir.path().join("initial-admin-password").exists(),
        "the password came from the env"
    );

    let (admin, _) = client.login("admin", "binary-test-password").await.unwrap();
    let key = admin.create_api_key("sensors").await.unwrap().key;
    let simulate = Command::new(AERIE)
        .args([
            "simulate",
            "--target",
            &url,
            "--api-key",
            &key,
            "--count",
            "60",
            "--rate",
            "600",
        ])
        .arg("--cert")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        simulate.status.success(),
        "{}",
        String::from_utf8_lossy(&simulate.stderr)
    );
    let page = admin.incidents(&Default::default()).await.unwrap();
    assert!(!page.items.is_empty());
    let events: i64 = {
        let mut total = 0;
        let mut params = aerie_proto::incidents::IncidentListParams {
            limit: Some(500),
            ..Default::default()
        };
        loop {
            let page = admin.incidents(&params).await.unwrap();
            total += page.items.iter().map(|i| i.event_count).sum::<i64>();
            match page.next {
                Some(n) => params.after = Some(n),
                None => break total,
            }
        }
    };
    assert_eq!(events, 60, "every simulated event landed in an incident");

    // Detonated payloads came with a real screenshot and a real packet capture.
    let mut checked = 0;
    for incident in admin.incidents(&Default::default()).await.unwrap().items {
        let detail = admin.incident(incident.incident_id).await.unwrap();
        for a in &detail.artifacts {
            let path = format!(
                "/api/v1/incidents/{}/artifacts/{}",
                incident.incident_id, a.sha256
            );
            let (_, bytes) = admin.download(&path).await.unwrap();
            match a.kind.as_str() {
                "screenshot" => {
                    let reader = png::Decoder::new(std::io::Cursor::new(&bytes))
                        .read_info()
                        .unwrap();
                    assert!(reader.info().width > 0);
                }
                "trace" => {
                    let mut r = pcap_file::pcap::PcapReader::new(&bytes[..]).unwrap();
                    let mut packets = 0;
                    while let Some(p) = r.next_packet() {
                        p.unwrap();
                        packets += 1;
                    }
                    assert!(packets > 0);
                }
                other => panic!("unexpected artifact kind {other}"),
            }
            checked += 1;
        }
        if detail.events.iter().any(|e| e.behaviour.is_some()) {
            assert!(
                !detail.artifacts.is_empty(),
                "a detonated event without artifacts"
            );
        }
    }
    assert!(
        checked >= 2,
        "the simulation attached artifacts ({checked} checked)"
    );

    sigterm(&child);
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    reaper.disarm();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
}

#[test]
fn bad_configuration_fails_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(AERIE)
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .args(["--listen", "everywhere"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error: configuration: listen \"everywhere\" is not ADDRESS:PORT"),
        "{err}"
    );

    std::fs::write(dir.path().join("aerie.toml"), "listen = 443\n").unwrap();
    let out = Command::new(AERIE)
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("aerie.toml"), "{err}");

    let out = Command::new(AERIE)
        .args([
            "simulate",
            "--target",
            "https://127.0.0.1:1",
            "--api-key",
            "k",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("--cert FILE or --fingerprint"),
        "{err}"
    );
}

/// A packet capture of exactly 16 MiB (the artifact cap): records of about 64 KiB.
fn big_trace() -> Vec<u8> {
    use pcap_file::pcap::{PcapPacket, PcapWriter};
    const CAP: usize = 16 * 1024 * 1024;
    const HEADER: usize = 24;
    const RECORD: usize = 16;
    let mut writer = PcapWriter::new(Vec::with_capacity(CAP)).unwrap();
    let (mut size, mut i) = (HEADER, 0u64);
    while size + RECORD < CAP {
        let len = (CAP - size - RECORD).min(65_000);
        let data: Vec<u8> = (0..len).map(|b| (b as u8) ^ (i as u8)).collect();
        let at = Duration::from_secs(1_764_000_000 + i);
        writer
            .write_packet(&PcapPacket::new(at, len as u32, &data))
            .unwrap();
        size += RECORD + len;
        i += 1;
    }
    writer.into_writer()
}

/// A kilobyte figure from `/proc/PID/status` (`VmRSS`, `VmHWM`).
fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_artifact_downloads_stream_from_storage() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = serve(dir.path());
    let mut reaper = KillOnDrop(Some(child.id()));
    let pem = std::fs::read_to_string(dir.path().join("tls/cert.pem")).unwrap();
    let client = Client::new(
        &format!("https://{addr}"),
        Fingerprint::of_pem(&pem).unwrap(),
    )
    .unwrap();
    let mut admin = None;
    for _ in 0..100 {
        if let Ok((a, _)) = client.login("admin", "binary-test-password").await {
            admin = Some(a);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let admin = admin.expect("the daemon answers");
    let trace = std::sync::Arc::new(big_trace());
    let stored = admin
        .upload_artifact(trace.to_vec(), Some("trace"))
        .await
        .unwrap();
    let mut event = aerie_client::traffic::Traffic::new(3, 1).next_event(chrono::Utc::now());
    event.severity = 0.9;
    event.artifacts = vec![stored.sha256.clone()];
    admin
        .post_events(&aerie_proto::events::EventBatch {
            events: vec![event],
        })
        .await
        .unwrap();
    let incident = admin.incidents(&Default::default()).await.unwrap().items[0].incident_id;
    let path = format!("/api/v1/incidents/{incident}/artifacts/{}", stored.sha256);

    let pid = child.id();
    let before = status_kb(pid, "VmRSS");
    // From here on VmHWM is the peak of the downloads alone.
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();
    let started = std::time::Instant::now();
    let downloads: Vec<_> = (0..8)
        .map(|_| {
            let (admin, path, trace) = (admin.clone(), path.clone(), trace.clone());
            tokio::spawn(async move {
                let resp = admin
                    .request(reqwest::Method::GET, &path)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), reqwest::StatusCode::OK);
                let body = resp.bytes().await.unwrap();
                assert!(body[..] == trace[..], "byte-identical");
            })
        })
        .collect();
    for d in downloads {
        d.await.unwrap();
    }
    let took = started.elapsed();
    let peak = status_kb(pid, "VmHWM");
    let grown_mb = peak.saturating_sub(before) as f64 / 1024.0;
    println!(
        "8 concurrent 16 MiB downloads in {took:.2?}: resident {:.0} MB before, peak {:.0} MB \
         (+{grown_mb:.1} MB)",
        before as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    assert!(
        grown_mb < 50.0,
        "the CM's memory grew by {grown_mb:.1} MB serving 8 downloads"
    );
    sigterm(&child);
    child.wait().unwrap();
    reaper.disarm();
}

/// Stages `DIR/updates/VERSION/bin/aerie` as a script that records its arguments and
/// environment in `DIR/ran`, and points `current` at it.
fn stage_script(dir: &Path, version: &str) {
    use std::os::unix::fs::PermissionsExt;
    let staged = dir.join("updates").join(version);
    std::fs::create_dir_all(staged.join("bin")).unwrap();
    let bin = staged.join("bin/aerie");
    std::fs::write(
        &bin,
        format!(
            "#!/bin/sh\necho \"{version} $* from=$AERIE_STARTED_FROM_UPDATE installed=$AERIE_INSTALLED_BINARY\" > \"{}\"\n",
            dir.join("ran").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let _ = std::fs::remove_file(dir.join("updates/current"));
    std::os::unix::fs::symlink(&staged, dir.join("updates/current")).unwrap();
}

#[test]
fn serve_starts_a_newer_staged_binary_and_a_rollback_restarts_into_the_installed_one() {
    // A newer staged version runs instead of this binary, with the same arguments.
    let dir = tempfile::tempdir().unwrap();
    stage_script(dir.path(), "99.0.0");
    let status = Command::new(AERIE)
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0"])
        .status()
        .unwrap();
    assert!(status.success());
    let ran = std::fs::read_to_string(dir.path().join("ran")).unwrap();
    assert!(ran.starts_with("99.0.0 serve --data-dir"), "{ran}");
    assert!(
        ran.contains("from=1") && ran.contains(&format!("installed={AERIE}")),
        "{ran}"
    );

    // An older staged version does not; a rollback past it restarts the installed
    // binary in place (same process id, a second "listening on").
    std::fs::remove_file(dir.path().join("ran")).unwrap();
    stage_script(dir.path(), "0.0.1");
    let mut child = Command::new(AERIE)
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0"])
        .env("AERIE_ADMIN_PASSWORD", "binary-test-password")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut guard = KillOnDrop(Some(child.id()));
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("listening on https://") {
                let _ = tx.send(line);
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the daemon starts");
    assert!(
        !dir.path().join("ran").exists(),
        "an older staged binary is not started"
    );
    let out = Command::new(AERIE)
        .args(["cli", "--data-dir"])
        .arg(dir.path())
        .args(["-c", "set system rollback"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("Rolled back: 0.0.1 → the installed binary"),
        "{said}"
    );
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the daemon restarts in place and listens again");
    assert!(!dir.path().join("ran").exists());
    sigterm(&child);
    assert!(child.wait().unwrap().success());
    guard.disarm();
}

#[test]
fn serve_tells_systemd_when_it_is_ready_and_when_it_stops() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("notify.sock");
    let systemd = std::os::unix::net::UnixDatagram::bind(&socket).unwrap();
    systemd
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let mut child = Command::new(AERIE)
        .args(["serve", "--data-dir"])
        .arg(&data)
        .args(["--listen", "127.0.0.1:0"])
        .env("AERIE_ADMIN_PASSWORD", "binary-test-password")
        .env("AERIE_HOSTNAME", "cm-notify")
        .env("NOTIFY_SOCKET", &socket)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut guard = KillOnDrop(Some(child.id()));
    let mut buf = [0u8; 256];
    let n = systemd.recv(&mut buf).expect("READY=1 within a minute");
    let ready = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(
        ready.starts_with("READY=1\nSTATUS=listening on https://127.0.0.1:"),
        "{ready}"
    );
    // Ready means listening: the health check answers at once.
    let addr = ready.rsplit("https://").next().unwrap().to_owned();
    assert!(std::net::TcpStream::connect(&addr).is_ok(), "{addr}");
    sigterm(&child);
    let n = systemd.recv(&mut buf).expect("STOPPING=1");
    assert_eq!(&buf[..n], b"STOPPING=1");
    assert!(child.wait().unwrap().success());
    guard.disarm();
}
