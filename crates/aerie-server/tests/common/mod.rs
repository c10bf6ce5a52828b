//! Test helpers: a real daemon on 127.0.0.1:0 over HTTPS, and clients for it.
#![allow(dead_code)]

use aerie_client::{Client, Fingerprint};
use aerie_proto::events::{EventBatch, EventIn};
use aerie_server::{Config, ConfigLayer, Running, bootstrap::INITIAL_PASSWORD_FILE};
use tokio_util::sync::CancellationToken;

pub struct TestServer {
    pub running: Running,
    pub dir: tempfile::TempDir,
    pub shutdown: CancellationToken,
    /// Unauthenticated.
    pub anon: Client,
    /// Logged in as admin.
    pub admin: Client,
    pub admin_password: String,
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.running.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub async fn start() -> TestServer {
    start_with(ConfigLayer::default()).await
}

pub async fn start_with(layer: ConfigLayer) -> TestServer {
    start_in(tempfile::tempdir().unwrap(), layer).await
}

/// [`start_with`] with the data dir in `dir`.
pub async fn start_in(dir: tempfile::TempDir, layer: ConfigLayer) -> TestServer {
    let layer = ConfigLayer {
        listen: layer.listen.or(Some("127.0.0.1:0".into())),
        hostname: layer.hostname.or(Some("cm-test".into())),
        ..layer
    };
    let config = Config::resolve(dir.path(), layer).unwrap();
    let shutdown = CancellationToken::new();
    let running = aerie_server::start(config, shutdown.clone()).await.unwrap();
    let anon = Client::new(
        &format!("https://{}", running.addr),
        Fingerprint::of(&running.cert_der),
    )
    .unwrap();
    let admin_password = std::fs::read_to_string(dir.path().join(INITIAL_PASSWORD_FILE))
        .unwrap()
        .trim()
        .to_owned();
    let (admin, _) = anon.login("admin", &admin_password).await.unwrap();
    TestServer {
        running,
        dir,
        shutdown,
        anon,
        admin,
        admin_password,
    }
}

/// A valid event at `endpoint`, `secs` after midnight yesterday (UTC), with `severity`.
pub fn event(endpoint: &str, secs: i64, severity: f64) -> EventIn {
    let base = (chrono::Utc::now() - chrono::TimeDelta::days(1))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let time = base + chrono::TimeDelta::seconds(secs);
    EventIn {
        kind: aerie_domain::event::EventKind::Download,
        time: aerie_proto::format_time(time),
        severity,
        category: aerie_domain::event::Category::Trojan,
        threat_name: "TROJAN_Zemot.CY".into(),
        endpoint_ip: endpoint.into(),
        endpoint_name: Some("ws-1".into()),
        endpoint_os: None,
        endpoint_user: None,
        source_ip: Some("203.0.113.5".into()),
        source_name: Some("http://evil.example/x".into()),
        source_country: Some("RU".into()),
        progression: vec![aerie_domain::event::Stage::Download],
        collector_id: None,
        collector_type: aerie_domain::event::CollectorType::Web,
        file_sha256: None,
        behaviour: Default::default(),
        artifacts: Vec::new(),
    }
}

pub fn batch(events: Vec<EventIn>) -> EventBatch {
    EventBatch { events }
}

/// A daemon named `hostname` on a loopback address of its own (127.0.0.x, port chosen
/// by the OS), as a separate appliance would be.
pub async fn node(hostname: &str, loopback: u8) -> TestServer {
    start_with(ConfigLayer {
        hostname: Some(hostname.into()),
        listen: Some(format!("127.0.0.{loopback}:0")),
        ..Default::default()
    })
    .await
}

/// Runs CLI lines against a daemon's admin socket; returns success and what it printed.
pub async fn cli(server: &TestServer, lines: &[&str]) -> (bool, String) {
    cli_in(server.dir.path(), lines).await
}

/// [`cli`] against the daemon of the data dir `dir`.
pub async fn cli_in(dir: &std::path::Path, lines: &[&str]) -> (bool, String) {
    let dir = dir.to_owned();
    let lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let result = aerie_cli::run_lines(&dir, &lines, &mut out);
        let mut text = String::from_utf8(out).unwrap();
        if let Err(e) = &result {
            text.push_str(&format!("error: {e}\n"));
        }
        (result.is_ok(), text)
    })
    .await
    .unwrap()
}

/// Polls `check` every 20 ms until it is true or `secs` pass.
pub async fn eventually<F, Fut>(secs: u64, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    false
}

pub const PASSPHRASE: &str = "password123";

pub async fn convert(mcm: &TestServer) {
    let (ok, out) = cli(
        mcm,
        &[
            "cm",
            &format!("set mcm ip 127.0.0.1 passphrase {PASSPHRASE}"),
        ],
    )
    .await;
    assert!(ok, "{out}");
    assert!(out.contains("now the Manager of Central Managers"), "{out}");
}

pub fn mcm_address(mcm: &TestServer) -> String {
    mcm.running.addr.to_string()
}

pub async fn register(cm: &TestServer, mcm: &TestServer) -> (bool, String) {
    let line = format!(
        "set mcm ip {} passphrase {PASSPHRASE} username admin",
        mcm_address(mcm)
    );
    cli(cm, &["cm", &line]).await
}

pub async fn cm_id_of(mcm: &TestServer, name: &str) -> i64 {
    let cms: Vec<serde_json::Value> = mcm.admin.get("/api/v1/cms").await.unwrap();
    cms.iter().find(|c| c["name"] == name).unwrap()["id"]
        .as_i64()
        .unwrap()
}

/// Mounts a tmpfs of `size` (e.g. `3m`) on `dir`, or resizes it; false when this process
/// may not (it needs root; CI runs as root).
pub fn mount_tmpfs(dir: &std::path::Path, size: &str, remount: bool) -> bool {
    let options = if remount {
        format!("remount,size={size}")
    } else {
        format!("size={size}")
    };
    std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &options, "tmpfs"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success())
}

/// A data dir on a fresh tmpfs of `size`, or `None` (skipped outside CI) when this
/// process cannot mount one.
pub fn tmpfs_dir(size: &str) -> Option<tempfile::TempDir> {
    let dir = tempfile::tempdir().unwrap();
    if mount_tmpfs(dir.path(), size, false) {
        return Some(dir);
    }
    assert!(
        !std::env::var("CI").is_ok_and(|v| v == "true"),
        "cannot mount a tmpfs (the test needs root)"
    );
    eprintln!("skipped: cannot mount a tmpfs (needs root)");
    None
}

/// Unmounts a tmpfs made by [`tmpfs_dir`] (lazily: the daemon may still hold files).
pub fn unmount(dir: &std::path::Path) {
    let _ = std::process::Command::new("umount")
        .arg("-l")
        .arg(dir)
        .status();
}

/// `GET /healthz`: its status code and body.
pub async fn healthz(server: &TestServer) -> (reqwest::StatusCode, aerie_proto::Health) {
    let resp = server
        .anon
        .request(reqwest::Method::GET, "/healthz")
        .send()
        .await
        .unwrap();
    (resp.status(), resp.json().await.unwrap())
}
